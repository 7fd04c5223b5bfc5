"""fastad: fast reverse-mode automatic differentiation of ordinary Python code.

Operator-overloaded ``Var`` proxies record each elementary operation of a
function onto a compiled tape; one reverse sweep over the tape gives the
whole gradient. See ``grad``, ``value_and_grad`` and ``Tape``.
"""

from fastad._version import __version__
from fastad import _core
from fastad._core import (
    Var,
    Tape,
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

__all__ = [
    "__version__",
    "Var", "Tape", "FastADError", "TapeError", "BranchError",
    "grad", "value_and_grad", "vjp", "jacobian", "jacrev", "value",
    "jvp", "jacfwd", "hessian", "hvp",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "arcsinh", "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2",
    "log10", "log1p", "sqrt", "cbrt", "square", "abs", "sign", "floor", "ceil",
    "erf", "erfc", "sigmoid",
    "arctan2", "hypot", "power", "maximum", "minimum", "logaddexp",
]
