"""Rows of a fresh zero adjoint that a counted loop fills once each are stored, not accumulated
(s2sad/peepholes/row_writes.py).

The pass is shown on small functions, rewritten and left alone, and the rewritten ones are run
against the originals; gradients of programs where it applies are checked against central
finite differences in both modes and by the dot-product test.
"""

import ast
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import runtime
from s2sad.peepholes.row_writes import store_fresh_rows
from s2sad.testing import check_grads


def _rewritten(source):
    tree = ast.parse(textwrap.dedent(source))
    before = ast.unparse(tree)
    store_fresh_rows(tree.body[0])
    return before, ast.unparse(tree)


def _run(text, *args):
    namespace = {"np": np, "_rt": runtime}
    exec(compile(text, "<row writes test>", "exec"), namespace)
    return namespace["f_grad"](*args)


STORED = """
def f_grad(P, gs):
    P_bar = _rt.zeros_like(P)
    for i in reversed(range(len(gs))):
        g = 2.0 * gs[i]
        P_bar[i] += g
    Q_bar = _rt.zeros_like(P)
    for i, g in zip(range(len(gs)), gs):
        Q_bar[i] -= g * 3.0
    return P_bar, Q_bar
"""

# each is left as it is: a row may hold something when a step adds to it
LEFT = {
    "read in the loop": """
def f_grad(P, gs):
    P_bar = _rt.zeros_like(P)
    for i in range(len(gs)):
        P_bar[i] += gs[i] + P_bar[0]
    return P_bar
""",
    "filled before the loop": """
def f_grad(P, gs):
    P_bar = _rt.zeros_like(P)
    P_bar[0] += 1.0
    for i in range(len(gs)):
        P_bar[i] += gs[i]
    return P_bar
""",
    "a range that may wrap around": """
def f_grad(P, gs):
    P_bar = _rt.zeros_like(P)
    for i in range(-len(gs), len(gs)):
        P_bar[i] += gs[i]
    return P_bar
""",
    "the counter changed": """
def f_grad(P, gs):
    P_bar = _rt.zeros_like(P)
    for i in range(len(gs)):
        i = i // 2
        P_bar[i] += gs[i]
    return P_bar
""",
    "an outer loop adds again": """
def f_grad(P, gs):
    P_bar = _rt.zeros_like(P)
    for _ in range(2):
        for i in range(len(gs)):
            P_bar[i] += gs[i]
    return P_bar
""",
    "not a new array of zeros": """
def f_grad(P, gs):
    P_bar = P.copy()
    for i in range(len(gs)):
        P_bar[i] += gs[i]
    return P_bar
""",
}


def test_a_row_filled_once_is_stored():
    before, after = _rewritten(STORED)
    assert "P_bar[i] += g" in before and "P_bar[i] = g" in after, after
    assert "Q_bar[i] = -(g * 3.0)" in after, after
    rng = np.random.default_rng(0)
    P, gs = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    for a, b in zip(_run(before, P, gs), _run(after, P, gs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(LEFT))
def test_rows_that_may_hold_a_value_are_left_alone(name):
    before, after = _rewritten(LEFT[name])
    assert before == after, after


def rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def two_reads(W, U, xs):  # one row read by two products, and the row itself after the loop
    h = np.ones(W.shape[0])
    for i in range(len(xs)):
        h = np.sin(W @ xs[i] + 0.5 * h) * np.cos(U @ xs[i])
    return np.sum(h) + np.sum(xs[-1] ** 2)


PROGRAMS = {
    rnn: ([(5, 3), (5, 5), (5,), (7, 3)], (0, 1, 2, 3)),
    two_reads: ([(4, 3), (4, 3), (6, 3)], (0, 1, 2)),
}


@pytest.mark.generated_code
def test_the_backward_loop_stores_each_rows_adjoint():
    rng = np.random.default_rng(0)
    shapes, wrt = PROGRAMS[rnn]
    args = tuple(rng.standard_normal(s) for s in shapes)
    text = s2sad.source(rnn, mode="reverse", argnums=wrt[:3], args=args)
    assert "_bar[_index1] = " in text and "_bar[_index1] += " not in text, text


@pytest.mark.parametrize("program", list(PROGRAMS))
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_against_finite_differences(program, seed):
    shapes, wrt = PROGRAMS[program]
    rng = np.random.default_rng(seed)
    check_grads(program, tuple(0.5 * rng.standard_normal(s) for s in shapes), wrt=list(wrt))
