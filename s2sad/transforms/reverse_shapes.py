"""Adjoints shaped by what the analyses know of the shapes, for the reverse transform: a contribution
summed down to its operand's shape (`unbroadcast`), the pieces of a concatenation of known shapes
(`concatenate_pieces`), a product of vectors and matrices of known ranks written as the product
itself (`direct_product`).
"""

import ast

import numpy as np

from .. import kinds as K
from ..analyses.primitives import is_global, resolve
from ..astutil import clone
from .derivatives import atom_kind, call, is_scalar, load, local_atom


class AdjointShapes:
    """Adjoints shaped by known shapes (a part of `ReverseTransform`)."""

    def concatenate_pieces(self, stmt, values, z_bar):
        """`y = np.concatenate(_t1)` of a list literal `_t1 = [a, b]` whose items' shapes are known:
        each active item's adjoint is its slice of `y_bar` (`a_bar += y_bar[:3]`), no list adjoint
        and no run-time split. None if a shape or the axis is not known."""
        literal = self.literal_operands.get(id(stmt))
        if literal is None or local_atom(values["arrays"], self.globals) != literal[0]:
            return None
        axis = values["axis"]
        if not (isinstance(axis, ast.Constant) and type(axis.value) is int):
            return None
        shapes = [self.shape_of(item) for item in literal[1]]
        if any(not isinstance(s, tuple) or not s for s in shapes) or len({len(s) for s in shapes}) != 1:
            return None
        ndim = len(shapes[0])
        if not -ndim <= axis.value < ndim:
            return None
        axis = axis.value % ndim
        parts, start = [], 0
        for item, shape in zip(literal[1], shapes):
            stop = start + shape[axis]
            operand = local_atom(item, self.globals)
            if operand in self.active:
                if self.kinds.get(operand) == K.LIST:
                    return None
                piece = ast.Slice(lower=ast.Constant(start) if start else None, upper=ast.Constant(stop))
                index = piece if axis == 0 else ast.Tuple([ast.Slice()] * axis + [piece], ast.Load())
                parts.append((operand, ast.Subscript(value=clone(z_bar), slice=index, ctx=ast.Load())))
            start = stop
        return parts

    def unbroadcast(self, expr, operand, template, values, param, result, stmt_id):
        """The contribution `expr` (shaped like the result) summed down to the operand's shape."""
        others = [atom_kind(values[p], self.kinds) for p in template.operands if p != param]
        mine = self.kinds.get(operand)
        if all(is_scalar(k) for k in others) and (is_scalar(mine) or mine == K.ARRAY):
            return expr
        if all(
            local_atom(values[p], self.globals) == operand for p in template.operands
        ):  # `x * x`: nothing broadcast
            return expr
        shape, result_shape = self.analysis.shapes.get(operand), self.analysis.result_shapes.get(stmt_id)
        if shape is not None and result_shape is not None:  # code specialized to the arguments' shapes
            if shape == result_shape:
                return expr
            leading = len(result_shape) - len(shape)
            if leading > 0 and shape and result_shape[leading:] == shape:
                axis = (
                    ast.Constant(0)
                    if leading == 1
                    else ast.Tuple([ast.Constant(i) for i in range(leading)], ast.Load())
                )
                return ast.Call(
                    func=ast.Attribute(load("np"), "sum", ast.Load()),
                    args=[expr],
                    keywords=[ast.keyword("axis", axis)],
                )
        if is_scalar(mine) and (self.kinds.get(result) == K.ARRAY or result_shape):
            return call("np.sum", expr)
        return call("_rt.unbroadcast", expr, load(operand))

    def shape_of(self, atom):
        name = local_atom(atom, self.globals)
        if name is not None:
            return self.analysis.shapes.get(name)
        if is_global(atom, self.globals):
            value = resolve(atom, self.namespace)
            return value.shape if isinstance(value, np.ndarray) else None
        return None

    def direct_product(self, expr):
        """`_rt.matmul_adjoint_?(g, a, b)` of vectors and matrices of known ranks, as the product
        itself (`a.T @ g`). The adjoint of a matrix operand stays a call: `sum_products_after_loops`
        sums a loop's steps of it with one product."""
        if not (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr in ("matmul_adjoint_x", "matmul_adjoint_y")
            and len(expr.args) == 3
        ):
            return expr
        g, a, b = expr.args
        ranks = [len(s) if s is not None else None for s in (self.shape_of(a), self.shape_of(b))]
        if any(r not in (1, 2) for r in ranks):
            return expr
        if expr.func.attr == "matmul_adjoint_x":
            if ranks[0] == 2:
                return expr
            return _matmul(clone(b), g) if ranks[1] == 2 else ast.BinOp(g, ast.Mult(), clone(b))
        if ranks[1] == 2:
            return expr
        if ranks[0] == 2:
            return _matmul(ast.Attribute(clone(a), "T", ast.Load()), g)
        return ast.BinOp(clone(a), ast.Mult(), g)


def _matmul(left, right):
    return ast.BinOp(left, ast.MatMult(), right)
