# Matrix products on the tape. C = A @ B is recorded as one entry per
# element of C (opcode OP_MATMUL: arg0 the tape's Product, arg1 the
# element's row-major position), so values and adjoints stay one per entry
# and every walker of the tape can treat an element on its own; but the
# forward and reverse sweeps meet the whole product at once and run it as
# matrix work: C = A B forward, dA += G B^T and dB += A^T G backward, by
# BLAS's dgemm (the one SciPy ships, found at run time) or by the loops
# below when SciPy is absent. A constant factor (a float ndarray) is held
# by reference, not copied: the caller must not modify it while the
# recording is in use.
#
# The per-element rules below (value, reverse, tangent, second order) are
# the definition; the whole-product sweeps are the same sums in matrix
# form, used wherever their results are finite (BLAS computes 0 * inf as
# nan, where a structural zero must contribute nothing).

from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer

ctypedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k,
                         double* alpha, double* a, int* lda, double* b, int* ldb,
                         double* beta, double* c, int* ldc) noexcept nogil

ctypedef void (*dgemv_t)(char* trans, int* m, int* n, double* alpha, double* a, int* lda,
                         double* x, int* incx, double* beta, double* y,
                         int* incy) noexcept nogil

cdef dgemm_t blas_dgemm = NULL      # SciPy's dgemm, once found
cdef dgemv_t blas_dgemv = NULL      # and its dgemv (products with one row or column)
cdef bint blas_looked_up = False
cdef bint blas_allowed = True       # test hook: False runs the loops below

# Products with fewer multiply-adds than this run the loops below: a BLAS
# call costs more than the work.
cdef count_t BLAS_MIN_WORK = 512


cdef void find_blas():
    """Look up SciPy's dgemm once (the first product recorded); without
    SciPy the loops below do the work."""
    global blas_dgemm, blas_dgemv, blas_looked_up
    if blas_looked_up:
        return
    blas_looked_up = True
    try:
        from scipy.linalg import cython_blas
        capsule = cython_blas.__pyx_capi__["dgemm"]
        blas_dgemm = <dgemm_t>PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))
        capsule = cython_blas.__pyx_capi__["dgemv"]
        blas_dgemv = <dgemv_t>PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))
    except Exception:  # no SciPy, or one without cython_blas: the loops serve
        blas_dgemm = NULL
        blas_dgemv = NULL


def _use_blas(bint allowed):
    """Test hook: whether products may use BLAS (returns the old setting)."""
    global blas_allowed
    old = blas_allowed
    blas_allowed = allowed
    return old


def _blas_found():
    """Whether SciPy's dgemm was found (after the first recorded product)."""
    find_blas()
    return blas_dgemm != NULL


# ---- matrix products on C arrays ------------------------------------------------------

cdef struct View:
    # A factor's numbers in BLAS's terms: row-major, transposed or not.
    const double* data
    char trans          # b'N': element (i, j) at data[i*ld + j]; b'T': at data[j*ld + i]
    count_t ld


cdef inline View flipped(View x) noexcept nogil:
    """The transpose of x, with the same numbers."""
    x.trans = b'T' if x.trans == b'N' else b'N'
    return x


cdef inline double at(View x, count_t i, count_t j) noexcept nogil:
    return x.data[i * x.ld + j] if x.trans == b'N' else x.data[j * x.ld + i]


cdef inline double multiply(double a, double b, bint careful) noexcept nogil:
    """a * b, or with careful an exact zero times anything zero (times)."""
    return times(a, b) if careful else a * b


cdef void gemm(View A, View B, count_t m, count_t n, count_t k, double beta, double* C,
               count_t ldc, bint careful=False) noexcept nogil:
    """C (m x n, row-major, leading dimension ldc) = A @ B + beta * C, with
    A m x k and B k x n (beta 0: C is not read). careful: the loops below,
    each product by times."""
    cdef int im = <int>m, in_ = <int>n, ik = <int>k, ilda = <int>A.ld, ildb = <int>B.ld
    cdef int ildc = <int>ldc
    cdef double one = 1.0, a
    cdef count_t i, j, p, first
    cdef double* row
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                C[i * ldc + j] = 0.0 if beta == 0.0 else beta * C[i * ldc + j]
        return
    if (blas_dgemm != NULL and blas_allowed and not careful and m * n * k >= BLAS_MIN_WORK
            and max(max(m, n), max(k, max(max(A.ld, B.ld), ldc))) < INT32_MAX):
        if blas_dgemv != NULL and (n == 1 or m == 1):
            vector_product(A, B, m, n, k, beta, C, ldc)
            return
        # Row-major C = A B is column-major C^T = B^T A^T: the same
        # arrays, the factors swapped, the transpose flags unchanged.
        blas_dgemm(&B.trans, &A.trans, &in_, &im, &ik, &one, <double*>B.data, &ildb,
                   <double*>A.data, &ilda, &beta, C, &ildc)
        return
    for i in range(m):
        row = C + i * ldc
        # Each element is its products summed left to right from the first
        # one (not from +0.0, which would turn a sum of -0.0 into +0.0), as
        # NumPy's own loops and the object arrays of Vars do.
        first = 0
        if beta == 0.0:
            a = at(A, i, 0)
            for j in range(n):
                row[j] = multiply(a, at(B, 0, j), careful)
            first = 1
        elif beta != 1.0:
            for j in range(n):
                row[j] *= beta
        for p in range(first, k):
            a = at(A, i, p)
            for j in range(n):
                row[j] += multiply(a, at(B, p, j), careful)


cdef void matrix_product(View A, View B, count_t m, count_t n, count_t k, double* C,
                         count_t ldc, bint careful) noexcept nogil:
    """C = A @ B; careful: where that is not all finite, again by times, so
    an exact zero times inf or nan contributes zero (BLAS gives nan)."""
    cdef count_t i
    gemm(A, B, m, n, k, 0.0, C, ldc)
    if careful:
        for i in range(m):
            if not all_finite(C + i * ldc, n):
                gemm(A, B, m, n, k, 0.0, C, ldc, True)
                return


# ---- factors ----------------------------------------------------------------------

cdef inline index_t factor_entry(const Factor* f, count_t cols, count_t i,
                                 count_t j) noexcept nogil:
    """The entry of element (i, j), or -1 for a constant element."""
    cdef index_t c
    if f.codes == NULL:
        return -1
    c = f.codes[i * cols + j]
    return c if c >= 0 else -1


cdef inline double factor_value(const Factor* f, count_t cols, count_t i, count_t j,
                                const value_t* v, const value_t* consts) noexcept nogil:
    """The value of element (i, j) at entry values v."""
    cdef index_t c
    if f.codes == NULL:
        return f.data[i * f.row_stride + j * f.col_stride]
    c = f.codes[i * cols + j]
    return v[c] if c >= 0 else consts[-1 - c]


cdef bint factor_view(const Factor* f, count_t rows, count_t cols, const value_t* v,
                      const value_t* consts, View* out, double** buffer) noexcept nogil:
    """The factor's numbers at values v as a View: the constant matrix or a
    run of entries in place, else gathered into a new *buffer (freed by the
    caller). False if that allocation fails."""
    cdef count_t p, size = rows * cols
    cdef index_t c
    cdef double* gathered
    buffer[0] = NULL
    if f.codes == NULL:
        out.data = f.data
        if f.col_stride == 1:
            out.trans = b'N'
            out.ld = max(f.row_stride, max(cols, 1))
        else:
            out.trans = b'T'
            out.ld = max(f.col_stride, max(rows, 1))
        return True
    out.trans = b'N'
    out.ld = max(cols, 1)
    if f.run >= 0:
        out.data = v + f.run
        return True
    gathered = <double*>malloc(max(size, 1) * sizeof(double))
    if gathered == NULL:
        return False
    for p in range(size):
        c = f.codes[p]
        gathered[p] = v[c] if c >= 0 else consts[-1 - c]
    buffer[0] = gathered
    out.data = gathered
    return True


cdef inline bint all_finite(const double* x, count_t n) noexcept nogil:
    """Whether no x[p] is inf or nan: exponent bits all ones carry into the
    sign bit (integer operations only, no branch per element)."""
    cdef count_t p
    cdef uint64_t bits, carried = 0
    for p in range(n):
        memcpy(&bits, &x[p], sizeof(bits))
        carried |= (bits & <uint64_t>0x7FF0000000000000) + <uint64_t>0x0010000000000000
    return (carried >> 63) == 0


# ---- whole products in the sweeps ----------------------------------------------------

cdef void vector_product(View A, View B, count_t m, count_t n, count_t k, double beta,
                         double* C, count_t ldc) noexcept nogil:
    """gemm's BLAS case for a C of one column (n == 1) or one row (m == 1),
    by dgemv: a sum (a product with a column of ones) or a matrix-vector
    product does not pay for dgemm's packing of its factors. In BLAS's
    column-major terms a row-major view of ld is the transpose of what its
    flag says."""
    cdef int rows, cols, lda, incx, incy
    cdef double one = 1.0
    cdef char trans
    cdef const double* matrix
    cdef const double* x
    if n == 1:
        # C[i] = sum_l A[i, l] b[l]: y = A x, A the matrix
        matrix = A.data
        lda = <int>A.ld
        if A.trans == b'N':
            trans, rows, cols = b'T', <int>k, <int>m
        else:
            trans, rows, cols = b'N', <int>m, <int>k
        x = B.data
        incx = <int>(B.ld if B.trans == b'N' else 1)
        incy = <int>ldc
    else:
        # C[0, j] = sum_l a[l] B[l, j]: y = B^T x, B the matrix
        matrix = B.data
        lda = <int>B.ld
        if B.trans == b'N':
            trans, rows, cols = b'N', <int>n, <int>k
        else:
            trans, rows, cols = b'T', <int>k, <int>n
        x = A.data
        incx = <int>(1 if A.trans == b'N' else A.ld)
        incy = 1
    blas_dgemv(&trans, &rows, &cols, &one, <double*>matrix, &lda, <double*>x, &incx, &beta,
               C, &incy)


cdef bint product_forward(const TapeArrays* t, const Product* P, value_t* v) noexcept nogil:
    """The values of all of P's entries from its factors' values in v. False
    (nothing written) if a work buffer cannot be had."""
    cdef View A, B
    cdef double* buffer_a = NULL
    cdef double* buffer_b = NULL
    if not factor_view(&P.a, P.m, P.k, v, t.consts, &A, &buffer_a):
        return False
    if not factor_view(&P.b, P.k, P.n, v, t.consts, &B, &buffer_b):
        free(buffer_a)
        return False
    matrix_product(A, B, P.m, P.n, P.k, v + P.first, P.n, P.careful)
    free(buffer_a)
    free(buffer_b)
    return True


cdef void add_into(const Factor* f, const double* x, count_t size, value_t* adj) noexcept nogil:
    """adj[code] += x[p] for each entry code of a factor of codes."""
    cdef count_t p
    cdef index_t c
    cdef value_t* dst
    if f.run >= 0:
        dst = adj + f.run
        for p in range(size):
            dst[p] += x[p]
        return
    for p in range(size):
        c = f.codes[p]
        if c >= 0:
            adj[c] += x[p]


cdef void add_outer(const double* g, View B, count_t m, count_t k,
                    value_t* adj_a) noexcept nogil:
    """adj_a[i*k + l] += g[i] * B[l, 0] by times: what matrix_product(G,
    B^T) with its careful recomputation and add_into give for a G of one
    column (each element one product, an exact zero times inf zero)."""
    cdef count_t i, l
    cdef double gi
    for i in range(m):
        gi = g[i]
        for l in range(k):
            adj_a[i * k + l] += times(gi, at(B, l, 0))


cdef bint product_reverse(const TapeArrays* t, const Product* P, const value_t* v,
                          value_t* adj) noexcept nogil:
    """All of P's entries of the reverse sweep: dA = G B^T and dB = A^T G
    (G the adjoints of P's entries) added into the factors' adjoints. Where
    dA or dB is not all finite it is computed again with times, so that an
    exact zero times inf contributes nothing (BLAS gives nan). False
    (nothing added) if a work buffer cannot be had: then the entries go one
    by one (product_entry_reverse)."""
    cdef View A, B, G
    cdef double* buffer_a = NULL
    cdef double* buffer_b = NULL
    cdef double* da = NULL
    cdef double* db = NULL
    cdef bint has_a = P.a.codes != NULL, has_b = P.b.codes != NULL, done = False
    cdef count_t m = P.m, n = P.n, k = P.k
    G.data = adj + P.first
    G.trans = b'N'
    G.ld = max(n, 1)
    if not factor_view(&P.a, m, k, v, t.consts, &A, &buffer_a):
        return False
    if not factor_view(&P.b, k, n, v, t.consts, &B, &buffer_b):
        free(buffer_a)
        return False
    # With one column (a sum is A @ ones), dA = G B^T is an outer product:
    # one multiplication an element, added straight into A's adjoints when
    # A is a run of entries, without a work buffer (the 8 MB one of a sum
    # of 10**6 elements was fresh pages at every sweep).
    cdef bint outer_a = has_a and n == 1 and P.a.run >= 0
    if has_a and not outer_a:
        da = <double*>malloc(max(m * k, 1) * sizeof(double))
    if has_b:
        db = <double*>malloc(max(k * n, 1) * sizeof(double))
    if (da != NULL or not has_a or outer_a) and (db != NULL or not has_b):
        if outer_a:
            add_outer(G.data, B, m, k, adj + P.a.run)
        elif has_a:
            matrix_product(G, flipped(B), m, k, n, da, k, True)
            add_into(&P.a, da, m * k, adj)
        if has_b:
            matrix_product(flipped(A), G, k, n, m, db, n, True)
            add_into(&P.b, db, k * n, adj)
        done = True
    free(da)
    free(db)
    free(buffer_a)
    free(buffer_b)
    return done


# ---- one element at a time: the definition ---------------------------------------------

cdef value_t product_entry_value(const TapeArrays* t, const Product* P, count_t p,
                                 const value_t* v) noexcept nogil:
    """Element p of the product: sum over l of A[i, l] * B[l, j] (careful
    products again by times where that is not finite)."""
    cdef value_t total = element_sum(t, P, p, v, False)
    if P.careful and not all_finite(&total, 1):
        total = element_sum(t, P, p, v, True)
    return total


cdef value_t element_sum(const TapeArrays* t, const Product* P, count_t p, const value_t* v,
                         bint careful) noexcept nogil:
    cdef count_t i = p // P.n, j = p % P.n, l
    cdef value_t total = multiply(factor_value(&P.a, P.k, i, 0, v, t.consts),
                                  factor_value(&P.b, P.n, 0, j, v, t.consts), careful)
    for l in range(1, P.k):
        total += multiply(factor_value(&P.a, P.k, i, l, v, t.consts),
                          factor_value(&P.b, P.n, l, j, v, t.consts), careful)
    return total


cdef void product_entry_reverse(const TapeArrays* t, const Product* P, count_t p, value_t g,
                                const value_t* v, value_t* adj) noexcept nogil:
    """Element p's adjoint g into its factors': the partial in A[i, l] is
    B[l, j] and in B[l, j] is A[i, l] (exact zeros structural)."""
    cdef count_t i = p // P.n, j = p % P.n, l
    cdef index_t a, b
    if g == 0.0:
        return
    for l in range(P.k):
        a = factor_entry(&P.a, P.k, i, l)
        b = factor_entry(&P.b, P.n, l, j)
        if a >= 0:
            adj[a] += times(g, factor_value(&P.b, P.n, l, j, v, t.consts))
        if b >= 0:
            adj[b] += times(g, factor_value(&P.a, P.k, i, l, v, t.consts))


cdef void product_entry_tangent(const TapeArrays* t, const Product* P, count_t p,
                                const value_t* v, const value_t* tan, count_t lanes,
                                value_t* row) noexcept nogil:
    """Element p's tangent lanes: sum over l of A tan(B) + tan(A) B."""
    cdef count_t i = p // P.n, j = p % P.n, l
    cdef index_t a, b
    memset(row, 0, lanes * sizeof(value_t))
    for l in range(P.k):
        a = factor_entry(&P.a, P.k, i, l)
        b = factor_entry(&P.b, P.n, l, j)
        if a >= 0:
            add_scaled(row, factor_value(&P.b, P.n, l, j, v, t.consts), tan + a * lanes, lanes)
        if b >= 0:
            add_scaled(row, factor_value(&P.a, P.k, i, l, v, t.consts), tan + b * lanes, lanes)


cdef void product_entry_second(const TapeArrays* t, const Product* P, count_t p, value_t g,
                               const value_t* dg, const value_t* v, const value_t* tan,
                               count_t lanes, value_t* adj, value_t* dadj) noexcept nogil:
    """Element p of the forward-over-reverse sweep: the reverse step and its
    derivative along the lanes; the second partial in (A[i, l], B[l, j]) is 1."""
    cdef count_t i = p // P.n, j = p % P.n, l
    cdef index_t a, b
    cdef value_t va, vb
    for l in range(P.k):
        a = factor_entry(&P.a, P.k, i, l)
        b = factor_entry(&P.b, P.n, l, j)
        va = factor_value(&P.a, P.k, i, l, v, t.consts)
        vb = factor_value(&P.b, P.n, l, j, v, t.consts)
        if a >= 0:
            adj[a] += times(g, vb)
            add_scaled(dadj + a * lanes, vb, dg, lanes)
            if b >= 0:
                add_scaled(dadj + a * lanes, g, tan + b * lanes, lanes)
        if b >= 0:
            adj[b] += times(g, va)
            add_scaled(dadj + b * lanes, va, dg, lanes)
            if a >= 0:
                add_scaled(dadj + b * lanes, g, tan + a * lanes, lanes)


# ---- storage -------------------------------------------------------------------------

cdef void free_products(TapeData* t) noexcept:
    cdef count_t q
    for q in range(t.arr.n_products):
        free(t.arr.products[q].a.codes)
        free(t.arr.products[q].b.codes)
    free(t.arr.products)
    t.arr.products = NULL
    t.arr.n_products = t.products_capacity = 0


cdef int append_product(TapeData* t, const Product* P) except -1:
    """Add P (its codes already owned by nobody else) to t's products."""
    cdef count_t new_capacity
    if t.arr.n_products == t.products_capacity:
        new_capacity = 8 if t.products_capacity == 0 else 2 * t.products_capacity
        resize_array(<void**>&t.arr.products, new_capacity, sizeof(Product))
        t.products_capacity = new_capacity
    t.arr.products[t.arr.n_products] = P[0]
    t.arr.n_products += 1
    return 0


cdef index_t* copy_codes(const index_t* codes, count_t n) except? NULL:
    cdef index_t* out
    if codes == NULL:
        return NULL
    if not allocation_allowed():
        raise MemoryError("fastad: allocation failed (forced by a test hook)")
    out = <index_t*>malloc(max(n, 1) * sizeof(index_t))
    if out == NULL:
        raise MemoryError(f"fastad: could not allocate {4 * n} bytes for a product's operands")
    memcpy(out, codes, n * sizeof(index_t))
    return out


cdef int copy_products(TapeData* dst, const TapeData* src) except -1:
    """Give dst copies of src's products (codes copied; constant matrices
    shared: the tapes hold them, see Tape.held)."""
    cdef count_t q
    cdef Product P
    for q in range(src.arr.n_products):
        P = src.arr.products[q]
        P.a.codes = P.b.codes = NULL
        P.a.codes = copy_codes(src.arr.products[q].a.codes, P.m * P.k)
        try:
            P.b.codes = copy_codes(src.arr.products[q].b.codes, P.k * P.n)
            append_product(dst, &P)
        except MemoryError:
            free(P.a.codes)
            free(P.b.codes)
            raise
    return 0


cdef index_t hold(Tape tape, object array) except -1:
    """Keep a product's constant matrix alive with the tape (Tape.held);
    its position there (Factor.held)."""
    if tape.held is None:
        tape.held = []
    tape.held.append(array)
    return <index_t>(len(tape.held) - 1)


cdef count_t products_nbytes(const TapeData* t) noexcept:
    """Bytes of the products' operand codes and descriptors."""
    cdef count_t q, total = 0
    cdef const Product* P
    for q in range(t.arr.n_products):
        P = &t.arr.products[q]
        total += sizeof(Product)
        if P.a.codes != NULL:
            total += P.m * P.k * sizeof(index_t)
        if P.b.codes != NULL:
            total += P.k * P.n * sizeof(index_t)
    return total


cdef count_t first_invalid_product(const TapeData* t) noexcept nogil:
    """The first product whose shape, entries or operand codes are out of
    range (every element an OP_MATMUL entry of it, every operand before its
    first entry), or -1."""
    cdef count_t q, p, size
    cdef const Product* P
    for q in range(t.arr.n_products):
        P = &t.arr.products[q]
        if P.m < 1 or P.n < 1 or P.k < 1 or P.first < 0:
            return q
        size = P.m * P.n
        if P.m > INT32_MAX or P.n > INT32_MAX or size > t.n_entries - P.first:
            return q
        if q > 0 and P.first < t.arr.products[q - 1].first:
            return q   # the sweeps meet the products in entry order
        if (P.a.codes == NULL and P.a.data == NULL) or (P.b.codes == NULL and P.b.data == NULL):
            return q
        for p in range(size):
            if (t.arr.ops[P.first + p] != OP_MATMUL or t.arr.arg0[P.first + p] != q
                    or t.arr.arg1[P.first + p] != p):
                return q
        if P.a.codes != NULL and not codes_valid(P.a.codes, P.m * P.k, P.first, t.n_consts):
            return q
        if P.b.codes != NULL and not codes_valid(P.b.codes, P.k * P.n, P.first, t.n_consts):
            return q
    return -1


cdef bint codes_valid(const index_t* codes, count_t n, count_t first,
                      count_t n_consts) noexcept nogil:
    cdef count_t p
    for p in range(n):
        if not (-n_consts <= codes[p] < first):
            return False
    return True


cdef index_t run_of(const index_t* codes, count_t n) noexcept nogil:
    """codes[0] if codes are the entries codes[0], codes[0] + 1, ..., else -1."""
    cdef count_t p
    if n == 0 or codes[0] < 0:
        return -1
    for p in range(1, n):
        if codes[p] != codes[0] + p:
            return -1
    return codes[0]
