"""Copies of run-time helpers for a standalone derivative file: the dependency closure of the
`_rt.<name>` helpers generated code calls, read from the source of `s2sad.runtime` (and `s2sad.errors`,
the one s2sad module the run-time layer imports), so an emitted file runs where s2sad is not installed.

A helper's closure is every module-level definition its body reads (functions, classes, constants),
followed through `from .core import ...` into the other run-time modules; the modules' own imports
(NumPy and the standard library) come along as import lines. Definitions are copied as written,
comments included, in the order their modules define them.

>>> section = vendor(["zeros_like"])
>>> print(section.imports)
['import numpy as np']
>>> [line for line in section.code.splitlines() if line.startswith(("#", "def", "class"))]
['# from s2sad.runtime.core (core.py)', 'class CotangentRecord(dict):', 'def zeros_like(x):']
>>> section.names
{'zeros_like': 'zeros_like'}
"""

import ast
import builtins
from dataclasses import dataclass
from pathlib import Path

from .. import cache
from ..errors import S2sadError

PACKAGE = Path(__file__).resolve().parents[1]  # s2sad/
RUNTIME = "s2sad.runtime"
# modules a copy may come from: the run-time layer and the exceptions it raises
VENDORABLE = ("s2sad.runtime", "s2sad.errors")
# module-level names that tie a helper to the compiler (derivatives compiled when the code runs)
NEEDS_COMPILER = {("s2sad.runtime.calls", "_COMPILER")}


class NotStandaloneError(S2sadError):
    """A run-time helper that cannot be copied into a standalone file."""


@dataclass
class Section:
    imports: list  # import lines the copies need (`import numpy as np`), sorted
    code: str  # the copied definitions
    names: dict  # helper name asked for -> the name it has in `code`
    modules: list  # the s2sad modules the copies come from


class _Module:
    """The module-level bindings of one s2sad module, read from its source."""

    def __init__(self, dotted):
        self.dotted = dotted
        parts = dotted.split(".")[1:]
        path = PACKAGE.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        self.path = path
        self.text = path.read_text()
        self.tree = ast.parse(self.text)
        self.definitions = {}  # name -> (order, statement)
        self.imports = {}  # bound name -> import line (a module outside s2sad)
        self.aliases = {}  # bound name -> (s2sad module, its name there)
        self.stars = []  # s2sad modules imported with `*`
        package = dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
        for order, stmt in enumerate(self.tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                self.definitions[stmt.name] = (order, stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for node in ast.walk(target):
                        if isinstance(node, ast.Name):
                            self.definitions[node.id] = (order, stmt)
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                    self.imports[bound] = line
            elif isinstance(stmt, ast.ImportFrom):
                source = stmt.module or ""
                if stmt.level:
                    base = package.split(".")[: len(package.split(".")) - stmt.level + 1]
                    source = ".".join(base + ([stmt.module] if stmt.module else []))
                for alias in stmt.names:
                    if source.split(".")[0] == "s2sad":
                        if alias.name == "*":
                            self.stars.append(source)
                        else:
                            self.aliases[alias.asname or alias.name] = (source, alias.name)
                    else:
                        line = f"from {source} import {alias.name}" + (
                            f" as {alias.asname}" if alias.asname else ""
                        )
                        self.imports[alias.asname or alias.name] = line

    def segment(self, stmt):
        """The statement's source as written, with the comment lines right above it."""
        lines = self.text.splitlines()
        start = stmt.lineno - 1
        if getattr(stmt, "decorator_list", None):
            start = min(d.lineno for d in stmt.decorator_list) - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        return "\n".join(lines[start : stmt.end_lineno])


_MODULES = {}  # dotted module name -> its parsed source
cache.on_clear(_MODULES.clear)


def _module(dotted):
    if dotted not in _MODULES:
        _MODULES[dotted] = _Module(dotted)
    return _MODULES[dotted]


def _reads(stmt):
    """The global names a definition reads: names it loads but does not bind itself (parameters,
    assignments, loop variables, imports inside it)."""
    bound = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not stmt:
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        bound = set()  # a module constant's own target is not a local
    return {node.id for node in ast.walk(stmt) if isinstance(node, ast.Name) and node.id not in bound}


def _resolve(dotted, name, seen=()):
    """(module, name) of the definition `name` means in module `dotted`, ("import", line) for an
    import outside s2sad, or None (a builtin, a local variable)."""
    if (dotted, name) in seen:
        return None
    module = _module(dotted)
    if name in module.definitions:
        return dotted, name
    if name in module.imports:
        return "import", module.imports[name]
    if name in module.aliases:
        source, original = module.aliases[name]
        if not source.startswith(VENDORABLE):
            raise NotStandaloneError(
                f"the run-time helper module {dotted} reads `{name}` from {source}, which is not part of "
                "the run-time layer: it cannot be copied into a standalone file",
                hint="keep s2sad/runtime/ importing NumPy and s2sad.errors only (tests/test_layers.py)",
            )
        if _is_package_module(f"{source}.{original}"):
            return None
        return _resolve(source, original, seen + ((dotted, name),))
    for star in module.stars:
        found = _resolve(star, name, seen + ((dotted, name),))
        if found is not None and found[0] != "import":
            return found
    return None


def _is_package_module(dotted):
    path = PACKAGE.joinpath(*dotted.split(".")[1:])
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _registrations(definitions):
    """Definitions whose decorators name a function already copied (numba's `@overload(like)`
    registers `_like` as the typed version of `like`): they belong with it."""
    out = []
    for dotted in {d for d, _ in definitions}:
        for name, (_, stmt) in _module(dotted).definitions.items():
            decorators = getattr(stmt, "decorator_list", [])
            reads = {n.id for d in decorators for n in ast.walk(d) if isinstance(n, ast.Name)}
            named = [_resolve(dotted, read) for read in reads]
            if (dotted, name) not in definitions and any(
                key in definitions and not isinstance(definitions[key][1], (ast.Assign, ast.AnnAssign))
                for key in named
            ):
                out.append((dotted, name))
    return out


def closure(names, root=RUNTIME):
    """The definitions ((module, name) pairs) and import lines the run-time helpers `names` of the
    module `root` need."""
    todo = []
    for name in names:
        found = _resolve(root, name)
        if found is None or found[0] == "import":
            raise NotStandaloneError(f"`_rt.{name}` is not a helper of {root}")
        todo.append(found)
    definitions, imports = {}, set()
    while True:
        _follow(todo, definitions, imports)
        todo = _registrations(definitions)
        if not todo:
            return definitions, imports


def _follow(todo, definitions, imports):
    while todo:
        key = todo.pop()
        if key in definitions:
            continue
        if key in NEEDS_COMPILER:
            raise NotStandaloneError(
                "this derivative calls derivatives that s2sad compiles while it runs (a recursive function, "
                "or a call s2sad could not inline): it cannot run without s2sad",
                hint="use s2sad.grad / s2sad.vjp in a program that imports s2sad, or make the callee "
                "non-recursive so it is inlined",
            )
        dotted, name = key
        order, stmt = _module(dotted).definitions[name]
        definitions[key] = (order, stmt)
        for read in sorted(_reads(stmt)):
            found = _resolve(dotted, read)
            if found is None:
                if not hasattr(builtins, read) and not _is_package_module(f"{dotted}.{read}"):
                    raise NotStandaloneError(
                        f"`{name}` of {dotted} reads `{read}`, which is not a module-level definition, an "
                        "import or a builtin there: it cannot be copied into a standalone file",
                        hint="define run-time helpers at module level (no `if` / `try` around them)",
                    )
                continue
            if found[0] == "import":
                imports.add(found[1])
            elif found != key:
                todo.append(found)


def vendor(names, taken=(), root=RUNTIME):
    """The copies of run-time helpers `names` as one `Section`. A copied definition whose name is in
    `taken` (names the file binds otherwise) or is defined by two modules is renamed, and so are the
    reads of it in the copies."""
    definitions, imports = closure(names, root)
    modules = sorted({dotted for dotted, _ in definitions}, key=lambda m: (m != RUNTIME + ".core", m))
    count = {}
    for _, name in definitions:
        count[name] = count.get(name, 0) + 1
    renames = {}  # (module, name) -> the name in the file
    used = set(taken)
    for key in sorted(definitions, key=lambda k: (modules.index(k[0]), definitions[k][0])):
        dotted, name = key
        new = name
        if name in used or count[name] > 1:
            stem = dotted.rpartition(".")[2]
            new = f"{name}_{stem}"
            while new in used:
                new += "_"
        used.add(new)
        renames[key] = new
    chunks, done = [], set()
    for dotted in modules:
        module = _module(dotted)
        mine = sorted((order, name) for (d, name), (order, _) in definitions.items() if d == dotted)
        texts = [f"# from {dotted} ({module.path.name})"]
        for order, name in mine:
            if (dotted, order) in done:  # one statement binding two names (`A, B = ...`)
                continue
            done.add((dotted, order))
            stmt = definitions[(dotted, name)][1]
            local = {read: _resolve(dotted, read) for read in _reads(stmt)}
            mapping = {
                read: renames[found]
                for read, found in local.items()
                if found in renames and renames[found] != read
            }
            texts.append(_renamed(module.segment(stmt), stmt, mapping, renames, dotted))
        chunks.append("\n\n\n".join(texts))
    names_out = {}
    for name in names:
        names_out[name] = renames[_resolve(root, name)]
    code = "\n\n\n".join(chunks)
    return Section(sorted(imports, key=_import_order), code, names_out, modules)


def _import_order(line):
    return (line.startswith("from "), line)


def _renamed(text, stmt, mapping, renames, dotted):
    """`text` (the source of `stmt`) with the names in `mapping` renamed; a definition renamed itself
    is re-rendered from its tree (comments inside it are lost, its behaviour is not)."""
    own = [n for (d, n), new in renames.items() if d == dotted and new != n and n in _bound(stmt)]
    if not mapping and not own:
        return text
    tree = ast.parse(ast.unparse(stmt))
    full = dict(mapping)
    full.update({n: renames[(dotted, n)] for n in own})
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in full:
            node.id = full[node.id]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node in tree.body:
            node.name = full.get(node.name, node.name)
    return ast.unparse(tree)


def _bound(stmt):
    if isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return {node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)}
