"""To-be-recorded analysis: which overwrites must push the old value.

The backward sweep reads primal values (operands of adjoint rules, branch
conditions, loop bounds). A statement that overwrites a variable whose current
value the backward sweep will still read pushes that value first, and the
backward sweep pops it back. Walked forward over the structured program, the
state is the set of variables whose current value the backward sweep reads.
A list changed in place (`xs.append(v)`, `y = xs.pop()`) needs no push: the
backward sweep undoes the change (`xs.pop()`, `xs.append(y)`) when the list is
read before it in the backward sweep's order, or always for a list with an adjoint.

>>> import ast
>>> body = ast.parse('''
... y = x * x
... for i in range(3):
...     t = y * 2.0
...     y = t * y
... ''').body
>>> reads = lambda s: {"y": {"x"}, "t": {"y"}}.get(s.targets[0].id, set()) if isinstance(s, ast.Assign) else set()
>>> rec = to_be_recorded(body, reads, set())
>>> sorted(ast.unparse(s) for s in body[1].body if id(s) in rec.pushes)
['y = t * y']
"""

import ast
from dataclasses import dataclass, field
from ..astutil import name_nodes, walk


@dataclass
class Recording:
    pushes: set = field(default_factory=set)  # id(Assign) that push their target first
    loop_target_pushes: set = field(default_factory=set)  # id(For) whose target is pushed before
    maybe_unbound: set = field(default_factory=set)  # names pushed where they may be unbound
    restores: set = field(default_factory=set)  # id(`xs.append(v)` / `y = xs.pop()`) the backward undoes


def to_be_recorded(body, reads_of, read_at_start, parameters=(), push_all=False, list_change=None):
    """Return the `Recording` for `body`; `reads_of(stmt)` gives the names its adjoint reads.

    `push_all` (analyses off) records every overwrite, needed or not. `list_change(stmt)` is
    None, or for a statement that changes a list in place (`xs.append(v)`, `y = xs.pop(i)`) the
    triple (list, names the undo reads, always undo): the backward sweep undoes the change when
    the list is read before it (in the backward sweep's order), and the undo reads the list.
    """
    recording = Recording()
    takes_after = _takes_after(reads_of)
    known = {}  # (id(stmt), after) -> reads: a loop's body is swept until nothing changes, then again

    def reads(stmt, after=False):
        key = (id(stmt), after)
        found = known.get(key)
        if found is None:
            found = known[key] = reads_of(stmt, after=True) if after else reads_of(stmt)
        return found

    def control_reads(stmt):
        if isinstance(stmt, ast.If):
            return {n.id for n in name_nodes(stmt.test)}
        if isinstance(stmt, ast.For):
            return {n.id for n in name_nodes(stmt.iter)}
        return set()

    def undo(stmt, live, record):
        change = list_change(stmt) if list_change is not None else None
        if change is None:
            return False
        base, reads, always = change
        if not (base in live or push_all or always):
            return False
        if record:
            recording.restores.add(id(stmt))
        live |= {base} | reads
        return True

    def sweep(stmts, live, assigned, record):
        for stmt in stmts:
            if isinstance(stmt, ast.Expr):
                undo(stmt, live, record)
            elif isinstance(stmt, ast.Assign):
                live |= reads(stmt)
                undone = undo(stmt, live, record)
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    name = target.id
                    if (name in live or push_all) and record:
                        recording.pushes.add(id(stmt))
                        if name not in assigned:
                            recording.maybe_unbound.add(name)
                    live.discard(name)
                    if takes_after:
                        live |= reads(stmt, after=True)
                    if undone:
                        live.add(name)  # `xs.append(y)` puts the popped value back
                    assigned.add(name)
                else:
                    base = target.value.id
                    if (base in live or push_all) and record:
                        recording.pushes.add(id(stmt))
            elif isinstance(stmt, ast.If):
                live |= control_reads(stmt)
                l1, l2 = set(live), set(live)
                a1, a2 = set(assigned), set(assigned)
                sweep(stmt.body, l1, a1, record)
                sweep(stmt.orelse, l2, a2, record)
                live.clear()
                live |= l1 | l2
                assigned |= a1 & a2
            elif isinstance(stmt, (ast.For, ast.While)):
                live |= control_reads(stmt)
                target = stmt.target.id if isinstance(stmt, ast.For) else None
                if target is not None and (target in live or push_all) and record:
                    recording.loop_target_pushes.add(id(stmt))
                    if target not in assigned:
                        recording.maybe_unbound.add(target)
                entry = set(live)
                while True:
                    inner = set(entry)
                    inner.discard(target)
                    sweep(stmt.body, inner, set(assigned) | ({target} if target else set()), False)
                    if inner <= entry:
                        break
                    entry |= inner
                inner = set(entry)
                inner.discard(target)
                sweep(stmt.body, inner, set(assigned) | ({target} if target else set()), record)
                live.clear()
                live |= entry | inner
            # Return, Raise, Assert, other expressions: nothing is overwritten

    sweep(body, set(read_at_start), set(parameters), True)
    del sweep  # a recursive closure is a reference cycle (holding the transform): freed on return
    return recording


def _takes_after(reads_of):
    try:
        return "after" in reads_of.__code__.co_varnames[: reads_of.__code__.co_argcount]
    except AttributeError:
        return False
