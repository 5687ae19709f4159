"""What a derivative's generated code depends on, described as text another process can compare:
the key of the disk cache (`s2sad.cache`, `s2sad.pipeline`).

A key covers the compiler (s2sad's version and its files' sizes and times), Python's and NumPy's
versions, the options of the compilation (mode, differentiated arguments, their kinds and
shapes, has_aux, whether the analyses are on), the source of the function, and every global and
closure value it and the Python functions it reads (followed as `nested.reads_key` follows them)
read: scalars and containers by value, arrays by dtype and shape only (generated code reads
their values when it runs), functions by their source, modules by version or file content,
other objects by their attributes. Rules registered by the program are covered by their
templates' text. A value with no such description makes the key None: that derivative is cached
in memory only.

>>> import numpy as np
>>> describe((1, 2.0, np.zeros((2, 3))))
['tuple', [['int', '1'], ['float', '2.0'], ['array', '<f8', [2, 3]]]]
>>> def f(x):
...     return x * 2.0
>>> len(derivative_key(f, ("grad", (0,), ("float",), False, None)))
64
"""

import hashlib
import json
import linecache
import os
import sys
import types

import numpy as np

from .. import cache, config
from ..rules import RULES
from ..runtime.custom import EXTERNAL, CustomFunction
from .nested import places_read, transform_of
from .source import compiled_source

_FOREIGN = ("numpy", "scipy", "s2sad", "math", "builtins", "_operator", "operator")
_SCALARS = (bool, int, float, complex, str, type(None))
_MAX_ITEMS = 20000  # a bigger container (a long list of floats read by the code) is not described
_MAX_DEPTH = 8


class Unstable(Exception):
    """A value with no description another process could compare (the key is then None)."""


def _digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_FILES = {}  # (path, size, mtime) -> sha256 of the file's content


def _file_hash(path):
    try:
        stat = os.stat(path)
        memo = (path, stat.st_size, stat.st_mtime_ns)
        if memo not in _FILES:
            with open(path, "rb") as handle:
                _FILES[memo] = hashlib.sha256(handle.read()).hexdigest()
        return _FILES[memo]
    except OSError:
        raise Unstable(path) from None


_STAMP = []


def compiler_stamp():
    """s2sad's version and the sizes and times of its source files: generated code made by an
    edited compiler (an editable install) is never read back."""
    if not _STAMP:
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        files = []
        for folder, _, names in sorted(os.walk(package)):
            for name in sorted(names):
                if name.endswith(".py"):
                    stat = os.stat(os.path.join(folder, name))
                    files.append(
                        f"{os.path.relpath(os.path.join(folder, name), package)}:{stat.st_size}:{stat.st_mtime_ns}"
                    )
        version = getattr(sys.modules.get("s2sad"), "__version__", "?")
        _STAMP.append(version + ":" + _digest("\n".join(files)))
    return _STAMP[0]


def _module_version(name):
    """What stands for a module's code: nothing for the standard library (Python's version is in
    the key), a package's `__version__`, else the sha256 of the module's file."""
    top = (name or "").split(".")[0]
    if top in sys.stdlib_module_names or top in ("builtins", "s2sad"):
        return None
    package = sys.modules.get(top)
    version = getattr(package, "__version__", None)
    if isinstance(version, str) and top in _FOREIGN:
        return version
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if path is None:
        if isinstance(version, str):
            return version
        raise Unstable(name)
    return [version if isinstance(version, str) else None, _file_hash(path)]


def _source_hash(function):
    """Where `function` is and the content of its file (read as bytes, hashed once per file
    version: `inspect`'s tokenizer would cost a first call ~40 ms). Any edit of the file gives new
    keys to its functions. If this process compiled the function from text that is no longer the
    file's (it was edited since), the derivative is not kept on disk."""
    code = function.__code__
    filename = code.co_filename
    if os.path.isfile(filename) and code.co_name != "<lambda>":
        content = _file_hash(filename)
    else:  # a lambda (parsed from linecache's copy of its file), a notebook cell
        lines = linecache.getlines(filename)
        if not lines:
            raise Unstable(filename)
        content = _digest("".join(lines))
    compiled = compiled_source(function)
    if compiled is not None:
        lines, first = compiled
        linecache.checkcache(filename)
        now = linecache.getlines(filename)
        if now[first - 1 : first - 1 + len(lines)] != list(lines):
            raise Unstable(filename)
    return [filename, code.co_firstlineno, function.__qualname__, content]


def describe(value, depth=0, budget=None):
    """A JSON-able description of `value` as far as code generation depends on it (see the module
    docstring); raises `Unstable` for a value that has none."""
    budget = budget if budget is not None else [_MAX_ITEMS]
    budget[0] -= 1
    if depth > _MAX_DEPTH or budget[0] < 0:
        raise Unstable("too deep or too large")
    kind = type(value)
    if kind in _SCALARS:
        return [kind.__name__, repr(value)]
    if kind is np.ndarray:
        if value.dtype.hasobject:
            raise Unstable("an object array")
        return ["array", value.dtype.str, list(value.shape)]
    if isinstance(value, np.generic):
        return ["numpy", value.dtype.str, repr(value.item())]
    if kind in (tuple, list):
        return [kind.__name__, [describe(item, depth + 1, budget) for item in value]]
    if kind is dict:
        return [
            "dict",
            [[describe(k, depth + 1, budget), describe(v, depth + 1, budget)] for k, v in value.items()],
        ]
    if kind is types.ModuleType:
        return ["module", value.__name__, _module_version(value.__name__)]
    transform = transform_of(value)
    if transform is not None:
        return [
            "transform",
            transform.kind,
            describe(transform.argnums, depth + 1, budget),
            bool(transform.has_aux),
            describe(transform.function, depth + 1, budget),
        ]
    if isinstance(value, CustomFunction):  # its rules run when the code runs: which ones exist matters
        return [
            "custom",
            type(value).__name__,
            describe(value.fun, depth + 1, budget),
            [value.jvp is not None, value.fwd is not None, value.bwd is not None],
            list(value.nondiff_argnums),
        ]
    if isinstance(value, np.ufunc):
        return ["ufunc", value.__name__]
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if kind is types.FunctionType:
        if str(module or "").startswith(_FOREIGN):  # not inlined: by name
            return ["object", module, qualname, _module_version(module)]
        return [
            "function",
            module,
            qualname,
            _source_hash(value),
            describe(value.__defaults__, depth + 1, budget),
            describe(value.__kwdefaults__, depth + 1, budget),
        ]
    if isinstance(module, str) and isinstance(qualname, str) and (callable(value) or isinstance(value, type)):
        if _resolve(module, qualname) is value:  # a class, a builtin, a function of a C extension
            return ["object", module, qualname, _module_version(module)]
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):  # an instance: its class and its attributes
        cls = type(value)
        return [
            "instance",
            describe(cls, depth + 1, budget),
            describe(dict(attributes), depth + 1, budget),
        ]
    raise Unstable(kind.__name__)


def _resolve(module, qualname):
    """The object `module.qualname` if its module is loaded (nothing is imported), else None."""
    value = sys.modules.get(module)
    for part in qualname.split("."):
        value = getattr(value, part, None)
    return value


def _rule_state(rule):
    extra = {k: tuple(map(id, v.values())) for k, v in rule.extra.items() if isinstance(v, dict)}
    return (
        id(rule.tangent),
        id(rule.adjoint),
        id(rule.batched),  # (a derived one follows from the tangent)
        rule.differentiable,
        rule.elementwise,
        id(rule.kind),
        tuple(sorted(extra.items())),
    )


_BUILT_IN_RULES = {key: (rule, _rule_state(rule)) for key, rule in RULES.items()}  # s2sad's own table


def _template_text(template):
    if template is None:
        return None
    if template._source is not None:
        return template._source
    return _source_hash(template.function)


def program_rules():
    """The rules the program registered or changed (s2sad's own table is covered by the compiler's
    stamp): per rule its name, kind and templates' text."""
    out = []
    for key, rule in RULES.items():
        built_in = _BUILT_IN_RULES.get(key)
        if built_in is not None and built_in[0] is rule and built_in[1] == _rule_state(rule):
            continue
        templates = [rule.tangent, rule.adjoint, rule.batched]
        for variants in rule.extra.values():
            if isinstance(variants, dict):
                templates.extend(v for v in variants.values() if hasattr(v, "_source"))
        out.append(
            [
                rule.name,
                rule.differentiable,
                rule.elementwise,
                rule.kind if isinstance(rule.kind, str) else describe(rule.kind),
                [_template_text(t) for t in templates],
            ]
        )
    out.extend(["external", describe(custom)] for custom in EXTERNAL.values())  # defjvp / defvjp
    return sorted(out, key=json.dumps)


def derivative_key(function, options):
    """The disk-cache key (sha256 hex) of `function`'s derivative compiled with `options` (a tuple
    of JSON-able values), or None when what it depends on cannot be described (module docstring)."""
    if (
        type(function) is not types.FunctionType
        or transform_of(function) is not None
        or hasattr(function, "__wrapped__")  # (the compiler differentiates the function it wraps)
    ):
        return None
    try:
        places, cells = places_read(function)
        reads = [
            [namespace.get("__name__"), name, describe(namespace[name])]
            for namespace, name in places
            if name in namespace
        ]
        for cell in cells:
            try:
                reads.append(["cell", describe(cell.cell_contents)])
            except ValueError:  # an empty cell
                reads.append(["cell", None])
        parts = [
            compiler_stamp(),
            sys.version,
            np.__version__,
            config.enabled(),
            describe(options),
            describe(function),
            reads,
            program_rules(),
        ]
    except Unstable:
        return None
    return _digest(json.dumps(parts, sort_keys=True))


cache.on_clear(_FILES.clear)  # a file hash memo, keyed by size and mtime
cache.on_clear(_STAMP.clear)  # the compiler files' stamp: read again (an editable install edited)
