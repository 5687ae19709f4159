"""Helpers that generated derivative code calls at run time: broadcasting and its adjoint, index
adjoints, in-place writes, argument checks and copies. List adjoints are in `lists.py`, calls of
derivatives compiled at run time in `calls.py`.

Kept small on purpose: the generated code is plain Python and NumPy; these are
only the operations that need a shape decided at run time.

>>> unbroadcast(np.ones((2, 3)), np.ones(3)).tolist()
[2.0, 2.0, 2.0]
>>> unbroadcast(np.ones((2, 3)), 1.0)
6.0
>>> getitem_adjoint(np.array([1.0, 2.0]), np.zeros(4), np.array([1, 1])).tolist()
[0.0, 3.0, 0.0, 0.0]
"""

import numpy as np

from ..errors import ArgumentError, NonScalarOutputError


def float_dtype(x):
    """The floating dtype derivatives of `x` carry: float32 stays float32, ints become float64."""
    dtype = np.asarray(x).dtype
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


_SCALARS = frozenset((float, int, np.float64, np.float32))  # classes of 0-d numbers: shape ()


def unbroadcast(g, like):
    """Sum `g` over the axes broadcasting added, so it has the shape of `like`."""
    if g.__class__ is np.ndarray and like.__class__ is np.ndarray and g.shape == like.shape:
        return g  # the common case, checked without function calls (this runs every loop step)
    if g.__class__ in _SCALARS and like.__class__ in _SCALARS:
        return g  # scalar code compiled without shapes (a recursion's derivative): every operation
    if isinstance(like, (list, tuple)) or isinstance(g, (list, tuple)):
        return g  # a list cotangent (derivative code adds them with `+`): item by item, no broadcasting
    shape = np.shape(like)
    gshape = np.shape(g)
    if gshape == shape:
        return g
    if not shape:
        return float(np.sum(g)) if isinstance(like, float) else np.sum(g)
    extra = len(gshape) - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and np.shape(g)[i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if np.shape(g) != shape:
        g = np.broadcast_to(g, shape).copy()
    return g


def broadcast_like(t, like):
    """Broadcast tangent `t` to the shape of the result `like` (forward mode)."""
    if isinstance(like, (list, tuple)) or isinstance(t, (list, tuple)):
        return t  # a list tangent: item by item, no broadcasting
    shape = np.shape(like)
    if np.shape(t) == shape:
        return t
    return np.broadcast_to(t, shape).copy()


class CotangentRecord(dict):
    """The cotangent of a record (a named tuple or dict, as a dict of its fields) that is an item of a
    list; `+` adds field by field, a zero placeholder leaves it as it is.

    >>> (CotangentRecord(W=1.0, b=2.0) + {"W": 10.0, "b": 0.5})["W"]
    11.0
    """

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self
        return CotangentRecord((k, v + other[k]) for k, v in self.items())

    __radd__ = __add__


def zeros_like(x):
    """A zero derivative for `x`: `0.0` for scalars, an array of zeros for arrays."""
    if x.__class__ is np.ndarray and x.dtype.kind in "fc" and x.dtype.itemsize >= 4:
        return np.zeros(x.shape, x.dtype)  # the common case, without the dtype promotion (every loop step)
    if isinstance(x, np.ndarray):
        return np.zeros_like(x, dtype=np.result_type(x.dtype, np.float32))
    if isinstance(x, (tuple, list)):
        return type(x)(zeros_like(v) for v in x)
    if isinstance(x, dict):  # a record in a list (`for layer in layers: layer.W`)
        return CotangentRecord((k, zeros_like(v)) for k, v in x.items())
    return 0.0


def like(g, x):
    """`g` if it already has `x`'s shape, else zeros of it plus `g` (a scalar zero)."""
    if g.__class__ is np.ndarray and x.__class__ is np.ndarray and g.shape == x.shape:
        return g  # without function calls: a recursion's derivative runs this at every level
    if g.__class__ in _SCALARS and x.__class__ in _SCALARS:
        return g
    if isinstance(x, (tuple, list)):  # a tuple's cotangent (`np.linalg.svd(a)`): item by item
        if isinstance(g, (tuple, list)):
            return g
        items = [like(g, v) for v in x]
        return items if isinstance(x, list) else tuple(items)
    if np.shape(g) == np.shape(x):
        return g
    return zeros_like(x) + g


def rereduce(h, g, axis=None, keepdims=False):
    """Sum `h` (shaped like the reduced array) back to the shape of the reduction's cotangent
    `g`: the transpose of `unreduce`, for code that is differentiated again."""
    return np.reshape(np.sum(h, axis=axis, keepdims=keepdims), np.shape(g))


def getitem_adjoint(g, x, index):
    """Adjoint of `x[index]`: `g` placed at `index` in zeros shaped like `x`."""
    out = np.zeros(np.shape(x), dtype=np.result_type(np.asarray(x).dtype, np.asarray(g).dtype, np.float32))
    np.add.at(out, index, g)
    return out


def _fancy(index):
    def fancy(i):
        return isinstance(i, (np.ndarray, list))

    return fancy(index) or (isinstance(index, tuple) and any(fancy(i) for i in index))


def last_writes(g, like, index):
    """`g`, shaped like `like[index]`, with zeros where a fancy `index` names a position that a
    later occurrence names again: `a[index] = v` keeps only the last of them (as NumPy does).

    >>> last_writes(np.array([1.0, 2.0, 3.0]), np.zeros(4), np.array([0, 2, 0])).tolist()
    [0.0, 2.0, 3.0]
    """
    if not _fancy(index):
        return g
    key = _index_key(np.shape(like), index)
    last = _LAST_WRITES.get(key, _MISSING) if key is not None else _MISSING
    if last is _MISSING:
        last = _last_of_repeated(like, index)
        if key is not None:
            if len(_LAST_WRITES) >= 256:
                _LAST_WRITES.clear()
            _LAST_WRITES[key] = last
    return g if last is None else np.where(last, g, 0.0)


def _last_of_repeated(like, index):
    """None if `index` names every position of `like` once, else where the last of each lands."""
    positions = np.arange(np.size(like)).reshape(np.shape(like))[index]
    flat = np.ravel(positions)
    if np.unique(flat).size == flat.size:
        return None
    last = np.zeros(flat.size, dtype=bool)
    _, first_of_reversed = np.unique(flat[::-1], return_index=True)
    last[flat.size - 1 - first_of_reversed] = True
    return last.reshape(np.shape(positions))


# what `_last_of_repeated` found, by shape and index: a constant index set (gmm's triangle
# positions, written at every call) is analysed once, not with np.unique at every call
_LAST_WRITES = {}
_MISSING = object()
_KEYED_INDEX_SIZE = 1 << 14  # index arrays up to this size are keyed by their bytes


def clear_memos():
    """Forget what the helpers worked out (`s2sad.cache.clear` calls this: the compiler registers it,
    since this package imports nothing of the compiler)."""
    _LAST_WRITES.clear()


def _index_key(shape, index):
    """A hashable key of `index` (slices, integers, None, small integer arrays), or None."""
    parts = [shape]
    for i in index if isinstance(index, tuple) else (index,):
        if isinstance(i, slice):
            parts.append(("slice", i.start, i.stop, i.step))
        elif i is None or i is Ellipsis or i.__class__ is int:
            parts.append(i)
        elif isinstance(i, np.ndarray) and i.dtype.kind in "iu" and i.size <= _KEYED_INDEX_SIZE:
            parts.append(("array", i.dtype.str, i.shape, i.tobytes()))
        else:
            return None  # a list, a boolean mask, a large array: analysed each time
    return tuple(parts)


def written_part(adjoint, index):
    """The cotangent of `value` in `a[index] = value`: `adjoint[index]`, as a new array, with zeros
    where a fancy index repeats a position before its last occurrence (that write was lost)."""
    return last_writes(copy(adjoint[index]), adjoint, index)


def check_not_tree(value, transform):
    """Derivative code written for any argument kinds (a transform called inside differentiated
    code) differentiates floats and arrays only: a dict, list or tuple gets s2sad's error."""
    if isinstance(value, (dict, list, tuple)):
        raise ArgumentError(
            f"a {transform} taken inside differentiated code is w.r.t. a {type(value).__name__}; such a derivative "
            "cannot be differentiated again yet",
            hint="differentiate the inner function w.r.t. array arguments (pass the arrays one by one)",
        )


def check_scalar(value, where):
    """Raise s2sad's error when `grad` meets a non-scalar output."""
    if np.ndim(value) != 0:
        filename, lineno, code = where[:3]
        what = where[3] if len(where) > 3 else "the function"
        hint = "reduce the output (np.sum, np.mean) or use s2sad.vjp / s2sad.jacrev"
        if what.startswith("`s2sad.grad(") or what.startswith("`s2sad.value_and_grad("):
            inner = what[what.index("(") + 1 : what.rindex(")")]
            hint = (
                f"the gradient of an array argument is an array: for the matrix of second derivatives use "
                f"`s2sad.hessian({inner})` (not hessian of its gradient) or `s2sad.jacfwd({what[1:-1]})`"
            )
        raise NonScalarOutputError(
            f"grad needs a scalar output; {what} returned shape {np.shape(value)}",
            filename,
            lineno,
            code,
            hint=hint,
        )
    return value


def copy(x):
    """A copy of an array slice or scalar, to push before it is overwritten."""
    return x.copy() if hasattr(x, "copy") else x


def copy_stack(stack):
    """A copy of a forward sweep's stack whose arrays may be restored in place."""
    return [v.copy() if isinstance(v, np.ndarray) else v for v in stack]


def owned(g, x):
    """A fresh float array shaped like `x` holding `g` (for adjoints updated in place)."""
    if x.__class__ is np.ndarray:
        out = zeros_like(x)
    else:
        out = np.zeros(np.shape(x), dtype=np.result_type(np.asarray(x).dtype, np.float32))
    out += g
    return out


def add_at(target, index, g):
    """`target[index] += g`, accumulating repeated integer indices."""
    if index.__class__ is tuple:
        for i in index:
            if i.__class__ is not int:
                break
        else:
            target[index] += g  # one element (scalar code: every step; a loop, not a comprehension's frame)
            return

    def fancy(i):
        return isinstance(i, (np.ndarray, list))

    if fancy(index) or (isinstance(index, tuple) and any(fancy(i) for i in index)):
        np.add.at(target, index, g)
    else:
        target[index] += g


def added_at(target, index, g):
    """`target` with `g` added at `index` (repeated indices accumulate), as a new array: the form
    of `add_at` in code that is differentiated again (`s2sad.frontend.nested`).

    >>> added_at(np.zeros(3), np.array([1, 1]), 2.0).tolist()
    [0.0, 4.0, 0.0]
    """
    out = np.array(target, dtype=np.result_type(np.asarray(target).dtype, np.asarray(g).dtype, np.float32))
    add_at(out, index, g)
    return out


def added_at_tangent(t, z, index, g):
    """Tangent of `z = added_at(target, index, g)`: the target's tangent `t` (a scalar zero when
    it has none) with the tangent `g` of the added values added at `index`."""
    return added_at(like(t, z), index, g)


def along_axis_index(shape, indices, axis):
    """The index `np.take_along_axis(a, indices, axis)` reads in `a` of shape `shape`: `indices` on
    `axis`, every other axis counted by a range that broadcasts against them.

    >>> along_axis_index((2, 3), np.array([[2], [0]]), 1)[0].tolist()
    [[0], [1]]
    """
    ndim = len(shape)
    axis = axis % ndim
    return tuple(
        indices if d == axis else np.arange(shape[d]).reshape((1,) * d + (-1,) + (1,) * (ndim - d - 1))
        for d in range(ndim)
    )


def at_shape(target, index):
    """The shape of `target[index]`: what `ufunc.at(target, index, b)` broadcasts `b` to."""
    return np.shape(np.empty(np.shape(target), dtype=np.int8)[index])


def at_positions(target, index):
    """The flat positions of `target` that `ufunc.at(target, index, b)` visits, in order, one per
    element of `target[index]` (a position repeats as often as the index names it).

    >>> at_positions(np.zeros((2, 2)), [1, 0, 1]).tolist()
    [2, 3, 0, 1, 2, 3]
    """
    shape = np.shape(target)
    return np.ravel(np.arange(int(np.prod(shape))).reshape(shape)[index])


def put_index(target, ind, mode="raise"):
    """The positions `np.put(target, ind, v, mode)` writes, as an index of `target`.

    >>> put_index(np.zeros((2, 2)), [3, -4])
    (array([1, 0]), array([1, 0]))
    """
    size = int(np.size(target))
    flat = np.ravel(np.asarray(ind, dtype=np.intp))
    if mode == "wrap":
        flat = flat % size
    elif mode == "clip":
        flat = np.clip(flat, 0, size - 1)
    else:
        if np.any((flat < -size) | (flat >= size)):
            raise IndexError(f"index out of range for array of size {size}")
        flat = np.where(flat < 0, flat + size, flat)
    return np.unravel_index(flat, np.shape(target))


def put_source(ind, values):
    """Which of the (flattened) `values` `np.put` writes at each position: they repeat cyclically."""
    return np.arange(np.size(ind)) % np.size(values)


def mask_index(target, mask):
    """The positions of `target` where the (flattened) `mask` is true, as an index of `target`."""
    return np.unravel_index(np.flatnonzero(mask), np.shape(target))


def place_source(mask, values):
    """Which of the (flattened) `values` `np.place` writes at each true position of `mask`."""
    return np.arange(np.count_nonzero(mask)) % np.size(values)


def putmask_source(mask, values):
    """Which of the (flattened) `values` `np.putmask` writes where `mask` is true: the one at the
    same flat position, cycled."""
    return np.flatnonzero(mask) % np.size(values)


def r_shape(item):
    """The shape an item of `np.r_[...]` takes before concatenation (a scalar becomes `(1,)`)."""
    return np.shape(np.atleast_1d(item))


def c_shape(item):
    """The shape an item of `np.c_[...]` takes: a 1-d array becomes a column, a scalar `(1, 1)`."""
    shape = np.shape(item)
    return shape if len(shape) >= 2 else (int(np.prod(shape)), 1)
