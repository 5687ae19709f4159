"""Copies `a = b` of single-assignment names and constants are propagated (before differentiation).

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x):
...     a = x
...     k = 2.0
...     return a * k
... ''').body[0])
>>> propagate_copies(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x):
    _t1 = x * 2.0
    return _t1
"""

import ast

from ..astutil import replace_names, statements
from .bindings import drop_bindings, is_local_name, name_counts


def propagate_copies(function, counts=None):
    assigned, read, inplace = counts or name_counts(function)
    params = {a.arg for a in function.args.args}
    mapping = {}
    for stmt in statements(function.body):
        if not (isinstance(stmt, ast.Assign) and is_local_name(stmt.targets[0], assigned)):
            continue
        name = stmt.targets[0].id
        value = stmt.value
        if assigned.get(name) != 1 or name in inplace or name in params:
            continue
        if (
            isinstance(value, ast.Constant)
            and isinstance(value.value, (int, float))
            and not isinstance(value.value, bool)
        ):
            mapping[name] = value
        elif is_local_name(value, assigned) and assigned[value.id] == 0 and value.id not in inplace:
            mapping[name] = value  # a copy of a parameter that is never reassigned
    if not mapping:
        return False
    # resolve chains a -> b -> c
    for key in list(mapping):
        seen = {key}
        target = mapping[key]
        while is_local_name(target, assigned) and target.id in mapping and target.id not in seen:
            seen.add(target.id)
            target = mapping[target.id]
        mapping[key] = target
    replace_names(function, mapping)
    drop_bindings(function, set(mapping))
    return True
