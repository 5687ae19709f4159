"""The registry of benchmark workloads: one module per workload, each defining `WORKLOAD`.

To add one, write `workloads/<name>.py` (copy `lecture.py`) and append its name here.
"""

import importlib

NAMES = ["lecture", "logistic", "langevin", "pendulum", "rnn", "lstm", "mlp", "dqn"]


def load(names=None):
    """The `Workload` objects of the named modules (all, in registry order, by default)."""
    chosen = NAMES if not names else [n for n in NAMES if n in names]
    unknown = set(names or ()) - set(NAMES)
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}; known: {', '.join(NAMES)}")
    return [importlib.import_module(f"workloads.{name}").WORKLOAD for name in chosen]
