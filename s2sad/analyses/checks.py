"""Checks of the normalized program that refuse what the derivative would get wrong: `global`
declarations, parameters other than plain positional ones, methods called for their effect
(`xs.sort()`), two names for one array written in place (`b = a; b[0] = v`), writes into views,
calls whose unused value may have changed a differentiated argument, dict keys computed at run time.

Each check raises the user's error (file, line, code, what to do instead) or returns None.

>>> import ast
>>> from s2sad.frontend.source import parse_function
>>> def f(xs):
...     xs.reverse()
...     return xs[0]
>>> parsed = parse_function(f)
>>> reject_method_statements(parsed, parsed.tree)
Traceback (most recent call last):
...
s2sad.errors.UnsupportedSyntaxError: ...: `xs.reverse(...)`: the list method `reverse` is not supported; lists support `append`, `extend`, `pop`, indexing, `len`, `for` loops and comprehensions
...
"""

import ast
import re

import numpy as np

from .. import kinds as K
from ..rules import lookup as lookup_rule
from .activity import walk_statements
from ..astutil import module_names, walk
from ..errors import UnsupportedSyntaxError
from .primitives import LIST_METHODS, is_global, list_append, rebinds_to_copy, resolve, subscript_write


def reject_declarations(parsed, report=None):
    """`global` and `nonlocal` hide data flow from the derivative."""
    for node in walk(parsed.tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            _refuse(
                report,
                parsed.error(
                    UnsupportedSyntaxError,
                    f"`{type(node).__name__.lower()}` declarations are not supported: writing outer "
                    "variables hides data flow from the derivative",
                    node,
                    hint="pass the value in as an argument and return the new value",
                ),
            )


def check_parameters(parsed, report=None):
    """Only plain positional parameters (no `*args`, `**kwargs`, keyword-only or positional-only)."""
    args = parsed.tree.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        _refuse(
            report,
            parsed.error(
                UnsupportedSyntaxError,
                "only plain positional parameters are supported yet",
                parsed.tree,
                hint="list the parameters one by one",
            ),
        )


def _returns(node):
    """The `return` statements of the function `node`, not of the functions defined inside it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Return):
            yield child
        elif not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from _returns(child)


def returns_value(function_node):
    """Does the function `node` return something other than None somewhere?"""
    return any(
        r.value is not None and not (isinstance(r.value, ast.Constant) and r.value.value is None)
        for r in _returns(function_node)
    )


def check_returns(parsed, report=None):
    """The differentiated function returns a value: without one it returns None, which has no
    derivative (its code would differentiate nothing)."""
    if returns_value(parsed.tree):
        return
    name = parsed.tree.name
    _refuse(
        report,
        parsed.error(
            UnsupportedSyntaxError,
            f"`{name}` returns nothing (None), so it has no derivative",
            parsed.tree,
            hint=f"end `{name}` with `return` and the value to differentiate (a float or an array); "
            "a function that only changes its arguments in place must return the result",
        ),
    )


_LIST_HINTS = {
    "sort": "sort an array instead: `{name} = list(np.sort(np.array({name})))`",
    "reverse": "make a reversed copy: `{name} = {name}[::-1]`",
    "insert": "build the list in the order you need with `append`, or make a new list: "
    "`{name} = {name}[:i] + [v] + {name}[i:]`",
    "remove": "make a new list without the item: `{name} = [v for v in {name} if ...]`",
    "clear": "start a new list: `{name} = []`",
}


def reject_method_statements(parsed, tree, report=None):
    """`xs.sort()`, `a.fill(0.0)`: a method called for its effect changes an object in place,
    which the derivative would not see (a silent wrong gradient). Lists may grow and shrink with
    `append` / `extend` / `pop` (desugar turns `extend` into appends and a discarded `pop` into an
    assignment); the compiler follows those."""
    globals_ = module_names(tree)
    for node in walk(tree):
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        func = node.value.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id not in globals_
        ):
            if list_append(node, globals_) is not None:
                continue
            name = func.value.id
            if func.attr == "sort":  # an array's or a list's
                _refuse(
                    report,
                    parsed.error(
                        UnsupportedSyntaxError,
                        f"`{name}.sort(...)` sorts `{name}` in place; s2sad does not follow in-place sorts",
                        node,
                        hint=f"sort into a new value: `{name} = np.sort({name})` for an array, "
                        f"`{name} = list(np.sort(np.array({name})))` for a list",
                    ),
                )
                continue
            if func.attr in LIST_METHODS:
                _refuse(
                    report,
                    parsed.error(
                        UnsupportedSyntaxError,
                        f"`{name}.{func.attr}(...)`: the list method `{func.attr}` is not supported; lists support "
                        "`append`, `extend`, `pop`, indexing, `len`, `for` loops and comprehensions",
                        node,
                        hint=_LIST_HINTS.get(
                            func.attr, "build a new list with a comprehension or a loop of `append`s"
                        ).format(name=name),
                    ),
                )
                continue
            _refuse(
                report,
                parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}.{func.attr}(...)` changes `{name}` in place; s2sad does not follow "
                    "in-place changes of dicts or arrays made by methods",
                    node,
                    hint="fill a NumPy array by index (`a = np.zeros(n)` then `a[i] = v`), or build a list "
                    "with `append`",
                ),
            )


def _refuse(report, error):
    """Raise `error`, or hand it to `report` (the check mode of `s2sad.pipeline.check`, which collects
    every problem and goes on)."""
    if report is None:
        raise error
    report(error)


def _written_while_iterated(tree, sequence, name):
    """Is `name` written in place inside a loop that reads `sequence` (`for e in name:`)?"""
    for loop in walk(tree):
        if not isinstance(loop, (ast.For, ast.While)):
            continue
        inside = list(walk(ast.Module(body=loop.body, type_ignores=[])))
        if not any(isinstance(n, ast.Name) and n.id == sequence for n in inside):
            continue
        if any(
            isinstance(n, ast.Subscript)
            and isinstance(n.ctx, ast.Store)
            and isinstance(n.value, ast.Name)
            and n.value.id == name
            for n in inside
        ):
            return True
    return False


def _no_write_after(tree, stmt, names):
    """Is `stmt` a top-level statement of `tree` after which nothing writes into `names` in place?"""
    body = tree.body
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if index is None:
        return False
    return not any(subscript_write(later, names) is not None for later in body[index + 1 :])


def reject_array_aliases(parsed, tree, analysis, report=None):
    """`b = a` then `b[i] = v` changes `a` too; the derivative would treat them apart."""
    stores, reads = set(), {}
    for node in walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
        ):
            stores.add(node.value.id)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
    for node in walk(tree):
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Name)
        ):
            continue
        if node.value.id in analysis.globals:
            continue
        a, b = node.targets[0].id, node.value.id
        if not ({a, b} & stores) or analysis.kinds.get(b) not in (K.ARRAY, K.ANY):
            continue
        if a.startswith("_sequence") and a not in stores and not _written_while_iterated(tree, a, b):
            continue  # `for e in b:` reads b while no one writes into it
        if _no_write_after(tree, node, {a, b}):
            continue  # every write into them is done: the two names only read one value from here on
        index = next((i for i, s in enumerate(tree.body) if s is node), None)
        if index is not None and rebinds_to_copy(
            tree.body, index, a, parsed.namespace, {a, b}, analysis.globals
        ):
            continue  # `a = b; a = a.copy(); a[i] = v`: `a` is its own array before anything is written
        if index is not None and _rebound_to_new(
            tree.body, index, a, parsed.namespace, {a, b}, analysis.globals
        ):
            continue  # `a = b; a = a * 2.0; a[i] = v`: likewise, a new array computed from it
        if _dead_after(tree, node, b):
            continue  # `b` is not read again before it is rebound: `a` takes its array over
        if reads.get(b, 0) > 1 and (a in analysis.active or b in analysis.active):
            line = parsed.describe(node.lineno) or ""
            if all(re.search(rf"\b{re.escape(n)}\b", line.split(": ", 1)[-1]) for n in (a, b)):
                message = f"`{a} = {b}` makes `{a}` another name for the array `{b}`, and one of them is "
                hint = f"copy the array: `{a} = {b}.copy()`"
            else:  # a name the inliner made: the user's line says which value
                message = "this line gives a second name to an array, and one of them is "
                hint = "copy the array where it gets its second name (`b = a.copy()`)"
            _refuse(
                report,
                parsed.error(
                    UnsupportedSyntaxError,
                    message + "written in place: NumPy changes both, the derivative would not",
                    node,
                    hint=hint,
                ),
            )


_VIEW_METHODS = ("reshape", "ravel", "view", "transpose", "swapaxes", "squeeze", "diagonal")


_VIEW_ATTRIBUTES = ("T", "mT", "real", "imag")


_VIEW_FUNCTIONS = (
    np.reshape,
    np.ravel,
    np.transpose,
    np.swapaxes,
    np.squeeze,
    np.moveaxis,
    np.expand_dims,
    np.asarray,
    np.atleast_1d,
    np.atleast_2d,
    np.atleast_3d,
    np.diagonal,
    np.broadcast_to,
    np.real,
    np.imag,
)


def _view_of(value, parsed, analysis):
    """The local array `value` may be a view of (`a[1:3]`, `a.T`, `a.reshape(...)`, `np.ravel(a)`), or
    None."""

    def local(node):
        return (
            isinstance(node, ast.Name)
            and node.id not in analysis.globals
            and analysis.kinds.get(node.id) in (K.ARRAY, K.ANY)
        )

    if isinstance(value, ast.Subscript) and local(value.value):
        parts = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
        basic = any(
            isinstance(p, ast.Slice) or (isinstance(p, ast.Constant) and p.value in (None, Ellipsis))
            for p in parts
        )
        shape = analysis.shapes.get(value.value.id)
        row = (
            shape is not None
            and len(shape) > len(parts)
            and all(
                analysis.kinds.get(p.id) == K.INT if isinstance(p, ast.Name) else isinstance(p, ast.Constant)
                for p in parts
            )
        )
        return value.value.id if basic or row else None
    if isinstance(value, ast.Attribute) and value.attr in _VIEW_ATTRIBUTES and local(value.value):
        return value.value.id
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and local(value.func.value)
        and value.func.attr in _VIEW_METHODS
    ):
        return value.func.value.id
    if (
        isinstance(value, ast.Call)
        and is_global(value.func, analysis.globals)
        and value.args
        and local(value.args[0])
    ):
        callee = resolve(value.func, parsed.namespace)
        if any(callee is fn for fn in _VIEW_FUNCTIONS):
            return value.args[0].id
    return None


def reject_view_writes(parsed, tree, analysis, report=None):
    """`v = a[1:3]` (or `a.T`, `a.reshape(...)`, ...) then a write into `v` while `a` is read later,
    or a write into `a` while `v` is read later: NumPy changes both arrays, the derivative would
    treat them apart, so the write is refused. (A write through a slice, `a[1:3][0] = v`, is
    rewritten into a copy written back: `s2sad.frontend.writes`.)"""
    order = list(walk_statements(tree.body))
    position = {id(s): i for i, s in enumerate(order)}
    loops = {}  # id(statement) -> the loops around it
    for loop in order:
        if isinstance(loop, (ast.For, ast.While)):
            for inner in walk_statements(loop.body):
                loops.setdefault(id(inner), []).append(loop)

    def read_after(name, write, made):
        """Is `name` (still the view or its base) read after `write`: later, or in a loop around both?"""
        for stmt in order[position[id(write)] + 1 :]:
            if isinstance(stmt, (ast.For, ast.While, ast.If)):
                continue
            if _reads(stmt, name):
                return True
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == name
            ):
                break  # a new value from here on
        outside = [loop for loop in loops.get(id(write), []) if loop not in loops.get(id(made), [])]
        return any(_reads(s, name) for loop in outside for s in walk_statements(loop.body))

    for made in order:
        if not (isinstance(made, ast.Assign) and isinstance(made.targets[0], ast.Name)):
            continue
        view, base = made.targets[0].id, _view_of(made.value, parsed, analysis)
        if base is None or base == view or not ({view, base} & analysis.varied):
            continue
        for write in order[position[id(made)] + 1 :]:
            if not isinstance(write, ast.Assign):
                continue
            if isinstance(write.targets[0], ast.Name) and write.targets[0].id == view:
                break  # `v` names another value from here on
            written = subscript_write(write, {view, base})
            if written is None:
                continue
            other = base if written.value.id == view else view
            if not read_after(other, write, made):
                continue
            line = (parsed.describe(write.lineno) or "").split(": ", 1)[-1]
            named = all(
                re.search(rf"\b{re.escape(n)}\b", (parsed.describe(made.lineno) or "") + line)
                for n in (view, base)
            )
            what = f"`{view}` is a view of `{base}`" if named else "this line writes into a view of an array"
            _refuse(
                report,
                parsed.error(
                    UnsupportedSyntaxError,
                    f"{what} (a slice, a transpose or a reshape shares its data): writing into one changes the other "
                    "in NumPy, which the derivative would not follow",
                    write,
                    hint="take a copy where the view is made (`v = a[1:3].copy()`) and write it back "
                    "(`a[1:3] = v`), or write through the base array itself",
                ),
            )


def reject_run_time_keys(parsed, tree, report=None):
    """`d[k]` with `d` a dict and `k` not a constant: s2sad resolves dict keys when it compiles
    (loops over constant keys are unrolled: `s2sad.frontend.key_loops`)."""
    dicts = {
        s.targets[0].id
        for s in walk(tree)
        if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.Dict)
    }
    for stmt in walk_statements(tree.body):
        for node in walk(stmt) if isinstance(stmt, ast.Assign) else ():
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name)
                and node.value.id in dicts
                and not isinstance(node.slice, ast.Constant)
            ):
                line = (parsed.describe(stmt.lineno) or "").split(": ", 1)[-1]
                name = (
                    f"`{node.value.id}`" if re.search(rf"\b{re.escape(node.value.id)}\b", line) else "a dict"
                )
                _refuse(
                    report,
                    parsed.error(
                        UnsupportedSyntaxError,
                        f"this line reads {name} with a key computed at run time; s2sad resolves dict keys when it "
                        "compiles",
                        stmt,
                        hint='use a constant key (`d["w"]`), or loop over constant keys: `for k in ["w", "b"]:`, '
                        "`for k, v in d.items():`",
                    ),
                )


def reject_effect_calls(parsed, tree, analysis, report=None):
    """A call statement (its value unused) given a differentiated value may write into it or into
    another argument: unless it is `print` or a function in the rule table (those return their
    result and change nothing), it is refused, never a silent constant. The writes NumPy users
    make by call (`np.add.at`, `np.copyto`, `out=`, ...) were rewritten before (`s2sad.frontend.writes`)."""
    for stmt in walk(tree):
        if (
            not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call))
            or list_append(stmt, analysis.globals) is not None
        ):
            continue
        call = stmt.value
        operands = [call.func] + call.args + [k.value for k in call.keywords]
        names = {
            n.id
            for operand in operands
            for n in walk(operand)
            if isinstance(n, ast.Name) and n.id not in analysis.globals
        }
        if not names & analysis.varied:
            continue
        callee = resolve(call.func, parsed.namespace) if is_global(call.func, analysis.globals) else None
        if callee is print or (callee is not None and lookup_rule(callee) is not None):
            continue  # the table's functions return their result and change nothing
        _refuse(
            report,
            parsed.error(
                UnsupportedSyntaxError,
                "this call's value is not used and it is given a differentiated value: it may change that value "
                "(or another argument) in place, which the derivative would not follow",
                stmt,
                hint="write into an array by index (`a[i] = v`) or assign the call's result (`a = f(a)`); a call "
                "with no effect on the values belongs outside the differentiated function",
            ),
        )


def _rebound_to_new(body, index, name, namespace, names, globals_):
    """After `body[index]`, is `name` rebound by a top-level statement to an array an arithmetic
    operation or a ufunc makes (`a = a * 2.0`), before anything writes into `names`? (`globals_`: the
    names read from the module.)"""
    made = {}
    for later in body[index + 1 :]:
        if subscript_write(later, names) is not None:
            return False
        if isinstance(later, ast.Assign) and isinstance(later.targets[0], ast.Name):
            value = later.value
            if isinstance(value, ast.Name) and value.id not in globals_:
                value = made.get(value.id, value)
            if later.targets[0].id == name:
                if isinstance(value, (ast.BinOp, ast.UnaryOp)):
                    return True
                return (
                    isinstance(value, ast.Call)
                    and is_global(value.func, globals_)
                    and isinstance(resolve(value.func, namespace), np.ufunc)
                )
            made[later.targets[0].id] = value
    return False


def _reads(node, name):
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for n in walk(node))


def _scan(stmts, name):
    """'read' if `stmts` may read `name` before surely rebinding it, 'killed' if they rebind it
    first, 'open' if they do neither."""
    jumped = False  # a `break` or `continue` before the rebinding leaves the block without it
    for stmt in stmts:
        state = _scan_statement(stmt, name)
        if state == "read" or state == "killed":
            return "open" if state == "killed" and jumped else state
        jumped = jumped or any(isinstance(n, (ast.Break, ast.Continue)) for n in walk(stmt))
    return "open"


def _scan_statement(stmt, name):
    if isinstance(stmt, (ast.For, ast.While)):
        header = stmt.iter if isinstance(stmt, ast.For) else stmt.test
        if _reads(header, name) or "read" in (_scan(stmt.body, name), _scan(stmt.orelse, name)):
            return "read"
        return "open"  # the body may run no time; a rebinding in it covers only its own reads
    if isinstance(stmt, ast.If):
        if _reads(stmt.test, name):
            return "read"
        states = {_scan(stmt.body, name), _scan(stmt.orelse, name)}
        if "read" in states:
            return "read"
        return "killed" if states == {"killed"} else "open"
    if _reads(stmt, name):
        return "read"
    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name:
        return "killed"
    return "open"


def _dead_after(tree, stmt, name):
    """Is `name` surely rebound before it is read again, on every path from `stmt` (loops included)?"""
    frames = []  # (block, index, the statement owning the block) from the function down to `stmt`

    def find(block, owner):
        for i, s in enumerate(block):
            if s is stmt:
                frames.append((block, i, owner))
                return True
            for attr in ("body", "orelse"):
                if isinstance(getattr(s, attr, None), list) and find(getattr(s, attr), s):
                    frames.append((block, i, owner))
                    return True
        return False

    if not find(tree.body, None):
        return False
    for block, i, owner in frames:  # innermost first
        state = _scan(block[i + 1 :], name)
        if state == "read":
            return False
        if state == "killed":
            return True  # every path from `stmt` passes the rebinding
        if isinstance(owner, (ast.For, ast.While)) and block is owner.body:  # back to the top of the body
            if _scan(block[: i + 1], name) == "read":  # (the innermost block holds `stmt`, a read)
                return False
    return True
