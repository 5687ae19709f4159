"""Sums of generators and list comprehensions become loops, before the rest of the language is
lowered: `sum(f(x) for x in xs)` accumulates in a loop, `[g(x) for x in xs]` appends in one; a
generator given whole to `max`, `min`, `any`, `all`, `sorted`, `tuple` or `list` is its list.
(`desugar` runs these first; the examples are in the classes' docstrings.)
"""

import ast

from ..astutil import clone, name_nodes, walk
from ..errors import DesugarError
from .fresh import _Counter, _assign, _name


class _BlockRewriter:
    """A pass that rewrites a function's statements block by block (`block`), with fresh names."""

    def __init__(self):
        self.counter = _Counter()

    def function(self, function):
        function.body = self.block(function.body)
        return function

    def parts(self, stmt):
        """What of `stmt` this pass rewrites, where `find` sees something to rewrite: a `for`
        loop's iterable, an `if`'s test, a plain statement itself (not a `while` test, which runs
        again every iteration, nor a nested definition)."""
        if isinstance(stmt, ast.For):
            parts = [stmt.iter]
        elif isinstance(stmt, ast.If):
            parts = [stmt.test]
        elif isinstance(stmt, (ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            parts = []
        else:
            parts = [stmt]
        return [part for part in parts if self.find(part) is not None]

    def loops(self, generators, innermost, where):
        """The nested `for` / `if` statements of a comprehension around `innermost(rename)`: its
        variables get fresh names (they do not leak, as in Python), except in the first iterable,
        which Python evaluates in the enclosing scope (`sum(x * x for x in x)`)."""
        renames = {}
        for gen in generators:
            if gen.is_async:
                raise DesugarError("async comprehensions are not supported", where)
            for node in walk(gen.target):
                if isinstance(node, ast.Name):
                    renames.setdefault(node.id, self.counter.fresh(node.id.lstrip("_")))

        def rename(node):
            node = clone(node)
            for n in walk(node):
                if isinstance(n, ast.Name) and n.id in renames:
                    n.id = renames[n.id]
            return node

        body = innermost(rename)
        for index in range(len(generators) - 1, -1, -1):
            gen = generators[index]
            for cond in reversed(gen.ifs):
                body = [ast.If(test=rename(cond), body=body, orelse=[])]
            source = clone(gen.iter) if index == 0 else rename(gen.iter)
            body = [ast.For(target=rename(gen.target), iter=source, body=body, orelse=[])]
        return body


def _located(stmts, stmt):
    """`stmts`, every node in them placed at `stmt`'s line (code written for that statement)."""
    for node in stmts:
        for n in walk(node):
            if isinstance(n, (ast.stmt, ast.expr)) or hasattr(n, "lineno"):
                ast.copy_location(n, stmt)
    return stmts


class _Sums(_BlockRewriter):
    """`sum(e for v in xs if c)`, `sum([...])` and `sum(xs)` -> an accumulation loop before the
    statement; comprehension variables get fresh names (they do not leak, as in Python).

    >>> tree = ast.parse("def f(x, n):\\n    return sum(x * i for i in range(n) if i % 2)").body[0]
    >>> print(ast.unparse(_Sums().function(tree)))
    def f(x, n):
        _sum1 = 0
        for _i1 in range(n):
            if _i1 % 2:
                _sum1 = _sum1 + x * _i1
        return _sum1
    """

    def block(self, stmts):
        out = []
        for stmt in stmts:
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    setattr(stmt, attr, self.block(inner))
            before = []
            heads = [stmt.test] if isinstance(stmt, ast.While) else []
            for head in heads:
                if self.find(head) is not None:
                    raise DesugarError(
                        "`sum(...)` over a sequence in a `while` condition is not supported",
                        head,
                        "compute the sum in a variable before the loop and at the end of its body",
                    )
            self.lift(stmt, before)
            out += before + [stmt]
        return out

    @staticmethod
    def is_sum(node):
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "sum"
            and len(node.args) in (1, 2)
            and not node.keywords
            and isinstance(node.args[0], (ast.GeneratorExp, ast.ListComp, ast.Name, ast.Tuple, ast.List))
        )

    def find(self, node):
        for child in walk(node):
            if self.is_sum(child):
                return child
        return None

    def lift(self, stmt, before):
        parts = self.parts(stmt)
        if not parts:
            return
        sums = self

        class Replace(ast.NodeTransformer):
            def visit_Lambda(self, node):
                return node

            def visit_Call(self, node):
                self.generic_visit(node)
                if not sums.is_sum(node):
                    return node
                return ast.copy_location(_name(sums.accumulate(node, stmt, before)), node)

        for part in parts:
            Replace().visit(part)

    def accumulate(self, call, stmt, before):
        acc = self.counter.fresh("sum")
        start = call.args[1] if len(call.args) == 2 else ast.Constant(0)
        source = call.args[0]
        if isinstance(source, (ast.GeneratorExp, ast.ListComp)):
            generators, element = source.generators, source.elt
        else:
            item = self.counter.fresh("item")
            generators = [ast.comprehension(target=_name(item, ast.Store()), iter=source, ifs=[], is_async=0)]
            element = _name(item)
        body = self.loops(
            generators,
            lambda rename: [_assign(acc, ast.BinOp(left=_name(acc), op=ast.Add(), right=rename(element)))],
            source,
        )
        before.extend(_located([_assign(acc, start)] + body, stmt))
        return acc


_CONSUMERS = {"max", "min", "any", "all", "sorted", "tuple", "list"}  # builtins that take a generator whole


class _Lists(_BlockRewriter):
    """List comprehensions (not inside `sum`) -> an empty list and a loop that appends to it;
    `xs.extend(seq)` -> a loop that appends; a discarded `xs.pop()` -> an assignment. Comprehension
    variables get fresh names (they do not leak, as in Python). A comprehension assigned to a
    variable it does not read fills that variable directly.

    >>> tree = ast.parse("def f(x, xs):\\n    ys = [x * v for v in xs if v > 0]\\n    return ys").body[0]
    >>> print(ast.unparse(_Lists().function(tree)))
    def f(x, xs):
        ys = []
        for _v1 in xs:
            if _v1 > 0:
                ys.append(x * _v1)
        return ys
    """

    def block(self, stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.append(stmt)
                continue
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    setattr(stmt, attr, self.block(inner))
            if isinstance(stmt, ast.While) and self.find(stmt.test) is not None:
                raise DesugarError(
                    "a list comprehension in a `while` condition is not supported",
                    stmt.test,
                    "compute the list in a variable before the loop and at the end of its body",
                )
            out += self.statement(stmt)
        return out

    @staticmethod
    def consumed(node):
        """The generators `node` gives to a builtin that consumes them (`max(e for e in xs)`,
        `tuple(...)`, `any(...)`): each is its list, since the builtin iterates it once and the
        items have no effects to interleave."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSUMERS:
            return [arg for arg in node.args if isinstance(arg, ast.GeneratorExp)]
        return []

    @staticmethod
    def comprehension(node, consumed=()):
        """The ListComp (or `list(generator)`) `node` stands for, else None; `consumed`: the
        generators known to be given to a consuming builtin (`consumed`), lists too."""
        if isinstance(node, ast.ListComp) or any(node is c for c in consumed):
            return node
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "list"
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.GeneratorExp)
        ):
            return node.args[0]
        return None

    def find(self, node):
        for child in walk(node):
            if self.comprehension(child) is not None or self.consumed(child):
                return child
        return None

    def statement(self, stmt):
        call = stmt.value if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) else None
        method = call.func if call is not None and isinstance(call.func, ast.Attribute) else None
        if method is not None and isinstance(method.value, ast.Name) and not call.keywords:
            if method.attr == "extend" and len(call.args) == 1:
                return self.extend(stmt, method.value.id, call.args[0])
            if method.attr == "pop":  # the popped value is not used
                target = _name(self.counter.fresh("popped"), ast.Store())
                stmt = ast.copy_location(ast.Assign(targets=[target], value=call), stmt)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            comp = self.comprehension(stmt.value)
            name = stmt.targets[0].id
            if comp is not None and name not in {n.id for n in name_nodes(comp)}:
                return self.block(self.fill(comp, name, stmt))
        before = []
        self.lift(stmt, before)
        return self.block(before) + [stmt] if before else [stmt]

    def extend(self, stmt, name, source):
        comp = source if isinstance(source, (ast.ListComp, ast.GeneratorExp)) else self.comprehension(source)
        if comp is not None and name not in {n.id for n in name_nodes(comp)}:
            return self.block(self.fill(comp, name, stmt)[1:])  # appends to the list itself
        if isinstance(source, ast.Name) and source.id == name:  # `xs.extend(xs)`: the items it had
            source = ast.copy_location(ast.Call(func=_name("list"), args=[source], keywords=[]), source)
        item = self.counter.fresh("item")
        gen = ast.comprehension(target=_name(item, ast.Store()), iter=source, ifs=[], is_async=0)
        comp = ast.ListComp(elt=_name(item), generators=[gen])
        return self.block(self.fill(comp, name, stmt)[1:])

    def lift(self, stmt, before):
        parts = self.parts(stmt)
        if not parts:
            return
        lists = self
        consumed = []

        class Replace(ast.NodeTransformer):
            def visit_Lambda(self, node):
                return node

            def generic_visit(self, node):
                comp = lists.comprehension(node, consumed)
                if comp is None:
                    consumed.extend(lists.consumed(node))
                    return super().generic_visit(node)
                name = lists.counter.fresh("list")
                before.extend(lists.fill(comp, name, stmt))
                return ast.copy_location(_name(name), node)

        for part in parts:
            Replace().visit(part)

    def fill(self, comp, name, stmt):
        """`name = []` and the loops appending the comprehension's elements to `name`."""
        append = ast.Attribute(value=_name(name), attr="append", ctx=ast.Load())
        body = self.loops(
            comp.generators,
            lambda rename: [ast.Expr(ast.Call(func=append, args=[rename(comp.elt)], keywords=[]))],
            comp,
        )
        return _located([_assign(name, ast.List(elts=[], ctx=ast.Load()))] + body, stmt)
