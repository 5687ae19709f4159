"""Tuples built only to be unpacked are replaced by their elements (before differentiation).

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x, y):
...     t = (x, y * 2.0)
...     a = t[0]
...     b = t[1]
...     return a * b
... ''').body[0])
>>> scalarize_tuples(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x, y):
    _t1 = y * 2.0
    t = (x, _t1)
    a = x
    b = _t1
    _t2 = a * b
    return _t2
"""

import ast

from ..analyses.primitives import list_receiver
from ..astutil import clone, name_nodes, nodes, statements
from .bindings import is_local_name, name_counts


def scalarize_tuples(function, counts=None):
    """`t = (a, b); x = t[0]` -> `x = a` when the elements are not reassigned in between.

    The same for list literals that are never mutated and dict literals with
    constant keys (`p = {"W": w}; x = p["W"]` -> `x = w`): parameters given as
    trees of arrays reach the body as such literals. A literal read inside later loops or
    branches has those reads replaced too, its items first held in names of their own where
    the program reassigns them later (the literal keeps the values it was built with).
    """
    assigned, read, inplace = counts or name_counts(function)
    changing = None  # names whose list or dict may change: found when a list or dict literal asks

    def may_change(name):
        nonlocal changing
        if changing is None:
            methods, receivers = set(), False
            escaping = set()
            for n in nodes(function):
                if n.__class__ is ast.Attribute and n.value.__class__ is ast.Name:
                    methods.add(n.value.id)
                elif n.__class__ is ast.Call and not receivers:
                    receivers = list_receiver(n, ()) in assigned  # a list of the function changed in place
                _escaping(n, escaping, assigned)
            changing = methods | (escaping if receivers else set())
        return name in changing

    changed = False
    written = {}  # statement -> the names it stores (replacing a read does not change them)
    inserted = []  # (block, literal statement, the statements to put before it)
    numbers = [int(n[2:]) for n in assigned if n.startswith("_t") and n[2:].isdigit()]
    next_number = [max(numbers, default=0) + 1]

    def fresh_temporary():
        name = f"_t{next_number[0]}"
        while name in assigned or name in read:
            next_number[0] += 1
            name = f"_t{next_number[0]}"
        next_number[0] += 1
        assigned[name] = 1  # (the snapshot that assigns it)
        return name

    def stores(stmt):
        found = written.get(stmt)
        if found is None:
            found = written[stmt] = {n.id for n in name_nodes(stmt) if n.ctx.__class__ is ast.Store}
        return found

    def element(container, key):
        if isinstance(container, ast.Dict):
            for k, v in zip(container.keys, container.values):
                if k.value == key and type(k.value) is type(key):
                    return v
            return None
        if (
            isinstance(key, int)
            and not isinstance(key, bool)
            and -len(container.elts) <= key < len(container.elts)
        ):
            return container.elts[key]
        return None

    def block(stmts):
        nonlocal changed
        for index, stmt in enumerate(stmts):
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner)
            if not (isinstance(stmt, ast.Assign) and is_local_name(stmt.targets[0], assigned)):
                continue
            if not isinstance(stmt.value, (ast.Tuple, ast.List, ast.Dict)):
                continue
            name = stmt.targets[0].id
            if assigned.get(name) != 1 or name in inplace:
                continue
            if not isinstance(stmt.value, ast.Tuple) and may_change(name):
                continue  # `xs.append(...)`, `ys = xs; ys.append(...)`: a list or dict that changes
            elements = stmt.value.values if isinstance(stmt.value, ast.Dict) else stmt.value.elts
            # items that hold the same value everywhere after the literal (constants, parameters never
            # assigned, names assigned once before it in this block): its reads in later loops and
            # branches are replaced too (`p["W"]` inside a loop, for a tree of parameters). An item
            # reassigned later is first kept in a name of its own (`_t9 = scale`).
            defined_before = {
                s.targets[0].id
                for s in stmts[:index]
                if isinstance(s, ast.Assign) and is_local_name(s.targets[0], assigned)
            }
            read_in_blocks = any(
                hasattr(later, "body") and any(n.id == name for n in name_nodes(later))
                for later in stmts[index + 1 :]
            )
            snapshots = []
            for k, e in enumerate(elements if read_in_blocks else ()):
                if isinstance(e, ast.Constant) or not is_local_name(e, assigned) or e.id in inplace:
                    continue
                if assigned.get(e.id) == 0 or (assigned.get(e.id) == 1 and e.id in defined_before):
                    continue
                own = fresh_temporary()
                snapshots.append(
                    ast.copy_location(
                        ast.Assign(targets=[ast.Name(own, ast.Store())], value=ast.Name(e.id, ast.Load())),
                        stmt,
                    )
                )
                elements[k] = ast.Name(own, ast.Load())
            stable = read_in_blocks and all(
                isinstance(e, ast.Constant) or (is_local_name(e, assigned) and e.id not in inplace)
                for e in elements
            )
            if snapshots:
                inserted.append((stmts, stmt, snapshots))
                changed = True
            element_names = {e.id for e in elements if is_local_name(e, assigned)}

            def replace(later):
                if (
                    isinstance(later, ast.Assign)
                    and isinstance(later.value, ast.Subscript)
                    and is_local_name(later.value.value, assigned)
                    and later.value.value.id == name
                    and isinstance(later.value.slice, ast.Constant)
                ):
                    found = element(stmt.value, later.value.slice.value)
                    if found is not None:
                        later.value = clone(found)
                        return 1
                return 0

            replaced = 0
            for later in stmts[index + 1 :]:
                if stable:
                    replaced += sum(replace(s) for s in statements([later]))
                    continue
                replaced += replace(later)
                if not stores(later).isdisjoint(element_names):
                    break
            if replaced:
                changed = True

    block(function.body)
    del block  # a recursive closure is a reference cycle: without it the tree is freed on return, not by the GC
    for stmts, literal, snapshots in inserted:
        at = next(k for k, s in enumerate(stmts) if s is literal)
        stmts[at:at] = snapshots
    return changed


def _escaping(node, out, assigned):
    """Add to `out` the names whose value another name may come to hold through `node`: copied
    (`ys = xs`), put in a container or a list (`zs.append(xs)`), or returned; a list changed
    through that other name changes. (`assigned`: the function's variables, from `name_counts`.)"""
    cls = node.__class__
    if cls is ast.Assign:
        if is_local_name(node.value, assigned):
            out.add(node.value.id)
    elif cls is ast.Tuple or cls is ast.List:
        if node.ctx.__class__ is ast.Load:
            out.update(e.id for e in node.elts if is_local_name(e, assigned))
    elif cls is ast.Dict:
        out.update(v.id for v in node.values if is_local_name(v, assigned))
    elif cls is ast.Call:
        if list_receiver(node, ()) in assigned:
            out.update(a.id for a in node.args if is_local_name(a, assigned))
    elif cls is ast.Return:
        if is_local_name(node.value, assigned):
            out.add(node.value.id)
