"""Products of a fixed matrix with the rows a loop reads, computed for every row before the loop.

`for i in range(n): x = xs[i]; t = W @ x` multiplies `W` with one row of `xs` per step. In
code specialized to the parameters' shapes, with `xs` a matrix (T, n) and `W` a matrix
(m, n), every step's product is a row of `xs @ W.T`: one matrix product before the loop, read
as `t = P[i]` (`x @ W` with `W` of shape (n, m) is a row of `xs @ W`). The derivative follows:
the backward loop adds each step's cotangent into a row of `P`'s adjoint and `W`'s adjoint is
one matrix product after it, the form of a hand-written BPTT. `W` and `xs` must be parameters
the function never assigns or writes into; `x` stays if anything else reads it.

>>> import ast
>>> tree = ast.parse('''
... def f(W, U, xs):
...     h = 0.0
...     _t1 = len(xs)
...     for _index1 in range(_t1):
...         x = xs[_index1]
...         _t2 = W @ x
...         _t3 = np.tanh(_t2 + h)
...         _t4 = x @ U
...         h = _t3 + _t4
...     return h
... ''').body[0]
>>> batch_row_products(tree, {"W": (3, 2), "U": (2, 3), "xs": (5, 2)})
True
>>> print(ast.unparse(tree))
def f(W, U, xs):
    h = 0.0
    _t1 = len(xs)
    _t6 = W.T
    _t5 = xs @ _t6
    _t7 = xs @ U
    for _index1 in range(_t1):
        _t2 = _t5[_index1]
        _t3 = np.tanh(_t2 + h)
        _t4 = _t7[_index1]
        h = _t3 + _t4
    return h

A fixed vector `b` of the rows' width added to a row's sum (`s = r + q; t = s + b`) is added to
every row before the loop, the step adds one term fewer (the hand-written BPTT's
`xs @ Wx.T + b`; the terms are added in another order, as batching the products already does):

>>> tree = ast.parse('''
... def f(W, V, b, xs):
...     h = 0.0
...     _t1 = len(xs)
...     for _index1 in range(_t1):
...         x = xs[_index1]
...         _t2 = W @ x
...         _t3 = V @ h
...         _t4 = _t2 + _t3
...         _t5 = _t4 + b
...         h = np.tanh(_t5)
...     return h
... ''').body[0]
>>> batch_row_products(tree, {"W": (3, 2), "V": (3, 3), "b": (3,), "xs": (5, 2)})
True
>>> print(ast.unparse(tree.body[2:4]))
_t7 = W.T
_t6 = xs @ _t7
>>> print(ast.unparse(tree.body[4:6]))
_t8 = _t6 + b
for _index1 in range(_t1):
    _t2 = _t8[_index1]
    _t3 = V @ h
    _t5 = _t2 + _t3
    h = np.tanh(_t5)
"""

import ast

from ..astutil import fix_missing_locations, name_nodes, rewrite_nested
from .bindings import name_counts


def _row_read(stmt, loop_index):
    """(x, xs) if `stmt` is `x = xs[i]` with `i` the loop's index, else None."""
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
        return None
    value = stmt.value
    if (
        isinstance(value, ast.Subscript)
        and isinstance(value.value, ast.Name)
        and isinstance(value.slice, ast.Name)
        and value.slice.id == loop_index
    ):
        return stmt.targets[0].id, value.value.id
    return None


def batch_row_products(function, shapes):
    """Compute the products of fixed matrices with loop rows before their loops (see the module
    doc); in place. `shapes`: parameter -> the shape the code is specialized to. True if changed."""
    assigned, read, inplace = name_counts(function)
    fixed = {
        name: shape
        for name, shape in shapes.items()
        if shape is not None and assigned.get(name) == 0 and name not in inplace
    }
    if not fixed:
        return False
    taken = [int(n.id[2:]) for n in name_nodes(function) if n.id.startswith("_t") and n.id[2:].isdigit()]
    counter = [max(taken, default=0)]
    changed = False

    def fresh():
        counter[0] += 1
        return f"_t{counter[0]}"

    def rows(loop):
        """{x: xs} for the rows the loop body reads at its index, `x` assigned nowhere else."""
        if not (
            isinstance(loop.target, ast.Name)
            and isinstance(loop.iter, ast.Call)
            and isinstance(loop.iter.func, ast.Name)
            and loop.iter.func.id == "range"
            and len(loop.iter.args) == 1
        ):
            return {}
        found = {}
        for stmt in loop.body:
            row = _row_read(stmt, loop.target.id)
            if row and row[1] in fixed and len(fixed[row[1]]) == 2 and assigned.get(row[0]) == 1:
                found[row[0]] = row[1]
        return found

    def product(stmt, found):
        """(W, xs, transpose) if `stmt` is `t = W @ x` or `t = x @ W` of a fixed matrix `W`."""
        if not (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.BinOp)
            and isinstance(stmt.value.op, ast.MatMult)
        ):
            return None
        left, right = stmt.value.left, stmt.value.right
        if not (isinstance(left, ast.Name) and isinstance(right, ast.Name)):
            return None
        if right.id in found and left.id in fixed and len(fixed[left.id]) == 2:  # W @ x
            xs = found[right.id]
            if fixed[left.id][1] == fixed[xs][1]:
                return left.id, xs, True
        if left.id in found and right.id in fixed and len(fixed[right.id]) == 2:  # x @ W
            xs = found[left.id]
            if fixed[right.id][0] == fixed[xs][1]:
                return right.id, xs, False
        return None

    batched_rows = {}  # row read in a loop -> (the batched product it reads, the row's width)

    def fold_addends(loop, rows_read):
        """`s = r + q; t = s + c` in `loop`, `r` a batched row and `c` a fixed vector (a bias) of
        the row's width: `c` is added to every row before the loop (`P2 = P + c`), and the step
        is `t = r + q` (reading `P2`). `s` and `r` must be read there only. Returns the statements
        to put before the loop."""
        before = []
        body = loop.body
        for stmt in list(body):
            folded = _fold(stmt, body, rows_read)
            if folded is not None:
                before.append(folded)
        return before

    def _fold(stmt, body, rows_read):
        sum_of = _sum(stmt)
        if sum_of is None:
            return None
        terms = sum_of[1]
        defined = {
            s.targets[0].id: s
            for s in body
            if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
        }
        for addend, partial in (terms, terms[::-1]):
            inner = defined.get(partial.id)
            inner_sum = _sum(inner) if inner is not None else None
            shape = fixed.get(addend.id)
            if (
                shape is None
                or inner_sum is None
                or read.get(partial.id) != 1
                or assigned.get(partial.id) != 1
            ):
                continue
            rows = [t.id for t in inner_sum[1] if t.id in rows_read and read.get(t.id) == 1]
            if not rows:
                continue
            row = rows[0]
            batched, width = rows_read[row]
            start, end = body.index(inner), body.index(stmt)
            terms_read = {t.id for t in inner_sum[1]} | {addend.id}
            between = {
                n.id for s in body[start + 1 : end] for n in name_nodes(s) if isinstance(n.ctx, ast.Store)
            }
            if shape not in ((), (1,), (width,)) or row == addend.id or start > end or between & terms_read:
                continue
            folded = fresh()
            defined[row].value.value = ast.Name(folded, ast.Load())  # `r = P[i]` reads `P + c`
            stmt.value = inner.value
            body.remove(inner)
            value = ast.BinOp(left=ast.Name(batched, ast.Load()), op=ast.Add(), right=addend)
            return _assign(folded, value, stmt)
        return None

    def block(stmts):
        nonlocal changed
        out = []
        for stmt in stmts:
            rewrite_nested(stmt, block)
            if isinstance(stmt, ast.For):
                found = rows(stmt)
                uses = {}
                for k, inner in enumerate(stmt.body if found else ()):
                    match = product(inner, found)
                    if match is None:
                        continue
                    weight, xs, transpose = match
                    if (weight, xs, transpose) not in uses:
                        batched = fresh()
                        operand = ast.Name(weight, ast.Load())
                        if transpose:
                            flipped = fresh()
                            attribute = ast.Attribute(value=operand, attr="T", ctx=ast.Load())
                            out.append(_assign(flipped, attribute, inner))
                            operand = ast.Name(flipped, ast.Load())
                        value = ast.BinOp(left=ast.Name(xs, ast.Load()), op=ast.MatMult(), right=operand)
                        out.append(_assign(batched, value, inner))
                        uses[(weight, xs, transpose)] = batched
                    row = ast.Subscript(
                        value=ast.Name(uses[(weight, xs, transpose)], ast.Load()),
                        slice=ast.Name(stmt.target.id, ast.Load()),
                        ctx=ast.Load(),
                    )
                    stmt.body[k] = _assign(inner.targets[0].id, row, inner)
                    width = fixed[weight][0] if transpose else fixed[weight][1]
                    batched_rows[inner.targets[0].id] = (uses[(weight, xs, transpose)], width)
                    changed = True
                if batched_rows:
                    out += fold_addends(stmt, batched_rows)
                    batched_rows.clear()
                if uses:  # a row read by nothing else now is not read at all
                    unread = set(found) - {n.id for n in name_nodes(function) if isinstance(n.ctx, ast.Load)}
                    body = [
                        s
                        for s in stmt.body
                        if not (_row_read(s, stmt.target.id) and s.targets[0].id in unread)
                    ]
                    stmt.body = body or [ast.Pass()]
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return changed


def _sum(stmt):
    """(target, (a, b)) if `stmt` is `target = a + b` of two names, else None."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.BinOp)
        and isinstance(stmt.value.op, ast.Add)
        and isinstance(stmt.value.left, ast.Name)
        and isinstance(stmt.value.right, ast.Name)
    ):
        return stmt.targets[0].id, (stmt.value.left, stmt.value.right)
    return None


def _assign(name, value, where):
    stmt = ast.Assign(targets=[ast.Name(name, ast.Store())], value=value)
    return fix_missing_locations(ast.copy_location(stmt, where))
