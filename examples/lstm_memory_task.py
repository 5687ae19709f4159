"""An LSTM learns the adding problem, a task that needs memory.

Each input sequence has two channels: random values in [0, 1] and a marker that is 1 at two
positions (one in each half) and 0 elsewhere. The target, read after the last step, is the
sum of the two marked values: the network must store a value in its cell state until the end.
Predicting the mean (1.0) gives a squared error of 1/6 = 0.167; the LSTM goes far below.
The LSTM cell is written out gate by gate; `s2sad.value_and_grad` gives backpropagation
through time. Trained with Adam; the loss curve goes to docs/img/lstm_memory_task.png.

    python examples/lstm_memory_task.py [--quick]
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
LENGTH, HIDDEN, BATCH = 20, 16, 64


def adding_problem(batch, length, rng):
    """Inputs of shape (length, batch, 2) and targets of shape (batch,)."""
    values = rng.uniform(0.0, 1.0, (length, batch))
    markers = np.zeros((length, batch))
    first = rng.integers(0, length // 2, batch)
    second = rng.integers(length // 2, length, batch)
    markers[first, np.arange(batch)] = 1.0
    markers[second, np.arange(batch)] = 1.0
    return np.stack([values, markers], axis=2), np.sum(values * markers, axis=0)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def predict(params, xs):
    H = params["Wh"].shape[0]
    h = np.zeros((xs.shape[1], H))
    c = np.zeros((xs.shape[1], H))
    for t in range(xs.shape[0]):
        z = xs[t] @ params["Wx"] + h @ params["Wh"] + params["b"]
        i = sigmoid(z[:, :H])  # input gate
        f = sigmoid(z[:, H : 2 * H])  # forget gate
        o = sigmoid(z[:, 2 * H : 3 * H])  # output gate
        g = np.tanh(z[:, 3 * H :])  # candidate cell value
        c = f * c + i * g
        h = o * np.tanh(c)
    return h @ params["w_out"] + params["b_out"]


def loss(params, xs, targets):
    return np.mean((predict(params, xs) - targets) ** 2)


def init(rng):
    b = np.zeros(4 * HIDDEN)
    b[HIDDEN : 2 * HIDDEN] = 1.0  # forget gates start open
    return {
        "Wx": rng.normal(0, 0.5, (2, 4 * HIDDEN)),
        "Wh": rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, 4 * HIDDEN)),
        "b": b,
        "w_out": rng.normal(0, 1 / np.sqrt(HIDDEN), HIDDEN),
        "b_out": 0.0,
    }


def gradient_check(f, params, grads, rng, directions=3, h=1e-6):
    worst = 0.0
    for _ in range(directions):
        d = {k: rng.normal(size=np.shape(v)) for k, v in params.items()}
        estimate = (
            f({k: params[k] + h * d[k] for k in params}) - f({k: params[k] - h * d[k] for k in params})
        ) / (2 * h)
        exact = sum(np.sum(grads[k] * d[k]) for k in params)
        worst = max(worst, abs(exact - estimate) / max(abs(exact), abs(estimate), 1e-12))
    print(f"gradient check (central differences, {directions} directions): max relative error {worst:.1e}")


def main():
    rng = np.random.default_rng(0)
    params = init(rng)
    xs, targets = adding_problem(BATCH, LENGTH, rng)
    value_and_grad = s2sad.value_and_grad(loss)
    value, grads = value_and_grad(params, xs, targets)
    print(f"adding problem, length {LENGTH}; initial loss {value:.3f} (predicting the mean scores 0.167)")
    gradient_check(lambda p: loss(p, xs, targets), params, grads, rng)

    steps = 5 if QUICK else 450
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    losses = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        xs, targets = adding_problem(BATCH, LENGTH, rng)
        value, grads = value_and_grad(params, xs, targets)
        losses.append(value)
        for k in params:  # Adam
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            params[k] = params[k] - 0.01 * (m[k] / (1 - 0.9**step)) / (
                np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8
            )
        if step % 90 == 0:
            print(f"step {step:5d}  loss (mean of last 100) {np.mean(losses[-100:]):.4f}")
    xs, targets = adding_problem(1000, LENGTH, rng)
    test = loss(params, xs, targets)
    print(f"{steps} steps in {time.perf_counter() - start:.1f} s; test loss on 1000 new sequences {test:.4f}")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(losses, lw=0.5, alpha=0.5, label="minibatch loss")
    window = min(50, len(losses))
    ax.semilogy(
        np.arange(window - 1, len(losses)),
        np.convolve(losses, np.ones(window) / window, "valid"),
        label="running mean",
    )
    ax.axhline(1 / 6, color="k", ls="--", lw=1, label="predicting the mean (1/6)")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("squared error")
    ax.set_title(f"LSTM on the adding problem (length {LENGTH})")
    ax.legend()
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / "lstm_memory_task.png", dpi=90)
    print(f"saved {IMAGES / 'lstm_memory_task.png'}")


if __name__ == "__main__":
    main()
