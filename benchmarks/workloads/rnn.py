"""A tanh RNN h_t = tanh(Wx x_t + Wh h_{t-1} + b), H = 64 hidden units, T = 100 steps of 16 inputs.

Loss = sum of squares of the final hidden state; gradient w.r.t. the parameters
Wx, Wh, b, passed as separate arrays.
"""

import numpy as np

from harness import Impl, Workload, jax_impl

HIDDEN, INPUTS, STEPS = 64, 16, 100

_rng = np.random.default_rng(64)
XS = _rng.standard_normal((STEPS, INPUTS))
WX = _rng.standard_normal((HIDDEN, INPUTS)) / np.sqrt(INPUTS)
WH = 0.9 * _rng.standard_normal((HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)
B = 0.1 * _rng.standard_normal(HIDDEN)


def rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


WORKLOAD = Workload(
    name="rnn",
    primal=rnn,
    args=(WX, WH, B, XS),
    argnums=(0, 1, 2),
    description=f"tanh RNN, H = {HIDDEN}, T = {STEPS} steps of {INPUTS} inputs, loss = |h_T|^2, "
    "grad w.r.t. (Wx, Wh, b) as separate arrays",
    target=3.0,
    steps=STEPS,
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def rnn_grad(Wx, Wh, b, xs):
        steps = len(xs)
        inputs = xs @ Wx.T + b  # all input projections in one matrix product
        hs = [np.zeros(Wh.shape[0])]
        for u in inputs:
            hs.append(np.tanh(u + Wh @ hs[-1]))
        hs = np.array(hs)  # hs[t + 1] is h after step t
        slopes = 1.0 - hs * hs  # tanh' of every step at once
        Wh_t = Wh.T.copy()
        pre_bar = np.empty((steps, Wh.shape[0]))  # adjoint of each step's tanh argument
        h_bar = 2.0 * hs[steps]
        for t in range(steps - 1, -1, -1):
            pre_bar[t] = step_bar = h_bar * slopes[t + 1]
            h_bar = Wh_t @ step_bar
        # BPTT: the per-step outer products summed in one matrix product each
        return pre_bar.T @ xs, pre_bar.T @ hs[:-1], pre_bar.sum(axis=0)

    return Impl(
        grad=lambda: rnn_grad(*args), note="BPTT; input projections and outer products as one matmul each"
    )


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    def rnn_ag(Wx, Wh, b, xs):
        h = anp.zeros(Wh.shape[0])
        for x in xs:
            h = anp.tanh(Wx @ x + Wh @ h + b)
        return anp.sum(h**2)

    gradient = autograd.grad(rnn_ag, argnum=(0, 1, 2))
    return Impl(grad=lambda: gradient(*args), primal=lambda: rnn_ag(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    def rnn_torch(Wx, Wh, b, xs):
        h = torch.zeros(Wh.shape[0], dtype=torch.float64)
        for x in xs:
            h = torch.tanh(Wx @ x + Wh @ h + b)
        return torch.sum(h**2)

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args[:3]]
    values = [torch.tensor(a, dtype=torch.float64) for a in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        rnn_torch(*leaves, values[3]).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: rnn_torch(*values))


def rnn_jax(Wx, Wh, b, xs):
    import jax.numpy as jnp

    h = jnp.zeros(Wh.shape[0])
    for x in xs:
        h = jnp.tanh(Wx @ x + Wh @ h + b)
    return jnp.sum(h**2)


def rnn_jax_scan(Wx, Wh, b, xs):
    """Rewritten for JAX: the step is the body of a lax.scan over the inputs."""
    import jax
    import jax.numpy as jnp

    def step(h, x):
        return jnp.tanh(Wx @ x + Wh @ h + b), None

    h, _ = jax.lax.scan(step, jnp.zeros(Wh.shape[0]), xs)
    return jnp.sum(h**2)


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    return jax_impl(rnn_jax, WORKLOAD.argnums, False, args)


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    return jax_impl(rnn_jax, WORKLOAD.argnums, True, args, note="Python loop unrolled at trace time")


@WORKLOAD.tool("jax jit (lax.scan rewrite)")
def jax_scan(args):
    return jax_impl(
        rnn_jax_scan, WORKLOAD.argnums, True, args, note="rewritten: the step as the body of a lax.scan"
    )
