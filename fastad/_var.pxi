# The proxy: a Var stands for one tape entry. Each operator picks an opcode,
# computes the value with the forward rule of _ops.pxi and records one entry;
# it holds no calculus of its own. The hot path for Var-Var and Var-float
# operations is: two type checks, one recording check, one push, one
# allocation from the freelist.

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.long cimport PyLong_AsDouble, PyLong_Check
from cpython.complex cimport PyComplex_Check
from cpython.object cimport Py_LT, Py_LE, Py_GT, Py_GE, Py_EQ, Py_NE, PyObject_RichCompare


_DROP_MESSAGE = (
    "{what} would drop the derivative of a fastad.Var. Use v.value for its "
    "number, or the fastad or NumPy function (fastad.sin, np.exp, ...) instead "
    "of math's to keep the derivative")


cdef inline Var make_var(Tape tape, index_t index, value_t value):
    cdef Var v = Var.__new__(Var)
    v.tape = tape
    v.index = index
    v._value = value
    return v


@cython.final
@cython.no_gc
# Vars kept for reuse: loops drop most Vars as soon as the next one is made,
# so a modest list serves almost every allocation.
@cython.freelist(4096)
cdef class Var:
    """A differentiable scalar: a value and its place on a tape.

    Vars are made by the transforms (``grad``, ...) and by ``Tape.var``; the
    function being differentiated computes with them like with floats.
    Arithmetic, comparisons, NumPy ufuncs and the ``fastad`` elementwise
    functions accept them; ``float(v)``, ``math.sin(v)`` and the like raise
    ``TypeError`` since they would lose the derivative.

    Attributes
    ----------
    value : float
        The value. Reading it gives a plain float, a constant to the tape:
        derivatives do not flow through it and a branch on it is not
        recorded.
    """

    cdef Tape tape
    cdef index_t index
    cdef value_t _value

    @property
    def value(self):
        """The value as a float: a constant to the tape (no derivative flows
        through it, and a branch on it is not recorded)."""
        return self._value

    # Makes NumPy arrays and NumPy scalars return NotImplemented from their
    # operators when the other operand is a Var, so `W[i, j] * x` reaches
    # Var.__rmul__ instead of NumPy's object-array machinery. Measured in
    # benchmarks/RESULTS.md (NumPy dispatch): an __array_ufunc__ method
    # would send np.float64 * Var through the ufunc dispatcher (~1.5x
    # slower still); __array_ufunc__ = None defers fastest but makes
    # np.sin(v) raise, which the API requires to work.
    __array_priority__ = 1000.0

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "fastad.Var cannot be created directly: use fastad.grad (and the "
            "other transforms) or Tape.var")

    # ---- arithmetic ------------------------------------------------------------

    def __add__(self, other):
        return record_binary(OP_ADD_VV, self, other, False)

    def __radd__(self, other):
        return record_binary(OP_ADD_VV, self, other, True)

    def __sub__(self, other):
        return record_binary(OP_SUB_VV, self, other, False)

    def __rsub__(self, other):
        return record_binary(OP_SUB_VV, self, other, True)

    def __mul__(self, other):
        return record_binary(OP_MUL_VV, self, other, False)

    def __rmul__(self, other):
        return record_binary(OP_MUL_VV, self, other, True)

    def __truediv__(self, other):
        return record_binary(OP_DIV_VV, self, other, False)

    def __rtruediv__(self, other):
        return record_binary(OP_DIV_VV, self, other, True)

    def __floordiv__(self, other):
        return record_binary(OP_FLOORDIV_VV, self, other, False)

    def __rfloordiv__(self, other):
        return record_binary(OP_FLOORDIV_VV, self, other, True)

    def __mod__(self, other):
        return record_binary(OP_MOD_VV, self, other, False)

    def __rmod__(self, other):
        return record_binary(OP_MOD_VV, self, other, True)

    def __divmod__(self, other):
        return self // other, self % other

    def __rdivmod__(self, other):
        return other // self, other % self

    def __pow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        # x**2 is the most common power: record it as a square, whose value
        # x*x equals pow(x, 2) exactly and whose sweep needs no pow().
        if (type(other) is int or type(other) is float) and other == 2:
            return record_unary(OP_SQUARE, self)
        return record_binary(OP_POW_VV, self, other, False)

    def __rpow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        return record_binary(OP_POW_VV, self, other, True)

    def __neg__(self):
        return record_unary(OP_NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return record_unary(OP_ABS, self)

    def __floor__(self):
        return record_unary(OP_FLOOR, self)

    def __ceil__(self):
        return record_unary(OP_CEIL, self)

    def __trunc__(self):
        return record_unary(OP_TRUNC, self)

    # ---- comparisons: plain bools, so `if x > 0:` works ------------------------

    def __lt__(self, other):
        return compare(self, other, Py_LT)

    def __le__(self, other):
        return compare(self, other, Py_LE)

    def __gt__(self, other):
        return compare(self, other, Py_GT)

    def __ge__(self, other):
        return compare(self, other, Py_GE)

    def __eq__(self, other):
        return compare(self, other, Py_EQ)

    def __ne__(self, other):
        return compare(self, other, Py_NE)

    # Value-based equality makes a Var unhashable, as a float-like value
    # that changes meaning with the point should be.
    __hash__ = None

    def __bool__(self):
        return compare(self, 0.0, Py_NE)  # `if x:` is a branch: guarded

    # ---- conversions that would lose the derivative -----------------------------

    def __float__(self):
        raise TypeError(_DROP_MESSAGE.format(
            what="float(v) (also math.sin(v), other math functions, and storing "
                 "a Var in a float array: make the array with dtype=object)"))

    def __int__(self):
        raise TypeError(_DROP_MESSAGE.format(what="int(v)"))

    def __index__(self):
        raise TypeError(_DROP_MESSAGE.format(what="using a Var as an integer index"))

    def __complex__(self):
        raise TypeError(_DROP_MESSAGE.format(what="complex(v)"))

    def __round__(self, ndigits=None):
        """Round half to even, as np.round; a Var with derivative 0."""
        if ndigits is None or ndigits == 0:
            return record_unary(OP_RINT, self)
        scale = 10.0 ** ndigits
        return record_unary(OP_RINT, self * scale) / scale

    # ---- real-number protocol --------------------------------------------------

    @property
    def real(self):
        """The Var itself (it is real)."""
        return self

    @property
    def imag(self):
        """0.0 (a real Var has no imaginary part)."""
        return 0.0

    def conjugate(self):
        """The Var itself (it is real)."""
        return self

    # ---- methods NumPy's object-array loops call (np.sin(v), np.exp(xs)) -------

    def sin(self):
        """np.sin of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_SIN, self)
    def cos(self):
        """np.cos of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_COS, self)
    def tan(self):
        """np.tan of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_TAN, self)
    def arcsin(self):
        """np.arcsin of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ARCSIN, self)
    def arccos(self):
        """np.arccos of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ARCCOS, self)
    def arctan(self):
        """np.arctan of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ARCTAN, self)
    def sinh(self):
        """np.sinh of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_SINH, self)
    def cosh(self):
        """np.cosh of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_COSH, self)
    def tanh(self):
        """np.tanh of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_TANH, self)
    def arcsinh(self):
        """np.arcsinh of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ARCSINH, self)
    def arccosh(self):
        """np.arccosh of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ARCCOSH, self)
    def arctanh(self):
        """np.arctanh of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ARCTANH, self)
    def exp(self):
        """np.exp of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_EXP, self)
    def exp2(self):
        """np.exp2 of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_EXP2, self)
    def expm1(self):
        """np.expm1 of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_EXPM1, self)
    def log(self):
        """np.log of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_LOG, self)
    def log2(self):
        """np.log2 of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_LOG2, self)
    def log10(self):
        """np.log10 of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_LOG10, self)
    def log1p(self):
        """np.log1p of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_LOG1P, self)
    def sqrt(self):
        """np.sqrt of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_SQRT, self)
    def cbrt(self):
        """np.cbrt of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_CBRT, self)
    def fabs(self):
        """np.fabs of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_ABS, self)
    def rint(self):
        """np.rint of this Var, recorded (NumPy's object-array loops call it)."""
        return record_unary(OP_RINT, self)
    def deg2rad(self):
        """np.deg2rad of this Var, recorded (NumPy's object-array loops call it)."""
        return self * (np.pi / 180.0)
    def rad2deg(self):
        """np.rad2deg of this Var, recorded (NumPy's object-array loops call it)."""
        return self * (180.0 / np.pi)
    def radians(self):
        """np.radians of this Var, recorded (NumPy's object-array loops call it)."""
        return self * (np.pi / 180.0)
    def degrees(self):
        """np.degrees of this Var, recorded (NumPy's object-array loops call it)."""
        return self * (180.0 / np.pi)
    def arctan2(self, other):
        """np.arctan2 of this Var, recorded (NumPy's object-array loops call it)."""
        return record_binary(OP_ATAN2_VV, self, other, False)
    def hypot(self, other):
        """np.hypot of this Var, recorded (NumPy's object-array loops call it)."""
        return record_binary(OP_HYPOT_VV, self, other, False)

    def _tape_is(self, Tape tape):
        """Whether this Var was recorded on `tape` (for the transforms)."""
        return self.tape is tape

    # ---- display ---------------------------------------------------------------

    def __repr__(self):
        return f"Var({self._value!r})"

    def __format__(self, spec):
        if not spec:
            return repr(self)
        return format(self._value, spec)

    # ---- copying and pickling ----------------------------------------------------

    def __copy__(self):
        return self  # Vars are immutable

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError(
            "a fastad.Var cannot be pickled: it lives on a tape; pickle v.value")


# ---- recording ------------------------------------------------------------------

cdef inline bint recording_here(Tape tape) noexcept:
    """Whether tape is recording in this thread (the check of every operation).

    None is a tape that never records: a Var made by calling Var.__new__
    directly has no tape.
    """
    return tape is not None and tape.recording and tape.thread_ident == fastad_thread_id()


cdef int check_var_recording(Var x) except -1:
    """Raise the error that explains why x's tape cannot record now."""
    if x.tape is None:
        raise TapeError("this Var was not made by a tape (use a transform or Tape.var)")
    return x.tape.check_recording()


# The record functions below are small and inline so that each operator
# method gets its own copy with a constant opcode, in which the compiler
# folds the rule of _ops.pxi down to one expression. Everything unusual
# (ints, subclasses, NumPy scalars, arrays, errors) is out of line.

cdef inline object record_unary(int op, Var x):
    cdef Tape tape = x.tape
    cdef value_t y
    if not recording_here(tape):
        check_var_recording(x)
    y = unary_rule(op, x._value, 0.0, False)
    return make_var(tape, tape.push(<op_t>op, x.index, 0, y), y)


cdef inline object record_binary(int vv_op, Var x, object other, bint reflected):
    """x (op) other, or other (op) x when reflected."""
    cdef Tape tape = x.tape
    cdef Var y
    cdef value_t v
    if type(other) is Var:
        # Both operands are Vars, so Python called x's left-hand method.
        y = <Var>other
        if y.tape is not tape or not recording_here(tape):
            x, y = reconcile(x, y)
            tape = x.tape
        v = binary_rule(vv_op, x._value, y._value, 0.0, VALUE)
        return make_var(tape, tape.push(<op_t>vv_op, x.index, y.index, v), v)
    if type(other) is float:
        return record_with_constant(vv_op, x, PyFloat_AS_DOUBLE(other), reflected)
    if type(other) is int:
        # OverflowError past the float range
        return record_with_constant(vv_op, x, PyLong_AsDouble(other), reflected)
    return record_binary_other(vv_op, x, other, reflected)


cdef inline object record_with_constant(int vv_op, Var x, value_t c, bint reflected):
    cdef Tape tape = x.tape
    cdef value_t v
    cdef index_t k
    if not recording_here(tape):
        check_var_recording(x)
    k = tape.push_const(c)
    if reflected:
        v = binary_rule(vv_op, c, x._value, 0.0, VALUE)
        return make_var(tape, tape.push(<op_t>(vv_op + KIND_CV), k, x.index, v), v)
    v = binary_rule(vv_op, x._value, c, 0.0, VALUE)
    return make_var(tape, tape.push(<op_t>(vv_op + KIND_VC), x.index, k, v), v)


# NumPy's functions for the binary operators, used when the other operand is
# an array: calling the ufunc directly maps the operation over the elements
# (an operator would hand the call back to the Var because of
# __array_priority__).
_BINARY_UFUNCS = {
    OP_ADD_VV: np.add, OP_SUB_VV: np.subtract, OP_MUL_VV: np.multiply,
    OP_DIV_VV: np.true_divide, OP_POW_VV: np.power,
    OP_FLOORDIV_VV: np.floor_divide, OP_MOD_VV: np.remainder,
    OP_ATAN2_VV: np.arctan2, OP_HYPOT_VV: np.hypot,
}


cdef object record_binary_other(int vv_op, Var x, object other, bint reflected):
    """The slow path: float and int subclasses, NumPy scalars, arrays."""
    cdef value_t c
    if PyFloat_Check(other):  # np.float64 is a float subclass: no conversion
        return record_with_constant(vv_op, x, PyFloat_AS_DOUBLE(other), reflected)
    if isinstance(other, np.ndarray):
        ufunc = _BINARY_UFUNCS.get(vv_op)
        if ufunc is None:
            return NotImplemented
        return ufunc(other, x) if reflected else ufunc(x, other)
    if PyFloat_Check(other) or PyLong_Check(other) or isinstance(other, (np.floating, np.integer, np.bool_)):
        c = float(other)
        return record_with_constant(vv_op, x, c, reflected)
    if PyComplex_Check(other) or isinstance(other, np.complexfloating):
        # A complex constant makes the result complex: see _complex.pxi.
        return complex_binary(vv_op, other, x) if reflected else complex_binary(vv_op, x, other)
    return NotImplemented


cdef tuple reconcile(Var x, Var y):
    """x and y on one tape: the same Vars, or, when one belongs to a tape
    enclosing the other's (nested differentiation), the outer one captured
    onto the inner tape. Raises for finished, foreign or unrelated tapes."""
    cdef Py_ssize_t px, py
    check_var_recording(x)
    check_var_recording(y)
    if x.tape is y.tape:
        return x, y
    px = stack_position(x.tape)
    py = stack_position(y.tape)
    if px < 0 or py < 0:
        raise TapeError("an operation combined Vars of two unrelated tapes")
    if px > py:
        return x, x.tape.capture(y)
    return y.tape.capture(x), y


_COMPARISON_UFUNCS = {
    Py_LT: np.less, Py_LE: np.less_equal, Py_GT: np.greater, Py_GE: np.greater_equal,
    Py_EQ: np.equal, Py_NE: np.not_equal,
}


cdef object compare(Var x, object other, int how):
    """x (how) other on values; a plain bool, or a bool array for an array."""
    cdef value_t b
    if type(other) is Var:
        b = (<Var>other)._value
    elif type(other) is float:
        b = PyFloat_AS_DOUBLE(other)
    elif isinstance(other, np.ndarray):
        # Elementwise, as for a float (NumPy hands the comparison back to
        # the Var because of __array_priority__). While recording, every
        # element comparison must pass through compare() to leave a guard.
        if other.dtype != object and recording_here(x.tape):
            other = other.astype(object)
        return _COMPARISON_UFUNCS[how](x if other.dtype == object else x._value, other)
    elif PyLong_Check(other):
        # Exact for ints of any size. The guard needs a float that gives
        # the same outcome for every float x: see int_guard_bound.
        result = PyObject_RichCompare(x._value, other, how)
        record_guard(x, other, how, int_guard_bound(other, how), result is True)
        return result
    elif PyFloat_Check(other) or isinstance(other, (np.floating, np.integer, np.bool_)):
        b = float(other)
    else:
        return NotImplemented
    cdef bint outcome
    if how == Py_LT:
        outcome = x._value < b
    elif how == Py_LE:
        outcome = x._value <= b
    elif how == Py_GT:
        outcome = x._value > b
    elif how == Py_GE:
        outcome = x._value >= b
    elif how == Py_EQ:
        outcome = x._value == b
    else:
        outcome = x._value != b
    record_guard(x, other, how, b, outcome)
    return outcome


cdef double int_guard_bound(object n, int how) except? -1.0:
    """A float b such that, for every float x, x (how) b == x (how) n.

    Exact when n is a float. Otherwise n lies between two floats lo < n < hi
    (or beyond the largest finite one): x > n and x <= n hold as against
    lo, x < n and x >= n as against hi, and x == n never holds (nan).
    """
    cdef double lo, hi, nearest
    try:
        nearest = PyLong_AsDouble(n)
    except OverflowError:
        nearest = libm.INFINITY if n > 0 else -libm.INFINITY
    if nearest == n:
        return nearest
    if nearest > n:
        lo, hi = libm.nextafter(nearest, -libm.INFINITY), nearest
    else:
        lo, hi = nearest, libm.nextafter(nearest, libm.INFINITY)
    if how == Py_GT or how == Py_LE:
        return lo
    if how == Py_LT or how == Py_GE:
        return hi
    return libm.NAN


cdef int record_guard(Var x, object other, int how, value_t b, bint outcome) except -1:
    """Record the comparison as a branch guard on the recording tape involved.

    A comparison that involves a recording tape but cannot be guarded there
    (a Var of a finished or unrelated tape, or another thread) raises
    TapeError, as arithmetic does: a replay must never take a branch
    unchecked.
    """
    cdef Tape tape = x.tape
    cdef Var y
    if type(other) is Var:
        y = <Var>other
        if not ((tape is not None and tape.recording)
                or (y.tape is not None and y.tape.recording)):
            return 0  # Vars of finished tapes: only a comparison of numbers
        x, y = reconcile(x, y)
        x.tape.push_guard(x.index, y.index, how, False, outcome)
        return 0
    if tape is None or not tape.recording:
        return 0  # a finished tape: the comparison is only a comparison
    if not recording_here(tape):
        tape.check_recording()  # raises: another thread
    tape.push_guard(x.index, tape.push_const(b), how, True, outcome)
    return 0
