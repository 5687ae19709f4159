"""Run-time helpers used by the NumPy rule templates (reached as `_rt.<name>`): the elementwise,
construction and range helpers here, the others in `arrays`, `products`, `reshaping`, `linalg`.

Each helper computes one derivative piece whose shape is only known at run
time: spreading a reduced cotangent back over the reduced axes, the adjoint of
an `einsum`, of a split, of a solve. They keep the dtype of their inputs
(float32 in, float32 out).

>>> unreduce(np.ones(2), np.zeros((2, 3)), axis=-1).tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
>>> extremum_weights(np.array([1.0, 3.0, 3.0]), 3.0).tolist()   # ties share equally
[0.0, 0.5, 0.5]
>>> einsum_adjoint(np.ones((2, 2)), "ij,jk->ik", 0, np.eye(2), 2 * np.eye(2)).tolist()
[[2.0, 2.0], [2.0, 2.0]]
>>> [p.tolist() for p in concatenate_adjoint(np.arange(5.0), [np.zeros(2), np.zeros(3)])]
[[0.0, 1.0], [2.0, 3.0, 4.0]]
"""

import numpy as np

from ..errors import NoDerivativeRuleError

from .arrays import *  # noqa: F401,F403
from .arrays import derivative_dtype
from .core import float_dtype, getitem_adjoint, unbroadcast, zeros_like  # noqa: F401
from .linalg import *  # noqa: F401,F403
from .products import *  # noqa: F401,F403
from .reshaping import *  # noqa: F401,F403

__all__ = [
    "half_inverse",
    "power_dx",
    "power_dy",
    "log_or_zero",
    "linspace_adjoint",
    "linspace_transpose",
    "arange_tangent",
    "arange_adjoint",
    "float_dtype",
    "cast_like",
    "normalize_axes",
    "unreduce",
    "mean_partials",
    "extremum_weights",
    "prod_partials",
    "var_partials",
    "cumsum_adjoint",
    "cumprod_tangent",
    "cumprod_adjoint",
    "norm_partials",
    "matmul_adjoint_x",
    "matmul_adjoint_y",
    "ProductSum",
    "dot_subscripts",
    "bilinear_adjoint",
    "concatenate_pieces",
    "stack_pieces",
    "cumsum_transpose",
    "tile_transpose",
    "contract",
    "pad_tangent",
    "inner_subscripts",
    "tensordot_subscripts",
    "einsum_tangent",
    "einsum_adjoint",
    "slot_only",
    "slot_except",
    "slot_pick",
    "routed",
    "einsum_directions",
    "outer_adjoint_x",
    "outer_adjoint_y",
    "trace_adjoint",
    "transpose_adjoint",
    "method_axes",
    "concatenate_adjoint",
    "stack_adjoint",
    "hstack_adjoint",
    "hstack_pieces",
    "vstack_pieces",
    "norm_order",
    "norm_weight",
    "norm_power",
    "phi",
    "kron_shapes",
    "split_points",
    "rollaxis_move",
    "diag_padding",
    "diagonal_plan",
    "gradient_axes",
    "flat_along",
    "nonfinite_replaced",
    "real_only",
    "triangle_symmetric",
    "triangle_adjoint",
    "vstack_adjoint",
    "split_tangent",
    "split_adjoint",
    "tile_adjoint",
    "repeat_adjoint",
    "broadcast_to_adjoint",
    "roll_adjoint",
    "pad_adjoint",
    "take_adjoint",
    "index_adjoint",
    "prod_hessian_vector",
    "item",
    "item_adjoint",
    "sinc_derivative",
    "clip_inside",
    "clip_below",
    "clip_above",
    "slogdet_tangent",
    "svd_supported",
    "svd_tangent",
    "svd_adjoint",
    "pinv_tangent",
    "eig_supported",
    "eig_tangent",
    "eig_adjoint",
    "pinv_adjoint",
    "slogdet_adjoint",
    "eigh_tangent",
    "eigh_adjoint",
    "array_adjoint",
    "astype_tangent",
    "full_tangent",
    "sort_adjoint",
    "sort_tangent",
    "matrix_t",
    "CotangentList",
]


# -- elementwise helpers ------------------------------------------------------------------------


def sinc_derivative(x):
    """d sinc(x) / dx = (cos(pi x) - sinc(x)) / x, and 0 at x = 0."""
    x = np.asarray(x)
    safe = np.where(x == 0, 1.0, x)
    out = np.where(x == 0, 0.0, (np.cos(np.pi * safe) - np.sinc(safe)) / safe)
    return out.astype(float_dtype(x))[()]


def clip_inside(a, a_min=None, a_max=None):
    """1 where `np.clip` passes `a` through (bounds included), else 0."""
    inside = np.ones(np.shape(a), dtype=bool)
    if a_min is not None:
        inside &= a >= a_min
    if a_max is not None:
        inside &= a <= a_max
    return inside


def clip_below(a, a_min=None, a_max=None):
    """1 where the lower bound is the result."""
    out = np.less(a, a_min)
    return out & (a_min <= a_max) if a_max is not None else out


def clip_above(a, a_min=None, a_max=None):
    """1 where the upper bound is the result."""
    out = np.greater(a, a_max)
    return out if a_min is None else (out & np.less_equal(a_min, a_max)) | np.greater(a_min, a_max)


# -- shapes and indices for the definitions in s2sad.rules.definitions (no derivatives) ---------


def kron_shapes(a, b):
    """The shapes `np.kron(a, b)` is computed with: `a` as (p1, 1, p2, 1, ...), `b` as (1, q1, 1, q2, ...)."""
    sa, sb = np.shape(a), np.shape(b)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    return (
        tuple(x for p in sa for x in (p, 1)),
        tuple(x for q in sb for x in (1, q)),
        tuple(p * q for p, q in zip(sa, sb)),
    )


def split_points(ary, indices_or_sections, axis=0):
    """`np.array_split`'s division points: sections of sizes differing by at most one."""
    if np.ndim(indices_or_sections) != 0:
        return list(indices_or_sections)
    n, sections = np.shape(ary)[axis], int(indices_or_sections)
    each, extra = divmod(n, sections)
    sizes = [each + 1] * extra + [each] * (sections - extra)
    return [int(x) for x in np.cumsum(sizes)[:-1]]


def rollaxis_move(ndim, axis, start=0):
    """`np.rollaxis(a, axis, start)` as the (source, destination) of `np.moveaxis`."""
    axis, start = axis % ndim, start + ndim if start < 0 else start
    if axis < start:
        start -= 1
    return axis, start


def diag_padding(k):
    """The padding that moves a square diagonal matrix onto diagonal `k`."""
    return ((0, k), (k, 0)) if k >= 0 else ((-k, 0), (0, -k))


def diagonal_plan(a, offset=0, axis1=0, axis2=1):
    """(shape with the two axes flattened last, flat indices of diagonal `offset`) for `np.diagonal`."""
    shape = np.shape(a)
    n, m = shape[axis1], shape[axis2]
    rest = tuple(s for i, s in enumerate(shape) if i not in (axis1 % len(shape), axis2 % len(shape)))
    rows = np.arange(max(0, -offset), max(0, min(n, m - offset)))
    return rest + (n * m,), rows * m + rows + offset


def gradient_axes(axis, ndim):
    """The axes `np.gradient` differentiates along, in the order given."""
    axes = (
        tuple(range(ndim))
        if axis is None
        else tuple(int(a) % ndim for a in (axis if np.ndim(axis) else (axis,)))
    )
    if len(axes) > 3:
        raise NotImplementedError("derivatives of np.gradient along more than three axes at once")
    return axes


def flat_along(index, axis):
    """Flat indices into an array for `index` taken along `axis` (as `np.take_along_axis`)."""
    index = np.asarray(index)
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return np.ravel_multi_index(tuple(grid), index.shape).ravel()


def nonfinite_replaced(x, nan=0.0, posinf=None, neginf=None):
    """`np.nan_to_num(x)`'s values where `x` is not finite, 0 where it is: piecewise constant."""
    x = np.asarray(x)
    return np.where(np.isfinite(x), 0.0, np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf))


def real_only(x):
    """`x`, refused if complex: s2sad differentiates real numbers."""
    if np.iscomplexobj(x):
        raise NoDerivativeRuleError(
            "s2sad differentiates real numbers; this value is complex",
            hint="write the real and imaginary parts as two real values or arrays (`z = a + 1j * b`: "
            "compute with `a` and `b`)",
        )
    return x


# -- construction -----------------------------------------------------------------------------------


def array_adjoint(g, x):
    """Adjoint of `np.array(x)`: `g` shaped like `x` (indexable like a nested list)."""
    g = np.asarray(g)
    if isinstance(x, np.ndarray):
        return g.reshape(x.shape).astype(float_dtype(x), copy=False)
    if np.ndim(x) == 0 and not isinstance(x, (list, tuple)):
        return g[()]
    return g


def astype_tangent(t, dtype):
    """Tangent of `x.astype(dtype)`: cast along, and zero for integer or bool targets."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        return np.zeros(np.shape(t))
    return np.asarray(t).astype(dtype)


def full_tangent(z, t):
    """Tangent of `np.full(shape, v)`: the tangent of `v` broadcast over the result."""
    return np.broadcast_to(t, np.shape(z)).astype(float_dtype(z))


def sort_tangent(t, x, axis=-1):
    """Tangent of `np.sort(x, axis)`: the tangent permuted like `x`."""
    if axis is None:
        return np.ravel(t)[np.argsort(np.ravel(x), kind="stable")]
    order = np.argsort(x, axis=axis, kind="stable")
    return np.take_along_axis(np.broadcast_to(t, np.shape(x)), order, axis=axis)


def sort_adjoint(g, x, axis=-1):
    """Adjoint of `np.sort(x, axis)`: scatter `g` back through the sorting permutation."""
    x = np.asarray(x)
    out = np.zeros(x.shape, dtype=derivative_dtype(g, x))
    if axis is None:
        out.reshape(-1)[np.argsort(x.ravel(), kind="stable")] = g
        return out
    order = np.argsort(x, axis=axis, kind="stable")
    np.put_along_axis(out, order, g, axis=axis)
    return out


# -- ranges: np.linspace and np.arange are linear in their float end points and steps -------------


def linspace_adjoint(g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    """Adjoint of `np.linspace(start, stop, num, endpoint, retstep, axis=axis)` w.r.t. `start`
    (`which` 0) or `stop` (1): the samples are `start * (1 - t) + stop * t`, the step
    `(stop - start) / div` (`g` is then the pair of their cotangents)."""
    like = (start, stop)[which]
    step_bar = 0.0
    if retstep:
        g, step_bar = g
        div = (num - 1) if endpoint else num
        step_bar = np.asarray(step_bar) / div * (1.0 if which else -1.0) if div > 0 else 0.0
    weights = np.linspace(1.0, 0.0, num, endpoint) if which == 0 else np.linspace(0.0, 1.0, num, endpoint)
    g = np.moveaxis(np.asarray(g), axis, 0)
    total = np.tensordot(weights, g, axes=(0, 0)) + step_bar
    return unreduce_to(total, like)


def linspace_transpose(h, g, start, stop, num=50, endpoint=True, retstep=False, axis=0, which=0):
    """The transpose of `linspace_adjoint` in its cotangent `g`: the `g` whose adjoint pairs with `h`."""
    like = np.asarray(g[0] if retstep else g)
    weights = np.linspace(1.0, 0.0, num, endpoint) if which == 0 else np.linspace(0.0, 1.0, num, endpoint)
    h = np.broadcast_to(h, np.shape(np.moveaxis(like, axis, 0))[1:])
    samples = np.moveaxis(np.multiply.outer(weights, h), 0, axis if axis >= 0 else like.ndim + axis)
    if not retstep:
        return samples
    div = (num - 1) if endpoint else num
    step = h / div * (1.0 if which else -1.0) if div > 0 else np.zeros_like(h)
    return samples, step


def unreduce_to(g, like):
    """`g` summed to the shape of `like` (broadcasting added axes or stretched ones of size 1)."""
    shape = np.shape(like)
    g = np.asarray(g)
    if g.shape == shape:
        return g if shape else float(g)
    extra = g.ndim - len(shape)
    if extra > 0:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    return g if shape else float(g)


def arange_tangent(z, start_dot, step_dot, stop=None):
    """Tangent of `np.arange(start, stop, step)`: item i is `start + i * step`. With one argument
    it is the stop, which sets only the length: a zero tangent."""
    if stop is None:
        return np.zeros(np.shape(z))
    return start_dot + step_dot * np.arange(np.shape(z)[0])


def arange_adjoint(g, stop=None, which=0):
    """Adjoint of `np.arange(start, stop, step)` w.r.t. `start` (`which` 0) or `step` (1)."""
    if stop is None:
        return 0.0
    g = np.asarray(g)
    return float(np.sum(g)) if which == 0 else float(np.dot(g, np.arange(g.shape[0])))


# -- points where the textbook formula divides 0 by 0 ------------------------------------------


def half_inverse(s):
    """`1 / (2 s)`, 0 where `s` is 0: the derivative of `sqrt` at a spread of 0 (np.std of equal
    values) taken as 0, a subgradient, as `abs` at 0."""
    if np.ndim(s) == 0:
        return 0.5 / s if s != 0 else 0.0 * s
    s = np.asarray(s)
    safe = np.where(s == 0, 1.0, s)
    return np.where(s == 0, 0.0, 0.5 / safe)


def power_dx(x, y, c=1.0):
    """d(c x ** y)/dx = c y x ** (y - 1), 0 where c y is 0 (x ** 0 is 1, also at x = 0). The
    derivative of `power_dx(x, y, c)` w.r.t. x is `power_dx(x, y - 1, c * y)`: 0 where a factor is,
    so every derivative of x ** 0 (and of x ** 1 past the first) is 0, also at x = 0."""
    if np.ndim(x) == 0 and np.ndim(y) == 0 and np.ndim(c) == 0:
        return c * y * x ** (y - 1) if c * y != 0 else 0.0 * x
    x, y = np.asarray(x), np.asarray(y)
    cy = c * y
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cy == 0, 0.0, cy * np.power(np.where(cy == 0, 1.0, x), y - 1))


def log_or_zero(x):
    """log x, 0 where x is 0: the factor of the derivatives of 0 ** y w.r.t. y (0 ** y is 0 for y > 0,
    and so are its derivatives). Written with ruled operations, inlined as its own definition."""
    zero = x == 0
    return np.where(zero, 0.0, np.log(np.where(zero, 1.0, x)))


def power_dy(z, x):
    """d(x ** y)/dy = x ** y log x, 0 where x ** y is 0 (0 ** y with y > 0)."""
    if np.ndim(z) == 0 and np.ndim(x) == 0:
        return z * np.log(x) if z != 0 else 0.0 * z
    z, x = np.asarray(z), np.asarray(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(z == 0, 0.0, z * np.log(np.where(z == 0, 1.0, x)))
