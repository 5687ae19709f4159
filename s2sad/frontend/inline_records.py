"""Records built in the code being inlined: `p = Params(k, c=c)` of a NamedTuple, or of a dataclass
whose `__init__` only stores its fields, becomes `p = {"k": k, "c": c}` (missing fields from their
defaults). The pipeline then reads its fields by key (`trees.records_as_dicts`), as it does for a
record given as an argument, and `local_dicts` gives each field a variable of its own.

>>> from typing import NamedTuple
>>> class Params(NamedTuple):
...     k: float
...     c: float = 0.1
>>> record_fields(Params), record_defaults(Params)
(['k', 'c'], {'c': 0.1})
"""

import ast
import dataclasses
import inspect

from ..analyses.primitives import is_global, resolve


def record_fields(cls):
    """The field names of a NamedTuple class or of a dataclass whose `__init__` only stores its
    fields (no `__post_init__`, no `init=False` field); else None."""
    if not inspect.isclass(cls):
        return None
    if issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple):
        return list(cls._fields)
    if dataclasses.is_dataclass(cls) and cls.__dataclass_params__.init and not hasattr(cls, "__post_init__"):
        fields = dataclasses.fields(cls)
        if all(f.init for f in fields) and all(f.default_factory is dataclasses.MISSING for f in fields):
            return [f.name for f in fields]
    return None


def record_defaults(cls):
    if issubclass(cls, tuple):
        return dict(getattr(cls, "_field_defaults", {}))
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


class RecordLiterals:
    """The part of the inliner that turns record constructions into dict literals (`self.records`
    collects the names assigned one: name -> its fields)."""

    def record_literal(self, stmt):
        """`p = Params(k, c)` (or `Params(k=k, c=c)`) of a NamedTuple or a dataclass with the
        generated `__init__`: `p = {"k": k, "c": c}`, missing fields from their defaults; its fields
        are then read by key (`trees.records_as_dicts`), so the record is a dict of its fields, as a
        record given as an argument is."""
        value = stmt.value
        if not (isinstance(value, ast.Call) and is_global(value.func)):
            return
        cls = resolve(value.func, self.namespace)
        fields = record_fields(cls)
        if fields is None or any(isinstance(a, ast.Starred) for a in value.args):
            return
        if len(value.args) > len(fields) or any(k.arg is None or k.arg not in fields for k in value.keywords):
            return  # Python raises its TypeError when the code runs
        given = dict(zip(fields, value.args))
        given.update({k.arg: k.value for k in value.keywords})
        defaults = record_defaults(cls)
        items = []
        for name in fields:
            if name in given:
                items.append(given[name])
            elif name in defaults:
                default = defaults[name]
                if isinstance(default, (bool, int, float, str, type(None))):
                    items.append(ast.Constant(default))
                else:  # an array default: a constant read from the namespace
                    items.append(self.global_name(default, f"_{cls.__name__}_{name}"))
            else:
                return  # a missing argument: Python's TypeError when the code runs
        stmt.value = ast.copy_location(ast.Dict(keys=[ast.Constant(f) for f in fields], values=items), value)
        self.records[stmt.targets[0].id] = tuple(fields)
