# Record once, replay many times: a Function holds the recordings of a
# traced function (one per branch pattern met) and re-evaluates value and
# derivatives at new inputs with the forward and reverse sweeps, without
# calling Python. Each call has its own value and adjoint buffers, so a
# Function can be used from any number of threads at once.

import os
import threading

# Branch patterns kept per Function; past this the least recently used
# recording is dropped (a function alternating between more branches than
# this re-traces, it is never wrong).
MAX_RECORDINGS = 8

# Rows x tape entries below which value_and_grad_batch(threads=None) stays on
# one thread (starting a thread costs about as much as 10^5 entries of sweep).
BATCH_THREAD_MIN_WORK = 200_000


@cython.final
cdef class Recording:
    """One branch of a traced function: its finished tape and its outputs."""

    cdef Tape tape
    cdef int64_t[::1] out_indices    # entry of each output, -1 for a constant
    cdef double[::1] out_values       # each output's recorded value
    cdef count_t n_inputs
    cdef index_t last_output          # largest entry index among the outputs

    @staticmethod
    cdef Recording create(Tape tape, object indices, object values, count_t n_inputs):
        cdef Recording r = Recording.__new__(Recording)
        if tape is None or tape.recording or not 0 <= n_inputs <= tape.data.n_entries:
            raise ValueError("fastad: a replayable recording needs a finished tape "
                             "whose first entries are the inputs")
        r.tape = tape
        r.out_indices = np.ascontiguousarray(indices, dtype=np.int64)
        r.out_values = np.ascontiguousarray(values, dtype=np.float64)
        r.n_inputs = n_inputs
        if r.out_values.shape[0] != r.out_indices.shape[0] or any(
                not -1 <= i < tape.data.n_entries for i in r.out_indices):
            raise ValueError("fastad: corrupt recording (outputs out of range)")
        r.last_output = <index_t>max(-1, max(r.out_indices)) if len(r.out_indices) else -1
        return r

    cdef count_t evaluate(self, const double* x, value_t* values) noexcept nogil:
        """Forward sweep at x into values; the first failing guard or -1."""
        forward_sweep(&self.tape.data.arr, x, self.n_inputs, self.tape.data.n_entries, values)
        return first_failing_guard(self.tape.data.guards, self.tape.data.n_guards, values,
                                   self.tape.data.arr.consts)

    def __reduce__(self):
        raise TypeError("a Recording is pickled with its Function")


cdef void batch_rows(Recording rec, const double* X, count_t first, count_t stop,
                     double* values_out, double* grads_out, uint8_t* failed,
                     value_t* values, value_t* adj) noexcept nogil:
    """Rows first .. stop-1 of a batch: value and gradient of the scalar output,
    or failed[row] = 1 where a guard comes out differently."""
    cdef count_t row, n_in = rec.n_inputs
    cdef index_t out = <index_t>rec.out_indices[0]
    cdef count_t n_copy = n_in if n_in < out + 1 else out + 1
    for row in range(first, stop):
        if rec.evaluate(X + row * n_in, values) >= 0:
            failed[row] = 1
            continue
        if out < 0:
            values_out[row] = rec.out_values[0]
            continue
        values_out[row] = values[out]
        memset(adj, 0, (out + 1) * sizeof(value_t))
        adj[out] = 1.0
        reverse_sweep(&rec.tape.data.arr, values, out, adj)
        memcpy(grads_out + row * n_in, adj, n_copy * sizeof(value_t))


# What a replay computes.
cdef enum:
    WANT_VALUE = 0
    WANT_GRAD = 1
    WANT_VJP = 2
    WANT_JACOBIAN = 3
    WANT_TANGENTS = 4      # forward mode: w is the (n_inputs x s) seed matrix
    WANT_SECOND = 5        # (gradient, H @ w) of a scalar output, w (n_inputs x s)


@cython.final
cdef class Function:
    """A recorded function, replayed in compiled code at new inputs.

    Made by ``fastad.trace``. Calls never run the Python function again,
    except to re-trace at an input where a comparison made while tracing
    (a branch guard) comes out differently (``retrace=True``); with
    ``retrace=False`` that raises ``BranchError`` instead.

    The input may be a number, an array or a list, tuple or dict of them
    (a network's parameters, say): every method takes and returns that
    structure. A function of a complex input (or with a complex output)
    works on the real and imaginary parts as two real inputs (outputs):
    gradients are ``d/dRe + 1j*d/dIm``, tangents and cotangents follow the
    real-pair convention of ``fastad.jvp`` and ``fastad.vjp``.

    Attributes
    ----------
    n_inputs : int
        Number of input scalars (6 for a (2, 3) input; a complex scalar
        counts once).
    n_outputs : int
        Number of output scalars.
    n_ops : int
        Length of the tape (entries), inputs included.
    nbytes : int
        Bytes of the recorded tape(s).
    """

    cdef list recordings          # most recently used first
    cdef Recording primary        # the one traced at x0
    cdef object recorder          # flat x -> Recording, or None (unpickled)
    cdef bint retrace
    cdef object in_tree           # the input's structure (a fastad._pytree.TreeDef)
    cdef bint single_in           # the input is one leaf: the compiled input paths apply
    cdef object in_shape          # that leaf's shape: None for a number
    cdef object out_shape
    cdef count_t n_in              # real inputs (two per complex input)
    cdef count_t n_out             # real outputs (two per complex output)
    cdef bint complex_in           # a single complex leaf: inputs are (Re, Im) pairs
    cdef bint complex_out          # outputs are (Re, Im) pairs
    cdef object lock

    def __init__(self, *args, **kwargs):
        raise TypeError("fastad.Function is made by fastad.trace(f, x0)")

    @staticmethod
    cdef Function create(Recording first, object recorder, bint retrace, object in_tree,
                         object out_shape, bint complex_out):
        cdef Function F = Function.__new__(Function)
        F.in_tree = in_tree
        F.single_in = in_tree.node is None
        F.complex_in = F.single_in and in_tree.kind in (
            "complex scalar", "complex array", "complex numbers")
        F.in_shape = (None if F.single_in and in_tree.shape == () and in_tree.kind != "array"
                      else tuple(in_tree.shape))
        F.complex_out = complex_out
        F.recordings = [first]
        F.primary = first
        F.recorder = recorder
        F.retrace = retrace
        F.out_shape = tuple(out_shape)
        F.n_in = first.n_inputs
        F.n_out = first.out_indices.shape[0]
        F.lock = threading.Lock()
        outputs = 2 if complex_out else 1
        for d in F.out_shape:
            outputs *= d  # Python ints: a size cannot wrap around
        if F.n_in != in_tree.n_real or F.n_out != outputs:
            raise ValueError("fastad: corrupt Function (the recording does not match the "
                             "input structure and output shape)")
        return F

    # ---- properties ---------------------------------------------------------------

    @property
    def n_inputs(self):
        """Number of input scalars (a complex one counts once)."""
        self.check_made()
        if self.single_in:
            return self.n_in // 2 if self.complex_in else self.n_in
        return sum(leaf.n_real // 2 if leaf.kind.startswith("complex") else leaf.n_real
                   for leaf in self.in_tree.leaves)

    @property
    def n_outputs(self):
        """Number of output scalars (a complex one counts once)."""
        self.check_made()
        return self.n_out // 2 if self.complex_out else self.n_out

    @property
    def n_ops(self):
        """Tape length (entries, inputs included) of the recording made at x0."""
        self.check_made()
        return self.primary.tape.data.n_entries

    @property
    def nbytes(self):
        """Bytes of the recorded tapes (every branch pattern kept)."""
        self.check_made()
        return sum(storage_nbytes(&(<Recording>r).tape.data) for r in self.recordings)

    def __repr__(self):
        if self.primary is None:
            return "<fastad.Function (not made by fastad.trace)>"
        return (f"<fastad.Function: {self.n_inputs} "
                f"{'complex ' if self.complex_in else ''}inputs, {self.n_outputs} "
                f"{'complex ' if self.complex_out else ''}outputs, "
                f"{self.n_ops} tape entries, {len(self.recordings)} branch pattern(s)>")

    # ---- input and output shapes -------------------------------------------------

    cdef cnp.ndarray flat_input(self, object x, str where, str name="x"):
        """x as a contiguous float64 vector of n_inputs; ValueError on a wrong shape."""
        cdef object arr
        cdef cnp.ndarray flat
        cdef double* dst
        cdef count_t k
        if type(x) is Var or type(x) is ComplexVar or (
                isinstance(x, np.ndarray) and x.dtype == object and any(
                    type(item) is Var or type(item) is ComplexVar for item in x.reshape(-1))):
            raise TypeError(
                f"{where}: a Function replays numbers, not fastad.Vars: inside a "
                f"transform call the Python function itself (its derivatives then "
                f"nest), or use F.grad_function() for a differentiable gradient")
        if not self.single_in:
            flat = self.in_tree.flat_array(x, f"{where}: {name}")
            if flat.shape[0] != self.n_in:
                raise ValueError(f"{where}: {name} does not have the traced structure")
            return flat
        if self.complex_in:
            return complex_pairs(x, () if self.in_shape is None else self.in_shape,
                                 where, name, "the function was traced with an input")
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == self.in_shape:
            return np.ascontiguousarray(x).reshape(-1)
        if (type(x) is list or type(x) is tuple) and len(x) == self.n_in and \
                self.in_shape is not None and len(self.in_shape) == 1:
            # A list of Python floats converts here in a C loop (NumPy's
            # generic sequence conversion is ~20x slower).
            flat = np.empty(self.n_in, dtype=np.float64)
            dst = <double*>cnp.PyArray_DATA(flat)
            for k in range(self.n_in):
                item = x[k]
                if type(item) is float:
                    dst[k] = PyFloat_AS_DOUBLE(item)
                else:
                    dst[k] = as_real_number(item, where)
            return flat
        if isinstance(x, (np.ndarray, list, tuple)):
            arr = as_float_array(x, where)
        else:
            arr = np.asarray(as_real_number(x, where), dtype=np.float64)
        expected = () if self.in_shape is None else self.in_shape
        if arr.shape != expected:
            raise ValueError(
                f"{where}: {name} has shape {arr.shape}, but the function was traced "
                f"with an input of shape {expected}")
        return np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)

    cdef object shaped_like_input(self, cnp.ndarray flat, object x=None):
        """flat shaped like the input: a float, an array, a list/tuple when
        x (the caller's input) is one, or the traced structure."""
        if not self.single_in:
            return self.in_tree.split(flat)
        if self.complex_in:
            flat = np.ascontiguousarray(flat).view(np.complex128)
            if self.in_shape is None:
                return complex(flat[0])
        if self.in_shape is None:
            return float(flat[0])
        if type(x) is list:
            return flat.reshape(self.in_shape).tolist()
        if type(x) is tuple:
            return tuple(flat.reshape(self.in_shape).tolist())
        return flat.reshape(self.in_shape)

    cdef object shaped_like_output(self, cnp.ndarray flat):
        if self.complex_out:
            flat = np.ascontiguousarray(flat).view(np.complex128)
            if self.out_shape == ():
                return complex(flat[0])
        if self.out_shape == ():
            return float(flat[0])
        return flat.reshape(self.out_shape)

    cdef int check_scalar_output(self, str where) except -1:
        self.check_made()
        if self.complex_out:
            raise TypeError(
                f"{where}: the function's output is complex; a gradient needs a real "
                f"scalar output (use F.jacobian(x, holomorphic=True), F.jvp or F.vjp)")
        if self.out_shape != ():
            raise TypeError(
                f"{where}: the function's output has shape {self.out_shape}, not a "
                f"scalar; use F.jacobian or F.vjp")
        return 0

    # ---- choosing the recording for an input ------------------------------------

    cdef Recording recording_for(self, cnp.ndarray x, value_t** values_out, str where):
        """A recording whose guards all hold at x, with its values at x.

        Tries the recordings kept (most recent first) and the primary, then
        re-traces. The caller frees *values_out.
        """
        cdef const double* px = <const double*>cnp.PyArray_DATA(x)
        cdef Recording rec
        cdef value_t* values
        cdef count_t failing = -1
        cdef PyThreadState* saved
        candidates = list(self.recordings)
        if self.primary not in candidates:
            candidates.append(self.primary)  # evicted from the kept ones, never freed
        for candidate in candidates:
            rec = <Recording>candidate
            values = take_buffer(rec.tape.data.n_entries, False)
            saved = release_gil_above(rec.tape.data.n_entries)
            failing = rec.evaluate(px, values)
            restore_gil(saved)
            if failing < 0:
                if rec is not self.recordings[0]:
                    with self.lock:
                        if rec in self.recordings:
                            self.recordings.remove(rec)
                        self.recordings.insert(0, rec)
                        del self.recordings[MAX_RECORDINGS:]
                values_out[0] = values
                return rec
            release_buffer(values)
        if not self.retrace or self.recorder is None:
            reason = ("it was traced with retrace=False" if self.recorder is not None
                      else "it was unpickled and has no Python function to re-trace")
            raise BranchError(
                f"{where}: at this x a comparison made while tracing (branch guard "
                f"{failing}) comes out differently, so the recorded tape does not "
                f"apply; the Function cannot re-trace because {reason}")
        tried = set(candidates)
        rec = self.recorder(x.copy())  # the point as its flat real scalars
        if rec.n_inputs != self.n_in or rec.out_indices.shape[0] != self.n_out:
            raise ValueError(f"{where}: re-tracing gave a different number of outputs")
        with self.lock:
            # Another thread may have re-traced this pattern meanwhile: one
            # recording per pattern, else duplicates evict the other patterns.
            for candidate in self.recordings:
                if candidate in tried:
                    continue
                values = take_buffer((<Recording>candidate).tape.data.n_entries, False)
                if (<Recording>candidate).evaluate(px, values) < 0:
                    self.recordings.remove(candidate)
                    self.recordings.insert(0, candidate)
                    values_out[0] = values
                    return <Recording>candidate
                release_buffer(values)
            self.recordings.insert(0, rec)
            del self.recordings[MAX_RECORDINGS:]
        values = take_buffer(rec.tape.data.n_entries, False)
        rec.evaluate(px, values)
        values_out[0] = values
        return rec

    cdef int check_made(self) except -1:
        # Function.__new__ bypasses __init__: such an object has no recording.
        if self.primary is None:
            raise TypeError("this fastad.Function was not made by fastad.trace")
        return 0

    cdef object replay(self, object x, int want, object w, str where):
        """Value, gradient, cotangent or Jacobian at x (see WANT_*).

        Returns the output values (a float64 vector) for WANT_VALUE, else
        (output values, result) with the result a vector over the inputs
        (WANT_GRAD, WANT_VJP: w is the flat cotangent), an (outputs x
        inputs) matrix (WANT_JACOBIAN), output tangents (WANT_TANGENTS) or
        (gradient, Hessian products) (WANT_SECOND).
        """
        cdef cnp.ndarray flat, out_values
        cdef cnp.ndarray seeds
        cdef value_t* values = NULL
        cdef Recording rec
        cdef const TapeArrays* arr
        cdef count_t k
        cdef index_t index
        cdef int64_t last
        cdef double one = 1.0
        self.check_made()
        flat = self.flat_input(x, where)
        rec = self.recording_for(flat, &values, where)
        arr = &rec.tape.data.arr
        try:
            out_values = np.empty(self.n_out, dtype=np.float64)
            for k in range(self.n_out):
                index = <index_t>rec.out_indices[k]
                out_values[k] = values[index] if index >= 0 else rec.out_values[k]
            if want == WANT_VALUE:
                return out_values
            if want == WANT_SECOND:
                return out_values, second_order_at(arr, values, rec.last_output, self.n_in, w)
            if want == WANT_TANGENTS:
                return out_values, tangents_at(arr, values, rec.tape.data.n_entries,
                                               rec.out_indices, w, self.n_in)
            if self.n_out == 0:
                return out_values, (np.zeros((0, self.n_in)) if want == WANT_JACOBIAN
                                    else np.zeros(self.n_in))
            if want == WANT_JACOBIAN:
                return out_values, jacobian_at(arr, values, &rec.out_indices[0], self.n_out,
                                               self.n_in)
            if want == WANT_GRAD:
                last = rec.last_output  # the single output
                return out_values, vjp_at(arr, values, &last, &one, 1, self.n_in)
            seeds = np.ascontiguousarray(w, dtype=np.float64)
            return out_values, vjp_at(arr, values, &rec.out_indices[0],
                                      <const double*>cnp.PyArray_DATA(seeds), self.n_out,
                                      self.n_in)
        finally:
            release_buffer(values)

    # ---- the public calls ---------------------------------------------------------

    def __call__(self, x):
        """The function's value at x: a float, or an array for an array output."""
        return self.shaped_like_output(self.replay(x, WANT_VALUE, None, "Function"))

    def value_and_grad(self, x):
        """``(value, gradient)`` of a scalar output at x; the gradient is shaped
        like x (a list for a list).

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the input f was traced at.

        Returns
        -------
        value : float
        gradient : float, numpy.ndarray or the traced structure
        """
        self.check_scalar_output("Function.value_and_grad")
        out, g = self.replay(x, WANT_GRAD, None, "Function.value_and_grad")
        return float(out[0]), self.shaped_like_input(g, x)

    def grad(self, x):
        """Gradient of a scalar output at x, shaped like x.

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the input f was traced at.

        Returns
        -------
        float, numpy.ndarray or the traced structure
        """
        self.check_scalar_output("Function.grad")
        return self.shaped_like_input(self.replay(x, WANT_GRAD, None, "Function.grad")[1], x)

    def vjp(self, x, w):
        """``(value, w^T J)``: the value at x and the cotangent w pulled back.

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the traced input.
        w : float or array_like
            A cotangent shaped like the output.

        Returns
        -------
        value : float or numpy.ndarray
        cotangent : float, numpy.ndarray or the traced structure
            Shaped like x.
        """
        self.check_made()
        if self.complex_out:
            seeds = complex_pairs(w, self.out_shape, "Function.vjp", "w", "the output has")
        else:
            seeds = np.asarray(w) if not isinstance(w, np.ndarray) else w
            if seeds.dtype.kind == "c":
                raise TypeError("Function.vjp: the output is real, but w is complex")
            if seeds.dtype.kind not in "biuf":
                raise TypeError(f"Function.vjp: w must be numbers, got {describe(seeds)}")
            if seeds.shape != self.out_shape:
                raise ValueError(
                    f"Function.vjp: w has shape {seeds.shape}, but the output has shape "
                    f"{self.out_shape}")
            seeds = np.ascontiguousarray(seeds, dtype=np.float64).reshape(-1)
        out, g = self.replay(x, WANT_VJP, seeds, "Function.vjp")
        return self.shaped_like_output(out), self.shaped_like_input(g, x)

    def jacobian(self, x, *, mode="auto", holomorphic=False):
        """Jacobian at x, of shape ``out.shape + x.shape``.

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the traced input.
        mode : {"auto", "reverse", "forward"}, optional
            "reverse" (one reverse sweep per output), "forward" (tangent
            sweeps, 32 input directions at a time) or "auto" (forward when
            there are no more inputs than outputs).
        holomorphic : bool, optional
            The complex Jacobian df/dz of a holomorphic f of a complex
            input, as ``fastad.jacobian``.

        Returns
        -------
        numpy.ndarray or the traced structure
            (A NumPy scalar when the shape is (); for a structured input,
            the structure with a block ``out.shape + leaf.shape`` per leaf.)
        """
        if mode not in ("auto", "reverse", "forward"):
            raise ValueError(f"Function.jacobian: mode must be 'auto', 'reverse' or "
                             f"'forward', got {mode!r}")
        if not isinstance(holomorphic, (bool, np.bool_)):
            raise TypeError(f"Function.jacobian: holomorphic must be True or False, got "
                            f"{holomorphic!r}")
        self.check_made()
        has_complex_in = self.in_tree.has_complex
        if has_complex_in and self.complex_out and not holomorphic:
            raise TypeError(
                "Function.jacobian: the function is complex-valued at a complex input; "
                "pass holomorphic=True for the complex Jacobian of a holomorphic f")
        if holomorphic and has_complex_in and not self.complex_out:
            raise TypeError(
                "Function.jacobian: holomorphic=True, but the function is real-valued at "
                "a complex input; a real-valued function is not holomorphic. Use "
                "holomorphic=False for its rows d/dRe + 1j d/dIm")
        if holomorphic and not has_complex_in:
            raise TypeError(
                "Function.jacobian: holomorphic=True needs complex arguments (as in JAX), "
                "but the function was traced at a real one; F.jacobian(x) without it "
                "gives dRe f/dx + 1j dIm f/dx for a complex output")
        if mode == "forward" or (mode == "auto" and self.n_in <= self.n_out):
            _, rows = self.replay(x, WANT_TANGENTS, np.eye(self.n_in), "Function.jacobian")
        else:
            _, rows = self.replay(x, WANT_JACOBIAN, None, "Function.jacobian")
        if self.complex_out:
            rows = complex_from_parts(rows[0::2], rows[1::2])
        if not self.single_in:
            return self.in_tree.split(rows.reshape(self.out_shape + (self.n_in,)),
                                      self.out_shape, bool(holomorphic))
        if self.complex_in:
            rows = rows[:, 0::2] if holomorphic else complex_from_parts(rows[:, 0::2],
                                                                       rows[:, 1::2])
        jac = rows.reshape(self.out_shape + (() if self.in_shape is None else self.in_shape))
        return jac[()] if jac.shape == () else jac

    def value_and_grad_batch(self, X, *, threads=None):
        """Values and gradients of a scalar output at many points, in parallel.

        Parameters
        ----------
        X : array_like, or the traced structure with a leading axis
            Points stacked along a first axis: shape ``(k,) + x.shape``;
            for a structured input, the same structure with a leading axis
            of length k on every leaf (as ``jax.vmap``).
        threads : int, optional
            Threads to use (default: all cores). The sweeps run without the
            GIL.

        Returns
        -------
        values : numpy.ndarray
            Shape (k,).
        grads : numpy.ndarray or the traced structure
            Shaped like X.
        """
        cdef object points
        cdef count_t k
        self.check_made()
        self.check_scalar_output("Function.value_and_grad_batch")
        if (threads is not None and (not isinstance(threads, (int, np.integer))
                                     or isinstance(threads, (bool, np.bool_)) or threads < 1)):
            raise ValueError(f"Function.value_and_grad_batch: threads must be a "
                             f"positive int, got {threads!r}")
        if not self.single_in:
            k = batch_length(self.in_tree, X)
            flat = self.in_tree.flat_array(X, "Function.value_and_grad_batch: X", batch=k)
        else:
            if self.complex_in:
                reject_array_subclass(X, "Function.value_and_grad_batch")
                points = np.asarray(X)
                if points.dtype.kind not in "biufc":
                    raise TypeError(f"Function.value_and_grad_batch: expected numbers, got "
                                    f"{describe(points)}")
                points = np.asarray(points, dtype=np.complex128)
            else:
                points = as_float_array(X, "Function.value_and_grad_batch")
            row_shape = () if self.in_shape is None else tuple(self.in_shape)
            if points.ndim < 1 or points.shape[1:] != row_shape:
                raise ValueError(
                    f"Function.value_and_grad_batch: X has shape {points.shape}, expected "
                    f"(k,) + {row_shape}")
            k = points.shape[0]
            if self.complex_in:
                flat = np.ascontiguousarray(points).reshape(-1).view(np.float64).reshape(
                    k, self.n_in)
            else:
                flat = np.ascontiguousarray(points, dtype=np.float64).reshape(k, self.n_in)
        if threads is None:
            # The cores this process may use; small batches stay on one
            # thread, where starting threads would cost more than it saves.
            try:
                threads = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                threads = os.cpu_count() or 1
            if k * (<Recording>self.recordings[0]).tape.data.n_entries < BATCH_THREAD_MIN_WORK:
                threads = 1
        values = np.empty(k, dtype=np.float64)
        grads = np.zeros((k, self.n_in), dtype=np.float64)
        failed = np.zeros(k, dtype=np.uint8)
        self.batch_on_threads(self.recordings[0], flat, values, grads, failed, int(threads))
        # Rows on another branch than the first recording: the other kept
        # recordings take them as sub-batches (still without the GIL), and
        # what is left goes one row at a time through a re-trace.
        for other in list(self.recordings)[1:]:
            rows = np.flatnonzero(failed)
            if rows.size == 0:
                break
            sub = np.ascontiguousarray(flat[rows])
            sub_values = np.empty(rows.size, dtype=np.float64)
            sub_grads = np.zeros((rows.size, self.n_in), dtype=np.float64)
            sub_failed = np.zeros(rows.size, dtype=np.uint8)
            self.batch_chunk(other, sub, 0, rows.size, sub_values, sub_grads, sub_failed)
            done = sub_failed == 0
            values[rows[done]] = sub_values[done]
            grads[rows[done]] = sub_grads[done]
            failed[rows[done]] = 0
        for row in np.flatnonzero(failed):
            v, g = self.replay(self.shaped_like_input(flat[row].copy()), WANT_GRAD, None,
                               "Function.value_and_grad_batch")
            values[row] = v[0]
            grads[row] = g
        if not self.single_in:
            return values, self.in_tree.split(grads, (k,))
        if self.complex_in:
            return values, grads.reshape(-1).view(np.complex128).reshape(points.shape)
        return values, grads.reshape(points.shape)

    cdef int batch_on_threads(self, Recording rec, cnp.ndarray flat, cnp.ndarray values,
                              cnp.ndarray grads, cnp.ndarray failed, int threads) except -1:
        """All rows of a batch on rec, split over up to `threads` threads.

        A worker's error (a MemoryError for its buffers, say) reaches the
        caller after every worker has stopped: nothing is returned
        half-computed.
        """
        cdef count_t k = flat.shape[0]
        cdef int n_threads = max(1, min(threads, k))
        if n_threads == 1:
            self.batch_chunk(rec, flat, 0, k, values, grads, failed)
            return 0
        bounds = [k * j // n_threads for j in range(n_threads + 1)]
        errors = []

        def work(first, stop):
            try:
                self._batch_chunk(rec, flat, first, stop, values, grads, failed)
            except BaseException as error:  # reported to the caller below
                errors.append(error)

        workers = [threading.Thread(target=work, args=(bounds[j], bounds[j + 1]))
                   for j in range(n_threads)]
        started = []
        try:
            for t in workers:
                t.start()
                started.append(t)
        finally:
            for t in started:
                t.join()
        if errors:
            raise errors[0]
        return 0

    def _recording(self, count_t k=0):
        """Test hook: the k-th kept recording (most recently used first)."""
        return self.recordings[k]

    def _batch_chunk(self, Recording rec, cnp.ndarray X, count_t first, count_t stop,
                     cnp.ndarray values, cnp.ndarray grads, cnp.ndarray failed):
        """Rows first .. stop-1 of a batch, without the GIL (one thread's share)."""
        if (rec is None or rec.tape is None or not 0 <= first <= stop
                or X.ndim != 2 or grads.ndim != 2 or values.ndim != 1 or failed.ndim != 1
                or X.dtype != np.float64 or grads.dtype != np.float64
                or values.dtype != np.float64 or failed.dtype != np.uint8
                or not (X.flags.c_contiguous and grads.flags.c_contiguous
                        and values.flags.c_contiguous and failed.flags.c_contiguous)
                or stop > X.shape[0] or X.shape[1] != rec.n_inputs
                or grads.shape[0] != X.shape[0] or grads.shape[1] != rec.n_inputs
                or values.shape[0] < stop or failed.shape[0] < stop
                or rec.out_indices.shape[0] != 1):
            raise ValueError("Function._batch_chunk: inconsistent arguments")
        self.batch_chunk(rec, X, first, stop, values, grads, failed)

    cdef int batch_chunk(self, Recording rec, cnp.ndarray X, count_t first, count_t stop,
                         cnp.ndarray values, cnp.ndarray grads, cnp.ndarray failed) except -1:
        cdef value_t* vals = take_buffer(rec.tape.data.n_entries, False)
        cdef value_t* adj = NULL
        try:
            adj = take_buffer(rec.last_output + 1, False)
            with nogil:
                batch_rows(rec, <const double*>cnp.PyArray_DATA(X), first, stop,
                           <double*>cnp.PyArray_DATA(values), <double*>cnp.PyArray_DATA(grads),
                           <uint8_t*>cnp.PyArray_DATA(failed), vals, adj)
        finally:
            release_buffer(vals)
            release_buffer(adj)
        return 0

    # ---- forward mode and second order -------------------------------------------

    def hvp(self, x, v):
        """Hessian of the scalar output at x times v, shaped like x.

        One tangent sweep and one forward-over-reverse sweep over the tape.

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the traced input.
        v : float, array_like, or the traced structure
            A direction shaped like x.

        Returns
        -------
        float, numpy.ndarray or the traced structure
        """
        self.check_scalar_output("Function.hvp")
        seeds = self.flat_input(v, "Function.hvp", "the direction v").reshape(self.n_in, 1)
        _, (_, products) = self.replay(x, WANT_SECOND, seeds, "Function.hvp")
        return self.shaped_like_input(products[:, 0].copy(), x)

    def hessian(self, x):
        """Hessian of the scalar output at x, of shape ``x.shape + x.shape``.

        Sweeps 32 directions at a time (vector forward-over-reverse).

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the traced input.

        Returns
        -------
        float, numpy.ndarray, or for a structured input the blocks
        ``H[i][j]`` of shape ``x_i.shape + x_j.shape`` in that structure.
        """
        self.check_scalar_output("Function.hessian")
        if self.in_tree.has_complex:
            raise TypeError(
                "Function.hessian: the input is complex; a real-valued f of a complex "
                "input has no complex Hessian (its gradient is not holomorphic); use "
                "F.hvp (real-pair convention)")
        _, (_, products) = self.replay(x, WANT_SECOND, np.eye(self.n_in), "Function.hessian")
        if not self.single_in:
            return hessian_blocks(self.in_tree, products)
        if self.in_shape is None:
            return float(products[0, 0])
        return products.reshape(tuple(self.in_shape) + tuple(self.in_shape))

    def jvp(self, x, v):
        """``(value, J v)``: the value at x and the tangent v pushed forward.

        Parameters
        ----------
        x : float, array_like, or the traced structure
            A point shaped like the traced input.
        v : float, array_like, or the traced structure
            A tangent shaped like x.

        Returns
        -------
        value, tangent : float or numpy.ndarray
            Both shaped like the output.
        """
        seeds = self.flat_input(v, "Function.jvp", "the tangent v").reshape(self.n_in, 1)
        out, tangents = self.replay(x, WANT_TANGENTS, seeds, "Function.jvp")
        return self.shaped_like_output(out), self.shaped_like_output(tangents[:, 0].copy())

    def grad_function(self):
        """A Function computing x -> the gradient of this (scalar) Function.

        The reverse sweep is written out as tape entries after the forward
        ones, so the result is an ordinary recording: replay it, take its
        ``jacobian`` (the Hessian) or its ``jvp``, or, for a scalar input,
        its ``grad_function()`` again (derivatives of any order). It
        re-traces like this Function does.

        Returns
        -------
        Function
            Inputs shaped like x, outputs: the gradient as a flat array
            over the input scalars (shaped like x for a single array).
        """
        cdef Function G
        self.check_made()
        self.check_scalar_output("Function.grad_function")
        # the gradient over the input scalars: shaped like x for a single
        # array, flat for a structure
        if not self.single_in:
            out_shape = (self.n_in,)
        else:
            out_shape = () if self.in_shape is None else tuple(self.in_shape)
        G = Function.create(gradient_recording(self.primary), None, self.retrace,
                            self.in_tree, out_shape, self.complex_in)
        # G keeps the patterns F keeps (the primary aside when F evicted it).
        with self.lock:
            kept = list(self.recordings)
        G.recordings = [G.primary if r is self.primary else gradient_recording(r)
                        for r in kept]
        if self.recorder is not None:
            primal_recorder = self.recorder
            G.recorder = lambda x: gradient_recording(primal_recorder(x))
        return G

    # ---- copying and pickling -----------------------------------------------------

    def __copy__(self):
        return self  # read-only

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        # The tapes, not f: an unpickled Function replays but cannot re-trace.
        # The state is the format of _format.pxi.
        self.check_made()
        with self.lock:
            kept = list(self.recordings)
        # The primary first (a loaded Function's grad_function and shapes come
        # from it), then the kept ones, most recently used first: one more
        # than MAX_RECORDINGS when the primary had been evicted.
        recordings = [self.primary] + [r for r in kept if r is not self.primary]
        return (_load_function, ({
            "format": FORMAT_VERSION,
            "retrace": bool(self.retrace),
            "input": self.in_tree,
            "output_shape": tuple(self.out_shape),
            "complex_output": bool(self.complex_out),
            "recordings": [recording_state(r) for r in recordings],
        },))


def _load_function(state):
    """Rebuild a pickled Function (without its Python function), checking
    that the parts fit together so that no replay can read out of bounds."""
    cdef Function F
    if not isinstance(state, dict) or "format" not in state:
        raise ValueError("fastad: corrupt Function pickle (no format number)")
    if type(state["format"]) is not int:
        raise ValueError(f"fastad: corrupt Function pickle (format {state['format']!r})")
    if state["format"] not in (1, FORMAT_VERSION):
        raise ValueError(f"fastad: the pickle holds a Function of format {state['format']!r}; "
                         f"this fastad reads format {FORMAT_VERSION} (and format 1)")
    try:
        retrace, tree, out_shape = state["retrace"], state["input"], state["output_shape"]
        complex_out, states = state["complex_output"], state["recordings"]
    except KeyError as missing:
        raise ValueError(f"fastad: corrupt Function pickle (no {missing})") from None
    if (not isinstance(retrace, bool) or not isinstance(complex_out, bool)
            or not isinstance(out_shape, tuple)
            or not all(type(d) is int and 0 <= d < 2 ** 31 for d in out_shape)
            or not isinstance(states, list) or not states
            or len(states) > MAX_RECORDINGS + 1):
        raise ValueError("fastad: corrupt Function pickle (its fields)")
    from fastad._pytree import checked
    try:
        tree = checked(tree)
    except ValueError as error:
        raise ValueError(f"fastad: corrupt Function pickle (its input structure: "
                         f"{error})") from None
    recordings = [recording_from_state(s) for s in states]
    F = Function.create(recordings[0], None, retrace, tree, out_shape, complex_out)
    for r in recordings:
        if (<Recording>r).n_inputs != F.n_in or (<Recording>r).out_indices.shape[0] != F.n_out:
            raise ValueError("fastad: corrupt Function pickle (recordings)")
    # One more than MAX_RECORDINGS: the primary had been evicted, the rest kept.
    F.recordings = recordings if len(recordings) <= MAX_RECORDINGS else recordings[1:]
    return F


def _make_function(Tape tape, indices, values, count_t n_inputs, recorder, bint retrace,
                   in_tree, out_shape, bint complex_out=False):
    """A Function for a finished tape (used by fastad.trace)."""
    return Function.create(Recording.create(tape, indices, values, n_inputs), recorder,
                           retrace, in_tree, out_shape, complex_out)


def _make_recording(Tape tape, indices, values, count_t n_inputs):
    """A Recording for a finished tape (used when re-tracing)."""
    return Recording.create(tape, indices, values, n_inputs)


cdef count_t batch_length(object tree, object X) except -1:
    """k, the leading axis of every leaf of a structured batch X."""
    leaves = tree.leaves_of(X, "Function.value_and_grad_batch: X")
    if not leaves or np.ndim(leaves[0]) < 1:
        raise ValueError("Function.value_and_grad_batch: every leaf of X needs a leading "
                         "axis (the points)")
    return np.shape(leaves[0])[0]


cdef object hessian_blocks(object tree, cnp.ndarray H):
    """A Hessian over a structured input as the blocks H[i][j] of shape
    x_i.shape + x_j.shape, in the input's structure twice."""
    return tree.blocks(lambda offset, n, leaf: tree.split(
        H[offset:offset + n].reshape(leaf.shape + (H.shape[1],)), leaf.shape))


cdef cnp.ndarray complex_from_parts(cnp.ndarray re, cnp.ndarray im):
    """re + 1j*im elementwise, assigned part by part (re + 1j * im would turn
    an infinite imaginary part into a nan real part). Object arrays (nested
    results) give ComplexVars where a part is a Var."""
    cdef cnp.ndarray out
    if re.dtype == object or im.dtype == object:
        return np.asarray(np.frompyfunc(_make_complex, 2, 1)(re, im), dtype=object)
    out = np.empty(np.broadcast_shapes(np.shape(re), np.shape(im)), dtype=np.complex128)
    out.real = re
    out.imag = im
    return out


def _complex_from_parts(re, im):
    """re + 1j*im elementwise, as the transforms pack (Re, Im) pairs."""
    return complex_from_parts(np.asarray(re), np.asarray(im))


cdef cnp.ndarray complex_pairs(object x, object shape, str where, str name, str traced):
    """Complex (or real) x of the given shape as a flat float64 vector of
    (Re, Im) pairs; ValueError on a wrong shape."""
    reject_array_subclass(x, where)
    arr = np.asarray(x)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{where}: {name} must be numbers, got {describe(arr)}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{where}: {name} has shape {arr.shape}, but {traced} of shape "
                         f"{tuple(shape)}")
    return np.ascontiguousarray(arr, dtype=np.complex128).reshape(-1).view(np.float64)

