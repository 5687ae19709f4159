"""List tangents, for the forward transform: the tangent of a list is a list kept in step with it
(`xs + ys`, `xs * n`, copies; `append` and `pop` change both lists alike).
"""

import ast
import operator

from .. import kinds as K
from ..astutil import clone
from .derivatives import assign, call, is_zero, load, local_atom


class ListTangents:
    """The tangents of list operations (a part of `ForwardTransform`)."""

    def list_tangent(self, prim, state):
        """`xs + ys` (both sides' tangents, zeros for a constant side), `xs * n`, and copies
        `list(xs)`, `xs.copy()` of lists; None for a zero tangent."""
        if prim.rule.key is operator.mul:  # `xs * n`, `n * xs`: the tangent repeats (`n` is a count)
            lists = [a for a in prim.args if self.kinds.get(local_atom(a, self.globals)) == K.LIST]
            tangent = self.tangent_of(lists[0], state)
            if is_zero(tangent):
                return None
            count = [a for a in prim.args if a is not lists[0]][0]
            return ast.BinOp(left=tangent, op=ast.Mult(), right=clone(count))
        tangents = [self.tangent_of(atom, state) for atom in prim.args]
        if all(is_zero(t) for t in tangents):
            return None
        if prim.rule.key is not operator.add:
            return call("list", tangents[0])
        left, right = (self.zeros(a) if is_zero(t) else t for a, t in zip(prim.args, tangents))
        return ast.BinOp(left=left, op=ast.Add(), right=right)

    def append(self, stmt, prim, state):
        """`xs.append(v)`: `xs_dot.append(v_dot)`, zeros for a constant `v`."""
        base, value = prim.args[0].id, prim.args[1]
        out = [stmt]
        if base not in self.active:
            return out
        tangent = self.tangent_of(value, state)
        if base not in state:
            if is_zero(tangent):
                return out
            out.insert(0, self.materialize(base))  # zeros for the items already in the list
            state.add(base)
        if is_zero(tangent):
            tangent = self.zeros(value)
        push = ast.Attribute(value=load(self.dot(base)), attr="append", ctx=ast.Load())
        out.append(ast.copy_location(ast.Expr(ast.Call(func=push, args=[tangent], keywords=[])), stmt))
        return out

    def pop(self, stmt, prim, state):
        """`y = xs.pop(i)`: `y_dot = xs_dot.pop(i)` (popped and dropped when `y` is not active)."""
        name, base = stmt.targets[0].id, local_atom(prim.args[0], self.globals)
        out = [stmt]
        if base is None or base not in state:
            state.discard(name)
            return out
        method = ast.Attribute(value=load(self.dot(base)), attr="pop", ctx=ast.Load())
        popped = ast.Call(func=method, args=clone(prim.args[1:]), keywords=[])
        if name in self.active:
            out.append(assign(self.dot(name), popped, stmt))
            state.add(name)
        else:
            out.append(ast.copy_location(ast.Expr(popped), stmt))
            state.discard(name)
        return out
