"""Writes into arrays made by calls, rewritten (before desugaring) into subscript writes.

NumPy writes into an existing array through calls as well as through `a[i] = v`: `np.add.at`
and the other ufuncs' `.at`, `np.copyto`, `np.put`, `np.place`, `np.putmask`, `a.fill(v)`, the
`out=` argument of a ufunc or a reduction, and `a[i][j] = v` into an item of a list, dict or
array. Each becomes writes the compiler follows in both modes (`a[...] = value`, `a[index] =
value`, an item copied, written and stored back); `np.r_[...]` / `np.c_[...]` become
`np.concatenate`. A call known to write into its argument in another way is refused here,
and a call statement that is none of these and reaches a differentiated value is refused
after activity analysis (`s2sad.analyses.checks`): none is ever a silent constant.

>>> import ast, numpy as np
>>> tree = ast.parse('''
... def f(x, idx):
...     acc = np.zeros(3)
...     np.add.at(acc, idx, x)
...     np.multiply(x, x, out=acc)
...     bufs = [np.zeros(2)]
...     bufs[0][1] = x
...     return acc
... ''').body[0]
>>> print(ast.unparse(rewrite_writes(tree, {"np": np})))
def f(x, idx):
    acc = np.zeros(3)
    acc[...] = _rt.added_at(acc, idx, x)
    acc[...] = np.multiply(x, x)
    bufs = [np.zeros(2)]
    _item1 = bufs[0].copy()
    _item1[1] = x
    bufs[0] = _item1
    return acc
"""

import ast

import numpy as np

from .. import runtime
from ..analyses.primitives import _UNRESOLVED, resolve
from ..astutil import assigned_names, clone, fix_missing_locations, name_nodes, walk
from ..errors import DesugarError

REFUSED = {  # calls that write into an argument in a way this pass does not rewrite: what to write instead
    np.fill_diagonal: "write the diagonal by index: `a[np.arange(n), np.arange(n)] = v`",
    np.put_along_axis: "build the array with `np.where` or write it by index (`a[i, j] = v`)",
    np.random.shuffle: "shuffle a copy: `a = a[np.random.permutation(len(a))]`",
}
REFUSED_METHODS = {  # array methods that change the array in place (`sort` and lists: s2sad.analyses.checks)
    "itemset": "write by index: `a[i] = v`",
    "resize": "make a new array: `a = np.resize(a, shape)`",
    "partition": "make a new array: `a = np.partition(a, k)`",
    "setfield": "build a new array",
    "byteswap": "build a new array",
}


def _load(name):
    return ast.Name(name, ast.Load())


def _call(func, *args, keywords=()):
    return ast.Call(func=func, args=list(args), keywords=list(keywords))


def _attr(path):
    """`np.where` as an expression."""
    parts = path.split(".")
    node = _load(parts[0])
    for part in parts[1:]:
        node = ast.Attribute(value=node, attr=part, ctx=ast.Load())
    return node


def _store(node):
    node = clone(node)
    node.ctx = ast.Store()
    return node


def _whole(target):
    """`target[...]` as a store."""
    return ast.Subscript(value=clone(target), slice=ast.Constant(Ellipsis), ctx=ast.Store())


def _keyword(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _without(call, *names):
    return _call(
        clone(call.func),
        *[clone(a) for a in call.args],
        keywords=[clone(k) for k in call.keywords if k.arg not in names],
    )


class _Writes:
    def __init__(self, namespace, local_names):
        self.namespace = namespace
        self.local_names = local_names
        self.taken = set(local_names)
        self.counts = {}

    def fresh(self, stem):
        while True:
            self.counts[stem] = self.counts.get(stem, 0) + 1
            name = f"_{stem}{self.counts[stem]}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def need(self, node):
        """The rewritten code calls `np` and `_rt` (s2sad.runtime): they must name those modules."""
        for name, module in (("np", np), ("_rt", runtime)):
            if self.namespace.setdefault(name, module) is not module:
                raise DesugarError(
                    f"the name `{name}` is bound to {self.namespace[name]!r}; s2sad's code for this line needs "
                    f"it for {module.__name__}",
                    node,
                    hint=f"rename your `{name}`",
                )

    def callee(self, func):
        """The object a call's global callee names (`np.add.at`), or None for a local's method."""
        root = func
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or root.id in self.local_names:
            return None
        obj = resolve(func, self.namespace)
        return None if obj is _UNRESOLVED else obj

    def block(self, stmts):
        out = []
        for stmt in stmts:
            out.extend(self.stmt(stmt))
        return out

    def stmt(self, stmt):
        for attr in ("body", "orelse", "finalbody"):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            if isinstance(getattr(stmt, attr, None), list):
                setattr(stmt, attr, self.block(getattr(stmt, attr)))
        self.expressions(stmt)
        if isinstance(stmt, ast.AugAssign) and _nested_item(stmt.target):
            load = clone(stmt.target)
            for node in walk(load):
                if hasattr(node, "ctx"):
                    node.ctx = ast.Load()
            plain = ast.Assign(
                targets=[stmt.target], value=ast.BinOp(left=load, op=stmt.op, right=stmt.value)
            )
            return self.stmt(fix_missing_locations(ast.copy_location(plain, stmt)))
        for target in stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]:
            self.check_target(target)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            new = self.call_statement(stmt.value, stmt)
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            new = self.assignment(stmt)
        else:
            new = None
        self.check_out(stmt if new is None else None)
        if new is None:
            return [stmt]
        self.need(stmt)
        out = []
        for s in new:
            out.extend(self.stmt(fix_missing_locations(ast.copy_location(s, stmt))))
        return out

    def check_target(self, target):
        """`a.T[0] = v`, `a.reshape(3)[0] = v`: a write into a temporary view of `a`."""
        if not isinstance(target, ast.Subscript):
            return
        base = target.value
        if isinstance(base, ast.Call) or (
            isinstance(base, ast.Attribute) and base.attr in ("T", "mT", "flat", "real", "imag")
        ):
            raise DesugarError(
                f"`{ast.unparse(target)} = ...` writes into `{ast.unparse(base)}`, which shares its data with "
                "an array: NumPy changes that array, the derivative would not follow",
                target,
                hint="write into the array itself by index (`a[i, j] = v` for `a.T[j, i] = v`), or make a new array",
            )

    def check_out(self, stmt):
        """`out=` anywhere but at the top of a statement (`s = np.sum(np.add(a, b, out=y))`)."""
        if stmt is None:
            return
        for node in walk(stmt):
            if isinstance(node, ast.Call) and self.output(node) is not None:
                raise DesugarError(
                    f"`{ast.unparse(node)}` writes into its `out=` argument inside a larger expression",
                    node,
                    hint="write the call as its own statement (`np.add(a, b, out=y)`), or assign its value: "
                    "`y[...] = np.add(a, b)`",
                )

    def output(self, call):
        """The array a call writes its result into (`out=y`, or a ufunc's extra positional), else None."""
        out = _keyword(call, "out")
        if out is None:
            obj = self.callee(call.func)
            if isinstance(obj, np.ufunc) and len(call.args) > obj.nin:
                out = (
                    call.args[obj.nin]
                    if len(call.args) == obj.nin + 1
                    else ast.Tuple(call.args[obj.nin :], ast.Load())
                )
        if isinstance(out, ast.Tuple) and len(out.elts) == 1:
            out = out.elts[0]
        if isinstance(out, ast.Constant) and out.value is None:
            return None
        return out

    @staticmethod
    def fresh_output(out):
        """`out=np.zeros(n)`: an array made for the call, which nothing else sees."""
        return not isinstance(out, (ast.Name, ast.Subscript, ast.Attribute, ast.Tuple, ast.Starred))

    def expressions(self, stmt):
        """`np.r_[a, b]`, `np.c_[a, b]` in the statement's expressions become `np.concatenate`."""
        for node in walk(stmt):
            for field, value in ast.iter_fields(node):
                if isinstance(value, ast.Subscript):
                    setattr(node, field, self.concatenator(value))
                elif isinstance(value, list):
                    value[:] = [self.concatenator(v) if isinstance(v, ast.Subscript) else v for v in value]

    def concatenator(self, node):
        obj = self.callee(node.value) if isinstance(node.value, (ast.Name, ast.Attribute)) else None
        if not (isinstance(node.ctx, ast.Load) and (obj is np.r_ or obj is np.c_)):
            return node
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if all(isinstance(i, ast.Slice) for i in items):
            return node  # `np.r_[0:3]`: a constant range
        if any(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
            raise DesugarError(
                f"`{ast.unparse(node)}`: a directive string in `np.r_` / `np.c_` is not supported",
                node,
                hint="write the concatenation with `np.concatenate` / `np.stack` and `np.reshape`",
            )
        column = obj is np.c_
        shape = _attr("_rt.c_shape" if column else "_rt.r_shape")
        parts = []
        for item in items:
            if isinstance(item, ast.Slice):
                item = ast.Subscript(value=clone(node.value), slice=clone(item), ctx=ast.Load())
            parts.append(_call(_attr("np.reshape"), item, _call(clone(shape), clone(item))))
        self.need(node)
        axis = ast.keyword(arg="axis", value=ast.Constant(-1 if column else 0))
        return ast.copy_location(
            _call(_attr("np.concatenate"), ast.List(parts, ast.Load()), keywords=[axis]), node
        )

    def assignment(self, stmt):
        target = stmt.targets[0]
        if _nested_item(target):  # `bufs[0][1] = v`: copy the item, write it, store it back
            item = self.fresh("item")
            container = target.value
            load = clone(container)
            load.ctx = ast.Load()
            copy = _call(ast.Attribute(value=load, attr="copy", ctx=ast.Load()))
            return [
                ast.Assign(targets=[ast.Name(item, ast.Store())], value=copy),
                ast.Assign(
                    targets=[ast.Subscript(value=_load(item), slice=target.slice, ctx=ast.Store())],
                    value=stmt.value,
                ),
                ast.Assign(targets=[_store(container)], value=_load(item)),
            ]
        if (
            isinstance(target, ast.Name)
            and isinstance(stmt.value, ast.Call)
            and self.output(stmt.value) is not None
        ):
            out = self.output(stmt.value)
            if self.fresh_output(out):
                return self.call_statement(stmt.value, stmt)
            return self.call_statement(stmt.value, stmt) + [ast.Assign(targets=[target], value=clone(out))]
        return None

    def call_statement(self, call, stmt):
        """The statements a call statement that writes into an array becomes, or None."""
        out = self.output(call)
        obj = self.callee(call.func)
        if out is not None:
            if isinstance(out, ast.Tuple):
                raise DesugarError(
                    f"`{ast.unparse(call)}` writes into several `out=` arrays",
                    call,
                    hint="assign each result: `q, r = np.divmod(a, b)`",
                )
            value = _without(call, "out")
            if self.fresh_output(out):  # `t = np.exp(x, out=np.empty(n))`: the call's own value
                if isinstance(obj, np.ufunc):
                    value.args = value.args[: obj.nin]
                if _keyword(call, "where") is not None and isinstance(obj, np.ufunc):
                    value = _call(
                        _attr("np.where"),
                        clone(_keyword(call, "where")),
                        _without(value, "where"),
                        clone(out),
                    )
                if isinstance(stmt, ast.Assign):
                    return [ast.Assign(targets=stmt.targets, value=value)]
                return [ast.Expr(value)]
            if isinstance(obj, np.ufunc):
                value.args = value.args[: obj.nin]
                where = _keyword(call, "where")
                if where is not None:
                    value = _without(value, "where")
                    value = _call(_attr("np.where"), clone(where), value, clone(out))
            return [ast.Assign(targets=[_whole(out)], value=value)]
        args = call.args
        if (
            isinstance(call.func, ast.Attribute)
            and call.func.attr == "at"
            and isinstance(getattr(obj, "__self__", None), np.ufunc)
        ):
            return _ufunc_at(obj.__self__, call, self.fresh)
        if obj is np.copyto and len(args) == 2:
            value, where = clone(args[1]), _keyword(call, "where")
            if where is not None:
                value = _call(_attr("np.where"), clone(where), value, clone(args[0]))
            return [ast.Assign(targets=[_whole(args[0])], value=value)]
        if obj is np.put and len(args) >= 3:
            return _put(args[0], args[1], args[2], args[3] if len(args) > 3 else _keyword(call, "mode"))
        if (obj is np.place or obj is np.putmask) and len(args) == 3 and not call.keywords:
            source = "_rt.place_source" if obj is np.place else "_rt.putmask_source"
            index = _call(_attr("_rt.mask_index"), clone(args[0]), clone(args[1]))
            value = ast.Subscript(
                value=_call(_attr("np.ravel"), clone(args[2])),
                slice=_call(_attr(source), clone(args[1]), clone(args[2])),
                ctx=ast.Load(),
            )
            return [
                ast.Assign(
                    targets=[ast.Subscript(value=clone(args[0]), slice=index, ctx=ast.Store())], value=value
                )
            ]
        if obj is None and isinstance(call.func, ast.Attribute):  # a method of a local value
            receiver, attr = call.func.value, call.func.attr
            if attr == "fill" and len(args) == 1 and not call.keywords:
                return [ast.Assign(targets=[_whole(receiver)], value=clone(args[0]))]
            if attr == "put" and len(args) >= 2:
                return _put(receiver, args[0], args[1], args[2] if len(args) > 2 else _keyword(call, "mode"))
            if attr in REFUSED_METHODS and isinstance(receiver, (ast.Name, ast.Subscript, ast.Attribute)):
                raise DesugarError(
                    f"`{ast.unparse(call)}` changes the array in place; s2sad does not follow it",
                    call,
                    hint=REFUSED_METHODS[attr],
                )
        try:
            refused = obj in REFUSED
        except TypeError:  # an unhashable callee
            refused = False
        if refused:
            raise DesugarError(
                f"`{ast.unparse(call)}` writes into its argument in place; s2sad does not follow it",
                call,
                hint=REFUSED[obj],
            )
        return None


# -- the statements NumPy's index-writing calls become ---------------------------------------------


def _put(target, ind, values, mode):
    """`np.put(a, ind, v)`: `a[positions] = v` cycled to the positions' count (NumPy's order: last wins)."""
    mode = clone(mode) if mode is not None else ast.Constant("raise")
    index = _call(_attr("_rt.put_index"), clone(target), clone(ind), mode)
    value = ast.Subscript(
        value=_call(_attr("np.ravel"), clone(values)),
        slice=_call(_attr("_rt.put_source"), clone(ind), clone(values)),
        ctx=ast.Load(),
    )
    return [
        ast.Assign(targets=[ast.Subscript(value=clone(target), slice=index, ctx=ast.Store())], value=value)
    ]


def _ufunc_at(ufunc, call, fresh):
    """`np.add.at(a, idx, b)`: a scatter-add (repeated indices accumulate); any other ufunc: a loop
    over the positions it visits, applying the ufunc one element at a time as NumPy does."""
    args = call.args
    if call.keywords or len(args) != ufunc.nin + 1:
        raise DesugarError(
            f"`{ast.unparse(call)}`: expected `{ufunc.__name__}.at(a, indices"
            f"{', b' if ufunc.nin == 2 else ''})`",
            call,
            hint="pass the arguments by position",
        )
    target, index = args[0], args[1]
    if ufunc in (np.add, np.subtract):
        values = clone(args[2])
        if ufunc is np.subtract:
            values = ast.UnaryOp(op=ast.USub(), operand=values)
        value = _call(_attr("_rt.added_at"), clone(target), clone(index), values)
        return [ast.Assign(targets=[_whole(target)], value=value)]
    positions, step, flat = fresh("at_positions"), fresh("at"), fresh("at_flat")
    copy = _call(ast.Attribute(value=_call(_attr("np.ravel"), clone(target)), attr="copy", ctx=ast.Load()))
    out = [
        ast.Assign(
            targets=[ast.Name(positions, ast.Store())],
            value=_call(_attr("_rt.at_positions"), clone(target), clone(index)),
        ),
        ast.Assign(targets=[ast.Name(flat, ast.Store())], value=copy),
    ]
    element = ast.Subscript(value=_load(positions), slice=_load(step), ctx=ast.Load())
    operands = [ast.Subscript(value=_load(flat), slice=clone(element), ctx=ast.Load())]
    if ufunc.nin == 2:
        values = fresh("at_values")
        shape = _call(_attr("_rt.at_shape"), clone(target), clone(index))
        spread = _call(
            _attr("np.ravel"),
            ast.BinOp(left=clone(args[2]), op=ast.Add(), right=_call(_attr("np.zeros"), shape)),
        )
        out.append(ast.Assign(targets=[ast.Name(values, ast.Store())], value=spread))
        operands.append(ast.Subscript(value=_load(values), slice=_load(step), ctx=ast.Load()))
    write = ast.Assign(
        targets=[ast.Subscript(value=_load(flat), slice=clone(element), ctx=ast.Store())],
        value=_call(clone(call.func.value), *operands),
    )
    loop = ast.For(
        target=ast.Name(step, ast.Store()),
        iter=_call(_load("range"), _call(_load("len"), _load(positions))),
        body=[write],
        orelse=[],
    )
    back = ast.Assign(
        targets=[_whole(target)],
        value=_call(_attr("np.reshape"), _load(flat), _call(_attr("np.shape"), clone(target))),
    )
    return out + [loop, back]


def _nested_item(target):
    """`a[i][j]` (an item of an item) as a store target."""
    return isinstance(target, ast.Subscript) and isinstance(target.value, ast.Subscript)


def rewrite_writes(function, namespace):
    """Rewrite the writes-by-call of the `ast.FunctionDef` `function` in place (see module doc);
    names `_rt` (s2sad.runtime) in `namespace` when the new code calls it."""
    params = {a.arg for a in function.args.args + function.args.kwonlyargs + function.args.posonlyargs}
    local_names = (
        params
        | assigned_names(function.body)
        | {n.id for n in name_nodes(function) if isinstance(n.ctx, ast.Store)}
    )
    function.body = _Writes(namespace, local_names).block(function.body)
    fix_missing_locations(function)
    return function
