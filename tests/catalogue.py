"""The test catalogue: one entry per operation of the rule table (fastad/_rules.py).

Every test that needs a table of operations takes it from here, so that a
new row of the rule table is tested everywhere once it has its entry (and
test_rules.py fails until it has one). An entry holds, keyed by the rule
table's name:

record
    How user code records the operation on Vars: an operator, a builtin
    (``abs``, ``math.floor``, ``round``) or ``fastad.<name>``.
spellings
    Every way user code may write the operation, name -> callable; each
    records the operation on Vars and gives the IEEE float result on
    np.float64 operands (so random programs may use any of them on Vars
    and on plain floats alike).
ref
    An independent reference for the value on floats and float arrays
    (NumPy, SciPy or math; never fastad).
d
    The analytic first derivative, written out independently of the rule
    table: ``d(x)`` for a unary operation, ``d(a, b) -> (d/da, d/db)`` for a
    binary one; both elementwise on arrays (and, for an operation with a
    holomorphic complex rule, on complex numbers).
points
    Points inside the domain where the operation is smooth (floats, or
    ``(a, b)`` pairs); for binary operations the first four also pair up
    crosswise (every a with every b) inside the domain and away from kinks.
domain
    A map of unconstrained operand(s) into the domain, away from its edges
    and poles, built from arithmetic and fastad functions so that it works
    on Vars, floats and float arrays alike (``domain(x)``, or ``domain(a,
    b) -> (a, b)``); random programs apply it before the operation. The
    fastad functions are called through ``_fastad``, which hands an operand
    fastad does not take to the operand's own method of that name:
    tests/random_programs.py writes the maps into its programs' source by
    applying them to symbolic operands.
kink
    The distance of the (plain float) operand(s) to the nearest point
    inside the domain where the operation is not smooth (a kink, a jump, an
    infinite slope), 0.0 for a non-finite operand; None if the operation
    is smooth on its domain.
complex_ref, complex_kink, holomorphic
    Where the rule table has a complex rule: the reference on complex
    numbers, the distance of a complex operand to the nearest singular
    point or branch cut (None if there is none), and whether the complex
    operation is holomorphic (then ``d`` is its complex derivative).
mp
    The operation on finite mpmath numbers at the working precision (the
    random programs' 50-digit reference, tests/random_programs.py), with
    NumPy's conventions; nan (or a ValueError, ZeroDivisionError or
    OverflowError) where the result is not a finite real number.
piece
    For an operation that is smooth only piecewise, which piece the plain
    operand(s) are on (a hashable value, equal on floats and on mpmath
    numbers; nan and infinities have pieces of their own): two points on
    the same piece are joined by a smooth stretch. None for the others.
singular
    Whether the plain operand(s), floats or mpmath numbers, sit where the
    operation has no finite derivative although they are finite (a pole,
    an edge of the domain with an infinite slope, a side of a cut): a bool
    for a unary operation, the pair (in a, in b) for a binary one (the
    random programs skip comparisons with differences there). None if there
    is no such point.
partial_error
    A bound on the rounding error of fastad's partial derivatives, in units
    of eps: a number k (k times the partial's magnitude; 0 for partials
    computed exactly) or a function ``(operands, result, partial) ->
    absolute bound`` for a partial formed by cancellation (the random
    programs' rounding bounds).

The columns of the rule table (public, complex, methods, ufunc) are read from
the table itself (``Op.row``, ``Op.public``, ``Op.complex``), and
``names(...)`` / ``ops(...)`` select by them. ``Op.apply`` applies the
operation to operands mapped into its domain; ``Op.on_floats`` gives, for a
spelling, the function with fastad's own result on plain floats (for random
programs compared bit for bit).
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import mpmath
import numpy as np
import scipy.special

import fastad
from fastad import _rules


@dataclass(frozen=True)
class Op:
    """The catalogue entry of one operation (see the module docstring)."""

    name: str
    arity: int
    record: Callable[..., Any]
    spellings: dict[str, Callable[..., Any]]
    ref: Callable[..., Any]
    d: Callable[..., Any]
    points: list[Any]
    domain: Callable[..., Any]
    kink: Callable[..., float] | None = None
    complex_ref: Callable[..., Any] | None = None
    complex_kink: Callable[..., float] | None = None
    holomorphic: bool = False
    mp: Callable[..., Any] | None = None
    piece: Callable[..., Any] | None = None
    singular: Callable[..., Any] | None = None
    partial_error: float | Callable[..., float] = 4.0
    row: Any = field(default=None, compare=False, repr=False)

    @property
    def public(self) -> bool:
        return self.row.public is not None

    @property
    def complex(self) -> bool:
        return self.row.complex

    @property
    def function(self) -> Callable[..., Any]:
        """fastad.<name> (public operations only)."""
        return getattr(fastad, self.name)

    def on_floats(self, label: str) -> Callable[..., Any]:
        """For spelling `label`, a function on np.float64 operands with fastad's own
        result bit for bit (random programs evaluated on plain floats): fastad.<name>
        for a public operation (NumPy's scalar functions may differ from it by an
        ulp), else the spelling itself (IEEE arithmetic or an exact NumPy function)."""
        return self.function if self.public else self.spellings[label]

    def apply(self, *operands: Any) -> Any:
        """The operation (by its first spelling) on operands mapped into its domain."""
        first = next(iter(self.spellings.values()))
        if self.arity == 1:
            return first(self.domain(*operands))
        return first(*self.domain(*operands))


# ---- helpers -----------------------------------------------------------------------

def _times(a, b):
    """The emitted derivatives' product (no public spelling): through the hook."""
    return fastad._core._apply("times", a, b)


def _structural_product(a, b):
    """a * b, and 0 where a zero factor meets inf or nan (NumPy semantics otherwise)."""
    with np.errstate(invalid="ignore"):
        product = np.multiply(a, b)
    zero = (np.asarray(a) == 0) | (np.asarray(b) == 0)
    return np.where(np.isnan(product) & zero, 0.0, product)[()]


def _same(x):
    return x


def _same2(a, b):
    return a, b


def _zeros(*args):
    """0.0 in the broadcast shape of the arguments (a float for numbers)."""
    return np.zeros(np.broadcast(*args).shape)[()]


def _ones(*args):
    return np.ones(np.broadcast(*args).shape)[()]


def _positive(e):
    return e * e + 0.25                  # >= 0.25


# Domain maps call fastad's functions through _fastad: on an operand fastad does
# not take (the symbolic, plain-float and mpmath operands of
# tests/random_programs.py, which writes the maps into its programs' source) the
# call goes to the operand's method of that name, NumPy's protocol for object
# arrays.
_FASTAD_OPERANDS = (numbers.Number, np.ndarray, np.generic, list, tuple, fastad.Var,
                    fastad.ComplexVar, fastad.Array)


def _fastad(name):
    function = getattr(fastad, name)

    def call(e):
        if isinstance(e, _FASTAD_OPERANDS):
            return function(e)
        return getattr(e, name)()

    call.__name__ = name
    return call


_tanh = _fastad("tanh")


def _unit(e):
    return 0.9 * _tanh(e)                # in (-0.9, 0.9)


def _above_one(e):
    return e * e + 1.1                   # >= 1.1


def _above_minus_one(e):
    return e * e - 0.5                   # >= -0.5


def _inside_poles(e):
    return 1.4 * _tanh(e)                # in (-1.4, 1.4), inside tan's poles at +-pi/2


def _nonzero_divisor(a, b):
    return a, b * b + 0.5                # b >= 0.5


def _positive_base(a, b):
    return a * a + 0.25, b


def _positive_second(a, b):
    return a, b * b + 0.25


def _finite(*values):
    return all(math.isfinite(v) for v in values)


def _floor(v):
    """floor(v) as an int, exactly, for a finite float or mpmath number."""
    return math.floor(v) if isinstance(v, (float, int)) else int(mpmath.floor(v))


def dist_to_int(v):
    """Distance of v to the nearest integer (0.0 for a non-finite v); exact on
    floats and mpmath numbers alike."""
    if not math.isfinite(v):
        return 0.0
    if isinstance(v, (float, int)):
        return abs(v - round(v))
    d = v - _floor(v)             # (mpmath's round() fails on numbers like 1e-400000)
    return min(d, 1 - d)


def dist_to_half_int(v):
    """Distance of v to the nearest k + 1/2 (where rint jumps)."""
    return abs(v - _floor(v) - 0.5) if math.isfinite(v) else 0.0


def _abs_kink(a):
    return abs(a) if math.isfinite(a) else 0.0


def _mod_kink(a, b):
    """Where a // b and a % b jump: a / b an integer (or b == 0)."""
    if b == 0.0 or not _finite(a, b):
        return 0.0
    return abs(b) * dist_to_int(a / b)


def _max_kink(a, b):
    return abs(a - b) if _finite(a, b) else 0.0


def _hypot_kink(a, b):
    return math.hypot(a, b) if _finite(a, b) else 0.0


def _arctan2_kink(a, b):
    """The origin, and the cut a == 0 for b < 0 where arctan2 jumps by 2 pi."""
    if not _finite(a, b):
        return 0.0
    r = math.hypot(a, b)
    return min(r, abs(a)) if b < 0 else r


def cut_distance(z):
    """Distance of the complex z to (-inf, 0], the branch cut of log and sqrt."""
    z = complex(z)
    if not _finite(z.real, z.imag):
        return 0.0
    return math.hypot(z.real, z.imag) if z.real > 0 else abs(z.imag)


def complex_abs(z):
    """|z| (0.0 for a non-finite z)."""
    z = complex(z)
    if not _finite(z.real, z.imag):
        return 0.0
    return math.hypot(z.real, z.imag)


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRTPI = 2.0 / math.sqrt(math.pi)


def _logaddexp_d(a, b):
    y = np.logaddexp(a, b)
    return np.exp(a - y), np.exp(b - y)


def _power_d(a, b):
    return b * a ** (b - 1), a ** b * np.log(a)


# ---- for the random programs: mpmath references, pieces, singular points ------------

_MP_NAN = mpmath.mpf("nan")


def _mp_sqrt(a):
    return mpmath.sqrt(a) if a >= 0 else _MP_NAN


def _mp_cbrt(a):
    return mpmath.cbrt(a) if a >= 0 else -mpmath.cbrt(-a)


def _mp_log(base=None):
    def log(a):
        if a <= 0:
            return _MP_NAN
        return mpmath.log(a) if base is None else mpmath.log(a, base)
    return log


def _mp_log1p(a):
    return mpmath.log1p(a) if a > -1 else _MP_NAN


def _mp_on_unit(f):
    return lambda a: f(a) if -1 <= a <= 1 else _MP_NAN


def _mp_arccosh(a):
    return mpmath.acosh(a) if a >= 1 else _MP_NAN


def _mp_arctanh(a):
    return mpmath.atanh(a) if -1 < a < 1 else _MP_NAN


def _mp_sigmoid(a):
    return 1 / (1 + mpmath.exp(-a))


def _mp_log_sigmoid(a):
    return -mpmath.log1p(mpmath.exp(-a))


def _mp_sign(a):
    return mpmath.mpf((a > 0) - (a < 0))


def _mp_trunc(a):
    return mpmath.floor(a) if a >= 0 else mpmath.ceil(a)


def _mp_rint(a):
    """Ties to even."""
    f = mpmath.floor(a)
    d = a - f
    if d > 0.5 or (d == 0.5 and int(f) % 2 == 1):
        return f + 1
    return f


def _mp_divide(a, b):
    return a / b if b != 0 else _MP_NAN


def _mp_power(a, b):
    if a == 0:
        return mpmath.mpf(0) if b > 0 else (mpmath.mpf(1) if b == 0 else _MP_NAN)
    if a < 0:
        # real only for an integer exponent
        return mpmath.power(a, int(b)) if b == mpmath.floor(b) else _MP_NAN
    return mpmath.power(a, b)


def _mp_arctan2(a, b):
    return mpmath.atan2(a, b) if (a != 0 or b != 0) else mpmath.mpf(0)


def _mp_maximum(a, b):
    return a if a >= b else b


def _mp_minimum(a, b):
    return a if a <= b else b


def _mp_logaddexp(a, b):
    m = a if a >= b else b
    return m + mpmath.log(mpmath.exp(a - m) + mpmath.exp(b - m))


def _mp_xlogy(a, b):
    if a == 0:
        return mpmath.mpf(0)
    return a * mpmath.log(b) if b > 0 else _MP_NAN


def _mp_remainder(a, b):
    # exact (mpmath's fmod takes the sign of b, as NumPy's remainder); a - b *
    # floor(a / b) at the working precision is noise where a / b is beyond it
    return mpmath.fmod(a, b) if b != 0 else _MP_NAN


def _mp_floor_divide(a, b):
    return mpmath.nint((a - mpmath.fmod(a, b)) / b) if b != 0 else _MP_NAN


def _sign_piece(a):
    return (a > 0) - (a < 0) if a == a else 2


def _integer_piece(a):
    """[k, k + 1): floor, ceil and trunc are constant inside."""
    return _floor(a) if math.isfinite(a) else "nf"


def _half_integer_piece(a):
    """[k, k + 1/2) or [k + 1/2, k + 1): rint is constant inside."""
    if not math.isfinite(a):
        return "nf"
    k = _floor(a)
    return k, a - k >= 0.5


def _order_piece(a, b):
    return (a > b) - (a < b) if (a == a and b == b) else 2


def _quotient_piece(a, b):
    if b == 0:
        return "zero"
    if not _finite(a, b):
        return "nf"
    q = a / b                     # (mpmath: finite where the float quotient overflows)
    finite = math.isfinite(q) if isinstance(q, float) else mpmath.isfinite(q)
    return _floor(q) if finite else "nf"


def _origin_piece(a, b):
    return a == 0 and b == 0


def _arctan2_piece(a, b):
    """The side of the cut (b <= 0, through the origin)."""
    return (a > 0) - (a < 0) if b <= 0 else 0


def _at_zero(a):
    return a == 0


def _at_unit(a):
    return a == 1 or a == -1


def _zero_divisor(a, b):
    return b == 0, b == 0


def _power_singular(a, b):
    # 0 ** b: no finite derivative in a (b < 1) nor, one-sidedly, in b; a
    # negative base: not real-differentiable in b
    return a == 0, a <= 0


def _arctan2_singular(a, b):
    # on the cut and at the origin the value hangs on the sign of a zero
    cut = a == 0 and b <= 0
    return cut, cut


def _xlogy_singular(a, b):
    # log(b) is -inf or nan: no finite derivative in a (the value is 0 at a == 0)
    return b <= 0, False


# Partials by cancellation, bounds in eps (absolute): 1 - y*y (tanh), y + 1
# (expm1), exp(-x*x) and exp(a - y) with a rounded exponent (erf, erfc,
# logaddexp), b * a**(b - 1) and y * log(a) (power).

def _tanh_error(operands, y, p):
    return 4.0


def _expm1_error(operands, y, p):
    return 2.0 * (abs(y) + 1.0)


def _erf_error(operands, y, p):
    x = operands[0]
    return abs(p) * (3.0 + 2.0 * x * x) if p != 0 else 0.0


def _logaddexp_error(operands, y, p):
    a, b = operands
    return abs(p) * (3.0 + 2.0 * max(abs(a), abs(b), abs(y))) if p != 0 else 0.0


def _power_error(operands, y, p):
    a, b = operands
    la = abs(math.log(abs(a))) if a != 0 and math.isfinite(a) else 0.0
    return abs(p) * (4.0 + 2.0 * abs(b) * la + la) if p != 0 else 0.0


# ---- the entries --------------------------------------------------------------------

def _unary(name, record, spellings, ref, d, points, domain=_same, kink=None,
           complex_ref=None, complex_kink=None, holomorphic=False, *, mp=None, piece=None,
           singular=None, partial_error=4.0):
    return Op(name, 1, record, spellings, ref, d, points, domain, kink, complex_ref,
              complex_kink, holomorphic, mp, piece, singular, partial_error)


def _binary(name, record, spellings, ref, d, points, domain=_same2, kink=None,
            complex_ref=None, complex_kink=None, holomorphic=False, *, mp=None, piece=None,
            singular=None, partial_error=4.0):
    return Op(name, 2, record, spellings, ref, d, points, domain, kink, complex_ref,
              complex_kink, holomorphic, mp, piece, singular, partial_error)


def _fastad_and_numpy(name):
    """fastad.<name> and np.<name> (NumPy's object loop calls the Var method).
    Not for binary methods: NumPy calls them on the first operand, so
    np.arctan2(1.0, x) fails on the float (a documented limit)."""
    return {f"fastad.{name}": getattr(fastad, name), f"np.{name}": getattr(np, name)}


def _fastad_only(name):
    return {f"fastad.{name}": getattr(fastad, name)}


def _hook(name):
    """An operation with no public spelling (the masks' comparisons and
    selections), recorded through the core's test hook."""
    def apply(a, b):
        return fastad._core._apply(name, a, b)
    apply.__name__ = name
    return apply


def _comparison_ref(ufunc):
    def ref(a, b):
        return np.asarray(ufunc(a, b), dtype=np.float64)[()]
    return ref


_COMPARISON_OPERATORS = {np.less: operator.lt, np.less_equal: operator.le,
                         np.greater: operator.gt, np.greater_equal: operator.ge,
                         np.equal: operator.eq, np.not_equal: operator.ne}


def _mp_comparison(ufunc):
    compare = _COMPARISON_OPERATORS[ufunc]

    def mp(a, b):
        return mpmath.mpf(1) if compare(a, b) else mpmath.mpf(0)
    return mp


def _mask_kink(a, b):
    """select jumps where its mask operand crosses 0."""
    return abs(a) if _finite(a, b) else 0.0


def _mask_piece(a, b):
    return a != 0 if a == a else 2


GENERIC_POINTS = [(0.7, 1.3), (-1.2, 0.4), (2.5, -0.8), (1.5, 2.0), (-3.0, -0.5)]

_ENTRIES = [
    _unary("neg", operator.neg, {"-x": operator.neg, "np.negative": np.negative},
           np.negative, lambda x: 0 * x - 1, [-2.0, 0.0, 3.5],
           complex_ref=np.negative, holomorphic=True,
           mp=operator.neg, partial_error=0.0),
    _unary("abs", abs, {"abs": abs, "fastad.abs": fastad.abs, "np.abs": np.abs},
           np.abs, np.sign, [-3.0, -0.5, 0.7, 2.0, -2.0, 0.5, 3.5], kink=_abs_kink,
           complex_ref=np.abs, complex_kink=complex_abs,
           mp=abs, piece=_sign_piece, partial_error=0.0),
    _unary("square", fastad.square, {"fastad.square": fastad.square, "x ** 2": lambda e: e ** 2},
           np.square, lambda x: 2 * x, [-3.0, -0.5, 0.0, 1.5, -2.0, 3.5],
           complex_ref=np.square, holomorphic=True,
           mp=lambda a: a * a, partial_error=0.0),
    _unary("sqrt", fastad.sqrt, _fastad_and_numpy("sqrt"), np.sqrt, lambda x: 0.5 / np.sqrt(x),
           [0.01, 0.5, 1.0, 4.0, 100.0, 0.25, 9.0], domain=_positive,
           complex_ref=np.sqrt, complex_kink=cut_distance, holomorphic=True,
           mp=_mp_sqrt, singular=_at_zero),
    _unary("cbrt", fastad.cbrt, _fastad_and_numpy("cbrt"), np.cbrt,
           lambda x: 1 / (3 * np.cbrt(x) ** 2), [-8.0, -0.5, 0.3, 1.0, 27.0], kink=_abs_kink,
           mp=_mp_cbrt, singular=_at_zero),
    _unary("exp", fastad.exp, _fastad_and_numpy("exp"), np.exp, np.exp,
           [-3.0, -0.5, 0.0, 1.0, 4.0, 2.5], complex_ref=np.exp, holomorphic=True,
           mp=mpmath.exp),
    _unary("exp2", fastad.exp2, _fastad_and_numpy("exp2"), np.exp2,
           lambda x: np.exp2(x) * np.log(2), [-3.0, -0.5, 0.0, 1.0, 4.0, 2.5],
           mp=lambda a: mpmath.power(2, a)),
    _unary("expm1", fastad.expm1, _fastad_and_numpy("expm1"), np.expm1, np.exp,
           [-3.0, -0.5, 0.0, 1e-8, 1.0, 4.0, 2.5],
           mp=mpmath.expm1, partial_error=_expm1_error),
    _unary("log", fastad.log, _fastad_and_numpy("log"), np.log, lambda x: 1 / x,
           [0.1, 0.5, 1.0, 2.5, 100.0, 50.0], domain=_positive,
           complex_ref=np.log, complex_kink=cut_distance, holomorphic=True,
           mp=_mp_log(), singular=_at_zero),
    _unary("log2", fastad.log2, _fastad_and_numpy("log2"), np.log2,
           lambda x: 1 / (x * np.log(2)), [0.1, 0.5, 1.0, 2.5, 100.0, 50.0], domain=_positive,
           complex_ref=np.log2, complex_kink=cut_distance, holomorphic=True,
           mp=_mp_log(2), singular=_at_zero),
    _unary("log10", fastad.log10, _fastad_and_numpy("log10"), np.log10,
           lambda x: 1 / (x * np.log(10)), [0.1, 0.5, 1.0, 2.5, 100.0, 50.0], domain=_positive,
           complex_ref=np.log10, complex_kink=cut_distance, holomorphic=True,
           mp=_mp_log(10), singular=_at_zero),
    _unary("log1p", fastad.log1p, _fastad_and_numpy("log1p"), np.log1p, lambda x: 1 / (1 + x),
           [-0.9, -0.2, 0.0, 1e-9, 1.5, 50.0, -0.5], domain=_above_minus_one,
           mp=_mp_log1p, singular=lambda a: a == -1),
    _unary("sin", fastad.sin, _fastad_and_numpy("sin"), np.sin, np.cos,
           [-1.3, -0.4, 0.0, 0.7, 2.9, -2.0], complex_ref=np.sin, holomorphic=True,
           mp=mpmath.sin),
    _unary("cos", fastad.cos, _fastad_and_numpy("cos"), np.cos, lambda x: -np.sin(x),
           [-1.3, -0.4, 0.0, 0.7, 2.9, -2.0], complex_ref=np.cos, holomorphic=True,
           mp=mpmath.cos),
    _unary("tan", fastad.tan, _fastad_and_numpy("tan"), np.tan, lambda x: 1 / np.cos(x) ** 2,
           [-1.3, -0.4, 0.0, 0.7, 1.2, -1.2], domain=_inside_poles,
           complex_ref=np.tan, holomorphic=True,
           mp=mpmath.tan),
    _unary("arcsin", fastad.arcsin, _fastad_and_numpy("arcsin"), np.arcsin,
           lambda x: 1 / np.sqrt(1 - x * x), [-0.9, -0.3, 0.0, 0.5, 0.95], domain=_unit,
           mp=_mp_on_unit(mpmath.asin), singular=_at_unit),
    _unary("arccos", fastad.arccos, _fastad_and_numpy("arccos"), np.arccos,
           lambda x: -1 / np.sqrt(1 - x * x), [-0.9, -0.3, 0.0, 0.5, 0.95], domain=_unit,
           mp=_mp_on_unit(mpmath.acos), singular=_at_unit),
    _unary("arctan", fastad.arctan, _fastad_and_numpy("arctan"), np.arctan,
           lambda x: 1 / (1 + x * x), [-3.0, -0.5, 0.0, 0.5, 4.0],
           mp=mpmath.atan),
    _unary("sinh", fastad.sinh, _fastad_and_numpy("sinh"), np.sinh, np.cosh,
           [-2.0, -0.3, 0.0, 0.8, 3.0, 1.5], complex_ref=np.sinh, holomorphic=True,
           mp=mpmath.sinh),
    _unary("cosh", fastad.cosh, _fastad_and_numpy("cosh"), np.cosh, np.sinh,
           [-2.0, -0.3, 0.0, 0.8, 3.0, 1.5], complex_ref=np.cosh, holomorphic=True,
           mp=mpmath.cosh),
    _unary("tanh", fastad.tanh, _fastad_and_numpy("tanh"), np.tanh, lambda x: 1 / np.cosh(x) ** 2,
           [-2.0, -0.3, 0.0, 0.8, 3.0, 1.5], complex_ref=np.tanh, holomorphic=True,
           mp=mpmath.tanh, partial_error=_tanh_error),
    _unary("arcsinh", fastad.arcsinh, _fastad_and_numpy("arcsinh"), np.arcsinh,
           lambda x: 1 / np.sqrt(x * x + 1), [-3.0, -0.2, 0.0, 1.0, 5.0, -2.0, 1.5],
           mp=mpmath.asinh),
    _unary("arccosh", fastad.arccosh, _fastad_and_numpy("arccosh"), np.arccosh,
           lambda x: 1 / np.sqrt(x * x - 1), [1.1, 1.5, 3.0, 10.0], domain=_above_one,
           mp=_mp_arccosh, singular=lambda a: a == 1),
    _unary("arctanh", fastad.arctanh, _fastad_and_numpy("arctanh"), np.arctanh,
           lambda x: 1 / (1 - x * x), [-0.9, -0.2, 0.0, 0.4, 0.95, 0.5], domain=_unit,
           mp=_mp_arctanh, singular=_at_unit),
    _unary("erf", fastad.erf, _fastad_only("erf"), scipy.special.erf,
           lambda x: _TWO_OVER_SQRTPI * np.exp(-x * x), [-2.0, -0.5, 0.0, 0.3, 1.5, 0.7],
           mp=mpmath.erf, partial_error=_erf_error),
    _unary("erfc", fastad.erfc, _fastad_only("erfc"), scipy.special.erfc,
           lambda x: -_TWO_OVER_SQRTPI * np.exp(-x * x), [-2.0, -0.5, 0.0, 0.3, 1.5, 0.7],
           mp=mpmath.erfc, partial_error=_erf_error),
    _unary("sigmoid", fastad.sigmoid, _fastad_only("sigmoid"), scipy.special.expit,
           lambda x: scipy.special.expit(x) * scipy.special.expit(-x),
           [-5.0, -1.0, 0.0, 0.5, 10.0, -30.0, 2.0],
           mp=_mp_sigmoid),
    _unary("log_sigmoid", fastad.log_sigmoid, _fastad_only("log_sigmoid"),
           scipy.special.log_expit, lambda x: scipy.special.expit(-x),
           [-5.0, -1.0, 0.0, 0.5, 10.0, -30.0, 2.0, 40.0],
           mp=_mp_log_sigmoid),
    _unary("sign", fastad.sign, _fastad_only("sign"), np.sign, _zeros,
           [-3.0, -0.5, 0.7, 2.0, -2.0, 0.5], kink=_abs_kink,
           mp=_mp_sign, piece=_sign_piece, partial_error=0.0),
    _unary("floor", math.floor, _fastad_and_numpy("floor"), np.floor, _zeros,
           [-2.5, -0.3, 0.4, 1.7, 0.5, 3.2], kink=dist_to_int,
           mp=mpmath.floor, piece=_integer_piece, partial_error=0.0),
    _unary("ceil", math.ceil, _fastad_and_numpy("ceil"), np.ceil, _zeros,
           [-2.5, -0.3, 0.4, 1.7, 0.5, 3.2], kink=dist_to_int,
           mp=mpmath.ceil, piece=_integer_piece, partial_error=0.0),
    _unary("trunc", math.trunc, {"np.trunc": np.trunc}, np.trunc, _zeros,
           [-2.5, 0.5, 3.2, -0.3, 1.7], kink=dist_to_int,
           mp=_mp_trunc, piece=_integer_piece, partial_error=0.0),
    _unary("rint", round, {"np.rint": np.rint}, np.rint, _zeros,
           [-2.3, 0.2, 3.7, -1.2, 1.9], kink=dist_to_half_int,
           mp=_mp_rint, piece=_half_integer_piece, partial_error=0.0),

    _binary("add", operator.add, {"+": operator.add, "np.add": np.add}, np.add,
            lambda a, b: (_ones(a, b), _ones(a, b)),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            complex_ref=np.add, holomorphic=True,
            mp=operator.add, partial_error=0.0),
    _binary("subtract", operator.sub, {"-": operator.sub, "np.subtract": np.subtract},
            np.subtract, lambda a, b: (_ones(a, b), -_ones(a, b)),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            complex_ref=np.subtract, holomorphic=True,
            mp=operator.sub, partial_error=0.0),
    _binary("multiply", operator.mul, {"*": operator.mul, "np.multiply": np.multiply},
            np.multiply, lambda a, b: (b + 0 * a, a + 0 * b),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            complex_ref=np.multiply, holomorphic=True,
            mp=operator.mul, partial_error=0.0),
    _binary("divide", operator.truediv, {"/": operator.truediv, "np.divide": np.divide},
            np.true_divide, lambda a, b: (1 / b + 0 * a, -a / b ** 2),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)], domain=_nonzero_divisor,
            complex_ref=np.true_divide, complex_kink=lambda a, b: complex_abs(b),
            holomorphic=True,
            mp=_mp_divide, singular=_zero_divisor),
    _binary("power", operator.pow,
            {"**": operator.pow, "fastad.power": fastad.power, "np.power": np.power},
            np.power, _power_d,
            [(0.7, 1.3), (2.5, -0.8), (1.5, 2.0), (3.0, 0.5), (0.2, 3.0), (1.5, -2.5),
             (0.7, 3.0), (2.0, 0.5)],
            domain=_positive_base, complex_ref=np.power,
            complex_kink=lambda a, b: cut_distance(a), holomorphic=True,
            mp=_mp_power, singular=_power_singular, partial_error=_power_error),
    _binary("arctan2", fastad.arctan2, _fastad_only("arctan2"), np.arctan2,
            lambda a, b: (b / (a * a + b * b), -a / (a * a + b * b)),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_arctan2_kink,
            mp=_mp_arctan2, piece=_arctan2_piece, singular=_arctan2_singular),
    _binary("hypot", fastad.hypot, _fastad_only("hypot"), np.hypot,
            lambda a, b: (a / np.hypot(a, b), b / np.hypot(a, b)),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_hypot_kink,
            mp=mpmath.hypot, piece=_origin_piece),
    _binary("maximum", fastad.maximum, _fastad_only("maximum"), np.maximum,
            lambda a, b: (np.where(a >= b, 1.0, 0.0)[()], np.where(a >= b, 0.0, 1.0)[()]),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_max_kink,
            mp=_mp_maximum, piece=_order_piece, partial_error=0.0),
    _binary("minimum", fastad.minimum, _fastad_only("minimum"), np.minimum,
            lambda a, b: (np.where(a <= b, 1.0, 0.0)[()], np.where(a <= b, 0.0, 1.0)[()]),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_max_kink,
            mp=_mp_minimum, piece=_order_piece, partial_error=0.0),
    _binary("logaddexp", fastad.logaddexp, _fastad_only("logaddexp"), np.logaddexp, _logaddexp_d,
            GENERIC_POINTS + [(700.0, 710.0), (-800.0, -790.0), (1.5, -2.0), (-0.5, 3.0),
                              (800.0, 799.0)],
            mp=_mp_logaddexp, partial_error=_logaddexp_error),
    _binary("xlogy", fastad.xlogy, _fastad_only("xlogy"), scipy.special.xlogy,
            lambda a, b: (np.log(b) + 0 * a, a / b),
            [(0.7, 1.3), (-1.2, 0.4), (2.5, 0.8), (1.5, 2.0), (-0.5, 3.0), (2.0, 0.25),
             (0.0, 2.0)],
            domain=_positive_second,
            mp=_mp_xlogy, singular=_xlogy_singular),
    _binary("times", _times, {"_core._apply('times')": _times}, _structural_product,
            lambda a, b: (b + 0 * a, a + 0 * b),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            mp=operator.mul, partial_error=0.0),
    _binary("floor_divide", operator.floordiv, {"//": operator.floordiv,
                                                "np.floor_divide": np.floor_divide},
            np.floor_divide, lambda a, b: (_zeros(a, b), _zeros(a, b)),
            [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (2.3, 0.7)],
            domain=_nonzero_divisor, kink=_mod_kink,
            mp=_mp_floor_divide, piece=_quotient_piece, singular=_zero_divisor, partial_error=0.0),
    _binary("remainder", operator.mod, {"%": operator.mod, "np.remainder": np.remainder},
            np.remainder, lambda a, b: (_ones(a, b), -np.floor_divide(a, b)),
            [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (2.3, 0.7)],
            domain=_nonzero_divisor, kink=_mod_kink,
            mp=_mp_remainder, piece=_quotient_piece, singular=_zero_divisor, partial_error=0.0),
    *[_binary(name, _hook(name), {f"_core._apply('{name}')": _hook(name)},
              _comparison_ref(ufunc), lambda a, b: (_zeros(a, b), _zeros(a, b)),
              GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_max_kink,
              mp=_mp_comparison(ufunc), piece=_order_piece, partial_error=0.0)
      for name, ufunc in (("less", np.less), ("less_equal", np.less_equal),
                          ("greater", np.greater), ("greater_equal", np.greater_equal),
                          ("equal", np.equal), ("not_equal", np.not_equal))],
    _binary("select", _hook("select"), {"_core._apply('select')": _hook("select")},
            lambda a, b: np.where(np.asarray(a) != 0, b, -0.0)[()],
            lambda a, b: (_zeros(a, b), np.where(np.asarray(a) != 0, 1.0, 0.0)[()] + _zeros(a, b)),
            [(1.0, 2.0), (0.0, 3.0), (1.0, -1.5), (0.0, 0.5), (-2.0, 0.7)],
            kink=_mask_kink, mp=lambda a, b: b if a != 0 else mpmath.mpf(0),
            piece=_mask_piece, partial_error=0.0),
    _binary("select_else", _hook("select_else"),
            {"_core._apply('select_else')": _hook("select_else")},
            lambda a, b: np.where(np.asarray(a) != 0, -0.0, b)[()],
            lambda a, b: (_zeros(a, b), np.where(np.asarray(a) != 0, 0.0, 1.0)[()] + _zeros(a, b)),
            [(1.0, 2.0), (0.0, 3.0), (1.0, -1.5), (0.0, 0.5), (-2.0, 0.7)],
            kink=_mask_kink, mp=lambda a, b: mpmath.mpf(0) if a != 0 else b,
            piece=_mask_piece, partial_error=0.0),
]


def _with_rows(entries):
    """The entries keyed by name, each with its rule-table row (None if the
    table has no such row: test_rules reports the mismatch)."""
    rows = {r.name: r for r in _rules.ROWS}
    return {e.name: Op(**{**e.__dict__, "row": rows.get(e.name)}) for e in entries}


CATALOGUE: dict[str, Op] = _with_rows(_ENTRIES)

# Constants of the rule language, by value (test_rules evaluates rules with them).
CONSTANTS = {"LN2": _LN2, "LN10": _LN10, "TWO_OVER_SQRTPI": _TWO_OVER_SQRTPI, "INF": math.inf}


def names(arity=None, public=None, complex=None, smooth=None):
    """Names of the catalogued operations that are also rows of the rule table
    (in the table's order), selected by arity, by the table's public and complex
    columns, and by smoothness (no kink)."""
    selected = []
    for r in _rules.ROWS:
        op = CATALOGUE.get(r.name)
        if op is None:
            continue
        if arity is not None and op.arity != arity:
            continue
        if public is not None and (r.public is not None) != public:
            continue
        if complex is not None and r.complex != complex:
            continue
        if smooth is not None and (op.kink is None) != smooth:
            continue
        selected.append(r.name)
    return selected


def ops(**selection):
    """The entries of names(**selection)."""
    return [CATALOGUE[n] for n in names(**selection)]
