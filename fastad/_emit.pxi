# Derivatives written out as tape entries. The reverse sweep of a recording
# is emitted, entry by entry, as ordinary operations onto a tape, so the
# gradient becomes a recording itself: it can be replayed, differentiated
# again (derivatives of any order) and swept forward. Each operation's
# partial derivatives appear here a second time, as expressions in tape
# operations (the numeric rules are in _ops.pxi; test_ops checks that both
# agree for every opcode). Where a numeric rule has a convention at a point
# (pow at a == 0, hypot at the origin, maximum's tie), the emitted rule
# takes the branch the current values take and records the comparison as
# a branch guard, so a replay on the other side re-traces.

cdef struct Term:
    # A value on the target tape: an entry (entry >= 0) or a constant.
    index_t entry
    double constant

cdef enum:
    NO_TERM = -2           # no adjoint yet: the entry does not reach the output


cdef inline Term constant_term(double c) noexcept nogil:
    cdef Term t
    t.entry = -1
    t.constant = c
    return t


cdef inline Term entry_term(index_t i) noexcept nogil:
    cdef Term t
    t.entry = i
    t.constant = 0.0
    return t


cdef inline bint is_constant(Term t, double c) noexcept nogil:
    return t.entry == -1 and t.constant == c


cdef inline double term_value(Tape tape, Term t) noexcept:
    return tape.arr.values[t.entry] if t.entry >= 0 else t.constant


cdef Term emit_unary(Tape tape, int op, Term x) except *:
    cdef double y
    if x.entry < 0:
        return constant_term(unary_rule(op, x.constant, 0.0, False))
    y = unary_rule(op, tape.arr.values[x.entry], 0.0, False)
    return entry_term(tape.push(<op_t>op, x.entry, 0, y))


cdef Term emit_binary(Tape tape, int vv_op, Term a, Term b) except *:
    cdef double va = term_value(tape, a), vb = term_value(tape, b)
    cdef double y = binary_rule(vv_op, va, vb, 0.0, VALUE)
    if a.entry < 0 and b.entry < 0:
        return constant_term(y)
    if b.entry < 0:
        return entry_term(tape.push(<op_t>(vv_op + KIND_VC), a.entry, tape.push_const(vb), y))
    if a.entry < 0:
        return entry_term(tape.push(<op_t>(vv_op + KIND_CV), tape.push_const(va), b.entry, y))
    return entry_term(tape.push(<op_t>vv_op, a.entry, b.entry, y))


# The exact identities x * 1 = x and x + 0 = x keep seeds and sums short.
cdef Term emit_mul(Tape tape, Term a, Term b) except *:
    if is_constant(a, 1.0):
        return b
    if is_constant(b, 1.0):
        return a
    return emit_binary(tape, OP_MUL_VV, a, b)


cdef Term emit_add(Tape tape, Term a, Term b) except *:
    if is_constant(a, 0.0):
        return b
    if is_constant(b, 0.0):
        return a
    return emit_binary(tape, OP_ADD_VV, a, b)


cdef inline Term emit_sub(Tape tape, Term a, Term b) except *:
    return emit_binary(tape, OP_SUB_VV, a, b)


cdef inline Term emit_div(Tape tape, Term a, Term b) except *:
    return emit_binary(tape, OP_DIV_VV, a, b)


cdef inline Term emit_neg(Tape tape, Term a) except *:
    return emit_unary(tape, OP_NEG, a)


cdef inline Term one() noexcept nogil:
    return constant_term(1.0)


cdef inline Term number(double c) noexcept nogil:
    return constant_term(c)


cdef bint emit_guard(Tape tape, Term a, int how, Term b) except -1:
    """a (how) b at the current values, recorded as a guard when an entry is
    involved (the entry goes on the left: c < x is stored as x > c)."""
    cdef double va = term_value(tape, a), vb = term_value(tape, b)
    cdef bint outcome
    if how == Py_LT:
        outcome = va < vb
    elif how == Py_GT:
        outcome = va > vb
    elif how == Py_EQ:
        outcome = va == vb
    else:
        raise ValueError("emit_guard: unsupported comparison")
    if a.entry >= 0:
        if b.entry >= 0:
            tape.push_guard(a.entry, b.entry, how, False, outcome)
        else:
            tape.push_guard(a.entry, tape.push_const(vb), how, True, outcome)
    elif b.entry >= 0:
        tape.push_guard(b.entry, tape.push_const(va),
                        Py_GT if how == Py_LT else (Py_LT if how == Py_GT else how),
                        True, outcome)
    return outcome


# ---- the partial derivatives as tape entries ----------------------------------------

cdef Term emit_unary_partial(Tape tape, int op, Term x, Term y) except *:
    """dy/dx for y = op(x), as entries on tape."""
    cdef Term root
    if op == OP_NEG:        return number(-1.0)
    elif op == OP_ABS:      return emit_unary(tape, OP_SIGN, x)
    elif op == OP_SQUARE:   return emit_mul(tape, number(2.0), x)
    elif op == OP_SQRT:     return emit_div(tape, number(0.5), y)
    elif op == OP_CBRT:     return emit_div(tape, one(), emit_mul(tape, number(3.0), emit_unary(tape, OP_SQUARE, y)))
    elif op == OP_EXP:      return y
    elif op == OP_EXP2:     return emit_mul(tape, y, number(libm.M_LN2))
    elif op == OP_EXPM1:    return emit_add(tape, y, one())
    elif op == OP_LOG:      return emit_div(tape, one(), x)
    elif op == OP_LOG2:     return emit_div(tape, one(), emit_mul(tape, x, number(libm.M_LN2)))
    elif op == OP_LOG10:    return emit_div(tape, one(), emit_mul(tape, x, number(libm.M_LN10)))
    elif op == OP_LOG1P:    return emit_div(tape, one(), emit_add(tape, one(), x))
    elif op == OP_SIN:      return emit_unary(tape, OP_COS, x)
    elif op == OP_COS:      return emit_neg(tape, emit_unary(tape, OP_SIN, x))
    elif op == OP_TAN:      return emit_add(tape, one(), emit_unary(tape, OP_SQUARE, y))
    elif op == OP_ARCSIN or op == OP_ARCCOS:
        root = emit_unary(tape, OP_SQRT, emit_mul(tape, emit_sub(tape, one(), x),
                                                  emit_add(tape, one(), x)))
        return emit_div(tape, number(1.0 if op == OP_ARCSIN else -1.0), root)
    elif op == OP_ARCTAN:   return emit_div(tape, one(), emit_add(tape, one(), emit_unary(tape, OP_SQUARE, x)))
    elif op == OP_SINH:     return emit_unary(tape, OP_COSH, x)
    elif op == OP_COSH:     return emit_unary(tape, OP_SINH, x)
    elif op == OP_TANH:     return emit_sub(tape, one(), emit_unary(tape, OP_SQUARE, y))
    elif op == OP_ARCSINH:  return emit_div(tape, one(), emit_binary(tape, OP_HYPOT_VV, x, one()))
    elif op == OP_ARCCOSH:
        return emit_div(tape, one(), emit_mul(tape, emit_unary(tape, OP_SQRT, emit_sub(tape, x, one())),
                                              emit_unary(tape, OP_SQRT, emit_add(tape, x, one()))))
    elif op == OP_ARCTANH:
        return emit_div(tape, one(), emit_mul(tape, emit_sub(tape, one(), x), emit_add(tape, one(), x)))
    elif op == OP_ERF or op == OP_ERFC:
        return emit_mul(tape, number(libm.M_2_SQRTPI if op == OP_ERF else -libm.M_2_SQRTPI),
                        emit_unary(tape, OP_EXP, emit_neg(tape, emit_unary(tape, OP_SQUARE, x))))
    elif op == OP_SIGMOID:  return emit_mul(tape, y, emit_sub(tape, one(), y))
    return number(0.0)  # sign, floor, ceil, trunc, rint: piecewise constant


cdef Term emit_binary_partial(Tape tape, int op, Term a, Term b, Term y, int part) except *:
    """dy/da (part WRT_A) or dy/db (WRT_B) for y = op(a, b), as entries on tape."""
    cdef Term r
    if op == OP_ADD_VV:
        return one()
    elif op == OP_SUB_VV:
        return one() if part == WRT_A else number(-1.0)
    elif op == OP_MUL_VV:
        return b if part == WRT_A else a
    elif op == OP_DIV_VV:
        return emit_div(tape, one(), b) if part == WRT_A else emit_neg(tape, emit_div(tape, y, b))
    elif op == OP_POW_VV:
        if part == WRT_A:
            if emit_guard(tape, b, Py_EQ, number(0.0)):
                return number(0.0)
            return emit_mul(tape, b, emit_binary(tape, OP_POW_VV, a, emit_sub(tape, b, one())))
        if emit_guard(tape, a, Py_EQ, number(0.0)):
            return number(0.0)
        return emit_mul(tape, y, emit_unary(tape, OP_LOG, a))
    elif op == OP_ATAN2_VV:
        r = emit_add(tape, emit_unary(tape, OP_SQUARE, a), emit_unary(tape, OP_SQUARE, b))
        if emit_guard(tape, r, Py_EQ, number(0.0)):
            return number(0.0)
        return emit_div(tape, b, r) if part == WRT_A else emit_neg(tape, emit_div(tape, a, r))
    elif op == OP_HYPOT_VV:
        if emit_guard(tape, y, Py_EQ, number(0.0)):
            return number(0.0)
        return emit_div(tape, a if part == WRT_A else b, y)
    elif op == OP_MAXIMUM_VV or op == OP_MINIMUM_VV:
        # The numeric rule takes a on ties: b only where b is strictly better.
        if emit_guard(tape, a, Py_LT if op == OP_MAXIMUM_VV else Py_GT, b):
            return number(0.0 if part == WRT_A else 1.0)
        return number(1.0 if part == WRT_A else 0.0)
    elif op == OP_LOGADDEXP_VV:
        if emit_guard(tape, a, Py_EQ, b):
            return number(0.5)
        return emit_unary(tape, OP_EXP, emit_sub(tape, a if part == WRT_A else b, y))
    elif op == OP_FLOORDIV_VV:
        return number(0.0)
    elif op == OP_MOD_VV:
        return one() if part == WRT_A else emit_neg(tape, emit_binary(tape, OP_FLOORDIV_VV, a, b))
    return number(0.0)


# ---- the reverse sweep, emitted ------------------------------------------------------

cdef Term accumulate(Tape tape, Term total, Term term) except *:
    if total.entry == NO_TERM:
        return term
    return emit_add(tape, total, term)


cdef list emit_gradient(Tape source, index_t out, count_t n_inputs, Tape target,
                        const index_t* where):
    """Emit onto target the gradient of source's entry `out` with respect to
    source's entries 0 .. n_inputs-1; where[i] is the target entry holding
    source entry i's value. Returns one Term per input (as (entry, constant)
    pairs, entry -1 for a constant)."""
    cdef count_t n = <count_t>out + 1, i
    cdef Term* adj
    cdef Term g, A, B, Y, p
    cdef int op, base, kind
    cdef index_t a, b
    cdef list result = []
    if out < 0:
        return [(-1, 0.0)] * n_inputs
    adj = <Term*>malloc(n * sizeof(Term))
    if adj == NULL:
        raise MemoryError("fastad: could not allocate the emitted adjoints")
    try:
        for i in range(n):
            adj[i].entry = NO_TERM
            adj[i].constant = 0.0
        adj[out] = one()
        for i in range(out, n_inputs - 1, -1):
            if adj[i].entry == NO_TERM:
                continue
            op = source.arr.ops[i]
            if op == OP_INPUT:
                continue
            g = adj[i]
            a = source.arr.arg0[i]
            b = source.arr.arg1[i]
            Y = entry_term(where[i])
            if op < FIRST_BINARY:
                p = emit_unary_partial(target, op, entry_term(where[a]), Y)
                adj[a] = accumulate(target, adj[a], emit_mul(target, g, p))
                continue
            base = binary_base(op)
            kind = op - base
            A = constant_term(source.arr.consts[a]) if kind == KIND_CV else entry_term(where[a])
            B = constant_term(source.arr.consts[b]) if kind == KIND_VC else entry_term(where[b])
            if kind != KIND_CV:
                p = emit_binary_partial(target, base, A, B, Y, WRT_A)
                adj[a] = accumulate(target, adj[a], emit_mul(target, g, p))
            if kind != KIND_VC:
                p = emit_binary_partial(target, base, A, B, Y, WRT_B)
                adj[b] = accumulate(target, adj[b], emit_mul(target, g, p))
        for i in range(n_inputs):
            if i >= n or adj[i].entry == NO_TERM:
                result.append((-1, 0.0))
            else:
                result.append((adj[i].entry, adj[i].constant))
        return result
    finally:
        free(adj)


cdef Tape copy_tape(Tape source):
    """A finished copy of a finished tape (entries, constants, guards)."""
    cdef Tape t = Tape()
    cdef count_t n = max(source.n_entries, 1), m = max(source.n_consts, 1)
    cdef count_t g = max(source.n_guards, 1)
    resize_array(<void**>&t.arr.ops, n, sizeof(op_t))
    resize_array(<void**>&t.arr.arg0, n, sizeof(index_t))
    resize_array(<void**>&t.arr.arg1, n, sizeof(index_t))
    resize_array(<void**>&t.arr.values, n, sizeof(value_t))
    t.capacity = n
    resize_array(<void**>&t.arr.consts, m, sizeof(value_t))
    t.consts_capacity = m
    resize_array(<void**>&t.guards, g, sizeof(Guard))
    t.guards_capacity = g
    memcpy(t.arr.ops, source.arr.ops, source.n_entries * sizeof(op_t))
    memcpy(t.arr.arg0, source.arr.arg0, source.n_entries * sizeof(index_t))
    memcpy(t.arr.arg1, source.arr.arg1, source.n_entries * sizeof(index_t))
    memcpy(t.arr.values, source.arr.values, source.n_entries * sizeof(value_t))
    memcpy(t.arr.consts, source.arr.consts, source.n_consts * sizeof(value_t))
    memcpy(t.guards, source.guards, source.n_guards * sizeof(Guard))
    t.n_entries = source.n_entries
    t.n_consts = source.n_consts
    t.n_guards = source.n_guards
    t.finished = True
    return t


cdef Recording gradient_recording(Recording rec):
    """A recording of x -> d(output)/dx for a recording with one scalar output:
    the forward entries of rec, then its reverse sweep written out."""
    cdef Tape target = copy_tape(rec.tape)
    cdef count_t n = rec.tape.n_entries, i
    cdef index_t* identity = <index_t*>malloc(max(n, 1) * sizeof(index_t))
    if identity == NULL:
        raise MemoryError("fastad: could not allocate an index map")
    try:
        for i in range(n):
            identity[i] = <index_t>i
        terms = emit_gradient(rec.tape, rec.last_output, rec.n_inputs, target, identity)
    finally:
        free(identity)
    indices = np.array([t[0] for t in terms], dtype=np.int64)
    values = np.array([target.arr.values[t[0]] if t[0] >= 0 else t[1] for t in terms],
                      dtype=np.float64)
    return Recording.create(target, indices, values, rec.n_inputs)
