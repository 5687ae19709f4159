"""A temporary read once, right after it is assigned, is forwarded into its reader.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x):
...     _t5 = x * 2.0
...     a = _t5
...     return np.sin(a)
... ''').body[0])
>>> forward_single_temps(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x):
    a = x * 2.0
    _t1 = np.sin(a)
    return _t1
"""

import ast

from ..astutil import name_nodes, rewrite_nested
from .bindings import is_local_name, name_counts


def forward_single_temps(function, counts=None):
    """`_t = expr; a = _t` (the temporary read once, right after) -> `a = expr` when `a` is not in `expr`."""
    assigned, read, inplace = counts or name_counts(function)
    changed = False

    def block(stmts):
        nonlocal changed
        out = []
        for stmt in stmts:
            rewrite_nested(stmt, block)
            if (
                out
                and isinstance(stmt, ast.Assign)
                and is_local_name(stmt.targets[0], assigned)
                and is_local_name(stmt.value, assigned)
                and isinstance(out[-1], ast.Assign)
                and is_local_name(out[-1].targets[0], assigned)
                and out[-1].targets[0].id == stmt.value.id
                and stmt.value.id.startswith("_")
                and assigned.get(stmt.value.id) == 1
                and read.get(stmt.value.id) == 1
            ):
                previous = out[-1]
                target = stmt.targets[0].id
                if target not in {n.id for n in name_nodes(previous.value)}:
                    previous.targets = [ast.Name(target, ast.Store())]
                    changed = True
                    continue
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return changed
