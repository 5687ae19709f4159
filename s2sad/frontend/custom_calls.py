"""Calls of functions with user rules become calls of run-time helpers that run the rules.

`z = f(a, b)` with `f` a `custom_vjp` function ->
`_f_fwd1 = _rt.custom_vjp_forward(f, a, b)` and `z = _rt.custom_vjp_value(f, _f_fwd1, a, b)`;
with `f` a `custom_jvp` function -> `z = _rt.custom_jvp_call(f, a, b)`. The inliner hands such
calls here instead of inlining them; `s2sad.rules.custom` gives each helper call its rule.
"""

import ast
import inspect
import re

from .. import runtime
from ..analyses.primitives import _UNRESOLVED, is_global, resolve
from ..astutil import clone
from ..errors import ArgumentError, NoDerivativeRuleError, UnsupportedSyntaxError
from ..runtime.custom import definition_of


def _runtime_helper(name):
    return ast.Attribute(value=ast.Name("_rt", ast.Load()), attr=name, ctx=ast.Load())


def rewrite_call(inliner, stmt):
    """`z = f(a, b)` with custom rules for `f` -> the helper calls that use them, else None.

    custom_vjp rules: `_f_fwd1 = _rt.custom_vjp_forward(f, a, b)` (not differentiable,
    the forward sweep keeps it) and `z = _rt.custom_vjp_value(f, _f_fwd1, a, b)`.
    custom_jvp rules: `z = _rt.custom_jvp_call(f, a, b)`. The arguments are bound to
    positions (keywords and defaults) so the templates can be generated per arity.
    """
    call = stmt.value
    if not (isinstance(call, ast.Call) and is_global(call.func, inliner.globals)):
        return None
    obj = resolve(call.func, inliner.namespace)
    definition = definition_of(obj) if obj is not _UNRESOLVED else None
    if definition is None:
        return None
    parsed = inliner.parsed
    if definition.fwd is None and definition.jvp is None:
        raise parsed.error(
            NoDerivativeRuleError,
            f"{definition.describe()} has no derivative rule",
            stmt,
            hint=definition.missing_rule_hint(),
        )
    if inliner.namespace.setdefault("_rt", runtime) is not runtime:
        raise parsed.error(
            UnsupportedSyntaxError,
            f"the name `_rt` is bound to {inliner.namespace['_rt']!r}; "
            "derivative code needs it for s2sad.runtime",
            stmt,
            hint="rename your `_rt`",
        )
    inliner.globals.add("_rt")
    args = _positional_arguments(definition, call, inliner, stmt)
    count = len(args)
    bad = [i for i in definition.nondiff_argnums if not -count <= i < count]
    if bad:
        raise parsed.error(
            ArgumentError,
            f"nondiff_argnums={definition.nondiff_argnums} of "
            f"{definition.describe()} is out of range for a call with {count} arguments",
            stmt,
            hint=f"use positions from 0 to {count - 1}",
        )
    callee = call.func
    target = stmt.targets[0].id
    if definition.fwd is not None:
        stem = re.sub(r"\W", "_", definition.__name__.rsplit(".", 1)[-1])
        key = ("custom", stem)
        inliner.counts[key] = inliner.counts.get(key, 0) + 1
        record = inliner.unique(f"_{stem}_fwd{inliner.counts[key]}")
        forward = ast.Call(_runtime_helper("custom_vjp_forward"), [clone(callee)] + clone(args), [])
        value = ast.Call(
            _runtime_helper("custom_vjp_value"),
            [clone(callee), ast.Name(record, ast.Load())] + clone(args),
            [],
        )
        statements = [
            ast.Assign(targets=[ast.Name(record, ast.Store())], value=forward),
            ast.Assign(targets=[ast.Name(target, ast.Store())], value=value),
        ]
    else:
        value = ast.Call(_runtime_helper("custom_jvp_call"), [clone(callee)] + args, [])
        statements = [ast.Assign(targets=[ast.Name(target, ast.Store())], value=value)]
    return [ast.copy_location(s, stmt) for s in statements]


def _positional_arguments(definition, call, inliner, stmt):
    """The call's arguments in parameter order, up to the last one the call gives (the rule's
    primals); a default skipped before a later argument is filled in for Python functions."""
    parsed = inliner.parsed
    name = definition.__name__
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise parsed.error(
            UnsupportedSyntaxError,
            f"`*args` / `**kwargs` in a call of `{name}`",
            stmt,
            hint="pass the arguments one by one",
        )
    keywords = {k.arg: k.value for k in call.keywords}
    try:
        signature = inspect.signature(definition.fun)
    except (TypeError, ValueError):
        if keywords:
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{name}` has no signature to bind keywords to",
                stmt,
                hint="pass its arguments by position",
            ) from None
        return list(call.args)
    try:
        bound = signature.bind(*call.args, **keywords)
    except TypeError as exc:
        raise parsed.error(UnsupportedSyntaxError, f"cannot call `{name}`: {exc}", stmt) from None
    python = inspect.isfunction(definition.fun)
    # the rules registered for a library function take the arguments the call gives (logsumexp(z): one),
    # unless nondiff_argnums names a later one; a custom_vjp / custom_jvp function's take all its parameters
    given = sum(1 for p in signature.parameters.values() if p.name in bound.arguments)
    trim = getattr(definition, "decorator", None) == "registered" and all(
        i < given for i in definition.nondiff_argnums if i >= 0
    )
    args, gap = [], None
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            args.extend(bound.arguments.get(param.name, ()))
            continue
        if param.kind in (param.KEYWORD_ONLY, param.VAR_KEYWORD):
            if param.name in bound.arguments:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}` is called with the keyword-only " f"argument `{param.name}`",
                    stmt,
                    hint="custom functions take positional parameters in differentiated code",
                )
            continue
        if trim and not any(later in bound.arguments for later in _after(signature, param)):
            break  # a registered library function (`defvjp(logsumexp)`): the primals are the call's own
        if param.name in bound.arguments:
            if gap is not None:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}` is called without `{gap}` but with a later " "argument",
                    stmt,
                    hint="pass its arguments by position",
                )
            args.append(bound.arguments[param.name])
        elif python and param.default is not param.empty:
            args.append(_default_atom(param.default, f"_{name}_default_{param.name}", inliner))
        else:
            gap = param.name
    return args


def _after(signature, param):
    """The names of `param` and the positional parameters after it."""
    names = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return names[names.index(param.name) :]


def _default_atom(value, alias, inliner):
    if isinstance(value, (int, float, bool, str, type(None))):
        return ast.Constant(value)
    alias = inliner.unique(re.sub(r"\W", "_", alias))
    inliner.namespace[alias] = value
    inliner.globals.add(alias)
    return ast.Name(alias, ast.Load())
