"""Helpers that generated derivative code calls at run time.

Kept small on purpose: the generated code is plain Python and NumPy; these are
only the operations that need a shape decided at run time.

>>> unbroadcast(np.ones((2, 3)), np.ones(3)).tolist()
[2.0, 2.0, 2.0]
>>> unbroadcast(np.ones((2, 3)), 1.0)
6.0
>>> getitem_adjoint(np.array([1.0, 2.0]), np.zeros(4), np.array([1, 1])).tolist()
[0.0, 3.0, 0.0, 0.0]
"""

import gc
import linecache
import sys
import threading

import numpy as np

from ..errors import ArgumentError, NonScalarOutputError, RecursionDepthError


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


def zeros_like(x):
    """A zero derivative for `x`: `0.0` for scalars, an array of zeros for arrays."""
    if x.__class__ is np.ndarray and x.dtype.kind in "fc" and x.dtype.itemsize >= 4:
        return np.zeros(x.shape, x.dtype)  # the common case, without the dtype promotion (every loop step)
    if isinstance(x, np.ndarray):
        return np.zeros_like(x, dtype=np.result_type(x.dtype, np.float32))
    if isinstance(x, (tuple, list)):
        return type(x)(zeros_like(v) for v in x)
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
_KEYED_INDEX_SIZE = 1 << 14  # index arrays up to this size are keyed by their bytes


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
    if index.__class__ is tuple and all([i.__class__ is int for i in index]):
        target[index] += g  # one element (scalar code: every step)
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


# -- lists: adjoints are lists kept aligned with the primal list, element by element ------------
#
# A list's adjoint `xs_bar` is a Python list with one cotangent per element of `xs`, or a scalar
# zero placeholder (`0.0`) while nothing has flowed into it. The list itself is changed in place
# (`pop`, `append`, slot writes) but its elements never are: an element cotangent may be shared.


def list_like(g, like):
    """The list adjoint `g`, or zeros aligned with the list `like` if `g` is a zero placeholder.

    >>> list_like(0.0, [1.5, np.ones(2)])
    [0.0, array([0., 0.])]
    """
    if isinstance(g, list):
        return g
    if isinstance(g, tuple):  # a tangent list literal that forward mode kept as a tuple
        return list(g)
    return zeros_like(like)


def _element_cotangent(g, like):
    if isinstance(like, list):
        return list_cotangent(g, like)
    if isinstance(like, np.ndarray):
        g = np.asarray(g)
        return g if g.shape == like.shape else np.broadcast_to(g, like.shape).copy()
    if isinstance(g, (np.ndarray, np.floating)) and np.ndim(g) == 0:
        return float(g)
    return g


def list_cotangent(g, like):
    """A new list adjoint aligned with the list `like`, from `g`: a list (or tuple) of element
    cotangents, an array with one row per element (`np.array(xs)`'s adjoint), or a zero.

    >>> list_cotangent(np.array([[1.0, 2.0], [3.0, 4.0]]), [np.zeros(2), np.zeros(2)])
    [array([1., 2.]), array([3., 4.])]
    >>> list_cotangent(np.array([1.0, 2.0]), [0.5, 0.7])
    [1.0, 2.0]
    """
    if not isinstance(g, (list, tuple, np.ndarray)):
        if g == 0:
            return zeros_like(like)
        return [_element_cotangent(g, item) for item in like]  # a scalar seed: broadcast
    if isinstance(g, np.ndarray) and g.ndim == 0:
        return [_element_cotangent(g, item) for item in like]
    if isinstance(g, np.ndarray) and g.shape[0] == len(like):  # rows of `np.array(xs)`'s adjoint
        if g.ndim == 1:
            return g.tolist()  # scalar items
        if like and isinstance(like[0], np.ndarray) and like[0].shape == g.shape[1:]:
            return list(g)  # (items of a list of arrays have one shape, or np.array would have failed)
    return [_element_cotangent(g[k], item) for k, item in enumerate(like)]


def list_cotangent_transpose(h, g):
    """The transpose of `list_cotangent(g, like)` w.r.t. `g`: the list cotangent `h` in the form of
    `g` (rows of an array, a list, or summed into a scalar seed)."""
    if isinstance(g, np.ndarray) and g.ndim > 0:
        return np.reshape(np.array([np.broadcast_to(item, g.shape[1:]) for item in h], dtype=float), g.shape)
    if isinstance(g, (list, tuple)):
        return type(g)(h)
    return sum(float(np.sum(item)) for item in h)


def form_of(h, g):
    """The cotangent `h` in the form of `g`: a list aligned with `g` if `g` is a list or tuple, else
    an array of `g`'s shape (the transpose of `list_as` and `list_source_adjoint`)."""
    if isinstance(g, (list, tuple)):
        return list_cotangent(h, g)
    if isinstance(h, (list, tuple)):
        h = np.array([np.broadcast_to(item, np.shape(g)[1:]) for item in h], dtype=float)
    return np.reshape(h, np.shape(g)) if np.ndim(g) else h


def _plus(a, b):
    if isinstance(a, list) or isinstance(b, list):
        return list_add(a, b)
    return a + b


def list_add(a, b, like=None):
    """The sum of two list adjoints, either of which may be a zero placeholder; `b` may be an
    array of rows when the primal list `like` is given. A new list.

    >>> list_add([1.0, 2.0], np.array([10.0, 20.0]), [0.0, 0.0])
    [11.0, 22.0]
    """
    a = list(a) if isinstance(a, tuple) else a  # tangent list literals that forward mode kept as tuples
    b = list(b) if isinstance(b, tuple) else b
    if like is not None:
        b = list_cotangent(b, like)
    if not isinstance(b, list):
        return a if isinstance(a, list) else a + b
    if not isinstance(a, list):
        return list(b)
    return [_plus(x, y) for x, y in zip(a, b)]


def list_as(g, b):
    """The list cotangent `g` in the form of `b`: an array of rows if `b` is an array."""
    if isinstance(b, np.ndarray) and isinstance(g, (list, tuple)):
        return np.array(g)
    return g


def list_add_at(g, index, value):
    """`g[index] += value` on a list adjoint by rebinding the slot (element arrays may be shared,
    so they are never written into); a slice index adds a list item by item.

    >>> g = [0.0, 0.0, 0.0]
    >>> list_add_at(g, -1, 2.0); list_add_at(g, slice(0, 2), [1.0, 3.0]); g
    [1.0, 3.0, 2.0]
    """
    if isinstance(index, slice):
        if isinstance(value, list):
            for k, v in zip(range(*index.indices(len(g))), value):
                g[k] = _plus(g[k], v)
        return
    g[index] = _plus(g[index], value)


def list_insert(xs, index, value):
    """Undo `xs.pop(index)`: put `value` back where it was (negative indexes too).

    >>> xs = [1, 2, 3]; y = xs.pop(-2); list_insert(xs, -2, y); xs
    [1, 2, 3]
    """
    xs.insert(index if index >= 0 else len(xs) + 1 + index, value)


def list_part(g, start, stop):
    """Items `start:stop` of a list adjoint (the adjoint of one side of `xs + ys`)."""
    return list(g[start:stop]) if isinstance(g, list) else g


def list_repeat_adjoint(g, xs):
    """Adjoint of `xs * n` for a list: the cotangents of the `n` copies of each item, summed.

    >>> list_repeat_adjoint([1.0, 2.0, 3.0, 4.0], [0.5, 0.5]), list_repeat_adjoint([], [0.5])
    ([4.0, 6.0], [0.0])
    """
    if not isinstance(g, list):
        return g
    out = zeros_like(xs)
    size = len(xs)
    for start in range(0, len(g) if size else 0, size or 1):
        out = [_plus(a, b) for a, b in zip(out, g[start : start + size])]
    return out


def list_source_adjoint(g, x):
    """Adjoint of `list(x)`: a list adjoint for a list `x`, an array for an array `x`."""
    if isinstance(x, np.ndarray):
        if not isinstance(g, (list, tuple)):
            return g
        return np.array([np.broadcast_to(item, x.shape[1:]) for item in g], dtype=float_dtype(x)).reshape(
            x.shape
        )
    return list_cotangent(g, x) if isinstance(x, list) else g


def copy_lists(value, copies=None, arrays=False):
    """A copy of the lists in `value` (a list, a stack, a loop tape; in tuples and dicts too) at
    any depth, for code that changes them in place (a pullback's backward sweep undoes appends);
    `copies` (id -> copy) keeps a list that two records hold shared in the copies. With `arrays`,
    arrays are copied too (see `copy_stack`).

    >>> xs = [1.0, [2.0]]
    >>> copied = copy_lists((xs, xs)); copied[0] is copied[1], copied[0] is xs, copied[0] == xs
    (True, False, True)
    """
    copies = {} if copies is None else copies
    if isinstance(value, list):
        key = id(value)
        if key not in copies:
            copies[key] = out = []
            out.extend(copy_lists(item, copies, arrays) for item in value)
        return copies[key]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(copy_lists(item, copies, arrays) for item in value)
    if isinstance(value, dict):
        return {k: copy_lists(v, copies, arrays) for k, v in value.items()}
    if arrays and isinstance(value, np.ndarray):
        return value.copy()
    return value


# -- calls the compiler does not inline (recursion): the callee's own derivative ----------------


class CallRecord:
    """What the forward sweep keeps of a call `function(*args)`: its value and its pullback."""

    __slots__ = ("value", "args", "wrt", "backward", "residuals")

    def __init__(self, value, args, wrt, backward=None, residuals=None):
        self.value, self.args, self.wrt, self.backward, self.residuals = value, args, wrt, backward, residuals

    def __repr__(self):
        return f"<call record: value {self.value!r:.60}, differentiated w.r.t. arguments {self.wrt}>"


# Each level of a recursion runs a few Python frames in a derivative (the helper, the generated
# sweep) where the user's function runs one: while derivative calls are nested, the recursion
# limit is raised as needed, up to MAX_RECURSION_LIMIT, and put back when the outermost returns.
# The sweeps keep every level's records alive until the outermost returns: Python's cyclic garbage
# collector would scan them again and again (two thirds of det by minors' gradient at 8 x 8) and
# could free none (they hold no cycles), so it is paused until then and resumed as it was.
FRAMES_PER_CALL = 8
MAX_RECURSION_LIMIT = 30_000
_nesting = {"depth": 0, "limit": None, "collecting": None}


class _Nested:
    """`with _Nested(function):` around a derivative call that may recurse."""

    __slots__ = ("function",)

    def __init__(self, function):
        self.function = function

    def __enter__(self):
        depth = _nesting["depth"] = _nesting["depth"] + 1
        if depth == 1:
            _nesting["limit"] = sys.getrecursionlimit()
            _nesting["collecting"] = gc.isenabled()
            gc.disable()
        needed = _nesting["limit"] + FRAMES_PER_CALL * depth
        if needed > sys.getrecursionlimit() and threading.current_thread() is threading.main_thread():
            # (other threads may have small stacks: their limit stays)
            sys.setrecursionlimit(min(max(needed, 2 * sys.getrecursionlimit()), MAX_RECURSION_LIMIT))

    def __exit__(self, kind, error, traceback):
        depth = _nesting["depth"]
        _nesting["depth"] = depth - 1
        if depth == 1:
            sys.setrecursionlimit(_nesting["limit"])
            if _nesting["collecting"]:
                gc.enable()
            if kind is RecursionError:
                raise _too_deep(self.function) from None
        elif kind is RecursionError:
            _nesting.setdefault("deepest", depth)
        return False


def _too_deep(function):
    deepest = _nesting.pop("deepest", None)
    code = getattr(function, "__code__", None)
    name = getattr(function, "__name__", repr(function))
    filename = code.co_filename if code is not None else None
    lineno = code.co_firstlineno if code is not None else None
    text = linecache.getline(filename, lineno).strip() if code is not None else None
    return RecursionDepthError(
        f"the derivative of the recursive function `{name}` went "
        f"{f'{deepest} calls' if deepest else 'too'} deep for Python's stack (its derivative runs a few "
        f"frames per call, and at most {MAX_RECURSION_LIMIT} frames are allowed)",
        filename,
        lineno,
        text,
        hint="write the recursion as a `for` or `while` loop, which s2sad differentiates without a Python "
        "frame per step",
    )


_COMPILER = {}  # "derivative": the pipeline's compile function, registered when s2sad.pipeline is imported


def register_compiler(derivative):
    """Dependency injection: `derivative(function, mode, args, wrt)` compiles (cached) `function`'s
    derivative; generated code reaches the compiler through it, so this package never imports it."""
    _COMPILER["derivative"] = derivative


def _call_derivative(function, mode, args, wrt):
    """`function`'s derivative w.r.t. the arguments at positions `wrt`, compiled once per
    argument types: the jvp function (mode 'forward') or the (forward, backward) pair."""
    return _COMPILER["derivative"](function, mode, args, wrt)


def call_forward_sweep(function, *args, wrt=None):
    """Run the forward sweep of `function`'s derivative w.r.t. the arguments at positions `wrt`
    (default: the float and array arguments); the record keeps its value and pullback."""
    if wrt is None:
        wrt = tuple(i for i, a in enumerate(args) if isinstance(a, (float, np.floating, np.ndarray)))
    if not wrt:
        return CallRecord(function(*args), args, wrt)
    forward, backward = _call_derivative(function, "split", args, wrt)
    with _Nested(function):
        value, residuals = forward(*args)
    return CallRecord(value, args, wrt, backward, residuals)


def call_value(function, record, *args):
    """The value of the call `function(*args)` that `record` swept (the arguments carry the data flow)."""
    return record.value


def call_pullback(function, record, cotangent):
    """The cotangents of all the arguments of the call `record` swept, from its result's `cotangent`."""
    if record.backward is None:
        grads = ()
    else:
        with _Nested(function):
            grads = record.backward(record.residuals, cotangent)
    return Cotangents(record.args, record.wrt, grads)


class Cotangents:
    """The cotangents of a call's arguments: those it was differentiated w.r.t., and zeros for
    the others, made only when read (the backward sweep reads the active ones; a list of indices
    passed down a recursion is not walked at every level).

    >>> c = Cotangents((np.ones(2), [1, 2], 3.0), (0,), (np.full(2, 5.0),))
    >>> c[0].tolist(), c[1], c[2], len(c)
    ([5.0, 5.0], [0.0, 0.0], 0.0, 3)
    """

    __slots__ = ("args", "grads")

    def __init__(self, args, wrt, grads):
        self.args = args
        self.grads = dict(zip(wrt, grads))

    def __getitem__(self, index):
        g = self.grads.get(index, _MISSING)
        return zeros_like(self.args[index]) if g is _MISSING else g

    def __len__(self):
        return len(self.args)

    def __iter__(self):
        return (self[i] for i in range(len(self.args)))


_MISSING = object()


def call_jvp(function, args, tangents):
    """Forward mode through a call that is not inlined: `(function(*args), its tangent)` from
    `function`'s own jvp; arguments whose tangent is None are constants."""
    wrt = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not wrt:
        value = function(*args)
        return value, zeros_like(value)
    jvp = _call_derivative(function, "forward", args, wrt)
    dots = [like(tangents[i], args[i]) if isinstance(args[i], np.ndarray) else tangents[i] for i in wrt]
    with _Nested(function):
        return jvp(*args, *dots)
