"""Common subexpressions: a pure expression computed twice is computed once."""

import ast

from ..analyses.effects import pure_call
from ..astutil import nodes
from .bindings import is_local_name, name_counts

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


def eliminate_common_subexpressions(function, namespace, counts=None):
    """A second `b = op(x, y)` in the same block, nothing reassigned since: reuse `a`."""
    assigned, read, inplace = counts or name_counts(function)
    globals_ = read.keys() - assigned.keys()  # names read, neither parameters nor assigned
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
            if not (isinstance(stmt, ast.Assign) and is_local_name(stmt.targets[0], assigned)):
                continue
            name = stmt.targets[0].id
            value = stmt.value
            key = operands = None
            if isinstance(value, (ast.BinOp, ast.UnaryOp, ast.Call)) and pure_call(
                value, namespace, globals_
            ):
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
