"""The sound default of the rule table, checked mechanically.

Every entry of `s2sad.rules.RULES` is one of:

- differentiable: checked against central differences in both modes and by the dot test
  on its examples (`EXAMPLES` in tests/test_numpy_rules.py);
- listed as having no derivative: checked here. `CONSTANT_SAMPLES` maps its name to calls at
  random points; central differences w.r.t. every float input must see no change (the
  function is piecewise constant in its float inputs). Entries marked `refused` (bitwise
  operators, random draws) must instead be refused when given a differentiated value.

An entry in neither table fails `test_every_rule_is_checked`, so no rule skips the check.
"""

import importlib.util
import math
import operator

import numpy as np
import pytest

import s2sad
from s2sad import runtime as _rt
from s2sad.errors import S2sadError
from s2sad.rules import RULES
from test_numpy_rules import EXAMPLES, _function_name, _ids, example_module  # noqa: F401 (a fixture)

# -- samples of the entries listed as having no derivative ------------------------------------------
# name -> [(function of the float inputs, shapes of the float inputs: None for a Python float)]


V3, M23 = (3,), (2, 3)
CONSTANT_SAMPLES = {
    "operator.lt": [(lambda a, b: a < b, [None, None]), (lambda a, b: a < b, [V3, V3])],
    "operator.le": [(lambda a, b: a <= b, [V3, None])],
    "operator.gt": [(lambda a, b: a > b, [None, None])],
    "operator.ge": [(lambda a, b: a >= b, [V3, V3])],
    "operator.eq": [(lambda a, b: a == b, [V3, V3])],
    "operator.ne": [(lambda a, b: a != b, [None, None])],
    "operator.not_": [(lambda a: not a, [None])],
    "operator.is_": [(lambda a: a is None, [None])],
    "operator.is_not": [(lambda a: a is not None, [None])],
    "operator.contains": [(lambda a: a in [1.0, 2.0], [None])],
    "numpy.less": [(np.less, [V3, V3])],
    "numpy.less_equal": [(np.less_equal, [V3, None])],
    "numpy.greater": [(np.greater, [V3, V3])],
    "numpy.greater_equal": [(np.greater_equal, [None, V3])],
    "numpy.equal": [(np.equal, [V3, V3])],
    "numpy.not_equal": [(np.not_equal, [V3, V3])],
    "numpy.isnan": [(np.isnan, [V3])],
    "numpy.isinf": [(np.isinf, [V3])],
    "numpy.isfinite": [(np.isfinite, [V3])],
    "numpy.logical_and": [(lambda a, b: np.logical_and(a > 0, b > 0), [V3, V3]), (np.logical_and, [V3, V3])],
    "numpy.logical_or": [(np.logical_or, [V3, V3])],
    "numpy.logical_not": [(np.logical_not, [V3])],
    "numpy.logical_xor": [(np.logical_xor, [V3, V3])],
    "any": [(lambda a: any(a > 0), [V3])],
    "all": [(lambda a: all(a > 0), [V3])],
    "len": [(len, [V3])],
    "int": [(int, [None])],
    "round": [(round, [None]), (lambda a: round(a, 2), [None])],
    "operator.floordiv": [(operator.floordiv, [None, None]), (operator.floordiv, [V3, None])],
    "math.floor": [(math.floor, [None])],
    "math.ceil": [(math.ceil, [None])],
    "math.trunc": [(math.trunc, [None])],
    "numpy.argmax": [(np.argmax, [V3]), (lambda a: np.argmax(a, axis=1), [M23])],
    "numpy.argmin": [(np.argmin, [V3])],
    "numpy.ndarray.argmax": [(lambda a: a.argmax(), [V3])],
    "numpy.ndarray.argmin": [(lambda a: a.argmin(), [V3])],
    "range": [(lambda a: range(int(a * 10)), [None])],
    "print": [(lambda a: print(end=""), [None])],
    "isinstance": [(lambda a: isinstance(a, float), [None])],
    "hasattr": [(lambda a: hasattr(a, "item"), [None])],
    "callable": [(lambda a: callable(a), [None])],
    "str": [(lambda a: str(a > 0), [None])],
    "operator.invert": [(lambda a: ~(a > 0), [V3])],
    "operator.and_": [(lambda a, b: (a > 0) & (b > 0), [V3, V3])],
    "operator.or_": [(lambda a, b: (a > 0) | (b > 0), [V3, V3])],
    "operator.xor": [(lambda a, b: (a > 0) ^ (b > 0), [V3, V3])],
    "operator.lshift": [(lambda a: int(a > 0) << 2, [None])],
    "operator.rshift": [(lambda a: int(a > 0) >> 1, [None])],
    "numpy.invert": [(lambda a: np.invert(a > 0), [V3])],
    "numpy.bitwise_and": [(lambda a, b: np.bitwise_and(a > 0, b > 0), [V3, V3])],
    "numpy.bitwise_or": [(lambda a, b: np.bitwise_or(a > 0, b > 0), [V3, V3])],
    "numpy.bitwise_xor": [(lambda a, b: np.bitwise_xor(a > 0, b > 0), [V3, V3])],
    "numpy.left_shift": [(lambda a: np.left_shift((a > 0).astype(int), 1), [V3])],
    "numpy.right_shift": [(lambda a: np.right_shift((a > 0).astype(int), 1), [V3])],
    "numpy.sign": [(np.sign, [V3])],
    "numpy.floor": [(np.floor, [V3])],
    "numpy.ceil": [(np.ceil, [V3])],
    "numpy.round": [(np.round, [V3]), (lambda a: np.round(a, 1), [V3])],
    "numpy.around": [(np.around, [V3])],
    "numpy.rint": [(np.rint, [V3])],
    "numpy.trunc": [(np.trunc, [V3])],
    "numpy.fix": [(np.fix, [V3])],
    "numpy.floor_divide": [(np.floor_divide, [V3, None]), (np.floor_divide, [V3, V3])],
    "numpy.heaviside": [(np.heaviside, [V3, None])],
    "numpy.signbit": [(np.signbit, [V3])],
    "numpy.zeros": [(lambda a: np.zeros(3) + 0 * int(a), [None])],
    "numpy.ones": [(lambda a: np.ones((2, 2)), [None])],
    "numpy.zeros_like": [(np.zeros_like, [V3])],
    "numpy.ones_like": [(np.ones_like, [M23])],
    "numpy.empty": [(lambda a: np.empty(0), [None])],
    "numpy.empty_like": [(lambda a: np.empty_like(a).shape, [V3])],
    "numpy.eye": [(lambda a: np.eye(3), [None])],
    "numpy.identity": [(lambda a: np.identity(2), [None])],
    "numpy.tri": [(lambda a: np.tri(3), [None])],
    "numpy.argsort": [(np.argsort, [V3])],
    "numpy.ndarray.argsort": [(lambda a: a.argsort(), [V3])],
    "numpy.shape": [(np.shape, [M23])],
    "numpy.ndim": [(np.ndim, [M23])],
    "numpy.size": [(np.size, [M23])],
    "('attribute', 'shape')": [(lambda a: a.shape, [M23])],
    "('attribute', 'dtype')": [(lambda a: a.dtype, [V3])],
    "('attribute', 'ndim')": [(lambda a: a.ndim, [V3])],
    "('attribute', 'size')": [(lambda a: a.size, [V3])],
    "numpy.isclose": [(np.isclose, [V3, V3])],
    "numpy.isneginf": [(np.isneginf, [V3])],
    "numpy.isposinf": [(np.isposinf, [V3])],
    "numpy.any": [(lambda a: np.any(a > 0), [V3])],
    "numpy.all": [(lambda a: np.all(a > 0), [V3])],
    "numpy.ndarray.any": [(lambda a: (a > 0).any(), [V3])],
    "numpy.ndarray.all": [(lambda a: (a > 0).all(), [V3])],
    "numpy.allclose": [(np.allclose, [V3, V3])],
    "numpy.array_equal": [(np.array_equal, [V3, V3])],
    "numpy.nonzero": [(lambda a: np.nonzero(a > 0)[0], [V3])],
    "numpy.ndarray.nonzero": [(lambda a: (a > 0).nonzero()[0], [V3])],
    "numpy.argwhere": [(lambda a: np.argwhere(a > 0), [V3])],
    "numpy.flatnonzero": [(lambda a: np.flatnonzero(a > 0), [V3])],
    "numpy.searchsorted": [(lambda a, b: np.searchsorted(np.sort(a), b), [V3, None])],
    "numpy.count_nonzero": [(lambda a: np.count_nonzero(a > 0), [V3])],
    "numpy.unravel_index": [(lambda a: np.unravel_index(int(abs(a) * 3), (2, 3)), [None])],
    "numpy.ravel_multi_index": [(lambda a: np.ravel_multi_index((int(abs(a)), 1), (2, 3)), [None])],
    "numpy.indices": [(lambda a: np.indices((2, 2)), [None])],
    "numpy.triu_indices": [(lambda a: np.triu_indices(3)[0], [None])],
    "numpy.tril_indices": [(lambda a: np.tril_indices(3)[1], [None])],
    "numpy.diag_indices": [(lambda a: np.diag_indices(3)[0], [None])],
    "numpy.result_type": [(lambda a: np.result_type(a), [V3])],
    "numpy.broadcast_shapes": [(lambda a, b: np.broadcast_shapes(a.shape, b.shape), [V3, M23])],
    "slice": [(lambda a: slice(int(abs(a)), 3), [None])],
    "s2sad.runtime.check_not_tree": [(lambda a: _rt.check_not_tree(a, "grad"), [V3])],
    "s2sad.runtime.svd_supported": [(lambda a: _rt.svd_supported(a, False), [M23])],
    "s2sad.runtime.eig_supported": [(lambda a: _rt.eig_supported(a), [V3])],
    "s2sad.runtime.qr_supported": [(lambda a: _rt.qr_supported(a), [(3, 2)])],
    "s2sad.runtime.zeros_like": [(_rt.zeros_like, [M23]), (_rt.zeros_like, [None])],
    "s2sad.runtime.mean_partials": [(lambda a: _rt.mean_partials(a, 1), [M23])],
    "s2sad.runtime.extremum_weights": [(lambda a: _rt.extremum_weights(a, np.max(a)), [V3])],
    "s2sad.runtime.clip_inside": [(lambda a, b: _rt.clip_inside(a, b, 2.0), [V3, None])],
    "s2sad.runtime.clip_below": [(lambda a, b: _rt.clip_below(a, b, 2.0), [V3, None])],
    "s2sad.runtime.clip_above": [(lambda a, b: _rt.clip_above(a, -2.0, b), [V3, None])],
    "s2sad.runtime.float_dtype": [(_rt.float_dtype, [V3])],
    "s2sad.runtime.dot_subscripts": [(_rt.dot_subscripts, [M23, V3])],
    "s2sad.runtime.inner_subscripts": [(_rt.inner_subscripts, [M23, V3])],
    "s2sad.runtime.tensordot_subscripts": [(lambda a, b: _rt.tensordot_subscripts(a, b, 1), [M23, V3])],
    "s2sad.runtime.method_axes": [(lambda a: _rt.method_axes((1, 0)), [None])],
    "s2sad.runtime.normalize_axes": [(lambda a: _rt.normalize_axes(-1, a.ndim), [M23])],
    # integer casts, index and shape helpers (issue 20)
    "numpy.argpartition": [(lambda a: np.argpartition(a, 1), [V3])],
    "numpy.int8": [(lambda a: np.int8(a * 3), [None])],
    "numpy.int16": [(lambda a: np.int16(a * 3), [None])],
    "numpy.int32": [(lambda a: np.int32(a * 3), [None])],
    "numpy.int64": [(lambda a: np.int64(a * 3), [None])],
    "numpy.uint8": [(lambda a: np.uint8(abs(a) * 3), [None])],
    "numpy.uint16": [(lambda a: np.uint16(abs(a) * 3), [None])],
    "numpy.uint32": [(lambda a: np.uint32(abs(a) * 3), [None])],
    "numpy.uint64": [(lambda a: np.uint64(abs(a) * 3), [None])],
    "s2sad.runtime.norm_order": [
        (lambda a: _rt.norm_order(2) * 0 + _rt.norm_order(1), [None]),
        (lambda a: _rt.norm_order(3, a, 0), [V3]),
    ],
    "s2sad.runtime.norm_power": [(lambda a: _rt.norm_power(3) + _rt.norm_power(None), [None])],
    "s2sad.runtime.kron_shapes": [(_rt.kron_shapes, [M23, V3])],
    "s2sad.runtime.split_points": [(lambda a: _rt.split_points(a, 2), [V3])],
    "s2sad.runtime.rollaxis_move": [(lambda a: _rt.rollaxis_move(a.ndim, 1, 0), [M23])],
    "s2sad.runtime.diag_padding": [(lambda a: _rt.diag_padding(-1), [None])],
    "s2sad.runtime.diagonal_plan": [(lambda a: _rt.diagonal_plan(a, 1)[1], [M23])],
    "s2sad.runtime.gradient_axes": [(lambda a: _rt.gradient_axes(None, a.ndim), [M23])],
    "s2sad.runtime.flat_along": [(lambda a: _rt.flat_along(np.argsort(a), 0), [V3])],
    "s2sad.runtime.nonfinite_replaced": [
        (_rt.nonfinite_replaced, [V3]),
        (lambda a: _rt.nonfinite_replaced(a / 0.0), [V3]),
    ],
    "s2sad.runtime.batch_axis": [(lambda a: _rt.batch_axis(0, a), [M23])],
    "s2sad.runtime.batch_index": [(lambda a: _rt.batch_index(1), [None])],
    "s2sad.runtime.at_shape": [(lambda a: _rt.at_shape(a, [0, 1, 0]), [M23])],
    "s2sad.runtime.along_axis_index": [
        (lambda a: _rt.along_axis_index(a.shape, np.array([[1], [0]]), 1)[0], [M23])
    ],
    "s2sad.runtime.at_positions": [(lambda a: _rt.at_positions(a, [1, 0, 1]), [M23])],
    "s2sad.runtime.put_index": [(lambda a: _rt.put_index(a, [5, -1, 0]), [M23])],
    "s2sad.runtime.put_source": [(lambda v: _rt.put_source([0, 2, 3, 1], v), [V3])],
    "s2sad.runtime.mask_index": [(lambda a: _rt.mask_index(a, a > 0.0), [M23])],
    "s2sad.runtime.place_source": [(lambda a, v: _rt.place_source(a > 0.0, v), [M23, V3])],
    "s2sad.runtime.putmask_source": [(lambda a, v: _rt.putmask_source(a > 0.0, v), [M23, V3])],
    "s2sad.runtime.r_shape": [(_rt.r_shape, [None]), (_rt.r_shape, [M23])],
    "s2sad.runtime.c_shape": [(_rt.c_shape, [None]), (_rt.c_shape, [V3]), (_rt.c_shape, [M23])],
}

# listed on purpose although the value moves with its input: the derivative is cut by design
STOPS_BY_DESIGN = {"s2sad.stop_gradient"}

# refused (an s2sad error at the user's line) when an operand carries a derivative:
# user-style functions of one float array `x` that give one
REFUSED_CALLS = {
    "operator.invert": "~x",
    "operator.and_": "x & x",
    "operator.or_": "x | (x > 0)",
    "operator.xor": "x ^ x",
    "operator.lshift": "x << 1",
    "operator.rshift": "x >> 1",
    "numpy.invert": "np.invert(x)",
    "numpy.bitwise_and": "np.bitwise_and(x, x)",
    "numpy.bitwise_or": "np.bitwise_or(x, x)",
    "numpy.bitwise_xor": "np.bitwise_xor(x, x)",
    "numpy.left_shift": "np.left_shift(x, 1)",
    "numpy.right_shift": "np.right_shift(x, 1)",
    "numpy.random.normal": "np.random.normal(x, 1.0)",
    "numpy.random.uniform": "np.random.uniform(x, x + 1.0)",
    "numpy.random.rand": "np.random.rand(3) * np.random.rand(x.size)",
    "numpy.random.randn": "np.random.randn(x.size)",
    "numpy.random.randint": "np.random.randint(0, 3, x.shape) * x",
    "numpy.random.choice": "np.random.choice(x)",
    "numpy.random.permutation": "np.random.permutation(x)",
    "numpy.random.standard_normal": "np.random.standard_normal(x.shape) * x",
    "numpy.random.random": "np.random.random(x.shape) * x",
}
# entries whose refusal needs a differentiated operand, which these calls of sizes do not give
REFUSED_ONLY_ON_FLOATS = {
    "numpy.random.rand",
    "numpy.random.randn",
    "numpy.random.randint",
    "numpy.random.standard_normal",
    "numpy.random.random",
}


def _draw(shape, rng):
    if shape is None:
        return float(rng.uniform(0.3, 1.7) * rng.choice([-1.0, 1.0]))
    return rng.uniform(0.3, 1.7, shape) * rng.choice([-1.0, 1.0], shape)


def _numbers(value):
    """The numbers in a result (arrays, tuples, bools, ints); other values compare as they are."""
    if isinstance(value, (tuple, list)):
        return [_numbers(v) for v in value]
    if isinstance(value, (np.ndarray, float, int, bool, np.generic)):
        return np.asarray(value, dtype=float)
    return value


def _same(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.shape == np.shape(b) and bool(np.all(a == b))
    if isinstance(a, range):
        return a == b
    return a == b or (a is not None and str(a) == str(b))


def constant_violations(fn, shapes, rng, points=4, step=1e-6):
    """Central differences of `fn` at random points w.r.t. every float input: the (point, input,
    entry) where the value changes. Empty for a function piecewise constant in its float inputs."""
    found = []
    for point in range(points):
        args = [_draw(shape, rng) for shape in shapes]
        for i, x in enumerate(args):
            for j in range(max(1, np.size(x))):
                values = []
                for sign in (1.0, -1.0):
                    moved = list(args)
                    if np.ndim(x) == 0:
                        moved[i] = x + sign * step
                    else:
                        moved[i] = x.copy()
                        moved[i].flat[j] += sign * step
                    values.append(_numbers(fn(*moved)))
                if not _same(*values):
                    found.append((point, i, j))
    return found


# -- the tests ---------------------------------------------------------------------------------------


def test_every_rule_is_checked():
    """No entry of the table skips the check: differentiable ones have examples, the others samples."""
    missing = []
    for rule in RULES.values():
        if rule.differentiable:
            if rule.name not in EXAMPLES:
                missing.append(
                    f"{rule.name} (differentiable: add it to EXAMPLES in tests/test_numpy_rules.py)"
                )
        elif (
            rule.name not in CONSTANT_SAMPLES
            and rule.name not in STOPS_BY_DESIGN
            and rule.name not in REFUSED_CALLS
        ):
            missing.append(f"{rule.name} (no derivative: add samples to CONSTANT_SAMPLES)")
    assert not missing, "rule entries with no check:\n  " + "\n  ".join(missing)
    names = {r.name for r in RULES.values()}
    assert not set(CONSTANT_SAMPLES) - names, "samples for entries not in the table"


def _constant_params():
    return [
        pytest.param(r.name, id=r.name)
        for r in RULES.values()
        if not r.differentiable and r.name in CONSTANT_SAMPLES
    ]


@pytest.mark.parametrize("name", _constant_params())
def test_listed_without_derivative_is_piecewise_constant(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    for k, (fn, shapes) in enumerate(CONSTANT_SAMPLES[name]):
        found = constant_violations(fn, shapes, rng)
        assert not found, f"{name} sample {k} changes with its float inputs at (point, input, entry) {found}"


@pytest.mark.parametrize("name", sorted(REFUSED_CALLS))
def test_refused_on_a_differentiated_value(name, tmp_path):
    rule = next(r for r in RULES.values() if r.name == name)
    assert rule.extra.get("refused"), f"{name} is in REFUSED_CALLS but its rule refuses nothing"
    if name in REFUSED_ONLY_ON_FLOATS:
        return  # these calls take sizes (ints): nothing differentiated reaches the draw
    path = tmp_path / "refused_example.py"
    path.write_text(f"import numpy as np\n\n\ndef f(x):\n    return np.sum({REFUSED_CALLS[name]})\n")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    import linecache

    linecache.updatecache(str(path))
    with pytest.raises(S2sadError) as info:
        s2sad.grad(namespace["f"])(np.array([0.5, 1.5]))
    message = str(info.value)
    assert "refused_example.py:5" in message and REFUSED_CALLS[name] in message, message


def test_the_check_catches_a_wrong_listing():
    """What the check says of functions once wrongly listed (`%`, `np.linspace`, `tolist`, `np.arange`)."""
    rng = np.random.default_rng(0)
    assert constant_violations(lambda a: a % 1.0, [None], rng)
    assert constant_violations(np.mod, [V3, None], rng)
    assert constant_violations(np.fmod, [V3, V3], rng)
    assert constant_violations(lambda a: np.linspace(0.0, a, 5), [None], rng)
    assert constant_violations(lambda a: a.tolist(), [V3], rng)
    assert constant_violations(lambda a: np.arange(a, 3.0), [None], rng)
    assert constant_violations(lambda a: np.random.default_rng(1).normal(a), [None], rng)


# -- derivatives through constants: inactive calls, zero tangents in every template ---------------------


def inactive_calls(x, n):
    t = np.arange(n) * 1.0
    v = np.vander(t, n)
    return x * math.lgamma(3.0) + math.factorial(n) * x + np.sum(v) * x


def inactive_at_3(x):
    return inactive_calls(x, 3)  # jvp differentiates every primal: here `n` is a constant


def test_inactive_calls_are_constants():
    x, n = 1.3, 3
    expected = math.lgamma(3.0) + math.factorial(n) + np.sum(np.vander(np.arange(n) * 1.0, n))
    assert s2sad.grad(inactive_calls)(x, n) == pytest.approx(expected)
    assert s2sad.jvp(inactive_at_3, (x,), (1.0,))[1] == pytest.approx(expected)


def active_vander(x):
    return np.sum(np.vander(x, 3))


def test_active_call_with_no_rule_is_refused_at_the_users_line():
    with pytest.raises(S2sadError) as info:
        s2sad.grad(active_vander)(np.array([1.0, 2.0]))
    assert "test_rule_table.py" in str(info.value) and "np.vander(x, 3)" in str(info.value)


def masks(x):
    m = x > 0.0
    keep = (~m | (x < 1.0)) & (m ^ (x > 2.0))
    return np.sum(np.where(keep, x * x, 3.0 * x))


def test_boolean_operators_on_masks_just_run():
    x = np.array([0.5, -1.0, 1.5, 2.5])
    keep = (~(x > 0) | (x < 1.0)) & ((x > 0) ^ (x > 2.0))
    expected = np.where(keep, 2.0 * x, 3.0)
    np.testing.assert_allclose(s2sad.grad(masks)(x), expected)
    np.testing.assert_allclose(s2sad.jvp(masks, (x,), (np.ones(4),))[1], np.sum(expected))


def test_zero_tangents_fold_in_forward_over_reverse(example_module, tmp_path):
    """jvp of grad of every example plus a square, its other inputs held constant (module globals):
    the inner gradient starts with terms that do not depend on the input, whose tangents are
    symbolic zeros in every template. No generated line may apply an array method to a float zero (`(0.0).T`).
    """
    cases = [
        (name, i, example) for name, i, example in _ids() if not example.bug and not name.startswith("s2sad.")
    ]
    text = "import numpy as np\n\nimport s2sad\nfrom numpy_rule_examples import *  # noqa\n\n"
    for name, i, example in cases:
        f = _function_name(name, i)
        constants = (
            ", ".join(f"C{k}_{f}" for k in range(1, len(example.args))) + ", "
            if len(example.args) > 1
            else ""
        )
        text += f"\ndef inner_{f}(a):\n    return np.sum(a * a) + {f}_scalar(a, {constants}U_{f})\n\n"
        text += f"\ndef outer_{f}(a):\n    return s2sad.grad(inner_{f})(a)\n\n"
    path = tmp_path / "forward_over_reverse_examples.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("forward_over_reverse_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    failures, rng = [], np.random.default_rng(3)
    for name, i, example in cases:
        f = _function_name(name, i)
        args = [spec.draw(rng) for spec in example.args]
        for k, value in enumerate(args[1:], 1):
            setattr(module, f"C{k}_{f}", value)
        setattr(module, f"U_{f}", np.ones(np.shape(getattr(example_module, f)(*args))))
        outer, x = getattr(module, f"outer_{f}"), args[0]
        direction = _rt.zeros_like(x) + 1.0
        try:
            _, hv = s2sad.jvp(outer, (x,), (direction,))
        except S2sadError:
            continue  # refused with an s2sad error at a line: not a silent or internal failure
        except (AttributeError, TypeError, ZeroDivisionError) as exc:
            failures.append(f"{name} example {i} ({example.body}): {type(exc).__name__}: {exc}")
            continue
        h = 1e-5
        expected = (np.asarray(outer(x + h * direction)) - np.asarray(outer(x - h * direction))) / (2 * h)
        if not np.allclose(hv, expected, rtol=1e-5, atol=1e-5):
            failures.append(f"{name} example {i} ({example.body}): Hessian-vector product {hv} != {expected}")
    assert not failures, "\n".join(failures)
