"""Records built inside differentiated code: `Params(k, c)` of a NamedTuple or a dataclass is a dict
of its fields there (`p.k` read by key), like a record given as an argument; with the local-dict
pass, each field becomes a variable. Checked in both modes against finite differences."""

import dataclasses
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads


class Spring(NamedTuple):
    k: float
    c: float = 0.1
    rest: float = 0.0


@dataclasses.dataclass
class Body:
    pos: np.ndarray
    vel: np.ndarray
    mass: float = 2.0


OFFSET = np.array([0.5, -0.25])


class Shifted(NamedTuple):
    x: np.ndarray
    offset: np.ndarray = OFFSET


def _energy(spring, x0):
    x, v = x0, 0.0
    for _ in range(40):
        a = -spring.k * (x - spring.rest) - spring.c * v
        v += 0.05 * a
        x += 0.05 * v
    return x**2 + v**2


def spring_energy(k, c):
    return _energy(Spring(k, c=c), 1.0)


def spring_defaults(k):
    return _energy(Spring(k), 0.5) + _energy(Spring(k=2.0 * k, rest=0.3), 1.0)


def _advance(body, force, dt):
    return Body(body.pos + dt * body.vel, body.vel + dt * force / body.mass, body.mass)


def bodies(x, v):
    body = Body(x, v)
    for i in range(10):
        body = _advance(body, -body.pos * (1.0 + 0.1 * i), 0.1)
    return np.sum(body.pos**2) + 0.5 * body.mass * np.sum(body.vel**2)


def shifted(x):
    s = Shifted(x)
    return np.sum((s.x - s.offset) ** 2 * s.x)


@settings(max_examples=10, deadline=None)
@given(st.floats(0.5, 4.0), st.floats(0.0, 0.8))
def test_named_tuple_built_in_the_function(k, c):
    check_grads(spring_energy, (k, c), rtol=1e-5)


@settings(max_examples=6, deadline=None)
@given(st.floats(0.5, 4.0))
def test_named_tuple_defaults_and_keywords(k):
    check_grads(spring_defaults, (k,), rtol=1e-5)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 1000))
def test_dataclass_rebuilt_by_a_helper(seed):
    rng = np.random.default_rng(seed)
    check_grads(bodies, (rng.normal(size=3), rng.normal(size=3)), rtol=1e-5)


def test_named_tuple_with_an_array_default():
    check_grads(shifted, (np.array([0.3, -1.1]),))


def test_the_record_becomes_variables():
    text = s2sad.source(spring_energy, args=(1.0, 0.2))
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("{" in line or "Spring" in line for line in code)
    assert "out_bar" in text  # the output is the helper's: the seed is not named after its temporary
