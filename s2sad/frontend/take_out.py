"""Taking a statement the compiler refuses out of a function's source text, line numbers kept, so the
check mode (`s2sad check`, s2sad.api.check) can check the rest of the function."""

import ast
import re


def take_out(text, line):
    """`text` with the statement refused at `line` made harmless, line numbers kept: a simple
    statement becomes `pass` (an assignment `y = 0.0`, so `y` stays defined; a return `return 0.0`), a compound one keeps its
    body (`try:` / `with ...:` / `for ...:` read as `if 1:`, `except ...:` as `if 0:`). None when there is nothing to take out (the `def` line of the function: its
    parameters, `async`).

    >>> print(take_out("def f(x):\\n    try:\\n        y = x\\n    except E:\\n        y = 0.0\\n    return y\\n", 2))
    def f(x):
        if 1:
            y = x
        if 0:
            y = 0.0
        return y
    <BLANKLINE>
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    lines = text.split("\n")
    stmt = _statement_at(tree, line)
    if stmt is None:
        return None
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.lineno == line:
        if _inside_function(tree, stmt):  # a local function refused: taken out as a whole
            _replace(lines, stmt, "pass")
            return "\n".join(lines)
        return None
    if isinstance(stmt, ast.ClassDef):
        _replace(lines, stmt, f"{stmt.name} = None")
        return "\n".join(lines)
    if hasattr(stmt, "body") and isinstance(stmt.body, list):
        _header(lines, stmt.lineno, stmt.col_offset, stmt.body, "if 1:")
        for handler in getattr(stmt, "handlers", []):
            _header(lines, handler.lineno, handler.col_offset, handler.body, "if 0:")
        for attr in ("orelse", "finalbody"):
            block = getattr(stmt, attr, None)
            if block and not (isinstance(stmt, ast.If) and attr == "orelse"):
                keyword = _keyword_line(lines, stmt, block)
                if keyword is not None:
                    _header(lines, keyword[0], keyword[1], block, "if 1:" if attr == "finalbody" else "if 0:")
        return "\n".join(lines)
    names = []
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            if isinstance(target, (ast.Name, ast.Tuple, ast.List, ast.Starred)):
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    if isinstance(stmt, ast.Return):
        _replace(lines, stmt, "return 0.0")
        return "\n".join(lines)
    _replace(lines, stmt, " = ".join(names + ["0.0"]) if names else "pass")
    return "\n".join(lines)


def _statement_at(tree, line):
    """The innermost statement whose lines hold `line`."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is None or (node.lineno, -(node.end_lineno or 0)) >= (
                best.lineno,
                -(best.end_lineno or 0),
            ):
                best = node
    if best is not None and best.lineno != line:  # a line inside a compound statement's header or a block
        for node in ast.walk(best):
            if isinstance(node, ast.excepthandler) and node.lineno == line:
                return best
    return best


def _inside_function(tree, stmt):
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node is not stmt
        and stmt in ast.walk(node)
        for node in tree.body
    )


def _chars(row, col):
    """The character index of the byte offset `col` in `row` (the AST counts UTF-8 bytes)."""
    return len(row.encode()[:col].decode(errors="ignore"))


def _replace(lines, stmt, replacement):
    first, last = stmt.lineno - 1, (stmt.end_lineno or stmt.lineno) - 1
    start = _chars(lines[first], stmt.col_offset)
    end = _chars(lines[last], stmt.end_col_offset) if stmt.end_col_offset is not None else len(lines[last])
    rest = lines[last][end:]
    lines[first] = lines[first][:start] + replacement + (rest if first == last else "")
    for index in range(first + 1, last + 1):
        lines[index] = ""


def _header(lines, lineno, col, body, replacement):
    """The header of a block (`try:`, `except E as e:`, `with f() as g:`) from `lineno`, `col` to
    its body made `replacement`."""
    first = lineno - 1
    start = _chars(lines[first], col)
    if body[0].lineno - 1 == first:  # `except E: pass` on one line
        lines[first] = (
            lines[first][:start]
            + replacement
            + " "
            + lines[first][_chars(lines[first], body[0].col_offset) :]
        )
        return
    lines[first] = lines[first][:start] + replacement
    for index in range(first + 1, body[0].lineno - 1):
        if lines[index].strip() and not lines[index].strip().startswith("#"):
            lines[index] = ""  # the rest of a header written on several lines


def _keyword_line(lines, stmt, block):
    """(line, column) of the `else:` / `finally:` that opens `block` of `stmt`."""
    for index in range(block[0].lineno - 1, stmt.lineno - 1, -1):
        row = lines[index]
        stripped = row.lstrip()
        if re.match(r"(else|finally)\s*:", stripped) and len(row) - len(stripped) == stmt.col_offset:
            return index + 1, len(row.encode()) - len(stripped.encode())
    return None
