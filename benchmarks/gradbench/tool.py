"""s2sad as a GradBench tool: speaks the protocol on stdin / stdout.

GradBench (github.com/gradbench/gradbench) sends one JSON message per line:
``start``, ``define`` (a module name), ``evaluate`` (module, function, input)
and ``analysis`` (whether an earlier answer was valid). This runner answers each
with one JSON line. The evals live in ``evals/<module>.py``; each exposes
``FUNCTIONS``, a dict from function name to ``Function(prepare, compute, output)``:
``prepare`` turns the JSON input into arrays (untimed), ``compute`` is what is
timed, ``output`` turns its result back into JSON (untimed). The first two calls of each
message, which compile derivatives, are timed apart from the ``evaluate`` timings.

Run it as ``python benchmarks/gradbench/tool.py`` (one thread: set
OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS to 1).

``--backend numba`` makes it the tool ``s2sad-numba``: the same eval modules, unchanged,
with every transform that takes a ``backend=`` (``grad``, ``value_and_grad``, ``jvp``,
``vjp``) run by the numba target, in the modules' own calls and in the calls inside the
code they differentiate. ``jacfwd``, ``jacrev`` and ``hessian`` have no numba target and
stay on the Python one. A derivative the numba target refuses is answered with its s2sad
error (``success: false``), never by falling back to the Python target.
"""

import argparse
import contextlib
import functools
import importlib
import json
import os
import sys
import time
import traceback
from importlib import util as import_util

import s2sad

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from evals import Function  # noqa: E402  (the evals package sits next to this file)

TOOL_NAMES = {"python": "s2sad", "numba": "s2sad-numba"}
WITH_BACKEND = ("grad", "value_and_grad", "jvp", "vjp")  # the transforms that take `backend=`


@contextlib.contextmanager
def backend(name):
    """In this block, `s2sad.grad`, `value_and_grad`, `jvp` and `vjp` mean those of backend `name`.

    The eval modules read `s2sad.grad` and the rest when imported (module-level derivatives),
    when called, and when s2sad compiles a function that calls them (transforms inside
    differentiated code): every message of the numba tool runs in this block."""
    if name == "python":
        yield
        return
    saved = {transform: getattr(s2sad, transform) for transform in WITH_BACKEND}
    for transform, function in saved.items():
        setattr(s2sad, transform, functools.partial(function, backend=name))
    try:
        yield
    finally:
        for transform, function in saved.items():
            setattr(s2sad, transform, function)


def _package(backend_name):
    """The evals package as the tool of `backend_name` imports it: `evals`, or for another backend a
    second copy of the same files (its module-level derivatives are that backend's)."""
    if backend_name == "python":
        return "evals"
    package = f"evals_{backend_name}"
    if package not in sys.modules:
        spec = import_util.spec_from_file_location(
            package,
            os.path.join(HERE, "evals", "__init__.py"),
            submodule_search_locations=[os.path.join(HERE, "evals")],
        )
        module = import_util.module_from_spec(spec)
        sys.modules[package] = module
        spec.loader.exec_module(module)
    return package


def load(module, backend_name="python"):
    """The eval module `module` (a name GradBench sends), or None when we have none."""
    if not module.isidentifier():
        return None
    package = _package(backend_name)
    try:
        with backend(backend_name):
            return importlib.import_module(f"{package}.{module}")
    except ModuleNotFoundError as error:
        if error.name == f"{package}.{module}":
            return None
        raise


FIRST_CALL = "first call (compiles)"
WARM_UP = 2  # calls timed apart: the first compiles; a new shape compiles code of its own when it comes back


def evaluate(module, name, raw, backend_name="python"):
    """Run `module.FUNCTIONS[name]` on `raw` min_runs times / min_seconds long; the response fields.

    The first call compiles the derivatives for the input's kinds (and shapes, for the first shape a
    derivative meets); a later shape runs generic code once and compiles code of its own on its second
    call. The first WARM_UP calls are timed apart (timings named FIRST_CALL), and the `evaluate`
    timings are the calls after them."""
    function: Function = load(module, backend_name).FUNCTIONS[name]
    prepared = function.prepare(raw)
    min_runs = raw.get("min_runs", 1) if isinstance(raw, dict) else 1
    min_seconds = raw.get("min_seconds", 0) if isinstance(raw, dict) else 0
    first = []
    for _ in range(WARM_UP):
        start = time.perf_counter_ns()
        function.compute(prepared)
        first.append({"name": FIRST_CALL, "nanoseconds": time.perf_counter_ns() - start})
    timings, elapsed = [], 0.0
    while len(timings) < min_runs or elapsed < min_seconds:
        start = time.perf_counter_ns()
        result = function.compute(prepared)
        end = time.perf_counter_ns()
        timings.append({"name": "evaluate", "nanoseconds": end - start})
        elapsed += (end - start) / 1e9
    return {"success": True, "output": function.output(result), "timings": first + timings}


def respond(message, backend_name="python"):
    """The response (a dict) to one protocol message, by the tool of `backend_name` ("python", "numba")."""
    with backend(backend_name):
        return _respond(message, backend_name)


def _respond(message, backend_name):
    kind = message["kind"]
    response = {"id": message["id"]}
    if kind == "start":
        response["tool"] = TOOL_NAMES[backend_name]
    elif kind == "define":
        start = time.perf_counter_ns()
        try:
            found = load(message["module"], backend_name) is not None
        except Exception as error:  # an eval module that fails to import: say why
            response.update(success=False, error="".join(traceback.format_exception(error)))
        else:
            response["success"] = found
            if not found:
                response["error"] = f"s2sad has no implementation of {message['module']!r}"
        response["timings"] = [{"name": "import", "nanoseconds": time.perf_counter_ns() - start}]
    elif kind == "evaluate":
        try:
            response.update(evaluate(message["module"], message["function"], message["input"], backend_name))
        except Exception as error:
            response.update(success=False, error=failure(error))
    return response


def failure(error):
    """The `error` field: an s2sad error's message first (what it refuses, where), then the traceback."""
    trace = "".join(traceback.format_exception(error))
    if isinstance(error, s2sad.S2sadError):
        return f"{type(error).__name__}: {error}\n\n{trace}"
    return trace


def main(stdin=sys.stdin, stdout=sys.stdout, backend_name="python"):
    for line in stdin:
        if line.strip():
            print(json.dumps(respond(json.loads(line), backend_name)), file=stdout, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="s2sad as a GradBench tool (the protocol on stdin / stdout)")
    parser.add_argument("--backend", choices=list(TOOL_NAMES), default="python")
    main(backend_name=parser.parse_args().backend)
