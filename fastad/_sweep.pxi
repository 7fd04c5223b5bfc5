# The sweeps over a tape, all noexcept nogil loops with a switch on the
# opcode. The forward sweep re-evaluates every entry from new input values
# (replay); the reverse sweep goes from an output back to the inputs,
# adding each entry's adjoint times its local partials into its operands'
# adjoints; the tangent sweep pushes up to TANGENT_BLOCK directions forward
# at once; the second-order sweep differentiates the reverse sweep along
# them. Partials come from the rules in _ops.pxi, recomputed from the
# values (storing them would cost 16 more bytes per binary entry, and
# replay must recompute them anyway). The values are passed separately
# from the tape's arrays, so one recording serves any number of replays at
# once.
#
# Zero factors are structural in every sweep: an entry whose adjoint is 0
# sends nothing back, and a partial that is exactly 0 contributes nothing
# to its operand's adjoint or tangent, even where the other factor is
# infinite (sqrt'(0) = inf times a zero partial is 0, not nan), so reverse
# and forward mode agree wherever a zero factor meets an infinite one.

# Sweeps shorter than this keep the GIL: releasing it costs more than they do.
cdef count_t NOGIL_MIN_ENTRIES = 4096


# ---- decoding entries and the GIL --------------------------------------------------

cdef inline int entry_kind(int op) noexcept nogil:
    """The operand kind of an opcode: KIND_INPUT, KIND_UNARY or a binary kind."""
    if op == OP_INPUT:
        return KIND_INPUT
    if op == OP_MATMUL:
        return KIND_PRODUCT
    if op < FIRST_BINARY:
        return KIND_UNARY
    return (op - FIRST_BINARY) % 3


cdef inline Entry decode(const TapeArrays* t, count_t i) noexcept nogil:
    """Entry i's rule, operand kind and operands (entries or constants)."""
    cdef Entry e
    cdef int op = t.ops[i]
    e.kind = entry_kind(op)
    e.a = t.arg0[i]
    e.b = t.arg1[i]
    e.ca = 0.0
    e.cb = 0.0
    if e.kind == KIND_INPUT:
        e.rule = op
        e.a = -1
        e.b = -1
    elif e.kind == KIND_PRODUCT:
        e.rule = op  # a: the tape's product, b: the element's position in it
    elif e.kind == KIND_UNARY:
        e.rule = op
        e.b = -1
    else:
        e.rule = op - e.kind
        if e.kind == KIND_VC:
            e.cb = t.consts[e.b]
            e.b = -1
        elif e.kind == KIND_CV:
            e.ca = t.consts[e.a]
            e.a = -1
    return e


cdef inline value_t operand_a(Entry e, const value_t* v) noexcept nogil:
    return v[e.a] if e.a >= 0 else e.ca


cdef inline value_t operand_b(Entry e, const value_t* v) noexcept nogil:
    return v[e.b] if e.b >= 0 else e.cb


cdef inline PyThreadState* release_gil_above(count_t work) noexcept:
    """Release the GIL for a sweep of more than NOGIL_MIN_ENTRIES entries
    (shorter ones cost less than the release); give the result to
    restore_gil after the sweep. Only noexcept nogil C code may run in
    between."""
    if work > NOGIL_MIN_ENTRIES:
        return PyEval_SaveThread()
    return NULL


cdef inline void restore_gil(PyThreadState* state) noexcept:
    if state != NULL:
        PyEval_RestoreThread(state)


# ---- structural zeros ---------------------------------------------------------------

# Twice the bits of a double with the sign dropped, less one, is below this
# exactly when the double is finite and nonzero: one unsigned comparison
# sorts the common case (a finite nonzero factor) from the two rare ones
# (an exact zero: structural; inf or nan: the careful path).
cdef uint64_t ORDINARY_BOUND = (<uint64_t>0x7FF << 53) - 1


cdef inline bint is_ordinary(value_t x) noexcept nogil:
    """Whether x is finite and nonzero (one comparison, no branch on nan)."""
    cdef uint64_t bits
    memcpy(&bits, &x, sizeof(bits))  # the compiler makes this one move
    return (bits << 1) - 1 < ORDINARY_BOUND

cdef inline value_t times(value_t coefficient, value_t x) noexcept nogil:
    # coefficient * x, where an exact zero on either side is a structural
    # zero: only a nan product can come from 0 * inf, so only a nan is
    # looked at twice.
    cdef value_t product = coefficient * x
    if product != product and (coefficient == 0.0 or x == 0.0):
        return 0.0
    return product


cdef inline void add_scaled(value_t* dst, value_t coefficient, const value_t* src,
                            count_t k) noexcept nogil:
    """dst += coefficient * src over k lanes, exact zeros being structural.

    A zero coefficient (a partial that vanishes) adds nothing, not 0 * inf;
    an infinite one (sqrt' at 0) adds nothing where src is zero, a
    direction that does not move the operand (JAX's symbolic zeros give the
    same). Finite coefficients keep the plain loop.
    """
    cdef count_t j
    if is_ordinary(coefficient):
        if k == 1:   # hvp, jvp: one lane, without the vector loop's set-up
            dst[0] += coefficient * src[0]
            return
        for j in range(k):
            dst[j] += coefficient * src[j]
    elif coefficient != 0.0:
        for j in range(k):
            if src[j] != 0.0:
                dst[j] += coefficient * src[j]


cdef inline void set_scaled(value_t* dst, value_t coefficient, const value_t* src,
                            count_t k) noexcept nogil:
    """dst = coefficient * src over k lanes, exact zeros being structural."""
    cdef count_t j
    if is_ordinary(coefficient):
        if k == 1:
            dst[0] = coefficient * src[0]
            return
        for j in range(k):
            dst[j] = coefficient * src[j]
    elif coefficient == 0.0:
        for j in range(k):
            dst[j] = 0.0
    else:
        for j in range(k):
            dst[j] = coefficient * src[j] if src[j] != 0.0 else 0.0


# ---- reverse ---------------------------------------------------------------------

cdef inline void reverse_binary(int base, int kind, index_t i, index_t a, index_t b,
                                value_t g, const value_t* v, const value_t* c,
                                value_t* adj) noexcept nogil:
    # Called with constant base/kind in the hot cases below, where the
    # compiler folds binary_rule down to its one expression.
    # Operands are read into locals before any adjoint is written: the
    # compiler cannot rule out that adj and v overlap, and would reload.
    cdef value_t va, vb, vi, da, db
    if kind == KIND_VV:
        va = v[a]
        vb = v[b]
        vi = v[i]
        da = g * binary_rule(base, va, vb, vi, WRT_A)
        db = g * binary_rule(base, va, vb, vi, WRT_B)
        adj[a] += da
        adj[b] += db
    elif kind == KIND_VC:
        adj[a] += g * binary_rule(base, v[a], c[b], v[i], WRT_A)
    else:
        adj[b] += g * binary_rule(base, c[a], v[b], v[i], WRT_B)


cdef void reverse_entry_unbounded(const TapeArrays* t, const value_t* v, count_t i,
                                  value_t g, value_t* adj) noexcept nogil:
    """Entry i of the reverse sweep for an infinite or nan adjoint g, where
    a zero partial must still contribute nothing (not inf * 0 = nan)."""
    cdef Entry e = decode(t, i)
    cdef value_t va, vb
    if e.kind == KIND_INPUT:
        return
    va = operand_a(e, v)
    if e.kind == KIND_UNARY:
        adj[e.a] += times(g, unary_rule(e.rule, va, v[i], True))
        return
    vb = operand_b(e, v)
    if e.a >= 0:
        adj[e.a] += times(g, binary_rule(e.rule, va, vb, v[i], WRT_A))
    if e.b >= 0:
        adj[e.b] += times(g, binary_rule(e.rule, va, vb, v[i], WRT_B))


cdef inline void reverse_entry(const TapeArrays* t, const op_t* ops, const index_t* arg0,
                               const index_t* arg1, const value_t* c, const value_t* v,
                               count_t i, value_t* adj) noexcept nogil:
    """Entry i of the reverse sweep: its adjoint into its operands'."""
    cdef value_t g = adj[i]
    cdef index_t a, b
    cdef int op, base
    if not is_ordinary(g):
        # A zero adjoint sends nothing back (an entry the output does not
        # use, or a zero seed): skipping it keeps an infinite partial
        # (sqrt at 0) from turning its operands' adjoints into 0 * inf. An
        # infinite or nan one takes the careful path.
        if g != 0.0:
            reverse_entry_unbounded(t, v, i, g, adj)
        return
    op = ops[i]
    a = arg0[i]
    b = arg1[i]
    # The most frequent operations get their own case so each compiles to
    # straight-line code; the rest share the generic cases.
    if op == OP_INPUT:
        pass
    elif op == OP_ADD_VV:
        reverse_binary(OP_ADD_VV, KIND_VV, i, a, b, g, v, c, adj)
    elif op == OP_ADD_VC:
        reverse_binary(OP_ADD_VV, KIND_VC, i, a, b, g, v, c, adj)
    elif op == OP_ADD_CV:
        reverse_binary(OP_ADD_VV, KIND_CV, i, a, b, g, v, c, adj)
    elif op == OP_SUBTRACT_VV:
        reverse_binary(OP_SUBTRACT_VV, KIND_VV, i, a, b, g, v, c, adj)
    elif op == OP_SUBTRACT_VC:
        reverse_binary(OP_SUBTRACT_VV, KIND_VC, i, a, b, g, v, c, adj)
    elif op == OP_SUBTRACT_CV:
        reverse_binary(OP_SUBTRACT_VV, KIND_CV, i, a, b, g, v, c, adj)
    elif op == OP_MULTIPLY_VV:
        reverse_binary(OP_MULTIPLY_VV, KIND_VV, i, a, b, g, v, c, adj)
    elif op == OP_MULTIPLY_VC:
        reverse_binary(OP_MULTIPLY_VV, KIND_VC, i, a, b, g, v, c, adj)
    elif op == OP_MULTIPLY_CV:
        reverse_binary(OP_MULTIPLY_VV, KIND_CV, i, a, b, g, v, c, adj)
    elif op == OP_DIVIDE_VV:
        reverse_binary(OP_DIVIDE_VV, KIND_VV, i, a, b, g, v, c, adj)
    elif op == OP_DIVIDE_VC:
        reverse_binary(OP_DIVIDE_VV, KIND_VC, i, a, b, g, v, c, adj)
    elif op == OP_DIVIDE_CV:
        reverse_binary(OP_DIVIDE_VV, KIND_CV, i, a, b, g, v, c, adj)
    elif op == OP_NEG:
        adj[a] += g * unary_rule(OP_NEG, v[a], v[i], True)
    elif op == OP_SQUARE:
        adj[a] += g * unary_rule(OP_SQUARE, v[a], v[i], True)
    elif op == OP_EXP:
        adj[a] += g * unary_rule(OP_EXP, v[a], v[i], True)
    elif op == OP_TIMES_VV:
        # the products of every emitted derivative (grad_function, nesting)
        reverse_binary(OP_TIMES_VV, KIND_VV, i, a, b, g, v, c, adj)
    else:
        # Kept out of the equality chain above, so Cython compiles that
        # chain to a C switch.
        if op < FIRST_BINARY:
            adj[a] += g * unary_rule(op, v[a], v[i], True)
        else:
            base = binary_base(op)
            reverse_binary(base, op - base, i, a, b, g, v, c, adj)


cdef void reverse_entries(const TapeArrays* t, const value_t* v, count_t last, count_t stop,
                          value_t* adj) noexcept nogil:
    """The reverse sweep over entries last .. stop, one by one (none of
    them an element of a matrix product)."""
    cdef const op_t* ops = t.ops
    cdef const index_t* arg0 = t.arg0
    cdef const index_t* arg1 = t.arg1
    cdef const value_t* c = t.consts
    cdef count_t i = last
    # Two entries a turn through two copies of the dispatch, as in
    # forward_entries. Entry i is done before i - 1 reads its adjoint.
    while i >= stop + 1:
        reverse_entry(t, ops, arg0, arg1, c, v, i, adj)
        reverse_entry(t, ops, arg0, arg1, c, v, i - 1, adj)
        i -= 2
    if i == stop:
        reverse_entry(t, ops, arg0, arg1, c, v, i, adj)


cdef inline void reverse_run(const TapeArrays* t, const Run* run, const value_t* v,
                             count_t last, value_t* adj) noexcept nogil:
    """The reverse sweep over entries last .. run.first of one run."""
    cdef int op = t.ops[run.first], kind
    cdef count_t first = run.first, n = last - run.first + 1
    if op < FIRST_BINARY:
        if run.a_step == 1:
            unary_reverse_slice(op, v + run.a, v + first, adj + first, adj + run.a, n)
        else:
            unary_reverse_run(op, t.arg0, v, adj, first, last)
        return
    kind = entry_kind(op)
    if kind == KIND_VV and run.a == run.b and run.a_step == 1 and run.b_step == 1:
        binary_reverse_same(op, v + run.a, v + first, adj + first, adj + run.a, n)
    elif rows_apart(run, kind, n):
        reverse_rows(binary_base(op), operand_values(t, v, kind, True) + run.a, run.a_step == 2,
                     operand_values(t, v, kind, False) + run.b, v + first, adj + first,
                     NULL if kind == KIND_CV else adj + run.a,
                     NULL if kind == KIND_VC else adj + run.b, n, row_length(run))
    elif slices_apart(run, kind, n):
        binary_reverse_slice(binary_base(op), operand_values(t, v, kind, True) + run.a,
                             run.a_step == 0, operand_values(t, v, kind, False) + run.b,
                             run.b_step == 0, v + first, adj + first,
                             NULL if kind == KIND_CV else adj + run.a,
                             NULL if kind == KIND_VC else adj + run.b, n)
    else:
        binary_reverse_run(op, t.arg0, t.arg1, v, t.consts, adj, first, last)


cdef inline const value_t* operand_values(const TapeArrays* t, const value_t* v, int kind,
                                          bint first_operand) noexcept nogil:
    """Where an operand of a binary entry of this kind has its values: the
    pool for a constant (the first of CV, the second of VC), else v."""
    if kind == (KIND_CV if first_operand else KIND_VC):
        return t.consts
    return v


cdef void reverse_rows(int vv_op, const value_t* a, bint a_rows, const value_t* b,
                       const value_t* y, const value_t* g, value_t* adj_a, value_t* adj_b,
                       count_t n, count_t period) noexcept nogil:
    """binary_reverse_slice a row at a time from the last row up, where one
    operand is a row of `period` repeated (a_rows: a) and the other a
    slice: each of the row's adjoints takes one contribution a row, in the
    entry-by-entry order."""
    cdef count_t start = n - period
    while start >= 0:
        binary_reverse_slice(
            vv_op, a + (0 if a_rows else start), False, b + (start if a_rows else 0), False,
            y + start, g + start, NULL if adj_a == NULL else adj_a + (0 if a_rows else start),
            NULL if adj_b == NULL else adj_b + (start if a_rows else 0), period)
        start -= period


cdef inline bint streamed(int step) noexcept nogil:
    """Whether an operand of this step is read in place: a slice or one for all."""
    return step == 0 or step == 1


cdef inline count_t row_length(const Run* run) noexcept nogil:
    return run.a_period if run.a_step == 2 else run.b_period


cdef inline bint rows_apart(const Run* run, int kind, count_t n) noexcept nogil:
    """Whether the first n entries of a binary run may go through
    binary_reverse_rows: one operand rows, the other a slice, n whole rows,
    and two entry operands' targets apart."""
    cdef count_t period, row_start, slice_start
    if not ((run.a_step == 2 and run.b_step == 1) or (run.a_step == 1 and run.b_step == 2)):
        return False
    period = row_length(run)
    if n % period != 0:
        return False     # the sweep starts inside a row: entry by entry
    if kind != KIND_VV:
        return True
    row_start = run.a if run.a_step == 2 else run.b
    slice_start = run.b if run.a_step == 2 else run.a
    return row_start + period <= slice_start or slice_start + n <= row_start


cdef inline bint slices_apart(const Run* run, int kind, count_t n) noexcept nogil:
    """Whether the first n entries of a binary run may go through
    binary_reverse_slice: both operands follow a pattern, not both one
    operand for all, and two entry operands apart (a single one outside the
    other's slice), so that no adjoint receives its contributions in
    another order than entry by entry."""
    cdef count_t a = run.a, b = run.b
    cdef count_t a_end = a + (n if run.a_step == 1 else 1)
    cdef count_t b_end = b + (n if run.b_step == 1 else 1)
    if not streamed(run.a_step) or not streamed(run.b_step) or run.a_step + run.b_step == 0:
        return False
    if kind != KIND_VV:
        return True
    return a_end <= b or b_end <= a


# Test hook: False sweeps runs entry by entry.
cdef bint runs_allowed = True


def _use_runs(bint allowed):
    """Test hook: whether the sweeps run runs as loops (returns the old setting)."""
    global runs_allowed
    old = runs_allowed
    runs_allowed = allowed
    return old


cdef count_t leading_inputs(const op_t* ops, count_t n) noexcept nogil:
    """How many of entries 0 .. n-1 are inputs before the first other entry
    (they send no adjoint anywhere: the reverse sweep stops above them).
    OP_INPUT is 0, so eight opcodes are looked at in one 64-bit word."""
    cdef count_t k = 0
    cdef uint64_t word
    while k + 8 <= n:
        memcpy(&word, ops + k, sizeof(word))
        if word != 0:
            break
        k += 8
    while k < n and ops[k] == OP_INPUT:
        k += 1
    return k


cdef void reverse_sweep(const TapeArrays* t, const value_t* v, index_t last,
                        value_t* adj) noexcept nogil:
    """Accumulate adjoints of entries last .. 0 at values v; adj[last] holds the seed."""
    cdef count_t i = last, r = t.n_runs - 1, q = t.n_products - 1
    cdef count_t run_first, product_first, block_last
    cdef const Product* P
    if not runs_allowed:
        r = -1
    # Entry by entry between the blocks (runs and matrix products, each in
    # entry order); each block, or the part of it at or below last, as a
    # whole, so that the entry loop needs no test of its own.
    while r >= 0 and t.runs[r].first > i:
        r -= 1
    while q >= 0 and t.products[q].first > i:
        q -= 1
    while i >= 0:
        run_first = t.runs[r].first if r >= 0 else -1
        product_first = t.products[q].first if q >= 0 else -1
        if run_first < 0 and product_first < 0:
            reverse_entries(t, v, i, leading_inputs(t.ops, i + 1), adj)
            return
        if run_first > product_first:
            block_last = run_first + t.runs[r].count - 1
            if i > block_last:
                reverse_entries(t, v, i, block_last + 1, adj)
                i = block_last
            reverse_run(t, &t.runs[r], v, i, adj)
            r -= 1
            i = run_first - 1
        else:
            P = &t.products[q]
            block_last = product_first + P.m * P.n - 1
            if i > block_last:
                reverse_entries(t, v, i, block_last + 1, adj)
                i = block_last
            if i < block_last or not product_reverse(t, P, v, adj):
                while i >= product_first:
                    product_entry_reverse(t, P, i - product_first, adj[i], v, adj)
                    i -= 1
            q -= 1
            i = product_first - 1


cdef void jacobian_rows(const TapeArrays* t, const value_t* v, const int64_t* indices,
                        count_t m, count_t n_inputs, value_t* adj, double* rows) noexcept nogil:
    """Row k of rows (m x n_inputs) = d(entry indices[k]) / d(entries 0 ..
    n_inputs-1), by one sweep per row; adj has room for max(indices) + 1.
    Rows of negative indices (constant outputs) are left as they are."""
    cdef count_t k, index, n
    for k in range(m):
        index = indices[k]
        if index < 0:
            continue
        memset(adj, 0, (index + 1) * sizeof(value_t))
        adj[index] = 1.0
        reverse_sweep(t, v, <index_t>index, adj)
        n = n_inputs if n_inputs < index + 1 else index + 1
        memcpy(rows + k * n_inputs, adj, n * sizeof(value_t))


# ---- forward (replay) ------------------------------------------------------------

cdef inline value_t forward_binary(int base, int kind, index_t a, index_t b,
                                   const value_t* v, const value_t* c) noexcept nogil:
    # Constant base/kind in the hot cases below fold binary_rule away.
    if kind == KIND_VV:
        return binary_rule(base, v[a], v[b], 0.0, VALUE)
    if kind == KIND_VC:
        return binary_rule(base, v[a], c[b], 0.0, VALUE)
    return binary_rule(base, c[a], v[b], 0.0, VALUE)


cdef inline void forward_entry(const op_t* ops, const index_t* arg0, const index_t* arg1,
                               const value_t* c, const value_t* recorded, count_t i,
                               value_t* v) noexcept nogil:
    """v[i] from its operands: one step of the forward sweep."""
    cdef int op = ops[i], base
    cdef index_t a = arg0[i], b = arg1[i]
    # The most frequent operations get their own case so each compiles to
    # straight-line code; the rest share the generic cases.
    if op == OP_ADD_VV:
        v[i] = forward_binary(OP_ADD_VV, KIND_VV, a, b, v, c)
    elif op == OP_ADD_VC:
        v[i] = forward_binary(OP_ADD_VV, KIND_VC, a, b, v, c)
    elif op == OP_ADD_CV:
        v[i] = forward_binary(OP_ADD_VV, KIND_CV, a, b, v, c)
    elif op == OP_SUBTRACT_VV:
        v[i] = forward_binary(OP_SUBTRACT_VV, KIND_VV, a, b, v, c)
    elif op == OP_SUBTRACT_VC:
        v[i] = forward_binary(OP_SUBTRACT_VV, KIND_VC, a, b, v, c)
    elif op == OP_SUBTRACT_CV:
        v[i] = forward_binary(OP_SUBTRACT_VV, KIND_CV, a, b, v, c)
    elif op == OP_MULTIPLY_VV:
        v[i] = forward_binary(OP_MULTIPLY_VV, KIND_VV, a, b, v, c)
    elif op == OP_MULTIPLY_VC:
        v[i] = forward_binary(OP_MULTIPLY_VV, KIND_VC, a, b, v, c)
    elif op == OP_MULTIPLY_CV:
        v[i] = forward_binary(OP_MULTIPLY_VV, KIND_CV, a, b, v, c)
    elif op == OP_DIVIDE_VV:
        v[i] = forward_binary(OP_DIVIDE_VV, KIND_VV, a, b, v, c)
    elif op == OP_DIVIDE_VC:
        v[i] = forward_binary(OP_DIVIDE_VV, KIND_VC, a, b, v, c)
    elif op == OP_DIVIDE_CV:
        v[i] = forward_binary(OP_DIVIDE_VV, KIND_CV, a, b, v, c)
    elif op == OP_NEG:
        v[i] = unary_rule(OP_NEG, v[a], 0.0, False)
    elif op == OP_SQUARE:
        v[i] = unary_rule(OP_SQUARE, v[a], 0.0, False)
    elif op == OP_EXP:
        v[i] = unary_rule(OP_EXP, v[a], 0.0, False)
    elif op == OP_TIMES_VV:
        v[i] = forward_binary(OP_TIMES_VV, KIND_VV, a, b, v, c)
    elif op == OP_TIMES_VC:
        v[i] = forward_binary(OP_TIMES_VV, KIND_VC, a, b, v, c)
    elif op == OP_INPUT:
        v[i] = recorded[i]  # an input made after the leading ones keeps its value
    else:
        if op < FIRST_BINARY:  # outside the chain: it stays a C switch
            v[i] = unary_rule(op, v[a], 0.0, False)
        else:
            base = binary_base(op)
            v[i] = forward_binary(base, op - base, a, b, v, c)


cdef void forward_entries(const TapeArrays* t, count_t i, count_t stop,
                          value_t* v) noexcept nogil:
    """The forward sweep over entries i .. stop - 1, one by one (none of
    them an element of a matrix product)."""
    cdef const op_t* ops = t.ops
    cdef const index_t* arg0 = t.arg0
    cdef const index_t* arg1 = t.arg1
    cdef const value_t* c = t.consts
    cdef const value_t* recorded = t.values
    # Two entries a turn, each through its own copy of the dispatch: the
    # processor then predicts each jump table's target from a shorter
    # history, and the speed no longer hangs on where the code lands
    # (measured: one dispatch site ran 1x to 2.5x slower from build to
    # build on the same tape).
    while i + 1 < stop:
        forward_entry(ops, arg0, arg1, c, recorded, i, v)
        forward_entry(ops, arg0, arg1, c, recorded, i + 1, v)
        i += 2
    if i < stop:
        forward_entry(ops, arg0, arg1, c, recorded, i, v)


cdef enum:
    RUN_CHUNK = 256   # operands gathered per step of a run, on the stack


cdef inline void gather_operand(const index_t* arg, const value_t* src, count_t n,
                                double* out) noexcept nogil:
    cdef count_t p
    for p in range(n):
        out[p] = src[arg[p]]


cdef void forward_rows(int vv_op, const value_t* a, bint a_rows, const value_t* b,
                       value_t* y, count_t count, count_t period) noexcept nogil:
    """forward_run where one operand is a row repeated (a_rows: a) and the
    other a slice: the rule's loop a row at a time."""
    cdef count_t start = 0
    while start < count:
        binary_values(vv_op, a + (0 if a_rows else start), False, b + (start if a_rows else 0),
                      False, y + start, min(period, count - start))
        start += period


cdef void forward_run(const TapeArrays* t, const Run* run, count_t count,
                      value_t* v) noexcept nogil:
    """The values of the first count entries of one run: the rule's loop
    (unary_values, binary_values: the ones that recorded them, so the values
    are bit for bit the same) over operands read in place where they follow
    a pattern, else gathered a chunk at a time."""
    cdef int op = t.ops[run.first], kind
    cdef count_t start, n, first = run.first
    cdef double a[RUN_CHUNK]
    cdef double b[RUN_CHUNK]
    kind = KIND_UNARY if op < FIRST_BINARY else (op - FIRST_BINARY) % 3
    if kind == KIND_UNARY and run.a_step == 1:
        unary_values(op, v + run.a, v + first, count)
        return
    if (kind != KIND_UNARY and streamed(run.a_step) and streamed(run.b_step)
            and run.a_step + run.b_step > 0):
        binary_values(op - kind, operand_values(t, v, kind, True) + run.a, run.a_step == 0,
                      operand_values(t, v, kind, False) + run.b, run.b_step == 0,
                      v + first, count)
        return
    if kind != KIND_UNARY and ((run.a_step == 2 and run.b_step == 1)
                               or (run.a_step == 1 and run.b_step == 2)):
        forward_rows(op - kind, operand_values(t, v, kind, True) + run.a, run.a_step == 2,
                     operand_values(t, v, kind, False) + run.b, v + first, count,
                     row_length(run))
        return
    start = first
    while start < first + count:
        n = min(<count_t>RUN_CHUNK, first + count - start)
        if kind == KIND_UNARY:
            gather_operand(t.arg0 + start, v, n, a)
            unary_values(op, a, v + start, n)
        else:
            gather_operand(t.arg0 + start, operand_values(t, v, kind, True), n, a)
            gather_operand(t.arg1 + start, operand_values(t, v, kind, False), n, b)
            binary_values(op - kind, a, False, b, False, v + start, n)
        start += n


cdef void forward_sweep(const TapeArrays* t, const value_t* inputs, count_t n_inputs,
                        count_t n_entries, value_t* v) noexcept nogil:
    """Values of entries 0 .. n_entries-1 for new inputs (entries 0 .. n_inputs-1).

    Uses the same inlined rules as recording, so with the same inputs every
    value is bit for bit the recorded one.
    """
    cdef count_t i = n_inputs, r = 0, q = 0, run_first, product_first, size, p
    cdef const Product* P
    memcpy(v, inputs, n_inputs * sizeof(value_t))
    if not runs_allowed:
        r = t.n_runs
    # Entry by entry between the blocks (runs and matrix products), each
    # block as a whole.
    while True:
        while r < t.n_runs and t.runs[r].first < i:
            r += 1
        while q < t.n_products and t.products[q].first < i:
            q += 1
        run_first = t.runs[r].first if r < t.n_runs else n_entries
        product_first = t.products[q].first if q < t.n_products else n_entries
        if run_first >= n_entries and product_first >= n_entries:
            break
        if run_first < product_first:
            forward_entries(t, i, run_first, v)
            size = min(<count_t>t.runs[r].count, n_entries - run_first)
            forward_run(t, &t.runs[r], size, v)
            i = run_first + size
        else:
            forward_entries(t, i, product_first, v)
            P = &t.products[q]
            size = P.m * P.n
            if product_first + size > n_entries or not product_forward(t, P, v):
                size = min(size, n_entries - product_first)
                for p in range(size):
                    v[product_first + p] = product_entry_value(t, P, p, v)
            i = product_first + size
    forward_entries(t, i, n_entries, v)


cdef count_t first_failing_guard(const Guard* guards, count_t n_guards, const value_t* v,
                                 const value_t* c) noexcept nogil:
    """Index of the first guard whose comparison comes out differently at
    values v than when it was recorded, or -1 if all hold."""
    cdef count_t k
    cdef value_t a, b
    for k in range(n_guards):
        a = v[guards[k].a]
        b = c[guards[k].b] if guards[k].b_is_constant else v[guards[k].b]
        if compare_values(guards[k].how, a, b) != guards[k].outcome:
            return k
    return -1


# ---- tangents (forward mode) ------------------------------------------------------

# Tangent lanes swept together: each entry's partials are computed once and
# applied to every lane of the block (vector forward mode), while the lane
# matrix (entries x block) stays a bounded size.
cdef enum:
    TANGENT_BLOCK = 32

# Lane buffers are capped at about this many bytes: a long tape gets fewer
# lanes per sweep rather than a work matrix of gigabytes.
cdef count_t LANE_BUFFER_BYTES = 64 * 1024 * 1024


cdef inline count_t lanes_for(count_t n_entries, count_t n_seeds, count_t buffers) noexcept nogil:
    """Lanes per sweep: at most TANGENT_BLOCK and the seeds, and so that
    `buffers` matrices of n_entries x lanes fit LANE_BUFFER_BYTES."""
    cdef count_t lanes = LANE_BUFFER_BYTES // (max(n_entries, 1) * buffers * sizeof(value_t))
    return max(1, min(lanes, min(n_seeds, <count_t>TANGENT_BLOCK)))


def _set_lane_buffer_bytes(count_t n):
    """Test hook: the byte cap of the tangent-lane buffers (returns the old one)."""
    global LANE_BUFFER_BYTES
    old = LANE_BUFFER_BYTES
    if n < 1:
        raise ValueError("the lane buffer cap must be positive")
    LANE_BUFFER_BYTES = n
    return old


cdef void tangent_sweep(const TapeArrays* t, const value_t* v, count_t n_inputs,
                        count_t n_entries, count_t k, value_t* tan) noexcept nogil:
    """Forward (tangent) sweep of k lanes at values v.

    tan is an (n_entries x k) row-major matrix whose first n_inputs rows hold
    the input tangents; the sweep fills the other rows.
    """
    cdef count_t i, j
    cdef Entry e
    cdef value_t pa, pb, va, vb
    cdef value_t* row
    cdef const value_t* ra
    cdef const value_t* rb
    for i in range(n_inputs, n_entries):
        e = decode(t, i)
        row = tan + i * k
        if e.kind == KIND_INPUT:
            memset(row, 0, k * sizeof(value_t))  # an input made later: held fixed
        elif e.kind == KIND_PRODUCT:
            product_entry_tangent(t, &t.products[e.a], e.b, v, tan, k, row)
        elif e.kind == KIND_UNARY:
            set_scaled(row, unary_rule(e.rule, v[e.a], v[i], True), tan + e.a * k, k)
        else:
            va = operand_a(e, v)
            vb = operand_b(e, v)
            if e.a >= 0 and e.b >= 0:
                pa = binary_rule(e.rule, va, vb, v[i], WRT_A)
                pb = binary_rule(e.rule, va, vb, v[i], WRT_B)
                if is_ordinary(pa) and is_ordinary(pb):
                    ra = tan + e.a * k
                    rb = tan + e.b * k
                    for j in range(k):
                        row[j] = pa * ra[j] + pb * rb[j]
                else:
                    set_scaled(row, pa, tan + e.a * k, k)
                    add_scaled(row, pb, tan + e.b * k, k)
            elif e.a >= 0:
                set_scaled(row, binary_rule(e.rule, va, vb, v[i], WRT_A), tan + e.a * k, k)
            else:
                set_scaled(row, binary_rule(e.rule, va, vb, v[i], WRT_B), tan + e.b * k, k)


cdef void forward_jacobian(const TapeArrays* t, const value_t* v, count_t n_entries,
                           count_t n_inputs, const int64_t* outputs, count_t m,
                           const double* seeds, count_t n_seeds, double* result,
                           value_t* work, count_t block) noexcept nogil:
    """result (m x n_seeds) = d(outputs) / d(inputs) . seeds, with seeds an
    (n_inputs x n_seeds) matrix, by tangent sweeps of `block` lanes.

    work holds n_entries * block values. Rows of
    negative output indices (constant outputs) are left as they are.
    """
    cdef count_t first = 0, width, r, j, k
    while first < n_seeds:
        width = n_seeds - first if n_seeds - first < block else block
        for r in range(n_inputs):
            for j in range(width):
                work[r * width + j] = seeds[r * n_seeds + first + j]
        tangent_sweep(t, v, n_inputs, n_entries, width, work)
        for k in range(m):
            if outputs[k] >= 0:
                for j in range(width):
                    result[k * n_seeds + first + j] = work[outputs[k] * width + j]
        first += width


# ---- second order (forward over reverse) ------------------------------------------

cdef void second_order_sweep(const TapeArrays* t, const value_t* v, count_t n_inputs,
                             index_t out, count_t k, const value_t* tan, value_t* adj,
                             value_t* dadj) noexcept nogil:
    """Forward-over-reverse: the reverse sweep from `out` differentiated along
    k tangent lanes at once.

    tan (entries x k) holds the lanes of a tangent sweep at values v; adj
    (entries) and dadj (entries x k) must be zero but for adj[out] = 1. On
    return adj[0 .. n_inputs-1] is the gradient and dadj's first n_inputs
    rows are the Hessian times each lane's input tangent.
    """
    cdef count_t i
    cdef Entry e
    cdef value_t g, pa, pb, paa, pab, pbb, va, vb
    cdef const value_t* dg
    cdef const value_t* ta
    cdef const value_t* tb
    cdef value_t* da
    cdef value_t* db
    for i in range(out, n_inputs - 1, -1):
        e = decode(t, i)
        if e.kind == KIND_INPUT:
            continue
        g = adj[i]
        dg = dadj + i * k
        if e.kind == KIND_PRODUCT:
            product_entry_second(t, &t.products[e.a], e.b, g, dg, v, tan, k, adj, dadj)
            continue
        va = operand_a(e, v)
        if e.kind == KIND_UNARY:
            pa = unary_rule(e.rule, va, v[i], True)
            paa = times(g, unary_second(e.rule, va, v[i]))
            adj[e.a] += times(g, pa)
            da = dadj + e.a * k
            add_scaled(da, pa, dg, k)
            add_scaled(da, paa, tan + e.a * k, k)
            continue
        vb = operand_b(e, v)
        if e.a >= 0:
            pa = binary_rule(e.rule, va, vb, v[i], WRT_A)
            paa = times(g, binary_second(e.rule, va, vb, v[i], WRT_AA))
        if e.b >= 0:
            pb = binary_rule(e.rule, va, vb, v[i], WRT_B)
            pbb = times(g, binary_second(e.rule, va, vb, v[i], WRT_BB))
        if e.a >= 0 and e.b >= 0:
            pab = times(g, binary_second(e.rule, va, vb, v[i], WRT_AB))
            adj[e.a] += times(g, pa)
            adj[e.b] += times(g, pb)
            ta = tan + e.a * k
            tb = tan + e.b * k
            da = dadj + e.a * k
            db = dadj + e.b * k
            # a and b may be the same entry (x * x): the tangents are not
            # written here, and each sum is added in turn.
            add_scaled(da, pa, dg, k)
            add_scaled(da, paa, ta, k)
            add_scaled(da, pab, tb, k)
            add_scaled(db, pb, dg, k)
            add_scaled(db, pab, ta, k)
            add_scaled(db, pbb, tb, k)
        elif e.a >= 0:
            adj[e.a] += times(g, pa)
            da = dadj + e.a * k
            add_scaled(da, pa, dg, k)
            add_scaled(da, paa, tan + e.a * k, k)
        else:
            adj[e.b] += times(g, pb)
            db = dadj + e.b * k
            add_scaled(db, pb, dg, k)
            add_scaled(db, pbb, tan + e.b * k, k)
