"""Helpers of demanded columns in vector forward mode (`s2sad.transforms.forward_columns`).

A value read only through gathers on its last axis (`v[:, idx]`) needs its tangent at
those columns alone: the tangents that lead to it carry `cols.index` (every column a
gather reads, once, in order) on their last axis instead of all columns. The shapes this relies
on are checked where they are known, at run time; where they do not hold the call raises
`ColumnsMismatch` and `jacfwd` runs the function again without demanded columns.

>>> cols = column_union(np.array([3, 1]), np.array([[0], [3]]))
>>> cols.index.tolist(), [p.tolist() for p in cols.parts]
([0, 1, 3], [[2, 1], [0, 2]])
>>> columns(np.arange(8.0).reshape(2, 4), cols).tolist()
[[0.0, 1.0, 3.0], [4.0, 5.0, 7.0]]
>>> columns(np.ones((2, 1)), cols).shape, columns(2.0, cols)
((2, 1), 2.0)
>>> v_dot = np.arange(9.0).reshape(3, 1, 3)      # 3 directions, a (1, 4) value at cols
>>> gathered_columns(v_dot, cols, 1, np.zeros((1, 4)), 1)[1].tolist()
[[[3.0], [5.0]]]
"""

import numpy as np


class ColumnsMismatch(Exception):
    """A value's shape does not allow demanded columns (a gather not on the last axis, a
    matrix product by a vector): the caller runs the derivative without them."""


class Columns:
    """The columns demanded of a family of values: `index` (every column some gather reads, once),
    and for each gather where its columns are in `index` (`parts`) and its index's shape."""

    __slots__ = ("index", "parts", "shapes")

    def __init__(self, index, parts, shapes):
        self.index, self.parts, self.shapes = index, parts, shapes


def column_union(*indices):
    """The `Columns` of gathers by `indices` (integer arrays), in order."""
    flat, shapes = [], []
    for idx in indices:
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise ColumnsMismatch("a gather by a non-integer index")
        flat.append(idx.ravel())
        shapes.append(idx.shape)
    every = np.concatenate(flat) if flat else np.zeros(0, dtype=int)
    index, where = np.unique(every, return_inverse=True)
    parts, at = [], 0
    for f in flat:
        parts.append(where[at : at + f.size])
        at += f.size
    return Columns(index, parts, shapes)


def columns(x, cols, matrix=False):
    """The value `x` (an operand of a value at demanded columns) at those columns: its last axis
    broadcasts along theirs, so it is taken at `cols.index` unless it has length 1 or `x` is a
    scalar. `matrix`: `x` is the right operand of a matrix product, whose last axis is the
    result's only if `x` has two axes or more."""
    ndim = np.ndim(x)
    if matrix and ndim < 2:
        raise ColumnsMismatch("a matrix product by a vector")
    if ndim == 0 or np.shape(x)[-1] == 1:
        return x
    return _take(x, cols)


def tangent_columns(t, x, cols, matrix=False):
    """The tangent directions `t` of the value `x`, at the demanded columns (see `columns`)."""
    ndim = np.ndim(x)
    if matrix and ndim < 2:
        raise ColumnsMismatch("a matrix product by a vector")
    if ndim == 0 or np.shape(x)[-1] == 1:
        return t
    return _take(t, cols)


def _take(x, cols):
    try:
        return np.take(x, cols.index, axis=-1)
    except IndexError:  # the index was meant for another axis (or is out of range: the primal says so)
        raise ColumnsMismatch("an index out of the last axis") from None


def matrix_tangent(t, x):
    """`t`, the tangent at demanded columns of the right operand `x` of a matrix product, once `x`
    is known to have two axes or more (its last axis is then the product's)."""
    if np.ndim(x) < 2:
        raise ColumnsMismatch("a matrix product by a vector")
    return t


def gathered_columns(t, cols, part, v, leading):
    """The tangent of `v[:, ..., idx]` (`leading` full slices, then the gather `part` of `cols`) from
    `t`, the tangent of `v` at the demanded columns. The gather must be on `v`'s last axis."""
    if np.ndim(v) != leading + 1:
        raise ColumnsMismatch("a gather not on the last axis")
    return np.take(t, cols.parts[part], axis=-1).reshape(t.shape[:-1] + cols.shapes[part])


__all__ = [
    "ColumnsMismatch",
    "Columns",
    "column_union",
    "columns",
    "tangent_columns",
    "matrix_tangent",
    "gathered_columns",
]
