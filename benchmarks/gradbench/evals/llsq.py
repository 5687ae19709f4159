"""llsq: the linear least-squares objective of cmpad, y(x) = 1/2 sum_i (s_i - sum_j x_j t_i^j)^2."""

import numpy as np

import s2sad

from . import Function, to_list


def llsq(x, n):
    t = np.linspace(-1.0, 1.0, n)
    residual = np.sign(t)
    power = np.ones(n)
    for j in range(x.shape[0]):
        residual = residual - x[j] * power
        power = power * t
    return 0.5 * np.sum(residual * residual)


gradient = s2sad.grad(llsq)


def _prepare(raw):
    return np.array(raw["x"], dtype=float), int(raw["n"])


FUNCTIONS = {
    "primal": Function(_prepare, lambda args: llsq(*args), float),
    "gradient": Function(_prepare, lambda args: gradient(*args), to_list),
}
