"""Demanded columns: in vector forward mode, a value read only at some columns gets its tangent
at those columns alone.

A program often computes a wide array and reads a few of its columns: `v[:, idx]` (a
skinned mesh of which a few vertices are matched to observations, the states of a grid
at some probes). Carrying k tangent directions through every column costs k times the
primal on all of them; only the columns in `idx` reach the output. Where a value's
tangent is read only by gathers on its last axis, and it comes from values by
operations that keep the last axis column by column (elementwise arithmetic and NumPy
functions with broadcasting, the right operand of `@`, copies), those values' tangents
carry the gathered columns alone, `cols.index` on their last axis (every gather's index
concatenated, computed at the top of the function: the index must be computable there,
from arguments that are not written). The primal runs unchanged; operands of these
operations are taken at the columns (`_rt.columns(x, cols)`), tangents of other values too
(`_rt.tangent_columns`), and the gather reads its part (`_rt.gathered_columns`).

Ranks are not known at compile time: the run-time helpers check that the gather is on
the last axis and that right operands of `@` are matrices; otherwise they raise
`_rt.ColumnsMismatch`, and `jacfwd` runs the function again without demanded columns.

>>> import ast, numpy as np
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.analyses.activity import analyze
>>> tree = normalize(ast.parse('''
... def f(x, w, idx):
...     p = np.sin(x) * w
...     v = w @ p
...     return v[:, idx]
... ''').body[0])
>>> info = analyze(tree, {"np": np}, {"x": "array", "w": "array", "idx": "array"}, {"x"})
>>> demand = demanded_columns(tree, info, set())
>>> sorted(demand.component), [ast.unparse(i) for i in demand.indices[0]]
(['_t1', 'p', 'v'], ['idx'])
"""

import ast
import operator
from dataclasses import dataclass, field

import numpy as np

from .. import kinds as K
from ..astutil import families
from ..analyses.activity import walk_statements
from .derivatives import SCALARS, local_atom

_MATMUL = (operator.matmul, np.matmul)
# primitives with no effect that an index may be computed by at the top of the function
_PURE = (
    operator.getitem,
    operator.add,
    operator.sub,
    operator.mul,
    operator.floordiv,
    operator.mod,
    operator.neg,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    operator.eq,
    operator.ne,
    operator.and_,
    operator.or_,
    operator.invert,
)


@dataclass
class Demand:
    """What `demanded_columns` found: `component` maps each name whose tangent carries demanded
    columns to its family (values sharing one column axis); `indices` per family the gathered
    indices (atoms), in order; `gathers` maps id(gather statement) -> (family, part, leading
    slices); `hoisted`: the statements that compute the indices, moved to the top."""

    component: dict = field(default_factory=dict)
    indices: dict = field(default_factory=dict)
    gathers: dict = field(default_factory=dict)
    hoisted: list = field(default_factory=list)


def _gather(prim, kinds, globals_):
    """(gathered name, leading full slices, index atom) if `prim` is `v[:, ..., idx]` with an
    array (or unknown) index last, else None."""
    if prim is None or prim.kind != "call" or prim.rule is None or prim.rule.key is not operator.getitem:
        return None
    if len(prim.args) != 2 or local_atom(prim.args[0], globals_) is None:
        return None
    index = prim.args[1]
    items = list(index.elts) if isinstance(index, ast.Tuple) else [index]
    leading, last = items[:-1], items[-1]
    if not all(isinstance(s, ast.Slice) and s.lower is s.upper is s.step is None for s in leading):
        return None
    if not isinstance(last, ast.Name) or kinds.get(last.id, K.ANY) not in (K.ARRAY, K.ANY):
        return None
    return prim.args[0].id, len(leading), last


def _role(prim, kinds, globals_):
    """How a defining primitive keeps columns: 'elementwise', 'matmul', 'copy', or None."""
    if prim is None:
        return None
    if prim.kind == "copy":
        return "copy"
    if prim.kind != "call" or prim.rule is None or not prim.rule.differentiable:
        return None
    operands = list(prim.args) + list(prim.keywords.values())
    if any(
        kinds.get(local_atom(a, globals_)) in (K.LIST, K.OTHER) for a in operands if local_atom(a, globals_)
    ):
        return None
    if prim.rule.key in _MATMUL and len(prim.args) == 2 and not prim.keywords:
        return "matmul"
    if prim.rule.elementwise:
        return "elementwise"
    return None


def demanded_columns(function, analysis, written):
    """The `Demand` of `function` (normalized; `written`: names written in place)."""
    kinds, active, primitives = analysis.kinds, analysis.active, analysis.primitives
    globals_ = analysis.globals
    params = {a.arg for a in function.args.args}
    statements = list(walk_statements(function.body))
    defs, uses, gathers = {}, {}, {}
    opaque = set()  # names whose tangent some statement reads in a way that needs every column
    loop_targets = set()
    for stmt in statements:
        if isinstance(stmt, ast.For):
            loop_targets |= {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
        if isinstance(stmt, (ast.If, ast.While, ast.For)):
            continue  # their tests read values, never tangents
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
        prim = primitives.get(id(stmt))
        if isinstance(target, ast.Name):
            defs.setdefault(target.id, []).append(stmt)
            if target.id not in active:
                continue  # a constant: no tangent is read
            found = _gather(prim, kinds, globals_)
            if found is not None:
                gathers[id(stmt)] = found
                continue
            role = _role(prim, kinds, globals_)
            if role is not None:
                operands = [local_atom(a, globals_) for a in list(prim.args) + list(prim.keywords.values())]
                for i, n in enumerate(operands):
                    if n is None:
                        continue
                    if role == "matmul" and (i == 0 or operands[0] == operands[1]):
                        opaque.add(n)  # the left operand's last axis is summed over
                    else:
                        uses.setdefault(n, set()).add(target.id)
                continue
        opaque |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    candidates = {
        n
        for n, ds in defs.items()
        if n in active
        and n not in params
        and n not in written
        and n not in loop_targets
        and kinds.get(n) not in SCALARS
        and all(
            _role(primitives.get(id(d)), kinds, globals_)
            or _constant(primitives.get(id(d)), active, globals_)
            for d in ds
        )
        and all(isinstance(d, ast.Assign) and isinstance(d.targets[0], ast.Name) for d in ds)
    }
    gathered = {}
    for sid, (v, _, _) in gathers.items():
        gathered.setdefault(v, []).append(sid)
    restricted = candidates - opaque
    while True:
        keep = {
            n
            for n in restricted
            if all(t in restricted for t in uses.get(n, ()))
            and all(_operands_fit(d, restricted, primitives, globals_) for d in defs[n])
        }
        component = _components(keep, uses)
        with_gather = {component[v] for v in gathered if v in component}
        keep = {n for n in keep if component[n] in with_gather}
        if keep == restricted:
            break
        restricted = keep
    demand = Demand()
    if not restricted:
        return demand
    component = _components(restricted, uses)
    hoistable = _hoistable(function, analysis, written, params)
    order = {id(s): i for i, s in enumerate(statements)}
    families = {}
    for sid in sorted((s for s, g in gathers.items() if g[0] in restricted), key=order.get):
        v, leading, index = gathers[sid]
        families.setdefault(component[v], []).append((sid, leading, index))
    bad = {c for c, gs in families.items() if any(hoistable.get(i.id) is None for _, _, i in gs)}
    hoisted = []
    for c, gs in families.items():
        if c in bad:
            continue
        demand.indices[c] = [index for _, _, index in gs]
        for part, (sid, leading, index) in enumerate(gs):
            demand.gathers[sid] = (c, part, leading)
            for stmt in hoistable[index.id]:
                if stmt not in hoisted:
                    hoisted.append(stmt)
    demand.component = {n: c for n, c in component.items() if c in demand.indices}
    demand.hoisted = sorted(hoisted, key=lambda s: order[id(s)])
    return demand


def _constant(prim, active, globals_):
    """Does `prim` read no active value (`np.zeros(n)`): its result's tangent is zero."""
    if prim is None or prim.kind not in ("call", "copy", "container"):
        return False
    return not any(local_atom(a, globals_) in active for a in list(prim.args) + list(prim.keywords.values()))


def _operands_fit(stmt, restricted, primitives, globals_):
    """A matrix product keeps columns only through its right operand: its left one must not be
    restricted (its tangent is read whole)."""
    prim = primitives.get(id(stmt))
    if prim is None or prim.kind != "call" or prim.rule is None or prim.rule.key not in _MATMUL:
        return True
    return local_atom(prim.args[0], globals_) not in restricted


def _components(names, uses):
    """Families of `names` joined by a use of one in the definition of another: name -> family id."""
    root = families(names, uses)
    roots = sorted(set(root.values()))
    return {n: roots.index(root[n]) for n in names}


def _hoistable(function, analysis, written, params):
    """name -> the top-level statements (in order) that compute it from arguments never written and
    constants, by primitives without effects; names not listed cannot be computed at the top."""
    counts = {}
    for stmt in walk_statements(function.body):
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                counts[node.id] = counts.get(node.id, 0) + 1
    found = {p: [] for p in params if p not in written and p not in analysis.active and p not in counts}
    for stmt in function.body:
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
            continue
        name = stmt.targets[0].id
        prim = analysis.primitives.get(id(stmt))
        if counts.get(name) != 1 or name in written or name in analysis.active or prim is None:
            continue
        if prim.kind == "call" and (prim.rule is None or prim.rule.key not in _PURE):
            continue
        if prim.kind not in ("call", "copy", "container"):
            continue
        reads = [
            n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name) and n.id not in analysis.globals
        ]
        if any(n not in found and n != "slice" for n in reads):
            continue
        chain = []
        for n in reads:
            for s in found.get(n, []):
                if s not in chain:
                    chain.append(s)
        found[name] = chain + [stmt]
    return found


__all__ = ["Demand", "demanded_columns"]
