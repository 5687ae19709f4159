"""Arguments checked before generated code runs: what can be differentiated (real floats and
float arrays, trees of them) and whether tangents and cotangents fit their primals, each refusal an
ArgumentError naming the argument (as JAX's "grad requires real-valued inputs").

>>> _not_real(3), _not_real(3.0), _not_real(np.zeros(2, dtype=int))
('an int', None, 'an integer array')
"""

import numbers

import numpy as np

from .. import trees as T
from ..errors import ArgumentError
from ..frontend.nested import _parameters

_ARRAY_KINDS = {
    "b": "a boolean array",
    "i": "an integer array",
    "u": "an integer array",
    "c": "a complex array",
}


def _not_real(value):
    """What `value` is when it cannot be differentiated (an int, a bool, a complex number or an
    array of them); None for floats and float arrays."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        return None if kind == "f" else _ARRAY_KINDS.get(kind, f"an array of dtype {value.dtype}")
    if isinstance(value, (bool, np.bool_)):
        return "a bool"
    if isinstance(value, numbers.Integral):
        return "an int"
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        return "a complex number"
    return None


def describe(value):
    """What `value` is, in a message: `None`, `a str ('abc')`, `a Model`.

    >>> describe(None), describe("abc"), describe(object())
    ('None', "a str ('abc')", 'an object')
    """
    if value is None:
        return "None"
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return f"{article} {name} ({text if len(text) <= 30 else text[:27] + '...'})"
    return f"{article} {name}"


_OTHER_HINTS = {
    "NoneType": "pass a float or a NumPy array there (a None often comes from a function that returned "
    "nothing); an argument not in argnums may be None",
    "str": "pass numbers (`float(text)`, `np.array(values, dtype=float)`); an argument not in argnums may be a "
    "string: it is a constant",
}


def _argument_name(f, n):
    """`argument 1 (`w`)`: how messages name the n-th argument of `f`."""
    try:
        params = _parameters(f)
    except Exception:  # a callable without a code object
        params = []
    return f"argument {n} (`{params[n]}`)" if n < len(params) else f"argument {n}"


def _leaves_with_paths(value, path):
    """(path, leaf) pairs of a tree argument: `params['W']`, `layers[0]`, `layer.W`."""
    if T.is_record(value):
        for name in T.record_fields(value):
            yield from _leaves_with_paths(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, dict):
        for key in T.sorted_keys(value):
            yield from _leaves_with_paths(value[key], f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves_with_paths(item, f"{path}[{index}]")
    else:
        yield path, value


_REAL_HINTS = {
    "a bool": "leave it out of argnums: a mask or flag is a constant",
    "a boolean array": "leave it out of argnums: a mask or flag is a constant",
    "a complex number": "s2sad has no complex derivatives: pass the real and imaginary parts as float arguments",
    "a complex array": "s2sad has no complex derivatives: pass the real and imaginary parts as float arrays",
}


def check_real(f, args, nums, transform):
    """An ArgumentError, as JAX's "grad requires real-valued inputs", for a differentiated argument
    (or tree leaf) that is an int, a bool, a complex number or an array of them."""
    for n in nums:
        value = args[n]
        if not (
            T.is_tree(value) or callable(value) or isinstance(value, (numbers.Number, np.ndarray, np.generic))
        ):
            raise ArgumentError(
                f"{transform} of `{getattr(f, '__name__', 'f')}` w.r.t. {_argument_name(f, n)}, which is "
                f"{describe(value)}; s2sad differentiates floats and NumPy arrays (and dicts, lists, tuples, "
                "NamedTuples and dataclasses of them)",
                hint=_OTHER_HINTS.get(
                    type(value).__name__,
                    'pass the parameters as a dict of arrays (read as `params["W"]`), or leave the object out '
                    "of argnums: an object not differentiated is a constant whose attributes can be read",
                ),
            )
        leaves = _leaves_with_paths(value, "") if T.is_tree(value) else (("", value),)
        for path, leaf in leaves:
            if path and not (callable(leaf) or isinstance(leaf, (numbers.Number, np.ndarray, np.generic))):
                raise ArgumentError(
                    f"{transform} of `{getattr(f, '__name__', 'f')}` w.r.t. {_argument_name(f, n)}, whose leaf "
                    f"{path} is {describe(leaf)}; the leaves of a differentiated dict, list or tuple must be "
                    "floats or NumPy arrays",
                    hint="keep constants (None, strings, settings) out of the differentiated argument: pass them "
                    "as another argument, not in argnums",
                )
            problem = _not_real(leaf)
            if problem is None:
                continue
            where = _argument_name(f, n) + (f", leaf {path}," if path else "")
            raise ArgumentError(
                f"{transform} of `{getattr(f, '__name__', 'f')}` w.r.t. {where} which is {problem}; s2sad "
                "differentiates w.r.t. real floating-point values (floats and float arrays), as JAX does",
                hint=_REAL_HINTS.get(
                    problem,
                    "pass a float (`3.0`, `x.astype(float)`) to differentiate w.r.t. it, "
                    "or leave it out of argnums: an int used as an index or a count is a constant",
                ),
            )


def _is_zero(value):
    try:
        return not np.any(value)
    except Exception:
        return False


def mismatch(primal, other, whose="primal's"):
    """Why `other` (a tangent or cotangent) cannot go with `primal` (None if it can): its structure,
    shape or kind. Numbers of any real kind go with floats; only a zero goes with an int or a bool."""
    if other is None:
        return "it is None"
    if isinstance(primal, tuple) and type(other) in (tuple, list) and type(primal) is not tuple:
        primal = tuple(primal)  # a NamedTuple output (`np.linalg.slogdet`): a plain tuple of cotangents
    if isinstance(primal, list) and isinstance(other, np.ndarray):  # a list of arrays: an array of rows
        try:
            shape = np.shape(primal)
        except ValueError:
            shape = None
        return None if shape == other.shape else f"its shape {other.shape} is not the {whose} {shape}"
    if T.is_tree(primal) or T.is_tree(other):
        if not (T.is_tree(primal) and T.is_tree(other)):
            return f"it is a {type(other).__name__}, the {whose[:-2]} a {type(primal).__name__}"
        mine, theirs = T.flatten(primal), T.flatten(other)
        if mine[1] != theirs[1]:
            return f"its structure {_structure(other)} is not the {whose} {_structure(primal)}"
        for (path, a), b in zip(_leaves_with_paths(primal, ""), theirs[0]):
            if b is None and whose == "output's":
                continue  # a part of a cotangent given as None is zero (`pullback([g, None])`)
            problem = mismatch(a, b, whose)
            if problem is not None:
                return f"at {path}: {problem}"
        return None
    if isinstance(other, (bool, np.bool_)) or not isinstance(other, (numbers.Number, np.ndarray, np.generic)):
        return f"it is a {type(other).__name__}"
    if isinstance(other, np.ndarray) and other.dtype.kind not in "fiu":
        return f"it has dtype {other.dtype}"
    if isinstance(other, numbers.Complex) and not isinstance(other, numbers.Real):
        return "it is complex"
    if np.shape(primal) != np.shape(other):
        return f"its shape {np.shape(other)} is not the {whose} {np.shape(primal)}"
    if _not_real(primal) is not None and not _is_zero(other):
        return f"the primal is {_not_real(primal)}, a constant: its tangent can only be zero"
    return None


def check_tangents(f, primals, tangents, nums, transform, what="tangent"):
    """The tangents for the differentiated primals `nums`, checked against them: an ArgumentError
    names the argument whose tangent has another structure, shape or kind (a float tangent for an
    array primal, an array for a float, None, nonzero for an int). None for an int or bool
    primal stands for its zero tangent. Float primals with float tangents take the quick path."""
    out = []
    for i in nums:
        p, t = primals[i], tangents[i]
        kind = type(p)
        if kind is np.ndarray:
            quick = (
                type(t) is np.ndarray and p.shape == t.shape and p.dtype.kind == "f" and t.dtype.kind == "f"
            )
        else:
            quick = kind in QUICK_SCALARS and type(t) in QUICK_SCALARS
        if quick:
            out.append(t)
            continue
        check_not_complex(f, p, i, transform)
        if t is None and _not_real(p) is not None:
            out.append(0.0)  # an int or bool primal: a constant
            continue
        problem = mismatch(p, t)
        if problem is not None:
            raise ArgumentError(
                f"{transform}: the {what} of {_argument_name(f, i)} does not match the primal: {problem}",
                hint=f"pass a {what} of the primal's structure, shape and float dtype "
                "(np.zeros_like(x) or 0.0 for an argument you hold constant)",
            )
        out.append(t)
    return out


QUICK_SCALARS = (float, np.float64, np.float32)  # primals and tangents the quick path takes as they are


def check_not_complex(f, value, n, transform):
    leaves = _leaves_with_paths(value, "") if T.is_tree(value) else (("", value),)
    for path, leaf in leaves:
        problem = _not_real(leaf)
        if problem in ("a complex number", "a complex array"):
            where = _argument_name(f, n) + (f", leaf {path}," if path else "")
            raise ArgumentError(
                f"{transform} of `{getattr(f, '__name__', 'f')}`: {where} is {problem}; s2sad has no "
                "complex derivatives (no `holomorphic` convention)",
                hint=_REAL_HINTS[problem],
            )


def _structure(tree):
    """A tree's structure as the user would write it: `{'b': *, 'w': [*, *]}`, `Layer(W=*, b=*)`."""
    if T.is_record(tree):
        fields = ", ".join(f"{name}={_structure(getattr(tree, name))}" for name in T.record_fields(tree))
        return f"{type(tree).__name__}({fields})"
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_structure(tree[k])}" for k in T.sorted_keys(tree)) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(_structure(v) for v in tree) + "]"
    if isinstance(tree, tuple):
        return "(" + ", ".join(_structure(v) for v in tree) + ("," if len(tree) == 1 else "") + ")"
    return "*"


def check_constant_tangents(f, primals, tangents, nums):
    """The tangents of the primals jvp holds constant (ints, bools, other objects) must be None or zero."""
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if i in nums or t is None:
            continue
        leaves = T.flatten(t)[0] if T.is_tree(t) else [t]
        try:
            zero = all(not np.any(leaf) for leaf in leaves if leaf is not None)
        except (TypeError, ValueError):
            zero = False
        if not zero:
            raise ArgumentError(
                f"jvp: {_argument_name(f, i)} is {_not_real(p) or describe(p)}, a constant, but its tangent "
                "is not zero",
                hint="pass None or 0 as its tangent; to differentiate w.r.t. it, pass it as a float (3.0, not 3)",
            )


def check_primals(f, primals, transform):
    """vjp differentiates w.r.t. every primal: None or a string among them is refused by name."""
    for n, value in enumerate(primals):
        if value is None or isinstance(value, (str, bytes)):
            raise ArgumentError(
                f"{transform} of `{getattr(f, '__name__', 'f')}`: {_argument_name(f, n)} is {describe(value)}; "
                f"{transform} differentiates w.r.t. every primal, which must be floats or NumPy arrays (or trees "
                "of them)",
                hint="bind constants first: `s2sad.vjp(functools.partial(f, flag=value), x)` or a lambda",
            )
