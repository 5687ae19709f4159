"""Unread loop tapes dropped after the peepholes (s2sad/peepholes/tapes.py).

The transformation is shown on generated code (fewer lists, the header's count of recorded
values), gradients are checked against central finite differences in both modes and by the
dot-product test (s2sad.testing.check_grads) and against the same derivative compiled without
the pass (equal to 1e-12 relative); values read after the backward loop keep their tape.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import peepholes
from s2sad.testing import check_grads

SEEDS = st.integers(0, 2**16)
SETTINGS = settings(max_examples=6, deadline=None)


def rnn(Wx, Wh, b, xs):  # `Wx @ x + Wh @ h` records both products, which the adjoint never reads
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def gated(W, b, xs):  # slices and sigmoids: their arguments are recorded, then not read
    H = b.shape[0] // 2
    h = np.zeros(H)
    c = np.zeros(H)
    for x in xs:
        z = W @ np.concatenate([x, h]) + b
        f = 1.0 / (1.0 + np.exp(-z[:H]))
        g = np.tanh(z[H:])
        c = f * c + g
        h = np.tanh(c) * f
    return np.sum(h**2) + np.sum(c)


def scalar_steps(r, x):  # every recorded value is read: nothing to drop
    for i in range(30):
        a = r * x
        b = a * (1.0 - x)
        x = a - b + 0.1 * x
    return x


PROGRAMS = {
    rnn: [(5, 3), (5, 5), (5,), (7, 3)],
    gated: [(6, 5), (6,), (4, 2)],
    scalar_steps: [(), ()],
}


def _args(seed, shapes):
    rng = np.random.default_rng(seed)
    args = tuple(rng.standard_normal(shape) * 0.4 for shape in shapes)
    return tuple(float(a) if a.shape == () else a for a in args)


def _recorded(text):
    return [int(n) for n in re.findall(r"records per iteration of the loop at \S+ (\d+) value", text)]


@pytest.mark.generated_code
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_unread_tapes_are_gone(program, monkeypatch):
    args = _args(0, PROGRAMS[program])
    argnums = tuple(range(len(args) - 1)) if program is not scalar_steps else (0, 1)
    s2sad.cache.clear()
    text = s2sad.source(program, mode="reverse", argnums=argnums, args=args)
    monkeypatch.setattr(peepholes, "drop_unread_tapes", lambda node, records=None: node)
    s2sad.cache.clear()
    before = s2sad.source(program, mode="reverse", argnums=argnums, args=args)
    s2sad.cache.clear()
    if program is scalar_steps:
        assert text == before
        return
    assert _recorded(text)[0] < _recorded(before)[0], text
    assert text.count("[None] *") == _recorded(text)[0] < before.count("[None] *")
    for line in text.splitlines():  # every tape left is filled and read back
        found = re.match(r"\s*(_tape\w+) = \[None\]", line)
        if found:
            read = f"reversed({found.group(1)})" in text or re.search(
                rf"np\.array\(\(?{found.group(1)}\b", text
            )
            assert f"{found.group(1)}[" in text and read  # (read back as rows: peepholes/tape_rows.py)


@pytest.mark.parametrize("program", list(PROGRAMS))
@SETTINGS
@given(seed=SEEDS)
def test_gradients_against_finite_differences(program, seed):
    args = _args(seed, PROGRAMS[program])
    wrt = list(range(len(args) - 1)) if program is not scalar_steps else [0, 1]
    check_grads(program, args, wrt=wrt)


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_gradients_equal_those_without_the_pass(program, monkeypatch):
    args = _args(5, PROGRAMS[program])
    argnums = tuple(range(len(args) - 1)) if program is not scalar_steps else (0, 1)
    s2sad.cache.clear()
    with_pass = s2sad.value_and_grad(program, argnums=argnums)(*args)
    monkeypatch.setattr(peepholes, "drop_unread_tapes", lambda node, records=None: node)
    s2sad.cache.clear()
    without = s2sad.value_and_grad(program, argnums=argnums)(*args)
    s2sad.cache.clear()
    assert with_pass[0] == without[0]
    for a, b in zip(with_pass[1], without[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.generated_code
def test_a_value_read_after_the_backward_loop_keeps_its_tape():
    """`c` is popped by the backward loop and read after it (its first value)."""
    args = _args(1, PROGRAMS[gated])
    text = s2sad.source(gated, mode="reverse", argnums=(0, 1), args=args)
    assert "_tape1_cs[" in text and "reversed(_tape1_cs)" in text
