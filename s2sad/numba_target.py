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
  call of `_rt.product_sum`.

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
import math
import re
import types as pytypes
from dataclasses import dataclass, field

import numpy as np

from .errors import S2sadError

MARKER = "__s2sad_where__ "
_COMMENT = re.compile(r"^(\s*)# (.*)$")
_WHERE = re.compile(r"^([^\s:]+):(\d+): (.*)$")

# builtins numba compiles on numbers and arrays
_BUILTINS = {"range", "len", "abs", "min", "max", "float", "int", "bool", "round", "sum", "pow", "divmod", "zip",
             "enumerate", "reversed", "isinstance", "print", "True", "False", "None"}
_MODULES = (np, math)
_DTYPES = {"f": "np.float64", "i": "np.int64", "b": "np.bool_", "u": "np.uint64"}


class NumbaTargetError(S2sadError):
    """The numba code target cannot compile a construct of the function."""


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
    if kind[0] == "array" and _dtype(kind[2], kind[3]):
        shape = "(" + "0, " * kind[1] + ")"
        return _parse(f"np.zeros({shape}, {_dtype(kind[2], kind[3])})")
    return None


class _Where:
    """The user's file, line and code a generated statement comes from (its comment)."""

    def __init__(self, text):
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        found = re.search(r"\((\S+):\d+\)\s*$", first)  # `# reverse-mode derivative of f (/path/f.py:3)`
        self.path = found.group(1) if found else None

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
        if isinstance(left, ast.Subscript) and isinstance(left.value, ast.Constant) and left.value.value == MARKER:
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


class _Lowering:
    def __init__(self, function, values, namespace, where):
        self.function = function
        self.kinds = {name: describe(value) for name, value in values.items()}
        self.values = values
        self.namespace = namespace
        self.where = where
        self.comment = None
        self.stacks = []  # names with a stack of their own, in order of first push
        self.while_tapes = {}  # tape -> (its count, [(array name, value name)] in push order)
        self.counted = set()  # names of counted loops' tape lists
        self.products = {}  # ProductSum name -> its side
        self.params = [a.arg for a in function.args.args]
        self.global_params = []
        self.index = 0

    def fail(self, message, hint=None):
        return self.where.error(message, self.comment, hint)

    def kind(self, name):
        return self.kinds.get(name)

    # -- the first sweep over the statements: what the tapes, stacks and loops are ----------------
    def collect(self, block):
        for stmt in block:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and _name(stmt.targets[0]):
                target, value = stmt.targets[0].id, stmt.value
                if isinstance(value, ast.List) and not value.elts and re.match(r"_tape\d+$", target):
                    self.while_tapes[target] = (f"{target}_count", [])
                if (isinstance(value, ast.BinOp) and isinstance(value.left, ast.List)
                        and len(value.left.elts) == 1 and isinstance(value.left.elts[0], ast.Constant)
                        and value.left.elts[0].value is None):
                    self.counted.add(target)
            for attr in ("body", "orelse"):
                self.collect(getattr(stmt, attr, None) or [])

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
            new = self.statement(stmt)
            out.extend(new)
            if loop_body_of is not None and self._tape_push(stmt) == loop_body_of:
                pushes_left -= 1
                if pushes_left == 0:
                    count = self.while_tapes[loop_body_of][0]
                    out.append(_stmt(f"{count} = {count} + 1"))
        return out

    def _tape_push(self, stmt):
        """The while-loop tape `stmt` pushes onto (`_tape1_push(x)`), else None."""
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = _name(stmt.value.func)
            if func and func.endswith("_push") and func[: -len("_push")] in self.while_tapes:
                return func[: -len("_push")]
        return None

    def statement(self, stmt):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            return self.assignment(stmt)
        if isinstance(stmt, ast.Expr):
            return self.expression_statement(stmt)
        if isinstance(stmt, ast.For):
            return self.for_loop(stmt)
        if isinstance(stmt, ast.While):
            tape = self._while_tape(stmt)
            self.check(stmt.test)
            stmt.body = self.block(stmt.body, loop_body_of=tape)
            stmt.orelse = self.block(stmt.orelse)
            if tape is not None:
                self.chunk(stmt, tape)
            return [stmt]
        if isinstance(stmt, ast.If):
            self.check(stmt.test)
            stmt.body = self.block(stmt.body)
            stmt.orelse = self.block(stmt.orelse)
            return [stmt]
        if isinstance(stmt, (ast.Return, ast.AugAssign, ast.Pass, ast.Break, ast.Continue)):
            if getattr(stmt, "value", None) is not None:
                self.check(stmt.value)
            if isinstance(stmt, ast.AugAssign):
                self.check(stmt.target)
            return [stmt]
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                self.check(target)
            self.check(stmt.value)
            return [stmt]
        raise self.fail(f"the numba target cannot compile `{type(stmt).__name__.lower()}` statements",
                        hint="use the Python target (the default backend) for this function")

    def chunk(self, loop, tape):
        """`while c: body` -> `while c: (grow the tape arrays); while c and count < capacity: body`:
        the inner loop, which runs all but log2(steps) of the steps, rebinds no array."""
        count, arrays = self.while_tapes[tape]
        grown = [array for array, value in arrays if self.kind(value) in (None, "float", "int", "bool")]
        if not grown:
            return
        if not isinstance(loop.test, (ast.Name, ast.Constant)):
            raise self.fail("the numba target needs a `while` loop's test to be a name")
        limit = f"{tape}_capacity"
        inner = ast.While(test=_parse(f"{ast.unparse(loop.test)} and {count} < {limit}"), body=loop.body,
                          orelse=[], lineno=0)
        loop.body = [_stmt(f"{array} = _rt.grow({array}, {count})") for array in grown]
        loop.body += [_stmt(f"{limit} = len({grown[0]})"), inner]

    def _while_tape(self, loop):
        for stmt in loop.body:
            tape = self._tape_push(stmt)
            if tape is not None:
                return tape
        return None

    def assignment(self, stmt):
        target, value = stmt.targets[0], stmt.value
        name = _name(target)
        # `x = None` before a loop that first assigns x: a zero of x's type
        if name and isinstance(value, ast.Constant) and value.value is None:
            zero = zero_of(self.kind(name))
            if zero is None:
                raise self.fail(f"`{self.display(name)}` holds a {self.kind(name)[1]} object, which numba cannot compile")
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
        if name in self.while_tapes:  # `_tape1 = []`: an array (or list of arrays) per recorded value
            return []
        if name and name.endswith("_push") and name[: -len("_push")] in self.while_tapes:
            return []
        if name in ("_stack", "_push", "_pop"):
            return []
        if name in self.counted:
            return [self.counted_tape(name, value)]
        if name and isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
                _name(value.func.value) == "_rt" and value.func.attr == "ProductSum":
            self.products[name] = value.args[0].value
            return [_stmt(f"{name}_gs = []"), _stmt(f"{name}_vs = []")]
        # `x = _pop()`: x's own stack
        if name and _call_of(value, "_pop") is not None:
            return self.pop(name)
        if name and name.endswith("_reversed") and _call_of(value, "reversed") is not None and \
                _name(value.args[0]) in self.while_tapes:
            return []
        self.check(target)
        self.check(value)
        return [stmt]

    def display(self, name):
        return re.sub(r"^_tape\d+_|^_", "", name) or name

    def counted_tape(self, name, value):
        """`_tape1_xs = [None] * n` -> `np.empty(n, np.float64)` (a list for arrays)."""
        recorded = self.kinds.get(self.recorded_by.get(name))
        count = value.right
        self.check(count)
        if recorded in (None, "float", "int", "bool"):
            dtype = {None: "np.float64", "float": "np.float64", "int": "np.int64", "bool": "np.bool_"}[recorded]
            return _assign(name, _parse(f"np.empty({ast.unparse(count)}, {dtype})"))
        zero = zero_of(recorded)
        if zero is None:
            raise self.fail(f"the loop records `{self.display(self.recorded_by[name])}`, a {recorded[1]} object, "
                            "which numba cannot compile")
        return _assign(name, ast.BinOp(left=ast.List(elts=[zero], ctx=ast.Load()), op=ast.Mult(), right=count))

    def expression_statement(self, stmt):
        call = stmt.value
        if isinstance(call, ast.Call):
            func = _name(call.func)
            tape = self._tape_push(stmt)
            if tape is not None:
                value = _name(call.args[0])
                count, arrays = self.while_tapes[tape]
                array = f"{tape}_{value.lstrip('_')}s"
                names = {a for a, _ in arrays}
                while array in names:
                    array += "_"
                arrays.append((array, value))
                if self.kind(value) in (None, "float", "int", "bool"):
                    return [_stmt(f"{array}[{count}] = {value}")]
                return [_stmt(f"{array}.append({value})")]
            if func == "_push":
                return self.push(call.args[0])
            if isinstance(call.func, ast.Attribute) and _name(call.func.value) in self.products and \
                    call.func.attr == "add":
                product = _name(call.func.value)
                for arg in call.args:
                    self.check(arg)
                return [ast.Expr(_parse(f"{product}_gs.append({ast.unparse(call.args[0])})")),
                        ast.Expr(_parse(f"{product}_vs.append({ast.unparse(call.args[1])})"))]
        self.check(stmt.value)
        return [stmt]

    def push(self, value):
        name = _name(value)
        if name is None:
            raise self.fail("the numba target saves only named values on its stacks")
        if name in self.while_tapes:  # a nested while loop's tape: its arrays and its count
            count, arrays = self.while_tapes[name]
            return [s for a in [x for x, _ in arrays] + [count] for s in self.push(ast.Name(id=a, ctx=ast.Load()))]
        if name not in self.stacks:
            self.stacks.append(name)
        return [_stmt(f"_stack_{name.lstrip('_')}.append({name})")]

    def pop(self, name):
        if name in self.while_tapes:
            count, arrays = self.while_tapes[name]
            return [s for a in [count] + [x for x, _ in reversed(arrays)] for s in self.pop(a)]
        if name not in self.stacks:
            self.stacks.append(name)
        return [_stmt(f"{name} = _stack_{name.lstrip('_')}.pop()")]

    def for_loop(self, loop):
        iterator = loop.iter
        reversed_call = _call_of(iterator, "reversed")
        zipped = _call_of(iterator, "zip")
        sources = None
        if reversed_call is not None and _name(reversed_call.args[0]) in self.counted:
            sources = [_name(reversed_call.args[0])]
            targets = [loop.target]
        elif reversed_call is not None and _name(reversed_call.args[0]) in self.while_tapes:
            tape = _name(reversed_call.args[0])
            sources = self._while_sources(tape, 1)
            targets = [loop.target]
        elif zipped is not None and zipped.args and all(_call_of(a, "reversed") for a in zipped.args) and \
                all(_name(a.args[0]) in self.counted for a in zipped.args):
            sources = [_name(a.args[0]) for a in zipped.args]
            targets = list(loop.target.elts)
        elif zipped is not None and zipped.args and all(_name(a) and _name(a).endswith("_reversed") for a in zipped.args):
            tape = _name(zipped.args[0])[: -len("_reversed")]
            if tape not in self.while_tapes:
                raise self.fail("the numba target does not know this loop's tape")
            sources = self._while_sources(tape, len(zipped.args))
            targets = list(loop.target.elts)
        if sources is None:
            self.check(loop.target)
            self.check(loop.iter)
            loop.body = self.block(loop.body)
            loop.orelse = self.block(loop.orelse)
            return [loop]
        self.index += 1
        index = "_index" if self.index == 1 else f"_index{self.index}"
        while index in self.taken:
            index += "_"
        first = sources[0]
        length = self.while_tapes[first[1]][0] if isinstance(first, tuple) else f"len({first})"
        reads = []
        for target, source in zip(targets, sources):
            array = source[0] if isinstance(source, tuple) else source
            reads.append(ast.Assign(targets=[target], value=_parse(f"{array}[{index}]"), lineno=0))
        body = reads + self.block(loop.body)
        return [ast.For(target=ast.Name(id=index, ctx=ast.Store()), iter=_parse(f"range({length} - 1, -1, -1)"),
                        body=body, orelse=[], lineno=0)]

    def _while_sources(self, tape, count):
        arrays = self.while_tapes[tape][1]
        if len(arrays) != count:
            raise self.fail("the numba target does not know this loop's tape")
        return [(array, tape) for array, _ in reversed(arrays)]

    # -- what numba cannot compile ------------------------------------------------------------------
    def check(self, node):
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Lambda, ast.Dict, ast.Set, ast.DictComp, ast.SetComp, ast.GeneratorExp,
                                ast.ListComp, ast.JoinedStr, ast.Starred, ast.Yield, ast.Await)):
                what = {ast.Dict: "a dict", ast.Lambda: "a lambda", ast.JoinedStr: "an f-string"}.get(type(sub), "this construct")
                raise self.fail(f"the numba target cannot compile {what}: `{ast.unparse(sub)}`",
                                hint="use the Python target (the default backend) for this function")
            if isinstance(sub, ast.Attribute) and _name(sub.value) == "_rt":
                from . import numba_runtime

                if sub.attr not in numba_runtime.PROVIDED:
                    raise self.fail(f"the numba target has no compiled version of `{sub.attr}`, which the "
                                    "derivative of this line needs",
                                    hint="use the Python target (the default backend) for this function")
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                    _name(sub.func.value) in self.products and sub.func.attr == "total":
                pass
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
                raise self.fail(f"calls `{name}`, a Python function s2sad did not inline; numba cannot call it",
                                hint="make it a function s2sad inlines (its source in a file), or use the Python target")
            raise self.fail(f"reads `{name}`, a {type(value).__name__} object, which numba cannot compile",
                            hint="pass arrays and numbers, or use the Python target (the default backend)")
        if name in _BUILTINS or not hasattr(builtins, name):
            return
        raise self.fail(f"calls the builtin `{name}`, which the numba target does not compile")

    def run(self):
        fn = self.function
        self.collect(fn.body)
        self.taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | set(self.params)
        self.locals = set(self.params) | {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and
                                          isinstance(n.ctx, ast.Store)}
        self.recorded_by = {}
        for node in ast.walk(fn):  # `_tape1_xs[i] = x`: which value each counted tape records
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                base = _name(node.targets[0].value)
                if base in self.counted and _name(node.value):
                    self.recorded_by[base] = node.value.id
        body = self.block(fn.body)
        body = self.rewrite_products(body)
        body = [_Spelling().visit(stmt) for stmt in body]
        starts = [_stmt(f"_stack_{name.lstrip('_')} = []") for name in self.stacks]
        for tape, (count, arrays) in self.while_tapes.items():
            starts.append(_stmt(f"{count} = 0"))
            for array, value in arrays:
                kind = self.kind(value)
                if kind in (None, "float", "int", "bool"):
                    dtype = {None: "np.float64", "float": "np.float64", "int": "np.int64", "bool": "np.bool_"}[kind]
                    starts.append(_stmt(f"{array} = np.empty(16, {dtype})"))
                else:
                    starts.append(_assign(array, ast.Call(func=_parse("_rt.list_like"), args=[zero_of(kind)], keywords=[])))
        self.place_tape_starts(body, starts)
        fn.body = body
        for arg in fn.args.args:
            arg.annotation = None
        fn.args.defaults = []
        fn.args.args += [ast.arg(arg=name) for name in self.global_params]
        fn.decorator_list = []
        return fn

    def place_tape_starts(self, body, starts):
        # after the leading comments and bindings: at the top of the function is enough (numba types
        # the arrays once; a loop inside another loop restores its tape from the stack)
        body[0:0] = starts

    def rewrite_products(self, body):
        products = self.products

        class Totals(ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if isinstance(node.func, ast.Attribute) and _name(node.func.value) in products and \
                        node.func.attr == "total":
                    name = node.func.value.id
                    side = products[name]
                    return _parse(f"_rt.product_sum({name}_gs, {name}_vs, {side!r}, {ast.unparse(node.args[0])})")
                return node

        module = Totals().visit(ast.Module(body=body, type_ignores=[]))
        return module.body


class _Spelling(ast.NodeTransformer):
    """NumPy calls as numba takes them: keywords that only restate NumPy's default dropped
    (`np.sum(x, axis=None, keepdims=False)` -> `np.sum(x)`; numba has no `keepdims`)."""

    DEFAULTS = {"axis": None, "keepdims": False}

    def visit_Call(self, node):
        self.generic_visit(node)
        node.keywords = [k for k in node.keywords if not (
            k.arg in self.DEFAULTS and isinstance(k.value, ast.Constant) and k.value.value is self.DEFAULTS[k.arg]
            and not (isinstance(node.func, ast.Attribute) and _name(node.func.value) == "_rt"))]
        return node


def lower(text, values, namespace, function_name):
    """The numba-target version of the Python-target source `text` of `function_name`.

    `values`: the final value of each name in one run of it (their types type the tapes and
    zeros); `namespace`: the user's globals (arrays and numbers read become parameters)."""
    where = _Where(text)
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
    scope[function_name](*args)
    return seen
