"""Render the rule table as Markdown: `python -m s2sad.rules.docs > docs/numpy.md`.

Every registered rule gets one row: its name, whether it has a tangent and an
adjoint template, whether it is elementwise (the transforms broadcast it), or
that it is not differentiable.

>>> print(row(lookup(math.sin)))
| `math.sin` | yes | yes | yes |  |
>>> print(row(lookup(len)))
| `len` | - | - | - | not differentiable |
"""

import ast
import math  # noqa: F401  (doctest)

from .. import runtime
from . import RULES, display_name, lookup  # noqa: F401
from .definitions import DEFINITIONS, definition

HEADER = """# NumPy and Python functions s2sad differentiates

Generated from the rule table by `python -m s2sad.rules.docs > docs/numpy.md`;
do not edit by hand. Each rule is a tangent (forward-mode) and an adjoint
(reverse-mode) template; `tests/test_numpy_rules.py` walks the same table and
checks every differentiable rule against finite differences in both modes.

Conventions:

- **elementwise** rules broadcast: the compiler reduces their adjoints back to
  each operand's shape (`_rt.unbroadcast`) and broadcasts their tangents.
- `np.max` / `np.min` / `np.amax` / `np.amin` / `x.max()` / `x.min()` and
  `np.linalg.norm(x, np.inf)`: **ties split the derivative equally** among the
  tied entries (the gradient of `np.max([1, 3, 3])` is `[0, 0.5, 0.5]`).
  Elementwise `np.maximum` / `np.minimum` / `max` / `min` give a tie to the first argument.
- `np.clip`: an entry equal to a bound counts as inside; its derivative goes to `a`.
- `np.prod` and `np.cumprod` are exact when entries are zero (no division).
- `np.linalg.cholesky` and `np.linalg.eigh` read one triangle of their input (the lower one,
  or the upper one for `eigh(a, "U")`) and are differentiated w.r.t. that triangle, as finite
  differences see them; `eigh` needs distinct eigenvalues.
- `np.linalg.norm`: vector orders None/2, 1, inf, -inf, 0 and p (any order); matrix orders None and
  'fro' (any order), 'nuc', 2 and -2 (first order, through the SVD; 2 and -2 need the largest / smallest
  singular value to be simple); other matrix orders are refused.
- `np.linalg.svd`: `full_matrices=False` (or a square matrix), or `compute_uv=False`; distinct nonzero
  singular values are assumed (as in JAX): where two are equal (or one is 0 of a non-square matrix) U and V
  are not differentiable and the derivatives come out inf or nan, never a finite guess. The signs s2sad
  differentiates are those LAPACK returns (continuous under small changes).
  `full_matrices=True` of a non-square matrix and `hermitian=True` are refused.
- `np.linalg.qr`: the reduced decomposition (mode 'reduced', or 'r' for R alone; 'complete' of a square
  matrix) of a matrix of full rank with at least as many rows as columns, with the signs LAPACK returns;
  a wide matrix is refused.
- `np.linalg.pinv`: differentiated where the rank of the input is locally constant (the formula of Golub
  and Pereyra, exact for rank-deficient inputs of constant rank such as `pinv(x.T @ x)`); at a change of
  rank pinv jumps and has no derivative.
- `np.linalg.eig`: matrices whose eigenvalues are real and distinct (eigenvectors of unit length, as
  NumPy returns them, with LAPACK's signs); a complex spectrum is refused when the derivative runs
  (s2sad differentiates real numbers; for symmetric matrices use `np.linalg.eigh`).
- `np.einsum`: subscripts written as a string (implicit output, `...` and letters repeated
  within an operand included), one to three operands, `optimize=` accepted. In code specialized
  to its arguments' shapes, a two-operand contraction that is a (batched) matrix product, in the
  primal and in the adjoints of `einsum`, `tensordot`, `dot` and `inner`, is written as one `@`
  between transposed views (BLAS; `"kij,nkj->nki"` runs 5-15x faster than einsum's own loop), and
  three operands get their contraction order chosen when compiling; code for other shapes makes
  the same plan when it runs, for large operands (`_rt.einsum_pair`); the sublist form `np.einsum(x, [0, 1], y, [1, 2], [0, 2])`
  when its sublists are known when compiling (written in the call, tuples, or module-level lists):
  it is rewritten to the string form. Sublists computed at run time are refused at the user's line.
- `np.pad`: constant mode; the padding value is treated as a constant.
- Integer indexing, slices, `None`, `...`, integer arrays (repeats accumulate) and
  boolean masks are all handled by `operator.getitem` (`x[...]`).
- Functions not listed here raise `s2sad.NoDerivativeRuleError` naming the call and the
  line; register a rule with `s2sad.rules.tangent` / `s2sad.rules.adjoint`, or list it
  with `s2sad.rules.nondifferentiable`.

The **order 2** column says whether the rule's derivative code can be differentiated again
(every run-time helper it calls has rules of its own, or a definition, below); `hessian`, `jvp` of `grad`, `grad` of
`grad` need it. The whole helper table is checked to second order by `tests/test_numpy_rules.py`.

| function | tangent | adjoint | order 2 | notes |
|---|---|---|---|---|
"""


AUTOGRAD = "\n## HIPS autograd's own tests, run against s2sad\n\nautograd's `tests/test_scalar_ops.py`, `test_numpy.py`, `test_linalg.py` and `test_systematic.py`\n(352 tests), run through a shim of our own kept outside this repository (plain `numpy` for\n`autograd.numpy`, and `np.linalg._dot` / `np.linalg.T`, two helpers of autograd's linalg module, as\n`np.matmul` / `np.swapaxes(x, -1, -2)`; `check_grads` redone with `s2sad.jvp`, `s2sad.vjp` and\n`s2sad.grad` and autograd's central differences, to the order each test asks: 2 by default, 3 for\ndot, outer, tensordot): **325 of the 326 applicable tests pass** (before issue 20: 156;\nbefore its second round: 277). Not applicable: 23 tests whose every case is complex (s2sad\ndifferentiates real numbers; complex cases of the other tests are skipped) and 3 that use\nautograd-only API (`make_diagonal`, attributes of its boxes).\n\nWhat still fails, and why (an s2sad error naming the call, never a wrong number):\n\n- test_eig_real: `np.linalg.eig` of a random real 8x8 matrix, whose eigenvalues are complex: refused when the derivative runs (s2sad differentiates real numbers; eig of a real spectrum is differentiated)\n"  # the autograd check (issue 20), measured outside the repository


def helpers_called(rule):
    """The run-time helpers (`_rt.<name>`) the rule's templates call."""
    names = set()
    templates = [rule.tangent, rule.adjoint, rule.batched_tangent] + list(
        rule.extra.get("constant_adjoints", {}).values()
    )
    for template in filter(None, templates):
        for stmt in template.body:
            for node in ast.walk(stmt):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "_rt"
                ):
                    names.add(node.attr)
    return names


def second_order(rule):
    """'yes' when every run-time helper the rule's derivative code calls has rules of its own (its
    derivatives can be differentiated again), else the helpers that do not."""
    missing = sorted(
        n
        for n in helpers_called(rule)
        if lookup(getattr(runtime, n, None)) is None and definition(getattr(runtime, n, None)) is None
    )
    return "yes" if not missing else "no: " + ", ".join(f"`_rt.{n}`" for n in missing)


def row(rule):
    """One Markdown table row for `rule`."""
    if not rule.differentiable:
        return f"| `{rule.name}` | - | - | - | not differentiable |"
    tangent = "yes" if rule.tangent is not None else "-"
    adjoint = "yes" if rule.adjoint is not None else "-"
    notes = "elementwise" if rule.elementwise else ""
    return f"| `{rule.name}` | {tangent} | {adjoint} | {second_order(rule)} | {notes} |"


DEFINITIONS_HEADER = """
## NumPy functions s2sad inlines as definitions

These are written in `s2sad/rules/definitions.py` with operations that have rules, and inlined in
place of the NumPy function: their derivatives, of any order and in both modes, come from those
rules (`tests/test_numpy_rules.py` checks each to second order).

"""


HELPER_DEFINITIONS = """
Run-time helpers of derivative code written the same way: derivative code calls the helper, and
differentiating that code again (`hessian`, `grad(grad(f))`) inlines its definition:

"""


def render_definitions():
    names = sorted({display_name(fn) for fn in DEFINITIONS if not fn.__name__.startswith("_")})
    numpy_names = [n for n in names if not n.startswith("s2sad.")]
    helpers = [n for n in names if n.startswith("s2sad.")]
    return (
        DEFINITIONS_HEADER
        + ", ".join(f"`{n}`" for n in numpy_names)
        + "\n"
        + HELPER_DEFINITIONS
        + ", ".join(f"`{n}`" for n in helpers)
        + "\n"
    )


def render(rules=None):
    """The whole page: header, then rules sorted by name."""
    rules = RULES if rules is None else rules
    ordered = sorted(rules.values(), key=lambda r: (not r.differentiable, r.name))
    differentiable = sum(r.differentiable for r in ordered)
    summary = (
        f"\n{len(ordered)} rules: {differentiable} differentiable, {len(ordered) - differentiable} not.\n"
    )
    return HEADER + "\n".join(row(r) for r in ordered) + "\n" + summary + render_definitions() + AUTOGRAD


if __name__ == "__main__":
    print(render(), end="")
