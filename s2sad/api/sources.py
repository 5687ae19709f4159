"""`source` and `emit`: the derivative of a function as text, shown (black-formatted) or written as a
standalone module (docs/cli.md)."""

import importlib.metadata
import inspect
import numbers

import numpy as np

from .. import config
from .. import kinds as K
from ..codegen.standalone import standalone_module
from ..errors import ArgumentError, S2sadError
from ..frontend.nested import OUTER_ONLY_APIS
from ..modes import ALIASES as MODE_ALIASES, Mode
from ..pipeline import TEMPLATE_GLOBALS, generate, render
from ..signatures import call_kinds as _call_kinds, diff_kinds as _diff_kinds, kinds_of as _kinds
from ..signatures import parse_argnums as _argnums
from .boundary import guarded
from .callables import needs_adapting, reach
from .transforms import _bind, _input_shapes, _numba_backend


def _source_kinds(f, args, nums, refined=False):
    params = list(inspect.signature(f).parameters.values())
    if args is not None:  # (`refined`: as a call that is not inlined compiles it, see call_derivative)
        return (_call_kinds if refined else _kinds)(_bind(f, tuple(args), {}), nums)
    out = []
    for p in params:
        ann = p.annotation
        if ann in (float, "float"):
            out.append(K.FLOAT)
        elif ann in (int, "int"):
            out.append(K.INT)
        elif ann is np.ndarray or ann in ("np.ndarray", "numpy.ndarray"):
            out.append(K.ARRAY)
        else:
            out.append(K.ANY)
    return tuple(out)


@guarded
def source(f, mode="reverse", argnums=0, args=None, has_aux=False):
    """Black-formatted derivative source of `f`.

    Modes: "forward" (`f_jvp`, one tangent direction), "forward_vector" or
    "jacfwd" (`f_jvp_vector`, all directions at once on a leading axis of
    every tangent, what `jacfwd` runs), "reverse", "grad", and "jacrev" (the
    split `f_forward` / `f_backward` pair that `vjp` and `jacrev` run).

    `args` (example arguments) or type annotations specialize it to floats or
    arrays; without either it is generic. Reverse-mode code for example `args`
    is also specialized to their arrays' shapes, as `grad` runs it (the
    header lists them; `emit` writes code for any shapes). "reverse" shows the joint
    `f_vjp` (value and gradient, cotangent 1.0 by default: what `value_and_grad` runs);
    "jacrev" (or "split") the `f_forward` / `f_backward` pair used by `vjp`; "grad" the
    `f_grad` that `grad` runs, which skips computing the value when the adjoints do not
    need it (for an output not known to be a float, `grad` runs the joint `f_vjp`);
    "recursive" the pair a call s2sad does not inline (recursion) runs, compiled for
    the argument kinds alone (arrays' ranks, the kinds of lists' elements): `f_forward` returns (value, residuals, f_backward), and
    `f_backward` adds to the adjoints it is given.

    A bound method or a partial needs `args`: its source is that of the function the
    transforms compile for such a call (see `s2sad.api.callables`).
    """
    if needs_adapting(f) and args is not None:
        f, args, first = reach(f, tuple(args), {})
        if argnums is not None:
            argnums = (
                argnums + first
                if isinstance(argnums, numbers.Integral)
                else tuple(n + first for n in argnums)
            )
    return _source(f, mode, argnums, args, has_aux, shapes=True)


def _source(f, mode, argnums, args, has_aux, shapes, standalone=False):
    count = len(inspect.signature(f).parameters)
    if not isinstance(mode, str):  # `source(f, x, y)`: example arguments given where the mode goes
        raise ArgumentError(
            f"mode must be a string such as 'reverse' or 'forward', not a {type(mode).__name__}; "
            "give example arguments as `args=(...)`, as in `s2sad.source(f, args=(x, y))`"
        )
    mode = MODE_ALIASES.get(mode, mode)
    if mode not in tuple(Mode):
        raise ArgumentError(
            f"mode must be 'forward', 'forward_vector' (or 'jacfwd'), 'reverse', 'grad' or 'jacrev', not {mode!r}"
        )
    mode = Mode(mode)
    if not mode.reverse and argnums is None:
        nums = tuple(range(count))
    else:
        _, nums = _argnums(argnums, count, getattr(f, "__name__", "f"))
    kinds = _diff_kinds(_source_kinds(f, args, nums, refined=mode is Mode.RECURSIVE), nums)
    input_shapes = None
    if shapes and args is not None and mode.reverse and mode is not Mode.RECURSIVE and config.enabled():
        # (a recursion's derivative is compiled for kinds alone: its levels have other shapes)
        input_shapes = _input_shapes(_bind(f, tuple(args), {}), kinds)
    compilation = generate(f, mode, nums, kinds, has_aux, input_shapes)
    functions = compilation.functions
    if mode is Mode.REVERSE:
        functions = {"vjp": functions["vjp"]}  # the joint form reads best; vjp uses the split pair
    elif mode in (Mode.SPLIT, Mode.RECURSIVE):
        functions = {"forward": functions["forward"], "backward": functions["backward"]}
    if not standalone:
        return render(compilation, functions, pretty=True)
    text = render(compilation, functions)
    namespace = dict(TEMPLATE_GLOBALS)
    namespace.update(compilation.parsed.namespace)
    home = getattr(f, "__module__", None)
    try:
        sources = {origin[0] for origin in compilation.parsed.origins.values()}
        return standalone_module(
            text, namespace, home, _version(), getattr(f, "__globals__", namespace), sources
        )
    except S2sadError as error:
        if error.filename is None:  # the error is the user's function's: name its file and line
            parsed = compilation.parsed
            raise type(error)(
                error.message, parsed.filename, parsed.first_line, parsed.line(parsed.first_line), error.hint
            ) from None
        raise


def _version():
    try:
        return importlib.metadata.version("s2sad")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def emit(f, path, mode="reverse", argnums=0, args=None, backend="python"):
    """Write the derivative source of `f` to `path` as a standalone module (for any shapes): it imports
    NumPy, the names it reads from `f`'s module by name, and carries copies of the s2sad run-time
    helpers it calls, so it runs where s2sad is not installed (docs/cli.md).
    With `backend="numba"`, the numba-target module for example `args` (see `s2sad.api.numba_backend`)."""
    numba_backend = _numba_backend(backend)
    if numba_backend is not None:
        text = numba_backend.emitted(f, mode, argnums, args)
    else:
        text = _source(f, mode, argnums, args, False, shapes=False, standalone=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


OUTER_ONLY_APIS.update(source=source, emit=emit)
