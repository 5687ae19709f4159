"""Accumulations into an adjoint at a basic index as augmented assignments.

The backward sweep adds a slice's adjoint into its array's adjoint with
`_rt.add_at(a_bar, index, g)`, which accumulates repeated integer indices of a
fancy index. A basic index (slices, integers, `None`, `...`) selects every element
at most once, so the call is `a_bar[index] += g`, written as that: no call, no
run-time test, the slice as slice syntax (`-= g` for `+= -g`). Runs last, on generated code that is not
differentiated again (`s2sad.frontend.nested` wants the functional `_rt.added_at`);
`integers` are the names known to hold integers.

>>> import ast
>>> f = ast.parse('''
... def f_grad(z, i, idx, g):
...     z_bar = _rt.zeros_like(z)
...     _rt.add_at(z_bar, slice(i, None, None), g)
...     _rt.add_at(z_bar, (slice(None, 2, None), 0), -g * 2.0)
...     _rt.add_at(z_bar, idx, g)
...     return z_bar
... ''').body[0]
>>> print(ast.unparse(accumulate_at_basic_indices(f, {"i"})))
def f_grad(z, i, idx, g):
    z_bar = _rt.zeros_like(z)
    z_bar[i:] += g
    z_bar[:2, 0] -= g * 2.0
    _rt.add_at(z_bar, idx, g)
    return z_bar
"""

import ast

from ..astutil import fix_missing_locations
from .simplify import split_sign


def _bound(node, integers):
    if isinstance(node, ast.Constant):
        return node.value is None or (type(node.value) is int)
    return isinstance(node, ast.Name) and node.id in integers


def basic_index(index, integers, top=True):
    """The index as subscript syntax if it is basic, else None."""
    if isinstance(index, ast.Constant) and (type(index.value) is int or index.value in (None, Ellipsis)):
        return index
    if isinstance(index, ast.Name) and index.id in integers:
        return index
    if (
        isinstance(index, ast.Call)
        and isinstance(index.func, ast.Name)
        and index.func.id == "slice"
        and 1 <= len(index.args) <= 3
        and not index.keywords
        and all(_bound(a, integers) for a in index.args)
    ):
        args = list(index.args)
        if len(args) == 1:
            args = [ast.Constant(None)] + args
        lower, upper, step = (args + [ast.Constant(None)] * 3)[:3]

        def part(node):
            return None if isinstance(node, ast.Constant) and node.value is None else node

        return ast.Slice(lower=part(lower), upper=part(upper), step=part(step))
    if top and isinstance(index, ast.Tuple) and index.elts:
        elts = [basic_index(e, integers, top=False) for e in index.elts]
        if all(e is not None for e in elts):
            return ast.Tuple(elts=elts, ctx=ast.Load())
    return None


def accumulate_at_basic_indices(function, integers):
    """Rewrite `_rt.add_at(a, index, g)` statements whose index is basic (see module doc); in place."""
    blocks = [function.body]
    for stmts in blocks:  # every statement list (expressions hold none)
        for stmt in stmts:
            for attr in ("body", "orelse", "handlers", "finalbody"):
                inner = getattr(stmt, attr, None)
                if inner:
                    blocks.append(inner)
        for k, stmt in enumerate(stmts):
            if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
                continue
            call = stmt.value
            if not (
                isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "_rt"
                and call.func.attr == "add_at"
                and len(call.args) == 3
                and not call.keywords
                and isinstance(call.args[0], ast.Name)
            ):
                continue
            target, index, g = call.args
            index = basic_index(index, integers)
            if index is None:
                continue
            negative, magnitude = split_sign(g)
            store = ast.Subscript(value=ast.Name(target.id, ast.Load()), slice=index, ctx=ast.Store())
            update = ast.AugAssign(target=store, op=ast.Sub() if negative else ast.Add(), value=magnitude)
            stmts[k] = fix_missing_locations(ast.copy_location(update, stmt))
    return function
