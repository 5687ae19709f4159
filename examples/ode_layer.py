"""An RK4 "dynamical layer": the physical parameters of a damped pendulum fitted to a noisy trajectory.

The layer integrates theta'' = -w^2 sin(theta) - c theta' with the classical Runge-Kutta
scheme (RK4, written out as in the lecture) from a known initial state; its parameters are
the squared natural frequency w^2 and the damping c. Observations are the angle at 60
times with noise added (true w^2 = 4.0, c = 0.3). The squared error of the simulated angles
is minimised with Adam, its gradient by reverse mode through all the RK4 steps. The
trajectory before and after goes to docs/img/ode_layer.png.

    python examples/ode_layer.py [--quick]
"""

import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import s2sad

QUICK = "--quick" in sys.argv or os.environ.get("S2SAD_QUICK") == "1"
IMAGES = Path(os.environ.get("S2SAD_IMAGES", Path(__file__).resolve().parents[1] / "docs" / "img"))
DT, SUBSTEPS, OBSERVATIONS = 0.025, 4, 60
TRUE = (4.0, 0.3)


def pendulum(state, w2, c):
    theta, omega = state[0], state[1]
    return np.array([omega, -w2 * np.sin(theta) - c * omega])


def rk4_step(f, state, dt, w2, c):
    k1 = f(state, w2, c)
    k2 = f(state + 0.5 * dt * k1, w2, c)
    k3 = f(state + 0.5 * dt * k2, w2, c)
    k4 = f(state + dt * k3, w2, c)
    return state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def trajectory(w2, c, state0):
    """The angle after every SUBSTEPS steps of RK4: the layer's output."""
    state = state0
    angles = []
    for i in range(OBSERVATIONS):
        for _ in range(SUBSTEPS):
            state = rk4_step(pendulum, state, DT, w2, c)
        angles.append(state[0])
    return np.array(angles)


def loss(w2, c, state0, observed):
    return np.mean((trajectory(w2, c, state0) - observed) ** 2)


def gradient_check(f, point, grads, h=1e-6):
    worst = 0.0
    for i in range(len(point)):
        plus, minus = list(point), list(point)
        plus[i] += h
        minus[i] -= h
        estimate = (f(*plus) - f(*minus)) / (2 * h)
        worst = max(worst, abs(grads[i] - estimate) / max(abs(grads[i]), abs(estimate), 1e-12))
    print(f"gradient check (central differences, {len(point)} parameters): max relative error {worst:.1e}")


def main():
    rng = np.random.default_rng(0)
    state0 = np.array([1.2, 0.0])
    times = DT * SUBSTEPS * np.arange(1, OBSERVATIONS + 1)
    observed = trajectory(*TRUE, state0) + 0.05 * rng.normal(size=OBSERVATIONS)

    w2, c = 2.0, 1.0
    before = trajectory(w2, c, state0)
    value_and_grad = s2sad.value_and_grad(loss, argnums=(0, 1))
    value, grads = value_and_grad(w2, c, state0, observed)
    print(f"{OBSERVATIONS} noisy observations, {OBSERVATIONS * SUBSTEPS} RK4 steps; initial loss {value:.3f}")
    gradient_check(lambda w2, c: loss(w2, c, state0, observed), [w2, c], grads)

    iterations = 5 if QUICK else 200
    m, v = np.zeros(2), np.zeros(2)
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        value, grads = value_and_grad(w2, c, state0, observed)
        m = 0.9 * m + 0.1 * np.array(grads)  # Adam
        v = 0.999 * v + 0.001 * np.array(grads) ** 2
        step = 0.05 * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-8)
        w2, c = w2 - step[0], c - step[1]
        if it % 50 == 0:
            print(f"iteration {it:4d}  loss {value:.5f}  w^2 = {w2:.3f}  c = {c:.3f}")
    print(f"fitted in {time.perf_counter() - start:.1f} s: w^2 = {w2:.3f}, c = {c:.3f} (true {TRUE})")

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(times, observed, "k.", label="noisy observations")
    ax.plot(times, before, "--", label="before: w^2 = 2.0, c = 1.0")
    ax.plot(times, trajectory(w2, c, state0), "-", label=f"after: w^2 = {w2:.2f}, c = {c:.2f}")
    ax.set_xlabel("time")
    ax.set_ylabel("angle theta")
    ax.set_title("RK4 layer fitted to a damped pendulum")
    ax.legend()
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / "ode_layer.png", dpi=90)
    print(f"saved {IMAGES / 'ode_layer.png'}")


if __name__ == "__main__":
    main()
