"""User-defined derivative rules: `defjvp` / `defvjp`, and the rules of calls of `custom_vjp` / `custom_jvp`
functions (the functions themselves are in `s2sad.runtime.custom`).

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

from ..errors import ArgumentError
from ..runtime import custom as C
from ..runtime.custom import CustomFunction, custom_jvp  # noqa: F401  (custom_jvp: the doctest)
from . import RULES, Rule, Template, display_name, lookup

# -- rules for functions you do not own ----------------------------------------------------------


def _external(fn, nondiff_argnums):
    """The `CustomFunction` holding the rules registered for `fn` in the rule table."""
    if isinstance(fn, CustomFunction):
        raise ArgumentError(
            f"{fn.describe()} has its own rules", hint=f"use `{fn.__name__}.defjvp` / `{fn.__name__}.defvjp`"
        )
    rule = lookup(fn)
    if rule is not None and "custom" not in rule.extra:
        raise ArgumentError(
            f"{rule.name} already has a derivative rule in s2sad's table",
            hint=f"to give it another derivative, wrap it: `my_fn = s2sad.custom_jvp({rule.name})` "
            "(or custom_vjp) and call `my_fn` in your code",
        )
    if rule is None:
        try:
            rule = RULES[fn] = Rule(key=fn, name=display_name(fn))
        except TypeError:
            raise ArgumentError(
                f"cannot register rules for the unhashable object {fn!r}",
                hint="wrap it with s2sad.custom_jvp / s2sad.custom_vjp instead",
            ) from None
        definition = CustomFunction(fn, callable_directly=False)
        definition.decorator = "registered"
        definition.__name__ = rule.name
        rule.extra["custom"] = C.EXTERNAL[fn] = definition
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


# -- compile time: helper calls get generated templates ---------------------------------------------


def rule_of(definition, role, count):
    """The rule of a helper call: `role` is 'forward', 'value' or 'call' (see `rewrite_call`)."""
    key = (role, count, definition.jvp is not None, definition.fwd is not None, definition.nondiff_argnums)
    if key not in definition._rules:
        definition._rules[key] = _make_rule(definition, role, count)
    return definition._rules[key]


def _tuple_text(items):
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _make_rule(definition, role, count):
    """The rule of `_rt.custom_vjp_value(f, forward, x1, ...)` (role 'value'),
    `_rt.custom_jvp_call(f, x1, ...)` ('call') or `_rt.custom_vjp_forward(f, x1, ...)`
    ('forward', not differentiable: the record is a constant kept for the backward sweep)."""
    if role == "forward":
        return Rule(key=definition, name=f"{definition.__name__} (fwd)", differentiable=False, kind="other")
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
    return Rule(
        key=definition,
        name=definition.__name__,
        tangent=Template.from_text(f"def _({params}):\n    {tangent}\n"),
        adjoint=Template.from_text(f"def _({params}):\n" + "".join(f"    {line}\n" for line in adjoint)),
        extra={"custom": definition},
    )


# the rules of the helper calls `rewrite_call` makes: (function called, argument count) -> rule
HELPER_RULES = {
    C.custom_vjp_forward: lambda function, count: rule_of(C._definition(function), "forward", count - 1),
    C.custom_vjp_value: lambda function, count: rule_of(C._definition(function), "value", count - 2),
    C.custom_jvp_call: lambda function, count: rule_of(C._definition(function), "call", count - 1),
}
