"""Code specialized to the shapes of array arguments (s2sad/analyses/shapes.py, s2sad.api.transforms' dispatch)."""

import numpy as np
import pytest

import s2sad
from s2sad import config
from s2sad.testing import check_grads


def broadcasting(x, y, b, s):
    z = np.tanh(x * y + b) * s
    w = z[:, 1:3] * 2.0 + z[:, :2] * np.sum(b)
    return np.sum(w**2) + np.sum(z * x)


def rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h**2)


def gates(W, b, xs):
    H = b.shape[0] // 2
    h = np.zeros(H)
    for x in xs:
        z = W @ np.concatenate([x, h]) + b
        i = 1.0 / (1.0 + np.exp(-z[:H]))
        h = i * np.tanh(z[H:]) + 0.5 * h
    return np.sum(h**2)


def _generic_grad(f, args, argnums):
    with config.analyses(False):
        return s2sad.grad(f, argnums=argnums)(*args)


def _close(a, b):
    for u, v in zip(a, b):
        assert np.shape(u) == np.shape(v)
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)


SHAPES = [
    ((3, 1), (1, 4), (4,)),
    ((3, 4), (3, 4), (4,)),
    ((3, 4), (4,), (1, 4)),
    ((1, 4), (3, 1), (1,)),
    ((3, 4), (), (4,)),
]


@pytest.mark.parametrize("shapes", SHAPES)
def test_broadcasting_matches_generic_code(shapes):
    rng = np.random.default_rng(1)
    args = tuple(rng.standard_normal(s) if s else 0.7 for s in shapes) + (1.3,)
    argnums = (0, 1, 2, 3)
    _close(s2sad.grad(broadcasting, argnums=argnums)(*args), _generic_grad(broadcasting, args, argnums))
    check_grads(broadcasting, args)


def test_one_gradient_function_many_shapes():
    """The first shapes get specialized code, later ones a generic version; each is right."""
    gradient = s2sad.grad(broadcasting, argnums=(0, 1, 2))
    rng = np.random.default_rng(2)
    for shapes in SHAPES + SHAPES[::-1] + [((2, 5), (2, 1), (5,)), ((6, 4), (1, 4), (1,))]:
        args = tuple(rng.standard_normal(s) if s else 0.7 for s in shapes) + (1.3,)
        _close(gradient(*args), _generic_grad(broadcasting, args, (0, 1, 2)))


def test_rnn_adjoint_needs_no_broadcasting_helpers():
    rng = np.random.default_rng(3)
    args = (
        rng.standard_normal((5, 3)),
        rng.standard_normal((5, 5)) * 0.3,
        rng.standard_normal(5),
        rng.standard_normal((4, 3)),
    )
    text = s2sad.source(rnn, mode="grad", argnums=(0, 1, 2), args=args)
    if config.enabled():
        assert "Wx: array (5, 3)" in text
        assert "unbroadcast" not in text
        assert "Wh_T @ " in text and "Wh_T = Wh.T" in text  # (the transpose taken once: transposes.py)
    _close(s2sad.grad(rnn, argnums=(0, 1, 2))(*args), _generic_grad(rnn, args, (0, 1, 2)))
    check_grads(rnn, args, wrt=[0, 1, 2])
    other = (args[0], args[1], args[2][:1], args[3])  # b of one entry broadcasts
    _close(s2sad.grad(rnn, argnums=(0, 1, 2))(*other), _generic_grad(rnn, other, (0, 1, 2)))


def test_emitted_code_is_for_any_shapes(tmp_path):
    rng = np.random.default_rng(4)
    args = (
        rng.standard_normal((5, 3)),
        rng.standard_normal((5, 5)),
        rng.standard_normal(5),
        rng.standard_normal((4, 3)),
    )
    path = s2sad.emit(rnn, tmp_path / "rnn_vjp.py", argnums=(0, 1, 2), args=args)
    assert "array (5, 3)" not in path.read_text()


def test_slices_and_concatenation():
    rng = np.random.default_rng(5)
    args = (rng.standard_normal((6, 5)) * 0.5, rng.standard_normal(6), rng.standard_normal((4, 2)))
    _close(s2sad.grad(gates, argnums=(0, 1))(*args), _generic_grad(gates, args, (0, 1)))
    check_grads(gates, args, wrt=[0, 1])
    odd = (rng.standard_normal((7, 5)) * 0.5, rng.standard_normal(7), rng.standard_normal((4, 2)))
    with pytest.raises(ValueError):  # z[H:] has 4 entries, z[:H] 3: the primal fails too
        s2sad.grad(gates, argnums=(0, 1))(*odd)


def joined(a, b, c):
    side = np.concatenate([a, np.tanh(b), np.ones((2, 1))], axis=-1)
    rows = np.concatenate((c, a[:1] * 2.0))
    parts = [a, b]
    a = a * 3.0  # the literal's items are not rebound between it and the call: the item's old value
    stacked = np.concatenate(parts, axis=1)
    return np.sum(side**2 * 0.5) + np.sum(np.sin(rows)) + np.sum(stacked * a[:, :1])


def test_concatenation_adjoint_is_slices():
    """With known shapes each item's adjoint is its slice of the result's adjoint."""
    rng = np.random.default_rng(6)
    args = (rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), rng.standard_normal((4, 3)))
    text = s2sad.source(joined, mode="grad", argnums=(0, 1, 2), args=args)
    if config.enabled():
        assert text.count("concatenate_adjoint") == 1, text  # only `parts`, read after `a` changes
    _close(s2sad.grad(joined, argnums=(0, 1, 2))(*args), _generic_grad(joined, args, (0, 1, 2)))
    check_grads(joined, args)


def test_shape_dispatch_compiles_the_first_shape_and_shapes_that_come_back():
    """`_shape_dispatch`'s policy: the first shape compiles code of its own; a new shape after it runs
    the generic version (compiled once) and compiles its own when it comes back, up to the limit."""
    from s2sad import kinds as K
    from s2sad.api.transforms import SPECIALIZED_SHAPES, _shape_dispatch

    built = []

    def build(shapes):
        built.append(shapes)
        return lambda x: (shapes, x.shape)

    function = _shape_dispatch(build, (K.ARRAY,))
    assert function(np.zeros(2)) == (((2,),), (2,))  # the first shape: its own code
    for n in range(3, 8):  # met once each: the generic version
        assert function(np.zeros(n)) == (None, (n,))
    assert built == [((2,),), None]
    assert function(np.zeros(3)) == (((3,),), (3,))  # met again: its own code now
    for n in range(4, 20):
        function(np.zeros(n))
        function(np.zeros(n))
    specialized = [b for b in built if b is not None]
    assert len(specialized) == SPECIALIZED_SHAPES and built.count(None) == 1
    assert function(np.zeros(19)) == (None, (19,))  # past the limit: generic
