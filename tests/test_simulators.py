"""Simulators users differentiate: Langevin dynamics and an RK4 pendulum with a helper."""

import math

import numpy as np
import pytest

import s2sad
from s2sad.testing import check_grads

NOISE = np.random.default_rng(42).standard_normal(2000)


def langevin(a, b, kT, x0=0.3, T=1.0, dt=1e-3, wall=1.8):
    """Overdamped Langevin dynamics in V(x) = a (x^2 - 1)^2 - b x with reflecting walls."""
    x = x0
    t = 0.0
    i = 0
    total = 0.0
    while t < T:
        force = -4.0 * a * x * (x * x - 1.0) + b
        x = x + force * dt + math.sqrt(2.0 * kT * dt) * NOISE[i]
        if x > wall:
            x = 2.0 * wall - x
        elif x < -wall:
            x = -2.0 * wall - x
        total += x * x
        t += dt
        i += 1
    return total / i


def pendulum_rhs(theta, omega, g, length=1.0, damping=0.1):
    return omega, -g / length * math.sin(theta) - damping * omega


def rk4_pendulum(theta0, g, damping, steps=200, dt=0.01):
    theta, omega = theta0, 0.0
    for _ in range(steps):
        k1t, k1w = pendulum_rhs(theta, omega, g, damping=damping)
        k2t, k2w = pendulum_rhs(theta + 0.5 * dt * k1t, omega + 0.5 * dt * k1w, g, damping=damping)
        k3t, k3w = pendulum_rhs(theta + 0.5 * dt * k2t, omega + 0.5 * dt * k2w, g, damping=damping)
        k4t, k4w = pendulum_rhs(theta + dt * k3t, omega + dt * k3w, g, damping=damping)
        theta = theta + dt / 6.0 * (k1t + 2.0 * k2t + 2.0 * k3t + k4t)
        omega = omega + dt / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w)
    return theta * theta + 0.1 * omega


def _fd(fn, args, index, h=1e-6):
    plus = list(args)
    minus = list(args)
    plus[index] += h
    minus[index] -= h
    return (fn(*plus) - fn(*minus)) / (2 * h)


@pytest.mark.parametrize("params", [(1.0, 0.2, 0.5), (2.0, -0.5, 0.1), (0.5, 1.0, 1.5)])
def test_langevin_gradient_wrt_physical_parameters(params):
    grads = s2sad.grad(langevin, argnums=(0, 1, 2))(*params)
    for index, g in enumerate(grads):
        fd = _fd(langevin, params, index)
        assert abs(g - fd) <= 1e-6 * max(1.0, abs(fd)), (index, g, fd)
    check_grads(langevin, params, rtol=1e-5)


@pytest.mark.parametrize("params", [(0.5, 9.81, 0.1), (1.2, 3.0, 0.5)])
def test_rk4_pendulum_gradient_wrt_physical_parameters(params):
    grads = s2sad.grad(rk4_pendulum, argnums=(0, 1, 2))(*params)
    for index, g in enumerate(grads):
        fd = _fd(rk4_pendulum, params, index)
        assert abs(g - fd) <= 1e-6 * max(1.0, abs(fd)), (index, g, fd)
    check_grads(rk4_pendulum, params, rtol=1e-5)
