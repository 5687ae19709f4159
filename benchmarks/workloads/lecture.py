"""The lecture example f(x1, x2) = (sin(x1/x2) + x1/x2 - exp(x2)) (x1/x2 - exp(x2)) at (1.5, 0.5)."""

import numpy as np

from harness import Impl, Workload


def lecture(x1, x2):
    return (np.sin(x1 / x2) + x1 / x2 - np.exp(x2)) * (x1 / x2 - np.exp(x2))


WORKLOAD = Workload(
    name="lecture",
    primal=lecture,
    args=(1.5, 0.5),
    argnums=(0, 1),
    description="scalar expression from the lecture, NumPy ufuncs on Python floats",
    target=3.0,
    expected_grad=(3.012, -13.724),
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def lecture_grad(x1, x2):
        a = x1 / x2
        e = np.exp(x2)
        u = np.sin(a) + a - e
        v = a - e
        u_bar = v
        v_bar = u
        a_bar = u_bar * (np.cos(a) + 1.0) + v_bar
        e_bar = -u_bar - v_bar
        x1_bar = a_bar / x2
        x2_bar = -a_bar * a / x2 + e_bar * e
        return x1_bar, x2_bar

    return Impl(grad=lambda: lecture_grad(*args))


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    def f(x1, x2):
        return (anp.sin(x1 / x2) + x1 / x2 - anp.exp(x2)) * (x1 / x2 - anp.exp(x2))

    gradient = autograd.grad(f, argnum=(0, 1))
    return Impl(grad=lambda: gradient(*args), primal=lambda: f(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    def f(x1, x2):
        return (torch.sin(x1 / x2) + x1 / x2 - torch.exp(x2)) * (x1 / x2 - torch.exp(x2))

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    values = [torch.tensor(a, dtype=torch.float64) for a in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        f(*leaves).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: f(*values))


def jax_function():
    import jax.numpy as jnp

    def f(x1, x2):
        return (jnp.sin(x1 / x2) + x1 / x2 - jnp.exp(x2)) * (x1 / x2 - jnp.exp(x2))

    return f


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    import jax

    f = jax_function()
    gradient = jax.grad(f, argnums=(0, 1))
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(f(*args)),
    )


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    import jax

    f = jax_function()
    gradient = jax.jit(jax.grad(f, argnums=(0, 1)))
    primal = jax.jit(f)
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(primal(*args)),
    )
