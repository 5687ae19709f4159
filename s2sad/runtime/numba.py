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


def unreduce(g, x, axis=None, keepdims=False):
    """The cotangent `g` of a reduction of all of `x` spread over `x`'s shape."""
    return np.broadcast_to(g, np.shape(x)).copy() if np.shape(x) else g


@overload(unreduce, jit_options=_JIT)
def _unreduce(g, x, axis=None, keepdims=False):
    if not isinstance(axis, (types.NoneType, types.Omitted)) and axis is not None:
        return None  # along one axis: not written for numba yet (the target refuses it)
    if _is_array(x) and _is_number(g):
        return lambda g, x, axis=None, keepdims=False: np.full(x.shape, g)
    if _is_number(x):
        return lambda g, x, axis=None, keepdims=False: g
    return None


def mean_partials(x, axis=None):
    """d mean / d x: one over the number of entries averaged."""
    return 1.0 / np.size(x)


@overload(mean_partials, jit_options=_JIT)
def _mean_partials(x, axis=None):
    if not isinstance(axis, (types.NoneType, types.Omitted)) and axis is not None:
        return None
    if _is_array(x):
        return lambda x, axis=None: 1.0 / x.size
    return lambda x, axis=None: 1.0


@numba.njit(**_JIT)
def product_sum(gs, vs, side, w):
    """The sum over a loop of outer products `g v^T` (side "x", the adjoint of `w` in `w @ v`) or
    `v g^T` (side "y", in `v @ w`) as one matrix product (zeros shaped like `w` for no step)."""
    count = len(gs)
    if count == 0:
        return np.zeros(w.shape)
    G = np.empty((count, gs[0].shape[0]))
    V = np.empty((count, vs[0].shape[0]))
    for k in range(count):
        G[k] = gs[k]
        V[k] = vs[k]
    return G.T @ V if side == "x" else V.T @ G


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
        return lambda g, x, y: np.ascontiguousarray(x.T) @ g
    return lambda g, x, y: g * x


def add_at(target, index, g):
    """`target[index] += g` for an integer or slice index (repeated positions of an index array
    accumulate: one position at a time)."""
    if isinstance(index, np.ndarray):
        np.add.at(target, index, g)
    else:
        target[index] += g


@overload(add_at, jit_options=_JIT)
def _add_at(target, index, g):
    if not _is_array(target):
        return None
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
