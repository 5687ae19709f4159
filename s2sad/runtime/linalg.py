"""Run-time helpers of the NumPy rules: `np.linalg` (slogdet, norms, triangles, cholesky, eigh).

>>> phi(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()   # the lower triangle, its diagonal halved
[[0.5, 0.0], [3.0, 2.0]]
"""

import numpy as np

from ..errors import NoDerivativeRuleError
from .arrays import matrix_t, normalize_axes
from .core import broadcast_like, float_dtype
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


def norm_order(ord, x=None, axis=None):
    """The factor c of the second derivative of a vector norm: with p = d norm / d x (shaped like x)
    and w = `norm_weight`, dp = c (w dx - p dz) / z, where c = ord - 1 (1 for None, 2, 'fro'; 0 for the
    piecewise linear ones: 1, inf, -inf, 0). Matrix norms other than None / 'fro' are refused."""
    axes = normalize_axes(axis, np.ndim(x)) if x is not None else ()
    if len(axes) == 2 and (axis is not None or np.ndim(x) == 2) and ord not in (None, "fro"):
        raise NoDerivativeRuleError(
            f"np.linalg.norm of a matrix with ord={ord!r} cannot be differentiated twice yet",
            hint="second derivatives of matrix norms exist for ord None and 'fro'",
        )
    if ord in (None, 2, "fro"):
        return 1.0
    if ord in (1, np.inf, -np.inf, 0):
        return 0.0
    if isinstance(ord, str):
        raise NoDerivativeRuleError(f"np.linalg.norm with ord={ord!r} is not differentiated twice")
    return float(ord) - 1.0


def norm_weight(x, zk, ord=None):
    """(|x| / zk) ** (ord - 2) for a vector p-norm, `zk` the norm broadcast against `x` (1 for the
    2-norm): see `norm_order`. Written with ruled operations, inlined as its own definition."""
    return (np.abs(x) / zk) ** norm_power(ord)


def norm_power(ord):
    """ord - 2 for a vector p-norm, 0 for the others (see `norm_weight`)."""
    if ord in (None, 2, "fro", 1, np.inf, -np.inf, 0) or isinstance(ord, str):
        return 0.0
    return float(ord) - 2.0


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


# -- the singular value decomposition -----------------------------------------------------------------
# `svd_tangent` and `svd_adjoint` are written with operations that have derivative rules (`@`,
# `matrix_t`, `np.linalg.svd`, elementwise arithmetic): s2sad inlines them as their own definitions
# when derivative code is differentiated again (`s2sad.rules.definitions`). They assume distinct
# nonzero singular values (as JAX's rules do): where two are equal, or one is 0 of a non-square
# matrix, U and V are not differentiable and the derivatives are inf or nan, never a finite guess.


def svd_supported(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Refuse the forms of `np.linalg.svd` whose derivative s2sad does not give."""
    if compute_uv and full_matrices and np.shape(a)[-2] != np.shape(a)[-1]:
        raise NoDerivativeRuleError(
            "np.linalg.svd(a) of a non-square matrix is differentiated with full_matrices=False only "
            "(the extra columns of U or V are not determined by a)",
            hint="call np.linalg.svd(a, full_matrices=False)",
        )
    if hermitian:
        raise NoDerivativeRuleError(
            "np.linalg.svd(a, hermitian=True) is not differentiated", hint="drop hermitian=True"
        )
    return compute_uv


def _svd_parts(z, a, compute_uv):
    if compute_uv:
        return z[0], z[1], z[2]
    return np.linalg.svd(a, full_matrices=False)


def _svd_f(s):
    """1 / (s_j^2 - s_i^2) off the diagonal, 0 on it."""
    row, col = np.expand_dims(s, -2), np.expand_dims(s, -1)
    eye = np.eye(np.shape(s)[-1])
    return 1.0 / ((row + col) * (row - col) + eye) - eye


def svd_tangent(z, a, a_dot, compute_uv=True):
    """Tangent of `np.linalg.svd(a, full_matrices=False)`: (u_dot, s_dot, vt_dot), or s_dot alone."""
    u, s, vt = _svd_parts(z, a, compute_uv)
    v = matrix_t(vt)
    m = matrix_t(u) @ a_dot @ v
    s_dot = np.diagonal(m, 0, -2, -1)
    if not compute_uv:
        return s_dot
    f = _svd_f(s)
    row, col = np.expand_dims(s, -2), np.expand_dims(s, -1)
    u_dot = u @ (f * (m * row + matrix_t(m * row)))
    v_dot = v @ (f * (col * m + matrix_t(col * m)))
    if np.shape(a)[-2] > np.shape(a)[-1]:  # tall: the part of a_dot outside U's columns
        av = a_dot @ v
        u_dot = u_dot + (av - u @ (matrix_t(u) @ av)) / row
    if np.shape(a)[-1] > np.shape(a)[-2]:  # wide: the part outside V's columns
        au = matrix_t(a_dot) @ u
        v_dot = v_dot + (au - v @ (vt @ au)) / row
    return (u_dot, s_dot, matrix_t(v_dot))


def svd_adjoint(g, z, a, compute_uv=True):
    """Adjoint of `np.linalg.svd(a, full_matrices=False)` (of its singular values alone when not
    `compute_uv`): the transpose of `svd_tangent`."""
    u, s, vt = _svd_parts(z, a, compute_uv)
    if not compute_uv:
        return u @ (np.expand_dims(broadcast_like(g, s), -1) * np.eye(np.shape(s)[-1])) @ vt
    inner = np.expand_dims(broadcast_like(item(g, 1), s), -1) * np.eye(np.shape(s)[-1])
    u_bar, v_bar = broadcast_like(item(g, 0), u), matrix_t(broadcast_like(item(g, 2), vt))
    v = matrix_t(vt)
    f = _svd_f(s)
    row, col = np.expand_dims(s, -2), np.expand_dims(s, -1)
    j = matrix_t(u) @ u_bar
    k = vt @ v_bar
    inner = inner + f * (j - matrix_t(j)) * row + col * (f * (k - matrix_t(k)))
    a_bar = u @ inner @ vt
    if np.shape(a)[-2] > np.shape(a)[-1]:
        a_bar = a_bar + ((u_bar - u @ (matrix_t(u) @ u_bar)) / row) @ vt
    if np.shape(a)[-1] > np.shape(a)[-2]:
        a_bar = a_bar + u @ (matrix_t(v_bar - v @ (vt @ v_bar)) / col)
    return a_bar


# -- the pseudo-inverse --------------------------------------------------------------------------------
# Written with ruled operations, inlined as their own definitions (any order). The derivative of
# P = pinv(A) where the rank of A is locally constant (Golub and Pereyra, 1973):
# dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P. Where the rank changes, pinv jumps.


def pinv_tangent(z, a, a_dot):
    """Tangent of `np.linalg.pinv(a)` (constant rank)."""
    zt, a_dot_t = matrix_t(z), matrix_t(a_dot)
    w = a_dot_t @ zt @ z
    return -(z @ a_dot @ z) + z @ (zt @ (a_dot_t - a_dot_t @ a @ z)) + (w - z @ (a @ w))


def pinv_adjoint(g, z, a):
    """Adjoint of `np.linalg.pinv(a)` (constant rank): the transpose of `pinv_tangent`."""
    zt, gt = matrix_t(z), matrix_t(g)
    x = gt @ z @ zt
    y = zt @ z @ gt
    return -(zt @ g @ zt) + (x - a @ (z @ x)) + (y - (y @ z) @ a)


# -- eigenvalues of a general matrix ----------------------------------------------------------------
# s2sad differentiates real numbers: `np.linalg.eig` of a matrix whose eigenvalues are real (and
# distinct), its eigenvectors normalized to unit length as NumPy returns them. A complex spectrum is
# refused when the derivative runs. Written with ruled operations, inlined as their own definitions.


# -- the QR decomposition --------------------------------------------------------------------------------
# `qr_tangent` and `qr_adjoint` are written with operations that have derivative rules (their own
# definitions at higher orders, as the SVD's). A = Q R with A (m x n), m >= n, of full rank.


def qr_supported(a, mode="reduced"):
    """Refuse the forms of `np.linalg.qr` whose derivative s2sad does not give; True if the result is
    (Q, R), False if it is R alone (`mode="r"`)."""
    m, n = np.shape(a)[-2], np.shape(a)[-1]
    if mode not in ("reduced", "complete", "r") or m < n or (mode == "complete" and m != n):
        raise NoDerivativeRuleError(
            f"np.linalg.qr of a {m} x {n} matrix with mode={mode!r} is not differentiated",
            hint="s2sad differentiates the reduced QR decomposition (mode 'reduced' or 'r') of a matrix with "
            "at least as many rows as columns",
        )
    return mode != "r"


def _qr_parts(z, a, both):
    if both:
        return z[0], z[1]
    return np.linalg.qr(a)


def qr_tangent(z, a, a_dot, both=True):
    """Tangent of `np.linalg.qr(a)`: with X = a_dot R^-1 and C = Q^T X, Q^T Q_dot is the antisymmetric
    Omega made of C's strict lower triangle, R_dot = (C - Omega) R and Q_dot = Q Omega + X - Q C."""
    q, r = _qr_parts(z, a, both)
    x = matrix_t(np.linalg.solve(matrix_t(r), matrix_t(a_dot)))
    c = matrix_t(q) @ x
    lower = np.tril(c, -1)
    omega = lower - matrix_t(lower)
    r_dot = (c - omega) @ r
    if not both:
        return r_dot
    return (q @ omega + x - q @ c, r_dot)


def qr_adjoint(g, z, a, both=True):
    """Adjoint of `np.linalg.qr(a)`, the transpose of `qr_tangent`: with E = Q^T Q_bar - R_bar R^T,
    C_bar = tril(E - E^T, -1) - E and a_bar = (Q_bar + Q C_bar) R^-T."""
    q, r = _qr_parts(z, a, both)
    q_bar = broadcast_like(item(g, 0), q) if both else np.zeros(np.shape(q))
    r_bar = broadcast_like(item(g, 1) if both else g, r)
    e = matrix_t(q) @ q_bar - r_bar @ matrix_t(r)
    c_bar = np.tril(e - matrix_t(e), -1) - e
    return matrix_t(np.linalg.solve(r, matrix_t(q_bar + q @ c_bar)))


def eig_supported(w):
    """Refuse the derivative of `np.linalg.eig` when an eigenvalue is complex."""
    if np.iscomplexobj(w):
        raise NoDerivativeRuleError(
            "np.linalg.eig of this matrix has complex eigenvalues; s2sad differentiates real numbers",
            hint="for a symmetric matrix use np.linalg.eigh, whose eigenvalues are real",
        )
    return True


def _eig_f(w):
    """1 / (w_j - w_i) off the diagonal, 0 on it (distinct eigenvalues)."""
    diff = np.expand_dims(w, -2) - np.expand_dims(w, -1)
    eye = np.eye(np.shape(w)[-1])
    return 1.0 / (diff + eye) - eye


def eig_tangent(z, a_dot):
    """Tangent of `np.linalg.eig(a)` (real distinct eigenvalues; unit eigenvectors)."""
    w, v = z[0], z[1]
    eig_supported(w)
    m = np.linalg.solve(v, a_dot @ v)
    w_dot = np.diagonal(m, 0, -2, -1)
    raw = v @ (_eig_f(w) * m)
    v_dot = raw - v * np.expand_dims(np.sum(v * raw, axis=-2), -2)  # (keeps each column of unit length)
    return (w_dot, v_dot)


def eig_adjoint(g, z):
    """Adjoint of `np.linalg.eig(a)`: the transpose of `eig_tangent`."""
    w, v = z[0], z[1]
    eig_supported(w)
    w_bar, v_bar = broadcast_like(item(g, 0), w), broadcast_like(item(g, 1), v)
    vt = matrix_t(v)
    h = vt @ v_bar
    diag_h = np.expand_dims(np.diagonal(h, 0, -2, -1), -2) * np.eye(np.shape(w)[-1])
    m_bar = np.expand_dims(w_bar, -1) * np.eye(np.shape(w)[-1]) + _eig_f(w) * (h - (vt @ v) @ diag_h)
    return np.linalg.solve(vt, m_bar @ vt)
