"""The lecture example: f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2) * (x1/x2 - e^x2) at (1.5, 0.5).

Written as the lecture's evaluation trace v1 ... v6. Prints the forward-mode table (every
intermediate v_i with its tangent, seeded with x1_dot = 1, x2_dot = 0, giving df/dx1), the
reverse-mode table (every adjoint v_i_bar = df/dv_i after the backward sweep, seeded with
f_bar = 1, giving df/dx1 and df/dx2 at once), a check against central differences, then the
derivative code s2sad generated.

    python examples/lecture_example.py
"""

import numpy as np

import s2sad

NAMES = ["x1", "x2", "v1", "v2", "v3", "v4", "v5", "v6"]
FORMULAS = ["", "", "x1 / x2", "sin(v1)", "exp(x2)", "v1 - v3", "v2 + v4", "v5 * v4"]


def f(x1, x2):
    v1 = x1 / x2
    v2 = np.sin(v1)
    v3 = np.exp(x2)
    v4 = v1 - v3
    v5 = v2 + v4
    v6 = v5 * v4
    return v6


def trace(x1, x2):
    """The same trace, returning every intermediate: one JVP gives all their tangents."""
    v1 = x1 / x2
    v2 = np.sin(v1)
    v3 = np.exp(x2)
    v4 = v1 - v3
    v5 = v2 + v4
    v6 = v5 * v4
    return x1, x2, v1, v2, v3, v4, v5, v6


def nudged(x1, x2, e1, e2, e3, e4, e5, e6):
    """The same trace with v_i nudged by e_i: df/de_i at e = 0 is the adjoint v_i_bar = df/dv_i."""
    v1 = x1 / x2 + e1
    v2 = np.sin(v1) + e2
    v3 = np.exp(x2) + e3
    v4 = v1 - v3 + e4
    v5 = v2 + v4 + e5
    v6 = v5 * v4 + e6
    return v6


def central_differences(function, x, h=1e-6):
    x = np.array(x, dtype=float)
    result = np.zeros_like(x)
    for i in range(len(x)):
        step = np.zeros_like(x)
        step[i] = h
        result[i] = (function(*(x + step)) - function(*(x - step))) / (2 * h)
    return result


def main():
    x1, x2 = 1.5, 0.5
    print(__doc__.splitlines()[0])
    print()

    values, tangents = s2sad.jvp(trace, (x1, x2), (1.0, 0.0))
    print("Forward mode (tangent sweep), seed x1_dot = 1, x2_dot = 0")
    print(f"  {'v_i':>4} {'= formula':<12} {'value':>10} {'v_i dot':>10}")
    for name, formula, value, tangent in zip(NAMES, FORMULAS, values, tangents):
        print(f"  {name:>4} {formula:<12} {float(value):10.4f} {float(tangent):10.4f}")
    print(f"  f = v6 = {float(values[-1]):.4f}, df/dx1 = v6 dot = {float(tangents[-1]):.3f}")
    print()

    adjoints = s2sad.grad(nudged, argnums=tuple(range(8)))(x1, x2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    print("Reverse mode (adjoint sweep), seed f_bar = v6_bar = 1")
    print(f"  {'v_i':>4} {'v_i bar':>10}")
    for name, adjoint in reversed(list(zip(NAMES, adjoints))):  # the backward sweep's order
        print(f"  {name:>4} {float(adjoint):10.4f}")
    dfdx1, dfdx2 = s2sad.grad(f, argnums=(0, 1))(x1, x2)
    print(f"  df/dx1 = {float(dfdx1):.3f}, df/dx2 = {float(dfdx2):.3f}")
    print()

    exact = np.array([dfdx1, dfdx2])
    estimate = central_differences(f, [x1, x2])
    error = np.max(np.abs(exact - estimate)) / np.max(np.abs(estimate))
    print(f"gradient check (central differences, 2 inputs): max relative error {error:.1e}")
    print()

    print("Generated forward-mode source:")
    print(s2sad.source(f, mode="forward", argnums=(0, 1), args=(x1, x2)))
    print("Generated reverse-mode source:")
    print(s2sad.source(f, mode="reverse", argnums=(0, 1), args=(x1, x2)))


if __name__ == "__main__":
    main()
