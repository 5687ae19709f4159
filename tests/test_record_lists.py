"""Lists of records (named tuples, dataclass-like dicts) walked by a loop: `for layer in layers:
layer.W @ x`. Reverse mode reads a field of a record that is not a flattened argument but an item
of a list at run time; its cotangent is the record's, the field's slot filled in."""

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads

Layer = namedtuple("Layer", "W b")


def network(layers, x):
    for layer in layers:
        x = np.tanh(layer.W @ x + layer.b)
    return np.sum(x**2)


def network_dicts(layers, x):
    for layer in layers:
        x = np.tanh(layer["W"] @ x + layer["b"])
    return np.sum(x**2)


def scaled(layers, x, k):
    total = 0.0
    for i in range(len(layers)):
        layer = layers[i]
        total = total + k * np.sum(layer.W * x) + layer.b[0] ** 2
    return total


def _layers(seed, n=3, sizes=(3, 4, 2)):
    rng = np.random.default_rng(seed)
    return [
        Layer(rng.normal(size=(sizes[i + 1], sizes[i])) * 0.5, rng.normal(size=sizes[i + 1]))
        for i in range(len(sizes) - 1)
    ]


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_named_tuple_layers_match_finite_differences(seed):
    layers = _layers(seed)
    x = np.random.default_rng(seed + 1).normal(size=3)
    check_grads(network, (layers, x))


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000))
def test_dict_layers_match_finite_differences(seed):
    layers = [dict(l._asdict()) for l in _layers(seed)]
    x = np.random.default_rng(seed + 1).normal(size=3)
    check_grads(network_dicts, (layers, x))


def test_gradient_has_the_records_structure_and_values():
    layers = _layers(3)
    x = np.array([0.3, -0.2, 0.5])
    g = s2sad.grad(network)(layers, x)
    assert isinstance(g, list) and all(isinstance(r, Layer) for r in g)
    eps = 1e-6
    for i, layer in enumerate(layers):
        for field in ("W", "b"):
            value = getattr(layer, field)
            numeric = np.zeros_like(value)
            for j in np.ndindex(value.shape):
                up, down = value.copy(), value.copy()
                up[j] += eps
                down[j] -= eps
                plus = [l._replace(**{field: up}) if k == i else l for k, l in enumerate(layers)]
                minus = [l._replace(**{field: down}) if k == i else l for k, l in enumerate(layers)]
                numeric[j] = (network(plus, x) - network(minus, x)) / (2 * eps)
            np.testing.assert_allclose(getattr(g[i], field), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
def test_indexed_records_and_a_float_argument(seed):
    layers = _layers(seed, sizes=(3, 3, 3, 3))
    x = np.random.default_rng(seed).normal(size=(3, 3))
    check_grads(scaled, (layers, x, 0.7))
