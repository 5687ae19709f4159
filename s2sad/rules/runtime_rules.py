"""Rules for the run-time helpers that generated derivative code calls, so that generated code can
be differentiated again (`s2sad.frontend.nested`: `grad(grad(f))`, `jvp(grad(f))`, `hessian`).

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

from ..runtime import numpy_helpers as _nr
from .. import runtime as _rt
from . import adjoint, lookup, nondifferentiable, tangent  # noqa: F401  (lookup: the doctest)


@tangent(_rt.unbroadcast)
def _(z, g, like):
    z_dot = _rt.unbroadcast(g_dot, like)


@adjoint(_rt.unbroadcast)
def _(z, g, like):
    g_bar += _rt.broadcast_like(z_bar, g)


@tangent(_rt.broadcast_like)
def _(z, t, like):
    z_dot = _rt.broadcast_like(t_dot, like)


@adjoint(_rt.broadcast_like)
def _(z, t, like):
    t_bar += _rt.unbroadcast(z_bar, t)


@tangent(_rt.like, _rt.owned)
def _(z, g, x):
    z_dot = _rt.like(g_dot, x)


@adjoint(_rt.like, _rt.owned)
def _(z, g, x):
    g_bar += _rt.unbroadcast(z_bar, g)


@tangent(_rt.cast_like)
def _(z, g, x):
    z_dot = _rt.cast_like(g_dot, x)


@adjoint(_rt.cast_like)
def _(z, g, x):
    g_bar += _rt.unbroadcast(z_bar, g)


@tangent(_rt.copy)
def _(z, x):
    z_dot = x_dot


@adjoint(_rt.copy)
def _(z, x):
    x_bar += z_bar


@tangent(_rt.check_scalar)
def _(z, value, where):
    z_dot = value_dot


@adjoint(_rt.check_scalar)
def _(z, value, where):
    value_bar += z_bar


@tangent(_rt.unreduce)
def _(z, g, x, axis=None, keepdims=False):
    z_dot = _rt.unreduce(g_dot, x, axis, keepdims)


@adjoint(_rt.unreduce)
def _(z, g, x, axis=None, keepdims=False):
    g_bar += _rt.rereduce(z_bar, g, axis, keepdims)


@tangent(_rt.rereduce)
def _(z, h, g, axis=None, keepdims=False):
    z_dot = _rt.rereduce(h_dot, g, axis, keepdims)


@adjoint(_rt.rereduce)
def _(z, h, g, axis=None, keepdims=False):
    h_bar += _rt.unreduce(z_bar, h, axis, keepdims)


@tangent(_rt.getitem_adjoint)
def _(z, g, x, index):
    z_dot = _rt.getitem_adjoint(g_dot, x, index)


@tangent(_nr.index_adjoint)
def _(z, g, x, index):
    z_dot = _rt.index_adjoint(g_dot, x, index)


@adjoint(_rt.getitem_adjoint, _nr.index_adjoint)
def _(z, g, x, index):
    g_bar += _rt.unbroadcast(z_bar[index], g)


@tangent(_rt.written_part)
def _(z, adjoint, index):
    z_dot = _rt.written_part(adjoint_dot, index)


@adjoint(_rt.written_part)
def _(z, adjoint, index):
    adjoint_bar += _rt.getitem_adjoint(_rt.last_writes(z_bar, adjoint, index), adjoint, index)


@tangent(_rt.last_writes)
def _(z, g, like, index):
    z_dot = _rt.last_writes(g_dot, like, index)


@adjoint(_rt.last_writes)
def _(z, g, like, index):
    g_bar += _rt.last_writes(z_bar, like, index)


@tangent(_nr.prod_partials)
def _(z, x, axis=None):
    z_dot = _rt.prod_hessian_vector(x, x_dot, axis)


@adjoint(_nr.prod_partials)
def _(z, x, axis=None):
    x_bar += _rt.prod_hessian_vector(x, z_bar, axis)


@adjoint(_rt.added_at)
def _(z, target, index, g):
    target_bar += z_bar
    g_bar += _rt.unbroadcast(z_bar[index], g)


@tangent(_nr.matrix_t)
def _(z, a):
    z_dot = _rt.matrix_t(a_dot)


@adjoint(_nr.matrix_t)
def _(z, a):
    a_bar += _rt.matrix_t(z_bar)


@tangent(_nr.matmul_adjoint_x)
def _(z, g, x, y):
    z_dot = _rt.matmul_adjoint_x(g_dot, x, y) + _rt.matmul_adjoint_x(g, x, y_dot)


@adjoint(_nr.matmul_adjoint_x)
def _(z, g, x, y):
    g_bar += z_bar @ y
    y_bar += _rt.matmul_adjoint_y(g, z_bar, y)


@tangent(_nr.matmul_adjoint_y)
def _(z, g, x, y):
    z_dot = _rt.matmul_adjoint_y(g_dot, x, y) + _rt.matmul_adjoint_y(g, x_dot, y)


@adjoint(_nr.matmul_adjoint_y)
def _(z, g, x, y):
    g_bar += x @ z_bar
    x_bar += _rt.matmul_adjoint_x(g, x, z_bar)


@tangent(_rt.list_like)
def _(z, g, like):
    z_dot = _rt.list_like(g_dot, like)


@adjoint(_rt.list_like)
def _(z, g, like):
    g_bar += z_bar


@tangent(_rt.added_at)
def _(z, target, index, g):
    z_dot = _rt.added_at_tangent(target_dot, z, index, g_dot)


@tangent(_rt.list_add)
def _(z, a, b, like=None):
    z_dot = _rt.list_add(a_dot, b_dot, like)


@adjoint(_rt.list_add)
def _(z, a, b, like=None):
    a_bar += z_bar
    b_bar += _rt.list_as(z_bar, b)


lookup(_rt.list_like).extra["lists"] = True  # takes and returns list adjoints
lookup(_rt.list_add).extra["lists"] = True


@tangent(_nr.bilinear_adjoint)
def _(z, g, subscripts, which, a, b):
    z_dot = _rt.bilinear_adjoint(g_dot, subscripts, which, a, b) + _rt.bilinear_adjoint(
        g, subscripts, which, _rt.slot_pick(a, a_dot, which, 0), _rt.slot_pick(b, b_dot, which, 1)
    )


@adjoint(_nr.bilinear_adjoint)
def _(z, g, subscripts, which, a, b):
    g_bar += _rt.contract(subscripts, which, z_bar, a, b, g)
    a_bar += _rt.bilinear_adjoint(
        _rt.slot_except(g, which, 0),
        subscripts,
        0,
        _rt.slot_pick(z_bar, a, which, 0),
        _rt.slot_pick(z_bar, b, which, 1),
    )
    b_bar += _rt.bilinear_adjoint(
        _rt.slot_except(g, which, 1),
        subscripts,
        1,
        _rt.slot_pick(z_bar, a, which, 0),
        _rt.slot_pick(z_bar, b, which, 1),
    )


@tangent(_nr.contract)
def _(z, subscripts, which, h, a, b, g):
    z_dot = _rt.contract(subscripts, which, h_dot, a, b, g) + _rt.contract(
        subscripts, which, h, a_dot, b_dot, g
    )


@adjoint(_nr.contract)
def _(z, subscripts, which, h, a, b, g):
    h_bar += _rt.bilinear_adjoint(
        z_bar, subscripts, which, _rt.slot_pick(h, a, which, 0), _rt.slot_pick(h, b, which, 1)
    )
    a_bar += _rt.bilinear_adjoint(
        _rt.slot_except(z_bar, which, 0),
        subscripts,
        0,
        _rt.slot_pick(h, a, which, 0),
        _rt.slot_pick(h, b, which, 1),
    )
    b_bar += _rt.bilinear_adjoint(
        _rt.slot_except(z_bar, which, 1),
        subscripts,
        1,
        _rt.slot_pick(h, a, which, 0),
        _rt.slot_pick(h, b, which, 1),
    )


@tangent(_nr.outer_adjoint_x)
def _(z, g, a, b):
    z_dot = _rt.outer_adjoint_x(g_dot, a, b) + _rt.outer_adjoint_x(g, a, b_dot)


@adjoint(_nr.outer_adjoint_x)
def _(z, g, a, b):
    g_bar += np.outer(z_bar, b)
    b_bar += _rt.outer_adjoint_y(g, z_bar, b)


@tangent(_nr.outer_adjoint_y)
def _(z, g, a, b):
    z_dot = _rt.outer_adjoint_y(g_dot, a, b) + _rt.outer_adjoint_y(g, a_dot, b)


@adjoint(_nr.outer_adjoint_y)
def _(z, g, a, b):
    g_bar += np.outer(a, z_bar)
    a_bar += _rt.outer_adjoint_x(g, a, z_bar)


@tangent(_nr.cumsum_adjoint)
def _(z, g, x, axis=None):
    z_dot = _rt.cumsum_adjoint(g_dot, x, axis)


@adjoint(_nr.cumsum_adjoint)
def _(z, g, x, axis=None):
    g_bar += _rt.cumsum_transpose(z_bar, g, axis)


@tangent(_nr.cumsum_transpose)
def _(z, h, g, axis=None):
    z_dot = _rt.cumsum_transpose(h_dot, g, axis)


@adjoint(_nr.cumsum_transpose)
def _(z, h, g, axis=None):
    h_bar += _rt.cumsum_adjoint(z_bar, h, axis)


@tangent(_nr.tile_adjoint)
def _(z, g, x, reps):
    z_dot = _rt.tile_adjoint(g_dot, x, reps)


@adjoint(_nr.tile_adjoint)
def _(z, g, x, reps):
    g_bar += _rt.tile_transpose(z_bar, g, reps)


@tangent(_nr.tile_transpose)
def _(z, h, g, reps):
    z_dot = _rt.tile_transpose(h_dot, g, reps)


@adjoint(_nr.tile_transpose)
def _(z, h, g, reps):
    h_bar += _rt.tile_adjoint(z_bar, h, reps)


@tangent(_nr.concatenate_adjoint)
def _(z, g, arrays, axis=0):
    z_dot = _rt.concatenate_adjoint(g_dot, arrays, axis)


@adjoint(_nr.concatenate_adjoint)
def _(z, g, arrays, axis=0):
    g_bar += _rt.concatenate_pieces(z_bar, g, arrays, axis)


@tangent(_nr.stack_adjoint)
def _(z, g, arrays, axis=0):
    z_dot = _rt.stack_adjoint(g_dot, arrays, axis)


@adjoint(_nr.stack_adjoint)
def _(z, g, arrays, axis=0):
    g_bar += _rt.stack_pieces(z_bar, arrays, axis)


for _helper in (_nr.concatenate_adjoint, _nr.stack_adjoint):  # lists of arrays in, list cotangents out
    lookup(_helper).extra["lists"] = True


@tangent(_nr.var_partials)
def _(z, x, axis=None, ddof=0):
    z_dot = _rt.var_partials(x_dot, axis, ddof)  # 2 (x - mean) / (n - ddof): linear in x


@adjoint(_nr.var_partials)
def _(z, x, axis=None, ddof=0):
    x_bar += _rt.var_partials(z_bar, axis, ddof)  # and symmetric


@tangent(_nr.linspace_adjoint)
def _(z, g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    z_dot = _rt.linspace_adjoint(g_dot, start, stop, num, endpoint, retstep, axis, which)  # linear in g


@adjoint(_nr.linspace_adjoint)
def _(z, g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    g_bar += _rt.linspace_transpose(z_bar, g, start, stop, num, endpoint, retstep, axis, which)


@tangent(_nr.arange_tangent)
def _(z, like, start_dot, step_dot, stop=None):
    z_dot = _rt.arange_tangent(like, start_dot_dot, step_dot_dot, stop)  # linear in both tangents


@adjoint(_nr.arange_tangent)
def _(z, like, start_dot, step_dot, stop=None):
    start_dot_bar += _rt.arange_adjoint(z_bar, stop, 0)
    step_dot_bar += _rt.arange_adjoint(z_bar, stop, 1)


@tangent(_nr.arange_adjoint)
def _(z, g, stop=None, which=0):
    z_dot = _rt.arange_adjoint(g_dot, stop, which)  # linear in g


@adjoint(_nr.arange_adjoint)
def _(z, g, stop=None, which=0):
    g_bar += _rt.arange_tangent(g, z_bar * (1 - which), z_bar * which, stop)


@tangent(_nr.half_inverse)
def _(z, s):
    z_dot = -2.0 * z * z * s_dot


@adjoint(_nr.half_inverse)
def _(z, s):
    s_bar += -2.0 * z * z * z_bar


@tangent(_nr.power_dx)
def _(z, x, y, c=1.0):
    z_dot = (
        x_dot * _rt.power_dx(x, y - 1, c * y)
        + y_dot * c * (x ** (y - 1) + y * _rt.power_dy(x ** (y - 1), x))
        + c_dot * _rt.power_dx(x, y)
    )


@adjoint(_nr.power_dx)
def _(z, x, y, c=1.0):
    x_bar += z_bar * _rt.power_dx(x, y - 1, c * y)
    y_bar += z_bar * c * (x ** (y - 1) + y * _rt.power_dy(x ** (y - 1), x))
    c_bar += z_bar * _rt.power_dx(x, y)


@tangent(_nr.power_dy)
def _(z, z0, x):
    z_dot = z0_dot * _rt.log_or_zero(x) + x_dot * z0 / x


@adjoint(_nr.power_dy)
def _(z, z0, x):
    z0_bar += z_bar * _rt.log_or_zero(x)
    x_bar += z_bar * z0 / x


nondifferentiable(slice)
nondifferentiable(_rt.check_not_tree)
nondifferentiable(_rt.svd_supported, _rt.eig_supported, _rt.qr_supported)
nondifferentiable(_rt.zeros_like)
nondifferentiable(  # the positions and shapes of writes by call (`s2sad.writes`), indexes
    _rt.along_axis_index,
    _rt.at_shape,
    _rt.at_positions,
    _rt.put_index,
    _rt.put_source,
    _rt.mask_index,
    _rt.place_source,
    _rt.putmask_source,
    _rt.r_shape,
    _rt.c_shape,
)
lookup(_rt.zeros_like).extra["lists"] = True
nondifferentiable(
    _nr.mean_partials,
    _nr.extremum_weights,
    _nr.clip_inside,
    _nr.clip_below,
    _nr.clip_above,
    _nr.float_dtype,
    _nr.dot_subscripts,
    _nr.inner_subscripts,
    _nr.tensordot_subscripts,
    _nr.method_axes,
    _nr.normalize_axes,
)


# -- einsum's helpers: a family closed under differentiation -----------------------------------
# `einsum_tangent` is a sum of einsums, each linear in every operand; `einsum_adjoint(g, s, w, ...)`
# is linear in `g` and in every operand but `w` (whose shape only it reads). Their derivatives are
# the same helpers with one slot replaced (`slot_*` route a value to one slot, a symbolic zero to
# the others; a term holding a symbolic zero is zero). Operand `w` of an adjoint always holds the
# operand itself, never a zero, so the adjoint's own adjoint can put its cotangent there.


@tangent(_nr.einsum_tangent)
def _(z, subscripts, a, b=None, c=None, ta=0.0, tb=0.0, tc=0.0):
    z_dot = (
        _rt.einsum_tangent(subscripts, a, b, c, ta_dot, tb_dot, tc_dot)
        + _rt.einsum_tangent(subscripts, a_dot, b, c, 0.0, tb, tc)
        + _rt.einsum_tangent(subscripts, a, b_dot, c, ta, 0.0, tc)
        + _rt.einsum_tangent(subscripts, a, b, c_dot, ta, tb, 0.0)
    )


@adjoint(_nr.einsum_tangent)
def _(z, subscripts, a, b=None, c=None, ta=0.0, tb=0.0, tc=0.0):
    ta_bar += _rt.einsum_adjoint(z_bar, subscripts, 0, a, b, c)
    tb_bar += _rt.einsum_adjoint(z_bar, subscripts, 1, a, b, c)
    tc_bar += _rt.einsum_adjoint(z_bar, subscripts, 2, a, b, c)
    a_bar += _rt.einsum_adjoint(z_bar, subscripts, 0, a, tb, c) + _rt.einsum_adjoint(
        z_bar, subscripts, 0, a, b, tc
    )
    b_bar += _rt.einsum_adjoint(z_bar, subscripts, 1, ta, b, c) + _rt.einsum_adjoint(
        z_bar, subscripts, 1, a, b, tc
    )
    c_bar += _rt.einsum_adjoint(z_bar, subscripts, 2, ta, b, c) + _rt.einsum_adjoint(
        z_bar, subscripts, 2, a, tb, c
    )


@tangent(_nr.einsum_adjoint)
def _(z, g, subscripts, which, a, b=None, c=None):
    z_dot = (
        _rt.einsum_adjoint(g_dot, subscripts, which, a, b, c)
        + _rt.einsum_adjoint(
            _rt.slot_except(g, which, 0), subscripts, which, _rt.slot_pick(a, a_dot, which, 0), b, c
        )
        + _rt.einsum_adjoint(
            _rt.slot_except(g, which, 1), subscripts, which, a, _rt.slot_pick(b, b_dot, which, 1), c
        )
        + _rt.einsum_adjoint(
            _rt.slot_except(g, which, 2), subscripts, which, a, b, _rt.slot_pick(c, c_dot, which, 2)
        )
    )  # (the adjoint does not read operand `which`: its term has a zero cotangent)


@adjoint(_nr.einsum_adjoint)
def _(z, g, subscripts, which, a, b=None, c=None):
    g_bar += _rt.einsum_tangent(
        subscripts,
        a,
        b,
        c,
        _rt.slot_only(z_bar, which, 0),
        _rt.slot_only(z_bar, which, 1),
        _rt.slot_only(z_bar, which, 2),
    )
    a_bar += _rt.einsum_adjoint(
        _rt.slot_except(g, which, 0),
        subscripts,
        0,
        _rt.slot_pick(z_bar, a, which, 0),
        _rt.slot_pick(z_bar, b, which, 1),
        _rt.slot_pick(z_bar, c, which, 2),
    )
    b_bar += _rt.einsum_adjoint(
        _rt.slot_except(g, which, 1),
        subscripts,
        1,
        _rt.slot_pick(z_bar, a, which, 0),
        _rt.slot_pick(z_bar, b, which, 1),
        _rt.slot_pick(z_bar, c, which, 2),
    )
    c_bar += _rt.einsum_adjoint(
        _rt.slot_except(g, which, 2),
        subscripts,
        2,
        _rt.slot_pick(z_bar, a, which, 0),
        _rt.slot_pick(z_bar, b, which, 1),
        _rt.slot_pick(z_bar, c, which, 2),
    )


@tangent(_nr.slot_only)
def _(z, h, which, k):
    z_dot = _rt.slot_only(h_dot, which, k)


@adjoint(_nr.slot_only)
def _(z, h, which, k):
    h_bar += _rt.routed(z_bar, which, k, True, h)


@tangent(_nr.slot_except)
def _(z, h, which, k):
    z_dot = _rt.slot_except(h_dot, which, k)


@adjoint(_nr.slot_except)
def _(z, h, which, k):
    h_bar += _rt.routed(z_bar, which, k, False, h)


@tangent(_nr.routed)
def _(z, g, which, k, keep, like):
    z_dot = _rt.routed(g_dot, which, k, keep, like)


@adjoint(_nr.routed)
def _(z, g, which, k, keep, like):
    g_bar += _rt.routed(z_bar, which, k, keep, g)


@tangent(_nr.slot_pick)
def _(z, h, operand, which, k):
    z_dot = _rt.slot_pick(h_dot, operand_dot, which, k)


@adjoint(_nr.slot_pick)
def _(z, h, operand, which, k):
    h_bar += _rt.routed(z_bar, which, k, True, h)
    operand_bar += _rt.routed(z_bar, which, k, False, operand)


# -- helpers linear in their first argument: the tangent is the helper of the tangent, the adjoint
# its transpose ---------------------------------------------------------------------------------


@tangent(_nr.array_adjoint)
def _(z, g, x):
    z_dot = _rt.array_adjoint(g_dot, x)


@adjoint(_nr.array_adjoint)
def _(z, g, x):
    g_bar += np.reshape(z_bar, np.shape(g))


@tangent(_nr.broadcast_to_adjoint)
def _(z, g, x):
    z_dot = _rt.broadcast_to_adjoint(g_dot, x)


@adjoint(_nr.broadcast_to_adjoint)
def _(z, g, x):
    g_bar += _rt.broadcast_like(z_bar, g)


@tangent(_nr.hstack_adjoint)
def _(z, g, arrays):
    z_dot = _rt.hstack_adjoint(g_dot, arrays)


@adjoint(_nr.hstack_adjoint)
def _(z, g, arrays):
    g_bar += _rt.hstack_pieces(z_bar, g, arrays)


@tangent(_nr.hstack_pieces)
def _(z, pieces, g, arrays):
    z_dot = _rt.hstack_pieces(pieces_dot, g, arrays)


@adjoint(_nr.hstack_pieces)
def _(z, pieces, g, arrays):
    pieces_bar += _rt.hstack_adjoint(z_bar, arrays)


@tangent(_nr.vstack_adjoint)
def _(z, g, arrays):
    z_dot = _rt.vstack_adjoint(g_dot, arrays)


@adjoint(_nr.vstack_adjoint)
def _(z, g, arrays):
    g_bar += _rt.vstack_pieces(z_bar, g, arrays)


@tangent(_nr.vstack_pieces)
def _(z, pieces, g, arrays):
    z_dot = _rt.vstack_pieces(pieces_dot, g, arrays)


@adjoint(_nr.vstack_pieces)
def _(z, pieces, g, arrays):
    pieces_bar += _rt.vstack_adjoint(z_bar, arrays)


@tangent(_nr.concatenate_pieces)
def _(z, pieces, g, arrays, axis=0):
    z_dot = _rt.concatenate_pieces(pieces_dot, g, arrays, axis)


@adjoint(_nr.concatenate_pieces)
def _(z, pieces, g, arrays, axis=0):
    pieces_bar += _rt.concatenate_adjoint(z_bar, arrays, axis)


@tangent(_nr.stack_pieces)
def _(z, pieces, arrays, axis=0):
    z_dot = _rt.stack_pieces(pieces_dot, arrays, axis)


@adjoint(_nr.stack_pieces)
def _(z, pieces, arrays, axis=0):
    pieces_bar += _rt.stack_adjoint(z_bar, arrays, axis)


@tangent(_nr.split_tangent)
def _(z, t, indices_or_sections, axis=0):
    z_dot = _rt.split_tangent(t_dot, indices_or_sections, axis)


@adjoint(_nr.split_tangent)
def _(z, t, indices_or_sections, axis=0):
    t_bar += _rt.split_adjoint(z_bar, t, indices_or_sections, axis)


@tangent(_nr.split_adjoint)
def _(z, g, x, indices_or_sections, axis=0):
    z_dot = _rt.split_adjoint(g_dot, x, indices_or_sections, axis)


@adjoint(_nr.split_adjoint)
def _(z, g, x, indices_or_sections, axis=0):
    g_bar += _rt.split_tangent(z_bar, indices_or_sections, axis)


for _helper in (
    _nr.hstack_adjoint,
    _nr.vstack_adjoint,
    _nr.split_tangent,
    _nr.split_adjoint,
    _nr.concatenate_pieces,
    _nr.stack_pieces,
    _nr.hstack_pieces,
    _nr.vstack_pieces,
):  # lists of arrays in or out
    lookup(_helper).extra["lists"] = True


@tangent(_nr.pad_tangent)
def _(z, t, pad_width, mode="constant"):
    z_dot = _rt.pad_tangent(t_dot, pad_width, mode)


@adjoint(_nr.pad_tangent)
def _(z, t, pad_width, mode="constant"):
    t_bar += _rt.pad_adjoint(z_bar, t, pad_width)


@tangent(_nr.pad_adjoint)
def _(z, g, x, pad_width):
    z_dot = _rt.pad_adjoint(g_dot, x, pad_width)


@adjoint(_nr.pad_adjoint)
def _(z, g, x, pad_width):
    g_bar += _rt.pad_tangent(z_bar, pad_width)


@tangent(_nr.repeat_adjoint)
def _(z, g, x, repeats, axis=None):
    z_dot = _rt.repeat_adjoint(g_dot, x, repeats, axis)


@adjoint(_nr.repeat_adjoint)
def _(z, g, x, repeats, axis=None):
    g_bar += np.repeat(z_bar, repeats, axis)


@tangent(_nr.roll_adjoint)
def _(z, g, shift, axis=None):
    z_dot = _rt.roll_adjoint(g_dot, shift, axis)


@adjoint(_nr.roll_adjoint)
def _(z, g, shift, axis=None):
    g_bar += np.roll(z_bar, shift, axis)


@tangent(_nr.sort_tangent)
def _(z, t, x, axis=-1):
    z_dot = _rt.sort_tangent(t_dot, x, axis)


@adjoint(_nr.sort_tangent)
def _(z, t, x, axis=-1):
    t_bar += _rt.unbroadcast(_rt.sort_adjoint(z_bar, x, axis), t)


@tangent(_nr.sort_adjoint)
def _(z, g, x, axis=-1):
    z_dot = _rt.sort_adjoint(g_dot, x, axis)


@adjoint(_nr.sort_adjoint)
def _(z, g, x, axis=-1):
    g_bar += _rt.sort_tangent(z_bar, x, axis)


@tangent(_nr.take_adjoint)
def _(z, g, a, indices, axis=None):
    z_dot = _rt.take_adjoint(g_dot, a, indices, axis)


@adjoint(_nr.take_adjoint)
def _(z, g, a, indices, axis=None):
    g_bar += np.take(z_bar, indices, axis=axis)


@tangent(_nr.trace_adjoint)
def _(z, g, a, offset=0, axis1=0, axis2=1):
    z_dot = _rt.trace_adjoint(g_dot, a, offset, axis1, axis2)


@adjoint(_nr.trace_adjoint)
def _(z, g, a, offset=0, axis1=0, axis2=1):
    g_bar += np.trace(z_bar, offset, axis1, axis2)


@tangent(_nr.transpose_adjoint)
def _(z, g, axes=None):
    z_dot = _rt.transpose_adjoint(g_dot, axes)


@adjoint(_nr.transpose_adjoint)
def _(z, g, axes=None):
    g_bar += np.transpose(z_bar, axes)


@tangent(_nr.full_tangent)
def _(z, like, t):
    z_dot = _rt.full_tangent(like, t_dot)


@adjoint(_nr.full_tangent)
def _(z, like, t):
    t_bar += _rt.unbroadcast(z_bar, t)


@tangent(_nr.astype_tangent)
def _(z, t, dtype):
    z_dot = _rt.astype_tangent(t_dot, dtype)


@adjoint(_nr.astype_tangent)
def _(z, t, dtype):
    t_bar += _rt.cast_like(_rt.astype_tangent(z_bar, dtype), t)


@tangent(_nr.phi)
def _(z, x):
    z_dot = _rt.phi(x_dot)


@adjoint(_nr.phi)
def _(z, x):
    x_bar += _rt.phi(z_bar)  # a mask times x: its own transpose


# -- norm: the partials x / |x| (2-norm, Frobenius) differentiated again; the piecewise linear norms
# have constant partials ---------------------------------------------------------------------------


@tangent(_nr.norm_partials)
def _(p, x, z, ord=None, axis=None, keepdims=False):
    p_dot = (
        _rt.norm_order(ord, x, axis)
        * (
            _rt.norm_weight(x, _rt.unreduce(z, x, axis, keepdims), ord) * x_dot
            - p * _rt.unreduce(z_dot, x, axis, keepdims)
        )
        / _rt.unreduce(z, x, axis, keepdims)
    )


@adjoint(_nr.norm_partials)
def _(p, x, z, ord=None, axis=None, keepdims=False):
    x_bar += (
        _rt.norm_order(ord, x, axis)
        * _rt.norm_weight(x, _rt.unreduce(z, x, axis, keepdims), ord)
        * p_bar
        / _rt.unreduce(z, x, axis, keepdims)
    )
    z_bar += -_rt.norm_order(ord, x, axis) * _rt.rereduce(
        p_bar * p / _rt.unreduce(z, x, axis, keepdims), z, axis, keepdims
    )


nondifferentiable(_nr.norm_order, _nr.norm_power)
nondifferentiable(_rt.batch_axis, _rt.batch_index)


# -- helpers of the definitions in s2sad.rules.definitions ------------------------------------------


@tangent(_nr.real_only)
def _(z, x):
    z_dot = _rt.real_only(x_dot)


@adjoint(_nr.real_only)
def _(z, x):
    x_bar += z_bar


nondifferentiable(
    _nr.kron_shapes,
    _nr.split_points,
    _nr.rollaxis_move,
    _nr.diag_padding,
    _nr.diagonal_plan,
    _nr.gradient_axes,
    _nr.flat_along,
)
nondifferentiable(_nr.nonfinite_replaced)  # 0 where finite, a constant where not


# -- items of tuple and list cotangents -------------------------------------------------------------


@tangent(_nr.item)
def _(z, g, k):
    z_dot = _rt.item(g_dot, k)


@adjoint(_nr.item)
def _(z, g, k):
    g_bar += _rt.item_adjoint(z_bar, g, k)


@tangent(_nr.item_adjoint)
def _(z, h, g, k):
    z_dot = _rt.item_adjoint(h_dot, g, k)


@adjoint(_nr.item_adjoint)
def _(z, h, g, k):
    h_bar += _rt.item(z_bar, k)


@tangent(_rt.list_cotangent)
def _(z, g, like):
    z_dot = _rt.list_cotangent(g_dot, like)


@adjoint(_rt.list_cotangent)
def _(z, g, like):
    g_bar += _rt.list_cotangent_transpose(z_bar, g)


@tangent(_rt.list_cotangent_transpose)
def _(z, h, g):
    z_dot = _rt.list_cotangent_transpose(h_dot, g)


@adjoint(_rt.list_cotangent_transpose)
def _(z, h, g):
    h_bar += _rt.list_cotangent(z_bar, h)


for _helper in (_nr.item, _nr.item_adjoint, _rt.list_cotangent, _rt.list_cotangent_transpose):
    lookup(_helper).extra["lists"] = True


@tangent(_rt.form_of)
def _(z, h, g):
    z_dot = _rt.form_of(h_dot, g)


@adjoint(_rt.form_of)
def _(z, h, g):
    h_bar += _rt.form_of(z_bar, h)


@tangent(_rt.list_as)
def _(z, g, b):
    z_dot = _rt.list_as(g_dot, b)


@adjoint(_rt.list_as)
def _(z, g, b):
    g_bar += _rt.form_of(z_bar, g)


@tangent(_rt.list_source_adjoint)
def _(z, g, x):
    z_dot = _rt.list_source_adjoint(g_dot, x)


@adjoint(_rt.list_source_adjoint)
def _(z, g, x):
    g_bar += _rt.form_of(z_bar, g)


for _helper in (_rt.form_of, _rt.list_as, _rt.list_source_adjoint):
    lookup(_helper).extra["lists"] = True


@tangent(_nr.triangle_symmetric)
def _(z, x, UPLO="L"):
    z_dot = _rt.triangle_symmetric(x_dot, UPLO)


@adjoint(_nr.triangle_symmetric)
def _(z, x, UPLO="L"):
    x_bar += _rt.triangle_adjoint(z_bar, UPLO)


@tangent(_nr.triangle_adjoint)
def _(z, g, UPLO="L"):
    z_dot = _rt.triangle_adjoint(g_dot, UPLO)


@adjoint(_nr.triangle_adjoint)
def _(z, g, UPLO="L"):
    g_bar += _rt.triangle_symmetric(z_bar, UPLO)
