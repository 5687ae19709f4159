"""AST builders and fresh names shared by the lowering passes (desugar, comprehensions).

>>> counter = _Counter()
>>> counter.fresh("index"), counter.fresh("index"), ast.unparse(_not("flag"))
('_index1', '_index2', 'not flag')
"""

import ast


def _name(id_, ctx=None):
    return ast.Name(id=id_, ctx=ctx or ast.Load())


def _assign(target, value):
    return ast.Assign(targets=[_name(target, ast.Store())], value=value)


def _not(flag):
    return ast.UnaryOp(op=ast.Not(), operand=_name(flag))


class _Counter:
    def __init__(self):
        self.counts = {}

    def fresh(self, stem):
        self.counts[stem] = self.counts.get(stem, 0) + 1
        return f"_{stem}{self.counts[stem]}"
