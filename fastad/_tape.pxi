# The tape's storage: growable C arrays of entries, of pooled constants and
# of branch guards (a TapeData, declared in _core.pxd), their growth by
# doubling with every allocation checked, the reuse of released arrays and
# work buffers, and the private hooks that let tests reach the
# allocation-failure and tape-full paths. The Tape object that records
# into it is in _recording.pxi.

# A new tape starts with room for this many entries and doubles from there.
cdef count_t INITIAL_CAPACITY = 256

# Bytes of the tape per entry: opcode, two operands and the value. A pooled
# constant adds 8 bytes to the entry that uses it.
cdef count_t ENTRY_BYTES = sizeof(op_t) + 2 * sizeof(index_t) + sizeof(value_t)


# ---- allocation ---------------------------------------------------------------

# Test hook: when positive, the allocation that brings it to zero fails as if
# the system were out of memory.
cdef count_t _failing_allocation = 0


cdef inline bint allocation_allowed() noexcept:
    """False for the allocation the test hook makes fail (counts it down)."""
    global _failing_allocation
    if _failing_allocation > 0:
        _failing_allocation -= 1
        if _failing_allocation == 0:
            return False
    return True


cdef extern from *:
    """
    /* Large tape arrays and work buffers are fresh memory on every big
       recording; asking for transparent huge pages there (Linux, where THP
       is in "madvise" mode) takes one page fault per 2 MB instead of 512.
       Elsewhere, and for small blocks, this does nothing. */
    #if defined(__linux__)
    #include <sys/mman.h>
    #include <stdint.h>
    static void fastad_advise_huge(void* block, size_t nbytes) {
    #ifdef MADV_HUGEPAGE
        const uintptr_t huge = (uintptr_t)2 << 20;
        uintptr_t start = ((uintptr_t)block + huge - 1) & ~(huge - 1);
        uintptr_t stop = ((uintptr_t)block + nbytes) & ~(huge - 1);
        if (nbytes >= 4 * huge && stop > start)
            (void)madvise((void*)start, stop - start, MADV_HUGEPAGE);
    #endif
    }
    #else
    static void fastad_advise_huge(void* block, size_t nbytes) { (void)block; (void)nbytes; }
    #endif
    """
    void fastad_advise_huge(void* block, size_t nbytes) noexcept nogil


cdef int resize_array(void** ptr, count_t count, size_t itemsize) except -1:
    """Resize *ptr to count items; on failure *ptr is unchanged."""
    cdef void* grown
    if count < 0 or <size_t>count > (<size_t>-1) // itemsize:
        raise MemoryError(f"fastad: cannot allocate {count} items of {itemsize} bytes")
    if not allocation_allowed():
        raise MemoryError("fastad: tape allocation failed (forced by a test hook)")
    grown = realloc(ptr[0], <size_t>count * itemsize)
    if grown == NULL:
        raise MemoryError(
            f"fastad: could not allocate {<size_t>count * itemsize} bytes for the tape")
    ptr[0] = grown
    fastad_advise_huge(grown, <size_t>count * itemsize)
    return 0


def _fail_nth_allocation(count_t n):
    """Test hook: make the n-th tape allocation from now fail (0 disarms)."""
    global _failing_allocation
    _failing_allocation = n


# ---- reuse of released arrays ----------------------------------------------------
# The arrays of the last released tape are kept for the next one, so
# repeated gradients reuse warm memory instead of growing a new tape from
# INITIAL_CAPACITY (a realloc copy per doubling and fresh page faults).
# Only touched with the GIL held; arrays above SPARE_MAX_ENTRIES are
# returned to the system. 2**23 entries (136 MB of tape arrays, work
# buffers of up to 64 MB) keeps the tapes of whole-array code warm up to
# arrays of about 10**6 elements: fresh memory made recording the n = 10**6
# Rosenbrock (7M entries) spend half its time in page faults and in
# realloc's copies, and a fresh 1.1M-entry tape of the MLP benchmark 3x
# longer than one in reused memory.

cdef count_t SPARE_MAX_ENTRIES = 1 << 23
cdef TapeArrays spare                 # the arrays of the last released tape
cdef count_t spare_capacity = 0
cdef count_t spare_consts_capacity = 0


cdef int grow_entries(TapeData* t) except -1:
    """Double the entry arrays (first call: allocate them, or adopt the spare ones)."""
    return grow_entries_to(t, 0)


cdef int grow_entries_to(TapeData* t, count_t wanted) except -1:
    """Grow the entry arrays to at least `wanted` entries (0: double them)
    with one reallocation of each array; the first call adopts the spare
    arrays when they are large enough."""
    global spare_capacity
    cdef count_t new_capacity
    if (t.capacity == 0 and spare_capacity > 0 and spare_capacity <= t.max_entries
            and spare_capacity >= wanted and _failing_allocation == 0):
        t.arr.ops, t.arr.arg0, t.arr.arg1, t.arr.values = (
            spare.ops, spare.arg0, spare.arg1, spare.values)
        t.capacity = spare_capacity
        spare.ops = NULL
        spare.arg0 = spare.arg1 = NULL
        spare.values = NULL
        spare_capacity = 0
        return 0
    if t.n_entries >= t.max_entries or wanted > t.max_entries:
        raise OverflowError(
            f"fastad: the tape is full at {t.max_entries} entries (entry indices are "
            f"32-bit); differentiate a smaller computation or split it")
    new_capacity = INITIAL_CAPACITY if t.capacity == 0 else 2 * t.capacity
    while new_capacity < wanted:
        new_capacity *= 2
    if new_capacity > t.max_entries:
        new_capacity = t.max_entries
    # Each array is resized on its own; a failure leaves the ones already
    # grown larger than `capacity`, which is harmless.
    resize_array(<void**>&t.arr.ops, new_capacity, sizeof(op_t))
    resize_array(<void**>&t.arr.arg0, new_capacity, sizeof(index_t))
    resize_array(<void**>&t.arr.arg1, new_capacity, sizeof(index_t))
    resize_array(<void**>&t.arr.values, new_capacity, sizeof(value_t))
    t.capacity = new_capacity
    return 0


cdef int grow_constants(TapeData* t) except -1:
    """Double the constant pool (first call: allocate it, or adopt the spare one)."""
    global spare_consts_capacity
    cdef count_t new_capacity
    if (t.consts_capacity == 0 and spare_consts_capacity > 0
            and spare_consts_capacity <= t.max_entries and _failing_allocation == 0):
        t.arr.consts = spare.consts
        t.consts_capacity = spare_consts_capacity
        spare.consts = NULL
        spare_consts_capacity = 0
        return 0
    if t.n_consts >= t.max_entries:
        raise OverflowError(
            f"fastad: the tape's constant pool is full at {t.max_entries} constants")
    new_capacity = 64 if t.consts_capacity == 0 else 2 * t.consts_capacity
    if new_capacity > t.max_entries:
        new_capacity = t.max_entries
    resize_array(<void**>&t.arr.consts, new_capacity, sizeof(value_t))
    t.consts_capacity = new_capacity
    return 0


cdef inline index_t push_entry(TapeData* t, op_t op, index_t a, index_t b,
                               value_t v) except -1:
    """Append an entry and return its index."""
    cdef count_t i = t.n_entries
    if i == t.capacity:
        grow_entries(t)
    t.arr.ops[i] = op
    t.arr.arg0[i] = a
    t.arr.arg1[i] = b
    t.arr.values[i] = v
    t.n_entries = i + 1
    return <index_t>i


cdef inline index_t push_constant(TapeData* t, value_t c) except -1:
    """Append a constant to the pool and return its pool index."""
    cdef count_t i = t.n_consts
    if i == t.consts_capacity:
        grow_constants(t)
    t.arr.consts[i] = c
    t.n_consts = i + 1
    return <index_t>i


cdef int append_guard(TapeData* t, index_t a, index_t b, int how, bint b_is_constant,
                    bint outcome) except -1:
    """Record a comparison and its outcome (see Guard)."""
    cdef count_t new_capacity
    cdef Guard* g
    if t.n_guards == t.guards_capacity:
        new_capacity = 16 if t.guards_capacity == 0 else 2 * t.guards_capacity
        resize_array(<void**>&t.guards, new_capacity, sizeof(Guard))
        t.guards_capacity = new_capacity
    g = &t.guards[t.n_guards]
    g.a = a
    g.b = b
    g.how = <uint8_t>how
    g.b_is_constant = b_is_constant
    g.outcome = outcome
    t.n_guards += 1
    return 0


cdef int fill_exact(TapeData* t, const op_t* ops, const index_t* arg0, const index_t* arg1,
                    const value_t* values, count_t n, const value_t* consts, count_t m,
                    const Guard* guards, count_t g) except -1:
    """Make the empty t hold n entries, m constants and g guards, in arrays
    of exactly that size (copies and loaded pickles are never grown)."""
    resize_array(<void**>&t.arr.ops, max(n, 1), sizeof(op_t))
    resize_array(<void**>&t.arr.arg0, max(n, 1), sizeof(index_t))
    resize_array(<void**>&t.arr.arg1, max(n, 1), sizeof(index_t))
    resize_array(<void**>&t.arr.values, max(n, 1), sizeof(value_t))
    t.capacity = max(n, 1)
    resize_array(<void**>&t.arr.consts, max(m, 1), sizeof(value_t))
    t.consts_capacity = max(m, 1)
    resize_array(<void**>&t.guards, max(g, 1), sizeof(Guard))
    t.guards_capacity = max(g, 1)
    if n > 0:
        memcpy(t.arr.ops, ops, n * sizeof(op_t))
        memcpy(t.arr.arg0, arg0, n * sizeof(index_t))
        memcpy(t.arr.arg1, arg1, n * sizeof(index_t))
        memcpy(t.arr.values, values, n * sizeof(value_t))
    if m > 0:
        memcpy(t.arr.consts, consts, m * sizeof(value_t))
    if g > 0:
        memcpy(t.guards, guards, g * sizeof(Guard))
    t.n_entries, t.n_consts, t.n_guards = n, m, g
    return 0


cdef void release_storage(TapeData* t) noexcept:
    """Free t's arrays, keeping the largest recent ones as the spare arrays."""
    global spare_capacity, spare_consts_capacity
    if (t.capacity > spare_capacity and t.capacity <= SPARE_MAX_ENTRIES
            and t.arr.values != NULL):
        free(spare.ops)
        free(spare.arg0)
        free(spare.arg1)
        free(spare.values)
        spare.ops, spare.arg0, spare.arg1, spare.values = (
            t.arr.ops, t.arr.arg0, t.arr.arg1, t.arr.values)
        spare_capacity = t.capacity
    else:
        free(t.arr.ops)
        free(t.arr.arg0)
        free(t.arr.arg1)
        free(t.arr.values)
    if t.consts_capacity > spare_consts_capacity and t.consts_capacity <= SPARE_MAX_ENTRIES:
        free(spare.consts)
        spare.consts = t.arr.consts
        spare_consts_capacity = t.consts_capacity
    else:
        free(t.arr.consts)
    free(t.guards)
    free_products(t)
    free(t.arr.runs)
    memset(t, 0, sizeof(TapeData))


# ---- runs (see Run in _core.pxd) -------------------------------------------------

# Shorter stretches are not worth a run: the per-entry loop does as well.
cdef count_t RUN_MIN_ENTRIES = 16


def _set_run_min_entries(count_t n):
    """Test hook: the shortest stretch marked as a run (returns the old one)."""
    global RUN_MIN_ENTRIES
    old = RUN_MIN_ENTRIES
    if n < 1:
        raise ValueError("a run has at least one entry")
    RUN_MIN_ENTRIES = n
    return old


cdef int add_run(TapeData* t, count_t first, count_t count, int a_step=-2,
                 int b_step=-2) except -1:
    """Mark entries first .. first + count - 1 (one opcode, every operand
    before first) as a run; a_step and b_step: the operands' patterns if
    the caller knows them (see Run), else -2 (found here)."""
    cdef count_t new_capacity
    if count < RUN_MIN_ENTRIES:
        return 0
    if t.arr.n_runs == t.runs_capacity:
        new_capacity = 16 if t.runs_capacity == 0 else 2 * t.runs_capacity
        resize_array(<void**>&t.arr.runs, new_capacity, sizeof(Run))
        t.runs_capacity = new_capacity
    cdef Run* run = &t.arr.runs[t.arr.n_runs]
    cdef int kind = entry_kind(t.arr.ops[first])
    run.first = <index_t>first
    run.count = <index_t>count
    run.a = t.arr.arg0[first]
    run.b = t.arr.arg1[first]
    run.a_step = a_step if a_step != -2 else operand_step(t.arr.arg0 + first, count)
    # a unary entry's arg1 is unused (0): no pattern to follow
    run.b_step = (-1 if kind == KIND_UNARY else b_step if b_step != -2
                  else operand_step(t.arr.arg1 + first, count))
    run.a_period = run.b_period = 0
    if run.a_step == -1:
        run.a_period = row_period(t.arr.arg0 + first, count)
        run.a_step = 2 if run.a_period > 0 else -1
    if run.b_step == -1 and kind != KIND_UNARY:
        run.b_period = row_period(t.arr.arg1 + first, count)
        run.b_step = 2 if run.b_period > 0 else -1
    t.arr.n_runs += 1
    return 0


cdef index_t row_period(const index_t* arg, count_t count) noexcept nogil:
    """P if arg[p] == arg[0] + p % P for every p < count (P >= 2 dividing
    count, P < count: one row repeated), else 0."""
    cdef count_t p, period = 1
    while period < count and arg[period] == arg[0] + period:
        period += 1
    if period < 2 or period >= count or count % period != 0 or arg[period] != arg[0]:
        return 0
    for p in range(period, count):
        if arg[p] != arg[p - period]:
            return 0
    return <index_t>period


cdef int operand_step(const index_t* arg, count_t count) noexcept nogil:
    """1 if arg[p] == arg[0] + p for every p < count, 0 if arg[p] == arg[0],
    else -1 (see Run)."""
    # The differences or-ed together in unsigned 32-bit arithmetic: one
    # loop the compiler vectorizes, and first + p wraps rather than
    # overflows (a wrapped value is >= 2**31, never a valid index).
    cdef count_t p
    cdef uint32_t first = <uint32_t>arg[0], expected = first, off_slice = 0, off_same = 0, x
    for p in range(count):
        x = <uint32_t>arg[p]
        off_slice |= x ^ expected
        off_same |= x ^ first
        expected += 1    # a 32-bit counter: the vector loop needs no 64-bit lanes
    return 1 if off_slice == 0 and count > 1 else 0 if off_same == 0 else -1


cdef int find_runs(TapeData* t) except -1:
    """Mark the runs of a tape read from elsewhere (a pickle): stretches of
    one elementwise opcode whose operands all precede the stretch."""
    cdef count_t i = 0, start, n = t.n_entries
    cdef int op
    t.arr.n_runs = 0
    while i < n:
        op = t.arr.ops[i]
        start = i
        i += 1
        if op == OP_INPUT or op == OP_MATMUL:
            continue
        while (i < n and t.arr.ops[i] == op and operands_before(t, op, i, start)):
            i += 1
        add_run(t, start, i - start)
    return 0


cdef inline bint operands_before(const TapeData* t, int op, count_t i, count_t start) noexcept:
    """Whether entry i's operand entries precede entry start."""
    cdef int kind = entry_kind(op)
    if kind != KIND_CV and t.arr.arg0[i] >= start:
        return False
    if (kind == KIND_VV or kind == KIND_CV) and t.arr.arg1[i] >= start:
        return False
    return True


cdef int copy_runs(TapeData* dst, const TapeData* src) except -1:
    """Give dst (a copy of src's entries, at the same indices) src's runs."""
    if src.arr.n_runs == 0:
        return 0
    resize_array(<void**>&dst.arr.runs, src.arr.n_runs, sizeof(Run))
    dst.runs_capacity = src.arr.n_runs
    memcpy(dst.arr.runs, src.arr.runs, src.arr.n_runs * sizeof(Run))
    dst.arr.n_runs = src.arr.n_runs
    return 0


cdef inline count_t storage_nbytes(const TapeData* t) noexcept:
    """Bytes the recorded entries, constants and guards occupy (not capacity)."""
    return (t.n_entries * ENTRY_BYTES + t.n_consts * <count_t>sizeof(value_t)
            + t.n_guards * <count_t>sizeof(Guard) + products_nbytes(t))


# ---- work buffers (adjoints, replay values, tangent lanes) -------------------------
# Taken from a small pool so that repeated sweeps reuse warm memory instead
# of zero-filling fresh pages. Each buffer carries its capacity in a header
# slot just before the data, so it can go back to the pool whatever size
# was asked for. Only touched with the GIL held.

cdef enum:
    POOL_SLOTS = 4
cdef value_t* pool_buffers[POOL_SLOTS]
cdef count_t pool_capacities[POOL_SLOTS]


cdef value_t* take_buffer(count_t n, bint zeroed) except NULL:
    """A buffer of at least n values (zeroed if asked); give it back with
    release_buffer."""
    cdef int k, best = -1
    cdef value_t* block
    if n < 1:
        n = 1
    if _failing_allocation == 0:
        for k in range(POOL_SLOTS):
            if (pool_buffers[k] != NULL and pool_capacities[k] >= n
                    and (best < 0 or pool_capacities[k] < pool_capacities[best])):
                best = k
    if best >= 0:
        block = pool_buffers[best]
        pool_buffers[best] = NULL
        if zeroed:
            memset(block, 0, n * sizeof(value_t))
        return block
    if not allocation_allowed() or n > (<count_t>1 << 60):
        block = NULL
    elif zeroed:
        block = <value_t*>calloc(n + 1, sizeof(value_t))
    else:
        block = <value_t*>malloc((n + 1) * sizeof(value_t))
    if block == NULL:
        raise MemoryError(f"fastad: could not allocate {n * 8} bytes of work buffer")
    fastad_advise_huge(block, (n + 1) * sizeof(value_t))
    (<count_t*>block)[0] = n  # the header
    return block + 1


cdef void release_buffer(value_t* buffer) noexcept:
    """Return a buffer from take_buffer to the pool (or free it)."""
    cdef int k, smallest = -1
    cdef count_t capacity
    if buffer == NULL:
        return
    capacity = (<count_t*>(buffer - 1))[0]
    if capacity <= SPARE_MAX_ENTRIES:
        for k in range(POOL_SLOTS):
            if pool_buffers[k] == NULL:
                pool_buffers[k] = buffer
                pool_capacities[k] = capacity
                return
            if smallest < 0 or pool_capacities[k] < pool_capacities[smallest]:
                smallest = k
        if pool_capacities[smallest] < capacity:
            free(pool_buffers[smallest] - 1)
            pool_buffers[smallest] = buffer
            pool_capacities[smallest] = capacity
            return
    free(buffer - 1)
