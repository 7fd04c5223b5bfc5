# Whole arrays on the tape: fastad.Array.
#
# An Array is a tape and an int32 NumPy array of element codes of any shape:
# a code >= 0 is a tape entry, a code < 0 the constant -1 - code of the
# tape's constant pool. Everything that only moves elements (views, slices,
# reshapes, transposes, broadcasts, gathers, concatenations, assignment) is
# the NumPy operation on the codes and records nothing; an elementwise
# operation records one ordinary entry per output element in one C loop
# with the rules of _ops.pxi, so the sweeps, replay, guards, pickles and
# nesting see the same entries a loop over Vars would make. Elements that
# are constants stay constants (an operation on constants only is folded
# into the pool), so np.zeros_like(x) costs no entries.

cdef object CODE_DTYPE = np.dtype(np.int32)   # index_t
cdef object FLOAT_DTYPE = np.dtype(np.float64)


cdef inline value_t code_value(const TapeData* t, index_t c) noexcept nogil:
    """The value of an element code: an entry's value or a pooled constant."""
    if c >= 0:
        return t.arr.values[c]
    return t.arr.consts[-1 - c]


cdef int reserve(TapeData* t, count_t entries, count_t constants) except -1:
    """Room for `entries` more entries and `constants` more constants, so that
    a loop over an array writes them without a check per element."""
    cdef count_t wanted = t.n_entries + entries
    if entries > 0 and (wanted > t.capacity or wanted > t.max_entries):
        grow_entries_to(t, wanted)  # raises OverflowError past the tape's limit
    if constants > 0:
        if t.n_consts + constants > t.max_entries:
            raise OverflowError(
                f"fastad: the tape's constant pool is full at {t.max_entries} constants")
        while t.consts_capacity < t.n_consts + constants:
            grow_constants(t)
    return 0


cdef inline index_t fold_constant(TapeData* t, value_t v) except? 0:
    """The code of a new pooled constant v."""
    return -1 - push_constant(t, v)


# ---- operands as codes ------------------------------------------------------------

cdef Tape recording_tape_of(object x):
    """The tape of a Var or Array (None for anything else)."""
    if type(x) is Array:
        return (<Array>x).tape
    if type(x) is Var:
        return (<Var>x).tape
    if type(x) is Mask:
        return (<Mask>x).tape
    return None


cdef Tape innermost(Tape a, Tape b):
    """Of two tapes met in one operation, the one to record on: the same
    tape, or the inner one when one encloses the other (nesting)."""
    cdef Py_ssize_t pa, pb
    if b is None or a is b:
        a.check_recording()
        return a
    if a is None:
        b.check_recording()
        return b
    a.check_recording()
    b.check_recording()
    pa = stack_position(a)
    pb = stack_position(b)
    if pa < 0 or pb < 0:
        raise TapeError("an operation combined Vars of two unrelated tapes")
    return a if pa > pb else b


cdef index_t var_code(Tape tape, Var v) except? -1:
    if v.tape is not tape:
        if v.tape is None:
            raise TapeError("this Var was not made by a tape (use a transform or Tape.var)")
        innermost(tape, v.tape)  # raises for finished or unrelated tapes
        return tape.capture(v).index
    return v.index


cdef cnp.ndarray pooled_codes(Tape tape, cnp.ndarray values):
    """Codes of a float array's elements, pooled as constants in one copy."""
    cdef cnp.ndarray flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    cdef count_t n = flat.shape[0], k, first
    cdef TapeData* t = &tape.data
    reserve(t, 0, n)
    first = t.n_consts
    if n > 0:
        memcpy(t.arr.consts + first, cnp.PyArray_DATA(flat), n * sizeof(value_t))
    t.n_consts = first + n
    out = np.arange(-1 - first, -1 - first - n, -1, dtype=np.int32)
    return out.reshape(np.shape(values))


cdef cnp.ndarray captured_codes(Tape tape, Array a):
    """Codes on `tape` for an Array of an enclosing tape (nesting): each
    element captured once."""
    cdef cnp.ndarray src = np.ascontiguousarray(a.codes).reshape(-1)
    cdef cnp.ndarray out = np.empty(src.shape[0], dtype=np.int32)
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(src)
    cdef index_t* d = <index_t*>cnp.PyArray_DATA(out)
    cdef count_t k
    cdef TapeData* outer = &a.tape.data
    for k in range(src.shape[0]):
        if s[k] >= 0:
            d[k] = tape.capture(make_var(a.tape, s[k], outer.arr.values[s[k]])).index
        else:
            d[k] = fold_constant(&tape.data, outer.arr.consts[-1 - s[k]])
    return out.reshape(np.shape(a.codes))


cdef cnp.ndarray object_codes(Tape tape, cnp.ndarray items):
    """Codes of an object array of Vars, Arrays' elements and real numbers."""
    cdef cnp.ndarray flat = items.reshape(-1)
    cdef cnp.ndarray out = np.empty(flat.shape[0], dtype=np.int32)
    cdef index_t* d = <index_t*>cnp.PyArray_DATA(out)
    cdef count_t k
    for k in range(flat.shape[0]):
        item = flat[k]
        if type(item) is Var:
            d[k] = var_code(tape, <Var>item)
        else:
            number = as_real_number_or_none(item)
            if number is None:
                return None
            d[k] = fold_constant(&tape.data, number)
    return out.reshape(np.shape(items))


cdef object operand_codes(Tape tape, object x):
    """x as element codes on tape (a 0-d array for a scalar), or None when x
    is no real operand (complex values, strings, other objects)."""
    cdef value_t c
    if type(x) is Array:
        if (<Array>x).tape is tape:
            return (<Array>x).codes
        return captured_codes(tape, <Array>x)
    if type(x) is Var:
        return np.array(var_code(tape, <Var>x), dtype=np.int32)
    if type(x) is float or type(x) is int or isinstance(x, (float, int, np.floating, np.integer, np.bool_)):
        return np.array(fold_constant(&tape.data, float(x)), dtype=np.int32)
    if type(x) is Mask:
        return (<Mask>x).as_codes(tape)
    if isinstance(x, (list, tuple)):
        if any(type(item) is Array or type(item) is Mask for item in x):
            x = stack_operands(tape, list(x))
            return x
        try:
            x = np.asarray(x)
        except ValueError:
            return None
    if isinstance(x, np.ndarray):
        reject_array_subclass(x, "fastad.Array")
        kind = x.dtype.kind
        if kind in "biuf":
            return pooled_codes(tape, x)
        if kind == "O":
            return object_codes(tape, x)
    return None


cdef object stack_operands(Tape tape, list items):
    """Codes of a list holding Arrays among other operands (np.array([a, b]) style)."""
    parts = []
    for item in items:
        codes = operand_codes(tape, item)
        if codes is None:
            return None
        parts.append(codes)
    try:
        return np.stack(np.broadcast_arrays(*parts)) if parts else np.empty(0, dtype=np.int32)
    except ValueError:
        return None


cdef Tape tape_of_operands(object a, object b):
    """The tape an operation of a and b records on."""
    return innermost(recording_tape_of(a), recording_tape_of(b))


# ---- the recording loops ----------------------------------------------------------

cdef Array make_array(Tape tape, cnp.ndarray codes):
    cdef Array a = Array.__new__(Array)
    a.tape = tape
    a.codes = codes
    return a


cdef object wrap_codes(Tape tape, object codes):
    """An Array for codes, or the Var or float of a 0-d result (NumPy gives a
    scalar there)."""
    cdef index_t c
    if type(codes) is np.ndarray and cnp.PyArray_NDIM(<cnp.ndarray>codes) > 0:
        return make_array(tape, <cnp.ndarray>codes)  # the result of every loop
    if np.ndim(codes) == 0:
        tape.check_thread()  # the tape may grow (and move) in its own thread
        c = <index_t>int(codes)
        if c >= 0:
            return make_var(tape, c, tape.data.arr.values[c])
        return tape.data.arr.consts[-1 - c]
    return make_array(tape, <cnp.ndarray>codes)


cdef inline bint all_entries(const index_t* c, count_t n) noexcept nogil:
    """Whether every code is an entry (>= 0): the sign bits or-ed together."""
    cdef index_t bits = 0
    cdef count_t k
    for k in range(n):
        bits |= c[k]
    return bits >= 0


cdef inline bint all_constants(const index_t* c, count_t n) noexcept nogil:
    """Whether every code is a constant (< 0): the sign bits and-ed together."""
    cdef index_t bits = -1
    cdef count_t k
    for k in range(n):
        bits &= c[k]
    return bits < 0


cdef inline void gather(const TapeData* t, const index_t* c, bint entries, double* out,
                        count_t n) noexcept nogil:
    """out[k] = the value of code c[k]; entries: all of them are entries, else
    all are constants."""
    cdef count_t k
    if entries:
        for k in range(n):
            out[k] = t.arr.values[c[k]]
    else:
        for k in range(n):
            out[k] = t.arr.consts[-1 - c[k]]


cdef inline void fill_operands(index_t* dst, const index_t* c, bint scalar, bint entries,
                               count_t n) noexcept nogil:
    """An operand column of new entries: entry indices, or pool indices of
    constants; one code repeated for a scalar operand."""
    cdef count_t k
    cdef index_t first
    if scalar:
        first = c[0] if entries else -1 - c[0]
        for k in range(n):
            dst[k] = first
    elif entries:
        memcpy(dst, c, n * sizeof(index_t))
    else:
        for k in range(n):
            dst[k] = -1 - c[k]


cdef inline void number_entries(index_t* d, count_t first, count_t n) noexcept nogil:
    cdef count_t k
    for k in range(n):
        d[k] = <index_t>(first + k)


cdef cnp.ndarray record_unary_codes(Tape tape, int op, cnp.ndarray codes):
    """One entry per element: op of each element, as new codes."""
    cdef cnp.ndarray src = (codes if cnp.PyArray_IS_C_CONTIGUOUS(codes)
                            else np.ascontiguousarray(codes))
    # (PyArray_EMPTY and the method reshape: NumPy's Python-level np.empty
    # of np.shape and np.reshape cost a few tenths of a microsecond each,
    # much of the fixed cost of one operation on a small array)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(codes), cnp.PyArray_DIMS(codes),
                                             cnp.NPY_INT32, 0)
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(src)
    cdef index_t* d = <index_t*>cnp.PyArray_DATA(out)
    cdef count_t k, n = cnp.PyArray_SIZE(src), e
    cdef TapeData* t = &tape.data
    cdef index_t c
    cdef value_t x
    cdef int step
    cdef value_t* operands
    reserve(t, n, 0)
    e = t.n_entries
    step = operand_step(s, n) if n > 0 else -1
    if n > 0 and (step == 1 and s[0] >= 0 and s[n - 1] >= 0 or all_entries(s, n)):
        # the common case, in loops the compiler can vectorize: the rule
        # over the operands' values in place (a slice of entries) or
        # gathered into the new entries' values
        if step == 1:
            unary_values(op, t.arr.values + s[0], t.arr.values + e, n)
        else:
            operands = take_buffer(n, False)
            gather(t, s, True, operands, n)
            unary_values(op, operands, t.arr.values + e, n)
            release_buffer(operands)
        memset(t.arr.ops + e, op, n * sizeof(op_t))
        memcpy(t.arr.arg0 + e, s, n * sizeof(index_t))
        memset(t.arr.arg1 + e, 0, n * sizeof(index_t))
        number_entries(d, e, n)
        add_run(t, e, n, step if step >= 0 else -2, -1)
        t.n_entries = e + n
        return out
    for k in range(n):
        c = s[k]
        if c >= 0:
            x = t.arr.values[c]
            t.arr.ops[e] = <op_t>op
            t.arr.arg0[e] = c
            t.arr.arg1[e] = 0
            t.arr.values[e] = unary_rule(op, x, 0.0, False)
            d[k] = <index_t>e
            e += 1
        else:
            d[k] = fold_constant(t, unary_rule(op, t.arr.consts[-1 - c], 0.0, False))
    t.n_entries = e
    return out


cdef inline count_t record_binary_element(TapeData* t, int vv_op, index_t ca, index_t cb,
                                          index_t* d, count_t e) except -1:
    """Write the entry of (ca op cb) at e, or fold a constant; the next e."""
    cdef value_t va, vb
    if ca >= 0:
        va = t.arr.values[ca]
        if cb >= 0:
            vb = t.arr.values[cb]
            t.arr.ops[e] = <op_t>vv_op
            t.arr.arg0[e] = ca
            t.arr.arg1[e] = cb
        else:
            vb = t.arr.consts[-1 - cb]
            t.arr.ops[e] = <op_t>(vv_op + KIND_VC)
            t.arr.arg0[e] = ca
            t.arr.arg1[e] = -1 - cb
    elif cb >= 0:
        va = t.arr.consts[-1 - ca]
        vb = t.arr.values[cb]
        t.arr.ops[e] = <op_t>(vv_op + KIND_CV)
        t.arr.arg0[e] = -1 - ca
        t.arr.arg1[e] = cb
    else:
        d[0] = fold_constant(t, binary_rule(vv_op, t.arr.consts[-1 - ca],
                                            t.arr.consts[-1 - cb], 0.0, VALUE))
        return e
    t.arr.values[e] = binary_rule(vv_op, va, vb, 0.0, VALUE)
    d[0] = <index_t>e
    return e + 1


cdef cnp.ndarray record_binary_codes(Tape tape, int vv_op, cnp.ndarray ca, cnp.ndarray cb):
    """One entry per element of the broadcast of ca and cb."""
    cdef cnp.ndarray sa, sb, out
    cdef count_t k, n, e, step_a = 1, step_b = 1
    cdef TapeData* t = &tape.data
    if same_shape(ca, cb):
        shape = np.shape(ca)
    elif ca.size == 1 and ca.ndim <= cb.ndim:
        shape = np.shape(cb)
        step_a = 0
    elif cb.size == 1 and cb.ndim <= ca.ndim:
        shape = np.shape(ca)
        step_b = 0
    else:
        shape = broadcast_shape(np.shape(ca), np.shape(cb))
        ca = np.broadcast_to(ca, shape)
        cb = np.broadcast_to(cb, shape)
    sa = np.ascontiguousarray(ca)
    sb = np.ascontiguousarray(cb)
    out = np.empty(shape, dtype=np.int32)
    cdef const index_t* pa = <const index_t*>cnp.PyArray_DATA(sa)
    cdef const index_t* pb = <const index_t*>cnp.PyArray_DATA(sb)
    cdef index_t* d = <index_t*>cnp.PyArray_DATA(out)
    n = out.size
    reserve(t, n, 0)
    e = t.n_entries
    if n > 0 and record_uniform_binary(t, vv_op, pa, step_a == 0, pb, step_b == 0, d, n):
        return out
    for k in range(n):
        e = record_binary_element(t, vv_op, pa[k * step_a], pb[k * step_b], d + k, e)
    t.n_entries = e
    return out


cdef bint record_uniform_binary(TapeData* t, int vv_op, const index_t* pa, bint a_scalar,
                                const index_t* pb, bint b_scalar, index_t* d,
                                count_t n) except -1:
    """The common cases of record_binary_codes in loops the compiler can
    vectorize: each operand all entries or all constants (not both
    constants). False (nothing written) for the others. Room for n entries
    is reserved."""
    cdef count_t na = 1 if a_scalar else n, nb = 1 if b_scalar else n
    cdef count_t e = t.n_entries
    cdef int a_step = operand_step(pa, na), b_step = operand_step(pb, nb)
    cdef bint a_entries = entry_codes(pa, na, a_step), b_entries = entry_codes(pb, nb, b_step)
    cdef int kind
    cdef double sa, sb
    cdef double* vals = t.arr.values + e
    cdef double* avals = NULL
    cdef double* bvals = NULL
    cdef const double* av
    cdef const double* bv
    if not (a_entries or all_constants(pa, na)) or not (b_entries or all_constants(pb, nb)):
        return False
    if a_entries and b_entries:
        kind = KIND_VV
    elif a_entries:
        kind = KIND_VC
    elif b_entries:
        kind = KIND_CV
    else:
        return False  # constants only: folded element by element
    if a_scalar and b_scalar:
        return False
    # Each operand's values: a scalar's one value, a slice of entries in
    # place, else gathered into a buffer.
    try:
        if a_scalar:
            gather(t, pa, a_entries, &sa, 1)
            av = &sa
        elif a_entries and a_step == 1:
            av = t.arr.values + pa[0]
        else:
            avals = take_buffer(n, False)
            gather(t, pa, a_entries, avals, n)
            av = avals
        if b_scalar:
            gather(t, pb, b_entries, &sb, 1)
            bv = &sb
        elif b_entries and b_step == 1:
            bv = t.arr.values + pb[0]
        else:
            bvals = take_buffer(n, False)
            gather(t, pb, b_entries, bvals, n)
            bv = bvals
        binary_values(vv_op, av, a_scalar, bv, b_scalar, vals, n)
    finally:
        release_buffer(avals)
        release_buffer(bvals)
    memset(t.arr.ops + e, vv_op + kind, n * sizeof(op_t))
    fill_operands(t.arr.arg0 + e, pa, a_scalar, a_entries, n)
    fill_operands(t.arr.arg1 + e, pb, b_scalar, b_entries, n)
    number_entries(d, e, n)
    # the operands' patterns as add_run would find them (a constant
    # array's codes run the other way from its pool indices: found there)
    add_run(t, e, n, a_step if (a_entries or a_scalar) and a_step >= 0 else -2,
            b_step if (b_entries or b_scalar) and b_step >= 0 else -2)
    t.n_entries = e + n
    return True


cdef inline bint entry_codes(const index_t* c, count_t n, int step) noexcept nogil:
    """Whether every code is an entry, given operand_step(c, n)."""
    if step >= 0 and n > 0:
        return c[0] >= 0 and c[n - 1] >= 0
    return all_entries(c, n)


cdef inline bint same_shape(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Whether a and b have the same shape (typed .shape is a C pointer)."""
    cdef int k, nd = cnp.PyArray_NDIM(a)
    if nd != cnp.PyArray_NDIM(b):
        return False
    for k in range(nd):
        if cnp.PyArray_DIM(a, k) != cnp.PyArray_DIM(b, k):
            return False
    return True


cdef tuple broadcast_shape(tuple a, tuple b):
    """NumPy's broadcast shape, with NumPy's error naming both shapes."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(
            f"operands could not be broadcast together with shapes {a} {b}") from None


# Sums of fewer elements record a chain of add entries: a product's fixed
# cost (its operand codes, a BLAS call) is more than their sweep.
cdef count_t SUM_PRODUCT_MIN = 128

# Ones for sums as matrix products (read-only, shared by every sum: a
# product holds a constant factor by reference).
cdef cnp.ndarray ONES = np.ones(0)


cdef cnp.ndarray ones_column(count_t k):
    """A k x 1 column of ones (a view of ONES, which grows as needed)."""
    global ONES
    if ONES.shape[0] < k:
        ONES = np.ones(max(k, 2 * ONES.shape[0], 64))
        ONES.flags.writeable = False
    return ONES[:k].reshape(k, 1)


cdef object fold_codes(Tape tape, int vv_op, cnp.ndarray rows):
    """Fold op along the last axis of a 2-D code array, left to right: one
    code per row (an empty row gives `empty` codes: see reduce_codes). Sums
    of SUM_PRODUCT_MIN elements and more are matrix products with a column
    of ones: one entry per row, and BLAS's speed in the sweeps (below BLAS's
    size, the products' loops sum left to right, as the fold does)."""
    cdef cnp.ndarray src = np.ascontiguousarray(rows)
    cdef count_t m = src.shape[0], k = src.shape[1], i, j, e
    cdef cnp.ndarray out
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(src)
    cdef index_t* d
    cdef TapeData* t = &tape.data
    cdef index_t acc
    cdef value_t total
    if vv_op == OP_ADD_VV and k > 1 and m * k >= SUM_PRODUCT_MIN:
        return product_codes(tape, src, ones_column(k)).reshape(m)
    out = np.empty(m, dtype=np.int32)
    d = <index_t*>cnp.PyArray_DATA(out)
    reserve(t, m * (k - 1) if k > 1 else 0, 0)
    e = t.n_entries
    if vv_op == OP_ADD_VV and k > 1 and all_entries(s, m * k):
        # small sums: a chain of add entries costs less to record than a product
        for i in range(m):
            acc = s[i * k]
            total = t.arr.values[acc]
            for j in range(1, k):
                total = total + t.arr.values[s[i * k + j]]
                t.arr.ops[e] = OP_ADD_VV
                t.arr.arg0[e] = acc
                t.arr.arg1[e] = s[i * k + j]
                t.arr.values[e] = total
                acc = <index_t>e
                e += 1
            d[i] = acc
        t.n_entries = e
        return out
    for i in range(m):
        acc = s[i * k]
        for j in range(1, k):
            e = record_binary_element(t, vv_op, acc, s[i * k + j], &acc, e)
        d[i] = acc
    t.n_entries = e
    return out


cdef object reduce_codes(Tape tape, int vv_op, cnp.ndarray codes, object axis,
                         bint keepdims, double empty, str name):
    """Reduce codes over axis (None: all) with op folded left to right."""
    if axis is None and not keepdims and cnp.PyArray_SIZE(codes) > 0:
        return fold_codes(tape, vv_op, codes.reshape(1, -1)).reshape(())
    ndim = codes.ndim
    if axis is None:
        axes = tuple(range(ndim))
    else:
        axes = normalize_axes(axis, ndim, name)
    kept = [k for k in range(ndim) if k not in axes]
    moved = np.transpose(codes, kept + list(axes)) if axes else codes
    out_shape = tuple(codes.shape[k] for k in kept)
    n_rows = 1
    for size in out_shape:
        n_rows *= size
    n_reduced = 1
    for k in axes:
        n_reduced *= codes.shape[k]
    if n_reduced == 0:
        if empty != empty:  # no identity: max and min of nothing
            raise ValueError(f"zero-size array to reduction operation {name} which has "
                             f"no identity")
        result = np.full(n_rows, fold_constant(&tape.data, empty), dtype=np.int32)
    else:
        result = fold_codes(tape, vv_op, np.reshape(moved, (n_rows, n_reduced)))
    result = result.reshape(out_shape)
    if keepdims:
        result = result.reshape(tuple(1 if k in axes else codes.shape[k] for k in range(ndim)))
    return result


cdef tuple normalize_axes(object axis, int ndim, str name):
    if isinstance(axis, (tuple, list)):
        items = list(axis)
    else:
        items = [axis]
    out = []
    for item in items:
        try:
            k = operator_index(item)
        except TypeError:
            raise TypeError(f"{name}: axis must be an integer or a tuple of integers, "
                            f"got {item!r}") from None
        if not -ndim <= k < ndim:
            raise np.exceptions.AxisError(k, ndim)
        k %= ndim
        if k in out:
            raise ValueError(f"{name}: duplicate value in 'axis'")
        out.append(k)
    return tuple(sorted(out))


cdef cnp.ndarray product_codes(Tape tape, cnp.ndarray a, cnp.ndarray b, bint careful=False):
    """Codes of a @ b for 2-D operands (m, k) and (k, n), each either codes
    or a float64 constant matrix: one entry per element of the result, of
    opcode OP_MATMUL over one Product of the tape (_products.pxi). careful:
    products by times (an emitted derivative's)."""
    cdef count_t m = a.shape[0], k = a.shape[1], n = b.shape[1], p, first, q
    cdef TapeData* t = &tape.data
    cdef Product P
    cdef cnp.ndarray out
    cdef index_t* d
    if k == 0:
        return np.full((m, n), fold_constant(t, 0.0), dtype=np.int32)
    if a.dtype == CODE_DTYPE and all_constant_codes(a):
        a = gather_values(tape, a)   # a matrix of numbers: held as one
    if b.dtype == CODE_DTYPE and all_constant_codes(b):
        b = gather_values(tape, b)
    if a.dtype != CODE_DTYPE and b.dtype != CODE_DTYPE:
        return pooled_codes(tape, constant_product(a, b, careful))
    if m == 0 or n == 0:
        return np.empty((m, n), dtype=np.int32)
    find_blas()
    reserve(t, m * n, 0)
    memset(&P, 0, sizeof(Product))
    P.m, P.n, P.k = m, n, k
    P.careful = careful
    try:
        set_factor(tape, &P.a, a)
        set_factor(tape, &P.b, b)
        first = t.n_entries
        P.first = <index_t>first
        append_product(t, &P)
    except BaseException:
        free(P.a.codes)   # (a matrix held already stays held: harmless)
        free(P.b.codes)
        raise
    q = t.arr.n_products - 1
    memset(t.arr.ops + first, OP_MATMUL, m * n * sizeof(op_t))
    out = np.empty((m, n), dtype=np.int32)
    d = <index_t*>cnp.PyArray_DATA(out)
    for p in range(m * n):
        t.arr.arg0[first + p] = <index_t>q
        t.arr.arg1[first + p] = <index_t>p
        d[p] = <index_t>(first + p)
    if not product_forward(&t.arr, &t.arr.products[q], t.arr.values):
        for p in range(m * n):
            t.arr.values[first + p] = product_entry_value(&t.arr, &t.arr.products[q], p,
                                                          t.arr.values)
    t.n_entries = first + m * n
    return out


cdef cnp.ndarray constant_product(cnp.ndarray a, cnp.ndarray b, bint careful):
    """a @ b of two float64 matrices by the products' own loops (the same
    sums as a product of entries)."""
    cdef cnp.ndarray ca = np.ascontiguousarray(a), cb = np.ascontiguousarray(b)
    cdef count_t m = a.shape[0], k = a.shape[1], n = b.shape[1]
    cdef cnp.ndarray out = np.empty((m, n), dtype=np.float64)
    cdef View A, B
    A.data = <const double*>cnp.PyArray_DATA(ca)
    A.trans = b'N'
    A.ld = max(k, 1)
    B.data = <const double*>cnp.PyArray_DATA(cb)
    B.trans = b'N'
    B.ld = max(n, 1)
    matrix_product(A, B, m, n, k, <double*>cnp.PyArray_DATA(out), max(n, 1), careful)
    return out


cdef bint all_constant_codes(cnp.ndarray codes):
    src = np.ascontiguousarray(codes)
    return all_constants(<const index_t*>cnp.PyArray_DATA(src), src.size)


cdef int set_factor(Tape tape, Factor* f, cnp.ndarray x) except -1:
    """Fill f from a 2-D operand: a copy of its codes, or a reference to its
    numbers, held by the tape (copied only when no BLAS layout fits: no
    unit stride, or misaligned)."""
    cdef count_t rows = x.shape[0], cols = x.shape[1], rs, cs
    cdef cnp.ndarray src
    if x.dtype == CODE_DTYPE:
        src = np.ascontiguousarray(x)
        f.codes = copy_codes(<const index_t*>cnp.PyArray_DATA(src), rows * cols)
        f.data = NULL
        f.run = run_of(f.codes, rows * cols)
        return 0
    src = x
    rs = x.strides[0] // 8 if rows > 1 else cols
    cs = x.strides[1] // 8 if cols > 1 else 1
    if not (x.flags.aligned and x.strides[0] % 8 == 0 and x.strides[1] % 8 == 0
            and ((cs == 1 and rs >= cols) or (rs == 1 and cs >= rows and cols > 1))):
        src = np.ascontiguousarray(x)
        rs, cs = cols, 1
    f.held = hold(tape, src)
    f.codes = NULL
    f.data = <const value_t*>cnp.PyArray_DATA(src)
    f.row_stride = rs
    f.col_stride = cs
    f.run = -1
    return 0


cdef object matmul_operands(Tape tape, cnp.ndarray a, cnp.ndarray b):
    """Codes of a @ b with NumPy's matmul rules (1-D operands, stacks of
    matrices broadcast), each codes or a float64 constant array."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    cdef object a2 = a.reshape(1, -1) if a.ndim == 1 else a
    cdef object b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    # (the build turns wraparound off: no negative index below)
    cdef tuple shape_a = np.shape(a2), shape_b = np.shape(b2)
    cdef count_t k_a = shape_a[len(shape_a) - 1], k_b = shape_b[len(shape_b) - 2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: Input operand 1 has a mismatch in its core dimension 0, with "
            f"gufunc signature (n?,k),(k,m?)->(n?,m?) (size {k_b} is different "
            f"from {k_a}) (shapes {np.shape(a)} and {np.shape(b)})")
    if a.ndim > 2 or b.ndim > 2:
        out = batched_product_codes(tape, a2, b2, shape_a, shape_b)
        shape = out.shape
        if a.ndim == 1:   # drop the row of a 1-D left operand
            shape = shape[:len(shape) - 2] + shape[len(shape) - 1:]
        if b.ndim == 1:   # and the column of a 1-D right one
            shape = shape[:len(shape) - 1]
        return out.reshape(shape)
    out = product_codes(tape, a2, b2)
    if a.ndim == 1 and b.ndim == 1:
        return out.reshape(())
    if a.ndim == 1:
        return out.reshape(-1)
    if b.ndim == 1:
        return out.reshape(-1)
    return out


cdef object batched_product_codes(Tape tape, object a, object b, tuple shape_a, tuple shape_b):
    """matmul's stacks of matrices (a: (..., m, k), b: (..., k, n), the
    leading dimensions broadcast): one product per matrix of the stack."""
    cdef Py_ssize_t na = len(shape_a), nb = len(shape_b)
    batch = broadcast_shape(shape_a[:na - 2], shape_b[:nb - 2])
    m, k, n = shape_a[na - 2], shape_a[na - 1], shape_b[nb - 1]
    stack_a = np.broadcast_to(a, batch + (m, k)).reshape(-1, m, k)
    stack_b = np.broadcast_to(b, batch + (k, n)).reshape(-1, k, n)
    parts = [product_codes(tape, stack_a[i], stack_b[i]) for i in range(stack_a.shape[0])]
    if not parts:
        return np.empty(batch + (m, n), dtype=np.int32)
    return np.stack(parts).reshape(batch + (m, n))


cdef cnp.ndarray gather_values(Tape tape, cnp.ndarray codes):
    """The values of codes, as a float64 array of their shape."""
    tape.check_thread()  # the tape may grow (and move) in its own thread
    cdef cnp.ndarray src = np.ascontiguousarray(codes)
    cdef cnp.ndarray out = np.empty(np.shape(codes), dtype=np.float64)
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(src)
    cdef double* d = <double*>cnp.PyArray_DATA(out)
    cdef count_t k
    cdef TapeData* t = &tape.data
    for k in range(src.size):
        d[k] = code_value(t, s[k])
    return out


cdef cnp.ndarray object_elements(Tape tape, cnp.ndarray codes):
    """The object array of Vars (and floats for constant elements) of codes."""
    tape.check_thread()  # the tape may grow (and move) in its own thread
    cdef cnp.ndarray src = np.ascontiguousarray(codes).reshape(-1)
    cdef cnp.ndarray out = np.empty(src.shape[0], dtype=object)
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(src)
    cdef count_t k
    cdef TapeData* t = &tape.data
    cdef index_t c
    for k in range(src.shape[0]):
        c = s[k]
        if c >= 0:
            out[k] = make_var(tape, c, t.arr.values[c])
        else:
            out[k] = t.arr.consts[-1 - c]
    return out.reshape(np.shape(codes))


# ---- the operations an Array records -----------------------------------------------

cdef object array_unary(int op, Array a):
    a.tape.check_recording()
    return wrap_codes(a.tape, record_unary_codes(a.tape, op, a.codes))


cdef object array_binary(int vv_op, object a, object b):
    """a (op) b where one of them is an Array: an Array (or NotImplemented
    for operands that are not real: complex values, strings, ...)."""
    cdef Tape tape
    if type(a) is Array and (type(b) is float or type(b) is int):
        return array_with_number(vv_op, <Array>a, float(b), False)
    if type(b) is Array and (type(a) is float or type(a) is int):
        return array_with_number(vv_op, <Array>b, float(a), True)
    tape = tape_of_operands(a, b)
    ca = operand_codes(tape, a)
    cb = operand_codes(tape, b) if ca is not None else None
    if ca is None or cb is None:
        other = a if ca is None else b
        if is_complex_like(other):
            # Complex values: NumPy's object loops on the Vars make ComplexVars.
            ufunc = NUMPY_UFUNCS.get(vv_op)
            if ufunc is not None:
                return ufunc(as_object_operand(a), as_object_operand(b))
        return NotImplemented
    return wrap_codes(tape, record_binary_codes(tape, vv_op, ca, cb))


cdef object array_with_number(int vv_op, Array x, double number, bint reflected):
    """x (op) number, or number (op) x: the common `2.0 * x`, `x - 1.0`
    without making operand arrays."""
    cdef Tape tape = x.tape
    cdef TapeData* t = &tape.data
    cdef cnp.ndarray src, out
    cdef const index_t* s
    cdef index_t* d
    cdef index_t c
    cdef count_t k, n, e
    if not recording_here(tape):
        tape.check_recording()
    c = fold_constant(t, number)
    # (np.ascontiguousarray would make a 0-d array 1-d)
    src = x.codes if cnp.PyArray_IS_C_CONTIGUOUS(x.codes) else np.ascontiguousarray(x.codes)
    out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x.codes), cnp.PyArray_DIMS(x.codes),
                            cnp.NPY_INT32, 0)
    s = <const index_t*>cnp.PyArray_DATA(src)
    d = <index_t*>cnp.PyArray_DATA(out)
    n = cnp.PyArray_SIZE(src)
    if n == 0:
        return make_array(tape, out)
    reserve(t, n, 0)
    if reflected:
        if not record_uniform_binary(t, vv_op, &c, True, s, False, d, n):
            e = t.n_entries
            for k in range(n):
                e = record_binary_element(t, vv_op, c, s[k], d + k, e)
            t.n_entries = e
    elif not record_uniform_binary(t, vv_op, s, False, &c, True, d, n):
        e = t.n_entries
        for k in range(n):
            e = record_binary_element(t, vv_op, s[k], c, d + k, e)
        t.n_entries = e
    return wrap_codes(tape, out)


cdef bint is_complex_like(object x):
    """A complex number or ComplexVar, or an array or list that holds some."""
    if PyComplex_Check(x) or isinstance(x, np.complexfloating) or type(x) is ComplexVar:
        return True
    if isinstance(x, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(x)
        except ValueError:
            return False
        if arr.dtype.kind == "c":
            return True
        if arr.dtype == object:
            return any(type(item) is ComplexVar or PyComplex_Check(item)
                       or isinstance(item, np.complexfloating) for item in arr.reshape(-1))
    return False


cdef object array_matmul(object a, object b):
    cdef Tape tape = tape_of_operands(a, b)
    ca = product_operand(tape, a)
    cb = product_operand(tape, b)
    if ca is None or cb is None:
        return NotImplemented
    codes = matmul_operands(tape, ca, cb)
    if codes is None:
        return np.matmul(as_object_operand(a), as_object_operand(b))
    return wrap_codes(tape, codes)


cdef object product_operand(Tape tape, object x):
    """A matrix product's operand: a real ndarray as a float64 constant array
    (held by reference, no copy when it is float64 already), anything else
    as codes (None for operands that are not real)."""
    if isinstance(x, np.ndarray) and (<cnp.ndarray>x).dtype.kind in "biuf":
        reject_array_subclass(x, "fastad.Array")
        return np.asarray(x, dtype=np.float64)
    return operand_codes(tape, x)


cdef object as_object_operand(object x):
    """x with Arrays (also inside lists and tuples) as object arrays of Vars,
    for the exact fallback through NumPy's object loops."""
    if type(x) is Array:
        return (<Array>x).__array__()
    if type(x) is Mask:
        return (<Mask>x).__array__()
    if type(x) is list or type(x) is tuple:
        return type(x)(as_object_operand(item) for item in x)
    if type(x) is dict:
        return {key: as_object_operand(item) for key, item in x.items()}
    return x


_FLOAT_MESSAGE = (
    "{what} would drop the derivative of a fastad.Array. Use a.value for its "
    "numbers (a constant), or the fastad or NumPy functions to keep it on the tape")


@cython.final
cdef class Array:
    """A differentiable array: an array of tape entries.

    What a real array argument becomes inside ``grad``, ``trace`` and the
    other transforms, what ``Tape.var(array)`` returns and what
    ``fastad.asarray`` makes. NumPy code on it (arithmetic, ufuncs,
    reductions, products, indexing, assignment) is recorded in compiled
    loops with no Python object per element; an integer index gives a
    ``Var``.

    Attributes
    ----------
    shape : tuple of int
    ndim : int
    size : int
    dtype : numpy.dtype
        Always float64.
    value : numpy.ndarray
        The values, a float64 array (a constant to the tape).
    """

    cdef Tape tape
    cdef cnp.ndarray codes
    # Above Var's, so that NumPy operands defer to the Array's methods.
    __array_priority__ = 2000.0

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "fastad.Array cannot be created directly: use fastad.asarray, the "
            "transforms, Tape.var or fastad.zeros")

    # ---- attributes -----------------------------------------------------------

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
        """float64: the type of every element's value."""
        return FLOAT_DTYPE

    @property
    def T(self):
        """The transpose (a view: no entries)."""
        return make_array(self.tape, self.codes.T)

    @property
    def flat(self):
        """The elements as a 1-D Array (a view where the layout allows)."""
        return make_array(self.tape, self.codes.reshape(-1))

    @property
    def value(self):
        """The values as a float64 array: a constant to the tape."""
        return gather_values(self.tape, self.codes)

    @property
    def real(self):
        return self

    @property
    def imag(self):
        return make_array(self.tape, np.full((<object>self.codes).shape,
                                             fold_constant(&self.tape.data, 0.0),
                                             dtype=np.int32))

    def conjugate(self):
        """The complex conjugate of a real array: itself."""
        return self

    conj = conjugate

    def __len__(self):
        if self.codes.ndim == 0:
            raise TypeError("len() of unsized object")
        return (<object>self.codes).shape[0]

    def __iter__(self):
        if self.codes.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for k in range((<object>self.codes).shape[0]):
            yield self[k]

    def __repr__(self):
        body = np.array2string(self.value, separator=", ", prefix="fastad.Array(")
        return f"fastad.Array({body})"

    def __bool__(self):
        if self.codes.size == 1:
            return bool(wrap_codes(self.tape, self.codes.reshape(())))
        raise ValueError("The truth value of an array with more than one element is "
                         "ambiguous. Use a.any() or a.all()")

    def __float__(self):
        raise TypeError(_FLOAT_MESSAGE.format(what="float(a)"))

    def __int__(self):
        raise TypeError(_FLOAT_MESSAGE.format(what="int(a)"))

    def __complex__(self):
        raise TypeError(_FLOAT_MESSAGE.format(what="complex(a)"))

    def __index__(self):
        raise TypeError("a fastad.Array cannot be used as an index")

    def __hash__(self):
        raise TypeError("unhashable type: 'fastad.Array'")

    def __array__(self, dtype=None, copy=None):
        """The object array of Vars (the exact fallback for NumPy functions
        fastad does not record in compiled loops)."""
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise TypeError(_FLOAT_MESSAGE.format(what=f"np.asarray(a, dtype={np.dtype(dtype)})"))
        return object_elements(self.tape, self.codes)

    def astype(self, dtype, *args, **kwargs):
        """An Array for float dtypes would drop the derivative: only object
        (the object array of Vars) is allowed."""
        if np.dtype(dtype) == np.dtype(object):
            return self.__array__()
        raise TypeError(_FLOAT_MESSAGE.format(what=f"a.astype({np.dtype(dtype)})"))

    def tolist(self):
        """Nested lists of Vars (and floats for constant elements)."""
        return self.__array__().tolist()

    def __reduce__(self):
        raise TypeError("a fastad.Array cannot be pickled (it is part of a recording "
                        "in progress); pickle a.value, or a traced Function")

    # ---- indexing ---------------------------------------------------------------

    def __getitem__(self, key):
        cdef Py_ssize_t k, n
        cdef index_t c
        # x[i] in scalar loops: as cheap as indexing an object array
        if type(key) is int and cnp.PyArray_NDIM(self.codes) == 1:
            if self.tape.recording and self.tape.thread_ident != fastad_thread_id():
                self.tape.check_thread()  # raises: the tape may move as it grows
            n = cnp.PyArray_DIM(self.codes, 0)
            k = key
            if k < 0:
                k += n
            if k < 0 or k >= n:
                raise IndexError(f"index {key} is out of bounds for axis 0 with size {n}")
            c = (<index_t*>(<char*>cnp.PyArray_DATA(self.codes)
                            + k * cnp.PyArray_STRIDE(self.codes, 0)))[0]
            if c >= 0:
                return make_var(self.tape, c, self.tape.data.arr.values[c])
            return self.tape.data.arr.consts[-1 - c]
        key = index_key(key)
        return wrap_codes(self.tape, self.codes[key])

    def __setitem__(self, key, value):
        cdef Tape tape = innermost(self.tape, recording_tape_of(value))
        if tape is not self.tape:
            raise TapeError("an Array of an enclosing transform cannot hold Vars of an "
                            "inner one; build the result as a new array instead")
        if type(key) is Mask:
            self.codes[...] = where_codes(tape, key, value, make_array(tape, self.codes))
            return
        codes = operand_codes(tape, value)
        if codes is None:
            raise TypeError(f"cannot assign {describe(value)} into a fastad.Array: "
                            f"expected real numbers, Vars or Arrays")
        self.codes[index_key(key)] = codes

    # ---- arithmetic ---------------------------------------------------------------

    def __add__(self, other):
        return array_binary(OP_ADD_VV, self, other)

    def __radd__(self, other):
        return array_binary(OP_ADD_VV, other, self)

    def __sub__(self, other):
        return array_binary(OP_SUBTRACT_VV, self, other)

    def __rsub__(self, other):
        return array_binary(OP_SUBTRACT_VV, other, self)

    def __mul__(self, other):
        return array_binary(OP_MULTIPLY_VV, self, other)

    def __rmul__(self, other):
        return array_binary(OP_MULTIPLY_VV, other, self)

    def __truediv__(self, other):
        return array_binary(OP_DIVIDE_VV, self, other)

    def __rtruediv__(self, other):
        return array_binary(OP_DIVIDE_VV, other, self)

    def __floordiv__(self, other):
        return array_binary(OP_FLOOR_DIVIDE_VV, self, other)

    def __rfloordiv__(self, other):
        return array_binary(OP_FLOOR_DIVIDE_VV, other, self)

    def __mod__(self, other):
        return array_binary(OP_REMAINDER_VV, self, other)

    def __rmod__(self, other):
        return array_binary(OP_REMAINDER_VV, other, self)

    def __pow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        if type(other) is int and other == 2:
            return array_unary(OP_SQUARE, self)
        return array_binary(OP_POWER_VV, self, other)

    def __rpow__(self, other, modulo=None):
        if modulo is not None:
            return NotImplemented
        return array_binary(OP_POWER_VV, other, self)

    def __matmul__(self, other):
        return array_matmul(self, other)

    def __rmatmul__(self, other):
        return array_matmul(other, self)

    def __neg__(self):
        return array_unary(OP_NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return array_unary(OP_ABS, self)

    # ---- comparisons: Masks ---------------------------------------------------------

    def __lt__(self, other):
        return compare_arrays(self, other, Py_LT)

    def __le__(self, other):
        return compare_arrays(self, other, Py_LE)

    def __gt__(self, other):
        return compare_arrays(self, other, Py_GT)

    def __ge__(self, other):
        return compare_arrays(self, other, Py_GE)

    def __eq__(self, other):
        return compare_arrays(self, other, Py_EQ)

    def __ne__(self, other):
        return compare_arrays(self, other, Py_NE)

    # ---- NumPy's protocols ------------------------------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return array_function(func, types, args, kwargs)

    # ---- methods of ndarray -----------------------------------------------------------

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        """Sum of elements (over axis), recorded."""
        return array_sum(self, axis, dtype, out, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        """Mean of elements (over axis), recorded."""
        return array_mean(self, axis, dtype, out, keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        """Product of elements (over axis), recorded."""
        return array_reduce(self, OP_MULTIPLY_VV, axis, out, keepdims, 1.0, "prod")

    def max(self, axis=None, out=None, keepdims=False):
        """Maximum (over axis), recorded with the maximum rule (no guard)."""
        return array_reduce(self, OP_MAXIMUM_VV, axis, out, keepdims, libm.NAN, "maximum")

    def min(self, axis=None, out=None, keepdims=False):
        """Minimum (over axis), recorded with the minimum rule (no guard)."""
        return array_reduce(self, OP_MINIMUM_VV, axis, out, keepdims, libm.NAN, "minimum")

    def dot(self, other):
        """The dot product (np.dot), recorded."""
        return array_dot(self, other)

    def reshape(self, *shape, order="C"):
        """The same elements in a new shape (no entries)."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return make_array(self.tape, self.codes.reshape(shape, order=order))

    def ravel(self, order="C"):
        """The elements as a 1-D Array (no entries)."""
        return make_array(self.tape, self.codes.ravel(order=order))

    def flatten(self, order="C"):
        """A 1-D copy of the elements (no entries)."""
        return make_array(self.tape, self.codes.flatten(order=order))

    def transpose(self, *axes):
        """The axes permuted (no entries)."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], int)):
            axes = axes[0]
        return make_array(self.tape, self.codes.transpose(axes) if axes else self.codes.T)

    def swapaxes(self, axis1, axis2):
        """Two axes interchanged (no entries)."""
        return make_array(self.tape, self.codes.swapaxes(axis1, axis2))

    def squeeze(self, axis=None):
        """Length-1 axes removed (no entries)."""
        return wrap_codes(self.tape, self.codes.squeeze(axis))

    def copy(self, order="C"):
        """A copy: assigning into it leaves this Array alone (no entries)."""
        return make_array(self.tape, self.codes.copy(order=order))

    def diagonal(self, offset=0, axis1=0, axis2=1):
        """The diagonal (no entries)."""
        return make_array(self.tape, self.codes.diagonal(offset, axis1, axis2).copy())

    def trace(self, offset=0, axis1=0, axis2=1):
        """Sum along the diagonal, recorded."""
        return array_sum(self.diagonal(offset, axis1, axis2), -1, None, None, False)

    def cumsum(self, axis=None):
        """Cumulative sum (over axis), recorded."""
        return array_cumsum(self, axis)

    def clip(self, min=None, max=None):
        """Values limited to [min, max] with the maximum and minimum rules."""
        return array_clip(self, min, max)

    def any(self, *args, **kwargs):
        return np.any(self.__array__() != 0, *args, **kwargs)

    def all(self, *args, **kwargs):
        return np.all(self.__array__() != 0, *args, **kwargs)

    def item(self, *args):
        """The element as a Var (or float)."""
        if not args:
            if self.codes.size != 1:
                raise ValueError("can only convert an array of size 1 to a Python scalar")
            return wrap_codes(self.tape, self.codes.reshape(()))
        return wrap_codes(self.tape, self.codes.item(*args))


cdef object index_key(object key):
    """An index for the codes: Masks read as bool arrays (a guard on each
    comparison), Arrays and Vars refused with the reason."""
    if type(key) is tuple:
        return tuple(index_key(item) for item in key)
    if type(key) is Mask:
        return (<Mask>key).__array__()
    if type(key) is Array or type(key) is Var:
        raise TypeError("a fastad.Array or Var cannot be used as an index (the index "
                        "would have no derivative); index with integers or with .value")
    return key


cdef object array_reduce(Array a, int vv_op, object axis, object out, bint keepdims,
                         double empty, str name):
    if out is not None:
        raise TypeError(f"{name}: out= is not supported on a fastad.Array (results are "
                        f"new Arrays)")
    a.tape.check_recording()
    return wrap_codes(a.tape, reduce_codes(a.tape, vv_op, a.codes, axis, keepdims, empty, name))


cdef object array_sum(Array a, object axis, object dtype, object out, bint keepdims):
    return array_reduce(a, OP_ADD_VV, axis, out, keepdims, 0.0, "sum")


cdef object array_mean(Array a, object axis, object dtype, object out, bint keepdims):
    cdef Array total
    s = array_reduce(a, OP_ADD_VV, axis, out, keepdims, 0.0, "mean")
    count = cnp.PyArray_SIZE(a.codes) if axis is None else int(np.prod(
        [a.codes.shape[k] for k in normalize_axes(axis, a.codes.ndim, "mean")]))
    if count == 0:
        return s * libm.NAN
    return s / float(count)


cdef object array_cumsum(Array a, object axis):
    cdef cnp.ndarray codes = a.codes
    a.tape.check_recording()
    if axis is None:
        codes = codes.reshape(-1)
        axis = 0
    k = normalize_axes(axis, codes.ndim, "cumsum")[0]
    moved = np.moveaxis(codes, k, -1)
    last = np.shape(moved)[moved.ndim - 1]
    rows = np.ascontiguousarray(moved).reshape(-1, last) if moved.size else None
    if rows is None:
        return make_array(a.tape, codes.copy())
    out = rows.copy()
    cdef count_t i, j, e
    cdef cnp.ndarray src = rows
    cdef cnp.ndarray dst = out
    cdef index_t* s = <index_t*>cnp.PyArray_DATA(src)
    cdef index_t* d = <index_t*>cnp.PyArray_DATA(dst)
    cdef count_t m = rows.shape[0], n = rows.shape[1]
    cdef TapeData* t = &a.tape.data
    reserve(t, m * n, 0)
    e = t.n_entries
    for i in range(m):
        for j in range(1, n):
            e = record_binary_element(t, OP_ADD_VV, d[i * n + j - 1], s[i * n + j],
                                      d + i * n + j, e)
    t.n_entries = e
    return make_array(a.tape, np.moveaxis(out.reshape(moved.shape), -1, k))


cdef object array_clip(object a, object lo, object hi):
    if lo is not None:
        a = array_binary(OP_MAXIMUM_VV, a, lo)
    if hi is not None:
        a = array_binary(OP_MINIMUM_VV, a, hi)
    return a


cdef object array_dot(object a, object b):
    """np.dot: scalars multiply, 1-D and 2-D operands as matmul."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return array_binary(OP_MULTIPLY_VV, a, b)
    if np.ndim(a) <= 2 and np.ndim(b) <= 2:
        return array_matmul(a, b)
    return np.dot(as_object_operand(a), as_object_operand(b))


def asarray(obj):
    """A fastad.Array of obj's elements.

    Parameters
    ----------
    obj : Array, Var, number, array_like
        An object array (or list) of Vars, numbers and Arrays, or an
        Array. It must hold at least one Var of a recording tape.

    Returns
    -------
    Array
        The same elements, recorded as an Array (no entries: elements are
        the Vars' entries, numbers become constants).
    """
    if type(obj) is Array:
        return obj
    tape = find_tape(obj)
    if tape is None:
        raise TypeError("fastad.asarray: no Var of a recording tape in the argument; "
                        "an Array is made from Vars (float arrays are constants: use them "
                        "as they are)")
    codes = operand_codes(tape, obj)
    if codes is None:
        raise TypeError(f"fastad.asarray: expected Vars, Arrays and real numbers, got "
                        f"{describe(obj)}")
    return make_array(tape, np.asarray(codes))


cdef Tape find_tape(object obj):
    """The innermost recording tape among the Vars, Arrays and Masks of obj
    (walking lists, tuples and object arrays); raises TapeError for one
    that cannot record here."""
    cdef Tape found = None, t
    if type(obj) is Array or type(obj) is Var or type(obj) is Mask:
        t = recording_tape_of(obj)
        t.check_recording()
        return t
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return None
    if isinstance(obj, (np.ndarray, list, tuple)):
        for item in (obj.reshape(-1) if isinstance(obj, np.ndarray) else obj):
            t = find_tape(item)
            if t is not None:
                found = t if found is None else innermost(found, t)
    return found


cdef Tape current_tape():
    """This thread's innermost recording tape."""
    cdef list stack = active_tapes()
    cdef Tape tape
    for k in range(len(stack) - 1, -1, -1):
        tape = stack[k]()
        if tape is not None and tape.recording:
            return tape
    raise TapeError("fastad.zeros and fastad.empty make Arrays of the recording tape: "
                    "call them inside a transform or a `with fastad.Tape()` block")


def zeros(shape):
    """A writable Array of zeros on the recording tape (no entries).

    Parameters
    ----------
    shape : int or tuple of int

    Returns
    -------
    Array
        Constants 0.0; assign Vars and Arrays into it
        (``r = fastad.zeros(n); r[0] = x[0] - 1.0``).
    """
    return full_array(current_tape(), shape, 0.0)


def empty(shape):
    """A writable Array on the recording tape (as fastad.zeros: its elements
    are 0.0 until assigned).

    Parameters
    ----------
    shape : int or tuple of int

    Returns
    -------
    Array
    """
    return full_array(current_tape(), shape, 0.0)


cdef Array full_array(Tape tape, object shape, object fill):
    codes = operand_codes(tape, fill)
    if codes is None:
        raise TypeError(f"fill value must be a real number, a Var or an Array, "
                        f"got {describe(fill)}")
    return make_array(tape, np.array(np.broadcast_to(codes, shape), dtype=np.int32))
