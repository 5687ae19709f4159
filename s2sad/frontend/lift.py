"""Lift the `def`s and lambdas inside a function out of its body, before desugaring.

Each local function becomes a `LocalFunction` (its AST, the function that
defines it, the enclosing variables it may read) registered in the namespace
under a fresh alias, and every reference to it reads that alias instead, a
global the inliner (`s2sad.frontend.inline`) follows: a call of it is inlined where it
happens, so its body reads the enclosing function's variables as they are at
that moment (Python's late binding). Defaults are evaluated where the
function is defined (`_g_default_k = k` there).

>>> import ast
>>> def f(x):
...     k = 2.0 * x
...     def g(u, c=k):
...         return u * k + c
...     return g(x) + (lambda v: v * v)(x)
>>> from s2sad.frontend.source import parse_function
>>> parsed = parse_function(f)
>>> print(ast.unparse(lift_local_functions(parsed)))
def f(x):
    k = 2.0 * x
    _g_default_c = k
    return _g_local(x) + _lambda_local(x)
>>> parsed.namespace["_g_local"], sorted(parsed.namespace["_g_local"].enclosing)
(<local function g (<doctest s2sad.frontend.lift[1]>:3)>, ['_g_default_c', 'k', 'x'])
"""

import ast
import builtins
import inspect

from ..astutil import children, clone, name_nodes, walk
from ..errors import UnsupportedSyntaxError
from ..astutil import identifier
from .source import (
    ParsedFunction,
    _lambda_as_def,
    function_namespace,
    parse_lambda,
)  # noqa: F401  (parse_lambda: the inliner's)


class LocalFunction:
    """A `def` or lambda inside a function s2sad compiles; its calls are inlined.

    `node` is the function's own AST (a lambda becomes `def <lambda>(...): return ...`),
    `parsed` the function that defines it (its file, lines and globals), `enclosing`
    the variables of the enclosing functions its body may read at call time.
    """

    def __init__(self, name, node, parsed, enclosing):
        self.__name__ = name
        self.node = node
        self.parsed = parsed
        self.enclosing = set(enclosing)

    def __repr__(self):
        return f"<local function {self.__name__} ({self.parsed.filename}:{self.node.lineno})>"

    def __call__(self, *args, **kwargs):
        """Reached only if generated code passed the function on, to code s2sad does not inline."""
        lineno = self.node.lineno
        raise UnsupportedSyntaxError(
            f"the local function `{self.__name__}` is passed to a function s2sad does not inline "
            "(one with derivative rules, or a library function), which calls it",
            self.parsed.filename,
            lineno,
            self.parsed.line(lineno),
            hint=f"define `{self.__name__}` at module level",
        )

    def own_names(self):
        """Parameters and names the function's own body binds (not those of nested functions)."""
        return parameters(self.node.args) | bound_names(self.node.body)

    def rename(self, mapping):
        """The enclosing function's variables were renamed (it was inlined): follow them."""
        own = self.own_names()
        for node in walk(self.node):
            if isinstance(node, ast.Name) and node.id in mapping and node.id not in own:
                node.id = mapping[node.id]
            elif isinstance(node, ast.arg) and node.arg in mapping and node.arg not in own:
                node.arg = mapping[node.arg]
        self.enclosing = {mapping.get(n, n) for n in self.enclosing}

    def signature(self):
        """An `inspect.Signature` whose defaults are the (atom) AST nodes of the defaults."""
        args = self.node.args
        P = inspect.Parameter
        params = []
        positional = args.posonlyargs + args.args
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for index, (arg, default) in enumerate(zip(positional, defaults)):
            kind = P.POSITIONAL_ONLY if index < len(args.posonlyargs) else P.POSITIONAL_OR_KEYWORD
            params.append(P(arg.arg, kind, default=P.empty if default is None else default))
        if args.vararg:
            params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            params.append(P(arg.arg, P.KEYWORD_ONLY, default=P.empty if default is None else default))
        if args.kwarg:
            params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
        return inspect.Signature(params)


def parameters(args):
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return set(names)


def shallow(nodes):
    """Nodes of `nodes` that belong to their own scope: nested functions' bodies are skipped
    (the nested function node itself, its defaults and decorators are included)."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = (
                node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            )
        elif isinstance(node, ast.Lambda):
            inner = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        elif isinstance(node, ast.ClassDef):
            inner = node.decorator_list + node.bases
        else:
            inner = children(node)
        stack.extend(reversed(inner))


def bound_names(body):
    """Names a function body binds in its own scope."""
    names = set()
    for node in shallow(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _binding_counts(function):
    counts = {}
    for name in parameters(function.args):
        counts[name] = counts.get(name, 0) + 1
    for node in shallow(function.body):
        name = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            name = node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _replace_references(node, aliases):
    """Point every read of a local function's name at its alias, except where a nested
    function binds the same name itself."""
    if not aliases:
        return
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in aliases:
        node.id = aliases[node.id]
        return
    if isinstance(node, (ast.FunctionDef, ast.Lambda)):
        for part in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            _replace_references(part, aliases)
        for part in getattr(node, "decorator_list", []):
            _replace_references(part, aliases)
        body = node.body if isinstance(node.body, list) else [node.body]
        own = parameters(node.args) | bound_names(body)
        inner = {k: v for k, v in aliases.items() if k not in own}
        for stmt in body:
            _replace_references(stmt, inner)
        return
    for child in ast.iter_child_nodes(node):
        _replace_references(child, aliases)


class Lifter:
    """Lifts the local functions of one function body; see `lift_local_functions`."""

    def __init__(self, parsed, function, namespaces, unique, enclosing):
        self.parsed = parsed
        self.function = function
        self.namespaces = namespaces  # where the aliases are registered
        self.unique = unique
        # the variables a local function may read: ours and those of our enclosing functions
        self.scope = parameters(function.args) | bound_names(function.body) | set(enclosing)
        self.lifted = []  # LocalFunction objects, in the order they were found
        self.hoisted = set()  # variables holding defaults, evaluated where a function is defined

    def error(self, message, node, hint):
        return self.parsed.error(UnsupportedSyntaxError, message, node, hint)

    def register(self, name, node):
        local = LocalFunction(name, node, self.parsed, self.scope)
        alias = self.unique(f"_{identifier(name)}_local")
        for namespace in self.namespaces:
            namespace[alias] = local
        self.lifted.append(local)
        return local, alias

    def run(self):
        function = self.function
        counts = _binding_counts(function)
        named = {}  # function name -> its `def` statement or `name = lambda` assignment
        for node in shallow(function.body):
            if isinstance(node, ast.AsyncFunctionDef):
                raise self.error(
                    f"`async def {node.name}` inside a differentiated function",
                    node,
                    "define a plain function with `def`",
                )
            if isinstance(node, ast.ClassDef):
                raise self.error(
                    f"class `{node.name}` is defined inside a differentiated function; "
                    "classes are not supported yet",
                    node,
                    "write plain functions (defined at module level or inside this function)",
                )
            if isinstance(node, ast.FunctionDef):
                named[node.name] = node
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Lambda)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                named[node.targets[0].id] = node
        self.scope -= set(named)  # their names are aliases now, not variables
        aliases, locals_ = {}, {}
        for name, node in named.items():
            if counts.get(name, 0) != 1:
                raise self.error(
                    f"the local function `{name}` is defined or assigned more than once",
                    node,
                    "give each local function its own name and do not assign to that name",
                )
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                raise self.error(
                    f"the local function `{name}` has decorators",
                    node,
                    "remove the decorator, or define the function at module level",
                )
            definition = node if isinstance(node, ast.FunctionDef) else _lambda_as_def(node.value, name)
            locals_[id(node)], aliases[name] = self.register(name, definition)
        function.body = self.block(function.body, locals_)
        for local in self.lifted:
            _replace_references(local.node, aliases)
            local.enclosing |= self.hoisted
        _replace_references(function, aliases)
        return function

    def block(self, stmts, locals_):
        out = []
        for stmt in stmts:
            local = locals_.get(id(stmt))
            if local is not None:
                out.extend(self.hoist_defaults(local.node, stmt))
                continue
            pre = self.anonymous_lambdas(stmt)
            for attr in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, attr, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    setattr(stmt, attr, self.block(inner, locals_) or [ast.copy_location(ast.Pass(), stmt)])
            out.extend(pre)
            out.append(stmt)
        return out

    def anonymous_lambdas(self, stmt):
        """Replace the lambdas in `stmt`'s own expressions by their aliases; returns the
        assignments of their non-constant defaults, to run before `stmt`."""
        lifter, pre = self, []
        if not any(node.__class__ is ast.Lambda for node in walk(stmt)):
            return pre

        class Replace(ast.NodeTransformer):
            def visit_Lambda(self, node):
                _, alias = lifter.register("lambda", _lambda_as_def(node, "lambda"))
                pre.extend(lifter.hoist_defaults(lifter.lifted[-1].node, stmt))
                return ast.copy_location(ast.Name(alias, ast.Load()), node)

            def generic_visit(self, node):
                for field, value in ast.iter_fields(node):
                    if isinstance(value, list):
                        if value and isinstance(value[0], ast.stmt):
                            continue  # nested statement lists are blocks of their own
                        setattr(node, field, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
                    elif isinstance(value, ast.AST):
                        setattr(node, field, self.visit(value))
                return node

            def visit_FunctionDef(self, node):
                return node

        Replace().generic_visit(stmt)
        return pre

    def hoist_defaults(self, node, where):
        """Defaults are evaluated where the function is defined: `_g_default_k = <expr>` there."""
        pre = []
        args = node.args
        params = args.posonlyargs + args.args
        positional = params[len(params) - len(args.defaults) :]
        pairs = list(zip(positional, args.defaults)) + [
            (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None
        ]
        replacements = {}
        for arg, default in pairs:
            if isinstance(default, ast.Constant):
                continue
            name = self.unique(f"_{identifier(node.name)}_default_{arg.arg}")
            pre.append(
                ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=default), where)
            )
            replacements[id(default)] = ast.Name(name, ast.Load())
            self.hoisted.add(name)
        args.defaults = [replacements.get(id(d), d) for d in args.defaults]
        args.kw_defaults = [replacements.get(id(d), d) if d is not None else None for d in args.kw_defaults]
        return pre


def lift_local_functions(parsed, function=None, namespaces=None, unique=None, enclosing=()):
    """A copy of `function` (default: `parsed.tree`) without its `def`s and lambdas.

    Each becomes a `LocalFunction` registered in `namespaces` (default:
    `parsed.namespace`) under a fresh alias, and every reference to it reads the
    alias, a global the inliner follows.
    """
    function = clone(parsed.tree if function is None else function)
    if namespaces is None:
        namespaces = [parsed.namespace]
    if unique is None:
        taken = {n.id for n in name_nodes(function)} | set(namespaces[0])

        def unique(stem):
            name, count = stem, 1
            while name in taken or hasattr(builtins, name):
                count += 1
                name = f"{stem}{count}"
            taken.add(name)
            return name

    return Lifter(parsed, function, namespaces, unique, enclosing).run()
