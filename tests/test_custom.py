"""custom_vjp, custom_jvp, stop_gradient and one-decorator rules for external functions.

Every rule is exercised in both modes: reverse (`grad`, `vjp`) and forward (`jvp`).
The rules of `sin_jvp_rule` / `sin_vjp_rule` deliberately give 2 cos(x) for the
derivative of sin(x): results built from 2 cos(x) prove that the compiler uses the
rule and never looks into the function's body.
"""

import contextlib
import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.rules import RULES
from s2sad.testing import check_grads, check_rule

HERE = __file__.rsplit("/", 1)[-1]
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
FLOATS = st.floats(-2.0, 2.0)
SEEDS = st.integers(0, 2**32 - 1)


def _close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)


def _assert_names_user_code(err, needle):
    text = str(err)
    assert HERE in text and needle in text and "hint:" in text, text


def _away_from_zero(rng, shape):
    return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


# -- rules that differ from the true derivative on purpose: sin'(x) = 2 cos(x) ------------------


@s2sad.custom_jvp
def sin_jvp_rule(x):
    return math.sin(x)


@sin_jvp_rule.defjvp
def _sin_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return math.sin(x), 2.0 * math.cos(x) * x_dot


@s2sad.custom_vjp
def sin_vjp_rule(x):
    return math.sin(x)


def _sin_fwd(x):
    return math.sin(x), math.cos(x)


def _sin_bwd(cos_x, g):
    return (2.0 * cos_x * g,)


sin_vjp_rule.defvjp(_sin_fwd, _sin_bwd)


def direct_jvp(x):
    return sin_jvp_rule(x) * x


def direct_vjp(x):
    return sin_vjp_rule(x) * x


def loop_jvp(x, n):
    s = 0.0
    for i in range(n):
        s = 0.5 * s + sin_jvp_rule(x + s)
    return s


def loop_vjp(x, n):
    s = 0.0
    for i in range(n):
        s = 0.5 * s + sin_vjp_rule(x + s)
    return s


def helper_jvp(u):
    return 3.0 * sin_jvp_rule(u) + u


def helper_vjp(u):
    return 3.0 * sin_vjp_rule(u) + u


def via_helper_jvp(x):
    return helper_jvp(x * x) * 2.0


def via_helper_vjp(x):
    return helper_vjp(x * x) * 2.0


def expected_direct(x):
    return 2.0 * math.cos(x) * x + math.sin(x)


def expected_loop(x, n):
    s, ds = 0.0, 0.0
    for _ in range(n):
        s, ds = 0.5 * s + math.sin(x + s), 0.5 * ds + 2.0 * math.cos(x + s) * (1.0 + ds)
    return ds


def expected_via_helper(x):
    return 2.0 * (3.0 * 2.0 * math.cos(x * x) * 2.0 * x + 2.0 * x)


def _derivative_in_both_modes(f, args, expected):
    """grad (joint reverse), vjp (split reverse) and jvp (forward) along the first argument."""
    _close(s2sad.grad(f)(*args), expected)
    _, pullback = s2sad.vjp(f, *args)
    _close(pullback(1.0)[0], expected)
    _, tangent = s2sad.jvp(f, args, (1.0,) + tuple(0 * a for a in args[1:]))
    _close(tangent, expected)


@pytest.mark.parametrize("f", [direct_jvp, direct_vjp], ids=["custom_jvp", "custom_vjp"])
@SETTINGS
@given(x=FLOATS)
def test_the_custom_rule_is_used_in_both_modes(f, x):
    _derivative_in_both_modes(f, (x,), expected_direct(x))


@pytest.mark.parametrize("f", [loop_jvp, loop_vjp], ids=["custom_jvp", "custom_vjp"])
@SETTINGS
@given(x=FLOATS, n=st.integers(0, 5))
def test_the_custom_rule_is_used_inside_a_loop(f, x, n):
    _derivative_in_both_modes(f, (x, n), expected_loop(x, n))


@pytest.mark.parametrize("f", [via_helper_jvp, via_helper_vjp], ids=["custom_jvp", "custom_vjp"])
@SETTINGS
@given(x=FLOATS)
def test_the_custom_rule_is_used_inside_a_helper_function(f, x):
    _derivative_in_both_modes(f, (x,), expected_via_helper(x))


@pytest.mark.parametrize("f", [sin_jvp_rule, sin_vjp_rule], ids=["custom_jvp", "custom_vjp"])
def test_differentiating_the_custom_function_itself_uses_its_rule(f):
    _derivative_in_both_modes(f, (0.4,), 2.0 * math.cos(0.4))


def test_calling_a_custom_function_runs_the_plain_function():
    assert sin_jvp_rule(0.3) == math.sin(0.3) and sin_vjp_rule(0.3) == math.sin(0.3)
    assert sin_vjp_rule.__name__ == "sin_vjp_rule" and "custom_vjp" in repr(sin_vjp_rule)


# -- custom_vjp with residuals: fwd runs once, in the forward sweep ------------------------------

CALLS = {"fwd": 0, "bwd": 0}


@s2sad.custom_vjp
def norm(x):
    return np.sqrt(np.sum(x * x))


def norm_fwd(x):
    CALLS["fwd"] += 1
    n = np.sqrt(np.sum(x * x))
    return n, (x, n)


def norm_bwd(residuals, g):
    CALLS["bwd"] += 1
    x, n = residuals
    return (g * x / n,)


norm.defvjp(norm_fwd, norm_bwd)


def scaled_norm_squared(x, w):
    y = norm(x * w) * w
    return y * y


def norms_in_a_loop(x, n):
    s = 0.0
    for i in range(n):
        x = x * 0.9 + 0.1
        s = s + norm(x) * s + norm(x * x)
    return s


@SETTINGS
@given(seed=SEEDS)
def test_custom_vjp_with_residuals_in_both_modes(seed):
    rng = np.random.default_rng(seed)
    x, w = _away_from_zero(rng, 4), float(_away_from_zero(rng, ()))
    check_grads(scaled_norm_squared, (x, w))
    check_grads(norms_in_a_loop, (x, 3), wrt=[0])
    gx, gw = s2sad.grad(scaled_norm_squared, argnums=(0, 1))(x, w)
    _close(gx, 2 * w**4 * x)
    _close(gw, 4 * w**3 * np.sum(x * x))


def test_residuals_are_computed_once_in_the_forward_sweep_and_kept():
    x = np.array([1.0, -2.0, 0.5])
    CALLS.update(fwd=0, bwd=0)
    s2sad.grad(scaled_norm_squared)(x, 0.7)
    assert CALLS == {"fwd": 1, "bwd": 1}
    _, pullback = s2sad.vjp(scaled_norm_squared, x, 0.7)
    pullback(1.0)
    pullback(2.0)
    assert CALLS == {"fwd": 2, "bwd": 3}  # each pullback call reuses the residuals
    text = s2sad.source(scaled_norm_squared, argnums=(0, 1), args=(x, 0.7))
    code = "".join(text.split())  # black may wrap the calls
    assert code.count("_rt.custom_vjp_forward(norm,") == 1 and "_rt.custom_vjp_backward(norm," in code, text
    assert code.index("custom_vjp_forward") < code.index("custom_vjp_backward"), text


@s2sad.custom_vjp
def spread(x):
    return np.array([x, x * x, 3.0])


spread.defvjp(lambda x: (spread(x), x), lambda x, g: (g[0] + 2.0 * x * g[1],))


def uses_spread(x):
    return np.sum(spread(x) * np.array([1.0, -2.0, 0.5]))


@SETTINGS
@given(x=FLOATS)
def test_forward_mode_through_a_custom_vjp_with_an_array_output(x):
    check_grads(uses_spread, (x,))
    _close(s2sad.jvp(uses_spread, (x,), (1.0,))[1], 1.0 - 4.0 * x)


# -- two arguments (an array and a float) and a non-differentiable one ------------------------


@partial(s2sad.custom_vjp, nondiff_argnums=(2,))
def power_sum_vjp(x, w, p=3):
    return w * np.sum(np.abs(x) ** p)


def _power_sum_fwd(x, w, p):
    powers = np.abs(x) ** p
    return w * np.sum(powers), (x, w, powers)


def _power_sum_bwd(p, residuals, g):
    x, w, powers = residuals
    return g * w * p * np.abs(x) ** (p - 1) * np.sign(x), g * np.sum(powers)


power_sum_vjp.defvjp(_power_sum_fwd, _power_sum_bwd)


@partial(s2sad.custom_jvp, nondiff_argnums=(2,))
def power_sum_jvp(x, w, p=3):
    return w * np.sum(np.abs(x) ** p)


@power_sum_jvp.defjvp
def _power_sum_jvp(p, primals, tangents):
    (x, w), (x_dot, w_dot) = primals, tangents
    powers = np.abs(x) ** p
    return w * np.sum(powers), w_dot * np.sum(powers) + w * np.sum(
        p * np.abs(x) ** (p - 1) * np.sign(x) * x_dot
    )


def uses_power_sum_vjp(x, w):
    return power_sum_vjp(x * 1.5, w=w) + power_sum_vjp(x, w * w, 2) * w


def uses_power_sum_jvp(x, w):
    return power_sum_jvp(x * 1.5, w=w) + power_sum_jvp(x, w * w, 2) * w


def expected_power_sum(x, w):
    gx = w * 3 * np.abs(1.5 * x) ** 2 * np.sign(x) * 1.5 + w**3 * 2 * x
    gw = np.sum(np.abs(1.5 * x) ** 3) + 3 * w**2 * np.sum(x * x)
    return gx, gw


@pytest.mark.parametrize("f", [uses_power_sum_vjp, uses_power_sum_jvp], ids=["custom_vjp", "custom_jvp"])
@SETTINGS
@given(seed=SEEDS)
def test_array_and_float_arguments_with_a_nondiff_argument(f, seed):
    rng = np.random.default_rng(seed)
    x, w = _away_from_zero(rng, 5), float(_away_from_zero(rng, ()))
    check_grads(f, (x, w))
    gx, gw = s2sad.grad(f, argnums=(0, 1))(x, w)
    ex, ew = expected_power_sum(x, w)
    _close(gx, ex)
    _close(gw, ew)
    v = rng.standard_normal(5)
    _close(s2sad.jvp(f, (x, w), (v, 0.5))[1], np.sum(ex * v) + 0.5 * ew)


# -- stop_gradient ----------------------------------------------------------------------------


def times_stopped(x):
    return x * s2sad.stop_gradient(x)


def array_times_stopped(x):
    return np.sum(np.sin(x) * s2sad.stop_gradient(x * x))


@SETTINGS
@given(x=FLOATS)
def test_stop_gradient_in_both_modes(x):
    assert s2sad.stop_gradient(x) == x
    _derivative_in_both_modes(times_stopped, (x,), x)


@SETTINGS
@given(seed=SEEDS)
def test_stop_gradient_on_arrays_in_both_modes(seed):
    x = np.random.default_rng(seed).standard_normal(4)
    _close(s2sad.grad(array_times_stopped)(x), np.cos(x) * x * x)
    v = np.ones(4)
    _close(s2sad.jvp(array_times_stopped, (x,), (v,))[1], np.sum(np.cos(x) * x * x))


def test_no_derivative_code_goes_through_stop_gradient():
    for mode in ("reverse", "forward"):
        text = s2sad.source(times_stopped, mode=mode, args=(1.5,))
        derivative_lines = [line for line in text.splitlines() if ("_bar" in line or "_dot" in line)]
        assert not any("stop_gradient" in line for line in derivative_lines), text


# -- one decorator for a function you do not own -----------------------------------------------


def digamma(x):
    """d/dx lgamma(x) for x > 0 (recurrence, then the asymptotic series)."""
    shift = 0.0
    while x < 6.0:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))
    return shift + math.log(x) - 0.5 / x - series


def log_beta(a, b):
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


class Softplus:
    """A callable object: s2sad cannot read its source and has no rule for it."""

    def __call__(self, x):
        return np.log1p(np.exp(x))


softplus = Softplus()


def softplus_loss(x):
    return np.sum(softplus(x) * x)


@contextlib.contextmanager
def registered_rules():
    """Rules registered inside the block leave the table afterwards."""
    before = dict(RULES)
    try:
        yield
    finally:
        RULES.clear()
        RULES.update(before)
        s2sad.cache.clear()


def test_an_unregistered_function_says_how_to_register():
    for f, args, needle in [
        (log_beta, (1.5, 2.5), "math.lgamma"),
        (softplus_loss, (np.ones(3),), "softplus"),
    ]:
        with pytest.raises(s2sad.NoDerivativeRuleError) as info:
            s2sad.grad(f)(*args)
        _assert_names_user_code(info.value, needle)
        assert "s2sad.defjvp" in str(info.value) and "docs/rules.md" in str(info.value)


def test_defjvp_registers_an_external_function_for_both_modes():
    with registered_rules():

        @s2sad.defjvp(math.lgamma)
        def lgamma_jvp(primals, tangents):
            (x,), (x_dot,) = primals, tangents
            return math.lgamma(x), digamma(x) * x_dot

        @SETTINGS
        @given(a=st.floats(0.5, 4.0), b=st.floats(0.5, 4.0))
        def check(a, b):
            check_grads(log_beta, (a, b))
            ga, gb = s2sad.grad(log_beta, argnums=(0, 1))(a, b)
            _close(ga, digamma(a) - digamma(a + b))
            _close(gb, digamma(b) - digamma(a + b))

        check()


def test_defvjp_registers_an_external_function_for_both_modes():
    with registered_rules():

        @s2sad.defvjp(math.lgamma)  # no fwd: the residuals are the arguments
        def lgamma_bwd(primals, g):
            (x,) = primals
            return (g * digamma(x),)

        @SETTINGS
        @given(a=st.floats(0.5, 4.0), b=st.floats(0.5, 4.0))
        def check(a, b):
            check_grads(log_beta, (a, b))
            _close(s2sad.grad(log_beta)(a, b), digamma(a) - digamma(a + b))
            _close(s2sad.jvp(log_beta, (a, b), (1.0, 0.0))[1], digamma(a) - digamma(a + b))

        check()


def test_a_callable_object_gets_a_rule_with_one_decorator():
    with registered_rules():

        @s2sad.defjvp(softplus)
        def softplus_jvp(primals, tangents):
            (x,), (x_dot,) = primals, tangents
            return softplus(x), x_dot / (1.0 + np.exp(-x))

        @SETTINGS
        @given(seed=SEEDS)
        def check(seed):
            x = np.random.default_rng(seed).standard_normal(4)
            check_grads(softplus_loss, (x,))
            _close(s2sad.grad(softplus_loss)(x), softplus(x) + x / (1.0 + np.exp(-x)))

        check()


def test_a_builtin_rule_cannot_be_replaced_globally():
    with pytest.raises(s2sad.ArgumentError, match="already has a derivative rule") as info:
        s2sad.defjvp(np.sin, lambda primals, tangents: None)
    assert "custom_jvp(" in str(info.value)


# -- misuse: s2sad errors naming the user's file and line, with a hint ---------------------------


@s2sad.custom_vjp
def vjp_without_rule(x):
    return x * 2.0


@s2sad.custom_jvp
def jvp_without_rule(x):
    return x * 2.0


def uses_vjp_without_rule(x):
    return vjp_without_rule(x) + x


def uses_jvp_without_rule(x):
    return jvp_without_rule(x) + x


def test_a_custom_function_without_its_rule():
    assert vjp_without_rule(2.0) == 4.0 and jvp_without_rule(2.0) == 4.0
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.grad(uses_vjp_without_rule)(1.0)
    _assert_names_user_code(info.value, "return vjp_without_rule(x) + x")
    assert "vjp_without_rule.defvjp(" in str(info.value)
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.jvp(uses_jvp_without_rule, (1.0,), (1.0,))
    _assert_names_user_code(info.value, "return jvp_without_rule(x) + x")
    assert "@jvp_without_rule.defjvp" in str(info.value)


def _one_cotangent_for_two(residuals, g):
    x, y = residuals
    return (g * y,)


def _wrong_shape(residuals, g):
    x, y = residuals
    return g * y * np.ones(3), g * x


def _no_pair(x, y):
    return x * y


@s2sad.custom_vjp
def product(x, y):
    return x * y


def uses_product(x, y):
    return product(x, y) * x


@s2sad.custom_jvp
def doubled(x):
    return 2.0 * x


@doubled.defjvp
def _doubled_jvp_wrong_shape(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return 2.0 * x, np.array([2.0 * x_dot, 0.0])


def uses_doubled(x):
    return doubled(x) * x


@pytest.mark.parametrize(
    "fwd, bwd, needle, message",
    [
        (
            lambda x, y: (x * y, (x, y)),
            _one_cotangent_for_two,
            "def _one_cotangent_for_two",
            "returned 1 cotangent",
        ),
        (lambda x, y: (x * y, (x, y)), _wrong_shape, "def _wrong_shape", r"shape \(3,\)"),
        (_no_pair, _wrong_shape, "def _no_pair", "must return a pair"),
    ],
    ids=["count", "shape", "fwd"],
)
def test_a_rule_returning_the_wrong_values(fwd, bwd, needle, message):
    product.defvjp(fwd, bwd)
    for run in (
        lambda: s2sad.grad(uses_product)(1.5, 2.0),
        lambda: s2sad.jvp(uses_product, (1.5, 2.0), (1.0, 0.0)),
    ):
        with pytest.raises(s2sad.CustomRuleError, match=message) as info:
            run()
        _assert_names_user_code(info.value, needle)


def test_a_jvp_rule_returning_the_wrong_shape():
    for run in (lambda: s2sad.jvp(uses_doubled, (1.5,), (1.0,)), lambda: s2sad.grad(uses_doubled)(1.5)):
        with pytest.raises(s2sad.CustomRuleError, match="tangent of shape") as info:
            run()
        _assert_names_user_code(info.value, "def _doubled_jvp_wrong_shape")


@partial(s2sad.custom_jvp, nondiff_argnums=(3,))
def bad_nondiff(x):
    return x


bad_nondiff.defjvp(lambda n, primals, tangents: (primals[0], tangents[0]))


def uses_bad_nondiff(x):
    return bad_nondiff(x) * x


def test_nondiff_argnums_out_of_range():
    with pytest.raises(s2sad.ArgumentError) as info:
        s2sad.grad(uses_bad_nondiff)(1.0)
    _assert_names_user_code(info.value, "return bad_nondiff(x) * x")


def test_check_rule_checks_one_rule_in_both_modes_and_catches_a_wrong_one():
    check_rule(np.tanh, 0.4)
    check_rule(np.matmul, np.arange(6.0).reshape(2, 3) / 7.0, np.ones((3, 2)))
    check_rule(np.sum, np.arange(6.0).reshape(2, 3), axis=1)
    with registered_rules():

        @s2sad.defvjp(math.lgamma)
        def lgamma_bwd_wrong(primals, g):
            (x,) = primals
            return (g * digamma(x) * 1.01,)  # one percent off

        with pytest.raises(AssertionError):
            check_rule(math.lgamma, 1.7)
    with registered_rules():

        @s2sad.defjvp(math.lgamma)
        def lgamma_jvp(primals, tangents):
            (x,), (x_dot,) = primals, tangents
            return math.lgamma(x), digamma(x) * x_dot

        check_rule(math.lgamma, 1.7)
