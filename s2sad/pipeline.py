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
from dataclasses import dataclass, field

from . import cache, config
from . import kinds as K
from . import runtime
from .analyses.activity import Analysis, analyze
from .analyses.checks import (
    check_parameters,
    check_returns,
    reject_array_aliases,
    reject_declarations,
    reject_effect_calls,
    reject_method_statements,
    reject_run_time_keys,
    reject_view_writes,
)
from .analyses.lists import check_lists, list_kind_conflicts
from .analyses.primitives import MissingRule, RefusedOperand, derivative_call_role
from .astutil import clone, identifier, walk
from .codegen.header import header
from .codegen.python import format_source, to_source
from .errors import DesugarError, NoDerivativeRuleError, S2sadError, UnsupportedSyntaxError
from .frontend.aux import return_aux, split_aux
from .frontend.constants import functions_as_constants
from .frontend.desugar import desugar
from .frontend.local_dicts import split_local_dicts
from .frontend.inline import inline_calls
from .frontend.key_loops import unroll_key_loops
from .frontend.lift import lift_local_functions
from .frontend.nested import (
    code_identity,
    materialize,
    reads_key,
    register_pipeline,
    transform_of,
)
from .frontend.normalize import normalize
from .frontend.pragmas import checkpoint_pragmas
from .frontend.source import ParsedFunction, parse_function
from .frontend.writes import rewrite_writes
from .loading import TEMPLATE_GLOBALS, compiled_record, entry_key, load_entry, run_source, store_entry
from .modes import Mode
from .optimize import optimize
from .optimize.batch_rows import batch_row_products
from .optimize.renumber import renumber
from .optimize.versions import split_versions
from .peepholes import PEEPHOLES, peepholes  # noqa: F401  (PEEPHOLES: their order, shown beside the others)
from .peepholes.unused import drop_unused
from .stages import Stages
from .signatures import call_kinds, diff_kinds
from .transforms.forward import forward_transform
from .transforms.forward_vector import VectorForwardTransform
from .transforms.reverse import reverse_transform
from .trees import expand_parameters, is_tree_kind, record_fields_of, records_as_dicts

_CACHE = cache.COMPILED


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
    target: str = "python"  # the code target the derivative is lowered to ("numba": no stacked tape rows)
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
    problems: list = None  # the check mode (`check`): errors recorded where a pass can go on; None: raised
    tape_lists: frozenset = frozenset()  # loop tapes' preallocated lists: a store into one writes no array

    @property
    def active_names(self):
        return [self.params[i] for i in self.active_inputs]

    def error(self, exc, node):
        """`exc` raised by a pass on `node`, as the user's error (file, line, code)."""
        return _convert(self.parsed, exc, node)

    @property
    def report(self):
        """What the checks hand a refusal to: None (they raise it), or, in the check mode, the
        problems list's `append` (they record it and go on)."""
        return None if self.problems is None else self.problems.append


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
    reject_declarations(c.parsed, c.report)
    check_parameters(c.parsed, c.report)
    check_returns(c.parsed, c.report)
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
    c.tree, origins, built = inline_calls(
        c.parsed, c.tree, copy=False, static_params=c.static_params, active_inputs=c.active_inputs
    )
    if c.record_fields or built:  # NamedTuple / dataclass arguments and records built in the body are
        records_as_dicts(c.tree, {**c.record_fields, **built})  # dicts there: `p.W` -> `p["W"]`
    c.parsed.origins = origins  # lines of inlined helpers: where their code came from (errors say so)
    split_local_dicts(c.tree)  # `s = {"pos": x}; s["pos"] = ...`: a variable per key
    reject_method_statements(c.parsed, c.tree, c.report)


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
        report=c.report,
        recursion=_recursion(c)[:2] if _recursion(c) else None,
    )


def _recursion(c):
    """(the function, its parameters' kinds, the positions differentiated) when the derivative's own
    calls call it directly (a recursion's, in the recursive and forward modes), else None."""
    if (
        c.mode in (Mode.RECURSIVE, Mode.FORWARD)
        and not c.tree_spans
        and not c.static_params
        and not c.has_aux
    ):
        return (c.function, c.input_kinds, c.active_inputs)
    return None


def analyze_tree(c):
    if c.input_shapes is not None:
        c.shapes = {p: s for p, s in zip(c.params, c.input_shapes) if s is not None}
    c.analysis = _analyze(c)
    mixed = list_kind_conflicts(c.tree, c.analysis)
    if mixed:  # `traj = []; ...; traj = np.array(traj)`: one name for a list, then for an array
        c.tree = split_versions(c.tree, mixed)
        c.analysis = _analyze(c)


def check_tree(c):
    reject_array_aliases(c.parsed, c.tree, c.analysis, c.report)
    reject_effect_calls(c.parsed, c.tree, c.analysis, c.report)
    reject_view_writes(c.parsed, c.tree, c.analysis, c.report)
    reject_run_time_keys(c.parsed, c.tree, c.report)
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
        recursion = _recursion(c) if mode is Mode.RECURSIVE else None  # its own calls call it directly
        code = reverse_transform(
            tree,
            namespace,
            kinds,
            active,
            c.analysis,
            mode=mode,
            portable=c.portable,
            checkpoints=checkpoints,
            recursion=recursion,
            helper_locals=c.parsed.renamed,
        )
        c.records, c.checkpointed, c.tape_lists = code.records, code.checkpoints, code.tape_lists
        return code

    if c.mode is Mode.FORWARD:
        recursion = _recursion(c)  # its own calls call it directly
        c.functions = {
            "jvp": forward_transform(tree, namespace, kinds, active, c.analysis, recursion=recursion)
        }
    elif c.mode is Mode.FORWARD_VECTOR:
        c.functions = {
            "jvp": forward_transform(
                tree, namespace, kinds, active, c.analysis, transform_class=VectorForwardTransform
            )
        }
    elif c.mode is Mode.GRAD and _scalar_output(c.analysis):
        code = reverse(Mode.GRAD)
        c.functions = {"grad": drop_unused(code.gradient, namespace) if config.enabled() else code.gradient}
    elif c.mode in (
        Mode.SPLIT,
        Mode.RECURSIVE,
    ):  # `vjp`, `jacrev`; a recursion's calls (transforms/reverse_calls)
        code = reverse(c.mode)
        # the two may share expression nodes; the peepholes below rewrite nodes in place
        c.functions = {"forward": code.forward, "backward": clone(code.backward)}
    else:
        code = reverse(Mode.REVERSE)
        c.functions = {"vjp": code.joint}


def prepare(
    function,
    input_kinds,
    active_inputs,
    has_aux=False,
    input_shapes=None,
    mode=Mode.REVERSE,
    portable=False,
    target="python",
):
    """Run the frontend and the analyses: the `Compilation` up to the transform."""
    c = Compilation(
        function,
        Mode(mode),
        tuple(active_inputs),
        tuple(input_kinds),
        has_aux,
        input_shapes,
        portable,
        target,
    )
    c.stages = Stages(function, c.mode)
    for run in FRONTEND + ANALYSES:
        run(c)
        c.stages.done(run.__name__)
    return c


def generate(
    function,
    mode,
    active_inputs,
    input_kinds,
    has_aux=False,
    input_shapes=None,
    portable=False,
    target="python",
):
    """Run the passes: the `Compilation` of `function`'s derivative in `mode`, its code as trees."""
    c = prepare(function, input_kinds, active_inputs, has_aux, input_shapes, mode, portable, target)
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


def check(function, input_kinds, active_inputs, mode=Mode.GRAD):
    """The check mode (`s2sad check`): every problem the compiler finds in the derivative of `function`.
    Returns (problems, stopped): the errors the passes recorded where they can go on past one (the
    checks, the activity analysis's calls without rules), and the error a pass raised where it cannot
    (a statement desugar refuses, a callee the inliner cannot follow), or None. A function that is
    clean here is one `generate` compiles.

    >>> import math, numpy as np
    >>> wobble, wiggle = np.vectorize(math.sin), np.vectorize(math.cos)  # callables with no rule
    >>> def f(x):
    ...     u = wobble(x)
    ...     v = wiggle(u)
    ...     return u * v
    >>> problems, stopped = check(f, ("float",), (0,))
    >>> [p.message for p in problems], stopped
    (['no derivative rule for `wobble`', 'no derivative rule for `wiggle`'], None)
    """
    c = Compilation(function, Mode(mode), tuple(active_inputs), tuple(input_kinds), problems=[])
    try:
        for run in FRONTEND + ANALYSES:
            run(c)
        if not c.problems:  # what the transform refuses: rules missing in this mode
            differentiate(c)
    except S2sadError as exc:
        return c.problems, exc
    except NotImplementedError as exc:
        return c.problems, c.parsed.error(
            NoDerivativeRuleError,
            f"`{exc}` has no {c.mode.family if c.mode.reverse else c.mode}-mode rule",
            c.parsed.tree,
            hint="register one with s2sad.rules.tangent / s2sad.rules.adjoint",
        )
    return c.problems, None


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


def compile_derivative(
    function, mode, active_inputs, input_kinds, has_aux=False, input_shapes=None, target="python"
):
    """Compile (cached) the derivative of `function`; see the module docstring. With `input_shapes`
    (per parameter its shape, or None), the code is valid only for arguments of those shapes. `target`
    "numba" asks for the Python code the numba target lowers (no passes it cannot lower)."""
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
        target,
    )
    compiled = _CACHE.get(key)
    if compiled is not None:
        return compiled
    key = key[:1] + (reads_key(function, keep=True),) + key[2:]  # planned again: a callee may be new
    disk_key = entry_key(function, mode, active_inputs, input_kinds, has_aux, input_shapes, target)
    compiled = load_entry(function, disk_key, input_kinds, active_inputs, has_aux) if disk_key else None
    if compiled is None:
        collecting = gc.isenabled()
        gc.disable()  # the passes make ~10^5 short-lived AST nodes (no cycles): collecting them costs ~10%
        try:
            compiled = _compile(
                function, mode, active_inputs, input_kinds, has_aux, input_shapes, disk_key, target
            )
        finally:
            if collecting:
                gc.enable()
    _CACHE[key] = compiled
    return compiled


def _compile(
    function, mode, active_inputs, input_kinds, has_aux, input_shapes, disk_key=None, target="python"
):
    c = generate(function, mode, active_inputs, input_kinds, has_aux, input_shapes, target=target)
    parsed, functions = c.parsed, c.functions
    origins = {}
    text = render(c, origins=origins)
    c.stages.done("render")
    namespace = _namespace(parsed)
    before = dict(namespace) if disk_key else None
    code = run_source(text, mode, parsed.name, namespace, origins)
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
        # it calls derivatives compiled at run time, or itself (recursion): run as such a call (runs_nested)
        "calls_derivatives": any(derivative_call_role(p) for p in c.analysis.primitives.values()),
    }
    if disk_key:
        store_entry(function, disk_key, meta, text, code, before)
    return compiled_record(function, meta, text, namespace, input_kinds, active_inputs, has_aux)


def call_derivative(function, mode, args, wrt):
    """The derivative of a call that is not inlined (`_rt.call_forward_sweep`, `_rt.call_jvp`),
    compiled once per argument kinds: the jvp function (mode 'forward') or the (forward, backward)
    pair. The run-time library reaches it through `runtime.register_compiler`.

    The kinds are refined (`s2sad.signatures.call_kinds`): an array's rank and element kind, a
    list's element kind, nothing finer: a recursion that passes a shrinking list of indices (det by
    minors) finds one derivative at every level and for every size, and its code knows that
    `A[rows[0], cols[j]]` is a float. The recursion's own calls call it directly (no lookup)."""
    kinds = call_kinds(args, wrt)
    key = ("kinds", function, getattr(function, "__code__", None), reads_key(function), mode, wrt, kinds)
    entry = cache.CALL_DERIVATIVES.get(key)
    if entry is None:
        reads = reads_key(function, keep=True)  # planned again: a callee may be new
        key = key[:3] + (reads,) + key[4:]
        compiled = compile_derivative(function, Mode(mode), wrt, diff_kinds(kinds, wrt))
        objects = compiled.extra["objects"]
        entry = objects["jvp"] if not Mode(mode).reverse else (objects["forward"], objects["backward"])
        cache.CALL_DERIVATIVES[key] = entry
    return entry


# dependency injection: the layers below reach the compiler through these hooks
runtime.register_compiler(call_derivative)
cache.on_clear(runtime.clear_memos)
register_pipeline(generate, render, _namespace)
