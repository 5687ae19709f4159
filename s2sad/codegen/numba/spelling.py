"""NumPy calls spelled as numba compiles them (before the lowering reads the derivative): defaults
dropped, reductions along axes and vectorized functions as run-time helpers, constant axes written."""

import ast
import re

from .syntax import name_of, parse_expr

# NumPy functions whose vectorized loops beat numba's one libm call per entry (runtime/numba_arrays.py: VECTORIZED)
VECTORIZED = ("tanh", "exp", "log", "arctan", "expm1", "log1p", "sinh", "cosh")


def constant_of(node, default=0j):
    """The value of a constant node (`-1` too), else `default`."""
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    ):
        return -node.operand.value
    return node.value if isinstance(node, ast.Constant) else default


_AXIS_HELPERS = ("reduce", "unreduce", "mean_partials", "extremum_weights")


def constant_axes(fn):
    """A temporary bound once to a constant axis (`_t3 = (0, 2)`) is written as the constant where a
    reduction helper takes it: numba types axes as constants (literals) only when they are written so.
    (Other bindings of it are the tape's saving and restoring of that same value.)"""
    constants, sites = {}, {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and name_of(node.targets[0]):
            name = node.targets[0].id
            value = node.value
            if constant_of(value, None) is None and not isinstance(value, ast.Tuple):
                continue
            if isinstance(value, ast.Tuple) and not all(
                isinstance(constant_of(e, None), int) for e in value.elts
            ):
                continue
            if not isinstance(value, ast.Tuple) and not isinstance(constant_of(value, None), (int, bool)):
                continue
            sites[name] = sites.get(name, 0) + 1
            constants[name] = value
    constants = {n: v for n, v in constants.items() if sites[n] == 1 and re.match(r"_t\d+$", n)}
    if not constants:
        return
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and name_of(node.func.value) == "_rt"
            and node.func.attr in _AXIS_HELPERS
        ):
            node.args = [constants.get(name_of(a), a) if name_of(a) else a for a in node.args]


def changed_lists(fn):
    """The names the function changes in place as lists: item assignment, `append`, `pop`, `insert`,
    `extend`."""
    changed = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and name_of(node.value):
            changed.add(node.value.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "pop", "insert", "extend")
            and name_of(node.func.value)
        ):
            changed.add(node.func.value.id)
    return changed


class Spelling(ast.NodeTransformer):
    """NumPy calls as numba takes them: keywords that only restate NumPy's default dropped
    (`np.sum(x, axis=None, keepdims=False)` -> `np.sum(x)`; numba has no `keepdims`), and
    `v.copy()` as `_rt.copy(v)` (v may be an array item: a number, which has no method in numba),
    list literals as tuples."""

    DEFAULTS = {"axis": None, "keepdims": False}
    C_ORDER = ("reshape", "ravel", "flatten", "zeros", "ones", "empty", "full")

    REDUCTIONS = {"sum": "sum", "prod": "prod", "mean": "mean", "max": "max", "amax": "max", "min": "min"}
    REDUCTIONS.update(amin="min", argmax="argmax", argmin="argmin")

    def reduction(self, node):
        """`np.max(x, axis=1, keepdims=True)` (or `x.max(1, keepdims=True)`) -> `_rt.reduce(x, "max", 1,
        True)`: numba reduces along no axis but `np.sum`'s and has no keepdims."""
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in self.REDUCTIONS:
            return None
        owner = name_of(func.value)
        if owner == "np" and node.args:
            array, rest = node.args[0], node.args[1:]
        elif owner not in ("np", "math", "_rt") and not func.attr.startswith("am"):
            array, rest = func.value, node.args
        else:
            return None
        keywords = {k.arg: k.value for k in node.keywords}
        if len(rest) > 1 or set(keywords) - {"axis", "keepdims"} or (rest and "axis" in keywords):
            return None  # dtype=, out=, initial=, where=: left to numba (which refuses them at the line)
        axis = rest[0] if rest else keywords.get("axis", ast.Constant(None))
        keepdims = keywords.get("keepdims", ast.Constant(False))
        if constant_of(axis) is None and constant_of(keepdims) is False:
            return None  # over all entries: numba's own
        op = ast.Constant(self.REDUCTIONS[func.attr])
        return ast.Call(func=parse_expr("_rt.reduce"), args=[array, op, axis, keepdims], keywords=[])

    def __init__(self, changed=()):
        super().__init__()
        self.changed = set(changed)  # names of lists changed in place (`xs[i] = v`, `xs.append(v)`)

    def visit_Assign(self, node):
        """`xs = [a, b]` stays a list where `xs` is changed in place (a tuple has no item assignment)."""
        if (
            len(node.targets) == 1
            and name_of(node.targets[0]) in self.changed
            and isinstance(node.value, ast.List)
        ):
            node.value.elts = [self.visit(e) for e in node.value.elts]
            return node
        return self.generic_visit(node)

    def visit_List(self, node):
        """`[a, b]` -> `(a, b)`: numba's np.concatenate and np.stack take tuples (a list literal bound
        to a name that is changed in place stays a list: `visit_Assign`)."""
        self.generic_visit(node)
        if (
            isinstance(node.ctx, ast.Load)
            and node.elts
            and not any(isinstance(e, ast.Constant) and e.value is None for e in node.elts)
        ):
            return ast.Tuple(elts=node.elts, ctx=ast.Load())
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        reduction = self.reduction(node)
        if reduction is not None:
            return reduction
        if (
            isinstance(node.func, ast.Attribute)
            and name_of(node.func.value) == "np"
            and node.func.attr in VECTORIZED
            and len(node.args) == 1
            and not node.keywords
        ):  # NumPy's vectorized loop for large arrays (numba calls libm once per entry)
            return ast.Call(
                func=parse_expr("_rt.ufunc"), args=[node.args[0], ast.Constant(node.func.attr)], keywords=[]
            )
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "copy"
            and not node.args
            and not node.keywords
            and name_of(node.func.value) not in ("np", "math", "_rt")
        ):
            return ast.Call(func=parse_expr("_rt.copy"), args=[node.func.value], keywords=[])  # numbers too
        node.keywords = [
            k
            for k in node.keywords
            if not (
                k.arg in self.DEFAULTS
                and isinstance(k.value, ast.Constant)
                and k.value.value is self.DEFAULTS[k.arg]
                and not (isinstance(node.func, ast.Attribute) and name_of(node.func.value) == "_rt")
            )
            and not (  # `x.reshape(shape, order="C")`: C order is the default numba has (and no keyword)
                k.arg == "order"
                and constant_of(k.value) == "C"
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in self.C_ORDER
            )
        ]
        return node
