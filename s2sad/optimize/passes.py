"""Optimize the normalized program before differentiation.

Tuples that are built only to be unpacked are replaced by their elements,
copies `a = b` of single-assignment names and constants are propagated, and
pure temporaries nobody reads are dropped. Fewer variables means fewer
tangents, adjoints and pushes in the generated code.

>>> import ast
>>> tree = ast.parse('''
... def f(x, y):
...     _t1 = (x, y * 2.0)
...     _value1 = _t1
...     a = _value1[0]
...     b = _value1[1]
...     k = 3.0
...     return a * b * k
... ''').body[0]
>>> from s2sad.frontend.normalize import normalize
>>> print(ast.unparse(optimize(normalize(tree))))
def f(x, y):
    b = y * 2.0
    _t1 = x * b
    _t2 = _t1 * 3.0
    return _t2
"""

import ast

from ..astutil import child_fields, clone, name_nodes, nodes, walk
from .. import rules as R
from ..analyses.primitives import _UNRESOLVED, is_global, list_receiver, resolve

PURE = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Subscript, ast.Tuple, ast.List, ast.Dict, ast.Attribute)


def _empty(attr):
    """What an emptied block becomes: `pass` for a body, nothing for an `else`."""
    return [ast.Pass()] if attr == "body" else []


def _rewrite_nested(stmt, block):
    """Apply the block rewriter `block` to the statement lists nested in `stmt`."""
    for attr in ("body", "orelse"):
        inner = getattr(stmt, attr, None)
        if inner:
            setattr(stmt, attr, block(inner) or _empty(attr))


def statements(body):
    """Every statement of `body` and of the blocks nested in it, each before its own blocks."""
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse"):
            yield from statements(getattr(stmt, attr, []) or [])


def _counts(function):
    """(times each name is assigned, times each is read, names changed in place)."""
    assigned, read, inplace = {}, {}, set()
    for a in function.args.args:
        assigned[a.arg] = 0
    Name, Subscript, Call, Store = ast.Name, ast.Subscript, ast.Call, ast.Store
    for node in nodes(function):
        cls = node.__class__
        if cls is Name:
            if node.ctx.__class__ is Store:
                assigned[node.id] = assigned.get(node.id, 0) + 1
            else:
                read[node.id] = read.get(node.id, 0) + 1
        elif cls is Subscript:
            if node.ctx.__class__ is Store and node.value.__class__ is Name:
                inplace.add(node.value.id)
        elif cls is Call:
            receiver = list_receiver(node)
            if receiver is not None:
                inplace.add(receiver)  # `xs.append(v)`, `y = xs.pop()`: a list changed in place
    return assigned, read, inplace


def _loads(node):
    """How often each name is read in `node`."""
    counts = {}
    for n in name_nodes(node):
        if n.ctx.__class__ is ast.Load:
            counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def _replace_names(node, mapping):
    """Every read of a name in `mapping` becomes a fresh copy of its value (in place)."""
    Name, Load = ast.Name, ast.Load
    fields = node.__dict__
    for field in child_fields(node.__class__):
        value = fields.get(field)
        if value.__class__ is list:
            for index, item in enumerate(value):
                if item.__class__ is Name:
                    if item.id in mapping and item.ctx.__class__ is Load:
                        value[index] = clone(mapping[item.id])
                elif isinstance(item, ast.AST):
                    _replace_names(item, mapping)
        elif value.__class__ is Name:
            if value.id in mapping and value.ctx.__class__ is Load:
                fields[field] = clone(mapping[value.id])
        elif isinstance(value, ast.AST):
            _replace_names(value, mapping)


def _is_local_name(node):
    return isinstance(node, ast.Name) and not getattr(node, "_global", False)


def _scalarize_tuples(function, counts=None):
    """`t = (a, b); x = t[0]` -> `x = a` when the elements are not reassigned in between.

    The same for list literals that are never mutated and dict literals with
    constant keys (`p = {"W": w}; x = p["W"]` -> `x = w`): parameters given as
    trees of arrays reach the body as such literals. A literal read inside later loops or
    branches has those reads replaced too, its items first held in names of their own where
    the program reassigns them later (the literal keeps the values it was built with).
    """
    assigned, read, inplace = counts or _counts(function)
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
                    receivers = list_receiver(n) is not None
                _escaping(n, escaping)
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
        if isinstance(key, int) and not isinstance(key, bool) and -len(container.elts) <= key < len(container.elts):
            return container.elts[key]
        return None

    def block(stmts):
        nonlocal changed
        for index, stmt in enumerate(stmts):
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner)
            if not (isinstance(stmt, ast.Assign) and _is_local_name(stmt.targets[0])):
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
            defined_before = {s.targets[0].id for s in stmts[:index]
                              if isinstance(s, ast.Assign) and _is_local_name(s.targets[0])}
            read_in_blocks = any(hasattr(later, "body") and any(n.id == name for n in name_nodes(later))
                                 for later in stmts[index + 1:])
            snapshots = []
            for k, e in enumerate(elements if read_in_blocks else ()):
                if isinstance(e, ast.Constant) or not _is_local_name(e) or e.id in inplace:
                    continue
                if assigned.get(e.id) == 0 or (assigned.get(e.id) == 1 and e.id in defined_before):
                    continue
                own = fresh_temporary()
                snapshots.append(ast.copy_location(ast.Assign(targets=[ast.Name(own, ast.Store())],
                                                              value=ast.Name(e.id, ast.Load())), stmt))
                elements[k] = ast.Name(own, ast.Load())
            stable = read_in_blocks and all(
                isinstance(e, ast.Constant) or (_is_local_name(e) and e.id not in inplace) for e in elements
            )
            if snapshots:
                inserted.append((stmts, stmt, snapshots))
                changed = True
            element_names = {e.id for e in elements if _is_local_name(e)}

            def replace(later):
                if (
                    isinstance(later, ast.Assign)
                    and isinstance(later.value, ast.Subscript)
                    and _is_local_name(later.value.value)
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


def split_versions(function, names):
    """Give each top-level assignment of a variable in `names` a new name from there on, so
    that one variable is not a list at one point and an array at another (an assignment at the
    top level of the body is followed by everything after it, and replaces the old value).

    >>> f = ast.parse("def f(x):\\n    t = [x]\\n    t = np.array(t)\\n    return t").body[0]
    >>> print(ast.unparse(split_versions(f, {"t"})))
    def f(x):
        t = [x]
        t_1 = np.array(t)
        return t_1
    """
    taken = {n.id for n in name_nodes(function)} | {a.arg for a in function.args.args}
    params = {a.arg for a in function.args.args}
    body = function.body
    for name in sorted(names):
        current, count = name, 0
        for index, stmt in enumerate(body):
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == current):
                continue
            if count == 0 and name not in params:
                count = 1  # the first value keeps the name
                continue
            new = f"{name}_{count}"
            while new in taken:
                count += 1
                new = f"{name}_{count}"
            taken.add(new)
            count += 1
            stmt.targets[0].id = new
            for later in body[index + 1 :]:
                for node in walk(later):
                    if isinstance(node, ast.Name) and node.id == current and not getattr(node, "_global", False):
                        node.id = new
            current = new
    return function


def _escaping(node, out):
    """Add to `out` the names whose value another name may come to hold through `node`: copied
    (`ys = xs`), put in a container or a list (`zs.append(xs)`), or returned; a list changed
    through that other name changes."""
    cls = node.__class__
    if cls is ast.Assign:
        if _is_local_name(node.value):
            out.add(node.value.id)
    elif cls is ast.Tuple or cls is ast.List:
        if node.ctx.__class__ is ast.Load:
            out.update(e.id for e in node.elts if _is_local_name(e))
    elif cls is ast.Dict:
        out.update(v.id for v in node.values if _is_local_name(v))
    elif cls is ast.Call:
        if list_receiver(node) is not None:
            out.update(a.id for a in node.args if _is_local_name(a))
    elif cls is ast.Return:
        if _is_local_name(node.value):
            out.add(node.value.id)


def _propagate_copies(function, counts=None):
    assigned, read, inplace = counts or _counts(function)
    params = {a.arg for a in function.args.args}
    mapping = {}
    for stmt in statements(function.body):
        if not (isinstance(stmt, ast.Assign) and _is_local_name(stmt.targets[0])):
            continue
        name = stmt.targets[0].id
        value = stmt.value
        if assigned.get(name) != 1 or name in inplace or name in params:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            mapping[name] = value
        elif _is_local_name(value) and assigned.get(value.id, 0) == 0 and value.id not in inplace:
            mapping[name] = value  # a copy of a parameter that is never reassigned
    if not mapping:
        return False
    # resolve chains a -> b -> c
    for key in list(mapping):
        seen = {key}
        target = mapping[key]
        while _is_local_name(target) and target.id in mapping and target.id not in seen:
            seen.add(target.id)
            target = mapping[target.id]
        mapping[key] = target
    _replace_names(function, mapping)
    _drop(function, set(mapping))
    return True


def _drop(function, names):
    def block(stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, ast.Assign) and _is_local_name(stmt.targets[0]) and stmt.targets[0].id in names:
                continue
            _rewrite_nested(stmt, block)
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block


def _forward_single_temps(function, counts=None):
    """`_t = expr; a = _t` (the temporary read once, right after) -> `a = expr` when `a` is not in `expr`."""
    assigned, read, inplace = counts or _counts(function)
    changed = False

    def block(stmts):
        nonlocal changed
        out = []
        for stmt in stmts:
            _rewrite_nested(stmt, block)
            if (
                out
                and isinstance(stmt, ast.Assign)
                and _is_local_name(stmt.targets[0])
                and _is_local_name(stmt.value)
                and isinstance(out[-1], ast.Assign)
                and _is_local_name(out[-1].targets[0])
                and out[-1].targets[0].id == stmt.value.id
                and stmt.value.id.startswith("_")
                and assigned.get(stmt.value.id) == 1
                and read.get(stmt.value.id) == 1
            ):
                previous = out[-1]
                target = stmt.targets[0].id
                if target not in {n.id for n in name_nodes(previous.value)}:
                    previous.targets = [ast.Name(target, ast.Store())]
                    changed = True
                    continue
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return changed


def _user_name(name):
    return not name.startswith("_")


def _merge_block_copies(function, counts=None):
    """`b = ...; ...; a = b` in one block, both assigned once, every use after its definition:
    one name suffices (the user's, when the other is a temporary). After a merge the scan goes
    on where it was (the counts are updated, not recounted); a last scan finds no pair."""
    assigned, read, inplace = counts or _counts(function)
    assigned, read = dict(assigned), dict(read)  # updated here: the caller's stay as they were
    params = {a.arg for a in function.args.args}
    load_cache = {}  # plain statement -> its reads by name (a merge renames them in place)
    merges = 0

    def loads_of(stmt):
        found = load_cache.get(stmt)
        if found is None:
            found = load_cache[stmt] = _loads(stmt)
        return found

    def merged(kept, gone, exact, enclosing):
        """Bring the counts and the cached reads up to date after `gone` became `kept` and the
        copy between them, inside the compound statements `enclosing`, was deleted."""
        nonlocal assigned, read, inplace, merges
        merges += 1
        for reads_here in load_cache.values():  # every read of `gone` now reads `kept`
            if gone in reads_here:
                reads_here[kept] = reads_here.get(kept, 0) + reads_here.pop(gone)
        for outer in enclosing:  # they held the copy, whose read (now of `kept`) is gone
            reads_here = load_cache.get(outer)
            if reads_here is not None:
                reads_here[kept] -= 1
        if exact:  # every read of `gone` now reads `kept`, but for the copy's, which is gone
            read[kept] = read.get(kept, 0) + read.get(gone, 0) - 1
            read[gone] = assigned[gone] = 0
        else:
            assigned, read, inplace = _counts(function)
            assigned, read = dict(assigned), dict(read)

    def block(stmts, enclosing=()):
        """Merge the pairs of `stmts` (and of the blocks nested in it); `enclosing`: the compound
        statements around it."""
        loads = None  # per statement of the block, its reads by name: computed once a candidate needs them
        first = None  # name -> where the block first assigns it

        def reads_in(start, name):
            return sum(counts.get(name, 0) for counts in loads[start:])

        j = 0
        while j < len(stmts):
            stmt = stmts[j]
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner, enclosing + (stmt,))
            if not (isinstance(stmt, ast.Assign) and _is_local_name(stmt.targets[0]) and _is_local_name(stmt.value)):
                j += 1
                continue
            a, b = stmt.targets[0].id, stmt.value.id
            if a == b or assigned.get(a) != 1 or assigned.get(b) != 1 or {a, b} & (inplace | params):
                j += 1
                continue
            if first is None:
                first = {}
                for k, s in enumerate(stmts):
                    if isinstance(s, ast.Assign) and _is_local_name(s.targets[0]):
                        first.setdefault(s.targets[0].id, k)
            i = first.get(b)
            if i is None or i >= j:
                j += 1
                continue
            if loads is None:
                loads = [loads_of(s) for s in stmts]
            if reads_in(j + 1, a) != read.get(a, 0) or reads_in(i + 1, b) != read.get(b, 0):
                j += 1
                continue
            if a in {n.id for n in name_nodes(stmts[i].value)}:
                j += 1
                continue  # `a = f(a)` would read what it writes
            exact = len(stmt.targets) == 1 and len(stmts[i].targets) == 1
            # every read of `b` is in this block after its definition, every read of `a` after the
            # copy (checked above): only those statements are renamed
            if _user_name(a) and not _user_name(b):
                stmts[i].targets = [ast.Name(a, ast.Store())]
                for later, reads_here in zip(stmts[i + 1:], loads[i + 1:]):
                    if b in reads_here:
                        _replace_names(later, {b: ast.Name(a, ast.Load())})
                kept, gone = a, b
            else:
                for later, reads_here in zip(stmts[j + 1:], loads[j + 1:]):
                    if a in reads_here:
                        _replace_names(later, {a: ast.Name(b, ast.Load())})
                kept, gone = b, a
            del stmts[j]  # the next statement is now at `j`
            merged(kept, gone, exact, enclosing)
            loads = first = None  # the block changed: found again when a candidate needs them

    while True:
        before = merges
        block(function.body)
        if merges == before:
            del block
            return merges > 0


def _pure_call(value, namespace):
    if value.__class__ is not ast.Call:
        return True
    if namespace is None or not is_global(value.func):
        return False
    found = resolve(value.func, namespace)
    rule = R.lookup(found) if found is not _UNRESOLVED else None
    return rule is not None and rule.differentiable  # derivative rules are pure math


_MISSING = object()


def _shape(node):
    """A hashable key equal for two expressions exactly when their `ast.dump`s are equal
    (constants compared by `repr`, as the dump shows them), faster to build.

    >>> a, b, c = (ast.parse(text).body[0].value for text in ("f(x, 1.0)", "f(x, 1)", "f(x, 1.0)"))
    >>> _shape(a) == _shape(b), _shape(a) == _shape(c), hash(_shape(a)) == hash(_shape(c))
    (False, True, True)
    """
    cls = node.__class__
    if cls is ast.Name:  # the common leaves, keyed as the general case below keys them
        return cls, (repr(node.id), (node.ctx.__class__, ()))
    if cls is ast.Constant:
        return cls, (repr(node.value), repr(getattr(node, "kind", None)))
    if isinstance(node, ast.AST):
        fields = node.__dict__
        return cls, tuple([_shape(fields.get(field, _MISSING)) for field in cls._fields])
    if cls is list:
        return list, tuple([_shape(item) for item in node])
    return node if node is _MISSING else repr(node)


def _eliminate_common_subexpressions(function, namespace, counts=None):
    """A second `b = op(x, y)` in the same block, nothing reassigned since: reuse `a`."""
    assigned, read, inplace = counts or _counts(function)
    changed = False

    def block(stmts):
        nonlocal changed
        seen = {}  # right-hand side (its `_shape`) -> name
        readers = {}  # name -> right-hand sides in `seen` that read it
        holders = {}  # name -> right-hand sides in `seen` it holds
        textual = {}  # right-hand sides with a string constant that looks like a name: their dump

        def forget(name):
            """Anything assigned invalidates the expressions that read it."""
            stale = [k for k in readers.get(name, ()) if k in seen]
            stale += [k for k in holders.get(name, ()) if seen.get(k) == name]
            stale += [k for k, dumped in textual.items() if k in seen and f"id='{name}'" in dumped]
            for k in stale:
                seen.pop(k, None)

        for stmt in stmts:
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    block(inner)
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                seen.clear()
                readers.clear()
                holders.clear()
                textual.clear()
                continue
            if not (isinstance(stmt, ast.Assign) and _is_local_name(stmt.targets[0])):
                continue
            name = stmt.targets[0].id
            value = stmt.value
            key = operands = None
            if isinstance(value, (ast.BinOp, ast.UnaryOp, ast.Call)) and _pure_call(value, namespace):
                operands, texts = set(), False
                for n in nodes(value):
                    if n.__class__ is ast.Name:
                        operands.add(n.id)
                    elif n.__class__ is ast.Constant and not isinstance(n.value, (int, float, complex)):
                        texts = texts or "id=" in repr(n.value)  # a string that reads like a name in the dump
                if operands.isdisjoint(inplace):
                    key = _shape(value)
            if key is not None and key in seen and assigned.get(name) == 1 and assigned.get(seen[key]) == 1:
                stmt.value = ast.Name(seen[key], ast.Load())
                changed = True
            forget(name)
            if key is not None and assigned.get(name) == 1 and key not in seen:
                seen[key] = name
                holders.setdefault(name, []).append(key)
                for operand in operands:
                    readers.setdefault(operand, []).append(key)
                if texts:
                    textual[key] = ast.dump(value)

    block(function.body)
    del block
    return changed


def _drop_dead(function, counts=None):
    assigned, read, inplace = counts or _counts(function)
    dead = {
        stmt.targets[0].id
        for stmt in statements(function.body)
        if isinstance(stmt, ast.Assign)
        and _is_local_name(stmt.targets[0])
        and read.get(stmt.targets[0].id, 0) == 0
        and isinstance(stmt.value, PURE)
    }
    if dead:
        _drop(function, dead)
    return bool(dead)


def _renumber(function):
    """Renumber temporaries `_t1, _t2, ...` in order of first appearance."""
    names = []  # every name node, statement by statement in `walk`'s order within each
    for stmt in function.body:  # (a statement's names cover the statements nested in it)
        names += name_nodes(stmt)
    order = {}
    for node in names:
        name = node.id
        if name.startswith("_t") and name[2:].isdigit() and name not in order:
            order[name] = None
    names += name_nodes(function.args)
    taken = {n.id for n in names}
    mapping = {}
    for index, name in enumerate(order, 1):
        mapping[name] = f"_t{index}"
    if any(v in taken and v not in mapping for v in mapping.values()):
        return
    renamed = set()  # a node shared by two statements must be renamed once
    for node in names:
        if node.id in mapping and id(node) not in renamed:
            node.id = mapping[node.id]
            renamed.add(id(node))


_SAFE_OPS = (ast.Add, ast.Sub, ast.Mult)


def _hoist_loop_invariants(function, counts=None):
    """Move `t = a * b` (only + - *, unary minus and copies: nothing that can raise) out of a loop
    when `a` and `b` are not assigned in it and `t` is assigned once: computed once, and
    never pushed per iteration."""
    assigned, read, inplace = counts or _counts(function)
    params = {a.arg for a in function.args.args}
    changed = False

    def invariant(stmt, written):
        value = stmt.value
        if isinstance(value, ast.BinOp) and isinstance(value.op, _SAFE_OPS):
            operands = [value.left, value.right]
        elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            operands = [value.operand]
        elif _is_local_name(value):  # a copy (common subexpressions leave `_t9 = _t4`)
            operands = [value]
        else:
            return False
        for atom in operands:
            if isinstance(atom, ast.Constant):
                if isinstance(atom.value, bool) or not isinstance(atom.value, (int, float)):
                    return False
            elif not (_is_local_name(atom) and atom.id not in written and atom.id not in inplace):
                return False
        return True

    def block(stmts):
        nonlocal changed
        out = []
        for stmt in stmts:
            _rewrite_nested(stmt, block)
            if isinstance(stmt, (ast.For, ast.While)):
                written, inside = set(), {}
                for n in walk(stmt):
                    if n.__class__ is ast.Name:
                        if n.ctx.__class__ is ast.Store:
                            written.add(n.id)
                        elif n.ctx.__class__ is ast.Load:
                            inside[n.id] = inside.get(n.id, 0) + 1
                hoisted = []
                kept = []
                for inner in stmt.body:
                    if (
                        isinstance(inner, ast.Assign)
                        and _is_local_name(inner.targets[0])
                        and inner.targets[0].id not in params
                        and inner.targets[0].id not in inplace  # a fresh array / list each iteration
                        and assigned.get(inner.targets[0].id) == 1
                        # read only inside the loop: a loop that runs zero times cannot tell
                        and inside.get(inner.targets[0].id, 0) == read.get(inner.targets[0].id, 0)
                        and invariant(inner, written - {t.targets[0].id for t in hoisted})
                    ):
                        hoisted.append(inner)
                        written.discard(inner.targets[0].id)
                    else:
                        kept.append(inner)
                if hoisted:
                    changed = True
                    stmt.body = kept or [ast.Pass()]
                    out.extend(hoisted)
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return changed


def optimize(function, namespace=None, copy=True):
    """Return an optimized copy of the normalized `function` (see module doc); with `copy=False`,
    `function` itself, optimized in place."""
    if copy:
        function = clone(function)
    passes = (  # (pass, whether its changes keep the name counts: moving statements does)
        (_scalarize_tuples, False),
        (lambda function, counts: _eliminate_common_subexpressions(function, namespace, counts), False),
        (_hoist_loop_invariants, True),
        (_propagate_copies, False),
        (_forward_single_temps, False),
        (_merge_block_copies, False),
        (_drop_dead, False),
    )
    counts = None  # the name counts of the tree as it is: recounted only after a pass changed them
    for _ in range(10):
        changed = False
        for run, keeps_counts in passes:
            counts = counts or _counts(function)
            if run(function, counts):
                changed = True
                if not keeps_counts:
                    counts = None
        if not changed:
            break
    _renumber(function)
    return function


def propagate_copies_in_blocks(function):
    """Peephole on generated code: after `a = b` in a straight-line run, read `b` for `a`.

    The copy is removed when every read of `a` in the function was replaced.
    Each statement's reads and writes are found once (a rename updates them). No node may
    appear twice in the tree (`astutil.unshare`): renaming one place would rename the other.
    """
    reads = {}
    for node in name_nodes(function):
        if node.ctx.__class__ is ast.Load:
            reads[node.id] = reads.get(node.id, 0) + 1
    params = {a.arg for a in function.args.args}
    facts = {}  # statement -> (names it reads, names it stores)

    def facts_of(stmt):
        found = facts.get(stmt)
        if found is None:
            loads, stores = set(), set()
            for node in walk(stmt):
                if node.__class__ is ast.Name:
                    ctx = node.ctx.__class__
                    if ctx is ast.Load:
                        loads.add(node.id)
                    elif ctx is ast.Store:
                        stores.add(node.id)
            found = facts[stmt] = (loads, stores)
        return found

    def block(stmts):
        out = list(stmts)
        index = 0
        while index < len(out):
            stmt = out[index]
            _rewrite_nested(stmt, block)
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Name)
                and stmt.targets[0].id not in params
            ):
                a, b = stmt.targets[0].id, stmt.value.id
                replaced = 0
                overwritten = False  # `a` rebound in this run: the copy's value is dead after
                for later in out[index + 1 :]:
                    if isinstance(later, (ast.If, ast.For, ast.While)):
                        break
                    loads, stores = facts_of(later)
                    if a in loads:
                        for node in walk(later):
                            if node.__class__ is ast.Name and node.id == a and node.ctx.__class__ is ast.Load:
                                node.id = b
                                replaced += 1
                        loads.discard(a)
                        loads.add(b)
                    if a in stores:
                        overwritten = True
                    if a in stores or b in stores:
                        break
                if overwritten or replaced == reads.get(a, 0):
                    del out[index]
                    reads[b] = reads.get(b, 0) + replaced - 1
                    continue
                reads[b] = reads.get(b, 0) + replaced
                reads[a] = reads.get(a, 0) - replaced
            index += 1
        return out

    function.body = block(function.body)
    del block
    return function


def fold_negations(function):
    """Generated code: `x = -u` where a negation feeds `u` through single-use temporaries
    (`t = -a * b; u = t * c; x = -u`, the adjoint of `1 / (1 + exp(-v))`): both negations
    go (`t = a * b; u = t * c; x = u`). Exact in floating point: negating a factor of a product
    or quotient negates the result, bit for bit. A temporary is rewritten only if it is
    assigned once and read once (by the chain), so no other reader sees the sign change.

    >>> tree = ast.parse("def f(a, b, c):\\n    t = -a * b\\n    u = t * c\\n    x = -u\\n    return x").body[0]
    >>> print(ast.unparse(fold_negations(tree)))
    def f(a, b, c):
        t = a * b
        u = t * c
        x = u
        return x
    """
    if not any(
        stmt.__class__ is ast.Assign and stmt.value.__class__ is ast.UnaryOp and stmt.value.op.__class__ is ast.USub
        for stmt in statements(function.body)
    ):
        return function  # no `x = -u`: nothing to fold
    assigned, reads, definitions = {}, {}, {}
    params = {a.arg for a in function.args.args}
    for node in nodes(function):
        cls = node.__class__
        if cls is ast.Name:
            table = reads if node.ctx.__class__ is ast.Load else assigned
            table[node.id] = table.get(node.id, 0) + 1
        elif cls is ast.Assign and len(node.targets) == 1 and node.targets[0].__class__ is ast.Name:
            definitions[node.targets[0].id] = node

    def without_negation(expr):
        """`expr` with one negation taken out (its value negated), or None."""
        cls = expr.__class__
        if cls is ast.UnaryOp and expr.op.__class__ is ast.USub:
            return expr.operand
        if cls is ast.BinOp and expr.op.__class__ in (ast.Mult, ast.Div):
            for side in ("left", "right"):
                inner = without_negation(getattr(expr, side))
                if inner is not None:
                    setattr(expr, side, inner)
                    return expr
            return None
        if cls is ast.Name and expr.id in definitions and expr.id not in params \
                and assigned.get(expr.id) == 1 and reads.get(expr.id) == 1:
            definition = definitions[expr.id]
            inner = without_negation(definition.value)
            if inner is not None:
                definition.value = inner  # the temporary now holds the negated value
                return expr
        return None

    for stmt in list(definitions.values()):
        value = stmt.value
        if value.__class__ is ast.UnaryOp and value.op.__class__ is ast.USub:
            inner = without_negation(value.operand)
            if inner is not None:
                stmt.value = inner
    return function


def fuse_accumulations(function):
    """`a = e1`, later `a = a + e2` (a not in e2) -> `a = e1 + e2`; drops `a = a`. Likewise
    `a = a + e1`, later `a = a + e2` -> `a = a + e1 + e2` (the same additions in the same order).

    Statements in between may not read or rebind `a`, nor rebind what `e2` reads.
    `a = -(e1)` then `a = a + e2` becomes `a = e2 - e1` (exact in floating point).
    """

    def names(node, ctx=None):
        return {n.id for n in name_nodes(node) if (ctx is None or isinstance(n.ctx, ctx))}

    def earlier_definition(out, name, rest):
        for k in range(len(out) - 1, -1, -1):
            prev = out[k]
            if not isinstance(prev, (ast.Assign, ast.Expr)):
                return None
            if isinstance(prev, ast.Assign) and isinstance(prev.targets[0], ast.Name) and prev.targets[0].id == name:
                value = prev.value
                if (isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub))
                        and isinstance(value.left, ast.Name) and value.left.id == name
                        and name not in names(value.right)):
                    return prev  # `a = a + e1` too: `a = a + e1 + e2` adds in the same order
                return None if name in names(value) else prev
            if name in names(prev) or _mutated(prev) & rest or _writes_in_place(prev):
                return None  # (an in-place write may change a view that `e2` reads)
        return None

    def block(stmts):
        out = []
        for stmt in stmts:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Name)
                and stmt.value.id == stmt.targets[0].id
            ):
                continue
            _rewrite_nested(stmt, block)
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.BinOp)
                and isinstance(stmt.value.op, (ast.Add, ast.Sub))
                and isinstance(stmt.value.left, ast.Name)
                and stmt.value.left.id == stmt.targets[0].id
            ):
                name = stmt.targets[0].id
                rest = names(stmt.value.right)
                previous = earlier_definition(out, name, rest) if name not in rest else None
                if previous is not None and _has_effects(stmt.value.right, _LIST_EFFECTS) and previous is not out[-1]:
                    previous = None  # `xs_bar.pop()` may not move past other statements
                if previous is not None:
                    first, op, second = previous.value, stmt.value.op, stmt.value.right
                    if isinstance(first, ast.UnaryOp) and isinstance(first.op, ast.USub) and isinstance(op, ast.Add):
                        previous.value = ast.BinOp(left=second, op=ast.Sub(), right=first.operand)
                    else:
                        previous.value = ast.BinOp(left=first, op=op, right=second)
                    continue
            out.append(stmt)
        return out

    function.body = block(function.body)
    del block
    return function


_LIST_EFFECTS = {"pop", "append", "insert", "list_add_at", "list_insert", "copy_lists"}
_EFFECTS = {"_pop", "_push", "add_at", "copy", "owned", "copy_stack"} | _LIST_EFFECTS


def _has_effects(expr, effects=_EFFECTS):
    for node in walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in effects:
                return True
    return False


def _exposed_reads(function, facts=None):
    """Names read somewhere before any store to them in the same straight-line run.

    A control statement ends a run; the names in its test or range count as exposed.
    Given a dict `facts`, fills it with the `_statement_facts` of the plain statements
    (assignments, expressions, returns); None for one met twice.
    """
    exposed = set()

    def block(stmts):
        stored = set()
        for stmt in stmts:
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                head = stmt.test if not isinstance(stmt, ast.For) else stmt.iter
                exposed.update(n.id for n in name_nodes(head))
                for attr in ("body", "orelse"):
                    block(getattr(stmt, attr, []) or [])
                stored = set()  # after a branch or loop, nothing is known
                continue
            if facts is not None and isinstance(stmt, (ast.Assign, ast.Expr, ast.Return)):
                found = facts[stmt] = None if stmt in facts else _statement_facts(stmt)
                reads = set(found[1]) if found else _reads_of_statement(stmt)
            else:
                reads = _reads_of_statement(stmt)
            exposed.update(reads - stored)
            if isinstance(stmt, ast.Assign):
                stored |= {n.id for n in name_nodes(stmt.targets[0]) if isinstance(n.ctx, ast.Store)}

    block(function.body)
    del block
    return exposed


def _reads_of_statement(stmt):
    value = stmt.value if isinstance(stmt, (ast.Assign, ast.Expr, ast.Return)) else stmt
    reads = {n.id for n in name_nodes(value) if isinstance(n.ctx, ast.Load)} if value else set()
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            reads |= {n.id for n in name_nodes(target) if isinstance(n.ctx, ast.Load)}
    return reads


def _mutated(stmt):
    """Names a statement rebinds or writes into (`b[i] = v`, `_rt.add_at(b, ...)`, `y = xs.pop()`)."""
    out = {n.id for n in name_nodes(stmt) if isinstance(n.ctx, ast.Store)}
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            base = target
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                out.add(base.id)
        for node in walk(stmt.value):
            receiver = list_receiver(node)
            if receiver is not None:
                out.add(receiver)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        if not (isinstance(func, ast.Name) and func.id.endswith("_push")):  # stack and tape pushes
            out |= {n.id for n in name_nodes(stmt.value)}
    return out


def _writes_in_place(stmt):
    """`b[i] = v` or a call statement such as `_rt.add_at(b, i, v)` (not a push, nor a store
    into a loop's preallocated tape: a list no view of an array can see)."""
    if isinstance(stmt, ast.Assign):
        return not all(isinstance(t, ast.Name) for t in stmt.targets) and not getattr(stmt, "tape_store", False)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        return not (isinstance(func, ast.Name) and func.id.endswith("_push"))
    return False


def _statement_facts(stmt):
    """What `inline_single_use` asks of a statement, from one walk of each of its parts:
    (a plain statement?, reads by name, names it rebinds or writes into, writes in place?,
    names in its subscript targets, names of the functions it calls)."""
    Name, Load, Store, Call = ast.Name, ast.Load, ast.Store, ast.Call
    loads, stores, called = {}, set(), set()

    def scan(node, names=None, receivers=None):
        for n in nodes(node):
            cls = n.__class__
            if cls is Name:
                ctx = n.ctx.__class__
                if ctx is Load:
                    loads[n.id] = loads.get(n.id, 0) + 1
                elif ctx is Store:
                    stores.add(n.id)
                if names is not None:
                    names.add(n.id)
            elif cls is Call:
                func = n.func
                called.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None)
                if receivers is not None:
                    receiver = list_receiver(n)
                    if receiver is not None:
                        receivers.add(receiver)

    mutated, subscript_names = set(), set()
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            scan(target, None if isinstance(target, ast.Name) else subscript_names)
            base = target
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                mutated.add(base.id)  # `b[i] = v` writes into `b`
        scan(stmt.value, receivers=mutated)  # `y = xs.pop()` changes `xs`
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        if isinstance(func, ast.Name) and func.id.endswith("_push"):  # stack and tape pushes
            scan(stmt)
        else:
            scan(stmt, names=mutated)  # `_rt.add_at(b, i, v)`: a call may change what it is given
    else:
        scan(stmt)
    mutated |= stores
    simple = isinstance(stmt, (ast.Assign, ast.Expr, ast.Return))
    return simple, loads, mutated, _writes_in_place(stmt), subscript_names, called


def inline_single_use(function):
    """Generated code: `_a = e` read once, by a later statement of the same straight-line
    run, with nothing `e` reads stored in between -> the read becomes `e`.

    `_t1 = r * x; _t2 = 1.0 - x; x = _t1 * _t2` -> `x = r * x * (1.0 - x)`.
    Each statement's reads and writes are computed once (and again only for a statement
    that received an inlined value); a temporary the block does not read is not looked for.
    """
    params = {a.arg for a in function.args.args}
    known = {}  # plain statement -> its facts (found with the exposed reads)
    exposed = _exposed_reads(function, known)
    for stmt in [s for s, facts in known.items() if facts is None]:
        del known[stmt]  # a statement in two places: inlining in one changes the other

    def block(stmts):
        out = list(stmts)
        for stmt in out:
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    setattr(stmt, attr, block(inner) or _empty(attr))
        info = [known.get(stmt) or _statement_facts(stmt) for stmt in out]
        read_here = set()  # every name the block reads (and a few it no longer reads)
        for facts in info:
            read_here.update(facts[1])
        index = 0
        while index < len(out):
            stmt = out[index]
            if not (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in read_here
                and stmt.targets[0].id.startswith("_")
                and stmt.targets[0].id not in params
                and stmt.targets[0].id not in exposed
                and info[index][5].isdisjoint(_EFFECTS)  # `_pop()`, `_push(...)`, ... stay where they are
            ):
                index += 1
                continue
            name = stmt.targets[0].id
            stops = set(info[index][1]) | {name}  # what the value reads, and the name itself
            target_index = None
            for k in range(index + 1, len(out)):
                simple, loads, mutated, in_place, subscript_names, _ = info[k]
                if not simple:
                    break
                uses = loads.get(name, 0)
                if uses:
                    # the statement that stores `name` again still reads the old binding first
                    reads_after = 0
                    for j in range(k + 1, len(out)):
                        reads_after += info[j][1].get(name, 0)
                        if name in info[j][2] or reads_after:
                            break
                    if uses == 1 and not reads_after and name not in subscript_names:
                        target_index = k
                    break
                if in_place or not mutated.isdisjoint(stops):
                    break  # (an in-place write may change a view that `e` reads)
            if target_index is None:
                index += 1
                continue
            _replace_names(out[target_index], {name: stmt.value})
            info[target_index] = known[out[target_index]] = _statement_facts(out[target_index])
            read_here.update(info[target_index][1])
            del out[index]
            del info[index]
        return out

    function.body = block(function.body)
    del block
    return function


def _removable(value, namespace):
    """An expression with no effect: arithmetic, runtime helpers, calls with derivative rules."""
    for node in walk(value):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id.startswith("_"):
            return False  # _pop, _push, tape appends
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "_rt":
            continue
        if not _pure_call(node, namespace):
            return False
    return True


def drop_unused(function, namespace=None):
    """Generated code: drop the assignments no result, push or effect depends on.

    A mark-and-sweep over names: returns, expression statements (pushes, in-place
    adjoint updates) and calls that may have effects are needed; an assignment is
    needed if it defines a name a needed statement reads; a branch or loop is kept
    (with its test or range) if anything inside is. `grad` uses it to drop the
    computation of the primal output when the adjoints do not read it:

    >>> import ast
    >>> f = ast.parse('''
    ... def f_grad(x, n):
    ...     total = 0.0
    ...     for i in range(n):
    ...         _push(x)
    ...         x = x * x
    ...         total = total + x
    ...     x_bar = 2.0 * x
    ...     return x_bar
    ... ''').body[0]
    >>> print(ast.unparse(drop_unused(f)))
    def f_grad(x, n):
        for i in range(n):
            _push(x)
            x = x * x
        x_bar = 2.0 * x
        return x_bar
    """

    def reads(node):
        return {n.id for n in name_nodes(node) if isinstance(n.ctx, ast.Load)}

    def defines(stmt):
        target = stmt.targets[0]
        base = target
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name):
            return {base.id}
        return {n.id for n in name_nodes(target) if isinstance(n.ctx, ast.Store)}

    needed, kept = set(), set()

    def mark(stmts):
        changed = False
        for stmt in stmts:
            if id(stmt) in kept and not isinstance(stmt, (ast.If, ast.For, ast.While)):
                continue
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                inner = mark(stmt.body) | mark(stmt.orelse)
                changed |= inner
                inside = any(id(s) in kept for s in stmt.body + stmt.orelse)
                if inside and id(stmt) not in kept:
                    kept.add(id(stmt))
                    head = stmt.iter if isinstance(stmt, ast.For) else stmt.test
                    needed.update(reads(head))
                    changed = True
                continue
            if isinstance(stmt, ast.Assign):
                keep = bool(defines(stmt) & needed) or not _removable(stmt.value, namespace)
            else:
                keep = True
            if keep:
                kept.add(id(stmt))
                needed.update(reads(stmt))
                changed = True
        return changed

    while mark(function.body):
        pass

    def sweep(stmts):
        out = []
        for stmt in stmts:
            if id(stmt) not in kept:
                continue
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                stmt.body = sweep(stmt.body) or [ast.Pass()]
                stmt.orelse = sweep(stmt.orelse)
            out.append(stmt)
        return out

    function.body = sweep(function.body) or [ast.Pass()]
    return function
