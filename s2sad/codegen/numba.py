"""The numba code target: a Python-target derivative rewritten in the subset numba compiles.

The derivative is the Python target's (same passes, same statements), lowered so that
`numba.njit` types every value:

- tapes become typed: a counted loop's `[None] * n` list an array `np.empty(n)` (a list of
  arrays when it records arrays), a `while` loop's interleaved list one array per recorded
  value grown by `_rt.grow` (capacity doubling) with a count, read back by index;
- the shared stack `_stack` becomes one list per name it saves (`_push(x)` / `x = _pop()`: each
  name's values come back in reverse order, as from the one stack);
- a name bound to `None` before a loop first assigns it gets a zero of the type it takes
  (`0.0`, `False`, a zero-size array), and an adjoint started at `0.0` that becomes an array
  starts as zeros of that array's shape: numba gives every name one type;
- module-level arrays and numbers the code reads become parameters, so a caller who changes
  them gets the new derivative (numba would freeze them into the compiled code);
- `_rt.ProductSum` (loop outer products summed in one matrix product) becomes two lists and a
  call of `_rt.product_sum` (its `cotangent_sum()`, a call of `_rt.cotangent_sum`).

The types come from one run of the Python-target code on the arguments (a probe: the final
value of every name). What numba cannot compile (Python objects, functions s2sad did not
inline, helpers with no numba version) raises `NumbaTargetError` at the user's line before
numba runs.

>>> text = '''def f_grad(x, n, _t2_bar=1.0):
...     # f.py:3: for _ in range(n):
...     _tape1_xs = [None] * n
...     for _ in range(n):
...         # f.py:4: x = x * x
...         _tape1_xs[_] = x
...         x = x * x
...     x_bar = _t2_bar
...     for x in reversed(_tape1_xs):
...         x_bar = x_bar * 2.0 * x
...     return (x_bar,)
... '''
>>> lowered = lower(text, {"x": 1.5, "n": 3, "_tape1_xs": [1.5]}, {}, "f_grad")
>>> print(lowered.source)
def f_grad(x, n, _t2_bar):
    # f.py:3: for _ in range(n):
    _tape1_xs = np.empty(n, np.float64)
    for _ in range(n):
        # f.py:4: x = x * x
        _tape1_xs[_] = x
        x = x * x
    x_bar = _t2_bar
    for _index in range(len(_tape1_xs) - 1, -1, -1):
        x = _tape1_xs[_index]
        x_bar = x_bar * 2.0 * x
    return (x_bar,)
<BLANKLINE>
"""

import ast
import builtins
import linecache
import math
import os
import re
import types as pytypes
from dataclasses import dataclass, field

import numpy as np

from ..errors import NumbaTargetError

MARKER = "__s2sad_where__ "
_COMMENT = re.compile(r"^(\s*)# (.*)$")
_WHERE = re.compile(r"^([^\s:]+):(\d+): (.*)$")

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

# the helpers `s2sad.runtime.numba` compiles for numba (generated code calls them as `_rt.NAME`)
RUNTIME_HELPERS = (
    "grow",
    "reserve",
    "list_like",
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
)
_DTYPES = {"f": "np.float64", "i": "np.int64", "b": "np.bool_", "u": "np.uint64"}


@dataclass
class Lowered:
    """The numba-target source and the module-level values it takes as its last parameters."""

    source: str
    function_name: str
    global_params: list = field(default_factory=list)  # names read from the function's globals


def describe(value):
    """The type of a value as the target uses it: 'float', 'int', 'bool', ('array', ndim, kind), or None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, np.ndarray):
        return ("array", value.ndim, value.dtype.kind, value.dtype.str)
    if isinstance(value, tuple) and all(describe(v) in ("int", "float", "bool") for v in value):
        return ("tuple", tuple(describe(v) for v in value))  # a shape
    return ("object", type(value).__name__)


def _parse(expr):
    return ast.parse(expr, mode="eval").body


def _dtype(kind_char, dtype_str):
    if kind_char == "f" and dtype_str.endswith("f4"):
        return "np.float32"
    return _DTYPES.get(kind_char)


def zero_of(kind):
    """An expression for a value of type `kind` (what numba types a name by before its first use)."""
    if kind in (None, "float"):
        return _parse("0.0")
    if kind == "int":
        return _parse("0")
    if kind == "bool":
        return _parse("False")
    if kind[0] == "tuple":
        return ast.Tuple(elts=[zero_of(k) for k in kind[1]], ctx=ast.Load())
    if kind[0] == "array" and _dtype(kind[2], kind[3]):
        shape = "(" + "0, " * kind[1] + ")"
        return _parse(f"np.zeros({shape}, {_dtype(kind[2], kind[3])})")
    return None


class Where:
    """The user's file, line and code a generated statement comes from (its comment)."""

    def __init__(self, text):
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        found = re.search(r"\((\S+):(\d+)\)\s*$", first)  # `# reverse-mode derivative of f (/path/f.py:3)`
        self.path = found.group(1) if found else None
        self.definition = None  # `file:line: code` of the function's `def`
        if found:
            line = int(found.group(2))
            self.definition = (
                f"{os.path.basename(self.path)}:{line}: {linecache.getline(self.path, line).strip()}"
            )

    def error(self, message, comment, hint=None):
        filename = lineno = code = None
        if comment is not None:
            match = _WHERE.match(comment)
            if match:
                filename, lineno, code = match.group(1), int(match.group(2)), match.group(3)
                if self.path and self.path.endswith("/" + filename):
                    filename = self.path
        return NumbaTargetError(message, filename, lineno, code, hint)


def _with_markers(text):
    """Comment lines as marker statements (so they survive ast.parse / ast.unparse)."""
    out = []
    for line in text.splitlines():
        match = _COMMENT.match(line)
        if match and match.group(1):  # comments inside the function; the header above it is kept apart
            out.append(f"{match.group(1)}{MARKER!r}[:0] + {match.group(2)!r}")
        else:
            out.append(line)
    return "\n".join(out)


def _marker(stmt):
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.BinOp):
        left = stmt.value.left
        if (
            isinstance(left, ast.Subscript)
            and isinstance(left.value, ast.Constant)
            and left.value.value == MARKER
        ):
            return stmt.value.right.value
    return None


def _unmark(text):
    pattern = re.compile(r"^(\s*)" + re.escape(repr(MARKER)) + r"\[:0\] \+ (.*)$")
    out = []
    for line in text.splitlines():
        match = pattern.match(line)
        out.append(f"{match.group(1)}# {ast.literal_eval(match.group(2))}" if match else line)
    return "\n".join(out) + "\n"


def _name(node):
    return node.id if isinstance(node, ast.Name) else None


def _call_of(node, func_name):
    """The call `func_name(...)` if `node` is one."""
    if isinstance(node, ast.Call) and _name(node.func) == func_name:
        return node
    return None


def _assign(name, value):
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value, lineno=0)


def _stmt(text):
    return ast.parse(text).body[0]


def _scalar(kind):
    return kind in (None, "float", "int", "bool")


def _scalar_dtype(kind):
    return {None: "np.float64", "float": "np.float64", "int": "np.int64", "bool": "np.bool_"}[kind]


def _tape_kind(kind):
    """The kind of the array a tape records scalars of `kind` in."""
    return {
        None: ("array", 1, "f", "<f8"),
        "float": ("array", 1, "f", "<f8"),
        "int": ("array", 1, "i", "<i8"),
        "bool": ("array", 1, "b", "|b1"),
    }[kind]


def _pattern(node):
    """The stack a saved value goes to: its name, or its array's name and the form of the index
    (`y[i]` -> `y_i`, `y[a:b]` -> `y_s`): a push of `_rt.copy(y[i])` and the pop into `y[j]` meet."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and _name(node.func.value) == "_rt"
        and node.func.attr == "copy"
        and len(node.args) == 1
    ):
        node = node.args[0]
    if isinstance(node, ast.Name):
        return node.id.lstrip("_")
    if isinstance(node, ast.Subscript) and _name(node.value):
        index = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return (
            node.value.id.lstrip("_") + "_" + "".join("s" if isinstance(i, ast.Slice) else "i" for i in index)
        )
    return None


class _Lowering:
    def __init__(self, function, values, namespace, where):
        self.function = function
        self.kinds = {name: describe(value) for name, value in values.items()}
        self.values = values
        self.namespace = namespace
        self.where = where
        self.comment = None
        self.stacks = []  # stack names, in order of first use
        self.tapes = (
            {}
        )  # interleaved tape `_tape1 = []` -> (its count, [(array, recorded name)] in push order)
        self.counted = {}  # counted loop's tape list `_tape1_xs = [None] * n` -> the name it records
        self.aliases = {}  # `_tape1_reversed = reversed(_tape1)` -> `_tape1`
        self.products = {}  # ProductSum name -> its side
        self.params = [a.arg for a in function.args.args]
        self.global_params = []
        self.index = 0

    def fail(self, message, hint=None, comment=None):
        return self.where.error(message, comment or self.comment or self.where.definition, hint)

    def first_lines(self, block, comment=None):
        """name -> the `# file:line: code` comment above its first assignment (for errors about a name
        that is bound before the comments start)."""
        for stmt in block:
            marker = _marker(stmt)
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

    def kind(self, name):
        return self.kinds.get(name)

    # -- the first sweep: what the tapes are and what they record --------------------------------
    def collect(self, block):
        for stmt in block:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
                name = _name(target)
                if name and isinstance(value, ast.List) and not value.elts and re.match(r"_tape\d+$", name):
                    self.tapes.setdefault(name, (f"{name}_count", []))
                elif (
                    name
                    and isinstance(value, ast.BinOp)
                    and isinstance(value.left, ast.List)
                    and len(value.left.elts) == 1
                    and isinstance(value.left.elts[0], ast.Constant)
                    and value.left.elts[0].value is None
                ):
                    self.counted.setdefault(name, None)
                elif name and _call_of(value, "reversed") and _name(value.args[0]) in self.tapes:
                    self.aliases[name] = value.args[0].id
                elif (
                    isinstance(target, ast.Subscript) and _name(target.value) in self.counted and _name(value)
                ):
                    self.counted[target.value.id] = value.id
            tape = self._tape_push(stmt)
            if tape is not None:
                value = _name(stmt.value.args[0])
                if value is None:
                    raise self.fail("the numba target records only named values on a loop's tape")
                arrays = self.tapes[tape][1]
                array = f"{tape}_{value.lstrip('_')}s"
                while array in {a for a, _ in arrays} or array in self.taken:
                    array += "_"
                arrays.append((array, value))
            for attr in ("body", "orelse"):
                self.collect(getattr(stmt, attr, None) or [])

    def _tape_push(self, stmt):
        """The interleaved tape `stmt` pushes onto (`_tape1_push(x)`), else None."""
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = _name(stmt.value.func)
            if func and func.endswith("_push") and func[: -len("_push")] in self.tapes:
                return func[: -len("_push")]
        return None

    def parts(self, name):
        """A recorded name as what numba holds: a tape is its arrays and its count."""
        if name in self.tapes:
            count, arrays = self.tapes[name]
            return [
                (
                    array,
                    _tape_kind(self.kind(value)) if _scalar(self.kind(value)) else ("list", self.kind(value)),
                )
                for array, value in arrays
            ] + [(count, "int")]
        return [(name, self.kind(name))]

    def part_names(self, name, suffix_of):
        if suffix_of in self.tapes:
            return [f"{name}_{part.lstrip('_')}" for part, _ in self.parts(suffix_of)]
        return [name]

    def allocate(self, tape):
        count, arrays = self.tapes[tape]
        out = [_stmt(f"{count} = 0")]
        for array, value in arrays:
            kind = self.kind(value)
            if _scalar(kind):
                out.append(_stmt(f"{array} = np.empty(16, {_scalar_dtype(kind)})"))
            else:
                zero = zero_of(kind)
                if zero is None:
                    raise self.fail(
                        f"the loop records {self.display(value)}, a {kind[1]} object, which numba "
                        "cannot compile"
                    )
                out.append(_assign(array, ast.Call(func=_parse("_rt.list_like"), args=[zero], keywords=[])))
        return out

    # -- the rewrite ------------------------------------------------------------------------------
    def block(self, stmts, loop_body_of=None):
        out = []
        pushes_left = None
        if loop_body_of is not None:
            pushes_left = sum(1 for s in stmts if self._tape_push(s) == loop_body_of)
        for stmt in stmts:
            comment = _marker(stmt)
            if comment is not None:
                self.comment = comment
                out.append(stmt)
                continue
            out.extend(self.statement(stmt))
            if loop_body_of is not None and self._tape_push(stmt) == loop_body_of:
                pushes_left -= 1
                if pushes_left == 0:
                    count = self.tapes[loop_body_of][0]
                    out.append(_stmt(f"{count} = {count} + 1"))
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

    def loop(self, loop):
        if isinstance(loop, ast.For):
            reverse = self.reverse_loop(loop)
            if reverse is not None:
                return reverse
            self.check(loop.target)
        self.check(loop.iter if isinstance(loop, ast.For) else loop.test)
        tape = next((t for t in map(self._tape_push, loop.body) if t is not None), None)
        loop.body = self.block(loop.body, loop_body_of=tape)
        loop.orelse = self.block(loop.orelse)
        if tape is None:
            return [loop]
        count, arrays = self.tapes[tape]
        grown = [array for array, value in arrays if _scalar(self.kind(value))]
        if not grown:
            return [loop]
        if isinstance(loop, ast.For):  # the trip count is known: room for it before the loop
            if _call_of(loop.iter, "range") is None:
                raise self.fail("the numba target records only loops over `range`")
            trips = f"len({ast.unparse(loop.iter)})"
            return [_stmt(f"{a} = _rt.reserve({a}, {count}, {trips})") for a in grown] + [loop]
        # `while c: body` -> `while c: (grow the tape arrays); while c and count < capacity: body`:
        # the inner loop, which runs all but log2(steps) of the steps, rebinds no array
        if not isinstance(loop.test, (ast.Name, ast.Constant)):
            raise self.fail("the numba target needs a `while` loop's test to be a name")
        capacity = f"{tape}_capacity"
        inner = ast.While(
            test=_parse(f"{ast.unparse(loop.test)} and {count} < {capacity}"),
            body=loop.body,
            orelse=[],
            lineno=0,
        )
        loop.body = [_stmt(f"{array} = _rt.grow({array}, {count})") for array in grown]
        loop.body += [_stmt(f"{capacity} = len({grown[0]})"), inner]
        return [loop]

    def assignment(self, stmt):
        target, value = stmt.targets[0], stmt.value
        name = _name(target)
        # `x = None` before a loop that first assigns x: a zero of x's type
        if name and isinstance(value, ast.Constant) and value.value is None:
            zero = zero_of(self.kind(name))
            if zero is None:
                raise self.object_error(name, self.kind(name))
            return [_assign(name, zero)]
        # adjoints started as `0.0` that become arrays
        if name and isinstance(value, ast.Constant) and type(value.value) in (int, float):
            kind = self.kind(name)
            if isinstance(kind, tuple) and kind[0] == "array":
                primal = name[: -len("_bar")] if name.endswith("_bar") else None
                if primal and self.kind(primal) == kind:
                    return [_assign(name, _parse(f"_rt.zeros_like({primal})"))]
                shape = np.shape(self.values[name])
                return [_assign(name, _parse(f"np.zeros({shape!r}) + {value.value!r}"))]
        if name in self.tapes:  # `_tape1 = []`: fresh arrays (a loop inside a loop records them per pass)
            return self.allocate(name)
        if name and name.endswith("_push") and name[: -len("_push")] in self.tapes:
            return []
        if name in self.aliases or name in ("_stack", "_push", "_pop"):
            return []
        if name in self.counted:
            return self.counted_tape(name, value)
        if isinstance(target, ast.Subscript) and _name(target.value) in self.counted and _name(value):
            base = target.value.id
            self.check(target.slice)
            return [
                ast.Assign(
                    targets=[
                        ast.Subscript(
                            value=ast.Name(id=part, ctx=ast.Load()), slice=target.slice, ctx=ast.Store()
                        )
                    ],
                    value=ast.Name(id=value_part, ctx=ast.Load()),
                    lineno=0,
                )
                for part, (value_part, _) in zip(self.part_names(base, value.id), self.parts(value.id))
            ]
        if (
            name
            and isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and _name(value.func.value) == "_rt"
            and value.func.attr == "ProductSum"
        ):
            self.products[name] = value.args[0].value
            return [_stmt(f"{name}_gs = []"), _stmt(f"{name}_vs = []")]
        if _call_of(value, "_pop") is not None and not value.args:
            return self.pop(target)
        self.check(stmt)
        return [stmt]

    def display(self, name):
        """How an error names a value: the user's name, never a generated one (`_t4`, `rhs1_x`)."""
        if name is None or name.startswith("_") or re.match(r"\w+\d+_", name):
            return "a value it computes"
        return f"`{name}`"

    def counted_tape(self, name, value):
        """`_tape1_xs = [None] * n` -> `np.empty(n, np.float64)` (a list for arrays; one per part of a tape)."""
        recorded = self.counted[name]
        count = value.right
        self.check(count)
        out = []
        parts = self.parts(recorded) if recorded is not None else [(None, None)]
        for part, (_, kind) in zip(self.part_names(name, recorded), parts):
            if _scalar(kind):
                out.append(_assign(part, _parse(f"np.empty({ast.unparse(count)}, {_scalar_dtype(kind)})")))
                continue
            zero = zero_of(kind)
            if zero is None:
                what = "arrays" if kind[0] == "list" else f"a {kind[1]} object"
                raise self.fail(
                    f"the loop records {self.display(recorded)}, {what}, which the numba target "
                    "cannot record",
                    hint="use the Python target (the default backend) for this function",
                )
            out.append(
                _assign(
                    part, ast.BinOp(left=ast.List(elts=[zero], ctx=ast.Load()), op=ast.Mult(), right=count)
                )
            )
        return out

    def expression_statement(self, stmt):
        call = stmt.value
        if isinstance(call, ast.Call):
            tape = self._tape_push(stmt)
            if tape is not None:
                value = call.args[0].id
                count, arrays = self.tapes[tape]
                array = next(a for a, v in arrays if v == value)
                if _scalar(self.kind(value)):
                    return [_stmt(f"{array}[{count}] = {value}")]
                return [_stmt(f"{array}.append({value})")]
            if _name(call.func) == "_push" and len(call.args) == 1:
                return self.push(call.args[0])
            if (
                isinstance(call.func, ast.Attribute)
                and _name(call.func.value) in self.products
                and call.func.attr == "add"
            ):
                product = _name(call.func.value)
                for arg in call.args:
                    self.check(arg)
                return [
                    ast.Expr(_parse(f"{product}_gs.append({ast.unparse(call.args[0])})")),
                    ast.Expr(_parse(f"{product}_vs.append({ast.unparse(call.args[1])})")),
                ]
        self.check(stmt)
        return [stmt]

    def stack(self, key):
        if key not in self.stacks:
            self.stacks.append(key)
        return f"_stack_{key}"

    def push(self, value):
        name = _name(value)
        if name in self.tapes:  # a loop's tape inside another loop: its arrays and its count
            return [s for part, _ in self.parts(name) for s in self.push(ast.Name(id=part, ctx=ast.Load()))]
        key = _pattern(value)
        if key is None:
            raise self.fail("the numba target saves only names and array items on its stacks")
        self.check(value)
        return [ast.Expr(ast.Call(func=_parse(f"{self.stack(key)}.append"), args=[value], keywords=[]))]

    def pop(self, target):
        name = _name(target)
        if name in self.tapes:
            return [
                s
                for part, _ in reversed(self.parts(name))
                for s in self.pop(ast.Name(id=part, ctx=ast.Store()))
            ]
        key = _pattern(target)
        if key is None:
            raise self.fail("the numba target restores only names and array items from its stacks")
        self.check(target)
        return [ast.Assign(targets=[target], value=_parse(f"{self.stack(key)}.pop()"), lineno=0)]

    def reverse_loop(self, loop):
        """`for a, b in zip(reversed(_tape1_as), reversed(_tape1_bs))` (or over one interleaved tape):
        a loop over the index, from the last step to the first."""
        iterator = loop.iter
        if _call_of(iterator, "zip") is not None:
            sources, targets = list(iterator.args), (
                list(loop.target.elts) if isinstance(loop.target, ast.Tuple) else None
            )
        else:
            sources, targets = [iterator], [loop.target]
        if not targets or len(targets) != len(sources):
            return None
        reads, length, seen, ranges = [], None, {}, None
        self.index += 1
        index = "_index" if self.index == 1 else f"_index{self.index}"
        while index in self.taken:
            index += "_"
        for target, source in zip(targets, sources):
            inner = _call_of(source, "reversed")
            inner = inner.args[0] if inner is not None and len(inner.args) == 1 else None
            if _name(inner) in self.counted:
                base = inner.id
                length = length or f"len({self.part_names(base, self.counted[base])[0]})"
                recorded = self.counted[base]
                if _name(target) and target.id in self.tapes:
                    names = [p for p, _ in self.parts(target.id)]
                else:
                    names = [target]
                for part, into in zip(self.part_names(base, recorded), names):
                    into = ast.Name(id=into, ctx=ast.Store()) if isinstance(into, str) else into
                    reads.append(ast.Assign(targets=[into], value=_parse(f"{part}[{index}]"), lineno=0))
                continue
            tape = self.aliases.get(_name(source)) or (_name(inner) if _name(inner) in self.tapes else None)
            if tape is not None:
                count, arrays = self.tapes[tape]
                length = length or count
                taken = seen.get(tape, 0)
                seen[tape] = taken + 1
                if taken >= len(arrays):
                    raise self.fail("the numba target does not know this loop's tape")
                array = arrays[len(arrays) - 1 - taken][0]
                reads.append(ast.Assign(targets=[target], value=_parse(f"{array}[{index}]"), lineno=0))
                continue
            spans = _call_of(inner, "range")
            if spans is not None and not spans.keywords:
                trips = f"len({ast.unparse(spans)})"
                start, step = (["0"] + [ast.unparse(a) for a in spans.args])[
                    -2 if len(spans.args) == 1 else 1
                ], "1"
                if len(spans.args) == 3:
                    step = ast.unparse(spans.args[2])
                if len(spans.args) == 1:
                    start = "0"
                reads.append(
                    ast.Assign(targets=[target], value=_parse(f"{start} + {step} * {index}"), lineno=0)
                )
                ranges = trips
                continue
            self.index -= 1
            return None
        if length is None and len(sources) == 1 and reads:  # `for i in reversed(range(...))` (numba has no
            length = ranges  # reversed): the index counts down, the range's value computed from it
        if length is None:
            self.index -= 1
            return None
        for read in reads:
            self.check(read.value)
        body = reads + self.block(loop.body)
        return [
            ast.For(
                target=ast.Name(id=index, ctx=ast.Store()),
                iter=_parse(f"range({length} - 1, -1, -1)"),
                body=body,
                orelse=[],
                lineno=0,
            )
        ]

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
                and _name(sub.value) == "_rt"
                and sub.attr not in RUNTIME_HELPERS
            ):
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

    def run(self):
        fn = self.function
        fn.body = [_Spelling().visit(stmt) for stmt in fn.body]
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
        body[0:0] = [_stmt(f"_stack_{key} = []") for key in self.stacks]
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
                    and _name(node.func.value) in products
                    and node.func.attr == "total"
                ):
                    name = node.func.value.id
                    side = products[name]
                    weights[name] = ast.unparse(node.args[0])
                    return _parse(f"_rt.product_sum({name}_gs, {name}_vs, {side!r}, {weights[name]})")
                if (  # after its `total` (the peephole writes them in that order)
                    isinstance(node.func, ast.Attribute)
                    and _name(node.func.value) in weights
                    and node.func.attr == "cotangent_sum"
                ):
                    name = node.func.value.id
                    return _parse(f"_rt.cotangent_sum({name}_gs, {products[name]!r}, {weights[name]})")
                return node

        module = Totals().visit(ast.Module(body=body, type_ignores=[]))
        return module.body


class _Spelling(ast.NodeTransformer):
    """NumPy calls as numba takes them: keywords that only restate NumPy's default dropped
    (`np.sum(x, axis=None, keepdims=False)` -> `np.sum(x)`; numba has no `keepdims`), and
    `v.copy()` as `_rt.copy(v)` (v may be an array item: a number, which has no method in numba),
    list literals as tuples."""

    DEFAULTS = {"axis": None, "keepdims": False}

    def visit_List(self, node):
        """`[a, b]` -> `(a, b)`: numba's np.concatenate and np.stack take tuples (a list of
        arrays s2sad writes is never changed: lists that change use helpers the target refuses)."""
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
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "copy"
            and not node.args
            and not node.keywords
            and _name(node.func.value) not in ("np", "math", "_rt")
        ):
            return ast.Call(func=_parse("_rt.copy"), args=[node.func.value], keywords=[])  # numbers too
        node.keywords = [
            k
            for k in node.keywords
            if not (
                k.arg in self.DEFAULTS
                and isinstance(k.value, ast.Constant)
                and k.value.value is self.DEFAULTS[k.arg]
                and not (isinstance(node.func, ast.Attribute) and _name(node.func.value) == "_rt")
            )
        ]
        return node


def lower(text, values, namespace, function_name):
    """The numba-target version of the Python-target source `text` of `function_name`.

    `values`: the final value of each name in one run of it (their types type the tapes and
    zeros); `namespace`: the user's globals (arrays and numbers read become parameters)."""
    where = Where(text)
    module = ast.parse(_with_markers(text))
    functions = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == function_name]
    if not functions:
        raise ValueError(f"no function {function_name} in the source")
    lowering = _Lowering(functions[0], values, namespace, where)
    fn = lowering.run()
    ast.fix_missing_locations(fn)
    return Lowered(_unmark(ast.unparse(fn)), function_name, lowering.global_params)


class _Probe(ast.NodeTransformer):
    """After every binding of a name, `__s2sad_seen(...)` keeps its value unless it is None: one run
    of the Python target shows the type every name takes."""

    def see(self, target):
        names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        return [ast.Expr(_parse(f"__s2sad_seen({n!r}, {n})")) for n in names]

    def generic_visit(self, node):
        super().generic_visit(node)
        for attr in ("body", "orelse"):
            block = getattr(node, attr, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                out = []
                for stmt in block:
                    out.append(stmt)
                    if isinstance(stmt, ast.Assign):
                        for target in stmt.targets:
                            out.extend(self.see(target))
                if isinstance(node, ast.For) and attr == "body":
                    out[0:0] = self.see(node.target)
                setattr(node, attr, out)
        return node


def probe(text, namespace, function_name, args):
    """The last value other than None of every local name in one run of the Python-target function."""
    module = _Probe().visit(ast.parse(text))
    ast.fix_missing_locations(module)
    seen = {}

    def record(name, value):
        if value is not None:
            seen[name] = value

    scope = dict(namespace)
    scope["__s2sad_seen"] = record
    exec(compile(module, f"<s2sad numba probe of {function_name}>", "exec"), scope)
    function = scope[function_name]
    seen.update(
        (name, value) for name, value in zip(function.__code__.co_varnames, args) if value is not None
    )
    function(*args)
    return seen
