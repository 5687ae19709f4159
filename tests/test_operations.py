"""Every operation of the core rule set, both modes, against finite differences."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2sad
from s2sad.testing import check_grads

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
pos = st.floats(0.2, 3.0)
real = st.floats(-2.0, 2.0)
unit = st.floats(-0.9, 0.9)


# scalar functions written the way users write them; (function, input strategy)
def f_add(x, y):
    return x + y


def f_sub(x, y):
    return x - y


def f_mul(x, y):
    return x * y


def f_div(x, y):
    return x / y


def f_div_const(x, y):
    return 2.5 / y + x / (1.0 + y * y) + 0.0 / y + np.divide(-3, x * x + 1.0)


def f_pow_const(x, y):
    return x**3 + y**2.5


def f_pow_var(x, y):
    return x**y


def f_neg(x, y):
    return -x * y


def f_abs(x, y):
    return abs(x) * y


def f_max(x, y):
    return max(x, y) + max(x * y, 1.0)


def f_min(x, y):
    return min(x, y) - min(x * y, 0.5)


def f_float(x, y):
    return float(x) * y


def f_aug(x, y):
    z = x
    z += y
    z *= x
    z -= 1.0
    z /= y
    z **= 2
    return z


def f_tuple(x, y):
    a, b = x * y, x + y
    a, b = b, a
    return a * b


BINARY = [
    (f_add, real, real),
    (f_sub, real, real),
    (f_mul, real, real),
    (f_div, real, pos),
    (f_div_const, real, pos),
    (f_pow_const, pos, pos),
    (f_pow_var, pos, real),
    (f_neg, real, real),
    (f_abs, real, real),
    (f_max, real, real),
    (f_min, real, real),
    (f_float, real, real),
    (f_aug, real, pos),
    (f_tuple, real, real),
]


@pytest.mark.parametrize("fn,sx,sy", BINARY, ids=[b[0].__name__ for b in BINARY])
def test_scalar_binary(fn, sx, sy):
    @SETTINGS
    @given(sx, sy)
    def check(x, y):
        if fn in (f_abs,) and abs(x) < 1e-3:
            return
        if fn in (f_max, f_min) and (abs(x - y) < 1e-3 or abs(x * y - 1.0) < 1e-3 or abs(x * y - 0.5) < 1e-3):
            return
        check_grads(fn, (x, y))

    check()


MATH = {
    "sin": (math.sin, real),
    "cos": (math.cos, real),
    "tan": (math.tan, unit),
    "exp": (math.exp, real),
    "expm1": (math.expm1, real),
    "log": (math.log, pos),
    "log1p": (math.log1p, pos),
    "log2": (math.log2, pos),
    "log10": (math.log10, pos),
    "sqrt": (math.sqrt, pos),
    "tanh": (math.tanh, real),
    "sinh": (math.sinh, real),
    "cosh": (math.cosh, real),
    "asin": (math.asin, unit),
    "acos": (math.acos, unit),
    "atan": (math.atan, real),
    "fabs": (math.fabs, pos),
    "erf": (math.erf, real),
}


def apply_math(x, name_index):
    return MATH_FUNCS[name_index](x) * x


@pytest.mark.parametrize("name", sorted(MATH))
def test_math_functions(name, tmp_path):
    fn = _module_function(tmp_path, f"import math\ndef f(x):\n    return math.{name}(x) * x\n")
    domain = MATH[name][1]

    @SETTINGS
    @given(domain)
    def check(x):
        check_grads(fn, (x,))

    check()


def test_math_two_argument_functions(tmp_path):
    fn = _module_function(
        tmp_path,
        "import math\ndef f(x, y):\n    return math.atan2(y, x) + math.hypot(x, y) + math.pow(x, y) + math.log(x, 3.0)\n",
    )

    @SETTINGS
    @given(pos, pos)
    def check(x, y):
        check_grads(fn, (x, y))

    check()


NUMPY_UNARY = {
    "sin": real,
    "cos": real,
    "tan": unit,
    "exp": real,
    "log": pos,
    "log1p": pos,
    "sqrt": pos,
    "tanh": real,
    "sinh": real,
    "cosh": real,
    "arcsin": unit,
    "arccos": unit,
    "arctan": real,
    "square": real,
    "abs": pos,
    "negative": real,
}


@pytest.mark.parametrize("name", sorted(NUMPY_UNARY))
@pytest.mark.parametrize("shape", [None, (3,), (2, 3)])
def test_numpy_elementwise(name, shape, tmp_path):
    fn = _module_function(tmp_path, f"import numpy as np\ndef f(x):\n    return np.sum(np.{name}(x) * x)\n")
    domain = NUMPY_UNARY[name]

    @SETTINGS
    @given(st.lists(domain, min_size=6, max_size=6))
    def check(values):
        x = values[0] if shape is None else np.array(values[: int(np.prod(shape))]).reshape(shape)
        check_grads(fn, (x,))

    check()


def f_broadcast(x, y, s):
    z = x * y + s / (1.0 + y * y) - x**2 * s
    w = np.maximum(z, 0.1 * x) + np.minimum(y, s) + np.where(x > 0, x * s, y)
    return np.mean(w) + np.sum(np.power(1.5 + np.tanh(w), 2.0))


@SETTINGS
@given(st.integers(0, 2**31))
def test_broadcasting_arrays_and_scalars(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 1))
    y = rng.standard_normal(4)
    s = float(rng.uniform(0.5, 2.0))
    check_grads(f_broadcast, (x, y, s))
    gx, gy, gs = s2sad.grad(f_broadcast, argnums=(0, 1, 2))(x, y, s)
    assert gx.shape == x.shape and gy.shape == y.shape and np.ndim(gs) == 0


def f_zero_d(x, y):
    return np.sum(x * y + np.exp(x))


def test_zero_dimensional_arrays():
    x = np.array(0.3)
    y = np.array([1.0, 2.0])
    check_grads(f_zero_d, (x, y))
    assert s2sad.grad(f_zero_d)(x, y).shape == ()


def lecture(x1, x2):
    v = x1 / x2
    return (np.sin(v) + v - np.exp(x2)) * (v - np.exp(x2))


def test_lecture_example_values():
    g1, g2 = s2sad.grad(lecture, argnums=(0, 1))(1.5, 0.5)
    assert round(g1, 3) == 3.012 and round(g2, 3) == -13.724
    value, dot = s2sad.jvp(lecture, (1.5, 0.5), (1.0, 0.0))
    assert round(dot, 3) == 3.012
    check_grads(lecture, (1.5, 0.5))


def _module_function(tmp_path, text, name="f"):
    import importlib.util
    import itertools

    index = next(_COUNTER)
    path = tmp_path / f"generated_{index}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"generated_{index}_{id(tmp_path)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


import itertools  # noqa: E402

_COUNTER = itertools.count()
MATH_FUNCS = []


def doubled_at(x):
    v = x.copy()
    idx = np.array([0, 2, 0])  # position 0 twice: NumPy keeps the last write
    v[idx] = v[idx] * 2.0 + x[1]
    v[1:] += v[:-1]
    return np.sum(v**3)


def test_a_fancy_write_that_repeats_a_position_counts_its_last_write():
    # reverse mode once gave position 0 the cotangent of both writes: twice its derivative
    x = np.array([0.5, -0.3, 0.8, 0.1])
    check_grads(doubled_at, (x,))
    h = 1e-6
    fd = np.array([(doubled_at(x + h * e) - doubled_at(x - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(s2sad.grad(doubled_at)(x), fd, rtol=1e-7)
    hessian = s2sad.hessian(doubled_at)(x)
    fd_h = np.array(
        [(s2sad.grad(doubled_at)(x + h * e) - s2sad.grad(doubled_at)(x - h * e)) / (2 * h) for e in np.eye(4)]
    )
    np.testing.assert_allclose(hessian, fd_h, rtol=1e-5, atol=1e-6)


def written_at(x, rows, cols):
    M = np.zeros((2, 3, 3))
    M[:, rows, cols] = x  # the same index arrays at every call (gmm's triangle)
    return np.sum(np.tanh(M) ** 2 * np.arange(1.0, 10.0).reshape(3, 3))


@pytest.mark.parametrize(
    "rows, cols",
    [
        (np.array([1, 2, 2]), np.array([0, 0, 1])),  # distinct positions
        (np.array([1, 2, 1]), np.array([0, 0, 0])),  # (1, 0) twice: the last write counts
        (np.array([1, 2, 1]), np.array([0, 1, 0])),  # the same shape, other positions
    ],
)
def test_fancy_writes_at_constant_indices_analysed_once_per_index_set(rows, cols):
    from s2sad.runtime import core as runtime

    x = np.random.default_rng(int(rows.sum() + 3 * cols.sum())).standard_normal((2, 3))
    for _ in range(2):  # the second call finds the index set's analysis
        check_grads(written_at, (x, rows, cols), wrt=[0])
    assert any(k is not None and k[0] == (2, 3, 3) for k in runtime._LAST_WRITES)
    lists = (rows.tolist(), cols.tolist())  # index lists are analysed every time: still exact
    check_grads(written_at, (x, *lists), wrt=[0])


# masks made by comparing arrays of different shapes broadcast: the mask may be larger than the
# operand it multiplies, so that operand's adjoint is summed back to its own shape
def masked_by_comparison(x, y):
    return np.sum(x * (x >= y)) + np.sum(np.where(x < y, y * x, 0.0))


def masked_by_predicates(x, y):
    keep = np.isfinite(y) & (np.abs(y) > 0.1)
    return np.sum(np.where(keep, x * y, x)) + np.sum(x * np.greater(y, 0.0))


MASK_SHAPES = [((1,), (1, 4)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((), (3,)), ((3,), ())]


@pytest.mark.parametrize("shapes", MASK_SHAPES, ids=str)
@pytest.mark.parametrize("f", [masked_by_comparison, masked_by_predicates])
def test_masks_of_broadcast_comparisons(f, shapes):
    rng = np.random.default_rng(len(shapes[0]) * 7 + len(shapes[1]))
    x, y = (rng.uniform(-1.0, 1.0, s) if s else float(rng.uniform(-1.0, 1.0)) for s in shapes)
    check_grads(f, (x, y), wrt=(0, 1))
    grads = s2sad.grad(f, argnums=(0, 1))(x, y)
    assert [np.shape(g) for g in grads] == [np.shape(x), np.shape(y)]
