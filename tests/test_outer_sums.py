"""Per-step outer products of backward loops summed with one matrix product after the loop
(s2sad/outer_sums.py, `_rt.OuterSum`).

Gradients are checked against central finite differences in both modes and by the
dot-product test (s2sad.testing.check_grads), and against the same derivative compiled
without the pass (equal to 1e-12 relative); the pass itself is run on small functions
whose results, rewritten and not, are compared for vector and non-vector factors.
"""

import ast
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import peepholes, runtime
from s2sad.peepholes.outer_sums import sum_outer_products_after_loops
from s2sad.testing import check_grads

SEEDS = st.integers(0, 2**16)
SETTINGS = settings(max_examples=6, deadline=None)


def rnn_broadcast(W, xs):
    h = np.zeros(W.shape[0])
    for x in xs:
        h = np.tanh(np.sum(W * h[None, :], axis=1) + x)
    return np.sum(h * h)


def rnn_broadcast_implicit(W, xs):
    h = np.ones(W.shape[0])
    for x in xs:
        h = np.tanh(np.sum(W * h, axis=1) + x)
    return np.sum(h * h)


def rnn_dot(W, U, xs):
    h = np.ones(W.shape[0])
    for x in xs:
        h = np.tanh(np.dot(W, h) + np.dot(x, U))
    return np.sum(h * h)


PROGRAMS = {
    rnn_broadcast: ("spread", [(5, 5), (6, 5)]),
    rnn_broadcast_implicit: ("spread", [(5, 5), (6, 5)]),
    rnn_dot: ("dot", [(4, 4), (3, 4), (6, 3)]),
}


def _args(seed, shapes):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape) * 0.4 for shape in shapes)


@pytest.mark.generated_code
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_the_accumulation_leaves_the_loop(program):
    form, shapes = PROGRAMS[program]
    args = _args(0, shapes)
    argnums = tuple(range(len(args) - 1))
    text = s2sad.source(program, mode="reverse", argnums=argnums, args=args)
    assert f'_rt.OuterSum("{form}' in text and "_outer1.total()" in text, text


@pytest.mark.parametrize("program", list(PROGRAMS))
@SETTINGS
@given(seed=SEEDS)
def test_gradients_against_finite_differences(program, seed):
    _, shapes = PROGRAMS[program]
    args = _args(seed, shapes)
    check_grads(program, args, wrt=list(range(len(args) - 1)))


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_gradients_equal_those_without_the_pass(program, monkeypatch):
    _, shapes = PROGRAMS[program]
    args = _args(5, shapes)
    argnums = tuple(range(len(args) - 1))
    s2sad.cache.clear()
    with_pass = s2sad.grad(program, argnums=argnums)(*args)
    monkeypatch.setattr(peepholes, "sum_outer_products_after_loops", lambda node: node)
    s2sad.cache.clear()
    without = s2sad.grad(program, argnums=argnums)(*args)
    s2sad.cache.clear()
    for a, b in zip(with_pass, without):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def _run(source, rewrite, *args):
    tree = ast.parse(textwrap.dedent(source))
    if rewrite:
        sum_outer_products_after_loops(tree.body[0])
    namespace = {"np": np, "_rt": runtime}
    exec(compile(tree, "<outer sums test>", "exec"), namespace)
    return namespace["f_grad"](*args), ast.unparse(tree)


COLUMNS = """
def f_grad(As, Bs):
    W_bar = 0.0
    for a, b in zip(As, Bs):
        W_bar = W_bar + a[:, None] * b
    return W_bar
"""

OUTER = """
def f_grad(As, Bs):
    W_bar = np.zeros(1)
    for a, b in zip(As, Bs):
        W_bar = W_bar + np.outer(a, b)
    return W_bar
"""


@pytest.mark.parametrize(
    "source, shapes",
    [
        (COLUMNS, [(4, 3), (4, 2)]),  # vectors: one matrix product
        (COLUMNS, [(4, 3), (4, 1, 2)]),  # rows as (1, n)
        (COLUMNS, [(4, 3, 2), (4, 2)]),  # a is a matrix: each step's term as written
        (COLUMNS, [(0, 3), (0, 2)]),  # no step
        (COLUMNS, [(1, 3), (1, 2)]),  # one step
        (OUTER, [(5, 3), (5, 2)]),
        (OUTER, [(5, 2, 2), (5, 3)]),  # np.outer flattens: each step's term as written
    ],
)
def test_the_pass_keeps_every_result(source, shapes):
    args = _args(1, shapes)
    expected, _ = _run(source, False, *args)
    got, text = _run(source, True, *args)
    assert "OuterSum" in text
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_kept_arrays_written_in_place_later_are_not_kept():
    source = """
    def f_grad(As, Bs):
        W_bar = 0.0
        for a, b in zip(As, Bs):
            W_bar = W_bar + a[:, None] * b
            b[0] = 0.0
        return W_bar
    """
    args = _args(2, [(4, 3), (4, 2)])
    expected, _ = _run(source, False, *(x.copy() for x in args))
    got, text = _run(source, True, *(x.copy() for x in args))
    assert "OuterSum" not in text
    np.testing.assert_allclose(got, expected)


def test_an_accumulation_read_in_the_loop_stays():
    source = """
    def f_grad(As, Bs):
        W_bar = 0.0
        s = 0.0
        for a, b in zip(As, Bs):
            W_bar = W_bar + a[:, None] * b
            s = s + np.sum(W_bar)
        return W_bar, s
    """
    args = _args(3, [(4, 3), (4, 2)])
    (expected, s), _ = _run(source, False, *args)
    (got, s2), text = _run(source, True, *args)
    assert "OuterSum" not in text and s == s2
