"""The numba code target: a Python-target derivative rewritten in the subset numba compiles.

The derivative is the Python target's (same passes, same statements), lowered so that
`numba.njit` types every value:

- tapes become typed: a counted loop's `[None] * n` list an array `np.empty(n)` (a list of
  arrays when it records arrays), a `while` loop's interleaved list one array per recorded
  value grown by `_rt.grow` (capacity doubling) with a count, read back by index;
- the shared stack `_stack` becomes one list per name it saves (`_push(x)` / `x = _pop()`: each
  name's values come back in reverse order, as from the one stack);
- a name bound to `None` before a loop first assigns it gets a zero of the type it takes
  (`0.0`, `False`, a zero-size array), and an adjoint started at `0.0` that becomes an array
  starts as zeros of that array's shape: numba gives every name one type;
- module-level arrays and numbers the code reads become parameters, so a caller who changes
  them gets the new derivative (numba would freeze them into the compiled code);
- `_rt.ProductSum` (loop outer products summed in one matrix product) becomes two lists and a
  call of `_rt.product_sum` (its `cotangent_sum()`, a call of `_rt.cotangent_sum`).

The types come from one run of the Python-target code on the arguments (a probe: the final
value of every name). What numba cannot compile (Python objects, functions s2sad did not
inline, helpers with no numba version) raises `NumbaTargetError` at the user's line before
numba runs.

>>> text = '''def f_grad(x, n, _t2_bar=1.0):
...     # f.py:3: for _ in range(n):
...     _tape1_xs = [None] * n
...     for _ in range(n):
...         # f.py:4: x = x * x
...         _tape1_xs[_] = x
...         x = x * x
...     x_bar = _t2_bar
...     for x in reversed(_tape1_xs):
...         x_bar = x_bar * 2.0 * x
...     return (x_bar,)
... '''
>>> lowered = lower(text, {"x": 1.5, "n": 3, "_tape1_xs": [1.5]}, {}, "f_grad")
>>> print(lowered.source)
def f_grad(x, n, _t2_bar):
    # f.py:3: for _ in range(n):
    _tape1_xs = np.empty(n, np.float64)
    for _ in range(n):
        # f.py:4: x = x * x
        _tape1_xs[_] = x
        x = x * x
    x_bar = _t2_bar
    for _index in range(len(_tape1_xs) - 1, -1, -1):
        x = _tape1_xs[_index]
        x_bar = x_bar * 2.0 * x
    return (x_bar,)
<BLANKLINE>
"""

import ast
from dataclasses import dataclass, field

from .checks import RUNTIME_HELPERS
from .kinds import describe, zero_of
from .lowering import Lowering
from .probe import probe
from .spelling import VECTORIZED
from .syntax import MARKER, Where, unmark, with_markers

__all__ = [
    "MARKER",
    "RUNTIME_HELPERS",
    "VECTORIZED",
    "Lowered",
    "Where",
    "describe",
    "lower",
    "probe",
    "zero_of",
]


@dataclass
class Lowered:
    """The numba-target source and the module-level values it takes as its last parameters."""

    source: str
    function_name: str
    global_params: list = field(default_factory=list)  # names read from the function's globals


def lower(text, values, namespace, function_name):
    """The numba-target version of the Python-target source `text` of `function_name`.

    `values`: the final value of each name in one run of it (their types type the tapes and
    zeros); `namespace`: the user's globals (arrays and numbers read become parameters)."""
    where = Where(text)
    module = ast.parse(with_markers(text))
    functions = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == function_name]
    if not functions:
        raise ValueError(f"no function {function_name} in the source")
    lowering = Lowering(functions[0], values, namespace, where)
    fn = lowering.run()
    ast.fix_missing_locations(fn)
    return Lowered(unmark(ast.unparse(fn)), function_name, lowering.global_params)
