"""Every rule in the table, checked: tangents and adjoints against finite differences.

`EXAMPLES` maps a rule's name to user-style functions that call it. The test
`test_rule` walks `s2sad.rules.RULES` itself, so a differentiable rule without an
example fails; each example is checked in forward mode (`jvp`), split reverse
mode (`vjp`) and joint reverse mode (`grad`) against central differences in
float64, plus the dot-product test <u, J v> == <J^T u, v>.
"""

import ast
import importlib.util
import math
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.pipeline import prepare
from s2sad.errors import NoDerivativeRuleError
from s2sad.rules import RULES

# -- input generators -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One input: its shape (None for a Python float) and how to draw it."""

    shape: object = None
    kind: str = "real"

    def draw(self, rng):
        shape = () if self.shape in (None, "0d") else self.shape
        n = int(np.prod(shape))
        if self.kind == "real":  # away from 0 and from each other's kinks
            values = rng.uniform(0.3, 1.5, n) * rng.choice([-1.0, 1.0], n)
        elif self.kind == "pos":
            values = rng.uniform(0.5, 2.0, n)
        elif self.kind == "unit":
            values = rng.uniform(-0.8, 0.8, n)
        elif self.kind == "gt1":
            values = rng.uniform(1.2, 3.0, n)
        elif self.kind == "distinct":  # separated values: no ties within finite-difference steps
            values = (rng.permutation(n) + rng.uniform(0.1, 0.4, n)) * 0.3 * rng.choice([-1.0, 1.0])
        elif self.kind == "well":  # a well-conditioned square matrix (stack)
            values = (rng.normal(size=shape) * 0.3 + 2.0 * np.eye(shape[-1])).ravel()
        else:
            raise ValueError(self.kind)
        values = values.reshape(shape)
        if self.shape is None:
            return float(values)
        return np.array(values)


def S(kind="real"):
    return Arg(None, kind)


def Z(kind="real"):
    return Arg("0d", kind)


def A(*shape, kind="real"):
    return Arg(tuple(shape), kind)


def P(*shape):
    return Arg(tuple(shape) or None, "pos")


def U(*shape):
    return Arg(tuple(shape) or None, "unit")


def D(*shape):
    return Arg(tuple(shape), "distinct")


def W(n, batch=()):
    return Arg(tuple(batch) + (n, n), "well")


@dataclass
class Example:
    body: str
    args: tuple
    bug: str = None  # a known compiler bug: the check must fail until it is fixed


def ex(body, *args, bug=None):
    """`body` is an expression of the inputs `a, b, c, ...` or a block ending in `return`."""
    return Example(body, args, bug)


# -- the example table: rule name -> functions that use it ----------------------------------------

EXAMPLES = {
    # run-time helpers of generated code (what `grad(grad(f))` differentiates)
    "s2sad.runtime.unbroadcast": [
        ex("_rt.unbroadcast(a, b)", A(2, 3), A(3)),
        ex("_rt.unbroadcast(a, b)", A(3), S()),
        ex("_rt.unbroadcast(a, b)", A(2, 3), A(2, 1)),
    ],
    "s2sad.runtime.broadcast_like": [
        ex("_rt.broadcast_like(a, b)", A(3), A(2, 3)),
        ex("_rt.broadcast_like(a, b)", S(), A(2)),
    ],
    "s2sad.runtime.like": [ex("_rt.like(a, b)", S(), A(3)), ex("_rt.like(a, b)", A(3), A(3))],
    "s2sad.runtime.owned": [ex("_rt.owned(a, b)", A(3), A(2, 3))],
    "s2sad.runtime.cast_like": [ex("_rt.cast_like(a, b)", A(3), A(3))],
    "s2sad.runtime.copy": [ex("_rt.copy(a)", A(3)), ex("_rt.copy(a) * a", S())],
    "s2sad.runtime.check_scalar": [ex("_rt.check_scalar(a * b, None)", S(), S())],
    "s2sad.runtime.unreduce": [
        ex("_rt.unreduce(a, b, 1, False)", A(2), A(2, 3)),
        ex("_rt.unreduce(a, b)", S(), A(2, 3)),
        ex("_rt.unreduce(a, b, 0, True)", A(1, 3), A(2, 3)),
    ],
    "s2sad.runtime.rereduce": [
        ex("_rt.rereduce(a, b, 1, False)", A(2, 3), A(2)),
        ex("_rt.rereduce(a, b)", A(2, 3), S()),
    ],
    "s2sad.runtime.index_adjoint": [
        ex("_rt.index_adjoint(a, b, np.array([1, 1, 2]))", A(3), A(4)),
        ex("_rt.index_adjoint(a, b, 1)", S(), A(3)),
    ],
    "s2sad.runtime.getitem_adjoint": [
        ex("_rt.getitem_adjoint(a, b, np.array([1, 1, 2]))", A(3), A(4)),
        ex("_rt.getitem_adjoint(a, b, 1)", S(), A(3)),
    ],
    "s2sad.runtime.written_part": [
        ex("_rt.written_part(a, np.array([0, 2, 0]))", A(4)),
        ex("_rt.written_part(a, np.array([[1, 1], [0, 2]]))", A(3, 2)),
        ex("_rt.written_part(a, slice(1, None))", A(4)),
    ],
    "s2sad.runtime.last_writes": [
        ex("_rt.last_writes(a, b, np.array([0, 2, 0]))", A(3), A(4)),
        ex("_rt.last_writes(a, b, 1)", S(), A(3)),
    ],
    "s2sad.runtime.prod_partials": [
        ex("_rt.prod_partials(a)", A(4)),
        ex("_rt.prod_partials(a, 1)", A(2, 3)),
        ex("_rt.prod_partials(a, 0) * a", A(3, 2)),
        ex("_rt.prod_partials(a, 0) * a", A(1, 3)),  # a size-1 axis: the others are none
    ],
    "s2sad.runtime.added_at": [
        ex("_rt.added_at(a, np.array([0, 2, 0]), b)", A(4), A(3)),
        ex("_rt.added_at(a, 1, b)", A(3), S()),
    ],
    "s2sad.runtime.list_add": [
        ex("xs = _rt.list_add([a, b * a], [b, a])\n    return xs[0] * xs[1]", A(2), A(2)),
        ex("xs = _rt.list_add([a], np.stack([b]), [a])\n    return xs[0] * b", A(2), A(2)),
    ],
    "s2sad.runtime.list_like": [
        ex("xs = _rt.list_like([a * 1.0, b], [a, b])\n    return xs[0] * xs[1]", A(2), A(2))
    ],
    "s2sad.runtime.bilinear_adjoint": [
        ex("_rt.bilinear_adjoint(a, 'ab,b->a', 1, b, c)", A(3), A(3, 4), A(4)),
        ex("_rt.bilinear_adjoint(a, 'ab,b->a', 0, b, c)", A(3), A(3, 4), A(4)),
        ex("_rt.bilinear_adjoint(a, None, 0, b, c)", A(3), A(3), S()),
        ex("_rt.bilinear_adjoint(a, _rt.dot_subscripts(b, c), 1, b, c)", S(), A(4), A(4)),
    ],
    "s2sad.runtime.outer_adjoint_x": [ex("_rt.outer_adjoint_x(a, b, c)", A(3, 2), A(3), A(2))],
    "s2sad.runtime.outer_adjoint_y": [ex("_rt.outer_adjoint_y(a, b, c)", A(3, 2), A(3), A(2))],
    "s2sad.runtime.cumsum_adjoint": [
        ex("_rt.cumsum_adjoint(a, b)", A(4), A(4)),
        ex("_rt.cumsum_adjoint(a, b, 1)", A(2, 3), A(2, 3)),
    ],
    "s2sad.runtime.cumsum_transpose": [
        ex("_rt.cumsum_transpose(a, b)", A(4), A(4)),
        ex("_rt.cumsum_transpose(a, b, 0)", A(2, 3), A(2, 3)),
    ],
    "s2sad.runtime.tile_adjoint": [ex("_rt.tile_adjoint(a, b, 2)", A(6), A(3))],
    "s2sad.runtime.tile_transpose": [ex("_rt.tile_transpose(a, b, 2)", A(3), A(6))],
    "s2sad.runtime.concatenate_adjoint": [
        ex(
            "ps = _rt.concatenate_adjoint(a, [b, c], 0)\n    return ps[0] * 2.0 + np.sum(ps[1])",
            A(5),
            A(2),
            A(3),
        )
    ],
    "s2sad.runtime.stack_adjoint": [
        ex("ps = _rt.stack_adjoint(a, [b, c], 0)\n    return ps[0] * ps[1]", A(2, 3), A(3), A(3))
    ],
    "s2sad.runtime.var_partials": [ex("_rt.var_partials(a)", A(4)), ex("_rt.var_partials(a, 0, 1)", A(3, 2))],
    "s2sad.runtime.matrix_t": [ex("_rt.matrix_t(a)", A(2, 3))],
    "s2sad.runtime.einsum_tangent": [
        ex("_rt.einsum_tangent('ij,jk->ik', a, b, None, c, d, 0.0)", A(2, 3), A(3, 4), A(2, 3), A(3, 4)),
        ex("_rt.einsum_tangent('ij,j', a, b, None, 0.0, c, 0.0)", A(2, 3), A(3), A(3)),
        ex("_rt.einsum_tangent('...ij,jk->...ik', a, b, None, c, 0.0, 0.0)", A(2, 2, 3), A(3, 2), A(2, 2, 3)),
        ex(
            "_rt.einsum_tangent('ij,lji,lli->li', a, b, c, d, 0.0, e)",
            A(2, 3),
            A(2, 3, 2),
            A(2, 2, 2),
            A(2, 3),
            A(2, 2, 2),
        ),
    ],
    "s2sad.runtime.einsum_adjoint": [
        ex("_rt.einsum_adjoint(a, 'ij,jk->ik', 0, b, c)", A(2, 4), A(2, 3), A(3, 4)),
        ex("_rt.einsum_adjoint(a, 'ij,jk->ik', 1, b, c)", A(2, 4), A(2, 3), A(3, 4)),
        ex("_rt.einsum_adjoint(a, 'ij,k', 1, b, c)", A(2, 3, 4), A(2, 3), A(4)),
        ex("_rt.einsum_adjoint(a, 'ii->i', 0, b)", A(3), A(3, 3)),
        ex("_rt.einsum_adjoint(a, 'ij,lji,lli->li', 2, b, c, d)", A(2, 2), A(2, 3), A(2, 3, 2), A(2, 2, 2)),
        ex("_rt.einsum_adjoint(a, '...ij,...jk->...ik', 0, b, c)", A(2, 2, 2), A(1, 2, 3), A(2, 3, 2)),
    ],
    "s2sad.runtime.slot_only": [ex("_rt.slot_only(a, 1, 1) + _rt.slot_only(a, 1, 0)", A(3))],
    "s2sad.runtime.slot_except": [ex("_rt.slot_except(a, 1, 0) + _rt.slot_except(a, 1, 1)", A(3))],
    "s2sad.runtime.item": [ex("_rt.item((a, b * a), 1) + _rt.item(0.0, 0)", A(3), A(3))],
    "s2sad.runtime.item_adjoint": [
        ex("xs = _rt.item_adjoint(a, (b, b), 1)\n    return xs[1] * xs[0] + xs[1]", A(3), A(3))
    ],
    "s2sad.runtime.real_only": [ex("_rt.real_only(a) * a", A(3))],
    "s2sad.runtime.list_cotangent": [
        ex("xs = _rt.list_cotangent(a, [b, b])\n    return xs[0] * xs[1]", A(2, 3), A(3)),
        ex("xs = _rt.list_cotangent([a, b], [a, b])\n    return xs[0] * xs[1]", A(3), A(3)),
    ],
    "s2sad.runtime.list_cotangent_transpose": [
        ex("_rt.list_cotangent_transpose([a, b], c)", A(3), A(3), A(2, 3))
    ],
    "tuple": [
        ex("xs = tuple(a)\n    return xs[0] * xs[1]", A(2, 3)),
        ex("xs = tuple((a, b * a))\n    return xs[0] * xs[1]", A(3), A(3)),
    ],
    "s2sad.runtime.form_of": [
        ex("xs = _rt.form_of(a, [b, b])\n    return xs[0] * xs[1]", A(2, 3), A(3)),
        ex("_rt.form_of([a, b], c)", A(3), A(3), A(2, 3)),
    ],
    "s2sad.runtime.list_as": [
        ex("_rt.list_as([a, b], c)", A(3), A(3), A(2, 3)),
        ex("xs = _rt.list_as([a, b], [a, b])\n    return xs[0] * xs[1]", A(3), A(3)),
    ],
    "s2sad.runtime.list_source_adjoint": [
        ex("_rt.list_source_adjoint([a, b], c)", A(3), A(3), A(2, 3)),
        ex("xs = _rt.list_source_adjoint(a, [b, b])\n    return xs[0] * xs[1]", A(2, 3), A(3)),
    ],
    "s2sad.runtime.triangle_symmetric": [
        ex("_rt.triangle_symmetric(a)", A(3, 3)),
        ex("_rt.triangle_symmetric(a, 'U')", A(2, 3, 3)),
    ],
    "s2sad.runtime.triangle_adjoint": [
        ex("_rt.triangle_adjoint(a)", A(3, 3)),
        ex("_rt.triangle_adjoint(a, 'U')", A(3, 3)),
    ],
    "s2sad.runtime.routed": [
        ex("_rt.routed(a, 1, 1, True, b) + _rt.routed(a, 1, 0, True, b) * b", A(3), A(3)),
        ex("_rt.routed(a, 1, 0, False, b)", A(2), A(2)),
    ],
    "s2sad.runtime.slot_pick": [ex("_rt.slot_pick(a, b, 1, 1) + _rt.slot_pick(a, b, 1, 0)", A(3), A(3))],
    "s2sad.runtime.contract": [
        ex("_rt.contract('ab,b->a', 0, a, b, c, d)", A(3, 4), A(3, 4), A(4), A(3)),
        ex("_rt.contract('ab,b->a', 1, a, b, c, d)", A(4), A(3, 4), A(4), A(3)),
        ex("_rt.contract(None, 0, a, b, c, d)", A(3), A(3), S(), A(3)),
    ],
    "s2sad.runtime.array_adjoint": [
        ex("_rt.array_adjoint(a, b)", A(2, 3), A(6)),
        ex("_rt.array_adjoint(a, b)", Z(), S()),
    ],
    "s2sad.runtime.astype_tangent": [
        ex("_rt.astype_tangent(a, np.float64)", A(3)),
        ex("_rt.astype_tangent(a, np.float64) * _rt.astype_tangent(a, int)", A(3)),
    ],
    "s2sad.runtime.broadcast_to_adjoint": [
        ex("_rt.broadcast_to_adjoint(a, b)", A(2, 3), A(3)),
        ex("_rt.broadcast_to_adjoint(a, b)", A(2, 3), A(2, 1)),
    ],
    "s2sad.runtime.concatenate_pieces": [
        ex("_rt.concatenate_pieces([a, b * a[0]], c, [a, b], 0)", A(2), A(3), A(5)),
        ex("_rt.concatenate_pieces([a, b], c, [a, b], None)", A(2, 2), A(2), A(6)),
    ],
    "s2sad.runtime.stack_pieces": [ex("_rt.stack_pieces([a, b], [a, b], 1)", A(3), A(3))],
    "s2sad.runtime.hstack_adjoint": [
        ex("xs = _rt.hstack_adjoint(a, [b, c])\n    return xs[0] * xs[1][0]", A(5), A(2), A(3)),
        ex("xs = _rt.hstack_adjoint(a, [b, c])\n    return xs[0] * xs[1]", A(2, 4), A(2, 2), A(2, 2)),
        ex("_rt.hstack_adjoint(a, b)", A(6), A(2, 3)),
    ],
    "s2sad.runtime.vstack_adjoint": [
        ex("xs = _rt.vstack_adjoint(a, [b, c])\n    return xs[0] * xs[1]", A(2, 3), A(3), A(3)),
        ex("_rt.vstack_adjoint(a, b)", A(2, 3), A(2, 3)),
    ],
    "s2sad.runtime.hstack_pieces": [
        ex("_rt.hstack_pieces([a, b], c, [a, b])", A(2), A(3), A(5)),
        ex("_rt.hstack_pieces([a, b], c, [a, b])", A(2, 1), A(2, 2), A(2, 3)),
    ],
    "s2sad.runtime.vstack_pieces": [ex("_rt.vstack_pieces([a, b], c, [a, b])", A(3), A(3), A(2, 3))],
    "s2sad.runtime.split_tangent": [
        ex("xs = _rt.split_tangent(a, 2)\n    return xs[0] * xs[1]", A(4)),
        ex("xs = _rt.split_tangent(a, [1], 1)\n    return xs[1] * xs[0]", A(2, 3)),
    ],
    "s2sad.runtime.split_adjoint": [ex("_rt.split_adjoint([a, b], c, 2)", A(2), A(2), A(4))],
    "s2sad.runtime.pad_tangent": [
        ex("_rt.pad_tangent(a, 1)", A(3)),
        ex("_rt.pad_tangent(a, ((0, 1), (2, 0)))", A(2, 2)),
    ],
    "s2sad.runtime.pad_adjoint": [ex("_rt.pad_adjoint(a, b, 1)", A(5), A(3))],
    "s2sad.runtime.repeat_adjoint": [
        ex("_rt.repeat_adjoint(a, b, 2)", A(6), A(3)),
        ex("_rt.repeat_adjoint(a, b, [2, 0, 1], 1)", A(2, 3), A(2, 3)),
        ex("_rt.repeat_adjoint(a, b, [0, 1], 0)", A(1, 2), A(2, 2)),
    ],
    "s2sad.runtime.roll_adjoint": [
        ex("_rt.roll_adjoint(a, 1)", A(4)),
        ex("_rt.roll_adjoint(a, (1, -1), (0, 1))", A(2, 3)),
    ],
    "s2sad.runtime.sort_tangent": [
        ex("_rt.sort_tangent(a, b, -1)", A(2, 3), D(2, 3)),
        ex("_rt.sort_tangent(a, b, None)", A(4), D(4)),
    ],
    "s2sad.runtime.sort_adjoint": [
        ex("_rt.sort_adjoint(a, b, 0)", A(2, 3), D(2, 3)),
        ex("_rt.sort_adjoint(a, b, None)", A(4), D(2, 2)),
    ],
    "s2sad.runtime.take_adjoint": [
        ex("_rt.take_adjoint(a, b, np.array([0, 2, 0]))", A(3), A(4)),
        ex("_rt.take_adjoint(a, b, np.array([1, 1]), 1)", A(2, 2), A(2, 3)),
    ],
    "s2sad.runtime.trace_adjoint": [
        ex("_rt.trace_adjoint(a, b)", S(), A(3, 3)),
        ex("_rt.trace_adjoint(a, b, 1, 1, 2)", A(2), A(2, 3, 3)),
    ],
    "s2sad.runtime.transpose_adjoint": [
        ex("_rt.transpose_adjoint(a, (1, 2, 0))", A(2, 3, 4)),
        ex("_rt.transpose_adjoint(a)", A(2, 3)),
    ],
    "s2sad.runtime.full_tangent": [
        ex("_rt.full_tangent(b, a)", S(), A(2, 3)),
        ex("_rt.full_tangent(b, a)", A(3), A(2, 3)),
    ],
    "s2sad.runtime.phi": [ex("_rt.phi(a)", A(3, 3)), ex("_rt.phi(a)", A(2, 2, 2))],
    "s2sad.runtime.norm_partials": [
        ex("_rt.norm_partials(a, np.linalg.norm(a))", A(3)),
        ex("_rt.norm_partials(a, np.linalg.norm(a, axis=1), None, 1)", A(2, 3)),
        ex("_rt.norm_partials(a, np.linalg.norm(a, 'fro', (0, 1), True), 'fro', (0, 1), True)", A(2, 3)),
        ex("_rt.norm_partials(a, b, 1) * b", A(3), P()),
        ex("_rt.norm_partials(a, np.linalg.norm(a, 3), 3)", A(3)),
        ex("_rt.norm_partials(a, np.linalg.norm(a, 2.5, axis=0), 2.5, 0)", A(3, 2)),
    ],
    "s2sad.runtime.matmul_adjoint_x": [
        ex("_rt.matmul_adjoint_x(a, b, c)", A(3, 2), A(3, 4), A(4, 2)),
        ex("_rt.matmul_adjoint_x(a, b, c)", A(3), A(3, 4), A(4)),
        ex("_rt.matmul_adjoint_x(a, b, c)", A(2), A(4), A(4, 2)),
    ],
    "s2sad.runtime.matmul_adjoint_y": [
        ex("_rt.matmul_adjoint_y(a, b, c)", A(3, 2), A(3, 4), A(4, 2)),
        ex("_rt.matmul_adjoint_y(a, b, c)", A(3), A(3, 4), A(4)),
        ex("_rt.matmul_adjoint_y(a, b, c)", A(2), A(4), A(4, 2)),
    ],
    "s2sad.runtime.linspace_adjoint": [
        ex("_rt.linspace_adjoint(a, b, c, 4, True, False, 0, 0)", A(4), S(), S()),
        ex("_rt.linspace_adjoint(a, b, c, 3, False, False, 1, 1)", A(2, 3), A(2), S()),
    ],
    "s2sad.runtime.arange_tangent": [ex("_rt.arange_tangent(np.zeros(3), a, b, 3.0)", S(), S())],
    "s2sad.runtime.arange_adjoint": [
        ex("_rt.arange_adjoint(a, 3.0, 1) + _rt.arange_adjoint(a, 3.0, 0)", A(3))
    ],
    "s2sad.runtime.half_inverse": [ex("_rt.half_inverse(a)", P(3)), ex("_rt.half_inverse(a)", P())],
    "s2sad.runtime.power_dx": [
        ex("_rt.power_dx(a, b)", P(3), A(3)),
        ex("_rt.power_dx(a, b)", P(), S()),
        ex("_rt.power_dx(a, b, c)", P(3), A(3), A(3)),
        ex("_rt.power_dx(a * 0.0, 0.0)", A(2)),  # x ** 0 at x = 0: every derivative is 0
        ex("_rt.power_dx(a - a, 1.0, b * 0.0)", S(), S()),
    ],
    "s2sad.runtime.power_dy": [
        ex("_rt.power_dy(a, b)", A(3), P(3)),
        ex("_rt.power_dy(a, b)", S(), P()),
        ex("_rt.power_dy(0.0 ** a, 0.0)", P(3)),  # 0 ** y (y > 0) is 0: so are its derivatives
    ],
    # operators and builtins
    "operator.mod": [ex("a % b", A(3), P(3)), ex("a % 1.0", S()), ex("(a * 3.0) % b", S(), P())],
    "math.fmod": [ex("math.fmod(a, b)", S(), P())],
    "divmod": [ex("q, r = divmod(a, b)\n    return r * r + q * a", S(), P())],
    "numpy.divmod": [ex("q, r = np.divmod(a, b)\n    return r * a + q", A(3), P())],
    "numpy.modf": [ex("f, i = np.modf(a)\n    return f * f + i * a", A(3))],
    "math.copysign": [ex("math.copysign(a, b)", S(), S()), ex("math.copysign(2.0, a) * a", S())],
    "numpy.copysign": [ex("np.copysign(a, b)", A(3), S())],
    "numpy.remainder": [ex("np.mod(a, b)", A(2, 3), P(3)), ex("np.remainder(a, b)", S(), P())],
    "numpy.fmod": [ex("np.fmod(a, b)", A(3), P(3))],
    "numpy.linspace": [
        ex("np.linspace(a, b, 5)", S(), S()),
        ex("np.linspace(a, b, 4, endpoint=False)", A(2), S()),
        ex("np.linspace(a, b, 3, axis=-1)", A(2), A(2)),
        ex("np.linspace(0.0, a, 1)", S()),
    ],
    "numpy.arange": [ex("np.arange(a, 3.0, b)", S(), P()), ex("np.arange(a, 2.5) * a", S())],
    "numpy.ndarray.tolist": [
        ex("sum([v * v for v in a.tolist()])", A(3)),
        ex("rows = a.tolist()\n    return rows[1][0] * rows[0][1]", A(2, 2)),
    ],
    "operator.add": [ex("a + b", A(2, 3), A(3)), ex("a + b", S(), A(2)), ex("a + b", Z(), S())],
    "operator.sub": [ex("a - b", A(3, 1), A(4)), ex("a - b", S(), S())],
    "operator.mul": [ex("a * b", A(2, 3), A(2, 1)), ex("a * b", S(), A(3)), ex("a * b", Z(), Z())],
    "operator.truediv": [ex("a / b", A(3), P(2, 3)), ex("a / b", S(), P())],
    "operator.pow": [ex("a ** b", P(3), A(3)), ex("a ** 3.0", A(2, 2)), ex("a ** b", P(), S())],
    "operator.neg": [ex("-a", A(3)), ex("-a", S())],
    "operator.matmul": [
        ex("a @ b", A(3, 4), A(4, 2)),
        ex("a @ b", A(4), A(4, 3)),
        ex("a @ b", A(3, 4), A(4)),
        ex("a @ b", A(4), A(4)),
        ex("a @ b", A(2, 3, 4), A(4, 2)),
        ex("a @ b", A(2, 1, 2, 3), A(3, 3, 2)),
    ],
    "operator.getitem": [
        ex("a[1]", A(4)),
        ex("a[1:5:2]", A(6)),
        ex("a[-1, ::-2]", A(3, 5)),
        ex("a[None, 1:]", A(3)),
        ex("a[..., 0]", A(2, 3, 2)),
        ex("a[np.array([0, 2, 0, 0])]", A(4)),
        ex("a[np.array([[0, 1], [1, 1]]), 2]", A(3, 3)),
        ex("a[a > 0.0]", A(2, 4)),
        ex("a[:, np.newaxis] * a[1]", A(3)),
        ex("a[1, -2]", A(2, 3)),
        ex("a[[1, 1, 2]]", A(4)),
    ],
    "abs": [ex("abs(a)", S()), ex("abs(a)", A(3))],
    "float": [ex("float(a * 2.0) * a", S())],
    "numpy.ndarray.item": [
        ex("np.sum(a * a).item() * a", A(3)),
        ex("a[1:2, 0:1].item() ** 2 + a[0, 0].item()", A(2, 2)),
        ex("a.item() * a", Z()),
    ],
    "list": [
        ex("ys = list(a); ys.append(b)\n    return np.array(ys) * 2.0", A(3), S()),
        ex("xs = [a, b * a]; ys = list(xs); ys[0] = b + ys[1]\n    return np.stack(ys) + xs[0]", A(2), S()),
    ],
    "max": [ex("max(a, b)", S(), S()), ex("max(a * a, 0.5)", S())],
    "min": [ex("min(a, b)", S(), S()), ex("min(a, 0.5)", S())],
    # math
    "math.sin": [ex("math.sin(a)", S())],
    "math.cos": [ex("math.cos(a)", S())],
    "math.tan": [ex("math.tan(a)", U())],
    "math.exp": [ex("math.exp(a)", S())],
    "math.expm1": [ex("math.expm1(a)", S())],
    "math.log": [ex("math.log(a)", P()), ex("math.log(a, 3.0)", P())],
    "math.log1p": [ex("math.log1p(a)", P())],
    "math.log2": [ex("math.log2(a)", P())],
    "math.log10": [ex("math.log10(a)", P())],
    "math.sqrt": [ex("math.sqrt(a)", P())],
    "math.tanh": [ex("math.tanh(a)", S())],
    "math.sinh": [ex("math.sinh(a)", S())],
    "math.cosh": [ex("math.cosh(a)", S())],
    "math.asin": [ex("math.asin(a)", U())],
    "math.acos": [ex("math.acos(a)", U())],
    "math.atan": [ex("math.atan(a)", S())],
    "math.atan2": [ex("math.atan2(a, b)", S(), S())],
    "math.hypot": [ex("math.hypot(a, b)", S(), S())],
    "math.pow": [ex("math.pow(a, b)", P(), S())],
    "math.fabs": [ex("math.fabs(a)", S())],
    "math.erf": [ex("math.erf(a)", S())],
    # NumPy elementwise (broadcasting and 0-d included)
    "numpy.add": [ex("np.add(a, b)", A(3, 1), A(4))],
    "numpy.subtract": [ex("np.subtract(a, b)", S(), A(3))],
    "numpy.multiply": [ex("np.multiply(a, b)", A(2, 3), Z())],
    "numpy.divide": [ex("np.divide(a, b)", A(2, 3), P(3))],
    "numpy.power": [ex("np.power(a, b)", P(2, 3), A(3))],
    "numpy.negative": [ex("np.negative(a)", A(3))],
    "numpy.absolute": [ex("np.abs(a)", A(4)), ex("np.absolute(a)", Z())],
    "numpy.maximum": [ex("np.maximum(a, b)", A(3, 1), A(3))],
    "numpy.minimum": [ex("np.minimum(a, b)", A(3), S())],
    "numpy.fmax": [ex("np.fmax(a, b)", A(2, 3), A(3))],
    "numpy.fmin": [ex("np.fmin(a, b)", A(3), A(3))],
    "numpy.sin": [ex("np.sin(a)", A(3)), ex("np.sin(a)", Z()), ex("np.sin(a)", S())],
    "numpy.cos": [ex("np.cos(a)", A(3))],
    "numpy.tan": [ex("np.tan(a)", U(3))],
    "numpy.exp": [ex("np.exp(a)", A(2, 2))],
    "numpy.log": [ex("np.log(a)", P(3))],
    "numpy.log1p": [ex("np.log1p(a)", P(3))],
    "numpy.sqrt": [ex("np.sqrt(a)", P(3))],
    "numpy.tanh": [ex("np.tanh(a)", A(3))],
    "numpy.sinh": [ex("np.sinh(a)", A(3))],
    "numpy.cosh": [ex("np.cosh(a)", A(3))],
    "numpy.arcsin": [ex("np.arcsin(a)", U(3))],
    "numpy.arccos": [ex("np.arccos(a)", U(3))],
    "numpy.arctan": [ex("np.arctan(a)", A(3))],
    "numpy.square": [ex("np.square(a)", A(3))],
    "numpy.where": [ex("np.where(a > 0.0, a, b)", A(2, 3), A(3)), ex("np.where(a > 0.0, a * a, 2.0)", A(4))],
    "numpy.arcsinh": [ex("np.arcsinh(a)", A(3))],
    "numpy.arccosh": [ex("np.arccosh(a)", Arg((3,), "gt1"))],
    "numpy.arctanh": [ex("np.arctanh(a)", U(3))],
    "numpy.exp2": [ex("np.exp2(a)", A(3)), ex("np.exp2(a)", S())],
    "numpy.expm1": [ex("np.expm1(a)", A(3))],
    "numpy.log2": [ex("np.log2(a)", P(3))],
    "numpy.log10": [ex("np.log10(a)", P(3))],
    "numpy.cbrt": [ex("np.cbrt(a)", A(3))],
    "numpy.reciprocal": [ex("np.reciprocal(a)", A(3))],
    "numpy.deg2rad": [ex("np.deg2rad(a)", A(2))],
    "numpy.radians": [ex("np.radians(a)", S())],
    "numpy.rad2deg": [ex("np.rad2deg(a)", A(2))],
    "numpy.degrees": [ex("np.degrees(a)", S())],
    "numpy.sinc": [ex("np.sinc(a)", A(4)), ex("np.sinc(a * 0.0 + 1e-9 * a)", A(2))],
    "numpy.hypot": [ex("np.hypot(a, b)", A(2, 3), A(3)), ex("np.hypot(a, b)", Z(), S())],
    "numpy.arctan2": [ex("np.arctan2(a, b)", A(3), A(2, 3)), ex("np.arctan2(a, b)", S(), S())],
    "numpy.logaddexp": [ex("np.logaddexp(a, b)", A(3, 1), A(2))],
    "numpy.logaddexp2": [ex("np.logaddexp2(a, b)", A(3), S())],
    "numpy.float_power": [ex("np.float_power(a, b)", P(3), A(2, 3))],
    "numpy.clip": [
        ex("np.clip(a, -0.5, 0.5)", U(5)),
        ex("np.clip(a, b, None)", A(2, 3), A(3)),
        ex("np.clip(a, b, c)", A(4), Arg((4,), "unit"), P(1)),
    ],
    "numpy.ndarray.clip": [ex("a.clip(-0.5, 0.5)", U(5)), ex("a.clip(min=b)", A(2, 3), A(3))],
    # products
    "numpy.matmul": [ex("np.matmul(a, b)", A(3, 4), A(4)), ex("np.matmul(a, b)", A(2, 2, 3), A(2, 3, 2))],
    "numpy.dot": [
        ex("np.dot(a, b)", A(3, 4), A(4)),
        ex("np.dot(a, b)", A(4), A(4)),
        ex("np.dot(a, b)", A(2, 3), A(3, 2)),
        ex("np.dot(a, b)", S(), A(3)),
        ex("np.dot(a, b)", A(2, 3, 4), A(4, 2)),
        ex("np.dot(a, b)", A(3), A(2, 3, 2)),
    ],
    "numpy.ndarray.dot": [ex("a.dot(b)", A(2, 3), A(3))],
    "numpy.inner": [
        ex("np.inner(a, b)", A(4), A(4)),
        ex("np.inner(a, b)", A(2, 4), A(3, 4)),
        ex("np.inner(a, b)", A(3), S()),
    ],
    "numpy.outer": [ex("np.outer(a, b)", A(3), A(2)), ex("np.outer(a, b)", A(2, 2), A(3))],
    "numpy.tensordot": [
        ex("np.tensordot(a, b, 1)", A(2, 3), A(3, 4)),
        ex("np.tensordot(a, b)", A(2, 3, 4), A(3, 4)),
        ex("np.tensordot(a, b, axes=([1, 0], [0, 2]))", A(2, 3), A(3, 2, 2)),
        ex("np.tensordot(a, b, 0)", A(2), A(3)),
    ],
    "numpy.einsum": [
        ex("np.einsum('ij,jk->ik', a, b)", A(2, 3), A(3, 2)),
        ex("np.einsum('i,i->', a, b)", A(3), A(3)),
        ex("np.einsum('ij->ji', a)", A(2, 3)),
        ex("np.einsum('ij->', a)", A(2, 3)),
        ex("np.einsum('ij,k->ik', a, b)", A(2, 3), A(2)),
        ex("np.einsum('ij,j,jk->ik', a, b, c)", A(2, 3), A(3), A(3, 2)),
        ex("np.einsum('ij,j', a, b)", A(2, 3), A(3)),
        ex("np.einsum('...ij,...jk->...ik', a, b, optimize=True)", A(2, 3), A(2, 2, 3, 2)),
        ex("np.einsum('ijk,lji,lli->lki', a, b, c)", A(3, 2, 2), A(2, 2, 3), A(2, 2, 3)),
        ex("np.einsum('ii->i', a)", A(3, 3)),
        ex("np.einsum('ij,k', a, b)", A(2, 3), A(1)),
        # the sublist form, its sublists known when compiling: rewritten to the string form
        ex("np.einsum(a, [0, 1], b, [1, 2], [0, 2])", A(2, 3), A(3, 2)),
        ex("np.einsum(a, [Ellipsis, 0, 1], [Ellipsis, 1, 0])", A(2, 2, 3)),
        ex("np.einsum(a, (0, 1), b, (1,), c, (1, 2))", A(2, 3), A(3), A(3, 2)),
    ],
    "numpy.trace": [
        ex("np.trace(a)", A(3, 3)),
        ex("np.trace(a, 1)", A(3, 4)),
        ex("np.trace(a, 0, 1, 2)", A(2, 3, 3)),
    ],
    "numpy.ndarray.trace": [ex("a.trace()", A(3, 3))],
    # reductions
    "numpy.sum": [
        ex("np.sum(a)", A(2, 3)),
        ex("np.sum(a, axis=0)", A(2, 3)),
        ex("np.sum(a, axis=(0, -1))", A(2, 3, 2)),
        ex("np.sum(a, -1, keepdims=True)", A(2, 3)),
        ex("np.sum(a)", S()),
        ex("np.sum(a)", Z()),
    ],
    "numpy.ndarray.sum": [
        ex("a.sum()", A(3)),
        ex("a.sum(1)", A(2, 3)),
        ex("a.sum(axis=(1, 2), keepdims=True)", A(2, 2, 2)),
    ],
    "numpy.mean": [
        ex("np.mean(a)", A(2, 3)),
        ex("np.mean(a, axis=(0, -1))", A(2, 3, 2)),
        ex("np.mean(a, 1, keepdims=True)", A(2, 3)),
    ],
    "numpy.ndarray.mean": [ex("a.mean(axis=0)", A(2, 3))],
    "numpy.prod": [
        ex("np.prod(a)", A(4)),
        ex("np.prod(a, axis=1)", A(2, 3)),
        ex("np.prod(a, axis=(0, 2), keepdims=True)", A(2, 2, 2)),
    ],
    "numpy.ndarray.prod": [ex("a.prod(0)", A(3, 2))],
    "numpy.max": [
        ex("np.max(a)", Z()),
        ex("np.max(a)", D(5)),
        ex("np.max(a, axis=0)", D(3, 2)),
        ex("np.max(a, axis=(0, 2), keepdims=True)", D(2, 3, 2)),
    ],
    "numpy.amax": [ex("np.amax(a, -1)", D(2, 3))],
    "numpy.ndarray.max": [ex("a.max()", D(4)), ex("a.max(axis=1)", D(2, 3))],
    "numpy.min": [ex("np.min(a)", D(5)), ex("np.min(a, axis=1)", D(2, 3))],
    "numpy.amin": [ex("np.amin(a, axis=(0, 1))", D(2, 3))],
    "numpy.ndarray.min": [ex("a.min(0)", D(3, 2))],
    "numpy.var": [
        ex("np.var(a)", A(5)),
        ex("np.var(a, axis=0, ddof=1)", A(3, 2)),
        ex("np.var(a, axis=(0, 2), keepdims=True)", A(2, 2, 3)),
    ],
    "numpy.ndarray.var": [ex("a.var(1)", A(2, 3))],
    "numpy.std": [ex("np.std(a)", A(5)), ex("np.std(a, axis=1, ddof=1)", A(2, 3))],
    "numpy.ndarray.std": [ex("a.std()", A(4))],
    "numpy.cumsum": [
        ex("np.cumsum(a)", Z()),
        ex("np.cumsum(a)", A(2, 3)),
        ex("np.cumsum(a, axis=1)", A(2, 3)),
        ex("np.cumsum(a, -2)", A(3, 2)),
    ],
    "numpy.ndarray.cumsum": [ex("a.cumsum(0)", A(3, 2))],
    "numpy.cumprod": [ex("np.cumprod(a)", A(2, 3)), ex("np.cumprod(a, axis=1)", A(2, 3))],
    "numpy.ndarray.cumprod": [ex("a.cumprod()", A(4))],
    "numpy.linalg.norm": [
        ex("np.linalg.norm(a)", A(4)),
        ex("np.linalg.norm(a)", A(2, 2, 2)),
        ex("np.linalg.norm(a, 2)", A(4)),
        ex("np.linalg.norm(a, 1)", A(4)),
        ex("np.linalg.norm(a, np.inf)", D(4)),
        ex("np.linalg.norm(a, -np.inf)", D(4)),
        ex("np.linalg.norm(a, 3)", A(4)),
        ex("np.linalg.norm(a)", A(2, 3)),
        ex("np.linalg.norm(a, 'fro')", A(2, 3)),
        ex("np.linalg.norm(a, axis=1)", A(2, 3)),
        ex("np.linalg.norm(a, 1, axis=0, keepdims=True)", A(2, 3)),
        ex("np.linalg.norm(a, axis=(1, 2))", A(2, 2, 3)),
        ex("np.linalg.norm(a, 'nuc')", A(3, 2)),
        ex("np.linalg.norm(a, 'nuc', axis=(0, 2), keepdims=True)", A(3, 2, 4)),
        ex("np.linalg.norm(a, 2) * np.linalg.norm(a, -2)", A(2, 3)),
    ],
    # shapes
    "numpy.reshape": [
        ex("np.reshape(a, (3, 4))", A(2, 6)),
        ex("np.reshape(a, (-1,), order='F')", A(2, 3)),
        ex("np.reshape(a, (1, 1))", S()),
    ],
    "numpy.ndarray.reshape": [
        ex("a.reshape(2, 3)", A(6)),
        ex("a.reshape((3, 2))", A(2, 3)),
        ex("a.reshape(-1)", A(2, 2)),
    ],
    "numpy.ravel": [ex("np.ravel(a)", A(2, 3)), ex("np.ravel(a, order='F')", A(2, 3))],
    "numpy.ndarray.ravel": [ex("a.ravel()", A(2, 3))],
    "numpy.ndarray.flatten": [ex("a.flatten()", A(3, 2))],
    "numpy.transpose": [
        ex("np.transpose(a)", A(2, 3)),
        ex("np.transpose(a, (1, 2, 0))", A(2, 3, 4)),
        ex("np.transpose(a, (-1, 0, 1))", A(2, 3, 2)),
    ],
    "numpy.ndarray.transpose": [
        ex("a.transpose()", A(2, 3)),
        ex("a.transpose(1, 2, 0)", A(2, 3, 2)),
        ex("a.transpose((2, 0, 1))", A(2, 3, 2)),
    ],
    "('attribute', 'T')": [ex("a.T", A(2, 3)), ex("np.sum(a.T @ a)", A(3, 2))],
    "numpy.swapaxes": [ex("np.swapaxes(a, 0, 2)", A(2, 3, 2))],
    "numpy.ndarray.swapaxes": [ex("a.swapaxes(-1, 0)", A(2, 3))],
    "numpy.moveaxis": [ex("np.moveaxis(a, 0, -1)", A(2, 3, 2))],
    "numpy.squeeze": [ex("np.squeeze(a)", A(1, 3, 1)), ex("np.squeeze(a, axis=0)", A(1, 3))],
    "numpy.ndarray.squeeze": [ex("a.squeeze()", A(3, 1))],
    "numpy.expand_dims": [ex("np.expand_dims(a, 1)", A(2, 3)), ex("np.expand_dims(a, (0, -1))", A(3))],
    "numpy.concatenate": [
        ex("np.concatenate([a, b])", A(2), A(3)),
        ex("np.concatenate((a, 2.0 * b), axis=1)", A(2, 1), A(2, 3)),
        ex("np.concatenate([a, b, a], axis=None)", A(2, 2), A(3)),
    ],
    "numpy.stack": [ex("np.stack([a, b])", A(3), A(3)), ex("np.stack((a, b, a), axis=-1)", A(2, 2), A(2, 2))],
    "numpy.hstack": [ex("np.hstack([a, b])", A(2), A(3)), ex("np.hstack((a, b))", A(2, 1), A(2, 2))],
    "numpy.vstack": [ex("np.vstack([a, b])", A(3), A(3)), ex("np.vstack((a, b))", A(1, 2), A(3, 2))],
    "numpy.split": [
        ex("p, q = np.split(a, 2)\n    return p * q", A(4)),
        ex("parts = np.split(a, [1, 3], axis=1)\n    return np.sum(parts[0]) + parts[2] * 2.0", A(2, 4)),
        ex("parts = np.split(a, 3)\n    return parts[1]", A(6)),
    ],
    "numpy.tile": [ex("np.tile(a, 2)", A(3)), ex("np.tile(a, (2, 1, 2))", A(2, 2))],
    "numpy.repeat": [ex("np.repeat(a, 2)", A(2, 2)), ex("np.repeat(a, [1, 0, 2], axis=1)", A(2, 3))],
    "numpy.ndarray.repeat": [ex("a.repeat(3, axis=0)", A(2, 2))],
    "numpy.broadcast_to": [
        ex("np.broadcast_to(a, (2, 3))", A(3)),
        ex("np.broadcast_to(a, (2, 3))", A(2, 1)),
        ex("np.broadcast_to(a, (2,))", S()),
    ],
    "numpy.flip": [ex("np.flip(a)", A(2, 3)), ex("np.flip(a, axis=1)", A(2, 3))],
    "numpy.roll": [
        ex("np.roll(a, 2)", A(2, 3)),
        ex("np.roll(a, -1, axis=1)", A(2, 3)),
        ex("np.roll(a, (1, 2), axis=(0, 1))", A(2, 3)),
    ],
    "numpy.pad": [
        ex("np.pad(a, 1)", A(2, 3)),
        ex("np.pad(a, ((1, 0), (0, 2)))", A(2, 2)),
        ex("np.pad(a, (2, 1), mode='constant')", A(3)),
    ],
    "numpy.tril": [ex("np.tril(a)", A(3, 3)), ex("np.tril(a, -1)", A(3, 4))],
    "numpy.triu": [ex("np.triu(a, 1)", A(3, 3))],
    # indexing and sorting
    "numpy.take": [
        ex("np.take(a, [0, 2, 2])", A(2, 3)),
        ex("np.take(a, [1, 1, 0], axis=1)", A(2, 3)),
        ex("np.take(a, 1, axis=0)", A(2, 3)),
    ],
    "numpy.ndarray.take": [ex("a.take([[0, 1], [1, 1]], axis=0)", A(2, 3))],
    "numpy.sort": [
        ex("np.sort(a)", D(5)),
        ex("np.sort(a, axis=0)", D(3, 2)),
        ex("np.sort(a, axis=None)", D(2, 3)),
    ],
    # linear algebra
    "numpy.linalg.solve": [
        ex("np.linalg.solve(a, b)", W(3), A(3)),
        ex("np.linalg.solve(a, b)", W(3), A(3, 2)),
    ],
    "numpy.linalg.inv": [ex("np.linalg.inv(a)", W(3)), ex("np.linalg.inv(a)", W(2, (2,)))],
    "numpy.linalg.det": [ex("np.linalg.det(a)", W(3)), ex("np.linalg.det(a)", W(2, (3,)))],
    "numpy.linalg.slogdet": [
        ex("s, l = np.linalg.slogdet(a)\n    return l * s", W(3)),
        ex("return np.linalg.slogdet(a)[1]", W(2, (2,))),
    ],
    "numpy.linalg.cholesky": [
        ex("np.linalg.cholesky(a @ a.T + 3.0 * np.eye(3))", A(3, 3)),
        ex("np.linalg.cholesky(a + 3.0 * np.eye(3))", A(3, 3)),
    ],  # reads the lower triangle
    "numpy.linalg.eigh": [
        ex(
            "w, v = np.linalg.eigh(a + a.T)\n    return w * 2.0 + np.sum(v ** 2 * b, axis=0)",
            A(3, 3),
            A(3, 3),
        ),
        ex("return np.linalg.eigh(a + a.T)[0]", A(2, 2)),
        ex("return np.linalg.eigh(a)[0]", A(3, 3)),  # not symmetric: eigh reads the lower triangle
        ex("return np.linalg.eigh(a, 'U')[0]", A(3, 3)),
    ],
    "numpy.linalg.qr": [  # full rank (random matrices are)
        ex("q, r = np.linalg.qr(a)\n    return q * 2.0 + np.sum(r * b, axis=0)", A(3, 3), A(3, 3)),
        ex("q, r = np.linalg.qr(a)\n    return np.sum(q, axis=1) + r[0, 1] * b", A(4, 2), A(4)),
        ex("np.linalg.qr(a, mode='r')", A(5, 3)),
        ex("np.linalg.qr(a, 'complete')[0] + np.linalg.qr(a)[1]", A(2, 3, 3)),
    ],
    "numpy.linalg.svd": [  # distinct singular values (random matrices have them)
        ex("u, s, vt = np.linalg.svd(a, full_matrices=False)\n    return u * 2.0 + vt[:, :3] * s", A(3, 4)),
        ex("u, s, vt = np.linalg.svd(a, full_matrices=False)\n    return s * vt[:, 0] + u[0]", A(4, 3)),
        ex("return np.linalg.svd(a)[1] ** 2 + np.linalg.svd(a)[0][0]", A(3, 3)),
        ex("np.linalg.svd(a, compute_uv=False)", A(2, 3, 4)),
        ex(
            "u, s, vt = np.linalg.svd(a, full_matrices=False)\n    return vt * np.expand_dims(s, -1)",
            A(2, 3, 2),
        ),
    ],
    "numpy.linalg.eig": [  # Gershgorin discs apart: real distinct eigenvalues
        ex("w, v = np.linalg.eig(np.diag([0.0, 4.0, 8.0]) + 0.3 * a)\n    return w + v[0] * v[1]", A(3, 3)),
        ex("return np.linalg.eig(np.diag([0.0, 4.0, 8.0]) + 0.3 * a)[1]", A(2, 3, 3)),
    ],
    "numpy.linalg.pinv": [
        ex("np.linalg.pinv(a)", A(3, 4)),
        ex("np.linalg.pinv(a)", A(2, 4, 3)),
        ex("np.linalg.pinv(a.T @ a)", A(2, 3)),  # rank 2 of 3, constant under perturbation of a
    ],
    # construction and copies
    "numpy.array": [
        ex("np.array([a, b, a * b])", S(), S()),
        ex("np.array([[a, b], [b, 1.0]])", S(), S()),
        ex("np.array(a) * 2.0", A(3)),
    ],
    "numpy.asarray": [ex("np.asarray(a) * a", A(2)), ex("np.asarray([a, 2.0 * a])", S())],
    "numpy.copy": [ex("np.copy(a) * a", A(3))],
    "numpy.ndarray.copy": [ex("a.copy() + a", A(2, 2))],
    "numpy.ndarray.astype": [ex("a.astype(np.float64) * a", A(3))],
    "numpy.full": [ex("np.full((2, 3), a)", S()), ex("np.full((2, 3), a)", A(3))],
    "numpy.full_like": [ex("np.full_like(b, a) * b", S(), A(2, 2))],
}

# NumPy functions s2sad inlines as definitions (s2sad.rules.definitions): name -> examples
DEFINITION_EXAMPLES = {
    "numpy.fliplr": [ex("np.fliplr(a)", A(2, 3))],
    "numpy.flipud": [ex("np.flipud(a)", A(2, 3))],
    "numpy.rot90": [
        ex("np.rot90(a)", A(2, 3)),
        ex("np.rot90(a, 2)", A(2, 3)),
        ex("np.rot90(a, -1, (1, 2))", A(2, 3, 2)),
    ],
    "numpy.atleast_1d": [ex("np.atleast_1d(a)", S()), ex("np.atleast_1d(a)", A(2))],
    "numpy.atleast_2d": [
        ex("np.atleast_2d(a)", S()),
        ex("np.atleast_2d(a)", A(3)),
        ex("np.atleast_2d(a)", A(1, 2)),
    ],
    "numpy.atleast_3d": [
        ex("np.atleast_3d(a)", S()),
        ex("np.atleast_3d(a)", A(3)),
        ex("np.atleast_3d(a)", A(2, 3)),
    ],
    "numpy.diff": [
        ex("np.diff(a)", A(4)),
        ex("np.diff(a, 2, 0)", A(4, 2)),
        ex("np.diff(a, axis=0)", A(2, 2)),
    ],
    "numpy.kron": [
        ex("np.kron(a, b)", A(2, 2), A(3, 2)),
        ex("np.kron(a, b)", A(3), A(2, 1)),
        ex("np.kron(a, b)", S(), A(2)),
    ],
    "numpy.append": [ex("np.append(a, b)", A(2, 2), A(3)), ex("np.append(a, b, axis=0)", A(2, 2), A(1, 2))],
    "numpy.row_stack": [ex("np.row_stack((a, b))", A(3), A(2, 3))],
    "numpy.interp": [
        ex("np.interp(a, np.linspace(-2.0, 2.0, 6), b)", A(4), A(6)),
        ex("np.interp(a, np.linspace(-1.0, 1.0, 5), b, left=0.5, right=b[0])", A(3), A(5)),
        ex("np.interp(0.3, np.cumsum(np.abs(b) + 0.5) - 1.5, a)", A(4), A(4)),
        ex("np.interp(a, np.array([-1.0, 0.0, 2.0]), np.array([1.0, -1.0, 3.0]))", S()),
    ],
    "numpy.trapezoid": [
        ex("np.trapezoid(a)", A(5)),
        ex("np.trapezoid(a, dx=0.5)", A(4)),
        ex("np.trapezoid(a, b)", A(5), A(5)),
        ex("np.trapezoid(a, np.cumsum(np.abs(b) + 0.1))", A(4), A(4)),
        ex("np.trapezoid(a, b, axis=0)", A(3, 2), A(3)),
        ex("np.trapezoid(a, axis=0)", A(3, 2)),
    ],
    "numpy.polyval": [
        ex("np.polyval(a, b)", A(4), A(3)),
        ex("np.polyval(a, b)", A(1), S()),
        ex("np.polyval([a, 2.0, b], a * b)", S(), S()),
    ],
    "numpy.multi_dot": [
        ex("np.linalg.multi_dot([a, b, a.T])", A(2, 3), A(3, 3)),
        ex("np.linalg.multi_dot([a[0], b, b, a[1]])", A(2, 3), A(3, 3)),
    ],
    "numpy.matrix_power": [
        ex("np.linalg.matrix_power(a, 3)", A(3, 3)),
        ex("np.linalg.matrix_power(a, 0) + a", A(2, 2)),
        ex("np.linalg.matrix_power(a, 6)", A(2, 2)),
        ex("np.linalg.matrix_power(a + 3.0 * np.eye(2), -2)", A(2, 2)),
    ],
    "numpy.convolve": [
        ex("np.convolve(a, b)", A(5), A(3)),
        ex("np.convolve(a, b, mode='same')", A(3), A(4)),
        ex("np.convolve(a, np.array([0.25, 0.5, 0.25]), 'valid')", A(6)),
    ],
    "numpy.correlate": [
        ex("np.correlate(a, b)", A(5), A(2)),
        ex("np.correlate(a, b, mode='full')", A(2), A(3)),
    ],
    "numpy.take_along_axis": [
        ex("np.take_along_axis(a, np.array([[0], [2], [1]]), axis=1)", A(3, 4)),
        ex("np.take_along_axis(a, np.argsort(b, axis=0), 0)", A(3, 2), D(3, 2)),
        ex("np.take_along_axis(a, np.array([3, 0, 0]), None)", A(2, 2)),
    ],
    "numpy.quantile": [
        ex("np.quantile(a, 0.3)", D(5)),
        ex("np.quantile(a, [0.1, 0.75], axis=1)", D(2, 4)),
        ex("np.quantile(a, 0.5, axis=0)", D(3, 2)),
    ],
    "numpy.percentile": [
        ex("np.percentile(a, 30)", D(6)),
        ex("np.percentile(a, np.array([[10.0, 90.0]]), axis=-1)", D(2, 5)),
    ],
    "numpy.median": [
        ex("np.median(a)", D(5)),
        ex("np.median(a)", D(2, 3)),
        ex("np.median(a, axis=0)", D(4, 3)),
        ex("np.median(a, axis=1, keepdims=True)", D(2, 3)),
        ex("np.median(a, keepdims=True)", D(2, 2)),
    ],
    "numpy.column_stack": [ex("np.column_stack((a, b))", A(3), A(3, 2))],
    "numpy.vsplit": [ex("xs = np.vsplit(a, 2)\n    return xs[0] * xs[1]", A(4, 2))],
    "numpy.hsplit": [
        ex("xs = np.hsplit(a, [1])\n    return xs[0] * xs[1]", A(2, 3)),
        ex("xs = np.hsplit(a, 2)\n    return xs[0] * xs[1]", A(4)),
    ],
    "numpy.dsplit": [ex("xs = np.dsplit(a, 2)\n    return xs[0] * xs[1]", A(1, 2, 4))],
    "numpy.array_split": [
        ex("xs = np.array_split(a, 3)\n    return xs[0][0] * xs[2]", A(7)),
        ex("xs = np.array_split(a, 1, axis=1)\n    return xs[0]", A(2, 3)),
    ],
    "numpy.rollaxis": [ex("np.rollaxis(a, 2)", A(2, 3, 4)), ex("np.rollaxis(a, 0, 3)", A(2, 3, 4))],
    "numpy.fabs": [ex("np.fabs(a)", A(3))],
    "numpy.real": [ex("np.real(a) * a", A(3)), ex("np.real(a)", S())],
    "numpy.conjugate": [ex("np.conjugate(a) * a", A(3))],
    "numpy.real_if_close": [ex("np.real_if_close(a) * a", A(3))],
    "numpy.imag": [ex("np.imag(a) + a", A(3))],
    "numpy.angle": [ex("np.angle(a) + a", A(3))],
    "numpy.cross": [
        ex("np.cross(a, b)", A(2, 3), A(2, 3)),
        ex("np.cross(a, b, axisa=0, axisb=0, axisc=0)", A(3, 2), A(3, 2)),
        ex("np.cross(a, b)", A(2), A(2)),
    ],
    "numpy.select": [ex("np.select([a > 0, a < -0.5], [a, b * a], 2.0)", A(4), A(4))],
    "numpy.nan_to_num": [ex("np.nan_to_num(a)", A(3))],
    "numpy.diag": [ex("np.diag(a)", A(3)), ex("np.diag(a, -1)", A(3)), ex("np.diag(a, 1)", A(3, 3))],
    "numpy.diagonal": [ex("np.diagonal(a)", A(3, 2)), ex("np.diagonal(a, 1, 1, 2)", A(2, 3, 3))],
    "numpy.gradient": [
        ex("np.gradient(a)", A(5)),
        ex("xs = np.gradient(a)\n    return xs[0] * xs[1]", A(3, 4)),
        ex("np.gradient(a, axis=-1)", A(2, 3)),
    ],
    "numpy.partition": [ex("np.partition(a, 1)", D(4)), ex("np.partition(a, 1, axis=0)", D(3, 2))],
    # run-time helpers with definitions: checked as functions of all their operands (to third order
    # of the rule that calls them)
    "s2sad.runtime.sinc_derivative": [
        ex("_rt.sinc_derivative(a)", A(4)),
        ex("_rt.sinc_derivative(a * 1e-5)", A(3)),  # the Taylor polynomial near 0
        ex("_rt.sinc_derivative(a * 0.0)", A(2)),  # at 0 exactly
    ],
    "s2sad.runtime.slogdet_tangent": [ex("return _rt.slogdet_tangent(a, b)[1]", W(3), A(3, 3))],
    "s2sad.runtime.slogdet_adjoint": [
        ex("_rt.slogdet_adjoint((0.0, b), a)", W(3), S()),
        ex("_rt.slogdet_adjoint((0.0, b), a)", W(2, (2,)), A(2)),
    ],
    "s2sad.runtime.eigh_tangent": [
        ex(
            "w, v = _rt.eigh_tangent(np.linalg.eigh(a + a.T), b + b.T)\n    return w + v[0] * 2.0",
            A(3, 3),
            A(3, 3),
        )
    ],
    "s2sad.runtime.svd_tangent": [
        ex(
            "u, s, v = _rt.svd_tangent(np.linalg.svd(a, full_matrices=False), a, b)\n"
            "    return np.concatenate([u.ravel(), s, v.ravel()])",
            A(3, 2),
            A(3, 2),
        ),
        ex(
            "u, s, v = _rt.svd_tangent(np.linalg.svd(a, full_matrices=False), a, b)\n"
            "    return np.concatenate([u.ravel(), s, v.ravel()])",
            A(2, 4),
            A(2, 4),
        ),
        ex("_rt.svd_tangent(np.linalg.svd(a, compute_uv=False), a, b, False)", A(3, 3), A(3, 3)),
    ],
    "s2sad.runtime.qr_tangent": [
        ex(
            "q, r = _rt.qr_tangent(np.linalg.qr(a), a, b)\n    return np.concatenate([q.ravel(), r.ravel()])",
            A(3, 2),
            A(3, 2),
        ),
        ex("_rt.qr_tangent(np.linalg.qr(a, mode='r'), a, b, False)", A(3, 3), A(3, 3)),
    ],
    "s2sad.runtime.qr_adjoint": [
        ex("_rt.qr_adjoint((b, c), np.linalg.qr(a), a)", A(3, 2), A(3, 2), A(2, 2)),
        ex("_rt.qr_adjoint(b, np.linalg.qr(a, mode='r'), a, False)", A(2, 3, 3), A(2, 3, 3)),
    ],
    "s2sad.runtime.svd_adjoint": [
        ex(
            "_rt.svd_adjoint((b, c, d), np.linalg.svd(a, full_matrices=False), a)",
            A(3, 2),
            A(3, 2),
            A(2),
            A(2, 2),
        ),
        ex(
            "_rt.svd_adjoint((b, c, d), np.linalg.svd(a, full_matrices=False), a)",
            A(2, 3),
            A(2, 2),
            A(2),
            A(2, 3),
        ),
        ex("_rt.svd_adjoint(b, np.linalg.svd(a, compute_uv=False), a, False)", A(2, 3, 3), A(2, 3)),
    ],
    "s2sad.runtime.pinv_tangent": [
        ex("_rt.pinv_tangent(np.linalg.pinv(a), a, b)", A(3, 4), A(3, 4)),
        ex("_rt.pinv_tangent(np.linalg.pinv(a.T @ a), a.T @ a, b.T @ a + a.T @ b)", A(2, 3), A(2, 3)),
    ],
    "s2sad.runtime.pinv_adjoint": [ex("_rt.pinv_adjoint(b, np.linalg.pinv(a), a)", A(2, 4, 3), A(2, 3, 4))],
    "s2sad.runtime.norm_weight": [
        ex("_rt.norm_weight(a, np.linalg.norm(a, 3), 3)", A(3)),
        ex("_rt.norm_weight(a, np.linalg.norm(a, 4, axis=1, keepdims=True), 4)", A(2, 3)),
        ex("_rt.norm_weight(a, np.linalg.norm(a), None)", A(2)),
    ],
    "s2sad.runtime.log_or_zero": [
        ex("_rt.log_or_zero(a) * a", P(3)),
        ex("_rt.log_or_zero(a * 0.0) + a", A(2)),
    ],
    "s2sad.runtime.eig_tangent": [
        ex(
            "w, v = _rt.eig_tangent(np.linalg.eig(np.diag([0.0, 4.0, 8.0]) + 0.3 * a), b)\n    return w + v[2]",
            A(3, 3),
            A(3, 3),
        )
    ],
    "s2sad.runtime.eig_adjoint": [
        ex(
            "_rt.eig_adjoint((b, c), np.linalg.eig(np.diag([0.0, 4.0, 8.0]) + 0.3 * a))",
            A(3, 3),
            A(3),
            A(3, 3),
        ),
        ex(
            "_rt.eig_adjoint((b, 0.0), np.linalg.eig(np.diag([0.0, 4.0, 8.0]) + 0.3 * a))",
            A(2, 3, 3),
            A(2, 3),
        ),
    ],
    "s2sad.runtime.eigh_adjoint": [
        ex("_rt.eigh_adjoint((b, c), np.linalg.eigh(a + a.T))", A(3, 3), A(3), A(3, 3)),
        ex("_rt.eigh_adjoint((b, 0.0), np.linalg.eigh(a + np.swapaxes(a, 1, 2)))", A(2, 3, 3), A(2, 3)),
    ],
}


# -- running examples ------------------------------------------------------------------------------

_NAMES = "abcdefgh"


def _source(name, example):
    params = ", ".join(_NAMES[: len(example.args)])
    body = example.body if "return" in example.body else f"return {example.body}"
    lines = body.splitlines()
    last = lines[-1].strip()
    assert last.startswith("return "), body
    scalar = "\n    ".join(lines[:-1] + [f"return np.sum(({last[len('return '):]}) * _u)"])
    return f"def {name}({params}):\n    {body}\n\n\n" f"def {name}_scalar({params}, _u):\n    {scalar}\n\n\n"


def _ids():
    for table in (EXAMPLES, DEFINITION_EXAMPLES):
        for name, examples in table.items():
            for i, example in enumerate(examples):
                yield name, i, example


def _derivative_sources(name, example):
    """Functions computing `name`'s first derivatives (a jvp, and the gradients of <f, u> joined
    into one vector), to be checked as functions in turn: the second derivatives of `name`."""
    params = list(_NAMES[: len(example.args)])
    tangents = [f"_d{p}" for p in params]
    args, dargs = ", ".join(params), ", ".join(tangents)
    grads = ", ".join(
        f"np.ravel(s2sad.grad({name}_scalar, argnums={i})({args}, _u))" for i in range(len(params))
    )
    return (
        f"def {name}_jvp({args}, {dargs}):\n    return s2sad.jvp({name}, ({args},), ({dargs},))[1]\n\n\n"
        f"def {name}_jvp_scalar({args}, {dargs}, _w):\n    return np.sum({name}_jvp({args}, {dargs}) * _w)\n\n\n"
        f"def {name}_vjp({args}, _u):\n    return np.concatenate([{grads}])\n\n\n"
        f"def {name}_vjp_scalar({args}, _u, _w):\n    return np.sum({name}_vjp({args}, _u) * _w)\n\n\n"
    )


@pytest.fixture(scope="module")
def example_module(tmp_path_factory):
    """All example functions written to one real module (s2sad reads their source)."""
    path = tmp_path_factory.mktemp("numpy_examples") / "numpy_rule_examples.py"
    text = "import math\nimport operator\n\nimport numpy as np\n\nimport s2sad\nfrom s2sad import runtime as _rt\n\n\n"
    for name, i, example in _ids():
        text += _source(_function_name(name, i), example)
        if _second_order(name):
            text += _derivative_sources(_function_name(name, i), example)
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("numpy_rule_examples", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["numpy_rule_examples"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("numpy_rule_examples", None)


def _function_name(rule_name, i):
    return "f_" + "".join(c if c.isalnum() else "_" for c in rule_name) + f"_{i}"


def _flat(value):
    return np.ravel(np.asarray(value, dtype=np.float64))


def _perturb(args, i, j, h):
    out = list(args)
    if isinstance(args[i], float):
        out[i] = args[i] + h
    else:
        x = args[i].copy()
        x.flat[j] += h
        out[i] = x
    return out


def finite_difference_jacobians(f, args, h=1e-5):
    """[d f / d args[i]] as (output size, input size) matrices by central differences."""
    jacobians = []
    for i, x in enumerate(args):
        columns = []
        for j in range(max(1, np.size(x))):
            plus, minus = f(*_perturb(args, i, j, h)), f(*_perturb(args, i, j, -h))
            columns.append((_flat(plus) - _flat(minus)) / (2 * h))
        jacobians.append(np.stack(columns, axis=1))
    return jacobians


def _close(actual, expected, what):
    actual, expected = _flat(actual), _flat(expected)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.allclose(
        actual, expected, rtol=1e-6, atol=1e-6 * scale
    ), f"{what}: max error {np.max(np.abs(actual - expected))}\n got {actual}\nwant {expected}"


def _like(x, rng):
    if isinstance(x, float) or np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        return float(rng.normal())
    return rng.normal(size=np.shape(x))


def check_example(f, f_scalar, args, rng):
    """Forward, split reverse and joint reverse mode against finite differences, and the dot test."""
    value = f(*args)
    jacobians = finite_difference_jacobians(f, args)
    tangents = [_like(x, rng) for x in args]
    cotangent = _like(value, rng) if np.ndim(value) else float(rng.normal())

    out, out_dot = s2sad.jvp(f, args, tangents)
    _close(out, value, "jvp primal output")
    assert np.shape(out_dot) == np.shape(
        value
    ), f"tangent shape {np.shape(out_dot)} != output {np.shape(value)}"
    expected_dot = sum(J @ _flat(t) for J, t in zip(jacobians, tangents))
    _close(out_dot, expected_dot, "jvp tangent vs finite differences")

    out, pullback = s2sad.vjp(f, *args)
    _close(out, value, "vjp primal output")
    grads = pullback(cotangent)
    assert len(grads) == len(args)
    for k, (g, x, J) in enumerate(zip(grads, args, jacobians)):
        assert np.shape(g) == np.shape(
            x
        ), f"adjoint of argument {k} has shape {np.shape(g)}, not {np.shape(x)}"
        _close(g, J.T @ _flat(cotangent), f"vjp adjoint of argument {k} vs finite differences")

    lhs = float(_flat(cotangent) @ _flat(out_dot))
    rhs = sum(float(_flat(g) @ _flat(t)) for g, t in zip(grads, tangents))
    assert math.isclose(
        lhs, rhs, rel_tol=1e-9, abs_tol=1e-9
    ), f"dot test: <u, J v> = {lhs} != <J^T u, v> = {rhs}"

    joint = s2sad.grad(f_scalar, argnums=tuple(range(len(args))))(*args, cotangent)
    for k, (g, x, J) in enumerate(zip(joint, args, jacobians)):
        assert np.shape(g) == np.shape(x), f"grad of argument {k} has shape {np.shape(g)}, not {np.shape(x)}"
        _close(g, J.T @ _flat(cotangent), f"grad (joint reverse) of argument {k} vs finite differences")


def rules_called(f, args):
    """The rule keys the normalized form of `f` uses."""
    kinds = tuple("array" if isinstance(a, np.ndarray) else "float" for a in args)
    analysis = prepare(f, kinds, tuple(range(len(args)))).analysis
    return {id(p.rule) for p in analysis.primitives.values() if p.rule is not None}


def _rule_params():
    return [pytest.param(key, id=rule.name) for key, rule in sorted(RULES.items(), key=lambda kv: kv[1].name)]


CHECKED = set()


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    differentiable = sum(r.differentiable for r in RULES.values())
    print(
        f"\nnumpy rule table: {len(CHECKED)} of {differentiable} differentiable rules checked "
        f"against finite differences ({len(RULES) - differentiable} listed as not differentiable)"
    )


def test_every_differentiable_rule_has_an_example():
    names = [r.name for r in RULES.values()]
    assert len(names) == len(set(names)), "rule names must be unique"
    missing = sorted(r.name for r in RULES.values() if r.differentiable and r.name not in EXAMPLES)
    unknown = sorted(set(EXAMPLES) - set(names))
    differentiable = sum(r.differentiable for r in RULES.values())
    summary = f"{differentiable - len(missing)} of {differentiable} differentiable rules have examples"
    print("\n" + summary)
    assert not missing, f"{summary}; add examples to EXAMPLES for: {missing}"
    assert not unknown, f"examples for rules that are not registered: {unknown}"


@pytest.mark.parametrize("key", _rule_params())
def test_rule(key, example_module):
    """Walk the rule table: every differentiable rule is checked on its examples."""
    rule = RULES[key]
    if not rule.differentiable:
        assert rule.tangent is None and rule.adjoint is None, f"{rule.name} is listed as not differentiable"
        return
    assert (
        rule.tangent is not None and rule.adjoint is not None
    ), f"{rule.name} needs a tangent and an adjoint"
    examples = EXAMPLES.get(rule.name)
    assert examples, f"differentiable rule {rule.name} has no example in EXAMPLES (tests/test_numpy_rules.py)"
    for i, example in enumerate(examples):
        f = getattr(example_module, _function_name(rule.name, i))
        f_scalar = getattr(example_module, _function_name(rule.name, i) + "_scalar")

        @settings(max_examples=5, deadline=None, derandomize=True, database=None)
        @given(seed=st.integers(0, 2**32 - 1))
        def check(seed):
            rng = np.random.default_rng(seed)
            args = [spec.draw(rng) for spec in example.args]
            check_example(f, f_scalar, args, rng)

        first = [spec.draw(np.random.default_rng(0)) for spec in example.args]
        assert id(rule) in rules_called(
            f, first
        ), f"example {i} of {rule.name} does not call it: {example.body}"
        if example.bug:
            with pytest.raises(Exception):
                check()
            continue  # known bug (see the marker); once fixed this example fails: remove the marker
        try:
            check()
        except Exception as exc:
            raise AssertionError(
                f"{rule.name} example {i}: {example.body!r} with {example.args}: {exc}"
            ) from exc
    CHECKED.add(key)


# -- second order: the run-time helper table and the definitions -----------------------------------
#
# Derivative code calls run-time helpers (`_rt.einsum_adjoint`, `_rt.unreduce`, ...); a derivative
# can be differentiated again only if each helper has rules of its own. Checking a helper's rules
# on its examples checks the second derivatives of the rules that call it; here every helper
# example (and every definition example) is also checked one order further: its jvp and its
# gradient, as functions, against central differences in both modes (the third derivatives of
# the rules that call the helper).


def _second_order(name):
    return name.startswith("s2sad.") or name in DEFINITION_EXAMPLES


def _template_helpers():
    """The names of the run-time helpers (`_rt.<name>`) that the rules' templates call."""
    names = set()
    for rule in RULES.values():
        templates = [rule.tangent, rule.adjoint, rule.batched_tangent]
        templates += list(rule.extra.get("constant_adjoints", {}).values())
        for template in filter(None, templates):
            for stmt in template.body:
                for node in ast.walk(stmt):
                    if (
                        isinstance(node, ast.Attribute)
                        and isinstance(node.value, ast.Name)
                        and node.value.id == "_rt"
                    ):
                        names.add(node.attr)
    return names


# helpers derivative code calls that have no rules yet: a derivative through them is refused
# (NoDerivativeRuleError naming the helper), never wrong. Remove a name once it has rules.
WITHOUT_RULES = {
    "added_at_tangent": "tangent of a scatter-add (forward over reverse of `a[i] += v` loops)",
    "cumprod_tangent": "np.cumprod at second order",
    "cumprod_adjoint": "np.cumprod at second order",
    "prod_hessian_vector": "np.prod at third order",
    "linspace_transpose": "np.linspace at second order",
    # vector forward mode (jacfwd) helpers: jacfwd of a derivative runs these direction by direction
    "array_directions": "jacfwd",
    "broadcast_directions": "jacfwd",
    "concatenate_directions": "jacfwd",
    "cumsum_directions": "jacfwd",
    "dot_tangent_a": "jacfwd",
    "dot_tangent_b": "jacfwd",
    "einsum_directions": "jacfwd",
    "list_directions": "jacfwd",
    "matmul_tangent_a": "jacfwd",
    "matmul_tangent_b": "jacfwd",
    "outer_tangent_a": "jacfwd",
    "outer_tangent_b": "jacfwd",
    "reshape_directions": "jacfwd",
    "transpose_directions": "jacfwd",
}


def test_every_helper_called_by_derivative_code_has_rules():
    from s2sad import runtime
    from s2sad.rules import lookup
    from s2sad.rules.definitions import definition

    helpers = _template_helpers()
    missing = sorted(
        n for n in helpers if lookup(getattr(runtime, n)) is None and definition(getattr(runtime, n)) is None
    )
    print(f"\nrun-time helpers called by rule templates: {len(helpers)}, without rules: {len(missing)}")
    assert missing == sorted(WITHOUT_RULES), (
        f"helpers without rules (add rules and examples, or list them in WITHOUT_RULES): "
        f"{sorted(set(missing) - set(WITHOUT_RULES))}; listed but with rules now: {sorted(set(WITHOUT_RULES) - set(missing))}"
    )


def test_every_definition_has_examples():
    from s2sad.rules import display_name
    from s2sad.rules.definitions import DEFINITIONS

    names = {display_name(fn) for fn in DEFINITIONS if not fn.__name__.startswith("_")}  # (private: parts)
    assert names - set(DEFINITION_EXAMPLES) == set(), "definitions without examples in DEFINITION_EXAMPLES"
    assert set(DEFINITION_EXAMPLES) - names == set(), "examples of functions that have no definition"


@pytest.mark.parametrize("name", sorted(DEFINITION_EXAMPLES))
def test_definition(name, example_module):
    """A definition's examples in both modes against finite differences (as `test_rule`)."""
    for i, example in enumerate(DEFINITION_EXAMPLES[name]):
        f = getattr(example_module, _function_name(name, i))
        f_scalar = getattr(example_module, _function_name(name, i) + "_scalar")
        for seed in range(3):
            rng = np.random.default_rng(seed)
            check_example(f, f_scalar, [spec.draw(rng) for spec in example.args], rng)


_SECOND_ORDER = sorted(n for n in list(EXAMPLES) + list(DEFINITION_EXAMPLES) if _second_order(n))


@pytest.mark.parametrize("name", _SECOND_ORDER)
def test_second_order(name, example_module):
    """The first derivatives of each example (a jvp; the gradients of <f, u>) checked as functions
    in both modes against central differences: the helper's (or definition's) second derivatives."""
    for i, example in enumerate({**EXAMPLES, **DEFINITION_EXAMPLES}[name]):
        if example.bug:
            continue
        fname = _function_name(name, i)
        f = getattr(example_module, fname)
        rng = np.random.default_rng(i)
        args = [spec.draw(rng) for spec in example.args]
        tangents = [_like(x, rng) for x in args]
        value = f(*args)
        u = _like(value, rng) if np.ndim(value) else float(rng.normal())
        try:
            check_example(
                getattr(example_module, fname + "_jvp"),
                getattr(example_module, fname + "_jvp_scalar"),
                args + tangents,
                rng,
            )
            check_example(
                getattr(example_module, fname + "_vjp"),
                getattr(example_module, fname + "_vjp_scalar"),
                args + [u],
                rng,
            )
        except NoDerivativeRuleError as exc:  # refused, not wrong: only through a helper listed as such
            assert any(f"helper `{h}`" in str(exc) for h in WITHOUT_RULES), exc
        except Exception as exc:
            raise AssertionError(f"{name} example {i} at second order: {example.body!r}: {exc}") from exc


# -- dtypes, ties, errors, containers --------------------------------------------------------------


def mlp_loss(w, x):
    h = np.tanh(x @ w)
    return np.mean(h**2) + 0.1 * np.linalg.norm(w) + np.max(np.exp2(h), axis=0).sum()


def shape_mix(x):
    y = np.concatenate([x.reshape(-1), np.cumsum(x, axis=1).ravel()])
    return np.sum(np.clip(y, -0.5, 0.5) * np.sort(y)) + np.var(x, axis=0).sum()


def linalg_mix(x):
    a = x.T @ x + np.eye(2, dtype=np.float32)
    return np.linalg.slogdet(a)[1] + np.sum(np.linalg.solve(a, x[0])) + np.einsum("ij,ij->", x, x)


def cast_mix(x):
    return np.sum(x.astype(np.float32) ** 2) + np.trace(np.outer(x[0], x[1]))


@pytest.mark.parametrize("f", [mlp_loss, shape_mix, linalg_mix, cast_mix])
def test_float32_in_float32_out(f):
    rng = np.random.default_rng(1)
    x64 = rng.normal(size=(3, 2))
    args64 = (x64, rng.normal(size=(4, 3))) if f is mlp_loss else (x64,)
    if f is linalg_mix:
        args64 = (rng.normal(size=(2, 2)),)
    args32 = tuple(a.astype(np.float32) for a in args64)
    g32 = s2sad.grad(f)(*args32)
    g64 = s2sad.grad(f)(*args64)
    assert g32.dtype == np.float32 and g64.dtype == np.float64
    assert np.allclose(g32, g64, rtol=1e-3, atol=1e-4)
    _, out_dot = s2sad.jvp(f, args32, tuple(np.ones_like(a) for a in args32))
    assert np.asarray(out_dot).dtype == np.float32


def uses_fft(x):
    y = x * 2.0
    return np.sum(np.abs(np.fft.fft(y)))


def test_missing_rule_names_function_line_and_fix():
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.grad(uses_fft)(np.ones(4))
    message = str(info.value)
    line = uses_fft.__code__.co_firstlineno + 2
    assert "np.fft.fft" in message
    assert f"test_numpy_rules.py:{line}" in message
    assert "return np.sum(np.abs(np.fft.fft(y)))" in message
    assert "register" in message and "s2sad.rules.adjoint" in message


def max_of(x):
    return np.max(x)


def min_of_rows(x):
    return np.sum(np.min(x, axis=1))


def test_ties_split_equally():
    assert s2sad.grad(max_of)(np.array([1.0, 3.0, 3.0, 2.0])).tolist() == [0.0, 0.5, 0.5, 0.0]
    g = s2sad.grad(min_of_rows)(np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 0.0]]))
    assert np.allclose(g, [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5]])
    _, t = s2sad.jvp(max_of, (np.array([3.0, 3.0]),), (np.array([1.0, 0.0]),))
    assert t == 0.5


def prod_all(x):
    return np.prod(x)


def test_prod_with_zeros_is_exact():
    x = np.array([2.0, 0.0, 3.0, 4.0])
    assert s2sad.grad(prod_all)(x).tolist() == [0.0, 24.0, 0.0, 0.0]
    x = np.array([0.0, 0.0, 3.0])
    assert s2sad.grad(prod_all)(x).tolist() == [0.0, 0.0, 0.0]


def gather(x, i):
    return np.sum(x[i] ** 2)


def test_getitem_repeated_integer_array_accumulates():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    g = s2sad.grad(gather)(x, np.array([1, 1, 2, 1]))
    assert g.tolist() == [0.0, 12.0, 6.0, 0.0]
    g = s2sad.grad(gather)(x, x > 2.5)
    assert g.tolist() == [0.0, 0.0, 6.0, 8.0]


def halves(x):
    return np.split(x, 2)


def test_split_pullback_takes_a_list_with_zeros():
    x = np.arange(4.0)
    out, pullback = s2sad.vjp(halves, x)
    assert [o.tolist() for o in out] == [[0.0, 1.0], [2.0, 3.0]]
    (g,) = pullback([np.ones(2), None])
    assert g.tolist() == [1.0, 1.0, 0.0, 0.0]
    (g,) = pullback([np.ones(2), np.full(2, 2.0)])
    assert g.tolist() == [1.0, 1.0, 2.0, 2.0]


def slogdet_pair(a):
    return np.linalg.slogdet(a)


def test_tuple_results_take_tuple_cotangents():
    a = np.array([[2.0, 0.5], [0.1, 3.0]])
    _, pullback = s2sad.vjp(slogdet_pair, a)
    (g,) = pullback((0.0, 1.0))
    assert np.allclose(g, np.linalg.inv(a).T)


def test_docs_are_generated_from_the_table():
    from pathlib import Path

    from s2sad.rules.docs import render

    page = Path(__file__).resolve().parents[1] / "docs" / "numpy.md"
    assert (
        page.read_text() == render()
    ), "docs/numpy.md is stale: run `python -m s2sad.rules.docs > docs/numpy.md`"
