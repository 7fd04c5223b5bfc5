# Numeric kernels that the value rules of the rule table (fastad/_rules.py)
# call by name: the functions whose value needs more than one C expression
# (NumPy's conventions at signed zeros, nan and overflow). Each is a plain
# C function of doubles, inlined into the recording path and the sweeps.


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


cdef inline bint compare_values(int how, double a, double b) noexcept nogil:
    """a (how) b for how one of Python's rich comparison codes: the one
    comparison that recording, guard checks and emitted guards share."""
    if how == Py_LT:
        return a < b
    if how == Py_LE:
        return a <= b
    if how == Py_GT:
        return a > b
    if how == Py_GE:
        return a >= b
    if how == Py_EQ:
        return a == b
    return a != b
