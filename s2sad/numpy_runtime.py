"""Run-time helpers used by the NumPy rule templates (reached as `_rt.<name>`).

Each helper computes one derivative piece whose shape is only known at run
time: spreading a reduced cotangent back over the reduced axes, the adjoint of
an `einsum`, of a split, of a solve. They keep the dtype of their inputs
(float32 in, float32 out).

>>> unreduce(np.ones(2), np.zeros((2, 3)), axis=-1).tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
>>> extremum_weights(np.array([1.0, 3.0, 3.0]), 3.0).tolist()   # ties share equally
[0.0, 0.5, 0.5]
>>> einsum_adjoint(np.ones((2, 2)), "ij,jk->ik", 0, np.eye(2), 2 * np.eye(2)).tolist()
[[2.0, 2.0], [2.0, 2.0]]
>>> [p.tolist() for p in concatenate_adjoint(np.arange(5.0), [np.zeros(2), np.zeros(3)])]
[[0.0, 1.0], [2.0, 3.0, 4.0]]
"""

import numpy as np

__all__ = [
    "half_inverse",
    "power_dx",
    "power_dy",
    "linspace_adjoint",
    "linspace_transpose",
    "arange_tangent",
    "arange_adjoint",
    "float_dtype",
    "cast_like",
    "normalize_axes",
    "unreduce",
    "mean_partials",
    "extremum_weights",
    "prod_partials",
    "var_partials",
    "cumsum_adjoint",
    "cumprod_tangent",
    "cumprod_adjoint",
    "norm_partials",
    "matmul_adjoint_x",
    "matmul_adjoint_y",
    "ProductSum",
    "dot_subscripts",
    "bilinear_adjoint",
    "concatenate_pieces",
    "stack_pieces",
    "cumsum_transpose",
    "tile_transpose",
    "contract",
    "pad_tangent",
    "inner_subscripts",
    "tensordot_subscripts",
    "einsum_tangent",
    "einsum_adjoint",
    "slot_only",
    "slot_except",
    "slot_pick",
    "routed",
    "einsum_directions",
    "outer_adjoint_x",
    "outer_adjoint_y",
    "trace_adjoint",
    "transpose_adjoint",
    "method_axes",
    "concatenate_adjoint",
    "stack_adjoint",
    "hstack_adjoint",
    "hstack_pieces",
    "vstack_pieces",
    "norm_order",
    "phi",
    "kron_shapes",
    "split_points",
    "rollaxis_move",
    "diag_padding",
    "diagonal_plan",
    "gradient_axes",
    "flat_along",
    "nonfinite_replaced",
    "real_only",
    "triangle_symmetric",
    "triangle_adjoint",
    "vstack_adjoint",
    "split_tangent",
    "split_adjoint",
    "tile_adjoint",
    "repeat_adjoint",
    "broadcast_to_adjoint",
    "roll_adjoint",
    "pad_adjoint",
    "take_adjoint",
    "index_adjoint",
    "prod_hessian_vector",
    "item",
    "item_adjoint",
    "sinc_derivative",
    "clip_inside",
    "clip_below",
    "clip_above",
    "slogdet_tangent",
    "slogdet_adjoint",
    "eigh_tangent",
    "eigh_adjoint",
    "array_adjoint",
    "astype_tangent",
    "full_tangent",
    "sort_adjoint",
    "sort_tangent",
    "matrix_t",
    "CotangentList",
]


# -- dtypes and axes --------------------------------------------------------------------


def float_dtype(x):
    """The floating dtype derivatives of `x` carry: float32 stays float32, ints become float64."""
    dtype = np.asarray(x).dtype
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


def _dtype(g, x):
    """The dtype of a derivative `g` of `x`: a Python float `g` does not widen float32."""
    return np.result_type(
        g if np.ndim(g) == 0 and not isinstance(g, np.ndarray) else np.asarray(g).dtype, float_dtype(x)
    )


def cast_like(g, x):
    """`g` as an array of `x`'s floating dtype (a scalar stays a scalar if `x` is one)."""
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        return g
    return np.asarray(g, dtype=float_dtype(x))


def normalize_axes(axis, ndim):
    """`axis` (None, an int, a tuple, negative or not) as a sorted tuple of axes.

    >>> normalize_axes(-1, 3), normalize_axes((2, 0), 3), normalize_axes(None, 2)
    ((2,), (0, 2), (0, 1))
    """
    if axis is None:
        return tuple(range(ndim))
    if np.ndim(axis) == 0:
        axis = (axis,)
    return tuple(sorted(int(a) % ndim if ndim else 0 for a in axis))


def matrix_t(a):
    """Swap the last two axes (the transpose of a stack of matrices)."""
    return np.swapaxes(a, -1, -2)


def unreduce(g, x, axis=None, keepdims=False):
    """Spread the cotangent `g` of a reduction of `x` back over the reduced axes."""
    shape = np.shape(x)
    g = np.asarray(g, dtype=_dtype(g, x))
    if not shape:
        return g[()] if g.ndim == 0 else g.reshape(())
    if axis is not None and not keepdims:
        g = np.expand_dims(g, normalize_axes(axis, len(shape)))
    elif axis is None and not keepdims:
        g = g.reshape((1,) * len(shape))
    return np.broadcast_to(g, shape).copy()


def _count(x, axis):
    shape = np.shape(x)
    return int(np.prod([shape[a] for a in normalize_axes(axis, len(shape))]))


def mean_partials(x, axis=None):
    """d mean / d x: `1 / count` (a Python float, so float32 stays float32)."""
    return 1.0 / _count(x, axis)


def extremum_weights(x, z, axis=None):
    """d max / d x (or min): 1 on the extremum, split equally among tied entries."""
    x = np.asarray(x)
    if x.ndim == 0:
        return np.ones((), dtype=float_dtype(x))
    zk = unreduce(z, x, axis, keepdims=np.ndim(z) == x.ndim)
    mask = (x == zk).astype(float_dtype(x))
    count = np.sum(mask, axis=normalize_axes(axis, x.ndim), keepdims=True)
    return mask / count


def prod_partials(x, axis=None):
    """d prod / d x_i: the product of all other entries (exact when some are zero)."""
    x = np.asarray(x)
    if x.ndim == 0:
        return np.ones((), dtype=float_dtype(x))
    axes = normalize_axes(axis, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[: len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    partial = (left * right).reshape(moved.shape)
    return np.transpose(partial, np.argsort(rest + list(axes))).astype(float_dtype(x))


def prod_hessian_vector(x, t, axis=None):
    """The second derivative of the product of `x` (over `axis`) applied to `t`: entry i is
    sum over j != i of t_j times the product of the entries other than i and j. It is the
    tangent of `prod_partials` along `t` and, the matrix being symmetric, its adjoint too.
    Exact when entries are zero (products of the others, no division).

    >>> prod_hessian_vector(np.array([2.0, 3.0, 5.0]), np.array([1.0, 0.0, 0.0])).tolist()
    [0.0, 5.0, 3.0]
    """
    x, t = np.asarray(x), np.broadcast_to(np.asarray(t), np.shape(x))
    if x.ndim == 0:
        return np.zeros((), dtype=float_dtype(x))
    axes = normalize_axes(axis, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    order = rest + list(axes)
    moved, tangent = np.transpose(x, order), np.transpose(t, order)
    flat = moved.reshape(moved.shape[: len(rest)] + (-1,))
    flat_t = tangent.reshape(flat.shape)
    out = np.zeros(flat.shape, dtype=np.result_type(flat.dtype, flat_t.dtype, np.float32))
    for i in range(flat.shape[-1]):  # the partials of the product of the others, times their tangents
        others = np.delete(flat, i, axis=-1)
        out[..., i] = np.sum(prod_partials(others, -1) * np.delete(flat_t, i, axis=-1), axis=-1)
    return np.transpose(out.reshape(moved.shape), np.argsort(order))


def var_partials(x, axis=None, ddof=0):
    """d var / d x = 2 (x - mean) / (count - ddof)."""
    x = np.asarray(x)
    mean = np.mean(x, axis=normalize_axes(axis, x.ndim) if x.ndim else None, keepdims=True)
    return 2.0 * (x - mean) / (_count(x, axis) - ddof)


# -- cumulative ---------------------------------------------------------------------------


def cumsum_adjoint(g, x, axis=None):
    """Adjoint of `np.cumsum(x, axis)`: a reversed cumulative sum."""
    g = np.asarray(g)
    if axis is None:
        return np.cumsum(g[::-1])[::-1].reshape(np.shape(x))
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def _cumprod_jacobian(x, axis):
    """J[..., i, k] = d cumprod(x)[k] / d x[i] along the last axis (exact with zeros)."""
    n = x.shape[-1]
    jac = np.zeros(x.shape[:-1] + (n, n), dtype=float_dtype(x))
    for i in range(n):
        others = x.copy()
        others[..., i] = 1.0
        column = np.cumprod(others, axis=-1)
        column[..., :i] = 0.0
        jac[..., i, :] = column
    return jac


def _cumprod_frame(x, axis):
    x = np.asarray(x)
    if axis is None:
        return x.reshape(-1), None
    return np.moveaxis(x, axis, -1), axis


def cumprod_tangent(t, x, axis=None):
    """Tangent of `np.cumprod(x, axis)` for the input tangent `t`."""
    xm, ax = _cumprod_frame(x, axis)
    tm = np.broadcast_to(t, np.shape(x))
    tm = tm.reshape(-1) if ax is None else np.moveaxis(tm, ax, -1)
    out = np.einsum("...i,...ik->...k", tm, _cumprod_jacobian(xm, ax))
    return out if ax is None else np.moveaxis(out, -1, ax)


def cumprod_adjoint(g, x, axis=None):
    """Adjoint of `np.cumprod(x, axis)`."""
    xm, ax = _cumprod_frame(x, axis)
    gm = np.asarray(g) if ax is None else np.moveaxis(np.asarray(g), ax, -1)
    out = np.einsum("...k,...ik->...i", gm, _cumprod_jacobian(xm, ax))
    return out.reshape(np.shape(x)) if ax is None else np.moveaxis(out, -1, ax)


# -- norms --------------------------------------------------------------------------------


def norm_partials(x, z, ord=None, axis=None, keepdims=False):
    """d np.linalg.norm(x, ord, axis) / d x, shaped like `x` (0 where the norm is 0).

    Vector norms: ord None/2, 1, inf, -inf and any other p. Matrix norms: None / 'fro'.
    """
    x = np.asarray(x)
    dtype = float_dtype(x)
    axes = normalize_axes(axis, x.ndim)
    zk = unreduce(z, x, axis, keepdims=keepdims or axis is None and np.ndim(z) == x.ndim)
    matrix = len(axes) == 2 and (axis is not None or x.ndim == 2)
    if ord in (None, "fro") or (ord == 2 and not matrix):
        if ord is not None and matrix and ord != "fro":
            raise NotImplementedError(f"the derivative of matrix norm ord={ord!r}")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(zk == 0, 0.0, x / zk).astype(dtype)
    if matrix:
        raise NotImplementedError(f"the derivative of matrix norm ord={ord!r} (use None or 'fro')")
    if ord == 1:
        return np.sign(x).astype(dtype)
    if ord in (np.inf, -np.inf):
        return (np.sign(x) * extremum_weights(np.abs(x), zk, axis)).astype(dtype)
    if ord == 0:
        return np.zeros_like(x, dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sign(x) * np.abs(x) ** (ord - 1) / zk ** (ord - 1)
    return np.where(zk == 0, 0.0, out).astype(dtype)


# -- products ----------------------------------------------------------------------------


def _matmul_frame(x, y):
    x, y = np.asarray(x), np.asarray(y)
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    return x, y, x2, y2


def _expand_matmul(g, x, y):
    g = np.asarray(g, dtype=_dtype(g, x))
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
        from .runtime import unbroadcast

        mine, other = (a, b) if which == 0 else (b, a)
        return unbroadcast(np.multiply(g, other), mine)
    return einsum_adjoint(g, subscripts, which, a, b)


def contract(subscripts, which, h, a, b, g):
    """The contraction of `bilinear_adjoint` with operand `which` replaced by `h`, shaped like
    its cotangent `g` (the adjoint of `bilinear_adjoint` w.r.t. `g`)."""
    other = b if which == 0 else a
    if subscripts is None:
        from .runtime import unbroadcast

        return unbroadcast(np.multiply(h, other), g)
    if _is_zero(other) or _is_zero(h):
        return np.zeros(np.shape(g), float_dtype(g))
    return np.einsum(subscripts, h, b) if which == 0 else np.einsum(subscripts, a, h)


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


def _is_zero(v):
    """A symbolic zero that generated code passes for a derivative it knows is zero."""
    return v is not None and not isinstance(v, np.ndarray) and np.ndim(v) == 0 and v == 0


def _explicit_subscripts(subscripts, operands):
    """`subscripts` for `operands` with '...' spelled out in free letters and the output made
    explicit (implicit output: the letters used once, in alphabetical order, after any '...').

    >>> _explicit_subscripts("ij,j", [np.ones((2, 3)), np.ones(3)])
    (['ij', 'j'], 'i')
    >>> _explicit_subscripts("...ij->...ji", [np.ones((4, 2, 3))])
    (['Zij'], 'Zji')
    """
    if not isinstance(subscripts, str):
        raise NotImplementedError(
            "derivatives of np.einsum in sublist form (np.einsum(x, [0, 1], ...)); "
            "write the subscripts as a string: np.einsum('ij->ji', x)"
        )
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operands, got {len(operands)}")
    if not arrow:
        letters = "".join(inputs).replace(".", "")
        output = ("..." if "..." in text else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if "..." in text:
        used = set(text)
        free = [c for c in reversed(_LETTERS) if c not in used]
        def dims(term, o):  # axes under '...'; a scalar standing for an array (a derivative) takes them all
            return np.ndim(o) - (len(term) - 3) if np.ndim(o) >= len(term) - 3 else None

        counts = [dims(term, o) for term, o in zip(inputs, operands) if "..." in term]
        width = max([c for c in counts if c is not None], default=0)
        ellipsis = "".join(free[:width])[::-1]
        inputs = [
            term.replace("...", ellipsis if dims(term, o) is None else ellipsis[width - dims(term, o) :])
            for term, o in zip(inputs, operands)
        ]
        output = output.replace("...", ellipsis)
    return inputs, output


def _einsum(inputs, output, operands):
    """`np.einsum` of explicit subscripts, with a contraction order chosen for three or more operands."""
    spec = ",".join(inputs) + "->" + output
    return np.einsum(spec, *operands, optimize="greedy" if len(operands) > 2 else False)


def _filled(terms, arrays, known=()):
    """`arrays` with any scalar standing for an array (a broadcast derivative) spread to the shape
    its subscripts `terms` give it, the sizes read off the other arrays and the pairs `known`."""
    sizes = {}
    for term, x in list(known) + list(zip(terms, arrays)):
        if np.ndim(x) == len(term):
            sizes.update((ch, n) for ch, n in zip(term, np.shape(x)) if n != 1 or ch not in sizes)
    return [
        np.broadcast_to(x, tuple(sizes[ch] for ch in term)) if np.ndim(x) != len(term) else np.asarray(x)
        for term, x in zip(terms, arrays)
    ]


def einsum_tangent(subscripts, a, b=None, c=None, ta=0.0, tb=0.0, tc=0.0):
    """Tangent of `np.einsum(subscripts, a[, b[, c]])` by the product rule: one term per
    operand, that operand replaced by its tangent. A term holding a symbolic zero (a number 0
    where an array goes) is zero: einsum is linear in each operand."""
    operands, tangents = [a, b, c], [ta, tb, tc]
    count = len(subscripts.split("->")[0].split(",")) if isinstance(subscripts, str) else 0
    out = 0.0
    for k in range(3):
        args = operands[:k] + [tangents[k]] + operands[k + 1 :]
        if any(_is_zero(v) for v in args + [operands[k]]) or any(v is not None for v in args[count:]):
            continue
        inputs, output = _explicit_subscripts(subscripts, operands[:count])
        out = out + _einsum(inputs, output, _filled(inputs, args[:count], zip(inputs, operands)))
    return out


def einsum_adjoint(g, subscripts, which, a, b=None, c=None):
    """Adjoint of `np.einsum(subscripts, a[, b[, c]])` with respect to operand `which`: the
    contraction of the cotangent with the other operands, spread over the indices this operand
    alone sums (broadcast) and placed on its diagonals (a letter repeated in its subscripts).
    Zero (0.0) when the cotangent or another operand is a symbolic zero or `which` is absent."""
    operands = [a, b, c]
    count = len(subscripts.split("->")[0].split(",")) if isinstance(subscripts, str) else 0
    if (
        which >= count
        or _is_zero(g)
        or any(_is_zero(o) for o in operands[:count])
        or any(o is not None for o in operands[count:])
    ):
        mine = operands[which]
        return np.zeros(np.shape(mine), float_dtype(mine)) if isinstance(mine, np.ndarray) else 0.0
    operands = operands[:count]
    inputs, output = _explicit_subscripts(subscripts, operands)
    mine = operands[which]
    target = inputs[which]
    shape = np.shape(mine)
    unique = "".join(dict.fromkeys(target))
    sizes = [shape[target.index(ch)] for ch in unique]
    others = [(inputs[k], operands[k]) for k in range(count) if k != which]
    available = set(output).union(*[set(s) for s, _ in others])
    reachable = "".join(ch for ch in unique if ch in available)
    terms = [output] + [s for s, _ in others]
    arrays = [np.asarray(g, dtype=_dtype(g, mine))] + [o for _, o in others]
    gx = _einsum(terms, reachable, _filled(terms, arrays, [(target, mine)]))
    gx = np.expand_dims(gx, tuple(i for i, ch in enumerate(unique) if ch not in reachable))
    summed = tuple(i for i, n in enumerate(sizes) if gx.shape[i] != n and n == 1)  # broadcast size-1 axes
    if summed:
        gx = np.sum(gx, axis=summed, keepdims=True)
    gx = np.broadcast_to(gx, sizes)
    if len(unique) != len(target):  # a repeated letter: the cotangent lives on that diagonal
        full = np.zeros(shape, dtype=gx.dtype)
        grid = np.indices(sizes, sparse=True)
        full[tuple(grid[unique.index(ch)] for ch in target)] = gx
        gx = full
    else:
        gx = np.array(gx)
    return gx.astype(np.result_type(gx, float_dtype(mine)), copy=False) if isinstance(mine, np.ndarray) else gx


def slot_only(h, which, k):
    """`h` in slot `which` of an einsum's operands, a symbolic zero in slot `k` != `which`."""
    return h if k == which else 0.0


def slot_except(h, which, k):
    """`h` in slot `k` != `which`, a symbolic zero in slot `which`."""
    return 0.0 if k == which else h


def routed(g, which, k, keep, like):
    """`g` where slot `k` is (`keep`) or is not (not `keep`) slot `which`, else zeros shaped like `like`:
    the cotangents of the `slot_*` helpers, shaped as their operands."""
    if (k == which) == keep:
        return g
    return np.zeros(np.shape(like), float_dtype(like)) if isinstance(like, np.ndarray) else 0.0


def slot_pick(h, operand, which, k):
    """Operand `k` of an einsum with operand `which` replaced by `h`."""
    return h if k == which else operand


def einsum_directions(subscripts, a, b=None, c=None, a_dot=0.0, b_dot=0.0, c_dot=0.0):
    """Tangent of `np.einsum` along many directions at once (vector forward mode): each
    tangent's leading axis of directions gets its own letter, carried to the output."""
    operands, tangents = [a, b, c], [a_dot, b_dot, c_dot]
    count = len(subscripts.split("->")[0].split(",")) if isinstance(subscripts, str) else 0
    inputs, output = _explicit_subscripts(subscripts, operands[:count])
    free = next(ch for ch in _LETTERS if ch not in "".join(inputs))
    out = 0.0
    for k in range(count):
        if _is_zero(tangents[k]):
            continue
        terms = list(inputs)
        terms[k] = free + terms[k]
        args = operands[:k] + [tangents[k]] + operands[k + 1 : count]
        out = out + _einsum(terms, free + output, args)
    return out


def outer_adjoint_x(g, a, b):
    """Adjoint of `np.outer(a, b)` with respect to `a`."""
    return (np.asarray(g) @ np.ravel(b)).reshape(np.shape(a))


def outer_adjoint_y(g, a, b):
    """Adjoint of `np.outer(a, b)` with respect to `b`."""
    return (np.ravel(a) @ np.asarray(g)).reshape(np.shape(b))


def trace_adjoint(g, a, offset=0, axis1=0, axis2=1):
    """Adjoint of `np.trace(a, offset, axis1, axis2)`: `g` on the chosen diagonal."""
    a = np.asarray(a)
    out = np.zeros(a.shape, dtype=_dtype(g, a))
    moved = np.moveaxis(out, (axis1, axis2), (-2, -1))  # a view into `out`
    n, m = moved.shape[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset))
    moved[..., rows, rows + offset] += np.asarray(g)[..., None]
    return out


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
        return np.reshape(np.concatenate([np.ravel(_piece(p, a)) for p, a in zip(pieces, arrays)]), np.shape(g))
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
        return np.reshape(g, arrays.shape) if axis == 0 else np.stack([p.reshape(np.shape(a)) for p, a in zip(pieces, arrays)])
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
        return np.bincount(owner, weights=g.reshape(-1), minlength=n).astype(_dtype(g, x)).reshape(shape)
    axis = axis % len(shape)
    n = shape[axis]
    owner = np.repeat(np.arange(n), np.broadcast_to(repeats, (n,)))
    out = np.zeros(shape, dtype=_dtype(g, x))
    np.add.at(np.moveaxis(out, axis, 0), owner, np.moveaxis(g, axis, 0))
    return out


def broadcast_to_adjoint(g, x):
    from .runtime import unbroadcast

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
    out = np.zeros(a.shape, dtype=_dtype(g, a))
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
        from .runtime import zeros_like

        out = CotangentList(zeros_like(item) for item in x)
        out[index] = g
        return out
    from .runtime import getitem_adjoint

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


# -- elementwise helpers ------------------------------------------------------------------------


def sinc_derivative(x):
    """d sinc(x) / dx = (cos(pi x) - sinc(x)) / x, and 0 at x = 0."""
    x = np.asarray(x)
    safe = np.where(x == 0, 1.0, x)
    out = np.where(x == 0, 0.0, (np.cos(np.pi * safe) - np.sinc(safe)) / safe)
    return out.astype(float_dtype(x))[()]


def clip_inside(a, a_min=None, a_max=None):
    """1 where `np.clip` passes `a` through (bounds included), else 0."""
    inside = np.ones(np.shape(a), dtype=bool)
    if a_min is not None:
        inside &= a >= a_min
    if a_max is not None:
        inside &= a <= a_max
    return inside


def clip_below(a, a_min=None, a_max=None):
    """1 where the lower bound is the result."""
    out = np.less(a, a_min)
    return out & (a_min <= a_max) if a_max is not None else out


def clip_above(a, a_min=None, a_max=None):
    """1 where the upper bound is the result."""
    out = np.greater(a, a_max)
    return out if a_min is None else (out & np.less_equal(a_min, a_max)) | np.greater(a_min, a_max)


# -- linear algebra ---------------------------------------------------------------------------------


def _vector_rhs(b):
    return np.ndim(b) == 1


def slogdet_tangent(a, a_dot):
    """Tangent of `np.linalg.slogdet(a)`: (0, trace(a^-1 a_dot))."""
    logdet_dot = np.trace(np.linalg.solve(a, a_dot), axis1=-2, axis2=-1)
    return (np.zeros_like(logdet_dot), logdet_dot)


def slogdet_adjoint(g, a):
    """Adjoint of `np.linalg.slogdet(a)`: the sign has none; log|det| gives g a^-T."""
    g = item(g, 1)
    return (np.asarray(g)[..., None, None] * matrix_t(np.linalg.inv(a))).astype(float_dtype(a))


def norm_order(ord):
    """1.0 for the norms whose partials `norm_partials` differentiates again (None, 2, 'fro'), 0.0 for
    the piecewise linear ones (1, inf, -inf, 0); other orders are refused."""
    if ord in (None, 2, "fro"):
        return 1.0
    if ord in (1, np.inf, -np.inf, 0):
        return 0.0
    from .errors import NoDerivativeRuleError

    raise NoDerivativeRuleError(
        f"np.linalg.norm with ord={ord!r} cannot be differentiated twice yet",
        hint="second derivatives of norms exist for ord None, 2, 'fro' (and 1, inf: zero)",
    )


def triangle_symmetric(x, UPLO="L"):
    """The symmetric matrix made of the lower (`UPLO="L"`) or upper triangle of `x`: the matrix
    `eigh` and `cholesky` actually read."""
    x = np.asarray(x)
    if UPLO in ("U", "u"):
        return np.triu(x) + matrix_t(np.triu(x, 1))
    return np.tril(x) + matrix_t(np.tril(x, -1))


def triangle_adjoint(g, UPLO="L"):
    """The transpose of `triangle_symmetric`: a cotangent on the triangle that was read."""
    g = np.asarray(g)
    if UPLO in ("U", "u"):
        return np.triu(g) + np.triu(matrix_t(g), 1)
    return np.tril(g) + np.tril(matrix_t(g), -1)


def phi(x):
    """The lower triangle of `x` with its diagonal halved (a linear map; see `cholesky_tangent`)."""
    return _phi(np.asarray(x))


# -- shapes and indices for the definitions in s2sad.rules.definitions (no derivatives) ---------


def kron_shapes(a, b):
    """The shapes `np.kron(a, b)` is computed with: `a` as (p1, 1, p2, 1, ...), `b` as (1, q1, 1, q2, ...)."""
    sa, sb = np.shape(a), np.shape(b)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    return (
        tuple(x for p in sa for x in (p, 1)),
        tuple(x for q in sb for x in (1, q)),
        tuple(p * q for p, q in zip(sa, sb)),
    )


def split_points(ary, indices_or_sections, axis=0):
    """`np.array_split`'s division points: sections of sizes differing by at most one."""
    if np.ndim(indices_or_sections) != 0:
        return list(indices_or_sections)
    n, sections = np.shape(ary)[axis], int(indices_or_sections)
    each, extra = divmod(n, sections)
    sizes = [each + 1] * extra + [each] * (sections - extra)
    return [int(x) for x in np.cumsum(sizes)[:-1]]


def rollaxis_move(ndim, axis, start=0):
    """`np.rollaxis(a, axis, start)` as the (source, destination) of `np.moveaxis`."""
    axis, start = axis % ndim, start + ndim if start < 0 else start
    if axis < start:
        start -= 1
    return axis, start


def diag_padding(k):
    """The padding that moves a square diagonal matrix onto diagonal `k`."""
    return ((0, k), (k, 0)) if k >= 0 else ((-k, 0), (0, -k))


def diagonal_plan(a, offset=0, axis1=0, axis2=1):
    """(shape with the two axes flattened last, flat indices of diagonal `offset`) for `np.diagonal`."""
    shape = np.shape(a)
    n, m = shape[axis1], shape[axis2]
    rest = tuple(s for i, s in enumerate(shape) if i not in (axis1 % len(shape), axis2 % len(shape)))
    rows = np.arange(max(0, -offset), max(0, min(n, m - offset)))
    return rest + (n * m,), rows * m + rows + offset


def gradient_axes(axis, ndim):
    """The axes `np.gradient` differentiates along, in the order given."""
    axes = tuple(range(ndim)) if axis is None else tuple(int(a) % ndim for a in (axis if np.ndim(axis) else (axis,)))
    if len(axes) > 3:
        raise NotImplementedError("derivatives of np.gradient along more than three axes at once")
    return axes


def flat_along(index, axis):
    """Flat indices into an array for `index` taken along `axis` (as `np.take_along_axis`)."""
    index = np.asarray(index)
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return np.ravel_multi_index(tuple(grid), index.shape).ravel()


def nonfinite_replaced(x, nan=0.0, posinf=None, neginf=None):
    """`np.nan_to_num(x)`'s values where `x` is not finite, 0 where it is: piecewise constant."""
    x = np.asarray(x)
    return np.where(np.isfinite(x), 0.0, np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf))


def real_only(x):
    """`x`, refused if complex: s2sad differentiates real numbers."""
    if np.iscomplexobj(x):
        raise NotImplementedError("s2sad differentiates real numbers; this value is complex")
    return x


def _phi(x):
    """Lower triangle with the diagonal halved."""
    return np.tril(x) - 0.5 * np.eye(x.shape[-1], dtype=x.dtype) * x


def _eigh_f(w):
    diff = w[..., None, :] - w[..., :, None]  # w_j - w_i
    with np.errstate(divide="ignore"):
        f = np.where(diff == 0, 0.0, 1.0 / np.where(diff == 0, 1.0, diff))
    return f


def eigh_tangent(z, a_dot):
    """Tangent of `np.linalg.eigh(a)` (distinct eigenvalues, a_dot symmetric)."""
    w, v = z
    m = matrix_t(v) @ a_dot @ v
    w_dot = np.diagonal(m, axis1=-2, axis2=-1).copy()
    v_dot = v @ (_eigh_f(w) * m)
    return (w_dot, v_dot)


def eigh_adjoint(g, z):
    """Adjoint of `np.linalg.eigh(a)` for symmetric `a` (the result is symmetric)."""
    w, v = z
    w_bar, v_bar = item(g, 0), item(g, 1)
    inner = np.zeros(np.shape(v), dtype=float_dtype(v))
    if not (np.ndim(w_bar) == 0 and w_bar == 0):
        inner = inner + np.asarray(w_bar)[..., :, None] * np.eye(np.shape(w)[-1])
    if not (np.ndim(v_bar) == 0 and v_bar == 0):
        inner = inner + _eigh_f(w) * (matrix_t(v) @ v_bar)
    a_bar = v @ inner @ matrix_t(v)
    return 0.5 * (a_bar + matrix_t(a_bar))


# -- construction -----------------------------------------------------------------------------------


def array_adjoint(g, x):
    """Adjoint of `np.array(x)`: `g` shaped like `x` (indexable like a nested list)."""
    g = np.asarray(g)
    if isinstance(x, np.ndarray):
        return g.reshape(x.shape).astype(float_dtype(x), copy=False)
    if np.ndim(x) == 0 and not isinstance(x, (list, tuple)):
        return g[()]
    return g


def astype_tangent(t, dtype):
    """Tangent of `x.astype(dtype)`: cast along, and zero for integer or bool targets."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        return np.zeros(np.shape(t))
    return np.asarray(t).astype(dtype)


def full_tangent(z, t):
    """Tangent of `np.full(shape, v)`: the tangent of `v` broadcast over the result."""
    return np.broadcast_to(t, np.shape(z)).astype(float_dtype(z))


def sort_tangent(t, x, axis=-1):
    """Tangent of `np.sort(x, axis)`: the tangent permuted like `x`."""
    if axis is None:
        return np.ravel(t)[np.argsort(np.ravel(x), kind="stable")]
    order = np.argsort(x, axis=axis, kind="stable")
    return np.take_along_axis(np.broadcast_to(t, np.shape(x)), order, axis=axis)


def sort_adjoint(g, x, axis=-1):
    """Adjoint of `np.sort(x, axis)`: scatter `g` back through the sorting permutation."""
    x = np.asarray(x)
    out = np.zeros(x.shape, dtype=_dtype(g, x))
    if axis is None:
        out.reshape(-1)[np.argsort(x.ravel(), kind="stable")] = g
        return out
    order = np.argsort(x, axis=axis, kind="stable")
    np.put_along_axis(out, order, g, axis=axis)
    return out


# -- ranges: np.linspace and np.arange are linear in their float end points and steps -------------


def linspace_adjoint(g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    """Adjoint of `np.linspace(start, stop, num, endpoint, retstep, axis=axis)` w.r.t. `start`
    (`which` 0) or `stop` (1): the samples are `start * (1 - t) + stop * t`, the step
    `(stop - start) / div` (`g` is then the pair of their cotangents)."""
    like = (start, stop)[which]
    step_bar = 0.0
    if retstep:
        g, step_bar = g
        div = (num - 1) if endpoint else num
        step_bar = np.asarray(step_bar) / div * (1.0 if which else -1.0) if div > 0 else 0.0
    weights = np.linspace(1.0, 0.0, num, endpoint) if which == 0 else np.linspace(0.0, 1.0, num, endpoint)
    g = np.moveaxis(np.asarray(g), axis, 0)
    total = np.tensordot(weights, g, axes=(0, 0)) + step_bar
    return unreduce_to(total, like)


def linspace_transpose(h, g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    """The transpose of `linspace_adjoint` in its cotangent `g`: the `g` whose adjoint pairs with `h`."""
    like = np.asarray(g[0] if retstep else g)
    weights = np.linspace(1.0, 0.0, num, endpoint) if which == 0 else np.linspace(0.0, 1.0, num, endpoint)
    h = np.broadcast_to(h, np.shape(np.moveaxis(like, axis, 0))[1:])
    samples = np.moveaxis(np.multiply.outer(weights, h), 0, axis if axis >= 0 else like.ndim + axis)
    if not retstep:
        return samples
    div = (num - 1) if endpoint else num
    step = h / div * (1.0 if which else -1.0) if div > 0 else np.zeros_like(h)
    return samples, step


def unreduce_to(g, like):
    """`g` summed to the shape of `like` (broadcasting added axes or stretched ones of size 1)."""
    shape = np.shape(like)
    g = np.asarray(g)
    if g.shape == shape:
        return g if shape else float(g)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    return g if shape else float(g)


def arange_tangent(z, start_dot, step_dot, stop=None):
    """Tangent of `np.arange(start, stop, step)`: item i is `start + i * step`. With one argument
    it is the stop, which sets only the length: a zero tangent."""
    if stop is None:
        return np.zeros(np.shape(z))
    return start_dot + step_dot * np.arange(np.shape(z)[0])


def arange_adjoint(g, stop=None, which=0):
    """Adjoint of `np.arange(start, stop, step)` w.r.t. `start` (`which` 0) or `step` (1)."""
    if stop is None:
        return 0.0
    g = np.asarray(g)
    return float(np.sum(g)) if which == 0 else float(np.dot(g, np.arange(g.shape[0])))


# -- points where the textbook formula divides 0 by 0 ------------------------------------------


def half_inverse(s):
    """`1 / (2 s)`, 0 where `s` is 0: the derivative of `sqrt` at a spread of 0 (np.std of equal
    values) taken as 0, a subgradient, as `abs` at 0."""
    if np.ndim(s) == 0:
        return 0.5 / s if s != 0 else 0.0 * s
    s = np.asarray(s)
    safe = np.where(s == 0, 1.0, s)
    return np.where(s == 0, 0.0, 0.5 / safe)


def power_dx(x, y):
    """d(x ** y)/dx = y x ** (y - 1), 0 where y is 0 (x ** 0 is 1, also at x = 0)."""
    if np.ndim(x) == 0 and np.ndim(y) == 0:
        return y * x ** (y - 1) if y != 0 else 0.0 * x
    x, y = np.asarray(x), np.asarray(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y == 0, 0.0, y * np.power(np.where(y == 0, 1.0, x), y - 1))


def power_dy(z, x):
    """d(x ** y)/dy = x ** y log x, 0 where x ** y is 0 (0 ** y with y > 0)."""
    if np.ndim(z) == 0 and np.ndim(x) == 0:
        return z * np.log(x) if z != 0 else 0.0 * z
    z, x = np.asarray(z), np.asarray(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(z == 0, 0.0, z * np.log(np.where(z == 0, 1.0, x)))
