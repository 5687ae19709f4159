"""Copies at the end of a branch or loop body are merged into the statement that computed the value.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x):
...     b = x * 2.0
...     c = np.sin(b)
...     a = b
...     return a * c
... ''').body[0])
>>> merge_block_copies(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x):
    b = x * 2.0
    c = np.sin(b)
    _t1 = b * c
    return _t1
"""

import ast

from ..astutil import name_nodes, replace_names
from .bindings import is_local_name, loads, name_counts


def _user_name(name):
    return not name.startswith("_")


def merge_block_copies(function, counts=None):
    """`b = ...; ...; a = b` in one block, both assigned once, every use after its definition:
    one name suffices (the user's, when the other is a temporary). After a merge the scan goes
    on where it was (the counts are updated, not recounted); a last scan finds no pair."""
    assigned, read, inplace = counts or name_counts(function)
    assigned, read = dict(assigned), dict(read)  # updated here: the caller's stay as they were
    params = {a.arg for a in function.args.args}
    load_cache = {}  # plain statement -> its reads by name (a merge renames them in place)
    merges = 0

    def loads_of(stmt):
        found = load_cache.get(stmt)
        if found is None:
            found = load_cache[stmt] = loads(stmt)
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
            assigned, read, inplace = name_counts(function)
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
            if not (
                isinstance(stmt, ast.Assign)
                and is_local_name(stmt.targets[0], assigned)
                and is_local_name(stmt.value, assigned)
            ):
                j += 1
                continue
            a, b = stmt.targets[0].id, stmt.value.id
            if a == b or assigned.get(a) != 1 or assigned.get(b) != 1 or {a, b} & (inplace | params):
                j += 1
                continue
            if first is None:
                first = {}
                for k, s in enumerate(stmts):
                    if isinstance(s, ast.Assign) and is_local_name(s.targets[0], assigned):
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
                for later, reads_here in zip(stmts[i + 1 :], loads[i + 1 :]):
                    if b in reads_here:
                        replace_names(later, {b: ast.Name(a, ast.Load())})
                kept, gone = a, b
            else:
                for later, reads_here in zip(stmts[j + 1 :], loads[j + 1 :]):
                    if a in reads_here:
                        replace_names(later, {a: ast.Name(b, ast.Load())})
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
