"""The numba backend of the transforms: `grad(f, backend="numba")`, `value_and_grad`, `jvp`, `vjp`, `emit`.

A derivative is compiled as for the Python target, lowered to the subset numba compiles
(`s2sad.codegen.numba`), written as a module file in the cache directory and imported: numba's
`cache=True` keeps its machine code beside the file, so another process that asks for the same
derivative loads it instead of compiling it again. The compiled function takes arrays and
numbers: trees (dicts, lists, tuples) are flattened at the boundary, module-level arrays and
numbers the function reads are passed at every call (their current values).

Importing this module imports no numba: the generated modules and `s2sad.runtime.numba` do, when a
derivative is compiled (numba is an optional dependency; the Python target never imports it).
"""

import hashlib
import operator
import os
import re
import sys
import tempfile
from importlib import util as import_util

import numpy as np

from .. import cache
from .. import trees as T
from ..cache import directory
from ..codegen.numba import Where, lower, probe
from ..codegen.python import format_source
from ..codegen.standalone import standalone_numba_module
from ..errors import ArgumentError, NumbaTargetError
from ..frontend.nested import as_python_function, code_identity, mark, transform_of
from ..pipeline import compile_derivative
from ..signatures import diff_kinds as _diff_kinds
from ..signatures import kinds_of as _kinds
from ..signatures import parse_argnums as _argnums
from ..signatures import signature_of as _signature
from ..trees import tree_calls as _tree_calls
from .sources import _version
from .transforms import BACKENDS, _all_differentiable, _bind, _check_scalar, _input_shapes


def cache_directory():
    """Where numba-target modules (and numba's cache of their machine code) are kept: the `numba`
    folder of s2sad's cache directory (`s2sad.cache.root`: `$S2SAD_CACHE_DIR`, else the platform's
    user cache folder, `~/.cache/s2sad` on Linux)."""
    return directory("numba")


def module_text(lowered, header, formatted=False):
    """The numba-target module: the derivative, decorated with `numba.njit(cache=True)` (black-formatted
    for `source` and `emit`; the cache directory's copy skips black, whose import alone takes ~0.5 s)."""
    globals_note = ""
    if lowered.global_params:
        globals_note = (
            f"# module-level values passed as arguments (numba would freeze them): "
            f"{', '.join(lowered.global_params)}\n"
        )
    text = (
        header
        + "# numba target: typed tapes; compiled with numba.njit (nopython)\n"
        + globals_note
        + "import math\n\nimport numba\nimport numpy as np\n\nfrom s2sad.runtime import numba as _rt\n\n\n"
        + "@numba.njit(cache=True)\n"
        + lowered.source
    )
    return format_source(text) if formatted else text


def _header(source):
    lines = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


_RUNTIME_DIGEST = []


def runtime_digest():
    """A digest of the source of `s2sad/runtime/numba.py` and the `numba_*.py` modules it gathers: numba's
    cache of a module is keyed by the module file alone, so a module is named after the runtime it
    inlines too (a changed runtime, a new file)."""
    if not _RUNTIME_DIGEST:
        folder = os.path.dirname(import_util.find_spec("s2sad.runtime.numba").origin)
        digest = hashlib.sha256()
        for name in sorted(os.listdir(folder)):
            if name == "numba.py" or (name.startswith("numba_") and name.endswith(".py")):
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + b"\0" + handle.read())
        _RUNTIME_DIGEST.append(digest.hexdigest())
    return _RUNTIME_DIGEST[0]


def load(text, name):
    """The function `name` of module source `text`, written once to the cache directory and imported."""
    digest = hashlib.sha256((text + runtime_digest()).encode()).hexdigest()[:20]
    module_name = f"_s2sad_numba_{name}_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        directory = cache_directory()
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, module_name + ".py")
        if not os.path.exists(path):  # never rewritten: numba's cache is keyed by the file's time stamp
            handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(handle, "w") as out:
                out.write(text)
            os.replace(temporary, path)
        spec = import_util.spec_from_file_location(module_name, path)
        module = import_util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return getattr(module, name)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _numba_failure(exc, text, path):
    """numba's typing error as the user's: the line of the emitted file it names, traced back to the
    `# file.py:N: code` comment above it."""
    message = _ANSI.sub("", str(exc))
    lines = text.splitlines()
    comment = None
    for found in re.finditer(r'File "([^"]+)", line (\d+)', message):
        if os.path.basename(found.group(1)) == os.path.basename(path):
            number = int(found.group(2))
            for line in reversed(lines[: number - 1]):
                match = re.match(r"\s+# (\S+:\d+: .*)$", line)
                if match:
                    comment = match.group(1)
                    break
            if comment:
                break
    reason = next(
        (ln.strip() for ln in message.splitlines() if ln.strip() and not ln.startswith("Failed in")), ""
    )
    signature = re.search(r"^\s*>>> (.+)$", message, re.M)  # the call numba has no implementation of
    if signature and reason.startswith("No implementation"):
        reason = f"numba has no implementation of {signature.group(1).strip()}"

    where = Where(text)
    return where.error(
        f"numba cannot compile the derivative of this line: {reason}",
        comment or where.definition,
        hint="use the Python target (the default backend) for this function",
    )


class _Target:
    """One compiled derivative of the numba target: its function, the module values it reads."""

    def __init__(self, f, compiled, role, probe_args):
        names, namespace = compiled.extra["names"], compiled.extra["namespace"]
        self.name = names[role]
        self.f = f
        self.namespace = namespace
        values = probe(compiled.source, namespace, self.name, probe_args)
        lowered = self.lowered = lower(compiled.source, values, namespace, self.name)
        self.header = _header(compiled.source)
        self.text = module_text(lowered, self.header)
        self.global_params = lowered.global_params
        self.function = load(self.text, self.name)
        self.checked = False

    def lean(self):
        """Once a call has succeeded: (the compiled function, None or a function giving the module values
        it reads), called with the arguments and a cotangent of 1.0 without the checks of the first call."""
        names = self.global_params
        if not names:
            return self.function, None
        user, namespace = _module_of(self.f), self.namespace
        if all(g in user for g in names):  # the usual case: read from the function's module at C speed
            get = operator.itemgetter(*names)
            if len(names) == 1:
                return self.function, lambda: (get(user),)
            return self.function, lambda: get(user)
        return self.function, lambda: [user[g] if g in user else namespace[g] for g in names]

    def fast_grad(self):
        """The lean call (`lean`) as one function of the arguments."""
        function, values = self.lean()
        if values is None:
            return lambda *args: function(*args, 1.0)
        return lambda *args: function(*args, 1.0, *values())

    def module_values(self):
        user = _module_of(self.f)
        return [user[g] if g in user else self.namespace[g] for g in self.global_params]

    def __call__(self, *args):
        if self.checked:
            return self.function(*args, *self.module_values())
        try:
            result = self.function(*args, *self.module_values())
        except Exception as exc:
            errors = sys.modules.get("numba.core.errors")
            if errors is not None and isinstance(
                exc, (errors.TypingError, errors.UnsupportedError, errors.LoweringError)
            ):
                path = getattr(self.function, "py_func", None)
                path = path.__code__.co_filename if path is not None else ""
                raise _numba_failure(exc, self.text, path) from None
            raise
        self.checked = True
        return result


def _module_of(f):
    """The globals of the user's function `f`, or of the function a transform wrapper `f` transforms."""
    transform = transform_of(f)
    while transform is not None:
        f = transform.function
        transform = transform_of(f)
    return f.__globals__


_PLAIN = {float, int, bool, np.float64, np.float32, np.int64, np.int32, np.bool_}


def _flat(args, kinds):
    """Tree arguments as their leaves (the generated functions take leaves)."""
    out = []
    for arg, kind in zip(args, kinds):
        out += T.flatten(arg)[0] if T.is_tree_kind(kind) else [arg]
    return out


def _key(f, args):
    shapes = tuple(np.shape(a) if isinstance(a, np.ndarray) else None for a in args)
    dtypes = tuple(a.dtype.str if isinstance(a, np.ndarray) else None for a in args)
    return f, code_identity(f), _signature(args), shapes, dtypes  # f itself: closures of one `def` differ


def _reverse(f, argnums, has_aux, with_value):
    f = as_python_function(f)
    cache = {}
    single = isinstance(argnums, int)

    def build(args, key):
        nonlocal code
        if f.__code__ is not code:  # the function was redefined in place: compile anew
            cache.clear()
            lean.clear()
            code = f.__code__
        _, nums = _argnums(argnums, len(args), getattr(f, "__name__", "f"))
        kinds = _diff_kinds(_kinds(args, nums), nums)
        compiled = compile_derivative(
            f, "reverse" if with_value else "grad", nums, kinds, has_aux, _input_shapes(args, kinds), "numba"
        )
        names = compiled.extra["names"]
        role = "grad" if "grad" in names else "vjp"
        flat = _flat(args, kinds)
        target = _Target(f, compiled, role, [*flat, 1.0])
        call = target
        if compiled.extra.get("tree_spans"):
            call = _tree_calls({role: target}, kinds, nums, compiled.extra["tree_spans"], has_aux)[role]
        if role == "grad":
            if call is target:  # plain arguments: after the first call, the compiled function itself

                def first(*a):
                    grads = target(*a, 1.0)
                    cache[first.key] = target.fast_grad()
                    if not (has_aux or with_value) and all(k in _PLAIN for k in first.key):
                        lean[first.key] = target.lean()  # numbers only: keyed by their types alone
                    return grads

                first.key = key
                return first
            return lambda *a: call(*a, 1.0)

        def with_check(*a):
            value, grads = call(*a, 1.0)
            _check_scalar(compiled, value[0] if has_aux else value)
            if with_value:
                return value, grads
            return (grads, value[1]) if has_aux else grads

        return with_check

    code = f.__code__
    count = code.co_argcount

    defaults = f.__defaults__ or ()
    first_default = count - len(defaults)

    lean = {}  # the types of plain-number arguments -> (compiled function, module values or None)

    def transformed(*args, **kwargs):
        if kwargs or len(args) != count:
            if not kwargs and first_default <= len(args) < count and f.__defaults__ is defaults:
                args = args + defaults[len(args) - first_default :]  # the defaults, without inspect's binding
            else:
                args = _bind(f, args, kwargs)
        call = lean.get(tuple(map(type, args)))
        if call is not None and f.__code__ is code:  # the lean path: numbers in, the compiled function
            function, values = call
            grads = function(*args, 1.0) if values is None else function(*args, 1.0, *values())
            return grads[0] if single else grads
        # the key: types, and shapes and dtypes of arrays (the code is specialized to shapes)
        key = tuple(
            [
                (
                    (a.shape, a.dtype)
                    if a.__class__ is np.ndarray
                    else a.__class__ if a.__class__ in _PLAIN else _signature((a,))
                )
                for a in args
            ]
        )
        function = cache.get(key)
        if function is None or f.__code__ is not code:
            function = cache[key] = build(args, key)
        if with_value:
            value, grads = function(*args)
            return (value, grads[0]) if single else (value, grads)
        if has_aux:
            grads, aux = function(*args)
            return (grads[0] if single else grads), aux
        grads = function(*args)
        return grads[0] if single else grads

    transformed.__name__ = getattr(f, "__name__", "f") + ("_value_and_grad" if with_value else "_grad")
    transformed.__doc__ = f.__doc__
    transformed.__wrapped__ = f  # its signature is f's (inspect.signature follows __wrapped__)
    # marked as the Python target's wrappers are: inside differentiated code, and given to another
    # transform, it is the derivative of `f` (compiled by whichever target compiles the caller)
    return mark(transformed, "value_and_grad" if with_value else "grad", f, argnums, has_aux)


def grad(f, argnums=0, has_aux=False):
    return _reverse(f, argnums, bool(has_aux), with_value=False)


def value_and_grad(f, argnums=0, has_aux=False):
    return _reverse(f, argnums, bool(has_aux), with_value=True)


_CACHE = {}  # (mode, ..., the function's identity and argument types) -> its compiled numba target
cache.on_clear(_CACHE.clear)
cache.on_clear(_RUNTIME_DIGEST.clear)  # read again: a runtime edited while the process runs


def jvp(f, primals, tangents, has_aux=False):
    f = as_python_function(f)
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ArgumentError(
            f"jvp got {len(primals)} primals but {len(tangents)} tangents", hint="pass one tangent per primal"
        )
    given = len(primals)
    primals = _bind(f, primals, {})
    tangents = tangents + tuple(0.0 for _ in primals[given:])
    key = ("forward", bool(has_aux)) + _key(f, primals)
    entry = _CACHE.get(key)
    nums = _all_differentiable(primals)
    leaf_tangents = [tangents[i] for i in nums]
    if entry is None:
        kinds = _diff_kinds(_kinds(primals, nums), nums)
        compiled = compile_derivative(f, "forward", nums, kinds, bool(has_aux))
        flat = _flat(primals, kinds) + _flat(leaf_tangents, [kinds[i] for i in nums])
        target = _Target(f, compiled, "jvp", flat)
        if compiled.extra.get("tree_spans"):
            target = _tree_calls({"jvp": target}, kinds, nums, compiled.extra["tree_spans"], has_aux)["jvp"]
        entry = _CACHE[key] = target
    if has_aux:
        (value, aux), tangent = entry(*primals, *leaf_tangents)
        return value, tangent, aux
    return entry(*primals, *leaf_tangents)


def vjp(f, *primals, has_aux=False):
    """(f(*primals), pullback): the joint derivative run once for the value, once per pullback call."""
    f = as_python_function(f)
    given = len(primals)
    primals = _bind(f, primals, {})
    nums = tuple(i for i in _all_differentiable(primals) if i < given)
    key = ("reverse", given, bool(has_aux)) + _key(f, primals)
    entry = _CACHE.get(key)
    if entry is None:
        kinds = _diff_kinds(_kinds(primals, nums), nums)
        if any(T.is_tree_kind(k) for k in kinds):
            raise ArgumentError(
                "vjp with backend='numba' takes floats and arrays, not dicts, lists or tuples",
                hint="use grad / value_and_grad (which take trees) or the Python target",
            )
        compiled = compile_derivative(
            f, "reverse", nums, kinds, bool(has_aux), _input_shapes(primals, kinds), "numba"
        )
        value = compiled.function(*primals)[0]  # the Python target once: the output's type
        zero = np.zeros_like(value[0] if has_aux else value, dtype=float)
        zero = float(zero) if zero.ndim == 0 else zero
        entry = _CACHE[key] = (_Target(f, compiled, "vjp", [*primals, zero]), zero)
    target, zero = entry
    value, _ = target(*primals, zero)

    def pullback(cotangent):
        cotangent = float(cotangent) if np.ndim(cotangent) == 0 else np.array(cotangent, dtype=float)
        _, grads = target(*primals, cotangent)
        out = [0.0] * given
        for i, g in zip(nums, grads):
            out[i] = g
        return tuple(out)

    if has_aux:
        value, aux = value
        return value, pullback, aux
    return value, pullback


def _target_for(f, mode, argnums, args):
    if args is None:
        raise ArgumentError("the numba target needs example `args` (its tapes and zeros are typed by them)")
    f = as_python_function(f)
    args = _bind(f, tuple(args), {})
    if mode == "forward":
        nums = _all_differentiable(args) if argnums is None else _argnums(argnums, len(args), f.__name__)[1]
        kinds = _diff_kinds(_kinds(args, nums), nums)
        compiled = compile_derivative(f, "forward", nums, kinds)
        tangents = [np.zeros(np.shape(args[i])) if isinstance(args[i], np.ndarray) else 0.0 for i in nums]
        return _Target(f, compiled, "jvp", _flat(args, kinds) + _flat(tangents, [kinds[i] for i in nums]))
    if mode not in ("reverse", "grad"):
        raise ArgumentError(f"the numba target writes mode 'reverse', 'grad' or 'forward', not {mode!r}")
    _, nums = _argnums(argnums, len(args), f.__name__)
    kinds = _diff_kinds(_kinds(args, nums), nums)
    compiled = compile_derivative(f, mode, nums, kinds, False, _input_shapes(args, kinds), "numba")
    role = "grad" if "grad" in compiled.extra["names"] else "vjp"
    return _Target(f, compiled, role, [*_flat(args, kinds), 1.0])


def source(f, mode="reverse", argnums=0, args=None):
    """The numba-target module source of `f`'s derivative for example `args` (needed: the target is typed)."""
    target = _target_for(f, mode, argnums, args)
    return module_text(target.lowered, target.header, formatted=True)


def emitted(f, mode="reverse", argnums=0, args=None):
    """The module `emit(..., backend="numba")` writes: the numba-target source and, when the function
    reads module-level values, `NAME_call(...)`, which passes their current values."""
    target = _target_for(f, mode, argnums, args)
    text = standalone_numba_module(module_text(target.lowered, target.header, formatted=True), _version())
    module = getattr(f, "__module__", None)
    if target.global_params and module and module != "__main__":
        params = [
            p
            for p in re.search(rf"def {target.name}\((.*?)\):", text, re.S)
            .group(1)
            .replace("\n", " ")
            .split(",")
        ]
        params = [p.strip() for p in params if p.strip()][: -len(target.global_params)]
        values = ", ".join(f"_module.{g}" for g in target.global_params)
        text += (
            f"\n\nimport {module} as _module  # noqa: E402  (the function's module)\n\n\n"
            f"def {target.name}_call({', '.join(params)}):\n"
            f'    """`{target.name}` with the module values it reads as they are now."""\n'
            f"    return {target.name}({', '.join(params + [values])})\n"
        )
    return text


__all__ = ["grad", "value_and_grad", "jvp", "vjp", "source", "NumbaTargetError"]

BACKENDS["numba"] = sys.modules[__name__]
