"""The adjoints of single statements, for the reverse transform: the contributions of an
assignment to its operands' adjoints (from the rule templates), accumulated into symbolic zeros.
"""

import ast
import copy
import operator

import numpy as np

from .. import kinds as K
from ..analyses.primitives import index_expression, is_global, resolve
from ..astutil import clone
from ..peepholes.scatter import basic_index
from ..peepholes.simplify import split_sign
from ..rules import adjoint_for
from .derivatives import (
    assign,
    atom_kind,
    bind_template,
    call,
    carriers,
    doubled,
    is_scalar,
    load,
    local_atom,
    simplified,
    squares,
)

PRESENT, MAYBE_ZERO = "present", "maybe-zero"  # an adjoint holds a value / may still be a symbolic zero


class StatementAdjoints:
    """The adjoint of each assignment (a part of `ReverseTransform`)."""

    def bar(self, name):
        return self.names.adjoint(name)

    def adjoint_parts(self, stmt):
        """[(operand name, contribution expression)] for `stmt`, cached."""
        key = id(stmt)
        if key in self.parts:
            return self.parts[key]
        parts = []
        target = stmt.targets[0]
        if isinstance(target, ast.Subscript) and self.kinds.get(target.value.id) == K.LIST:
            value = local_atom(stmt.value)  # `xs[i] = v`: the item's adjoint, zeroed right after
            if value in self.active:
                parts.append(
                    (
                        value,
                        ast.Subscript(
                            value=load(self.bar(target.value.id)), slice=clone(target.slice), ctx=ast.Load()
                        ),
                    )
                )
            self.parts[key] = parts
            return parts
        if isinstance(target, ast.Subscript):
            value = local_atom(stmt.value)
            if value in self.active:
                # a copy: the slice is zeroed right after it is read
                integers = {n for n, k in self.kinds.items() if k == K.INT}
                if basic_index(index_expression(target.slice), integers) is not None:
                    g = ast.Subscript(
                        value=load(self.bar(target.value.id)), slice=clone(target.slice), ctx=ast.Load()
                    )
                    g = ast.Call(
                        func=ast.Attribute(value=g, attr="copy", ctx=ast.Load()), args=[], keywords=[]
                    )
                else:  # an index that may repeat a position: only its last write counts
                    g = call(
                        "_rt.written_part",
                        load(self.bar(target.value.id)),
                        index_expression(clone(target.slice)),
                    )
                g = call("_rt.unbroadcast", g, load(value))
                parts.append((value, g))
            self.parts[key] = parts
            return parts
        name = target.id
        prim = self.analysis.primitives[key]
        z_bar = load(self.bar(name))
        if name not in self.active or prim.kind == "list_pop":
            pass  # (a pop's adjoint is written by `backward_pop`)
        elif prim.kind == "copy":
            operand = local_atom(prim.args[0])
            if operand in self.active:
                parts.append((operand, z_bar))
        elif prim.kind == "container":
            for index, atom in enumerate(prim.args):
                operand = local_atom(atom)
                if operand in self.active:
                    key = prim.keys[index] if prim.keys is not None else index
                    item = ast.Subscript(value=clone(z_bar), slice=ast.Constant(key), ctx=ast.Load())
                    parts.append((operand, item))
        elif prim.rule.differentiable:
            rule = prim.rule
            if rule.adjoint is None:
                raise NotImplementedError(rule.name)
            values = bind_template(rule.adjoint, prim)
            template = adjoint_for(rule, values)
            if rule.key is operator.getitem:
                base = local_atom(values["x"])
                if base in self.inplace:
                    parts.append(("@inplace", (base, values["index"], z_bar)))
                    self.parts[key] = parts
                    return parts
                if self.kinds.get(base) == K.LIST:
                    if base in self.active:  # `xs_bar[i] += z_bar` (item by item for a slice)
                        parts.append(("@list", (base, values["index"], z_bar)))
                    self.parts[key] = parts
                    return parts
            if rule.key is np.concatenate:
                pieces = self.concatenate_pieces(stmt, values, z_bar)
                if pieces is not None:
                    self.split_literals.add(key)
                    self.parts[key] = pieces
                    return pieces
            if rule.key in (operator.add, operator.mul) and self.kinds.get(name) == K.LIST:
                self.parts[key] = self.list_operator_parts(rule, prim, z_bar)
                return self.parts[key]
            values[template.output] = load(name)
            derivs = {
                f"{p}_bar": load(self.bar(local_atom(values[p]) or "_const")) for p in template.operands
            }
            derivs[f"{template.output}_bar"] = z_bar
            for target_param, expr in template.instantiate(values, derivs, fresh=self.names.fresh):
                if target_param not in template.operands:
                    parts.append(("@local", (target_param, expr)))
                    continue
                operand = local_atom(values[target_param])
                if operand not in self.active:
                    continue
                expr = simplified(expr, carriers(derivs))
                if expr is None:
                    continue
                if rule.elementwise:
                    expr = self.unbroadcast(expr, operand, template, values, target_param, name, id(stmt))
                elif rule.key in (operator.matmul, np.matmul):
                    expr = self.direct_product(expr)
                parts.append((operand, expr))
            if (
                squares(rule, template, values)
                and len(parts) == 2
                and parts[0][0] == parts[1][0]
                and doubled(parts[0][1], parts[1][1]) is not None
            ):
                # `x * x`: its two equal terms (`g * x`, `x * g`) computed once and added twice, the
                # same additions in the same order, so the same result bit for bit
                operand, term = parts[0]
                if not isinstance(term, ast.Name):
                    square = self.names.fresh("square")
                    parts = [("@local", (square, term))]
                    term = load(square)
                else:
                    parts = []
                parts += [(operand, term), (operand, load(term.id))]
        self.parts[key] = parts
        return parts

    def concatenate_pieces(self, stmt, values, z_bar):
        """`y = np.concatenate(_t1)` of a list literal `_t1 = [a, b]` whose items' shapes are known:
        each active item's adjoint is its slice of `y_bar` (`a_bar += y_bar[:3]`), no list adjoint
        and no run-time split. None if a shape or the axis is not known."""
        literal = self.literal_operands.get(id(stmt))
        if literal is None or local_atom(values["arrays"]) != literal[0]:
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
            operand = local_atom(item)
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
        name = local_atom(atom)
        if name is not None:
            return self.analysis.shapes.get(name)
        if is_global(atom):
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

    # -- backward sweep -----------------------------------------------------------------
    def accumulate(self, name, expr, state, where, source=PRESENT, convert=False):
        """Add `expr` to `name`'s adjoint; `source` is the state of the adjoint it came from
        (a contribution from a maybe-zero placeholder may itself be a scalar zero). A list's
        adjoint is a list: contributions of rules (`convert`: an array with one row per item,
        `np.array(xs)`'s adjoint) become lists aligned with the list."""
        target = self.bar(name)
        if self.kinds.get(name) == K.LIST:
            if name not in state:
                state[name] = PRESENT if convert else source
                return [
                    assign(target, call("_rt.list_cotangent", expr, load(name)) if convert else expr, where)
                ]
            both = PRESENT if PRESENT in (state[name], source) or convert else MAYBE_ZERO
            state[name] = both
            extra = [load(name)] if convert else []
            return [assign(target, call("_rt.list_add", load(target), expr, *extra), where)]
        negative, magnitude = split_sign(expr)
        if name in self.inplace:
            if name not in state:
                state[name] = PRESENT
                return [assign(target, call("_rt.owned", expr, load(name)), where)]
            return [assign(target, ast.BinOp(left=load(target), op=ast.Add(), right=expr), where)]
        if name not in state:
            state[name] = source
            return [assign(target, expr, where)]
        state[name] = PRESENT
        op = ast.Sub() if negative else ast.Add()
        return [
            assign(target, ast.BinOp(left=load(target), op=op, right=magnitude if negative else expr), where)
        ]

    def materialize(self, name):
        if name in self.inplace or (self.portable and self.kinds.get(name) == K.LIST):
            return assign(self.bar(name), call("_rt.zeros_like", load(name)))
        return assign(self.bar(name), ast.Constant(0.0))

    def backward_assign(self, stmt, state):
        out = []
        target = stmt.targets[0]
        pushed = id(stmt) in self.recording.pushes
        if isinstance(target, ast.Subscript) and self.kinds.get(target.value.id) == K.LIST:
            return self.backward_list_write(stmt, state)
        prim = self.analysis.primitives.get(id(stmt))
        if prim is not None and prim.kind == "list_pop":
            return self.backward_pop(stmt, prim, state)
        if isinstance(target, ast.Subscript):
            base = target.value.id
            if base in state:
                for operand, expr in self.adjoint_parts(stmt):
                    out += self.accumulate(operand, expr, state, stmt)
                store = ast.Subscript(value=load(self.bar(base)), slice=clone(target.slice), ctx=ast.Store())
                out.append(ast.copy_location(ast.Assign(targets=[store], value=ast.Constant(0.0)), stmt))
            if pushed:
                store = ast.Subscript(value=load(base), slice=clone(target.slice), ctx=ast.Store())
                out.append(ast.copy_location(ast.Assign(targets=[store], value=self.pop(id(stmt))), stmt))
            return out
        name = target.id
        recomputed = self.recompute.get(id(stmt), []) if name in self.active and name in state else []
        if recomputed:
            if pushed:
                out.append(assign(name, self.pop(id(stmt)), stmt))
                pushed = False
            for definition in recomputed:
                out.append(ast.copy_location(clone(definition), stmt))
        if name in self.active and name in state:
            prim = self.analysis.primitives[id(stmt)]
            source = state[name]
            if (
                state[name] == MAYBE_ZERO
                and prim.kind == "call"
                and not prim.rule.elementwise
                and not is_scalar(self.kinds.get(name))
            ):
                helper = "_rt.list_like" if self.kinds.get(name) == K.LIST else "_rt.like"
                out.append(assign(self.bar(name), call(helper, load(self.bar(name)), load(name)), stmt))
                source = PRESENT
            placeholder = (
                state[name] == MAYBE_ZERO and prim.kind == "container" and self.kinds.get(name) == K.LIST
            )
            for operand, expr in self.adjoint_parts(stmt):
                if placeholder:  # `xs_bar[k]` of a list adjoint that may still be a scalar zero
                    expr = call("_rt.item", expr.value, expr.slice)
                if operand == "@local":
                    out.append(assign(expr[0], expr[1], stmt))
                elif operand == "@list":
                    base, index, z_bar = expr
                    out += self.list_adjoint(base, state, stmt)
                    add = call("_rt.list_add_at", load(self.bar(base)), clone(index), z_bar)
                    out.append(ast.copy_location(ast.Expr(add), stmt))
                elif operand == "@inplace":
                    base, index, z_bar = expr
                    if base not in state:
                        out.append(assign(self.bar(base), call("_rt.zeros_like", load(base)), stmt))
                        state[base] = PRESENT
                    out.append(
                        ast.copy_location(
                            ast.Expr(call("_rt.add_at", load(self.bar(base)), clone(index), z_bar)), stmt
                        )
                    )
                else:
                    # a rule's contribution to a list may be an array of rows; `+` and `* n` give lists
                    convert = (
                        prim.kind == "call"
                        and self.kinds.get(name) != K.LIST
                        and operand not in self.single_use_lists
                    )
                    out += self.accumulate(operand, expr, state, stmt, source, convert=convert)
            del state[name]
        if pushed:
            out.append(assign(name, self.pop(id(stmt)), stmt))
        return out


def _matmul(left, right):
    return ast.BinOp(left, ast.MatMult(), right)
