"""List adjoints, for generated code: a list's adjoint is a list kept aligned with the primal list,
element by element (`list_like`, `list_cotangent`, `list_add`, ...), and `copy_lists`, which copies
the lists a value holds.

>>> list_add([1.0, 2.0], np.array([10.0, 20.0]), [0.0, 0.0])
[11.0, 22.0]
"""

import numpy as np

from .core import float_dtype, zeros_like

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
