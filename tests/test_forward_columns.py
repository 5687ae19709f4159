"""Demanded columns in vector forward mode (s2sad/transforms/forward_columns.py): a value read only
at some columns has its tangent carried at those columns alone. Each program is checked against
central differences and jacrev, and where the shapes do not fit (a gather not on the last axis, a
product by a vector) jacfwd falls back to the whole tangents."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import config
from s2sad.testing import numerical_jvp

ANALYSES_ON = pytest.mark.skipif(
    not config.enabled(), reason="demanded columns are an analysis: off with them"
)


def skinned(theta, rest, weights, idx):
    """Bones posed by angles, blended over many vertices; a few vertices read."""
    positions = np.zeros((2, rest.shape[1]))
    for i in range(len(theta)):
        c, s = np.cos(theta[i]), np.sin(theta[i])
        R = np.array([[c, -s], [s, c]])
        positions = positions + (R @ rest) * weights[i]
    moved = np.tanh(positions) * 2.0 + positions[:1]
    return moved[:, idx].ravel()


def two_gathers(x, A, first, second):
    """Two gathers of one value, by indices computed from an argument."""
    v = np.exp(A @ (x[:, None] * np.ones(5))) / 3.0
    near, far = first[::2], second + 1
    return np.concatenate([v[:, near].ravel(), v[:, far].ravel() ** 2])


def middle_axis(x, B, idx):
    """`v[:, idx]` on a three-axis value: the gather is not on the last axis."""
    v = np.sin(x[:, None, None] * B)
    return v[:, idx].ravel()


def by_vector(x, M, w, idx):
    """`M @ u` with `u` a vector: the product's last axis is not `u`'s."""
    u = np.sin(x * w)
    v = M @ u
    return v[idx]


def returned_too(x, A, idx):
    """The value is returned whole as well: its tangent is needed at every column."""
    v = np.cos(A * x[:, None])
    return v[:, idx].sum() + v.sum()


def index_in_loop(x, A, idx):
    """The index changes in a loop: it cannot be computed first."""
    v = np.sin(A * x[:, None])
    out = 0.0
    for k in range(2):
        j = idx + k
        out = out + np.sum(v[:, j] ** 2)
    return out


def index_reassigned(x, A, idx):
    """The index argument is given a new value before the gather."""
    v = np.sin(A * x[:, None])
    idx = idx + 1
    return v[:, idx].ravel()


def _cases(rng):
    n = 40
    rest, weights = rng.normal(size=(2, n)), rng.uniform(size=(3, n))
    return [
        (skinned, (rng.normal(size=3), rest, weights, np.array([5, 0, 39, 5]))),
        (
            two_gathers,
            (rng.normal(size=3), rng.normal(size=(4, 3)) * 0.3, np.array([0, 3, 1, 4]), np.array([1, 3])),
        ),
        (middle_axis, (rng.normal(size=3), rng.normal(size=(5, 4)), np.array([4, 1]))),
        (by_vector, (rng.normal(size=6), rng.normal(size=(4, 6)), rng.normal(size=6), np.array([3, 0, 3]))),
        (returned_too, (rng.normal(size=3), rng.normal(size=(3, 6)), np.array([1, 5]))),
        (index_in_loop, (rng.normal(size=3), rng.normal(size=(3, 6)), np.array([0, 4]))),
        (index_reassigned, (rng.normal(size=3), rng.normal(size=(3, 6)), np.array([0, 4, 2]))),
    ]


def _finite_differences(f, args):
    x = args[0]
    columns = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = 1.0
        columns.append(np.ravel(numerical_jvp(f, args, [e] + [None] * (len(args) - 1), wrt=[0])))
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("index", range(7))
def test_jacfwd_matches_finite_differences_and_jacrev(seed, index):
    f, args = _cases(np.random.default_rng(seed))[index]
    forward = np.reshape(s2sad.jacfwd(f)(*args), (-1, args[0].size))
    reverse = np.reshape(s2sad.jacrev(f)(*args), (-1, args[0].size))
    np.testing.assert_allclose(forward, _finite_differences(f, args), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-12)
    with s2sad.config.analyses(False):  # no demanded columns: the same Jacobian
        np.testing.assert_allclose(forward, np.reshape(s2sad.jacfwd(f)(*args), forward.shape), rtol=1e-12)


@ANALYSES_ON
@pytest.mark.parametrize(
    "f, restricted",
    [
        (skinned, True),
        (two_gathers, True),
        (returned_too, False),
        (index_in_loop, False),
        (index_reassigned, False),
    ],
)
def test_which_programs_carry_demanded_columns(f, restricted):
    args = dict(_cases(np.random.default_rng(0)))[f]
    text = s2sad.source(f, mode="jacfwd", args=args)
    assert ("_rt.column_union" in text) == restricted
    if restricted:  # the primal is untouched: the gathers read the whole value
        assert "_rt.gathered_columns" in text


@ANALYSES_ON
def test_the_indices_are_computed_first():
    args = dict(_cases(np.random.default_rng(0)))[two_gathers]
    text = s2sad.source(two_gathers, mode="jacfwd", args=args)
    body = text[text.index("def two_gathers_jvp_vector") :]
    assert (
        body.index("far = second + 1")
        < body.index("cols = _rt.column_union(near, far)")
        < body.index("np.exp")
    )


@pytest.mark.parametrize("f", [middle_axis, by_vector])
def test_shapes_that_do_not_fit_run_without_demanded_columns(f):
    args = dict(_cases(np.random.default_rng(1)))[f]
    if config.enabled():  # tried, then refused at run time
        assert "_rt.column_union" in s2sad.source(f, mode="jacfwd", args=args)
    jacobian = s2sad.jacfwd(f)
    expected = _finite_differences(f, args)
    for _ in range(2):  # the second call goes to the whole tangents at once
        np.testing.assert_allclose(
            np.reshape(jacobian(*args), (-1, args[0].size)), expected, rtol=1e-6, atol=1e-7
        )


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 9),
    st.lists(st.integers(-9, 8), min_size=1, max_size=6),
    st.integers(0, 2**16),
)
def test_any_columns_and_repeats(bones, width, picks, seed):
    """Any index (repeats, negative entries, in range of the last axis) of any width: the Jacobian
    with demanded columns is the one without, and the dot-product test against vjp holds."""
    rng = np.random.default_rng(seed)
    idx = np.array([p % width for p in picks])
    args = (rng.normal(size=bones), rng.normal(size=(2, width)), rng.uniform(size=(bones, width)), idx)
    J = np.reshape(s2sad.jacfwd(skinned)(*args), (-1, bones))
    with s2sad.config.analyses(False):
        np.testing.assert_allclose(
            J, np.reshape(s2sad.jacfwd(skinned)(*args), J.shape), rtol=1e-12, atol=1e-14
        )
    u, v = rng.normal(size=J.shape[0]), rng.normal(size=bones)
    _, pullback = s2sad.vjp(lambda x: skinned(x, *args[1:]), args[0])
    np.testing.assert_allclose(u @ (J @ v), pullback(u)[0] @ v, rtol=1e-9, atol=1e-12)
