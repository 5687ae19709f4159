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
import math
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

PRIMAL = "python (primal)"
TOOLS = [
    "s2sad reverse",
    "s2sad forward",
    "hand adjoint",
    "autograd",
    "torch eager",
    "jax eager",
    "jax jit",
]
TOOL_MODULES = {"autograd": "autograd", "torch": "torch", "jax": "jax"}
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
