"""Pure statements whose names nobody reads are dropped.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x):
...     unused = x * 2.0
...     return x * 3.0
... ''').body[0])
>>> drop_dead(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x):
    _t1 = x * 3.0
    return _t1
"""

import ast

from ..astutil import statements
from .bindings import PURE, drop_bindings, is_local_name, name_counts


def drop_dead(function, counts=None):
    assigned, read, inplace = counts or name_counts(function)
    dead = {
        stmt.targets[0].id
        for stmt in statements(function.body)
        if isinstance(stmt, ast.Assign)
        and is_local_name(stmt.targets[0], assigned)
        and read.get(stmt.targets[0].id, 0) == 0
        and isinstance(stmt.value, PURE)
    }
    if dead:
        drop_bindings(function, dead)
    return bool(dead)
