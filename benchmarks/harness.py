"""Benchmark harness: workloads, per-tool implementations, interleaved timing, finite differences.

A workload is the primal function a user writes plus, per tool, a builder that
returns an `Impl` (a no-argument primal call and a no-argument gradient call).
The s2sad tools are generic (built from the primal); the others are written per
workload because each framework needs its own version of the code.

>>> def square(x, y):
...     return x * x * y
>>> w = Workload("square", square, args=(3.0, 2.0), argnums=(0, 1))
>>> bool(np.allclose(central_differences(w), [12.0, 9.0]))
True

Array arguments are checked along a few fixed random directions v: the
reference is the central difference of f(x + h v), compared with <g, v>.

>>> def quadratic(a, c):
...     return c * np.sum(a ** 2)
>>> w = Workload("quadratic", quadratic, args=(np.arange(3.0), 2.0), argnums=(0, 1))
>>> g = (4.0 * np.arange(3.0), 5.0)
>>> relative_error(projected(w, g), central_differences(w)) < 1e-8
True
"""

import gc
import importlib
import inspect
import math
import os
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

PRIMAL = "python (primal)"
TOOLS = [
    "s2sad reverse",
    "s2sad forward",
    "s2sad numba",
    "hand adjoint",
    "autograd",
    "torch eager",
    "jax eager",
    "jax jit",
]
TOOL_MODULES = {"autograd": "autograd", "torch": "torch", "jax": "jax", "s2sad numba": "numba"}
DIRECTIONS = 3  # random directions per array argument for the finite-difference check
FORWARD_LIMIT = 64  # forward mode needs one jvp per input scalar; above this it is skipped


def available(module):
    """True if `module` imports; the harness skips tools whose framework is missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@dataclass
class Impl:
    """One tool's version of a workload: `grad()` returns the gradient, `primal()` the value."""

    grad: object
    primal: object = None
    note: str = ""


class ToolError(Exception):
    """A tool that cannot differentiate the workload; the message goes into the table."""


def jax_impl(function, argnums, jit, args, note="", may_fail=False):
    """JAX's version of a workload: `jax.grad(function, argnums)`, jitted (with the primal) if
    `jit`. With `may_fail`, an error of the gradient is the tool's recorded result (a `ToolError`)."""
    import jax
    import jax.numpy as jnp

    gradient = jax.grad(function, argnums=argnums)
    primal = function
    if jit:
        gradient, primal = jax.jit(gradient), jax.jit(function)
    values = [jnp.asarray(v) for v in args]

    def grad_call():
        try:
            return jax.block_until_ready(gradient(*values))
        except Exception as exc:
            if not may_fail:
                raise
            raise ToolError(f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc

    return Impl(grad=grad_call, primal=lambda: jax.block_until_ready(primal(*values)), note=note)


@dataclass
class Workload:
    """A primal function with its arguments, and per-tool builders `tool -> builder(args) -> Impl`."""

    name: str
    primal: object
    args: tuple
    argnums: tuple
    description: str = ""
    target: float = None
    target_relative_to: str = None  # a tool: the target is `target` times that tool's ratio
    expected_grad: tuple = None
    steps: int = None
    builders: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def tool(self, name):
        """Decorator registering `builder(args) -> Impl` for tool `name`."""

        def register(builder):
            self.builders[name] = builder
            return builder

        return register

    def call_primal(self):
        return self.primal(*self.args)


def requires(tool):
    """The framework module a tool needs, or None for plain Python / s2sad."""
    for prefix, module in TOOL_MODULES.items():
        if tool.startswith(prefix):
            return module
    return None


def s2sad_reverse(workload):
    """`s2sad.grad` on the primal; the cache is cleared so the first call includes generation."""

    def build(args):
        import s2sad
        import s2sad.cache

        s2sad.cache.clear()
        gradient = s2sad.grad(workload.primal, argnums=workload.argnums)
        return Impl(grad=lambda: gradient(*args))

    return build


def numba_primal(function):
    """`function` compiled with numba.njit, the module's other plain functions (helpers) too; the
    module-level arrays it reads are frozen into it (as numba does), which only favours it."""
    import types

    import numba

    namespace = dict(function.__globals__)
    for name, value in list(namespace.items()):
        if (
            isinstance(value, types.FunctionType)
            and value.__module__ == function.__module__
            and value is not function
        ):
            namespace[name] = numba.njit(value)
    copy = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__)
    return numba.njit(copy)


def relative_difference(a, b):
    """max |a - b| / max |b| over matching leaves (0 for equal ones)."""
    worst = 0.0
    for x, y in zip(a, b):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        scale = float(np.max(np.abs(y))) if y.size else 0.0
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if scale else float(np.max(np.abs(x - y))))
    return worst


def s2sad_numba(workload):
    """`s2sad.grad(..., backend="numba")` against the numba-compiled primal (its own primal). The first
    call includes numba's compile (a fresh cache directory); the note gives the largest relative
    difference from the Python target, of the gradient and of every unit-direction jvp."""

    def build(args):
        import tempfile

        import s2sad
        import s2sad.cache

        os.environ["S2SAD_CACHE_DIR"] = NUMBA_CACHE or tempfile.mkdtemp(prefix="s2sad-bench-")
        s2sad.cache.clear()
        gradient = s2sad.grad(workload.primal, argnums=workload.argnums, backend="numba")
        bound = inspect.signature(workload.primal).bind(*args)
        bound.apply_defaults()
        full = tuple(bound.arguments.values())  # every argument given: numba's defaults cost ~0.1 ms a call
        try:
            primal = numba_primal(workload.primal)
            primal(*full)
        except Exception as exc:  # numba's own limits (np.max(x, axis=1), ...): no compiled primal
            reason = str(exc).strip().splitlines()
            note = f"numba cannot compile the primal ({type(exc).__name__})" if reason else ""
            return Impl(grad=lambda: gradient(*args), note=note)
        return Impl(grad=lambda: gradient(*args), primal=lambda: primal(*full), note="numba-compiled primal")

    return build


NUMBA_CACHE = None  # the cache directory of the numba tool's run (the second-process timing reuses it)


def numba_agreement(workload):
    """(grad, jvp) largest relative differences between the numba and Python targets."""
    import s2sad

    args, nums = workload.args, workload.argnums
    python = s2sad.grad(workload.primal, argnums=nums)(*args)
    compiled = s2sad.grad(workload.primal, argnums=nums, backend="numba")(*args)
    worst_jvp = 0.0
    count = input_scalars(workload)
    if count <= FORWARD_LIMIT:
        zeros = [np.zeros_like(a, dtype=np.float64) if np.ndim(a) else 0.0 for a in args]
        for n in nums:
            for index in np.ndindex(np.shape(args[n])) if np.ndim(args[n]) else [None]:
                tangents = list(zeros)
                tangents[n] = 1.0 if index is None else np.zeros_like(zeros[n])
                if index is not None:
                    tangents[n][index] = 1.0
                mine = s2sad.jvp(workload.primal, args, tangents, backend="numba")
                theirs = s2sad.jvp(workload.primal, args, tangents)
                worst_jvp = max(worst_jvp, relative_difference(mine, theirs))
    else:  # too many inputs for every unit direction: random directions along all inputs at once
        rng = np.random.default_rng(0)
        for _ in range(DIRECTIONS):
            tangents = [
                rng.standard_normal(np.shape(a)) if i in nums else np.zeros_like(a, dtype=np.float64)
                for i, a in enumerate(args)
            ]
            tangents = [t if np.ndim(a) else float(t) for t, a in zip(tangents, args)]
            mine = s2sad.jvp(workload.primal, args, tangents, backend="numba")
            theirs = s2sad.jvp(workload.primal, args, tangents)
            worst_jvp = max(worst_jvp, relative_difference(mine, theirs))
    return relative_difference(compiled, python), worst_jvp


def second_process_first_call(workload, directory):
    """Seconds of build + first call of the numba-target gradient in a new process that finds the
    compiled code in `directory` (after the process has imported numpy, numba and s2sad)."""
    import subprocess
    import sys

    script = (
        "import sys, time; sys.path.insert(0, %r); import numba, numpy, s2sad\n"
        "numba.njit(lambda x: x + 1.0)(1.0)  # numba's own start-up, paid once per process\n"
        "from workloads import load\n"
        "w = load([%r])[0]\n"
        "start = time.perf_counter()\n"
        "g = s2sad.grad(w.primal, argnums=w.argnums, backend='numba')\n"
        "g(*w.args)\n"
        "print(time.perf_counter() - start)\n"
    ) % (os.path.dirname(os.path.abspath(__file__)), workload.name)
    env = dict(os.environ, S2SAD_CACHE_DIR=directory)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    if run.returncode:
        raise ToolError(run.stderr.strip().splitlines()[-1])
    return float(run.stdout.split()[-1])


def input_scalars(workload):
    """How many scalars the differentiated arguments hold together."""
    return sum(int(np.size(workload.args[n])) for n in workload.argnums)


def s2sad_forward(workload):
    """One `s2sad.jvp` per differentiated input scalar (a unit tangent each).

    Skipped above `FORWARD_LIMIT` input scalars: a gradient of many parameters
    is what reverse mode is for.
    """

    def build(args):
        import s2sad
        import s2sad.cache

        count = input_scalars(workload)
        if count > FORWARD_LIMIT:
            raise ToolError(f"skipped: {count:,} input scalars would need {count:,} jvps; use reverse mode")
        s2sad.cache.clear()
        f = workload.primal
        zeros = [np.zeros_like(a, dtype=np.float64) if np.ndim(a) else 0.0 for a in args]
        units = []  # one tuple of tangents per input scalar, in argnums order
        for n in workload.argnums:
            for index in np.ndindex(np.shape(args[n])) if np.ndim(args[n]) else [None]:
                tangents = list(zeros)
                if index is None:
                    tangents[n] = 1.0
                else:
                    tangents[n] = np.zeros_like(zeros[n])
                    tangents[n][index] = 1.0
                units.append(tuple(tangents))

        def gradient():
            slopes = iter([s2sad.jvp(f, args, unit)[1] for unit in units])
            out = []
            for n in workload.argnums:
                if np.ndim(args[n]):
                    out.append(np.reshape([next(slopes) for _ in range(np.size(args[n]))], np.shape(args[n])))
                else:
                    out.append(next(slopes))
            return out

        return Impl(grad=gradient)

    return build


def directions(workload):
    """Per differentiated argument: None for a scalar, else `DIRECTIONS` fixed random unit directions."""
    rng = np.random.default_rng(0)
    out = []
    for n in workload.argnums:
        if np.ndim(workload.args[n]) == 0:
            out.append(None)
            continue
        vs = rng.standard_normal((DIRECTIONS,) + np.shape(workload.args[n]))
        out.append([v / np.linalg.norm(v) for v in vs])
    return out


def projected(workload, gradient):
    """The gradient as the numbers the finite differences give: d/dx for a scalar, <g, v> for an array."""
    out = []
    for g, vs in zip(gradient, directions(workload)):
        if vs is None:
            out.append(float(g))
        else:
            g = np.asarray(g, dtype=np.float64)
            out.extend(float(np.vdot(g, v)) if g.shape == v.shape else math.nan for v in vs)
    return out


def relative_error(gradient, reference):
    """max_i |g_i - r_i| / |r_i| (absolute where the reference is ~0); `gradient` as `projected` gives it."""
    gradient = np.asarray([float(g) for g in gradient], dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if gradient.shape != reference.shape or not np.all(np.isfinite(gradient)):
        return math.inf
    scale = np.maximum(np.abs(reference), 1e-12)
    return float(np.max(np.abs(gradient - reference) / scale))


def central_differences(workload):
    """Central finite differences of the plain primal in float64.

    A scalar argument x gets step 1e-6 * max(1, |x|); an array argument is
    moved along each of its `directions` with step 1e-6 * max(1, ||x||), which
    keeps the check cheap for large parameter arrays.
    """

    def value(n, shift):
        moved = list(workload.args)
        moved[n] = workload.args[n] + shift
        return float(workload.primal(*moved))

    out = []
    for n, vs in zip(workload.argnums, directions(workload)):
        x = workload.args[n]
        h = 1e-6 * max(1.0, float(np.linalg.norm(x)))
        for v in [1.0] if vs is None else vs:
            out.append((value(n, h * v) - value(n, -h * v)) / (2 * h))
    return out


def time_first_call(build, args):
    """Seconds for build + the first gradient call, the Impl, and the first gradient."""
    start = time.perf_counter()
    impl = build(args)
    first = impl.grad()
    return time.perf_counter() - start, impl, first


SLOW = 1.0  # seconds: a call this slow is timed in at most SLOW_REPEATS repeats
SLOW_REPEATS = 3


def calibrate(call, seconds):
    """How many calls make one repeat last about `seconds` (at least 1), and a first sample.

    The sample (seconds per call, after a warm-up call) is only returned for
    calls slower than `SLOW`, which are timed one call per repeat; else None.
    """
    call()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call()
        elapsed = time.perf_counter() - start
        if number == 1 and elapsed >= SLOW:
            return 1, elapsed
        if elapsed >= seconds / 4 or number >= 1 << 20:
            return max(1, int(math.ceil(number * seconds / max(elapsed, 1e-9)))), None
        number *= 4


def time_repeat(call, number):
    """Seconds per call, averaged over `number` calls."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


def interleaved_medians(entries, repeats, seconds):
    """Median seconds per call for each `(key, call)`; repeats of all entries alternate.

    Every repeat runs every entry once (each repeat times `number` calls); the
    order rotates per repeat so no entry always runs right after another. Calls
    slower than `SLOW` seconds (JAX eager through a 1,000-step loop) keep their
    calibration call as a sample and are timed in at most `SLOW_REPEATS` repeats.
    """
    numbers, samples, wanted = {}, {}, {}
    for key, call in entries:
        numbers[key], sample = calibrate(call, seconds)
        samples[key] = [] if sample is None else [sample]
        wanted[key] = repeats if sample is None else min(repeats, SLOW_REPEATS)
    for repeat in range(repeats):
        shift = repeat % len(entries)
        for key, call in entries[shift:] + entries[:shift]:
            if len(samples[key]) < wanted[key]:
                samples[key].append(time_repeat(call, numbers[key]))
    return {key: statistics.median(values) for key, values in samples.items()}


def peak_memory(call):
    """Peak bytes traced by tracemalloc during one call (after a warm-up call)."""
    import tracemalloc

    call()
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before
