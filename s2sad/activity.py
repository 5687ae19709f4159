"""Activity analysis: which variables carry derivatives (varied and useful).

Kinds are inferred first (a flow-insensitive fixed point over every
assignment), because integers, booleans and other non-float values never carry
derivatives. A variable is *varied* if it depends on a differentiated input
through differentiable operations, *useful* if the output depends on it;
*active* is both. Only active variables get tangent or adjoint code.

>>> import ast, numpy as np
>>> from s2sad.normalize import normalize
>>> tree = normalize(ast.parse('''
... def f(x, n):
...     k = n * 2
...     y = x * k
...     return y
... ''').body[0])
>>> info = analyze(tree, {"np": np}, {"x": "float", "n": "int"}, active_inputs={"x"})
>>> info.kinds["k"], info.kinds["y"], sorted(info.active)
('int', 'float', ['x', 'y'])
"""

import ast
from dataclasses import dataclass, field

from . import config
from . import kinds as K
from .primitives import Primitive, classify, is_global, resolve


@dataclass
class Analysis:
    kinds: dict
    active: set
    primitives: dict = field(default_factory=dict)  # id(Assign) -> Primitive
    output: object = None  # the returned atom


def walk_statements(body):
    """Every statement in `body`, nested ones included, in program order."""
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse"):
            yield from walk_statements(getattr(stmt, attr, []) or [])


def atom_kind(atom, kinds, namespace):
    if isinstance(atom, ast.Constant):
        return K.kind_of(atom.value) if atom.value is not None else K.OTHER
    if isinstance(atom, ast.Name) and not getattr(atom, "_global", False):
        return kinds.get(atom.id, K.UNKNOWN)
    if is_global(atom):
        value = resolve(atom, namespace)
        return K.kind_of(value)
    return K.ANY


def _element_kind(subscript, kinds, namespace):
    """FLOAT for `A[i, j]` on a known global float array with one integer per dimension."""
    base = subscript.value
    if not is_global(base):
        return None
    value = resolve(base, namespace)
    ndim = getattr(value, "ndim", None)
    dtype = getattr(value, "dtype", None)
    if ndim is None or dtype is None or dtype.kind != "f":
        return None
    index = subscript.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    if len(parts) != ndim:
        return None
    if all(isinstance(p, (ast.Name, ast.Constant)) and atom_kind(p, kinds, namespace) in (K.INT, K.BOOL) for p in parts):
        return K.FLOAT
    return None


def operand_names(primitive):
    """Names whose derivatives flow into the result, per the rule's templates."""
    if primitive.kind in ("copy", "container"):
        atoms = primitive.args
    else:
        rule = primitive.rule
        if not rule.differentiable:
            return []
        template = rule.tangent or rule.adjoint
        bound = template.bind(primitive.args, primitive.keywords)
        atoms = [bound[p] for p in template.differentiable_operands]
    return [a.id for a in atoms if isinstance(a, ast.Name) and not getattr(a, "_global", False)]


def analyze(function, namespace, input_kinds, active_inputs, classify_error=None):
    """Kinds of every variable and the set of active variables."""
    statements = list(walk_statements(function.body))
    primitives = {}
    locals_ = set(input_kinds)
    for stmt in statements:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            locals_.add(stmt.targets[0].id)
    for stmt in statements:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            try:
                primitives[id(stmt)] = classify(stmt.value, namespace, locals_)
            except Exception as exc:  # MissingRule, bad signature
                if classify_error is None:
                    raise
                raise classify_error(exc, stmt) from None

    kinds = dict(input_kinds)
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            new = None
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                prim = primitives[id(stmt)]
                name = stmt.targets[0].id
                arg_kinds = [atom_kind(a, kinds, namespace) for a in prim.args]
                if prim.kind == "copy":
                    new = arg_kinds[0]
                elif prim.kind == "container":
                    new = K.OTHER
                else:
                    keywords = {k: ast.unparse(v) for k, v in prim.keywords.items()}
                    new = prim.rule.result_kind(arg_kinds, keywords)
                    if isinstance(stmt.value, ast.Subscript):
                        new = _element_kind(stmt.value, kinds, namespace) or new
            elif isinstance(stmt, ast.For):
                name, new = stmt.target.id, K.INT
            if new is not None:
                joined = K.join(kinds.get(name, K.UNKNOWN), new)
                if joined != kinds.get(name, K.UNKNOWN):
                    kinds[name] = joined
                    changed = True

    def carries(name):
        return kinds.get(name) not in (K.INT, K.BOOL)

    varied = {n for n in active_inputs if carries(n)}
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if not isinstance(stmt, ast.Assign):
                continue
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                prim = primitives[id(stmt)]
                if target.id not in varied and carries(target.id) and any(n in varied for n in operand_names(prim)):
                    varied.add(target.id)
                    changed = True
            elif isinstance(target, ast.Subscript) and isinstance(stmt.value, ast.Name):
                base = target.value.id
                if base not in varied and stmt.value.id in varied:
                    varied.add(base)
                    changed = True

    output = None
    for stmt in statements:
        if isinstance(stmt, ast.Return):
            output = stmt.value
    if getattr(function, "has_aux", False):
        output = output.elts[0]  # (output, aux): only the output is differentiated
    useful = set()
    if isinstance(output, ast.Name):
        useful.add(output.id)
    changed = True
    while changed:
        changed = False
        for stmt in reversed(statements):
            if not isinstance(stmt, ast.Assign):
                continue
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and target.id in useful:
                for name in operand_names(primitives[id(stmt)]):
                    if name not in useful:
                        useful.add(name)
                        changed = True
            elif isinstance(target, ast.Subscript) and target.value.id in useful:
                if isinstance(stmt.value, ast.Name) and stmt.value.id not in useful:
                    useful.add(stmt.value.id)
                    changed = True
    return Analysis(kinds=kinds, active=varied & useful if config.enabled() else set(varied), primitives=primitives, output=output)
