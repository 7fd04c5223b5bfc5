# fastad.Array under NumPy: masks (comparisons kept on the tape), where,
# and the two dispatch protocols, __array_ufunc__ (NEP 13) and
# __array_function__ (NEP 18). A NumPy function that moves elements runs on
# the Array's codes; one that computes is one of the recording loops of
# _array.pxi; any other one runs on the object array of Vars (exact, at
# per-element Python speed).

from operator import index as operator_index

cdef dict COMPARISON_OPS = {
    Py_LT: OP_LESS_VV, Py_LE: OP_LESS_EQUAL_VV, Py_GT: OP_GREATER_VV,
    Py_GE: OP_GREATER_EQUAL_VV, Py_EQ: OP_EQUAL_VV, Py_NE: OP_NOT_EQUAL_VV,
}
# The comparison an opcode records, and the same comparison with its
# operands swapped (a guard keeps an entry on its left).
cdef dict COMPARISON_HOW = {
    OP_LESS_VV: (Py_LT, Py_GT), OP_LESS_EQUAL_VV: (Py_LE, Py_GE),
    OP_GREATER_VV: (Py_GT, Py_LT), OP_GREATER_EQUAL_VV: (Py_GE, Py_LE),
    OP_EQUAL_VV: (Py_EQ, Py_EQ), OP_NOT_EQUAL_VV: (Py_NE, Py_NE),
}


cdef object compare_arrays(object a, object b, int how):
    """a (how) b with an Array among them: a Mask of comparison entries."""
    cdef Tape tape = tape_of_operands(a, b)
    ca = operand_codes(tape, a)
    cb = operand_codes(tape, b)
    if ca is None or cb is None:
        return NotImplemented
    codes = record_binary_codes(tape, COMPARISON_OPS[how], ca, cb)
    return make_mask(tape, codes, (codes,))


cdef Mask make_mask(Tape tape, cnp.ndarray codes, tuple comparisons):
    cdef Mask m = Mask.__new__(Mask)
    m.tape = tape
    m.codes = codes
    m.comparisons = comparisons
    return m


@cython.final
cdef class Mask:
    """A boolean array whose elements are comparisons on the tape.

    What a comparison involving a ``fastad.Array`` returns. ``fastad.where``,
    ``np.where(mask, a, b)``, ``a[mask] = v`` and arithmetic (``x * mask``,
    as 0.0 and 1.0) use it without a branch guard: the comparisons are
    evaluated again at every replay. When its booleans reach Python
    (``bool()``, ``.any()``, ``.all()``, indexing with it, ``np.asarray``,
    ``.value``) every comparison it depends on becomes a branch guard.

    Attributes
    ----------
    shape : tuple of int
    ndim : int
    size : int
    value : numpy.ndarray
        The booleans (reading them records the guards).
    """

    cdef Tape tape
    cdef cnp.ndarray codes          # entries valued 1.0 (true) or 0.0, or constants
    cdef tuple comparisons          # code arrays of the comparisons it depends on
    __array_priority__ = 2000.0

    def __init__(self, *args, **kwargs):
        raise TypeError("fastad.Mask cannot be created directly: compare a fastad.Array")

    @property
    def shape(self):
        """The shape, a tuple."""
        return (<object>self.codes).shape

    @property
    def ndim(self):
        """The number of dimensions."""
        return self.codes.ndim

    @property
    def size(self):
        """The number of elements."""
        return self.codes.size

    @property
    def dtype(self):
        """bool."""
        return np.dtype(bool)

    @property
    def value(self):
        """The booleans: reading them makes each comparison a branch guard."""
        return self.__array__()

    def __len__(self):
        if self.codes.ndim == 0:
            raise TypeError("len() of unsized object")
        return (<object>self.codes).shape[0]

    def __repr__(self):
        values = gather_values(self.tape, self.codes) != 0.0
        return f"fastad.Mask({np.array2string(values, separator=', ')})"

    cdef int guard(self) except -1:
        """Make every comparison this mask depends on a branch guard."""
        cdef TapeData* t = &self.tape.data
        cdef cnp.ndarray src
        cdef const index_t* s
        cdef count_t k
        cdef index_t e
        cdef int op, vv, kind
        if not self.tape.recording:
            return 0  # a finished tape: its comparisons are only numbers now
        self.tape.check_recording()
        for codes in self.comparisons:
            src = np.ascontiguousarray(codes).reshape(-1)
            s = <const index_t*>cnp.PyArray_DATA(src)
            for k in range(src.shape[0]):
                e = s[k]
                if e < 0:
                    continue
                op = t.arr.ops[e]
                vv = FIRST_BINARY + (op - FIRST_BINARY) // 3 * 3
                kind = op - vv
                how, swapped = COMPARISON_HOW[vv]
                outcome = t.arr.values[e] != 0.0
                if kind == KIND_VV:
                    append_guard(t, t.arr.arg0[e], t.arr.arg1[e], how, False, outcome)
                elif kind == KIND_VC:
                    append_guard(t, t.arr.arg0[e], t.arr.arg1[e], how, True, outcome)
                else:
                    append_guard(t, t.arr.arg1[e], t.arr.arg0[e], swapped, True, outcome)
        return 0

    def __array__(self, dtype=None, copy=None):
        """The booleans (each comparison becomes a branch guard)."""
        self.guard()
        out = gather_values(self.tape, self.codes) != 0.0
        return out if dtype is None else out.astype(dtype)

    def __bool__(self):
        return bool(self.__array__())

    def astype(self, dtype, *args, **kwargs):
        """The booleans as dtype (the comparisons become guards)."""
        return self.__array__().astype(dtype, *args, **kwargs)

    def any(self, axis=None, keepdims=False):
        """Whether any element is true (the comparisons become guards)."""
        return np.any(self.__array__(), axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        """Whether every element is true (the comparisons become guards)."""
        return np.all(self.__array__(), axis=axis, keepdims=keepdims)

    def __getitem__(self, key):
        sub = np.asarray(self.codes[index_key(key)])
        if len(self.comparisons) == 1 and self.comparisons[0] is self.codes:
            # a mask of comparisons: the part depends on its own elements only
            return make_mask(self.tape, sub, (sub,))
        return make_mask(self.tape, sub, self.comparisons)

    def __iter__(self):
        return iter(self.__array__())

    cdef object as_codes(self, Tape tape):
        """The 0.0/1.0 codes of this mask on tape (arithmetic with a mask)."""
        if tape is not self.tape:
            return captured_codes(tape, make_array(self.tape, self.codes))
        return self.codes

    # arithmetic takes the mask as 0.0 and 1.0
    def __mul__(self, other):
        return array_binary(OP_MULTIPLY_VV, self, other)

    def __rmul__(self, other):
        return array_binary(OP_MULTIPLY_VV, other, self)

    def __add__(self, other):
        return array_binary(OP_ADD_VV, self, other)

    def __radd__(self, other):
        return array_binary(OP_ADD_VV, other, self)

    def __sub__(self, other):
        return array_binary(OP_SUBTRACT_VV, self, other)

    def __rsub__(self, other):
        return array_binary(OP_SUBTRACT_VV, other, self)

    def __truediv__(self, other):
        return array_binary(OP_DIVIDE_VV, self, other)

    def __rtruediv__(self, other):
        return array_binary(OP_DIVIDE_VV, other, self)

    def __and__(self, other):
        return mask_logic(self, other, OP_MULTIPLY_VV)

    __rand__ = __and__

    def __or__(self, other):
        return mask_logic(self, other, OP_MAXIMUM_VV)

    __ror__ = __or__

    def __invert__(self):
        cdef Tape tape = self.tape
        tape.check_recording()
        codes = record_binary_codes(tape, OP_EQUAL_VV, self.codes,
                                    np.array(fold_constant(&tape.data, 0.0), dtype=np.int32))
        return make_mask(tape, codes, self.comparisons)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return array_function(func, types, args, kwargs)

    def __reduce__(self):
        raise TypeError("a fastad.Mask cannot be pickled (it is part of a recording in "
                        "progress)")


cdef object mask_logic(Mask m, object other, int vv_op):
    """m & other (product of 0/1) or m | other (maximum of 0/1)."""
    cdef Tape tape
    if type(other) is Mask:
        tape = innermost(m.tape, (<Mask>other).tape)
        codes = record_binary_codes(tape, vv_op, m.as_codes(tape), (<Mask>other).as_codes(tape))
        return make_mask(tape, codes, m.comparisons + (<Mask>other).comparisons)
    if isinstance(other, (bool, np.bool_)) or (isinstance(other, np.ndarray)
                                               and other.dtype == bool):
        tape = m.tape
        tape.check_recording()
        codes = record_binary_codes(tape, vv_op, m.codes, pooled_codes(tape, np.asarray(
            other, dtype=np.float64)))
        return make_mask(tape, codes, m.comparisons)
    return NotImplemented


cdef cnp.ndarray where_codes(Tape tape, object cond, object a, object b):
    """Codes of where(cond, a, b) on tape."""
    ca = operand_codes(tape, a)
    cb = operand_codes(tape, b)
    if ca is None or cb is None:
        raise TypeError(f"fastad.where: expected real numbers, Vars and Arrays, got "
                        f"{describe(a if ca is None else b)}")
    if type(cond) is Mask:
        m = (<Mask>cond).as_codes(tape)
        chosen = record_binary_codes(tape, OP_SELECT_VV, m, ca)
        other = record_binary_codes(tape, OP_SELECT_ELSE_VV, m, cb)
        return record_binary_codes(tape, OP_ADD_VV, chosen, other)
    # Constant conditions select codes: no entries, and the derivative goes
    # only to the chosen element.
    try:
        flags = np.asarray(cond, dtype=bool)
    except (TypeError, ValueError):
        raise TypeError(f"fastad.where: cond must be a fastad.Mask, a bool array or a "
                        f"bool, got {describe(cond)}") from None
    if isinstance(cond, np.ndarray) and cond.dtype == object:
        raise TypeError("fastad.where: cond is an object array; compare fastad.Arrays "
                        "(a Mask) or pass booleans")
    shape = broadcast_shape(broadcast_shape(flags.shape, np.shape(ca)), np.shape(cb))
    return np.array(np.where(flags, ca, cb), dtype=np.int32).reshape(shape)


def where(cond, a, b):
    """Elementwise selection: a where cond is true, b elsewhere, with broadcasting.

    Parameters
    ----------
    cond : Mask, bool array or bool
        A ``fastad.Mask`` (comparisons of Arrays: evaluated again at every
        replay, no branch guard) or constant booleans.
    a, b : Array, Var, number or array_like
        The two branches.

    Returns
    -------
    Array, Var, float or numpy.ndarray
        The selection. Its derivative flows only into the selected branch:
        an inf or nan in the other one does not reach the gradient.
    """
    cdef Tape tape = find_tape((cond, a, b))
    if tape is None:
        return np.where(cond, a, b)
    tape.check_recording()
    return wrap_codes(tape, where_codes(tape, cond, a, b))


# ---- __array_ufunc__ ------------------------------------------------------------------

cdef dict UFUNC_OPS = {}          # NumPy (and SciPy) ufunc -> opcode
cdef dict UFUNC_COMPARISONS = {
    np.less: Py_LT, np.less_equal: Py_LE, np.greater: Py_GT,
    np.greater_equal: Py_GE, np.equal: Py_EQ, np.not_equal: Py_NE,
}


cdef int fill_ufunc_ops() except -1:
    for op, ufunc in NUMPY_UFUNCS.items():
        UFUNC_OPS[ufunc] = op
    UFUNC_OPS[np.divide] = OP_DIVIDE_VV
    UFUNC_OPS[np.fabs] = OP_ABS
    try:
        import scipy.special as special
    except ImportError:
        return 0
    for name, op in (("erf", OP_ERF), ("erfc", OP_ERFC), ("expit", OP_SIGMOID),
                     ("log_expit", OP_LOG_SIGMOID), ("xlogy", OP_XLOGY_VV)):
        if hasattr(special, name):
            UFUNC_OPS[getattr(special, name)] = op
    return 0


cdef object predicate(object ufunc, Array a):
    """np.isnan, np.isinf, np.isfinite, np.signbit of an Array: booleans
    read now, each guarded (isnan as x != x, the others as x == inf and
    x == -inf, or x < 0)."""
    cdef Tape tape = a.tape
    tape.check_recording()
    if ufunc is np.isnan:
        m = compare_arrays(a, a, Py_NE)
    elif ufunc is np.signbit:
        # x < 0 misses -0.0 and nan's sign: read the values, guard x < 0
        (<Mask>compare_arrays(a, 0.0, Py_LT)).guard()
        return np.signbit(a.value)
    else:
        pos = compare_arrays(a, libm.INFINITY, Py_EQ)
        neg = compare_arrays(a, -libm.INFINITY, Py_EQ)
        (<Mask>pos).guard()
        (<Mask>neg).guard()
        (<Mask>compare_arrays(a, a, Py_NE)).guard()
        return ufunc(a.value)
    (<Mask>m).guard()
    return np.asarray(m)


cdef object array_ufunc(object ufunc, str method, tuple inputs, dict kwargs):
    """__array_ufunc__ of Array and Mask."""
    if not UFUNC_OPS:
        fill_ufunc_ops()  # on first use: SciPy's special functions are imported then
    if kwargs and method == "__call__":
        if "out" in kwargs:
            raise TypeError(f"np.{ufunc.__name__}: out= is not supported with a "
                            f"fastad.Array (its result is a new Array)")
        if "where" in kwargs:
            raise TypeError(f"np.{ufunc.__name__}: where= is not supported with a "
                            f"fastad.Array; use fastad.where(cond, a, b)")
        if set(kwargs) - {"dtype", "casting", "order", "subok", "signature"}:
            return NotImplemented
    if method != "__call__":
        if method == "reduce" and ufunc in (np.add, np.multiply, np.maximum, np.minimum) \
                and type(inputs[0]) is Array:
            axis = kwargs.get("axis", 0)
            op = {np.add: OP_ADD_VV, np.multiply: OP_MULTIPLY_VV,
                  np.maximum: OP_MAXIMUM_VV, np.minimum: OP_MINIMUM_VV}[ufunc]
            return array_reduce(<Array>inputs[0], op, axis, None,
                                kwargs.get("keepdims", False),
                                {np.add: 0.0, np.multiply: 1.0}.get(ufunc, libm.NAN),
                                ufunc.__name__)
        if "out" in kwargs:
            raise TypeError(f"np.{ufunc.__name__}.{method}: out= is not supported with a "
                            f"fastad.Array")
        return getattr(ufunc, method)(*[as_object_operand(x) for x in inputs], **kwargs)
    # The rule-table ufuncs first, by two dictionary lookups: the special
    # cases below look up a dozen module attributes (measured: half of
    # np.sin(a)'s fixed cost when they came first).
    how = UFUNC_COMPARISONS.get(ufunc)
    if how is not None:
        return compare_arrays(inputs[0], inputs[1], how)
    op = UFUNC_OPS.get(ufunc)
    if op is not None:
        if op < FIRST_BINARY:
            if type(inputs[0]) is Mask:
                return array_unary(op, make_array((<Mask>inputs[0]).tape,
                                                  (<Mask>inputs[0]).codes))
            return array_unary(op, <Array>inputs[0])
        result = array_binary(op, inputs[0], inputs[1])
        if result is not NotImplemented:
            return result
    if ufunc is np.matmul:
        return array_matmul(inputs[0], inputs[1])
    if ufunc in (np.isnan, np.isinf, np.isfinite, np.signbit) and type(inputs[0]) is Array:
        return predicate(ufunc, <Array>inputs[0])
    if ufunc is np.positive and type(inputs[0]) is Array:
        return inputs[0]
    if ufunc in (np.logical_and, np.logical_or, np.logical_not, np.bitwise_and,
                 np.bitwise_or, np.invert) and any(type(x) is Mask for x in inputs):
        if ufunc in (np.logical_not, np.invert):
            return ~inputs[0]
        if ufunc in (np.logical_and, np.bitwise_and):
            return inputs[0] & inputs[1] if type(inputs[0]) is Mask else inputs[1] & inputs[0]
        return inputs[0] | inputs[1] if type(inputs[0]) is Mask else inputs[1] | inputs[0]
    # Anything else (complex operands, ufuncs without a rule): NumPy's object
    # loops on the Vars, exact.
    return ufunc(*[as_object_operand(x) for x in inputs], **kwargs)


# ---- __array_function__ ---------------------------------------------------------------

# The functions whose first argument is a sequence of arrays (each converted);
# for the other moving functions only the first argument is data, and the
# rest (shapes, axes, indices, counts) are passed as they are.
cdef tuple SEQUENCE_DATA = (np.concatenate, np.stack, np.hstack, np.vstack, np.column_stack,
                            np.dstack, np.broadcast_arrays, np.block)


cdef object data_codes(Tape tape, object x):
    """Codes of one data operand of a moving function (an Array, Var,
    number, float or object array, or list)."""
    if type(x) is list and any(type(item) is list for item in x):
        return [data_codes(tape, item) for item in x]  # np.block's nesting
    codes = operand_codes(tape, x)
    if codes is None:
        raise TypeError(f"expected real numbers, Vars or Arrays, got {describe(x)}")
    return codes


cdef object wrap_moved(Tape tape, object result):
    if isinstance(result, np.ndarray):
        if result.dtype != CODE_DTYPE:
            # codes only ever move: anything else is not an array of elements
            raise TypeError(f"fastad: a NumPy function gave {describe(result)} where it "
                            f"should only move elements of a fastad.Array")
        return wrap_codes(tape, result)
    if isinstance(result, np.int32):  # one element (np.take(a, 2))
        return wrap_codes(tape, result)
    if isinstance(result, (list, tuple)):
        return type(result)(wrap_moved(tape, item) for item in result)
    return result


cdef Tape tape_of_args(tuple args, dict kwargs):
    """The innermost recording tape among the Vars, Arrays and Masks of a
    call's arguments (None if there is none)."""
    return find_tape(list(args) + list(kwargs.values()))


cdef object move_elements(object func, tuple args, dict kwargs):
    """A NumPy function that only moves elements, run on the codes of its
    data argument(s); its other arguments are passed as they are."""
    cdef Tape tape = tape_of_args(args, kwargs)
    cdef list items = list(args)
    tape.check_recording()
    if func in SEQUENCE_DATA:
        if func is np.broadcast_arrays:
            items = [data_codes(tape, item) for item in items]
        elif items:
            items[0] = [data_codes(tape, item) for item in items[0]]
    elif func is np.append:
        items[:2] = [data_codes(tape, item) for item in items[:2]]
    elif items:
        items[0] = data_codes(tape, items[0])
    return wrap_moved(tape, func(*items, **kwargs))


cdef object like(object func, object a, object fill, object kwargs):
    cdef Tape tape = tape_of_args((a,), {})
    dtype = kwargs.get("dtype")
    shape = kwargs.get("shape")
    shape = np.shape(a) if shape is None else shape
    if dtype is not None and np.dtype(dtype).kind not in "f":
        return func(np.zeros(np.shape(a)), *(() if fill is None else (fill,)), **kwargs)
    tape.check_recording()
    return full_array(tape, shape, 0.0 if fill is None else fill)


def _norm(x, ord=None, axis=None, keepdims=False):
    if ord is None or ord == 2 and (axis is not None or np.ndim(x) == 1) or ord == "fro":
        if ord == 2 and np.ndim(x) == 2 and axis is None:
            return np.linalg.norm(as_object_operand(x), ord, axis, keepdims)
        return np.sqrt(np.sum(array_unary(OP_SQUARE, x) if type(x) is Array else x * x,
                              axis=axis, keepdims=keepdims))
    if ord == 1 and (np.ndim(x) == 1 or axis is not None):
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, float("inf")) and (np.ndim(x) == 1 or axis is not None):
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    return np.linalg.norm(as_object_operand(x), ord, axis, keepdims)


def _einsum(tuple args, dict kwargs):
    """np.einsum of one or two operands without repeated or batch indices
    (and without '...'), as sums, moves and one matrix product; None for
    the other forms (they take the exact object-array fallback)."""
    if kwargs or len(args) not in (2, 3) or not isinstance(args[0], str):
        return None
    spec = args[0].replace(" ", "")
    operands = list(args[1:])
    if "." in spec:
        return None
    if "->" in spec:
        inputs, output = spec.split("->")
    else:
        inputs = spec
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = inputs.split(",")
    if len(terms) != len(operands) or len(set(output)) != len(output) or any(
            c not in inputs for c in output):
        return None
    for term, operand in zip(terms, operands):
        if not (type(operand) is Array or isinstance(operand, np.ndarray)):
            return None
        if len(term) != np.ndim(operand) or len(set(term)) != len(term) or not term.isalpha():
            return None
    # an index of one operand only, not in the output, is summed away first
    for k in range(len(terms)):
        others = "".join(t for j, t in enumerate(terms) if j != k)
        dropped = tuple(i for i, c in enumerate(terms[k]) if c not in output and c not in others)
        if dropped:
            operands[k] = np.sum(operands[k], axis=dropped)
            terms[k] = "".join(c for c in terms[k] if c in output or c in others)
    if len(terms) == 1:
        if len(terms[0]) != len(output):
            return None
        if not output:
            return operands[0]
        return np.transpose(operands[0], [terms[0].index(c) for c in output])
    (ta, a), (tb, b) = zip(terms, operands)
    if any(c in tb and c in output for c in ta):
        return None   # a batch index: not one matrix product
    contracted = [c for c in ta if c in tb]
    free_a = [c for c in ta if c not in tb]
    free_b = [c for c in tb if c not in ta]
    size = dict(zip(ta, np.shape(a)))
    for c, n in zip(tb, np.shape(b)):
        if size.setdefault(c, n) != n:
            raise ValueError(f"einsum: operands could not be broadcast together with "
                             f"remapped shapes (index {c!r} is {size[c]} and {n})")
    k = int(np.prod([size[c] for c in contracted]))
    a2 = np.reshape(np.transpose(a, [ta.index(c) for c in free_a + contracted]), (-1, k))
    b2 = np.reshape(np.transpose(b, [tb.index(c) for c in contracted + free_b]), (k, -1))
    out = np.reshape(a2 @ b2, [size[c] for c in free_a + free_b])
    if not output:
        return out   # a Var, as NumPy gives a scalar
    return np.transpose(out, [(free_a + free_b).index(c) for c in output])


def _tensordot(a, b, axes=2):
    """np.tensordot as a matrix product of reshaped operands."""
    a_ndim, b_ndim = np.ndim(a), np.ndim(b)
    if isinstance(axes, int):
        axes_a = list(range(a_ndim - axes, a_ndim))
        axes_b = list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, int) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, int) else list(axes_b)
    axes_a = [k % a_ndim for k in axes_a]
    axes_b = [k % b_ndim for k in axes_b]
    shape_a, shape_b = np.shape(a), np.shape(b)
    for ka, kb in zip(axes_a, axes_b):
        if shape_a[ka] != shape_b[kb]:
            raise ValueError("shape-mismatch for sum")
    free_a = [k for k in range(a_ndim) if k not in axes_a]
    free_b = [k for k in range(b_ndim) if k not in axes_b]
    k = int(np.prod([shape_a[i] for i in axes_a]))
    at = np.reshape(np.transpose(a, free_a + axes_a), (-1, k))
    bt = np.reshape(np.transpose(b, axes_b + free_b), (k, -1))
    out = at @ bt
    return np.reshape(out, tuple(shape_a[i] for i in free_a) + tuple(shape_b[i] for i in free_b))


def _diff(a, n=1, axis=-1):
    for _ in range(n):
        nd = np.ndim(a)
        axis_k = axis % nd
        upper = [slice(None)] * nd
        lower = [slice(None)] * nd
        upper[axis_k] = slice(1, None)
        lower[axis_k] = slice(None, -1)
        a = a[tuple(upper)] - a[tuple(lower)]
    return a


def _diag(v, k=0):
    cdef Tape tape = tape_of_args((v,), {})
    if np.ndim(v) == 2:
        return move_elements(np.diagonal, (v, k), {})
    codes = operand_codes(tape, v)
    n = codes.shape[0] + (k if k >= 0 else -k)
    out = np.full((n, n), fold_constant(&tape.data, 0.0), dtype=np.int32)
    rows = np.arange(codes.shape[0]) + max(-k, 0)
    cols = np.arange(codes.shape[0]) + max(k, 0)
    out[rows, cols] = codes
    return make_array(tape, out)


def _triangle(func, m, k=0):
    cdef Tape tape = tape_of_args((m,), {})
    codes = operand_codes(tape, m)
    keep = func(np.ones(np.shape(codes)[codes.ndim - 2:], dtype=bool), k)
    return make_array(tape, np.where(keep, codes, np.int32(fold_constant(&tape.data, 0.0))
                                     ).astype(np.int32))


def _sum_function(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    if type(a) is not Array or kwargs:
        return np.sum(as_object_operand(a), axis=axis, dtype=dtype, out=out,
                      keepdims=keepdims, **kwargs)
    return array_sum(<Array>a, axis, dtype, out, keepdims)


def _mean_function(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    if type(a) is not Array or kwargs:
        return np.mean(as_object_operand(a), axis=axis, dtype=dtype, out=out,
                       keepdims=keepdims, **kwargs)
    return array_mean(<Array>a, axis, dtype, out, keepdims)


def _reduce_function(a, int op, double empty, str name, axis=None, out=None, keepdims=False,
                     **kwargs):
    if type(a) is not Array or kwargs:
        return None
    return array_reduce(<Array>a, op, axis, out, keepdims, empty, name)


# Functions that only move (or repeat) elements: run on the codes.
cdef tuple MOVING = (
    np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.squeeze,
    np.expand_dims, np.broadcast_to, np.concatenate, np.stack, np.hstack, np.vstack,
    np.column_stack, np.dstack, np.split, np.array_split, np.flip, np.fliplr, np.flipud,
    np.roll, np.diagonal, np.copy, np.atleast_1d, np.atleast_2d, np.atleast_3d,
    np.tile, np.repeat, np.take, np.append, np.rot90, np.broadcast_arrays,
    np.take_along_axis, np.hsplit, np.vsplit, np.block,
)
cdef tuple METADATA = (np.shape, np.ndim, np.size)
cdef object NP_SUM = np.sum
cdef object NP_MEAN = np.mean


cdef object array_function(object func, object types, tuple args, dict kwargs):
    """__array_function__ of Array and Mask."""
    if (func is NP_SUM or func is NP_MEAN) and len(args) == 1 and not kwargs \
            and type(args[0]) is Array:
        # np.sum(a), np.mean(a): the most common calls, straight to the loop
        if func is NP_SUM:
            return array_sum(<Array>args[0], None, None, None, False)
        return array_mean(<Array>args[0], None, None, None, False)
    for t in types:
        if t not in (Array, Mask) and not issubclass(t, np.ndarray):
            return NotImplemented
    a = args[0] if args else None
    if func in METADATA:
        shape = a.shape if type(a) is Array or type(a) is Mask else np.shape(
            as_object_operand(a))
        return func(np.empty(shape, dtype=np.int8), *args[1:], **kwargs)
    if func in MOVING:
        return move_elements(func, args, kwargs)
    if func is np.sum:
        return _sum_function(*args, **kwargs)
    if func is np.mean:
        return _mean_function(*args, **kwargs)
    if func in (np.prod, np.max, np.min, np.amax, np.amin):
        name = {np.prod: "prod", np.max: "maximum", np.amax: "maximum"}.get(func, "minimum")
        op = {np.prod: OP_MULTIPLY_VV, np.max: OP_MAXIMUM_VV,
              np.amax: OP_MAXIMUM_VV}.get(func, OP_MINIMUM_VV)
        result = _reduce_function(args[0], op, 1.0 if func is np.prod else libm.NAN, name,
                                 *args[1:], **kwargs)
        if result is not None:
            return result
    elif func is np.cumsum and type(a) is Array and not kwargs.get("out") \
            and kwargs.get("dtype") is None and len(args) <= 2:
        return array_cumsum(<Array>a, args[1] if len(args) > 1 else kwargs.get("axis"))
    elif func is np.dot and len(args) == 2 and not kwargs:
        return array_dot(args[0], args[1])
    elif func is np.matmul and len(args) == 2 and not kwargs:
        return array_matmul(args[0], args[1])
    elif func is np.vdot:
        return array_matmul(np.ravel(args[0]), np.ravel(args[1]))
    elif func is np.inner and len(args) == 2:
        if np.ndim(args[0]) == 0 or np.ndim(args[1]) == 0:
            return array_binary(OP_MULTIPLY_VV, args[0], args[1])
        return _tensordot(args[0], args[1], ([-1], [-1]))
    elif func is np.outer:
        return array_binary(OP_MULTIPLY_VV, np.reshape(np.ravel(args[0]), (-1, 1)),
                            np.reshape(np.ravel(args[1]), (1, -1)))
    elif func is np.tensordot:
        return _tensordot(*args, **kwargs)
    elif func is np.einsum:
        result = _einsum(args, kwargs)
        if result is not None:
            return result
    elif func is np.linalg.norm:
        return _norm(*args, **kwargs)
    elif func is np.trace and len(args) == 1 and not kwargs and np.ndim(a) == 2:
        return _sum_function(np.diagonal(a))
    elif func is np.diag:
        return _diag(*args, **kwargs)
    elif func in (np.triu, np.tril):
        return _triangle(func, *args, **kwargs)
    elif func is np.diff and not {"prepend", "append"} & set(kwargs):
        return _diff(*args, **kwargs)
    elif func is np.where and len(args) == 3:
        return where(*args)
    elif func is np.clip:
        if len(args) == 3 and not kwargs:
            return array_clip(args[0], args[1], args[2])
        return array_clip(args[0], kwargs.get("a_min", kwargs.get("min")),
                          kwargs.get("a_max", kwargs.get("max")))
    elif func in (np.zeros_like, np.empty_like):
        return like(func, a, None, kwargs)
    elif func is np.ones_like:
        return like(func, a, 1.0, kwargs)
    elif func is np.full_like:
        return like(func, a, args[1] if len(args) > 1 else kwargs.pop("fill_value"), kwargs)
    elif func is np.square and type(a) is Array:
        return array_unary(OP_SQUARE, <Array>a)
    # The exact fallback: NumPy on the object arrays of Vars.
    return func(*[as_object_operand(x) for x in args],
                **{k: as_object_operand(v) for k, v in kwargs.items()})
