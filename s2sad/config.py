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
