"""The adjoints of single statements, for the reverse transform: the contributions of an
assignment to its operands' adjoints (from the rule templates), accumulated into symbolic zeros.
"""

import ast
import operator

import numpy as np

from .. import kinds as K
from ..analyses.primitives import index_expression
from ..astutil import clone
from ..modes import Mode
from ..peepholes.scatter import basic_index
from ..peepholes.simplify import split_sign
from ..rules import adjoint_for
from .derivatives import (
    assign,
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
            parts = self.adjoint_parts(stmt)
            if (
                self.mode is Mode.RECURSIVE
                and prim.kind == "call"
                and prim.rule.extra.get("derivative_call") == "value"
            ):
                out += self.recursive_adjoint(stmt, prim, state)
                parts = []
            for operand, expr in parts:
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
