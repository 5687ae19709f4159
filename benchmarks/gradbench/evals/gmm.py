"""gmm: the log-likelihood of a Gaussian mixture with a Wishart prior (ADBench's GMM) and its
gradient w.r.t. alpha, mu, q and l (reverse mode).

Component k has precision factor Q_k = diag(exp(q_k)) + L_k, L_k strictly lower triangular,
filled column by column from l_k; the code builds the Q_k (one d x d matrix each) and applies
them to every centered point with one `einsum`.
"""

import math

import numpy as np

import s2sad

from . import Function, to_list


def logsumexp(x, axis):
    top = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(x - top), axis=axis)) + np.squeeze(top, axis=axis)


def log_gamma_distribution(a, p):
    total = 0.25 * p * (p - 1) * math.log(math.pi)
    for j in range(1, p + 1):
        total = total + math.lgamma(a + 0.5 * (1 - j))
    return total


def gmm_objective(alpha, mu, q, l, x, gamma, m):
    n, d = x.shape
    k = alpha.shape[0]
    Qdiags = np.exp(q)
    cols, rows = np.triu_indices(d, 1)  # l fills each L_k column by column below the diagonal
    diagonal = np.arange(d)
    Qs = np.zeros((k, d, d))
    Qs[:, rows, cols] = l
    Qs[:, diagonal, diagonal] = Qdiags
    sum_qs = np.sum(q, axis=1)
    centered = x[:, None, :] - mu[None, :, :]  # n x k x d
    Qx = np.einsum("kij,nkj->nki", Qs, centered, optimize=True)  # Q_k (x_i - mu_k)
    main_term = alpha[None, :] + sum_qs[None, :] - 0.5 * np.sum(Qx * Qx, axis=2)
    slse = np.sum(logsumexp(main_term, 1))
    prior_n = d + m + 1
    C = prior_n * d * (math.log(gamma) - 0.5 * math.log(2)) - log_gamma_distribution(0.5 * prior_n, d)
    frobenius = np.sum(Qdiags * Qdiags, axis=1) + np.sum(l * l, axis=1)
    prior = -np.sum(0.5 * gamma * gamma * frobenius - m * sum_qs) + k * C
    return -n * d * 0.5 * math.log(2 * math.pi) + slse - n * logsumexp(alpha, 0) + prior


gradient = s2sad.grad(gmm_objective, argnums=(0, 1, 2, 3))


def _prepare(raw):
    arrays = tuple(np.array(raw[name], dtype=float) for name in ("alpha", "mu", "q", "l", "x"))
    return arrays + (float(raw["gamma"]), int(raw["m"]))


def _jacobian_output(grads):
    return {name: g.tolist() for name, g in zip(("alpha", "mu", "q", "l"), grads)}


FUNCTIONS = {
    "objective": Function(_prepare, lambda args: gmm_objective(*args), float),
    "jacobian": Function(_prepare, lambda args: gradient(*args), _jacobian_output),
}
