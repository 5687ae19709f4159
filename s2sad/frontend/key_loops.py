"""Unroll loops over constant keys (before desugaring), so each `d[k]` reads a constant key.

A dict is read by constant keys only (`optimize._scalarize_tuples` resolves them); a loop
variable that runs over keys is not one. A `for` loop over a literal list or tuple of strings
(or a global one), over a dict whose keys are known here (a dict literal assigned in the
function, which is also how dict arguments start: `s2sad.trees`), or over its `.keys()`,
`.values()` or `.items()`, becomes one copy of the body per key, in the dict's order.
Loops with `break`, `continue` or `else` are left alone.

>>> import ast
>>> tree = ast.parse('''
... def f(x):
...     p = {"a": x, "b": 2.0 * x}
...     for k, v in p.items():
...         x = x + v * p[k]
...     return x
... ''').body[0]
>>> print(ast.unparse(unroll_key_loops(tree, {})))
def f(x):
    p = {'a': x, 'b': 2.0 * x}
    k, v = ('a', p['a'])
    x = x + v * p['a']
    k, v = ('b', p['b'])
    x = x + v * p['b']
    return x
"""

import ast

from ..astutil import assigned_names, clone, fix_missing_locations, walk

_VIEWS = ("keys", "values", "items")


def _constant_keys(node):
    """The keys of a dict literal with constant string keys, else None."""
    if isinstance(node, ast.Dict) and all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys
    ):
        return [k.value for k in node.keys]
    return None


def _strings(value):
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


class _Strings:
    """A local list or tuple of constant strings (`keys = ["w", "b"]`), to loop over."""

    def __init__(self, strings):
        self.strings = strings


def _jumps(body):
    """Does `body` hold a `break` / `continue` of this loop (not of a loop inside it)?"""
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Break, ast.Continue)):
            return True
        if isinstance(node, (ast.For, ast.While, ast.FunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(node.orelse if isinstance(node, (ast.For, ast.While)) else [])
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _changed(stmt):
    """Names whose dicts `stmt` may rebind or change (`d = ...`, `d[k] = v`, `d.update(...)`)."""
    names = assigned_names([stmt])
    for node in walk(stmt):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            if isinstance(base, ast.Name):
                names.add(base.id)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            if node.func.attr not in ("get", "copy") + _VIEWS:
                names.add(node.func.value.id)
    return names


def _substitute_key(body, target, mode, key):
    """The loop's key variable, read in `body` where the body does not rebind it, is the key itself."""
    if mode == "item" and isinstance(target, ast.Tuple) and target.elts:
        target = target.elts[0]
    if mode == "value" or not isinstance(target, ast.Name) or target.id in assigned_names(body):
        return
    for node in walk(ast.Module(body=body, type_ignores=[])):
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.Name) and value.id == target.id and isinstance(value.ctx, ast.Load):
                setattr(node, field, ast.copy_location(ast.Constant(key), value))
            elif isinstance(value, list):
                value[:] = [
                    (
                        ast.copy_location(ast.Constant(key), v)
                        if isinstance(v, ast.Name) and v.id == target.id and isinstance(v.ctx, ast.Load)
                        else v
                    )
                    for v in value
                ]


def _fold_strings(body):
    """`"l1" + "_w"` and `f"{'l1'}_w"`, left by a substituted key, become the string itself."""

    class Fold(ast.NodeTransformer):
        def visit_BinOp(self, node):
            self.generic_visit(node)
            if isinstance(node.op, ast.Add) and all(
                isinstance(side, ast.Constant) and isinstance(side.value, str)
                for side in (node.left, node.right)
            ):
                return ast.copy_location(ast.Constant(node.left.value + node.right.value), node)
            return node

        def visit_JoinedStr(self, node):
            self.generic_visit(node)
            parts = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    if value.conversion != -1 or value.format_spec is not None:
                        return node
                    value = value.value
                if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                    return node
                parts.append(value.value)
            return ast.copy_location(ast.Constant("".join(parts)), node)

    for i, stmt in enumerate(body):
        body[i] = Fold().visit(stmt)


class _Unroller:
    def __init__(self, namespace, local_names):
        self.namespace = namespace
        self.local_names = local_names

    def keys(self, iterable, known):
        """(keys, what the loop variable takes: 'key' / 'value' / 'item', the dict) or None."""
        if (
            isinstance(iterable, ast.Call)
            and isinstance(iterable.func, ast.Name)
            and iterable.func.id == "sorted"
            and "sorted" not in self.local_names
            and self.namespace.get("sorted", sorted) is sorted
            and len(iterable.args) == 1
            and not iterable.keywords
        ):  # `sorted(d)`, `sorted(d.items())`: the keys in sorted order (items sort by their unique keys)
            found = self.keys(iterable.args[0], known)
            if found is None or found[1] == "value":
                return None
            return sorted(found[0]), found[1], found[2]
        if isinstance(iterable, (ast.List, ast.Tuple)):
            values = [e.value if isinstance(e, ast.Constant) else None for e in iterable.elts]
            return (values, "key", None) if _strings(values) else None
        if isinstance(iterable, ast.Name):
            if iterable.id in known:
                keys = known[iterable.id]
                return (
                    (keys.strings, "key", None) if isinstance(keys, _Strings) else (keys, "key", iterable.id)
                )
            if iterable.id not in self.local_names and _strings(self.namespace.get(iterable.id)):
                return _strings(self.namespace[iterable.id]), "key", None
            return None
        if (
            isinstance(iterable, ast.Call)
            and not iterable.args
            and not iterable.keywords
            and isinstance(iterable.func, ast.Attribute)
            and iterable.func.attr in _VIEWS
            and isinstance(iterable.func.value, ast.Name)
            and isinstance(known.get(iterable.func.value.id), list)
        ):
            mode = {"keys": "key", "values": "value", "items": "item"}[iterable.func.attr]
            return known[iterable.func.value.id], mode, iterable.func.value.id
        return None

    def block(self, stmts, known):
        out = []
        for stmt in stmts:
            out.extend(self.stmt(stmt, known))
        return out

    def stmt(self, stmt, known):
        if isinstance(stmt, ast.For) and not stmt.orelse and not _jumps(stmt.body):
            found = self.keys(stmt.iter, known)
            if found is not None and not (_changed(stmt) & ({found[2]} if found[2] else set())):
                keys, mode, name = found
                unrolled = []
                for key in keys:
                    read = (
                        ast.Subscript(
                            value=ast.Name(name, ast.Load()), slice=ast.Constant(key), ctx=ast.Load()
                        )
                        if name
                        else None
                    )
                    value = {
                        "key": ast.Constant(key),
                        "value": read,
                        "item": ast.Tuple([ast.Constant(key), read], ast.Load()),
                    }[mode]
                    bind = ast.copy_location(ast.Assign(targets=[clone(stmt.target)], value=value), stmt)
                    body = [clone(s) for s in stmt.body]
                    _substitute_key(body, stmt.target, mode, key)
                    _fold_strings(body)
                    unrolled += [fix_missing_locations(bind)] + body
                return self.block(unrolled, known)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            keys = _constant_keys(stmt.value)
            for name in _changed(stmt):
                known.pop(name, None)
            if keys is not None:
                known[stmt.targets[0].id] = keys
            elif isinstance(stmt.value, (ast.List, ast.Tuple)):
                strings = _strings(
                    [e.value if isinstance(e, ast.Constant) else None for e in stmt.value.elts]
                )
                if strings:
                    known[stmt.targets[0].id] = _Strings(strings)  # `keys = ["w", "b"]`
            return [stmt]
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Subscript)
            and isinstance(stmt.targets[0].value, ast.Name)
            and isinstance(known.get(stmt.targets[0].value.id), list)
            and isinstance(stmt.targets[0].slice, ast.Constant)
            and isinstance(stmt.targets[0].slice.value, str)
        ):
            keys = known[stmt.targets[0].value.id]
            for name in _changed(stmt) - {stmt.targets[0].value.id}:
                known.pop(name, None)
            if stmt.targets[0].slice.value not in keys:
                keys.append(stmt.targets[0].slice.value)
            return [stmt]
        for attr in ("body", "orelse", "finalbody"):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            if isinstance(getattr(stmt, attr, None), list):
                setattr(
                    stmt,
                    attr,
                    self.block(
                        getattr(stmt, attr),
                        {k: list(v) if isinstance(v, list) else v for k, v in known.items()},
                    ),
                )
        for name in _changed(stmt):
            known.pop(name, None)
        return [stmt]


def unroll_key_loops(function, namespace):
    """Unroll the key loops of the `ast.FunctionDef` `function` in place (see module doc)."""
    params = {a.arg for a in function.args.args + function.args.kwonlyargs + function.args.posonlyargs}
    unroller = _Unroller(namespace, params | assigned_names(function.body))
    function.body = unroller.block(function.body, {})
    fix_missing_locations(function)
    return function
