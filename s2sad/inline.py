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
- A variable that holds one of several functions (or None), assigned in
  several places, is called through `if act is np.tanh: ... else: ...`, a
  direct call in each branch (`Inliner.dispatch`).
- `g(*xs)` / `g(**d)` read the items one by one when the size of `xs` is
  known: a tuple, list or dict literal it holds, else the parameters of `g`
  left to fill (`Inliner.spell_out_starred`).
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
import functools
import inspect
import re
import sys
import sysconfig
import types

import numpy as np

from .astutil import clone, fix_missing_locations, name_nodes, nodes, walk
from . import rules as R
from .rules.definitions import definition
from .custom import definition_of, rewrite_call
from .desugar import DesugarError, desugar
from .errors import NoDerivativeRuleError, UnsupportedSyntaxError
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
from .nested import OUTER_ONLY_APIS, SUPPORTED_KINDS, TRANSFORM_APIS, as_python_function, jvp_function, local_function_object, materialize, transform_of
from .key_loops import unroll_key_loops
from .normalize import assigned_names, normalize
from .writes import rewrite_writes
from .primitives import _UNRESOLVED, is_global, list_receiver, method_rule, rebinds_to_copy, resolve, subscript_write

ORIGIN_BASE = 10_000_000  # line numbers at or above this index the origin table
MAX_DEPTH = 20
_RUNTIME_MODULES = {"s2sad.runtime", "s2sad.numpy_runtime", "s2sad.vector_runtime", "s2sad.custom"}  # helpers nested deeper than this are called, not inlined


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
        self.tuples = {}  # a tuple temporary assigned once -> its items (the arguments of `jvp`)
        self.original_names = {}  # a renamed local of an inlined callee -> its name in the callee
        self.sizes = {}  # name -> the length of the tuple / list literal it holds (keys for dicts)
        self.known_params = set()  # parameters whose value the body's first statements assign
        self.choices = {}  # name -> the functions (atoms; None) it may hold, assigned in several places
        self.active_seeds = _active_parameters(parsed)  # parameters that may carry derivatives (None: all)
        self.may_vary = None  # names that may depend on them (`_may_vary`), None when unknown

    def nested(self, callee):
        inner = Inliner(callee)
        inner.namespace = self.namespace
        inner.origins = self.origins
        inner.counts = self.counts
        inner.taken = self.taken
        inner.sizes = self.sizes
        return inner

    def callee(self, value):
        """The user function (or local function) `value` calls, if it is to be inlined."""
        if not (isinstance(value, ast.Call) and is_global(value.func)):
            return None
        obj = resolve(value.func, self.namespace)
        if isinstance(obj, LocalFunction):
            return obj
        obj = definition(obj) or obj  # `np.fliplr`: inlined as written with operations that have rules
        if obj is _UNRESOLVED or not isinstance(obj, types.FunctionType):
            return None
        if R.lookup(obj) is not None:
            return None
        if _library_code(obj) and transform_of(obj) is None and definition_of(obj) is None:
            return None  # a library's function: a rule, a constant or refused at the user's line; not inlined
        transform = transform_of(obj)
        if transform is not None:  # a call of `grad(g)`: its derivative code is inlined like a helper
            if transform.kind not in SUPPORTED_KINDS:
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    f"`{ast.unparse(value.func)}` is an s2sad.{transform.kind} transform, which cannot be called "
                    "inside a function being differentiated yet",
                    value,
                    hint="inside differentiated code use s2sad.grad, s2sad.value_and_grad or s2sad.jvp; or call "
                    "it outside",
                )
            return materialize(transform)
        if getattr(obj, "__module__", None) in _RUNTIME_MODULES:
            raise self.parsed.error(
                NoDerivativeRuleError,
                f"`{ast.unparse(value.func)}` is a run-time helper of s2sad's derivative code with no rule "
                "for differentiating it again",
                value,
                hint="derivative code that calls custom rules, recursive functions or this helper cannot be "
                "differentiated again yet; register rules for the helper with s2sad.rules.tangent / "
                f"s2sad.rules.adjoint ({obj.__module__}.{obj.__name__}), or give the inner derivative "
                "a rule of its own (s2sad.custom_jvp / s2sad.custom_vjp)",
            )
        return obj

    def run(self, function, stack=()):
        self.taken |= assigned_names([function]) | parameters(function.args)
        self.stores = {}
        for node in name_nodes(function):
            self.taken.add(node.id)
            if node.ctx.__class__ is ast.Store:
                self.stores[node.id] = self.stores.get(node.id, 0) + 1
        # parameters are run-time values, except functions given to the differentiated function
        self.params = parameters(function.args) - set(getattr(self.parsed, "static_params", ()))
        self.params -= self.known_params
        self.choices = _function_choices(function, self.params, self.namespace)
        if self.active_seeds is not None:
            self.may_vary = _may_vary(function, self.active_seeds, self.namespace)
        for node in walk(function):  # lists that grow or shrink have no size known when compiling
            if list_receiver(node) is not None:
                self.sizes[list_receiver(node)] = None
        function.body = self.block(function.body, stack)
        if self.function_values:  # `fn = math.sin` once read through `fn`: no longer needed
            read = {
                n.id for n in name_nodes(function) if isinstance(n.ctx, ast.Load)
            }
            function.body = _drop_assignments(function.body, set(self.function_values) - read)
        return function

    def block(self, stmts, stack):
        out = []
        for stmt in stmts:
            _substitute(stmt, self.function_values)
            dispatch = self.dispatch(stmt)
            if dispatch is not None:
                out.extend(self.block(dispatch, stack))
                continue
            spelled = self.spell_out_starred(stmt)
            for item in spelled:
                self.note_size(item)
            out.extend(spelled)
            if isinstance(stmt, ast.Expr) and self.callee(stmt.value) is not None:
                target = ast.Name(self.unique("_unused"), ast.Store())
                stmt = ast.copy_location(ast.Assign(targets=[target], value=stmt.value), stmt)
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                self.note_function_value(stmt)
                self.note_tuple(stmt)
                if self.transform_call(stmt):
                    continue
                custom = rewrite_call(self, stmt)  # custom_vjp / custom_jvp: the user's rules, not the body
                if custom is not None:
                    out.extend(custom)
                    continue
                if self.inactive_foreign_call(stmt.value):  # a constant: evaluated as in the primal
                    out.append(stmt)
                    continue
                self.reject_unknown_callee(stmt)
                fn = self.callee(stmt.value)
                if fn is not None:
                    statements = self.inline(stmt, fn, stack)
                    self.note_function_value(statements[-1])
                    self.note_size(statements[-1])
                    out.extend(statements)
                    continue
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner and not isinstance(stmt, ast.FunctionDef):
                    setattr(stmt, attr, self.block(inner, stack))
            self.note_size(stmt)
            out.append(stmt)
        return out

    # -- s2sad transforms called in the code: `grad(g)(y)`, `jvp(g, (x,), (1.0,))` -----------------
    def note_tuple(self, stmt):
        """Remember `_t2 = (x, 2.0)` (assigned once): the primals of a `jvp` call read it."""
        if isinstance(stmt.value, ast.Tuple) and self.stores.get(stmt.targets[0].id, 1) == 1:
            self.tuples[stmt.targets[0].id] = stmt.value.elts

    def transform_call(self, stmt):
        """`_t1 = s2sad.grad(g, argnums=1)` is made at compile time; later calls of `_t1` call (and
        inline) its derivative code. `z = s2sad.jvp(g, primals, tangents)` calls g's forward code."""
        value = stmt.value
        if not (isinstance(value, ast.Call) and is_global(value.func)):
            return False
        api = resolve(value.func, self.namespace)
        kwargs = {}
        if isinstance(api, functools.partial) and not api.args:  # `s2sad.grad(argnums=1)(g)`
            api, kwargs = api.func, dict(api.keywords)
        outer_only = {id(f): n for n, f in OUTER_ONLY_APIS.items()}
        if id(api) in outer_only:
            name = outer_only[id(api)]
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`s2sad.{name}` inside a function being differentiated is not supported yet",
                stmt,
                hint="inside differentiated code use s2sad.grad, s2sad.value_and_grad or s2sad.jvp "
                "(a Hessian-vector product is `s2sad.jvp(s2sad.grad(f), (x,), (v,))[1]`); "
                f"or call s2sad.{name} outside",
            )
        names = {id(f): n for n, f in TRANSFORM_APIS.items()}
        if id(api) not in names or not value.args:
            return False
        kind = names[id(api)]
        where = stmt
        target = value.args[0]
        fn = resolve(target, self.namespace) if is_global(target) else _UNRESOLVED
        if fn is _UNRESOLVED or not _function_valued(fn):
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{ast.unparse(value)}`: s2sad must know at compile time which function `{kind}` transforms",
                where,
                hint="pass a function defined with `def` or a lambda, by its name",
            )
        if not isinstance(fn, LocalFunction):
            fn = as_python_function(fn)  # `s2sad.grad(np.sin)`: a one-line function calling it
        if not isinstance(fn, (LocalFunction, types.FunctionType)):
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{ast.unparse(value)}`: s2sad transforms Python functions, not {type(fn).__name__} objects",
                where,
                hint=f"wrap it in a function: `def f(x): return {ast.unparse(target)}(x)`",
            )
        free = []
        if isinstance(fn, LocalFunction):
            fn, free = local_function_object(fn)
        rest = value.args[1:]
        if kind == "jvp":
            if len(rest) != 2 or value.keywords or not all(isinstance(a, ast.Name) and a.id in self.tuples for a in rest):
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    f"`{ast.unparse(value)}`: write the primals and tangents as tuples in the call",
                    where,
                    hint="`s2sad.jvp(f, (x, y), (1.0, 0.0))`",
                )
            primals, tangents = (self.tuples[a.id] for a in rest)
            alias = self.unique(f"_jvp_{identifier(fn.__name__)}")
            self.namespace[alias] = jvp_function(fn)
            call_args = [clone(a) for a in primals] + [ast.Name(n, ast.Load()) for n in free]
            call_args += [clone(a) for a in tangents] + [ast.Constant(0.0) for _ in free]
            func = ast.Name(alias, ast.Load())
            func._global = True
            call = ast.Call(func=func, args=call_args, keywords=[])
            stmt.value = call
            return False  # the statement now calls the derivative: inlined as usual
        try:
            kwargs.update({k.arg: ast.literal_eval(k.value) for k in value.keywords})
            extra = [ast.literal_eval(a) for a in rest]
        except ValueError:
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{ast.unparse(value)}`: the options of `{kind}` must be constants",
                where,
                hint="write `argnums=` and `has_aux=` as literals",
            ) from None
        wrapper = api(fn, *extra, **kwargs)
        alias = self.unique(f"_{kind}_{identifier(fn.__name__)}")
        self.namespace[alias] = wrapper
        if free:  # a local function: its transform also takes the enclosing variables it reads
            params = list(fn.__code__.co_varnames[: fn.__code__.co_argcount - len(free)])
            node = ast.FunctionDef(
                name=alias + "_local",
                args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
                                   kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
                body=[ast.Return(ast.Call(func=ast.Name(alias, ast.Load()),
                                          args=[ast.Name(n, ast.Load()) for n in params + free], keywords=[]))],
                decorator_list=[],
            )
            ast.copy_location(node, stmt)
            fix_missing_locations(node)
            for sub in ast.walk(node):
                ast.copy_location(sub, stmt)
            local = LocalFunction(alias + "_local", node, self.parsed, set(free))
            alias = self.unique(alias + "_local")
            self.namespace[alias] = local
        atom = ast.Name(alias, ast.Load())
        atom._global = True
        self.function_values[stmt.targets[0].id] = atom
        return True

    def dispatch(self, stmt):
        """`z = act(x)` where `act` holds one of several functions (`act = np.tanh if flag else relu`,
        `if fn is None: fn = default`): `if act is np.tanh: z = np.tanh(x) else: z = relu(x)`, each
        call then differentiated (or inlined) as a direct call; the same for such a variable passed
        to one of the user's functions. Returns the statements, or None."""
        call = getattr(stmt, "value", None)
        if not (isinstance(stmt, (ast.Assign, ast.Expr)) and isinstance(call, ast.Call) and self.choices):
            return None
        name, options = None, None
        if isinstance(call.func, ast.Name) and call.func.id in self.choices:
            name = call.func.id
            options = [o for o in self.choices[name] if o is not None]  # calling None fails in Python too
        elif self.callee(call) is not None:
            for arg in call.args + [k.value for k in call.keywords]:
                if isinstance(arg, ast.Name) and arg.id in self.choices and not getattr(arg, "_global", False):
                    name, options = arg.id, self.choices[arg.id]
                    break
        if not options:
            return None

        def chosen(option):
            copy = clone(stmt)
            atom = ast.Constant(None) if option is None else option
            _substitute(copy, {name: atom})
            return copy

        result = [chosen(options[-1])]
        for option in reversed(options[:-1]):
            test = self.temporary()
            compare = ast.Compare(
                left=ast.Name(name, ast.Load()),
                ops=[ast.Is()],
                comparators=[ast.Constant(None) if option is None else clone(option)],
            )
            result = [
                ast.Assign(targets=[ast.Name(test, ast.Store())], value=compare),
                ast.If(test=ast.Name(test, ast.Load()), body=[chosen(option)], orelse=result),
            ]
        return [fix_missing_locations(ast.copy_location(s, stmt)) for s in result]

    # -- `f(*xs)` and `f(**d)`: spelled out when the size of `xs` is known --------------------------
    def note_size(self, stmt):
        """`xs = (a, b)`, `ys = xs`: the length of the tuple or list a name holds (keys of dicts);
        None once the name holds anything else."""
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
            return
        name, value = stmt.targets[0].id, stmt.value
        if isinstance(value, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in value.elts):
            size = len(value.elts)
        elif isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) for k in value.keys):
            size = tuple(k.value for k in value.keys)
        elif isinstance(value, ast.Name):
            size = self.sizes.get(value.id)
        else:
            size = None
        if name in self.sizes and self.sizes[name] != size:
            size = None  # assigned another size (or something else) somewhere
        self.sizes[name] = size

    def spell_out_starred(self, stmt):
        """`z = g(*xs, **d)` -> `_t1 = xs[0]`, `_t2 = xs[1]`, `_t3 = d["a"]`, `z = g(_t1, _t2, a=_t3)`:
        the size of `xs` is that of the tuple or list literal it holds (also through copies, a
        helper's parameters and returned tuples), else the number of parameters of the user's
        function `g` that are left to fill. Returns the new statements; `stmt` is changed."""
        call = getattr(stmt, "value", None)
        if not isinstance(call, ast.Call) or not (
            any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)
        ):
            return []
        pre = []

        def item(container, key):
            name = self.temporary()
            value = ast.Subscript(value=clone(container), slice=ast.Constant(key), ctx=ast.Load())
            pre.append(ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=value), stmt))
            return ast.Name(name, ast.Load())

        args = []
        for position, arg in enumerate(call.args):
            if not isinstance(arg, ast.Starred):
                args.append(arg)
                continue
            size = self.sizes.get(arg.value.id) if isinstance(arg.value, ast.Name) else None
            if not isinstance(size, int):
                size = self.parameters_left(call, position)
            if size is None:
                raise self.starred_error(stmt, f"*{ast.unparse(arg.value)}", "a tuple or list")
            args += [item(arg.value, k) for k in range(size)]
        keywords = []
        for keyword in call.keywords:
            if keyword.arg is not None:
                keywords.append(keyword)
                continue
            keys = self.sizes.get(keyword.value.id) if isinstance(keyword.value, ast.Name) else None
            if not isinstance(keys, tuple) or not all(isinstance(k, str) for k in keys):
                raise self.starred_error(stmt, f"**{ast.unparse(keyword.value)}", "a dict")
            keywords += [ast.keyword(arg=k, value=item(keyword.value, k)) for k in keys]
        call.args, call.keywords = args, keywords
        return pre

    def parameters_left(self, call, position):
        """How many positional parameters of the user's function `call` calls the starred argument
        at `position` fills: those not given by the other arguments, when none has a default."""
        if sum(isinstance(a, ast.Starred) for a in call.args) != 1 or not is_global(call.func):
            return None
        fn = resolve(call.func, self.namespace)
        if isinstance(fn, LocalFunction):
            signature = fn.signature()
        elif isinstance(fn, types.FunctionType):
            try:
                signature = inspect.signature(fn)
            except (TypeError, ValueError):
                return None
        else:
            return None
        P = inspect.Parameter
        given = {k.arg for k in call.keywords}
        positional = [p for p in signature.parameters.values() if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        if any(p.kind is P.VAR_POSITIONAL for p in signature.parameters.values()):
            return None
        left = [p for p in positional[len(call.args) - 1 :] if p.name not in given]
        if any(p.default is not P.empty for p in left):
            return None
        return len(left)

    def starred_error(self, stmt, text, what):
        text = self.original_text(text)
        return self.parsed.error(
            UnsupportedSyntaxError,
            f"`{text}` in a call: s2sad cannot tell from the code how many arguments it gives",
            stmt,
            hint=f"build {what} literal in this function, e.g. `xs = (a, b)` / `d = {{\"k\": v}}`, or "
            "pass the arguments one by one",
        )

    def original_text(self, text):
        for renamed, original in self.original_names.items():  # the callee's own names, not `helper1_x`
            text = re.sub(rf"\b{re.escape(renamed)}\b", original, text)
        return text

    def temporary(self):
        count = 1
        while f"_t{count}" in self.taken or f"_t{count}" in self.namespace:
            count += 1
        self.taken.add(f"_t{count}")
        return f"_t{count}"

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

    def inactive_foreign_call(self, value):
        """Is `value` a call of code that is not the user's (a library's function, a method or class)
        none of whose arguments may depend on a differentiated input? It is a constant: it runs as in
        the primal, needs no rule and is not inlined (the activity analysis checks it)."""
        if self.may_vary is None or not (isinstance(value, ast.Call) and is_global(value.func)):
            return False
        obj = resolve(value.func, self.namespace)
        if obj is _UNRESOLVED or isinstance(obj, LocalFunction) or R.lookup(obj) is not None:
            return False
        if isinstance(obj, types.FunctionType) and not _library_code(obj):
            return False  # the user's own helper: inlined, its body analysed
        if transform_of(obj) is not None or definition_of(obj) is not None:
            return False
        for node in _argument_nodes(value):
            if isinstance(node, ast.Name):
                if not is_global(node) and node.id in self.may_vary:
                    return False
                if is_global(node) and isinstance(resolve(node, self.namespace), LocalFunction):
                    return False  # a local function may read differentiated variables
        return True

    def inactive_method_call(self, value):
        """Is `value` a method call `obj.m(...)` on a local variable none of whose operands (the object
        included) may depend on a differentiated input? Like an inactive library call, it runs as in
        the primal (the activity analysis checks it)."""
        if self.may_vary is None or method_rule(value.func.attr) is not None:
            return False
        for node in [*walk(value.func.value), *_argument_nodes(value)]:
            if not isinstance(node, ast.Name):
                continue
            if not is_global(node) and node.id in self.may_vary:
                return False
            if is_global(node) and isinstance(resolve(node, self.namespace), LocalFunction):
                return False
        return True

    # -- calls s2sad cannot follow: clear errors ------------------------------------------------
    def reject_unknown_callee(self, stmt):
        """Calls of variables, methods of the user's classes and their constructors."""
        value = stmt.value
        if not isinstance(value, ast.Call):
            return
        func = value.func
        text = self.original_text(ast.unparse(func))
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
                hint="call the function by its name, pass it as an argument, or hold it in a variable "
                "assigned only functions or None (`act = np.tanh if flag else relu`); not a function taken "
                "from a list, a dict or the result of a call made at run time",
            )
        if isinstance(func, ast.Attribute) and not is_global(func):
            if self.inactive_method_call(value):
                return  # a method of a constant object (a random generator made in the body): a constant
            if method_rule(func.attr) is None and not any(hasattr(t, func.attr) for t in (list, dict, tuple)):
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    f"`{text}(...)` calls the method `{func.attr}` of an object on or with a differentiated "
                    "value; s2sad has no derivative rule for it, and methods of your own classes are not supported yet",
                    stmt,
                    hint=f"call `{func.attr}` on values that are not differentiated (draw noise "
                    "`z = rng.normal(0.0, 1.0, n)`, then use `x + sigma * z`), write it as a plain function taking "
                    "the object's arrays as arguments (inlined like any helper), or give it derivative rules with "
                    "s2sad.custom_vjp",
                )
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
        if local and key in stack and not (fn.node.args.vararg or fn.node.args.kwarg or fn.node.args.kwonlyargs):
            return self.call_local_derivative(stmt, fn)  # a recursive local function
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
            tree = normalize(desugar(rewrite_writes(unroll_key_loops(lifted, callee.namespace), callee.namespace), copy=False), copy=False)
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
        receivers = None  # the lists the callee changes in place
        for p in params:
            if p in written or p in functions or not isinstance(bound[p], ast.Name) or is_global(bound[p]):
                continue
            if receivers is None:
                receivers = {list_receiver(n) for n in walk(tree) if n.__class__ is ast.Call} - {None}
            if p in receivers:
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
        arguments = {mapping[p] for p in params}
        # `a = a.copy()` before any write into `a`: from there on `a` is the callee's own array
        arguments -= {a for a in list(arguments) if rebinds_to_copy(tree.body, -1, a, callee.namespace, {a})}
        for top in tree.body:
            write = subscript_write(top, arguments)
            if write is not None:
                raise callee.error(
                    UnsupportedSyntaxError,
                    f"`{fn.__name__}` writes into its argument `{ast.unparse(write)}` in place",
                    write,
                    hint="copy the argument first (`a = a.copy()`) or return the new array",
                )
        prologue = [
            ast.copy_location(ast.Assign(targets=[ast.Name(mapping[p], ast.Store())], value=bound[p]), stmt)
            for p in params
            if p not in functions and p not in changed_lists
        ]
        for assignment in prologue:
            self.note_size(assignment)
        # a parameter bound to a function or None and reassigned (`if fn is None: fn = default`):
        # assigned in the body itself, where the choice between the functions is seen
        chosen = {
            mapping[p]
            for p in params
            if p in written and p not in changed_lists and _function_or_none(bound[p], self.namespace)
        }
        opening = [ast.copy_location(a, raw) for a in prologue if a.targets[0].id in chosen]  # the `def` line
        tree.body = opening + tree.body
        prologue = [a for a in prologue if a.targets[0].id not in chosen]
        inner = self.nested(callee)
        inner.active_seeds = None
        if self.may_vary is not None and not local:
            inner.active_seeds = {
                mapping[p] for p in params
                if p in functions or p in changed_lists or _reads_one_of(bound[p], self.may_vary)
            }
        inner.known_params = chosen
        inner.original_names = {renamed: original for original, renamed in mapping.items()}
        renamed = getattr(self.parsed, "renamed", None)
        if renamed is None:
            renamed = self.parsed.renamed = {}
        renamed.update((new, old) for old, new in mapping.items() if new != old)  # for messages (`parsed.error`)
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
    def call_local_derivative(self, stmt, fn):
        """A recursive local function: made a real function (the enclosing variables it reads become
        trailing parameters, passed on by its recursive calls) whose derivative is called at run time."""
        real, free = local_function_object(fn)
        alias = self.unique(f"_{identifier(fn.__name__)}_recursive")
        self.namespace[alias] = real
        func = ast.Name(alias, ast.Load())
        func._global = True
        call = stmt.value
        call.func = func
        call.args = list(call.args) + [ast.Name(n, ast.Load()) for n in free]
        signature = inspect.signature(real)
        return self.call_derivative(stmt, real, signature, self.bind(real, signature, stmt))

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


_LIBRARY_PATHS = tuple(
    sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}, key=len,
           reverse=True)
)


def _argument_nodes(call):
    """Every node of the arguments of `call` (positional and keyword)."""
    for argument in call.args + [k.value for k in call.keywords]:
        yield from walk(argument)


def _library_code(fn):
    """Is the Python function `fn` part of an installed library or of the standard library?"""
    module = getattr(fn, "__module__", None) or ""
    if module.split(".")[0] == "s2sad":
        return False
    filename = getattr(getattr(fn, "__code__", None), "co_filename", "")
    return module.split(".")[0] in sys.stdlib_module_names or filename.startswith(_LIBRARY_PATHS)


def _active_parameters(parsed):
    """The parameters of the function being differentiated that carry derivatives, or None."""
    active = getattr(parsed, "active_inputs", None)
    tree = getattr(parsed, "tree", None)
    if active is None or not isinstance(tree, (ast.FunctionDef, ast.Lambda)):
        return None
    params = [a.arg for a in tree.args.args]
    if any(i >= len(params) for i in active):
        return None
    return {params[i] for i in active}


def _may_vary(function, seeds, namespace):
    """The names of the normalized `function` that may depend on the names `seeds` through any
    operation (a flow-insensitive over-approximation of the activity analysis, for the inliner,
    which runs before it): a call's result and every local passed to it depend on its arguments,
    a write `a[i] = v` or `a.method(v)` makes `a` depend on `v`, a loop variable on its sequence."""
    varying = set(seeds)

    def reads(node):
        return {n.id for n in walk(node) if isinstance(n, ast.Name) and not is_global(n)}

    flows = []  # (names written, names read)
    for node in walk(function):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            written = set()
            for target in targets:
                into = isinstance(target, (ast.Subscript, ast.Attribute))  # `a[i] = v`: `a` changes
                written |= reads(target.value) if into else reads(target)
            flows.append((written, reads(node.value) if node.value is not None else set()))
        elif isinstance(node, (ast.For, ast.comprehension)):
            flows.append((reads(node.target), reads(node.iter)))
        if isinstance(node, ast.Call):
            arguments = {n.id for n in _argument_nodes(node) if isinstance(n, ast.Name) and not is_global(n)}
            receiver = reads(node.func.value) if isinstance(node.func, ast.Attribute) else set()
            touched = arguments | receiver
            flows.append((touched, touched))  # a call may write into what it is given
    changed = True
    while changed:
        changed = False
        for written, read in flows:
            if read & varying and not written <= varying:
                varying |= written
                changed = True
    return varying


def _function_choices(function, params, namespace):
    """Names that hold a function chosen at run time: every assignment to them is a function (a
    global, a local function's alias), None, or another such name, in more than one place.
    Returns name -> the atoms they may hold (None for None)."""
    simple = {}  # name -> the values assigned to it
    others = set(params)  # names bound otherwise (parameters, loops, unpacking)
    targets = set()
    for node in nodes(function):  # an assignment comes before its target (breadth first)
        cls = node.__class__
        if cls is ast.Assign and len(node.targets) == 1 and node.targets[0].__class__ is ast.Name:
            simple.setdefault(node.targets[0].id, []).append(node.value)
            targets.add(id(node.targets[0]))
        elif cls is ast.Name and node.ctx.__class__ is ast.Store and id(node) not in targets:
            others.add(node.id)
    choices = {}
    changed = True
    while changed:
        changed = False
        for name, values in simple.items():
            if name in others:
                continue
            options = []
            for value in values:
                if isinstance(value, ast.Constant) and value.value is None:
                    found = [None]
                elif isinstance(value, ast.Name) and not is_global(value):
                    if value.id in others:
                        found = None
                    else:
                        found = choices.get(value.id, [])
                elif is_global(value) and _function_valued(resolve(value, namespace)):
                    found = [value]
                else:
                    found = None
                if found is None:
                    others.add(name)
                    changed = True
                    break
                for option in found:
                    if not any(_same_atom(option, o) for o in options):
                        options.append(option)
            else:
                if len(options) != len(choices.get(name, [])):
                    choices[name] = options
                    changed = True
    return {
        name: options
        for name, options in choices.items()
        if name not in others and (len(simple[name]) > 1 or len(options) > 1) and any(o is not None for o in options)
    }


def _function_or_none(atom, namespace):
    if isinstance(atom, ast.Constant):
        return atom.value is None
    return is_global(atom) and _function_valued(resolve(atom, namespace))


def _same_atom(a, b):
    if a is None or b is None:
        return a is b
    return ast.dump(a) == ast.dump(b)


def _runtime_helper(name):
    root = ast.Name("_rt", ast.Load())
    root._global = True
    return ast.Attribute(value=root, attr=name, ctx=ast.Load())


def _names(function):
    return {n.id for n in name_nodes(function)}


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


def inline_calls(parsed, function, copy=True):
    """Inline user-function calls in the normalized `function` (with `copy=False`, in `function`
    itself); returns (tree, origins)."""
    inliner = Inliner(parsed)
    code = getattr(parsed.function, "__code__", None)
    tree = inliner.run(clone(function) if copy else function, (code,) if code is not None else ())
    return tree, inliner.origins
