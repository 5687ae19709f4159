"""`s2sad check`: a static differentiability report of the functions of a file, without running it.

The file is loaded from its source (`s2sad.frontend.static`: nothing of the user's runs), each
function is given to the compiler's own passes in their check mode (`s2sad.pipeline.check`), which
record every refusal where a pass can go on past it. Where a pass cannot (a `try` statement desugar
refuses, a callee the inliner cannot follow), the refused statement is recorded, taken out of the
source text (a compound statement keeps its body: `try:` reads as `if 1:`), and the function is
checked again, until it compiles or a refusal cannot be taken out (then the rest is not checked).
So the report says what `s2sad.grad` would say, in its words, for every line at once.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.py"
>>> _ = path.write_text('''import math
... def f(x):
...     global calls
...     try:
...         y = math.gamma(x)
...     except ValueError:
...         y = 0.0
...     return y
... ''')
>>> [(p.line, p.message[:40]) for p in check_file(path)[0].problems]
[(3, '`global` declarations are not supported:'), (4, '`try` statements are not supported'), (5, 'no derivative rule for `math.gamma`')]
"""

import ast
import os
import re
from dataclasses import dataclass, field

from .. import kinds as K
from ..analyses.checks import returns_value
from ..frontend.static import Unknown, load_module, release, resolve
from ..frontend.take_out import take_out
from ..pipeline import check as check_compilation
from . import jacobians, sources, transforms

MAX_ROUNDS = 200  # refusals taken out of one function's source before the check gives up


@dataclass
class Problem:
    """One construct s2sad cannot differentiate, where it is and what to do instead."""

    filename: str
    line: int
    column: int  # 1-based
    message: str
    hint: str
    code: str  # the user's source line, as written
    kind: str  # the error class the compiler raises (`UnsupportedSyntaxError`, ...)
    severity: str = "error"  # "note": what the check cannot know without running the code

    def as_dict(self):
        return dict(self.__dict__)


@dataclass
class FunctionReport:
    """The check of one function: which parameters were differentiated, the problems found, and
    why the check stopped early (None if it saw the whole function)."""

    name: str
    filename: str
    line: int
    wrt: list
    assumed: dict  # parameter -> the kind it is checked as, and why
    problems: list = field(default_factory=list)
    stopped: str = None
    where: str = None  # the transform call that differentiates it in the file (`grad at line 80`), if any

    @property
    def errors(self):
        """The problems `grad` would raise (not the notes on what the check could not see)."""
        return [p for p in self.problems if p.severity == "error"]

    def as_dict(self):
        out = dict(self.__dict__)
        out["problems"] = [p.as_dict() for p in self.problems]
        out["assumed"] = {
            p: ["function" if K.is_function_kind(kind) else kind, why]
            for p, (kind, why) in self.assumed.items()
        }
        return out


class CheckUsageError(Exception):
    """A file or function that cannot be checked at all (missing, not Python, no such function)."""


def check_file(path, function=None, wrt=None):
    """A `FunctionReport` per function checked: `function` (a name); else the functions the file gives
    to an s2sad transform by name (with the argnums it gives), else every top-level function with a
    parameter that may be a float or an array and a `return` of a value; in source order. `wrt` names the differentiated
    parameters (default: those the transform differentiates, or those that may be floats or arrays);
    without `function`, each function takes the names it has."""
    path = os.path.abspath(str(path))
    if not os.path.isfile(path):
        raise CheckUsageError(f"{path}: no such file")
    loaded = {}
    try:
        with open(path, encoding="utf-8") as handle:
            original = handle.read()
        module = load_module(path, {path: original}, loaded)
    except SyntaxError as exc:
        raise CheckUsageError(f"{path}:{exc.lineno}: the file is not valid Python: {exc.msg}") from None
    finally:
        release(loaded)
    if function is not None:
        if function not in module.functions:
            known = ", ".join(module.functions) or "none"
            raise CheckUsageError(f"{path}: no top-level function `{function}` (functions: {known})")
        return [_check_function(path, original, module.functions[function], wrt, strict=True)]
    entries = differentiated_functions(module)
    if entries:  # the functions the file gives to s2sad, with the arguments it differentiates
        return [
            _check_function(path, original, module.functions[name], wrt, positions, where)
            for name, (positions, where) in sorted(
                entries.items(), key=lambda e: module.functions[e[0]].lineno
            )
        ]
    reports = []
    for node in module.functions.values():  # else every function that has something to differentiate
        kinds, _ = parameter_kinds(node)
        if any(k in K.DIFFERENTIABLE for k in kinds) and returns_value(node):  # (else a helper)
            reports.append(_check_function(path, original, node, wrt))
    return reports


TRANSFORMS = {  # s2sad's transforms -> (position of argnums, its default): None differentiates every primal
    transforms.grad: (1, 0),
    transforms.value_and_grad: (1, 0),
    sources.source: (2, 0),
    sources.emit: (3, 0),
    jacobians.jacfwd: (1, 0),
    jacobians.jacrev: (1, 0),
    jacobians.hessian: (1, 0),
    transforms.jvp: None,
    transforms.vjp: None,
    transforms.hvp: None,
}


_TRANSFORM_NAMES = {t.__name__ for t in TRANSFORMS}


def differentiated_functions(module):
    """The top-level functions of `module` given to an s2sad transform somewhere in the file
    (`s2sad.value_and_grad(loss, argnums=(0, 1))`, `@s2sad.grad`): name -> (the positions it
    differentiates, or None for every float parameter; where: `value_and_grad at line 97`)."""
    found = {}

    def note(name, transform, argnums, line):
        if name not in module.functions:
            return
        node = module.functions[name]
        count = len(node.args.args)
        if argnums is None:
            positions = None
        else:
            positions = tuple(a % count for a in argnums if -count <= a < count) if count else ()
        before = found.get(name)
        if before is not None and before[0] is not None and positions is not None:
            positions = tuple(sorted(set(before[0]) | set(positions)))  # the union of what is asked
        elif before is not None:
            positions = None
        found[name] = (positions, f"{transform.__name__} at line {line}" if before is None else before[1])

    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name):
            transform = resolve(node.func, module.namespace)
            if transform in TRANSFORMS:
                note(node.args[0].id, transform, _argnums(node, TRANSFORMS[transform]), node.lineno)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                transform = resolve(call.func if call else decorator, module.namespace)
                if transform in TRANSFORMS:
                    spec = TRANSFORMS[transform]
                    argnums = (
                        _argnums(call, (spec[0] - 1, spec[1])) if call and spec else (spec and (spec[1],))
                    )
                    note(node.name, transform, argnums, decorator.lineno)
    return found


def _argnums(call, spec):
    """The argnums of a transform call, when it is a literal: a tuple; None for every primal or unknown."""
    if spec is None:
        return None
    position, default = spec
    value = next((k.value for k in call.keywords if k.arg == "argnums"), None)
    if value is None and len(call.args) > position:
        value = call.args[position]
    if value is None:
        return (default,)
    try:
        literal = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError):
        return None  # computed (`tuple(range(8))`): every float parameter
    return (literal,) if isinstance(literal, int) else tuple(literal)


def _check_function(path, original, node, wrt, positions=None, where=None, strict=False):
    texts = {path: original}  # the source the check reads, refused statements taken out
    registered = set(texts)  # every file whose text the rounds registered
    try:
        return _check_texts(path, texts, registered, node, wrt, positions, where, strict)
    finally:
        release(registered)  # the files as they are on disk, for whatever runs next in this process


def _check_texts(path, texts, registered, node, wrt, positions, where, strict):
    kinds, assumed = parameter_kinds(node)
    params = [a.arg for a in node.args.args]
    if wrt is None and positions is not None:
        active = list(positions)
        for i in active:
            assumed[params[i]] = (
                kinds[i] if kinds[i] in K.DIFFERENTIABLE else K.ANY,
                f"differentiated by {where}",
            )
            kinds[i] = assumed[params[i]][0]
    elif wrt is None:
        active = [i for i, p in enumerate(params) if kinds[i] in K.DIFFERENTIABLE]
    else:
        wrt = wrt if strict else [w for w in wrt if w in params]
        unknown = [w for w in wrt if w not in params]
        if unknown:
            raise CheckUsageError(
                f"{path}:{node.lineno}: `{node.name}` has no parameter {', '.join(unknown)} "
                f"(parameters: {', '.join(params) or 'none'})"
            )
        active = [params.index(w) for w in wrt]
        for i in active:
            if kinds[i] in (K.INT, K.BOOL):
                kinds[i] = K.FLOAT  # an integer differentiated is a float (as `grad` does)
    report = FunctionReport(node.name, path, node.lineno, [params[i] for i in active], assumed, where=where)
    originals = {}  # path -> its lines as written
    seen = set()
    for _ in range(MAX_ROUNDS):
        loaded = {}
        try:
            module = load_module(path, dict(texts), loaded)
            registered.update(loaded)
        except SyntaxError:  # what was taken out leaves code Python refuses (`await` outside `async def`)
            break
        for loaded_path, text in texts.items():
            originals.setdefault(loaded_path, text.splitlines())
        function = module.namespace[node.name]
        try:
            problems, stopped = check_compilation(function, tuple(kinds), tuple(active))
        except Exception as exc:  # the compiler itself fails: `grad` would fail the same way
            changed = _take_out_caller(texts, path, node.name, report)
            if changed is not None:  # what is left of a helper does not compile: its call goes
                texts[os.path.abspath(path)] = changed
                continue
            if report.problems:  # on what is left once refused statements are out (a generator's loop)
                report.stopped = (
                    "the check cannot go past these problems: the rest of the function was not checked"
                )
            else:
                report.stopped = f"s2sad fails on it ({type(exc).__name__}: {exc}), a bug in s2sad"
            _sort(report)
            return report
        for error in problems:
            _add(report, error, originals, seen, loaded)
        lines = {(p.filename, p.line) for p in report.problems}
        if stopped is not None and (os.path.abspath(stopped.filename or ""), stopped.lineno) not in lines:
            _add(report, stopped, originals, seen, loaded)  # (a line already reported: the same construct)
        if stopped is None:
            _sort(report)
            return report
        where = os.path.abspath(stopped.filename or "")
        if where not in texts:
            try:
                with open(where, encoding="utf-8") as handle:
                    texts[where] = handle.read()
            except OSError:
                break
        changed = take_out(texts[where], stopped.lineno) if stopped.lineno else None
        if changed is None or changed == texts[where]:
            changed, where = _take_out_caller(texts, path, node.name, report), os.path.abspath(path)
            if changed is None:
                break
        texts[where] = changed
    else:
        report.stopped = f"more than {MAX_ROUNDS} refused statements"
        _sort(report)
        return report
    report.stopped = "the check cannot go past this refusal: the rest of the function was not checked"
    _sort(report)
    return report


def _take_out_caller(texts, path, name, report):
    """The text of `path` with the first statement of function `name` that calls a function of the file
    in which a problem was found taken out (`y = helper(x)` read as `y = 0.0`), or None if there is
    none: the check cannot go on inside that helper, but can check the rest of `name` without it."""
    key = os.path.abspath(path)
    text = texts.get(key)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    defs = {d.name: d for d in tree.body if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef))}
    lines = {p.line for p in report.problems if os.path.abspath(p.filename) == key}
    culprits = {
        n for n, d in defs.items() if n != name and any(d.lineno <= line <= d.end_lineno for line in lines)
    }
    target = defs.get(name)
    if target is None or not culprits:
        return None
    simple = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return)
    for stmt in sorted((s for s in ast.walk(target) if isinstance(s, simple)), key=lambda s: s.lineno):
        called = {
            c.func.id for c in ast.walk(stmt) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
        }
        if called & culprits:
            changed = take_out(text, stmt.lineno)
            if changed is not None and changed != text:
                return changed
    return None


def _sort(report):
    """The problems in the order of the files' lines, the function's own file first."""
    report.problems.sort(key=lambda p: (p.filename != report.filename, p.filename, p.line, p.column))


def _computed_callee(error, filename, loaded):
    """The module-level name whose value the module computes when it runs (`scaler = make_scaler(3.0)`)
    that `error` says has no rule, or None: the check cannot know which function it holds."""
    match = re.fullmatch(r"no derivative rule for `([\w.]+)`", error.message)
    module = loaded.get(filename)
    if match is None or module is None:
        return None
    name = match.group(1)
    root = name.split(".")[0]
    value = module.namespace.get(root)
    if isinstance(value, Unknown):
        return root
    if (
        value is not None
        and "." in name
        and resolve(ast.parse(name, mode="eval").body, module.namespace) is None
    ):
        return root  # an attribute of something computed (`model.net.forward`)
    return None


def _add(report, error, originals, seen, loaded=None):
    filename = os.path.abspath(error.filename) if error.filename else report.filename
    computed = _computed_callee(error, filename, loaded or {})
    if computed is not None:
        error = type(error)(
            f"`{error.message.split('`')[1]}` is computed when the module runs; the check cannot tell which "
            "function it is, and did not check this call",
            error.filename,
            error.lineno,
            error.code,
            f"check the function it holds on its own (FILE.py:func), or define `{computed}` with `def`",
        )
    key = (filename, error.lineno, error.message)
    if key in seen:
        return
    syntax = type(error).__name__ == "UnsupportedSyntaxError"
    if syntax and any(
        (p.filename, p.line, p.kind) == (filename, error.lineno, "UnsupportedSyntaxError")
        for p in report.problems
    ):
        return  # one statement refused by two checks (`xs.sort()`: a method, a call for its effect)
    seen.add(key)
    lines = originals.get(filename)
    if lines is None and os.path.isfile(filename):
        with open(filename, encoding="utf-8") as handle:
            lines = originals[filename] = handle.read().splitlines()
    code = (
        lines[error.lineno - 1]
        if lines and error.lineno and error.lineno <= len(lines)
        else (error.code or "")
    )
    column = getattr(error, "column", None)
    first = len(code) - len(code.lstrip())
    if column is None or column < first or column >= len(code.encode()):
        column = first  # the statement's start
    else:
        column = len(code.encode()[:column].decode(errors="ignore"))
    problem = Problem(
        filename,
        error.lineno or report.line,
        column + 1,
        error.message,
        error.hint or "",
        code,
        type(error).__name__,
    )
    if computed is not None:
        problem.severity = "note"
    report.problems.append(problem)


# -- the parameters: which kinds, which are differentiated ---------------------------------------

_ANNOTATIONS = {
    "int": K.INT,
    "bool": K.BOOL,
    "float": K.FLOAT,
    "str": K.OTHER,
    "ndarray": K.ARRAY,
    "NDArray": K.ARRAY,
    "ArrayLike": K.ANY,
}


def parameter_kinds(node):
    """(kinds, reasons) of the parameters of the `def` `node`, from its source: an annotation
    (`n: int`, `x: np.ndarray`), else a literal default (`steps=100`), else the way the body uses it
    (`range(n)`, `a[i]`, `np.zeros(n)`: an integer), else a float or an array ('any')."""
    kinds, reasons = [], {}
    args = node.args.args
    defaults = [None] * (len(args) - len(node.args.defaults)) + list(node.args.defaults)
    integers = _integer_uses(node)
    called = {
        n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    } | {  # given to a transform: `s2sad.jvp(f, ...)`
        n.args[0].id
        for n in ast.walk(node)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in _TRANSFORM_NAMES
        and n.args
        and isinstance(n.args[0], ast.Name)
    }
    for arg, default in zip(args, defaults):
        kind, why = None, None
        if arg.annotation is not None:
            base = arg.annotation.value if isinstance(arg.annotation, ast.Subscript) else arg.annotation
            text = ast.unparse(base).rsplit(".", 1)[-1]
            kind = _ANNOTATIONS.get(text)
            why = f"annotated `{ast.unparse(arg.annotation)}`" if kind else None
        if kind is None and default is not None:
            try:
                value = ast.literal_eval(default)
            except (ValueError, TypeError, SyntaxError):
                value = ...
            if value is not ...:
                kind, why = (
                    K.kind_of(value) if value is not None else K.OTHER
                ), f"default `{ast.unparse(default)}`"
        if kind is None and arg.arg in called:
            kind, why = K.function_kind(a_function), "a function (it is called)"
        if kind is None and arg.arg in integers:
            kind, why = K.INT, integers[arg.arg]
        if kind is None:
            kind, why = K.ANY, "a float or an array"
        kinds.append(kind)
        reasons[arg.arg] = (kind, why)
    return kinds, reasons


_SIZE_FUNCTIONS = {"zeros", "ones", "empty", "full", "eye", "identity", "arange"}


def a_function(*args):
    """What the check takes a parameter that holds a function for (`f` in `def jacobian(f, x)`, called
    `f(x)`): the file does not say which function it is given, so its result is checked as if it
    depended on its arguments (here: as the first one)."""
    return args[0]


def _integer_uses(node):
    """Parameters the body uses as integers: a `range` bound, an index, an array size."""
    params = {a.arg for a in node.args.args}
    assigned = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    found = {}
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            func = inner.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            size = isinstance(func, ast.Attribute) and name in _SIZE_FUNCTIONS
            if size or (isinstance(func, ast.Name) and name == "range"):
                for arg in inner.args[: 3 if name in ("range", "arange") else 1]:
                    for n in ast.walk(arg):
                        if isinstance(n, ast.Name) and n.id in params:
                            what = "a `range` bound" if name == "range" else "an array size"
                            found.setdefault(n.id, f"{what}: `{ast.unparse(inner)}`")
        elif isinstance(inner, ast.Subscript):
            parts = inner.slice.elts if isinstance(inner.slice, ast.Tuple) else [inner.slice]
            for part in parts:
                for n in [part] + (
                    [part.lower, part.upper, part.step] if isinstance(part, ast.Slice) else []
                ):
                    if isinstance(n, ast.Name) and n.id in params:
                        found.setdefault(n.id, f"an index: `{ast.unparse(inner)}`")
    return {p: why for p, why in found.items() if p not in assigned}


# -- the report as text ----------------------------------------------------------------------------


def format_report(reports, relative_to=None):
    """The report as a compiler prints it: `path:line:col: error: message`, the line, a caret, the
    hint; what each function was checked for; a summary line."""
    out, seen, syntax = [], set(), set()
    shown = {"error": 0, "note": 0}
    for report in reports:
        for problem in report.problems:
            key = (problem.filename, problem.line, problem.message)
            where = (problem.filename, problem.line, problem.kind)
            if key in seen or (problem.kind == "UnsupportedSyntaxError" and where in syntax):
                continue  # a helper's problem, found again from another caller (in another pass's words)
            seen.add(key)
            syntax.add(where)
            shown[problem.severity] += 1
            name = _display_path(problem.filename, relative_to)
            out.append(f"{name}:{problem.line}:{problem.column}: {problem.severity}: {problem.message}")
            out.append(f"    {problem.code.strip()}")
            indent = len(problem.code) - len(problem.code.lstrip())
            if problem.column - 1 > indent:  # an expression inside the line: point at it
                out.append("    " + " " * (problem.column - 1 - indent) + "^")
            if problem.hint:
                out.append(f"  hint: {problem.hint}")
        name = _display_path(report.filename, relative_to)
        if report.problems:
            out.append(f"{name}:{report.line}: note: {describe_assumptions(report)}")
        if report.stopped:
            out.append(f"{name}:{report.line}: note: in `{report.name}`, {report.stopped}")
    if len(reports) > 1 and not any(r.where for r in reports):
        out.append(
            "note: no function of the file is given to an s2sad transform by name: every function with a "
            "parameter that may be a float or an array was checked (name one: FILE.py:func)"
        )
    total, notes = shown["error"], shown["note"]
    unchecked = f"; {notes} call{'s' if notes != 1 else ''} not checked (see the notes)" if notes else ""
    flagged = [r for r in reports if r.errors]
    if total:
        plural = "s" if total != 1 else ""
        out.append(
            f"{total} problem{plural} in {len(flagged)} function{'s' if len(flagged) != 1 else ''} "
            f"(of {len(reports)} checked){unchecked}"
        )
    elif any(r.stopped for r in reports):
        out.append(f"no problems found, but the check stopped early (see the notes){unchecked}")
    else:
        checked = ", ".join(f"{r.name}(wrt {', '.join(r.wrt) or 'nothing'})" for r in reports)
        out.append(f"no problems: s2sad can differentiate {checked}{unchecked}")
    return "\n".join(out)


def describe_assumptions(report):
    """What a function was checked for: `simulate` checked as differentiated with respect to x0, k;
    n_steps taken as an integer (an array size: `np.zeros(n_steps)`); f taken as a function (it is called)."""
    others = []
    for p, (kind, why) in report.assumed.items():
        if p in report.wrt:
            continue
        if kind in (K.INT, K.BOOL):
            others.append(f"{p} taken as an integer ({why})")
        elif K.is_function_kind(kind):
            others.append(f"{p} taken as {why}")
        else:
            others.append(f"{p} not differentiated")
    text = f"`{report.name}` checked as differentiated with respect to {', '.join(report.wrt) or 'nothing'}"
    if report.where:
        text += f", as `{report.where.split(' at ')[0]}` asks at line {report.where.split(' at line ')[-1]}"
    return "; ".join([text] + others) + "; choose with --wrt"


def _display_path(filename, relative_to):
    base = relative_to or os.getcwd()
    relative = os.path.relpath(filename, base)
    return filename if relative.startswith("..") else relative
