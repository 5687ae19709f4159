"""The public API's edge: what an exception that leaves s2sad looks like to the user.

An exception leaving a public transform goes through `user_facing` (the wrappers catch it and
re-raise the same object):

- Its traceback loses s2sad's own frames (the compiler's passes, the dispatch between a wrapper
  and the generated code), so Python prints the user's frames, the entry call, and the frames of
  generated derivative code and of the run-time helpers it called. An s2sad error (its message
  names the user's file, line and code) loses every frame of the package. The whole traceback
  stays on the exception as `exc.s2sad_traceback`; with the environment variable `S2SAD_DEBUG=1`
  nothing is trimmed.
- An exception raised in generated code (an IndexError from the user's `x[5]`, a shape
  mismatch) gets a note (PEP 678) naming the generated line and the user's file, line and code
  it came from: the generated source carries a `# file.py:N: code` comment before the code of
  each user line, and the compiler keeps, per generated file, where each comment points
  (`s2sad.codegen.python.LINE_ORIGINS`).

>>> import numpy as np, s2sad
>>> def pick(x):
...     return x[5] * 2.0
>>> try:
...     s2sad.grad(pick)(np.ones(3))
... except IndexError as exc:
...     first, second = exc.__notes__[0].splitlines()
>>> first.startswith("s2sad: raised in the derivative of `pick` (<s2sad grad pick #")
True
>>> second.split(": ", 1)[1]  # the user's code, after its file and line
'return x[5] * 2.0'
"""

import functools
import linecache
import os
import types

from ..codegen.python import LINE_ORIGINS
from ..errors import S2sadError
from ..frontend.source import origin_code

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
RUNTIME = PACKAGE + "runtime" + os.sep
GENERATED = "<s2sad "  # generated derivative code: `<s2sad grad f #1>` (wrappers: `<s2sad wrapper of f>`)


def debugging():
    """Is `S2SAD_DEBUG` set (tracebacks keep s2sad's own frames)?"""
    return os.environ.get("S2SAD_DEBUG", "").lower() not in ("", "0", "off", "false", "no")


def _internal(filename, s2sad_error):
    """A frame the user does not need: the compiler, the api's dispatch, a wrapper's glue. The
    run-time helpers generated code calls stay (an error in `_rt.unbroadcast` shows where), except
    under an s2sad error, whose message says all."""
    if filename.startswith("<s2sad wrapper"):
        return True
    if not filename.startswith(PACKAGE):
        return False
    return s2sad_error or not filename.startswith(RUNTIME)


def user_facing(exc):
    """`exc` made ready to leave the public API (see the module docstring); returns it, to be
    raised again as it is."""
    original = exc.__traceback__
    try:
        if not hasattr(exc, "s2sad_traceback"):
            exc.s2sad_traceback = original
    except Exception:  # an exception object without attributes: leave it as it is
        return exc
    if not isinstance(exc, S2sadError):
        _add_note(exc, original)
    else:
        _point_at_user_line(exc, original)
    if debugging():
        return exc
    s2sad_error = isinstance(exc, S2sadError)
    frames = []
    tb = original
    while tb is not None:
        if not _internal(tb.tb_frame.f_code.co_filename, s2sad_error):
            frames.append(tb)
        tb = tb.tb_next
    trimmed = None
    for tb in reversed(frames):
        trimmed = types.TracebackType(trimmed, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    return exc.with_traceback(trimmed)


def guarded(function):
    """`function` (a public transform) with `user_facing` applied to what it raises."""

    @functools.wraps(function)
    def public(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            raise user_facing(exc)

    return public


def origin_of(filename, lineno):
    """(generated line, user file, user line, user code) for line `lineno` of the generated file
    `filename`: the user's line is the one the nearest `# file.py:N: code` comment above names.
    None if the file is not one s2sad generated or no comment precedes the line."""
    origins = LINE_ORIGINS.get(filename)
    if origins is None:
        return None
    lines = linecache.getlines(filename)
    generated = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    for index in range(min(lineno, len(lines)) - 1, -1, -1):
        text = lines[index].strip()
        if text.startswith("# ") and text[2:] in origins:
            user_file, user_line = origins[text[2:]]
            if user_file in LINE_ORIGINS and user_file != filename:  # derivative code differentiated again
                deeper = origin_of(user_file, user_line)
                if deeper is not None:
                    return (generated,) + deeper[1:]
            return generated, user_file, user_line, origin_code((user_file, user_line, text[2:]))
        if text.startswith("def "):
            break
    return None


def _point_at_user_line(exc, tb):
    """An s2sad error names the user's line: one raised on a line of derivative code being
    differentiated again (a Hessian, `jvp` of a `grad`) the line that code differentiates; one a
    run-time helper raised without a line (a complex value), the line whose derivative called it."""
    filename, lineno = exc.filename, exc.lineno
    if filename is None:
        while tb is not None:  # the deepest frame of generated code
            code = tb.tb_frame.f_code
            if code.co_filename.startswith(GENERATED) and code.co_filename in LINE_ORIGINS:
                filename, lineno = code.co_filename, tb.tb_lineno
            tb = tb.tb_next
    if filename not in LINE_ORIGINS or not lineno:
        return
    found = origin_of(filename, lineno)
    if found is None:
        return
    _, exc.filename, exc.lineno, exc.code = found
    exc.args = (exc._render(),)


def _add_note(exc, tb):
    """The note on an exception raised in generated code: the deepest generated frame's line,
    and the user's line it differentiates."""
    if getattr(exc, "_s2sad_noted", False):
        return
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(GENERATED) and code.co_filename in LINE_ORIGINS:
            found = (code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    if found is None:
        return
    filename, lineno, name = found
    origin = origin_of(filename, lineno)
    if origin is None:
        return
    generated, user_file, user_line, user_code = origin
    function = filename.split()[2] if len(filename.split()) > 2 else name
    exc.add_note(
        f"s2sad: raised in the derivative of `{function}` ({filename}, line {lineno}): {generated}\n"
        f"  which differentiates {user_file}:{user_line}: {user_code}"
    )
    exc._s2sad_noted = True
