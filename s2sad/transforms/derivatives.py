"""Machinery shared by the forward and reverse transforms.

Derivative names (`x_dot`, `x_bar`, never clashing with the user's names), the
instantiation of a rule's template at one call site with its broadcasting fix,
and the zero a derivative starts from.

>>> names = DerivativeNames({"x", "x_bar"})
>>> names.tangent("x"), names.adjoint("x"), names.adjoint("y")
('x_dot', 'x_bar_', 'y_bar')
"""

import ast
import operator

from .. import kinds as K
from ..analyses.activity import proves_kind
from ..analyses.primitives import index_expression, is_global, list_receiver
from ..peepholes.simplify import is_zero, simplify, zero
from ..astutil import name_nodes, nodes, walk

SCALARS = (K.FLOAT, K.INT, K.BOOL)


class DerivativeNames:
    """Allocates derivative and helper names that cannot clash with user names."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.assigned = {}
        self.derived = set()  # the values of `assigned`: every tangent and adjoint name
        self.counts = {}

    def _unique(self, candidate):
        while candidate in self.taken:
            candidate += "_"
        self.taken.add(candidate)
        return candidate

    def tangent(self, name):
        return self._derived(name, "_dot")

    def adjoint(self, name):
        return self._derived(name, "_bar")

    def _derived(self, name, suffix):
        key = (name, suffix)
        found = self.assigned.get(key)
        if found is None:
            found = self.assigned[key] = self._unique(name + suffix)
            self.derived.add(found)
        return found

    def fresh(self, stem):
        self.counts[stem] = self.counts.get(stem, 0) + 1
        return self._unique(f"_{stem}{self.counts[stem]}")


def load(name):
    return ast.Name(id=name, ctx=ast.Load())


def assign(name, value, where=None):
    stmt = ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value)
    if where is not None:
        ast.copy_location(stmt, where)
    return stmt


def call(func, *args):
    parts = func.split(".")
    node = load(parts[0])
    for part in parts[1:]:
        node = ast.Attribute(value=node, attr=part, ctx=ast.Load())
    return ast.Call(func=node, args=list(args), keywords=[])


def zero_value(name, kind):
    """Code for a materialized zero derivative of variable `name`."""
    if kind in SCALARS:
        return ast.Constant(0.0)
    if kind == K.ARRAY:
        return call("np.zeros_like", load(name))
    return call("_rt.zeros_like", load(name))


def local_atom(atom, globals_):
    """The variable name of `atom` if it is a local variable (a name not among `globals_`, the names
    the primal reads from the module: `Analysis.globals`), else None."""
    if isinstance(atom, ast.Name) and atom.id not in globals_:
        return atom.id
    return None


def bind_template(template, primitive):
    """Template parameter -> call-site atom (subscript indices as expressions)."""
    values = template.bind(primitive.args, primitive.keywords)
    return {k: index_expression(v) if isinstance(v, (ast.Slice, ast.Tuple)) else v for k, v in values.items()}


def single_use_list_literals(function, globals_):
    """Names of list literals built to be passed once to a function, like `_t1 = [a, b];
    y = np.stack(_t1)`: assigned once, read once (by a call), never changed in place. Their
    derivatives need not be lists (a tuple of tangents; the rule's adjoint, indexed item by item).
    `globals_`: the names `function` reads from the module."""
    assigned, reads, changed, literals, passed = {}, {}, set(), set(), set()
    for node in nodes(function):
        if isinstance(node, ast.Call) and is_global(node.func, globals_):
            passed |= {
                a.id for a in list(node.args) + [k.value for k in node.keywords] if isinstance(a, ast.Name)
            }
        if isinstance(node, ast.Name):
            table = assigned if isinstance(node.ctx, ast.Store) else reads
            table[node.id] = table.get(node.id, 0) + 1
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
        ):
            changed.add(node.value.id)
        elif isinstance(node, ast.Call) and list_receiver(node, globals_) is not None:
            changed.add(list_receiver(node, globals_))
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.List)
        ):
            literals.add(node.targets[0].id)
    return {
        n for n in literals if assigned.get(n) == 1 and reads.get(n) == 1 and n not in changed and n in passed
    }


def is_scalar(kind):
    return kind in SCALARS


def simplified(expr, carriers=frozenset()):
    """`expr` simplified (None for a zero); `carriers`: the names in it that hold derivatives."""
    expr = simplify(expr, carriers)
    return None if is_zero(expr) else expr


def carriers(derivatives, lifted=()):
    """The names bound to a template's derivative names (`derivatives`), and those inside the
    tangents in `lifted` (tangents given more axes by a call, `_rt.lift(x_dot, z)`: a name besides the
    tangents in them changes nothing, the tangent there carries the derivative): the names that hold
    derivatives."""
    names = {d.id for d in derivatives.values() if d.__class__ is ast.Name}
    for tangent in lifted:
        names |= {n.id for n in walk(tangent) if n.__class__ is ast.Name}
    return frozenset(names)


__all__ = ["DerivativeNames", "zero", "is_zero", "simplified", "carriers"]


def doubled(first, second):
    """`2.0 * first` if `second` is `first` with the operands of its product swapped (`g * x` and
    `x * g`: the two terms of the derivative of `x * x`), else None. Exact in floating point:
    `a * b == b * a` and `a + a == 2.0 * a`, bit for bit.

    >>> import ast
    >>> print(ast.unparse(doubled(ast.parse("g * x").body[0].value, ast.parse("x * g").body[0].value)))
    2.0 * (g * x)
    """
    if not (
        isinstance(first, ast.BinOp)
        and isinstance(second, ast.BinOp)
        and isinstance(first.op, ast.Mult)
        and isinstance(second.op, ast.Mult)
    ):
        return None
    swapped = ast.BinOp(left=second.right, op=ast.Mult(), right=second.left)
    if ast.dump(first) != ast.dump(swapped) and ast.dump(first) != ast.dump(second):
        return None
    return ast.BinOp(left=ast.Constant(2.0), op=ast.Mult(), right=first)


def squares(rule, template, values, globals_):
    """Is this `x * x`, a product of a local variable with itself (`globals_`: the module's names)?"""
    if rule.key is not operator.mul or len(template.operands) != 2:
        return False
    first, second = (local_atom(values[p], globals_) for p in template.operands)
    return first is not None and first == second


def names_read(node):
    """The names `node` reads."""
    return {n.id for n in name_nodes(node) if isinstance(n.ctx, ast.Load)}


def atom_kind(atom, kinds):
    """The kind of an atom (a constant or a name; `kinds` has the variables, not the globals: ANY)."""
    if isinstance(atom, ast.Constant):
        return K.kind_of(atom.value)
    return kinds.get(atom.id, K.ANY) if isinstance(atom, ast.Name) else K.ANY


# -- calls of the derivative being compiled (a recursion; see reverse_calls) ---------------------

# the run-time kinds whose values' classes are checked by name (s2sad.runtime.calls: ARRAY_CLASSES, ...)
_CHECKED = {
    K.ARRAY: "ARRAY_CLASSES",
    K.FLOAT: "FLOAT_CLASSES",
    K.INT: "INT_CLASSES",
    K.BOOL: "BOOL_CLASSES",
    K.OTHER: "OTHER_CLASSES",
}


# a refined kind's element kind -> the classes of a list's elements / the kinds of an array's dtype
_LIST_ELEMENTS = {
    K.INT: "INTEGRAL_CLASSES",
    K.FLOAT: "REAL_CLASSES",
    K.BOOL: "BOOL_CLASSES",
    K.ARRAY: "ARRAY_CLASSES",
}
_DTYPE_KINDS = {K.FLOAT: "fiub", K.INT: "iub", K.BOOL: "b"}


def checkable(kind):
    """Can a value's run-time kind `kind` be tested in generated code (`class_test`)?"""
    if K.is_refined(kind):
        return kind[-1] in (_LIST_ELEMENTS if kind[0] == K.LIST else _DTYPE_KINDS)
    return kind in _CHECKED


def class_test(name, kind):
    """`name.__class__ in _rt.<KIND>_CLASSES`: does the value have the run-time kind `kind`? For a
    refined kind, `_rt.array_of(name, rank, dtype kinds)` or `_rt.list_of(name, element classes)`."""
    if K.is_refined(kind) and kind[0] == K.ARRAY:
        return call("_rt.array_of", load(name), ast.Constant(kind[1]), ast.Constant(_DTYPE_KINDS[kind[2]]))
    if K.is_refined(kind):
        classes = ast.Attribute(value=load("_rt"), attr=_LIST_ELEMENTS[kind[1]], ctx=ast.Load())
        return call("_rt.list_of", load(name), classes)
    classes = ast.Attribute(value=load("_rt"), attr=_CHECKED[kind], ctx=ast.Load())
    of = ast.Attribute(value=load(name), attr="__class__", ctx=ast.Load())
    return ast.Compare(left=of, ops=[ast.In()], comparators=[classes])


def all_of(tests):
    """True for no tests, else the test or their `and`."""
    if not tests:
        return True
    return tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests)


def direct_guard(recursion, namespace, function, operands, wrt, passed_on, globals_, analysis):
    """Can a call of `function` with `operands` (differentiated at `wrt`) call the derivative being
    compiled (`recursion`: the function, its parameters' run-time kinds, the positions differentiated)?
    None: no; True: yes; else the tests of the arguments' classes that say so at run time.
    `passed_on` ({parameter: kind}) names the parameters whose values are as this compilation got them;
    an argument the analysis proves to have its kind (`proves_kind`: a list of ints sliced) needs no test."""
    if recursion is None:
        return None
    compiled, kinds, active = recursion
    if not isinstance(function, ast.Name) or namespace.get(function.id) is not compiled:
        return None
    if tuple(wrt) != tuple(active) or len(operands) != len(kinds):
        return None
    if not all(checkable(kind) for kind in kinds):
        return None  # functions given as arguments: compiled for the function given
    tests = []
    for atom, kind in zip(operands, kinds):
        if isinstance(atom, ast.Constant):
            if K.kind_of(atom.value) != kind:
                return None
            continue
        name = local_atom(atom, globals_)
        if name is None:
            return None
        if not proves_kind(atom, kind, analysis.kinds, analysis.elements, passed_on, globals_):
            tests.append(class_test(name, kind))
    return all_of(tests)


def global_name(name):
    """A load of a module-level name of the generated code."""
    return ast.Name(id=name, ctx=ast.Load())
