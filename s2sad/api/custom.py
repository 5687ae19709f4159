"""User-defined derivative rules: `custom_vjp`, `custom_jvp`, `defjvp` / `defvjp`, `stop_gradient`.

JAX's names and signatures. The compiler never looks into the body of a
function with custom rules: the inlining pass rewrites a call `y = f(x)` into
calls of runtime helpers that run the user's rules, and each helper call is a
primitive whose templates are generated for `f` (`rule`). For a `custom_vjp`
function the generated code reads

    _f_fwd1 = _rt.custom_vjp_forward(f, x)  # forward sweep: f_fwd's output and residuals
    y = _rt.custom_vjp_value(f, _f_fwd1, x)
    ...
    x_bar = _rt.custom_vjp_backward(f, _f_fwd1, y_bar)[0]  # backward sweep: f_bwd

so the residuals are computed once, in the forward sweep, and kept for the
backward sweep like any other value it reads (pushed if a loop overwrites
them). A `custom_jvp` call becomes `y = _rt.custom_jvp_call(f, x)` and its
tangent `y_dot = _rt.custom_jvp_tangent(f, (x,), (x_dot,))`.

The other mode works too, by probing the rule with unit vectors: forward mode
through a `custom_vjp` function calls its bwd rule once per element of the
output (`custom_vjp_tangent`), reverse mode through a `custom_jvp` function
calls its jvp rule (linear in the tangents) once per element of each input
(`custom_jvp_transpose`). Cheap for scalars and small arrays; define the rule
of the mode you use most.

>>> import math, s2sad
>>> @custom_jvp
... def f(x):
...     return math.sin(x)
>>> @f.defjvp
... def f_jvp(primals, tangents):
...     (x,), (x_dot,) = primals, tangents
...     return f(x), 2.0 * math.cos(x) * x_dot  # twice the true derivative, on purpose
>>> f(0.0), s2sad.jvp(f, (0.0,), (1.0,)), s2sad.grad(f)(0.0)
(0.0, (0.0, 2.0), 2.0)
"""

import ast
import inspect
import itertools
import keyword
import linecache
import re

import numpy as np

from .astutil import clone
from . import kinds as K
from . import rules as R
from .errors import ArgumentError, CustomRuleError, NoDerivativeRuleError, UnsupportedSyntaxError

# -- stop_gradient ---------------------------------------------------------------------------------


def stop_gradient(x):
    """`x` itself, with a zero derivative in both modes (listed as not differentiable).

    >>> stop_gradient(3.0)
    3.0
    """
    return x


def same_kind(arg_kinds, keywords):
    """The kind of `stop_gradient(x)`: the kind of `x`."""
    return arg_kinds[0] if arg_kinds else K.ANY


# -- functions with custom rules -------------------------------------------------------------------

_TRAMPOLINES = itertools.count(1)


class CustomFunction:
    """A function whose derivatives come from user rules (base of `custom_vjp` and `custom_jvp`).

    Calling it runs the plain function. `jvp` is the JAX-style
    `jvp(*nondiff_args, primals, tangents) -> (output, output_tangent)`, `fwd(*args) ->
    (output, residuals)` and `bwd(*nondiff_args, residuals, cotangent) -> cotangents`.
    """

    decorator = "custom function"

    def __init__(self, fun, nondiff_argnums=(), *, callable_directly=True):
        self.fun = fun
        self.nondiff_argnums = tuple(sorted({int(i) for i in nondiff_argnums}))
        self.jvp = None
        self.fwd = None
        self.bwd = None
        self.__name__ = getattr(fun, "__name__", type(fun).__name__)
        self.__qualname__ = getattr(fun, "__qualname__", self.__name__)
        self.__module__ = getattr(fun, "__module__", None)
        self.__doc__ = getattr(fun, "__doc__", None)
        self._rules = {}
        self._trampoline = _make_trampoline(self) if callable_directly else None

    def __call__(self, *args, **kwargs):
        return self.fun(*args, **kwargs)

    def __repr__(self):
        return f"<{self.decorator} {self.__qualname__}>"

    # Differentiating the custom function itself (`s2sad.grad(f)`) differentiates a
    # one-line function calling it, so its rules are used: the compiler sees that function.
    def _trampoline_attribute(self, name):
        if self._trampoline is None:
            raise AttributeError(name)
        function, lines = self._trampoline
        filename = function.__code__.co_filename
        if filename not in linecache.cache:  # someone cleared linecache
            linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
        return function if name == "__wrapped__" else getattr(function, name)

    __wrapped__ = property(lambda self: self._trampoline_attribute("__wrapped__"))
    __code__ = property(lambda self: self._trampoline_attribute("__code__"))
    __globals__ = property(lambda self: self._trampoline_attribute("__globals__"))
    __defaults__ = property(lambda self: self._trampoline_attribute("__defaults__"))

    # -- what the compiler and the runtime helpers ask ---------------------------------------------
    def describe(self):
        return f"{self.decorator} function `{self.__name__}`"

    def missing_rule_hint(self):
        return "define its rule before differentiating (docs/rules.md)"

    def positions(self, count):
        """(differentiable positions, non-differentiable positions) of a call with `count` arguments."""
        nondiff = {i % count for i in self.nondiff_argnums if -count <= i < count}
        return [i for i in range(count) if i not in nondiff], sorted(nondiff)

    def rule(self, role, count):
        """The rule of a helper call: `role` is 'forward', 'value' or 'call' (see `rewrite_call`)."""
        key = (role, count, self.jvp is not None, self.fwd is not None, self.nondiff_argnums)
        if key not in self._rules:
            self._rules[key] = _make_rule(self, role, count)
        return self._rules[key]


class custom_vjp(CustomFunction):  # noqa: N801  (JAX's name)
    """`@custom_vjp` then `f.defvjp(f_fwd, f_bwd)`: reverse mode uses `f_fwd` / `f_bwd`.

    `f_fwd(*args)` returns `(f(*args), residuals)`; `f_bwd(*nondiff_args, residuals, g)`
    returns one cotangent per differentiable argument (a tuple; `None` for a zero).
    `nondiff_argnums` lists arguments that are constants for the derivative; JAX's
    `functools.partial(custom_vjp, nondiff_argnums=(0,))` works as well.
    """

    decorator = "custom_vjp"

    def defvjp(self, fwd, bwd):
        """Set the forward rule `fwd` and the backward rule `bwd` (JAX's signature)."""
        self.fwd, self.bwd = fwd, bwd

    def missing_rule_hint(self):
        name = self.__name__
        return (
            f"define it before differentiating: `{name}.defvjp({name}_fwd, {name}_bwd)` with "
            f"`{name}_fwd(*args) -> (output, residuals)` and `{name}_bwd(residuals, g) -> cotangents` "
            "(docs/rules.md)"
        )


class custom_jvp(CustomFunction):  # noqa: N801  (JAX's name)
    """`@custom_jvp` then `@f.defjvp`: forward mode uses `f_jvp(primals, tangents)`.

    The rule returns `(f(*primals), output_tangent)` and must be linear in the
    tangents (reverse mode transposes it by calling it with unit tangents).
    With `nondiff_argnums` the rule is `f_jvp(*nondiff_args, primals, tangents)`.
    """

    decorator = "custom_jvp"

    def defjvp(self, jvp):
        """Set the tangent rule; returns it, so `@f.defjvp` works as a decorator."""
        self.jvp = jvp
        return jvp

    def missing_rule_hint(self):
        name = self.__name__
        return (
            f"define it before differentiating: `@{name}.defjvp` on `def {name}_jvp(primals, tangents)` "
            f"returning `({name}(*primals), output_tangent)` (docs/rules.md)"
        )


def _make_trampoline(custom):
    """`def f(x, y): return f(x, y)` with `f` the custom function, its source in linecache."""
    try:
        params = list(inspect.signature(custom.fun).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return None
    names = [p.name for p in params]
    name = (
        custom.__name__
        if custom.__name__.isidentifier() and not keyword.iskeyword(custom.__name__)
        else "custom"
    )
    callee = name
    while callee in names:
        callee += "_"
    text = f"def {name}({', '.join(names)}):\n    return {callee}({', '.join(names)})\n"
    filename = f"<{custom.decorator} {custom.__qualname__} #{next(_TRAMPOLINES)}>"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    namespace = {callee: custom, "__name__": custom.__module__ or "__main__"}
    exec(compile(text, filename, "exec"), namespace)
    function = namespace.pop(name)
    namespace[callee] = custom  # the `def` rebound the name the body calls
    function.__defaults__ = getattr(custom.fun, "__defaults__", None)
    return function, lines


# -- rules for functions you do not own ----------------------------------------------------------


def _external(fn, nondiff_argnums):
    """The `CustomFunction` holding the rules registered for `fn` in the rule table."""
    if isinstance(fn, CustomFunction):
        raise ArgumentError(
            f"{fn.describe()} has its own rules", hint=f"use `{fn.__name__}.defjvp` / `{fn.__name__}.defvjp`"
        )
    rule = R.lookup(fn)
    if rule is not None and "custom" not in rule.extra:
        raise ArgumentError(
            f"{rule.name} already has a derivative rule in s2sad's table",
            hint=f"to give it another derivative, wrap it: `my_fn = s2sad.custom_jvp({rule.name})` "
            "(or custom_vjp) and call `my_fn` in your code",
        )
    if rule is None:
        try:
            rule = R.RULES[fn] = R.Rule(key=fn, name=R.display_name(fn), kind="any")
        except TypeError:
            raise ArgumentError(
                f"cannot register rules for the unhashable object {fn!r}",
                hint="wrap it with s2sad.custom_jvp / s2sad.custom_vjp instead",
            ) from None
        definition = CustomFunction(fn, callable_directly=False)
        definition.decorator = "registered"
        definition.__name__ = rule.name
        rule.extra["custom"] = definition
    definition = rule.extra["custom"]
    definition.nondiff_argnums = tuple(sorted({int(i) for i in nondiff_argnums}))
    definition._rules.clear()
    return definition


def defjvp(fn, jvp=None, *, nondiff_argnums=()):
    """Register a JAX-style tangent rule for `fn` (a SciPy function, a builtin, any callable).

    Calls to `fn` in differentiated code then use `jvp(*nondiff_args, primals, tangents)
    -> (fn(*primals), output_tangent)`, in forward mode and (transposed) in reverse mode.
    Without `jvp`, returns a decorator: `@s2sad.defjvp(scipy.special.erf)`.
    """
    if jvp is None:
        return lambda rule: defjvp(fn, rule, nondiff_argnums=nondiff_argnums)
    _external(fn, nondiff_argnums).jvp = jvp
    return jvp


def defvjp(fn, fwd=None, bwd=None, *, nondiff_argnums=()):
    """Register JAX-style `fwd` / `bwd` rules for `fn` (a SciPy function, a builtin, any callable).

    `s2sad.defvjp(fn, fn_fwd, fn_bwd)` as for `custom_vjp.defvjp`. Without `bwd`,
    returns a decorator for it; without `fwd`, the residuals are the arguments:

        @s2sad.defvjp(scipy.special.erf)
        def erf_bwd(primals, g):
            (x,) = primals
            return (g * 2 / np.sqrt(np.pi) * np.exp(-x * x),)
    """
    if bwd is None:
        return lambda rule: defvjp(fn, fwd, rule, nondiff_argnums=nondiff_argnums) or rule
    definition = _external(fn, nondiff_argnums)
    definition.fwd = fwd if fwd is not None else _arguments_as_residuals(fn)
    definition.bwd = bwd


def _arguments_as_residuals(fn):
    def fwd(*args):
        return fn(*args), args

    fwd.__name__ = fwd.__qualname__ = f"{getattr(fn, '__name__', 'fn')}_fwd"
    return fwd


def definition_of(obj):
    """The `CustomFunction` with the rules of `obj`, or None."""
    if isinstance(obj, CustomFunction):
        return obj
    rule = R.lookup(obj)
    return rule.extra.get("custom") if rule is not None else None


# -- compile time: calls become helper calls, helper calls get generated templates -----------------


def _runtime_helper(name):
    root = ast.Name("_rt", ast.Load())
    root._global = True
    return ast.Attribute(value=root, attr=name, ctx=ast.Load())


def rewrite_call(inliner, stmt):
    """`z = f(a, b)` with custom rules for `f` -> the helper calls that use them, else None.

    custom_vjp rules: `_f_fwd1 = _rt.custom_vjp_forward(f, a, b)` (not differentiable,
    the forward sweep keeps it) and `z = _rt.custom_vjp_value(f, _f_fwd1, a, b)`.
    custom_jvp rules: `z = _rt.custom_jvp_call(f, a, b)`. The arguments are bound to
    positions (keywords and defaults) so the templates can be generated per arity.
    """
    from . import runtime
    from .primitives import _UNRESOLVED, is_global, resolve

    call = stmt.value
    if not (isinstance(call, ast.Call) and is_global(call.func)):
        return None
    obj = resolve(call.func, inliner.namespace)
    definition = definition_of(obj) if obj is not _UNRESOLVED else None
    if definition is None:
        return None
    parsed = inliner.parsed
    if definition.fwd is None and definition.jvp is None:
        raise parsed.error(
            NoDerivativeRuleError,
            f"{definition.describe()} has no derivative rule",
            stmt,
            hint=definition.missing_rule_hint(),
        )
    if inliner.namespace.setdefault("_rt", runtime) is not runtime:
        raise parsed.error(
            UnsupportedSyntaxError,
            f"the name `_rt` is bound to {inliner.namespace['_rt']!r}; "
            "derivative code needs it for s2sad.runtime",
            stmt,
            hint="rename your `_rt`",
        )
    args = _positional_arguments(definition, call, inliner, stmt)
    count = len(args)
    bad = [i for i in definition.nondiff_argnums if not -count <= i < count]
    if bad:
        raise parsed.error(
            ArgumentError,
            f"nondiff_argnums={definition.nondiff_argnums} of "
            f"{definition.describe()} is out of range for a call with {count} arguments",
            stmt,
            hint=f"use positions from 0 to {count - 1}",
        )
    callee = call.func
    target = stmt.targets[0].id
    if definition.fwd is not None:
        stem = re.sub(r"\W", "_", definition.__name__.rsplit(".", 1)[-1])
        key = ("custom", stem)
        inliner.counts[key] = inliner.counts.get(key, 0) + 1
        record = inliner.unique(f"_{stem}_fwd{inliner.counts[key]}")
        forward = ast.Call(
            _runtime_helper("custom_vjp_forward"), [clone(callee)] + clone(args), []
        )
        value = ast.Call(
            _runtime_helper("custom_vjp_value"),
            [clone(callee), ast.Name(record, ast.Load())] + clone(args),
            [],
        )
        statements = [
            ast.Assign(targets=[ast.Name(record, ast.Store())], value=forward),
            ast.Assign(targets=[ast.Name(target, ast.Store())], value=value),
        ]
    else:
        value = ast.Call(_runtime_helper("custom_jvp_call"), [clone(callee)] + args, [])
        statements = [ast.Assign(targets=[ast.Name(target, ast.Store())], value=value)]
    return [ast.copy_location(s, stmt) for s in statements]


def _positional_arguments(definition, call, inliner, stmt):
    """The call's arguments in parameter order; defaults filled in for Python functions."""
    parsed = inliner.parsed
    name = definition.__name__
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise parsed.error(
            UnsupportedSyntaxError,
            f"`*args` / `**kwargs` in a call of `{name}`",
            stmt,
            hint="pass the arguments one by one",
        )
    keywords = {k.arg: k.value for k in call.keywords}
    try:
        signature = inspect.signature(definition.fun)
    except (TypeError, ValueError):
        if keywords:
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{name}` has no signature to bind keywords to",
                stmt,
                hint="pass its arguments by position",
            ) from None
        return list(call.args)
    try:
        bound = signature.bind(*call.args, **keywords)
    except TypeError as exc:
        raise parsed.error(UnsupportedSyntaxError, f"cannot call `{name}`: {exc}", stmt) from None
    python = inspect.isfunction(definition.fun)
    args, gap = [], None
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            args.extend(bound.arguments.get(param.name, ()))
            continue
        if param.kind in (param.KEYWORD_ONLY, param.VAR_KEYWORD):
            if param.name in bound.arguments:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}` is called with the keyword-only " f"argument `{param.name}`",
                    stmt,
                    hint="custom functions take positional parameters in differentiated code",
                )
            continue
        if param.name in bound.arguments:
            if gap is not None:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}` is called without `{gap}` but with a later " "argument",
                    stmt,
                    hint="pass its arguments by position",
                )
            args.append(bound.arguments[param.name])
        elif python and param.default is not param.empty:
            args.append(_default_atom(param.default, f"_{name}_default_{param.name}", inliner))
        else:
            gap = param.name
    return args


def _default_atom(value, alias, inliner):
    if isinstance(value, (int, float, bool, str, type(None))):
        return ast.Constant(value)
    alias = inliner.unique(re.sub(r"\W", "_", alias))
    inliner.namespace[alias] = value
    node = ast.Name(alias, ast.Load())
    node._global = True
    return node


def _tuple_text(items):
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _make_rule(definition, role, count):
    """The rule of `_rt.custom_vjp_value(f, forward, x1, ...)` (role 'value'),
    `_rt.custom_jvp_call(f, x1, ...)` ('call') or `_rt.custom_vjp_forward(f, x1, ...)`
    ('forward', not differentiable: the record is a constant kept for the backward sweep)."""
    if role == "forward":
        return R.Rule(key=definition, name=f"{definition.__name__} (fwd)", differentiable=False, kind="other")
    xs = [f"x{i}" for i in range(1, count + 1)]
    diff, _ = definition.positions(count) if count else ([], [])
    head = ["out", "function", "forward"] if role == "value" else ["out", "function"]
    params = ", ".join(head + xs)
    primals = _tuple_text(xs)
    tangents = _tuple_text([f"{xs[i]}_dot" for i in diff])
    if definition.jvp is not None:
        tangent = f"out_dot = _rt.custom_jvp_tangent(function, {primals}, {tangents})"
    else:
        tangent = f"out_dot = _rt.custom_vjp_tangent(function, forward, {tangents})"
    if role == "value":
        adjoint = ["cotangents = _rt.custom_vjp_backward(function, forward, out_bar)"]
    else:
        adjoint = [f"cotangents = _rt.custom_jvp_transpose(function, {primals}, out_bar)"]
    adjoint += [f"{xs[i]}_bar += cotangents[{k}]" for k, i in enumerate(diff)]
    return R.Rule(
        key=definition,
        name=definition.__name__,
        tangent=R.Template.from_text(f"def _({params}):\n    {tangent}\n"),
        adjoint=R.Template.from_text(f"def _({params}):\n" + "".join(f"    {line}\n" for line in adjoint)),
        kind="any",
        extra={"custom": definition},
    )


# -- run time: the helpers generated code calls (re-exported by s2sad.runtime) --------------------


class CustomForward:
    """What `custom_vjp_forward` keeps for the backward sweep: the output, the residuals,
    the non-differentiable arguments (bwd takes them first), the shapes of the others."""

    __slots__ = ("value", "residuals", "nondiff", "shapes")

    def __init__(self, value, residuals, nondiff, shapes):
        self.value, self.residuals, self.nondiff, self.shapes = value, residuals, nondiff, shapes

    def __repr__(self):
        return f"<custom_vjp forward record: output {self.value!r}>"


def _definition(function):
    definition = definition_of(function)
    if definition is None:
        raise CustomRuleError(
            f"{function!r} has no custom rules any more",
            hint="register them again before calling its derivative",
        )
    return definition


def _where(fn):
    """(file, line, code) of a rule function, its `def` line rather than a decorator's."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None, None, None
    filename, lineno = code.co_filename, code.co_firstlineno
    line = linecache.getline(filename, lineno)
    for _ in range(10):
        if not line.lstrip().startswith("@"):
            break
        lineno += 1
        line = linecache.getline(filename, lineno)
    return filename, lineno, line.strip() or None


def _rule_error(fn, message, hint):
    filename, lineno, code = _where(fn)
    return CustomRuleError(message, filename, lineno, code, hint)


def _rule_name(fn):
    return getattr(fn, "__name__", repr(fn))


def _shape_text(value):
    return f"shape {np.shape(value)}" if np.ndim(value) else "a scalar"


def _check_output(definition, rule_fn, value):
    if isinstance(value, (tuple, list, dict)):
        raise _rule_error(
            rule_fn,
            f"{definition.describe()} returned a {type(value).__name__}; in differentiated "
            "code a custom function returns one float or array",
            hint="return one array (np.stack the parts) and index it after the call",
        )


def _zero_like(shape, is_array):
    return np.zeros(shape) if is_array else 0.0


def _like(value, primal):
    """A tangent or cotangent shaped like `primal` (a scalar zero placeholder becomes zeros)."""
    if np.shape(value) == np.shape(primal):
        return value
    return np.zeros(np.shape(primal)) + value


def custom_vjp_forward(function, *args):
    """Run `function`'s fwd rule: the record of its output and residuals for the backward sweep."""
    definition = _definition(function)
    result = definition.fwd(*args)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        name = _rule_name(definition.fwd)
        raise _rule_error(
            definition.fwd,
            f"the fwd rule `{name}` of {definition.describe()} returned "
            f"{type(result).__name__} {result!r:.60}; it must return a pair (output, residuals)",
            hint=f"return `{definition.__name__}(...), (values the bwd rule needs)`",
        )
    value, residuals = result
    _check_output(definition, definition.fwd, value)
    diff, nondiff = definition.positions(len(args)) if args else ([], [])
    shapes = tuple((np.shape(args[i]), isinstance(args[i], np.ndarray)) for i in diff)
    return CustomForward(value, residuals, tuple(args[i] for i in nondiff), shapes)


def custom_vjp_value(function, forward, *args):
    """The output of `function(*args)` from its forward record (`args` carry the data flow)."""
    return forward.value


def custom_vjp_backward(function, forward, cotangent):
    """Run `function`'s bwd rule: one cotangent per differentiable argument (None -> zeros)."""
    definition = _definition(function)
    bwd = definition.bwd
    result = bwd(*forward.nondiff, forward.residuals, _like(cotangent, forward.value))
    count = len(forward.shapes)
    if not isinstance(result, (tuple, list)):
        if count != 1:
            raise _rule_error(
                bwd,
                f"the bwd rule `{_rule_name(bwd)}` of {definition.describe()} returned "
                f"{type(result).__name__}, not a tuple of {count} cotangents",
                hint=f"return a tuple with one cotangent per differentiable argument ({count})",
            )
        result = (result,)
    if len(result) != count:
        raise _rule_error(
            bwd,
            f"the bwd rule `{_rule_name(bwd)}` of {definition.describe()} returned "
            f"{len(result)} cotangent{'s' * (len(result) != 1)}; the function has {count} "
            "differentiable argument" + "s" * (count != 1),
            hint="return one cotangent per argument not in nondiff_argnums, in order "
            "(None for a zero cotangent)",
        )
    out = []
    for k, (cotangent_k, (shape, is_array)) in enumerate(zip(result, forward.shapes)):
        if cotangent_k is None:
            cotangent_k = _zero_like(shape, is_array)
        elif np.shape(cotangent_k) != shape:
            raise _rule_error(
                bwd,
                f"the bwd rule `{_rule_name(bwd)}` of {definition.describe()} returned a "
                f"cotangent of {_shape_text(cotangent_k)} for argument {k}, which has "
                f"{'shape ' + str(shape) if shape else 'a scalar value'}",
                hint="each cotangent has the shape of its argument",
            )
        out.append(cotangent_k)
    return tuple(out)


def custom_vjp_tangent(function, forward, tangents):
    """Forward mode through a custom_vjp function: `J @ tangents`, one bwd call per output element."""
    value = forward.value
    shape = np.shape(value)

    def along(unit):
        cotangents = custom_vjp_backward(function, forward, unit)
        return sum(np.sum(np.multiply(c, t)) for c, t in zip(cotangents, tangents))

    if not shape:
        return float(along(1.0))
    out = np.zeros(shape)
    for index in np.ndindex(*shape):
        unit = np.zeros(shape)
        unit[index] = 1.0
        out[index] = along(unit)
    return out


def custom_jvp_call(function, *args):
    """The output of a call to a custom_jvp function (its plain value)."""
    return function(*args)


def _call_jvp(definition, primals, tangents):
    diff, nondiff = definition.positions(len(primals)) if primals else ([], [])
    diff_primals = tuple(primals[i] for i in diff)
    tangents = tuple(_like(t, p) for t, p in zip(tangents, diff_primals))
    jvp = definition.jvp
    result = jvp(*[primals[i] for i in nondiff], diff_primals, tangents)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise _rule_error(
            jvp,
            f"the jvp rule `{_rule_name(jvp)}` of {definition.describe()} returned "
            f"{type(result).__name__} {result!r:.60}; it must return a pair (output, output tangent)",
            hint=f"return `{definition.__name__}(*primals), tangent`",
        )
    value, tangent = result
    _check_output(definition, jvp, value)
    if np.shape(tangent) != np.shape(value):
        raise _rule_error(
            jvp,
            f"the jvp rule `{_rule_name(jvp)}` of {definition.describe()} returned a tangent "
            f"of {_shape_text(tangent)} for an output of {_shape_text(value)}",
            hint="the output tangent has the shape of the output",
        )
    return tangent


def custom_jvp_tangent(function, primals, tangents):
    """Run `function`'s jvp rule: the output tangent (`tangents` of the differentiable arguments)."""
    return _call_jvp(_definition(function), primals, tangents)


class TransposedJVP:
    """Cotangents of a custom_jvp function's differentiable arguments: `[k]` runs the
    jvp rule (linear in the tangents) with a unit tangent per element of argument k."""

    def __init__(self, definition, primals, cotangent):
        self.definition, self.primals, self.cotangent = definition, primals, cotangent

    def __getitem__(self, k):
        diff, _ = self.definition.positions(len(self.primals))
        zeros = [np.zeros(np.shape(self.primals[i])) if np.ndim(self.primals[i]) else 0.0 for i in diff]
        primal = self.primals[diff[k]]

        def along(unit):
            tangents = list(zeros)
            tangents[k] = unit
            return np.sum(np.multiply(self.cotangent, _call_jvp(self.definition, self.primals, tangents)))

        if not np.ndim(primal):
            return float(along(1.0))
        out = np.zeros(np.shape(primal))
        for index in np.ndindex(*np.shape(primal)):
            unit = np.zeros(np.shape(primal))
            unit[index] = 1.0
            out[index] = along(unit)
        return out


def custom_jvp_transpose(function, primals, cotangent):
    """Reverse mode through a custom_jvp function: the transposed jvp rule, per argument on use."""
    return TransposedJVP(_definition(function), primals, cotangent)


# the compiler picks the rule of a helper call by the function it calls (s2sad.primitives)
custom_vjp_forward._s2sad_rule_for = lambda function, count: _definition(function).rule("forward", count - 1)
custom_vjp_value._s2sad_rule_for = lambda function, count: _definition(function).rule("value", count - 2)
custom_jvp_call._s2sad_rule_for = lambda function, count: _definition(function).rule("call", count - 1)
