"""What a user sees when something fails (s2sad/api/boundary.py) and what s2sad logs.

- An s2sad error leaves the public API with the user's frames only (and the entry call): not the
  compiler's passes. `S2SAD_DEBUG=1` keeps every frame; `exc.s2sad_traceback` holds them anyway.
- An exception raised in generated code carries a note naming the generated line and the user's
  file, line and code; Python's default printer (a fresh process) shows it.
- A compilation slower than `config.SLOW` logs its stages on the "s2sad" logger; `S2SAD_LOG=info`
  prints them on stderr.
"""

import linecache
import logging
import os
import re
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import numpy as np
import pytest

import s2sad
from s2sad import config
from s2sad.api.boundary import origin_of

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = str(ROOT / "s2sad")


def run_script(tmp_path, text, **env):
    """Run `text` as a user's script in a fresh process; (return code, stdout, stderr)."""
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(text))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S2SAD_")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=environment, timeout=300
    )
    return done.returncode, done.stdout, done.stderr


BROKEN = """\
import numpy as np
import s2sad


def model(x):
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return y


print(s2sad.grad(model)(1.5))
"""


def frames(stderr):
    return re.findall(r'^  File "([^"]+)", line (\d+)', stderr, flags=re.M)


def test_a_compile_time_error_shows_the_users_frames_not_the_compilers(tmp_path):
    code, _, stderr = run_script(tmp_path, BROKEN)
    assert code == 1
    shown = frames(stderr)
    assert shown[0] == (str(tmp_path / "user_script.py"), "13"), stderr  # the user's call
    assert len(shown) <= 2, stderr  # the call, and at most the entry of s2sad's wrapper
    assert not any(f.startswith(PACKAGE) for f, _ in shown), stderr
    assert "user_script.py:6: `try` statements are not supported" in stderr  # the message: file:line, code
    assert "    try:" in stderr


def test_s2sad_debug_keeps_the_internal_frames(tmp_path):
    _, _, stderr = run_script(tmp_path, BROKEN, S2SAD_DEBUG="1")
    internal = [f for f, _ in frames(stderr) if f.startswith(PACKAGE)]
    assert len(internal) >= 5, stderr  # the api, the pipeline, the pass that refused


def trying(x):
    try:
        return x * 2.0
    except ValueError:
        return x


def test_the_full_traceback_stays_on_the_exception():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(trying)(1.0)
    shown = [frame.filename for frame in traceback.extract_tb(info.value.__traceback__)]
    assert not any(name.startswith(PACKAGE) for name in shown), shown
    kept = [frame.filename for frame in traceback.extract_tb(info.value.s2sad_traceback)]
    assert any(name.endswith(os.path.join("s2sad", "pipeline.py")) for name in kept), kept


SIMULATOR = """\
import numpy as np
import s2sad


def simulate(x, steps):
    state = x * 1.0
    for k in range(steps):
        state = state + 0.1 * np.sin(state)
    return state[5] * state[0]


print(s2sad.grad(simulate)(np.ones(3), 4))
"""


def test_an_error_in_generated_code_names_the_users_line_in_the_default_printer(tmp_path):
    code, _, stderr = run_script(tmp_path, SIMULATOR)
    assert code == 1
    assert "IndexError" in stderr
    # the note: the generated line and the user's file, line and code it differentiates
    assert (
        f"which differentiates {tmp_path / 'user_script.py'}:9: return state[5] * state[0]" in stderr
    ), stderr
    assert re.search(
        r"s2sad: raised in the derivative of `simulate` \(<s2sad \w+ simulate #\d+>, line \d+\): .*\[5\]",
        stderr,
    )
    assert not any(f.startswith(PACKAGE) for f, _ in frames(stderr)), stderr


def shifted(x):
    y = x + 1.0
    z = y[3]
    return z * y[0]


def test_the_generated_source_is_in_linecache_for_pythons_own_printer():
    with pytest.raises(IndexError) as info:
        s2sad.grad(shifted)(np.ones(2))
    text = "".join(traceback.format_exception(info.value))
    assert re.search(r'File "<s2sad \w+ shifted #\d+>", line \d+, in shifted_\w+\n +\w+ = y\[3\]', text), text
    assert f"{__file__}:{shifted.__code__.co_firstlineno + 2}: z = y[3]" in text, text
    assert len(info.value.__notes__) == 1  # noted once, however many boundaries it crossed


def ratio(a, b):
    return np.sum(a / b)


def test_a_shape_mismatch_in_forward_mode_is_noted_too():
    with pytest.raises(ValueError) as info:
        s2sad.jvp(ratio, (np.ones(3), np.ones(2)), (np.ones(3), np.ones(2)))
    (note,) = info.value.__notes__
    assert f"{__file__}:{ratio.__code__.co_firstlineno + 1}: return np.sum(a / b)" in note


def test_origin_of_maps_a_generated_line_to_the_users_line():
    s2sad.grad(ratio)(np.ones(2), np.ones(2))
    names = [n for n in linecache.cache if n.startswith("<s2sad ") and " ratio #" in n]
    lines = linecache.getlines(names[-1])
    division = next(
        i for i, line in enumerate(lines, 1) if "/ b" in line and not line.strip().startswith("#")
    )
    generated, filename, lineno, code = origin_of(names[-1], division)
    assert (filename, lineno, code) == (__file__, ratio.__code__.co_firstlineno + 1, "return np.sum(a / b)")
    assert origin_of("<not generated>", 1) is None


def long_loop(x):
    total = 0.0
    for k in range(3):
        total = total + np.sin(x * k)
    return total


def test_a_slow_compilation_logs_its_stages(caplog, monkeypatch):
    monkeypatch.setattr(config, "SLOW", 0.0)  # every compilation counts as slow
    s2sad.cache.clear()
    with caplog.at_level(logging.INFO, logger="s2sad"):
        s2sad.grad(long_loop)(0.3)
    messages = [r.getMessage() for r in caplog.records if r.name == "s2sad"]
    assert any("derivative of long_loop" in m and "inline took" in m for m in messages), messages
    assert any(
        m.startswith("compiled the grad derivative of long_loop") and "slowest:" in m for m in messages
    )


def test_a_fast_compilation_logs_nothing_at_info(caplog, monkeypatch):
    monkeypatch.setenv("S2SAD_CACHE", "off")  # generated each time, not read from the disk cache
    s2sad.cache.clear()
    with caplog.at_level(logging.INFO, logger="s2sad"):
        s2sad.grad(long_loop)(0.4)
    assert not [r for r in caplog.records if r.name == "s2sad"]
    with caplog.at_level(logging.DEBUG, logger="s2sad"):
        s2sad.cache.clear()
        s2sad.grad(long_loop)(0.4)
    assert any("differentiate took" in r.getMessage() for r in caplog.records)


def test_logging_is_silent_by_default_and_s2sad_log_turns_it_on(tmp_path):
    script = """\
    import numpy as np
    import s2sad

    s2sad.config.SLOW = 0.0

    def f(x):
        return np.sum(np.tanh(x) ** 2)

    s2sad.grad(f)(np.ones(3))
    """
    _, _, quiet = run_script(tmp_path, script)
    assert "s2sad:" not in quiet, quiet
    _, _, logged = run_script(tmp_path, script, S2SAD_LOG="info", S2SAD_CACHE="off")  # (generated again)
    assert re.search(
        r"^s2sad: compiled the \w+ derivative of f \(.*user_script.py:6\) in [\d.]+ s", logged, re.M
    ), logged
    assert "s2sad: " in logged and "peepholes took" in logged
