"""Run the benchmark suite: s2sad against autograd, PyTorch, JAX and hand-written adjoints.

    python benchmarks/run.py [--quick] [--only NAME ...] [--no-save]

Everything runs in one process. Per workload: each tool is built and its first
call timed (for s2sad with a cleared cache, so that is generation + compile),
then the primal and gradient calls of all tools are timed in interleaved
repeats (median of the repeats, each repeat many calls). Gradients are checked
against central finite differences. The full run writes docs/benchmarks.md and
docs/benchmarks.png.
"""

import argparse
import datetime
import math
import os
import platform
import sys
import tempfile
import traceback
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# One thread per framework, set before NumPy, PyTorch or JAX start their pools: the
# repeats interleave frameworks whose idle threads spin, and on a small machine a
# multi-threaded BLAS then times the other pools' spinning (on a busy 2-core machine the
# MLP primal took 60 ms with two BLAS threads, 2 ms with one).
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
for _name, _value in THREADS.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import PRIMAL, ToolError  # noqa: E402
from workloads import load  # noqa: E402


def configure_frameworks():
    """float64 everywhere, and one-time start-up costs paid before any first call is timed.

    JAX needs x64 switched on before it creates arrays. Importing s2sad's code
    generator (black), starting JAX's CPU backend and PyTorch's dispatcher are
    per-process costs, not per-function ones, so a throwaway call pays them here.
    """
    import s2sad
    import s2sad.cache

    def warm(x, y):
        return x * y

    s2sad.grad(warm)(1.0, 2.0)
    s2sad.jvp(warm, (1.0, 2.0), (1.0, 0.0))
    s2sad.cache.clear()
    if harness.available("autograd"):
        import autograd

        autograd.grad(warm)(1.0, 2.0)
    if harness.available("torch"):
        import torch

        torch.set_num_threads(1)
        x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        warm(x, x).backward()
    if harness.available("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.grad(warm)(1.0, 2.0)
        jax.jit(jax.grad(warm))(1.0, 2.0).block_until_ready()


def tools_for(workload):
    """(tool name, builder) in table order: the s2sad tools first, then the workload's own."""
    builders = {
        "s2sad reverse": harness.s2sad_reverse(workload),
        "s2sad forward": harness.s2sad_forward(workload),
        "s2sad numba": harness.s2sad_numba(workload),
    }
    builders.update(workload.builders)
    ordered = [t for t in harness.TOOLS if t in builders]
    ordered += [t for t in builders if t not in ordered]
    if TOOL_FILTER:
        ordered = [t for t in ordered if any(t.startswith(prefix) for prefix in TOOL_FILTER)]
    return [(tool, builders[tool]) for tool in ordered]


TOOL_FILTER = None  # --tools: run only the tools whose names start with one of these


def short_error(exc):
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if not isinstance(exc, ToolError) else first


def numba_checks(workload, row, log):
    """The numba target against the Python target (gradient and jvps), and its first call in a
    second process that finds the compiled code in the cache directory."""
    grad_diff, jvp_diff = harness.numba_agreement(workload)
    cached = harness.second_process_first_call(workload, harness.NUMBA_CACHE)
    row["cached_first_ms"] = cached * 1e3
    row["grad_diff"] = f"{grad_diff:.1e}"
    row["jvp_diff"] = "" if jvp_diff is None else f"{jvp_diff:.1e}"
    jvp_text = "jvp not run" if jvp_diff is None else f"jvp {jvp_diff:.0e}"
    row["note"] = (
        f"{row['note']}; vs Python target: grad {grad_diff:.0e}, {jvp_text}; "
        f"first call in a 2nd process (cached) {cached * 1e3:.0f} ms"
    )
    log(
        f"   s2sad numba: vs Python target grad {grad_diff:.1e}, {jvp_text}; cached first call {cached * 1e3:.0f} ms"
    )


def run_workload(workload, repeats, seconds, log):
    """One workload: rows of results (dicts) in table order."""
    log(f"\n== {workload.name}: {workload.description}")
    reference = harness.central_differences(workload)
    log(f"   finite differences: {reference}")
    rows = []
    entries = [((PRIMAL, "primal"), workload.call_primal)]
    for tool, build in tools_for(workload):
        row = {"workload": workload.name, "tool": tool, "note": ""}
        rows.append(row)
        module = harness.requires(tool)
        if module and not harness.available(module):
            row["error"] = f"skipped: {module} is not installed"
            log(f"   {tool}: {row['error']}")
            continue
        try:
            first_seconds, impl, first = harness.time_first_call(build, workload.args)
        except Exception as exc:
            row["error"] = short_error(exc)
            if not isinstance(exc, ToolError):  # expected failures are results, not crashes
                row["traceback"] = traceback.format_exc()
            log(f"   {tool}: FAILED {row['error']}")
            continue
        row["first_ms"] = first_seconds * 1e3
        row["note"] = impl.note
        row["gradient"] = harness.projected(workload, first)
        row["rel_error"] = harness.relative_error(row["gradient"], reference)
        log(f"   {tool}: first call {first_seconds * 1e3:.1f} ms, rel. error {row['rel_error']:.1e}")
        if tool == "s2sad numba":
            numba_checks(workload, row, log)
        entries.append(((tool, "grad"), impl.grad))
        if impl.primal is not None:
            entries.append(((tool, "primal"), impl.primal))
    log(f"   timing {len(entries)} calls x {repeats} interleaved repeats ...")
    medians = harness.interleaved_medians(entries, repeats, seconds)
    primal = medians[(PRIMAL, "primal")]
    rows.insert(0, {"workload": workload.name, "tool": PRIMAL, "primal_ms": primal * 1e3, "note": ""})
    for row in rows[1:]:
        if (row["tool"], "grad") not in medians:
            continue
        grad = medians[(row["tool"], "grad")]
        own = medians.get((row["tool"], "primal"))
        row["grad_ms"] = grad * 1e3
        row["primal_ms"] = (own if own is not None else primal) * 1e3
        row["ratio"] = grad / primal
        row["own_ratio"] = grad / own if own is not None else None
    return rows, reference


def memory_report(workloads, log):
    """Peak traced memory of the Python-level gradients of the loop workloads, per 1,000 steps."""
    lines = []
    for workload in workloads:
        if not workload.steps:
            continue
        calls = {PRIMAL: workload.call_primal}
        for tool, build in tools_for(workload):
            if tool in ("s2sad reverse", "hand adjoint", "autograd"):
                module = harness.requires(tool)
                if module and not harness.available(module):
                    continue
                try:
                    calls[tool] = build(workload.args).grad
                except Exception:
                    continue
        for tool, call in calls.items():
            peak = harness.peak_memory(call)
            per_k = peak / (workload.steps / 1000)
            lines.append((workload.name, tool, peak, per_k))
            log(f"   memory {workload.name} / {tool}: peak {peak / 1024:.1f} KiB")
    return lines


def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "s2sad": version("s2sad"),
        "autograd": version("autograd"),
        "torch": version("torch"),
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
    }


def fmt(value, digits=3):
    if value is None:
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def targets_of(rows, workloads):
    """workload -> (target ratio, how to say it); a relative target scales with its tool's ratio."""
    out = {}
    for w in workloads:
        if not w.target:
            continue
        if not w.target_relative_to:
            out[w.name] = (w.target, f"{w.target:g}x target")
            continue
        base = [r.get("ratio") for r in rows if r["workload"] == w.name and r["tool"] == w.target_relative_to]
        if base and base[0] is not None:
            goal = w.target * base[0]
            out[w.name] = (
                goal,
                f"target of {w.target:g} x the {w.target_relative_to}'s ratio ({fmt(goal)}x)",
            )
    return out


def markdown_table(rows, workloads):
    targets = targets_of(rows, workloads)
    header = (
        "| workload | tool | primal ms | gradient ms | ratio | ratio to own primal "
        "| max rel. error vs FD | first call ms | notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for row in rows:
        tool = row["tool"]
        note = row.get("error") or row.get("note", "")
        if row.get("error"):
            note = f"**{note}**" if not note.startswith("skipped") else note
        ratio = fmt(row.get("ratio"))
        target, said = targets.get(row["workload"], (None, ""))
        if tool.startswith("s2sad reverse") and row.get("ratio") is not None and target:
            verdict = "meets" if row["ratio"] <= target else "**misses**"
            note = f"{verdict} the {said}" + (f"; {note}" if note else "")
        if tool == "s2sad numba" and row.get("grad_ms"):
            python = [
                r.get("grad_ms")
                for r in rows
                if r["workload"] == row["workload"] and r["tool"] == "s2sad reverse"
            ]
            if python and python[0]:
                note = f"{python[0] / row['grad_ms']:.0f}x faster than s2sad reverse; {note}"
        if row.get("rel_error") is not None and row["rel_error"] > 1e-5:
            note = f"**gradient wrong**; {note}"
        error = row.get("rel_error")
        lines.append(
            f"| {row['workload']} | {tool} | {fmt(row.get('primal_ms'))} | {fmt(row.get('grad_ms'))} "
            f"| {ratio} | {fmt(row.get('own_ratio'))} | {'' if error is None else f'{error:.1e}'} "
            f"| {fmt(row.get('first_ms'))} | {note} |"
        )
    return header + "\n".join(lines) + "\n"


def _hand_rewritten_jax(names):
    """The JAX tool of a workload a user would compare with: the hand-rewritten loop if there is one."""
    rewritten = [t for t in names if t.startswith("jax jit (") and "while_loop" not in t]
    return rewritten[0] if rewritten else ("jax jit" if "jax jit" in names else None)


def numba_table(rows):
    """The numba target per workload: the Python target's gradient, the numba gradient and the
    numba-compiled primal, JAX jit's (hand-rewritten) gradient, first calls; empty without numba rows."""
    lines = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        mine = {r["tool"]: r for r in rows if r["workload"] == workload}
        numba = mine.get("s2sad numba")
        if numba is None:
            continue
        python = mine.get("s2sad reverse", {}).get("grad_ms")
        if numba.get("error"):
            lines.append(f"| {workload} | {fmt(python)} | **{numba['error']}** | | | | | | | | |")
            continue
        jax_tool = _hand_rewritten_jax(mine)
        jax = mine.get(jax_tool, {}) if jax_tool else {}
        own = numba.get("own_ratio")
        grad = numba.get("grad_ms")
        lines.append(
            f"| {workload} | {fmt(python)} | {fmt(grad)} "
            f"| {fmt(numba.get('primal_ms')) if own is not None else '(numba cannot compile it)'} "
            f"| {fmt(own)} | {fmt(python / grad) if python and grad else ''} "
            f"| {fmt(jax.get('grad_ms'))}{f' ({jax_tool[9:-1]})' if jax_tool and '(' in jax_tool else ''} "
            f"| {fmt(numba.get('first_ms'))} | {fmt(numba.get('cached_first_ms'))} "
            f"| {numba.get('grad_diff', '')} | {numba.get('jvp_diff', '')} |"
        )
    if not lines:
        return ""
    return (
        "| workload | Python target ms | numba gradient ms | numba primal ms | numba grad / numba primal "
        "| Python target / numba | JAX jit ms (hand-rewritten loop) | first call ms (numba compile) "
        "| first call in a 2nd process ms (cached) | grad vs Python target | jvp vs Python target |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(lines) + "\n"
    )


NUMBA_HEADING = "## Compiled derivatives: the numba target"


def numba_section(rows, how=""):
    """The page's numba section (empty without numba rows)."""
    table = numba_table(rows)
    if not table:
        return ""
    return (
        f"\n{NUMBA_HEADING}\n\n{how}"
        '`s2sad.grad(f, backend="numba")` (docs/numba.md) in the same run: the Python target\'s gradient '
        "(*s2sad reverse*), the numba target's gradient, the workload function itself compiled with "
        "`numba.njit` (its helpers too), JAX jit's gradient of the loop rewritten by hand as "
        "`lax.fori_loop`/`lax.scan` where the workload has one (else `jax jit`), the numba target's first "
        "call in this process (code generation and numba's compile, fresh cache directory) and in a "
        "second process that finds the compiled code (after numba's own start-up). The last two columns "
        "are the largest relative differences from the Python target: the gradient, and `jvp` along "
        "every unit direction (at most 64 inputs) or 3 random directions.\n\n" + table
    )


def replace_numba_section(rows, info, settings, argv):
    """Rewrite only the numba section of docs/benchmarks.md (a `--numba` run), the rest kept."""
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(path) as handle:
        page = handle.read()
    how = (
        f"*This section was measured apart from the table above*, by `python benchmarks/run.py "
        f"{' '.join(argv)}` on {info['date']} ({info['cpu']}, {info['cores']} cores shared with other "
        f"work; {settings}): only the Python target, the numba target and JAX jit run, so a loaded "
        "machine's full run is not needed for it.\n\n"
    )
    section = numba_section(rows, how)
    if NUMBA_HEADING in page:
        start = page.index("\n" + NUMBA_HEADING)
        following = page.find("\n## ", start + 1)
        page = page[:start] + section + (page[following:] if following >= 0 else "")
    else:
        anchor = page.find("\n## ", page.index("## Results") + 1)
        page = page[:anchor] + section + page[anchor:] if anchor >= 0 else page + section
    with open(path, "w") as handle:
        handle.write(page)


def bar_chart(rows, path, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["workload"] for r in rows))
    tools = list(dict.fromkeys(r["tool"] for r in rows if r.get("ratio") is not None))
    width = 0.8 / max(1, len(tools))
    fig, ax = plt.subplots(figsize=(max(9, 2.6 * len(names)), 5))
    colors = plt.get_cmap("tab20").colors
    for k, tool in enumerate(tools):
        xs, ys = [], []
        for i, name in enumerate(names):
            for r in rows:
                if r["workload"] == name and r["tool"] == tool and r.get("ratio") is not None:
                    xs.append(i + (k - (len(tools) - 1) / 2) * width)
                    ys.append(r["ratio"])
        ax.bar(xs, ys, width, label=tool, color=colors[k % len(colors)])
    failed = [
        (i, r)
        for i, name in enumerate(names)
        for r in rows
        if r["workload"] == name and r.get("error") and not r["error"].startswith("skipped")
    ]
    for i, row in failed:
        label = row["tool"] + ": " + row["error"].split(":")[0]
        ax.annotate(
            f"no gradient: {label}",
            (i, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 6 + 12 * [r for _, r in failed if r["workload"] == row["workload"]].index(row)),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            color="firebrick",
        )
    ax.axhline(3.0, color="black", linestyle="--", linewidth=1, label="3x target")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("gradient time / plain Python primal time")
    ax.set_title(
        "Cost of a gradient relative to the primal (lower is better)" + (" [quick]" if quick else "")
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(rows, workloads, memory, info, quick, settings, generation=None):
    docs = os.path.join(ROOT, "docs")
    os.makedirs(docs, exist_ok=True)
    table = markdown_table(rows, workloads)
    parts = [
        "# Benchmarks\n\n",
        "Generated by `python benchmarks/run.py" + (" --quick" if quick else "") + "` "
        "(see benchmarks/README.md). Do not edit by hand.\n\n",
        f"- date: {info['date']}\n- CPU: {info['cpu']}, {info['cores']} cores\n"
        f"- Python {info['python']}, numpy {info['numpy']}, s2sad {info['s2sad']}, "
        f"autograd {info['autograd']}, torch {info['torch']}, jax {info['jax']} (jaxlib {info['jaxlib']})\n"
        f"- timing: {settings}\n",
        "\n## Workloads\n\n" + "".join(f"- **{w.name}**: {w.description}\n" for w in workloads),
        "\n## Results\n\n"
        "*ratio* = gradient time / plain-Python primal time measured in the same run; "
        "*ratio to own primal* uses the tool's own primal (tensors, jnp arrays, jit). "
        "The error is the max over inputs of |g - fd| / |fd| with central differences "
        "(step 1e-6). *first call* is building the gradient function plus its first call "
        "(s2sad: cleared cache, so code generation + compile; JAX jit: tracing + XLA compile).\n\n",
        table,
        "\n![gradient / primal time](benchmarks.png)\n",
    ]
    compiled = numba_section(rows)
    if compiled:
        parts.append(compiled)
    if generation:
        lines, timings, overhead = generation
        parts.append(
            f"\n## Generation speed and call overhead\n\n"
            f"`benchmarks/generation.py`: a {lines}-line function (`simulate`: a controlled particle system "
            "with a small network controller, loops, branches, a `while` loop, a helper, 30 NumPy calls), "
            "cache cleared before each compilation; code specialized to the arguments' shapes, as the "
            "transforms compile it. Target: under 100 ms.\n\n"
            "| what | min ms | median ms |\n|---|---:|---:|\n"
            + "".join(f"| {what} | {low:.1f} | {mid:.1f} |\n" for what, low, mid in timings)
            + "\nA cached call: microseconds per call through the transform vs. the generated function it "
            "runs (best of 7 runs of 20,000 calls). Target: under 5 us added.\n\n"
            "| transform | function | through the transform us | generated function us | added us |\n"
            "|---|---|---:|---:|---:|\n"
            + "".join(f"| {t} | {n} | {w:.2f} | {d:.2f} | {x:.2f} |\n" for t, n, w, d, x in overhead)
        )
    if memory:
        parts.append(
            "\n## Peak memory of one gradient call (tracemalloc)\n\n"
            "Python-heap allocations only (tracemalloc does not see PyTorch/XLA buffers).\n\n"
            "| workload | tool | peak KiB | KiB per 1,000 steps |\n|---|---|---:|---:|\n"
            + "".join(f"| {w} | {t} | {p / 1024:.1f} | {k / 1024:.1f} |\n" for w, t, p, k in memory)
        )
    with open(os.path.join(docs, "benchmarks.md"), "w") as handle:
        handle.write("".join(parts))
    bar_chart(rows, os.path.join(docs, "benchmarks.png"), quick)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats (a smoke run)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these workloads")
    parser.add_argument("--no-save", action="store_true", help="do not write docs/benchmarks.{md,png}")
    parser.add_argument("--tools", nargs="+", metavar="PREFIX", help="run only tools whose names start so")
    parser.add_argument(
        "--numba",
        action="store_true",
        help="the numba table only (Python target, numba target, JAX jit): rewrites that section of "
        "docs/benchmarks.md and keeps the rest",
    )
    options = parser.parse_args(argv)
    global TOOL_FILTER
    TOOL_FILTER = options.tools
    if options.numba:
        TOOL_FILTER = ["s2sad reverse", "s2sad numba", "jax jit"]
    repeats, seconds = (3, 0.02) if options.quick else (7, 0.1)
    settings = (
        f"median of {repeats} interleaved repeats, each ~{seconds * 1e3:.0f} ms of calls "
        f"(calls over {harness.SLOW:g} s: {harness.SLOW_REPEATS} calls); one thread per framework"
    )

    configure_frameworks()
    harness.NUMBA_CACHE = tempfile.mkdtemp(prefix="s2sad-numba-bench-")  # fresh: first calls compile
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores; Python {info['python']}; {settings}")
    for module in ("autograd", "torch", "jax"):
        if not harness.available(module):
            print(f"note: {module} is not installed; its tools are skipped")
    workloads = load(options.only)
    rows = []
    for workload in workloads:
        workload_rows, _ = run_workload(workload, repeats, seconds, print)
        rows.extend(workload_rows)
        for row in workload_rows:
            expected = workload.expected_grad
            if expected and row.get("gradient") is not None:
                if not np.allclose(row["gradient"], expected, atol=1e-3):
                    row["error"] = f"gradient {row['gradient']} is not the expected {expected}"
    if options.numba:
        print(numba_table(rows))
        if not options.no_save:
            replace_numba_section(rows, info, settings, sys.argv[1:] if argv is None else argv)
            print("rewrote the numba section of docs/benchmarks.md")
        return
    print("\nmeasuring peak memory (tracemalloc) ...")
    memory = memory_report(workloads, print)
    generation = None
    if not (options.only or options.tools):
        print("\nmeasuring generation speed and call overhead (benchmarks/generation.py) ...")
        import generation as generation_benchmark

        generation = generation_benchmark.measure(3 if options.quick else 9)
        for what, low, mid in generation[1]:
            print(f"  {what}: min {low:.1f} ms, median {mid:.1f} ms")
        for transform, name, wrapper, direct, extra in generation[2]:
            print(f"  cached {transform} of {name}: {extra:.2f} us added ({wrapper:.2f} vs {direct:.2f})")
    table = markdown_table(rows, workloads)
    if not (options.only or options.tools or options.no_save):
        write_report(rows, workloads, memory, info, options.quick, settings, generation)
        print("\nwrote docs/benchmarks.md and docs/benchmarks.png")
    print()
    print(table)
    print(numba_table(rows))
    for name, tool, peak, per_k in memory:
        print(f"peak memory {name} / {tool}: {peak / 1024:.1f} KiB ({per_k / 1024:.1f} KiB per 1,000 steps)")
    failures = [r for r in rows if r.get("traceback")]
    for row in failures:
        print(f"\n--- {row['workload']} / {row['tool']} failed:\n{row['traceback']}")


if __name__ == "__main__":
    main()
