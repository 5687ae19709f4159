"""Passes on the normalized program before differentiation, one per file; `optimize` runs them.

Tuples that are built only to be unpacked are replaced by their elements,
copies `a = b` of single-assignment names and constants are propagated, and
pure temporaries nobody reads are dropped. Fewer variables means fewer
tangents, adjoints and pushes in the generated code.

>>> import ast
>>> tree = ast.parse('''
... def f(x, y):
...     _t1 = (x, y * 2.0)
...     _value1 = _t1
...     a = _value1[0]
...     b = _value1[1]
...     k = 3.0
...     return a * b * k
... ''').body[0]
>>> from s2sad.frontend.normalize import normalize
>>> print(ast.unparse(optimize(normalize(tree))))
def f(x, y):
    b = y * 2.0
    _t1 = x * b
    _t2 = _t1 * 3.0
    return _t2
"""

from ..astutil import clone
from .bindings import name_counts
from .block_copies import merge_block_copies
from .cse import eliminate_common_subexpressions
from .dead import drop_dead
from .fold import fold_constant_tests
from .hoist import hoist_loop_invariants
from .propagate_copies import propagate_copies
from .renumber import renumber
from .single_temps import forward_single_temps
from .tuples import scalarize_tuples


def optimize(function, namespace=None, copy=True):
    """Return an optimized copy of the normalized `function` (see module doc); with `copy=False`,
    `function` itself, optimized in place."""
    if copy:
        function = clone(function)
    passes = (  # (pass, whether its changes keep the name counts: moving statements does)
        (scalarize_tuples, False),
        (lambda function, counts: eliminate_common_subexpressions(function, namespace, counts), False),
        (hoist_loop_invariants, True),
        (propagate_copies, False),
        (fold_constant_tests, False),
        (forward_single_temps, False),
        (merge_block_copies, False),
        (drop_dead, False),
    )
    counts = None  # the name counts of the tree as it is: recounted only after a pass changed them
    for _ in range(10):
        changed = False
        for run, keeps_counts in passes:
            counts = counts or name_counts(function)
            if run(function, counts):
                changed = True
                if not keeps_counts:
                    counts = None
        if not changed:
            break
    renumber(function)
    return function
