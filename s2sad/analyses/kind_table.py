"""The kind of each callee's result, the table the kinds analysis reads (`s2sad.analyses.activity`):
what a call returns (one float, an array, a bool, ...), from its operands' kinds where it depends on
them. A callee not listed returns `any` (a float or an array, not told apart), unless its rule was
registered with a kind of its own (`s2sad.rules.tangent(fn, kind=...)`, for a program's functions).

>>> from s2sad.rules import lookup
>>> result_kind(lookup(np.sin), [K.INT]), result_kind(lookup(np.sum), [K.ARRAY]), result_kind(lookup(len), [K.LIST])
('float', 'float', 'int')
>>> result_kind(lookup(operator.add), [K.INT, K.INT]), result_kind(lookup(np.matmul), [K.ARRAY, K.ARRAY])
('int', 'any')
"""

import math
import operator

import numpy as np

from .. import kinds as K
from .. import runtime as _rt
from ..runtime import numpy_helpers as _nr
from ..runtime.custom import stop_gradient

# (kind, callees): a kind is a name below (see `result_kind`) or a function of the operands' kinds
# and the call's keywords (their source text) in `s2sad.kinds`
TABLE = (
    # always one float
    (
        "float",
        (
            float,
            np.ndarray.item,
            math.sin,
            math.cos,
            math.tan,
            math.exp,
            math.expm1,
            math.log,
            math.log1p,
            math.log2,
            math.log10,
            math.sqrt,
            math.tanh,
            math.sinh,
            math.cosh,
            math.asin,
            math.acos,
            math.atan,
            math.atan2,
            math.hypot,
            math.pow,
            math.fabs,
            math.erf,
            math.fmod,
            math.copysign,
            _nr.norm_order,
            _nr.norm_power,
        ),
    ),
    # always one integer
    (
        "int",
        (
            len,
            int,
            np.ndim,
            np.size,
            ("attribute", "ndim"),
            ("attribute", "size"),
        ),
    ),
    # always one bool
    (
        "bool",
        (
            operator.not_,
            operator.is_,
            operator.is_not,
            operator.contains,
            any,
            all,
            hasattr,
            callable,
            np.allclose,
            np.array_equal,
            _rt.svd_supported,
            _rt.eig_supported,
            _rt.qr_supported,
        ),
    ),
    # like the first operand, int and bool made float (a NumPy function of a number is a float)
    (
        "same",
        (
            np.sin,
            np.cos,
            np.tan,
            np.exp,
            np.log,
            np.log1p,
            np.sqrt,
            np.tanh,
            np.sinh,
            np.cosh,
            np.arcsin,
            np.arccos,
            np.arctan,
            np.square,
            np.sign,
            np.floor,
            np.ceil,
            np.round,
            np.rint,
            np.trunc,
            ("attribute", "T"),
            np.arcsinh,
            np.arccosh,
            np.arctanh,
            np.exp2,
            np.expm1,
            np.log2,
            np.log10,
            np.cbrt,
            np.reciprocal,
            np.deg2rad,
            np.radians,
            np.rad2deg,
            np.degrees,
            np.sinc,
            np.clip,
            np.ndarray.clip,
            np.copy,
            np.ndarray.copy,
            np.ndarray.astype,
            np.around,
            np.fix,
            np.floor_divide,
            np.heaviside,
            _rt.unbroadcast,
            _rt.copy,
            _rt.check_scalar,
            _rt.zeros_like,
            _nr.real_only,
            _nr.nonfinite_replaced,
        ),
    ),
    # the operands broadcast: an array with an array operand, an int of ints
    (
        "arith",
        (
            operator.add,
            np.add,
            operator.sub,
            np.subtract,
            operator.mul,
            np.multiply,
            operator.pow,
            np.power,
            operator.neg,
            np.negative,
            abs,
            np.abs,
            max,
            np.maximum,
            np.fmax,
            min,
            np.minimum,
            np.fmin,
            operator.mod,
            np.mod,
            np.fmod,
        ),
    ),
    # the operands broadcast, made float
    (
        "elementwise",
        (
            operator.truediv,
            np.divide,
            np.where,
            np.copysign,
            np.hypot,
            np.arctan2,
            np.logaddexp,
            np.logaddexp2,
            np.float_power,
        ),
    ),
    # an array
    (
        "array",
        (
            np.zeros,
            np.ones,
            np.zeros_like,
            np.ones_like,
            np.empty,
            np.eye,
            np.outer,
            np.cumsum,
            np.ndarray.cumsum,
            np.cumprod,
            np.ndarray.cumprod,
            np.reshape,
            np.ndarray.reshape,
            np.ravel,
            np.ndarray.ravel,
            np.ndarray.flatten,
            np.transpose,
            np.ndarray.transpose,
            np.swapaxes,
            np.ndarray.swapaxes,
            np.moveaxis,
            np.squeeze,
            np.ndarray.squeeze,
            np.expand_dims,
            np.concatenate,
            np.stack,
            np.hstack,
            np.vstack,
            np.tile,
            np.repeat,
            np.ndarray.repeat,
            np.broadcast_to,
            np.flip,
            np.roll,
            np.pad,
            np.tril,
            np.triu,
            np.sort,
            np.linalg.solve,
            np.linalg.inv,
            np.linalg.cholesky,
            np.linalg.pinv,
            np.array,
            np.asarray,
            np.full,
            np.full_like,
            np.arange,
            np.empty_like,
            np.identity,
            np.tri,
            np.indices,
            np.triu_indices,
            np.tril_indices,
            np.diag_indices,
            np.random.normal,
            np.random.uniform,
            np.random.rand,
            np.random.randn,
            np.random.randint,
            np.random.choice,
            np.random.permutation,
            np.random.standard_normal,
            np.random.random,
        ),
    ),
    # a Python list
    (
        "list",
        (
            list,
            np.ndarray.tolist,
            _rt.list_like,
            _rt.list_add,
            _nr.concatenate_adjoint,
            _nr.stack_adjoint,
            _rt.list_cotangent,
        ),
    ),
    # no number: a tuple, a shape, a string, None, a range
    (
        "other",
        (
            tuple,
            divmod,
            np.divmod,
            np.modf,
            range,
            print,
            isinstance,
            str,
            np.shape,
            ("attribute", "shape"),
            ("attribute", "dtype"),
            np.split,
            np.linalg.slogdet,
            np.linalg.eigh,
            np.linalg.eig,
            np.result_type,
            np.broadcast_shapes,
            slice,
            _rt.check_not_tree,
            _rt.at_shape,
            _rt.along_axis_index,
            _rt.at_positions,
            _rt.put_index,
            _rt.put_source,
            _rt.mask_index,
            _rt.place_source,
            _rt.putmask_source,
            _rt.r_shape,
            _rt.c_shape,
            _nr.hstack_adjoint,
            _nr.vstack_adjoint,
            _nr.split_tangent,
            _rt.batch_axis,
            _rt.batch_index,
            _nr.kron_shapes,
            _nr.split_points,
            _nr.rollaxis_move,
            _nr.diag_padding,
            _nr.diagonal_plan,
            _nr.gradient_axes,
            _nr.flat_along,
            _nr.item_adjoint,
        ),
    ),
    # a bool of numbers, a boolean array of an array
    (
        K.mask,
        (
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
            np.signbit,
            np.logical_xor,
            np.isclose,
            np.isneginf,
            np.isposinf,
        ),
    ),
    # an int of a number, an integer array of an array
    (
        K.integer_cast,
        (
            round,
            math.floor,
            math.ceil,
            math.trunc,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint32,
            np.uint64,
        ),
    ),
    # `i // 2` an int, `idx // 2` an integer array
    (
        K.floor_division,
        (operator.floordiv,),
    ),
    # one integer over the whole array, an array along an axis
    (
        K.position,
        (
            np.argmax,
            np.argmin,
        ),
    ),
    # a bool; along an axis, unknown
    (
        K.any_all,
        (
            np.any,
            np.all,
            np.ndarray.any,
            np.ndarray.all,
        ),
    ),
    # a full reduction is a float; along an axis, unknown
    (
        K.reduction,
        (
            np.sum,
            np.ndarray.sum,
            np.mean,
            np.ndarray.mean,
            np.prod,
            np.ndarray.prod,
            np.max,
            np.amax,
            np.ndarray.max,
            np.min,
            np.amin,
            np.ndarray.min,
            np.var,
            np.ndarray.var,
            np.std,
            np.ndarray.std,
            np.linalg.norm,
        ),
    ),
    # an array, or a tuple with `retstep=True`
    (
        K.linspace,
        (np.linspace,),
    ),
    # masks of masks, integers of integers
    (
        K.bitwise,
        (
            operator.invert,
            operator.and_,
            operator.or_,
            operator.xor,
            operator.lshift,
            operator.rshift,
            np.invert,
            np.bitwise_and,
            np.bitwise_or,
            np.bitwise_xor,
            np.left_shift,
            np.right_shift,
        ),
    ),
    # the operand's own kind
    (
        K.first_operand,
        (stop_gradient,),
    ),
)

KINDS = {fn: kind for kind, fns in TABLE for fn in fns}


def result_kind(rule, arg_kinds, keywords=()):
    """The kind of the result of a call of `rule`'s callee on operands of `arg_kinds`."""
    kind = rule.kind if rule.kind is not None else KINDS.get(rule.key, K.ANY)
    if callable(kind):
        return kind(arg_kinds, keywords)
    if kind == "arith":  # int op int stays int
        return K.broadcast(arg_kinds)
    if kind == "elementwise":
        return K.as_float(K.broadcast(arg_kinds))
    if kind == "same":
        return K.as_float(arg_kinds[0]) if arg_kinds else K.ANY
    if kind == "reduce":
        if "axis" in keywords and keywords["axis"] != "None":
            return K.ANY
        return K.FLOAT if arg_kinds and arg_kinds[0] in (K.ARRAY, K.FLOAT, K.INT, K.BOOL) else K.ANY
    return {
        "float": K.FLOAT,
        "int": K.INT,
        "bool": K.BOOL,
        "array": K.ARRAY,
        "list": K.LIST,
        "other": K.OTHER,
    }.get(kind, K.ANY)
