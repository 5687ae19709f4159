"""Control flow in both modes: branches, loops, early exits, in-place writes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


def branches(x, y):
    if x > 0 and y > 0:
        z = x * y
    elif x > 0 or y > 1.5:
        z = x + y * y
    elif not y < -1.0:
        z = math.sin(x) * y
    else:
        z = -x
    w = z * 2.0 if 0.0 < z < 1.0 else z / 3.0
    return w + (x if x > y else y)


def for_loops(x, n):
    s = 0.0
    for i in range(n):
        s = s + math.sin(x * i) * s + x
    for i in range(n - 1, -1, -1):
        s = s * 0.9 + i * x
    for i in reversed(range(2, n)):
        for j in range(i):
            s = s + x / (1.0 + i + j)
    return s


def loops_over_arrays(x, w):
    total = 0.0
    for row in w:
        total = total + np.sum(row * x)
    for i, value in enumerate(x):
        total = total + i * value * value
    for a, b in zip(x, x[1:]):
        total = total + a * b
    for a, b, c in zip(x, x[1:], w[0]):  # three sequences, the shortest one's length
        total = total + a * b * c
    for i, (a, b, c) in enumerate(zip(x[::-1], w[1], x)):
        total = total + i * a * b - c
    return total


def while_data(x):
    t = 0.0
    y = x
    while t < 1.0:
        if y > 0:
            y = y - 0.1 * y * y
        else:
            y = y + 0.05
        t += 0.01 + 0.001 * abs(y)
    return y


def while_true_break(x):
    y = x
    k = 0
    while True:
        y = y * 0.5 + 0.1 * x
        k += 1
        if abs(y) < 0.01 * abs(x) + 1e-3 or k > 50:
            break
    return y * k


def break_continue(x, n):
    s = 0.0
    for i in range(n):
        if i % 3 == 1:
            continue
        s = s + x * i
        if s > 20.0:
            break
        s = s * 1.01
    return s


def early_return(x, y):
    if x > 2.0:
        return x * y
    for i in range(5):
        x = x * 1.1 + y
        if x > 3.0:
            return x - y
    return x * x


def in_place(x, n):
    a = np.zeros(n)
    a[0] = x
    for i in range(1, n):
        a[i] = a[i - 1] * 0.9 + math.sin(x * i)
    a[1:3] = a[1:3] * 2.0
    a[2] += x
    b = np.ones(n)
    b[a > 0.5] = 3.0
    return np.sum(a * a * b)


def in_place_vector(x):
    y = x.copy()
    for i in range(len(x)):
        y[i] = y[i] * y[i - 1] + 1.0
    return np.sum(y)


def for_else(x, n):
    """`for ... else` with `break`s of the inner loop, of the outer loop in the inner loop's `else`."""
    total = 0.0
    for i in range(2, n):
        for j in range(2, i):
            if i % j == 0:
                total += x * j
                break
        else:
            total += x**2 * i
            if total > 40.0:
                break
    else:
        total = -total * x
    return total


def while_else(x, y):
    while y < 10.0:
        y = y * 1.5 + x
        if y > 8.0:
            break
    else:
        y = -y * x
    for k in range(3):  # no `break`: the `else` always runs
        y = y + x * k
    else:
        y = y * 2.0
    return y


def loop_else_return(x):
    for i in range(4):
        x = x * 1.2
        if x > 2.0:
            return x * 10.0
    else:
        x = x - 1.0
    return x


def set_in_one_branch(x, n):
    """`s` gets its tangent in one branch and is read only there, by a later iteration: forward mode
    must carry its tangent from iteration to iteration (jvp gave 0.0)."""
    s = 1.0
    total = 0.0
    for i in range(n):
        if i % 2 == 1:
            total = total + s
            s = s * x
    return total


def set_in_one_branch_while(x, y):
    s = np.ones(2)
    total = 0.0
    k = 0
    while k < 6:
        if k % 3 != 0:
            total = total + np.sum(s * y)
            s = s * x + y
        k += 1
    return total


def set_in_an_inner_branch(x, y):
    s = 0.5
    total = 0.0
    for i in range(3):
        for j in range(2):
            if (i + j) % 2 == 0:
                total = total + s * y
                s = s * x
    return total


CASES = [
    ("set_in_one_branch", set_in_one_branch, lambda d: (d.draw(st.floats(-2, 2)), d.draw(st.integers(0, 8)))),
    (
        "set_in_one_branch_while",
        set_in_one_branch_while,
        lambda d: (d.draw(st.floats(-1.5, 1.5)), d.draw(st.floats(-2, 2))),
    ),
    (
        "set_in_an_inner_branch",
        set_in_an_inner_branch,
        lambda d: (d.draw(st.floats(-2, 2)), d.draw(st.floats(-2, 2))),
    ),
    ("for_else", for_else, lambda d: (d.draw(st.floats(-2, 3)), d.draw(st.integers(0, 14)))),
    # x >= 0: y grows past 10 (with x < 0 and y below -2x the loop runs forever, in Python too)
    ("while_else", while_else, lambda d: (d.draw(st.floats(0, 2)), d.draw(st.floats(0.5, 12)))),
    ("loop_else_return", loop_else_return, lambda d: (d.draw(st.floats(-1, 3)),)),
    ("branches", branches, lambda d: (d.draw(st.floats(-2, 2)), d.draw(st.floats(-2, 2)))),
    ("for_loops", for_loops, lambda d: (d.draw(st.floats(-1, 1)), d.draw(st.integers(0, 6)))),
    ("while_data", while_data, lambda d: (d.draw(st.floats(-1, 1)),)),
    ("while_true_break", while_true_break, lambda d: (d.draw(st.floats(0.5, 2)),)),
    ("break_continue", break_continue, lambda d: (d.draw(st.floats(-1, 3)), d.draw(st.integers(0, 12)))),
    ("early_return", early_return, lambda d: (d.draw(st.floats(-1, 3)), d.draw(st.floats(-0.5, 0.5)))),
    ("in_place", in_place, lambda d: (d.draw(st.floats(-1, 1)), d.draw(st.integers(3, 6)))),
]


def _stable(fn, args, h=1e-4):
    """True if moving any float input by +-h keeps `fn` smooth (no branch flips nearby)."""
    b = fn(*args)
    for index, arg in enumerate(args):
        if not isinstance(arg, float):
            continue
        lo = fn(*args[:index], arg - h, *args[index + 1 :])
        hi = fn(*args[:index], arg + h, *args[index + 1 :])
        if abs((hi - b) - (b - lo)) > 1e-6 * (1 + abs(b)):
            return False
    return True


@pytest.mark.parametrize("name,fn,draw", CASES, ids=[c[0] for c in CASES])
def test_construct_against_finite_differences(name, fn, draw):
    @SETTINGS
    @given(st.data())
    def check(data):
        args = draw(data)
        if not _stable(fn, args):
            return
        check_grads(fn, args, rtol=1e-5)

    check()


def test_loops_over_arrays():
    rng = np.random.default_rng(1)
    check_grads(loops_over_arrays, (rng.standard_normal(4), rng.standard_normal((3, 4))))


def test_in_place_vector():
    check_grads(in_place_vector, (np.array([0.5, -0.3, 0.8, 0.1]),))


def test_trip_count_changes_between_calls():
    g = s2sad.grad(for_loops)
    for n in (0, 1, 5, 3, 9):
        value = g(0.3, n)
        h = 1e-6
        fd = (for_loops(0.3 + h, n) - for_loops(0.3 - h, n)) / (2 * h)
        assert abs(value - fd) < 1e-5 * (1 + abs(fd)), (n, value, fd)


def long_while(x, steps):
    y = x
    i = 0
    while i < steps:
        y = y + 1e-5 * math.sin(y)
        i += 1
    return y


def test_reverse_through_100k_iteration_while_loop():
    g = s2sad.grad(long_while)(0.4, 100_000)
    h = 1e-6
    fd = (long_while(0.4 + h, 100_000) - long_while(0.4 - h, 100_000)) / (2 * h)
    assert abs(g - fd) < 1e-6 * abs(fd)


def test_vjp_pullback_reused_with_different_cotangents():
    value, pullback = s2sad.vjp(in_place, 0.4, 5)
    g1 = pullback(1.0)[0]
    g2 = pullback(2.0)[0]
    g3 = pullback(1.0)[0]
    assert abs(g2 - 2 * g1) < 1e-12 * (1 + abs(g1)) and g1 == g3


def nested_tapes(x, a, n):
    """Scalars overwritten in a for loop holding a data-dependent while loop."""
    total = 0.0
    for i in range(n):
        y = x * a[i]
        k = 0
        while y < 3.0 and k < 50:
            y = y * 1.3 + 0.1 * math.sin(y)
            k += 1
        total += y * y
        x = 0.5 * x + 0.1 * y
    return total


@given(st.floats(0.2, 1.5), st.integers(0, 4))
@settings(max_examples=15, deadline=None)
def test_loop_tapes_nested_and_data_dependent(x, n):
    a = np.linspace(0.5, 1.5, 4)
    check_grads(nested_tapes, (x, a, n))
    # the pullback of a taped loop can be called again: tapes are read, not consumed
    value, pullback = s2sad.vjp(nested_tapes, x, a, n)
    first = pullback(1.0)
    second = pullback(3.0)
    assert second[0] == pytest.approx(3 * first[0], rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(second[1], 3 * first[1], rtol=1e-12)


def logistic(r, x0, n):
    x = x0
    total = 0.0
    for _ in range(n):
        x = r * x * (1.0 - x)
        total += x
    return total / n


@pytest.mark.generated_code
def test_loop_values_go_to_a_tape_and_grad_skips_the_value():
    text = s2sad.source(logistic, mode="grad", argnums=(0, 1), args=(2.9, 0.3, 10))
    assert "_pop" not in text and "for x in reversed(_tape1_xs)" in text
    assert "_tape1_xs = [None] * n" in text and "_tape1_xs[_] = x" in text  # preallocated, filled by index
    assert "total = " not in text  # `grad` does not compute the unused output
    joint = s2sad.source(logistic, mode="reverse", argnums=(0, 1), args=(2.9, 0.3, 10))
    assert "total = total + x" in joint
    g = s2sad.grad(logistic, argnums=(0, 1))(2.9, 0.3, 10)
    v, g2 = s2sad.value_and_grad(logistic, argnums=(0, 1))(2.9, 0.3, 10)
    assert g == g2 and v == logistic(2.9, 0.3, 10)
    check_grads(logistic, (2.9, 0.3, 10))


def counter_rebound(x, n):
    s = 0.0
    for i in range(n):
        v = x * i
        i = i + 1  # the body's own `i` from here on: the loop still counts 0, 1, ..., n - 1
        s = s + np.tanh(v) * i
        x = x * 0.9 + 0.01 * s
    return s


def counter_rebound_reversed_with_break(x, n):
    s = 0.0
    for i in reversed(range(n)):
        i = 2 * i - 1
        s = s + np.sin(x * i)
        if s > 2.5:
            break
        x = x + 0.1 * s
    return s


def test_a_loop_counter_rebound_in_the_body():
    # reverse mode once bound `i` from the reversed range where the body had rebound it: a wrong
    # gradient with no error (found while checking this stop's tapes)
    for f, args in ((counter_rebound, (0.7, 6)), (counter_rebound_reversed_with_break, (0.3, 7))):
        check_grads(f, args)
    h = 1e-6
    fd = (counter_rebound(0.7 + h, 6) - counter_rebound(0.7 - h, 6)) / (2 * h)
    assert s2sad.grad(counter_rebound)(0.7, 6) == pytest.approx(fd, rel=1e-7)
