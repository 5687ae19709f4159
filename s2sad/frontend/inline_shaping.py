"""Call shaping, for the inliner: a call's arguments bound to the callee's parameters (keywords,
defaults, `f(*xs)` spelled out when the size of `xs` is known).
"""

import ast
import inspect
import re
import types

import numpy as np


from ..astutil import clone
from ..errors import UnsupportedSyntaxError
from .lift import LocalFunction, identifier
from ..analyses.primitives import is_global, resolve

_EINSUM_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class CallShaping:
    """Binds call arguments to parameters (a part of `Inliner`)."""

    # -- `np.einsum(x, [0, 1], y, [1, 2], [0, 2])`: the subscripts as a string ----------------------
    def einsum_sublists(self, stmt):
        """The sublist form of `np.einsum` with sublists known when compiling (literals, or globals
        holding lists of integers) is rewritten to the string form: `np.einsum("ab,bc->ac", x, y)`.
        Other calls are left alone (the string form's rule refuses them at the line)."""
        call = stmt.value
        if not (
            isinstance(call, ast.Call)
            and is_global(call.func, self.globals)
            and resolve(call.func, self.namespace) is np.einsum
            and call.args
            and not (isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str))
            and len(call.args) >= 2
        ):
            return
        pieces = [self._sublist(a) for a in call.args[1::2]]
        if len(call.args) % 2:  # an output sublist closes the call
            pieces.append(self._sublist(call.args[-1]))
        if any(p is None for p in pieces):
            return
        operands = call.args[0::2][: len(call.args) // 2]
        inputs = ",".join(pieces[: len(operands)])
        text = inputs + ("->" + pieces[-1] if len(pieces) > len(operands) else "")
        call.args = [ast.copy_location(ast.Constant(text), call)] + operands

    def _sublist(self, node):
        """The letters of a sublist given as a literal, a tuple/list temporary or a global, or None."""

        def item(e):
            if isinstance(e, ast.Constant):
                return e.value
            return Ellipsis if isinstance(e, ast.Name) and e.id == "Ellipsis" else None

        if isinstance(node, ast.Name) and node.id in self.globals:
            value = resolve(node, self.namespace)
        elif (
            isinstance(node, ast.Name)
            and node.id in getattr(self, "literals", {})
            and node.id not in getattr(self, "item_written", ())
            and self.sizes.get(node.id, 0) is not None  # (a list that grows or shrinks)
        ):
            value = [item(e) for e in self.literals[node.id].elts]
        elif isinstance(node, (ast.List, ast.Tuple)):
            value = [item(e) for e in node.elts]
        else:
            return None
        if not isinstance(value, (list, tuple)):
            return None
        letters = ""
        for item in value:
            if item is Ellipsis:
                letters += "..."
            elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(_EINSUM_LETTERS):
                letters += _EINSUM_LETTERS[item]
            else:
                return None
        return letters

    # -- `f(*xs)` and `f(**d)`: spelled out when the size of `xs` is known --------------------------
    def note_size(self, stmt):
        """`xs = (a, b)`, `ys = xs`: the length of the tuple or list a name holds (keys of dicts);
        None once the name holds anything else."""
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
            return
        name, value = stmt.targets[0].id, stmt.value
        if isinstance(value, (ast.Tuple, ast.List)) and not any(
            isinstance(e, ast.Starred) for e in value.elts
        ):
            size = len(value.elts)
        elif isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) for k in value.keys):
            size = tuple(k.value for k in value.keys)
        elif isinstance(value, ast.Name):
            size = self.sizes.get(value.id)
        else:
            size = None
        if name in self.sizes and self.sizes[name] != size:
            size = None  # assigned another size (or something else) somewhere
        self.sizes[name] = size

    def spell_out_starred(self, stmt):
        """`z = g(*xs, **d)` -> `_t1 = xs[0]`, `_t2 = xs[1]`, `_t3 = d["a"]`, `z = g(_t1, _t2, a=_t3)`:
        the size of `xs` is that of the tuple or list literal it holds (also through copies, a
        helper's parameters and returned tuples), else the number of parameters of the user's
        function `g` that are left to fill. Returns the new statements; `stmt` is changed."""
        call = getattr(stmt, "value", None)
        if not isinstance(call, ast.Call) or not (
            any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)
        ):
            return []
        pre = []

        def item(container, key):
            name = self.temporary()
            value = ast.Subscript(value=clone(container), slice=ast.Constant(key), ctx=ast.Load())
            pre.append(
                ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=value), stmt)
            )
            return ast.Name(name, ast.Load())

        args = []
        for position, arg in enumerate(call.args):
            if not isinstance(arg, ast.Starred):
                args.append(arg)
                continue
            size = self.sizes.get(arg.value.id) if isinstance(arg.value, ast.Name) else None
            if not isinstance(size, int):
                size = self.parameters_left(call, position)
            if size is None:
                raise self.starred_error(stmt, f"*{ast.unparse(arg.value)}", "a tuple or list")
            args += [item(arg.value, k) for k in range(size)]
        keywords = []
        for keyword in call.keywords:
            if keyword.arg is not None:
                keywords.append(keyword)
                continue
            keys = self.sizes.get(keyword.value.id) if isinstance(keyword.value, ast.Name) else None
            if not isinstance(keys, tuple) or not all(isinstance(k, str) for k in keys):
                raise self.starred_error(stmt, f"**{ast.unparse(keyword.value)}", "a dict")
            keywords += [ast.keyword(arg=k, value=item(keyword.value, k)) for k in keys]
        call.args, call.keywords = args, keywords
        return pre

    def parameters_left(self, call, position):
        """How many positional parameters of the user's function `call` calls the starred argument
        at `position` fills: those not given by the other arguments, when none has a default."""
        if sum(isinstance(a, ast.Starred) for a in call.args) != 1 or not is_global(call.func, self.globals):
            return None
        fn = resolve(call.func, self.namespace)
        if isinstance(fn, LocalFunction):
            signature = fn.signature()
        elif isinstance(fn, types.FunctionType):
            try:
                signature = inspect.signature(fn)
            except (TypeError, ValueError):
                return None
        else:
            return None
        P = inspect.Parameter
        given = {k.arg for k in call.keywords}
        positional = [
            p for p in signature.parameters.values() if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
        ]
        if any(p.kind is P.VAR_POSITIONAL for p in signature.parameters.values()):
            return None
        left = [p for p in positional[len(call.args) - 1 :] if p.name not in given]
        if any(p.default is not P.empty for p in left):
            return None
        return len(left)

    def starred_error(self, stmt, text, what):
        text = self.original_text(text)
        return self.parsed.error(
            UnsupportedSyntaxError,
            f"`{text}` in a call: s2sad cannot tell from the code how many arguments it gives",
            stmt,
            hint=f'build {what} literal in this function, e.g. `xs = (a, b)` / `d = {{"k": v}}`, or '
            "pass the arguments one by one",
        )

    def original_text(self, text):
        for renamed, original in self.original_names.items():  # the callee's own names, not `helper1_x`
            text = re.sub(rf"\b{re.escape(renamed)}\b", original, text)
        return text

    def temporary(self):
        count = 1
        while f"_t{count}" in self.taken or f"_t{count}" in self.namespace:
            count += 1
        self.taken.add(f"_t{count}")
        return f"_t{count}"

    def signature(self, fn, stmt):
        if isinstance(fn, LocalFunction):
            return fn.signature()
        try:
            return inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise self.parsed.error(
                UnsupportedSyntaxError, f"cannot read the signature of `{fn.__name__}`: {exc}", stmt
            ) from None

    def bind(self, fn, signature, stmt):
        """Parameter name -> the atom (or tuple / dict of atoms for `*args` / `**kwargs`) it gets."""
        call = stmt.value
        try:
            bound = signature.bind(*call.args, **{k.arg: k.value for k in call.keywords})
        except TypeError as exc:
            raise self.parsed.error(
                UnsupportedSyntaxError, f"cannot call `{fn.__name__}`: {exc}", stmt
            ) from None
        values = {}
        for name, param in signature.parameters.items():
            if param.kind is param.VAR_POSITIONAL:
                values[name] = ast.Tuple(elts=list(bound.arguments.get(name, ())), ctx=ast.Load())
            elif param.kind is param.VAR_KEYWORD:
                given = bound.arguments.get(name, {})
                values[name] = ast.Dict(keys=[ast.Constant(k) for k in given], values=list(given.values()))
            elif name in bound.arguments:
                values[name] = bound.arguments[name]
            elif param.default is not param.empty:
                values[name] = self.default_atom(fn, name, param.default)
        return values

    def default_atom(self, fn, name, default):
        if isinstance(default, ast.AST):  # a local function's default: a constant or a hoisted variable
            return clone(default)
        if isinstance(default, (int, float, bool, str, type(None))):
            return ast.Constant(default)
        alias = self.unique(f"_{identifier(fn.__name__)}_default_{name}")
        self.namespace[alias] = default
        self.globals.add(alias)
        return ast.Name(alias, ast.Load())
