"""A backward loop's recorded values read as rows of one stack (s2sad/peepholes/tape_rows.py).

Recurrent programs of several activations (tanh, sigmoid, relu, softplus), cells (vanilla,
GRU, LSTM), shapes, with and without a bias, a row vector times the matrix, nested loops and a
loop of no steps: their gradients are checked against central finite differences in both
modes and by the dot-product test (s2sad.testing.check_grads), and against the same derivative
compiled without the pass. The generated code is shown to compute the elementwise terms before
the loop and to sum the product over stored rows with one matrix product.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import peepholes
from s2sad.testing import check_grads


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def tanh_rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def relu_rnn(W, U, xs):  # no bias; a comparison in the slope
    h = np.zeros(W.shape[0])
    for x in xs:
        h = np.maximum(W @ x + U @ h, 0.0)
    return np.sum(h**2)


def sigmoid_rnn(W, U, b, xs):  # the activation a local helper
    h = np.zeros(U.shape[0])
    for x in xs:
        h = sigmoid(W @ x + U @ h + b)
    return np.sum(h * h)


def softplus_rnn(W, U, xs):  # indexed steps
    h = np.zeros(U.shape[0])
    for t in range(xs.shape[0]):
        h = np.log(1.0 + np.exp(W @ xs[t] + U @ h))
    return np.sum(np.sin(h))


def gru(Wz, Uz, Wr, Ur, Wh, Uh, bz, xs):
    h = np.zeros(Uz.shape[0])
    for x in xs:
        z = sigmoid(Wz @ x + Uz @ h + bz)
        r = sigmoid(Wr @ x + Ur @ h)
        hh = np.tanh(Wh @ x + Uh @ (r * h))
        h = (1.0 - z) * h + z * hh
    return np.sum(h**2)


def lstm(W, b, xs):  # stacked gates, a slice per gate
    H = b.shape[0] // 4
    h = np.zeros(H)
    c = np.zeros(H)
    for x in xs:
        z = W @ np.concatenate([x, h]) + b
        i = sigmoid(z[:H])
        f = sigmoid(z[H : 2 * H])
        o = sigmoid(z[2 * H : 3 * H])
        g = np.tanh(z[3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
    return np.sum(h**2)


def row_rnn(U, xs):  # `h @ U`: the other side of the product
    h = np.ones(U.shape[0])
    for x in xs:
        h = np.sin(h @ U + x)
    return np.sum(h)


def nested_rnn(W, U, seqs):  # one backward loop inside another
    total = 0.0
    for xs in seqs:
        h = np.zeros(U.shape[0])
        for x in xs:
            h = np.tanh(W @ x + U @ h)
        total = total + np.sum(h**2)
    return total


def scalar_rnn(a, w, xs):  # numbers, not arrays: left to the loop
    h = 0.0
    for x in xs:
        h = np.tanh(a * h + w * x)
    return h**2


PROGRAMS = {  # shapes of the arguments, all differentiated but the last
    tanh_rnn: [(5, 3), (5, 5), (5,), (7, 3)],
    relu_rnn: [(4, 3), (4, 4), (6, 3)],
    sigmoid_rnn: [(4, 2), (4, 4), (4,), (6, 2)],
    softplus_rnn: [(3, 4), (3, 3), (5, 4)],
    gru: [(4, 3), (4, 4), (4, 3), (4, 4), (4, 3), (4, 4), (4,), (5, 3)],
    lstm: [(12, 5), (12,), (4, 2)],
    row_rnn: [(3, 3), (5, 3)],
    nested_rnn: [(4, 3), (4, 4), (2, 5, 3)],
    scalar_rnn: [(), (), (7,)],
}


def _args(seed, shapes):
    rng = np.random.default_rng(seed)
    args = tuple(0.5 * rng.standard_normal(shape) for shape in shapes)
    return tuple(float(a) if a.shape == () else a for a in args)


def _without_the_pass(monkeypatch):
    monkeypatch.setattr(peepholes, "read_tapes_as_rows", lambda node, shapes, kinds: node)
    s2sad.cache.clear()


@pytest.mark.parametrize("program", list(PROGRAMS))
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_against_finite_differences(program, seed):
    args = _args(seed, PROGRAMS[program])
    check_grads(program, args, wrt=list(range(len(args) - 1)))


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_gradients_equal_those_without_the_pass(program, monkeypatch):
    args = _args(3, PROGRAMS[program])
    argnums = tuple(range(len(args) - 1))
    s2sad.cache.clear()
    value, grads = s2sad.value_and_grad(program, argnums=argnums)(*args)
    only = s2sad.grad(program, argnums=argnums)(*args)
    _without_the_pass(monkeypatch)
    value_before, before = s2sad.value_and_grad(program, argnums=argnums)(*args)
    s2sad.cache.clear()
    assert value == value_before
    for a, b, c in zip(grads, only, before):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b, c, rtol=1e-12, atol=1e-15)


def _backward_loop(text):
    """The lines of the last top-level `for` of the derivative's function body."""
    lines = text.splitlines()
    starts = [k for k, line in enumerate(lines) if re.match(r"    for ", line)]
    body = []
    for line in lines[starts[-1] + 1 :]:
        if line.startswith("        ") or line.startswith("    ) in") or line.strip().startswith("reversed"):
            body.append(line)
        elif not line.startswith("    #"):
            break
    return "\n".join(body)


@pytest.mark.generated_code
def test_the_tanh_slope_and_the_products_leave_the_loop():
    args = _args(0, PROGRAMS[tanh_rnn])
    text = s2sad.source(tanh_rnn, mode="grad", argnums=(0, 1, 2), args=args)
    loop = _backward_loop(text)
    assert "_rows1 = 1.0 - _tape1_h_rows[1:] * _tape1_h_rows[1:]" in text, text
    assert "h * h" not in loop and "_products" not in text and "_tape1_h =" not in loop, text
    assert "_t6_bar.T @ _tape1_h_rows[:-1]" in text and "_tape1_h_rows = np.array(_tape1_hs + [h])" in text
    assert (
        len(re.findall(r"\n        \S", loop)) == 3
    ), loop  # the slope's row times h_bar, one product, one row
    assert not re.search(r"(?<![\w.])0(\.0)? \*", text)  # (not the 0 of `2.0 *`)


@pytest.mark.generated_code
@pytest.mark.parametrize("program", [sigmoid_rnn, gru, lstm])
def test_sigmoid_slopes_are_one_row_per_step(program):
    """A sigmoid's adjoint `t3_bar = g * s * s`, then `t1_bar = t3_bar * e` (`s = 1 / (1 + e)`) reads
    `t1_bar = g * (s * s * e)`: the recorded factors multiplied for every step at once."""
    args = _args(0, PROGRAMS[program])
    text = s2sad.source(program, mode="grad", argnums=tuple(range(len(args) - 1)), args=args)
    stacked = re.findall(
        r"(_tape1_sigmoid(\d)_t4_rows)\s*\*\s*(_tape1_sigmoid\d_t4_rows)\s*\*\s*(_tape1_sigmoid(\d)_t2_rows)",
        text,
    )
    assert stacked and all(a == b and i == j for a, i, b, _, j in stacked), text
    loop = _backward_loop(text)
    assert (
        not re.search(r"sigmoid\d_t4 \* sigmoid\d_t4|sigmoid\d_t3_bar", loop) and "np.tanh" not in loop
    ), loop
    assert not re.search(r"(?<![\w.])0(\.0)? \*", text)  # (not the 0 of `2.0 *`)


@pytest.mark.generated_code
def test_generic_code_and_numbers_are_left_alone(monkeypatch):
    """Without known shapes (code for any shapes) nothing is stacked; nor are numbers."""
    generic = s2sad.source(tanh_rnn, mode="grad", argnums=(0, 1, 2))
    assert not re.search(r"_rows\d|_rows = ", generic), generic
    text = s2sad.source(scalar_rnn, mode="grad", argnums=(0, 1), args=_args(0, PROGRAMS[scalar_rnn]))
    _without_the_pass(monkeypatch)
    assert text == s2sad.source(scalar_rnn, mode="grad", argnums=(0, 1), args=_args(0, PROGRAMS[scalar_rnn]))
    s2sad.cache.clear()


def test_a_loop_of_no_steps():
    args = (np.ones((3, 2)), np.eye(3), np.ones(3), np.zeros((0, 2)))
    grads = s2sad.grad(tanh_rnn, argnums=(0, 1, 2))(*args)
    assert [np.count_nonzero(g) for g in grads] == [0, 0, 0]
    assert [g.shape for g in grads] == [(3, 2), (3, 3), (3,)]
    args = (np.ones((12, 5)), np.ones(12), np.zeros((0, 2)))
    assert np.count_nonzero(s2sad.grad(lstm)(*args)) == 0


def changed_in_place(W, xs):  # the state changed in place after it is recorded
    h = np.zeros(W.shape[0])
    for x in xs:
        h = np.tanh(W @ h + x)
        h[0] = 2.0 * h[0]
    return np.sum(h**2)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_values_changed_in_place(seed):
    args = _args(seed, [(3, 3), (5, 3)])
    check_grads(changed_in_place, args, wrt=[0, 1])


def _shapes(program, hidden, inputs, steps):
    H, D, T = hidden, inputs, steps
    return {
        tanh_rnn: [(H, D), (H, H), (H,), (T, D)],
        relu_rnn: [(H, D), (H, H), (T, D)],
        sigmoid_rnn: [(H, D), (H, H), (H,), (T, D)],
        softplus_rnn: [(H, D), (H, H), (T, D)],
        gru: [(H, D), (H, H), (H, D), (H, H), (H, D), (H, H), (H,), (T, D)],
        lstm: [(4 * H, D + H), (4 * H,), (T, D)],
    }[program]


@settings(max_examples=10, deadline=None)
@given(
    program=st.sampled_from([tanh_rnn, relu_rnn, sigmoid_rnn, softplus_rnn, gru, lstm]),
    hidden=st.integers(1, 5),
    inputs=st.integers(1, 4),
    steps=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_drawn_shapes(program, hidden, inputs, steps, seed):
    """Any sizes, one step included: the stacks have the steps' rows, the products the right sides."""
    args = _args(seed, _shapes(program, hidden, inputs, steps))
    check_grads(program, args, wrt=list(range(len(args) - 1)))
