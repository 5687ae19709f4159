"""Reverse mode: a forward sweep that records, then a backward sweep of adjoints.

The forward sweep is the primal program plus pushes of the values the backward
sweep needs and that get overwritten (see `tbr.py`), and the trip counts of
`while` loops. The backward sweep walks the statements in reverse: each
assignment adds its adjoint contributions and pops the old value back; an `if`
re-tests its (restored) condition; a `for` runs its range reversed.
Adjoints start as symbolic zeros: the first contribution assigns, later ones add.

A list's adjoint is a list kept aligned with the list through the backward
sweep, which undoes each change in place: `xs.append(v)` becomes
`v_bar += xs_bar.pop(); xs.pop()`, `y = xs.pop()` becomes `xs_bar.append(y_bar);
xs.append(y)`, a read `z = xs[i]` adds `z_bar` into `xs_bar[i]`, and a write
`xs[i] = v` pushes the old item and pops it back. A list adjoint nothing has
flowed into yet is a scalar zero placeholder, made a list of zeros
(`_rt.list_like`) where it is first changed.

>>> import ast, math
>>> from s2sad.frontend.normalize import normalize
>>> tree = normalize(ast.parse('''
... def f(x, y):
...     z = x * math.sin(y)
...     return z
... ''').body[0])
>>> print(ast.unparse(reverse_transform(tree, {"math": math}, {"x": "float", "y": "float"}, ["x", "y"]).joint))
def f_vjp(x, y, z_bar=1.0):
    _t1 = math.sin(y)
    z = x * _t1
    x_bar = z_bar * _t1
    _t1_bar = x * z_bar
    y_bar = _t1_bar * math.cos(y)
    return (z, (x_bar, y_bar))
"""

import ast
import builtins
import copy
import operator
from dataclasses import dataclass

import numpy as np

from ..astutil import clone, fix_statement_locations, name_nodes, walk
from .. import config
from .. import kinds as K
from ..analyses.activity import analyze, walk_statements
from .derivatives import (
    DerivativeNames, assign, bind_template, call, doubled, is_scalar, load, local_atom, simplified, single_use_list_literals,
)
from .forward import _atom_kind, _reads, _squares
from ..peepholes.scatter import _basic
from ..peepholes.simplify import split_sign
from ..analyses.primitives import derivative_call_role, index_expression, is_global, resolve
from ..rules import adjoint_for
from ..analyses.tbr import to_be_recorded

PRESENT, MAYBE_ZERO = "present", "maybe-zero"


@dataclass
class ReverseCode:
    joint: ast.FunctionDef
    forward: ast.FunctionDef
    backward: ast.FunctionDef
    gradient: ast.FunctionDef  # the joint form without the value (for `grad`)
    records: list = None  # (loop line, names recorded per iteration), (None, [stack push lines])


class ReverseTransform:
    def __init__(self, function, analysis, namespace, active_inputs, portable=False):
        self.function = function
        self.portable = portable
        self.analysis = analysis
        self.kinds = analysis.kinds
        self.active = analysis.active
        self.namespace = namespace
        self.params = [a.arg for a in function.args.args]
        taken = {n.id for n in name_nodes(function)} | set(self.params)  # every name it stores or reads
        self.names = DerivativeNames(taken)
        self.parts = {}
        self.inplace = self._inplace_variables()
        self.setitem_bases = {
            s.targets[0].value.id for s in walk_statements(function.body)
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Subscript)
        }
        self.recompute = self._plan_recomputation()
        self.loop_counters = {}
        self.uses_stack = False
        self.tape_vars = {}  # what a push saved -> the loop-tape variable the backward loop binds
        self.loop_tapes = {}  # id(loop) -> (tape name, append name, variables in push order, nested?)
        self.tape_lists = {}  # id(loop) -> its preallocated lists, one per variable (`for _ in range(n)`)
        self.loop_depth = 0
        self.records = []  # (loop line, names its tape records per iteration)
        self.swept = None  # record of a call that is not inlined -> (its result, its arguments)
        self.restored_lists = set()  # lists the backward sweep changes in place (undoing appends, pops, writes)
        self.single_use_lists = single_use_list_literals(function)  # `np.stack([a, b])`: the rule's adjoint as is
        self.literal_operands = self._literal_operands()
        self.split_literals = set()  # id(call) whose list literal's items take their adjoints directly
        self._reads_found = {}  # id(stmt) -> what `reads_of` derives its answers from

    # -- what each statement's adjoint reads ------------------------------------------
    def _inplace_variables(self):
        """Arrays whose adjoints are updated in place (subscript writes and reads)."""
        names = set()
        for stmt in walk_statements(self.function.body):
            if not isinstance(stmt, ast.Assign):
                continue
            target = stmt.targets[0]
            if isinstance(target, ast.Subscript) and target.value.id in self.active:
                if self.kinds.get(target.value.id) != K.LIST:
                    names.add(target.value.id)
            elif isinstance(stmt.value, ast.Subscript) and target.id in self.active:
                base = local_atom(stmt.value.value)
                if base in self.active and self.kinds.get(base) == K.ARRAY:
                    names.add(base)
        return names

    def _literal_operands(self):
        """{id(call statement): (name, items)} for a list or tuple literal built right before the one
        call that reads it (`_t1 = [a, b]; y = np.concatenate(_t1)`): nothing rebinds the items in
        between."""
        out, counts = {}, {}
        for node in name_nodes(self.function):
            counts[node.id] = counts.get(node.id, 0) + 1

        def block(stmts):
            for stmt in stmts:
                for attr in ("body", "orelse"):
                    block(getattr(stmt, attr, None) or [])
            for before, stmt in zip(stmts, stmts[1:]):
                if (
                    isinstance(before, ast.Assign) and isinstance(before.targets[0], ast.Name)
                    and (before.targets[0].id in self.single_use_lists
                         or (isinstance(before.value, ast.Tuple) and counts[before.targets[0].id] == 2))
                    and isinstance(stmt, ast.Assign) and before.targets[0].id in _reads(stmt.value)
                ):
                    out[id(stmt)] = (before.targets[0].id, before.value.elts)

        block(self.function.body)
        del block  # a recursive closure is a reference cycle (holding the transform)
        return out

    def concatenate_pieces(self, stmt, values, z_bar):
        """`y = np.concatenate(_t1)` of a list literal `_t1 = [a, b]` whose items' shapes are known:
        each active item's adjoint is its slice of `y_bar` (`a_bar += y_bar[:3]`), no list adjoint
        and no run-time split. None if a shape or the axis is not known."""
        literal = self.literal_operands.get(id(stmt))
        if literal is None or local_atom(values["arrays"]) != literal[0]:
            return None
        axis = values["axis"]
        if not (isinstance(axis, ast.Constant) and type(axis.value) is int):
            return None
        shapes = [self.shape_of(item) for item in literal[1]]
        if any(not isinstance(s, tuple) or not s for s in shapes) or len({len(s) for s in shapes}) != 1:
            return None
        ndim = len(shapes[0])
        if not -ndim <= axis.value < ndim:
            return None
        axis = axis.value % ndim
        parts, start = [], 0
        for item, shape in zip(literal[1], shapes):
            stop = start + shape[axis]
            operand = local_atom(item)
            if operand in self.active:
                if self.kinds.get(operand) == K.LIST:
                    return None
                piece = ast.Slice(lower=ast.Constant(start) if start else None, upper=ast.Constant(stop))
                index = piece if axis == 0 else ast.Tuple([ast.Slice()] * axis + [piece], ast.Load())
                parts.append((operand, ast.Subscript(value=clone(z_bar), slice=index, ctx=ast.Load())))
            start = stop
        return parts

    def _plan_recomputation(self):
        """Scalar arithmetic temporaries the backward sweep recomputes instead of popping.

        `t = a op b` read once, by a later statement `z = f(t, ...)` of the same
        block, with `a` and `b` untouched in between: the backward sweep of `z`
        pops `z`'s old value first, which restores `a` and `b`, and then
        recomputes `t`. Returns {id(consumer): [definitions of t]}.
        """
        if not config.enabled():
            return {}
        assigned, reads = {}, {}
        for node in name_nodes(self.function):
            table = assigned if node.ctx.__class__ is ast.Store else reads
            table[node.id] = table.get(node.id, 0) + 1
        plan = {}

        def block(stmts):
            for stmt in stmts:
                for attr in ("body", "orelse"):
                    inner = getattr(stmt, attr, None)
                    if inner:
                        block(inner)
            for i, stmt in enumerate(stmts):
                if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
                    continue
                if not isinstance(stmt.value, (ast.BinOp, ast.UnaryOp)):
                    continue
                name = stmt.targets[0].id
                if assigned.get(name) != 1 or reads.get(name) != 1 or not is_scalar(self.kinds.get(name)):
                    continue
                operands = {n.id for n in name_nodes(stmt.value) if not getattr(n, "_global", False)}
                for j in range(i + 1, len(stmts)):
                    later = stmts[j]
                    used = {n.id for n in name_nodes(later) if isinstance(n.ctx, ast.Load)}
                    stored = {n.id for n in name_nodes(later) if isinstance(n.ctx, ast.Store)}
                    if name in used:
                        if (
                            isinstance(later, ast.Assign)
                            and isinstance(later.targets[0], ast.Name)
                            and later.targets[0].id in self.active
                            and later.targets[0].id in operands  # `x = g(x)`: x is pushed anyway
                            and self._output_free(later)
                            and not (stored - {later.targets[0].id}) & operands
                            and name in self._adjoint_reads(later)
                        ):
                            plan.setdefault(id(later), []).append(stmt)
                        break
                    if stored & operands or isinstance(later, (ast.If, ast.For, ast.While)):
                        break

        block(self.function.body)
        del block  # a recursive closure is a reference cycle (holding the transform)
        return plan

    def _adjoint_reads(self, stmt):
        names = set()
        for operand, expr in self.adjoint_parts(stmt):
            if operand in ("@inplace", "@local"):
                return set()
            names |= _reads(expr)
        return names

    def _output_free(self, stmt):
        """True if the adjoint of `stmt` does not read the statement's own result."""
        prim = self.analysis.primitives.get(id(stmt))
        if prim is None or prim.kind != "call":
            return prim is not None
        if prim.rule.adjoint is None:
            return False
        template = adjoint_for(prim.rule, bind_template(prim.rule.adjoint, prim))
        return not template.uses_output and prim.rule.elementwise

    def bar(self, name):
        return self.names.adjoint(name)

    def adjoint_parts(self, stmt):
        """[(operand name, contribution expression)] for `stmt`, cached."""
        key = id(stmt)
        if key in self.parts:
            return self.parts[key]
        parts = []
        target = stmt.targets[0]
        if isinstance(target, ast.Subscript) and self.kinds.get(target.value.id) == K.LIST:
            value = local_atom(stmt.value)  # `xs[i] = v`: the item's adjoint, zeroed right after
            if value in self.active:
                parts.append((value, ast.Subscript(value=load(self.bar(target.value.id)), slice=clone(target.slice), ctx=ast.Load())))
            self.parts[key] = parts
            return parts
        if isinstance(target, ast.Subscript):
            value = local_atom(stmt.value)
            if value in self.active:
                # a copy: the slice is zeroed right after it is read
                integers = {n for n, k in self.kinds.items() if k == K.INT}
                if _basic(index_expression(target.slice), integers) is not None:
                    g = ast.Subscript(value=load(self.bar(target.value.id)), slice=clone(target.slice), ctx=ast.Load())
                    g = ast.Call(func=ast.Attribute(value=g, attr="copy", ctx=ast.Load()), args=[], keywords=[])
                else:  # an index that may repeat a position: only its last write counts
                    g = call("_rt.written_part", load(self.bar(target.value.id)), index_expression(clone(target.slice)))
                g = call("_rt.unbroadcast", g, load(value))
                parts.append((value, g))
            self.parts[key] = parts
            return parts
        name = target.id
        prim = self.analysis.primitives[key]
        z_bar = load(self.bar(name))
        if name not in self.active or prim.kind == "list_pop":
            pass  # (a pop's adjoint is written by `backward_pop`)
        elif prim.kind == "copy":
            operand = local_atom(prim.args[0])
            if operand in self.active:
                parts.append((operand, z_bar))
        elif prim.kind == "container":
            for index, atom in enumerate(prim.args):
                operand = local_atom(atom)
                if operand in self.active:
                    key = prim.keys[index] if prim.keys is not None else index
                    item = ast.Subscript(value=clone(z_bar), slice=ast.Constant(key), ctx=ast.Load())
                    parts.append((operand, item))
        elif prim.rule.differentiable:
            rule = prim.rule
            if rule.adjoint is None:
                raise NotImplementedError(rule.name)
            values = bind_template(rule.adjoint, prim)
            template = adjoint_for(rule, values)
            if rule.key is operator.getitem:
                base = local_atom(values["x"])
                if base in self.inplace:
                    parts.append(("@inplace", (base, values["index"], z_bar)))
                    self.parts[key] = parts
                    return parts
                if self.kinds.get(base) == K.LIST:
                    if base in self.active:  # `xs_bar[i] += z_bar` (item by item for a slice)
                        parts.append(("@list", (base, values["index"], z_bar)))
                    self.parts[key] = parts
                    return parts
            if rule.key is np.concatenate:
                pieces = self.concatenate_pieces(stmt, values, z_bar)
                if pieces is not None:
                    self.split_literals.add(key)
                    self.parts[key] = pieces
                    return pieces
            if rule.key in (operator.add, operator.mul) and self.kinds.get(name) == K.LIST:
                self.parts[key] = self.list_operator_parts(rule, prim, z_bar)
                return self.parts[key]
            values[template.output] = load(name)
            derivs = {f"{p}_bar": load(self.bar(local_atom(values[p]) or "_const")) for p in template.operands}
            derivs[f"{template.output}_bar"] = z_bar
            for target_param, expr in template.instantiate(values, derivs, fresh=self.names.fresh):
                if target_param not in template.operands:
                    parts.append(("@local", (target_param, expr)))
                    continue
                operand = local_atom(values[target_param])
                if operand not in self.active:
                    continue
                expr = simplified(expr)
                if expr is None:
                    continue
                if rule.elementwise:
                    expr = self.unbroadcast(expr, operand, template, values, target_param, name, id(stmt))
                elif rule.key in (operator.matmul, np.matmul):
                    expr = self.direct_product(expr)
                parts.append((operand, expr))
            if (_squares(rule, template, values) and len(parts) == 2 and parts[0][0] == parts[1][0]
                    and doubled(parts[0][1], parts[1][1]) is not None):
                # `x * x`: its two equal terms (`g * x`, `x * g`) computed once and added twice, the
                # same additions in the same order, so the same result bit for bit
                operand, term = parts[0]
                if not isinstance(term, ast.Name):
                    square = self.names.fresh("square")
                    parts = [("@local", (square, term))]
                    term = load(square)
                else:
                    parts = []
                parts += [(operand, term), (operand, load(term.id))]
        self.parts[key] = parts
        return parts

    def list_operator_parts(self, rule, prim, z_bar):
        """`xs + ys` (each side its part of the adjoint) and `xs * n` (the copies summed)."""
        parts = []
        if rule.key is operator.add:
            left, right = prim.args
            split = call("len", clone(left))
            for atom, bounds in ((left, (ast.Constant(0), split)), (right, (clone(split), ast.Constant(None)))):
                if local_atom(atom) in self.active:
                    parts.append((local_atom(atom), call("_rt.list_part", clone(z_bar), *bounds)))
            return parts
        for atom in prim.args:
            if self.kinds.get(local_atom(atom)) == K.LIST and local_atom(atom) in self.active:
                parts.append((local_atom(atom), call("_rt.list_repeat_adjoint", clone(z_bar), clone(atom))))
        return parts

    def list_change(self, stmt):
        """For to-be-recorded: (list, names the undo reads, always undo) of `xs.append(v)` and
        `y = xs.pop(i)`, else None. Changes of an active list are always undone: its adjoint
        stays aligned with it."""
        prim = self.analysis.primitives.get(id(stmt))
        if prim is None or prim.kind not in ("list_append", "list_pop"):
            return None
        base = local_atom(prim.args[0])
        if base is None:
            return None
        reads = set() if prim.kind == "list_append" else {n for a in prim.args[1:] for n in _reads(a)}
        return base, reads, base in self.active

    def unbroadcast(self, expr, operand, template, values, param, result, stmt_id):
        """The contribution `expr` (shaped like the result) summed down to the operand's shape."""
        others = [_atom_kind(values[p], self.kinds) for p in template.operands if p != param]
        mine = self.kinds.get(operand)
        if all(is_scalar(k) for k in others) and (is_scalar(mine) or mine == K.ARRAY):
            return expr
        shape, result_shape = self.analysis.shapes.get(operand), self.analysis.result_shapes.get(stmt_id)
        if shape is not None and result_shape is not None:  # code specialized to the arguments' shapes
            if shape == result_shape:
                return expr
            leading = len(result_shape) - len(shape)
            if leading > 0 and shape and result_shape[leading:] == shape:
                axis = ast.Constant(0) if leading == 1 else ast.Tuple([ast.Constant(i) for i in range(leading)], ast.Load())
                return ast.Call(func=ast.Attribute(load("np"), "sum", ast.Load()), args=[expr],
                                keywords=[ast.keyword("axis", axis)])
        if is_scalar(mine) and (self.kinds.get(result) == K.ARRAY or result_shape):
            return call("np.sum", expr)
        return call("_rt.unbroadcast", expr, load(operand))

    def shape_of(self, atom):
        name = local_atom(atom)
        if name is not None:
            return self.analysis.shapes.get(name)
        if is_global(atom):
            value = resolve(atom, self.namespace)
            return value.shape if isinstance(value, np.ndarray) else None
        return None

    def direct_product(self, expr):
        """`_rt.matmul_adjoint_?(g, a, b)` of vectors and matrices of known ranks, as the product
        itself (`a.T @ g`). The adjoint of a matrix operand stays a call: `sum_products_after_loops`
        sums a loop's steps of it with one product."""
        if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
                and expr.func.attr in ("matmul_adjoint_x", "matmul_adjoint_y") and len(expr.args) == 3):
            return expr
        g, a, b = expr.args
        ranks = [len(s) if s is not None else None for s in (self.shape_of(a), self.shape_of(b))]
        if any(r not in (1, 2) for r in ranks):
            return expr
        if expr.func.attr == "matmul_adjoint_x":
            if ranks[0] == 2:
                return expr
            return _matmul(clone(b), g) if ranks[1] == 2 else ast.BinOp(g, ast.Mult(), clone(b))
        if ranks[1] == 2:
            return expr
        if ranks[0] == 2:
            return _matmul(ast.Attribute(clone(a), "T", ast.Load()), g)
        return ast.BinOp(clone(a), ast.Mult(), g)

    def reads_of(self, stmt, after=False):
        """Primal names the backward sweep reads at `stmt` (operands, or its result)."""
        found = self._reads_found.get(id(stmt))
        if found is None:
            found = self._reads_found[id(stmt)] = self._backward_reads(stmt)
        names, name, recomputed = found
        if after:
            return {name} if name in names else set()
        if recomputed and name in names:
            return set(names)  # the old value is read: it restores the recomputed operands
        return names - ({name} if name else set())

    def _backward_reads(self, stmt):
        """(the names the adjoint of `stmt` reads, its target's name, the statements it recomputes)."""
        names = set()
        for operand, expr in self.adjoint_parts(stmt):
            if operand in ("@inplace", "@list"):
                base, index, _ = expr
                names |= {base} | _reads(index)
                continue
            if operand == "@local":
                expr = expr[1]
            names |= {n for n in _reads(expr) if not _is_derivative(n, self)}
        target = stmt.targets[0]
        if isinstance(target, ast.Subscript):
            names |= _reads(target.slice) | {target.value.id}
        else:
            prim = self.analysis.primitives[id(stmt)]
            if prim.kind == "call" and prim.rule.differentiable and not prim.rule.elementwise:
                if target.id in self.active and not is_scalar(self.kinds.get(target.id)):
                    names.add(target.id)  # for `_rt.like` on a maybe-zero adjoint
            if prim.kind == "call" and target.id in self.active and id(stmt) not in self.split_literals:  # `_rt.list_cotangent(g, xs)`: the list as it was
                names |= {a for a in map(local_atom, prim.args) if a in self.active and self.kinds.get(a) == K.LIST}
        name = target.id if isinstance(target, ast.Name) else None
        recomputed = self.recompute.get(id(stmt), [])
        if recomputed:
            names -= {d.targets[0].id for d in recomputed}
            for definition in recomputed:
                names |= {n.id for n in name_nodes(definition.value) if not getattr(n, "_global", False)}
        return names, name, recomputed

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
        return any(isinstance(n, ast.Slice) or (isinstance(n, ast.Constant) and n.value in (None, Ellipsis))
                   for n in walk(value.slice))

    def forward_sweep(self, stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and self._slice_of_written_array(stmt):
                stmt.value = call("_rt.copy", stmt.value)
            if isinstance(stmt, ast.Assign):
                if id(stmt) in self.recording.pushes:
                    target = stmt.targets[0]
                    if isinstance(target, ast.Name):
                        saved = load(target.id)
                    else:
                        old = ast.Subscript(value=load(target.value.id), slice=clone(target.slice), ctx=ast.Load())
                        # an array's slice is copied; a list's item is kept as it is (never written into)
                        saved = old if self.kinds.get(target.value.id) == K.LIST else call("_rt.copy", old)
                    push = ast.copy_location(ast.Expr(call("_push", saved)), stmt)
                    push.restores = id(stmt)
                    push.tape_ok = isinstance(target, ast.Name) and target.id not in self.setitem_bases
                    out.append(push)
                out.extend(self.forward_statement(stmt))
            elif isinstance(stmt, ast.If):
                node = copy.copy(stmt)
                node.body = self.forward_sweep(stmt.body) or [ast.Pass()]
                node.orelse = self.forward_sweep(stmt.orelse)
                out.append(node)
            elif isinstance(stmt, ast.For):
                if id(stmt) in self.recording.loop_target_pushes:
                    push = ast.Expr(call("_push", load(stmt.target.id)))
                    push.restores, push.tape_ok = ("target", id(stmt)), True
                    out.append(push)
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
                push = ast.Expr(call("_push", load(counter)))
                push.restores, push.tape_ok = ("count", id(stmt)), True
                out += [assign(counter, ast.Constant(0), stmt), node, push]
            elif isinstance(stmt, ast.Return):
                continue
            else:
                out.append(stmt)
        return out

    def forward_statement(self, stmt):
        """The statement as the forward sweep runs it. A call that is not inlined (see
        s2sad.inline) sweeps its callee with `wrt=`: the positions of the active arguments, those
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
                return [stmt]
            function, operands = stmt.value.args[0], stmt.value.args[2:]
            plain = ast.Call(func=clone(function), args=clone(operands), keywords=[])
            return [assign(stmt.targets[0].id, plain, stmt)]
        result, operands = self.swept.get(stmt.targets[0].id, (None, []))
        if result not in self.active:
            return []
        wrt = [i for i, atom in enumerate(operands) if local_atom(atom) in self.active]
        positions = ast.Tuple(elts=[ast.Constant(i) for i in wrt], ctx=ast.Load())
        value = copy.copy(stmt.value)
        value.keywords = list(value.keywords) + [ast.keyword(arg="wrt", value=positions)]
        return [ast.copy_location(ast.Assign(targets=stmt.targets, value=value), stmt)]

    # -- loop tapes --------------------------------------------------------------------------
    def loop_body(self, loop):
        """The forward body of a loop; the values it pushes every iteration go to the loop's own
        tape, a list the backward loop iterates over in reverse (no pop call per value, and
        the trip count is the tape's length)."""
        self.loop_depth += 1
        body = self.forward_sweep(loop.body)
        self.loop_depth -= 1
        pushes = [s for s in body if isinstance(s, ast.Expr) and getattr(s, "tape_ok", False)]
        if pushes and config.enabled() and not self.portable:
            tape = self.names.fresh("tape")
            saved_names = [push.value.args[0].id for push in pushes]
            variables = [self.names._unique(f"{tape}_{saved.lstrip('_')}") for saved in saved_names]
            for push, variable in zip(pushes, variables):
                self.tape_vars[push.restores] = variable
            self.records.append((getattr(loop, "lineno", None), saved_names))
            append = None
            if _counted(loop) and self.namespace.get("range", builtins.range) is builtins.range:
                # the trip count is known at the start: one list per value, filled by index
                lists = [self.names._unique(f"{tape}_{saved.lstrip('_')}s") for saved in saved_names]
                self.tape_lists[id(loop)] = lists
                for push, name in zip(pushes, lists):
                    slot = ast.Subscript(value=load(name), slice=load(loop.target.id), ctx=ast.Store())
                    store = ast.copy_location(ast.Assign(targets=[slot], value=push.value.args[0]), push)
                    store.tape_store = True  # a push: the peepholes may move values past it
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
            empty = ast.BinOp(left=ast.List(elts=[ast.Constant(None)], ctx=ast.Load()), op=ast.Mult(), right=clone(count))
            return [assign(name, clone(empty), loop) for name in self.tape_lists[id(loop)]]
        return [
            assign(tape, ast.List(elts=[], ctx=ast.Load()), loop),
            assign(append, ast.Attribute(value=load(tape), attr="append", ctx=ast.Load()), loop),
        ]

    def tape_end(self, loop):
        """A loop inside another loop starts a fresh tape each time: the tape itself is saved."""
        if id(loop) not in self.loop_tapes or not self.loop_tapes[id(loop)][3]:
            return []
        pushes = []
        for k, name in enumerate(self.tape_lists.get(id(loop)) or [self.loop_tapes[id(loop)][0]]):
            push = ast.Expr(call("_push", load(name)))
            push.restores, push.tape_ok = ("tape", id(loop), k), True
            pushes.append(push)
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
        pre = [assign(saved[k], self.pop(("tape", id(loop), k)), loop) for k in reversed(range(len(saved)))] if nested else []
        body = list(body)
        bound = {}
        names_in = [[n.id for n in name_nodes(s)] for s in body]  # per statement
        for var in variables:  # bind the restored variable itself when nothing reads it earlier
            reads = sum(ids.count(var) for ids in names_in)
            for index, s in enumerate(body):
                if isinstance(s, ast.Assign) and isinstance(s.value, ast.Name) and s.value.id == var:
                    name = s.targets[0].id if isinstance(s.targets[0], ast.Name) else None
                    if name and reads == 1 and name not in bound.values() and name not in variables \
                            and not any(name in ids for ids in names_in[:index]):
                        bound[var] = name
                        del body[index]
                        del names_in[index]
                    break
        targets = [bound.get(v, v) for v in (variables if lists else reversed(variables))]
        iterators = []
        if isinstance(loop, ast.For) and loop.target.id in _reads(ast.Module(body=body, type_ignores=[])):
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

    # -- backward sweep -----------------------------------------------------------------
    def accumulate(self, name, expr, state, where, source=PRESENT, convert=False):
        """Add `expr` to `name`'s adjoint; `source` is the state of the adjoint it came from
        (a contribution from a maybe-zero placeholder may itself be a scalar zero). A list's
        adjoint is a list: contributions of rules (`convert`: an array with one row per item,
        `np.array(xs)`'s adjoint) become lists aligned with the list."""
        target = self.bar(name)
        if self.kinds.get(name) == K.LIST:
            if name not in state:
                state[name] = PRESENT if convert else source
                return [assign(target, call("_rt.list_cotangent", expr, load(name)) if convert else expr, where)]
            both = PRESENT if PRESENT in (state[name], source) or convert else MAYBE_ZERO
            state[name] = both
            extra = [load(name)] if convert else []
            return [assign(target, call("_rt.list_add", load(target), expr, *extra), where)]
        negative, magnitude = split_sign(expr)
        if name in self.inplace:
            if name not in state:
                state[name] = PRESENT
                return [assign(target, call("_rt.owned", expr, load(name)), where)]
            return [assign(target, ast.BinOp(left=load(target), op=ast.Add(), right=expr), where)]
        if name not in state:
            state[name] = source
            return [assign(target, expr, where)]
        state[name] = PRESENT
        op = ast.Sub() if negative else ast.Add()
        return [assign(target, ast.BinOp(left=load(target), op=op, right=magnitude if negative else expr), where)]

    def materialize(self, name):
        if name in self.inplace or (self.portable and self.kinds.get(name) == K.LIST):
            return assign(self.bar(name), call("_rt.zeros_like", load(name)))
        return assign(self.bar(name), ast.Constant(0.0))

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
            if id(stmt) in self.loop_tapes:
                post = []
                if isinstance(stmt, ast.For) and id(stmt) in self.recording.loop_target_pushes:
                    post = [assign(stmt.target.id, self.pop(("target", id(stmt))))]
                return pre + self.taped_loop(stmt, body) + post
            if isinstance(stmt, ast.For):
                iterable = call("reversed", clone(stmt.iter))
                loop = ast.For(target=ast.Name(stmt.target.id, ast.Store()), iter=iterable, body=body or [ast.Pass()], orelse=[])
                post = []
                if id(stmt) in self.recording.loop_target_pushes:
                    post = [assign(stmt.target.id, self.pop(("target", id(stmt))))]
                return pre + [ast.copy_location(loop, stmt)] + post
            counter = self.loop_counters[id(stmt)]
            loop = ast.For(target=ast.Name("_", ast.Store()), iter=call("range", load(counter)), body=body or [ast.Pass()], orelse=[])
            return [assign(counter, self.pop(("count", id(stmt))))] + pre + [ast.copy_location(loop, stmt)]
        return []

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
        return ast.Call(func=ast.Attribute(value=load(obj), attr=method, ctx=ast.Load()), args=list(args), keywords=[])

    def backward_append(self, stmt, prim, state):
        """`xs.append(v)`: `v_bar += xs_bar.pop()`, then `xs.pop()` restores the list."""
        base, value = prim.args[0].id, prim.args[1]
        out = []
        if base in state:
            out += self.list_adjoint(base, state, stmt)
            popped = self._method(self.bar(base), "pop")
            operand = local_atom(value)
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
        name, base = stmt.targets[0].id, local_atom(prim.args[0])
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
            out.append(ast.copy_location(ast.Assign(targets=[store], value=call("_rt.zeros_like", old)), stmt))
        return out

    def backward_assign(self, stmt, state):
        out = []
        target = stmt.targets[0]
        pushed = id(stmt) in self.recording.pushes
        if isinstance(target, ast.Subscript) and self.kinds.get(target.value.id) == K.LIST:
            return self.backward_list_write(stmt, state)
        prim = self.analysis.primitives.get(id(stmt))
        if prim is not None and prim.kind == "list_pop":
            return self.backward_pop(stmt, prim, state)
        if isinstance(target, ast.Subscript):
            base = target.value.id
            if base in state:
                for operand, expr in self.adjoint_parts(stmt):
                    out += self.accumulate(operand, expr, state, stmt)
                store = ast.Subscript(value=load(self.bar(base)), slice=clone(target.slice), ctx=ast.Store())
                out.append(ast.copy_location(ast.Assign(targets=[store], value=ast.Constant(0.0)), stmt))
            if pushed:
                store = ast.Subscript(value=load(base), slice=clone(target.slice), ctx=ast.Store())
                out.append(ast.copy_location(ast.Assign(targets=[store], value=self.pop(id(stmt))), stmt))
            return out
        name = target.id
        recomputed = self.recompute.get(id(stmt), []) if name in self.active and name in state else []
        if recomputed:
            if pushed:
                out.append(assign(name, self.pop(id(stmt)), stmt))
                pushed = False
            for definition in recomputed:
                out.append(ast.copy_location(clone(definition), stmt))
        if name in self.active and name in state:
            prim = self.analysis.primitives[id(stmt)]
            source = state[name]
            if (
                state[name] == MAYBE_ZERO
                and prim.kind == "call"
                and not prim.rule.elementwise
                and not is_scalar(self.kinds.get(name))
            ):
                helper = "_rt.list_like" if self.kinds.get(name) == K.LIST else "_rt.like"
                out.append(assign(self.bar(name), call(helper, load(self.bar(name)), load(name)), stmt))
                source = PRESENT
            placeholder = state[name] == MAYBE_ZERO and prim.kind == "container" and self.kinds.get(name) == K.LIST
            for operand, expr in self.adjoint_parts(stmt):
                if placeholder:  # `xs_bar[k]` of a list adjoint that may still be a scalar zero
                    expr = call("_rt.item", expr.value, expr.slice)
                if operand == "@local":
                    out.append(assign(expr[0], expr[1], stmt))
                elif operand == "@list":
                    base, index, z_bar = expr
                    out += self.list_adjoint(base, state, stmt)
                    add = call("_rt.list_add_at", load(self.bar(base)), clone(index), z_bar)
                    out.append(ast.copy_location(ast.Expr(add), stmt))
                elif operand == "@inplace":
                    base, index, z_bar = expr
                    if base not in state:
                        out.append(assign(self.bar(base), call("_rt.zeros_like", load(base)), stmt))
                        state[base] = PRESENT
                    out.append(ast.copy_location(ast.Expr(call("_rt.add_at", load(self.bar(base)), clone(index), z_bar)), stmt))
                else:
                    # a rule's contribution to a list may be an array of rows; `+` and `* n` give lists
                    convert = (
                        prim.kind == "call" and self.kinds.get(name) != K.LIST and operand not in self.single_use_lists
                    )
                    out += self.accumulate(operand, expr, state, stmt, source, convert=convert)
            del state[name]
        if pushed:
            out.append(assign(name, self.pop(id(stmt)), stmt))
        return out

    # -- whole functions ----------------------------------------------------------------------
    def build(self, active_inputs, form="joint"):
        body = self.function.body
        ret = body[-1]
        output, aux = split_output(self.analysis, ret.value)
        out_name = local_atom(output)
        read_at_start = {p for p in active_inputs if not is_scalar(self.kinds.get(p))}
        self.recording = to_be_recorded(body, self.reads_of, read_at_start, self.params, push_all=not config.enabled(),
                                        list_change=self.list_change)
        forward = self.forward_sweep(body)
        state = {}
        seed = self.names.adjoint(out_name) if out_name else "_out_bar"
        if out_name in self.active:
            state[out_name] = PRESENT
        backward = self.backward(body[:-1], state)
        if out_name in self.active and self.kinds.get(out_name) == K.LIST:
            # a list output's cotangent (a list, or an array of rows): a list the backward sweep may change
            backward.insert(0, assign(seed, call("_rt.list_cotangent", load(seed), load(out_name))))
        grads = []
        for p in active_inputs:
            if p not in state:
                backward.append(assign(self.bar(p), _zero_for(p, self.kinds.get(p))))
            elif state[p] == MAYBE_ZERO and not is_scalar(self.kinds.get(p)):
                backward.append(assign(self.bar(p), call("_rt.like", load(self.bar(p)), load(p))))
            grads.append(load(self.bar(p)))
        pushed_names = {s.targets[0].id for s in walk_statements(body) if id(s) in self.recording.pushes and isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)}
        prologue = []
        stack_names = {"_push", "_pop"} & _reads(ast.Module(body=forward + backward, type_ignores=[]))
        self.uses_stack = bool(stack_names)
        if self.uses_stack:
            prologue = [
                assign("_stack", ast.List(elts=[], ctx=ast.Load())),
                assign("_push", ast.Attribute(value=load("_stack"), attr="append", ctx=ast.Load())),
                assign("_pop", ast.Attribute(value=load("_stack"), attr="pop", ctx=ast.Load())),
            ]
        inits = [assign(n, ast.Constant(None)) for n in sorted(self.recording.maybe_unbound)]
        value = output
        keep, aux_keep = [], []
        if out_name is not None and out_name in pushed_names:
            keep = [assign("_value", load(out_name))]
            value = load("_value")
        if out_name is not None and self.kinds.get(out_name) == K.LIST:  # the backward sweep undoes its changes
            keep = [assign("_value", call("_rt.copy_lists", load(out_name)))]
            value = load("_value")
        grads_tuple = ast.Tuple(elts=grads, ctx=ast.Load())
        grad_result = clone(grads_tuple)
        if aux is not None:  # has_aux: the value is (output, aux), read before the backward sweep
            if local_atom(aux) in pushed_names or (self.restored_lists and local_atom(aux) is not None):
                copied = call("_rt.copy_lists", clone(aux)) if self.restored_lists else clone(aux)
                aux_keep = [assign("_aux_value", copied)]
                aux = load("_aux_value")
            keep += aux_keep
            value = ast.Tuple(elts=[value, aux], ctx=ast.Load())
            grad_result = ast.Tuple(elts=[grad_result, clone(aux)], ctx=ast.Load())
        stack_pushes = sorted({
            node.lineno for node in walk(ast.Module(body=forward, type_ignores=[]))
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "_push" and getattr(node, "lineno", None)
        })
        records = list(self.records) + ([(None, stack_pushes)] if stack_pushes else [])
        if form == "gradient":  # what `grad` runs: the statements are used once, no copies
            grad_body = prologue + inits + forward + aux_keep + backward + [ast.Return(grad_result)]
            gradient = _function(f"{self.function.name}_grad", self.params + [seed], grad_body, self.function, defaults=[ast.Constant(1.0)])
            return ReverseCode(joint=None, forward=None, backward=None, gradient=gradient, records=records)
        joint_body = prologue + inits + forward + keep + backward + [ast.Return(ast.Tuple(elts=[value, grads_tuple], ctx=ast.Load()))]
        joint = _function(f"{self.function.name}_vjp", self.params + [seed], joint_body, self.function, defaults=[ast.Constant(1.0)])
        if form == "joint":
            return ReverseCode(joint=joint, forward=None, backward=None, gradient=None, records=records)

        # split mode: forward returns residuals, backward can be called many times
        tapes = {t[0] for t in self.loop_tapes.values()} | {n for names in self.tape_lists.values() for n in names}
        residual_names = sorted(
            n for n in _reads(ast.Module(body=backward, type_ignores=[]))
            if (n in self.kinds or n in tapes) and not _is_derivative(n, self) and n not in ("_pop",)
        )
        top_level = set(self.params) | {s.targets[0].id for s in body + forward if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)}
        split_inits = [assign(n, ast.Constant(None)) for n in residual_names if n not in top_level and n not in self.recording.maybe_unbound]
        stack_elt = [load("_stack")] if self.uses_stack else []
        residuals = ast.Tuple(elts=stack_elt + [load(n) for n in residual_names], ctx=ast.Load())
        fwd_body = prologue + inits + split_inits + forward + keep + [ast.Return(ast.Tuple(elts=[value, residuals], ctx=ast.Load()))]
        fwd = _function(f"{self.function.name}_forward", self.params, fwd_body, self.function)
        unpack_targets = ast.Tuple(elts=[ast.Name(n, ast.Store()) for n in (["_stack"] if self.uses_stack else []) + residual_names], ctx=ast.Store())
        bwd_prologue = [ast.Assign(targets=[unpack_targets], value=load("_residuals"))] if residuals.elts else []
        restored_in_place = {
            node.targets[0].value.id
            for node in walk(ast.Module(body=backward, type_ignores=[]))
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].value, ast.Name)
        }
        if self.restored_lists:
            # the backward sweep changes lists in place: each pullback call changes its own copies (one
            # copy per list, however many records hold it: the stack, loop tapes, residual variables)
            restored_in_place -= {n for n in restored_in_place if self.kinds.get(n) == K.LIST}
            copies = self.names._unique("_copies")
            bwd_prologue.append(assign(copies, ast.Dict(keys=[], values=[])))
            for n in residual_names:
                if self.kinds.get(n) == K.LIST or n in tapes:
                    bwd_prologue.append(assign(n, call("_rt.copy_lists", load(n), load(copies))))
            if self.uses_stack:
                stack_copy = call("_rt.copy_lists", load("_stack"), load(copies), ast.Constant(bool(restored_in_place)))
                bwd_prologue += [assign("_pop", ast.Attribute(value=stack_copy, attr="pop", ctx=ast.Load()))]
        elif self.uses_stack:
            # arrays popped back may be written into again: each pullback call gets its own copies
            stack_copy = call("_rt.copy_stack", load("_stack")) if restored_in_place else call("list", load("_stack"))
            bwd_prologue += [assign("_pop", ast.Attribute(value=stack_copy, attr="pop", ctx=ast.Load()))]
        for n in sorted(restored_in_place & set(residual_names)):
            bwd_prologue.append(assign(n, call("_rt.copy", load(n))))  # each pullback call restores its own copy
        bwd_body = bwd_prologue + backward + [ast.Return(grads_tuple)]
        bwd = _function(f"{self.function.name}_backward", ["_residuals", seed], bwd_body, self.function)
        return ReverseCode(joint=None, forward=fwd, backward=bwd, gradient=None, records=records)


def _counted(loop):
    """Is `loop` a `for t in range(n)` whose body leaves `t` alone? Then iteration `t` may store
    what it records at index `t` of lists made before the loop (a `for` loop that can be left
    early was made a `while` loop by desugaring, so all `n` iterations run)."""
    if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)):
        return False
    it = loop.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
            and len(it.args) == 1 and not it.keywords and isinstance(it.args[0], (ast.Name, ast.Constant))):
        return False
    stored = {n.id for s in loop.body for n in name_nodes(s) if isinstance(n.ctx, ast.Store)}
    return loop.target.id not in stored


def split_output(analysis, value):
    """(output, aux): a function compiled with has_aux returns the tuple (output, aux)."""
    if analysis.has_aux:
        return value.elts[0], value.elts[1]
    return value, None


def _is_derivative(name, transform):
    return name in transform.names.derived or name.startswith("_stack") or name in ("_push", "_pop", "_value")


def _matmul(left, right):
    return ast.BinOp(left, ast.MatMult(), right)


def _zero_for(name, kind):
    if is_scalar(kind):
        return ast.Constant(0.0)
    return call("_rt.zeros_like", load(name))


def _join(a, b):
    out = {}
    for name in set(a) | set(b):
        if a.get(name) == PRESENT and b.get(name) == PRESENT:
            out[name] = PRESENT
        else:
            out[name] = MAYBE_ZERO
    return out


def _function(name, params, body, where, defaults=()):
    node = ast.FunctionDef(
        name=name,
        args=ast.arguments(
            posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
            kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=list(defaults),
        ),
        body=body or [ast.Pass()],
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    ast.copy_location(node, where)
    return fix_statement_locations(node)  # unparsed to text: the statements' lines are all we read


def reverse_transform(function, namespace, input_kinds, active_inputs, analysis=None, form="joint", portable=False):
    """Build the adjoint code in one `form`: "joint" (`f_vjp`: value and gradient in one call),
    "split" (`f_forward` returning residuals, `f_backward` that may be called many times), or
    "gradient" (`f_grad`: the joint form without the value, for `grad`). `portable` code is to be
    differentiated again (`s2sad.frontend.nested`): loops push no tapes of their own, lists are
    copied whole."""
    if analysis is None:
        analysis = analyze(function, namespace, input_kinds, set(active_inputs))
    transform = ReverseTransform(function, analysis, namespace, active_inputs, portable)
    return transform.build(active_inputs, form)
