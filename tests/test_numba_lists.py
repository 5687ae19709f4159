"""The numba target on lists of per-layer states: lists of arrays (or numbers) changed in place inside
nested counted loops, the inner loop's tapes recorded by the outer one (arrays of its numbers, lists of
its arrays), list adjoints. Checked against central differences (both modes), the dot-product test and
the Python target. Each function compiles once per module (numba compiles take seconds)."""

import math
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads

numba = pytest.importorskip("numba")

from s2sad.errors import NumbaTargetError  # noqa: E402  (after the skip)


@pytest.fixture(scope="module", autouse=True)
def cache_directory(tmp_path_factory):
    """Compiled modules in a fresh directory: every run compiles anew."""
    previous = os.environ.get("S2SAD_CACHE_DIR")
    os.environ["S2SAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("s2sad-cache"))
    yield os.environ["S2SAD_CACHE_DIR"]
    if previous is None:
        del os.environ["S2SAD_CACHE_DIR"]
    else:
        os.environ["S2SAD_CACHE_DIR"] = previous


def deep_rnn(W, U, b, xs, h0):
    """Stacked tanh layers, one hidden state per layer in a list, each overwritten at every step."""
    layers = W.shape[0]
    hs = [h0.copy() for _ in range(layers)]
    loss = 0.0
    for t in range(xs.shape[0]):
        x = xs[t]
        for k in range(layers):
            hs[k] = np.tanh(W[k] @ x + U[k] @ hs[k] + b[k])
            x = hs[k]
        loss = loss + np.sum(x * x)
    return loss


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm(P, xs, state):
    """An LSTM stack: hidden and cell states in two lists, gates sliced from one product per layer."""
    layers = P.shape[0]
    n = state.shape[1]
    hidden = [state[0] for _ in range(layers)]
    cell = [state[1] * (k + 1) for k in range(layers)]
    total = 0.0
    for t in range(xs.shape[0]):
        inp = xs[t]
        for k in range(layers):
            gates = P[k, :, :n] @ inp + P[k, :, n:] @ hidden[k]
            forget = sigmoid(gates[:n])
            cell[k] = forget * cell[k] + (1.0 - forget) * np.tanh(gates[n:])
            hidden[k] = np.tanh(cell[k]) * forget
            inp = hidden[k]
        total = total + np.log(np.sum(np.exp(inp)))
    return total / xs.shape[0]


def coupled_oscillators(a, c, steps=12):
    """A list of numbers, one per unit, each reading its neighbour's new value."""
    s = [0.3, -0.2, 0.5]
    out = 0.0
    for t in range(steps):
        for k in range(3):
            s[k] = math.sin(a * s[k] + c * s[k - 1]) + 0.1 * t
        out = out + s[2] * s[0]
    return out


def ragged(w, v, steps=7):
    """The inner loop's trip count changes with the step: its tapes have several lengths."""
    acc = [v.copy(), v * 0.5]
    total = 0.0
    for t in range(steps):
        for k in range(t % 3 + 1):
            j = k % 2
            acc[j] = np.sin(w * acc[j] + acc[1 - j])
        total = total + np.sum(acc[0] * acc[1])
    return total


def epochs(w, v, rounds=3, steps=4):
    """Three nested loops: the outer loop records the middle one's tapes of the inner one's tapes."""
    states = [v, v * 2.0]
    total = 0.0
    for e in range(rounds):
        for t in range(steps):
            for k in range(2):
                states[k] = np.tanh(w * states[k] + 0.1 * e + states[1 - k] * 0.3)
            total = total + np.sum(states[0])
    return total


def rebuilt(v, w, n=3):
    """A list made afresh in every step (appended to, then changed in place)."""
    total = 0.0
    for t in range(n):
        acc = []
        for k in range(3):
            acc.append(np.tanh(v * (k + 1) + w * t))
        for k in range(3):
            acc[k] = acc[k] * acc[k - 1]
        total = total + np.sum(acc[2])
    return total


def until_settled(w, v):
    """A `while` loop around the layer loop."""
    states = [v, v + 1.0]
    t = 0
    total = 0.0
    while t < 5:
        for k in range(2):
            states[k] = np.cos(w * states[k]) + 0.1 * states[1 - k]
        total = total + np.sum(states[1] * states[0])
        t += 1
    return total


def tail(v, w):
    """A slice of a changed list read afterwards: its adjoint is added back through the slice."""
    xs = [v, v * 2.0, v * 3.0]
    for k in range(3):
        xs[k] = np.sin(xs[k] * w)
    ys = xs[1:]
    return np.sum(ys[0] * ys[1])


RNG = np.random.default_rng(5)
H, L, T = 4, 3, 6
CASES = {
    "deep_rnn": (
        deep_rnn,
        (
            0.4 * RNG.standard_normal((L, H, H)),
            0.4 * RNG.standard_normal((L, H, H)),
            0.1 * RNG.standard_normal((L, H)),
            RNG.standard_normal((T, H)),
            RNG.standard_normal(H),
        ),
        (0, 1, 2, 4),
    ),
    "lstm": (
        lstm,
        (
            0.5 * RNG.standard_normal((2, 2 * H, 2 * H)),
            RNG.standard_normal((T, H)),
            RNG.standard_normal((2, H)),
        ),
        (0, 1, 2),
    ),
    "coupled_oscillators": (coupled_oscillators, (0.8, 0.4), (0, 1)),
    "ragged": (ragged, (0.7, RNG.standard_normal(5)), (0, 1)),
    "epochs": (epochs, (RNG.standard_normal(3), RNG.standard_normal(3)), (0, 1)),
    "rebuilt": (rebuilt, (RNG.standard_normal(3), 0.7), (0, 1)),
    "until_settled": (until_settled, (RNG.standard_normal(3), RNG.standard_normal(3)), (0, 1)),
    "tail": (tail, (RNG.standard_normal(3), 0.7), (0, 1)),
}


def relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(1e-300, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_finite_differences_and_the_python_target(name):
    f, args, argnums = CASES[name]
    check_grads(f, args, wrt=list(argnums), backend="numba", directions=1)
    compiled = s2sad.grad(f, argnums=argnums, backend="numba")(*args)
    python = s2sad.grad(f, argnums=argnums)(*args)
    for mine, theirs in zip(compiled, python):
        assert relative(mine, theirs) <= 1e-12


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 1.5), steps=st.integers(1, 5))
def test_deep_rnn_at_random_inputs_equals_the_python_target(seed, scale, steps):
    """New inputs and sequence lengths, one compiled derivative: the tapes are sized at run time."""
    rng = np.random.default_rng(seed)
    args = (
        scale * rng.standard_normal((L, H, H)),
        scale * rng.standard_normal((L, H, H)),
        rng.standard_normal((L, H)),
        rng.standard_normal((steps, H)),
        rng.standard_normal(H),
    )
    compiled = s2sad.grad(deep_rnn, argnums=(0, 1, 2, 4), backend="numba")(*args)
    python = s2sad.grad(deep_rnn, argnums=(0, 1, 2, 4))(*args)
    for mine, theirs in zip(compiled, python):
        assert relative(mine, theirs) <= 1e-12


def the_source(f, args, argnums):
    from s2sad.api import numba_backend

    return numba_backend.source(f, mode="grad", argnums=argnums, args=args)


@pytest.mark.generated_code
def test_the_outer_loop_records_the_inner_loops_tapes_as_typed_lists():
    f, args, argnums = CASES["lstm"]
    text = the_source(f, args, argnums)
    assert "= [_rt.list_like(np.zeros((0,), np.float64))] *" in text  # a tape of the inner loop's array tapes
    assert "hidden_bar = _rt.zeros_like(hidden)" in text  # the list adjoint starts as zeros like the list
    assert " = None" not in text  # every name typed (no placeholders)


def mixed(v, w):
    xs = [v, 2.0]
    for k in range(3):
        xs[0] = np.sin(xs[0] * w) * xs[1]
        xs[1] = xs[1] * 0.5 + w
    return np.sum(xs[0])


def test_a_changed_list_of_several_types_is_refused_at_its_line():
    v = np.array([0.3, -0.4])
    # (with the analyses off the list's kind is not followed: the refusal says numba cannot compile it)
    with pytest.raises(NumbaTargetError, match="numba's lists hold one type|makes a list object") as info:
        s2sad.grad(mixed, argnums=(0, 1), backend="numba")(v, 0.7)
    assert info.value.lineno == mixed.__code__.co_firstlineno + 1
    assert info.value.code.strip() == "xs = [v, 2.0]"
    assert "_t" not in str(info.value).split("hint")[0] and "numba.core" not in str(info.value)
    python = s2sad.grad(mixed, argnums=(0, 1))(v, 0.7)  # the Python target runs it
    assert np.all(np.isfinite(python[0]))


def test_copied_list_helpers_run_without_s2sad(tmp_path, monkeypatch):
    """The list helpers the target adds (zeros of a list, adds into one, its items) copy into an emitted
    module like the others."""
    from s2sad.codegen.vendor import vendor

    helpers = ["zeros_like", "list_add_at", "item", "list_like"]
    section = vendor(helpers, root="s2sad.runtime.numba")
    (tmp_path / "copied_list_helpers.py").write_text(
        "\n".join(section.imports)
        + "\n\n"
        + section.code
        + "\n\n\n@numba.njit\ndef run(a, b, c):\n"
        + "    xs = [a, b, c]\n"
        + f"    g = {section.names['zeros_like']}(xs)\n"
        + f"    {section.names['list_add_at']}(g, 1, xs[0])\n"
        + f"    {section.names['list_add_at']}(g, slice(0, 2), xs)\n"
        + f"    return g, {section.names['item']}(g, 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import copied_list_helpers as copies

    g, second = copies.run(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0]))
    assert [list(v) for v in g] == [[1.0, 2.0], [4.0, 6.0], [0.0, 0.0]]
    assert list(second) == [4.0, 6.0]
    sys.modules.pop("copied_list_helpers", None)


def sliding(w, v, steps=4):
    """A window of states: the oldest leaves from the front (`pop(0)`)."""
    window = [v]
    total = 0.0
    for t in range(steps):
        window.append(np.cos(w * window[-1]))
        if len(window) > 2:
            total = total + np.sum(window.pop(0))
    return total + np.sum(window[-1])


def test_removing_a_list_item_by_position_is_refused_at_its_line():
    """numba 0.68's lists corrupt memory removing the first item after appends (the process aborts):
    the target refuses `pop(i)` before numba runs."""
    v = np.array([0.3, -0.4, 0.2])
    with pytest.raises(NumbaTargetError, match="by position") as info:
        s2sad.grad(sliding, argnums=(0, 1), backend="numba")(0.6, v)
    assert info.value.lineno == sliding.__code__.co_firstlineno + 7
    assert info.value.code.strip() == "total = total + np.sum(window.pop(0))"
    check_grads(sliding, (0.6, v), wrt=[0, 1], directions=1)  # the Python target runs it
