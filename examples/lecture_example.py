"""The lecture example: f(x1, x2) = (sin(x1/x2) + x1/x2 - e^x2) * (x1/x2 - e^x2) at (1.5, 0.5).

Prints the forward-mode table (every intermediate v_i with its tangent v̇_i,
seeded with ẋ1 = 1, ẋ2 = 0, giving df/dx1), the reverse-mode adjoints (every
v̄_i after the backward sweep, giving df/dx2 too), then the generated source.
Run: python examples/lecture_example.py
"""

import sys

import numpy as np

import s2sad


def f(x1, x2):
    v = x1 / x2
    return (np.sin(v) + v - np.exp(x2)) * (v - np.exp(x2))


def final_locals(function, *args):
    """Call `function` and return its local variables at the moment it returns."""
    captured = {}

    def tracer(frame, event, arg):
        if event == "return" and frame.f_code is function.__code__:
            captured.update(frame.f_locals)
        return tracer if frame.f_code is function.__code__ else None

    sys.settrace(tracer)
    try:
        result = function(*args)
    finally:
        sys.settrace(None)
    return result, captured


def main():
    x1, x2 = 1.5, 0.5
    print(__doc__.splitlines()[0])
    print()

    jvp_function = s2sad.pipeline.compile_derivative(f, "forward", (0, 1), ("float", "float")).function
    (value, dfdx1), names = final_locals(jvp_function, x1, x2, 1.0, 0.0)
    print("Forward mode (tangent sweep), seed x1_dot = 1, x2_dot = 0")
    print(f"  {'v_i':>6} {'value':>12} {'v_i dot':>12}")
    for name in [n for n in names if not n.endswith("_dot")]:
        tangent = names.get(name + "_dot", 0.0)
        print(f"  {name:>6} {float(names[name]):12.4f} {float(tangent):12.4f}")
    print(f"  f = {float(value):.4f}, df/dx1 = {float(dfdx1):.3f}")
    print()

    vjp_function = s2sad.pipeline.compile_derivative(f, "reverse", (0, 1), ("float", "float")).function
    (value, (g1, g2)), names = final_locals(vjp_function, x1, x2)
    print("Reverse mode (adjoint sweep), seed f_bar = 1")
    print(f"  {'v_i':>6} {'v_i bar':>12}")
    for name in sorted(n for n in names if n.endswith("_bar")):
        print(f"  {name[:-4]:>6} {float(names[name]):12.4f}")
    print(f"  df/dx1 = {float(g1):.3f}, df/dx2 = {float(g2):.3f}")
    print()

    print("Generated forward-mode source:")
    print(s2sad.source(f, mode="forward", argnums=(0, 1), args=(x1, x2)))
    print("Generated reverse-mode source:")
    print(s2sad.source(f, mode="reverse", argnums=(0, 1), args=(x1, x2)))


if __name__ == "__main__":
    main()
