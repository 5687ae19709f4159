"""A product added to itself (the adjoint of `x * x` into a fresh adjoint) is one product with its
first factor doubled (s2sad/peepholes/doublings.py): shown on generated code, the same gradient bit for
bit as the plain code, and checked against central finite differences in both modes and by the
dot-product test."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import config
from s2sad.testing import check_grads


def row_norms(x, w):
    """`z * z` summed over rows: the cotangent of the square is one number per row."""
    z = x * w[None, :]
    return np.sum(np.log1p(np.sum(z * z, axis=1)))


def frobenius(q, c):
    """`a * a` whose adjoint is updated in place later (`a_bar[None, :, :] += ...`): `_rt.owned`."""
    a = np.exp(q)
    return np.sum(a[None, :, :] * c) + np.sum(np.sum(a * a, axis=1))


def accumulated(x, w):
    """`x * x` after another use of `x`: its adjoint adds to one already there (left as it was)."""
    return np.sum(x * x) + np.sum(np.sin(x) * w)


def _args(program, rng):
    R = rng.standard_normal
    return {
        row_norms: lambda: (R((6, 4)), R(4)),
        frobenius: lambda: (R((3, 4)), R((5, 3, 4))),
        accumulated: lambda: (R(5), R(5)),
    }[program]()


PROGRAMS = [row_norms, frobenius, accumulated]


@pytest.mark.generated_code
def test_a_square_into_a_fresh_adjoint_is_one_doubled_product():
    rng = np.random.default_rng(0)
    text = s2sad.source(row_norms, mode="grad", argnums=(0, 1), args=_args(row_norms, rng))
    assert "_square" not in text and "z_bar=(2.0*(" in _squeezed(text), text
    text = s2sad.source(frobenius, mode="grad", argnums=(0, 1), args=_args(frobenius, rng))
    assert "_square" not in text and "a_bar=_rt.owned(2.0*" in _squeezed(text), text
    text = s2sad.source(accumulated, mode="grad", argnums=(0, 1), args=_args(accumulated, rng))
    assert "x_bar = x_bar + _square1 + _square1" in text, text


def _squeezed(text):
    return text.replace(" ", "").replace("\n", "")


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_same_gradient_bit_for_bit(program):
    """Doubling a factor is exact: the plain code (analyses and peepholes off) gives the same bits."""
    args = _args(program, np.random.default_rng(1))
    on = s2sad.grad(program, argnums=(0, 1))(*args)
    with config.analyses(False):
        off = s2sad.grad(program, argnums=(0, 1))(*args)
    for mine, plain in zip(on, off):
        assert np.array_equal(mine, plain)


@pytest.mark.parametrize("program", PROGRAMS)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_against_finite_differences(program, seed):
    check_grads(program, _args(program, np.random.default_rng(seed)), rtol=1e-5)
