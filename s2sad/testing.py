"""Check derivatives: finite differences and the dot-product test, in one call.

`check_grads(f, args)` compares forward mode (`jvp`) and reverse mode (`vjp`)
with central finite differences in float64 along random directions, and checks
<u, J v> == <J^T u, v> between the two modes. `check_rule(np.sin, 0.7)` does the
same for one derivative rule (as ChainRules' `test_rrule`), and `grad` too.

>>> import numpy as np
>>> check_rule(np.sin, 0.7)
>>> check_rule(np.sum, np.arange(6.0).reshape(2, 3), axis=0)

>>> import math
>>> import s2sad.testing
>>> s2sad.testing.check_grads(math.hypot, (3.0, 4.0))
Traceback (most recent call last):
...
s2sad.errors.SourceUnavailableError: s2sad differentiates Python functions; got builtin_function_or_method <built-in function hypot>
  hint: pass a function defined with `def` in a file; to use this callable inside differentiated code, register a rule for it with s2sad.defjvp / s2sad.defvjp
"""

import ast
import itertools
import linecache
import subprocess
import sys

import numpy as np

from . import trees as T
from .api.transforms import _bind, grad, jvp, vjp
from .modes import Mode
from .pipeline import compile_derivative
from .runtime.checkpoints import Checkpoints
from .signatures import diff_kinds, kinds_of, parse_argnums


def _as_array(x):
    return np.asarray(x, dtype=np.float64)


def _random_like(x, rng):
    if T.is_tree(x):  # dicts, lists and tuples of arrays: a random tree of the same shape
        leaves, treedef = T.flatten(x)
        return T.unflatten(treedef, [_random_like(leaf, rng) for leaf in leaves])
    if isinstance(x, np.ndarray):
        return rng.standard_normal(x.shape)
    return float(rng.standard_normal())


def _zeros_like(x):
    if T.is_tree(x):
        leaves, treedef = T.flatten(x)
        return T.unflatten(treedef, [_zeros_like(leaf) for leaf in leaves])
    return np.zeros(np.shape(x)) if isinstance(x, np.ndarray) else 0.0


def _axpy(a, v, x):
    if T.is_tree(x):
        leaves, treedef = T.flatten(x)
        return T.unflatten(treedef, [_axpy(a, d, leaf) for d, leaf in zip(T.flatten(v)[0], leaves)])
    return x + a * v


def _vdot(a, b):
    if T.is_tree(a) or T.is_tree(b):
        return sum(_vdot(x, y) for x, y in zip(T.flatten(a)[0], T.flatten(b)[0]))
    return float(np.sum(_as_array(a) * _as_array(b)))


def _differentiable(a):
    if T.is_tree(a):
        leaves = T.flatten(a)[0]
        return bool(leaves) and all(_differentiable(leaf) for leaf in leaves)
    return isinstance(a, (float, np.floating, np.ndarray))


def numerical_jvp(f, args, tangents, step=1e-6, wrt=None):
    """Central finite difference of `f` at `args` along `tangents` (float64)."""
    wrt = range(len(args)) if wrt is None else wrt
    plus = list(args)
    minus = list(args)
    for i in wrt:
        plus[i] = _axpy(step, tangents[i], args[i])
        minus[i] = _axpy(-step, tangents[i], args[i])
    return (_as_array(f(*plus)) - _as_array(f(*minus))) / (2 * step)


def check_grads(f, args, wrt=None, rtol=1e-6, atol=1e-7, seed=0, step=1e-6, directions=2, backend="python"):
    """Assert forward and reverse derivatives of `f` at `args` match finite differences.

    `wrt` lists the positions of the float/array arguments to perturb (default:
    all float and array arguments, and dicts / lists / tuples of them). `backend` is the code
    target checked ("python" or "numba"). Raises AssertionError with the figures.
    """
    rng = np.random.default_rng(seed)
    args = tuple(args)
    if wrt is None:
        wrt = [i for i, a in enumerate(args) if _differentiable(a)]
    for _ in range(directions):
        tangents = [_random_like(a, rng) if i in wrt else _zeros_like(a) for i, a in enumerate(args)]
        out, out_dot = jvp(f, args, tangents, backend=backend)
        expected = numerical_jvp(f, args, tangents, step, wrt)
        scale = max(1.0, float(np.max(np.abs(expected))) if np.size(expected) else 1.0)
        err = float(np.max(np.abs(_as_array(out_dot) - expected))) if np.size(expected) else 0.0
        assert err <= atol + 10 * rtol * scale, (
            f"forward mode differs from finite differences by {err:.3e} (scale {scale:.3e})\n"
            f"jvp: {out_dot!r}\nfd:  {expected!r}"
        )
        value, pullback = vjp(f, *args, backend=backend)
        u = (
            _random_like(np.asarray(value, dtype=float), rng)
            if np.ndim(value)
            else float(rng.standard_normal())
        )
        if isinstance(value, list):  # a list output (items of one shape): cotangent and tangent as arrays
            out_dot = np.asarray(out_dot, dtype=float)
        elif not isinstance(value, np.ndarray):
            u = float(np.asarray(u))
        cotangents = pullback(u)
        lhs = _vdot(u, out_dot)
        rhs = sum(_vdot(cotangents[i], tangents[i]) for i in wrt)
        assert abs(lhs - rhs) <= atol + rtol * 10 * max(
            1.0, abs(lhs), abs(rhs)
        ), f"dot-product test failed: <u, J v> = {lhs!r} but <J^T u, v> = {rhs!r}"
        fd_lhs = _vdot(u, expected)
        assert abs(fd_lhs - rhs) <= atol + rtol * 10 * scale * max(
            1.0, float(np.sum(np.abs(u)))
        ), f"reverse mode differs from finite differences: <J^T u, v> = {rhs!r}, FD gives {fd_lhs!r}"


_PROBES = itertools.count(1)


def check_rule(callee, *args, wrt=None, rtol=1e-6, atol=1e-7, seed=0, **keywords):
    """Assert the derivative rule of `callee` (a NumPy or math function, or one registered with
    `s2sad.defjvp` / `defvjp`) is right at `args`: `check_grads` of a function that calls it (jvp,
    vjp, finite differences, the dot-product test), and `grad` equal to the pullback of 1.0 when
    the output is a scalar. `keywords` are passed to the callee as constants."""
    number = next(_PROBES)
    params = [f"x{i}" for i in range(len(args))]
    constants, written = {}, []
    for key, value in keywords.items():
        try:
            literal = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError, TypeError):
            literal = False
        if not literal:
            constants[f"_{key}_value"] = value
        written.append(f"{key}={repr(value) if literal else f'_{key}_value'}")
    name = f"rule_probe{number}"
    source = f"def {name}({', '.join(params)}):\n    return callee({', '.join(params + written)})\n"
    filename = f"<s2sad check_rule {getattr(callee, '__name__', 'callee')} #{number}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"callee": callee, "np": np, **constants}
    exec(compile(source, filename, "exec"), namespace)
    probe = namespace[name]
    check_grads(probe, args, wrt=wrt, rtol=rtol, atol=atol, seed=seed)
    value, pullback = vjp(probe, *args)
    if np.ndim(value) == 0 and not isinstance(value, (list, tuple)):
        nums = tuple(i for i, a in enumerate(args) if _differentiable(a)) if wrt is None else tuple(wrt)
        gradients = grad(probe, argnums=nums)(*args)
        cotangents = pullback(1.0)
        for i, g in zip(nums, gradients):
            assert np.allclose(
                g, cotangents[i], rtol=rtol, atol=atol
            ), f"grad and vjp disagree for argument {i}: {g!r} vs {cotangents[i]!r}"


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if value is None:
        return 0
    if isinstance(value, Checkpoints):  # a checkpointed loop's schedule: the snapshots it holds
        return _nbytes(list(value.saved.values()))
    return 8  # a float, int or bool: one machine word of payload


def recorded_bytes(f, args, argnums=0):
    """Bytes the forward sweep keeps for the backward sweep (stack, loop tapes, residuals).

    Payload bytes (8 per scalar, `nbytes` per array), not Python object overhead:

    >>> import numpy as np
    >>> from s2sad.testing import recorded_bytes
    >>> recorded_bytes(np.sin, (1.0,))
    Traceback (most recent call last):
    ...
    s2sad.errors.SourceUnavailableError: s2sad differentiates Python functions; got ufunc <ufunc 'sin'>
      hint: pass a function defined with `def` in a file; to use this callable inside differentiated code, register a rule for it with s2sad.defjvp / s2sad.defvjp
    """
    args = _bind(f, tuple(args), {})
    _, nums = parse_argnums(argnums, len(args), getattr(f, "__name__", "f"))
    compiled = compile_derivative(f, Mode.SPLIT, nums, diff_kinds(kinds_of(args, nums), nums))
    _, residuals = compiled.extra["objects"]["forward"](*args)
    return _nbytes(residuals)


# runs first in `run_without_s2sad`'s process: an import finder that refuses s2sad (and the editable
# install's finder behind it), so the code run can only use what it carries itself
WITHOUT_S2SAD = """
import importlib.abc, sys
class _RefuseS2sad(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "s2sad" or name.startswith("s2sad."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused: the code must stand alone)", name=name)
        return None
sys.meta_path.insert(0, _RefuseS2sad())
sys.path.insert(0, ".")
"""


def run_without_s2sad(code, cwd, timeout=120):
    """Run the Python `code` in a fresh process in folder `cwd` where `import s2sad` fails (an emitted
    file must stand alone); returns its stdout, raises AssertionError with its stderr if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_S2SAD + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"the code failed without s2sad:\n{done.stderr}"
    return done.stdout
