"""What derivative code of the numba target calls: typed tapes and `@njit` versions of `_rt` helpers.

NumPy and numba only: never the compiler. Only the numba code target imports this module (numba
is an optional dependency; the Python target never imports it). Generated code reads these as
`_rt.NAME`, so a helper the Python runtime has and this module lacks is refused by the target
before numba runs.

A counted loop records each value in an array made before the loop (`np.empty(n)`); a `while`
loop in an array that `grow` doubles when it is full; arrays are recorded in lists.

>>> tape = np.empty(2)
>>> for count in range(5):
...     tape = grow(tape, count)
...     tape[count] = count * 0.5
>>> tape.shape[0], tape[:5].tolist()
(5, [0.0, 0.5, 1.0, 1.5, 2.0])
>>> like(2.0, np.ones(3)).tolist(), unbroadcast(np.ones((4, 3)), np.ones(3)).tolist()
([2.0, 2.0, 2.0], [4.0, 4.0, 4.0])
"""

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.unsafe.ndarray import to_fixed_tuple

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def grow(tape, count):
    """`tape`, or a copy twice as long, so that position `count` exists (a `while` loop's tape)."""
    if count < tape.shape[0]:
        return tape
    bigger = np.empty(2 * tape.shape[0] + 1, tape.dtype)
    bigger[: tape.shape[0]] = tape
    return bigger


@numba.njit(**_JIT)
def reserve(tape, count, more):
    """`tape`, or a longer copy, with room for `more` values from position `count` (a counted loop's
    tape inside an interleaved one: its trip count is known when it starts)."""
    if count + more <= tape.shape[0]:
        return tape
    bigger = np.empty(max(2 * tape.shape[0], count + more), tape.dtype)
    bigger[: tape.shape[0]] = tape
    return bigger


@numba.njit(**_JIT)
def list_like(prototype):
    """An empty list for values of `prototype`'s type (a tape or stack of arrays)."""
    values = [prototype]
    values.pop()
    return values


def _is_array(t):
    return isinstance(t, types.Array)


def _is_number(t):
    return isinstance(t, (types.Float, types.Integer, types.Boolean))


def like(g, x):
    """`g` with the shape of `x`: `g` if it has it, else zeros shaped like `x` plus `g`."""
    if np.shape(g) == np.shape(x):
        return g
    return np.zeros(np.shape(x)) + g


@overload(like, jit_options=_JIT)
def _like(g, x):
    if _is_array(x) and _is_array(g) and g.ndim == x.ndim:
        return lambda g, x: g if g.shape == x.shape else np.zeros(x.shape) + g
    if _is_array(x):
        return lambda g, x: np.zeros(x.shape) + g
    if _is_number(x) and _is_number(g):
        return lambda g, x: g
    if _is_number(x) and _is_array(g):
        return lambda g, x: np.sum(g)
    return None


def zeros_like(x):
    """A zero derivative for `x`: `0.0` for a number, an array of float zeros for an array."""
    return np.zeros(np.shape(x)) if isinstance(x, np.ndarray) else 0.0


@overload(zeros_like, jit_options=_JIT)
def _zeros_like(x):
    if _is_array(x):
        return lambda x: np.zeros(x.shape)
    if _is_number(x):
        return lambda x: 0.0
    return None


def owned(g, x):
    """A fresh float array shaped like `x` holding `g` (for adjoints updated in place)."""
    return np.zeros(np.shape(x)) + g


@overload(owned, jit_options=_JIT)
def _owned(g, x):
    if _is_array(x):
        return lambda g, x: np.zeros(x.shape) + g
    return lambda g, x: 0.0 + g


def copy(x):
    """A copy of an array (a number is its own copy)."""
    return x.copy() if isinstance(x, np.ndarray) else x


@overload(copy, jit_options=_JIT)
def _copy(x):
    if _is_array(x):
        return lambda x: x.copy()
    return lambda x: x


def unbroadcast(g, like):
    """`g` summed over the axes broadcasting added, so it has the shape of `like`."""
    shape, extra = np.shape(like), np.ndim(g) - np.ndim(like)
    if not shape:
        return np.sum(g)
    g = np.sum(g, axis=tuple(range(extra))) if extra > 0 else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and np.shape(g)[i] != 1)
    g = np.sum(g, axis=axes, keepdims=True) if axes else g
    return g if np.shape(g) == shape else np.broadcast_to(g, shape).copy()


@numba.njit(**_JIT)
def _sum_rows(g):
    return g.sum(axis=0)


@numba.njit(**_JIT)
def _sum_to_row(g, rows):
    if rows == g.shape[0]:
        return g
    out = np.zeros((1, g.shape[1]))
    out[0] = g.sum(axis=0)
    return out


@numba.njit(**_JIT)
def _sum_to_column(g, columns):
    if columns == g.shape[1]:
        return g
    out = np.zeros((g.shape[0], 1))
    out[:, 0] = g.sum(axis=1)
    return out


@overload(unbroadcast, jit_options=_JIT)
def _unbroadcast(g, like):
    if _is_number(like):
        if _is_array(g):
            return lambda g, like: np.sum(g)
        return lambda g, like: g
    if not _is_array(like):
        return None
    if _is_number(g):
        return lambda g, like: np.zeros(like.shape) + g
    if g.ndim == like.ndim == 1:
        return lambda g, like: g if g.shape[0] == like.shape[0] else np.zeros(like.shape) + np.sum(g)
    if g.ndim == 2 and like.ndim == 1:
        return lambda g, like: (
            _sum_rows(g) if like.shape[0] == g.shape[1] else np.zeros(like.shape) + np.sum(g)
        )
    if g.ndim == like.ndim == 2:
        return lambda g, like: _sum_to_column(_sum_to_row(g, like.shape[0]), like.shape[1])
    if g.ndim == like.ndim:
        return lambda g, like: g  # shapes the Python target specialized to: no broadcasting
    return None


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


@numba.njit(**_JIT)
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
        return numba.njit(**_JIT)(lambda x: _frame(x, k))
    if len(axes) == ndim:
        return numba.njit(**_JIT)(lambda x: np.ascontiguousarray(x).reshape((1, x.size, 1)))
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

    return numba.njit(**_JIT)(frame)


def _shaper(ndim, axes, keepdims):
    """`shaped(small, x)`: `small`, holding one value per reduced slice of `x`, in the shape NumPy
    gives the reduction (`x`'s with the reduced axes 1 or dropped; a number when nothing is left)."""
    kept = tuple(d for d in range(ndim) if d not in axes)
    if not keepdims and not kept:
        return numba.njit(**_JIT)(lambda small, x: small.ravel()[0])
    rank = ndim if keepdims else len(kept)
    where = tuple(range(ndim)) if keepdims else kept
    reduced = tuple(d in axes for d in range(ndim))

    def shaped(small, x):
        shape = np.empty(rank, np.int64)
        for j in range(rank):
            shape[j] = 1 if keepdims and reduced[j] else x.shape[where[j]]
        return np.ascontiguousarray(small).reshape(to_fixed_tuple(shape, rank))

    return numba.njit(**_JIT)(shaped)


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
    "sum": numba.njit(**_JIT)(_sum_frame),
    "mean": numba.njit(**_JIT)(_sum_frame),
    "prod": numba.njit(**_JIT)(_prod_frame),
    "max": numba.njit(**_JIT)(_extremum_frame(True)),
    "min": numba.njit(**_JIT)(_extremum_frame(False)),
    "argmax": numba.njit(**_JIT)(_argextremum_frame(True)),
    "argmin": numba.njit(**_JIT)(_argextremum_frame(False)),
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


@overload(reduce, prefer_literal=True, jit_options=_JIT)
def _reduce(x, op, axis, keepdims):
    if not (_is_array(x) and x.ndim > 0 and isinstance(op, types.StringLiteral)):
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

    return numba.njit(**_JIT)(kept)


@overload(unreduce, prefer_literal=True, jit_options=_JIT)
def _unreduce(g, x, axis=None, keepdims=False):
    if _is_number(x):
        return lambda g, x, axis=None, keepdims=False: g
    if not _is_array(x):
        return None
    axes = _literal_axes(axis, x.ndim)
    if axes is None:
        return None
    if _is_number(g):
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


@overload(mean_partials, prefer_literal=True, jit_options=_JIT)
def _mean_partials(x, axis=None):
    if not _is_array(x):
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


@overload(extremum_weights, prefer_literal=True, jit_options=_JIT)
def _extremum_weights(x, z, axis=None):
    if _is_number(x):
        return lambda x, z, axis=None: 1.0
    if not (_is_array(x) and x.ndim > 0):
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
    back = numba.njit(**_JIT)(back)
    top = numba.njit(**_JIT)(
        (lambda z: np.full((1, 1), z)) if _is_number(z) else (lambda z: np.ascontiguousarray(z))
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

    return numba.njit(**_JIT)(moved)


# -- NumPy's vectorized transcendental functions -------------------------------------------------
# numba evaluates np.tanh(x) one libm call per entry; NumPy's loops are vectorized (on this project's
# AVX-512 machine 20x faster for tanh, 5x for exp). An array of at least BULK entries goes to NumPy's
# loop (about 1 us to switch to object mode and back), a smaller one or a number stays in numba.

BULK = 128
VECTORIZED = ("tanh", "exp", "log", "arctan", "expm1", "log1p", "sinh", "cosh")


def ufunc(x, name):
    """`np.<name>(x)` (name one of VECTORIZED)."""
    return getattr(np, name)(x)


def _through_numpy(function, dtype):
    def implementation(x, name):
        if x.size < BULK:
            return function(x)
        out = np.empty(x.shape, dtype)
        with numba.objmode():
            function(x, out=out)
        return out

    return implementation


@overload(ufunc, prefer_literal=True, jit_options={"cache": True})  # no nogil: it takes the GIL
def _ufunc(x, name):
    if not (isinstance(name, types.StringLiteral) and name.literal_value in VECTORIZED):
        return None
    function = getattr(np, name.literal_value)
    if _is_array(x) and isinstance(x.dtype, (types.Float, types.Integer, types.Boolean)):
        return _through_numpy(function, np.float32 if x.dtype == types.float32 else np.float64)
    if _is_number(x):
        return lambda x, name: function(x)
    return None


def broadcast_like(t, like):
    """The tangent `t` broadcast to the shape of the result `like` (forward mode)."""
    return t if np.shape(t) == np.shape(like) else np.broadcast_to(t, np.shape(like)).copy()


@overload(broadcast_like, jit_options=_JIT)
def _broadcast_like(t, like):
    if _is_number(like):
        if _is_array(t):
            return lambda t, like: t.ravel()[0]  # a 0-d or size-1 tangent of a number
        return lambda t, like: t
    if not _is_array(like):
        return None
    if _is_number(t):
        return lambda t, like: np.full(like.shape, t)
    if t.ndim == like.ndim:
        return lambda t, like: t if t.shape == like.shape else np.zeros(like.shape) + t
    if t.ndim < like.ndim:
        return lambda t, like: np.zeros(like.shape) + t
    return None


def product_sum(gs, vs, side, w):
    """The sum over a loop of the adjoints of `w @ v` (side "x": `g v^T`) or `v @ w` (side "y": `v^T g`)
    as one matrix product (zeros shaped like `w` for no step); vectors or matrices per step."""
    if not gs:
        return np.zeros(np.shape(w))
    if np.ndim(gs[0]) == 1:
        G, V = np.array(gs), np.array(vs)
        return G.T @ V if side == "x" else V.T @ G
    if side == "x":
        return np.concatenate(gs, axis=1) @ np.concatenate(vs, axis=1).T
    return np.concatenate(vs, axis=0).T @ np.concatenate(gs, axis=0)


@numba.njit(**_JIT)
def _stacked(xs, along_rows):
    """The matrices of the list `xs` side by side (along_rows False) or one under the other."""
    rows, columns = xs[0].shape
    count = len(xs)
    out = np.empty((rows * count, columns) if along_rows else (rows, columns * count))
    for k in range(count):
        if along_rows:
            out[k * rows : (k + 1) * rows] = xs[k]
        else:
            out[:, k * columns : (k + 1) * columns] = xs[k]
    return out


@overload(product_sum, jit_options=_JIT)
def _product_sum(gs, vs, side, w):
    ndim = getattr(getattr(gs, "dtype", None), "ndim", None)
    if ndim == 1:

        def vectors(gs, vs, side, w):
            count = len(gs)
            if count == 0:
                return np.zeros(w.shape)
            G = np.empty((count, gs[0].shape[0]))
            V = np.empty((count, vs[0].shape[0]))
            for k in range(count):
                G[k] = gs[k]
                V[k] = vs[k]
            return G.T @ V if side == "x" else V.T @ G

        return vectors
    if ndim == 2:

        def matrices(gs, vs, side, w):
            if len(gs) == 0:
                return np.zeros(w.shape)
            if side == "x":
                return _stacked(gs, False) @ _stacked(vs, False).T
            return _stacked(vs, True).T @ _stacked(gs, True)

        return matrices
    return None


@numba.njit(**_JIT)
def cotangent_sum(gs, side, w):
    """The sum of the cotangents `g` a loop gave `product_sum` (zeros shaped like one for no step)."""
    total = np.zeros(w.shape[0] if side == "x" else w.shape[1])
    for g in gs:
        total += g
    return total


def matmul_adjoint_x(g, x, y):
    """Adjoint of `x @ y` with respect to `x`, for vectors and matrices."""
    if np.ndim(x) == 2:
        return np.outer(g, y) if np.ndim(y) == 1 else g @ y.T
    return y @ g if np.ndim(y) == 2 else g * y


@overload(matmul_adjoint_x, jit_options=_JIT)
def _matmul_adjoint_x(g, x, y):
    if not (_is_array(x) and _is_array(y)) or x.ndim > 2 or y.ndim > 2:
        return None
    if x.ndim == 2:
        if y.ndim == 1:
            return lambda g, x, y: np.outer(g, y)
        if y.layout in "CF":  # its transpose is contiguous too: BLAS reads it as it is
            return lambda g, x, y: g @ y.T
        return lambda g, x, y: g @ np.ascontiguousarray(y.T)
    if y.ndim == 2:
        return lambda g, x, y: np.ascontiguousarray(y) @ g
    return lambda g, x, y: g * y


def matmul_adjoint_y(g, x, y):
    """Adjoint of `x @ y` with respect to `y`, for vectors and matrices."""
    if np.ndim(y) == 2:
        return x.T @ g if np.ndim(x) == 2 else np.outer(x, g)
    return x.T @ g if np.ndim(x) == 2 else g * x


@overload(matmul_adjoint_y, jit_options=_JIT)
def _matmul_adjoint_y(g, x, y):
    if not (_is_array(x) and _is_array(y)) or x.ndim > 2 or y.ndim > 2:
        return None
    if y.ndim == 2 and x.ndim == 1:
        return lambda g, x, y: np.outer(x, g)
    if x.ndim == 2:
        if x.layout in "CF":
            return lambda g, x, y: x.T @ g
        return lambda g, x, y: np.ascontiguousarray(x.T) @ g
    return lambda g, x, y: g * x


def add_at(target, index, g):
    """`target[index] += g` for an integer or slice index (repeated positions of an index array
    accumulate: one position at a time)."""
    if isinstance(index, np.ndarray):
        np.add.at(target, index, g)
    else:
        target[index] += g


def _array_indices(index):
    """How many 1-d integer arrays the index tuple `index` is made of (None if it is not one)."""
    if isinstance(index, types.BaseTuple) and len(index) > 1:
        if all(
            isinstance(i, types.Array) and i.ndim == 1 and isinstance(i.dtype, types.Integer) for i in index
        ):
            return len(index)
    return None


def _positions(count):
    """`positions(shape, index)`: the flat positions (over the first `count` axes) the integer arrays of
    `index` name together (NumPy's `x[i, j]` with arrays `i`, `j` of one length)."""

    def positions(shape, index):
        n = index[0].shape[0]
        out = np.empty(n, np.int64)
        for k in range(n):
            position = 0
            for a in range(count):
                if index[a].shape[0] != n:
                    raise IndexError("shape mismatch: indexing arrays could not be broadcast together")
                i = index[a][k]
                if i < 0:
                    i += shape[a]
                if i < 0 or i >= shape[a]:
                    raise IndexError("index out of bounds")
                position = position * shape[a] + i
            out[k] = position
        return out

    return numba.njit(**_JIT)(positions)


def _flat_leading(count):
    """`flat(x)`: `x` (C-contiguous) with its first `count` axes merged into one (a view)."""

    def flat(x):
        size = 1
        for a in range(count):
            size *= x.shape[a]
        return x.reshape((size,) + x.shape[count:])

    return numba.njit(**_JIT)(flat)


def gather(x, index):
    """`x[i, j, ...]` for a tuple of integer arrays (numba takes one array index at a time)."""
    return x[index]


@overload(gather, jit_options=_JIT)
def _gather(x, index):
    count = _array_indices(index)
    if not _is_array(x) or count is None or count > x.ndim:
        return None
    positions, flat = _positions(count), _flat_leading(count)
    return lambda x, index: flat(np.ascontiguousarray(x))[positions(x.shape, index)]


@overload(add_at, jit_options=_JIT)
def _add_at(target, index, g):
    if not _is_array(target):
        return None
    count = _array_indices(index)
    if count is not None and count <= target.ndim and target.layout == "C":
        positions, flat = _positions(count), _flat_leading(count)
        if _is_array(g):

            def accumulate_rows(target, index, g):
                rows, at = flat(target), positions(target.shape, index)
                for k in range(at.shape[0]):
                    rows[at[k]] += g[k]

            return accumulate_rows

        def accumulate_number(target, index, g):
            rows, at = flat(target), positions(target.shape, index)
            for k in range(at.shape[0]):
                rows[at[k]] += g

        return accumulate_number
    if isinstance(index, types.Array) and index.ndim == 1 and isinstance(index.dtype, types.Integer):
        if _is_array(g):

            def accumulate(target, index, g):
                for k in range(index.shape[0]):
                    target[index[k]] += g[k]

        else:

            def accumulate(target, index, g):
                for k in range(index.shape[0]):
                    target[index[k]] += g

        return accumulate
    if isinstance(index, (types.Integer, types.SliceType)) or (
        isinstance(index, types.BaseTuple)
        and all(isinstance(i, (types.Integer, types.SliceType)) for i in index)
    ):

        def add(target, index, g):
            target[index] += g

        return add
    return None


def index_adjoint(g, x, index):
    """Adjoint of `x[index]` for an array `x`: `g` added at `index` into zeros shaped like `x`."""
    out = np.zeros(np.shape(x))
    np.add.at(out, index, g)
    return out


@overload(index_adjoint, jit_options=_JIT)
def _index_adjoint(g, x, index):
    if not _is_array(x):
        return None

    def scatter(g, x, index):
        out = np.zeros(x.shape)
        add_at(out, index, g)
        return out

    return scatter
