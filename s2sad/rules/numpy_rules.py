"""Rules for NumPy beyond the elementwise core: products, reductions, shapes, linear algebra.

Templates follow `s2sad.rules`: first parameter the result, then the operands;
keyword parameters are bound from the call. Non-elementwise adjoints return
exactly the operand's shape; the run-time pieces are in `s2sad.runtime.numpy_helpers`.

The tangents for vector forward mode (`jacfwd`), every `x_dot` with a leading axis of
directions, are derived from these (`s2sad.rules.batching`); rules it cannot derive are
applied direction by direction there.

Conventions worth knowing:

- `max`/`min` (and `norm(ord=inf)`): a tie splits the derivative equally among
  the tied entries, so the gradient of `np.max([1, 3, 3])` is `[0, .5, .5]`.
  The elementwise `np.maximum`/`np.minimum` give ties to the first argument.
- `np.std` where the values do not spread (one value, or all equal) is not differentiable;
  its derivative there is taken as 0 (a subgradient, as `abs` at 0), never nan.
- `x ** y` at `x = 0`: the derivative w.r.t. `y` is 0 (where `0 ** y` is 0), and w.r.t. `x` is 0
  when `y = 0` (`x ** 0` is 1 everywhere).
- `np.clip`: a value equal to a bound counts as inside (its derivative goes to `a`).
- `cholesky` and `eigh` assume symmetric inputs: tangents must be symmetric and
  the adjoints returned are symmetrized.

>>> from s2sad.rules import lookup
>>> lookup(np.matmul).name, lookup(np.ndarray.sum).name, lookup(np.linalg.solve).name
('numpy.matmul', 'numpy.ndarray.sum', 'numpy.linalg.solve')
>>> lookup(np.argmax).differentiable, lookup(np.hypot).elementwise
(False, True)
"""

import ast
import operator

import numpy as np

from .. import runtime as _rt  # noqa: F401  (templates name it)
from . import RULES, adjoint, nondifferentiable, tangent

# -- products -------------------------------------------------------------------------------


@tangent(operator.matmul, np.matmul)
def _(z, a, b):
    z_dot = a_dot @ b + a @ b_dot


@adjoint(operator.matmul, np.matmul)
def _(z, a, b):
    a_bar += _rt.matmul_adjoint_x(z_bar, a, b)
    b_bar += _rt.matmul_adjoint_y(z_bar, a, b)


@tangent(np.dot, np.ndarray.dot)
def _(z, a, b):
    z_dot = np.dot(a_dot, b) + np.dot(a, b_dot)


@adjoint(np.dot, np.ndarray.dot)
def _(z, a, b):
    a_bar += _rt.bilinear_adjoint(z_bar, _rt.dot_subscripts(a, b), 0, a, b)
    b_bar += _rt.bilinear_adjoint(z_bar, _rt.dot_subscripts(a, b), 1, a, b)


@tangent(np.inner)
def _(z, a, b):
    z_dot = np.inner(a_dot, b) + np.inner(a, b_dot)


@adjoint(np.inner)
def _(z, a, b):
    a_bar += _rt.bilinear_adjoint(z_bar, _rt.inner_subscripts(a, b), 0, a, b)
    b_bar += _rt.bilinear_adjoint(z_bar, _rt.inner_subscripts(a, b), 1, a, b)


@tangent(np.outer)
def _(z, a, b):
    z_dot = np.outer(a_dot, b) + np.outer(a, b_dot)


@adjoint(np.outer)
def _(z, a, b):
    a_bar += _rt.outer_adjoint_x(z_bar, a, b)
    b_bar += _rt.outer_adjoint_y(z_bar, a, b)


@tangent(np.tensordot)
def _(z, a, b, axes=2):
    z_dot = np.tensordot(a_dot, b, axes) + np.tensordot(a, b_dot, axes)


@adjoint(np.tensordot)
def _(z, a, b, axes=2):
    a_bar += _rt.einsum_adjoint(z_bar, _rt.tensordot_subscripts(a, b, axes), 0, a, b)
    b_bar += _rt.einsum_adjoint(z_bar, _rt.tensordot_subscripts(a, b, axes), 1, a, b)


@tangent(np.einsum)
def _(z, subscripts, a, b=None, c=None, out=None, optimize=False):
    z_dot = _rt.einsum_tangent(subscripts, a, b, c, a_dot, b_dot, c_dot)


@adjoint(np.einsum)
def _(z, subscripts, a, b=None, c=None, out=None, optimize=False):
    a_bar += _rt.einsum_adjoint(z_bar, subscripts, 0, a, b, c)
    b_bar += _rt.einsum_adjoint(z_bar, subscripts, 1, a, b, c)
    c_bar += _rt.einsum_adjoint(z_bar, subscripts, 2, a, b, c)


def _einsum_refusal(args, keywords, globals_):
    """The sublist form `np.einsum(x, [0, 1], [1, 0])` (its first argument is an operand, not a
    string) is refused at the user's line: its first operand would take a constant's place. A
    module name (one of `globals_`) may hold the subscripts."""
    first = args[0] if args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return None
    if isinstance(first, ast.Name) and first.id in globals_:
        return None
    return (
        "np.einsum is differentiated with its subscripts written as a string (the sublist form "
        "np.einsum(x, [0, 1], [1, 0]) and subscripts in a local variable are not supported)",
        "write the subscripts as a string literal, e.g. np.einsum('ij->ji', x)",
    )


RULES[np.einsum].extra["refuse"] = _einsum_refusal


@tangent(np.trace, np.ndarray.trace)
def _(z, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    z_dot = np.trace(a_dot, offset, axis1, axis2)


@adjoint(np.trace, np.ndarray.trace)
def _(z, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    a_bar += _rt.trace_adjoint(z_bar, a, offset, axis1, axis2)


# -- reductions (these replace the axis-less ones of core) -------------------------------------------


@tangent(np.sum, np.ndarray.sum)
def _(z, x, axis=None, dtype=None, out=None, keepdims=False):
    z_dot = np.sum(x_dot, axis=axis, keepdims=keepdims)


@adjoint(np.sum, np.ndarray.sum)
def _(z, x, axis=None, dtype=None, out=None, keepdims=False):
    x_bar += _rt.unreduce(z_bar, x, axis, keepdims)


@tangent(np.mean, np.ndarray.mean)
def _(z, x, axis=None, dtype=None, out=None, keepdims=False):
    z_dot = np.mean(x_dot, axis=axis, keepdims=keepdims)


@adjoint(np.mean, np.ndarray.mean)
def _(z, x, axis=None, dtype=None, out=None, keepdims=False):
    x_bar += _rt.unreduce(z_bar, x, axis, keepdims) * _rt.mean_partials(x, axis)


@tangent(np.prod, np.ndarray.prod)
def _(z, x, axis=None, dtype=None, out=None, keepdims=False):
    p = _rt.prod_partials(x, axis)
    z_dot = np.sum(x_dot * p, axis=axis, keepdims=keepdims)


@adjoint(np.prod, np.ndarray.prod)
def _(z, x, axis=None, dtype=None, out=None, keepdims=False):
    x_bar += _rt.unreduce(z_bar, x, axis, keepdims) * _rt.prod_partials(x, axis)


@tangent(np.max, np.amax, np.ndarray.max, np.min, np.amin, np.ndarray.min)
def _(z, x, axis=None, out=None, keepdims=False):
    w = _rt.extremum_weights(x, z, axis)
    z_dot = np.sum(x_dot * w, axis=axis, keepdims=keepdims)


@adjoint(np.max, np.amax, np.ndarray.max, np.min, np.amin, np.ndarray.min)
def _(z, x, axis=None, out=None, keepdims=False):
    x_bar += _rt.unreduce(z_bar, x, axis, keepdims) * _rt.extremum_weights(x, z, axis)


@tangent(np.var, np.ndarray.var)
def _(z, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    p = _rt.var_partials(x, axis, ddof)
    z_dot = np.sum(x_dot * p, axis=axis, keepdims=keepdims)


@adjoint(np.var, np.ndarray.var)
def _(z, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    x_bar += _rt.unreduce(z_bar, x, axis, keepdims) * _rt.var_partials(x, axis, ddof)


@tangent(np.std, np.ndarray.std)
def _(z, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    p = _rt.var_partials(x, axis, ddof)
    z_dot = np.sum(x_dot * p, axis=axis, keepdims=keepdims) * _rt.half_inverse(z)


@adjoint(np.std, np.ndarray.std)
def _(z, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    x_bar += _rt.unreduce(z_bar * _rt.half_inverse(z), x, axis, keepdims) * _rt.var_partials(x, axis, ddof)


@tangent(np.cumsum, np.ndarray.cumsum)
def _(z, x, axis=None, dtype=None, out=None):
    z_dot = np.cumsum(x_dot, axis=axis)


@adjoint(np.cumsum, np.ndarray.cumsum)
def _(z, x, axis=None, dtype=None, out=None):
    x_bar += _rt.cumsum_adjoint(z_bar, x, axis)


@tangent(np.cumprod, np.ndarray.cumprod)
def _(z, x, axis=None, dtype=None, out=None):
    z_dot = _rt.cumprod_tangent(x_dot, x, axis)


@adjoint(np.cumprod, np.ndarray.cumprod)
def _(z, x, axis=None, dtype=None, out=None):
    x_bar += _rt.cumprod_adjoint(z_bar, x, axis)


@tangent(np.linalg.norm)
def _(z, x, ord=None, axis=None, keepdims=False):
    p = _rt.norm_partials(x, z, ord, axis, keepdims)
    z_dot = np.sum(x_dot * p, axis=axis, keepdims=keepdims)


@adjoint(np.linalg.norm)
def _(z, x, ord=None, axis=None, keepdims=False):
    x_bar += _rt.unreduce(z_bar, x, axis, keepdims) * _rt.norm_partials(x, z, ord, axis, keepdims)


# -- shapes -------------------------------------------------------------------------------


@tangent(np.reshape)
def _(z, a, shape=None, order="C", newshape=None, copy=None):
    z_dot = np.reshape(a_dot, np.shape(z), order=order)


@adjoint(np.reshape)
def _(z, a, shape=None, order="C", newshape=None, copy=None):
    a_bar += np.reshape(z_bar, np.shape(a), order=order)


@tangent(np.ndarray.reshape)
def _(z, a, *shape, order="C", copy=None):
    z_dot = np.reshape(a_dot, np.shape(z), order=order)


@adjoint(np.ndarray.reshape)
def _(z, a, *shape, order="C", copy=None):
    a_bar += np.reshape(z_bar, np.shape(a), order=order)


@tangent(np.ravel, np.ndarray.ravel, np.ndarray.flatten)
def _(z, a, order="C"):
    z_dot = np.ravel(a_dot, order=order)


@adjoint(np.ravel, np.ndarray.ravel, np.ndarray.flatten)
def _(z, a, order="C"):
    a_bar += np.reshape(z_bar, np.shape(a), order=order)


@tangent(np.transpose)
def _(z, a, axes=None):
    z_dot = np.transpose(a_dot, axes)


@adjoint(np.transpose)
def _(z, a, axes=None):
    a_bar += _rt.transpose_adjoint(z_bar, axes)


@tangent(np.ndarray.transpose)
def _(z, a, *axes):
    z_dot = np.transpose(a_dot, _rt.method_axes(axes))


@adjoint(np.ndarray.transpose)
def _(z, a, *axes):
    a_bar += _rt.transpose_adjoint(z_bar, _rt.method_axes(axes))


@tangent(np.swapaxes, np.ndarray.swapaxes)
def _(z, a, axis1, axis2):
    z_dot = np.swapaxes(a_dot, axis1, axis2)


@adjoint(np.swapaxes, np.ndarray.swapaxes)
def _(z, a, axis1, axis2):
    a_bar += np.swapaxes(z_bar, axis1, axis2)


@tangent(np.moveaxis)
def _(z, a, source, destination):
    z_dot = np.moveaxis(a_dot, source, destination)


@adjoint(np.moveaxis)
def _(z, a, source, destination):
    a_bar += np.moveaxis(z_bar, destination, source)


@tangent(np.squeeze, np.ndarray.squeeze)
def _(z, a, axis=None):
    z_dot = np.reshape(a_dot, np.shape(z))


@adjoint(np.squeeze, np.ndarray.squeeze)
def _(z, a, axis=None):
    a_bar += np.reshape(z_bar, np.shape(a))


@tangent(np.expand_dims)
def _(z, a, axis):
    z_dot = np.reshape(a_dot, np.shape(z))


@adjoint(np.expand_dims)
def _(z, a, axis):
    a_bar += np.reshape(z_bar, np.shape(a))


@tangent(np.concatenate)
def _(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    z_dot = np.concatenate(arrays_dot, axis=axis)


@adjoint(np.concatenate)
def _(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays_bar += _rt.concatenate_adjoint(z_bar, arrays, axis)


@tangent(np.stack)
def _(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    z_dot = np.stack(arrays_dot, axis=axis)


@adjoint(np.stack)
def _(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays_bar += _rt.stack_adjoint(z_bar, arrays, axis)


@tangent(np.hstack)
def _(z, tup, dtype=None, casting="same_kind"):
    z_dot = np.hstack(tup_dot)


@adjoint(np.hstack)
def _(z, tup, dtype=None, casting="same_kind"):
    tup_bar += _rt.hstack_adjoint(z_bar, tup)


@tangent(np.vstack)
def _(z, tup, dtype=None, casting="same_kind"):
    z_dot = np.vstack(tup_dot)


@adjoint(np.vstack)
def _(z, tup, dtype=None, casting="same_kind"):
    tup_bar += _rt.vstack_adjoint(z_bar, tup)


@tangent(np.split)
def _(z, ary, indices_or_sections, axis=0):
    z_dot = _rt.split_tangent(ary_dot, indices_or_sections, axis)


@adjoint(np.split)
def _(z, ary, indices_or_sections, axis=0):
    ary_bar += _rt.split_adjoint(z_bar, ary, indices_or_sections, axis)


@tangent(np.tile)
def _(z, A, reps):
    z_dot = np.tile(A_dot, reps)


@adjoint(np.tile)
def _(z, A, reps):
    A_bar += _rt.tile_adjoint(z_bar, A, reps)


@tangent(np.repeat, np.ndarray.repeat)
def _(z, a, repeats, axis=None):
    z_dot = np.repeat(a_dot, repeats, axis)


@adjoint(np.repeat, np.ndarray.repeat)
def _(z, a, repeats, axis=None):
    a_bar += _rt.repeat_adjoint(z_bar, a, repeats, axis)


@tangent(np.broadcast_to)
def _(z, array, shape, subok=False):
    z_dot = np.broadcast_to(array_dot, shape)


@adjoint(np.broadcast_to)
def _(z, array, shape, subok=False):
    array_bar += _rt.broadcast_to_adjoint(z_bar, array)


@tangent(np.flip)
def _(z, m, axis=None):
    z_dot = np.flip(m_dot, axis)


@adjoint(np.flip)
def _(z, m, axis=None):
    m_bar += np.flip(z_bar, axis)


@tangent(np.roll)
def _(z, a, shift, axis=None):
    z_dot = np.roll(a_dot, shift, axis)


@adjoint(np.roll)
def _(z, a, shift, axis=None):
    a_bar += _rt.roll_adjoint(z_bar, shift, axis)


@tangent(np.pad)
def _(z, array, pad_width, mode="constant", **kwargs):
    z_dot = _rt.pad_tangent(array_dot, pad_width, mode)


@adjoint(np.pad)
def _(z, array, pad_width, mode="constant", **kwargs):
    array_bar += _rt.pad_adjoint(z_bar, array, pad_width)


@tangent(np.tril)
def _(z, m, k=0):
    z_dot = np.tril(m_dot, k)


@adjoint(np.tril)
def _(z, m, k=0):
    m_bar += np.tril(z_bar, k)


@tangent(np.triu)
def _(z, m, k=0):
    z_dot = np.triu(m_dot, k)


@adjoint(np.triu)
def _(z, m, k=0):
    m_bar += np.triu(z_bar, k)


# -- indexing and sorting --------------------------------------------------------------------


@tangent(np.take, np.ndarray.take)
def _(z, a, indices, axis=None, out=None, mode="raise"):
    z_dot = np.take(a_dot, indices, axis=axis)


@adjoint(np.take, np.ndarray.take)
def _(z, a, indices, axis=None, out=None, mode="raise"):
    a_bar += _rt.take_adjoint(z_bar, a, indices, axis)


@adjoint(operator.getitem)
def _(z, x, index):
    x_bar += _rt.index_adjoint(z_bar, x, index)


@tangent(np.sort)
def _(z, a, axis=-1, kind=None, order=None, stable=None):
    z_dot = _rt.sort_tangent(a_dot, a, axis)


@adjoint(np.sort)
def _(z, a, axis=-1, kind=None, order=None, stable=None):
    a_bar += _rt.sort_adjoint(z_bar, a, axis)


# -- elementwise functions (the transforms broadcast and reduce) --------------------------------


@tangent(np.arcsinh, elementwise=True)
def _(z, x):
    z_dot = x_dot / np.sqrt(x * x + 1.0)


@adjoint(np.arcsinh)
def _(z, x):
    x_bar += z_bar / np.sqrt(x * x + 1.0)


@tangent(np.arccosh, elementwise=True)
def _(z, x):
    z_dot = x_dot / np.sqrt(x * x - 1.0)


@adjoint(np.arccosh)
def _(z, x):
    x_bar += z_bar / np.sqrt(x * x - 1.0)


@tangent(np.arctanh, elementwise=True)
def _(z, x):
    z_dot = x_dot / (1.0 - x * x)


@adjoint(np.arctanh)
def _(z, x):
    x_bar += z_bar / (1.0 - x * x)


@tangent(np.exp2, elementwise=True)
def _(z, x):
    z_dot = x_dot * z * 0.6931471805599453


@adjoint(np.exp2)
def _(z, x):
    x_bar += z_bar * z * 0.6931471805599453


@tangent(np.expm1, elementwise=True)
def _(z, x):
    z_dot = x_dot * (z + 1.0)


@adjoint(np.expm1)
def _(z, x):
    x_bar += z_bar * (z + 1.0)


@tangent(np.log2, elementwise=True)
def _(z, x):
    z_dot = x_dot / (x * 0.6931471805599453)


@adjoint(np.log2)
def _(z, x):
    x_bar += z_bar / (x * 0.6931471805599453)


@tangent(np.log10, elementwise=True)
def _(z, x):
    z_dot = x_dot / (x * 2.302585092994046)


@adjoint(np.log10)
def _(z, x):
    x_bar += z_bar / (x * 2.302585092994046)


@tangent(np.cbrt, elementwise=True)
def _(z, x):
    z_dot = x_dot / (3.0 * z * z)


@adjoint(np.cbrt)
def _(z, x):
    x_bar += z_bar / (3.0 * z * z)


@tangent(np.reciprocal, elementwise=True)
def _(z, x):
    z_dot = -x_dot * z * z


@adjoint(np.reciprocal)
def _(z, x):
    x_bar += -z_bar * z * z


@tangent(np.deg2rad, np.radians, elementwise=True)
def _(z, x):
    z_dot = x_dot * 0.017453292519943295


@adjoint(np.deg2rad, np.radians)
def _(z, x):
    x_bar += z_bar * 0.017453292519943295


@tangent(np.rad2deg, np.degrees, elementwise=True)
def _(z, x):
    z_dot = x_dot * 57.29577951308232


@adjoint(np.rad2deg, np.degrees)
def _(z, x):
    x_bar += z_bar * 57.29577951308232


@tangent(np.sinc, elementwise=True)
def _(z, x):
    z_dot = x_dot * _rt.sinc_derivative(x)


@adjoint(np.sinc)
def _(z, x):
    x_bar += z_bar * _rt.sinc_derivative(x)


@tangent(np.hypot, elementwise=True)
def _(z, x, y):
    z_dot = (x_dot * x + y_dot * y) / z


@adjoint(np.hypot)
def _(z, x, y):
    x_bar += z_bar * x / z
    y_bar += z_bar * y / z


@tangent(np.arctan2, elementwise=True)
def _(z, y, x):
    z_dot = (y_dot * x - x_dot * y) / (x * x + y * y)


@adjoint(np.arctan2)
def _(z, y, x):
    y_bar += z_bar * x / (x * x + y * y)
    x_bar += -z_bar * y / (x * x + y * y)


@tangent(np.logaddexp, elementwise=True)
def _(z, x, y):
    z_dot = x_dot * np.exp(x - z) + y_dot * np.exp(y - z)


@adjoint(np.logaddexp)
def _(z, x, y):
    x_bar += z_bar * np.exp(x - z)
    y_bar += z_bar * np.exp(y - z)


@tangent(np.logaddexp2, elementwise=True)
def _(z, x, y):
    z_dot = x_dot * np.exp2(x - z) + y_dot * np.exp2(y - z)


@adjoint(np.logaddexp2)
def _(z, x, y):
    x_bar += z_bar * np.exp2(x - z)
    y_bar += z_bar * np.exp2(y - z)


@tangent(np.float_power, elementwise=True)
def _(z, x, y):
    z_dot = x_dot * y * np.float_power(x, y - 1.0) + y_dot * z * np.log(x)


@adjoint(np.float_power)
def _(z, x, y):
    x_bar += z_bar * y * np.float_power(x, y - 1.0)
    y_bar += z_bar * z * np.log(x)


@tangent(np.clip, elementwise=True)
def _(z, a, a_min=None, a_max=None):
    z_dot = (
        a_dot * _rt.clip_inside(a, a_min, a_max)
        + a_min_dot * _rt.clip_below(a, a_min, a_max)
        + a_max_dot * _rt.clip_above(a, a_min, a_max)
    )


@adjoint(np.clip)
def _(z, a, a_min=None, a_max=None):
    a_bar += z_bar * _rt.clip_inside(a, a_min, a_max)
    a_min_bar += z_bar * _rt.clip_below(a, a_min, a_max)
    a_max_bar += z_bar * _rt.clip_above(a, a_min, a_max)


@tangent(np.ndarray.clip, elementwise=True)
def _(z, a, min=None, max=None):
    z_dot = (
        a_dot * _rt.clip_inside(a, min, max)
        + min_dot * _rt.clip_below(a, min, max)
        + max_dot * _rt.clip_above(a, min, max)
    )


@adjoint(np.ndarray.clip)
def _(z, a, min=None, max=None):
    a_bar += z_bar * _rt.clip_inside(a, min, max)
    min_bar += z_bar * _rt.clip_below(a, min, max)
    max_bar += z_bar * _rt.clip_above(a, min, max)


# -- linear algebra ---------------------------------------------------------------------


@tangent(np.linalg.solve)
def _(z, a, b):
    z_dot = np.linalg.solve(a, b_dot - a_dot @ z)


@adjoint(np.linalg.solve)
def _(z, a, b):
    b_bar += np.linalg.solve(_rt.matrix_t(a), z_bar)
    a_bar += -_rt.matmul_adjoint_x(np.linalg.solve(_rt.matrix_t(a), z_bar), a, z)


@tangent(np.linalg.inv)
def _(z, a):
    z_dot = -(z @ a_dot @ z)


@adjoint(np.linalg.inv)
def _(z, a):
    a_bar += -(_rt.matrix_t(z) @ z_bar @ _rt.matrix_t(z))


@tangent(np.linalg.det)
def _(z, a):
    z_dot = z * np.trace(np.linalg.solve(a, a_dot), axis1=-2, axis2=-1)


@adjoint(np.linalg.det)
def _(z, a):
    a_bar += np.expand_dims(z_bar * z, (-2, -1)) * _rt.matrix_t(np.linalg.inv(a))


@tangent(np.linalg.slogdet)
def _(z, a):
    z_dot = _rt.slogdet_tangent(a, a_dot)


@adjoint(np.linalg.slogdet)
def _(z, a):
    a_bar += _rt.slogdet_adjoint(z_bar, a)


@tangent(np.linalg.cholesky)
def _(z, a, upper=False):
    z_dot = z @ _rt.phi(np.linalg.solve(z, _rt.matrix_t(np.linalg.solve(z, _rt.triangle_symmetric(a_dot)))))


@adjoint(np.linalg.cholesky)
def _(z, a, upper=False):
    a_bar += _rt.triangle_adjoint(
        np.linalg.solve(
            _rt.matrix_t(z),
            _rt.matrix_t(np.linalg.solve(_rt.matrix_t(z), _rt.matrix_t(_rt.phi(_rt.matrix_t(z) @ z_bar)))),
        )
    )


@tangent(np.linalg.eigh)
def _(z, a, UPLO="L"):
    z_dot = _rt.eigh_tangent(z, _rt.triangle_symmetric(a_dot, UPLO))  # eigh reads one triangle


@adjoint(np.linalg.eigh)
def _(z, a, UPLO="L"):
    a_bar += _rt.triangle_adjoint(_rt.eigh_adjoint(z_bar, z), UPLO)


@tangent(np.linalg.svd)
def _(z, a, full_matrices=True, compute_uv=True, hermitian=False):
    z_dot = _rt.svd_tangent(z, a, a_dot, _rt.svd_supported(a, full_matrices, compute_uv, hermitian))


@adjoint(np.linalg.svd)
def _(z, a, full_matrices=True, compute_uv=True, hermitian=False):
    a_bar += _rt.svd_adjoint(z_bar, z, a, _rt.svd_supported(a, full_matrices, compute_uv, hermitian))


@tangent(np.linalg.qr)
def _(z, a, mode="reduced"):
    z_dot = _rt.qr_tangent(z, a, a_dot, _rt.qr_supported(a, mode))


@adjoint(np.linalg.qr)
def _(z, a, mode="reduced"):
    a_bar += _rt.qr_adjoint(z_bar, z, a, _rt.qr_supported(a, mode))


@tangent(np.linalg.eig)
def _(z, a):
    z_dot = _rt.eig_tangent(z, a_dot)


@adjoint(np.linalg.eig)
def _(z, a):
    a_bar += _rt.eig_adjoint(z_bar, z)


@tangent(np.linalg.pinv)
def _(z, a, rcond=None, hermitian=False, **kwargs):
    z_dot = _rt.pinv_tangent(z, a, a_dot)


@adjoint(np.linalg.pinv)
def _(z, a, rcond=None, hermitian=False, **kwargs):
    a_bar += _rt.pinv_adjoint(z_bar, z, a)


# -- construction and copies ---------------------------------------------------------------


@tangent(np.array, np.asarray)
def _(z, object, dtype=None, **kwargs):
    z_dot = np.asarray(object_dot, dtype=_rt.float_dtype(z))


@adjoint(np.array, np.asarray)
def _(z, object, dtype=None, **kwargs):
    object_bar += _rt.array_adjoint(z_bar, object)


@tangent(np.copy)
def _(z, a, order="K", subok=False):
    z_dot = np.copy(a_dot)


@adjoint(np.copy)
def _(z, a, order="K", subok=False):
    a_bar += z_bar


@tangent(np.ndarray.copy)
def _(z, a, order="C"):
    z_dot = np.copy(a_dot)


@adjoint(np.ndarray.copy)
def _(z, a, order="C"):
    a_bar += z_bar


@tangent(np.ndarray.astype)
def _(z, a, dtype, order="K", casting="unsafe", subok=True, copy=True):
    z_dot = _rt.astype_tangent(a_dot, dtype)


@adjoint(np.ndarray.astype)
def _(z, a, dtype, order="K", casting="unsafe", subok=True, copy=True):
    a_bar += _rt.cast_like(z_bar, a)


@tangent(np.full)
def _(z, shape, fill_value, dtype=None, order="C"):
    z_dot = _rt.full_tangent(z, fill_value_dot)


@adjoint(np.full)
def _(z, shape, fill_value, dtype=None, order="C"):
    fill_value_bar += _rt.unbroadcast(z_bar, fill_value)


@tangent(np.full_like)
def _(z, a, fill_value, dtype=None, order="K", subok=True, shape=None):
    z_dot = _rt.full_tangent(z, fill_value_dot)


@adjoint(np.full_like)
def _(z, a, fill_value, dtype=None, order="K", subok=True, shape=None):
    fill_value_bar += _rt.unbroadcast(z_bar, fill_value)


# -- ranges ---------------------------------------------------------------------------------


@tangent(np.linspace)
def _(z, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, device=None):
    z_dot = np.linspace(start_dot, stop_dot, num, endpoint, retstep, axis=axis)


@adjoint(np.linspace)
def _(z, start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, device=None):
    start_bar += _rt.linspace_adjoint(z_bar, start, stop, num, endpoint, retstep, axis, 0)
    stop_bar += _rt.linspace_adjoint(z_bar, start, stop, num, endpoint, retstep, axis, 1)


@tangent(np.arange)
def _(z, start, stop=None, step=None, dtype=None, device=None, like=None):
    z_dot = _rt.arange_tangent(z, start_dot, step_dot, stop)


@adjoint(np.arange)
def _(z, start, stop=None, step=None, dtype=None, device=None, like=None):
    start_bar += _rt.arange_adjoint(z_bar, stop, 0)
    step_bar += _rt.arange_adjoint(z_bar, stop, 1)


# -- a list of Python floats from an array --------------------------------------------------------


@tangent(np.ndarray.tolist)
def _(z, a):
    z_dot = np.asarray(a_dot, dtype=float).tolist()


@adjoint(np.ndarray.tolist)
def _(z, a):
    a_bar += _rt.list_source_adjoint(z_bar, a)


# -- no derivative ------------------------------------------------------------------------

nondifferentiable(np.around, np.fix, np.floor_divide, np.heaviside)
nondifferentiable(
    np.signbit,
    np.logical_xor,
    np.isclose,
    np.isnan,
    np.isinf,
    np.isfinite,
    np.isneginf,
    np.isposinf,
)
nondifferentiable(np.any, np.all, np.ndarray.any, np.ndarray.all)
nondifferentiable(np.allclose, np.array_equal)
nondifferentiable(
    np.nonzero,
    np.argwhere,
    np.flatnonzero,
    np.searchsorted,
    np.count_nonzero,
    np.argsort,
    np.ndarray.argmax,
    np.ndarray.argmin,
    np.argpartition,
    np.ndarray.argsort,
    np.ndarray.nonzero,
    np.unravel_index,
    np.ravel_multi_index,
)
nondifferentiable(
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
)
nondifferentiable(np.result_type, np.broadcast_shapes)
for _key in (
    np.random.normal,
    np.random.uniform,
    np.random.rand,
    np.random.randn,
    np.random.randint,
    np.random.choice,
    np.random.permutation,
    np.random.standard_normal,
    np.random.random,
):  # a draw is a constant; one whose parameters carry a derivative (`normal(loc=x)`) would move with them
    RULES[_key].extra["refused"] = (
        "`{name}` draws at random with parameters that carry a derivative; s2sad does not differentiate "
        "through the parameters of a draw"
    )
    RULES[_key].extra["refused_hint"] = (
        "draw with fixed parameters and transform the draw: `mu + sigma * np.random.standard_normal(n)`, "
        "`low + (high - low) * np.random.random(n)`; pick with an index: `x[np.random.randint(len(x))]`"
    )


nondifferentiable(  # casts to integers: piecewise constant
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.intp,
)


# -- operands that are sequences of arrays, not array-likes ------------------------------------
# (vector forward mode turns a list or tuple passed as an array-like into one array of tangent
# directions first; these rules take the sequence itself)
for _key in (np.concatenate, np.stack, np.hstack, np.vstack, np.array, np.asarray):
    RULES[_key].extra["sequence_operand"] = True


# -- names in messages and docs -----------------------------------------------------------


def _qualified_name(key, name):
    """`numpy.linalg.solve`, `numpy.ndarray.sum`, `numpy.random.normal` instead of short forms."""
    if getattr(key, "__objclass__", None) is np.ndarray:
        return f"numpy.ndarray.{key.__name__}"
    owner = getattr(key, "__self__", None)
    if type(owner).__name__ == "RandomState":
        return f"numpy.random.{key.__name__}"
    module = getattr(key, "__module__", None) or ""
    if module.startswith("numpy.") and module.count(".") == 1 and not module.startswith("numpy._"):
        return f"{module}.{key.__name__}"
    return name


for _key, _rule in RULES.items():
    _rule.name = _qualified_name(_key, _rule.name)
del _key, _rule
