"""The template engine: a derivative rule's template is a tiny Python function whose body is
inlined into generated code, its parameters bound to the call's operands and their derivatives.

>>> import ast
>>> template = Template.from_text("def _(z, x):\\n    x_bar += z_bar * np.cos(x)\\n")
>>> [(target, ast.unparse(expr)) for target, expr in template.instantiate(
...     {"z": ast.Name("y"), "x": ast.Name("a")}, {"z_bar": ast.Name("y_bar"), "x_bar": ast.Name("a_bar")})]
[('x', 'y_bar * np.cos(a)')]
"""

import ast
import inspect
import textwrap
import weakref

from .. import cache
from ..astutil import LEAVES, clone, name_nodes

_TEMPLATES = weakref.WeakSet()  # every Template: `clear_plans` forgets how calls bind


@cache.on_clear
def clear_plans():
    """Forget how calls of each shape bind to the templates (`s2sad.cache.clear`)."""
    for template in list(_TEMPLATES):
        template._plans.clear()


class Template:
    """A parsed rule body, ready to be instantiated with the names of a call site.

    The body is parsed on first use, not when the rule is registered: importing s2sad registers
    ~500 templates, and reading and parsing their source took most of `import s2sad` (a program
    uses a few dozen of them)."""

    _PARSED = frozenset(
        ("signature", "output", "operands", "body", "call_signature")
        + ("differentiable_operands", "uses_output", "locals")
    )

    def __init__(self, fn, source=None):
        self.function = fn
        self._source = source
        self._plans = {}  # (positional count, keyword names) -> how such a call binds
        self.derived = {}  # forms derived from this one (`s2sad.rules.batching`)
        _TEMPLATES.add(self)

    def __getattr__(self, name):  # called only while an attribute is missing: before the parse
        if name not in Template._PARSED:
            raise AttributeError(name)
        self._parse()
        return self.__dict__[name]

    def _parse(self):
        fn, source = self.function, self._source
        source = textwrap.dedent(inspect.getsource(fn) if source is None else source)
        tree = ast.parse(source).body[0]
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters)
        self.output = params[0]
        self.operands = params[1:]
        self.body = [
            s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        self.call_signature = self.signature.replace(parameters=list(self.signature.parameters.values())[1:])
        self._read_body({n.id for n in name_nodes(tree)})

    def _read_body(self, names):
        self.differentiable_operands = [
            p for p in self.operands if f"{p}_dot" in names or f"{p}_bar" in names
        ]
        self.uses_output = self.output in names
        self.locals = [
            s.targets[0].id
            for s in self.body
            if isinstance(s, ast.Assign)
            and isinstance(s.targets[0], ast.Name)
            and s.targets[0].id not in self._derivative_names()
        ]

    @classmethod
    def rewritten(cls, template, body):
        """A template with `template`'s parameters and the statements `body` (a derived form)."""
        new = cls(template.function, template._source)
        for name in ("signature", "output", "operands", "call_signature"):
            new.__dict__[name] = getattr(template, name)
        new.body = body
        new._read_body({n.id for stmt in body for n in name_nodes(stmt)})
        return new

    @classmethod
    def from_text(cls, text):
        """A template from generated source text `def _(z, x): ...` rather than a file."""
        namespace = {}
        exec(compile(text, "<s2sad template>", "exec"), namespace)
        return cls(namespace["_"], source=text)

    def _derivative_names(self):
        params = [self.output] + self.operands
        return {f"{p}_dot" for p in params} | {f"{p}_bar" for p in params}

    def bind(self, args, keywords):
        """Map the template's parameter names to the call's argument atoms. How a call of this
        shape binds (so many positional arguments, these keywords) is worked out once, by
        `inspect.Signature.bind` (whose TypeError says what does not fit)."""
        shape = (len(args), tuple(keywords))
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._plan(*shape)

        def get(slot):
            return args[slot] if slot.__class__ is int else keywords[slot[1]]

        values = {}
        for name, how, slot in plan:
            if how == "one":
                values[name] = get(slot)
            elif how == "tuple":
                values[name] = ast.Tuple(elts=[get(s) for s in slot], ctx=ast.Load())
            elif how == "dict":
                values[name] = {k: get(s) for k, s in slot.items()}
            elif how == "no tuple":
                values[name] = ast.Tuple(elts=[], ctx=ast.Load())
            elif how == "no dict":
                values[name] = ast.Dict(keys=[], values=[])
            else:
                values[name] = ast.Constant(slot)
        return values

    def _plan(self, count, keywords):
        """[(parameter, how its value is found, where)] for calls with `count` positional
        arguments and these keyword names: slots are argument positions or ("keyword", name)."""
        bound = self.call_signature.bind(*range(count), **{k: ("keyword", k) for k in keywords})
        plan = []
        for name, param in self.call_signature.parameters.items():
            if name in bound.arguments:
                value = bound.arguments[name]
                if param.kind == param.VAR_POSITIONAL:
                    plan.append((name, "tuple", list(value)))
                elif param.kind == param.VAR_KEYWORD:
                    plan.append((name, "dict", dict(value)))
                else:
                    plan.append((name, "one", value))
            elif param.kind == param.VAR_POSITIONAL:
                plan.append((name, "no tuple", None))
            elif param.kind == param.VAR_KEYWORD:
                plan.append((name, "no dict", None))
            else:
                plan.append((name, "default", param.default))
        return plan

    def instantiate(self, values, derivatives, fresh=None):
        """Inline the body: returns [(target, expression)].

        `values` maps parameter names to atoms, `derivatives` maps `x_dot` /
        `x_bar` names to names or symbolic zeros. Targets are operand names
        (`x` for `x_bar += ...`), the output name (`z` for `z_dot = ...`), or
        fresh local names for the template's own temporaries.
        """
        renames = {}
        for local in self.locals:
            renames[local] = fresh(local) if fresh else local
        out = []
        for stmt in self.body:
            if isinstance(stmt, ast.AugAssign):
                target = stmt.target.id[: -len("_bar")]
            else:
                target = stmt.targets[0].id
                if target.endswith("_dot") and target[:-4] == self.output:
                    target = self.output
                else:
                    target = renames.get(target, target)
            value = _substitute(stmt.value, values, derivatives, renames)
            out.append((target, value))
        return out


def _substitute(node, values, derivatives, renames):
    """A copy of the template expression `node` with the names bound: derivatives, values, and
    renamed template locals."""
    if node.__class__ is ast.Name:
        if node.id in derivatives:
            return clone(derivatives[node.id])
        if node.id in values:
            return clone(values[node.id])
        if node.id in renames:
            return ast.Name(id=renames[node.id], ctx=ast.Load())
        return clone(node)
    if node.__class__ is list:
        return [_substitute(item, values, derivatives, renames) for item in node]
    if not isinstance(node, ast.AST) or isinstance(node, LEAVES):
        return node
    new = node.__class__.__new__(node.__class__)
    fields = new.__dict__
    for key, value in node.__dict__.items():
        if value.__class__ is list or isinstance(value, ast.AST):
            value = _substitute(value, values, derivatives, renames)
        fields[key] = value
    return new
