"""Run-time helpers of the NumPy rules: transposes, concatenation and stacking, splits, tiles,
repeats, pads, takes and indexing.

>>> [p.tolist() for p in concatenate_adjoint(np.arange(5.0), [np.zeros(2), np.zeros(3)])]
[[0.0, 1.0], [2.0, 3.0, 4.0]]
"""

import numpy as np

from .arrays import derivative_dtype
from .core import CotangentRecord, float_dtype, getitem_adjoint, unbroadcast, zeros_like

# -- shapes --------------------------------------------------------------------------------


def method_axes(axes):
    """The axes of `x.transpose(*axes)`: `()`, `(1, 0)` or `((1, 0),)` -> None or a tuple."""
    if len(axes) == 0:
        return None
    if len(axes) == 1 and np.ndim(axes[0]) != 0:
        return tuple(axes[0])
    if len(axes) == 1 and axes[0] is None:
        return None
    return tuple(axes)


def transpose_adjoint(g, axes=None):
    """Adjoint of `np.transpose(x, axes)`: the inverse permutation."""
    g = np.asarray(g)
    if axes is None:
        return np.transpose(g)
    axes = [a % g.ndim for a in axes]
    return np.transpose(g, np.argsort(axes))


class CotangentList(list):
    """Cotangents of the items of a list or tuple; `+` adds item by item, `[i]` indexes.

    >>> (CotangentList([1.0, 2.0]) + CotangentList([10.0, 20.0]))[1]
    22.0
    """

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self
        return CotangentList(_add(a, b) for a, b in zip(self, other))

    __radd__ = __add__


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _pieces(g, sizes, axis):
    bounds = np.cumsum(sizes)[:-1]
    return CotangentList(np.split(np.asarray(g), bounds, axis=axis))


def concatenate_adjoint(g, arrays, axis=0):
    """Adjoint of `np.concatenate(arrays, axis)`: the pieces of `g`, one per array."""
    if axis is None:
        sizes = [np.size(a) for a in arrays]
        return CotangentList(p.reshape(np.shape(a)) for p, a in zip(_pieces(np.ravel(g), sizes, 0), arrays))
    sizes = [np.shape(a)[axis] for a in arrays]
    return _pieces(g, sizes, axis)


def _piece(p, a):
    """An item of a list cotangent shaped like `a` (a scalar zero placeholder becomes zeros)."""
    return p if np.shape(p) == np.shape(a) else np.zeros(np.shape(a)) + p


def concatenate_pieces(pieces, g, arrays, axis=0):
    """The transpose of `concatenate_adjoint`: the pieces joined back into `g`'s shape."""
    if axis is None:
        return np.reshape(
            np.concatenate([np.ravel(_piece(p, a)) for p, a in zip(pieces, arrays)]), np.shape(g)
        )
    return np.concatenate([_piece(p, a) for p, a in zip(pieces, arrays)], axis=axis)


def stack_pieces(pieces, arrays, axis=0):
    """The transpose of `stack_adjoint`: the pieces stacked again."""
    return np.stack([_piece(p, a) for p, a in zip(pieces, arrays)], axis=axis)


def cumsum_transpose(h, g, axis=None):
    """The transpose of `cumsum_adjoint` (w.r.t. its cotangent `g`): a cumulative sum."""
    return np.reshape(np.cumsum(h, axis=axis), np.shape(g))


def tile_transpose(h, g, reps):
    """The transpose of `tile_adjoint`: the copies again."""
    return np.reshape(np.tile(h, reps), np.shape(g))


def stack_adjoint(g, arrays, axis=0):
    """Adjoint of `np.stack(arrays, axis)`."""
    g = np.asarray(g)
    return CotangentList(np.take(g, i, axis=axis) for i in range(len(arrays)))


def _stack_axis_pieces(g, arrays, shaped, axis):
    pieces = _pieces(g, [a.shape[axis] for a in shaped], axis)
    if isinstance(arrays, np.ndarray):  # `np.vstack(x)` of one array: its rows are the items
        return (
            np.reshape(g, arrays.shape)
            if axis == 0
            else np.stack([p.reshape(np.shape(a)) for p, a in zip(pieces, arrays)])
        )
    return CotangentList(p.reshape(np.shape(a)) for p, a in zip(pieces, arrays))


def _hstack_axis(arrays):
    return 0 if np.ndim(arrays[0]) <= 1 else 1


def hstack_adjoint(g, arrays):
    """Adjoint of `np.hstack(arrays)` (1-D pieces are joined on axis 0, others on axis 1)."""
    return _stack_axis_pieces(g, arrays, [np.atleast_1d(a) for a in arrays], _hstack_axis(arrays))


def vstack_adjoint(g, arrays):
    """Adjoint of `np.vstack(arrays)`."""
    return _stack_axis_pieces(g, arrays, [np.atleast_2d(a) for a in arrays], 0)


def hstack_pieces(pieces, g, arrays):
    """The transpose of `hstack_adjoint`: the pieces joined back into `g`'s shape."""
    return np.reshape(np.hstack([_piece(p, a) for p, a in zip(pieces, arrays)]), np.shape(g))


def vstack_pieces(pieces, g, arrays):
    """The transpose of `vstack_adjoint`: the pieces joined back into `g`'s shape."""
    return np.reshape(np.vstack([_piece(p, a) for p, a in zip(pieces, arrays)]), np.shape(g))


def split_tangent(t, indices_or_sections, axis=0):
    return CotangentList(np.split(t, indices_or_sections, axis=axis))


def split_adjoint(g, x, indices_or_sections, axis=0):
    """Adjoint of `np.split`: join the pieces' cotangents; missing or zero pieces are zeros."""
    parts = np.split(np.zeros(np.shape(x), dtype=float_dtype(x)), indices_or_sections, axis=axis)
    filled = []
    for k, zero in enumerate(parts):
        piece = g[k] if k < len(g) else None
        filled.append(zero if piece is None else zero + piece)
    return np.concatenate(filled, axis=axis)


def tile_adjoint(g, x, reps):
    """Adjoint of `np.tile(x, reps)`: sum the copies."""
    x_shape = np.shape(x)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(len(x_shape), len(reps))
    shape = (1,) * (ndim - len(x_shape)) + tuple(x_shape)
    reps = (1,) * (ndim - len(reps)) + reps
    g = np.asarray(g).reshape([n for pair in zip(reps, shape) for n in pair])
    return g.sum(axis=tuple(range(0, 2 * ndim, 2))).reshape(x_shape)


def repeat_adjoint(g, x, repeats, axis=None):
    """Adjoint of `np.repeat(x, repeats, axis)`: sum each run of copies (a run of 0 copies gets 0)."""
    g = np.asarray(g)
    shape = np.shape(x)
    if axis is None:
        n = int(np.prod(shape))
        owner = np.repeat(np.arange(n), np.broadcast_to(repeats, (n,)))
        return (
            np.bincount(owner, weights=g.reshape(-1), minlength=n)
            .astype(derivative_dtype(g, x))
            .reshape(shape)
        )
    axis = axis % len(shape)
    n = shape[axis]
    owner = np.repeat(np.arange(n), np.broadcast_to(repeats, (n,)))
    out = np.zeros(shape, dtype=derivative_dtype(g, x))
    np.add.at(np.moveaxis(out, axis, 0), owner, np.moveaxis(g, axis, 0))
    return out


def broadcast_to_adjoint(g, x):
    return unbroadcast(np.asarray(g), np.asarray(x)).reshape(np.shape(x))


def roll_adjoint(g, shift, axis=None):
    shift = -np.asarray(shift) if np.ndim(shift) else -shift
    return np.roll(g, shift, axis=axis)


def pad_adjoint(g, x, pad_width):
    """Adjoint of `np.pad(x, pad_width)` (constant mode): the middle of `g`."""
    ndim = np.ndim(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))
    index = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, np.shape(x)))
    return np.asarray(g)[index]


def take_adjoint(g, a, indices, axis=None):
    """Adjoint of `np.take(a, indices, axis)`: scatter-add (repeated indices accumulate)."""
    a = np.asarray(a)
    out = np.zeros(a.shape, dtype=derivative_dtype(g, a))
    if axis is None:
        np.add.at(out.reshape(-1), indices, g)
        return out
    moved = np.moveaxis(out, axis, 0)
    np.add.at(
        moved,
        indices,
        np.moveaxis(np.asarray(g), list(range(axis, axis + np.ndim(indices))), list(range(np.ndim(indices)))),
    )
    return out


def index_adjoint(g, x, index):
    """Adjoint of `x[index]` for arrays (scatter-add) and for lists / tuples (one slot)."""
    if isinstance(x, (list, tuple)) and not isinstance(index, slice):
        out = CotangentList(zeros_like(item) for item in x)
        out[index] = g
        return out
    if isinstance(x, dict):  # a field of a record held in a list: the record's cotangent, `g` at its key
        return CotangentRecord((k, g if k == index else zeros_like(v)) for k, v in x.items())
    return getitem_adjoint(g, x, index)


def item_adjoint(h, g, k):
    """The transpose of `item(g, k)`: a cotangent shaped like the tuple cotangent `g`, `h` in slot `k`
    (0.0 where `g` is a zero placeholder, which `item` read as 0.0 whatever `h`)."""
    if g is None or (isinstance(g, (int, float)) and g == 0):
        return 0.0
    out = CotangentList(np.zeros_like(v) if isinstance(v, np.ndarray) else 0.0 for v in g)
    out[k] = h
    return out


def item(g, k):
    """Item `k` of a tuple's cotangent, 0.0 if it is missing."""
    if g is None or (isinstance(g, (int, float)) and g == 0):
        return 0.0
    value = g[k]
    return 0.0 if value is None else value
