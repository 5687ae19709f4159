"""Tapes and stacks as numba holds them: a counted loop's tape one preallocated array per recorded
value, a `while` loop's grown by doubling with a count, a stack one list per name it saves, and the
reverse loops that read them back by index."""

import ast
import re

from .kinds import is_scalar, record_of, scalar_dtype, tape_kind, zero_of
from .syntax import assign_to, call_of, name_of, parse_expr, parse_stmt, stack_key


class Tapes:
    """The lowering of tapes, stacks and loops (a part of `Lowering`)."""

    # -- the first sweep: what the tapes are and what they record --------------------------------
    def collect(self, block):
        for stmt in block:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
                name = name_of(target)
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
                elif name and call_of(value, "reversed") and name_of(value.args[0]) in self.tapes:
                    self.aliases[name] = value.args[0].id
                elif (
                    isinstance(target, ast.Subscript)
                    and name_of(target.value) in self.counted
                    and name_of(value)
                ):
                    self.counted[target.value.id] = value.id
            tape = self.tape_pushed(stmt)
            if tape is not None:
                value = name_of(stmt.value.args[0])
                if value is None:
                    raise self.fail("the numba target records only named values on a loop's tape")
                arrays = self.tapes[tape][1]
                array = f"{tape}_{value.lstrip('_')}s"
                while array in {a for a, _ in arrays} or array in self.taken:
                    array += "_"
                arrays.append((array, value))
            for attr in ("body", "orelse"):
                self.collect(getattr(stmt, attr, None) or [])

    def tape_pushed(self, stmt):
        """The interleaved tape `stmt` pushes onto (`_tape1_push(x)`), else None."""
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = name_of(stmt.value.func)
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
                    (
                        tape_kind(self.kind(value))
                        if is_scalar(self.kind(value))
                        else ("list", self.kind(value))
                    ),
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
        out = [parse_stmt(f"{count} = 0")]
        for array, value in arrays:
            kind = self.kind(value)
            if is_scalar(kind):
                out.append(parse_stmt(f"{array} = np.empty(16, {scalar_dtype(kind)})"))
            else:
                zero = zero_of(kind)
                if zero is None:
                    raise self.fail(
                        f"the loop records {self.display(value)}, a {kind[1]} object, which numba "
                        "cannot compile"
                    )
                out.append(
                    assign_to(array, ast.Call(func=parse_expr("_rt.list_like"), args=[zero], keywords=[]))
                )
        return out

    def loop(self, loop):
        if isinstance(loop, ast.For):
            reverse = self.reverse_loop(loop)
            if reverse is not None:
                return reverse
            self.check(loop.target)
        self.check(loop.iter if isinstance(loop, ast.For) else loop.test)
        tape = next((t for t in map(self.tape_pushed, loop.body) if t is not None), None)
        loop.body = self.block(loop.body, loop_body_of=tape)
        loop.orelse = self.block(loop.orelse)
        if tape is None:
            return [loop]
        count, arrays = self.tapes[tape]
        grown = [array for array, value in arrays if is_scalar(self.kind(value))]
        if not grown:
            return [loop]
        if isinstance(loop, ast.For):  # the trip count is known: room for it before the loop
            if call_of(loop.iter, "range") is None:
                raise self.fail("the numba target records only loops over `range`")
            trips = f"len({ast.unparse(loop.iter)})"
            return [parse_stmt(f"{a} = _rt.reserve({a}, {count}, {trips})") for a in grown] + [loop]
        # `while c: body` -> `while c: (grow the tape arrays); while c and count < capacity: body`:
        # the inner loop, which runs all but log2(steps) of the steps, rebinds no array
        if not isinstance(loop.test, (ast.Name, ast.Constant)):
            raise self.fail("the numba target needs a `while` loop's test to be a name")
        capacity = f"{tape}_capacity"
        inner = ast.While(
            test=parse_expr(f"{ast.unparse(loop.test)} and {count} < {capacity}"),
            body=loop.body,
            orelse=[],
            lineno=0,
        )
        loop.body = [parse_stmt(f"{array} = _rt.grow({array}, {count})") for array in grown]
        loop.body += [parse_stmt(f"{capacity} = len({grown[0]})"), inner]
        return [loop]

    def counted_tape(self, name, value):
        """`_tape1_xs = [None] * n` -> `np.empty(n, np.float64)` (a list for arrays; one per part of a tape)."""
        recorded = self.counted[name]
        count = value.right
        self.check(count)
        out = []
        parts = self.parts(recorded) if recorded is not None else [(None, None)]
        for part, (_, kind) in zip(self.part_names(name, recorded), parts):
            if is_scalar(kind):
                out.append(
                    assign_to(part, parse_expr(f"np.empty({ast.unparse(count)}, {scalar_dtype(kind)})"))
                )
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
                assign_to(
                    part, ast.BinOp(left=ast.List(elts=[zero], ctx=ast.Load()), op=ast.Mult(), right=count)
                )
            )
        return out

    def stack(self, key):
        if key not in self.stacks:
            self.stacks.append(key)
        return f"_stack_{key}"

    def push(self, value):
        name = name_of(value)
        if name in self.tapes:  # a loop's tape inside another loop: its arrays and its count
            return [s for part, _ in self.parts(name) for s in self.push(ast.Name(id=part, ctx=ast.Load()))]
        key = stack_key(value)
        if key is None:
            raise self.fail("the numba target saves only names and array items on its stacks")
        self.check(value)
        if name is not None:
            value = record_of(name, self.kind(name))
        return [ast.Expr(ast.Call(func=parse_expr(f"{self.stack(key)}.append"), args=[value], keywords=[]))]

    def pop(self, target):
        name = name_of(target)
        if name in self.tapes:
            return [
                s
                for part, _ in reversed(self.parts(name))
                for s in self.pop(ast.Name(id=part, ctx=ast.Store()))
            ]
        key = stack_key(target)
        if key is None:
            raise self.fail("the numba target restores only names and array items from its stacks")
        self.check(target)
        return [ast.Assign(targets=[target], value=parse_expr(f"{self.stack(key)}.pop()"), lineno=0)]

    def reverse_loop(self, loop):
        """`for a, b in zip(reversed(_tape1_as), reversed(_tape1_bs))` (or over one interleaved tape):
        a loop over the index, from the last step to the first."""
        iterator = loop.iter
        if call_of(iterator, "zip") is not None:
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
            inner = call_of(source, "reversed")
            inner = inner.args[0] if inner is not None and len(inner.args) == 1 else None
            if name_of(inner) in self.counted:
                base = inner.id
                length = length or f"len({self.part_names(base, self.counted[base])[0]})"
                recorded = self.counted[base]
                if name_of(target) and target.id in self.tapes:
                    names = [p for p, _ in self.parts(target.id)]
                else:
                    names = [target]
                for part, into in zip(self.part_names(base, recorded), names):
                    into = ast.Name(id=into, ctx=ast.Store()) if isinstance(into, str) else into
                    reads.append(ast.Assign(targets=[into], value=parse_expr(f"{part}[{index}]"), lineno=0))
                continue
            tape = self.aliases.get(name_of(source)) or (
                name_of(inner) if name_of(inner) in self.tapes else None
            )
            if tape is not None:
                count, arrays = self.tapes[tape]
                length = length or count
                taken = seen.get(tape, 0)
                seen[tape] = taken + 1
                if taken >= len(arrays):
                    raise self.fail("the numba target does not know this loop's tape")
                array = arrays[len(arrays) - 1 - taken][0]
                reads.append(ast.Assign(targets=[target], value=parse_expr(f"{array}[{index}]"), lineno=0))
                continue
            spans = call_of(inner, "range")
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
                    ast.Assign(targets=[target], value=parse_expr(f"{start} + {step} * {index}"), lineno=0)
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
                iter=parse_expr(f"range({length} - 1, -1, -1)"),
                body=body,
                orelse=[],
                lineno=0,
            )
        ]
