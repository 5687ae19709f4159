"""Inline calls to the user's own functions into the normalized caller.

A statement `z = helper(a, b)` whose callee is a plain Python function with no
derivative rule is replaced by the callee's normalized body, its variables
renamed `helper1_x`, its parameters bound to the call's arguments (keywords,
defaults, `*args` and `**kwargs` too) and its final `return v` turned into
`z = v`. The derivative is then generated through the helper like through any
other code. Statements keep a line number that maps back to the helper's own file.

- `def`s and lambdas inside a function are lifted out first
  (`s2sad.local_functions`): each becomes a `LocalFunction` that calls inline
  like a helper, reading the enclosing function's variables where it is
  called (Python's late binding).
- A parameter bound to a function (`apply(math.sin, x)`, `apply(helper, x)`,
  `apply(lambda u: u * u, x)`) is replaced by that function in the callee's
  body, so `fn(x)` becomes `math.sin(x)` and gets its rule or is inlined in turn.
- A call that cannot be inlined (recursion, or more than `MAX_DEPTH` nested
  helpers) calls the callee's own derivative at run time: the pair
  `_f_call1 = _rt.call_forward_sweep(f, a)` / `z = _rt.call_value(f, _f_call1, a)`
  (see `s2sad.runtime.call_value`); forward mode turns it into `_rt.call_jvp`.
- Calls to functions with custom rules (`s2sad.custom_vjp`, `s2sad.custom_jvp`,
  `s2sad.defjvp`) are never inlined: `s2sad.custom.rewrite_call` turns them into
  calls of runtime helpers that run the user's rules.

>>> import ast
>>> from s2sad.desugar import desugar
>>> from s2sad.frontend import parse_function
>>> from s2sad.normalize import normalize
>>> def square(u):
...     return u * u
>>> def caller(x):
...     shift = lambda v: v + 1.0
...     return square(shift(x))
>>> parsed = parse_function(caller)
>>> tree, origins = inline_calls(parsed, normalize(desugar(lift_local_functions(parsed))))
>>> print(ast.unparse(tree))
def caller(x):
    shift1_v = x
    shift1_t1 = shift1_v + 1.0
    _t1 = shift1_t1
    square1_u = _t1
    square1_t1 = square1_u * square1_u
    _t2 = square1_t1
    return _t2
"""

import ast
import inspect
import re
import types

import numpy as np

from .astutil import clone, walk
from . import rules as R
from .custom import definition_of, rewrite_call
from .desugar import DesugarError, desugar
from .errors import UnsupportedSyntaxError
from .frontend import ParsedFunction, parse_function
from .local_functions import (
    LocalFunction,
    Lifter,
    bound_names,
    identifier,
    lift_local_functions,
    parameters,
    parse_lambda,
    shallow,
)
from .normalize import assigned_names, normalize
from .primitives import _UNRESOLVED, is_global, list_receiver, method_rule, resolve

ORIGIN_BASE = 10_000_000  # line numbers at or above this index the origin table
MAX_DEPTH = 20  # helpers nested deeper than this are called, not inlined


# -- the inliner ---------------------------------------------------------------------------------


def _function_valued(obj):
    """Is `obj` a function a parameter can be replaced by (not a number, array or module)?"""
    if obj is _UNRESOLVED or isinstance(obj, (np.ndarray, types.ModuleType)):
        return False
    return isinstance(obj, LocalFunction) or callable(obj)


def _user_class(obj):
    module = getattr(obj, "__module__", None) or ""
    return inspect.isclass(obj) and module != "builtins" and not module.startswith("numpy")


class Inliner:
    def __init__(self, parsed):
        self.parsed = parsed
        self.namespace = parsed.namespace
        self.origins = {}  # fake line -> (filename, lineno, text)
        self.counts = {}
        self.taken = set()
        self.function_values = {}  # local name -> the function (an atom) it holds
        self.original_names = {}  # a renamed local of an inlined callee -> its name in the callee

    def nested(self, callee):
        inner = Inliner(callee)
        inner.namespace = self.namespace
        inner.origins = self.origins
        inner.counts = self.counts
        inner.taken = self.taken
        return inner

    def callee(self, value):
        """The user function (or local function) `value` calls, if it is to be inlined."""
        if not (isinstance(value, ast.Call) and is_global(value.func)):
            return None
        obj = resolve(value.func, self.namespace)
        if isinstance(obj, LocalFunction):
            return obj
        if obj is _UNRESOLVED or not isinstance(obj, types.FunctionType):
            return None
        if R.lookup(obj) is not None:
            return None
        return obj

    def run(self, function, stack=()):
        self.taken |= assigned_names([function]) | parameters(function.args)
        self.taken |= {n.id for n in walk(function) if isinstance(n, ast.Name)}
        self.stores = {}
        for node in walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.stores[node.id] = self.stores.get(node.id, 0) + 1
        self.params = parameters(function.args)
        function.body = self.block(function.body, stack)
        if self.function_values:  # `fn = math.sin` once read through `fn`: no longer needed
            read = {
                n.id for n in walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            }
            function.body = _drop_assignments(function.body, set(self.function_values) - read)
        return function

    def block(self, stmts, stack):
        out = []
        for stmt in stmts:
            _substitute(stmt, self.function_values)
            if isinstance(stmt, ast.Expr) and self.callee(stmt.value) is not None:
                target = ast.Name(self.unique("_unused"), ast.Store())
                stmt = ast.copy_location(ast.Assign(targets=[target], value=stmt.value), stmt)
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                self.note_function_value(stmt)
                custom = rewrite_call(self, stmt)  # custom_vjp / custom_jvp: the user's rules, not the body
                if custom is not None:
                    out.extend(custom)
                    continue
                self.reject_unknown_callee(stmt)
                fn = self.callee(stmt.value)
                if fn is not None:
                    statements = self.inline(stmt, fn, stack)
                    self.note_function_value(statements[-1])
                    out.extend(statements)
                    continue
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner and not isinstance(stmt, ast.FunctionDef):
                    setattr(stmt, attr, self.block(inner, stack))
            out.append(stmt)
        return out

    # -- functions held in variables --------------------------------------------------------------
    def note_function_value(self, stmt):
        """`fn = math.sin` (assigned once): later calls `fn(x)` call `math.sin`."""
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
            return
        name, value = stmt.targets[0].id, stmt.value
        if self.stores.get(name, 1) != 1 or name in self.params or not is_global(value):
            return
        if isinstance(value, ast.Name) or isinstance(value, ast.Attribute):
            if _function_valued(resolve(value, self.namespace)):
                self.function_values[name] = value

    # -- calls s2sad cannot follow: clear errors ------------------------------------------------
    def reject_unknown_callee(self, stmt):
        """Calls of variables, methods of the user's classes and their constructors."""
        value = stmt.value
        if not isinstance(value, ast.Call):
            return
        func = value.func
        text = ast.unparse(func)
        for renamed, original in self.original_names.items():  # the callee's own names, not `helper1_x`
            text = re.sub(rf"\b{re.escape(renamed)}\b", original, text)
        if isinstance(func, ast.Name) and not is_global(func):
            what = (
                "this line calls a function computed at run time (the result of a call or an expression)"
                if re.fullmatch(r"_t\d+", text)  # a temporary of normalization
                else f"`{text}(...)` calls the variable `{text}`"
            )
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"{what}; s2sad must know which function it calls when it compiles the derivative",
                stmt,
                hint="call the function by its name; a function passed to one of your helpers, a local "
                "`def` or a lambda assigned once are fine, but not a function passed to the differentiated "
                "function itself: differentiate a wrapper `def loss(x): return f(x, np.tanh)` instead",
            )
        if isinstance(func, ast.Attribute) and not is_global(func):
            if method_rule(func.attr) is None and not any(hasattr(t, func.attr) for t in (list, dict, tuple)):
                what = f"`{text}(...)` calls the method `{func.attr}`, which NumPy arrays do not have"
                raise self.method_error(stmt, what, func.attr)
            return
        if not is_global(func):
            return
        obj = resolve(func, self.namespace)
        if obj is _UNRESOLVED or R.lookup(obj) is not None or definition_of(obj) is not None:
            return
        if inspect.ismethod(obj):
            owner = obj.__self__ if inspect.isclass(obj.__self__) else type(obj.__self__)
            what = f"`{text}(...)` calls a method of the class `{owner.__name__}`"
            raise self.method_error(stmt, what, func.attr if isinstance(func, ast.Attribute) else text)
        if _user_class(obj):
            what = f"`{text}(...)` creates an instance of the class `{obj.__name__}`"
            raise self.method_error(stmt, what, None)

    def method_error(self, stmt, what, method):
        if method is None:
            hint = (
                "create the object outside the differentiated function and pass its arrays as arguments; "
                "write its methods as plain functions (they are inlined like any helper)"
            )
        else:
            hint = (
                f"write `{method}` as a plain function taking the object's arrays as arguments (it is "
                "inlined like any helper), or give it derivative rules with s2sad.custom_vjp"
            )
        return self.parsed.error(
            UnsupportedSyntaxError,
            f"{what}; methods of your own classes are not supported yet",
            stmt,
            hint=hint,
        )

    # -- inlining ---------------------------------------------------------------------------------
    def inline(self, stmt, fn, stack):
        local = isinstance(fn, LocalFunction)
        key = fn if local else fn.__code__
        signature = self.signature(fn, stmt)
        bound = self.bind(fn, signature, stmt)
        if key in stack or len(stack) > MAX_DEPTH:
            if local:
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    (
                        f"the local function `{fn.__name__}` is recursive; recursive local functions are "
                        "not supported yet"
                        if key in stack
                        else f"the local function `{fn.__name__}` is called more than {MAX_DEPTH} helpers deep"
                    ),
                    stmt,
                    hint=f"define `{fn.__name__}` at module level: s2sad then calls its derivative recursively",
                )
            return self.call_derivative(stmt, fn, signature, bound)
        callee, raw = self.parse_callee(fn, bound)
        lifter = Lifter(
            callee, raw, [callee.namespace, self.namespace], self.unique, fn.enclosing if local else ()
        )
        lifted = lifter.run()
        params = list(signature.parameters)
        # every parameter is bound by the prologue; the enclosing function's variables a local
        # function reads are locals too: plain parameters for normalize, not globals
        free = sorted((fn.enclosing & _names(lifted)) - set(params)) if local else []
        lifted.args = ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=n) for n in params + free],
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=[],
        )
        try:
            tree = normalize(desugar(lifted))
        except DesugarError as exc:
            raise callee.error(UnsupportedSyntaxError, str(exc), exc.node, exc.hint) from None
        tree.args.args = tree.args.args[: len(params)]
        self.share_globals(tree, callee, fn.__name__)
        # parameters bound to functions are replaced by them: `fn(x)` becomes `math.sin(x)`
        written = assigned_names([tree])
        functions = {
            p: bound[p]
            for p in params
            if p not in written
            and is_global(bound[p])
            and _function_valued(resolve(bound[p], self.namespace))
        }
        _substitute(tree, functions)
        # a list the callee changes in place (`traj.append(x)`) is the caller's list itself, not a copy
        changed_lists = {}
        for p in params:
            if p in written or p in functions or not isinstance(bound[p], ast.Name) or is_global(bound[p]):
                continue
            if any(list_receiver(n) == p for n in walk(tree)):
                caller = clone(bound[p])
                caller._caller = True  # not renamed below
                changed_lists[p] = caller
        _substitute(tree, changed_lists)
        self.counts[fn.__name__] = self.counts.get(fn.__name__, 0) + 1
        prefix = f"{identifier(fn.__name__)}{self.counts[fn.__name__]}_"
        local_names = assigned_names([tree]) | set(params)
        mapping = {n: self.unique(prefix + n.lstrip("_")) for n in sorted(local_names)}
        for node in walk(tree):
            if (isinstance(node, ast.Name) and node.id in mapping and not getattr(node, "_global", False)
                    and not getattr(node, "_caller", False)):
                node.id = mapping[node.id]
            elif isinstance(node, ast.arg) and node.arg in mapping:
                node.arg = mapping[node.arg]
        for inner_local in lifter.lifted:
            inner_local.rename(mapping)
        for node in walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                base = node.targets[0].value
                if isinstance(base, ast.Name) and base.id in {mapping[p] for p in params}:
                    raise callee.error(
                        UnsupportedSyntaxError,
                        f"`{fn.__name__}` writes into its argument `{ast.unparse(node.targets[0])}` in place",
                        node,
                        hint="copy the argument first (`a = a.copy()`) or return the new array",
                    )
        prologue = [
            ast.copy_location(ast.Assign(targets=[ast.Name(mapping[p], ast.Store())], value=bound[p]), stmt)
            for p in params
            if p not in functions and p not in changed_lists
        ]
        inner = self.nested(callee)
        inner.original_names = {renamed: original for original, renamed in mapping.items()}
        tree = inner.run(tree, stack + (key,))
        body = tree.body
        ret = body[-1]
        result = ret.value if isinstance(ret, ast.Return) else ast.Constant(None)
        body = body[:-1] if isinstance(ret, ast.Return) else body
        self.relocate(body, callee)
        epilogue = ast.copy_location(
            ast.Assign(targets=[ast.Name(stmt.targets[0].id, ast.Store())], value=result), stmt
        )
        return prologue + body + [epilogue]

    def parse_callee(self, fn, bound):
        """(ParsedFunction of the callee, its raw tree with `f(*args)` spelled out)."""
        if isinstance(fn, LocalFunction):
            where = fn.parsed
            callee = ParsedFunction(
                name=fn.__name__,
                tree=clone(fn.node),
                filename=where.filename,
                source_lines=where.source_lines,
                namespace=where.namespace,
                function=None,
                first_line=where.first_line,
            )
        elif fn.__name__ == "<lambda>":
            callee = parse_lambda(fn)
        else:
            callee = parse_function(fn)
        raw = clone(callee.tree)
        _spell_out_starred(raw, bound)
        return callee, raw

    def share_globals(self, tree, callee, name):
        """The callee's globals: share names bound to the same object, alias the others."""
        renames = {}
        for node in walk(tree):
            if isinstance(node, ast.Name) and getattr(node, "_global", False):
                ident = node.id
                if ident in callee.namespace:
                    value = callee.namespace[ident]
                    if ident in self.namespace and self.namespace[ident] is not value:
                        alias = renames.get(ident) or self.unique(f"_{identifier(name)}_{ident}")
                        renames[ident] = alias
                        self.namespace[alias] = value
                        node.id = alias
                    elif ident not in self.namespace:
                        self.namespace[ident] = value

    def unique(self, name):
        while name in self.taken or name in self.namespace:
            name += "_"
        self.taken.add(name)
        return name

    def signature(self, fn, stmt):
        if isinstance(fn, LocalFunction):
            return fn.signature()
        try:
            return inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise self.parsed.error(
                UnsupportedSyntaxError, f"cannot read the signature of `{fn.__name__}`: {exc}", stmt
            ) from None

    def bind(self, fn, signature, stmt):
        """Parameter name -> the atom (or tuple / dict of atoms for `*args` / `**kwargs`) it gets."""
        call = stmt.value
        try:
            bound = signature.bind(*call.args, **{k.arg: k.value for k in call.keywords})
        except TypeError as exc:
            raise self.parsed.error(
                UnsupportedSyntaxError, f"cannot call `{fn.__name__}`: {exc}", stmt
            ) from None
        values = {}
        for name, param in signature.parameters.items():
            if param.kind is param.VAR_POSITIONAL:
                values[name] = ast.Tuple(elts=list(bound.arguments.get(name, ())), ctx=ast.Load())
            elif param.kind is param.VAR_KEYWORD:
                given = bound.arguments.get(name, {})
                values[name] = ast.Dict(keys=[ast.Constant(k) for k in given], values=list(given.values()))
            elif name in bound.arguments:
                values[name] = bound.arguments[name]
            elif param.default is not param.empty:
                values[name] = self.default_atom(fn, name, param.default)
        return values

    def default_atom(self, fn, name, default):
        if isinstance(default, ast.AST):  # a local function's default: a constant or a hoisted variable
            return clone(default)
        if isinstance(default, (int, float, bool, str, type(None))):
            return ast.Constant(default)
        alias = self.unique(f"_{identifier(fn.__name__)}_default_{name}")
        self.namespace[alias] = default
        node = ast.Name(alias, ast.Load())
        node._global = True
        return node

    # -- calls that are not inlined ---------------------------------------------------------------
    def call_derivative(self, stmt, fn, signature, bound):
        """`z = f(a, n)` -> `_f_call1 = _rt.call_forward_sweep(f, a, n)` and
        `z = _rt.call_value(f, _f_call1, a, n)`: the derivative of `f`, compiled at run time."""
        from . import runtime

        if any(
            p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in signature.parameters.values()
        ):
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{fn.__name__}` is recursive (or nested too deep to inline) and has `*args`, keyword-only "
                "or `**kwargs` parameters",
                stmt,
                hint="give it plain positional parameters: s2sad calls its compiled derivative at run time",
            )
        if self.namespace.setdefault("_rt", runtime) is not runtime:
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"the name `_rt` is bound to {self.namespace['_rt']!r}; "
                "derivative code needs it for s2sad.runtime",
                stmt,
                hint="rename your `_rt`",
            )
        args = [bound[p] for p in signature.parameters]
        stem = identifier(fn.__name__)
        key = ("call", stem)
        self.counts[key] = self.counts.get(key, 0) + 1
        record = self.unique(f"_{stem}_call{self.counts[key]}")
        function = clone(stmt.value.func)
        sweep = ast.Call(_runtime_helper("call_forward_sweep"), [function] + clone(args), [])
        value = ast.Call(
            _runtime_helper("call_value"),
            [clone(function), ast.Name(record, ast.Load())] + clone(args),
            [],
        )
        statements = [
            ast.Assign(targets=[ast.Name(record, ast.Store())], value=sweep),
            ast.Assign(targets=[ast.Name(stmt.targets[0].id, ast.Store())], value=value),
        ]
        return [ast.copy_location(s, stmt) for s in statements]

    def relocate(self, stmts, callee):
        base = callee.filename.rsplit("/", 1)[-1]
        for stmt in stmts:
            for node in walk(stmt):
                lineno = getattr(node, "lineno", None)
                if lineno is None:
                    continue
                if lineno >= ORIGIN_BASE:
                    continue  # already relocated (nested inlining)
                key = ORIGIN_BASE + len(self.origins) + 1
                origin = (callee.filename, lineno, f"{base}:{lineno}: {callee.line(lineno)}")
                for existing, value in self.origins.items():
                    if value[:2] == origin[:2]:
                        key = existing
                        break
                self.origins[key] = origin
                node.lineno = key
                node.end_lineno = key


def _runtime_helper(name):
    root = ast.Name("_rt", ast.Load())
    root._global = True
    return ast.Attribute(value=root, attr=name, ctx=ast.Load())


def _names(function):
    return {n.id for n in walk(function) if isinstance(n, ast.Name)}


def _substitute(tree, values):
    """Replace reads of the local names in `values` by copies of their atoms."""
    if not values:
        return
    for node in walk(tree):
        for field, child in ast.iter_fields(node):
            if isinstance(child, list):
                for index, item in enumerate(child):
                    if _reads_one_of(item, values):
                        child[index] = clone(values[item.id])
            elif _reads_one_of(child, values):
                setattr(node, field, clone(values[child.id]))


def _reads_one_of(node, values):
    return (
        isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id in values
        and not getattr(node, "_global", False)
    )


def _drop_assignments(stmts, names):
    out = []
    for stmt in stmts:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in names
        ):
            continue
        for attr in ("body", "orelse"):
            inner = getattr(stmt, attr, None)
            if inner:
                setattr(
                    stmt, attr, _drop_assignments(inner, names) or ([ast.Pass()] if attr == "body" else [])
                )
        out.append(stmt)
    return out


def _spell_out_starred(function, bound):
    """`g(*args)` / `g(**kwargs)` on the callee's own `*args` / `**kwargs`, whose size the call
    site fixes: `g(args[0], args[1])` / `g(a=kwargs["a"])`."""
    args = function.args
    keys = {}  # the parameter -> the indices or keys of what the call site gave it
    if args.vararg is not None and isinstance(bound.get(args.vararg.arg), ast.Tuple):
        keys[args.vararg.arg] = list(range(len(bound[args.vararg.arg].elts)))
    if args.kwarg is not None and isinstance(bound.get(args.kwarg.arg), ast.Dict):
        keys[args.kwarg.arg] = [k.value for k in bound[args.kwarg.arg].keys]
    for name in bound_names(function.body):
        keys.pop(name, None)  # reassigned: its size is no longer the call site's

    def spelled(node, parameter):
        if not (isinstance(node, ast.Name) and node.id == parameter):
            return None
        items = [
            ast.Subscript(value=ast.Name(node.id, ast.Load()), slice=ast.Constant(k), ctx=ast.Load())
            for k in keys[parameter]
        ]
        return [ast.copy_location(item, node) for item in items]

    vararg = args.vararg.arg if args.vararg is not None and args.vararg.arg in keys else None
    kwarg = args.kwarg.arg if args.kwarg is not None and args.kwarg.arg in keys else None
    for node in shallow(function.body):
        if not isinstance(node, ast.Call):
            continue
        positional = []
        for arg in node.args:
            items = spelled(arg.value, vararg) if isinstance(arg, ast.Starred) and vararg else None
            positional += items if items is not None else [arg]
        keywords = []
        for keyword in node.keywords:
            items = spelled(keyword.value, kwarg) if keyword.arg is None and kwarg else None
            if items is None:
                keywords.append(keyword)
            else:
                keywords += [ast.keyword(arg=item.slice.value, value=item) for item in items]
        node.args, node.keywords = positional, keywords


def inline_calls(parsed, function):
    """Inline user-function calls in the normalized `function`; returns (tree, origins)."""
    inliner = Inliner(parsed)
    code = getattr(parsed.function, "__code__", None)
    tree = inliner.run(clone(function), (code,) if code is not None else ())
    return tree, inliner.origins
