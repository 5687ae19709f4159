"""Peephole on derivative code: accumulations `a = a + e1; a = a + e2` are fused.

>>> import ast
>>> tree = ast.parse('''
... def f_vjp(x, y_bar):
...     x_bar = y_bar * 2.0
...     x_bar = x_bar + y_bar * x
...     return x_bar
... ''').body[0]
>>> tree = fuse_accumulations(tree)
>>> print(ast.unparse(tree))
def f_vjp(x, y_bar):
    x_bar = y_bar * 2.0 + y_bar * x
    return x_bar
"""

import ast

from ..analyses.effects import LIST_EFFECTS, has_effects, mutated, writes_in_place
from ..astutil import module_names, name_nodes, rewrite_nested


def fuse_accumulations(function, tapes=frozenset()):
    """`a = e1`, later `a = a + e2` (a not in e2) -> `a = e1 + e2`; drops `a = a`. Likewise
    `a = a + e1`, later `a = a + e2` -> `a = a + e1 + e2` (the same additions in the same order).

    Statements in between may not read or rebind `a`, nor rebind what `e2` reads.
    `a = -(e1)` then `a = a + e2` becomes `a = e2 - e1` (exact in floating point). `tapes`: the loop
    tapes' preallocated lists (a store into one writes no array in place).
    """
    globals_ = module_names(function)

    def names(node, ctx=None):
        return {n.id for n in name_nodes(node) if (ctx is None or isinstance(n.ctx, ctx))}

    def earlier_definition(out, name, rest):
        for k in range(len(out) - 1, -1, -1):
            prev = out[k]
            if not isinstance(prev, (ast.Assign, ast.Expr)):
                return None
            if (
                isinstance(prev, ast.Assign)
                and isinstance(prev.targets[0], ast.Name)
                and prev.targets[0].id == name
            ):
                value = prev.value
                if (
                    isinstance(value, ast.BinOp)
                    and isinstance(value.op, (ast.Add, ast.Sub))
                    and isinstance(value.left, ast.Name)
                    and value.left.id == name
                    and name not in names(value.right)
                ):
                    return prev  # `a = a + e1` too: `a = a + e1 + e2` adds in the same order
                return None if name in names(value) else prev
            if name in names(prev) or mutated(prev, globals_) & rest or writes_in_place(prev, tapes):
                return None  # (an in-place write may change a view that `e2` reads)
        return None

    def block(stmts):
        out = []
        for stmt in stmts:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Name)
                and stmt.value.id == stmt.targets[0].id
            ):
                continue
            rewrite_nested(stmt, block)
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.BinOp)
                and isinstance(stmt.value.op, (ast.Add, ast.Sub))
                and isinstance(stmt.value.left, ast.Name)
                and stmt.value.left.id == stmt.targets[0].id
            ):
                name = stmt.targets[0].id
                rest = names(stmt.value.right)
                previous = earlier_definition(out, name, rest) if name not in rest else None
                if (
                    previous is not None
                    and has_effects(stmt.value.right, LIST_EFFECTS)
                    and previous is not out[-1]
                ):
                    previous = None  # `xs_bar.pop()` may not move past other statements
                if previous is not None:
                    first, op, second = previous.value, stmt.value.op, stmt.value.right
                    if (
                        isinstance(first, ast.UnaryOp)
                        and isinstance(first.op, ast.USub)
                        and isinstance(op, ast.Add)
                    ):
                        previous.value = ast.BinOp(left=second, op=ast.Sub(), right=first.operand)
                    else:
                        previous.value = ast.BinOp(left=first, op=op, right=second)
                    continue
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return function
