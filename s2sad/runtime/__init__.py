"""What generated code calls (`_rt.<name>`): NumPy helpers of the derivative rules, list and
tape helpers, calls of derivatives compiled at run time. Imports NumPy, never the compiler, so an
emitted derivative file can carry copies of the helpers it calls (s2sad/codegen/vendor.py)."""

from .core import *  # noqa: F401,F403
from .lists import *  # noqa: F401,F403  (list adjoints)
from .calls import *  # noqa: F401,F403  (calls of derivatives compiled at run time)
from .calls import _call_derivative  # noqa: F401
from .arrays import *  # noqa: F401,F403  (helpers of the NumPy rules, by topic)
from .linalg import *  # noqa: F401,F403
from .numpy_helpers import *  # noqa: F401,F403
from .products import *  # noqa: F401,F403
from .contractions import matmul_transposed  # noqa: F401  (contractions of known shapes)
from .reshaping import *  # noqa: F401,F403
from .checkpoints import BinomialCheckpoints, OnlineCheckpoints  # noqa: F401  (checkpointed loops)
from .vector import *  # noqa: F401,F403  (helpers of vector forward mode)
from .columns import *  # noqa: F401,F403  (demanded columns in vector forward mode)
from .custom import (  # noqa: F401  (helpers of calls to custom_vjp / custom_jvp functions)
    custom_jvp_call,
    custom_jvp_tangent,
    custom_jvp_transpose,
    custom_vjp_backward,
    custom_vjp_forward,
    custom_vjp_tangent,
    custom_vjp_value,
)
