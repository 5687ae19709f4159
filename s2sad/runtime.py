"""Helpers that generated derivative code calls at run time.

Kept small on purpose: the generated code is plain Python and NumPy; these are
only the operations that need a shape decided at run time.

>>> unbroadcast(np.ones((2, 3)), np.ones(3)).tolist()
[2.0, 2.0, 2.0]
>>> unbroadcast(np.ones((2, 3)), 1.0)
6.0
>>> getitem_adjoint(np.array([1.0, 2.0]), np.zeros(4), np.array([1, 1])).tolist()
[0.0, 3.0, 0.0, 0.0]
"""

import numpy as np


def unbroadcast(g, like):
    """Sum `g` over the axes broadcasting added, so it has the shape of `like`."""
    shape = np.shape(like)
    gshape = np.shape(g)
    if gshape == shape:
        return g
    if not shape:
        return float(np.sum(g)) if isinstance(like, float) else np.sum(g)
    extra = len(gshape) - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and np.shape(g)[i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if np.shape(g) != shape:
        g = np.broadcast_to(g, shape).copy()
    return g


def broadcast_like(t, like):
    """Broadcast tangent `t` to the shape of the result `like` (forward mode)."""
    shape = np.shape(like)
    if np.shape(t) == shape:
        return t
    return np.broadcast_to(t, shape).copy()


def zeros_like(x):
    """A zero derivative for `x`: `0.0` for scalars, an array of zeros for arrays."""
    if isinstance(x, np.ndarray):
        return np.zeros_like(x, dtype=np.result_type(x.dtype, np.float32))
    if isinstance(x, (tuple, list)):
        return type(x)(zeros_like(v) for v in x)
    return 0.0


def like(g, x):
    """`g` if it already has `x`'s shape, else zeros of it plus `g` (a scalar zero)."""
    if np.shape(g) == np.shape(x):
        return g
    return zeros_like(x) + g


def getitem_adjoint(g, x, index):
    """Adjoint of `x[index]`: `g` placed at `index` in zeros shaped like `x`."""
    out = np.zeros(np.shape(x), dtype=np.result_type(np.asarray(x).dtype, np.asarray(g).dtype, np.float32))
    np.add.at(out, index, g)
    return out


def check_scalar(value, where):
    """Raise s2sad's error when `grad` meets a non-scalar output."""
    if np.ndim(value) != 0:
        from .errors import NonScalarOutputError

        filename, lineno, code = where
        raise NonScalarOutputError(
            f"grad needs a scalar output; the function returned shape {np.shape(value)}",
            filename,
            lineno,
            code,
            hint="reduce the output (np.sum, np.mean) or use s2sad.vjp / s2sad.jacrev",
        )
    return value


def copy(x):
    """A copy of an array slice or scalar, to push before it is overwritten."""
    return x.copy() if hasattr(x, "copy") else x


def copy_stack(stack):
    """A copy of a forward sweep's stack whose arrays may be restored in place."""
    return [v.copy() if isinstance(v, np.ndarray) else v for v in stack]


def owned(g, x):
    """A fresh float array shaped like `x` holding `g` (for adjoints updated in place)."""
    dtype = np.result_type(np.asarray(x).dtype, np.float32)
    out = np.zeros(np.shape(x), dtype=dtype)
    out += g
    return out


def add_at(target, index, g):
    """`target[index] += g`, accumulating repeated integer indices."""
    def fancy(i):
        return isinstance(i, (np.ndarray, list))

    if fancy(index) or (isinstance(index, tuple) and any(fancy(i) for i in index)):
        np.add.at(target, index, g)
    else:
        target[index] += g



# -- calls the compiler does not inline (recursion): the callee's own derivative ----------------


class CallRecord:
    """What the forward sweep keeps of a call `function(*args)`: its value and its pullback."""

    __slots__ = ("value", "args", "wrt", "backward", "residuals")

    def __init__(self, value, args, wrt, backward=None, residuals=None):
        self.value, self.args, self.wrt, self.backward, self.residuals = value, args, wrt, backward, residuals

    def __repr__(self):
        return f"<call record: value {self.value!r:.60}, differentiated w.r.t. arguments {self.wrt}>"


_CALL_DERIVATIVES = {}


def _call_derivative(function, mode, args, wrt):
    """`function`'s derivative w.r.t. the arguments at positions `wrt`, compiled once per
    argument types: the jvp function (mode 'forward') or the (forward, backward) pair."""
    from .api import _diff_kinds, _kinds, _signature

    key = (function, getattr(function, "__code__", None), mode, wrt, _signature(args))
    entry = _CALL_DERIVATIVES.get(key)
    if entry is None:
        from .compiler import compile_derivative

        compiled = compile_derivative(function, mode, wrt, _diff_kinds(_kinds(args, wrt), wrt))
        objects = compiled.extra["objects"]
        entry = objects["jvp"] if mode == "forward" else (objects["forward"], objects["backward"])
        _CALL_DERIVATIVES[key] = entry
    return entry


def call_forward_sweep(function, *args, wrt=None):
    """Run the forward sweep of `function`'s derivative w.r.t. the arguments at positions `wrt`
    (default: the float and array arguments); the record keeps its value and pullback."""
    if wrt is None:
        wrt = tuple(i for i, a in enumerate(args) if isinstance(a, (float, np.floating, np.ndarray)))
    if not wrt:
        return CallRecord(function(*args), args, wrt)
    forward, backward = _call_derivative(function, "reverse", args, wrt)
    value, residuals = forward(*args)
    return CallRecord(value, args, wrt, backward, residuals)


def call_value(function, record, *args):
    """The value of the call `function(*args)` that `record` swept (the arguments carry the data flow)."""
    return record.value


def call_pullback(function, record, cotangent):
    """The cotangents of all the arguments of the call `record` swept, from its result's `cotangent`."""
    grads = record.backward(record.residuals, cotangent) if record.backward is not None else ()
    out = [zeros_like(a) for a in record.args]
    for index, g in zip(record.wrt, grads):
        out[index] = g
    return tuple(out)


def call_jvp(function, args, tangents):
    """Forward mode through a call that is not inlined: `(function(*args), its tangent)` from
    `function`'s own jvp; arguments whose tangent is None are constants."""
    wrt = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not wrt:
        value = function(*args)
        return value, zeros_like(value)
    jvp = _call_derivative(function, "forward", args, wrt)
    dots = [like(tangents[i], args[i]) if isinstance(args[i], np.ndarray) else tangents[i] for i in wrt]
    return jvp(*args, *dots)


def _derivative_call_rule(role):
    def rule_for(function, count):
        from .primitives import derivative_call_rule

        return derivative_call_rule(role, count - (1 if role == "sweep" else 2))

    return rule_for


# the compiler picks the rules of these helper calls here (s2sad.primitives.classify)
call_forward_sweep._s2sad_rule_for = _derivative_call_rule("sweep")
call_value._s2sad_rule_for = _derivative_call_rule("value")


from .numpy_runtime import *  # noqa: E402,F401,F403  (helpers of the NumPy rules)
from .custom import (  # noqa: E402,F401  (helpers of calls to custom_vjp / custom_jvp functions)
    custom_jvp_call, custom_jvp_tangent, custom_jvp_transpose, custom_vjp_backward, custom_vjp_forward,
    custom_vjp_tangent, custom_vjp_value,
)
