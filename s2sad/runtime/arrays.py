"""Run-time helpers of the NumPy rules: dtypes and axes, reductions, cumulative sums and
products, norms.

>>> unreduce(np.ones(2), np.zeros((2, 3)), axis=-1).tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
>>> extremum_weights(np.array([1.0, 3.0, 3.0]), 3.0).tolist()   # ties share equally
[0.0, 0.5, 0.5]
"""

import numpy as np

from ..errors import NoDerivativeRuleError
from .core import float_dtype

# -- dtypes and axes --------------------------------------------------------------------


def derivative_dtype(g, x):
    """The dtype of a derivative `g` of `x`: a Python float `g` does not widen float32."""
    return np.result_type(
        g if np.ndim(g) == 0 and not isinstance(g, np.ndarray) else np.asarray(g).dtype, float_dtype(x)
    )


def cast_like(g, x):
    """`g` as an array of `x`'s floating dtype (a scalar stays a scalar if `x` is one)."""
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        return g
    return np.asarray(g, dtype=float_dtype(x))


def normalize_axes(axis, ndim):
    """`axis` (None, an int, a tuple, negative or not) as a sorted tuple of axes.

    >>> normalize_axes(-1, 3), normalize_axes((2, 0), 3), normalize_axes(None, 2)
    ((2,), (0, 2), (0, 1))
    """
    if axis is None:
        return tuple(range(ndim))
    if np.ndim(axis) == 0:
        axis = (axis,)
    return tuple(sorted(int(a) % ndim if ndim else 0 for a in axis))


def matrix_t(a):
    """Swap the last two axes (the transpose of a stack of matrices)."""
    return np.swapaxes(a, -1, -2)


def unreduce(g, x, axis=None, keepdims=False):
    """Spread the cotangent `g` of a reduction of `x` back over the reduced axes."""
    shape = np.shape(x)
    g = np.asarray(g, dtype=derivative_dtype(g, x))
    if not shape:
        return g[()] if g.ndim == 0 else g.reshape(())
    if axis is not None and not keepdims:
        g = np.expand_dims(g, normalize_axes(axis, len(shape)))
    elif axis is None and not keepdims:
        g = g.reshape((1,) * len(shape))
    return np.broadcast_to(g, shape).copy()


def _count(x, axis):
    shape = np.shape(x)
    return int(np.prod([shape[a] for a in normalize_axes(axis, len(shape))]))


def mean_partials(x, axis=None):
    """d mean / d x: `1 / count` (a Python float, so float32 stays float32)."""
    return 1.0 / _count(x, axis)


def extremum_weights(x, z, axis=None):
    """d max / d x (or min): 1 on the extremum, split equally among tied entries."""
    x = np.asarray(x)
    if x.ndim == 0:
        return np.ones((), dtype=float_dtype(x))
    axes = normalize_axes(axis, x.ndim)
    z = np.asarray(z)
    if z.ndim != x.ndim and z.ndim:
        z = np.expand_dims(z, axes)  # (broadcasts against x: no copy of x's size)
    mask = x == z
    if len(axes) == x.ndim:  # a reduction to one number: count_nonzero's fast path (no axis)
        count = np.count_nonzero(mask)
    else:
        count = np.count_nonzero(mask, axis=axes, keepdims=True)
    if np.all(count == 1):  # no ties: the mask itself
        return mask.astype(float_dtype(x))
    return (mask / count).astype(float_dtype(x), copy=False)


def prod_partials(x, axis=None):
    """d prod / d x_i: the product of all other entries (exact when some are zero)."""
    x = np.asarray(x)
    if x.ndim == 0:
        return np.ones((), dtype=float_dtype(x))
    if x.size == 0:  # no entries (the others of a size-1 axis, in `prod_hessian_vector`)
        return np.zeros(x.shape, dtype=float_dtype(x))
    axes = normalize_axes(axis, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[: len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    partial = (left * right).reshape(moved.shape)
    return np.transpose(partial, np.argsort(rest + list(axes))).astype(float_dtype(x))


def prod_hessian_vector(x, t, axis=None):
    """The second derivative of the product of `x` (over `axis`) applied to `t`: entry i is
    sum over j != i of t_j times the product of the entries other than i and j. It is the
    tangent of `prod_partials` along `t` and, the matrix being symmetric, its adjoint too.
    Exact when entries are zero (products of the others, no division).

    >>> prod_hessian_vector(np.array([2.0, 3.0, 5.0]), np.array([1.0, 0.0, 0.0])).tolist()
    [0.0, 5.0, 3.0]
    """
    x, t = np.asarray(x), np.broadcast_to(np.asarray(t), np.shape(x))
    if x.ndim == 0:
        return np.zeros((), dtype=float_dtype(x))
    axes = normalize_axes(axis, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    order = rest + list(axes)
    moved, tangent = np.transpose(x, order), np.transpose(t, order)
    flat = moved.reshape(moved.shape[: len(rest)] + (-1,))
    flat_t = tangent.reshape(flat.shape)
    out = np.zeros(flat.shape, dtype=np.result_type(flat.dtype, flat_t.dtype, np.float32))
    for i in range(flat.shape[-1]):  # the partials of the product of the others, times their tangents
        others = np.delete(flat, i, axis=-1)
        out[..., i] = np.sum(prod_partials(others, -1) * np.delete(flat_t, i, axis=-1), axis=-1)
    return np.transpose(out.reshape(moved.shape), np.argsort(order))


def var_partials(x, axis=None, ddof=0):
    """d var / d x = 2 (x - mean) / (count - ddof)."""
    x = np.asarray(x)
    mean = np.mean(x, axis=normalize_axes(axis, x.ndim) if x.ndim else None, keepdims=True)
    return 2.0 * (x - mean) / (_count(x, axis) - ddof)


# -- cumulative ---------------------------------------------------------------------------


def cumsum_adjoint(g, x, axis=None):
    """Adjoint of `np.cumsum(x, axis)`: a reversed cumulative sum."""
    g = np.asarray(g)
    if axis is None:
        return np.cumsum(g[::-1])[::-1].reshape(np.shape(x))
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def _cumprod_jacobian(x, axis):
    """J[..., i, k] = d cumprod(x)[k] / d x[i] along the last axis (exact with zeros)."""
    n = x.shape[-1]
    jac = np.zeros(x.shape[:-1] + (n, n), dtype=float_dtype(x))
    for i in range(n):
        others = x.copy()
        others[..., i] = 1.0
        column = np.cumprod(others, axis=-1)
        column[..., :i] = 0.0
        jac[..., i, :] = column
    return jac


def _cumprod_frame(x, axis):
    x = np.asarray(x)
    if axis is None:
        return x.reshape(-1), None
    return np.moveaxis(x, axis, -1), axis


def cumprod_tangent(t, x, axis=None):
    """Tangent of `np.cumprod(x, axis)` for the input tangent `t`."""
    xm, ax = _cumprod_frame(x, axis)
    tm = np.broadcast_to(t, np.shape(x))
    tm = tm.reshape(-1) if ax is None else np.moveaxis(tm, ax, -1)
    out = np.einsum("...i,...ik->...k", tm, _cumprod_jacobian(xm, ax))
    return out if ax is None else np.moveaxis(out, -1, ax)


def cumprod_adjoint(g, x, axis=None):
    """Adjoint of `np.cumprod(x, axis)`."""
    xm, ax = _cumprod_frame(x, axis)
    gm = np.asarray(g) if ax is None else np.moveaxis(np.asarray(g), ax, -1)
    out = np.einsum("...k,...ik->...i", gm, _cumprod_jacobian(xm, ax))
    return out.reshape(np.shape(x)) if ax is None else np.moveaxis(out, -1, ax)


# -- norms --------------------------------------------------------------------------------


def norm_partials(x, z, ord=None, axis=None, keepdims=False):
    """d np.linalg.norm(x, ord, axis) / d x, shaped like `x` (0 where the norm is 0).

    Vector norms: ord None/2, 1, inf, -inf and any other p. Matrix norms: None / 'fro'.
    """
    x = np.asarray(x)
    dtype = float_dtype(x)
    axes = normalize_axes(axis, x.ndim)
    zk = unreduce(z, x, axis, keepdims=keepdims or axis is None and np.ndim(z) == x.ndim)
    matrix = len(axes) == 2 and (axis is not None or x.ndim == 2)
    if ord in (None, "fro") or (ord == 2 and not matrix):  # (2 of a matrix: its largest singular value)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(zk == 0, 0.0, x / zk).astype(dtype)
    if matrix and ord in ("nuc", 2, -2):  # through the SVD of the matrices: U V^T, or u_1 v_1^T (u_k v_k^T)
        moved = np.moveaxis(x, axes, (-2, -1))
        u, s, vt = np.linalg.svd(moved, full_matrices=False)
        if ord != "nuc":
            keep = slice(0, 1) if ord == 2 else slice(-1, None)
            u, vt = u[..., :, keep], vt[..., keep, :]
        return np.moveaxis(u @ vt, (-2, -1), axes).astype(dtype)
    if matrix:
        raise NoDerivativeRuleError(
            f"np.linalg.norm of a matrix with ord={ord!r} is not differentiated",
            hint="matrix norms with ord None, 'fro', 'nuc', 2 and -2 are",
        )
    if ord == 1:
        return np.sign(x).astype(dtype)
    if ord in (np.inf, -np.inf):
        return (np.sign(x) * extremum_weights(np.abs(x), zk, axis)).astype(dtype)
    if ord == 0:
        return np.zeros_like(x, dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sign(x) * np.abs(x) ** (ord - 1) / zk ** (ord - 1)
    return np.where(zk == 0, 0.0, out).astype(dtype)
