"""`s2sad emit FILE.py:func -o out.py`: write the derivative as a standalone module (it imports NumPy
and the names it reads from the file by name, and carries copies of the s2sad run-time helpers it
calls, so it runs where s2sad is not installed)."""

import argparse
import sys

from ..api.sources import emit
from .common import UsageError, add_target_options, command, target_and_options

EPILOG = """examples:
  s2sad emit lecture.py:f --wrt x1,x2 -o f_grad.py
  s2sad emit model.py:loss --mode vjp -o loss_vjp.py     (f_forward / f_backward)
  s2sad emit sim.py:run --backend numba --args-example "np.ones(3)" 100 -o run_numba.py

The file imports FILE's names by module name: keep it beside FILE.py (or FILE's package on the
import path). Values defined in a script run as __main__ are written into it as literals."""


@command
def register(subparsers):
    parser = subparsers.add_parser(
        "emit",
        help="write the derivative as a standalone Python module",
        description="Write the derivative of FILE.py:func to a module that runs without s2sad "
        "(the file is imported, so it runs).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_options(parser)
    parser.add_argument("-o", "--output", metavar="OUT.py", required=True, help="the file to write")
    parser.add_argument(
        "--backend",
        choices=("python", "numba"),
        default="python",
        help="python (the default) or numba (needs --args-example: the numba target is typed)",
    )
    parser.set_defaults(run=run)


def run(args):
    function, mode, argnums, values = target_and_options(args)
    if args.backend == "numba" and values is None:
        raise UsageError("--backend numba needs --args-example (the numba target is typed)")
    if not args.output.endswith(".py"):
        raise UsageError(f"-o {args.output}: the output must be a .py file")
    emit(function, args.output, mode=mode, argnums=argnums, args=values, backend=args.backend)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
