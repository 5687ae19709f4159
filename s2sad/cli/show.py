"""`s2sad show FILE.py:func`: print the derivative source, coloured on a terminal.

Colours come from the standard library's `tokenize` (keywords, names of derivatives, numbers,
strings, comments); they are used when stdout is a terminal and `NO_COLOR` is not set, or with
`--color always`.

>>> print(colour("x_bar = 2.0 * x  # f.py:3\\n"))  # doctest: +NORMALIZE_WHITESPACE
\x1b[35mx_bar\x1b[0m = \x1b[36m2.0\x1b[0m * x  \x1b[2m# f.py:3\x1b[0m
"""

import argparse
import io
import keyword
import os
import sys
import tokenize

from ..api.sources import source
from .common import add_target_options, command, target_and_options

EPILOG = """examples:
  s2sad show lecture.py:f --wrt x1,x2
  s2sad show model.py:loss --mode grad --args-example "np.zeros(3)" "np.ones((4, 3))"
  s2sad show model.py:loss --mode forward --wrt w | less"""

STYLES = {
    "keyword": "\x1b[1;34m",
    "derivative": "\x1b[35m",
    "number": "\x1b[36m",
    "string": "\x1b[32m",
    "comment": "\x1b[2m",
}
RESET = "\x1b[0m"


@command
def register(subparsers):
    parser = subparsers.add_parser(
        "show",
        help="print the derivative source of a function",
        description="Print the derivative source of FILE.py:func (the file is imported, so it runs).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_options(parser)
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the code: auto (on a terminal, unless NO_COLOR is set), always or never",
    )
    parser.set_defaults(run=run)


def run(args):
    function, mode, argnums, values = target_and_options(args)
    text = source(function, mode=mode, argnums=argnums, args=values)
    if _coloured(args.color, sys.stdout):
        text = colour(text)
    sys.stdout.write(text)
    return 0


def _coloured(choice, stream):
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _style(token):
    if token.type == tokenize.COMMENT:
        return "comment"
    if token.type == tokenize.STRING:
        return "string"
    if token.type == tokenize.NUMBER:
        return "number"
    if token.type == tokenize.NAME:
        if keyword.iskeyword(token.string):
            return "keyword"
        if token.string.endswith(("_bar", "_dot")):
            return "derivative"
    return None


def colour(text):
    """`text` (Python source) with ANSI colours; the text itself is unchanged."""
    lines = text.splitlines(keepends=True)
    pieces = []
    row, col = 1, 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    for token in tokens:
        style = _style(token)
        if style is None:
            continue
        (srow, scol), (erow, ecol) = token.start, token.end
        pieces.append(_between(lines, (row, col), (srow, scol)))
        pieces.append(STYLES[style] + _between(lines, (srow, scol), (erow, ecol)) + RESET)
        row, col = erow, ecol
    pieces.append(_between(lines, (row, col), (len(lines) + 1, 0)))
    return "".join(pieces)


def _between(lines, start, end):
    (srow, scol), (erow, ecol) = start, end
    if srow == erow:
        return lines[srow - 1][scol:ecol] if srow <= len(lines) else ""
    out = [lines[srow - 1][scol:]] if srow <= len(lines) else []
    out += lines[srow : erow - 1]
    if erow <= len(lines):
        out.append(lines[erow - 1][:ecol])
    return "".join(out)
