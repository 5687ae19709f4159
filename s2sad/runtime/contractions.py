"""A two-operand `einsum` as one matrix product: which letters are batch axes, which are free and
which are summed, and the transposes and reshapes around one `np.matmul` (BLAS) that compute it.

`np.einsum` without `optimize` runs its own loops: on batched products (GMM's `"kij,nkj->nki"`)
5-15x slower than `np.matmul`. The plan depends on the subscripts and the shapes only, so code
specialized to its arguments' shapes writes it out as NumPy calls when compiling
(s2sad/peepholes/contractions.py); the run-time helpers (`einsum_adjoint`, `einsum_tangent`) make
it at run time for large contractions whose shapes were not known.

>>> plan = pair_plan(["kij", "nkj"], "nki", (5, 3, 3), (7, 5, 3))
>>> plan.left, plan.perms, plan.perm_out
(1, ((1, 0, 2), (0, 2, 1)), (1, 0, 2))
>>> a, b = np.arange(45.0).reshape(5, 3, 3), np.arange(105.0).reshape(7, 5, 3)
>>> bool(np.allclose(run_pair(plan, a, b), np.einsum("kij,nkj->nki", a, b)))
True
"""

import math
from typing import NamedTuple

import numpy as np


class PairPlan(NamedTuple):
    """`einsum(a, b)` as `x @ y`: `x` is operand `left` (0: a, 1: b), `y` the other; each is summed
    over the letters it alone carries (`sums`), transposed (`perms`) to (batch, free, summed) or
    (batch, summed, free) and reshaped (`shapes`) to a stack of matrices; the product is reshaped
    (`shape_out`) and transposed (`perm_out`) to the output. None: nothing to do."""

    left: int
    sums: tuple  # (axes of x, axes of y) or None each
    perms: tuple
    shapes: tuple
    shape_out: tuple
    perm_out: tuple


def pair_plan(terms, output, shape_a, shape_b):
    """The plan of `np.einsum("<terms[0]>,<terms[1]>-><output>", a, b)` for operands of these
    shapes (explicit subscripts, no '...'), or None when one matrix product does not fit: a letter
    repeated in a term (a diagonal), sizes that differ (broadcasting), no letter summed between
    the operands (a broadcast product) or no free letter (a batched dot: einsum's own loop is
    as fast)."""
    ta, tb = terms
    if len(ta) != len(shape_a) or len(tb) != len(shape_b):
        return None
    if len(set(ta)) != len(ta) or len(set(tb)) != len(tb) or len(set(output)) != len(output):
        return None
    sizes = dict(zip(ta, shape_a))
    for ch, n in zip(tb, shape_b):
        if sizes.setdefault(ch, n) != n:
            return None
    if any(ch not in sizes for ch in output):
        return None
    batch = [ch for ch in output if ch in ta and ch in tb]
    summed = [ch for ch in ta if ch in tb and ch not in output]
    free_a = [ch for ch in output if ch in ta and ch not in tb]
    free_b = [ch for ch in output if ch in tb and ch not in ta]
    if not summed or not (free_a or free_b):
        return None
    # the left factor: the one giving the product the output's order, or at least its last axis
    # (the result's rows stay contiguous for the elementwise operations that read it)
    products = (batch + free_a + free_b, batch + free_b + free_a)
    left = min((0, 1), key=lambda k: (products[k] != list(output), products[k][-1] != output[-1]))
    (tx, free_x), (ty, free_y) = ((ta, free_a), (tb, free_b))[:: 1 if left == 0 else -1]
    sums, perms, shapes = [], [], []
    for term, other, free, summed_last in ((tx, ty, free_x, True), (ty, tx, free_y, False)):
        alone = [ch for ch in term if ch not in output and ch not in other]
        sums.append(tuple(term.index(ch) for ch in alone) or None)
        kept = [ch for ch in term if ch not in alone]
        order = batch + (free + summed if summed_last else summed + free)
        perm = tuple(kept.index(ch) for ch in order)
        perms.append(None if perm == tuple(range(len(perm))) else perm)
        rows, cols = (free, summed) if summed_last else (summed, free)
        matrix = tuple(sizes[ch] for ch in batch) + (_size(rows, sizes), _size(cols, sizes))
        shapes.append(None if len(rows) == 1 and len(cols) == 1 else matrix)
    product = batch + free_x + free_y
    shape_out = None if len(free_x) == 1 and len(free_y) == 1 else tuple(sizes[ch] for ch in product)
    perm_out = tuple(product.index(ch) for ch in output)
    perm_out = None if perm_out == tuple(range(len(perm_out))) else perm_out
    return PairPlan(left, tuple(sums), tuple(perms), tuple(shapes), shape_out, perm_out)


def _size(letters, sizes):
    return math.prod(sizes[ch] for ch in letters)


def run_pair(plan, a, b):
    """`np.einsum` of `a` and `b` by its plan (see `pair_plan`)."""
    x, y = (a, b) if plan.left == 0 else (b, a)
    x, y = (_arranged(v, s, p, m) for v, s, p, m in zip((x, y), plan.sums, plan.perms, plan.shapes))
    if written_in_order(plan, _product_size(np.shape(x), np.shape(y))):
        return matmul_transposed(x, y, plan.perm_out)
    out = np.matmul(x, y)
    if plan.shape_out is not None:
        out = out.reshape(plan.shape_out)
    return out if plan.perm_out is None else out.transpose(plan.perm_out)


# a transposed product of at least this many entries is written in the output's own order: an
# elementwise operation that meets it and a C-ordered array loops over one row at a time (GMM's
# `Qdiags * centered + einsum(...)`: 3x slower than on two C-ordered arrays); below, allocating
# the output in Python costs more than it saves
ORDERED_SIZE = 1 << 12


def written_in_order(plan, size):
    """Is the product of `plan`, whose output has `size` entries, written into a C-ordered output
    (`matmul_transposed`)? When it is transposed, the output keeps the product's last axis last
    (so BLAS writes rows of it) and needs no reshape, and the output is large enough."""
    perm = plan.perm_out
    return perm is not None and plan.shape_out is None and perm[-1] == len(perm) - 1 and size >= ORDERED_SIZE


def _product_size(shape_x, shape_y):
    return math.prod(np.broadcast_shapes(shape_x[:-2], shape_y[:-2])) * shape_x[-2] * shape_y[-1]


def matmul_transposed(x, y, axes):
    """`np.matmul(x, y).transpose(axes)` as a new C-ordered array: BLAS writes the product into
    a transposed view of it (see `ORDERED_SIZE`).

    >>> x, y = np.arange(24.0).reshape(2, 3, 4), np.arange(40.0).reshape(2, 4, 5)
    >>> z = matmul_transposed(x, y, (1, 0, 2))
    >>> bool(np.array_equal(z, np.matmul(x, y).transpose(1, 0, 2))), z.flags.c_contiguous
    (True, True)
    """
    shape = np.broadcast_shapes(np.shape(x)[:-2], np.shape(y)[:-2]) + (np.shape(x)[-2], np.shape(y)[-1])
    out = np.empty(tuple(shape[a] for a in axes), dtype=np.result_type(x, y))
    inverse = [0] * len(axes)
    for position, axis in enumerate(axes):
        inverse[axis] = position
    np.matmul(x, y, out=out.transpose(inverse))
    return out


def _arranged(v, summed, perm, shape):
    v = np.asarray(v)
    if summed is not None:
        v = v.sum(axis=summed)
    if perm is not None:
        v = v.transpose(perm)
    return v if shape is None else v.reshape(shape)


# contractions of operands whose sizes multiply to less than this run in einsum's own loop:
# planning costs a few microseconds of Python, more than a small einsum takes
PLANNED_SIZE = 1 << 14


def contract_pair(terms, output, a, b):
    """`np.einsum` of two operands given explicit subscripts, by one matrix product where that
    fits and the contraction is large enough to gain from it, else by einsum's own loop."""
    sa, sb = np.shape(a), np.shape(b)
    if math.prod(sa) * math.prod(sb) >= PLANNED_SIZE:
        plan = pair_plan(terms, output, sa, sb)
        if plan is not None:
            return run_pair(plan, a, b)
    return np.einsum(f"{terms[0]},{terms[1]}->{output}", a, b)
