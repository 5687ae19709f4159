"""Simplify derivative expressions: symbolic zeros vanish, ones disappear.

Inactive operands contribute the marker `ZERO` to a tangent or adjoint
expression; this pass removes it by linearity so the generated code has no
`0 * x`, `x + 0` or `1 * x` terms, and folds arithmetic on literals.

>>> import ast
>>> expr = ast.parse("x_dot * y + x * y_dot", mode="eval").body
>>> expr.right.right = zero()
>>> ast.unparse(simplify(expr))
'x_dot * y'
>>> ast.unparse(simplify(ast.parse("g * 2 * x ** (2 - 1)", mode="eval").body))
'g * 2 * x'
>>> ast.unparse(simplify(ast.parse("a + -b", mode="eval").body))
'a - b'
>>> expr = ast.parse("x_dot.T + x_dot.reshape(3)", mode="eval").body
>>> expr.left.value = zero(); expr.right.func.value = zero()
>>> is_zero(simplify(expr))
True
"""

import ast
import operator
from ..astutil import walk

_FOLD = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


class SymbolicZero(float):
    """The value of a symbolic zero's `ast.Constant`: a float 0.0 of its own type, so a zero is told
    from a literal `0.0` by its value (which every copy of the node keeps), not by a flag on the node."""

    __slots__ = ()

    def __repr__(self):
        return "0.0"


ZERO = SymbolicZero(0.0)


def zero():
    """A fresh symbolic zero."""
    return ast.Constant(value=ZERO)


def is_zero(node):
    return node.__class__ is ast.Constant and node.value.__class__ is SymbolicZero


def _number(node):
    if isinstance(node, ast.Constant) and not is_zero(node):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _is_one(node):
    return _number(node) == 1


def simplify(node, carriers=frozenset()):
    """Return `node` with symbolic zeros removed by linearity (see module doc). `carriers`: the
    names in `node` that hold derivatives (a call whose derivative operands are all zero is zero)."""
    if isinstance(node, ast.BinOp):
        left, right = simplify(node.left, carriers), simplify(node.right, carriers)
        op = node.op
        if isinstance(op, ast.Add):
            if is_zero(left):
                return right
            if is_zero(right):
                return left
            negative, magnitude = split_sign(right)
            if negative:
                return ast.BinOp(left=left, op=ast.Sub(), right=magnitude)
        elif isinstance(op, ast.Sub):
            if is_zero(right):
                return left
            if is_zero(left):
                return simplify(ast.UnaryOp(op=ast.USub(), operand=right), carriers)
            if isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.USub):
                return ast.BinOp(left=left, op=ast.Add(), right=right.operand)
        elif isinstance(op, (ast.Mult, ast.MatMult)):
            if is_zero(left) or is_zero(right):
                return zero()
            if isinstance(op, ast.Mult):
                if _is_one(left):
                    return right
                if _is_one(right):
                    return left
        elif isinstance(op, ast.Div):
            if is_zero(left):
                return zero()
            if _is_one(right):
                return left
        elif isinstance(op, ast.Pow):
            if _is_one(right):
                return left
        a, b = _number(left), _number(right)
        if a is not None and b is not None and type(op) in _FOLD:
            try:
                value = _FOLD[type(op)](a, b)
            except (ZeroDivisionError, OverflowError):
                value = None
            if isinstance(value, (int, float)) and abs(value) < 1e15:
                if value < 0:
                    return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(-value))
                return ast.Constant(value)
        return ast.BinOp(left=left, op=op, right=right)
    if isinstance(node, ast.UnaryOp):
        operand = simplify(node.operand, carriers)
        if isinstance(node.op, ast.USub):
            if is_zero(operand):
                return zero()
            if isinstance(operand, ast.UnaryOp) and isinstance(operand.op, ast.USub):
                return operand.operand
        return ast.UnaryOp(op=node.op, operand=operand)
    if isinstance(node, ast.Attribute):  # `zero.T`: an attribute of a zero derivative is zero
        value = simplify(node.value, carriers)
        if is_zero(value):
            return zero()
        return ast.Attribute(value=value, attr=node.attr, ctx=node.ctx)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and is_zero(simplify(node.func.value, carriers)):
            return zero()  # `zero.reshape(...)`, `zero.sum()`: a linear method of a zero derivative
        args = [simplify(a, carriers) for a in node.args]
        keywords = [ast.keyword(arg=k.arg, value=simplify(k.value, carriers)) for k in node.keywords]
        operands = [a for a in args + [k.value for k in keywords] if _carries_derivative(a, carriers)]
        if operands and all(is_zero(a) for a in operands):
            return zero()
        args = [_plain(a) for a in args]
        keywords = [ast.keyword(arg=k.arg, value=_plain(k.value)) for k in keywords]
        return ast.Call(func=node.func, args=args, keywords=keywords)
    if isinstance(node, ast.Subscript):
        value = simplify(node.value, carriers)
        if is_zero(value):
            return zero()
        return ast.Subscript(value=value, slice=node.slice, ctx=node.ctx)
    if isinstance(node, (ast.Tuple, ast.List)):
        return type(node)(elts=[_plain(simplify(e, carriers)) for e in node.elts], ctx=node.ctx)
    return node


def split_sign(node):
    """(negative, magnitude): `-a * b / c` -> (True, `a * b / c`)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return True, node.operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        negative, left = split_sign(node.left)
        if negative:
            return True, ast.BinOp(left=left, op=node.op, right=node.right)
    return False, node


def _carries_derivative(node, carriers):
    if is_zero(node):
        return True
    for sub in walk(node):
        if is_zero(sub) or (sub.__class__ is ast.Name and sub.id in carriers):
            return True
    return False


def _plain(node):
    """A zero that must stay a value (an argument of a non-linear call) becomes `0.0`."""
    if is_zero(node):
        return ast.Constant(0.0)
    return node
