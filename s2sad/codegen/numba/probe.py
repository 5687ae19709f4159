"""The probe: one run of the Python-target code that keeps the last value of every name (the types
the lowering gives them)."""

import ast

from .syntax import parse_expr


class _Probe(ast.NodeTransformer):
    """After every binding of a name, `__s2sad_seen(...)` keeps its value unless it is None: one run
    of the Python target shows the type every name takes."""

    def see(self, target):
        names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        return [ast.Expr(parse_expr(f"__s2sad_seen({n!r}, {n})")) for n in names]

    def generic_visit(self, node):
        super().generic_visit(node)
        for attr in ("body", "orelse"):
            block = getattr(node, attr, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                out = []
                for stmt in block:
                    out.append(stmt)
                    if isinstance(stmt, ast.Assign):
                        for target in stmt.targets:
                            out.extend(self.see(target))
                    elif (  # `xs.append(v)`: the items a list holds
                        isinstance(stmt, ast.Expr)
                        and isinstance(stmt.value, ast.Call)
                        and isinstance(stmt.value.func, ast.Attribute)
                        and stmt.value.func.attr in ("append", "insert", "extend")
                        and isinstance(stmt.value.func.value, ast.Name)
                    ):
                        out.extend(self.see(stmt.value.func.value))
                if isinstance(node, ast.For) and attr == "body":
                    out[0:0] = self.see(node.target)
                setattr(node, attr, out)
        return node


def probe(text, namespace, function_name, args):
    """The last value other than None of every local name in one run of the Python-target function."""
    module = _Probe().visit(ast.parse(text))
    ast.fix_missing_locations(module)
    seen = {}

    def record(name, value):
        if isinstance(value, list):  # lists change after they are bound (the reverse sweep empties them):
            if value or name not in seen:  # their first and last items as they are now type them
                seen[name] = value[:1] + value[-1:]
        elif value is not None:
            seen[name] = value

    scope = dict(namespace)
    scope["__s2sad_seen"] = record
    exec(compile(module, f"<s2sad numba probe of {function_name}>", "exec"), scope)
    function = scope[function_name]
    seen.update(
        (name, value) for name, value in zip(function.__code__.co_varnames, args) if value is not None
    )
    function(*args)
    return seen
