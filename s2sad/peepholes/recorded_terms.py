"""The recorded values of a backward loop and the elementwise terms it reads from them (used by
`s2sad/tape_rows.py`).

`LoopRows` looks at one backward loop over a counted loop's tapes: which names hold a step's
recorded value (a tape's loop variable, or a value restored from it, read before or after its
restore), which terms of a statement are elementwise over them (numbers and invariant scalars
beside), and it rewrites those terms into reads of one row (`_rows1[i]`) of an array computed
for every step at once, after regrouping products so that the recorded factors form one term.

>>> import ast
>>> loop = ast.parse('''
... for i, _tape1_h in zip(reversed(range(n)), reversed(_tape1_hs)):
...     g = h_bar * h * h
...     h = _tape1_h
... ''').body[0]
>>> made = ast.parse("_tape1_hs = [None] * n; _tape1_hs[i] = h")
>>> rows = LoopRows(loop, made, {"h": (3,)}, {}, set())
>>> stmt = loop.body[0]
>>> ast.unparse(rows.hoist(rows.regroup(stmt.value, 0), 0, set()))
'h_bar * _rows1[i]'
>>> [(name, ast.unparse(term)) for name, term, _ in rows.hoisted], rows.needs
([('_rows1', 'h * h')], {'_tape1_hs': {'after'}})
"""

import ast

import numpy as np

from .. import kinds as K
from ..astutil import clone, fix_missing_locations, name_nodes, nodes, sole_argument
from .row_writes import _counter

_ELEMENTWISE_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)


_COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


TAPE, AFTER = "tape", "after"  # a row is a step's recorded value, or the value the step computed


def _ufunc(call):
    """True if `call` is `np.name(...)` of a NumPy ufunc, positional arguments only."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "np"
        and isinstance(getattr(np, func.attr, None), np.ufunc)
        and getattr(np, func.attr).nout == 1
        and not call.keywords
        and bool(call.args)
    )


def stores(stmts):
    out = {}
    for stmt in stmts:
        for n in name_nodes(stmt):
            if isinstance(n.ctx, ast.Store):
                out[n.id] = out.get(n.id, 0) + 1
    return out


def _factors(node):
    """A product's factors as (factor, whether it divides): `a * b / c` -> [(a, F), (b, F), (c, T)]."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _factors(node.left) + _factors(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _factors(node.left) + [(node.right, True)]
    return [(node, False)]


def _is_product(node):
    return isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div))


def _chain(factors):
    """The product of (factor, divides) pairs: the factors multiplied, then divided by the divisors."""
    out = None
    for factor, divides in factors:
        if not divides:
            out = factor if out is None else ast.BinOp(left=out, op=ast.Mult(), right=factor)
    for factor, divides in factors:
        if divides:
            out = ast.BinOp(left=ast.Constant(1.0) if out is None else out, op=ast.Div(), right=factor)
    return out


class LoopRows:
    """The recorded values of one backward loop and the terms read from them."""

    def __init__(self, loop, function, shapes, kinds, mutated):
        self.loop, self.shapes, self.kinds = loop, shapes, kinds
        self.counter = _counter(loop)
        self.tapes = {}  # loop variable -> its tape list
        pairs = []
        if isinstance(loop.target, ast.Name):
            pairs = [(loop.target, loop.iter)]
        elif is_zip(loop):
            pairs = zip(loop.target.elts, loop.iter.args)
        made = made_lists(function)
        stored = stores(loop.body)
        for target, source in pairs:
            listed = sole_argument(source, "reversed")
            if (
                isinstance(target, ast.Name)
                and isinstance(listed, ast.Name)
                and listed.id in made
                and target.id not in stored
                and target.id not in mutated
            ):
                self.tapes[target.id] = listed.id
        targets = {n.id for n in name_nodes(loop.target)}
        self.restored = {}  # name -> (its tape variable, position of `name = tape variable`)
        for k, stmt in enumerate(loop.body):
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Name)
                and stmt.value.id in self.tapes
                and stored.get(stmt.targets[0].id) == 1
                and stmt.targets[0].id not in mutated
                and stmt.targets[0].id not in targets
            ):
                self.restored[stmt.targets[0].id] = (stmt.value.id, k)
        self.invariant = {
            n
            for n, k in kinds.items()
            if n not in stored
            and n not in targets
            and (k in (K.FLOAT, K.INT) or (k == K.ANY and shapes.get(n) == ()))
        }
        if self.counter is not None and any(
            made[listed] != counter_length(loop, self.counter) for listed in self.tapes.values()
        ):
            self.counter = None  # its steps are not the tapes' indices: the rows are read beside the tapes
        self.recorded_shape = _recorded_shapes(function, shapes)
        self.needs = {}  # tape list -> {TAPE, AFTER}: the stacks to make
        self.hoisted = []  # (name of the rows, the term over stacks)

    def row(self, name, position):
        """(tape list, TAPE or AFTER, its shape) if `name` read at `body[position]` is a recorded value
        of the step, else None."""
        if name in self.restored:
            tape, restore = self.restored[name]
            which = AFTER if position <= restore else TAPE
        elif name in self.tapes:
            tape, which = name, TAPE
        else:
            return None
        listed = self.tapes[tape]
        shape = self.recorded_shape.get(listed)
        if not (isinstance(shape, tuple) and shape):
            return None  # (numbers: a loop of Python floats is faster than NumPy scalars read from rows)
        return listed, which, shape

    def rowwise(self, node, position, rows):
        """True if `node` is elementwise over recorded values (collected in `rows`), numbers and
        invariant scalars."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, (int, float, complex))
        if isinstance(node, ast.Name):
            found = self.row(node.id, position)
            if found is not None:
                rows.append((node.id, found))
                return True
            return node.id in self.invariant
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, _ELEMENTWISE_OPS) and all(
                self.rowwise(side, position, rows) for side in (node.left, node.right)
            )
        if isinstance(node, ast.UnaryOp):
            return isinstance(node.op, (ast.USub, ast.UAdd)) and self.rowwise(node.operand, position, rows)
        if isinstance(node, ast.Compare):
            return (
                len(node.ops) == 1
                and isinstance(node.ops[0], _COMPARISONS)
                and all(self.rowwise(side, position, rows) for side in (node.left, node.comparators[0]))
            )
        if isinstance(node, ast.Call):
            return _ufunc(node) and all(self.rowwise(a, position, rows) for a in node.args)
        return False

    def term(self, node, position):
        """The rows read by `node` if it is a term worth computing for all steps at once: elementwise
        over recorded values of one rank, with at least one operation; else None."""
        if isinstance(node, (ast.Name, ast.Constant)):
            return None
        rows = []
        if not self.rowwise(node, position, rows) or not rows:
            return None
        if len({len(shape) for _, (_, _, shape) in rows}) != 1:
            return None  # stacked, rows of different ranks would broadcast differently
        return rows

    def regroup(self, node, position):
        """`g * s * t` -> `g * (s * t)` (`g / s * t` -> `g * (t / s)`) when `s`, `t` are recorded values;
        in place, returns the node."""
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, field, self.regroup(value, position))
            elif isinstance(value, list):
                value[:] = [self.regroup(v, position) if isinstance(v, ast.expr) else v for v in value]
        if not _is_product(node):
            return node
        factors = _factors(node)
        recorded = [pair for pair in factors if self._recorded_factor(pair[0], position)]
        others = [pair for pair in factors if all(pair is not r for r in recorded)]
        if len(recorded) < 2 or not others or any(divides for _, divides in others):
            return node
        grouped = _chain(recorded)
        if self.term(grouped, position) is None:
            return node
        return _chain(others + [(grouped, False)])

    def fold_products(self, counts):
        """`a = g * s * s` then `b = a * e` (`a` read there alone, `s`, `e` recorded values) becomes
        `b = g * s * s * e` where `a` was, so that regrouping finds every recorded factor; returns the
        ids of the emptied statements (now `pass`)."""
        body, emptied = self.loop.body, set()
        recorded = self._recorded_factor
        k = 0
        while k < len(body):
            stmt = body[k]
            single = (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            )
            if not (single and counts.get(stmt.targets[0].id) == 2 and _is_product(stmt.value)):
                k += 1
                continue
            a, factors = stmt.targets[0].id, _factors(stmt.value)
            uses = [m for m in range(k + 1, len(body)) if any(n.id == a for n in name_nodes(body[m]))]
            use = body[uses[0]] if uses else None
            if not (
                use is not None
                and isinstance(use, ast.Assign)
                and len(use.targets) == 1
                and isinstance(use.targets[0], ast.Name)
                and _is_product(use.value)
                and any(recorded(f, k) for f, _ in factors)
            ):
                k += 1
                continue
            used = _factors(use.value)
            rest = [(f, d) for f, d in used if not (isinstance(f, ast.Name) and f.id == a and not d)]
            between = ast.Module(body=body[k + 1 : uses[0]], type_ignores=[])
            stored = {n.id for n in name_nodes(between) if isinstance(n.ctx, ast.Store)}
            target = use.targets[0].id
            if (
                len(rest) + 1 != len(used)
                or not any(recorded(f, k) for f, _ in rest)
                or {n.id for n in name_nodes(use.value)} & stored
                or target in {n.id for n in name_nodes(between)}
            ):
                k += 1
                continue
            body[k] = fix_missing_locations(
                ast.copy_location(
                    ast.Assign(targets=[ast.Name(target, ast.Store())], value=_chain(factors + rest)), stmt
                )
            )
            body[uses[0]] = ast.copy_location(ast.Pass(), use)
            emptied.add(id(body[uses[0]]))
        return emptied

    def _recorded_factor(self, node, position):
        return self.term(node, position) is not None or self._recorded_name(node, position)

    def _recorded_name(self, node, position):
        return isinstance(node, ast.Name) and self.row(node.id, position) is not None

    def hoist(self, node, position, taken):
        """Replace the terms under `node` read at `body[position]`; returns the node."""
        rows = self.term(node, position)
        if rows is not None:
            name = fresh_name("_rows", taken)
            for _, (listed, which, _) in rows:
                self.needs.setdefault(listed, set()).add(which)
            self.hoisted.append((name, clone(node), rows))
            if self.counter is None:  # the loop reads the rows beside its tapes: `reversed(_rows1)`
                return ast.Name(step_name(name), ast.Load())
            return ast.Subscript(
                value=ast.Name(name, ast.Load()), slice=ast.Name(self.counter, ast.Load()), ctx=ast.Load()
            )
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, field, self.hoist(value, position, taken))
            elif isinstance(value, list):
                value[:] = [self.hoist(v, position, taken) if isinstance(v, ast.expr) else v for v in value]
        return node


def step_name(rows):
    """The name a loop gives one step's row of `_rowsN`: `_rowN`."""
    return rows.replace("_rows", "_row", 1)


def is_zip(loop):
    """True if the loop is `for a, b, ... in zip(A, B, ...)`."""
    iterable = loop.iter
    return (
        isinstance(loop.target, ast.Tuple)
        and isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Name)
        and iterable.func.id == "zip"
        and not iterable.keywords
        and len(iterable.args) == len(loop.target.elts)
    )


def fresh_name(stem, taken):
    k = 1
    while f"{stem}{k}" in taken or step_name(f"{stem}{k}") in taken:
        k += 1
    taken.add(f"{stem}{k}")
    return f"{stem}{k}"


def made_lists(function):
    """{L: n} for the lists made as `L = [None] * n` (a counted loop's tapes; n a name, else None)."""
    out = {}
    for node in nodes(function):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.BinOp)
            and isinstance(node.value.op, ast.Mult)
            and isinstance(node.value.left, ast.List)
            and len(node.value.left.elts) == 1
            and isinstance(node.value.left.elts[0], ast.Constant)
            and node.value.left.elts[0].value is None
        ):
            length = node.value.right
            out[node.targets[0].id] = length.id if isinstance(length, ast.Name) else None
    return out


def _recorded_shapes(function, shapes):
    """tape list -> the shape of the value stored into it (`L[i] = v`), when known and the only one."""
    out = {}
    for node in nodes(function):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].value, ast.Name)
            and isinstance(node.value, ast.Name)
        ):
            listed, shape = node.targets[0].value.id, shapes.get(node.value.id)
            out[listed] = shape if out.get(listed, shape) == shape else None
    return out


def counter_length(loop, counter):
    """`n` of the loop's `reversed(range(n))` counter (a name), else None."""
    if counter is None:
        return None
    sources = loop.iter.args if isinstance(loop.target, ast.Tuple) else [loop.iter]
    for source in sources:
        inner = sole_argument(source, "reversed")
        span = sole_argument(inner if inner is not None else source, "range")
        if isinstance(span, ast.Name):
            return span.id
    return None
