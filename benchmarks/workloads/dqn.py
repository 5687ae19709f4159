"""The DQN loss of a batch of 64 transitions: 8 state variables, 4 actions, a 2-layer ReLU Q-network.

target = r + gamma (1 - done) max_a' Q_target(s', a') from a frozen target network;
loss = mean squared TD error with Q(s, a) gathered by fancy indexing `q[np.arange(B), a]`;
gradient w.r.t. the online network's W1, b1, W2, b2 (separate arrays).
"""

import numpy as np

from harness import Impl, Workload, jax_impl

BATCH, STATES, HIDDEN, ACTIONS = 64, 8, 32, 4

_rng = np.random.default_rng(8)
S = _rng.standard_normal((BATCH, STATES))
A = _rng.integers(0, ACTIONS, BATCH)
R = _rng.standard_normal(BATCH)
S_NEXT = S + 0.1 * _rng.standard_normal((BATCH, STATES))
DONE = (_rng.random(BATCH) < 0.1).astype(np.float64)
ONLINE = (
    _rng.standard_normal((STATES, HIDDEN)) / np.sqrt(STATES),
    0.1 * _rng.standard_normal(HIDDEN),
    _rng.standard_normal((HIDDEN, ACTIONS)) / np.sqrt(HIDDEN),
    0.1 * _rng.standard_normal(ACTIONS),
)
TARGET = tuple(p + 0.05 * _rng.standard_normal(p.shape) for p in ONLINE)  # a few updates behind


def q_network(W1, b1, W2, b2, s):
    hidden = np.maximum(s @ W1 + b1, 0.0)
    return hidden @ W2 + b2


def dqn_loss(W1, b1, W2, b2, W1_target, b1_target, W2_target, b2_target, s, a, r, s_next, done, gamma=0.99):
    q = q_network(W1, b1, W2, b2, s)
    q_next = q_network(W1_target, b1_target, W2_target, b2_target, s_next)
    target = r + gamma * (1.0 - done) * np.max(q_next, axis=1)
    td = q[np.arange(s.shape[0]), a] - target
    return np.mean(td**2)


WORKLOAD = Workload(
    name="dqn",
    primal=dqn_loss,
    args=ONLINE + TARGET + (S, A, R, S_NEXT, DONE),
    argnums=(0, 1, 2, 3),
    description=f"DQN loss, batch {BATCH}, {STATES} states, {ACTIONS} actions, ReLU Q-network with "
    f"{HIDDEN} hidden units, frozen target network, `q[np.arange(B), a]`, grad w.r.t. (W1, b1, W2, b2)",
    target=3.0,
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def dqn_grad(
        W1, b1, W2, b2, W1_target, b1_target, W2_target, b2_target, s, a, r, s_next, done, gamma=0.99
    ):
        pre = s @ W1 + b1
        hidden = np.maximum(pre, 0.0)
        q = hidden @ W2 + b2
        q_next = np.maximum(s_next @ W1_target + b1_target, 0.0) @ W2_target + b2_target
        rows = np.arange(s.shape[0])
        td = q[rows, a] - (r + gamma * (1.0 - done) * np.max(q_next, axis=1))
        q_bar = np.zeros_like(q)
        q_bar[rows, a] = 2.0 * td / s.shape[0]  # one action per row: no repeats to accumulate
        hidden_bar = (q_bar @ W2.T) * (pre > 0.0)
        return s.T @ hidden_bar, hidden_bar.sum(axis=0), hidden.T @ q_bar, q_bar.sum(axis=0)

    return Impl(grad=lambda: dqn_grad(*args))


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    def q_network_ag(W1, b1, W2, b2, s):
        hidden = anp.maximum(s @ W1 + b1, 0.0)
        return hidden @ W2 + b2

    def dqn_loss_ag(
        W1, b1, W2, b2, W1_target, b1_target, W2_target, b2_target, s, a, r, s_next, done, gamma=0.99
    ):
        q = q_network_ag(W1, b1, W2, b2, s)
        q_next = q_network_ag(W1_target, b1_target, W2_target, b2_target, s_next)
        target = r + gamma * (1.0 - done) * anp.max(q_next, axis=1)
        td = q[anp.arange(s.shape[0]), a] - target
        return anp.mean(td**2)

    gradient = autograd.grad(dqn_loss_ag, argnum=(0, 1, 2, 3))
    return Impl(grad=lambda: gradient(*args), primal=lambda: dqn_loss_ag(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    def q_network_torch(W1, b1, W2, b2, s):
        hidden = torch.relu(s @ W1 + b1)
        return hidden @ W2 + b2

    def dqn_loss_torch(
        W1, b1, W2, b2, W1_target, b1_target, W2_target, b2_target, s, a, r, s_next, done, gamma=0.99
    ):
        q = q_network_torch(W1, b1, W2, b2, s)
        with torch.no_grad():
            q_next = q_network_torch(W1_target, b1_target, W2_target, b2_target, s_next)
            target = r + gamma * (1.0 - done) * torch.max(q_next, dim=1).values
        td = q[torch.arange(s.shape[0]), a] - target
        return torch.mean(td**2)

    leaves = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in args[:4]]
    values = [torch.tensor(v) for v in args]  # float64 arrays stay float64, the actions int64

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        dqn_loss_torch(*leaves, *values[4:]).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: dqn_loss_torch(*values))


def dqn_loss_jax(
    W1, b1, W2, b2, W1_target, b1_target, W2_target, b2_target, s, a, r, s_next, done, gamma=0.99
):
    import jax
    import jax.numpy as jnp

    def q_network_jax(W1, b1, W2, b2, s):
        hidden = jnp.maximum(s @ W1 + b1, 0.0)
        return hidden @ W2 + b2

    q = q_network_jax(W1, b1, W2, b2, s)
    q_next = q_network_jax(W1_target, b1_target, W2_target, b2_target, s_next)
    target = jax.lax.stop_gradient(r + gamma * (1.0 - done) * jnp.max(q_next, axis=1))
    td = q[jnp.arange(s.shape[0]), a] - target
    return jnp.mean(td**2)


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    return jax_impl(dqn_loss_jax, WORKLOAD.argnums, False, args)


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    return jax_impl(dqn_loss_jax, WORKLOAD.argnums, True, args)
