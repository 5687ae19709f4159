"""The command line: `python -m s2sad`.

Each command is a module with `register(subparsers)`, which adds its parser and sets `run(args)` as
its handler; `main` parses the arguments and runs the command, returning its exit code.

>>> main(["cache", "info", "--json"]) == 0  # doctest: +ELLIPSIS
{...
True
"""

import argparse
import sys

from . import cache

COMMANDS = [cache.register]  # each command module's `register(subparsers)`


def parser():
    out = argparse.ArgumentParser(
        prog="s2sad", description="s2sad: derivative source code of Python functions (source-to-source AD)."
    )
    commands = out.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return out


def main(argv=None):
    """Run the command line with `argv` (default: `sys.argv[1:]`); returns the exit code."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.command is None:
        cli.print_help(sys.stderr)
        return 2
    return args.run(args) or 0
