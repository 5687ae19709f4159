"""`s2sad cache info` and `s2sad cache clear`: what the disk cache of generated derivatives holds,
and emptying it (`s2sad.cache`: where it is, `S2SAD_CACHE_DIR` to move it, `S2SAD_CACHE=off`).

>>> import os, tempfile
>>> previous, os.environ["S2SAD_CACHE_DIR"] = os.environ.get("S2SAD_CACHE_DIR"), tempfile.mkdtemp()
>>> print(describe(disk.info()))  # doctest: +ELLIPSIS
s2sad cache: /...
  state: on (S2SAD_CACHE=off turns it off)
  limit: ... MB (S2SAD_CACHE_MAX_MB; the files used longest ago go first)
  derivatives: 0 entries, 0 B
  numba: 0 files, 0 B
>>> del os.environ["S2SAD_CACHE_DIR"]
>>> if previous:
...     os.environ["S2SAD_CACHE_DIR"] = previous
"""

import argparse
import json

from .. import cache as disk
from .common import command

EPILOG = """examples:
  s2sad cache info            where the cache is, how many entries, their size
  s2sad cache info --json     the same as JSON
  s2sad cache clear           remove every entry (generated derivatives and numba modules)
  s2sad cache clear --kind numba

The cache is $S2SAD_CACHE_DIR if set, else the platform's user cache folder
(~/.cache/s2sad on Linux). S2SAD_CACHE=off stops s2sad from reading or writing it."""


@command
def register(subparsers):
    """Add `cache` with its two subcommands to the command line's `subparsers`."""
    parser = subparsers.add_parser(
        "cache",
        help="show or clear the disk cache of generated derivatives",
        description="The disk cache keeps generated derivative source between processes, so a "
        "second run skips generating it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info",
        help="print the cache's folder, number of entries and size",
        description="Print where the disk cache is, whether it is on, and its entries' number and size.",
    )
    info.add_argument("--json", action="store_true", help="print the figures as JSON")
    info.set_defaults(run=run_info)
    clear = actions.add_parser(
        "clear",
        help="remove the cache's entries",
        description="Remove the disk cache's entries (the next process generates its derivatives again). "
        "The in-memory caches of running processes are not affected.",
    )
    clear.add_argument(
        "--kind",
        choices=("all",) + disk.KINDS,
        default="all",
        help="which entries: all (the default), derivatives (generated source) or numba (numba-target modules)",
    )
    clear.set_defaults(run=run_clear)
    return parser


def _size(count):
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return None


def describe(info):
    """`info` (`s2sad.cache.info()`) as lines for a person."""
    state = "on (S2SAD_CACHE=off turns it off)" if info["enabled"] else "off (S2SAD_CACHE=off is set)"
    lines = [f"s2sad cache: {info['directory']}", f"  state: {state}"]
    limit = info.get("limit_bytes")
    lines.append(
        f"  limit: {_size(limit)} (S2SAD_CACHE_MAX_MB; the files used longest ago go first)"
        if limit
        else "  limit: none (S2SAD_CACHE_MAX_MB=0)"
    )
    for kind, figures in info["kinds"].items():
        what = "entries" if kind == "derivatives" else "files"
        lines.append(f"  {kind}: {figures['entries']} {what}, {_size(figures['bytes'])}")
    return "\n".join(lines)


def run_info(args):
    info = disk.info()
    print(json.dumps(info, indent=2) if args.json else describe(info))
    return 0


def run_clear(args):
    kinds = disk.KINDS if args.kind == "all" else (args.kind,)
    removed = disk.clear_disk(kinds)
    print(f"removed {removed} file{'s' if removed != 1 else ''} from {disk.root()}")
    return 0
