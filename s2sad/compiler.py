"""The pipeline: function -> parse -> desugar -> normalize -> analyze -> transform -> exec.

Compiled derivatives are cached per (code object, mode, argnums, argument kinds,
and the arrays' shapes for code specialized to them) so a changed function body (a new `__code__`) compiles again. Generated source
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
import gc
import inspect
import itertools
import keyword
import linecache
import math
import re
import types
from dataclasses import dataclass, field

import numpy as np

from .astutil import clone, fix_missing_locations, name_nodes, unshare, walk
from . import config
from . import kinds as K
from . import runtime
from .activity import analyze, walk_statements
from .codegen import format_source, to_source
from .desugar import DesugarError, desugar
from .errors import ArgumentError, NoDerivativeRuleError, S2sadError, UnsupportedSyntaxError
from .forward import forward_transform
from .forward_vector import VectorForwardTransform
from .frontend import parse_function
from .inline import inline_calls
from .key_loops import unroll_key_loops
from .local_functions import identifier, lift_local_functions
from .nested import code_identity, materialize, reads_key, transform_of, user_where
from .normalize import normalize
from .optimize import (
    drop_unused, fold_negations, fuse_accumulations, inline_single_use, optimize, propagate_copies_in_blocks, split_versions,
    statements,
)
from .lists import check_lists, list_kind_conflicts
from .primitives import (
    LIST_METHODS, MissingRule, RefusedOperand, is_global, list_append, rebinds_to_copy, resolve, subscript_write,
)
from .outer_sums import sum_outer_products_after_loops
from .rules import lookup as lookup_rule
from .products import sum_products_after_loops
from .scatter import accumulate_at_basic_indices
from .reverse import reverse_transform
from .trees import expand_parameters, flatten, is_tree_kind, record_fields_of, records_as_dicts, unflatten
from .writes import rewrite_writes

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
            hint=f"register one: `@s2sad.defjvp({name})` on a rule `jvp(primals, tangents)` (or `s2sad.defvjp`), "
            f"templates `@s2sad.rules.tangent({name})` and `@s2sad.rules.adjoint({name})` (docs/rules.md), "
            f"or `s2sad.rules.nondifferentiable({name})` if it has no derivative",
        )
    if isinstance(exc, RefusedOperand):
        return parsed.error(UnsupportedSyntaxError, exc.message, node, hint=exc.hint)
    if isinstance(exc, TypeError):
        return parsed.error(UnsupportedSyntaxError, f"unsupported call signature: {exc}", node,
                            hint="call the function with the arguments its derivative rule knows")
    return parsed.error(UnsupportedSyntaxError, f"{type(exc).__name__}: {exc}", node)


_LIST_HINTS = {
    "sort": "sort an array instead: `{name} = list(np.sort(np.array({name})))`",
    "reverse": "make a reversed copy: `{name} = {name}[::-1]`",
    "insert": "build the list in the order you need with `append`, or make a new list: "
              "`{name} = {name}[:i] + [v] + {name}[i:]`",
    "remove": "make a new list without the item: `{name} = [v for v in {name} if ...]`",
    "clear": "start a new list: `{name} = []`",
}


def _reject_method_statements(parsed, tree):
    """`xs.sort()`, `a.fill(0.0)`: a method called for its effect changes an object in place,
    which the derivative would not see (a silent wrong gradient). Lists may grow and shrink with
    `append` / `extend` / `pop` (desugar turns `extend` into appends and a discarded `pop` into an
    assignment); the compiler follows those."""
    for node in walk(tree):
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        func = node.value.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and not getattr(func.value, "_global", False):
            if list_append(node) is not None:
                continue
            name = func.value.id
            if func.attr == "sort":  # an array's or a list's
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}.sort(...)` sorts `{name}` in place; s2sad does not follow in-place sorts",
                    node,
                    hint=f"sort into a new value: `{name} = np.sort({name})` for an array, "
                    f"`{name} = list(np.sort(np.array({name})))` for a list",
                )
            if func.attr in LIST_METHODS:
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"`{name}.{func.attr}(...)`: the list method `{func.attr}` is not supported; lists support "
                    "`append`, `extend`, `pop`, indexing, `len`, `for` loops and comprehensions",
                    node,
                    hint=_LIST_HINTS.get(func.attr, "build a new list with a comprehension or a loop of `append`s")
                    .format(name=name),
                )
            raise parsed.error(
                UnsupportedSyntaxError,
                f"`{name}.{func.attr}(...)` changes `{name}` in place; s2sad does not follow "
                "in-place changes of dicts or arrays made by methods",
                node,
                hint="fill a NumPy array by index (`a = np.zeros(n)` then `a[i] = v`), or build a list "
                     "with `append`",
            )


def _returns(tree):
    """The `return` statements of `tree` itself (not of nested functions)."""
    out = []

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Return):
                out.append(child)
            walk(child)

    walk(tree)
    return out


def _split_aux(parsed):
    """has_aux: every `return loss, aux` becomes `_aux = aux; return loss`.

    Returns the name holding aux; the normalized function then returns the pair
    `(output, _aux)`, of which only the output is differentiated.
    """
    taken = {n.id for n in name_nodes(parsed.tree)}
    name = "_aux"
    while name in taken:
        name += "_"
    returns = _returns(parsed.tree)
    for ret in returns:
        if not (isinstance(ret.value, ast.Tuple) and len(ret.value.elts) == 2):
            raise parsed.error(
                UnsupportedSyntaxError,
                "with has_aux=True the function must return a pair `(output, aux)`",
                ret,
                hint="return loss, aux",
            )

    class Split(ast.NodeTransformer):
        def visit_FunctionDef(self, node):
            if node is parsed.tree:
                self.generic_visit(node)
            return node

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Lambda(self, node):
            return node

        def visit_Return(self, node):
            keep = ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=node.value.elts[1]), node)
            return [keep, ast.copy_location(ast.Return(node.value.elts[0]), node)]

    Split().visit(parsed.tree)
    fix_missing_locations(parsed.tree)
    return name


def _return_aux(tree, name):
    ret = tree.body[-1]
    ret.value = ast.Tuple(elts=[ret.value, ast.Name(name, ast.Load())], ctx=ast.Load())
    tree.has_aux = True
    return tree


def _functions_as_constants(parsed, input_kinds):
    """A function given as an argument (`loss(w, model)`) is a constant of this compilation: the
    body starts with `model = <the function>`, a global the inliner follows, and the parameter
    itself is not read. Returns the kinds with those arguments' kinds made `OTHER`."""
    params = [a.arg for a in parsed.tree.args.args]
    prologue = []
    parsed.static_params = {}  # parameter -> the name its function is read by
    for param, kind in zip(params, input_kinds):
        if not K.is_function_kind(kind):
            continue
        value = kind[1]
        name = getattr(value, "__name__", "")
        modules = [m for m, module in parsed.namespace.items() if isinstance(module, types.ModuleType)
                   and name and getattr(module, name, None) is value]
        if modules:  # `np.tanh`: read as the user would write it
            reference = ast.Attribute(value=ast.Name(modules[0], ast.Load()), attr=name, ctx=ast.Load())
        elif not (name.isidentifier() and not keyword.iskeyword(name) and parsed.namespace.get(name, value) is value
                and name not in params):
            name = f"_{param}_{identifier(name or 'function')}"
            while parsed.namespace.get(name, value) is not value or name in params:
                name += "_"
        if not modules:
            parsed.namespace[name] = value
            reference = ast.Name(name, ast.Load())
        else:
            name = ast.unparse(reference)
        assign = ast.Assign(targets=[ast.Name(param, ast.Store())], value=reference)
        prologue.append(fix_missing_locations(ast.copy_location(assign, parsed.tree)))
        parsed.static_params[param] = name
    parsed.tree.body = prologue + parsed.tree.body
    return tuple(K.OTHER if K.is_function_kind(k) else k for k in input_kinds)


def prepare(function, input_kinds, active_inputs, has_aux=False, input_shapes=None):
    """Parse and normalize `function`; returns (parsed, normalized tree, analysis). `input_shapes`
    (a shape per parameter, None for non-arrays) specializes the code to those shapes."""
    transform = transform_of(function)
    if transform is not None:  # grad(grad(f)): the inner derivative's code, differentiated
        function = materialize(transform, input_kinds, input_shapes)
    parsed = parse_function(function)
    for node in walk(parsed.tree):
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
    input_kinds = _functions_as_constants(parsed, input_kinds)
    parsed.tree_spans = None
    parsed.record_fields = {
        a.arg: record_fields_of(k[1]) for a, k in zip(args.args, input_kinds) if is_tree_kind(k) and record_fields_of(k[1])
    }
    if any(is_tree_kind(k) for k in input_kinds):  # dict / list / tuple arguments: leaves
        input_shapes = None
        input_kinds, active_inputs, parsed.tree_spans = expand_parameters(parsed.tree, input_kinds, active_inputs)
    parsed.active_inputs = tuple(active_inputs)
    params = [a.arg for a in args.args]
    aux = _split_aux(parsed) if has_aux else None
    try:
        lifted = lift_local_functions(parsed)  # local defs, lambdas: inlined where called
        lifted = rewrite_writes(unroll_key_loops(lifted, parsed.namespace), parsed.namespace)
        tree = normalize(desugar(lifted, copy=False), copy=False)
    except DesugarError as exc:
        raise _convert(parsed, exc, exc.node) from None
    if has_aux:
        tree = _return_aux(tree, aux)
    tree, origins = inline_calls(parsed, tree, copy=False)
    if parsed.record_fields:  # NamedTuple / dataclass arguments are dicts in the body: `p.W` -> `p["W"]`
        records_as_dicts(tree, parsed.record_fields)
    _reject_method_statements(parsed, tree)
    tree = optimize(tree, parsed.namespace, copy=False)  # the tree is this compilation's own
    parsed.origins = origins
    kinds = dict(zip(params, input_kinds))
    active_names = {params[i] for i in active_inputs}
    shapes = None
    if input_shapes is not None:
        shapes = {p: s for p, s in zip(params, input_shapes) if s is not None}
    parsed.input_shapes = shapes or {}

    def classify_error(exc, stmt):
        return _convert(parsed, exc, stmt)

    analysis = analyze(tree, parsed.namespace, kinds, active_names, classify_error=classify_error, input_shapes=shapes)
    mixed = list_kind_conflicts(tree, analysis)
    if mixed:  # `traj = []; ...; traj = np.array(traj)`: one name for a list, then for an array
        tree = split_versions(tree, mixed)
        analysis = analyze(tree, parsed.namespace, kinds, active_names, classify_error=classify_error,
                           input_shapes=shapes)
    _reject_array_aliases(parsed, tree, analysis)
    _reject_effect_calls(parsed, tree, analysis)
    _reject_view_writes(parsed, tree, analysis)
    _reject_run_time_keys(parsed, tree)
    check_lists(parsed, tree, analysis)
    return parsed, tree, analysis


_VIEW_METHODS = ("reshape", "ravel", "view", "transpose", "swapaxes", "squeeze", "diagonal")
_VIEW_ATTRIBUTES = ("T", "mT", "real", "imag")
_VIEW_FUNCTIONS = (
    np.reshape, np.ravel, np.transpose, np.swapaxes, np.squeeze, np.moveaxis, np.expand_dims, np.asarray,
    np.atleast_1d, np.atleast_2d, np.atleast_3d, np.diagonal, np.broadcast_to, np.real, np.imag,
)


def _view_of(value, parsed, analysis):
    """The local array `value` may be a view of (`a[1:3]`, `a.T`, `a.reshape(...)`, `np.ravel(a)`), or
    None."""
    def local(node):
        return isinstance(node, ast.Name) and not getattr(node, "_global", False) \
            and analysis.kinds.get(node.id) in (K.ARRAY, K.ANY)

    if isinstance(value, ast.Subscript) and local(value.value):
        parts = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
        basic = any(isinstance(p, ast.Slice) or (isinstance(p, ast.Constant) and p.value in (None, Ellipsis))
                    for p in parts)
        shape = analysis.shapes.get(value.value.id)
        row = shape is not None and len(shape) > len(parts) and all(
            analysis.kinds.get(p.id) == K.INT if isinstance(p, ast.Name) else isinstance(p, ast.Constant)
            for p in parts
        )
        return value.value.id if basic or row else None
    if isinstance(value, ast.Attribute) and value.attr in _VIEW_ATTRIBUTES and local(value.value):
        return value.value.id
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and local(value.func.value) \
            and value.func.attr in _VIEW_METHODS:
        return value.func.value.id
    if isinstance(value, ast.Call) and is_global(value.func) and value.args and local(value.args[0]):
        callee = resolve(value.func, parsed.namespace)
        if any(callee is fn for fn in _VIEW_FUNCTIONS):
            return value.args[0].id
    return None


def _reject_view_writes(parsed, tree, analysis):
    """`v = a[1:3]` (or `a.T`, `a.reshape(...)`, ...) then a write into `v` while `a` is read later,
    or a write into `a` while `v` is read later: NumPy changes both arrays, the derivative would
    treat them apart, so the write is refused. (A write through a slice, `a[1:3][0] = v`, is
    rewritten into a copy written back: `s2sad.writes`.)"""
    order = list(walk_statements(tree.body))
    position = {id(s): i for i, s in enumerate(order)}
    loops = {}  # id(statement) -> the loops around it
    for loop in order:
        if isinstance(loop, (ast.For, ast.While)):
            for inner in walk_statements(loop.body):
                loops.setdefault(id(inner), []).append(loop)

    def read_after(name, write, made):
        """Is `name` (still the view or its base) read after `write`: later, or in a loop around both?"""
        for stmt in order[position[id(write)] + 1:]:
            if isinstance(stmt, (ast.For, ast.While, ast.If)):
                continue
            if _reads(stmt, name):
                return True
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name:
                break  # a new value from here on
        outside = [loop for loop in loops.get(id(write), []) if loop not in loops.get(id(made), [])]
        return any(_reads(s, name) for loop in outside for s in walk_statements(loop.body))

    for made in order:
        if not (isinstance(made, ast.Assign) and isinstance(made.targets[0], ast.Name)):
            continue
        view, base = made.targets[0].id, _view_of(made.value, parsed, analysis)
        if base is None or base == view or not ({view, base} & analysis.varied):
            continue
        for write in order[position[id(made)] + 1:]:
            if not isinstance(write, ast.Assign):
                continue
            if isinstance(write.targets[0], ast.Name) and write.targets[0].id == view:
                break  # `v` names another value from here on
            written = subscript_write(write, {view, base})
            if written is None:
                continue
            other = base if written.value.id == view else view
            if not read_after(other, write, made):
                continue
            line = (_describe(parsed)(write.lineno) or "").split(": ", 1)[-1]
            named = all(re.search(rf"\b{re.escape(n)}\b", (_describe(parsed)(made.lineno) or "") + line)
                        for n in (view, base))
            what = f"`{view}` is a view of `{base}`" if named else "this line writes into a view of an array"
            raise parsed.error(
                UnsupportedSyntaxError,
                f"{what} (a slice, a transpose or a reshape shares its data): writing into one changes the other "
                "in NumPy, which the derivative would not follow",
                write,
                hint="take a copy where the view is made (`v = a[1:3].copy()`) and write it back "
                     "(`a[1:3] = v`), or write through the base array itself",
            )


def _reject_run_time_keys(parsed, tree):
    """`d[k]` with `d` a dict and `k` not a constant: s2sad resolves dict keys when it compiles
    (loops over constant keys are unrolled: `s2sad.key_loops`)."""
    dicts = {s.targets[0].id for s in walk(tree) if isinstance(s, ast.Assign)
             and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.Dict)}
    for stmt in walk_statements(tree.body):
        for node in walk(stmt) if isinstance(stmt, ast.Assign) else ():
            if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name)
                    and node.value.id in dicts and not isinstance(node.slice, ast.Constant)):
                line = (_describe(parsed)(stmt.lineno) or "").split(": ", 1)[-1]
                name = f"`{node.value.id}`" if re.search(rf"\b{re.escape(node.value.id)}\b", line) else "a dict"
                raise parsed.error(
                    UnsupportedSyntaxError,
                    f"this line reads {name} with a key computed at run time; s2sad resolves dict keys when it "
                    "compiles",
                    stmt,
                    hint='use a constant key (`d["w"]`), or loop over constant keys: `for k in ["w", "b"]:`, '
                         "`for k, v in d.items():`",
                )


def _reject_effect_calls(parsed, tree, analysis):
    """A call statement (its value unused) given a differentiated value may write into it or into
    another argument: unless it is `print` or a function in the rule table (those return their
    result and change nothing), it is refused, never a silent constant. The writes NumPy users
    make by call (`np.add.at`, `np.copyto`, `out=`, ...) were rewritten before (`s2sad.writes`)."""
    for stmt in walk(tree):
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)) or list_append(stmt) is not None:
            continue
        call = stmt.value
        operands = [call.func] + call.args + [k.value for k in call.keywords]
        names = {n.id for operand in operands for n in walk(operand)
                 if isinstance(n, ast.Name) and not getattr(n, "_global", False)}
        if not names & analysis.varied:
            continue
        callee = resolve(call.func, parsed.namespace) if is_global(call.func) else None
        if callee is print or (callee is not None and lookup_rule(callee) is not None):
            continue  # the table's functions return their result and change nothing
        raise parsed.error(
            UnsupportedSyntaxError,
            "this call's value is not used and it is given a differentiated value: it may change that value "
            "(or another argument) in place, which the derivative would not follow",
            stmt,
            hint="write into an array by index (`a[i] = v`) or assign the call's result (`a = f(a)`); a call "
                 "with no effect on the values belongs outside the differentiated function",
        )


def _written_while_iterated(tree, sequence, name):
    """Is `name` written in place inside a loop that reads `sequence` (`for e in name:`)?"""
    for loop in walk(tree):
        if not isinstance(loop, (ast.For, ast.While)):
            continue
        inside = list(walk(ast.Module(body=loop.body, type_ignores=[])))
        if not any(isinstance(n, ast.Name) and n.id == sequence for n in inside):
            continue
        if any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store)
               and isinstance(n.value, ast.Name) and n.value.id == name for n in inside):
            return True
    return False


def _no_write_after(tree, stmt, names):
    """Is `stmt` a top-level statement of `tree` after which nothing writes into `names` in place?"""
    body = tree.body
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if index is None:
        return False
    return not any(subscript_write(later, names) is not None for later in body[index + 1:])


def _reject_array_aliases(parsed, tree, analysis):
    """`b = a` then `b[i] = v` changes `a` too; the derivative would treat them apart."""
    stores, reads = set(), {}
    for node in walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
            stores.add(node.value.id)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
    for node in walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)):
            continue
        if getattr(node.value, "_global", False):
            continue
        a, b = node.targets[0].id, node.value.id
        if not ({a, b} & stores) or analysis.kinds.get(b) not in (K.ARRAY, K.ANY):
            continue
        if a.startswith("_sequence") and a not in stores and not _written_while_iterated(tree, a, b):
            continue  # `for e in b:` reads b while no one writes into it
        if _no_write_after(tree, node, {a, b}):
            continue  # every write into them is done: the two names only read one value from here on
        index = next((i for i, s in enumerate(tree.body) if s is node), None)
        if index is not None and rebinds_to_copy(tree.body, index, a, parsed.namespace, {a, b}):
            continue  # `a = b; a = a.copy(); a[i] = v`: `a` is its own array before anything is written
        if index is not None and _rebound_to_new(tree.body, index, a, parsed.namespace, {a, b}):
            continue  # `a = b; a = a * 2.0; a[i] = v`: likewise, a new array computed from it
        if _dead_after(tree, node, b):
            continue  # `b` is not read again before it is rebound: `a` takes its array over
        if reads.get(b, 0) > 1 and (a in analysis.active or b in analysis.active):
            line = _describe(parsed)(node.lineno) or ""
            if all(re.search(rf"\b{re.escape(n)}\b", line.split(": ", 1)[-1]) for n in (a, b)):
                message = f"`{a} = {b}` makes `{a}` another name for the array `{b}`, and one of them is "
                hint = f"copy the array: `{a} = {b}.copy()`"
            else:  # a name the inliner made: the user's line says which value
                message = "this line gives a second name to an array, and one of them is "
                hint = "copy the array where it gets its second name (`b = a.copy()`)"
            raise parsed.error(
                UnsupportedSyntaxError, message + "written in place: NumPy changes both, the derivative would not",
                node, hint=hint,
            )


def _rebound_to_new(body, index, name, namespace, names):
    """After `body[index]`, is `name` rebound by a top-level statement to an array an arithmetic
    operation or a ufunc makes (`a = a * 2.0`), before anything writes into `names`?"""
    made = {}
    for later in body[index + 1:]:
        if subscript_write(later, names) is not None:
            return False
        if isinstance(later, ast.Assign) and isinstance(later.targets[0], ast.Name):
            value = later.value
            if isinstance(value, ast.Name) and not getattr(value, "_global", False):
                value = made.get(value.id, value)
            if later.targets[0].id == name:
                if isinstance(value, (ast.BinOp, ast.UnaryOp)):
                    return True
                return isinstance(value, ast.Call) and is_global(value.func) \
                    and isinstance(resolve(value.func, namespace), np.ufunc)
            made[later.targets[0].id] = value
    return False


def _reads(node, name):
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for n in walk(node))


def _scan(stmts, name):
    """'read' if `stmts` may read `name` before surely rebinding it, 'killed' if they rebind it
    first, 'open' if they do neither."""
    for stmt in stmts:
        if _reads(stmt, name):
            return "read"
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name:
            return "killed"
    return "open"


def _dead_after(tree, stmt, name):
    """Is `name` surely rebound before it is read again, on every path from `stmt` (loops included)?"""
    frames = []  # (block, index, the statement owning the block) from the function down to `stmt`

    def find(block, owner):
        for i, s in enumerate(block):
            if s is stmt:
                frames.append((block, i, owner))
                return True
            for attr in ("body", "orelse"):
                if isinstance(getattr(s, attr, None), list) and find(getattr(s, attr), s):
                    frames.append((block, i, owner))
                    return True
        return False

    if not find(tree.body, None):
        return False
    for block, i, owner in frames:  # innermost first
        state = _scan(block[i + 1:], name)
        if state == "read":
            return False
        if state == "killed":
            return True  # every path from `stmt` passes the rebinding
        if isinstance(owner, (ast.For, ast.While)):  # back to the top of the body
            if _scan(block[: i + 1], name) != "killed":
                return False
    return True


def _describe(parsed):
    base = parsed.filename.rsplit("/", 1)[-1]

    def describe(lineno):
        if lineno in getattr(parsed, "origins", {}):
            return parsed.origins[lineno][2]
        if lineno == parsed.tree.lineno and not getattr(parsed, "is_lambda", False):
            return None  # the `def` line: prologue and epilogue code
        text = parsed.line(lineno)
        return f"{base}:{lineno}: {text}" if text else None

    return describe


def generate(function, mode, active_inputs, input_kinds, has_aux=False, input_shapes=None):
    """Generate derivative source. Returns (parsed, {name: ast}, analysis)."""
    parsed, tree, analysis = prepare(function, input_kinds, active_inputs, has_aux, input_shapes)
    active_inputs = parsed.active_inputs
    output = analysis.output.id if isinstance(analysis.output, ast.Name) else None
    parsed.container_output = any(
        isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and s.targets[0].id == output
        and isinstance(s.value, (ast.Tuple, ast.List, ast.Dict))
        for s in walk(tree)
    )
    params = [a.arg for a in tree.args.args]
    active = [params[i] for i in active_inputs]
    try:
        if mode == "forward":
            functions = {"jvp": forward_transform(tree, parsed.namespace, analysis.kinds, active, analysis)}
        elif mode == "forward_vector":
            functions = {"jvp": forward_transform(tree, parsed.namespace, analysis.kinds, active, analysis,
                                                  transform_class=VectorForwardTransform)}
        elif mode == "grad" and _scalar_output(analysis):
            code = reverse_transform(tree, parsed.namespace, analysis.kinds, active, analysis, form="gradient")
            parsed.records = code.records
            functions = {"grad": drop_unused(code.gradient, parsed.namespace) if config.enabled() else code.gradient}
        elif mode == "split":  # what `vjp` and `jacrev` run: a forward sweep, a pullback called many times
            code = reverse_transform(tree, parsed.namespace, analysis.kinds, active, analysis, form="split")
            parsed.records = code.records
            # the two may share expression nodes; the peepholes below rewrite nodes in place
            functions = {"forward": code.forward, "backward": clone(code.backward)}
        else:
            code = reverse_transform(tree, parsed.namespace, analysis.kinds, active, analysis, form="joint")
            parsed.records = code.records
            functions = {"vjp": code.joint}
        for node in functions.values() if config.enabled() else ():
            unshare(node)  # the sweeps may share nodes; the peepholes below rewrite nodes in place
            fold_negations(node)
            for _ in range(2):  # a propagated copy can leave `a = a`, dropped by the fusing pass
                before = sum(1 for _ in statements(node.body))
                propagate_copies_in_blocks(node)
                fuse_accumulations(node)
                if sum(1 for _ in statements(node.body)) == before:
                    break  # nothing dropped: another round would change nothing
            inline_single_use(node)
            if not config.portable():
                sum_products_after_loops(node)
                sum_outer_products_after_loops(node)
            # `a_bar[i] += g`: also in code differentiated again, where the outer derivative saves
            # the one element it overwrites (a functional `added_at` would copy the array)
            accumulate_at_basic_indices(node, {n for n, k in analysis.kinds.items() if k == K.INT})
    except S2sadError:
        raise
    except NotImplementedError as exc:
        raise parsed.error(NoDerivativeRuleError, f"`{exc}` has no {'reverse' if mode in ('grad', 'split') else mode}-mode rule", parsed.tree,
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


def _where(parsed, lineno):
    """`file.py:12` for a line of the user's code (inlined helpers included)."""
    origins = getattr(parsed, "origins", {}) or {}
    if lineno in origins:
        filename, line = origins[lineno][0], origins[lineno][1]
        return f"{filename.rsplit('/', 1)[-1]}:{line}"
    return f"{parsed.filename.rsplit('/', 1)[-1]}:{lineno}"


def record_report(parsed):
    """Header lines saying what the forward sweep records for the backward sweep."""
    records = getattr(parsed, "records", None)
    if records is None:
        return ""
    if not records:
        return "# records nothing for the backward sweep\n"
    lines = []
    for lineno, names in records:
        if lineno is None:
            sites = ", ".join(_where(parsed, n) for n in names)
            lines.append(f"# records on the stack, at {sites}\n")
        else:
            shown = ", ".join(names)
            lines.append(f"# records per iteration of the loop at {_where(parsed, lineno)}: {len(names)} value"
                         f"{'s' if len(names) != 1 else ''} ({shown})\n")
    return "".join(lines)


def _first_line(parsed):
    return parsed.tree.lineno if getattr(parsed, "is_lambda", False) else parsed.first_line


def header_for(parsed, mode, params, kinds, active):
    functions = getattr(parsed, "static_params", {})
    shapes = getattr(parsed, "input_shapes", {})
    described = ", ".join(
        (f"{p}: the function {functions[p]}" if p in functions else f"{p}: {kinds.get(p, 'any')}")
        + (f" {shapes[p]}" if p in shapes else "")
        for p in params
    )
    wrt = ", ".join(active)
    return (
        f"# {'reverse' if mode in ('grad', 'split') else mode}-mode derivative of {parsed.name} ({parsed.filename}:{_first_line(parsed)})\n"
        f"# generated by s2sad; specialized for {described}; differentiated w.r.t. {wrt}\n"
        + (record_report(parsed) if mode not in ("forward", "forward_vector") else "")
    )


def render(parsed, functions, analysis, params, mode, active, pretty):
    """The source of the generated `functions` with its header (the trees are changed: render last)."""
    describe = _describe(parsed)
    kinds = analysis.kinds
    text = header_for(parsed, mode, params, kinds, active)
    for node in functions.values():  # rendered once, after every pass: no copy needed
        text += "\n" + to_source(node, describe, copy=False) + "\n"
    return format_source(text) if pretty else text


def compile_derivative(function, mode, active_inputs, input_kinds, has_aux=False, input_shapes=None):
    """Compile (cached) the derivative of `function`; see the module docstring. With `input_shapes`
    (per parameter its shape, or None), the code is valid only for arguments of those shapes."""
    if not hasattr(function, "__code__"):
        parse_function(function)  # raises SourceUnavailableError with the reason
    if not config.enabled():
        input_shapes = None
    key = (code_identity(function), reads_key(function), mode, tuple(active_inputs), tuple(input_kinds), has_aux,
           config.enabled(), input_shapes)
    compiled = _CACHE.get(key)
    if compiled is not None:
        return compiled
    key = key[:1] + (reads_key(function, keep=True),) + key[2:]  # planned again: a callee may be new
    collecting = gc.isenabled()
    gc.disable()  # the passes make ~10^5 short-lived AST nodes (no cycles): collecting them costs ~10%
    try:
        compiled = _CACHE[key] = _compile(function, mode, active_inputs, input_kinds, has_aux, input_shapes)
    finally:
        if collecting:
            gc.enable()
    return compiled


def _compile(function, mode, active_inputs, input_kinds, has_aux, input_shapes):
    parsed, functions, analysis, params = generate(function, mode, active_inputs, input_kinds, has_aux, input_shapes)
    active = [params[i] for i in parsed.active_inputs]
    text = render(parsed, functions, analysis, params, mode, active, pretty=False)
    filename = f"<s2sad {mode} {parsed.name} #{next(_COUNTER)}>"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    namespace = _namespace(parsed)
    exec(compile(text, filename, "exec"), namespace)
    output_kind = _output_kind(analysis)
    objects = {role: namespace[node.name] for role, node in functions.items()}
    main = objects.get("jvp") or objects.get("grad") or objects.get("vjp") or objects["forward"]
    if mode == "grad" and "grad" not in objects:
        mode = "reverse"  # the value is returned too: the caller checks its shape
    if parsed.tree_spans:
        objects = _tree_calls(objects, input_kinds, active_inputs, parsed.tree_spans, has_aux)
        main = objects.get("jvp") or objects.get("grad") or objects.get("vjp") or objects["forward"]
    ret = parsed.tree.body[-1] if parsed.tree.body else parsed.tree
    compiled = Compiled(
        function=main,
        source=text,
        mode=mode,
        output_kind=output_kind,
        params=params,
        active_inputs=list(active_inputs),
        extra={"objects": objects, "container_output": parsed.container_output, "where": user_where(function, (parsed.filename, getattr(ret, "lineno", None), parsed.line(getattr(ret, "lineno", 0) or 0))),
               # what another code target needs: the generated functions' names, their namespace
               "names": {role: node.name for role, node in functions.items()}, "namespace": namespace,
               "tree_spans": parsed.tree_spans},
    )
    return compiled


def _tree_calls(objects, input_kinds, active_inputs, spans, has_aux=False):
    """Wrap generated functions that take tree leaves so that they take (and return) trees."""
    count = len(input_kinds)
    trees = {i: k[1] for i, k in enumerate(input_kinds) if is_tree_kind(k)}

    def flat(values, indexes):
        out = []
        for index, value in zip(indexes, values):
            if index in trees:
                leaves, treedef = flatten(value)
                if treedef != trees[index]:
                    raise ArgumentError(
                        f"argument {index} has the structure {treedef}, expected {trees[index]}",
                        hint="pass tangents and cotangents shaped like the primal trees",
                    )
                out += leaves
            else:
                out.append(value)
        return out

    def regroup(grads):
        out, at = [], 0
        for index in active_inputs:
            width = spans[index][1].stop - spans[index][1].start
            part = grads[at : at + width]
            out.append(unflatten(trees[index], part) if index in trees else part[0])
            at += width
        return tuple(out)

    wrapped = {}
    if "jvp" in objects:
        jvp = objects["jvp"]
        wrapped["jvp"] = lambda *a: jvp(*flat(a[:count], range(count)), *flat(a[count:], active_inputs))
    if "grad" in objects:
        grad = objects["grad"]
        if has_aux:  # the generated function returns (grads, aux)
            def grad_call(*a):
                grads, aux = grad(*flat(a[:count], range(count)), *a[count:])
                return regroup(grads), aux

            wrapped["grad"] = grad_call
        else:
            wrapped["grad"] = lambda *a: regroup(grad(*flat(a[:count], range(count)), *a[count:]))
    if "vjp" in objects:
        joint = objects["vjp"]

        def joint_call(*a):
            value, grads = joint(*flat(a[:count], range(count)), *a[count:])
            return value, regroup(grads)

        wrapped["vjp"] = joint_call
    if "forward" in objects:
        forward, backward = objects["forward"], objects["backward"]
        wrapped["forward"] = lambda *a: forward(*flat(a, range(count)))
        wrapped["backward"] = lambda residuals, seed: regroup(backward(residuals, seed))
    return wrapped


def clear_cache():
    """Forget every compiled derivative (and the memos of shapes and rule bindings, so that the
    next compilation costs what a first one does)."""
    from .api import _TRANSFORM_CACHE
    from .rules import clear_plans
    from .shapes import clear_memos

    _CACHE.clear()
    _TRANSFORM_CACHE.clear()
    clear_memos()
    clear_plans()


def signature_params(function):
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise ArgumentError(f"cannot read the signature of {function!r}") from None
