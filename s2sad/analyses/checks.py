"""Checks of the normalized program that refuse what the derivative would get wrong: `global`
declarations, parameters other than plain positional ones, methods called for their effect
(`xs.sort()`), and two names for one array written in place (`b = a; b[0] = v`).

Each check raises the user's error (file, line, code, what to do instead) or returns None.

>>> import ast
>>> from s2sad.frontend.source import parse_function
>>> def f(xs):
...     xs.sort()
...     return xs[0]
>>> parsed = parse_function(f)
>>> reject_method_statements(parsed, parsed.tree)
Traceback (most recent call last):
...
s2sad.errors.UnsupportedSyntaxError: ...: `xs.sort(...)`: the list method `sort` is not supported; lists support `append`, `extend`, `pop`, indexing, `len`, `for` loops and comprehensions
...
"""

import ast

from .. import kinds as K
from ..astutil import walk
from ..errors import UnsupportedSyntaxError
from .primitives import LIST_METHODS, list_append, rebinds_to_copy, subscript_write


def reject_declarations(parsed):
    """`global` and `nonlocal` hide data flow from the derivative."""
    for node in walk(parsed.tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{type(node).__name__.lower()}` declarations are not supported: writing outer "
                "variables hides data flow from the derivative",
                node,
                hint="pass the value in as an argument and return the new value",
            )


def check_parameters(parsed):
    """Only plain positional parameters (no `*args`, `**kwargs`, keyword-only or positional-only)."""
    args = parsed.tree.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise parsed.error(UnsupportedSyntaxError, "only plain positional parameters are supported yet",
                           parsed.tree, hint="list the parameters one by one")


_LIST_HINTS = {
    "sort": "sort an array instead: `{name} = list(np.sort(np.array({name})))`",
    "reverse": "make a reversed copy: `{name} = {name}[::-1]`",
    "insert": "build the list in the order you need with `append`, or make a new list: "
              "`{name} = {name}[:i] + [v] + {name}[i:]`",
    "remove": "make a new list without the item: `{name} = [v for v in {name} if ...]`",
    "clear": "start a new list: `{name} = []`",
}


def reject_method_statements(parsed, tree):
    """`xs.sort()`, `a.fill(0.0)`: a method called for its effect changes an object in place,
    which the derivative would not see (a silent wrong gradient). Lists may grow and shrink with
    `append` / `extend` / `pop` (desugar turns `extend` into appends and a discarded `pop` into an
    assignment); the compiler follows those."""
    for node in walk(tree):
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        func = node.value.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and not getattr(func.value, "_global", False):
            if list_append(node) is not None:
                continue
            name = func.value.id
            if func.attr in LIST_METHODS:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}.{func.attr}(...)`: the list method `{func.attr}` is not supported; lists support "
                    "`append`, `extend`, `pop`, indexing, `len`, `for` loops and comprehensions",
                    node,
                    hint=_LIST_HINTS.get(func.attr, "build a new list with a comprehension or a loop of `append`s")
                    .format(name=name),
                )
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{name}.{func.attr}(...)` changes `{name}` in place; s2sad does not follow "
                "in-place changes of dicts or arrays made by methods",
                node,
                hint="fill a NumPy array by index (`a = np.zeros(n)` then `a[i] = v`), or build a list "
                     "with `append`",
            )


def _written_while_iterated(tree, sequence, name):
    """Is `name` written in place inside a loop that reads `sequence` (`for e in name:`)?"""
    for loop in walk(tree):
        if not isinstance(loop, (ast.For, ast.While)):
            continue
        inside = list(walk(ast.Module(body=loop.body, type_ignores=[])))
        if not any(isinstance(n, ast.Name) and n.id == sequence for n in inside):
            continue
        if any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store)
               and isinstance(n.value, ast.Name) and n.value.id == name for n in inside):
            return True
    return False


def _no_write_after(tree, stmt, names):
    """Is `stmt` a top-level statement of `tree` after which nothing writes into `names` in place?"""
    body = tree.body
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if index is None:
        return False
    return not any(subscript_write(later, names) is not None for later in body[index + 1:])


def reject_array_aliases(parsed, tree, analysis):
    """`b = a` then `b[i] = v` changes `a` too; the derivative would treat them apart."""
    stores, reads = set(), {}
    for node in walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
            stores.add(node.value.id)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
    for node in walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)):
            continue
        if getattr(node.value, "_global", False):
            continue
        a, b = node.targets[0].id, node.value.id
        if not ({a, b} & stores) or analysis.kinds.get(b) not in (K.ARRAY, K.ANY):
            continue
        if a.startswith("_sequence") and a not in stores and not _written_while_iterated(tree, a, b):
            continue  # `for e in b:` reads b while no one writes into it
        if _no_write_after(tree, node, {a, b}):
            continue  # every write into them is done: the two names only read one value from here on
        index = next((i for i, s in enumerate(tree.body) if s is node), None)
        if index is not None and rebinds_to_copy(tree.body, index, a, parsed.namespace, {a, b}):
            continue  # `a = b; a = a.copy(); a[i] = v`: `a` is its own array before anything is written
        if reads.get(b, 0) > 1 and (a in analysis.active or b in analysis.active):
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{a} = {b}` makes `{a}` another name for the array `{b}`, and one of them is "
                "written in place: NumPy changes both, the derivative would not",
                node,
                hint=f"copy the array: `{a} = {b}.copy()`",
            )
