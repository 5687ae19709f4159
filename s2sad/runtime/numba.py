"""What derivative code of the numba target calls: typed tapes and `@njit` versions of `_rt` helpers.

NumPy and numba only: never the compiler. Only the numba code target imports this module (numba
is an optional dependency; the Python target never imports it). Generated code reads these as
`_rt.NAME`, so a helper the Python runtime has and this module lacks is refused by the target
before numba runs.

A counted loop records each value in an array made before the loop (`np.empty(n)`); a `while`
loop in an array that `grow` doubles when it is full; arrays are recorded in lists. The helpers live
by family (numba_arrays: tapes and element-wise; numba_reductions: along axes; numba_linalg: matrix
products; numba_indexing: integer-array indices); this module gathers them as `_rt`.

>>> tape = np.empty(2)
>>> for count in range(5):
...     tape = grow(tape, count)
...     tape[count] = count * 0.5
>>> tape.shape[0], tape[:5].tolist()
(5, [0.0, 0.5, 1.0, 1.5, 2.0])
>>> like(2.0, np.ones(3)).tolist(), unbroadcast(np.ones((4, 3)), np.ones(3)).tolist()
([2.0, 2.0, 2.0], [4.0, 4.0, 4.0])
"""

import numpy as np

from .numba_arrays import (
    broadcast_like,
    copy,
    grow,
    item,
    like,
    list_add_at,
    list_like,
    owned,
    reserve,
    ufunc,
    unbroadcast,
    zeros_like,
)
from .numba_indexing import add_at, gather, index_adjoint
from .numba_linalg import cotangent_sum, matmul_adjoint_x, matmul_adjoint_y, product_sum
from .numba_reductions import extremum_weights, mean_partials, reduce, unreduce

__all__ = [
    "add_at",
    "broadcast_like",
    "copy",
    "cotangent_sum",
    "extremum_weights",
    "gather",
    "grow",
    "index_adjoint",
    "item",
    "like",
    "list_add_at",
    "list_like",
    "matmul_adjoint_x",
    "matmul_adjoint_y",
    "mean_partials",
    "owned",
    "product_sum",
    "reduce",
    "reserve",
    "ufunc",
    "unbroadcast",
    "unreduce",
    "zeros_like",
]
