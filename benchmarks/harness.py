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


@dataclass
class Workload:
    """A primal function with its arguments, and per-tool builders `tool -> builder(args) -> Impl`."""

    name: str
    primal: object
    args: tuple
    argnums: tuple
    description: str = ""
    target: float = None
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
        import s2sad.compiler

        s2sad.compiler.clear_cache()
        gradient = s2sad.grad(workload.primal, argnums=workload.argnums)
        return Impl(grad=lambda: gradient(*args))

    return build


def s2sad_forward(workload):
    """One `s2sad.jvp` per differentiated scalar input (a unit tangent each)."""

    def build(args):
        import s2sad
        import s2sad.compiler

        s2sad.compiler.clear_cache()
        f = workload.primal
        units = []
        for n in workload.argnums:
            units.append(tuple(1.0 if i == n else 0.0 for i in range(len(args))))

        def gradient():
            return [s2sad.jvp(f, args, unit)[1] for unit in units]

        return Impl(grad=gradient)

    return build


def relative_error(gradient, reference):
    """max_i |g_i - r_i| / |r_i| (absolute where the reference is ~0)."""
    gradient = np.asarray([float(g) for g in gradient], dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if gradient.shape != reference.shape:
        return math.inf
    scale = np.maximum(np.abs(reference), 1e-12)
    return float(np.max(np.abs(gradient - reference) / scale))


def central_differences(workload):
    """Central finite differences of the plain primal in float64, step 1e-6 * max(1, |x|)."""
    out = []
    for n in workload.argnums:
        h = 1e-6 * max(1.0, abs(workload.args[n]))
        plus, minus = list(workload.args), list(workload.args)
        plus[n] += h
        minus[n] -= h
        out.append((float(workload.primal(*plus)) - float(workload.primal(*minus))) / (2 * h))
    return out


def time_first_call(build, args):
    """Seconds for build + the first gradient call, the Impl, and the first gradient."""
    start = time.perf_counter()
    impl = build(args)
    first = impl.grad()
    return time.perf_counter() - start, impl, first


def calibrate(call, seconds):
    """How many calls make one repeat last about `seconds` (at least 1)."""
    call()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4 or number >= 1 << 20:
            return max(1, int(math.ceil(number * seconds / max(elapsed, 1e-9))))
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
    order rotates per repeat so no entry always runs right after another.
    """
    numbers = {key: calibrate(call, seconds) for key, call in entries}
    samples = {key: [] for key, _ in entries}
    for repeat in range(repeats):
        shift = repeat % len(entries)
        for key, call in entries[shift:] + entries[:shift]:
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
