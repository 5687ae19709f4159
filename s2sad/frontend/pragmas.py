"""Frontend: the loops the user marked for checkpointing with a comment on the line above.

    # s2sad: checkpoint snapshots=20
    for t in range(n):
        ...

The comment leaves the function an unchanged Python program (Tapenade's `$AD BINOMIAL-CKP` in
Python dress). Reverse mode then keeps at most 20 snapshots of the loop's state and recomputes
the iterations it needs (s2sad/transforms/reverse_checkpoints.py). Returns {line of the loop:
snapshots}; a comment starting `# s2sad:` that is not such a pragma, or that is not right above a
`for` or `while` loop, is an error at its line.

>>> import textwrap
>>> from s2sad.frontend.source import parse_function
>>> def f(x, n):
...     # s2sad: checkpoint snapshots=4
...     for _ in range(n):
...         x = x * x
...     return x
>>> parsed = parse_function(f)
>>> {line - parsed.first_line: snapshots for line, snapshots in checkpoint_pragmas(parsed).items()}
{2: 4}
"""

import ast
import re

from ..astutil import walk
from ..errors import UnsupportedSyntaxError

_PRAGMA = re.compile(r"#\s*s2sad\s*:(.*)")
_CHECKPOINT = re.compile(r"\s*checkpoint\s+snapshots\s*=\s*(\S+)\s*")
_FORM = (
    "`# s2sad: checkpoint snapshots=N` on the line right above a `for` or `while` loop, N a whole number >= 1"
)


def checkpoint_pragmas(parsed):
    """{file line of a marked loop: its number of snapshots} for the function `parsed`."""
    loops = {node.lineno: node for node in walk(parsed.tree) if isinstance(node, (ast.For, ast.While))}
    found = {}
    lines = parsed.source_lines
    first = parsed.tree.lineno - parsed.first_line  # the function's own lines (a lambda's source is its file)
    last = (getattr(parsed.tree, "end_lineno", None) or len(lines)) - parsed.first_line
    for index in range(max(first, 0), min(last + 1, len(lines))):
        match = _PRAGMA.match(lines[index].strip())
        if match is None:
            continue
        lineno = parsed.first_line + index
        where = ast.Pass(lineno=lineno, col_offset=0)
        pragma = _CHECKPOINT.fullmatch(match.group(1))
        if pragma is None:
            raise parsed.error(UnsupportedSyntaxError, "unknown s2sad pragma", where, hint=f"write {_FORM}")
        snapshots = pragma.group(1)
        if not snapshots.isdigit() or int(snapshots) < 1:
            raise parsed.error(
                UnsupportedSyntaxError,
                f"checkpointing needs a whole number of snapshots, at least 1 (got `{snapshots}`)",
                where,
                hint=f"write {_FORM}",
            )
        following = index + 1
        while following < len(lines) and (
            not lines[following].strip() or lines[following].strip().startswith("#")
        ):
            following += 1
        loop = loops.get(parsed.first_line + following)
        if loop is None:
            raise parsed.error(
                UnsupportedSyntaxError,
                "the checkpoint pragma is not right above a `for` or `while` loop",
                where,
                hint=f"write {_FORM}",
            )
        found[loop.lineno] = int(snapshots)
    return found
