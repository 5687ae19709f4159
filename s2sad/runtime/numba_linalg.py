"""The numba target's matrix-product adjoints: loop outer products summed as one product, `x @ y`'s
adjoints for vectors and matrices. NumPy and numba only (s2sad.runtime.numba gathers the helpers)."""

import numba
import numpy as np
from numba.extending import overload

from .numba_arrays import JIT, is_array


def product_sum(gs, vs, side, w):
    """The sum over a loop of the adjoints of `w @ v` (side "x": `g v^T`) or `v @ w` (side "y": `v^T g`)
    as one matrix product (zeros shaped like `w` for no step); vectors or matrices per step."""
    if not gs:
        return np.zeros(np.shape(w))
    if np.ndim(gs[0]) == 1:
        G, V = np.array(gs), np.array(vs)
        return G.T @ V if side == "x" else V.T @ G
    if side == "x":
        return np.concatenate(gs, axis=1) @ np.concatenate(vs, axis=1).T
    return np.concatenate(vs, axis=0).T @ np.concatenate(gs, axis=0)


@numba.njit(**JIT)
def _stacked(xs, along_rows):
    """The matrices of the list `xs` side by side (along_rows False) or one under the other."""
    rows, columns = xs[0].shape
    count = len(xs)
    out = np.empty((rows * count, columns) if along_rows else (rows, columns * count))
    for k in range(count):
        if along_rows:
            out[k * rows : (k + 1) * rows] = xs[k]
        else:
            out[:, k * columns : (k + 1) * columns] = xs[k]
    return out


@overload(product_sum, jit_options=JIT)
def _product_sum(gs, vs, side, w):
    ndim = getattr(getattr(gs, "dtype", None), "ndim", None)
    if ndim == 1:

        def vectors(gs, vs, side, w):
            count = len(gs)
            if count == 0:
                return np.zeros(w.shape)
            G = np.empty((count, gs[0].shape[0]))
            V = np.empty((count, vs[0].shape[0]))
            for k in range(count):
                G[k] = gs[k]
                V[k] = vs[k]
            return G.T @ V if side == "x" else V.T @ G

        return vectors
    if ndim == 2:

        def matrices(gs, vs, side, w):
            if len(gs) == 0:
                return np.zeros(w.shape)
            if side == "x":
                return _stacked(gs, False) @ _stacked(vs, False).T
            return _stacked(vs, True).T @ _stacked(gs, True)

        return matrices
    return None


@numba.njit(**JIT)
def cotangent_sum(gs, side, w):
    """The sum of the cotangents `g` a loop gave `product_sum` (zeros shaped like one for no step)."""
    total = np.zeros(w.shape[0] if side == "x" else w.shape[1])
    for g in gs:
        total += g
    return total


def matmul_adjoint_x(g, x, y):
    """Adjoint of `x @ y` with respect to `x`, for vectors and matrices."""
    if np.ndim(x) == 2:
        return np.outer(g, y) if np.ndim(y) == 1 else g @ y.T
    return y @ g if np.ndim(y) == 2 else g * y


@overload(matmul_adjoint_x, jit_options=JIT)
def _matmul_adjoint_x(g, x, y):
    if not (is_array(x) and is_array(y)) or x.ndim > 2 or y.ndim > 2:
        return None
    if x.ndim == 2:
        if y.ndim == 1:
            return lambda g, x, y: np.outer(g, y)
        if y.layout in "CF":  # its transpose is contiguous too: BLAS reads it as it is
            return lambda g, x, y: g @ y.T
        return lambda g, x, y: g @ np.ascontiguousarray(y.T)
    if y.ndim == 2:
        return lambda g, x, y: np.ascontiguousarray(y) @ g
    return lambda g, x, y: g * y


def matmul_adjoint_y(g, x, y):
    """Adjoint of `x @ y` with respect to `y`, for vectors and matrices."""
    if np.ndim(y) == 2:
        return x.T @ g if np.ndim(x) == 2 else np.outer(x, g)
    return x.T @ g if np.ndim(x) == 2 else g * x


@overload(matmul_adjoint_y, jit_options=JIT)
def _matmul_adjoint_y(g, x, y):
    if not (is_array(x) and is_array(y)) or x.ndim > 2 or y.ndim > 2:
        return None
    if y.ndim == 2 and x.ndim == 1:
        return lambda g, x, y: np.outer(x, g)
    if x.ndim == 2:
        if x.layout in "CF":
            return lambda g, x, y: x.T @ g
        return lambda g, x, y: np.ascontiguousarray(x.T) @ g
    return lambda g, x, y: g * x
