"""What each statement's adjoint reads, for the reverse transform: in-place variables, list
literals whose items take adjoints directly, the reads of the backward sweep (which decide what
the forward sweep must record).
"""

import ast


from .. import kinds as K
from ..analyses.activity import walk_statements
from ..astutil import name_nodes
from ..rules import adjoint_for
from .derivatives import bind_template, call, is_scalar, local_atom, names_read


class AdjointReads:
    """What the backward sweep reads (a part of `ReverseTransform`)."""

    # -- what each statement's adjoint reads ------------------------------------------
    def _inplace_variables(self):
        """Arrays whose adjoints are updated in place (subscript writes and reads)."""
        names = set()
        for stmt in walk_statements(self.function.body):
            if not isinstance(stmt, ast.Assign):
                continue
            target = stmt.targets[0]
            if isinstance(target, ast.Subscript) and target.value.id in self.active:
                if self.kinds.get(target.value.id) != K.LIST:
                    names.add(target.value.id)
            elif isinstance(stmt.value, ast.Subscript) and target.id in self.active:
                base = local_atom(stmt.value.value, self.globals)
                if base in self.active and self.kinds.get(base) == K.ARRAY:
                    names.add(base)
        return names

    def _literal_operands(self):
        """{id(call statement): (name, items)} for a list or tuple literal built right before the one
        call that reads it (`_t1 = [a, b]; y = np.concatenate(_t1)`): nothing rebinds the items in
        between."""
        out, counts = {}, {}
        for node in name_nodes(self.function):
            counts[node.id] = counts.get(node.id, 0) + 1

        def block(stmts):
            for stmt in stmts:
                for attr in ("body", "orelse"):
                    block(getattr(stmt, attr, None) or [])
            for before, stmt in zip(stmts, stmts[1:]):
                if (
                    isinstance(before, ast.Assign)
                    and isinstance(before.targets[0], ast.Name)
                    and (
                        before.targets[0].id in self.single_use_lists
                        or (isinstance(before.value, ast.Tuple) and counts[before.targets[0].id] == 2)
                    )
                    and isinstance(stmt, ast.Assign)
                    and before.targets[0].id in names_read(stmt.value)
                ):
                    out[id(stmt)] = (before.targets[0].id, before.value.elts)

        block(self.function.body)
        del block  # a recursive closure is a reference cycle (holding the transform)
        return out

    def _adjoint_reads(self, stmt):
        names = set()
        for operand, expr in self.adjoint_parts(stmt):
            if operand in ("@inplace", "@local"):
                return set()
            names |= names_read(expr)
        return names

    def _output_free(self, stmt):
        """True if the adjoint of `stmt` does not read the statement's own result."""
        prim = self.analysis.primitives.get(id(stmt))
        if prim is None or prim.kind != "call":
            return prim is not None
        if prim.rule.adjoint is None:
            return False
        template = adjoint_for(prim.rule, bind_template(prim.rule.adjoint, prim))
        return not template.uses_output and prim.rule.elementwise

    def reads_of(self, stmt, after=False):
        """Primal names the backward sweep reads at `stmt` (operands, or its result)."""
        found = self._reads_found.get(id(stmt))
        if found is None:
            found = self._reads_found[id(stmt)] = self._backward_reads(stmt)
        names, name, recomputed = found
        if after:
            return {name} if name in names else set()
        if recomputed and name in names:
            return set(names)  # the old value is read: it restores the recomputed operands
        return names - ({name} if name else set())

    def _backward_reads(self, stmt):
        """(the names the adjoint of `stmt` reads, its target's name, the statements it recomputes)."""
        names = set()
        for operand, expr in self.adjoint_parts(stmt):
            if operand in ("@inplace", "@list"):
                base, index, _ = expr
                names |= {base} | names_read(index)
                continue
            if operand == "@local":
                expr = expr[1]
            names |= {n for n in names_read(expr) if not _is_derivative(n, self)}
        target = stmt.targets[0]
        if isinstance(target, ast.Subscript):
            names |= names_read(target.slice) | {target.value.id}
        else:
            prim = self.analysis.primitives[id(stmt)]
            if prim.kind == "call" and prim.rule.differentiable and not prim.rule.elementwise:
                if target.id in self.active and not is_scalar(self.kinds.get(target.id)):
                    names.add(target.id)  # for `_rt.like` on a maybe-zero adjoint
            if (
                prim.kind == "call" and target.id in self.active and id(stmt) not in self.split_literals
            ):  # `_rt.list_cotangent(g, xs)`: the list as it was
                names |= {
                    a
                    for a in (local_atom(p, self.globals) for p in prim.args)
                    if a in self.active and self.kinds.get(a) == K.LIST
                }
        name = target.id if isinstance(target, ast.Name) else None
        recomputed = self.recompute.get(id(stmt), [])
        if recomputed:
            names -= {d.targets[0].id for d in recomputed}
            for definition in recomputed:
                names |= {n.id for n in name_nodes(definition.value) if n.id not in self.globals}
        return names, name, recomputed


def _is_derivative(name, transform):
    return name in transform.names.derived or name.startswith("_stack") or name in ("_push", "_pop", "_value")
