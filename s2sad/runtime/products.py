"""Run-time helpers of the NumPy rules: matrix products, `einsum`, `dot`, `tensordot`, `outer`,
`trace`.

>>> einsum_adjoint(np.ones((2, 2)), "ij,jk->ik", 0, np.eye(2), 2 * np.eye(2)).tolist()
[[2.0, 2.0], [2.0, 2.0]]
"""

import numpy as np

from .arrays import derivative_dtype, matrix_t
from .contractions import contract_pair
from .core import float_dtype, unbroadcast, zeros_like

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


def _zero_placeholder(g):
    """The zero that stands for a cotangent of any shape (`0.0`), not an array or a scalar product."""
    return (g.__class__ is float or g.__class__ is int) and g == 0


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
    if _zero_placeholder(g):  # (a cotangent never set: derivative code differentiated again)
        return zeros_like(x)
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
    if _zero_placeholder(g):
        return zeros_like(y)
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

    __slots__ = ("side", "gs", "vs", "stacked")

    def __init__(self, side):
        self.side, self.gs, self.vs, self.stacked = side, [], [], None

    def add(self, g, v):
        self.gs.append(g)
        self.vs.append(v)

    def total(self, w):
        gs, vs = self.gs, self.vs
        if not gs:
            return 0.0
        if w.__class__ is np.ndarray and w.ndim == 2 and w.dtype.char == "d":
            x = self.side == "x"
            G, V = _joined(gs, 1 if x else 0), _joined(vs, 1 if x else 0)
            if G is not None and V is not None and gs[0].ndim == vs[0].ndim:
                if gs[0].ndim == 1:  # vectors, one step per row
                    self.stacked = G
                    return G.T @ V if x else V.T @ G
                return G @ V.T if x else V.T @ G  # matrices side by side
        if self.side == "x":
            return sum(matmul_adjoint_x(g, w, v) for g, v in zip(gs, vs))
        return sum(matmul_adjoint_y(g, v, w) for g, v in zip(gs, vs))

    def cotangent_sum(self):
        """The sum of the steps' cotangents `g` (a loop that also added them to an adjoint, the
        bias of `W @ x + b`): the rows `total` stacked, summed at once."""
        gs = self.gs
        if not gs:
            return 0.0
        if self.stacked is not None:
            return self.stacked.sum(axis=0)
        total = gs[0]
        for g in gs[1:]:
            total = total + g
        return total


def _joined(arrays, axis):
    """The steps' float64 arrays joined for one matrix product, or None: vectors of one length
    stacked as rows, matrices concatenated along `axis`. Checked on the result, not step by
    step: checking a loop's hundreds of arrays one by one cost more than the product saved."""
    first = arrays[0]
    if first.__class__ is not np.ndarray or first.dtype.char != "d" or first.ndim not in (1, 2):
        return None
    try:
        joined = np.array(arrays) if first.ndim == 1 else np.concatenate(arrays, axis=axis)
    except ValueError:  # steps of different shapes
        return None
    return joined if joined.dtype.char == "d" and joined.ndim == 2 else None


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
    other = b if which == 0 else a
    if subscripts is None:
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


def explicit_subscripts(subscripts, operands):
    """`subscripts` for `operands` with '...' spelled out in free letters and the output made
    explicit (implicit output: the letters used once, in alphabetical order, after any '...').

    >>> explicit_subscripts("ij,j", [np.ones((2, 3)), np.ones(3)])
    (['ij', 'j'], 'i')
    >>> explicit_subscripts("...ij->...ji", [np.ones((4, 2, 3))])
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
        output = ("..." if "..." in text else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1)
        )
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
    """`np.einsum` of explicit subscripts: two operands by one matrix product where that fits
    (`contract_pair`), a contraction order chosen for three or more."""
    if len(operands) == 2:
        return contract_pair(inputs, output, *operands)
    spec = ",".join(inputs) + "->" + output
    return np.einsum(spec, *operands, optimize="greedy" if len(operands) > 2 else False)


def einsum_pair(subscripts, a, b):
    """`np.einsum(subscripts, a, b)` by one matrix product where that fits: a contraction of two
    operands in code compiled without knowing their shapes (s2sad/peepholes/contractions.py).

    >>> einsum_pair("ij,jk", np.eye(2), np.ones((2, 3))).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    inputs, output = explicit_subscripts(subscripts, [a, b])
    return contract_pair(inputs, output, a, b)


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
        inputs, output = explicit_subscripts(subscripts, operands[:count])
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
    inputs, output = explicit_subscripts(subscripts, operands)
    mine = operands[which]
    target = inputs[which]
    shape = np.shape(mine)
    unique = "".join(dict.fromkeys(target))
    sizes = [shape[target.index(ch)] for ch in unique]
    others = [(inputs[k], operands[k]) for k in range(count) if k != which]
    available = set(output).union(*[set(s) for s, _ in others])
    reachable = "".join(ch for ch in unique if ch in available)
    terms = [output] + [s for s, _ in others]
    arrays = [np.asarray(g, dtype=derivative_dtype(g, mine))] + [o for _, o in others]
    gx = _einsum(terms, reachable, _filled(terms, arrays, [(target, mine)]))
    gx = np.expand_dims(gx, tuple(i for i, ch in enumerate(unique) if ch not in reachable))
    summed = tuple(i for i, n in enumerate(sizes) if gx.shape[i] != n and n == 1)  # broadcast size-1 axes
    if summed:
        gx = np.sum(gx, axis=summed, keepdims=True)
    fresh = gx.shape == tuple(sizes) and len(terms) > 1  # (one operand: einsum may return a view of g)
    if not fresh:
        gx = np.broadcast_to(gx, sizes)
    if len(unique) != len(target):  # a repeated letter: the cotangent lives on that diagonal
        full = np.zeros(shape, dtype=gx.dtype)
        grid = np.indices(sizes, sparse=True)
        full[tuple(grid[unique.index(ch)] for ch in target)] = gx
        gx = full
    elif not fresh:  # a broadcast view or a view of `g`: the adjoint gets an array of its own
        gx = np.array(gx)
    return (
        gx.astype(np.result_type(gx, float_dtype(mine)), copy=False) if isinstance(mine, np.ndarray) else gx
    )


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
    inputs, output = explicit_subscripts(subscripts, operands[:count])
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
    out = np.zeros(a.shape, dtype=derivative_dtype(g, a))
    moved = np.moveaxis(out, (axis1, axis2), (-2, -1))  # a view into `out`
    n, m = moved.shape[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset))
    moved[..., rows, rows + offset] += np.asarray(g)[..., None]
    return out


# -- outer products summed after a loop (s2sad/peepholes/outer_sums.py) -----------------------------------


class OuterSum:
    """The per-step outer products a loop added to an accumulation, summed after it with one
    matrix product when every step's factors are plain vectors; otherwise each step's term is
    formed as the loop would have formed it and added in order.

    `form` says what a step's operands are and what its term is:
    "spread" (P, v, g): P * v, where P spreads the vector g along axis 1 (`_rt.unreduce`);
    "columns" (a, b): a[:, None] * b; "outer" (a, b): np.outer(a, b);
    "dot0" / "dot1" (g, P, Q): the adjoint of np.dot(P, Q) w.r.t. P / Q (`bilinear_adjoint`).

    >>> rng = np.random.default_rng(0)
    >>> s = OuterSum("columns")
    >>> pairs = [(rng.standard_normal(3), rng.standard_normal(2)) for _ in range(4)]
    >>> for a, b in pairs:
    ...     s.add(a, b)
    >>> bool(np.allclose(s.total(), sum(a[:, None] * b for a, b in pairs)))
    True
    """

    __slots__ = ("form", "steps")

    def __init__(self, form):
        self.form, self.steps = form, []

    def add(self, *operands):
        self.steps.append(operands)

    def total(self):
        steps, form = self.steps, self.form
        if not steps:
            return 0.0
        if len(steps) > 1:
            factors = [_outer_factors(form, operands) for operands in steps]
            if all(f is not None for f in factors):
                m, n = factors[0][0].shape[0], factors[0][1].shape[-1]
                if all(c.shape == (m,) and r.shape[-1] == n for c, r in factors):
                    columns = np.array([c for c, _ in factors])
                    rows = np.array([r.reshape(n) for _, r in factors])
                    return columns.T @ rows
        total = _outer_term(form, steps[0])
        for operands in steps[1:]:
            total = total + _outer_term(form, operands)
        return total


def _vector(x):
    return x.__class__ is np.ndarray and x.ndim == 1 and x.dtype == np.float64


def _row(x):
    return (
        x.__class__ is np.ndarray
        and x.dtype == np.float64
        and (x.ndim == 1 or (x.ndim == 2 and x.shape[0] == 1))
    )


def _outer_factors(form, operands):
    """(column, row) vectors whose outer product is the step's term, or None."""
    if form == "spread":
        P, v, g = operands
        if _vector(g) and _row(v) and P.__class__ is np.ndarray and P.shape == (g.shape[0], v.shape[-1]):
            return g, v
        return None
    if form in ("columns", "outer"):
        a, b = operands
        return (a, b) if _vector(a) and (_vector(b) if form == "outer" else _row(b)) else None
    g, P, Q = operands
    if form == "dot0":
        return (g, Q) if _vector(g) and _vector(Q) and P.__class__ is np.ndarray and P.ndim == 2 else None
    return (P, g) if _vector(g) and _vector(P) and Q.__class__ is np.ndarray and Q.ndim == 2 else None


def _outer_term(form, operands):
    """The step's term, as the loop formed it."""
    if form == "spread":
        P, v, _ = operands
        return P * v
    if form == "columns":
        a, b = operands
        return a[:, None] * b
    if form == "outer":
        return np.outer(*operands)
    g, P, Q = operands
    return bilinear_adjoint(g, dot_subscripts(P, Q), 0 if form == "dot0" else 1, P, Q)
