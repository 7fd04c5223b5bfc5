"""The rule table: one row per elementary operation of the tape.

Everything fastad knows about an operation is written here once, and the
build derives the rest from it (fastad/_codegen.py renders the ``*.tp``
templates next to this file): the opcode enum and its names, the value
rule, the first and second partial derivatives, the derivative emitted as
tape entries (``grad_function`` and nested transforms), the per-op flags
(which partials vanish identically, which second partials are nonzero),
the public
``fastad.<name>`` function and its docstring, the methods NumPy's object
loops call on a Var or ComplexVar, the dispatch to the complex rule, and
the type-stub lines. A missing column is an error when the table is read
(every field is required), never a silent zero.

The columns
-----------
name
    The opcode's name (``OP_<NAME>`` in C) and, for a public row, the name
    of ``fastad.<name>``.
value
    The value as a Cython expression of ``x`` (unary) or ``a`` and ``b``
    (binary) in C doubles; ``libm`` is ``libc.math``, and the kernels of
    fastad/_math.pxi may be called.
d, d2
    The first and second partial derivatives in the rule language below,
    for a unary row ``d`` and ``d2``, for a binary row ``(d/da, d/db)``
    and ``(d2/da2, d2/dadb, d2/db2)``. A literal ``0`` is a structural
    zero: the operand does not reach the result (``d``), or the operation
    is linear in it (``d2``); sparsity patterns rely on that.
emit
    The emitted derivative where it must differ from ``d`` (None: the
    same expression). Emitted rules record guards at ``where``; they may
    pin conventions at fewer points than the numeric rule so that the
    emitted derivative is itself differentiable there.
public
    ``Public(signature, doc)`` for a function in the ``fastad`` namespace
    (numpydoc summary and extended summary; the Parameters and Returns
    sections are shared and appended), or None for an operator only.
methods
    Names of the methods NumPy's object-array loops call on an element
    (``np.sin`` on an object array calls ``element.sin()``).
ufunc
    The NumPy (or SciPy) ufunc computing the same function on floats, or
    None.
complex
    Whether a complex rule exists: a function ``complex_<name>`` in
    fastad/_complex.pxi that writes the complex operation out as real
    operations on the (Re, Im) parts.

The rule language
-----------------
Python expression syntax over the operands (``x``; ``a``, ``b``) and the
result ``y``: numbers, ``+ - * /``, unary ``-``, calls of the operations
of this table by name (``cos(x)``, ``hypot(x, 1)``, ``power(a, b - 1)``),
the constants ``LN2 LN10 TWO_OVER_SQRTPI INF``, and
``where(condition, then, else)`` whose condition compares expressions
(``== != < <= > >=``, ``and``, ``or``, ``not``, ``isnan(e)``,
``isinf(e)``). Local names may be bound first: ``r = a * a + b * b;
where(r == 0, 0, b / r)``. Numerically a call is the operation's value
rule and ``where`` a C conditional; emitted, a call is a tape entry and
``where`` evaluates both branches and selects with a mask of comparison
entries (the rows ``less`` ... ``not_equal``, ``select``, ``select_else``),
so the emitted derivative replays on either side with no branch guard.

Adding an elementary function is one row here (plus a kernel in
_math.pxi if its value needs more than an expression, and its tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Public:
    """A public ``fastad`` function: its signature and docstring."""

    signature: str        # "name(arg, ...)"
    doc: str              # summary line, then an optional extended summary


@dataclass(frozen=True)
class Unary:
    """An operation of one operand ``x`` with result ``y``."""

    name: str
    value: str
    d: str
    d2: str
    public: Public | None
    methods: tuple[str, ...]
    ufunc: str | None
    complex: bool
    emit: str | None = None

    arity = 1


@dataclass(frozen=True)
class Binary:
    """An operation of two operands ``a`` and ``b`` with result ``y``,
    recorded as three opcodes by operand kind (variable-variable,
    variable-constant, constant-variable)."""

    name: str
    value: str
    d: tuple[str, str]
    d2: tuple[str, str, str]
    public: Public | None
    methods: tuple[str, ...]
    ufunc: str | None
    complex: bool
    emit: tuple[str | None, str | None] = (None, None)

    arity = 2


# ---- unary operations ------------------------------------------------------------
# (1 - x)(1 + x) rather than 1 - x*x below: no cancellation near |x| = 1.

UNARY = [
    Unary("neg", value="-x", d="-1", d2="0",
          public=None, methods=(), ufunc="numpy.negative", complex=True),
    # abs'(0) = 0 (the one-sided conventions of section 1 of the API).
    Unary("abs", value="libm.fabs(x)", d="sign(x)", d2="0",
          public=Public("abs(x)", "Absolute value, elementwise; derivative sign(x), 0 at 0."),
          methods=("fabs",), ufunc="numpy.absolute", complex=True),
    Unary("square", value="x * x", d="2 * x", d2="2",
          public=Public("square(x)", "x**2, elementwise; derivative 2x."),
          methods=(), ufunc="numpy.square", complex=True),
    # sqrt'(0) = inf, as NumPy's 0.5 / sqrt(0).
    Unary("sqrt", value="libm.sqrt(x)", d="0.5 / y", d2="-0.25 / y / y / y",
          public=Public("sqrt(x)", "Square root, elementwise; derivative 1/(2 sqrt(x)), inf at 0."),
          methods=("sqrt",), ufunc="numpy.sqrt", complex=True),
    Unary("cbrt", value="libm.cbrt(x)", d="1 / (3 * y * y)",
          d2="t = y * y; -2 / (9 * y) / t / t",
          public=Public("cbrt(x)", "Cube root, elementwise; derivative 1/(3 cbrt(x)**2), inf at 0."),
          methods=("cbrt",), ufunc="numpy.cbrt", complex=False),
    Unary("exp", value="libm.exp(x)", d="y", d2="y",
          public=Public("exp(x)", "Exponential, elementwise; derivative exp(x)."),
          methods=("exp",), ufunc="numpy.exp", complex=True),
    Unary("exp2", value="libm.exp2(x)", d="y * LN2", d2="y * LN2 * LN2",
          public=Public("exp2(x)", "2**x, elementwise; derivative log(2) * 2**x."),
          methods=("exp2",), ufunc="numpy.exp2", complex=False),
    Unary("expm1", value="libm.expm1(x)", d="y + 1", d2="y + 1",
          public=Public("expm1(x)", "exp(x) - 1, accurate near 0, elementwise; derivative exp(x)."),
          methods=("expm1",), ufunc="numpy.expm1", complex=False),
    Unary("log", value="libm.log(x)", d="1 / x", d2="-(1 / x) / x",
          public=Public("log(x)", "Natural logarithm, elementwise; derivative 1/x "
                                  "(log(0) = -inf, log(-1) = nan)."),
          methods=("log",), ufunc="numpy.log", complex=True),
    Unary("log2", value="libm.log2(x)", d="1 / (x * LN2)", d2="-(1 / x) / x / LN2",
          public=Public("log2(x)", "Base-2 logarithm, elementwise; derivative 1/(x log 2)."),
          methods=("log2",), ufunc="numpy.log2", complex=True),
    Unary("log10", value="libm.log10(x)", d="1 / (x * LN10)", d2="-(1 / x) / x / LN10",
          public=Public("log10(x)", "Base-10 logarithm, elementwise; derivative 1/(x log 10)."),
          methods=("log10",), ufunc="numpy.log10", complex=True),
    Unary("log1p", value="libm.log1p(x)", d="1 / (1 + x)", d2="-(1 / (1 + x)) / (1 + x)",
          public=Public("log1p(x)", "log(1 + x), accurate near 0, elementwise; derivative 1/(1 + x)."),
          methods=("log1p",), ufunc="numpy.log1p", complex=False),
    Unary("sin", value="libm.sin(x)", d="cos(x)", d2="-y",
          public=Public("sin(x)", "Sine, elementwise; derivative cos(x)."),
          methods=("sin",), ufunc="numpy.sin", complex=True),
    Unary("cos", value="libm.cos(x)", d="-sin(x)", d2="-y",
          public=Public("cos(x)", "Cosine, elementwise; derivative -sin(x)."),
          methods=("cos",), ufunc="numpy.cos", complex=True),
    Unary("tan", value="libm.tan(x)", d="1 + y * y", d2="2 * y * (1 + y * y)",
          public=Public("tan(x)", "Tangent, elementwise; derivative 1 + tan(x)**2."),
          methods=("tan",), ufunc="numpy.tan", complex=True),
    Unary("arcsin", value="libm.asin(x)", d="1 / sqrt((1 - x) * (1 + x))",
          d2="t = (1 - x) * (1 + x); x / (t * sqrt(t))",
          public=Public("arcsin(x)", "Inverse sine, elementwise; derivative 1/sqrt(1 - x**2)."),
          methods=("arcsin",), ufunc="numpy.arcsin", complex=False),
    Unary("arccos", value="libm.acos(x)", d="-1 / sqrt((1 - x) * (1 + x))",
          d2="t = (1 - x) * (1 + x); -x / (t * sqrt(t))",
          public=Public("arccos(x)", "Inverse cosine, elementwise; derivative -1/sqrt(1 - x**2)."),
          methods=("arccos",), ufunc="numpy.arccos", complex=False),
    Unary("arctan", value="libm.atan(x)", d="1 / (1 + x * x)",
          d2="t = 1 + x * x; -2 * (x / t) / t",
          public=Public("arctan(x)", "Inverse tangent, elementwise; derivative 1/(1 + x**2)."),
          methods=("arctan",), ufunc="numpy.arctan", complex=False),
    Unary("sinh", value="libm.sinh(x)", d="cosh(x)", d2="y",
          public=Public("sinh(x)", "Hyperbolic sine, elementwise; derivative cosh(x)."),
          methods=("sinh",), ufunc="numpy.sinh", complex=True),
    Unary("cosh", value="libm.cosh(x)", d="sinh(x)", d2="y",
          public=Public("cosh(x)", "Hyperbolic cosine, elementwise; derivative sinh(x)."),
          methods=("cosh",), ufunc="numpy.cosh", complex=True),
    Unary("tanh", value="libm.tanh(x)", d="1 - y * y", d2="-2 * y * (1 - y * y)",
          public=Public("tanh(x)", "Hyperbolic tangent, elementwise; derivative 1 - tanh(x)**2."),
          methods=("tanh",), ufunc="numpy.tanh", complex=True),
    # hypot(x, 1) rather than sqrt(x*x + 1): no overflow of x*x.
    Unary("arcsinh", value="libm.asinh(x)", d="1 / hypot(x, 1)",
          d2="t = hypot(x, 1); -(x / t) / t / t",
          public=Public("arcsinh(x)", "Inverse hyperbolic sine, elementwise; derivative "
                                      "1/sqrt(x**2 + 1)."),
          methods=("arcsinh",), ufunc="numpy.arcsinh", complex=False),
    Unary("arccosh", value="libm.acosh(x)", d="1 / (sqrt(x - 1) * sqrt(x + 1))",
          d2="t = sqrt(x - 1) * sqrt(x + 1); -(x / t) / t / t",
          public=Public("arccosh(x)", "Inverse hyperbolic cosine, elementwise; derivative "
                                      "1/sqrt(x**2 - 1)."),
          methods=("arccosh",), ufunc="numpy.arccosh", complex=False),
    Unary("arctanh", value="libm.atanh(x)", d="1 / ((1 - x) * (1 + x))",
          d2="t = (1 - x) * (1 + x); 2 * x / (t * t)",
          public=Public("arctanh(x)", "Inverse hyperbolic tangent, elementwise; derivative "
                                      "1/(1 - x**2)."),
          methods=("arctanh",), ufunc="numpy.arctanh", complex=False),
    Unary("erf", value="libm.erf(x)", d="TWO_OVER_SQRTPI * exp(-x * x)",
          d2="-2 * TWO_OVER_SQRTPI * (x * exp(-x * x))",
          public=Public("erf(x)", "Error function, elementwise; derivative 2/sqrt(pi) exp(-x**2)."),
          methods=(), ufunc="scipy.special.erf", complex=False),
    Unary("erfc", value="libm.erfc(x)", d="-TWO_OVER_SQRTPI * exp(-x * x)",
          d2="2 * TWO_OVER_SQRTPI * (x * exp(-x * x))",
          public=Public("erfc(x)", "Complementary error function, elementwise; derivative "
                                   "-2/sqrt(pi) exp(-x**2)."),
          methods=(), ufunc="scipy.special.erfc", complex=False),
    # s' = s(x) s(-x): the textbook y (1 - y) loses all relative accuracy for
    # large x, where 1 - y cancels (sigmoid(-x) keeps it).
    Unary("sigmoid", value="sigmoid_of(x)", d="y * sigmoid(-x)",
          d2="y * sigmoid(-x) * (1 - 2 * y)",
          public=Public("sigmoid(x)", "Logistic sigmoid 1/(1 + exp(-x)), elementwise; "
                                      "derivative s(1 - s)."),
          methods=(), ufunc="scipy.special.expit", complex=False),
    # log(sigmoid(x)) = -softplus(-x), with the exponent kept non-positive so
    # it never overflows; its derivative sigmoid(-x) = 1 - e**y = -expm1(y)
    # is accurate for every x, and so is exp(y) * expm1(y).
    Unary("log_sigmoid",
          value="-libm.log1p(libm.exp(-x)) if x >= 0.0 else x - libm.log1p(libm.exp(x))", d="-expm1(y)", d2="exp(y) * expm1(y)",
          public=Public("log_sigmoid(x)", "log(sigmoid(x)) = -log(1 + exp(-x)) without overflow, "
                                          "elementwise; derivative sigmoid(-x)."),
          methods=(), ufunc="scipy.special.log_expit", complex=False),
    # Piecewise constant: derivative 0 everywhere, also at the jumps.
    Unary("sign", value="sign_of(x)", d="0", d2="0",
          public=Public("sign(x)", "Sign (-1, 0 or 1; nan for nan), elementwise; derivative 0."),
          methods=(), ufunc="numpy.sign", complex=False),
    Unary("floor", value="libm.floor(x)", d="0", d2="0",
          public=Public("floor(x)", "Floor, elementwise; derivative 0."),
          methods=(), ufunc="numpy.floor", complex=False),
    Unary("ceil", value="libm.ceil(x)", d="0", d2="0",
          public=Public("ceil(x)", "Ceiling, elementwise; derivative 0."),
          methods=(), ufunc="numpy.ceil", complex=False),
    Unary("trunc", value="libm.trunc(x)", d="0", d2="0",
          public=None, methods=(), ufunc="numpy.trunc", complex=False),
    # Ties to even, as np.rint (and Python's round).
    Unary("rint", value="libm.rint(x)", d="0", d2="0",
          public=None, methods=("rint",), ufunc="numpy.rint", complex=False),
]

# ---- binary operations -----------------------------------------------------------

BINARY = [
    Binary("add", value="a + b", d=("1", "1"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.add", complex=True),
    Binary("subtract", value="a - b", d=("1", "-1"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.subtract", complex=True),
    Binary("multiply", value="a * b", d=("b", "a"), d2=("0", "1", "0"),
           public=None, methods=(), ufunc="numpy.multiply", complex=True),
    Binary("divide", value="a / b", d=("1 / b", "-y / b"),
           d2=("0", "-(1 / b) / b", "2 * (y / b) / b"),
           public=None, methods=(), ufunc="numpy.true_divide", complex=True),
    # d/da as times(b, a**(b - 1)): a zero factor makes it 0 at b == 0 for
    # every a (0 ** -1 and nan included, JAX's convention at a == 0), and so
    # does a**(b - 1) == 0 at an infinite b (a**b is 0 near there), in every
    # mode; emitted, its own derivative in b (a**-1 at b == 0) stays right.
    # d/db is 0 at a == 0, where a**b is constant 0 for b > 0. A negative
    # base gives nan in b: a**b is not real-differentiable there.
    Binary("power", value="libm.pow(a, b)",
           d=("times(b, power(a, b - 1))", "where(a == 0, 0, y * log(a))"),
           d2=("times(b * (b - 1), power(a, b - 2))",
               "where(a == 0, 0, power(a, b - 1) * (1 + b * log(a)))",
               "where(a == 0, 0, y * log(a) * log(a))"),
           public=Public("power(x, y)", """x**y, elementwise with broadcasting.

Derivatives y*x**(y-1) in x (0 when y == 0) and x**y*log(x) in y (0 at x == 0;
nan for a negative x, where x**y is not real-differentiable in y)."""),
           methods=(), ufunc="numpy.power", complex=True),
    # d atan2(a, b) = (b da - a db) / (a^2 + b^2), with a^2 + b^2 as hypot^2
    # and each division by hypot on its own, so that no square leaves the
    # float range first; 0 at the origin, and 0 where hypot is infinite
    # (an infinite operand: atan2 is constant there).
    Binary("arctan2", value="libm.atan2(a, b)",
           d=("h = hypot(a, b); where(h == 0 or isinf(h), 0, (b / h) / h)",
              "h = hypot(a, b); where(h == 0 or isinf(h), 0, -(a / h) / h)"),
           d2=("h = hypot(a, b); where(h == 0 or isinf(h), 0, -2 * (a / h) * (b / h) / h / h)",
               "h = hypot(a, b); where(h == 0 or isinf(h), 0, "
               "((a / h) * (a / h) - (b / h) * (b / h)) / h / h)",
               "h = hypot(a, b); where(h == 0 or isinf(h), 0, 2 * (a / h) * (b / h) / h / h)"),
           public=Public("arctan2(y, x)", """Angle of the point (x, y), elementwise with broadcasting.

Derivatives x/(x**2 + y**2) in y and -y/(x**2 + y**2) in x; 0 at the origin."""),
           methods=("arctan2",), ufunc="numpy.arctan2", complex=False),
    # d hypot = (a da + b db) / hypot; 0 at the origin, as abs'(0).
    Binary("hypot", value="libm.hypot(a, b)",
           d=("where(y == 0, 0, a / y)", "where(y == 0, 0, b / y)"),
           d2=("where(y == 0, 0, (b / y) * (b / y) / y)",
               "where(y == 0, 0, -(a / y) * (b / y) / y)",
               "where(y == 0, 0, (a / y) * (a / y) / y)"),
           public=Public("hypot(x, y)", """sqrt(x**2 + y**2) without overflow, elementwise with broadcasting.

Derivatives x/hypot(x, y) and y/hypot(x, y); 0 at the origin, as abs'(0)."""),
           methods=("hypot",), ufunc="numpy.hypot", complex=False),
    # Ties go to the first argument; nan propagates, as np.maximum.
    Binary("maximum", value="a if a >= b or libm.isnan(a) else b",
           d=("where(a >= b or isnan(a), 1, 0)", "where(a >= b or isnan(a), 0, 1)"),
           d2=("0", "0", "0"),
           public=Public("maximum(x, y)", """Larger of x and y, elementwise; nan propagates, ties take x.

The derivative goes to the chosen argument (x on ties). NumPy's np.maximum
on object arrays compares without nan propagation; this function propagates."""),
           methods=(), ufunc="numpy.maximum", complex=False),
    Binary("minimum", value="a if a <= b or libm.isnan(a) else b",
           d=("where(a <= b or isnan(a), 1, 0)", "where(a <= b or isnan(a), 0, 1)"),
           d2=("0", "0", "0"),
           public=Public("minimum(x, y)", """Smaller of x and y, elementwise; nan propagates, ties take x.

The derivative goes to the chosen argument (x on ties)."""),
           methods=(), ufunc="numpy.minimum", complex=False),
    # The softmax weights as sigmoid(a - b): the limits 1 and 0 at one
    # infinite operand (exp(a - y) would be exp(inf - inf) = nan there), and
    # the right second derivative at finite ties when emitted; only equal
    # infinities, where a - b is nan, are pinned to 1/2. The second
    # derivative s(a - b) s(b - a), not s (1 - s), which is 0 once s rounds
    # to 1.
    Binary("logaddexp", value="logaddexp_of(a, b)",
           d=("where(a == b and isinf(a), 0.5, sigmoid(a - b))",
              "where(a == b and isinf(a), 0.5, sigmoid(b - a))"),
           d2=("where(a == b and isinf(a), 0.25, sigmoid(a - b) * sigmoid(b - a))",
               "where(a == b and isinf(a), -0.25, -(sigmoid(a - b) * sigmoid(b - a)))",
               "where(a == b and isinf(a), 0.25, sigmoid(a - b) * sigmoid(b - a))"),
           public=Public("logaddexp(x, y)", """log(exp(x) + exp(y)) without overflow, elementwise with broadcasting.

Derivatives are the softmax weights exp(x - out) and exp(y - out); 1/2 each
on ties. (NumPy has no object-array loop for logaddexp: use this function.)"""),
           methods=(), ufunc="numpy.logaddexp", complex=False),
    # x * log(y) with 0 where x == 0 unless y is nan (scipy.special.xlogy):
    # d/dx = log(y), d/dy = x / y, 0 where x == 0 (the function is 0 for
    # every y there).
    # The emitted d/dy pins only where x / y is nan at x == 0 (y 0 or nan),
    # so that its own derivative in x (1 / y at x == 0) stays right.
    Binary("xlogy", value="0.0 if a == 0.0 and not libm.isnan(b) else a * libm.log(b)",
           d=("log(b)", "where(a == 0, 0, a / b)"),
           d2=("0", "1 / b", "where(a == 0, 0, -(a / b) / b)"),
           emit=(None, "where(a == 0 and (b == 0 or isnan(b)), 0, a / b)"),
           public=Public("xlogy(x, y)", """x * log(y), and 0 where x == 0, elementwise with broadcasting.

As scipy.special.xlogy: 0 * log(0) is 0, so entropies and likelihoods with
zero weights stay finite. Derivatives log(y) in x and x/y in y (0 where
x == 0)."""),
           methods=(), ufunc="scipy.special.xlogy", complex=False),
    # a * b where an exact zero factor gives 0 even next to inf or nan: the
    # product of an adjoint or tangent with a partial in the emitted
    # derivatives (grad_function, nesting), so that "a zero factor
    # contributes nothing" holds at every replay, as in the numeric sweeps.
    # Only a nan product is looked at twice.
    Binary("times", value="0.0 if a * b != a * b and (a == 0.0 or b == 0.0) else a * b",
           d=("b", "a"), d2=("0", "1", "0"),
           public=None, methods=(), ufunc=None, complex=False),
    Binary("floor_divide", value="floor_divide_of(a, b)", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.floor_divide", complex=False),
    # a % b = a - b * floor(a / b): 1 in a, -floor(a / b) in b.
    Binary("remainder", value="remainder_of(a, b)", d=("1", "-floor_divide(a, b)"),
           d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.remainder", complex=False),
    # The elements of a fastad.Mask: a comparison as 1.0 or 0.0, recorded
    # as an entry (evaluated again at every replay, so a mask needs no
    # branch guard until its booleans reach Python). Constant in both
    # operands: derivative 0.
    Binary("less", value="1.0 if a < b else 0.0", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.less", complex=False),
    Binary("less_equal", value="1.0 if a <= b else 0.0", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.less_equal", complex=False),
    Binary("greater", value="1.0 if a > b else 0.0", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.greater", complex=False),
    Binary("greater_equal", value="1.0 if a >= b else 0.0", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.greater_equal", complex=False),
    Binary("equal", value="1.0 if a == b else 0.0", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.equal", complex=False),
    Binary("not_equal", value="1.0 if a != b else 0.0", d=("0", "0"), d2=("0", "0", "0"),
           public=None, methods=(), ufunc="numpy.not_equal", complex=False),
    # fastad.where(m, a, b) is select(m, a) + select_else(m, b): b where the
    # mask element a is set (resp. clear), else -0.0, which leaves the other
    # branch's value exactly as it is under + (also -0.0, inf and nan), and
    # the derivative flows only into the selected branch.
    Binary("select", value="b if a != 0.0 else -0.0", d=("0", "where(a != 0, 1, 0)"),
           d2=("0", "0", "0"), public=None, methods=(), ufunc=None, complex=False),
    Binary("select_else", value="-0.0 if a != 0.0 else b", d=("0", "where(a != 0, 0, 1)"),
           d2=("0", "0", "0"), public=None, methods=(), ufunc=None, complex=False),
]

# Constants of the rule language and their C spelling.
CONSTANTS = {
    "LN2": "libm.M_LN2",
    "LN10": "libm.M_LN10",
    "TWO_OVER_SQRTPI": "libm.M_2_SQRTPI",
    "INF": "libm.INFINITY",
}

ROWS = UNARY + BINARY


def row(name: str) -> Unary | Binary:
    """The row of operation `name`."""
    for r in ROWS:
        if r.name == name:
            return r
    raise KeyError(f"no operation named {name!r} in the rule table")
