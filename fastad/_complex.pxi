# Complex values as pairs of real parts. A ComplexVar holds its real and
# imaginary part, each a Var or a float constant, and expands every complex
# operation into real operations on the parts at record time. The tape, the
# opcode table and every sweep therefore stay real: replay, forward mode,
# second order and nesting work on complex code unchanged, and a complex
# input is two input entries (Re, Im), which is the real-pair convention of
# the transforms.
#
# A constant part stays a float: a real Var times a complex constant
# records two products, not four, and x * 0.0 is the constant 0.0 (the one
# place where IEEE inf/nan propagation is not followed: inf * 0 would be
# nan).

from cpython.complex cimport PyComplex_RealAsDouble, PyComplex_ImagAsDouble

# ---- arithmetic on parts (a part is exactly a Var or a float) -----------------------

cdef inline bint is_zero(object p) noexcept:
    return type(p) is float and PyFloat_AS_DOUBLE(p) == 0.0


cdef inline bint is_one(object p) noexcept:
    return type(p) is float and PyFloat_AS_DOUBLE(p) == 1.0


cdef object part_binary(int vv_op, object a, object b):
    """a (op) b for parts: a recorded Var if either is a Var, else a float."""
    if type(a) is Var:
        return record_binary(vv_op, <Var>a, b, False)
    if type(b) is Var:
        return record_binary(vv_op, <Var>b, a, True)
    return binary_rule(vv_op, PyFloat_AS_DOUBLE(a), PyFloat_AS_DOUBLE(b), 0.0, VALUE)


cdef object part_unary(int op, object a):
    if type(a) is Var:
        return record_unary(op, <Var>a)
    return unary_rule(op, PyFloat_AS_DOUBLE(a), 0.0, False)


cdef object part_add(object a, object b):
    if is_zero(b):
        return a
    if is_zero(a):
        return b
    return part_binary(OP_ADD_VV, a, b)


cdef object part_sub(object a, object b):
    if is_zero(b):
        return a
    if is_zero(a):
        return part_unary(OP_NEG, b)
    return part_binary(OP_SUB_VV, a, b)


cdef object part_mul(object a, object b):
    if is_zero(a) or is_zero(b):
        return 0.0
    if is_one(a):
        return b
    if is_one(b):
        return a
    return part_binary(OP_MUL_VV, a, b)


cdef object part_div(object a, object b):
    if is_one(b):
        return a
    if is_zero(a) and type(b) is Var:
        return 0.0
    return part_binary(OP_DIV_VV, a, b)


cdef inline double part_value(object p):
    return (<Var>p)._value if type(p) is Var else PyFloat_AS_DOUBLE(p)


# ---- the complex proxy ----------------------------------------------------------------

cdef inline ComplexVar make_complex(object re, object im):
    """A ComplexVar of two parts (each already a Var or a float)."""
    cdef ComplexVar z = ComplexVar.__new__(ComplexVar)
    z.re = re
    z.im = im
    return z


cdef object as_part(object x):
    """A real operand as a part (Var or float), or None if x is not real."""
    if type(x) is Var or type(x) is float:
        return x
    return as_real_number_or_none(x)


cdef inline ComplexVar common_operand(object x):
    """x as a ComplexVar for the common operand types, else None."""
    if type(x) is ComplexVar:
        return <ComplexVar>x
    if type(x) is complex:
        return make_complex(PyComplex_RealAsDouble(x), PyComplex_ImagAsDouble(x))
    if type(x) is Var or type(x) is float:
        return make_complex(x, 0.0)
    return None


cdef ComplexVar as_complex_operand(object x):
    """x as a ComplexVar, or None if it is not a number, Var or ComplexVar."""
    cdef ComplexVar common = common_operand(x)
    if common is not None:
        return common
    if PyComplex_Check(x) or isinstance(x, np.complexfloating):
        return make_complex(float(x.real), float(x.imag))
    real = as_real_number_or_none(x)
    if real is None:
        if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind == "c":
            return make_complex(float(x.real), float(x.imag))
        return None
    return make_complex(real, 0.0)


# The binary operations with a complex meaning; Python's complex has no //,
# % or divmod either.
cdef dict _COMPLEX_UFUNCS = {
    OP_ADD_VV: np.add, OP_SUB_VV: np.subtract, OP_MUL_VV: np.multiply,
    OP_DIV_VV: np.true_divide, OP_POW_VV: np.power,
}


cdef object complex_binary(int vv_op, object a, object b):
    """a (op) b where one of them is complex; NotImplemented for foreign types."""
    cdef ComplexVar x = None, y = None
    if type(a) is ComplexVar:
        x = <ComplexVar>a
        if type(b) is ComplexVar:
            y = <ComplexVar>b
        elif type(b) is Var or type(b) is float:
            # A real operand acts on each part: no temporary ComplexVar.
            if vv_op == OP_ADD_VV:
                return make_complex(part_add(x.re, b), x.im)
            if vv_op == OP_SUB_VV:
                return make_complex(part_sub(x.re, b), x.im)
            if vv_op == OP_MUL_VV:
                return make_complex(part_mul(x.re, b), part_mul(x.im, b))
            if vv_op == OP_DIV_VV:
                return make_complex(part_div(x.re, b), part_div(x.im, b))
    elif type(b) is ComplexVar and (type(a) is Var or type(a) is float):
        y = <ComplexVar>b
        if vv_op == OP_ADD_VV:
            return make_complex(part_add(a, y.re), y.im)
        if vv_op == OP_MUL_VV:
            return make_complex(part_mul(a, y.re), part_mul(a, y.im))
    if x is None:
        x = common_operand(a)
    if y is None:
        y = common_operand(b)
    if x is None or y is None:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            # Elementwise through NumPy's object loop (which calls back here).
            ufunc = _COMPLEX_UFUNCS.get(vv_op)
            if ufunc is None:
                return NotImplemented
            return ufunc(np.asarray(a, dtype=object) if type(a) is ComplexVar else a,
                         np.asarray(b, dtype=object) if type(b) is ComplexVar else b)
        if x is None:
            x = as_complex_operand(a)
        if y is None:
            y = as_complex_operand(b)
        if x is None or y is None:
            return NotImplemented
    if vv_op == OP_MUL_VV:
        return complex_mul(x, y)
    if vv_op == OP_ADD_VV:
        return make_complex(part_add(x.re, y.re), part_add(x.im, y.im))
    if vv_op == OP_SUB_VV:
        return make_complex(part_sub(x.re, y.re), part_sub(x.im, y.im))
    if vv_op == OP_DIV_VV:
        return complex_div(x, y)
    if vv_op == OP_POW_VV:
        return complex_pow(x, y)
    raise TypeError(
        f"{OP_NAMES[FIRST_BINARY + (vv_op - FIRST_BINARY) // 3]} is not defined for "
        f"complex numbers")


cdef inline Tape direct_tape(ComplexVar z):
    """z's tape when both parts are Vars of one tape recording in this
    thread (the common case, whose products can be pushed directly, without
    the checks and the intermediate Vars of the part-by-part path)."""
    cdef Tape tape
    if type(z.re) is not Var or type(z.im) is not Var:
        return None
    tape = (<Var>z.re).tape
    if (<Var>z.im).tape is not tape or not recording_here(tape):
        return None
    return tape


cdef inline bint is_nonzero_constant(ComplexVar k) noexcept:
    return type(k.re) is float and type(k.im) is float and \
        PyFloat_AS_DOUBLE(k.re) != 0.0 and PyFloat_AS_DOUBLE(k.im) != 0.0


cdef inline ComplexVar push_product(Tape tape, op_t mul, index_t a, index_t b, value_t a_value,
                             value_t b_value, Var c, Var d):
    """(a + ib)(c + id) = (ac - bd) + i(ad + bc) pushed directly: the four
    products (of kind mul: a and b are entries, or constant-pool slots) and
    the two sums that the part-by-part path records, with Vars made only
    for the two results."""
    cdef value_t ac = binary_rule(OP_MUL_VV, a_value, c._value, 0.0, VALUE)
    cdef value_t bd = binary_rule(OP_MUL_VV, b_value, d._value, 0.0, VALUE)
    cdef value_t ad = binary_rule(OP_MUL_VV, a_value, d._value, 0.0, VALUE)
    cdef value_t bc = binary_rule(OP_MUL_VV, b_value, c._value, 0.0, VALUE)
    cdef value_t re = binary_rule(OP_SUB_VV, ac, bd, 0.0, VALUE)
    cdef value_t im = binary_rule(OP_ADD_VV, ad, bc, 0.0, VALUE)
    cdef index_t i_ac = tape.push(mul, a, c.index, ac)
    cdef index_t i_bd = tape.push(mul, b, d.index, bd)
    cdef index_t i_ad = tape.push(mul, a, d.index, ad)
    cdef index_t i_bc = tape.push(mul, b, c.index, bc)
    return make_complex(make_var(tape, tape.push(OP_SUB_VV, i_ac, i_bd, re), re),
                        make_var(tape, tape.push(OP_ADD_VV, i_ad, i_bc, im), im))


cdef ComplexVar constant_times(Tape tape, ComplexVar k, ComplexVar z):
    """k * z for a complex constant k with no zero part, pushed directly."""
    cdef value_t p = PyFloat_AS_DOUBLE(k.re), q = PyFloat_AS_DOUBLE(k.im)
    return push_product(tape, <op_t>(OP_MUL_VV + KIND_CV), tape.push_const(p),
                        tape.push_const(q), p, q, <Var>z.re, <Var>z.im)


cdef ComplexVar complex_mul(ComplexVar x, ComplexVar y):
    # (a + ib)(c + id) = (ac - bd) + i(ad + bc)
    cdef Tape tape = direct_tape(y)
    if tape is not None:
        if direct_tape(x) is tape:
            return push_product(tape, OP_MUL_VV, (<Var>x.re).index, (<Var>x.im).index,
                                (<Var>x.re)._value, (<Var>x.im)._value, <Var>y.re, <Var>y.im)
        if is_nonzero_constant(x):
            return constant_times(tape, x, y)
    elif is_nonzero_constant(y):
        tape = direct_tape(x)
        if tape is not None:
            return constant_times(tape, y, x)
    return make_complex(part_sub(part_mul(x.re, y.re), part_mul(x.im, y.im)),
                        part_add(part_mul(x.re, y.im), part_mul(x.im, y.re)))


cdef ComplexVar complex_div(ComplexVar x, ComplexVar y):
    cdef object scale, u, v
    if is_zero(y.im):
        return make_complex(part_div(x.re, y.re), part_div(x.im, y.re))
    if type(y.re) is float and type(y.im) is float:
        # A constant divisor: multiply by its reciprocal, computed once
        # (Python's complex division scales against overflow).
        r = 1.0 / complex(PyFloat_AS_DOUBLE(y.re), PyFloat_AS_DOUBLE(y.im))
        return complex_mul(x, make_complex(r.real, r.imag))
    # x / w = x conj(w/r) / r with r = |w| by hypot: the same number of
    # entries as dividing by c^2 + d^2, which would overflow (or underflow)
    # for |w| beyond 1e154 (below 1e-154) where the quotient is fine.
    scale = part_binary(OP_HYPOT_VV, y.re, y.im)
    u = part_div(y.re, scale)
    v = part_div(y.im, scale)
    return make_complex(
        part_div(part_add(part_mul(x.re, u), part_mul(x.im, v)), scale),
        part_div(part_sub(part_mul(x.im, u), part_mul(x.re, v)), scale))


cdef ComplexVar complex_integer_power(ComplexVar x, long n):
    """x**n by repeated squaring (as Python's complex power does for small
    integer exponents): exact where multiplication is, and defined at 0."""
    cdef ComplexVar result = None
    cdef ComplexVar square = x
    cdef long m = n if n >= 0 else -n
    if m == 0:
        return make_complex(1.0, 0.0)
    while True:
        if m & 1:
            result = square if result is None else complex_mul(result, square)
        m >>= 1
        if m == 0:
            break
        square = complex_mul(square, square)
    if n < 0:
        return complex_div(make_complex(1.0, 0.0), result)
    return result


cdef ComplexVar complex_pow(ComplexVar x, ComplexVar y):
    cdef double e
    if type(y.re) is float and is_zero(y.im):
        e = PyFloat_AS_DOUBLE(y.re)
        if e == libm.floor(e) and libm.fabs(e) <= 100.0:
            return complex_integer_power(x, <long>e)
    if type(x.re) is float and type(x.im) is float and \
            PyFloat_AS_DOUBLE(x.re) == 0.0 and PyFloat_AS_DOUBLE(x.im) == 0.0:
        # A constant zero base, as Python's complex power: 0 for a positive
        # real exponent, undefined otherwise.
        if type(y.re) is float and is_zero(y.im) and PyFloat_AS_DOUBLE(y.re) > 0.0:
            return make_complex(0.0, 0.0)
        raise ZeroDivisionError("0 to a negative or complex power")
    # x**y = exp(y log x), on the principal branch of log
    return complex_unary(OP_EXP, complex_mul(y, complex_unary(OP_LOG, x)))


# The functions with a complex rule below; abs and the four operators are
# the rest of what a complex value supports.
cdef frozenset _COMPLEX_FUNCTIONS = frozenset([
    OP_NEG, OP_ABS, OP_SQUARE, OP_SQRT, OP_EXP, OP_LOG, OP_LOG2, OP_LOG10,
    OP_SIN, OP_COS, OP_TAN, OP_SINH, OP_COSH, OP_TANH])

# Beyond this |Re z|, cosh(2 Re z) in tanh's rule would overflow; tanh(z)
# there is sign(Re z) to within 4 exp(-2 |Re z|) < 2**-100.
cdef double TANH_SATURATION = 36.0


cdef object complex_unary(int op, ComplexVar z):
    """The function op of z: a ComplexVar (a real part for abs)."""
    cdef object a = z.re, b = z.im, t, r, theta, d
    cdef ComplexVar w
    if op == OP_NEG:
        return make_complex(part_sub(0.0, a), part_sub(0.0, b))
    if op == OP_ABS:
        return part_unary(OP_ABS, a) if is_zero(b) else part_binary(OP_HYPOT_VV, a, b)
    if op == OP_SQUARE:
        return complex_mul(z, z)
    if op == OP_EXP:
        # e^a (cos b + i sin b)
        t = part_unary(OP_EXP, a)
        if is_zero(b):
            return make_complex(t, 0.0)
        return make_complex(part_mul(t, part_unary(OP_COS, b)), part_mul(t, part_unary(OP_SIN, b)))
    if op == OP_LOG or op == OP_LOG2 or op == OP_LOG10:
        # log|z| + i arg z, the principal branch (arg in (-pi, pi], as NumPy)
        r = part_unary(OP_ABS, a) if is_zero(b) else part_binary(OP_HYPOT_VV, a, b)
        w = make_complex(part_unary(OP_LOG, r), part_binary(OP_ATAN2_VV, b, a))
        if op == OP_LOG:
            return w
        return complex_mul(w, make_complex(1.0 / libm.log(2.0 if op == OP_LOG2 else 10.0), 0.0))
    if op == OP_SQRT:
        # Polar form sqrt|z| (cos(arg/2) + i sin(arg/2)): no branch to guard,
        # so one recording replays anywhere off the negative real axis.
        r = part_unary(OP_SQRT, part_binary(OP_HYPOT_VV, a, b))
        theta = part_mul(part_binary(OP_ATAN2_VV, b, a), 0.5)
        return make_complex(part_mul(r, part_unary(OP_COS, theta)),
                            part_mul(r, part_unary(OP_SIN, theta)))
    if op == OP_SIN:
        # sin a cosh b + i cos a sinh b
        if is_zero(b):
            return make_complex(part_unary(OP_SIN, a), 0.0)
        return make_complex(part_mul(part_unary(OP_SIN, a), part_unary(OP_COSH, b)),
                            part_mul(part_unary(OP_COS, a), part_unary(OP_SINH, b)))
    if op == OP_COS:
        # cos a cosh b - i sin a sinh b
        if is_zero(b):
            return make_complex(part_unary(OP_COS, a), 0.0)
        return make_complex(part_mul(part_unary(OP_COS, a), part_unary(OP_COSH, b)),
                            part_unary(OP_NEG, part_mul(part_unary(OP_SIN, a),
                                                        part_unary(OP_SINH, b))))
    if op == OP_SINH:
        # sinh a cos b + i cosh a sin b
        if is_zero(b):
            return make_complex(part_unary(OP_SINH, a), 0.0)
        return make_complex(part_mul(part_unary(OP_SINH, a), part_unary(OP_COS, b)),
                            part_mul(part_unary(OP_COSH, a), part_unary(OP_SIN, b)))
    if op == OP_COSH:
        # cosh a cos b + i sinh a sin b
        if is_zero(b):
            return make_complex(part_unary(OP_COSH, a), 0.0)
        return make_complex(part_mul(part_unary(OP_COSH, a), part_unary(OP_COS, b)),
                            part_mul(part_unary(OP_SINH, a), part_unary(OP_SIN, b)))
    if op == OP_TANH:
        if is_zero(b):
            return make_complex(part_unary(OP_TANH, a), 0.0)
        if abs_part_exceeds(a, TANH_SATURATION):
            # Im tanh z = sin 2b / (cosh 2a + cos 2b) ~ 2 sin 2b exp(-2|a|)
            return make_complex(
                part_unary(OP_TANH, a),
                part_mul(part_mul(part_unary(OP_SIN, part_mul(b, 2.0)), 2.0),
                         part_unary(OP_EXP, part_mul(part_unary(OP_ABS, a), -2.0))))
        # tanh z = (sinh a cosh a + i sin b cos b) / (sinh^2 a + cos^2 b).
        # The textbook denominator cosh 2a + cos 2b equals twice this one
        # but cancels near the poles (a = 0, b = pi/2 + k pi), losing
        # digits as eps / distance^2; a sum of squares does not, and unlike
        # Kahan's tan-based form it has no tan b whose huge derivative
        # would cancel in the sweeps near b = pi/2.
        r = part_unary(OP_SINH, a)
        t = part_unary(OP_COS, b)
        d = part_add(part_unary(OP_SQUARE, r), part_unary(OP_SQUARE, t))
        return make_complex(part_div(part_mul(r, part_unary(OP_COSH, a)), d),
                            part_div(part_mul(part_unary(OP_SIN, b), t), d))
    if op == OP_TAN:
        # tan z = -i tanh(iz)
        w = complex_unary(OP_TANH, make_complex(part_sub(0.0, b), a))
        return make_complex(w.im, part_sub(0.0, w.re))
    raise TypeError(
        f"fastad.{OP_NAMES[op]} is not defined for complex values here; complex "
        f"Vars support + - * / **, abs, exp, log, log2, log10, sqrt, square, sin, "
        f"cos, tan, sinh, cosh, tanh, .real, .imag and .conjugate()")


cdef bint abs_part_exceeds(object a, double bound) except -1:
    """|a| > bound, recorded as a branch guard when a is a Var."""
    if type(a) is Var:
        return compare(<Var>part_unary(OP_ABS, a), bound, Py_GT)
    return libm.fabs(PyFloat_AS_DOUBLE(a)) > bound


cdef object part_equal(object a, object b):
    if type(a) is Var:
        return compare(<Var>a, b, Py_EQ)
    if type(b) is Var:
        return compare(<Var>b, a, Py_EQ)
    return PyFloat_AS_DOUBLE(a) == PyFloat_AS_DOUBLE(b)


cdef object complex_equal(ComplexVar z, object other):
    cdef ComplexVar w
    if isinstance(other, np.ndarray):
        return np.equal(np.asarray(z, dtype=object), other)
    w = as_complex_operand(other)
    if w is None:
        return NotImplemented
    # Each comparison of a Var part is a branch guard, as for real Vars.
    return bool(part_equal(z.re, w.re)) and bool(part_equal(z.im, w.im))


_NO_ORDER_MESSAGE = (
    "complex values have no order; compare z.real, z.imag or abs(z) instead")


@cython.final
@cython.no_gc
@cython.freelist(1024)
cdef class ComplexVar:
    """A differentiable complex scalar: a pair of real parts on a tape.

    Made by the transforms from a complex argument, and by arithmetic that
    mixes Vars with complex numbers. It supports ``+ - * / **``,
    ``abs()``, ``.real``, ``.imag``, ``.conjugate()``, ``==`` and ``!=``,
    and the complex functions ``exp log log2 log10 sqrt square sin cos
    tan sinh cosh tanh`` (``fastad.exp(z)`` or ``np.exp(z)``). Each
    operation is recorded as real operations on the parts, so every
    transform differentiates it.

    Attributes
    ----------
    value : complex
        The value, a constant to the tape.
    real, imag : Var or float
        The parts: Vars, or floats where a part is a constant.
    """

    cdef object re
    cdef object im

    __array_priority__ = 1000.0

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "fastad.ComplexVar cannot be created directly: differentiate with "
            "respect to a complex argument, or combine a Var with a complex "
            "number (x + 1j * y)")

    @property
    def value(self):
        """The value as a complex: a constant to the tape."""
        return complex(part_value(self.re), part_value(self.im))

    @property
    def real(self):
        """The real part: a Var (a float if it is a constant)."""
        return self.re

    @property
    def imag(self):
        """The imaginary part: a Var (a float if it is a constant)."""
        return self.im

    def conjugate(self):
        """The complex conjugate, recorded."""
        return make_complex(self.re, part_sub(0.0, self.im))

    def conj(self):
        """The complex conjugate, recorded (as ``conjugate``)."""
        return self.conjugate()

    # ---- arithmetic ------------------------------------------------------------

    def __add__(self, other):
        return complex_binary(OP_ADD_VV, self, other)

    def __radd__(self, other):
        return complex_binary(OP_ADD_VV, other, self)

    def __sub__(self, other):
        return complex_binary(OP_SUB_VV, self, other)

    def __rsub__(self, other):
        return complex_binary(OP_SUB_VV, other, self)

    def __mul__(self, other):
        return complex_binary(OP_MUL_VV, self, other)

    def __rmul__(self, other):
        return complex_binary(OP_MUL_VV, other, self)

    def __truediv__(self, other):
        return complex_binary(OP_DIV_VV, self, other)

    def __rtruediv__(self, other):
        return complex_binary(OP_DIV_VV, other, self)

    def __pow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        return complex_binary(OP_POW_VV, self, other)

    def __rpow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        return complex_binary(OP_POW_VV, other, self)

    def __floordiv__(self, other):
        raise TypeError("// is not defined for complex values (as for Python's complex)")

    def __rfloordiv__(self, other):
        raise TypeError("// is not defined for complex values (as for Python's complex)")

    def __mod__(self, other):
        raise TypeError("% is not defined for complex values (as for Python's complex)")

    def __rmod__(self, other):
        raise TypeError("% is not defined for complex values (as for Python's complex)")

    def __neg__(self):
        return complex_unary(OP_NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return complex_unary(OP_ABS, self)

    # ---- comparisons -------------------------------------------------------------

    def __eq__(self, other):
        return complex_equal(self, other)

    def __ne__(self, other):
        result = complex_equal(self, other)
        if result is NotImplemented or isinstance(result, np.ndarray):
            return result if result is NotImplemented else ~result
        return not result

    def __lt__(self, other):
        raise TypeError(_NO_ORDER_MESSAGE)

    def __le__(self, other):
        raise TypeError(_NO_ORDER_MESSAGE)

    def __gt__(self, other):
        raise TypeError(_NO_ORDER_MESSAGE)

    def __ge__(self, other):
        raise TypeError(_NO_ORDER_MESSAGE)

    __hash__ = None

    def __bool__(self):
        return not complex_equal(self, 0.0)

    # ---- conversions that would lose the derivative -------------------------------

    def __complex__(self):
        raise TypeError(_DROP_MESSAGE.format(what="complex(z)"))

    def __float__(self):
        raise TypeError(_DROP_MESSAGE.format(what="float(z) of a complex value"))

    def __int__(self):
        raise TypeError(_DROP_MESSAGE.format(what="int(z) of a complex value"))

    def __index__(self):
        raise TypeError(_DROP_MESSAGE.format(what="using a complex Var as an index"))

    # ---- methods NumPy's object-array loops call (np.exp(z), np.conj(zs)) ---------

    def exp(self):
        """np.exp of this value, recorded."""
        return complex_unary(OP_EXP, self)
    def log(self):
        """np.log (principal branch) of this value, recorded."""
        return complex_unary(OP_LOG, self)
    def log2(self):
        """np.log2 of this value, recorded."""
        return complex_unary(OP_LOG2, self)
    def log10(self):
        """np.log10 of this value, recorded."""
        return complex_unary(OP_LOG10, self)
    def sqrt(self):
        """np.sqrt (principal branch) of this value, recorded."""
        return complex_unary(OP_SQRT, self)
    def sin(self):
        """np.sin of this value, recorded."""
        return complex_unary(OP_SIN, self)
    def cos(self):
        """np.cos of this value, recorded."""
        return complex_unary(OP_COS, self)
    def tan(self):
        """np.tan of this value, recorded."""
        return complex_unary(OP_TAN, self)
    def sinh(self):
        """np.sinh of this value, recorded."""
        return complex_unary(OP_SINH, self)
    def cosh(self):
        """np.cosh of this value, recorded."""
        return complex_unary(OP_COSH, self)
    def tanh(self):
        """np.tanh of this value, recorded."""
        return complex_unary(OP_TANH, self)

    # ---- display, copying --------------------------------------------------------

    def __repr__(self):
        return f"ComplexVar({self.value!r})"

    def __format__(self, spec):
        if not spec:
            return repr(self)
        return format(self.value, spec)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError(
            "a fastad.ComplexVar cannot be pickled: it lives on a tape; pickle z.value")


cdef int check_real_output(object y) except -1:
    """Raise TypeError unless y (an output that is not a Var) is a real number."""
    if type(y) is ComplexVar or PyComplex_Check(y) or isinstance(y, np.complexfloating):
        raise TypeError(
            "Tape.gradient: y is complex; a gradient needs a real scalar (take "
            "z.real, z.imag or abs(z) ** 2 of a complex result)")
    if as_real_number_or_none(y) is None:
        raise TypeError(f"Tape.gradient: y must be a scalar Var or a number, got {describe(y)}")
    return 0


def _make_complex(re, im):
    """re + 1j*im for parts that are Vars or numbers: a ComplexVar when a
    part is a Var, else a complex (for packing nested results)."""
    re_part = as_part(re)
    im_part = as_part(im)
    if re_part is None or im_part is None:
        raise TypeError(f"complex parts must be real numbers or Vars, got "
                        f"{describe(re)} and {describe(im)}")
    if type(re_part) is not Var and type(im_part) is not Var:
        return complex(re_part, im_part)
    return make_complex(re_part, im_part)


def _complex_parts(z):
    """(real part, imaginary part) of a ComplexVar, complex or real number."""
    w = as_complex_operand(z)
    if w is None:
        raise TypeError(f"expected a number or a Var, got {describe(z)}")
    return w.re, w.im
