"""A derivative of the numba target (`s2sad.grad(f, backend="numba")`) given to another transform, or
called inside code being differentiated, is the derivative of `f` (the wrapper is marked as the Python
target's are): a Hessian-vector product of a numba gradient, a numba gradient inside a simulation that
is differentiated again. Checked against central differences in both modes and by the dot-product test."""

import inspect

import numpy as np
import pytest

import s2sad
from s2sad.testing import check_grads

numba = pytest.importorskip("numba")


def energy(x, k):
    """A chain of springs in a cosine potential."""
    total = 0.0
    for i in range(x.shape[0] - 1):
        total = total + k * (x[i + 1] - x[i]) ** 2 + np.cos(x[i])
    return total


force = s2sad.grad(energy, backend="numba")


def work(x, k):
    f = force(x, k)
    return np.sum(f * f) + np.sum(np.sin(x) * f)


X = np.linspace(0.1, 0.9, 5)


def test_the_numba_gradient_keeps_the_signature_of_its_function():
    assert inspect.signature(force) == inspect.signature(energy)
    np.testing.assert_allclose(force(X, 1.3), s2sad.grad(energy)(X, 1.3), rtol=1e-13)


def test_forward_and_reverse_mode_of_a_numba_gradient():
    """jvp and vjp (the Python target) of the numba gradient: Hessian products of `energy`."""
    check_grads(force, (X, 1.3))
    hvp = s2sad.jvp(force, (X, 1.3), (np.ones_like(X), 0.0))[1]
    np.testing.assert_allclose(hvp, s2sad.jvp(s2sad.grad(energy), (X, 1.3), (np.ones_like(X), 0.0))[1])


def test_a_numba_gradient_inside_differentiated_code():
    check_grads(work, (X, 1.3))
    expected = s2sad.grad(work)(X, 1.3)
    try:  # the numba target over it: the same numbers, or its s2sad error (never another exception)
        compiled = s2sad.grad(work, backend="numba")(X, 1.3)
    except s2sad.S2sadError as error:
        assert "numba" in str(error)
    else:
        np.testing.assert_allclose(compiled, expected, rtol=1e-12)
