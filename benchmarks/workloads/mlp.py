"""An MLP 784-256-10 (tanh hidden layer) on a batch of 256, softmax cross-entropy loss.

The log-softmax is written with np.max / np.exp / np.log / np.sum; labels are one-hot
rows of Y; gradient w.r.t. W1, b1, W2, b2, passed as separate arrays (203,530 scalars).
The time goes into three large matrix products, so the target is relative: s2sad
within 1.25x of the hand-written adjoint's ratio.
"""

import numpy as np

from harness import Impl, Workload, jax_impl

BATCH, INPUTS, HIDDEN, CLASSES = 256, 784, 256, 10

_rng = np.random.default_rng(784)
X = _rng.standard_normal((BATCH, INPUTS))
Y = np.eye(CLASSES)[_rng.integers(0, CLASSES, BATCH)]
W1 = _rng.standard_normal((INPUTS, HIDDEN)) / np.sqrt(INPUTS)
B1 = 0.1 * _rng.standard_normal(HIDDEN)
W2 = _rng.standard_normal((HIDDEN, CLASSES)) / np.sqrt(HIDDEN)
B2 = 0.1 * _rng.standard_normal(CLASSES)


def mlp(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    z = logits - np.max(logits, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(Y * log_p) / X.shape[0]


WORKLOAD = Workload(
    name="mlp",
    primal=mlp,
    args=(W1, B1, W2, B2, X, Y),
    argnums=(0, 1, 2, 3),
    description=f"MLP {INPUTS}-{HIDDEN}-{CLASSES}, tanh, batch {BATCH}, softmax cross-entropy, "
    "grad w.r.t. (W1, b1, W2, b2); target: s2sad's ratio within 1.25x of the hand adjoint's",
    target=1.25,
    target_relative_to="hand adjoint",
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def mlp_grad(W1, b1, W2, b2, X, Y):
        h = np.tanh(X @ W1 + b1)
        logits = h @ W2 + b2
        e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
        logits_bar = (e / np.sum(e, axis=1, keepdims=True) - Y) / X.shape[0]  # softmax - one-hot
        pre_bar = (logits_bar @ W2.T) * (1.0 - h * h)
        return X.T @ pre_bar, pre_bar.sum(axis=0), h.T @ logits_bar, logits_bar.sum(axis=0)

    return Impl(grad=lambda: mlp_grad(*args), note="backprop with softmax - one-hot")


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    def mlp_ag(W1, b1, W2, b2, X, Y):
        h = anp.tanh(X @ W1 + b1)
        logits = h @ W2 + b2
        z = logits - anp.max(logits, axis=1, keepdims=True)
        log_p = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.sum(Y * log_p) / X.shape[0]

    gradient = autograd.grad(mlp_ag, argnum=(0, 1, 2, 3))
    return Impl(grad=lambda: gradient(*args), primal=lambda: mlp_ag(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    def mlp_torch(W1, b1, W2, b2, X, Y):
        h = torch.tanh(X @ W1 + b1)
        logits = h @ W2 + b2
        z = logits - torch.max(logits, dim=1, keepdim=True).values
        log_p = z - torch.log(torch.sum(torch.exp(z), dim=1, keepdim=True))
        return -torch.sum(Y * log_p) / X.shape[0]

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args[:4]]
    values = [torch.tensor(a, dtype=torch.float64) for a in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        mlp_torch(*leaves, *values[4:]).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: mlp_torch(*values))


def mlp_jax(W1, b1, W2, b2, X, Y):
    import jax.numpy as jnp

    h = jnp.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    z = logits - jnp.max(logits, axis=1, keepdims=True)
    log_p = z - jnp.log(jnp.sum(jnp.exp(z), axis=1, keepdims=True))
    return -jnp.sum(Y * log_p) / X.shape[0]


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    return jax_impl(mlp_jax, WORKLOAD.argnums, False, args)


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    return jax_impl(mlp_jax, WORKLOAD.argnums, True, args)
