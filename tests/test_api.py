"""The public transforms, caching, source and emitted files."""

import importlib.util
import linecache
import re
import traceback

import numpy as np
import pytest

import s2sad
from s2sad import cache, config, pipeline
from s2sad.api.transforms import SPECIALIZED_SHAPES


def quadratic(x, y):
    return x * x * y + 3.0 * y


@s2sad.grad
def decorated(x):
    return x * x * x


def test_grad_and_argnums():
    assert s2sad.grad(quadratic)(2.0, 5.0) == pytest.approx(20.0)
    assert s2sad.grad(quadratic, argnums=1)(2.0, 5.0) == pytest.approx(7.0)
    gx, gy = s2sad.grad(quadratic, argnums=(0, 1))(2.0, 5.0)
    assert (gx, gy) == (pytest.approx(20.0), pytest.approx(7.0))
    assert s2sad.grad(quadratic, argnums=-1)(2.0, 5.0) == pytest.approx(7.0)


def test_bare_decorator_and_keywords():
    assert decorated(2.0) == pytest.approx(12.0)
    assert s2sad.grad(quadratic)(2.0, y=5.0) == pytest.approx(20.0)


def test_integer_inputs_are_refused_as_in_jax():
    with pytest.raises(s2sad.ArgumentError, match=r"argument 0 \(`x`\) which is an int"):
        s2sad.grad(quadratic)(2, 5)
    assert s2sad.grad(quadratic)(2.0, 5) == pytest.approx(20.0)  # an int not differentiated is a constant


def test_value_and_grad():
    value, g = s2sad.value_and_grad(quadratic)(2.0, 5.0)
    assert value == pytest.approx(35.0) and g == pytest.approx(20.0)


def test_jvp_and_vjp_agree():
    out, tangent = s2sad.jvp(quadratic, (2.0, 5.0), (1.0, 0.5))
    assert out == pytest.approx(35.0) and tangent == pytest.approx(20.0 + 0.5 * 7.0)
    out, pullback = s2sad.vjp(quadratic, 2.0, 5.0)
    assert pullback(1.0) == (pytest.approx(20.0), pytest.approx(7.0))
    assert pullback(2.0) == (pytest.approx(40.0), pytest.approx(14.0))


def test_arrays_give_gradients_of_the_same_shape():
    def_loss = s2sad.grad(array_loss)
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    g = def_loss(x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g, 2 * np.tanh(x) / np.cosh(x) ** 2)


def array_loss(w):
    return np.sum(np.tanh(w) ** 2)


def test_cache_compiles_once_and_notices_code_changes():
    s2sad.cache.clear()
    g = s2sad.grad(changing)
    assert g(3.0) == pytest.approx(2.0)
    first = len(pipeline._CACHE)
    g(4.0)
    assert len(pipeline._CACHE) == first
    changing.__code__ = replacement.__code__
    try:
        assert s2sad.grad(changing)(3.0) == pytest.approx(6.0)
    finally:
        changing.__code__ = ORIGINAL


def changing(x):
    return 2.0 * x


def replacement(x):
    return x * x


ORIGINAL = changing.__code__


def test_specialization_on_kinds_scalar_then_array():
    g = s2sad.grad(array_loss)
    assert np.ndim(g(0.5)) == 0
    assert g(np.array([0.5, 1.0])).shape == (2,)


def test_source_is_readable_and_has_no_zero_terms():
    text = s2sad.source(quadratic, mode="reverse", argnums=(0, 1), args=(2.0, 5.0))
    assert "x_bar" in text and "y_bar" in text and "def quadratic_vjp" in text
    zero_or_one_terms = re.compile(
        r"(?<![\w.])(0|0\.0|1|1\.0) \*|\* (0|0\.0|1|1\.0)(?![\w.])|[+-] 0(\.0)?(?![\w.])"
    )
    assert not zero_or_one_terms.search(text), text
    text = s2sad.source(quadratic, mode="forward", argnums=(0, 1), args=(2.0, 5.0))
    assert "x_dot" in text and not zero_or_one_terms.search(text), text
    assert "test_api.py:" in text  # comments point back to the user's lines


def test_emitted_file_imports_and_runs(tmp_path):
    path = tmp_path / "quadratic_grad.py"
    s2sad.emit(quadratic, str(path), mode="reverse", argnums=(0, 1), args=(2.0, 5.0))
    spec = importlib.util.spec_from_file_location("quadratic_grad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value, (gx, gy) = module.quadratic_vjp(2.0, 5.0)
    assert value == pytest.approx(35.0) and gx == pytest.approx(20.0) and gy == pytest.approx(7.0)


def failing(x):
    return np.log(x) * x


def test_traceback_shows_generated_line():
    compiled = pipeline.compile_derivative(failing, "reverse", (0,), ("float",))
    filename = compiled.function.__code__.co_filename
    assert linecache.getline(filename, compiled.function.__code__.co_firstlineno).startswith(
        "def failing_vjp"
    )
    with np.errstate(all="raise"):
        try:
            s2sad.grad(failing)(-1.0)
        except FloatingPointError:
            text = traceback.format_exc()
            assert "np.log(x)" in text
        else:
            raise AssertionError("expected a floating point error")


def test_cached_call_overhead_is_small():
    # not a timing test: checks the wrapper does no compilation on the hot path
    g = s2sad.grad(quadratic)
    g(1.0, 2.0)
    before = len(pipeline._CACHE)
    for _ in range(100):
        g(1.0, 2.0)
    assert len(pipeline._CACHE) == before


def test_a_pullback_leaves_the_callers_cotangent_alone():
    def f(x):
        y = x * 2.0
        y[0] = 5.0 * x[1]
        return y

    value, pullback = s2sad.vjp(f, np.array([1.0, 2.0, 3.0]))
    u = np.ones(3)
    first = pullback(u)[0]
    assert u.tolist() == [1.0, 1.0, 1.0]
    assert np.array_equal(pullback(u)[0], first)
    assert first.tolist() == [0.0, 7.0, 2.0]


def _kmeans_cost(points, centroids):
    distances = (
        np.sum(points**2, axis=1)[:, None]
        + np.sum(centroids**2, axis=1)[None, :]
        - 2.0 * points @ centroids.T
    )
    return np.sum(np.min(distances, axis=1))


def test_jvp_of_a_transform_compiles_for_its_first_shape_and_shapes_that_come_back():
    """`jvp(grad(f), ...)` at many sizes (a Newton solver): code of its own for the first shape, one
    generic version for sizes met once, code of their own for sizes met again (up to
    SPECIALIZED_SHAPES); the same directions throughout, checked against central differences."""
    gradient = s2sad.grad(_kmeans_cost, argnums=1)
    rng = np.random.default_rng(0)

    def forward_compiles():
        return len([k for k in cache.TRANSFORMS if k[0] == "forward"])

    def check(size):
        points, centroids, t = (
            rng.standard_normal((size + 5, 3)),
            rng.standard_normal((size, 3)),
            rng.standard_normal((size, 3)),
        )
        _, direction = s2sad.jvp(gradient, (points, centroids), (np.zeros_like(points), t))
        h = 1e-6
        expected = (gradient(points, centroids + h * t) - gradient(points, centroids - h * t)) / (2 * h)
        np.testing.assert_allclose(direction, expected, rtol=1e-5, atol=1e-6)

    before = forward_compiles()
    sizes = range(2, SPECIALIZED_SHAPES + 5)
    for size in sizes:  # each size once: the first specialized, the others share the generic code
        check(size)
    assert forward_compiles() - before == (2 if config.enabled() else 1)  # analyses off: generic code only
    for size in sizes:  # again: each comes back and gets code of its own, up to the limit
        check(size)
    expected = SPECIALIZED_SHAPES + 1 if config.enabled() else 1
    assert forward_compiles() - before == expected
