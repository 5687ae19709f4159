"""Callables users hand to the transforms (s2sad/api/callables.py): methods, functools.partial,
keyword-only and **kwargs parameters, library functions without rules, and odd arguments.

Every gradient is checked against central differences; where both modes apply, forward (jvp) and
reverse (grad / vjp) are checked, with the dot-product test (`check_grads`).
"""

import functools
import os
import subprocess
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

import s2sad
from s2sad.testing import check_grads

ROOT = Path(__file__).resolve().parents[1]


def central(f, x, step=1e-6):
    """The gradient of scalar `f` at the array or float `x` by central differences."""
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[index] = step
        g[index] = (f(x + e) - f(x - e)) / (2 * step)
    return g if x.shape else float(g)


class Regression:
    """A model whose loss is a method: `self` holds arrays and calls its other methods."""

    def __init__(self, W, l2):
        self.W = W
        self.l2 = l2

    def predict(self, x):
        return np.tanh(self.W @ x)

    def penalty(self, x):
        return self.l2 * np.sum(x * x)

    def loss(self, x, y):
        return np.sum((self.predict(x) - y) ** 2) + self.penalty(x)

    @s2sad.grad
    def loss_grad(self, x, y):
        return np.sum((self.predict(x) - y) ** 2) + self.penalty(x)

    @functools.partial(s2sad.grad, argnums=(0, 1))
    def both_grads(self, x, y):
        return np.sum((self.predict(x) - y) ** 2) + self.penalty(x)

    @s2sad.value_and_grad
    def loss_and_grad(self, x, y):
        return self.loss(x, y)


RNG = np.random.default_rng(3)
MODEL = Regression(RNG.normal(size=(3, 2)), 0.3)
X, Y = RNG.normal(size=2), RNG.normal(size=3)


def test_a_method_decorated_in_its_class_differentiates_after_self():
    expected = central(lambda x: MODEL.loss(x, Y), X)
    np.testing.assert_allclose(MODEL.loss_grad(X, Y), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(Regression.loss_grad(MODEL, X, Y), expected, rtol=1e-6, atol=1e-8)
    gx, gy = MODEL.both_grads(X, Y)
    np.testing.assert_allclose(gx, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gy, central(lambda y: MODEL.loss(X, y), Y), rtol=1e-6, atol=1e-8)
    value, g = MODEL.loss_and_grad(X, Y)
    assert np.isclose(value, MODEL.loss(X, Y))
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)


def test_a_bound_method_in_every_transform():
    check_grads(MODEL.loss, (X, Y))  # jvp and vjp of the bound method, against central differences
    expected = central(lambda x: MODEL.loss(x, Y), X)
    np.testing.assert_allclose(s2sad.grad(MODEL.loss)(X, Y), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2sad.grad(Regression.loss)(MODEL, X, Y), expected, rtol=1e-6, atol=1e-8)
    jacobian = central(lambda x: MODEL.predict(x)[1], X)
    np.testing.assert_allclose(s2sad.jacfwd(MODEL.predict)(X)[1], jacobian, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2sad.jacrev(MODEL.predict)(X)[1], jacobian, rtol=1e-6, atol=1e-8)
    hessian = np.array([central(lambda x: s2sad.grad(MODEL.loss)(x, Y)[i], X) for i in range(2)])
    np.testing.assert_allclose(s2sad.hessian(MODEL.loss)(X, Y), hessian, rtol=1e-5, atol=1e-7)


def test_self_is_read_when_the_code_runs():
    model = Regression(RNG.normal(size=(3, 2)), 0.1)
    first = model.loss_grad(X, Y)
    model.W = model.W * -2.0  # a training step changes the object: the next gradient sees it
    np.testing.assert_allclose(model.loss_grad(X, Y), central(lambda x: model.loss(x, Y), X), rtol=1e-6)
    assert not np.allclose(first, model.loss_grad(X, Y))
    other = Regression(RNG.normal(size=(3, 2)), 0.5)  # another object, its own derivative
    np.testing.assert_allclose(other.loss_grad(X, Y), central(lambda x: other.loss(x, Y), X), rtol=1e-6)


def data_loss(w, data, target, *, scale=1.0, **options):
    residual = data @ w - target
    return scale * np.sum(residual**2) + options.get("l2", 0.0) * np.sum(w * w)


DATA, TARGET, W = RNG.normal(size=(4, 2)), RNG.normal(size=4), RNG.normal(size=2)


def test_a_partial_binds_constants_and_argnums_count_what_remains():
    bound = functools.partial(data_loss, data=DATA, target=TARGET)
    expected = central(lambda w: data_loss(w, DATA, TARGET), W)
    np.testing.assert_allclose(s2sad.grad(bound)(W), expected, rtol=1e-6, atol=1e-8)
    check_grads(bound, (W,))
    positional = functools.partial(data_loss, W)  # argnums=0 is now `data`
    np.testing.assert_allclose(
        s2sad.grad(positional)(DATA, TARGET), central(lambda d: data_loss(W, d, TARGET), DATA), rtol=1e-6
    )
    value, g = s2sad.value_and_grad(bound)(W)
    assert np.isclose(value, data_loss(W, DATA, TARGET))
    (pulled,) = s2sad.vjp(bound, W)[1](1.0)
    np.testing.assert_allclose(pulled, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2sad.hessian(bound)(W), 2 * DATA.T @ DATA, rtol=1e-10)
    with pytest.raises(s2sad.ArgumentError, match="argnums=1 is out of range"):
        s2sad.grad(bound, argnums=1)(W)  # `data` was bound by keyword: a constant, not an argument


def test_a_new_partial_per_batch_reuses_the_compiled_derivative():
    def make(batch):
        return functools.partial(data_loss, data=DATA * batch, target=TARGET)

    s2sad.grad(make(1.0))(W)
    before = len(s2sad.cache.COMPILED)
    for batch in (2.0, 3.0, 4.0):
        g = s2sad.grad(make(batch))(W)
        np.testing.assert_allclose(g, central(lambda w: data_loss(w, DATA * batch, TARGET), W), rtol=1e-6)
    assert len(s2sad.cache.COMPILED) == before


def test_keyword_arguments_are_constants():
    for kwargs in ({}, {"scale": 2.5}, {"scale": 0.5, "l2": 0.25}):
        expected = central(lambda w: data_loss(w, DATA, TARGET, **kwargs), W)
        np.testing.assert_allclose(s2sad.grad(data_loss)(W, DATA, TARGET, **kwargs), expected, rtol=1e-6)
        g = s2sad.jacrev(data_loss)(W, DATA, TARGET, **kwargs)
        np.testing.assert_allclose(g, expected, rtol=1e-6)
    # forward mode: the keywords bound with a partial, the primals positional
    check_grads(functools.partial(data_loss, scale=3.0, l2=0.5), (W, DATA, TARGET))


def scaled_sum(*xs, weight=1.0):
    total = 0.0
    for x in xs:
        total = total + weight * np.sin(x)
    return total


def test_star_args_index_like_positional_arguments():
    g0, g2 = s2sad.grad(scaled_sum, argnums=(0, 2))(0.1, 0.2, 0.3, weight=2.0)
    assert np.isclose(g0, 2.0 * np.cos(0.1)) and np.isclose(g2, 2.0 * np.cos(0.3))
    check_grads(scaled_sum, (0.1, 0.2, 0.3))


class Holder:
    def __init__(self, scale):
        self.scale = scale

    def apply(self, x):
        return self.scale * np.sin(x)


def uses_object(x, holder):
    return np.sum(holder.apply(x) ** 2)


HOLDER = Holder(1.5)


def test_an_object_bound_by_a_partial_is_a_constant_whose_methods_are_inlined():
    x = np.array([0.3, -0.8])
    expected = central(lambda v: uses_object(v, HOLDER), x)
    np.testing.assert_allclose(
        s2sad.grad(functools.partial(uses_object, holder=HOLDER))(x), expected, rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        s2sad.grad(lambda v: uses_object(v, HOLDER))(x), expected, rtol=1e-6, atol=1e-8
    )
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="passed as an argument") as info:
        s2sad.grad(uses_object)(x, HOLDER)  # an argument's class is not known when compiling: refused
    assert "s2sad.grad(model.loss)" in str(info.value)


@pytest.mark.parametrize(
    "value, words",
    [
        (None, "argument 0 (`w`), which is None"),
        ("1.5", "argument 0 (`w`), which is a str ('1.5')"),
        (object(), "argument 0 (`w`), which is an object"),
        ([1.0, None], "whose leaf [1] is None"),
        ({"a": "x"}, "whose leaf ['a'] is a str ('x')"),
    ],
)
def test_odd_arguments_are_named_clearly(value, words):
    def f(w, b=1.0):
        return w * b

    with pytest.raises(s2sad.ArgumentError) as info:
        s2sad.grad(f)(value)
    assert words in str(info.value), str(info.value)
    assert "other value" not in str(info.value)


def test_vjp_refuses_none_and_strings_by_name():
    def f(x, flag):
        return x * 2.0

    with pytest.raises(s2sad.ArgumentError, match=r"argument 1 \(`flag`\) is a str \('on'\)"):
        s2sad.vjp(f, 1.0, "on")
    out, pullback = s2sad.vjp(functools.partial(f, flag="on"), 1.0)  # the hint: bind it
    assert pullback(1.0) == (2.0,)


LIBRARY = """\
import numpy as np
import s2sad
from scipy.special import logsumexp


def loss(w, x):
    z = x @ w
    return logsumexp(z) - z[0]


x = np.arange(6.0).reshape(3, 2) / 5
w = np.array([0.3, -0.2])
try:
    s2sad.grad(loss)(w, x)
except s2sad.NoDerivativeRuleError as error:
    print("REFUSED", error.filename, error.lineno)
    print(error.hint)


# what the hint says, followed to the letter
@s2sad.defvjp(logsumexp)
def logsumexp_bwd(primals, g):
    (a,) = primals
    return (g * np.exp(a - logsumexp(a)),)


from s2sad.testing import check_grads

g = s2sad.grad(loss)(w, x)
e = np.eye(2) * 1e-6
fd = np.array([(loss(w + d, x) - loss(w - d, x)) / 2e-6 for d in e])
print("ERROR", np.max(np.abs(g - fd)))
"""


def test_a_library_function_without_a_rule_is_refused_at_the_users_line_with_a_hint_that_works(tmp_path):
    pytest.importorskip("scipy")
    script = tmp_path / "user_script.py"
    script.write_text(LIBRARY)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S2SAD_")}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**environment, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"REFUSED {script} 8", done.stdout  # the user's call line, not scipy's file
    assert "`@s2sad.defvjp(logsumexp)` on `def logsumexp_bwd(primals, g): return (" in lines[1]
    assert float(lines[-1].split()[1]) < 1e-8, done.stdout


def test_a_stdlib_function_is_not_inlined_but_refused_at_the_call():
    def mean_of(x):
        return statistics.fmean([x, 2.0 * x]) * x

    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.grad(mean_of)(0.5)
    assert info.value.filename == __file__
    assert "statistics.fmean([x, 2.0 * x])" in info.value.code
    assert "s2sad.defvjp(statistics.fmean)" in info.value.hint


def test_the_tour_hessian_of_a_gradient_is_refused_not_miscomputed():
    def loss(w):
        return np.sum(np.tanh(w) ** 2)

    with pytest.raises(s2sad.NonScalarOutputError) as info:
        s2sad.hessian(s2sad.grad(loss))(np.array([0.3, -0.2]))
    assert (
        "`s2sad.hessian(loss)`" in info.value.hint and "`s2sad.jacfwd(s2sad.grad(loss))`" in info.value.hint
    )
    assert np.isclose(  # a scalar gradient's Hessian: the third derivative
        s2sad.hessian(s2sad.grad(np.tanh))(0.4), central(lambda t: s2sad.grad(s2sad.grad(np.tanh))(t), 0.4)
    )


class Network:
    """A callable model: `grad(net)` differentiates `net.__call__`."""

    def __init__(self, W):
        self.W = W

    def __call__(self, x):
        return np.sum(np.tanh(self.W @ x) ** 2)


def test_a_callable_object_is_its_call_method():
    net = Network(RNG.normal(size=(3, 2)))
    np.testing.assert_allclose(s2sad.grad(net)(X), central(net, X), rtol=1e-6, atol=1e-8)
    check_grads(net, (X,))
    np.testing.assert_allclose(
        s2sad.hessian(net)(X),
        np.array([central(lambda x: s2sad.grad(net)(x)[i], X) for i in range(2)]),
        rtol=1e-5,
    )


def test_a_transform_of_a_method_is_not_differentiated_again_silently():
    """Its code depends on the call (which keywords, which object): differentiating it again is
    refused at the user's line, never computed from the function it wraps."""
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="cannot be differentiated again") as info:
        s2sad.grad(s2sad.grad(MODEL.loss))(X, Y)
    assert info.value.filename == __file__
    with pytest.raises(s2sad.UnsupportedSyntaxError, match="cannot be differentiated again"):
        s2sad.jvp(MODEL.loss_grad, (X, Y), (X, Y))
