"""Rules for Python's operators, builtins, `math`, and NumPy's elementwise core.

Each rule is two templates; see `s2sad.rules` for the template language. Rules
whose tangent is not elementwise also give a `batched=True` tangent for vector
forward mode (`jacfwd`), where every `x_dot` has a leading axis of directions.

>>> from s2sad.rules import lookup
>>> lookup(operator.mul).elementwise, lookup(len).differentiable
(True, False)
"""

import math
import operator

import numpy as np

from .. import runtime as _rt  # noqa: F401  (templates name it)
from .. import kinds as K
from ..runtime.custom import stop_gradient
from . import RULES, adjoint, nondifferentiable, tangent
from .custom import same_kind

# -- arithmetic operators (also the NumPy ufuncs they stand for) ---------------


@tangent(operator.add, np.add, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot + y_dot


@adjoint(operator.add, np.add)
def _(z, x, y):
    x_bar += z_bar
    y_bar += z_bar


@tangent(operator.sub, np.subtract, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot - y_dot


@adjoint(operator.sub, np.subtract)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar


@tangent(operator.mul, np.multiply, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot * y + x * y_dot


@adjoint(operator.mul, np.multiply)
def _(z, x, y):
    x_bar += z_bar * y
    y_bar += x * z_bar


@tangent(operator.truediv, np.divide, np.true_divide, elementwise=True, kind="elementwise")
def _(z, x, y):
    z_dot = x_dot / y - z * y_dot / y


@adjoint(operator.truediv, np.divide, np.true_divide)
def _(z, x, y):
    x_bar += z_bar / y
    y_bar += -z_bar * z / y


@adjoint(operator.truediv, np.divide, np.true_divide, constant="x")
def _(z, x, y):
    y_bar += -z_bar * z * z / x


@tangent(operator.pow, np.power, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot * _rt.power_dx(x, y) + y_dot * _rt.power_dy(z, x)


@tangent(operator.pow, np.power, constant="y")  # `x ** 2.0`: y is a nonzero number
def _(z, x, y):
    z_dot = x_dot * y * x ** (y - 1)


@adjoint(operator.pow, np.power)
def _(z, x, y):
    x_bar += z_bar * _rt.power_dx(x, y)
    y_bar += z_bar * _rt.power_dy(z, x)


@adjoint(operator.pow, np.power, constant="y")
def _(z, x, y):
    x_bar += z_bar * y * x ** (y - 1)


@tangent(operator.neg, np.negative, elementwise=True, kind="arith")
def _(z, x):
    z_dot = -x_dot


@adjoint(operator.neg, np.negative)
def _(z, x):
    x_bar += -z_bar


@tangent(abs, np.abs, np.absolute, elementwise=True, kind="arith")
def _(z, x):
    z_dot = x_dot * np.sign(x)


@adjoint(abs, np.abs, np.absolute)
def _(z, x):
    x_bar += z_bar * np.sign(x)


@tangent(float, kind="float")
def _(z, x):
    z_dot = x_dot


@tangent(float, batched=True)
def _(z, x):
    z_dot = np.reshape(x_dot, -1)


@adjoint(float)
def _(z, x):
    x_bar += z_bar


# `a.item()` of a size-1 array (an array of one element, or a 0-d one) is its one value as a float
@tangent(np.ndarray.item, kind="float")
def _(z, x):
    z_dot = np.reshape(x_dot, ())


@tangent(np.ndarray.item, batched=True)
def _(z, x):
    z_dot = np.reshape(x_dot, -1)


@adjoint(np.ndarray.item)
def _(z, x):
    x_bar += np.reshape(z_bar, np.shape(x))


# -- max / min: ties go to the first argument ------------------------------------


@tangent(max, np.maximum, np.fmax, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot * (x >= y) + y_dot * (x < y)


@adjoint(max, np.maximum, np.fmax)
def _(z, x, y):
    x_bar += z_bar * (x >= y)
    y_bar += z_bar * (x < y)


@tangent(min, np.minimum, np.fmin, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot * (x <= y) + y_dot * (x > y)


@adjoint(min, np.minimum, np.fmin)
def _(z, x, y):
    x_bar += z_bar * (x <= y)
    y_bar += z_bar * (x > y)


# -- math: scalar functions -------------------------------------------------------


@tangent(math.sin, kind="float")
def _(z, x):
    z_dot = x_dot * math.cos(x)


@adjoint(math.sin)
def _(z, x):
    x_bar += z_bar * math.cos(x)


@tangent(math.cos, kind="float")
def _(z, x):
    z_dot = -x_dot * math.sin(x)


@adjoint(math.cos)
def _(z, x):
    x_bar += -z_bar * math.sin(x)


@tangent(math.tan, kind="float")
def _(z, x):
    z_dot = x_dot * (1.0 + z * z)


@adjoint(math.tan)
def _(z, x):
    x_bar += z_bar * (1.0 + z * z)


@tangent(math.exp, kind="float")
def _(z, x):
    z_dot = x_dot * z


@adjoint(math.exp)
def _(z, x):
    x_bar += z_bar * z


@tangent(math.expm1, kind="float")
def _(z, x):
    z_dot = x_dot * (z + 1.0)


@adjoint(math.expm1)
def _(z, x):
    x_bar += z_bar * (z + 1.0)


@tangent(math.log, kind="float")
def _(z, x, base=math.e):
    z_dot = x_dot / (x * math.log(base))


@adjoint(math.log)
def _(z, x, base=math.e):
    x_bar += z_bar / (x * math.log(base))


@tangent(math.log1p, kind="float")
def _(z, x):
    z_dot = x_dot / (1.0 + x)


@adjoint(math.log1p)
def _(z, x):
    x_bar += z_bar / (1.0 + x)


@tangent(math.log2, kind="float")
def _(z, x):
    z_dot = x_dot / (x * math.log(2.0))


@adjoint(math.log2)
def _(z, x):
    x_bar += z_bar / (x * math.log(2.0))


@tangent(math.log10, kind="float")
def _(z, x):
    z_dot = x_dot / (x * math.log(10.0))


@adjoint(math.log10)
def _(z, x):
    x_bar += z_bar / (x * math.log(10.0))


@tangent(math.sqrt, kind="float")
def _(z, x):
    z_dot = x_dot / (2.0 * z)


@adjoint(math.sqrt)
def _(z, x):
    x_bar += z_bar / (2.0 * z)


@tangent(math.tanh, kind="float")
def _(z, x):
    z_dot = x_dot * (1.0 - z * z)


@adjoint(math.tanh)
def _(z, x):
    x_bar += z_bar * (1.0 - z * z)


@tangent(math.sinh, kind="float")
def _(z, x):
    z_dot = x_dot * math.cosh(x)


@adjoint(math.sinh)
def _(z, x):
    x_bar += z_bar * math.cosh(x)


@tangent(math.cosh, kind="float")
def _(z, x):
    z_dot = x_dot * math.sinh(x)


@adjoint(math.cosh)
def _(z, x):
    x_bar += z_bar * math.sinh(x)


@tangent(math.asin, kind="float")
def _(z, x):
    z_dot = x_dot / math.sqrt(1.0 - x * x)


@adjoint(math.asin)
def _(z, x):
    x_bar += z_bar / math.sqrt(1.0 - x * x)


@tangent(math.acos, kind="float")
def _(z, x):
    z_dot = -x_dot / math.sqrt(1.0 - x * x)


@adjoint(math.acos)
def _(z, x):
    x_bar += -z_bar / math.sqrt(1.0 - x * x)


@tangent(math.atan, kind="float")
def _(z, x):
    z_dot = x_dot / (1.0 + x * x)


@adjoint(math.atan)
def _(z, x):
    x_bar += z_bar / (1.0 + x * x)


@tangent(math.atan2, kind="float")
def _(z, y, x):
    z_dot = (y_dot * x - x_dot * y) / (x * x + y * y)


@adjoint(math.atan2)
def _(z, y, x):
    y_bar += z_bar * x / (x * x + y * y)
    x_bar += -z_bar * y / (x * x + y * y)


@tangent(math.hypot, kind="float")
def _(z, x, y):
    z_dot = (x_dot * x + y_dot * y) / z


@adjoint(math.hypot)
def _(z, x, y):
    x_bar += z_bar * x / z
    y_bar += z_bar * y / z


@tangent(math.pow, kind="float")
def _(z, x, y):
    z_dot = x_dot * _rt.power_dx(x, y) + y_dot * _rt.power_dy(z, x)


@tangent(math.pow, constant="y")
def _(z, x, y):
    z_dot = x_dot * y * x ** (y - 1)


@adjoint(math.pow)
def _(z, x, y):
    x_bar += z_bar * _rt.power_dx(x, y)
    y_bar += z_bar * _rt.power_dy(z, x)


@adjoint(math.pow, constant="y")
def _(z, x, y):
    x_bar += z_bar * y * x ** (y - 1)


@tangent(math.fabs, kind="float")
def _(z, x):
    z_dot = x_dot * math.copysign(1.0, x)


@adjoint(math.fabs)
def _(z, x):
    x_bar += z_bar * math.copysign(1.0, x)


@tangent(math.erf, kind="float")
def _(z, x):
    z_dot = x_dot * 1.1283791670955126 * math.exp(-x * x)


@adjoint(math.erf)
def _(z, x):
    x_bar += z_bar * 1.1283791670955126 * math.exp(-x * x)


# -- NumPy elementwise functions ---------------------------------------------------


@tangent(np.sin, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot * np.cos(x)


@adjoint(np.sin)
def _(z, x):
    x_bar += z_bar * np.cos(x)


@tangent(np.cos, elementwise=True, kind="same")
def _(z, x):
    z_dot = -x_dot * np.sin(x)


@adjoint(np.cos)
def _(z, x):
    x_bar += -z_bar * np.sin(x)


@tangent(np.tan, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot * (1.0 + z * z)


@adjoint(np.tan)
def _(z, x):
    x_bar += z_bar * (1.0 + z * z)


@tangent(np.exp, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot * z


@adjoint(np.exp)
def _(z, x):
    x_bar += z_bar * z


@tangent(np.log, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot / x


@adjoint(np.log)
def _(z, x):
    x_bar += z_bar / x


@tangent(np.log1p, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot / (1.0 + x)


@adjoint(np.log1p)
def _(z, x):
    x_bar += z_bar / (1.0 + x)


@tangent(np.sqrt, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot / (2.0 * z)


@adjoint(np.sqrt)
def _(z, x):
    x_bar += z_bar / (2.0 * z)


@tangent(np.tanh, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot * (1.0 - z * z)


@adjoint(np.tanh)
def _(z, x):
    x_bar += z_bar * (1.0 - z * z)


@tangent(np.sinh, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot * np.cosh(x)


@adjoint(np.sinh)
def _(z, x):
    x_bar += z_bar * np.cosh(x)


@tangent(np.cosh, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot * np.sinh(x)


@adjoint(np.cosh)
def _(z, x):
    x_bar += z_bar * np.sinh(x)


@tangent(np.arcsin, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot / np.sqrt(1.0 - x * x)


@adjoint(np.arcsin)
def _(z, x):
    x_bar += z_bar / np.sqrt(1.0 - x * x)


@tangent(np.arccos, elementwise=True, kind="same")
def _(z, x):
    z_dot = -x_dot / np.sqrt(1.0 - x * x)


@adjoint(np.arccos)
def _(z, x):
    x_bar += -z_bar / np.sqrt(1.0 - x * x)


@tangent(np.arctan, elementwise=True, kind="same")
def _(z, x):
    z_dot = x_dot / (1.0 + x * x)


@adjoint(np.arctan)
def _(z, x):
    x_bar += z_bar / (1.0 + x * x)


@tangent(np.square, elementwise=True, kind="same")
def _(z, x):
    z_dot = 2.0 * x * x_dot


@adjoint(np.square)
def _(z, x):
    x_bar += 2.0 * x * z_bar


@tangent(np.where, elementwise=True, kind="elementwise")
def _(z, condition, x, y):
    z_dot = np.where(condition, x_dot, y_dot)


@adjoint(np.where)
def _(z, condition, x, y):
    x_bar += np.where(condition, z_bar, 0.0)
    y_bar += np.where(condition, 0.0, z_bar)


# -- indexing and containers ---------------------------------------------------------


@tangent(operator.getitem, kind="any")
def _(z, x, index):
    z_dot = x_dot[index]


@tangent(operator.getitem, batched=True)
def _(z, x, index):
    z_dot = x_dot[_rt.batch_index(index)]


@adjoint(operator.getitem)
def _(z, x, index):
    x_bar += _rt.getitem_adjoint(z_bar, x, index)


@tangent(list, kind="list")
def _(z, x):
    z_dot = list(x_dot)


@tangent(list, batched=True)
def _(z, x):
    z_dot = _rt.list_directions(x_dot, x)


@adjoint(list)
def _(z, x):
    x_bar += _rt.list_source_adjoint(z_bar, x)


RULES[list].extra["sequence_operand"] = True


@tangent(tuple, kind="other")
def _(z, x):
    z_dot = tuple(x_dot)


@tangent(tuple, batched=True)
def _(z, x):
    z_dot = tuple(_rt.list_directions(x_dot, x))


@adjoint(tuple)
def _(z, x):
    x_bar += _rt.list_source_adjoint(z_bar, x)


RULES[tuple].extra["sequence_operand"] = True


# -- remainders: x - floor(x / y) * y (fmod: trunc), derivative 1 w.r.t. x almost everywhere ----


@tangent(operator.mod, np.mod, np.remainder, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot - y_dot * np.floor(x / y)


@adjoint(operator.mod, np.mod, np.remainder)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar * np.floor(x / y)


@tangent(np.fmod, elementwise=True, kind="arith")
def _(z, x, y):
    z_dot = x_dot - y_dot * np.trunc(x / y)


@adjoint(np.fmod)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar * np.trunc(x / y)


@tangent(math.fmod, kind="float")
def _(z, x, y):
    z_dot = x_dot - y_dot * math.trunc(x / y)


@adjoint(math.fmod)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar * math.trunc(x / y)


@tangent(divmod, np.divmod, kind="other")
def _(z, x, y):
    z_dot = (_rt.zeros_like(z[0]), x_dot - y_dot * np.floor(x / y))


@adjoint(divmod, np.divmod)
def _(z, x, y):
    x_bar += _rt.unbroadcast(_rt.item(z_bar, 1), x)
    y_bar += _rt.unbroadcast(-_rt.item(z_bar, 1) * np.floor(x / y), y)


@tangent(np.modf, kind="other")
def _(z, x):
    z_dot = (x_dot, _rt.zeros_like(z[1]))


@adjoint(np.modf)
def _(z, x):
    x_bar += _rt.item(z_bar, 0)


# -- copysign: |x| with the sign of y; derivative sign(x) sign(y) in x, 0 in y -------------


@tangent(math.copysign, kind="float")
def _(z, x, y):
    z_dot = x_dot * math.copysign(1.0, x) * math.copysign(1.0, y)


@adjoint(math.copysign)
def _(z, x, y):
    x_bar += z_bar * math.copysign(1.0, x) * math.copysign(1.0, y)


@tangent(np.copysign, elementwise=True, kind="elementwise")
def _(z, x, y):
    z_dot = x_dot * np.copysign(1.0, x) * np.copysign(1.0, y)


@adjoint(np.copysign)
def _(z, x, y):
    x_bar += z_bar * np.copysign(1.0, x) * np.copysign(1.0, y)


# -- functions with no derivative ----------------------------------------------------

nondifferentiable(
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    operator.eq,
    operator.ne,
    np.less,
    np.less_equal,
    np.greater,
    np.greater_equal,
    np.equal,
    np.not_equal,
    np.isnan,
    np.isinf,
    np.isfinite,
    np.logical_and,
    np.logical_or,
    np.logical_not,
    kind=K.mask,
)
nondifferentiable(operator.not_, operator.is_, operator.is_not, operator.contains, any, all, kind="bool")
nondifferentiable(len, int, kind="int")  # always one integer
nondifferentiable(round, math.floor, math.ceil, math.trunc, kind=K.integer_cast)  # `round(array)` is an array
nondifferentiable(operator.floordiv, kind=K.floor_division)  # `i // 2` an int, `idx // 2` an integer array
nondifferentiable(np.argmax, np.argmin, kind=K.position)
nondifferentiable(range, print, isinstance, str, kind="other")
nondifferentiable(hasattr, callable, kind="bool")


def _bitwise_kind(arg_kinds, keywords):
    """`~m`, `m1 & m2` of masks are masks; of integers, integers."""
    if arg_kinds and all(k == K.BOOL for k in arg_kinds):
        return K.BOOL
    if arg_kinds and all(k in (K.INT, K.BOOL) for k in arg_kinds):
        return K.INT
    return K.ANY


_BITWISE = {
    operator.invert: "~",
    operator.and_: "&",
    operator.or_: "|",
    operator.xor: "^",
    operator.lshift: "<<",
    operator.rshift: ">>",
    np.invert: "np.invert",
    np.bitwise_and: "np.bitwise_and",
    np.bitwise_or: "np.bitwise_or",
    np.bitwise_xor: "np.bitwise_xor",
    np.left_shift: "np.left_shift",
    np.right_shift: "np.right_shift",
}
nondifferentiable(*_BITWISE, kind=_bitwise_kind)
for _fn, _symbol in _BITWISE.items():  # booleans and integers only: a float operand is a mistake
    RULES[_fn].extra["refused"] = (
        f"`{_symbol}` is a bitwise operation on booleans and integers, and here it is given a "
        "differentiated float value"
    )
    RULES[_fn].extra["refused_hint"] = (
        "combine masks made by comparisons (`(x > 0) & (x < 1)`), or use np.logical_and / np.logical_or / "
        "np.logical_not"
    )
del _fn, _symbol
nondifferentiable(np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc, kind="same")
nondifferentiable(
    np.zeros,
    np.ones,
    np.zeros_like,
    np.ones_like,
    np.empty,
    np.eye,
    np.argsort,
    kind="array",
)
nondifferentiable(np.shape, kind="other")
nondifferentiable(np.ndim, np.size, kind="int")
nondifferentiable(stop_gradient, kind=same_kind)  # the value passes, the derivative stops
RULES[stop_gradient].name = "s2sad.stop_gradient"


# -- attributes of arrays ------------------------------------------------------------


@tangent(("attribute", "T"), kind="same")
def _(z, x):
    z_dot = x_dot.T


@tangent(("attribute", "T"), batched=True)
def _(z, x):
    z_dot = _rt.transpose_directions(x_dot)


@adjoint(("attribute", "T"))
def _(z, x):
    x_bar += z_bar.T


nondifferentiable(("attribute", "shape"), ("attribute", "dtype"), kind="other")
nondifferentiable(("attribute", "ndim"), ("attribute", "size"), kind="int")
