"""Compiler switches.

`ANALYSES` turns the optimizing analyses on or off: activity's *useful* half
(adjoint liveness), to-be-recorded (push only what the backward sweep reads and
is overwritten), recomputation instead of pushes, loop tapes, and the
simplification passes on generated code. Off, every overwritten value is pushed
and no generated code is simplified: the derivatives must be the same, only
slower. The environment variable `S2SAD_ANALYSES=off` switches them off for a
whole run (the test suite runs once that way too).

>>> with analyses(False):
...     enabled()
False
>>> with analyses(True):
...     enabled()
True
"""

import contextlib
import os

_STATE = {
    "analyses": os.environ.get("S2SAD_ANALYSES", "on").lower() not in ("off", "0", "false"),
    "portable": False,
}


def enabled():
    """Are the optimizing analyses on?"""
    return _STATE["analyses"]


@contextlib.contextmanager
def analyses(on):
    """Run a block with the analyses switched on or off (compiled code is cached per setting)."""
    previous = _STATE["analyses"]
    _STATE["analyses"] = bool(on)
    try:
        yield
    finally:
        _STATE["analyses"] = previous


def portable():
    """Is the code being generated to be differentiated again (`s2sad.nested`)? Then loops push
    on the one stack (no tapes) and no pass writes forms only the run time understands."""
    return _STATE["portable"]


@contextlib.contextmanager
def portable_code():
    """Generate code that s2sad can differentiate again, inside this block."""
    previous = _STATE["portable"]
    _STATE["portable"] = True
    try:
        yield
    finally:
        _STATE["portable"] = previous
