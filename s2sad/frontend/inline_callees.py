"""Which function a call calls, for the inliner: the callee resolved in the namespace, parsed
with the caller's globals shared, and clear errors for calls s2sad cannot follow (a function
taken from a list, a method changing an object, a class).
"""

import ast
import inspect
import os
import re
import sys
import sysconfig
import types

import numpy as np

from ..astutil import clone, module_names, name_nodes, walk
from .. import rules as R
from ..errors import NoDerivativeRuleError, UnsupportedSyntaxError
from .source import ParsedFunction, parse_function
from .desugar import DesugarError, desugar
from .key_loops import unroll_key_loops
from .lift import Lifter, LocalFunction, bound_names, identifier, parse_lambda, shallow
from .normalize import normalize
from .writes import rewrite_writes
from .nested import SUPPORTED_KINDS, materialize, spelled, transform_of
from ..rules.definitions import OF_ONE_SEQUENCE, definition
from ..runtime.custom import definition_of
from ..analyses.primitives import _UNRESOLVED, is_global, method_rule, resolve


def _runtime_helper(obj):
    """Is `obj` a function of the run-time library (`_rt.<name>`)? Its rule is the derivative; its
    body is never inlined."""
    module = getattr(obj, "__module__", None) or ""
    return module.startswith("s2sad.runtime.")


def _function_valued(obj):
    """Is `obj` a function a parameter can be replaced by (not a number, array or module)?"""
    if obj is _UNRESOLVED or isinstance(obj, (np.ndarray, types.ModuleType)):
        return False
    return isinstance(obj, LocalFunction) or callable(obj)


def user_object(obj, callable_too=False):
    """Is `obj` an instance of one of the user's own classes (not a library's, not a number, an
    array, a container or a function)? A parameter bound to one is replaced by it, so that its
    methods are found (`self.predict(x)`) and inlined. With `callable_too`, an object with a
    `__call__` of its own counts too (`grad(model)` differentiates `model.__call__`)."""
    cls = type(obj)
    if (
        (
            callable(obj)
            and not (callable_too and isinstance(getattr(cls, "__call__", None), types.FunctionType))
        )
        or cls.__module__ == "builtins"
        or cls.__module__.split(".")[0] in sys.stdlib_module_names
    ):
        return False
    if isinstance(obj, (np.ndarray, np.generic, types.ModuleType, tuple, list, dict, type)):
        return False
    filename = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
    installed = filename.startswith(_LIBRARY_PATHS) or any(
        part in _INSTALLED for part in filename.split(os.sep)
    )
    return not installed and cls.__module__.split(".")[0] not in ("numpy", "scipy", "s2sad")


def _user_class(obj):
    module = getattr(obj, "__module__", None) or ""
    return inspect.isclass(obj) and module != "builtins" and not module.startswith("numpy")


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


_LIBRARY_PATHS = tuple(
    sorted(
        {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")},
        key=len,
        reverse=True,
    )
)


_INSTALLED = ("site-packages", "dist-packages")  # where pip and Debian install packages


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
    return (
        module.split(".")[0] in sys.stdlib_module_names
        or filename.startswith(_LIBRARY_PATHS)
        or any(part in _INSTALLED for part in filename.split(os.sep))  # a user site, another environment
    )


def share_globals(inliner, tree, callee, name, globals_):
    """The globals `globals_` of the callee `callee` (its tree `tree`, inlined by `inliner`): names bound
    to the same object are shared, the others aliased, and so are those the function inlined into has
    variables of. Returns the callee's globals as then named."""
    renames = {}
    namespace = inliner.namespace
    for node in walk(tree):
        if isinstance(node, ast.Name) and node.id in globals_:
            ident = node.id
            if ident in callee.namespace:
                value = callee.namespace[ident]
                rebound = ident in namespace and namespace[ident] is not value
                if rebound or ident in inliner.variables:
                    alias = renames.get(ident) or inliner.unique(f"_{identifier(name)}_{ident}")
                    renames[ident] = alias
                    namespace[alias] = value
                    node.id = alias
                elif ident not in namespace:
                    namespace[ident] = value
    return (globals_ - set(renames)) | set(renames.values())


ORIGIN_BASE = 10_000_000  # line numbers at or above this index the origin table


class CalleeResolution:
    """Resolves, parses and lowers callees (a part of `Inliner`)."""

    def callee(self, value):
        """The user function (or local function) `value` calls, if it is to be inlined."""
        if not (isinstance(value, ast.Call) and is_global(value.func, self.globals)):
            return None
        obj = resolve(value.func, self.namespace)
        if isinstance(obj, LocalFunction):
            return obj
        defined = definition(obj)
        if obj in (max, min) and len(value.args) == 1 and not value.keywords:
            defined = OF_ONE_SEQUENCE[obj]  # `max(xs)`, not `max(a, b)`
        obj = defined or obj  # `np.fliplr`: inlined as written with operations that have rules
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
                    f"`{ast.unparse(value.func)}` is {spelled(transform)}, which cannot be called "
                    "inside a function being differentiated yet",
                    value,
                    hint="inside differentiated code use s2sad.grad, s2sad.value_and_grad or s2sad.jvp; or call "
                    "it outside",
                )
            kinds = self.tree_kinds(value, transform) if transform.kind != "jvp" else None
            return materialize(transform, kinds)
        if _runtime_helper(obj) and defined is None:  # (a helper may be its own definition)
            raise self.parsed.error(
                NoDerivativeRuleError,
                f"the derivative of this line calls s2sad's run-time helper `{obj.__name__}`, which has no "
                "rule for differentiating it again",
                value,
                hint="derivative code that calls custom rules, recursive functions or this helper cannot be "
                "differentiated again yet; register rules for the helper with s2sad.rules.tangent / "
                f"s2sad.rules.adjoint ({obj.__module__}.{obj.__name__}), or give the inner derivative "
                "a rule of its own (s2sad.custom_jvp / s2sad.custom_vjp)",
            )
        return obj

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

    def lowered_callee(self, fn, bound, params, local):
        """(the callee `fn` lifted, lowered and normalized as a function of `params`, its parsed source,
        its `def` node, the lifter that lifted its local functions, the names it reads from its module)."""
        callee, raw = self.parse_callee(fn, bound)
        lifter = Lifter(
            callee, raw, [callee.namespace, self.namespace], self.unique, fn.enclosing if local else ()
        )
        lifted = lifter.run()
        # every parameter is bound by the prologue; the enclosing function's variables a local
        # function reads are locals too: plain parameters for normalize, not globals
        free = sorted((fn.enclosing & {n.id for n in name_nodes(lifted)}) - set(params)) if local else []
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
            tree = normalize(
                desugar(
                    rewrite_writes(unroll_key_loops(lifted, callee.namespace), callee.namespace), copy=False
                ),
                copy=False,
            )
        except DesugarError as exc:
            raise callee.error(UnsupportedSyntaxError, str(exc), exc.node, exc.hint) from None
        tree.args.args = tree.args.args[: len(params)]
        globals_ = share_globals(self, tree, callee, fn.__name__, module_names(tree, also_local=free))
        return tree, callee, raw, lifter, globals_

    def relocate(self, stmts, callee, call=None):
        """Number the lines of an inlined callee's `stmts` in the origin table: (file, line, comment).
        A definition s2sad itself writes a NumPy function with (`s2sad.rules.definitions`) keeps its
        lines in the comments, and the user's `call` line as the file and line errors name."""
        base = callee.filename.rsplit("/", 1)[-1]
        site = None
        if call is not None and (getattr(callee.function, "__module__", None) or "").startswith("s2sad."):
            line = call.lineno
            site = self.origins[line][:2] if line in self.origins else (self.parsed.filename, line)
        for stmt in stmts:
            for node in walk(stmt):
                lineno = getattr(node, "lineno", None)
                if lineno is None:
                    continue
                if lineno >= ORIGIN_BASE:
                    continue  # already relocated (nested inlining)
                key = ORIGIN_BASE + len(self.origins) + 1
                origin = (site or (callee.filename, lineno)) + (f"{base}:{lineno}: {callee.line(lineno)}",)
                for existing, value in self.origins.items():
                    if value == origin:
                        key = existing
                        break
                self.origins[key] = origin
                node.lineno = key
                node.end_lineno = key

    # -- functions held in variables --------------------------------------------------------------
    def note_function_value(self, stmt):
        """`fn = math.sin` (assigned once): later calls `fn(x)` call `math.sin`."""
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
            return
        name, value = stmt.targets[0].id, stmt.value
        if self.stores.get(name, 1) != 1 or name in self.params or not is_global(value, self.globals):
            return
        if isinstance(value, ast.Name) or isinstance(value, ast.Attribute):
            if _function_valued(resolve(value, self.namespace)):
                self.function_values[name] = value

    def inactive_foreign_call(self, value):
        """Is `value` a call of code that is not the user's (a library's function, a method or class)
        none of whose arguments may depend on a differentiated input? It is a constant: it runs as in
        the primal, needs no rule and is not inlined (the activity analysis checks it)."""
        if self.may_vary is None or not (isinstance(value, ast.Call) and is_global(value.func, self.globals)):
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
                if node.id not in self.globals and node.id in self.may_vary:
                    return False
                if node.id in self.globals and isinstance(resolve(node, self.namespace), LocalFunction):
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
            if node.id not in self.globals and node.id in self.may_vary:
                return False
            if node.id in self.globals and isinstance(resolve(node, self.namespace), LocalFunction):
                return False
        return True

    def bind_method(self, stmt):
        """`z = model.predict(x)` where the compiler knows the object (a global, or `self` of a method
        being differentiated, bound to one): `z = Model_predict(model, x)`, a call of the user's
        function that is inlined like any helper, the object a constant whose attributes are read
        when the code runs."""
        value = getattr(stmt, "value", None)
        if not (isinstance(value, ast.Call) and is_global(value.func, self.globals)):
            return
        method = resolve(value.func, self.namespace)
        if not (
            inspect.ismethod(method)
            and isinstance(method.__func__, types.FunctionType)
            and not inspect.isclass(method.__self__)
            and not _library_code(method.__func__)
        ):
            return
        if (
            isinstance(value.func, ast.Attribute)
            and resolve(value.func.value, self.namespace) is method.__self__
        ):
            receiver = value.func.value
        else:
            receiver = self.global_name(method.__self__, "_self")
        value.func = self.global_name(method.__func__, f"_{identifier(method.__func__.__qualname__)}")
        value.args.insert(0, receiver)

    def global_name(self, obj, name):
        """A global name for `obj` in the namespace of the compilation (a Name node)."""
        for key, held in self.namespace.items():
            if held is obj and key.startswith(name):
                break
        else:
            key = self.unique(name)
            self.namespace[key] = obj
        self.globals.add(key)
        return ast.Name(key, ast.Load())

    # -- calls s2sad cannot follow: clear errors ------------------------------------------------
    def reject_unknown_callee(self, stmt):
        """Calls of variables, methods of the user's classes and their constructors."""
        value = stmt.value
        if not isinstance(value, ast.Call):
            return
        func = value.func
        text = self.original_text(ast.unparse(func))
        if isinstance(func, ast.Name) and not is_global(func, self.globals):
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
        if isinstance(func, ast.Attribute) and not is_global(func, self.globals):
            if self.inactive_method_call(value):
                return  # a method of a constant object (a random generator made in the body): a constant
            if method_rule(func.attr) is None and not any(hasattr(t, func.attr) for t in (list, dict, tuple)):
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    f"`{text}(...)` calls the method `{func.attr}` of an object on or with a differentiated "
                    "value; s2sad has no derivative rule for it, and methods of an object passed as an argument "
                    "are not supported yet (its class is not known when the derivative is compiled)",
                    stmt,
                    hint=f"call `{func.attr}` on values that are not differentiated (draw noise "
                    "`z = rng.normal(0.0, 1.0, n)`, then use `x + sigma * z`); or make the object a constant "
                    "s2sad knows: differentiate a method of it (`s2sad.grad(model.loss)`, `@s2sad.grad` on the "
                    "method) or read it as a global or closure variable (`s2sad.grad(lambda x: f(x, model))`), "
                    "and its methods are inlined; or write it as a plain function taking the object's arrays",
                )
            return
        if not is_global(func, self.globals):
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
