"""A damped pendulum theta'' = -(g / L) sin(theta) - c theta', classical RK4 for 1,000 steps.

The RK4 step calls a local helper for the right-hand side (inlined by s2sad);
loss = mean of theta^2 over the path; gradient w.r.t. (g, L, c, theta0).
"""

import math

from harness import Impl, ToolError, Workload

STEPS = 1000


def rhs(theta, omega, g, L, c):
    return omega, -(g / L) * math.sin(theta) - c * omega


def pendulum(g, L, c, theta0, omega0=0.0, dt=0.01, n=STEPS):
    theta = theta0
    omega = omega0
    total = 0.0
    for _ in range(n):
        k1_theta, k1_omega = rhs(theta, omega, g, L, c)
        k2_theta, k2_omega = rhs(theta + 0.5 * dt * k1_theta, omega + 0.5 * dt * k1_omega, g, L, c)
        k3_theta, k3_omega = rhs(theta + 0.5 * dt * k2_theta, omega + 0.5 * dt * k2_omega, g, L, c)
        k4_theta, k4_omega = rhs(theta + dt * k3_theta, omega + dt * k3_omega, g, L, c)
        theta += dt / 6.0 * (k1_theta + 2.0 * k2_theta + 2.0 * k3_theta + k4_theta)
        omega += dt / 6.0 * (k1_omega + 2.0 * k2_omega + 2.0 * k3_omega + k4_omega)
        total += theta * theta
    return total / n


WORKLOAD = Workload(
    name="pendulum",
    primal=pendulum,
    args=(9.81, 1.0, 0.3, 1.0),
    argnums=(0, 1, 2, 3),
    description=f"{STEPS}-step RK4 damped pendulum, the step calls a helper `rhs(theta, omega, g, L, c)`, "
    "grad w.r.t. (g, L, c, theta0)",
    target=3.0,
    steps=STEPS,
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def pendulum_grad(g, L, c, theta0, omega0=0.0, dt=0.01, n=STEPS):
        k = g / L
        stages = []  # per step: theta, omega and sin(theta) at the four RK4 stages
        theta, omega = theta0, omega0
        for _ in range(n):
            t1, w1 = theta, omega
            s1 = math.sin(t1)
            a1, b1 = w1, -k * s1 - c * w1
            t2, w2 = theta + 0.5 * dt * a1, omega + 0.5 * dt * b1
            s2 = math.sin(t2)
            a2, b2 = w2, -k * s2 - c * w2
            t3, w3 = theta + 0.5 * dt * a2, omega + 0.5 * dt * b2
            s3 = math.sin(t3)
            a3, b3 = w3, -k * s3 - c * w3
            t4, w4 = theta + dt * a3, omega + dt * b3
            s4 = math.sin(t4)
            a4, b4 = w4, -k * s4 - c * w4
            stages.append((t1, w1, s1, t2, w2, s2, t3, w3, s3, t4, w4, s4))
            theta += dt / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
            omega += dt / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4)
        theta_bar = omega_bar = k_bar = c_bar = 0.0
        for t1, w1, s1, t2, w2, s2, t3, w3, s3, t4, w4, s4 in reversed(stages):
            theta_bar += 2.0 * theta / n  # theta is the state after this step
            a_bar, b_bar = dt / 6.0 * theta_bar, dt / 6.0 * omega_bar  # adjoint of k4
            # stage 4: rhs at (t4, w4); y4 = y + dt k3
            s4_theta = -b_bar * k * math.cos(t4)
            s4_omega = a_bar - b_bar * c
            k_bar -= b_bar * s4
            c_bar -= b_bar * w4
            a_bar = 2.0 * a_bar + dt * s4_theta  # adjoint of k3: 2 dt/6 y_bar + dt y4_bar
            b_bar = 2.0 * b_bar + dt * s4_omega
            s3_theta = -b_bar * k * math.cos(t3)
            s3_omega = a_bar - b_bar * c
            k_bar -= b_bar * s3
            c_bar -= b_bar * w3
            a_bar = dt / 3.0 * theta_bar + 0.5 * dt * s3_theta  # adjoint of k2
            b_bar = dt / 3.0 * omega_bar + 0.5 * dt * s3_omega
            s2_theta = -b_bar * k * math.cos(t2)
            s2_omega = a_bar - b_bar * c
            k_bar -= b_bar * s2
            c_bar -= b_bar * w2
            a_bar = dt / 6.0 * theta_bar + 0.5 * dt * s2_theta  # adjoint of k1
            b_bar = dt / 6.0 * omega_bar + 0.5 * dt * s2_omega
            k_bar -= b_bar * s1
            c_bar -= b_bar * w1
            theta_bar += s4_theta + s3_theta + s2_theta - b_bar * k * math.cos(t1)
            omega_bar += s4_omega + s3_omega + s2_omega + a_bar - b_bar * c
            theta = t1
        return k_bar / L, -k_bar * g / (L * L), c_bar, theta_bar

    return Impl(
        grad=lambda: pendulum_grad(*args), note="stores the four RK4 stage states and their sines per step"
    )


def framework_pendulum(sin):
    """The same code with a framework's `sin` (math.sin does not take tensors or tracers)."""

    def rhs(theta, omega, g, L, c):
        return omega, -(g / L) * sin(theta) - c * omega

    def pendulum(g, L, c, theta0, omega0=0.0, dt=0.01, n=STEPS):
        theta = theta0
        omega = omega0
        total = 0.0
        for _ in range(n):
            k1_theta, k1_omega = rhs(theta, omega, g, L, c)
            k2_theta, k2_omega = rhs(theta + 0.5 * dt * k1_theta, omega + 0.5 * dt * k1_omega, g, L, c)
            k3_theta, k3_omega = rhs(theta + 0.5 * dt * k2_theta, omega + 0.5 * dt * k2_omega, g, L, c)
            k4_theta, k4_omega = rhs(theta + dt * k3_theta, omega + dt * k3_omega, g, L, c)
            theta = theta + dt / 6.0 * (k1_theta + 2.0 * k2_theta + 2.0 * k3_theta + k4_theta)
            omega = omega + dt / 6.0 * (k1_omega + 2.0 * k2_omega + 2.0 * k3_omega + k4_omega)
            total = total + theta * theta
        return total / n

    return pendulum


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd
    import autograd.numpy as anp

    f = framework_pendulum(anp.sin)
    gradient = autograd.grad(f, argnum=(0, 1, 2, 3))
    return Impl(grad=lambda: gradient(*args), primal=lambda: f(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    f = framework_pendulum(torch.sin)
    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    values = [torch.tensor(a, dtype=torch.float64) for a in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        f(*leaves).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: f(*values))


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    import jax
    import jax.numpy as jnp

    f = framework_pendulum(jnp.sin)
    gradient = jax.grad(f, argnums=(0, 1, 2, 3))
    values = [jnp.asarray(a) for a in args]
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(f(*values)),
    )


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    def not_run():
        raise ToolError(
            "not run: jax.jit(jax.grad(...)) of the Python loop unrolls 1,000 RK4 steps; "
            "XLA was still compiling after 14 minutes (tried once by hand)"
        )

    return Impl(grad=not_run)


def pendulum_jax_scan(g, L, c, theta0, omega0=0.0, dt=0.01, n=STEPS):
    """Rewritten for JAX: the step is the body of a lax.scan (static trip count)."""
    import jax
    import jax.numpy as jnp

    def rhs(theta, omega):
        return omega, -(g / L) * jnp.sin(theta) - c * omega

    def step(carry, _):
        theta, omega, total = carry
        k1_theta, k1_omega = rhs(theta, omega)
        k2_theta, k2_omega = rhs(theta + 0.5 * dt * k1_theta, omega + 0.5 * dt * k1_omega)
        k3_theta, k3_omega = rhs(theta + 0.5 * dt * k2_theta, omega + 0.5 * dt * k2_omega)
        k4_theta, k4_omega = rhs(theta + dt * k3_theta, omega + dt * k3_omega)
        theta = theta + dt / 6.0 * (k1_theta + 2.0 * k2_theta + 2.0 * k3_theta + k4_theta)
        omega = omega + dt / 6.0 * (k1_omega + 2.0 * k2_omega + 2.0 * k3_omega + k4_omega)
        return (theta, omega, total + theta * theta), None

    start = (theta0 * jnp.ones(()), omega0 * jnp.ones(()), 0.0 * g)
    (_, _, total), _ = jax.lax.scan(step, start, None, length=n)
    return total / n


@WORKLOAD.tool("jax jit (lax.scan rewrite)")
def jax_scan(args):
    import jax
    import jax.numpy as jnp

    gradient = jax.jit(jax.grad(pendulum_jax_scan, argnums=(0, 1, 2, 3)))
    primal = jax.jit(pendulum_jax_scan)
    values = [jnp.asarray(a) for a in args]
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(primal(*values)),
        note="rewritten: the RK4 step as the body of a lax.scan",
    )
