"""Sum the per-step matrix-product adjoints of a loop with one product after it.

In the backward loop of an RNN, `Wh_bar = Wh_bar + _rt.matmul_adjoint_x(g, Wh, h)`
adds an outer product to a 64x64 array every step. The hand-written BPTT keeps
the steps' `g` and `h` and adds `G.T @ H` once. This pass does the same, on
generated code: an accumulation `A = A + _rt.matmul_adjoint_x(G, W, V)` (or
`..._y(G, V, W)`) at the top level of a loop body, whose `A` nothing else in
the loop reads or writes, becomes `_products1.add(G, V)` in the loop and
`A = A + _products1.total(W)` after it (`_rt.ProductSum`, which stacks the
steps and multiplies once, or adds them one by one when their shapes differ).
`G` and `V` must not be arrays written in place elsewhere (the steps keep them).

>>> import ast
>>> f = ast.parse('''
... def f_grad(Wh, hs, g):
...     Wh_bar = _rt.zeros_like(Wh)
...     for h in reversed(hs):
...         Wh_bar = Wh_bar + _rt.matmul_adjoint_x(g * h, Wh, h)
...         g = Wh.T @ g
...     return Wh_bar
... ''').body[0]
>>> print(ast.unparse(sum_products_after_loops(f)))
def f_grad(Wh, hs, g):
    Wh_bar = _rt.zeros_like(Wh)
    _products1 = _rt.ProductSum('x')
    for h in reversed(hs):
        _products1.add(g * h, h)
        g = Wh.T @ g
    Wh_bar = Wh_bar + _products1.total(Wh)
    return Wh_bar
"""

import ast

from ..astutil import fix_missing_locations, name_nodes, nodes, rewrite_nested, walk

_ADJOINTS = {"matmul_adjoint_x": "x", "matmul_adjoint_y": "y"}


def _product(value, name):
    """(side, G, W, V) if `value` is `name + _rt.matmul_adjoint_?(...)`, else None."""
    if not (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add)):
        return None
    if not (isinstance(value.left, ast.Name) and value.left.id == name):
        return None
    call = value.right
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "_rt"
        and call.func.attr in _ADJOINTS
        and len(call.args) == 3
        and not call.keywords
    ):
        return None
    side = _ADJOINTS[call.func.attr]
    g, x, y = call.args
    return (side, g, x, y) if side == "x" else (side, g, y, x)


def _names(node, ctx=None):
    return {n.id for n in name_nodes(node) if (ctx is None or isinstance(n.ctx, ctx))}


def _writes_and_names(function):
    """(names whose arrays are changed in place: `a[i] = v`, `_rt.add_at(a, ...)`; every name)."""
    out, taken = set(), set()
    for node in nodes(function):
        cls = node.__class__
        if cls is ast.Name:
            taken.add(node.id)
        elif cls is ast.Subscript:
            if node.ctx.__class__ is ast.Store and node.value.__class__ is ast.Name:
                out.add(node.value.id)
        elif (
            cls is ast.Call
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_at"
            and node.args
            and isinstance(node.args[0], ast.Name)
        ):
            out.add(node.args[0].id)
    return out, taken


def _writes_into(stmt, name):
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            while isinstance(target, ast.Subscript):
                target = target.value
                if isinstance(target, ast.Name) and target.id == name:
                    return True
        return False
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "add_at"
        and bool(stmt.value.args)
        and isinstance(stmt.value.args[0], ast.Name)
        and stmt.value.args[0].id == name
    )


def _fresh_each_step(body, index, name, function):
    """True if the array `name`, written in place, is a new array of zeros each step, made and
    written into only by statements of `body` before `body[index]` (the steps keep each one
    unchanged): `z_bar = _rt.zeros_like(z)`, then `_rt.add_at(z_bar, ...)`s."""
    made = [
        k
        for k in range(index)
        if isinstance(body[k], ast.Assign)
        and len(body[k].targets) == 1
        and isinstance(body[k].targets[0], ast.Name)
        and body[k].targets[0].id == name
    ]
    if not made:
        return False
    start = made[-1]
    value = body[start].value
    if not (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "zeros_like"
    ):
        return False
    window = {id(s) for s in body[start + 1 : index]}
    for node in walk(function):
        if _writes_into(node, name) and id(node) not in window:
            return False
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == name:
            return False  # another name for the array
    return True


def start_sum(kind, argument, stem, counter, taken, loop):
    """A summing object made before `loop`: (its fresh name `_{stem}N`, the statement
    `_{stem}N = _rt.{kind}(argument)`). `counter` (a one-item list) numbers them; `taken` holds
    the names in use."""
    counter[0] += 1
    name = f"_{stem}{counter[0]}"
    while name in taken:
        name += "_"
    taken.add(name)
    make = ast.Call(
        func=ast.Attribute(value=ast.Name("_rt", ast.Load()), attr=kind, ctx=ast.Load()),
        args=[ast.Constant(argument)],
        keywords=[],
    )
    return name, fix_missing_locations(
        ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=make), loop)
    )


def method_call(name, method, args):
    """`name.method(*args)` as a tree."""
    return ast.Call(
        func=ast.Attribute(value=ast.Name(name, ast.Load()), attr=method, ctx=ast.Load()),
        args=args,
        keywords=[],
    )


def add_total(target, summed, args, where):
    """`target = target + summed.total(*args)`, at the location of `where`."""
    update = ast.BinOp(
        left=ast.Name(target, ast.Load()), op=ast.Add(), right=method_call(summed, "total", args)
    )
    return fix_missing_locations(
        ast.copy_location(ast.Assign(targets=[ast.Name(target, ast.Store())], value=update), where)
    )


def sum_products_after_loops(function):
    """Rewrite per-step product accumulations in `for` loops (see module doc); in place."""
    counter = [0]
    found_once = {}  # what the rewrites need, found when a loop first has a candidate

    def facts():
        if not found_once:
            found_once["mutated"], found_once["taken"] = _writes_and_names(function)
        return found_once

    def block(stmts):
        out = []
        for stmt in stmts:
            rewrite_nested(stmt, block)
            if isinstance(stmt, ast.For):
                before, after = rewrite(stmt)
                out += before + [stmt] + after
            else:
                out.append(stmt)
        return out

    def rewrite(loop):
        before, after = [], []
        assigned_in_loop = None
        cotangents = {}  # a step's cotangent added to a product sum -> (the sum, where it is added)
        for index, stmt in enumerate(loop.body):
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                continue
            name = stmt.targets[0].id
            found = _product(stmt.value, name)
            if found is None:
                continue
            side, g, weight, v = found
            if assigned_in_loop is None:
                assigned_in_loop = _names(ast.Module(body=loop.body, type_ignores=[]), ast.Store) | _names(
                    loop.target
                )
            mutated, taken = facts()["mutated"], facts()["taken"]
            others = [s for k, s in enumerate(loop.body) if k != index]
            if name in _names(ast.Module(body=others, type_ignores=[])) or name in _names(loop.iter):
                continue  # the accumulated adjoint is read or written elsewhere in the loop
            if _names(weight) & assigned_in_loop:
                continue
            if any(
                not _fresh_each_step(loop.body, index, n, function) for n in (_names(g) | _names(v)) & mutated
            ):
                continue
            products, make = start_sum("ProductSum", side, "products", counter, taken, loop)
            before.append(make)
            add = method_call(products, "add", [g, v])
            loop.body[index] = fix_missing_locations(ast.copy_location(ast.Expr(add), stmt))
            if isinstance(g, ast.Name):
                cotangents.setdefault(g.id, (products, index))
            after.append(add_total(name, products, [weight], stmt))
        if cotangents:
            after += sum_cotangents(loop, cotangents)
        return before, after

    def sum_cotangents(loop, cotangents):
        """`A = A + g` in the loop, `g` also added to a product sum: after the loop, `A` adds the
        sum's stacked cotangents at once (the bias of `W @ x + b` beside `W`'s products)."""
        after = []
        for stmt in list(loop.body):
            index = loop.body.index(stmt)
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.BinOp)
                and isinstance(stmt.value.op, ast.Add)
                and isinstance(stmt.value.left, ast.Name)
                and isinstance(stmt.value.right, ast.Name)
                and stmt.value.left.id == stmt.targets[0].id
                and stmt.value.right.id in cotangents
            ):
                continue
            name, g = stmt.targets[0].id, stmt.value.right.id
            products, added = cotangents[g]
            others = [s for s in loop.body if s is not stmt]
            if name == g or name in _names(ast.Module(body=others, type_ignores=[])):
                continue  # the accumulated adjoint is read or written elsewhere in the loop
            if name in _names(loop.iter) or name in _names(loop.target):
                continue
            between = loop.body[min(index, added) + 1 : max(index, added)]
            if g in _names(ast.Module(body=between, type_ignores=[]), ast.Store):
                continue  # not the value the product sum keeps
            loop.body.remove(stmt)
            if added > index:  # the product's add moved up by one
                for key, (sum_name, position) in list(cotangents.items()):
                    if position > index:
                        cotangents[key] = (sum_name, position - 1)
            summed = ast.Call(
                func=ast.Attribute(
                    value=ast.Name(products, ast.Load()), attr="cotangent_sum", ctx=ast.Load()
                ),
                args=[],
                keywords=[],
            )
            update = ast.BinOp(left=ast.Name(name, ast.Load()), op=ast.Add(), right=summed)
            after.append(
                fix_missing_locations(
                    ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())], value=update), stmt)
                )
            )
        if not loop.body:
            loop.body = [ast.Pass()]
        return after

    function.body = block(function.body)
    del (
        block,
        sum_cotangents,
    )  # a recursive closure is a reference cycle: without it the tree is freed on return, not by the GC
    return function
