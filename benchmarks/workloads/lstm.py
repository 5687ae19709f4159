"""An LSTM, H = 32 hidden units, T = 50 steps of 16 inputs, gates from one stacked weight matrix.

z = W [x_t; h_{t-1}] + b with W of shape (4H, D + H), gates i, f, o = sigmoid, g = tanh
(a local helper `sigmoid`); loss = sum of squares of the final hidden state;
gradient w.r.t. W and b, passed as separate arrays.
"""

import numpy as np

from harness import Impl, Workload, jax_impl

HIDDEN, INPUTS, STEPS = 32, 16, 50

_rng = np.random.default_rng(32)
XS = _rng.standard_normal((STEPS, INPUTS))
W = _rng.standard_normal((4 * HIDDEN, INPUTS + HIDDEN)) / np.sqrt(INPUTS + HIDDEN)
B = np.concatenate([np.zeros(HIDDEN), np.ones(HIDDEN), np.zeros(2 * HIDDEN)])  # forget-gate bias 1
B = B + 0.1 * _rng.standard_normal(4 * HIDDEN)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm(W, b, xs):
    H = b.shape[0] // 4
    h = np.zeros(H)
    c = np.zeros(H)
    for x in xs:
        z = W @ np.concatenate([x, h]) + b
        i = sigmoid(z[:H])
        f = sigmoid(z[H : 2 * H])
        o = sigmoid(z[2 * H : 3 * H])
        g = np.tanh(z[3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
    return np.sum(h**2)


WORKLOAD = Workload(
    name="lstm",
    primal=lstm,
    args=(W, B, XS),
    argnums=(0, 1),
    description=f"LSTM, H = {HIDDEN}, T = {STEPS} steps of {INPUTS} inputs, stacked gate weights "
    f"W ({4 * HIDDEN}x{INPUTS + HIDDEN}) and b, `sigmoid` helper, loss = |h_T|^2, grad w.r.t. (W, b)",
    target=3.0,
    steps=STEPS,
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def lstm_grad(W, b, xs):
        H = b.shape[0] // 4
        D = xs.shape[1]
        steps = len(xs)
        inputs = xs @ W[:, :D].T + b  # the input part of every step in one matrix product
        W_h = W[:, D:]
        hs = np.zeros((steps + 1, H))  # hs[t + 1], cs[t + 1]: state after step t
        cs = np.zeros((steps + 1, H))
        gates = np.empty((steps, 4 * H))  # i, f, o, g after their nonlinearity
        for t in range(steps):
            z = inputs[t] + W_h @ hs[t]
            gates[t, : 3 * H] = 1.0 / (1.0 + np.exp(-z[: 3 * H]))
            gates[t, 3 * H :] = np.tanh(z[3 * H :])
            i, f, o, g = gates[t, :H], gates[t, H : 2 * H], gates[t, 2 * H : 3 * H], gates[t, 3 * H :]
            cs[t + 1] = f * cs[t] + i * g
            hs[t + 1] = o * np.tanh(cs[t + 1])
        tanh_cs = np.tanh(cs)
        W_h_t = W_h.T.copy()
        z_bar = np.empty((steps, 4 * H))
        h_bar = 2.0 * hs[steps]
        c_bar = np.zeros(H)
        for t in range(steps - 1, -1, -1):
            i, f, o, g = gates[t, :H], gates[t, H : 2 * H], gates[t, 2 * H : 3 * H], gates[t, 3 * H :]
            tc = tanh_cs[t + 1]
            c_bar = c_bar + h_bar * o * (1.0 - tc * tc)
            z_bar[t, :H] = c_bar * g * i * (1.0 - i)
            z_bar[t, H : 2 * H] = c_bar * cs[t] * f * (1.0 - f)
            z_bar[t, 2 * H : 3 * H] = h_bar * tc * o * (1.0 - o)
            z_bar[t, 3 * H :] = c_bar * i * (1.0 - g * g)
            c_bar = c_bar * f
            h_bar = W_h_t @ z_bar[t]
        W_bar = np.concatenate([z_bar.T @ xs, z_bar.T @ hs[:-1]], axis=1)
        return W_bar, z_bar.sum(axis=0)

    return Impl(grad=lambda: lstm_grad(*args), note="input projections and outer products as one matmul each")


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    def sigmoid_ag(x):
        return 1.0 / (1.0 + anp.exp(-x))

    def lstm_ag(W, b, xs):
        H = b.shape[0] // 4
        h = anp.zeros(H)
        c = anp.zeros(H)
        for x in xs:
            z = W @ anp.concatenate([x, h]) + b
            i = sigmoid_ag(z[:H])
            f = sigmoid_ag(z[H : 2 * H])
            o = sigmoid_ag(z[2 * H : 3 * H])
            g = anp.tanh(z[3 * H :])
            c = f * c + i * g
            h = o * anp.tanh(c)
        return anp.sum(h**2)

    gradient = autograd.grad(lstm_ag, argnum=(0, 1))
    return Impl(grad=lambda: gradient(*args), primal=lambda: lstm_ag(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    def lstm_torch(W, b, xs):
        H = b.shape[0] // 4
        h = torch.zeros(H, dtype=torch.float64)
        c = torch.zeros(H, dtype=torch.float64)
        for x in xs:
            z = W @ torch.cat([x, h]) + b
            i = torch.sigmoid(z[:H])
            f = torch.sigmoid(z[H : 2 * H])
            o = torch.sigmoid(z[2 * H : 3 * H])
            g = torch.tanh(z[3 * H :])
            c = f * c + i * g
            h = o * torch.tanh(c)
        return torch.sum(h**2)

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args[:2]]
    values = [torch.tensor(a, dtype=torch.float64) for a in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        lstm_torch(*leaves, values[2]).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: lstm_torch(*values))


def lstm_jax(W, b, xs):
    import jax
    import jax.numpy as jnp

    H = b.shape[0] // 4
    h = jnp.zeros(H)
    c = jnp.zeros(H)
    for x in xs:
        z = W @ jnp.concatenate([x, h]) + b
        i = jax.nn.sigmoid(z[:H])
        f = jax.nn.sigmoid(z[H : 2 * H])
        o = jax.nn.sigmoid(z[2 * H : 3 * H])
        g = jnp.tanh(z[3 * H :])
        c = f * c + i * g
        h = o * jnp.tanh(c)
    return jnp.sum(h**2)


def lstm_jax_scan(W, b, xs):
    """Rewritten for JAX: the step is the body of a lax.scan over the inputs."""
    import jax
    import jax.numpy as jnp

    H = b.shape[0] // 4

    def step(carry, x):
        h, c = carry
        z = W @ jnp.concatenate([x, h]) + b
        i = jax.nn.sigmoid(z[:H])
        f = jax.nn.sigmoid(z[H : 2 * H])
        o = jax.nn.sigmoid(z[2 * H : 3 * H])
        g = jnp.tanh(z[3 * H :])
        c = f * c + i * g
        return (o * jnp.tanh(c), c), None

    (h, _), _ = jax.lax.scan(step, (jnp.zeros(H), jnp.zeros(H)), xs)
    return jnp.sum(h**2)


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    return jax_impl(lstm_jax, WORKLOAD.argnums, False, args)


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    return jax_impl(lstm_jax, WORKLOAD.argnums, True, args, note="Python loop unrolled at trace time")


@WORKLOAD.tool("jax jit (lax.scan rewrite)")
def jax_scan(args):
    return jax_impl(
        lstm_jax_scan, WORKLOAD.argnums, True, args, note="rewritten: the step as the body of a lax.scan"
    )
