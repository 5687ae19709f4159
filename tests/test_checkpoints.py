"""The checkpointing schedules (s2sad/checkpoints.py): revolve's counts, the driver's protocol,
the online schedule's bound, snapshots as copies."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2sad.runtime.checkpoints import (
    BinomialCheckpoints,
    OnlineCheckpoints,
    _Splits,
    optimal_advances,
    repetitions,
    revolve_actions,
)


def brute_force_advances(longest, most_snapshots):
    """The fewest advances reversing l steps with c snapshots, by exhaustive search over the first
    split (the recursion every schedule of this model follows), no formula used:
    F(1, c) = 0, F(l, 1) = l (l - 1) / 2, F(l, c) = min_j j + F(l - j, c - 1) + F(j, c)."""
    best = {}
    for length in range(1, longest + 1):
        for c in range(1, most_snapshots + 1):
            if length == 1:
                best[length, c] = 0
            elif c == 1:
                best[length, c] = best[length - 1, 1] + length - 1
            else:
                best[length, c] = min(j + best[length - j, c - 1] + best[j, c] for j in range(1, length))
    return best


BEST = brute_force_advances(90, 7)


def test_revolve_formula_is_the_minimum():
    for (length, c), advances in BEST.items():
        assert optimal_advances(length, c) == advances, (length, c)


def test_every_split_is_an_optimal_one():
    split = _Splits()
    for (length, c), advances in BEST.items():
        if length >= 2 and c >= 2:
            j = split(length, c)
            assert 1 <= j < length
            assert j + BEST[length - j, c - 1] + BEST[j, c] == advances, (length, c, j)


def test_repetition_number():
    assert [repetitions(n, 2) for n in (1, 2, 3, 4, 6, 7, 10, 11)] == [0, 1, 1, 2, 2, 3, 3, 4]
    assert repetitions(10**6, 50) == 5 and repetitions(10**7, 50) == 6


def run_actions(actions, steps, snapshots):
    """Play revolve's actions on a machine that checks them; returns the advances made."""
    held, position, advances, turned = set(), 0, 0, []
    for action, where in actions:
        if action == "takeshot":
            assert position == where
            held.add(where)
            assert len(held) <= snapshots
        elif action == "advance":
            assert position is not None and where > position
            advances += where - position
            position = where
        elif action == "restore":
            assert where in held
            position = where
        else:
            assert action in ("firsturn", "youturn") and position == where
            assert (action == "firsturn") == (not turned)
            turned.append(where)
            held.discard(where)
            position = None
    assert turned == list(range(steps - 1, -1, -1))
    return advances


@pytest.mark.parametrize("snapshots", [1, 2, 3, 5, 8])
def test_revolve_actions_make_the_optimal_advances(snapshots):
    for steps in list(range(0, 70)) + [200, 1000]:
        actions = revolve_actions(steps, snapshots)
        assert run_actions(actions, steps, snapshots) == optimal_advances(steps, snapshots), steps


def test_revolve_actions_large():
    assert run_actions(revolve_actions(20000, 12), 20000, 12) == optimal_advances(20000, 12)


def drive(schedule, steps, start=1.0, keep=False, forward=True):
    """Run a loop of `steps` steps (state: the position and a value) under `schedule` the way
    generated code does; check every turn sees the true state; return the advances made."""
    trajectory = [start]
    for k in range(steps):
        trajectory.append(np.sin(trajectory[-1]) + 0.1 * k)
    step = lambda k, x: np.sin(x) + 0.1 * k
    x = start
    for k in range(steps if forward else 0):
        if isinstance(schedule, OnlineCheckpoints):
            schedule.store(k, (k, x))
        elif k == schedule.due:
            schedule.store(k, (k, x))
        x = step(k, x)
    if forward:
        schedule.stop(steps)
        assert x == trajectory[steps]
    advances, turned, before = 0, [], schedule.advances
    for first, turn, k_x in schedule.reversal(keep=keep):
        position, x = k_x
        assert position == first and x == trajectory[first]
        for k in range(first, turn):
            if k == schedule.due:
                schedule.store(k, (k, x))
            x = step(k, x)
            advances += 1
        assert x == trajectory[turn]
        turned.append(turn)
        assert len(schedule.saved) <= schedule.snapshots + (turn == steps - 1)
    assert turned == list(range(steps - 1, -1, -1))
    assert schedule.advances - before == advances
    return advances


CASES = [(0, 3), (1, 1), (1, 4), (2, 1), (3, 5), (4, 4), (5, 2), (7, 1), (10, 3), (30, 4), (100, 6), (257, 3)]


@pytest.mark.parametrize("steps, snapshots", CASES)
def test_binomial_driver_recomputes_revolves_optimum(steps, snapshots):
    schedule = BinomialCheckpoints(steps, snapshots)
    assert schedule.predicted_advances() == optimal_advances(steps, snapshots) - max(steps - 1, 0)
    assert drive(schedule, steps) == schedule.predicted_advances()
    assert schedule.most_held <= snapshots + 1  # + the state before the last step (revolve's current state)
    assert not schedule.saved  # every snapshot freed


@pytest.mark.parametrize("steps, snapshots", CASES)
def test_online_driver_holds_at_most_its_snapshots(steps, snapshots):
    schedule = OnlineCheckpoints(snapshots)
    predicted = None
    if steps:
        for k in range(steps):
            schedule.store(k, (k, 0.0))
        schedule.stop(steps)
        predicted = schedule.predicted_advances()
    schedule = OnlineCheckpoints(snapshots)
    made = drive(schedule, steps)
    assert predicted is None or made == predicted
    assert schedule.most_held <= snapshots


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.integers(1, 12))
def test_online_schedule_against_revolve(steps, snapshots):
    """Whatever the trip count, every step is advanced at most once more than revolve's repetition
    number allows (the forward sweep included), and the total stays near revolve's optimum."""
    schedule = OnlineCheckpoints(snapshots, copies=False)
    for k in range(steps):
        schedule.store(k, k)
    schedule.stop(steps)
    count = Counter(range(steps))
    for first, turn, _ in schedule.groups():
        count.update(range(first, turn))
    assert max(count.values(), default=0) <= repetitions(steps, snapshots) + 1
    total = steps + schedule.predicted_advances()
    assert total >= optimal_advances(steps, snapshots) + (steps > 0)
    assert len(schedule.saved) <= snapshots


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=4), st.integers(1, 6))
def test_schedules_are_reusable_across_calls(trips, snapshots):
    """A new schedule per loop entry; a `while` loop's trip count may change from call to call."""
    for steps in trips:
        assert drive(OnlineCheckpoints(snapshots), steps) == Online_predicted(steps, snapshots)
        assert (
            drive(BinomialCheckpoints(steps, snapshots), steps)
            == BinomialCheckpoints(steps, snapshots).predicted_advances()
        )


def Online_predicted(steps, snapshots):
    schedule = OnlineCheckpoints(snapshots, copies=False)
    for k in range(steps):
        schedule.store(k, k)
    schedule.stop(steps)
    return schedule.predicted_advances()


def test_snapshots_are_copies():
    field = np.arange(4.0)
    schedule = BinomialCheckpoints(3, 2)
    schedule.store(0, (field, [field], 2.0))
    field[:] = -1.0  # an in-place write after the snapshot
    schedule.store(1, (field, [field], 3.0))
    schedule.store(2, (field, [field], 4.0))
    states = []
    for first, turn, (u, us, c) in schedule.reversal():
        for k in range(first, turn):
            u += 1.0
        states.append((first, u.copy(), us[0].copy(), c))
        u[:] = 99.0  # the turned step writes into the restored state
        us[0][:] = 99.0
    assert [first for first, *_ in states] == [2, 1, 0]
    assert states[-1][1].tolist() == [0.0, 1.0, 2.0, 3.0] and states[-1][2].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert states[0][1].tolist() == [-1.0] * 4


def test_split_mode_reverses_again():
    """`keep=True`: the forward sweep's snapshots stay for the next pullback call."""
    schedule = BinomialCheckpoints(20, 3)
    assert drive(schedule, 20, keep=True) == drive(schedule, 20, keep=True, forward=False)
    assert schedule.advances == 2 * schedule.predicted_advances()
    online = OnlineCheckpoints(3)
    assert drive(online, 20, keep=True) == drive(online, 20, keep=True, forward=False)


def test_errors():
    with pytest.raises(ValueError, match="at least 1"):
        BinomialCheckpoints(10, 0)
    with pytest.raises(ValueError, match="whole number"):
        OnlineCheckpoints(2.5)
    online = OnlineCheckpoints(3)
    online.store(0, (1.0,))
    with pytest.raises(RuntimeError, match="before the loop ended"):
        next(online.reversal())
