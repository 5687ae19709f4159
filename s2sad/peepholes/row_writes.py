"""Rows of a fresh array of zeros that a loop fills once each: stored, not accumulated.

The backward loop of a loop that read `x = xs[i]` adds each step's cotangent into row `i` of
`xs`'s adjoint: `xs_bar[i] += g` (a read, an add, a write). When `xs_bar` is a new array of
zeros made just before the loop, `i` is the loop's counter over `range(n)` (or its reverse: each
row at most once, none twice) and the loop touches `xs_bar` nowhere else, each row is still zero
when its step adds to it, so the step can store `g` there: `xs_bar[i] = g`, what a hand-written
BPTT does.

>>> import ast
>>> f = ast.parse('''
... def f_grad(xs, n, hs, h_bar):
...     xs_bar = _rt.zeros_like(xs)
...     b_bar = 0.0
...     for i, h in zip(reversed(range(n)), reversed(hs)):
...         g = h_bar * h
...         xs_bar[i] += g
...         h_bar = 2.0 * g
...     return xs_bar
... ''').body[0]
>>> print(ast.unparse(store_fresh_rows(f)))
def f_grad(xs, n, hs, h_bar):
    xs_bar = _rt.zeros_like(xs)
    b_bar = 0.0
    for i, h in zip(reversed(range(n)), reversed(hs)):
        g = h_bar * h
        xs_bar[i] = g
        h_bar = 2.0 * g
    return xs_bar
"""

import ast

from ..astutil import fix_missing_locations, name_nodes, sole_argument


def _counter_range(node):
    """True if `node` is `range(n)` or `reversed(range(n))`: distinct rows from 0, none negative."""
    inner = sole_argument(node, "reversed")
    return sole_argument(node if inner is None else inner, "range") is not None


def _counter(loop):
    """The loop's counter (a name over `range(n)`, alone or zipped with other sequences), or None."""
    target, iterable = loop.target, loop.iter
    if isinstance(target, ast.Name) and _counter_range(iterable):
        return target.id
    if (
        isinstance(target, ast.Tuple)
        and isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Name)
        and iterable.func.id == "zip"
        and not iterable.keywords
        and len(iterable.args) == len(target.elts)
    ):
        for element, sequence in zip(target.elts, iterable.args):
            if isinstance(element, ast.Name) and _counter_range(sequence):
                return element.id
    return None


def _row_add(stmt, counter):
    """The array's name if `stmt` is `a[counter] += g` (or `-= g`), else None."""
    if (
        isinstance(stmt, ast.AugAssign)
        and isinstance(stmt.op, (ast.Add, ast.Sub))
        and isinstance(stmt.target, ast.Subscript)
        and isinstance(stmt.target.value, ast.Name)
        and isinstance(stmt.target.slice, ast.Name)
        and stmt.target.slice.id == counter
    ):
        return stmt.target.value.id
    return None


def _mentions(node, name):
    return any(n.id == name for n in name_nodes(node))


def _fresh_zeros(stmts, name):
    """True if the last statement of `stmts` that names `name` makes it a new array of zeros."""
    for stmt in reversed(stmts):
        if _mentions(stmt, name):
            value = stmt.value if isinstance(stmt, ast.Assign) else None
            return (
                len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == name
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and isinstance(value.func.value, ast.Name)
                and value.func.value.id == "_rt"
                and value.func.attr == "zeros_like"
                if value is not None
                else False
            )
    return False


def _rewrite(loop, before):
    counter = _counter(loop)
    if counter is None or any(
        isinstance(n.ctx, ast.Store) and n.id == counter for s in loop.body for n in name_nodes(s)
    ):
        return
    for k, stmt in enumerate(loop.body):
        name = _row_add(stmt, counter)
        if name is None or name == counter:
            continue
        others = loop.body[:k] + loop.body[k + 1 :] + [loop.target, loop.iter]
        if any(_mentions(s, name) for s in others) or _mentions(stmt.value, name):
            continue  # read or written elsewhere in the loop: a row may not be zero when added to
        if not _fresh_zeros(before, name):
            continue
        value = stmt.value if isinstance(stmt.op, ast.Add) else ast.UnaryOp(op=ast.USub(), operand=stmt.value)
        store = ast.Assign(targets=[stmt.target], value=value)
        loop.body[k] = fix_missing_locations(ast.copy_location(store, stmt))


def store_fresh_rows(function):
    """Rewrite `a[i] += g` into `a[i] = g` where each row is zero until then (see the module doc); in
    place. Returns the function."""

    def block(stmts):
        for k, stmt in enumerate(stmts):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for attr in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner)
            for handler in getattr(stmt, "handlers", ()):
                block(handler.body)
            if isinstance(stmt, ast.For) and not stmt.orelse:
                _rewrite(stmt, stmts[:k])

    block(function.body)
    return function
