"""NumPy functions written with operations that have rules. s2sad inlines a definition in place of
the NumPy function it stands for, so its derivatives, of any order and in both modes, come from the
rules of the operations it uses (nothing new to check but the definition itself).

>>> definition(np.fliplr)(np.arange(4.0).reshape(2, 2)).tolist()
[[1.0, 0.0], [3.0, 2.0]]
"""

import numpy as np

from .. import runtime as _rt
from ..runtime.linalg import _eig_f, _qr_parts, _svd_f, _svd_parts  # parts of helpers defined below

DEFINITIONS = {}


def definition(fn):
    """The definition s2sad inlines in place of `fn`, or None."""
    try:
        return DEFINITIONS.get(fn)
    except TypeError:  # unhashable callee
        return None


def defines(*fns):
    def register(function):
        for fn in fns:
            DEFINITIONS[fn] = function
        return function

    return register


@defines(np.fliplr)
def fliplr(m):
    return np.flip(m, 1)


@defines(np.flipud)
def flipud(m):
    return np.flip(m, 0)


@defines(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    k = k % 4
    if k == 0:
        return np.asarray(m)
    if k == 2:
        return np.flip(np.flip(m, axes[0]), axes[1])
    if k == 1:
        return np.swapaxes(np.flip(m, axes[1]), axes[0], axes[1])
    return np.flip(np.swapaxes(m, axes[0], axes[1]), axes[1])


@defines(np.atleast_1d)
def atleast_1d(ary):
    if np.ndim(ary) == 0:
        return np.reshape(ary, (1,))
    return np.asarray(ary)


@defines(np.atleast_2d)
def atleast_2d(ary):
    if np.ndim(ary) == 0:
        return np.reshape(ary, (1, 1))
    if np.ndim(ary) == 1:
        return np.expand_dims(ary, 0)
    return np.asarray(ary)


@defines(np.atleast_3d)
def atleast_3d(ary):
    if np.ndim(ary) == 0:
        return np.reshape(ary, (1, 1, 1))
    if np.ndim(ary) == 1:
        return np.expand_dims(np.expand_dims(ary, 0), 2)
    if np.ndim(ary) == 2:
        return np.expand_dims(ary, 2)
    return np.asarray(ary)


@defines(np.diff)
def diff(a, n=1, axis=-1):
    for _ in range(n):
        size = np.shape(a)[axis]
        a = np.take(a, np.arange(1, size), axis=axis) - np.take(a, np.arange(0, size - 1), axis=axis)
    return a


@defines(np.kron)
def kron(a, b):
    a_shape, b_shape, shape = _rt.kron_shapes(a, b)
    return np.reshape(np.reshape(a, a_shape) * np.reshape(b, b_shape), shape)


@defines(np.append)
def append(arr, values, axis=None):
    if axis is None:
        return np.concatenate([np.ravel(arr), np.ravel(values)])
    return np.concatenate([arr, values], axis=axis)


@defines(np.column_stack)
def column_stack(tup):
    return np.concatenate([np.reshape(a, (-1, 1)) if np.ndim(a) < 2 else a for a in tup], axis=1)


@defines(np.vsplit)
def vsplit(ary, indices_or_sections):
    return np.split(ary, indices_or_sections, 0)


@defines(np.hsplit)
def hsplit(ary, indices_or_sections):
    return np.split(ary, indices_or_sections, 1 if np.ndim(ary) > 1 else 0)


@defines(np.dsplit)
def dsplit(ary, indices_or_sections):
    return np.split(ary, indices_or_sections, 2)


@defines(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return np.split(ary, _rt.split_points(ary, indices_or_sections, axis), axis)


@defines(np.rollaxis)
def rollaxis(a, axis, start=0):
    source, destination = _rt.rollaxis_move(np.ndim(a), axis, start)
    return np.moveaxis(a, source, destination)


@defines(np.fabs)
def fabs(x):
    return np.abs(_rt.real_only(x))


@defines(np.real, np.conjugate, np.conj)
def real(val):
    return _rt.real_only(val)


@defines(np.real_if_close)
def real_if_close(a, tol=100):
    return _rt.real_only(a)


@defines(np.imag)
def imag(val):
    return np.zeros_like(_rt.real_only(val))


@defines(np.angle)
def angle(z, deg=False):
    return np.where(_rt.real_only(z) < 0, 180.0 if deg else np.pi, 0.0)


@defines(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa, axisb, axisc = axis, axis, axis
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    a0, a1 = np.take(a, 0, axis=-1), np.take(a, 1, axis=-1)
    b0, b1 = np.take(b, 0, axis=-1), np.take(b, 1, axis=-1)
    if np.shape(a)[-1] == 2 and np.shape(b)[-1] == 2:
        return a0 * b1 - a1 * b0
    a2, b2 = np.take(a, 2, axis=-1), np.take(b, 2, axis=-1)  # (vectors of 3 components)
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


@defines(np.select)
def select(condlist, choicelist, default=0):
    out = default
    for k in range(len(condlist) - 1, -1, -1):
        out = np.where(condlist[k], choicelist[k], out)
    return out


@defines(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return np.where(np.isfinite(x), x, _rt.nonfinite_replaced(x, nan, posinf, neginf))


@defines(np.diag)
def diag(v, k=0):
    if np.ndim(v) == 1:
        return np.pad(np.eye(np.shape(v)[0]) * v, _rt.diag_padding(k))
    return diagonal(v, k)


@defines(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    flat_shape, index = _rt.diagonal_plan(a, offset, axis1, axis2)
    return np.take(np.reshape(np.moveaxis(a, (axis1, axis2), (-2, -1)), flat_shape), index, axis=-1)


@defines(np.gradient)
def gradient(f, axis=None):
    axes = _rt.gradient_axes(axis, np.ndim(f))
    if len(axes) == 1:
        return _gradient_along(f, axes[0])
    if len(axes) == 2:  # (written out: derivative code of a comprehension is not differentiated again yet)
        return [_gradient_along(f, axes[0]), _gradient_along(f, axes[1])]
    return [_gradient_along(f, axes[0]), _gradient_along(f, axes[1]), _gradient_along(f, axes[2])]


def _gradient_along(f, axis):
    """np.gradient along one axis with unit spacing: central differences, one-sided at the ends."""
    n = np.shape(f)[axis]
    inner = (np.take(f, np.arange(2, n), axis=axis) - np.take(f, np.arange(0, n - 2), axis=axis)) / 2.0
    first = np.take(f, [1], axis=axis) - np.take(f, [0], axis=axis)
    last = np.take(f, [n - 1], axis=axis) - np.take(f, [n - 2], axis=axis)
    return np.concatenate([first, inner, last], axis=axis)


@defines(np.partition)
def partition(a, kth, axis=-1):
    return np.reshape(
        np.take(np.ravel(a), _rt.flat_along(np.argpartition(a, kth, axis=axis), axis)), np.shape(a)
    )


@defines(np.row_stack)
def row_stack(tup):
    return np.vstack(tup)


@defines(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation: the segment `np.searchsorted` finds (constant between the
    breakpoints), then the line through its ends; `left` / `right` outside (default: the end values)."""
    if period is not None:
        raise NotImplementedError("s2sad differentiates np.interp without `period=` only")
    n = np.shape(xp)[0]
    i = np.clip(np.searchsorted(xp, x, side="right"), 1, n - 1)
    x0, x1 = np.take(xp, i - 1), np.take(xp, i)
    y0, y1 = np.take(fp, i - 1), np.take(fp, i)
    y = y0 + (x - x0) / (x1 - x0) * (y1 - y0)
    below = np.take(fp, 0) if left is None else left
    above = np.take(fp, n - 1) if right is None else right
    return np.where(x < np.take(xp, 0), below, np.where(x > np.take(xp, n - 1), above, y))


@defines(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The trapezoidal rule along `axis`: the mean of neighbouring values times the spacing (`x`'s
    differences, or `dx`)."""
    n = np.shape(y)[axis]
    mean = (np.take(y, np.arange(1, n), axis=axis) + np.take(y, np.arange(0, n - 1), axis=axis)) / 2.0
    if x is None:
        return np.sum(mean * dx, axis=axis)
    widths = np.diff(x, axis=axis if np.ndim(x) == np.ndim(y) else -1)
    if np.ndim(x) == 1 and np.ndim(y) > 1:  # one row of points for every line along `axis`
        widths = np.reshape(widths, [n - 1 if k == axis % np.ndim(y) else 1 for k in range(np.ndim(y))])
    return np.sum(mean * widths, axis=axis)


@defines(np.polyval)
def polyval(p, x):
    """Horner's scheme, highest power first, as NumPy evaluates it."""
    y = p[0] + np.zeros_like(x)
    for k in range(1, len(p)):
        y = y * x + p[k]
    return y


@defines(np.linalg.multi_dot)
def multi_dot(arrays):
    out = arrays[0] @ arrays[1]
    for k in range(2, len(arrays)):
        out = out @ arrays[k]
    return out


@defines(np.linalg.matrix_power)
def matrix_power(a, n):
    """`a` multiplied by itself `n` times by repeated squaring (`n` < 0: of the inverse)."""
    if n < 0:
        a = np.linalg.inv(a)
        n = -n
    out = np.eye(np.shape(a)[-1]) + np.zeros_like(a)
    square = a
    while n > 0:
        if n % 2 == 1:
            out = out @ square
        n = n // 2
        if n > 0:
            square = square @ square
    return out


@defines(np.median)
def median(a, axis=None, keepdims=False):
    """The middle of the sorted values (the mean of the two middle ones for an even count)."""
    if axis is None:
        middle = _middle(np.ravel(a), 0)
        return np.reshape(np.mean(middle), (1,) * np.ndim(a)) if keepdims else np.mean(middle)
    return np.mean(_middle(a, axis), axis=axis, keepdims=keepdims)


def _middle(a, axis):
    n = np.shape(a)[axis]
    return np.take(np.sort(a, axis=axis), [(n - 1) // 2, n // 2], axis=axis)


@defines(np.convolve)
def convolve(a, v, mode="full"):
    """The discrete linear convolution `out[i] = sum_k a[i - k] v[k]`: the items of `a` (zero-padded)
    that meet each `v[k]`, as a matrix times `v`; the result cut to `mode`'s length (the middle
    `max(n, m)` items for "same", the full overlaps for "valid")."""
    a1, v1 = np.ravel(a), np.ravel(v)
    n, m = np.shape(a1)[0], np.shape(v1)[0]
    padded = np.concatenate((np.zeros(m - 1), a1, np.zeros(m - 1)))
    out = padded[np.arange(n + m - 1)[:, None] - np.arange(m)[None, :] + (m - 1)] @ v1
    if mode == "full":
        return out
    longer, shorter = max(n, m), min(n, m)
    if mode == "same":
        return out[(shorter - 1) // 2 : (shorter - 1) // 2 + longer]
    if mode == "valid":
        return out[shorter - 1 : longer]
    raise ValueError(f"np.convolve: mode must be 'full', 'same' or 'valid', not {mode!r}")


@defines(np.correlate)
def correlate(a, v, mode="valid"):
    """The cross-correlation of real sequences: the convolution with `v` reversed."""
    return convolve(a, np.ravel(v)[::-1], mode)


@defines(np.take_along_axis)
def take_along_axis(arr, indices, axis):
    """`arr` read at `indices` along `axis` (ranges along the other axes): one fancy index."""
    if axis is None:
        return np.ravel(arr)[indices]
    return arr[_rt.along_axis_index(np.shape(arr), indices, axis)]


@defines(np.quantile)
def quantile(a, q, axis=None):
    """NumPy's default ("linear") quantiles: between the two sorted values around `q (n - 1)`."""
    ordered = np.sort(np.ravel(a)) if axis is None else np.sort(np.moveaxis(a, axis, -1), axis=-1)
    n = np.shape(ordered)[-1]
    position = np.asarray(q) * (n - 1)
    below = np.clip(np.floor(position), 0, n - 1).astype(int)
    above = np.clip(below + 1, 0, n - 1)
    lower = ordered[..., below]
    result = lower + (ordered[..., above] - lower) * (position - below)
    k = np.ndim(q)  # NumPy puts the axes of `q` first
    return np.moveaxis(result, tuple(range(-k, 0)), tuple(range(k))) if k and axis is not None else result


@defines(np.percentile)
def percentile(a, q, axis=None):
    """`np.quantile` of `q / 100`."""
    return quantile(a, np.asarray(q) / 100.0, axis)


def max_of_sequence(iterable):
    """Python's `max(xs)` of numbers: the first largest one (its derivative too)."""
    values = np.asarray(iterable)
    return values[np.argmax(values)]


def min_of_sequence(iterable):
    """Python's `min(xs)` of numbers: the first smallest one (its derivative too)."""
    values = np.asarray(iterable)
    return values[np.argmin(values)]


OF_ONE_SEQUENCE = {max: max_of_sequence, min: min_of_sequence}  # `max(xs)`; `max(a, b)` has a rule


# -- run-time helpers of derivative code, written with operations that have rules ------------------
# Generated derivative code calls these helpers (`_rt.<name>`); first derivatives run the helper
# itself. When derivative code is differentiated again (`hessian`, `grad(grad(f))`), the helper's
# call is inlined as the definition below, so its derivatives, of any order, follow from the rules
# of the operations it uses.


@defines(_rt.sinc_derivative)
def sinc_derivative(x):
    """d sinc(x) / dx: the quotient away from 0, its Taylor polynomial near 0 (where the quotient
    cancels; the polynomial's own derivatives are those of sinc there, to rounding)."""
    near = np.abs(x) < 1e-3
    safe = np.where(near, 1.0, x)
    px2 = (np.pi * x) ** 2
    series = -(np.pi**2) * x / 3.0 * (1.0 - px2 / 10.0 + px2 * px2 / 280.0)
    return np.where(near, series, (np.cos(np.pi * safe) - np.sinc(safe)) / safe)


@defines(_rt.slogdet_tangent)
def slogdet_tangent(a, a_dot):
    logdet_dot = np.trace(np.linalg.solve(a, a_dot), axis1=-2, axis2=-1)
    return (np.zeros_like(logdet_dot), logdet_dot)


@defines(_rt.slogdet_adjoint)
def slogdet_adjoint(g, a):
    return np.expand_dims(_rt.item(g, 1), (-2, -1)) * _rt.matrix_t(np.linalg.inv(a))


def _eigh_f(w):
    """1 / (w_j - w_i) off the diagonal, 0 on it (distinct eigenvalues)."""
    diff = np.expand_dims(w, -2) - np.expand_dims(w, -1)
    same = diff == 0
    return np.where(same, 0.0, 1.0 / np.where(same, 1.0, diff))


@defines(_rt.eigh_tangent)
def eigh_tangent(z, a_dot):
    w, v = z[0], z[1]
    m = _rt.matrix_t(v) @ a_dot @ v
    return (diagonal(m, 0, -2, -1), v @ (_eigh_f(w) * m))


@defines(_rt.eigh_adjoint)
def eigh_adjoint(g, z):
    w, v = z[0], z[1]
    w_bar = _rt.broadcast_like(_rt.item(g, 0), w)  # (a missing cotangent is 0.0)
    v_bar = _rt.broadcast_like(_rt.item(g, 1), v)
    inner = _eigh_f(w) * (_rt.matrix_t(v) @ v_bar) + np.expand_dims(w_bar, -1) * np.eye(np.shape(w)[-1])
    a_bar = v @ inner @ _rt.matrix_t(v)
    return 0.5 * (a_bar + _rt.matrix_t(a_bar))


# helpers written with ruled operations in the run-time library itself: their own definitions
for _helper in (
    _rt.svd_tangent,
    _rt.svd_adjoint,
    _svd_parts,
    _svd_f,
    _rt.pinv_tangent,
    _rt.pinv_adjoint,
    _rt.norm_weight,
    _rt.log_or_zero,
    _rt.eig_tangent,
    _rt.eig_adjoint,
    _eig_f,
    _rt.qr_tangent,
    _rt.qr_adjoint,
    _qr_parts,
):
    defines(_helper)(_helper)
