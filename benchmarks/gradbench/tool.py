"""s2sad as a GradBench tool: speaks the protocol on stdin / stdout.

GradBench (github.com/gradbench/gradbench) sends one JSON message per line:
``start``, ``define`` (a module name), ``evaluate`` (module, function, input)
and ``analysis`` (whether an earlier answer was valid). This runner answers each
with one JSON line. The evals live in ``evals/<module>.py``; each exposes
``FUNCTIONS``, a dict from function name to ``Function(prepare, compute, output)``:
``prepare`` turns the JSON input into arrays (untimed), ``compute`` is what is
timed, ``output`` turns its result back into JSON (untimed). The first call of each
message, which compiles derivatives, is timed apart from the ``evaluate`` timings.

Run it as ``python benchmarks/gradbench/tool.py`` (one thread: set
OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS to 1).
"""

import importlib
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from evals import Function  # noqa: E402  (the evals package sits next to this file)


def load(module):
    """The eval module `module` (a name GradBench sends), or None when we have none."""
    if not module.isidentifier():
        return None
    try:
        return importlib.import_module(f"evals.{module}")
    except ModuleNotFoundError as error:
        if error.name == f"evals.{module}":
            return None
        raise


FIRST_CALL = "first call (compiles)"


def evaluate(module, name, raw):
    """Run `module.FUNCTIONS[name]` on `raw` min_runs times / min_seconds long; the response fields.

    The first call compiles the derivatives for the input's kinds and shapes; it is timed
    apart (a timing named FIRST_CALL), and the `evaluate` timings are the calls after it."""
    function: Function = load(module).FUNCTIONS[name]
    prepared = function.prepare(raw)
    min_runs = raw.get("min_runs", 1) if isinstance(raw, dict) else 1
    min_seconds = raw.get("min_seconds", 0) if isinstance(raw, dict) else 0
    start = time.perf_counter_ns()
    function.compute(prepared)
    first = [{"name": FIRST_CALL, "nanoseconds": time.perf_counter_ns() - start}]
    timings, elapsed = [], 0.0
    while len(timings) < min_runs or elapsed < min_seconds:
        start = time.perf_counter_ns()
        result = function.compute(prepared)
        end = time.perf_counter_ns()
        timings.append({"name": "evaluate", "nanoseconds": end - start})
        elapsed += (end - start) / 1e9
    return {"success": True, "output": function.output(result), "timings": first + timings}


def respond(message):
    """The response (a dict) to one protocol message."""
    kind = message["kind"]
    response = {"id": message["id"]}
    if kind == "start":
        response["tool"] = "s2sad"
    elif kind == "define":
        start = time.perf_counter_ns()
        try:
            found = load(message["module"]) is not None
        except Exception as error:  # an eval module that fails to import: say why
            response.update(success=False, error="".join(traceback.format_exception(error)))
        else:
            response["success"] = found
            if not found:
                response["error"] = f"s2sad has no implementation of {message['module']!r}"
        response["timings"] = [{"name": "import", "nanoseconds": time.perf_counter_ns() - start}]
    elif kind == "evaluate":
        try:
            response.update(evaluate(message["module"], message["function"], message["input"]))
        except Exception as error:
            response.update(success=False, error="".join(traceback.format_exception(error)))
    return response


def main(stdin=sys.stdin, stdout=sys.stdout):
    for line in stdin:
        if line.strip():
            print(json.dumps(respond(json.loads(line))), file=stdout, flush=True)


if __name__ == "__main__":
    main()
