# The pickle format of a recorded Function, defined once, field by field.
#
# A Function pickles as (_load_function, (state,)), state a dict whose
# first key is "format" (FORMAT_VERSION, checked before anything else is
# read) and whose other keys are listed by Function.__reduce__; each of its
# recordings is a dict of
#     "tape"           the tape's bytes (below)
#     "outputs"        the output entries: little-endian int64, -1 for a
#                      constant output
#     "output_values"  the recorded output values: little-endian float64
#     "n_inputs"       the number of input entries (the first ones)
# A tape's bytes are a header and its arrays, little-endian and packed:
#     magic b"fastadTP", uint32 format, uint32 0, int64 n_entries,
#     int64 n_constants, int64 n_guards, int64 n_products;
#     opcodes (uint8), first operands (int32), second operands (int32),
#     values (float64), one per entry; constants (float64);
#     guards, 11 bytes each: a (int32), b (int32), how, b_is_constant,
#     outcome (uint8 each);
#     products: int64 first, m, n, k, careful (0 or 1), then each factor
#     (m x k, then k x n)
#     as uint8 0 and its codes (int32, row-major) or uint8 1 and its
#     numbers (float64, row-major: a constant matrix is stored by value).
# Format 1 (before matrix products) is the same without n_products and
# products, and is still read.
# Every field is written explicitly (no struct padding reaches the bytes),
# so identical recordings pickle to identical bytes; a later version adds
# keys and bumps FORMAT_VERSION. Loading checks every count against the
# length, every operand, constant and guard index against the arrays, and
# every opcode against the table, so a corrupt or hostile pickle raises
# ValueError instead of reaching a sweep.

import struct

FORMAT_VERSION = 2
cdef bytes TAPE_MAGIC = b"fastadTP"
_TAPE_HEADER = struct.Struct("<8sIIqqqq")
_TAPE_HEADER_1 = struct.Struct("<8sIIqqq")
_PRODUCT_HEADER = struct.Struct("<qqqqq")
cdef count_t GUARD_BYTES = 11
cdef count_t ENTRY_FILE_BYTES = 1 + 4 + 4 + 8


cdef inline void put_i32(unsigned char* p, int32_t x) noexcept nogil:
    cdef uint32_t u = <uint32_t>x
    p[0] = u & 0xFF
    p[1] = (u >> 8) & 0xFF
    p[2] = (u >> 16) & 0xFF
    p[3] = (u >> 24) & 0xFF


cdef inline int32_t get_i32(const unsigned char* p) noexcept nogil:
    return <int32_t>(<uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16)
                     | (<uint32_t>p[3] << 24))


cdef bytes tape_bytes(Tape t):
    """A finished tape as the bytes of the format above."""
    cdef count_t n = t.data.n_entries, m = t.data.n_consts, g = t.data.n_guards, k
    cdef bytearray guards = bytearray(g * GUARD_BYTES)
    cdef unsigned char* p
    if t.recording:
        raise TapeError("a tape that is still recording cannot be pickled")
    if g > 0:
        p = <unsigned char*>(<char*>guards)
        for k in range(g):
            put_i32(p, t.data.guards[k].a)
            put_i32(p + 4, t.data.guards[k].b)
            p[8] = t.data.guards[k].how
            p[9] = t.data.guards[k].b_is_constant
            p[10] = t.data.guards[k].outcome
            p += GUARD_BYTES
    return b"".join([
        _TAPE_HEADER.pack(TAPE_MAGIC, FORMAT_VERSION, 0, n, m, g, t.data.arr.n_products),
        PyBytes_FromStringAndSize(<char*>t.data.arr.ops, n * sizeof(op_t)),
        little_endian(t.data.arr.arg0, n, sizeof(index_t), "<i4", np.int32),
        little_endian(t.data.arr.arg1, n, sizeof(index_t), "<i4", np.int32),
        little_endian(t.data.arr.values, n, sizeof(value_t), "<f8", np.float64),
        little_endian(t.data.arr.consts, m, sizeof(value_t), "<f8", np.float64),
        bytes(guards),
    ] + [product_bytes(t, &t.data.arr.products[k]) for k in range(t.data.arr.n_products)])


cdef bytes product_bytes(Tape t, const Product* P):
    return b"".join([_PRODUCT_HEADER.pack(P.first, P.m, P.n, P.k, P.careful),
                     factor_bytes(t, &P.a, P.m, P.k), factor_bytes(t, &P.b, P.k, P.n)])


cdef bytes factor_bytes(Tape t, const Factor* f, count_t rows, count_t cols):
    if f.codes != NULL:
        return b"\x00" + little_endian(f.codes, rows * cols, sizeof(index_t), "<i4", np.int32)
    # the held matrix, row-major (order="C" copies a transposed or strided one)
    return b"\x01" + np.asarray(t.held[f.held], dtype="<f8").tobytes(order="C")


cdef bytes little_endian(void* data, count_t n, size_t itemsize, str code, object dtype):
    """n native items at data as little-endian bytes."""
    raw = PyBytes_FromStringAndSize(<char*>data, n * itemsize)
    return np.frombuffer(raw, dtype=dtype).astype(code).tobytes()


cdef Tape tape_from_bytes(object data):
    """A finished tape from the bytes of the format above, checked so that
    no operand, constant or guard can point outside its arrays."""
    cdef count_t n, m, g, offset, k
    cdef Tape t
    cdef Guard* guards = NULL
    cdef const unsigned char* p
    if not isinstance(data, bytes) or len(data) < _TAPE_HEADER.size:
        raise ValueError("fastad: corrupt Function pickle (a tape is not bytes of a tape)")
    magic, version, reserved, n, m, g = _TAPE_HEADER_1.unpack_from(data)
    if magic != TAPE_MAGIC:
        raise ValueError("fastad: corrupt Function pickle (not a fastad tape)")
    if version not in (1, FORMAT_VERSION):
        raise ValueError(f"fastad: the pickle holds a tape of format {version}; this "
                         f"fastad reads format {FORMAT_VERSION} (and format 1)")
    header = _TAPE_HEADER_1 if version == 1 else _TAPE_HEADER
    n_products = 0 if version == 1 else header.unpack_from(data)[6]
    if (reserved != 0 or not 0 <= n <= INT32_MAX or not 0 <= m <= INT32_MAX
            or not 0 <= g <= INT32_MAX or not 0 <= n_products <= n):
        raise ValueError("fastad: corrupt Function pickle (the tape's counts do not match "
                         "its length)")
    # (the counts are in range: no overflow)
    end = header.size + n * ENTRY_FILE_BYTES + m * 8 + g * GUARD_BYTES
    if len(data) < end or (n_products == 0 and len(data) != end):
        raise ValueError("fastad: corrupt Function pickle (the tape's counts do not match "
                         "its length)")
    offset = header.size
    ops = np.frombuffer(data, np.uint8, n, offset)
    offset += n
    arg0 = np.ascontiguousarray(np.frombuffer(data, "<i4", n, offset), dtype=np.int32)
    offset += 4 * n
    arg1 = np.ascontiguousarray(np.frombuffer(data, "<i4", n, offset), dtype=np.int32)
    offset += 4 * n
    values = np.ascontiguousarray(np.frombuffer(data, "<f8", n, offset), dtype=np.float64)
    offset += 8 * n
    consts = np.ascontiguousarray(np.frombuffer(data, "<f8", m, offset), dtype=np.float64)
    offset += 8 * m
    guards = <Guard*>malloc(max(g, 1) * sizeof(Guard))
    if guards == NULL:
        raise MemoryError("fastad: could not allocate the guards of a loaded tape")
    try:
        memset(guards, 0, max(g, 1) * sizeof(Guard))
        p = <const unsigned char*>(<const char*>data) + offset
        for k in range(g):
            guards[k].a = get_i32(p)
            guards[k].b = get_i32(p + 4)
            guards[k].how = p[8]
            guards[k].b_is_constant = p[9]
            guards[k].outcome = p[10]
            p += GUARD_BYTES
        t = Tape()
        fill_exact(&t.data, <const op_t*>cnp.PyArray_DATA(ops),
                   <const index_t*>cnp.PyArray_DATA(arg0), <const index_t*>cnp.PyArray_DATA(arg1),
                   <const value_t*>cnp.PyArray_DATA(values), n,
                   <const value_t*>cnp.PyArray_DATA(consts), m, guards, g)
    finally:
        free(guards)
    t.finished = True
    read_products(t, data, offset + g * GUARD_BYTES, n_products)
    k = first_invalid_product(&t.data)
    if k >= 0:
        raise ValueError(f"fastad: corrupt Function pickle (matrix product {k})")
    k = first_invalid_entry(&t.data)
    if k >= 0:
        raise ValueError(f"fastad: corrupt Function pickle (tape entry {k})")
    find_runs(&t.data)  # after the check: runs are found among valid entries
    k = first_invalid_guard(&t.data)
    if k >= 0:
        raise ValueError(f"fastad: corrupt Function pickle (branch guard {k})")
    return t


cdef int read_products(Tape t, bytes data, count_t offset, count_t n_products) except -1:
    """The products of a loaded tape, from offset to the end of data."""
    cdef count_t q
    cdef Product P
    cdef count_t length = len(data)
    for q in range(n_products):
        if offset + _PRODUCT_HEADER.size > length:
            raise ValueError("fastad: corrupt Function pickle (a matrix product is cut short)")
        first, rows, cols, inner, careful = _PRODUCT_HEADER.unpack_from(data, offset)
        offset += _PRODUCT_HEADER.size
        if not (0 <= first < t.data.n_entries and 1 <= rows <= INT32_MAX
                and 1 <= cols <= INT32_MAX and 1 <= inner <= INT32_MAX
                and rows * cols <= t.data.n_entries
                and rows * inner <= length and inner * cols <= length and careful in (0, 1)):
            raise ValueError("fastad: corrupt Function pickle (a matrix product's shape)")
        memset(&P, 0, sizeof(Product))
        P.first, P.m, P.n, P.k, P.careful = first, rows, cols, inner, careful
        try:
            offset = read_factor(t, data, offset, &P.a, rows, inner)
            offset = read_factor(t, data, offset, &P.b, inner, cols)
            append_product(&t.data, &P)
        except BaseException:
            free(P.a.codes)
            free(P.b.codes)
            raise
    if offset != length:
        raise ValueError("fastad: corrupt Function pickle (the tape's counts do not match "
                         "its length)")
    return 0


cdef count_t read_factor(Tape t, bytes data, count_t offset, Factor* f, count_t rows,
                         count_t cols) except -1:
    cdef count_t size = rows * cols
    cdef cnp.ndarray items
    if offset + 1 > len(data):
        raise ValueError("fastad: corrupt Function pickle (a matrix product is cut short)")
    kind = data[offset]
    offset += 1
    if kind > 1 or offset + size * (4 if kind == 0 else 8) > len(data):
        raise ValueError("fastad: corrupt Function pickle (a matrix product's factor)")
    if kind == 0:
        items = np.ascontiguousarray(np.frombuffer(data, "<i4", size, offset), dtype=np.int32)
        f.codes = copy_codes(<const index_t*>cnp.PyArray_DATA(items), size)
        f.run = run_of(f.codes, size)
        return offset + 4 * size
    # a copy: the bytes of a pickle need not be aligned for doubles
    items = np.array(np.frombuffer(data, "<f8", size, offset), dtype=np.float64,
                     copy=True).reshape(rows, cols)
    f.held = hold(t, items)
    f.data = <const value_t*>cnp.PyArray_DATA(items)
    f.row_stride = cols
    f.col_stride = 1
    f.run = -1
    return offset + 8 * size


cdef count_t first_invalid_entry(const TapeData* t) noexcept nogil:
    """The first entry whose opcode or operands are out of range (operands
    precede their entry; constants are in the pool), or -1."""
    cdef count_t i
    cdef int op, kind
    cdef index_t a, b
    for i in range(t.n_entries):
        op = t.arr.ops[i]
        if op == OP_MATMUL:
            # its product was checked (first_invalid_product) to cover it
            if not (0 <= t.arr.arg0[i] < t.arr.n_products and 0 <= t.arr.arg1[i]
                    and t.arr.arg1[i] < t.arr.products[t.arr.arg0[i]].m
                    * t.arr.products[t.arr.arg0[i]].n
                    and t.arr.products[t.arr.arg0[i]].first + t.arr.arg1[i] == i):
                return i
            continue
        if op >= N_OPS:
            return i
        a = t.arr.arg0[i]
        b = t.arr.arg1[i]
        kind = entry_kind(op)
        if kind == KIND_INPUT:
            continue
        if kind == KIND_UNARY or kind == KIND_VV or kind == KIND_VC:
            if not 0 <= a < i:
                return i
        elif not 0 <= a < t.n_consts:
            return i
        if kind == KIND_VV or kind == KIND_CV:
            if not 0 <= b < i:
                return i
        elif kind == KIND_VC and not 0 <= b < t.n_consts:
            return i
    return -1


cdef count_t first_invalid_guard(const TapeData* t) noexcept nogil:
    """The first guard comparing outside the arrays or by an unknown
    comparison, or -1."""
    cdef count_t k
    cdef const Guard* g
    for k in range(t.n_guards):
        g = &t.guards[k]
        if (g.a < 0 or g.a >= t.n_entries or g.b < 0
                or g.b >= (t.n_consts if g.b_is_constant else t.n_entries)
                or g.how > Py_GE or g.b_is_constant > 1 or g.outcome > 1):
            return k
    return -1


cdef dict recording_state(Recording r):
    """One recording as the dict of the format."""
    return {
        "tape": tape_bytes(r.tape),
        "outputs": np.asarray(r.out_indices).astype("<i8").tobytes(),
        "output_values": np.asarray(r.out_values).astype("<f8").tobytes(),
        "n_inputs": int(r.n_inputs),
    }


cdef Recording recording_from_state(object state):
    """A recording from its dict, checked against its tape."""
    if not isinstance(state, dict):
        raise ValueError("fastad: corrupt Function pickle (a recording is not a dict)")
    try:
        tape = tape_from_bytes(state["tape"])
        outputs, values, n_inputs = state["outputs"], state["output_values"], state["n_inputs"]
    except KeyError as missing:
        raise ValueError(f"fastad: corrupt Function pickle (a recording lacks {missing})") \
            from None
    if (not isinstance(outputs, bytes) or not isinstance(values, bytes)
            or len(outputs) % 8 or len(values) != len(outputs)
            or type(n_inputs) is not int or not 0 <= n_inputs <= tape.n_entries):
        raise ValueError("fastad: corrupt Function pickle (a recording's outputs)")
    return Recording.create(tape, np.frombuffer(outputs, "<i8").astype(np.int64),
                            np.frombuffer(values, "<f8").astype(np.float64), n_inputs)
