"""`s2sad check FILE.py[:func]`: the static differentiability report (s2sad/cli/check.py,
s2sad/api/check.py, s2sad/frontend/static.py, the check mode of s2sad/pipeline.py).

The command runs in a subprocess, as a user runs it. The agreement test holds the report to the
compiler: for every function of a corpus, `check` flags it exactly when `s2sad.grad` refuses it, and
lists the line `grad` names."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.api.check import check_file, take_out
from test_random_programs import HEADER, programs

ROOT = Path(__file__).resolve().parents[1]


def run_check(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "s2sad", "check", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    return done.returncode, done.stdout, done.stderr


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


FOUR = """\
import numpy as np
import scipy.special


def simulate(x0, k, n_steps):
    global calls
    x = x0
    for i in range(n_steps):
        try:
            x = x + 0.1 * np.tanh(k * x)
        except FloatingPointError:
            x = x0
        x = scipy.special.erfcx(x)
    a = np.array([x, 2.0 * x])
    a.sort()
    return a[0] + a[1]
"""


def test_four_constructs_listed_with_their_lines(tmp_path):
    write(tmp_path, "model.py", FOUR)
    code, out, err = run_check("model.py:simulate", cwd=tmp_path)
    assert code == 1, out + err
    errors = [line for line in out.splitlines() if ": error: " in line]
    assert [e.split(": error: ")[0] for e in errors] == [
        "model.py:6:5",
        "model.py:9:9",
        "model.py:13:9",
        "model.py:15:5",
    ], out
    assert "`global` declarations are not supported" in errors[0]
    assert "`try` statements are not supported" in errors[1]
    assert "no derivative rule for `scipy.special.erfcx`" in errors[2]
    assert "`a.sort(...)` sorts `a` in place" in errors[3]
    assert "    x = scipy.special.erfcx(x)" in out  # the user's line under the message
    assert out.count("  hint: ") == 4
    assert out.splitlines()[-1] == "4 problems in 1 function (of 1 checked)"


def test_clean_file_exits_zero(tmp_path):
    write(
        tmp_path,
        "clean.py",
        """\
        import math
        import numpy as np


        def loss(w, x, steps=3):
            total = 0.0
            for i in range(steps):
                total = total + np.sum(np.tanh(w * x)) * math.exp(-i)
            return total
        """,
    )
    code, out, err = run_check("clean.py", cwd=tmp_path)
    assert (code, err) == (0, ""), out + err
    assert out.strip() == "no problems: s2sad can differentiate loss(wrt w, x)"


def test_helpers_in_the_file_and_a_local_module_are_followed(tmp_path):
    write(
        tmp_path,
        "physics.py",
        """\
        import numpy as np


        def drag(v, c):
            out = [v, c * v]
            out.insert(0, v)
            return out[0] * c
        """,
    )
    write(
        tmp_path,
        "model.py",
        """\
        import numpy as np
        from physics import drag
        import physics as ph


        def smooth(v):
            with np.errstate(over="ignore"):
                w = np.exp(v)
            return w


        def step(x, c):
            y = smooth(x) + drag(x, c)
            return y + ph.drag(y, c)
        """,
    )
    code, out, err = run_check("model.py:step", cwd=tmp_path)
    assert code == 1, out + err
    errors = [line.split(": error: ")[0] for line in out.splitlines() if ": error: " in line]
    assert errors == ["model.py:7:5", "physics.py:6:5"], out  # the helper's line, once
    assert "the list method `insert` is not supported" in out
    assert "`with` statements are not supported" in out


def test_the_file_is_not_run(tmp_path):
    marker = tmp_path / "ran.txt"
    write(
        tmp_path,
        "helpers.py",
        f"""\
        open({str(marker)!r}, "w").write("helpers ran")


        def double(u):
            return 2.0 * u
        """,
    )
    write(
        tmp_path,
        "script.py",
        f"""\
        import numpy as np
        import helpers

        print("the script ran")
        open({str(marker)!r}, "w").write("script ran")
        W = np.ones(3) * 0.5


        def f(x, scale=2.0):
            return helpers.double(np.sum(W * x)) * scale


        raise SystemExit(3)
        """,
    )
    code, out, err = run_check("script.py", cwd=tmp_path)
    assert code == 0, out + err
    assert "the script ran" not in out and not marker.exists()
    assert "f(wrt x, scale)" in out


def test_usage_errors_exit_two(tmp_path):
    write(tmp_path, "model.py", "def f(x):\n    return x\n")
    assert run_check("missing.py", cwd=tmp_path)[0] == 2
    code, _, err = run_check("model.py:nope", cwd=tmp_path)
    assert code == 2 and "no top-level function `nope` (functions: f)" in err
    code, _, err = run_check("model.py:f", "--wrt", "y", cwd=tmp_path)
    assert code == 2 and "`f` has no parameter y" in err
    code, out, _ = run_check("--help", cwd=tmp_path)
    assert code == 0 and "check" in out


def test_json_report_and_wrt(tmp_path):
    write(
        tmp_path,
        "model.py",
        """\
        import math


        def f(x, a):
            return math.gamma(a) * x


        def apply(g, x):
            return g(x)
        """,
    )
    code, out, _ = run_check("model.py:apply", "--format", "json", cwd=tmp_path)
    assert code == 0 and json.loads(out)["functions"][0]["assumed"]["g"] == [
        "function",
        "a function (it is called)",
    ]
    code, out, _ = run_check("model.py:f", "--format", "json", cwd=tmp_path)
    assert code == 1
    (function,) = json.loads(out)["functions"]
    assert function["wrt"] == ["x", "a"]
    assert function["assumed"] == {"x": ["any", "a float or an array"], "a": ["any", "a float or an array"]}
    assert [(p["line"], p["kind"]) for p in function["problems"]] == [(5, "NoDerivativeRuleError")]
    # `a` not differentiated: math.gamma(a) is a constant, which needs no rule
    code, out, _ = run_check("model.py:f", "--wrt", "x", cwd=tmp_path)
    assert code == 0, out


def test_integer_parameters_are_not_differentiated(tmp_path):
    path = write(
        tmp_path,
        "model.py",
        """\
        import math
        import numpy as np


        def f(x, n, m: int, k=4):
            a = np.zeros(n)
            s = math.factorial(m) + math.factorial(k)
            for i in range(n):
                a[i] = x * i
            return np.sum(a) * s
        """,
    )
    (report,) = check_file(path)
    assert report.wrt == ["x"] and report.problems == []
    assert report.assumed["n"][0] == "int" and report.assumed["m"][1] == "annotated `int`"


def test_take_out_keeps_lines_and_bodies():
    text = "def f(x):\n    try:\n        y = x\n    except E:\n        y = 0.0\n    finally:\n        z = 1\n    return y\n"
    out = take_out(text, 2)
    assert out.splitlines() == [
        "def f(x):",
        "    if 1:",
        "        y = x",
        "    if 0:",
        "        y = 0.0",
        "    if 1:",
        "        z = 1",
        "    return y",
    ]
    assert take_out("def f(x):\n    a, b = g(\n        x)\n    return a\n", 2).splitlines() == [
        "def f(x):",
        "    a = b = 0.0",
        "",
        "    return a",
    ]
    assert take_out("def f(x):\n    return x\n", 1) is None  # the function itself: nothing to take out


# -- agreement: `check` flags a function iff `s2sad.grad` refuses it, at the line grad names -------

CORPUS = """\
import math
import numpy as np
import scipy.special


def square(u):
    return u * u


def with_try(u):
    try:
        v = np.sqrt(u)
    except FloatingPointError:
        v = u
    return v


def poly(x):
    return x ** 3 + 2.0 * x


def loop(x, n=5):
    s = 0.0
    for i in range(n):
        s = s + math.sin(x * i)
    return s


def arrays(w):
    a = np.zeros(3)
    for i in range(3):
        a[i] = w[i] * w[i]
    return np.sum(np.tanh(a) * w)


def lists(x):
    xs = []
    for i in range(4):
        xs.append(x * i)
    return xs.pop() + xs[0]


def helper_ok(x):
    return square(x) + square(2.0 * x)


def constant_library_call(x):
    c = scipy.special.gamma(3.5)
    return c * x


def shape_use(w):
    n = w.shape[0]
    out = np.ones(n)
    out[0] = w[0] * 2.0
    return np.sum(out * w)


def while_loop(x):
    while x < 10.0:
        x = x * 2.0
    return x


def try_except(x):
    try:
        y = math.log(x)
    except ValueError:
        y = 0.0
    return y


def global_write(x):
    global COUNT
    COUNT = 1
    return x * 2.0


def generator(x):
    for i in range(3):
        yield x * i


def library_no_rule(x):
    y = 2.0 * x
    return scipy.special.erfcx(y)


def sort_in_place(x):
    a = np.array([x, 2.0 * x, -x])
    a.sort()
    return a[0]


def view_write(x):
    a = np.ones(4) * x
    v = a[1:3]
    v[0] = x * x
    return np.sum(a) + np.sum(v)


def local_class(x):
    class Box:
        pass
    return x


def with_block(x):
    with np.errstate(all="ignore"):
        y = np.log(x)
    return y


def helper_broken(x):
    y = with_try(x) * 2.0
    return y


def list_insert(x):
    xs = [x, 2.0 * x]
    xs.insert(0, x)
    return xs[0]


def delete(x):
    y = x * 2.0
    del y
    return x


def run_time_key(x):
    d = {"a": x, "b": 2.0 * x}
    key = "a" if x > 0.0 else "b"
    return d[key]


def object_method(x):
    y = x.conjugate_twice()
    return y
"""

ARGS = {  # the arguments `grad` is called with (every one differentiated)
    "square": (1.5,),
    "with_try": (2.0,),
    "poly": (0.7,),
    "loop": (0.3,),
    "arrays": (np.array([0.1, 0.2, 0.3]),),
    "lists": (0.4,),
    "helper_ok": (1.2,),
    "constant_library_call": (0.5,),
    "shape_use": (np.array([1.0, 2.0]),),
    "while_loop": (1.5,),
    "try_except": (2.0,),
    "global_write": (1.0,),
    "generator": (1.0,),
    "library_no_rule": (0.5,),
    "sort_in_place": (0.5,),
    "view_write": (0.5,),
    "local_class": (1.0,),
    "with_block": (2.0,),
    "helper_broken": (2.0,),
    "list_insert": (1.0,),
    "delete": (1.0,),
    "run_time_key": (1.0,),
    "object_method": (1.0,),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus_functions.py"
    path.write_text(CORPUS)
    spec = importlib.util.spec_from_file_location("corpus_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the test runs the functions; `check` never does
    return path, module


@pytest.mark.parametrize("name", sorted(ARGS))
def test_check_agrees_with_grad(corpus, name):
    path, module = corpus
    args = ARGS[name]
    try:
        s2sad.grad(getattr(module, name), argnums=tuple(range(len(args))))(*args)
        refused = None
    except s2sad.S2sadError as error:
        refused = error
    (report,) = check_file(path, name)
    flagged = [(Path(p.filename).name, p.line) for p in report.problems]
    if refused is None:
        assert flagged == [] and report.stopped is None, (flagged, report.stopped)
    else:
        assert (Path(refused.filename).name, refused.lineno) in flagged, (str(refused), flagged)


def test_corpus_has_both_kinds(corpus):
    """The agreement test means something: the corpus has functions grad refuses and ones it takes."""
    path, _ = corpus
    flagged = {r.name for r in check_file(path) if r.problems}
    assert len(flagged) >= 12 and len(ARGS) - len(flagged & set(ARGS)) >= 9, flagged


def test_docs_sample_report_is_the_real_one(tmp_path):
    """docs/supported.md shows a file and its report: the check of that file prints that report."""
    page = (ROOT / "docs" / "supported.md").read_text()
    section = page[page.index("<!-- check-sample") :]
    source = section.split("```python\n", 1)[1].split("```", 1)[0]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    (tmp_path / "simulator.py").write_text(source)
    code, out, err = run_check("simulator.py:simulate", cwd=tmp_path)
    assert code == 1 and out == shown, out + err


def test_rules_registered_in_the_file_count(tmp_path):
    write(
        tmp_path,
        "ruled.py",
        """\
        import functools
        import numpy as np
        import scipy.special
        import s2sad


        @s2sad.custom_vjp
        def clip_gradient(x):
            try:
                return x
            except Exception:
                return x


        def clip_gradient_fwd(x):
            return x, None


        def clip_gradient_bwd(residuals, g):
            return (np.clip(g, -1.0, 1.0),)


        clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)


        @s2sad.defvjp(scipy.special.erfcx)
        def erfcx_bwd(primals, g):
            (x,) = primals
            return (g * (2.0 * x * scipy.special.erfcx(x) - 2.0 / np.sqrt(np.pi)),)


        @functools.partial(s2sad.custom_vjp, nondiff_argnums=(1,))
        def scaled(x, k):
            return k * x


        def loss(x):
            return clip_gradient(x) + scipy.special.erfcx(x) + scaled(x, 2)
        """,
    )
    code, out, _ = run_check("ruled.py:loss", cwd=tmp_path)
    assert code == 1
    errors = [line for line in out.splitlines() if ": error: " in line]
    # the body of clip_gradient (a `try`) is never looked at: its rule is; erfcx has a rule from the file
    assert errors == ["ruled.py:38:5: error: custom_vjp function `scaled` has no derivative rule"], out


def test_without_func_the_functions_given_to_s2sad_are_checked(tmp_path):
    path = write(
        tmp_path,
        "train.py",
        """\
        import numpy as np
        import scipy.special
        import s2sad


        def loss(w, b, x, y):
            p = scipy.special.expit(x @ w + b)
            return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


        @s2sad.grad
        def energy(q, k):
            return 0.5 * k * np.sum(q * q)


        def main():
            value_and_grad = s2sad.value_and_grad(loss, argnums=(0, 1))
            with open("log.txt", "w") as log:
                print(f"{value_and_grad(np.zeros(2), 0.0, np.ones((3, 2)), np.ones(3))}", file=log)
        """,
    )
    reports = check_file(path)
    assert [(r.name, r.wrt, r.where) for r in reports] == [
        ("loss", ["w", "b"], "value_and_grad at line 17"),
        ("energy", ["q"], "grad at line 11"),
    ]
    (problem,) = [p for r in reports for p in r.problems]  # main's `with` and f-string are not checked
    assert (problem.line, problem.message) == (7, "no derivative rule for `scipy.special.expit`")
    # x and y are not differentiated: a library call on them alone is a constant
    assert check_file(path, "loss", wrt=["x"])[0].problems[0].line == 7
    assert check_file(path, "loss", wrt=["y"])[0].problems == []


def test_objects_of_the_module_and_values_it_computes(tmp_path):
    """Classes of the file are known from their source (a method of a module-level object is inlined,
    as the compiler does); a function the module computes when it runs is a note, not an error."""
    write(
        tmp_path,
        "objects.py",
        """\
        import numpy as np


        def make_scaler(c):
            def scale(u):
                return c * u
            return scale


        scaler = make_scaler(3.0)


        class Model:
            def forward(self, x):
                return np.tanh(x)


        model = Model()


        def loss(x):
            y = scaler(x)
            z = model.forward(y)
            return z
        """,
    )
    code, out, _ = run_check("objects.py:loss", cwd=tmp_path)
    assert code == 0, out  # `model.forward(y)` on a module-level object: grad inlines Model.forward
    lines = [line for line in out.splitlines() if ": note: " in line or ": error: " in line]
    assert lines[0].startswith("objects.py:22:5: note: `scaler` is computed when the module runs"), out
    assert not any(": error: " in line for line in lines), out
    assert out.splitlines()[-1] == (
        "no problems: s2sad can differentiate loss(wrt x); 1 call not checked (see the notes)"
    ), out


def test_a_file_that_is_not_python_is_a_usage_error(tmp_path):
    write(tmp_path, "broken.py", "def f(x):\n    return x +\n")
    code, _, err = run_check("broken.py", cwd=tmp_path)
    assert code == 2 and "broken.py:2: the file is not valid Python" in err


# -- agreement on generated programs: the random programs of test_random_programs.py, as they are
# (s2sad differentiates them) and with one refused construct put among their statements ------------

INJECTED = [
    ["global G"],
    ["x = scipy.special.erfcx(x)"],
    ["try:", "    x = x * 1.0", "except ValueError:", "    pass"],
    ["with np.errstate():", "    y = y * 1.0"],
    ["xs = [x, y]", "xs.sort()", "x = xs[0]"],
    ["d = {'p': x}", "k = 'p' if n > 1 else 'q'", "x = d[k]"],
    ["x = a.tobytes()"],
    ["del n"],
]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_check_agrees_with_grad_on_generated_programs(tmp_path_factory, data):
    program = data.draw(programs("everything"), label="program")
    lines = program.source.splitlines()
    if data.draw(st.booleans(), label="inject"):
        tops = [i for i, line in enumerate(lines) if i and re.match(r"    (?!else|elif|\s)", line)]
        at = data.draw(st.sampled_from(tops), label="at")
        lines[at:at] = ["    " + line for line in data.draw(st.sampled_from(INJECTED), label="construct")]
    header = "import scipy.special\n" + HEADER
    path = tmp_path_factory.mktemp("generated") / "program.py"
    path.write_text(header + "\n".join(lines) + "\n")
    (report,) = check_file(path, "f", wrt=["x", "y", "a"])
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    try:
        s2sad.grad(namespace["f"], argnums=(0, 1, 2))(0.3, 0.7, np.linspace(0.1, 0.5, program.L), 2)
        refused = None
    except s2sad.S2sadError as error:
        refused = error
    flagged = [p.line for p in report.errors]
    if refused is None:
        assert flagged == [] and report.stopped is None, (flagged, report.stopped)
    else:
        assert refused.lineno in flagged, (str(refused), flagged)


def test_a_helper_the_check_cannot_go_into_does_not_hide_the_rest(tmp_path):
    """A helper whose problem stops the compiler (a generator: nothing is left to differentiate once its
    `yield` is out) has its call taken out of the caller, so the caller's later problems are found."""
    path = write(
        tmp_path,
        "late.py",
        """\
        import numpy as np
        import scipy.special


        def pairs(x):
            yield x
            yield 2.0 * x


        def loss(x):
            global CALLS
            CALLS = 1
            u = sum(pairs(x))
            v = scipy.special.erfcx(x)
            return u * v
        """,
    )
    (report,) = check_file(path, "loss")
    lines = {p.line for p in report.problems}
    assert {6, 11, 14} <= lines <= {6, 7, 11, 14}, report.problems  # yields, `global`, erfcx
    assert report.stopped is None


def test_helpers_that_return_nothing_are_not_checked_as_differentiated(tmp_path):
    path = write(
        tmp_path,
        "helpers.py",
        """\
        import numpy as np


        def show(x):
            print(x)


        def loss(x):
            return np.sin(x) ** 2


        def nothing(x):
            y = x * 2.0
        """,
    )
    assert [r.name for r in check_file(path)] == ["loss"]
    (report,) = check_file(path, "nothing")
    assert [p.line for p in report.problems] == [12] and "returns nothing" in report.problems[0].message
