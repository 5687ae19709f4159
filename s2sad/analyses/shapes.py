"""Shape analysis: the shape of every array, for code specialized to its arguments' shapes.

A derivative compiled for arguments of known shapes (see `s2sad.api`: the first
shapes a function is called with; calls with other shapes run a generic version)
knows the shape of most values: `np.zeros(n)` with `n = W.shape[0]`, slices, matrix
products, elementwise results. Where an elementwise operand has the shape of the
result, no broadcasting happened and its adjoint needs no `_rt.unbroadcast`.

Like kind inference this is a flow-insensitive fixed point: a variable has a shape
(or an integer / tuple value) only if every assignment to it gives that same one,
so the fact holds wherever it is read. Loop counters and anything computed from
values (a boolean mask, `np.nonzero`) are unknown; so are lists that change.

>>> import ast, numpy as np
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.analyses.activity import analyze
>>> tree = normalize(ast.parse('''
... def f(W, b, xs):
...     h = np.zeros(W.shape[0])
...     for t in range(len(xs)):
...         h = np.tanh(W @ np.concatenate([xs[t], h]) + b)
...     return np.sum(h[:2] ** 2)
... ''').body[0])
>>> print(ast.unparse(tree.body[4]))
for t in range(_t3):
    _t4 = xs[t]
    _t5 = [_t4, h]
    _t6 = np.concatenate(_t5)
    _t7 = W @ _t6
    _t8 = _t7 + b
    h = np.tanh(_t8)
>>> info = analyze(tree, {"np": np}, {"W": "array", "b": "array", "xs": "array"}, {"W"},
...                input_shapes={"W": (4, 7), "b": (4,), "xs": (9, 3)})
>>> info.shapes["h"], info.shapes["_t4"], info.shapes["_t6"], info.shapes["_t9"]
((4,), (3,), (7,), (2,))
"""

import ast
import functools
import math
import operator

import numpy as np

from .. import cache
from .. import kinds as K
from .primitives import is_global, resolve

TOP = "unknown"  # more than one shape (or value), or one we cannot tell

_SCALARS = (K.FLOAT, K.INT, K.BOOL)

# functions whose result's shape depends only on their arguments' shapes and non-array
# arguments: evaluated on arrays of zeros of those shapes (broadcast views: no memory)
_SHAPE_ONLY = {
    np.concatenate,
    np.stack,
    np.hstack,
    np.vstack,
    np.column_stack,
    np.transpose,
    np.ndarray.transpose,
    np.reshape,
    np.ndarray.reshape,
    np.ravel,
    np.ndarray.ravel,
    np.ndarray.flatten,
    np.expand_dims,
    np.squeeze,
    np.ndarray.squeeze,
    np.swapaxes,
    np.moveaxis,
    np.tile,
    np.repeat,
    np.broadcast_to,
    np.sum,
    np.ndarray.sum,
    np.mean,
    np.ndarray.mean,
    np.prod,
    np.ndarray.prod,
    np.max,
    np.ndarray.max,
    np.min,
    np.ndarray.min,
    np.amax,
    np.amin,
    np.var,
    np.ndarray.var,
    np.std,
    np.ndarray.std,
    np.cumsum,
    np.ndarray.cumsum,
    np.cumprod,
    np.outer,
    np.kron,
    np.trace,
    np.triu,
    np.tril,
    np.flip,
    np.roll,
    np.sort,
    np.atleast_1d,
    np.atleast_2d,
    np.einsum,
    np.tensordot,
    np.dot,
    np.matmul,
    operator.matmul,
    np.copy,
    np.ndarray.copy,
    np.zeros_like,
    np.ones_like,
    np.empty_like,
    np.full_like,
    np.diff,
    np.logaddexp,
    np.linalg.norm,
    np.inner,
    np.vdot,
}
_CONSTRUCTORS = {np.zeros, np.ones, np.empty, np.full}
_INT_OPS = {
    operator.add: operator.add,
    operator.sub: operator.sub,
    operator.mul: operator.mul,
    operator.floordiv: operator.floordiv,
    operator.mod: operator.mod,
    operator.neg: operator.neg,
    max: max,
    min: min,
}


def join(a, b):
    if a is None:
        return b
    if b is None or _same(a, b):
        return a
    return TOP


def _same(a, b):
    return type(a) is type(b) and a == b


_BY_EXAMPLE = {}  # (function, argument signatures) -> the result's shape


@functools.lru_cache(maxsize=4096)
def _broadcast(shapes):
    return tuple(np.broadcast_shapes(*shapes))


@cache.on_clear
def clear_memos():
    """Forget the shapes worked out so far (`s2sad.cache.clear` calls this)."""
    _BY_EXAMPLE.clear()
    _broadcast.cache_clear()


def _signature(example):
    """What of an example argument decides the result's shape: an array's shape (arrays of
    zeros), a list of arrays' shapes, or the value itself (ints, tuples, strings, None)."""
    if isinstance(example, np.ndarray):
        return ("array", example.shape, example.dtype.str)
    if isinstance(example, list):
        return ("list", tuple(_signature(e) for e in example))
    return (type(example).__name__, example)


def infer_shapes(statements, primitives, kinds, namespace, parameters, input_shapes, globals_):
    """({name: shape}, {id(statement): its result's shape}) of every array whose shape is known.

    `input_shapes` maps array parameters to their shapes; the values of integer
    parameters are not part of the specialization. `globals_`: the names read from `namespace`."""
    shapes, values, items = {}, {}, {}
    for name, kind in kinds.items():
        if kind in _SCALARS:
            shapes[name] = ()
    for name in parameters:
        values[name] = TOP
        items[name] = TOP
        if kinds.get(name) not in _SCALARS:
            shapes[name] = tuple(input_shapes[name]) if name in input_shapes else TOP
    changing = _changed_lists(statements, primitives)
    for stmt in statements:
        if isinstance(stmt, ast.For):
            values[stmt.target.id] = TOP
    written = _list_elements(statements, primitives, kinds)
    elements = dict.fromkeys(written)  # a list -> the shape of every element written into it (None: not yet)
    evaluator = _Evaluator(shapes, values, items, namespace, kinds, globals_, elements)
    results = {}
    changed = True
    while changed:
        changed = False
        for name, atoms in written.items():
            joined = elements.get(name)
            for atom in atoms:
                joined = join(joined, evaluator.shape(atom))
            if not _same(joined, elements.get(name)):
                elements[name] = joined
                changed = True
        for stmt in statements:
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
                continue
            name = stmt.targets[0].id
            prim = primitives[id(stmt)]
            shape, value, content = evaluator.evaluate(prim, stmt.value)
            if kinds.get(name) in _SCALARS:
                shape = ()
            elif kinds.get(name) in (K.LIST, K.OTHER):
                shape = TOP
            if name in changing:
                content = TOP
            results[id(stmt)] = shape
            for table, new in ((shapes, shape), (values, value), (items, content)):
                joined = join(table.get(name), new)
                if not _same(joined, table.get(name)):
                    table[name] = joined
                    changed = True
    known = {n: s for n, s in shapes.items() if s is not TOP and s is not None}
    return known, {k: s for k, s in results.items() if s is not TOP and s is not None}


def _list_elements(statements, primitives, kinds):
    """{list: the atoms written into it as elements} for the lists filled only by forms we follow
    (a literal, `xs.append(v)`, `xs[k] = v` at an integer index) and read only by indexing, `len`
    or as a call's argument: `hidden = [...]; hidden[i] = ...` keeps the shape of `hidden[i]` known
    although the list changes. Copies of a list (another name for it) and derivative calls that may
    change it leave it out."""
    atoms, excluded = {}, set()

    def names(node):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and kinds.get(n.id) == K.LIST}

    for stmt in statements:
        prim = primitives.get(id(stmt))
        if isinstance(stmt, ast.Assign):
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and kinds.get(target.id) == K.LIST:
                if prim is not None and prim.kind == "container" and isinstance(stmt.value, ast.List):
                    atoms.setdefault(target.id, []).extend(prim.args)
                elif not (prim is not None and prim.kind == "list_pop"):
                    excluded.add(target.id)  # a list made some other way: its elements are not followed
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                if isinstance(target.slice, ast.Slice) or isinstance(target.slice, ast.Tuple):
                    excluded.add(target.value.id)
                else:
                    atoms.setdefault(target.value.id, []).append(stmt.value)
                    excluded |= names(stmt.value)
                continue
            if prim is not None and prim.kind == "copy":
                excluded |= names(stmt.value)
            elif prim is not None and prim.kind == "container":
                excluded |= {n for a in prim.args for n in names(a)}
            elif prim is not None and prim.kind == "call" and prim.rule.extra.get("derivative_call"):
                excluded |= {n for a in prim.args for n in names(a)}
        elif prim is not None and prim.kind == "list_append":
            atoms.setdefault(prim.args[0].id, []).append(prim.args[1])
            excluded |= names(prim.args[1])
        elif not isinstance(stmt, (ast.For, ast.While, ast.If)):
            excluded |= names(stmt)  # an expression statement: a call for its effect on the list
    return {
        name: found for name, found in atoms.items() if name not in excluded and kinds.get(name) == K.LIST
    }


def _changed_lists(statements, primitives):
    """Lists changed in place (their items are not the literal's)."""
    out = set()
    for stmt in statements:
        prim = primitives.get(id(stmt))
        if (
            prim is not None
            and prim.kind in ("list_append", "list_pop")
            and isinstance(prim.args[0], ast.Name)
        ):
            out.add(prim.args[0].id)
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript):
            base = stmt.targets[0].value
            if isinstance(base, ast.Name):
                out.add(base.id)
        if prim is not None and prim.kind == "call" and prim.rule.extra.get("derivative_call"):
            out |= {a.id for a in prim.args if isinstance(a, ast.Name)}
    return out


class _Evaluator:
    def __init__(self, shapes, values, items, namespace, kinds, globals_, elements=None):
        self.shapes, self.values, self.items, self.namespace, self.kinds = (
            shapes,
            values,
            items,
            namespace,
            kinds,
        )
        self.globals = globals_
        self.elements = {} if elements is None else elements

    # -- atoms --------------------------------------------------------------------
    def shape(self, atom):
        if isinstance(atom, ast.Constant):
            return () if isinstance(atom.value, (int, float, bool)) else TOP
        if isinstance(atom, ast.Name) and atom.id not in self.globals:
            return self.shapes.get(atom.id)
        if is_global(atom, self.globals):
            value = resolve(atom, self.namespace)
            if isinstance(value, np.ndarray):
                return value.shape
            if isinstance(value, (int, float)):
                return ()
        return TOP

    def value(self, atom):
        """An int, a tuple of ints, None, a slice: the atom's value if it is known."""
        if isinstance(atom, ast.Constant):
            return atom.value if isinstance(atom.value, (int, type(None))) else TOP
        if isinstance(atom, ast.Name) and atom.id not in self.globals:
            return self.values.get(atom.id)
        if is_global(atom, self.globals):
            value = resolve(atom, self.namespace)
            return value if isinstance(value, int) and not isinstance(value, bool) else TOP
        if isinstance(atom, ast.Slice):
            parts = [self.value(p) if p is not None else None for p in (atom.lower, atom.upper, atom.step)]
            if any(p is TOP or (p is not None and not isinstance(p, int)) for p in parts):
                return TOP
            return slice(*parts)
        if isinstance(atom, ast.Tuple):
            parts = tuple(self.value(e) for e in atom.elts)
            if any(p is None for p in parts):
                return None
            return TOP if any(p is TOP for p in parts) else parts
        return TOP

    def content(self, atom):
        if isinstance(atom, ast.Name) and atom.id not in self.globals:
            return self.items.get(atom.id)
        return TOP

    # -- one primitive --------------------------------------------------------------
    def evaluate(self, prim, expr):
        """(shape, value, item shapes) of the primitive's result; None parts are not known yet."""
        if prim.kind == "copy":
            atom = prim.args[0]
            return self.shape(atom), self.value(atom), self.content(atom)
        if prim.kind == "container":
            shapes = tuple(self.shape(a) for a in prim.args)
            values = tuple(self.value(a) for a in prim.args)
            value = values if all(isinstance(v, int) for v in values) and isinstance(expr, ast.Tuple) else TOP
            if any(s is None for s in shapes) or any(v is None for v in values):
                return TOP, None, None
            return TOP, value, (TOP if any(s is TOP for s in shapes) else shapes)
        if prim.kind != "call":
            return TOP, TOP, TOP
        try:
            shape, value = self.call(prim)
        except Exception:  # a call the program would fail on, or one we cannot evaluate
            shape, value = TOP, TOP
        return shape, value, TOP

    def call(self, prim):
        rule, args = prim.rule, prim.args
        key = rule.key
        if key in (operator.getitem,):
            return self.getitem(args[0], args[1])
        if key == ("attribute", "shape"):
            shape = self.shape(args[0])
            return TOP, self._known(shape, lambda: shape)
        if key == ("attribute", "ndim"):
            shape = self.shape(args[0])
            return (), self._known(shape, lambda: len(shape))
        if key == ("attribute", "size"):
            shape = self.shape(args[0])
            return (), self._known(shape, lambda: math.prod(shape))
        if key == ("attribute", "T"):
            shape = self.shape(args[0])
            return self._known(shape, lambda: shape[::-1]), TOP
        if key is len:
            shape = self.shape(args[0])
            if shape is None:
                return (), None
            return (), (shape[0] if shape is not TOP and shape else TOP)
        if key in _INT_OPS and not prim.keywords:
            values = [self.value(a) for a in args]
            shapes = [self.shape(a) for a in args]
            if any(v is None for v in values):
                return None, None
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return (), _INT_OPS[key](*values)
            if not rule.elementwise:
                return TOP, TOP
            return self.broadcast(shapes), TOP
        if key in _CONSTRUCTORS:
            size = self.value(args[0]) if args else self.value(prim.keywords.get("shape"))
            if size is None:
                return None, None
            if isinstance(size, int):
                return (size,), TOP
            if isinstance(size, tuple) and all(isinstance(v, int) for v in size):
                return size, TOP
            return TOP, TOP
        if rule.elementwise:
            if "out" in prim.keywords or "where" in prim.keywords:
                return TOP, TOP
            return self.broadcast([self.shape(a) for a in args]), TOP
        if key in _SHAPE_ONLY:
            return self.by_example(key, prim), TOP
        return TOP, TOP

    @staticmethod
    def _known(shape, compute):
        if shape is None:
            return None
        return TOP if shape is TOP else compute()

    def broadcast(self, shapes):
        if any(s is None for s in shapes):
            return None
        if any(s is TOP for s in shapes):
            return TOP
        return _broadcast(tuple(shapes))

    def getitem(self, base, index):
        if isinstance(base, ast.Name) and base.id in self.elements and self.kinds.get(base.id) == K.LIST:
            integer = (isinstance(index, ast.Constant) and index.value.__class__ is int) or (
                isinstance(index, ast.Name) and self.kinds.get(index.id) == K.INT
            )
            return (self.elements[base.id], TOP) if integer else (TOP, TOP)
        value = self.value(base)
        if isinstance(value, tuple):  # `W.shape[0]`
            position = self.value(index)
            if position is None:
                return None, None
            if isinstance(position, int):
                return (), value[position]
            return TOP, TOP
        shape = self.shape(base)
        if shape is None:
            return None, None
        if shape is TOP or not shape:
            return TOP, TOP
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        result, axis = [], 0
        for part in parts:
            if isinstance(part, ast.Slice):
                bounds = self.value(part)
                if bounds is None:
                    return None, None
                if bounds is TOP or axis >= len(shape):
                    return TOP, TOP
                result.append(len(range(*bounds.indices(shape[axis]))))
                axis += 1
                continue
            if isinstance(part, ast.Constant) and part.value is None:
                result.append(1)
                continue
            integer = (
                isinstance(part, ast.Constant)
                and part.value.__class__ is int
                or isinstance(part, ast.Name)
                and part.id not in self.globals
                and self.kinds.get(part.id) == K.INT
            )
            if integer and axis < len(shape):
                axis += 1  # an integer index drops the axis
                continue
            return TOP, TOP  # arrays (masks, fancy indexing), Ellipsis, unknown
        return tuple(result) + tuple(shape[axis:]), TOP

    def by_example(self, key, prim):
        """The result's shape of `key` called on zero arrays of the arguments' shapes."""
        args = [self.example(a) for a in prim.args]
        keywords = {k: self.example(v) for k, v in prim.keywords.items()}
        for value in list(args) + list(keywords.values()):
            if value is None:
                return None
            if value is TOP:
                return TOP
        try:  # the same call on the same shapes: asked once per process
            memo = (
                key,
                tuple(_signature(a) for a in args),
                tuple((k, _signature(v)) for k, v in keywords.items()),
            )
            hash(memo)
        except TypeError:
            return np.shape(key(*args, **keywords))
        found = _BY_EXAMPLE.get(memo)
        if found is None:
            found = _BY_EXAMPLE[memo] = np.shape(key(*args, **keywords))
        return found

    def example(self, atom):
        """A stand-in for the atom: zeros of its shape for arrays, its value for ints and tuples."""
        if isinstance(atom, ast.Constant):
            return atom.value if isinstance(atom.value, (int, float, str, type(None))) else TOP
        content = self.content(atom)
        if isinstance(content, tuple):
            return [np.broadcast_to(0.0, s) for s in content]
        value = self.value(atom)
        if value is None:
            return None
        if isinstance(value, (int, tuple)) and not isinstance(value, bool):
            return value
        shape = self.shape(atom)
        if shape is None or shape is TOP:
            return shape
        return np.broadcast_to(0.0, shape)
