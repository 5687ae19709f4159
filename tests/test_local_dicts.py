"""Local dicts with fixed string keys (s2sad/frontend/local_dicts.py): a simulator state kept in a
dict, written at its keys in a loop or rebuilt by a helper, differentiates in both modes; a dict that
another name holds too, or that is used any other way, is left alone (its writes are refused)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads


def oscillator(x, k):
    s = {"pos": x, "vel": 0.0}
    for _ in range(30):
        s["vel"] = s["vel"] - 0.1 * k * s["pos"]
        s["pos"] = s["pos"] + 0.1 * s["vel"]
    return s["pos"] ** 2 + 0.5 * s["vel"] ** 2


def _step(state, dt, drag):
    accel = -state["x"] - drag * state["v"] * np.abs(state["v"])
    return {"x": state["x"] + dt * state["v"], "v": state["v"] + dt * accel}


def with_helper(x, drag):
    state = {"x": x, "v": np.zeros_like(x)}
    t = 0.0
    while t < 1.0:
        state = _step(state, 0.05, drag)
        t += 0.05
    return np.sum(state["x"] ** 2)


def branchy(x, y):
    s = {"best": x, "other": y}
    for i in range(4):
        if s["best"] * y > 0.3:
            s["best"] = s["best"] * 0.7 + s["other"]
        else:
            s["other"] = s["other"] + s["best"] ** 2
    return s["best"] + 2.0 * s["other"]


def returns_state(x):
    s = {"a": x, "b": 2.0 * x}
    s["b"] = s["b"] * s["a"]
    return s


def aliased(x):
    s = {"a": x}
    t = s
    t["a"] = 3.0 * x
    return s["a"] * x


@settings(max_examples=10, deadline=None)
@given(st.floats(-2, 2), st.floats(0.2, 3))
def test_dict_state_in_a_loop(x, k):
    check_grads(oscillator, (x, k), rtol=1e-5)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 1000))
def test_dict_state_rebuilt_by_a_helper_in_a_while_loop(seed):
    rng = np.random.default_rng(seed)
    check_grads(with_helper, (rng.normal(size=3), float(rng.uniform(0.05, 0.5))), rtol=1e-5)


@settings(max_examples=10, deadline=None)
@given(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))
def test_dict_written_in_branches(x, y):
    h = 1e-5  # away from a branch flip, where the function has no derivative
    values = [branchy(x + d, y + e) for d, e in ((-h, 0), (0, 0), (h, 0), (0, -h), (0, h))]
    if abs(values[0] - 2 * values[1] + values[2]) > 1e-6 or abs(values[3] - 2 * values[1] + values[4]) > 1e-6:
        return
    check_grads(branchy, (x, y), rtol=1e-5)


def test_returned_dict_in_every_transform():
    x = 0.7
    assert s2sad.jacfwd(returns_state)(x) == pytest.approx({"a": 1.0, "b": 4 * x})
    assert s2sad.jacrev(returns_state)(x) == pytest.approx({"a": 1.0, "b": 4 * x})
    _, pullback = s2sad.vjp(returns_state, x)
    assert pullback({"a": 1.0, "b": 1.0})[0] == pytest.approx(1.0 + 4 * x)


def test_the_generated_code_has_a_variable_per_key():
    text = s2sad.source(oscillator, args=(0.5, 1.0))
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert any("s_pos" in line for line in code) and any("s_vel" in line for line in code)
    assert not any("{" in line or "s[" in line for line in code)  # no dict left, no item read


def test_a_dict_held_by_two_names_is_not_split():
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="writes into `t`"):
        s2sad.grad(aliased)(0.5)
