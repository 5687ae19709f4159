"""Integer arrays used as indices: an index array may repeat entries, so the adjoint of `x[idx]`
accumulates them (`np.add.at`). Only an index known to be one integer may be written as
`a_bar[i] += g`. The kinds of integer casts, `//`, `round` and `argmax`/`argmin` along an axis are
arrays (not one integer) when their operand is an array; each program here had a silently wrong
reverse-mode gradient when those were taken for one integer. Checked against central differences
in both modes and by the dot-product test, at random points."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from s2sad import kinds as K
from s2sad.testing import check_grads

SETTINGS = settings(max_examples=5, deadline=None)
SEEDS = st.integers(0, 2**16)

INDS = np.ones(5)[:, None]


def cast_rows(W):  # autograd's test_cast_to_int: truncated floats as row indices (repeats)
    glued_together = np.concatenate((W, INDS), axis=1)
    new_W = W[:, :-1]
    new_inds = np.int64(W[:, -1])
    return new_W[new_inds].sum()


def greedy_rows(Q, target):  # rows chosen by argmax along an axis: repeats
    a = np.argmax(Q, axis=1)
    picked = Q[a]
    return np.sum((picked - target) ** 2)


def halves(x):  # floor division of an index array: each index twice
    idx = np.arange(x.shape[0]) // 2
    y = x[idx]
    return np.sum(y * y)


def buckets(x, w):  # an integer array cast from floats
    k = np.int32(np.abs(w) * 3.0) % 5
    return np.sum(x[k] ** 2 * w)


def one_index(x):  # one integer from a cast: a basic index, `+=` is right
    i = int(np.floor(abs(x[0]))) % 3
    return np.sum(x[i:] ** 2)


@SETTINGS
@given(SEEDS)
def test_cast_rows(seed):
    check_grads(cast_rows, (np.random.default_rng(seed).standard_normal((5, 10)),))


@SETTINGS
@given(SEEDS)
def test_greedy_rows(seed):
    rng = np.random.default_rng(seed)
    check_grads(greedy_rows, (rng.standard_normal((6, 3)), rng.standard_normal(3)))


@SETTINGS
@given(SEEDS)
def test_halves(seed):
    check_grads(halves, (np.random.default_rng(seed).standard_normal(6),))


@SETTINGS
@given(SEEDS)
def test_buckets(seed):
    rng = np.random.default_rng(seed)
    check_grads(buckets, (rng.standard_normal(5), rng.standard_normal(5) + 0.05), wrt=[0])


@SETTINGS
@given(SEEDS)
def test_one_index(seed):
    check_grads(one_index, (np.random.default_rng(seed).standard_normal(5) * 2.0,))


def test_kinds_of_integer_results():
    assert K.integer_cast([K.FLOAT]) == K.INT and K.integer_cast([K.ARRAY]) == K.ARRAY
    assert K.position([K.ARRAY]) == K.INT and K.position([K.ARRAY], {"axis": "1"}) == K.ANY
