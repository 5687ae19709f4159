"""s2sad transforms called inside differentiated code, for the inliner: `grad(g)(y)` and
`jvp(g, (x,), (1.0,))` become calls of the inner derivative's code, which is inlined in turn.
"""

import ast
import functools
import types


from ..astutil import clone, fix_missing_locations
from .. import kinds as K
from ..errors import ArgumentError, UnsupportedSyntaxError
from ..signatures import parse_argnums
from ..trees import LEAF, TREE, count as count_leaves
from .lift import LocalFunction, identifier
from .nested import (
    OUTER_ONLY_APIS,
    TRANSFORM_APIS,
    _parameters,
    as_python_function,
    jvp_function,
    local_function_object,
)
from ..analyses.primitives import _UNRESOLVED, is_global, resolve
from .inline_callees import _function_valued


class TransformCalls:
    """Calls of s2sad transforms (a part of `Inliner`)."""

    # -- s2sad transforms called in the code: `grad(g)(y)`, `jvp(g, (x,), (1.0,))` -----------------
    def note_tuple(self, stmt):
        """Remember `_t2 = (x, 2.0)` (assigned once): the primals of a `jvp` call read it; and tuple and
        list literals (`xs = [a, b]`) whose structure a `grad` w.r.t. them is specialized to."""
        if isinstance(stmt.value, (ast.Tuple, ast.List)) and self.stores.get(stmt.targets[0].id, 1) == 1:
            if isinstance(stmt.value, ast.Tuple):
                self.tuples[stmt.targets[0].id] = stmt.value.elts
            self.literals[stmt.targets[0].id] = stmt.value

    def tree_kinds(self, call, transform):
        """The kinds a `grad` called as `call` is specialized to: a tuple or list literal given as a
        differentiated argument is a tree of its items (its leaves of any kind); None if none is."""
        count = len(_parameters(transform.function))
        try:
            _, nums = parse_argnums(transform.argnums, count, "f")
        except ArgumentError:
            return None

        def treedef(node, seen):
            if not isinstance(node, ast.Name) or node.id not in self.literals or node.id in seen:
                return LEAF
            if isinstance(self.literals[node.id], ast.List) and self.sizes.get(node.id, 0) is None:
                return LEAF  # a list that grows or shrinks: its structure is not known
            items = self.literals[node.id].elts
            kind = "list" if isinstance(self.literals[node.id], ast.List) else "tuple"
            return (kind, len(items), tuple(treedef(item, seen | {node.id}) for item in items))

        kinds, found = [K.ANY] * count, False
        for i in nums:
            if i < len(call.args) and not call.keywords:
                d = treedef(call.args[i], frozenset())
                if d != LEAF and not any(
                    isinstance(e, ast.Starred) for e in ast.walk(self.literals[call.args[i].id])
                ):
                    kinds[i] = (TREE, d, (K.ANY,) * count_leaves(d))
                    found = True
        return tuple(kinds) if found else None

    def transform_call(self, stmt):
        """`_t1 = s2sad.grad(g, argnums=1)` is made at compile time; later calls of `_t1` call (and
        inline) its derivative code. `z = s2sad.jvp(g, primals, tangents)` calls g's forward code."""
        value = stmt.value
        if not (isinstance(value, ast.Call) and is_global(value.func, self.globals)):
            return False
        api = resolve(value.func, self.namespace)
        kwargs = {}
        if isinstance(api, functools.partial) and not api.args:  # `s2sad.grad(argnums=1)(g)`
            api, kwargs = api.func, dict(api.keywords)
        outer_only = {id(f): n for n, f in OUTER_ONLY_APIS.items()}
        if id(api) in outer_only:
            name = outer_only[id(api)]
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`s2sad.{name}` inside a function being differentiated is not supported yet",
                stmt,
                hint="inside differentiated code use s2sad.grad, s2sad.value_and_grad or s2sad.jvp "
                "(a Hessian-vector product is `s2sad.jvp(s2sad.grad(f), (x,), (v,))[1]`); "
                f"or call s2sad.{name} outside",
            )
        names = {id(f): n for n, f in TRANSFORM_APIS.items()}
        if id(api) not in names or not value.args:
            return False
        kind = names[id(api)]
        where = stmt
        target = value.args[0]
        fn = resolve(target, self.namespace) if is_global(target, self.globals) else _UNRESOLVED
        if fn is _UNRESOLVED or not _function_valued(fn):
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{ast.unparse(value)}`: s2sad must know at compile time which function `{kind}` transforms",
                where,
                hint="pass a function defined with `def` or a lambda, by its name",
            )
        if not isinstance(fn, LocalFunction):
            fn = as_python_function(fn)  # `s2sad.grad(np.sin)`: a one-line function calling it
        if not isinstance(fn, (LocalFunction, types.FunctionType)):
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{ast.unparse(value)}`: s2sad transforms Python functions, not {type(fn).__name__} objects",
                where,
                hint=f"wrap it in a function: `def f(x): return {ast.unparse(target)}(x)`",
            )
        free = []
        if isinstance(fn, LocalFunction):
            fn, free = local_function_object(fn)
        rest = value.args[1:]
        if kind == "jvp":
            if (
                len(rest) != 2
                or value.keywords
                or not all(isinstance(a, ast.Name) and a.id in self.tuples for a in rest)
            ):
                raise self.parsed.error(
                    UnsupportedSyntaxError,
                    f"`{ast.unparse(value)}`: write the primals and tangents as tuples in the call",
                    where,
                    hint="`s2sad.jvp(f, (x, y), (1.0, 0.0))`",
                )
            primals, tangents = (self.tuples[a.id] for a in rest)
            alias = self.unique(f"_jvp_{identifier(fn.__name__)}")
            self.namespace[alias] = jvp_function(fn, len(free))
            call_args = [clone(a) for a in primals] + [ast.Name(n, ast.Load()) for n in free]
            call_args += [clone(a) for a in tangents] + [ast.Constant(0.0) for _ in free]
            self.globals.add(alias)
            call = ast.Call(func=ast.Name(alias, ast.Load()), args=call_args, keywords=[])
            stmt.value = call
            return False  # the statement now calls the derivative: inlined as usual

        def constant(node):  # `argnums=(0, 1)` reaches here as a tuple temporary assigned once
            if isinstance(node, ast.Name) and node.id not in self.globals and node.id in self.tuples:
                return tuple(ast.literal_eval(e) for e in self.tuples[node.id])
            return ast.literal_eval(node)

        try:
            kwargs.update({k.arg: constant(k.value) for k in value.keywords})
            extra = [constant(a) for a in rest]
        except ValueError:
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{ast.unparse(value)}`: the options of `{kind}` must be constants",
                where,
                hint="write `argnums=` and `has_aux=` as literals",
            ) from None
        wrapper = api(fn, *extra, **kwargs)
        alias = self.unique(f"_{kind}_{identifier(fn.__name__)}")
        self.namespace[alias] = wrapper
        if free:  # a local function: its transform also takes the enclosing variables it reads
            params = list(fn.__code__.co_varnames[: fn.__code__.co_argcount - len(free)])
            node = ast.FunctionDef(
                name=alias + "_local",
                args=ast.arguments(
                    posonlyargs=[],
                    args=[ast.arg(arg=p) for p in params],
                    vararg=None,
                    kwonlyargs=[],
                    kw_defaults=[],
                    kwarg=None,
                    defaults=[],
                ),
                body=[
                    ast.Return(
                        ast.Call(
                            func=ast.Name(alias, ast.Load()),
                            args=[ast.Name(n, ast.Load()) for n in params + free],
                            keywords=[],
                        )
                    )
                ],
                decorator_list=[],
            )
            ast.copy_location(node, stmt)
            fix_missing_locations(node)
            for sub in ast.walk(node):
                ast.copy_location(sub, stmt)
            local = LocalFunction(alias + "_local", node, self.parsed, set(free))
            alias = self.unique(alias + "_local")
            self.namespace[alias] = local
        self.globals.add(alias)
        self.function_values[stmt.targets[0].id] = ast.Name(alias, ast.Load())
        return True
