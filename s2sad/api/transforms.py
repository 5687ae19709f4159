"""Public transforms with JAX-compatible signatures.

>>> import s2sad, math
>>> s2sad.grad(math.sin) is not None   # wraps lazily; compiling happens at the first call
True
"""

import functools
import inspect
import numbers
import types

import numpy as np

from .. import cache, config
from .. import kinds as K
from .. import trees as T
from ..pipeline import compile_derivative
from ..errors import ArgumentError, NonScalarOutputError
from ..modes import Mode
from ..signatures import (
    diff_kinds as _diff_kinds,
    kinds_of as _kinds,
    parse_argnums as _argnums,
    signature_of as _signature,
)
from ..runtime import copy_lists
from ..frontend.source import parse_function
from .boundary import guarded, user_facing
from .callables import in_class, needs_adapting, parts, reach
from .arguments import (
    QUICK_SCALARS,
    check_constant_tangents,
    check_primals,
    check_not_complex,
    check_real,
    check_tangents,
    mismatch,
)
from ..frontend.nested import (
    OUTER_ONLY_APIS,
    TRANSFORM_APIS,
    as_python_function,
    code_identity,
    mark,
    reads_key,
    transform_of,
)


def _code(f):
    """`f.__code__`, or s2sad's error for callables that have no Python source."""
    code = getattr(f, "__code__", None)
    if code is None:
        parse_function(f)  # raises SourceUnavailableError
    return code


@functools.lru_cache(maxsize=None)
def _parameter_count(code):
    return code.co_argcount


cache.on_clear(_parameter_count.cache_clear)


def _bind(f, args, kwargs):
    """All positional arguments of `f`, keywords and defaults filled in."""
    code = _code(f)
    if not kwargs and len(args) == _parameter_count(code):
        return args
    try:
        bound = inspect.signature(f).bind(*args, **kwargs)
    except TypeError as exc:
        raise ArgumentError(f"{getattr(f, '__name__', f)}: {exc}") from None
    bound.apply_defaults()
    return tuple(bound.arguments.values())


def _check_scalar(compiled, value):
    if not isinstance(value, (numbers.Number, np.ndarray, np.generic)):
        filename, lineno, code, what = compiled.extra["where"]
        raise NonScalarOutputError(
            f"grad needs a scalar output; {what} returned "
            f"{'a function' if callable(value) else 'a ' + type(value).__name__}",
            filename,
            lineno,
            code,
            hint="return a float (reduce arrays with np.sum or np.mean); return other values as aux with has_aux=True",
        )
    if compiled.output_kind not in (K.FLOAT, K.INT, K.BOOL) and np.ndim(value) != 0:
        filename, lineno, code, what = compiled.extra["where"]
        raise NonScalarOutputError(
            f"grad needs a scalar output; {what} returned an array of shape {np.shape(value)}",
            filename,
            lineno,
            code,
            hint="reduce it (np.sum, np.mean), or use s2sad.vjp / s2sad.jacrev for non-scalar outputs",
        )


def adapted(make, f, argnums, name):
    """The transform `make(function, argnums)` of a method, a partial or a function with
    keyword-only / `*args` / `**kwargs` parameters: made per call structure for the function the
    compiler takes (`s2sad.api.callables.reach`), `argnums` counted among the caller's arguments.
    A method's `self` (bound, or the first argument of one decorated in its class) is a constant
    of the compilation: its attributes are read when the code runs, its methods are inlined."""
    function, lead, _ = parts(f)
    own_self = in_class(function) and not lead  # `model.loss_grad(x)`: `self` comes first
    single = isinstance(argnums, numbers.Integral)
    made = {}

    def call(*args, **kwargs):
        try:
            _, nums = _argnums(argnums, len(args) - own_self, name)
            if own_self:
                if not args:
                    raise ArgumentError(f"{name} of the method `{function.__qualname__}` needs its `self`")
                target, full, by = reach(types.MethodType(function, args[0]), args[1:], kwargs)
            else:
                target, full, by = reach(f, args, kwargs)
            key = (target, nums)
            transform = made.get(key)
            if transform is None:
                if len(made) > 64:
                    made.clear()  # a method called on many objects: compiled per object, kept for the last few
                transform = made[key] = make(target, nums[0] + by if single else tuple(n + by for n in nums))
            return transform(*full)
        except Exception as exc:
            raise user_facing(exc)

    call = functools.wraps(function)(call)
    del call.__wrapped__  # not the user's function: differentiating it again must not find that
    # (not differentiable again yet: the function compiled depends on the call)
    return mark(call, f"{name} of a method, partial or keyword call", function, argnums)


def _reverse_wrapper(f, argnums, has_aux, with_value):
    if needs_adapting(f):  # a method, a partial, keyword-only parameters (s2sad.api.callables)
        make = lambda target, nums: _reverse_core(target, nums, has_aux, with_value)  # noqa: E731
        return adapted(make, f, argnums, "value_and_grad" if with_value else "grad")
    return _reverse_core(f, argnums, has_aux, with_value)


def _reverse_core(f, argnums, has_aux, with_value):
    f = as_python_function(f)  # `grad(np.sin)`: a function with a rule and no source
    has_aux = bool(has_aux)
    cache = {}
    code = getattr(f, "__code__", None)
    count = code.co_argcount if code is not None else -1
    reads = None  # what the compiled code read (reads_key): a global or callee rebound since compiles again

    def compile_for(args, key):
        """The compiled function for these argument types: (value, grads) with a value, else grads."""
        nonlocal code, count, reads
        now = reads_key(f)
        if getattr(f, "__code__", None) is not code or now != reads:
            cache.clear()
        reads = now
        code = _code(f)
        count = code.co_argcount
        _, nums = _argnums(argnums, len(args), getattr(f, "__name__", "f"))
        check_real(f, args, nums, "value_and_grad" if with_value else "grad")
        kinds = _diff_kinds(_kinds(args, nums), nums)
        if config.enabled() and K.ARRAY in kinds and not any(T.is_tree_kind(k) for k in kinds):
            function = _shape_dispatch(lambda shapes: build(args, key, nums, kinds, shapes), kinds)
        else:
            function = build(args, key, nums, kinds, None)
        cache[key] = function
        return function

    def build(args, key, nums, kinds, shapes):
        compiled = compile_derivative(
            f, Mode.REVERSE if with_value else Mode.GRAD, nums, kinds, has_aux, shapes
        )
        function = compiled.function
        if compiled.extra.get("container_output"):
            filename, lineno, code, what = compiled.extra["where"]
            raise NonScalarOutputError(
                f"grad needs a scalar output; {what} returns a tuple, list or other container",
                filename,
                lineno,
                code,
                hint="return the scalar alone, or return (loss, aux) and pass has_aux=True",
            )
        if compiled.output_kind is not K.FLOAT:
            inner = function

            if with_value:

                def function(*call_args):
                    value, grads = inner(*call_args)
                    _check_scalar(compiled, value[0] if has_aux else value)
                    return value, grads

            elif compiled.mode is Mode.REVERSE:  # the value is needed for the scalar check

                def function(*call_args):
                    value, grads = inner(*call_args)
                    if has_aux:
                        _check_scalar(compiled, value[0])
                        return grads, value[1]
                    _check_scalar(compiled, value)
                    return grads

        if any(T.is_tree_kind(k) or K.is_function_kind(k) for k in kinds):
            structure, tree_function = _signature(args), function

            def function(*call_args):  # same types, another structure or function: compile again
                if _signature(call_args) != structure:
                    return compile_for(call_args, key)(*call_args)
                return tree_function(*call_args)

        return function

    def transformed(*args, **kwargs):
        try:
            return call(args, kwargs)
        except Exception as exc:
            raise user_facing(exc)

    def call(args, kwargs):
        if kwargs or len(args) != count:
            args = _bind(f, args, kwargs)
        function = cache.get(tuple(map(type, args)))
        if function is None or f.__code__ is not code or reads_key(f) != reads:
            function = compile_for(args, tuple(map(type, args)))
        else:  # the key holds types: a float array's code must not run on an int or bool array
            refuse_other_dtypes(args)
        if with_value:  # with has_aux the value is (value, aux), as in JAX
            value, grads = function(*args)
            return (value, grads[0]) if single else (value, grads)
        if has_aux:
            grads, aux = function(*args)
            return (grads[0] if single else grads), aux
        grads = function(*args)
        return grads[0] if single else grads

    def current_code():  # None once a global or callee the code read is rebound: the wrapper compiles again
        return code if reads_key(f) == reads else None

    def refuse_other_dtypes(args):
        for n, a in enumerate(args):
            if type(a) is np.ndarray and a.dtype.kind != "f":
                _, nums = _argnums(argnums, len(args), getattr(f, "__name__", "f"))
                if n in nums:
                    check_real(f, args, nums, "value_and_grad" if with_value else "grad")

    single = isinstance(argnums, numbers.Integral)
    fast = (
        None
        if has_aux
        else _exact_arity_wrapper(
            f, cache, compile_for, current_code, with_value, single, argnums, refuse_other_dtypes
        )
    )
    wrapper = functools.wraps(f)(fast or transformed)
    return mark(wrapper, "value_and_grad" if with_value else "grad", f, argnums, has_aux)


SPECIALIZED_SHAPES = 8  # shape-specialized versions per argument types; other shapes run a generic one


def _nested_shapes(f, args):
    """For a transform (`jvp(grad(f), ...)`): the shapes of the array arguments, to which the inner
    derivative's code is specialized (no broadcasting helpers where shapes agree); else None."""
    if transform_of(f) is None or not config.enabled():
        return None
    return tuple(np.shape(a) if isinstance(a, np.ndarray) else None for a in args)


def _input_shapes(args, kinds):
    """Per argument its shape if it is an array, else None (None if no array is differentiated)."""
    if K.ARRAY not in kinds or any(T.is_tree_kind(k) for k in kinds):
        return None
    return tuple(a.shape if k == K.ARRAY else None for a, k in zip(args, kinds))


def _shape_dispatch(build, kinds):
    """A function that runs, per shapes of its array arguments, code specialized to them. The first
    shapes it meets get code of their own at once; after that a new shape first runs a generic
    version (compiled once) and gets its own code when it comes back (a shape called again is worth
    compiling for: a training loop, a benchmark; one called once, in a sweep over sizes, is not), up
    to `SPECIALIZED_SHAPES` shapes. `build(shapes)` compiles one (`shapes`: a shape per argument,
    None for non-arrays; None for the generic version)."""
    positions = [i for i, k in enumerate(kinds) if k == K.ARRAY]
    versions = {}
    seen = set()  # shapes that ran the generic version once
    specialized = 0
    generic = None

    def choose(call_args, shapes):
        nonlocal specialized, generic
        if specialized < SPECIALIZED_SHAPES and (specialized == 0 or shapes in seen):
            specialized += 1
            per_argument = [None] * len(kinds)
            for i, shape in zip(positions, shapes):
                per_argument[i] = shape
            function = build(tuple(per_argument))
            if len(versions) < 64:
                versions[shapes] = function
            return function
        if generic is None:
            generic = build(None)
        if specialized < SPECIALIZED_SHAPES and len(seen) < 64:
            seen.add(shapes)  # (not kept in `versions`: its next call comes back here)
        elif len(versions) < 64:
            versions[shapes] = generic
        return generic

    if len(positions) == 1:
        (only,) = positions

        def function(*call_args):
            shapes = (call_args[only].shape,)
            return (versions.get(shapes) or choose(call_args, shapes))(*call_args)

        return function

    def function(*call_args):
        shapes = tuple([call_args[i].shape for i in positions])
        return (versions.get(shapes) or choose(call_args, shapes))(*call_args)

    return function


def _exact_arity_wrapper(f, cache, compile_for, current_code, with_value, single, argnums, refuse):
    """A wrapper with `f`'s own parameter list: no *args packing, the cache key built inline."""
    code = getattr(f, "__code__", None)
    if code is None or code.co_flags & 0x0C or code.co_kwonlyargcount or code.co_posonlyargcount:
        return None  # *args / **kwargs / keyword-only: the generic wrapper handles these
    params = list(code.co_varnames[: code.co_argcount])
    if any(p.startswith("__s2sad") for p in params):
        return None
    joined = ", ".join(params)
    try:
        _, nums = _argnums(argnums, len(params), code.co_name)
    except ArgumentError:
        return None  # the generic wrapper raises it at the first call
    key = "(" + "".join(f"type({p}), " for p in params) + ")"
    checks = "".join(
        f"        if type({params[n]}) is __s2sad_array and {params[n]}.dtype.kind != 'f':\n"
        f"            __s2sad_refuse(({joined}{',' if len(params) == 1 else ''}))\n"
        for n in nums
    )
    call = "__s2sad_function(" + joined + ")"
    if with_value:
        result = f"__s2sad_value, __s2sad_grads = {call}\n        return __s2sad_value, __s2sad_grads" + (
            "[0]" if single else ""
        )
    else:
        result = "return " + call + ("[0]" if single else "")
    text = (
        f"def __s2sad_make(__s2sad_cache, __s2sad_compile, __s2sad_f, __s2sad_code, __s2sad_refuse, "
        f"__s2sad_array, __s2sad_user_facing):\n"
        f"    def wrapper({joined}):\n"
        f"      try:\n"
        f"        __s2sad_key = {key}\n"
        f"        __s2sad_function = __s2sad_cache.get(__s2sad_key)\n"
        f"        if __s2sad_function is None or __s2sad_f.__code__ is not __s2sad_code():\n"
        f"            __s2sad_function = __s2sad_compile(({joined}{',' if len(params) == 1 else ''}), __s2sad_key)\n"
        + checks
        + f"        {result}\n"
        f"      except Exception as __s2sad_error:\n"
        f"        raise __s2sad_user_facing(__s2sad_error)\n"
        f"    return wrapper\n"
    )
    namespace = {}
    exec(compile(text, f"<s2sad wrapper of {code.co_name}>", "exec"), namespace)
    wrapper = namespace["__s2sad_make"](cache, compile_for, f, current_code, refuse, np.ndarray, user_facing)
    wrapper.__defaults__ = f.__defaults__
    return wrapper


BACKENDS = {}  # backend name -> the module that runs it (`s2sad.api.numba_backend` registers "numba")


def _numba_backend(backend):
    """The module of a code target other than Python (`backend="numba"`), or None for Python."""
    if backend == "python":
        return None
    if backend not in BACKENDS:
        raise ArgumentError(f"backend must be 'python' or 'numba', not {backend!r}")
    return BACKENDS[backend]


def value_and_grad(f=None, argnums=0, has_aux=False, backend="python"):
    """Like `jax.value_and_grad`: returns a function giving (value, gradient).
    `backend="numba"` runs numba-compiled derivative code (see `s2sad.api.numba_backend`)."""
    if f is None:
        return functools.partial(value_and_grad, argnums=argnums, has_aux=has_aux, backend=backend)
    numba_backend = _numba_backend(backend)
    if numba_backend is not None:
        return numba_backend.value_and_grad(f, argnums, has_aux)
    return _reverse_wrapper(f, argnums, has_aux, with_value=True)


def grad(f=None, argnums=0, has_aux=False, backend="python"):
    """Like `jax.grad`: the gradient of scalar-valued `f` w.r.t. `argnums`. Also a bare decorator,
    on a method too (`argnums` count after `self`). `f` may be a bound method or a
    `functools.partial` (bound values are constants); keyword arguments are constants
    (docs/guide.md, "Methods, partials and keyword arguments").
    `backend="numba"` runs numba-compiled derivative code (see `s2sad.api.numba_backend`)."""
    if f is None:
        return functools.partial(grad, argnums=argnums, has_aux=has_aux, backend=backend)
    numba_backend = _numba_backend(backend)
    if numba_backend is not None:
        return numba_backend.grad(f, argnums, has_aux)
    return _reverse_wrapper(f, argnums, has_aux, with_value=False)


def _all_differentiable(args):
    def numeric(a):
        if T.is_tree(a):
            leaves = T.flatten(a)[0]
            return bool(leaves) and all(K.kind_of(x) in (K.FLOAT, K.ARRAY, K.INT) for x in leaves)
        return K.kind_of(a) in (K.FLOAT, K.ARRAY)  # an int argument is a constant (its tangent zero or None)

    return tuple(i for i, a in enumerate(args) if numeric(a))


@guarded
def jvp(f, primals, tangents, has_aux=False, backend="python"):
    """Like `jax.jvp`: returns (f(*primals), J @ tangents); with has_aux, (value, tangent, aux)."""
    numba_backend = _numba_backend(backend)
    if numba_backend is not None:
        return numba_backend.jvp(f, primals, tangents, has_aux)
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ArgumentError(
            f"jvp got {len(primals)} primals but {len(tangents)} tangents", hint="pass one tangent per primal"
        )
    given = len(primals)
    if needs_adapting(
        f
    ):  # a bound method, a partial, keyword-only parameters: the bound values are constants
        f, primals, first = reach(f, primals, {})
        tangents = (None,) * first + tangents + (None,) * (len(primals) - first - given)
        return _jvp(f, primals, tangents, has_aux, (first, first + given))
    f = as_python_function(f)
    primals = _bind(f, primals, {})
    tangents = tangents + tuple(
        np.zeros(p.shape) if isinstance(p, np.ndarray) else 0.0 for p in primals[given:]
    )
    return _jvp(f, primals, tangents, has_aux, None)


def _jvp(f, primals, tangents, has_aux, wrt):
    """`jvp` of the function `f` itself; `wrt` (first, end): the primals differentiated are among
    those positions (None: any)."""
    shapes = _nested_shapes(f, primals)
    key = ("forward", code_identity(f), reads_key(f), _signature(primals), bool(has_aux), shapes, wrt)
    entry = _TRANSFORM_CACHE.get(key)
    if entry is None and shapes is not None:
        # as `_shape_dispatch`: the first shape gets code of its own, a later one when it comes back
        # (up to SPECIALIZED_SHAPES), others share a generic version (a solver calling jvp(grad(f))
        # at many sizes once each compiles twice)
        generic = key[:5] + (None,) + key[6:]
        specialized = _TRANSFORM_CACHE.setdefault(("specialized shapes",) + generic, set())
        seen = _TRANSFORM_CACHE.setdefault(("shapes seen once",) + generic, set())
        if len(specialized) >= SPECIALIZED_SHAPES or (specialized and shapes not in seen):
            if len(specialized) < SPECIALIZED_SHAPES and len(seen) < 64:
                seen.add(shapes)  # its second call compiles code of its own
            shapes, key = None, generic
            entry = _TRANSFORM_CACHE.get(key)
        else:
            specialized.add(shapes)
    if entry is None:
        key = key[:2] + (reads_key(f, keep=True),) + key[3:]  # planned again: a callee may be new
        nums = _all_differentiable(primals)
        if wrt is not None:
            nums = tuple(i for i in nums if wrt[0] <= i < wrt[1])
        compiled = compile_derivative(
            f, Mode.FORWARD, nums, _diff_kinds(_kinds(primals, nums), nums), bool(has_aux), shapes
        )
        entry = _TRANSFORM_CACHE[key] = (compiled.function, nums)
    function, nums = entry
    checked = check_tangents(f, primals, tangents, nums, "jvp")
    if len(nums) != len(primals):
        check_constant_tangents(f, primals, tangents, nums)
    if has_aux:
        (value, aux), tangent = function(*primals, *checked)
        return value, tangent, aux
    return function(*primals, *checked)


_TRANSFORM_CACHE = cache.TRANSFORMS  # (mode, code object, what it reads, argument types) -> compiled pieces


@guarded
def vjp(f, *primals, has_aux=False, backend="python"):
    """Like `jax.vjp`: returns (f(*primals), pullback); the pullback may be called many times.

    With has_aux=True, `f` returns (output, aux) and vjp returns (output, pullback, aux).
    """
    numba_backend = _numba_backend(backend)
    if numba_backend is not None:
        return numba_backend.vjp(f, *primals, has_aux=has_aux)
    given = len(primals)
    check_primals(f, primals, "vjp")
    if needs_adapting(
        f
    ):  # a bound method, a partial, keyword-only parameters: the bound values are constants
        f, primals, first = reach(f, primals, {})
    else:
        first = 0
        f = as_python_function(f)
        primals = _bind(f, primals, {})
    key = ("reverse", code_identity(f), reads_key(f), first, given, _signature(primals), bool(has_aux))
    entry = _TRANSFORM_CACHE.get(key)
    if entry is None:
        key = key[:2] + (reads_key(f, keep=True),) + key[3:]  # planned again: a callee may be new
        nums = tuple(i for i in _all_differentiable(primals) if first <= i < first + given)
        kinds = _diff_kinds(_kinds(primals, nums), nums)

        def build(shapes):
            objects = compile_derivative(f, Mode.SPLIT, nums, kinds, bool(has_aux), shapes).extra["objects"]
            forward, backward = objects["forward"], objects["backward"]
            return lambda *args: (forward(*args), backward)

        if config.enabled() and _input_shapes(primals, kinds) is not None:
            sweep = _shape_dispatch(build, kinds)
        else:
            sweep = build(None)
        entry = _TRANSFORM_CACHE[key] = (sweep, nums)
    sweep, nums = entry
    for i in nums:
        p = primals[i]
        if type(p) is not float and (type(p) is not np.ndarray or p.dtype.kind != "f"):
            check_not_complex(f, p, i, "vjp")
    (value, residuals), backward = sweep(*primals)

    def pullback(cotangent):
        kind = type(value)
        if kind is np.ndarray:
            quick = (
                type(cotangent) is np.ndarray
                and value.shape == cotangent.shape
                and cotangent.dtype.kind == "f"
            )
        else:
            quick = kind in QUICK_SCALARS and type(cotangent) in QUICK_SCALARS
        if not quick:
            problem = mismatch(value, cotangent, "output's")
            if problem is not None:
                raise ArgumentError(
                    f"vjp: the cotangent given to the pullback of `{getattr(f, '__name__', 'f')}` does not match "
                    f"its output: {problem}",
                    hint="pass a cotangent of the output's structure, shape and float dtype",
                )
        # the backward sweep may write into the seed (`y_bar[0] = 0.0`): never into the caller's array
        grads = backward(residuals, copy_lists(cotangent, arrays=True))
        out = [0.0] * given
        for i, g in zip(nums, grads):
            out[i - first] = g
        return tuple(out)

    pullback = guarded(pullback)
    if has_aux:
        value, aux = value
        return value, pullback, aux
    return value, pullback


TRANSFORM_APIS.update(grad=grad, value_and_grad=value_and_grad, jvp=jvp)


@guarded
def hvp(f, primals, tangents):
    """Hessian-vector product H(primals) @ tangents of scalar `f` w.r.t. all its arguments, by
    forward mode over the reverse-mode gradient: about the cost of a few gradients, and the
    Hessian is never formed. Returns one array (or float) per primal, a bare one for one primal."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ArgumentError(
            f"hvp got {len(primals)} primals but {len(tangents)} tangents", hint="pass one tangent per primal"
        )
    nums = tuple(range(len(primals)))
    _, out = jvp(grad(f, argnums=nums), primals, tangents)
    return out[0] if len(primals) == 1 else out


OUTER_ONLY_APIS.update(vjp=vjp, hvp=hvp)
