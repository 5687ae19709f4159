"""Fitting a potential through an unrolled Langevin simulation (`while t < T`, reflecting walls).

Particles move in the double-well potential U(x) = a x^4 - b x^2 inside a box [-L, L]:

    x <- x - dt U'(x) + sqrt(2 dt / beta) xi,  reflected at the walls,  while t < T

The target is what the simulator produces with unknown parameters (a, b) = (0.5, 2.0):
the moments <x^2> and <x^4> of the particles at time T and <x^2> averaged over the run
(how fast they spread out into the wells). Starting from (1.0, 0.5), the
parameters are fitted to those statistics by Gauss-Newton: the Jacobian of the relative
mismatches w.r.t. (a, b) comes from `s2sad.jacfwd` (forward mode through the whole
simulation, both directions at once); the loss gradient by reverse mode is checked against
central differences. The noise is drawn once and passed in, so the simulation is a
differentiable function of (a, b). Histograms of the
particles before and after go to docs/img/langevin_fit.png.

    python examples/langevin_fit.py [--quick]
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
L, BETA, DT, T = 2.5, 1.0, 0.01, 5.0
TRUE = (0.5, 2.0)


def force(x, a, b):
    """-U'(x) for U(x) = a x^4 - b x^2."""
    return -4.0 * a * x**3 + 2.0 * b * x


def simulate(a, b, x, noise):
    """The particles at time T, and the time average of <x^2> on the way (how fast they spread)."""
    t = 0.0
    k = 0
    spread = 0.0
    while t < T:
        spread = spread + DT / T * np.mean(x**2)
        x = x + DT * force(x, a, b) + np.sqrt(2.0 * DT / BETA) * noise[k]
        x = np.where(x > L, 2.0 * L - x, x)  # reflecting walls
        x = np.where(x < -L, -2.0 * L - x, x)
        t = t + DT
        k = k + 1
    return x, spread


def statistics(x, spread):
    return np.array([np.mean(x**2), np.mean(x**4), spread])


def residuals(a, b, x0, noise, target):
    x, spread = simulate(a, b, x0, noise)
    return (statistics(x, spread) - target) / target


def loss(a, b, x0, noise, target):
    return np.sum(residuals(a, b, x0, noise, target) ** 2)


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
    particles = 100 if QUICK else 1000
    steps = int(np.ceil(T / DT)) + 1
    x0 = rng.normal(0.0, 0.5, particles)
    target_x, target_spread = simulate(*TRUE, x0, rng.normal(size=(steps, particles)))
    target = statistics(target_x, target_spread)
    noise = rng.normal(size=(steps, particles))  # fresh noise for the fit
    print(
        f"{particles} particles, {int(round(T / DT))} Euler-Maruyama steps; target <x^2>, <x^4> at T and <x^2> averaged over [0, T] = {target.round(3)}"
    )

    a, b = 1.0, 0.5
    start_x = simulate(a, b, x0, noise)[0]
    value_and_grad = s2sad.value_and_grad(loss, argnums=(0, 1))
    value, grads = value_and_grad(a, b, x0, noise, target)
    gradient_check(lambda a, b: loss(a, b, x0, noise, target), [a, b], grads)

    iterations = 2 if QUICK else 15
    start = time.perf_counter()
    jacobian = s2sad.jacfwd(residuals, argnums=(0, 1))  # forward mode, two directions at once
    for it in range(1, iterations + 1):  # Gauss-Newton on the residuals
        r = residuals(a, b, x0, noise, target)
        J = np.stack(jacobian(a, b, x0, noise, target), axis=1)
        step = np.linalg.lstsq(J, -r, rcond=None)[0]
        step = step * min(1.0, 0.5 / np.max(np.abs(step)))  # a trust region: at most 0.5 per step
        a, b = a + step[0], b + step[1]
        print(f"iteration {it:3d}  loss {np.sum(r**2):.2e}  a = {a:.3f}  b = {b:.3f}")
    print(f"fitted in {time.perf_counter() - start:.1f} s: a = {a:.3f}, b = {b:.3f} (simulated with {TRUE})")

    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.linspace(-L, L, 51)
    ax.hist(target_x, bins=bins, density=True, alpha=0.4, color="k", label=f"target (a, b) = {TRUE}")
    ax.hist(start_x, bins=bins, density=True, histtype="step", lw=2, label="before: (1.0, 0.5)")
    ax.hist(
        simulate(a, b, x0, noise)[0],
        bins=bins,
        density=True,
        histtype="step",
        lw=2,
        label=f"after: ({a:.2f}, {b:.2f})",
    )
    ax.set_xlabel("x at time T")
    ax.set_ylabel("density")
    ax.set_title("Langevin particles in U(x) = a x^4 - b x^2, walls at +-%.1f" % L)
    ax.legend(fontsize=8)
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / "langevin_fit.png", dpi=90)
    print(f"saved {IMAGES / 'langevin_fit.png'}")


if __name__ == "__main__":
    main()
