"""Lists that change at run time, in both modes, against central finite differences.

`xs = []` and list literals, `append`, `extend`, `pop` (last or at an index), reads
`xs[i]` and writes `xs[i] = v` at run-time indexes, `len`, `for` over lists with
`enumerate` / `zip` / `reversed`, `sum`, list comprehensions, `+` and `* n`, and
`np.array` / `np.stack` of lists of floats or arrays. A list's tangent is a list kept
in step with it; its adjoint is a list kept aligned with it through the backward
sweep, which undoes each `append`, `pop` and item write in reverse. Every check runs
`s2sad.testing.check_grads`: forward and reverse mode against finite differences in
float64, and the dot-product test between the two.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
unit = st.floats(-1.0, 1.0, allow_nan=False)
seeds = st.integers(0, 2**31 - 1)


def _stable(fn, args, h=1e-4):
    """True if moving any float input by +-h keeps `fn` smooth (no trip count or branch flips nearby)."""
    b = fn(*args)
    for index, arg in enumerate(args):
        if not isinstance(arg, float):
            continue
        lo = fn(*args[:index], arg - h, *args[index + 1 :])
        hi = fn(*args[:index], arg + h, *args[index + 1 :])
        if abs((hi - b) - (b - lo)) > 1e-6 * (1 + abs(b)):
            return False
    return True


# -- the operations, one function each -------------------------------------------------------------


def grows_and_shrinks(x, n):
    xs = []
    h = x
    for i in range(n):
        h = np.tanh(h * 1.5 + 0.1)
        xs.append(h)  # grows
    ys = [math.sin(v) * x for v in xs]  # a comprehension that is not summed: a list
    last = xs.pop()  # shrinks
    return sum(ys) + xs[0] * last * len(xs) + np.sum(np.array(xs))


@SETTINGS
@given(unit, st.integers(2, 6))
def test_append_comprehension_pop_len_and_np_array(x, n):
    check_grads(grows_and_shrinks, (x, n))


def literals_and_appends(x, y):
    xs = [x, y * y]
    xs.append(x * y)
    xs.append(3.0)  # a constant item: its derivative is zero
    xs.append(xs[0] + xs[-2])
    return xs[0] * xs[1] + xs[2] * xs[-1] + xs[3]


@SETTINGS
@given(unit, unit)
def test_list_literals_and_append(x, y):
    check_grads(literals_and_appends, (x, y))


def pops(x, n):
    xs = [x * (k + 1.0) for k in range(n + 4)]
    first = xs.pop(0)
    middle = xs.pop(-2)
    last = xs.pop()
    xs.pop()  # popped and dropped
    return first * middle + last * len(xs) + sum(xs) * x


@SETTINGS
@given(unit, st.integers(0, 5))
def test_pop_last_at_an_index_and_dropped(x, n):
    check_grads(pops, (x, n))


def reads_and_writes(x, i, j):
    xs = [x, x * x, math.sin(x), 2.0]
    xs.append(x * 3.0)
    xs[j] = xs[i] * x  # item writes at run-time indexes, negative ones too
    xs[i] += xs[j - 1]
    xs[-1] = xs[-2] * xs[i]
    return xs[i] * xs[-1] + xs[j] + xs[1]


@SETTINGS
@given(unit, st.integers(-5, 4), st.integers(-4, 4))
def test_reads_and_writes_at_run_time_indexes(x, i, j):
    check_grads(reads_and_writes, (x, i, j))


def loops_over_lists(x, n):
    xs = [x * (k - 1.0) for k in range(n)]
    ys = [math.cos(v) for v in xs]
    total = sum(xs) + sum(ys, 1.0)
    for i, v in enumerate(xs):
        total = total + i * v * v
    for a, b in zip(xs, ys[1:]):
        total = total + a * b
    for i, (a, b) in enumerate(zip(ys, xs)):
        total = total + i * a * b
    for v in reversed(xs):
        total = total * 0.5 + v
    return total


@SETTINGS
@given(unit, st.integers(0, 6))
def test_for_enumerate_zip_reversed_and_sum_over_lists(x, n):
    check_grads(loops_over_lists, (x, n))


def comprehensions(x, a):
    v = 10.0  # comprehension variables do not leak into, or clobber, the function's variables
    k = 3
    rows = [a * k for k in range(3)]
    small = [np.sum(r * r) for r in rows if np.sum(r) < 10.0]
    pairs = [p * q for p in small for q in [x, 2.0 * x]]
    m = np.array([math.tanh(x * k) for k in range(4)])
    s = np.stack([np.sin(r) * x for r in rows])
    grid = [[x * i + j for j in range(2)] for i in range(3)]  # a list of lists
    summed = sum(pairs) + np.sum(m) * v + np.sum(s) * k
    return (
        summed
        + np.sum(np.array(grid) ** 2)
        + grid[2][1] * x
        + np.sum(np.array(list(np.cos(r) for r in rows)))
    )


@SETTINGS
@given(unit, seeds)
def test_list_comprehensions_assigned_and_passed(x, seed):
    a = np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    check_grads(comprehensions, (x, a))


def lists_of_arrays(a, b):
    xs = [a, a * b]
    xs.append(np.sin(a) * b)
    first = xs.pop(0)
    xs[0] = xs[0] * first
    stacked = np.stack(xs)
    together = np.array(xs + [first])
    return np.sum(stacked**2) + np.sum(together[:, 0]) + np.sum(xs[-1] * first)


@SETTINGS
@given(seeds, unit)
def test_lists_of_arrays_np_stack_and_np_array(seed, b):
    a = np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    check_grads(lists_of_arrays, (a, b))


def concatenate_and_repeat(x, n):
    xs = [x] * n  # repetition
    xs = xs + [x * x, 2.0]  # concatenation
    ys = []
    for v in xs:
        ys = ys + [v * 2.0]
    ys += [x]
    ys.extend(v * x for v in xs)
    ys.extend(ys)  # the items it had
    copy = list(ys)
    copy.append(5.0)
    other = ys.copy()
    other[0] = x * 3.0
    return sum(copy) * ys[1] + sum(other) + ys[::-1][0] + np.sum(ys)


@SETTINGS
@given(unit, st.integers(0, 4))
def test_concatenation_repetition_extend_and_copies(x, n):
    check_grads(concatenate_and_repeat, (x, n))


# -- lengths that depend on the data, lists in loops -------------------------------------------------


def grows_while(x):
    xs = [x]
    h = x
    while h < 2.0:  # how many items depends on x
        h = h * 1.3 + 0.2 * math.sin(x) + 0.05
        xs.append(h)
    while len(xs) > 3:
        h = h + xs.pop() * 0.1
    return sum(xs) * xs[-1] + h * len(xs)


@SETTINGS
@given(st.floats(0.05, 1.5))
def test_appends_in_a_data_dependent_while_loop(x):
    if _stable(grows_while, (x,)):
        check_grads(grows_while, (x,))


def rebuilt_every_iteration(x, m, n):
    total = 0.0
    for k in range(m):
        xs = []  # a new list every outer iteration
        for i in range(n + k):
            xs.append(x * (i - k) + 0.1 * total)
        if len(xs) > 1:
            xs.pop()
        total = total + xs[-1] * xs[0] + sum(v * v for v in xs)
    return total


@SETTINGS
@given(unit, st.integers(0, 4), st.integers(1, 4))
def test_lists_rebuilt_every_outer_iteration(x, m, n):
    check_grads(rebuilt_every_iteration, (x, m, n))


def stack_machine(x, n):
    stack = [x]
    for i in range(n):
        v = stack.pop()
        if v > 0.0:
            stack.append(v * 0.5)
        stack.append(v + math.sin(v))
    total = 0.0
    while len(stack) > 0:
        total = total + stack.pop() * (len(stack) + 1)
    return total


@SETTINGS
@given(unit, st.integers(0, 5))
def test_a_list_used_as_a_stack(x, n):
    if _stable(stack_machine, (x, n)):
        check_grads(stack_machine, (x, n))


def constant_list_read_by_active_code(x, n):
    ks = []  # no derivative flows through it, but the backward sweep reads it as it was
    y = x
    for i in range(n):
        ks.append(0.5 * i + 1.0)
        y = y * ks[-1] + math.sin(y) * ks[0]
        if len(ks) > 2:
            ks.pop(0)
    return y * sum(ks)


@SETTINGS
@given(unit, st.integers(0, 6))
def test_a_constant_list_changed_in_a_loop(x, n):
    check_grads(constant_list_read_by_active_code, (x, n))


# -- simulators and networks --------------------------------------------------------------------------


def euler_trajectory(x0, v0, k, n):
    """A damped pendulum integrated by explicit Euler; the loss reads the whole trajectory."""
    x, v = x0, v0
    traj = [x]
    dt = 0.05
    for step in range(n):
        a = -k * np.sin(x) - 0.1 * v
        v = v + dt * a
        x = x + dt * v
        traj.append(x)
    traj = np.array(traj)  # the same name, now an array
    target = np.linspace(0.0, 1.0, len(traj))
    return np.sum((traj - target) ** 2) + traj[-1] * v


@SETTINGS
@given(unit, unit, st.floats(0.5, 2.0), st.integers(0, 12))
def test_trajectory_recorder_in_an_euler_integrator(x0, v0, k, n):
    check_grads(euler_trajectory, (x0, v0, k, n))


def record(trajectory, x):
    trajectory.append(x * 1.0)


def states(x0, dt, n):
    out = [x0]
    x = x0
    for i in range(n):
        x = x + dt * np.tanh(x[::-1])
        record(out, x)  # a helper that appends to the caller's list
    return out


def vector_trajectory(x0, dt, n):
    traj = states(x0, dt, n)  # a helper that returns a list
    return np.sum(np.stack(traj) ** 2) + np.sum(traj[-1] * traj[0])


@SETTINGS
@given(seeds, st.floats(0.01, 0.3), st.integers(0, 6))
def test_helpers_that_fill_and_return_lists(seed, dt, n):
    x0 = np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    check_grads(vector_trajectory, (x0, dt, n))


def rnn_bptt(Wx, Wh, b, xs):
    """An Elman RNN whose hidden states are kept in a list; the loss reads every state (BPTT)."""
    h = np.zeros(Wh.shape[0])
    hs = []
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
        hs.append(h)
    loss = 0.0
    for t, h_t in enumerate(hs):
        loss = loss + np.sum(h_t * h_t) * (t + 1.0)
    return loss + np.sum(np.stack(hs)[:, 0]) + np.sum(hs[-1] * hs[len(hs) // 2])


@SETTINGS
@given(seeds, st.integers(1, 6))
def test_rnn_with_a_list_of_hidden_states(seed, steps):
    rng = np.random.default_rng(seed)
    Wx, Wh = rng.standard_normal((3, 2)) * 0.5, rng.standard_normal((3, 3)) * 0.5
    b, xs = rng.standard_normal(3) * 0.1, rng.standard_normal((steps, 2))
    check_grads(rnn_bptt, (Wx, Wh, b, xs), wrt=[0, 1, 2])


def test_rnn_gradient_matches_a_hand_written_bptt():
    rng = np.random.default_rng(3)
    Wx, Wh = rng.standard_normal((3, 2)) * 0.5, rng.standard_normal((3, 3)) * 0.5
    b, xs = rng.standard_normal(3) * 0.1, rng.standard_normal((5, 2))

    def plain(Wx, Wh, b, xs):  # the same loss with no list: an array of states
        h = np.zeros(3)
        hs = np.zeros((len(xs), 3))
        for t in range(len(xs)):
            h = np.tanh(Wx @ xs[t] + Wh @ h + b)
            hs[t] = h
        weights = np.arange(1.0, len(xs) + 1.0)
        return np.sum(hs * hs * weights[:, None]) + np.sum(hs[:, 0]) + np.sum(hs[-1] * hs[len(xs) // 2])

    assert rnn_bptt(Wx, Wh, b, xs) == pytest.approx(plain(Wx, Wh, b, xs), rel=1e-12)
    g = s2sad.grad(rnn_bptt, argnums=(0, 1, 2))(Wx, Wh, b, xs)
    expected = s2sad.grad(plain, argnums=(0, 1, 2))(Wx, Wh, b, xs)
    for mine, theirs in zip(g, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


# -- split mode, list outputs, has_aux ---------------------------------------------------------------


@pytest.mark.parametrize(
    "f,args",
    [
        (grows_and_shrinks, (0.3, 5)),
        (rebuilt_every_iteration, (0.4, 3, 2)),
        (stack_machine, (0.7, 4)),
        (constant_list_read_by_active_code, (0.3, 5)),
        (euler_trajectory, (0.2, -0.1, 1.3, 8)),
        (concatenate_and_repeat, (0.4, 3)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_pullback_called_twice_sees_the_lists_as_they_were(f, args):
    """The backward sweep undoes appends and pops on the recorded lists: each call has its own copies."""
    nums = tuple(i for i, a in enumerate(args) if isinstance(a, float))
    value, pullback = s2sad.vjp(f, *args)
    first, second, third = pullback(1.0), pullback(2.0), pullback(1.0)
    grads = s2sad.grad(f, argnums=nums)(*args)
    same_value, same_grads = s2sad.value_and_grad(f, argnums=nums)(*args)
    assert value == f(*args) == same_value
    for k, i in enumerate(nums):
        assert first[i] == pytest.approx(grads[k], rel=1e-12, abs=1e-300) == same_grads[k]
        assert second[i] == pytest.approx(2 * grads[k], rel=1e-12, abs=1e-300)
        assert third[i] == first[i]


def list_of_arrays_out(a, x):
    out = []
    for i in range(3):
        out.append(a * (i + x))
    out.pop(0)
    return out


def test_a_list_output_in_vjp_and_jvp():
    a, x = np.array([0.3, -0.5]), 0.7
    value, pullback = s2sad.vjp(list_of_arrays_out, a, x)
    assert isinstance(value, list) and len(value) == 2
    np.testing.assert_allclose(value[1], a * 2.7)
    g_list = pullback([np.ones(2), np.full(2, 2.0)])  # a cotangent per item, or an array of rows
    g_rows = pullback(np.array([[1.0, 1.0], [2.0, 2.0]]))
    np.testing.assert_allclose(g_list[0], [1.7 + 2 * 2.7] * 2)
    assert g_list[1] == pytest.approx(np.sum(a) + 2 * np.sum(a))
    np.testing.assert_allclose(g_rows[0], g_list[0])
    value2, tangent = s2sad.jvp(list_of_arrays_out, (a, x), (np.ones(2), 0.0))
    assert isinstance(tangent, list)
    np.testing.assert_allclose(tangent[0], [1.7, 1.7])
    check_grads(list_of_arrays_out, (a, x))


def loss_with_history(x):
    history = []
    for i in range(3):
        x = x * 0.9 + 0.1 * math.sin(x)
        history.append(x)
    return x * x, history


def test_has_aux_returns_the_list_as_the_forward_sweep_built_it():
    g, aux = s2sad.grad(loss_with_history, has_aux=True)(0.5)
    assert aux == loss_with_history(0.5)[1]
    value, pullback, aux2 = s2sad.vjp(loss_with_history, 0.5, has_aux=True)
    assert aux2 == aux and pullback(1.0)[0] == pytest.approx(g, rel=1e-12)
    h = 1e-6
    fd = (loss_with_history(0.5 + h)[0] - loss_with_history(0.5 - h)[0]) / (2 * h)
    assert g == pytest.approx(fd, rel=1e-7)


# -- the generated code ------------------------------------------------------------------------------


def appends_in_a_loop(x, n):
    xs = []
    for i in range(n):
        x = x * 0.5 + 1.0
        xs.append(x)
    return sum(xs)


@pytest.mark.generated_code
def test_generated_code_keeps_the_adjoint_list_aligned():
    reverse = s2sad.source(appends_in_a_loop, mode="grad", args=(0.3, 4))
    assert "xs_bar.pop()" in reverse and "xs.pop()" in reverse  # the backward sweep undoes the append
    forward = s2sad.source(appends_in_a_loop, mode="forward", args=(0.3, 4))
    assert "xs_dot = []" in forward and "xs_dot.append(x_dot)" in forward


# -- what is not supported: s2sad errors at the user's line, never a silent wrong derivative ----------


def two_names(x):
    xs = [x]
    ys = xs
    ys.append(x * 2.0)
    return xs[-1]


def item_changed_in_place(a):
    xs = []
    h = a * 2.0
    xs.append(h)
    h[0] = 5.0
    return np.sum(np.stack(xs))


def row_changed_in_place(a, i):
    xs = [a, a * 2.0]
    row = xs[i]
    row[0] = 1.0
    return np.sum(np.stack(xs))


def grows_while_iterated(x):
    xs = [x, x]
    for v in xs:
        if len(xs) < 5:
            xs.append(v * 2.0)
    return sum(xs)


def appends_to_an_array(a):
    a.append(1.0)
    return np.sum(a)


def slice_assignment(x):
    xs = [x, x, x]
    xs[0:2] = [x * 2.0]
    return xs[0]


def max_of_two_lists(x):
    xs = [x, x * 2.0]
    ys = [x * 3.0]
    return max(xs, ys)[0]


def index_method(x):
    xs = [x, 2.0 * x]
    i = xs.index(2.0 * x)
    return xs[i]


def depth_first(xs, n):
    if n == 0:
        return xs[0]
    return depth_first(xs, n - 1) * 2.0


def passes_a_list_to_a_recursive_function(x):
    return depth_first([x, x * x], 2)


def scales_down_a_list(x, ws):
    if len(ws) == 0:
        return x
    return scales_down_a_list(x * ws[0], ws[1:]) + ws[0]


def passes_a_computed_list_down(x):
    return scales_down_a_list(x, [x, 2.0, 3.0])


@pytest.mark.parametrize(
    "f,args,message,line",
    [
        (two_names, (0.5,), r"`ys = xs` makes `ys` another name for the list `xs`", "ys = xs"),
        (item_changed_in_place, (np.ones(2),), r"holds `h` itself", "xs.append(h)"),
        (row_changed_in_place, (np.ones(2), 1), r"`row` is an item of the list `xs`", "row = xs[i]"),
        (grows_while_iterated, (0.5,), r"changes while a `for` loop goes over it", "for v in xs:"),
        (appends_to_an_array, (np.ones(2),), r"`a` is not a list", "a.append(1.0)"),
        (slice_assignment, (0.5,), r"assigns a slice of the list `xs`", "xs[0:2] = [x * 2.0]"),
        (max_of_two_lists, (0.5,), r"`max` of the list", "return max(xs, ys)[0]"),
        (index_method, (0.5,), r"list method `index` is not supported", "i = xs.index(2.0 * x)"),
        (passes_a_list_to_a_recursive_function, (0.5,), r"is passed to `depth_first`", "return depth_first("),
        (passes_a_computed_list_down, (0.5,), r"^(?!.*computed value).*a list is passed to", "ws[1:]"),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else "",
)
def test_what_lists_do_not_support_is_a_clear_error(f, args, message, line):
    for transform in (lambda: s2sad.grad(f)(*args), lambda: s2sad.jvp(f, args, args)):
        with pytest.raises(s2sad.UnsupportedSyntaxError, match=message) as info:
            transform()
        text = str(info.value)
        assert "test_lists.py" in text and line in text and "hint:" in text
