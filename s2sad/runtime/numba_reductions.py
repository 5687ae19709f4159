"""The numba target's reductions along axes and their adjoints (numba has `np.sum(x, axis=k)` only).
NumPy and numba only (s2sad.runtime.numba gathers the helpers)."""

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.unsafe.ndarray import to_fixed_tuple

from .numba_arrays import JIT, is_array, is_number

# -- reductions along axes (numba has `np.sum(x, axis=k)` only). The axes and keepdims are constants
# at every call the target writes, typed as literals, so each call site compiles a loop nest for its
# array's rank: the array is seen as (before, along, after) with the reduced axes in the middle --------

_REDUCTIONS = ("sum", "prod", "mean", "max", "min", "argmax", "argmin")


def _literal_axes(axis, ndim):
    """The sorted axes a constant `axis` names (all of them for None), or None when numba did not
    type it as a constant (or it names an axis twice or out of range)."""
    if axis is None or isinstance(axis, (types.NoneType, types.Omitted)):
        return tuple(range(ndim))
    if isinstance(axis, types.IntegerLiteral):
        values = [axis]
    elif isinstance(axis, types.BaseTuple):
        values = list(axis.types)
    else:
        return None
    if not all(isinstance(v, types.IntegerLiteral) and -ndim <= v.literal_value < ndim for v in values):
        return None
    axes = sorted({v.literal_value % ndim for v in values})
    return tuple(axes) if len(axes) == len(values) else None


def _literal_flag(flag):
    if flag is None or isinstance(flag, (types.Omitted, types.NoneType)):
        return False
    if isinstance(flag, types.BooleanLiteral):
        return flag.literal_value
    return None


@numba.njit(**JIT)
def _frame(x, k):
    """`x` as a C-contiguous (before, along, after) array with axis `k` in the middle (a view when
    `x` is C-contiguous)."""
    c = np.ascontiguousarray(x)
    before = 1
    for d in range(k):
        before *= c.shape[d]
    after = 1
    for d in range(k + 1, c.ndim):
        after *= c.shape[d]
    return c.reshape((before, c.shape[k], after))


def _framer(ndim, axes):
    """`frame(x)`: `x` as (before, along, after), the axes in `axes` (sorted) merged into `along`."""
    if len(axes) == 1:
        k = axes[0]
        return numba.njit(**JIT)(lambda x: _frame(x, k))
    if len(axes) == ndim:
        return numba.njit(**JIT)(lambda x: np.ascontiguousarray(x).reshape((1, x.size, 1)))
    kept = len([d for d in range(ndim) if d not in axes])
    order = tuple(d for d in range(ndim) if d not in axes) + tuple(axes)

    def frame(x):  # the kept axes first: one copy, then a (before, along, 1) view
        c = np.ascontiguousarray(np.transpose(x, order))
        before = 1
        for d in range(kept):
            before *= c.shape[d]
        along = 1
        for d in range(kept, c.ndim):
            along *= c.shape[d]
        return c.reshape((before, along, 1))

    return numba.njit(**JIT)(frame)


def _shaper(ndim, axes, keepdims):
    """`shaped(small, x)`: `small`, holding one value per reduced slice of `x`, in the shape NumPy
    gives the reduction (`x`'s with the reduced axes 1 or dropped; a number when nothing is left)."""
    kept = tuple(d for d in range(ndim) if d not in axes)
    if not keepdims and not kept:
        return numba.njit(**JIT)(lambda small, x: small.ravel()[0])
    rank = ndim if keepdims else len(kept)
    where = tuple(range(ndim)) if keepdims else kept
    reduced = tuple(d in axes for d in range(ndim))

    def shaped(small, x):
        shape = np.empty(rank, np.int64)
        for j in range(rank):
            shape[j] = 1 if keepdims and reduced[j] else x.shape[where[j]]
        return np.ascontiguousarray(small).reshape(to_fixed_tuple(shape, rank))

    return numba.njit(**JIT)(shaped)


def reduce(x, op, axis, keepdims):
    """NumPy's `np.<op>(x, axis=axis, keepdims=keepdims)` (op: sum, prod, mean, max, min, argmax,
    argmin): what the numba target writes for a reduction along axes or with keepdims."""
    return getattr(np, op)(x, axis=axis, keepdims=keepdims)


def _sum_frame(v, out):
    for i in range(v.shape[0]):
        for t in range(v.shape[1]):
            for j in range(v.shape[2]):
                out[i, j] += v[i, t, j]


def _prod_frame(v, out):
    for i in range(v.shape[0]):
        for t in range(v.shape[1]):
            for j in range(v.shape[2]):
                out[i, j] *= v[i, t, j]


def _extremum_frame(larger):
    def extremum(v, out):
        for i in range(v.shape[0]):
            for j in range(v.shape[2]):
                best = v[i, 0, j]
                if best == best:  # NumPy's max propagates NaN
                    for t in range(1, v.shape[1]):
                        value = v[i, t, j]
                        if value != value:
                            best = value
                            break
                        if (value > best) if larger else (value < best):
                            best = value
                out[i, j] = best

    return extremum


def _argextremum_frame(larger):
    def argextremum(v, out):
        for i in range(v.shape[0]):
            for j in range(v.shape[2]):
                best = v[i, 0, j]
                where = 0
                if best == best:  # NumPy's argmax: the first NaN, else the first extremum
                    for t in range(1, v.shape[1]):
                        value = v[i, t, j]
                        if value != value:
                            where = t
                            break
                        if (value > best) if larger else (value < best):
                            best = value
                            where = t
                out[i, j] = where

    return argextremum


_FRAMES = {
    "sum": numba.njit(**JIT)(_sum_frame),
    "mean": numba.njit(**JIT)(_sum_frame),
    "prod": numba.njit(**JIT)(_prod_frame),
    "max": numba.njit(**JIT)(_extremum_frame(True)),
    "min": numba.njit(**JIT)(_extremum_frame(False)),
    "argmax": numba.njit(**JIT)(_argextremum_frame(True)),
    "argmin": numba.njit(**JIT)(_argextremum_frame(False)),
}


def _result_dtype(op, dtype):
    """The dtype NumPy gives `np.<op>` of an array of `dtype` (a numba type)."""
    if op in ("argmax", "argmin"):
        return np.int64
    if op == "mean":
        return np.float32 if dtype == types.float32 else np.float64
    if op in ("sum", "prod") and isinstance(dtype, types.Boolean):
        return np.int64
    if op in ("sum", "prod") and isinstance(dtype, types.Integer):
        return np.int64 if dtype.signed else np.uint64
    return numba.np.numpy_support.as_dtype(dtype).type


@overload(reduce, prefer_literal=True, jit_options=JIT)
def _reduce(x, op, axis, keepdims):
    if not (is_array(x) and x.ndim > 0 and isinstance(op, types.StringLiteral)):
        return None
    op, axes, keep = op.literal_value, _literal_axes(axis, x.ndim), _literal_flag(keepdims)
    if op not in _REDUCTIONS or axes is None or keep is None:
        return None
    if op in ("argmax", "argmin") and len(axes) not in (1, x.ndim):
        return None  # NumPy's argmax takes one axis (or none: the flat index)
    frame, shaped, combine = _framer(x.ndim, axes), _shaper(x.ndim, axes, keep), _FRAMES[op]
    dtype, start, mean = _result_dtype(op, x.dtype), {"sum": 0, "mean": 0, "prod": 1}.get(op), op == "mean"

    def implementation(x, op, axis, keepdims):
        v = frame(x)
        small = np.empty((v.shape[0], v.shape[2]), dtype)
        if start is not None:
            small[:] = start
        combine(v, small)
        if mean:
            small /= v.shape[1]
        return shaped(small, x)

    return implementation


def unreduce(g, x, axis=None, keepdims=False):
    """The cotangent `g` of a reduction of `x` along `axis` (all axes for None) spread over `x`'s shape."""
    if np.ndim(x) == 0:
        return g
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, np.shape(x)).copy()


def _kept_shape(ndim, axes):
    """`kept(x)`: `x`'s shape with the reduced axes 1 (what a cotangent broadcasts from)."""
    reduced = tuple(d in axes for d in range(ndim))

    def kept(x):
        shape = np.empty(ndim, np.int64)
        for d in range(ndim):
            shape[d] = 1 if reduced[d] else x.shape[d]
        return to_fixed_tuple(shape, ndim)

    return numba.njit(**JIT)(kept)


@overload(unreduce, prefer_literal=True, jit_options=JIT)
def _unreduce(g, x, axis=None, keepdims=False):
    if is_number(x):
        return lambda g, x, axis=None, keepdims=False: g
    if not is_array(x):
        return None
    axes = _literal_axes(axis, x.ndim)
    if axes is None:
        return None
    if is_number(g):
        return lambda g, x, axis=None, keepdims=False: np.full(x.shape, g)
    kept = _kept_shape(x.ndim, axes)

    def spread(g, x, axis=None, keepdims=False):
        return np.broadcast_to(np.ascontiguousarray(g).reshape(kept(x)), x.shape).copy()

    return spread


def mean_partials(x, axis=None):
    """d mean / d x: one over the number of entries averaged."""
    shape = np.shape(x)
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    return 1.0 / int(np.prod([shape[a] for a in axes]))


@overload(mean_partials, prefer_literal=True, jit_options=JIT)
def _mean_partials(x, axis=None):
    if not is_array(x):
        return lambda x, axis=None: 1.0
    axes = _literal_axes(axis, x.ndim)
    if axes is None:
        return None

    def partials(x, axis=None):
        count = 1
        for a in axes:
            count *= x.shape[a]
        return 1.0 / count

    return partials


def extremum_weights(x, z, axis=None):
    """d max / d x (or min): 1 on the extremum, split equally among tied entries (`z`: the extremum,
    with or without the reduced axes)."""
    x = np.asarray(x)
    if x.ndim == 0:
        return 1.0
    zk = unreduce(z, x, axis, keepdims=np.ndim(z) == x.ndim)
    mask = (x == zk).astype(np.float64)
    return mask / np.sum(mask, axis=axis, keepdims=True)


@overload(extremum_weights, prefer_literal=True, jit_options=JIT)
def _extremum_weights(x, z, axis=None):
    if is_number(x):
        return lambda x, z, axis=None: 1.0
    if not (is_array(x) and x.ndim > 0):
        return None
    axes = _literal_axes(axis, x.ndim)
    if axes is None:
        return None
    frame = _framer(x.ndim, axes)
    back = (lambda out, x: out.reshape(x.shape)) if len(axes) <= 1 or len(axes) == x.ndim else None
    if back is None:  # the frame moved the reduced axes last: move them back
        order = tuple(d for d in range(x.ndim) if d not in axes) + tuple(axes)
        inverse = tuple(int(i) for i in np.argsort(order))
        moved = _framed_shape(x.ndim, order)
        back = lambda out, x: np.ascontiguousarray(np.transpose(out.reshape(moved(x)), inverse))  # noqa: E731
    back = numba.njit(**JIT)(back)
    top = numba.njit(**JIT)(
        (lambda z: np.full((1, 1), z)) if is_number(z) else (lambda z: np.ascontiguousarray(z))
    )

    def weights(x, z, axis=None):
        v = frame(x)
        best = top(z).reshape((v.shape[0], v.shape[2]))
        out = np.zeros(v.shape)
        for i in range(v.shape[0]):
            for j in range(v.shape[2]):
                ties = 0
                for t in range(v.shape[1]):
                    if v[i, t, j] == best[i, j]:
                        ties += 1
                for t in range(v.shape[1]):
                    if v[i, t, j] == best[i, j]:
                        out[i, t, j] = 1.0 / ties
        return back(out, x)

    return weights


def _framed_shape(ndim, order):
    """`moved(x)`: the shape of `np.transpose(x, order)`."""

    def moved(x):
        shape = np.empty(ndim, np.int64)
        for d in range(ndim):
            shape[d] = x.shape[order[d]]
        return to_fixed_tuple(shape, ndim)

    return numba.njit(**JIT)(moved)
