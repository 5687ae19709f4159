"""Vector forward mode: the tangents along k directions at once, in one pass (`jacfwd`).

Every tangent carries its directions on a leading axis: the tangent of `x`
(shape `S`) is `x_dot` of shape `(k,) + S`, and `x_dot[j]` is the tangent along
direction `j`; a scalar's tangent has shape `(k,)`. The primal code runs once.
How each rule's tangent is written:

- a list or tuple passed where NumPy expects an array has a list of tangents,
  made into one array of directions first (`_rt.array_directions(xs_dot)`);
- a rule's `batched=True` template (`s2sad.rules.tangent`), if it has one;
- an elementwise rule's ordinary template, whose NumPy functions broadcast the
  direction axis by themselves; an operand's tangent that may have fewer axes
  than the result gets them first (`_rt.lift(y_dot, z)`);
- a template that combines scalar operands' tangents by `+ - * /` alone
  (the `math` functions), unchanged;
- any other template (a custom rule, `np.linalg.solve`, ...) direction by
  direction, at run time: `_rt.each_direction(lambda x_dot_i: ..., x_dot)`.
  Slower, never wrong.

>>> import ast, math
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.transforms.forward import forward_transform
>>> tree = normalize(ast.parse('''
... def f(x, y):
...     z = np.sum(x * y, axis=0)
...     return z
... ''').body[0])
>>> print(ast.unparse(forward_transform(tree, {"np": np}, {"x": "array", "y": "float"}, ["x", "y"],
...                                     transform_class=VectorForwardTransform)))
def f_jvp_vector(x, y, x_dot, y_dot):
    _t1 = x * y
    _t1_dot = x_dot * y + x * _rt.lift(y_dot, _t1)
    z = np.sum(_t1, axis=0)
    z_dot = np.sum(_t1_dot, axis=1, keepdims=False)
    return (z, z_dot)
"""

import ast
import operator

import numpy as np

from .. import config
from .. import kinds as K
from ..astutil import clone
from .derivatives import (
    assign,
    atom_kind,
    bind_template,
    call,
    carriers,
    is_scalar,
    is_zero,
    load,
    local_atom,
    simplified,
)
from ..analyses.activity import walk_statements
from .forward import ForwardTransform
from .forward_columns import Demand, demanded_columns
from ..rules import tangent_for

_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class VectorForwardTransform(ForwardTransform):
    """ForwardTransform whose tangents have a leading axis of directions."""

    suffix = "_jvp_vector"
    call_jvp = "_rt.call_jvp_directions"

    def __init__(self, function, analysis, namespace):
        super().__init__(function, analysis, namespace)
        self.count_name = None  # `k`, the number of directions, once some code needs it
        self.direction_names = {}
        self.ranks = same_rank_classes(function, analysis)
        self.demand = (
            demanded_columns(function, analysis, self.setitem_bases) if config.enabled() else Demand()
        )
        self.columns_names = {c: self.names._unique("cols") for c in sorted(self.demand.indices)}
        self.primal_of = {}
        if self.demand.hoisted:  # the gathered indices are computed first (see forward_columns)
            moved = {id(s) for s in self.demand.hoisted}
            function.body = [s for s in function.body if id(s) not in moved]

    # -- zeros need the number of directions -----------------------------------------------------
    def count(self):
        if self.count_name is None:
            self.count_name = self.names._unique("k")
        return load(self.count_name)

    def prologue(self, active_inputs):
        out = []
        if self.count_name is not None:
            first = [self.dot(n) for n in active_inputs]
            value = call("len", load(first[0])) if first else ast.Constant(0)
            out.append(assign(self.count_name, value))
        out += self.demand.hoisted
        for c, name in self.columns_names.items():
            out.append(assign(name, call("_rt.column_union", *[clone(i) for i in self.demand.indices[c]])))
        return out

    def materialize(self, name):
        kind = self.kinds.get(name)
        if is_scalar(kind):
            value = call("np.zeros", self.count())
        else:
            value = call("_rt.zeros_directions", self.at_columns(load(name)), self.count())
        return assign(self.dot(name), value)

    def zeros(self, atom):
        if atom_kind(atom, self.kinds) in (K.FLOAT, K.INT, K.BOOL):
            return call("np.zeros", self.count())
        return call("_rt.zeros_directions", self.at_columns(clone(atom)), self.count())

    # -- demanded columns (s2sad.transforms.forward_columns) -------------------------------------
    def at_columns(self, atom):
        """A restricted value's zero tangent is shaped like the value at its columns."""
        c = self.demand.component.get(local_atom(atom, self.globals))
        return atom if c is None else call("_rt.columns", atom, load(self.columns_names[c]))

    def assign(self, stmt, state):
        name = stmt.targets[0].id
        gather = self.demand.gathers.get(id(stmt))
        if gather is not None and name in self.active:
            c, part, leading = gather
            base = self.analysis.primitives[id(stmt)].args[0].id
            if base not in state:
                state.discard(name)
                return [stmt]
            tangent = call(
                "_rt.gathered_columns",
                load(self.dot(base)),
                load(self.columns_names[c]),
                ast.Constant(part),
                load(base),
                ast.Constant(leading),
            )
            if name in self.setitem_bases:
                tangent = call("_rt.copy", tangent)
            state.add(name)
            return [stmt, assign(self.dot(name), tangent, stmt)]
        c = self.demand.component.get(name)
        out = super().assign(stmt, state)
        if c is None:
            return out
        return out[:1] + self.restricted(out[1:], stmt, load(self.columns_names[c]))

    def restricted(self, statements, stmt, cols):
        """The tangent statements of `stmt` (whose result carries demanded columns `cols`) with every
        value taken at those columns: restricted tangents as they are, other tangents and values
        through `_rt.tangent_columns` / `_rt.columns`; a matrix product's left operand whole."""
        prim = self.analysis.primitives[id(stmt)]
        left = right = None
        if prim.kind == "call" and prim.rule.key in (operator.matmul, np.matmul):
            left, right = (local_atom(a, self.globals) for a in prim.args)
        if len(self.primal_of) != len(self.names.assigned):  # tangent name -> its value's name
            self.primal_of = {d: n for (n, suffix), d in self.names.assigned.items() if suffix == "_dot"}
        primal_of = self.primal_of
        local = {s.targets[0].id for s in statements}  # a template's own temporaries
        demand, namespace, kinds = self.demand, self.namespace, self.kinds

        class Restrict(ast.NodeTransformer):
            def visit_Call(self, node):
                if _is_helper(node, "lift") and len(node.args) == 2:  # reads the value's rank alone
                    node.args[0] = self.visit(node.args[0])
                    return node
                node.args = [self.visit(a) for a in node.args]
                node.keywords = [self.visit(k) for k in node.keywords]
                return node  # the callee is never a value

            def visit_Attribute(self, node):
                if isinstance(node.value, ast.Name) and node.value.id not in kinds:
                    return node  # `np.cos`, `_rt.lift`
                return self.generic_visit(node)

            def visit_Name(self, node):
                n = node.id
                if not isinstance(node.ctx, ast.Load) or n in local:
                    return node
                if n in primal_of:
                    p = primal_of[n]
                    if p == left:
                        return node
                    if p in demand.component:
                        return call("_rt.matrix_tangent", node, load(p)) if p == right else node
                    return call("_rt.tangent_columns", node, load(p), clone(cols), *_matrix(p == right))
                value = n in kinds and not is_scalar(kinds.get(n))
                value = value or isinstance(namespace.get(n), np.ndarray)
                if not value or n == left:
                    return node
                return call("_rt.columns", node, clone(cols), *_matrix(n == right))

        out = []
        for s in statements:
            s.value = Restrict().visit(s.value)
            out.append(s)
        return out

    # -- rules ----------------------------------------------------------------------------------------
    def rule_tangent(self, stmt, name, prim, state, out):
        rule = prim.rule
        if rule.tangent is None and rule.batched_tangent is None:
            raise NotImplementedError(rule.name)
        batched = rule.batched_tangent is not None
        template = rule.batched_tangent if batched else rule.tangent
        values = bind_template(template, prim)
        list_item = rule.key is operator.getitem and atom_kind(values["x"], self.kinds) == K.LIST
        if list_item:  # an item of a Python list (of arrays of any shapes): its tangent, item by item
            template, batched = rule.tangent, True
        elif rule.key is operator.getitem and atom_kind(values["x"], self.kinds) in (K.ANY, K.OTHER):
            # a value of unknown kind (a recursive call's result) may be a tuple, whose tangent is
            # a tuple of tangents: which indexing is right is known at run time only
            tangent = self.tangent_of(values["x"], state)
            return None if is_zero(tangent) else call("_rt.item_directions", tangent, clone(values["index"]))
        if not batched:
            template = tangent_for(rule, values)
        values[template.output] = load(name)
        derivs = {f"{p}_dot": self.tangent_of(values[p], state) for p in template.operands}
        if (
            not rule.extra.get("sequence_operand") and not rule.extra.get("lists") and not list_item
        ):  # a list passed as an array-like
            for p in template.operands:
                tangent = derivs[f"{p}_dot"]
                if not is_zero(tangent) and atom_kind(values[p], self.kinds) in (
                    K.LIST,
                    K.OTHER,
                ):
                    derivs[f"{p}_dot"] = call("_rt.array_directions", tangent)
        result_scalar = is_scalar(self.kinds.get(name))
        holders = carriers(derivs)
        if not batched and rule.elementwise and not result_scalar:
            lifted = self.lifted(template, values, derivs, name)
            holders = carriers(derivs, [derivs[d] for d in derivs if lifted[d] is not derivs[d]])
            derivs = lifted
        parts = template.instantiate(values, derivs, fresh=self.names.fresh)
        if batched or rule.elementwise or self.safe_as_is(template, values, derivs, result_scalar):
            for target, expr in parts[:-1]:
                out.append(assign(target, _fold(expr, self.kinds, self.globals), stmt))
            tangent = simplified(parts[-1][1], holders)
            if tangent is not None:
                tangent = _fold(tangent, self.kinds, self.globals)
        else:
            tangent = self.each_direction(parts, derivs, stmt, out, holders)
        return self.full_shaped(tangent, rule, template, values, derivs, name, "_rt.broadcast_directions")

    def lifted(self, template, values, derivs, name):
        """Operand tangents that may have fewer axes than the result get them: `_rt.lift(y_dot, z)`."""
        kinds = {p: atom_kind(values[p], self.kinds) for p in template.operands}
        shaped = [p for p, k in kinds.items() if not is_scalar(k) and k != K.OTHER]
        result_rank = self.ranks.get(name)
        out = dict(derivs)
        for p in template.operands:
            tangent = derivs[f"{p}_dot"]
            if is_zero(tangent) or kinds[p] == K.OTHER:
                continue
            same_rank = (
                result_rank is not None
                and _rank(values[p], self.ranks, self.kinds, self.globals) == result_rank
            )
            if is_scalar(kinds[p]) or (len(shaped) > 1 and not same_rank):
                out[f"{p}_dot"] = call("_rt.lift", clone(tangent), load(name))
        return out

    def safe_as_is(self, template, values, derivs, result_scalar):
        """A one-direction template combining scalars' tangents by + - * / only is right
        for many directions as it is."""
        if not result_scalar:
            return False
        for p in template.operands:  # a scalar result from an ANY operand: a scalar at run time
            if not is_zero(derivs[f"{p}_dot"]) and atom_kind(values[p], self.kinds) not in (
                K.FLOAT,
                K.INT,
                K.BOOL,
                K.ANY,
            ):
                return False
        tangent_names = {f"{p}_dot" for p in template.operands}
        return all(_linear_arithmetic(stmt, tangent_names) for stmt in template.body)

    def each_direction(self, parts, derivs, stmt, out, holders):
        """The fallback: `_rt.each_direction(lambda x_dot_i: <template>, x_dot)`."""
        carried = [d for d in derivs.values() if isinstance(d, ast.Name)]
        if any(not isinstance(d, ast.Name) and not is_zero(d) for d in derivs.values()):
            raise NotImplementedError(
                f"{parts[-1][0]} (a tangent computed in the call)"
            )  # never a silent zero
        names = []
        for d in carried:
            if d.id not in names:
                names.append(d.id)
        if not names:
            return None
        params = {}
        for n in names:
            if n not in self.direction_names:
                self.direction_names[n] = self.names._unique(f"{n}_i")
            params[n] = self.direction_names[n]
        inlined = {}  # template locals that read tangents: computed per direction
        for target, expr in parts[:-1]:
            expr = _rename(expr, params, inlined)
            if {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)} & set(params.values()):
                inlined[target] = expr
            else:
                out.append(assign(target, expr, stmt))
        body = simplified(parts[-1][1], holders)
        if body is None:
            return None
        body = _rename(body, params, inlined)
        lam = ast.Lambda(
            args=ast.arguments(
                posonlyargs=[],
                args=[ast.arg(arg=params[n]) for n in names],
                vararg=None,
                kwonlyargs=[],
                kw_defaults=[],
                kwarg=None,
                defaults=[],
            ),
            body=body,
        )
        return call("_rt.each_direction", lam, *[load(n) for n in names])

    # -- in-place writes --------------------------------------------------------------------------
    def store_tangent(self, target, value_tangent, stmt):
        base = target.value.id
        if self.kinds.get(base) == K.LIST:
            return super().store_tangent(target, value_tangent, stmt)
        index = _batched_slice(target.slice, self.kinds, self.globals)
        store = ast.Subscript(value=load(self.dot(base)), slice=index, ctx=ast.Store())
        if is_zero(value_tangent):
            value = ast.Constant(0.0)
        else:  # `a[i] = s` may broadcast s over a row: the directions of s must too
            read = ast.Subscript(value=load(base), slice=clone(target.slice), ctx=ast.Load())
            value = call("_rt.lift", value_tangent, read)
        return ast.Assign(targets=[store], value=value)


_UNSET = object()


def _matrix(flag):
    return [ast.Constant(True)] if flag else []


def _rank(atom, ranks, kinds, globals_):
    """The rank class of an operand: 0 for scalars, a name's class, None if unknown (a global's)."""
    if isinstance(atom, ast.Constant):
        return 0 if isinstance(atom.value, (int, float)) else None
    name = local_atom(atom, globals_)
    if name is None:
        return None
    if is_scalar(kinds.get(name)):
        return 0
    rank = ranks.get(name, _UNSET)
    return None if rank is _UNSET else rank


def same_rank_classes(function, analysis):
    """Names known to have as many axes as each other: an array parameter starts a class,
    elementwise rules keep the class of their array operands (`z = x * y + np.sin(x)` has
    the class of `x` when `y` is a scalar). Needed where a tangent may lack the result's axes."""
    kinds = analysis.kinds
    ranks = {a.arg: (0 if is_scalar(kinds.get(a.arg)) else ("param", a.arg)) for a in function.args.args}
    statements = [
        s
        for s in walk_statements(function.body)
        if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
    ]
    loop_targets = {
        s.target.id
        for s in walk_statements(function.body)
        if isinstance(s, ast.For) and isinstance(s.target, ast.Name)
    }
    for name in loop_targets:
        ranks[name] = 0 if is_scalar(kinds.get(name)) else None
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            name = stmt.targets[0].id
            prim = analysis.primitives.get(id(stmt))
            if is_scalar(kinds.get(name)):
                rank = 0
            elif prim is None:
                rank = None
            elif prim.kind == "copy":
                rank = _rank(prim.args[0], ranks, kinds, analysis.globals) if prim.args else None
            elif prim.kind == "call" and prim.rule is not None and prim.rule.elementwise:
                classes = {
                    _rank(a, ranks, kinds, analysis.globals)
                    for a in list(prim.args) + list(prim.keywords.values())
                    if not isinstance(a, ast.Constant) or a.value is not None
                }
                classes.discard(0)
                rank = classes.pop() if len(classes) == 1 else None
            else:
                rank = None
            old = ranks.get(name, _UNSET)
            new = rank if old is _UNSET or old == rank else None  # two classes: unknown
            if old is _UNSET or new != old:
                ranks[name] = new
                changed = True
    return ranks


def _linear_arithmetic(stmt, tangent_names):
    """Do tangent names appear in `stmt` only under + - * / (and not as a divisor)?"""
    if not isinstance(stmt, ast.Assign):
        return False

    def ok(node, under_arithmetic):
        if isinstance(node, ast.Name):
            return node.id not in tangent_names or under_arithmetic
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC):
            if isinstance(node.op, ast.Div):
                return ok(node.left, under_arithmetic) and ok(node.right, False)
            return ok(node.left, under_arithmetic) and ok(node.right, under_arithmetic)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return ok(node.operand, under_arithmetic)
        return all(ok(child, False) for child in ast.iter_child_nodes(node))

    return ok(stmt.value, True)


def _rename(expr, params, inlined):
    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in params:
                return ast.Name(id=params[node.id], ctx=ast.Load())
            if node.id in inlined:
                return clone(inlined[node.id])
            return node

    return Rename().visit(expr)


def _static_index(node, kinds, globals_):
    """The items of an index known at compile time not to be a tuple, as a list; else None."""
    if isinstance(node, ast.Tuple):
        return list(node.elts)
    if isinstance(node, (ast.Slice, ast.Constant)):
        return [node]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "slice":
        return [node]
    name = local_atom(node, globals_)
    if name is not None and kinds.get(name) in (K.INT, K.BOOL, K.ARRAY):
        return [node]
    return None


def _batched_slice(index, kinds, globals_):
    """`i` -> `:, i`; `(i, j)` -> `:, i, j`; an index that may be a tuple -> `_rt.batch_index(idx)`."""
    items = _static_index(index, kinds, globals_)
    if items is None:
        return call("_rt.batch_index", clone(index))
    return ast.Tuple(elts=[ast.Slice()] + [_as_slice(clone(e)) for e in items], ctx=ast.Load())


def _as_slice(node):
    """`slice(a, b, None)` -> `a:b` inside a subscript."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "slice"
        and not node.keywords
    ):
        parts = list(node.args) + [None] * (3 - len(node.args))
        if len(node.args) == 1:
            parts = [None, node.args[0], None]
        lower, upper, step = (
            None if p is None or (isinstance(p, ast.Constant) and p.value is None) else p for p in parts[:3]
        )
        return ast.Slice(lower=lower, upper=upper, step=step)
    return node


def _fold(expr, kinds, globals_):
    """Write batch helpers known at compile time out: `x_dot[_rt.batch_index(i)]` -> `x_dot[:, i]`,
    `_rt.batch_axis(0, x)` -> `1`."""

    class Fold(ast.NodeTransformer):
        def visit_Subscript(self, node):
            self.generic_visit(node)
            index = node.slice
            if _is_helper(index, "batch_index") and len(index.args) == 1:
                items = _static_index(index.args[0], kinds, globals_)
                if items is not None:
                    node.slice = ast.Tuple(elts=[ast.Slice()] + [_as_slice(e) for e in items], ctx=ast.Load())
            return node

        def visit_Call(self, node):
            self.generic_visit(node)
            if _is_helper(node, "batch_axis") and len(node.args) == 2:
                axis = node.args[0]
                value = axis.value if isinstance(axis, ast.Constant) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    return ast.Constant(value + 1 if value >= 0 else value)
                if (
                    isinstance(axis, ast.Constant)
                    and value is None
                    and atom_kind(node.args[1], kinds) in (K.FLOAT, K.INT)
                ):
                    return ast.Tuple(elts=[], ctx=ast.Load())
            return node

    return Fold().visit(expr)


def _is_helper(node, name):
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "_rt"
    )


__all__ = ["VectorForwardTransform", "np"]
