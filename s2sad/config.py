"""Compiler switches.

`ANALYSES` turns the optimizing analyses on or off: activity's *useful* half
(adjoint liveness), to-be-recorded (push only what the backward sweep reads and
is overwritten), recomputation instead of pushes, loop tapes, and the
simplification passes on generated code. Off, every overwritten value is pushed
and no generated code is simplified: the derivatives must be the same, only
slower. The environment variable `S2SAD_ANALYSES=off` switches them off for a
whole run (the test suite runs once that way too).

s2sad logs through `logging.getLogger("s2sad")`, silent by default (a `NullHandler`): a
compilation slower than `SLOW` seconds logs its stages at INFO, every compilation at DEBUG. The
environment variable `S2SAD_LOG=info` (or `debug`) prints them on stderr.

>>> with analyses(False):
...     enabled()
False
>>> with analyses(True):
...     enabled()
True
"""

import contextlib
import logging
import os
import sys

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


LOG = logging.getLogger("s2sad")
SLOW = 1.0  # seconds: a compilation that takes longer logs what it does at INFO (else at DEBUG)


def _log_handler(level_name):
    """A stderr handler on the "s2sad" logger at `level_name` (`S2SAD_LOG`); an unknown name means INFO."""
    level = logging.getLevelName(level_name.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("s2sad: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(level if isinstance(level, int) else logging.INFO)
    return handler


LOG.addHandler(logging.NullHandler())
if os.environ.get("S2SAD_LOG", "").lower() not in ("", "0", "off", "false", "no"):
    _log_handler(os.environ["S2SAD_LOG"])
