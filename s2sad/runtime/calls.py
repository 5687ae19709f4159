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

    __slots__ = ("value", "args", "wrt", "backward", "residuals", "accumulates")

    def __init__(self, value, args, wrt, backward=None, residuals=None, accumulates=False):
        self.value, self.args, self.wrt, self.backward, self.residuals = value, args, wrt, backward, residuals
        self.accumulates = accumulates  # the recursive calling convention: the pullback takes adjoints

    def __repr__(self):
        return f"<call record: value {self.value!r:.60}, differentiated w.r.t. arguments {self.wrt}>"


# Each level of a recursion runs a few Python frames in a derivative (the helper, the generated
# sweep) where the user's function runs one, and a derivative that calls itself directly (see
# s2sad.transforms.reverse_calls) passes no helper that could count its levels: while derivative
# calls are nested, the recursion limit is raised to MAX_RECURSION_LIMIT (no more than that: the
# stack has its own limit), and put back when the outermost returns.
# The sweeps keep every level's records alive until the outermost returns: Python's cyclic garbage
# collector would scan them again and again (two thirds of det by minors' gradient at 8 x 8) and
# could free none (they hold no cycles), so it is paused until then and resumed as it was.
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
            if (
                sys.getrecursionlimit() < MAX_RECURSION_LIMIT
                and threading.current_thread() is threading.main_thread()
            ):
                sys.setrecursionlimit(
                    MAX_RECURSION_LIMIT
                )  # (other threads may have small stacks: theirs stays)

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


def runs_nested(derivative, function):
    """`derivative` (of `function`) run as a derivative call that may recurse (see `_Nested`): one
    that calls derivatives compiled at run time, or itself (a recursion's jvp), runs with the
    collector paused and the recursion limit raised, and reports a recursion too deep for Python."""

    def nested(*args):
        with _Nested(function):
            return derivative(*args)

    nested.__wrapped__ = derivative
    return nested


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


def _recursive(args, wrt):
    """Do the arguments at `wrt` take the recursive calling convention (floats and arrays, no trees)?"""
    return all(args[i].__class__ in _ADJOINT_CLASSES or isinstance(args[i], _ADJOINT_TYPES) for i in wrt)


def call_forward_sweep(function, *args, wrt=None):
    """Run the forward sweep of `function`'s derivative w.r.t. the arguments at positions `wrt`
    (default: the float and array arguments); the record keeps its value and pullback."""
    if wrt is None:
        wrt = tuple(i for i, a in enumerate(args) if isinstance(a, (float, np.floating, np.ndarray)))
    if not wrt:
        return CallRecord(function(*args), args, wrt)
    if _recursive(args, wrt):
        forward, _ = _call_derivative(function, "recursive", args, wrt)
        with _Nested(function):
            value, residuals, backward = forward(*args)
        return CallRecord(value, args, wrt, backward, residuals, True)
    forward, backward = _call_derivative(function, "split", args, wrt)
    with _Nested(function):
        value, residuals = forward(*args)
    return CallRecord(value, args, wrt, backward, residuals)


def sweep_call(function, wrt, *args):
    """`(value, residuals, pullback)` of the call `function(*args)`, differentiated w.r.t. the
    arguments at positions `wrt`: what the code of a recursion's derivative (mode 'recursive') calls
    when it does not call itself directly. `pullback(residuals, out_bar, *adjoints)` adds to the
    adjoints it is given (None: zero) and returns them."""
    if _recursive(args, wrt):
        forward, _ = _call_derivative(function, "recursive", args, wrt)
        with _Nested(function):
            return forward(*args)
    forward, backward = _call_derivative(function, "split", args, wrt)  # trees: their adjoints as they come
    with _Nested(function):
        value, residuals = forward(*args)
    return value, residuals, _SplitPullback(backward)


class _SplitPullback:
    """The recursive calling convention around a split pullback (an argument differentiated is a tree)."""

    __slots__ = ("backward",)

    def __init__(self, backward):
        self.backward = backward

    def __call__(self, residuals, out_bar, *adjoints):
        grads = self.backward(residuals, out_bar)
        return tuple(accumulated(given, g) for given, g in zip(adjoints, grads))


def accumulated(given, g):
    """`given + g` (a fresh array), or a copy of `g` when `given` is None (a zero)."""
    if given is None:
        return g.copy() if isinstance(g, np.ndarray) else g
    return given + g


# The classes whose values have the run-time kind (`s2sad.kinds.kind_of`) a recursion's derivative
# was compiled for, so that it calls itself directly (see s2sad.transforms.reverse_calls); values of
# other classes take the run-time lookup. OTHER_CLASSES are neither numbers nor callable.
ARRAY_CLASSES = frozenset({np.ndarray})
FLOAT_CLASSES = frozenset({float, np.float64, np.float32, np.float16, np.longdouble})
INT_CLASSES = frozenset(
    {int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64}
)
BOOL_CLASSES = frozenset({bool, np.bool_})
OTHER_CLASSES = frozenset({list, tuple, dict, str, range, type(None)})
_ADJOINT_CLASSES = ARRAY_CLASSES | FLOAT_CLASSES | INT_CLASSES
# the elements of a list of a refined kind (s2sad.kinds.refined_list): ints take bools, floats both
INTEGRAL_CLASSES = INT_CLASSES | BOOL_CLASSES
REAL_CLASSES = FLOAT_CLASSES | INTEGRAL_CLASSES


def list_of(value, classes):
    """Is `value` a list whose elements' classes are all in `classes` (the test of a refined list kind,
    for an argument the code does not prove to have it)?

    >>> list_of([1, 2], INTEGRAL_CLASSES), list_of([1, 2.5], INTEGRAL_CLASSES), list_of((1,), REAL_CLASSES)
    (True, False, False)
    """
    if value.__class__ is not list:
        return False
    for item in value:
        if item.__class__ not in classes:
            return False
    return True


def array_of(value, ndim, dtype_kinds):
    """Is `value` an array of rank `ndim` whose dtype's kind is one of `dtype_kinds` (the test of a
    refined array kind)?

    >>> array_of(np.ones((2, 2)), 2, "fiub"), array_of(np.ones(2), 2, "fiub"), array_of(2.0, 0, "f")
    (True, False, False)
    """
    return value.__class__ is np.ndarray and value.ndim == ndim and value.dtype.kind in dtype_kinds


_ADJOINT_TYPES = (np.ndarray, float, np.floating, int, np.integer)


def call_value(function, record, *args):
    """The value of the call `function(*args)` that `record` swept (the arguments carry the data flow)."""
    return record.value


def call_pullback(function, record, cotangent):
    """The cotangents of all the arguments of the call `record` swept, from its result's `cotangent`."""
    if record.backward is None:
        grads = ()
    else:
        with _Nested(function):
            if record.accumulates:
                grads = record.backward(record.residuals, cotangent, *[None] * len(record.wrt))
            else:
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
