"""Transposes of fixed array parameters taken once for the loops that read them
(s2sad/peepholes/transposes.py): shown on generated code, gradients checked against central
finite differences in both modes and by the dot-product test."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads


def recurrence(W, h, n):
    for i in range(n):
        h = np.tanh(W @ h)
    return np.sum(h)


def rebound(W, h, n):  # `W` is assigned in the function: its transpose is not fixed
    for i in range(n):
        h = np.tanh(W @ h)
        W = 0.9 * W
    return np.sum(h)


@pytest.mark.generated_code
def test_the_transpose_is_taken_once():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((3, 3)), rng.standard_normal(3), 4)
    text = s2sad.source(recurrence, mode="reverse", argnums=(0, 1), args=args)
    body = text.split("def recurrence_vjp")[1]
    assert body.count("W.T") == 1 and "W_T = W.T" in body and "W_T @" in body, text
    text = s2sad.source(rebound, mode="reverse", argnums=(0, 1), args=args)
    assert "W_T" not in text, text


@pytest.mark.parametrize("program", [recurrence, rebound])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_against_finite_differences(program, seed):
    rng = np.random.default_rng(seed)
    check_grads(program, (0.5 * rng.standard_normal((3, 3)), rng.standard_normal(3), 4), wrt=[0, 1])
