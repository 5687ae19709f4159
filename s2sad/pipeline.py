"""The pipeline: the ordered passes from a Python function to its compiled derivative.

    function -> FRONTEND (parse, checks, lower, inline, optimize) -> ANALYSES (kinds, activity,
    shapes, checks) -> transform (forward / reverse, by mode) -> PEEPHOLES -> render -> exec

Each pass takes the one `Compilation` record and fills its declared fields. Compiled derivatives
are cached (`s2sad.cache`) per (code object, mode, argnums, argument kinds, and the arrays'
shapes for code specialized to them) so a changed function body (a new `__code__`) compiles again.
Generated source is registered with `linecache`, so tracebacks and `inspect.getsource` show it.

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
import itertools
import json
import linecache
import logging
import math
import sys
import time
import types
from dataclasses import dataclass, field

import numpy as np

from . import cache, config
from . import kinds as K
from . import runtime
from .analyses.activity import Analysis, analyze
from .analyses.checks import (
    check_parameters,
    reject_array_aliases,
    reject_declarations,
    reject_effect_calls,
    reject_method_statements,
    reject_run_time_keys,
    reject_view_writes,
)
from .analyses.lists import check_lists, list_kind_conflicts
from .analyses.primitives import MissingRule, RefusedOperand
from .astutil import clone, identifier, statements, unshare, walk
from .codegen.header import header
from .codegen.python import LINE_ORIGINS, format_source, to_source
from .errors import DesugarError, NoDerivativeRuleError, S2sadError, UnsupportedSyntaxError
from .frontend.aux import return_aux, split_aux
from .frontend.constants import functions_as_constants
from .frontend.desugar import desugar
from .frontend.fingerprint import derivative_key
from .frontend.inline import inline_calls
from .frontend.key_loops import unroll_key_loops
from .frontend.lift import lift_local_functions
from .frontend.nested import (
    code_identity,
    materialize,
    reads_key,
    register_pipeline,
    transform_of,
    user_where,
)
from .frontend.normalize import normalize
from .frontend.pragmas import checkpoint_pragmas
from .frontend.source import ParsedFunction, function_namespace, parse_function
from .frontend.writes import rewrite_writes
from .modes import Mode
from .optimize import optimize
from .optimize.batch_rows import batch_row_products
from .optimize.renumber import renumber
from .optimize.versions import split_versions
from .peepholes.accumulations import fuse_accumulations
from .peepholes.copies import propagate_copies_in_blocks
from .peepholes.dead_inits import drop_dead_initializations
from .peepholes.negations import fold_negations
from .peepholes.outer_sums import sum_outer_products_after_loops
from .peepholes.products import sum_products_after_loops
from .peepholes.scatter import accumulate_at_basic_indices
from .peepholes.single_use import inline_single_use
from .peepholes.tapes import drop_unread_tapes
from .peepholes.transposes import hoist_transposes
from .peepholes.unused import drop_unused
from .signatures import diff_kinds, kinds_of, signature_of
from .transforms.forward import forward_transform
from .transforms.forward_vector import VectorForwardTransform
from .transforms.reverse import reverse_transform
from .trees import expand_parameters, is_tree_kind, record_fields_of, records_as_dicts, tree_calls

_CACHE = cache.COMPILED
_MISSING = object()
_COUNTER = itertools.count(1)
TEMPLATE_GLOBALS = {"np": np, "math": math, "_rt": runtime}


@dataclass
class Compilation:
    """One derivative being compiled: what it was asked for, then what the passes learn, in order."""

    function: object
    mode: Mode
    active_inputs: tuple  # positions of the differentiated parameters (leaves, once trees are expanded)
    input_kinds: tuple
    has_aux: bool = False
    input_shapes: tuple = None  # a shape per parameter (None for non-arrays): the code is specialized
    portable: bool = False  # code to be differentiated again (s2sad.frontend.nested): no fused products
    parsed: ParsedFunction = None  # the user's function, parsed
    static_params: dict = field(default_factory=dict)  # parameter -> the name its function is read by
    tree_spans: dict = None  # tree parameter position -> (its leaves' names, their slice of positions)
    record_fields: dict = field(
        default_factory=dict
    )  # parameter -> field names of the records (NamedTuple, dataclass) in it
    aux_name: str = None  # the name holding aux (has_aux)
    tree: ast.FunctionDef = None  # lowered, inlined and optimized: what the transforms read
    params: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)  # parameter -> the shape the code is specialized to
    analysis: Analysis = None
    container_output: bool = False  # the output is a tuple, list or dict literal
    functions: dict = field(
        default_factory=dict
    )  # role ("jvp", "grad", "vjp", "forward", ...) -> FunctionDef
    records: list = None  # what the forward sweep records for the backward sweep (reverse modes)
    checkpoints: dict = field(default_factory=dict)  # line of a loop marked for checkpointing -> snapshots
    checkpointed: list = None  # (loop line, snapshots, schedule, state variables): what reverse mode did
    stages: "Stages" = None  # how long each pass took (logged: `s2sad.config.LOG`)

    @property
    def active_names(self):
        return [self.params[i] for i in self.active_inputs]

    def error(self, exc, node):
        """`exc` raised by a pass on `node`, as the user's error (file, line, code)."""
        return _convert(self.parsed, exc, node)


class Stages:
    """The passes of one compilation and their times, logged on `s2sad.config.LOG`: every pass at
    DEBUG, and at INFO once the compilation has run longer than `config.SLOW` (then a summary too)."""

    def __init__(self, function, mode):
        code = getattr(function, "__code__", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
        self.what = f"{mode} derivative of {getattr(function, '__qualname__', function)}{where}"
        self.start = self.last = time.perf_counter()
        self.times = []

    def done(self, stage):
        now = time.perf_counter()
        self.times.append((stage, now - self.last))
        level = logging.INFO if now - self.start > config.SLOW else logging.DEBUG
        if config.LOG.isEnabledFor(level):
            config.LOG.log(
                level,
                "%s: %s took %.2f s (%.2f s so far)",
                self.what,
                stage,
                now - self.last,
                now - self.start,
            )
        self.last = now

    def finish(self):
        total = time.perf_counter() - self.start
        level = logging.INFO if total > config.SLOW else logging.DEBUG
        if config.LOG.isEnabledFor(level):
            slowest = sorted(self.times, key=lambda item: -item[1])[:4]
            config.LOG.log(
                level,
                "compiled the %s in %.2f s (slowest: %s)",
                self.what,
                total,
                ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in slowest),
            )


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
        short = identifier(name.rsplit(".", 1)[-1]) or "f"
        return parsed.error(
            NoDerivativeRuleError,
            f"no derivative rule for `{name}`",
            node,
            hint=f"give it a rule, once, before the call: `@s2sad.defvjp({name})` on "
            f"`def {short}_bwd(primals, g): return (<g times the derivative by primals[0]>, ...)` (one "
            f"cotangent per argument; primals are the call's arguments, g the output's cotangent), or "
            f"`@s2sad.defjvp({name})` on `def {short}_jvp(primals, tangents): return out, out_dot` "
            f"(docs/rules.md; or register templates with `@s2sad.rules.tangent({name})` and "
            f"`@s2sad.rules.adjoint({name})`); or `s2sad.rules.nondifferentiable({name})` if it has no derivative",
        )
    if isinstance(exc, RefusedOperand):
        return parsed.error(UnsupportedSyntaxError, exc.message, node, hint=exc.hint)
    if isinstance(exc, TypeError):
        return parsed.error(
            UnsupportedSyntaxError,
            f"unsupported call signature: {exc}",
            node,
            hint="call the function with the arguments its derivative rule knows",
        )
    return parsed.error(UnsupportedSyntaxError, f"{type(exc).__name__}: {exc}", node)


# -- the frontend: parse, check, lower, inline, optimize ----------------------------------------


def parse(c):
    function = c.function
    transform = transform_of(function)
    if transform is not None:  # grad(grad(f)): the inner derivative's code, differentiated
        function = materialize(transform, c.input_kinds, c.input_shapes)
    c.parsed = parse_function(function)


def check_source(c):
    reject_declarations(c.parsed)
    check_parameters(c.parsed)
    c.checkpoints = checkpoint_pragmas(c.parsed)


def constants_and_trees(c):
    c.input_kinds, c.static_params = functions_as_constants(c.parsed, c.input_kinds)
    c.record_fields = {
        a.arg: record_fields_of(k[1])
        for a, k in zip(c.parsed.tree.args.args, c.input_kinds)
        if is_tree_kind(k) and record_fields_of(k[1])
    }
    if any(is_tree_kind(k) for k in c.input_kinds):  # dict / list / tuple arguments: leaves
        c.input_shapes = None
        c.input_kinds, c.active_inputs, c.tree_spans = expand_parameters(
            c.parsed.tree, c.input_kinds, c.active_inputs
        )
    c.active_inputs = tuple(c.active_inputs)
    c.params = [a.arg for a in c.parsed.tree.args.args]


def lower(c):
    """Local functions lifted, loops over constant dict keys unrolled, writes by call (`np.add.at`,
    `out=`) rewritten, the language desugared, statements normalized (has_aux: the aux value split
    off the returns first)."""
    c.aux_name = split_aux(c.parsed) if c.has_aux else None
    namespace = c.parsed.namespace
    try:
        lifted = lift_local_functions(c.parsed)  # local defs, lambdas: inlined where called
        lifted = rewrite_writes(unroll_key_loops(lifted, namespace), namespace)
        tree = normalize(desugar(lifted, copy=False), copy=False)
    except DesugarError as exc:
        raise c.error(exc, exc.node) from None
    c.tree = return_aux(tree, c.aux_name) if c.has_aux else tree


def inline(c):
    c.tree, origins = inline_calls(
        c.parsed, c.tree, copy=False, static_params=c.static_params, active_inputs=c.active_inputs
    )
    if c.record_fields:  # NamedTuple / dataclass arguments are dicts in the body: `p.W` -> `p["W"]`
        records_as_dicts(c.tree, c.record_fields)
    reject_method_statements(c.parsed, c.tree)
    c.parsed.origins = origins  # lines of inlined helpers: where their code came from


def optimize_tree(c):
    c.tree = optimize(c.tree, c.parsed.namespace, copy=False)  # the tree is this compilation's own
    if config.enabled() and c.input_shapes is not None:  # rows of a matrix times a fixed matrix
        shapes = {p: s for p, s in zip(c.params, c.input_shapes) if s is not None}
        if batch_row_products(c.tree, shapes):
            renumber(c.tree)


FRONTEND = (parse, check_source, constants_and_trees, lower, inline, optimize_tree)


# -- the analyses ------------------------------------------------------------------------------


def _analyze(c):
    kinds = dict(zip(c.params, c.input_kinds))
    active_names = set(c.active_names)
    return analyze(
        c.tree,
        c.parsed.namespace,
        kinds,
        active_names,
        classify_error=c.error,
        input_shapes=c.shapes if c.input_shapes is not None else None,
        has_aux=c.has_aux,
    )


def analyze_tree(c):
    if c.input_shapes is not None:
        c.shapes = {p: s for p, s in zip(c.params, c.input_shapes) if s is not None}
    c.analysis = _analyze(c)
    mixed = list_kind_conflicts(c.tree, c.analysis)
    if mixed:  # `traj = []; ...; traj = np.array(traj)`: one name for a list, then for an array
        c.tree = split_versions(c.tree, mixed)
        c.analysis = _analyze(c)


def check_tree(c):
    reject_array_aliases(c.parsed, c.tree, c.analysis)
    reject_effect_calls(c.parsed, c.tree, c.analysis)
    reject_view_writes(c.parsed, c.tree, c.analysis)
    reject_run_time_keys(c.parsed, c.tree)
    check_lists(c.parsed, c.tree, c.analysis)
    output = c.analysis.output.id if isinstance(c.analysis.output, ast.Name) else None
    c.container_output = any(
        isinstance(s, ast.Assign)
        and isinstance(s.targets[0], ast.Name)
        and s.targets[0].id == output
        and isinstance(s.value, (ast.Tuple, ast.List, ast.Dict))
        for s in walk(c.tree)
    )


ANALYSES = (analyze_tree, check_tree)


# -- the transform, by mode --------------------------------------------------------------------


def differentiate(c):
    tree, namespace, kinds, active = c.tree, c.parsed.namespace, c.analysis.kinds, c.active_names
    # code to be differentiated again records every iteration: the schedule is run-time Python s2sad does not differentiate
    checkpoints = {} if c.portable else c.checkpoints

    def reverse(mode):  # one reverse transform; what it records and checkpoints go on the record
        code = reverse_transform(
            tree,
            namespace,
            kinds,
            active,
            c.analysis,
            mode=mode,
            portable=c.portable,
            checkpoints=checkpoints,
        )
        c.records, c.checkpointed = code.records, code.checkpoints
        return code

    if c.mode is Mode.FORWARD:
        c.functions = {"jvp": forward_transform(tree, namespace, kinds, active, c.analysis)}
    elif c.mode is Mode.FORWARD_VECTOR:
        c.functions = {
            "jvp": forward_transform(
                tree, namespace, kinds, active, c.analysis, transform_class=VectorForwardTransform
            )
        }
    elif c.mode is Mode.GRAD and _scalar_output(c.analysis):
        code = reverse(Mode.GRAD)
        c.functions = {"grad": drop_unused(code.gradient, namespace) if config.enabled() else code.gradient}
    elif c.mode is Mode.SPLIT:  # what `vjp` and `jacrev` run: a forward sweep, a pullback called many times
        code = reverse(Mode.SPLIT)
        # the two may share expression nodes; the peepholes below rewrite nodes in place
        c.functions = {"forward": code.forward, "backward": clone(code.backward)}
    else:
        code = reverse(Mode.REVERSE)
        c.functions = {"vjp": code.joint}


# -- peepholes on the derivative code ----------------------------------------------------------


def _copies_and_fusion(node):
    for _ in range(2):  # a propagated copy can leave `a = a`, dropped by the fusing pass
        before = sum(1 for _ in statements(node.body))
        propagate_copies_in_blocks(node)
        fuse_accumulations(node)
        if sum(1 for _ in statements(node.body)) == before:
            break  # nothing dropped: another round would change nothing


def _products(node, c):
    if not c.portable:
        sum_products_after_loops(node)
        sum_outer_products_after_loops(node)


def _scatter(node, c):
    # `a_bar[i] += g`: also in code differentiated again, where the outer derivative saves
    # the one element it overwrites (a functional `added_at` would copy the array)
    accumulate_at_basic_indices(node, {n for n, k in c.analysis.kinds.items() if k == K.INT})


def _tapes(node, c):
    drop_unread_tapes(node, c.records)


def _transposes(node, c):
    hoist_transposes(node, {n for n, k in c.analysis.kinds.items() if k == K.ARRAY})


PEEPHOLES = (  # (pass, whether it takes the compilation too), in order, on each generated function
    (unshare, False),  # the sweeps may share nodes; the peepholes below rewrite nodes in place
    (fold_negations, False),
    (_copies_and_fusion, False),
    (inline_single_use, False),
    (_products, True),
    (_scatter, True),
    (_tapes, True),  # the passes above may leave a recorded value unread
    (drop_dead_initializations, False),  # ... and its `v = None` before the loop
    (_transposes, True),
)


def peepholes(c):
    if not config.enabled():
        return
    for node in c.functions.values():
        for run, with_compilation in PEEPHOLES:
            run(node, c) if with_compilation else run(node)


def prepare(
    function, input_kinds, active_inputs, has_aux=False, input_shapes=None, mode=Mode.REVERSE, portable=False
):
    """Run the frontend and the analyses: the `Compilation` up to the transform."""
    c = Compilation(
        function, Mode(mode), tuple(active_inputs), tuple(input_kinds), has_aux, input_shapes, portable
    )
    c.stages = Stages(function, c.mode)
    for run in FRONTEND + ANALYSES:
        run(c)
        c.stages.done(run.__name__)
    return c


def generate(function, mode, active_inputs, input_kinds, has_aux=False, input_shapes=None, portable=False):
    """Run the passes: the `Compilation` of `function`'s derivative in `mode`, its code as trees."""
    c = prepare(function, input_kinds, active_inputs, has_aux, input_shapes, mode, portable)
    try:
        differentiate(c)
        c.stages.done("differentiate")
        peepholes(c)
        c.stages.done("peepholes")
    except S2sadError:
        raise
    except NotImplementedError as exc:
        raise c.parsed.error(
            NoDerivativeRuleError,
            f"`{exc}` has no {c.mode.family if c.mode.reverse else c.mode}-mode rule",
            c.parsed.tree,
            hint="register one with s2sad.rules.tangent / s2sad.rules.adjoint",
        ) from None
    return c


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


def render(c, functions=None, pretty=False, origins=None):
    """The source of the generated `functions` (default: all of `c`'s) with its header (the trees
    are changed: render last). `origins`, a dict, gets per comment written its user file and line."""
    describe = c.parsed.describe
    if origins is not None:
        parsed = c.parsed

        def describe(lineno):
            text = parsed.describe(lineno)
            if text:
                origins[text] = parsed.origins.get(lineno, (parsed.filename, lineno))[:2]
            return text

    text = header(c)
    for node in (functions or c.functions).values():  # rendered once, after every pass: no copy needed
        text += "\n" + to_source(node, describe, copy=False) + "\n"
    return format_source(text) if pretty else text


def compile_derivative(function, mode, active_inputs, input_kinds, has_aux=False, input_shapes=None):
    """Compile (cached) the derivative of `function`; see the module docstring. With `input_shapes`
    (per parameter its shape, or None), the code is valid only for arguments of those shapes."""
    mode = Mode(mode)
    if not hasattr(function, "__code__"):
        parse_function(function)  # raises SourceUnavailableError with the reason
    if not config.enabled():
        input_shapes = None
    key = (
        code_identity(function),
        reads_key(function),
        mode,
        tuple(active_inputs),
        tuple(input_kinds),
        has_aux,
        config.enabled(),
        input_shapes,
    )
    compiled = _CACHE.get(key)
    if compiled is not None:
        return compiled
    key = key[:1] + (reads_key(function, keep=True),) + key[2:]  # planned again: a callee may be new
    disk_key = _disk_key(function, mode, active_inputs, input_kinds, has_aux, input_shapes)
    compiled = _load(function, disk_key, input_kinds, active_inputs, has_aux) if disk_key else None
    if compiled is None:
        collecting = gc.isenabled()
        gc.disable()  # the passes make ~10^5 short-lived AST nodes (no cycles): collecting them costs ~10%
        try:
            compiled = _compile(function, mode, active_inputs, input_kinds, has_aux, input_shapes, disk_key)
        finally:
            if collecting:
                gc.enable()
    _CACHE[key] = compiled
    return compiled


def _compile(function, mode, active_inputs, input_kinds, has_aux, input_shapes, disk_key=None):
    c = generate(function, mode, active_inputs, input_kinds, has_aux, input_shapes)
    parsed, functions = c.parsed, c.functions
    origins = {}
    text = render(c, origins=origins)
    c.stages.done("render")
    namespace = _namespace(parsed)
    before = dict(namespace) if disk_key else None
    code = _exec(text, mode, parsed.name, namespace, origins)
    c.stages.done("exec")
    c.stages.finish()
    ret = parsed.tree.body[-1] if parsed.tree.body else parsed.tree
    meta = {
        "mode": mode.value,
        "name": parsed.name,
        "output_kind": _output_kind(c.analysis),
        "params": c.params,
        "container_output": c.container_output,
        "where": [parsed.filename, getattr(ret, "lineno", None), parsed.line(getattr(ret, "lineno", 0) or 0)],
        "names": {role: node.name for role, node in functions.items()},
        "tree_spans": [[i, span.start, span.stop] for i, span in c.tree_spans] if c.tree_spans else None,
        "origins": {comment: list(where) for comment, where in origins.items()},
    }
    if disk_key:
        _store(function, disk_key, meta, text, code, before)
    return _compiled(function, meta, text, namespace, input_kinds, active_inputs, has_aux)


def _exec(text, mode, name, namespace, origins):
    """Run generated `text` in `namespace`, registered with `linecache` under a name of its own
    (`origins`: where each `# file.py:N:` comment points, for s2sad.api.boundary)."""
    filename = f"<s2sad {mode} {name} #{next(_COUNTER)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    LINE_ORIGINS[filename] = origins
    code = compile(text, filename, "exec")
    exec(code, namespace)
    return code


def _compiled(function, meta, text, namespace, input_kinds, active_inputs, has_aux):
    """The `Compiled` record of generated code run in `namespace` (`meta`: what the passes learned)."""
    mode = Mode(meta["mode"])
    objects = {role: namespace[name] for role, name in meta["names"].items()}
    main = objects.get("jvp") or objects.get("grad") or objects.get("vjp") or objects["forward"]
    if mode is Mode.GRAD and "grad" not in objects:
        mode = Mode.REVERSE  # the value is returned too: the caller checks its shape
    spans = [(i, slice(start, stop)) for i, start, stop in meta["tree_spans"]] if meta["tree_spans"] else None
    if spans:
        objects = tree_calls(objects, input_kinds, active_inputs, spans, has_aux)
        main = objects.get("jvp") or objects.get("grad") or objects.get("vjp") or objects["forward"]
    return Compiled(
        function=main,
        source=text,
        mode=mode,
        output_kind=meta["output_kind"],
        params=list(meta["params"]),
        active_inputs=list(active_inputs),
        extra={
            "objects": objects,
            "container_output": meta["container_output"],
            "where": user_where(function, tuple(meta["where"])),
            # what another code target needs: the generated functions' names, their namespace
            "names": dict(meta["names"]),
            "namespace": namespace,
            "tree_spans": spans,
        },
    )


# -- the disk cache: generated source kept across processes (s2sad.cache) ------------------------


def _disk_key(function, mode, active_inputs, input_kinds, has_aux, input_shapes):
    """The disk-cache key of a compilation (`s2sad.frontend.fingerprint`), None if it is not kept."""
    if not cache.disk_enabled():
        return None
    return derivative_key(function, (mode.value, active_inputs, input_kinds, bool(has_aux), input_shapes))


def _base_namespace(function):
    """The namespace generated code runs in before the compiler adds to it: the function's globals
    and closure cells, and the names generated code calls NumPy, math and the runtime by."""
    namespace = function_namespace(function)
    for name, value in TEMPLATE_GLOBALS.items():
        if namespace.setdefault(name, value) is not value:
            return None  # (the compiler's error says so: generate)
    return namespace


_CONSTANTS = (bool, int, float, str, type(None))


def _recipe(value):
    """How another process finds `value` again: a loaded module, an object by module and qualified
    name, or a constant (a number, a string, a tuple of them); None if it cannot."""
    if type(value) in _CONSTANTS:
        return ["const", type(value).__name__, value if type(value) is str else repr(value)]
    if type(value) is tuple:
        items = [_recipe(item) for item in value]
        return None if None in items else ["tuple", items]
    if isinstance(value, types.ModuleType):
        return ["module", value.__name__]
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        return ["object", module, qualname]
    return None


_READ_CONSTANT = {"bool": lambda text: text == "True", "int": int, "float": float, "str": str}


def _follow(recipe):
    """The value `recipe` stands for; LookupError if it is not there (nothing is imported)."""
    how = recipe[0]
    if how == "const":
        return None if recipe[1] == "NoneType" else _READ_CONSTANT[recipe[1]](recipe[2])
    if how == "tuple":
        return tuple(_follow(item) for item in recipe[1])
    value = sys.modules.get(recipe[1])
    if value is None:
        raise LookupError(recipe[1])
    if how == "object":
        for part in recipe[2].split("."):
            value = getattr(value, part)
    return value


def _same(value, found):
    if type(value) in _CONSTANTS or type(value) is tuple:
        return type(found) is type(value) and repr(found) == repr(value)
    return found is value


def _store(function, key, meta, text, code, namespace):
    """Write the entry of generated `text` if every name it reads that the compiler added to its
    namespace (inlined helpers, constants, the functions of custom rules) can be found again."""
    base = _base_namespace(function)
    try:
        if base is None or _interned(json.loads(json.dumps(meta["output_kind"]))) != meta["output_kind"]:
            return  # (a kind naming a class: the key's description covers it, JSON does not)
    except (TypeError, ValueError):
        return
    names, stack = set(), [code]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    recipes = {}
    for name in sorted(names):
        if name not in namespace or base.get(name, _MISSING) is namespace[name]:
            continue
        value, recipe = namespace[name], _recipe(namespace[name])
        try:
            if recipe is None or not _same(value, _follow(recipe)):
                return
        except (LookupError, AttributeError):
            return
        recipes[name] = recipe
    cache.write_entry("derivatives", key, dict(meta, recipes=recipes), text)


def _interned(value):
    """JSON's lists back to tuples and its strings interned (kinds are compared with `is`)."""
    if isinstance(value, list):
        return tuple(_interned(item) for item in value)
    return sys.intern(value) if isinstance(value, str) else value


def _load(function, key, input_kinds, active_inputs, has_aux):
    """The compiled derivative from the disk cache's entry `key`, or None (no entry, a damaged one,
    or a name of its namespace that cannot be found again in this process)."""
    entry = cache.read_entry("derivatives", key)
    if entry is None:
        return None
    meta, text = entry
    try:
        namespace = _base_namespace(function)
        if namespace is None:
            return None
        for name, recipe in meta["recipes"].items():
            namespace[name] = _follow(recipe)
        meta["output_kind"] = _interned(meta["output_kind"])
        origins = {comment: tuple(where) for comment, where in meta["origins"].items()}
        _exec(text, Mode(meta["mode"]), meta["name"], namespace, origins)
        return _compiled(function, meta, text, namespace, input_kinds, active_inputs, has_aux)
    except Exception:  # a well-formed entry that does not fit (an older layout): generate again
        return None


def call_derivative(function, mode, args, wrt):
    """The derivative of a call that is not inlined (`_rt.call_forward_sweep`, `_rt.call_jvp`),
    compiled once per argument kinds: the jvp function (mode 'forward') or the (forward, backward)
    pair. The run-time library reaches it through `runtime.register_compiler`.

    The key is the kinds the derivative is compiled for and nothing finer: a recursion that
    passes a shrinking list of indices (det by minors) finds one derivative at every level,
    without walking the list (a list that is not differentiated is of kind 'other')."""
    code = getattr(function, "__code__", None)
    reads = reads_key(function)
    by_class = (function, code, reads, mode, wrt, tuple([a.__class__ for a in args]))
    entry = cache.CALL_DERIVATIVES.get(by_class)
    if entry is not None:
        return entry
    kinds = kinds_of(args, wrt)
    key = ("kinds", function, code, reads, mode, wrt, kinds)
    entry = cache.CALL_DERIVATIVES.get(key)
    if entry is None:
        reads = reads_key(function, keep=True)  # planned again: a callee may be new
        key = key[:3] + (reads,) + key[4:]
        by_class = by_class[:2] + (reads,) + by_class[3:]
        compiled = compile_derivative(function, Mode(mode), wrt, diff_kinds(kinds, wrt))
        objects = compiled.extra["objects"]
        entry = objects["jvp"] if not Mode(mode).reverse else (objects["forward"], objects["backward"])
        cache.CALL_DERIVATIVES[key] = entry
    if all(kind.__class__ is str for kind in kinds):
        # every kind follows from the argument's class alone (no function given as an argument,
        # no differentiated tree, whose kind is its structure): the classes find it next time
        cache.CALL_DERIVATIVES[by_class] = entry
    return entry


# dependency injection: the layers below reach the compiler through these hooks
runtime.register_compiler(call_derivative)
register_pipeline(generate, render, _namespace)
