"""Argument signatures: which arguments are differentiated, their kinds, the cache key of a call.

>>> parse_argnums((0, -1), 3, "f")
(False, (0, 2))
>>> kinds_of((1.0, [2.0, 3.0]), nums=(1,))[0]
'float'
"""

import numbers

import numpy as np

from . import kinds as K
from . import trees as T
from .errors import ArgumentError


def parse_argnums(argnums, count, name):
    single = isinstance(argnums, numbers.Integral)
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for n in nums:
        if not -count <= n < count:
            raise ArgumentError(
                f"argnums={argnums!r} is out of range for {name}, which takes {count} positional arguments",
                hint=f"use an index from 0 to {count - 1}",
            )
    return single, tuple(n % count for n in nums)


def kinds_of(args, nums=()):
    """Kinds of the arguments; differentiated dicts, lists and tuples are trees of leaves;
    functions are constants the compiler follows."""
    return tuple(
        T.tree_kind(a) if i in nums and T.is_tree(a) else K.function_kind(a) or K.kind_of(a)
        for i, a in enumerate(args)
    )


def call_kinds(args, wrt):
    """The kinds a derivative compiled at run time (a call that is not inlined) is specialized to:
    `kinds_of`, refined (`s2sad.kinds.refined_kind`) by the ranks and element kinds of arrays and
    lists, so that one compilation serves every size. A list is walked once here, where the call is
    looked up, not at every level of a recursion (its own calls are proven to keep the kinds).

    >>> call_kinds((np.ones((3, 3)), [0, 1], 2.0), (0,))
    (('array', 2, 'float'), ('list', 'int'), 'float')
    """
    return tuple(
        (
            K.refined_kind(a, i in wrt)
            if a.__class__ is np.ndarray or (a.__class__ is list and i not in wrt)
            else T.tree_kind(a) if i in wrt and T.is_tree(a) else K.function_kind(a) or K.kind_of(a)
        )
        for i, a in enumerate(args)
    )


def signature_of(args):
    """Cache key of the arguments: their types, the structure of trees, functions themselves."""
    return tuple(T.tree_kind(a) if T.is_tree(a) else K.function_kind(a) or type(a) for a in args)


def diff_kinds(kinds, argnums):
    """Integer inputs that are differentiated are treated as floats."""
    kinds = list(kinds)
    for n in argnums:
        if T.is_tree_kind(kinds[n]):
            leaf_kinds = tuple(K.FLOAT if k in (K.INT, K.BOOL) else k for k in kinds[n][2])
            if K.OTHER in leaf_kinds:
                raise ArgumentError(
                    f"argument {n} is a tree with a leaf that is neither a float nor an array",
                    hint="keep only floats and NumPy arrays in differentiated dicts, lists and tuples",
                )
            kinds[n] = (kinds[n][0], kinds[n][1], leaf_kinds)
        elif K.is_function_kind(kinds[n]):
            raise ArgumentError(
                f"argument {n} is the function {getattr(kinds[n][1], '__name__', kinds[n][1])!r}; "
                "s2sad differentiates with respect to floats and NumPy arrays",
                hint="leave it out of argnums: functions given as arguments are constants s2sad follows",
            )
        elif kinds[n] in (K.INT, K.BOOL):
            kinds[n] = K.FLOAT
        elif kinds[n] == K.OTHER:
            raise ArgumentError(
                f"argument {n} is neither a float nor a NumPy array; s2sad differentiates floats and NumPy arrays",
                hint="pass floats, NumPy arrays, or dicts / lists / tuples of them",
            )
    return tuple(kinds)
