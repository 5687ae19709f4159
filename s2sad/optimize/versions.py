"""One name used for values of two kinds (a list, then an array) becomes one name per kind."""

import ast

from ..astutil import name_nodes, walk


def split_versions(function, names):
    """Give each top-level assignment of a variable in `names` a new name from there on, so
    that one variable is not a list at one point and an array at another (an assignment at the
    top level of the body is followed by everything after it, and replaces the old value).

    >>> f = ast.parse("def f(x):\\n    t = [x]\\n    t = np.array(t)\\n    return t").body[0]
    >>> print(ast.unparse(split_versions(f, {"t"})))
    def f(x):
        t = [x]
        t_1 = np.array(t)
        return t_1
    """
    taken = {n.id for n in name_nodes(function)} | {a.arg for a in function.args.args}
    params = {a.arg for a in function.args.args}
    body = function.body
    for name in sorted(names):
        current, count = name, 0
        for index, stmt in enumerate(body):
            if not (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == current
            ):
                continue
            if count == 0 and name not in params:
                count = 1  # the first value keeps the name
                continue
            new = f"{name}_{count}"
            while new in taken:
                count += 1
                new = f"{name}_{count}"
            taken.add(new)
            count += 1
            stmt.targets[0].id = new
            for later in body[index + 1 :]:
                for node in walk(later):
                    if (
                        isinstance(node, ast.Name) and node.id == current
                    ):  # (a variable: never a global's name)
                        node.id = new
            current = new
    return function
