"""Drop the `name = None` initializations that nothing can read.

The reverse transform starts a function with `v = None` for every value a loop records before
assigning it (the tape stores the previous iteration's value, None on the first). Once a later
peephole drops that tape, the initialization is left over: every iteration assigns `v` before
reading it, and nothing outside the loop reads it. Such an initialization goes. It stays if any
read can come first: a read before the loop's first assignment of `v`, an assignment under a
branch, a use in the loop's `else` or anywhere outside the loop.

>>> import ast
>>> f = ast.parse('''
... def f_grad(W, h, n):
...     a = None
...     s = None
...     for i in range(n):
...         a = W @ h
...         _tape1_ss[i] = s
...         s = h * h
...         h = np.tanh(a + s)
...     return h
... ''').body[0]
>>> print(ast.unparse(drop_dead_initializations(f)))
def f_grad(W, h, n):
    s = None
    for i in range(n):
        a = W @ h
        _tape1_ss[i] = s
        s = h * h
        h = np.tanh(a + s)
    return h
"""

import ast

from ..astutil import name_nodes


def _none_initialization(stmt):
    """The name `stmt` sets to None (`v = None`), else None."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is None
    ):
        return stmt.targets[0].id
    return None


def _mentions(node, name):
    return any(n.id == name for n in name_nodes(node))


def _assigned_first(loop, name):
    """Whether every iteration of `loop` assigns `name` before any statement reads it: the first
    statement of the body naming it is a plain `name = expr` whose `expr` does not read it."""
    if _mentions(loop.target if isinstance(loop, ast.For) else loop.test, name):
        return False
    if any(_mentions(stmt, name) for stmt in loop.orelse):
        return False
    for stmt in loop.body:
        if not _mentions(stmt, name):
            continue
        return (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == name
            and not _mentions(stmt.value, name)
        )
    return False


def drop_dead_initializations(function):
    """Drop the function-level `v = None` statements whose `v` only one loop uses, assigning it
    first in every iteration (see the module doc); in place."""
    named = [{n.id for n in name_nodes(stmt)} for stmt in function.body]  # one walk per statement
    kept = []
    for k, stmt in enumerate(function.body):
        name = _none_initialization(stmt)
        if name is not None:
            others = [s for j, s in enumerate(function.body) if j != k and name in named[j]]
            if (
                len(others) == 1
                and isinstance(others[0], (ast.For, ast.While))
                and _assigned_first(others[0], name)
            ):
                continue
        kept.append(stmt)
    function.body = kept or [ast.Pass()]
    return function
