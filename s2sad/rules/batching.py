"""Tangents for many directions at once (vector forward mode, `jacfwd`), derived from the plain ones.

There every tangent carries a leading axis of directions: `x_dot[j]` is the tangent along direction
`j`. A rule's plain tangent is rewritten call by call for it: arithmetic broadcasts the direction
axis as it is; an axis argument `k` names axis `k + 1` of a tangent (`_rt.batch_axis(k, x)`); an
index selects after the direction axis (`_rt.batch_index`); `@`, `np.dot`, a reshape or a
transpose take a run-time helper that keeps the direction axis in front. `CALLS` says, for every
function a tangent may be passed to, how. A template with a call this table does not know, or that
combines its tangents by arithmetic only, has no derived form: the transform batches those itself
(`s2sad.transforms.forward_vector`: arithmetic as it is, anything else direction by direction).

>>> plain = Template.from_text(
...     "def _(z, x, axis=None, keepdims=False):\\n    z_dot = np.sum(x_dot, axis=axis, keepdims=keepdims)\\n"
... )
>>> ast.unparse(batched(plain).body[0])
'z_dot = np.sum(x_dot, axis=_rt.batch_axis(axis, x), keepdims=keepdims)'
>>> plain = Template.from_text("def _(z, a, b):\\n    z_dot = a_dot @ b + a @ b_dot\\n")
>>> ast.unparse(batched(plain).body[0])
'z_dot = _rt.matmul_tangent_a(a_dot, b) + _rt.matmul_tangent_b(a, b_dot)'
>>> batched(Template.from_text("def _(z, x):\\n    z_dot = x_dot * np.cos(x)\\n")) is None
True
"""

import ast

import numpy as np

from ..astutil import clone
from .templates import Template

# Rules whose operands (and result, where named) are stacks of matrices, two axes or more: `@` and
# `np.linalg.solve` of those and of their tangents broadcast the direction axis as written.
MATRICES = {np.linalg.inv: ("z", "a"), np.linalg.det: ("a",)}


class NotBatchable(Exception):
    """The template calls something on a tangent that `CALLS` does not know."""


def batched(template, matrices=()):
    """The template for many directions at once, rewritten from the plain tangent `template`, or None
    (see the module's docstring). `matrices` names parameters that are stacks of matrices."""
    key = tuple(matrices)
    if key not in template.derived:
        template.derived[key] = _derive(template, key)
    return template.derived[key]


def _derive(template, matrices):
    rewriter = _Rewriter(template, matrices)
    body = []
    try:
        for stmt in template.body:
            stmt = clone(stmt)
            top = isinstance(stmt, ast.Assign) and stmt.targets[0].id == f"{template.output}_dot"
            stmt.value = rewriter.rewrite(stmt.value, top)
            if not top and rewriter.carries(stmt.value):  # a local that holds a tangent
                rewriter.tangents[stmt.targets[0].id] = rewriter.primal(stmt.value)
            body.append(stmt)
    except NotBatchable:
        return None
    return Template.rewritten(template, body) if rewriter.acted else None


_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class _Rewriter:
    def __init__(self, template, matrices):
        self.tangents = {f"{p}_dot": p for p in template.operands}  # tangent name -> its value's name
        self.output = template.output
        self.matrices = set(matrices)
        self.acted = False  # a tangent met more than arithmetic

    def carries(self, node):
        return any(isinstance(n, ast.Name) and n.id in self.tangents for n in ast.walk(node))

    def primal(self, node):
        """The name of the value whose tangent `node` holds (its first tangent's)."""
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in self.tangents:
                return self.tangents[n.id]
        raise NotBatchable

    def matrix(self, node):
        if isinstance(node, ast.Name):
            return node.id in self.matrices or self.tangents.get(node.id) in self.matrices
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return self.matrix(node.left) and self.matrix(node.right)
        if isinstance(node, ast.UnaryOp):
            return self.matrix(node.operand)
        return False

    def rewrite(self, node, top=False):
        if not self.carries(node) or isinstance(node, ast.Name):
            return node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            node.operand = self.rewrite(node.operand)
            return node
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC):
            if isinstance(node.op, ast.Div) and self.carries(node.right):
                raise NotBatchable
            node.left, node.right = self.rewrite(node.left), self.rewrite(node.right)
            return node
        self.acted = True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return self.matmul(node)
        if isinstance(node, ast.Subscript) and not self.carries(node.slice):
            node.value = self.rewrite(node.value)
            node.slice = call("_rt.batch_index", node.slice)
            return node
        if isinstance(node, ast.Attribute) and node.attr == "T":
            return call("_rt.transpose_directions", self.rewrite(node.value))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in CALLS:
            node.args = [self.rewrite(a) for a in node.args]
            for keyword in node.keywords:
                keyword.value = self.rewrite(keyword.value)
            return CALLS[ast.unparse(node.func)](node, self, top)
        raise NotBatchable

    def matmul(self, node):
        left, right = self.carries(node.left), self.carries(node.right)
        node.left, node.right = self.rewrite(node.left), self.rewrite(node.right)
        if self.matrix(node.left) and self.matrix(node.right):
            return node
        if left and right:
            raise NotBatchable
        return call("_rt.matmul_tangent_a" if left else "_rt.matmul_tangent_b", node.left, node.right)


def call(name, *args, keywords=()):
    return ast.Call(
        func=ast.parse(name, mode="eval").body,
        args=list(args),
        keywords=[ast.keyword(k, v) for k, v in keywords],
    )


def _argument(node, name, position):
    """The argument `name` of a call (at `position` when positional), or None."""
    if len(node.args) > position:
        return node.args[position]
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _output(rewriter, top):
    """The rule's result, for helpers that need the shape of one direction: only where the call is
    the whole tangent (elsewhere the result is not that call's value)."""
    if not top:
        raise NotBatchable
    return ast.Name(rewriter.output, ast.Load())


# -- how each function treats a leading axis of directions ----------------------------------------


def as_written(node, rewriter, top):
    """Acts on every axis alike (a copy), or on lists of direction arrays item by item."""
    return node


def axes(*params, of_result=False):
    """Axis arguments (name, position, default) name the axis after the direction axis."""

    def rewrite(node, rewriter, top):
        value = _output(rewriter, top) if of_result else ast.Name(rewriter.primal(node.args[0]), ast.Load())
        for name, position, default in params:
            axis = _argument(node, name, position)
            if axis is None:
                axis = ast.Constant(default)
                node.keywords.append(ast.keyword(name, axis))
            shifted = _shifted(axis, value)
            if len(node.args) > position:
                node.args[position] = shifted
            else:
                next(k for k in node.keywords if k.arg == name).value = shifted
        return node

    return rewrite


def _shifted(axis, value):
    """`k` -> `k + 1`; a negative `-k` counts from the end and stays; else `_rt.batch_axis(axis, value)`."""
    if isinstance(axis, ast.UnaryOp) and isinstance(axis.op, ast.USub) and _integer(axis.operand):
        return axis
    if _integer(axis):
        return ast.Constant(axis.value + 1 if axis.value >= 0 else axis.value)
    return call("_rt.batch_axis", axis, value)


def _integer(node):
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)


def renamed(name, tangents):
    """A run-time helper taking the same arguments does it for all directions, where the tangents
    are passed at the positions `tangents` (and nowhere else)."""

    def rewrite(node, rewriter, top):
        if any(rewriter.carries(a) for i, a in enumerate(node.args) if i not in tangents) or node.keywords:
            raise NotBatchable
        node.func = ast.parse(name, mode="eval").body
        return node

    return rewrite


def bilinear(first, second):
    """A product: `first(t, b)` where the tangent is the first factor, `second(a, t)` the second."""

    def rewrite(node, rewriter, top):
        a, b = node.args
        if rewriter.carries(a) == rewriter.carries(b):
            raise NotBatchable
        return call(first if rewriter.carries(a) else second, a, b)

    return rewrite


def reshape(node, rewriter, top):
    """To the shape of a value: `_rt.reshape_directions`; to a written shape: the directions first."""
    t, shape = node.args[0], _argument(node, "shape", 1)
    order = _argument(node, "order", 2)
    if isinstance(shape, ast.Call) and ast.unparse(shape.func) == "np.shape" and len(shape.args) == 1:
        return call("_rt.reshape_directions", t, shape.args[0], *([order] if order is not None else []))
    if isinstance(shape, ast.Tuple) and order is None:
        elts = [ast.Constant(-1)] + shape.elts
        return call("np.reshape", t, ast.Tuple(elts, ast.Load()) if shape.elts else elts[0])
    raise NotBatchable


def ravel(node, rewriter, top):
    order = _argument(node, "order", 1)
    return call("_rt.reshape_directions", node.args[0], _output(rewriter, top), *([order] if order else []))


def transpose(node, rewriter, top):
    axes = _argument(node, "axes", 1)
    return call("_rt.transpose_directions", node.args[0], *([axes] if axes is not None else []))


def concatenate(node, rewriter, top):
    axis = _argument(node, "axis", 1) or ast.Constant(0)
    return call("_rt.concatenate_directions", node.args[0], axis, _output(rewriter, top))


def cumsum(node, rewriter, top):
    axis = _argument(node, "axis", 1)
    return call("_rt.cumsum_directions", node.args[0], *([axis] if axis is not None else []))


def broadcast_to(node, rewriter, top):
    return call("_rt.broadcast_directions", node.args[0], _output(rewriter, top))


def full_tangent(node, rewriter, top):
    like, t = node.args
    return call("_rt.broadcast_directions", t, like)


def asarray(node, rewriter, top):
    """A nested list of tangents: the direction axis, under the lists' axes, goes first."""
    return call("_rt.array_directions", node.args[0], _output(rewriter, top))


def matrices_only(node, rewriter, top):
    """`np.linalg.solve(a, t)`: broadcasts the directions when `t` is a stack of matrices."""
    if rewriter.carries(node.args[0]) or not rewriter.matrix(node.args[1]):
        raise NotBatchable
    return node


def to_list(node, rewriter, top):
    """`list(x_dot)`: a list of the items' tangent directions (the rows of an array)."""
    (t,) = node.args
    return call("_rt.list_directions", t, ast.Name(rewriter.primal(t), ast.Load()))


def to_tuple(node, rewriter, top):
    node.args = [to_list(node, rewriter, top)]
    return node


# function as templates write it -> how its call on a tangent is written for all directions at once
CALLS = {
    "np.sum": axes(("axis", 1, None)),
    "np.mean": axes(("axis", 1, None)),
    "np.trace": axes(("axis1", 2, 0), ("axis2", 3, 1)),
    "np.swapaxes": axes(("axis1", 1, None), ("axis2", 2, None)),
    "np.moveaxis": axes(("source", 1, None), ("destination", 2, None)),
    "np.flip": axes(("axis", 1, None)),
    "np.stack": axes(("axis", 1, 0), of_result=True),
    "_rt.split_tangent": axes(("axis", 2, 0)),
    "np.reshape": reshape,
    "np.ravel": ravel,
    "np.transpose": transpose,
    "np.concatenate": concatenate,
    "np.cumsum": cumsum,
    "np.broadcast_to": broadcast_to,
    "_rt.full_tangent": full_tangent,
    "np.asarray": asarray,
    "list": to_list,
    "tuple": to_tuple,
    "np.dot": bilinear("_rt.dot_tangent_a", "_rt.dot_tangent_b"),
    "np.outer": bilinear("_rt.outer_tangent_a", "_rt.outer_tangent_b"),
    "_rt.einsum_tangent": renamed("_rt.einsum_directions", tangents=(4, 5, 6)),
    "np.linalg.solve": matrices_only,
    "np.copy": as_written,
    "_rt.astype_tangent": as_written,
    "_rt.list_add": as_written,
    "_rt.list_like": as_written,
}
