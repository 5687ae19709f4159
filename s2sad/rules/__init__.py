"""The derivative rule table: callee -> tangent template and adjoint template.

A template is a tiny Python function whose body is inlined into generated code.
Its first parameter names the result, the others the operands; `x_dot` is the
tangent of operand `x`, `x_bar` its adjoint, and `x_bar += ...` accumulates:

    @tangent(np.sin, kind="float")
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
import inspect
import textwrap
import weakref
from dataclasses import dataclass, field

from ..astutil import LEAVES, clone, name_nodes, walk
from .. import kinds as K

RULES = {}


@dataclass
class Rule:
    """Everything the compiler knows about one callee."""

    key: object
    name: str
    tangent: object = None
    adjoint: object = None
    batched_tangent: object = None  # the tangent for many directions at once (vector forward mode)
    elementwise: bool = False
    differentiable: bool = True
    kind: object = "any"
    doc: str = ""
    extra: dict = field(default_factory=dict)

    def result_kind(self, arg_kinds, keywords):
        return result_kind(self.kind, arg_kinds, keywords)


def result_kind(kind, arg_kinds, keywords=()):
    """The kind of a call's result from the rule's kind category."""
    if callable(kind):
        return kind(arg_kinds, keywords)
    if kind == "arith":  # int op int stays int
        return K.broadcast(arg_kinds)
    if kind == "elementwise":
        return K.as_float(K.broadcast(arg_kinds))
    if kind == "same":
        return K.as_float(arg_kinds[0]) if arg_kinds else K.ANY
    if kind == "reduce":
        if "axis" in keywords and keywords["axis"] != "None":
            return K.ANY
        return K.FLOAT if arg_kinds and arg_kinds[0] in (K.ARRAY, K.FLOAT, K.INT, K.BOOL) else K.ANY
    return {"float": K.FLOAT, "int": K.INT, "bool": K.BOOL, "array": K.ARRAY, "list": K.LIST, "other": K.OTHER}.get(
        kind, K.ANY
    )


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
    return f"{module.replace('numpy', 'np', 1) if False else module}.{name}"


_TEMPLATES = weakref.WeakSet()  # every Template: `clear_plans` forgets how calls bind


def clear_plans():
    """Forget how calls of each shape bind to the templates (`s2sad.compiler.clear_cache`)."""
    for template in list(_TEMPLATES):
        template._plans.clear()


class Template:
    """A parsed rule body, ready to be instantiated with the names of a call site."""

    def __init__(self, fn, source=None):
        source = textwrap.dedent(inspect.getsource(fn) if source is None else source)
        tree = ast.parse(source).body[0]
        self.function = fn
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters)
        self.output = params[0]
        self.operands = params[1:]
        self.body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        self.call_signature = self.signature.replace(parameters=list(self.signature.parameters.values())[1:])
        self._plans = {}  # (positional count, keyword names) -> how such a call binds
        _TEMPLATES.add(self)
        names = {n.id for n in name_nodes(tree)}
        self.differentiable_operands = [p for p in self.operands if f"{p}_dot" in names or f"{p}_bar" in names]
        self.uses_output = self.output in names
        self.locals = [
            s.targets[0].id
            for s in self.body
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and s.targets[0].id not in self._derivative_names()
        ]

    @classmethod
    def from_text(cls, text):
        """A template from generated source text `def _(z, x): ...` rather than a file."""
        namespace = {}
        exec(compile(text, "<s2sad template>", "exec"), namespace)
        return cls(namespace["_"], source=text)

    def _derivative_names(self):
        params = [self.output] + self.operands
        return {f"{p}_dot" for p in params} | {f"{p}_bar" for p in params}

    def bind(self, args, keywords):
        """Map the template's parameter names to the call's argument atoms. How a call of this
        shape binds (so many positional arguments, these keywords) is worked out once, by
        `inspect.Signature.bind` (whose TypeError says what does not fit)."""
        shape = (len(args), tuple(keywords))
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._plan(*shape)

        def get(slot):
            return args[slot] if slot.__class__ is int else keywords[slot[1]]

        values = {}
        for name, how, slot in plan:
            if how == "one":
                values[name] = get(slot)
            elif how == "tuple":
                values[name] = ast.Tuple(elts=[get(s) for s in slot], ctx=ast.Load())
            elif how == "dict":
                values[name] = {k: get(s) for k, s in slot.items()}
            elif how == "no tuple":
                values[name] = ast.Tuple(elts=[], ctx=ast.Load())
            elif how == "no dict":
                values[name] = ast.Dict(keys=[], values=[])
            else:
                values[name] = ast.Constant(slot)
        return values

    def _plan(self, count, keywords):
        """[(parameter, how its value is found, where)] for calls with `count` positional
        arguments and these keyword names: slots are argument positions or ("keyword", name)."""
        bound = self.call_signature.bind(*range(count), **{k: ("keyword", k) for k in keywords})
        plan = []
        for name, param in self.call_signature.parameters.items():
            if name in bound.arguments:
                value = bound.arguments[name]
                if param.kind == param.VAR_POSITIONAL:
                    plan.append((name, "tuple", list(value)))
                elif param.kind == param.VAR_KEYWORD:
                    plan.append((name, "dict", dict(value)))
                else:
                    plan.append((name, "one", value))
            elif param.kind == param.VAR_POSITIONAL:
                plan.append((name, "no tuple", None))
            elif param.kind == param.VAR_KEYWORD:
                plan.append((name, "no dict", None))
            else:
                plan.append((name, "default", param.default))
        return plan

    def instantiate(self, values, derivatives, fresh=None):
        """Inline the body: returns [(target, expression)].

        `values` maps parameter names to atoms, `derivatives` maps `x_dot` /
        `x_bar` names to names or symbolic zeros. Targets are operand names
        (`x` for `x_bar += ...`), the output name (`z` for `z_dot = ...`), or
        fresh local names for the template's own temporaries.
        """
        renames = {}
        for local in self.locals:
            renames[local] = fresh(local) if fresh else local
        out = []
        for stmt in self.body:
            if isinstance(stmt, ast.AugAssign):
                target = stmt.target.id[: -len("_bar")]
            else:
                target = stmt.targets[0].id
                if target.endswith("_dot") and target[:-4] == self.output:
                    target = self.output
                else:
                    target = renames.get(target, target)
            value = _substitute(stmt.value, values, derivatives, renames)
            out.append((target, value))
        return out


def _substitute(node, values, derivatives, renames):
    """A copy of the template expression `node` with the names bound: derivatives (marked
    `derivative` when a name), values, and renamed template locals."""
    if node.__class__ is ast.Name:
        if node.id in derivatives:
            replacement = clone(derivatives[node.id])
            if isinstance(replacement, ast.Name):
                replacement.derivative = True
            return replacement
        if node.id in values:
            return clone(values[node.id])
        if node.id in renames:
            return ast.Name(id=renames[node.id], ctx=ast.Load())
        return clone(node)
    if node.__class__ is list:
        return [_substitute(item, values, derivatives, renames) for item in node]
    if not isinstance(node, ast.AST) or isinstance(node, LEAVES):
        return node
    new = node.__class__.__new__(node.__class__)
    fields = new.__dict__
    for key, value in node.__dict__.items():
        if value.__class__ is list or isinstance(value, ast.AST):
            value = _substitute(value, values, derivatives, renames)
        fields[key] = value
    return new


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

    With `batched=True` the template is the rule's tangent in vector forward
    mode (`jacfwd`), where every `x_dot` carries a leading axis of directions:
    `x_dot[j]` is the tangent along direction `j`. Rules without one are
    batched by the transform (see `s2sad.forward_vector`).
    """

    def decorate(template):
        if constant is not None:  # the tangent where operand `constant` is a nonzero number (see `adjoint`)
            for fn in fns:
                RULES[fn].extra.setdefault("constant_tangents", {})[constant] = Template(template)
            return template
        if batched:
            _register(fns, batched_tangent=Template(template))
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
            isinstance(atom, ast.Constant) and isinstance(atom.value, (int, float))
            and not isinstance(atom.value, bool) and atom.value != 0
        ):
            return template
    return rule.adjoint if variants == "constant_adjoints" else rule.tangent


def tangent_for(rule, values):
    """The tangent template for a call site (a `constant=` variant, see `adjoint_for`)."""
    return adjoint_for(rule, values, "constant_tangents")


def nondifferentiable(*fns, kind="any"):
    """List `fns` as having no derivative: their results are constants."""
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
