"""Tests known before the program runs are decided (before differentiation): a comparison of
constants (`period is not None` where `period = None`, an inlined default), `not`, `and` / `or`
of them, and an `if` or conditional expression on one keeps the branch it takes. Inlined
helpers with optional parameters (`def f(x, axis=None)`, NumPy functions s2sad writes out)
lose the branches for the other options.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.optimize.bindings import name_counts
>>> tree = normalize(ast.parse('''
... def f(x):
...     scale = None
...     if scale is None:
...         y = x * 2.0
...     else:
...         y = x * scale
...     return y
... ''').body[0])
>>> fold_constant_tests(tree, name_counts(tree))
True
>>> print(ast.unparse(tree))
def f(x):
    scale = None
    _t1 = True
    y = x * 2.0
    return y
"""

import ast
import operator

from .bindings import is_local_name, name_counts

_COMPARE = {
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_SIMPLE = (type(None), bool, int, float, str)


def fold_constant_tests(function, counts=None):
    """Decide the tests of `function` whose operands are constants (see the module doc); True if
    anything changed. `counts` is not used: the pass follows the statements in order, and knows a
    name's constant from its assignment to its next one (`returned = True` after an early return)."""
    folder = _Folder()
    function.body = folder.block(function.body, {})
    return folder.changed


def _stored(node):
    """The names `node` assigns (anywhere inside it)."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


class _Folder:
    def __init__(self):
        self.changed = False

    def value(self, node, env):
        """(True, the value) of an expression known now; (False, None) otherwise."""
        if isinstance(node, ast.Constant) and isinstance(node.value, _SIMPLE):
            return True, node.value
        if isinstance(node, ast.Name) and node.id in env:
            return True, env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            ok, v = self.value(node.operand, env)
            return (True, not v) if ok else (False, None)
        if isinstance(node, ast.BoolOp):
            values = [self.value(v, env) for v in node.values]
            if not all(ok for ok, _ in values):
                return False, None
            result = values[0][1]
            for _, v in values[1:]:
                result = (result and v) if isinstance(node.op, ast.And) else (result or v)
            return True, result
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            operands = [self.value(v, env) for v in [node.left] + node.comparators]
            if not all(ok for ok, _ in operands):
                return False, None
            try:
                result = all(
                    _COMPARE[type(op)](a[1], b[1]) for op, a, b in zip(node.ops, operands, operands[1:])
                )
            except TypeError:  # `None < 1`: Python raises it, so shall the program
                return False, None
            return True, result
        return False, None

    def expression(self, node, env):
        """`node` with its conditional expressions on known tests resolved, or a constant for it."""
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            ok, v = self.value(node, env)
            if ok and isinstance(v, _SIMPLE):
                self.changed = True
                return ast.copy_location(ast.Constant(v), node)
        if isinstance(node, ast.IfExp):
            ok, v = self.value(node.test, env)
            if ok:
                self.changed = True
                return self.expression(node.body if v else node.orelse, env)
        return node

    def block(self, stmts, env):
        """`stmts` with known tests decided; `env` (name -> its constant now) follows them."""
        out = []
        for stmt in stmts:
            out.extend(self.statement(stmt, env))
        return out

    def branch(self, stmts, env, owner):
        return self.block(stmts, env) or [ast.copy_location(ast.Pass(), owner)]

    def statement(self, stmt, env):
        if isinstance(stmt, ast.Assign):
            stmt.value = self.expression(stmt.value, env)
            for name in _stored(stmt):
                env.pop(name, None)
            target = stmt.targets[0]
            if (
                len(stmt.targets) == 1
                and isinstance(target, ast.Name)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, _SIMPLE)
            ):
                env[target.id] = stmt.value.value
            return [stmt]
        if isinstance(stmt, ast.If):
            ok, v = self.value(stmt.test, env)
            if ok:
                self.changed = True
                return self.block(stmt.body if v else stmt.orelse, env)
            taken, other = dict(env), dict(env)
            stmt.body = self.branch(stmt.body, taken, stmt)
            stmt.orelse = self.block(stmt.orelse, other)
            for name in list(env):
                env.pop(name)
            env.update({n: v for n, v in taken.items() if n in other and other[n] is v})
            return [stmt]
        if isinstance(stmt, (ast.For, ast.While)):
            for name in _stored(stmt):  # the body runs again after itself: what it assigns is not known
                env.pop(name, None)
            if isinstance(stmt, ast.While):
                ok, v = self.value(stmt.test, env)
                if ok and not v:
                    self.changed = True
                    return self.block(stmt.orelse, env)
            stmt.body = self.branch(stmt.body, dict(env), stmt)
            stmt.orelse = self.block(stmt.orelse, env)
            for name in _stored(stmt):
                env.pop(name, None)
            return [stmt]
        for name in _stored(stmt):
            env.pop(name, None)
        return [stmt]
