"""No pass sets an attribute of its own on an AST node.

What the passes learn is data they return, or a declared field of the `Compilation`
(s2sad/pipeline.py), keyed by node identity or by name; a symbolic zero is told by its value
(`s2sad.peepholes.simplify.SymbolicZero`). This test compiles a corpus (the benchmark workloads in
every mode, and functions reaching the passes they do not) with every AST class's `__setattr__`
recording the names that are neither a field nor a location attribute of the node's class.
"""

import ast
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import s2sad

ROOT = Path(__file__).resolve().parent.parent

ALLOWED = {"type_params"}  # a field of Python 3.12's FunctionDef, given so generated code compiles there

MODES = ["forward", "forward_vector", "reverse", "grad", "split", "jacrev", "jacfwd"]


def _ast_classes(cls=ast.AST):
    for sub in cls.__subclasses__():
        yield sub
        yield from _ast_classes(sub)


@contextmanager
def attributes_set_on_nodes():
    """A Counter of (node class, attribute) set on AST nodes inside the block, other than the
    class's `_fields`, `_attributes` and ALLOWED."""
    found = Counter()

    def record(node, key, value):
        cls = node.__class__
        if key not in cls._fields and key not in cls._attributes and key not in ALLOWED:
            found[(cls.__name__, key)] += 1
        object.__setattr__(node, key, value)

    classes = set(_ast_classes())
    own = {cls: cls.__dict__["__setattr__"] for cls in classes if "__setattr__" in cls.__dict__}
    for cls in classes:
        cls.__setattr__ = record
    try:
        yield found
    finally:
        for cls in classes:
            if cls in own:
                cls.__setattr__ = own[cls]
            else:
                del cls.__setattr__


def _workloads():
    folder = str(ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import workloads  # benchmarks/workloads: the programs the benchmarks time

    return [(w.name, w.primal, w.args, w.argnums) for w in workloads.load()]


def consumed_generators(w, xs):
    hs = [np.tanh(w * x) for x in xs]
    energies = list(np.sum(h * h) for h in hs)
    if all(e >= 0.0 for e in energies) and not any(e > 100.0 for e in energies):
        return energies[0] + energies[2] * energies[1]
    return 0.0


def counted_loop_writes(x, n):
    ys = np.zeros(n)
    s = x
    for i in range(n):
        s = np.sin(s) * x
        ys[i] = s
    return np.sum(ys * ys)


@s2sad.custom_vjp
def clipped(x):
    return np.clip(x, -1.0, 1.0)


clipped.defvjp(lambda x: (clipped(x), x), lambda x, g: (g * (np.abs(x) < 1.0),))


def calls_transforms(x):
    g = s2sad.grad(lambda y: np.sum(np.sin(y) * y))(x)
    return np.sum(clipped(g) * x)


CORPUS = [
    (consumed_generators, (np.array([0.2, -0.5]), [np.array([1.0, 2.0]), np.array([-0.5, 0.3])] * 2), (0,)),
    (counted_loop_writes, (0.7, 5), (0,)),
    (calls_transforms, (np.linspace(0.1, 0.9, 4),), (0,)),
]


def test_the_detector_sees_a_flag():
    with attributes_set_on_nodes() as found:
        node = ast.Name(id="x", ctx=ast.Load())
        node.lineno = 1
        node.marked = True
    assert found == {("Name", "marked"): 1}
    node.other = True  # restored: no longer recorded
    assert found == {("Name", "marked"): 1}


@pytest.mark.parametrize("name, f, args, argnums", _workloads(), ids=[w[0] for w in _workloads()])
def test_no_pass_flags_a_node_of_a_workload(name, f, args, argnums):
    with attributes_set_on_nodes() as found:
        for mode in MODES:
            s2sad.source(f, mode=mode, argnums=argnums, args=args)
    assert not found, f"attributes set on AST nodes: {sorted(found)}"


@pytest.mark.parametrize("f, args, argnums", CORPUS, ids=[c[0].__name__ for c in CORPUS])
def test_no_pass_flags_a_node(f, args, argnums):
    with attributes_set_on_nodes() as found:
        for mode in ("forward", "grad", "split", "jacfwd"):
            s2sad.source(f, mode=mode, argnums=argnums, args=args)
        s2sad.grad(f, argnums=argnums)(*args)
    assert not found, f"attributes set on AST nodes: {sorted(found)}"
