"""Peephole on derivative code: a reduction's cotangent multiplied by an array of the reduced
operand's shape is spread by broadcasting, not copied out first.

`_rt.unreduce(g, x, axis)` spreads the cotangent of `np.sum(x, axis)` (or max, mean) over `x`'s
shape as a new array (an adjoint may later be added to in place). Multiplied by an array `y` of
that shape (`x` itself, a value of the same known shape, `x`'s extremum weights), the product is the
new array and broadcasting does the spreading: `g[:, None] * y`. The same numbers, one pass over
`x`'s size fewer. The dtype is the same too: `unreduce` keeps `g`'s dtype, promoted with `x`'s as the
product promotes it with `y`'s.

>>> import ast
>>> f = ast.parse('''
... def f_vjp(x, s_bar, m_bar, t):
...     x_bar = _rt.unreduce(s_bar, t, 1, False) * t
...     x_bar = x_bar + _rt.unreduce(m_bar, x, None, False) * _rt.extremum_weights(x, m, None)
... ''').body[0]
>>> print(ast.unparse(spread_by_broadcasting(f, {"t": (4, 3), "x": (4, 3)})))
def f_vjp(x, s_bar, m_bar, t):
    x_bar = s_bar[:, None] * t
    x_bar = x_bar + m_bar * _rt.extremum_weights(x, m, None)
"""

import ast

from ..astutil import nodes


def spread_by_broadcasting(function, shapes):
    """Rewrite, in place, `_rt.unreduce(g, x, axis, keepdims) * y` (either order; also `+`, `-`) where
    `y` has `x`'s shape (module doc). `shapes`: name -> shape, where known."""
    for node in nodes(function):
        if node.__class__ is not ast.BinOp or node.op.__class__ not in (ast.Mult, ast.Add, ast.Sub):
            continue
        for side, other in (("left", node.right), ("right", node.left)):
            holder, field = node, side
            inner = getattr(node, side)
            if inner.__class__ is ast.BinOp and inner.op.__class__ is ast.Mult:  # `unreduce(...) * 2 * y`
                numbers = [f for f in ("left", "right") if _number(getattr(inner, f))]
                if len(numbers) == 1:
                    holder, field = inner, "right" if numbers[0] == "left" else "left"
            spread = _spread(getattr(holder, field), other, shapes)
            if spread is not None:
                setattr(holder, field, spread)
                break
    return function


def _number(node):
    return node.__class__ is ast.Constant and type(node.value) in (int, float)


def _spread(call, factor, shapes):
    """`g`, indexed to broadcast against `x`, for `call` = `_rt.unreduce(g, x, axis, keepdims)`
    multiplied by `factor` of `x`'s shape; else None."""
    if not (
        call.__class__ is ast.Call
        and call.func.__class__ is ast.Attribute
        and call.func.attr == "unreduce"
        and call.func.value.__class__ is ast.Name
        and call.func.value.id == "_rt"
        and len(call.args) == 4
        and not call.keywords
        and call.args[1].__class__ is ast.Name
        and all(a.__class__ is ast.Constant for a in call.args[2:])
    ):
        return None
    g, x, axis, keepdims = call.args[0], call.args[1].id, call.args[2].value, call.args[3].value
    if not _shaped_like(factor, x, shapes):
        return None
    if axis is None or keepdims is True:  # `g` has x's rank already, or is one number
        return g
    shape = shapes.get(x)
    if keepdims is not False or not isinstance(shape, tuple):
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not all(type(a) is int and -len(shape) <= a < len(shape) for a in axes):
        return None
    reduced = {a % len(shape) for a in axes}
    index = [ast.Constant(None) if i in reduced else ast.Slice() for i in range(len(shape))]
    return ast.Subscript(g, ast.Tuple(index, ast.Load()) if len(index) > 1 else index[0], ast.Load())


def _shaped_like(factor, x, shapes):
    """Whether `factor` is known to have the shape of the variable `x`."""
    if factor.__class__ is ast.Name:
        shape = shapes.get(x)
        return factor.id == x or (
            isinstance(shape, tuple) and all(type(n) is int for n in shape) and shapes.get(factor.id) == shape
        )
    return (
        factor.__class__ is ast.Call
        and factor.func.__class__ is ast.Attribute
        and factor.func.attr == "extremum_weights"
        and factor.func.value.__class__ is ast.Name
        and factor.func.value.id == "_rt"
        and factor.args
        and factor.args[0].__class__ is ast.Name
        and factor.args[0].id == x
    )
