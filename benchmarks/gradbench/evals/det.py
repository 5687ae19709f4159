"""det: the determinant by expansion along the first row (recursive), and its gradient.

As in cmpad's det_by_minor, a minor is described by the rows and columns it keeps;
the recursion removes the minor's first row and each of its columns in turn.
"""

import numpy as np

import s2sad

from . import Function, to_list


def det_of_minor(A, rows, cols):
    if len(rows) == 1:
        return A[rows[0], cols[0]]
    total = 0.0
    sign = 1.0
    for j in range(len(cols)):
        sub_cols = cols[:j] + cols[j + 1 :]
        total = total + sign * A[rows[0], cols[j]] * det_of_minor(A, rows[1:], sub_cols)
        sign = -sign
    return total


def det(A):
    n = A.shape[0]
    return det_of_minor(A, list(range(n)), list(range(n)))


gradient = s2sad.grad(det)


def _prepare(raw):
    ell = int(raw["ell"])
    return np.array(raw["A"], dtype=float).reshape(ell, ell)


FUNCTIONS = {
    "primal": Function(_prepare, det, float),
    "gradient": Function(_prepare, lambda A: gradient(A).ravel(), to_list),
}
