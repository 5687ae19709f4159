"""Draws docs/img/reverse_sweeps.png: the forward sweep pushing and the backward sweep popping,
from the reverse-mode code s2sad generates for a `while` loop.

The generated source (`s2sad.source`) is run line by line under `sys.settrace`; every line
that records a value (`_tape1_push(y)`, `_push(x)`, `_tape1_xs[i] = x`) or takes one back
(`_pop()`, an iteration of `for y in reversed(_tape1)`) is logged with its value, and the
stack is drawn after each of them next to the code that did it.

    python docs/scripts/draw_reverse_sweeps.py [output.png]
"""

import re
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyBboxPatch

import s2sad

OUTPUT = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else Path(__file__).resolve().parents[1] / "img" / "reverse_sweeps.png"
)


def f(x):
    y = x
    while y < 4.0:
        y = 1.5 * y + np.sin(y)
    return y


PUSH = re.compile(r"^\s*(_\w*?)_?push\((.+)\)$")
PREALLOCATED = re.compile(r"^\s*(_tape\d+)\w*\[\w+\] = (.+)$")
POP = re.compile(r"=\s*_pop\(\)$")
REPLAY = re.compile(r"^\s*for .+ in (?:zip\()?reversed\((_tape\d+)")


def run_traced(text, function_name, args, namespace):
    """Run the generated function; return its value, [(line number, pushed value or None, the
    output's adjoint as the line starts)] and the lines of the code."""
    path = Path(tempfile.mkdtemp()) / "generated.py"
    path.write_text(text)
    exec(compile(text, str(path), "exec"), namespace)
    function = namespace[function_name]
    lines = text.splitlines()
    events = []
    code = function.__code__
    seed = code.co_varnames[code.co_argcount - 1]  # the output's adjoint, `y_bar`

    def tracer(frame, event, arg):
        if frame.f_code is not function.__code__:
            return None
        if event == "line":
            match = PUSH.match(lines[frame.f_lineno - 1]) or PREALLOCATED.match(lines[frame.f_lineno - 1])
            value = eval(match.group(2), namespace, frame.f_locals) if match else None
            events.append((frame.f_lineno, value, frame.f_locals.get(seed)))
        elif event == "return":
            events.append((None, None, frame.f_locals.get(seed)))
        return tracer

    sys.settrace(tracer)
    try:
        result = function(*args)
    finally:
        sys.settrace(None)
    return result, events, lines, seed


def body_lines(lines, number):
    """Line numbers (1-based) of the block under line `number`."""
    indent = len(lines[number - 1]) - len(lines[number - 1].lstrip())
    body = set()
    for k in range(number, len(lines)):
        if lines[k].strip() and len(lines[k]) - len(lines[k].lstrip()) <= indent:
            break
        body.add(k + 1)
    return body


def stack_history(events, lines):
    """Replay the traced lines on a mirror stack: [(kind, line number, value, stack after,
    the output's adjoint after the iteration that popped)]. A replaying `for` line is a pop
    only when its body runs next (not on the loop's last test)."""
    stack, history = [], []
    for k, (number, value, _) in enumerate(events):
        if number is None:
            continue
        source = lines[number - 1]
        body = body_lines(lines, number)
        if PUSH.match(source) or PREALLOCATED.match(source):
            stack.append(value)
            history.append(("push", number, value, list(stack), None))
        elif POP.search(source) or (
            REPLAY.match(source) and k + 1 < len(events) and events[k + 1][0] in body
        ):
            after = next(adjoint for line, _, adjoint in events[k + 1 :] if line not in body)
            history.append(("pop", number, stack[-1], list(stack[:-1]), after))
            stack.pop()
    return history


def shown(value):
    return f"{value:.3f}" if isinstance(value, float) else repr(value)


def draw(text, history, lines, seed, path):
    code = [line for line in lines if not line.startswith("#")]
    first = len(lines) - len(code)
    fig = plt.figure(figsize=(13, 6.2))
    left = fig.add_axes([0.01, 0.02, 0.36, 0.9])
    left.axis("off")
    left.set_title("the code s2sad generates (s2sad.source(f, args=(0.5,)))", fontsize=10, loc="left")
    colours = {"push": "#e6550d", "pop": "#3182bd"}
    pushing = {number for kind, number, *_ in history if kind == "push"}
    popping = {number for kind, number, *_ in history if kind == "pop"}
    for row, line in enumerate(code):
        number = first + row + 1
        colour = colours["push"] if number in pushing else colours["pop"] if number in popping else "#333333"
        weight = "bold" if number in pushing | popping else "normal"
        left.text(
            0.0,
            1.0 - row / len(code),
            line,
            family="monospace",
            fontsize=7.5,
            color=colour,
            weight=weight,
            va="top",
        )

    right = fig.add_axes([0.40, 0.1, 0.59, 0.8])
    right.axis("off")
    depth = max(len(stack) for _, _, _, stack, _ in history)
    right.set_xlim(-0.5, len(history) - 0.3)
    right.set_ylim(-2.6, depth + 1.2)
    right.set_title("the tape after each push (forward sweep) and pop (backward sweep), x = 0.5", fontsize=10)
    for column, (kind, number, value, stack, adjoint) in enumerate(history):
        for level, item in enumerate(stack):
            box = FancyBboxPatch(
                (column - 0.4, level),
                0.8,
                0.85,
                boxstyle="round,pad=0.02",
                fc="#fdd0a2" if kind == "push" else "#c6dbef",
                ec="#555555",
            )
            right.add_patch(box)
            right.text(column, level + 0.42, shown(item), ha="center", va="center", fontsize=8)
        arrow = "\u2191" if kind == "push" else "\u2193"
        right.text(
            column,
            -0.5,
            f"{kind} {arrow}\n{shown(value)}"
            + ("" if adjoint is None else f"\n\nthen {seed}\n= {shown(adjoint)}"),
            ha="center",
            va="top",
            fontsize=8,
            color=colours[kind],
        )
    turn = sum(1 for kind, *_ in history if kind == "push") - 0.5
    right.axvline(turn, color="k", lw=0.8, ls=":")
    right.text(
        turn / 2 - 0.5,
        depth + 0.6,
        "forward sweep: y is pushed before\nevery iteration overwrites it",
        ha="center",
        fontsize=9,
        color=colours["push"],
    )
    right.text(
        turn + (len(history) - turn) / 2,
        depth + 0.6,
        "backward sweep: each iteration's y\nis taken back, last in first out",
        ha="center",
        fontsize=9,
        color=colours["pop"],
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    text = s2sad.source(f, mode="reverse", args=(0.5,))
    name = re.search(r"^def (\w+)\(", text, re.MULTILINE).group(1)
    (value, (gradient,)), events, lines, seed = run_traced(text, name, (0.5,), dict(f.__globals__))
    history = stack_history(events, lines)
    assert abs(gradient - s2sad.grad(f)(0.5)) < 1e-12  # the traced code is the code grad runs
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    draw(text, history, lines, seed, OUTPUT)
    print(f"f(0.5) = {value:.4f}, df/dx = {gradient:.4f}; {len(history)} pushes and pops drawn to {OUTPUT}")


if __name__ == "__main__":
    main()
