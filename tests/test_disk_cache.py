"""The disk cache of generated derivatives (`s2sad.cache`, `s2sad.frontend.fingerprint`, the disk
half of `s2sad.pipeline.compile_derivative`): a hit runs the same code a miss generates, a second
process generates nothing, damaged or foreign entries are never run, a changed source or global
gives a new entry, and the cache can be turned off, moved, inspected and cleared."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import s2sad
from s2sad import cache, pipeline
from s2sad.api.numba_backend import cache_directory
from s2sad.cli import main as cli_main
from s2sad.testing import check_grads

ROOT = Path(__file__).resolve().parents[1]

# the tests that start processes (the cache's files, locking, the command line) do not depend on the
# analyses: the suite's second run, with the analyses off, skips them
processes = pytest.mark.skipif(not s2sad.config.enabled(), reason="run once, with the analyses on")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own, and the memory caches emptied."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("S2SAD_CACHE_DIR", str(folder))
    monkeypatch.delenv("S2SAD_CACHE", raising=False)
    cache.clear()
    yield folder
    cache.clear()


@pytest.fixture
def generations(monkeypatch):
    """How many times the passes ran (`pipeline.generate`), counted per call."""
    count = [0]
    real = pipeline.generate

    def counted(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "generate", counted)
    return count


def _entries(folder):
    return sorted((folder / "derivatives").glob("*.py"))


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run(code, env, cwd):
    """Run `code` in a fresh Python process (s2sad of this worktree); its stdout's last line as JSON."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{cwd}", PYTHONDONTWRITEBYTECODE="1", **env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_suite_never_writes_to_the_users_cache():
    """conftest points the cache at a temporary folder for the whole session (and subprocesses)."""
    from conftest import CACHE_DIR

    assert cache.root() == CACHE_DIR == os.environ["S2SAD_CACHE_DIR"]
    home = os.path.realpath(os.path.expanduser("~"))
    assert not os.path.realpath(CACHE_DIR).startswith(os.path.join(home, ".cache"))


@pytest.mark.parametrize(
    "platform, env, expected",
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/s2sad"),
        ("linux", {}, os.path.expanduser("~/.cache/s2sad")),
        ("darwin", {}, os.path.expanduser("~/Library/Caches/s2sad")),
        (
            "win32",
            {"LOCALAPPDATA": "C:/Users/u/AppData/Local"},
            os.path.join("C:/Users/u/AppData/Local", "s2sad", "Cache"),
        ),
        ("linux", {"S2SAD_CACHE_DIR": "/elsewhere", "XDG_CACHE_HOME": "/xdg"}, "/elsewhere"),
    ],
)
def test_the_cache_folder_is_the_platforms_user_cache(platform, env, expected, monkeypatch):
    for name in ("S2SAD_CACHE_DIR", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "platform", platform)
    assert cache.root() == expected
    assert cache.directory("derivatives") == os.path.join(expected, "derivatives")
    assert cache_directory() == os.path.join(expected, "numba")  # one root for both kinds


# -- a hit is the same function as a miss ------------------------------------------------------

PROGRAMS = """
import math

import numpy as np

import s2sad

W = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
SCALE = 0.75
OFFSETS = (0.1, -0.2, 0.3)


def squash(h):
    return np.tanh(h) * SCALE


def layer(x):
    h = W @ x
    out = 0.0
    for i in range(3):
        out += squash(h[i] + OFFSETS[i]) ** 2
    return out + np.sum(x**2)


def lecture(x1, x2):
    a = math.sin(x1) * x2
    b = a + math.exp(x2)
    return b * x1


def langevin(x, steps=20, dt=0.05, gamma=0.3):
    v = np.zeros_like(x)
    for _ in range(steps):
        force = -x**3 + x
        v = v + dt * (force - gamma * v)
        x = x + dt * v
    return np.sum(x**2)


def with_tree(params, x):
    return np.sum(np.tanh(params["w"] * x + params["b"]) ** 2)


def with_aux(x):
    y = np.sin(x)
    return np.sum(y**2), y


@s2sad.custom_vjp
def softclip(x):
    return np.log1p(np.exp(x))


def softclip_fwd(x):
    return softclip(x), x


def softclip_bwd(x, g):
    return (g / (1.0 + np.exp(-x)),)


softclip.defvjp(softclip_fwd, softclip_bwd)


def uses_custom(x):
    return np.sum(softclip(x) * x)


def outer(x):
    return np.sum(s2sad.grad(lambda u: np.sum(np.sin(u) * u))(x) ** 2)
"""

CASES = [
    ("grad", "layer", lambda m: (m.np.arange(4.0) / 4,)),
    ("grad", "lecture", lambda m: (1.5, 0.5)),
    ("grad", "langevin", lambda m: (m.np.linspace(-1, 1, 5),)),
    ("grad", "with_tree", lambda m: ({"w": m.np.ones(3) * 0.3, "b": m.np.arange(3.0)}, m.np.ones(3))),
    ("grad_aux", "with_aux", lambda m: (m.np.arange(3.0),)),
    ("grad", "uses_custom", lambda m: (m.np.arange(3.0) - 1,)),
    ("grad", "outer", lambda m: (m.np.arange(3.0) / 3,)),
    ("jvp", "layer", lambda m: (m.np.arange(4.0) / 4,)),
    ("vjp", "langevin", lambda m: (m.np.linspace(-1, 1, 5),)),
    ("hessian", "lecture", lambda m: (1.5, 0.5)),
]


def _derivative(how, f, args):
    if how == "grad":
        return s2sad.grad(f, argnums=tuple(range(len(args))))(*args)
    if how == "grad_aux":
        return s2sad.grad(f, has_aux=True)(*args)
    if how == "jvp":
        return s2sad.jvp(f, args, tuple(np.ones_like(np.asarray(a)) for a in args))
    if how == "vjp":
        out, pullback = s2sad.vjp(f, *args)
        return out, pullback(1.0)
    return s2sad.hessian(f, argnums=(0, 1))(*args)


def _flat(value):
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flat(value[k])]
    if isinstance(value, (tuple, list)):
        return [x for item in value for x in _flat(item)]
    return list(np.ravel(np.asarray(value, dtype=float)))


@pytest.mark.parametrize("how, name, make_args", CASES, ids=[f"{h}-{n}" for h, n, _ in CASES])
def test_a_hit_gives_the_function_a_miss_generates(how, name, make_args, fresh_cache, generations, tmp_path):
    module = _load_module(_write(tmp_path / "programs_hit.py", PROGRAMS), f"programs_hit_{how}_{name}")
    args = make_args(module)
    f = getattr(module, name)
    missed = _flat(_derivative(how, f, args))
    assert generations[0] >= 1
    stored = _entries(fresh_cache)
    assert stored or how == "hessian", "nothing was written to the disk cache"
    cache.clear()  # the memory caches only: the next call reads the disk
    before = generations[0]
    hit = _flat(_derivative(how, f, args))
    np.testing.assert_array_equal(hit, missed)
    if how != "hessian":  # (the derivative of a transform, `jacfwd(grad(f))`, is cached in memory only)
        assert generations[0] == before, "the disk cache was not used"
    if how == "grad" and name in ("layer", "lecture", "langevin"):
        check_grads(f, args)  # and the cached code is right (both modes, dot-product test)


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


# -- across processes ---------------------------------------------------------------------------

DRIVER = """
import json, sys, time
import numpy as np
import s2sad, s2sad.pipeline as pipeline
if "{forbid}" == "yes":
    def refuse(*args, **kwargs):
        raise AssertionError("generated in the second process")
    pipeline.generate = refuse
import programs_two as m
t = time.perf_counter()
g1 = s2sad.grad(m.layer)(np.arange(4.0) / 4)
g2 = s2sad.grad(m.lecture, argnums=(0, 1))(1.5, 0.5)
g3 = s2sad.grad(m.langevin)(np.linspace(-1, 1, 5))
g4 = s2sad.grad(m.uses_custom)(np.arange(3.0) - 1)
seconds = time.perf_counter() - t
print(json.dumps([list(g1), list(g2), list(g3), list(g4), seconds, "black" in sys.modules]))
"""


@processes
def test_a_second_process_generates_nothing(tmp_path):
    _write(tmp_path / "programs_two.py", PROGRAMS)
    env = {"S2SAD_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(DRIVER.format(forbid="no"), env, tmp_path)
    entries = _entries(tmp_path / "cache")
    assert len(entries) == 4
    second = _run(DRIVER.format(forbid="yes"), env, tmp_path)  # pipeline.generate raises there
    assert second[:4] == first[:4]
    assert not first[5] and not second[5]  # neither process imported black (no formatted source asked)
    assert _entries(tmp_path / "cache") == entries
    # the first process's figures are right (central differences, float64)
    module = _load_module(tmp_path / "programs_two.py", "programs_two_check")
    x = np.linspace(-1, 1, 5)
    step, numeric = 1e-6, []
    for i in range(5):
        e = np.zeros(5)
        e[i] = step
        numeric.append((module.langevin(x + e) - module.langevin(x - e)) / (2 * step))
    np.testing.assert_allclose(first[2], numeric, rtol=1e-6, atol=1e-8)


@processes
def test_a_disabled_cache_reads_and_writes_nothing(tmp_path):
    _write(tmp_path / "programs_two.py", PROGRAMS)
    env = {"S2SAD_CACHE_DIR": str(tmp_path / "cache")}
    _run(DRIVER.format(forbid="no"), env, tmp_path)  # entries there
    count = len(_entries(tmp_path / "cache"))
    off = dict(env, S2SAD_CACHE="off")
    done = subprocess.run(  # with the cache off, the second process must generate: refusing fails it
        [sys.executable, "-c", textwrap.dedent(DRIVER.format(forbid="yes"))],
        env=dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", **off),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "generated in the second process" in done.stderr
    empty = tmp_path / "other"
    _run(DRIVER.format(forbid="no"), {"S2SAD_CACHE_DIR": str(empty), "S2SAD_CACHE": "off"}, tmp_path)
    assert not empty.exists() and len(_entries(tmp_path / "cache")) == count


WRITER = """
import json, sys
import numpy as np
import s2sad
import programs_two as m
me = int(sys.argv[1])
out = []
for n in range(1, 5):  # keys every writer shares
    out.append(list(s2sad.grad(m.langevin)(np.linspace(-1, 1, n))))
out.append(list(s2sad.grad(m.langevin)(np.linspace(-1, 1, 10 + me))))  # a key of its own
print(json.dumps(out))
"""


@processes
def test_writers_at_once_leave_only_whole_entries(tmp_path):
    _write(tmp_path / "programs_two.py", PROGRAMS)
    folder = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", S2SAD_CACHE_DIR=str(folder))
    code = textwrap.dedent(WRITER)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(k)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for k in range(4)
    ]
    results = [json.loads(p.communicate(timeout=300)[0]) for p in writers]
    assert all(p.returncode == 0 for p in writers)
    assert all(r[:4] == results[0][:4] for r in results)
    entries = _entries(folder)
    # four shared keys, one of each writer's own (with the analyses off, code is not specialized to shapes)
    assert len(entries) == (4 + 4 if s2sad.config.enabled() else 1)
    assert not [p for p in (folder / "derivatives").iterdir() if p.suffix != ".py"]  # no temporary left
    reads = _run(
        "import json, s2sad.cache as c, pathlib\n"
        f"folder = pathlib.Path({str(folder)!r}) / 'derivatives'\n"
        "print(json.dumps([c.read_entry('derivatives', p.stem) is not None for p in sorted(folder.glob('*.py'))]))",
        {"S2SAD_CACHE_DIR": str(folder)},
        tmp_path,
    )
    assert reads == [True] * len(entries)


HAMMER = """
import json, sys
import s2sad.cache as c
me = int(sys.argv[1])
seen = set()
for k in range(300):
    body = f"# writer {me} round {k}\\n" + "x = 1.0\\n" * (1 + (k * 37 + me * 11) % 400)
    c.write_entry("derivatives", "ab" * 32, {"writer": me, "round": k}, body)
    got = c.read_entry("derivatives", "ab" * 32)
    if got is None:
        raise SystemExit("a whole entry was not readable")
    meta, text = got
    if not text.startswith(f"# writer {meta['writer']} round {meta['round']}\\n"):
        raise SystemExit("an entry mixes two writers")
print(json.dumps(True))
"""


@processes
def test_one_key_written_by_many_processes_is_always_whole(tmp_path):
    """Four processes write and read one key 300 times each: every read finds a whole entry."""
    folder = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT), S2SAD_CACHE_DIR=str(folder))
    code = textwrap.dedent(HAMMER)
    hammers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(k)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for k in range(4)
    ]
    outcomes = [p.communicate(timeout=300) for p in hammers]
    assert all(p.returncode == 0 for p in hammers), [err for _, err in outcomes]
    assert [p.name for p in (folder / "derivatives").iterdir()] == ["ab" * 32 + ".py"]


# -- damaged and foreign entries ------------------------------------------------------------------


def _damage(path, how, other):
    text = path.read_text()
    first, _, body = text.partition("\n")
    if how == "garbage":
        path.write_bytes(os.urandom(300))
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "empty":
        path.write_text("")
    elif how == "wrong checksum":  # a valid-looking entry whose body computes something else
        assert "np.cos" in body
        path.write_text(first + "\n" + body.replace("np.cos", "np.sin"))
    elif how == "foreign key":  # another entry's whole file under this name
        path.write_text(other.read_text())
    elif how == "other format":
        header = json.loads(first[2:])
        header["format"] = cache.FORMAT + 1
        path.write_text("# " + json.dumps(header) + "\n" + body)
    elif how == "not json":
        path.write_text("# {not json\n" + body)


DAMAGE = ["garbage", "truncated", "empty", "wrong checksum", "foreign key", "other format", "not json"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_or_foreign_entry_is_ignored_and_rewritten(how, fresh_cache, generations, tmp_path):
    module = _load_module(
        _write(
            tmp_path / "damaged.py",
            """
            import numpy as np

            def f(x):
                return np.sum(np.sin(x) * x)

            def g(x):
                return np.sum(x**3)
            """,
        ),
        "damaged_" + how.replace(" ", "_"),
    )
    x = np.linspace(0.1, 1.0, 4)
    expected = np.cos(x) * x + np.sin(x)
    s2sad.grad(module.g)(x)
    other = _entries(fresh_cache)[0]
    np.testing.assert_allclose(s2sad.grad(module.f)(x), expected, rtol=1e-12)
    (entry,) = [p for p in _entries(fresh_cache) if p != other]
    _damage(entry, how, other)
    cache.clear()
    before = generations[0]
    np.testing.assert_allclose(s2sad.grad(module.f)(x), expected, rtol=1e-12)
    assert generations[0] == before + 1  # generated again, not read
    assert cache.read_entry("derivatives", entry.stem) is not None  # and written again, whole
    cache.clear()
    np.testing.assert_allclose(s2sad.grad(module.f)(x), expected, rtol=1e-12)
    assert generations[0] == before + 1  # the rewritten entry is used


# -- what the key covers --------------------------------------------------------------------------

EDITED = """
import json
import numpy as np
import s2sad
import {names}
x = np.array([0.5, 1.5])
print(json.dumps([list(s2sad.grad(m.f)(x)) for m in ({names},)]))
"""

# five programs, each reading the constant k from another place: the function's own line, a helper
# in its file, a helper imported from another file, a helper read as a module's attribute, a global
EDITS = {
    "in_function": "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x) * {k})\n",
    "in_helper": "import numpy as np\n\n\ndef h(x):\n    return np.sin(x) * {k}\n\n\ndef f(x):\n    return np.sum(h(x))\n",
    "in_helper_module": "import numpy as np\nfrom helpers import h\n\n\ndef f(x):\n    return np.sum(h(x))\n",
    "in_module_attribute": "import numpy as np\nimport helpers\n\n\ndef f(x):\n    return np.sum(helpers.h(x))\n",
    "in_global": "import numpy as np\n\nK = {k}\n\n\ndef f(x):\n    return np.sum(np.sin(x) * K)\n",
}
HELPERS = "import numpy as np\n\n\ndef h(x):\n    return np.sin(x) * {k}\n"


@processes
def test_an_edited_source_gives_a_new_entry_not_the_old_gradient(tmp_path):
    env = {"S2SAD_CACHE_DIR": str(tmp_path / "cache")}
    x = np.array([0.5, 1.5])
    seen = []
    for k in ("2.0", "3.0", "2.0"):  # each round a fresh process, after the files were edited
        (tmp_path / "helpers.py").write_text(HELPERS.format(k=k))
        for name, text in EDITS.items():
            (tmp_path / f"{name}.py").write_text(text.format(k=k))
        got = _run(EDITED.format(names=", ".join(EDITS)), env, tmp_path)
        for gradient in got:
            np.testing.assert_allclose(gradient, float(k) * np.cos(x), rtol=1e-12)
        seen.append(len(_entries(tmp_path / "cache")))
    assert seen == [5, 10, 10]  # new entries for 3.0; 2.0 again finds its own


def test_a_global_arrays_shape_is_in_the_key_and_its_values_are_read_when_the_code_runs(
    fresh_cache, generations, tmp_path
):
    module = _load_module(
        _write(
            tmp_path / "global_shape.py",
            """
            import numpy as np

            A = np.ones((2, 3))

            def f(x):
                return np.sum(np.tanh(A @ x))
            """,
        ),
        "global_shape",
    )

    def expected(x):
        return module.A.T @ (1 - np.tanh(module.A @ x) ** 2)

    x = np.linspace(0.1, 0.3, 3)
    np.testing.assert_allclose(s2sad.grad(module.f)(x), expected(x), rtol=1e-12)
    assert generations[0] == 1
    module.A = np.arange(6.0).reshape(2, 3) / 6  # same shape, other values: the entry fits
    cache.clear()
    np.testing.assert_allclose(s2sad.grad(module.f)(x), expected(x), rtol=1e-12)
    assert generations[0] == 1 and len(_entries(fresh_cache)) == 1
    module.A = np.ones((4, 3)) / 2  # another shape: another key
    cache.clear()
    np.testing.assert_allclose(s2sad.grad(module.f)(x), expected(x), rtol=1e-12)
    assert generations[0] == 2 and len(_entries(fresh_cache)) == 2


def test_options_are_in_the_key(fresh_cache, generations, tmp_path):
    """argnums, has_aux, the mode and the argument kinds each get their own entry."""
    module = _load_module(
        _write(
            tmp_path / "options.py",
            """
            import numpy as np

            def f(x, y):
                return np.sum(np.sin(x) * y), x
            """,
        ),
        "options_module",
    )
    x, y = np.arange(3.0), np.ones(3)
    s2sad.grad(module.f, argnums=0, has_aux=True)(x, y)
    s2sad.grad(module.f, argnums=1, has_aux=True)(x, y)
    s2sad.grad(module.f, argnums=(0, 1), has_aux=True)(x, y)
    s2sad.grad(module.f, argnums=0, has_aux=True)(1.0, 2.0)
    s2sad.value_and_grad(module.f, argnums=0, has_aux=True)(x, y)
    assert len(_entries(fresh_cache)) == generations[0] == 5


def test_rules_a_program_registers_are_in_the_key(fresh_cache, generations, tmp_path):
    from s2sad.rules import RULES, adjoint, tangent

    module = _load_module(
        _write(
            tmp_path / "own_rule.py",
            """
            import numpy as np

            def cube(x):
                return x * x * x

            def f(x):
                return np.sum(np.sqrt(x))
            """,
        ),
        "own_rule",
    )
    x = np.array([1.0, 4.0])
    plain = s2sad.grad(module.f)(x)
    saved = RULES[np.sqrt]
    try:
        del RULES[np.sqrt]

        @tangent(np.sqrt, elementwise=True, kind="elementwise")
        def _(z, x):
            z_dot = x_dot * 0.0

        @adjoint(np.sqrt)
        def _(z, x):
            x_bar += z_bar * 0.0  # a (wrong) rule of the program's own: its code must not be the cached one

        cache.clear()
        np.testing.assert_array_equal(s2sad.grad(module.f)(x), np.zeros(2))
    finally:
        RULES[np.sqrt] = saved
    cache.clear()
    np.testing.assert_array_equal(s2sad.grad(module.f)(x), plain)  # the built-in rule's entry again
    assert generations[0] == 2


def test_clearing_memory_keeps_the_disk_and_clear_disk_empties_it(fresh_cache, tmp_path):
    module = _load_module(_write(tmp_path / "programs_clear.py", PROGRAMS), "programs_clear")
    s2sad.grad(module.lecture)(1.0, 2.0)
    assert len(_entries(fresh_cache)) == 1
    cache.clear()
    assert len(_entries(fresh_cache)) == 1 and cache.info()["entries"] == 1
    assert cache.clear_disk() == 1 and cache.info()["entries"] == 0


# -- the command line -------------------------------------------------------------------------------


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "s2sad", *args],
        env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
    )


@processes
def test_the_cache_command_shows_and_clears_the_cache(tmp_path):
    _write(tmp_path / "programs_two.py", PROGRAMS)
    folder = tmp_path / "cache"
    env = {"S2SAD_CACHE_DIR": str(folder)}
    _run(DRIVER.format(forbid="no"), env, tmp_path)
    info = _cli("cache", "info", env=env)
    assert info.returncode == 0, info.stderr
    assert (
        str(folder) in info.stdout and "derivatives: 4 entries" in info.stdout and "state: on" in info.stdout
    )
    figures = json.loads(_cli("cache", "info", "--json", env=env).stdout)
    assert figures["entries"] == 4 and figures["bytes"] == sum(p.stat().st_size for p in _entries(folder))
    off = _cli("cache", "info", env=dict(env, S2SAD_CACHE="off"))
    assert "state: off" in off.stdout
    cleared = _cli("cache", "clear", env=env)
    assert cleared.returncode == 0 and "removed 4 files" in cleared.stdout
    assert _entries(folder) == []
    assert "derivatives: 0 entries" in _cli("cache", "info", env=env).stdout


@processes
def test_the_cache_command_has_help(capsys):
    done = _cli("cache", "--help")
    assert done.returncode == 0 and "usage: s2sad cache" in done.stdout and "clear" in done.stdout
    for action in ("info", "clear"):
        with pytest.raises(SystemExit) as exited:
            cli_main(["cache", action, "--help"])
        assert exited.value.code == 0 and f"usage: s2sad cache {action}" in capsys.readouterr().out


@processes
def test_the_cache_command_needs_an_action():
    done = _cli("cache")
    assert done.returncode == 2 and "ACTION" in done.stderr


def test_code_compiled_from_text_its_file_no_longer_has_is_not_stored(fresh_cache, tmp_path):
    """A long-running process compiles a function again (another shape) after its file was edited:
    the compiler reads the text it read first, so that code must not be stored under the edited
    file's key, where the next process would find it."""
    path = _write(
        tmp_path / "edited_later.py",
        "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x) * 2.0)\n",
    )
    old = _load_module(path, "edited_later")
    x = np.linspace(0.1, 0.5, 3)
    np.testing.assert_allclose(s2sad.grad(old.f)(x), 2.0 * np.cos(x), rtol=1e-12)
    path.write_text("import numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x) * 5.0)\n")
    np.testing.assert_allclose(s2sad.grad(old.f)(np.ones(4)), 2.0 * np.cos(np.ones(4)), rtol=1e-12)
    cache.clear()
    new = _load_module(path, "edited_later")  # what the next process would import (same name)
    for shape in (3, 4):
        y = np.linspace(0.1, 0.5, shape)
        np.testing.assert_allclose(s2sad.grad(new.f)(y), 5.0 * np.cos(y), rtol=1e-12)


def test_the_cache_is_trimmed_to_its_limit_least_recently_used_first(fresh_cache, monkeypatch):
    body = "x = 1\n" * 2000  # ~12 kB an entry
    keys = [f"{i:02d}" * 32 for i in range(10)]
    for age, key in enumerate(keys):
        assert cache.write_entry("derivatives", key, {}, body)
        os.utime(cache._path("derivatives", key), (1000.0 + age, 1000.0 + age))  # written in this order
    assert cache.read_entry("derivatives", keys[0]) is not None  # the oldest, used again just now
    size = sum(p.stat().st_size for p in _entries(fresh_cache))
    limit = size // 2
    removed = cache.trim(limit)
    left = sum(p.stat().st_size for p in _entries(fresh_cache))
    assert removed > 0 and left <= 0.8 * limit
    kept = {p.stem for p in _entries(fresh_cache)}
    assert keys[0] in kept  # read last: kept
    assert keys[1] not in kept and keys[-1] in kept  # the others go oldest first
    assert cache.trim(limit) == 0  # under the limit: nothing to do


def test_writes_trim_the_cache_under_the_limit_set_in_the_environment(fresh_cache, monkeypatch):
    monkeypatch.setenv("S2SAD_CACHE_MAX_MB", "0.05")  # 50 kB
    monkeypatch.setattr(cache, "TRIM_EVERY", 1)
    monkeypatch.setattr(cache, "TRIM_INTERVAL", 0.0)
    for i in range(20):
        assert cache.write_entry("derivatives", f"{i:02d}" * 32, {}, "y = 2\n" * 1000)  # ~6 kB each
    assert sum(p.stat().st_size for p in _entries(fresh_cache)) <= 50_000
    assert cache.info()["limit_bytes"] == 50_000
    monkeypatch.setenv("S2SAD_CACHE_MAX_MB", "0")
    assert cache.limit_bytes() is None and cache.trim() == 0


def test_one_process_in_an_interval_looks_at_the_size(fresh_cache, monkeypatch):
    monkeypatch.setattr(cache, "TRIM_EVERY", 1)
    looked = []
    monkeypatch.setattr(cache, "trim", lambda limit=None: looked.append(1) or 0)
    for i in range(5):
        cache.write_entry("derivatives", f"{i:02d}" * 32, {}, "z = 3\n")
    assert len(looked) == 1  # the first write looked; the stamp says it is not due again yet
