"""Running generated code: `exec` under a file name of its own, registered with `linecache` (so
tracebacks and `inspect.getsource` show it) and with the user's lines behind it (`LINE_ORIGINS`); the
`Compiled` record the transforms call; and the disk cache's entries (`s2sad.cache`): what another
process needs to run the same text again without generating it (the names the compiler added to its
namespace, as recipes to find them again; never pickles)."""

import itertools
import json
import linecache
import math
import sys
import types
from dataclasses import dataclass, field

import numpy as np

from . import cache, runtime
from .codegen.python import LINE_ORIGINS
from .frontend.fingerprint import derivative_key
from .frontend.nested import user_where
from .frontend.source import function_namespace
from .modes import Mode
from .trees import tree_calls

_MISSING = object()
_COUNTER = itertools.count(1)
TEMPLATE_GLOBALS = {"np": np, "math": math, "_rt": runtime}


@dataclass
class Compiled:
    """A compiled derivative and its source."""

    function: object
    source: str
    mode: str
    output_kind: str
    params: list
    active_inputs: list
    extra: dict = field(default_factory=dict)


def run_source(text, mode, name, namespace, origins):
    """Run generated `text` in `namespace`, registered with `linecache` under a name of its own
    (`origins`: where each `# file.py:N:` comment points, for s2sad.api.boundary)."""
    filename = f"<s2sad {mode} {name} #{next(_COUNTER)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    LINE_ORIGINS[filename] = origins
    code = compile(text, filename, "exec")
    exec(code, namespace)
    return code


def compiled_record(function, meta, text, namespace, input_kinds, active_inputs, has_aux):
    """The `Compiled` record of generated code run in `namespace` (`meta`: what the passes learned)."""
    mode = Mode(meta["mode"])
    objects = {role: namespace[name] for role, name in meta["names"].items()}
    main = objects.get("jvp") or objects.get("grad") or objects.get("vjp") or objects["forward"]
    if mode is Mode.GRAD and "grad" not in objects:
        mode = Mode.REVERSE  # the value is returned too: the caller checks its shape
    spans = [(i, slice(start, stop)) for i, start, stop in meta["tree_spans"]] if meta["tree_spans"] else None
    if spans:
        objects = tree_calls(objects, input_kinds, active_inputs, spans, has_aux)
        main = objects.get("jvp") or objects.get("grad") or objects.get("vjp") or objects["forward"]
    if meta.get("calls_derivatives") and mode is not Mode.SPLIT:
        main = runtime.runs_nested(main, function)
    return Compiled(
        function=main,
        source=text,
        mode=mode,
        output_kind=meta["output_kind"],
        params=list(meta["params"]),
        active_inputs=list(active_inputs),
        extra={
            "objects": objects,
            "container_output": meta["container_output"],
            "where": user_where(function, tuple(meta["where"])),
            # what another code target needs: the generated functions' names, their namespace
            "names": dict(meta["names"]),
            "namespace": namespace,
            "tree_spans": spans,
        },
    )


# -- the disk cache: generated source kept across processes (s2sad.cache) ------------------------


def entry_key(function, mode, active_inputs, input_kinds, has_aux, input_shapes, target="python"):
    """The disk-cache key of a compilation (`s2sad.frontend.fingerprint`), None if it is not kept."""
    if not cache.disk_enabled():
        return None
    options = (mode.value, active_inputs, input_kinds, bool(has_aux), input_shapes)
    return derivative_key(function, options if target == "python" else options + (target,))


def _base_namespace(function):
    """The namespace generated code runs in before the compiler adds to it: the function's globals
    and closure cells, and the names generated code calls NumPy, math and the runtime by."""
    namespace = function_namespace(function)
    for name, value in TEMPLATE_GLOBALS.items():
        if namespace.setdefault(name, value) is not value:
            return None  # (the compiler's error says so: generate)
    return namespace


_CONSTANTS = (bool, int, float, str, type(None))


def _recipe(value):
    """How another process finds `value` again: a loaded module, an object by module and qualified
    name, or a constant (a number, a string, a tuple of them); None if it cannot."""
    if type(value) in _CONSTANTS:
        return ["const", type(value).__name__, value if type(value) is str else repr(value)]
    if type(value) is tuple:
        items = [_recipe(item) for item in value]
        return None if None in items else ["tuple", items]
    if isinstance(value, types.ModuleType):
        return ["module", value.__name__]
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        return ["object", module, qualname]
    return None


_READ_CONSTANT = {"bool": lambda text: text == "True", "int": int, "float": float, "str": str}


def _follow(recipe):
    """The value `recipe` stands for; LookupError if it is not there (nothing is imported)."""
    how = recipe[0]
    if how == "const":
        return None if recipe[1] == "NoneType" else _READ_CONSTANT[recipe[1]](recipe[2])
    if how == "tuple":
        return tuple(_follow(item) for item in recipe[1])
    value = sys.modules.get(recipe[1])
    if value is None:
        raise LookupError(recipe[1])
    if how == "object":
        for part in recipe[2].split("."):
            value = getattr(value, part)
    return value


def _same(value, found):
    if type(value) in _CONSTANTS or type(value) is tuple:
        return type(found) is type(value) and repr(found) == repr(value)
    return found is value


def store_entry(function, key, meta, text, code, namespace):
    """Write the entry of generated `text` if every name it reads that the compiler added to its
    namespace (inlined helpers, constants, the functions of custom rules) can be found again."""
    base = _base_namespace(function)
    try:
        if base is None or _interned(json.loads(json.dumps(meta["output_kind"]))) != meta["output_kind"]:
            return  # (a kind naming a class: the key's description covers it, JSON does not)
    except (TypeError, ValueError):
        return
    names, stack = set(), [code]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    recipes = {}
    for name in sorted(names):
        if name not in namespace or base.get(name, _MISSING) is namespace[name]:
            continue
        value, recipe = namespace[name], _recipe(namespace[name])
        try:
            if recipe is None or not _same(value, _follow(recipe)):
                return
        except (LookupError, AttributeError):
            return
        recipes[name] = recipe
    cache.write_entry("derivatives", key, dict(meta, recipes=recipes), text)


def _interned(value):
    """JSON's lists back to tuples and its strings interned (kinds are compared with `is`)."""
    if isinstance(value, list):
        return tuple(_interned(item) for item in value)
    return sys.intern(value) if isinstance(value, str) else value


def load_entry(function, key, input_kinds, active_inputs, has_aux):
    """The compiled derivative from the disk cache's entry `key`, or None (no entry, a damaged one,
    or a name of its namespace that cannot be found again in this process)."""
    entry = cache.read_entry("derivatives", key)
    if entry is None:
        return None
    meta, text = entry
    try:
        namespace = _base_namespace(function)
        if namespace is None:
            return None
        for name, recipe in meta["recipes"].items():
            namespace[name] = _follow(recipe)
        meta["output_kind"] = _interned(meta["output_kind"])
        origins = {comment: tuple(where) for comment, where in meta["origins"].items()}
        run_source(text, Mode(meta["mode"]), meta["name"], namespace, origins)
        return compiled_record(function, meta, text, namespace, input_kinds, active_inputs, has_aux)
    except Exception:  # a well-formed entry that does not fit (an older layout): generate again
        return None
