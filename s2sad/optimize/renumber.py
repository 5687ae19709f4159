"""Temporaries are renumbered `_t1, _t2, ...` in order of appearance (stable names).

>>> import ast
>>> tree = ast.parse('''
... def f(x):
...     _t7 = x * 2.0
...     _t3 = _t7 + 1.0
...     return _t3
... ''').body[0]
>>> renumber(tree)
>>> print(ast.unparse(tree))
def f(x):
    _t1 = x * 2.0
    _t2 = _t1 + 1.0
    return _t2
"""

from ..astutil import name_nodes


def renumber(function):
    """Renumber temporaries `_t1, _t2, ...` in order of first appearance."""
    names = []  # every name node, statement by statement in `walk`'s order within each
    for stmt in function.body:  # (a statement's names cover the statements nested in it)
        names += name_nodes(stmt)
    order = {}
    for node in names:
        name = node.id
        if name.startswith("_t") and name[2:].isdigit() and name not in order:
            order[name] = None
    names += name_nodes(function.args)
    taken = {n.id for n in names}
    mapping = {}
    for index, name in enumerate(order, 1):
        mapping[name] = f"_t{index}"
    if any(v in taken and v not in mapping for v in mapping.values()):
        return
    renamed = set()  # a node shared by two statements must be renamed once
    for node in names:
        if node.id in mapping and id(node) not in renamed:
            node.id = mapping[node.id]
            renamed.add(id(node))
