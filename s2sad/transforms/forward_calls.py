"""Forward mode's calls that are not inlined (a recursion, a run-time derivative): the callee's own
jvp, called directly when the arguments have the kinds the function is compiled for."""

import ast
import re

from ..astutil import assigned_names, clone
from .derivatives import (
    all_of,
    assign,
    call,
    class_test,
    direct_guard,
    global_name,
    is_zero,
    load,
    local_atom,
)


class ForwardCalls:
    """The part of `ForwardTransform` for calls that stay calls (`_rt.call_jvp`, or the jvp itself)."""

    def derivative_call(self, stmt, role, state):
        """A call that is not inlined (`_rt.call_forward_sweep` / `_rt.call_value`, see
        s2sad.frontend.inline): forward mode calls the callee's own jvp, `_f_jvp1 = _rt.call_jvp(f, args,
        tangents)`, then reads the value and the tangent from it; no sweep record is needed."""
        name = stmt.targets[0].id
        state.discard(name)
        if role == "sweep":
            return []
        prim = self.analysis.primitives[id(stmt)]
        function, operands = prim.args[0], prim.args[2:]
        if name not in self.active:  # the value alone: the user's function itself
            plain = ast.Call(func=clone(function), args=clone(operands), keywords=[])
            return [assign(name, plain, stmt)]
        tangents = []
        for atom in operands:
            t = self.tangent_of(atom, state)
            tangents.append(ast.Constant(None) if is_zero(t) else t)
        record = local_atom(prim.args[1], self.globals) or "_call"
        if record not in self.jvp_names:  # stable across the passes over a loop body
            self.jvp_names[record] = self.names._unique(re.sub(r"_call(\d*)$", r"_jvp\1", record))
        result = self.jvp_names[record]
        if self.call_jvp == "_rt.call_jvp_directions" and all(isinstance(t, ast.Constant) for t in tangents):
            state.discard(name)  # constant arguments: a constant result
            return [assign(name, ast.Call(func=clone(function), args=clone(operands), keywords=[]), stmt)]
        pair = call(
            self.call_jvp,
            clone(function),
            ast.Tuple(elts=clone(operands), ctx=ast.Load()),
            ast.Tuple(elts=tangents, ctx=ast.Load()),
        )
        pair = self.direct_call(function, operands, tangents, pair)
        tangent = ast.Subscript(value=load(result), slice=ast.Constant(1), ctx=ast.Load())
        if name in self.setitem_bases:
            tangent = call("_rt.copy", tangent)  # written in place later: never an alias
        state.add(name)
        return [
            assign(result, pair, stmt),
            assign(name, ast.Subscript(value=load(result), slice=ast.Constant(0), ctx=ast.Load()), stmt),
            assign(self.dot(name), tangent, stmt),
        ]

    def direct_call(self, function, operands, tangents, looked_up):
        """A call of the function being compiled with arguments of the kinds it is compiled for
        calls its own jvp, `f_jvp(args, dots) if <their classes> else _rt.call_jvp(...)`: no
        run-time lookup per level of a recursion (see s2sad.transforms.reverse_calls)."""
        if self.recursion is None:
            return looked_up
        wrt = [i for i, t in enumerate(tangents) if not (isinstance(t, ast.Constant) and t.value is None)]
        rebound = assigned_names(self.function.body)
        kinds = self.recursion[1]
        passed_on = {
            p: kinds[i] for i, p in enumerate(a.arg for a in self.function.args.args) if p not in rebound
        }
        guard = direct_guard(
            self.recursion, self.namespace, function, operands, wrt, passed_on, self.globals, self.analysis
        )
        if guard is None:
            return looked_up
        tests = [] if guard is True else [guard]
        for i in wrt:  # the tangents of arrays must be arrays (a zero may be a scalar)
            name = local_atom(operands[i], self.globals)
            if passed_on.get(name) != kinds[i] and isinstance(tangents[i], ast.Name):
                tests.append(class_test(tangents[i].id, kinds[i]))
            elif passed_on.get(name) != kinds[i]:
                return looked_up
        args = clone(list(operands)) + [clone(tangents[i]) for i in wrt]
        direct = ast.Call(func=global_name(f"{self.function.name}{self.suffix}"), args=args, keywords=[])
        guard = all_of(tests)
        return direct if guard is True else ast.IfExp(test=guard, body=direct, orelse=looked_up)
