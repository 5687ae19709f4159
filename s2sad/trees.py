"""Arguments as trees: dicts, lists and tuples of arrays and floats (how ML code holds weights).

A tree argument is flattened into its leaves, and the compiled derivative takes the
leaves as separate parameters. The tree's structure (a hashable `TreeDef`) is part
of the specialization, like a kind. In the function body the tree parameter is
rebuilt as a literal of its leaf parameters, which constant-key indexing
(`params["W1"]`) then resolves at compile time (`optimize._scalarize_tuples`), so
the generated code reads `params_W1` where the user wrote `params["W1"]`.
Gradients come back in the same structure.

>>> import numpy as np
>>> leaves, treedef = flatten({"W": np.ones(2), "layers": [0.5, 1.5]})
>>> len(leaves), treedef
(3, ('dict', ('W', 'layers'), ('*', ('list', 2, ('*', '*')))))
>>> flatten({"w": 1.0, "b": 2.0})
([2.0, 1.0], ('dict', ('b', 'w'), ('*', '*')))
>>> unflatten(treedef, ["w", "a", "b"])
{'W': 'w', 'layers': ['a', 'b']}
>>> import ast
>>> print(ast.unparse(literal(treedef, leaf_names("params", treedef, set()))))
{'W': params_W, 'layers': [params_layers_0, params_layers_1]}
"""

import ast
import dataclasses

from . import cache
from . import kinds as K
from .astutil import fix_missing_locations, name_nodes, walk
from .errors import ArgumentError

LEAF = "*"
TREE = "tree"
RECORD = "record"


def is_tree(value):
    return isinstance(value, (dict, list, tuple)) or _is_dataclass_type(type(value))


def is_record(value):
    """A NamedTuple or a dataclass instance: a tree whose children are its fields (read as `p.W`)."""
    if isinstance(value, tuple):
        return hasattr(type(value), "_fields")
    return _is_dataclass_type(type(value))


_DATACLASS_TYPES = {}  # type -> are its instances dataclass instances (asked on every call: memoized)
cache.on_clear(_DATACLASS_TYPES.clear)


def _is_dataclass_type(cls):
    found = _DATACLASS_TYPES.get(cls)
    if found is None:
        found = _DATACLASS_TYPES[cls] = hasattr(cls, "__dataclass_fields__") and not issubclass(cls, type)
    return found


def record_fields(value):
    if isinstance(value, tuple):
        return tuple(type(value)._fields)
    return tuple(f.name for f in dataclasses.fields(value))


def flatten(value):
    """(leaves, treedef): dicts by sorted keys, as in JAX (`{"b": .., "w": ..}` and `{"w": .., "b": ..}`
    have one structure); keys that do not sort keep their own order."""
    leaves = []

    def walk(v):
        if is_record(v):
            fields = record_fields(v)
            return (RECORD, (type(v), fields), tuple(walk(getattr(v, name)) for name in fields))
        if isinstance(v, dict):
            keys = sorted_keys(v)
            return ("dict", keys, tuple(walk(v[k]) for k in keys))
        if isinstance(v, (list, tuple)):
            return ("list" if isinstance(v, list) else "tuple", len(v), tuple(walk(x) for x in v))
        leaves.append(v)
        return LEAF

    treedef = walk(value)
    return leaves, treedef


def sorted_keys(mapping):
    try:
        return tuple(sorted(mapping))
    except TypeError:  # keys of mixed types
        return tuple(mapping)


def unflatten(treedef, leaves):
    """Rebuild a tree of `treedef`'s structure from `leaves` (in flatten's order)."""
    it = iter(leaves)

    def build(d):
        if d == LEAF:
            return next(it)
        if d[0] == "dict":
            return {k: build(c) for k, c in zip(d[1], d[2])}
        if d[0] == RECORD:
            cls, fields = d[1]
            return cls(**{name: build(c) for name, c in zip(fields, d[2])})
        items = [build(c) for c in d[2]]
        return items if d[0] == "list" else tuple(items)

    return build(treedef)


def count(treedef):
    if treedef == LEAF:
        return 1
    return sum(count(c) for c in treedef[2])


def tree_kind(value):
    """The kind of an argument: a plain kind, or ('tree', treedef, leaf kinds)."""
    if not is_tree(value):
        return K.kind_of(value)
    leaves, treedef = flatten(value)
    return (TREE, treedef, tuple(K.kind_of(leaf) for leaf in leaves))


def is_tree_kind(kind):
    return isinstance(kind, tuple) and len(kind) == 3 and kind[0] == TREE


def _label(key, index):
    text = str(key)
    return text if text.isidentifier() else f"{index}"


def leaf_names(param, treedef, taken):
    """Parameter names for the leaves: `params_W1`, `layers_0_b` (made unique against `taken`)."""
    names = []

    def walk(d, prefix):
        if d == LEAF:
            name = prefix
            while name in taken or name in names:
                name += "_"
            names.append(name)
            return
        labels = d[1] if d[0] == "dict" else d[1][1] if d[0] == RECORD else range(d[1])
        for index, (label, child) in enumerate(zip(labels, d[2])):
            walk(child, f"{prefix}_{_label(label, index)}")

    walk(treedef, param)
    return names


def literal(treedef, names):
    """The AST literal rebuilding a tree from its leaf parameter names."""
    it = iter(names)

    def build(d):
        if d == LEAF:
            return ast.Name(next(it), ast.Load())
        if d[0] == "dict":
            return ast.Dict(keys=[ast.Constant(k) for k in d[1]], values=[build(c) for c in d[2]])
        if d[0] == RECORD:  # a dict in the body: `p.W` is read as `p["W"]` (see `records_as_dicts`)
            return ast.Dict(keys=[ast.Constant(k) for k in d[1][1]], values=[build(c) for c in d[2]])
        elts = [build(c) for c in d[2]]
        return ast.List(elts=elts, ctx=ast.Load()) if d[0] == "list" else ast.Tuple(elts=elts, ctx=ast.Load())

    return build(treedef)


def expand_parameters(tree, input_kinds, active_inputs):
    """Replace tree parameters of FunctionDef `tree` by their leaves (in place).

    Returns (leaf-level kinds, leaf-level active indexes, [(original index, slice of
    the flat parameters)]). The body starts by rebuilding each tree as a literal.
    """
    args = tree.args.args
    taken = {n.id for n in name_nodes(tree)} | {a.arg for a in args}
    new_args, kinds, prologue, spans = [], [], [], []
    active = []
    for index, (arg, kind) in enumerate(zip(args, input_kinds)):
        start = len(new_args)
        if is_tree_kind(kind):
            _, treedef, leaf_kinds = kind
            names = leaf_names(arg.arg, treedef, taken)
            taken |= set(names)
            new_args += [ast.arg(arg=n) for n in names]
            kinds += list(leaf_kinds)
            rebuild = ast.Assign(targets=[ast.Name(arg.arg, ast.Store())], value=literal(treedef, names))
            prologue.append(fix_missing_locations(ast.copy_location(rebuild, tree)))
        else:
            new_args.append(arg)
            kinds.append(kind)
        spans.append((index, slice(start, len(new_args))))
        if index in active_inputs:
            active += range(start, len(new_args))
    tree.args.args = new_args
    tree.args.defaults = [] if prologue else tree.args.defaults
    tree.body = prologue + tree.body
    return tuple(kinds), tuple(active), spans


def tree_calls(objects, input_kinds, active_inputs, spans, has_aux=False):
    """Wrap generated functions that take tree leaves so that they take (and return) trees."""
    count = len(input_kinds)
    trees = {i: k[1] for i, k in enumerate(input_kinds) if is_tree_kind(k)}

    def flat(values, indexes):
        out = []
        for index, value in zip(indexes, values):
            if index in trees:
                leaves, treedef = flatten(value)
                if treedef != trees[index]:
                    raise ArgumentError(
                        f"argument {index} has the structure {treedef}, expected {trees[index]}",
                        hint="pass tangents and cotangents shaped like the primal trees",
                    )
                out += leaves
            else:
                out.append(value)
        return out

    def regroup(grads):
        out, at = [], 0
        for index in active_inputs:
            width = spans[index][1].stop - spans[index][1].start
            part = grads[at : at + width]
            out.append(unflatten(trees[index], part) if index in trees else part[0])
            at += width
        return tuple(out)

    wrapped = {}
    if "jvp" in objects:
        jvp = objects["jvp"]
        wrapped["jvp"] = lambda *a: jvp(*flat(a[:count], range(count)), *flat(a[count:], active_inputs))
    if "grad" in objects:
        grad = objects["grad"]
        if has_aux:  # the generated function returns (grads, aux)

            def grad_call(*a):
                grads, aux = grad(*flat(a[:count], range(count)), *a[count:])
                return regroup(grads), aux

            wrapped["grad"] = grad_call
        else:
            wrapped["grad"] = lambda *a: regroup(grad(*flat(a[:count], range(count)), *a[count:]))
    if "vjp" in objects:
        joint = objects["vjp"]

        def joint_call(*a):
            value, grads = joint(*flat(a[:count], range(count)), *a[count:])
            return value, regroup(grads)

        wrapped["vjp"] = joint_call
    if "forward" in objects:
        forward, backward = objects["forward"], objects["backward"]
        wrapped["forward"] = lambda *a: forward(*flat(a, range(count)))
        wrapped["backward"] = lambda residuals, seed: regroup(backward(residuals, seed))
    return wrapped


def record_fields_of(treedef):
    """The field names of every record (NamedTuple, dataclass) in `treedef`."""
    if treedef == LEAF:
        return set()
    out = set(treedef[1][1]) if treedef[0] == RECORD else set()
    for child in treedef[2]:
        out |= record_fields_of(child)
    return out


def records_as_dicts(tree, fields):
    """In the normalized, inlined FunctionDef `tree`, read the fields of records given as arguments
    (`fields`: parameter -> the field names of the records in its tree, rebuilt in the body as dicts)
    by key: `p.W` -> `p["W"]`, and so for names that take their value from such a parameter only
    (`layer = layers[i]`, `for layer in layers`, a helper's parameter)."""
    sources = {}  # name -> the names its assigned values come from (None: something else)
    for node in walk(tree):
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.iter
        if target is None:
            continue
        while isinstance(value, ast.Subscript):
            value = value.value
        if isinstance(value, ast.Name):
            sources.setdefault(target, set()).add(value.id)
        elif isinstance(value, (ast.Dict, ast.List, ast.Tuple)):  # the prologue rebuilding a tree, in pieces
            sources.setdefault(target, set())
            for item in value.values if isinstance(value, ast.Dict) else value.elts:
                if isinstance(item, ast.Name):  # an item of the literal: read from it by key or index
                    sources.setdefault(item.id, set()).add(target)
        else:
            sources.setdefault(target, set()).add(None)
    roots = {name: name for name in fields if sources.get(name, set()) <= {name}}
    changed = True
    while changed:
        changed = False
        for name, from_ in sources.items():
            if name in roots:
                continue
            found = {roots.get(s) for s in from_}
            if len(found) == 1 and None not in found:
                roots[name] = found.pop()
                changed = True
    for node in walk(tree):
        for field_name, child in ast.iter_fields(node):
            items = child if isinstance(child, list) else [child]
            for index, item in enumerate(items):
                if (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.ctx, ast.Load)
                    and isinstance(item.value, ast.Name)
                    and item.value.id in roots
                    and item.attr in fields[roots[item.value.id]]
                ):
                    read = ast.copy_location(
                        ast.Subscript(value=item.value, slice=ast.Constant(item.attr), ctx=ast.Load()), item
                    )
                    if isinstance(child, list):
                        child[index] = read
                    else:
                        setattr(node, field_name, read)
    return tree
