"""The command line: `python -m s2sad` and the `s2sad` console script.

Each command is a module with `register(subparsers)`, which adds its parser and sets `run(args)`
as its handler (returning the exit code).

>>> main(["check", "--help"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
SystemExit: 0
"""

import argparse
import sys

from . import check


def main(argv=None):
    """Run the command line with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    cli = argparse.ArgumentParser(
        prog="s2sad", description="s2sad: source-to-source automatic differentiation"
    )
    commands = cli.add_subparsers(dest="command", metavar="COMMAND")
    check.register(commands)
    args = cli.parse_args(argv)
    if args.command is None:
        cli.print_help(sys.stderr)
        return 2
    return args.run(args) or 0
