"""Loop-invariant pure statements are hoisted out of loops.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x, w):
...     s = 0.0
...     for i in range(3):
...         s = s + x * w * 2.0
...     return s
... ''').body[0])
>>> hoist_loop_invariants(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x, w):
    s = 0.0
    _t1 = x * w
    _t2 = _t1 * 2.0
    for i in range(3):
        _t3 = s + _t2
        s = _t3
    return s
"""

import ast

from ..astutil import rewrite_nested, walk
from .bindings import is_local_name, name_counts

_SAFE_OPS = (ast.Add, ast.Sub, ast.Mult)


def hoist_loop_invariants(function, counts=None):
    """Move `t = a * b` (only + - *, unary minus and copies: nothing that can raise) out of a loop
    when `a` and `b` are not assigned in it and `t` is assigned once: computed once, and
    never pushed per iteration."""
    assigned, read, inplace = counts or name_counts(function)
    params = {a.arg for a in function.args.args}
    changed = False

    def invariant(stmt, written):
        value = stmt.value
        if isinstance(value, ast.BinOp) and isinstance(value.op, _SAFE_OPS):
            operands = [value.left, value.right]
        elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            operands = [value.operand]
        elif is_local_name(value, assigned):  # a copy (common subexpressions leave `_t9 = _t4`)
            operands = [value]
        else:
            return False
        for atom in operands:
            if isinstance(atom, ast.Constant):
                if isinstance(atom.value, bool) or not isinstance(atom.value, (int, float)):
                    return False
            elif not (is_local_name(atom, assigned) and atom.id not in written and atom.id not in inplace):
                return False
        return True

    def block(stmts):
        nonlocal changed
        out = []
        for stmt in stmts:
            rewrite_nested(stmt, block)
            if isinstance(stmt, (ast.For, ast.While)):
                written, inside = set(), {}
                for n in walk(stmt):
                    if n.__class__ is ast.Name:
                        if n.ctx.__class__ is ast.Store:
                            written.add(n.id)
                        elif n.ctx.__class__ is ast.Load:
                            inside[n.id] = inside.get(n.id, 0) + 1
                hoisted = []
                kept = []
                for inner in stmt.body:
                    if (
                        isinstance(inner, ast.Assign)
                        and is_local_name(inner.targets[0], assigned)
                        and inner.targets[0].id not in params
                        and inner.targets[0].id not in inplace  # a fresh array / list each iteration
                        and assigned.get(inner.targets[0].id) == 1
                        # read only inside the loop: a loop that runs zero times cannot tell
                        and inside.get(inner.targets[0].id, 0) == read.get(inner.targets[0].id, 0)
                        and invariant(inner, written - {t.targets[0].id for t in hoisted})
                    ):
                        hoisted.append(inner)
                        written.discard(inner.targets[0].id)
                    else:
                        kept.append(inner)
                if hoisted:
                    changed = True
                    stmt.body = kept or [ast.Pass()]
                    out.extend(hoisted)
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return changed
