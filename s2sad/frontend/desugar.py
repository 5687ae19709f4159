"""Desugar: shrink the statement language before normalization.

Augmented assignment becomes plain assignment, tuple targets are split,
`for` over arrays / `enumerate` / `zip` becomes a loop over an index range, and
`break`, `continue` and early `return` become flags that guard the rest of the
block, so later passes only see structured `if` / `for ... in range` / `while`.

>>> import ast
>>> tree = ast.parse('''
... def f(x, n):
...     for i in range(n):
...         if x > 10.0:
...             break
...         x *= 2.0
...     return x
... ''').body[0]
>>> print(ast.unparse(desugar(tree)))
def f(x, n):
    _break1 = False
    _range1 = range(n)
    _index1 = 0
    while not _break1 and _index1 < len(_range1):
        i = _range1[_index1]
        _index1 = _index1 + 1
        if x > 10.0:
            _break1 = True
        if not _break1:
            x = x * 2.0
    return x
"""

import ast

from ..astutil import clone, fix_missing_locations, walk
from ..errors import DesugarError, UnsupportedSyntaxError
from .comprehensions import _Lists, _Sums
from .fresh import _Counter, _assign, _name, _not


def _contains(stmts, types):
    """Does any statement in `stmts` contain a node of `types` (not inside nested defs)?"""
    if all(issubclass(t, ast.stmt) for t in (types if isinstance(types, tuple) else (types,))):
        return _contains_statement(stmts, types)
    for stmt in stmts:
        stack = [stmt]
        while stack:
            node = stack.pop()
            if isinstance(node, types):
                return True
            if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            stack.extend(ast.iter_child_nodes(node))
    return False


class _Lowering:
    """Rewrites one function body; holds the fresh-name counter and the return flag."""

    def __init__(self, ret_flag):
        self.counter = _Counter()
        self.ret_flag = ret_flag

    # -- statement lists -------------------------------------------------
    def block(self, stmts, loop):
        """Lower a statement list; `loop` is (break_flag, continue_flag) or None."""
        out = []
        for index, stmt in enumerate(stmts):
            lowered, flags = self.stmt(stmt, loop)
            out.extend(lowered)
            if flags:
                rest = self.block(stmts[index + 1 :], loop)
                if rest:
                    for flag in reversed(sorted(flags)):
                        rest = [ast.If(test=_not(flag), body=rest, orelse=[])]
                    out.extend(rest)
                break
        return out

    def stmt(self, stmt, loop):
        """Lower one statement; returns (statements, flags it may set)."""
        if isinstance(stmt, ast.Return):
            if self.ret_flag is None:
                return [stmt], set()
            value = stmt.value if stmt.value is not None else ast.Constant(None)
            return [
                ast.copy_location(_assign("_retval", value), stmt),
                ast.copy_location(_assign(self.ret_flag, ast.Constant(True)), stmt),
            ], {self.ret_flag}
        if isinstance(stmt, ast.Break):
            if loop is None:
                raise DesugarError("`break` outside a loop", stmt)
            return [ast.copy_location(_assign(loop[0], ast.Constant(True)), stmt)], {loop[0]}
        if isinstance(stmt, ast.Continue):
            if loop is None:
                raise DesugarError("`continue` outside a loop", stmt)
            return [ast.copy_location(_assign(loop[1], ast.Constant(True)), stmt)], {loop[1]}
        if isinstance(stmt, ast.If):
            body = self.block(stmt.body, loop)
            orelse = self.block(stmt.orelse, loop)
            flags = self.flags_set(stmt.body + stmt.orelse, loop)
            return [ast.copy_location(ast.If(test=stmt.test, body=body, orelse=orelse), stmt)], flags
        if isinstance(stmt, (ast.For, ast.While)) and stmt.orelse:
            return self.loop_else(stmt, loop)
        if isinstance(stmt, ast.For):
            return self.for_loop(stmt)
        if isinstance(stmt, ast.While):
            return self.while_loop(stmt)
        if isinstance(stmt, ast.AugAssign):
            target = stmt.target
            load = clone(target)
            for node in walk(load):
                if hasattr(node, "ctx"):
                    node.ctx = ast.Load()
            value = ast.BinOp(left=load, op=stmt.op, right=stmt.value)
            return [ast.copy_location(ast.Assign(targets=[target], value=value), stmt)], set()
        if isinstance(stmt, ast.AnnAssign):
            if stmt.value is None:
                return [], set()
            return [ast.copy_location(ast.Assign(targets=[stmt.target], value=stmt.value), stmt)], set()
        if isinstance(stmt, ast.Assign):
            return self.assign(stmt), set()
        if isinstance(stmt, ast.Pass):
            return [], set()
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            return [], set()  # docstrings and bare string comments
        return [stmt], set()

    def flags_set(self, stmts, loop):
        flags = set()
        if self.ret_flag is not None and _contains(stmts, ast.Return):
            flags.add(self.ret_flag)
        if loop is not None:
            if _contains_direct(stmts, ast.Break):
                flags.add(loop[0])
            if _contains_direct(stmts, ast.Continue):
                flags.add(loop[1])
        return flags

    # -- assignments -------------------------------------------------------
    def assign(self, stmt):
        if len(stmt.targets) > 1:
            temp = self.counter.fresh("value")
            out = [ast.copy_location(_assign(temp, stmt.value), stmt)]
            for target in stmt.targets:
                out.extend(
                    self.assign(ast.copy_location(ast.Assign(targets=[target], value=_name(temp)), stmt))
                )
            return out
        target = stmt.targets[0]
        if not isinstance(target, (ast.Tuple, ast.List)):
            return [stmt]
        if any(isinstance(elt, ast.Starred) for elt in target.elts):
            raise DesugarError(
                "starred assignment targets are not supported", stmt, "index the sequence instead"
            )
        value = stmt.value
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            temps = [self.counter.fresh("value") for _ in value.elts]
            out = [ast.copy_location(_assign(t, v), stmt) for t, v in zip(temps, value.elts)]
        else:
            whole = self.counter.fresh("value")
            out = [ast.copy_location(_assign(whole, value), stmt)]
            temps = []
            for index in range(len(target.elts)):
                temp = self.counter.fresh("value")
                item = ast.Subscript(value=_name(whole), slice=ast.Constant(index), ctx=ast.Load())
                out.append(ast.copy_location(_assign(temp, item), stmt))
                temps.append(temp)
        for elt, temp in zip(target.elts, temps):
            out.extend(self.assign(ast.copy_location(ast.Assign(targets=[elt], value=_name(temp)), stmt)))
        return out

    # -- loops ---------------------------------------------------------------
    def loop_else(self, stmt, loop):
        """`for ...: ... else: rest` (or `while`): `rest` runs when the loop ends without `break`. A
        flag the loop's own `break`s clear says so; without a `break`, `rest` simply follows the loop.
        The `else` block's own `break` / `continue` belong to the enclosing `loop`."""
        plain = ast.copy_location(type(stmt)(**{**dict(ast.iter_fields(stmt)), "orelse": []}), stmt)
        if not _contains_direct(stmt.body, ast.Break):
            statements = [plain] + stmt.orelse
        else:
            flag = self.counter.fresh("no_break")
            plain.body = _clear_before_break(stmt.body, flag)
            done = ast.copy_location(ast.If(test=_name(flag), body=stmt.orelse, orelse=[]), stmt.orelse[0])
            statements = [ast.copy_location(_assign(flag, ast.Constant(True)), stmt), plain, done]
        return self.block(statements, loop), self.flags_set(statements, loop)

    def for_loop(self, stmt):
        pre, iterable, bind = self.iteration(stmt)
        exits = _contains_direct(stmt.body, (ast.Break, ast.Continue)) or (
            self.ret_flag is not None and _contains(stmt.body, ast.Return)
        )
        if bind is None and isinstance(stmt.target, ast.Name) and _rebinds(stmt.body, stmt.target.id):
            # `for i in range(n): ...; i = i + 1`: the body's `i` is a variable of its own, set from a
            # counter each iteration (the counter is what the loop, and its reversal, count with)
            def bind(index, name=stmt.target.id):
                return [ast.copy_location(_assign(name, _name(index)), stmt)]

        if not exits:
            index = self.counter.fresh("index") if bind is not None else None
            target = _name(index, ast.Store()) if bind is not None else stmt.target
            body = (bind(index) if bind is not None else []) + self.block(stmt.body, None)
            loop = ast.For(target=target, iter=iterable, body=body, orelse=[])
            return pre + [ast.copy_location(loop, stmt)], set()
        # a loop that can be left early becomes a `while` over an index
        brk, cont = self.counter.fresh("break"), self.counter.fresh("continue")
        rng, index = self.counter.fresh("range"), self.counter.fresh("index")
        head = pre + [
            _assign(brk, ast.Constant(False)),
            _assign(rng, iterable),
            _assign(index, ast.Constant(0)),
        ]
        element = ast.Subscript(value=_name(rng), slice=_name(index), ctx=ast.Load())
        if bind is None:
            first = [ast.Assign(targets=[stmt.target], value=element)]
            first = self.assign(ast.copy_location(first[0], stmt))
        else:
            item = self.counter.fresh("index")
            first = [_assign(item, element)] + bind(item)
        first.append(_assign(index, ast.BinOp(left=_name(index), op=ast.Add(), right=ast.Constant(1))))
        length = ast.Call(func=_name("len"), args=[_name(rng)], keywords=[])
        test = ast.Compare(left=_name(index), ops=[ast.Lt()], comparators=[length])
        return self.guarded_while(stmt, test, first, brk, cont, head)

    def while_loop(self, stmt):
        exits = _contains_direct(stmt.body, (ast.Break, ast.Continue)) or (
            self.ret_flag is not None and _contains(stmt.body, ast.Return)
        )
        if not exits:
            loop = ast.While(test=stmt.test, body=self.block(stmt.body, None), orelse=[])
            return [ast.copy_location(loop, stmt)], set()
        brk, cont = self.counter.fresh("break"), self.counter.fresh("continue")
        test = stmt.test
        if isinstance(test, ast.Constant) and test.value is True:
            test = None
        return self.guarded_while(stmt, test, [], brk, cont, [_assign(brk, ast.Constant(False))])

    def guarded_while(self, stmt, test, first, brk, cont, head):
        body = self.block(stmt.body, (brk, cont))
        if _contains_direct(stmt.body, ast.Continue):
            body = [_assign(cont, ast.Constant(False))] + body
        body = first + body
        conds = [_not(brk)]
        if self.ret_flag is not None and _contains(stmt.body, ast.Return):
            conds.insert(0, _not(self.ret_flag))
        if test is not None:
            conds.append(test)
        full = conds[0] if len(conds) == 1 else ast.BoolOp(op=ast.And(), values=conds)
        loop = ast.copy_location(ast.While(test=full, body=body, orelse=[]), stmt)
        for node in head:
            ast.copy_location(node, stmt)
        for node in first:
            ast.copy_location(node, stmt)
        flags = {self.ret_flag} if self.ret_flag is not None and _contains(stmt.body, ast.Return) else set()
        return head + [loop], flags

    def iteration(self, stmt):
        """(statements before the loop, the range to iterate, binder of the user's target)."""
        it = stmt.iter
        call = it if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) else None
        if call is not None and call.func.id == "range" and not call.keywords:
            return [], it, None
        if call is not None and call.func.id == "reversed" and len(call.args) == 1:
            inner = call.args[0]
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "range":
                flipped = ast.Subscript(
                    value=inner,
                    slice=ast.Slice(lower=None, upper=None, step=ast.Constant(-1)),
                    ctx=ast.Load(),
                )
                return [], flipped, None
            seq = self.counter.fresh("sequence")  # reversed(xs): a reversed copy (a view of an array)
            flipped = ast.Subscript(
                value=inner, slice=ast.Slice(lower=None, upper=None, step=ast.Constant(-1)), ctx=ast.Load()
            )
            pre = [ast.copy_location(_assign(seq, flipped), stmt)]
            target = stmt.target

            def bind(index):
                element = ast.Subscript(value=_name(seq), slice=_name(index), ctx=ast.Load())
                out = self.assign(ast.copy_location(ast.Assign(targets=[target], value=element), stmt))
                return [ast.copy_location(s, stmt) for s in out]

            return pre, _range_of_len([seq]), bind
        if call is not None and call.func.id == "enumerate" and len(call.args) == 1 and not call.keywords:
            inner = call.args[0]
            zipped = (  # enumerate(zip(a, b)): the items of a and b at the index
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id == "zip"
                and not inner.keywords
                and inner.args
            )
            sources = inner.args if zipped else [inner]
            seqs = [self.counter.fresh("sequence") for _ in sources]
            pre = [ast.copy_location(_assign(s, a), stmt) for s, a in zip(seqs, sources)]
            target = stmt.target
            if not (isinstance(target, ast.Tuple) and len(target.elts) == 2):
                raise DesugarError("unpack `enumerate` as `for i, item in enumerate(...)`", stmt)

            def bind(index):
                out = [ast.Assign(targets=[target.elts[0]], value=_name(index))]
                items = [ast.Subscript(value=_name(s), slice=_name(index), ctx=ast.Load()) for s in seqs]
                element = ast.Tuple(elts=items, ctx=ast.Load()) if zipped else items[0]
                out += self.assign(
                    ast.copy_location(ast.Assign(targets=[target.elts[1]], value=element), stmt)
                )
                return [ast.copy_location(s, stmt) for s in out]

            return pre, _range_of_len(seqs), bind
        if call is not None and call.func.id == "zip" and not call.keywords:
            seqs = [self.counter.fresh("sequence") for _ in call.args]
            pre = [ast.copy_location(_assign(s, a), stmt) for s, a in zip(seqs, call.args)]
            target = stmt.target

            def bind(index):
                items = [ast.Subscript(value=_name(s), slice=_name(index), ctx=ast.Load()) for s in seqs]
                value = ast.Tuple(elts=items, ctx=ast.Load())
                out = self.assign(ast.copy_location(ast.Assign(targets=[target], value=value), stmt))
                return [ast.copy_location(s, stmt) for s in out]

            return pre, _range_of_len(seqs), bind
        seq = self.counter.fresh("sequence")
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr in ("keys", "values", "items")
            and not it.args
            and not it.keywords
        ):  # a dict's view cannot be indexed: its list can
            it = ast.copy_location(ast.Call(func=_name("list"), args=[it], keywords=[]), it)
        pre = [ast.copy_location(_assign(seq, it), stmt)]
        target = stmt.target

        def bind(index):
            element = ast.Subscript(value=_name(seq), slice=_name(index), ctx=ast.Load())
            out = self.assign(ast.copy_location(ast.Assign(targets=[target], value=element), stmt))
            return [ast.copy_location(s, stmt) for s in out]

        return pre, _range_of_len([seq]), bind


def _range_of_len(seqs):
    lengths = [ast.Call(func=_name("len"), args=[_name(s)], keywords=[]) for s in seqs]
    size = lengths[0]
    for length in lengths[1:]:  # `min(a, b)` of two values at a time: zip of three sequences or more
        size = ast.Call(func=_name("min"), args=[size, length], keywords=[])
    return ast.Call(func=_name("range"), args=[size], keywords=[])


def _clear_before_break(stmts, flag):
    """`stmts` with `flag = False` before each `break` of their loop (not of loops inside it)."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, ast.Break):
            out.append(ast.copy_location(_assign(flag, ast.Constant(False)), stmt))
        elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
            stmt = ast.copy_location(type(stmt)(**dict(ast.iter_fields(stmt))), stmt)
            for attr in ("body", "orelse", "finalbody"):
                if getattr(stmt, attr, None):
                    setattr(stmt, attr, _clear_before_break(getattr(stmt, attr), flag))
        elif isinstance(stmt, (ast.For, ast.While)) and stmt.orelse:  # its `else` is in this loop
            stmt = ast.copy_location(type(stmt)(**dict(ast.iter_fields(stmt))), stmt)
            stmt.orelse = _clear_before_break(stmt.orelse, flag)
        out.append(stmt)
    return out


def _contains_direct(stmts, types):
    """Break/continue belonging to this loop: not inside a nested loop (but in its `else`)."""
    for stmt in stmts:
        stack = [stmt]
        while stack:
            node = stack.pop()
            if isinstance(node, types):
                return True
            if isinstance(node, (ast.For, ast.While)):
                stack.extend(node.orelse)
                continue
            if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            stack.extend(ast.iter_child_nodes(node))
    return False


def _contains_statement(stmts, types):
    """`_contains` for statement types: only statement lists are searched (expressions hold no
    statements; lambdas and nested defs are not entered)."""
    todo = list(stmts)
    for stmt in todo:
        if isinstance(stmt, types):
            return True
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for attr in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(stmt, attr, None)
            if inner.__class__ is list:
                todo.extend(inner)
        for case in getattr(stmt, "cases", None) or ():  # `match`
            todo.extend(case.body)
    return False


def _rebinds(stmts, name):
    """Do the statements (not nested definitions) assign `name`?"""
    for stmt in stmts:
        for node in walk(stmt):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
                return True
    return False


def _needs_return_flag(body):
    """True if some `return` is not the last top-level statement."""
    for index, stmt in enumerate(body):
        if isinstance(stmt, ast.Return) and index == len(body) - 1:
            continue
        if _contains([stmt], ast.Return):
            return True
    return False


def desugar(function, copy=True):
    """Return a desugared copy of the `ast.FunctionDef` `function` (see module doc); with
    `copy=False`, `function` itself, desugared in place."""
    if copy:
        function = clone(function)
    function = _Sums().function(function)
    function = _Lists().function(function)
    ret_flag = "_returned" if _needs_return_flag(function.body) else None
    lowering = _Lowering(ret_flag)
    body = lowering.block(function.body, None)
    if ret_flag is not None:
        last = function.body[-1]
        body = [_assign("_retval", ast.Constant(None)), _assign(ret_flag, ast.Constant(False))] + body
        body.append(ast.copy_location(ast.Return(value=_name("_retval")), last))
        for node in body[:2]:
            ast.copy_location(node, function.body[0])
    function.body = body
    fix_missing_locations(function)
    return function


__all__ = ["desugar", "DesugarError", "UnsupportedSyntaxError"]
