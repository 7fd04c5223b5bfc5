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
    b) -> (a, b)``); random programs apply it before the operation.
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

The columns of the rule table (public, complex, methods, ufunc) are read from
the table itself (``Op.row``, ``Op.public``, ``Op.complex``), and
``names(...)`` / ``ops(...)`` select by them. ``Op.apply`` applies the
operation to operands mapped into its domain; ``Op.on_floats`` gives, for a
spelling, the function with fastad's own result on plain floats (for random
programs compared bit for bit).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

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


def _unit(e):
    return 0.9 * fastad.tanh(e)          # in (-0.9, 0.9)


def _above_one(e):
    return e * e + 1.1                   # >= 1.1


def _above_minus_one(e):
    return e * e - 0.5                   # >= -0.5


def _inside_poles(e):
    return 1.4 * fastad.tanh(e)          # in (-1.4, 1.4), inside tan's poles at +-pi/2


def _nonzero_divisor(a, b):
    return a, b * b + 0.5                # b >= 0.5


def _positive_base(a, b):
    return a * a + 0.25, b


def _positive_second(a, b):
    return a, b * b + 0.25


def _finite(*values):
    return all(math.isfinite(v) for v in values)


def dist_to_int(v):
    """Distance of v to the nearest integer (0.0 for a non-finite v)."""
    return abs(v - round(v)) if math.isfinite(v) else 0.0


def dist_to_half_int(v):
    """Distance of v to the nearest k + 1/2 (where rint jumps)."""
    return abs(v - math.floor(v) - 0.5) if math.isfinite(v) else 0.0


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


# ---- the entries --------------------------------------------------------------------

def _unary(name, record, spellings, ref, d, points, domain=_same, kink=None,
           complex_ref=None, complex_kink=None, holomorphic=False):
    return Op(name, 1, record, spellings, ref, d, points, domain, kink, complex_ref,
              complex_kink, holomorphic)


def _binary(name, record, spellings, ref, d, points, domain=_same2, kink=None,
            complex_ref=None, complex_kink=None, holomorphic=False):
    return Op(name, 2, record, spellings, ref, d, points, domain, kink, complex_ref,
              complex_kink, holomorphic)


def _fastad_and_numpy(name):
    """fastad.<name> and np.<name> (NumPy's object loop calls the Var method).
    Not for binary methods: NumPy calls them on the first operand, so
    np.arctan2(1.0, x) fails on the float (a documented limit)."""
    return {f"fastad.{name}": getattr(fastad, name), f"np.{name}": getattr(np, name)}


def _fastad_only(name):
    return {f"fastad.{name}": getattr(fastad, name)}


GENERIC_POINTS = [(0.7, 1.3), (-1.2, 0.4), (2.5, -0.8), (1.5, 2.0), (-3.0, -0.5)]

_ENTRIES = [
    _unary("neg", operator.neg, {"-x": operator.neg, "np.negative": np.negative},
           np.negative, lambda x: 0 * x - 1, [-2.0, 0.0, 3.5],
           complex_ref=np.negative, holomorphic=True),
    _unary("abs", abs, {"abs": abs, "fastad.abs": fastad.abs, "np.abs": np.abs},
           np.abs, np.sign, [-3.0, -0.5, 0.7, 2.0, -2.0, 0.5, 3.5], kink=_abs_kink,
           complex_ref=np.abs, complex_kink=complex_abs),
    _unary("square", fastad.square, {"fastad.square": fastad.square, "x ** 2": lambda e: e ** 2},
           np.square, lambda x: 2 * x, [-3.0, -0.5, 0.0, 1.5, -2.0, 3.5],
           complex_ref=np.square, holomorphic=True),
    _unary("sqrt", fastad.sqrt, _fastad_and_numpy("sqrt"), np.sqrt, lambda x: 0.5 / np.sqrt(x),
           [0.01, 0.5, 1.0, 4.0, 100.0, 0.25, 9.0], domain=_positive,
           complex_ref=np.sqrt, complex_kink=cut_distance, holomorphic=True),
    _unary("cbrt", fastad.cbrt, _fastad_and_numpy("cbrt"), np.cbrt,
           lambda x: 1 / (3 * np.cbrt(x) ** 2), [-8.0, -0.5, 0.3, 1.0, 27.0], kink=_abs_kink),
    _unary("exp", fastad.exp, _fastad_and_numpy("exp"), np.exp, np.exp,
           [-3.0, -0.5, 0.0, 1.0, 4.0, 2.5], complex_ref=np.exp, holomorphic=True),
    _unary("exp2", fastad.exp2, _fastad_and_numpy("exp2"), np.exp2,
           lambda x: np.exp2(x) * np.log(2), [-3.0, -0.5, 0.0, 1.0, 4.0, 2.5]),
    _unary("expm1", fastad.expm1, _fastad_and_numpy("expm1"), np.expm1, np.exp,
           [-3.0, -0.5, 0.0, 1e-8, 1.0, 4.0, 2.5]),
    _unary("log", fastad.log, _fastad_and_numpy("log"), np.log, lambda x: 1 / x,
           [0.1, 0.5, 1.0, 2.5, 100.0, 50.0], domain=_positive,
           complex_ref=np.log, complex_kink=cut_distance, holomorphic=True),
    _unary("log2", fastad.log2, _fastad_and_numpy("log2"), np.log2,
           lambda x: 1 / (x * np.log(2)), [0.1, 0.5, 1.0, 2.5, 100.0, 50.0], domain=_positive,
           complex_ref=np.log2, complex_kink=cut_distance, holomorphic=True),
    _unary("log10", fastad.log10, _fastad_and_numpy("log10"), np.log10,
           lambda x: 1 / (x * np.log(10)), [0.1, 0.5, 1.0, 2.5, 100.0, 50.0], domain=_positive,
           complex_ref=np.log10, complex_kink=cut_distance, holomorphic=True),
    _unary("log1p", fastad.log1p, _fastad_and_numpy("log1p"), np.log1p, lambda x: 1 / (1 + x),
           [-0.9, -0.2, 0.0, 1e-9, 1.5, 50.0, -0.5], domain=_above_minus_one),
    _unary("sin", fastad.sin, _fastad_and_numpy("sin"), np.sin, np.cos,
           [-1.3, -0.4, 0.0, 0.7, 2.9, -2.0], complex_ref=np.sin, holomorphic=True),
    _unary("cos", fastad.cos, _fastad_and_numpy("cos"), np.cos, lambda x: -np.sin(x),
           [-1.3, -0.4, 0.0, 0.7, 2.9, -2.0], complex_ref=np.cos, holomorphic=True),
    _unary("tan", fastad.tan, _fastad_and_numpy("tan"), np.tan, lambda x: 1 / np.cos(x) ** 2,
           [-1.3, -0.4, 0.0, 0.7, 1.2, -1.2], domain=_inside_poles,
           complex_ref=np.tan, holomorphic=True),
    _unary("arcsin", fastad.arcsin, _fastad_and_numpy("arcsin"), np.arcsin,
           lambda x: 1 / np.sqrt(1 - x * x), [-0.9, -0.3, 0.0, 0.5, 0.95], domain=_unit),
    _unary("arccos", fastad.arccos, _fastad_and_numpy("arccos"), np.arccos,
           lambda x: -1 / np.sqrt(1 - x * x), [-0.9, -0.3, 0.0, 0.5, 0.95], domain=_unit),
    _unary("arctan", fastad.arctan, _fastad_and_numpy("arctan"), np.arctan,
           lambda x: 1 / (1 + x * x), [-3.0, -0.5, 0.0, 0.5, 4.0]),
    _unary("sinh", fastad.sinh, _fastad_and_numpy("sinh"), np.sinh, np.cosh,
           [-2.0, -0.3, 0.0, 0.8, 3.0, 1.5], complex_ref=np.sinh, holomorphic=True),
    _unary("cosh", fastad.cosh, _fastad_and_numpy("cosh"), np.cosh, np.sinh,
           [-2.0, -0.3, 0.0, 0.8, 3.0, 1.5], complex_ref=np.cosh, holomorphic=True),
    _unary("tanh", fastad.tanh, _fastad_and_numpy("tanh"), np.tanh, lambda x: 1 / np.cosh(x) ** 2,
           [-2.0, -0.3, 0.0, 0.8, 3.0, 1.5], complex_ref=np.tanh, holomorphic=True),
    _unary("arcsinh", fastad.arcsinh, _fastad_and_numpy("arcsinh"), np.arcsinh,
           lambda x: 1 / np.sqrt(x * x + 1), [-3.0, -0.2, 0.0, 1.0, 5.0, -2.0, 1.5]),
    _unary("arccosh", fastad.arccosh, _fastad_and_numpy("arccosh"), np.arccosh,
           lambda x: 1 / np.sqrt(x * x - 1), [1.1, 1.5, 3.0, 10.0], domain=_above_one),
    _unary("arctanh", fastad.arctanh, _fastad_and_numpy("arctanh"), np.arctanh,
           lambda x: 1 / (1 - x * x), [-0.9, -0.2, 0.0, 0.4, 0.95, 0.5], domain=_unit),
    _unary("erf", fastad.erf, _fastad_only("erf"), scipy.special.erf,
           lambda x: _TWO_OVER_SQRTPI * np.exp(-x * x), [-2.0, -0.5, 0.0, 0.3, 1.5, 0.7]),
    _unary("erfc", fastad.erfc, _fastad_only("erfc"), scipy.special.erfc,
           lambda x: -_TWO_OVER_SQRTPI * np.exp(-x * x), [-2.0, -0.5, 0.0, 0.3, 1.5, 0.7]),
    _unary("sigmoid", fastad.sigmoid, _fastad_only("sigmoid"), scipy.special.expit,
           lambda x: scipy.special.expit(x) * scipy.special.expit(-x),
           [-5.0, -1.0, 0.0, 0.5, 10.0, -30.0, 2.0]),
    _unary("log_sigmoid", fastad.log_sigmoid, _fastad_only("log_sigmoid"),
           scipy.special.log_expit, lambda x: scipy.special.expit(-x),
           [-5.0, -1.0, 0.0, 0.5, 10.0, -30.0, 2.0, 40.0]),
    _unary("sign", fastad.sign, _fastad_only("sign"), np.sign, _zeros,
           [-3.0, -0.5, 0.7, 2.0, -2.0, 0.5], kink=_abs_kink),
    _unary("floor", math.floor, _fastad_and_numpy("floor"), np.floor, _zeros,
           [-2.5, -0.3, 0.4, 1.7, 0.5, 3.2], kink=dist_to_int),
    _unary("ceil", math.ceil, _fastad_and_numpy("ceil"), np.ceil, _zeros,
           [-2.5, -0.3, 0.4, 1.7, 0.5, 3.2], kink=dist_to_int),
    _unary("trunc", math.trunc, {"np.trunc": np.trunc}, np.trunc, _zeros,
           [-2.5, 0.5, 3.2, -0.3, 1.7], kink=dist_to_int),
    _unary("rint", round, {"np.rint": np.rint}, np.rint, _zeros,
           [-2.3, 0.2, 3.7, -1.2, 1.9], kink=dist_to_half_int),

    _binary("add", operator.add, {"+": operator.add, "np.add": np.add}, np.add,
            lambda a, b: (_ones(a, b), _ones(a, b)),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            complex_ref=np.add, holomorphic=True),
    _binary("subtract", operator.sub, {"-": operator.sub, "np.subtract": np.subtract},
            np.subtract, lambda a, b: (_ones(a, b), -_ones(a, b)),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            complex_ref=np.subtract, holomorphic=True),
    _binary("multiply", operator.mul, {"*": operator.mul, "np.multiply": np.multiply},
            np.multiply, lambda a, b: (b + 0 * a, a + 0 * b),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)],
            complex_ref=np.multiply, holomorphic=True),
    _binary("divide", operator.truediv, {"/": operator.truediv, "np.divide": np.divide},
            np.true_divide, lambda a, b: (1 / b + 0 * a, -a / b ** 2),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)], domain=_nonzero_divisor,
            complex_ref=np.true_divide, complex_kink=lambda a, b: complex_abs(b),
            holomorphic=True),
    _binary("power", operator.pow,
            {"**": operator.pow, "fastad.power": fastad.power, "np.power": np.power},
            np.power, _power_d,
            [(0.7, 1.3), (2.5, -0.8), (1.5, 2.0), (3.0, 0.5), (0.2, 3.0), (1.5, -2.5),
             (0.7, 3.0), (2.0, 0.5)],
            domain=_positive_base, complex_ref=np.power,
            complex_kink=lambda a, b: cut_distance(a), holomorphic=True),
    _binary("arctan2", fastad.arctan2, _fastad_only("arctan2"), np.arctan2,
            lambda a, b: (b / (a * a + b * b), -a / (a * a + b * b)),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_arctan2_kink),
    _binary("hypot", fastad.hypot, _fastad_only("hypot"), np.hypot,
            lambda a, b: (a / np.hypot(a, b), b / np.hypot(a, b)),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_hypot_kink),
    _binary("maximum", fastad.maximum, _fastad_only("maximum"), np.maximum,
            lambda a, b: (np.where(a >= b, 1.0, 0.0)[()], np.where(a >= b, 0.0, 1.0)[()]),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_max_kink),
    _binary("minimum", fastad.minimum, _fastad_only("minimum"), np.minimum,
            lambda a, b: (np.where(a <= b, 1.0, 0.0)[()], np.where(a <= b, 0.0, 1.0)[()]),
            GENERIC_POINTS + [(1.5, -2.0), (-0.5, 3.0)], kink=_max_kink),
    _binary("logaddexp", fastad.logaddexp, _fastad_only("logaddexp"), np.logaddexp, _logaddexp_d,
            GENERIC_POINTS + [(700.0, 710.0), (-800.0, -790.0), (1.5, -2.0), (-0.5, 3.0),
                              (800.0, 799.0)]),
    _binary("xlogy", fastad.xlogy, _fastad_only("xlogy"), scipy.special.xlogy,
            lambda a, b: (np.log(b) + 0 * a, a / b),
            [(0.7, 1.3), (-1.2, 0.4), (2.5, 0.8), (1.5, 2.0), (-0.5, 3.0), (2.0, 0.25),
             (0.0, 2.0)],
            domain=_positive_second),
    _binary("times", _times, {"_core._apply('times')": _times}, _structural_product,
            lambda a, b: (b + 0 * a, a + 0 * b),
            [(1.5, -2.0), (0.0, 3.0), (0.7, 1.3), (-1.2, 0.4)]),
    _binary("floor_divide", operator.floordiv, {"//": operator.floordiv,
                                                "np.floor_divide": np.floor_divide},
            np.floor_divide, lambda a, b: (_zeros(a, b), _zeros(a, b)),
            [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (2.3, 0.7)],
            domain=_nonzero_divisor, kink=_mod_kink),
    _binary("remainder", operator.mod, {"%": operator.mod, "np.remainder": np.remainder},
            np.remainder, lambda a, b: (_ones(a, b), -np.floor_divide(a, b)),
            [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0), (-7.5, -2.0), (2.3, 0.7)],
            domain=_nonzero_divisor, kink=_mod_kink),
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
