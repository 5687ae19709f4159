"""Code generation: AST to readable Python, with comments pointing at the user's lines.

Before every run of statements that comes from a new line of the user's
source, a comment `# file.py:12: <that line>` is inserted, so each derivative
statement can be followed back to the code it differentiates.

>>> import ast
>>> tree = ast.parse("def g(x):\\n    y = x * 2.0\\n    return y\\n").body[0]
>>> print(to_source(tree, lambda n: f"line {n}"))
def g(x):
    # line 2
    y = x * 2.0
    # line 3
    return y
"""

import ast

from ..astutil import child_fields, clone, nodes

MARKER = "__s2sad_comment__"
LINE_ORIGINS = {}  # generated file name -> {comment text: (user file, user line)}: read by s2sad.api.boundary


def _annotate(stmts, describe, last, comments):
    """Put a marker statement `'__s2sad_comment__<k>'` before each run of statements from a new
    user line; `comments[k]` is its text."""
    out = []
    for stmt in stmts:
        line = getattr(stmt, "lineno", None)
        if line is not None and line != last[0] and not isinstance(stmt, ast.Pass):
            text = describe(line)
            if text:
                out.append(ast.Expr(value=ast.Constant(f"{MARKER}{len(comments)}")))
                comments.append(text)
            last[0] = line
        for attr in ("body", "orelse"):
            inner = getattr(stmt, attr, None)
            if inner and not isinstance(stmt, ast.FunctionDef):
                saved = last[0]
                setattr(stmt, attr, _annotate(inner, describe, last, comments))
                last[0] = saved if attr == "orelse" else last[0]
        out.append(stmt)
    return out


def _negative(node):
    if node.__class__ is ast.Constant:
        value = node.value
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (value < 0 or str(value).startswith("-"))
        ):
            return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(-value))
    return None


_Unparser = getattr(ast, "_Unparser", None)
_Precedence = getattr(ast, "_Precedence", None)


if _Unparser is not None and _Precedence is not None and hasattr(_Unparser, "require_parens"):

    class _SignedUnparser(_Unparser):
        """`ast.unparse` that writes a negative number constant as `-x` is written: in
        parentheses where a unary minus would need them (`(-1.25) ** 2`, `(-2).real`)."""

        def visit_Constant(self, node):
            value = node.value
            if value.__class__ in (int, float) and (value < 0 or (value == 0 and str(value).startswith("-"))):
                with self.require_parens(_Precedence.FACTOR, node):
                    super().visit_Constant(node)
                return
            super().visit_Constant(node)

    def _unparse(tree):
        return _SignedUnparser().visit(tree)

else:  # an ast module without its unparser class: rewrite the constants, then unparse

    def _unparse(tree):
        return ast.unparse(_negative_literals(tree))


def _negative_literals(tree):
    """`Constant(-1.25)` -> `-(1.25)` as a unary minus, so `ast.unparse` parenthesizes
    `(-1.25) ** 2` correctly (the parser never makes negative constants itself)."""
    for node in nodes(tree):
        fields = node.__dict__
        for field in child_fields(node.__class__):
            value = fields.get(field)
            if value.__class__ is list:
                for index, item in enumerate(value):
                    new = _negative(item)
                    if new is not None:
                        value[index] = new
            else:
                new = _negative(value)
                if new is not None:
                    fields[field] = new
    return tree


def _shares_statements(function):
    seen = set()
    todo = list(function.body)
    for stmt in todo:
        if id(stmt) in seen:
            return True
        seen.add(id(stmt))
        for attr in ("body", "orelse", "handlers", "finalbody"):
            inner = getattr(stmt, attr, None)
            if inner and not isinstance(stmt, ast.FunctionDef):
                todo.extend(inner)
    return False


def to_source(function, describe=None, header="", copy=True):
    """Unparse `function`; `describe(lineno)` gives the comment text for a user line. With
    `copy=False` the tree itself is changed (the compiler renders each tree once, at the end)."""
    if copy or _shares_statements(function):  # a shared statement would be annotated twice
        function = clone(function)
    for node in ast.walk(
        function
    ):  # a block the passes emptied (a loop whose statements all went) still compiles
        if isinstance(node, (ast.For, ast.While, ast.If, ast.With)) and not node.body:
            node.body = [ast.copy_location(ast.Pass(), node)]
    comments = []
    if describe is not None:
        function.body = _annotate(function.body, describe, [None], comments)
    text = _unparse(function)
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        marker = stripped.strip("'\"")  # a marker first in a body is unparsed as a docstring
        if marker.startswith(MARKER) and marker[len(MARKER) :].isdigit():
            indent = line[: len(line) - len(stripped)]
            lines.append(f"{indent}# {comments[int(marker[len(MARKER):])]}")
        else:
            lines.append(line)
    body = "\n".join(lines)
    return header + body


def format_source(text):
    """Format with black (the emitted, user-facing form). Black is imported here, on first use: its
    import alone costs ~0.2-0.5 s, which a program that only runs derivatives never pays (the one
    import in a function body that tests/test_layers.py allows besides optional dependencies)."""
    import black

    try:
        return black.format_str(text, mode=black.Mode(line_length=88))
    except Exception:  # black refuses nothing we generate; keep the plain text if it does
        return text
