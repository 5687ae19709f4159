"""Overdamped Langevin dynamics in the double well V(x) = a (x^2 - 1)^2 - b x, reflecting walls.

Euler-Maruyama with pre-drawn noise, `while t < T` for 1,000 steps; loss = mean of x^2
over the path; gradient w.r.t. the physical parameters (a, b, kT).
"""

import math

import numpy as np

from harness import Impl, Workload, jax_impl

NOISE = np.random.default_rng(2024).standard_normal(1100)
STEPS = 1000


def langevin(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2):
    x = x0
    t = 0.0
    i = 0
    total = 0.0
    while t < T:
        force = -4.0 * a * x * (x * x - 1.0) + b
        x += force * dt + math.sqrt(2.0 * kT * dt) * NOISE[i]
        if x > L:
            x = 2.0 * L - x
        if x < -L:
            x = -2.0 * L - x
        total += x * x
        t += dt
        i += 1
    return total / i


WORKLOAD = Workload(
    name="langevin",
    primal=langevin,
    args=(1.0, 0.3, 2.0),
    argnums=(0, 1, 2),
    description=f"{STEPS}-step overdamped Langevin, `while t < T`, reflecting walls, grad w.r.t. (a, b, kT)",
    target=3.0,
    steps=STEPS,
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def langevin_grad(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2):
        xs = [x0]  # x after each step (xs[0] is x0)
        flips = []  # -1.0 where a wall reflected x, else 1.0
        x = x0
        t = 0.0
        i = 0
        while t < T:
            x += (-4.0 * a * x * (x * x - 1.0) + b) * dt + math.sqrt(2.0 * kT * dt) * NOISE[i]
            sign = 1.0
            if x > L:
                x = 2.0 * L - x
                sign = -sign
            if x < -L:
                x = -2.0 * L - x
                sign = -sign
            xs.append(x)
            flips.append(sign)
            t += dt
            i += 1
        n = i
        total_bar = 1.0 / n
        a_bar = b_bar = kT_bar = 0.0
        x_bar = 0.0
        for i in range(n - 1, -1, -1):
            x_bar += 2.0 * xs[i + 1] * total_bar
            step_bar = x_bar * flips[i]
            x = xs[i]
            a_bar -= step_bar * x * (x * x - 1.0)
            b_bar += step_bar
            kT_bar += step_bar * NOISE[i]
            x_bar = step_bar * (1.0 - dt * 4.0 * a * (3.0 * x * x - 1.0))
        return 4.0 * dt * a_bar, dt * b_bar, math.sqrt(2.0 * dt) * 0.5 / math.sqrt(kT) * kT_bar

    return Impl(grad=lambda: langevin_grad(*args), note="stores x and the wall flips per step")


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    def langevin_ag(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2):
        x = x0
        t = 0.0
        i = 0
        total = 0.0
        while t < T:
            force = -4.0 * a * x * (x * x - 1.0) + b
            x = x + force * dt + anp.sqrt(2.0 * kT * dt) * NOISE[i]
            if x > L:
                x = 2.0 * L - x
            if x < -L:
                x = -2.0 * L - x
            total = total + x * x
            t += dt
            i += 1
        return total / i

    gradient = autograd.grad(langevin_ag, argnum=(0, 1, 2))
    return Impl(grad=lambda: gradient(*args), primal=lambda: langevin_ag(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    noise = torch.tensor(NOISE, dtype=torch.float64)

    def langevin_torch(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2):
        x = torch.tensor(x0, dtype=torch.float64)
        t = 0.0
        i = 0
        total = 0.0
        while t < T:
            force = -4.0 * a * x * (x * x - 1.0) + b
            x = x + force * dt + torch.sqrt(2.0 * kT * dt) * noise[i]
            if x > L:
                x = 2.0 * L - x
            if x < -L:
                x = -2.0 * L - x
            total = total + x * x
            t += dt
            i += 1
        return total / i

    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in args]
    values = [torch.tensor(v, dtype=torch.float64) for v in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        langevin_torch(*leaves).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: langevin_torch(*values))


def langevin_jax_python(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2):
    """The physicist's code with jnp.sqrt: works under eager jax.grad, not under jit."""
    import jax.numpy as jnp

    x = x0
    t = 0.0
    i = 0
    total = 0.0
    while t < T:
        force = -4.0 * a * x * (x * x - 1.0) + b
        x = x + force * dt + jnp.sqrt(2.0 * kT * dt) * NOISE[i]
        if x > L:
            x = 2.0 * L - x
        if x < -L:
            x = -2.0 * L - x
        total = total + x * x
        t += dt
        i += 1
    return total / i


def langevin_jax_while(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2):
    """The JAX idiom for a data-dependent loop: lax.while_loop with jnp.where for the walls."""
    import jax
    import jax.numpy as jnp

    noise = jnp.asarray(NOISE)

    def cond(state):
        return state[1] < T

    def body(state):
        x, t, i, total = state
        force = -4.0 * a * x * (x * x - 1.0) + b
        x = x + force * dt + jnp.sqrt(2.0 * kT * dt) * noise[i]
        x = jnp.where(x > L, 2.0 * L - x, x)
        x = jnp.where(x < -L, -2.0 * L - x, x)
        return x, t + dt, i + 1, total + x * x

    x, t, i, total = jax.lax.while_loop(cond, body, (x0 * jnp.ones(()), 0.0, 0, 0.0 * a))
    return total / i


def langevin_jax_scan(a, b, kT, x0=0.5, T=1.0, dt=1e-3, L=1.2, steps=STEPS):
    """Rewritten for JAX: the trip count computed outside, the loop a lax.scan over the noise."""
    import jax
    import jax.numpy as jnp

    def body(carry, noise):
        x, total = carry
        force = -4.0 * a * x * (x * x - 1.0) + b
        x = x + force * dt + jnp.sqrt(2.0 * kT * dt) * noise
        x = jnp.where(x > L, 2.0 * L - x, x)
        x = jnp.where(x < -L, -2.0 * L - x, x)
        return (x, total + x * x), None

    (x, total), _ = jax.lax.scan(body, (x0 * jnp.ones(()), 0.0 * a), jnp.asarray(NOISE[:steps]))
    return total / steps


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    return jax_impl(langevin_jax_python, WORKLOAD.argnums, False, args, may_fail=True)


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    note = "the Python code under jax.jit(jax.grad(...))"
    return jax_impl(langevin_jax_python, WORKLOAD.argnums, True, args, note=note, may_fail=True)


@WORKLOAD.tool("jax jit (lax.while_loop)")
def jax_while(args):
    note = "the JAX idiom for a data-dependent loop"
    return jax_impl(langevin_jax_while, WORKLOAD.argnums, True, args, note=note, may_fail=True)


@WORKLOAD.tool("jax jit (lax.scan rewrite)")
def jax_scan(args):
    note = "rewritten: trip count fixed in advance, walls via jnp.where"
    return jax_impl(langevin_jax_scan, WORKLOAD.argnums, True, args, note=note, may_fail=True)
