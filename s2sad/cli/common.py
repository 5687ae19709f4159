"""What the commands share: the registry of commands, `FILE.py:func` targets (the file is imported,
which runs it), `--wrt` names as argument positions, `--args-example` values, and the usage errors.

>>> argnums_of(lambda x1, x2, n: 0, "x2,x1")
(1, 0)
>>> example_values(["np.ones(2)", "0.5"], {})
(array([1., 1.]), 0.5)
"""

import importlib
import importlib.metadata
import inspect
import math
import sys
import traceback
from pathlib import Path

import numpy as np

from ..errors import S2sadError

COMMANDS = []  # each command module's `register(subparsers)`, in the order they are imported
MODES = ("reverse", "grad", "vjp", "forward", "jvp")
MODE_NAMES = {"vjp": "jacrev", "jvp": "forward"}  # the command line's names -> `s2sad.source` modes


class UsageError(Exception):
    """A mistake in the command line (exit code 2)."""


class UserCodeError(S2sadError):
    """The user's file raised an exception while it was imported."""


def command(register):
    """Register a command module's `register(subparsers)` (a decorator)."""
    COMMANDS.append(register)
    return register


def version():
    try:
        return importlib.metadata.version("s2sad")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def add_target_options(parser):
    """The options `show` and `emit` share."""
    parser.add_argument("target", metavar="FILE.py:func", help="the Python file and the function in it")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="reverse",
        help="reverse: value and gradient (f_vjp, the default); grad: the gradient only (f_grad); "
        "vjp: the split pair f_forward / f_backward; forward or jvp: tangents (f_jvp)",
    )
    parser.add_argument(
        "--wrt",
        metavar="NAMES",
        help="comma-separated parameters to differentiate with respect to (default: the first)",
    )
    parser.add_argument(
        "--args-example",
        metavar="EXPR",
        nargs="+",
        help="example arguments, one Python expression each (numpy as np, math and the file's names "
        "available), so the code is specialized to floats or arrays; without, it is shape-generic",
    )


def split_target(target):
    """`path/file.py:func` -> (Path, "func")."""
    path, sep, name = target.rpartition(":")
    if not sep or not name.isidentifier() or not path:
        raise UsageError(f"{target!r} is not FILE.py:func (the file, a colon, the function's name)")
    return Path(path), name


def _dotted_name(path):
    """(folder to put on `sys.path`, dotted module name) of the file: `pkg/sub/model.py` inside
    packages (folders with `__init__.py`) is `pkg.sub.model`, imported from `pkg`'s parent."""
    path = path.resolve()
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def load_module(path):
    """Import the file at `path` by its module name (its folder, or the folder above its packages,
    first on `sys.path`, so it imports its neighbours and a file emitted beside it can import it by
    name). This runs the file."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if path.suffix != ".py":
        raise UsageError(f"{path}: not a Python file (.py)")
    folder, name = _dotted_name(path)
    top = name.split(".")[0]
    loaded = sys.modules.get(top)
    if top in sys.stdlib_module_names or (
        loaded is not None
        and getattr(loaded, "__file__", None) not in (None, str(folder / f"{top}.py"))
        and not str(getattr(loaded, "__file__", "")).startswith(str(folder / top) + "/")
    ):
        other = "the standard library" if top in sys.stdlib_module_names else f"{loaded.__file__}"
        raise UsageError(
            f"{path}: the module name `{top}` is taken by {other}; rename the file (a derivative file "
            "importing it by name would import the other module)"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    except S2sadError:
        raise
    except BaseException as error:  # the user's code failed: their line, not s2sad's frames
        if isinstance(error, KeyboardInterrupt):
            raise
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path.resolve())]
        if not frames:  # an error in a module it imports: the innermost frame outside importlib
            frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename]
        where = frames[-1] if frames else None
        raise UserCodeError(
            f"running the file raised {type(error).__name__}: {error}",
            where.filename if where and where.filename != str(path.resolve()) else str(path),
            where.lineno if where else None,
            where.line if where else None,
            hint="show and emit import the file (they run it); fix the error, or guard scripts with "
            "`if __name__ == '__main__':`",
        ) from None


def location(function):
    """`file.py:12` of a function's `def` (None if it has no code)."""
    code = getattr(function, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else None


def load_function(target):
    """The function `FILE.py:func` names (the file is imported)."""
    path, name = split_target(target)
    module = load_module(path)
    function = getattr(module, name, None)
    if function is None:
        found = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__
        )
        listed = ", ".join(found) if found else "none"
        raise UsageError(f"{path}: no function `{name}` (its functions: {listed})")
    if not callable(function):
        raise UsageError(f"{path}: `{name}` is a {type(function).__name__}, not a function")
    return function


def argnums_of(function, wrt):
    """The positions of the comma-separated parameter names `wrt` (None: the first parameter)."""
    try:
        params = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise UsageError(f"cannot read the parameters of {function!r}") from None
    if wrt is None:
        return 0
    names = [n.strip() for n in wrt.split(",") if n.strip()]
    if not names:
        raise UsageError("--wrt needs parameter names, e.g. --wrt x,y")
    for n in names:
        if n not in params:
            raise UsageError(
                f"--wrt {n}: `{n}` is not a parameter of {function.__name__}({', '.join(params)})"
            )
    return tuple(params.index(n) for n in names)


def example_values(expressions, namespace):
    """The values of the `--args-example` expressions, evaluated with numpy as np, math and the
    user's module names."""
    if expressions is None:
        return None
    scope = dict(namespace)
    scope.update(np=np, numpy=np, math=math)
    values = []
    for text in expressions:
        try:
            values.append(eval(text, scope))  # the user's own expression, as `python -c` would run it
        except Exception as error:
            raise UsageError(f"--args-example {text!r}: {type(error).__name__}: {error}") from None
    return tuple(values)


def options(args, function):
    """(mode, argnums, example args) for `s2sad.source` / `s2sad.emit` from the parsed arguments."""
    mode = MODE_NAMES.get(args.mode, args.mode)
    argnums = argnums_of(function, args.wrt)
    values = example_values(args.args_example, vars(sys.modules.get(function.__module__, sys)))
    if values is not None:
        count = len(inspect.signature(function).parameters)
        if len(values) != count:
            raise UsageError(
                f"--args-example gives {len(values)} values; {function.__name__} takes {count} arguments"
            )
    return mode, argnums, values


def target_and_options(args):
    """The function `args.target` names and its (mode, argnums, example args); `args.location` set
    to it, for errors that do not name a line of their own."""
    function = load_function(args.target)
    args.location = location(function)
    return (function,) + options(args, function)
