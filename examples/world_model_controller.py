"""A world model, then a controller trained by backpropagating through the frozen model.

The environment is a cart on a bumpy track (position x, velocity v, push a in [-1, 1]):

    v <- v + dt (2 a - 1.5 sin(2 x) - 0.2 v),   x <- x + dt v

The agent does not know these equations. Stage 1 fits a model network (x, v, a) -> change
of state to random transitions of the environment (supervised learning). Stage 2 freezes
the model and trains a controller network a = C(x, v) to bring the cart to x = 1 and stop
there: the cost summed over a 30-step horizon is computed by rolling the controller through
the model, and its gradient w.r.t. the controller's weights is reverse mode through the
whole rollout (model and controller alternating, the model's weights held constant). The
controller is then run on the real environment; both stages and the real trajectories go
to docs/img/world_model_controller.png.

    python examples/world_model_controller.py [--quick]
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
DT, HORIZON, GOAL = 0.1, 30, 1.0


def environment(states, actions):
    """The real dynamics, for a batch: states (B, 2), actions (B,)."""
    x, v = states[:, 0], states[:, 1]
    v = v + DT * (2.0 * actions - 1.5 * np.sin(2.0 * x) - 0.2 * v)
    return np.stack([x + DT * v, v], axis=1)


def model(params, states, actions):
    inputs = np.concatenate([states, actions[:, None]], axis=1)
    hidden = np.tanh(inputs @ params["W1"] + params["b1"])
    return states + hidden @ params["W2"] + params["b2"]


def model_loss(params, states, actions, next_states):
    return np.mean((model(params, states, actions) - next_states) ** 2) / DT**2


def controller(params, states):
    hidden = np.tanh(states @ params["W1"] + params["b1"])
    return np.tanh(hidden @ params["w2"] + params["b2"])


def rollout_cost(ctrl, world, starts):
    """Mean cost over a horizon of imagined steps: the controller acts, the model predicts."""
    states = starts
    cost = 0.0
    for t in range(HORIZON):
        actions = controller(ctrl, states)
        states = model(world, states, actions)
        cost = cost + np.mean((states[:, 0] - GOAL) ** 2 + 0.1 * states[:, 1] ** 2 + 0.01 * actions**2)
    return cost / HORIZON


def adam(params, grads, m, v, step, rate):
    for k in params:
        m[k] = 0.9 * m[k] + 0.1 * grads[k]
        v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
        params[k] = params[k] - rate * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)


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


def random_states(n, rng):
    return np.stack([rng.uniform(-1.5, 2.0, n), rng.uniform(-1.5, 1.5, n)], axis=1)


def real_rollout(ctrl, starts, steps):
    states, path = starts, [starts]
    for _ in range(steps):
        states = environment(states, controller(ctrl, states))
        path.append(states)
    return np.array(path)


def main():
    rng = np.random.default_rng(0)
    world = {
        "W1": rng.normal(0, 0.5, (3, 32)),
        "b1": np.zeros(32),
        "W2": rng.normal(0, 0.01, (32, 2)),
        "b2": np.zeros(2),
    }
    m = {k: np.zeros_like(p) for k, p in world.items()}
    v = {k: np.zeros_like(p) for k, p in world.items()}
    model_value_and_grad = s2sad.value_and_grad(model_loss)
    model_losses = []
    start = time.perf_counter()
    for step in range(1, (100 if QUICK else 3000) + 1):
        states, actions = random_states(128, rng), rng.uniform(-1, 1, 128)
        value, grads = model_value_and_grad(world, states, actions, environment(states, actions))
        model_losses.append(value)
        adam(world, grads, m, v, step, 0.003 * 0.1 ** (step / 3000))
    print(
        f"stage 1: model trained in {time.perf_counter() - start:.1f} s, one-step error (per dt^2) {np.mean(model_losses[-100:]):.2e}"
    )

    ctrl = {"W1": rng.normal(0, 1.0, (2, 16)), "b1": np.zeros(16), "w2": rng.normal(0, 0.1, 16), "b2": 0.0}
    starts = random_states(64, rng)
    cost_value_and_grad = s2sad.value_and_grad(rollout_cost)
    value, grads = cost_value_and_grad(ctrl, world, starts)
    gradient_check(lambda c: rollout_cost(c, world, starts), ctrl, grads, rng)
    initial = {k: np.copy(p) for k, p in ctrl.items()}
    m = {k: np.zeros_like(p) for k, p in ctrl.items()}
    v = {k: np.zeros_like(p) for k, p in ctrl.items()}
    costs = []
    start = time.perf_counter()
    for step in range(1, (20 if QUICK else 400) + 1):
        value, grads = cost_value_and_grad(ctrl, world, random_states(64, rng))
        costs.append(value)
        adam(ctrl, grads, m, v, step, 0.02)
    print(f"stage 2: controller trained through the model in {time.perf_counter() - start:.1f} s")

    tests = np.array([[-1.0, 0.0], [0.0, 1.0], [2.0, -1.0], [-0.5, -1.0]])
    before, after = real_rollout(initial, tests, 60), real_rollout(ctrl, tests, 60)
    print(
        f"real environment, 4 starts, 60 steps: final |x - {GOAL}| before {np.max(np.abs(before[-1, :, 0] - GOAL)):.3f}, after {np.max(np.abs(after[-1, :, 0] - GOAL)):.3f}"
    )

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].semilogy(model_losses)
    axes[0].set_xlabel("Adam step")
    axes[0].set_title("stage 1: model one-step error", fontsize=10)
    axes[1].plot(costs, lw=0.5, alpha=0.5)
    axes[1].plot(
        np.arange(19, len(costs)), np.convolve(costs, np.ones(20) / 20, "valid"), label="running mean"
    )
    axes[1].legend()
    axes[1].set_xlabel("Adam step")
    axes[1].set_title(f"stage 2: imagined cost over {HORIZON} steps", fontsize=10)
    t = DT * np.arange(before.shape[0])
    for i in range(len(tests)):
        axes[2].plot(t, before[:, i, 0], "--", color=f"C{i}", lw=1)
        axes[2].plot(t, after[:, i, 0], "-", color=f"C{i}")
    axes[2].axhline(GOAL, color="k", lw=0.5)
    axes[2].set_xlabel("time")
    axes[2].set_ylabel("position x")
    axes[2].set_title("real environment: before (dashed), after", fontsize=10)
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / "world_model_controller.png", dpi=90)
    print(f"saved {IMAGES / 'world_model_controller.png'}")


if __name__ == "__main__":
    main()
