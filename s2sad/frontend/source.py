"""Frontend: from a Python function object to its AST and namespace.

The function's source is read with `inspect`, dedented (methods and nested
functions), parsed, decorators removed, and line numbers shifted so that every
node's `lineno` is the line in the user's file.

>>> import textwrap
>>> def scale(x):
...     return 2.0 * x
>>> parsed = parse_function(scale)
>>> parsed.name, [a.arg for a in parsed.tree.args.args]
('scale', ['x'])
"""

import ast
import inspect
import linecache
import re
import textwrap
import types
from dataclasses import dataclass, field

from .. import cache
from ..errors import SourceUnavailableError, UnsupportedSyntaxError
from ..astutil import clone, fix_missing_locations, increment_lineno, walk
from .nested import materialize, transform_of


@dataclass
class ParsedFunction:
    """A user function as the compiler sees it."""

    name: str
    tree: ast.FunctionDef
    filename: str
    source_lines: list
    namespace: dict = field(repr=False)
    function: object = field(repr=False, default=None)
    first_line: int = 1  # the file line of the first source line (decorators included)
    is_lambda: bool = False  # a lambda, parsed as a `def` named after the variable it is assigned to
    origins: dict = field(repr=False, default_factory=dict)  # line of inlined code -> (file, line, text)
    renamed: dict = field(
        repr=False, default_factory=dict
    )  # an inlined helper's renamed local -> its own name

    def line(self, lineno):
        """The user's source line `lineno` (1-based, file numbering), stripped."""
        index = lineno - self.first_line
        if 0 <= index < len(self.source_lines):
            return self.source_lines[index].strip()
        return ""

    def describe(self, lineno):
        """The comment for a line of generated code: `file.py:12: <the user's line>` (an inlined
        helper's line names its own file), None for none (the `def` line, lines without source)."""
        if lineno in self.origins:
            return self.origins[lineno][2]
        if lineno == self.tree.lineno and not self.is_lambda:
            return None  # the `def` line: prologue and epilogue code
        text = self.line(lineno)
        return f"{self.filename.rsplit('/', 1)[-1]}:{lineno}: {text}" if text else None

    def error(self, cls, message, node, hint=None):
        """Build an s2sad error of class `cls` pointing at `node` in the user's file."""
        lineno = getattr(node, "lineno", None)
        renamed = self.renamed
        if renamed:  # the names of an inlined helper's locals as the helper wrote them, not `helper1_x`
            message, hint = _original_words(message, renamed), _original_words(hint, renamed)
        origin = self.origins.get(lineno)
        if origin is not None:  # a line of an inlined helper (`s2sad.frontend.inline`): its own file and line
            error = cls(message, origin[0], origin[1], origin_code(origin), hint)
        else:
            error = cls(message, self.filename, lineno, self.line(lineno) if lineno else None, hint)
        error.column = getattr(node, "col_offset", None)  # of the statement, or the expression at fault
        return error


def origin_code(origin):
    """The code an error shows for an entry (file, line, comment) of the origin table: the comment's
    code, or the user's line when the comment quotes another file (an s2sad definition's line)."""
    filename, lineno, text = origin
    if text.startswith(filename.rsplit("/", 1)[-1] + ":"):
        return text.split(": ", 1)[-1]
    return linecache.getline(filename, lineno).strip() or text.split(": ", 1)[-1]


def _original_words(text, renamed):
    if not text:
        return text
    return re.sub(r"\b\w+\b", lambda m: renamed.get(m.group(0), m.group(0)), text)


def _unwrap(function):
    while True:
        transform = transform_of(function)
        if transform is not None:  # an s2sad transform: its derivative code, not the function it wraps
            return materialize(transform)
        if not hasattr(function, "__wrapped__"):
            return function
        function = function.__wrapped__


def function_namespace(function):
    """Globals of `function` overlaid with the current values of its closure cells."""
    namespace = dict(function.__globals__)
    if function.__closure__:
        for name, cell in zip(function.__code__.co_freevars, function.__closure__):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:  # an empty cell: the variable is assigned later
                pass
    return namespace


# (code object, its file: equal code objects may come from two files) -> (source lines, first line):
# the source read when it was first compiled
_SOURCES = {}


def forget_sources(filename):
    """Drop what was read of `filename` (its functions' source, its lambdas' module): the check mode
    (`s2sad check`) reads a file's text changed between two rounds, whose code objects may be equal."""
    for key in [k for k in _SOURCES if k[1] == filename]:
        del _SOURCES[key]
    _MODULES.pop(filename, None)


def source_lines(function):
    """(source lines, first line) of a `def` function as the compiler reads them: read once per code
    object, so that a derivative compiled again (other shapes) after its file changed or is gone
    reads the same text. Raises OSError or TypeError if there is none."""
    code = function.__code__
    found = _SOURCES.get((code, code.co_filename))
    if found is None:
        found = _SOURCES[code, code.co_filename] = tuple(inspect.getsourcelines(function))
    return found


def compiled_source(function):
    """(lines, first line) this process read for `function` (`source_lines`), or None."""
    code = getattr(function, "__code__", None)
    return _SOURCES.get((code, getattr(code, "co_filename", None)))


def parse_function(function):
    """Parse `function` into a `ParsedFunction` (see the module docstring)."""
    function = _unwrap(function)
    if not isinstance(function, types.FunctionType):
        raise SourceUnavailableError(
            f"s2sad differentiates Python functions; got {type(function).__name__} {function!r}",
            hint="pass a function defined with `def` in a file; to use this callable inside "
            "differentiated code, register a rule for it with s2sad.defjvp / s2sad.defvjp",
        )
    code = function.__code__
    if code.co_name == "<lambda>":  # found by its line and parameters in its file
        return parse_lambda(function, top=True)
    filename = code.co_filename
    try:
        lines, first_line = source_lines(function)
    except (OSError, TypeError) as exc:
        raise SourceUnavailableError(
            f"cannot read the source of {function.__qualname__} ({exc})",
            filename,
            code.co_firstlineno,
            hint="define the function in a .py file (functions typed at the interactive "
            "prompt or built with exec have no source s2sad can read)",
        ) from None
    source = textwrap.dedent("".join(lines))
    tree = ast.parse(source)
    node = tree.body[0]
    if isinstance(node, ast.AsyncFunctionDef):
        raise UnsupportedSyntaxError(
            f"{function.__qualname__} is an async function",
            filename,
            first_line,
            lines[0],
            hint="differentiate a plain `def` function; await its inputs outside",
        )
    if not isinstance(node, ast.FunctionDef):
        raise UnsupportedSyntaxError(
            f"{function.__qualname__} is not defined with `def`",
            filename,
            first_line,
            lines[0],
            hint="write the function with `def`",
        )
    increment_lineno(tree, first_line - 1)
    node.decorator_list = []
    parsed = ParsedFunction(
        name=node.name,
        tree=node,
        filename=filename,
        source_lines=lines,
        namespace=function_namespace(function),
        function=function,
        first_line=first_line,
    )
    for inner in walk(node):
        if isinstance(inner, (ast.Yield, ast.YieldFrom)):
            raise parsed.error(
                UnsupportedSyntaxError,
                f"{function.__qualname__} is a generator (it uses `yield`)",
                inner,
                hint="return a list or an array of the values instead of yielding them",
            )
    return parsed


def _lambda_as_def(node, name):
    body = [ast.copy_location(ast.Return(value=node.body), node)]
    function = ast.FunctionDef(
        name=name, args=node.args, body=body, decorator_list=[], returns=None, type_params=[]
    )
    return fix_missing_locations(ast.copy_location(function, node))


_MODULES = {}  # filename -> (its lines, its parsed AST)
cache.on_clear(_MODULES.clear)


def parse_lambda(fn, top=False):
    """A lambda defined outside the function being compiled (`square = lambda u: u * u` at module
    level, or made by a factory): found by its line and parameters in its file's source.

    With `top`, the lambda is the differentiated function itself: it is named after the variable
    it is assigned to (`square`), else `lambda_`, so its derivative is `square_vjp`."""
    code = fn.__code__
    filename = code.co_filename
    lines = linecache.getlines(filename)
    cached = _MODULES.get(filename)
    if cached is None or cached[0] != lines:
        try:
            cached = _MODULES[filename] = (lines, ast.parse("".join(lines)))
        except (SyntaxError, ValueError):
            cached = (lines, None)
    tree = cached[1]
    params = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    found = (
        []
        if tree is None
        else [
            node
            for node in walk(tree)
            if isinstance(node, ast.Lambda)
            and node.lineno == code.co_firstlineno
            and [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs] == params
        ]
    )
    if len(found) > 1:  # several on one line: the one whose columns hold the lambda's code
        spots = [(p[0], p[2]) for p in code.co_positions() if None not in p and (p[0], p[2]) != (p[1], p[3])]
        found = [
            node
            for node in found
            if spots
            and all(
                (node.lineno, node.col_offset) <= spot <= (node.end_lineno, node.end_col_offset)
                for spot in spots
            )
        ]
    if len(found) != 1:
        raise SourceUnavailableError(
            "cannot find the source of this lambda" + (" (several lambdas on its line)" if found else ""),
            filename,
            code.co_firstlineno,
            hint="define the function with `def`",
        )
    name = "lambda"
    if top:
        targets = [
            node.targets[0].id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and node.value is found[0]
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ]
        name = targets[0] if targets else "lambda_"
    parsed = ParsedFunction(
        name=name,
        tree=_lambda_as_def(clone(found[0]), name),
        filename=filename,
        source_lines=lines,
        namespace=function_namespace(fn),
        function=fn,
        first_line=1,
        is_lambda=True,
    )
    return parsed
