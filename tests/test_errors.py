"""Bad input gets an s2sad error naming the user's file, line and code, and a hint."""

import math

import numpy as np
import pytest

import s2sad

HERE = __file__.rsplit("/", 1)[-1]


def generator(x):
    yield x * 2.0


async def coroutine(x):
    return x


COUNTER = 0


def global_write(x):
    global COUNTER
    COUNTER = COUNTER + 1
    return x * 2.0


def unsupported_statement(x):
    with open("f") as handle:
        handle.read()
    return x


def vector_output(x):
    return np.sin(x)


def no_rule(x):
    y = np.fft.fft(x)
    return np.sum(np.abs(y))


def helper_without_source_call(x):
    return math.gamma(x)


def _assert_names_user_code(err, needle):
    text = str(err)
    assert HERE in text, text
    assert needle in text, text
    assert "hint:" in text, text


def test_generator_is_rejected():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(generator)(1.0)
    _assert_names_user_code(info.value, "yield x * 2.0")
    assert info.value.lineno == generator.__code__.co_firstlineno + 1


def test_async_function_is_rejected():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(coroutine)(1.0)
    _assert_names_user_code(info.value, "async def coroutine")


def test_global_write_is_rejected():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(global_write)(1.0)
    _assert_names_user_code(info.value, "global COUNTER")


def test_unsupported_statement():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(unsupported_statement)(1.0)
    _assert_names_user_code(info.value, 'with open("f") as handle:')


def test_non_scalar_output():
    with pytest.raises(s2sad.NonScalarOutputError) as info:
        s2sad.grad(vector_output)(np.ones(3))
    _assert_names_user_code(info.value, "return np.sin(x)")
    assert "vjp" in str(info.value)


def test_argnums_out_of_range():
    with pytest.raises(s2sad.ArgumentError, match="argnums=3 is out of range"):
        s2sad.grad(vector_output, argnums=3)(1.0)


def test_no_derivative_rule_names_function_and_how_to_register():
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.grad(no_rule)(np.ones(4))
    _assert_names_user_code(info.value, "y = np.fft.fft(x)")
    assert "np.fft.fft" in str(info.value)
    # the rule to register, in the shape to write it
    assert "`@s2sad.defvjp(np.fft.fft)` on `def fft_bwd(primals, g): return (" in info.value.hint
    assert "`@s2sad.defjvp(np.fft.fft)`" in info.value.hint and "docs/rules.md" in info.value.hint


def test_builtin_without_rule():
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        s2sad.grad(helper_without_source_call)(1.5)
    _assert_names_user_code(info.value, "math.gamma")


def test_function_without_source():
    namespace = {}
    exec("def made(x):\n    return x * x\n", namespace)
    with pytest.raises(s2sad.SourceUnavailableError) as info:
        s2sad.grad(namespace["made"])(1.0)
    assert "hint:" in str(info.value)


def test_builtin_callable_is_rejected_cleanly():
    # a callable with a rule (`math.sin`) is transformed as in JAX; one with a rule but no fixed
    # arity, or with no rule, has no Python source to read
    assert s2sad.grad(math.sin)(1.0) == math.cos(1.0)
    with pytest.raises(s2sad.SourceUnavailableError):
        s2sad.grad(math.hypot)(3.0, 4.0)
    with pytest.raises(s2sad.SourceUnavailableError):
        s2sad.grad(math.gamma)(1.5)


def test_every_error_is_an_s2sad_error():
    for cls in (
        s2sad.UnsupportedSyntaxError,
        s2sad.NoDerivativeRuleError,
        s2sad.NonScalarOutputError,
        s2sad.ArgumentError,
        s2sad.SourceUnavailableError,
    ):
        assert issubclass(cls, s2sad.S2sadError)


def aliasing(x):
    a = np.zeros(3)
    b = a
    b[0] = x
    return np.sum(a) * x + np.sum(b)


def test_aliased_in_place_write_is_rejected():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(aliasing)(1.0)
    _assert_names_user_code(info.value, "b = a")
    assert ".copy()" in str(info.value)


def _sorts_in_place(v):
    a = np.array([v, 2.0 * v])
    a.sort()
    return a[0]


def _calls_a_helper_that_sorts(x):
    return _sorts_in_place(x) * 2.0


def test_method_statement_in_a_helper_names_the_helpers_line():
    """A method called for its effect in an inlined helper was reported at the inliner's made-up line
    (10000002), with no code: the origins of inlined lines were set after the check ran."""
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(_calls_a_helper_that_sorts)(1.0)
    assert info.value.lineno == _sorts_in_place.__code__.co_firstlineno + 2
    assert info.value.code == "a.sort()"


def returns_nothing(x):
    y = x * 2.0
    if y > 1.0:
        return


def only_in_a_helper(x):
    def inner(v):
        return v * 2.0

    z = inner(x)


@pytest.mark.parametrize("function", [returns_nothing, only_in_a_helper])
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jvp", "vjp"])
def test_function_returning_nothing_is_refused_at_its_def(function, transform):
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        if transform == "jvp":
            s2sad.jvp(function, (1.0,), (1.0,))
        elif transform == "vjp":
            s2sad.vjp(function, 1.0)
        else:
            getattr(s2sad, transform)(function)(1.0)
    _assert_names_user_code(info.value, f"def {function.__name__}(x):")
    assert "returns nothing" in str(info.value) and "return" in info.value.hint
    assert info.value.lineno == function.__code__.co_firstlineno


def tuple_of_generator(x, xs):
    return np.sum(tuple(x * v for v in xs)[0])


def test_comprehension_list_error_does_not_name_the_compilers_list():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(tuple_of_generator)(1.0, [1.0, 2.0])
    _assert_names_user_code(info.value, "tuple(x * v for v in xs)")
    assert "_list" not in str(info.value) and "comprehension or generator" in str(info.value)


def nudge(state, dt):
    state[0] += dt


def uses_nudge(x):
    s = np.array([x, 1.0])
    nudge(s, 0.1)
    return s[0] ** 2


def test_helper_writing_its_argument_is_named_in_the_helpers_words():
    with pytest.raises(s2sad.UnsupportedSyntaxError) as info:
        s2sad.grad(uses_nudge)(1.0)
    _assert_names_user_code(info.value, "state[0] += dt")
    assert "`state[0]`" in str(info.value) and "nudge1" not in str(info.value)


@pytest.mark.parametrize("mode", [[1.0, 2.0], np.ones(2), 3.0])
def test_source_with_arguments_where_the_mode_goes(mode):
    with pytest.raises(s2sad.ArgumentError, match=r"args=\(\.\.\.\)"):
        s2sad.source(vector_output, mode)
    with pytest.raises(s2sad.ArgumentError, match="mode must be 'forward'"):
        s2sad.source(vector_output, "backward")


def complex_value(x):
    z = x[0] + 1j * x[1]
    return abs(z * z) + np.real(z) * np.imag(z)


def interp_with_period(x):
    return np.interp(0.3, x, x * x, period=2.0)


@pytest.mark.parametrize("derivative", ["grad", "jvp"])
def test_a_complex_value_is_refused_at_the_users_line(derivative):
    # raised at run time by a helper of the derivative code (s2sad.rules.definitions' np.real):
    # the error names the user's line, not the definition's
    x = np.array([0.3, -0.7])
    with pytest.raises(s2sad.NoDerivativeRuleError) as info:
        if derivative == "grad":
            s2sad.grad(complex_value)(x)
        else:
            s2sad.jvp(complex_value, (x,), (x,))
    _assert_names_user_code(info.value, "return abs(z * z) + np.real(z) * np.imag(z)")
    assert "complex" in str(info.value) and "definitions.py" not in str(info.value)


def test_a_definitions_refusal_names_the_users_call():
    with pytest.raises(Exception) as info:
        s2sad.grad(interp_with_period)(np.array([0.1, 0.5, 0.9]))
    assert "definitions.py" not in str(info.value) and "np.interp(0.3, x, x * x, period=2.0)" in "".join(
        getattr(info.value, "__notes__", [])
    ) + str(info.value)
