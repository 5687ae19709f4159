"""The GradBench evals, one plain-NumPy module each, differentiated with s2sad's public API."""

from typing import Any, Callable, NamedTuple


class Function(NamedTuple):
    """One GradBench function: `prepare` (JSON input to arrays), `compute` (timed), `output` (to JSON)."""

    prepare: Callable[[Any], Any]
    compute: Callable[[Any], Any]
    output: Callable[[Any], Any]


def to_list(value):
    """An array (or float) as JSON-ready Python floats / lists."""
    return value.tolist() if hasattr(value, "tolist") else float(value)
