"""fastad: fast reverse-mode automatic differentiation of ordinary Python code.

Operator-overloaded ``Var`` proxies record each elementary operation of a
function onto a compiled tape; one reverse sweep over the tape gives the
whole gradient. See ``grad``, ``value_and_grad`` and ``Tape``.
"""

from fastad._version import __version__

try:
    from fastad import _core
except ImportError as error:  # a source tree without its built extension
    raise ImportError(
        "fastad's compiled core (fastad._core) is not built here. Install with "
        "`python -m pip install -e .` (builds it in place), or run Python from "
        "outside the source tree to use an installed fastad"
    ) from error
from fastad._core import (
    Var,
    ComplexVar,
    Array,
    Mask,
    Tape,
    Function,
    asarray,
    zeros,
    empty,
    where,
    FastADError,
    TapeError,
    BranchError,
)
# The elementwise functions: one per public row of the rule table
# (fastad/_rules.py), listed in the core's __all__.
from fastad._core import *  # noqa: F403
from fastad._transforms import (
    grad, value_and_grad, vjp, jacobian, jacrev, value, jvp, jacfwd, hessian, hvp,
)
from fastad._trace import trace

__all__ = [
    "__version__",
    "Var", "ComplexVar", "Array", "Mask", "asarray", "zeros", "empty", "where", "Tape", "FastADError", "TapeError", "BranchError",
    "grad", "value_and_grad", "vjp", "jacobian", "jacrev", "value",
    "jvp", "jacfwd", "hessian", "hvp", "trace", "Function",
    *_core.__all__,
]
