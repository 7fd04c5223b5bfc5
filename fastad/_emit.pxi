# Derivatives written out as tape entries. The reverse sweep of a recording
# is emitted, entry by entry, as ordinary operations onto a tape, so the
# gradient becomes a recording itself: it can be replayed, differentiated
# again (derivatives of any order) and swept forward. The emitted partial
# of each operation (_emit_rules.pxi) is generated from the same rule as
# its numeric partial; where a rule has a convention at a point (power at
# a == 0, hypot at the origin, maximum's tie), the emitted rule takes the
# branch the current values take and records the comparison as a branch
# guard, so a replay on the other side re-traces. A constant zero is a
# structural zero here as in the numeric sweeps: it adds no entry, and a
# product with it is 0 whatever the other factor.

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
    return tape.data.arr.values[t.entry] if t.entry >= 0 else t.constant


cdef Term emit_unary(Tape tape, int op, Term x) except *:
    cdef double y
    if x.entry < 0:
        return constant_term(unary_rule(op, x.constant, 0.0, False))
    y = unary_rule(op, tape.data.arr.values[x.entry], 0.0, False)
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


# The exact identities x * 1 = x and x + 0 = x keep seeds and sums short,
# and a constant zero factor is a structural zero: the product is 0 even
# where the other factor is infinite, as in every numeric sweep.
cdef Term emit_mul(Tape tape, Term a, Term b) except *:
    if is_constant(a, 0.0) or is_constant(b, 0.0):
        return constant_term(0.0)
    if is_constant(a, 1.0):
        return b
    if is_constant(b, 1.0):
        return a
    return emit_binary(tape, OP_MULTIPLY_VV, a, b)


cdef Term emit_times(Tape tape, Term a, Term b) except *:
    """a * b as the emitted derivatives multiply an adjoint or a tangent by
    a partial: a structural zero whichever factor is 0 when replayed."""
    if is_constant(a, 0.0) or is_constant(b, 0.0):
        return constant_term(0.0)
    if is_constant(a, 1.0):
        return b
    if is_constant(b, 1.0):
        return a
    return emit_binary(tape, OP_TIMES_VV, a, b)


cdef Term emit_add(Tape tape, Term a, Term b) except *:
    if is_constant(a, 0.0):
        return b
    if is_constant(b, 0.0):
        return a
    return emit_binary(tape, OP_ADD_VV, a, b)


cdef inline Term emit_sub(Tape tape, Term a, Term b) except *:
    if is_constant(b, 0.0):
        return a
    return emit_binary(tape, OP_SUBTRACT_VV, a, b)


cdef inline Term emit_div(Tape tape, Term a, Term b) except *:
    return emit_binary(tape, OP_DIVIDE_VV, a, b)


cdef inline Term emit_neg(Tape tape, Term a) except *:
    return emit_unary(tape, OP_NEG, a)


cdef inline Term one() noexcept nogil:
    return constant_term(1.0)


cdef inline Term number(double c) noexcept nogil:
    return constant_term(c)


cdef Term emit_select(Tape tape, Term mask, Term chosen, Term alternative) except *:
    """where(mask, chosen, alternative) for a mask of 1.0/0.0: a constant
    mask picks a branch; otherwise select(mask, chosen) +
    select_else(mask, alternative), no branch guard."""
    if mask.entry < 0:
        return chosen if mask.constant != 0.0 else alternative
    return emit_binary(tape, OP_ADD_VV, emit_binary(tape, OP_SELECT_VV, mask, chosen),
                       emit_binary(tape, OP_SELECT_ELSE_VV, mask, alternative))


# ---- the reverse sweep, emitted ------------------------------------------------------

cdef Term accumulate(Tape tape, Term total, Term term) except *:
    if is_constant(term, 0.0):
        return total  # a structural zero adds nothing (not even an entry)
    if total.entry == NO_TERM:
        return term
    return emit_add(tape, total, term)


cdef inline Term source_operand(index_t a, value_t c, const index_t* where) noexcept nogil:
    """A decoded operand of a source entry as a Term of the target: the
    target entry holding it, or its constant."""
    return entry_term(where[a]) if a >= 0 else constant_term(c)


cdef int emit_reverse(Tape source, Tape target, const index_t* where, Term* adj,
                      index_t last, count_t stop) except -1:
    """The reverse sweep of source's entries last .. stop, emitted onto target.

    adj[i] holds the seed (or NO_TERM) of source entry i on entry and its
    adjoint, as a Term of target, on return; where[i] is the target entry
    holding source entry i's value.
    """
    cdef count_t next = last, i
    cdef Entry e
    cdef Term g, A, B, Y
    while next >= stop:
        i = next
        next = i - 1
        if source.data.arr.ops[i] == OP_MATMUL:
            next = emit_product_reverse(source, target, where, adj, i)
            continue
        g = adj[i]
        if g.entry == NO_TERM or is_constant(g, 0.0):
            continue  # nothing flows back from here
        e = decode(&source.data.arr, i)
        if e.kind == KIND_INPUT:
            continue
        Y = entry_term(where[i])
        A = source_operand(e.a, e.ca, where)
        if e.kind == KIND_UNARY:
            adj[e.a] = accumulate(target, adj[e.a],
                                  emit_times(target, g, emit_unary_partial(target, e.rule, A, Y)))
            continue
        B = source_operand(e.b, e.cb, where)
        if e.a >= 0:
            adj[e.a] = accumulate(target, adj[e.a], emit_times(
                target, g, emit_binary_partial(target, e.rule, A, B, Y, WRT_A)))
        if e.b >= 0:
            adj[e.b] = accumulate(target, adj[e.b], emit_times(
                target, g, emit_binary_partial(target, e.rule, A, B, Y, WRT_B)))
    return 0


# ---- matrix products, emitted as matrix products -------------------------------------

cdef inline Term code_term(Tape tape, index_t code) noexcept:
    """A code of tape as a Term."""
    if code >= 0:
        return entry_term(code)
    return constant_term(tape.data.arr.consts[-1 - code])


cdef object term_codes(Tape target, const Term* terms, count_t n, count_t rows, count_t cols):
    """Codes on target of n Terms (NO_TERM a zero), padded with zeros to
    rows x cols; None when they are all zero."""
    cdef cnp.ndarray out = np.empty(rows * cols, dtype=np.int32)
    cdef index_t* d = <index_t*>cnp.PyArray_DATA(out)
    cdef index_t zero = 0
    cdef bint any_term = False
    cdef count_t p
    for p in range(rows * cols):
        if p < n and terms[p].entry != NO_TERM and not is_constant(terms[p], 0.0):
            any_term = True
            d[p] = terms[p].entry if terms[p].entry >= 0 else fold_constant(
                &target.data, terms[p].constant)
        else:
            if zero == 0:
                zero = fold_constant(&target.data, 0.0)
            d[p] = zero
    return out.reshape(rows, cols) if any_term else None


cdef object factor_operand(Tape source, Tape target, const Factor* f, count_t rows,
                           count_t cols, const index_t* where):
    """A factor of a product of source as an operand on target: its codes
    through where (constants pooled again), or the same constant matrix."""
    cdef cnp.ndarray out
    cdef index_t* d
    cdef index_t c
    cdef count_t p
    if f.codes == NULL:
        return source.held[f.held]
    out = np.empty((rows, cols), dtype=np.int32)
    d = <index_t*>cnp.PyArray_DATA(out)
    for p in range(rows * cols):
        c = f.codes[p]
        d[p] = where[c] if c >= 0 else fold_constant(&target.data,
                                                     source.data.arr.consts[-1 - c])
    return out


cdef object factor_tangents(Tape target, const Factor* f, count_t rows, count_t cols,
                            const Term* tan):
    """Codes on target of the tangents of a factor's elements (None: all zero)."""
    cdef Term* terms
    cdef count_t p
    if f.codes == NULL:
        return None
    terms = new_terms(rows * cols)
    try:
        for p in range(rows * cols):
            if f.codes[p] >= 0:
                terms[p] = tan[f.codes[p]]
        return term_codes(target, terms, rows * cols, rows, cols)
    finally:
        free(terms)


cdef int add_codes_into(Tape target, const Factor* f, cnp.ndarray codes, Term* adj) except -1:
    """adj[entry] += the Term of codes[p], for each entry element p of f."""
    cdef cnp.ndarray src = np.ascontiguousarray(codes)
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(src)
    cdef count_t p
    cdef index_t c
    for p in range(src.size):
        c = f.codes[p]
        if c >= 0:
            adj[c] = accumulate(target, adj[c], code_term(target, s[p]))
    return 0


cdef count_t emit_product_reverse(Tape source, Tape target, const index_t* where, Term* adj,
                                  count_t i) except -2:
    """The reverse sweep of source's product whose entry i is the last one
    swept (later ones have no adjoint), emitted onto target as two matrix
    products, dA = G B^T and dB = A^T G; returns the entry before the product."""
    cdef const Product* P = &source.data.arr.products[source.data.arr.arg0[i]]
    cdef count_t m = P.m, n = P.n, k = P.k
    G = term_codes(target, adj + P.first, i - P.first + 1, m, n)
    if G is None:
        return P.first - 1
    A = factor_operand(source, target, &P.a, m, k, where)
    B = factor_operand(source, target, &P.b, k, n, where)
    if P.a.codes != NULL:
        add_codes_into(target, &P.a, product_codes(target, G, B.T, True), adj)
    if P.b.codes != NULL:
        add_codes_into(target, &P.b, product_codes(target, A.T, G, True), adj)
    return P.first - 1


cdef count_t emit_product_tangents(Tape source, Tape target, const Product* P,
                                   const index_t* where, Term* tan) except -1:
    """The tangents of source's product P, emitted onto target as matrix
    products: A tan(B) + tan(A) B. Returns the entry after the product."""
    cdef count_t m = P.m, n = P.n, k = P.k, p
    cdef Term total
    cdef const index_t* s1 = NULL
    cdef const index_t* s2 = NULL
    dA = factor_tangents(target, &P.a, m, k, tan)
    dB = factor_tangents(target, &P.b, k, n, tan)
    if dB is not None:
        first = np.ascontiguousarray(
            product_codes(target, factor_operand(source, target, &P.a, m, k, where), dB, True))
        s1 = <const index_t*>cnp.PyArray_DATA(first)
    if dA is not None:
        second = np.ascontiguousarray(
            product_codes(target, dA, factor_operand(source, target, &P.b, k, n, where), True))
        s2 = <const index_t*>cnp.PyArray_DATA(second)
    for p in range(m * n):
        total.entry = NO_TERM
        total.constant = 0.0
        if s1 != NULL:
            total = accumulate(target, total, code_term(target, s1[p]))
        if s2 != NULL:
            total = accumulate(target, total, code_term(target, s2[p]))
        tan[P.first + p] = total
    return P.first + m * n


cdef count_t splice_product(Tape inner, Tape target, const Product* P,
                            index_t* where) except -1:
    """Inner's product P written onto target as the same product of the
    spliced factors; returns the inner entry after it."""
    cdef count_t p
    out = np.ascontiguousarray(product_codes(
        target, factor_operand(inner, target, &P.a, P.m, P.k, where),
        factor_operand(inner, target, &P.b, P.k, P.n, where), P.careful))
    cdef const index_t* s = <const index_t*>cnp.PyArray_DATA(out)
    for p in range(P.m * P.n):
        where[P.first + p] = s[p]
    return P.first + P.m * P.n


cdef Term* new_terms(count_t n) except NULL:
    """n Terms set to NO_TERM; the caller frees them."""
    cdef Term* terms = <Term*>malloc(max(n, 1) * sizeof(Term))
    cdef count_t i
    if terms == NULL:
        raise MemoryError("fastad: could not allocate the emitted adjoints")
    for i in range(n):
        terms[i].entry = NO_TERM
        terms[i].constant = 0.0
    return terms


cdef list emit_gradient(Tape source, index_t out, count_t n_inputs, Tape target,
                        const index_t* where):
    """Emit onto target the gradient of source's entry `out` with respect to
    source's entries 0 .. n_inputs-1 (see emit_reverse). Returns one
    (entry, constant) pair per input, entry -1 for a constant."""
    cdef Term* adj
    cdef count_t i
    if out < 0:
        return [(-1, 0.0)] * n_inputs
    adj = new_terms(<count_t>out + 1)
    try:
        adj[out] = one()
        emit_reverse(source, target, where, adj, out, n_inputs)
        result = []
        for i in range(n_inputs):
            if i > out or adj[i].entry == NO_TERM:
                result.append((-1, 0.0))
            else:
                result.append((adj[i].entry, adj[i].constant))
        return result
    finally:
        free(adj)


cdef Recording gradient_recording(Recording rec):
    """A recording of x -> d(output)/dx for a recording with one scalar output:
    the forward entries of rec, then its reverse sweep written out."""
    cdef Tape target = finished_copy(rec.tape)
    cdef count_t n = rec.tape.data.n_entries, i
    cdef index_t* identity = <index_t*>malloc(max(n, 1) * sizeof(index_t))
    if identity == NULL:
        raise MemoryError("fastad: could not allocate an index map")
    try:
        for i in range(n):
            identity[i] = <index_t>i
        # The copy is finished; the emitted entries go after the forward ones.
        terms = emit_gradient(rec.tape, rec.last_output, rec.n_inputs, target, identity)
    finally:
        free(identity)
    indices = np.array([t[0] for t in terms], dtype=np.int64)
    values = np.array([target.data.arr.values[t[0]] if t[0] >= 0 else t[1] for t in terms],
                      dtype=np.float64)
    return Recording.create(target, indices, values, rec.n_inputs)


# ---- nesting: an inner recording spliced onto the enclosing tape ----------------------
# A transform called inside another one (grad(grad(f)), or any transform
# whose function uses Vars of an enclosing transform) records on its own
# tape as usual, with the outer Vars captured as inner entries. Its result
# must be differentiable by the outer transform, so instead of sweeping
# numbers the inner tape is written onto the outer one (each inner entry
# becomes an outer entry, captured entries become the outer Vars they stand
# for) and the derivative is emitted there. Derivatives of the two levels
# never mix: the inner inputs are the only seeds of the inner derivative.

cdef Tape enclosing_tape(Tape inner, object extra):
    """The tape a nested result belongs on: of the recording tapes whose Vars
    the inner recording used (captured) or is seeded with (extra), the
    innermost one. Tapes opened in between (a Tape block inside a
    transform) are not it: their Vars never met the inner function."""
    cdef Tape best = None
    cdef Py_ssize_t best_position = -1, position
    cdef Var v
    owners = list((inner.captures or {}).values()) + [x for x in extra if type(x) is Var]
    for owner in owners:
        v = <Var>owner
        if v.tape is None:
            continue
        position = stack_position(v.tape)
        if position > best_position:
            best, best_position = v.tape, position
    if best is None:
        raise TapeError("a nested transform found no enclosing recording tape "
                        "(its Vars belong to tapes that have finished recording)")
    return best


cdef object term_object(Tape target, Term t):
    """A Term as a user-facing result: a Var of target or a float."""
    if t.entry >= 0:
        return make_var(target, t.entry, target.data.arr.values[t.entry])
    return t.constant


cdef Term object_term(Tape target, object x) except *:
    """A seed (a Var of an active tape, or a number) as a Term of target."""
    cdef Var v
    if type(x) is Var:
        v = <Var>x
        if v.tape is not target:
            v = target.capture(v) if stack_position(v.tape) >= 0 else None
            if v is None:
                raise TapeError("a nested transform was given a Var of another tape")
        return entry_term(v.index)
    return constant_term(as_real_number(x, "nested transform"))


@cython.final
cdef class Splice:
    """An inner tape written onto its enclosing tape: where[i] is the outer
    entry holding inner entry i. Made by _splice; its methods give the
    inner outputs and derivatives as Vars of the enclosing tape."""

    cdef Tape inner
    cdef Tape target
    cdef index_t* where

    def __dealloc__(self):
        free(self.where)

    @staticmethod
    cdef Splice create(Tape inner, object extra=()):
        cdef Splice sp = Splice.__new__(Splice)
        cdef Tape target = enclosing_tape(inner, extra)
        cdef count_t n = inner.data.n_entries, i, k
        cdef Entry e
        cdef index_t a, b
        cdef const Guard* g
        cdef Var outer
        target.check_recording()
        sp.inner = inner
        sp.target = target
        sp.where = <index_t*>malloc(max(n, 1) * sizeof(index_t))
        if sp.where == NULL:
            raise MemoryError("fastad: could not allocate a splice map")
        captures = inner.captures if inner.captures is not None else {}
        i = 0
        while i < n:
            e = decode(&inner.data.arr, i)
            if e.kind == KIND_PRODUCT:
                i = splice_product(inner, target, &inner.data.arr.products[e.a], sp.where)
                continue
            if e.kind == KIND_INPUT:
                outer = captures.get(i)
                if outer is None:  # an input given as a number: fixed on the outer tape
                    sp.where[i] = target.push(OP_INPUT, 0, 0, inner.data.arr.values[i])
                else:
                    if outer.tape is not target:
                        outer = target.capture(outer)
                    sp.where[i] = outer.index
                i += 1
                continue
            # The operands in the target's terms: its entries, or its constants.
            a = sp.where[e.a] if e.a >= 0 else target.push_const(e.ca)
            b = 0
            if e.kind != KIND_UNARY:
                b = sp.where[e.b] if e.b >= 0 else target.push_const(e.cb)
            sp.where[i] = target.push(inner.data.arr.ops[i], a, b, inner.data.arr.values[i])
            i += 1
        for k in range(inner.data.n_guards):
            g = &inner.data.guards[k]
            target.push_guard(sp.where[g.a],
                              target.push_const(inner.data.arr.consts[g.b]) if g.b_is_constant
                              else sp.where[g.b], g.how, g.b_is_constant, g.outcome)
        return sp

    def outputs(self, outputs, values):
        """The inner outputs (entry indices, -1 for a number with its value)
        as results: Vars of the target, or the numbers."""
        return [make_var(self.target, self.where[o], self.inner.data.arr.values[o]) if o >= 0
                else v for o, v in zip(outputs, values)]

    def gradients(self, outputs, seeds, count_t n_inputs, wanted=None):
        """sum_k seeds[k] * d(outputs[k]) / d(inputs), emitted on the target:
        one result (Var or float) per inner input, or per inner entry listed
        in wanted (then every entry is swept)."""
        cdef Term* adj
        cdef count_t n = self.inner.data.n_entries
        cdef int64_t last = -1, o
        cdef Tape target = self.target
        cdef Term seed_term
        target.check_recording()  # a nested result is only made while its tape records
        adj = new_terms(n)
        try:
            for o, seed in zip(outputs, seeds):
                if o < 0:
                    continue
                seed_term = object_term(target, seed)
                if is_constant(seed_term, 0.0):
                    continue  # a structural zero: seeding it would only add 0 * inf = nan
                adj[o] = accumulate(target, adj[o], seed_term)
                last = max(last, o)
            emit_reverse(self.inner, target, self.where, adj, <index_t>last,
                         n_inputs if wanted is None else 0)
            return [0.0 if i > last or adj[i].entry == NO_TERM else term_object(target, adj[i])
                    for i in (range(n_inputs) if wanted is None else wanted)]
        finally:
            free(adj)

    def tangents(self, outputs, seeds, count_t n_inputs):
        """d(outputs) / d(inputs) . seeds, emitted on the target (forward)."""
        cdef count_t n = self.inner.data.n_entries, i, k, next
        cdef Term* tan
        cdef Term A, B, Y, total
        cdef Entry e
        cdef Tape source = self.inner, target = self.target
        target.check_recording()
        tan = new_terms(n)  # tangent Terms, all NO_TERM to start
        try:
            for k, seed in enumerate(seeds):
                if k < n:
                    tan[k] = object_term(target, seed)
                    if is_constant(tan[k], 0.0):
                        tan[k].entry = NO_TERM  # a structural zero
            next = n_inputs
            while next < n:
                i = next
                next = i + 1
                e = decode(&source.data.arr, i)
                if e.kind == KIND_PRODUCT:
                    next = emit_product_tangents(source, target,
                                                 &source.data.arr.products[e.a], self.where, tan)
                    continue
                if e.kind == KIND_INPUT:
                    continue
                Y = entry_term(self.where[i])
                A = source_operand(e.a, e.ca, self.where)
                total.entry = NO_TERM
                total.constant = 0.0
                if e.kind == KIND_UNARY:
                    if tan[e.a].entry != NO_TERM:
                        total = accumulate(target, total, emit_times(
                            target, emit_unary_partial(target, e.rule, A, Y), tan[e.a]))
                    tan[i] = total
                    continue
                B = source_operand(e.b, e.cb, self.where)
                if e.a >= 0 and tan[e.a].entry != NO_TERM:
                    total = accumulate(target, total, emit_times(
                        target, emit_binary_partial(target, e.rule, A, B, Y, WRT_A), tan[e.a]))
                if e.b >= 0 and tan[e.b].entry != NO_TERM:
                    total = accumulate(target, total, emit_times(
                        target, emit_binary_partial(target, e.rule, A, B, Y, WRT_B), tan[e.b]))
                tan[i] = total
            return [0.0 if o < 0 or tan[o].entry == NO_TERM else term_object(target, tan[o])
                    for o in outputs]
        finally:
            free(tan)


def _is_nested(Tape tape):
    """Whether a finished recording used Vars of an enclosing tape."""
    return bool(tape.captures)


def _splice(Tape inner, extra=()):
    """Write a finished nested recording onto its enclosing tape (the one
    owning its captured Vars, or the Vars in extra); returns the Splice."""
    return Splice.create(inner, extra)
