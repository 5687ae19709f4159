"""Classify a normalized statement's right-hand side: which rule, which operands.

>>> import ast, math
>>> value = ast.parse("math.sin(x)", mode="eval").body
>>> p = classify(value, {"math": math}, globals_={"math"})
>>> p.rule.name, [ast.unparse(a) for a in p.args]
('math.sin', ['x'])
"""

import ast
import builtins
import operator
import types
from dataclasses import dataclass, field

import numpy as np

from .. import cache
from .. import rules as R
from .. import runtime
from ..errors import DesugarError
from ..rules.custom import HELPER_RULES
from ..astutil import walk

BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.MatMult: operator.matmul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
UNARYOPS = {ast.USub: operator.neg, ast.Not: operator.not_, ast.Invert: operator.invert}
COMPAREOPS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: operator.contains,
    ast.NotIn: operator.contains,
}


class MissingRule(Exception):
    """A callee with no rule; carries what the error message needs."""

    def __init__(self, name, obj):
        super().__init__(name)
        self.name = name
        self.obj = obj


class RefusedOperand(Exception):
    """A differentiated value given to a call that cannot take one (`~x`, `x & y` on floats)."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint


LIST_METHODS = (
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "index",
    "count",
    "sort",
    "reverse",
    "copy",
)
LIST_MUTATORS = ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse")


@dataclass
class Primitive:
    """One primitive operation: `kind` is 'copy', 'call', 'container', or a change of a list in
    place: 'list_pop' (`y = xs.pop(i)`, args `[xs, i]`) and 'list_append' (`xs.append(v)`, a
    statement, args `[xs, v]`)."""

    kind: str
    rule: object = None
    args: list = field(default_factory=list)
    keywords: dict = field(default_factory=dict)
    keys: list = None  # a dict container's keys, in the order of `args`


def resolve(node, namespace):
    """The object a dotted global reference (`np.linalg.norm`) names, or a sentinel."""
    path = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return _UNRESOLVED
    if node.id in namespace:
        obj = namespace[node.id]
    elif hasattr(builtins, node.id):
        obj = getattr(builtins, node.id)
    else:
        return _UNRESOLVED
    for attr in reversed(path):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            return _UNRESOLVED
    return obj


_UNRESOLVED = object()


def is_global(node, globals_):
    """Is `node` a name or a dotted path (`np.linalg.norm`) read from the module namespace: its root
    one of `globals_`, the names the function reads from there (`s2sad.astutil.module_names`)?"""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in globals_


def index_expression(node):
    """Turn a subscript's slice AST into an ordinary expression (`slice(...)`)."""
    if isinstance(node, ast.Slice):
        parts = [p if p is not None else ast.Constant(None) for p in (node.lower, node.upper, node.step)]
        return ast.Call(func=ast.Name("slice", ast.Load()), args=parts, keywords=[])
    if isinstance(node, ast.Tuple):
        return ast.Tuple(elts=[index_expression(e) for e in node.elts], ctx=ast.Load())
    return node


def method_rule(attr):
    """Rule for `value.attr(...)` on an array, keyed by the ndarray method."""
    method = getattr(np.ndarray, attr, None)
    return R.lookup(method) if method is not None else None


def classify(value, namespace, globals_):
    """Return the `Primitive` computed by expression `value` (normalized form); `globals_` are the names
    the function reads from the module namespace."""
    if isinstance(value, (ast.Name, ast.Constant)) or is_global(value, globals_):
        return Primitive("copy", args=[value])
    if isinstance(value, ast.BinOp):
        return _call(BINOPS[type(value.op)], [value.left, value.right], {})
    if isinstance(value, ast.UnaryOp):
        return _call(UNARYOPS[type(value.op)], [value.operand], {})
    if isinstance(value, ast.Compare):
        return _call(COMPAREOPS[type(value.ops[0])], [value.left, value.comparators[0]], {})
    if isinstance(value, ast.Subscript):
        return _call(operator.getitem, [value.value, value.slice], {})
    if isinstance(value, ast.Attribute):
        rule = R.lookup(("attribute", value.attr))
        if rule is None:  # an attribute of an object: a constant unless the object is differentiated
            rule = constant_read(
                f".{value.attr}",
                (
                    f"`.{value.attr}` reads an attribute of a differentiated value; s2sad differentiates floats, "
                    "NumPy arrays, and dicts / lists / tuples / NamedTuples / dataclasses of them",
                    'pass the parameters as a dict (`params["W"]`), a NamedTuple or a dataclass (read as `p.W`); '
                    "or leave the object out of argnums: an object not differentiated is a constant whose attributes "
                    "can be read",
                ),
            )
        return Primitive("call", rule=rule, args=[value.value])
    if isinstance(value, (ast.Tuple, ast.List)):
        return Primitive("container", args=list(value.elts))
    if isinstance(value, ast.Dict):
        return Primitive("container", args=list(value.values), keys=[k.value for k in value.keys])
    if isinstance(value, ast.Call):
        keywords = {k.arg: k.value for k in value.keywords}
        func = value.func
        if is_global(func, globals_):
            obj = resolve(func, namespace)
            if obj is _UNRESOLVED:
                raise MissingRule(ast.unparse(func), None)
            rule_for = _helper_rule(
                obj
            )  # run-time helpers that call a function: the rule of the function called
            if rule_for is not None:
                rule = rule_for(resolve(value.args[0], namespace), len(value.args))
                return Primitive("call", rule=rule, args=list(value.args), keywords=keywords)
            return _call(obj, list(value.args), keywords, ast.unparse(func), globals_)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.attr == "pop" and len(value.args) <= 1 and not keywords:
                return Primitive("list_pop", args=[func.value] + list(value.args))
            if func.attr in LIST_METHODS and func.attr != "copy":
                raise _list_method_error(func, value)
            rule = method_rule(func.attr)
            if rule is None and func.attr in DICT_READS:  # `opts.get("scale", 1.0)` on a dict of settings
                rule = constant_read(
                    f"dict.{func.attr}",
                    (
                        f"`.{func.attr}(...)` of a differentiated dict has no derivative rule",
                        'read a differentiated dict with constant keys (`params["w"]`), or pass the dict\'s '
                        "values as arguments",
                    ),
                )
            if (
                rule is None
            ):  # `rng.normal(0.0, 1.0, n)`: a constant unless the object or an argument is varied
                rule = constant_read(
                    f".{func.attr}(...)",
                    (
                        f"`.{func.attr}(...)` is called on or with a differentiated value and has no derivative rule",
                        f"compute `.{func.attr}(...)` from values that are not differentiated, or give the function "
                        "a derivative with s2sad.custom_vjp / s2sad.defvjp",
                    ),
                )
            template = rule.tangent or rule.adjoint
            if template is not None:
                try:
                    template.bind([func.value] + list(value.args), keywords)
                except TypeError as exc:
                    raise DesugarError(
                        f"the array method `.{func.attr}(...)` is differentiated when called as "
                        f"{_method_form(func.attr, template)}; this call has other arguments ({exc})",
                        value,
                        METHOD_HINTS.get(func.attr, "call it as shown, or use the NumPy function"),
                    ) from None
            return Primitive("call", rule=rule, args=[func.value] + list(value.args), keywords=keywords)
        raise MissingRule(ast.unparse(func), None)
    raise MissingRule(ast.unparse(value), None)


METHOD_HINTS = {
    "item": "index the array instead (`a[i]`, `a.flat[i]`): `.item()` without arguments is for size-1 arrays"
}


def _method_form(attr, template):
    """`a.reshape(*shape, order='C', copy=None)`: how a method rule's template is called."""
    params = list(template.signature.parameters.values())[2:]
    return f"`a.{attr}(" + ", ".join(str(p) for p in params) + ")`"


DICT_READS = ("get", "keys", "values", "items")  # dict methods that read: constants on constant dicts


def constant_read(name, refusal):
    """The rule of a read that has no derivative rule (an attribute of an object, a dict method): its
    result is a constant while what it reads is not differentiated; when it is, the analysis raises
    `refusal` (message, hint) at the line (`s2sad.analyses.activity._refuse_varied_operands`)."""
    return R.Rule(
        key=("constant read", name),
        name=name,
        differentiable=False,
        kind="other",
        extra={"refused": refusal[0], "refused_hint": refusal[1]},
    )


def _list_method_error(func, node):
    return DesugarError(
        f"`{ast.unparse(func)}(...)`: the list method `{func.attr}` is not supported; lists support "
        "`append`, `extend`, `pop`, indexing, `len`, loops and comprehensions",
        node,
        "rebuild the list with a comprehension or a loop of `append`s",
    )


def list_receiver(node, globals_):
    """`xs` for a call `xs.append(...)` / `xs.pop(...)` / ... that changes the local list `xs` (not one of
    the module names `globals_`), else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LIST_MUTATORS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id not in globals_
    ):
        return node.func.value.id
    return None


def list_append(stmt, globals_):
    """The 'list_append' Primitive of a statement `xs.append(v)` (a local `xs`: not one of the module
    names `globals_`), else None."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "append" and isinstance(func.value, ast.Name)):
        return None
    if func.value.id in globals_ or len(call.args) != 1 or call.keywords:
        return None
    return Primitive("list_append", args=[func.value, call.args[0]])


def unknown_rule(fn, name):
    """The rule of a call with no entry in the table: a constant while none of its operands
    carries a derivative (the activity analysis checks; `refused` says why it is refused else)."""
    return R.Rule(
        key=fn, name=name, differentiable=False, kind="any", extra={"refused": "no derivative rule"}
    )


def reported_call(value):
    """The primitive of a statement the check mode reported and went past (`s2sad.pipeline.check`): a
    constant of unknown kind computed from every name in `value` (see `operand_names`)."""
    rule = R.Rule(key=("reported", ast.unparse(value)), name="reported", differentiable=False, kind="any")
    rule.extra["reported"] = True
    names = [n for n in walk(value) if isinstance(n, ast.Name)]
    return Primitive("call", rule=rule, args=names)


def refusal(primitive):
    """Why a call must not see a differentiated operand (`MissingRule` for a callee with no rule,
    else the rule's own message), or None."""
    if primitive is None or primitive.kind != "call" or primitive.rule is None:
        return None
    return primitive.rule.extra.get("refused")


def _call(fn, args, keywords, written=None, globals_=frozenset()):
    rule = R.lookup(fn)
    if rule is None:
        if written is None:
            raise MissingRule(written or R.display_name(fn), fn)
        return Primitive("call", rule=unknown_rule(fn, written), args=args, keywords=keywords)
    if fn in (max, min) and keywords:
        raise DesugarError(
            f"`{fn.__name__}` with `key=` or `default=` is not supported; `{fn.__name__}(xs)` of numbers and "
            f"`{fn.__name__}(a, b)` are",
            args[0] if args else None,
            f"pick the item in a loop: `best = xs[0]`, then `for v in xs[1:]: if key(v) "
            f"{'>' if fn is max else '<'} key(best): best = v`",
        )
    if fn in (max, min) and len(args) == 1:
        raise DesugarError(
            f"`{fn.__name__}` of one sequence is not supported here; `{fn.__name__}(a, b)` of two values is",
            args[0],
            f"use `np.{fn.__name__}(np.array(...))` (ties share the derivative) or a loop",
        )
    refusal = rule.extra.get("refuse") and rule.extra["refuse"](args, keywords, globals_)
    if refusal:  # a form of the call the rule cannot differentiate: (message, hint)
        raise DesugarError(refusal[0], args[0] if args else None, refusal[1])
    template = rule.tangent or rule.adjoint
    if template is not None:
        template.bind(args, keywords)  # a call the rule cannot take: a TypeError the caller reports
    return Primitive("call", rule=rule, args=args, keywords=keywords)


def is_user_function(obj):
    return isinstance(obj, types.FunctionType)


# -- calls s2sad does not inline (recursion): see s2sad.runtime.call_value -----------------------

_CALL_RULES = {}  # (role, operand count) -> the rule of a derivative call
cache.on_clear(_CALL_RULES.clear)


def derivative_call_rule(role, count):
    """The rule of `_rt.call_forward_sweep(f, x1, ..., xn)` (role 'sweep': not differentiable,
    its record is a value the backward sweep reads) or of `_rt.call_value(f, record, x1, ..., xn)`
    (role 'value': the derivative is `f`'s own, compiled at run time)."""
    key = (role, count)
    if key in _CALL_RULES:
        return _CALL_RULES[key]
    if role == "sweep":
        rule = R.Rule(
            key="s2sad.runtime.call_forward_sweep",
            name="call_forward_sweep",
            differentiable=False,
            kind="other",
            extra={"derivative_call": "sweep"},
        )
    else:
        xs = [f"x{i}" for i in range(1, count + 1)]
        params = ", ".join(["out", "function", "record"] + xs)

        def pack(items):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

        tangent = f"def _({params}):\n    out_dot = _rt.call_jvp(function, {pack(xs)}, {pack([x + '_dot' for x in xs])})[1]\n"
        adjoint = f"def _({params}):\n    cotangents = _rt.call_pullback(function, record, out_bar)\n"
        adjoint += "".join(f"    {x}_bar += cotangents[{i}]\n" for i, x in enumerate(xs))
        rule = R.Rule(
            key="s2sad.runtime.call_value",
            name="call_value",
            tangent=R.Template.from_text(tangent),
            adjoint=R.Template.from_text(adjoint),
            kind="any",
            extra={"derivative_call": "value"},
        )
    _CALL_RULES[key] = rule
    return rule


def _helper_rule(obj):
    """`rule_for(function, count)` for a run-time helper whose rule is the rule of the function it calls."""
    if obj is runtime.call_forward_sweep:
        return lambda function, count: derivative_call_rule("sweep", count - 1)
    if obj is runtime.call_value:
        return lambda function, count: derivative_call_rule("value", count - 2)
    if isinstance(obj, types.FunctionType):
        return HELPER_RULES.get(obj)
    return None


def derivative_call_role(primitive):
    """'sweep' or 'value' for the two statements of a call that is not inlined, else None."""
    if primitive is None or primitive.kind != "call" or primitive.rule is None:
        return None
    return primitive.rule.extra.get("derivative_call")


_COPIES = (np.copy, np.array)  # calls that return a new array (`np.array` copies unless told not to)


def subscript_write(stmt, names):
    """The first `a[i]` that `stmt` writes into in place with `a` one of `names`, or None."""
    for node in walk(stmt):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
        ):
            return node
    return None


def rebinds_to_copy(body, index, name, namespace, names, globals_):
    """After `body[index]`, is `name` rebound to a new array (`a = a.copy()`, `np.copy(a)`,
    `np.array(a)`; in normalized code through a temporary) by a top-level statement, so surely,
    before a statement writes into one of the arrays `names` in place? Then `name` stops being
    another name for what it held. (`globals_`: the names the code reads from the module.)"""
    made = {}  # temporary -> the value a top-level statement gave it
    for later in body[index + 1 :]:
        if subscript_write(later, names) is not None:
            return False
        if isinstance(later, ast.Assign) and isinstance(later.targets[0], ast.Name):
            value = later.value
            if isinstance(value, ast.Name) and value.id not in globals_:
                value = made.get(value.id, value)
            if later.targets[0].id == name:
                return _is_copy(value, namespace, globals_)
            made[later.targets[0].id] = value
    return False


def _is_copy(value, namespace, globals_):
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "copy"
        and not is_global(func.value, globals_)
        and not value.args
    ):
        return True  # `a.copy()` of a local array
    if not any(k.arg == "copy" for k in value.keywords) and is_global(func, globals_):
        return any(resolve(func, namespace) is fn for fn in _COPIES)
    return False
