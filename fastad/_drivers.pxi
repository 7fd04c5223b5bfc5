# The sweep drivers: each takes a tape's arrays and a set of entry values
# (the recorded ones, or a replay's), allocates the work buffers, runs the
# sweeps of _sweep.pxi (without the GIL on long tapes) and returns NumPy
# arrays. The transforms reach them through the def functions at the end,
# a Function (_replay.pxi) directly with its replayed values.

cdef cnp.ndarray vjp_at(const TapeArrays* t, const value_t* v, const int64_t* indices,
                        const double* seeds, count_t m, count_t n_inputs):
    """Sum over k of seeds[k] * d(entry indices[k]) / d(entries 0 ..
    n_inputs-1): one reverse sweep seeded at every output; an index of -1
    marks a constant output, which contributes nothing."""
    cdef cnp.ndarray out = np.zeros(n_inputs, dtype=np.float64)
    cdef count_t k, last = -1
    cdef value_t* adj
    cdef PyThreadState* saved
    for k in range(m):
        if indices[k] > last:
            last = indices[k]
    if last < 0:
        return out
    adj = take_buffer(last + 1, True)
    for k in range(m):
        if indices[k] >= 0:
            adj[indices[k]] += seeds[k]
    saved = release_gil_above(last + 1)
    reverse_sweep(t, v, <index_t>last, adj)
    restore_gil(saved)
    memcpy(cnp.PyArray_DATA(out), adj, min(n_inputs, last + 1) * sizeof(value_t))
    release_buffer(adj)
    return out


cdef cnp.ndarray jacobian_at(const TapeArrays* t, const value_t* v, const int64_t* indices,
                             count_t m, count_t n_inputs):
    """Rows d(entry indices[k]) / d(entries 0 .. n_inputs-1), one reverse
    sweep each; an index of -1 (a constant output) gives a row of zeros."""
    cdef cnp.ndarray jac = np.zeros((m, n_inputs), dtype=np.float64)
    cdef count_t k, last = -1, work = 0
    cdef value_t* adj
    cdef PyThreadState* saved
    for k in range(m):
        if indices[k] > last:
            last = indices[k]
        work += indices[k] + 1
    if last < 0:
        return jac
    adj = take_buffer(last + 1, True)
    saved = release_gil_above(work)
    jacobian_rows(t, v, indices, m, n_inputs, adj, <double*>cnp.PyArray_DATA(jac))
    restore_gil(saved)
    release_buffer(adj)
    return jac


cdef object tangents_at(const TapeArrays* t, const value_t* v, count_t n_entries,
                        const int64_t[::1] indices, object seeds, count_t n_inputs):
    """Output tangents (len(indices) x s) for input tangents seeds (n_inputs x s)."""
    cdef cnp.ndarray seed_matrix = np.ascontiguousarray(seeds, dtype=np.float64)
    cdef count_t m = indices.shape[0], s, block
    cdef cnp.ndarray result
    cdef value_t* work
    cdef PyThreadState* saved
    if seed_matrix.ndim != 2 or seed_matrix.shape[0] != n_inputs:
        raise ValueError(f"fastad: tangents must be an ({n_inputs}, s) matrix")
    s = seed_matrix.shape[1]
    result = np.zeros((m, s), dtype=np.float64)
    if m == 0 or s == 0:
        return result
    block = lanes_for(n_entries, s, 1)
    work = take_buffer(n_entries * block, False)
    saved = release_gil_above(n_entries * s)
    forward_jacobian(t, v, n_entries, n_inputs, &indices[0], m,
                     <const double*>cnp.PyArray_DATA(seed_matrix), s,
                     <double*>cnp.PyArray_DATA(result), work, block)
    restore_gil(saved)
    release_buffer(work)
    return result


cdef object second_order_at(const TapeArrays* t, const value_t* v, index_t out,
                            count_t n_inputs, object seeds):
    """(gradient, H @ seeds) of the scalar entry `out` with respect to the
    inputs (entries 0 .. n_inputs-1), seeds an (n_inputs x s) matrix: one
    tangent sweep and one forward-over-reverse sweep per block of lanes."""
    cdef cnp.ndarray seed_matrix = np.ascontiguousarray(seeds, dtype=np.float64)
    cdef cnp.ndarray gradient = np.zeros(n_inputs, dtype=np.float64)
    cdef cnp.ndarray products
    cdef count_t s, first = 0, width, r, j, block, n_entries = <count_t>out + 1
    cdef count_t n_rows = min(n_inputs, n_entries)
    cdef value_t* tan = NULL
    cdef value_t* adj = NULL
    cdef value_t* dadj = NULL
    cdef const double* seed_data
    cdef double* result
    cdef PyThreadState* saved
    if seed_matrix.ndim != 2 or seed_matrix.shape[0] != n_inputs:
        raise ValueError(f"fastad: Hessian seeds must be an ({n_inputs}, s) matrix")
    s = seed_matrix.shape[1]
    products = np.zeros((n_inputs, s), dtype=np.float64)
    if out < 0 or s == 0:
        return gradient, products
    seed_data = <const double*>cnp.PyArray_DATA(seed_matrix)
    result = <double*>cnp.PyArray_DATA(products)
    try:
        block = lanes_for(n_entries, s, 2)
        tan = take_buffer(n_entries * block, False)
        adj = take_buffer(n_entries, False)
        dadj = take_buffer(n_entries * block, False)
        saved = release_gil_above(n_entries * s)
        while first < s:
            width = min(s - first, block)
            for r in range(n_rows):
                for j in range(width):
                    tan[r * width + j] = seed_data[r * s + first + j]
            tangent_sweep(t, v, n_rows, n_entries, width, tan)
            memset(adj, 0, n_entries * sizeof(value_t))
            memset(dadj, 0, n_entries * width * sizeof(value_t))
            adj[out] = 1.0
            second_order_sweep(t, v, n_rows, out, width, tan, adj, dadj)
            for r in range(n_rows):
                for j in range(width):
                    result[r * s + first + j] = dadj[r * width + j]
            first += width
        restore_gil(saved)
        memcpy(cnp.PyArray_DATA(gradient), adj, n_rows * sizeof(value_t))
    finally:
        release_buffer(tan)
        release_buffer(adj)
        release_buffer(dadj)
    return gradient, products


cdef value_t* adjoints(Tape tape, Var y) except NULL:
    """The reverse sweep of tape seeded at y; the caller gives the buffer
    (entries 0 .. y.index, the only ones y depends on) back with
    release_buffer."""
    cdef count_t n = <count_t>y.index + 1
    cdef value_t* adj = take_buffer(n, True)
    cdef PyThreadState* saved
    adj[y.index] = 1.0
    saved = release_gil_above(n)
    reverse_sweep(&tape.data.arr, tape.data.arr.values, y.index, adj)
    restore_gil(saved)
    return adj


# ---- for the transforms: a recorded tape, its inputs first --------------------------

def _input_gradient(Tape tape, object y, count_t n_inputs):
    """dy/d(entries 0 .. n_inputs-1), the inputs, as a float64 array."""
    cdef int64_t index
    cdef double seed = 1.0
    if type(y) is not Var:
        return np.zeros(n_inputs, dtype=np.float64)  # a constant output
    tape.check_thread()
    tape.check_output(<Var>y)
    index = (<Var>y).index
    return vjp_at(&tape.data.arr, tape.data.arr.values, &index, &seed, 1, n_inputs)


def _input_vjp(Tape tape, const int64_t[::1] indices, const double[::1] seeds,
               count_t n_inputs):
    """Cotangent-weighted sum of the rows of the outputs at `indices` (-1:
    a constant output): one reverse sweep."""
    if seeds.shape[0] != indices.shape[0]:
        raise ValueError("fastad: one cotangent per output")
    tape.check_thread()
    if indices.shape[0] == 0:
        return np.zeros(n_inputs, dtype=np.float64)
    return vjp_at(&tape.data.arr, tape.data.arr.values, &indices[0], &seeds[0],
                  indices.shape[0], n_inputs)


def _input_jacobian(Tape tape, const int64_t[::1] indices, count_t n_inputs):
    """Jacobian rows of the outputs at `indices`, one reverse sweep each."""
    tape.check_thread()
    if indices.shape[0] == 0:
        return np.zeros((0, n_inputs), dtype=np.float64)
    return jacobian_at(&tape.data.arr, tape.data.arr.values, &indices[0], indices.shape[0],
                       n_inputs)


def _input_tangents(Tape tape, const int64_t[::1] indices, seeds, count_t n_inputs):
    """Output tangents (outputs x s) for input tangents seeds (n_inputs x s),
    by forward sweeps (TANGENT_BLOCK lanes at a time) at the recorded values."""
    tape.check_thread()
    return tangents_at(&tape.data.arr, tape.data.arr.values, tape.data.n_entries, indices,
                       seeds, n_inputs)


def _second_order(Tape tape, object y, count_t n_inputs, seeds):
    """(gradient, H @ seeds) of scalar output y at the recorded values."""
    if type(y) is not Var:
        return np.zeros(n_inputs), np.zeros((n_inputs, np.shape(seeds)[1]))
    tape.check_thread()
    tape.check_output(<Var>y)
    return second_order_at(&tape.data.arr, tape.data.arr.values, (<Var>y).index, n_inputs,
                           seeds)


def _output_entries(Tape tape, object items, str where):
    """Entry indices (-1 for numbers) and values of a flat sequence of
    outputs, as (int64 array, float64 array)."""
    cdef count_t m = len(items), k
    cdef cnp.ndarray indices = np.empty(m, dtype=np.int64)
    cdef cnp.ndarray values = np.empty(m, dtype=np.float64)
    cdef int64_t* idx = <int64_t*>cnp.PyArray_DATA(indices)
    cdef double* val = <double*>cnp.PyArray_DATA(values)
    cdef Var v
    for k in range(m):
        item = items[k]
        if type(item) is Var:
            v = <Var>item
            if v.tape is not tape:
                if v.tape is not None and stack_position(v.tape) >= 0:
                    v = tape.capture(v)  # an output that is an outer Var
                else:
                    raise TapeError(
                        f"{where}: f returned a Var that was not computed from the "
                        f"differentiated arguments of this call (a Var of another tape)")
            idx[k] = v.index
            val[k] = v._value
        else:
            number = as_real_number_or_none(item)
            if number is None:
                raise TypeError(
                    f"{where}: f must return Vars or real numbers, but output "
                    f"element {k} is {describe(item)}")
            idx[k] = -1
            val[k] = number
    return indices, values
