"""The user-facing names of derivative rules: `custom_vjp`, `custom_jvp`, `defjvp` / `defvjp`,
`stop_gradient` (JAX's names and signatures; docs/rules.md).

>>> import math
>>> @custom_jvp
... def f(x):
...     return math.sin(x)
>>> f(0.5) == math.sin(0.5)
True
"""

from ..rules.custom import defjvp, defvjp
from ..runtime.custom import custom_jvp, custom_vjp, stop_gradient

__all__ = ["custom_jvp", "custom_vjp", "defjvp", "defvjp", "stop_gradient"]
