"""Rules for Python's operators, builtins, `math`, and NumPy's elementwise core.

Each rule is two templates; see `s2sad.rules` for the template language. The tangent
for vector forward mode (`jacfwd`) is derived from the plain one (`s2sad.rules.batching`);
the one written by hand (`batched=True`) says why.

>>> from s2sad.rules import lookup
>>> lookup(operator.mul).elementwise, lookup(len).differentiable
(True, False)
"""

import math
import operator

import numpy as np

from .. import runtime as _rt  # noqa: F401  (templates name it)
from ..runtime.custom import stop_gradient
from . import RULES, adjoint, nondifferentiable, tangent

# -- arithmetic operators (also the NumPy ufuncs they stand for) ---------------


@tangent(operator.add, np.add, elementwise=True)
def _(z, x, y):
    z_dot = x_dot + y_dot


@adjoint(operator.add, np.add)
def _(z, x, y):
    x_bar += z_bar
    y_bar += z_bar


@tangent(operator.sub, np.subtract, elementwise=True)
def _(z, x, y):
    z_dot = x_dot - y_dot


@adjoint(operator.sub, np.subtract)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar


@tangent(operator.mul, np.multiply, elementwise=True)
def _(z, x, y):
    z_dot = x_dot * y + x * y_dot


@adjoint(operator.mul, np.multiply)
def _(z, x, y):
    x_bar += z_bar * y
    y_bar += x * z_bar


@tangent(operator.truediv, np.divide, np.true_divide, elementwise=True)
def _(z, x, y):
    z_dot = x_dot / y - z * y_dot / y


@adjoint(operator.truediv, np.divide, np.true_divide)
def _(z, x, y):
    x_bar += z_bar / y
    y_bar += -z_bar * z / y


@adjoint(operator.truediv, np.divide, np.true_divide, constant="x")
def _(z, x, y):
    y_bar += -z_bar * z * z / x


@tangent(operator.pow, np.power, elementwise=True)
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


@tangent(operator.neg, np.negative, elementwise=True)
def _(z, x):
    z_dot = -x_dot


@adjoint(operator.neg, np.negative)
def _(z, x):
    x_bar += -z_bar


@tangent(abs, np.abs, np.absolute, elementwise=True)
def _(z, x):
    z_dot = x_dot * np.sign(x)


@adjoint(abs, np.abs, np.absolute)
def _(z, x):
    x_bar += z_bar * np.sign(x)


@tangent(float)
def _(z, x):
    z_dot = x_dot


# by hand: the plain tangent passes `x_dot` on, and a one-element array's directions must become one axis
@tangent(float, batched=True)
def _(z, x):
    z_dot = np.reshape(x_dot, -1)


@adjoint(float)
def _(z, x):
    x_bar += z_bar


# `a.item()` of a size-1 array (an array of one element, or a 0-d one) is its one value as a float
@tangent(np.ndarray.item)
def _(z, x):
    z_dot = np.reshape(x_dot, ())


@adjoint(np.ndarray.item)
def _(z, x):
    x_bar += np.reshape(z_bar, np.shape(x))


# -- max / min: ties go to the first argument ------------------------------------


@tangent(max, np.maximum, np.fmax, elementwise=True)
def _(z, x, y):
    z_dot = x_dot * (x >= y) + y_dot * (x < y)


@adjoint(max, np.maximum, np.fmax)
def _(z, x, y):
    x_bar += z_bar * (x >= y)
    y_bar += z_bar * (x < y)


@tangent(min, np.minimum, np.fmin, elementwise=True)
def _(z, x, y):
    z_dot = x_dot * (x <= y) + y_dot * (x > y)


@adjoint(min, np.minimum, np.fmin)
def _(z, x, y):
    x_bar += z_bar * (x <= y)
    y_bar += z_bar * (x > y)


# -- math: scalar functions -------------------------------------------------------


@tangent(math.sin)
def _(z, x):
    z_dot = x_dot * math.cos(x)


@adjoint(math.sin)
def _(z, x):
    x_bar += z_bar * math.cos(x)


@tangent(math.cos)
def _(z, x):
    z_dot = -x_dot * math.sin(x)


@adjoint(math.cos)
def _(z, x):
    x_bar += -z_bar * math.sin(x)


@tangent(math.tan)
def _(z, x):
    z_dot = x_dot * (1.0 + z * z)


@adjoint(math.tan)
def _(z, x):
    x_bar += z_bar * (1.0 + z * z)


@tangent(math.exp)
def _(z, x):
    z_dot = x_dot * z


@adjoint(math.exp)
def _(z, x):
    x_bar += z_bar * z


@tangent(math.expm1)
def _(z, x):
    z_dot = x_dot * (z + 1.0)


@adjoint(math.expm1)
def _(z, x):
    x_bar += z_bar * (z + 1.0)


@tangent(math.log)
def _(z, x, base=math.e):
    z_dot = x_dot / (x * math.log(base))


@adjoint(math.log)
def _(z, x, base=math.e):
    x_bar += z_bar / (x * math.log(base))


@tangent(math.log1p)
def _(z, x):
    z_dot = x_dot / (1.0 + x)


@adjoint(math.log1p)
def _(z, x):
    x_bar += z_bar / (1.0 + x)


@tangent(math.log2)
def _(z, x):
    z_dot = x_dot / (x * math.log(2.0))


@adjoint(math.log2)
def _(z, x):
    x_bar += z_bar / (x * math.log(2.0))


@tangent(math.log10)
def _(z, x):
    z_dot = x_dot / (x * math.log(10.0))


@adjoint(math.log10)
def _(z, x):
    x_bar += z_bar / (x * math.log(10.0))


@tangent(math.sqrt)
def _(z, x):
    z_dot = x_dot / (2.0 * z)


@adjoint(math.sqrt)
def _(z, x):
    x_bar += z_bar / (2.0 * z)


@tangent(math.tanh)
def _(z, x):
    z_dot = x_dot * (1.0 - z * z)


@adjoint(math.tanh)
def _(z, x):
    x_bar += z_bar * (1.0 - z * z)


@tangent(math.sinh)
def _(z, x):
    z_dot = x_dot * math.cosh(x)


@adjoint(math.sinh)
def _(z, x):
    x_bar += z_bar * math.cosh(x)


@tangent(math.cosh)
def _(z, x):
    z_dot = x_dot * math.sinh(x)


@adjoint(math.cosh)
def _(z, x):
    x_bar += z_bar * math.sinh(x)


@tangent(math.asin)
def _(z, x):
    z_dot = x_dot / math.sqrt(1.0 - x * x)


@adjoint(math.asin)
def _(z, x):
    x_bar += z_bar / math.sqrt(1.0 - x * x)


@tangent(math.acos)
def _(z, x):
    z_dot = -x_dot / math.sqrt(1.0 - x * x)


@adjoint(math.acos)
def _(z, x):
    x_bar += -z_bar / math.sqrt(1.0 - x * x)


@tangent(math.atan)
def _(z, x):
    z_dot = x_dot / (1.0 + x * x)


@adjoint(math.atan)
def _(z, x):
    x_bar += z_bar / (1.0 + x * x)


@tangent(math.atan2)
def _(z, y, x):
    z_dot = (y_dot * x - x_dot * y) / (x * x + y * y)


@adjoint(math.atan2)
def _(z, y, x):
    y_bar += z_bar * x / (x * x + y * y)
    x_bar += -z_bar * y / (x * x + y * y)


@tangent(math.hypot)
def _(z, x, y):
    z_dot = (x_dot * x + y_dot * y) / z


@adjoint(math.hypot)
def _(z, x, y):
    x_bar += z_bar * x / z
    y_bar += z_bar * y / z


@tangent(math.pow)
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


@tangent(math.fabs)
def _(z, x):
    z_dot = x_dot * math.copysign(1.0, x)


@adjoint(math.fabs)
def _(z, x):
    x_bar += z_bar * math.copysign(1.0, x)


@tangent(math.erf)
def _(z, x):
    z_dot = x_dot * 1.1283791670955126 * math.exp(-x * x)


@adjoint(math.erf)
def _(z, x):
    x_bar += z_bar * 1.1283791670955126 * math.exp(-x * x)


# -- NumPy elementwise functions ---------------------------------------------------


@tangent(np.sin, elementwise=True)
def _(z, x):
    z_dot = x_dot * np.cos(x)


@adjoint(np.sin)
def _(z, x):
    x_bar += z_bar * np.cos(x)


@tangent(np.cos, elementwise=True)
def _(z, x):
    z_dot = -x_dot * np.sin(x)


@adjoint(np.cos)
def _(z, x):
    x_bar += -z_bar * np.sin(x)


@tangent(np.tan, elementwise=True)
def _(z, x):
    z_dot = x_dot * (1.0 + z * z)


@adjoint(np.tan)
def _(z, x):
    x_bar += z_bar * (1.0 + z * z)


@tangent(np.exp, elementwise=True)
def _(z, x):
    z_dot = x_dot * z


@adjoint(np.exp)
def _(z, x):
    x_bar += z_bar * z


@tangent(np.log, elementwise=True)
def _(z, x):
    z_dot = x_dot / x


@adjoint(np.log)
def _(z, x):
    x_bar += z_bar / x


@tangent(np.log1p, elementwise=True)
def _(z, x):
    z_dot = x_dot / (1.0 + x)


@adjoint(np.log1p)
def _(z, x):
    x_bar += z_bar / (1.0 + x)


@tangent(np.sqrt, elementwise=True)
def _(z, x):
    z_dot = x_dot / (2.0 * z)


@adjoint(np.sqrt)
def _(z, x):
    x_bar += z_bar / (2.0 * z)


@tangent(np.tanh, elementwise=True)
def _(z, x):
    z_dot = x_dot * (1.0 - z * z)


@adjoint(np.tanh)
def _(z, x):
    x_bar += z_bar * (1.0 - z * z)


@tangent(np.sinh, elementwise=True)
def _(z, x):
    z_dot = x_dot * np.cosh(x)


@adjoint(np.sinh)
def _(z, x):
    x_bar += z_bar * np.cosh(x)


@tangent(np.cosh, elementwise=True)
def _(z, x):
    z_dot = x_dot * np.sinh(x)


@adjoint(np.cosh)
def _(z, x):
    x_bar += z_bar * np.sinh(x)


@tangent(np.arcsin, elementwise=True)
def _(z, x):
    z_dot = x_dot / np.sqrt(1.0 - x * x)


@adjoint(np.arcsin)
def _(z, x):
    x_bar += z_bar / np.sqrt(1.0 - x * x)


@tangent(np.arccos, elementwise=True)
def _(z, x):
    z_dot = -x_dot / np.sqrt(1.0 - x * x)


@adjoint(np.arccos)
def _(z, x):
    x_bar += -z_bar / np.sqrt(1.0 - x * x)


@tangent(np.arctan, elementwise=True)
def _(z, x):
    z_dot = x_dot / (1.0 + x * x)


@adjoint(np.arctan)
def _(z, x):
    x_bar += z_bar / (1.0 + x * x)


@tangent(np.square, elementwise=True)
def _(z, x):
    z_dot = 2.0 * x * x_dot


@adjoint(np.square)
def _(z, x):
    x_bar += 2.0 * x * z_bar


@tangent(np.where, elementwise=True)
def _(z, condition, x, y):
    z_dot = np.where(condition, x_dot, y_dot)


@adjoint(np.where)
def _(z, condition, x, y):
    x_bar += np.where(condition, z_bar, 0.0)
    y_bar += np.where(condition, 0.0, z_bar)


# -- indexing and containers ---------------------------------------------------------


@tangent(operator.getitem)
def _(z, x, index):
    z_dot = x_dot[index]


@adjoint(operator.getitem)
def _(z, x, index):
    x_bar += _rt.getitem_adjoint(z_bar, x, index)


@tangent(list)
def _(z, x):
    z_dot = list(x_dot)


@adjoint(list)
def _(z, x):
    x_bar += _rt.list_source_adjoint(z_bar, x)


RULES[list].extra["sequence_operand"] = True


@tangent(tuple)
def _(z, x):
    z_dot = tuple(x_dot)


@adjoint(tuple)
def _(z, x):
    x_bar += _rt.list_source_adjoint(z_bar, x)


RULES[tuple].extra["sequence_operand"] = True


# -- remainders: x - floor(x / y) * y (fmod: trunc), derivative 1 w.r.t. x almost everywhere ----


@tangent(operator.mod, np.mod, np.remainder, elementwise=True)
def _(z, x, y):
    z_dot = x_dot - y_dot * np.floor(x / y)


@adjoint(operator.mod, np.mod, np.remainder)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar * np.floor(x / y)


@tangent(np.fmod, elementwise=True)
def _(z, x, y):
    z_dot = x_dot - y_dot * np.trunc(x / y)


@adjoint(np.fmod)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar * np.trunc(x / y)


@tangent(math.fmod)
def _(z, x, y):
    z_dot = x_dot - y_dot * math.trunc(x / y)


@adjoint(math.fmod)
def _(z, x, y):
    x_bar += z_bar
    y_bar += -z_bar * math.trunc(x / y)


@tangent(divmod, np.divmod)
def _(z, x, y):
    z_dot = (_rt.zeros_like(z[0]), x_dot - y_dot * np.floor(x / y))


@adjoint(divmod, np.divmod)
def _(z, x, y):
    x_bar += _rt.unbroadcast(_rt.item(z_bar, 1), x)
    y_bar += _rt.unbroadcast(-_rt.item(z_bar, 1) * np.floor(x / y), y)


@tangent(np.modf)
def _(z, x):
    z_dot = (x_dot, _rt.zeros_like(z[1]))


@adjoint(np.modf)
def _(z, x):
    x_bar += _rt.item(z_bar, 0)


# -- copysign: |x| with the sign of y; derivative sign(x) sign(y) in x, 0 in y -------------


@tangent(math.copysign)
def _(z, x, y):
    z_dot = x_dot * math.copysign(1.0, x) * math.copysign(1.0, y)


@adjoint(math.copysign)
def _(z, x, y):
    x_bar += z_bar * math.copysign(1.0, x) * math.copysign(1.0, y)


@tangent(np.copysign, elementwise=True)
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
)
nondifferentiable(operator.not_, operator.is_, operator.is_not, operator.contains, any, all)
nondifferentiable(len, int)
nondifferentiable(round, math.floor, math.ceil, math.trunc)
nondifferentiable(operator.floordiv)
nondifferentiable(np.argmax, np.argmin)
nondifferentiable(range, print, isinstance, str)
nondifferentiable(hasattr, callable)


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
nondifferentiable(*_BITWISE)
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
nondifferentiable(np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc)
nondifferentiable(
    np.zeros,
    np.ones,
    np.zeros_like,
    np.ones_like,
    np.empty,
    np.eye,
    np.argsort,
)
nondifferentiable(np.shape)
nondifferentiable(np.ndim, np.size)
nondifferentiable(stop_gradient)  # the value passes, the derivative stops
RULES[stop_gradient].name = "s2sad.stop_gradient"


# -- attributes of arrays ------------------------------------------------------------


@tangent(("attribute", "T"))
def _(z, x):
    z_dot = x_dot.T


@adjoint(("attribute", "T"))
def _(z, x):
    x_bar += z_bar.T


nondifferentiable(("attribute", "shape"), ("attribute", "dtype"))
nondifferentiable(("attribute", "ndim"), ("attribute", "size"))
