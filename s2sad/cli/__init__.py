"""The command line: `python -m s2sad` and the `s2sad` console script.

Each command is a module with `register(subparsers)`, which adds its parser and sets `run(args)` as
its handler; `main` parses the arguments, runs the command and turns the errors a user makes (a
missing file or function, a bad option, an s2sad error in their code) into one message on stderr
and an exit code: 2 for usage, 1 for an error in the code, 0 for success.

>>> main(["--version"]) == 0  # doctest: +ELLIPSIS
s2sad ...
True
"""

import argparse
import sys

from . import show  # noqa: F401  (each command module registers itself: one line per command)
from . import emit  # noqa: F401
from . import check  # noqa: F401
from . import cache  # noqa: F401
from .common import COMMANDS, UsageError, version
from ..errors import S2sadError

EPILOG = """examples:
  s2sad show model.py:loss                     reverse-mode derivative of loss, printed
  s2sad show model.py:loss --mode forward --wrt w
  s2sad show model.py:step --args-example "np.ones(3)" 0.5
  s2sad emit model.py:loss --wrt w,b -o loss_grad.py
  s2sad check model.py                         what s2sad cannot differentiate (the file is not run)
  s2sad cache info                             where the disk cache is, its entries and size

`s2sad COMMAND --help` describes each command."""


def parser():
    out = argparse.ArgumentParser(
        prog="s2sad",
        description="s2sad: derivative source code of Python functions (source-to-source AD).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out.add_argument("--version", action="store_true", help="print the version and exit")
    commands = out.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return out


def main(argv=None):
    """Run the command line with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.version:
        print(f"s2sad {version()}")
        return 0
    if args.command is None:
        cli.print_help(sys.stderr)
        return 2
    try:
        return args.run(args) or 0
    except UsageError as error:
        print(f"s2sad {args.command}: error: {error}", file=sys.stderr)
        return 2
    except S2sadError as error:
        where = getattr(args, "location", None)
        prefix = f"{where}: " if error.filename is None and where else ""
        print(f"s2sad {args.command}: {prefix}{error}", file=sys.stderr)
        return 1
