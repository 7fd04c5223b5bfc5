# The operation table: every opcode, its forward rule and its derivative
# rule, side by side. The rest of the core never does calculus itself: the
# proxy picks an opcode and calls the forward rule, the sweeps call the
# derivative rule. A new elementary function is one enum entry, one line in
# unary_rule or binary_rule, one name in OP_NAMES and one public wrapper in
# _elementwise.pxi.

cimport libc.math as libm

cdef enum:
    # Operand kinds of a binary opcode, in this order after its VV opcode:
    # variable-variable, variable-constant, constant-variable. A constant
    # operand is an index into the tape's constant pool.
    KIND_VV = 0
    KIND_VC = 1
    KIND_CV = 2
    # What binary_rule returns.
    VALUE = 0
    WRT_A = 1
    WRT_B = 2

cdef enum Op:
    OP_INPUT = 0          # an independent variable; no operands
    # ---- unary: operand in arg0 -------------------------------------------
    OP_NEG
    OP_ABS
    OP_SQUARE
    OP_SQRT
    OP_CBRT
    OP_EXP
    OP_EXP2
    OP_EXPM1
    OP_LOG
    OP_LOG2
    OP_LOG10
    OP_LOG1P
    OP_SIN
    OP_COS
    OP_TAN
    OP_ARCSIN
    OP_ARCCOS
    OP_ARCTAN
    OP_SINH
    OP_COSH
    OP_TANH
    OP_ARCSINH
    OP_ARCCOSH
    OP_ARCTANH
    OP_ERF
    OP_ERFC
    OP_SIGMOID
    OP_SIGN
    OP_FLOOR
    OP_CEIL
    OP_TRUNC
    OP_RINT
    # ---- binary: three opcodes each, VV then VC then CV --------------------
    OP_ADD_VV
    OP_ADD_VC
    OP_ADD_CV
    OP_SUB_VV
    OP_SUB_VC
    OP_SUB_CV
    OP_MUL_VV
    OP_MUL_VC
    OP_MUL_CV
    OP_DIV_VV
    OP_DIV_VC
    OP_DIV_CV
    OP_POW_VV
    OP_POW_VC
    OP_POW_CV
    OP_ATAN2_VV
    OP_ATAN2_VC
    OP_ATAN2_CV
    OP_HYPOT_VV
    OP_HYPOT_VC
    OP_HYPOT_CV
    OP_MAXIMUM_VV
    OP_MAXIMUM_VC
    OP_MAXIMUM_CV
    OP_MINIMUM_VV
    OP_MINIMUM_VC
    OP_MINIMUM_CV
    OP_LOGADDEXP_VV
    OP_LOGADDEXP_VC
    OP_LOGADDEXP_CV
    OP_FLOORDIV_VV
    OP_FLOORDIV_VC
    OP_FLOORDIV_CV
    OP_MOD_VV
    OP_MOD_VC
    OP_MOD_CV
    N_OPS                 # sentinel: the number of opcodes

# First opcode of each section, for range tests in the sweeps.
cdef enum:
    FIRST_UNARY = OP_NEG
    FIRST_BINARY = OP_ADD_VV

# Names in opcode order; a check at import time fails if this table and the
# enum disagree in length. Binary names are given once, for the VV opcode.
OP_NAMES = (
    "input",
    "neg", "abs", "square", "sqrt", "cbrt", "exp", "exp2", "expm1", "log",
    "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "erf",
    "erfc", "sigmoid", "sign", "floor", "ceil", "trunc", "rint",
    "add", "subtract", "multiply", "divide", "power", "arctan2", "hypot",
    "maximum", "minimum", "logaddexp", "floor_divide", "remainder",
)


# ---- helpers shared by value and derivative rules ---------------------------

cdef inline double sign_of(double x) noexcept nogil:
    # NumPy's sign: +0 at either zero, nan at nan.
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x + 0.0  # -0 + 0 is +0; nan stays nan


cdef inline double sigmoid_of(double x) noexcept nogil:
    # Two branches so exp never overflows.
    cdef double e
    if x >= 0.0:
        return 1.0 / (1.0 + libm.exp(-x))
    e = libm.exp(x)
    return e / (1.0 + e)


cdef inline double floor_divide_of(double a, double b) noexcept nogil:
    # NumPy's npy_floor_divide (Python's float // without ZeroDivisionError).
    cdef double mod, div, floordiv
    if b == 0.0:
        return a / b
    mod = libm.fmod(a, b)
    div = (a - mod) / b
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            div -= 1.0
    if div != 0.0:
        floordiv = libm.floor(div)
        if div - floordiv > 0.5:
            floordiv += 1.0
        return floordiv
    return libm.copysign(0.0, a / b)


cdef inline double remainder_of(double a, double b) noexcept nogil:
    # NumPy's npy_remainder: result has the sign of b, nan for b == 0.
    cdef double mod = libm.fmod(a, b)
    if b == 0.0:
        return mod
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            mod += b
        return mod
    return libm.copysign(0.0, b)


cdef inline double logaddexp_of(double a, double b) noexcept nogil:
    # NumPy's npy_logaddexp.
    cdef double d
    if a == b:
        return a + libm.M_LN2  # also equal infinities, without inf - inf
    d = a - b
    if d > 0.0:
        return a + libm.log1p(libm.exp(-d))
    if d <= 0.0:
        return b + libm.log1p(libm.exp(d))
    return d  # nan


cdef inline double pow_wrt_base(double a, double b) noexcept nogil:
    # b * a**(b-1); exactly 0 when b == 0, so that 0 * inf is never formed
    # at a == 0 (JAX's convention).
    if b == 0.0:
        return 0.0
    return b * libm.pow(a, b - 1.0)


cdef inline double pow_wrt_exponent(double a, double y) noexcept nogil:
    # y * log(a); 0 at a == 0, where a**b is constant 0 for all b > 0.
    # A negative base gives nan: a**b is not real-differentiable in b there.
    if a == 0.0:
        return 0.0
    return y * libm.log(a)


# ---- the rules ----------------------------------------------------------------
# unary_rule(op, x, y, partial): op(x) when partial is false, else dy/dx,
# where y = op(x) is the recorded result (several derivatives are cheapest
# from it). Inlined with a constant `partial`, each call reduces to one
# expression.

cdef inline double unary_rule(int op, double x, double y, bint partial) noexcept nogil:
    if op == OP_NEG:        return -1.0 if partial else -x
    elif op == OP_ABS:      return sign_of(x) if partial else libm.fabs(x)    # abs'(0) = 0
    elif op == OP_SQUARE:   return 2.0 * x if partial else x * x
    elif op == OP_SQRT:     return 0.5 / y if partial else libm.sqrt(x)       # sqrt'(0) = inf
    elif op == OP_CBRT:     return 1.0 / (3.0 * y * y) if partial else libm.cbrt(x)
    elif op == OP_EXP:      return y if partial else libm.exp(x)
    elif op == OP_EXP2:     return y * libm.M_LN2 if partial else libm.exp2(x)
    elif op == OP_EXPM1:    return y + 1.0 if partial else libm.expm1(x)
    elif op == OP_LOG:      return 1.0 / x if partial else libm.log(x)
    elif op == OP_LOG2:     return 1.0 / (x * libm.M_LN2) if partial else libm.log2(x)
    elif op == OP_LOG10:    return 1.0 / (x * libm.M_LN10) if partial else libm.log10(x)
    elif op == OP_LOG1P:    return 1.0 / (1.0 + x) if partial else libm.log1p(x)
    elif op == OP_SIN:      return libm.cos(x) if partial else libm.sin(x)
    elif op == OP_COS:      return -libm.sin(x) if partial else libm.cos(x)
    elif op == OP_TAN:      return 1.0 + y * y if partial else libm.tan(x)
    # (1 - x)(1 + x) rather than 1 - x*x: no cancellation near |x| = 1.
    elif op == OP_ARCSIN:   return 1.0 / libm.sqrt((1.0 - x) * (1.0 + x)) if partial else libm.asin(x)
    elif op == OP_ARCCOS:   return -1.0 / libm.sqrt((1.0 - x) * (1.0 + x)) if partial else libm.acos(x)
    elif op == OP_ARCTAN:   return 1.0 / (1.0 + x * x) if partial else libm.atan(x)
    elif op == OP_SINH:     return libm.cosh(x) if partial else libm.sinh(x)
    elif op == OP_COSH:     return libm.sinh(x) if partial else libm.cosh(x)
    elif op == OP_TANH:     return 1.0 - y * y if partial else libm.tanh(x)
    elif op == OP_ARCSINH:  return 1.0 / libm.hypot(x, 1.0) if partial else libm.asinh(x)   # no overflow of x*x
    elif op == OP_ARCCOSH:  return 1.0 / (libm.sqrt(x - 1.0) * libm.sqrt(x + 1.0)) if partial else libm.acosh(x)
    elif op == OP_ARCTANH:  return 1.0 / ((1.0 - x) * (1.0 + x)) if partial else libm.atanh(x)
    elif op == OP_ERF:      return libm.M_2_SQRTPI * libm.exp(-x * x) if partial else libm.erf(x)
    elif op == OP_ERFC:     return -libm.M_2_SQRTPI * libm.exp(-x * x) if partial else libm.erfc(x)
    elif op == OP_SIGMOID:  return y * (1.0 - y) if partial else sigmoid_of(x)
    # Piecewise constant: derivative 0 everywhere (also at the jumps).
    elif op == OP_SIGN:     return 0.0 if partial else sign_of(x)
    elif op == OP_FLOOR:    return 0.0 if partial else libm.floor(x)
    elif op == OP_CEIL:     return 0.0 if partial else libm.ceil(x)
    elif op == OP_TRUNC:    return 0.0 if partial else libm.trunc(x)
    elif op == OP_RINT:     return 0.0 if partial else libm.rint(x)      # ties to even, as np.rint
    return 0.0  # OP_INPUT and binary opcodes never reach here


# binary_rule(op, a, b, y, part): op(a, b) for part == VALUE, else the
# partial derivative with respect to a (WRT_A) or b (WRT_B), with y = op(a, b).
# op is always the VV opcode; the VC and CV variants share its rule.

cdef inline double binary_rule(int op, double a, double b, double y, int part) noexcept nogil:
    if op == OP_ADD_VV:
        return a + b if part == VALUE else 1.0
    elif op == OP_SUB_VV:
        return a - b if part == VALUE else (1.0 if part == WRT_A else -1.0)
    elif op == OP_MUL_VV:
        return a * b if part == VALUE else (b if part == WRT_A else a)
    elif op == OP_DIV_VV:
        return a / b if part == VALUE else (1.0 / b if part == WRT_A else -y / b)
    elif op == OP_POW_VV:
        return libm.pow(a, b) if part == VALUE else (
            pow_wrt_base(a, b) if part == WRT_A else pow_wrt_exponent(a, y))
    elif op == OP_ATAN2_VV:
        # d atan2(a, b) = (b da - a db) / (a^2 + b^2); 0 at the origin.
        if part == VALUE:
            return libm.atan2(a, b)
        y = a * a + b * b
        if y == 0.0:
            return 0.0
        return b / y if part == WRT_A else -a / y
    elif op == OP_HYPOT_VV:
        # d hypot = (a da + b db) / hypot; 0 at the origin, as abs'(0).
        if part == VALUE:
            return libm.hypot(a, b)
        if y == 0.0:
            return 0.0
        return a / y if part == WRT_A else b / y
    elif op == OP_MAXIMUM_VV:
        # Ties go to the first argument; nan propagates, as np.maximum.
        if a >= b or libm.isnan(a):
            return a if part == VALUE else (1.0 if part == WRT_A else 0.0)
        return b if part == VALUE else (0.0 if part == WRT_A else 1.0)
    elif op == OP_MINIMUM_VV:
        if a <= b or libm.isnan(a):
            return a if part == VALUE else (1.0 if part == WRT_A else 0.0)
        return b if part == VALUE else (0.0 if part == WRT_A else 1.0)
    elif op == OP_LOGADDEXP_VV:
        # Softmax weights; 1/2 each on ties, where a - y would be nan for
        # two equal infinities.
        if part == VALUE:
            return logaddexp_of(a, b)
        if a == b:
            return 0.5
        return libm.exp(a - y) if part == WRT_A else libm.exp(b - y)
    elif op == OP_FLOORDIV_VV:
        return floor_divide_of(a, b) if part == VALUE else 0.0
    elif op == OP_MOD_VV:
        # a % b = a - b * floor(a / b): 1 in a, -floor(a / b) in b.
        return remainder_of(a, b) if part == VALUE else (
            1.0 if part == WRT_A else -floor_divide_of(a, b))
    return 0.0


# ---- second derivatives (for Hessian-vector products) -------------------------
# unary_second(op, x, y) is d2y/dx2; binary_second(op, a, b, y, part) the
# second partials d2y/da2 (WRT_AA), d2y/dadb (WRT_AB), d2y/db2 (WRT_BB).
# They follow the first-derivative conventions: 0 wherever the first
# derivative is pinned to a convention (abs at 0, hypot and arctan2 at the
# origin, pow at a == 0 or b == 0).

cdef enum:
    WRT_AA = 0
    WRT_AB = 1
    WRT_BB = 2


cdef inline double unary_second(int op, double x, double y) noexcept nogil:
    cdef double t
    if op == OP_SQUARE:     return 2.0
    elif op == OP_SQRT:     return -0.25 / (y * y * y)
    elif op == OP_CBRT:     return -2.0 / (9.0 * y * y * y * y * y)
    elif op == OP_EXP:      return y
    elif op == OP_EXP2:     return y * libm.M_LN2 * libm.M_LN2
    elif op == OP_EXPM1:    return y + 1.0
    elif op == OP_LOG:      return -1.0 / (x * x)
    elif op == OP_LOG2:     return -1.0 / (x * x * libm.M_LN2)
    elif op == OP_LOG10:    return -1.0 / (x * x * libm.M_LN10)
    elif op == OP_LOG1P:    return -1.0 / ((1.0 + x) * (1.0 + x))
    elif op == OP_SIN:      return -y
    elif op == OP_COS:      return -y
    elif op == OP_TAN:      return 2.0 * y * (1.0 + y * y)
    elif op == OP_ARCSIN:
        t = (1.0 - x) * (1.0 + x)
        return x / (t * libm.sqrt(t))
    elif op == OP_ARCCOS:
        t = (1.0 - x) * (1.0 + x)
        return -x / (t * libm.sqrt(t))
    elif op == OP_ARCTAN:
        t = 1.0 + x * x
        return -2.0 * x / (t * t)
    elif op == OP_SINH:     return y
    elif op == OP_COSH:     return y
    elif op == OP_TANH:     return -2.0 * y * (1.0 - y * y)
    elif op == OP_ARCSINH:
        t = libm.hypot(x, 1.0)
        return -x / (t * t * t)
    elif op == OP_ARCCOSH:
        t = libm.sqrt(x - 1.0) * libm.sqrt(x + 1.0)
        return -x / (t * t * t)
    elif op == OP_ARCTANH:
        t = (1.0 - x) * (1.0 + x)
        return 2.0 * x / (t * t)
    elif op == OP_ERF:      return -2.0 * x * libm.M_2_SQRTPI * libm.exp(-x * x)
    elif op == OP_ERFC:     return 2.0 * x * libm.M_2_SQRTPI * libm.exp(-x * x)
    elif op == OP_SIGMOID:  return y * (1.0 - y) * (1.0 - 2.0 * y)
    return 0.0  # neg, abs, sign, floor, ceil, trunc, rint: linear or piecewise constant


cdef inline double binary_second(int op, double a, double b, double y, int part) noexcept nogil:
    cdef double r, s
    if op == OP_MUL_VV:
        return 1.0 if part == WRT_AB else 0.0
    elif op == OP_DIV_VV:
        if part == WRT_AA:
            return 0.0
        return -1.0 / (b * b) if part == WRT_AB else 2.0 * y / (b * b)
    elif op == OP_POW_VV:
        if part == WRT_AA:
            return 0.0 if b == 0.0 or b == 1.0 else b * (b - 1.0) * libm.pow(a, b - 2.0)
        if a == 0.0:
            return 0.0
        if part == WRT_AB:
            return libm.pow(a, b - 1.0) * (1.0 + b * libm.log(a))
        return y * libm.log(a) * libm.log(a)
    elif op == OP_ATAN2_VV:
        r = a * a + b * b
        if r == 0.0:
            return 0.0
        if part == WRT_AB:
            return (a * a - b * b) / (r * r)
        return -2.0 * a * b / (r * r) if part == WRT_AA else 2.0 * a * b / (r * r)
    elif op == OP_HYPOT_VV:
        if y == 0.0:
            return 0.0
        r = y * y * y
        if part == WRT_AA:
            return b * b / r
        return -a * b / r if part == WRT_AB else a * a / r
    elif op == OP_LOGADDEXP_VV:
        s = 0.5 if a == b else libm.exp(a - y)
        return -s * (1.0 - s) if part == WRT_AB else s * (1.0 - s)
    return 0.0  # add, subtract, maximum, minimum, floor_divide, remainder


cdef inline bint is_unary(int op) noexcept nogil:
    return FIRST_UNARY <= op < FIRST_BINARY


cdef inline int binary_base(int op) noexcept nogil:
    # The VV opcode of a binary opcode.
    return op - (op - FIRST_BINARY) % 3


def _check_op_table():
    """Fail at import if OP_NAMES and the opcode enum disagree."""
    cdef int n_binary = (N_OPS - FIRST_BINARY) // 3
    expected = FIRST_BINARY + n_binary
    if (N_OPS - FIRST_BINARY) % 3 or len(OP_NAMES) != expected:
        raise ImportError(
            f"fastad: opcode table is inconsistent ({len(OP_NAMES)} names, "
            f"{expected} operations)")

_check_op_table()


def opcode_table():
    """The operations of the tape, for tests and introspection.

    Returns
    -------
    list of tuple
        ``(name, arity, opcodes)`` per operation: arity 0 for the input
        entry, 1 for unary and 2 for binary operations, whose three opcodes
        are the variable-variable, variable-constant and constant-variable
        variants.
    """
    rows = [(OP_NAMES[0], 0, (OP_INPUT,))]
    for op in range(FIRST_UNARY, FIRST_BINARY):
        rows.append((OP_NAMES[op], 1, (op,)))
    for k, op in enumerate(range(FIRST_BINARY, N_OPS, 3)):
        rows.append((OP_NAMES[FIRST_BINARY + k], 2, (op, op + 1, op + 2)))
    return rows


def _evaluate_rule(int op, double a, double b=0.0):
    """Value and partial derivatives of one opcode at plain numbers (tests).

    Returns ``(value, d/da)`` for a unary opcode and ``(value, d/da, d/db)``
    for the VV opcode of a binary operation.
    """
    cdef double y
    if is_unary(op):
        y = unary_rule(op, a, 0.0, False)
        return y, unary_rule(op, a, y, True)
    if op < FIRST_BINARY or op >= N_OPS or binary_base(op) != op:
        raise ValueError(f"not a unary or a VV binary opcode: {op}")
    y = binary_rule(op, a, b, 0.0, VALUE)
    return y, binary_rule(op, a, b, y, WRT_A), binary_rule(op, a, b, y, WRT_B)
