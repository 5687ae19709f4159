"""Lists in differentiated code: what the derivative follows, and clear errors for what it cannot.

A list is changed in place (`append`, `pop`, `xs[i] = v`) and the derivative
follows it through its own name: these checks reject, at the user's line, the
programs where another name would see the change (`ys = xs; ys.append(v)`, an
array put in a list and then written into), a list changing while a loop goes
over it, methods and operators with no derivative, and writes into dicts.
`list_kind_conflicts` finds variables that are a list and later something else
(`traj = np.array(traj)`), which `s2sad.optimize.split_versions` renames.

>>> import ast, numpy as np
>>> from s2sad.analyses.activity import analyze
>>> from s2sad.frontend.normalize import normalize
>>> tree = normalize(ast.parse('''
... def f(x):
...     xs = [x]
...     ys = xs
...     ys.append(x * 2.0)
...     return xs[-1]
... ''').body[0])
>>> copy = tree.body[1]
>>> alias_conflict(tree.body, copy, "ys", "xs")  # a change through `ys`, then a read through `xs`
True
"""

import ast
import operator

import numpy as np

from .. import kinds as K
from .activity import walk_statements
from ..errors import UnsupportedSyntaxError
from .primitives import LIST_MUTATORS, derivative_call_role
from ..astutil import walk


def list_kind_conflicts(tree, analysis):
    """Variables that hold a list and, at another point, something else (their kinds joined to
    `other`) and are assigned again at the top level of the body, where a new name can start."""
    lists = set()
    for stmt in walk_statements(tree.body):
        prim = analysis.primitives.get(id(stmt))
        if (
            prim is not None
            and prim.kind in ("list_append", "list_pop")
            and isinstance(prim.args[0], ast.Name)
        ):
            lists.add(prim.args[0].id)
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.List)
        ):
            lists.add(stmt.targets[0].id)
    top = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            top[stmt.targets[0].id] = top.get(stmt.targets[0].id, 0) + 1
    params = {a.arg for a in tree.args.args}
    return {n for n in lists if analysis.kinds.get(n) == K.OTHER and top.get(n, 0) + (n in params) >= 2}


def _changes(node, name):
    """Does `node` change the object `name` holds in place (`name[i] = v`, `name.append(v)`, ...)?"""
    return name in _changed_in_place(node)


def _changed_in_place(node):
    """The names whose objects `node` changes in place."""
    out = set()
    for sub in walk(node):
        if (
            isinstance(sub, ast.Subscript)
            and isinstance(sub.ctx, ast.Store)
            and isinstance(sub.value, ast.Name)
        ):
            out.add(sub.value.id)
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr in LIST_MUTATORS
            and isinstance(sub.func.value, ast.Name)
        ):
            out.add(sub.func.value.id)
    return out


def _reads_name(node, name):
    return any(
        isinstance(sub, ast.Name) and sub.id == name and isinstance(sub.ctx, ast.Load) for sub in walk(node)
    )


def _path_to(body, stmt):
    """[(statement list, index, the loop or if holding the list)] from `body` down to `stmt`."""

    def search(stmts, owner):
        for index, s in enumerate(stmts):
            if s is stmt:
                return [(stmts, index, owner)]
            for attr in ("body", "orelse"):
                inner = getattr(s, attr, None)
                if inner and not isinstance(s, ast.FunctionDef):
                    found = search(inner, s)
                    if found is not None:
                        return [(stmts, index, owner)] + found
        return None

    found = search(body, None) or []
    del search  # a recursive closure is a reference cycle
    return found


def _touched_after(body, stmt, name, touches):
    """Can a statement that `touches(statement)` run after `stmt` while `name` still holds the
    object it holds right after `stmt`? (Conservative: any touch on a path before `name` is
    surely rebound counts; a loop's next iteration counts.)"""

    def scan(stmts):
        for s in stmts:
            if touches(s):
                return "touched"
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and s.targets[0].id == name:
                return "rebound"
        return "open"

    path = _path_to(body, stmt)
    for depth in range(len(path) - 1, -1, -1):
        stmts, index, _ = path[depth]
        result = scan(stmts[index + 1 :])
        if result != "open":
            return result == "touched"
        owner = path[depth][2]
        if isinstance(owner, (ast.For, ast.While)) and scan(owner.body) == "touched":
            return True  # the next iteration
    return False


def alias_conflict(body, stmt, a, b):
    """After the copy `stmt` (`a = b`), can a change of the list through one name be followed by a
    use through the other while both still name it? Explores the paths after `stmt`: the rest of
    each enclosing block, and for an enclosing loop its next iteration too. A branch or loop
    inside may run or not (a rebinding in it ends the alias on that path only); nested loops
    are scanned for two iterations."""
    path = _path_to(body, stmt)

    def scan(stmts, changed):
        """('conflict' | 'rebound' | 'open', names changed through so far) along `stmts`."""
        changed = set(changed)
        for s in stmts:
            if isinstance(s, (ast.If, ast.For, ast.While)):
                head = s.test if not isinstance(s, ast.For) else s.iter
                if any(x in changed and _reads_name(head, y) for x, y in ((a, b), (b, a))):
                    return "conflict", changed
                merged = set(changed)
                for block in (s.body, s.orelse):
                    result, after = scan(block, changed)
                    if result == "open" and isinstance(s, (ast.For, ast.While)) and block is s.body:
                        result, after = scan(block, after)  # the next iteration
                    if result == "conflict":
                        return result, after
                    merged |= after
                changed = merged
                continue
            if any(x in changed and (_reads_name(s, y) or _changes(s, y)) for x, y in ((a, b), (b, a))):
                return "conflict", changed
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and s.targets[0].id in (a, b):
                return "rebound", changed  # one name holds something else: no alias from here on
            changed |= {x for x in (a, b) if _changes(s, x)}
        return "open", changed

    changed = set()
    for depth in range(len(path) - 1, -1, -1):
        stmts, index, owner = path[depth]
        result, changed = scan(stmts[index + 1 :], changed)
        if result != "open":
            return result == "conflict"
        if isinstance(owner, (ast.For, ast.While)):
            result, again = scan(owner.body, changed)  # the next iteration
            if result == "conflict":
                return True
            if result == "open":
                changed |= again
    return False


def check_lists(parsed, tree, analysis):
    """Raise an s2sad error, at the user's line, for a use of lists the derivative would not follow."""
    kinds = analysis.kinds
    lists = {n for n, k in kinds.items() if k == K.LIST}
    if lists or any(p.kind in ("list_append", "list_pop") for p in analysis.primitives.values()):
        changed = lists & _changed_in_place(tree)
        for stmt in walk_statements(tree.body):
            prim = analysis.primitives.get(id(stmt))
            if prim is not None:
                _check_primitive(parsed, tree.body, stmt, prim, analysis)
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript):
                _reject_slice_assignment(parsed, stmt, kinds)
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                _reject_item_changed(parsed, tree.body, stmt, prim, kinds)
                _reject_second_name(parsed, tree, stmt, kinds, changed, analysis.globals)
    _reject_dict_writes(parsed, tree, analysis)


def _check_primitive(parsed, body, stmt, prim, analysis):
    kinds = analysis.kinds
    if prim.kind in ("list_append", "list_pop"):
        base = prim.args[0].id if isinstance(prim.args[0], ast.Name) else ast.unparse(prim.args[0])
        if kinds.get(base) != K.LIST:
            method = "append" if prim.kind == "list_append" else "pop"
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{base}.{method}(...)`: `{base}` is not a list here (it is {kinds.get(base) or 'unknown'}); "
                "s2sad follows `append` and `pop` of lists",
                stmt,
                hint=f"create `{base}` as a list (`{base} = []`) and keep it a list",
            )
    if prim.kind == "list_append" and isinstance(prim.args[1], ast.Name):
        _reject_item_alias(parsed, body, stmt, prim.args[1].id, prim.args[0].id, kinds)
    if prim.kind == "container" and kinds.get(stmt.targets[0].id) == K.LIST:
        for atom in prim.args:
            if isinstance(atom, ast.Name) and atom.id not in analysis.globals:
                _reject_item_alias(parsed, body, stmt, atom.id, stmt.targets[0].id, kinds)
    if prim.kind == "call":
        _reject_list_operands(parsed, stmt, prim, analysis)


def _reject_slice_assignment(parsed, stmt, kinds):
    base = stmt.targets[0].value.id
    if kinds.get(base) == K.LIST and any(isinstance(n, ast.Slice) for n in walk(stmt.targets[0].slice)):
        raise parsed.error(
            UnsupportedSyntaxError,
            f"`{ast.unparse(stmt.targets[0])} = ...` assigns a slice of the list `{base}`, which can change "
            "its length; s2sad follows item writes `xs[i] = v`, `append` and `pop`",
            stmt,
            hint="write the items one by one, or build a new list",
        )


def _reject_item_changed(parsed, body, stmt, prim, kinds):
    """`row = xs[i]` then `row[0] = v`: the list holds `row` itself, which changes."""
    target = stmt.targets[0].id
    if prim is None or prim.kind != "call" or not isinstance(stmt.value, ast.Subscript):
        return
    base = stmt.value.value
    if not (isinstance(base, ast.Name) and kinds.get(base.id) == K.LIST) or isinstance(
        stmt.value.slice, ast.Slice
    ):
        return
    if _touched_after(body, stmt, target, lambda s: _changes(s, target)):
        raise parsed.error(
            UnsupportedSyntaxError,
            f"`{target}` is an item of the list `{base.id}` and is changed in place later: the list "
            "changes too, the derivative would not follow",
            stmt,
            hint=f"copy the item (`{target} = {ast.unparse(stmt.value)}.copy()`), change the copy and "
            f"write it back (`{ast.unparse(stmt.value)} = {target}`)",
        )


def _reject_second_name(parsed, tree, stmt, kinds, changed, globals_):
    """`ys = xs` where a change through one name is seen through the other (`globals_`: the names
    read from the module, which are not variables)."""
    if not (isinstance(stmt.value, ast.Name) and stmt.value.id not in globals_):
        return
    a, b = stmt.targets[0].id, stmt.value.id
    if kinds.get(b) != K.LIST or not ({a, b} & changed):
        return
    if a.startswith("_sequence") and a not in changed:  # `for e in b:` (desugared)
        if _list_changed_while_iterated(tree, a, b):
            raise parsed.error(
                UnsupportedSyntaxError,
                f"the list `{b}` changes while a `for` loop goes over it",
                stmt,
                hint=f"loop over a copy (`for v in list({b}):`) or over `range(n)` with an index",
            )
        return
    if alias_conflict(tree.body, stmt, a, b):
        raise parsed.error(
            UnsupportedSyntaxError,
            f"`{a} = {b}` makes `{a}` another name for the list `{b}`, and one of them is changed in place: "
            "Python changes both, the derivative would not",
            stmt,
            hint=f"copy the list: `{a} = list({b})`",
        )


def _reject_item_alias(parsed, body, stmt, item, container, kinds):
    """`xs.append(h)` then `h[0] = v`: the list holds `h` itself, which changes."""
    if kinds.get(item) not in (K.ARRAY, K.ANY, K.LIST):
        return
    if _touched_after(body, stmt, item, lambda s: _changes(s, item)):
        raise parsed.error(
            UnsupportedSyntaxError,
            f"the list `{container}` holds `{item}` itself, and `{item}` is changed in place later: the list "
            "changes too, the derivative would not follow",
            stmt,
            hint=f"put a copy in the list: `{item}.copy()` (or `list({item})` for a list)",
        )


def _list_changed_while_iterated(tree, sequence, name):
    """Is the list `name` changed inside the loop that goes over `sequence` (`for e in name:`, the
    loop reading `sequence` itself, not one holding it)? Python would see the change, the loop
    desugar wrote would not."""

    def item_read(node):
        return any(
            isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == sequence
            for n in walk(node)
        )

    def reads_directly(stmts):  # `e = sequence[index]`, not in a nested loop
        for s in stmts:
            if isinstance(s, (ast.For, ast.While)):
                continue
            if isinstance(s, ast.If):
                if reads_directly(s.body) or reads_directly(s.orelse):
                    return True
            elif item_read(s):
                return True
        return False

    for loop in walk(tree):
        if isinstance(loop, (ast.For, ast.While)) and reads_directly(loop.body):
            if any(_changes(s, name) for s in loop.body):
                return True
    return False


def _reject_list_operands(parsed, stmt, prim, analysis):
    """Python's operators and functions other than NumPy's do not see a list as an array."""
    kinds = analysis.kinds
    rule = prim.rule
    if (
        not rule.differentiable
        or rule.key in (operator.getitem, list, np.ndarray.copy)
        or rule.extra.get("lists")
    ):
        return
    operands = [a for a in prim.args if isinstance(a, ast.Name) and kinds.get(a.id) == K.LIST]
    if not operands or not any(a.id in analysis.active for a in operands):
        return
    if derivative_call_role(prim) is not None or rule.name.startswith("s2sad."):
        callee = ast.unparse(prim.args[0])
        raise parsed.error(
            UnsupportedSyntaxError,
            f"the list `{operands[0].id}` is passed to `{callee}`, whose derivative s2sad calls at run time "
            "(a recursive function or a custom rule); lists are followed in code s2sad inlines only",
            stmt,
            hint=f"pass an array (`np.array({operands[0].id})`) or separate values",
        )
    others = [a for a in prim.args if a not in operands]
    if rule.key is operator.add and not others:
        return  # xs + ys: concatenation
    if rule.key is operator.mul and len(operands) == 1:
        return  # xs * n: repetition (`n` is an integer at run time, or Python raises)
    if rule.name.startswith("numpy.") and rule.key is not np.ndarray.copy:
        return  # NumPy sees the list as an array
    name = operands[0].id
    made = name.startswith("_")  # a list the compiler made: a comprehension or generator in the line
    shown = "a list built by a comprehension or generator" if made else f"the list `{name}`"
    raise parsed.error(
        UnsupportedSyntaxError,
        f"`{rule.name}` of {shown}: s2sad differentiates lists through indexing, `len`, "
        "loops, `+` (concatenation), `* n` (repetition) and NumPy functions (`np.array`, `np.stack`, `np.sum`, ...)",
        stmt,
        hint=(
            "build an array instead (`np.array([...])`) or loop over the items"
            if made
            else f"convert the list first (`np.array({name})`) or loop over it"
        ),
    )


def _reject_dict_writes(parsed, tree, analysis):
    """`d[k] = v` into a dict or tuple: s2sad follows in-place writes into arrays and lists only."""
    for stmt in walk_statements(tree.body):
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript):
            base = stmt.targets[0].value.id
            if analysis.kinds.get(base) == K.OTHER:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{ast.unparse(stmt.targets[0])} = ...` writes into `{base}`, which is not an array or a list "
                    "(a dict?); s2sad follows in-place writes into NumPy arrays and lists only",
                    stmt,
                    hint='build a new dict literal with the new value (`d = {"a": v, "b": d["b"]}`), '
                    "or keep the values in an array or a list",
                )
