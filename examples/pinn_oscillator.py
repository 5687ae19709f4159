"""A physics-informed network for the harmonic oscillator y'' + w^2 y = 0, y(0) = 0, y'(0) = 1.

The network y(t) = t + t^2 N(t) meets both initial conditions by construction (N is a
one-hidden-layer tanh network). The loss is the mean squared residual y'' + w^2 y at
collocation points, where y'' comes from forward mode applied twice *inside* the loss
(`s2sad.jvp` of a function that itself calls `s2sad.jvp`); its gradient w.r.t. the
weights is reverse mode over that: three levels of derivative code, all generated as
Python. Trained with Adam; prints the error against the exact solution sin(w t) / w and
draws both, with the residual, to docs/img/pinn_oscillator.png.

    python examples/pinn_oscillator.py [--quick]
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

OMEGA = 2.0


def net(t, W1, b1, W2, b2):
    """y(t) for a vector of times t; y(0) = 0 and y'(0) = 1 hold for any weights."""
    hidden = np.tanh(np.outer(t, W1) + b1)
    return t + t * t * (hidden @ W2 + b2)


def velocity(t, W1, b1, W2, b2):
    """dy/dt at every t: each y(t_i) depends on t_i alone, so one JVP along ones gives them all."""
    zeros = np.zeros_like
    return s2sad.jvp(net, (t, W1, b1, W2, b2), (np.ones_like(t), zeros(W1), zeros(b1), zeros(W2), 0.0))[1]


def acceleration(t, W1, b1, W2, b2):
    zeros = np.zeros_like
    return s2sad.jvp(velocity, (t, W1, b1, W2, b2), (np.ones_like(t), zeros(W1), zeros(b1), zeros(W2), 0.0))[
        1
    ]


def loss(W1, b1, W2, b2, t):
    residual = acceleration(t, W1, b1, W2, b2) + OMEGA**2 * net(t, W1, b1, W2, b2)
    return np.mean(residual**2)


def train(steps=4000, hidden=16, seed=0, learning_rate=0.01):
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 1.0, hidden), rng.normal(0, 0.5, hidden), rng.normal(0, 0.1, hidden), 0.0]
    t = np.linspace(0.0, 2.0, 64)
    value_and_grad = s2sad.value_and_grad(loss, argnums=(0, 1, 2, 3))
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        value, grads = value_and_grad(*params, t)
        for k, g in enumerate(grads):  # Adam
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            rate = learning_rate * 0.02 ** (step / steps)  # decayed 50-fold over the run: a settled minimum
            update = rate * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
            params[k] = params[k] - update
        if step % 1000 == 0:
            print(f"step {step:5d}  loss {value:.3e}")
    return params


def gradient_check(params, t, rng, directions=3, h=1e-6):
    """<grad, d> against (loss(p + h d) - loss(p - h d)) / 2h along random directions d."""
    grads = s2sad.grad(loss, argnums=(0, 1, 2, 3))(*params, t)
    worst = 0.0
    for _ in range(directions):
        d = [rng.normal(size=np.shape(p)) for p in params]
        plus = loss(*[p + h * e for p, e in zip(params, d)], t)
        minus = loss(*[p - h * e for p, e in zip(params, d)], t)
        estimate = (plus - minus) / (2 * h)
        exact = sum(np.sum(g * e) for g, e in zip(grads, d))
        worst = max(worst, abs(exact - estimate) / max(abs(exact), abs(estimate), 1e-12))
    print(f"gradient check (central differences, {directions} directions): max relative error {worst:.1e}")


def draw(params, path):
    t = np.linspace(0.0, 2.0, 201)
    residual = acceleration(t, *params) + OMEGA**2 * net(t, *params)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    top.plot(t, np.sin(OMEGA * t) / OMEGA, "k", lw=3, alpha=0.3, label="exact sin(w t) / w")
    top.plot(t, net(t, *params), "C0--", label="network y(t)")
    collocation = np.linspace(0.0, 2.0, 64)
    top.plot(collocation, net(collocation, *params), "C0.", ms=4, label="collocation points")
    top.set_ylabel("y")
    top.legend(fontsize=8)
    top.set_title("physics-informed network for y'' + w^2 y = 0, y(0) = 0, y'(0) = 1")
    bottom.plot(t, residual, "C3")
    bottom.set_xlabel("t")
    bottom.set_ylabel("residual y'' + w^2 y")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 2.0, 64)
    hidden = 16
    gradient_check(
        [rng.normal(0, 1.0, hidden), rng.normal(0, 0.5, hidden), rng.normal(0, 0.1, hidden), 0.1], t, rng
    )
    start = time.perf_counter()
    params = train(steps=100 if QUICK else 4000)
    elapsed = time.perf_counter() - start
    t = np.linspace(0.0, 2.0, 201)
    error = np.max(np.abs(net(t, *params) - np.sin(OMEGA * t) / OMEGA))
    print(f"max |y(t) - sin(w t)/w| on [0, 2]: {error:.2e}  (trained in {elapsed:.1f} s)")
    print("the loss gradient (reverse over forward over forward), as s2sad generated it:")
    text = s2sad.source(loss, argnums=(0, 1, 2, 3), args=(*params, t))
    print("\n".join(text.splitlines()[:12]) + "\n    ...")
    IMAGES.mkdir(parents=True, exist_ok=True)
    draw(params, IMAGES / "pinn_oscillator.png")
    print(f"saved {IMAGES / 'pinn_oscillator.png'}")
    return error


if __name__ == "__main__":
    main()
