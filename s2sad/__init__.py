"""s2sad: source-to-source automatic differentiation for Python.

>>> import s2sad
>>> sorted(n for n in s2sad.__all__ if not n[0].isupper())[:6]
['custom_jvp', 'custom_vjp', 'defjvp', 'defvjp', 'emit', 'grad']
"""

from . import rules
from .api.sources import emit, source
from .api.transforms import grad, hvp, jvp, value_and_grad, vjp
from .api.custom import custom_jvp, custom_vjp, defjvp, defvjp, stop_gradient
from .api.jacobians import hessian, jacfwd, jacrev
from .api import numba_backend  # registers backend="numba" (it imports numba only to compile)
from .errors import (
    ArgumentError,
    CustomRuleError,
    NoDerivativeRuleError,
    NonScalarOutputError,
    RecursionDepthError,
    S2sadError,
    SourceUnavailableError,
    UnsupportedSyntaxError,
)

__all__ = [
    "grad",
    "value_and_grad",
    "jvp",
    "vjp",
    "jacfwd",
    "jacrev",
    "hessian",
    "hvp",
    "source",
    "emit",
    "rules",
    "custom_vjp",
    "custom_jvp",
    "defjvp",
    "defvjp",
    "stop_gradient",
    "S2sadError",
    "SourceUnavailableError",
    "UnsupportedSyntaxError",
    "NoDerivativeRuleError",
    "NonScalarOutputError",
    "ArgumentError",
    "CustomRuleError",
    "RecursionDepthError",
]
__version__ = "0.1.0"
