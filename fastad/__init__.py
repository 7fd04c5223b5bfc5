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
    Tape,
    Function,
    FastADError,
    TapeError,
    BranchError,
    sin, cos, tan, arcsin, arccos, arctan, sinh, cosh, tanh, arcsinh,
    arccosh, arctanh, exp, exp2, expm1, log, log2, log10, log1p, sqrt, cbrt,
    square, abs, sign, floor, ceil, erf, erfc, sigmoid,
    arctan2, hypot, power, maximum, minimum, logaddexp,
)
from fastad._transforms import (
    grad, value_and_grad, vjp, jacobian, jacrev, value, jvp, jacfwd, hessian, hvp,
)
from fastad._trace import trace

__all__ = [
    "__version__",
    "Var", "ComplexVar", "Tape", "FastADError", "TapeError", "BranchError",
    "grad", "value_and_grad", "vjp", "jacobian", "jacrev", "value",
    "jvp", "jacfwd", "hessian", "hvp", "trace", "Function",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "arcsinh", "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2",
    "log10", "log1p", "sqrt", "cbrt", "square", "abs", "sign", "floor", "ceil",
    "erf", "erfc", "sigmoid",
    "arctan2", "hypot", "power", "maximum", "minimum", "logaddexp",
]
