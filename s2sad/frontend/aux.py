"""`has_aux`: a function returning `(output, aux)` is differentiated w.r.t. its output only.

`split_aux` makes every `return loss, aux` into `_aux = aux; return loss` before the function is
lowered; `return_aux` makes the normalized function return the pair `(output, _aux)` again, of
which the analyses and transforms differentiate the first item only.

>>> import ast
>>> from s2sad.frontend.source import parse_function
>>> def f(x):
...     return x * x, "note"
>>> parsed = parse_function(f)
>>> split_aux(parsed)
'_aux'
>>> print(ast.unparse(parsed.tree))
def f(x):
    _aux = 'note'
    return x * x
"""

import ast

from ..astutil import fix_missing_locations, name_nodes
from ..errors import UnsupportedSyntaxError


def _returns(tree):
    """The `return` statements of `tree` itself (not of nested functions)."""
    out = []

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Return):
                out.append(child)
            walk(child)

    walk(tree)
    return out


def split_aux(parsed):
    """has_aux: every `return loss, aux` becomes `_aux = aux; return loss`.

    Returns the name holding aux; the normalized function then returns the pair
    `(output, _aux)`, of which only the output is differentiated.
    """
    taken = {n.id for n in name_nodes(parsed.tree)}
    name = "_aux"
    while name in taken:
        name += "_"
    returns = _returns(parsed.tree)
    for ret in returns:
        if not (isinstance(ret.value, ast.Tuple) and len(ret.value.elts) == 2):
            raise parsed.error(
                UnsupportedSyntaxError,
                "with has_aux=True the function must return a pair `(output, aux)`",
                ret,
                hint="return loss, aux",
            )

    class Split(ast.NodeTransformer):
        def visit_FunctionDef(self, node):
            if node is parsed.tree:
                self.generic_visit(node)
            return node

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Lambda(self, node):
            return node

        def visit_Return(self, node):
            keep = ast.copy_location(
                ast.Assign(targets=[ast.Name(name, ast.Store())], value=node.value.elts[1]), node
            )
            return [keep, ast.copy_location(ast.Return(node.value.elts[0]), node)]

    Split().visit(parsed.tree)
    fix_missing_locations(parsed.tree)
    return name


def return_aux(tree, name):
    ret = tree.body[-1]
    ret.value = ast.Tuple(elts=[ret.value, ast.Name(name, ast.Load())], ctx=ast.Load())
    return tree
