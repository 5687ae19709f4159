"""Name counts of a normalized function and the dropping of bindings, shared by the passes that
run before differentiation.

>>> import ast
>>> tree = ast.parse("def f(x):\\n    a = x * 2.0\\n    a[0] = 1.0\\n    return a + a").body[0]
>>> name_counts(tree)  # `a[0] = ...` reads `a` too: it writes into it
({'x': 0, 'a': 1}, {'x': 1, 'a': 3}, {'a'})
"""

import ast

from ..analyses.primitives import list_receiver
from ..astutil import name_nodes, nodes, rewrite_nested

PURE = (
    ast.Name,
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.Subscript,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Attribute,
)


def name_counts(function):
    """(times each name is assigned, times each is read, names changed in place)."""
    assigned, read, inplace, receivers = {}, {}, set(), set()
    for a in function.args.args:
        assigned[a.arg] = 0
    Name, Subscript, Call, Store = ast.Name, ast.Subscript, ast.Call, ast.Store
    for node in nodes(function):
        cls = node.__class__
        if cls is Name:
            if node.ctx.__class__ is Store:
                assigned[node.id] = assigned.get(node.id, 0) + 1
            else:
                read[node.id] = read.get(node.id, 0) + 1
        elif cls is Subscript:
            if node.ctx.__class__ is Store and node.value.__class__ is Name:
                inplace.add(node.value.id)
        elif cls is Call:
            receivers.add(list_receiver(node, ()))
    # `xs.append(v)`, `y = xs.pop()`: a list of the function (not a global: `assigned` has them all) changed in place
    inplace |= {name for name in receivers if name in assigned}
    return assigned, read, inplace


def loads(node):
    """How often each name is read in `node`."""
    counts = {}
    for n in name_nodes(node):
        if n.ctx.__class__ is ast.Load:
            counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def is_local_name(node, assigned):
    """Is `node` a variable of the function: a name that is a parameter or assigned (a key of
    `assigned`, from `name_counts`), not one read from the module namespace (Python's rule)?"""
    return isinstance(node, ast.Name) and node.id in assigned


def drop_bindings(function, names):
    def block(stmts):
        out = []
        for stmt in stmts:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)  # (a target is a variable)
                and stmt.targets[0].id in names
            ):
                continue
            rewrite_nested(stmt, block)
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
