"""Peephole on derivative code: a product added to itself is one product with its first factor doubled.

The adjoint of `y = x * x` adds `g * x` twice (computed once, `_square`). Into a fresh adjoint that
is `s = g * x; x_bar = s + s`: two passes over arrays of `x`'s shape, where `2.0 * g * x` (Python
multiplies left to right: `(2.0 * g) * x`) makes one, and doubles `g`, which has at most that many
entries (the cotangent of `x * x` is broadcast to `x`'s shape, never past it; GMM's
`np.sum(Qx * Qx, axis=2)` gives `g` one entry per row of `Qx`). Exact in floating point: `s + s`
and `2.0 * s` are the same number, and so is `(2.0 * g) * x` (a factor of 2 only moves the exponent).

>>> import ast
>>> tree = ast.parse('''
... def f_vjp(x, y_bar):
...     _square1 = y_bar[:, None] * x
...     x_bar = _square1 + _square1
...     return x_bar
... ''').body[0]
>>> print(ast.unparse(double_products(tree)))
def f_vjp(x, y_bar):
    x_bar = 2.0 * y_bar[:, None] * x
    return x_bar
"""

import ast

from ..astutil import nodes, rewrite_nested


def double_products(function):
    """`s = a * b` then, in the next statement, `t = s + s` (or `t = _rt.owned(s, x) + s`, an adjoint
    updated in place later) -> `t = 2.0 * a * b` (`_rt.owned(2.0 * a * b, x)`), when those two are
    the only reads of `s` and the first its only assignment."""
    stores, loads = {}, {}
    for node in nodes(function):
        if node.__class__ is ast.Name:
            table = loads if node.ctx.__class__ is ast.Load else stores
            table[node.id] = table.get(node.id, 0) + 1
    params = {a.arg for a in function.args.args}

    def product(stmt):
        """The name `s` of `s = a * b`, or None."""
        if (
            stmt.__class__ is ast.Assign
            and len(stmt.targets) == 1
            and stmt.targets[0].__class__ is ast.Name
            and stmt.value.__class__ is ast.BinOp
            and stmt.value.op.__class__ is ast.Mult
        ):
            name = stmt.targets[0].id
            if stores.get(name) == 1 and loads.get(name) == 2 and name not in params:
                return name
        return None

    def doubled(stmt, name, value):
        """`stmt` with `value` (the product) doubled in place of its two reads of `name`, or None."""
        if stmt.__class__ is not ast.Assign or stmt.value.__class__ is not ast.BinOp:
            return None
        total = stmt.value
        if total.op.__class__ is not ast.Add or not _is(total.right, name):
            return None
        twice = ast.BinOp(ast.BinOp(ast.Constant(2.0), ast.Mult(), value.left), ast.Mult(), value.right)
        left = total.left
        if _is(left, name):
            stmt.value = twice
            return stmt
        if (
            left.__class__ is ast.Call
            and ast.unparse(left.func) == "_rt.owned"
            and len(left.args) == 2
            and not left.keywords
            and _is(left.args[0], name)
        ):
            left.args[0] = twice
            stmt.value = left
            return stmt
        return None

    def block(stmts):
        out = []
        for stmt in stmts:
            rewrite_nested(stmt, block)
            name = product(out[-1]) if out else None
            if name is not None and doubled(stmt, name, out[-1].value) is not None:
                out.pop()
            out.append(stmt)
        return out

    function.body = block(function.body)
    return function


def _is(node, name):
    return node.__class__ is ast.Name and node.id == name
