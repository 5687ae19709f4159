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
>>> [type(n).__name__ for n in walk(tree)] == [type(n).__name__ for n in ast.walk(tree)]
True
"""

import ast
from collections import deque

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


def walk(node):
    """`ast.walk` (same breadth-first order), about twice as fast: fields read from `__dict__`."""
    todo = deque([node])
    pop, push = todo.popleft, todo.append
    while todo:
        node = pop()
        fields = node.__dict__
        for name in node._fields:
            value = fields.get(name)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, _AST):
                        push(item)
            elif isinstance(value, _AST):
                push(value)
        yield node
