"""Calls to the user's own functions (s2sad/frontend/inline*.py, s2sad/frontend/lift.py and the call
helpers of s2sad/runtime/core.py): nested `def`s and closures, lambdas (also differentiated
themselves), functions passed as arguments (also to the differentiated function) or chosen at
run time, `*args` / `**kwargs` / keywords / defaults, starred calls, recursion (also deeper than
Python's default limit), and the errors for what is not supported.

Every differentiable case is checked in both modes (forward `jvp` and reverse `vjp`)
against central finite differences in float64, with the dot-product test between the
modes (`s2sad.testing.check_grads`), at hypothesis-drawn inputs.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import runtime
from s2sad.testing import check_grads, numerical_jvp

HERE = __file__.rsplit("/", 1)[-1]
SETTINGS = settings(max_examples=10, deadline=None, derandomize=True)
FLOATS = st.floats(-1.5, 1.5)
POSITIVE = st.floats(0.2, 1.5)
SEEDS = st.integers(0, 2**32 - 1)


def _check(f, args, **options):
    """Value as Python computes it, then both modes against finite differences."""
    value, _ = s2sad.vjp(f, *args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12, atol=1e-12)
    out, _ = s2sad.jvp(f, args, tuple(np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in args))
    np.testing.assert_allclose(out, f(*args), rtol=1e-12, atol=1e-12)
    check_grads(f, args, **options)


def _assert_names_user_code(err, needle):
    text = str(err)
    assert HERE in text and needle in text and "hint:" in text, text


# -- 1. nested `def`s and closures -------------------------------------------------------------


def late_binding(x, y):
    a = 2.0 * y

    def g(u):
        return u * a + math.sin(u * y)

    first = g(x)
    a = a * x  # g reads `a` when it is called, as Python does
    return first + g(y)


def helper_with_local_def(x, w):
    k = w * w

    def scaled(u):
        return np.sin(u) * k

    return scaled(x) + scaled(w)


def calls_helper_with_local_def(x, w):
    k = 5.0  # the helper's own `k` must not be mixed up with this one
    return helper_with_local_def(x, w) + k * helper_with_local_def(w, x)


def local_defs_call_each_other(x):
    def outer(u):
        def inner(v):
            return v * v * scale

        return inner(u) + later(u)

    def later(u):  # defined after `outer`, found when `outer` is called
        return math.exp(-u * u)

    scale = 1.5
    return outer(x) + outer(2.0 * x)


def local_def_defaults_and_keywords(x, y):
    k = 2.0 * y

    def g(u, c=k, power=2):  # `c` is bound when `g` is defined
        return u**power * c

    k = 100.0
    return g(x) + g(y, power=3) + g(c=x, u=y)


def local_def_in_branch(x):
    if x > 0:

        def g(u):
            return u * u

        y = g(x)
    else:

        def h(u):
            return -u * math.cos(u)

        y = h(x)
    return y


def local_def_over_arrays(w, x):
    def layer(v):
        return np.tanh(w @ v)

    return np.sum(layer(layer(x)) ** 2)


@SETTINGS
@given(FLOATS, FLOATS)
def test_local_def_reads_enclosing_variables_at_call_time(x, y):
    _check(late_binding, (x, y))


@SETTINGS
@given(FLOATS, FLOATS)
def test_local_def_inside_a_helper(x, w):
    _check(calls_helper_with_local_def, (x, w))


@SETTINGS
@given(FLOATS)
def test_local_defs_calling_each_other_and_nested(x):
    _check(local_defs_call_each_other, (x,))


@SETTINGS
@given(FLOATS, FLOATS)
def test_local_def_defaults_are_bound_at_definition(x, y):
    _check(local_def_defaults_and_keywords, (x, y))


@SETTINGS
@given(FLOATS.filter(lambda v: abs(v) > 1e-3))
def test_local_def_in_a_branch(x):
    _check(local_def_in_branch, (x,))


@SETTINGS
@given(SEEDS)
def test_local_def_over_arrays(seed):
    rng = np.random.default_rng(seed)
    _check(local_def_over_arrays, (rng.standard_normal((3, 3)) * 0.5, rng.standard_normal(3)))


def test_local_def_source_points_to_its_lines():
    text = s2sad.source(late_binding, mode="reverse", argnums=(0, 1), args=(0.3, 0.4))
    assert "return u * a + math.sin(u * y)" in text and "def late_binding_vjp" in text
    assert "_local" not in text  # the function was inlined, no reference to it is left


# -- 2. lambdas --------------------------------------------------------------------------------

SQUARE = lambda u: u * u  # noqa: E731  (a module-level lambda helper)
CUBE, HALF = (lambda v: v**3), (lambda v: 0.5 * v)  # two on one line


def make_scaler(a):
    return lambda u: u * a


TRIPLE = make_scaler(3.0)  # a closure made at module level


def lambdas(x, y):
    g = lambda u: u * 2.0 + y  # noqa: E731
    h = lambda u, k=y: math.sin(u) * k  # noqa: E731
    return g(x) + h(x) + (lambda v: v**3)(y) + apply(lambda u: u * u * x, y)


def lambdas_from_outside(x):
    return SQUARE(x) + CUBE(x) + HALF(x) + TRIPLE(x) + apply(TRIPLE, x) + apply(SQUARE, x)


def lambda_factory(x, y):
    f = make_scaler(y * y)  # a closure made inside: f reads the helper's `a`
    return f(x) + make_scaler(x)(y)


def nested_lambdas(x):
    a = 2.0
    outer = lambda u: (lambda v: v * a * u)(u + 1.0)  # noqa: E731
    return outer(x) + outer(x * x)


@SETTINGS
@given(FLOATS, FLOATS)
def test_lambdas_assigned_passed_and_called_at_once(x, y):
    _check(lambdas, (x, y))


@SETTINGS
@given(FLOATS)
def test_module_level_lambdas_and_closures(x):
    _check(lambdas_from_outside, (x,))
    assert s2sad.grad(lambdas_from_outside)(x) == pytest.approx(2 * x + 3 * x * x + 0.5 + 3 + 3 + 2 * x)


@SETTINGS
@given(FLOATS, FLOATS)
def test_lambdas_returned_by_a_helper(x, y):
    _check(lambda_factory, (x, y))
    assert s2sad.grad(lambda_factory, argnums=(0, 1))(x, y) == (
        pytest.approx(y * y + y),
        pytest.approx(2 * x * y + x),
    )


@SETTINGS
@given(FLOATS)
def test_lambdas_in_lambdas(x):
    _check(nested_lambdas, (x,))


SMOOTH_STEP = lambda x, y=0.5: x * x * (3.0 - 2.0 * x) + math.sin(y * x)  # noqa: E731


@SETTINGS
@given(FLOATS, FLOATS)
def test_a_lambda_is_the_differentiated_function(x, y):
    _check(SMOOTH_STEP, (x, y))
    _check(lambda u: u * np.tanh(u) + SQUARE(u), (x,))
    assert s2sad.grad(lambda u: u * u)(x) == pytest.approx(2 * x)
    value, grads = s2sad.value_and_grad(SMOOTH_STEP, argnums=(0, 1))(x, y)
    assert value == pytest.approx(SMOOTH_STEP(x, y))
    assert grads[1] == pytest.approx(x * math.cos(y * x))
    assert s2sad.jvp(lambda u: u**3, (x,), (1.0,))[1] == pytest.approx(3 * x * x)


def test_a_lambda_s_derivative_is_named_after_its_variable():
    text = s2sad.source(SMOOTH_STEP, args=(0.3, 0.5))
    assert "def SMOOTH_STEP_vjp(x, y" in text and "SMOOTH_STEP = lambda x, y=0.5" in text, text


# -- 3. functions passed as arguments ----------------------------------------------------------


def apply(fn, x):
    return fn(x)


def apply_twice(fn, x, scale=1.0):
    return apply(fn, fn(x) * scale)


def collides(fn, x):
    a = 10.0  # the same name as the caller's closure variable
    return fn(x) + 0.0 * a


def helper(u, k=2.0):
    return u * k + math.cos(u)


def function_arguments(x):
    a = 3.0 * x

    def local(u):
        return u * a

    return (
        apply(math.sin, x)
        + apply(helper, x)
        + apply(local, x)
        + apply(lambda u: u * u, x)
        + apply_twice(math.tanh, x, scale=0.5)
        + apply_twice(local, x)
        + collides(local, x)
    )


ACTIVATION = np.tanh


def function_in_variables(w, x):
    act = ACTIVATION
    step = apply
    return np.sum(step(act, w @ x)) + np.sum(apply(np.sin, x) * apply(ACTIVATION, x))


@SETTINGS
@given(FLOATS)
def test_functions_passed_as_arguments(x):
    _check(function_arguments, (x,))


@SETTINGS
@given(SEEDS)
def test_functions_held_in_variables(seed):
    rng = np.random.default_rng(seed)
    _check(function_in_variables, (rng.standard_normal((2, 3)), rng.standard_normal(3)))


def test_function_arguments_become_direct_calls():
    text = s2sad.source(function_arguments, mode="forward", args=(0.3,))
    assert "math.cos(x)" in text  # the derivative of apply(math.sin, x)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\bfn\b|_fn\b", code), code  # no variable holds the function


def model(w, x):
    return np.tanh(w @ x)


def other_model(w, x):
    return np.sin(w @ x) * 0.5


def loss_of_model(w, predict, x, activation):
    return np.sum(activation(predict(w, x)) ** 2)


def repeat(fn, x, n):  # recursive, given a function: called at run time with it
    return x if n == 0 else repeat(fn, fn(x), n - 1)


def repeated(x, fn):
    return repeat(fn, x, 3)


@SETTINGS
@given(SEEDS)
def test_functions_passed_to_the_differentiated_function(seed):
    rng = np.random.default_rng(seed)
    w, x = rng.standard_normal((2, 3)) * 0.5, rng.standard_normal(3)
    for predict, activation in [(model, np.tanh), (other_model, SQUARE), (lambda a, b: a @ b, np.sin)]:
        _check(lambda w, x: loss_of_model(w, predict, x, activation), (w, x))
        grads = s2sad.grad(loss_of_model, argnums=(0, 2))(w, predict, x, activation)
        _, pullback = s2sad.vjp(loss_of_model, w, predict, x, activation)
        np.testing.assert_allclose(pullback(1.0)[0], grads[0])
        np.testing.assert_allclose(pullback(1.0)[2], grads[1])
        tangent = s2sad.jvp(loss_of_model, (w, predict, x, activation), (w, None, x * 0.0, None))[1]
        np.testing.assert_allclose(tangent, np.sum(grads[0] * w))


def test_another_function_argument_compiles_again():
    w, x = np.full((1, 2), 0.3), np.array([0.5, -0.4])
    gradient = s2sad.grad(loss_of_model)
    first = gradient(w, model, x, np.tanh)
    second = gradient(w, other_model, x, np.tanh)
    assert not np.allclose(first, second)
    np.testing.assert_allclose(gradient(w, model, x, np.tanh), first)
    check_grads(lambda w: loss_of_model(w, other_model, x, np.tanh), (w,))
    text = s2sad.source(loss_of_model, args=(w, model, x, np.tanh))
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "predict: the function model" in text and "np.tanh(" in code and "predict(" not in code, text
    with pytest.raises(s2sad.ArgumentError, match="is the function 'model'"):
        s2sad.grad(loss_of_model, argnums=1)(w, model, x, np.tanh)


@SETTINGS
@given(FLOATS)
def test_a_function_argument_reaches_a_recursive_helper(x):
    _check(lambda x: repeated(x, math.sin), (x,))
    assert s2sad.grad(repeated)(x, math.cos) == pytest.approx(
        -math.sin(math.cos(math.cos(x))) * -math.sin(math.cos(x)) * -math.sin(x)
    )


def default_activation(u):
    return u * np.tanh(u)


def layer(x, w, fn=None, scale=None):
    if fn is None:
        fn = default_activation
    if scale is None:
        scale = 1.0
    return fn(w * x) * scale


def relu(u):
    return np.maximum(u, 0.0)


def chosen_functions(x, w, use_relu):
    act = relu if use_relu else np.tanh  # chosen at run time
    first = layer(x, w) + layer(x, w, np.sin, 2.0) + layer(x, w, fn=act)
    if use_relu:
        out = relu
    else:
        out = default_activation
    return np.sum(apply(out, first))


@pytest.mark.parametrize("use_relu", [False, True])
@SETTINGS
@given(seed=SEEDS)
def test_function_variables_chosen_in_several_places(use_relu, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(0.2, 1.0, 3), rng.uniform(0.2, 1.0, 3)  # away from relu's kink
    _check(lambda x, w: chosen_functions(x, w, use_relu), (x, w))
    text = s2sad.source(chosen_functions, args=(x, w, use_relu))
    assert "act is relu" in text or "is np.tanh" in text, text


# -- 4. *args, **kwargs, keywords and defaults -------------------------------------------------


def sum_of_squares(*args):
    total = 0.0
    for a in args:
        total = total + a * a
    return total


def forwards(*args, **options):
    return weighted(*args, **options)


def weighted(a, b, c, scale=1.0, *, shift):
    return scale * (a * b + c) + shift


def options(a, b=1.0, **kwargs):
    return a * b + kwargs["c"] * a


def variadic(x, y):
    return (
        sum_of_squares(x, y, x)
        + sum_of_squares()
        + forwards(x, y, x * y, shift=y)
        + forwards(y, x, 1.0, scale=x, shift=0.5)
        + options(x, c=y)
        + options(b=y, a=x, c=2.0)
    )


def pendulum_rhs(theta, omega, g, length=1.0, damping=0.1):
    return omega, -g / length * math.sin(theta) - damping * omega


def keywords_and_defaults(theta, g):
    a, b = pendulum_rhs(theta, 0.5, g, damping=0.2)
    c, d = pendulum_rhs(omega=b, theta=a, g=g)
    return a * b + c * d


@SETTINGS
@given(FLOATS, FLOATS)
def test_star_args_star_kwargs_and_keyword_only(x, y):
    _check(variadic, (x, y))


@SETTINGS
@given(FLOATS, POSITIVE)
def test_keywords_and_defaults_of_module_level_helpers(theta, g):
    _check(keywords_and_defaults, (theta, g))


def rhs(state, k):
    x, v = state
    return (v, -k * math.sin(x))


def pack(*args):
    return args


def starred_calls(x, y):
    xs = (x, y, x * y)
    ys = [y, x]
    state = (x, y)
    for _ in range(3):
        state = rhs(state, 2.0)  # a tuple returned by a helper, through a loop
    kw = {"scale": y, "shift": x}
    apart = (y + 3.5, x)  # no tie, away from the origin
    return (
        weighted(*xs, shift=1.0)
        + weighted(*ys, 1.0, shift=0.0)
        + weighted(x, *ys, **kw)
        + pendulum_rhs(*state, 9.81)[1]
        + np.maximum(*apart)
        + math.atan2(*apart)
        + weighted(*pack(x, y), x, shift=y)
        + forwards(*(x, y, 2.0), **{"shift": x})
    )


def starred_run_time_list(x, n):
    xs = []
    for i in range(n):
        xs.append(x * (i + 1.0))
    return sum_of_three(*xs)  # the callee's parameters say how many


def sum_of_three(a, b, c):
    return a * b * c


@SETTINGS
@given(FLOATS, FLOATS)
def test_starred_calls_of_tuples_lists_and_dicts_of_known_size(x, y):
    _check(starred_calls, (x, y))


@SETTINGS
@given(FLOATS)
def test_starred_call_sized_by_the_callee_s_parameters(x):
    _check(starred_run_time_list, (x, 3))
    text = s2sad.source(starred_run_time_list, args=(0.5, 3))
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "sum_of_three(" not in text and "= xs[2]" in text, text  # inlined, reading the list's items


def starred_of_unknown_size(x, n):
    xs = [x * i for i in range(n)]
    return weighted(*xs, shift=x)


def test_starred_call_of_unknown_size_is_reported():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(starred_of_unknown_size)(0.5, 3)
    _assert_names_user_code(info.value, "return weighted(*xs, shift=x)")
    assert "cannot tell from the code how many arguments" in str(info.value)


# -- 5. recursion: the callee's own derivative, called at run time -----------------------------


def power(x, n):
    return 1.0 if n == 0 else x * power(x, n - 1)


def power_with_keywords(x, n):
    if n == 0:
        return np.ones_like(x)
    return x * power_with_keywords(n=n - 1, x=x)


def uses_power(x, y):
    return power(x, 3) * y + power(y, 2)


def is_even(n, x):
    return x if n == 0 else is_odd(n - 1, x * 1.5)


def is_odd(n, x):
    return -x if n == 0 else is_even(n - 1, math.sin(x))


def count_down(n):
    return 0 if n == 0 else 1 + count_down(n - 1)


def inactive_recursion(x):
    return x * count_down(3)


def det(A):
    """Determinant by expansion in minors along the first row."""
    n = A.shape[0]
    if n == 1:
        return A[0, 0]
    total = 0.0
    for j in range(n):
        minor = np.concatenate((A[1:, :j], A[1:, j + 1 :]), axis=1)
        total = total + (-1.0) ** j * A[0, j] * det(minor)
    return total


def sum_tree(x, depth):
    """Two recursive calls per level."""
    if depth == 0:
        return np.sin(x)
    return sum_tree(x * 0.9, depth - 1) + 0.5 * sum_tree(x + 0.1, depth - 1)


@SETTINGS
@given(FLOATS, st.integers(0, 6))
def test_recursive_power(x, n):
    _check(power, (x, n))
    assert s2sad.grad(power)(x, n) == pytest.approx(n * x ** (n - 1) if n else 0.0)
    assert s2sad.jvp(power, (x, n), (1.0, 0.0))[1] == pytest.approx(n * x ** (n - 1) if n else 0.0)


@SETTINGS
@given(SEEDS, st.integers(1, 4))
def test_recursive_power_on_arrays_with_keywords(seed, n):
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, 3)
    _check(power_with_keywords, (x, n))


@SETTINGS
@given(FLOATS, FLOATS)
def test_recursive_helper_called_from_another_function(x, y):
    _check(uses_power, (x, y))


@SETTINGS
@given(FLOATS)
def test_mutual_recursion(x):
    _check(is_even, (5, x))


def test_integer_arguments_get_no_adjoint_and_inactive_calls_are_plain():
    text = s2sad.source(power, mode="reverse", args=(1.5, 3))
    assert re.search(r"_rt\.call_forward_sweep\(power, x, \w+, wrt=\(0,\)\)", text), text
    assert "test_calls.py" in text and "return 1.0 if n == 0 else x * power(x, n - 1)" in text
    assert "n_bar" not in text
    text = s2sad.source(
        power, mode="forward", args=(1.5, 3)
    )  # its own jvp, called directly: `n - 1` is an int
    assert re.search(r"power_jvp\(x, (n - 1|\w+), x_dot\)", text) and "call_jvp" not in text, text
    for mode in ("reverse", "forward"):
        text = s2sad.source(inactive_recursion, mode=mode, args=(1.5,))
        assert "= count_down(" in text and "call_" not in text, text
    check_grads(inactive_recursion, (1.5,))


@pytest.mark.parametrize("size", [3, 4])
@SETTINGS
@given(seed=SEEDS)
def test_recursive_determinant(size, seed):
    A = np.random.default_rng(seed).standard_normal((size, size))
    assert det(A) == pytest.approx(np.linalg.det(A))
    _check(det, (A,), rtol=1e-5)
    expected = np.linalg.det(A) * np.linalg.inv(A).T  # d det(A) / dA = det(A) A^-T
    np.testing.assert_allclose(s2sad.grad(det)(A), expected, rtol=1e-9, atol=1e-9)


def det_of_minor(A, rows, cols):
    """The determinant of the minor of A that keeps `rows` and `cols` (lists of indices): the
    recursion passes shorter lists down, as cmpad's det_by_minor does."""
    if len(rows) == 1:
        return A[rows[0], cols[0]]
    total = 0.0
    sign = 1.0
    for j in range(len(cols)):
        total = total + sign * A[rows[0], cols[j]] * det_of_minor(A, rows[1:], cols[:j] + cols[j + 1 :])
        sign = -sign
    return total


def det_by_index_lists(A):
    n = A.shape[0]
    return det_of_minor(A, list(range(n)), list(range(n)))


@pytest.mark.parametrize("size", [1, 2, 4, 5])
def test_recursion_passing_shrinking_index_lists(size):
    A = np.random.default_rng(size).standard_normal((size, size))
    assert det_by_index_lists(A) == pytest.approx(np.linalg.det(A))
    check_grads(det_by_index_lists, (A,), rtol=1e-5)
    expected = np.linalg.det(A) * np.linalg.inv(A).T
    np.testing.assert_allclose(s2sad.grad(det_by_index_lists)(A), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        s2sad.jvp(det_by_index_lists, (A,), (np.eye(size),))[1],
        np.sum(expected * np.eye(size)),
        rtol=1e-9,
        atol=1e-9,
    )


def test_a_recursion_finds_one_derivative_for_all_its_levels():
    from s2sad import cache

    A = np.random.default_rng(7).standard_normal((5, 5))
    s2sad.grad(det_by_index_lists)(A)
    s2sad.jvp(det_by_index_lists, (A,), (A,))
    compiled = [k for k in cache.CALL_DERIVATIVES if k[0] == "kinds" and k[1] is det_of_minor]
    assert sorted(k[4] for k in compiled) == ["forward", "recursive"]  # one per mode: not one per list length


def test_pullback_of_a_recursive_function_can_be_called_many_times():
    A = np.random.default_rng(1).standard_normal((4, 4))
    value, pullback = s2sad.vjp(det, A)
    (first,) = pullback(1.0)
    (second,) = pullback(2.0)
    np.testing.assert_allclose(second, 2.0 * first)
    np.testing.assert_allclose(first, value * np.linalg.inv(A).T, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(FLOATS)
def test_several_recursive_calls_per_level(x):
    _check(sum_tree, (x, 4))


def pair_tree(x, v, n):
    """A recursion that returns a tuple (a float and an array) and unpacks its own results."""
    if n <= 1:
        return x * x, v * x
    a, b = pair_tree(x * 0.5, v, n - 1)
    c, d = pair_tree(x + 0.1, np.sin(v), n - 2)
    return a + c * x, b * 0.3 + d


def pair_tree_loss(x, v):
    a, b = pair_tree(x, v, 4)
    return a * np.sum(b * b)


@SETTINGS
@given(FLOATS, SEEDS)
def test_jacobians_through_a_recursion_that_returns_tuples(x, seed):
    # jacfwd carries a tuple's tangents as a tuple: `a, b = pair_tree(...)` indexes it as one
    v = np.random.default_rng(seed).standard_normal(3)
    _check(pair_tree_loss, (x, v))
    forward = s2sad.jacfwd(pair_tree_loss, argnums=(0, 1))(x, v)
    reverse = s2sad.grad(pair_tree_loss, argnums=(0, 1))(x, v)
    for a, b in zip(forward, reverse):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_second_derivatives_through_a_recursion_are_refused_at_the_users_line():
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.hessian(pair_tree_loss)(0.3, np.ones(3))
    _assert_names_user_code(info.value, "a, b = pair_tree(x * 0.5, v, n - 1)")
    assert "<s2sad" not in str(info.value) and "_rt." not in str(info.value)


def test_helpers_nested_deeper_than_the_inliner_goes():
    import linecache

    # chain24 calls chain23 ... calls chain0: deeper than the inliner goes, the rest is called at run time
    text = "def chain0(x):\n    return x * 1.01\n"
    text += "".join(f"def chain{i}(x):\n    return chain{i - 1}(x) + 0.01 * x * x\n" for i in range(1, 25))
    filename = "<s2sad test: a chain of helpers>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    namespace = {"__name__": "chains"}
    exec(compile(text, filename, "exec"), namespace)
    chain = namespace["chain24"]
    assert "_rt.call_forward_sweep(chain" in s2sad.source(chain, mode="reverse", args=(0.5,))
    check_grads(chain, (0.5,))


def test_deep_recursion_runs_with_a_raised_recursion_limit():
    import sys

    limit = sys.getrecursionlimit()
    n = 2000  # deeper than Python's default limit of 1000 frames: the derivative raises it for a while
    x = 1.0001
    assert s2sad.grad(power)(x, n) == pytest.approx(n * x ** (n - 1))
    assert s2sad.jvp(power, (x, n), (1.0, 0))[1] == pytest.approx(n * x ** (n - 1))
    assert s2sad.vjp(power, x, n)[1](1.0)[0] == pytest.approx(n * x ** (n - 1))
    assert sys.getrecursionlimit() == limit  # put back
    check_grads(power, (1.01, 500))


def test_too_deep_recursion_is_reported():
    import sys

    limit = sys.getrecursionlimit()
    with pytest.raises(s2sad.RecursionDepthError) as info:
        s2sad.grad(power)(1.0, 50_000)
    _assert_names_user_code(info.value, "def power(x, n):")
    assert "`power` went" in str(info.value) and "loop" in str(info.value)
    assert isinstance(info.value, RecursionError) and sys.getrecursionlimit() == limit


def test_the_garbage_collector_is_paused_inside_a_recursion_and_resumed_as_it_was():
    import gc

    A = np.random.default_rng(11).standard_normal((4, 4))
    assert gc.isenabled()
    check_grads(det_by_index_lists, (A,), rtol=1e-5)
    assert gc.isenabled()
    gc.disable()
    try:
        s2sad.grad(det_by_index_lists)(A)
        assert not gc.isenabled()  # a collector the user paused stays paused
    finally:
        gc.enable()
    with pytest.raises(s2sad.RecursionDepthError):
        s2sad.grad(power)(1.0, 50_000)
    assert gc.isenabled()


# -- 5b. the recursive calling convention (s2sad.transforms.reverse_calls) ------------------------


def halves(v, scale, lo, hi):
    """A sum over a binary split of `v[lo:hi]`, weighted per level: two calls per level."""
    if hi - lo == 1:
        return np.cos(v[lo]) * scale
    mid = (lo + hi) // 2
    return halves(v, scale * 0.8, lo, mid) * halves(v, scale, mid, hi) + scale


def nested_poly(coefficients, t, k):
    """Horner's rule, one level per coefficient."""
    if k == coefficients.shape[0] - 1:
        return coefficients[k] * t
    return (coefficients[k] + nested_poly(coefficients, t, k + 1)) * t


def shrink(x, n):
    """Rebinds and writes into its parameter before the call."""
    x = np.tanh(x) * 1.2
    if n == 0:
        return np.sum(x * x)
    x[0] = x[-1] * 0.5
    return shrink(x, n - 1) + np.sum(np.sin(x))


def pair(a, b, n):
    """Passes one array for two differentiated parameters."""
    if n == 0:
        return np.sum(a * b * b)
    return pair(b, b, n - 1) * 0.5 + pair(a * 0.9, a, n - 1)


def rank_change(x, n):
    """A float at some levels, an array at others: those levels look their derivative up."""
    if n == 0:
        return np.sum(x * x)
    if n == 3:
        return rank_change(np.array([x, 2.0 * x, np.sin(x)]), n - 1)
    return rank_change(x * 1.1, n - 1) + np.sum(np.cos(x))


def tuple_recursion(ps, n):
    if n == 0:
        return np.sum(ps[0] * np.exp(ps[1]))
    return tuple_recursion((ps[1] * 0.7, ps[0] + ps[1]), n - 1) * 1.1


def count_lookups(monkeypatch):
    calls = []
    looked_up = runtime.sweep_call

    def sweep_call(function, wrt, *args):
        calls.append(function.__name__)
        return looked_up(function, wrt, *args)

    monkeypatch.setattr(runtime, "sweep_call", sweep_call)
    return calls


@SETTINGS
@given(SEEDS)
def test_a_recursion_calls_its_own_derivative_directly(seed):
    rng = np.random.default_rng(seed)
    v, c = rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 5)
    check_grads(halves, (v, 0.7, 0, 6))
    check_grads(nested_poly, (c, 0.6, 0))
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = count_lookups(monkeypatch)
        s2sad.grad(halves, argnums=(0, 1))(v, 0.7, 0, 6)
        s2sad.grad(nested_poly, argnums=(0, 1))(c, 0.6, 0)
    assert calls == []  # every level called the derivative compiled for the first
    with pytest.MonkeyPatch.context() as monkeypatch:  # forward mode: one jvp, called directly
        looked_up = []
        call_jvp = runtime.call_jvp
        monkeypatch.setattr(runtime, "call_jvp", lambda f, *rest: looked_up.append(f) or call_jvp(f, *rest))
        t = rng.uniform(-1, 1, 5)
        _, tangent = s2sad.jvp(nested_poly, (c, 0.6, 0), (t, 0.3, 0))
    assert looked_up == []
    expected = numerical_jvp(nested_poly, (c, 0.6, 0), [t, 0.3, 0], 1e-6, [0, 1])
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_the_recursive_mode_passes_the_adjoints_down():
    text = s2sad.source(nested_poly, "recursive", argnums=(0, 1), args=(np.ones(4), 0.5, 0))
    assert "def nested_poly_backward(_residuals, out_bar, coefficients_bar, t_bar):" in text, text
    # its own call: a plain call (`k + 1` is an int, as compiled for: no test), with the adjoints
    assert re.search(r"_nested_poly_call1 = nested_poly_forward\(coefficients, t, (k \+ 1|\w+)\)", text), text
    assert "sweep_call" not in text and "__class__" not in text, text
    assert re.search(
        r"\[2\]\(\s*_nested_poly_call1\[1\],.*,\s*coefficients_bar,\s*t_bar,?\s*\)", text, re.S
    ), text
    assert re.search(r"return \(\s*\w+,\s*\(.*\),\s*nested_poly_backward,\s*\)", text, re.S), text
    text = s2sad.source(nested_poly, "forward", argnums=(0, 1), args=(np.ones(4), 0.5, 0))
    assert re.search(
        r"nested_poly_jvp\(\s*coefficients, t, (k \+ 1|\w+), coefficients_dot, t_dot,?\s*\)", text
    ), text
    assert "call_jvp" not in text and "__class__" not in text, text


@SETTINGS
@given(SEEDS)
def test_rebound_and_repeated_parameters_in_a_recursion(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
    check_grads(shrink, (x, 3))
    check_grads(pair, (x, y, 3))
    text = s2sad.source(shrink, "recursive", args=(x, 3))
    assert "def shrink_backward(_residuals, out_bar, x_bar_given):" in text, text
    assert "_rt.accumulated(x_bar_given, x_bar)" in text


def test_levels_of_other_kinds_look_their_derivative_up(monkeypatch):
    calls = count_lookups(monkeypatch)
    check_grads(rank_change, (0.4, 5))
    assert "rank_change" in calls
    a, b = np.array([0.3, -0.2]), np.array([0.1, 0.5])
    check_grads(tuple_recursion, ((a, b), 3))
    value, pullback = s2sad.vjp(tuple_recursion, (a, b), 3)
    assert value == pytest.approx(tuple_recursion((a, b), 3))
    first = pullback(1.0)
    np.testing.assert_allclose(pullback(2.0)[0][0], 2.0 * first[0][0])


# -- 6. what is not supported: clear errors ----------------------------------------------------


class Model:
    def __init__(self, w):
        self.w = w

    def predict(self, x):
        return self.w * x


MODEL = Model(2.0)


def calls_method_of_global_object(x):
    return MODEL.predict(x) * x


def calls_method_of_argument(x, model):
    return model.predict(x)


def creates_object(x):
    m = Model(x)
    return x * 2.0


def recursive_local(x):
    def fact(n):
        return 1.0 if n == 0 else n * fact(n - 1)

    return x * fact(3)


def calls_from_a_list(x):
    fns = [math.sin, math.cos]
    total = 0.0
    for i in range(2):
        f = fns[i]
        total = total + f(x)
    return total


def defines_twice(x):
    g = lambda u: u  # noqa: E731
    g = lambda u: 2.0 * u  # noqa: E731
    return g(x)


@pytest.mark.parametrize(
    "function, args, needle, message",
    [
        (calls_method_of_argument, (1.0, MODEL), "return model.predict(x)", "calls the method `predict`"),
        (creates_object, (1.0,), "m = Model(x)", "creates an instance of the class `Model`"),
    ],
)
def test_methods_of_user_classes_are_rejected_clearly(function, args, needle, message):
    for transform in (
        lambda: s2sad.grad(function)(*args),
        lambda: s2sad.jvp(function, args, (1.0, 0.0)[: len(args)]),
    ):
        with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
            transform()
        _assert_names_user_code(info.value, needle)
        text = str(info.value)
        assert message in text and "not supported yet" in text, text
        assert "plain function" in text or "model.loss" in text, text


def test_a_method_of_a_global_object_is_inlined_with_the_object_constant():
    """`MODEL.predict(x)` on an object the compiler knows: `Model.predict(MODEL, x)`, inlined; the
    object's attributes are read when the code runs (a changed attribute is seen)."""
    check_grads(calls_method_of_global_object, (0.7,))
    previous = MODEL.w
    try:
        MODEL.w = -3.0
        assert np.isclose(s2sad.grad(calls_method_of_global_object)(0.7), 2 * -3.0 * 0.7)
    finally:
        MODEL.w = previous


@pytest.mark.parametrize(
    "function, args, needle, message",
    [
        (calls_from_a_list, (1.0,), "total = total + f(x)", "calls the variable `f`"),
        (defines_twice, (1.0,), "g = lambda u: 2.0 * u", "defined or assigned more than once"),
    ],
)
def test_other_unsupported_calls_are_reported(function, args, needle, message):
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(function)(*args)
    _assert_names_user_code(info.value, needle)
    assert message in str(info.value)


def recursive_halving(x, tol):
    scale = 0.5

    def halve(v, depth):  # recursive, reads `scale` and `tol` of the enclosing function
        if abs(v) < tol or depth > 30:
            return v
        return np.sin(halve(v * scale, depth + 1)) + v * scale

    return halve(x, 0)


def recursive_with_a_local_lambda(x):
    square = lambda u: u * u  # noqa: E731

    def repeat(v, n):
        if n == 0:
            return v
        return square(repeat(v, n - 1)) * 0.9

    return repeat(x, 2) + recursive_local(x)


@settings(max_examples=10, deadline=None)
@given(x=st.floats(0.2, 2.0), tol=st.sampled_from([1e-3, 0.05, 0.3]))
def test_recursive_local_functions_in_both_modes(x, tol):
    """Recursive nested defs become real functions (enclosing variables passed as trailing
    parameters) whose derivatives are called at run time, as module-level recursion is."""
    # (not where a halving lands on `tol`: `abs(v) < tol` flips there, and finite differences jump)
    assume(all(abs(x * 0.5**k - tol) > 1e-4 for k in range(32)))
    h = 1e-6
    want = (recursive_halving(x + h, tol) - recursive_halving(x - h, tol)) / (2 * h)
    assert abs(s2sad.grad(recursive_halving)(x, tol) - want) <= 1e-6 * max(1.0, abs(want))
    assert abs(s2sad.jvp(recursive_halving, (x, tol), (1.0, 0.0))[1] - want) <= 1e-6 * max(1.0, abs(want))
    want = (recursive_with_a_local_lambda(x + h) - recursive_with_a_local_lambda(x - h)) / (2 * h)
    assert abs(s2sad.grad(recursive_with_a_local_lambda)(x) - want) <= 1e-6 * max(1.0, abs(want))
    assert abs(s2sad.jvp(recursive_with_a_local_lambda, (x,), (1.0,))[1] - want) <= 1e-6 * max(1.0, abs(want))


def _relax(a, k):
    a = a.copy()  # the helper's own array from here on
    for i in range(a.shape[0]):
        a[i] = np.tanh(a[i] * k + 0.1 * i)
    return a


def _relax_in_place(a, k):
    a[0] = a[0] * k  # writes into the caller's array
    return a


def relaxed(x, k):
    return np.sum(_relax(x, k) ** 2) + np.sum(x)


def relaxed_in_place(x, k):
    return np.sum(_relax_in_place(x, k))


def test_a_helper_may_write_into_a_copy_of_its_argument():
    # the error said "copy the argument first (`a = a.copy()`)", and still fired after the copy
    check_grads(relaxed, (np.array([0.3, -0.8, 1.1]), 0.7))
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(relaxed_in_place)(np.array([0.3, -0.8]), 0.7)
    assert "writes into its argument" in str(info.value) and "a[0] = a[0] * k" in str(info.value)


def _relax_view(a, k):
    a = a[:]  # a view: writing into it writes into the caller's array
    a[0] = a[0] * k
    return a


def relaxed_view(x, k):
    return np.sum(_relax_view(x, k))


def test_a_view_of_an_argument_is_still_the_argument():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(relaxed_view)(np.array([0.3, -0.8]), 0.7)
    assert "writes into its argument" in str(info.value)


def _noisy_walk(x, sigma):
    rng = np.random.default_rng(3)  # an object made in the body: its methods run as in the primal
    noise = rng.standard_normal(20)
    for i in range(20):
        x = x + 0.1 * np.sin(x) + sigma * noise[i]
    return x * x


def _draw_with_differentiated_mean(x):
    rng = np.random.default_rng(0)
    return np.sum(rng.normal(x, 1.0, 3))


@given(st.floats(-2.0, 2.0), st.floats(0.01, 0.5))
@settings(max_examples=10, deadline=None)
def test_methods_of_a_constant_object_made_in_the_body_are_constants(x, sigma):
    check_grads(_noisy_walk, (x, sigma), wrt=(0, 1))


def test_a_method_of_an_object_given_a_differentiated_value_is_refused_at_its_line():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(_draw_with_differentiated_mean)(0.5)
    message = str(info.value)
    assert "test_calls.py" in message and "rng.normal(x, 1.0, 3)" in message
    assert "`normal`" in message and not re.search(r"\b_t\d+", message)


def einsum_with_a_changed_sublist(x):
    sub = [0, 1]
    sub[0] = 1  # the list is not the literal any more: its value is known only when running
    return np.sum(np.einsum(x, sub))


def test_an_einsum_sublist_changed_in_the_body_is_refused_at_the_line():
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="sublist form"):
        s2sad.grad(einsum_with_a_changed_sublist)(np.ones((2, 2)))


# -- a helper's globals and the caller's variables of the same name ------------------------------

SHIFT = np.array([0.5, -1.0, 2.0])
GAIN = 2.0


def gained(x):
    return x * GAIN + SHIFT


def shadows_with_locals(x):
    GAIN = 3.0  # the caller's own GAIN and SHIFT: variables, not the module's
    SHIFT = np.sin(x)
    return np.sum(gained(x) * SHIFT) + GAIN * np.sum(x)


def shadows_with_a_parameter(x, GAIN):
    return np.sum(gained(x) * GAIN)


def shadows_with_a_loop_variable(x, n):
    total = 0.0
    for GAIN in range(n):
        total = total + np.sum(gained(x)) * GAIN
    return total


@SETTINGS
@given(seed=SEEDS)
def test_a_helpers_globals_are_not_the_callers_variables_of_the_same_name(seed):
    """Inlined, `gained` reads the module's GAIN and SHIFT, never the caller's local, parameter or
    loop variable of that name (its globals get names of their own in the caller): value as Python
    computes it, derivatives in both modes against finite differences."""
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, 3)
    _check(shadows_with_locals, (x,))
    _check(shadows_with_a_parameter, (x, 0.7))
    _check(shadows_with_a_loop_variable, (x, 3))
    gradient = s2sad.grad(shadows_with_locals)(x)
    expected = GAIN * np.sin(x) + (x * GAIN + SHIFT) * np.cos(x) + 3.0
    np.testing.assert_allclose(gradient, expected, rtol=1e-12, atol=1e-12)
