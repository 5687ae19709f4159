"""`import s2sad` stays cheap: no heavy module is imported with it, and the rule table's ~500
templates are registered unparsed (each is parsed when a derivative first uses it). Not a timed
test: it fails when an import or an eager parse comes back, whatever the machine's speed."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("black", "numba", "scipy", "jax", "torch", "matplotlib", "autograd", "pytest", "hypothesis")

PROGRAM = """
import json, sys
import numpy as np
import s2sad
from s2sad.rules.templates import _TEMPLATES

heavy = {heavy!r}
after_import = [sorted(m for m in heavy if m in sys.modules), sum("body" in t.__dict__ for t in _TEMPLATES)]


def f(x):
    return np.sum(np.sin(x) * x) + np.prod(np.exp(x))


g = s2sad.grad(f)(np.linspace(0.1, 0.5, 3))
after_call = [sorted(m for m in heavy if m in sys.modules), sum("body" in t.__dict__ for t in _TEMPLATES)]
s2sad.source(f, args=(np.ones(3),))
print(json.dumps([after_import, after_call, len(_TEMPLATES), "black" in sys.modules]))
"""


def test_import_and_a_first_gradient_load_no_heavy_module_and_few_templates(tmp_path):
    script = tmp_path / "first_call.py"
    script.write_text(textwrap.dedent(PROGRAM.format(heavy=HEAVY)))
    done = subprocess.run(
        [sys.executable, str(script)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    after_import, after_call, templates, black_for_source = json.loads(done.stdout.strip().splitlines()[-1])
    assert after_import == [[], 0]  # nothing heavy, no template parsed by the import
    assert after_call[0] == []  # a gradient needs no black (only formatted source does)
    assert 0 < after_call[1] < templates / 10  # the templates of sin, mul, sum, prod, exp, ...: a few
    assert templates > 300 and black_for_source  # (the table is all there; `source` formats with black)
