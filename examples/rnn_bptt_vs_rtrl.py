"""One RNN loss gradient two ways: backpropagation through time (reverse mode) and real-time
recurrent learning (forward mode through time).

The RNN h_t = tanh(W h_{t-1} + U x_t + b) reads a sequence and is scored by a squared error
at every step. BPTT is `s2sad.grad` of the loss: a forward sweep that records the hidden
states, then one backward sweep. RTRL is `s2sad.jacfwd` of the same loss: the tangents of
the hidden state w.r.t. all P parameters are carried forward with it (dh_t/dtheta, an H x P
matrix per step), nothing is recorded. Both give the same gradient (to 1e-10); their time
and peak memory as the sequence grows are drawn to docs/img/rnn_bptt_vs_rtrl.png. BPTT's
memory grows with T, RTRL's does not. RTRL does P times more arithmetic per step; jacfwd
carries all P directions in one array operation, so for this small network its time is
a few times BPTT's rather than P times.

    python examples/rnn_bptt_vs_rtrl.py [--quick]
"""

import os
import sys
import time
import tracemalloc
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import s2sad

QUICK = "--quick" in sys.argv or os.environ.get("S2SAD_QUICK") == "1"
IMAGES = Path(os.environ.get("S2SAD_IMAGES", Path(__file__).resolve().parents[1] / "docs" / "img"))
HIDDEN = 8


def loss(W, U, b, xs, ys):
    """Squared error of the readout h_t[0] against y_t, summed over the sequence."""
    h = np.zeros(len(b))
    total = 0.0
    for t in range(len(xs)):
        h = np.tanh(W @ h + U * xs[t] + b)
        total = total + (h[0] - ys[t]) ** 2
    return total / len(xs)


bptt = s2sad.grad(loss, argnums=(0, 1, 2))  # reverse mode through time
rtrl = s2sad.jacfwd(loss, argnums=(0, 1, 2))  # forward mode through time


def measure(gradient, args):
    """Wall time and peak memory (bytes allocated by Python and NumPy) of one call."""
    gradient(*args)  # compiled and warm
    elapsed = np.inf
    for _ in range(3):
        start = time.perf_counter()
        gradient(*args)
        elapsed = min(elapsed, time.perf_counter() - start)
    tracemalloc.start()
    gradient(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


def sequence(length, rng):
    xs = np.sin(0.3 * np.arange(length)) + 0.1 * rng.normal(size=length)
    ys = np.roll(xs, 2)  # the target is the input two steps ago
    return xs, ys


def gradient_check(params, grads, xs, ys, rng, directions=3, h=1e-6):
    worst = 0.0
    for _ in range(directions):
        d = [rng.normal(size=p.shape) for p in params]
        plus = loss(*[p + h * v for p, v in zip(params, d)], xs, ys)
        minus = loss(*[p - h * v for p, v in zip(params, d)], xs, ys)
        estimate = (plus - minus) / (2 * h)
        exact = sum(np.sum(g * v) for g, v in zip(grads, d))
        worst = max(worst, abs(exact - estimate) / max(abs(exact), abs(estimate), 1e-12))
    print(f"gradient check (central differences, {directions} directions): max relative error {worst:.1e}")


def main():
    rng = np.random.default_rng(0)
    params = [
        rng.normal(0, 0.5 / np.sqrt(HIDDEN), (HIDDEN, HIDDEN)),
        rng.normal(0, 1, HIDDEN),
        np.zeros(HIDDEN),
    ]
    count = sum(p.size for p in params)
    xs, ys = sequence(50, rng)
    by_bptt = bptt(*params, xs, ys)
    by_rtrl = rtrl(*params, xs, ys)
    difference = max(np.max(np.abs(a - b)) for a, b in zip(by_bptt, by_rtrl))
    print(f"RNN with {HIDDEN} hidden units, {count} parameters, sequence of 50 steps")
    print(f"BPTT (reverse) and RTRL (forward) gradients differ by at most {difference:.1e}")
    assert difference < 1e-10
    gradient_check(params, by_bptt, xs, ys, rng)

    lengths = [10, 40, 160] if QUICK else [10, 20, 40, 80, 160, 320, 640, 1280]
    rows = []
    print(f"{'T':>5} {'BPTT ms':>9} {'RTRL ms':>9} {'BPTT KiB':>9} {'RTRL KiB':>9}")
    for length in lengths:
        xs, ys = sequence(length, rng)
        (t_bptt, m_bptt), (t_rtrl, m_rtrl) = measure(bptt, (*params, xs, ys)), measure(
            rtrl, (*params, xs, ys)
        )
        rows.append((length, t_bptt, t_rtrl, m_bptt, m_rtrl))
        print(
            f"{length:5d} {1e3 * t_bptt:9.2f} {1e3 * t_rtrl:9.2f} {m_bptt / 1024:9.1f} {m_rtrl / 1024:9.1f}"
        )

    rows = np.array(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.loglog(rows[:, 0], 1e3 * rows[:, 1], "o-", label="BPTT (s2sad.grad)")
    left.loglog(rows[:, 0], 1e3 * rows[:, 2], "s-", label=f"RTRL (s2sad.jacfwd, {count} directions)")
    left.set_xlabel("sequence length T")
    left.set_ylabel("time per gradient (ms)")
    left.legend()
    right.loglog(rows[:, 0], rows[:, 3] / 1024, "o-", label="BPTT: records h_t every step")
    right.loglog(rows[:, 0], rows[:, 4] / 1024, "s-", label="RTRL: carries dh/dtheta only")
    right.set_xlabel("sequence length T")
    right.set_ylabel("peak memory (KiB)")
    right.legend()
    fig.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / "rnn_bptt_vs_rtrl.png", dpi=90)
    print(f"saved {IMAGES / 'rnn_bptt_vs_rtrl.png'}")


if __name__ == "__main__":
    main()
