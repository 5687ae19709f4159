"""Every cache of the compiler in one place, and one `clear()` that forgets them all.

The dictionaries live here; the modules that fill them hold a reference. Memos kept beside their
data register how to forget them with `on_clear` (the shape analysis, the rule templates, the call
rules, source files parsed for lambdas, the keys of nested transforms, the numba targets, the
run-time library's index analysis, registered by the pipeline since the run-time library imports
nothing of the compiler). tests/test_caches.py finds every module-level store and checks it.

>>> COMPILED["example"] = 1
>>> clear()
>>> COMPILED
{}
"""

COMPILED = {}  # s2sad.pipeline: (code, closure, mode, argnums, kinds, ...) -> Compiled
TRANSFORMS = {}  # s2sad.api: (mode, code object, argument types) -> compiled pieces
MATERIALIZED = {}  # s2sad.frontend.nested: a transform's derivative code as a function
CALL_DERIVATIVES = {}  # s2sad.pipeline: derivatives of calls that are not inlined, compiled at run time
_CLEARERS = []


def on_clear(forget):
    """Register `forget()`, called by `clear()` (returns it: usable as a decorator)."""
    _CLEARERS.append(forget)
    return forget


def clear():
    """Forget every compiled derivative and every memo, so that the next compilation costs what a
    first one does."""
    for table in (COMPILED, TRANSFORMS, MATERIALIZED, CALL_DERIVATIVES):
        table.clear()
    for forget in _CLEARERS:
        forget()
