"""Render the rule table as Markdown: `python -m s2sad.rules.docs > docs/numpy.md`.

Every registered rule gets one row: its name, whether it has a tangent and an
adjoint template, whether it is elementwise (the transforms broadcast it), or
that it is not differentiable.

>>> print(row(lookup(math.sin)))
| `math.sin` | yes | yes |  |
>>> print(row(lookup(len)))
| `len` | - | - | not differentiable |
"""

import math  # noqa: F401  (doctest)

from . import RULES, lookup  # noqa: F401

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
- `np.linalg.cholesky` and `np.linalg.eigh` assume a symmetric input: tangents must
  be symmetric and adjoints are returned symmetrized; `eigh` needs distinct eigenvalues.
- `np.linalg.norm`: vector orders None/2, 1, inf, -inf, 0 and p; matrix orders None and 'fro'.
- `np.einsum`: explicit subscripts with `->`, one to three operands, no `...` and no
  index repeated within one operand (use `np.trace` for traces).
- `np.pad`: constant mode; the padding value is treated as a constant.
- Integer indexing, slices, `None`, `...`, integer arrays (repeats accumulate) and
  boolean masks are all handled by `operator.getitem` (`x[...]`).
- Functions not listed here raise `s2sad.NoDerivativeRuleError` naming the call and the
  line; register a rule with `s2sad.rules.tangent` / `s2sad.rules.adjoint`, or list it
  with `s2sad.rules.nondifferentiable`.

| function | tangent | adjoint | notes |
|---|---|---|---|
"""


def row(rule):
    """One Markdown table row for `rule`."""
    if not rule.differentiable:
        return f"| `{rule.name}` | - | - | not differentiable |"
    tangent = "yes" if rule.tangent is not None else "-"
    adjoint = "yes" if rule.adjoint is not None else "-"
    notes = "elementwise" if rule.elementwise else ""
    return f"| `{rule.name}` | {tangent} | {adjoint} | {notes} |"


def render(rules=None):
    """The whole page: header, then rules sorted by name."""
    rules = RULES if rules is None else rules
    ordered = sorted(rules.values(), key=lambda r: (not r.differentiable, r.name))
    differentiable = sum(r.differentiable for r in ordered)
    summary = (
        f"\n{len(ordered)} rules: {differentiable} differentiable, {len(ordered) - differentiable} not.\n"
    )
    return HEADER + "\n".join(row(r) for r in ordered) + "\n" + summary


if __name__ == "__main__":
    print(render(), end="")
