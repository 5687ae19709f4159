"""Normalize: single-assignment primitive form, one primitive operation per statement.

Every expression is flattened into temporaries `_t1, _t2, ...` so that each
statement is `name = primitive(atom, ...)` with atoms being names or constants;
`and`/`or`, conditional expressions and chained comparisons become `if`
statements (they short-circuit); `while` conditions are computed into a name
before the loop and again at the end of its body. A statement never assigns a
name it reads, so tangent and adjoint rules see their operands' values intact.

>>> import ast
>>> tree = ast.parse('''
... def f(x1, x2):
...     y = (np.sin(x1 / x2) + x1 / x2) * x2
...     return y
... ''').body[0]
>>> print(ast.unparse(normalize(tree)))
def f(x1, x2):
    _t1 = x1 / x2
    _t2 = np.sin(_t1)
    _t3 = x1 / x2
    _t4 = _t2 + _t3
    y = _t4 * x2
    return y
"""

import ast

from ..astutil import (
    assigned_names,
    clone,
    fix_missing_locations,
    name_nodes,
    walk,
)  # noqa: F401  (assigned_names: re-exported)
from .desugar import DesugarError


def is_atom(node):
    """Names, constants and dotted references to globals (`np.pi`) are atoms."""
    return isinstance(node, (ast.Name, ast.Constant)) or _is_dotted(node)


def _is_dotted(node):
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and getattr(node, "_global", False)


def _load(name):
    return ast.Name(id=name, ctx=ast.Load())


def _store(name):
    return ast.Name(id=name, ctx=ast.Store())


class _Normalizer:
    def __init__(self, local_names):
        self.local_names = local_names
        self.count = 0
        self.where = None

    def fresh(self):
        self.count += 1
        name = f"_t{self.count}"
        while name in self.local_names:
            self.count += 1
            name = f"_t{self.count}"
        return name

    def emit(self, out, target, value):
        stmt = ast.Assign(targets=[_store(target)], value=value)
        out.append(ast.copy_location(stmt, self.where))

    # -- expressions ------------------------------------------------------
    def atom(self, node, out):
        """Return an atom for `node`, appending the statements that compute it."""
        if isinstance(node, ast.Constant):
            return node
        if isinstance(node, ast.Name):
            return _mark(node, self.local_names)
        if isinstance(node, ast.Attribute) and self.global_path(node):
            return _mark_path(node)
        value = self.primitive(node, out)
        if is_atom(value):
            return value
        temp = self.fresh()
        self.emit(out, temp, value)
        return _load(temp)

    def global_path(self, node):
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id not in self.local_names

    def primitive(self, node, out):
        """Flatten `node`'s operands into atoms; return one primitive expression."""
        if isinstance(node, (ast.Name, ast.Constant)):
            return self.atom(node, out)
        if isinstance(node, ast.BinOp):
            left = self.atom(node.left, out)
            right = self.atom(node.right, out)
            return ast.BinOp(left=left, op=node.op, right=right)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.primitive(node.operand, out)
            operand = self.atom(node.operand, out)
            if isinstance(operand, ast.Constant) and isinstance(node.op, ast.USub):
                if isinstance(operand.value, (int, float, complex)) and not isinstance(operand.value, bool):
                    return ast.Constant(-operand.value)
            return ast.UnaryOp(op=node.op, operand=operand)
        if isinstance(node, ast.Compare):
            if len(node.ops) == 1:
                left = self.atom(node.left, out)
                right = self.atom(node.comparators[0], out)
                return ast.Compare(left=left, ops=node.ops, comparators=[right])
            # a < b < c  ->  a < b and b < c, each operand evaluated once
            operands = [self.atom(node.left, out)]
            pairs = []
            for op, comparator in zip(node.ops, node.comparators):
                pairs.append((op, comparator))
            return self.chain(operands[0], pairs, out)
        if isinstance(node, ast.BoolOp):
            return self.boolop(node, out)
        if isinstance(node, ast.IfExp):
            test = self.atom(node.test, out)
            result = self.fresh()
            body, orelse = [], []
            self.emit(body, result, self.primitive(node.body, body))
            self.emit(orelse, result, self.primitive(node.orelse, orelse))
            out.append(ast.copy_location(ast.If(test=test, body=body, orelse=orelse), self.where))
            return _load(result)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and not self.global_path(func):
                func = ast.Attribute(value=self.atom(func.value, out), attr=func.attr, ctx=ast.Load())
            elif isinstance(func, (ast.Name, ast.Attribute)):
                func = self.atom(func, out)
            else:
                func = self.atom(func, out)
            args = []
            for a in node.args:  # `f(*(a, b))` spliced; `f(*xs)` kept for the inliner, which counts `xs`
                if isinstance(a, ast.Starred) and isinstance(a.value, (ast.Tuple, ast.List)):
                    args += [self.atom(e, out) for e in a.value.elts]
                elif isinstance(a, ast.Starred):
                    args.append(ast.Starred(value=self.atom(a.value, out), ctx=ast.Load()))
                else:
                    args.append(self.atom(a, out))
            keywords = []
            for k in node.keywords:  # `f(**{"a": x})` spliced; `f(**d)` kept for the inliner
                if (
                    k.arg is None
                    and isinstance(k.value, ast.Dict)
                    and all(
                        isinstance(key, ast.Constant) and isinstance(key.value, str) for key in k.value.keys
                    )
                ):
                    keywords += [
                        ast.keyword(arg=key.value, value=self.atom(v, out))
                        for key, v in zip(k.value.keys, k.value.values)
                    ]
                else:
                    keywords.append(ast.keyword(arg=k.arg, value=self.atom(k.value, out)))
            return ast.Call(func=func, args=args, keywords=keywords)
        if isinstance(node, ast.Attribute):
            return ast.Attribute(value=self.atom(node.value, out), attr=node.attr, ctx=ast.Load())
        if isinstance(node, ast.Subscript):
            value = self.atom(node.value, out)
            return ast.Subscript(value=value, slice=self.index(node.slice, out), ctx=ast.Load())
        if isinstance(node, (ast.Tuple, ast.List)):
            elts = [self.atom(e, out) for e in node.elts]
            return type(node)(elts=elts, ctx=ast.Load())
        if isinstance(node, ast.Dict):
            if not all(isinstance(k, ast.Constant) for k in node.keys):
                raise DesugarError(
                    'dict literals need constant keys (`{"W": w}`)',
                    node,
                    "write the keys out as strings or numbers",
                )
            values = [self.atom(v, out) for v in node.values]
            return ast.Dict(keys=[ast.Constant(k.value) for k in node.keys], values=values)
        if isinstance(node, ast.Slice):
            return self.index(node, out)
        kind = type(node).__name__
        raise DesugarError(
            f"the expression `{ast.unparse(node)}` ({kind}) is not supported yet",
            node,
            "rewrite it with plain arithmetic, calls, indexing and loops",
        )

    def index(self, node, out):
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self.atom(p, out) for p in (node.lower, node.upper, node.step)]
            return ast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(node, ast.Tuple):
            return ast.Tuple(elts=[self.index(e, out) for e in node.elts], ctx=ast.Load())
        return self.atom(node, out)

    def chain(self, left, pairs, out):
        op, comparator = pairs[0]
        right = self.atom(comparator, out)
        first = self.fresh()
        self.emit(out, first, ast.Compare(left=left, ops=[op], comparators=[right]))
        if len(pairs) == 1:
            return _load(first)
        # the `if` tests `first`, which its body never assigns
        result = self.fresh()
        self.emit(out, result, _load(first))
        body = []
        self.emit(body, result, self.chain(clone(right), pairs[1:], body))
        out.append(ast.copy_location(ast.If(test=_load(first), body=body, orelse=[]), self.where))
        return _load(result)

    def boolop(self, node, out):
        result = self.fresh()
        first = self.atom(node.values[0], out)
        self.emit(out, result, first)
        rest = node.values[1:]
        if not rest:
            return _load(result)
        body = []
        remaining = ast.BoolOp(op=node.op, values=rest) if len(rest) > 1 else rest[0]
        self.emit(body, result, self.primitive(remaining, body))
        test = (
            _load(result)
            if isinstance(node.op, ast.And)
            else ast.UnaryOp(op=ast.Not(), operand=_load(result))
        )
        if isinstance(node.op, ast.Or):
            negated = self.fresh()
            self.emit(out, negated, test)
            test = _load(negated)
        # the test must not be reassigned by the body: copy it when it is `result`
        if isinstance(test, ast.Name) and test.id == result:
            cond = self.fresh()
            self.emit(out, cond, _load(result))
            test = _load(cond)
        out.append(ast.copy_location(ast.If(test=test, body=body, orelse=[]), self.where))
        return _load(result)

    # -- statements -------------------------------------------------------------
    def block(self, stmts):
        out = []
        for stmt in stmts:
            self.where = stmt
            self.stmt(stmt, out)
        return out

    def stmt(self, stmt, out):
        if isinstance(stmt, ast.Assign):
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                value = self.primitive(stmt.value, out)
                if target.id in _names_in(value):
                    temp = self.fresh()
                    self.emit(out, temp, value)
                    value = _load(temp)
                self.emit(out, target.id, value)
                return
            if isinstance(target, ast.Subscript):
                value = self.atom(stmt.value, out)
                base = self.atom(target.value, out)
                index = self.index(target.slice, out)
                store = ast.Subscript(value=base, slice=index, ctx=ast.Store())
                out.append(ast.copy_location(ast.Assign(targets=[store], value=value), stmt))
                return
            raise DesugarError(
                f"cannot assign to `{ast.unparse(target)}`", stmt, "assign to a variable or an array element"
            )
        if isinstance(stmt, ast.If):
            test = self.atom(stmt.test, out)
            if isinstance(test, ast.Name) and test.id in assigned_names(stmt.body + stmt.orelse):
                temp = self.fresh()
                self.emit(out, temp, test)
                test = _load(temp)
            self.where = stmt
            node = ast.If(test=test, body=self.block(stmt.body), orelse=self.block(stmt.orelse))
            out.append(ast.copy_location(node, stmt))
            return
        if isinstance(stmt, ast.For):
            iterable = stmt.iter
            written = assigned_names(stmt.body) | assigned_names([stmt.target])
            if (
                isinstance(iterable, ast.Call)
                and isinstance(iterable.func, ast.Name)
                and iterable.func.id == "range"
            ):
                args = []
                for arg in iterable.args:
                    atom = self.atom(arg, out)
                    if isinstance(atom, ast.Name) and atom.id in written:
                        temp = self.fresh()
                        self.emit(out, temp, atom)
                        atom = _load(temp)
                    args.append(atom)
                iterable = ast.Call(func=_load("range"), args=args, keywords=[])
            else:
                atom = self.atom(iterable, out)
                if not isinstance(atom, ast.Name) or atom.id in written:
                    temp = self.fresh()
                    self.emit(out, temp, atom)
                    atom = _load(temp)
                iterable = atom
            if not isinstance(stmt.target, ast.Name):
                raise DesugarError("loop targets must be a single name here", stmt)
            self.where = stmt
            node = ast.For(
                target=_store(stmt.target.id), iter=iterable, body=self.block(stmt.body), orelse=[]
            )
            out.append(ast.copy_location(node, stmt))
            return
        if isinstance(stmt, ast.While):
            self.where = stmt
            test_stmts = []
            test = self.atom(stmt.test, test_stmts)
            cond = self.fresh()
            self.emit(test_stmts, cond, test)
            out.extend(test_stmts)
            body = self.block(stmt.body)
            self.where = stmt
            again = []
            self.emit(again, cond, self.atom(stmt.test, again))
            node = ast.While(test=_load(cond), body=body + again, orelse=[])
            out.append(ast.copy_location(node, stmt))
            return
        if isinstance(stmt, ast.Return):
            value = ast.Constant(None) if stmt.value is None else self.atom(stmt.value, out)
            out.append(ast.copy_location(ast.Return(value=value), stmt))
            return
        if isinstance(stmt, ast.Expr):
            value = self.primitive(stmt.value, out)
            if not is_atom(value):
                out.append(ast.copy_location(ast.Expr(value=value), stmt))
            return
        if isinstance(stmt, ast.Raise):
            out.append(stmt)
            return
        if isinstance(stmt, ast.Assert):
            test = self.atom(stmt.test, out)
            out.append(ast.copy_location(ast.Assert(test=test, msg=stmt.msg), stmt))
            return
        kind = type(stmt).__name__
        keyword = _KEYWORDS.get(kind, kind)
        raise DesugarError(
            f"`{keyword}` statements are not supported",
            stmt,
            _HINTS.get(kind, "rewrite it with assignments, if, for and while"),
        )


_KEYWORDS = {  # the statement as the user wrote it, not its AST class
    "Try": "try",
    "TryStar": "try",
    "With": "with",
    "AsyncWith": "async with",
    "AsyncFor": "async for",
    "Import": "import",
    "ImportFrom": "from ... import",
    "Global": "global",
    "Nonlocal": "nonlocal",
    "FunctionDef": "def",
    "ClassDef": "class",
    "Delete": "del",
    "Match": "match",
}
_HINTS = {
    "Global": "pass the value in as an argument and return the new value",
    "Nonlocal": "pass the value in as an argument and return the new value",
    "FunctionDef": "define the helper at module level (nested functions come later)",
    "Import": "move the import to the top of the module; the function reads module-level names",
    "ImportFrom": "move the import to the top of the module; the function reads module-level names",
    "Try": "check the condition with `if` instead, or handle the error in the code that calls the "
    "differentiated function",
    "With": "open files or contexts outside the differentiated function and pass the values in",
    "Delete": "leave the name unused, or rebind it",
}


def _mark(node, local_names):
    out = ast.Name(id=node.id, ctx=ast.Load())
    if node.id not in local_names:
        out._global = True
    return out


def _mark_path(node):
    node = clone(node)
    root = node
    while isinstance(root, ast.Attribute):
        root.ctx = ast.Load()
        root = root.value
    root._global = True
    return node


def _names_in(node):
    return {n.id for n in name_nodes(node)}


def normalize(function, copy=True):
    """Return the single-assignment primitive form of a desugared `ast.FunctionDef` (with
    `copy=False`, of `function` itself, whose nodes it reuses)."""
    if copy:
        function = clone(function)
    params = {a.arg for a in function.args.args + function.args.kwonlyargs + function.args.posonlyargs}
    local_names = params | assigned_names(function.body)
    normalizer = _Normalizer(local_names)
    function.body = normalizer.block(function.body)
    fix_missing_locations(function)
    return function
