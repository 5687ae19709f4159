"""particle: choose w so that a charged particle, pushed by charges at (10, 10 - w) and (10, 0),
crosses the x axis at the origin; Euler steps whose force is a gradient, inside a descent
whose step is the gradient of that whole simulation (nested AD).

The function name's first letter is the mode of the outer gradient (w.r.t. w), the
second the mode of the force's gradient (w.r.t. the position); f: forward, r: reverse.
"""

import numpy as np

import s2sad

from . import Function
from .descent import argmin


def potential(w, x):
    charges = np.array([[10.0, 10.0 - w[0]], [10.0, 0.0]])
    total = 0.0
    for c in charges:
        total = total + 1.0 / np.sqrt(np.sum((c - x) ** 2))
    return total


reverse_force = s2sad.grad(potential, argnums=1)


def forward_force(w, x):
    """The gradient of the potential w.r.t. the position by forward mode: one jvp per direction."""
    _, along_x = s2sad.jvp(potential, (w, x), (np.zeros(1), np.array([1.0, 0.0])))
    _, along_y = s2sad.jvp(potential, (w, x), (np.zeros(1), np.array([0.0, 1.0])))
    return np.array([along_x, along_y])


def miss(w, forward):
    """Square of the x coordinate where the particle crosses the x axis."""
    x = np.array([0.0, 8.0])
    velocity = np.array([0.75, 0.0])
    dt = 0.1
    while True:
        if forward:
            acceleration = -forward_force(w, x)
        else:
            acceleration = -reverse_force(w, x)
        x = x + dt * velocity
        if x[1] <= 0.0:
            dt_final = -x[1] / velocity[1]
            x_final = x + dt_final * velocity
            return x_final[0] * x_final[0]
        velocity = velocity + dt * acceleration


GRADIENTS = {"r": s2sad.grad(miss), "f": s2sad.jacfwd(miss)}


def particle(w0, outer, inner):
    forward = inner == "f"
    gradient = GRADIENTS[outer]
    w = argmin(lambda w: miss(w, forward), lambda w: gradient(w, forward), np.array([w0]))
    return float(w[0])


FUNCTIONS = {
    name: Function(lambda raw: float(raw["w"]), lambda w0, name=name: particle(w0, name[0], name[1]), float)
    for name in ("ff", "fr", "rf", "rr")
}
