"""One tuple per iteration for a counted loop's records: one list and one store, not one of each per value.

A counted loop records each value it overwrites in a list of its own (`_tape1_xs = [None] * n`, stored
`_tape1_xs[i] = x` before `x` changes, read back by `zip(reversed(_tape1_xs), ...)`). Where the code
runs once per level of a recursion (the recursive mode's sweeps), those lists are made at every level:
k values cost k lists, k stores per iteration and a `zip` of k iterators, where one list of tuples costs
one of each. The values are stored together where the first of them was: allowed when none of them is
assigned between that point and its own store (each then still holds the value it would have stored).
A list with any other use (pushed by an outer loop, read by a product after the loop) is left alone.

>>> import ast
>>> f = ast.parse('''
... def f_forward(x, n):
...     _tape1_as = None
...     _tape1_hs = None
...     _tape1_as = [None] * n
...     _tape1_hs = [None] * n
...     for i in range(n):
...         _tape1_as[i] = a
...         a = x * i
...         _tape1_hs[i] = h
...         h = np.sin(a)
...     return (h, (_tape1_as, _tape1_hs, a, h))
... def f_backward(_residuals, out_bar):
...     _tape1_as, _tape1_hs, a, h = _residuals
...     for _tape1_a, _tape1_h in zip(reversed(_tape1_as), reversed(_tape1_hs)):
...         a_bar = out_bar * np.cos(a)
...         h = _tape1_h
...         a = _tape1_a
...     return a_bar
... ''')
>>> print(ast.unparse(fuse_tape_lists(f.body, {"_tape1_as", "_tape1_hs"})[0]))
def f_forward(x, n):
    _tape1 = None
    _tape1 = [None] * n
    for i in range(n):
        _tape1[i] = (a, h)
        a = x * i
        h = np.sin(a)
    return (h, (_tape1, a, h))
>>> print(ast.unparse(f.body[1]))
def f_backward(_residuals, out_bar):
    _tape1, a, h = _residuals
    for _tape1_a, _tape1_h in reversed(_tape1):
        a_bar = out_bar * np.cos(a)
        h = _tape1_h
        a = _tape1_a
    return a_bar
"""

import ast
import re

from ..astutil import walk


def fuse_tape_lists(functions, tape_lists):
    """Fuse the tape lists (`tape_lists`: their names) each backward loop of `functions` (the sweeps:
    one joint function, or the forward and the backward) reads into one list of tuples; in place.
    Returns `functions`."""
    for loop in [n for f in functions for n in walk(f) if isinstance(n, ast.For)]:
        _fuse(functions, loop, tape_lists)
    return functions


def _reversed_name(node):
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "reversed"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Name)
    ):
        return node.args[0].id
    return None


def _fuse(functions, loop, tape_lists):
    iterable = loop.iter
    if not (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Name)
        and iterable.func.id == "zip"
        and not iterable.keywords
        and isinstance(loop.target, ast.Tuple)
        and len(loop.target.elts) == len(iterable.args)
    ):
        return
    pairs = list(zip(loop.target.elts, iterable.args))
    group = [(t, _reversed_name(a)) for t, a in pairs if _reversed_name(a) in tape_lists]
    if len(group) < 2:
        return
    names = [name for _, name in group]
    found = _uses(functions, set(names))
    if found is None:
        return
    made, stores, residuals, nones = found
    if any(len(made[n]) != 1 or len(stores[n]) != 1 for n in names):
        return
    block = stores[names[0]][0][0]
    makers = made[names[0]][0][0]
    if any(stores[n][0][0] is not block or made[n][0][0] is not makers for n in names):
        return
    positions = {n: block.index(stores[n][0][1]) for n in names}
    first = min(positions.values())
    index = stores[names[0]][0][1].targets[0].slice
    if any(ast.dump(stores[n][0][1].targets[0].slice) != ast.dump(index) for n in names):
        return
    values = {n: stores[n][0][1].value for n in names}
    if not all(isinstance(v, ast.Name) for v in values.values()):
        return
    for n in names:  # each value is what it was at the first store when its own store runs
        between = block[first : positions[n]]
        if any(
            isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == values[n].id
            for stmt in between
            for node in walk(stmt)
        ):
            return
    prefix = re.match(r"_tape\d*", names[0])
    tape = _fresh(functions, prefix.group(0) if prefix else "_tape")
    # the forward sweep: one list, one store of the tuple where the first value was stored
    sizes = {ast.dump(made[n][0][1].value) for n in names}
    if len(sizes) != 1:
        return
    keep = made[names[0]][0][1]
    keep.targets = [ast.Name(tape, ast.Store())]
    for n in names[1:]:
        makers.remove(made[n][0][1])
    stored = ast.Tuple(elts=[ast.Name(values[n].id, ast.Load()) for n in names], ctx=ast.Load())
    slot = ast.Subscript(value=ast.Name(tape, ast.Load()), slice=index, ctx=ast.Store())
    fused = ast.copy_location(ast.Assign(targets=[slot], value=stored), block[first])
    removed = [stores[n][0][1] for n in names]
    block[first] = fused
    block[:] = [s for s in block if not any(s is r for r in removed)]
    # the backward loop: one nested target over the reversed list of tuples
    inner = ast.Tuple(elts=[t for t, _ in group], ctx=ast.Store())
    rest = [(t, a) for t, a in pairs if _reversed_name(a) not in names]
    tuple_iter = ast.Call(
        func=ast.Name("reversed", ast.Load()), args=[ast.Name(tape, ast.Load())], keywords=[]
    )
    if rest:
        loop.target = ast.Tuple(elts=[t for t, _ in rest] + [inner], ctx=ast.Store())
        iterable.args = [a for _, a in rest] + [tuple_iter]
    else:
        loop.target, loop.iter = inner, tuple_iter
    # the residuals passed from the forward to the backward sweep, and `L = None` before a value is set
    for elts in residuals:
        at = [k for k, e in enumerate(elts) if isinstance(e, ast.Name) and e.id in names]
        elts[at[0]].id = tape
        for k in reversed(at[1:]):
            del elts[k]
    for stmts, group_nones in nones:
        group_nones[0].targets[0].id = tape
        for s in group_nones[1:]:
            stmts.remove(s)


def _fresh(functions, base):
    taken = {n.id for f in functions for n in walk(f) if isinstance(n, ast.Name)}
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _uses(functions, names):
    """Where the lists `names` are used: ({name: [(block, `L = [None] * n`)]}, {name: [(block, `L[i] = v`)]},
    [residual tuples' element lists holding them all], [(block, [`L = None` statements])]); None when a
    use is another one (a push, a read), or a residual tuple holds only some of them."""
    made = {n: [] for n in names}
    stores = {n: [] for n in names}
    residuals, nones = [], []
    allowed = set()  # ids of the Name nodes accounted for
    for function in functions:
        for node in walk(function):
            for attr in ("body", "orelse"):
                stmts = getattr(node, attr, None)
                if not isinstance(stmts, list):
                    continue
                group_nones = []
                for stmt in stmts:
                    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                        continue
                    target, value = stmt.targets[0], stmt.value
                    if isinstance(target, ast.Name) and target.id in names:
                        if isinstance(value, ast.Constant) and value.value is None:
                            group_nones.append(stmt)
                            allowed.add(id(target))
                        elif (
                            isinstance(value, ast.BinOp)
                            and isinstance(value.op, ast.Mult)
                            and isinstance(value.left, ast.List)
                            and len(value.left.elts) == 1
                            and isinstance(value.left.elts[0], ast.Constant)
                            and value.left.elts[0].value is None
                        ):
                            made[target.id].append((stmts, stmt))
                            allowed.add(id(target))
                    elif (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id in names
                    ):
                        stores[target.value.id].append((stmts, stmt))
                        allowed.add(id(target.value))
                if group_nones:
                    if {s.targets[0].id for s in group_nones} != names:
                        return None
                    nones.append((stmts, group_nones))
            if isinstance(
                node, ast.Tuple
            ):  # the residuals returned by the forward sweep, unpacked by the backward
                held = [e for e in node.elts if isinstance(e, ast.Name) and e.id in names]
                if held:
                    if {e.id for e in held} != names or len(held) != len(names):
                        return None
                    residuals.append(node.elts)
                    allowed.update(id(e) for e in held)
            name = _reversed_name(node)
            if name in names:
                allowed.add(id(node.args[0]))
    for function in functions:
        for node in walk(function):
            if isinstance(node, ast.Name) and node.id in names and id(node) not in allowed:
                return None
    return made, stores, residuals, nones
