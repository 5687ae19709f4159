"""Run-time helpers of the NumPy rules: `np.linalg` (solve, det, slogdet, cholesky, eigh).

>>> det_adjoint(1.0, 2.0 * np.eye(2), 4.0).tolist()
[[2.0, 0.0], [0.0, 2.0]]
"""

import numpy as np

from .arrays import matrix_t
from .core import float_dtype
from .reshaping import item

# -- linear algebra ---------------------------------------------------------------------------------


def _vector_rhs(b):
    return np.ndim(b) == 1


def solve_adjoint_b(g, a, b):
    """Adjoint of `np.linalg.solve(a, b)` with respect to `b`."""
    return np.linalg.solve(matrix_t(a), g)


def solve_adjoint_a(g, a, b, z):
    """Adjoint of `np.linalg.solve(a, b)` with respect to `a`: -(a^-T g) z^T."""
    gb = np.linalg.solve(matrix_t(a), g)
    if _vector_rhs(b):
        return -np.multiply.outer(gb, z) if np.ndim(a) == 2 else -gb[..., :, None] * z[..., None, :]
    return -(gb @ matrix_t(z))


def det_adjoint(g, a, z):
    """Adjoint of `np.linalg.det(a)`: g det(a) a^-T."""
    return (np.asarray(g * z)[..., None, None] * matrix_t(np.linalg.inv(a))).astype(float_dtype(a))


def slogdet_tangent(a, a_dot):
    """Tangent of `np.linalg.slogdet(a)`: (0, trace(a^-1 a_dot))."""
    logdet_dot = np.trace(np.linalg.solve(a, a_dot), axis1=-2, axis2=-1)
    return (np.zeros_like(logdet_dot), logdet_dot)


def slogdet_adjoint(g, a):
    """Adjoint of `np.linalg.slogdet(a)`: the sign has none; log|det| gives g a^-T."""
    g = item(g, 1)
    return (np.asarray(g)[..., None, None] * matrix_t(np.linalg.inv(a))).astype(float_dtype(a))


def _phi(x):
    """Lower triangle with the diagonal halved."""
    return np.tril(x) - 0.5 * np.eye(x.shape[-1], dtype=x.dtype) * x


def cholesky_tangent(l, a_dot):
    """Tangent of `np.linalg.cholesky(a)` = L phi(L^-1 a_dot L^-T) (a_dot symmetric)."""
    l_inv = np.linalg.inv(l)
    return l @ _phi(l_inv @ a_dot @ matrix_t(l_inv))


def cholesky_adjoint(g, l):
    """Adjoint of `np.linalg.cholesky(a)` for symmetric `a` (the result is symmetric)."""
    l_inv = np.linalg.inv(l)
    p = _phi(matrix_t(l) @ g)
    a_bar = matrix_t(l_inv) @ p @ l_inv
    return 0.5 * (a_bar + matrix_t(a_bar))


def _eigh_f(w):
    diff = w[..., None, :] - w[..., :, None]  # w_j - w_i
    with np.errstate(divide="ignore"):
        f = np.where(diff == 0, 0.0, 1.0 / np.where(diff == 0, 1.0, diff))
    return f


def eigh_tangent(z, a_dot):
    """Tangent of `np.linalg.eigh(a)` (distinct eigenvalues, a_dot symmetric)."""
    w, v = z
    m = matrix_t(v) @ a_dot @ v
    w_dot = np.diagonal(m, axis1=-2, axis2=-1).copy()
    v_dot = v @ (_eigh_f(w) * m)
    return (w_dot, v_dot)


def eigh_adjoint(g, z):
    """Adjoint of `np.linalg.eigh(a)` for symmetric `a` (the result is symmetric)."""
    w, v = z
    w_bar, v_bar = item(g, 0), item(g, 1)
    inner = np.zeros(np.shape(v), dtype=float_dtype(v))
    if not (np.ndim(w_bar) == 0 and w_bar == 0):
        inner = inner + np.asarray(w_bar)[..., :, None] * np.eye(np.shape(w)[-1])
    if not (np.ndim(v_bar) == 0 and v_bar == 0):
        inner = inner + _eigh_f(w) * (matrix_t(v) @ v_bar)
    a_bar = v @ inner @ matrix_t(v)
    return 0.5 * (a_bar + matrix_t(a_bar))
