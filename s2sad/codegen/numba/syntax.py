"""The syntax the numba target's lowering reads and writes: the `# file:line: code` comments kept
through `ast` as marker statements, the user's line an error names (`Where`), small AST builders."""

import ast
import linecache
import os
import re

from ...errors import NumbaTargetError

MARKER = "__s2sad_where__ "


_COMMENT = re.compile(r"^(\s*)# (.*)$")


_WHERE = re.compile(r"^([^\s:]+):(\d+): (.*)$")


def parse_expr(expr):
    return ast.parse(expr, mode="eval").body


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


def with_markers(text):
    """Comment lines as marker statements (so they survive ast.parse / ast.unparse)."""
    out = []
    for line in text.splitlines():
        match = _COMMENT.match(line)
        if match and match.group(1):  # comments inside the function; the header above it is kept apart
            out.append(f"{match.group(1)}{MARKER!r}[:0] + {match.group(2)!r}")
        else:
            out.append(line)
    return "\n".join(out)


def marker_of(stmt):
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.BinOp):
        left = stmt.value.left
        if (
            isinstance(left, ast.Subscript)
            and isinstance(left.value, ast.Constant)
            and left.value.value == MARKER
        ):
            return stmt.value.right.value
    return None


def unmark(text):
    pattern = re.compile(r"^(\s*)" + re.escape(repr(MARKER)) + r"\[:0\] \+ (.*)$")
    out = []
    for line in text.splitlines():
        match = pattern.match(line)
        out.append(f"{match.group(1)}# {ast.literal_eval(match.group(2))}" if match else line)
    return "\n".join(out) + "\n"


def name_of(node):
    return node.id if isinstance(node, ast.Name) else None


def call_of(node, func_name):
    """The call `func_name(...)` if `node` is one."""
    if isinstance(node, ast.Call) and name_of(node.func) == func_name:
        return node
    return None


def assign_to(name, value):
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value, lineno=0)


def parse_stmt(text):
    return ast.parse(text).body[0]


def stack_key(node):
    """The stack a saved value goes to: its name, or its array's name and the form of the index
    (`y[i]` -> `y_i`, `y[a:b]` -> `y_s`): a push of `_rt.copy(y[i])` and the pop into `y[j]` meet."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and name_of(node.func.value) == "_rt"
        and node.func.attr == "copy"
        and len(node.args) == 1
    ):
        node = node.args[0]
    if isinstance(node, ast.Name):
        return node.id.lstrip("_")
    if isinstance(node, ast.Subscript) and name_of(node.value):
        index = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return (
            node.value.id.lstrip("_") + "_" + "".join("s" if isinstance(i, ast.Slice) else "i" for i in index)
        )
    return None
