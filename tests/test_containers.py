"""Containers of active values and parameters as trees, in both modes, against finite differences.

Dict literals with constant keys, nested dicts / lists / tuples, arguments that are
dicts / lists / tuples of arrays (gradients come back in the same structure),
`has_aux` as in JAX, and a two-layer MLP whose weights live in a dict and whose
loss calls helper functions.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import trees
from s2sad.testing import check_grads, numerical_jvp

finite = st.floats(-2.0, 2.0, allow_nan=False)


def dict_literal(x, y):
    d = {"a": x, "b": x * y}
    e = {"inner": {"c": d["b"], "d": [y, x]}, "t": (x, 2.0)}
    return d["a"] * e["inner"]["c"] + math.sin(e["inner"]["d"][0]) * e["t"][0]


@given(finite, finite)
@settings(max_examples=20, deadline=None)
def test_dict_and_list_literals(x, y):
    check_grads(dict_literal, (x, y))


def test_constant_keys_are_resolved_at_compile_time():
    text = s2sad.source(dict_literal, argnums=(0, 1), args=(0.3, 0.4))
    code = [line for line in text.splitlines() if not line.strip().startswith("#")]
    assert not any("{" in line for line in code), text  # no dict is built in the derivative


def tree_loss(params, x):
    h = np.tanh(x @ params["W"] + params["b"])
    scale, shift = params["extra"]
    return np.sum(h * h) * scale + np.sum(shift[0] * shift[0]) * np.sum(x)


def _tree(rng):
    return {
        "W": rng.standard_normal((3, 2)),
        "b": rng.standard_normal(2),
        "extra": [float(rng.standard_normal()), (rng.standard_normal(2),)],
    }


@given(st.integers(0, 10_000))
@settings(max_examples=10, deadline=None)
def test_gradient_of_a_tree_has_the_tree_structure(seed):
    rng = np.random.default_rng(seed)
    params, x = _tree(rng), rng.standard_normal((4, 3))
    g = s2sad.grad(tree_loss)(params, x)
    assert trees.flatten(g)[1] == trees.flatten(params)[1]
    for leaf, gleaf in zip(trees.flatten(params)[0], trees.flatten(g)[0]):
        assert np.shape(leaf) == np.shape(gleaf)
    check_grads(tree_loss, (params, x))  # FD along random trees, jvp, vjp, dot-product test


def test_value_and_grad_vjp_and_jvp_on_trees():
    rng = np.random.default_rng(1)
    params, x = _tree(rng), rng.standard_normal((4, 3))
    value, g = s2sad.value_and_grad(tree_loss)(params, x)
    assert value == pytest.approx(tree_loss(params, x), rel=1e-13)
    out, pullback = s2sad.vjp(tree_loss, params, x)
    g2 = pullback(2.0)[0]
    np.testing.assert_allclose(g2["W"], 2 * g["W"], rtol=1e-12)
    direction = trees.unflatten(
        trees.flatten(params)[1],
        [np.ones_like(np.asarray(v)) if np.ndim(v) else 1.0 for v in trees.flatten(params)[0]],
    )
    _, dot = s2sad.jvp(tree_loss, (params, x), (direction, np.zeros_like(x)))
    expected = sum(float(np.sum(leaf)) for leaf in trees.flatten(g)[0])
    assert dot == pytest.approx(expected, rel=1e-10)


def test_a_new_tree_structure_compiles_again():
    g = s2sad.grad(first_leaf_squared)
    assert g({"a": 3.0, "b": 1.0}) == {"a": 6.0, "b": 0.0}
    assert g({"a": 2.0, "c": 5.0, "b": 1.0}) == {"a": 4.0, "c": 0.0, "b": 0.0}
    assert g({"a": 3.0, "b": 1.0}) == {"a": 6.0, "b": 0.0}


def first_leaf_squared(p):
    return p["a"] * p["a"]


def test_lists_and_tuples_as_arguments():
    args = ([0.7, (1.3, np.array([0.1, -0.2]))],)
    check_grads(list_tuple_loss, args)
    g = s2sad.grad(list_tuple_loss)(*args)
    assert isinstance(g, list) and isinstance(g[1], tuple)
    assert g[0] == pytest.approx(1.3) and g[1][0] == pytest.approx(0.7)


def list_tuple_loss(p):
    return p[0] * p[1][0] + np.sum(p[1][1] ** 2)


# -- a two-layer MLP with its weights in a dict -------------------------------------


def dense(W, b, x):
    return np.tanh(x @ W + b)


def softmax_cross_entropy(logits, labels):
    m = np.max(logits, axis=1, keepdims=True)
    z = logits - m
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.sum(logp * labels, axis=1))


def mlp_loss(params, x, labels):
    h = dense(params["W1"], params["b1"], x)
    logits = h @ params["W2"] + params["b2"]
    return softmax_cross_entropy(logits, labels)


@given(st.integers(0, 10_000))
@settings(max_examples=8, deadline=None)
def test_mlp_with_dict_parameters_and_helpers(seed):
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.standard_normal((5, 8)) * 0.5,
        "b1": rng.standard_normal(8) * 0.1,
        "W2": rng.standard_normal((8, 3)) * 0.5,
        "b2": rng.standard_normal(3) * 0.1,
    }
    x = rng.standard_normal((6, 5))
    labels = np.eye(3)[rng.integers(0, 3, 6)]
    check_grads(mlp_loss, (params, x, labels), wrt=[0])
    g = s2sad.grad(mlp_loss)(params, x, labels)
    # one coordinate of each weight against central differences
    for key in params:
        direction = {k: np.zeros_like(v) for k, v in params.items()}
        direction[key].flat[0] = 1.0
        fd = numerical_jvp(mlp_loss, (params, x, labels), (direction, 0 * x, 0 * labels), wrt=[0])
        assert g[key].flat[0] == pytest.approx(float(fd), rel=1e-6, abs=1e-8)


# -- has_aux ---------------------------------------------------------------------------


def loss_with_aux(x, y):
    loss = x * x * y
    if x > 0:
        return loss, {"sq": x * x, "sign": 1}
    return loss, {"sq": x * x, "sign": -1}


@given(finite, finite)
@settings(max_examples=15, deadline=None)
def test_has_aux_in_every_transform(x, y):
    g, aux = s2sad.grad(loss_with_aux, has_aux=True)(x, y)
    assert g == pytest.approx(2 * x * y, rel=1e-12, abs=1e-300)
    assert aux == loss_with_aux(x, y)[1]
    (value, aux2), g2 = s2sad.value_and_grad(loss_with_aux, argnums=(0, 1), has_aux=True)(x, y)
    assert value == pytest.approx(x * x * y) and aux2 == aux
    assert g2[1] == pytest.approx(x * x, rel=1e-12, abs=1e-300)
    value, pullback, aux3 = s2sad.vjp(loss_with_aux, x, y, has_aux=True)
    assert pullback(1.0)[0] == pytest.approx(g, rel=1e-12, abs=1e-300) and aux3 == aux
    value, dot, aux4 = s2sad.jvp(loss_with_aux, (x, y), (1.0, 0.0), has_aux=True)
    assert dot == pytest.approx(g, rel=1e-12, abs=1e-300) and aux4 == aux


def aux_array_overwritten(x):
    y = x
    for i in range(3):
        y = np.sin(y) * 2.0
    return np.sum(y), y


def test_has_aux_value_is_the_forward_value_not_a_restored_one():
    x = np.array([0.3, -0.4])
    g, aux = s2sad.grad(aux_array_overwritten, has_aux=True)(x)
    np.testing.assert_allclose(aux, aux_array_overwritten(x)[1], rtol=1e-15)
    check_grads(lambda_free_sum, (x,))


def lambda_free_sum(x):
    return aux_array_overwritten(x)[0]


def not_a_pair(x):
    return x * 2.0


def returns_a_pair(x):
    return x * 2.0, x


def test_has_aux_errors_are_clear():
    with pytest.raises(s2sad.UnsupportedSyntaxError, match=r"must return a pair") as info:
        s2sad.grad(not_a_pair, has_aux=True)(1.0)
    assert "test_containers.py" in str(info.value) and "return x * 2.0" in str(info.value)
    with pytest.raises(s2sad.NonScalarOutputError, match=r"has_aux=True"):
        s2sad.grad(returns_a_pair)(1.0)


def test_non_numeric_leaf_is_an_argument_error():
    with pytest.raises(s2sad.ArgumentError, match=r"leaf"):
        s2sad.grad(first_leaf_squared)({"a": 1.0, "name": "w"})


# -- sum over generators, list comprehensions and sequences ------------------------------


def sums(x, a, n):
    i = 100.0  # a comprehension variable does not leak into (or clobber) the function's `i`
    total = sum(x * a[i] ** 2 for i in range(n) if i % 2 == 0)
    total += sum([math.sin(x * v) for v in a])
    total += sum(a) + sum((x, 2.0 * x, a[0]), 1.0)
    total += sum(x * i * j for i in range(n) for j in range(i))
    total += sum(a * x for a in a) + np.sum(np.array([a * a for a in a]))  # first iterable: the outer `a`
    return total * i


@given(finite, st.integers(0, 4))
@settings(max_examples=15, deadline=None)
def test_sum_over_generators_comprehensions_and_sequences(x, n):
    a = np.array([0.3, -0.7, 1.1, 0.4])
    assert s2sad.jvp(sums, (x, a, n), (0.0, np.zeros(4), 0))[0] == pytest.approx(sums(x, a, n))
    check_grads(sums, (x, a, n))


def inserts(x):
    xs = []
    for i in range(3):
        xs.insert(0, x * i)
    return xs[1]


def sorts(x):
    xs = [x, 2.0 * x, -x]
    xs.sort()
    return xs[0]


def writes_a_dict(x, key):
    d = {"a": x, "b": 2.0 * x}
    d[key] = x * x
    return d["a"]


def test_list_methods_that_mutate_are_reported_not_ignored():
    for f, method in ((inserts, "insert"), (sorts, "sort")):
        with pytest.raises(s2sad.UnsupportedSyntaxError, match=rf"xs.{method}\(\.\.\.\)") as info:
            s2sad.grad(f)(1.0)
        assert "test_containers.py" in str(info.value) and "hint" in str(info.value)
        assert f"xs.{method}(" in str(info.value)  # the user's line
    with pytest.raises(s2sad.UnsupportedSyntaxError, match=r"writes into `d`") as info:
        s2sad.grad(writes_a_dict)(1.0, "a")
    assert "d[key] = x * x" in str(info.value)


def rnn_tree(p, xs):
    total = 0.0
    h = np.zeros(2)
    for x in xs:  # the tree's items read inside a loop
        h = np.tanh(p["W"] @ x + p["U"] @ h + p["b"])
        total = total + np.sum(h**2)
    return total


def settings_read_in_a_loop(w, xs):
    scale = w * 2.0
    cfg = {"scale": scale, "shift": 0.1}
    total = 0.0
    for x in xs:
        total = total + np.tanh(cfg["scale"] * x + cfg["shift"])
        scale = scale + 1.0  # the dict keeps the value it was built with
    return total + scale


def test_tree_items_read_inside_loops():
    # reverse mode once treated `p["W"]` inside a loop as an array index: an IndexError from NumPy
    rng = np.random.default_rng(5)
    p = {"W": rng.normal(size=(2, 2)) * 0.5, "U": rng.normal(size=(2, 2)) * 0.5, "b": rng.normal(size=2)}
    xs = rng.normal(size=(4, 2))
    grads = s2sad.grad(rnn_tree)(p, xs)
    h = 1e-6
    for key in p:
        e = np.zeros_like(p[key]).ravel()
        e[1] = h
        up = dict(p, **{key: p[key] + e.reshape(p[key].shape)})
        down = dict(p, **{key: p[key] - e.reshape(p[key].shape)})
        fd = (rnn_tree(up, xs) - rnn_tree(down, xs)) / (2 * h)
        assert grads[key].ravel()[1] == pytest.approx(fd, rel=1e-6)
    check_grads(settings_read_in_a_loop, (0.3, np.array([0.5, -0.2, 0.9])), wrt=[0])


def guarded_energies(w, xs):
    hs = [np.tanh(w * x) for x in xs]
    energies = list(np.sum(h * h) for h in hs)
    if all(e >= 0.0 for e in energies) and not any(e > 100.0 for e in energies):
        return energies[0] + energies[2] * energies[1]
    return 0.0


def best_energy(w, xs):
    return max(np.sum(np.tanh(w * x)) for x in xs)


def test_generators_given_to_builtins():
    xs = [np.array([1.0, 2.0]), np.array([-0.5, 0.3]), np.array([0.7, 0.1])]
    check_grads(guarded_energies, (np.array([0.2, -0.5]), xs), wrt=[0])
    check_grads(best_energy, (np.array([0.2, -0.5]), xs), wrt=[0])


def extremes(x, k):
    vals = [x[0] * 2.0, x[1] - 1.0, np.sin(x[2])]
    spread = max(x) - min(x)  # of an array's items
    middle = min(max(vals), k)  # `max(a, b)` of two values still
    return max(vals) * min(vals[1:]) + spread * middle + max(v * v for v in x) + min(range(3)) * x[0]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.permutations([-1.3, -0.4, 0.6, 1.5]), st.floats(-0.5, 0.5), st.floats(-1.0, 3.0))
def test_max_and_min_of_one_sequence_follow_the_item_they_pick(values, jitter, k):
    # Python's max(xs) is the first largest item: its derivative is that item's (items kept apart,
    # so that finite differences do not cross a kink)
    x = np.array(values) + 0.01 * jitter
    vals = [x[0] * 2.0, x[1] - 1.0, np.sin(x[2])]
    assume(abs(k - max(vals)) > 0.01)
    check_grads(extremes, (x, k), wrt=[0])


def test_max_with_a_key_is_refused_with_a_loop_to_write_instead():
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="`max` with `key=`") as info:
        s2sad.grad(lambda_free_key)(np.array([0.3, -0.7]))
    assert "for v in xs[1:]" in str(info.value)


def lambda_free_key(x):
    return max(x, key=abs)
