"""lse: log-sum-exp with the max trick, and its gradient (reverse mode)."""

import numpy as np

import s2sad

from . import Function, to_list


def logsumexp(x):
    a = np.max(x)
    return a + np.log(np.sum(np.exp(x - a)))


gradient = s2sad.grad(logsumexp)


def _prepare(raw):
    return np.array(raw["x"], dtype=float)


FUNCTIONS = {
    "primal": Function(_prepare, logsumexp, float),
    "gradient": Function(_prepare, gradient, to_list),
}
