"""A fast deep copy of AST nodes (the compiler copies trees many times).

`copy.deepcopy` goes through pickling protocols and a memo; an AST is a tree
of nodes whose fields are nodes, lists or plain values, so a direct recursive
copy is about three times faster. Extra attributes the passes attach to nodes
(`_global`, `restores`, ...) are copied too.

>>> import ast
>>> tree = ast.parse("y = x * 2.0")
>>> tree.body[0].value.left._global = False
>>> copied = clone(tree)
>>> ast.dump(copied) == ast.dump(tree), copied.body[0] is tree.body[0], copied.body[0].value.left._global
(True, False, False)
>>> leaves = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
>>> [type(n).__name__ for n in walk(tree)] == [type(n).__name__ for n in ast.walk(tree) if not isinstance(n, leaves)]
True
"""

import ast

_AST = ast.AST


def clone(node):
    """A deep copy of an AST node or a list of them (shared subtrees become separate copies)."""
    if isinstance(node, list):
        return [clone(item) for item in node]
    if isinstance(node, ast.AST):
        new = node.__class__.__new__(node.__class__)
        fields = new.__dict__
        for key, value in node.__dict__.items():
            fields[key] = clone(value) if isinstance(value, (ast.AST, list)) else value
        return new
    return node


# Fields that never hold a node that `walk` yields: operators and contexts (leaf singletons no
# pass looks for) and plain values (names, attributes, flags).
_LEAF_FIELDS = {"ctx", "op", "ops", "id", "arg", "attr", "name", "kind", "type_comment", "is_async", "level",
                "module", "conversion"}
_CHILD_FIELDS = {ast.Constant: ()}


def child_fields(cls):
    """The fields of nodes of class `cls` that can hold the nodes `walk` yields."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = _CHILD_FIELDS[cls] = tuple(f for f in cls._fields if f not in _LEAF_FIELDS)
    return fields


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
