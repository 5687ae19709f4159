"""Peephole on derivative code: negations are folded into the operations that use them."""

import ast

from ..astutil import nodes, statements


def fold_negations(function):
    """Generated code: `x = -u` where a negation feeds `u` through single-use temporaries
    (`t = -a * b; u = t * c; x = -u`, the adjoint of `1 / (1 + exp(-v))`): both negations
    go (`t = a * b; u = t * c; x = u`). Exact in floating point: negating a factor of a product
    or quotient negates the result, bit for bit. A temporary is rewritten only if it is
    assigned once and read once (by the chain), so no other reader sees the sign change.

    >>> tree = ast.parse("def f(a, b, c):\\n    t = -a * b\\n    u = t * c\\n    x = -u\\n    return x").body[0]
    >>> print(ast.unparse(fold_negations(tree)))
    def f(a, b, c):
        t = a * b
        u = t * c
        x = u
        return x
    """
    if not any(
        stmt.__class__ is ast.Assign
        and stmt.value.__class__ is ast.UnaryOp
        and stmt.value.op.__class__ is ast.USub
        for stmt in statements(function.body)
    ):
        return function  # no `x = -u`: nothing to fold
    assigned, reads, definitions = {}, {}, {}
    params = {a.arg for a in function.args.args}
    for node in nodes(function):
        cls = node.__class__
        if cls is ast.Name:
            table = reads if node.ctx.__class__ is ast.Load else assigned
            table[node.id] = table.get(node.id, 0) + 1
        elif cls is ast.Assign and len(node.targets) == 1 and node.targets[0].__class__ is ast.Name:
            definitions[node.targets[0].id] = node

    def without_negation(expr):
        """`expr` with one negation taken out (its value negated), or None."""
        cls = expr.__class__
        if cls is ast.UnaryOp and expr.op.__class__ is ast.USub:
            return expr.operand
        if cls is ast.BinOp and expr.op.__class__ in (ast.Mult, ast.Div):
            for side in ("left", "right"):
                inner = without_negation(getattr(expr, side))
                if inner is not None:
                    setattr(expr, side, inner)
                    return expr
            return None
        if (
            cls is ast.Name
            and expr.id in definitions
            and expr.id not in params
            and assigned.get(expr.id) == 1
            and reads.get(expr.id) == 1
        ):
            definition = definitions[expr.id]
            inner = without_negation(definition.value)
            if inner is not None:
                definition.value = inner  # the temporary now holds the negated value
                return expr
        return None

    for stmt in list(definitions.values()):
        value = stmt.value
        if value.__class__ is ast.UnaryOp and value.op.__class__ is ast.USub:
            inner = without_negation(value.operand)
            if inner is not None:
                stmt.value = inner
    return function


def fold_negated_sums(function):
    """Generated code: `np.sum(-v, ...)` -> `-np.sum(v, ...)` (and `_rt.unbroadcast(-v, x)`, a sum
    down to `x`'s shape), and `a + -np.sum(v)` -> `a - np.sum(v)`: the negation of the sum instead of
    an array of negated entries. Exact in floating point (rounding is symmetric in sign, so the sum
    of the negated entries is the negated sum).

    >>> tree = ast.parse("def f(a, v):\\n    return a + np.sum(-v, axis=0)").body[0]
    >>> print(ast.unparse(fold_negated_sums(tree)))
    def f(a, v):
        return a - np.sum(v, axis=0)
    """

    def negated_sum(node):
        if (
            node.__class__ is ast.Call
            and node.func.__class__ is ast.Attribute
            and (node.func.attr, getattr(node.func.value, "id", None))
            in (("sum", "np"), ("unbroadcast", "_rt"))
            and node.args
            and node.args[0].__class__ is ast.UnaryOp
            and node.args[0].op.__class__ is ast.USub
        ):
            node.args[0] = node.args[0].operand
            return True
        return False

    for node in list(nodes(function)):
        for field, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for i, child in enumerate(children):
                if not isinstance(child, ast.expr):
                    continue
                if (
                    child.__class__ is ast.BinOp
                    and child.op.__class__ is ast.Add
                    and negated_sum(child.right)
                ):
                    child.op = ast.Sub()
                elif negated_sum(child):
                    negation = ast.UnaryOp(ast.USub(), child)
                    if isinstance(value, list):
                        value[i] = negation
                    else:
                        setattr(node, field, negation)
    return function
