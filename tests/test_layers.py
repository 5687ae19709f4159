"""The package's layers: imports point down only, and no import hides inside a function.

The import graph is read from the source with `ast` (nothing is imported). Each module belongs to a
layer, listed from the top; a module may import its own folder and the layers below it, never one
above, and never a sibling on its own row (`frontend` and `transforms` do not import each other).
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "s2sad"

# top to bottom; the packages (folders) or modules of each layer
LAYERS = [
    ["__main__"],  # `python -m s2sad` runs the command line
    ["__init__", "cli", "testing"],  # the public names; the command line (on top of api)
    ["api"],
    ["pipeline"],
    ["loading"],  # running generated code, the Compiled record, the disk cache entries
    ["frontend", "transforms"],
    ["optimize", "peepholes", "codegen"],
    ["analyses"],
    ["rules"],
    ["runtime"],
    ["signatures"],
    ["trees"],
    ["stages"],
    ["cache", "config", "errors", "kinds", "modes", "astutil"],
]
OPTIONAL = {"numba", "scipy"}  # optional dependencies may be imported where they are used
# the one deferred import of a required dependency: black, whose import costs more than all of
# `import s2sad` and is needed only for formatted source (`s2sad.source`, `emit`, the command line)
DEFERRED = {("s2sad.codegen.python", "black")}
# what an emitted file needs besides the runtime package (numba: runtime/numba.py, for the numba target)
RUNTIME_MAY_IMPORT = {"numpy", "numba", "errors"}


def _rank(unit):
    for rank, row in enumerate(LAYERS):
        if unit in row:
            return rank
    raise AssertionError(f"s2sad.{unit} is in no layer of tests/test_layers.py: add it to LAYERS")


def _modules(root=PACKAGE):
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield ".".join(parts), path


def _unit(module):
    """The layer unit of a dotted module: its first folder or module under `s2sad`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path, module):
    """(imported module, line, inside a function?) for every import of the file at `path`."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module
                names = [f"{target}.{alias.name}" for alias in child.names]
                # `from . import rules`: the module imported is `s2sad.rules`
                out.extend((n if _is_module(n) else target, child.lineno, in_function) for n in names)
            visit(child, inner)

    visit(tree, False)
    return out


def _is_module(dotted):
    if not dotted.startswith("s2sad."):
        return False
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations(root=PACKAGE):
    found = []
    for module, path in _modules(root):
        unit = _unit(module)
        rank = _rank(unit)
        for target, line, in_function in imports(path, module):
            where = f"{path.relative_to(root.parent)}:{line}"
            top = target.split(".")[0]
            if in_function and top not in OPTIONAL and (module, top) not in DEFERRED:
                found.append(f"{where}: `{target}` is imported inside a function (import it at the top)")
            if (
                unit == "runtime"
                and top != "s2sad"
                and top not in sys.stdlib_module_names | RUNTIME_MAY_IMPORT
            ):
                found.append(f"{where}: the runtime imports `{target}`: it may use NumPy only")
            if top != "s2sad" or target == "s2sad":
                continue
            other = _unit(target)
            if other == unit:
                continue
            if unit == "runtime" and other not in RUNTIME_MAY_IMPORT:
                found.append(f"{where}: the runtime imports the compiler (`{target}`)")
            elif _rank(other) < rank:
                found.append(f"{where}: `{module}` imports `{target}`, a layer above it")
            elif _rank(other) == rank:
                found.append(f"{where}: `{module}` imports `{target}`, a sibling on its layer")
    return found


def test_imports_point_down_only():
    found = violations()
    assert not found, "layer violations:\n" + "\n".join(found)


def test_the_checker_sees_a_runtime_importing_the_compiler(tmp_path):
    """The checker itself: a copy of the package whose runtime imports the pipeline fails."""
    copy = tmp_path / "s2sad"
    for module, path in _modules():
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    bad = copy / "runtime" / "core.py"
    bad.write_text(
        bad.read_text() + "\n\ndef compile_it(f):\n    from ..pipeline import compile_derivative\n\n"
        "    return compile_derivative\n"
    )
    found = violations(copy)
    assert any("runtime imports the compiler" in f for f in found)
    assert any("inside a function" in f for f in found)


@pytest.mark.parametrize("unit", sorted({_unit(m) for m, _ in _modules()}))
def test_every_module_has_a_layer(unit):
    _rank(unit)
