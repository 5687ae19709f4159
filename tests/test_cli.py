"""The command line (s2sad/cli/): every command run in a subprocess, as `python -m s2sad` and through
the console script's entry point; its help, its errors (one message, exit code 2 or 1, no traceback),
and the file `emit` writes, run in a fresh process where s2sad cannot be imported."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import s2sad
import s2sad.config
from s2sad.cli import show
from s2sad.testing import run_without_s2sad

ROOT = Path(__file__).resolve().parents[1]

LECTURE = """import numpy as np


def f(x1, x2):
    v = x1 / x2
    return (np.sin(v) + v - np.exp(x2)) * (v - np.exp(x2))
"""

SIMULATOR = """import math

import numpy as np

DT = 0.01
G = 9.81
W0 = np.array([0.1, 0.2, 0.3])


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
    loss = np.sum((y - 0.5) ** 2)
    return loss
"""

UNSUPPORTED = """import numpy as np


def f(x):
    y = x * 2.0
    yield y
"""

CRASHES = """import numpy as np

SCALE = 1 / 0


def f(x):
    return x * SCALE
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "lecture.py").write_text(LECTURE)
    (tmp_path / "sim.py").write_text(SIMULATOR)
    (tmp_path / "unsupported.py").write_text(UNSUPPORTED)
    (tmp_path / "crashes.py").write_text(CRASHES)
    (tmp_path / "code.py").write_text(LECTURE)  # the name of a standard-library module
    return tmp_path


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("NO_COLOR", None)
    return env


def s2sad_cli(folder, *argv, entry=False):
    """Run the command line in `folder`: `python -m s2sad ARGV` (or the console script's entry point)."""
    if entry:
        command = [
            sys.executable,
            "-c",
            f"import sys; from s2sad.cli import main; sys.exit(main({list(argv)!r}))",
        ]
    else:
        command = [sys.executable, "-m", "s2sad", *argv]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, env=_env(), timeout=120)


@pytest.mark.parametrize("entry", [False, True], ids=["python -m s2sad", "console script"])
def test_show_prints_the_derivative(folder, entry):
    done = s2sad_cli(folder, "show", "lecture.py:f", "--wrt", "x1,x2", entry=entry)
    assert done.returncode == 0, done.stderr
    assert "def f_vjp(x1, x2, out_bar=1.0):" in done.stdout
    assert "# lecture.py:5: v = x1 / x2" in done.stdout
    assert "\x1b[" not in done.stdout  # piped: no colours


@pytest.mark.parametrize(
    "mode, functions",
    [
        ("reverse", ["def fit_vjp(w, data, loss_bar=1.0):"]),
        ("grad", ["(w, data, loss_bar=1.0):"]),  # f_vjp: a sum is not known to be a float
        ("vjp", ["def fit_forward(w, data):", "def fit_backward(_residuals, loss_bar):"]),
        ("forward", ["def fit_jvp(w, data, w_dot):"]),
        ("jvp", ["def fit_jvp(w, data, w_dot):"]),
    ],
)
def test_show_modes_and_example_arguments(folder, mode, functions):
    done = s2sad_cli(folder, "show", "sim.py:fit", "--mode", mode, "--args-example", "W0", "np.ones((4, 3))")
    assert done.returncode == 0, done.stderr
    for line in functions:
        assert line in done.stdout, done.stdout
    if s2sad.config.enabled() and mode not in ("forward", "jvp"):  # (shapes are an analysis)
        assert "specialized for w: array (3,), data: array (4, 3)" in done.stdout


def test_show_without_example_arguments_is_shape_generic(folder):
    done = s2sad_cli(folder, "show", "sim.py:fit")
    assert "specialized for w: any, data: any" in done.stdout


def test_show_colours_on_request_and_respects_no_color(folder, monkeypatch):
    done = s2sad_cli(folder, "show", "lecture.py:f", "--color", "always")
    assert (
        done.returncode == 0
        and "\x1b[1;34mdef\x1b[0m" in done.stdout
        and "\x1b[35mx1_bar\x1b[0m" in done.stdout
    )

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert show._coloured("auto", Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not show._coloured("auto", Terminal())
    assert show._coloured("always", Terminal()) and not show._coloured("never", Terminal())


def test_colouring_keeps_the_text():
    text = 'def f(x, y_bar=1.0):\n    # c\n    return "s", 2.5\n'
    coloured = show.colour(text)
    assert coloured != text
    for code in ("\x1b[0m", "\x1b[1;34m", "\x1b[35m", "\x1b[36m", "\x1b[32m", "\x1b[2m"):
        coloured = coloured.replace(code, "")
    assert coloured == text


@pytest.mark.parametrize("entry", [False, True], ids=["python -m s2sad", "console script"])
def test_emit_writes_a_file_that_runs_without_s2sad(folder, entry):
    done = s2sad_cli(folder, "emit", "sim.py:fall", "--wrt", "v0,c", "-o", "fall_grad.py", entry=entry)
    assert done.returncode == 0, done.stderr
    text = (folder / "fall_grad.py").read_text()
    assert "from sim import DT, G\n" in text
    code = "import json, fall_grad\nprint(json.dumps([float(g) for g in fall_grad.fall_vjp(0.3, 0.05)[1]]))"
    got = np.array(json.loads(run_without_s2sad(code, folder)))
    sys.path.insert(0, str(folder))
    try:
        import sim
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("sim", None)
    expected = np.array(s2sad.grad(sim.fall, argnums=(0, 1))(0.3, 0.05))
    h = 1e-6
    central = np.array(
        [
            (sim.fall(0.3 + h, 0.05) - sim.fall(0.3 - h, 0.05)) / (2 * h),
            (sim.fall(0.3, 0.05 + h) - sim.fall(0.3, 0.05 - h)) / (2 * h),
        ]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got, central, rtol=1e-5)


def test_emit_modes(folder):
    for mode, name in [("vjp", "def f_backward"), ("jvp", "def f_jvp"), ("grad", "def f_grad")]:
        done = s2sad_cli(
            folder, "emit", "lecture.py:f", "--mode", mode, "--args-example", "1.5", "0.5", "-o", "o.py"
        )
        assert done.returncode == 0, done.stderr
        assert name in (folder / "o.py").read_text()


@pytest.mark.parametrize("argv", [[], ["show"], ["emit"]])
def test_help_everywhere(folder, argv):
    done = s2sad_cli(folder, *argv, "--help")
    assert done.returncode == 0
    assert "examples:" in done.stdout and "usage: s2sad" in done.stdout


def test_version_and_no_command(folder):
    done = s2sad_cli(folder, "--version")
    assert done.returncode == 0 and done.stdout.startswith("s2sad ")
    done = s2sad_cli(folder)
    assert done.returncode == 2 and "usage: s2sad" in done.stderr


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["show", "missing.py:f"], 2, "missing.py: no such file"),
        (["show", "lecture.py:g"], 2, "lecture.py: no function `g` (its functions: f)"),
        (["show", "lecture.py"], 2, "'lecture.py' is not FILE.py:func"),
        (["show", "lecture.py:f", "--wrt", "x3"], 2, "`x3` is not a parameter of f(x1, x2)"),
        (["show", "lecture.py:f", "--args-example", "np.oness(2)", "1.0"], 2, "--args-example 'np.oness(2)'"),
        (["show", "lecture.py:f", "--args-example", "1.0"], 2, "gives 1 values; f takes 2 arguments"),
        (["show", "lecture.py:f", "--mode", "sideways"], 2, "invalid choice: 'sideways'"),
        (["emit", "lecture.py:f"], 2, "the following arguments are required: -o/--output"),
        (["emit", "lecture.py:f", "-o", "out.txt"], 2, "the output must be a .py file"),
        (["show", "unsupported.py:f"], 1, "unsupported.py:6: f is a generator"),
        (["emit", "unsupported.py:f", "-o", "o.py"], 1, "unsupported.py:6: f is a generator"),
        (["show", "crashes.py:f"], 1, "crashes.py:3: running the file raised ZeroDivisionError"),
        (["show", "code.py:f"], 2, "the module name `code` is taken by the standard library"),
        (
            ["show", "lecture.py:f", "--args-example", "'text'", "0.5"],
            1,
            "lecture.py:4: ",
        ),  # a string argument
    ],
)
def test_errors_are_one_message_and_an_exit_code(folder, argv, code, message):
    done = s2sad_cli(folder, *argv)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout
    first = done.stderr.splitlines()[0] if code == 1 else done.stderr.splitlines()[-1]
    assert message in first  # the message, with its file:line, is one line (code and hint may follow)


def test_console_script_is_declared():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["s2sad"].partition(":")
    assert (module, function) == ("s2sad.cli", "main")
    assert s2sad.cli.main(["--version"]) == 0


def test_a_file_in_a_package_is_imported_by_its_dotted_name(folder):
    package = folder / "shop" / "models"
    package.mkdir(parents=True)
    (folder / "shop" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "consts.py").write_text("SCALE = 2.5\n")
    (package / "price.py").write_text(
        "import numpy as np\n\nfrom .consts import SCALE\n\n\ndef f(x):\n    return np.sum(np.sin(x) * SCALE)\n"
    )
    done = s2sad_cli(folder, "emit", "shop/models/price.py:f", "-o", "price_grad.py")
    assert done.returncode == 0, done.stderr
    assert "from shop.models.price import SCALE\n" in (folder / "price_grad.py").read_text()
    code = "import numpy as np, price_grad\nprint(list(price_grad.f_vjp(np.array([0.1, 0.2]))[1][0]))"
    got = eval(run_without_s2sad(code, folder))
    np.testing.assert_allclose(got, 2.5 * np.cos([0.1, 0.2]), rtol=1e-12)
