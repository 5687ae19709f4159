"""kmeans: the k-means cost sum_i min_j |c_j - p_i|^2 and the Newton direction J / diag(H).

The Hessian w.r.t. the centroids is diagonal, so H @ ones is its diagonal: one
Hessian-vector product (forward mode over the reverse-mode gradient).
"""

import numpy as np

import s2sad

from . import Function, to_list


def cost(points, centroids):
    distances = (
        np.sum(points**2, axis=1)[:, None]
        + np.sum(centroids**2, axis=1)[None, :]
        - 2.0 * points @ centroids.T
    )
    return np.sum(np.min(distances, axis=1))


gradient = s2sad.grad(cost, argnums=1)


def direction(points, centroids):
    J, H_diagonal = s2sad.jvp(gradient, (points, centroids), (np.zeros_like(points), np.ones_like(centroids)))
    return J / H_diagonal


def _prepare(raw):
    return np.array(raw["points"], dtype=float), np.array(raw["centroids"], dtype=float)


FUNCTIONS = {
    "cost": Function(_prepare, lambda args: cost(*args), float),
    "dir": Function(_prepare, lambda args: direction(*args), to_list),
}
