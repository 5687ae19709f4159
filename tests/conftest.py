"""Test-suite switches.

`S2SAD_ANALYSES=off` runs the suite with the optimizing analyses switched off
(tests/test_analyses.py does this once in a subprocess). Hypothesis runs
derandomized (the same examples each run); `S2SAD_HYPOTHESIS=explore` searches anew. Tests and doctests that
check the *shape* of generated code (what is pushed, what is fused) are marked
`generated_code` and skipped then: they describe the analyses themselves.

The disk cache of generated derivatives points at a fresh temporary folder for the whole session
(`S2SAD_CACHE_DIR`, inherited by the subprocesses tests start): the suite never writes to the
user's cache, and never reads what an earlier run left there.
"""

import os
import tempfile

import pytest
from hypothesis import settings

from s2sad import config as analyses

# Deterministic by default (the same examples on every run, as CI needs); `S2SAD_HYPOTHESIS=explore`
# draws new examples each run to search for failures.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("S2SAD_HYPOTHESIS") == "explore" else "deterministic")

# set at import, before any test (or doctest) compiles; removed with the session's temporary files
_CACHE_FOLDER = tempfile.TemporaryDirectory(prefix="s2sad-test-cache-")
os.environ["S2SAD_CACHE_DIR"] = _CACHE_FOLDER.name
CACHE_DIR = _CACHE_FOLDER.name

SHAPE_DOCTESTS = {  # doctests of optimized code, of the shape analysis, of the recomputation plan
    "s2sad.transforms.reverse",
    "s2sad.analyses.shapes",
    "s2sad.analyses.recompute",
    "s2sad.codegen.header",
    "s2sad.transforms.reverse_checkpoints",  # (a checkpointed loop's code, optimized)
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
