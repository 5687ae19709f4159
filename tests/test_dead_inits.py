"""`v = None` initializations nothing reads, dropped after the tape peephole
(s2sad/peepholes/dead_inits.py).

Shown on generated code (the initialization of a value whose tape went is gone, one a tape still
stores is kept) and on hand-written trees for the cases that must stay (a read before the loop's
first assignment, an assignment under a branch, a use after the loop); gradients of the programs
are checked against central finite differences in both modes and by the dot-product test.
"""

import ast

import numpy as np
import pytest

import s2sad
from s2sad.peepholes.dead_inits import drop_dead_initializations
from s2sad.testing import check_grads


def rnn_loss(W, h0, xs):
    h = h0
    total = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
        total = total + np.sum(h**2)
    return total / xs.shape[0]


def leaky(r, x):
    y = 0.0
    k = 0
    while k < 20:
        a = r * x
        y = y + a * a
        x = a - 0.3 * x * x
        k += 1
    return y + x


def _args(seed):
    rng = np.random.default_rng(seed)
    return 0.4 * rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal((6, 4))


def _initialized(source):
    """The names the generated function sets to None before anything else runs."""
    function = ast.parse(source).body[0]
    return {
        stmt.targets[0].id
        for stmt in function.body
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and stmt.value.value is None
    }


def test_rnn_keeps_only_the_initialization_a_tape_stores():
    source = s2sad.source(rnn_loss, mode="reverse", args=_args(0))
    tree = ast.parse(source)
    stores = {  # names stored into a tape: `_tape1_vs[t] = v`
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Subscript)
        and isinstance(node.value, ast.Name)
    }
    assert _initialized(source) <= stores, source
    assert "W @ h" in source


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rnn_gradients(seed):
    W, h0, xs = _args(seed)
    check_grads(rnn_loss, (W, h0, xs))


@pytest.mark.parametrize("point", [(0.7, 0.2), (0.5, -0.4), (0.9, 0.5)])
def test_while_loop_gradients(point):
    check_grads(leaky, point)  # every initialization is read here: a push stores it first


def _dropped(code):
    function = ast.parse(code).body[0]
    before = _initialized(ast.unparse(function))
    return before - _initialized(ast.unparse(drop_dead_initializations(function)))


def test_assigned_first_in_every_iteration_is_dropped():
    assert _dropped("def f(n):\n a = None\n for i in range(n):\n  a = i * 2.0\n  b = a + 1\n return n") == {
        "a"
    }
    assert _dropped("def f(n):\n a = None\n while n:\n  a = n * 2.0\n  n = a - n\n return n") == {"a"}


@pytest.mark.parametrize(
    "code",
    [
        # read before the loop assigns it (a tape storing the previous iteration's value)
        "def f(n):\n a = None\n for i in range(n):\n  t[i] = a\n  a = i * 2.0\n return n",
        # assigned under a branch only
        "def f(n):\n a = None\n for i in range(n):\n  if i:\n   a = i\n  b = a\n return n",
        # read after the loop (None when the loop runs no iteration)
        "def f(n):\n a = None\n for i in range(n):\n  a = i * 2.0\n return a",
        # read by the loop's own test or its else
        "def f(n):\n a = None\n while a is None or a < n:\n  a = n\n return n",
        "def f(n):\n a = None\n for i in range(n):\n  a = i\n else:\n  n = a\n return n",
        # the assignment reads the old value
        "def f(n):\n a = None\n for i in range(n):\n  a = g(a)\n return n",
        # used by two loops
        "def f(n):\n a = None\n for i in range(n):\n  a = i\n for i in range(n):\n  a = i\n return n",
    ],
)
def test_possible_reads_keep_the_initialization(code):
    assert _dropped(code) == set()
