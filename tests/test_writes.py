"""Writes into arrays by call, items of containers, views and loops over keys (s2sad/writes.py,
s2sad/key_loops.py and the alias / view / effect checks of s2sad/compiler.py): every construct is
checked in both modes against central differences and by the dot-product test, every refusal
by its message (the user's file, line and code, no internal name)."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import s2sad
from s2sad.testing import check_grads

HERE = __file__.rsplit("/", 1)[-1]
IDX = np.array([0, 2, 0, 1, 0])  # repeated indices: `.at` accumulates, `a[idx] = v` keeps the last


def add_at(x):
    acc = np.ones(3)
    np.add.at(acc, IDX, x)
    return np.sum(acc**2 * np.arange(1.0, 4.0))


def subtract_at_2d(x):
    acc = np.outer(x[:3], x[:2])
    np.subtract.at(acc, (np.array([0, 2, 0]), np.array([1, 1, 1])), x[2:])
    return np.sum(np.sin(acc))


def multiply_at(x):
    acc = 1.5 + x[:3]
    np.multiply.at(acc, IDX, x)
    return np.sum(acc * np.arange(1.0, 4.0))


def maximum_at(x):
    acc = np.full(3, 0.25)
    np.maximum.at(acc, IDX, x)
    return np.sum(acc**2)


def minimum_at_rows(x):
    acc = np.zeros((3, 2))
    np.minimum.at(acc, np.array([2, 0, 2]), np.outer(x[:3], x[3:]))
    return np.sum(np.cos(acc) * x[0])


def negative_at(x):
    y = x * 2.0
    np.negative.at(y, [1, 1, 3])
    return np.sum(y**3)


def copyto(x):
    buf = np.zeros(5)
    np.copyto(buf, x * x)
    np.copyto(buf, 3.0 * x, where=x > 0.0)
    return np.sum(buf * x)


def put(x):
    y = np.zeros(7)
    np.put(y, [0, 2, 6, 2], x[:4])
    y.put([-1, 3], 2.0 * x[0])
    return np.sum(np.sin(y) * np.arange(7.0))


def place_putmask(x):
    y = x * 1.0
    np.place(y, x > 0.0, [x[0] ** 2, 2.0])
    z = np.ones(5)
    np.putmask(z, np.array([True, False, True, True, False]), x[:2] * 3.0)
    return np.sum(y * z)


def fill(x):
    y = np.empty(4)
    y.fill(x[1] * x[2])
    return np.sum(y * np.arange(4.0)) + x[0]


def ufunc_out(x):
    y = np.zeros(5)
    np.multiply(x, x, out=y)
    z = np.zeros(5)
    np.add(y, x, z)
    w = np.ones(5)
    np.sin(x, out=w, where=x > 0.0)
    t = np.exp(x, out=(np.zeros(5),))
    return np.sum(y * x) + np.sum(z**2) + np.sum(w * t)


def reduction_out(x):
    s = np.zeros(())
    np.sum(x * x, out=s)
    m = np.zeros(2)
    np.mean(np.reshape(x[:4], (2, 2)), axis=0, out=m)
    return s * 1.0 + np.sum(m**3)


def concatenators(x):
    r = np.r_[x, 0.0, x[0] * 2.0]
    c = np.c_[x, x**2]
    k = np.r_[0:2, x[:2]]
    return np.sum(r**2 * np.arange(7.0)) + np.sum(np.sin(c)) + np.sum(k * x[:4])


def items_of_containers(x):
    bufs = [np.zeros(2), np.zeros(2)]
    bufs[0][1] = 3.0 * x[0]
    bufs[1][0] += x[1] ** 2
    grid = np.zeros((2, 3))
    grid[1][2] = x[2]
    grid[0:2][0] = x[:3]
    return np.sum(bufs[0] ** 2) + np.sum(bufs[1] * x[3]) + np.sum(grid * np.arange(6.0).reshape(2, 3))


def _fill_features(v):
    out = np.zeros(3)
    out[0] = v[0] * v[1]
    out[1] = np.sin(v[2])
    np.add.at(out, [2, 2], v[3])
    return out


def fresh_helper_arrays(x):
    s = 0.0
    for i in range(3):
        h = _fill_features(x * (i + 1.0))
        h2 = _fill_features(x)
        h[2] = h[2] * h2[0]
        s = s + np.sum(h * h2)
    h = _fill_features(x)
    h[0] = 1.0
    return s + np.sum(h)


def rebound_name(x):
    y = x
    y = y * 2.0
    y[0] = 1.0
    return np.sum(y**2) + np.sum(x)


def keys_from_a_literal(x):
    p = {"a": x, "b": x * 2.0}
    s = 0.0
    for k in ["a", "b"]:
        s = s + np.sum(p[k] ** 2)
    for k in ("b",):
        s = s + np.sum(p[k])
    return s


def dict_views(x):
    p = {"a": x, "b": np.sin(x), "c": x**2}
    s = 0.0
    for k, v in p.items():
        s = s + np.sum(v * p[k])
    for v in p.values():
        s = s + np.sum(v)
    for k in p.keys():
        s = s + np.sum(p[k] * 3.0)
    for k in p:
        s = s * 0.5 + np.sum(p[k])
    return s


KEYS = ("w", "b")


def dict_argument(params, x):
    h = x
    for k in KEYS:
        h = np.tanh(h * params[k])
    for name, value in params.items():
        h = h + np.sum(value) * (1.0 if name == "w" else 2.0)
    return np.sum(h)


CASES = [
    add_at,
    subtract_at_2d,
    multiply_at,
    maximum_at,
    minimum_at_rows,
    negative_at,
    copyto,
    put,
    place_putmask,
    fill,
    ufunc_out,
    reduction_out,
    concatenators,
    items_of_containers,
    fresh_helper_arrays,
    rebound_name,
    keys_from_a_literal,
    dict_views,
]


def _primal_matches(f, x):
    """The compiled code computes what NumPy computes."""
    value, _ = s2sad.jvp(f, (x,), (np.zeros_like(x),))
    assert np.allclose(value, f(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_writes_against_finite_differences(f):
    x = np.array([0.7, -0.4, 1.3, 0.2, -1.1])
    _primal_matches(f, x)
    check_grads(f, (x,))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    hnp.arrays(np.float64, 5, elements=st.floats(-2.0, 2.0)).filter(
        lambda x: np.min(np.abs(x)) > 0.05
        and np.min(np.abs(np.diff(np.sort(x)))) > 0.05
        and np.min(np.abs(x - 0.25)) > 0.05
    )
)
def test_writes_at_random_points(x):
    for f in (add_at, multiply_at, maximum_at, put, place_putmask, ufunc_out, items_of_containers):
        check_grads(f, (x,))


def test_dict_arguments_by_key_loops():
    params = {"w": np.array([0.3, -0.5]), "b": np.array([0.1, 0.2])}
    x = np.array([0.4, 0.9])
    check_grads(dict_argument, (params, x))
    grads = s2sad.grad(dict_argument)(params, x)
    assert sorted(grads) == ["b", "w"]


def _refusal(f, pattern, *args):
    args = args or (np.array([0.7, -0.4, 1.3]),)
    for call in (
        lambda: s2sad.grad(f)(*args),
        lambda: s2sad.jvp(f, args, tuple(np.ones_like(a) for a in args)),
    ):
        with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
            call()
        message = str(info.value)
        assert re.search(pattern, message), message
        assert HERE in message and "hint:" in message
        assert not re.search(r"\b_t\d+|\b_item\d|_at_\w+\d|\w+\d_\w+", message), message  # no internal names
    return message


def view_written(x):
    a = x * 1.0
    v = a[1:3]
    v[0] = 5.0 * x[0]
    return np.sum(a**2)


def base_written(x):
    a = x * 1.0
    v = a.reshape(3)
    a[0] = x[1] ** 2
    return np.sum(v**2)


def transposed_written(x):
    a = np.outer(x, x)
    t = a.T
    t[0, 1] = 0.0
    return np.sum(a)


def temporary_view_written(x):
    a = np.outer(x, x)
    a.T[0, 1] = x[0]
    return np.sum(a)


def aliased(x):
    a = x * 1.0
    b = a
    b[0] = 3.0
    return np.sum(a * b)


def opaque_effect(x):
    buf = np.zeros(3)
    np.fill_diagonal(buf.reshape(1, 3), x[0])
    return np.sum(buf)


def unknown_effect(x):
    y = x * 2.0
    np.random.shuffle(y)
    return np.sum(y * np.arange(3.0))


def sorted_in_place(x):
    y = x * 1.0
    y.sort()
    return np.sum(y * np.arange(3.0))


def out_inside_an_expression(x):
    y = np.zeros(3)
    return np.sum(np.multiply(x, x, out=y))


def effect_of_a_builtin(x):
    y = x * 2.0
    np.ndarray.sort(y)
    return np.sum(y * np.arange(3.0))


def test_refusals_name_the_users_line():
    assert "v[0] = 5.0 * x[0]" in _refusal(view_written, r"`v` is a view of `a`")
    assert "a[0] = x[1] ** 2" in _refusal(base_written, r"`v` is a view of `a`")
    assert "t[0, 1] = 0.0" in _refusal(transposed_written, r"`t` is a view of `a`")
    assert "a.T[0, 1] = x[0]" in _refusal(temporary_view_written, r"writes into `a.T`")
    assert "b = a" in _refusal(aliased, r"another name for the array `a`")
    assert "np.fill_diagonal" in _refusal(opaque_effect, r"writes into its argument in place")
    assert "np.random.shuffle(y)" in _refusal(unknown_effect, r"writes into its argument in place")
    assert "y.sort()" in _refusal(sorted_in_place, r"sorts `y` in place")
    assert "out=y" in _refusal(out_inside_an_expression, r"inside a larger expression")
    assert "np.ndarray.sort(y)" in _refusal(effect_of_a_builtin, r"may change that value")


def test_a_discarded_pure_call_and_print_are_fine():
    def f(x):
        np.sin(x)
        return np.sum(x**2)

    check_grads(f, (np.array([0.3, 0.4]),))


def test_generated_code_reads_like_the_writes():
    source = s2sad.source(add_at, mode="reverse", args=(np.ones(5),))
    assert "_rt.added_at(" in source and "np.add.at" not in source.split("def ")[0]
    assert "acc[...] =" in source


def item_of_a_dict(x):
    d = {"a": np.zeros(2)}
    d["a"][1] = 3.0 * x[0]
    return np.sum(d["a"] ** 2)


def item_of_a_tuple(x):
    bufs = (np.zeros(2), np.zeros(2))
    bufs[0][1] = 3.0 * x[0]
    return np.sum(bufs[0] ** 2)


def test_items_of_tuples_are_refused_not_ignored_and_of_local_dicts_followed():
    assert "bufs[0][1] = 3.0 * x[0]" in _refusal(item_of_a_tuple, r"writes into `bufs`")
    check_grads(item_of_a_dict, (np.array([0.3, 0.4]),))  # a local dict: a variable per key


SECOND_ORDER = [
    add_at,
    subtract_at_2d,
    multiply_at,
    maximum_at,
    minimum_at_rows,
    negative_at,
    copyto,
    put,
    place_putmask,
    fill,
    reduction_out,
    items_of_containers,
    rebound_name,
    keys_from_a_literal,
    dict_views,
]


@pytest.mark.parametrize("f", SECOND_ORDER, ids=lambda f: f.__name__)
def test_second_derivatives_through_writes(f):
    """The rewritten writes are ordinary code: their derivative code differentiates again."""
    x = np.array([0.7, -0.4, 1.3, 0.2, -1.1])
    check_grads(s2sad.grad(f), (x,), rtol=1e-5, atol=1e-6)


def keys_built_from_the_loop_variable(params, x):
    h = x
    names = ["l1", "l2"]
    for name in names:
        h = np.tanh(params[name + "_w"] @ h + params[f"{name}_b"])
    return np.sum(h**2)


def test_keys_built_from_constant_keys():
    params = {
        "l1_w": np.array([[0.3, -0.2], [0.1, 0.4]]),
        "l1_b": np.array([0.1, -0.1]),
        "l2_w": np.array([[0.5, 0.2], [-0.3, 0.4]]),
        "l2_b": np.array([0.0, 0.2]),
    }
    check_grads(keys_built_from_the_loop_variable, (params, np.array([0.5, -0.3])))


def key_at_run_time(p, x):
    s = 0.0
    for i in range(2):
        k = "w" if i == 0 else "b"
        s = s + np.sum(p[k] * x)
    return s


def test_a_key_computed_at_run_time_is_refused():
    params = {"w": np.ones(2), "b": np.ones(2)}
    message = _refusal(key_at_run_time, r"reads `p` with a key computed at run time", params, np.ones(2))
    assert "s = s + np.sum(p[k] * x)" in message


def sorted_keys(p, x):
    s = 0.0
    for k in sorted(p):
        s = s * 0.5 + np.sum(np.sin(p[k] * x))
    for k, v in sorted(p.items()):
        s = s * 0.5 + np.sum(v * p[k])
    return s


def test_loops_over_sorted_keys():
    params = {"w": np.array([0.3, -0.5]), "b": np.array([0.1, 0.2]), "a": np.array([1.0, -1.0])}
    check_grads(sorted_keys, (params, np.array([0.4, 0.9])))
