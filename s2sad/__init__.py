"""s2sad: source-to-source automatic differentiation for Python.

>>> import s2sad
>>> sorted(n for n in s2sad.__all__ if not n[0].isupper())[:4]
['emit', 'grad', 'jvp', 'rules']
"""

from . import rules
from .api import emit, grad, jvp, source, value_and_grad, vjp
from .errors import (
    ArgumentError,
    NoDerivativeRuleError,
    NonScalarOutputError,
    S2sadError,
    SourceUnavailableError,
    UnsupportedSyntaxError,
)

__all__ = [
    "grad", "value_and_grad", "jvp", "vjp", "source", "emit", "rules",
    "S2sadError", "SourceUnavailableError", "UnsupportedSyntaxError", "NoDerivativeRuleError",
    "NonScalarOutputError", "ArgumentError",
]
__version__ = "0.1.0"
