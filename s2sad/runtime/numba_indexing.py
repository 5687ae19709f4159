"""The numba target's indexing: several integer arrays as one index, and `x[index]`'s adjoint with
repeated positions accumulated. NumPy and numba only (s2sad.runtime.numba gathers the helpers)."""

import numba
import numpy as np
from numba import types
from numba.extending import overload

from .numba_arrays import JIT, is_array


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

    return numba.njit(**JIT)(positions)


def _flat_leading(count):
    """`flat(x)`: `x` (C-contiguous) with its first `count` axes merged into one (a view)."""

    def flat(x):
        size = 1
        for a in range(count):
            size *= x.shape[a]
        return x.reshape((size,) + x.shape[count:])

    return numba.njit(**JIT)(flat)


def gather(x, index):
    """`x[i, j, ...]` for a tuple of integer arrays (numba takes one array index at a time)."""
    return x[index]


@overload(gather, jit_options=JIT)
def _gather(x, index):
    count = _array_indices(index)
    if not is_array(x) or count is None or count > x.ndim:
        return None
    positions, flat = _positions(count), _flat_leading(count)
    return lambda x, index: flat(np.ascontiguousarray(x))[positions(x.shape, index)]


@overload(add_at, jit_options=JIT)
def _add_at(target, index, g):
    if not is_array(target):
        return None
    count = _array_indices(index)
    if count is not None and count <= target.ndim and target.layout == "C":
        positions, flat = _positions(count), _flat_leading(count)
        if is_array(g):

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
        if is_array(g):

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


@overload(index_adjoint, jit_options=JIT)
def _index_adjoint(g, x, index):
    if not is_array(x):
        return None

    def scatter(g, x, index):
        out = np.zeros(x.shape)
        add_at(out, index, g)
        return out

    return scatter
