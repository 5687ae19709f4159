"""Contractions as matrix products: the plan of a two-operand einsum (s2sad/runtime/contractions.py)
checked against `np.einsum` on random subscripts; the derivative code of programs written with
`einsum`, `tensordot`, `dot` and `inner` (s2sad/peepholes/contractions.py) shown on generated code
and checked against central finite differences in both modes and by the dot-product test, in code
specialized to shapes and in the generic code that runs other shapes."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.api.transforms import SPECIALIZED_SHAPES
from s2sad.runtime import contractions as contraction_plans
from s2sad.runtime.contractions import PLANNED_SIZE, contract_pair, pair_plan, run_pair, written_in_order
from s2sad.testing import check_grads

LETTERS = "abcdef"


@st.composite
def contractions(draw):
    """Two terms of distinct letters each, an output of letters they carry, sizes per letter."""
    sizes = {ch: draw(st.integers(1, 4)) for ch in LETTERS}
    a = draw(st.permutations(LETTERS).map(lambda p: "".join(p[: draw(st.integers(1, 4))])))
    b = draw(st.permutations(LETTERS).map(lambda p: "".join(p[: draw(st.integers(1, 4))])))
    carried = sorted(set(a) | set(b))
    output = "".join(draw(st.permutations(carried))[: draw(st.integers(0, len(carried)))])
    return a, b, output, sizes


@settings(max_examples=150, deadline=None)
@given(case=contractions(), seed=st.integers(0, 2**16))
def test_a_plan_computes_the_einsum(case, seed):
    a_terms, b_terms, output, sizes = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal([sizes[ch] for ch in a_terms])
    b = rng.standard_normal([sizes[ch] for ch in b_terms])
    expected = np.einsum(f"{a_terms},{b_terms}->{output}", a, b)
    plan = pair_plan([a_terms, b_terms], output, a.shape, b.shape)
    shared = set(a_terms) & set(b_terms)
    if shared - set(output) and set(output) - shared:  # summed letters and free ones: a matrix product
        assert plan is not None
    if plan is not None:
        np.testing.assert_allclose(run_pair(plan, a, b), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        contract_pair([a_terms, b_terms], output, a, b), expected, rtol=1e-12, atol=1e-12
    )


@settings(max_examples=150, deadline=None)
@given(case=contractions(), seed=st.integers(0, 2**16))
def test_a_transposed_product_written_in_the_outputs_order_computes_the_einsum(case, seed):
    """Every plan whose product is transposed, its output C-ordered (the size threshold at 0)."""
    a_terms, b_terms, output, sizes = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal([sizes[ch] for ch in a_terms])
    b = rng.standard_normal([sizes[ch] for ch in b_terms])
    plan = pair_plan([a_terms, b_terms], output, a.shape, b.shape)
    with mock.patch.object(contraction_plans, "ORDERED_SIZE", 0):
        if plan is not None:
            result = run_pair(plan, a, b)
            np.testing.assert_allclose(result, np.einsum(f"{a_terms},{b_terms}->{output}", a, b), atol=1e-12)
            assert result.flags.c_contiguous or not written_in_order(plan, 0)


def test_large_transposed_products_come_out_in_c_order():
    """GMM's `"kij,nkj->nki"`: a batched product over k, transposed back to (n, k, i), is written in
    the output's order when large (an elementwise operation with a C-ordered array is then fast)."""
    rng = np.random.default_rng(1)
    L, c = rng.standard_normal((5, 6, 6)), rng.standard_normal((200, 5, 6))
    plan = pair_plan(["kij", "nkj"], "nki", L.shape, c.shape)
    assert written_in_order(plan, 200 * 5 * 6) and not written_in_order(plan, 10)
    for result in (run_pair(plan, L, c), contract_pair(["kij", "nkj"], "nki", L, c)):
        assert result.flags.c_contiguous
        np.testing.assert_allclose(result, np.einsum("kij,nkj->nki", L, c), rtol=1e-12, atol=1e-12)
    small = run_pair(plan, L, c[:2])  # below the threshold: the transposed view of the product
    assert not small.flags.c_contiguous
    np.testing.assert_allclose(small, np.einsum("kij,nkj->nki", L, c[:2]), rtol=1e-12, atol=1e-12)
    # the product's last axis is not the output's: BLAS could not write rows of it, no C order
    assert not written_in_order(pair_plan(["ij", "jk"], "ki", (300, 20), (20, 300)), 90000)


def test_no_plan_for_diagonals_broadcasting_or_products_without_a_sum():
    assert pair_plan(["ii", "ij"], "j", (3, 3), (3, 4)) is None  # a diagonal
    assert pair_plan(["ij", "jk"], "ik", (2, 1), (3, 4)) is None  # j broadcast from size 1
    assert pair_plan(["ij", "jk"], "ijk", (2, 3), (3, 4)) is None  # nothing summed
    assert pair_plan(["ij", "ij"], "i", (2, 3), (2, 3)) is None  # a batched dot: no free letter


def test_large_contractions_of_unknown_shapes_run_as_matrix_products():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 30, 20)), rng.standard_normal((30, 20, 50))
    assert a.size * b.size >= PLANNED_SIZE and pair_plan(["kij", "ijl"], "lk", a.shape, b.shape) is not None
    np.testing.assert_allclose(
        s2sad.runtime.einsum_pair("kij,ijl->lk", a, b), np.einsum("kij,ijl->lk", a, b), rtol=1e-12
    )


# -- user programs -----------------------------------------------------------------------------


def attention(Q, K, V, W):
    scores = np.einsum("htd,hsd->hts", Q, K) / np.sqrt(Q.shape[-1])
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    w = np.exp(scores)
    w = w / np.sum(w, axis=-1, keepdims=True)
    return np.sum(np.tanh(np.einsum("thd,hde->te", np.einsum("hts,hsd->thd", w, V), W)))


def mixture(L, q, mu, x):
    centered = x[:, None, :] - mu[None, :, :]
    z = np.exp(q)[None] * centered + np.einsum("kij,nkj->nki", L, centered)
    scores = -0.5 * np.sum(z * z, axis=2)
    top = np.max(scores, axis=1)
    return np.sum(top + np.log(np.sum(np.exp(scores - top[:, None]), axis=1)))


def bilinear(A, X, Y):
    T = np.einsum("kij,bj->bki", A, Y)
    return np.sum(np.einsum("bi,bki->bk", X, T) ** 2)


def three(A, B, C):
    return np.sum(np.sin(np.einsum("ij,jk,kl->il", A, B, C)))


def products(A, B, v):
    return np.sum(np.dot(A, B) ** 2) + np.sum(np.inner(A, B.T) * 0.5) + np.sum(np.tensordot(A, B, 1) @ v)


def _args(program, scale=1):
    rng = np.random.default_rng(len(program.__name__) + scale)
    R = rng.standard_normal
    s = scale
    return {
        attention: lambda: (R((2, 3 + s, 3)), R((2, 4, 3)), R((2, 4, 3)), R((2, 3, 5))),
        mixture: lambda: (0.3 * R((3, 2 + s, 2 + s)), 0.1 * R((3, 2 + s)), R((3, 2 + s)), R((4 + s, 2 + s))),
        bilinear: lambda: (R((3, 4, 2 + s)), R((6, 4)), R((6, 2 + s))),
        three: lambda: (R((3, 4)), R((4, 2 + s)), R((2 + s, 2))),
        products: lambda: (R((3, 2 + s)), R((2 + s, 3)), R(3)),
    }[program]()


PROGRAMS = [attention, mixture, bilinear, three, products]


@pytest.mark.generated_code
def test_contractions_of_known_shapes_are_written_as_matrix_products():
    text = s2sad.source(mixture, mode="reverse", argnums=(0, 1, 2), args=_args(mixture))
    assert "einsum" not in text.replace('np.einsum("kij,nkj->nki"', ""), text
    assert "L_bar = _rt.owned(" not in text and ".transpose(" in text and " @ " in text, text
    text = s2sad.source(products, mode="reverse", argnums=(0, 1), args=_args(products))
    assert "_subscripts" not in text and "bilinear_adjoint" not in text and "einsum_adjoint" not in text, text
    text = s2sad.source(three, mode="reverse", argnums=(0, 1, 2), args=_args(three))
    assert "optimize=" in text and "einsum_adjoint" not in text, text


@pytest.mark.generated_code
def test_large_transposed_contractions_are_written_in_the_outputs_order():
    """`mixture` at 300 points: its einsum and the adjoint w.r.t. `centered` are transposed
    batched products, written by `_rt.matmul_transposed` (C-ordered results); the adjoint w.r.t.
    `L` is not transposed and stays one `@`. The gradients match finite differences."""
    rng = np.random.default_rng(2)
    args = (
        0.3 * rng.standard_normal((4, 4, 4)),
        0.1 * rng.standard_normal((4, 4)),
        rng.standard_normal((4, 4)),
    )
    args += (rng.standard_normal((300, 4)),)
    text = s2sad.source(mixture, mode="reverse", argnums=(0, 1, 2), args=args)
    assert text.count("_rt.matmul_transposed(") == 2 and "L_bar = z_bar.transpose(1, 2, 0) @ " in text, text
    check_grads(mixture, args, rtol=1e-5)
    small = s2sad.source(mixture, mode="reverse", argnums=(0, 1, 2), args=_args(mixture))
    assert "matmul_transposed" not in small, small


@pytest.mark.generated_code
def test_contractions_of_unknown_shapes_make_their_plan_when_they_run():
    text = s2sad.source(mixture, mode="reverse", argnums=(0, 1, 2))
    assert '_rt.einsum_pair("kij,nkj->nki", L, centered)' in text, text


@pytest.mark.parametrize("program", PROGRAMS)
def test_gradients_match_finite_differences_in_both_modes(program):
    check_grads(program, _args(program), rtol=1e-5)


@pytest.mark.parametrize("program", PROGRAMS)
def test_generic_code_for_other_shapes_matches_the_specialized(program):
    """Past SPECIALIZED_SHAPES shapes a wrapper runs its generic version: the same gradients."""
    wrt = tuple(range(len(_args(program))))
    gradient = s2sad.grad(program, argnums=wrt)
    for scale in range(1, SPECIALIZED_SHAPES + 3):
        args = _args(program, scale)
        fresh = s2sad.grad(lambda *a: program(*a), argnums=wrt)(*args)  # its first shapes: specialized
        for mine, expected in zip(gradient(*args), fresh):
            np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-12)
    check_grads(program, _args(program, SPECIALIZED_SHAPES + 3), rtol=1e-5)
