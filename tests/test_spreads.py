"""A reduction's cotangent times an array of the reduced operand's shape is spread by broadcasting
(s2sad/peepholes/spreads.py), and `np.sum(-v)` is the negated sum (s2sad/peepholes/negations.py):
shown on generated code, gradients checked against central finite differences in both modes and by
the dot-product test, float32 kept float32."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads


def logsumexp(x):
    a = np.max(x)
    return a + np.log(np.sum(np.exp(x - a)))


def softmax_rows(x, w):
    top = np.max(x, axis=1, keepdims=True)
    e = np.exp(x - top)
    p = e / np.sum(e, axis=1, keepdims=True)
    return np.sum(p * w) + np.sum(np.min(x, axis=0) ** 2)


def norms(x):
    s = np.sum(x * x, axis=1)
    return np.sum(np.sqrt(s)) + np.sum(np.mean(np.exp(x), axis=-1))


def distances(x, mu):
    return np.sum(np.tanh(x[:, None, :] - mu[None, :, :]))


PROGRAMS = {
    logsumexp: lambda rng: (rng.standard_normal(7),),
    softmax_rows: lambda rng: (rng.standard_normal((4, 5)), rng.standard_normal((4, 5))),
    norms: lambda rng: (rng.standard_normal((2, 3, 4)),),
    distances: lambda rng: (rng.standard_normal((5, 3)), rng.standard_normal((2, 3))),
}


@pytest.mark.generated_code
def test_the_spread_is_left_to_broadcasting():
    text = s2sad.source(logsumexp, mode="reverse", args=(np.ones(5),))
    assert "_rt.unreduce" not in text and "np.sum(-" not in text, text
    assert "a_bar = out_bar - np.sum(_t1_bar)" in text, text
    text = s2sad.source(norms, mode="reverse", args=PROGRAMS[norms](np.random.default_rng(0)))
    assert "s_bar[:, None, :] * x" in text, text
    text = s2sad.source(
        distances, mode="reverse", argnums=(1,), args=PROGRAMS[distances](np.random.default_rng(0))
    )
    assert "unbroadcast(-" not in text and "-= _rt.unbroadcast(" in text, text


@pytest.mark.parametrize("program", list(PROGRAMS))
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_match_finite_differences(program, seed):
    check_grads(program, PROGRAMS[program](np.random.default_rng(seed)))


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_float32_stays_float32(program):
    args = tuple(a.astype(np.float32) for a in PROGRAMS[program](np.random.default_rng(1)))
    grads = s2sad.grad(program, argnums=tuple(range(len(args))))(*args)
    assert all(g.dtype == np.float32 for g in grads)


def test_ties_share_the_extremum_cotangent():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.5, 0.0]])
    g = s2sad.grad(lambda x: np.sum(np.max(x, axis=1) * np.array([1.0, 2.0])))(x)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [2.0, 0.0, 0.0]])


def squares(x, w):
    return np.sum((x * x) * w) + np.sum(np.sin(x) + np.sin(x))


@pytest.mark.generated_code
def test_an_operation_of_a_value_with_itself_broadcasts_nothing():
    """`x * x` and `s + s` have their operand's shape: in code not specialized to shapes too, the
    adjoint is not summed down (`unbroadcast`), and the square's two equal terms are formed once."""
    text = s2sad.source(squares, mode="reverse", argnums=(0,))
    assert "_square1 + _square1" in text and "_t5_bar + _t5_bar" in text, text
    rng = np.random.default_rng(0)
    check_grads(squares, (rng.standard_normal((3, 4)), rng.standard_normal(4)))
    check_grads(squares, (rng.standard_normal((3, 4)), 2.0))
