"""Sum the per-step outer products of a backward loop with one matrix product after it.

`s2sad/products.py` does this for the adjoints of `@` (`_rt.matmul_adjoint_x`). The same
rank-one accumulations come in other forms: the adjoint of `np.dot(W, h)`
(`_rt.bilinear_adjoint`), of a matrix-vector product written with broadcasting,
`np.sum(W * h[None, :], axis=1)` (`g_bar = _rt.unreduce(g, t, 1, False)`, then
`W_bar = W_bar + g_bar * h_row`), and outer products written out, `a[:, None] * b` or
`np.outer(a, b)`. An accumulation `A = A + term` of one of these forms at the top level of
a `for` loop body, whose `A` nothing else in the loop reads or writes, becomes
`_outer1.add(...)` in the loop and `A = A + _outer1.total()` after it (`_rt.OuterSum`,
which stacks the steps' vectors and multiplies once, or forms each step's term as the loop
did when its factors are not plain vectors). Names it keeps must not be arrays written in
place elsewhere in the function.

>>> import ast
>>> f = ast.parse('''
... def f_grad(W, hs, g):
...     W_bar = 0.0
...     for h in reversed(hs):
...         t_bar = _rt.unreduce(g * h, t, 1, False)
...         W_bar = W_bar + t_bar * h[None, :]
...         g = np.sum(W * t_bar, axis=0)
...     return W_bar
... ''').body[0]
>>> print(ast.unparse(sum_outer_products_after_loops(f)))
def f_grad(W, hs, g):
    W_bar = 0.0
    _outer1 = _rt.OuterSum('spread')
    for h in reversed(hs):
        t_bar = _rt.unreduce(g * h, t, 1, False)
        _outer1.add(t_bar, h[None, :], g * h)
        g = np.sum(W * t_bar, axis=0)
    W_bar = W_bar + _outer1.total()
    return W_bar
"""

import ast

from ..astutil import fix_missing_locations, name_nodes, rewrite_nested
from .products import _fresh_each_step, _writes_and_names, add_total, method_call, start_sum


def _names(node, ctx=None):
    return {n.id for n in name_nodes(node) if (ctx is None or isinstance(n.ctx, ctx))}


def _rt_call(node, attr, nargs):
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "_rt"
        and len(node.args) == nargs
        and not node.keywords
    )


def _constant(node, *values):
    return isinstance(node, ast.Constant) and any(
        node.value == v and type(node.value) is type(v) for v in values
    )


def _column(node):
    """`a` if `node` is `a[:, None]`, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 2:
        first, second = node.slice.elts
        if (
            isinstance(first, ast.Slice)
            and not (first.lower or first.upper or first.step)
            and _constant(second, None)
        ):
            return node.value
    return None


def _spread_definition(body, index, name):
    """The vector `g` if `name` is last assigned, before `body[index]`, by
    `name = _rt.unreduce(g, t, 1, False)` and nothing `g` names is assigned in between."""
    for k in range(index - 1, -1, -1):
        stmt = body[k]
        if name not in _names(stmt, ast.Store):
            continue
        if not (
            isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        ):
            return None
        value = stmt.value
        if not (
            _rt_call(value, "unreduce", 4)
            and _constant(value.args[2], 1, -1)
            and _constant(value.args[3], False)
        ):
            return None
        g = value.args[0]
        between = ast.Module(body=body[k + 1 : index], type_ignores=[])
        return None if _names(g) & _names(between, ast.Store) else g
    return None


def _outer_form(body, index, term):
    """(form, operands) if `term` (added at `body[index]`) is an outer product, else None."""
    if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult):
        for left, right in ((term.left, term.right), (term.right, term.left)):
            if isinstance(left, ast.Name):
                g = _spread_definition(body, index, left.id)
                if g is not None:
                    return "spread", [left, right, g]
        a = _column(term.left)
        if a is not None:
            return "columns", [a, term.right]
    if (
        isinstance(term, ast.Call)
        and isinstance(term.func, ast.Attribute)
        and term.func.attr == "outer"
        and isinstance(term.func.value, ast.Name)
        and term.func.value.id == "np"
        and len(term.args) == 2
        and not term.keywords
    ):
        return "outer", list(term.args)
    if _rt_call(term, "bilinear_adjoint", 5):
        g, subscripts, which, p, q = term.args
        if (
            _rt_call(subscripts, "dot_subscripts", 2)
            and _constant(which, 0, 1)
            and ast.dump(subscripts.args[0]) == ast.dump(p)
            and ast.dump(subscripts.args[1]) == ast.dump(q)
        ):
            return f"dot{which.value}", [g, p, q]
    return None


def sum_outer_products_after_loops(function):
    """Rewrite per-step outer-product accumulations of adjoints in `for` loops (see the module
    doc); in place."""
    counter = [0]
    found_once = {}

    def facts():
        if not found_once:
            found_once["mutated"], found_once["taken"] = _writes_and_names(function)
        return found_once

    def block(stmts):
        out = []
        for stmt in stmts:
            rewrite_nested(stmt, block)
            if isinstance(stmt, ast.For) and not stmt.orelse:
                before, after = rewrite(stmt)
                out += before + [stmt] + after
            else:
                out.append(stmt)
        return out

    def rewrite(loop):
        before, after = [], []
        for index, stmt in enumerate(loop.body):
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                continue
            name, value = stmt.targets[0].id, stmt.value
            if not (name.endswith("_bar") and isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add)):
                continue
            if not (isinstance(value.left, ast.Name) and value.left.id == name):
                continue
            found = _outer_form(loop.body, index, value.right)
            if found is None:
                continue
            form, operands = found
            others = [s for k, s in enumerate(loop.body) if k != index]
            if name in _names(ast.Module(body=others, type_ignores=[])) or name in _names(loop.iter):
                continue  # the accumulated adjoint is read or written elsewhere in the loop
            if name in _names(value.right) or name in _names(loop.target):
                continue
            mutated, taken = facts()["mutated"], facts()["taken"]
            kept = set().union(*(_names(op) for op in operands))
            if any(not _fresh_each_step(loop.body, index, n, function) for n in kept & mutated):
                continue  # an array the steps keep is changed in place later
            outer, make = start_sum("OuterSum", form, "outer", counter, taken, loop)
            before.append(make)
            add = method_call(outer, "add", operands)
            loop.body[index] = fix_missing_locations(ast.copy_location(ast.Expr(add), stmt))
            after.append(add_total(name, outer, [], stmt))
        return before, after

    function.body = block(function.body)
    del block  # a recursive closure is a reference cycle: without it the tree is freed on return
    return function
