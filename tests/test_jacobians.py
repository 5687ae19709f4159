"""jacfwd (vector forward mode, s2sad/transforms/forward_vector.py) and jacrev (s2sad/api/jacobians.py)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import rules
from s2sad.pipeline import compile_derivative

# -- programs: vector in, vector (or matrix / scalar) out -------------------------------------------


def loops_and_branches(x):
    y = np.zeros(x.shape[0])
    acc = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            acc = acc + x[i] * x[i]
        else:
            acc = acc - math.sin(x[i])
        y[i] = acc * x[0]
    return y


def while_loop(x):
    s = np.sum(x * x) + 1.0
    v = x
    n = 0
    while s > 0.1 and n < 20:
        v = 0.5 * v + np.tanh(v)
        s = s * 0.5
        n += 1
    return v * s


def in_place(x):
    a = np.ones((2, x.shape[0]))
    a[0] = x * 2.0
    a[1, 1:] = x[:-1] * x[1:]
    a[:, 0] += np.exp(x[0])
    a[a > 100.0] = 100.0
    return a


def matmul_reductions(x):
    w = np.arange(12.0).reshape(3, 4) / 10.0
    h = np.tanh(w @ x + 0.1)
    m = np.outer(h, x[:2])
    return np.concatenate([np.sum(m, axis=0), np.mean(m, axis=1), [np.max(h), np.prod(h), np.linalg.norm(x)]])


def indexing_shapes(x):
    m = np.reshape(x, (2, 2))
    t = m.T @ m
    u = np.stack([t[0], t[:, 1] * x[3]])
    v = np.where(u > 0.5, u, u * u)
    c = np.cumsum(v, axis=1)
    return np.transpose(c)[::-1] + np.dot(m, x[:2])[0]


def lists_and_helpers(x):
    states = []
    h = x[0]
    for v in x:
        h = scale(h, v)
        states.append(h)
    return np.array(states) + np.cumsum(x)


def scale(h, v):
    return 0.5 * h + v * h + v


def linear_algebra(x):
    a = np.eye(4) * x + 3.0 * np.eye(4) + 0.1 * np.outer(x, x)
    b = np.linalg.solve(a, x)
    return np.concatenate([b, np.linalg.inv(a)[0], [np.linalg.det(a)], np.sort(x)])


def scalar_output(x):
    return np.sum(np.sin(x) * x[::-1]) + x[1] ** 3


PROGRAMS = [
    loops_and_branches,
    while_loop,
    in_place,
    matmul_reductions,
    indexing_shapes,
    lists_and_helpers,
    linear_algebra,
    scalar_output,
]


def central_differences(f, x, step=1e-6):
    """The Jacobian of f at x by central differences, shape out + in."""
    out = np.asarray(f(x), dtype=float)
    columns = []
    for index in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[index] = step
        columns.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * step))
    return np.moveaxis(np.array(columns), 0, -1).reshape(out.shape + x.shape)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_jacfwd_equals_jacrev_and_finite_differences(f):
    @settings(max_examples=5, deadline=None, derandomize=True, database=None)
    @given(seed=st.integers(0, 2**32 - 1))
    def check(seed):
        x = np.random.default_rng(seed).uniform(-1.5, 1.5, size=4)
        x = np.where(np.abs(x) < 0.05, 0.3, x)  # stay off the kinks of branches
        forward = s2sad.jacfwd(f)(x)
        reverse = s2sad.jacrev(f)(x)
        expected = central_differences(f, x)
        assert np.shape(forward) == np.shape(reverse) == expected.shape
        np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(forward, expected, rtol=1e-5, atol=1e-6)

    check()


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_dot_product_between_vector_forward_and_reverse(f):
    """<u, J V> == <J^T u, V> for a block V of 3 directions."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, size=4)
    directions = rng.standard_normal((3, 4))
    compiled = compile_derivative(f, "forward_vector", (0,), ("array",))
    value, tangents = compiled.function(x, directions)
    assert np.shape(tangents) == (3,) + np.shape(value)
    out, pullback = s2sad.vjp(f, x)
    u = rng.standard_normal(np.shape(out))
    lhs = np.tensordot(tangents, u, axes=np.ndim(out))
    (cotangent,) = pullback(u.copy() if np.ndim(out) else float(u))
    np.testing.assert_allclose(lhs, directions @ cotangent, rtol=1e-9, atol=1e-9)


# -- JAX's shapes and structures ------------------------------------------------------------------


def product(x, y):
    return x * y + math.sin(x)


def matrix_function(a):
    return np.tanh(a) @ a.T


def test_scalars_give_scalars():
    for jac in (s2sad.jacfwd, s2sad.jacrev):
        d = jac(product)(2.0, 3.0)
        assert isinstance(d, float) and d == pytest.approx(3.0 + math.cos(2.0))
        dx, dy = jac(product, argnums=(0, 1))(2.0, 3.0)
        assert dx == pytest.approx(3.0 + math.cos(2.0)) and dy == pytest.approx(2.0)
        with pytest.raises(s2sad.ArgumentError, match="an int"):  # as JAX: real floating-point inputs only
            jac(product)(2, 3)


def test_shapes_are_output_then_input():
    a = np.random.default_rng(0).standard_normal((2, 3))
    forward, reverse = s2sad.jacfwd(matrix_function)(a), s2sad.jacrev(matrix_function)(a)
    assert forward.shape == reverse.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(forward, reverse, atol=1e-12)
    np.testing.assert_allclose(forward, central_differences(matrix_function, a), atol=1e-6)
    assert s2sad.jacfwd(scalar_output)(np.ones(4)).shape == (4,)


def tree_function(params, x):
    h = np.tanh(params["W"] @ x + params["b"])
    return {"out": h * params["scale"][0], "total": np.sum(h)}


def test_trees_in_and_out():
    rng = np.random.default_rng(2)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(3), "scale": [1.5]}
    x = rng.standard_normal(2)
    forward = s2sad.jacfwd(tree_function)(params, x)
    reverse = s2sad.jacrev(tree_function)(params, x)
    assert set(forward) == {"out", "total"} and set(forward["out"]) == {"W", "b", "scale"}
    assert forward["out"]["W"].shape == (3, 3, 2) and forward["total"]["b"].shape == (3,)
    assert isinstance(forward["total"]["scale"], list) and forward["out"]["scale"][0].shape == (3,)
    for key in ("out", "total"):
        for name in ("W", "b"):
            np.testing.assert_allclose(forward[key][name], reverse[key][name], atol=1e-12)
    jx = s2sad.jacfwd(tree_function, argnums=(0, 1))(params, x)["out"][1]
    assert jx.shape == (3, 2)


def with_aux(x):
    y = np.sin(x) * 2.0
    return y, {"norm": np.sum(y * y)}


def test_has_aux():
    x = np.array([0.1, 0.2, 0.3])
    for jac in (s2sad.jacfwd, s2sad.jacrev):
        j, aux = jac(with_aux, has_aux=True)(x)
        np.testing.assert_allclose(j, np.diag(2.0 * np.cos(x)), atol=1e-12)
        assert aux["norm"] == pytest.approx(np.sum((2.0 * np.sin(x)) ** 2))


def tuple_output(x, y):
    return x * y, np.sum(x) * y


def test_tuple_outputs_and_argnums():
    x, y = np.array([1.0, 2.0]), 3.0
    for jac in (s2sad.jacfwd, s2sad.jacrev):
        (jxx, jxy), (jsx, jsy) = jac(tuple_output, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(jxx, 3.0 * np.eye(2))
        np.testing.assert_allclose(jxy, x)
        np.testing.assert_allclose(jsx, [3.0, 3.0])
        assert jsy == pytest.approx(3.0)


# -- one pass ---------------------------------------------------------------------------------------

PASSES = []


def count_pass(x):
    PASSES.append(1)
    return 0.0


def counted(x):
    c = count_pass(x)
    return np.tanh(x) * np.sum(x) + c


def test_vector_forward_mode_runs_the_primal_once():
    rules.nondifferentiable(count_pass, kind="float")
    try:
        x = np.linspace(-1.0, 1.0, 10)
        PASSES.clear()
        j = s2sad.jacfwd(counted)(x)
        assert len(PASSES) == 1
        PASSES.clear()
        columns = [s2sad.jvp(counted, (x,), (e,))[1] for e in np.eye(10)]
        assert len(PASSES) == 10
        np.testing.assert_allclose(j, np.array(columns).T, atol=1e-12)
    finally:
        del rules.RULES[count_pass]  # keep the rule table (and docs/numpy.md) as it was


def test_generated_source_carries_the_direction_axis():
    text = s2sad.source(loops_and_branches, mode="jacfwd", args=(np.ones(3),))
    assert "def loops_and_branches_jvp_vector(x, x_dot):" in text
    assert "x_dot[:, i]" in text and "y_dot[:, i] = " in text and "each_direction" not in text
    assert "0 *" not in text
    text = s2sad.source(linear_algebra, mode="forward_vector", args=(np.ones(4),))
    assert "_rt.each_direction(lambda" in text.replace("\n", "").replace(" ", "").replace(
        "lambda", "lambda "
    )  # np.linalg.solve has no batched template
    split = s2sad.source(loops_and_branches, mode="jacrev", args=(np.ones(3),))
    assert "def loops_and_branches_forward(" in split and "def loops_and_branches_backward(" in split


# -- rules without a batched template, and calls that are not inlined ------------------------------


@s2sad.custom_jvp
def softclip(x):
    return np.tanh(x) * 2.0


@softclip.defjvp
def softclip_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softclip(x), 2.0 * t * (1.0 - np.tanh(x) ** 2)


def uses_custom_rule(x):
    return softclip(x * x) + np.einsum("i,i->", x, x)


def power(x, n):
    if n == 0:
        return 1.0
    return x * power(x, n - 1)


def recursive(x):
    return power(x, 3) + x


def test_fallbacks_are_right():
    x = np.array([0.3, -0.4, 0.5])
    for f in (uses_custom_rule, recursive):
        np.testing.assert_allclose(s2sad.jacfwd(f)(x), central_differences(f, x), atol=1e-6)
        np.testing.assert_allclose(s2sad.jacfwd(f)(x), s2sad.jacrev(f)(x), atol=1e-12)


# -- errors -----------------------------------------------------------------------------------------


def returns_text(x):
    return "x"


def aux_not_a_pair(x):
    return x * 2.0


def test_clear_errors():
    with pytest.raises(s2sad.ArgumentError, match="argnums=3 is out of range"):
        s2sad.jacfwd(product, argnums=3)(1.0, 2.0)
    with pytest.raises(s2sad.ArgumentError, match="nothing to differentiate"):
        s2sad.jacrev(product, argnums=())(1.0, 2.0)
    with pytest.raises(s2sad.ArgumentError, match="differentiates floats and NumPy arrays"):
        s2sad.jacfwd(product)("a", 2.0)
    for jac in (s2sad.jacfwd, s2sad.jacrev):
        with pytest.raises(s2sad.S2sadError, match=r"test_jacobians.py:\d+: .*returned a str"):
            jac(returns_text)(1.0)
        with pytest.raises(s2sad.UnsupportedSyntaxError, match=r"test_jacobians.py:\d+: .*pair"):
            jac(aux_not_a_pair, has_aux=True)(1.0)
