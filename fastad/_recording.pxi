# The Tape object and its imperative API: a recording in progress (a
# context manager owned by one thread, on that thread's stack of active
# tapes) or finished, its independent variables (Tape.var), and
# Tape.gradient. Its storage is a TapeData (_tape.pxi); sweeps over it are
# started by the drivers of _drivers.pxi.

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


# ---- the tape -----------------------------------------------------------------

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

    cdef TapeData data
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
    # The constant matrices that products hold by reference (Factor.data).
    cdef list held

    def __cinit__(self):
        self.data.max_entries = INT32_MAX

    def __dealloc__(self):
        release_storage(&self.data)

    # ---- recording ------------------------------------------------------------

    cdef inline index_t push(self, op_t op, index_t a, index_t b, value_t v) except -1:
        """Append an entry and return its index."""
        return push_entry(&self.data, op, a, b, v)

    cdef inline index_t push_const(self, value_t c) except -1:
        """Append a constant to the pool and return its pool index."""
        return push_constant(&self.data, c)

    cdef int push_guard(self, index_t a, index_t b, int how, bint b_is_constant,
                        bint outcome) except -1:
        """Record a comparison and its outcome (see Guard)."""
        return append_guard(&self.data, a, b, how, b_is_constant, outcome)

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

    cdef int check_output(self, Var y) except -1:
        if y.tape is not self:
            raise TapeError("the output Var was not recorded on this tape")
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
        return None  # exceptions propagate

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
        Var, ComplexVar, Array or numpy.ndarray
            A Var for a real number, a ComplexVar (two variables: the real
            and imaginary part) for a complex one; an Array of x's shape
            for a real array or list, an object array of ComplexVars for a
            complex one.
        """
        if self.finished:
            raise TapeError("this tape has finished recording: make a new Tape for new inputs")
        self.check_recording()
        if PyComplex_Check(x) or isinstance(x, np.complexfloating) or (
                isinstance(x, (np.ndarray, list, tuple)) and np.asarray(x).dtype.kind == "c"):
            return _complex_inputs(self, np.asarray(x) if isinstance(x, (list, tuple)) else x,
                                   "Tape.var")[0]
        if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
            return self.input_array(as_float_array(x, "Tape.var"))
        return self.new_input(as_real_number(x, "Tape.var"))

    cdef Array input_array(self, cnp.ndarray values):
        """An Array of new input entries, shaped as the float64 `values`."""
        cdef cnp.ndarray src = values if cnp.PyArray_IS_C_CONTIGUOUS(values) and \
            cnp.PyArray_TYPE(values) == cnp.NPY_DOUBLE else np.ascontiguousarray(
                values, dtype=np.float64)
        cdef const double* x = <const double*>cnp.PyArray_DATA(src)
        cdef count_t k, n = cnp.PyArray_SIZE(src), first
        cdef cnp.ndarray codes = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(src), cnp.PyArray_DIMS(src),
                                                   cnp.NPY_INT32, 0)
        cdef index_t* c = <index_t*>cnp.PyArray_DATA(codes)
        self.check_recording()
        reserve(&self.data, n, 0)
        first = self.data.n_entries
        if n > 0:  # (an empty tape's arrays are NULL: no memset of 0 bytes there)
            memset(self.data.arr.ops + first, OP_INPUT, n * sizeof(op_t))
            memset(self.data.arr.arg0 + first, 0, n * sizeof(index_t))
            memset(self.data.arr.arg1 + first, 0, n * sizeof(index_t))
            memcpy(self.data.arr.values + first, x, n * sizeof(value_t))
        number_entries(c, first, n)
        self.data.n_entries = first + n
        return make_array(self, codes)

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

    # ---- differentiation ------------------------------------------------------

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
        if type(wrt) is Array and type(y) is Var:
            return self.array_gradient(<Var>y, <Array>wrt)
        self.collect_entries(wrt, wanted)
        if type(y) is Var:
            self.check_output(<Var>y)
            adj = adjoints(self, <Var>y)
            n_adj = <count_t>(<Var>y).index + 1
        else:
            check_real_output(y)
        try:
            values = [adj[i] if 0 <= i < n_adj else 0.0 for i in wanted]
        finally:
            release_buffer(adj)
        return self.place(wrt, iter(values), np.float64)

    cdef cnp.ndarray array_gradient(self, Var y, Array wrt):
        """Tape.gradient with respect to one Array: a float array of its shape."""
        cdef cnp.ndarray codes, out
        cdef const index_t* c
        cdef double* g
        cdef value_t* adj
        cdef count_t k, n, n_adj
        if wrt.tape is not self:
            raise TapeError("Tape.gradient: an Array in wrt was not recorded on this tape")
        self.check_output(y)
        codes = np.ascontiguousarray(wrt.codes)
        out = np.empty(np.shape(wrt.codes), dtype=np.float64)
        c = <const index_t*>cnp.PyArray_DATA(codes)
        g = <double*>cnp.PyArray_DATA(out)
        n = codes.size
        adj = adjoints(self, y)
        n_adj = <count_t>y.index + 1
        for k in range(n):
            # a constant element, or an entry after y: derivative 0
            g[k] = adj[c[k]] if 0 <= c[k] < n_adj else 0.0
        release_buffer(adj)
        return out

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
        elif type(wrt) is Array:
            if (<Array>wrt).tape is not self:
                raise TapeError("Tape.gradient: an Array in wrt was not recorded on this tape")
            # a constant element (code < 0) has derivative 0: -1 here
            wanted.extend(np.maximum((<Array>wrt).codes, -1).reshape(-1).tolist())
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
        if type(wrt) is Array:
            out = np.empty(wrt.size, dtype=dtype)
            for k in range(wrt.size):
                out[k] = next(results)
            return out.reshape(wrt.shape)
        if isinstance(wrt, np.ndarray):
            if dtype is not object and any(type(item) is ComplexVar for item in wrt.reshape(-1)):
                dtype = np.complex128
            out = np.empty(wrt.size, dtype=dtype)
            for k, item in enumerate(wrt.reshape(-1)):
                out[k] = self.place(item, results, dtype)
            return out.reshape(wrt.shape)
        parts = [self.place(item, results, dtype) for item in wrt]
        return parts if type(wrt) is list else tuple(parts)

    # ---- introspection and test hooks ---------------------------------------

    @property
    def n_entries(self):
        """Number of entries recorded so far."""
        return self.data.n_entries

    @property
    def n_constants(self):
        """Number of constants in the pool."""
        return self.data.n_consts

    @property
    def n_guards(self):
        """Number of comparisons recorded (branch guards)."""
        return self.data.n_guards

    @property
    def nbytes(self):
        """Bytes the recorded entries, constants and guards occupy (not capacity)."""
        return storage_nbytes(&self.data)

    def _sweep(self, Var y):
        """Benchmark hook: one reverse sweep from y, result discarded."""
        self.check_thread()
        self.check_output(y)
        release_buffer(adjoints(self, y))

    def _entry(self, count_t i):
        """Test hook: entry i as (opcode, arg0, arg1, value)."""
        if not 0 <= i < self.data.n_entries:
            raise IndexError(f"tape entry {i} out of range (0 .. {self.data.n_entries - 1})")
        return (self.data.arr.ops[i], self.data.arr.arg0[i], self.data.arr.arg1[i],
                self.data.arr.values[i])

    def _runs(self):
        """Test hook: the runs, as (first, count, a, a_step, b, b_step) (see Run)."""
        cdef count_t r
        cdef const Run* run
        result = []
        for r in range(self.data.arr.n_runs):
            run = &self.data.arr.runs[r]
            result.append((run.first, run.count, run.a, run.a_step, run.b, run.b_step))
        return result

    def _constant(self, count_t k):
        """Test hook: constant k of the pool."""
        if not 0 <= k < self.data.n_consts:
            raise IndexError(f"constant {k} out of range (0 .. {self.data.n_consts - 1})")
        return self.data.arr.consts[k]

    def _set_max_entries(self, count_t n):
        """Test hook: lower the entry limit to reach the tape-full path."""
        if n < 1 or n > INT32_MAX:
            raise ValueError("max entries must be in [1, 2**31 - 1]")
        self.data.max_entries = n

    def __repr__(self):
        state = "recording" if self.recording else ("finished" if self.finished else "new")
        return f"<fastad.Tape {state}, {self.data.n_entries} entries>"

    def __reduce__(self):
        raise TypeError("a fastad.Tape cannot be pickled (a traced fastad.Function can)")


cdef Tape finished_copy(Tape source):
    """A finished copy of a finished tape (entries, constants, guards), in
    arrays of exactly its size."""
    cdef Tape t = Tape()
    fill_exact(&t.data, source.data.arr.ops, source.data.arr.arg0, source.data.arr.arg1,
               source.data.arr.values, source.data.n_entries, source.data.arr.consts,
               source.data.n_consts, source.data.guards, source.data.n_guards)
    copy_products(&t.data, &source.data)
    copy_runs(&t.data, &source.data)
    t.held = None if source.held is None else list(source.held)
    t.finished = True
    return t


def _begin(Tape tape):
    """Start recording on tape in this thread, for a transform."""
    tape.made_by_transform = True
    tape.__enter__()


def _end(Tape tape):
    """Stop recording on tape."""
    tape.close()


# ---- the inputs of a transform's recording --------------------------------------

def _inputs(Tape tape, object x, str where):
    """Record the inputs for one real argument leaf.

    Returns the Var (number), object array of Vars (array) or list of Vars
    (a list of numbers) standing for x, and its number of scalars. A Var
    of an enclosing transform becomes an input standing for it (nesting).
    """
    if type(x) is np.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_DOUBLE:
        return tape.input_array(<cnp.ndarray>x), (<cnp.ndarray>x).size  # the common case
    if type(x) is Array:
        x = (<Array>x).__array__()
    if isinstance(x, np.ndarray):
        if x.dtype == object and any(type(item) is Var for item in x.reshape(-1)):
            flat = [_inputs(tape, item, where)[0] for item in x.reshape(-1)]
            codes = np.array([(<Var>v).index for v in flat], dtype=np.int32)
            return make_array(tape, codes.reshape(x.shape)), len(flat)
        arr = as_float_array(x, where)
        return tape.input_array(arr), arr.size
    if type(x) is Var:
        return nested_input(tape, <Var>x), 1
    return tape.new_input(as_real_number(x, where)), 1


def _input_list(Tape tape, list values):
    """New input Vars for a list of real numbers, as a list (the fast path
    of the most common argument)."""
    cdef list out = []
    for x in values:
        out.append(tape.new_input(PyFloat_AS_DOUBLE(x) if type(x) is float
                                  else as_real_number(x, "grad")))
    return out


def _complex_inputs(Tape tape, object x, str where):
    """Record the inputs for one complex argument leaf: two entries per
    complex scalar, its real and imaginary part, interleaved.

    Returns the ComplexVar (number) or object array of ComplexVars (array)
    standing for x, and its number of real scalars (twice its size).
    """
    if isinstance(x, np.ndarray):
        reject_array_subclass(x, where)
        if x.dtype == object:
            # ComplexVars of an enclosing transform, or numbers
            items = [_complex_inputs(tape, item, where)[0] for item in x.reshape(-1)]
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(x.shape), 2 * len(items)
        arr = np.ascontiguousarray(x, dtype=np.complex128)
        pairs = tape.inputs_from_array(arr.view(np.float64).reshape(arr.shape + (2,)))
        out = np.empty(arr.size, dtype=object)
        flat_pairs = pairs.reshape(-1, 2)
        for k in range(arr.size):
            out[k] = make_complex(flat_pairs[k, 0], flat_pairs[k, 1])
        return out.reshape(arr.shape), 2 * arr.size
    w = as_complex_operand(x)
    if w is None:
        raise TypeError(f"{where}: expected a complex number, got {describe(x)}")
    return make_complex(_inputs(tape, w.re, where)[0], _inputs(tape, w.im, where)[0]), 2


cdef Var nested_input(Tape tape, Var outer):
    """A new input of tape standing for outer, a Var of an enclosing tape."""
    cdef Var v
    if stack_position(outer.tape) < 0:
        raise TapeError("a Var of a tape that is not recording was passed to a transform")
    v = tape.new_input(outer._value)
    if tape.captures is None:
        tape.captures = {}
        tape.captured_entries = {}
    tape.captures[v.index] = outer
    return v
