"""saddle: min over p1 of max over p2 of f(p1, p2) = |p1|^2 - |p2|^2, both by gradient descent.

The outer descent needs the gradient of the inner ascent's result w.r.t. p1 (nested
AD). The function name's first letter is the outer mode, the second the inner one
(f: forward, r: reverse); the final ascent uses the inner mode.
"""

import numpy as np

import s2sad

from . import Function, to_list
from .descent import argmin


def f(p1, p2):
    return (p1[0] * p1[0] + p1[1] * p1[1]) - (p2[0] * p2[0] + p2[1] * p2[1])


grad_p2_reverse = s2sad.grad(f, argnums=1)


def grad_p2_forward(p1, p2):
    """The gradient of f w.r.t. p2 by forward mode: one jvp per direction."""
    _, along_x = s2sad.jvp(f, (p1, p2), (np.zeros(2), np.array([1.0, 0.0])))
    _, along_y = s2sad.jvp(f, (p1, p2), (np.zeros(2), np.array([0.0, 1.0])))
    return np.array([along_x, along_y])


def ascend(p1, start, forward):
    """The p2 maximising f(p1, p2): descent on -f from `start` (as argmin in descent.py)."""
    x = start
    fx = -f(p1, x)
    if forward:
        gx = -grad_p2_forward(p1, x)
    else:
        gx = -grad_p2_reverse(p1, x)
    improvements = 0
    eta = 1e-5
    while True:
        if np.sqrt(np.sum(gx * gx)) <= 1e-5:
            return x
        if improvements == 10:
            eta = eta * 2
            improvements = 0
        else:
            x_new = x - eta * gx
            if np.sqrt(np.sum((x - x_new) ** 2)) <= 1e-5:
                return x
            f_new = -f(p1, x_new)
            if f_new < fx:
                x = x_new
                fx = f_new
                if forward:
                    gx = -grad_p2_forward(p1, x)
                else:
                    gx = -grad_p2_reverse(p1, x)
                improvements += 1
            else:
                eta = eta / 2
                improvements = 0


def max_over_p2(p1, start, forward):
    return f(p1, ascend(p1, start, forward))


GRADIENTS = {
    "r": s2sad.grad(max_over_p2),
    "f": s2sad.jacfwd(max_over_p2),
}


def saddle(start, outer, inner):
    forward = inner == "f"
    outer_gradient = GRADIENTS[outer]
    p1 = argmin(lambda p: max_over_p2(p, start, forward), lambda p: outer_gradient(p, start, forward), start)
    p2 = argmin(lambda p: -f(p1, p), lambda p: -GRADIENTS_P2[inner](p1, p), start)
    return np.concatenate((p1, p2))


GRADIENTS_P2 = {"r": grad_p2_reverse, "f": grad_p2_forward}


def _prepare(raw):
    return np.array(raw["start"], dtype=float)


FUNCTIONS = {
    name: Function(_prepare, lambda start, name=name: saddle(start, name[0], name[1]), to_list)
    for name in ("ff", "fr", "rf", "rr")
}
