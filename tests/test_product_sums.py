"""Per-step matrix-product adjoints of a backward loop summed with one product after it
(s2sad/peepholes/products.py, `_rt.ProductSum`).

The run-time sum is compared with the steps' adjoints added one by one, for the shapes it
joins (vectors, matrices, on either side) and the ones it must leave to the per-step form
(steps of different shapes or kinds); gradients of programs using it are checked against
central finite differences in both modes and by the dot-product test.
"""

import ast
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import runtime
from s2sad.peepholes.products import sum_products_after_loops
from s2sad.testing import check_grads


def _steps(rng, side, w_shape, v_shapes):
    """(W, [(g, v)]): the steps of `W @ v` (side x) or `v @ W` (side y) with random cotangents."""
    W = rng.standard_normal(w_shape)
    steps = []
    for shape in v_shapes:
        v = rng.standard_normal(shape)
        out = W @ v if side == "x" else v @ W
        steps.append((rng.standard_normal(np.shape(out)), v))
    return W, steps


def _one_by_one(side, W, steps):
    if side == "x":
        return sum(runtime.matmul_adjoint_x(g, W, v) for g, v in steps)
    return sum(runtime.matmul_adjoint_y(g, v, W) for g, v in steps)


CASES = [
    ("x", (4, 3), [(3,)] * 5),  # vectors: stacked rows, one product
    ("y", (4, 3), [(4,)] * 5),
    ("x", (4, 3), [(3, 2), (3, 1), (3, 4)]),  # matrices: side by side
    ("y", (4, 3), [(2, 4), (1, 4)]),
    ("x", (4, 3), [(3,)]),  # one step
    ("x", (4, 3), [(3,), (3, 2)]),  # a vector then a matrix: one by one
    ("x", (2, 4, 3), [(3,)] * 3),  # a stack of matrices: one by one
]


@pytest.mark.parametrize("side, w_shape, v_shapes", CASES)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_the_sum_equals_the_steps_added_one_by_one(side, w_shape, v_shapes, seed):
    W, steps = _steps(np.random.default_rng(seed), side, w_shape, v_shapes)
    products = runtime.ProductSum(side)
    for g, v in steps:
        products.add(g, v)
    np.testing.assert_allclose(products.total(W), _one_by_one(side, W, steps), rtol=1e-12, atol=1e-14)


def test_integer_steps_and_no_step():
    W = np.arange(6.0).reshape(2, 3)
    products = runtime.ProductSum("x")
    assert products.total(W) == 0.0
    steps = [(np.ones(2), np.arange(3)), (np.ones(2), np.arange(3.0))]  # an integer vector among floats
    for g, v in steps:
        products.add(g, v)
    np.testing.assert_array_equal(products.total(W), _one_by_one("x", W, steps))


def rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def row_rnn(U, xs):  # `h @ U`: the y side
    h = np.ones(U.shape[0])
    for x in xs:
        h = np.sin(h @ U + x)
    return np.sum(h)


@pytest.mark.generated_code
def test_the_products_leave_the_loop():
    rng = np.random.default_rng(0)
    args = (
        rng.standard_normal((4, 3)),
        rng.standard_normal((4, 4)),
        rng.standard_normal(4),
        rng.standard_normal((5, 3)),
    )
    text = s2sad.source(rnn, mode="reverse", argnums=(0, 1, 2), args=args)
    # the steps' cotangents are the rows of `_t6_bar` (Wx: tests/test_batch_rows.py), so Wh's
    # products are one product of them with the recorded states (s2sad/peepholes/tape_rows.py)
    assert "matmul_adjoint_x" not in text and "_t6_bar.T @ _tape1_h_rows[:-1]" in text, text
    args = (rng.standard_normal((3, 3)), rng.standard_normal((4, 3)))
    text = s2sad.source(row_rnn, mode="reverse", argnums=(0,), args=args)
    assert '_rt.ProductSum("y")' in text and "_products1.total(U)" in text, text


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_against_finite_differences(seed):
    rng = np.random.default_rng(seed)
    args = (
        0.5 * rng.standard_normal((4, 3)),
        0.5 * rng.standard_normal((4, 4)),
        rng.standard_normal(4),
        rng.standard_normal((6, 3)),
    )
    check_grads(rnn, args, wrt=[0, 1, 2])
    check_grads(row_rnn, (0.5 * rng.standard_normal((3, 3)), rng.standard_normal((5, 3))), wrt=[0])


def input_rnn(Wh, b, xs):  # the inputs added as they are: the bias is not folded into a product's rows
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wh @ h + x + b)
    return np.sum(h**2)


@pytest.mark.generated_code
def test_a_bias_beside_the_products_is_summed_after_the_loop():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal((5, 4)))
    check_grads(input_rnn, args, wrt=(0, 1))
    text = s2sad.source(input_rnn, mode="reverse", argnums=(0, 1), args=args)
    assert "b_bar = b_bar + _products1.cotangent_sum()" in text, text
    assert text.index("_products1.total(Wh)") < text.index("_products1.cotangent_sum()")


def _run(source, rewrite, *args):
    tree = ast.parse(textwrap.dedent(source))
    if rewrite:
        sum_products_after_loops(tree.body[0])
    namespace = {"np": np, "_rt": runtime}
    exec(compile(tree, "<product sums test>", "exec"), namespace)
    return namespace["f_grad"](*args), ast.unparse(tree)


BIAS = """
def f_grad(W, gs, vs):
    W_bar = 0.0
    b_bar = 0.0
    for g, v in zip(gs, vs):
        b_bar = b_bar + g
        W_bar = W_bar + _rt.matmul_adjoint_x(g, W, v)
    return W_bar, b_bar
"""

CHANGED = """
def f_grad(W, gs, vs):
    W_bar = 0.0
    b_bar = 0.0
    for g, v in zip(gs, vs):
        b_bar = b_bar + g
        g = 2.0 * g
        W_bar = W_bar + _rt.matmul_adjoint_x(g, W, v)
    return W_bar, b_bar
"""


@pytest.mark.parametrize(
    "source, shapes, summed",
    [
        (BIAS, [(4, 3), (5, 4), (5, 3)], True),  # stacked rows, summed at once
        (BIAS, [(4, 3), (5, 4, 2), (5, 3, 2)], True),  # matrices: added one by one
        (BIAS, [(4, 3), (0, 4), (0, 3)], True),  # no step
        (CHANGED, [(4, 3), (5, 4), (5, 3)], False),  # the product keeps another value
    ],
)
def test_the_cotangent_sum_keeps_every_result(source, shapes, summed):
    rng = np.random.default_rng(2)
    args = tuple(rng.standard_normal(shape) for shape in shapes)
    expected, _ = _run(source, False, *args)
    got, text = _run(source, True, *args)
    assert ("cotangent_sum" in text) == summed, text
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
