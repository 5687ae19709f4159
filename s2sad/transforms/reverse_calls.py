"""Calls s2sad does not inline (recursion) in the RECURSIVE mode's code: the calling convention of
a recursion's derivative (a part of `ReverseTransform`).

The mode's forward sweep `f_forward(*args)` returns `(value, residuals, f_backward)`, and its
backward sweep `f_backward(residuals, out_bar, *adjoints)` takes the adjoints accumulated so far of
the differentiated arguments (None for a zero), adds its contributions (in place where the adjoint
is an array the caller owns) and returns them. A call `z = f(a, n)` of a function not inlined is

    _f_call1 = f_forward(a, n) if <the arguments' classes> else _rt.sweep_call(f, (0,), a, n)
    z = _f_call1[0]
    ...
    a_bar = _f_call1[2](_f_call1[1], z_bar, a_bar)[0]

The direct call is taken when `f` is the function being compiled (a recursion) and the arguments'
classes give the kinds of this compilation: a plain Python call, without a run-time lookup of the
derivative, with one adjoint array passed down the whole recursion. Other calls look their
derivative up at run time (`s2sad.runtime.sweep_call`), once per call.
"""

import ast
import copy

from .. import kinds as K
from ..analyses.activity import walk_statements
from ..astutil import clone, walk
from ..modes import Mode
from .derivatives import assign, call, direct_guard, global_name, load, local_atom
from .reverse_statements import PRESENT


class RecursiveCalls:
    """The RECURSIVE mode's calls (a part of `ReverseTransform`); `self.recursion` is
    (the function compiled, its parameters' run-time kinds, the positions differentiated)."""

    recursion, _rebound = None, None  # (set by reverse_transform; the names the body stores)

    # -- the forward sweep -----------------------------------------------------------------
    def recursive_sweep(self, stmt, operands, wrt):
        """`_f_call1 = f_forward(args) if <kinds> else _rt.sweep_call(f, wrt, args)`; in the other
        modes `_f_call1 = _rt.call_forward_sweep(f, args, wrt=wrt)`."""
        function = stmt.value.args[0]
        positions = ast.Tuple(elts=[ast.Constant(i) for i in wrt], ctx=ast.Load())
        if self.mode is not Mode.RECURSIVE:
            value = copy.copy(stmt.value)
            value.keywords = list(value.keywords) + [ast.keyword(arg="wrt", value=positions)]
            return [ast.copy_location(ast.Assign(targets=stmt.targets, value=value), stmt)]
        looked_up = call("_rt.sweep_call", clone(function), positions, *clone(list(operands)))
        guard = self._direct_guard(function, operands, wrt)
        if guard is None:
            return [assign(stmt.targets[0].id, looked_up, stmt)]
        direct = ast.Call(
            func=global_name(f"{self.function.name}_forward"), args=clone(list(operands)), keywords=[]
        )
        if guard is True:
            return [assign(stmt.targets[0].id, direct, stmt)]
        return [assign(stmt.targets[0].id, ast.IfExp(test=guard, body=direct, orelse=looked_up), stmt)]

    def recursive_value(self, stmt):
        """`z = _rt.call_value(f, _f_call1, ...)` -> `z = _f_call1[0]`."""
        record = stmt.value.args[1]
        value = ast.Subscript(value=clone(record), slice=ast.Constant(0), ctx=ast.Load())
        return [assign(stmt.targets[0].id, value, stmt)]

    def _direct_guard(self, function, operands, wrt):
        """None (no direct call), True (the arguments' kinds are known), or the test of their classes."""
        if self.recursion is None:
            return None
        return direct_guard(
            self.recursion,
            self.namespace,
            function,
            operands,
            wrt,
            self._passed_on(),
            self.globals,
            self.analysis,
        )

    def _passed_on(self):
        """{parameter: its kind}: the parameters nothing rebinds, passed on as this compilation got them."""
        kinds = self.recursion[1]
        return {p: kinds[i] for i, p in enumerate(self.params) if p not in self._rebound_names()}

    def _rebound_names(self):
        """Names the function's body stores (a parameter rebound or written into is not as passed)."""
        if self._rebound is None:
            self._rebound = {
                node.id
                for node in walk(ast.Module(body=self.function.body, type_ignores=[]))
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
            } | {
                s.targets[0].value.id
                for s in walk_statements(self.function.body)
                if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Subscript)
            }
        return self._rebound

    # -- the backward sweep ----------------------------------------------------------------
    def recursive_adjoint(self, stmt, prim, state):
        """`a_bar = _f_call1[2](_f_call1[1], z_bar, a_bar)[0]`: the callee adds to the adjoints it is
        given. An adjoint is passed on when this function owns it (an array updated in place, or a
        float); else None (a zero), and what comes back is added to it."""
        record = prim.args[1]
        result = stmt.targets[0].id
        operands = prim.args[2:]
        wrt = [
            (i, local_atom(a, self.globals))
            for i, a in enumerate(operands)
            if local_atom(a, self.globals) in self.active
        ]
        names = [name for _, name in wrt]
        given, back = [], []
        for name in names:
            bar = self.bar(name)
            owned = name in state and (
                (name in self.inplace and state[name] == PRESENT) or self.kinds.get(name) == K.FLOAT
            )
            if owned and names.count(name) == 1:
                given.append(load(bar))
                back.append((name, bar, False))
            elif name not in state and names.count(name) == 1:
                given.append(ast.Constant(None))
                back.append((name, bar, False))
            else:
                given.append(ast.Constant(None))
                back.append((name, self.names.fresh("cotangent"), True))
        pullback = ast.Subscript(value=clone(record), slice=ast.Constant(2), ctx=ast.Load())
        residuals = ast.Subscript(value=clone(record), slice=ast.Constant(1), ctx=ast.Load())
        adjoints = ast.Call(func=pullback, args=[residuals, load(self.bar(result))] + given, keywords=[])
        out = []
        if len(back) == 1:
            target = back[0][1]
            out.append(
                assign(target, ast.Subscript(value=adjoints, slice=ast.Constant(0), ctx=ast.Load()), stmt)
            )
            results = [load(target)]
        else:
            held = self.names.fresh("cotangents")
            out.append(assign(held, adjoints, stmt))
            results = [
                ast.Subscript(value=load(held), slice=ast.Constant(k), ctx=ast.Load())
                for k in range(len(back))
            ]
        for (name, target, added), value in zip(back, results):
            if added:
                if len(back) > 1:
                    out.append(assign(target, value, stmt))
                out += self.accumulate(name, load(target), state, stmt)
            else:
                if len(back) > 1:
                    out.append(assign(target, value, stmt))
                state[name] = PRESENT
        return out

    # -- the backward function's parameters ---------------------------------------------------
    def pullback_returned(self):
        """What the forward sweep returns after the residuals: the RECURSIVE mode's backward sweep."""
        return [global_name(f"{self.function.name}_backward")] if self.mode is Mode.RECURSIVE else []

    def accumulator_parameters(self, active_inputs, out_name, state):
        """The RECURSIVE mode's backward sweep's adjoint parameters: a parameter's own adjoint, seeded
        (state 'present'), when nothing rebinds or writes into the parameter; else a parameter the final
        adjoint is added to. Returns (parameter names, prologue, epilogue)."""
        params, prologue, epilogue = [], [], []
        if self.mode is not Mode.RECURSIVE:
            return params, prologue, epilogue
        for p in active_inputs:
            bar = self.bar(p)
            if p not in self._rebound_names() and p != out_name:
                params.append(bar)
                prologue.append(
                    ast.If(
                        test=ast.Compare(left=load(bar), ops=[ast.Is()], comparators=[ast.Constant(None)]),
                        body=[assign(bar, call("_rt.zeros_like", load(p)))],
                        orelse=[],
                    )
                )
                state[p] = PRESENT
            else:
                given = self.names._unique(f"{bar}_given")
                params.append(given)
                epilogue.append(assign(bar, call("_rt.accumulated", load(given), load(bar))))
        return params, prologue, epilogue
