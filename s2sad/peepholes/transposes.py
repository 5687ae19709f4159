"""The transpose of a fixed parameter is taken once, before the loops that read it.

The adjoint of `W @ h` is `W.T @ h_bar`: in a backward loop that makes a new view of `W`
every step. A parameter the function never assigns has one transpose: `W_T = W.T` at the
top of the function, the loops read `W_T`. Only for parameters known to be
arrays (a float has no `.T`, and the hoisted line runs even when the loop does not).

>>> import ast
>>> f = ast.parse('''
... def f_grad(W, gs, g):
...     for h in gs:
...         g = W.T @ (g * h)
...     return g
... ''').body[0]
>>> print(ast.unparse(hoist_transposes(f, {"W"})))
def f_grad(W, gs, g):
    W_T = W.T
    for h in gs:
        g = W_T @ (g * h)
    return g
"""

import ast

from ..astutil import fix_missing_locations, name_nodes, walk


def _transposed(node, names):
    if (
        isinstance(node, ast.Attribute)
        and node.attr == "T"
        and isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Name)
        and node.value.id in names
    ):
        return node.value.id
    return None


def hoist_transposes(function, arrays):
    """Take `X.T` of fixed array parameters once, at the top of the function, for the loops that
    read it (see the module doc); in place. `arrays`: the names known to hold arrays."""
    stored = {n.id for n in name_nodes(function) if not isinstance(n.ctx, ast.Load)}
    fixed = {a.arg for a in function.args.args if a.arg in arrays and a.arg not in stored}
    if not fixed:
        return function
    taken = {n.id for n in name_nodes(function)} | {a.arg for a in function.args.args}
    made = {}  # parameter -> the name of its transpose

    def replace(child):
        name = _transposed(child, fixed)
        if name is None:
            return child
        if name not in made:
            made[name] = _fresh(f"{name}_T", taken)
        return ast.Name(made[name], ast.Load())

    loops = [n for n in walk(function) if isinstance(n, (ast.For, ast.While))]
    for node in {id(n): n for loop in loops for n in walk(loop)}.values():
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                value[:] = [replace(child) for child in value]
            elif isinstance(value, ast.AST):
                setattr(node, field, replace(value))
    first = function.body[0]
    hoisted = [
        ast.Assign(
            targets=[ast.Name(made[name], ast.Store())],
            value=ast.Attribute(value=ast.Name(name, ast.Load()), attr="T", ctx=ast.Load()),
        )
        for name in made
    ]
    function.body[:0] = [fix_missing_locations(ast.copy_location(h, first)) for h in hoisted]
    return function


def _fresh(name, taken):
    while name in taken:
        name += "_"
    taken.add(name)
    return name
