"""`s2sad check FILE.py[:func]`: which constructs s2sad cannot differentiate, without running the file.

Exit status 1 if there is any, 0 if none, 2 for a usage error (no such file or function). The
analysis is `s2sad.api.check` (the compiler's own passes in their check mode); this module only
parses the command line and prints.
"""

import argparse
import json
import sys

from ..api.check import CheckUsageError, check_file, format_report
from .common import command

DESCRIPTION = """Report every construct of a function (and of the helpers it calls, in the same file
or in modules next to it) that s2sad cannot differentiate, with file:line:col, the code and what to
write instead, the same words `s2sad.grad` would raise. The file is read, never run: its imports of
installed libraries are imported, its own code is not. Without :func, every top-level function of
the file is checked. By default the parameters that may be floats or arrays are differentiated (an
annotation `n: int`, a default `n=10` or a use as `range(n)` / an index / a size makes an integer).

exit status: 1 if a problem is found, 0 if none, 2 for a usage error."""


@command
def register(subparsers):
    parser = subparsers.add_parser(
        "check",
        help="report what s2sad cannot differentiate, without running the file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", metavar="FILE.py[:func]", help="the file, and optionally one function in it"
    )
    parser.add_argument(
        "--wrt",
        metavar="NAMES",
        help="comma-separated parameters to differentiate (default: those that may be floats or arrays)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="the report's format")
    parser.set_defaults(run=run)
    return parser


def split_target(target):
    """`model.py:loss` -> ('model.py', 'loss'); `model.py` -> ('model.py', None)."""
    path, _, name = target.rpartition(":")
    if path and name.isidentifier():
        return path, name
    return target, None


def run(args):
    path, function = split_target(args.target)
    wrt = [w.strip() for w in args.wrt.split(",") if w.strip()] if args.wrt else None
    try:
        reports = check_file(path, function, wrt)
    except CheckUsageError as error:
        print(f"s2sad check: error: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps({"functions": [r.as_dict() for r in reports]}, indent=2))
    else:
        print(format_report(reports))
    return 1 if any(r.errors or r.stopped for r in reports) else 0
