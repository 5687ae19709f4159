"""Backpropagation: a two-hidden-layer MLP learns the two-spirals classification problem.

The loss is written as plain NumPy (forward pass, logistic loss); `s2sad.value_and_grad`
turns it into the backward pass. Trained by full-batch gradient descent with momentum.
Draws the decision boundary and the loss curve to docs/img/mlp_backprop.png.

    python examples/mlp_backprop.py [--quick]
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


def two_spirals(n, noise, rng):
    """n points per class on two interleaved spirals; labels +1 and -1."""
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + noise * rng.normal(size=(2 * n, 2))
    y = np.concatenate([np.ones(n), -np.ones(n)])
    return x, y


def predict(params, x):
    h1 = np.tanh(x @ params["W1"] + params["b1"])
    h2 = np.tanh(h1 @ params["W2"] + params["b2"])
    return h2 @ params["w3"] + params["b3"]


def loss(params, x, y):
    """Mean logistic loss log(1 + exp(-y z)) of the scores z."""
    z = predict(params, x)
    return np.mean(np.logaddexp(0.0, -y * z))


def init(hidden, rng):
    return {
        "W1": rng.normal(0, 2.0, (2, hidden)),
        "b1": np.zeros(hidden),
        "W2": rng.normal(0, 1.0 / np.sqrt(hidden), (hidden, hidden)),
        "b2": np.zeros(hidden),
        "w3": rng.normal(0, 1.0 / np.sqrt(hidden), hidden),
        "b3": 0.0,
    }


def gradient_check(f, params, grads, rng, directions=3, h=1e-6):
    """<grad, d> against (f(p + h d) - f(p - h d)) / 2h along random directions d."""
    worst = 0.0
    for _ in range(directions):
        d = {k: rng.normal(size=np.shape(v)) for k, v in params.items()}
        plus = {k: params[k] + h * d[k] for k in params}
        minus = {k: params[k] - h * d[k] for k in params}
        estimate = (f(plus) - f(minus)) / (2 * h)
        exact = sum(np.sum(grads[k] * d[k]) for k in params)
        worst = max(worst, abs(exact - estimate) / max(abs(exact), abs(estimate), 1e-12))
    print(f"gradient check (central differences, {directions} directions): max relative error {worst:.1e}")
    return worst


def train(params, x, y, steps, learning_rate=0.2, momentum=0.9):
    value_and_grad = s2sad.value_and_grad(loss)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    losses = []
    for step in range(steps):
        value, grads = value_and_grad(params, x, y)
        losses.append(value)
        for k in params:
            velocity[k] = momentum * velocity[k] - learning_rate * grads[k]
            params[k] = params[k] + velocity[k]
    return params, losses


def draw(params, x, y, losses, path):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    grid = np.linspace(-1.3, 1.3, 200)
    gx, gy = np.meshgrid(grid, grid)
    scores = predict(params, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    left.contourf(gx, gy, scores > 0, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"])
    left.contour(gx, gy, scores, levels=[0.0], colors="k", linewidths=1)
    left.scatter(*x[y > 0].T, s=8, c="#2171b5", label="class +1")
    left.scatter(*x[y < 0].T, s=8, c="#cb181d", label="class -1")
    left.set_title("decision boundary")
    left.set_aspect("equal")
    left.legend(loc="lower right", fontsize=8)
    right.semilogy(losses)
    right.set_xlabel("gradient step")
    right.set_ylabel("logistic loss")
    right.set_title("training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    rng = np.random.default_rng(0)
    x, y = two_spirals(150, 0.03, rng)
    params = init(16 if QUICK else 32, rng)

    start = time.perf_counter()
    value, grads = s2sad.value_and_grad(loss)(params, x, y)
    print(f"initial loss {value:.4f} (first call, with compilation: {time.perf_counter() - start:.2f} s)")
    gradient_check(lambda p: loss(p, x, y), params, grads, rng)

    steps = 200 if QUICK else 3000
    start = time.perf_counter()
    params, losses = train(params, x, y, steps)
    accuracy = np.mean(np.sign(predict(params, x)) == y)
    print(
        f"{steps} steps in {time.perf_counter() - start:.1f} s: loss {losses[-1]:.4f}, accuracy {accuracy:.1%}"
    )

    IMAGES.mkdir(parents=True, exist_ok=True)
    draw(params, x, y, losses, IMAGES / "mlp_backprop.png")
    print(f"saved {IMAGES / 'mlp_backprop.png'}")


if __name__ == "__main__":
    main()
