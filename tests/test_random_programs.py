"""Random programs: differentiate generated Python and compare with finite differences.

A Hypothesis strategy builds small programs `def f(x, y, a, n): ...` (floats `x`,
`y`, a 1-D float array `a` of a small fixed length `L`, an int `n`) out of the
constructs s2sad claims to support. Each program is written to a real `.py` file
(s2sad reads source with `inspect`) and imported under a unique module name. Then:

* `jvp` (forward) and `vjp` (reverse, split mode) give the same primal value as
  plain Python;
* `J v` from `jvp` matches a Richardson-extrapolated central finite difference
  in float64 along random directions `v`;
* `J^T u` from the pullback matches `u * FD` and passes the dot-product test
  `<u, J v> == <J^T u, v>` against forward mode;
* `grad(f, argnums=(0, 1, 2))` agrees with the pullback at `u = 1`.

Finite differences are valid only where the program is smooth. The program is
also compiled in an *instrumented* copy (an AST rewrite, never shown to s2sad)
that records every comparison result, every `abs` / `min` / `max` choice and the piece of every
remainder (`%`, `np.mod`, `np.fmod`: the rounded quotient); an
example is skipped unless that decision trace is identical at every point the
finite differences evaluate. Examples whose FD error estimate is too large, or
whose plain-Python evaluation overflows or leaves the domain, are skipped too.
Nothing about s2sad's answers is ever used to skip an example.

Extending the generator: write a function `gen(ctx) -> str | list[str]` and
register it with `@scalar_expr(name)`, `@array_expr(name)`, `@condition(name)` or
`@statement(name, when=...)`; add the name to a profile in `PROFILES` (or to
`ALL`, which every "everything" profile uses). `ctx.draw` draws from Hypothesis,
`ctx.expr()`, `ctx.cond()`, `ctx.arr()`, `ctx.block()` recurse. Constructs that
are currently broken in the compiler go into `KNOWN_BROKEN` (with a regression
test in tests/test_regressions_random.py) so the rest keeps being tested.

Set S2SAD_RANDOM_EXAMPLES_SCALE=10 (say) to run ten times more programs locally.
"""

import ast
import contextlib
import importlib.util
import itertools
import linecache
import math
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import s2sad

# Constructs excluded because the compiler currently gets them wrong; each entry has a
# minimized regression test in tests/test_regressions_random.py. An entry is
#   "name"          a generator never used (e.g. "chained"),
#   "name@loopgen"  generator `name` not used inside a loop made by generator `loopgen`
#                   (e.g. "break@for_array"), "name@loop": not inside any loop,
#   or one of these patterns:
#   "constant_assign"         assignments always have a value depending on a float
#                             variable ("constant_assign@loop": only inside loops),
#   "negative_constant_base"  no `(-1.25) ** 2` (a negative literal under `**`),
#   "chained_complex_middle"  in `lo < e < hi` the middle operand is a plain variable,
#   "self_assign"             no `x = x` (also not as part of a tuple assignment),
#   "iterate_written_array"   `for ... in` loops iterate only over the parameter `a`,
#   "slice_view_residual"     slices are read only from the parameter `a` (never from
#                             arrays the program writes in place),
#   "copy_by_times_one"       arrays are copied with `.copy()`, never as `b = a * 1.0`,
#   "pullback_reuse"          each pullback is called once (a fresh `vjp` per cotangent).
KNOWN_BROKEN = set()

SCALE = float(os.environ.get("S2SAD_RANDOM_EXAMPLES_SCALE", "1"))


def _settings(examples):
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


CONSTS = ("0.5", "1.5", "2.0", "0.3", "-0.7", "3.0", "0.1", "-1.25")
POS_CONSTS = ("0.5", "1.0", "2.0", "1.5")
MAX_NEST = 3  # nesting depth of blocks (if / loops)
MAX_LOOPS = 2  # nesting depth of loops

# --------------------------------------------------------------------------------------
# Registries


class Gen:
    def __init__(self, name, fn, weight, leaf, when):
        self.name, self.fn, self.weight, self.leaf, self.when = name, fn, weight, leaf, when


SCALAR_EXPRS, ARRAY_EXPRS, CONDITIONS, STATEMENTS = {}, {}, {}, {}


def _register(table, name, weight=1, leaf=False, when=None):
    def deco(fn):
        assert name not in table, name
        table[name] = Gen(name, fn, weight, leaf, when or (lambda ctx: True))
        return fn

    return deco


def scalar_expr(name, weight=1, leaf=False, when=None):
    """Register a generator of a float-valued expression (a string)."""
    return _register(SCALAR_EXPRS, name, weight, leaf, when)


def array_expr(name, weight=1, leaf=False, when=None):
    """Register a generator of an expression giving a float array of length ctx.L."""
    return _register(ARRAY_EXPRS, name, weight, leaf, when)


def condition(name, weight=1, leaf=False, when=None):
    """Register a generator of a boolean expression."""
    return _register(CONDITIONS, name, weight, leaf, when)


def statement(name, weight=1, when=None):
    """Register a generator of statements (a list of source lines, unindented)."""
    return _register(STATEMENTS, name, weight, False, when)


def indent(lines):
    return ["    " + line for line in lines]


def _names_in(expression):
    """Variables read by `expression` (modules math / np excluded)."""
    return {n.id for n in ast.walk(ast.parse(expression)) if isinstance(n, ast.Name)} - {"math", "np"}


class Ctx:
    """What the generator knows while writing one program."""

    def __init__(self, draw, length, enabled, budget):
        self.draw = draw
        self.L = length
        self.enabled = enabled
        self.budget = budget  # statements left
        self.scalars = ["x", "y"]  # readable and assignable floats
        self.fixed = []  # readable floats that must not be assigned (while-loop clocks)
        self.arrays = ["a"]  # readable arrays (all of length L)
        self.mutable = []  # arrays the program owns, writable in place
        self.ints = ["n"]  # readable ints (loop indices, n, counters)
        self.loops = 0
        self.loop_kinds = ()  # generator names of the enclosing loops
        self.nest = 0
        self._names = itertools.count()

    def broken(self, name):
        """Is `name` (a generator or pattern) known broken here? See KNOWN_BROKEN."""
        if name in KNOWN_BROKEN:
            return True
        return any(
            f"{name}@{where}" in KNOWN_BROKEN for where in self.loop_kinds + (("loop",) if self.loops else ())
        )

    def value(self, depth=2):
        """An expression to assign: see "constant_assign@loop" in KNOWN_BROKEN."""
        e = self.expr(depth)
        if self.broken("constant_assign") and not _names_in(e) & set(self.scalars + self.fixed + self.arrays):
            e = f"{e} + {self.pick(self.scalars)}"
        return e

    def not_self(self, target, e):
        """`e` as the value assigned to `target`: see "self_assign" in KNOWN_BROKEN."""
        if self.broken("self_assign") and e.strip("()") == target:
            return f"{e} * 1.5"
        return e

    def base(self, e):
        """`e` as the base of `**`: see "negative_constant_base" in KNOWN_BROKEN."""
        if self.broken("negative_constant_base") and e.lstrip("(").startswith("-") and not _names_in(e):
            return e.replace("-", "", 1)
        return e

    def fresh(self, prefix):
        return f"{prefix}{next(self._names)}"

    @contextlib.contextmanager
    def scope(self, loop=None):
        """A nested block (`loop`: the loop generator's name): names bound inside are not visible after it."""
        saved = (list(self.scalars), list(self.fixed), list(self.arrays), list(self.mutable), list(self.ints))
        saved_kinds = self.loop_kinds
        self.nest += 1
        self.loops += bool(loop)
        self.loop_kinds += (loop,) if loop else ()
        try:
            yield
        finally:
            self.nest -= 1
            self.loops -= bool(loop)
            self.loop_kinds = saved_kinds
            self.scalars, self.fixed, self.arrays, self.mutable, self.ints = saved

    def choose(self, table, leaf_only=False):
        names = []
        for gen in table.values():
            if gen.name not in self.enabled or gen.name in KNOWN_BROKEN:
                continue
            if self.broken(gen.name):
                continue
            if leaf_only and not gen.leaf:
                continue
            if not gen.when(self):
                continue
            names += [gen.name] * gen.weight
        assert names, (table is STATEMENTS, leaf_only)
        return table[self.draw(st.sampled_from(names))]

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def const(self):
        return self.pick(CONSTS)

    def expr(self, depth=2):
        return self.choose(SCALAR_EXPRS, leaf_only=depth <= 0).fn(self, depth - 1)

    def arr(self, depth=1):
        return self.choose(ARRAY_EXPRS, leaf_only=depth <= 0).fn(self, depth - 1)

    def cond(self, depth=1):
        return self.choose(CONDITIONS, leaf_only=depth <= 0).fn(self, depth - 1)

    def positive(self, depth=1):
        """An expression that is > 0 for every input (safe under log / sqrt / division)."""
        e = self.base(self.expr(depth))
        c = self.pick(POS_CONSTS)
        form = self.draw(st.integers(0, 4))
        return [
            f"({e}) * ({e}) + {c}",
            f"({e}) ** 2 + {c}",
            f"math.exp(math.sin({e}))",
            f"abs({e}) + {c}",
            f"(2.0 + math.cos({e}))",
        ][form]

    def bounded(self, depth=1):
        """An expression with values in [-pi/2, pi/2] (safe under exp)."""
        fn = self.pick(("math.sin", "math.tanh", "math.atan", "math.cos", "np.sin", "np.tanh"))
        return f"{fn}({self.expr(depth)})"

    def block(self, max_statements=3):
        count = self.draw(st.integers(1, max_statements))
        lines = []
        for _ in range(count):
            if self.budget <= 0:
                break
            self.budget -= 1
            lines += self.choose(STATEMENTS).fn(self)
        return lines or ["pass"]


# --------------------------------------------------------------------------------------
# Scalar expressions


@scalar_expr("var", weight=4, leaf=True)
def _(ctx, depth):
    return ctx.pick(ctx.scalars + ctx.fixed)


@scalar_expr("const", weight=1, leaf=True)
def _(ctx, depth):
    return ctx.const()


@scalar_expr("int_leaf", weight=1, leaf=True, when=lambda ctx: len(ctx.ints) > 1)
def _(ctx, depth):
    return f"{ctx.const()} * {ctx.pick(ctx.ints)}"


@scalar_expr("element", weight=2, leaf=True)
def _(ctx, depth):
    array = ctx.pick(ctx.arrays)
    if len(ctx.ints) > 1 and ctx.draw(st.booleans()):
        return f"{array}[{ctx.pick(ctx.ints[1:])} % {ctx.L}]"
    return f"{array}[{ctx.draw(st.integers(-ctx.L, ctx.L - 1))}]"


@scalar_expr("arith", weight=4)
def _(ctx, depth):
    op = ctx.pick(("+", "-", "*"))
    return f"({ctx.expr(depth)} {op} {ctx.expr(depth)})"


@scalar_expr("div", weight=1)
def _(ctx, depth):
    if ctx.draw(st.booleans()):
        return f"({ctx.expr(depth)} / {ctx.pick(('2.0', '-3.0', '0.5'))})"
    return f"({ctx.expr(depth)} / ({ctx.positive(depth)}))"


@scalar_expr("pow", weight=1)
def _(ctx, depth):
    if ctx.draw(st.booleans()):
        return f"({ctx.base(ctx.expr(depth))}) ** {ctx.pick(('2', '3'))}"
    return f"({ctx.positive(depth)}) ** {ctx.pick(('0.5', '1.5', '-1', '-0.5', '2'))}"


@scalar_expr("neg", weight=1)
def _(ctx, depth):
    return f"-{ctx.expr(depth)}"


@scalar_expr("square", weight=1, leaf=True)
def _(ctx, depth):  # a variable times itself: its derivative's two equal terms are added as one product
    name = ctx.pick(ctx.scalars + ctx.fixed)
    return f"({name} * {name})"


@scalar_expr("abs", weight=1)
def _(ctx, depth):
    return f"abs({ctx.expr(depth)})"


@scalar_expr("minmax", weight=1)
def _(ctx, depth):
    return f"{ctx.pick(('min', 'max'))}({ctx.expr(depth)}, {ctx.expr(depth)})"


@scalar_expr("math_fn", weight=2)
def _(ctx, depth):
    kind = ctx.draw(st.integers(0, 6))
    if kind == 0:
        return f"math.exp({ctx.bounded(depth)})"
    if kind == 1:
        return f"math.log({ctx.positive(depth)})"
    if kind == 2:
        return f"math.sqrt({ctx.positive(depth)})"
    return f"{('math.sin', 'math.cos', 'math.tanh', 'math.atan')[kind - 3]}({ctx.expr(depth)})"


@scalar_expr("np_fn", weight=1)
def _(ctx, depth):
    kind = ctx.draw(st.integers(0, 5))
    if kind == 0:
        return f"np.exp({ctx.bounded(depth)})"
    if kind == 1:
        return f"np.log({ctx.positive(depth)})"
    if kind == 2:
        return f"np.sqrt({ctx.positive(depth)})"
    return f"{('np.sin', 'np.cos', 'np.tanh')[kind - 3]}({ctx.expr(depth)})"


@scalar_expr("mod", weight=1)
def _(ctx, depth):  # remainders: derivative 1 w.r.t. the dividend, -floor(x / y) w.r.t. the divisor
    kind = ctx.draw(st.integers(0, 3))
    divisor = ctx.pick(("1.0", "0.7", "2.5")) if ctx.draw(st.booleans()) else f"({ctx.positive(depth)})"
    if kind == 0:
        return f"({ctx.expr(depth)} % {divisor})"
    return f"{('np.mod', 'np.fmod', 'math.fmod')[kind - 1]}({ctx.expr(depth)}, {divisor})"


@scalar_expr("ternary", weight=1)
def _(ctx, depth):
    return f"({ctx.expr(depth)} if {ctx.cond(depth)} else {ctx.expr(depth)})"


@scalar_expr("reduce", weight=2)
def _(ctx, depth):
    array = ctx.arr(depth)
    form = ctx.draw(st.integers(0, 2))
    return [f"np.sum({array})", f"np.mean({array})", f"np.sum({array} * {array})"][form]


# --------------------------------------------------------------------------------------
# Array expressions (length L; bare names are copied so that nothing aliases)


@array_expr("array_var", weight=3, leaf=True)
def _(ctx, depth):
    return ctx.pick(ctx.arrays)


@array_expr("array_scalar", weight=3)
def _(ctx, depth):
    op = ctx.pick(("+", "-", "*"))
    if ctx.draw(st.booleans()):
        return f"({ctx.arr(depth)} {op} {ctx.expr(depth)})"
    return f"({ctx.expr(depth)} {op} {ctx.arr(depth)})"


@array_expr("array_array", weight=2)
def _(ctx, depth):
    op = ctx.pick(("+", "-", "*"))
    return f"({ctx.arr(depth)} {op} {ctx.arr(depth)})"


@array_expr("array_div", weight=1)
def _(ctx, depth):
    return f"({ctx.arr(depth)} / ({ctx.positive(depth)}))"


@array_expr("array_fn", weight=2)
def _(ctx, depth):
    inner = ctx.arr(depth)
    kind = ctx.draw(st.integers(0, 5))
    return [
        f"np.sin({inner})",
        f"np.cos({inner})",
        f"np.tanh({inner})",
        f"np.exp(np.sin({inner}))",
        f"np.sqrt({inner} * {inner} + 1.0)",
        f"np.log({inner} * {inner} + 0.5)",
    ][kind]


@array_expr("array_mod", weight=1)
def _(ctx, depth):
    divisor = ctx.pick(("1.0", "0.7")) if ctx.draw(st.booleans()) else f"({ctx.positive(depth)})"
    if ctx.draw(st.booleans()):
        return f"({ctx.arr(depth)} % {divisor})"
    return f"{ctx.pick(('np.mod', 'np.remainder', 'np.fmod'))}({ctx.arr(depth)}, {divisor})"


@array_expr("array_pow", weight=1)
def _(ctx, depth):
    return f"({ctx.arr(depth)} ** 2)"


@array_expr("array_square", weight=1, leaf=True)
def _(ctx, depth):
    name = ctx.pick(ctx.arrays)
    return f"({name} * {name})"


# --------------------------------------------------------------------------------------
# Conditions


@condition("compare", weight=3, leaf=True)
def _(ctx, depth):
    op = ctx.pick(("<", ">", "<=", ">="))
    right = ctx.const() if ctx.draw(st.booleans()) else ctx.expr(0)
    return f"{ctx.expr(max(depth, 0) + 1)} {op} {right}"


@condition("chained", weight=1, leaf=True)
def _(ctx, depth):
    lo = ctx.draw(st.sampled_from((-1.5, -0.5, 0.0, 0.5)))
    hi = lo + ctx.draw(st.sampled_from((0.5, 1.0, 2.0)))
    middle = ctx.pick(ctx.scalars + ctx.fixed) if ctx.broken("chained_complex_middle") else ctx.expr(1)
    return f"{lo} < {middle} < {hi}"


@condition("int_test", weight=1, leaf=True, when=lambda ctx: len(ctx.ints) > 1)
def _(ctx, depth):
    i = ctx.pick(ctx.ints)
    form = ctx.draw(st.integers(0, 2))
    return [f"{i} % 2 == 0", f"{i} > 1", f"{i} == {ctx.pick(ctx.ints)}"][form]


@condition("and_or", weight=1)
def _(ctx, depth):
    return f"({ctx.cond(depth)} {ctx.pick(('and', 'or'))} {ctx.cond(depth)})"


@condition("not", weight=1)
def _(ctx, depth):
    return f"not ({ctx.cond(depth)})"


# --------------------------------------------------------------------------------------
# Statements


def _in_loop(ctx):
    return ctx.loops > 0


def _can_nest(ctx):
    return ctx.nest < MAX_NEST and ctx.budget > 0


def _can_loop(ctx):
    return _can_nest(ctx) and ctx.loops < MAX_LOOPS


@statement("assign", weight=6)
def _(ctx):
    value = ctx.value(2)
    if ctx.draw(st.booleans()):
        target = ctx.pick(ctx.scalars)
    else:
        target = ctx.fresh("v")
        ctx.scalars.append(target)
    if ctx.loops and ctx.draw(st.booleans()):
        # keeps repeated updates bounded
        value = f"{ctx.pick(('math.tanh', 'math.sin', 'np.tanh'))}({value})"
    return [f"{target} = {ctx.not_self(target, value)}"]


@statement("augassign", weight=3)
def _(ctx):
    target = ctx.pick(ctx.scalars)
    op = ctx.pick(("+=", "-=", "*=", "/="))
    if op == "/=":
        return [f"{target} /= {ctx.positive(1)}"]
    if op == "*=":
        return [f"{target} *= {ctx.bounded(1)}"] if ctx.loops else [f"{target} *= {ctx.expr(1)}"]
    return [f"{target} {op} {ctx.expr(1)}"]


@statement("tuple_assign", weight=2)
def _(ctx):
    if len(ctx.scalars) >= 2 and ctx.draw(st.booleans()):
        p, q = ctx.draw(st.permutations(ctx.scalars))[:2]
        return [f"{p}, {q} = {q}, {ctx.pick(('math.sin', 'math.tanh', ''))}({p} + {ctx.expr(1)})"]
    p, q = ctx.fresh("v"), ctx.pick(ctx.scalars)
    line = f"{p}, {q} = {ctx.value(1)}, {ctx.not_self(q, ctx.value(1))}"
    ctx.scalars.append(p)
    return [line]


@statement("if", weight=3, when=_can_nest)
def _(ctx):
    lines = [f"if {ctx.cond()}:"]
    with ctx.scope():
        lines += indent(ctx.block(2))
    for _ in range(ctx.draw(st.integers(0, 2))):
        lines.append(f"elif {ctx.cond()}:")
        with ctx.scope():
            lines += indent(ctx.block(2))
    if ctx.draw(st.booleans()):
        lines.append("else:")
        with ctx.scope():
            lines += indent(ctx.block(2))
    return lines


def _loop(ctx, kind, header, index=None, elements=(), readonly=None, prologue=(), first=()):
    with ctx.scope(loop=kind):
        if index:
            ctx.ints.append(index)
        ctx.scalars.extend(elements)
        if readonly in ctx.mutable:
            ctx.mutable.remove(readonly)
        body = list(first) + ctx.block(3)
    return list(prologue) + [header] + indent(body)


@statement("for_range", weight=3, when=_can_loop)
def _(ctx):
    i = ctx.fresh("i")
    bound = ctx.pick([str(k) for k in range(5)] + ctx.ints + ["n + 1"])
    form = ctx.draw(st.integers(0, 2))
    header = [
        f"for {i} in range({bound}):",
        f"for {i} in range(1, {bound}):",
        f"for {i} in range(0, {bound}, 2):",
    ][form]
    return _loop(ctx, "for_range", header, index=i)


@statement("for_else", weight=1, when=_can_loop)
def _(ctx):  # the `else` runs when the loop ends without `break` (its own `break`s belong to an outer loop)
    i = ctx.fresh("i")
    bound = ctx.pick([str(k) for k in range(5)] + ctx.ints + ["n + 1"])
    lines = _loop(ctx, "for_else", f"for {i} in range({bound}):", index=i)
    lines.append("else:")
    with ctx.scope():
        lines += indent(ctx.block(2))
    return lines


@statement("rebind_index", weight=1, when=lambda ctx: bool(ctx.loops) and len(ctx.ints) > 1)
def _(ctx):  # a loop's own counter rebound in its body: the loop still counts as `range` says
    i = ctx.pick(ctx.ints[1:])
    return [f"{i} = {i} + {ctx.draw(st.integers(1, 2))}"]


@statement("for_reversed", weight=1, when=_can_loop)
def _(ctx):
    i = ctx.fresh("i")
    bound = ctx.pick([str(k) for k in range(5)] + ctx.ints)
    if ctx.draw(st.booleans()):
        header = f"for {i} in reversed(range({bound})):"
    else:
        header = f"for {i} in range({bound} - 1, -1, -1):"
    return _loop(ctx, "for_reversed", header, index=i)


def _iterable(ctx):
    """An array to iterate over: see "iterate_written_array" in KNOWN_BROKEN."""
    return "a" if ctx.broken("iterate_written_array") else ctx.pick(ctx.arrays)


def _sliceable(ctx):
    """Arrays whose slices may be read: see "slice_view_residual" in KNOWN_BROKEN."""
    return ["a"] if ctx.broken("slice_view_residual") else ctx.arrays


@statement("for_array", weight=1, when=_can_loop)
def _(ctx):
    array = _iterable(ctx)
    e = ctx.fresh("e")
    source = ctx.pick((array, f"{array}[1:]", f"{array}[::-1]") if array in _sliceable(ctx) else (array,))
    return _loop(ctx, "for_array", f"for {e} in {source}:", elements=[e], readonly=array)


@statement("for_enumerate", weight=1, when=_can_loop)
def _(ctx):
    array = _iterable(ctx)
    i, e = ctx.fresh("i"), ctx.fresh("e")
    return _loop(
        ctx, "for_enumerate", f"for {i}, {e} in enumerate({array}):", index=i, elements=[e], readonly=array
    )


@statement("for_zip", weight=1, when=_can_loop)
def _(ctx):
    first = _iterable(ctx)
    second = ctx.pick([_iterable(ctx)] + ([f"{first}[1:]"] if first in _sliceable(ctx) else []))
    p, q = ctx.fresh("e"), ctx.fresh("e")
    return _loop(ctx, "for_zip", f"for {p}, {q} in zip({first}, {second}):", elements=[p, q], readonly=first)


@statement("while_clock", weight=1, when=_can_loop)
def _(ctx):
    """Data-dependent trip count; the clock advances by >= 0.1 first thing, so `continue` is safe."""
    t = ctx.fresh("t")
    horizon = ctx.pick(("1.0", "1.5"))
    step = f"0.3 + 0.2 * {ctx.bounded(1)}"
    ctx.fixed.append(t)
    return _loop(
        ctx, "while_clock", f"while {t} < {horizon}:", prologue=[f"{t} = 0.0"], first=[f"{t} += {step}"]
    )


@statement("while_true", weight=1, when=_can_loop)
def _(ctx):
    """`while True` with a counter checked first thing, and (usually) a data-dependent break."""
    k = ctx.fresh("k")
    limit = ctx.pick(("2", "3", "5"))
    first = [f"{k} += 1", f"if {k} > {limit}:", "    break"]
    ctx.ints.append(k)
    return _loop(ctx, "while_true", "while True:", prologue=[f"{k} = 0"], first=first)


@statement("while_counter", weight=1, when=_can_loop)
def _(ctx):
    k = ctx.fresh("k")
    bound = ctx.pick(("n", "3", "n + 1"))
    return _loop(ctx, "while_counter", f"while {k} < {bound}:", prologue=[f"{k} = 0"], first=[f"{k} += 1"])


@statement("break", weight=1, when=_in_loop)
def _(ctx):
    return [f"if {ctx.cond()}:", "    break"]


@statement("continue", weight=1, when=_in_loop)
def _(ctx):
    return [f"if {ctx.cond()}:", "    continue"]


@statement("return_early", weight=1, when=lambda ctx: ctx.nest > 0 or ctx.budget > 1)
def _(ctx):
    return [f"if {ctx.cond()}:", f"    return {ctx.expr(2)}"]


@statement("array_new", weight=2)
def _(ctx):
    form = ctx.draw(st.integers(0, 3))
    if form == 0 and ctx.broken("constant_assign"):
        form = 1
    if form == 0:
        value = f"np.zeros({ctx.L})"
    elif form == 1:
        value = f"np.ones({ctx.L}) * {ctx.value(1)}"
    elif form == 2:
        value = f"{ctx.pick(ctx.arrays)}.copy()"
    else:
        value = ctx.arr(2)
        if value in ctx.arrays:  # no aliasing
            value = f"{value}.copy()" if ctx.broken("copy_by_times_one") else f"{value} * 1.0"
    if ctx.mutable and ctx.draw(st.booleans()):
        target = ctx.pick(ctx.mutable)  # rebinding (also while iterating over it)
    else:
        target = ctx.fresh("b")
        ctx.arrays.append(target)
        ctx.mutable.append(target)
    return [f"{target} = {value}"]


@statement("array_fill", weight=2, when=_can_loop)
def _(ctx):
    """`b = np.zeros(L)` then a loop writing every element, maybe from the previous one."""
    b, i = ctx.fresh("b"), ctx.fresh("i")
    with ctx.scope(loop="array_fill"):
        ctx.ints.append(i)
        value = ctx.value(2)
        recurrence = ctx.draw(st.booleans())
        if recurrence:
            line = f"    {b}[{i}] = {b}[{i} - 1] * {ctx.const()} + {ctx.pick(('math.sin', 'math.tanh', ''))}({value})"
        else:
            line = f"    {b}[{i}] {ctx.pick(('=', '+='))} {value}"
    ctx.arrays.append(b)
    ctx.mutable.append(b)
    start = "1, " if recurrence else ""
    init = f"np.{ctx.pick(('zeros', 'ones'))}({ctx.L})"
    if ctx.broken("constant_assign"):
        init = f"{ctx.pick(ctx.scalars)} * {init}"
    return [f"{b} = {init}", f"for {i} in range({start}{ctx.L}):", line]


@statement("setitem", weight=2, when=lambda ctx: bool(ctx.mutable))
def _(ctx):
    b = ctx.pick(ctx.mutable)
    if len(ctx.ints) > 1 and ctx.draw(st.booleans()):
        index = f"{ctx.pick(ctx.ints[1:])} % {ctx.L}"
    else:
        index = str(ctx.draw(st.integers(-ctx.L, ctx.L - 1)))
    op = ctx.pick(("=", "+=", "-=", "*="))
    value = ctx.bounded(1) if op == "*=" else ctx.value(2)
    return [f"{b}[{index}] {op} {value}"]


@statement("slice_assign", weight=2, when=lambda ctx: bool(ctx.mutable))
def _(ctx):
    b = ctx.pick(ctx.mutable)
    lo = ctx.draw(st.integers(0, ctx.L - 1))
    hi = ctx.draw(st.integers(lo + 1, ctx.L))
    part = f"{b}[{lo}:{hi}]"
    form = ctx.draw(st.integers(0, 4))
    if form == 0:
        return [f"{part} = {ctx.value(1)}"]
    if form == 1:
        read = part if b in _sliceable(ctx) else f"{ctx.pick(_sliceable(ctx))}[{lo}:{hi}]"
        return [f"{part} = {read} * {ctx.expr(1)}"]
    if form == 2:
        return [f"{part} += {ctx.expr(1)}"]
    if form == 3:
        return [f"{part} = {ctx.pick(_sliceable(ctx))}[{lo}:{hi}] * {ctx.expr(1)}"]
    source = ctx.arr(1)
    if ctx.broken("slice_view_residual") and (_names_in(source) & set(ctx.arrays)) - {"a"}:
        source = "a"
    return [f"{b}[{lo}:] {ctx.pick(('=', '+='))} ({source})[{lo}:]"]


@statement("array_aug", weight=1, when=lambda ctx: bool(ctx.mutable))
def _(ctx):
    b = ctx.pick(ctx.mutable)
    op = ctx.pick(("+=", "-=", "*="))
    value = ctx.bounded(1) if op == "*=" else ctx.arr(1)
    return [f"{b} {op} {value}"]


@statement("ufunc_at", weight=3, when=lambda ctx: bool(ctx.mutable))
def _(ctx):
    """`np.add.at(b, [0, 2, 0], v)`: repeated indices accumulate (subtract, multiply likewise)."""
    b = ctx.pick(ctx.mutable)
    count = ctx.draw(st.integers(1, 4))
    index = [ctx.draw(st.integers(-ctx.L, ctx.L - 1)) for _ in range(count)]
    ufunc = ctx.pick(("add", "subtract", "multiply"))
    if ufunc == "multiply":
        value = ctx.bounded(1)
    else:
        value = ctx.pick((ctx.expr(1), f"({ctx.arr(1)})[:{count}]" if count <= ctx.L else ctx.expr(1)))
    return [f"np.{ufunc}.at({b}, {index}, {value})"]


@statement("copyto", weight=3, when=lambda ctx: bool(ctx.mutable))
def _(ctx):
    b = ctx.pick(ctx.mutable)
    if ctx.draw(st.booleans()):
        return [f"np.copyto({b}, {ctx.arr(1)})"]
    return [f"np.copyto({b}, {ctx.arr(1)}, where={ctx.pick(ctx.arrays)} > {ctx.const()})"]


@statement("ufunc_out", weight=3, when=lambda ctx: bool(ctx.mutable))
def _(ctx):
    """`np.multiply(p, q, out=b)` (or the output given by position)."""
    b = ctx.pick(ctx.mutable)
    op = ctx.pick(("add", "subtract", "multiply"))
    out = ctx.pick((f"out={b}", b, f"out=({b},)"))
    return [f"np.{op}({ctx.arr(1)}, {ctx.arr(1)}, {out})"]


@statement("dict_loop", weight=3)
def _(ctx):
    """A dict of arrays read in a loop over its keys: a literal list, `.items()`, `.values()` or `.keys()`."""
    d, k, v = ctx.fresh("d"), ctx.fresh("k"), ctx.fresh("v")
    keys = ["p", "q", "r"][: ctx.draw(st.integers(1, 3))]
    entries = ", ".join(f"{key!r}: {ctx.arr(1)}" for key in keys)
    s = ctx.pick(ctx.scalars)
    c = ctx.const()
    form = ctx.draw(st.integers(0, 3))
    header, read = [
        (f"for {k} in {keys!r}:", f"{d}[{k}]"),
        (f"for {k}, {v} in {d}.items():", f"{v} * {d}[{k}]"),
        (f"for {v} in {d}.values():", v),
        (f"for {k} in {d}.keys():", f"{d}[{k}]"),
    ][form]
    return [f"{d} = {{{entries}}}", header, f"    {s} = {s} * {c} + np.sum(np.sin({read}))"]


@statement("helper_fill", weight=3)
def _(ctx):
    """A helper that allocates an array, fills it in place (by index and by `np.add.at`) and returns it."""
    value = f"_fill({ctx.arr(1)}, {ctx.expr(1)})"
    if ctx.mutable and ctx.draw(st.booleans()):
        target = ctx.pick(ctx.mutable)
    else:
        target = ctx.fresh("b")
        ctx.arrays.append(target)
        ctx.mutable.append(target)
    return [f"{target} = {value}"]


# --------------------------------------------------------------------------------------
# Programs


def _final_return(ctx):
    terms = []
    for name in ctx.scalars + ctx.fixed:
        if ctx.draw(st.integers(0, 3)) > 0:
            terms.append(f"{ctx.const()} * {name}" if ctx.draw(st.booleans()) else name)
    for name in ctx.arrays:
        if ctx.draw(st.integers(0, 3)) > 0:
            terms.append(
                ctx.pick((f"np.sum({name} * {name})", f"np.mean({name})", f"np.sum(np.sin({name}))"))
            )
    if not terms:
        terms.append(ctx.expr(2))
    return "return " + " + ".join(terms)


ALL = set(SCALAR_EXPRS) | set(ARRAY_EXPRS) | set(CONDITIONS) | set(STATEMENTS)
_SCALAR_CORE = {
    "var",
    "const",
    "int_leaf",
    "element",
    "arith",
    "div",
    "pow",
    "neg",
    "square",
    "abs",
    "minmax",
    "math_fn",
    "np_fn",
    "reduce",
    "array_var",
    "array_scalar",
    "compare",
    "mod",
}
_CONDITIONS = {"compare", "chained", "int_test", "and_or", "not", "ternary"}
_LOOPS = {
    "for_range",
    "for_else",
    "for_reversed",
    "for_array",
    "for_enumerate",
    "for_zip",
    "while_clock",
    "while_true",
    "while_counter",
    "break",
    "continue",
    "return_early",
    "rebind_index",
}
_ARRAYS = set(ARRAY_EXPRS) | {"array_new", "array_fill", "setitem", "slice_assign", "array_aug"}
_WRITES = {"ufunc_at", "copyto", "ufunc_out", "dict_loop", "helper_fill"}
_ASSIGN = {"assign", "augassign", "tuple_assign"}

PROFILES = {
    "expressions": _SCALAR_CORE | _ASSIGN | set(ARRAY_EXPRS) | {"ternary"},
    "branches": _SCALAR_CORE | _ASSIGN | _CONDITIONS | {"if", "return_early"},
    "loops": _SCALAR_CORE | _ASSIGN | _CONDITIONS | _LOOPS | {"if"},
    "arrays": _SCALAR_CORE | _ASSIGN | _ARRAYS | {"for_range", "for_reversed", "if", "compare"},
    "writes": _SCALAR_CORE | _ASSIGN | _ARRAYS | _WRITES | {"for_range", "if", "compare"},
    "everything": ALL,
}
assert all(p <= ALL for p in PROFILES.values())


class Program:
    def __init__(self, source, length):
        self.source, self.L = source, length

    def __repr__(self):
        return f"Program(L={self.L}):\n{self.source}"


@st.composite
def programs(draw, profile):
    length = draw(st.integers(2, 4))
    ctx = Ctx(draw, length, PROFILES[profile], budget=draw(st.integers(2, 8)))
    body = ctx.block(6)
    body.append(_final_return(ctx))
    source = "def f(x, y, a, n):\n" + "\n".join(indent(body)) + "\n"
    return Program(source, length)


# --------------------------------------------------------------------------------------
# Loading, instrumenting, checking

HELPERS = """
def _fill(v, c):
    out = np.zeros(len(v))
    for i in range(len(v)):
        out[i] = math.sin(v[i]) * c
    np.add.at(out, [0, 0], c * c)
    return out
"""
HEADER = "import math\n\nimport numpy as np\n\n" + HELPERS + "\n\n"
_TMP = tempfile.mkdtemp(prefix="s2sad_random_")
_MODULES = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _cleanup_tmp():
    yield
    shutil.rmtree(_TMP, ignore_errors=True)


@contextlib.contextmanager
def loaded(source):
    """Import `source` from a real file under a unique module name; yields the module."""
    name = f"s2sad_random_prog_{os.getpid()}_{next(_MODULES)}"
    path = os.path.join(_TMP, name + ".py")
    with open(path, "w") as handle:
        handle.write(HEADER + source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
        linecache.checkcache(path)
        with contextlib.suppress(OSError):
            os.remove(path)


class _Instrument(ast.NodeTransformer):
    """Wrap comparisons and abs/min/max so that a run records every decision it makes."""

    def visit_Compare(self, node):
        self.generic_visit(node)
        return ast.Call(ast.Name("_record_compare", ast.Load()), [node], [])

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Mod):
            return ast.Call(ast.Name("_record_mod", ast.Load()), [node.left, node.right], [])
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("abs", "min", "max"):
            node.func = ast.Name("_record_" + node.func.id, ast.Load())
        if isinstance(node.func, ast.Attribute) and ast.unparse(node.func) in _REMAINDERS:
            node.func = ast.Name(_REMAINDERS[ast.unparse(node.func)], ast.Load())
        return node


_REMAINDERS = {
    "np.mod": "_record_mod",
    "np.remainder": "_record_mod",
    "np.fmod": "_record_fmod",
    "math.fmod": "_record_math_fmod",
}


def instrumented(source):
    """Plain-Python copy of the program returning (value, decision trace)."""
    tree = _Instrument().visit(ast.parse(source))
    ast.fix_missing_locations(tree)
    trace = []

    def record_compare(value):
        trace.append(bool(value) if np.ndim(value) == 0 else tuple(np.asarray(value).ravel().tolist()))
        return value

    def record_abs(v):
        trace.append(("abs", bool(v >= 0)))
        return abs(v)

    def record_min(p, q):
        trace.append(("min", bool(p <= q)))
        return min(p, q)

    def record_max(p, q):
        trace.append(("max", bool(p >= q)))
        return max(p, q)

    def record_quotient(p, q, rounding):  # which piece of a remainder: the rounded quotient
        trace.append(("mod", tuple(np.ravel(rounding(np.true_divide(p, q))).tolist())))

    def record_mod(p, q):
        record_quotient(p, q, np.floor)
        return p % q if np.ndim(p) == 0 and np.ndim(q) == 0 else np.mod(p, q)

    def record_fmod(p, q):
        record_quotient(p, q, np.trunc)
        return np.fmod(p, q)

    def record_math_fmod(p, q):
        record_quotient(p, q, np.trunc)
        return math.fmod(p, q)

    namespace = {
        "math": math,
        "np": np,
        "_record_compare": record_compare,
        "_record_abs": record_abs,
        "_record_min": record_min,
        "_record_max": record_max,
        "_record_mod": record_mod,
        "_record_fmod": record_fmod,
        "_record_math_fmod": record_math_fmod,
    }
    exec(HELPERS, namespace)
    exec(compile(tree, "<instrumented>", "exec"), namespace)
    function = namespace["f"]

    def run(*args):
        trace.clear()
        value = function(*args)
        return value, list(trace)

    return run


def _copy(args):
    return tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in args)


def _shift(args, direction, step):
    return tuple(a + step * d if i < 3 else a for i, (a, d) in enumerate(zip(args, direction)))


def _dot(p, q):
    return float(np.sum(np.asarray(p, dtype=float) * np.asarray(q, dtype=float)))


def _fmt_args(args):
    x, y, a, n = args
    return f"x={x!r}, y={y!r}, a=np.array({a.tolist()!r}), n={n!r}"


class Mismatch(AssertionError):
    pass


def _fail(program, args, what):
    return Mismatch(
        f"{what}\n--- program ---\n{program.source}--- arguments ---\n{_fmt_args(args)}\n"
        f"(as a test: copy the program into a file and call s2sad.jvp / s2sad.vjp on those arguments)"
    )


STEPS = (2e-4, 1e-4, 5e-5)
MAGNITUDE = 1e6


def finite_difference(traced, args, direction, base_trace):
    """Richardson-extrapolated central difference along `direction`, with an error estimate.

    Returns None (skip) if any evaluation point takes other decisions than `args` does,
    or if the evaluations misbehave.
    """
    diffs = []
    for step in STEPS:
        values = []
        for sign in (1, -1):
            point = _shift(args, direction, sign * step)
            try:
                with np.errstate(all="raise"):
                    value, trace = traced(*_copy(point))
            except (ArithmeticError, ValueError, FloatingPointError, IndexError):
                return None
            if trace != base_trace or not np.isfinite(value):
                return None
            values.append(float(value))
        diffs.append((values[0] - values[1]) / (2 * step))
    r1 = (4 * diffs[1] - diffs[0]) / 3
    r2 = (4 * diffs[2] - diffs[1]) / 3
    return r2, abs(r2 - r1)


def check_program(program, args, seed):
    """All the checks on one program; raises Mismatch (with the source) on disagreement."""
    rng = np.random.default_rng(seed)
    traced = instrumented(program.source)
    try:
        with np.errstate(all="raise"):
            base_value, base_trace = traced(*_copy(args))
    except (ArithmeticError, ValueError, FloatingPointError, IndexError):
        assume(False)
    assume(np.isfinite(base_value) and abs(base_value) < MAGNITUDE)

    directions = []
    for _ in range(2):
        direction = (
            float(rng.standard_normal()),
            float(rng.standard_normal()),
            rng.standard_normal(program.L),
            0,
        )
        fd = finite_difference(traced, args, direction, base_trace)
        assume(fd is not None)
        assume(fd[1] <= 1e-5 * max(1.0, abs(fd[0])))
        directions.append((direction, fd))

    with loaded(program.source) as module:
        f = module.f
        value = f(*_copy(args))
        assert value == base_value or abs(value - base_value) <= 1e-12 * abs(base_value), program
        stage = "?"
        try:
            pullbacks = _pullbacks(f, args)
            for direction, (fd, fd_error) in directions:
                scale = max(1.0, abs(fd))
                tol = 1e-6 * scale + 10 * fd_error

                stage = "jvp"
                tangents = (direction[0], direction[1], np.array(direction[2]), 0.0)
                out, out_dot = s2sad.jvp(f, _copy(args), tangents)
                if not _close(out, value, 1e-9):
                    raise _fail(program, args, f"jvp primal output {out!r} != f(...) = {value!r}")
                if not abs(float(out_dot) - fd) <= tol:
                    raise _fail(
                        program,
                        args,
                        f"forward mode: J v = {float(out_dot)!r} but finite "
                        f"differences give {fd!r} (tolerance {tol:.2e}); v = {direction!r}",
                    )

                stage = "vjp"
                out_r, pullback = next(pullbacks)
                if not _close(out_r, value, 1e-9):
                    raise _fail(program, args, f"vjp primal output {out_r!r} != f(...) = {value!r}")
                u = float(rng.standard_normal())
                cot = pullback(u)
                terms = [_dot(cot[i], direction[i]) for i in range(3)]
                rhs = sum(terms)
                lhs = u * float(out_dot)
                dot_tol = 1e-9 * max(1.0, abs(lhs), abs(rhs), *map(abs, terms))
                if not abs(rhs - u * fd) <= abs(u) * tol:
                    raise _fail(
                        program,
                        args,
                        f"reverse mode: <J^T u, v> = {rhs!r} but u * FD = {u * fd!r} "
                        f"(tolerance {abs(u) * tol:.2e}); u = {u!r}, v = {direction!r}, J^T u = {cot!r}",
                    )
                if not abs(lhs - rhs) <= dot_tol:
                    raise _fail(
                        program, args, f"dot-product test: <u, J v> = {lhs!r} but <J^T u, v> = {rhs!r}"
                    )

            stage = "grad"
            gradient = s2sad.grad(f, argnums=(0, 1, 2))(*_copy(args))
            ones = next(pullbacks)[1](1.0)
            for i, name in enumerate("xya"):
                if np.shape(gradient[i]) != np.shape(args[i]):
                    raise _fail(
                        program,
                        args,
                        f"grad wrt {name} has shape {np.shape(gradient[i])}, "
                        f"the argument has shape {np.shape(args[i])}",
                    )
                if not np.allclose(gradient[i], ones[i], rtol=1e-9, atol=1e-12):
                    raise _fail(
                        program,
                        args,
                        f"grad wrt {name} = {gradient[i]!r} but pullback(1.0) "
                        f"gives {ones[i]!r} (the same pullback was called before: "
                        f"{'no' if 'pullback_reuse' in KNOWN_BROKEN else 'yes'})",
                    )
            crash = None
        except Mismatch:
            raise
        except Exception as exc:  # compiler errors and crashes of generated code
            frames = "".join(traceback.format_tb(exc.__traceback__)[-3:])
            crash = f"{stage} raised {type(exc).__name__}: {exc}\n{frames}"
        if crash is not None:
            # raised outside the `except` so that Hypothesis sees one origin (this line) for
            # every crash: generated code has a new file name each time it is compiled
            raise _fail(program, args, crash)


def _pullbacks(f, args):
    """(value, pullback) pairs: one vjp reused for every cotangent, unless "pullback_reuse" is broken."""
    out = None
    while True:
        if out is None or "pullback_reuse" in KNOWN_BROKEN:
            out = s2sad.vjp(f, *_copy(args))
        yield out


def _close(p, q, rtol):
    return abs(float(p) - float(q)) <= rtol * max(1.0, abs(float(q)))


@st.composite
def arguments(draw, length):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x, y = (round(float(v), 3) for v in rng.uniform(-2, 2, 2))
    a = np.round(rng.uniform(-2, 2, length), 3)
    n = draw(st.integers(0, 3))
    return (x, y, a, n), seed


def _run(profile, data):
    program = data.draw(programs(profile), label="program")
    args, seed = data.draw(arguments(program.L), label="arguments")
    check_program(program, args, seed)


@_settings(200)
@given(st.data())
def test_expressions(data):
    _run("expressions", data)


@_settings(150)
@given(st.data())
def test_branches(data):
    _run("branches", data)


@_settings(200)
@given(st.data())
def test_loops(data):
    _run("loops", data)


@_settings(150)
@given(st.data())
def test_arrays(data):
    _run("arrays", data)


@_settings(60)
@given(st.data())
def test_writes(data):
    _run("writes", data)


@_settings(200)
@given(st.data())
def test_everything(data):
    _run("everything", data)


def test_generator_covers_every_registered_construct():
    """Every registered generator is used by some profile (so nothing is silently dead)."""
    used = set().union(*PROFILES.values())
    assert used == ALL
