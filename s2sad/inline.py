"""Inline calls to the user's own functions into the normalized caller.

A statement `z = helper(a, b)` whose callee is a plain Python function with no
derivative rule is replaced by the callee's normalized body, its variables
renamed `helper1_x`, its parameters bound to the call's arguments (keywords
and defaults too) and its final `return v` turned into `z = v`. The derivative
is then generated through the helper like through any other code.
Statements keep a line number that maps back to the helper's own file.

>>> import ast, types
>>> from s2sad.frontend import parse_function
>>> def square(u):
...     return u * u
>>> # (see tests/test_calls.py for the behaviour on real files)
"""

import ast
import copy
import types

from .desugar import DesugarError, desugar
from .errors import UnsupportedSyntaxError
from .frontend import parse_function
from .normalize import assigned_names, normalize
from .primitives import _UNRESOLVED, is_global, resolve
from . import rules as R

ORIGIN_BASE = 10_000_000  # line numbers at or above this index the origin table


class Inliner:
    def __init__(self, parsed):
        self.parsed = parsed
        self.namespace = parsed.namespace
        self.origins = {}  # fake line -> (filename, lineno, text)
        self.counts = {}
        self.taken = set()

    def callee(self, value):
        if not (isinstance(value, ast.Call) and is_global(value.func)):
            return None
        obj = resolve(value.func, self.namespace)
        if obj is _UNRESOLVED or not isinstance(obj, types.FunctionType):
            return None
        if R.lookup(obj) is not None:
            return None
        return obj

    def run(self, function, stack=()):
        self.taken |= assigned_names([function]) | {a.arg for a in function.args.args}
        self.taken |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
        function.body = self.block(function.body, stack)
        return function

    def block(self, stmts, stack):
        out = []
        for stmt in stmts:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                fn = self.callee(stmt.value)
                if fn is not None:
                    out.extend(self.inline(stmt, fn, stack))
                    continue
            if isinstance(stmt, ast.Expr):
                fn = self.callee(stmt.value)
                if fn is not None:
                    fake = ast.Assign(targets=[ast.Name("_", ast.Store())], value=stmt.value)
                    out.extend(self.inline(ast.copy_location(fake, stmt), fn, stack))
                    continue
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner and not isinstance(stmt, ast.FunctionDef):
                    setattr(stmt, attr, self.block(inner, stack))
            out.append(stmt)
        return out

    def inline(self, stmt, fn, stack):
        call = stmt.value
        if fn.__code__ in stack or len(stack) > 20:
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{fn.__name__}` is recursive; recursive functions are not supported yet",
                stmt,
                hint="rewrite the recursion as a loop",
            )
        callee = parse_function(fn)
        try:
            tree = normalize(desugar(callee.tree))
        except DesugarError as exc:
            raise callee.error(UnsupportedSyntaxError, str(exc), exc.node, exc.hint) from None
        # the callee's globals: share names bound to the same object, alias the others
        renames = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and getattr(node, "_global", False):
                name = node.id
                if name in callee.namespace:
                    value = callee.namespace[name]
                    if name in self.namespace and self.namespace[name] is not value:
                        alias = renames.get(name) or self.unique(f"_{fn.__name__}_{name}")
                        renames[name] = alias
                        self.namespace[alias] = value
                        node.id = alias
                    elif name not in self.namespace:
                        self.namespace[name] = value
        inner = Inliner(callee)
        inner.namespace = self.namespace
        inner.origins = self.origins
        inner.counts = self.counts
        inner.taken = self.taken
        tree = inner.run(tree, stack + (fn.__code__,))
        self.counts[fn.__name__] = self.counts.get(fn.__name__, 0) + 1
        prefix = f"{fn.__name__}{self.counts[fn.__name__]}_"
        params = [a.arg for a in tree.args.args]
        local_names = assigned_names([tree]) | set(params)
        mapping = {n: self.unique(prefix + n.lstrip("_")) for n in sorted(local_names)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in mapping and not getattr(node, "_global", False):
                node.id = mapping[node.id]
            elif isinstance(node, ast.arg) and node.arg in mapping:
                node.arg = mapping[node.arg]
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                base = node.targets[0].value
                if isinstance(base, ast.Name) and base.id in {mapping[p] for p in params}:
                    raise callee.error(
                        UnsupportedSyntaxError,
                        f"`{fn.__name__}` writes into its argument `{ast.unparse(node.targets[0])}` in place",
                        node,
                        hint="copy the argument first (`a = a.copy()`) or return the new array",
                    )
        bound = self.bind(fn, call, callee, stmt)
        prologue = [
            ast.copy_location(ast.Assign(targets=[ast.Name(mapping[p], ast.Store())], value=bound[p]), stmt)
            for p in params
        ]
        body = tree.body
        ret = body[-1]
        result = ret.value if isinstance(ret, ast.Return) else ast.Constant(None)
        body = body[:-1] if isinstance(ret, ast.Return) else body
        self.relocate(body, callee)
        epilogue = ast.copy_location(ast.Assign(targets=[ast.Name(stmt.targets[0].id, ast.Store())], value=result), stmt)
        return prologue + body + [epilogue]

    def unique(self, name):
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    def bind(self, fn, call, callee, stmt):
        import inspect

        signature = inspect.signature(fn)
        try:
            bound = signature.bind(*call.args, **{k.arg: k.value for k in call.keywords})
        except TypeError as exc:
            raise self.parsed.error(UnsupportedSyntaxError, f"cannot call `{fn.__name__}`: {exc}", stmt) from None
        values = {}
        for name, param in signature.parameters.items():
            if name in bound.arguments:
                values[name] = bound.arguments[name]
            elif param.default is not inspect.Parameter.empty:
                default = param.default
                if isinstance(default, (int, float, bool, str, type(None))):
                    values[name] = ast.Constant(default)
                else:
                    alias = self.unique(f"_{fn.__name__}_default_{name}")
                    self.namespace[alias] = default
                    node = ast.Name(alias, ast.Load())
                    node._global = True
                    values[name] = node
        return values

    def relocate(self, stmts, callee):
        base = callee.filename.rsplit("/", 1)[-1]
        for stmt in stmts:
            for node in ast.walk(stmt):
                lineno = getattr(node, "lineno", None)
                if lineno is None:
                    continue
                if lineno >= ORIGIN_BASE:
                    continue  # already relocated (nested inlining)
                key = ORIGIN_BASE + len(self.origins) + 1
                origin = (callee.filename, lineno, f"{base}:{lineno}: {callee.line(lineno)}")
                for existing, value in self.origins.items():
                    if value[:2] == origin[:2]:
                        key = existing
                        break
                self.origins[key] = origin
                node.lineno = key
                node.end_lineno = key


def inline_calls(parsed, function):
    """Inline user-function calls in the normalized `function`; returns (tree, origins)."""
    inliner = Inliner(parsed)
    tree = inliner.run(copy.deepcopy(function))
    return tree, inliner.origins
