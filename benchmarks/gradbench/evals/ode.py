"""ode: s steps of classic Runge-Kutta on y0' = x0, yi' = xi y(i-1) from y = 0 to t = 2.

The gradient is that of the last component of the final state w.r.t. x (reverse mode).
"""

import numpy as np

import s2sad

from . import Function, to_list


def slope(x, y):
    return np.concatenate((x[:1], x[1:] * y[:-1]))


def solve(x, s):
    h = 2.0 / s
    y = np.zeros(x.shape[0])
    for _ in range(s):
        k1 = slope(x, y)
        k2 = slope(x, y + h * k1 / 2)
        k3 = slope(x, y + h * k2 / 2)
        k4 = slope(x, y + h * k3)
        y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return y


def last(x, s):
    return solve(x, s)[-1]


gradient = s2sad.grad(last)


def _prepare(raw):
    return np.array(raw["x"], dtype=float), int(raw["s"])


FUNCTIONS = {
    "primal": Function(_prepare, lambda args: solve(*args), to_list),
    "gradient": Function(_prepare, lambda args: gradient(*args), to_list),
}
