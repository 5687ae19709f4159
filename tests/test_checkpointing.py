"""Checkpointed loops in reverse mode (s2sad/transforms/reverse_checkpoints.py): a loop marked
`# s2sad: checkpoint snapshots=N` gives the full-tape gradient (to 1e-12 relative, in practice
bit for bit), recomputes exactly the steps its schedule predicts, and keeps at most N snapshots."""

import importlib.util
import inspect
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.errors import UnsupportedSyntaxError
from s2sad.runtime.checkpoints import BinomialCheckpoints, OnlineCheckpoints, optimal_advances
from s2sad.testing import check_grads, recorded_bytes

ROOT = Path(__file__).resolve().parents[1]
NOISE = np.random.default_rng(11).standard_normal(5000)


def flat(value):
    if isinstance(value, (tuple, list)):
        return np.concatenate([flat(v) for v in value]) if value else np.zeros(0)
    return np.ravel(np.asarray(value, dtype=float))


def assert_same(checkpointed, full, rtol=1e-12):
    checkpointed, full = flat(checkpointed), flat(full)
    scale = max(float(np.max(np.abs(full))), 1e-300)
    assert checkpointed.shape == full.shape
    assert float(np.max(np.abs(checkpointed - full))) <= rtol * scale, (checkpointed, full)


def with_pragma(source, snapshots):
    """`source` with `# s2sad: checkpoint snapshots=N` above its first `for` or `while` loop."""
    lines = source.splitlines()
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("for ", "while ")):
            pragma = " " * (len(line) - len(stripped)) + f"# s2sad: checkpoint snapshots={snapshots}"
            return "\n".join(lines[:index] + [pragma] + lines[index:]) + "\n"
    raise AssertionError("no loop")


def workload_module(name, snapshots, tmp_path):
    """benchmarks/workloads/<name>.py, its loop marked (written to a file: s2sad reads sources)."""
    for folder in (ROOT / "benchmarks", ROOT / "benchmarks" / "workloads"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    plain = importlib.import_module(name)
    source = inspect.getsource(plain)
    function = inspect.getsource(plain.WORKLOAD.primal)
    path = tmp_path / f"{name}_checkpointed.py"
    path.write_text(source.replace(function, with_pragma(function, snapshots)))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return plain.WORKLOAD, getattr(module, plain.WORKLOAD.primal.__name__)


@pytest.mark.parametrize("name, snapshots", [("langevin", 20), ("pendulum", 10), ("logistic", 7)])
def test_benchmark_workloads_full_tape_gradient(name, snapshots, tmp_path):
    """The Langevin (`while`), RK4 pendulum and logistic (`for`) workloads, loops marked."""
    workload, marked = workload_module(name, snapshots, tmp_path)
    source = s2sad.source(marked, mode="reverse", argnums=workload.argnums, args=workload.args)
    assert f"{snapshots} snapshots of" in source
    full = s2sad.grad(workload.primal, argnums=workload.argnums)(*workload.args)
    assert_same(s2sad.grad(marked, argnums=workload.argnums)(*workload.args), full)
    value, pullback = s2sad.vjp(marked, *workload.args)
    assert value == workload.primal(*workload.args)
    assert_same(pullback(1.0)[: len(workload.argnums)], full)


def heat(u0, kappa, steps):
    """A 1-D heat equation, explicit stencil, the field written in place."""
    u = u0.copy()
    # s2sad: checkpoint snapshots=6
    for _ in range(steps):
        laplacian = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u[1:-1] = u[1:-1] + kappa * laplacian
    return np.sum(u * u * np.linspace(0.0, 1.0, u.shape[0]))


def heat_full_tape(u0, kappa, steps):
    u = u0.copy()
    for _ in range(steps):
        laplacian = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u[1:-1] = u[1:-1] + kappa * laplacian
    return np.sum(u * u * np.linspace(0.0, 1.0, u.shape[0]))


def heat_until(u0, kappa, T, dt):
    """The same stencil in a `while` loop (online schedule), stepping time until T."""
    u = u0.copy()
    t = 0.0
    # s2sad: checkpoint snapshots=5
    while t < T:
        u[1:-1] = u[1:-1] + kappa * dt * (u[:-2] - 2.0 * u[1:-1] + u[2:])
        t += dt
    return np.sum(np.sin(u))


def heat_until_full_tape(u0, kappa, T, dt):
    u = u0.copy()
    t = 0.0
    while t < T:
        u[1:-1] = u[1:-1] + kappa * dt * (u[:-2] - 2.0 * u[1:-1] + u[2:])
        t += dt
    return np.sum(np.sin(u))


def test_array_state_heat_equation_1000_points():
    u0 = np.sin(np.linspace(0.0, 3.0, 1000)) + 0.1 * np.random.default_rng(0).standard_normal(1000)
    full = s2sad.grad(heat_full_tape, argnums=(0, 1))(u0, 0.2, 150)
    assert_same(s2sad.grad(heat, argnums=(0, 1))(u0, 0.2, 150), full)
    assert u0[0] == np.sin(0.0) + 0.1 * np.random.default_rng(0).standard_normal(1000)[0]  # input untouched
    assert "6 snapshots of (u)" in s2sad.source(heat, mode="reverse", args=(u0, 0.2, 150))
    # kept for the backward sweep: at most 6 snapshots + the state before the last step, and a few
    # arrays the pullback reads (u0, the final u, ...), whatever the step count; the full tape: every step's
    kept = recorded_bytes(heat, (u0, 0.2, 150))
    assert kept <= 25 * u0.nbytes and recorded_bytes(heat, (u0, 0.2, 1500)) == kept
    assert recorded_bytes(heat_full_tape, (u0, 0.2, 150)) >= 150 * u0.nbytes
    full = s2sad.grad(heat_until_full_tape, argnums=(0, 1))(u0, 0.4, 0.1, 1e-3)
    assert_same(s2sad.grad(heat_until, argnums=(0, 1))(u0, 0.4, 0.1, 1e-3), full)


def test_finite_differences_and_dot_product():
    u0 = np.cos(np.linspace(0.0, 2.0, 12))
    check_grads(heat, (u0, 0.3, 9), wrt=[0, 1])
    check_grads(heat_until, (u0, 0.3, 0.01, 1e-3), wrt=[0, 1])
    check_grads(langevin, (1.0, 0.3, 0.5, 0.05), wrt=[0, 1, 2])


class Forcing:
    """A forcing term read once per run of the loop body: its reads count the steps run."""

    def __init__(self):
        self.reads = 0

    def __getitem__(self, k):
        self.reads += 1
        return 0.01 * math.sin(k)


FORCING = Forcing()


def logistic_1(r, x, n):
    # s2sad: checkpoint snapshots=1
    for k in range(n):
        x = r * x * (1.0 - x) + FORCING[k]
    return x


def logistic_3(r, x, n):
    # s2sad: checkpoint snapshots=3
    for k in range(n):
        x = r * x * (1.0 - x) + FORCING[k]
    return x


def logistic_10(r, x, n):
    # s2sad: checkpoint snapshots=10
    for k in range(n):
        x = r * x * (1.0 - x) + FORCING[k]
    return x


def logistic_full_tape(r, x, n):
    for k in range(n):
        x = r * x * (1.0 - x) + FORCING[k]
    return x


def logistic_while_4(r, x, n):
    k = 0
    # s2sad: checkpoint snapshots=4
    while k < n:
        x = r * x * (1.0 - x) + FORCING[k]
        k += 1
    return x


MARKED = {1: logistic_1, 3: logistic_3, 10: logistic_10}


@pytest.mark.parametrize(
    "steps, snapshots", [(1, 3), (1, 1), (2, 10), (7, 10), (7, 3), (40, 3), (25, 1), (300, 10)]
)
def test_recomputed_steps_are_the_schedules_prediction(steps, snapshots):
    """The body runs n times forward, n times recording, and revolve's optimum less its first
    sweep in between: t*n - C(s+t, t-1) - (n - 1) (n < s and n = 1 included)."""
    gradient = s2sad.grad(MARKED[snapshots], argnums=(0, 1))
    gradient(2.9, 0.3, 3)  # compiled
    FORCING.reads = 0
    result = gradient(2.9, 0.3, steps)
    predicted = optimal_advances(steps, snapshots) - (steps - 1)
    assert predicted == BinomialCheckpoints(steps, snapshots).predicted_advances()
    assert FORCING.reads == 2 * steps + predicted
    assert_same(result, s2sad.grad(logistic_full_tape, argnums=(0, 1))(2.9, 0.3, steps))


@pytest.mark.parametrize("steps", [1, 3, 4, 5, 17, 200])
def test_while_loop_recomputes_what_the_online_schedule_predicts(steps):
    online = OnlineCheckpoints(4)
    for k in range(steps):
        online.store(k, k)
    online.stop(steps)
    gradient = s2sad.grad(logistic_while_4, argnums=(0, 1))
    gradient(2.9, 0.3, 2)
    FORCING.reads = 0
    result = gradient(2.9, 0.3, steps)
    assert FORCING.reads == 2 * steps + online.predicted_advances()
    assert_same(result, s2sad.grad(logistic_full_tape, argnums=(0, 1))(2.9, 0.3, steps))


def langevin(a, b, kT, T, x0=0.5, dt=1e-3, L=1.2):
    x = x0
    t = 0.0
    i = 0
    total = 0.0
    # s2sad: checkpoint snapshots=8
    while t < T:
        force = -4.0 * a * x * (x * x - 1.0) + b
        x += force * dt + math.sqrt(2.0 * kT * dt) * NOISE[i]
        if x > L:
            x = 2.0 * L - x
        if x < -L:
            x = -2.0 * L - x
        total += x * x
        t += dt
        i += 1
    return total / i


def langevin_full_tape(a, b, kT, T, x0=0.5, dt=1e-3, L=1.2):
    x = x0
    t = 0.0
    i = 0
    total = 0.0
    while t < T:
        force = -4.0 * a * x * (x * x - 1.0) + b
        x += force * dt + math.sqrt(2.0 * kT * dt) * NOISE[i]
        if x > L:
            x = 2.0 * L - x
        if x < -L:
            x = -2.0 * L - x
        total += x * x
        t += dt
        i += 1
    return total / i


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.0005, 3.0), min_size=2, max_size=4), st.floats(0.5, 2.0))
def test_while_trip_count_varies_between_calls(horizons, kT):
    """One compiled gradient, called with horizons T that change the trip count (1 to 3000)."""
    gradient = s2sad.grad(langevin, argnums=(0, 1, 2))
    full = s2sad.grad(langevin_full_tape, argnums=(0, 1, 2))
    for T in horizons:
        assert_same(gradient(1.0, 0.3, kT, T), full(1.0, 0.3, kT, T))


def escape(c, x0, limit):
    x = x0
    total = 0.0
    # s2sad: checkpoint snapshots=4
    for k in range(300):
        x = x * x + c
        total += x / (k + 1.0)
        if abs(x) > limit:
            break
    return total


def escape_full_tape(c, x0, limit):
    x = x0
    total = 0.0
    for k in range(300):
        x = x * x + c
        total += x / (k + 1.0)
        if abs(x) > limit:
            break
    return total


def settle(x, rate):
    """`while True` left by `break`."""
    steps = 0
    # s2sad: checkpoint snapshots=3
    while True:
        x = x - rate * math.sin(x)
        steps += 1
        if abs(math.sin(x)) < 1e-6 or steps > 500:
            break
    return x * rate


def settle_full_tape(x, rate):
    steps = 0
    while True:
        x = x - rate * math.sin(x)
        steps += 1
        if abs(math.sin(x)) < 1e-6 or steps > 500:
            break
    return x * rate


def leave_early(x, n):
    """`continue` and a `return` inside the marked loop."""
    total = 0.0
    # s2sad: checkpoint snapshots=3
    for k in range(n):
        x = math.sin(x) * 1.3
        if k % 3 == 0:
            continue
        total += x * x
        if total > 5.0:
            return total * x
    return total


def leave_early_full_tape(x, n):
    total = 0.0
    for k in range(n):
        x = math.sin(x) * 1.3
        if k % 3 == 0:
            continue
        total += x * x
        if total > 5.0:
            return total * x
    return total


@pytest.mark.parametrize("steps", [1, 5, 30, 200])
def test_continue_and_return_in_the_loop(steps):
    assert_same(s2sad.grad(leave_early)(0.8, steps), s2sad.grad(leave_early_full_tape)(0.8, steps))
    check_grads(leave_early, (0.8, steps), wrt=[0])


@pytest.mark.parametrize("limit", [0.5, 2.0, 10.0, 1e6])
def test_loop_with_break(limit):
    args = (0.25, 0.1, limit)
    assert "online schedule" in s2sad.source(escape, mode="reverse", args=args)  # `break`: a while loop
    assert_same(
        s2sad.grad(escape, argnums=(0, 1))(*args), s2sad.grad(escape_full_tape, argnums=(0, 1))(*args)
    )
    assert_same(
        s2sad.grad(escape, argnums=(0, 1))(-1.9, 0.0, limit),
        s2sad.grad(escape_full_tape, argnums=(0, 1))(-1.9, 0.0, limit),
    )
    assert_same(
        s2sad.grad(settle, argnums=(0, 1))(2.0, 0.3), s2sad.grad(settle_full_tape, argnums=(0, 1))(2.0, 0.3)
    )
    check_grads(escape, (0.25, 0.1, limit), wrt=[0, 1])


def test_split_mode_pullback_called_again():
    u0 = np.linspace(0.0, 1.0, 30) ** 2
    value, pullback = s2sad.vjp(heat, u0, 0.25, 40)
    full_value, full_pullback = s2sad.vjp(heat_full_tape, u0, 0.25, 40)
    assert value == full_value
    for seed in (1.0, -2.5, 1.0):
        assert_same(pullback(seed)[:2], full_pullback(seed)[:2])
    value, pullback = s2sad.vjp(langevin, 1.0, 0.3, 0.7, 0.2)
    assert_same(pullback(1.0)[:3], s2sad.vjp(langevin_full_tape, 1.0, 0.3, 0.7, 0.2)[1](1.0)[:3])
    assert_same(pullback(2.0)[:3], s2sad.vjp(langevin_full_tape, 1.0, 0.3, 0.7, 0.2)[1](2.0)[:3])


def damped(r, x, n):
    # s2sad: checkpoint snapshots=3
    for k in range(n):
        x = r * x * (1.0 - x) + 0.01 * math.sin(x)
    return x


def damped_full_tape(r, x, n):
    for k in range(n):
        x = r * x * (1.0 - x) + 0.01 * math.sin(x)
    return x


def test_higher_order_records_every_iteration():
    """Code s2sad differentiates again records every iteration (the schedule is run-time
    Python); forward mode has no tape to checkpoint."""
    args = (2.9, 0.3, 12)
    assert_same(
        s2sad.hessian(damped, argnums=(0, 1))(*args),
        s2sad.hessian(damped_full_tape, argnums=(0, 1))(*args),
    )
    second = s2sad.grad(s2sad.grad(damped, argnums=0), argnums=1)(*args)
    assert_same(second, s2sad.grad(s2sad.grad(damped_full_tape, argnums=0), argnums=1)(*args))
    assert_same(
        s2sad.jvp(damped, args, (1.0, 0.5, 0))[1], s2sad.jvp(damped_full_tape, args, (1.0, 0.5, 0))[1]
    )
    u0 = np.linspace(0.0, 1.0, 8)
    assert_same(s2sad.jacfwd(heat)(u0, 0.1, 5), s2sad.jacfwd(heat_full_tape)(u0, 0.1, 5))


def outer_inner(w, epochs, steps):
    """A checkpointed loop inside a taped loop, and a taped loop inside it."""
    x = w
    total = 0.0
    for e in range(epochs):
        # s2sad: checkpoint snapshots=3
        for k in range(steps):
            y = x
            for j in range(3):
                y = math.sin(y) + 0.1 * j
            x = 0.5 * x + 0.4 * y + 0.01 * e
            total += x * x
    return total


def outer_inner_full_tape(w, epochs, steps):
    x = w
    total = 0.0
    for e in range(epochs):
        for k in range(steps):
            y = x
            for j in range(3):
                y = math.sin(y) + 0.1 * j
            x = 0.5 * x + 0.4 * y + 0.01 * e
            total += x * x
    return total


def overwritten_after(a, n):
    """The loop reads `scale`, written again after it; `x` is read by code before the loop's
    adjoint (the sine) and written by the loop."""
    scale = 2.0
    x = a * a
    y = math.sin(x)
    # s2sad: checkpoint snapshots=2
    for _ in range(n):
        x = math.sin(x) * scale + y
    scale = 5.0
    return x * scale + y * x


def overwritten_after_full_tape(a, n):
    scale = 2.0
    x = a * a
    y = math.sin(x)
    for _ in range(n):
        x = math.sin(x) * scale + y
    scale = 5.0
    return x * scale + y * x


def strided(x, first, stop):
    """A range with a start and a step: the loop variable comes from the schedule."""
    total = 0.0
    # s2sad: checkpoint snapshots=3
    for k in range(first, stop, 3):
        x = math.cos(x) * k
        total += x
    return total


def strided_full_tape(x, first, stop):
    total = 0.0
    for k in range(first, stop, 3):
        x = math.cos(x) * k
        total += x
    return total


def trajectory(x, n):
    """The state holds a list the loop appends to (copied whole at each snapshot)."""
    xs = []
    # s2sad: checkpoint snapshots=3
    for _ in range(n):
        x = math.sin(x) + 0.5
        xs.append(x)
    return np.sum(np.array(xs) ** 2)


def trajectory_full_tape(x, n):
    xs = []
    for _ in range(n):
        x = math.sin(x) + 0.5
        xs.append(x)
    return np.sum(np.array(xs) ** 2)


def rows(w, data):
    """A `for` over an array's rows (a counted loop once desugared)."""
    h = 0.0
    # s2sad: checkpoint snapshots=2
    for row in data:
        h = math.tanh(w * h + np.sum(row))
    return h


def rows_full_tape(w, data):
    h = 0.0
    for row in data:
        h = math.tanh(w * h + np.sum(row))
    return h


@pytest.mark.parametrize(
    "marked, full, args",
    [
        (trajectory, trajectory_full_tape, (0.3, 9)),
        (rows, rows_full_tape, (0.7, np.arange(12.0).reshape(6, 2) / 10)),
        (outer_inner, outer_inner_full_tape, (0.3, 3, 11)),
        (overwritten_after, overwritten_after_full_tape, (0.7, 9)),
        (strided, strided_full_tape, (0.2, 1, 40)),
        (strided, strided_full_tape, (0.2, 5, 5)),
    ],
)
def test_nesting_and_reads_from_outside(marked, full, args):
    assert_same(s2sad.grad(marked)(*args), s2sad.grad(full)(*args))
    assert_same(s2sad.vjp(marked, *args)[1](1.0)[0], s2sad.vjp(full, *args)[1](1.0)[0])


def test_header_names_the_loop():
    source = s2sad.source(logistic_3, mode="reverse", argnums=(0, 1), args=(2.9, 0.3, 10))
    line = inspect.getsourcelines(logistic_3)[1] + 2
    assert (
        f"# checkpointed loop at test_checkpointing.py:{line} (`for k in range(n):`): 3 snapshots of (x), "
        "binomial (revolve) schedule"
    ) in source
    assert "_ckpt1 = _rt.BinomialCheckpoints(range(n), 3)" in source
    assert "_rt.OnlineCheckpoints(8, copies=False)" in s2sad.source(
        langevin, mode="reverse", args=(1.0, 0.3, 0.5, 0.1)
    )
    assert "online schedule (Wang, Moin and Iaccarino)" in s2sad.source(
        langevin, mode="reverse", args=(1.0, 0.3, 0.5, 0.1)
    )


def constant_loop(x, n):
    c = 0.0
    # s2sad: checkpoint snapshots=2
    for k in range(n):
        c = c + k
    return x * c


def test_a_loop_with_nothing_to_reverse_is_left_alone():
    source = s2sad.source(constant_loop, mode="reverse", args=(0.5, 5))
    assert "is marked for checkpointing but has nothing to reverse" in source
    assert "_rt.BinomialCheckpoints" not in source
    assert s2sad.grad(constant_loop)(0.5, 5) == 10.0


def no_snapshots(x, n):
    # s2sad: checkpoint snapshots=0
    for _ in range(n):
        x = x * x
    return x


def words(x, n):
    # s2sad: checkpoint snapshots=many
    for _ in range(n):
        x = x * x
    return x


def unknown(x, n):
    # s2sad: chekpoint snapshots=3
    for _ in range(n):
        x = x * x
    return x


def not_a_loop(x, n):
    # s2sad: checkpoint snapshots=3
    x = x * x
    return x


@pytest.mark.parametrize(
    "f, message",
    [
        (no_snapshots, r"at least 1 \(got `0`\)"),
        (words, r"at least 1 \(got `many`\)"),
        (unknown, "unknown s2sad pragma"),
        (not_a_loop, "not right above a `for` or `while` loop"),
    ],
)
def test_bad_pragmas_are_errors_at_their_line(f, message):
    with pytest.raises(UnsupportedSyntaxError, match=message) as info:
        s2sad.grad(f)(0.5, 3)
    error = info.value
    assert error.lineno == inspect.getsourcelines(f)[1] + 1
    assert "test_checkpointing.py" in str(error) and "# s2sad:" in str(error)
    assert "# s2sad: checkpoint snapshots=N" in str(error)


cube = lambda x: x * x * x  # noqa: E731  (a lambda's source is read from this file, pragmas and all)


def test_pragmas_elsewhere_in_the_file_are_not_a_lambdas():
    assert s2sad.grad(cube)(2.0) == 12.0


def test_numba_target_refuses_a_checkpointed_loop_at_its_line():
    pytest.importorskip("numba")
    from s2sad.errors import S2sadError

    with pytest.raises(S2sadError, match="does not checkpoint loops") as info:
        s2sad.grad(damped, argnums=(0, 1), backend="numba")(2.9, 0.3, 12)
    assert info.value.lineno == inspect.getsourcelines(damped)[1] + 2
    assert "use the Python target" in str(info.value)
