"""The lowering of one derivative function: its statements rewritten for numba (tapes and checks in
their own modules, `Tapes` and `Checks`)."""

import ast

import numpy as np

from .checks import Checks
from .kinds import describe, is_list, is_scalar, record_of, tape_kind, zero_of
from .spelling import Spelling, changed_lists, constant_axes
from .syntax import assign_to, call_of, marker_of, name_of, parse_expr, parse_stmt
from .tapes import Tapes


class Lowering(Tapes, Checks):
    """One function lowered: what its tapes record, its statements rewritten."""

    def __init__(self, function, values, namespace, where):
        self.function = function
        self.kinds = {name: describe(value) for name, value in values.items()}
        self.values = values
        self.namespace = namespace
        self.where = where
        self.comment = None
        self.stacks = []  # stack names, in order of first use
        # interleaved tape `_tape1 = []` -> (its count, [(array, recorded name)] in push order)
        self.tapes = {}
        self.counted = {}  # counted loop's tape list `_tape1_xs = [None] * n` -> the name it records
        self.aliases = {}  # `_tape1_reversed = reversed(_tape1)` -> `_tape1`
        self.products = {}  # ProductSum name -> its side
        self.params = [a.arg for a in function.args.args]
        self.global_params = []
        self.index = 0

    def kind(self, name):
        """The type numba gives `name`: the probe's, except for a counted loop's tape (a Python list in the
        probe), which numba holds as an array of the numbers it records or a list of its arrays, so that
        a loop inside a loop records the inner loop's tapes (a list of those)."""
        if name in self.counted and self.counted[name] is not None and self.counted[name] not in self.tapes:
            recorded = self.kind(self.counted[name])
            return tape_kind(recorded) if is_scalar(recorded) else ("list", recorded)
        return self.kinds.get(name)

    # -- the rewrite ------------------------------------------------------------------------------
    def block(self, stmts, loop_body_of=None):
        out = []
        pushes_left = None
        if loop_body_of is not None:
            pushes_left = sum(1 for s in stmts if self.tape_pushed(s) == loop_body_of)
        for stmt in stmts:
            comment = marker_of(stmt)
            if comment is not None:
                self.comment = comment
                out.append(stmt)
                continue
            out.extend(self.statement(stmt))
            if loop_body_of is not None and self.tape_pushed(stmt) == loop_body_of:
                pushes_left -= 1
                if pushes_left == 0:
                    count = self.tapes[loop_body_of][0]
                    out.append(parse_stmt(f"{count} = {count} + 1"))
        return out

    def statement(self, stmt):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            return self.assignment(stmt)
        if isinstance(stmt, ast.Expr):
            return self.expression_statement(stmt)
        if isinstance(stmt, (ast.While, ast.For)):
            return self.loop(stmt)
        if isinstance(stmt, ast.If):
            self.check(stmt.test)
            stmt.body = self.block(stmt.body)
            stmt.orelse = self.block(stmt.orelse)
            return [stmt]
        if isinstance(stmt, (ast.Return, ast.AugAssign, ast.Pass, ast.Break, ast.Continue, ast.Assign)):
            self.check(stmt)
            return [stmt]
        raise self.fail(
            f"the numba target cannot compile `{type(stmt).__name__.lower()}` statements",
            hint="use the Python target (the default backend) for this function",
        )

    def assignment(self, stmt):
        target, value = stmt.targets[0], stmt.value
        name = name_of(target)
        # `x = None` before a loop that first assigns x: a zero of x's type
        if name and isinstance(value, ast.Constant) and value.value is None:
            zero = zero_of(self.kind(name))
            if zero is None:
                raise self.object_error(name, self.kind(name))
            return [assign_to(name, zero)]
        # adjoints started as `0.0` that become arrays
        if name and isinstance(value, ast.Constant) and type(value.value) in (int, float):
            kind = self.kind(name)
            if is_list(kind) and value.value == 0:  # a list adjoint: zeros aligned with the list
                return [assign_to(name, parse_expr(f"_rt.zeros_like({self.list_of(name)})"))]
            if isinstance(kind, tuple) and kind[0] == "array":
                primal = name[: -len("_bar")] if name.endswith("_bar") else None
                if primal and self.kind(primal) == kind:
                    return [assign_to(name, parse_expr(f"_rt.zeros_like({primal})"))]
                shape = np.shape(self.values[name])
                return [assign_to(name, parse_expr(f"np.zeros({shape!r}) + {value.value!r}"))]
        if name in self.tapes:  # `_tape1 = []`: fresh arrays (a loop inside a loop records them per pass)
            return self.allocate(name)
        if name and name.endswith("_push") and name[: -len("_push")] in self.tapes:
            return []
        if name in self.aliases or name in ("_stack", "_push", "_pop"):
            return []
        if name in self.counted:
            return self.counted_tape(name, value)
        if isinstance(target, ast.Subscript) and name_of(target.value) in self.counted and name_of(value):
            base = target.value.id
            self.check(target.slice)
            return [
                ast.Assign(
                    targets=[
                        ast.Subscript(
                            value=ast.Name(id=part, ctx=ast.Load()), slice=target.slice, ctx=ast.Store()
                        )
                    ],
                    value=record_of(value_part, kind),
                    lineno=0,
                )
                for part, (value_part, kind) in zip(self.part_names(base, value.id), self.parts(value.id))
            ]
        if (
            name
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and name_of(value.func.value) == "_rt"
            and value.func.attr == "ProductSum"
        ):
            self.products[name] = value.args[0].value
            return [parse_stmt(f"{name}_gs = []"), parse_stmt(f"{name}_vs = []")]
        if call_of(value, "_pop") is not None and not value.args:
            return self.pop(target)
        if self.runtime_call(value, "list_like") and len(value.args) == 2:
            # `g = _rt.list_like(g, xs)`: the list adjoint, which the target starts as zeros (above)
            adjoint = name_of(value.args[0])
            if adjoint is None or not is_list(self.kind(adjoint)):
                raise self.fail(
                    "the numba target holds the adjoint of this list only as a list of zeros it starts"
                )
            return [] if adjoint == name else [assign_to(name, value.args[0])]
        if name in self.changed and self.kind(name) == ("object", "list"):
            raise self.fail(
                f"{self.display(name)} is a list of values of several types (arrays of several ranks or "
                "dtypes, or arrays and numbers) that the function changes in place; numba's lists hold "
                "one type",
                hint="keep items of one kind in each list, or use the Python target (the default backend)",
            )
        self.check(stmt)
        return [stmt]

    @staticmethod
    def runtime_call(node, helper):
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and name_of(node.func.value) == "_rt"
            and node.func.attr == helper
        )

    def list_of(self, adjoint):
        """The list whose adjoint is `adjoint` (`xs` for `xs_bar`): the target starts it as zeros like it."""
        primal = adjoint[: -len("_bar")] if adjoint.endswith("_bar") else None
        if primal is None or not is_list(self.kind(primal)):
            raise self.fail(
                "the numba target starts a list's adjoint as zeros aligned with the list, and cannot tell "
                f"which list {self.display(adjoint)} is the adjoint of",
                hint="use the Python target (the default backend) for this function",
            )
        return primal

    def expression_statement(self, stmt):
        call = stmt.value
        if isinstance(call, ast.Call):
            tape = self.tape_pushed(stmt)
            if tape is not None:
                value = call.args[0].id
                count, arrays = self.tapes[tape]
                array = next(a for a, v in arrays if v == value)
                if is_scalar(self.kind(value)):
                    return [parse_stmt(f"{array}[{count}] = {value}")]
                return [parse_stmt(f"{array}.append({ast.unparse(record_of(value, self.kind(value)))})")]
            if name_of(call.func) == "_push" and len(call.args) == 1:
                return self.push(call.args[0])
            if (
                isinstance(call.func, ast.Attribute)
                and name_of(call.func.value) in self.products
                and call.func.attr == "add"
            ):
                product = name_of(call.func.value)
                for arg in call.args:
                    self.check(arg)
                return [
                    ast.Expr(parse_expr(f"{product}_gs.append({ast.unparse(call.args[0])})")),
                    ast.Expr(parse_expr(f"{product}_vs.append({ast.unparse(call.args[1])})")),
                ]
        self.check(stmt)
        return [stmt]

    def run(self):
        fn = self.function
        self.changed = changed_lists(fn)
        spelling = Spelling(self.changed)
        fn.body = [spelling.visit(stmt) for stmt in fn.body]
        fn.body = self.gathers(fn.body)
        constant_axes(fn)
        self.where_bound = {}
        self.first_lines(fn.body)
        self.taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | set(self.params)
        self.collect(fn.body)
        for name in self.params:
            kind = self.kind(name)
            if isinstance(kind, tuple) and kind[0] == "object":
                raise self.where.error(
                    f"the numba target takes numbers and arrays; the parameter `{name}` is a {kind[1]}",
                    self.where.definition,
                    hint="differentiate it (a dict, list or tuple of arrays and floats is flattened), pass its "
                    "values as separate arguments, or use the Python target (the default backend)",
                )
        self.locals = set(self.params) | {
            n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        self.locals |= {a for _, arrays in self.tapes.values() for a, _ in arrays}
        body = self.block(fn.body)
        body = self.rewrite_products(body)
        body[0:0] = [parse_stmt(f"_stack_{key} = []") for key in self.stacks]
        fn.body = body
        for arg in fn.args.args:
            arg.annotation = None
        fn.args.defaults = []
        fn.args.args += [ast.arg(arg=name) for name in self.global_params]
        fn.decorator_list = []
        return fn

    def rewrite_products(self, body):
        products = self.products
        weights = {}  # product sum -> the weight its `total` names

        class Totals(ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if (
                    isinstance(node.func, ast.Attribute)
                    and name_of(node.func.value) in products
                    and node.func.attr == "total"
                ):
                    name = node.func.value.id
                    side = products[name]
                    weights[name] = ast.unparse(node.args[0])
                    return parse_expr(f"_rt.product_sum({name}_gs, {name}_vs, {side!r}, {weights[name]})")
                if (  # after its `total` (the peephole writes them in that order)
                    isinstance(node.func, ast.Attribute)
                    and name_of(node.func.value) in weights
                    and node.func.attr == "cotangent_sum"
                ):
                    name = node.func.value.id
                    return parse_expr(f"_rt.cotangent_sum({name}_gs, {products[name]!r}, {weights[name]})")
                return node

        module = Totals().visit(ast.Module(body=body, type_ignores=[]))
        return module.body
