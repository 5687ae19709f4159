"""Peephole on derivative code: assignments nobody reads are dropped (the gradient-only code)."""

import ast

from ..analyses.effects import pure_call
from ..astutil import module_names, name_nodes, walk


def _removable(value, namespace, globals_):
    """An expression with no effect: arithmetic, runtime helpers, calls with derivative rules."""
    for node in walk(value):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id.startswith("_"):
            return False  # _pop, _push, tape appends
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "_rt":
            continue
        if not pure_call(node, namespace, globals_):
            return False
    return True


def drop_unused(function, namespace=None):
    """Generated code: drop the assignments no result, push or effect depends on.

    A mark-and-sweep over names: returns, expression statements (pushes, in-place
    adjoint updates) and calls that may have effects are needed; an assignment is
    needed if it defines a name a needed statement reads; a branch or loop is kept
    (with its test or range) if anything inside is. `grad` uses it to drop the
    computation of the primal output when the adjoints do not read it:

    >>> import ast
    >>> f = ast.parse('''
    ... def f_grad(x, n):
    ...     total = 0.0
    ...     for i in range(n):
    ...         _push(x)
    ...         x = x * x
    ...         total = total + x
    ...     x_bar = 2.0 * x
    ...     return x_bar
    ... ''').body[0]
    >>> print(ast.unparse(drop_unused(f)))
    def f_grad(x, n):
        for i in range(n):
            _push(x)
            x = x * x
        x_bar = 2.0 * x
        return x_bar
    """
    globals_ = module_names(function)

    def reads(node):
        return {n.id for n in name_nodes(node) if isinstance(n.ctx, ast.Load)}

    def defines(stmt):
        target = stmt.targets[0]
        base = target
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name):
            return {base.id}
        return {n.id for n in name_nodes(target) if isinstance(n.ctx, ast.Store)}

    needed, kept = set(), set()

    def mark(stmts):
        changed = False
        for stmt in stmts:
            if id(stmt) in kept and not isinstance(stmt, (ast.If, ast.For, ast.While)):
                continue
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                inner = mark(stmt.body) | mark(stmt.orelse)
                changed |= inner
                inside = any(id(s) in kept for s in stmt.body + stmt.orelse)
                if inside and id(stmt) not in kept:
                    kept.add(id(stmt))
                    head = stmt.iter if isinstance(stmt, ast.For) else stmt.test
                    needed.update(reads(head))
                    changed = True
                continue
            if isinstance(stmt, ast.Assign):
                keep = bool(defines(stmt) & needed) or not _removable(stmt.value, namespace, globals_)
            else:
                keep = True
            if keep:
                kept.add(id(stmt))
                needed.update(reads(stmt))
                changed = True
        return changed

    while mark(function.body):
        pass

    def sweep(stmts):
        out = []
        for stmt in stmts:
            if id(stmt) not in kept:
                continue
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                stmt.body = sweep(stmt.body) or [ast.Pass()]
                stmt.orelse = sweep(stmt.orelse)
            out.append(stmt)
        return out

    function.body = sweep(function.body) or [ast.Pass()]
    return function
