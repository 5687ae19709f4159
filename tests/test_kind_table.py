"""The kinds analysis' table of what each call returns (s2sad/analyses/kind_table.py)."""

import math

import numpy as np

import s2sad
from s2sad import kinds as K
from s2sad.analyses.kind_table import KINDS, TABLE, result_kind
from s2sad.rules import RULES, lookup, nondifferentiable


def test_every_entry_is_a_callee_of_the_rule_table_and_listed_once():
    callees = [fn for _, fns in TABLE for fn in fns]
    assert all(fn in RULES for fn in callees)
    assert len(callees) == len(KINDS)


def test_kinds_follow_the_operands():
    assert result_kind(lookup(np.sin), [K.INT]) == K.FLOAT
    assert result_kind(lookup(np.sin), [K.ARRAY]) == K.ARRAY
    assert result_kind(lookup(np.sum), [K.ARRAY]) == K.FLOAT
    assert result_kind(lookup(np.sum), [K.ARRAY], {"axis": "0"}) == K.ANY
    assert result_kind(lookup(math.floor), [K.FLOAT]) == K.INT
    assert result_kind(lookup(np.matmul), [K.ARRAY, K.ARRAY]) == K.ANY  # not listed: any


def test_a_rule_declared_with_a_kind_uses_it():
    def constant_count(x):
        return 3.0

    nondifferentiable(constant_count, kind="float")
    try:
        assert result_kind(lookup(constant_count), [K.ARRAY]) == K.FLOAT

        def f(x):
            return np.sum(x) * constant_count(x)

        np.testing.assert_allclose(s2sad.grad(f)(np.ones(3)), 3.0 * np.ones(3))
    finally:
        del RULES[constant_count]
