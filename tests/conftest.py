"""Test-suite switches.

`S2SAD_ANALYSES=off` runs the suite with the optimizing analyses switched off
(tests/test_analyses.py does this once in a subprocess). Hypothesis runs
derandomized (the same examples each run); `S2SAD_HYPOTHESIS=explore` searches anew. Tests and doctests that
check the *shape* of generated code (what is pushed, what is fused) are marked
`generated_code` and skipped then: they describe the analyses themselves.
"""

import os

import pytest
from hypothesis import settings

from s2sad import config as analyses

# Deterministic by default (the same examples on every run, as CI needs); `S2SAD_HYPOTHESIS=explore`
# draws new examples each run to search for failures.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("S2SAD_HYPOTHESIS") == "explore" else "deterministic")

SHAPE_DOCTESTS = {  # doctests of optimized code, of the shape analysis, of the recomputation plan
    "s2sad.transforms.reverse",
    "s2sad.analyses.shapes",
    "s2sad.analyses.recompute",
    "s2sad.codegen.header",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "generated_code: checks the shape of code the analyses produce")


def pytest_collection_modifyitems(items):
    if analyses.enabled():
        return
    skip = pytest.mark.skip(reason="checks code produced by the analyses, which are off (S2SAD_ANALYSES=off)")
    for item in items:
        if item.get_closest_marker("generated_code") or item.name in SHAPE_DOCTESTS:
            item.add_marker(skip)
