"""Reverse mode: a forward sweep that records, then a backward sweep of adjoints.

The forward sweep is the primal program plus pushes of the values the backward
sweep needs and that get overwritten (see `tbr.py`), and the trip counts of
`while` loops. The backward sweep walks the statements in reverse: each
assignment adds its adjoint contributions and pops the old value back; an `if`
re-tests its (restored) condition; a `for` runs its range reversed.
Adjoints start as symbolic zeros: the first contribution assigns, later ones add.

A list's adjoint is a list kept aligned with the list through the backward
sweep, which undoes each change in place: `xs.append(v)` becomes
`v_bar += xs_bar.pop(); xs.pop()`, `y = xs.pop()` becomes `xs_bar.append(y_bar);
xs.append(y)`, a read `z = xs[i]` adds `z_bar` into `xs_bar[i]`, and a write
`xs[i] = v` pushes the old item and pops it back. A list adjoint nothing has
flowed into yet is a scalar zero placeholder, made a list of zeros
(`_rt.list_like`) where it is first changed.

>>> import ast, math
>>> from s2sad.frontend.normalize import normalize
>>> tree = normalize(ast.parse('''
... def f(x, y):
...     z = x * math.sin(y)
...     return z
... ''').body[0])
>>> print(ast.unparse(reverse_transform(tree, {"math": math}, {"x": "float", "y": "float"}, ["x", "y"]).joint))
def f_vjp(x, y, z_bar=1.0):
    _t1 = math.sin(y)
    z = x * _t1
    x_bar = z_bar * _t1
    _t1_bar = x * z_bar
    y_bar = _t1_bar * math.cos(y)
    return (z, (x_bar, y_bar))
"""

import ast
import copy
from dataclasses import dataclass

from .. import config
from .. import kinds as K
from ..modes import Mode
from ..analyses.activity import analyze, walk_statements
from ..analyses.recompute import plan_recomputation
from ..analyses.tbr import to_be_recorded
from ..astutil import clone, fix_statement_locations, name_nodes, walk
from .derivatives import (
    DerivativeNames,
    assign,
    call,
    is_scalar,
    load,
    local_atom,
    names_read,
    single_use_list_literals,
)
from .reverse_checkpoints import CheckpointedLoops, exposed_reads
from .reverse_lists import ListAdjoints
from .reverse_reads import AdjointReads, _is_derivative
from .reverse_shapes import AdjointShapes
from .reverse_calls import RecursiveCalls
from .reverse_statements import MAYBE_ZERO, PRESENT, StatementAdjoints
from .reverse_sweeps import Sweeps


@dataclass
class ReverseCode:
    joint: ast.FunctionDef
    forward: ast.FunctionDef
    backward: ast.FunctionDef
    gradient: ast.FunctionDef  # the joint form without the value (for `grad`)
    records: list = None  # (loop line, names recorded per iteration), (None, [stack push lines])
    checkpoints: list = None  # (loop line, snapshots, schedule, state variables) per checkpointed loop
    tape_lists: frozenset = frozenset()  # the loop tapes' preallocated lists (`tape[t] = v` stores)


class ReverseTransform(
    AdjointReads, StatementAdjoints, AdjointShapes, Sweeps, ListAdjoints, CheckpointedLoops, RecursiveCalls
):
    """The adjoint code of one normalized function: the parts in reverse_reads, reverse_statements,
    reverse_shapes, reverse_sweeps, reverse_lists and reverse_checkpoints; `build` puts the sweeps together in one
    form."""

    def __init__(
        self, function, analysis, namespace, active_inputs, portable=False, checkpoints=None, helper_locals=()
    ):
        self.function = function
        self.helper_locals = frozenset(helper_locals)  # locals of inlined helpers (`damped1_t12`)
        self.portable = portable
        self.analysis = analysis
        self.kinds = analysis.kinds
        self.active = analysis.active
        self.namespace = namespace
        self.params = [a.arg for a in function.args.args]
        taken = {n.id for n in name_nodes(function)} | set(self.params)  # every name it stores or reads
        self.names = DerivativeNames(taken)
        self.seed_name(local_atom(split_output(analysis, function.body[-1].value)[0]))  # before any adjoint
        self.parts = {}
        self.inplace = self._inplace_variables()
        self.setitem_bases = {
            s.targets[0].value.id
            for s in walk_statements(function.body)
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Subscript)
        }
        self.recompute = plan_recomputation(
            function, self.kinds, self.active, self._adjoint_reads, self._output_free
        )
        self.loop_counters = {}
        self.uses_stack = False
        self.tape_vars = {}  # what a push saved -> the loop-tape variable the backward loop binds
        self.pushes = {}  # id(push statement) -> (what it saves, whether a loop tape may take it)
        self.loop_tapes = {}  # id(loop) -> (tape name, append name, variables in push order, nested?)
        self.tape_lists = {}  # id(loop) -> its preallocated lists, one per variable (`for _ in range(n)`)
        self.loop_depth = 0
        self.records = []  # (loop line, names its tape records per iteration)
        self.swept = None  # record of a call that is not inlined -> (its result, its arguments)
        self.restored_lists = (
            set()
        )  # lists the backward sweep changes in place (undoing appends, pops, writes)
        self.single_use_lists = single_use_list_literals(
            function
        )  # `np.stack([a, b])`: the rule's adjoint as is
        self.literal_operands = self._literal_operands()
        self.split_literals = set()  # id(call) whose list literal's items take their adjoints directly
        self._reads_found = {}  # id(stmt) -> what `reads_of` derives its answers from
        self._loop_states, self._schedules, self._taped = {}, {}, {}  # by id(checkpointed loop)
        self.checkpoint_report = []  # (loop line, snapshots, schedule, state variables)
        self.checkpointed = self._checkpointed_loops(checkpoints or {})  # id(loop) -> snapshots
        self.untaped = 0  # > 0 while sweeping code that records nothing (a checkpointed loop's primal)
        self.mode = None

    # -- whole functions ----------------------------------------------------------------------
    def _literal_defaults(self):
        """The user's defaults that are literals (`T=1.0`, `mode="fast"`, `-1`, `(0, 1)`), for the
        trailing parameters that all have one: a function emitted to a file is called as the user's
        is. A default computed by an expression (`w=np.ones(3)`) stops the run: that parameter and
        the ones before it stay required (the transforms pass every argument anyway)."""
        defaults = self.function.args.defaults
        kept = []
        for node in reversed(defaults):
            try:
                ast.literal_eval(node)
            except ValueError:
                break
            kept.insert(0, copy.deepcopy(node))
        return kept

    def seed_name(self, out_name):
        """The cotangent parameter: the returned variable's adjoint (`loss_bar`), or `out_bar` when the
        function returns an expression (held by a temporary of the compiler, whose name starts with `_`)
        or the result of a helper (a local of the inlined helper)."""
        if out_name is not None and not out_name.startswith("_") and out_name not in self.helper_locals:
            return self.names.adjoint(out_name)
        key = (out_name, "_bar")
        if key not in self.names.assigned:
            stem = next(s for s in ("out", "output", "result", "seed") if s not in self.names.taken)
            seed = self.names._unique(stem + "_bar")
            self.names.derived.add(seed)
            if out_name is None:
                return seed
            self.names.assigned[key] = seed
        return self.names.assigned[key]

    def build(self, active_inputs, mode=Mode.REVERSE):
        self.mode = mode
        body = self.function.body
        ret = body[-1]
        output, aux = split_output(self.analysis, ret.value)
        out_name = local_atom(output)
        read_at_start = {p for p in active_inputs if not is_scalar(self.kinds.get(p))}
        self.recording = to_be_recorded(
            body,
            self.reads_of,
            read_at_start,
            self.params,
            push_all=not config.enabled(),
            list_change=self.list_change,
            loop_reads=self.checkpoint_reads,
            checkpointed=self.checkpointed,
        )
        forward = self.forward_sweep(body)
        state = {}
        seed = self.seed_name(out_name)
        if out_name in self.active:
            state[out_name] = PRESENT
        accumulators, acc_prologue, acc_epilogue = self.accumulator_parameters(active_inputs, out_name, state)
        backward = acc_prologue + self.backward(body[:-1], state)
        if out_name in self.active and self.kinds.get(out_name) == K.LIST:
            # a list output's cotangent (a list, or an array of rows): a list the backward sweep may change
            backward.insert(0, assign(seed, call("_rt.list_cotangent", load(seed), load(out_name))))
        grads = []
        for p in active_inputs:
            if p not in state:
                backward.append(assign(self.bar(p), _zero_for(p, self.kinds.get(p))))
            elif state[p] == MAYBE_ZERO and not is_scalar(self.kinds.get(p)):
                backward.append(assign(self.bar(p), call("_rt.like", load(self.bar(p)), load(p))))
            grads.append(load(self.bar(p)))
        pushed_names = {
            s.targets[0].id
            for s in walk_statements(body)
            if id(s) in self.recording.pushes
            and isinstance(s, ast.Assign)
            and isinstance(s.targets[0], ast.Name)
        }
        prologue = []
        stack_names = {"_push", "_pop"} & names_read(ast.Module(body=forward + backward, type_ignores=[]))
        self.uses_stack = bool(stack_names)
        if self.uses_stack:
            prologue = [
                assign("_stack", ast.List(elts=[], ctx=ast.Load())),
                assign("_push", ast.Attribute(value=load("_stack"), attr="append", ctx=ast.Load())),
                assign("_pop", ast.Attribute(value=load("_stack"), attr="pop", ctx=ast.Load())),
            ]
        inits = [assign(n, ast.Constant(None)) for n in sorted(self.recording.maybe_unbound)]
        value = output
        keep, aux_keep = [], []
        if out_name is not None and out_name in pushed_names:
            keep = [assign("_value", load(out_name))]
            value = load("_value")
        if (
            out_name is not None and self.kinds.get(out_name) == K.LIST
        ):  # the backward sweep undoes its changes
            keep = [assign("_value", call("_rt.copy_lists", load(out_name)))]
            value = load("_value")
        grads_tuple = ast.Tuple(elts=grads, ctx=ast.Load())
        grad_result = clone(grads_tuple)
        if aux is not None:  # has_aux: the value is (output, aux), read before the backward sweep
            if local_atom(aux) in pushed_names or (self.restored_lists and local_atom(aux) is not None):
                copied = call("_rt.copy_lists", clone(aux)) if self.restored_lists else clone(aux)
                aux_keep = [assign("_aux_value", copied)]
                aux = load("_aux_value")
            keep += aux_keep
            value = ast.Tuple(elts=[value, aux], ctx=ast.Load())
            grad_result = ast.Tuple(elts=[grad_result, clone(aux)], ctx=ast.Load())
        stack_pushes = sorted(
            {
                node.lineno
                for node in walk(ast.Module(body=forward, type_ignores=[]))
                if isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "_push"
                and getattr(node, "lineno", None)
            }
        )
        records = list(self.records) + ([(None, stack_pushes)] if stack_pushes else [])
        report = self.checkpoint_report
        tape_lists = frozenset(n for names in self.tape_lists.values() for n in names)
        if mode is Mode.GRAD:  # what `grad` runs: the statements are used once, no copies
            grad_body = prologue + inits + forward + aux_keep + backward + [ast.Return(grad_result)]
            gradient = _function(
                f"{self.function.name}_grad",
                self.params + [seed],
                grad_body,
                self.function,
                defaults=self._literal_defaults() + [ast.Constant(1.0)],
            )
            return ReverseCode(
                joint=None,
                forward=None,
                backward=None,
                gradient=gradient,
                records=records,
                checkpoints=report,
                tape_lists=tape_lists,
            )
        joint_body = (
            prologue
            + inits
            + forward
            + keep
            + backward
            + [ast.Return(ast.Tuple(elts=[value, grads_tuple], ctx=ast.Load()))]
        )
        joint = _function(
            f"{self.function.name}_vjp",
            self.params + [seed],
            joint_body,
            self.function,
            defaults=self._literal_defaults() + [ast.Constant(1.0)],
        )
        if mode is Mode.REVERSE:
            return ReverseCode(
                joint=joint,
                forward=None,
                backward=None,
                gradient=None,
                records=records,
                checkpoints=report,
                tape_lists=tape_lists,
            )

        # split mode: forward returns residuals, backward can be called many times
        tapes = {t[0] for t in self.loop_tapes.values()} | {
            n for names in self.tape_lists.values() for n in names
        }
        residual_names = sorted(
            n
            for n in names_read(ast.Module(body=backward, type_ignores=[]))
            if (n in self.kinds or n in tapes) and not _is_derivative(n, self) and n not in ("_pop",)
        )
        if self.checkpointed:  # a checkpointed loop's steps, run again, set their own variables first
            exposed = exposed_reads(backward)
            residual_names = [n for n in residual_names if n in exposed]
        top_level = set(self.params) | {
            s.targets[0].id
            for s in body + forward
            if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
        }
        split_inits = [
            assign(n, ast.Constant(None))
            for n in residual_names
            if n not in top_level and n not in self.recording.maybe_unbound
        ]
        stack_elt = [load("_stack")] if self.uses_stack else []
        residuals = ast.Tuple(elts=stack_elt + [load(n) for n in residual_names], ctx=ast.Load())
        returned = [value, residuals] + self.pullback_returned()  # RECURSIVE: with its pullback
        fwd_body = (
            prologue
            + inits
            + split_inits
            + forward
            + keep
            + [ast.Return(ast.Tuple(elts=returned, ctx=ast.Load()))]
        )
        fwd = _function(f"{self.function.name}_forward", self.params, fwd_body, self.function)
        unpack_targets = ast.Tuple(
            elts=[ast.Name(n, ast.Store()) for n in (["_stack"] if self.uses_stack else []) + residual_names],
            ctx=ast.Store(),
        )
        bwd_prologue = (
            [ast.Assign(targets=[unpack_targets], value=load("_residuals"))] if residuals.elts else []
        )
        restored_in_place = {
            node.targets[0].value.id
            for node in walk(ast.Module(body=backward, type_ignores=[]))
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Subscript)
            and isinstance(node.targets[0].value, ast.Name)
        }
        if self.restored_lists:
            # the backward sweep changes lists in place: each pullback call changes its own copies (one
            # copy per list, however many records hold it: the stack, loop tapes, residual variables)
            restored_in_place -= {n for n in restored_in_place if self.kinds.get(n) == K.LIST}
            copies = self.names._unique("_copies")
            bwd_prologue.append(assign(copies, ast.Dict(keys=[], values=[])))
            for n in residual_names:
                if self.kinds.get(n) == K.LIST or n in tapes:
                    bwd_prologue.append(assign(n, call("_rt.copy_lists", load(n), load(copies))))
            if self.uses_stack:
                stack_copy = call(
                    "_rt.copy_lists", load("_stack"), load(copies), ast.Constant(bool(restored_in_place))
                )
                bwd_prologue += _backward_stack(stack_copy, backward)
        elif self.uses_stack:
            # arrays popped back may be written into again: each pullback call gets its own copies
            stack_copy = (
                call("_rt.copy_stack", load("_stack")) if restored_in_place else call("list", load("_stack"))
            )
            bwd_prologue += _backward_stack(stack_copy, backward)
        for n in sorted(restored_in_place & set(residual_names)):
            bwd_prologue.append(
                assign(n, call("_rt.copy", load(n)))
            )  # each pullback call restores its own copy
        bwd_body = bwd_prologue + backward + acc_epilogue + [ast.Return(grads_tuple)]
        params = ["_residuals", seed] + accumulators
        bwd = _function(f"{self.function.name}_backward", params, bwd_body, self.function)
        return ReverseCode(
            joint=None,
            forward=fwd,
            backward=bwd,
            gradient=None,
            records=records,
            checkpoints=report,
            tape_lists=tape_lists,
        )


def split_output(analysis, value):
    """(output, aux): a function compiled with has_aux returns the tuple (output, aux)."""
    if analysis.has_aux:
        return value.elts[0], value.elts[1]
    return value, None


def _backward_stack(stack_copy, backward):
    """`_pop` of the pullback's own copy of the stack (and `_push`, where a checkpointed loop's
    backward sweep records its steps again)."""
    if "_push" not in names_read(ast.Module(body=backward, type_ignores=[])):
        return [assign("_pop", ast.Attribute(value=stack_copy, attr="pop", ctx=ast.Load()))]
    return [
        assign("_stack", stack_copy),
        assign("_push", ast.Attribute(value=load("_stack"), attr="append", ctx=ast.Load())),
        assign("_pop", ast.Attribute(value=load("_stack"), attr="pop", ctx=ast.Load())),
    ]


def _zero_for(name, kind):
    if is_scalar(kind):
        return ast.Constant(0.0)
    return call("_rt.zeros_like", load(name))


def _function(name, params, body, where, defaults=()):
    node = ast.FunctionDef(
        name=name,
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=p) for p in params],
            vararg=None,
            kwonlyargs=[],
            kw_defaults=[],
            kwarg=None,
            defaults=list(defaults),
        ),
        body=body or [ast.Pass()],
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    ast.copy_location(node, where)
    return fix_statement_locations(node)  # unparsed to text: the statements' lines are all we read


def reverse_transform(
    function,
    namespace,
    input_kinds,
    active_inputs,
    analysis=None,
    mode=Mode.REVERSE,
    portable=False,
    checkpoints=None,
    helper_locals=(),
    recursion=None,
):
    """Build the adjoint code for one `mode`: REVERSE (`f_vjp`: value and gradient in one call),
    SPLIT (`f_forward` returning residuals, `f_backward` that may be called many times), RECURSIVE
    (the split pair of a call s2sad does not inline: `recursion` is (the function, its parameters'
    kinds, the positions differentiated); see reverse_calls), or GRAD (`f_grad`: the joint form
    without the value, for `grad`). `portable` code is to be
    differentiated again (`s2sad.frontend.nested`): loops push no tapes of their own, lists are
    copied whole. `checkpoints` ({line of a loop: snapshots}) names the loops to checkpoint
    (reverse_checkpoints). `helper_locals` are the names of inlined helpers' locals: an output held by
    one seeds `out_bar`, not an adjoint named after the helper's variable."""
    if analysis is None:
        analysis = analyze(function, namespace, input_kinds, set(active_inputs))
    transform = ReverseTransform(
        function, analysis, namespace, active_inputs, portable, checkpoints, helper_locals
    )
    transform.recursion = recursion
    return transform.build(active_inputs, mode)
