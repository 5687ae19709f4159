"""The derivative rule table: callee -> tangent template and adjoint template (the formula sheet is in
`core.py`, `numpy_rules.py` and `runtime_rules.py`; the template engine in `templates.py`, the
tangents for many directions derived from the plain ones in `batching.py`; what each call returns
is the kinds analysis' table, `s2sad.analyses.kind_table`).

A template is a tiny Python function whose body is inlined into generated code.
Its first parameter names the result, the others the operands; `x_dot` is the
tangent of operand `x`, `x_bar` its adjoint, and `x_bar += ...` accumulates:

    @tangent(np.sin)
    def _(z, x):
        z_dot = x_dot * np.cos(x)

    @adjoint(np.sin)
    def _(z, x):
        x_bar += z_bar * np.cos(x)

`elementwise=True` marks broadcasting rules: their adjoints are reduced back to
each operand's shape and their tangents broadcast to the result's shape by the
transforms, never by the rule. Functions with no derivative are listed with
`nondifferentiable`.

>>> import math
>>> rule = lookup(math.sin)
>>> rule.name, rule.differentiable
('math.sin', True)
>>> import ast
>>> adj = rule.adjoint.instantiate({"z": ast.Name("y"), "x": ast.Name("a")},
...                                {"z_bar": ast.Name("y_bar"), "x_bar": ast.Name("a_bar")})
>>> [(target, ast.unparse(expr)) for target, expr in adj]
[('x', 'y_bar * math.cos(a)')]
"""

import ast
from dataclasses import dataclass, field

from .batching import MATRICES, batched
from .templates import Template, clear_plans  # noqa: F401  (the engine; clear_plans: s2sad.cache)

RULES = {}


@dataclass
class Rule:
    """Everything the compiler knows about one callee."""

    key: object
    name: str
    tangent: object = None
    adjoint: object = None
    batched: object = None  # a hand-written tangent for many directions at once (`tangent(batched=True)`)
    elementwise: bool = False
    differentiable: bool = True
    kind: object = (
        None  # what a call returns, where the rule says (see `tangent`); else s2sad.analyses.kind_table
    )
    doc: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def batched_tangent(self):
        """The tangent for many directions at once (vector forward mode): the hand-written one, else
        the plain tangent rewritten for it (`s2sad.rules.batching`), else None (elementwise rules, and
        templates the transform batches itself)."""
        if self.batched is not None:
            return self.batched
        if self.tangent is None or self.elementwise:
            return None
        return batched(self.tangent, MATRICES.get(self.key, ()))


def display_name(fn):
    """`np.sin` -> 'numpy.sin' style dotted name for messages and docs."""
    if isinstance(fn, str):
        return fn
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if module in ("builtins", ""):
        if type(fn).__name__ == "ufunc":
            return f"numpy.{fn.__name__}"
        return name
    if module.startswith("numpy"):
        module = "numpy"
        if hasattr(fn, "__objclass__"):
            return f"numpy.ndarray.{fn.__name__}"
    if module == "_operator":
        module = "operator"
    if module.startswith("s2sad.runtime."):
        module = "s2sad.runtime"  # what generated code calls it by: `_rt.<name>`
    return f"{module.replace('numpy', 'np', 1) if False else module}.{name}"


def _register(fns, **fields):
    for fn in fns:
        rule = RULES.get(fn)
        if rule is None:
            rule = RULES[fn] = Rule(key=fn, name=display_name(fn))
        for key, value in fields.items():
            if value is not None:
                setattr(rule, key, value)


def tangent(*fns, elementwise=None, kind=None, batched=False, constant=None):
    """Register the decorated template as the tangent (JVP) rule of `fns`.

    In vector forward mode (`jacfwd`) every `x_dot` carries a leading axis of directions
    (`x_dot[j]` is the tangent along direction `j`); the template for it is derived from this
    one (`s2sad.rules.batching`). With `batched=True` the decorated template is that one, written
    by hand, for a tangent the derivation cannot rewrite.

    `kind=` says what a call of a program's own function returns ("float", "array", "same" as
    its first operand, ...: see `s2sad.analyses.kind_table`, which holds s2sad's own).
    """

    def decorate(template):
        if constant is not None:  # the tangent where operand `constant` is a nonzero number (see `adjoint`)
            for fn in fns:
                RULES[fn].extra.setdefault("constant_tangents", {})[constant] = Template(template)
            return template
        if batched:
            _register(fns, batched=Template(template))
            return template
        _register(fns, tangent=Template(template), elementwise=elementwise, kind=kind, differentiable=True)
        return template

    return decorate


def adjoint(*fns, elementwise=None, kind=None, constant=None):
    """Register the decorated template as the adjoint (VJP) rule of `fns`.

    With `constant="x"` the template is the adjoint used instead where operand `x` is a
    nonzero number written in the code (`1.0 / y`): it may divide by `x`, and reads fewer
    values than the general rule (what the backward sweep must record).
    """

    def decorate(template):
        if constant is not None:
            for fn in fns:
                RULES[fn].extra.setdefault("constant_adjoints", {})[constant] = Template(template)
            return template
        _register(fns, adjoint=Template(template), elementwise=elementwise, kind=kind, differentiable=True)
        return template

    return decorate


def adjoint_for(rule, values, variants="constant_adjoints"):
    """The adjoint template for a call site whose operands are the atoms `values`: a rule's
    `constant=` variant where that operand is a nonzero number, else its adjoint."""
    for param, template in rule.extra.get(variants, {}).items():
        atom = values.get(param)
        if (
            isinstance(atom, ast.Constant)
            and isinstance(atom.value, (int, float))
            and not isinstance(atom.value, bool)
            and atom.value != 0
        ):
            return template
    return rule.adjoint if variants == "constant_adjoints" else rule.tangent


def tangent_for(rule, values):
    """The tangent template for a call site (a `constant=` variant, see `adjoint_for`)."""
    return adjoint_for(rule, values, "constant_tangents")


def nondifferentiable(*fns, kind=None):
    """List `fns` as having no derivative: their results are constants (`kind=` as in `tangent`)."""
    for fn in fns:
        RULES[fn] = Rule(key=fn, name=display_name(fn), differentiable=False, kind=kind)


def lookup(fn):
    """The rule for callee `fn`, or None."""
    try:
        return RULES.get(fn)
    except TypeError:  # unhashable callee
        return None


from . import core  # noqa: E402,F401  (registers the rules)
from . import numpy_rules  # noqa: E402,F401
from . import runtime_rules  # noqa: E402,F401
