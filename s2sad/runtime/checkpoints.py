"""Checkpointing schedules for loops, and the run-time driver generated code calls for them.

Reverse mode records, in every iteration of a loop, what the backward sweep will need: the
memory grows with the trip count. A loop marked `# s2sad: checkpoint snapshots=N` instead keeps
at most N *snapshots* of its loop-carried state (copies of the variables the iterations hand
on to each other) and recomputes forward from the nearest snapshot when the backward sweep
needs a step: only one step's record exists at a time.

Model (Griewank and Walther's): steps 0 .. n-1, the state before step k is "position k". To
*turn* step k is to run it once more while recording (the ordinary tape) and then run its
adjoint; that needs the state at position k. An *advance* runs one step without recording.
The cost of a schedule is its number of advances; every step is turned exactly once.

Two schedules:

- `BinomialCheckpoints` (counted loops, `for t in range(n)`: n is known when the loop starts)
  follows Griewank and Walther's binomial schedule, revolve: A. Griewank, A. Walther, "Algorithm
  799: revolve: an implementation of checkpointing for the reverse or adjoint mode of
  computational differentiation", ACM TOMS 26(1):19-45, 2000, doi:10.1145/347837.347846. With s
  snapshots the fewest advances that reverse n steps are `t*n - C(s+t, t-1)` where t, the
  repetition number, is the smallest integer with `C(s+t, s) >= n` (`optimal_advances`). The
  schedule here is the recursive form: to reverse steps [a, b) holding the state at a and c
  snapshots, advance to a split point m, store it, reverse [m, b) with c - 1 snapshots, free m,
  reverse [a, m) with c. Its split is always an optimal one: with l = b - a and t the repetition
  number of (l, c), the optimal m - a are exactly [max(l - C(c-1+t, t), C(c+t-2, t-2)),
  min(C(c+t-1, t-1), l - C(c+t-2, t-1))] (found and checked against a brute-force minimum in the
  tests), so the advances equal the formula. Its first sweep is the loop's own forward sweep:
  the snapshots of revolve's first sweep are taken as the loop runs, and so is the state before
  the last step, which revolve holds as its current state when it turns the last step (so at
  most s + 1 states are held, as in revolve).

- `OnlineCheckpoints` (`while` loops: the trip count is known only when the loop ends) keeps its
  snapshots with the dynamic checkpointing rule of Q. Wang, P. Moin, G. Iaccarino, "Minimal
  repetition dynamic checkpointing algorithm for unsteady adjoint calculation", SIAM J. Sci.
  Comput. 31(4):2549-2567, 2009, doi:10.1137/080727890: every position is stored as it is
  reached; each snapshot has a level (position 0: infinity, a new one: 0); when all s are in use,
  the newest snapshot whose level is below the level of a newer one is dropped, or, if there is
  none, the newest snapshot (level l) is dropped and the new one gets level l + 1. They prove the
  snapshots held at any time allow the reversal with the optimal repetition number. When the loop
  has ended, the stretches between snapshots are reversed newest first, each with the binomial
  schedule above and the snapshots the older stretches do not hold (at most s in all). Measured
  here: no step runs more than once more than revolve's repetition number allows, and the total
  of steps run is within 1.4 % of revolve's offline optimum at n = 10^6, s = 50.

How generated code drives them (the names are the transform's; `S` stands for the tuple of the
loop's state variables):

    _ck = BinomialCheckpoints(range(n), 20)   # or OnlineCheckpoints(20) before a `while` loop
    for k in range(n):                 # the forward sweep: the primal loop, nothing recorded
        if k == _ck.due:               # online: `_ck.store(k, S)` every iteration
            _ck.store(k, S)
        <step k>
    _ck.stop(n)                        # online only: the trip count, once known
    ...
    for first, turn, S in _ck.reversal():   # the backward sweep: S is a copy of a snapshot
        for k in range(first, turn):         # advance, storing where the schedule says
            if k == _ck.due:
                _ck.store(k, S)
            <step k>
        <step `turn`, recording>  <its adjoint>

Snapshots are copies: arrays (and lists of them) are copied when stored and again when given
back, so in-place writes in the loop never reach a snapshot.

>>> def reverse(schedule, n, x=1.0):
...     for k in range(n):                      # the forward sweep: x doubles every step
...         if k == schedule.due:
...             schedule.store(k, (x,))
...         x = 2 * x
...     schedule.stop(n)
...     turned = []
...     for first, turn, (x,) in schedule.reversal():
...         for k in range(first, turn):
...             if k == schedule.due:
...                 schedule.store(k, (x,))
...             x = 2 * x
...         turned.append((first, turn, x))     # x is the state before step `turn`: 2 ** turn
...     return turned
>>> reverse(BinomialCheckpoints(5, 2), 5)   # (restored from, step turned, state)
[(4, 4, 16.0), (3, 3, 8.0), (0, 2, 4.0), (1, 1, 2.0), (0, 0, 1.0)]
>>> optimal_advances(5, 2), BinomialCheckpoints(5, 2).predicted_advances()   # revolve counts its first sweep (4)
(6, 2)
"""

import bisect
import math

import numpy as np

__all__ = ["BinomialCheckpoints", "OnlineCheckpoints", "optimal_advances", "repetitions", "revolve_actions"]


def _beta(snapshots, repetitions):
    """C(s + t, s): how many steps s snapshots reverse with each step advanced at most t times."""
    return math.comb(snapshots + repetitions, snapshots) if repetitions >= 0 else 0


def repetitions(steps, snapshots):
    """The repetition number: the smallest t with C(s + t, s) >= steps (0 for one step or none)."""
    t = 0
    while _beta(snapshots, t) < steps:
        t += 1
    return t


def optimal_advances(steps, snapshots):
    """Revolve's minimum of advances (unrecorded steps, its first sweep included) that reverse
    `steps` steps with `snapshots` snapshots: t*n - C(s+t, t-1), t the repetition number."""
    _check_snapshots(snapshots)
    if steps <= 1:
        return 0
    t = repetitions(steps, snapshots)
    return t * steps - _beta(snapshots + 1, t - 1)


class _Splits:
    """Where to split a stretch of `length` >= 2 steps held with `snapshots` >= 2 snapshots: the
    largest of the optimal splits (all give the fewest advances). Tables of C(c + t, c) by t, one
    per snapshot count c, make it a lookup (the backward sweep splits about once per step)."""

    def __init__(self):
        self.tables = {}

    def __call__(self, length, snapshots):
        table = self.tables.get(snapshots)
        if table is None or table[-1] < length:
            table = self.tables[snapshots] = self._table(snapshots, length)
        t = bisect.bisect_left(table, length)  # the repetition number: table[t - 1] < length <= table[t]
        below = t if snapshots == 2 else self.tables[snapshots - 1][t - 1]  # C(c - 1 + t - 1, c - 1)
        return min(length - 1, table[t - 1], length - below)

    def _table(self, snapshots, length):
        if snapshots > 2 and (snapshots - 1 not in self.tables or self.tables[snapshots - 1][-1] < length):
            self.tables[snapshots - 1] = self._table(snapshots - 1, length)
        table = [1]
        while table[-1] < length:
            table.append(_beta(snapshots, len(table)))
        return table


def _check_snapshots(snapshots):
    if type(snapshots) is not int or snapshots < 1:
        raise ValueError(f"checkpointing needs a whole number of snapshots, at least 1 (got {snapshots!r})")


def _copied(value):
    """A copy of a snapshot: arrays copied, lists, tuples and dicts rebuilt, anything else as is."""
    if value.__class__ is tuple:
        return tuple([_copied(v) for v in value])
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    return value


class Checkpoints:
    """What both schedules share: the snapshots held, the stretches to reverse, the counts."""

    def __init__(self, snapshots, copies=True):
        _check_snapshots(snapshots)
        self.snapshots = snapshots
        self.copies = copies  # False when the compiler knows the state holds no arrays or lists
        self.saved = {}  # position -> state
        self.due = -1  # the next position the running loop stores (-1: none)
        self.steps = None
        self.advances = 0  # steps recomputed, unrecorded, by the reversals so far
        self.turns = 0
        self.most_held = 0  # most snapshots held at once
        self.initial = None  # the state at position 0 (kept after its snapshot is freed)
        self._pending = iter(())
        self._split = _Splits()

    def _store_planned(self, position, state):
        """Keep a copy of the state at `position`; `due` becomes the next position to store."""
        self.saved[position] = state = _copied(state) if self.copies else state
        if not position:
            self.initial = state
        if len(self.saved) > self.most_held:
            self.most_held = len(self.saved)
        self.due = next(self._pending, -1)

    store = _store_planned

    def stop(self, steps):
        """The loop ran `steps` iterations."""
        self.steps = steps

    def _tasks(self):
        """The stretches (first, stop, snapshots) left to reverse, the one to reverse first last."""
        raise NotImplementedError

    def groups(self):
        """(first, turn, stores): restore the snapshot at `first`, advance to `turn` storing at
        `stores` on the way, turn step `turn`. Nothing is stored or freed: see `reversal`."""
        tasks = self._tasks()
        split = self._split
        while tasks:
            first, stop, snapshots = tasks.pop()
            if not snapshots:  # a run: every position of [first, stop) is held, turn them newest first
                for position in range(stop - 1, first - 1, -1):
                    yield position, position, ()
                continue
            start, stores = first, []
            while stop - first > 1:
                if snapshots == 1:  # no snapshot to spare: advance to the last step from `first`
                    tasks.append((first, stop - 1, 1))
                    first = stop - 1
                    break
                if stop - first <= snapshots + 1:  # repetition number 1: store every position on the way
                    stores.extend(range(first + 1, stop - 1))
                    tasks.append((first, stop - 1, 0))
                    first = stop - 1
                    break
                middle = first + split(stop - first, snapshots)
                tasks.append((first, middle, snapshots))
                if middle < stop - 1:  # (a snapshot right before the turn would be freed unused)
                    stores.append(middle)
                first, snapshots = middle, snapshots - 1
            yield start, first, stores

    def reversal(self, keep=False):
        """Yield (first, turn, state): the caller advances from `first` (its state a fresh copy of
        the snapshot) to `turn`, storing where `due` says, then turns step `turn`. The snapshot of
        a turned position is freed. `keep=True` leaves the forward sweep's snapshots in place for
        another reversal (split mode: a pullback may be called again)."""
        if self.steps is None:
            raise RuntimeError("checkpointing: the loop's reversal started before the loop ended")
        forward = dict(self.saved) if keep else None
        self.store = self._store_planned  # (the online schedule's own rule is for the forward sweep)
        saved, copies, advances, turns = self.saved, self.copies, 0, 0
        try:
            for first, turn, stores in self.groups():
                if stores:
                    self._pending = pending = iter(stores)
                    self.due = next(pending)
                else:
                    self.due = -1
                advances += turn - first
                turns += 1
                yield first, turn, (_copied(saved[first]) if copies else saved[first])
                if turn in saved:
                    del saved[turn]
        finally:
            del self.store
            self.advances += advances
            self.turns += turns
            self._pending = iter(())
            self.due = -1
            self.saved = forward if keep else {}

    def start(self, current):
        """The state before the loop's first step (a copy), or `current` if the loop did not run."""
        if self.initial is None:
            return current
        return _copied(self.initial) if self.copies else self.initial

    def predicted_advances(self):
        """The advances a reversal will make (counted without running anything)."""
        return sum(turn - first for first, turn, _ in self.groups())


class BinomialCheckpoints(Checkpoints):
    """Revolve's schedule for a loop over `steps` (a `range`, or a trip count) with `snapshots`
    snapshots (see the module docstring); `due` walks the positions the forward sweep stores;
    `values` are the loop variable's values by position."""

    def __init__(self, steps, snapshots, copies=True):
        super().__init__(snapshots, copies)
        self.values = steps if isinstance(steps, range) else range(steps)
        self.steps = steps = len(self.values)
        self._first_tasks = []
        self.chain = []  # the positions revolve's first sweep stores
        if steps == 0:
            return
        chain = self.chain
        chain.append(0)
        first, stop, left = 0, steps, snapshots
        while stop - first > 1 and left > 1:  # the first sweep: one store per level of the recursion
            middle = first + self._split(stop - first, left)
            self._first_tasks.append((first, middle, left))
            if middle == stop - 1:
                break
            chain.append(middle)
            first, left = middle, left - 1
        if stop - first > 1 and left == 1 and chain[-1] != stop - 1:
            self._first_tasks.append((first, stop - 1, 1))
        self._pending = iter(
            chain + [steps - 1] if chain[-1] != steps - 1 else chain
        )  # (revolve's current state)
        self.due = next(self._pending)

    def stop(self, steps):
        if steps != self.steps:
            raise RuntimeError(
                f"checkpointing: the loop ran {steps} iterations, not the {self.steps} planned"
            )

    def _tasks(self):
        return self._first_tasks + [(self.steps - 1, self.steps, 1)] if self.steps else []

    def predicted_advances(self):
        """Revolve's optimum without its first sweep (the loop itself ran that): t*n - C(s+t, t-1) - (n - 1)."""
        return optimal_advances(self.steps, self.snapshots) - max(self.steps - 1, 0)


class OnlineCheckpoints(Checkpoints):
    """Wang, Moin and Iaccarino's dynamic checkpointing for a loop whose trip count is not known
    in advance (see the module docstring): `store` every position as the loop reaches it."""

    def __init__(self, snapshots, copies=True):
        super().__init__(snapshots, copies)
        self.due = 0
        self._records = []  # [(position, level)] oldest first: each level >= every newer level
        self._dispensable = []  # positions, ascending: each below the level of a newer snapshot

    def store(self, position, state):
        """Keep the state at `position` (every position, in order, from 0), dropping a snapshot by
        the rule above when all are in use. (Run once per iteration: the common case first.)"""
        saved = self.saved
        if self.copies:
            state = _copied(state)
        if len(saved) >= self.snapshots:
            dispensable = self._dispensable
            if dispensable:
                del saved[dispensable.pop()]
                self._records.append((position, 0))
            elif self.snapshots == 1:
                return  # the one snapshot holds position 0
            else:
                records = self._records
                newest, level = records.pop()
                del saved[newest]
                level += 1
                while records[-1][1] < level:
                    dispensable.append(records.pop()[0])
                dispensable.reverse()
                records.append((position, level))
        elif position:
            self._records.append((position, 0))
            self.most_held = len(saved) + 1
        else:  # the first position: level infinity, never dropped
            saved.clear()
            self._records, self._dispensable = [(0, math.inf)], []
            self.initial, self.most_held = state, 1
        saved[position] = state

    def _tasks(self):
        positions = sorted(self.saved)
        if self.steps and self.steps - 1 not in self.saved and self.snapshots > 1:
            raise RuntimeError("checkpointing: the state before the last iteration was not stored")
        ends = positions[1:] + [self.steps]
        return [(first, stop, self.snapshots - k) for k, (first, stop) in enumerate(zip(positions, ends))]


def revolve_actions(steps, snapshots):
    """The binomial schedule in revolve's words, as (action, position) pairs: `takeshot`
    (store the current state), `advance` (run unrecorded steps up to the position), `firsturn`
    (record the last step and reverse it), `restore` (make a snapshot current), `youturn`
    (record and reverse the step at the position). Its advances are `optimal_advances`.

    >>> revolve_actions(3, 2)
    [('takeshot', 0), ('advance', 1), ('takeshot', 1), ('advance', 2), ('firsturn', 2), \
('restore', 1), ('youturn', 1), ('restore', 0), ('youturn', 0)]
    """
    if steps == 0:
        return []
    schedule = BinomialCheckpoints(steps, snapshots)
    actions, position = [], 0
    for stored in schedule.chain:
        if stored > position:
            actions.append(("advance", stored))
            position = stored
        actions.append(("takeshot", stored))
    if steps - 1 > position:
        actions.append(("advance", steps - 1))
    actions.append(("firsturn", steps - 1))
    for index, (first, turn, stores) in enumerate(schedule.groups()):
        if index == 0:
            continue  # the first turn, above
        actions.append(("restore", first))
        for stored in stores:
            actions += [("advance", stored), ("takeshot", stored)]
        if turn > (stores[-1] if stores else first):
            actions.append(("advance", turn))
        actions.append(("youturn", turn))
    return actions
