"""What statements and calls do besides computing a value: calls that are pure (no effect, so
a statement may be dropped or moved), names changed in place, reads a statement exposes.

>>> import ast
>>> call = ast.parse("print(x)").body[0].value  # `print` read from the module (builtins)
>>> pure_call(ast.parse("x * 2.0").body[0].value, {}, set()), pure_call(call, {}, {"print"})
(True, False)
>>> has_effects(ast.parse("xs.append(v)").body[0].value)
True
"""

import ast

from .primitives import _UNRESOLVED, is_global, list_receiver, resolve
from ..astutil import module_names, name_nodes, nodes, walk
from .. import rules as R


def pure_call(value, namespace, globals_):
    """Is `value` free of effects: not a call, or a call of a function with a derivative rule (read
    from `namespace` by one of the module names `globals_`)?"""
    if value.__class__ is not ast.Call:
        return True
    if namespace is None or not is_global(value.func, globals_):
        return False
    found = resolve(value.func, namespace)
    rule = R.lookup(found) if found is not _UNRESOLVED else None
    return rule is not None and rule.differentiable  # derivative rules are pure math


LIST_EFFECTS = {"pop", "append", "insert", "list_add_at", "list_insert", "copy_lists"}


EFFECTS = {"_pop", "_push", "add_at", "copy", "owned", "copy_stack"} | LIST_EFFECTS


def has_effects(expr, effects=EFFECTS):
    for node in walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr if isinstance(func, ast.Attribute) else None
            )
            if name in effects:
                return True
    return False


def exposed_reads(function, facts=None, tapes=frozenset(), globals_=None):
    """Names read somewhere before any store to them in the same straight-line run.

    A control statement ends a run; the names in its test or range count as exposed.
    Given a dict `facts`, fills it with the `statement_facts` of the plain statements
    (assignments, expressions, returns); None for one met twice (`tapes`: as for `writes_in_place`;
    `globals_`: the module names `function` reads, found when not given).
    """
    exposed = set()
    if facts is not None and globals_ is None:
        globals_ = module_names(function)

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
                found = facts[stmt] = None if stmt in facts else statement_facts(stmt, tapes, globals_)
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


def mutated(stmt, globals_):
    """Names a statement rebinds or writes into (`b[i] = v`, `_rt.add_at(b, ...)`, `y = xs.pop()`);
    `globals_`: the module names the function reads."""
    out = {n.id for n in name_nodes(stmt) if isinstance(n.ctx, ast.Store)}
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            base = target
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                out.add(base.id)
        for node in walk(stmt.value):
            receiver = list_receiver(node, globals_)
            if receiver is not None:
                out.add(receiver)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        if not (isinstance(func, ast.Name) and func.id.endswith("_push")):  # stack and tape pushes
            out |= {n.id for n in name_nodes(stmt.value)}
    return out


def writes_in_place(stmt, tapes=frozenset()):
    """`b[i] = v` or a call statement such as `_rt.add_at(b, i, v)` (not a push, nor a store
    into a loop's preallocated tape, one of the lists named in `tapes`: a list no view of an array
    can see)."""
    if isinstance(stmt, ast.Assign):
        return not all(isinstance(t, ast.Name) for t in stmt.targets) and not _tape_store(stmt, tapes)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        return not (isinstance(func, ast.Name) and func.id.endswith("_push"))
    return False


def _tape_store(stmt, tapes):
    """`tape[t] = v` into a list named in `tapes`."""
    target = stmt.targets[0]
    return (
        len(stmt.targets) == 1
        and isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and target.value.id in tapes
    )


def statement_facts(stmt, tapes, globals_):
    """What `inline_single_use` asks of a statement, from one walk of each of its parts:
    (a plain statement?, reads by name, names it rebinds or writes into, writes in place?,
    names in its subscript targets, names of the functions it calls); `tapes` as for `writes_in_place`,
    `globals_` the module names the function reads."""
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
                called.add(
                    func.id
                    if isinstance(func, ast.Name)
                    else func.attr if isinstance(func, ast.Attribute) else None
                )
                if receivers is not None:
                    receiver = list_receiver(n, globals_)
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
    return simple, loads, mutated, writes_in_place(stmt, tapes), subscript_names, called
