"""The numba code target (s2sad/codegen/numba/, api/numba_backend.py, runtime/numba*.py): derivatives of
simulators compiled with numba, checked against central differences, the dot-product test and the
Python target. Each function is compiled once per module (numba compiles take seconds)."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import s2sad
from s2sad.testing import check_grads

numba = pytest.importorskip("numba")

from s2sad.api import numba_backend  # noqa: E402  (after the skip)
from s2sad.errors import NumbaTargetError  # noqa: E402
from s2sad.runtime import numba as compiled_runtime  # noqa: E402

KICKS = np.random.default_rng(7).standard_normal(600)
GAINS = np.array([0.9, 1.1, 0.95])


@pytest.fixture(scope="module", autouse=True)
def cache_directory(tmp_path_factory):
    """Compiled modules in a fresh directory: every run compiles (and tests numba's cache) anew."""
    previous = os.environ.get("S2SAD_CACHE_DIR")
    os.environ["S2SAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("s2sad-cache"))
    yield os.environ["S2SAD_CACHE_DIR"]
    if previous is None:
        del os.environ["S2SAD_CACHE_DIR"]
    else:
        os.environ["S2SAD_CACHE_DIR"] = previous


def bouncing(k, c, v0, dt=0.01, top=1.5):
    """A damped particle kicked by module-level noise in a box: `while` until t >= 1, walls reflect."""
    x = 0.2
    v = v0
    t = 0.0
    i = 0
    energy = 0.0
    while t < 1.0:
        v = v + dt * (-k * x - c * v) + 0.05 * KICKS[i]
        x = x + dt * v
        if x > top:
            x = 2.0 * top - x
            v = -v
        elif x < -top:
            x = -2.0 * top - x
            v = -v
        energy += 0.5 * v * v + 0.5 * k * x * x
        t += dt
        i += 1
    return energy / i


def switching(a, b, n=40):
    """A counted loop whose body branches on the state."""
    x = a
    total = 0.0
    for j in range(n):
        if x > 0.5:
            x = x * b - 0.3 * math.sin(x)
        else:
            x = x * x + b * 0.7
        if j % 3 == 0:
            total += x
        else:
            total -= 0.5 * x
    return total


def smoothing(u, w, steps=4):
    """In-place array updates in nested loops."""
    y = u.copy()
    for _ in range(steps):
        for i in range(1, y.shape[0]):
            y[i] = w * y[i - 1] + (1.0 - w) * y[i] * GAINS[i % 3]
    return np.sum(y * y)


def recurrence(W, b, h0, steps=6):
    """h <- tanh(W h + b): a matmul recurrence."""
    h = h0
    for _ in range(steps):
        h = np.tanh(W @ h + b)
    return np.sum(h * h) + 0.1 * np.sum(W * W)


def spring(params, x0, steps=30):
    """A dict of parameters (a tree: flattened at the boundary)."""
    x = x0
    v = 0.0
    total = 0.0
    for i in range(steps):
        v = v + 0.05 * (-params["k"] * x - params["c"] * v + GAINS[i % 3])
        x = x + 0.05 * v
        total += x * x
    return total


def reads_an_object(x, scale=2.0):
    y = x * SETTINGS["gain"]
    return y * scale


SETTINGS = {"gain": 3.0}


@s2sad.custom_vjp
def softplus(x):
    return math.log1p(math.exp(x))


softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g / (1.0 + math.exp(-x)),))


def uses_a_custom_rule(a, n=5):
    total = 0.0
    for i in range(n):
        total += softplus(a * i)
    return total


RNG = np.random.default_rng(3)
W0, B0, H0 = 0.5 * RNG.standard_normal((4, 4)), 0.1 * RNG.standard_normal(4), RNG.standard_normal(4)
U0 = RNG.standard_normal(7)


def classifier(W, b, V, X, Y):
    """Softmax cross-entropy of a tanh layer (64 x 4 entries: NumPy's vectorized tanh) with max-pooling
    over pairs of units, reductions along axes with keepdims, and a tuple-axis penalty."""
    h = np.tanh(X @ W + b)
    pooled = np.max(h.reshape(X.shape[0], 2, 2), axis=2)
    logits = pooled @ V
    z = logits - np.max(logits, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    spread = np.mean(h, axis=0) - np.min(h.reshape(X.shape[0], 2, 2), axis=(0, 2)).sum()
    return -np.sum(Y * log_p) / X.shape[0] + 0.1 * np.sum(spread**2)


def td_loss(W, V, s, a, r, s_next, done, gamma=0.9):
    """A DQN temporal-difference loss: max over next actions, `q[np.arange(B), a]`, greedy actions."""
    q = np.maximum(s @ W, 0.0) @ V
    q_next = np.maximum(s_next @ W, 0.0) @ V
    greedy = np.argmax(q_next, axis=1)
    target = r + gamma * (1.0 - done) * (
        0.5 * np.max(q_next, axis=1) + 0.5 * q_next[np.arange(s.shape[0]), greedy]
    )
    td = q[np.arange(s.shape[0]), a] - target
    return np.mean(td**2)


RNG_NET = np.random.default_rng(11)
X_NET = RNG_NET.standard_normal((64, 5))
Y_NET = np.eye(3)[RNG_NET.integers(0, 3, 64)]
NET = (
    0.5 * RNG_NET.standard_normal((5, 4)),
    0.1 * RNG_NET.standard_normal(4),
    RNG_NET.standard_normal((2, 3)),
)
S_TD, S_NEXT_TD = RNG_NET.standard_normal((16, 3)), RNG_NET.standard_normal((16, 3))
TD = (
    RNG_NET.standard_normal((3, 8)),
    RNG_NET.standard_normal((8, 4)),
    S_TD,
    RNG_NET.integers(0, 4, 16),
    RNG_NET.standard_normal(16),
    S_NEXT_TD,
    (RNG_NET.random(16) < 0.2).astype(float),
)

CASES = {
    "classifier": (classifier, NET + (X_NET, Y_NET), (0, 1, 2)),
    "td_loss": (td_loss, TD, (0, 1)),
    "bouncing": (bouncing, (2.0, 0.4, 1.0), (0, 1, 2)),
    "switching": (switching, (0.7, 0.8), (0, 1)),
    "smoothing": (smoothing, (U0, 0.3), (0, 1)),
    "recurrence": (recurrence, (W0, B0, H0), (0, 1, 2)),
}


def relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(1e-300, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_finite_differences_in_both_modes(name):
    f, args, argnums = CASES[name]
    check_grads(f, args, wrt=list(argnums), backend="numba", directions=1)


@pytest.mark.parametrize("name", ["bouncing", "recurrence"])  # the others: their vjp, below
def test_grad_equals_the_python_target(name):
    f, args, argnums = CASES[name]
    compiled = s2sad.grad(f, argnums=argnums, backend="numba")(*args)
    python = s2sad.grad(f, argnums=argnums)(*args)
    for mine, theirs in zip(compiled, python):
        assert relative(mine, theirs) <= 1e-12


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_and_vjp_equal_the_python_target(name):
    f, args, argnums = CASES[name]
    rng = np.random.default_rng(1)
    tangents = tuple(
        (
            (rng.standard_normal(np.shape(a)) if isinstance(a, np.ndarray) else 0.7)
            if i in argnums
            else (np.zeros(np.shape(a)) if isinstance(a, np.ndarray) else 0.0)
        )
        for i, a in enumerate(args)
    )
    value, tangent = s2sad.jvp(f, args, tangents, backend="numba")
    value_py, tangent_py = s2sad.jvp(f, args, tangents)
    assert relative(value, value_py) <= 1e-12 and relative(tangent, tangent_py) <= 1e-12
    value, pullback = s2sad.vjp(f, *args, backend="numba")
    value_py, pullback_py = s2sad.vjp(f, *args)
    assert relative(value, value_py) <= 1e-12
    for mine, theirs in zip(pullback(1.5), pullback_py(1.5)):
        assert relative(mine, theirs) <= 1e-12


def test_a_changed_module_array_gives_the_new_gradient():
    global KICKS
    f, args, argnums = CASES["bouncing"]
    gradient = s2sad.grad(f, argnums=argnums, backend="numba")
    before = gradient(*args)
    saved = KICKS
    try:
        KICKS = 3.0 * saved  # rebound: the compiled code must not have frozen the old array
        after = gradient(*args)
        step = 1e-6
        expected = [
            (
                f(*[a + step * (i == k) for i, a in enumerate(args)])
                - f(*[a - step * (i == k) for i, a in enumerate(args)])
            )
            / (2 * step)
            for k in argnums
        ]
    finally:
        KICKS = saved
    assert relative(after, before) > 1e-3
    assert np.allclose(after, expected, rtol=1e-6, atol=1e-8)


def test_later_calls_of_numbers_take_the_lean_path_and_stay_right():
    """After the first call, numbers go straight to the compiled function (keyed by their types): new
    values, a default given explicitly, other number types and a single argnum all give the Python
    target's gradient."""
    f, args, argnums = CASES["switching"]
    gradient = s2sad.grad(f, argnums=argnums, backend="numba")
    python = s2sad.grad(f, argnums=argnums)
    for call in [args, args, (0.2, 1.3), (0.2, 1.3, 41), (np.float64(0.6), 0.9), (0.6, np.float64(0.9), 7)]:
        for mine, theirs in zip(gradient(*call), python(*call)):
            assert relative(mine, theirs) <= 1e-12
    single = s2sad.grad(f, argnums=1, backend="numba")
    assert single(0.2, 1.3) == single(0.2, 1.3) == pytest.approx(python(0.2, 1.3)[1], rel=1e-12)


def test_value_and_grad_and_the_source_reads_like_python():
    f, args, argnums = CASES["bouncing"]
    value, grads = s2sad.value_and_grad(f, argnums=0, backend="numba")(*args)
    assert value == pytest.approx(f(*args), rel=1e-12)
    assert grads == pytest.approx(s2sad.grad(f)(*args), rel=1e-12)
    text = numba_backend.source(f, "grad", argnums, args)
    assert "@numba.njit(cache=True)" in text
    if s2sad.config.enabled():  # loop tapes (with the analyses off, every value goes on the stacks)
        assert "_rt.grow(" in text
    assert "None" not in text.split("@numba.njit")[1]  # typed tapes and zeros, no None placeholders
    assert "# test_numba_target.py:" in text  # comments point at the user's lines
    assert "KICKS" in text.split("def bouncing_")[1].split(")")[0]  # the module array is a parameter


def test_unsupported_construct_is_refused_at_the_users_line():
    with pytest.raises(NumbaTargetError) as info:
        s2sad.grad(reads_an_object, backend="numba")(1.5)
    error = info.value
    assert error.lineno == reads_an_object.__code__.co_firstlineno + 1
    assert error.filename.endswith("test_numba_target.py")
    assert "SETTINGS" in str(error) and "dict" in str(error)
    assert "numba.core" not in str(error)
    assert s2sad.grad(reads_an_object)(1.5) == pytest.approx(6.0)  # the Python target runs it
    with pytest.raises(NumbaTargetError, match="custom rule written in Python") as info:
        s2sad.grad(uses_a_custom_rule, backend="numba")(0.3)
    assert info.value.lineno == uses_a_custom_rule.__code__.co_firstlineno + 3
    assert info.value.code.strip() == "total += softplus(a * i)"


def checkpointed(a, b, n=50):
    x = 0.3
    total = 0.0
    # s2sad: checkpoint snapshots=4
    for i in range(n):
        x = x + 0.01 * (-a * x + b * math.sin(x)) + 0.05 * KICKS[i]
        total += x * x
    return total


def test_a_checkpointed_loop_is_refused_at_its_line():
    """The checkpoint schedules run in Python: the loop is refused (before numba runs) at its line."""
    with pytest.raises(NumbaTargetError, match="does not checkpoint loops") as info:
        s2sad.grad(checkpointed, argnums=(0, 1), backend="numba")(0.5, 0.7)
    assert info.value.lineno == checkpointed.__code__.co_firstlineno + 4
    assert info.value.code.strip() == "for i in range(n):"
    assert "remove the pragma" in str(info.value) and "numba.core" not in str(info.value)


def test_dict_parameters_are_flattened_at_the_boundary():
    params = {"k": 2.0, "c": 0.3}
    mine = s2sad.grad(spring, argnums=(0, 1), backend="numba")(params, 0.5)
    theirs = s2sad.grad(spring, argnums=(0, 1))(params, 0.5)
    assert set(mine[0]) == {"k", "c"}
    for key in params:
        assert relative(mine[0][key], theirs[0][key]) <= 1e-12
    assert relative(mine[1], theirs[1]) <= 1e-12
    with pytest.raises(NumbaTargetError, match="parameter `params` is a dict") as info:
        s2sad.grad(spring, argnums=1, backend="numba")(
            params, 0.5
        )  # a dict not differentiated: not flattened
    assert info.value.lineno == spring.__code__.co_firstlineno


def test_emit_writes_a_module_that_runs(tmp_path, monkeypatch):
    f, args, argnums = CASES["switching"]
    path = tmp_path / "switching_numba.py"
    s2sad.emit(f, str(path), mode="grad", argnums=argnums, args=args, backend="numba")
    text = path.read_text()
    assert "@numba.njit(cache=True)" in text and "def switching_" in text
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("switching_numba")
    function = next(
        getattr(module, n)
        for n in dir(module)
        if n.startswith("switching_") and hasattr(getattr(module, n), "py_func")
    )
    result = function(*args, 40, 1.0)
    grads = (
        result[1]
        if isinstance(result[0], float) and len(result) == 2 and isinstance(result[1], tuple)
        else result
    )
    for mine, theirs in zip(grads, s2sad.grad(f, argnums=argnums)(*args)):
        assert relative(mine, theirs) <= 1e-12


def test_the_target_knows_what_its_runtime_compiles():
    from s2sad.runtime import numba as numba_runtime
    from s2sad.codegen.numba import RUNTIME_HELPERS

    assert all(callable(getattr(numba_runtime, name, None)) for name in RUNTIME_HELPERS)


def test_unknown_backend_is_an_argument_error():
    with pytest.raises(s2sad.errors.ArgumentError, match="backend"):
        s2sad.grad(switching, backend="cuda")


def test_a_second_process_loads_the_compiled_code(cache_directory, tmp_path):
    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import s2sad

        def decay(k, x0, n=200):
            x = x0
            total = 0.0
            for _ in range(n):
                x = x - 0.01 * k * x * abs(x)
                total += x
            return total

        gradient = s2sad.grad(decay, argnums=(0, 1), backend="numba")
        print(gradient(1.5, 0.8))
        hits = sum(sum(f.stats.cache_hits.values()) for m in list(sys.modules.values())
                   if m is not None and m.__name__.startswith("_s2sad_numba_")
                   for f in vars(m).values() if hasattr(f, "stats"))
        print("hits", hits)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    runs = [
        subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.splitlines()[0] == runs[1].stdout.splitlines()[0]
    assert runs[0].stdout.splitlines()[1] == "hits 0"
    assert runs[1].stdout.splitlines()[1] == "hits 1"


def test_python_target_imports_no_numba(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent("""
        import sys
        import s2sad

        def square(x):
            return x * x

        print(s2sad.grad(square)(2.0), "numba" in sys.modules)
    """))
    run = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    assert run.stdout.split() == ["4.0", "False"], run.stderr


@numba.njit
def _reductions(x, g):
    """Every form of `_rt.reduce` the target writes, with the adjoint helpers, for one 3-d array."""
    return (
        compiled_runtime.reduce(x, "sum", 1, True),
        compiled_runtime.reduce(x, "max", -1, False),
        compiled_runtime.reduce(x, "min", (0, 2), False),
        compiled_runtime.reduce(x, "mean", (2, 0), True),
        compiled_runtime.reduce(x, "prod", None, True),
        compiled_runtime.reduce(x, "argmax", 0, False),
        compiled_runtime.reduce(x, "argmin", 2, False),
        compiled_runtime.reduce(x, "max", None, False),
        compiled_runtime.unreduce(g, x, 1, False),
        compiled_runtime.unreduce(g.reshape((g.shape[0], 1, g.shape[1])), x, 1, True),
        compiled_runtime.extremum_weights(x, compiled_runtime.reduce(x, "max", 1, False), 1),
        compiled_runtime.extremum_weights(x, compiled_runtime.reduce(x, "min", (0, 2), True), (0, 2)),
        compiled_runtime.mean_partials(x, (0, 1)),
        compiled_runtime.gather(x, (np.array([0, 2, -1]), np.array([1, 0, 3]))),
    )


def _numpy_reductions(x, g):
    def weights(z, axis):
        mask = (x == z).astype(float)
        return mask / mask.sum(axis=axis, keepdims=True)

    return (
        np.sum(x, 1, keepdims=True),
        np.max(x, -1),
        np.min(x, (0, 2)),
        np.mean(x, (2, 0), keepdims=True),
        np.prod(x, keepdims=True),
        np.argmax(x, 0),
        np.argmin(x, 2),
        np.max(x),
        np.broadcast_to(g[:, None, :], x.shape),
        np.broadcast_to(g[:, None, :], x.shape),
        weights(np.max(x, 1, keepdims=True), 1),
        weights(np.min(x, (0, 2), keepdims=True), (0, 2)),
        1.0 / (x.shape[0] * x.shape[1]),
        x[[0, 2, -1], [1, 0, 3]],
    )


@pytest.mark.parametrize("dtype", ["float", "ties"])  # one compile (an int array would be another)
def test_reductions_along_axes_equal_numpy(dtype):
    """numba has no axis reductions but `np.sum(x, axis=k)`: the runtime's loop nests against NumPy,
    shapes, dtypes and values (ties split the extremum's derivative equally; ints keep NumPy's dtypes)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    if dtype == "ties":
        x = np.round(x)
    g = rng.standard_normal((3, 5))
    for mine, theirs in zip(_reductions(x, g), _numpy_reductions(x, g)):
        assert np.shape(mine) == np.shape(theirs)
        assert np.asarray(mine).dtype == np.asarray(theirs).dtype or np.asarray(theirs).dtype == float
        np.testing.assert_allclose(mine, theirs, rtol=1e-13, atol=1e-13)


def test_reductions_propagate_nan_as_numpy_does():
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, -1.0, 0.0]])
    first = numba.njit(
        lambda x: (
            compiled_runtime.reduce(x, "max", 1, False),
            compiled_runtime.reduce(x, "argmin", 1, False),
        )
    )
    maxima, places = first(x)
    np.testing.assert_array_equal(maxima, np.max(x, axis=1))
    np.testing.assert_array_equal(places, np.argmin(x, axis=1))


NUMBA_MODEL = """
import math

import numpy as np

DT = 0.01
G = 9.81
KICKS = np.array([0.5, -0.25, 0.125])


def fall(x, c):
    h = 10.0
    v = x
    t = 0.0
    energy = 0.0
    while h > 0.0:
        v = v - DT * (G + c * v * abs(v))
        h = h + DT * v
        t = t + DT
        energy = energy + DT * v * v * math.exp(-t)
    return energy + np.sum(KICKS * x)


def fit(w, data):
    y = np.tanh(data @ w)
    return np.sum((y - KICKS) ** 2)
"""


def test_emitted_numba_module_runs_without_s2sad(tmp_path, monkeypatch):
    """The numba target's file carries the `@njit` helpers it calls (and their `@overload`s)."""
    from s2sad.testing import run_without_s2sad

    (tmp_path / "numbamodel.py").write_text(NUMBA_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    import numbamodel

    w, data = np.linspace(0.1, 0.4, 4), np.arange(12.0).reshape(3, 4) / 10
    s2sad.emit(
        numbamodel.fall, str(tmp_path / "fall_numba.py"), argnums=(0, 1), args=(0.3, 0.05), backend="numba"
    )
    s2sad.emit(numbamodel.fit, str(tmp_path / "fit_numba.py"), args=(w, data), backend="numba")
    for name in ("fall_numba.py", "fit_numba.py"):
        text = (tmp_path / name).read_text()
        assert not [line for line in text.splitlines() if line.startswith(("import s2sad", "from s2sad"))]
        assert "_rt." not in text
        assert "run-time helpers copied from s2sad" in text
    code = (
        "import json, numpy as np, fall_numba, fit_numba\n"
        "_, (gx, gc) = fall_numba.fall_vjp_call(0.3, 0.05, 1.0)\n"
        "w, data = np.linspace(0.1, 0.4, 4), np.arange(12.0).reshape(3, 4) / 10\n"
        "_, (gw,) = fit_numba.fit_vjp_call(w, data, 1.0)\n"
        "print(json.dumps([gx, gc] + gw.tolist()))\n"
    )
    got = np.array(__import__("json").loads(run_without_s2sad(code, tmp_path, timeout=600)))
    expected = list(s2sad.grad(numbamodel.fall, argnums=(0, 1))(0.3, 0.05)) + list(
        s2sad.grad(numbamodel.fit)(w, data)
    )
    assert relative(got, np.array(expected, dtype=float)) <= 1e-12
    sys.modules.pop("numbamodel", None)


def test_every_numba_helper_can_be_copied(tmp_path, monkeypatch):
    from s2sad.codegen.numba import RUNTIME_HELPERS
    from s2sad.codegen.vendor import vendor

    section = vendor(list(RUNTIME_HELPERS), root="s2sad.runtime.numba")
    (tmp_path / "copied_numba_helpers.py").write_text(
        "\n".join(section.imports) + "\n\n" + section.code + "\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # numba's cache=True needs a file
    import copied_numba_helpers as copies

    assert all(callable(getattr(copies, section.names[n])) for n in RUNTIME_HELPERS)
    assert copies.unbroadcast(np.ones((4, 3)), np.ones(3)).tolist() == [4.0, 4.0, 4.0]
    sys.modules.pop("copied_numba_helpers", None)
