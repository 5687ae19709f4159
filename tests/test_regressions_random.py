"""Minimized reproductions of compiler bugs found by tests/test_random_programs.py.

Each test is one small program with the FD-matching answer it must give. They fail
until the compiler is fixed; when one passes, drop the matching entry from
`KNOWN_BROKEN` in tests/test_random_programs.py so the random programs cover the
construct again.
"""

import math

import numpy as np
import pytest

import s2sad


def _fd_gradient(f, args, wrt, h=1e-6):
    """Central finite differences of scalar `f` w.r.t. the arguments in `wrt` (float64)."""
    grads = []
    for i in wrt:
        arg = args[i]
        if isinstance(arg, np.ndarray):
            g = np.zeros_like(arg)
            for k in range(arg.size):
                plus, minus = arg.copy(), arg.copy()
                plus.flat[k] += h
                minus.flat[k] -= h
                g.flat[k] = (f(*args[:i], plus, *args[i + 1 :]) - f(*args[:i], minus, *args[i + 1 :])) / (
                    2 * h
                )
            grads.append(g)
        else:
            grads.append(
                (f(*args[:i], arg + h, *args[i + 1 :]) - f(*args[:i], arg - h, *args[i + 1 :])) / (2 * h)
            )
    return grads


def _basis(args, i, k):
    out = []
    for j, a in enumerate(args):
        t = np.zeros_like(a, dtype=float) if isinstance(a, np.ndarray) else 0.0
        if j == i:
            if isinstance(t, np.ndarray):
                t.flat[k] = 1.0
            else:
                t = 1.0
        out.append(t)
    return tuple(out)


def check_forward(f, args, wrt):
    expected = _fd_gradient(f, args, wrt)
    for i, e in zip(wrt, expected):
        for k in range(np.size(e)):
            tangents = _basis(args, i, k)
            kept = [t.copy() if isinstance(t, np.ndarray) else t for t in tangents]
            value, dot = s2sad.jvp(f, args, tangents)
            assert value == pytest.approx(f(*args), rel=1e-12)
            assert float(dot) == pytest.approx(float(np.ravel(e)[k]), rel=1e-6, abs=1e-7), (i, k)
            for t, t0 in zip(tangents, kept):  # the caller's tangents are not written to
                np.testing.assert_array_equal(t, t0)


def check_reverse(f, args, wrt, calls=1):
    expected = _fd_gradient(f, args, wrt)
    value, pullback = s2sad.vjp(f, *args)
    assert value == pytest.approx(f(*args), rel=1e-12)
    for _ in range(calls):  # a pullback may be called many times
        cotangents = pullback(1.0)
        for i, e in zip(wrt, expected):
            assert np.shape(cotangents[i]) == np.shape(args[i])
            np.testing.assert_allclose(cotangents[i], e, rtol=1e-6, atol=1e-7)
    grads = s2sad.grad(f, argnums=tuple(wrt))(*args)
    for i, g, e in zip(wrt, grads, expected):
        assert np.shape(g) == np.shape(args[i]), f"grad w.r.t. argument {i} has the wrong shape"
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)


def check(f, args, wrt=None, calls=1):
    wrt = [i for i, a in enumerate(args) if isinstance(a, (float, np.ndarray))] if wrt is None else wrt
    check_forward(f, args, wrt)
    check_reverse(f, args, wrt, calls)


A3 = np.array([0.2, -0.4, 0.7])


# 1. `(-1.25) ** 2` is emitted as `-1.25 ** 2` (= -1.5625): wrong primal and derivative in
#    both modes; `((-1.25) ** 2 + 1.0) ** 0.5` even becomes complex.
#    expected value 0.78125, d/dx 1.5625; got value -0.78125, d/dx -1.5625.
def negative_constant_base(x):
    return x * (-1.25) ** 2


def test_negative_constant_base_under_pow():
    check(negative_constant_base, (0.5,))


# 2. Forward mode: assigning a value that does not depend on the inputs, inside a loop,
#    does not reset the variable's tangent. jvp w.r.t. x: expected 0.0, got 1.0.
def constant_assign_in_loop(x, n):
    for i in range(n):
        x = 2.0
    return x


def constant_assign_in_while(x):
    k = 0
    while k < 2:
        k += 1
        x = math.sin(2.0) + k
    return x


def constant_array_assign_in_loop(x, a):
    b = a * x
    for i in range(2):
        b = np.zeros(3)
    return np.sum(b)


def test_constant_assign_in_for_loop_resets_tangent():
    check(constant_assign_in_loop, (0.5, 3))


def test_constant_assign_in_while_loop_resets_tangent():
    check(constant_assign_in_while, (0.5,))


def test_constant_array_assign_in_loop_resets_tangent():
    # forward: expected 0, got 0.5 for x and for each a[k]; reverse: grad w.r.t. `a`
    # comes back as the float 0.0 instead of an array of shape (3,)
    check(constant_array_assign_in_loop, (0.5, A3.copy()))


# 3. Forward mode: a variable initialized with a constant before a loop and assigned an
#    active value inside it keeps a zero tangent (`return (v, _rt.zeros_like(v))`).
#    jvp: expected 2.0, got 0.0.
def constant_init_active_in_loop(x):
    v = 0.0
    for i in range(3):
        v = x * 2.0
    return v


def test_constant_init_then_active_assign_in_loop():
    check(constant_init_active_in_loop, (0.5,))


# 4. `for v in array` with `break`, `continue` or `return` in the body: the generated code
#    reads `_sequence1`, which is never assigned -> NameError, both modes.
def iterate_with_break(x, y, a):
    for e in a:
        if e < x:
            break
        y = y * e
    return y


def iterate_with_continue(x, y, a):
    for e in a:
        if e < x:
            continue
        y = y * e
    return y


def zip_with_return(x, y, a):
    for p, q in zip(a, a[1:]):
        if q > x:
            return y * p
    return y


@pytest.mark.parametrize(
    "f", [iterate_with_break, iterate_with_continue, zip_with_return], ids=lambda f: f.__name__
)
def test_early_exit_from_loop_over_array(f):
    check(f, (0.5, -0.3, A3.copy()))


# 5. Chained comparisons whose operands are not plain names use the wrong temporary:
#    `0.5 < a[0] < 2.5` becomes `_t2 = 0.5 < _t2` -> UnboundLocalError, both modes.
def chained_with_subscript(x, a):
    if 0.5 < a[0] < 2.5:
        x = x * 2.0
    return x


def chained_with_call(x, a):
    if 0.5 < np.sum(a * a) < 2.5:
        return x * x
    return x


# ... and with a conditional expression in the middle, the ternary's assignments are
#    dropped (`if _t1:` with an empty body -> IndentationError) and its test is compared.
def chained_with_ternary(x, y):
    if 1.0 < (y if x < 0.2 else x) < 2.0:
        return y * 2.0
    return x


def test_chained_comparison_with_subscript():
    check(chained_with_subscript, (0.5, np.array([1.0, 2.0, 3.0])))


def test_chained_comparison_with_call():
    check(chained_with_call, (0.5, np.array([1.0, 0.5, 0.2])))


def test_chained_comparison_with_ternary():
    check(chained_with_ternary, (1.5, -0.3))


# 6. Forward mode: `return` inside a loop. After the loop, the join writes
#    `else: _retval_dot = _rt.zeros_like(_retval)`, losing the returned tangent.
#    jvp: expected 2.0, got 0.0 (reverse mode is right).
def return_inside_loop(x, y):
    for i in range(4):
        if y > 0.0:
            return x * 2.0
    return y


def test_return_inside_loop_forward():
    check(return_inside_loop, (0.047, 1.8))


# 7. A pullback can be called once only: the second call returns a zero gradient for `a`
#    (the backward sweep consumes / overwrites a stored array).
def pullback_twice(x, a):
    b = np.zeros(3)
    b[1] = x
    b = b * np.sum(a)
    return np.sum(b * b)


def test_pullback_called_twice():
    check_reverse(pullback_twice, (0.5, np.array([1.0, 2.0, 3.0])), [0, 1], calls=2)


# 8. Iterating over an array that is written in place anywhere in the function is
#    rejected: UnsupportedSyntaxError "`_sequence1 = b` makes `_sequence1` another name
#    for the array `b`..." (the alias is the compiler's own desugaring).
def iterate_written_array(x):
    b = np.zeros(2)
    b[1] = x
    s = 0.0
    for e in b:
        s = s + e * e
    return s


def test_iterate_over_array_written_in_place():
    check(iterate_written_array, (0.5,))


# 9. Forward mode: `b = a * 1.0` is simplified to `b_dot = a_dot` (an alias), so
#    `b[2] = x` then writes `a_dot[2] = x_dot`: the tangent of `a` is corrupted and the
#    caller's tangent array is modified. jvp w.r.t. x: expected 1.0, got 2.0;
#    w.r.t. a[2]: expected 1.0, got 0.0.
def copy_times_one_then_write(x, a):
    b = a * 1.0
    b[2] = x
    return np.sum(a) + np.sum(b)


def test_copy_by_times_one_then_setitem():
    check(copy_times_one_then_write, (0.5, np.array([1.0, 2.0, 3.0])))


# 10. Split mode (vjp): the residual `_t1 = b[1:3]` is a view of `b`, which the forward
#     sweep then overwrites in place; the backward sweep restores a copy of `b`, so the
#     view still holds the new values. pullback(1.0): expected 2.0, got 1.0 (grad, the
#     joint mode, is right).
def slice_read_then_written(x):
    b = np.ones(3)
    b[1:3] = b[1:3] * x
    return np.sum(b * b)


def test_slice_view_residual_in_split_mode():
    check_reverse(slice_read_then_written, (0.5,), [0])


# 11. Reverse mode: a chained comparison in an `if` desugars to `_t2 = -1.5 < y`,
#     `if _t2: _push(_t2); _t2 = y < -0.5`. The backward sweep pops `_t2` only when the
#     *final* `_t2` is true, so when the first comparison holds and the second does not,
#     the stack is left out of step and `x = _pop()` later restores `True` instead of x.
#     grad at y=1.487: expected 0.7435 (= y / 2), got 1.0 (forward mode is right).
def chained_comparison_in_if(y):
    x = y * 0.5
    x *= x
    if -1.5 < y < -0.5:
        x *= y
    return x


def test_chained_comparison_in_if_reverse():
    check(chained_comparison_in_if, (1.487,))


# 12. A branch whose body becomes empty after optimization gives invalid generated code
#     (IndentationError "expected an indented block after 'if' statement"), both modes:
#     a self-assignment `x = x`, or an `elif` with a chained comparison and `pass`.
def self_assignment_in_branch(x, y):
    if x > 0.0:
        x = x
    return x + y


def chained_comparison_in_empty_elif(x, y):
    if not (abs(y) > 0.1):
        y -= 2.0
    elif -1.5 < y < 0.5:
        pass
    return x + y


def test_self_assignment_in_branch():
    check(self_assignment_in_branch, (0.5, -0.3))


def test_chained_comparison_in_empty_elif():
    check(chained_comparison_in_empty_elif, (0.926, -0.021))


# 13. Loop-invariant hoisting moves `y = -x` out of a loop that runs zero times, so the
#     derivative code returns -x where the function returns y (wrong primal and tangent).
#     jvp at n=0: expected (y, y_dot), got (-x, -x_dot).
def hoisted_from_empty_loop(x, y, n):
    for i in range(n):
        y = -x
    return y


def test_loop_invariant_not_hoisted_out_of_empty_loop():
    check(hoisted_from_empty_loop, (0.548, -0.921, 0))
    check(hoisted_from_empty_loop, (0.548, -0.921, 2))


# 14. More branches / loops whose adjoint body ends up empty: reverse mode raises
#     IndentationError ("expected an indented block after 'if' / 'for' statement").
#     (Smallest programs found; removing any line makes them pass.)
def empty_adjoint_loop_in_branch(x, y, a):
    if (a[-1] - 1.5) > 0.3:
        for i0, e1 in enumerate(a):
            y -= -0.7
    elif np.sum(a) >= y or (x + a[0]) < 0.3:
        pass
    else:
        pass
    return -1.25 * y


def empty_adjoint_branch(x, y):
    if -y < 0.1:
        x += 0.5 - 0.5
        v0 = x * x
    elif -x <= 1.5:
        y *= 2.0
        x = 2.0
    else:
        x += (0.3) ** 3
    return 0.3 * x + y


def test_empty_adjoint_loop_in_branch():
    check(empty_adjoint_loop_in_branch, (-0.935, 0.101, np.array([1.289, 1.368, 0.08])))


def test_empty_adjoint_branch():
    check(empty_adjoint_branch, (1.073, -1.681))


# 15. (still failing at d766c88) A chained comparison inside a loop with an early return
#     takes the wrong branch in the derivative code: at x=0.5, `0.5 < 0.05 < 2.5` is False
#     and f returns x, but jvp / vjp / grad all return y's value 0.382 and derivative
#     (0, 1) instead of 0.5 and (1, 0). In larger programs the same construct gives
#     `_t28 = -1.5 < _t28` -> UnboundLocalError in forward mode.
def chained_comparison_return_in_loop(x, y):
    for i in range(2):
        if 0.5 < x * 0.1 < 2.5:
            return y
    return x


def test_chained_comparison_with_return_in_loop():
    check(chained_comparison_return_in_loop, (0.5, 0.382))


# 16. The joint, split-forward and split-backward functions shared statement nodes, and the
#     peepholes that rewrite one function in place changed the others: vjp's primal value
#     came out doubled (3.491 instead of 1.746) after `b += b` on an array.
def peephole_shared_nodes(x, y, a, n):
    b0 = np.ones(2) * 0.5
    x = min((a[0] + x), (x / 2.0))
    b0[0:] = ((b0 + b0[0]))[0:]
    b0[0] *= math.sin(math.sin(b0[0]))
    b0 += b0
    return np.mean(b0) + 0.0 * x


def test_peepholes_do_not_leak_between_split_functions():
    args = (0.548, -0.921, np.array([-1.836, -1.934]), 0)
    value, pullback = s2sad.vjp(peephole_shared_nodes, *args)
    assert value == pytest.approx(peephole_shared_nodes(*args), rel=1e-12)
    check(peephole_shared_nodes, args)


# 17. Forward mode: a single-use tangent `_t6_dot = _t5 * x_dot` was inlined past
#     `b0[0:4] = _t6`, where `_t5 = b0[0:4]` is a view that the write changes (J v = 4.317,
#     finite differences 3.510). Generated-code peepholes no longer move reads across
#     in-place writes.
def tangent_moved_past_view_write(x, y, a, n):
    b0 = np.ones(4) * 0.5
    x = min((a[-4] + x), (x / 2.0))
    b0[0:4] = b0[0:4] * x
    b0[1:] = (b0)[1:]
    x /= (b0[1]) ** 2 + 1.0
    y, x = x, (y + a[0])
    return x + 3.0 * y + np.sum(np.sin(a)) + np.sum(np.sin(b0))


def test_peephole_does_not_move_reads_past_in_place_writes():
    check(tangent_moved_past_view_write, (-1.98, 1.747, np.array([0.198, 1.197, 1.022, 0.227]), 1))


# 18. `for e3, e4 in zip(a, b0)` iterates a desugared `_sequence = b0`; an in-place write
#     to `b0` after the loop was rejected as an alias ("one of them is written in place")
#     although nothing reads the sequence any more. Only writes inside the loop count.
def alias_written_after_loop(x, y, a, n):
    b0 = np.zeros(2)
    for i1, e2 in enumerate(a):
        for e3, e4 in zip(a, b0):
            b0 += a * x
    b0[0] = x
    return np.sum(b0 * b0)


def test_sequence_written_after_its_loop_is_not_an_alias():
    check(alias_written_after_loop, (0.548, -0.921, np.array([-1.836, -1.934]), 0))


# 19. A helper that allocates an array, fills it in place and returns it, called in a loop
#     nested in another loop: the inliner's `b4 = out` was refused as an alias because the
#     liveness scan treated the inner loop as reading `out` (it does, but only after its own
#     `out = np.zeros(...)`). A loop body may run no time; a rebinding inside it covers the
#     reads after it, so the array is dead after `b4 = out` on every path.
def _filled(v, c):
    out = np.zeros(len(v))
    for i in range(len(v)):
        out[i] = math.sin(v[i]) * c
    np.add.at(out, [0, 0], c * c)
    return out


def helper_array_in_nested_loops(x, y, a, n):
    for e in a:
        for i in range(2):
            b4 = _filled(a, x)
            x = x + 0.1 * np.sum(b4) * e
    return x * y


def test_helper_array_returned_in_nested_loops_is_not_an_alias():
    check(helper_array_in_nested_loops, (0.548, -0.921, np.array([-1.836, -1.934]), 0))


# The break path leaves the loop without the rebinding: `b` still names `out`'s array.
def alias_kept_on_the_break_path(x, a):
    out = np.zeros(3)
    for i in range(3):
        b = out
        b[i] = x * a[i]
        if x > 10.0:
            break
        out = np.ones(3)
    return np.sum(out * a) + np.sum(b)


def test_alias_kept_on_a_break_path_is_refused():
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="another name for the array `out`"):
        s2sad.grad(alias_kept_on_the_break_path)(0.9, np.array([0.3, -0.7, 1.1]))
