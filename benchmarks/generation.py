"""Generation speed: seconds to transform a ~100-line function (loops, branches, NumPy calls).

Times the first call of `s2sad.grad(simulate)` (less a later call: what a user waits for),
`s2sad.pipeline.compile_derivative` of `simulate` below in each mode (what the first
call of `grad` or `value_and_grad` ("grad", "reverse"), `vjp` ("split") and `jvp`
("forward") pays: parse, desugar, normalize, analyses, transform, optimize, unparse,
`compile`), with the cache cleared before every call, and `s2sad.source` (the same
plus black formatting); prints the minimum and median over the repeats. The target
(issue #7) is under 100 ms per mode.

    python benchmarks/generation.py              # 15 repeats per mode
    python benchmarks/generation.py --repeats 5 --profile grad   # and a cProfile of one mode
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import s2sad  # noqa: E402
import s2sad.api.transforms  # noqa: E402
import s2sad.signatures  # noqa: E402
import s2sad.cache  # noqa: E402
import s2sad.pipeline  # noqa: E402


def smooth_clip(v, lo, hi):
    return lo + (hi - lo) / (1.0 + np.exp(-v))


def simulate(W1, b1, W2, b2, x0, xs, dt, steps, gain):
    """A controlled particle system with a small network controller: 100 lines of user code."""
    n = x0.shape[0]
    x = x0.copy()
    v = np.zeros(n)
    energy = 0.0
    penalty = 0.0
    total = 0.0
    trace = []
    for t in range(steps):
        obs = np.concatenate([x, v])
        hidden = np.tanh(W1 @ obs + b1)
        force = W2 @ hidden + b2
        force = smooth_clip(force, -2.0, 2.0)
        if t % 2 == 0:
            drag = 0.1 * v
        else:
            drag = 0.05 * v * np.abs(v)
        accel = force - drag - gain * x
        v = v + dt * accel
        x = x + dt * v
        kinetic = 0.5 * np.sum(v**2)
        potential = 0.5 * gain * np.sum(x**2)
        energy = energy + kinetic + potential
        if kinetic > 10.0:
            penalty = penalty + (kinetic - 10.0) ** 2
        elif kinetic < 0.01:
            penalty = penalty + 0.01 - kinetic
        target = xs[t % xs.shape[0]]
        err = x - target
        total = total + np.sum(err * err) / n
        trace.append(np.mean(x))
    # a relaxation phase with a data-dependent trip count
    k = 0
    scale = 1.0
    while k < 20 and np.max(np.abs(v)) > 1e-3:
        v = v * 0.5
        x = x + dt * v
        scale = scale * (1.0 - 0.1 * np.tanh(np.sum(v * v)))
        k += 1
    # summaries
    trace_arr = np.array(trace)
    spread = np.std(trace_arr)
    drift = trace_arr[-1] - trace_arr[0]
    smooth = 0.0
    for i in range(1, len(trace)):
        d = trace[i] - trace[i - 1]
        smooth = smooth + d * d
    reg = 1e-3 * (np.sum(W1 * W1) + np.sum(W2 * W2))
    reg = reg + 1e-4 * (np.sum(b1**2) + np.sum(b2**2))
    norm1 = np.sqrt(np.sum(W1 * W1) + 1e-12)
    norm2 = np.sqrt(np.sum(W2 * W2) + 1e-12)
    if norm1 > 10.0:
        reg = reg + 0.1 * (norm1 - 10.0) ** 2
    if norm2 > 10.0:
        reg = reg + 0.1 * (norm2 - 10.0) ** 2
    final = np.sum(x**2) + 0.1 * np.sum(v**2)
    mix = np.log(1.0 + np.exp(-final)) + np.maximum(spread, 0.01)
    weights = np.exp(-np.arange(n) / n)
    weighted = np.dot(weights, x * x)
    corr = 0.0
    for j in range(n):
        if x[j] > 0.0:
            corr = corr + x[j] * v[j]
        else:
            corr = corr - 0.5 * x[j] * v[j]
    pairs = 0.0
    for j in range(n - 1):
        gap = x[j + 1] - x[j]
        pairs = pairs + np.sin(gap) * np.cos(gap)
    shaped = np.where(x > 0.0, x, 0.1 * x)
    shaped_sum = np.sum(shaped * shaped)
    soft = np.sum(np.exp(x - np.max(x)))
    soft = np.log(soft) + np.max(x)
    ranked = np.sort(x)
    tail = np.sum(ranked[: n // 2] ** 2)
    head = np.sum(ranked[n // 2 :] ** 2)
    balance = (head - tail) / (head + tail + 1e-9)
    hinge = 0.0
    for j in range(n):
        margin = 1.0 - x[j] * v[j]
        if margin > 0.0:
            hinge = hinge + margin
    bump = 0.0
    s = 0.0
    while s < 1.0:
        bump = bump + np.exp(-((s - 0.5) ** 2)) * np.sum(np.cos(s * x))
        s = s + 0.25
    outer = np.outer(x, v)
    trace_term = np.trace(outer) + np.sum(np.triu(outer) ** 2)
    budget = 0.0
    for step in range(3):
        budget = budget + scale ** (step + 1) * drift
    cost = total / steps + 0.01 * energy / steps + penalty
    cost = cost + reg + 0.1 * smooth + 0.01 * mix
    cost = cost + 0.001 * weighted + 0.01 * corr + 0.001 * pairs
    cost = cost + 0.01 * shaped_sum + 0.001 * soft + 0.01 * budget * budget
    cost = cost + 0.01 * balance + 0.001 * hinge + 0.001 * bump + 0.001 * trace_term
    if cost > 1e6:
        cost = 1e6 + np.log(cost - 1e6 + 1.0)
    return cost


def arguments():
    rng = np.random.default_rng(0)
    n, hidden = 4, 8
    return (
        rng.standard_normal((hidden, 2 * n)) * 0.3,
        np.zeros(hidden),
        rng.standard_normal((n, hidden)) * 0.3,
        np.zeros(n),
        rng.standard_normal(n),
        rng.standard_normal((5, n)),
        0.05,
        10,
        0.5,
    )


MODES = ("grad", "reverse", "split", "forward")  # grad / value_and_grad, vjp, jvp


ARGNUMS = (0, 1, 2, 3)


def time_mode(mode, args, repeats, formatted=False):
    kinds = s2sad.signatures.diff_kinds(s2sad.signatures.kinds_of(args, ARGNUMS), ARGNUMS)
    shapes = s2sad.api.transforms._input_shapes(args, kinds)  # as the transforms specialize the code
    times = []
    for _ in range(repeats):
        s2sad.cache.clear()
        start = time.perf_counter()
        if formatted:
            s2sad.source(simulate, mode=mode, argnums=ARGNUMS, args=args)
        else:
            s2sad.pipeline.compile_derivative(simulate, mode, ARGNUMS, kinds, False, shapes)
        times.append(time.perf_counter() - start)
    return times


def time_first_call(args, repeats):
    """What a user waits for: the first call of `s2sad.grad(simulate)` minus a later call."""
    times = []
    for _ in range(repeats):
        s2sad.cache.clear()
        gradient = s2sad.grad(simulate, argnums=ARGNUMS)
        start = time.perf_counter()
        gradient(*args)
        first = time.perf_counter() - start
        start = time.perf_counter()
        gradient(*args)
        times.append(first - (time.perf_counter() - start))
    return times


def lecture(x1, x2):
    a = x1 / x2
    b = np.exp(x2)
    return (np.sin(a) + a - b) * (a - b)


def small_arrays(w, x):
    return np.sum(np.tanh(w * x))


def _overhead_row(transform, name, wrapper, direct, repeats, calls):
    """(transform, name, us per call of `wrapper`, of `direct`, the difference): best of `repeats`
    runs of `calls` calls of each zero-argument callable, interleaved."""
    best = {}
    for _ in range(repeats):
        for label, function in (("wrapper", wrapper), ("direct", direct)):
            start = time.perf_counter()
            for _ in range(calls):
                function()
            elapsed = (time.perf_counter() - start) / calls * 1e6
            best[label] = min(best.get(label, elapsed), elapsed)
    return transform, name, best["wrapper"], best["direct"], best["wrapper"] - best["direct"]


def call_overhead(repeats=7, calls=20000):
    """Microseconds a cached `grad` / `value_and_grad` / `jvp` / `vjp` call adds over calling the
    generated function it runs: [(transform, arguments, wrapper us, direct us, difference us)]."""
    rows = []
    cases = [
        ("lecture", lecture, (1.5, 0.5), (0, 1)),
        ("small_arrays", small_arrays, (np.linspace(0.0, 1.0, 8), np.linspace(1.0, 2.0, 8)), (0,)),
    ]
    for transform in ("grad", "value_and_grad"):
        for name, f, args, argnums in cases:
            wrapper = getattr(s2sad, transform)(f, argnums=argnums)
            wrapper(*args)
            kinds = s2sad.signatures.diff_kinds(s2sad.signatures.kinds_of(args, argnums), argnums)
            shapes = s2sad.api.transforms._input_shapes(args, kinds)
            mode = "grad" if transform == "grad" else "reverse"
            direct = s2sad.pipeline.compile_derivative(f, mode, argnums, kinds, False, shapes).function
            rows.append(
                _overhead_row(transform, name, lambda: wrapper(*args), lambda: direct(*args), repeats, calls)
            )
    # jvp and vjp are called with the primals each time: the call itself finds the compiled code
    for name, f, args, _ in cases:
        everything = tuple(range(len(args)))
        kinds = s2sad.signatures.diff_kinds(s2sad.signatures.kinds_of(args, everything), everything)
        tangents = tuple(np.ones_like(a) if isinstance(a, np.ndarray) else 1.0 for a in args)
        s2sad.jvp(f, args, tangents)
        forward = s2sad.pipeline.compile_derivative(f, "forward", everything, kinds).function
        s2sad.vjp(f, *args)
        shapes = s2sad.api.transforms._input_shapes(args, kinds)
        split = s2sad.pipeline.compile_derivative(f, "split", everything, kinds, False, shapes).extra[
            "objects"
        ]
        sweep, pullback = split["forward"], split["backward"]
        rows.append(
            _overhead_row(
                "jvp",
                name,
                lambda: s2sad.jvp(f, args, tangents),
                lambda: forward(*args, *tangents),
                repeats,
                calls,
            )
        )
        rows.append(
            _overhead_row(
                "vjp + pullback",
                name,
                lambda: s2sad.vjp(f, *args)[1](1.0),
                lambda: pullback(sweep(*args)[1], 1.0),
                repeats,
                calls,
            )
        )
    return rows


def measure(repeats=9):
    """The figures `benchmarks/run.py` reports: (lines, [(what, min ms, median ms)], overhead rows)."""
    import inspect

    args = arguments()
    s2sad.grad(simulate, argnums=ARGNUMS)(*args)  # imports and rule tables warmed up
    timings = [("first call of s2sad.grad(simulate), less a later call", time_first_call(args, repeats))]
    names = {"grad": "grad", "reverse": "value_and_grad (joint)", "split": "vjp (split)", "forward": "jvp"}
    for mode in MODES:
        timings.append(
            (
                f"compile_derivative, mode {mode!r}: what {names[mode]} compiles",
                time_mode(mode, args, repeats),
            )
        )
    rows = [(what, min(t) * 1e3, statistics.median(t) * 1e3) for what, t in timings]
    return len(inspect.getsource(simulate).splitlines()), rows, call_overhead()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--profile", choices=MODES, help="also print a cProfile of one mode")
    options = parser.parse_args()
    args = arguments()
    gradient = s2sad.grad(simulate, argnums=ARGNUMS)(*args)  # it differentiates (and warms up imports)
    assert all(np.all(np.isfinite(g)) for g in gradient)
    import inspect

    lines = len(inspect.getsource(simulate).splitlines())
    print(f"simulate: {lines} lines")
    times = time_first_call(args, options.repeats)
    print("s2sad.grad(simulate): first call minus a later call")
    print(f"  {'grad':8s} min {min(times) * 1e3:6.1f} ms   median {statistics.median(times) * 1e3:6.1f} ms")
    for formatted in (False, True):
        print(
            "s2sad.source (black-formatted)"
            if formatted
            else "compile_derivative, code specialized to the shapes"
        )
        for mode in MODES:
            times = time_mode(mode, args, options.repeats, formatted)
            print(
                f"  {mode:8s} min {min(times) * 1e3:6.1f} ms   median {statistics.median(times) * 1e3:6.1f} ms"
            )
    print("cached call overhead (us per call): wrapper, generated function, difference")
    for transform, name, wrapper, direct, extra in call_overhead():
        print(f"  {transform:15s} {name:13s} {wrapper:7.2f} {direct:7.2f} {extra:6.2f}")
    if options.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        time_mode(options.profile, args, options.repeats)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
