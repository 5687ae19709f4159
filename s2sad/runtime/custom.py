"""Functions with user rules as the program calls them (`custom_vjp`, `custom_jvp`,
`stop_gradient`), and the run-time helpers their derivative code calls (`_rt.custom_vjp_forward`, ...).

How calls of such functions are compiled is in `s2sad.rules.custom` (the rules generated per call)
and `s2sad.frontend.custom_calls` (the call rewritten into helper calls).

>>> stop_gradient(3.0)
3.0
"""

import inspect
import itertools
import keyword
import linecache

import numpy as np

from ..errors import CustomRuleError

# -- stop_gradient ---------------------------------------------------------------------------------


def stop_gradient(x):
    """`x` itself, with a zero derivative in both modes (listed as not differentiable).

    >>> stop_gradient(3.0)
    3.0
    """
    return x


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


# -- rules for functions you do not own: registered by s2sad.rules.custom.defjvp / defvjp -----------

EXTERNAL = {}  # a function you do not own -> the `CustomFunction` holding its rules


def definition_of(obj):
    """The `CustomFunction` with the rules of `obj`, or None."""
    if isinstance(obj, CustomFunction):
        return obj
    try:
        return EXTERNAL.get(obj)
    except TypeError:  # unhashable
        return None


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
