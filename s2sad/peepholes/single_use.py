"""Peephole on derivative code: a temporary read once is inlined into its reader.

>>> import ast
>>> tree = ast.parse('''
... def f_vjp(x, y_bar):
...     _t1 = np.cos(x)
...     x_bar = y_bar * _t1
...     return x_bar
... ''').body[0]
>>> tree = inline_single_use(tree)
>>> print(ast.unparse(tree))
def f_vjp(x, y_bar):
    x_bar = y_bar * np.cos(x)
    return x_bar
"""

import ast

from ..analyses.effects import EFFECTS, exposed_reads, statement_facts
from ..astutil import empty_block, module_names, replace_names


def inline_single_use(function, tapes=frozenset()):
    """Generated code: `_a = e` read once, by a later statement of the same straight-line
    run, with nothing `e` reads stored in between -> the read becomes `e`.

    `_t1 = r * x; _t2 = 1.0 - x; x = _t1 * _t2` -> `x = r * x * (1.0 - x)`.
    Each statement's reads and writes are computed once (and again only for a statement
    that received an inlined value); a temporary the block does not read is not looked for.
    `tapes`: the loop tapes' preallocated lists (stores into them write no array in place).
    """
    params = {a.arg for a in function.args.args}
    globals_ = module_names(function)
    known = {}  # plain statement -> its facts (found with the exposed reads)
    exposed = exposed_reads(function, known, tapes, globals_)
    for stmt in [s for s, facts in known.items() if facts is None]:
        del known[stmt]  # a statement in two places: inlining in one changes the other

    def block(stmts):
        out = list(stmts)
        for stmt in out:
            for attr in ("body", "orelse"):
                inner = getattr(stmt, attr, None)
                if inner:
                    setattr(stmt, attr, block(inner) or empty_block(attr))
        info = [known.get(stmt) or statement_facts(stmt, tapes, globals_) for stmt in out]
        read_here = set()  # every name the block reads (and a few it no longer reads)
        for facts in info:
            read_here.update(facts[1])
        index = 0
        while index < len(out):
            stmt = out[index]
            if not (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in read_here
                and stmt.targets[0].id.startswith("_")
                and stmt.targets[0].id not in params
                and stmt.targets[0].id not in exposed
                and info[index][5].isdisjoint(EFFECTS)  # `_pop()`, `_push(...)`, ... stay where they are
            ):
                index += 1
                continue
            name = stmt.targets[0].id
            stops = set(info[index][1]) | {name}  # what the value reads, and the name itself
            target_index = None
            for k in range(index + 1, len(out)):
                simple, loads, mutated, in_place, subscript_names, _ = info[k]
                if not simple:
                    break
                uses = loads.get(name, 0)
                if uses:
                    # the statement that stores `name` again still reads the old binding first
                    reads_after = 0
                    for j in range(k + 1, len(out)):
                        reads_after += info[j][1].get(name, 0)
                        if name in info[j][2] or reads_after:
                            break
                    if uses == 1 and not reads_after and name not in subscript_names:
                        target_index = k
                    break
                if in_place or not mutated.isdisjoint(stops):
                    break  # (an in-place write may change a view that `e` reads)
            if target_index is None:
                index += 1
                continue
            replace_names(out[target_index], {name: stmt.value})
            info[target_index] = known[out[target_index]] = statement_facts(
                out[target_index], tapes, globals_
            )
            read_here.update(info[target_index][1])
            del out[index]
            del info[index]
        return out

    function.body = block(function.body)
    del block
    return function
