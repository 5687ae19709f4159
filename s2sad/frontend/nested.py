"""Derivatives of derivatives: a transform's generated code, as a Python function s2sad compiles again.

`s2sad.grad(f)` returns a wrapper that carries a `Transform` (what it computes,
of which function, w.r.t. which arguments). When such a wrapper is itself
differentiated (`grad(grad(f))`, `jvp(grad(f), ...)`, `hessian`), or called
inside a function being differentiated, `materialize` writes the wrapper's
derivative as source -- the generated `f_grad` plus a small adapter with `f`'s
parameters that returns what the wrapper returns -- and defines it as a real
function whose source `inspect` can read. The compiler then treats it like any
user function: it is parsed, inlined and differentiated.

The code written for this is *portable*: the stack is a plain list
(`_stack.append(v)` / `v = _stack.pop()`), loops keep their pushes on that
stack instead of tapes, and in-place accumulations (`_rt.add_at(a_bar, i, g)`)
become `a_bar = _rt.added_at(a_bar, i, g)` and `_rt.list_add_at(xs_bar, i, g)` the item
write `xs_bar[i] = xs_bar[i] + g`; every run-time helper it calls has
derivative rules (`s2sad.rules.runtime_rules`).

There is no perturbation confusion: each transform is its own code, so an
inner derivative taken inside an outer one is a function of the outer
variables like any other, and the outer transform differentiates through it.

>>> import s2sad
>>> def cube(x):
...     return x * x * x
>>> adapter = materialize(transform_of(s2sad.grad(cube)), ("float",))
>>> adapter(2.0)
12.0
>>> import inspect
>>> print(inspect.getsource(adapter).strip())
def grad_cube(x):
    _grads = cube_grad(x)
    return _grads[0]
"""

import ast
import inspect
import itertools
import linecache
import numbers
import types
from dataclasses import dataclass

from .. import cache, config
from .. import kinds as K
from .. import rules as R
from ..astutil import clone, fix_missing_locations, identifier
from ..codegen.python import LINE_ORIGINS
from ..errors import ArgumentError, NonScalarOutputError, UnsupportedSyntaxError
from ..modes import Mode
from ..signatures import diff_kinds as diff_kinds_of, parse_argnums
from ..trees import LEAF, is_tree_kind, literal, record_fields_of

ATTRIBUTE = "__s2sad_transform__"
_MATERIALIZED = cache.MATERIALIZED
_PIPELINE = {}  # generate, render, namespace: registered by s2sad.pipeline when it is imported


def register_pipeline(generate, render, namespace):
    """Dependency injection: the compiler functions `materialize` runs (the pipeline imports this
    module, so this module cannot import it)."""
    _PIPELINE.update(generate=generate, render=render, namespace=namespace)


_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class Transform:
    """What a wrapper returned by `grad` / `value_and_grad` computes."""

    kind: str  # "grad", "value_and_grad", or "jvp" (all arguments, as `jvp(f, primals, tangents)`)
    function: object
    argnums: object
    has_aux: bool = False

    def identity(self):
        """A hashable key that changes when the function's code does."""
        return (self.kind, code_identity(self.function), _hashable(self.argnums), self.has_aux)


def _hashable(argnums):
    return argnums if argnums is None or isinstance(argnums, numbers.Integral) else tuple(argnums)


def transform_of(obj):
    """The `Transform` a wrapper carries, or None for any other object."""
    try:
        return obj.__dict__.get(ATTRIBUTE) if hasattr(obj, "__dict__") else None
    except Exception:  # objects with odd __dict__ behaviour are not transforms
        return None


def code_identity(function):
    """`function.__code__`, or for a transform wrapper what it transforms (wrappers share code)."""
    transform = transform_of(function)
    if transform is not None:
        return transform.identity()
    return getattr(function, "__code__", None)


_MISSING = object()
_FOREIGN = ("numpy", "scipy", "s2sad", "math", "builtins")  # modules whose functions s2sad does not inline


def _global_names(code, _found={}):  # (a memo: names follow from the code's text alone)
    """The names `code` and the functions and lambdas defined in it read with LOAD_GLOBAL (and
    attribute names: harmless extras)."""
    names = _found.get(code)
    if names is None:
        out = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                out |= set(_global_names(const))
        names = _found[code] = tuple(sorted(out))
    return names


_ALIVE = {}  # id -> every object a cache key names by id (kept alive, so no id is reused while keyed)
_PLANS = {}  # function -> ((globals dict or None, name), ...): where what its derivative depends on is read


@cache.on_clear
def _forget_reads():
    """With the caches whose keys name objects by id gone, those objects need not be kept alive."""
    _ALIVE.clear()
    _PLANS.clear()


def reads_key(function, keep=False):
    """What a compiled derivative of `function` depends on besides its code: the module it was
    defined in (its globals), and by identity the objects it reads from them and from its closure
    cells, followed into the Python functions among them (which the compiler inlines). Two modules
    defining `def f(x): return 3.0 * g(x)` have equal code objects (Python compares code by its
    text, name and line) but other `g`s; a cache keyed by code alone would give one the other's
    derivative. The places read are planned once per function and followed again with `keep`
    (on a cache miss: a rebound callee reads other names), which also keeps the objects alive, so
    that no id in a key is reused while the key is cached."""
    plan = None if keep else _PLANS.get(function)
    if plan is None:
        plan = _plan(function)
        if len(_PLANS) > 4096:  # lambdas made per call each have a plan: forget old ones
            _PLANS.clear()
        try:
            _PLANS[function] = plan
        except TypeError:  # an unhashable callable object
            pass
    fixed, fixed_ids, places, cells = plan
    key = [id(place.get(name, _MISSING)) for place, name in places]
    for cell in cells:
        try:
            key.append(id(cell.cell_contents))
        except ValueError:  # an empty cell
            key.append(None)
    if keep:
        for value in fixed + tuple(place.get(name, _MISSING) for place, name in places):
            _ALIVE[id(value)] = value
        for cell in cells:
            try:
                _ALIVE[id(cell.cell_contents)] = cell.cell_contents
            except ValueError:  # an empty cell
                pass
    return fixed_ids, tuple(key)


def places_read(function):
    """((globals dict, name), ...) and (closure cell, ...): where `function` and the Python functions
    it reads (followed as `reads_key` does) read what its derivative depends on."""
    plan = _PLANS.get(function) or _plan(function)
    return plan[2], plan[3]


def _plan(function):
    """(objects read once for all: modules' globals, functions seen before; (globals, name) read
    at each call; closure cells)."""
    fixed, places, cells, seen = [], [], [], set()

    def follow(function):
        transform = transform_of(function)
        while transform is not None:
            function = transform.function
            transform = transform_of(function)
        code = getattr(function, "__code__", None)
        if id(function) in seen or code is None:
            fixed.append(function)
            return
        seen.add(id(function))
        namespace = getattr(function, "__globals__", None) or {}
        fixed.append(namespace)
        values = []
        for name in _global_names(code):
            places.append((namespace, name))
            values.append(namespace.get(name, _MISSING))
        for cell in getattr(function, "__closure__", None) or ():
            cells.append(cell)
            try:
                values.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        for value in values:
            if (
                callable(value)
                and hasattr(value, "__code__")
                and not str(getattr(value, "__module__", None) or "").startswith(_FOREIGN)
            ):
                follow(value)

    follow(function)
    return tuple(fixed), tuple(map(id, fixed)), tuple(places), tuple(cells)


def mark(wrapper, kind, function, argnums, has_aux=False):
    """Attach the `Transform` to `wrapper` and return it."""
    wrapper.__dict__[ATTRIBUTE] = Transform(kind, function, argnums, bool(has_aux))
    return wrapper


def _portable(tree):
    """`_push(v)` -> `_stack.append(v)`, `_pop()` -> `_stack.pop()`, `_rt.add_at(a, i, g)` ->
    `a = _rt.added_at(a, i, g)`: forms the compiler differentiates like user code."""

    def stack_method(name):
        return ast.Attribute(value=ast.Name("_stack", ast.Load()), attr=name, ctx=ast.Load())

    class Rewrite(ast.NodeTransformer):
        def visit_Assign(self, node):
            if (
                len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("_push", "_pop")
            ):
                return None
            return self.generic_visit(node)

        def visit_Expr(self, node):
            call = node.value
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "_rt"
                and call.func.attr == "add_at"
                and len(call.args) == 3
            ):
                target = call.args[0]
                call.func.attr = "added_at"
                return ast.copy_location(
                    ast.Assign(targets=[ast.Name(target.id, ast.Store())], value=self.visit(call)), node
                )
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "_rt"
                and call.func.attr == "list_add_at"
                and len(call.args) == 3
                and isinstance(call.args[0], ast.Name)
                and not isinstance(call.args[1], ast.Slice)
            ):
                g, index, value = (self.visit(a) for a in call.args)
                slot = ast.Subscript(value=ast.Name(g.id, ast.Load()), slice=index, ctx=ast.Load())
                store = ast.Subscript(value=ast.Name(g.id, ast.Load()), slice=clone(index), ctx=ast.Store())
                total = ast.BinOp(left=slot, op=ast.Add(), right=value)
                return ast.copy_location(ast.Assign(targets=[store], value=total), node)
            return self.generic_visit(node)

        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "_push":
                node.func = stack_method("append")
            elif isinstance(node.func, ast.Name) and node.func.id == "_pop":
                node.func = stack_method("pop")
            return node

    tree = Rewrite().visit(tree)
    fix_missing_locations(tree)
    return tree


def tree_leaf_reads(param, treedef):
    """The expressions reading the leaves of the tree `param` holds, in `flatten`'s order, with the
    literal that rebuilds such a tree from a list of names: (reads, build).

    >>> tree_leaf_reads("xs", ("tuple", 2, ("*", ("list", 1, ("*",)))))[0]
    ['xs[0]', 'xs[1][0]']
    """
    reads = []

    def walk(d, path):
        if d == LEAF:
            reads.append(path)
            return
        keys = d[1] if d[0] == "dict" else range(d[1])
        for key, child in zip(keys, d[2]):
            walk(child, f"{path}[{key!r}]")

    walk(treedef, param)

    def build(names):
        return ast.unparse(literal(treedef, names))

    return reads, build


def _adapter(
    transform, name, params, generated, joint, single_index, checked=(), where=None, leaves=None, nums=()
):
    """Source of the function with `f`'s parameters that returns what the wrapper returns. With
    `where` (the user's return line) a joint sweep's value is checked to be a scalar, as `grad`
    checks it when called directly. `leaves` (parameter position -> `tree_leaf_reads`) names the
    differentiated trees: their leaves are passed one by one, their gradients regrouped."""
    if transform.kind == "jvp":  # (primals..., tangents...) -> (value, tangent)
        tangents = [f"{p}_dot" for p in params]
        passed = ", ".join(params + [tangents[i] for i in nums])
        return f"def {name}({', '.join(params + tangents)}):\n    return {generated}({passed})\n"
    leaves = leaves or {}
    args = [a for i, p in enumerate(params) for a in (leaves[i][0] if i in leaves else [p])]
    call = f"{generated}({', '.join(args)})"
    checks = [f"    _rt.check_not_tree({params[i]}, {transform.kind!r})" for i in checked]
    checks += [f"    _rt.check_not_tree({read}, {transform.kind!r})" for i in leaves for read in leaves[i][0]]
    pick = "_grads[0]" if single_index else "_grads"
    if leaves:  # the generated code returns one gradient per leaf: regrouped into each tree
        parts, at = [], 0
        for i in nums:
            width = len(leaves[i][0]) if i in leaves else 1
            grads = [f"_grads[{at + k}]" for k in range(width)]
            parts.append(leaves[i][1](grads) if i in leaves else grads[0])
            at += width
        pick = parts[0] if single_index else "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    lines = [f"def {name}({', '.join(params)}):"] + checks
    if joint:
        value = "(_value, _aux)" if transform.has_aux else "_value"
        lines.append(f"    {value}, _grads = {call}")
        if where is not None:
            lines.append(f"    _value = _rt.check_scalar(_value, {tuple(where)!r})")
    elif transform.has_aux:
        lines.append(f"    _grads, _aux = {call}")
    else:
        lines.append(f"    _grads = {call}")
    if transform.kind == "value_and_grad":
        value = "(_value, _aux)" if transform.has_aux else "_value"
        lines.append(f"    return {value}, {pick}")
    elif transform.has_aux:
        lines.append(f"    return {pick}, _aux")
    else:
        lines.append(f"    return {pick}")
    return "\n".join(lines) + "\n"


def materialize(transform, kinds=None, shapes=None):
    """A Python function computing what the wrapper of `transform` computes, written as derivative
    source s2sad can compile again. `kinds` specializes it to the argument kinds (generic without),
    `shapes` (a shape per argument, None for non-arrays) to the arrays' shapes."""
    generate, render, namespace_of = _PIPELINE["generate"], _PIPELINE["render"], _PIPELINE["namespace"]

    function = transform.function
    if transform.kind not in SUPPORTED_KINDS:
        filename, lineno, code, _ = user_where(mark(lambda: None, transform.kind, function, None), ())
        raise UnsupportedSyntaxError(
            f"{spelled(transform)} cannot be differentiated again or "
            "called inside a differentiated function yet",
            filename,
            lineno,
            code,
            hint="nest s2sad.grad, s2sad.value_and_grad and s2sad.jvp (a Hessian-vector product is "
            "`s2sad.jvp(s2sad.grad(f), (x,), (v,))[1]`), or call it outside",
        )
    count = len(_parameters(function))
    kinds = tuple(kinds) if kinds is not None else (K.ANY,) * count
    shapes = tuple(shapes) if shapes is not None and kinds is not None else None
    key = (transform.identity(), reads_key(function), kinds, config.enabled(), shapes)
    cached = _MATERIALIZED.get(key)
    if cached is not None:
        return cached
    key = (key[0], reads_key(function, keep=True)) + key[2:]  # planned again: a callee may be new
    if transform.kind == "jvp":  # (a local function's enclosing variables: constants of the jvp)
        single, nums = False, tuple(range(count) if transform.argnums is None else transform.argnums)
    else:
        single, nums = parse_argnums(transform.argnums, count, getattr(function, "__name__", "f"))
    if transform.kind != "jvp" and any(
        is_tree_kind(k) and record_fields_of(k[1]) for i, k in enumerate(kinds) if i in nums
    ):
        raise ArgumentError(
            f"a derivative of `{transform.kind}({getattr(function, '__name__', 'f')})` w.r.t. a NamedTuple or "
            "dataclass argument cannot be differentiated again yet",
            hint="differentiate the inner function w.r.t. its arrays (pass them one by one, or in a dict)",
        )
    # trees the inner derivative differentiates are taken apart into their leaves (the adapter passes
    # them one by one and regroups their gradients); other trees are plain values to it, and so are
    # all of them to a jvp, whose code passes tangents of any structure along
    trees = {
        i: k[1] for i, k in enumerate(kinds) if i in nums and transform.kind != "jvp" and is_tree_kind(k)
    }
    kinds = tuple(k if i in trees else K.ANY if is_tree_kind(k) else k for i, k in enumerate(kinds))
    diff_kinds = diff_kinds_of(kinds, nums)
    mode = {"grad": Mode.GRAD, "jvp": Mode.FORWARD}.get(transform.kind, Mode.REVERSE)
    # with the analyses on: off, every value of every kind goes on the one stack, and what the outer
    # derivative pops from it has no kind it can specialize on
    with config.analyses(True):
        compilation = generate(
            function,
            mode,
            nums,
            diff_kinds,
            transform.has_aux,
            shapes if config.enabled() else None,
            portable=True,
        )
    parsed, functions, params = compilation.parsed, compilation.functions, compilation.params
    if "vjp" in functions:
        functions = {"vjp": functions["vjp"]}
    functions = {role: _portable(node) for role, node in functions.items()}
    origins = {}
    text = render(compilation, functions, origins=origins)
    generated = next(iter(functions.values())).name
    name = f"{transform.kind}_{parsed.name}"
    generic = [
        i for i in nums if kinds[i] == K.ANY
    ]  # a dict here would be a value the code cannot take apart
    ret = parsed.tree.body[-1] if parsed.tree.body else parsed.tree
    lineno = getattr(ret, "lineno", 0) or 0
    where = user_where(function, (parsed.filename, lineno or None, parsed.line(lineno)))
    if transform.kind != "jvp" and compilation.container_output:
        raise NonScalarOutputError(
            f"{transform.kind} needs a scalar output; {where[3]} returns a tuple, list or other container",
            *where[:3],
            hint="return the scalar alone, or return (loss, aux) and pass has_aux=True",
        )
    where = where if transform.kind != "jvp" else None
    leaves = None
    if trees:  # the adapter takes f's parameters; the generated code takes the trees' leaves
        params = _parameters(function)
        leaves = {i: tree_leaf_reads(params[i], trees[i]) for i in trees}
        generic = [i for i in nums if i not in trees and kinds[i] == K.ANY]
    text += "\n\n" + _adapter(
        transform, name, params, generated, "vjp" in functions, single, generic, where, leaves, nums
    )
    filename = f"<s2sad {transform.kind} of {parsed.name} #{next(_COUNTER)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    LINE_ORIGINS[filename] = origins  # the user's lines, for notes on exceptions (s2sad.api.boundary)
    namespace = namespace_of(parsed)
    exec(compile(text, filename, "exec"), namespace)
    adapter = namespace[name]
    _MATERIALIZED[key] = adapter
    return adapter


def described(function):
    """How the user wrote `function`: `loss`, or `s2sad.grad(loss)` for a transform of it."""
    transform = transform_of(function)
    if transform is None:
        return getattr(function, "__name__", "f")
    return spelled(transform)


def spelled(transform):
    """`s2sad.grad(loss)`; a kind with words after its name (`grad of a method, ...`) puts them after."""
    kind, _, words = transform.kind.partition(" ")
    return f"s2sad.{kind}({described(transform.function)})" + (f" ({words})" if words else "")


def user_where(function, where):
    """(filename, line, code, what) for an error about `function`'s output: `where` (its return
    line) for the user's own function, else the `def` line of the function a transform wraps (the
    return line of generated code means nothing to the user), `what` saying which function it is."""
    adapts = getattr(
        function, "__s2sad_adapts__", None
    )  # an adapter of s2sad.api.callables: the user's function
    if transform_of(function) is None and adapts is None:
        return tuple(where[:3]) + ("the function",)
    inner = adapts or function
    while transform_of(inner) is not None:
        inner = transform_of(inner).function
    code = getattr(inner, "__code__", None)
    if code is None:
        return (None, None, None, f"`{described(function)}`")
    lineno = code.co_firstlineno
    for offset in range(20):  # past the decorators, to the `def` line
        text = linecache.getline(code.co_filename, code.co_firstlineno + offset).strip()
        if text.startswith(("def ", "async def ")):
            lineno = code.co_firstlineno + offset
            break
    text = linecache.getline(code.co_filename, lineno).strip() or None
    what = f"`{getattr(inner, '__qualname__', 'f')}`" if adapts is not None else f"`{described(function)}`"
    return (code.co_filename, lineno, text, what)


def _parameters(function):
    transform = transform_of(function)
    if transform is not None:
        return _parameters(transform.function)
    code = function.__code__
    return list(code.co_varnames[: code.co_argcount])


# -- transforms written inside differentiated code ----------------------------------------------------

TRANSFORM_APIS = {}  # the public transforms a differentiated function may call: filled by s2sad.api
SUPPORTED_KINDS = ("grad", "value_and_grad", "jvp")  # transforms whose code is differentiated again
OUTER_ONLY_APIS = {}  # public transforms it may not call (yet): filled by s2sad.api and s2sad.api.jacobians


def jvp_function(function, constants=0):
    """An object standing for `lambda *primals_and_tangents: jvp(function, primals, tangents)`. The
    last `constants` parameters (the enclosing variables a local function reads) are constants of the
    jvp: their tangents are taken and not read."""

    def jvp_of(*arguments):
        count = len(_parameters(function))
        return TRANSFORM_APIS["jvp"](function, arguments[:count], arguments[count:])

    count = len(_parameters(function))
    return mark(jvp_of, "jvp", function, tuple(range(count - constants)) if constants else None)


def local_function_object(local):
    """A real function for the local function (lambda or nested `def`) `local`: the enclosing
    variables its body reads become extra trailing parameters. Returns (function, those names)."""
    node = clone(local.node)
    own = local.own_names()
    reads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    free = sorted((local.enclosing & reads) - own)
    args = node.args
    if (
        args.vararg
        or args.kwarg
        or args.kwonlyargs
        or any(not isinstance(d, ast.Constant) for d in args.defaults)
    ):
        lineno = local.node.lineno
        raise UnsupportedSyntaxError(
            f"s2sad transforms of the local function `{local.__name__}` need plain positional parameters",
            local.parsed.filename,
            lineno,
            local.parsed.line(lineno),
            hint=f"define `{local.__name__}` with plain parameters, or at module level",
        )
    args.args += [ast.arg(arg=n) for n in free]
    args.defaults += [ast.Constant(None) for _ in free] if args.defaults else []
    node.name = (identifier(local.__name__).strip("_") or "local") + "_"  # `lambda` is a keyword
    aliases = {name for name, value in local.parsed.namespace.items() if value is local}
    for call in ast.walk(node):  # a recursive call passes the enclosing variables on
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in aliases:
            call.func = ast.Name(node.name, ast.Load())
            call.args = call.args + [ast.Name(n, ast.Load()) for n in free]
    node.decorator_list = []
    fix_missing_locations(node)
    text = "\n" * (max(local.node.lineno, 1) - 1) + ast.unparse(node) + "\n"
    base = local.parsed.filename.rsplit("/", 1)[-1]
    filename = f"<s2sad: {local.__name__} of {base}:{local.node.lineno} #{next(_COUNTER)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    namespace = dict(local.parsed.namespace)
    exec(compile(text, filename, "exec"), namespace)
    return namespace[node.name], free


def as_python_function(f):
    """`f` itself, or for a callable s2sad has a rule for but no source of (`np.sin`, `math.exp`) a
    one-line Python function calling it, so that `grad(np.sin)` works as in JAX.

    >>> import numpy as np
    >>> import inspect
    >>> print(inspect.getsource(as_python_function(np.arctan2)).strip())
    def arctan2(x0, x1):
        return _f(x0, x1)
    """
    if hasattr(f, "__code__") or transform_of(f) is not None:
        return f  # (the common case, first: transforms call this on every call)
    try:
        rule = R.lookup(f)
    except Exception:
        rule = None
    if rule is None or not rule.differentiable:
        return f
    count = getattr(f, "nin", None)
    if count is None:
        try:
            params = inspect.signature(f).parameters.values()
        except (TypeError, ValueError):
            return f  # its arity is unknown: the caller's error says to wrap it in a `def`
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return f
        count = sum(
            1
            for p in params
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
    name = "".join(c if c.isalnum() else "_" for c in getattr(f, "__name__", "f")) or "f"
    params = ", ".join(f"x{i}" for i in range(max(count, 1)))
    text = f"def {name}({params}):\n    return _f({params})\n"
    filename = f"<s2sad: {rule.name} #{next(_COUNTER)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    namespace = {"_f": f}
    exec(compile(text, filename, "exec"), namespace)
    return namespace[name]
