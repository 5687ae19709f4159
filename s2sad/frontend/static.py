"""Frontend: a module's functions from its source alone, without running it (`s2sad check`).

`load_module(path)` parses the file and builds the namespace its functions would see, statement by
statement, without executing the module: each top-level `def` (and `name = lambda ...`) is compiled
alone, decorators, annotations and default expressions left out, so defining it runs none of the
user's code; imports of installed libraries (NumPy, math, SciPy, ...) are imported, since their objects
say which rule applies; modules next to the file are loaded the same way, from their source; a
constant written as a literal gets its value; s2sad's own rule registrations (`@s2sad.custom_vjp`,
`f.defvjp(f_fwd, f_bwd)`, `s2sad.defvjp(scipy.special.erf, ...)`) are made; anything else the module computes (`W = rng.normal(...)`)
is an `Unknown` placeholder (a NumPy call's result a placeholder array). The functions' source is read
from `texts` when given there (the check mode rewrites refused statements: `s2sad.api.check`), and
registered with `linecache` so that `inspect` and the compiler read the same text.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "model.py").write_text(
...     "import math\\nSCALE = 2.0\\nprint('running!')\\ndef f(x, n=3):\\n    return SCALE * math.sin(x)\\n")
>>> module = load_module(folder / "model.py")
>>> module.namespace["SCALE"], module.namespace["f"].__defaults__, sorted(module.functions)
(2.0, (3,), ['f'])
"""

import ast
import builtins
import copy
import importlib
import importlib.util
import linecache
import os
import sys
import types
from dataclasses import dataclass, field

import functools

import numpy as np

from .. import rules as R
from ..rules.custom import defjvp, defvjp
from ..runtime.custom import CustomFunction, custom_jvp, custom_vjp
from .source import forget_sources

# what a module may call at its top level that the check runs too: s2sad's own rule registrations
# (`@s2sad.custom_vjp`, `f.defvjp(f_fwd, f_bwd)`, `s2sad.defvjp(scipy.special.erf, ...)`), so the
# functions they give rules are checked as the compiler sees them (by their rules, not their bodies)
RULE_MAKERS = (custom_vjp, custom_jvp, defjvp, defvjp, R.nondifferentiable, functools.partial)


class Unknown:
    """A module-level value computed when the module runs (`W = rng.normal(size=3)`): not known
    without running it. The compiler reads it as a constant of kind 'other'."""

    def __init__(self, description):
        self.description = description

    def __repr__(self):
        return f"<{self.description}, computed when the module runs>"


@dataclass
class StaticModule:
    """A module as `load_module` sees it."""

    path: str
    name: str
    tree: ast.Module
    lines: list
    namespace: dict = field(repr=False)
    functions: dict = field(repr=False)  # top-level function name -> its `def` node (source order)
    decorators: dict = field(repr=False)  # function name -> its decorators' source


def release(paths):
    """Forget the text `load_module` registered for `paths`: `linecache` and the compiler read the
    files on disk again."""
    for path in paths:
        linecache.cache.pop(path, None)
        forget_sources(path)


def _register(path, text):
    """`text` is what `linecache` (so `inspect.getsource` and the compiler) reads for `path`."""
    forget_sources(path)  # the source of an earlier text (a statement taken out keeps equal code objects)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[path] = (len(text), None, lines, path)  # no mtime: `checkcache` keeps it
    return lines


def load_module(path, texts=None, loaded=None):
    """The `StaticModule` of the file `path` (see the module docstring); `texts` maps paths to source
    text that replaces the file's; `loaded` (path -> StaticModule) receives every module loaded."""
    path = os.path.abspath(str(path))
    texts = texts if texts is not None else {}
    loaded = loaded if loaded is not None else {}
    if path in loaded:
        return loaded[path]
    if path not in texts:
        with open(path, encoding="utf-8") as handle:
            texts[path] = handle.read()
    text = texts[path]
    lines = _register(path, text)
    tree = ast.parse(text, filename=path)
    name = os.path.splitext(os.path.basename(path))[0]
    namespace = {"__name__": name, "__file__": path, "__builtins__": __builtins__}
    module = StaticModule(path, name, tree, lines, namespace, {}, {})
    loaded[path] = module
    _Loader(module, texts, loaded).block(tree.body)
    return module


def module_object(module):
    """The static module as a module object (what `import helpers` binds)."""
    obj = types.ModuleType(module.name)
    obj.__dict__.update(module.namespace)
    module.namespace.update({"__name__": module.name})
    return obj


class _Loader:
    def __init__(self, module, texts, loaded):
        self.module = module
        self.namespace = module.namespace
        self.folder = os.path.dirname(module.path)
        self.texts = texts
        self.loaded = loaded

    def block(self, stmts):
        for stmt in stmts:
            if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
                continue  # the script part: never run, never needed by the functions
            if isinstance(stmt, (ast.If, ast.Try)):  # `try: import scipy` / `if HAVE_X:`: every branch
                for attr in ("body", "orelse", "finalbody"):
                    self.block(getattr(stmt, attr, []))
                for handler in getattr(stmt, "handlers", []):
                    self.block(handler.body)
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        self.namespace[alias.asname] = self.import_module(alias.name)
                    else:
                        top = alias.name.split(".")[0]
                        value = self.import_module(top)
                        if not isinstance(value, Unknown):
                            self.import_module(alias.name)  # `import scipy.special` loads the submodule
                        self.namespace[top] = value
            elif isinstance(stmt, ast.ImportFrom):
                self.import_from(stmt)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.define(stmt)
            elif isinstance(stmt, ast.ClassDef):
                self.define_class(stmt)
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                self.registration(stmt.value)  # `f.defvjp(f_fwd, f_bwd)`; any other call is not run
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    self.assign(target, stmt.value)

    # -- imports ---------------------------------------------------------------------------------
    def local_path(self, dotted, level=0):
        """The file of a module next to this one (`helpers.py`, `pkg/__init__.py`), or None."""
        base = self.folder
        for _ in range(max(level - 1, 0)):
            base = os.path.dirname(base)
        parts = dotted.split(".") if dotted else []
        stem = os.path.join(base, *parts) if parts else base
        for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
        return None

    def import_module(self, dotted, level=0):
        local = self.local_path(dotted, level)
        if local is not None:
            return module_object(load_module(local, self.texts, self.loaded))
        if level:
            return Unknown(f"the module `{'.' * level}{dotted}`")
        return _library(dotted, self.folder)

    def import_from(self, stmt):
        if stmt.module == "__future__":
            return
        module = self.import_module(stmt.module or "", stmt.level)
        for alias in stmt.names:
            if alias.name == "*":
                if not isinstance(module, Unknown):
                    self.namespace.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
                continue
            value = getattr(module, alias.name, None) if not isinstance(module, Unknown) else None
            if value is None:
                submodule = f"{stmt.module}.{alias.name}" if stmt.module else alias.name
                value = self.import_module(submodule, stmt.level)
            self.namespace[alias.asname or alias.name] = value

    # -- definitions ------------------------------------------------------------------------------
    def define(self, node):
        """Compile the `def` alone (no decorators, annotations or default expressions: nothing of
        the user's runs) and give the function the defaults that are literals."""
        self.module.functions[node.name] = node
        self.module.decorators[node.name] = [ast.unparse(d) for d in node.decorator_list]
        bare = copy.deepcopy(node)
        bare.decorator_list = []
        bare.returns = None
        args = bare.args
        for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if arg is not None:
                arg.annotation = None
        defaults = tuple(self.value(d) for d in args.defaults)
        kwdefaults = {
            a.arg: self.value(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None
        }
        args.defaults = [ast.copy_location(ast.Constant(None), d) for d in args.defaults]
        args.kw_defaults = [
            None if d is None else ast.copy_location(ast.Constant(None), d) for d in args.kw_defaults
        ]
        code = compile(ast.Module(body=[bare], type_ignores=[]), self.module.path, "exec")
        exec(code, self.namespace)  # defines the function: its body does not run
        function = self.namespace[node.name]
        function.__defaults__ = defaults or None
        function.__kwdefaults__ = kwdefaults or None
        for decorator in reversed(node.decorator_list):  # s2sad's own; any other is left out
            make = self.registration(decorator, call=False)
            if make is not None:
                result = make(function)
                function = function if result is None else result
        self.namespace[node.name] = function

    def define_class(self, node):
        """A class of the user's, with its methods (compiled alone, like functions) and nothing its body
        computes: the compiler refuses its constructor and methods by its module, as it does at run time."""
        cls = type(node.name, (), {"__module__": self.module.name, "__qualname__": node.name})
        self.namespace[node.name] = cls
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef) and not stmt.decorator_list:
                saved = self.namespace.get(stmt.name, _NOT_KNOWN), self.module.functions.get(stmt.name)
                self.define(stmt)
                setattr(cls, stmt.name, self.namespace[stmt.name])
                self.module.decorators.pop(stmt.name, None)
                for store, old in ((self.namespace, saved[0]), (self.module.functions, saved[1])):
                    if old is None or old is _NOT_KNOWN:
                        store.pop(stmt.name, None)
                    else:
                        store[stmt.name] = old

    def registration(self, node, call=True):
        """Evaluate `node` if it is s2sad's own rule registration (a call of `custom_vjp`, `defvjp`,
        `s2sad.rules.nondifferentiable`, `functools.partial` of them, or the `defvjp` / `defjvp` of a
        custom function), its arguments known; with `call=False`, the decorator `node` names. Else None.
        Nothing else is evaluated: the user's code does not run."""
        if not call or not isinstance(node, ast.Call):
            target = resolve(node, self.namespace) if isinstance(node, (ast.Name, ast.Attribute)) else None
            if target is None and isinstance(node, ast.Call):
                return self.registration(node)
            return target if _rule_maker(target) else None
        maker = self.registration(node.func, call=False)
        if maker is None:
            return None
        args = [self.known(a) for a in node.args]
        keywords = {k.arg: self.known(k.value) for k in node.keywords if k.arg is not None}
        if any(a is _NOT_KNOWN for a in args + list(keywords.values())):
            return None
        try:
            return maker(*args, **keywords)
        except Exception:  # a registration s2sad itself refuses: the compiler will say so at the call
            return None

    def known(self, node):
        """The value of an argument of a registration: a literal, a name the module binds, or another
        registration; else `_NOT_KNOWN`."""
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, (ast.Name, ast.Attribute)):
            value = resolve(node, self.namespace)
            return _NOT_KNOWN if value is None or isinstance(value, Unknown) else value
        if isinstance(node, ast.Call):
            value = self.registration(node)
            return _NOT_KNOWN if value is None else value
        return _NOT_KNOWN

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            if isinstance(value, ast.Lambda):
                bare = copy.deepcopy(value)
                bare.args.defaults = []
                bare.args.kw_defaults = [None for _ in bare.args.kw_defaults]
                assign = ast.Assign(targets=[ast.Name(target.id, ast.Store())], value=bare)
                ast.copy_location(assign, value)
                code = compile(ast.fix_missing_locations(ast.Module([assign], [])), self.module.path, "exec")
                exec(code, self.namespace)  # makes the lambda: its body does not run
            else:
                self.namespace[target.id] = self.value(value, target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                if isinstance(element, ast.Name):
                    self.namespace[element.id] = Unknown(f"`{element.id}`")

    def value(self, node, name=None):
        """The value of a module-level expression, when it is known without running anything."""
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, (ast.Name, ast.Attribute)):
            obj = resolve(node, self.namespace)
            if obj is not None:
                return obj
        what = f"`{name}`" if name else f"`{ast.unparse(node)}`"
        made = self.registration(node) if isinstance(node, ast.Call) else None
        if made is not None:  # `f = s2sad.custom_vjp(g)`, `rule = functools.partial(s2sad.custom_vjp, ...)`
            return made
        if isinstance(node, ast.Call):
            callee = resolve(node.func, self.namespace)
            if isinstance(callee, type) and callee.__module__ == self.module.name:
                return object.__new__(callee)  # an instance of the user's class: its methods are known
            module = getattr(callee, "__module__", None) or ""
            if module.split(".")[0] == "numpy" and not isinstance(callee, type):
                return np.zeros(1)  # a NumPy call's result: an array (the compiler reads its kind)
        return Unknown(f"the value of {what}")


def resolve(node, namespace):
    """The object a dotted name (`np.linalg.norm`) names in the static `namespace`, or None."""
    path = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    obj = namespace[node.id] if node.id in namespace else getattr(builtins, node.id, None)
    for attr in reversed(path):
        if obj is None or isinstance(obj, Unknown):
            return None
        obj = getattr(obj, attr, None)
    return obj


_NOT_KNOWN = object()


def _rule_maker(obj):
    """Is `obj` one of s2sad's rule registrations (or the `defvjp` / `defjvp` of a custom function,
    or a `functools.partial` of one)?"""
    if isinstance(obj, functools.partial):
        return _rule_maker(obj.func)
    if any(obj is maker for maker in RULE_MAKERS):
        return True
    owner = getattr(obj, "__self__", None)
    return isinstance(owner, CustomFunction) and getattr(obj, "__name__", "") in ("defvjp", "defjvp")


def _is_main_guard(test):
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _library(dotted, folder):
    """An installed module, imported (its objects say which rule applies), or `Unknown`: a module
    found in the user's folders (the current directory, the checked file's) is never imported."""
    if dotted in sys.modules:
        return sys.modules[dotted]
    user = {os.path.abspath(p or os.curdir) for p in ("", os.curdir, folder)}
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) not in user]
    try:
        spec = importlib.util.find_spec(dotted)
        origin = getattr(spec, "origin", None) or ""
        installed = "site-packages" in origin or "dist-packages" in origin
        if spec is None or (not installed and any(origin.startswith(u + os.sep) for u in user)):
            return Unknown(f"the module `{dotted}`")
        return importlib.import_module(dotted)
    except Exception:  # not installed, or fails to import: its names stay unknown
        return Unknown(f"the module `{dotted}`")
    finally:
        sys.path[:] = saved
