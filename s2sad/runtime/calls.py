"""Calls the compiler does not inline (recursion): generated code calls the callee's own derivative,
compiled when it runs through the compiler's registered entry point (`register_compiler`: this
package imports nothing of the compiler). `call_forward_sweep` keeps a `CallRecord`,
`call_pullback` returns the `Cotangents` of the call's arguments, `call_jvp` is forward mode.
While such calls nest, the recursion limit is raised and the garbage collector paused.
"""

import gc
import linecache
import sys
import threading

import numpy as np

from ..errors import RecursionDepthError
from .core import like, zeros_like


class CallRecord:
    """What the forward sweep keeps of a call `function(*args)`: its value and its pullback."""

    __slots__ = ("value", "args", "wrt", "backward", "residuals")

    def __init__(self, value, args, wrt, backward=None, residuals=None):
        self.value, self.args, self.wrt, self.backward, self.residuals = value, args, wrt, backward, residuals

    def __repr__(self):
        return f"<call record: value {self.value!r:.60}, differentiated w.r.t. arguments {self.wrt}>"


# Each level of a recursion runs a few Python frames in a derivative (the helper, the generated
# sweep) where the user's function runs one: while derivative calls are nested, the recursion
# limit is raised as needed, up to MAX_RECURSION_LIMIT, and put back when the outermost returns.
# The sweeps keep every level's records alive until the outermost returns: Python's cyclic garbage
# collector would scan them again and again (two thirds of det by minors' gradient at 8 x 8) and
# could free none (they hold no cycles), so it is paused until then and resumed as it was.
FRAMES_PER_CALL = 8
MAX_RECURSION_LIMIT = 30_000
_nesting = {"depth": 0, "limit": None, "collecting": None}


class _Nested:
    """`with _Nested(function):` around a derivative call that may recurse."""

    __slots__ = ("function",)

    def __init__(self, function):
        self.function = function

    def __enter__(self):
        depth = _nesting["depth"] = _nesting["depth"] + 1
        if depth == 1:
            _nesting["limit"] = sys.getrecursionlimit()
            _nesting["collecting"] = gc.isenabled()
            gc.disable()
        needed = _nesting["limit"] + FRAMES_PER_CALL * depth
        if needed > sys.getrecursionlimit() and threading.current_thread() is threading.main_thread():
            # (other threads may have small stacks: their limit stays)
            sys.setrecursionlimit(min(max(needed, 2 * sys.getrecursionlimit()), MAX_RECURSION_LIMIT))

    def __exit__(self, kind, error, traceback):
        depth = _nesting["depth"]
        _nesting["depth"] = depth - 1
        if depth == 1:
            sys.setrecursionlimit(_nesting["limit"])
            if _nesting["collecting"]:
                gc.enable()
            if kind is RecursionError:
                raise _too_deep(self.function) from None
        elif kind is RecursionError:
            _nesting.setdefault("deepest", depth)
        return False


def _too_deep(function):
    deepest = _nesting.pop("deepest", None)
    code = getattr(function, "__code__", None)
    name = getattr(function, "__name__", repr(function))
    filename = code.co_filename if code is not None else None
    lineno = code.co_firstlineno if code is not None else None
    text = linecache.getline(filename, lineno).strip() if code is not None else None
    return RecursionDepthError(
        f"the derivative of the recursive function `{name}` went "
        f"{f'{deepest} calls' if deepest else 'too'} deep for Python's stack (its derivative runs a few "
        f"frames per call, and at most {MAX_RECURSION_LIMIT} frames are allowed)",
        filename,
        lineno,
        text,
        hint="write the recursion as a `for` or `while` loop, which s2sad differentiates without a Python "
        "frame per step",
    )


_COMPILER = {}  # "derivative": the pipeline's compile function, registered when s2sad.pipeline is imported


def register_compiler(derivative):
    """Dependency injection: `derivative(function, mode, args, wrt)` compiles (cached) `function`'s
    derivative; generated code reaches the compiler through it, so this package never imports it."""
    _COMPILER["derivative"] = derivative


def _call_derivative(function, mode, args, wrt):
    """`function`'s derivative w.r.t. the arguments at positions `wrt`, compiled once per
    argument types: the jvp function (mode 'forward') or the (forward, backward) pair."""
    return _COMPILER["derivative"](function, mode, args, wrt)


def call_forward_sweep(function, *args, wrt=None):
    """Run the forward sweep of `function`'s derivative w.r.t. the arguments at positions `wrt`
    (default: the float and array arguments); the record keeps its value and pullback."""
    if wrt is None:
        wrt = tuple(i for i, a in enumerate(args) if isinstance(a, (float, np.floating, np.ndarray)))
    if not wrt:
        return CallRecord(function(*args), args, wrt)
    forward, backward = _call_derivative(function, "split", args, wrt)
    with _Nested(function):
        value, residuals = forward(*args)
    return CallRecord(value, args, wrt, backward, residuals)


def call_value(function, record, *args):
    """The value of the call `function(*args)` that `record` swept (the arguments carry the data flow)."""
    return record.value


def call_pullback(function, record, cotangent):
    """The cotangents of all the arguments of the call `record` swept, from its result's `cotangent`."""
    if record.backward is None:
        grads = ()
    else:
        with _Nested(function):
            grads = record.backward(record.residuals, cotangent)
    return Cotangents(record.args, record.wrt, grads)


class Cotangents:
    """The cotangents of a call's arguments: those it was differentiated w.r.t., and zeros for
    the others, made only when read (the backward sweep reads the active ones; a list of indices
    passed down a recursion is not walked at every level).

    >>> c = Cotangents((np.ones(2), [1, 2], 3.0), (0,), (np.full(2, 5.0),))
    >>> c[0].tolist(), c[1], c[2], len(c)
    ([5.0, 5.0], [0.0, 0.0], 0.0, 3)
    """

    __slots__ = ("args", "grads")

    def __init__(self, args, wrt, grads):
        self.args = args
        self.grads = dict(zip(wrt, grads))

    def __getitem__(self, index):
        g = self.grads.get(index, _MISSING)
        return zeros_like(self.args[index]) if g is _MISSING else g

    def __len__(self):
        return len(self.args)

    def __iter__(self):
        return (self[i] for i in range(len(self.args)))


_MISSING = object()


def call_jvp(function, args, tangents):
    """Forward mode through a call that is not inlined: `(function(*args), its tangent)` from
    `function`'s own jvp; arguments whose tangent is None are constants."""
    wrt = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not wrt:
        value = function(*args)
        return value, zeros_like(value)
    jvp = _call_derivative(function, "forward", args, wrt)
    dots = [like(tangents[i], args[i]) if isinstance(args[i], np.ndarray) else tangents[i] for i in wrt]
    with _Nested(function):
        return jvp(*args, *dots)
