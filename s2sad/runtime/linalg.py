"""Run-time helpers of the NumPy rules: `np.linalg` (slogdet, norms, triangles, cholesky, eigh).

>>> phi(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()   # the lower triangle, its diagonal halved
[[0.5, 0.0], [3.0, 2.0]]
"""

import numpy as np

from ..errors import NoDerivativeRuleError
from .arrays import matrix_t
from .core import float_dtype
from .reshaping import item

# -- linear algebra ---------------------------------------------------------------------------------


def _vector_rhs(b):
    return np.ndim(b) == 1


def slogdet_tangent(a, a_dot):
    """Tangent of `np.linalg.slogdet(a)`: (0, trace(a^-1 a_dot))."""
    logdet_dot = np.trace(np.linalg.solve(a, a_dot), axis1=-2, axis2=-1)
    return (np.zeros_like(logdet_dot), logdet_dot)


def slogdet_adjoint(g, a):
    """Adjoint of `np.linalg.slogdet(a)`: the sign has none; log|det| gives g a^-T."""
    g = item(g, 1)
    return (np.asarray(g)[..., None, None] * matrix_t(np.linalg.inv(a))).astype(float_dtype(a))


def norm_order(ord):
    """1.0 for the norms whose partials `norm_partials` differentiates again (None, 2, 'fro'), 0.0 for
    the piecewise linear ones (1, inf, -inf, 0); other orders are refused."""
    if ord in (None, 2, "fro"):
        return 1.0
    if ord in (1, np.inf, -np.inf, 0):
        return 0.0
    raise NoDerivativeRuleError(
        f"np.linalg.norm with ord={ord!r} cannot be differentiated twice yet",
        hint="second derivatives of norms exist for ord None, 2, 'fro' (and 1, inf: zero)",
    )


def triangle_symmetric(x, UPLO="L"):
    """The symmetric matrix made of the lower (`UPLO="L"`) or upper triangle of `x`: the matrix
    `eigh` and `cholesky` actually read."""
    x = np.asarray(x)
    if UPLO in ("U", "u"):
        return np.triu(x) + matrix_t(np.triu(x, 1))
    return np.tril(x) + matrix_t(np.tril(x, -1))


def triangle_adjoint(g, UPLO="L"):
    """The transpose of `triangle_symmetric`: a cotangent on the triangle that was read."""
    g = np.asarray(g)
    if UPLO in ("U", "u"):
        return np.triu(g) + np.triu(matrix_t(g), 1)
    return np.tril(g) + np.tril(matrix_t(g), -1)


def phi(x):
    """The lower triangle of `x` with its diagonal halved (a linear map; see `cholesky_tangent`)."""
    return _phi(np.asarray(x))


def _phi(x):
    """Lower triangle with the diagonal halved."""
    return np.tril(x) - 0.5 * np.eye(x.shape[-1], dtype=x.dtype) * x


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
