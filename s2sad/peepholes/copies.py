"""Peephole on derivative code: copies `a = b` in straight-line runs are propagated.

>>> import ast
>>> tree = ast.parse('''
... def f_vjp(x, y_bar):
...     a_bar = y_bar
...     b_bar = a_bar * 2.0
...     x_bar = a_bar + b_bar
...     return x_bar
... ''').body[0]
>>> tree = propagate_copies_in_blocks(tree)
>>> print(ast.unparse(tree))
def f_vjp(x, y_bar):
    b_bar = y_bar * 2.0
    x_bar = y_bar + b_bar
    return x_bar
"""

import ast

from ..astutil import name_nodes, rewrite_nested, walk


def propagate_copies_in_blocks(function):
    """Peephole on generated code: after `a = b` in a straight-line run, read `b` for `a`.

    The copy is removed when every read of `a` in the function was replaced.
    Each statement's reads and writes are found once (a rename updates them). No node may
    appear twice in the tree (`astutil.unshare`): renaming one place would rename the other.
    """
    reads = {}
    for node in name_nodes(function):
        if node.ctx.__class__ is ast.Load:
            reads[node.id] = reads.get(node.id, 0) + 1
    params = {a.arg for a in function.args.args}
    facts = {}  # statement -> (names it reads, names it stores)

    def facts_of(stmt):
        found = facts.get(stmt)
        if found is None:
            loads, stores = set(), set()
            for node in walk(stmt):
                if node.__class__ is ast.Name:
                    ctx = node.ctx.__class__
                    if ctx is ast.Load:
                        loads.add(node.id)
                    elif ctx is ast.Store:
                        stores.add(node.id)
            found = facts[stmt] = (loads, stores)
        return found

    def block(stmts):
        out = list(stmts)
        index = 0
        while index < len(out):
            stmt = out[index]
            rewrite_nested(stmt, block)
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Name)
                and stmt.targets[0].id not in params
            ):
                a, b = stmt.targets[0].id, stmt.value.id
                replaced = 0
                overwritten = False  # `a` rebound in this run: the copy's value is dead after
                for later in out[index + 1 :]:
                    if isinstance(later, (ast.If, ast.For, ast.While)):
                        break
                    loads, stores = facts_of(later)
                    if a in loads:
                        for node in walk(later):
                            if node.__class__ is ast.Name and node.id == a and node.ctx.__class__ is ast.Load:
                                node.id = b
                                replaced += 1
                        loads.discard(a)
                        loads.add(b)
                    if a in stores:
                        overwritten = True
                    if a in stores or b in stores:
                        break
                if overwritten or replaced == reads.get(a, 0):
                    del out[index]
                    reads[b] = reads.get(b, 0) + replaced - 1
                    continue
                reads[b] = reads.get(b, 0) + replaced
                reads[a] = reads.get(a, 0) - replaced
            index += 1
        return out

    function.body = block(function.body)
    del block
    return function
