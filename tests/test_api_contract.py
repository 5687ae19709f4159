"""The API contract: arguments checked before derivative code runs, dicts by sorted keys, transforms
of transforms, cache keys that follow what the code reads, and messages in the user's words."""

import dataclasses
import importlib
import math
import re
import sys
from typing import NamedTuple

import numpy as np
import pytest

import s2sad
from s2sad.testing import check_grads, numerical_jvp

HERE = __file__.rsplit("/", 1)[-1]
TEMPORARY = re.compile(r"\b_t\d+\b")


def assert_user_words(error, *names):
    """The message names what the user wrote (`names`), and no temporary of the compiler."""
    text = str(error.value)
    assert not TEMPORARY.search(text), text
    for name in names:
        assert name in text, text


def weighted(x, w):
    return np.sum(np.tanh(x) * w)


def scalar_pair(a, b):
    return a * np.sin(b)


def pick(i, x):
    return x[i] * 2.0


def masked(mask, x):
    return np.sum(np.where(mask, x, 0.0))


def vector_out(x):
    return np.sin(x) * x[0]


def dict_loss(p):
    return np.sum(np.tanh(p["w"]) * p["b"]) + p["b"] ** 2


def dict_out(x):
    return {"sin": np.sin(x), "cube": x**3}


X = np.array([0.3, -0.7, 1.1])


# -- 1. arguments are checked before generated code runs -------------------------------------------------


@pytest.mark.parametrize(
    "primals, tangents, says",
    [
        ((X, X), (np.ones(2), X), "shape (2,)"),  # the wrong shape
        ((X, X), (1.0, X), "shape ()"),  # a float tangent for an array
        ((0.5, X), (X, X), "shape (3,)"),  # an array tangent for a float
        ((X, X), (None, X), "None"),
        ((X, X), (X > 0, X), "bool"),
        ((X, X), (X + 1j, X), "complex"),
    ],
)
def test_a_tangent_that_does_not_match_its_primal_is_an_argument_error(primals, tangents, says):
    with pytest.raises(s2sad.ArgumentError) as error:
        s2sad.jvp(weighted, primals, tangents)
    assert_user_words(error, "argument 0 (`x`)", says)


def test_a_tangent_tree_of_another_structure_is_an_argument_error():
    p = {"w": X, "b": 0.5}
    with pytest.raises(s2sad.ArgumentError) as error:
        s2sad.jvp(dict_loss, (p,), ({"w": X},))
    assert_user_words(error, "`p`", "structure")
    with pytest.raises(s2sad.ArgumentError) as error:
        s2sad.jvp(dict_loss, (p,), ({"w": X[:2], "b": 1.0},))
    assert_user_words(error, "['w']", "shape (2,)")


def test_an_int_argument_of_jvp_is_a_constant_whose_tangent_is_zero_or_none():
    value, tangent = s2sad.jvp(pick, (1, X), (None, np.ones(3)))
    assert value == pytest.approx(2 * X[1]) and tangent == pytest.approx(2.0)
    assert s2sad.jvp(pick, (1, X), (0, np.ones(3)))[1] == pytest.approx(2.0)
    with pytest.raises(s2sad.ArgumentError) as error:
        s2sad.jvp(pick, (1, X), (1.0, np.ones(3)))
    assert_user_words(error, "argument 0 (`i`)", "an int")


@pytest.mark.parametrize(
    "cotangent, says",
    [(np.ones(2), "shape (2,)"), (1.0, "shape ()"), (None, "None"), (np.ones(3) > 0, "bool")],
)
def test_a_cotangent_that_does_not_match_the_output_is_an_argument_error(cotangent, says):
    _, pullback = s2sad.vjp(vector_out, X)
    with pytest.raises(s2sad.ArgumentError) as error:
        pullback(cotangent)
    assert_user_words(error, "vector_out", "output", says)


def test_a_cotangent_tree_is_checked_and_its_dict_order_does_not_matter():
    value, pullback = s2sad.vjp(dict_out, X)
    with pytest.raises(s2sad.ArgumentError) as error:
        pullback({"sin": np.ones(3)})
    assert_user_words(error, "structure")
    u = {"cube": np.full(3, 2.0), "sin": np.ones(3)}  # keys in another order than the output's
    (g,) = pullback(u)
    np.testing.assert_allclose(g, np.cos(X) + 6.0 * X**2)


@pytest.mark.parametrize(
    "function, args, argnums, name, says",
    [
        (pick, (1, X), 0, "`i`", "an int"),
        (masked, (X > 0, X), 0, "`mask`", "a boolean array"),
        (weighted, (np.arange(3), X), 0, "`x`", "an integer array"),
        (scalar_pair, (1.0 + 2.0j, 0.5), 0, "`a`", "a complex number"),
        (weighted, (X + 1j, X), 0, "`x`", "a complex array"),
        (dict_loss, ({"w": X, "b": 2},), 0, "['b']", "an int"),
    ],
)
def test_differentiating_a_non_float_input_is_an_argument_error(function, args, argnums, name, says):
    for transform in (s2sad.grad, s2sad.value_and_grad, s2sad.jacfwd, s2sad.jacrev):
        with pytest.raises(s2sad.ArgumentError) as error:
            transform(function, argnums=argnums)(*args)
        assert_user_words(error, name, says)


def test_the_cached_call_checks_the_dtype_of_arrays_too():
    for transform in (s2sad.grad, s2sad.value_and_grad):
        wrapper = transform(weighted)
        wrapper(X, X)  # compiled for float arrays; the cache is keyed by types
        with pytest.raises(s2sad.ArgumentError, match="boolean array"):
            wrapper(X > 0, X)
        with pytest.raises(s2sad.ArgumentError, match="integer array"):
            wrapper(x=np.arange(3), w=X)  # the keyword path
    with_aux = s2sad.grad(lambda x, w: (weighted(x, w), 0), has_aux=True)
    with_aux(X, X)
    with pytest.raises(s2sad.ArgumentError, match="integer array"):
        with_aux(np.arange(3), X)


def test_an_object_in_argnums_is_named_and_complex_primals_are_refused_in_jvp_and_vjp():
    class Model:
        W = X

    with pytest.raises(s2sad.ArgumentError) as error:
        s2sad.grad(weighted, argnums=1)(X, Model())
    assert_user_words(error, "argument 1 (`w`)", "Model")
    with pytest.raises(s2sad.ArgumentError, match="complex"):
        s2sad.jvp(weighted, (X + 1j, X), (X, X))
    with pytest.raises(s2sad.ArgumentError, match="complex"):
        s2sad.vjp(weighted, X + 1j, X)


# -- 2. dicts compare by sorted keys ------------------------------------------------------------------------


def test_dicts_in_another_key_order_work_in_every_transform():
    first, second = {"w": X, "b": 0.5}, {"b": 0.5, "w": X}
    expected = {"w": 0.5 / np.cosh(X) ** 2, "b": np.sum(np.tanh(X)) + 1.0}
    for p in (first, second, first):
        g = s2sad.grad(dict_loss)(p)
        assert set(g) == {"w", "b"}
        np.testing.assert_allclose(g["w"], expected["w"])
        assert g["b"] == pytest.approx(expected["b"])
        (gv,) = s2sad.vjp(dict_loss, p)[1](1.0)
        np.testing.assert_allclose(gv["w"], expected["w"])
    tangent_first, tangent_second = {"w": np.ones(3), "b": 2.0}, {"b": 2.0, "w": np.ones(3)}
    assert s2sad.jvp(dict_loss, (first,), (tangent_second,))[1] == pytest.approx(
        s2sad.jvp(dict_loss, (second,), (tangent_first,))[1]
    )
    check_grads(dict_loss, (second,))
    check_grads(dict_loss, (first,))


# -- 3. transforms of transforms --------------------------------------------------------------------------


def loss(w):
    return np.sum(np.tanh(w) ** 2) * w[0]


def pulled_back(w):
    return s2sad.vjp(loss, w)[1](1.0)[0]


def _pullback_of_ones(f):
    def apply(w):
        value, pullback = s2sad.vjp(f, w)
        return pullback(
            tuple(np.ones_like(v) for v in value) if isinstance(value, tuple) else np.ones_like(value)
        )[0]

    return apply


def directional(w):
    return s2sad.jvp(loss, (w,), (np.ones_like(w),))[1]


INNER = {
    "grad": lambda: s2sad.grad(loss),
    "value_and_grad": lambda: s2sad.value_and_grad(loss),
    "jvp": lambda: directional,
    "jacfwd": lambda: s2sad.jacfwd(loss),
    "jacrev": lambda: s2sad.jacrev(loss),
    "hessian": lambda: s2sad.hessian(loss),
    "vjp": lambda: pulled_back,
}
OUTER = {
    "grad": s2sad.grad,
    "value_and_grad": lambda f: (lambda w: s2sad.value_and_grad(f)(w)[1]),
    "jacfwd": s2sad.jacfwd,
    "jacrev": s2sad.jacrev,
    "hessian": s2sad.hessian,
    "jvp": lambda f: (lambda w: s2sad.jvp(f, (w,), (np.arange(1.0, 4.0),))[1]),
    "vjp": _pullback_of_ones,
}
SCALAR_OUTPUT = {"jvp"}  # the inner transforms whose output is a float (grad and hessian need one)


def _numerical_jacobian(f, w, step=1e-5):
    columns = [numerical_jvp(f, (w,), (np.eye(len(w))[i],), step) for i in range(len(w))]
    return np.stack(columns, axis=-1)


@pytest.mark.parametrize("outer", sorted(OUTER))
@pytest.mark.parametrize("inner", sorted(INNER))
def test_a_transform_of_a_transform_is_right_or_raises_as_the_direct_call(outer, inner):
    w = np.array([0.4, -0.3, 0.8])
    f = INNER[inner]()
    needs_scalar = outer in ("grad", "value_and_grad", "hessian")
    try:
        result = OUTER[outer](f)(w)
    except (s2sad.NonScalarOutputError, s2sad.UnsupportedSyntaxError) as error:
        assert not TEMPORARY.search(str(error)) and HERE in str(error), str(error)
        if isinstance(error, s2sad.NonScalarOutputError):
            assert needs_scalar and inner not in SCALAR_OUTPUT, str(error)  # as grad called directly
            assert HERE in str(error), str(error)  # the user's file, not generated code
        return
    assert not needs_scalar or inner in SCALAR_OUTPUT, f"{outer}({inner}) returned {result!r}, JAX raises"
    if outer == "vjp":  # one pullback of ones: the sum of the rows of the Jacobian
        expected = (
            sum(_numerical_jacobian(lambda v: np.sum(f(v)[part]), w) for part in range(2))
            if isinstance(f(w), tuple)
            else _numerical_jacobian(lambda v: np.sum(f(v)), w)
        )
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
        return
    if inner == "value_and_grad":  # a tuple output: a tuple of derivatives, of the value and of the gradient
        for part, got in enumerate(result):
            expected = _numerical_jacobian(lambda v: f(v)[part], w)
            if outer == "jvp":
                expected = expected @ np.arange(1.0, 4.0)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        return
    plain = f  # the inner transform, run directly: the outer derivative must be its derivative
    if outer == "hessian":
        expected = _numerical_jacobian(lambda v: _numerical_jacobian(plain, v, 1e-4), w, 1e-4)
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)
        return
    jacobian = _numerical_jacobian(plain, w)
    if outer == "jvp":
        jacobian = jacobian @ np.arange(1.0, 4.0)
    np.testing.assert_allclose(result, jacobian, rtol=1e-5, atol=1e-6)


@s2sad.grad
def grad_decorated(w):
    return np.sum(np.tanh(w) ** 2)


def test_the_hessian_of_a_grad_decorated_function_raises_as_grad_does():
    with pytest.raises(s2sad.NonScalarOutputError) as error:
        s2sad.hessian(grad_decorated)(X)
    assert_user_words(error, HERE, "`s2sad.grad(grad_decorated)`", "def grad_decorated")
    with pytest.raises(s2sad.NonScalarOutputError):
        s2sad.grad(grad_decorated)(X)


def test_the_readme_tour_hessian_is_the_hessian_of_the_loss():
    def tour_loss(w):
        return np.sum(np.tanh(w) ** 2)

    x = np.array([0.3, -0.2])
    h = s2sad.hessian(tour_loss)(x)
    expected = _numerical_jacobian(lambda v: _numerical_jacobian(tour_loss, v, 1e-4), x, 1e-4)
    np.testing.assert_allclose(h, expected, rtol=1e-4, atol=1e-6)


# -- 4. cache keys follow what the code reads ---------------------------------------------------------------

MODULE = """
import numpy as np


def g(x):
    return {body}


def f(x):
    return 3.0 * g(x)
"""


def _load(tmp_path, name, body):
    (tmp_path / f"{name}.py").write_text(MODULE.format(body=body))
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_equal_code_in_two_modules_compiles_apart(tmp_path):
    sin_module = _load(tmp_path, "s2sad_contract_sin", "np.sin(x)")
    square_module = _load(tmp_path, "s2sad_contract_square", "x * x")
    assert sin_module.f.__code__ == square_module.f.__code__  # Python compares code by text, not globals
    x = 0.7
    for module, value, first, second in (
        (sin_module, 3 * np.sin(x), 3 * np.cos(x), -3 * np.sin(x)),
        (square_module, 3 * x * x, 6 * x, 6.0),
    ):
        assert s2sad.jvp(module.f, (x,), (1.0,)) == (pytest.approx(value), pytest.approx(first))
        out, pullback = s2sad.vjp(module.f, x)
        assert out == pytest.approx(value) and pullback(1.0)[0] == pytest.approx(first)
        assert s2sad.grad(module.f)(x) == pytest.approx(first)
        assert s2sad.grad(s2sad.grad(module.f))(x) == pytest.approx(second)
        assert s2sad.jacfwd(s2sad.grad(module.f))(x) == pytest.approx(second)
        check_grads(module.f, (x,))


def test_a_rebound_callee_compiles_again_in_jvp_and_vjp(tmp_path):
    module = _load(tmp_path, "s2sad_contract_rebound", "np.sin(x)")
    x = 0.4
    assert s2sad.jvp(module.f, (x,), (1.0,))[1] == pytest.approx(3 * np.cos(x))
    module.g = lambda x: x**3
    assert s2sad.jvp(module.f, (x,), (1.0,)) == (pytest.approx(3 * x**3), pytest.approx(9 * x * x))
    assert s2sad.vjp(module.f, x)[1](1.0)[0] == pytest.approx(9 * x * x)


# -- 5. messages speak the user's language -----------------------------------------------------------------


class Model:
    def __init__(self, scale):
        self.W = np.array([[1.0, 0.5, 0.0], [0.0, 2.0, -1.0]])
        self.b = scale


MODEL = Model(0.5)


def with_settings(x, opts):
    return np.sum(x ** opts.get("power", 1)) * opts.get("scale") + len(opts.keys())


def with_item(x):
    return np.sum(x * x).item() * 3.0 + x[1:2].item() ** 2 + np.sin(x[0]).item()


def with_model_argument(x, model):
    return np.sum(np.tanh(model.W @ x)) * model.b


def with_global_model(x):
    return np.sum(np.tanh(MODEL.W @ x)) + MODEL.b * x[0]


def make_closure(model):
    def closure(x):
        return np.sum((model.W @ x) ** 2) * model.b

    return closure


def test_reads_of_constants_work_in_both_modes():
    settings = {
        "power": 2,
        "scale": 1.5,
    }  # not differentiated: jvp would differentiate every numeric argument
    check_grads(lambda x: with_settings(x, settings), (X,))
    g = s2sad.grad(with_settings)(X, settings)
    np.testing.assert_allclose(g, 2 * X * 1.5)
    check_grads(with_item, (X,))
    check_grads(with_model_argument, (X, Model(0.7)), wrt=[0])
    check_grads(with_global_model, (X,))
    check_grads(make_closure(Model(2.0)), (X,))
    g = s2sad.grad(with_item)(X)
    np.testing.assert_allclose(g, 6 * X + np.array([np.cos(X[0]), 2 * X[1], 0.0]))


def attribute_of_differentiated(x):
    y = np.sin(x) * 2.0
    return y.W


def get_of_differentiated(p, x):
    return p.get("w") * x


def item_with_index(x):
    return np.sin(x).item(1)


@pytest.mark.parametrize(
    "function, args, line, says",
    [
        (
            attribute_of_differentiated,
            (X,),
            "return y.W",
            "`.W` reads an attribute of a differentiated value",
        ),
        (
            get_of_differentiated,
            ({"w": 2.0}, 3.0),
            'return p.get("w") * x',
            "`.get(...)` of a differentiated dict",
        ),
        (item_with_index, (X,), "return np.sin(x).item(1)", "`a.item()`"),
    ],
)
def test_reads_of_differentiated_values_without_rules_are_errors_at_the_users_line(
    function, args, line, says
):
    with pytest.raises(s2sad.S2sadError) as error:
        s2sad.grad(function)(*args)
    assert_user_words(error, HERE, line, says)
    assert "hint:" in str(error.value)


# -- 6. NamedTuples and dataclasses are trees -----------------------------------------------------------------


class Layer(NamedTuple):
    W: np.ndarray
    b: float


@dataclasses.dataclass
class DenseLayer:
    W: np.ndarray
    b: float


def dense(layer, x):
    return np.tanh(layer.W @ x + layer.b)


def record_loss(layer, x):
    return np.sum(dense(layer, x) ** 2) + layer.b**2


def two_records(params, x):
    h = dense(params["first"], x)
    return np.sum(h * params["second"].W[:, 0]) * params["second"].b


@pytest.mark.parametrize("kind", [Layer, DenseLayer])
def test_namedtuples_and_dataclasses_are_trees_in_both_modes(kind):
    layer = kind(np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.4]]), 0.1)
    g = s2sad.grad(record_loss)(layer, X)
    assert type(g) is kind and g.W.shape == (2, 3)
    check_grads(record_loss, (layer, X))
    check_grads(two_records, ({"first": layer, "second": kind(layer.W * 2.0, -0.3)}, X))
    jacobian = s2sad.jacfwd(record_loss)(layer, X)
    assert type(jacobian) is kind
    np.testing.assert_allclose(jacobian.W, g.W)
    pulled, _ = s2sad.vjp(record_loss, layer, X)[1](1.0)
    assert type(pulled) is kind and pulled.b == pytest.approx(g.b)
    with pytest.raises(s2sad.ArgumentError) as error:
        s2sad.jvp(record_loss, (layer, X), ({"W": layer.W, "b": 0.0}, X))
    assert_user_words(error, "structure", f"{kind.__name__}(W=*, b=*)")


def test_a_record_not_differentiated_is_a_constant():
    layer = Layer(np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.4]]), 0.1)
    g = s2sad.grad(record_loss, argnums=1)(layer, X)
    check_grads(lambda x: record_loss(layer, x), (X,))
    expected = s2sad.grad(lambda x: np.sum(np.tanh(layer.W @ x + 0.1) ** 2))(X)
    np.testing.assert_allclose(g, expected)


def fill(v):
    out = np.zeros(2)
    out[0] = v
    return out


def aliased_fill(x):
    total = 0.0
    for i in range(2):
        a = fill(x * i)
        b = a
        b[1] = 2.0 * x
        total = total + np.sum(a * b)
    return total


def test_a_message_names_an_inlined_helpers_variables_as_the_helper_wrote_them():
    try:
        g = s2sad.grad(aliased_fill)(0.5)
    except s2sad.S2sadError as error:  # if refused: only names the user wrote
        text = str(error)
        assert not TEMPORARY.search(text), text
        source = open(__file__).read()
        for name in re.findall(r"`(\w+)`", text):
            assert re.search(rf"\b{name}\b", source), f"`{name}` is not a name in the user's code: {text}"
    else:  # if differentiated: right
        assert g == pytest.approx(float(numerical_jvp(aliased_fill, (0.5,), (1.0,))), rel=1e-6)


def test_messages_never_name_temporaries():
    from s2sad.errors import _user_words

    assert _user_words("`_t2.item(...)` calls `_t15`") == "`.item(...)` calls a computed value"
    error = s2sad.UnsupportedSyntaxError("`_t3` is read", "f.py", 3, "y = x", hint="assign `_t3` first")
    assert not TEMPORARY.search(str(error)) and "f.py:3" in str(error)


def loop_over_settings(x, settings):
    total = 0.0
    for name, value in settings.items():
        total = total + value * np.sum(x**2)
    for value in settings.values():
        total = total + value
    return total + len(list(settings.keys()))


def test_loops_over_a_constant_dicts_views_work():
    settings = {"a": 0.5, "b": 2.0}
    check_grads(lambda x: loop_over_settings(x, settings), (X,))
    np.testing.assert_allclose(s2sad.grad(loop_over_settings)(X, settings), 2 * 2.5 * X)


def _scaled_by_factorial(x, n):
    return math.factorial(n) * x**2 + math.lgamma(n + 1.0) * x


def test_jvp_holds_an_int_argument_constant_and_refuses_a_nonzero_tangent_for_it():
    # the int is a constant: calls of it need no rule, and its tangent must be None or zero
    for zero in (None, 0, 0.0):
        value, tangent = s2sad.jvp(_scaled_by_factorial, (0.7, 4), (1.0, zero))
        assert value == _scaled_by_factorial(0.7, 4)
        h = 1e-6
        assert (
            abs(tangent - (_scaled_by_factorial(0.7 + h, 4) - _scaled_by_factorial(0.7 - h, 4)) / (2 * h))
            < 1e-6
        )
    with pytest.raises(s2sad.ArgumentError, match=r"argument 1 \(`n`\) is an int"):
        s2sad.jvp(_scaled_by_factorial, (0.7, 4), (1.0, 1.0))


GLOBALS_MODULE = """
import numpy as np

KICKS = np.array([1.0, 2.0, 3.0])
SCALE = 2.0


def energy(x):
    return np.sum(KICKS * x**2) * SCALE
"""


def test_a_transform_sees_module_globals_rebound_or_changed_between_calls(tmp_path):
    (tmp_path / "s2sad_contract_globals.py").write_text(GLOBALS_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("s2sad_contract_globals")
    finally:
        sys.path.remove(str(tmp_path))
    x = np.array([0.5, -1.0, 2.0])
    gradient = s2sad.grad(module.energy)
    value_and_gradient = s2sad.value_and_grad(module.energy)
    for change in (
        lambda: None,
        lambda: setattr(module, "KICKS", np.array([10.0, 0.0, -1.0])),  # rebound
        lambda: setattr(module, "SCALE", 0.5),
        lambda: module.KICKS.__setitem__(1, 7.0),  # changed in place
    ):
        change()
        expected = 2.0 * module.KICKS * x * module.SCALE
        np.testing.assert_allclose(gradient(x), expected, rtol=1e-14)
        value, g = value_and_gradient(x)
        np.testing.assert_allclose(g, expected, rtol=1e-14)
        assert value == module.energy(x)
        np.testing.assert_allclose(
            s2sad.jvp(module.energy, (x,), (np.ones(3),))[1], np.sum(expected), rtol=1e-14
        )
