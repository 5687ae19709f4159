"""A function given as an argument (`loss(w, model)`) is a constant of the compilation: the body
starts with `model = <the function>`, a global the inliner follows.

>>> import ast, numpy as np
>>> from s2sad import kinds as K
>>> from s2sad.frontend.source import parse_function
>>> def f(x, g):
...     return g(x)
>>> parsed = parse_function(f)
>>> functions_as_constants(parsed, ("float", K.function_kind(np.tanh)))
(('float', 'other'), {'g': 'np.tanh'})
>>> print(ast.unparse(parsed.tree))
def f(x, g):
    g = np.tanh
    return g(x)
"""

import ast
import keyword
import types

from .. import kinds as K
from ..astutil import fix_missing_locations, identifier


def functions_as_constants(parsed, input_kinds):
    """A function given as an argument (`loss(w, model)`) is a constant of this compilation: the
    body starts with `model = <the function>`, a global the inliner follows, and the parameter
    itself is not read. Returns (the kinds with those arguments' kinds made `OTHER`, parameter -> the
    name its function is read by)."""
    params = [a.arg for a in parsed.tree.args.args]
    prologue = []
    static_params = {}  # parameter -> the name its function is read by
    for param, kind in zip(params, input_kinds):
        if not K.is_function_kind(kind):
            continue
        value = kind[1]
        name = getattr(value, "__name__", "")
        modules = [
            m
            for m, module in parsed.namespace.items()
            if isinstance(module, types.ModuleType) and name and getattr(module, name, None) is value
        ]
        if modules:  # `np.tanh`: read as the user would write it
            reference = ast.Attribute(value=ast.Name(modules[0], ast.Load()), attr=name, ctx=ast.Load())
        elif not (
            name.isidentifier()
            and not keyword.iskeyword(name)
            and parsed.namespace.get(name, value) is value
            and name not in params
        ):
            name = f"_{param}_{identifier(name or 'function')}"
            while parsed.namespace.get(name, value) is not value or name in params:
                name += "_"
        if not modules:
            parsed.namespace[name] = value
            reference = ast.Name(name, ast.Load())
        else:
            name = ast.unparse(reference)
        assign = ast.Assign(targets=[ast.Name(param, ast.Store())], value=reference)
        prologue.append(fix_missing_locations(ast.copy_location(assign, parsed.tree)))
        static_params[param] = name
    parsed.tree.body = prologue + parsed.tree.body
    return tuple(K.OTHER if K.is_function_kind(k) else k for k in input_kinds), static_params
