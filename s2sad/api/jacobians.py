"""Jacobians: `jacfwd` (vector forward mode, one pass) and `jacrev` (one forward sweep,
one pullback per output element), with JAX's conventions.

The Jacobian of an output of shape `O` w.r.t. an input of shape `I` has shape
`O + I`; scalars give floats. `argnums` a tuple gives a tuple of Jacobians; tree
inputs (dicts, lists, tuples of arrays) give Jacobians in the same structure,
tree outputs an outer structure like the output's.

>>> import numpy as np
>>> def f(x):
...     return np.sin(x) * x[0]
>>> x = np.array([0.5, 1.0])
>>> np.allclose(jacfwd(f)(x), jacrev(f)(x))
True
>>> jacfwd(f)(x).shape
(2, 2)
"""

import functools
import numbers

import numpy as np

from .transforms import _nested_shapes
from ..frontend.nested import OUTER_ONLY_APIS, as_python_function, mark
from .. import config
from .. import kinds as K
from .. import trees as T
from ..signatures import diff_kinds, kinds_of, parse_argnums
from .arguments import check_real
from .boundary import guarded
from .transforms import _bind, adapted, grad
from .callables import needs_adapting
from ..pipeline import compile_derivative
from ..errors import ArgumentError, NonScalarOutputError
from ..modes import Mode
from ..runtime.columns import ColumnsMismatch


def _float_leaf(leaf):
    """A differentiated input: integers become floats (as `grad` treats them)."""
    if isinstance(leaf, np.ndarray):
        return leaf if np.issubdtype(leaf.dtype, np.inexact) else leaf.astype(float)
    if isinstance(leaf, (bool, np.bool_)) or isinstance(leaf, numbers.Integral):
        return float(leaf)
    return leaf


class _Inputs:
    """The differentiated arguments flattened into leaves, and their place in a flat vector."""

    def __init__(self, args, nums):
        self.args = list(args)
        self.nums = nums
        self.trees = {}
        self.leaves = []  # (argument index, leaf index, shape)
        for n in nums:
            value = args[n]
            if T.is_tree(value):
                leaves, treedef = T.flatten(value)
                leaves = [_float_leaf(leaf) for leaf in leaves]
                self.trees[n] = treedef
                self.args[n] = T.unflatten(treedef, leaves)
            else:
                leaves = [_float_leaf(value)]
                self.args[n] = leaves[0]
            for i, leaf in enumerate(leaves):
                self.leaves.append((n, i, np.shape(leaf)))
        self.sizes = [int(np.prod(shape, dtype=int)) for _, _, shape in self.leaves]
        self.size = sum(self.sizes)

    def regroup(self, per_leaf):
        """One value per input leaf -> (per argnum: the tree or the value)."""
        out, at = [], 0
        for n in self.nums:
            if n in self.trees:
                count = T.count(self.trees[n])
                out.append(T.unflatten(self.trees[n], per_leaf[at : at + count]))
                at += count
            else:
                out.append(per_leaf[at])
                at += 1
        return tuple(out)

    def split(self, matrix, out_shape):
        """A Jacobian `out_shape + (size,)` -> one `out_shape + leaf shape` block per leaf."""
        blocks, at = [], 0
        for (_, _, shape), size in zip(self.leaves, self.sizes):
            block = matrix[..., at : at + size].reshape(out_shape + shape)
            blocks.append(block[()] if block.ndim == 0 else block)
            at += size
        return blocks


def _output_leaves(compiled, value, name):
    """The leaves of a function's output, which must be floats or arrays (or trees of them)."""
    leaves, treedef = T.flatten(value) if T.is_tree(value) else ([value], T.LEAF)
    for leaf in leaves:
        if K.kind_of(leaf) not in (K.FLOAT, K.INT, K.BOOL, K.ARRAY):
            filename, lineno, code, _ = compiled.extra["where"]
            raise NonScalarOutputError(
                f"{name} needs outputs that are floats or NumPy arrays (or dicts / lists / tuples of "
                f"them); the function returned a {type(leaf).__name__}",
                filename,
                lineno,
                code,
                hint="return the numeric values alone, or return (output, aux) and pass has_aux=True",
            )
    return leaves, treedef


def _assemble(blocks_per_output, out_treedef, inputs, single):
    """Per output leaf, per input leaf blocks -> the Jacobian tree: the output's structure
    outside, the inputs' (a tuple for tuple argnums) inside."""
    per_output = []
    for blocks in blocks_per_output:
        grouped = inputs.regroup(blocks)
        per_output.append(grouped[0] if single else grouped)
    if out_treedef == T.LEAF:
        return per_output[0]
    return T.unflatten(out_treedef, per_output)


def _prepare(f, args, kwargs, argnums, name):
    args = _bind(f, args, kwargs)
    if not isinstance(argnums, numbers.Integral) and not tuple(argnums):
        raise ArgumentError(
            f"{name} got argnums=(); there is nothing to differentiate",
            hint="pass the index of at least one argument",
        )
    single, nums = parse_argnums(argnums, len(args), getattr(f, "__name__", "f"))
    check_real(f, args, nums, name)
    kinds = diff_kinds(kinds_of(args, nums), nums)
    inputs = _Inputs(args, nums)
    return single, nums, kinds, inputs


def jacfwd(f, argnums=0, has_aux=False):
    """Like `jax.jacfwd`: the Jacobian by vector forward mode.

    All tangent directions go through the function in one pass: the derivative
    code carries them on a leading axis of every tangent (see
    `s2sad.forward_vector`; `s2sad.source(f, mode="jacfwd")` shows it). With
    has_aux, `f` returns (output, aux) and the result is (jacobian, aux).
    """
    has_aux = bool(has_aux)
    if needs_adapting(f):  # a method, a partial, keyword-only parameters (s2sad.api.callables)
        return adapted(lambda target, nums: jacfwd(target, nums, has_aux), f, argnums, "jacfwd")
    f = as_python_function(f)
    mismatched = set()  # ids of compiled code whose demanded columns met shapes they do not fit

    @functools.wraps(f)
    def jacobian(*args, **kwargs):
        single, nums, kinds, inputs = _prepare(f, args, kwargs, argnums, "jacfwd")
        compiled = compile_derivative(
            f, Mode.FORWARD_VECTOR, nums, kinds, has_aux, _nested_shapes(f, inputs.args)
        )
        seeds, at = [], 0
        eye = np.eye(inputs.size)
        for (_, _, shape), size in zip(inputs.leaves, inputs.sizes):
            seeds.append(eye[:, at : at + size].reshape((inputs.size,) + shape))
            at += size
        tangents = inputs.regroup(seeds)
        try:
            if id(compiled) in mismatched:
                raise ColumnsMismatch("met before")
            value, tangent = compiled.function(*inputs.args, *tangents)
        except ColumnsMismatch:  # demanded columns met shapes they do not fit: run without them
            mismatched.add(id(compiled))
            with config.analyses(False):
                compiled = compile_derivative(
                    f, Mode.FORWARD_VECTOR, nums, kinds, has_aux, _nested_shapes(f, inputs.args)
                )
                value, tangent = compiled.function(*inputs.args, *tangents)
        aux = None
        if has_aux:
            value, aux = value
        leaves, treedef = _output_leaves(compiled, value, "jacfwd")
        tangent_leaves = T.flatten(tangent)[0] if treedef != T.LEAF else [tangent]
        blocks = []
        for leaf, t in zip(leaves, tangent_leaves):
            t = np.broadcast_to(np.asarray(t, dtype=float), (inputs.size,) + np.shape(leaf))
            blocks.append(inputs.split(np.moveaxis(t, 0, -1), np.shape(leaf)))
        result = _assemble(blocks, treedef, inputs, single)
        return (result, aux) if has_aux else result

    return mark(
        guarded(jacobian), "jacfwd", f, argnums, has_aux
    )  # not differentiable again yet: see s2sad.frontend.nested


def jacrev(f, argnums=0, has_aux=False):
    """Like `jax.jacrev`: the Jacobian by reverse mode.

    The forward sweep runs once; its pullback (the split pair `vjp` uses) is
    then called once per output element with a unit cotangent, each call
    giving one row. With has_aux, `f` returns (output, aux) and the result is
    (jacobian, aux).
    """
    has_aux = bool(has_aux)
    if needs_adapting(f):  # a method, a partial, keyword-only parameters (s2sad.api.callables)
        return adapted(lambda target, nums: jacrev(target, nums, has_aux), f, argnums, "jacrev")
    f = as_python_function(f)

    @functools.wraps(f)
    def jacobian(*args, **kwargs):
        single, nums, kinds, inputs = _prepare(f, args, kwargs, argnums, "jacrev")
        compiled = compile_derivative(f, Mode.SPLIT, nums, kinds, has_aux)
        objects = compiled.extra["objects"]
        forward, backward = objects["forward"], objects["backward"]
        value, residuals = forward(*inputs.args)
        aux = None
        if has_aux:
            value, aux = value
        leaves, treedef = _output_leaves(compiled, value, "jacrev")
        zeros = [np.zeros(np.shape(leaf)) if np.ndim(leaf) else 0.0 for leaf in leaves]
        blocks = []
        for which, leaf in enumerate(leaves):
            shape = np.shape(leaf)
            rows = np.zeros((int(np.prod(shape, dtype=int)), inputs.size))
            for row, index in enumerate(np.ndindex(*shape)):
                cotangents = list(zeros)
                if shape:
                    unit = np.zeros(shape)
                    unit[index] = 1.0
                    cotangents[which] = unit
                else:
                    cotangents[which] = 1.0
                seed = cotangents[0] if treedef == T.LEAF else T.unflatten(treedef, cotangents)
                grads = backward(residuals, seed)
                rows[row] = _flat_row(grads, inputs)
            blocks.append(inputs.split(rows.reshape(shape + (inputs.size,)), shape))
        result = _assemble(blocks, treedef, inputs, single)
        return (result, aux) if has_aux else result

    return mark(guarded(jacobian), "jacrev", f, argnums, has_aux)


def _flat_row(grads, inputs):
    """The cotangents of the differentiated arguments, flattened into one row."""
    leaves = []
    for n, g in zip(inputs.nums, grads):
        leaves += T.flatten(g)[0] if n in inputs.trees else [g]
    parts = [
        np.broadcast_to(np.asarray(leaf, dtype=float), shape).ravel()
        for leaf, (_, _, shape) in zip(leaves, inputs.leaves)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def hessian(f, argnums=0, has_aux=False):
    """Like `jax.hessian`: the Hessian of scalar `f`, vector forward mode (`jacfwd`, every
    direction at once) over the reverse-mode gradient's code.

    For an input of shape I the result has shape I + I; with a tuple of argnums, a tuple of
    tuples of blocks (block `[i][j]` has shape I_i + I_j), as in JAX. With has_aux, (hessian, aux).
    """
    if needs_adapting(f):  # a method, a partial, keyword-only parameters (s2sad.api.callables)
        return adapted(lambda target, nums: hessian(target, nums, has_aux), f, argnums, "hessian")
    hessian_of = jacfwd(grad(f, argnums=argnums, has_aux=has_aux), argnums=argnums, has_aux=has_aux)
    return mark(hessian_of, "hessian", f, argnums, has_aux)


OUTER_ONLY_APIS.update(jacfwd=jacfwd, jacrev=jacrev, hessian=hessian)
