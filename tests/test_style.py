"""The code is formatted by black (line length 110, from pyproject.toml): the check runs with the tests."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_black_would_change_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", "s2sad", "tests", "benchmarks", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, "run `black s2sad tests benchmarks examples`:\n" + result.stderr
