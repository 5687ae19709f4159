"""A fast deep copy of AST nodes (the compiler copies trees many times).

`copy.deepcopy` goes through pickling protocols and a memo; an AST is a tree
of nodes whose fields are nodes, lists or plain values, so a direct recursive
copy is about three times faster.

>>> import ast
>>> tree = ast.parse("y = x * 2.0")
>>> copied = clone(tree)
>>> ast.dump(copied) == ast.dump(tree), copied.body[0] is tree.body[0]
(True, False)
>>> fresh = ast.parse("def f(x):\\n    y = x\\n    return y")
>>> fresh.body[0].body[1] = ast.Return(ast.BinOp(ast.Name("y", ast.Load()), ast.Add(), ast.Constant(1.0)))
>>> expected = ast.dump(ast.fix_missing_locations(clone(fresh)), include_attributes=True)
>>> ast.dump(fix_missing_locations(fresh), include_attributes=True) == expected
True
>>> leaves = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
>>> [type(n).__name__ for n in walk(tree)] == [type(n).__name__ for n in ast.walk(tree) if not isinstance(n, leaves)]
True
"""

import ast
import re

_AST = ast.AST


# operator and context nodes: field-less leaves the parser shares
LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def clone(node):
    """A deep copy of an AST node or a list of them (shared subtrees become separate copies).
    Operators and contexts (`ast.Add()`, `ast.Load()`) are field-less leaves, shared as the
    parser shares them."""
    if node.__class__ is list:
        return [clone(item) for item in node]
    if isinstance(node, _AST):
        if isinstance(node, LEAVES):
            return node
        cls = node.__class__
        new = cls.__new__(cls)
        fields = new.__dict__
        for key, value in node.__dict__.items():
            if value.__class__ is list or isinstance(value, _AST):
                value = clone(value)
            fields[key] = value
        return new
    return node


# Fields that never hold a node that `walk` yields: operators and contexts (leaf singletons no
# pass looks for) and plain values (names, attributes, flags).
_LEAF_FIELDS = {
    "ctx",
    "op",
    "ops",
    "id",
    "arg",
    "attr",
    "name",
    "kind",
    "type_comment",
    "is_async",
    "level",
    "module",
    "conversion",
}
_CHILD_FIELDS = {ast.Constant: ()}


def child_fields(cls):
    """The fields of nodes of class `cls` that can hold the nodes `walk` yields."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = _CHILD_FIELDS[cls] = tuple(f for f in cls._fields if f not in _LEAF_FIELDS)
    return fields


def children(node):
    """`list(ast.iter_child_nodes(node))` without the operator and context leaves."""
    out = []
    fields = node.__dict__
    for name in _CHILD_FIELDS.get(node.__class__) or child_fields(node.__class__):
        value = fields.get(name)
        if value.__class__ is list:
            out.extend(item for item in value if isinstance(item, _AST))
        elif isinstance(value, _AST):
            out.append(value)
    return out


def walk(node):
    """`ast.walk` (same breadth-first order) without the operator and context nodes (`ast.Add`,
    `ast.Load`: leaves no pass looks for), about three times as fast: fields read from `__dict__`,
    and per node class only the fields that can hold nodes."""
    todo = [node]
    push = todo.append
    fields_of, known_fields = child_fields, _CHILD_FIELDS.get
    for node in todo:
        fields = node.__dict__
        for name in known_fields(node.__class__) or fields_of(node.__class__):
            value = fields.get(name)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        push(item)
            elif isinstance(value, _AST):
                push(value)
        yield node


def nodes(node):
    """`list(walk(node))`, built without a generator (faster when every node is looked at)."""
    todo = [node]
    push = todo.append
    fields_of, known_fields = child_fields, _CHILD_FIELDS.get
    for node in todo:
        fields = node.__dict__
        for name in known_fields(node.__class__) or fields_of(node.__class__):
            value = fields.get(name)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        push(item)
            elif isinstance(value, _AST):
                push(value)
    return todo


def name_nodes(node):
    """The `ast.Name` nodes under `node` (itself included), in `walk`'s order: what most passes
    look for, found without a generator (a third faster than filtering `walk`).

    >>> import ast
    >>> [n.id for n in name_nodes(ast.parse("y = f(x, a[i]) + x"))]
    ['y', 'x', 'f', 'x', 'a', 'i']
    """
    found = []
    todo = [node]
    push = todo.append
    fields_of, known_fields = child_fields, _CHILD_FIELDS.get
    Name = ast.Name
    for node in todo:
        cls = node.__class__
        if cls is Name:
            found.append(node)
            continue
        fields = node.__dict__
        for name in known_fields(cls) or fields_of(cls):
            value = fields.get(name)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        push(item)
            elif isinstance(value, _AST):
                push(value)
    return found


def unshare(node):
    """Give every node that appears more than once in the tree under `node` fresh copies past its
    first place (in place; a pass that renames one place must not rename the others).

    >>> import ast
    >>> x = ast.Name("x", ast.Load())
    >>> tree = ast.Module(body=[ast.Expr(ast.BinOp(x, ast.Add(), x))], type_ignores=[])
    >>> op = unshare(tree).body[0].value
    >>> op.left is x, op.right is x, ast.unparse(tree)
    (True, False, 'x + x')
    """
    seen = {id(node)}
    todo = [node]
    for current in todo:
        fields = current.__dict__
        for name in _CHILD_FIELDS.get(current.__class__) or child_fields(current.__class__):
            value = fields.get(name)
            if value.__class__ is list:
                for index, item in enumerate(value):
                    if isinstance(item, _AST):
                        if id(item) in seen:
                            value[index] = clone(item)
                        else:
                            seen.add(id(item))
                            todo.append(item)
            elif isinstance(value, _AST):
                if id(value) in seen:
                    fields[name] = clone(value)
                else:
                    seen.add(id(value))
                    todo.append(value)
    return node


def fix_missing_locations(node):
    """`ast.fix_missing_locations` (the same locations), about three times as fast: only the
    fields that can hold nodes are visited."""
    _fix(node, 1, 0, 1, 0)
    return node


def increment_lineno(node, n):
    """`ast.increment_lineno` (the same result), about three times as fast."""
    for child in nodes(node):
        fields = child.__dict__
        if "lineno" in fields:
            child.lineno = fields["lineno"] + n
        if fields.get("end_lineno") is not None:
            child.end_lineno = fields["end_lineno"] + n
    return node


def fix_statement_locations(function):
    """`fix_missing_locations` for the statements only: each statement without a location takes
    its enclosing statement's. Enough for generated code, which is unparsed to text (only the
    statements' lines are read: the comments pointing at the user's source); a third of the work.

    >>> import ast
    >>> f = ast.parse("def f(x):\\n    return x").body[0]
    >>> f.body.insert(0, ast.Assign(targets=[ast.Name("y", ast.Store())], value=ast.Name("x", ast.Load())))
    >>> f = fix_statement_locations(f)
    >>> f.body[0].lineno, f.body[0].end_lineno, f.body[1].lineno
    (1, 2, 2)
    """
    todo = [
        (function.body, function.lineno, function.col_offset, function.end_lineno, function.end_col_offset)
    ]
    for stmts, lineno, col_offset, end_lineno, end_col_offset in todo:
        for stmt in stmts:
            fields = stmt.__dict__
            if "lineno" not in fields:
                stmt.lineno, stmt.col_offset = lineno, col_offset
            if fields.get("end_lineno") is None:
                stmt.end_lineno, stmt.end_col_offset = end_lineno, end_col_offset
            for attr in ("body", "orelse", "finalbody"):
                inner = fields.get(attr)
                if inner.__class__ is list and inner:
                    todo.append((inner, stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset))
    return function


def _fix(node, lineno, col_offset, end_lineno, end_col_offset):
    fields = node.__dict__
    if "lineno" in node._attributes:
        if "lineno" not in fields:
            node.lineno = lineno
        else:
            lineno = fields["lineno"]
        if "end_lineno" in node._attributes:
            if fields.get("end_lineno") is None:
                node.end_lineno = end_lineno
            else:
                end_lineno = fields["end_lineno"]
        if "col_offset" in node._attributes:
            if "col_offset" not in fields:
                node.col_offset = col_offset
            else:
                col_offset = fields["col_offset"]
        if "end_col_offset" in node._attributes:
            if fields.get("end_col_offset") is None:
                node.end_col_offset = end_col_offset
            else:
                end_col_offset = fields["end_col_offset"]
    for name in _CHILD_FIELDS.get(node.__class__) or child_fields(node.__class__):
        value = fields.get(name)
        if value.__class__ is list:
            for item in value:
                if isinstance(item, _AST):
                    _fix(item, lineno, col_offset, end_lineno, end_col_offset)
        elif isinstance(value, _AST):
            _fix(value, lineno, col_offset, end_lineno, end_col_offset)


def identifier(name):
    name = re.sub(r"\W", "_", name)
    return name if name.isidentifier() else f"f_{name}"


def assigned_names(nodes):
    """Names bound anywhere in `nodes` (assignment targets and loop targets)."""
    names = set()
    for root in nodes:
        for node in walk(root):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def module_names(function, also_local=()):
    """The names `function` reads from the module namespace: read, but neither a parameter nor
    assigned anywhere in it (Python's rule for the names of a function), nor one of `also_local`
    (the enclosing function's variables a local function reads). A pass asks "is this name a
    global?" of this set, never of the node.

    >>> import ast
    >>> sorted(module_names(ast.parse("def f(x, n):\\n    for i in range(n):\\n        x = np.sin(x) * W\\n    return x").body[0]))
    ['W', 'np', 'range']
    """
    args = function.args
    params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    read, stored = set(), set()
    for node in name_nodes(function):
        (read if node.ctx.__class__ is ast.Load else stored).add(node.id)
    return frozenset(read - stored - params - set(also_local))


def empty_block(attr):
    """What an emptied block becomes: `pass` for a body, nothing for an `else`."""
    return [ast.Pass()] if attr == "body" else []


def rewrite_nested(stmt, block):
    """Apply the block rewriter `block` to the statement lists nested in `stmt`."""
    for attr in ("body", "orelse"):
        inner = getattr(stmt, attr, None)
        if inner:
            setattr(stmt, attr, block(inner) or empty_block(attr))


def statements(body):
    """Every statement of `body` and of the blocks nested in it, each before its own blocks."""
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse"):
            yield from statements(getattr(stmt, attr, []) or [])


def replace_names(node, mapping):
    """Every read of a name in `mapping` becomes a fresh copy of its value (in place)."""
    Name, Load = ast.Name, ast.Load
    fields = node.__dict__
    for field in child_fields(node.__class__):
        value = fields.get(field)
        if value.__class__ is list:
            for index, item in enumerate(value):
                if item.__class__ is Name:
                    if item.id in mapping and item.ctx.__class__ is Load:
                        value[index] = clone(mapping[item.id])
                elif isinstance(item, ast.AST):
                    replace_names(item, mapping)
        elif value.__class__ is Name:
            if value.id in mapping and value.ctx.__class__ is Load:
                fields[field] = clone(mapping[value.id])
        elif isinstance(value, ast.AST):
            replace_names(value, mapping)


def families(names, links):
    """name -> the root of its family: `names` joined where `links[n]` names another of them (union-find,
    in sorted order, so the roots do not depend on the order of a set).

    >>> families({"a", "b", "c"}, {"a": {"b"}}) == {"a": "a", "b": "a", "c": "c"}
    True
    """
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for n in sorted(names):
        for t in sorted(links.get(n, ())):
            if t in parent:
                parent[find(t)] = find(n)
    return {n: find(n) for n in names}


def sole_argument(node, name):
    """`x` if `node` is the call `name(x)` (one positional argument, no keywords), else None.

    >>> ast.unparse(sole_argument(ast.parse("reversed(xs)").body[0].value, "reversed"))
    'xs'
    """
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
        and len(node.args) == 1
        and not node.keywords
    ):
        return node.args[0]
    return None
