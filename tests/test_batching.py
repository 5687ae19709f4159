"""Tangents for many directions at once derived from the plain ones (s2sad/rules/batching.py): every rule
whose vector-mode tangent is derived is checked by jacfwd against jacrev and central differences."""

import ast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import runtime as _rt
from s2sad.rules import RULES, Template, lookup, tangent
from s2sad.rules.batching import batched

# -- one probe per rule: a function whose jacfwd runs the rule's derived tangent ----------------------


def item(x):
    return (x[1:2] * 2.0).item() * x


def getitem(x):
    return x[1:4] * 2.0 + x[0] + x[np.array([0, 0, 3])]


def to_list(m):
    xs = list(m * 1.0)
    return xs[0] * xs[1]


def to_tuple(m):
    t = tuple(m)
    return t[0] + 2.0 * t[1]


def attribute_t(m):
    return np.sin(m).T * 2.0


def matmul(m, x):
    return m @ x + x @ m + (m @ m)[0] + np.matmul(x, x) * x + np.matmul(m, m)[1]


def dot(m, x):
    return np.dot(m, x) + np.dot(x, m) + np.dot(x, x) * x + m.dot(x) + np.dot(2.0, x)


def outer(x, y):
    return np.outer(x, y) + np.outer(y, x).T


def einsum(m, x):
    return np.einsum("ij,j->i", m, x) + np.einsum("ii->i", m)


def trace(m, t):
    return np.trace(m) * np.trace(t, axis1=1, axis2=2) + np.trace(m, 1) + m.trace()


def sums(m):
    return np.sum(m, axis=0) + np.sum(m, axis=-1) + np.sum(m) + m.sum(1) + np.sum(m, 0, keepdims=True)[0]


def means(m):
    return np.mean(m, axis=1) + np.mean(m) + m.mean(axis=0)


def products(m):
    return np.prod(m, axis=0) + np.prod(m) + m.prod(1)


def extrema(m):
    return np.max(m, axis=0) + np.min(m, axis=1) + np.amax(m) + m.max(0) + np.amin(m, 0) + m.min()


def variances(m):
    return np.var(m, axis=0) + np.var(m) + m.var(1, ddof=1)


def deviations(m):
    return np.std(m, axis=0) + np.std(m) + m.std(1)


def cumsums(m):
    return np.cumsum(m, axis=1)[0] + np.cumsum(m)[:3] + m.cumsum(0)[1] + m.cumsum()[3:6]


def norms(m):
    return np.linalg.norm(m, axis=0) + np.linalg.norm(m) + np.linalg.norm(m, ord=1, axis=1)


def reshapes(m):
    return (
        np.reshape(m, (-1,)) * 2.0
        + m.reshape(6)
        + np.reshape(m, (2, 3), order="F").ravel()
        + m.reshape(3, 2).T.ravel()
    )


def ravels(m):
    return np.ravel(m) + m.ravel() + m.flatten() + np.ravel(m, order="F")


def transposes(t):
    return np.transpose(t) + np.transpose(t, (2, 1, 0)) + t.transpose(2, 1, 0) + t.transpose()


def swaps(t):
    return (
        np.swapaxes(t, 0, 2)
        + t.swapaxes(-1, 0)
        + np.moveaxis(t, [0, 2], [2, 0])
        + np.moveaxis(t, -1, 0).transpose(0, 2, 1)
    )


def squeezes(m):
    return (
        np.squeeze(np.expand_dims(m, 1))
        + np.expand_dims(m, 0)[0]
        + m[None].squeeze(0)
        + np.squeeze(m[:, :1])[0]
    )


def concatenates(x, y):
    return np.concatenate([x, y]) * np.concatenate([x * y[0], y], axis=0) + np.concatenate([x, y], axis=None)


def stacks(x, y):
    return np.stack([x, y]) + np.stack([x, y], axis=1).T + np.stack([x, y], axis=-1).T


def splits(x):
    a, b = np.split(x, 2)
    c, d = np.split(np.reshape(x, (2, 2)), 2, axis=1)
    return a * b + c[:, 0] * d[:, 0]


def broadcasts(x):
    return np.broadcast_to(x, (3, 4)) * 2.0 + np.broadcast_to(x[0], (3, 4))


def flips(m):
    return np.flip(m) + np.flip(m, 0) + np.flip(m, axis=1) + np.flip(m, (0, 1))


def inverse(m):
    return np.linalg.inv(m) * 2.0 + np.linalg.inv(m @ m)


def determinant(m):
    return np.linalg.det(m) * m + np.linalg.det(np.stack([m, m.T @ m]))[1]


def arrays(x, y):
    return np.array([x[0], y[1]]) * np.asarray([x, y])[0][:2] + np.array([[x[2], y[0]], [y[3], x[1]]])[1]


def copies(x):
    return np.copy(x) * x.copy()


def astype(x):
    return x.astype(np.float64) * 2.0 + x.astype(float)


def fills(x):
    return np.full(4, x[0]) * np.full_like(x, x[1]) + np.full((2, 4), x[2])[1]


# run-time helpers that derivative code calls (their rules serve higher orders)
def helper_astype_tangent(x):
    return _rt.astype_tangent(x * x, np.float64)


def helper_full_tangent(x):
    return _rt.full_tangent(np.ones((2, 3)), x[0] * x[1])


def helper_split_tangent(x):
    a, b = _rt.split_tangent(np.reshape(x, (2, 2)), 2, 1)
    return a[:, 0] * b[:, 0]


def helper_lists(x):
    return _rt.list_add([x, x * 2.0], [x[0] * x, x], None)[1] * _rt.list_like([x * x, x], [x, x])[0]


rng = np.random.default_rng(0)
X4 = np.array([0.7, 1.3, 0.4, 2.1])
M3 = rng.standard_normal((3, 3)) + 3.0 * np.eye(3)
P3 = np.abs(rng.standard_normal((3, 3))) + 0.5  # positive, entries apart: max/min/prod/std are smooth
M23 = rng.standard_normal((2, 3))
T234 = rng.standard_normal((2, 3, 4))
T322 = rng.standard_normal((3, 2, 2))

# rule name -> (probe, arguments)
PROBES = {
    "numpy.ndarray.item": (item, (X4,)),
    "operator.getitem": (getitem, (X4,)),
    "list": (to_list, (M23,)),
    "tuple": (to_tuple, (M23,)),
    "('attribute', 'T')": (attribute_t, (M23,)),
    "operator.matmul": (matmul, (M3, X4[:3])),
    "numpy.matmul": (matmul, (M3, X4[:3])),
    "numpy.dot": (dot, (M3, X4[:3])),
    "numpy.ndarray.dot": (dot, (M3, X4[:3])),
    "numpy.outer": (outer, (X4, X4[:3])),
    "numpy.einsum": (einsum, (M3, X4[:3])),
    "numpy.trace": (trace, (M3, T322)),
    "numpy.ndarray.trace": (trace, (M3, T322)),
    "numpy.sum": (sums, (M3,)),
    "numpy.ndarray.sum": (sums, (M3,)),
    "numpy.mean": (means, (M3,)),
    "numpy.ndarray.mean": (means, (M3,)),
    "numpy.prod": (products, (P3,)),
    "numpy.ndarray.prod": (products, (P3,)),
    "numpy.max": (extrema, (P3,)),
    "numpy.amax": (extrema, (P3,)),
    "numpy.ndarray.max": (extrema, (P3,)),
    "numpy.min": (extrema, (P3,)),
    "numpy.amin": (extrema, (P3,)),
    "numpy.ndarray.min": (extrema, (P3,)),
    "numpy.var": (variances, (M3,)),
    "numpy.ndarray.var": (variances, (M3,)),
    "numpy.std": (deviations, (M3,)),
    "numpy.ndarray.std": (deviations, (M3,)),
    "numpy.cumsum": (cumsums, (M23,)),
    "numpy.ndarray.cumsum": (cumsums, (M23,)),
    "numpy.linalg.norm": (norms, (P3,)),
    "numpy.reshape": (reshapes, (M23,)),
    "numpy.ndarray.reshape": (reshapes, (M23,)),
    "numpy.ravel": (ravels, (M23,)),
    "numpy.ndarray.ravel": (ravels, (M23,)),
    "numpy.ndarray.flatten": (ravels, (M23,)),
    "numpy.transpose": (transposes, (T234,)),
    "numpy.ndarray.transpose": (transposes, (T234,)),
    "numpy.swapaxes": (swaps, (T234,)),
    "numpy.ndarray.swapaxes": (swaps, (T234,)),
    "numpy.moveaxis": (swaps, (T234,)),
    "numpy.squeeze": (squeezes, (M23,)),
    "numpy.ndarray.squeeze": (squeezes, (M23,)),
    "numpy.expand_dims": (squeezes, (M23,)),
    "numpy.concatenate": (concatenates, (X4, X4[:2])),
    "numpy.stack": (stacks, (X4, 2.0 * X4)),
    "numpy.split": (splits, (X4,)),
    "numpy.broadcast_to": (broadcasts, (X4,)),
    "numpy.flip": (flips, (M23,)),
    "numpy.linalg.inv": (inverse, (M3,)),
    "numpy.linalg.det": (determinant, (M3,)),
    "numpy.array": (arrays, (X4, X4[::-1].copy())),
    "numpy.asarray": (arrays, (X4, X4[::-1].copy())),
    "numpy.copy": (copies, (X4,)),
    "numpy.ndarray.copy": (copies, (X4,)),
    "numpy.ndarray.astype": (astype, (X4,)),
    "numpy.full": (fills, (X4,)),
    "numpy.full_like": (fills, (X4,)),
    "s2sad.runtime.astype_tangent": (helper_astype_tangent, (X4,)),
    "s2sad.runtime.full_tangent": (helper_full_tangent, (X4,)),
    "s2sad.runtime.split_tangent": (helper_split_tangent, (X4,)),
    "s2sad.runtime.list_add": (helper_lists, (X4,)),
    "s2sad.runtime.list_like": (helper_lists, (X4,)),
}


def derived_rules():
    return {rule.name for rule in RULES.values() if rule.batched is None and rule.batched_tangent is not None}


def test_every_derived_rule_has_a_probe():
    assert derived_rules() == set(PROBES)


def central_differences(f, args, step=1e-6):
    """The Jacobian of f w.r.t. each argument by central differences (shape out + argument)."""
    out = []
    for i, a in enumerate(args):
        columns = []
        for index in np.ndindex(*np.shape(a)):
            e = np.zeros_like(a)
            e[index] = step
            plus = args[:i] + (a + e,) + args[i + 1 :]
            minus = args[:i] + (a - e,) + args[i + 1 :]
            columns.append((np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * step))
        value = np.asarray(f(*args))
        out.append(np.moveaxis(np.array(columns), 0, -1).reshape(value.shape + np.shape(a)))
    return out


@pytest.mark.parametrize("name", sorted(PROBES))
def test_derived_rule_matches_jacrev_and_finite_differences(name):
    probe, args = PROBES[name]
    nums = tuple(range(len(args)))
    text = s2sad.source(probe, mode="jacfwd", argnums=nums, args=args)
    assert "each_direction" not in text  # the derived template ran, not the direction-by-direction fallback

    @settings(max_examples=3, deadline=None, derandomize=True, database=None)
    @given(seed=st.integers(0, 2**32 - 1))
    def check(seed):
        shift = np.random.default_rng(seed)
        point = tuple(a + 0.05 * shift.uniform(-1.0, 1.0, size=np.shape(a)) for a in args)
        forward = s2sad.jacfwd(probe, argnums=nums)(*point)
        reverse = s2sad.jacrev(probe, argnums=nums)(*point)
        for f, r, d in zip(forward, reverse, central_differences(probe, point)):
            assert np.shape(f) == np.shape(r) == d.shape
            np.testing.assert_allclose(f, r, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(f, d, rtol=1e-5, atol=1e-6)

    check()


# -- the derivation --------------------------------------------------------------------------------


def derive(text, matrices=()):
    template = batched(Template.from_text(text), matrices)
    return None if template is None else [ast.unparse(s) for s in template.body]


def test_axis_arguments_name_the_axis_after_the_direction_axis():
    assert derive("def _(z, x, axis=None):\n    z_dot = np.flip(x_dot, axis)\n") == [
        "z_dot = np.flip(x_dot, _rt.batch_axis(axis, x))"
    ]
    # written axes shift (negative ones count from the end and stay); a missing one is filled in
    assert derive("def _(z, a):\n    z_dot = np.trace(a_dot, 0, 0, -1) + np.sum(a_dot)\n") == [
        "z_dot = np.trace(a_dot, 0, 1, -1) + np.sum(a_dot, axis=_rt.batch_axis(None, a))"
    ]


def test_locals_and_helpers_that_need_the_result():
    assert derive("def _(z, x):\n    p = np.cos(x)\n    z_dot = np.sum(x_dot * p, axis=0)\n") == [
        "p = np.cos(x)",
        "z_dot = np.sum(x_dot * p, axis=1)",
    ]
    # the result stands for the shape of one direction only where the call is the whole tangent
    assert derive("def _(z, x):\n    z_dot = np.ravel(x_dot)\n") == [
        "z_dot = _rt.reshape_directions(x_dot, z)"
    ]
    assert derive("def _(z, x):\n    z_dot = 2.0 * np.ravel(x_dot)\n") is None


def test_matrices_keep_matmul_as_written():
    text = "def _(z, a):\n    z_dot = -(z @ a_dot @ z)\n"
    assert derive(text, ("z", "a")) == ["z_dot = -(z @ a_dot @ z)"]
    assert derive(text) == ["z_dot = -_rt.matmul_tangent_a(_rt.matmul_tangent_b(z, a_dot), z)"]
    assert derive("def _(z, a, b):\n    z_dot = np.linalg.solve(a, b_dot)\n") is None  # b may be a vector


def test_templates_left_to_the_transform():
    assert derive("def _(z, x):\n    z_dot = x_dot * np.cos(x)\n") is None  # arithmetic: batched as it is
    assert derive("def _(z, x):\n    z_dot = np.tile(x_dot, 2)\n") is None  # a call the table does not know
    assert derive("def _(z, x, y):\n    z_dot = x / y_dot\n") is None  # not linear in the tangent
    assert lookup(np.sin).batched_tangent is None  # elementwise rules broadcast the directions themselves
    assert lookup(float).batched is not None  # written by hand: not a rewrite of `z_dot = x_dot`


def test_a_programs_own_rule_is_derived_too():
    def blend(x, w):
        return np.sum(x * w, axis=0)

    @tangent(blend)
    def _(z, x, w):
        z_dot = np.sum(x_dot * w, axis=0)

    try:
        assert [ast.unparse(s) for s in lookup(blend).batched_tangent.body] == [
            "z_dot = np.sum(x_dot * w, axis=1)"
        ]

        def uses_blend(x):
            return blend(x * x, np.arange(6.0).reshape(2, 3))

        x = np.arange(1.0, 7.0).reshape(2, 3)
        text = s2sad.source(uses_blend, mode="jacfwd", args=(x,))
        assert "np.sum(" in text and "each_direction" not in text
        np.testing.assert_allclose(
            s2sad.jacfwd(uses_blend)(x), central_differences(uses_blend, (x,))[0], atol=1e-6
        )
    finally:
        del RULES[blend]  # keep the rule table (and docs/numpy.md) as it was
