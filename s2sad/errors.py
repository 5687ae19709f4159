"""The s2sad exception hierarchy: every error names the user's file, line and code.

>>> err = UnsupportedSyntaxError("`yield` makes a generator", "model.py", 12,
...                              "yield x", hint="return a list instead")
>>> print(err)
model.py:12: `yield` makes a generator
    yield x
  hint: return a list instead
"""

import re


class S2sadError(Exception):
    """Base class of every error s2sad raises on purpose. Raised out of a public transform, its
    traceback shows the user's frames; the whole one is `err.s2sad_traceback` (and every frame
    is kept with the environment variable `S2SAD_DEBUG=1`)."""

    def __init__(self, message, filename=None, lineno=None, code=None, hint=None):
        message, hint = _user_words(message), _user_words(hint)
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.code = code
        self.hint = hint
        super().__init__(self._render())

    def _render(self):
        where = ""
        if self.filename is not None:
            where = f"{self.filename}:{self.lineno}: " if self.lineno else f"{self.filename}: "
        text = where + self.message
        if self.code:
            text += "\n    " + self.code.strip()
        if self.hint:
            text += "\n  hint: " + self.hint
        return text


def _user_words(text):
    """`text` without the compiler's temporaries (`_t15`), which mean nothing to the user: `_t2.item(...)`
    becomes `.item(...)`, a lone `_t15` "a computed value". (The code line shown is the user's own.)

    >>> _user_words("`_t2.item(...)` calls `_t15`")
    '`.item(...)` calls a computed value'
    """
    if text is None or "_t" not in text:
        return text
    text = re.sub(r"\b_t\d+(?=\.\w)", "", text)
    return re.sub(r"`?\b_t\d+\b`?", "a computed value", text)


class SourceUnavailableError(S2sadError):
    """The function's source cannot be read (built-in, REPL, exec'd string)."""


class UnsupportedSyntaxError(S2sadError):
    """The function uses a construct the compiler does not differentiate."""


class NoDerivativeRuleError(S2sadError):
    """A call reaches a function that has no derivative rule."""


class NonScalarOutputError(S2sadError):
    """`grad` was asked for a function whose output is not a scalar."""


class CustomRuleError(S2sadError):
    """A custom_vjp / custom_jvp rule returned something s2sad cannot use (count, shape)."""


class NumbaTargetError(S2sadError):
    """The numba code target (`backend="numba"`) cannot compile a construct of the function."""


class ArgumentError(S2sadError):
    """Bad arguments to an s2sad transform (argnums out of range, wrong tangents)."""


class RecursionDepthError(S2sadError, RecursionError):
    """A recursive function's derivative went deeper than Python's stack allows."""


class DesugarError(Exception):
    """Raised by a pass with the node at fault (internal); the pipeline adds file and line
    and turns it into an `UnsupportedSyntaxError`."""

    def __init__(self, message, node, hint=None):
        super().__init__(message)
        self.node = node
        self.hint = hint
