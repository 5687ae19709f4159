"""Kinds of values, the small type lattice the compiler specializes on.

A kind says how a value behaves under differentiation and broadcasting:
`INT` and `BOOL` values carry no derivative, `FLOAT` is a Python or NumPy
scalar, `ARRAY` an ndarray, `ANY` a float or array we cannot tell apart, and
`LIST` a Python list (its elements' kind is tracked apart, see
`s2sad.analyses.activity`), and `OTHER` anything else (strings, None, tuples, dicts,
ranges, modules). A function given as an argument to a differentiated function
has the kind `('function', f)`: it is a constant the compiler follows, like
JAX's static arguments, and another function compiles again.

>>> join(INT, FLOAT), join(FLOAT, ARRAY), join(BOOL, INT), join(LIST, LIST), join(LIST, FLOAT)
('float', 'any', 'int', 'list', 'other')
>>> kind_of(1.5), kind_of(np.ones(3)), kind_of(3), kind_of(np.float32(2))
('float', 'array', 'int', 'float')
"""

import numbers

import numpy as np

BOOL, INT, FLOAT, ARRAY, ANY, OTHER = "bool", "int", "float", "array", "any", "other"
LIST = "list"
UNKNOWN = None  # bottom: not yet seen

NUMERIC = (BOOL, INT, FLOAT, ARRAY, ANY)
DIFFERENTIABLE = (FLOAT, ARRAY, ANY)

_RANK = {BOOL: 0, INT: 1, FLOAT: 2}


def join(a, b):
    """Least upper bound of two kinds."""
    if a is UNKNOWN:
        return b
    if b is UNKNOWN or a == b:
        return a
    if a in (OTHER, LIST) or b in (OTHER, LIST):
        return OTHER
    if a in _RANK and b in _RANK:
        return a if _RANK[a] > _RANK[b] else b
    if {a, b} <= {BOOL, INT, ARRAY}:
        return ARRAY  # integer scalars broadcast into arrays only as constants
    return ANY


def broadcast(kinds):
    """Kind of an elementwise result of operands of `kinds`."""
    result = UNKNOWN
    arrays = False
    for kind in kinds:
        if kind in (ARRAY,):
            arrays = True
        elif kind == ANY:
            result = join(result, ANY)
        elif kind in (OTHER, LIST):
            return ANY
        else:
            result = join(result, kind)
    if arrays:
        return ARRAY
    return result if result is not UNKNOWN else ANY


def mask(arg_kinds, keywords=()):
    """Kind of an elementwise predicate (`x >= y`, `np.isnan(x)`): a bool of scalars, a boolean array as
    soon as an operand is an array (it broadcasts: `x * (x >= y)` may be larger than `x`).

    >>> mask([FLOAT, INT]), mask([ARRAY, FLOAT]), mask([ANY, FLOAT])
    ('bool', 'array', 'any')
    """
    if any(k == ARRAY for k in arg_kinds):
        return ARRAY
    if arg_kinds and all(k in (BOOL, INT, FLOAT) for k in arg_kinds):
        return BOOL
    return ANY


def integer_cast(arg_kinds, keywords=()):
    """Kind of an integer cast or rounding (`np.int64(x)`, `round(x)`, `math.floor(x)`): an int of a
    number, an (integer) array of an array. INT means one integer, so an index known to be INT selects
    one element: an adjoint writes `a_bar[i] += g`, which would drop repeated entries of an index array.

    >>> integer_cast([FLOAT]), integer_cast([ARRAY]), integer_cast([ANY])
    ('int', 'array', 'any')
    """
    if arg_kinds and arg_kinds[0] in (BOOL, INT, FLOAT):
        return INT
    return ARRAY if arg_kinds and arg_kinds[0] == ARRAY else ANY


def floor_division(arg_kinds, keywords=()):
    """Kind of `a // b`: an int of ints, a float with a float, an (integer) array with an array; unknown
    with an unknown operand (it may be an index array: `idx // 2` repeats entries).

    >>> floor_division([INT, INT]), floor_division([FLOAT, INT]), floor_division([ARRAY, INT])
    ('int', 'float', 'array')
    >>> floor_division([ANY, INT])
    'any'
    """
    if ARRAY in arg_kinds:
        return ARRAY
    if ANY in arg_kinds or not arg_kinds or any(k not in (BOOL, INT, FLOAT) for k in arg_kinds):
        return ANY
    return FLOAT if FLOAT in arg_kinds else INT


def position(arg_kinds, keywords=()):
    """Kind of `np.argmax(x)` / `np.argmin(x)`: one integer over the whole array, an array along an axis.

    >>> position([ARRAY]), position([ARRAY], {"axis": "1"}), position([ARRAY, INT])
    ('int', 'any', 'any')
    """
    if len(arg_kinds) > 1 or dict(keywords).get("axis", "None") != "None":
        return ANY
    return INT


def any_all(arg_kinds, keywords=()):
    """Kind of `np.any(m)` / `np.all(m)`: a bool; along an axis, unknown (an array or a bool)."""
    axis = dict(keywords).get("axis", "None") if keywords else "None"
    return BOOL if axis == "None" else ANY


def reduction(arg_kinds, keywords=()):
    """Kind of `np.sum(x)`, `np.max(x)`, `np.linalg.norm(x)`...: a full reduction of a number or array is
    a float; along an axis (or with `keepdims`) it may be an array.

    >>> reduction([ARRAY]), reduction([ARRAY], {"axis": "0"}), reduction([ARRAY, INT])
    ('float', 'any', 'any')
    """
    keywords = dict(keywords)
    if (
        len(arg_kinds) > 1
        or keywords.get("axis", "None") != "None"
        or keywords.get("keepdims", "False") != "False"
    ):
        return ANY
    return FLOAT if arg_kinds and arg_kinds[0] in (ARRAY, FLOAT, INT, BOOL) else ANY


def bitwise(arg_kinds, keywords=()):
    """Kind of `~m`, `m1 & m2`: masks of masks, integers of integers.

    >>> bitwise([BOOL, BOOL]), bitwise([INT, BOOL]), bitwise([ARRAY])
    ('bool', 'int', 'any')
    """
    if arg_kinds and all(k == BOOL for k in arg_kinds):
        return BOOL
    if arg_kinds and all(k in (INT, BOOL) for k in arg_kinds):
        return INT
    return ANY


def linspace(arg_kinds, keywords=()):
    """Kind of `np.linspace(...)`: an array, or a tuple (array, step) with `retstep`."""
    retstep = dict(keywords).get("retstep", "False") != "False" or len(arg_kinds) > 4
    return OTHER if retstep else ARRAY


def first_operand(arg_kinds, keywords=()):
    """Kind of `stop_gradient(x)`: the kind of `x`."""
    return arg_kinds[0] if arg_kinds else ANY


def kind_of(value):
    """Kind of a runtime value (used to specialize compiled derivatives)."""
    if isinstance(value, np.ndarray):
        return ARRAY
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, numbers.Integral):
        return INT
    if isinstance(value, numbers.Real):
        return FLOAT
    return OTHER


FUNCTION = "function"


def function_kind(value):
    """('function', value) for a function (not a class) given as an argument, else None.

    >>> function_kind(np.tanh)[0], function_kind(1.5), function_kind(float)
    ('function', None, None)
    """
    if callable(value) and not isinstance(value, type):
        return (FUNCTION, value)
    return None


def is_function_kind(kind):
    return isinstance(kind, tuple) and len(kind) == 2 and kind[0] == FUNCTION


def as_float(kind):
    """Kind after a floating operation (true division, sin, ...)."""
    return FLOAT if kind in (BOOL, INT) else kind


# -- refined kinds: what a derivative compiled at run time (a recursion's) is specialized to ----------
# A call that is not inlined compiles its callee's derivative per argument kinds (s2sad.pipeline
# .call_derivative). There an array's kind says its rank and the kind of its elements, and a list's the
# kind of its elements: `A[rows[0], cols[j]]` is then a float, and the code needs no run-time
# broadcasting helpers, yet one compilation serves every size (det by minors: every level of the
# recursion and every matrix size). Such a kind is a tuple whose first item is the plain kind.

_DTYPE_ELEMENTS = {"f": FLOAT, "i": INT, "u": INT, "b": BOOL}


def refined_array(ndim, element):
    """The kind of arrays of rank `ndim` whose elements have the kind `element`."""
    return (ARRAY, ndim, element)


def refined_list(element):
    """The kind of lists whose every element has the kind `element` (INT takes bools too, as `join`)."""
    return (LIST, element)


def is_refined(kind):
    """Is `kind` a refined array or list kind?

    >>> is_refined(refined_array(2, FLOAT)), is_refined(refined_list(INT)), is_refined(ARRAY)
    (True, True, False)
    """
    return kind.__class__ is tuple and len(kind) in (2, 3) and kind[0] in (ARRAY, LIST)


def plain(kind):
    """The plain kind of a (possibly refined) kind.

    >>> plain(refined_array(2, FLOAT)), plain(refined_list(INT)), plain(FLOAT)
    ('array', 'list', 'float')
    """
    return kind[0] if is_refined(kind) else kind


def describe(kind):
    """A kind as the header of generated code shows it.

    >>> describe(refined_array(2, FLOAT)), describe(refined_list(INT)), describe(FLOAT)
    ('float array of rank 2', 'list of int', 'float')
    """
    if not is_refined(kind):
        return kind if isinstance(kind, str) else ANY
    if kind[0] == ARRAY:
        return f"{kind[2] if kind[2] != ANY else ''} array of rank {kind[1]}".lstrip()
    return f"list of {kind[1]}"


def _element_kind(value):
    cls = value.__class__
    if cls is float or cls is np.float64:
        return FLOAT
    if cls is int:
        return INT
    return ARRAY if cls is np.ndarray else kind_of(value)


def refined_kind(value, differentiated=False):
    """The refined kind of a run-time value: an array's rank and element kind (floats when it is
    differentiated), a list's element kind when its elements are numbers or arrays, else `kind_of`.

    >>> refined_kind(np.ones((2, 3))), refined_kind(np.arange(3)), refined_kind(np.arange(3), True)
    (('array', 2, 'float'), ('array', 1, 'int'), ('array', 1, 'float'))
    >>> refined_kind([0, 1, 2]), refined_kind([0, 1.5]), refined_kind([np.ones(2)]), refined_kind(2.0)
    (('list', 'int'), ('list', 'float'), ('list', 'array'), 'float')
    >>> refined_kind([]), refined_kind(["a"]), refined_kind([1.0, np.ones(2)])
    ('other', 'other', 'other')
    """
    cls = value.__class__
    if cls is np.ndarray:
        element = _DTYPE_ELEMENTS.get(value.dtype.kind)
        if element is None:
            return ARRAY  # complex, objects, strings: no element kind
        return (ARRAY, value.ndim, FLOAT if differentiated else element)
    if cls is list:
        element = UNKNOWN
        for item in value:
            kind = _element_kind(item)
            if kind != element:
                if kind == OTHER or ARRAY in (kind, element) and element is not UNKNOWN:
                    return OTHER  # (numbers and arrays mixed: no element kind)
                element = join(element, kind)
        return OTHER if element is UNKNOWN else (LIST, element)
    return kind_of(value)
