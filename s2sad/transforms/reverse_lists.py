"""List adjoints, for the reverse transform: the backward sweep undoes each `append`, `pop` and
item write of a list, on the list and on its adjoint (a list kept aligned with it).
"""

import ast
import operator


from .. import kinds as K
from ..astutil import clone
from .derivatives import assign, call, is_scalar, load, local_atom, names_read
from .reverse_statements import MAYBE_ZERO, PRESENT


class ListAdjoints:
    """The adjoints of list operations (a part of `ReverseTransform`)."""

    def list_operator_parts(self, rule, prim, z_bar):
        """`xs + ys` (each side its part of the adjoint) and `xs * n` (the copies summed)."""
        parts = []
        if rule.key is operator.add:
            left, right = prim.args
            split = call("len", clone(left))
            for atom, bounds in (
                (left, (ast.Constant(0), split)),
                (right, (clone(split), ast.Constant(None))),
            ):
                if local_atom(atom, self.globals) in self.active:
                    parts.append(
                        (local_atom(atom, self.globals), call("_rt.list_part", clone(z_bar), *bounds))
                    )
            return parts
        for atom in prim.args:
            if (
                self.kinds.get(local_atom(atom, self.globals)) == K.LIST
                and local_atom(atom, self.globals) in self.active
            ):
                parts.append(
                    (
                        local_atom(atom, self.globals),
                        call("_rt.list_repeat_adjoint", clone(z_bar), clone(atom)),
                    )
                )
        return parts

    def list_change(self, stmt):
        """For to-be-recorded: (list, names the undo reads, always undo) of `xs.append(v)` and
        `y = xs.pop(i)`, else None. Changes of an active list are always undone: its adjoint
        stays aligned with it."""
        prim = self.analysis.primitives.get(id(stmt))
        if prim is None or prim.kind not in ("list_append", "list_pop"):
            return None
        base = local_atom(prim.args[0], self.globals)
        if base is None:
            return None
        reads = set() if prim.kind == "list_append" else {n for a in prim.args[1:] for n in names_read(a)}
        return base, reads, base in self.active

    # -- lists: the backward sweep undoes `append`, `pop` and item writes, adjoint and list alike -----
    def list_adjoint(self, base, state, where):
        """Statements making `base`'s adjoint a list aligned with `base` (zeros if it has none)."""
        if base not in state:
            state[base] = PRESENT
            return [assign(self.bar(base), call("_rt.zeros_like", load(base)), where)]
        if state[base] == MAYBE_ZERO:
            state[base] = PRESENT
            return [assign(self.bar(base), call("_rt.list_like", load(self.bar(base)), load(base)), where)]
        return []

    def _method(self, obj, method, *args):
        return ast.Call(
            func=ast.Attribute(value=load(obj), attr=method, ctx=ast.Load()), args=list(args), keywords=[]
        )

    def backward_append(self, stmt, prim, state):
        """`xs.append(v)`: `v_bar += xs_bar.pop()`, then `xs.pop()` restores the list."""
        base, value = prim.args[0].id, prim.args[1]
        out = []
        if base in state:
            out += self.list_adjoint(base, state, stmt)
            popped = self._method(self.bar(base), "pop")
            operand = local_atom(value, self.globals)
            if operand in self.active:
                out += self.accumulate(operand, popped, state, stmt)
            else:
                out.append(ast.copy_location(ast.Expr(popped), stmt))
        if id(stmt) in self.recording.restores:
            self.restored_lists.add(base)
            out.append(ast.copy_location(ast.Expr(self._method(base, "pop")), stmt))
        return out

    def backward_pop(self, stmt, prim, state):
        """`y = xs.pop(i)`: `y_bar` goes back into `xs_bar` at `i`, `y` back into `xs`."""
        name, base = stmt.targets[0].id, local_atom(prim.args[0], self.globals)
        index = prim.args[1:]
        out = []

        def put_back(obj, item):
            if index:
                return ast.Expr(call("_rt.list_insert", load(obj), clone(index[0]), item))
            return ast.Expr(self._method(obj, "append", item))

        if base in self.active and (base in state or name in state):
            out += self.list_adjoint(base, state, stmt)
            if name in state:
                item = load(self.bar(name))
                if state[name] == MAYBE_ZERO and not is_scalar(self.kinds.get(name)):
                    helper = "_rt.list_like" if self.kinds.get(name) == K.LIST else "_rt.like"
                    item = call(helper, item, load(name))  # items of list adjoints are never placeholders
            else:
                item = call("_rt.zeros_like", load(name))
            out.append(ast.copy_location(put_back(self.bar(base), item), stmt))
        state.pop(name, None)
        if id(stmt) in self.recording.restores:
            self.restored_lists.add(base)
            out.append(ast.copy_location(put_back(base, load(name)), stmt))
        if id(stmt) in self.recording.pushes:
            out.append(assign(name, self.pop(id(stmt)), stmt))
        return out

    def backward_list_write(self, stmt, state):
        """`xs[i] = v`: `v_bar += xs_bar[i]`, the old item popped back, its adjoint zeroed."""
        target = stmt.targets[0]
        base = target.value.id
        out = []
        if base in state:
            out += self.list_adjoint(base, state, stmt)
            for operand, expr in self.adjoint_parts(stmt):
                out += self.accumulate(operand, expr, state, stmt)
        if id(stmt) in self.recording.pushes:
            self.restored_lists.add(base)
            store = ast.Subscript(value=load(base), slice=clone(target.slice), ctx=ast.Store())
            out.append(ast.copy_location(ast.Assign(targets=[store], value=self.pop(id(stmt))), stmt))
        if base in state:
            store = ast.Subscript(value=load(self.bar(base)), slice=clone(target.slice), ctx=ast.Store())
            old = ast.Subscript(value=load(base), slice=clone(target.slice), ctx=ast.Load())
            out.append(
                ast.copy_location(ast.Assign(targets=[store], value=call("_rt.zeros_like", old)), stmt)
            )
        return out
