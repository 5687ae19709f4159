"""The pipeline: function -> parse -> desugar -> normalize -> analyze -> transform -> exec.

Compiled derivatives are cached per (code object, mode, argnums, argument kinds)
so a changed function body (a new `__code__`) compiles again. Generated source
is registered with `linecache`, so tracebacks and `inspect.getsource` show it.

>>> import math
>>> def f(x):
...     return math.sin(x) * x
>>> compiled = compile_derivative(f, "reverse", (0,), ("float",))
>>> value, (dx,) = compiled.function(2.0)
>>> round(dx, 6) == round(math.cos(2.0) * 2.0 + math.sin(2.0), 6)
True
"""

import ast
import copy
import inspect
import itertools
import linecache
import math
from dataclasses import dataclass, field

import numpy as np

from . import kinds as K
from . import runtime
from .activity import analyze
from .codegen import format_source, to_source
from .desugar import DesugarError, desugar
from .errors import ArgumentError, NoDerivativeRuleError, S2sadError, UnsupportedSyntaxError
from .forward import forward_transform
from .frontend import parse_function
from .inline import inline_calls
from .normalize import normalize
from .optimize import drop_unused, fuse_accumulations, inline_single_use, optimize, propagate_copies_in_blocks
from .primitives import MissingRule
from .reverse import reverse_transform

_CACHE = {}
_COUNTER = itertools.count(1)
TEMPLATE_GLOBALS = {"np": np, "math": math, "_rt": runtime}


@dataclass
class Compiled:
    """A compiled derivative and its source."""

    function: object
    source: str
    mode: str
    output_kind: str
    params: list
    active_inputs: list
    extra: dict = field(default_factory=dict)


def _convert(parsed, exc, node):
    if isinstance(exc, S2sadError):
        return exc
    if isinstance(exc, DesugarError):
        return parsed.error(UnsupportedSyntaxError, str(exc), getattr(exc, "node", node), exc.hint)
    if isinstance(exc, MissingRule):
        name = exc.name
        return parsed.error(
            NoDerivativeRuleError,
            f"no derivative rule for `{name}`",
            node,
            hint=f"register one: `@s2sad.rules.tangent({name})` and `@s2sad.rules.adjoint({name})` "
            f"on template functions (docs/rules.md), or list it with "
            f"`s2sad.rules.nondifferentiable({name})` if it has no derivative",
        )
    if isinstance(exc, TypeError):
        return parsed.error(UnsupportedSyntaxError, f"unsupported call signature: {exc}", node,
                            hint="call the function with the arguments its derivative rule knows")
    return parsed.error(UnsupportedSyntaxError, f"{type(exc).__name__}: {exc}", node)


def prepare(function, input_kinds, active_inputs):
    """Parse and normalize `function`; returns (parsed, normalized tree, analysis)."""
    parsed = parse_function(function)
    for node in ast.walk(parsed.tree):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{type(node).__name__.lower()}` declarations are not supported: writing outer "
                "variables hides data flow from the derivative",
                node,
                hint="pass the value in as an argument and return the new value",
            )
    args = parsed.tree.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        raise parsed.error(UnsupportedSyntaxError, "only plain positional parameters are supported yet",
                           parsed.tree, hint="list the parameters one by one")
    params = [a.arg for a in args.args]
    try:
        tree = normalize(desugar(parsed.tree))
    except DesugarError as exc:
        raise _convert(parsed, exc, exc.node) from None
    tree, origins = inline_calls(parsed, tree)
    tree = optimize(tree, parsed.namespace)
    parsed.origins = origins
    kinds = dict(zip(params, input_kinds))
    active_names = {params[i] for i in active_inputs}

    def classify_error(exc, stmt):
        return _convert(parsed, exc, stmt)

    analysis = analyze(tree, parsed.namespace, kinds, active_names, classify_error=classify_error)
    _reject_array_aliases(parsed, tree, analysis)
    return parsed, tree, analysis


def _written_after(tree, copy_node, name):
    """Is `name` written in place by a statement that starts after `copy_node`'s line?"""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == name
            and getattr(node, "lineno", 0) >= copy_node.lineno
        ):
            return True
    return False


def _reject_array_aliases(parsed, tree, analysis):
    """`b = a` then `b[i] = v` changes `a` too; the derivative would treat them apart."""
    stores, reads = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
            stores.add(node.value.id)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)):
            continue
        if getattr(node.value, "_global", False):
            continue
        a, b = node.targets[0].id, node.value.id
        if not ({a, b} & stores) or analysis.kinds.get(b) not in (K.ARRAY, K.ANY):
            continue
        if a.startswith("_sequence") and a not in stores and not _written_after(tree, node, b):
            continue  # `for e in b:` reads a snapshot of b that nothing writes any more
        if reads.get(b, 0) > 1 and (a in analysis.active or b in analysis.active):
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{a} = {b}` makes `{a}` another name for the array `{b}`, and one of them is "
                "written in place: NumPy changes both, the derivative would not",
                node,
                hint=f"copy the array: `{a} = {b}.copy()`",
            )


def _describe(parsed):
    base = parsed.filename.rsplit("/", 1)[-1]

    def describe(lineno):
        if lineno in getattr(parsed, "origins", {}):
            return parsed.origins[lineno][2]
        if lineno == parsed.tree.lineno:
            return None  # the `def` line: prologue and epilogue code
        text = parsed.line(lineno)
        return f"{base}:{lineno}: {text}" if text else None

    return describe


def generate(function, mode, active_inputs, input_kinds):
    """Generate derivative source. Returns (parsed, {name: ast}, analysis)."""
    parsed, tree, analysis = prepare(function, input_kinds, active_inputs)
    params = [a.arg for a in tree.args.args]
    active = [params[i] for i in active_inputs]
    try:
        if mode == "forward":
            functions = {"jvp": forward_transform(tree, parsed.namespace, analysis.kinds, active, analysis)}
        elif mode == "grad" and _scalar_output(analysis):
            code = reverse_transform(tree, parsed.namespace, analysis.kinds, active, analysis)
            functions = {"grad": drop_unused(code.gradient, parsed.namespace)}
        else:
            code = reverse_transform(tree, parsed.namespace, analysis.kinds, active, analysis)
            functions = {"vjp": code.joint, "forward": code.forward, "backward": code.backward}
            # the three share statement nodes; the peepholes below rewrite nodes in place
            functions = {role: copy.deepcopy(node) for role, node in functions.items()}
        for node in functions.values():
            for _ in range(2):  # a propagated copy can leave `a = a`, dropped by the fusing pass
                propagate_copies_in_blocks(node)
                fuse_accumulations(node)
            inline_single_use(node)
    except S2sadError:
        raise
    except NotImplementedError as exc:
        raise parsed.error(NoDerivativeRuleError, f"`{exc}` has no {'reverse' if mode == 'grad' else mode}-mode rule", parsed.tree,
                           hint="register one with s2sad.rules.tangent / s2sad.rules.adjoint") from None
    return parsed, functions, analysis, params


def _output_kind(analysis):
    if isinstance(analysis.output, ast.Constant):
        return K.kind_of(analysis.output.value)
    if isinstance(analysis.output, ast.Name):
        return analysis.kinds.get(analysis.output.id)
    return K.OTHER


def _scalar_output(analysis):
    """A float output needs no run-time shape check, so `grad` can skip computing it."""
    return _output_kind(analysis) == K.FLOAT


def _namespace(parsed):
    namespace = dict(parsed.namespace)
    for name, value in TEMPLATE_GLOBALS.items():
        if namespace.setdefault(name, value) is not value:
            raise parsed.error(
                UnsupportedSyntaxError,
                f"the name `{name}` is bound to {namespace[name]!r}; derivative code needs it for "
                f"{getattr(value, '__name__', value)}",
                parsed.tree,
                hint=f"import {getattr(value, '__name__', name)} as `{name}` in this module",
            )
    return namespace


def header_for(parsed, mode, params, kinds, active):
    described = ", ".join(f"{p}: {kinds.get(p, 'any')}" for p in params)
    wrt = ", ".join(active)
    return (
        f"# {'reverse' if mode == 'grad' else mode}-mode derivative of {parsed.name} ({parsed.filename}:{parsed.first_line})\n"
        f"# generated by s2sad; specialized for {described}; differentiated w.r.t. {wrt}\n"
    )


def render(parsed, functions, analysis, params, mode, active, pretty):
    describe = _describe(parsed)
    kinds = analysis.kinds
    text = header_for(parsed, mode, params, kinds, active)
    for node in functions.values():
        text += "\n" + to_source(node, describe) + "\n"
    return format_source(text) if pretty else text


def compile_derivative(function, mode, active_inputs, input_kinds):
    """Compile (cached) the derivative of `function`; see the module docstring."""
    if not hasattr(function, "__code__"):
        parse_function(function)  # raises SourceUnavailableError with the reason
    key = (function.__code__, mode, tuple(active_inputs), tuple(input_kinds), id(function.__globals__))
    compiled = _CACHE.get(key)
    if compiled is not None:
        return compiled
    parsed, functions, analysis, params = generate(function, mode, active_inputs, input_kinds)
    active = [params[i] for i in active_inputs]
    text = render(parsed, functions, analysis, params, mode, active, pretty=False)
    filename = f"<s2sad {mode} {parsed.name} #{next(_COUNTER)}>"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    namespace = _namespace(parsed)
    exec(compile(text, filename, "exec"), namespace)
    output_kind = _output_kind(analysis)
    objects = {role: namespace[node.name] for role, node in functions.items()}
    main = objects.get("jvp") or objects.get("grad") or objects["vjp"]
    if mode == "grad" and "grad" not in objects:
        mode = "reverse"  # the value is returned too: the caller checks its shape
    ret = parsed.tree.body[-1] if parsed.tree.body else parsed.tree
    compiled = Compiled(
        function=main,
        source=text,
        mode=mode,
        output_kind=output_kind,
        params=params,
        active_inputs=list(active_inputs),
        extra={"objects": objects, "where": (parsed.filename, getattr(ret, "lineno", None), parsed.line(getattr(ret, "lineno", 0) or 0))},
    )
    _CACHE[key] = compiled
    return compiled


def clear_cache():
    from .api import _TRANSFORM_CACHE

    _CACHE.clear()
    _TRANSFORM_CACHE.clear()


def signature_params(function):
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise ArgumentError(f"cannot read the signature of {function!r}") from None
