"""Shapes of the elements of lists that change (s2sad/analyses/shapes.py, `_list_elements`):
a list filled by a literal, `append` and item writes keeps the shape of `xs[i]` known when every
element written has one shape, so the adjoints of elementwise operations on its items need no
`_rt.unbroadcast` (and the backward loop no recorded operand for it).

Shown on generated code; gradients checked against central finite differences in both modes and
by the dot-product test, and against the generic (shape-free) derivative.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import config
from s2sad.testing import check_grads


def layers(W, state, xs):  # GradBench's lstm: per-layer state in lists, written item by item
    hidden = [state[k] for k in range(W.shape[0])]
    total = 0.0
    for x in xs:
        for k in range(W.shape[0]):
            hidden[k] = np.tanh(hidden[k] * W[k] + x)
            x = hidden[k]
        total = total + np.sum(x**2)
    return total


def appended(w, xs):  # a list grown by append, read back by index
    states = [np.ones(xs.shape[1])]
    for x in xs:
        states.append(np.sin(states[-1] * w + x))
    return np.sum(states[len(states) - 1] * states[1])


def mixed(w, xs):  # elements of two shapes: `h[0] * w` broadcasts, its adjoint must sum
    h = [np.ones(1), np.ones(xs.shape[1])]
    total = 0.0
    for x in xs:
        h[1] = np.tanh(h[0] * w + x)
        total = total + np.sum(h[1] * h[0])
    return total


PROGRAMS = {
    layers: [(2, 3), (2, 3), (5, 3)],
    appended: [(3,), (4, 3)],
    mixed: [(3,), (4, 3)],
}


def _args(seed, shapes):
    rng = np.random.default_rng(seed)
    return tuple(0.5 * rng.standard_normal(shape) for shape in shapes)


def _code(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


@pytest.mark.generated_code
@pytest.mark.parametrize("program", [layers, appended])
def test_items_of_one_shape_need_no_broadcasting(program):
    args = _args(0, PROGRAMS[program])
    text = _code(s2sad.source(program, mode="reverse", argnums=(0, 1), args=args))
    assert "unbroadcast" not in text, text
    with config.analyses(False):
        generic = _code(s2sad.source(program, mode="reverse", argnums=(0, 1), args=args))
    assert "unbroadcast" in generic


@pytest.mark.generated_code
def test_items_of_several_shapes_keep_the_helper():
    args = _args(0, PROGRAMS[mixed])
    text = _code(s2sad.source(mixed, mode="reverse", argnums=(0, 1), args=args))
    assert "unbroadcast" in text, text


@pytest.mark.parametrize("program", list(PROGRAMS))
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradients_against_finite_differences(program, seed):
    check_grads(program, _args(seed, PROGRAMS[program]), wrt=[0, 1])


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_gradients_equal_the_generic_ones(program):
    args = _args(7, PROGRAMS[program])
    specialized = s2sad.grad(program, argnums=(0, 1))(*args)
    with config.analyses(False):
        generic = s2sad.grad(program, argnums=(0, 1))(*args)
    for a, b in zip(specialized, generic):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
