"""Inline calls to the user's own functions into the normalized caller.

A statement `z = helper(a, b)` whose callee is a plain Python function with no
derivative rule is replaced by the callee's normalized body, its variables
renamed `helper1_x`, its parameters bound to the call's arguments (keywords,
defaults, `*args` and `**kwargs` too) and its final `return v` turned into
`z = v`. The derivative is then generated through the helper like through any
other code. Statements keep a line number that maps back to the helper's own file.

- `def`s and lambdas inside a function are lifted out first
  (`s2sad.frontend.lift`): each becomes a `LocalFunction` that calls inline
  like a helper, reading the enclosing function's variables where it is
  called (Python's late binding).
- A parameter bound to a function (`apply(math.sin, x)`, `apply(helper, x)`,
  `apply(lambda u: u * u, x)`) is replaced by that function in the callee's
  body, so `fn(x)` becomes `math.sin(x)` and gets its rule or is inlined in turn.
- A variable that holds one of several functions (or None), assigned in
  several places, is called through `if act is np.tanh: ... else: ...`, a
  direct call in each branch (`Inliner.dispatch`).
- `g(*xs)` / `g(**d)` read the items one by one when the size of `xs` is
  known: a tuple, list or dict literal it holds, else the parameters of `g`
  left to fill (`Inliner.spell_out_starred`).
- A call that cannot be inlined (recursion, or more than `MAX_DEPTH` nested
  helpers) calls the callee's own derivative at run time: the pair
  `_f_call1 = _rt.call_forward_sweep(f, a)` / `z = _rt.call_value(f, _f_call1, a)`
  (see `s2sad.runtime.call_value`); forward mode turns it into `_rt.call_jvp`.
- Calls to functions with custom rules (`s2sad.custom_vjp`, `s2sad.custom_jvp`,
  `s2sad.defjvp`) are never inlined: `s2sad.frontend.custom_calls.rewrite_call` turns them into
  calls of runtime helpers that run the user's rules.

>>> import ast
>>> from s2sad.frontend.desugar import desugar
>>> from s2sad.frontend.source import parse_function
>>> from s2sad.frontend.normalize import normalize
>>> from s2sad.frontend.lift import lift_local_functions
>>> def square(u):
...     return u * u
>>> def caller(x):
...     shift = lambda v: v + 1.0
...     return square(shift(x))
>>> parsed = parse_function(caller)
>>> tree, origins, _ = inline_calls(parsed, normalize(desugar(lift_local_functions(parsed))))
>>> print(ast.unparse(tree))
def caller(x):
    shift1_v = x
    shift1_t1 = shift1_v + 1.0
    _t1 = shift1_t1
    square1_u = _t1
    square1_t1 = square1_u * square1_u
    _t2 = square1_t1
    return _t2
"""

import ast
import re


from .. import rules as R
from ..astutil import clone, fix_missing_locations, module_names, name_nodes, nodes, walk
from .custom_calls import rewrite_call
from ..errors import UnsupportedSyntaxError
from .lift import LocalFunction, identifier, parameters
from .normalize import assigned_names
from ..analyses.primitives import is_global, list_receiver, rebinds_to_copy, resolve, subscript_write
from .inline_callees import CalleeResolution, _argument_nodes, _function_valued, user_object
from .inline_runtime_calls import RuntimeCalls
from .inline_records import RecordLiterals
from .inline_shaping import CallShaping
from .inline_transforms import TransformCalls

MAX_DEPTH = 20


# -- the inliner ---------------------------------------------------------------------------------


class Inliner(CalleeResolution, CallShaping, TransformCalls, RuntimeCalls, RecordLiterals):
    """Inlines the calls of one function: the parts in inline_callees, inline_shaping,
    inline_transforms and inline_runtime_calls; custom rules are handed to custom_calls."""

    def __init__(self, parsed, static_params=(), active_inputs=None):
        self.parsed = parsed
        self.static_params = set(static_params)  # parameters the caller binds to functions (constants)
        self.namespace = parsed.namespace
        self.origins = {}  # fake line -> (filename, lineno, text)
        self.counts = {}
        self.taken = set()
        self.function_values = {}  # local name -> the function (an atom) it holds
        self.tuples = {}  # a tuple temporary assigned once -> its items (the arguments of `jvp`)
        self.literals = {}  # a name assigned a tuple or list literal once -> that literal
        self.original_names = {}  # a renamed local of an inlined callee -> its name in the callee
        self.sizes = {}  # name -> the length of the tuple / list literal it holds (keys for dicts)
        self.known_params = set()  # parameters whose value the body's first statements assign
        self.choices = {}  # name -> the functions (atoms; None) it may hold, assigned in several places
        self.active_seeds = _active_parameters(
            parsed, active_inputs
        )  # parameters that may carry derivatives (None: all)
        self.may_vary = None  # names that may depend on them (`_may_vary`), None when unknown
        self.records = {}  # a name assigned a record built in the body (`p = Params(k, c)`) -> its fields
        self.globals = set()  # the names the code read from the module namespace (shared when nested)
        self.variables = frozenset()  # the parameters and assigned names of the function inlined into

    def nested(self, callee):
        callee.renamed = self.parsed.renamed  # one table: a message names a nested helper's locals as written
        inner = Inliner(callee)
        inner.namespace = self.namespace
        inner.origins = self.origins
        inner.counts = self.counts
        inner.taken = self.taken
        inner.sizes = self.sizes
        inner.records = self.records
        inner.globals = self.globals
        inner.variables = self.variables
        return inner

    def run(self, function, stack=()):
        self.taken |= assigned_names([function]) | parameters(function.args)
        self.stores = {}
        self.item_written = {  # names whose items are written (`xs[0] = v`): their literal changes
            n.value.id
            for n in walk(function)
            if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
        }
        for node in name_nodes(function):
            self.taken.add(node.id)
            if node.ctx.__class__ is ast.Store:
                self.stores[node.id] = self.stores.get(node.id, 0) + 1
        # parameters are run-time values, except functions given to the differentiated function
        self.params = parameters(function.args) - self.static_params
        self.params -= self.known_params
        self.choices = _function_choices(function, self.params, self.namespace, self.globals)
        if self.active_seeds is not None:
            self.may_vary = _may_vary(function, self.active_seeds, self.namespace, self.globals)
        for node in walk(function):  # lists that grow or shrink have no size known when compiling
            if list_receiver(node, self.globals) is not None:
                self.sizes[list_receiver(node, self.globals)] = None
        function.body = self.block(function.body, stack)
        if self.function_values:  # `fn = math.sin` once read through `fn`: no longer needed
            read = {n.id for n in name_nodes(function) if isinstance(n.ctx, ast.Load)}
            function.body = _drop_assignments(function.body, set(self.function_values) - read)
        return function

    def block(self, stmts, stack):
        out = []
        for stmt in stmts:
            _substitute(stmt, self.function_values)
            dispatch = self.dispatch(stmt)
            if dispatch is not None:
                out.extend(self.block(dispatch, stack))
                continue
            spelled = self.spell_out_starred(stmt)
            for item in spelled:
                self.note_size(item)
            out.extend(spelled)
            if isinstance(stmt, ast.Expr) and self.callee(stmt.value) is not None:
                target = ast.Name(self.unique("_unused"), ast.Store())
                stmt = ast.copy_location(ast.Assign(targets=[target], value=stmt.value), stmt)
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                self.note_function_value(stmt)
                self.note_tuple(stmt)
                self.einsum_sublists(stmt)
                if self.transform_call(stmt):
                    continue
                custom = rewrite_call(self, stmt)  # custom_vjp / custom_jvp: the user's rules, not the body
                if custom is not None:
                    out.extend(custom)
                    continue
                if self.inactive_foreign_call(stmt.value):  # a constant: evaluated as in the primal
                    out.append(stmt)
                    continue
                self.record_literal(stmt)  # `p = Params(k, c)`: `p = {"k": k, "c": c}`, `p.k` read by key
                self.bind_method(stmt)  # `model.predict(x)` of a known object: `Model_predict(model, x)`
                self.reject_unknown_callee(stmt)
                fn = self.callee(stmt.value)
                if fn is not None:
                    statements = self.inline(stmt, fn, stack)
                    self.note_function_value(statements[-1])
                    self.note_size(statements[-1])
                    out.extend(statements)
                    continue
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner and not isinstance(stmt, ast.FunctionDef):
                    setattr(stmt, attr, self.block(inner, stack))
            self.note_size(stmt)
            out.append(stmt)
        return out

    def dispatch(self, stmt):
        """`z = act(x)` where `act` holds one of several functions (`act = np.tanh if flag else relu`,
        `if fn is None: fn = default`): `if act is np.tanh: z = np.tanh(x) else: z = relu(x)`, each
        call then differentiated (or inlined) as a direct call; the same for such a variable passed
        to one of the user's functions. Returns the statements, or None."""
        call = getattr(stmt, "value", None)
        if not (isinstance(stmt, (ast.Assign, ast.Expr)) and isinstance(call, ast.Call) and self.choices):
            return None
        name, options = None, None
        if isinstance(call.func, ast.Name) and call.func.id in self.choices:
            name = call.func.id
            options = [o for o in self.choices[name] if o is not None]  # calling None fails in Python too
        elif self.callee(call) is not None:
            for arg in call.args + [k.value for k in call.keywords]:
                if isinstance(arg, ast.Name) and arg.id in self.choices and arg.id not in self.globals:
                    name, options = arg.id, self.choices[arg.id]
                    break
        if not options:
            return None

        def chosen(option):
            copy = clone(stmt)
            atom = ast.Constant(None) if option is None else option
            _substitute(copy, {name: atom})
            return copy

        result = [chosen(options[-1])]
        for option in reversed(options[:-1]):
            test = self.temporary()
            compare = ast.Compare(
                left=ast.Name(name, ast.Load()),
                ops=[ast.Is()],
                comparators=[ast.Constant(None) if option is None else clone(option)],
            )
            result = [
                ast.Assign(targets=[ast.Name(test, ast.Store())], value=compare),
                ast.If(test=ast.Name(test, ast.Load()), body=[chosen(option)], orelse=result),
            ]
        return [fix_missing_locations(ast.copy_location(s, stmt)) for s in result]

    # -- inlining ---------------------------------------------------------------------------------
    def inline(self, stmt, fn, stack):
        local = isinstance(fn, LocalFunction)
        key = fn if local else fn.__code__
        signature = self.signature(fn, stmt)
        bound = self.bind(fn, signature, stmt)
        if (
            local
            and key in stack
            and not (fn.node.args.vararg or fn.node.args.kwarg or fn.node.args.kwonlyargs)
        ):
            return self.call_local_derivative(stmt, fn)  # a recursive local function
        if key in stack or len(stack) > MAX_DEPTH:
            if local:
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    (
                        f"the local function `{fn.__name__}` is recursive; recursive local functions are "
                        "not supported yet"
                        if key in stack
                        else f"the local function `{fn.__name__}` is called more than {MAX_DEPTH} helpers deep"
                    ),
                    stmt,
                    hint=f"define `{fn.__name__}` at module level: s2sad then calls its derivative recursively",
                )
            return self.call_derivative(stmt, fn, signature, bound)
        params = list(signature.parameters)
        tree, callee, raw, lifter, callee_globals = self.lowered_callee(fn, bound, params, local)
        # parameters bound to functions are replaced by them: `fn(x)` becomes `math.sin(x)`
        written = assigned_names([tree])
        functions = {
            p: bound[p]
            for p in params
            if p not in written
            and is_global(bound[p], self.globals)
            and (
                _function_valued(resolve(bound[p], self.namespace))
                or user_object(resolve(bound[p], self.namespace))  # `self` bound to a known object
            )
        }
        # a list the callee changes in place (`traj.append(x)`) is the caller's list itself, not a copy
        changed_lists = {}
        receivers = None  # the lists the callee changes in place
        for p in params:
            if (
                p in written
                or p in functions
                or not isinstance(bound[p], ast.Name)
                or is_global(bound[p], self.globals)
            ):
                continue
            if receivers is None:
                receivers = {list_receiver(n, callee_globals) for n in walk(tree) if n.__class__ is ast.Call}
                receivers.discard(None)
            if p in receivers:
                changed_lists[p] = clone(bound[p])
        # the caller's atoms put in place of those parameters: not renamed below
        callers = {
            id(node) for atom in _substitute(tree, {**functions, **changed_lists}) for node in walk(atom)
        }
        self.counts[fn.__name__] = self.counts.get(fn.__name__, 0) + 1
        prefix = f"{identifier(fn.__name__)}{self.counts[fn.__name__]}_"
        local_names = assigned_names([tree]) | set(params)
        mapping = {n: self.unique(prefix + n.lstrip("_")) for n in sorted(local_names)}
        for node in walk(tree):  # (the callee's globals are not in `mapping`: they keep their names)
            if isinstance(node, ast.Name) and node.id in mapping and id(node) not in callers:
                node.id = mapping[node.id]
            elif isinstance(node, ast.arg) and node.arg in mapping:
                node.arg = mapping[node.arg]
        for inner_local in lifter.lifted:
            inner_local.rename(mapping)
        arguments = {mapping[p] for p in params}
        # `a = a.copy()` before any write into `a`: from there on `a` is the callee's own array
        arguments -= {
            a
            for a in list(arguments)
            if rebinds_to_copy(tree.body, -1, a, callee.namespace, {a}, callee_globals)
        }
        for top in tree.body:
            write = subscript_write(top, arguments)
            if write is not None:
                written = ast.unparse(write)  # in the helper's own names, not the inliner's
                inverse = {new: old for old, new in mapping.items()}
                written = re.sub(r"\b\w+\b", lambda m: inverse.get(m.group(0), m.group(0)), written)
                raise callee.error(
                    UnsupportedSyntaxError,
                    f"`{fn.__name__}` writes into its argument `{written}` in place",
                    write,
                    hint="copy the argument first (`a = a.copy()`) or return the new array",
                )
        prologue = [
            ast.copy_location(ast.Assign(targets=[ast.Name(mapping[p], ast.Store())], value=bound[p]), stmt)
            for p in params
            if p not in functions and p not in changed_lists
        ]
        for assignment in prologue:
            self.note_size(assignment)
        # a parameter bound to a function or None and reassigned (`if fn is None: fn = default`):
        # assigned in the body itself, where the choice between the functions is seen
        chosen = {
            mapping[p]
            for p in params
            if p in written
            and p not in changed_lists
            and _function_or_none(bound[p], self.namespace, self.globals)
        }
        opening = [ast.copy_location(a, raw) for a in prologue if a.targets[0].id in chosen]  # the `def` line
        tree.body = opening + tree.body
        prologue = [a for a in prologue if a.targets[0].id not in chosen]
        inner = self.nested(callee)
        inner.active_seeds = None
        if self.may_vary is not None and not local:
            inner.active_seeds = {
                mapping[p]
                for p in params
                if p in functions or p in changed_lists or _reads_one_of(bound[p], self.may_vary)
            }
        inner.known_params = chosen
        inner.original_names = {renamed: original for original, renamed in mapping.items()}
        self.globals |= callee_globals
        self.parsed.renamed.update(
            (new, old) for old, new in mapping.items() if new != old
        )  # for messages (`parsed.error`)
        tree = inner.run(tree, stack + (key,))
        body = tree.body
        ret = body[-1]
        result = ret.value if isinstance(ret, ast.Return) else ast.Constant(None)
        body = body[:-1] if isinstance(ret, ast.Return) else body
        self.relocate(body, callee, stmt)
        epilogue = ast.copy_location(
            ast.Assign(targets=[ast.Name(stmt.targets[0].id, ast.Store())], value=result), stmt
        )
        return prologue + body + [epilogue]

    def unique(self, name):
        while name in self.taken or name in self.namespace:
            name += "_"
        self.taken.add(name)
        return name


def _active_parameters(parsed, active):
    """The parameters of the function being differentiated that carry derivatives (the positions
    `active`), or None."""
    tree = parsed.tree
    if active is None or not isinstance(tree, (ast.FunctionDef, ast.Lambda)):
        return None
    params = [a.arg for a in tree.args.args]
    if any(i >= len(params) for i in active):
        return None
    return {params[i] for i in active}


def _may_vary(function, seeds, namespace, globals_):
    """The names of the normalized `function` that may depend on the names `seeds` through any
    operation (a flow-insensitive over-approximation of the activity analysis, for the inliner,
    which runs before it): a call's result and every local passed to it depend on its arguments,
    a write `a[i] = v` or `a.method(v)` makes `a` depend on `v`, a loop variable on its sequence."""
    varying = set(seeds)

    def reads(node):
        return {n.id for n in walk(node) if isinstance(n, ast.Name) and n.id not in globals_}

    flows = []  # (names written, names read)
    for node in walk(function):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            written = set()
            for target in targets:
                into = isinstance(target, (ast.Subscript, ast.Attribute))  # `a[i] = v`: `a` changes
                written |= reads(target.value) if into else reads(target)
            read = (
                reads(node.value)
                if node.value is not None and not _constant_of(node.value, namespace, globals_)
                else set()
            )
            flows.append((written, read))
        elif isinstance(node, (ast.For, ast.comprehension)):
            flows.append((reads(node.target), reads(node.iter)))
        if isinstance(node, ast.Call):
            arguments = {
                n.id for n in _argument_nodes(node) if isinstance(n, ast.Name) and n.id not in globals_
            }
            receiver = reads(node.func.value) if isinstance(node.func, ast.Attribute) else set()
            touched = arguments | receiver
            flows.append((touched, touched))  # a call may write into what it is given
    changed = True
    while changed:
        changed = False
        for written, read in flows:
            if read & varying and not written <= varying:
                varying |= written
                changed = True
    return varying


def _constant_of(value, namespace, globals_):
    """Is `value` a shape read (`x.shape`, `x.ndim`) or a call of a function listed as having no
    derivative (`len(x)`, `np.shape(x)`, `int(n)`)? Its result carries no derivative of its operands."""
    if isinstance(value, ast.Attribute) and value.attr in ("shape", "ndim", "size", "dtype"):
        return True
    if isinstance(value, ast.Call) and is_global(value.func, globals_):
        rule = R.lookup(resolve(value.func, namespace))
        return rule is not None and not rule.differentiable
    return False


def _function_choices(function, params, namespace, globals_):
    """Names that hold a function chosen at run time: every assignment to them is a function (a
    global, a local function's alias), None, or another such name, in more than one place.
    Returns name -> the atoms they may hold (None for None)."""
    simple = {}  # name -> the values assigned to it
    others = set(params)  # names bound otherwise (parameters, loops, unpacking)
    targets = set()
    for node in nodes(function):  # an assignment comes before its target (breadth first)
        cls = node.__class__
        if cls is ast.Assign and len(node.targets) == 1 and node.targets[0].__class__ is ast.Name:
            simple.setdefault(node.targets[0].id, []).append(node.value)
            targets.add(id(node.targets[0]))
        elif cls is ast.Name and node.ctx.__class__ is ast.Store and id(node) not in targets:
            others.add(node.id)
    choices = {}
    changed = True
    while changed:
        changed = False
        for name, values in simple.items():
            if name in others:
                continue
            options = []
            for value in values:
                if isinstance(value, ast.Constant) and value.value is None:
                    found = [None]
                elif isinstance(value, ast.Name) and value.id not in globals_:
                    if value.id in others:
                        found = None
                    else:
                        found = choices.get(value.id, [])
                elif is_global(value, globals_) and _function_valued(resolve(value, namespace)):
                    found = [value]
                else:
                    found = None
                if found is None:
                    others.add(name)
                    changed = True
                    break
                for option in found:
                    if not any(_same_atom(option, o) for o in options):
                        options.append(option)
            else:
                if len(options) != len(choices.get(name, [])):
                    choices[name] = options
                    changed = True
    return {
        name: options
        for name, options in choices.items()
        if name not in others
        and (len(simple[name]) > 1 or len(options) > 1)
        and any(o is not None for o in options)
    }


def _function_or_none(atom, namespace, globals_):
    if isinstance(atom, ast.Constant):
        return atom.value is None
    return is_global(atom, globals_) and _function_valued(resolve(atom, namespace))


def _same_atom(a, b):
    if a is None or b is None:
        return a is b
    return ast.dump(a) == ast.dump(b)


def _substitute(tree, values):
    """Replace reads of the local names in `values` by copies of their atoms; returns the copies
    (a name of the function is never also one of its globals: only locals are read by those names)."""
    inserted = []
    if not values:
        return inserted
    for node in walk(tree):
        for field, child in ast.iter_fields(node):
            if isinstance(child, list):
                for index, item in enumerate(child):
                    if _reads_one_of(item, values):
                        child[index] = clone(values[item.id])
                        inserted.append(child[index])
            elif _reads_one_of(child, values):
                setattr(node, field, clone(values[child.id]))
                inserted.append(getattr(node, field))
    return inserted


def _reads_one_of(node, values):
    return isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in values


def _drop_assignments(stmts, names):
    out = []
    for stmt in stmts:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id in names
        ):
            continue
        for attr in ("body", "orelse"):
            inner = getattr(stmt, attr, None)
            if inner:
                setattr(
                    stmt, attr, _drop_assignments(inner, names) or ([ast.Pass()] if attr == "body" else [])
                )
        out.append(stmt)
    return out


def inline_calls(parsed, function, copy=True, static_params=(), active_inputs=None):
    """Inline user-function calls in the normalized `function` (with `copy=False`, in `function`
    itself); returns (tree, origins, records). `static_params` are parameters bound to functions,
    `active_inputs` the positions of the differentiated parameters (None: any may be); `records`
    maps the names assigned a record built in the body (now a dict literal) to its field names."""
    inliner = Inliner(parsed, static_params, active_inputs)
    code = getattr(parsed.function, "__code__", None)
    function = clone(function) if copy else function
    inliner.globals |= module_names(function)
    inliner.variables = frozenset(assigned_names([function]) | parameters(function.args))
    tree = inliner.run(function, (code,) if code is not None else ())
    return tree, inliner.origins, inliner.records
