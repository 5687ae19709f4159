"""A derivative as a standalone module: the file `s2sad.emit` writes and `python -m s2sad emit` saves.

The module imports NumPy (and `math`, ... only when its code uses them), imports the user's names
its code reads by name (`from lec import KICKS, helper`, never `*`), and carries copies of the
run-time helpers it calls (`s2sad.codegen.vendor`) in a marked section, so it runs where s2sad is
not installed. A value that cannot be imported by name (a constant of `__main__`, a closure
variable) is written as a literal with a comment; a function that cannot be imported is refused.

>>> import numpy as np
>>> text = "def f_vjp(x, out_bar=1.0):\\n    return (np.sin(x), _rt.unbroadcast(out_bar * np.cos(x), x))\\n"
>>> module = standalone_module(text, {"np": np}, home="__main__", version="0.1")
>>> module.splitlines()[:3]
['from types import SimpleNamespace', '', 'import numpy as np']
>>> any(line.startswith(("import s2sad", "from s2sad")) for line in module.splitlines())
False
>>> "_rt = SimpleNamespace(unbroadcast=unbroadcast)" in module
True
"""

import ast
import builtins
import importlib.util
import re
import sys
import types

import numpy as np

from ..errors import S2sadError
from .python import format_source
from .vendor import RUNTIME as RUNTIME_PACKAGE, vendor

LITERAL_LIMIT = 1000  # arrays up to this many items are written into the file as literals
MARK = "# " + "-" * 86


class StandaloneError(S2sadError):
    """The derivative reads a value an emitted file cannot import or write down."""


def _globals_read(tree):
    """Names the module's functions read from module scope, in order of first use."""
    out = {}
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef):
            continue
        local = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        local |= {
            n.id for n in ast.walk(function) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
        }
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                out.setdefault(node.id, None)
    return [n for n in out if not hasattr(builtins, n)]


def _helpers_called(tree):
    return sorted(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "_rt"
        }
    )


def _importable(module):
    """Whether `module` can be imported by name (not `__main__`, found on the import path)."""
    if not module or module == "__main__" or module not in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None


def _literal(value, depth=0):
    """Source text of `value` as a literal (None if it has none)."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        text = repr(value)
        return text if "inf" not in text and "nan" not in text else f"float({str(value)!r})"
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return f"np.{value.dtype.name}({value.item()!r})"
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc" and value.size <= LITERAL_LIMIT:
        return f"np.array({value.tolist()!r}, dtype=np.{value.dtype.name})"
    if isinstance(value, (tuple, list)) and depth < 4:
        items = [_literal(v, depth + 1) for v in value]
        if None in items:
            return None
        if isinstance(value, tuple):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    return None


def _owner(name, value, modules):
    """(module, attribute) of the first importable module in `modules` that holds `value`, by the
    name `name` if it can (an inlined helper's global may have been renamed)."""
    for module in modules:
        if not _importable(module):
            continue
        found = vars(sys.modules[module])
        if found.get(name, _MISSING) is value:
            return module, name
        for attribute, held in found.items():
            if held is value and not attribute.startswith("__"):
                return module, attribute
    return None


def _import_line(module, attribute, name):
    return f"from {module} import {attribute}" + (f" as {name}" if attribute != name else "")


def _source_of(name, value, home, namespace_globals, modules):
    """(`import` line or None, literal assignment or None) for the module-level `name` = `value`;
    `modules` are the modules whose code the derivative holds (the function's first)."""
    if isinstance(value, types.ModuleType):
        module = value.__name__
        if module == name:
            return f"import {module}", None
        if "." in module and module.rpartition(".")[2] == name:
            return f"from {module.rpartition('.')[0]} import {name}", None
        return f"import {module} as {name}", None
    owner = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if (
        callable(value)
        and isinstance(owner, str)
        and isinstance(qualname, str)
        and "." not in qualname
        and "<" not in qualname
        and _importable(owner)
        and getattr(sys.modules[owner], qualname, None) is value
    ):
        return _import_line(owner, qualname, name), None
    found = _owner(name, value, modules)
    if found is not None:
        return _import_line(*found, name), None
    literal = None if callable(value) else _literal(value)
    if namespace_globals.get(name, _MISSING) is value:
        where = f"{home}.{name}"
    else:
        where = next(
            (f"{m}.{name}" for m in modules if vars(sys.modules.get(m, types)).get(name) is value), None
        )
        where = where or f"the closure variable {name}"
    if literal is not None:
        return None, f"# the value of {where} when this file was written\n{name} = {literal}"
    kind = "function" if callable(value) else f"{type(value).__name__} value"
    raise StandaloneError(
        f"the derivative reads `{name}`, a {kind} of {where.rpartition('.')[0] or where}, which a "
        "standalone file cannot import by name"
        + (" (a module run as a script is `__main__`)" if where.startswith("__main__.") else ""),
        hint=f"move `{name}` (and the function you differentiate) into a module of its own and import it "
        "from there; numbers, strings and small arrays are written into the file instead",
    )


_MISSING = object()


def standalone_module(text, namespace, home, version, namespace_globals=None, sources=()):
    """The standalone module around the derivative source `text` (functions with header comments),
    whose functions read module-level names from `namespace`; `home` is the differentiated
    function's module, `namespace_globals` its globals (default: `namespace`), `sources` the files
    of the helpers inlined into it (their modules hold the other names it reads)."""
    namespace_globals = namespace if namespace_globals is None else namespace_globals
    files = set(sources)
    modules = [home] + sorted(
        name
        for name, module in list(sys.modules.items())
        if name != home and getattr(module, "__file__", None) in files
    )
    tree = ast.parse(text)
    helpers = _helpers_called(tree)
    stdlib, third, user, literals = set(), set(), set(), []
    for name in _globals_read(tree):
        if name == "_rt":
            continue
        if name not in namespace:
            raise StandaloneError(
                f"the derivative reads `{name}`, which is not defined where the function is"
            )
        line, literal = _source_of(name, namespace[name], home, namespace_globals, modules)
        if literal is not None:
            literals.append(literal)
            if "np." in literal:
                third.add("import numpy as np")
            continue
        top = line.split()[1].split(".")[0]
        if top in sys.stdlib_module_names:
            stdlib.add(line)
        elif any(top == m.split(".")[0] for m in modules if m):
            user.add(line)
        else:
            third.add(line)
    section = None
    if helpers:
        taken = set(_globals_read(tree)) | {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
        section = vendor(helpers, taken | {"_rt", "SimpleNamespace"})
        for line in section.imports:
            top = line.split()[1].split(".")[0]
            (stdlib if top in sys.stdlib_module_names else third).add(line)
        stdlib.add("from types import SimpleNamespace")
    lines = text.splitlines()
    comments = 0
    while comments < len(lines) and (lines[comments].startswith("#") or not lines[comments].strip()):
        comments += 1
    header = "\n".join(lines[:comments]).strip()
    text = "\n".join(lines[comments:]) + "\n"
    parts = [_imports(stdlib), _imports(third), _imports(_merged(user))]
    out = (header + "\n\n" if header else "") + "\n\n".join(p for p in parts if p) + "\n"
    if literals:
        out += "\n" + "\n".join(literals) + "\n"
    if section is not None:
        fields = ", ".join(f"{n}={section.names[n]}" for n in helpers)
        sources = ", ".join(m.replace(".", "/") + ".py" for m in section.modules)
        out += (
            f"\n\n{MARK}\n# run-time helpers copied from s2sad {version} ({sources}),\n"
            "# so this file runs without s2sad installed; do not edit: emit the file again\n"
            f"{MARK}\n\n\n{section.code}\n\n\n_rt = SimpleNamespace({fields})\n"
            f"# end of the copied run-time helpers\n{MARK}\n"
        )
    return format_source(out + "\n\n" + text)


def _merged(lines):
    """`from m import a` and `from m import b` as `from m import a, b`."""
    merged, plain = {}, []
    for line in sorted(lines):
        if line.startswith("from ") and " as " not in line:
            module, _, name = line[5:].partition(" import ")
            merged.setdefault(module, []).append(name)
        else:
            plain.append(line)
    return sorted(plain + [f"from {m} import {', '.join(sorted(names))}" for m, names in merged.items()])


def _imports(lines):
    return "\n".join(sorted(lines, key=lambda line: (line.startswith("from "), line)))


NUMBA_RUNTIME = "s2sad.runtime.numba"


def standalone_numba_module(text, version, import_line=f"from {RUNTIME_PACKAGE} import numba as _rt"):
    """The numba target's module `text` with the helpers of `s2sad.runtime.numba` it calls copied in
    (numba reads module globals, not a namespace object, so a call `_rt.NAME(...)` becomes `NAME(...)`)."""
    tree = ast.parse(text)
    helpers = _helpers_called(tree)
    if import_line not in text:
        return text
    if not helpers:
        return format_source(text.replace(import_line + "\n", ""))
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)
    }
    section = vendor(helpers, taken, root=NUMBA_RUNTIME)
    lines = text.replace(import_line + "\n", "").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("@") or line.startswith("def "))
    head = [line for line in lines[:first] if not line.startswith(("import ", "from "))]
    imports = {line for line in lines[:first] if line.startswith(("import ", "from "))} | set(section.imports)
    stdlib = {line for line in imports if line.split()[1].split(".")[0] in sys.stdlib_module_names}
    header = "\n".join(line for line in head if line.startswith("#"))
    body = "\n".join(lines[first:])
    body = re.sub(r"\b_rt\.(\w+)\b", lambda m: section.names[m.group(1)], body)
    sources = ", ".join(m.replace(".", "/") + ".py" for m in section.modules)
    out = (
        f"{header}\n\n{_imports(stdlib)}\n\n{_imports(imports - stdlib)}\n\n\n{MARK}\n"
        f"# run-time helpers copied from s2sad {version} ({sources}),\n"
        "# so this file runs without s2sad installed; do not edit: emit the file again\n"
        f"{MARK}\n\n\n{section.code}\n\n\n# end of the copied run-time helpers\n{MARK}\n\n\n{body}\n"
    )
    return format_source(out)
