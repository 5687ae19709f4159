"""Recursions' derivatives compiled for refined kinds (s2sad/kinds.py `refined_kind`, s2sad/signatures.py
`call_kinds`, s2sad/pipeline.py `call_derivative`): an array's rank and element kind, a list's element kind.
The recursion's own calls are proven to keep them (s2sad/analyses/activity.py `proves_kind`) and call its
derivative directly, without a run-time lookup per level; arguments not proven are tested at run time and
take the lookup when the test fails (a rank or an element kind that changes down the recursion).

Every program is checked in both modes (forward `jvp`, reverse `vjp`) against central finite differences in
float64 and by the dot-product test (`s2sad.testing.check_grads`), at hypothesis-drawn inputs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad import cache, runtime
from s2sad import kinds as K
from s2sad.analyses.activity import analyze
from s2sad.frontend.normalize import normalize
from s2sad.testing import check_grads

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)
SEEDS = st.integers(0, 2**32 - 1)


def _check(f, args):
    """The value as Python computes it, then both modes against finite differences."""
    value, _ = s2sad.vjp(f, *args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12, atol=1e-12)
    out, _ = s2sad.jvp(f, args, tuple(np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in args))
    np.testing.assert_allclose(out, f(*args), rtol=1e-12, atol=1e-12)
    check_grads(f, args, rtol=1e-5)


# -- user programs: several shapes of recursion --------------------------------------------------


def minor_det(M, rows, cols):  # a float from an array and two lists of ints
    if len(rows) == 1:
        return M[rows[0], cols[0]]
    out = 0.0
    for j in range(len(cols)):
        sign = 1.0 if j % 2 == 0 else -1.0
        out = out + sign * M[rows[0], cols[j]] * minor_det(M, rows[1:], cols[:j] + cols[j + 1 :])
    return out


def det_by_minors(M):
    n = M.shape[0]
    return minor_det(M, list(range(n)), list(range(n)))


def path_weight(W, path, rest):  # the path grows by a list literal, the rest shrinks
    if not rest:
        return 0.0
    total = 0.0
    for k in range(len(rest)):
        step = rest[k]
        w = W[path[-1], step] * np.tanh(W[step, path[-1]])
        total = total + w + 0.5 * path_weight(W, path + [step], rest[:k] + rest[k + 1 :])
    return total


def all_paths(W):
    return path_weight(W, [0], list(range(1, W.shape[0])))


def split_product(x, lo, hi):  # divide and conquer: two recursive calls per level
    if hi - lo == 1:
        return np.sin(x[lo]) + 1.5
    mid = (lo + hi) // 2
    return split_product(x, lo, mid) * split_product(x, mid, hi) + 0.1 * x[mid]


def products(x):
    return split_product(x, 0, x.shape[0])


def tree_energy(X, idx, depth):  # rows of a matrix (arrays) chosen by lists of ints, two calls per level
    if len(idx) == 1:
        return np.sum(X[idx[0]] ** 2)
    half = len(idx) // 2
    left = tree_energy(X, idx[:half], depth + 1)
    right = tree_energy(X, idx[half:], depth + 1)
    return np.log(1.0 + left * right) + 0.1 * depth * np.sum(X[idx[0]] * X[idx[-1]])


def energy(X):
    return tree_energy(X, list(range(X.shape[0])), 0)


def halving(y, h, k, depth):  # a recursive ODE step, halved `depth` times: the state is a new array per level
    if depth == 0:
        return y + h * k * np.sin(y)
    y_half = halving(y, h / 2, k, depth - 1)
    return halving(y_half, h / 2, k, depth - 1)


def horner(c, x, k):  # one level per coefficient: numbers passed down
    if k == len(c) - 1:
        return c[k]
    return c[k] + x * horner(c, x, k + 1)


def polynomial(c, x):
    return horner(c, x, 0)


def reassigned(x, n):  # a loop that overwrites what it records twice per step, recursing on a shorter loop
    if n == 0:
        return x
    s = 0.0
    for i in range(n):
        t = x * (i + 1.0)
        s = s + np.sin(t)
        t = t * s
        s = s + np.cos(t)
    return s + reassigned(x * 0.5, n - 1)


def scaled_down(x, xs):  # a list of ints at the first level, of floats below: another compilation
    if len(xs) == 0:
        return x
    return scaled_down(x * xs[0] + 0.1, [v * 0.5 for v in xs[1:]])


def scale_by_counts(x, n):
    return scaled_down(x, list(range(1, n + 1)))


def collapse(X):  # the rank changes down the recursion: 2, then 1
    if X.ndim == 1:
        return np.sum(np.sin(X))
    return collapse(np.sum(X, axis=0) * 0.5) + np.sum(X[0] ** 2)


@SETTINGS
@given(SEEDS, st.integers(1, 5))
def test_det_of_minors_with_index_lists(seed, n):
    M = np.random.default_rng(seed).standard_normal((n, n))
    assert det_by_minors(M) == pytest.approx(np.linalg.det(M), abs=1e-9)
    _check(det_by_minors, (M,))
    np.testing.assert_allclose(
        s2sad.grad(det_by_minors)(M), np.linalg.det(M) * np.linalg.inv(M).T, rtol=1e-7, atol=1e-9
    )


@SETTINGS
@given(SEEDS, st.integers(2, 4))
def test_paths_grown_by_list_literals(seed, n):
    W = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, n))
    _check(all_paths, (W,))


@SETTINGS
@given(SEEDS, st.integers(1, 9))
def test_divide_and_conquer_with_two_calls_per_level(seed, n):
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, n)
    _check(products, (x,))


@SETTINGS
@given(SEEDS, st.integers(1, 6))
def test_tree_recursion_over_rows(seed, n):
    X = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 3))
    _check(energy, (X,))


@SETTINGS
@given(SEEDS, st.floats(0.1, 1.0), st.floats(-1.0, 1.0))
def test_recursive_step_halving(seed, h, k):
    y = np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    _check(halving, (y, h, k, 3))


@SETTINGS
@given(SEEDS, st.integers(1, 8), st.floats(-1.2, 1.2))
def test_horner_one_level_per_coefficient(seed, n, x):
    c = np.random.default_rng(seed).uniform(-1.0, 1.0, n)
    _check(polynomial, (c, x))


@SETTINGS
@given(st.floats(-1.5, 1.5), st.integers(1, 4))
def test_a_loop_recording_a_value_twice_per_step(x, n):
    _check(reassigned, (x, n))


@SETTINGS
@given(st.floats(-1.5, 1.5))
def test_a_list_whose_element_kind_changes_down_the_recursion(x):
    _check(scale_by_counts, (x, 4))


@SETTINGS
@given(SEEDS)
def test_an_array_whose_rank_changes_down_the_recursion(seed):
    X = np.random.default_rng(seed).uniform(-1.0, 1.0, (3, 4))
    _check(collapse, (X,))


# -- one compilation per kinds, no lookup per level ----------------------------------------------


def _counting_lookups(monkeypatch):
    """Count the run-time lookups of derivatives (calls of the registered compiler entry point)."""
    counted = []
    lookup = runtime.calls._COMPILER["derivative"]

    def counting(function, mode, args, wrt):
        counted.append((function.__name__, mode))
        return lookup(function, mode, args, wrt)

    monkeypatch.setitem(runtime.calls._COMPILER, "derivative", counting)
    return counted


@pytest.mark.parametrize("n", [4, 5, 6])
def test_the_recursion_looks_its_derivative_up_once_per_outer_call(monkeypatch, n):
    M = np.random.default_rng(n).standard_normal((n, n))
    grad = s2sad.grad(det_by_minors)
    grad(M)  # compiled
    counted = _counting_lookups(monkeypatch)
    grad(M)
    # the first level is inlined into det_by_minors' derivative: its n calls look the derivative up,
    # the (n! / 1! + ... ) calls below call it directly
    assert counted == [("minor_det", "recursive")] * n
    counted.clear()
    s2sad.jvp(det_by_minors, (M,), (M,))
    assert counted == [("minor_det", "forward")] * n


def test_a_recursion_compiles_once_for_every_size():
    for n in (3, 4, 5, 6):
        M = np.random.default_rng(n).standard_normal((n, n))
        s2sad.grad(det_by_minors)(M)
        s2sad.jvp(det_by_minors, (M,), (M,))
    compiled = [k for k in cache.CALL_DERIVATIVES if k[0] == "kinds" and k[1] is minor_det]
    assert sorted((k[4], k[6]) for k in compiled) == [
        ("forward", (K.refined_array(2, K.FLOAT), K.refined_list(K.INT), K.refined_list(K.INT))),
        ("recursive", (K.refined_array(2, K.FLOAT), K.refined_list(K.INT), K.refined_list(K.INT))),
    ]


def test_a_rank_change_compiles_for_each_rank():
    s2sad.grad(collapse)(np.ones((2, 3)))
    ranks = {k[6][0] for k in cache.CALL_DERIVATIVES if k[0] == "kinds" and k[1] is collapse}
    assert ranks == {K.refined_array(1, K.FLOAT)}  # the first level is inlined into collapse's own derivative


@pytest.mark.generated_code
def test_the_recursive_code_calls_itself_without_tests_or_broadcasting_helpers():
    M = np.ones((4, 4))
    text = s2sad.source(minor_det, mode="recursive", args=(M, [0, 1], [0, 1]))
    assert "specialized for M: float array of rank 2, rows: list of int, cols: list of int" in text
    assert "minor_det_forward(M, rows[1:], " in text
    assert "sweep_call" not in text and "__class__" not in text  # proven: no run-time test, no lookup
    assert "unbroadcast" not in text and "_rt.like" not in text and "add_at" not in text  # scalar code
    # the loop's records: one tuple per step in one list
    assert "_tape1[j] = (" in text and "in reversed(_tape1):" in text and "zip(" not in text


@pytest.mark.generated_code
def test_arguments_not_proven_are_tested_at_run_time():
    text = s2sad.source(halving, mode="recursive", args=(np.ones(3), 0.5, 1.0, 2))
    assert '_rt.array_of(y_half, 1, "fiub")' in text  # a new array per level: its rank is tested
    assert "halving_forward(y, " in text  # the parameter passed on as received: no test
    assert "FLOAT_CLASSES" not in text and "INT_CLASSES" not in text  # `h / 2`, `depth - 1`: known numbers


@pytest.mark.generated_code
def test_numbers_passed_down_need_no_test_and_give_scalar_code():
    text = s2sad.source(horner, mode="recursive", argnums=(0, 1), args=(np.ones(4), 0.5, 0))
    assert "_horner_call1 = horner_forward(c, x, k + 1)" in text
    assert "unbroadcast" not in text and "_rt.like" not in text and "_stack" not in text


# -- the analysis of refined kinds ---------------------------------------------------------------


def test_refined_parameter_kinds_give_element_kinds():
    import ast

    tree = normalize(
        ast.parse(
            "def f(A, rows, v):\n"
            "    a = A[rows[0], rows[1]]\n"
            "    r = A[rows[0]]\n"
            "    s = A[:, rows[0]]\n"
            "    b = v[rows[-1]]\n"
            "    sub = rows[1:] + [2]\n"
            "    c = A[sub[0], 0] * a\n"
            "    return np.sum(r) + np.sum(s) + b + c\n"
        ).body[0]
    )
    kinds = {"A": K.refined_array(2, K.FLOAT), "rows": K.refined_list(K.INT), "v": K.refined_array(1, K.INT)}
    info = analyze(tree, {"np": np}, kinds, {"A"})
    names = {ast.unparse(s.value): s.targets[0].id for s in tree.body if isinstance(s, ast.Assign)}
    assert info.kinds["a"] == K.FLOAT and info.kinds["c"] == K.FLOAT
    assert info.kinds[names["A[_t3]"]] == K.ARRAY and info.kinds[names["A[:, _t4]"]] == K.ARRAY
    assert info.kinds["b"] == K.INT
    assert info.kinds["sub"] == K.LIST and info.elements["sub"] == K.INT
    assert info.kinds["rows"] == K.LIST and info.kinds["A"] == K.ARRAY  # the plain kinds, for the transforms


def test_a_rebound_array_parameter_loses_its_rank():
    import ast

    tree = normalize(ast.parse("def f(A, i):\n    A = A[0]\n    return A[i]\n").body[0])
    info = analyze(tree, {"np": np}, {"A": K.refined_array(2, K.FLOAT), "i": K.INT}, {"A"})
    assert info.kinds["_t1"] != K.FLOAT  # `A[i]` may be a row: A is not the parameter any more
