"""Callables users hand to the transforms besides plain functions, and the rule for each.

- A method decorated in its class (`@s2sad.grad` above `def loss(self, w)`, or `grad(Model.loss)`:
  a function defined in a class body whose first parameter is `self`): `argnums` count after
  `self`, which is a constant whose arrays and attributes the code reads.
- A bound method (`grad(model.loss)`): the same, `self` bound; an object of the user's class
  with a `__call__` (`grad(model)`): its `__call__`.
- `functools.partial(f, *args, **keywords)`: the bound arguments are constants; `argnums` index
  the positional arguments the partial is called with.
- Keyword arguments (to keyword-only and `**kwargs` parameters, or given by a partial) are
  constants, as in JAX: `argnums` index positional arguments only. To differentiate w.r.t. a
  keyword-only parameter, wrap it: `grad(lambda w, s: f(w, scale=s), argnums=1)`.

The compiler itself differentiates functions of plain positional parameters. For the others a
small adapter is written per call structure (how many positional arguments, which keywords),
`def f(w, data, scale): return _f(w, data, scale=scale)`, whose call of the user's function the
compiler inlines; the bound values are passed to it as arguments, so a new partial or a new bound
method of the same function reuses its compiled derivative.

>>> import functools
>>> def f(w, data, *, scale=1.0):
...     return w * data * scale
>>> target, args, first = reach(functools.partial(f, data=2.0), (3.0,), {"scale": 0.5})
>>> args
(3.0, 2.0, 0.5)
>>> import inspect
>>> print(inspect.getsource(target).strip())
def f(w, data, scale):
    return _f(w, data, scale=scale)
"""

import functools
import inspect
import itertools
import keyword
import linecache
import types

from .. import cache
from ..errors import ArgumentError
from ..frontend.inline_callees import user_object
from ..frontend.nested import transform_of

ADAPTS = "__s2sad_adapts__"  # on an adapter: the user's function it calls
_ADAPTERS = {}  # (function, positional count, keyword names) -> adapter
_COUNTER = itertools.count(1)
cache.on_clear(_ADAPTERS.clear)


def parts(f):
    """(callable, leading bound arguments, bound keywords) of a partial (nested ones too); `f`
    itself with none for anything else."""
    lead, keywords = (), {}
    while isinstance(f, functools.partial):
        lead = tuple(f.args) + lead
        keywords = {**f.keywords, **keywords}
        f = f.func
    if user_object(f, callable_too=True) and transform_of(f) is None:  # `grad(model)`: its `__call__`
        f = f.__call__
    return f, lead, keywords


def _method(f):
    """Is `f` a method bound to an instance, of a function with source?"""
    return (
        isinstance(f, types.MethodType)
        and isinstance(f.__func__, types.FunctionType)
        and not isinstance(f.__self__, type)
    )


def in_class(function):
    """Is `function` a method defined in a class body (its qualified name `Class.name`, its first
    parameter `self`)? Transforms of it count `argnums` after `self`."""
    code = getattr(function, "__code__", None)
    qualname = getattr(function, "__qualname__", "")
    if code is None or not isinstance(function, types.FunctionType) or "." not in qualname:
        return False
    owner = qualname.split(".")[-2]
    return owner != "<locals>" and code.co_argcount > 0 and code.co_varnames[0] == "self"


def plain(function):
    """Does `function` have plain positional parameters only (what the compiler takes as it is)?"""
    code = getattr(function, "__code__", None)
    return code is None or not (code.co_flags & 0x0C or code.co_kwonlyargcount or code.co_posonlyargcount)


def needs_adapting(f):
    """Is `f` a callable the transforms reach through `reach` (not a plain function itself)?"""
    if transform_of(f) is not None or hasattr(f, "__wrapped__"):
        return False  # an s2sad transform, a decorated function: the compiler unwraps them itself
    if isinstance(f, functools.partial) or user_object(f, callable_too=True):
        f = parts(f)[0]
        return isinstance(f, types.FunctionType) or _method(f)
    return _method(f) or isinstance(f, types.FunctionType) and (not plain(f) or in_class(f))


def reach(f, args, kwargs):
    """(function the compiler takes, its positional arguments, how many of them lead the caller's)
    for the call `f(*args, **kwargs)`: the function itself with keywords bound to positions, or an
    adapter (see the module docstring). An object of the user's own class bound by a partial is a
    constant of the adapter (its methods are inlined), not an argument."""
    function, lead, keywords = parts(f)
    name = getattr(function, "__name__", "f")
    try:
        bound = inspect.signature(function).bind(*lead, *args, **{**keywords, **kwargs})
    except TypeError as exc:
        raise ArgumentError(f"{name}: {exc}") from None
    bound.apply_defaults()
    positional, named = tuple(bound.args), bound.kwargs
    code = function.__code__
    own = list(code.co_varnames[int(_method(function)) : code.co_posonlyargcount + code.co_argcount])
    fixed = {i for i in range(len(lead)) if user_object(lead[i])}  # bound by the partial
    fixed |= {i for i, p in enumerate(own[: len(positional)]) if p in keywords and p not in kwargs}
    fixed = {i for i in fixed if user_object(positional[i])}
    fixed_names = {k for k in named if k in keywords and k not in kwargs and user_object(named[k])}
    if plain(function) and not _method(function) and not fixed and not fixed_names:
        return function, positional, len(lead)
    constants = tuple((i, id(positional[i])) for i in sorted(fixed)) + tuple(
        (k, id(named[k])) for k in sorted(fixed_names)
    )
    key = (function, len(positional), tuple(named), constants)
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        if len(_ADAPTERS) >= 256:  # methods of many objects: forget the old ones (and let the objects go)
            _ADAPTERS.clear()
        values = {i: positional[i] for i in fixed} | {k: named[k] for k in fixed_names}
        adapter = _ADAPTERS[key] = _adapter(function, len(positional), tuple(named), values)
    first = len(lead) - len(fixed & set(range(len(lead))))
    args = [v for i, v in enumerate(positional) if i not in fixed]
    return adapter, tuple(args) + tuple(v for k, v in named.items() if k not in fixed_names), first


def _adapter(function, count, names, constants):
    """`def f(a, b, k): return _f(a, b, k=k)`: `count` positional arguments, then the keywords
    `names`; those in `constants` (position or name -> value) are globals of the adapter."""
    code = function.__code__
    own = list(code.co_varnames[: code.co_posonlyargcount + code.co_argcount])
    if _method(function):
        own = own[1:]  # `self` is bound: the adapter reads the object as a constant
    vararg = code.co_varnames[code.co_argcount + code.co_kwonlyargcount] if code.co_flags & 0x04 else "args"
    params = own[:count] + [f"{vararg}_{i}" for i in range(count - len(own))]
    taken = set(params) | {"_f"}
    keywords = []
    for i, key in enumerate(names):
        usable = key.isidentifier() and not keyword.iskeyword(key) and key not in taken
        keywords.append(key if usable else f"_keyword{i}")
        taken.add(keywords[-1])
    namespace = {"_f": function}
    passed = []  # what the adapter passes at each position / keyword
    for i, param in enumerate(params):
        if i in constants:
            passed.append(f"_{param}")
            namespace[f"_{param}"] = constants[i]
        else:
            passed.append(param)
    for key, local in zip(names, keywords):
        if key in constants:
            namespace[f"_{local}"] = constants[key]
            local = f"_{local}"
        passed.append(f"{key}={local}" if key.isidentifier() else f"**{{{key!r}: {local}}}")
    signature = [p for i, p in enumerate(params) if i not in constants]
    signature += [local for key, local in zip(names, keywords) if key not in constants]
    name = function.__name__ if function.__name__.isidentifier() else "f"
    text = f"def {name}({', '.join(signature)}):\n    return _f({', '.join(passed)})\n"
    filename = f"<s2sad: call of {name} #{next(_COUNTER)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    exec(compile(text, filename, "exec"), namespace)
    adapter = namespace[name]
    setattr(adapter, ADAPTS, function)
    return adapter
