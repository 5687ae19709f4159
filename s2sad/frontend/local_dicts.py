"""Local dicts with fixed string keys become one variable per key (scalar replacement).

A simulator's state is often a dict: `s = {"pos": x, "vel": 0.0}`, then `s["vel"] = ...` in a
loop, or `s = step(s, dt)` with a helper that returns a new dict. Once helpers are inlined, such a
dict is local to the function: it is only built from literals with the same keys, copied, read and
written at constant keys, and returned. It then holds exactly the values of its keys, so each key
becomes a variable of its own (`s_pos`, `s_vel`), which the transforms differentiate like any
other; a returned dict is rebuilt from them just before the `return`.

A dict that is used any other way (passed to a call, iterated, `len`, `in`, a computed key, a key
missing from one of its literals, or written at a key while another name holds the same dict) is
left as it is; the analyses then treat it as before (reads work, writes are refused).

>>> import ast
>>> tree = ast.parse('''
... def f(x):
...     s = {"pos": x, "vel": 0.0}
...     s["vel"] = s["pos"]
...     return s
... ''').body[0]
>>> print(ast.unparse(split_local_dicts(tree)))
def f(x):
    s_pos = x
    s_vel = 0.0
    s_vel = s_pos
    s = {'pos': s_pos, 'vel': s_vel}
    return s
"""

import ast
import re

from ..astutil import families, walk


def _keys(node):
    """The keys of a dict literal if all are string constants (no `**`), else None."""
    if not isinstance(node, ast.Dict) or not node.keys:
        return None
    keys = []
    for key in node.keys:
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            return None
        keys.append(key.value)
    return tuple(keys) if len(set(keys)) == len(keys) else None


def _constant_key(subscript):
    key = subscript.slice
    return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None


def _statements(body):
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse"):
            inner = getattr(stmt, attr, None)
            if isinstance(inner, list):
                yield from _statements(inner)


def split_local_dicts(tree):
    """Rewrite `tree` (a normalized FunctionDef, helpers inlined) in place; returns it."""
    params = {a.arg for a in tree.args.args + tree.args.posonlyargs + tree.args.kwonlyargs}
    stmts = list(_statements(tree.body))
    # every way each name is bound: a dict literal (its keys), a copy of a name, or something else
    literal_keys, copies, other_store = {}, {}, set()
    for stmt in stmts:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
            keys = _keys(value)
            if keys is not None and all(isinstance(v, (ast.Name, ast.Constant)) for v in value.values):
                literal_keys.setdefault(name, set()).add(frozenset(keys))
            elif isinstance(value, ast.Name):
                copies.setdefault(name, set()).add(value.id)
            else:
                other_store.add(name)
        elif isinstance(stmt, ast.For):
            other_store.update(n.id for n in walk(stmt.target) if isinstance(n, ast.Name))
    candidates = (set(literal_keys) | set(copies)) - other_store - params
    # uses of each name: a constant-key read / write, a copy into another name, a `return`
    uses = {}  # name -> list of ("read"|"write"|"copy"|"return"|"other", detail)
    for stmt in stmts:
        covered = set()
        if isinstance(stmt, ast.Assign):
            target, value = stmt.targets[0], stmt.value
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                key = _constant_key(target)
                uses.setdefault(target.value.id, []).append(("write", key) if key else ("other", None))
                covered.add(id(target.value))
            if isinstance(target, ast.Name) and isinstance(value, ast.Name):
                uses.setdefault(value.id, []).append(("copy", target.id))
                covered.add(id(value))
        if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Name):
            uses.setdefault(stmt.value.id, []).append(("return", None))
            covered.add(id(stmt.value))
        for part in _own_parts(stmt):
            for node in walk(part):
                if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                    if id(node.value) in covered:
                        continue
                    key = _constant_key(node)
                    uses.setdefault(node.value.id, []).append(("read", key) if key else ("other", None))
                    covered.add(id(node.value))
                elif (
                    isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in covered
                ):
                    uses.setdefault(node.id, []).append(("other", None))
    # shrink the candidates to a fixed point: copies only between candidates, known keys
    changed = True
    while changed:
        changed = False
        for name in sorted(candidates):
            ok = all(source in candidates for source in copies.get(name, ())) and all(
                kind in ("read", "write", "return") or (kind == "copy" and detail in candidates)
                for kind, detail in uses.get(name, ())
            )
            if not ok:
                candidates.discard(name)
                changed = True
    groups = _groups(candidates, copies)
    renames = {}
    for group in groups:
        key_sets = set().union(*(literal_keys.get(n, set()) for n in group))
        if len(key_sets) != 1:
            continue  # no literal (copies of each other only) or literals with different keys
        keys = next(iter(key_sets))
        touched = [(k, d) for n in group for k, d in uses.get(n, ()) if k in ("read", "write")]
        if any(d not in keys for _, d in touched):
            continue
        if len(group) > 1 and any(k == "write" for k, _ in touched):
            continue  # another name may hold the same dict: a write through one shows through the other
        for name in group:
            renames[name] = {key: None for key in sorted(keys)}
    if not renames:
        return tree
    taken = {n.id for n in walk(tree) if isinstance(n, ast.Name)} | params
    for name, slots in renames.items():
        for key in slots:
            stem = f"{name}_{re.sub(r'[^0-9a-zA-Z_]', '_', key)}"
            fresh, number = stem, 1
            while fresh in taken:
                number += 1
                fresh = f"{stem}{number}"
            taken.add(fresh)
            slots[key] = fresh
    tree.body = _rewrite(tree.body, renames)
    return tree


def _own_parts(stmt):
    """The expressions of `stmt` itself (not of the statements nested in it)."""
    if isinstance(stmt, ast.Assign):
        return [stmt.targets[0], stmt.value]
    if isinstance(stmt, (ast.If, ast.While)):
        return [stmt.test]
    if isinstance(stmt, ast.For):
        return [stmt.iter]
    return [stmt]


def _groups(names, copies):
    """The names joined by copies (`t = s`), in lists."""
    root = families(names, copies)
    out = {}
    for name in sorted(names):
        out.setdefault(root[name], []).append(name)
    return list(out.values())


class _Reads(ast.NodeTransformer):
    def __init__(self, renames):
        self.renames = renames

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.renames:
            return ast.copy_location(
                ast.Name(self.renames[node.value.id][node.slice.value], ast.Load()), node
            )
        return self.generic_visit(node)


def _rewrite(body, renames):
    out = []
    reads = _Reads(renames)
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            target, value = stmt.targets[0], stmt.value
            if isinstance(target, ast.Name) and target.id in renames:
                slots = renames[target.id]
                if isinstance(value, ast.Dict):  # its values are atoms (checked): assigned one by one
                    pairs = [(slots[k.value], v) for k, v in zip(value.keys, value.values)]
                else:  # a copy of another split dict
                    pairs = [(slots[k], ast.Name(renames[value.id][k], ast.Load())) for k in slots]
                for name, item in pairs:
                    assign = ast.Assign(targets=[ast.Name(name, ast.Store())], value=reads.visit(item))
                    out.append(ast.copy_location(assign, stmt))
                continue
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id in renames
            ):
                name = renames[target.value.id][target.slice.value]
                assign = ast.Assign(targets=[ast.Name(name, ast.Store())], value=reads.visit(value))
                out.append(ast.copy_location(assign, stmt))
                continue
        if isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Name) and stmt.value.id in renames:
            slots = renames[stmt.value.id]
            rebuilt = ast.Dict(
                keys=[ast.Constant(k) for k in slots],
                values=[ast.Name(v, ast.Load()) for v in slots.values()],
            )
            rebuild = ast.Assign(targets=[ast.Name(stmt.value.id, ast.Store())], value=rebuilt)
            out.append(ast.copy_location(rebuild, stmt))
            out.append(stmt)
            continue
        for attr in ("body", "orelse"):
            inner = getattr(stmt, attr, None)
            if isinstance(inner, list):
                setattr(stmt, attr, _rewrite(inner, renames))
        for field in ("test", "iter", "value"):
            if getattr(stmt, field, None) is not None:
                setattr(stmt, field, reads.visit(getattr(stmt, field)))
        if isinstance(stmt, ast.Assign):
            stmt.targets = [reads.visit(t) for t in stmt.targets]
        out.append(stmt)
    return out
