"""Standalone derivative files (s2sad/codegen/standalone.py, vendor.py): `s2sad.emit` writes a module
that imports NumPy and the user's names by name, carries the run-time helpers it calls, passes black,
and runs in a fresh process where s2sad cannot be imported, with the gradient of s2sad.grad and of
central finite differences, in every mode."""

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import black
import numpy as np
import pytest

import s2sad
import s2sad.runtime as runtime
from s2sad.codegen.vendor import NotStandaloneError, vendor
from s2sad.testing import run_without_s2sad

ROOT = Path(__file__).resolve().parents[1]

MODEL = """
import math

import numpy as np

DT = 0.01
G = 9.81
KICKS = np.array([0.5, -0.25, 0.125])


def lecture(x1, x2):
    v = x1 / x2
    return (np.sin(v) + v - np.exp(x2)) * (v - np.exp(x2))


def drag(v, c):
    return c * v * abs(v)


def fall(v0, c):
    h = 10.0
    v = v0
    t = 0.0
    energy = 0.0
    while h > 0.0:
        v = v - DT * (G + drag(v, c))
        h = h + DT * v
        t = t + DT
        energy = energy + DT * v * v * math.exp(-t)
    return energy


def fit(w, data):
    y = np.tanh(data @ w)
    err = y - KICKS
    loss = np.sum(err**2)
    return loss


def branches(x, y):
    if x > y:
        return x * y
    return np.sin(x) + y
"""

CASES = {  # function -> (argument expressions, argnums)
    "lecture": (["1.5", "0.5"], (0, 1)),
    "fall": (["0.3", "0.05"], (0, 1)),
    "fit": (["np.linspace(0.1, 0.4, 4)", "np.arange(12.0).reshape(3, 4) / 10"], (0,)),
    "branches": (["0.7", "0.2"], (0, 1)),
}
MODES = ("reverse", "grad", "jacrev", "forward")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standalone")
    (folder / "usermodel.py").write_text(MODEL)
    sys.path.insert(0, str(folder))
    try:
        import usermodel
    finally:
        sys.path.remove(str(folder))
    yield folder, usermodel
    sys.modules.pop("usermodel", None)


def _central(f, args, nums, step=1e-6):
    out = []
    for i in nums:
        x = np.asarray(args[i], dtype=float)
        g = np.zeros(x.shape)
        for k in np.ndindex(x.shape):
            e = np.zeros(x.shape)
            e[k] = step
            plus, minus = list(args), list(args)
            plus[i], minus[i] = x + e, x - e
            if x.shape == ():
                plus[i], minus[i] = float(x + e), float(x - e)
            g[k] = (f(*plus) - f(*minus)) / (2 * step)
        out.append(g)
    return out


CALLER = """
import json
import numpy as np
from {module} import *

args = ({args},)
nums = {nums}
mode = {mode!r}
if mode == "forward":
    grads = []
    for i in nums:
        for k in np.ndindex(np.shape(args[i])):
            tangents = [np.zeros(np.shape(args[j])) if np.ndim(args[j]) else 0.0 for j in nums]
            if np.ndim(args[i]):
                tangents[nums.index(i)][k] = 1.0
            else:
                tangents[nums.index(i)] = 1.0
            grads.append(float({name}_jvp(*args, *tangents)[1]))
elif mode == "jacrev":
    value, residuals = {name}_forward(*args)
    grads = [float(v) for g in {name}_backward(residuals, 1.0) for v in np.ravel(g)]
else:
    found = globals().get("{name}_grad")
    result = found(*args) if found else {name}_vjp(*args)[1]
    grads = [float(v) for g in result for v in np.ravel(g)]
print(json.dumps(grads))
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_emitted_module_runs_without_s2sad(model, name, mode):
    folder, usermodel = model
    exprs, nums = CASES[name]
    f = getattr(usermodel, name)
    module = f"{name}_{mode}"
    path = folder / f"{module}.py"
    s2sad.emit(f, str(path), mode=mode, argnums=nums)
    text = path.read_text()
    code = CALLER.format(module=module, args=", ".join(exprs), nums=nums, mode=mode, name=name)
    got = np.array(json.loads(run_without_s2sad(code, folder)))
    args = tuple(eval(e, {"np": np}) for e in exprs)
    expected = np.concatenate([np.ravel(g) for g in s2sad.grad(f, argnums=nums)(*args)])
    central = np.concatenate([np.ravel(g) for g in _central(f, args, nums)])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, central, rtol=1e-5, atol=1e-6)
    _check_text(text)


def _check_text(text):
    lines = text.splitlines()
    assert not any(line.startswith(("import s2sad", "from s2sad")) for line in lines), text
    assert not any("import *" in line for line in lines), text
    assert black.format_str(text, mode=black.Mode()) == text  # black's defaults (no pyproject needed)
    params = {a.arg for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) for a in n.args.args}
    assert not [
        p for p in params if p.startswith("_") and p.endswith("_bar")
    ], "a seed named after a temporary"


def test_user_names_are_imported_by_name(model):
    folder, usermodel = model
    path = s2sad.emit(usermodel.fall, str(folder / "fall_names.py"), argnums=(0, 1))
    text = Path(path).read_text()
    assert "from usermodel import DT, G\n" in text
    assert "import math\n" in text and "import numpy as np\n" in text
    assert "run-time helpers copied from s2sad" in text and "_rt = SimpleNamespace(" in text
    forward = Path(s2sad.emit(usermodel.lecture, str(folder / "lec_fwd.py"), mode="forward", argnums=(0, 1)))
    assert "SimpleNamespace" not in forward.read_text()  # no helper called: none copied
    assert "import math" not in forward.read_text()


def returns_name(x):
    loss = x * 2.0
    loss = loss * loss
    return loss


def returns_expression(x):
    return np.sin(x) * x


def returns_in_branches(x):
    if x > 0:
        return x * 2.0
    return np.sin(x)


def has_out(x):
    out = x * 3.0
    return out * 2.0


def returns_pair(x, y):
    return x * y, x + y


@pytest.mark.parametrize(
    "name, seed",
    [
        ("returns_name", "loss_bar"),
        ("returns_expression", "out_bar"),
        ("returns_in_branches", "out_bar"),
        ("has_out", "output_bar"),  # `out_bar` would read as the adjoint of the user's `out`
        ("returns_pair", "out_bar"),
    ],
)
@pytest.mark.parametrize("mode", ["reverse", "grad", "jacrev"])
def test_seed_is_named_after_the_output(name, seed, mode):
    text = s2sad.source(globals()[name], mode=mode, argnums=0)
    signatures = [line for line in text.splitlines() if line.startswith("def ")]
    assert any(f", {seed}" in s for s in signatures), signatures
    assert not re.search(r"\b_\w*_bar\b", " ".join(signatures)), signatures


def test_seed_name_keeps_the_gradient():
    s2sad.testing.check_grads(has_out, (0.7,))
    s2sad.testing.check_grads(returns_in_branches, (-0.4,))
    s2sad.testing.check_grads(returns_expression, (np.array([0.3, -1.2]),))


SCRIPT = """
import numpy as np
import s2sad

SCALE = 2.0
W = np.array([1.0, 2.0, 3.0])


@s2sad.custom_vjp
def clip(x):
    return np.clip(x, -1.0, 1.0)


clip.defvjp(lambda x: (clip(x), x), lambda x, g: (g,))


def f(x):
    return np.sum(np.sin(x * SCALE) * W)


def g(x):
    return np.sum(clip(x) * W)


if __name__ == "__main__":
    s2sad.emit(f, "main_f.py")
    try:
        s2sad.emit(g, "main_g.py")
    except s2sad.errors.S2sadError as error:
        print(error)
"""


def test_function_in_main(tmp_path):
    """Values of a script run as `__main__` are written into the file; its functions are refused."""
    (tmp_path / "script.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    message = done.stdout
    assert f"{tmp_path / 'script.py'}:21:" in message and "`clip`" in message and "move `clip`" in message
    text = (tmp_path / "main_f.py").read_text()
    assert "SCALE = 2.0" in text and "W = np.array([1.0, 2.0, 3.0], dtype=np.float64)" in text
    assert "# the value of __main__.W when this file was written" in text
    _check_text(text)
    x = np.array([0.1, -0.3, 0.5])
    got = json.loads(
        run_without_s2sad(
            "import json, numpy as np, main_f\n"
            f"print(json.dumps(list(main_f.f_vjp(np.array({x.tolist()}))[1][0])))",
            tmp_path,
        )
    )
    np.testing.assert_allclose(got, 2.0 * np.cos(2.0 * x) * np.array([1.0, 2.0, 3.0]), rtol=1e-12)


def test_closure_values_are_written_as_literals(tmp_path):
    def make(k):
        def scaled(x):
            return np.sin(x) * k

        return scaled

    path = tmp_path / "closure.py"
    s2sad.emit(make(1.5), str(path))
    text = path.read_text()
    assert "k = 1.5" in text and "closure variable k" in text
    got = run_without_s2sad("import closure\nprint(closure.scaled_vjp(0.3)[1][0])", tmp_path)
    assert float(got) == pytest.approx(1.5 * np.cos(0.3), rel=1e-12)


def recursive_power(x, n):
    if n == 0:
        return 1.0
    return x * recursive_power(x, n - 1)


def cube(x):
    return recursive_power(x, 3)


def test_derivative_compiled_while_running_is_refused(tmp_path):
    with pytest.raises(NotStandaloneError, match="cannot run without s2sad") as info:
        s2sad.emit(cube, str(tmp_path / "cube.py"))
    assert info.value.filename.endswith("test_standalone.py") and info.value.lineno


# every helper generated code may call (`_rt.<name>`): copied, with what it needs, into a namespace
HELPERS = sorted(
    name
    for name, value in vars(runtime).items()
    if not name.startswith("__") and not isinstance(value, types.ModuleType)
)
NEED_THE_COMPILER = {
    "_call_derivative",
    "register_compiler",
    "call_forward_sweep",
    "sweep_call",
    "call_jvp",
    "call_jvp_directions",
}


def test_helpers_are_found_in_the_rules():
    """The list checked below holds every `_rt.<name>` the compiler writes (templates, transforms)."""
    written = set()
    for path in (ROOT / "s2sad").rglob("*.py"):
        if (
            {"runtime", "numba"} & set(path.relative_to(ROOT).parts)
            or "numba" in path.name
            or path.name in ("standalone.py", "vendor.py")
        ):
            continue  # the run-time layer itself, the numba target's helpers, the copier
        written |= set(re.findall(r"_rt\.([A-Za-z_]\w*)\b(?!\{)", path.read_text()))
    written = {n for n in written if not n.endswith("_")}  # `_rt.matmul_adjoint_{side}` stems
    assert written and written <= set(HELPERS), written - set(HELPERS)


@pytest.mark.parametrize("name", HELPERS)
def test_every_runtime_helper_can_be_copied(name):
    if name in NEED_THE_COMPILER:
        with pytest.raises(NotStandaloneError):
            vendor([name])
        return
    section = vendor([name])
    namespace = {}
    exec(compile("\n".join(section.imports) + "\n" + section.code, "<copies>", "exec"), namespace)
    copy, original = namespace[section.names[name]], getattr(runtime, name)
    assert type(copy).__name__ == type(original).__name__
    if inspect.isfunction(original):
        assert list(inspect.signature(copy).parameters) == list(inspect.signature(original).parameters)


def test_copies_behave_as_the_originals():
    section = vendor(["unbroadcast", "unreduce", "matmul_adjoint_y", "copy_lists"])
    namespace = {}
    exec("\n".join(section.imports) + "\n" + section.code, namespace)
    g = np.arange(12.0).reshape(3, 4)
    like = np.ones((1, 4))
    np.testing.assert_array_equal(namespace["unbroadcast"](g, like), runtime.unbroadcast(g, like))
    x, y = np.ones((3, 2)), np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(namespace["matmul_adjoint_y"](g, x, y), runtime.matmul_adjoint_y(g, x, y))


def test_a_name_the_file_binds_is_renamed_in_the_copies():
    section = vendor(["unbroadcast"], taken={"unbroadcast", "_SCALARS"})
    assert section.names["unbroadcast"] != "unbroadcast"
    tree = ast.parse(section.code)
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "unbroadcast" not in defined and section.names["unbroadcast"] in defined
    namespace = {}
    exec("import numpy as np\n" + section.code, namespace)
    assert namespace[section.names["unbroadcast"]](np.ones((2, 3)), np.ones(3)).tolist() == [2.0, 2.0, 2.0]


def test_lecture_file_text(model):
    """The file of the lecture example reads as written by hand: imports, copies, the derivative."""
    folder, usermodel = model
    path = s2sad.emit(usermodel.lecture, str(folder / "lecture_file.py"), argnums=(0, 1))
    text = textwrap.dedent(Path(path).read_text())
    assert "def lecture_vjp(x1, x2, out_bar=1.0):" in text
    assert (
        text.index("import numpy as np")
        < text.index("# run-time helpers copied")
        < text.index("def lecture_vjp")
    )


HELPERS_MODULE = """
import numpy as np
from numpy import tanh as squash

GRAV = 9.81
TABLE = np.linspace(0.0, 1.0, 5)


def gravity(m):
    return m * GRAV


def soft(x, i):
    return squash(x) * TABLE[i]
"""

USES_HELPERS = """
import numpy as np

import forcefield as F
from forcefield import gravity, soft

K = 3


def energy(m, x):
    e = gravity(m) * x + soft(x, K)
    for i in range(K):
        e = e + np.sin(x * i) * F.TABLE[i]
    return e
"""


def test_names_read_by_inlined_helpers_are_imported_from_their_module(tmp_path, monkeypatch):
    (tmp_path / "forcefield.py").write_text(HELPERS_MODULE)
    (tmp_path / "usesforces.py").write_text(USES_HELPERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import usesforces

    path = s2sad.emit(usesforces.energy, str(tmp_path / "energy_grad.py"), argnums=(0, 1))
    text = Path(path).read_text()
    assert "import forcefield as F\n" in text and "from usesforces import K\n" in text
    assert "from forcefield import GRAV, TABLE\n" in text and "from numpy import tanh as squash\n" in text
    _check_text(text)
    code = (
        "import json, energy_grad\nprint(json.dumps([float(g) for g in energy_grad.energy_vjp(1.2, 0.3)[1]]))"
    )
    got = json.loads(run_without_s2sad(code, tmp_path))
    expected = s2sad.grad(usesforces.energy, argnums=(0, 1))(1.2, 0.3)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    for name in ("usesforces", "forcefield"):
        sys.modules.pop(name, None)


FAKE_CORE = """
import numpy as np

from ..pipeline import compile_derivative

try:
    FAST = True
except ImportError:
    FAST = False


def conditional(x):
    return np.sin(x) if FAST else x


def compiles(f):
    return compile_derivative(f)


def fine(x):
    return np.cos(x)
"""


def test_the_copier_refuses_what_it_cannot_copy(tmp_path, monkeypatch):
    """A helper reading a name bound under `try`, or reading the compiler, is refused, not copied
    into a file that would fail when it runs."""
    from s2sad.codegen import vendor as copier

    runtime_dir = tmp_path / "s2sad" / "runtime"
    runtime_dir.mkdir(parents=True)
    (runtime_dir / "__init__.py").write_text("from .core import *  # noqa\n")
    (runtime_dir / "core.py").write_text(FAKE_CORE)
    monkeypatch.setattr(copier, "PACKAGE", tmp_path / "s2sad")
    monkeypatch.setattr(copier, "_MODULES", {})
    assert "def fine(x):" in vendor(["fine"]).code
    with pytest.raises(NotStandaloneError, match="reads `FAST`, which is not a module-level definition"):
        vendor(["conditional"])
    with pytest.raises(NotStandaloneError, match="not part of the run-time layer"):
        vendor(["compiles"])


DEFAULTS = """\
import numpy as np


def fall(v0, c, T=1.5, steps=200, w=np.ones(2)):
    v, dt = v0, T / steps
    for _ in range(steps):
        v = v + dt * (9.81 - c * v * abs(v))
    return v * w[0]
"""


@pytest.mark.parametrize("mode", ["reverse", "grad"])
def test_literal_defaults_are_kept(tmp_path, mode):
    """A user calls the emitted function as they call theirs: literal defaults (`T=1.5`) stay; a
    computed one (`w=np.ones(2)`) and the ones before it stay required."""
    (tmp_path / "falling.py").write_text(DEFAULTS)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("falling")
        s2sad.emit(module.fall, tmp_path / "fall_grad.py", mode=mode, argnums=(0, 1))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("falling", None)
    text = (tmp_path / "fall_grad.py").read_text()
    assert "def fall_vjp(v0, c, T, steps, w, out_bar=1.0):" in text, text
    plain = (tmp_path / "falling.py").read_text().replace(", w=np.ones(2)", "")
    plain = plain.replace("w[0]", "1.0")
    (tmp_path / "falling2.py").write_text(plain.replace("def fall", "def fall2"))
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("falling2")
        s2sad.emit(module.fall2, tmp_path / "fall2_grad.py", mode=mode, argnums=(0, 1))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("falling2", None)
    text = (tmp_path / "fall2_grad.py").read_text()
    assert "def fall2_vjp(v0, c, T=1.5, steps=200, out_bar=1.0):" in text, text
    got = json.loads(
        run_without_s2sad(
            "import json, fall2_grad\nvalue, grads = fall2_grad.fall2_vjp(2.0, 0.3)\n"
            "print(json.dumps([float(g) for g in grads]))",
            tmp_path,
        )
    )
    np.testing.assert_allclose(got, np.ravel(_central(_fall, (2.0, 0.3), (0, 1))), rtol=1e-6)


def _fall(v0, c, T=1.5, steps=200):
    v, dt = v0, T / steps
    for _ in range(steps):
        v = v + dt * (9.81 - c * v * abs(v))
    return v
