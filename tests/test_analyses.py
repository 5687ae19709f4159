"""The analyses change nothing but cost.

The whole suite also runs with the analyses switched off (`S2SAD_ANALYSES=off`, in a
subprocess here): same derivatives. With them on, the forward sweep records less:
the recorded bytes drop on the benchmark workloads. The generated source's header
says what each loop records per iteration.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import s2sad
from s2sad import config
from s2sad.testing import check_grads, recorded_bytes

ROOT = Path(__file__).resolve().parents[1]
NOISE = np.random.default_rng(7).standard_normal(400)


def logistic(r, x0, n):
    x = x0
    total = 0.0
    for _ in range(n):
        x = r * x * (1.0 - x)
        total += x
    return total / n


def langevin(a, b, kT, x0, T, dt, L):
    x = x0
    t = 0.0
    i = 0
    total = 0.0
    while t < T:
        force = -4.0 * a * x * (x * x - 1.0) + b
        x += force * dt + math.sqrt(2.0 * kT * dt) * NOISE[i]
        if x > L:
            x = 2.0 * L - x
        if x < -L:
            x = -2.0 * L - x
        total += x * x
        t += dt
        i += 1
    return total / i


def rnn(Wx, Wh, b, xs):
    h = np.zeros(Wh.shape[0])
    for x in xs:
        h = np.tanh(Wx @ x + Wh @ h + b)
    return np.sum(h * h)


def workloads():
    rng = np.random.default_rng(3)
    return [
        ("logistic", logistic, (2.9, 0.3, 200), (0, 1)),
        ("langevin", langevin, (1.0, 0.1, 0.5, 0.2, 2.0, 0.01, 1.5), (0, 1, 2)),
        (
            "rnn",
            rnn,
            (
                rng.standard_normal((6, 3)) * 0.4,
                rng.standard_normal((6, 6)) * 0.4,
                np.zeros(6),
                rng.standard_normal((20, 3)),
            ),
            (0, 1, 2),
        ),
    ]


@pytest.mark.generated_code
@pytest.mark.parametrize("name, f, args, argnums", workloads(), ids=[w[0] for w in workloads()])
def test_analyses_record_less_and_change_nothing(name, f, args, argnums):
    on = recorded_bytes(f, args, argnums)
    g_on = s2sad.grad(f, argnums=argnums)(*args)
    with config.analyses(False):
        off = recorded_bytes(f, args, argnums)
        g_off = s2sad.grad(f, argnums=argnums)(*args)
        check_grads(f, args, wrt=list(argnums))
    assert on < off, (name, on, off)
    for a, b in zip(g_on, g_off):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    print(f"{name}: {on} bytes recorded with the analyses, {off} without ({off / on:.1f}x)")


@pytest.mark.generated_code
def test_header_reports_what_each_loop_records():
    text = s2sad.source(logistic, argnums=(0, 1), args=(2.9, 0.3, 10))
    assert "# records per iteration of the loop at test_analyses.py:" in text
    assert "1 value (x)" in text
    assert "records nothing" in s2sad.source(rnn_free, args=(1.0,))


def rnn_free(x):
    return x * 2.0


@pytest.mark.skipif(not config.enabled(), reason="this is the run with the analyses on")
def test_suite_passes_with_analyses_off():
    env = dict(os.environ, S2SAD_ANALYSES="off", S2SAD_RANDOM_EXAMPLES_SCALE="0.5")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        "--deselect",
        "tests/test_analyses.py::test_suite_passes_with_analyses_off",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join(done.stdout.splitlines()[-15:])
    assert done.returncode == 0, f"the suite fails with S2SAD_ANALYSES=off:\n{tail}\n{done.stderr[-2000:]}"


def gated(W, b, xs):
    """An LSTM-like cell: gates are slices of one product, the sigmoid written out."""
    H = b.shape[0] // 2
    h = np.zeros(H)
    for x in xs:
        z = W @ np.concatenate([x, h]) + b
        f = 1.0 / (1.0 + np.exp(-z[:H]))
        h = f * h + (1.0 - f) * np.tanh(z[H : 2 * H])
    return np.sum(h * h)


@pytest.mark.generated_code
def test_gate_adjoints_are_slices_and_the_sigmoid_keeps_no_denominator():
    rng = np.random.default_rng(8)
    args = (rng.standard_normal((8, 7)) * 0.5, rng.standard_normal(8), rng.standard_normal((5, 3)))
    text = s2sad.source(gated, argnums=(0, 1), args=args)
    assert "concatenate_adjoint" not in text and "add_at" not in text
    # the sigmoid's adjoint `-(-f_bar * f * f) * e` loses both negations (`fold_negations`)
    assert "z_bar[:H] += " in text and "z_bar[:H] -= " not in text and "= -" not in text
    assert "/ _t" not in text  # `1.0 / t`'s adjoint reads its result, not `t`
    check_grads(gated, args, wrt=[0, 1])
    with config.analyses(False):
        off = s2sad.grad(gated, argnums=(0, 1))(*args)
    for a, b in zip(s2sad.grad(gated, argnums=(0, 1))(*args), off):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def gated_chain(x, w):
    """Squares, a sigmoid written out, accumulations: what the output simplifications rewrite."""
    total = 0.0
    for i in range(5):
        s = 1.0 / (1.0 + np.exp(-w * x))
        total = total + s * s + x * x
        x = x * 0.9 + s
    return total


@pytest.mark.generated_code
def test_output_simplifications_keep_every_bit():
    # `x * x` adds one product twice (not `g * x + x * g`), accumulations are fused in the order
    # they were written, negations cancel: the values are those of the plain code, bit for bit
    args = (0.3, 1.7)
    text = s2sad.source(gated_chain, mode="grad", argnums=(0, 1), args=args)
    assert "x_bar = x_bar + _square2 + _square2" in text and "total_bar * x\n" in text
    jvp_text = s2sad.source(gated_chain, mode="forward", argnums=(0, 1), args=args)
    assert "2.0 * " in jvp_text  # `x * x`: `2.0 * (x_dot * x)`, which is `x_dot * x + x * x_dot` exactly
    on = s2sad.grad(gated_chain, argnums=(0, 1))(*args), s2sad.jvp(gated_chain, args, (1.0, 0.5))
    with config.analyses(False):
        off = s2sad.grad(gated_chain, argnums=(0, 1))(*args), s2sad.jvp(gated_chain, args, (1.0, 0.5))
    assert on == off
    check_grads(gated_chain, args)


def _row_sums(W, V, xs):  # `P[i]` and `V @ h` could be numbers: the sum is a float once `h`'s shape is known
    P = xs @ W.T
    h = np.zeros(W.shape[0])
    for i in range(len(xs)):
        h = np.tanh(P[i] + V @ h)
    return np.sum(h**2)


def _reassigned(x, W):  # a parameter of unknown kind keeps it although the body assigns it a float
    x = x * 2.0
    x = np.sum(W @ x)
    return x


@pytest.mark.skipif(not config.enabled(), reason="shapes are the analyses' (S2SAD_ANALYSES=off has none)")
def test_a_sum_of_an_array_known_by_its_shape_is_a_float():
    from s2sad import kinds as K
    from s2sad.pipeline import prepare

    rng = np.random.default_rng(0)
    W, V, xs = rng.standard_normal((4, 3)), 0.5 * rng.standard_normal((4, 4)), rng.standard_normal((5, 3))
    c = prepare(_row_sums, (K.ARRAY,) * 3, (0, 1), False, (W.shape, V.shape, xs.shape), "grad")
    output = c.tree.body[-1].value.id
    assert c.analysis.kinds[output] == K.FLOAT, c.analysis.kinds
    text = s2sad.source(_row_sums, mode="grad", argnums=(0, 1), args=(W, V, xs))
    assert "def _row_sums_grad(" in text, text  # `grad` skips computing the value
    check_grads(_row_sums, (W, V, xs))
    c = prepare(_reassigned, (K.ANY, K.ARRAY), (0, 1), False, (None, (3, 3)), "grad")
    assert c.analysis.kinds["x"] == K.ANY, c.analysis.kinds
