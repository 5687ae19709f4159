"""The full Jacobian of a program f: R^n -> R^m from n JVPs (columns) or m VJPs (rows).

A JVP (forward mode, one sweep) gives J v: with v = e_j it is column j, so n JVPs build J.
A VJP (reverse mode, one backward sweep) gives u^T J: with u = e_i it is row i, so m VJPs
build J. For n = 3 inputs and m = 2 outputs that is the lecture's "three matrix-vector
products or two vector-matrix products". Then times both ways as n and m grow and draws
the cost to docs/img/jacobian_by_products.png: forward wins when n < m, reverse when m < n.

    python examples/jacobian_by_products.py [--quick]
"""

import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import s2sad

QUICK = "--quick" in sys.argv or os.environ.get("S2SAD_QUICK") == "1"
IMAGES = Path(os.environ.get("S2SAD_IMAGES", Path(__file__).resolve().parents[1] / "docs" / "img"))


def make_program(A, B):
    """f(x) = B tanh-iterate(A x): n = A.shape[1] inputs, m = B.shape[0] outputs."""

    def f(x):
        h = np.tanh(A @ x)
        for _ in range(4):
            h = np.tanh(h + 0.5 * np.sin(h))
        return B @ h * (1.0 + x[0] ** 2)

    return f


def jacobian_from_jvps(f, x):
    columns = []
    for j in range(len(x)):
        e_j = np.zeros(len(x))
        e_j[j] = 1.0
        columns.append(s2sad.jvp(f, (x,), (e_j,))[1])  # J e_j: one forward sweep
    return np.stack(columns, axis=1)


def jacobian_from_vjps(f, x):
    y, pullback = s2sad.vjp(f, x)  # the forward sweep, recorded once
    rows = []
    for i in range(len(y)):
        e_i = np.zeros(len(y))
        e_i[i] = 1.0
        rows.append(pullback(e_i)[0])  # e_i^T J: one backward sweep
    return np.stack(rows, axis=0)


def central_differences(f, x, h=1e-6):
    columns = []
    for j in range(len(x)):
        step = np.zeros(len(x))
        step[j] = h
        columns.append((f(x + step) - f(x - step)) / (2 * h))
    return np.stack(columns, axis=1)


def best_time(function, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def timings(sizes, fixed, rng, repeats):
    """Time both ways for n in sizes (m = fixed) and for m in sizes (n = fixed)."""
    rows = []
    for size in sizes:
        for n, m in [(size, fixed), (fixed, size)]:
            f = make_program(rng.normal(size=(8, n)), rng.normal(size=(m, 8)))
            x = rng.normal(size=n)
            jacobian_from_jvps(f, x), jacobian_from_vjps(f, x)  # compile first
            rows.append(
                (
                    n,
                    m,
                    best_time(lambda: jacobian_from_jvps(f, x), repeats),
                    best_time(lambda: jacobian_from_vjps(f, x), repeats),
                )
            )
    return rows


def draw(rows, sizes, fixed, path):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, varying, label in [
        (axes[0], 0, "n inputs (m = %d)" % fixed),
        (axes[1], 1, "m outputs (n = %d)" % fixed),
    ]:
        picked = [r for r in rows if r[1 - varying] == fixed and r[varying] in sizes]
        picked = sorted({r[varying]: r for r in picked}.values())
        counts = [r[varying] for r in picked]
        ax.loglog(counts, [1e3 * r[2] for r in picked], "o-", label="n JVPs (forward)")
        ax.loglog(counts, [1e3 * r[3] for r in picked], "s-", label="m VJPs (reverse)")
        ax.set_xlabel(label)
        ax.set_ylabel("time for the full Jacobian (ms)")
        ax.legend()
    axes[0].set_title("more inputs: reverse mode wins")
    axes[1].set_title("more outputs: forward mode wins")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    rng = np.random.default_rng(0)
    f = make_program(rng.normal(size=(8, 3)), rng.normal(size=(2, 8)))
    x = np.array([0.5, -1.0, 2.0])
    by_columns = jacobian_from_jvps(f, x)
    by_rows = jacobian_from_vjps(f, x)
    np.set_printoptions(precision=6, suppress=True)
    print("f: R^3 -> R^2. Jacobian from three JVPs (J e_1, J e_2, J e_3 as columns):")
    print(by_columns)
    print("from two VJPs (e_1^T J, e_2^T J as rows):")
    print(by_rows)
    print(f"the two agree to {np.max(np.abs(by_columns - by_rows)):.1e}")
    estimate = central_differences(f, x)
    error = np.max(np.abs(by_rows - estimate)) / np.max(np.abs(estimate))
    print(f"gradient check (central differences, Jacobian 2x3): max relative error {error:.1e}")

    sizes = [1, 4] if QUICK else [1, 2, 4, 8, 16, 32, 64]
    fixed = 4
    rows = timings(sizes, fixed, rng, repeats=1 if QUICK else 5)
    print(f"{'n':>4} {'m':>4} {'n JVPs (ms)':>12} {'m VJPs (ms)':>12}")
    for n, m, forward, reverse in rows:
        print(f"{n:4d} {m:4d} {1e3 * forward:12.3f} {1e3 * reverse:12.3f}")
    IMAGES.mkdir(parents=True, exist_ok=True)
    draw(rows, sizes, fixed, IMAGES / "jacobian_by_products.png")
    print(f"saved {IMAGES / 'jacobian_by_products.png'}")


if __name__ == "__main__":
    main()
