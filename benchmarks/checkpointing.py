"""Checkpointing benchmark: the Langevin workload at 10^6 and 10^7 steps, its `while` loop marked
`# s2sad: checkpoint snapshots=50`, against the full-tape gradient (issue 18).

The function is benchmarks/workloads/langevin.py's `langevin`, unchanged but for the pragma
line, with the noise array long enough for the run (the same seed: the first 1,100 values are
the workload's). For each step count it reports

- the time of one gradient call (the best of `--repeats` calls), full tape and checkpointed;
- the peak memory `tracemalloc` traces during one gradient call (another call);
- the steps run: the forward sweep, the steps the backward sweep recomputes unrecorded (counted by
  the schedule, whose count the tests check against the loop body's own count), the steps it
  records again; against revolve's offline optimum for the same (n, s), which knows n in advance.

    python benchmarks/checkpointing.py                  # 10^6 (with the full tape) and 10^7
    python benchmarks/checkpointing.py --steps 100000   # one size, quicker
"""

import argparse
import functools
import importlib.util
import inspect
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE / "workloads")]

import s2sad  # noqa: E402
import s2sad.runtime  # noqa: E402
from s2sad.runtime.checkpoints import BinomialCheckpoints, OnlineCheckpoints, optimal_advances  # noqa: E402
from workloads import langevin as workload  # noqa: E402

SNAPSHOTS = 50
print = functools.partial(print, flush=True)  # noqa: A001  (progress shows in a log)
DT = 1e-3
ARGS = (1.0, 0.3, 2.0)


def build(steps, snapshots):
    """(full-tape function, marked function): the workload's `langevin`, written to files (s2sad
    reads sources), the second with the pragma above its loop, both reading a noise array of
    `steps` values."""
    source = inspect.getsource(workload.langevin)
    lines = source.splitlines()
    loop = next(i for i, line in enumerate(lines) if line.lstrip().startswith("while "))
    indent = lines[loop][: len(lines[loop]) - len(lines[loop].lstrip())]
    marked = "\n".join(lines[:loop] + [f"{indent}# s2sad: checkpoint snapshots={snapshots}"] + lines[loop:])
    folder = Path(tempfile.mkdtemp(prefix="s2sad-checkpointing-"))
    header = (
        "import math\n\nimport numpy as np\n\n"
        f"NOISE = np.random.default_rng(2024).standard_normal({steps + 100})\n\n\n"
    )
    functions = []
    for name, text in (("full_tape", source), ("checkpointed", marked)):
        path = folder / f"langevin_{name}.py"
        path.write_text(header + text + "\n")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        functions.append(module.langevin)
    return functions


def trip_count(T, dt=DT):
    """The workload's trip count for horizon T (`t += dt` until `t >= T`, as the loop does)."""
    t, steps = 0.0, 0
    while t < T:
        t += dt
        steps += 1
    return steps


class Recorded:
    """The schedules generated code makes, kept for their counts."""

    made = []

    @classmethod
    def wrap(cls, schedule_class):
        class Counting(schedule_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                cls.made.append(self)

        Counting.__name__ = schedule_class.__name__
        return Counting


def timed(function, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_memory(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(steps, snapshots, repeats, full_tape):
    T = (steps - 0.5) * DT
    assert trip_count(T) == steps
    plain, marked = build(steps, snapshots)
    kwargs = {"T": T}
    grad_marked = s2sad.grad(marked, argnums=(0, 1, 2))
    grad_plain = s2sad.grad(plain, argnums=(0, 1, 2))
    grad_marked(*ARGS, T=0.01)  # compiled before timing
    grad_plain(*ARGS, T=0.01)
    row = {"steps": steps, "snapshots": snapshots}
    row["primal"], _ = timed(lambda: plain(*ARGS, **kwargs), 1)
    Recorded.made.clear()
    row["checkpointed time"], g_marked = timed(lambda: grad_marked(*ARGS, **kwargs), repeats)
    schedule = Recorded.made[-1]
    row["recomputed"] = schedule.advances
    row["turned"] = schedule.turns
    row["most held"] = schedule.most_held
    row["checkpointed peak"] = peak_memory(lambda: grad_marked(*ARGS, **kwargs))
    row["revolve optimum"] = optimal_advances(steps, snapshots)
    row["binomial recomputed"] = BinomialCheckpoints(steps, snapshots).predicted_advances()
    if full_tape:
        row["full time"], g_plain = timed(lambda: grad_plain(*ARGS, **kwargs), repeats)
        row["full peak"] = peak_memory(lambda: grad_plain(*ARGS, **kwargs))
        row["largest difference"] = max(abs(a - b) / abs(b) for a, b in zip(g_marked, g_plain))
    return row


def report(row):
    n, s = row["steps"], row["snapshots"]
    mib = 2.0**20
    print(f"\n## Langevin, {n:,} steps, {s} snapshots (online schedule: a `while` loop)")
    print(f"primal: {row['primal']:.2f} s")
    print(
        f"checkpointed gradient: {row['checkpointed time']:.2f} s, peak traced memory "
        f"{row['checkpointed peak'] / mib:.3f} MiB, at most {row['most held']} snapshots held"
    )
    if "full time" in row:
        print(
            f"full-tape gradient:    {row['full time']:.2f} s, peak traced memory {row['full peak'] / mib:.1f} MiB"
        )
        print(
            f"time ratio {row['checkpointed time'] / row['full time']:.2f}x (target <= 4x), memory ratio "
            f"1/{row['full peak'] / row['checkpointed peak']:.0f} (target <= 1/50), largest relative "
            f"difference of the gradients {row['largest difference']:.1e}"
        )
    recomputed, optimum = row["recomputed"], row["revolve optimum"]
    print(
        f"steps run: {n:,} forward + {recomputed:,} recomputed unrecorded ({recomputed / n:.2f} per step) "
        f"+ {row['turned']:,} recorded again"
    )
    print(
        f"unrecorded steps in all: {n + recomputed:,}; revolve's offline optimum for (n, s) = "
        f"({n:,}, {s}): {optimum:,} (t*n - C(s+t, t-1)), +1 for the last step the loop itself runs: "
        f"online / offline = {(n + recomputed) / (optimum + 1):.4f}; the binomial schedule of a counted loop "
        f"would recompute {row['binomial recomputed']:,}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[10**6, 10**7])
    parser.add_argument("--snapshots", type=int, default=SNAPSHOTS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--full-tape-up-to", type=int, default=10**6, help="largest size run with the full tape too"
    )
    options = parser.parse_args()
    s2sad.runtime.OnlineCheckpoints = Recorded.wrap(OnlineCheckpoints)
    for steps in options.steps:
        repeats = options.repeats if steps <= 10**6 else 1
        row = measure(steps, options.snapshots, repeats, steps <= options.full_tape_up_to)
        report(row)


if __name__ == "__main__":
    main()
