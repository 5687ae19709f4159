"""Deep Q-learning on the lectures' 4x3 grid world, with experience replay and a frozen target net.

The grid world (Russell & Norvig): the agent starts bottom left; +1 and -1 are terminal
cells top right; one wall; every other step costs 0.04; a move goes the intended way with
probability 0.8 and to either side with 0.1 each. A Q-network (one-hot cell -> 32 tanh
units -> 4 action values) is trained on minibatches drawn from a replay buffer, against TD
targets r + gamma max_a' Q_target(s', a') from a copy of the network that is refreshed every
200 steps. The loss is written the natural way (the target network's values inside it, not
differentiated); `s2sad.value_and_grad` differentiates it w.r.t. the online weights. The
learned values and greedy policy are compared with value iteration and drawn to
docs/img/dqn_gridworld.png.

    python examples/dqn_gridworld.py [--quick]
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

WIDTH, HEIGHT = 4, 3
WALL = (1, 1)
TERMINAL = {(3, 2): 1.0, (3, 1): -1.0}
STEP_REWARD = -0.04
GAMMA = 0.95
MOVES = [(0, 1), (1, 0), (0, -1), (-1, 0)]  # up, right, down, left
ARROWS = ["\u2191", "\u2192", "\u2193", "\u2190"]
CELLS = [(x, y) for y in range(HEIGHT) for x in range(WIDTH)]


def move(cell, action):
    x, y = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
    if not (0 <= x < WIDTH and 0 <= y < HEIGHT) or (x, y) == WALL:
        return cell
    return (x, y)


def outcomes(cell, action):
    """[(probability, next cell)]: intended direction 0.8, each side 0.1."""
    return [
        (0.8, move(cell, action)),
        (0.1, move(cell, (action + 1) % 4)),
        (0.1, move(cell, (action + 3) % 4)),
    ]


def reward(cell):
    return TERMINAL.get(cell, STEP_REWARD)


def value_iteration(sweeps=500):
    Q = np.zeros((len(CELLS), 4))
    for _ in range(sweeps):
        V = np.array([0.0 if c in TERMINAL else np.max(Q[i]) for i, c in enumerate(CELLS)])
        for i, cell in enumerate(CELLS):
            for a in range(4):
                Q[i, a] = sum(p * (reward(n) + GAMMA * V[CELLS.index(n)]) for p, n in outcomes(cell, a))
    return Q


def one_hot(cell):
    v = np.zeros(len(CELLS))
    v[CELLS.index(cell)] = 1.0
    return v


def q_values(params, states):
    hidden = np.tanh(states @ params["W1"] + params["b1"])
    return hidden @ params["W2"] + params["b2"]


def td_loss(params, target_params, states, actions, rewards, next_states, done):
    """Mean squared TD error; the target network's values are constants of the gradient."""
    q = q_values(params, states)[np.arange(len(actions)), actions]
    next_q = np.max(q_values(target_params, next_states), axis=1)
    targets = rewards + GAMMA * (1.0 - done) * next_q
    return np.mean((q - targets) ** 2)


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


def train(steps, rng, batch_size=32, target_every=200):
    params = {
        "W1": rng.normal(0, 0.5, (len(CELLS), 32)),
        "b1": np.zeros(32),
        "W2": rng.normal(0, 0.1, (32, 4)),
        "b2": np.zeros(4),
    }
    target_params = {k: v.copy() for k, v in params.items()}
    value_and_grad = s2sad.value_and_grad(td_loss)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    buffer, returns, episode_return, cell, checked = [], [], 0.0, (0, 0), False
    for step in range(1, steps + 1):
        epsilon = max(0.1, 1.0 - step / (0.4 * steps))
        if rng.uniform() < epsilon:
            action = int(rng.integers(4))
        else:
            action = int(np.argmax(q_values(params, one_hot(cell))))
        probabilities, cells = zip(*outcomes(cell, action))
        next_cell = cells[rng.choice(3, p=probabilities)]
        r, done = reward(next_cell), next_cell in TERMINAL
        buffer.append((one_hot(cell), action, r, one_hot(next_cell), float(done)))
        buffer = buffer[-5000:]
        episode_return += r
        cell = (0, 0) if done else next_cell
        if done:
            returns.append(episode_return)
            episode_return = 0.0
        if len(buffer) >= batch_size:
            picked = [buffer[i] for i in rng.integers(len(buffer), size=batch_size)]
            batch = [np.array(column) for column in zip(*picked)]
            loss, grads = value_and_grad(params, target_params, *batch)
            if not checked:
                gradient_check(lambda p: td_loss(p, target_params, *batch), params, grads, rng)
                checked = True
            for k in params:  # Adam
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                params[k] = params[k] - 1e-3 * (m[k] / (1 - 0.9**step)) / (
                    np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8
                )
        if step % target_every == 0:
            target_params = {k: v.copy() for k, v in params.items()}  # freeze a copy
    return params, returns


def draw(Q_dqn, Q_star, returns, path):
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for ax, Q, title in [
        (axes[0], Q_dqn, "DQN: max_a Q(s, a), greedy policy"),
        (axes[1], Q_star, "value iteration"),
    ]:
        values = np.full((HEIGHT, WIDTH), np.nan)
        for i, (x, y) in enumerate(CELLS):
            if (x, y) != WALL:
                values[y, x] = TERMINAL.get((x, y), np.max(Q[i]))
        ax.imshow(values, origin="lower", cmap="RdYlGn", vmin=-1, vmax=1)
        for i, (x, y) in enumerate(CELLS):
            if (x, y) == WALL:
                ax.text(x, y, "wall", ha="center", va="center")
            elif (x, y) in TERMINAL:
                ax.text(x, y, f"{TERMINAL[(x, y)]:+.0f}", ha="center", va="center", fontsize=14)
            else:
                ax.text(x, y, f"{np.max(Q[i]):.2f}\n{ARROWS[int(np.argmax(Q[i]))]}", ha="center", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=10)
    window = min(20, len(returns))
    axes[2].plot(np.convolve(returns, np.ones(window) / window, "valid"))
    axes[2].set_xlabel("episode")
    axes[2].set_ylabel(f"return (running mean of {window})")
    axes[2].set_title("training", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    rng = np.random.default_rng(0)
    steps = 300 if QUICK else 30000
    start = time.perf_counter()
    params, returns = train(steps, rng)
    print(f"{steps} environment steps, {len(returns)} episodes in {time.perf_counter() - start:.1f} s")
    Q_dqn = q_values(params, np.eye(len(CELLS)))
    Q_star = value_iteration()
    free = [i for i, c in enumerate(CELLS) if c != WALL and c not in TERMINAL]
    error = np.max(np.abs(np.max(Q_dqn[free], axis=1) - np.max(Q_star[free], axis=1)))
    agree = np.mean(np.argmax(Q_dqn[free], axis=1) == np.argmax(Q_star[free], axis=1))
    print(
        f"state values vs value iteration: max error {error:.3f}; greedy action agrees in {agree:.0%} of cells"
    )
    IMAGES.mkdir(parents=True, exist_ok=True)
    draw(Q_dqn, Q_star, returns, IMAGES / "dqn_gridworld.png")
    print(f"saved {IMAGES / 'dqn_gridworld.png'}")


if __name__ == "__main__":
    main()
