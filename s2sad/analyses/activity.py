"""Activity analysis: which variables carry derivatives (varied and useful).

Kinds are inferred first (a flow-insensitive fixed point over every
assignment), because integers, booleans and other non-float values never carry
derivatives. A list's kind is `list`; the kind of its elements (everything
appended to it, written into it, or in its literal) is kept apart, and `xs[i]`
or `xs.pop()` has that kind. A variable is *varied* if it depends on a
differentiated input through differentiable operations, *useful* if the output
depends on it; *active* is both. Only active variables get tangent or adjoint
code. `xs.append(v)` makes `xs` varied if `v` is, and `v` useful if `xs` is.

>>> import ast, numpy as np
>>> from s2sad.frontend.normalize import normalize
>>> tree = normalize(ast.parse('''
... def f(x, n):
...     k = n * 2
...     y = x * k
...     return y
... ''').body[0])
>>> info = analyze(tree, {"np": np}, {"x": "float", "n": "int"}, active_inputs={"x"})
>>> info.kinds["k"], info.kinds["y"], sorted(info.active)
('int', 'float', ['x', 'y'])
>>> tree = normalize(ast.parse('''
... def g(x, n):
...     xs = []
...     for i in range(n):
...         xs.append(x * i)
...     return xs.pop()
... ''').body[0])
>>> info = analyze(tree, {}, {"x": "float", "n": "int"}, active_inputs={"x"})
>>> info.kinds["xs"], info.elements["xs"], sorted(info.active)
('list', 'float', ['_t1', '_t2', 'x', 'xs'])
"""

import ast
from dataclasses import dataclass, field

import operator

import numpy as np

from .. import config
from .. import kinds as K
from ..astutil import module_names, walk
from .kind_table import result_kind
from .primitives import (
    MissingRule,
    Primitive,
    RefusedOperand,
    classify,
    derivative_call_role,
    is_global,
    list_append,
    refusal,
    reported_call,
    resolve,
)
from .shapes import infer_shapes


@dataclass
class Analysis:
    kinds: dict
    active: set
    primitives: dict = field(default_factory=dict)  # id(Assign) or id(`xs.append(v)`) -> Primitive
    output: object = None  # the returned atom
    elements: dict = field(default_factory=dict)  # list variable -> the kind of its elements
    shapes: dict = field(default_factory=dict)  # array variable -> its shape, where known (see shapes.py)
    result_shapes: dict = field(default_factory=dict)  # id(Assign) -> the shape of the value it assigns
    has_aux: bool = False  # the function returns (output, aux); `output` is the first
    varied: set = field(default_factory=set)  # every variable that depends on a differentiated input
    globals: frozenset = frozenset()  # the names the function reads from the module namespace


def walk_statements(body):
    """Every statement in `body`, nested ones included, in program order."""
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse"):
            yield from walk_statements(getattr(stmt, attr, []) or [])


def atom_kind(atom, kinds, namespace, globals_):
    if isinstance(atom, ast.Constant):
        return K.kind_of(atom.value) if atom.value is not None else K.OTHER
    if isinstance(atom, ast.Name) and atom.id not in globals_:
        return kinds.get(atom.id, K.UNKNOWN)
    if is_global(atom, globals_):
        value = resolve(atom, namespace)
        return K.kind_of(value)
    return K.ANY


def _element_kind(subscript, kinds, namespace, globals_, arrays=None):
    """FLOAT for `A[i, j]` on a known global float array with one integer per dimension; for an array
    parameter of known rank and element kind (`arrays`: {parameter: (rank, element kind)}, a refined
    kind), the element kind with an integer per dimension, ARRAY with fewer integers or with slices."""
    base = subscript.value
    index = subscript.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    if isinstance(base, ast.Name) and base.id not in globals_ and base.id in (arrays or {}):
        ndim, element = arrays[base.id]
        slices = sum(isinstance(p, ast.Slice) for p in parts)
        integers = sum(
            isinstance(p, (ast.Name, ast.Constant)) and atom_kind(p, kinds, namespace, globals_) == K.INT
            for p in parts
        )
        if slices + integers != len(parts) or len(parts) > ndim:
            return None  # masks, index arrays, None, Ellipsis
        if integers < ndim:
            return K.ARRAY
        return element if element in (K.FLOAT, K.INT, K.BOOL) else None
    if not is_global(base, globals_):
        return None
    value = resolve(base, namespace)
    ndim = getattr(value, "ndim", None)
    dtype = getattr(value, "dtype", None)
    if ndim is None or dtype is None or dtype.kind != "f":
        return None
    if len(parts) != ndim:
        return None
    if all(
        isinstance(p, (ast.Name, ast.Constant))
        and atom_kind(p, kinds, namespace, globals_) in (K.INT, K.BOOL)
        for p in parts
    ):
        return K.FLOAT
    return None


def stored_names(statements):
    """Names the statements rebind (assignments, loop targets) or write into (`a[i] = v`)."""
    out = set()
    for stmt in statements:
        if isinstance(stmt, ast.Assign):
            target = stmt.targets[0]
            while isinstance(target, ast.Subscript):
                target = target.value
            if isinstance(target, ast.Name):
                out.add(target.id)
        elif isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name):
            out.add(stmt.target.id)
    return out


def proves_kind(atom, kind, kinds, elements, passed_on, globals_):
    """Does the code prove, without a run-time test, that `atom` has the run-time kind `kind` (a
    parameter's kind of a recursion's derivative)? A constant of that kind; a parameter passed on as
    received (`passed_on`: {parameter: kind}); a number the analysis knows to be of that kind (`n - 1`
    of an int, `h / 2` of a float); a list whose elements the analysis knows to be of the refined list
    kind's element kind (`rows[1:]`, `cols[:j] + cols[j + 1:]` of a list of ints). (An array's rank is
    known only for a parameter: another array is tested at run time.)"""
    if isinstance(atom, ast.Constant):
        return not K.is_refined(kind) and K.kind_of(atom.value) == kind
    if not isinstance(atom, ast.Name) or atom.id in globals_:
        return False
    if K.is_refined(kind) and kind[0] == K.LIST:
        return kinds.get(atom.id) == K.LIST and elements.get(atom.id) == kind[1]
    if kind in (K.FLOAT, K.INT, K.BOOL) and kinds.get(atom.id) == kind:
        return True
    return passed_on.get(atom.id) == kind


def operand_names(primitive, globals_, through_refused=False):
    """Names whose derivatives flow into the result, per the rule's templates. With `through_refused`
    (the check mode), a call refused when its operands vary passes on every operand: it was reported,
    and what is computed from it is checked as if it carried their derivatives."""
    if primitive.kind in ("copy", "container"):
        atoms = primitive.args
    elif primitive.kind == "list_pop":
        atoms = primitive.args[:1]
    elif through_refused and (refusal(primitive) or primitive.rule.extra.get("reported")):
        atoms = [n for a in list(primitive.args) + list(primitive.keywords.values()) for n in walk(a)]
    else:
        rule = primitive.rule
        if not rule.differentiable:
            return []
        template = rule.tangent or rule.adjoint
        bound = template.bind(primitive.args, primitive.keywords)
        atoms = [bound[p] for p in template.differentiable_operands]
    return [a.id for a in atoms if isinstance(a, ast.Name) and a.id not in globals_]


def analyze(
    function,
    namespace,
    input_kinds,
    active_inputs,
    classify_error=None,
    input_shapes=None,
    has_aux=False,
    report=None,
    recursion=None,
):
    """Kinds of every variable and the set of active variables; with `input_shapes` (the shapes
    of the array parameters), the shapes of arrays too. With `has_aux` the function returns the pair
    `(output, aux)` and only the output is differentiated. With `report` (the check mode), a refused
    call is handed to `report` instead of raised, and the analysis goes on.

    `input_kinds` may be refined (`s2sad.kinds.refined_kind`: an array's rank and element kind, a list's
    element kind). With `recursion` (the function compiled: its own calls are its derivative's), a call
    of the function itself whose arguments are proven to have the input kinds (`proves_kind`) returns
    the kind of the function's output (a fixed point, sound by induction on the depth of the calls)."""
    statements = list(walk_statements(function.body))
    primitives = {}
    globals_ = module_names(function)
    for stmt in statements:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            try:
                primitives[id(stmt)] = classify(stmt.value, namespace, globals_)
            except Exception as exc:  # MissingRule, bad signature
                if classify_error is None:
                    raise
                if report is None:
                    raise classify_error(exc, stmt) from None
                report(classify_error(exc, stmt))
                primitives[id(stmt)] = reported_call(stmt.value)
        elif list_append(stmt, globals_) is not None:
            primitives[id(stmt)] = list_append(stmt, globals_)

    output = None
    for stmt in statements:
        if isinstance(stmt, ast.Return):
            output = stmt.value
    if has_aux:
        output = output.elts[0]  # (output, aux): only the output is differentiated
    stored = stored_names(statements)
    refinements = {p: k for p, k in input_kinds.items() if K.is_refined(k)}
    seeds = _Seeds(
        elements={p: k[1] for p, k in refinements.items() if k[0] == K.LIST},
        arrays={p: k[1:] for p, k in refinements.items() if k[0] == K.ARRAY and p not in stored},
        passed_on={p: k for p, k in input_kinds.items() if p not in stored},
        recursion=recursion,
        output=output,
    )
    input_kinds = {p: K.plain(k) for p, k in input_kinds.items()}
    kinds, elements = _infer_kinds(statements, primitives, input_kinds, namespace, globals_, seeds)

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
                if (
                    target.id not in varied
                    and carries(target.id)
                    and any(n in varied for n in operand_names(prim, globals_, report is not None))
                ):
                    varied.add(target.id)
                    changed = True
            elif isinstance(target, ast.Subscript) and isinstance(stmt.value, ast.Name):
                base = target.value.id
                if base not in varied and stmt.value.id in varied:
                    varied.add(base)
                    changed = True
        for stmt in statements:  # `xs.append(v)` is like `xs[len(xs)] = v`
            prim = primitives.get(id(stmt))
            if prim is not None and prim.kind == "list_append":
                base, value = prim.args[0].id, prim.args[1]
                if base not in varied and isinstance(value, ast.Name) and value.id in varied:
                    varied.add(base)
                    changed = True

    _refuse_varied_operands(statements, primitives, varied, globals_, classify_error, report)
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
                for name in operand_names(primitives[id(stmt)], globals_, report is not None):
                    if name not in useful:
                        useful.add(name)
                        changed = True
            elif isinstance(target, ast.Subscript) and target.value.id in useful:
                if isinstance(stmt.value, ast.Name) and stmt.value.id not in useful:
                    useful.add(stmt.value.id)
                    changed = True
        for stmt in statements:
            prim = primitives.get(id(stmt))
            if prim is not None and prim.kind == "list_append" and prim.args[0].id in useful:
                value = prim.args[1]
                if isinstance(value, ast.Name) and value.id not in globals_ and value.id not in useful:
                    useful.add(value.id)
                    changed = True
    shapes, result_shapes = {}, {}
    if input_shapes is not None and config.enabled():
        shapes, result_shapes = infer_shapes(
            statements, primitives, kinds, namespace, list(input_kinds), input_shapes, globals_
        )
        refined = False
        for name, shape in shapes.items():  # `x @ y` of arrays is "any" until its shape is known
            if kinds.get(name) == K.ANY and len(shape) > 0:
                kinds[name] = K.ARRAY
                refined = True
        if refined:
            _refine_kinds(statements, primitives, kinds, namespace, set(input_kinds), globals_, seeds.arrays)
    return Analysis(
        kinds=kinds,
        active=varied & useful if config.enabled() else set(varied),
        primitives=primitives,
        output=output,
        elements=elements,
        shapes=shapes,
        result_shapes=result_shapes,
        has_aux=has_aux,
        varied=varied,
        globals=globals_,
    )


def _refuse_varied_operands(statements, primitives, varied, globals_, classify_error, report=None):
    """A call with no derivative rule (or one that only takes booleans and integers) is a constant
    while none of its operands carries a derivative; one that does is refused at its line."""
    for stmt in statements:
        prim = primitives.get(id(stmt))
        why = refusal(prim)
        if why is None:
            continue
        operands = list(prim.args) + list(prim.keywords.values())
        nodes = [n for a in operands for n in walk(a)]
        names = {n.id for n in nodes if isinstance(n, ast.Name) and n.id not in globals_}
        if not names & varied:
            continue
        if why == "no derivative rule":
            exc = MissingRule(prim.rule.name, prim.rule.key)
        else:
            exc = RefusedOperand(why.format(name=prim.rule.name), prim.rule.extra.get("refused_hint"))
        if classify_error is None:
            raise exc
        if report is None:
            raise classify_error(exc, stmt) from None
        report(classify_error(exc, stmt))


def _list_atom(atom, kinds):
    return isinstance(atom, ast.Name) and kinds.get(atom.id) == K.LIST  # (`kinds` has the variables only)


@dataclass
class _Seeds:
    """What refined input kinds and a recursion tell the kind inference (see `analyze`)."""

    elements: dict  # list parameter -> the kind of its elements
    arrays: dict  # array parameter nothing rebinds -> (its rank, the kind of its elements)
    passed_on: dict  # parameter nothing rebinds or writes into -> its (refined) input kind
    recursion: tuple = None  # (the function compiled, its parameters' input kinds), or None
    output: ast.AST = None  # the returned atom

    def own_call(self, prim, kinds, elements, namespace, globals_):
        """Is `prim` (`_rt.call_value(f, record, args)`) a call of the function compiled, with
        arguments proven to have its input kinds?"""
        if self.recursion is None or derivative_call_role(prim) != "value":
            return False
        function, input_kinds = self.recursion
        callee, operands = prim.args[0], prim.args[2:]
        if not is_global(callee, globals_) or resolve(callee, namespace) is not function:
            return False
        return len(operands) == len(input_kinds) and all(
            proves_kind(a, k, kinds, elements, self.passed_on, globals_)
            for a, k in zip(operands, input_kinds)
        )


def _infer_kinds(statements, primitives, input_kinds, namespace, globals_, seeds=None):
    """Kinds of every variable and the kinds of the elements of list variables: a fixed point
    over every assignment (flow-insensitive). A list's element kind joins everything put in it."""
    seeds = seeds or _Seeds({}, {}, {})
    kinds = dict(input_kinds)
    elements = dict(seeds.elements)
    settled = False  # after a first fixed point, reads from lists nothing is put in are `any`

    def element_of(name):
        return elements.get(name, K.UNKNOWN)

    def put(name, kind):
        joined = K.join(element_of(name), kind)
        if joined != element_of(name):
            elements[name] = joined
            return True
        return False

    changed = True
    while changed:
        changed = False
        for stmt in statements:
            new = None
            prim = primitives.get(id(stmt))
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                name = stmt.targets[0].id
                arg_kinds = [atom_kind(a, kinds, namespace, globals_) for a in prim.args]
                if (
                    prim.kind == "copy"
                    and isinstance(prim.args[0], ast.Constant)
                    and prim.args[0].value is None
                ):
                    new = None  # `x = None` before a value is set (derivative code declares pushed names so)
                elif prim.kind == "copy":
                    new = arg_kinds[0]
                    if new == K.LIST:
                        changed |= put(name, element_of(prim.args[0].id))
                elif prim.kind == "container":
                    new = K.LIST if isinstance(stmt.value, ast.List) else K.OTHER
                    for kind in arg_kinds if new == K.LIST else ():
                        changed |= put(name, kind)
                elif prim.kind == "list_pop":
                    base = prim.args[0].id if isinstance(prim.args[0], ast.Name) else None
                    new = element_of(base)
                    if new is K.UNKNOWN:
                        new = K.ANY if settled else None
                elif seeds.own_call(prim, kinds, elements, namespace, globals_):
                    new = atom_kind(seeds.output, kinds, namespace, globals_) if seeds.output else K.OTHER
                    if new is K.UNKNOWN:
                        new = K.ANY if settled else None
                else:
                    new, from_lists = _call_kind(
                        stmt, prim, arg_kinds, kinds, namespace, globals_, element_of, seeds.arrays
                    )
                    if new == K.LIST:
                        for base in from_lists:
                            changed |= put(name, element_of(base))
                        from_array = arg_kinds and arg_kinds[0] == K.ARRAY
                        if prim.rule.key in (list, np.ndarray.tolist) and from_array:
                            changed |= put(name, K.ANY)  # rows or floats
                    elif new is K.UNKNOWN:
                        new = K.ANY if settled else None
            elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript):
                base = stmt.targets[0].value
                if isinstance(base, ast.Name) and kinds.get(base.id) == K.LIST:
                    changed |= put(base.id, atom_kind(stmt.value, kinds, namespace, globals_))
            elif prim is not None and prim.kind == "list_append":
                changed |= put(prim.args[0].id, atom_kind(prim.args[1], kinds, namespace, globals_))
            elif isinstance(stmt, ast.For):
                name, new = stmt.target.id, K.INT
            if new is not None:
                joined = K.join(kinds.get(name, K.UNKNOWN), new)
                if joined != kinds.get(name, K.UNKNOWN):
                    kinds[name] = joined
                    changed = True
        if not changed and not settled:
            settled = changed = True
    return kinds, elements


def _refine_kinds(statements, primitives, kinds, namespace, parameters, globals_, arrays=None):
    """Names of kind `any` whose every assignment gives a known kind once the arrays known by their
    shapes are arrays: `s = np.sum(h ** 2)` is a float when `h = np.tanh(P[i] + W @ h)` is an array
    (`P[i]` alone could be a number). Flow-insensitive, like the first inference (a parameter's
    kind holds its argument's too: parameters are left as they are); in place."""
    assignments = {name: [None] for name in parameters}
    for stmt in statements:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            assignments.setdefault(stmt.targets[0].id, []).append(stmt)
        elif isinstance(stmt, ast.For) or not isinstance(stmt, ast.Assign):
            target = getattr(stmt, "target", None)
            if isinstance(target, ast.Name):
                assignments.setdefault(target.id, []).append(None)  # not followed here
    known = (K.FLOAT, K.INT, K.BOOL, K.ARRAY)
    changed = True
    while changed:
        changed = False
        for name, stmts in assignments.items():
            if kinds.get(name) != K.ANY or None in stmts:
                continue
            joined = K.UNKNOWN
            for stmt in stmts:
                prim = primitives.get(id(stmt))
                if prim is None or prim.kind in ("container", "list_pop"):
                    joined = K.ANY
                    break
                arg_kinds = [atom_kind(a, kinds, namespace, globals_) for a in prim.args]
                if prim.kind == "copy":
                    new = arg_kinds[0] if arg_kinds else K.ANY
                else:
                    new = _call_kind(
                        stmt, prim, arg_kinds, kinds, namespace, globals_, lambda _: K.ANY, arrays
                    )[0]
                joined = K.join(joined, new)
            if joined in known:
                kinds[name] = joined
                changed = True


def _call_kind(stmt, prim, arg_kinds, kinds, namespace, globals_, element_of, arrays=None):
    """(result kind, lists whose elements the result holds) of a call primitive. NumPy sees a list
    as an array; Python's `+` and `*` concatenate and repeat lists; `xs[i]` is an element."""
    rule = prim.rule
    lists = [a.id for a in prim.args if _list_atom(a, kinds)]
    if lists and rule.key is operator.getitem and _list_atom(prim.args[0], kinds):
        if isinstance(prim.args[1], ast.Slice):
            return K.LIST, lists[:1]
        return element_of(prim.args[0].id), []
    if lists and rule.key in (operator.add, operator.mul, list, np.ndarray.copy):
        return K.LIST, lists
    if lists and rule.extra.get("lists"):  # run-time helpers of list adjoints (`_rt.list_like`)
        return result_kind(rule, arg_kinds, {}), lists
    arg_kinds = [K.ARRAY if k == K.LIST else k for k in arg_kinds]
    keywords = {k: ast.unparse(v) for k, v in prim.keywords.items()}
    new = result_kind(rule, arg_kinds, keywords)
    if isinstance(stmt.value, ast.Subscript):
        new = _element_kind(stmt.value, kinds, namespace, globals_, arrays) or new
    return new, []
