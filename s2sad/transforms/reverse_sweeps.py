"""Control flow and tapes, for the reverse transform: the forward sweep (primal code plus pushes
and loop tapes) and the backward sweep of `if`, `for` and `while` (pops, reversed ranges).
"""

import ast
import builtins
import copy


from .. import config
from .. import kinds as K
from ..analyses.activity import walk_statements
from ..analyses.primitives import derivative_call_role
from ..astutil import clone, name_nodes, walk
from ..modes import Mode
from .derivatives import assign, call, load, local_atom, names_read
from .reverse_statements import MAYBE_ZERO, PRESENT


class Sweeps:
    """The forward and backward sweeps over control flow (a part of `ReverseTransform`)."""

    # -- forward sweep ----------------------------------------------------------------
    def _slice_of_written_array(self, stmt):
        """`_t = b[1:3]` where `b` is written in place later: a view that would change."""
        value = stmt.value
        if not (isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name)):
            return False
        if value.value.id not in self.setitem_bases or not stmt.targets[0].id.startswith("_"):
            return False
        if self.kinds.get(value.value.id) == K.LIST:  # slicing a list copies it
            return False
        return any(
            isinstance(n, ast.Slice) or (isinstance(n, ast.Constant) and n.value in (None, Ellipsis))
            for n in walk(value.slice)
        )

    def forward_sweep(self, stmts):
        out = []
        for stmt in stmts:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and self._slice_of_written_array(stmt)
            ):
                stmt.value = call("_rt.copy", stmt.value)
            if isinstance(stmt, ast.Assign):
                if id(stmt) in self.recording.pushes and not self.untaped:
                    target = stmt.targets[0]
                    if isinstance(target, ast.Name):
                        saved = load(target.id)
                    else:
                        old = ast.Subscript(
                            value=load(target.value.id), slice=clone(target.slice), ctx=ast.Load()
                        )
                        # an array's slice is copied; a list's item is kept as it is (never written into)
                        saved = old if self.kinds.get(target.value.id) == K.LIST else call("_rt.copy", old)
                    push = ast.copy_location(ast.Expr(call("_push", saved)), stmt)
                    tape_ok = isinstance(target, ast.Name) and target.id not in self.setitem_bases
                    out.append(self.note_push(push, id(stmt), tape_ok))
                out.extend(self.forward_statement(stmt))
            elif isinstance(stmt, ast.If):
                node = copy.copy(stmt)
                node.body = self.forward_sweep(stmt.body) or [ast.Pass()]
                node.orelse = self.forward_sweep(stmt.orelse)
                out.append(node)
            elif isinstance(stmt, (ast.For, ast.While)) and self.untaped:
                node = copy.copy(stmt)
                node.body = self.forward_sweep(stmt.body)
                out.append(node)
            elif isinstance(stmt, (ast.For, ast.While)) and id(stmt) in self.checkpointed:
                if isinstance(stmt, ast.For) and id(stmt) in self.recording.loop_target_pushes:
                    push = ast.Expr(call("_push", load(stmt.target.id)))
                    out.append(self.note_push(push, ("target", id(stmt))))
                out += self.checkpointed_forward(stmt)
            elif isinstance(stmt, ast.For):
                if id(stmt) in self.recording.loop_target_pushes:
                    push = ast.Expr(call("_push", load(stmt.target.id)))
                    out.append(self.note_push(push, ("target", id(stmt))))
                node = copy.copy(stmt)
                node.body = self.loop_body(stmt)
                out += self.tape_start(stmt) + [node] + self.tape_end(stmt)
            elif isinstance(stmt, ast.While):
                node = copy.copy(stmt)
                node.body = self.loop_body(stmt)
                if id(stmt) in self.loop_tapes:
                    out += self.tape_start(stmt) + [node] + self.tape_end(stmt)
                    continue
                counter = self.names.fresh("loop")
                self.loop_counters[id(stmt)] = counter
                increment = ast.BinOp(left=load(counter), op=ast.Add(), right=ast.Constant(1))
                node.body = node.body + [assign(counter, increment)]
                push = self.note_push(ast.Expr(call("_push", load(counter))), ("count", id(stmt)))
                out += [assign(counter, ast.Constant(0), stmt), node, push]
            elif isinstance(stmt, ast.Return):
                continue
            else:
                out.append(stmt)
        return out

    def forward_statement(self, stmt):
        """The statement as the forward sweep runs it. A call that is not inlined (see
        s2sad.frontend.inline) sweeps its callee with `wrt=`: the positions of the active arguments, those
        the backward sweep needs cotangents for; a call whose result is not active calls the
        user's function itself."""
        role = derivative_call_role(self.analysis.primitives.get(id(stmt)))
        if role is None:
            return [stmt]
        if self.swept is None:
            self.swept = {}
            for other in walk_statements(self.function.body):
                prim = self.analysis.primitives.get(id(other))
                if derivative_call_role(prim) == "value":
                    self.swept[local_atom(prim.args[1])] = (other.targets[0].id, prim.args[2:])
        if role == "value":
            if stmt.targets[0].id in self.active:
                return self.recursive_value(stmt) if self.mode is Mode.RECURSIVE else [stmt]
            function, operands = stmt.value.args[0], stmt.value.args[2:]
            plain = ast.Call(func=clone(function), args=clone(operands), keywords=[])
            return [assign(stmt.targets[0].id, plain, stmt)]
        result, operands = self.swept.get(stmt.targets[0].id, (None, []))
        if result not in self.active:
            return []
        wrt = [i for i, atom in enumerate(operands) if local_atom(atom) in self.active]
        return self.recursive_sweep(stmt, operands, wrt)  # (see reverse_calls)

    # -- loop tapes --------------------------------------------------------------------------
    def loop_body(self, loop):
        """The forward body of a loop; the values it pushes every iteration go to the loop's own
        tape, a list the backward loop iterates over in reverse (no pop call per value, and
        the trip count is the tape's length)."""
        self.loop_depth += 1
        body = self.forward_sweep(loop.body)
        self.loop_depth -= 1
        pushes = [s for s in body if isinstance(s, ast.Expr) and self.pushes.get(id(s), (None, False))[1]]
        if pushes and config.enabled() and not self.portable and id(loop) not in self.checkpointed:
            tape = self.names.fresh("tape")
            saved_names = [push.value.args[0].id for push in pushes]
            variables = [self.names._unique(f"{tape}_{saved.lstrip('_')}") for saved in saved_names]
            for push, variable in zip(pushes, variables):
                self.tape_vars[self.pushes[id(push)][0]] = variable
            self.records.append((getattr(loop, "lineno", None), saved_names))
            append = None
            if _counted(loop) and self.namespace.get("range", builtins.range) is builtins.range:
                # the trip count is known at the start: one list per value, filled by index
                lists = [self.names._unique(f"{tape}_{saved.lstrip('_')}s") for saved in saved_names]
                self.tape_lists[id(loop)] = lists
                for push, name in zip(pushes, lists):
                    slot = ast.Subscript(value=load(name), slice=load(loop.target.id), ctx=ast.Store())
                    store = ast.copy_location(ast.Assign(targets=[slot], value=push.value.args[0]), push)
                    body[body.index(push)] = store
            else:  # one list, appended to
                append = self.names._unique(f"{tape}_push")
                for push in pushes:
                    push.value.func = load(append)
            self.loop_tapes[id(loop)] = (tape, append, variables, self.loop_depth > 0)
        return body

    def tape_start(self, loop):
        if id(loop) not in self.loop_tapes:
            return []
        tape, append, _, _ = self.loop_tapes[id(loop)]
        if id(loop) in self.tape_lists:  # `[None] * n` for `range(n)`
            count = loop.iter.args[0]
            empty = ast.BinOp(
                left=ast.List(elts=[ast.Constant(None)], ctx=ast.Load()), op=ast.Mult(), right=clone(count)
            )
            return [assign(name, clone(empty), loop) for name in self.tape_lists[id(loop)]]
        return [
            assign(tape, ast.List(elts=[], ctx=ast.Load()), loop),
            assign(append, ast.Attribute(value=load(tape), attr="append", ctx=ast.Load()), loop),
        ]

    def note_push(self, push, restores, tape_ok=True):
        """Record what the push statement `push` saves (`restores`: the statement, loop target,
        trip count or tape it saves) and whether a loop tape may take it; returns `push`."""
        self.pushes[id(push)] = (restores, tape_ok)
        return push

    def tape_end(self, loop):
        """A loop inside another loop starts a fresh tape each time: the tape itself is saved."""
        if id(loop) not in self.loop_tapes or not self.loop_tapes[id(loop)][3]:
            return []
        pushes = []
        for k, name in enumerate(self.tape_lists.get(id(loop)) or [self.loop_tapes[id(loop)][0]]):
            pushes.append(self.note_push(ast.Expr(call("_push", load(name))), ("tape", id(loop), k)))
        return pushes

    def pop(self, restores):
        """The expression restoring a pushed value: the tape variable, or a pop from the stack."""
        if restores in self.tape_vars:
            return load(self.tape_vars[restores])
        return call("_pop")

    def taped_loop(self, loop, body):
        """`for x in reversed(_tape1): ...` (several values: `zip` over one reversed iterator)."""
        tape, _, variables, nested = self.loop_tapes[id(loop)]
        lists = self.tape_lists.get(id(loop))
        saved = lists or [tape]
        pre = (
            [assign(saved[k], self.pop(("tape", id(loop), k)), loop) for k in reversed(range(len(saved)))]
            if nested
            else []
        )
        body = list(body)
        bound = {}
        names_in = [[n.id for n in name_nodes(s)] for s in body]  # per statement
        for var in variables:  # bind the restored variable itself when nothing reads it earlier
            reads = sum(ids.count(var) for ids in names_in)
            for index, s in enumerate(body):
                if isinstance(s, ast.Assign) and isinstance(s.value, ast.Name) and s.value.id == var:
                    name = s.targets[0].id if isinstance(s.targets[0], ast.Name) else None
                    if (
                        name
                        and reads == 1
                        and name not in bound.values()
                        and name not in variables
                        and not any(name in ids for ids in names_in[:index])
                    ):
                        bound[var] = name
                        del body[index]
                        del names_in[index]
                    break
        targets = [bound.get(v, v) for v in (variables if lists else reversed(variables))]
        iterators = []
        if isinstance(loop, ast.For) and loop.target.id in names_read(ast.Module(body=body, type_ignores=[])):
            if loop.target.id not in targets:
                targets.insert(0, loop.target.id)
                iterators.append(call("reversed", clone(loop.iter)))
        if lists:  # one list per value: `zip(reversed(_tape1_xs), reversed(_tape1_ys))`
            iterators += [call("reversed", load(name)) for name in lists]
        elif len(variables) == 1:
            iterators.append(call("reversed", load(tape)))
        else:
            reverse = self.names._unique(f"{tape}_reversed")
            pre.append(assign(reverse, call("reversed", load(tape)), loop))
            iterators += [load(reverse)] * len(variables)
        if len(targets) == 1:
            target, iterable = ast.Name(targets[0], ast.Store()), iterators[0]
        else:
            target = ast.Tuple(elts=[ast.Name(t, ast.Store()) for t in targets], ctx=ast.Store())
            iterable = call("zip", *iterators)
        loop_node = ast.For(target=target, iter=iterable, body=body or [ast.Pass()], orelse=[])
        return pre + [ast.copy_location(loop_node, loop)]

    def backward(self, stmts, state):
        out = []
        for stmt in reversed(stmts):
            out.extend(self.backward_stmt(stmt, state))
        return out

    def backward_stmt(self, stmt, state):
        if isinstance(stmt, ast.Assign):
            return self.backward_assign(stmt, state)
        if isinstance(stmt, ast.Expr):
            prim = self.analysis.primitives.get(id(stmt))
            return self.backward_append(stmt, prim, state) if prim is not None else []
        if isinstance(stmt, ast.If):
            s1, s2 = dict(state), dict(state)
            body, orelse = self.backward(stmt.body, s1), self.backward(stmt.orelse, s2)
            joined = _join(s1, s2)
            body += [self.materialize(n) for n in sorted(joined) if n not in s1]
            orelse += [self.materialize(n) for n in sorted(joined) if n not in s2]
            state.clear()
            state.update(joined)
            if not body and not orelse:
                return []
            if not body:
                test = ast.UnaryOp(op=ast.Not(), operand=clone(stmt.test))
                return [ast.copy_location(ast.If(test=test, body=orelse, orelse=[]), stmt)]
            return [ast.copy_location(ast.If(test=clone(stmt.test), body=body, orelse=orelse), stmt)]
        if isinstance(stmt, (ast.For, ast.While)):
            entry = dict(state)
            while True:
                inner = dict(entry)
                body = self.backward(stmt.body, inner)
                joined = _join(entry, inner)
                if joined == entry:
                    break
                entry = joined
            pre = [self.materialize(n) for n in sorted(entry) if n not in state]
            body += [self.materialize(n) for n in sorted(entry) if n not in inner]
            state.clear()
            state.update(entry)
            if id(stmt) in self.checkpointed:
                post = []
                if isinstance(stmt, ast.For) and id(stmt) in self.recording.loop_target_pushes:
                    post = [assign(stmt.target.id, self.pop(("target", id(stmt))))]
                return pre + self.checkpointed_backward(stmt, body) + post
            if id(stmt) in self.loop_tapes:
                post = []
                if isinstance(stmt, ast.For) and id(stmt) in self.recording.loop_target_pushes:
                    post = [assign(stmt.target.id, self.pop(("target", id(stmt))))]
                return pre + self.taped_loop(stmt, body) + post
            if isinstance(stmt, ast.For):
                iterable = call("reversed", clone(stmt.iter))
                loop = ast.For(
                    target=ast.Name(stmt.target.id, ast.Store()),
                    iter=iterable,
                    body=body or [ast.Pass()],
                    orelse=[],
                )
                post = []
                if id(stmt) in self.recording.loop_target_pushes:
                    post = [assign(stmt.target.id, self.pop(("target", id(stmt))))]
                return pre + [ast.copy_location(loop, stmt)] + post
            counter = self.loop_counters[id(stmt)]
            loop = ast.For(
                target=ast.Name("_", ast.Store()),
                iter=call("range", load(counter)),
                body=body or [ast.Pass()],
                orelse=[],
            )
            return [assign(counter, self.pop(("count", id(stmt))))] + pre + [ast.copy_location(loop, stmt)]
        return []


def _counted(loop):
    """Is `loop` a `for t in range(n)` whose body leaves `t` alone? Then iteration `t` may store
    what it records at index `t` of lists made before the loop (a `for` loop that can be left
    early was made a `while` loop by desugaring, so all `n` iterations run)."""
    if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)):
        return False
    it = loop.iter
    if not (
        isinstance(it, ast.Call)
        and isinstance(it.func, ast.Name)
        and it.func.id == "range"
        and len(it.args) == 1
        and not it.keywords
        and isinstance(it.args[0], (ast.Name, ast.Constant))
    ):
        return False
    stored = {n.id for s in loop.body for n in name_nodes(s) if isinstance(n.ctx, ast.Store)}
    return loop.target.id not in stored


def _join(a, b):
    out = {}
    for name in set(a) | set(b):
        if a.get(name) == PRESENT and b.get(name) == PRESENT:
            out[name] = PRESENT
        else:
            out[name] = MAYBE_ZERO
    return out
