"""The types of the numba target: a value's kind as one run of the Python target shows it, and what
numba types a name, a tape or a stack of that kind by (its zero, its dtype)."""

import ast

import numpy as np

from .syntax import parse_expr

_DTYPES = {"f": "np.float64", "i": "np.int64", "b": "np.bool_", "u": "np.uint64"}


def describe(value):
    """The type of a value as the target uses it: 'float', 'int', 'bool', ('array', ndim, kind), or None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, np.ndarray):
        return ("array", value.ndim, value.dtype.kind, value.dtype.str)
    if isinstance(value, tuple) and all(describe(v) in ("int", "float", "bool") for v in value):
        return ("tuple", tuple(describe(v) for v in value))  # a shape
    if isinstance(value, list):  # numba holds a list of one type (numbers: float if any is)
        items = {describe(v) for v in value}
        if items <= {"int", "float"} and len(items) == 2:
            items = {"float"}
        if len(items) <= 1:
            item = items.pop() if items else None
            if is_scalar(item) or zero_of(item) is not None:
                return ("list", item)
    return ("object", type(value).__name__)


def dtype_of(kind_char, dtype_str):
    if kind_char == "f" and dtype_str.endswith("f4"):
        return "np.float32"
    return _DTYPES.get(kind_char)


def zero_of(kind):
    """An expression for a value of type `kind` (what numba types a name by before its first use)."""
    if kind in (None, "float"):
        return parse_expr("0.0")
    if kind == "int":
        return parse_expr("0")
    if kind == "bool":
        return parse_expr("False")
    if kind[0] == "tuple":
        return ast.Tuple(elts=[zero_of(k) for k in kind[1]], ctx=ast.Load())
    if kind[0] == "array" and dtype_of(kind[2], kind[3]):
        shape = "(" + "0, " * kind[1] + ")"
        return parse_expr(f"np.zeros({shape}, {dtype_of(kind[2], kind[3])})")
    if kind[0] == "list":  # an empty list of the type (an inner loop's tape of arrays, or of such tapes)
        element = zero_of(kind[1])
        if element is not None:
            return ast.Call(func=parse_expr("_rt.list_like"), args=[element], keywords=[])
    return None


def is_list(kind):
    return isinstance(kind, tuple) and kind[0] == "list"


def is_scalar(kind):
    return kind in (None, "float", "int", "bool")


def scalar_dtype(kind):
    return {None: "np.float64", "float": "np.float64", "int": "np.int64", "bool": "np.bool_"}[kind]


def record_of(name, kind):
    """What a tape or stack of arrays records of `name`: a C-contiguous array (a list holds one array
    type; a transpose or a slice, F or A layout in numba, is copied), else the name itself."""
    if isinstance(kind, tuple) and kind[0] == "array" and kind[1] >= 1:
        return parse_expr(f"np.ascontiguousarray({name})")
    return ast.Name(id=name, ctx=ast.Load())


def tape_kind(kind):
    """The kind of the array a tape records scalars of `kind` in."""
    return {
        None: ("array", 1, "f", "<f8"),
        "float": ("array", 1, "f", "<f8"),
        "int": ("array", 1, "i", "<i8"),
        "bool": ("array", 1, "b", "|b1"),
    }[kind]
