"""Read a backward loop's recorded values as rows of one array: their elementwise terms computed
for every step at once, their outer products summed with one matrix product.

A backward loop reads each step's recorded values one at a time: the tanh RNN's
`g = h_bar * (1.0 - h * h)` pays three small array operations per step where the
hand-written BPTT forms the slopes of all steps at once before its loop and reads one row
per step. This pass does the same on generated code, for any elementwise term (any
activation's slope, a sigmoid's `s * s * e`, a comparison): in a loop over a counted loop's
tapes (`zip(reversed(range(n)), reversed(_tape1_hs), ...)`), a term at the top level of the
body made only of recorded values, numbers and loop-invariant scalars, with at least one
operation, is computed before the loop on the recorded values stacked as rows
(`np.array(_tape1_hs)`) and read by the loop's counter (`_rows1[i]`). A value restored from
its tape in the loop (`h = _tape1_h`) holds, before the restore, what the step computed:
the next tape entry, or for the last step the value the loop starts with, so its rows are
`np.array((_tape1_hs + [h])[1:])`. Products of several factors are regrouped so that the
recorded ones form one term (`g * s * s` reads `g * (s * s)`, `g / s * e` reads `g * (e / s)`),
after a product kept in a temporary read once is folded into the product that reads it
(`a = g * s * s`, then `b = a * e`: `b = g * s * s * e`, a sigmoid's adjoint).

A product sum of the loop (`s2sad/products.py`) whose cotangents are stored as the rows of a
fresh adjoint (`A[i] = g`, `s2sad/row_writes.py`) and whose vectors are recorded values
becomes one matrix product of the two stacks after the loop, `A.T @ V` (the steps' calls of
`_products1.add` go), and its cotangent sum `np.sum(A, axis=0)`.

Every value stacked must have one known shape of the same rank (code specialized to shapes),
and no array the loop reads may be changed in place; numbers are left to the loop (Python floats
are faster than NumPy scalars read from rows). A restore nothing reads any more is dropped;
`s2sad/tapes.py` then drops the tape iterators nobody reads. Python target only: the numba target
lowers the tapes to typed arrays itself.

>>> import ast
>>> f = ast.parse('''
... def f_grad(W, xs, n, h, h_bar):
...     _tape1_hs = [None] * n
...     for i in range(n):
...         _tape1_hs[i] = h
...         h = np.tanh(W @ h + xs[i])
...     xs_bar = _rt.zeros_like(xs)
...     for i, _tape1_h in zip(reversed(range(n)), reversed(_tape1_hs)):
...         g = h_bar * (1.0 - h * h)
...         h = _tape1_h
...         h_bar = W.T @ g
...         xs_bar[i] = g
...     return xs_bar
... ''').body[0]
>>> shapes = {"h": (3,), "xs": (5, 3), "W": (3, 3)}
>>> print(ast.unparse(read_tapes_as_rows(f, shapes, {"h": "array"})).split("xs_bar =")[1])
 _rt.zeros_like(xs)
    _tape1_h_rows = np.array((_tape1_hs + [h])[1:])
    _rows1 = 1.0 - _tape1_h_rows * _tape1_h_rows
    for i, _tape1_h in zip(reversed(range(n)), reversed(_tape1_hs)):
        g = h_bar * _rows1[i]
        h_bar = W.T @ g
        xs_bar[i] = g
    return xs_bar
"""

import ast

from ..astutil import fix_missing_locations, name_nodes, nodes, replace_names, sole_argument
from .products import _writes_and_names
from .recorded_terms import AFTER, TAPE, LoopRows, counter_length, step_name, stores
from .row_writes import _fresh_zeros

_FRESH = {"zeros_like", "zeros", "empty", "empty_like", "ones", "ones_like", "full", "array", "copy"}


def _read_beside_tapes(loop, names, taken):
    """Add `reversed(name)` for each of `names` to the loop's `zip`, its step read as `_rowN`."""
    if not names:
        return
    if isinstance(loop.target, ast.Name):
        loop.target = ast.Tuple(elts=[loop.target], ctx=ast.Store())
        loop.iter = ast.Call(func=ast.Name("zip", ast.Load()), args=[loop.iter], keywords=[])
    for name in names:
        taken.add(step_name(name))
        loop.target.elts.append(ast.Name(step_name(name), ast.Store()))
        loop.iter.args.append(_expr(f"reversed({name})"))
    fix_missing_locations(loop)


def _fresh_arrays_only(loop, function, mutated, recorded):
    """True if no array the loop changes in place (`a[i] = v`, `a += v`) can be a recorded value: each
    is made fresh (`zeros_like(...)`, ...) or computed from names other than the `recorded` ones."""
    body = ast.Module(body=loop.body, type_ignores=[])
    changed = {
        n.value.id
        for n in nodes(body)
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
    } | {n.target.id for n in nodes(body) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    changed |= mutated & {n.id for n in name_nodes(body)}
    if changed & recorded:
        return False
    for node in nodes(function):
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.With)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        stored = {
            n.id for t in targets if t is not None for n in name_nodes(t) if isinstance(n.ctx, ast.Store)
        }
        if not stored & changed:
            continue
        if not (isinstance(node, (ast.Assign, ast.AugAssign)) and len(targets) == 1):
            return False
        value = node.value
        func = value.func if isinstance(value, ast.Call) else None
        if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) in _FRESH:
            continue
        if (
            isinstance(value, (ast.Name, ast.Subscript, ast.Attribute))
            or {n.id for n in name_nodes(value)} & recorded
        ):
            return False
    return True


def _stack(listed, needs, restored_name):
    """The stack of a tape list's rows, and how each kind of row reads from it."""
    if needs == {TAPE}:
        return f"np.array({listed})", {TAPE: ""}
    if needs == {AFTER}:
        return f"np.array(({listed} + [{restored_name}])[1:])", {AFTER: ""}  # (no steps: no rows)
    return f"np.array({listed} + [{restored_name}])", {TAPE: "[:-1]", AFTER: "[1:]"}


def _static_length(function, name, shapes):
    """The value of `name` when it is `len(x)` or `x.shape[k]` of an `x` of known shape, or a number
    (assigned once), else None."""
    found = [
        node
        for node in nodes(function)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    if len(found) != 1:
        return None
    value = found[0].value
    if isinstance(value, ast.Constant) and type(value.value) is int:
        return value.value
    axis, listed = 0, sole_argument(value, "len")
    if (  # `x.shape[k]`
        isinstance(value, ast.Subscript)
        and isinstance(value.value, ast.Attribute)
        and value.value.attr == "shape"
        and isinstance(value.slice, ast.Constant)
        and type(value.slice.value) is int
    ):
        axis, listed = value.slice.value, value.value.value
    shape = shapes.get(listed.id) if isinstance(listed, ast.Name) else None
    return shape[axis] if isinstance(shape, tuple) and -len(shape) <= axis < len(shape) else None


def _product_sums(info, loop, before, function, shapes):
    """The loop's product sums over stored rows and recorded vectors (see the module doc): a list of
    (position of the `add`, the sum's name, the array of stored rows, the vectors' name, their row)."""
    counter = info.counter
    length = counter_length(loop, counter)
    if length is None:
        return []
    found = []
    stored_rows = {}  # cotangent name -> (array, position)
    for k, stmt in enumerate(loop.body):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Subscript)
            and isinstance(stmt.targets[0].value, ast.Name)
            and isinstance(stmt.targets[0].slice, ast.Name)
            and stmt.targets[0].slice.id == counter
            and isinstance(stmt.value, ast.Name)
        ):
            stored_rows[stmt.value.id] = (stmt.targets[0].value.id, k)
    stored = stores(loop.body)
    for k, stmt in enumerate(loop.body):
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "add"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id.startswith("_products")
            and len(call.args) == 2
            and all(isinstance(a, ast.Name) for a in call.args)
        ):
            continue
        summed, (g, v) = call.func.value.id, (a.id for a in call.args)
        if sum(1 for s in loop.body for n in name_nodes(s) if n.id == summed) != 1:
            continue
        if g not in stored_rows or stored.get(g) != 1:
            continue
        array, at = stored_rows[g]
        made = [
            j
            for j, s in enumerate(loop.body)
            if g in {n.id for n in name_nodes(s) if isinstance(n.ctx, ast.Store)}
        ]
        if not made or made[0] > min(k, at):
            continue  # the add and the store read one value of the step
        if sum(1 for s in loop.body for n in name_nodes(s) if n.id == array) != 1:
            continue
        if not _fresh_zeros(before, array):
            continue
        source = _zeros_source(before, array)
        shape = shapes.get(source) if source else None
        static = _static_length(function, length, shapes)
        if not (isinstance(shape, tuple) and len(shape) == 2 and static == shape[0] and static > 0):
            continue
        found_row = info.row(v, k)
        if found_row is None or len(found_row[2]) != 1:
            continue
        found.append((k, summed, array, v, found_row))
    return found


def _zeros_source(before, name):
    for stmt in reversed(before):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == name
        ):
            argument = stmt.value.args[0] if isinstance(stmt.value, ast.Call) and stmt.value.args else None
            return argument.id if isinstance(argument, ast.Name) else None
    return None


def _after_loop_sums(after, summed):
    """The statements after the loop that use the product sum `summed`: {index: (kind, target, weight)}
    for `X = X + summed.total(W)` and `Y = Y + summed.cotangent_sum()`, or None if it is used otherwise."""
    out = {}
    for j, stmt in enumerate(after):
        if not any(n.id == summed for n in name_nodes(stmt)):
            continue
        value = stmt.value if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        if not (
            value is not None
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(value, ast.BinOp)
            and isinstance(value.op, ast.Add)
            and isinstance(value.left, ast.Name)
            and value.left.id == stmt.targets[0].id
            and isinstance(value.right, ast.Call)
            and isinstance(value.right.func, ast.Attribute)
            and isinstance(value.right.func.value, ast.Name)
            and value.right.func.value.id == summed
        ):
            return None
        method, args = value.right.func.attr, value.right.args
        if method == "total" and len(args) == 1:
            out[j] = ("total", args[0])
        elif method == "cotangent_sum" and not args:
            out[j] = ("cotangents", None)
        else:
            return None
    return out


def _side(before, summed):
    for stmt in before:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == summed
            and isinstance(stmt.value, ast.Call)
            and stmt.value.args
            and isinstance(stmt.value.args[0], ast.Constant)
        ):
            return stmt.value.args[0].value, stmt
    return None, None


def read_tapes_as_rows(function, shapes, kinds):
    """Compute the recorded-value terms of backward loops for all steps at once and sum their product
    sums over stored rows with one product (see the module doc); in place. Returns the function."""
    mutated, taken = _writes_and_names(function)

    def block(stmts, later):
        k = 0
        while k < len(stmts):
            stmt = stmts[k]
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                k += 1
                continue
            nested_later = (
                later
                | _loads(stmts[k + 1 :])
                | (_loads([stmt]) if isinstance(stmt, (ast.For, ast.While)) else set())
            )
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner, nested_later)
            if isinstance(stmt, ast.For) and not stmt.orelse:
                k = rewrite(stmts, k, later | _loads(stmts[k + 1 :]))
            k += 1

    def rewrite(stmts, index, later):
        """Rewrite the loop `stmts[index]`; returns the loop's new index."""
        loop = stmts[index]
        info = LoopRows(loop, function, shapes, kinds, mutated)
        recorded = set(info.tapes) | set(info.tapes.values()) | set(info.restored)
        if not info.tapes or not _fresh_arrays_only(loop, function, mutated, recorded):
            return index
        before, after = stmts[:index], stmts[index + 1 :]
        emptied = info.fold_products(_name_counts(function))
        for position, stmt in enumerate(loop.body):
            if isinstance(stmt, (ast.Assign, ast.AugAssign)) and not _is_restore(stmt, info):
                stmt.value = info.regroup(stmt.value, position)
                stmt.value = info.hoist(stmt.value, position, taken)
        products = []
        for position, summed, array, v, (listed, which, _) in _product_sums(
            info, loop, before, function, shapes
        ):
            side, make = _side(before, summed)
            uses = _after_loop_sums(after, summed)
            if side not in ("x", "y") or not uses:
                continue
            info.needs.setdefault(listed, set()).add(which)
            products.append((position, summed, array, listed, which, side, make, uses))
        if not info.needs:
            return index
        restored_of = {info.tapes[t]: name for name, (t, _) in info.restored.items()}
        stacks, reads = {}, {}
        made = []
        for listed in sorted(info.needs):
            stacked = f"{listed[:-1] if listed.endswith('s') else listed}_rows"
            while stacked in taken:
                stacked += "_"
            taken.add(stacked)
            text, slices = _stack(listed, info.needs[listed], restored_of.get(listed))
            made.append(_statement(f"{stacked} = {text}", loop))
            stacks[listed] = stacked
            reads.update({(listed, which): f"{stacked}{cut}" for which, cut in slices.items()})
        for name, term, rows in info.hoisted:
            mapping = {row: _expr(reads[(listed, which)]) for row, (listed, which, _) in rows}
            replace_names(term, mapping)
            if isinstance(term, ast.Name):
                term = mapping[term.id]
            made.append(
                fix_missing_locations(
                    ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=term), loop)
                )
            )
        if info.counter is None:
            _read_beside_tapes(loop, [name for name, _, _ in info.hoisted], taken)
        dropped = set(emptied)
        for position, summed, array, listed, which, side, make, uses in products:
            dropped.add(id(loop.body[position]))
            dropped.add(id(make))
            vectors = reads[(listed, which)]
            for j, (kind, weight) in uses.items():
                target = after[j].targets[0].id
                if kind == "total":
                    product = f"{array}.T @ {vectors}" if side == "x" else f"{vectors}.T @ {array}"
                else:
                    product = f"np.sum({array}, axis=0)"
                start = _zero_start(before, loop, after[:j], target, dropped)
                if start is not None:  # `A = 0.0` before the loop, nothing else adds to it: `A = ...`
                    dropped.add(id(start))
                    update = f"{target} = {product}"
                else:
                    update = f"{target} = {target} + {product}"
                after[j] = fix_missing_locations(ast.copy_location(_statement(update, after[j]), after[j]))
        reads_now = _loads([s for s in loop.body if id(s) not in dropped])
        for name, (_, position) in info.restored.items():
            if name not in reads_now and name not in later:
                dropped.add(id(loop.body[position]))
        loop.body = [s for s in loop.body if id(s) not in dropped] or [ast.Pass()]
        before = [s for s in before if id(s) not in dropped]
        stmts[:] = before + made + [loop] + after
        return len(before) + len(made)

    block(function.body, set())
    del block, rewrite
    return function


def _zero_start(before, loop, between, name, dropped):
    """The statement `name = 0.0` (or `0`) if it is the last one before `loop` to name `name` and
    neither the loop (but for the statements `dropped`) nor the statements `between` the loop and the
    sum name it, else None."""
    for stmt in reversed(before):
        if id(stmt) in dropped or not any(n.id == name for n in name_nodes(stmt)):
            continue
        kept = [s for s in loop.body if id(s) not in dropped] + between + [loop.target, loop.iter]
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == name
            and isinstance(stmt.value, ast.Constant)
            and stmt.value.value == 0
            and type(stmt.value.value) in (int, float)
            and not any(n.id == name for s in kept for n in name_nodes(s))
        ):
            return stmt
        return None
    return None


def _name_counts(function):
    counts = {}
    for n in name_nodes(function):
        counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def _is_restore(stmt, info):
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Name)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id in info.restored
    )


def _loads(stmts):
    return {n.id for s in stmts for n in name_nodes(s) if isinstance(n.ctx, ast.Load)}


def _expr(text):
    return ast.parse(text, mode="eval").body


def _statement(text, where):
    return fix_missing_locations(ast.copy_location(ast.parse(text).body[0], where))
