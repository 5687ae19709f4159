"""Checkpointed loops, for the reverse transform: a loop marked `# s2sad: checkpoint snapshots=N`
(s2sad/frontend/pragmas.py) records nothing per iteration in the forward sweep. It stores
snapshots of its state, the variables one iteration hands to the next, where a schedule of the
run-time library says (s2sad/runtime/checkpoints.py: revolve for `for` over `range`, an online
schedule for `while`); the backward sweep asks the schedule for the steps in reverse order, runs
each again from a snapshot, once more recording on the stack, and then runs its adjoint.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.transforms.reverse import reverse_transform
>>> tree = normalize(ast.parse('''
... def f(r, x, n):
...     for _ in range(n):
...         x = r * x * (1.0 - x)
...     return x
... ''').body[0])
>>> code = reverse_transform(tree, {}, {"r": "float", "x": "float", "n": "int"}, ["r", "x"], checkpoints={3: 20})
>>> print(ast.unparse(code.joint))
def f_vjp(r, x, n, x_bar=1.0):
    _stack = []
    _push = _stack.append
    _pop = _stack.pop
    _ckpt1 = _rt.BinomialCheckpoints(range(n), 20, copies=False)
    for _ in range(n):
        if _ == _ckpt1.due:
            _ckpt1.store(_, (x,))
        _t1 = r * x
        _t2 = 1.0 - x
        x = _t1 * _t2
    _push(_ckpt1)
    _value = x
    r_bar = 0.0
    _ckpt1 = _pop()
    for _ckpt1_first, _ckpt1_turn, (x,) in _ckpt1.reversal():
        for _ in range(_ckpt1_first, _ckpt1_turn):
            if _ == _ckpt1.due:
                _ckpt1.store(_, (x,))
            _t1 = r * x
            _t2 = 1.0 - x
            x = _t1 * _t2
        _t1 = r * x
        _t2 = 1.0 - x
        _push(x)
        x = _t1 * _t2
        x = _pop()
        _t1 = r * x
        _t2 = 1.0 - x
        _t1_bar = x_bar * _t2
        _t2_bar = _t1 * x_bar
        x_bar = -_t2_bar
        r_bar = r_bar + _t1_bar * x
        x_bar = x_bar + r * _t1_bar
    return (_value, (r_bar, x_bar))
"""

import ast

from .. import kinds as K
from ..modes import Mode
from ..analyses.activity import walk_statements
from ..astutil import clone, name_nodes, walk
from .derivatives import assign, call, is_scalar, load


class CheckpointedLoops:
    """The forward and backward code of checkpointed loops (a part of `ReverseTransform`)."""

    def _checkpointed_loops(self, lines):
        """{id(loop): snapshots} for the outermost loop at each marked line."""
        found, seen = {}, set()
        for loop in walk_statements(self.function.body):
            line = getattr(loop, "lineno", None)
            if isinstance(loop, (ast.For, ast.While)) and line in lines and line not in seen:
                seen.add(line)
                if not any(isinstance(n.ctx, ast.Store) and n.id in self.active for n in name_nodes(loop)):
                    self.checkpoint_report.append((line, lines[line], None, ()))  # nothing to reverse
                    continue
                found[id(loop)] = lines[line]
        return found

    # -- what the loop reads and hands on ------------------------------------------------------
    def loop_state(self, loop):
        """(state, invariants): the variables one iteration may hand to the next or that code after
        the loop's reversal may read from before it (written in the loop and bound outside it, or
        read in an iteration before it writes them), in order of appearance; and the local
        variables the loop reads and never writes."""
        found = self._loop_states.get(id(loop))
        if found is not None:
            return found
        target = loop.target.id if isinstance(loop, ast.For) else None
        parts = loop.body if target else loop.body + [ast.Expr(loop.test)]
        written, read = [], []
        for node in walk(ast.Module(body=parts, type_ignores=[])):
            if isinstance(node, ast.Name):
                (written if isinstance(node.ctx, ast.Store) else read).append(node.id)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
                written.append(_base(node))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                base = node.func.value
                if isinstance(base, ast.Name) and self.kinds.get(base.id) == K.LIST:
                    written.append(base.id)  # `xs.append(v)` changes the list in place
        inside = {id(node) for node in walk(loop)}
        outside = set(self.params) | {
            node.id
            for node in walk(self.function)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and id(node) not in inside
        }
        exposed = _exposed(parts, {target} if target else set())
        first_seen = {}
        for node in walk(ast.Module(body=parts, type_ignores=[])):
            if isinstance(node, ast.Name):
                place = (node.id.startswith("_"), getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
                first_seen[node.id] = min(first_seen.get(node.id, place), place)
        state = sorted(
            (n for n in set(written) if n != target and (n in outside or n in exposed)),
            key=lambda n: (first_seen[n], n),
        )  # the user's variables in the order the loop first mentions them, then temporaries
        local = outside | set(written)
        invariants = {n for n in read if n not in written and n != target and n in local}
        self._loop_states[id(loop)] = found = (state, invariants)
        return found

    def checkpoint_reads(self, loop):
        """What the backward sweep reads at a checkpointed loop besides what its adjoints read: the
        variables the loop reads and does not write (its iterations run again there)."""
        if id(loop) not in self.checkpointed:
            return set()
        return self.loop_state(loop)[1]

    # -- forward sweep -------------------------------------------------------------------------
    def primal_body(self, loop):
        """The loop's body as the primal runs it: nothing recorded."""
        self.untaped += 1
        body = self.forward_sweep(loop.body)
        self.untaped -= 1
        return body

    def checkpointed_forward(self, loop):
        """The loop storing snapshots where its schedule says, and the schedule pushed."""
        snapshots = self.checkpointed[id(loop)]
        schedule = self.names.fresh("ckpt")
        self._schedules[id(loop)] = schedule
        state, _ = self.loop_state(loop)
        copies = not all(is_scalar(self.kinds.get(n)) for n in state)
        options = [] if copies else [ast.keyword(arg="copies", value=ast.Constant(False))]
        body = self.primal_body(loop)
        self._taped[id(loop)] = self.loop_body(loop)  # what the backward sweep runs, recording, per step
        self.recording.maybe_unbound.update(self.loop_state_unbound(loop))
        if isinstance(loop, ast.For):
            if not _is_range(loop.iter):
                raise NotImplementedError("checkpointing: a `for` loop over `range(...)`")
            make = ast.Call(
                func=_attribute("_rt.BinomialCheckpoints"),
                args=[clone(loop.iter), ast.Constant(snapshots)],
                keywords=options,
            )
            position, target = self._positions(loop, schedule)
            node = ast.For(
                target=target,
                iter=clone(loop.iter) if position == loop.target.id else call("enumerate", clone(loop.iter)),
                body=[_store_when_due(schedule, position, state)] + body,
                orelse=[],
            )
            code = [assign(schedule, make, loop), ast.copy_location(node, loop)]
            kind = "binomial (revolve) schedule"
        else:
            steps = self.names._unique(f"{schedule}_steps")
            make = ast.Call(
                func=_attribute("_rt.OnlineCheckpoints"), args=[ast.Constant(snapshots)], keywords=options
            )
            count = assign(steps, ast.BinOp(left=load(steps), op=ast.Add(), right=ast.Constant(1)))
            store = ast.Expr(call(f"{schedule}.store", load(steps), _state_tuple(state)))
            node = ast.While(test=clone(loop.test), body=[store] + body + [count], orelse=[])
            code = [
                assign(schedule, make, loop),
                assign(steps, ast.Constant(0), loop),
                ast.copy_location(node, loop),
                ast.Expr(call(f"{schedule}.stop", load(steps))),
            ]
            kind = "online schedule (Wang, Moin and Iaccarino)"
        push = self.note_push(
            ast.Expr(call("_push", load(schedule))), ("checkpoints", id(loop)), tape_ok=False
        )
        self.checkpoint_report.append((getattr(loop, "lineno", None), snapshots, kind, state))
        return [ast.copy_location(s, loop) for s in code] + [ast.copy_location(push, loop)]

    def loop_state_unbound(self, loop):
        """State variables nothing may have bound when the loop starts (`None` before it, for the
        first snapshot)."""
        state, _ = self.loop_state(loop)
        inside = {id(node) for node in walk(loop)}
        bound = set(self.params) | {
            node.id
            for node in walk(self.function)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and id(node) not in inside
        }
        return {n for n in state if n not in bound}

    def _positions(self, loop, schedule):
        """(the variable counting the steps, the loop's target): the loop's own for `range(n)`."""
        target = loop.target.id
        if len(loop.iter.args) == 1 and not loop.iter.keywords:
            return target, ast.Name(target, ast.Store())
        position = self.names._unique(f"{schedule}_step")
        return position, ast.Tuple(
            elts=[ast.Name(position, ast.Store()), ast.Name(target, ast.Store())], ctx=ast.Store()
        )

    # -- backward sweep ------------------------------------------------------------------------
    def checkpointed_backward(self, loop, adjoint):
        """The schedule popped; for each step it names, from the last: advance from a snapshot
        (storing where it says), run the step recording, run its adjoint."""
        schedule = self._schedules[id(loop)]
        state, _ = self.loop_state(loop)
        first, turn = self.names._unique(f"{schedule}_first"), self.names._unique(f"{schedule}_turn")
        advance = clone(self.primal_body(loop))
        if isinstance(loop, ast.For):
            position, _ = self._positions(loop, schedule)
            values = call("range", load(first), load(turn))
            read = loop.target.id in _reads_of(ast.Module(body=loop.body, type_ignores=[]))
            if position == loop.target.id:
                step = [assign(loop.target.id, load(turn))] if read else []
                advance_loop = ast.For(
                    target=ast.Name(position, ast.Store()),
                    iter=values,
                    body=[_store_when_due(schedule, position, state)] + advance,
                    orelse=[],
                )
            else:
                value_at = lambda k: ast.Subscript(
                    value=_attribute(f"{schedule}.values"), slice=load(k), ctx=ast.Load()
                )
                step = [assign(loop.target.id, value_at(turn))]
                advance_loop = ast.For(
                    target=ast.Name(position, ast.Store()),
                    iter=values,
                    orelse=[],
                    body=[
                        assign(loop.target.id, value_at(position)),
                        _store_when_due(schedule, position, state),
                    ]
                    + advance,
                )
        else:
            position = self.names._unique(f"{schedule}_step")
            step = []
            advance_loop = ast.For(
                target=ast.Name(position, ast.Store()),
                iter=call("range", load(first), load(turn)),
                body=[_store_when_due(schedule, position, state)] + advance,
                orelse=[],
            )
        reversal = call(
            f"{schedule}.reversal",
            *([ast.Constant(True)] if self.mode in (Mode.SPLIT, Mode.RECURSIVE) else []),
        )
        target = ast.Tuple(
            elts=[
                ast.Name(first, ast.Store()),
                ast.Name(turn, ast.Store()),
                _state_tuple(state, ast.Store()),
            ],
            ctx=ast.Store(),
        )
        body = [advance_loop] + step + self._taped[id(loop)] + adjoint
        node = ast.For(target=target, iter=reversal, body=body, orelse=[])
        code = [assign(schedule, self.pop(("checkpoints", id(loop))), loop), ast.copy_location(node, loop)]
        if self.recording.restored_state.get(id(loop)):  # read by the backward sweep of earlier code
            start = call(f"{schedule}.start", _state_tuple(state))
            code.append(
                ast.copy_location(ast.Assign(targets=[_state_tuple(state, ast.Store())], value=start), loop)
            )
        return code


def _base(node):
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _exposed(stmts, defined):
    """Names `stmts` read before they surely assign them."""
    out = set()
    for stmt in stmts:
        if isinstance(stmt, ast.If):
            out |= _reads_of(stmt.test) - defined
            in_body, in_else = set(defined), set(defined)
            out |= _exposed(stmt.body, in_body) | _exposed(stmt.orelse, in_else)
            defined |= in_body & in_else
        elif isinstance(stmt, ast.For):
            out |= _reads_of(stmt.iter) - defined
            out |= _exposed(
                stmt.body,
                set(defined) | {stmt.target.id} if isinstance(stmt.target, ast.Name) else set(defined),
            )
        elif isinstance(stmt, ast.While):
            out |= _reads_of(stmt.test) - defined
            out |= _exposed(stmt.body, set(defined))
        else:
            out |= _reads_of(stmt) - defined
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                defined.add(stmt.targets[0].id)
    return out


def exposed_reads(stmts):
    """Names `stmts` may read before assigning them."""
    return _exposed(stmts, set())


def _reads_of(node):
    return {n.id for n in name_nodes(node) if isinstance(n.ctx, ast.Load)}


def _is_range(node):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"


def _attribute(dotted):
    return call(dotted).func


def _state_tuple(state, ctx=None):
    ctx = ctx or ast.Load()
    return ast.Tuple(elts=[ast.Name(n, ctx.__class__()) for n in state], ctx=ctx)


def _store_when_due(schedule, position, state):
    """`if k == _ckpt1.due: _ckpt1.store(k, (x, y))`."""
    due = ast.Compare(left=load(position), ops=[ast.Eq()], comparators=[_attribute(f"{schedule}.due")])
    store = ast.Expr(call(f"{schedule}.store", load(position), _state_tuple(state)))
    return ast.If(test=due, body=[store], orelse=[])
