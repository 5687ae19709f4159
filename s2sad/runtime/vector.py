"""Helpers that vector forward-mode code (`jacfwd`) calls at run time.

In vector forward mode a tangent carries all its directions at once on a
leading axis: the tangent of `x` (shape `S`) is `x_dot` of shape `(k,) + S`,
`x_dot[j]` the tangent along direction `j`. A scalar's tangent has shape
`(k,)`. These helpers do what needs a shape known only at run time.

>>> t = np.arange(2.0)                      # a scalar's tangent, 2 directions
>>> lift(t, np.ones((3, 4))).shape          # broadcasts against a (3, 4) result
(2, 1, 1)
>>> batch_axis(None, np.ones((3, 4))), batch_axis(0, np.ones(3)), batch_axis(-1, np.ones(3))
((1, 2), 1, -1)
>>> batch_index((0, slice(1, 3)))
(slice(None, None, None), 0, slice(1, 3, None))
>>> each_direction(lambda u: np.cumsum(u), np.ones((2, 3))).tolist()
[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
"""

import numpy as np

from .calls import _call_derivative
from .core import zeros_like

# -- shapes -------------------------------------------------------------------------------------


def lift(t, like):
    """Tangent directions `t` with axes added after the direction axis so that they
    broadcast against the value `like` (a scalar's tangent against an array result)."""
    missing = np.ndim(like) - (np.ndim(t) - 1)
    if missing <= 0:
        return t
    t = np.asarray(t)
    return t.reshape(t.shape[:1] + (1,) * missing + t.shape[1:])


def broadcast_directions(t, like):
    """Tangent directions `t` broadcast to the shape of the result `like`: `(k,) + shape(like)`."""
    t = lift(t, like)
    shape = np.shape(t)[:1] + np.shape(like)
    if np.shape(t) == shape:
        return t
    return np.broadcast_to(t, shape).copy()


def zeros_directions(x, k):
    """A zero tangent of `x` along `k` directions (lists and tuples item by item)."""
    if isinstance(x, (list, tuple)):
        return type(x)(zeros_directions(v, k) for v in x)
    if isinstance(x, np.ndarray):
        return np.zeros((k,) + x.shape, dtype=np.result_type(x.dtype, np.float32))
    return np.zeros(k)


def batch_axis(axis, x):
    """The axis (or axes) of a tangent that `axis` names in the value `x`."""
    if axis is None:
        return tuple(range(1, np.ndim(x) + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(batch_axis(a, x) for a in axis)
    axis = int(axis)
    return axis + 1 if axis >= 0 else axis


def batch_index(index):
    """The index of a tangent that selects `x[index]` in every direction."""
    if isinstance(index, tuple):
        return (slice(None),) + index
    return (slice(None), index)


def item_directions(x_dot, index):
    """The tangent of `x[index]` from the tangent of `x`: the tangents of a tuple's (or list's)
    items are a tuple of tangents, indexed as it is; an array's directions are past its first axis."""
    if isinstance(x_dot, (tuple, list)):
        return x_dot[index]
    return x_dot[batch_index(index)]


def count_directions(t):
    """The number of directions of a tangent (the first array's leading axis)."""
    if isinstance(t, np.ndarray):
        return t.shape[0]
    if isinstance(t, (list, tuple)):
        for item in t:
            k = count_directions(item)
            if k is not None:
                return k
    if isinstance(t, dict):
        return count_directions(list(t.values()))
    return None


# -- the fallback: a one-direction rule applied direction by direction ---------------------------


def _direction(t, j):
    if isinstance(t, np.ndarray):
        return t[j]
    if isinstance(t, (list, tuple)):
        return type(t)(_direction(v, j) for v in t)
    return t  # a constant (a zero, None)


def stack_directions(results):
    """Stack one tangent per direction into tangent directions (tuples item by item)."""
    first = results[0]
    if isinstance(first, (list, tuple)):
        return type(first)(stack_directions([r[i] for r in results]) for i in range(len(first)))
    return np.stack([np.asarray(r, dtype=float) for r in results])


def each_direction(rule, *tangents):
    """`rule` (a one-direction tangent) applied along each direction of `tangents`, stacked."""
    k = count_directions(tangents)
    if k is None:
        raise ValueError("each_direction needs at least one array of tangent directions")
    return stack_directions([rule(*[_direction(t, j) for t in tangents]) for j in range(k)])


# -- batched rules that need a shape at run time ----------------------------------------------


def matmul_tangent_a(a_dot, b):
    """`a_dot[j] @ b` for every direction `j`."""
    if np.ndim(a_dot) == 2 and np.ndim(b) > 2:  # a vector times a stack of matrices
        rows = a_dot.reshape(a_dot.shape[:1] + (1,) * (np.ndim(b) - 1) + a_dot.shape[1:])
        return (rows @ b)[..., 0, :]
    return a_dot @ b


def matmul_tangent_b(a, b_dot):
    """`a @ b_dot[j]` for every direction `j`."""
    if np.ndim(b_dot) == 2:  # b is a vector: its directions are the columns of a matrix
        return np.moveaxis(a @ b_dot.T, -1, 0)
    return a @ b_dot


def dot_tangent_a(a_dot, b):
    """`np.dot(a_dot[j], b)` for every direction `j`."""
    if np.ndim(a_dot) == 1:  # a is a scalar: np.dot multiplies
        return lift(a_dot, b) * b
    return np.dot(a_dot, b)


def dot_tangent_b(a, b_dot):
    """`np.dot(a, b_dot[j])` for every direction `j`."""
    nb = np.ndim(b_dot) - 1
    if nb == 0:  # b is a scalar: np.dot multiplies
        return lift(b_dot, a) * a
    if np.ndim(a) == 0:
        return a * b_dot
    # np.dot contracts a's last axis with b's (second-to-)last; the direction axis of b_dot
    # must not be that one, and comes out after a's remaining axes: move it to the front
    out = np.dot(a, np.moveaxis(b_dot, 0, -1) if nb == 1 else b_dot)
    return np.moveaxis(out, np.ndim(a) - 1, 0)


def outer_tangent_a(a_dot, b):
    """`np.outer(a_dot[j], b)` for every direction `j`."""
    return np.reshape(a_dot, (len(a_dot), -1, 1)) * np.ravel(b)


def outer_tangent_b(a, b_dot):
    """`np.outer(a, b_dot[j])` for every direction `j`."""
    return np.ravel(a)[:, None] * np.reshape(b_dot, (len(b_dot), 1, -1))


def cumsum_directions(t, axis=None):
    """`np.cumsum(t[j], axis)` for every direction `j` (no axis: of the flattened value)."""
    if axis is None:
        return np.cumsum(np.reshape(t, (len(t), -1)), axis=1)
    return np.cumsum(t, axis=batch_axis(axis, t[0]))


def reshape_directions(t, like, order="C"):
    """Tangent directions `t` reshaped like the value `like` (in `order`)."""
    if order in ("C", "A", "K"):
        return np.reshape(t, np.shape(t)[:1] + np.shape(like))
    return np.stack([np.reshape(d, np.shape(like), order=order) for d in t])


def list_directions(t, x):
    """The tangent of `list(x)`: a list of tangent directions, item by item (rows of an array)."""
    if isinstance(x, np.ndarray):
        return list(np.swapaxes(t, 0, 1))
    return list(t)


def concatenate_directions(ts, axis, like):
    """`np.concatenate` of tangent directions (`axis=None`: of the flattened values)."""
    ts = [array_directions(t) if isinstance(t, (list, tuple)) else t for t in ts]
    if axis is None:
        return np.concatenate([np.reshape(t, (len(t), -1)) for t in ts], axis=1)
    return np.concatenate(ts, axis=batch_axis(axis, like))


def transpose_directions(t, axes=None):
    """`np.transpose(t[j], axes)` for every direction `j`."""
    if axes is None:
        return np.moveaxis(np.transpose(t), -1, 0)
    return np.transpose(t, (0,) + tuple(a % (np.ndim(t) - 1) + 1 for a in axes))


def array_directions(items, like=None):
    """Tangent directions of a value NumPy makes into an array (`np.array(items)`, a list
    passed to `np.sum`): `items` nests tangent directions in lists as the value's leading
    axes; the direction axis goes first."""
    depth = 0
    probe = items
    while isinstance(probe, (list, tuple)):
        depth += 1
        if not probe:
            return np.zeros((0,) + np.shape(like))
        probe = probe[0]
    dtype = np.result_type(np.asarray(like).dtype, np.float32) if like is not None else float
    t = np.asarray(items, dtype=dtype)
    return np.moveaxis(t, depth, 0) if depth else t


def call_jvp_directions(function, args, tangents):
    """Vector forward mode through a call that is not inlined: the callee's own vector jvp."""
    wrt = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not wrt:
        value = function(*args)
        return value, zeros_like(value)
    jvp = _call_derivative(function, "forward_vector", args, wrt)
    return jvp(*args, *[tangents[i] for i in wrt])
