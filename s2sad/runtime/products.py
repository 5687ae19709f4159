"""Run-time helpers of the NumPy rules: matrix products, `einsum`, `dot`, `tensordot`, `outer`,
`trace`.

>>> einsum_adjoint(np.ones((2, 2)), "ij,jk->ik", 0, np.eye(2), 2 * np.eye(2)).tolist()
[[2.0, 2.0], [2.0, 2.0]]
"""

import numpy as np

from .arrays import derivative_dtype, matrix_t
from .core import float_dtype, unbroadcast

# -- products ----------------------------------------------------------------------------


def _matmul_frame(x, y):
    x, y = np.asarray(x), np.asarray(y)
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    return x, y, x2, y2


def _expand_matmul(g, x, y):
    g = np.asarray(g, dtype=derivative_dtype(g, x))
    if np.ndim(x) == 1:
        g = np.expand_dims(g, -2 if np.ndim(y) != 1 else 0)
    if np.ndim(y) == 1:
        g = np.expand_dims(g, -1)
    return g


def _reduce_to(g, shape):
    """Sum `g` over batch axes that broadcasting added or stretched, to `shape`."""
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _plain(*arrays):
    """float64 ndarrays of at most two dimensions: the cases with a one-line adjoint."""
    for a in arrays:
        if a.__class__ is not np.ndarray or a.dtype.char != "d" or a.ndim > 2:
            return False
    return True


def matmul_adjoint_x(g, x, y):
    """Adjoint of `x @ y` with respect to `x` (1-D operands and batches included).

    Matrices and vectors of float64 take a direct path (`np.outer(g, y)`, `g @ y.T`):
    the general one costs several microseconds of Python per call, in every loop step.
    """
    if g.__class__ is np.ndarray and _plain(g, x, y):
        if x.ndim == 2:
            return np.outer(g, y) if y.ndim == 1 else g @ y.T
        if y.ndim == 2:
            return y @ g
    x, y, x2, y2 = _matmul_frame(x, y)
    gx = _expand_matmul(g, x, y) @ matrix_t(y2)
    return _reduce_to(gx, x2.shape).reshape(x.shape).astype(np.result_type(gx, float_dtype(x)), copy=False)


def matmul_adjoint_y(g, x, y):
    """Adjoint of `x @ y` with respect to `y` (direct path as in `matmul_adjoint_x`)."""
    if g.__class__ is np.ndarray and _plain(g, x, y):
        if y.ndim == 2:
            return x.T @ g if x.ndim == 2 else np.outer(x, g)
        if x.ndim == 2:
            return x.T @ g
    x, y, x2, y2 = _matmul_frame(x, y)
    gy = matrix_t(x2) @ _expand_matmul(g, x, y)
    return _reduce_to(gy, y2.shape).reshape(y.shape).astype(np.result_type(gy, float_dtype(y)), copy=False)


class ProductSum:
    """The per-step adjoints of `w @ v` (side "x") or `v @ w` (side "y") of a loop, summed
    after it with one matrix product (see s2sad/products.py).

    >>> rng = np.random.default_rng(0)
    >>> W, gs, hs = rng.standard_normal((3, 2)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    >>> s = ProductSum("x")
    >>> for g, h in zip(gs, hs):
    ...     s.add(g, h)
    >>> bool(np.allclose(s.total(W), sum(np.outer(g, h) for g, h in zip(gs, hs))))
    True
    """

    __slots__ = ("side", "gs", "vs")

    def __init__(self, side):
        self.side, self.gs, self.vs = side, [], []

    def add(self, g, v):
        self.gs.append(g)
        self.vs.append(v)

    def total(self, w):
        gs, vs = self.gs, self.vs
        if not gs:
            return 0.0
        if w.__class__ is np.ndarray and w.ndim == 2 and _plain(w, *gs, *vs):
            gdims, vdims = {g.ndim for g in gs}, {v.ndim for v in vs}
            if gdims == vdims == {1}:
                G, V = np.array(gs), np.array(vs)
                return G.T @ V if self.side == "x" else V.T @ G
            if gdims == vdims == {2}:
                if self.side == "x":
                    return np.concatenate(gs, axis=1) @ np.concatenate(vs, axis=1).T
                return np.concatenate(vs, axis=0).T @ np.concatenate(gs, axis=0)
        if self.side == "x":
            return sum(matmul_adjoint_x(g, w, v) for g, v in zip(gs, vs))
        return sum(matmul_adjoint_y(g, v, w) for g, v in zip(gs, vs))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def dot_subscripts(a, b):
    """`np.dot(a, b)` as einsum subscripts (None when one operand is a scalar).

    >>> dot_subscripts(np.ones((2, 3)), np.ones(3)), dot_subscripts(np.ones(3), 2.0)
    ('ab,b->a', None)
    """
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return None
    sa = _LETTERS[:na]
    rest = _LETTERS[na : na + nb - 1]
    sb = sa[-1] if nb == 1 else rest[:-1] + sa[-1] + rest[-1]
    return f"{sa},{sb}->{sa[:-1]}{rest}"


def bilinear_adjoint(g, subscripts, which, a, b):
    """Adjoint of a contraction of `a` and `b` given as einsum subscripts (None: a product)."""
    if subscripts is None:
        mine, other = (a, b) if which == 0 else (b, a)
        return unbroadcast(np.multiply(g, other), mine)
    return einsum_adjoint(g, subscripts, which, a, b)


def contract(subscripts, which, h, a, b, g):
    """The contraction of `bilinear_adjoint` with operand `which` replaced by `h`, shaped like
    its cotangent `g` (the adjoint of `bilinear_adjoint` w.r.t. `g`)."""
    if subscripts is None:
        return unbroadcast(np.multiply(h, b if which == 0 else a), g)
    return np.einsum(subscripts, h, b) if which == 0 else np.einsum(subscripts, a, h)


def bilinear_adjoint_other(g, subscripts, which, h, a, b, k):
    """d<g, C(..h at `which`..)>/d(operand k): the adjoint of `bilinear_adjoint` w.r.t. its
    operand `k` (zero for `which` itself, whose value it does not read)."""
    if k == which:
        return np.zeros(np.shape(a if k == 0 else b)) if np.ndim(a if k == 0 else b) else 0.0
    return bilinear_adjoint(g, subscripts, k, *((h, b) if which == 0 else (a, h)))


def bilinear_adjoint_tangent(g, subscripts, which, a, b, a_dot, b_dot):
    """The part of the tangent of `bilinear_adjoint(g, ...)` that comes from the other operand."""
    other, other_dot = (b, b_dot) if which == 0 else (a, a_dot)
    if np.ndim(other_dot) == 0 and np.ndim(other) > 0 and not np.any(other_dot):
        other_dot = np.zeros(np.shape(other))
    return bilinear_adjoint(g, subscripts, which, *((a, other_dot) if which == 0 else (other_dot, b)))


def pad_tangent(t, pad_width, mode="constant"):
    """Tangent of `np.pad(x, pad_width)`: only the constant mode is supported."""
    if mode != "constant":
        raise NotImplementedError(f"the derivative of np.pad with mode={mode!r} (only 'constant')")
    return np.pad(t, pad_width)


def inner_subscripts(a, b):
    """`np.inner(a, b)` as einsum subscripts (None when one operand is a scalar)."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return None
    sa = _LETTERS[:na]
    sb = _LETTERS[na : na + nb - 1] + sa[-1]
    return f"{sa},{sb}->{sa[:-1]}{sb[:-1]}"


def tensordot_subscripts(a, b, axes=2):
    """`np.tensordot(a, b, axes)` as einsum subscripts.

    >>> tensordot_subscripts(np.ones((2, 3)), np.ones((3, 4)), 1)
    'ab,bd->ad'
    >>> tensordot_subscripts(np.ones((2, 3)), np.ones((3, 2)), ([0, 1], [1, 0]))
    'ab,ba->'
    """
    na, nb = np.ndim(a), np.ndim(b)
    if np.ndim(axes) == 0:
        n = int(axes)
        axes_a, axes_b = list(range(na - n, na)), list(range(n))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if np.ndim(axes_a) == 0 else list(axes_a)
        axes_b = [axes_b] if np.ndim(axes_b) == 0 else list(axes_b)
    axes_a = [x % na for x in axes_a]
    axes_b = [x % nb for x in axes_b]
    sa = list(_LETTERS[:na])
    sb = list(_LETTERS[na : na + nb])
    for i, j in zip(axes_a, axes_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in axes_a] + [c for j, c in enumerate(sb) if j not in axes_b]
    return "".join(sa) + "," + "".join(sb) + "->" + "".join(out)


def _parse_subscripts(subscripts, count):
    if "->" not in subscripts or "." in subscripts:
        raise NotImplementedError("einsum derivatives need explicit subscripts with '->' and no '...'")
    inputs, output = subscripts.replace(" ", "").split("->")
    inputs = inputs.split(",")
    if len(inputs) != count:
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operands, got {count}")
    for term in inputs:
        if len(set(term)) != len(term):
            raise NotImplementedError(
                f"einsum derivative with a repeated index in {term!r} (use np.trace/np.diagonal)"
            )
    return inputs, output


def einsum_tangent(subscripts, a, b=None, c=None, a_dot=0.0, b_dot=0.0, c_dot=0.0):
    """Tangent of `np.einsum(subscripts, a[, b[, c]])` by the product rule."""
    operands = [o for o in (a, b, c) if o is not None]
    tangents = [a_dot, b_dot, c_dot][: len(operands)]
    out = 0.0
    for k, t in enumerate(tangents):
        if isinstance(t, (int, float)) and t == 0:
            continue
        args = list(operands)
        args[k] = np.broadcast_to(t, np.shape(operands[k]))
        out = out + np.einsum(subscripts, *args)
    return out


def einsum_adjoint(g, subscripts, which, a, b=None, c=None):
    """Adjoint of `np.einsum(subscripts, a[, b[, c]])` with respect to operand `which`."""
    operands = [o for o in (a, b, c) if o is not None]
    inputs, output = _parse_subscripts(subscripts, len(operands))
    target = inputs[which]
    others = [(inputs[k], operands[k]) for k in range(len(operands)) if k != which]
    available = set(output).union(*[set(s) for s, _ in others])
    reachable = "".join(ch for ch in target if ch in available)
    terms = ",".join([output] + [s for s, _ in others])
    gx = np.einsum(
        f"{terms}->{reachable}", np.asarray(g, dtype=derivative_dtype(g, operands[which])), *[o for _, o in others]
    )
    if reachable != target:  # an index summed by this operand alone: broadcast back
        for i, ch in enumerate(target):
            if ch not in reachable:
                gx = np.expand_dims(gx, i)
        gx = np.broadcast_to(gx, np.shape(operands[which])).copy()
    mine = operands[which]
    return (
        gx.astype(np.result_type(gx, float_dtype(mine)), copy=False) if isinstance(mine, np.ndarray) else gx
    )


def outer_adjoint_x(g, a, b):
    """Adjoint of `np.outer(a, b)` with respect to `a`."""
    return (np.asarray(g) @ np.ravel(b)).reshape(np.shape(a))


def outer_adjoint_y(g, a, b):
    """Adjoint of `np.outer(a, b)` with respect to `b`."""
    return (np.ravel(a) @ np.asarray(g)).reshape(np.shape(b))


def trace_adjoint(g, a, offset=0, axis1=0, axis2=1):
    """Adjoint of `np.trace(a, offset, axis1, axis2)`: `g` on the chosen diagonal."""
    a = np.asarray(a)
    out = np.zeros(a.shape, dtype=derivative_dtype(g, a))
    moved = np.moveaxis(out, (axis1, axis2), (-2, -1))  # a view into `out`
    n, m = moved.shape[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset))
    moved[..., rows, rows + offset] += np.asarray(g)[..., None]
    return out
