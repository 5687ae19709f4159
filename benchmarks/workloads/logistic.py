"""The scalar logistic map x_{k+1} = r x_k (1 - x_k), 1,000 steps; loss = mean of the trajectory."""

from harness import Impl, Workload

STEPS = 1000


def logistic(r, x0, n=STEPS):
    x = x0
    total = 0.0
    for _ in range(n):
        x = r * x * (1.0 - x)
        total += x
    return total / n


WORKLOAD = Workload(
    name="logistic",
    primal=logistic,
    args=(2.9, 0.3),
    argnums=(0, 1),
    description=f"{STEPS}-step scalar logistic map (r = 2.9, stable regime), gradient w.r.t. r and x0",
    target=3.0,
    steps=STEPS,
)


@WORKLOAD.tool("hand adjoint")
def hand_adjoint(args):
    def logistic_grad(r, x0, n=STEPS):
        xs = []  # the trajectory; the loss value itself is not needed for the gradient
        x = x0
        for _ in range(n):
            xs.append(x)
            x = r * x * (1.0 - x)
        total_bar = 1.0 / n
        x_bar = 0.0
        r_bar = 0.0
        for x in reversed(xs):
            x_bar += total_bar
            r_bar += x_bar * x * (1.0 - x)
            x_bar = x_bar * r * (1.0 - 2.0 * x)
        return r_bar, x_bar

    return Impl(grad=lambda: logistic_grad(*args))


@WORKLOAD.tool("autograd")
def autograd_impl(args):
    import autograd

    gradient = autograd.grad(logistic, argnum=(0, 1))  # plain arithmetic: autograd boxes it as is
    return Impl(grad=lambda: gradient(*args), primal=lambda: logistic(*args))


@WORKLOAD.tool("torch eager")
def torch_impl(args):
    import torch

    leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
    values = [torch.tensor(a, dtype=torch.float64) for a in args]

    def gradient():
        for leaf in leaves:
            leaf.grad = None
        logistic(*leaves).backward()
        return [leaf.grad for leaf in leaves]

    return Impl(grad=gradient, primal=lambda: logistic(*values))


@WORKLOAD.tool("jax eager")
def jax_eager(args):
    import jax

    import jax.numpy as jnp

    gradient = jax.grad(logistic, argnums=(0, 1))
    values = [jnp.asarray(a) for a in args]
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(logistic(*values)),
    )


@WORKLOAD.tool("jax jit")
def jax_jit(args):
    import jax

    gradient = jax.jit(jax.grad(logistic, argnums=(0, 1)))  # the Python loop unrolls into 1,000 steps
    primal = jax.jit(logistic)
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(primal(*args)),
        note="Python loop unrolled at trace time",
    )


@WORKLOAD.tool("jax jit (fori_loop)")
def jax_fori(args):
    import jax

    def logistic_fori(r, x0, n=STEPS):
        def step(_, carry):
            x, total = carry
            x = r * x * (1.0 - x)
            return x, total + x

        _, total = jax.lax.fori_loop(0, n, step, (x0, 0.0))
        return total / n

    gradient = jax.jit(jax.grad(logistic_fori, argnums=(0, 1)))
    primal = jax.jit(logistic_fori)
    return Impl(
        grad=lambda: jax.block_until_ready(gradient(*args)),
        primal=lambda: jax.block_until_ready(primal(*args)),
        note="rewritten with lax.fori_loop (static trip count: a scan)",
    )
