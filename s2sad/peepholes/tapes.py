"""Drop the loop tapes whose values the backward loop no longer reads.

The reverse transform decides what a loop records before the peepholes run. An adjoint
that needed a value in its general form often stops needing it once simplified (`a + b`
records `a` and `b` for `_rt.unbroadcast`, which shape specialization removes), so the
forward loop fills a tape nobody reads: one list store per step, one more list in the
backward loop's `zip`. A counted loop's tape is one list per value (`_tape1_as = [None] * n`,
stored by index, read back by `zip(reversed(_tape1_as), ...)`); a list used nowhere else
whose backward loop variable is read neither in that loop nor after it goes, with its store.
The backward loop keeps at least one iterator (its trip count).

>>> import ast
>>> f = ast.parse('''
... def f_grad(xs, W, n):
...     _tape1_as = [None] * n
...     _tape1_hs = [None] * n
...     for i in range(n):
...         _tape1_as[i] = a
...         a = W @ xs[i]
...         _tape1_hs[i] = h
...         h = np.tanh(a + h)
...     for a, _tape1_h in zip(reversed(_tape1_as), reversed(_tape1_hs)):
...         g = h_bar * (1.0 - h * h)
...         h = _tape1_h
...         h_bar = W.T @ g
...     return h_bar
... ''').body[0]
>>> print(ast.unparse(drop_unread_tapes(f)))
def f_grad(xs, W, n):
    _tape1_hs = [None] * n
    for i in range(n):
        a = W @ xs[i]
        _tape1_hs[i] = h
        h = np.tanh(a + h)
    for _tape1_h in reversed(_tape1_hs):
        g = h_bar * (1.0 - h * h)
        h = _tape1_h
        h_bar = W.T @ g
    return h_bar
"""

import ast

from ..astutil import name_nodes, sole_argument, walk


def _reversed_list(node):
    """`L` if `node` is `reversed(L)` of a name, else None."""
    listed = sole_argument(node, "reversed")
    return listed.id if isinstance(listed, ast.Name) else None


def _filled_only(function):
    """{list name: (its `[None] * n` statement, its store `L[i] = v`)} for the lists nothing
    reads: made once, stored into once (a name), used nowhere else."""
    uses, made, stored = {}, {}, {}
    for node in walk(function):
        if isinstance(node, ast.Name):
            uses[node.id] = uses.get(node.id, 0) + 1
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if (
                isinstance(target, ast.Name)
                and isinstance(value, ast.BinOp)
                and isinstance(value.op, ast.Mult)
                and isinstance(value.left, ast.List)
                and len(value.left.elts) == 1
                and isinstance(value.left.elts[0], ast.Constant)
                and value.left.elts[0].value is None
            ):
                made[target.id] = node
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and isinstance(value, ast.Name)
            ):
                stored[target.value.id] = node
    return {name: (made[name], stored[name]) for name in made if name in stored and uses[name] == 2}


def _reads(nodes):
    return {n.id for node in nodes for n in name_nodes(node) if isinstance(n.ctx, ast.Load)}


def drop_unread_tapes(function, records=None):
    """Drop the unread tapes of counted loops (see the module doc); in place. `records` (the
    reverse transform's list of (loop line, names recorded per iteration)) loses their names.
    A loop's tape inside another loop is itself recorded by the outer loop: once the inner
    backward loop reads none of it, the outer one does not either, so this runs to a fixed point."""
    while _drop_unread(function) | _drop_filled_only(function, records):
        pass
    return function


def _drop_unread(function):
    """Drop the `reversed(L)` iterators of backward-loop `zip`s whose variables nothing reads."""
    changed = False

    def block(stmts, after):
        """`after`: the names read by what may run after `stmts`."""
        for k, stmt in enumerate(stmts):
            later = after | _reads(stmts[k + 1 :])
            if isinstance(stmt, (ast.For, ast.While)):
                rewrite(stmt, later)
                again = later | _reads([stmt])  # the next iteration reads the body again
                block(stmt.body, again)
                block(stmt.orelse, later)
            elif isinstance(stmt, (ast.If, ast.With, ast.Try)):
                for attr in ("body", "orelse", "finalbody"):
                    block(getattr(stmt, attr, []), later)
                for handler in getattr(stmt, "handlers", []):
                    block(handler.body, later)

    def rewrite(loop, later):
        nonlocal changed
        iterable = getattr(loop, "iter", None)
        if not (
            isinstance(iterable, ast.Call)
            and isinstance(iterable.func, ast.Name)
            and iterable.func.id == "zip"
            and not iterable.keywords
            and isinstance(loop.target, ast.Tuple)
            and len(loop.target.elts) == len(iterable.args)
        ):
            return
        read = _reads(loop.body) | later
        keep = list(zip(loop.target.elts, iterable.args))
        for target, iterator in list(keep):
            unread = isinstance(target, ast.Name) and target.id not in read
            if len(keep) > 1 and unread and _reversed_list(iterator) is not None:
                keep.remove((target, iterator))  # (the tapes of one loop have one length)
                changed = True
        if len(keep) == 1:
            loop.target, loop.iter = keep[0]
        else:
            loop.target.elts, iterable.args = [t for t, _ in keep], [i for _, i in keep]

    block(function.body, set())
    del block, rewrite  # recursive closures are reference cycles
    return changed


def _drop_filled_only(function, records):
    """Drop the lists filled and never read, with their stores (and their names from `records`)."""
    lists = _filled_only(function)
    if not lists:
        return False
    removed = {id(statement): name for name, pair in lists.items() for statement in pair}
    gone = []  # (line of the loop storing, the name stored)

    def prune(stmts, line):
        out = []
        for stmt in stmts:
            if id(stmt) in removed:
                if isinstance(stmt.targets[0], ast.Subscript):
                    gone.append((line, stmt.value.id))
                continue
            inner_line = getattr(stmt, "lineno", line) if isinstance(stmt, (ast.For, ast.While)) else line
            if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                for attr in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, attr, None)
                    if isinstance(inner, list):
                        kept = prune(inner, inner_line if attr == "body" else line)
                        setattr(stmt, attr, kept or ([ast.Pass()] if attr == "body" else []))
                for handler in getattr(stmt, "handlers", ()):
                    handler.body = prune(handler.body, line) or [ast.Pass()]
            out.append(stmt)
        return out

    function.body = prune(function.body, None)
    for line, name in gone if records is not None else ():
        for k, (recorded_line, names) in enumerate(records):
            if recorded_line == line and name in names:
                records[k] = (line, [n for n in names if n != name])
                break
    del prune
    return True
