"""Run every GradBench eval against s2sad's tool, PyTorch's tool and the manual C++ tool, and write
docs/gradbench.md (validated per eval, totals, ratios).

Needs a GradBench checkout with the manual tool built and the eval dependencies installed
(see ../../docs/gradbench.md, "How to run"), and gbrun.py, the Python stand-in for
GradBench's Rust driver. Every tool runs on one thread (OMP/MKL/OPENBLAS_NUM_THREADS=1).

    python benchmarks/gradbench/run_all.py --gradbench /tmp/gradbench/gb --gbrun /work/shared/gradbench/gbrun.py
    python benchmarks/gradbench/run_all.py ... --evals gmm lse --tools s2sad   # a subset
    python benchmarks/gradbench/run_all.py ... --report-only                 # table from saved runs
"""

import argparse
import datetime
import json
import os
import platform
import shlex
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
    "pytorch": f"{shlex.quote(sys.executable)} python/gradbench/gradbench/tools/pytorch/run.py",
    "manual": f"{shlex.quote(sys.executable)} python/gradbench/gradbench/cpp.py manual",
}


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
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(gradbench, "python", "gradbench"), REPOSITORY])
    start = time.perf_counter()
    with open(os.path.join(runs, f"{eval_name}-{tool}.log"), "w") as log:
        subprocess.run(command, cwd=gradbench, env=env, stdout=log, stderr=subprocess.STDOUT)
    print(f"{eval_name:9} {tool:8} {time.perf_counter() - start:7.1f} s", flush=True)
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


def report(runs, evals, min_seconds, elapsed):
    results = {name: {tool: totals(load(runs, name, tool)) for tool in TOOLS} for name in evals}
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# s2sad on GradBench",
        "",
        f"Generated by `benchmarks/gradbench/run_all.py` on {date} ({platform.machine()}, "
        f"Python {platform.python_version()}, one thread per tool{elapsed}). Each (eval, tool) session",
        "runs alone, one after another, on a 2-core machine that other work shares: the timings carry",
        "that noise (ratios of 1.5x either way are within it).",
        "",
        "[GradBench](https://github.com/gradbench/gradbench) is the shared benchmark suite for",
        "automatic differentiation: each eval sends inputs to a tool over a JSON protocol and checks",
        "every answer against GradBench's hand-written C++ derivatives (the *manual* tool) with",
        "|a - b| / max(1, |a| + |b|) <= 1e-4. Our tool is `benchmarks/gradbench/tool.py`: one",
        "plain-NumPy module per eval (loops where the math has loops), differentiated with s2sad's",
        "public API (`grad`, `jvp`, `jacfwd`). PyTorch's tool is GradBench's own.",
        "",
        "Times are sums over an eval's evaluate messages of the mean time per call (GradBench's",
        f"`evaluate` timings; every call repeated for at least {min_seconds} s). s2sad compiles a",
        "derivative the first time it meets a function with new argument kinds and shapes: our tool",
        "times each message's first call apart (the last section totals them) and its `evaluate`",
        "timings are the calls after it. A dash: the tool has no implementation (the manual tool has",
        "none for particle and saddle, whose answers GradBench checks against known values) or the",
        "run failed.",
        "",
        "| eval | validated | s2sad (s) | PyTorch (s) | manual (s) | s2sad / PyTorch | s2sad / manual |",
        "|---|---|---|---|---|---|---|",
    ]
    grand = {tool: 0.0 for tool in TOOLS}
    for name in evals:
        row = results[name]
        ours = row["s2sad"]
        validated = "-" if ours is None else ("yes" if ours["valid"] else f"no ({ours['outcome']})")
        t = {tool: (row[tool]["total"] if row[tool] and row[tool]["valid"] else None) for tool in TOOLS}
        ours_total = ours["total"] if ours else None
        for tool in TOOLS:
            if t[tool] is not None:
                grand[tool] += t[tool]
        lines.append(
            f"| {name} | {validated} | {seconds(ours_total)} | {seconds(t['pytorch'])} | {seconds(t['manual'])} "
            f"| {ratio(ours_total, t['pytorch'])} | {ratio(ours_total, t['manual'])} |"
        )
    both = [n for n in evals if all(results[n][tool] and results[n][tool]["valid"] for tool in TOOLS)]
    lines += [
        "",
        f"All tools validated on {len(both)} evals ({', '.join(both)}); over those, s2sad takes "
        + (
            f"{seconds(sum(results[n]['s2sad']['total'] for n in both))} s, PyTorch "
            f"{seconds(sum(results[n]['pytorch']['total'] for n in both))} s, manual "
            f"{seconds(sum(results[n]['manual']['total'] for n in both))} s."
            if both
            else "nothing."
        ),
        "",
        "## Objective and derivative",
        "",
        "Per function (sum of mean times, seconds); the last column is s2sad's derivative time over",
        "its own objective time (the primal written in plain NumPy, run by the same Python).",
        "",
        "| eval | function | s2sad | PyTorch | manual | s2sad derivative / s2sad objective |",
        "|---|---|---|---|---|---|",
    ]
    for name in evals:
        row = results[name]
        functions = sorted({f for tool in TOOLS if row[tool] for f in row[tool]["by_function"]})
        pair = FUNCTION_PAIRS.get(name)
        for function in functions:
            values = [row[tool]["by_function"].get(function) if row[tool] else None for tool in TOOLS]
            own = "-"
            if pair and function == pair[1] and row["s2sad"]:
                own = ratio(
                    row["s2sad"]["by_function"].get(pair[1]), row["s2sad"]["by_function"].get(pair[0])
                )
            lines.append(f"| {name} | {function} | " + " | ".join(seconds(v) for v in values) + f" | {own} |")
    lines += [
        "",
        "## First calls",
        "",
        "The first call of each message, which compiles s2sad's derivatives for the message's",
        "argument kinds and shapes (a new size compiles again), summed over the eval's messages,",
        "beside the evaluate total of the table above; their difference is the compile time (each",
        "first call less one call of the message's mean time):",
        "",
        "| eval | messages | s2sad first calls (s) | s2sad evaluate total (s) | compile (s) |",
        "|---|---|---|---|---|",
    ]
    for name in evals:
        ours = results[name]["s2sad"]
        if ours:
            first = first_calls(runs, name, "s2sad")
            compile_time = None if first is None else max(0.0, first - ours["total"])
            lines.append(
                f"| {name} | {ours['count']} | {seconds(first)} | {seconds(ours['total'])} "
                f"| {seconds(compile_time)} |"
            )
    lines += [
        "",
        "## Notes",
        "",
        "- particle and saddle have no manual implementation; GradBench checks them against fixed",
        "  expected values. Each of their four functions (outer mode, inner mode) runs s2sad's",
        "  nested derivatives: `grad` / `jacfwd` of a function that calls `grad` or `jvp`.",
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
