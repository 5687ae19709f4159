"""Forward mode: insert a tangent statement after every active primitive.

A list's tangent is a list kept in step with it: `xs_dot.append(v_dot)` after
`xs.append(v)`, `y_dot = xs_dot.pop()` after `y = xs.pop()`, `xs_dot[i] = v_dot`
after `xs[i] = v`.

>>> import ast
>>> from s2sad.frontend.normalize import normalize
>>> import math
>>> tree = normalize(ast.parse('''
... def f(x, y):
...     z = x * math.sin(y)
...     return z
... ''').body[0])
>>> print(ast.unparse(forward_transform(tree, {"math": math}, {"x": "float", "y": "float"}, ["x", "y"])))
def f_jvp(x, y, x_dot, y_dot):
    _t1 = math.sin(y)
    _t1_dot = y_dot * math.cos(y)
    z = x * _t1
    z_dot = x_dot * _t1 + x * _t1_dot
    return (z, z_dot)
"""

import ast
import copy
import operator

import numpy as np

from ..astutil import assigned_names, clone, fix_statement_locations, walk
from .. import kinds as K
from ..analyses.activity import analyze, walk_statements
from .derivatives import (
    DerivativeNames,
    assign,
    atom_kind,
    bind_template,
    call,
    carriers,
    doubled,
    is_zero,
    is_scalar,
    load,
    local_atom,
    names_read,
    simplified,
    single_use_list_literals,
    squares,
    zero,
    zero_value,
)
from ..analyses.primitives import derivative_call_role
from ..rules import tangent_for
from .forward_lists import ListTangents
from .forward_calls import ForwardCalls


def upward_exposed(body):
    """Variables a block may read before it assigns them."""
    exposed, written = set(), set()

    def visit(stmts, written):
        for stmt in stmts:
            if isinstance(stmt, ast.If):
                exposed.update(names_read(stmt.test) - written)
                w1, w2 = set(written), set(written)
                visit(stmt.body, w1)
                visit(stmt.orelse, w2)
                written |= w1 & w2
            elif isinstance(stmt, (ast.For, ast.While)):
                head = stmt.iter if isinstance(stmt, ast.For) else stmt.test
                exposed.update(names_read(head) - written)
                inner = set(written) | ({stmt.target.id} if isinstance(stmt, ast.For) else set())
                visit(stmt.body, inner)
            else:
                exposed.update(names_read(stmt) - written)
                if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                    written.add(stmt.targets[0].id)

    visit(body, set())
    return exposed


class ForwardTransform(ListTangents, ForwardCalls):
    call_jvp = "_rt.call_jvp"  # the run-time helper of calls that are not inlined

    def __init__(self, function, analysis, namespace, recursion=None):
        self.function = function
        self.recursion = (
            recursion  # (the function, its parameters' kinds, positions differentiated): see derivative_call
        )
        self.analysis = analysis
        self.kinds = analysis.kinds
        self.active = analysis.active
        self.namespace = namespace
        taken = assigned_names([function]) | {a.arg for a in function.args.args} | names_read(function)
        self.names = DerivativeNames(taken)
        self.setitem_bases = {
            s.targets[0].value.id
            for s in walk_statements(function.body)
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Subscript)
        }
        self.bound = {a.arg for a in function.args.args}  # primal names surely bound here
        self.single_use_lists = single_use_list_literals(function)
        self.read_counts = {}
        self.jvp_names = {}  # record of a call that is not inlined -> the name of its (value, tangent)
        self.loops = (
            []
        )  # the enclosing loops' upward-exposed names (read by an iteration before it sets them)
        for sub in walk(function):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                self.read_counts[sub.id] = self.read_counts.get(sub.id, 0) + 1

    suffix = "_jvp"  # of the generated function's name

    def dot(self, name):
        return self.names.tangent(name)

    def prologue(self, active_inputs):
        """Statements the generated function starts with."""
        return []

    def read_outside(self, node):
        """Names read somewhere in the function outside `node`."""
        inside = {}
        for sub in walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                inside[sub.id] = inside.get(sub.id, 0) + 1
        return {n for n, count in self.read_counts.items() if count > inside.get(n, 0)}

    def tangent_of(self, atom, state):
        name = local_atom(atom)
        if name is not None and name in self.active and name in state:
            return load(self.dot(name))
        return zero()

    def materialize(self, name):
        return assign(self.dot(name), zero_value(name, self.kinds.get(name)))

    def zeros(self, atom):
        """A zero tangent shaped like the value of `atom` (an item of a container or list)."""
        return call("_rt.zeros_like", clone(atom))

    def block(self, stmts, state):
        out = []
        for stmt in stmts:
            out.extend(self.stmt(stmt, state))
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                self.bound.add(stmt.targets[0].id)
        return out

    def stmt(self, stmt, state):
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            return self.assign(stmt, state)
        if isinstance(stmt, ast.Assign):
            return self.setitem(stmt, state)
        prim = self.analysis.primitives.get(id(stmt))
        if prim is not None and prim.kind == "list_append":
            return self.append(stmt, prim, state)
        if isinstance(stmt, ast.If):
            s1, s2 = set(state), set(state)
            before = set(self.bound)
            body = self.block(stmt.body, s1)
            b1, self.bound = self.bound, set(before)
            orelse = self.block(stmt.orelse, s2)
            b2, self.bound = self.bound, before | (b1 & self.bound)
            # only tangents read after the `if` need a value on both paths (where the primal
            # is bound at all: `if c: y = ...` leaves `y` unbound on the other path)
            outside = self.read_outside(stmt)
            for exposed in self.loops:  # in a loop, read by the next iteration before it sets them
                outside = outside | exposed
            for name in sorted((s1 - s2) & outside):
                if name in b2 or is_scalar(self.kinds.get(name)):
                    orelse.append(self.materialize(name))
            for name in sorted((s2 - s1) & outside):
                if name in b1 or is_scalar(self.kinds.get(name)):
                    body.append(self.materialize(name))
            state |= (s1 & s2) | ((s1 | s2) & outside)
            node = ast.If(test=stmt.test, body=body or [ast.Pass()], orelse=orelse)
            return [ast.copy_location(node, stmt)]
        if isinstance(stmt, (ast.For, ast.While)):
            return self.loop(stmt, state)
        if isinstance(stmt, ast.Return):
            return [stmt]
        return [stmt]

    def loop(self, stmt, state):
        # tangents read before they are set in the body, or read after the loop
        exposed = upward_exposed([stmt]) | upward_exposed(stmt.body) | self.read_outside(stmt)
        entry = set(state)
        before = set(self.bound)
        self.loops.append(upward_exposed(stmt.body))
        while True:
            inner = set(entry)
            self.bound = set(before)
            body = self.block(stmt.body, inner)
            grow = (inner - entry) & exposed
            if not grow:
                break
            entry |= grow
        self.loops.pop()
        bound_after_body, self.bound = self.bound, before

        def bound(n, names):
            return n in names or is_scalar(self.kinds.get(n))

        pre = [self.materialize(n) for n in sorted(entry - state) if n in exposed and bound(n, before)]
        body += [self.materialize(n) for n in sorted((entry - inner) & exposed) if bound(n, bound_after_body)]
        state |= entry
        node = copy.copy(stmt)
        node.body = body
        return pre + [node]

    def assign(self, stmt, state):
        name = stmt.targets[0].id
        role = derivative_call_role(self.analysis.primitives.get(id(stmt)))
        if role is not None:
            return self.derivative_call(stmt, role, state)
        prim = self.analysis.primitives[id(stmt)]
        if prim.kind == "list_pop":
            return self.pop(stmt, prim, state)
        out = [stmt]
        if name not in self.active:
            state.discard(name)
            return out
        tangent = None
        if prim.kind == "copy":
            tangent = simplified(self.tangent_of(prim.args[0], state))
        elif prim.kind == "container":
            elts = []
            for atom in prim.args:
                t = self.tangent_of(atom, state)
                if is_zero(t):
                    t = self.zeros(atom)
                elts.append(t)
            if prim.keys is not None:
                tangent = ast.Dict(keys=[ast.Constant(k) for k in prim.keys], values=elts)
            elif isinstance(stmt.value, ast.List) and name not in self.single_use_lists:
                tangent = ast.List(elts=elts, ctx=ast.Load())  # kept in step with the list
            else:
                tangent = ast.Tuple(elts=elts, ctx=ast.Load())
        elif not prim.rule.differentiable:
            tangent = None
        elif (
            self.kinds.get(name) == K.LIST
            and prim.rule.key in (operator.add, operator.mul, list, np.ndarray.copy)
            and not (prim.rule.key is list and atom_kind(prim.args[0], self.kinds) != K.LIST)
        ):  # (`list(a)` of an array or tuple: the rule's tangent, its rows' tangents)
            tangent = self.list_tangent(prim, state)
        else:
            tangent = self.rule_tangent(stmt, name, prim, state, out)
        if tangent is None:
            state.discard(name)
        else:
            if name in self.setitem_bases and isinstance(tangent, ast.Name):
                tangent = call("_rt.copy", tangent)  # written in place later: never an alias
            out.append(assign(self.dot(name), tangent, stmt))
            state.add(name)
        return out

    def rule_tangent(self, stmt, name, prim, state, out):
        """The tangent of `name = rule(...)` from the rule's template (its local statements
        appended to `out`), or None for a zero tangent."""
        rule = prim.rule
        if rule.tangent is None:
            raise NotImplementedError(rule.name)
        template = rule.tangent
        values = bind_template(template, prim)
        template = tangent_for(rule, values)
        values[template.output] = load(name)
        derivs = {f"{p}_dot": self.tangent_of(values[p], state) for p in template.operands}
        parts = template.instantiate(values, derivs, fresh=self.names.fresh)
        for target, expr in parts[:-1]:
            out.append(assign(target, expr, stmt))
        tangent = simplified(parts[-1][1], carriers(derivs))
        if (
            squares(rule, template, values)
            and isinstance(tangent, ast.BinOp)
            and isinstance(tangent.op, ast.Add)
        ):
            tangent = doubled(tangent.left, tangent.right) or tangent  # `x * x`: `2.0 * (x_dot * x)`
        return self.full_shaped(tangent, rule, template, values, derivs, name, "_rt.broadcast_like")

    def full_shaped(self, tangent, rule, template, values, derivs, name, helper):
        """An elementwise rule's tangent broadcast to the result's shape (`helper`) when an array
        operand has a zero tangent: the other operands' tangents alone may be smaller."""
        if tangent is None or not rule.elementwise or is_scalar(self.kinds.get(name)):
            return tangent
        zero_shaped = [
            p
            for p in template.operands
            if not is_scalar(atom_kind(values[p], self.kinds)) and is_zero(derivs.get(f"{p}_dot"))
        ]
        return call(helper, tangent, load(name)) if zero_shaped else tangent

    def setitem(self, stmt, state):
        target = stmt.targets[0]
        base = target.value.id
        out = [stmt]
        if base not in self.active:
            return out
        value_tangent = self.tangent_of(stmt.value, state)
        if base not in state:
            out.insert(0, self.materialize(base))
            state.add(base)
        out.append(ast.copy_location(self.store_tangent(target, value_tangent, stmt), stmt))
        return out

    def store_tangent(self, target, value_tangent, stmt):
        """`x_dot[i] = v_dot` after `x[i] = v`."""
        base = target.value.id
        store = ast.Subscript(
            value=ast.Name(self.dot(base), ast.Load()), slice=clone(target.slice), ctx=ast.Store()
        )
        value = value_tangent if not is_zero(value_tangent) else ast.Constant(0.0)
        if is_zero(value_tangent) and self.kinds.get(base) == K.LIST:
            value = self.zeros(stmt.value)  # an item of a list: shaped like it
        return ast.Assign(targets=[store], value=value)


def forward_transform(
    function, namespace, input_kinds, active_inputs, analysis=None, transform_class=None, recursion=None
):
    """The tangent function `f_jvp(*args, *arg_dots) -> (out, out_dot)` as an AST.

    `transform_class` (a ForwardTransform subclass) changes how tangents are written, as
    `s2sad.forward_vector` does for many directions at once.
    """
    if analysis is None:
        analysis = analyze(function, namespace, input_kinds, set(active_inputs))
    transform = (transform_class or ForwardTransform)(function, analysis, namespace)
    if transform.call_jvp == "_rt.call_jvp":  # one direction: its own calls may call it directly
        transform.recursion = recursion
    state = {n for n in active_inputs if n in analysis.active}
    body = transform.block(function.body, state)
    # the caller's tangent arrays are never written into
    body = [
        assign(transform.dot(n), call("_rt.copy", load(transform.dot(n))))
        for n in active_inputs
        if n in state and n in transform.setitem_bases
    ] + body
    ret = body[-1]
    assert isinstance(ret, ast.Return)
    out = ret.value
    if analysis.has_aux:  # (output, aux): the tangent is the output's
        out = out.elts[0]
    name = local_atom(out)
    if name is not None and name in state:
        out_dot = load(transform.dot(name))
    else:
        out_dot = transform.zeros(out)
    ret.value = ast.Tuple(elts=[ret.value, out_dot], ctx=ast.Load())
    params = [a.arg for a in function.args.args]
    args = [ast.arg(arg=p) for p in params] + [ast.arg(arg=transform.dot(p)) for p in active_inputs]
    body = transform.prologue(active_inputs) + body
    node = ast.FunctionDef(
        name=f"{function.name}{transform.suffix}",
        args=ast.arguments(
            posonlyargs=[], args=args, vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
        ),
        body=body,
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    ast.copy_location(node, function)
    return fix_statement_locations(node)  # unparsed to text: the statements' lines are all we read
