"""What numba cannot compile, refused before numba runs: an s2sad error at the user's line that names
the construct (never a generated name), and module-level values read become parameters."""

import ast
import builtins
import math
import re
import types as pytypes

import numpy as np

from ...runtime import checkpoints
from .syntax import marker_of, name_of, parse_expr

# builtins numba compiles on numbers and arrays
_BUILTINS = {
    "range",
    "len",
    "abs",
    "min",
    "max",
    "float",
    "int",
    "bool",
    "round",
    "sum",
    "pow",
    "divmod",
    "slice",
    "zip",
    "enumerate",
    "reversed",
    "isinstance",
    "print",
    "True",
    "False",
    "None",
}


_MODULES = (np, math)


# the checkpoint schedules a marked loop's derivative runs (Python objects: refused with their own message)
_SCHEDULES = {
    name
    for name, value in vars(checkpoints).items()
    if isinstance(value, type) and issubclass(value, checkpoints.Checkpoints)
}
# the helpers `s2sad.runtime.numba` compiles for numba (generated code calls them as `_rt.NAME`)
RUNTIME_HELPERS = (
    "grow",
    "reserve",
    "list_like",
    "list_add_at",
    "item",
    "owned",
    "like",
    "zeros_like",
    "unbroadcast",
    "unreduce",
    "mean_partials",
    "product_sum",
    "cotangent_sum",
    "copy",
    "matmul_adjoint_x",
    "matmul_adjoint_y",
    "add_at",
    "reduce",
    "extremum_weights",
    "broadcast_like",
    "gather",
    "ufunc",
    "index_adjoint",
)


class Checks:
    """The lowering's errors and checks (a part of `Lowering`)."""

    def fail(self, message, hint=None, comment=None):
        return self.where.error(message, comment or self.comment or self.where.definition, hint)

    def first_lines(self, block, comment=None):
        """name -> the `# file:line: code` comment above its first assignment (for errors about a name
        that is bound before the comments start)."""
        for stmt in block:
            marker = marker_of(stmt)
            if marker is not None:
                comment = marker
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
            for node in (n for t in targets if t is not None for n in ast.walk(t)):
                if isinstance(node, ast.Name) and comment:
                    self.where_bound.setdefault(node.id, comment)
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    comment = self.first_lines(inner, comment) or comment
        return comment

    def object_error(self, name, kind):
        value = self.values.get(name)
        what = f"a {kind[1]} object"
        if type(value).__module__.startswith("s2sad"):
            what += " (a custom rule written in Python, or a call s2sad runs through Python)"
        return self.fail(
            f"this line makes {what}, which numba cannot compile",
            hint="use the Python target (the default backend) for this function",
            comment=self.where_bound.get(name),
        )

    def display(self, name):
        """How an error names a value: the user's name, never a generated one (`_t4`, `rhs1_x`)."""
        if name is None or name.startswith("_") or re.match(r"\w+\d+_", name):
            return "a value it computes"
        return f"`{name}`"

    # -- what numba cannot compile ------------------------------------------------------------------
    def check(self, node):
        for sub in ast.walk(node):
            if isinstance(
                sub,
                (
                    ast.Lambda,
                    ast.Dict,
                    ast.Set,
                    ast.DictComp,
                    ast.SetComp,
                    ast.GeneratorExp,
                    ast.ListComp,
                    ast.JoinedStr,
                    ast.Starred,
                    ast.Yield,
                    ast.Await,
                ),
            ):
                what = {ast.Dict: "a dict", ast.Lambda: "a lambda", ast.JoinedStr: "an f-string"}.get(
                    type(sub), "this construct"
                )
                raise self.fail(
                    f"the numba target cannot compile {what}: `{ast.unparse(sub)}`",
                    hint="use the Python target (the default backend) for this function",
                )
            if (
                isinstance(sub, ast.Attribute)
                and name_of(sub.value) == "_rt"
                and sub.attr not in RUNTIME_HELPERS
            ):
                if sub.attr in _SCHEDULES:
                    raise self.fail(
                        "the numba target does not checkpoint loops: this loop is marked "
                        "`# s2sad: checkpoint`, whose schedule runs in Python",
                        hint="use the Python target (the default backend), which checkpoints it, or remove the "
                        "pragma: the numba target then records every iteration in typed arrays (memory grows "
                        "with the number of steps)",
                    )
                raise self.fail(
                    f"the numba target has no compiled version of s2sad's helper `{sub.attr}`, which "
                    "the derivative of this line calls",
                    hint="use the Python target (the default backend) for this function",
                )
            if isinstance(sub, ast.Name) and sub.id in {"_stack", "_push", "_pop"} | set(self.tapes) | set(
                self.aliases
            ):
                raise self.fail("the numba target cannot lower this use of the derivative's stack or tape")
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                self.check_global(sub.id)
            if (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr == "pop"
                and (sub.args or sub.keywords)
                and isinstance(self.kind(name_of(sub.func.value)), tuple)
                and self.kind(name_of(sub.func.value))[0] in ("list", "object")
            ):  # numba 0.68's lists corrupt memory removing their first item after appends
                raise self.fail(
                    "the numba target does not remove a list's item by position (`pop` with an index): "
                    "numba's lists can corrupt memory doing it",
                    hint="use the Python target (the default backend) for this function",
                )

    def check_global(self, name):
        if name in self.locals or name in self.global_params or name in ("np", "math", "_rt"):
            return
        if name in self.namespace:
            value = self.namespace[name]
            if isinstance(value, pytypes.ModuleType) and value in _MODULES:
                return
            if isinstance(value, (bool, int, float, np.number, np.bool_, np.ndarray)):
                if isinstance(value, np.ndarray) and value.dtype.kind not in "fiub":
                    raise self.fail(f"reads `{name}`, an array of {value.dtype}, which numba cannot compile")
                self.global_params.append(name)
                return
            if isinstance(value, tuple) and all(isinstance(v, (int, float, np.ndarray)) for v in value):
                self.global_params.append(name)
                return
            if callable(value):
                raise self.fail(
                    f"calls `{name}`, a Python function s2sad did not inline; numba cannot call it",
                    hint="make it a function s2sad inlines (its source in a file), or use the Python target",
                )
            raise self.fail(
                f"reads `{name}`, a {type(value).__name__} object, which numba cannot compile",
                hint="pass arrays and numbers, or use the Python target (the default backend)",
            )
        if name in _BUILTINS or not hasattr(builtins, name):
            return
        raise self.fail(f"calls the builtin `{name}`, which the numba target does not compile")

    def gathers(self, body):
        """`x[i, j]` with integer arrays `i`, `j` -> `_rt.gather(x, (i, j))` (numba takes one array index)."""
        lowering = self

        def integer_array(node):
            kind = lowering.kind(name_of(node)) if name_of(node) else None
            return isinstance(kind, tuple) and kind[0] == "array" and kind[2] in "iu"

        class Gathers(ast.NodeTransformer):
            def visit_Expr(self, node):
                comment = marker_of(node)
                if comment is not None:
                    lowering.comment = comment
                return self.generic_visit(node)

            def visit_Subscript(self, node):
                self.generic_visit(node)
                index = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                arrays = sum(1 for i in index if integer_array(i))
                if arrays < 2:
                    return node
                if arrays < len(index) or not isinstance(node.ctx, ast.Load):
                    raise lowering.fail(
                        "the numba target indexes with several integer arrays only when every index is "
                        f"an array and the value is read: `{ast.unparse(node)}`",
                        hint="use the Python target (the default backend) for this function",
                    )
                return ast.Call(func=parse_expr("_rt.gather"), args=[node.value, node.slice], keywords=[])

        out = [Gathers().visit(stmt) for stmt in body]
        self.comment = None
        return out
