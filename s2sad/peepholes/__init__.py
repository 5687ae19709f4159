"""Peepholes on the derivative code, one per file; PEEPHOLES is their order (the pipeline runs it on
each generated function after the transform, `s2sad.pipeline.generate`)."""

from .. import config
from .. import kinds as K
from ..astutil import statements, unshare
from ..modes import Mode
from .accumulations import fuse_accumulations
from .contractions import write_contractions
from .copies import propagate_copies_in_blocks
from .dead_inits import drop_dead_initializations
from .doublings import double_products
from .negations import fold_negated_sums, fold_negations
from .outer_sums import sum_outer_products_after_loops
from .products import sum_products_after_loops
from .row_writes import store_fresh_rows
from .scatter import accumulate_at_basic_indices
from .single_use import inline_single_use
from .spreads import spread_by_broadcasting
from .tape_rows import read_tapes_as_rows
from .tape_tuples import fuse_tape_lists
from .tapes import drop_unread_tapes
from .transposes import hoist_transposes


def _copies_and_fusion(node, c):
    for _ in range(2):  # a propagated copy can leave `a = a`, dropped by the fusing pass
        before = sum(1 for _ in statements(node.body))
        propagate_copies_in_blocks(node)
        fuse_accumulations(node, c.tape_lists)
        if sum(1 for _ in statements(node.body)) == before:
            break  # nothing dropped: another round would change nothing


def _single_use(node, c):
    inline_single_use(node, c.tape_lists)


def _products(node, c):
    if not c.portable:
        sum_products_after_loops(node)
        sum_outer_products_after_loops(node)


def _spreads(node, c):
    spread_by_broadcasting(node, c.analysis.shapes)


def _scatter(node, c):
    # `a_bar[i] += g`: also in code differentiated again, where the outer derivative saves
    # the one element it overwrites (a functional `added_at` would copy the array)
    accumulate_at_basic_indices(node, one_integer(c.analysis))


def one_integer(analysis):
    """The names known to hold one integer, so that `a_bar[i] += g` adds once: kind INT (not an array
    by its shape, where shapes are known), or a value of unknown kind whose shape is known to be `()`
    (`H = b.shape[0] // 2`: an index of shape () is one integer). An index array may repeat entries,
    which `+=` would drop."""
    shapes = analysis.shapes
    return {
        n
        for n, k in analysis.kinds.items()
        if (k == K.INT and shapes.get(n, ()) == ()) or (k == K.ANY and shapes.get(n) == ())
    }


def _tape_rows(node, c):
    # the numba target lowers tapes to typed arrays read by index, and compiles the loops anyway
    if not c.portable and c.target == "python":
        read_tapes_as_rows(node, c.analysis.shapes, c.analysis.kinds)


def _tapes(node, c):
    drop_unread_tapes(node, c.records)


def _contractions(node, c):
    # code differentiated again keeps the einsum helpers, a family closed under differentiation
    if not c.portable:
        write_contractions(node, c.analysis.shapes, c.parsed.namespace)


def _transposes(node, c):
    hoist_transposes(node, {n for n, k in c.analysis.kinds.items() if k == K.ARRAY})


PEEPHOLES = (  # (pass, whether it takes the compilation too), in order, on each generated function
    (unshare, False),  # the sweeps may share nodes; the peepholes below rewrite nodes in place
    (fold_negations, False),
    (_copies_and_fusion, True),
    (_single_use, True),
    (double_products, False),  # `s = g * x; x_bar = s + s` (x * x): `x_bar = 2.0 * g * x`
    (_products, True),
    (fold_negated_sums, False),
    (_spreads, True),  # after the products: `_rt.unreduce(g, x, 1) * v` in a loop is an outer product
    (_scatter, True),
    (store_fresh_rows, False),  # `a_bar[i] += g` into fresh zeros, once per row: `a_bar[i] = g`
    (_tape_rows, True),  # after the row stores: a product sum over stored rows is one product
    (_tapes, True),  # the passes above may leave a recorded value unread
    (drop_dead_initializations, False),  # ... and its `v = None` before the loop
    (_transposes, True),
    (_contractions, True),
)


def peepholes(c):
    if not config.enabled():
        return
    for node in c.functions.values():
        for run, with_compilation in PEEPHOLES:
            run(node, c) if with_compilation else run(node)
    if c.mode is Mode.RECURSIVE:  # the sweeps run once per level: one tape list per loop, not one per value
        fuse_tape_lists(list(c.functions.values()), c.tape_lists)
