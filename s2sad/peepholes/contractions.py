"""Peephole on derivative code specialized to shapes: contractions written as matrix products.

`np.einsum` of two operands runs its own loops unless told otherwise; where the shapes are known
when compiling, a contraction that is a (batched) matrix product is written as one `@` between
transposed views (s2sad/runtime/contractions.py makes the plan), and one of three or more operands
gets its contraction order (`optimize=`) chosen once, here. This covers the einsums of the primal
and the adjoints of `einsum`, `tensordot`, `dot` and `inner` (`_rt.einsum_adjoint`,
`_rt.bilinear_adjoint`), which become the contraction they compute.

>>> import ast, numpy as np
>>> f = ast.parse('''
... def f_vjp(L, c, y_bar):
...     y = np.einsum("kij,nkj->nki", L, c)
...     L_bar = _rt.einsum_adjoint(y_bar, "kij,nkj->nki", 0, L, c, None)
...     c_bar = _rt.einsum_adjoint(y_bar, "kij,nkj->nki", 1, L, c, None)
... ''').body[0]
>>> shapes = {"L": (5, 3, 3), "c": (100, 5, 3), "y": (100, 5, 3)}
>>> print(ast.unparse(write_contractions(f, shapes, {"np": np})))
def f_vjp(L, c, y_bar):
    y = (c.transpose(1, 0, 2) @ L.transpose(0, 2, 1)).transpose(1, 0, 2)
    L_bar = y_bar.transpose(1, 2, 0) @ c.transpose(1, 0, 2)
    c_bar = (y_bar.transpose(1, 0, 2) @ L).transpose(1, 0, 2)
"""

import ast
import math

import numpy as np

from ..analyses.primitives import resolve
from ..astutil import walk
from ..runtime.contractions import pair_plan, written_in_order
from ..runtime.products import explicit_subscripts, dot_subscripts, inner_subscripts, tensordot_subscripts

_SUBSCRIPTS = {"dot_subscripts": dot_subscripts, "inner_subscripts": inner_subscripts}


def write_contractions(function, shapes, namespace):
    """Rewrite, in place, the contractions of `function` whose operands' shapes are known
    (`shapes`: name -> shape) as matrix products or einsums with a chosen order (module doc)."""
    writer = _Writer(shapes, namespace)
    for node in list(walk(function)):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                value[:] = [writer.rewrite(child) for child in value]
            elif isinstance(value, ast.expr):
                setattr(node, field, writer.rewrite(value))
    return function


class _Writer:
    def __init__(self, shapes, namespace):
        self.shapes, self.namespace = shapes, namespace

    def rewrite(self, node):
        if not isinstance(node, ast.Call):
            return node
        if resolve(node.func, self.namespace) is np.einsum:
            return self.einsum(node) or node
        if _runtime_call(node) == "einsum_adjoint":
            return self.adjoint(node.args, node) or node
        if _runtime_call(node) == "bilinear_adjoint":
            return self.adjoint(node.args + [ast.Constant(None)], node) or node
        return node

    def shape(self, node):
        shape = self.shapes.get(node.id) if isinstance(node, ast.Name) else None
        if isinstance(shape, tuple) and shape and all(type(n) is int for n in shape):
            return shape
        return None

    def einsum(self, call):
        """`np.einsum("...", a, b, ...)` of operands of known shapes, as its plan."""
        if any(k.arg != "optimize" for k in call.keywords) or not call.args:
            return None
        spec, operands = call.args[0], call.args[1:]
        if not (isinstance(spec, ast.Constant) and isinstance(spec.value, str)):
            return None
        shapes = [self.shape(o) for o in operands]
        if any(s is None for s in shapes):  # the plan is made when it runs
            return _call("_rt.einsum_pair", call.args) if len(operands) == 2 else None
        try:
            inputs, output = explicit_subscripts(spec.value, [_dummy(s) for s in shapes])
        except ValueError:
            return None
        return _contraction(inputs, output, operands, shapes)  # (None: einsum's own loop, as written)

    def adjoint(self, args, call):
        """`_rt.einsum_adjoint(g, "...", which, a, b, c)` (or `bilinear_adjoint`'s four first) of
        operands of known shapes, as the contraction of `g` with the other operands."""
        if len(args) < 5 or call.keywords:
            return None
        g, spec, which, operands = args[0], args[1], args[2], args[3:]
        operands = [o for o in operands if not (isinstance(o, ast.Constant) and o.value is None)]
        shapes = [self.shape(o) for o in operands]
        if (
            not isinstance(which, ast.Constant)
            or type(which.value) is not int
            or any(s is None for s in shapes)
        ):
            return None
        subscripts = self.subscripts(spec, shapes)
        if subscripts is None or which.value >= len(operands):
            return None
        try:
            inputs, output = explicit_subscripts(subscripts, [_dummy(s) for s in shapes])
        except ValueError:
            return None
        if (
            not output
        ):  # a number for `g`: einsum would widen a Python float, `einsum_adjoint` keeps x's dtype
            return None
        target = inputs[which.value]
        others = [k for k in range(len(operands)) if k != which.value]
        sizes = {}
        for term, shape in zip(inputs, shapes):
            for ch, n in zip(term, shape):
                if sizes.setdefault(ch, n) != n:
                    return None  # broadcast letters: the adjoint sums them
        reachable = set(output).union(*(inputs[k] for k in others))
        if len(set(target)) != len(target) or not set(target) <= reachable:
            return None  # a diagonal, or letters the operand alone sums: `_rt.einsum_adjoint` spreads them
        terms = [output] + [inputs[k] for k in others]
        operands = [g] + [operands[k] for k in others]
        shapes = [tuple(sizes[ch] for ch in output)] + [shapes[k] for k in others]
        return _contraction(terms, target, operands, shapes) or _call(
            "np.einsum", [ast.Constant(",".join(terms) + "->" + target)] + operands
        )

    def subscripts(self, spec, shapes):
        """The subscripts a helper call computes (`_rt.dot_subscripts(a, b)`, ...), known when the
        operands' shapes are; a literal as it is."""
        if isinstance(spec, ast.Constant) and isinstance(spec.value, str):
            return spec.value
        name = _runtime_call(spec)
        dummies = [_dummy(s) for s in shapes]
        if name in _SUBSCRIPTS and len(spec.args) == 2 and not spec.keywords:
            return _SUBSCRIPTS[name](*dummies)
        if name == "tensordot_subscripts" and len(spec.args) in (2, 3) and not spec.keywords:
            try:
                axes = ast.literal_eval(spec.args[2]) if len(spec.args) == 3 else 2
                return tensordot_subscripts(*dummies, axes)
            except (ValueError, TypeError, IndexError):
                return None
        return None


def _contraction(terms, output, operands, shapes):
    """The expression computing `np.einsum` of `operands` (expressions) of these shapes: one matrix
    product, or an einsum whose order of pairwise contractions is chosen now; None for two operands
    that are not a matrix product."""
    spec = ",".join(terms) + "->" + output
    if len(operands) == 2:
        plan = pair_plan(terms, output, *shapes)
        if plan is None:
            return None
        x, y = operands[:: 1 if plan.left == 0 else -1]
        x, y = (_arranged(v, *parts) for v, parts in zip((x, y), zip(plan.sums, plan.perms, plan.shapes)))
        sizes = {ch: n for term, shape in zip(terms, shapes) for ch, n in zip(term, shape)}
        if written_in_order(plan, math.prod(sizes[ch] for ch in output)):
            return _call("_rt.matmul_transposed", [x, y, _literal(plan.perm_out)])
        out = ast.BinOp(x, ast.MatMult(), y)
        if plan.shape_out is not None:
            out = _method(out, "reshape", plan.shape_out)
        return out if plan.perm_out is None else _method(out, "transpose", plan.perm_out)
    path, _ = np.einsum_path(spec, *[_dummy(s) for s in shapes], optimize="greedy")
    order = ast.List([ast.Constant(path[0])] + [_literal(step) for step in path[1:]], ast.Load())
    return _call("np.einsum", [ast.Constant(spec)] + operands, [ast.keyword("optimize", order)])


def _arranged(node, summed, perm, shape):
    if summed is not None:
        node = _call("np.sum", [node], [ast.keyword("axis", _literal(summed))])
    if perm is not None:
        node = _method(node, "transpose", perm)
    return node if shape is None else _method(node, "reshape", shape)


def _method(node, name, numbers):
    return ast.Call(ast.Attribute(node, name, ast.Load()), [ast.Constant(n) for n in numbers], [])


def _call(dotted, args, keywords=()):
    module, name = dotted.split(".")
    return ast.Call(ast.Attribute(ast.Name(module, ast.Load()), name, ast.Load()), list(args), list(keywords))


def _literal(numbers):
    return ast.Tuple([ast.Constant(n) for n in numbers], ast.Load())


def _runtime_call(node):
    """The helper a call of the run-time package calls (`unreduce` for `_rt.unreduce(...)`), else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "_rt"
    ):
        return node.func.attr
    return None


def _dummy(shape):
    """An array of this shape that takes no memory (what the subscript helpers read)."""
    return np.broadcast_to(np.zeros(()), shape)
