"""Products of a fixed matrix with a loop's rows computed before the loop
(s2sad/optimize/batch_rows.py), and the row adjoints that follow: a matrix product's result,
known by its shape to be an array, takes its rows' adjoints in place (`P_bar[i] += g`), not a
new array per step.

The transformation is shown on generated code; gradients are checked against central finite
differences in both modes and by the dot-product test, and against the same derivative
compiled without the pass (1e-12 relative).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import pipeline
from s2sad.testing import check_grads

SEEDS = st.integers(0, 2**16)
SETTINGS = settings(max_examples=6, deadline=None)


def rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def rows_on_the_left(U, V, xs):  # `x @ U`, an index loop, the row read twice and after the loop
    h = np.ones(U.shape[1])
    for i in range(len(xs)):
        x = xs[i]
        h = np.sin(x @ U + h) * np.cos(x @ V) + np.sum(x)
    return np.sum(h) + np.sum(x**2)


def precomputed(W, xs):  # written by hand: `P[i]` in the loop
    P = xs @ W.T
    h = np.zeros(W.shape[0])
    for i in range(len(xs)):
        h = np.tanh(P[i] + 0.5 * h)
    return np.sum(h**2)


def bias_first(Wx, Wh, b, xs):  # the bias on the left, the row second in its sum
    h = np.ones(Wh.shape[0])
    for x in xs:
        h = np.tanh(b + (Wh @ h + Wx @ x))
    return np.sum(np.cos(h))


def row_convention(A, B, c, xs):  # `x @ B`, a bias of one entry, a loss on every step
    h = np.zeros(A.shape[0])
    total = 0.0
    for x in xs:
        h = np.tanh(h @ A + x @ B + c)
        total = total + np.sum(h) ** 2
    return total


def scaled_bias(Wx, Wh, b, xs):  # the bias is assigned in the function: not a fixed parameter
    b = 2.0 * b
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def states_written(Wx, Wh, b, xs):  # a store into an array in the loop beside the folded bias
    h = np.zeros(Wh.shape[0])
    hs = np.zeros((len(xs), Wh.shape[0]))
    for t in range(len(xs)):
        h = np.tanh(Wx @ xs[t] + Wh @ h + b)
        hs[t] = h
    return np.sum(hs * hs)


PROGRAMS = {
    states_written: ([(5, 3), (5, 5), (5,), (7, 3)], (0, 1, 2, 3)),
    rnn: ([(5, 3), (5, 5), (5,), (7, 3)], (0, 1, 2, 3)),
    bias_first: ([(5, 3), (5, 5), (5,), (7, 3)], (0, 1, 2, 3)),
    row_convention: ([(4, 4), (3, 4), (1,), (6, 3)], (0, 1, 2, 3)),
    scaled_bias: ([(5, 3), (5, 5), (5,), (7, 3)], (0, 1, 2, 3)),
    rows_on_the_left: ([(3, 4), (3, 4), (6, 3)], (0, 1, 2)),
    precomputed: ([(4, 3), (6, 3)], (0, 1)),
}


def _args(seed, shapes):
    rng = np.random.default_rng(seed)
    return tuple(0.5 * rng.standard_normal(shape) for shape in shapes)


def _code(text):
    """The generated code without its comments (which quote the user's lines)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _without_pass(monkeypatch):
    monkeypatch.setattr(pipeline, "batch_row_products", lambda tree, shapes: False)


@pytest.mark.generated_code
def test_the_products_leave_the_forward_loop():
    args = _args(0, PROGRAMS[rnn][0])
    text = _code(s2sad.source(rnn, mode="reverse", argnums=(0, 1, 2), args=args))
    forward = text.split("for _index1 in range")[0]
    assert "xs @ _t" in forward and "Wx.T" in forward, text
    assert "Wx @ x" not in text and "_products2" not in text, text  # Wx's adjoint: one product after
    assert (
        "_bar[_index1] = " in text
    ), text  # each step stores its row's adjoint (s2sad/peepholes/row_writes.py)
    assert "_t5 + b" in text and "+ b)" not in text, text  # the bias added to the rows before the loop
    text = _code(
        s2sad.source(
            rows_on_the_left, mode="reverse", argnums=(0, 1), args=_args(0, PROGRAMS[rows_on_the_left][0])
        )
    )
    assert "xs @ U" in text and "xs @ V" in text and "x @ U" not in text, text


@pytest.mark.generated_code
def test_a_fixed_bias_is_added_to_the_rows_before_the_loop():
    for program in (bias_first, row_convention):
        text = _code(
            s2sad.source(program, mode="reverse", argnums=(0, 1), args=_args(0, PROGRAMS[program][0]))
        )
        forward = text.split("for _index1 in range")[0]
        bias = "b" if program is bias_first else "c"
        assert f" + {bias}\n" in forward, text  # `_tN = _tM + b`: once, on every row
        loop = text.split("for _index1 in range")[1].split("_bar = ")[0]
        assert bias not in loop.replace("_bar", ""), text
    text = _code(
        s2sad.source(scaled_bias, mode="reverse", argnums=(0, 1), args=_args(0, PROGRAMS[scaled_bias][0]))
    )
    assert "+ b)" in text.split("for _index1 in range")[1], text  # `b` is not a parameter left as given


@pytest.mark.generated_code
def test_rows_of_a_product_take_their_adjoints_in_place():
    args = _args(0, PROGRAMS[precomputed][0])
    text = s2sad.source(precomputed, mode="reverse", argnums=(0,), args=args)
    assert "P_bar = _rt.zeros_like(P)" in text and "P_bar[i] = " in text, text
    assert "index_adjoint" not in text, text


@pytest.mark.generated_code
def test_shapes_that_do_not_fit_are_left_alone():
    def vectors(w, xs):  # `w @ x` of two vectors: a scalar per step
        total = 0.0
        for x in xs:
            total = total + np.sin(w @ x)
        return total

    rng = np.random.default_rng(1)
    text = _code(
        s2sad.source(vectors, mode="reverse", args=(rng.standard_normal(3), rng.standard_normal((4, 3))))
    )
    assert "w @ x" in text, text


@pytest.mark.parametrize("program", list(PROGRAMS))
@SETTINGS
@given(seed=SEEDS)
def test_gradients_against_finite_differences(program, seed):
    shapes, wrt = PROGRAMS[program]
    check_grads(program, _args(seed, shapes), wrt=list(wrt))


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_gradients_equal_those_without_the_pass(program, monkeypatch):
    shapes, wrt = PROGRAMS[program]
    args = _args(3, shapes)
    s2sad.cache.clear()
    value, grads = s2sad.value_and_grad(program, argnums=wrt)(*args)
    _without_pass(monkeypatch)
    s2sad.cache.clear()
    value2, grads2 = s2sad.value_and_grad(program, argnums=wrt)(*args)
    s2sad.cache.clear()
    np.testing.assert_allclose(value, value2, rtol=1e-13)
    for a, b in zip(grads, grads2):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    tangents = tuple(np.ones_like(a) for a in args)
    out, tangent = s2sad.jvp(program, args, tangents)
    reference = sum(np.sum(g) for g in grads)
    np.testing.assert_allclose(tangent, reference, rtol=1e-10)
