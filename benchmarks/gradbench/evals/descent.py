"""Gradient descent as GradBench's saddle and particle evals define it (cpp/gradbench/gd.hpp).

Plain Python, called with a derivative s2sad built; the nested descents that are
themselves differentiated are written out inside saddle.py and particle.py.
"""

import numpy as np


def argmin(objective, gradient, x):
    """Descend from `x` with a step that doubles after 10 improvements and halves on a miss."""
    fx = objective(x)
    gx = gradient(x)
    improvements = 0
    eta = 1e-5
    while True:
        if np.sqrt(np.sum(gx * gx)) <= 1e-5:
            return x
        if improvements == 10:
            eta = eta * 2
            improvements = 0
            continue
        x_new = x - eta * gx
        if np.sqrt(np.sum((x - x_new) ** 2)) <= 1e-5:
            return x
        f_new = objective(x_new)
        if f_new < fx:
            x, fx = x_new, f_new
            gx = gradient(x)
            improvements += 1
        else:
            eta = eta / 2
            improvements = 0
