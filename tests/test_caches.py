"""`s2sad.cache.clear()` forgets every cache and memo in the package.

The module-level dicts, sets and lists filled at run time (found by reading every module's
source) and the `functools.lru_cache` functions are each either emptied by `clear()` or listed in
KEPT with the reason they are not a cache (tables, registries, settings, state).
"""

import ast
import importlib
import weakref
from pathlib import Path

import numpy as np

import s2sad
from s2sad import cache
from s2sad.runtime import core

PACKAGE = Path(s2sad.__file__).resolve().parent

KEPT = {
    "s2sad.cache._CLEARERS": "the forget functions `clear()` calls",
    "s2sad.config._STATE": "the analyses switch: a setting",
    "s2sad.astutil._CHILD_FIELDS": "which fields of each ast class hold nodes: a fact about Python's ast classes",
    "s2sad.frontend.nested._PIPELINE": "the pipeline's entry points (dependency injection)",
    "s2sad.frontend.nested.TRANSFORM_APIS": "the public transforms, registered by s2sad.api",
    "s2sad.frontend.nested.OUTER_ONLY_APIS": "the public transforms, registered by s2sad.api",
    "s2sad.frontend.source._SOURCES": "the source of each function compiled: it compiles again (for other "
    "shapes, or after clear()) once its file is gone",
    "s2sad.rules.RULES": "the rule table",
    "s2sad.rules.templates._TEMPLATES": "every Template (weakly): clear() empties each one's memo of how calls bind",
    "s2sad.rules.definitions.DEFINITIONS": "the table of NumPy functions defined by others",
    "s2sad.runtime.calls._COMPILER": "the compiler's entry point (dependency injection)",
    "s2sad.runtime.calls._nesting": "the state of the derivative calls running now",
    "s2sad.runtime.custom.EXTERNAL": "the user's rules for functions they do not own",
    "s2sad.api.transforms.BACKENDS": "the compiled targets, registered by their modules",
    "s2sad.cli.common.COMMANDS": "the command-line commands, registered by their modules",
    "s2sad.codegen.python.LINE_ORIGINS": "the user's line behind each line of generated code that may still run "
    "(functions compiled before clear() stay callable): the notes on their exceptions read it",
}

# how to put an entry in each lru_cache, to see it gone after clear()
LRU_CALLS = {
    "s2sad.analyses.shapes._broadcast": (((3,), (1,)),),
    "s2sad.api.transforms._parameter_count": ((lambda x: x).__code__,),
}

_CONTAINERS = {"dict", "set", "list", "defaultdict", "OrderedDict", "WeakKeyDictionary", "WeakSet", "Counter"}
_FILLERS = {"add", "setdefault", "update", "append", "extend", "insert"}


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stores_and_memos():
    """(module name, name, "container" | "lru") for every module-level container that starts empty
    or is filled by its own module, and every lru_cache function."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        module = _module_name(path)
        containers = {}
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                value, name = node.value, node.targets[0].id
                if isinstance(value, (ast.Dict, ast.Set, ast.List)):
                    containers[name] = not (getattr(value, "keys", None) or getattr(value, "elts", None))
                elif isinstance(value, ast.Call):
                    func = getattr(value.func, "id", None) or getattr(value.func, "attr", None)
                    if func in _CONTAINERS:
                        containers[name] = not value.args
            elif isinstance(node, ast.FunctionDef):
                if any(
                    "lru_cache" in ast.unparse(d) or ast.unparse(d).endswith("cache")
                    for d in node.decorator_list
                ):
                    found.append((module, node.name, "lru"))
        filled = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
            ):
                filled.add(node.value.id)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in _FILLERS and isinstance(node.func.value, ast.Name):
                    filled.add(node.func.value.id)
        for name, empty in containers.items():
            if name != "__all__" and (empty or name in filled):
                found.append((module, name, "container"))
    return found


class _Sentinel:
    pass


def _cleared(store):
    """Put a sentinel in `store`, call `cache.clear()`: is it gone? (Removed again either way.)"""
    sentinel = _Sentinel()
    if isinstance(store, (dict, weakref.WeakKeyDictionary)):
        store[sentinel] = None
    elif isinstance(store, list):
        store.append(sentinel)
    else:
        store.add(sentinel)
    cache.clear()
    gone = sentinel not in store
    if not gone:
        (
            store.pop(sentinel)
            if isinstance(store, (dict, weakref.WeakKeyDictionary))
            else store.remove(sentinel)
        )
    return gone


def test_the_scan_finds_the_caches():
    found = {f"{m}.{n}" for m, n, _ in stores_and_memos()}
    for name in ("s2sad.cache.COMPILED", "s2sad.runtime.core._LAST_WRITES", "s2sad.frontend.nested._ALIVE"):
        assert name in found
    assert "s2sad.analyses.shapes._broadcast" in found


def test_clear_forgets_every_cache():
    importlib.import_module("s2sad.api.numba_backend")  # (imported on first use of the numba target)
    kept, missed = set(), []
    for module, name, kind in stores_and_memos():
        qualified = f"{module}.{name}"
        if qualified in KEPT:
            kept.add(qualified)
            continue
        store = getattr(importlib.import_module(module), name)
        if kind == "lru":
            assert qualified in LRU_CALLS, f"{qualified}: say in LRU_CALLS how to fill it"
            store(*LRU_CALLS[qualified])
            assert store.cache_info().currsize > 0
            cache.clear()
            if store.cache_info().currsize:
                missed.append(qualified)
        elif not _cleared(store):
            missed.append(qualified)
    assert not missed, f"not emptied by s2sad.cache.clear() (register them with cache.on_clear): {missed}"
    assert kept == set(KEPT), f"listed in KEPT but no longer found: {set(KEPT) - kept}"


def test_a_memo_outside_clear_is_caught():
    cache._CLEARERS.remove(core.clear_memos)
    try:
        assert not _cleared(core._LAST_WRITES)
    finally:
        cache.on_clear(core.clear_memos)


def test_clear_then_compile_again():
    def f(x):
        return np.sum(np.sin(x) * x)

    x = np.linspace(0.1, 1.0, 5)
    first = s2sad.grad(f)(x)
    cache.clear()
    assert np.array_equal(s2sad.grad(f)(x), first)
