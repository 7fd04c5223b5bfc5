# The tape: growable C arrays of entries and of pooled constants, the
# per-thread stack of active tapes, and the private hooks that let tests
# reach the allocation-failure and tape-full paths.

from libc.stdlib cimport malloc, realloc, calloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport INT32_MAX, int64_t, uint8_t
import threading
import weakref

cdef extern from *:
    """
    /* Identity of the calling thread: the address of a thread-local byte,
       a single TLS address computation (PyThread_get_thread_ident is a
       library call, and this check runs on every recorded operation). */
    #if defined(_MSC_VER)
    static __declspec(thread) char fastad_thread_marker;
    #else
    static _Thread_local char fastad_thread_marker;
    #endif
    static inline size_t fastad_thread_id(void) { return (size_t)&fastad_thread_marker; }
    """
    size_t fastad_thread_id() noexcept nogil

# A new tape starts with room for this many entries and doubles from there.
cdef count_t INITIAL_CAPACITY = 256

# Bytes of the tape per entry: opcode, two operands and the value. A pooled
# constant adds 8 bytes to the entry that uses it.
cdef count_t ENTRY_BYTES = sizeof(op_t) + 2 * sizeof(index_t) + sizeof(value_t)


class FastADError(Exception):
    """Base class of the errors that fastad raises itself."""


class TapeError(FastADError):
    """A tape was used in a way it does not allow.

    Raised for Vars of a tape that has finished recording, for Vars of two
    unrelated tapes in one operation, and for a recording tape used from a
    thread other than its own.
    """


class BranchError(FastADError):
    """A recorded function met a branch other than the one it recorded."""


# ---- allocation ---------------------------------------------------------------

# Test hook: when positive, the allocation that brings it to zero fails as if
# the system were out of memory.
cdef count_t _failing_allocation = 0


cdef int resize_array(void** ptr, count_t count, size_t itemsize) except -1:
    """Resize *ptr to count items; on failure *ptr is unchanged."""
    global _failing_allocation
    cdef void* grown
    if count < 0 or <size_t>count > (<size_t>-1) // itemsize:
        raise MemoryError(f"fastad: cannot allocate {count} items of {itemsize} bytes")
    if _failing_allocation > 0:
        _failing_allocation -= 1
        if _failing_allocation == 0:
            raise MemoryError("fastad: tape allocation failed (forced by a test hook)")
    grown = realloc(ptr[0], <size_t>count * itemsize)
    if grown == NULL:
        raise MemoryError(
            f"fastad: could not allocate {<size_t>count * itemsize} bytes for the tape")
    ptr[0] = grown
    return 0


def _fail_nth_allocation(count_t n):
    """Test hook: make the n-th tape allocation from now fail (0 disarms)."""
    global _failing_allocation
    _failing_allocation = n


# ---- reuse of released buffers --------------------------------------------------
# The arrays of the last released tape and a few work buffers are kept
# for the next ones, so repeated gradients reuse warm memory instead of
# growing a new tape from INITIAL_CAPACITY (a realloc copy per doubling and
# fresh page faults) and zero-filling new adjoint pages. Only touched with
# the GIL held; buffers above SPARE_MAX_ENTRIES are returned to the system.

cdef count_t SPARE_MAX_ENTRIES = 1 << 20
cdef op_t* spare_ops = NULL
cdef index_t* spare_arg0 = NULL
cdef index_t* spare_arg1 = NULL
cdef value_t* spare_values = NULL
cdef count_t spare_capacity = 0
cdef value_t* spare_consts = NULL
cdef count_t spare_consts_capacity = 0
# Work buffers (adjoints, replay values) come from a small pool. Each
# buffer carries its capacity in a header slot just before the data, so it
# can go back to the pool whatever size was asked for.
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


cdef object tangents_at(const TapeArrays* t, const value_t* values, count_t n_entries,
                        const int64_t[::1] indices, object seeds, count_t n_inputs):
    """Output tangents (len(indices) x s) for input tangents seeds (n_inputs x s)."""
    cdef cnp.ndarray seed_matrix = np.ascontiguousarray(seeds, dtype=np.float64)
    cdef count_t m = indices.shape[0], s, block
    cdef cnp.ndarray result
    cdef value_t* work
    if seed_matrix.ndim != 2 or seed_matrix.shape[0] != n_inputs:
        raise ValueError(f"fastad: tangents must be an ({n_inputs}, s) matrix")
    s = seed_matrix.shape[1]
    result = np.zeros((m, s), dtype=np.float64)
    if m == 0 or s == 0:
        return result
    block = lanes_for(n_entries, s, 1)
    work = take_buffer(n_entries * block, False)
    try:
        with nogil:
            forward_jacobian(t, values, n_entries, n_inputs, &indices[0], m,
                             <const double*>cnp.PyArray_DATA(seed_matrix), s,
                             <double*>cnp.PyArray_DATA(result), work, block)
    finally:
        release_buffer(work)
    return result


cdef object second_order_at(const TapeArrays* t, const value_t* values, index_t out,
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
        with nogil:
            while first < s:
                width = min(s - first, block)
                for r in range(min(n_inputs, n_entries)):
                    for j in range(width):
                        tan[r * width + j] = seed_data[r * s + first + j]
                tangent_sweep(t, values, n_rows, n_entries, width, tan)
                memset(adj, 0, n_entries * sizeof(value_t))
                memset(dadj, 0, n_entries * width * sizeof(value_t))
                adj[out] = 1.0
                second_order_sweep(t, values, n_rows, out, width, tan, adj, dadj)
                for r in range(n_rows):
                    for j in range(width):
                        result[r * s + first + j] = dadj[r * width + j]
                first += width
        memcpy(cnp.PyArray_DATA(gradient), adj, n_rows * sizeof(value_t))
    finally:
        release_buffer(tan)
        release_buffer(adj)
        release_buffer(dadj)
    return gradient, products


# ---- per-thread stack of active tapes -----------------------------------------

_thread_state = threading.local()


cdef list active_tapes():
    """This thread's stack of recording tapes, innermost last, as weak
    references: a tape entered and never exited is not kept alive by it."""
    try:
        return _thread_state.stack
    except AttributeError:
        _thread_state.stack = []
        return _thread_state.stack


cdef Py_ssize_t stack_position(Tape tape):
    """Position of tape on this thread's stack of recording tapes, or -1."""
    cdef list stack = active_tapes()
    cdef Py_ssize_t k
    for k in range(len(stack)):
        if stack[k]() is tape:
            return k
    return -1


cdef bint is_active(Tape tape):
    """Whether tape is on this thread's stack of recording tapes."""
    for ref in active_tapes():
        if ref() is tape:
            return True
    return False


# ---- the tape -----------------------------------------------------------------

cdef struct TapeArrays:
    # Structure of arrays: the sweeps stream each array separately, and no
    # padding is spent on the one-byte opcode.
    op_t* ops
    index_t* arg0        # first operand (entry index, or pool index for CV)
    index_t* arg1        # second operand (entry index, or pool index for VC)
    value_t* values      # value of each entry
    value_t* consts      # the constant pool


cdef struct Guard:
    # A comparison made while recording, and how it came out: a replay at
    # new inputs is on the recorded branch only if every guard comes out
    # the same. The left operand is always an entry (Python turns c < x
    # into x > c); the right one an entry or a pooled constant.
    index_t a
    index_t b
    uint8_t how            # Py_LT, Py_LE, Py_GT, Py_GE, Py_EQ or Py_NE
    uint8_t b_is_constant
    uint8_t outcome


@cython.final
cdef class Tape:
    """A recording of elementary operations (a Wengert list).

    Use it as a context manager; inside the block ``var`` makes
    independent variables and every operation on them is recorded.
    ``gradient`` then differentiates any recorded Var with respect to any
    others, as often as needed, also after the block.

    Examples
    --------
    >>> import fastad
    >>> with fastad.Tape() as t:
    ...     x = t.var(2.0)
    ...     y = x * fastad.sin(x)
    >>> g = t.gradient(y, x)
    """

    cdef TapeArrays arr
    cdef Guard* guards
    cdef count_t n_guards
    cdef count_t guards_capacity
    cdef count_t n_entries
    cdef count_t capacity
    cdef count_t n_consts
    cdef count_t consts_capacity
    cdef count_t max_entries
    cdef bint recording
    cdef bint finished
    cdef size_t thread_ident
    cdef object __weakref__
    # Nesting: entries of this tape that stand for Vars of an enclosing
    # tape (differentiated arguments that were Vars, and outer Vars an inner
    # function used): entry index -> outer Var, and the reverse look-up.
    cdef dict captures
    cdef dict captured_entries
    # Made by a transform (grad, trace, ...) rather than by a user's block.
    cdef bint made_by_transform

    def __cinit__(self):
        self.max_entries = INT32_MAX
        self.capacity = 0
        self.consts_capacity = 0

    def __dealloc__(self):
        global spare_ops, spare_arg0, spare_arg1, spare_values, spare_capacity
        global spare_consts, spare_consts_capacity
        if (self.capacity > spare_capacity and self.capacity <= SPARE_MAX_ENTRIES
                and self.arr.values != NULL):
            free(spare_ops)
            free(spare_arg0)
            free(spare_arg1)
            free(spare_values)
            spare_ops, spare_arg0 = self.arr.ops, self.arr.arg0
            spare_arg1, spare_values = self.arr.arg1, self.arr.values
            spare_capacity = self.capacity
        else:
            free(self.arr.ops)
            free(self.arr.arg0)
            free(self.arr.arg1)
            free(self.arr.values)
        free(self.guards)
        if (self.consts_capacity > spare_consts_capacity
                and self.consts_capacity <= SPARE_MAX_ENTRIES):
            free(spare_consts)
            spare_consts = self.arr.consts
            spare_consts_capacity = self.consts_capacity
        else:
            free(self.arr.consts)

    # ---- growth ---------------------------------------------------------------

    cdef int grow(self) except -1:
        """Double the entry arrays (first call: allocate them)."""
        global spare_ops, spare_arg0, spare_arg1, spare_values, spare_capacity
        cdef count_t new_capacity
        if (self.capacity == 0 and spare_capacity > 0
                and spare_capacity <= self.max_entries and _failing_allocation == 0):
            # A fresh tape adopts the arrays of the last released one.
            self.arr.ops, self.arr.arg0 = spare_ops, spare_arg0
            self.arr.arg1, self.arr.values = spare_arg1, spare_values
            self.capacity = spare_capacity
            spare_ops = NULL
            spare_arg0 = spare_arg1 = NULL
            spare_values = NULL
            spare_capacity = 0
            return 0
        if self.n_entries >= self.max_entries:
            raise OverflowError(
                f"fastad: the tape is full at {self.max_entries} entries "
                f"(entry indices are 32-bit); differentiate a smaller "
                f"computation or split it")
        new_capacity = INITIAL_CAPACITY if self.capacity == 0 else 2 * self.capacity
        if new_capacity > self.max_entries:
            new_capacity = self.max_entries
        # Each array is resized on its own; a failure leaves the ones already
        # grown larger than `capacity`, which is harmless.
        resize_array(<void**>&self.arr.ops, new_capacity, sizeof(op_t))
        resize_array(<void**>&self.arr.arg0, new_capacity, sizeof(index_t))
        resize_array(<void**>&self.arr.arg1, new_capacity, sizeof(index_t))
        resize_array(<void**>&self.arr.values, new_capacity, sizeof(value_t))
        self.capacity = new_capacity
        return 0

    cdef int grow_consts(self) except -1:
        global spare_consts, spare_consts_capacity
        cdef count_t new_capacity
        if (self.consts_capacity == 0 and spare_consts_capacity > 0
                and spare_consts_capacity <= self.max_entries and _failing_allocation == 0):
            self.arr.consts = spare_consts
            self.consts_capacity = spare_consts_capacity
            spare_consts = NULL
            spare_consts_capacity = 0
            return 0
        if self.n_consts >= self.max_entries:
            raise OverflowError(
                f"fastad: the tape's constant pool is full at {self.max_entries} "
                f"constants")
        new_capacity = 64 if self.consts_capacity == 0 else 2 * self.consts_capacity
        if new_capacity > self.max_entries:
            new_capacity = self.max_entries
        resize_array(<void**>&self.arr.consts, new_capacity, sizeof(value_t))
        self.consts_capacity = new_capacity
        return 0

    # ---- recording ------------------------------------------------------------

    cdef inline index_t push(self, op_t op, index_t a, index_t b, value_t v) except -1:
        """Append an entry and return its index."""
        cdef count_t i = self.n_entries
        if i == self.capacity:
            self.grow()
        self.arr.ops[i] = op
        self.arr.arg0[i] = a
        self.arr.arg1[i] = b
        self.arr.values[i] = v
        self.n_entries = i + 1
        return <index_t>i

    cdef inline index_t push_const(self, value_t c) except -1:
        """Append a constant to the pool and return its pool index."""
        cdef count_t i = self.n_consts
        if i == self.consts_capacity:
            self.grow_consts()
        self.arr.consts[i] = c
        self.n_consts = i + 1
        return <index_t>i

    cdef int push_guard(self, index_t a, index_t b, int how, bint b_is_constant,
                        bint outcome) except -1:
        """Record a comparison and its outcome (see Guard)."""
        cdef count_t new_capacity
        if self.n_guards == self.guards_capacity:
            new_capacity = 16 if self.guards_capacity == 0 else 2 * self.guards_capacity
            resize_array(<void**>&self.guards, new_capacity, sizeof(Guard))
            self.guards_capacity = new_capacity
        self.guards[self.n_guards].a = a
        self.guards[self.n_guards].b = b
        self.guards[self.n_guards].how = <uint8_t>how
        self.guards[self.n_guards].b_is_constant = b_is_constant
        self.guards[self.n_guards].outcome = outcome
        self.n_guards += 1
        return 0

    cdef int check_recording(self) except -1:
        if not self.recording:
            if self.finished:
                raise TapeError(
                    "this Var belongs to a tape that has finished recording: "
                    "a Var is only usable inside the transform or `with Tape()` "
                    "block that made it; use .value to keep its number")
            raise TapeError("this tape is not recording: use it as `with fastad.Tape() as t:`")
        if self.thread_ident != fastad_thread_id():
            raise TapeError(
                "this tape is recording in another thread: a recording tape "
                "belongs to the thread that started it")
        return 0

    cdef int check_thread(self) except -1:
        """A recording tape is read only by its own thread (it may grow meanwhile)."""
        if self.recording and self.thread_ident != fastad_thread_id():
            raise TapeError(
                "this tape is recording in another thread: a recording tape "
                "belongs to the thread that started it; differentiate after its "
                "`with` block ends")
        return 0

    cdef Var capture(self, Var outer):
        """A Var of this tape standing for outer, a Var of an enclosing tape
        (one entry per outer Var, reused)."""
        cdef index_t k
        if self.captures is None:
            self.captures = {}
            self.captured_entries = {}
        key = (id(outer.tape), outer.index)
        k = self.captured_entries.get(key, -1)
        if k < 0:
            k = self.push(OP_INPUT, 0, 0, outer._value)
            self.captures[k] = outer
            self.captured_entries[key] = k
        return make_var(self, k, outer._value)

    cdef inline Var new_input(self, value_t v):
        return make_var(self, self.push(OP_INPUT, 0, 0, v), v)

    # ---- context manager ------------------------------------------------------

    def __enter__(self):
        if self.recording or self.finished:
            raise TapeError("a Tape records once: make a new Tape for a new recording")
        self.recording = True
        self.thread_ident = fastad_thread_id()
        stack = active_tapes()
        stack[:] = [ref for ref in stack if ref() is not None]
        stack.append(weakref.ref(self))
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.recording and self.thread_ident != fastad_thread_id():
            raise TapeError(
                "this tape is recording in another thread: only the thread that "
                "entered it can close it")
        self.close()
        if self.captures:
            # A block inside a transform that used the transform's Vars:
            # its operations (and the branch guards among them) go onto the
            # enclosing tape too, so a trace sees them.
            Splice.create(self)
        return False

    cdef void close(self) noexcept:
        cdef list stack
        if not self.recording:
            return
        self.recording = False
        self.finished = True
        stack = active_tapes()
        # Remove this tape (normally the innermost one).
        for k in range(len(stack) - 1, -1, -1):
            if stack[k]() is self:
                del stack[k]
                break

    # ---- inputs ---------------------------------------------------------------

    def var(self, x):
        """Make independent variables on this tape.

        Parameters
        ----------
        x : float, int or array_like
            Value(s) of the variables.

        Returns
        -------
        Var, ComplexVar or numpy.ndarray
            A Var for a real number, a ComplexVar (two variables: the real
            and imaginary part) for a complex one; an object array of them
            of x's shape for an array.
        """
        if self.finished:
            raise TapeError("this tape has finished recording: make a new Tape for new inputs")
        self.check_recording()
        if PyComplex_Check(x) or isinstance(x, np.complexfloating) or (
                isinstance(x, (np.ndarray, list, tuple)) and np.asarray(x).dtype.kind == "c"):
            return _complex_inputs(self, np.asarray(x) if isinstance(x, (list, tuple)) else x,
                                   "Tape.var")[0]
        if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
            return self.inputs_from_array(as_float_array(x, "Tape.var"))
        return self.new_input(as_real_number(x, "Tape.var"))

    cdef object inputs_from_array(self, cnp.ndarray values):
        """Object array of new input Vars, shaped as the float64 `values`."""
        cdef cnp.ndarray flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        cdef cnp.ndarray out = np.empty(flat.shape[0], dtype=object)
        cdef const double* src = <const double*>cnp.PyArray_DATA(flat)
        cdef PyObject** dst = <PyObject**>cnp.PyArray_DATA(out)
        cdef count_t k
        cdef Var v
        for k in range(flat.shape[0]):
            v = self.new_input(src[k])
            Py_INCREF(v)
            Py_XDECREF(dst[k])  # np.empty filled it with None
            dst[k] = <PyObject*>v
        return out.reshape(np.shape(values))

    cdef list inputs_from_floats(self, list values):
        """List of new input Vars for a list of Python numbers."""
        cdef list out = []
        for x in values:
            out.append(self.new_input(as_real_number(x, "grad")))
        return out

    # ---- differentiation ------------------------------------------------------

    cdef value_t* adjoints(self, Var y) except NULL:
        """Run the reverse sweep seeded at y; the caller frees the result.

        The buffer covers entries 0 .. y.index, the only ones y depends
        on; give it back with release_buffer.
        """
        cdef count_t n = <count_t>y.index + 1
        cdef value_t* adj = take_buffer(n, True)
        adj[y.index] = 1.0
        if n > NOGIL_MIN_ENTRIES:
            with nogil:
                reverse_sweep(&self.arr, self.arr.values, y.index, adj)
        else:
            reverse_sweep(&self.arr, self.arr.values, y.index, adj)
        return adj

    cdef int check_output(self, Var y) except -1:
        if y.tape is not self:
            raise TapeError("the output Var was not recorded on this tape")
        return 0

    cdef object input_gradient(self, object y, count_t n_inputs):
        """d y / d(entries 0 .. n_inputs-1) as a float64 array.

        The transforms record their inputs first, so these are the inputs.
        """
        cdef cnp.ndarray out = np.zeros(n_inputs, dtype=np.float64)
        cdef value_t* adj
        cdef count_t n
        if type(y) is not Var:
            return out  # a constant output
        self.check_output(<Var>y)
        adj = self.adjoints(<Var>y)
        n = min(n_inputs, <count_t>(<Var>y).index + 1)
        memcpy(cnp.PyArray_DATA(out), adj, n * sizeof(value_t))
        release_buffer(adj)
        return out

    cdef object input_vjp(self, const int64_t[::1] indices, const double[::1] seeds,
                          count_t n_inputs):
        """Sum over k of seeds[k] * d(entry indices[k]) / d(entries 0 .. n_inputs-1).

        One reverse sweep seeded at every output; an index of -1 marks a
        constant output, which contributes nothing.
        """
        cdef cnp.ndarray out = np.zeros(n_inputs, dtype=np.float64)
        cdef count_t k, last = -1
        cdef value_t* adj
        for k in range(indices.shape[0]):
            if indices[k] > last:
                last = indices[k]
        if last < 0:
            return out
        adj = take_buffer(last + 1, True)
        for k in range(indices.shape[0]):
            if indices[k] >= 0:
                adj[indices[k]] += seeds[k]
        if last > NOGIL_MIN_ENTRIES:
            with nogil:
                reverse_sweep(&self.arr, self.arr.values, <index_t>last, adj)
        else:
            reverse_sweep(&self.arr, self.arr.values, <index_t>last, adj)
        memcpy(cnp.PyArray_DATA(out), adj, min(n_inputs, last + 1) * sizeof(value_t))
        release_buffer(adj)
        return out

    cdef object input_jacobian(self, const int64_t[::1] indices, count_t n_inputs):
        """Rows d(entry indices[k]) / d(entries 0 .. n_inputs-1), one sweep each.

        All rows come from this one recording; an index of -1 (a constant
        output) gives a row of zeros.
        """
        cdef count_t m = indices.shape[0]
        cdef cnp.ndarray jac = np.zeros((m, n_inputs), dtype=np.float64)
        cdef double* rows = <double*>cnp.PyArray_DATA(jac)
        cdef count_t k, last = -1, work = 0
        cdef value_t* adj
        for k in range(m):
            if indices[k] > last:
                last = indices[k]
            work += indices[k] + 1
        if last < 0:
            return jac
        adj = take_buffer(last + 1, True)
        if work > NOGIL_MIN_ENTRIES:
            with nogil:
                jacobian_rows(&self.arr, self.arr.values, &indices[0], m, n_inputs, adj, rows)
        else:
            jacobian_rows(&self.arr, self.arr.values, &indices[0], m, n_inputs, adj, rows)
        release_buffer(adj)
        return jac

    cdef object input_tangents(self, const int64_t[::1] indices, object seeds,
                               count_t n_inputs):
        """(outputs x seeds) matrix d(entry indices[k]) / d(inputs) . seeds by
        forward sweeps at the recorded values; seeds is (n_inputs x s)."""
        return tangents_at(&self.arr, self.arr.values, self.n_entries, indices, seeds,
                           n_inputs)

    cdef object output_entries(self, object items, str where):
        """Entry indices (-1 for numbers) and values of a flat sequence of outputs."""
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
                if v.tape is not self:
                    if v.tape is not None and stack_position(v.tape) >= 0:
                        v = self.capture(v)  # an output that is an outer Var
                    else:
                        raise TapeError(
                        f"{where}: f returned a Var that was not computed from the "
                        f"differentiated arguments of this call (a Var of another tape)")
                idx[k] = v.index
                val[k] = v._value
            else:
                number = as_real_number_or_none(item)
                if number is None or isinstance(item, (bool, np.bool_)):
                    raise TypeError(
                        f"{where}: f must return Vars or real numbers, but output "
                        f"element {k} is {describe(item)}")
                idx[k] = -1
                val[k] = number
        return indices, values

    def gradient(self, y, wrt):
        """Derivative of a recorded scalar with respect to recorded Vars.

        Parameters
        ----------
        y : Var or number
            The output; a number (no dependence on the tape) has derivative 0.
        wrt : Var, ComplexVar, array of them, or list/tuple of those
            What to differentiate with respect to.

        Returns
        -------
        float, complex, numpy.ndarray or list
            Shaped like `wrt`: a float for a Var, ``dy/dRe + 1j*dy/dIm`` for
            a ComplexVar, an array for an array, a list (tuple) of results
            for a list (tuple).
        """
        cdef value_t* adj = NULL
        cdef count_t n_adj = 0
        cdef list wanted = []
        self.check_thread()
        if self.captures and any((<Var>v).tape.recording for v in self.captures.values()):
            # The block used Vars of a tape that is still recording: the
            # gradient must stay differentiable there, so it is emitted onto
            # that tape as Vars (as for a nested transform).
            return self.nested_gradient(y, wrt)
        if isinstance(y, np.ndarray) and y.shape == ():
            y = y[()]
        self.collect_entries(wrt, wanted)
        if type(y) is Var:
            self.check_output(<Var>y)
            adj = self.adjoints(<Var>y)
            n_adj = <count_t>(<Var>y).index + 1
        else:
            check_real_output(y)
        try:
            values = [adj[i] if 0 <= i < n_adj else 0.0 for i in wanted]
        finally:
            release_buffer(adj)
        return self.place(wrt, iter(values), np.float64)

    cdef object nested_gradient(self, object y, object wrt):
        """Tape.gradient for a block inside a recording tape: Vars of it."""
        wanted = []
        self.collect_entries(wrt, wanted)
        if type(y) is not Var:
            check_real_output(y)
            terms = [0.0] * len(wanted)
        else:
            self.check_output(<Var>y)
            # -1 marks a constant part of a ComplexVar: derivative 0
            on_tape = Splice.create(self).gradients(
                [(<Var>y).index], [1.0], 0, [i for i in wanted if i >= 0])
            found = iter(on_tape)
            terms = [next(found) if i >= 0 else 0.0 for i in wanted]
        return self.place(wrt, iter(terms), object)

    cdef int collect_entries(self, object wrt, list wanted) except -1:
        """The entry indices of the Vars in wrt, in order (see place)."""
        if type(wrt) is Var:
            if (<Var>wrt).tape is not self:
                raise TapeError("Tape.gradient: a Var in wrt was not recorded on this tape")
            wanted.append((<Var>wrt).index)
        elif type(wrt) is ComplexVar:
            # Two results, the real and the imaginary part (-1: a constant)
            for part in ((<ComplexVar>wrt).re, (<ComplexVar>wrt).im):
                if type(part) is Var:
                    self.collect_entries(part, wanted)
                else:
                    wanted.append(-1)
        elif isinstance(wrt, np.ndarray):
            for item in wrt.reshape(-1):
                self.collect_entries(item, wanted)
        elif isinstance(wrt, (list, tuple)):
            for item in wrt:
                self.collect_entries(item, wanted)
        else:
            raise TypeError(
                f"Tape.gradient: wrt must be a Var, an array of Vars or a list of "
                f"them, got {describe(wrt)}")
        return 0

    cdef object place(self, object wrt, object results, object dtype):
        """The next results, in wrt's structure (arrays of dtype for arrays)."""
        if type(wrt) is Var:
            return next(results)
        if type(wrt) is ComplexVar:
            re = next(results)
            return _make_complex(re, next(results))
        if isinstance(wrt, np.ndarray):
            if dtype is not object and any(type(item) is ComplexVar for item in wrt.reshape(-1)):
                dtype = np.complex128
            out = np.empty(wrt.size, dtype=dtype)
            for k, item in enumerate(wrt.reshape(-1)):
                out[k] = self.place(item, results, dtype)
            return out.reshape(wrt.shape)
        parts = [self.place(item, results, dtype) for item in wrt]
        return parts if type(wrt) is list else tuple(parts)


    # ---- introspection and benchmark hooks ------------------------------------

    @property
    def n_entries(self):
        """Number of entries recorded so far."""
        return self.n_entries

    @property
    def n_constants(self):
        """Number of constants in the pool."""
        return self.n_consts

    @property
    def n_guards(self):
        """Number of comparisons recorded (branch guards)."""
        return self.n_guards

    @property
    def nbytes(self):
        """Bytes the recorded entries, constants and guards occupy (not capacity)."""
        return (self.n_entries * ENTRY_BYTES + self.n_consts * sizeof(value_t)
                + self.n_guards * sizeof(Guard))

    def _sweep(self, Var y):
        """Benchmark hook: one reverse sweep from y, result discarded."""
        self.check_thread()
        self.check_output(y)
        release_buffer(self.adjoints(y))

    def _entry(self, count_t i):
        """Test hook: entry i as (opcode, arg0, arg1, value)."""
        if not 0 <= i < self.n_entries:
            raise IndexError(f"tape entry {i} out of range (0 .. {self.n_entries - 1})")
        return self.arr.ops[i], self.arr.arg0[i], self.arr.arg1[i], self.arr.values[i]

    def _constant(self, count_t k):
        """Test hook: constant k of the pool."""
        if not 0 <= k < self.n_consts:
            raise IndexError(f"constant {k} out of range (0 .. {self.n_consts - 1})")
        return self.arr.consts[k]

    def _state(self):
        """The finished tape as bytes (for pickling a Function)."""
        if self.recording:
            raise TapeError("a tape that is still recording cannot be pickled")
        n, m, g = self.n_entries, self.n_consts, self.n_guards
        return (PyBytes_FromStringAndSize(<char*>self.arr.ops, n * sizeof(op_t)),
                PyBytes_FromStringAndSize(<char*>self.arr.arg0, n * sizeof(index_t)),
                PyBytes_FromStringAndSize(<char*>self.arr.arg1, n * sizeof(index_t)),
                PyBytes_FromStringAndSize(<char*>self.arr.values, n * sizeof(value_t)),
                PyBytes_FromStringAndSize(<char*>self.arr.consts, m * sizeof(value_t)),
                PyBytes_FromStringAndSize(<char*>self.guards, g * sizeof(Guard)))

    @staticmethod
    def _from_state(state):
        """A finished tape from _state's bytes, checked so that no operand,
        constant or guard can point outside the arrays."""
        ops, arg0, arg1, values, consts, guards = state
        cdef count_t n = len(ops), m = len(consts) // sizeof(value_t)
        cdef count_t g = len(guards) // sizeof(Guard), i, k
        cdef Tape t = Tape()
        if (len(arg0) != n * sizeof(index_t) or len(arg1) != n * sizeof(index_t)
                or len(values) != n * sizeof(value_t) or len(consts) % sizeof(value_t)
                or len(guards) % sizeof(Guard) or n > INT32_MAX or m > INT32_MAX):
            raise ValueError("fastad: corrupt tape data in the pickle")
        t.fill_finished(<char*>ops, <char*>arg0, <char*>arg1, <char*>values, n,
                        <char*>consts, m, <char*>guards, g)
        for i in range(n):
            if not t.entry_is_valid(i):
                raise ValueError(f"fastad: corrupt tape data in the pickle (entry {i})")
        for k in range(g):
            if (t.guards[k].a < 0 or t.guards[k].a >= n or t.guards[k].b < 0
                    or t.guards[k].b >= (m if t.guards[k].b_is_constant else n)
                    or t.guards[k].how > Py_GE):
                raise ValueError(f"fastad: corrupt tape data in the pickle (guard {k})")
        return t

    cdef int fill_finished(self, const char* ops, const char* arg0, const char* arg1,
                           const char* values, count_t n, const char* consts, count_t m,
                           const char* guards, count_t g) except -1:
        """Make this new tape a finished copy of n entries, m constants and g
        guards (exact-size arrays)."""
        resize_array(<void**>&self.arr.ops, max(n, 1), sizeof(op_t))
        resize_array(<void**>&self.arr.arg0, max(n, 1), sizeof(index_t))
        resize_array(<void**>&self.arr.arg1, max(n, 1), sizeof(index_t))
        resize_array(<void**>&self.arr.values, max(n, 1), sizeof(value_t))
        self.capacity = max(n, 1)
        resize_array(<void**>&self.arr.consts, max(m, 1), sizeof(value_t))
        self.consts_capacity = max(m, 1)
        resize_array(<void**>&self.guards, max(g, 1), sizeof(Guard))
        self.guards_capacity = max(g, 1)
        memcpy(self.arr.ops, ops, n * sizeof(op_t))
        memcpy(self.arr.arg0, arg0, n * sizeof(index_t))
        memcpy(self.arr.arg1, arg1, n * sizeof(index_t))
        memcpy(self.arr.values, values, n * sizeof(value_t))
        memcpy(self.arr.consts, consts, m * sizeof(value_t))
        memcpy(self.guards, guards, g * sizeof(Guard))
        self.n_entries, self.n_consts, self.n_guards = n, m, g
        self.finished = True
        return 0

    cdef bint entry_is_valid(self, count_t i) noexcept:
        """Whether entry i's opcode and operands are in range (operands precede it)."""
        cdef int op = self.arr.ops[i], kind
        cdef index_t a = self.arr.arg0[i], b = self.arr.arg1[i]
        if op >= N_OPS:
            return False
        if op == OP_INPUT:
            return True
        if op < FIRST_BINARY:
            return 0 <= a < i
        kind = op - binary_base(op)
        if kind == KIND_VV:
            return 0 <= a < i and 0 <= b < i
        if kind == KIND_VC:
            return 0 <= a < i and 0 <= b < self.n_consts
        return 0 <= a < self.n_consts and 0 <= b < i

    def _set_max_entries(self, count_t n):
        """Test hook: lower the entry limit to reach the tape-full path."""
        if n < 1 or n > INT32_MAX:
            raise ValueError("max entries must be in [1, 2**31 - 1]")
        self.max_entries = n

    def __repr__(self):
        state = "recording" if self.recording else ("finished" if self.finished else "new")
        return f"<fastad.Tape {state}, {self.n_entries} entries>"

    def __reduce__(self):
        raise TypeError("a fastad.Tape cannot be pickled")


# The adjoint allocation goes through the same failure hook as the tape's.
cdef inline bint allocation_allowed() except -1:
    global _failing_allocation
    if _failing_allocation > 0:
        _failing_allocation -= 1
        if _failing_allocation == 0:
            return False
    return True

# Sweeps shorter than this keep the GIL: releasing it costs more than they do.
cdef count_t NOGIL_MIN_ENTRIES = 4096
