"""The derivative modes: which functions a compilation writes, and which public transform runs them.

>>> Mode("split"), Mode.GRAD.reverse, Mode.GRAD.family, Mode.FORWARD_VECTOR.reverse
(<Mode.SPLIT: 'split'>, True, 'reverse', False)
>>> f"{Mode.REVERSE}-mode"
'reverse-mode'
"""

from enum import StrEnum


class Mode(StrEnum):
    """A derivative mode; its value is the word `s2sad.source(f, mode=...)` takes."""

    FORWARD = "forward"  # f_jvp(*args, *arg_dots) -> (out, out_dot): `jvp`
    FORWARD_VECTOR = "forward_vector"  # f_jvp_vector: every direction at once: `jacfwd`
    GRAD = "grad"  # f_grad: the gradient without the value when it is a float: `grad`
    REVERSE = "reverse"  # f_vjp: value and gradient in one call: `value_and_grad`
    SPLIT = "split"  # f_forward / f_backward, the pullback called many times: `vjp`, `jacrev`
    # f_forward -> (value, residuals, f_backward); f_backward(residuals, out_bar, *adjoints) adds to
    # the adjoints it is given and returns them: a call s2sad does not inline (transforms/reverse_calls)
    RECURSIVE = "recursive"

    @property
    def reverse(self):
        """Does this mode run a backward sweep?"""
        return self in (Mode.GRAD, Mode.REVERSE, Mode.SPLIT, Mode.RECURSIVE)

    @property
    def family(self):
        """'forward', 'forward_vector' or 'reverse' (the word the header of generated code uses)."""
        return "reverse" if self in (Mode.GRAD, Mode.SPLIT, Mode.RECURSIVE) else self.value


# what `s2sad.source` also accepts: the public transform's name for the code it runs
ALIASES = {"jacfwd": Mode.FORWARD_VECTOR, "jacrev": Mode.SPLIT}
