"""Derivatives of derivatives: grad of grad, forward over reverse (hvp, hessian), transforms
called inside differentiated code, and perturbation confusion.

Every check compares with finite differences of the first derivative (central, float64)
or with an exact value, over inputs drawn by hypothesis.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads

FAST = settings(max_examples=12, deadline=None)
reals = st.floats(-1.2, 1.2, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


def vectors(n):
    return st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=n, max_size=n).map(np.array)


def fd_jacobian(g, x, h=1e-5):
    """Central differences of `g` (array -> array or float -> float) at `x`."""
    if np.ndim(x) == 0:
        return (g(x + h) - g(x - h)) / (2 * h)
    columns = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e.flat[k] = h
        columns.append((np.asarray(g(x + e)) - np.asarray(g(x - e))) / (2 * h))
    return np.stack(columns, axis=-1)


def close(a, b, tol=1e-5):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.allclose(a, b, rtol=tol, atol=tol * scale), f"\n got {a}\nwant {b}"


# -- user-style functions -----------------------------------------------------------------------


def branches_and_loops(x):
    y = 0.0
    for i in range(4):
        if x > 0.25 * i - 0.5:
            y = y + np.sin(x * (i + 1))
        else:
            y = y * x + 0.5
    return y * y


def relax(x):
    """A `while` loop whose trip count depends on x."""
    y = x
    t = 0.0
    while t < 1.0 + 0.3 * x * x:
        y = y - 0.1 * y**3 + 0.05 * math.cos(t)
        t += 0.1
    return y


def field(w):
    """In-place writes into an array built in a loop, a branch on data, a reduction."""
    n = w.shape[0]
    a = np.zeros(n)
    for i in range(n):
        if w[i] > 0.0:
            a[i] = w[i] ** 3
        else:
            a[i] = np.sin(w[i]) * w[(i + 1) % n]
    return np.sum(a * a) + np.dot(w, a)


def layer(w):
    m = np.array([[0.5, -0.3, 0.2], [0.1, 0.4, -0.6], [-0.2, 0.3, 0.7]])
    h = w
    for _ in range(3):
        h = np.tanh(m @ h + 0.1)
    return np.sum(h**2) + w[0] * h[1]


def trajectory(w):
    """A list appended in a loop, summed afterwards."""
    xs = []
    x = w[0]
    for k in range(5):
        x = x - 0.2 * (x**3 - w[1] * x)
        xs.append(x * w[2])
    return sum(xs) + xs[-1] ** 2


# -- grad of grad --------------------------------------------------------------------------------


@FAST
@given(x=reals)
def test_second_derivative_through_loops_and_branches(x):
    assume(all(abs(x - (0.25 * i - 0.5)) > 1e-3 for i in range(4)))  # not on a branch's edge
    first = s2sad.grad(branches_and_loops)
    close(s2sad.grad(first)(x), fd_jacobian(first, x))


@FAST
@given(x=st.floats(-1.0, 1.0))
def test_second_derivative_through_a_data_dependent_while_loop(x):
    steps = (1.0 + 0.3 * x * x) / 0.1
    assume(abs(steps - round(steps)) > 0.01)  # finite differences would cross a change of trip count
    first = s2sad.grad(relax)
    close(s2sad.grad(first)(x), fd_jacobian(first, x))
    close(s2sad.jvp(first, (x,), (1.0,))[1], fd_jacobian(first, x))


def horner(x):
    coefficients = [0.5, -1.0, 2.0, 0.25, -3.0, 1.5]
    y = 0.0
    for c in coefficients:
        y = y * x + c
    return y


@FAST
@given(x=reals)
def test_third_derivative_of_a_polynomial_through_a_loop(x):
    p = np.polyder(np.poly1d([0.5, -1.0, 2.0, 0.25, -3.0, 1.5]), 3)
    third = s2sad.grad(s2sad.grad(s2sad.grad(horner)))
    close(third(x), p(x), tol=1e-9)
    forward_over_reverse = s2sad.jvp(s2sad.grad(s2sad.grad(horner)), (x,), (1.0,))[1]
    close(forward_over_reverse, p(x), tol=1e-9)


def test_two_transforms_of_different_functions_stay_apart():
    """Wrappers share one code object: the cache must tell grad(f) and grad(g) apart."""

    def f(x):
        return x**4

    def g(x):
        return np.sin(x)

    close(s2sad.grad(s2sad.grad(f))(1.3), 12 * 1.3**2, tol=1e-12)
    close(s2sad.grad(s2sad.grad(g))(1.3), -math.sin(1.3), tol=1e-12)


# -- Hessians: forward over reverse ---------------------------------------------------------------


@FAST
@pytest.mark.parametrize("f", [field, layer, trajectory], ids=lambda f: f.__name__)
@given(w=vectors(3))
def test_hessian_matches_finite_differences_of_the_gradient(f, w):
    if f is field:
        w = w + np.where(w >= 0, 0.05, -0.05)  # away from the branch at 0
    h = s2sad.hessian(f)(w)  # vector forward mode over the gradient's code
    close(h, fd_jacobian(s2sad.grad(f), w))
    close(h, h.T, tol=1e-9)  # symmetric: a check of the second-order code itself
    columns = np.stack([s2sad.hvp(f, (w,), (e,)) for e in np.eye(3)], axis=-1)  # one direction at a time
    close(h, columns, tol=1e-10)


@FAST
@given(w=vectors(3), u=vectors(3), v=vectors(3))
def test_hvp_is_the_hessian_times_a_vector_and_passes_the_dot_product_test(w, u, v):
    hv = s2sad.hvp(layer, (w,), (v,))
    hu = s2sad.hvp(layer, (w,), (u,))
    close(hv, s2sad.hessian(layer)(w) @ v, tol=1e-9)
    assert abs(np.dot(u, hv) - np.dot(hu, v)) <= 1e-9 * (1 + abs(np.dot(u, hv)))


def test_hessian_with_several_arguments_gives_blocks():
    def f(a, b):
        return np.sum(a**2 * b[0]) + np.sin(b[1]) * a[0] * b[0]

    a, b = np.array([0.3, -0.7]), np.array([1.1, 0.4])
    blocks = s2sad.hessian(f, argnums=(0, 1))(a, b)
    full = fd_jacobian(
        lambda z: np.concatenate(s2sad.grad(f, argnums=(0, 1))(z[:2], z[2:])), np.concatenate([a, b])
    )
    close(np.block([[blocks[0][0], blocks[0][1]], [blocks[1][0], blocks[1][1]]]), full)
    assert blocks[0][1].shape == (2, 2) and blocks[1][0].shape == (2, 2)


# -- transforms inside differentiated code ---------------------------------------------------------


def test_perturbation_confusion():
    """d/dx [x * d/dy (x + y)] = 1: the inner derivative must not see the outer x as varying."""

    def f(x):
        return x * s2sad.grad(lambda y: x + y)(1.0)

    assert s2sad.grad(f)(2.0) == 1.0
    assert s2sad.jvp(f, (2.0,), (1.0,))[1] == 1.0

    def g(x):  # the inner derivative depends on x: d/dx [x * d/dy (x * y)] = 2x
        return x * s2sad.grad(lambda y: x * y)(3.0)

    close(s2sad.grad(g)(1.7), 3.4, tol=1e-12)


def energy(q, k):
    return 0.5 * k * q**2 + 0.1 * q**4


force = s2sad.grad(energy)


@FAST
@given(q=reals, k=st.floats(0.5, 2.0))
def test_a_loss_built_from_a_gradient(q, k):
    """A module-level `grad` wrapper called in a loss, differentiated w.r.t. both arguments."""

    def loss(q, k):
        f = force(q, k)
        return f * f + s2sad.grad(energy, argnums=1)(q, k) * q

    for n in (0, 1):
        close(
            s2sad.grad(loss, argnums=n)(q, k),
            fd_jacobian(lambda v: loss(v, k) if n == 0 else loss(q, v), q if n == 0 else k),
        )


@FAST
@given(t=reals)
def test_second_derivative_in_a_loss_with_jvp_inside(t):
    """Forward over forward inside, reverse outside: the physics-informed pattern."""

    def y(t, a):
        return np.tanh(a * t) * a

    def dy(t, a):
        return s2sad.jvp(y, (t, a), (1.0, 0.0))[1]

    def residual(a, t):
        d2 = s2sad.jvp(dy, (t, a), (1.0, 0.0))[1]
        return (d2 + 4.0 * y(t, a)) ** 2

    close(s2sad.grad(residual)(0.8, t), fd_jacobian(lambda a: residual(a, t), 0.8))


def closure_residual(w, ts):
    """A jvp of a local function reading the enclosing array `w` (a constant of that jvp)."""

    def u(t):
        return np.tanh(w[0] * t + w[1]) * w[2]

    total = 0.0
    for t in ts:
        du = s2sad.jvp(u, (t,), (1.0,))[1]
        total = total + (du + u(t)) ** 2
    return total + (u(0.0) - 1.0) ** 2


@FAST
@given(t=reals)
def test_jvp_of_a_local_function_that_reads_an_enclosing_array(t):
    # the enclosing variables are constants of the inner jvp: no tangent of theirs is read
    check_grads(closure_residual, (np.array([0.7, 0.2, 1.3]), [t, 0.5 * t + 0.1]), wrt=[0])


def test_value_and_grad_inside_a_function():
    def inner(x, y):
        return x * x * y

    def outer(x):
        value, slope = s2sad.value_and_grad(inner)(x, 2.0)
        return value + slope * x

    close(s2sad.grad(outer)(1.5), fd_jacobian(outer, 1.5))


def test_the_derivative_code_that_is_differentiated_again_is_readable():
    """The source of grad(grad(relax)): the inner derivative inlined, its stack a plain list the
    outer derivative follows, comments pointing at the inner derivative's lines."""
    text = s2sad.source(s2sad.grad(relax), mode="grad", args=(0.3,))
    assert "def grad_relax_grad(" in text
    assert "relax_grad1_stack.append(relax_grad1_y)" in text
    assert "# <s2sad grad of relax" in text and "_stack.append(y)" in text


def test_a_transform_of_a_function_chosen_at_run_time_is_a_clear_error():
    def pick(fs, x):
        return s2sad.grad(fs[0])(x)

    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(pick, argnums=1)([np.sin], 0.5)
    assert "compile time" in str(info.value) and "test_higher_order.py" in str(info.value)


def _pinn():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "pinn_oscillator.py"
    spec = importlib.util.spec_from_file_location("pinn_oscillator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pinn_loss_gradient_through_second_derivatives_matches_finite_differences():
    """Reverse mode over forward over forward: the gradient of a loss holding y''(t)."""
    pinn = _pinn()
    rng = np.random.default_rng(3)
    W1, b1, W2 = rng.normal(size=5), rng.normal(size=5), rng.normal(size=5) * 0.3
    t = np.linspace(0.0, 2.0, 7)
    t_dd = s2sad.jvp(lambda s: pinn.velocity(s, W1, b1, W2, 0.1), (t,), (np.ones_like(t),))[1]
    exact = fd_jacobian(lambda s: pinn.net(s, W1, b1, W2, 0.1), t).diagonal()  # y' by differences
    close(pinn.velocity(t, W1, b1, W2, 0.1), exact)
    close(t_dd, fd_jacobian(lambda s: pinn.velocity(s, W1, b1, W2, 0.1), t).diagonal())
    grads = s2sad.grad(pinn.loss, argnums=(0, 1, 2, 3))(W1, b1, W2, 0.1, t)
    close(grads[0], fd_jacobian(lambda p: pinn.loss(p, b1, W2, 0.1, t), W1))
    close(grads[2], fd_jacobian(lambda p: pinn.loss(W1, b1, p, 0.1, t), W2))
    close(grads[3], fd_jacobian(lambda p: pinn.loss(W1, b1, W2, p, t), 0.1))


def test_pinn_example_learns_the_oscillator():
    pinn = _pinn()
    params = pinn.train()
    t = np.linspace(0.0, 2.0, 101)
    error = np.max(np.abs(pinn.net(t, *params) - np.sin(pinn.OMEGA * t) / pinn.OMEGA))
    assert error < 1e-2


def dense_loss(params, x):
    return np.sum(np.tanh(params["W"] @ x + params["b"]) ** 2)


def test_forward_over_reverse_with_a_dict_argument():
    """The inner gradient is w.r.t. the array x; the outer jvp moves the dict of weights too."""
    p = {"W": np.array([[0.1, -0.2, 0.3], [0.4, 0.1, -0.1]]), "b": np.array([0.05, -0.02])}
    x = np.array([0.5, -1.0, 2.0])
    g = s2sad.grad(dense_loss, argnums=1)
    _, tangent = s2sad.jvp(g, (p, x), (p, np.ones(3)))
    h = 1e-6
    plus = {k: v * (1 + h) for k, v in p.items()}
    minus = {k: v * (1 - h) for k, v in p.items()}
    close(tangent, (g(plus, x + h) - g(minus, x - h)) / (2 * h))
    with pytest.raises(s2sad.ArgumentError, match="cannot be differentiated again"):
        s2sad.grad(lambda q: np.sum(s2sad.grad(dense_loss)(q, x)["W"]))(p)  # a dict: not yet


def stacked_energy(xs, w):
    """A function of a tuple or list of arrays (concatenated, stacked)."""
    z = np.concatenate(xs)
    return np.sum(np.sin(z) * w) + np.sum(np.stack([xs[0][:2], xs[1][:2]]) ** 3) * z[0]


def gradient_of_a_tuple(xs, w):
    """The inner gradient is w.r.t. the tuple `xs` given as a literal; the outer one moves it too."""
    g = s2sad.grad(stacked_energy)((xs[0], xs[1]), w)
    return np.sum(g[0] ** 2) + np.sum(g[1] * xs[1])


def gradient_of_a_list(a, b, w):
    g = s2sad.grad(stacked_energy, argnums=(0, 1))([a, b], w)
    return np.sum(g[0][0][:2] * g[0][1]) + np.sum(g[1] * a[0])


def gradient_of_nested_trees(a, b, w):
    """A list inside a tuple: the leaves of both are differentiated and regrouped."""
    g = s2sad.grad(lambda t, w: stacked_energy(t[0], w) * t[1], argnums=0)(([a, b], w[0]), w)
    return np.sum(g[0][0][:2] * g[0][1]) + g[1] * np.sum(a)


@FAST
@given(a=vectors(3), b=vectors(2), w=vectors(5))
def test_second_derivatives_with_respect_to_tuples_and_lists(a, b, w):
    """grad of grad w.r.t. a tuple / list argument (tuple arguments of the outer transform, and
    literals written in the body) in both modes against central differences."""
    check_grads(gradient_of_a_tuple, ((a, b), w))
    check_grads(gradient_of_a_list, (a, b, w))
    check_grads(gradient_of_nested_trees, (a, b, w))
    for x in ((a, b), [a, b]):  # the hessian of a function of a tuple, block by block
        first = s2sad.grad(stacked_energy)
        tangent = (w[:3], w[3:]) if isinstance(x, tuple) else [w[:3], w[3:]]
        _, hvp = s2sad.jvp(first, (x, w), (tangent, np.zeros(5)))
        h = 1e-6
        shifted = [type(x)(xi + s * ti for xi, ti in zip(x, tangent)) for s in (h, -h)]
        for k in range(2):
            close(hvp[k], (first(shifted[0], w)[k] - first(shifted[1], w)[k]) / (2 * h))


def padded_cubes(x):
    """np.r_ joins pieces of different lengths: the adjoint splits into a list of unequal items."""
    y = np.r_[x, 0.5, x[:1] * 2.0]
    return np.sum(y**3) + y[0] * y[-1]


@FAST
@given(x=vectors(3))
def test_hessian_through_pieces_of_different_lengths(x):
    """hessian (jacfwd of grad) indexes a list of tangents of unequal shapes item by item."""
    close(s2sad.hessian(padded_cubes)(x), fd_jacobian(s2sad.grad(padded_cubes), x))


def noisy_cholesky(a):
    """Noise drawn in the body from a generator made there, sized by the input's shape."""
    rng = np.random.RandomState(0)
    z = np.dot(np.linalg.cholesky(a), rng.randn(a.shape[0]))
    return np.linalg.norm(z) + np.sum(z[: len(a) - 1] ** 2)


def test_noise_sized_by_the_input_shape_is_a_constant_to_any_order():
    """`a.shape[0]` carries no derivative: the generator's draw is a constant, also when the
    derivative code is differentiated again (hessian)."""
    a = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.2]])
    check_grads(noisy_cholesky, (a,))
    check_grads(s2sad.grad(noisy_cholesky), (a,))
    close(
        s2sad.hessian(noisy_cholesky)(a).reshape(9, 9),
        fd_jacobian(s2sad.grad(noisy_cholesky), a).reshape(9, 9),
    )


@s2sad.custom_vjp
def _square(x):
    return x * x


_square.defvjp(lambda x: (x * x, x), lambda x, g: (2 * x * g,))


def _uses_square(x):
    return _square(x) * x


def test_what_cannot_be_differentiated_twice_is_a_clear_error():
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.grad(s2sad.grad(_uses_square))(1.5)
    message = str(info.value)
    assert "custom_vjp_forward" in message and "cannot be differentiated again" in message

    class Scale:
        def __call__(self, x):
            return 2.0 * x

    def transforms_an_object(x):
        return s2sad.grad(SCALE)(x)

    globals()["SCALE"] = Scale()
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="transforms Python functions"):
        s2sad.grad(transforms_an_object)(0.3)


def test_transforms_of_functions_with_rules():
    """`grad(np.sin)` as in JAX: a NumPy or math function s2sad has a rule for, with no source."""
    assert s2sad.grad(np.sin)(0.3) == pytest.approx(math.cos(0.3), abs=1e-15)
    assert s2sad.grad(s2sad.grad(np.tanh))(0.4) == pytest.approx(
        -2 * math.tanh(0.4) / math.cosh(0.4) ** 2, abs=1e-14
    )
    close(s2sad.jacfwd(np.exp)(np.array([0.1, 0.2])), np.diag(np.exp([0.1, 0.2])), tol=1e-14)
    close(s2sad.grad(np.arctan2, argnums=(0, 1))(1.0, 2.0), (0.4, -0.2), tol=1e-14)
    close(s2sad.grad(math.exp)(0.5), math.exp(0.5), tol=1e-14)

    def slope_of_sine(x):
        return s2sad.grad(np.sin)(x) * x

    close(s2sad.grad(slope_of_sine)(0.7), math.cos(0.7) - 0.7 * math.sin(0.7), tol=1e-14)


# -- Hessians through the NumPy functions losses use ---------------------------------------------


def h_mean(x):
    return np.mean(x**3)


def h_max(x):
    return np.max(x**2)


def h_var(x):
    return np.var(x) * np.sum(x)


def h_cumsum(x):
    return np.sum(np.cumsum(x) ** 2)


def h_outer(x):
    return np.sum(np.outer(x, x) ** 2)


def h_where(x):
    return np.sum(np.where(x > 0, x**3, np.sin(x)))


def h_concatenate(x):
    return np.sum(np.concatenate([x, x**2]) ** 2)


def h_stack(x):
    return np.sum(np.stack([x, x**2]) ** 2)


def h_matrix(x):
    m = x.reshape(2, 2)
    return np.sum((m.T @ m) ** 2)


def h_slices(x):
    return np.sum(x[1:3] ** 3) + x[0] * x[-1]


def h_softmax_cross_entropy(x):
    return -np.log(np.exp(x[1]) / np.sum(np.exp(x)))


def h_relu_clip(x):
    return np.sum(np.maximum(x, 0.0) ** 2) + np.sum(np.clip(x, -0.5, 0.6) ** 2)


def h_axis_sums(x):
    return np.sum(np.sum(x.reshape(2, 2), axis=0) ** 2) + np.dot(x, x) ** 2


def h_tile(x):
    return np.sum(np.tile(x, 2) ** 3)


HESSIAN_CASES = [
    h_mean,
    h_max,
    h_var,
    h_cumsum,
    h_outer,
    h_where,
    h_concatenate,
    h_stack,
    h_matrix,
    h_slices,
    h_softmax_cross_entropy,
    h_relu_clip,
    h_axis_sums,
    h_tile,
]


@pytest.mark.parametrize("f", HESSIAN_CASES, ids=lambda f: f.__name__[2:])
def test_hessians_through_numpy_functions(f):
    x = np.array([0.3, -0.7, 1.1, 0.45])  # away from kinks (0, clip bounds) and ties
    h = s2sad.hessian(f)(x)
    close(h, fd_jacobian(s2sad.grad(f), x))
    close(h, np.stack([s2sad.hvp(f, (x,), (e,)) for e in np.eye(4)], axis=-1), tol=1e-10)


def h_norm(x):
    return np.linalg.norm(x) ** 3


def h_sinc(x):
    return np.sum(np.sinc(x))


def h_cumprod(x):
    return np.sum(np.cumprod(x) * x)


def test_a_rule_that_cannot_be_differentiated_twice_is_named():
    with pytest.raises(s2sad.NoDerivativeRuleError, match="cumprod"):
        s2sad.hessian(h_cumprod)(np.array([0.3, -0.7]))


def test_sinc_differentiated_twice_and_three_times():
    """np.sinc's derivative helper has a definition: any order, also at 0 and near it."""
    x = np.array([0.3, -0.7, 0.0, 2e-4])
    close(s2sad.hessian(h_sinc)(x), fd_jacobian(s2sad.grad(h_sinc), x))
    third = s2sad.grad(s2sad.grad(s2sad.grad(lambda t: np.sinc(t))))
    for t in (0.0, 1e-4, 0.4):
        close(third(t), fd_jacobian(s2sad.grad(s2sad.grad(lambda s: np.sinc(s))), t), tol=1e-4)


def test_norm_differentiated_twice():
    x = np.array([0.3, -0.7, 1.1])
    r = np.linalg.norm(x)
    expected = 3.0 * (r * np.eye(3) + np.outer(x, x) / r)  # d2 |x|^3 = 3 (|x| I + x x^T / |x|)
    np.testing.assert_allclose(s2sad.hessian(h_norm)(x), expected, rtol=1e-10)


def test_transforms_not_yet_nestable_are_reported_not_miscomputed():
    """A jacfwd / jacrev / hessian wrapper wraps the user's function (functools.wraps): it must
    never be mistaken for that function when differentiated or called in differentiated code."""
    w = np.array([0.2, -0.4, 0.9])
    jac = s2sad.jacfwd(np.tanh)
    hess = s2sad.hessian(h_mean)

    def uses_jacobian(v):
        return np.sum(jac(v))

    def uses_hessian(v):
        return np.trace(hess(v))

    def builds_a_hessian(v):
        return np.trace(s2sad.hessian(h_mean)(v))

    for f, needle in (
        (uses_jacobian, "s2sad.jacfwd"),
        (uses_hessian, "s2sad.hessian"),
        (builds_a_hessian, "s2sad.hessian"),
    ):
        with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
            s2sad.grad(f)(w)
        assert needle in str(info.value) and "test_higher_order.py" in str(info.value)
    for outer in (s2sad.grad, s2sad.jacfwd):
        with pytest.raises(s2sad.UnsupportedSyntaxError, match="cannot be differentiated again"):
            outer(s2sad.jacrev(h_mean))(w)


def products_loss(x):
    return np.sum(np.sin(x) * x**3) + np.prod(x[:2]) + np.prod(x.reshape(2, 2) ** 2, axis=1).sum()


def test_hessian_through_products():
    # `np.prod`'s adjoint calls `_rt.prod_partials`, whose rules (`prod_hessian_vector`) make it
    # differentiable again
    x = np.array([0.3, -0.7, 1.1, 0.0])  # a zero entry: the partials are products, not quotients
    H = s2sad.hessian(products_loss)(x)
    grad = s2sad.grad(products_loss)
    h = 1e-5
    fd = np.array([(grad(x + h * e) - grad(x - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)


def _power_loop(a, u):
    out = a
    for _ in range(2):
        out = out @ a
    return np.sum(out * u)


_W = np.array([[1.0, -2.0], [0.5, 0.3]])


def _weighted_gradient(a, u):
    return np.sum(s2sad.grad(_power_loop)(a, u) * _W)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reverse_over_reverse_of_a_matmul_loop(seed):
    """The inner gradient's first loop step restores a value that was None before the loop: its
    cotangent is a zero placeholder that reaches a matmul adjoint (was a ValueError in matmul)."""
    rng = np.random.default_rng(seed)
    a, u = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    check_grads(_weighted_gradient, (a, u), rtol=1e-5)
