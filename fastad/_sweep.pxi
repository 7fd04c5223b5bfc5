# The reverse sweep: one pass from the output back to the inputs, adding
# each entry's adjoint times its local partials into its operands' adjoints.
# The partials come from the rules in _ops.pxi, recomputed from the stored
# values (storing them would cost 16 more bytes per binary entry, and replay
# must recompute them anyway).


cdef inline void reverse_binary(int base, int kind, index_t i, index_t a, index_t b,
                                value_t g, const value_t* v, const value_t* c,
                                value_t* adj) noexcept nogil:
    # Called with constant base/kind in the hot cases below, where the
    # compiler folds binary_rule down to its one expression.
    if kind == KIND_VV:
        adj[a] += g * binary_rule(base, v[a], v[b], v[i], WRT_A)
        adj[b] += g * binary_rule(base, v[a], v[b], v[i], WRT_B)
    elif kind == KIND_VC:
        adj[a] += g * binary_rule(base, v[a], c[b], v[i], WRT_A)
    else:
        adj[b] += g * binary_rule(base, c[a], v[b], v[i], WRT_B)


cdef void reverse_sweep(const TapeArrays* t, index_t last, value_t* adj) noexcept nogil:
    """Accumulate adjoints of entries last .. 0; adj[last] holds the seed."""
    cdef const op_t* ops = t.ops
    cdef const index_t* arg0 = t.arg0
    cdef const index_t* arg1 = t.arg1
    cdef const value_t* v = t.values
    cdef const value_t* c = t.consts
    cdef count_t i
    cdef index_t a, b
    cdef value_t g
    cdef int op, base
    for i in range(last, -1, -1):
        op = ops[i]
        g = adj[i]
        a = arg0[i]
        b = arg1[i]
        # The most frequent operations get their own case so each compiles
        # to straight-line code; the rest share the generic cases.
        if op == OP_INPUT:
            pass
        elif op == OP_ADD_VV:
            reverse_binary(OP_ADD_VV, KIND_VV, i, a, b, g, v, c, adj)
        elif op == OP_ADD_VC:
            reverse_binary(OP_ADD_VV, KIND_VC, i, a, b, g, v, c, adj)
        elif op == OP_ADD_CV:
            reverse_binary(OP_ADD_VV, KIND_CV, i, a, b, g, v, c, adj)
        elif op == OP_SUB_VV:
            reverse_binary(OP_SUB_VV, KIND_VV, i, a, b, g, v, c, adj)
        elif op == OP_SUB_VC:
            reverse_binary(OP_SUB_VV, KIND_VC, i, a, b, g, v, c, adj)
        elif op == OP_SUB_CV:
            reverse_binary(OP_SUB_VV, KIND_CV, i, a, b, g, v, c, adj)
        elif op == OP_MUL_VV:
            reverse_binary(OP_MUL_VV, KIND_VV, i, a, b, g, v, c, adj)
        elif op == OP_MUL_VC:
            reverse_binary(OP_MUL_VV, KIND_VC, i, a, b, g, v, c, adj)
        elif op == OP_MUL_CV:
            reverse_binary(OP_MUL_VV, KIND_CV, i, a, b, g, v, c, adj)
        elif op == OP_DIV_VV:
            reverse_binary(OP_DIV_VV, KIND_VV, i, a, b, g, v, c, adj)
        elif op == OP_DIV_VC:
            reverse_binary(OP_DIV_VV, KIND_VC, i, a, b, g, v, c, adj)
        elif op == OP_DIV_CV:
            reverse_binary(OP_DIV_VV, KIND_CV, i, a, b, g, v, c, adj)
        elif op == OP_NEG:
            adj[a] += g * unary_rule(OP_NEG, v[a], v[i], True)
        elif op == OP_SQUARE:
            adj[a] += g * unary_rule(OP_SQUARE, v[a], v[i], True)
        elif op == OP_EXP:
            adj[a] += g * unary_rule(OP_EXP, v[a], v[i], True)
        elif op < FIRST_BINARY:
            adj[a] += g * unary_rule(op, v[a], v[i], True)
        else:
            base = binary_base(op)
            reverse_binary(base, op - base, i, a, b, g, v, c, adj)


cdef void jacobian_rows(const TapeArrays* t, const int64_t* indices, count_t m,
                        count_t n_inputs, value_t* adj, double* rows) noexcept nogil:
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
        reverse_sweep(t, <index_t>index, adj)
        n = n_inputs if n_inputs < index + 1 else index + 1
        memcpy(rows + k * n_inputs, adj, n * sizeof(value_t))
