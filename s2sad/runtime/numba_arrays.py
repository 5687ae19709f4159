"""The numba target's tapes and element-wise helpers: tape arrays grown for `while` loops, zeros and
copies, cotangents summed to a shape (`unbroadcast`) or tangents broadcast to one, and NumPy's
vectorized loops for large arrays. NumPy and numba only (s2sad.runtime.numba gathers the helpers)."""

import numba
import numpy as np
from numba import types
from numba.extending import overload

JIT = {"cache": True, "nogil": True}


@numba.njit(**JIT)
def grow(tape, count):
    """`tape`, or a copy twice as long, so that position `count` exists (a `while` loop's tape)."""
    if count < tape.shape[0]:
        return tape
    bigger = np.empty(2 * tape.shape[0] + 1, tape.dtype)
    bigger[: tape.shape[0]] = tape
    return bigger


@numba.njit(**JIT)
def reserve(tape, count, more):
    """`tape`, or a longer copy, with room for `more` values from position `count` (a counted loop's
    tape inside an interleaved one: its trip count is known when it starts)."""
    if count + more <= tape.shape[0]:
        return tape
    bigger = np.empty(max(2 * tape.shape[0], count + more), tape.dtype)
    bigger[: tape.shape[0]] = tape
    return bigger


@numba.njit(**JIT)
def list_like(prototype):
    """An empty list for values of `prototype`'s type (a tape or stack of arrays)."""
    values = [prototype]
    values.pop()
    return values


def is_array(t):
    return isinstance(t, types.Array)


def is_number(t):
    return isinstance(t, (types.Float, types.Integer, types.Boolean))


def like(g, x):
    """`g` with the shape of `x`: `g` if it has it, else zeros shaped like `x` plus `g`."""
    if np.shape(g) == np.shape(x):
        return g
    return np.zeros(np.shape(x)) + g


@overload(like, jit_options=JIT)
def _like(g, x):
    if is_array(x) and is_array(g) and g.ndim == x.ndim:
        return lambda g, x: g if g.shape == x.shape else np.zeros(x.shape) + g
    if is_array(x):
        return lambda g, x: np.zeros(x.shape) + g
    if is_number(x) and is_number(g):
        return lambda g, x: g
    if is_number(x) and is_array(g):
        return lambda g, x: np.sum(g)
    return None


def zeros_like(x):
    """A zero derivative for `x`: `0.0` for a number, an array of float zeros for an array."""
    return np.zeros(np.shape(x)) if isinstance(x, np.ndarray) else 0.0


@overload(zeros_like, jit_options=JIT)
def _zeros_like(x):
    if is_array(x):
        return lambda x: np.zeros(x.shape)
    if is_number(x):
        return lambda x: 0.0
    if isinstance(x, types.List) and (is_array(x.dtype) or is_number(x.dtype)):  # a list adjoint
        return lambda x: [zeros_like(item) for item in x]
    return None


def item(g, k):
    """Item `k` of a list's or tuple's cotangent (the target starts a list cotangent as zeros)."""
    return g[k]


@overload(item, jit_options=JIT)
def _item(g, k):
    if isinstance(g, (types.List, types.UniTuple)):
        return lambda g, k: g[k]
    if is_number(g):  # a zero placeholder
        return lambda g, k: 0.0
    return None


def list_add_at(g, index, value):
    """`g[index] += value` on a list adjoint by rebinding the slot (element arrays may be shared, so they
    are never written into); a slice index adds a list item by item."""
    if isinstance(index, slice):
        for k, v in zip(range(*index.indices(len(g))), value):
            g[k] = g[k] + v
        return
    g[index] = g[index] + value


@overload(list_add_at, jit_options=JIT)
def _list_add_at(g, index, value):
    if not isinstance(g, types.List):
        return None
    if isinstance(index, types.Integer):

        def add(g, index, value):
            g[index] = g[index] + value

        return add
    if isinstance(index, types.SliceType) and isinstance(value, types.List):

        def add_slice(g, index, value):
            start, stop, step = index.indices(len(g))
            for k, j in enumerate(range(start, stop, step)):
                if k >= len(value):
                    break
                g[j] = g[j] + value[k]

        return add_slice
    return None


def owned(g, x):
    """A fresh float array shaped like `x` holding `g` (for adjoints updated in place)."""
    return np.zeros(np.shape(x)) + g


@overload(owned, jit_options=JIT)
def _owned(g, x):
    if is_array(x):
        return lambda g, x: np.zeros(x.shape) + g
    return lambda g, x: 0.0 + g


def copy(x):
    """A copy of an array (a number is its own copy)."""
    return x.copy() if isinstance(x, np.ndarray) else x


@overload(copy, jit_options=JIT)
def _copy(x):
    if is_array(x):
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


@numba.njit(**JIT)
def _sum_rows(g):
    return g.sum(axis=0)


@numba.njit(**JIT)
def _sum_to_row(g, rows):
    if rows == g.shape[0]:
        return g
    out = np.zeros((1, g.shape[1]))
    out[0] = g.sum(axis=0)
    return out


@numba.njit(**JIT)
def _sum_to_column(g, columns):
    if columns == g.shape[1]:
        return g
    out = np.zeros((g.shape[0], 1))
    out[:, 0] = g.sum(axis=1)
    return out


@overload(unbroadcast, jit_options=JIT)
def _unbroadcast(g, like):
    if is_number(like):
        if is_array(g):
            return lambda g, like: np.sum(g)
        return lambda g, like: g
    if not is_array(like):
        return None
    if is_number(g):
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
    if is_array(x) and isinstance(x.dtype, (types.Float, types.Integer, types.Boolean)):
        return _through_numpy(function, np.float32 if x.dtype == types.float32 else np.float64)
    if is_number(x):
        return lambda x, name: function(x)
    return None


def broadcast_like(t, like):
    """The tangent `t` broadcast to the shape of the result `like` (forward mode)."""
    return t if np.shape(t) == np.shape(like) else np.broadcast_to(t, np.shape(like)).copy()


@overload(broadcast_like, jit_options=JIT)
def _broadcast_like(t, like):
    if is_number(like):
        if is_array(t):
            return lambda t, like: t.ravel()[0]  # a 0-d or size-1 tangent of a number
        return lambda t, like: t
    if not is_array(like):
        return None
    if is_number(t):
        return lambda t, like: np.full(like.shape, t)
    if t.ndim == like.ndim:
        return lambda t, like: t if t.shape == like.shape else np.zeros(like.shape) + t
    if t.ndim < like.ndim:
        return lambda t, like: np.zeros(like.shape) + t
    return None
