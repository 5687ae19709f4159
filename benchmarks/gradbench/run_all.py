"""Run every GradBench eval against s2sad's tools (the Python target, `s2sad`; the numba target,
`s2sad-numba`), PyTorch's tool and the manual C++ tool, and write docs/gradbench.md (validated
per eval, totals, ratios, what the numba target refuses).

Needs a GradBench checkout with the manual tool built and the eval dependencies installed
(see ../../docs/gradbench.md, "How to run"), and gbrun.py, the Python stand-in for
GradBench's Rust driver. Every tool runs on one thread (OMP/MKL/OPENBLAS_NUM_THREADS=1), with the
same fixed malloc thresholds (ALLOCATOR below).

    python benchmarks/gradbench/run_all.py --gradbench /tmp/gradbench/gb --gbrun /work/shared/gradbench/gbrun.py
    python benchmarks/gradbench/run_all.py ... --evals gmm lse --tools s2sad   # a subset
    python benchmarks/gradbench/run_all.py ... --tools s2sad-numba             # the numba target's column
    python benchmarks/gradbench/run_all.py ... --report-only                 # table from saved runs
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(os.path.dirname(HERE))

# The sizes we run (documented in docs/gradbench.md): the evals' own defaults trimmed so that
# the three tools finish in minutes on one thread of a small machine.
EVALS = {
    "lse": "-n 2500 20000 160000 1280000",
    "llsq": "-n 64 1024 8196 -m 128",
    "det": "-l 5 6 7 8",
    "ode": "-n 1000 10000 -s 1 10 100",
    "kmeans": "-k 10 100 -n 1000 10000 -d 8 16",
    "gmm": "-d 2 10 20 -k 5 10 25 -n 1000",
    "lstm": "-l 2 4 -c 1024",
    "particle": "",
    "saddle": "",
    "ba": "--min 1 --max 2",
    "ht": "--min 1 --max 3",
}
# What each eval's functions are: (objective function, derivative function) for the ratio column.
FUNCTION_PAIRS = {
    "lse": ("primal", "gradient"),
    "llsq": ("primal", "gradient"),
    "det": ("primal", "gradient"),
    "ode": ("primal", "gradient"),
    "kmeans": ("cost", "dir"),
    "gmm": ("objective", "jacobian"),
    "lstm": ("objective", "jacobian"),
    "ba": ("objective", "jacobian"),
    "ht": ("objective", "jacobian"),
}
TOOLS = {
    "s2sad": f"{shlex.quote(sys.executable)} {shlex.quote(os.path.join(HERE, 'tool.py'))}",
    "s2sad-numba": f"{shlex.quote(sys.executable)} {shlex.quote(os.path.join(HERE, 'tool.py'))} --backend numba",
    "pytorch": f"{shlex.quote(sys.executable)} python/gradbench/gradbench/tools/pytorch/run.py",
    "manual": f"{shlex.quote(sys.executable)} python/gradbench/gradbench/cpp.py manual",
}


# The same fixed glibc malloc thresholds for every tool (and the evals). NumPy and PyTorch allocate
# their large arrays with malloc; by default glibc serves a block above its mmap threshold with a
# fresh mapping and unmaps it when freed, and moves that threshold up to the largest block freed so
# far. A session repeating one computation then takes page faults on every large temporary or not,
# depending on which sizes earlier messages happened to free: gmm's objective at d=20, k=10 took
# 2.0 ms per call in a fresh s2sad tool and 1.0 ms once a jacobian message had run, the same code.
# With fixed thresholds, freed blocks up to 64 MiB are reused and a timing no longer depends on the
# order of the messages.
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


def run(gradbench, gbrun, runs, eval_name, tool, min_seconds, timeout):
    """One gbrun session; returns its summary (outcome and per-evaluate rows)."""
    summary = os.path.join(runs, f"{eval_name}-{tool}.json")
    command = [
        sys.executable,
        gbrun,
        "--timeout",
        str(timeout),
        "--eval",
        f"{sys.executable} python/gradbench/gradbench/evals/{eval_name}/run.py {EVALS[eval_name]} "
        f"--min-runs 1 --min-seconds {min_seconds}",
        "--tool",
        TOOLS[tool],
        "-o",
        os.path.join(runs, f"{eval_name}-{tool}.jsonl"),
        "--summary",
        summary,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **ALLOCATOR)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(gradbench, "python", "gradbench"), REPOSITORY])
    if tool in OURS:  # an empty cache directory: the first calls include every compile (numba's too)
        env["S2SAD_CACHE_DIR"] = os.path.join(runs, f"cache-{eval_name}-{tool}")
        shutil.rmtree(env["S2SAD_CACHE_DIR"], ignore_errors=True)
    start = time.perf_counter()
    with open(os.path.join(runs, f"{eval_name}-{tool}.log"), "w") as log:
        subprocess.run(command, cwd=gradbench, env=env, stdout=log, stderr=subprocess.STDOUT)
    print(f"{eval_name:9} {tool:11} {time.perf_counter() - start:7.1f} s", flush=True)
    return load(runs, eval_name, tool)


def load(runs, eval_name, tool):
    path = os.path.join(runs, f"{eval_name}-{tool}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def first_calls(runs, eval_name, tool):
    """Sum of the first-call timings (s2sad's compile and first run) in a session's log, seconds."""
    path = os.path.join(runs, f"{eval_name}-{tool}.jsonl")
    if not os.path.exists(path):
        return None
    total = 0.0
    with open(path) as f:
        for line in f:
            response = json.loads(line).get("response") or {}
            total += sum(
                t["nanoseconds"] for t in response.get("timings") or [] if t["name"].startswith("first call")
            )
    return total / 1e9


def refusals(runs, eval_name, tool):
    """{function: the first line of the first error the tool answered for it} from a session's log (an
    s2sad error's first line: its class, file, line and what it refuses)."""
    path = os.path.join(runs, f"{eval_name}-{tool}.jsonl")
    if not os.path.exists(path):
        return {}
    functions, found = {}, {}
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            message, response = entry.get("message") or {}, entry.get("response") or {}
            if message.get("kind") == "evaluate":
                functions[message["id"]] = message["function"]
            if response.get("success") is False and response.get("id") in functions:
                error = response.get("error") or ""
                found.setdefault(
                    functions[response["id"]], error.strip().splitlines()[0] if error.strip() else ""
                )
    return found


def totals(summary):
    """Sum of per-message mean evaluate times in seconds, overall and per function; validity."""
    if summary is None:
        return None
    rows = summary["evaluations"]
    by_function = {}
    for row in rows:
        if row["mean_ns"] is not None:
            by_function[row["function"]] = by_function.get(row["function"], 0.0) + row["mean_ns"] / 1e9
    valid = summary["outcome"] == "success" and bool(rows) and all(row["valid"] for row in rows)
    return {
        "outcome": summary["outcome"],
        "valid": valid,
        "total": sum(by_function.values()) if by_function else None,
        "by_function": by_function,
        "count": len(rows),
    }


def seconds(value):
    if value is None:
        return "-"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2g}x" if a / b < 10 else f"{a / b:.0f}x"


OURS = ("s2sad", "s2sad-numba")
REFERENCES = ("s2sad", "pytorch", "manual")  # the tools of the first comparison (the Python target's)


def status(result, refused):
    """The validated column of one (eval, tool): yes, the functions the tool refused, or the outcome."""
    if result is None:
        return "-"
    if result["valid"]:
        return "yes"
    if refused:
        return f"no: {', '.join(sorted(refused))} refused"
    return f"no ({result['outcome']})"


def short(error):
    """An error's first line for a Markdown table: paths relative to the repository, no `|`."""
    return error.replace(REPOSITORY + os.sep, "").replace("|", "\\|")


def report(runs, evals, min_seconds, elapsed):
    results = {name: {tool: totals(load(runs, name, tool)) for tool in TOOLS} for name in evals}
    refused = {name: {tool: refusals(runs, name, tool) for tool in OURS} for name in evals}
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# s2sad on GradBench",
        "",
        f"Generated by `benchmarks/gradbench/run_all.py` on {date} ({platform.machine()}, "
        f"Python {platform.python_version()}, one thread per tool{elapsed}). Each (eval, tool) session",
        "runs alone, one after another, on a 2-core machine that other work shares: the timings carry",
        "that noise (ratios of 1.5x either way are within it). Every tool runs with the same fixed",
        "glibc malloc thresholds (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`; see",
        "`run_all.py`): with glibc's moving default, a large temporary is a fresh mapping (page faults)",
        "or a reused block depending on what earlier messages freed.",
        "",
        "[GradBench](https://github.com/gradbench/gradbench) is the shared benchmark suite for",
        "automatic differentiation: each eval sends inputs to a tool over a JSON protocol and checks",
        "every answer against GradBench's hand-written C++ derivatives (the *manual* tool) with",
        "|a - b| / max(1, |a| + |b|) <= 1e-4. Our tool is `benchmarks/gradbench/tool.py`: one",
        "plain-NumPy module per eval (loops where the math has loops), differentiated with s2sad's",
        "public API (`grad`, `jvp`, `jacfwd`). It runs as two tools: **s2sad**, the Python target (the",
        "default), and **s2sad-numba** (`tool.py --backend numba`), the same modules, unchanged, with",
        "every `grad`, `value_and_grad`, `jvp` and `vjp` they call (at module level, in their",
        'functions, and inside the code they differentiate) given `backend="numba"`. `jacfwd` has',
        "no numba target and stays on the Python one. A derivative the numba target refuses is",
        "answered with its s2sad error, not by the Python target: the refusals are listed below.",
        "PyTorch's tool is GradBench's own.",
        "",
        "Times are sums over an eval's evaluate messages of the mean time per call (GradBench's",
        f"`evaluate` timings; every call repeated for at least {min_seconds} s). s2sad compiles a",
        "derivative the first time it meets a function with new argument kinds (its code specialized",
        "to the first shapes, and to a later shape when it comes back): our tools time each message's",
        "first two calls apart (the section *First calls* totals them; every session",
        "starts with an empty s2sad cache directory, so they include numba's compile) and their",
        "`evaluate` timings are the calls after them. A dash: the tool has no implementation (the manual",
        "tool has none for particle and saddle, whose answers GradBench checks against known values),",
        "the run failed, or (s2sad-numba) a function was refused.",
        "",
        "| eval | s2sad validated | s2sad (s) | s2sad-numba validated | s2sad-numba (s) | PyTorch (s) "
        "| manual (s) | s2sad / PyTorch | s2sad / manual | s2sad-numba / manual |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in evals:
        row = results[name]
        t = {tool: (row[tool]["total"] if row[tool] and row[tool]["valid"] else None) for tool in TOOLS}
        ours = row["s2sad"]["total"] if row["s2sad"] else None
        lines.append(
            f"| {name} | {status(row['s2sad'], refused[name]['s2sad'])} | {seconds(ours)} "
            f"| {status(row['s2sad-numba'], refused[name]['s2sad-numba'])} | {seconds(t['s2sad-numba'])} "
            f"| {seconds(t['pytorch'])} | {seconds(t['manual'])} | {ratio(ours, t['pytorch'])} "
            f"| {ratio(ours, t['manual'])} | {ratio(t['s2sad-numba'], t['manual'])} |"
        )

    def validated(tools):
        return [n for n in evals if all(results[n][tool] and results[n][tool]["valid"] for tool in tools)]

    def over(names, tool):
        return seconds(sum(results[n][tool]["total"] for n in names))

    both = validated(REFERENCES)
    numba = validated(("s2sad-numba", "s2sad", "manual"))
    lines += [
        "",
        f"s2sad, PyTorch and manual validated on {len(both)} evals ({', '.join(both)}); over those, s2sad "
        + (
            f"takes {over(both, 's2sad')} s, PyTorch {over(both, 'pytorch')} s, manual {over(both, 'manual')} s."
            if both
            else "nothing."
        ),
        f"s2sad-numba, s2sad and manual validated on {len(numba)} evals ({', '.join(numba)}); over those, "
        + (
            f"s2sad-numba takes {over(numba, 's2sad-numba')} s, s2sad {over(numba, 's2sad')} s, "
            f"manual {over(numba, 'manual')} s."
            if numba
            else "nothing."
        ),
        "",
        "## Objective and derivative",
        "",
        "Per function (sum of mean times, seconds; *refused*: the numba target refused it, see",
        "below); the last two columns are each s2sad tool's derivative time over its own objective",
        "time (the primal is plain NumPy run by Python in both tools: only derivatives are compiled).",
        "",
        "| eval | function | s2sad | s2sad-numba | PyTorch | manual | s2sad derivative / objective "
        "| s2sad-numba derivative / objective |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in evals:
        row = results[name]
        functions = sorted({f for tool in TOOLS if row[tool] for f in row[tool]["by_function"]})
        functions += sorted({f for tool in OURS for f in refused[name][tool]} - set(functions))
        pair = FUNCTION_PAIRS.get(name)
        for function in functions:
            cells = []
            for tool in TOOLS:
                value = row[tool]["by_function"].get(function) if row[tool] else None
                if value is None and tool in OURS and function in refused[name][tool]:
                    cells.append("refused")
                else:
                    cells.append(seconds(value))
            own = []
            for tool in OURS:
                own.append("-")
                if pair and function == pair[1] and row[tool]:
                    own[-1] = ratio(
                        row[tool]["by_function"].get(pair[1]), row[tool]["by_function"].get(pair[0])
                    )
            lines.append(f"| {name} | {function} | " + " | ".join(cells + own) + " |")
    lines += [
        "",
        "## First calls",
        "",
        "The first two calls of each message, which compile s2sad's derivatives for the message's",
        "argument kinds and shapes (a new size compiles again; for s2sad-numba, numba's compile of",
        "the generated code too), summed over the eval's messages, beside the evaluate totals of the",
        "table above (a dash: some function was refused; its messages' first calls are counted):",
        "",
        "| eval | messages | s2sad first calls (s) | s2sad evaluate total (s) | s2sad-numba first calls (s) "
        "| s2sad-numba evaluate total (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name in evals:
        cells = []
        count = None
        for tool in OURS:
            result = results[name][tool]
            if result:
                count = count or result["count"]
                total = result["total"] if result["valid"] else None  # (refused functions: no total)
                cells += [seconds(first_calls(runs, name, tool)), seconds(total)]
            else:
                cells += ["-", "-"]
        if count:
            lines.append(f"| {name} | {count} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## What the numba target refuses",
        "",
        "The first line of the s2sad error each refused function answered (the same error for every",
        "message of the function; GradBench's log holds the full message with the code and a hint):",
        "",
    ]
    listed = [
        (name, function, error) for name in evals for function, error in refused[name]["s2sad-numba"].items()
    ]
    lines += [f"- **{name}** `{function}`: {short(error)}" for name, function, error in listed] or [
        "- nothing"
    ]
    lines += [
        "",
        "## Notes",
        "",
        "- particle and saddle have no manual implementation; GradBench checks them against fixed",
        "  expected values. Each of their four functions (outer mode, inner mode) runs s2sad's",
        "  nested derivatives: `grad` / `jacfwd` of a function that calls `grad` or `jvp`.",
        "- s2sad-numba: `jacfwd` (ht's theta columns, the outer `f` of particle and saddle) runs the",
        "  Python target; the transforms it differentiates through (`grad`, `jvp` inside) are compiled",
        "  as part of it, by the Python target. The objectives are the same plain NumPy in both tools.",
        "- ode: GradBench's manual gradient is that of the ODE's exact solution (a product formula),",
        "  not of the Runge-Kutta approximation the primal computes. At these sizes both are below",
        "  the validation tolerance; at small n (n = 5, s = 3) they differ by the discretisation",
        "  error and GradBench reports a mismatch for any tool that differentiates the solver.",
        "- lstm: GradBench's text file is absent from our snapshot; any ASCII text at",
        "  `evals/lstm/data/lstm_full.txt` gives inputs of the same sizes (ours: GradBench's own",
        "  Markdown files). lstm inputs are unseeded, so each tool sees different numbers.",
        "- The PyTorch tool has no llsq, det, ode, particle or saddle (GradBench's Python tool does",
        "  not implement them). Its ba and ht Jacobians take one autograd Jacobian per observation",
        "  (minutes on ba's third file, about 6 minutes on ht's hand4): ba and ht run their smallest",
        "  files only.",
    ]
    lines += [
        "",
        "## Sizes",
        "",
        "Arguments given to each eval's `run.py` (GradBench's defaults trimmed):",
        "",
    ]
    lines += [f"- **{name}**: `{EVALS[name] or '(defaults)'}`" for name in evals]
    lines += [
        "",
        "## How to run",
        "",
        "1. Fetch GradBench (github.com/gradbench/gradbench) into a scratch folder; build the manual",
        "   tool (`apt-get install nlohmann-json3-dev`, copy `json.hpp` to `cpp/json.hpp`,",
        "   `make -C tools/manual`); `pip install numpy scipy pydantic dataclasses-json torch`.",
        "   ht's hand12 files and lstm's full text are large data files; the sizes above avoid them",
        "   (any text file at `evals/lstm/data/lstm_full.txt` serves lstm's inputs).",
        "2. `python benchmarks/gradbench/run_all.py --gradbench <checkout> --gbrun <gbrun.py>`",
        "   (gbrun.py relays messages between an eval and a tool like GradBench's Rust `gradbench run`).",
        "   Logs and summaries go to `--runs` (default /tmp/gradbench-runs); the table to this file.",
        "   `--evals` and `--tools` (s2sad, s2sad-numba, pytorch, manual) run a subset into the same",
        "   folder; `--report-only` writes this page from the summaries there. The s2sad-numba tool",
        "   needs numba (`pip install s2sad[numba]`); by hand it is `python benchmarks/gradbench/tool.py",
        "   --backend numba`.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gradbench", default=os.environ.get("GRADBENCH", "/tmp/gradbench/gb"))
    parser.add_argument("--gbrun", default=os.environ.get("GBRUN", "/work/shared/gradbench/gbrun.py"))
    parser.add_argument("--runs", default="/tmp/gradbench-runs")
    parser.add_argument("--evals", nargs="+", default=list(EVALS), choices=list(EVALS))
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", default=os.path.join(REPOSITORY, "docs", "gradbench.md"))
    parser.add_argument("--report-only", action="store_true", help="write the table from saved summaries")
    args = parser.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    elapsed = ""
    if not args.report_only:
        start = time.perf_counter()
        for name in args.evals:
            for tool in args.tools:
                if tool == "manual" and name in ("particle", "saddle"):
                    continue  # GradBench's manual tool has no implementation of these
                run(args.gradbench, args.gbrun, args.runs, name, tool, args.min_seconds, args.timeout)
        elapsed = f"; the run took {(time.perf_counter() - start) / 60:.0f} min"
    with open(args.out, "w") as f:
        f.write(report(args.runs, list(EVALS), args.min_seconds, elapsed))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
