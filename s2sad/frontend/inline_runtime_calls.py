"""The run-time-call fallback, for the inliner: a call that is not inlined (recursion) becomes
`_rt.call_forward_sweep` / `_rt.call_value`, whose derivative is compiled when it runs.
"""

import ast
import inspect


from ..astutil import clone
from .. import runtime
from ..errors import UnsupportedSyntaxError
from .lift import identifier
from .nested import local_function_object


def _runtime_helper(name):
    return ast.Attribute(value=ast.Name("_rt", ast.Load()), attr=name, ctx=ast.Load())


class RuntimeCalls:
    """Calls left to the run time (a part of `Inliner`)."""

    # -- calls that are not inlined ---------------------------------------------------------------
    def call_local_derivative(self, stmt, fn):
        """A recursive local function: made a real function (the enclosing variables it reads become
        trailing parameters, passed on by its recursive calls) whose derivative is called at run time."""
        real, free = local_function_object(fn)
        alias = self.unique(f"_{identifier(fn.__name__)}_recursive")
        self.namespace[alias] = real
        self.globals.add(alias)
        call = stmt.value
        call.func = ast.Name(alias, ast.Load())
        call.args = list(call.args) + [ast.Name(n, ast.Load()) for n in free]
        signature = inspect.signature(real)
        return self.call_derivative(stmt, real, signature, self.bind(real, signature, stmt))

    # -- calls that are not inlined ---------------------------------------------------------------
    def call_derivative(self, stmt, fn, signature, bound):
        """`z = f(a, n)` -> `_f_call1 = _rt.call_forward_sweep(f, a, n)` and
        `z = _rt.call_value(f, _f_call1, a, n)`: the derivative of `f`, compiled at run time."""
        if any(
            p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in signature.parameters.values()
        ):
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"`{fn.__name__}` is recursive (or nested too deep to inline) and has `*args`, keyword-only "
                "or `**kwargs` parameters",
                stmt,
                hint="give it plain positional parameters: s2sad calls its compiled derivative at run time",
            )
        if self.namespace.setdefault("_rt", runtime) is not runtime:
            raise self.parsed.error(
                UnsupportedSyntaxError,
                f"the name `_rt` is bound to {self.namespace['_rt']!r}; "
                "derivative code needs it for s2sad.runtime",
                stmt,
                hint="rename your `_rt`",
            )
        self.globals.add("_rt")
        args = [bound[p] for p in signature.parameters]
        stem = identifier(fn.__name__)
        key = ("call", stem)
        self.counts[key] = self.counts.get(key, 0) + 1
        record = self.unique(f"_{stem}_call{self.counts[key]}")
        function = clone(stmt.value.func)
        sweep = ast.Call(_runtime_helper("call_forward_sweep"), [function] + clone(args), [])
        value = ast.Call(
            _runtime_helper("call_value"),
            [clone(function), ast.Name(record, ast.Load())] + clone(args),
            [],
        )
        statements = [
            ast.Assign(targets=[ast.Name(record, ast.Store())], value=sweep),
            ast.Assign(targets=[ast.Name(stmt.targets[0].id, ast.Store())], value=value),
        ]
        return [ast.copy_location(s, stmt) for s in statements]
