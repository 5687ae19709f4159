"""Recomputation instead of recording: scalar temporaries the backward sweep computes again.

>>> import ast
>>> tree = ast.parse("def f(x, y):\\n    t = x * y\\n    x = np.sin(t)\\n    return x").body[0]
>>> plan = plan_recomputation(tree, {"x": "float", "y": "float", "t": "float"}, {"x", "y", "t"},
...                           adjoint_reads=lambda stmt: {"t"}, output_free=lambda stmt: True)
>>> [ast.unparse(s) for s in plan[id(tree.body[1])]]
['t = x * y']
"""

import ast

from .. import config
from .. import kinds as K
from ..astutil import name_nodes


def plan_recomputation(function, kinds, active, adjoint_reads, output_free):
    """Scalar arithmetic temporaries the backward sweep recomputes instead of popping.

    `t = a op b` read once, by a later statement `z = f(t, ...)` of the same
    block, with `a` and `b` untouched in between: the backward sweep of `z`
    pops `z`'s old value first, which restores `a` and `b`, and then
    recomputes `t`. Returns {id(consumer): [definitions of t]}. `adjoint_reads(stmt)` are the names
    the adjoint of `stmt` reads, `output_free(stmt)` whether it does not read `stmt`'s own result
    (both from the reverse transform, which asks this analysis).
    """
    if not config.enabled():
        return {}
    assigned, reads = {}, {}
    for node in name_nodes(function):
        table = assigned if node.ctx.__class__ is ast.Store else reads
        table[node.id] = table.get(node.id, 0) + 1
    variables = set(assigned) | {a.arg for a in function.args.args}  # (the other names are globals)
    plan = {}

    def block(stmts):
        for stmt in stmts:
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner)
        for i, stmt in enumerate(stmts):
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
                continue
            if not isinstance(stmt.value, (ast.BinOp, ast.UnaryOp)):
                continue
            name = stmt.targets[0].id
            if (
                assigned.get(name) != 1
                or reads.get(name) != 1
                or not kinds.get(name) in (K.FLOAT, K.INT, K.BOOL)
            ):
                continue
            operands = {n.id for n in name_nodes(stmt.value) if n.id in variables}
            for j in range(i + 1, len(stmts)):
                later = stmts[j]
                used = {n.id for n in name_nodes(later) if isinstance(n.ctx, ast.Load)}
                stored = {n.id for n in name_nodes(later) if isinstance(n.ctx, ast.Store)}
                if name in used:
                    if (
                        isinstance(later, ast.Assign)
                        and isinstance(later.targets[0], ast.Name)
                        and later.targets[0].id in active
                        and later.targets[0].id in operands  # `x = g(x)`: x is pushed anyway
                        and output_free(later)
                        and not (stored - {later.targets[0].id}) & operands
                        and name in adjoint_reads(later)
                    ):
                        plan.setdefault(id(later), []).append(stmt)
                    break
                if stored & operands or isinstance(later, (ast.If, ast.For, ast.While)):
                    break

    block(function.body)
    del block  # a recursive closure is a reference cycle (holding the transform)
    return plan
