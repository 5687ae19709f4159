"""Rules for the run-time helpers that generated derivative code calls, so that generated code can
be differentiated again (`s2sad.nested`: `grad(grad(f))`, `jvp(grad(f))`, `hessian`).

Most helpers are linear in the cotangent they move (`unbroadcast(g, x)` sums `g` to the
shape of `x`), so their tangent is the helper applied to the tangent and their adjoint
the transposed map (`broadcast_like`). The adjoints of a product w.r.t. one operand
(`matmul_adjoint_x(g, x, y)` = d<g, x @ y>/dx) are bilinear in `g` and the other operand:
with `z` that adjoint, <z_bar, z> = <g, z_bar @ y>, which gives both of their adjoints.
Helpers whose result does not depend on the values (`zeros_like`, masks, index
arithmetic) are constants.

>>> from s2sad import runtime
>>> lookup(runtime.unbroadcast).name
's2sad.runtime.unbroadcast'
"""

import numpy as np

from .. import numpy_runtime as _nr
from .. import runtime as _rt
from . import adjoint, lookup, nondifferentiable, tangent  # noqa: F401  (lookup: the doctest)


@tangent(_rt.unbroadcast, kind="same")
def _(z, g, like):
    z_dot = _rt.unbroadcast(g_dot, like)


@adjoint(_rt.unbroadcast)
def _(z, g, like):
    g_bar += _rt.broadcast_like(z_bar, g)


@tangent(_rt.broadcast_like, kind="any")
def _(z, t, like):
    z_dot = _rt.broadcast_like(t_dot, like)


@adjoint(_rt.broadcast_like)
def _(z, t, like):
    t_bar += _rt.unbroadcast(z_bar, t)


@tangent(_rt.like, _rt.owned, kind="any")
def _(z, g, x):
    z_dot = _rt.like(g_dot, x)


@adjoint(_rt.like, _rt.owned)
def _(z, g, x):
    g_bar += _rt.unbroadcast(z_bar, g)


@tangent(_rt.cast_like, kind="any")
def _(z, g, x):
    z_dot = _rt.cast_like(g_dot, x)


@adjoint(_rt.cast_like)
def _(z, g, x):
    g_bar += _rt.unbroadcast(z_bar, g)


@tangent(_rt.copy, kind="same")
def _(z, x):
    z_dot = x_dot


@adjoint(_rt.copy)
def _(z, x):
    x_bar += z_bar


@tangent(_rt.check_scalar, kind="same")
def _(z, value, where):
    z_dot = value_dot


@adjoint(_rt.check_scalar)
def _(z, value, where):
    value_bar += z_bar


@tangent(_rt.unreduce, kind="any")
def _(z, g, x, axis=None, keepdims=False):
    z_dot = _rt.unreduce(g_dot, x, axis, keepdims)


@adjoint(_rt.unreduce)
def _(z, g, x, axis=None, keepdims=False):
    g_bar += _rt.rereduce(z_bar, g, axis, keepdims)


@tangent(_rt.rereduce, kind="any")
def _(z, h, g, axis=None, keepdims=False):
    z_dot = _rt.rereduce(h_dot, g, axis, keepdims)


@adjoint(_rt.rereduce)
def _(z, h, g, axis=None, keepdims=False):
    h_bar += _rt.unreduce(z_bar, h, axis, keepdims)


@tangent(_rt.getitem_adjoint, kind="any")
def _(z, g, x, index):
    z_dot = _rt.getitem_adjoint(g_dot, x, index)


@tangent(_nr.index_adjoint, kind="any")
def _(z, g, x, index):
    z_dot = _rt.index_adjoint(g_dot, x, index)


@adjoint(_rt.getitem_adjoint, _nr.index_adjoint)
def _(z, g, x, index):
    g_bar += _rt.unbroadcast(z_bar[index], g)


@tangent(_rt.written_part, kind="any")
def _(z, adjoint, index):
    z_dot = _rt.written_part(adjoint_dot, index)


@adjoint(_rt.written_part)
def _(z, adjoint, index):
    adjoint_bar += _rt.getitem_adjoint(_rt.last_writes(z_bar, adjoint, index), adjoint, index)


@tangent(_rt.last_writes, kind="any")
def _(z, g, like, index):
    z_dot = _rt.last_writes(g_dot, like, index)


@adjoint(_rt.last_writes)
def _(z, g, like, index):
    g_bar += _rt.last_writes(z_bar, like, index)


@tangent(_nr.prod_partials, kind="any")
def _(z, x, axis=None):
    z_dot = _rt.prod_hessian_vector(x, x_dot, axis)


@adjoint(_nr.prod_partials)
def _(z, x, axis=None):
    x_bar += _rt.prod_hessian_vector(x, z_bar, axis)


@adjoint(_rt.added_at)
def _(z, target, index, g):
    target_bar += z_bar
    g_bar += _rt.unbroadcast(z_bar[index], g)


@tangent(_nr.matrix_t, kind="any")
def _(z, a):
    z_dot = _rt.matrix_t(a_dot)


@adjoint(_nr.matrix_t)
def _(z, a):
    a_bar += _rt.matrix_t(z_bar)


@tangent(_nr.matmul_adjoint_x, kind="any")
def _(z, g, x, y):
    z_dot = _rt.matmul_adjoint_x(g_dot, x, y) + _rt.matmul_adjoint_x(g, x, y_dot)


@adjoint(_nr.matmul_adjoint_x)
def _(z, g, x, y):
    g_bar += z_bar @ y
    y_bar += _rt.matmul_adjoint_y(g, z_bar, y)


@tangent(_nr.matmul_adjoint_y, kind="any")
def _(z, g, x, y):
    z_dot = _rt.matmul_adjoint_y(g_dot, x, y) + _rt.matmul_adjoint_y(g, x_dot, y)


@adjoint(_nr.matmul_adjoint_y)
def _(z, g, x, y):
    g_bar += x @ z_bar
    x_bar += _rt.matmul_adjoint_x(g, x, z_bar)


@tangent(_rt.list_like, kind="list")
def _(z, g, like):
    z_dot = _rt.list_like(g_dot, like)


@adjoint(_rt.list_like)
def _(z, g, like):
    g_bar += z_bar


@tangent(_rt.added_at, kind="any")
def _(z, target, index, g):
    z_dot = _rt.added_at_tangent(target_dot, z, index, g_dot)


@tangent(_rt.list_add, kind="list")
def _(z, a, b, like=None):
    z_dot = _rt.list_add(a_dot, b_dot, like)


@tangent(_rt.list_add, batched=True)
def _(z, a, b, like=None):
    z_dot = _rt.list_add(a_dot, b_dot, like)  # list tangents are lists of direction arrays


@tangent(_rt.list_like, batched=True)
def _(z, g, like):
    z_dot = _rt.list_like(g_dot, like)


@adjoint(_rt.list_add)
def _(z, a, b, like=None):
    a_bar += z_bar
    b_bar += _rt.list_as(z_bar, b)


lookup(_rt.list_like).extra["lists"] = True  # takes and returns list adjoints
lookup(_rt.list_add).extra["lists"] = True

@tangent(_nr.bilinear_adjoint, kind="any")
def _(z, g, subscripts, which, a, b):
    z_dot = _rt.bilinear_adjoint(g_dot, subscripts, which, a, b) + _rt.bilinear_adjoint_tangent(
        g, subscripts, which, a, b, a_dot, b_dot
    )


@adjoint(_nr.bilinear_adjoint)
def _(z, g, subscripts, which, a, b):
    g_bar += _rt.contract(subscripts, which, z_bar, a, b, g)
    a_bar += _rt.bilinear_adjoint_other(g, subscripts, which, z_bar, a, b, 0)
    b_bar += _rt.bilinear_adjoint_other(g, subscripts, which, z_bar, a, b, 1)


@tangent(_nr.outer_adjoint_x, kind="any")
def _(z, g, a, b):
    z_dot = _rt.outer_adjoint_x(g_dot, a, b) + _rt.outer_adjoint_x(g, a, b_dot)


@adjoint(_nr.outer_adjoint_x)
def _(z, g, a, b):
    g_bar += np.outer(z_bar, b)
    b_bar += _rt.outer_adjoint_y(g, z_bar, b)


@tangent(_nr.outer_adjoint_y, kind="any")
def _(z, g, a, b):
    z_dot = _rt.outer_adjoint_y(g_dot, a, b) + _rt.outer_adjoint_y(g, a_dot, b)


@adjoint(_nr.outer_adjoint_y)
def _(z, g, a, b):
    g_bar += np.outer(a, z_bar)
    a_bar += _rt.outer_adjoint_x(g, a, z_bar)


@tangent(_nr.cumsum_adjoint, kind="any")
def _(z, g, x, axis=None):
    z_dot = _rt.cumsum_adjoint(g_dot, x, axis)


@adjoint(_nr.cumsum_adjoint)
def _(z, g, x, axis=None):
    g_bar += _rt.cumsum_transpose(z_bar, g, axis)


@tangent(_nr.cumsum_transpose, kind="any")
def _(z, h, g, axis=None):
    z_dot = _rt.cumsum_transpose(h_dot, g, axis)


@adjoint(_nr.cumsum_transpose)
def _(z, h, g, axis=None):
    h_bar += _rt.cumsum_adjoint(z_bar, h, axis)


@tangent(_nr.tile_adjoint, kind="any")
def _(z, g, x, reps):
    z_dot = _rt.tile_adjoint(g_dot, x, reps)


@adjoint(_nr.tile_adjoint)
def _(z, g, x, reps):
    g_bar += _rt.tile_transpose(z_bar, g, reps)


@tangent(_nr.tile_transpose, kind="any")
def _(z, h, g, reps):
    z_dot = _rt.tile_transpose(h_dot, g, reps)


@adjoint(_nr.tile_transpose)
def _(z, h, g, reps):
    h_bar += _rt.tile_adjoint(z_bar, h, reps)


@tangent(_nr.concatenate_adjoint, kind="list")
def _(z, g, arrays, axis=0):
    z_dot = _rt.concatenate_adjoint(g_dot, arrays, axis)


@adjoint(_nr.concatenate_adjoint)
def _(z, g, arrays, axis=0):
    g_bar += _rt.concatenate_pieces(z_bar, g, arrays, axis)


@tangent(_nr.stack_adjoint, kind="list")
def _(z, g, arrays, axis=0):
    z_dot = _rt.stack_adjoint(g_dot, arrays, axis)


@adjoint(_nr.stack_adjoint)
def _(z, g, arrays, axis=0):
    g_bar += _rt.stack_pieces(z_bar, arrays, axis)


for _helper in (_nr.concatenate_adjoint, _nr.stack_adjoint):  # lists of arrays in, list cotangents out
    lookup(_helper).extra["lists"] = True

@tangent(_nr.var_partials, kind="any")
def _(z, x, axis=None, ddof=0):
    z_dot = _rt.var_partials(x_dot, axis, ddof)  # 2 (x - mean) / (n - ddof): linear in x


@adjoint(_nr.var_partials)
def _(z, x, axis=None, ddof=0):
    x_bar += _rt.var_partials(z_bar, axis, ddof)  # and symmetric


@tangent(_nr.linspace_adjoint, kind="any")
def _(z, g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    z_dot = _rt.linspace_adjoint(g_dot, start, stop, num, endpoint, retstep, axis, which)  # linear in g


@adjoint(_nr.linspace_adjoint)
def _(z, g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    g_bar += _rt.linspace_transpose(z_bar, g, start, stop, num, endpoint, retstep, axis, which)


@tangent(_nr.arange_tangent, kind="any")
def _(z, like, start_dot, step_dot, stop=None):
    z_dot = _rt.arange_tangent(like, start_dot_dot, step_dot_dot, stop)  # linear in both tangents


@adjoint(_nr.arange_tangent)
def _(z, like, start_dot, step_dot, stop=None):
    start_dot_bar += _rt.arange_adjoint(z_bar, stop, 0)
    step_dot_bar += _rt.arange_adjoint(z_bar, stop, 1)


@tangent(_nr.arange_adjoint, kind="any")
def _(z, g, stop=None, which=0):
    z_dot = _rt.arange_adjoint(g_dot, stop, which)  # linear in g


@adjoint(_nr.arange_adjoint)
def _(z, g, stop=None, which=0):
    g_bar += _rt.arange_tangent(g, z_bar * (1 - which), z_bar * which, stop)


@tangent(_nr.half_inverse, kind="any")
def _(z, s):
    z_dot = -2.0 * z * z * s_dot


@adjoint(_nr.half_inverse)
def _(z, s):
    s_bar += -2.0 * z * z * z_bar


@tangent(_nr.power_dx, kind="any")
def _(z, x, y):
    z_dot = x_dot * y * _rt.power_dx(x, y - 1) + y_dot * (x ** (y - 1) + y * _rt.power_dy(x ** (y - 1), x))


@adjoint(_nr.power_dx)
def _(z, x, y):
    x_bar += z_bar * y * _rt.power_dx(x, y - 1)
    y_bar += z_bar * (x ** (y - 1) + y * _rt.power_dy(x ** (y - 1), x))


@tangent(_nr.power_dy, kind="any")
def _(z, z0, x):
    z_dot = z0_dot * np.log(x) + x_dot * z0 / x


@adjoint(_nr.power_dy)
def _(z, z0, x):
    z0_bar += z_bar * np.log(x)
    x_bar += z_bar * z0 / x


nondifferentiable(slice, kind="other")
nondifferentiable(_rt.check_not_tree, kind="other")
nondifferentiable(_rt.zeros_like, kind="same")
nondifferentiable(  # the positions and shapes of writes by call (`s2sad.writes`)
    _rt.at_shape, _rt.at_positions, _rt.put_index, _rt.put_source, _rt.mask_index, _rt.place_source,
    _rt.putmask_source, _rt.r_shape, _rt.c_shape, kind="other",
)
lookup(_rt.zeros_like).extra["lists"] = True
nondifferentiable(
    _nr.mean_partials, _nr.extremum_weights, _nr.clip_inside, _nr.clip_below, _nr.clip_above,
    _nr.float_dtype, _nr.dot_subscripts, _nr.inner_subscripts, _nr.tensordot_subscripts, _nr.method_axes,
    _nr.normalize_axes,
)
