"""Every script in examples/ runs in its quick mode and passes its own gradient check.

Each example prints one line `gradient check (...): max relative error E` comparing the
s2sad gradient with central differences; the test reads E. Pictures go to a temporary
folder (S2SAD_IMAGES), never into the repository.
"""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
CHECK = re.compile(r"^gradient check \(central differences, [^)]*\): max relative error (\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def run_example(tmp_path_factory):
    """Runs an example once per test module (quick mode, pictures in a temporary folder)."""
    results = {}

    def run(name):
        if name not in results:
            results[name] = quick_run(name, tmp_path_factory.mktemp(name[:-3]))
        return results[name]

    return run


def quick_run(name, tmp_path):
    env = dict(os.environ, S2SAD_QUICK="1", S2SAD_IMAGES=str(tmp_path), MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result.folder = tmp_path
    return result


def test_every_example_is_tested():
    assert len(EXAMPLES) >= 10 and "lecture_example.py" in EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_checks_its_gradient(name, run_example):
    result = run_example(name)
    assert result.returncode == 0, result.stderr[-3000:]
    checks = CHECK.findall(result.stdout)
    assert len(checks) == 1, result.stdout[-3000:]
    assert float(checks[0]) < 1e-6, checks[0]
    assert "Traceback" not in result.stderr
    if name != "lecture_example.py":
        picture = result.folder / name.replace(".py", ".png")
        assert picture.exists() and picture.stat().st_size > 10_000


def lecture_trace(x1, x2, nudge=None):
    """The lecture's intermediates, each optionally nudged: the adjoint of v_i is df/d(nudge_i)."""
    nudge = nudge or {}
    v = {"x1": x1 + nudge.get("x1", 0.0), "x2": x2 + nudge.get("x2", 0.0)}
    v["v1"] = v["x1"] / v["x2"] + nudge.get("v1", 0.0)
    v["v2"] = np.sin(v["v1"]) + nudge.get("v2", 0.0)
    v["v3"] = np.exp(v["x2"]) + nudge.get("v3", 0.0)
    v["v4"] = v["v1"] - v["v3"] + nudge.get("v4", 0.0)
    v["v5"] = v["v2"] + v["v4"] + nudge.get("v5", 0.0)
    v["v6"] = v["v5"] * v["v4"] + nudge.get("v6", 0.0)
    return v


def test_lecture_example_tables(run_example):
    """Every intermediate is listed with its tangent and its adjoint, both as finite differences say."""
    out = run_example("lecture_example.py").stdout
    assert "df/dx1 = 3.012, df/dx2 = -13.724" in out
    forward = re.findall(r"^\s+(v\d|x\d)\s.*?\s(-?\d+\.\d{4})\s+(-?\d+\.\d{4})$", out, re.MULTILINE)
    reverse = re.findall(r"^\s+(v\d|x\d)\s+(-?\d+\.\d{4})$", out, re.MULTILINE)
    names = ["x1", "x2", "v1", "v2", "v3", "v4", "v5", "v6"]
    assert sorted(name for name, _, _ in forward) == sorted(names)
    assert sorted(name for name, _ in reverse) == sorted(names)
    h = 1e-6
    plus, minus = lecture_trace(1.5 + h, 0.5), lecture_trace(1.5 - h, 0.5)
    for name, value, tangent in forward:
        assert abs(float(value) - lecture_trace(1.5, 0.5)[name]) < 1e-4, name
        assert abs(float(tangent) - (plus[name] - minus[name]) / (2 * h)) < 1e-4, name
    for name, adjoint in reverse:
        up, down = lecture_trace(1.5, 0.5, {name: h})["v6"], lecture_trace(1.5, 0.5, {name: -h})["v6"]
        assert abs(float(adjoint) - (up - down) / (2 * h)) < 1e-4, name
