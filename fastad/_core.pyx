# cython: language_level=3
"""The compiled core of fastad: tape, Var proxy, operation table, sweeps.

Design
======

Entry layout
    A tape is a structure of arrays, one entry per elementary operation:
    ``ops`` (uint8 opcode), ``arg0`` and ``arg1`` (int32 operand indices) and
    ``values`` (float64): 17 bytes an entry. Constant operands live in a
    separate pool of float64 and the entry names them by pool index, so
    only entries that use a constant pay its 8 bytes. An array of structs
    would pad the opcode to 24 bytes; storing local partials at record time
    (ReverseDiff.jl) would add 16 bytes to every binary entry and replay
    must recompute them anyway, so the sweeps recompute partials from the
    stored values. The reverse sweep adds one float64 adjoint per entry.
    Indices are 32-bit: a tape holds at most 2**31 - 1 entries and says so
    when full. Arrays grow by doubling; every allocation is checked.

Rule table (_rules.py, rendered by _codegen.py)
    Every elementary operation is one row: its value as a C expression,
    its first and second partials and its emitted derivative in a small
    expression language, its public function, the methods NumPy calls, its
    complex rule. The build translates each rule twice, into inline C for
    the numeric sweeps and into tape entries for the emitted derivative,
    and renders the opcode enum, the dispatch functions, the flags, the
    public functions and the stubs from the same rows, so a rule is written
    once and a missing column stops the build (rejected: a hand-kept enum
    with parallel tables that end in a silent default). The opcodes are
    CppAD's scheme: the input entry, the unary operations, then each
    binary operation as three consecutive opcodes by operand kind,
    variable-variable, variable-constant and constant-variable (reflected
    operators such as ``2 - x`` or ``2 ** x`` get their own opcode instead
    of extra entries). The dispatchers are inlined with constant opcodes
    into the recording path and the hot cases of the sweeps, where they
    fold to the one expression of the rule.

Recording
    ``Var`` is a final ``cdef class`` outside the cyclic garbage collector
    (it references only its tape, which references no Var) with a
    freelist. An operator checks the other operand's type (Var, exact
    float, exact int first), checks that the tape is recording in this
    thread, computes the value with the forward rule, pushes one entry and
    returns one new Var. Anything else (subclasses, NumPy scalars, arrays)
    goes to a slow path.

Per-thread tape stack
    Each thread has a stack of recording tapes (``threading.local``, weak
    references). A tape records in the thread that opened it; a Var of a
    finished tape, of another thread's tape or of an unrelated tape
    raises ``TapeError``.

Walking the tape (_sweep.pxi)
    Every walker (the sweeps, the emitted sweeps, the splice) reads an
    entry's operands through one decoder (``decode``: rule, operand kind,
    each operand as an entry or a constant), compares through one function
    (``compare_values``) and releases the GIL through one helper
    (``release_gil_above``). Zero factors are structural everywhere: a zero
    adjoint sends nothing back, and a partial that is exactly 0 contributes
    nothing to an adjoint or a tangent lane, also next to an infinite one,
    so reverse and forward mode agree there; an infinite adjoint takes a
    slower path that checks its partials (one well-predicted test per entry
    keeps it off the common path).

Nesting (_emit.pxi)
    A transform inside a transform records on its own tape; a Var of an
    enclosing tape that meets an inner Var is captured as an inner entry
    (an input held fixed there, so derivatives of the two levels never
    mix). The finished inner tape is then spliced onto the enclosing tape
    (every inner entry becomes an outer entry, captured entries become the
    outer Vars) and the inner derivative is emitted there as ordinary
    entries, so the result is differentiable again, to any depth. The same
    emission, onto a copy of a recording, gives ``Function.grad_function``.
    The emitted form of each derivative rule sits in _emit.pxi; tests
    check it against the numeric rule for every opcode.

NumPy dispatch
    ``Var`` sets ``__array_priority__`` and no ``__array_ufunc__``, so a
    NumPy scalar or array on the left of an operator returns
    NotImplemented and Python calls the Var's reflected method: ``W[i, j]
    * x[j]`` takes the float-constant path (np.float64 is a float
    subclass), at ~200 ns against ~35 ns for ``2.0 * x`` on Python 3.11,
    most of it NumPy's deferral check. The alternatives, measured in
    benchmarks/RESULTS.md: an ``__array_ufunc__`` method routes that
    product through the ufunc machinery (~310 ns); ``__array_ufunc__ =
    None`` defers in ~60 ns but makes ``np.sin(v)`` raise. ufuncs applied
    to Vars or object arrays use NumPy's object loops, which call the
    Var's methods (``v.sin()``), its operators and ``math.floor``
    (``__floor__``); ``fastad.sin`` and friends are the fast route.

GIL policy
    Recording holds the GIL (it makes Python objects). The sweeps are
    ``noexcept nogil`` C loops over raw pointers and release the GIL for
    tapes longer than NOGIL_MIN_ENTRIES, where that pays for itself.

Complex values (_complex.pxi)
    A complex value is a ComplexVar holding two parts, each a Var or a
    float constant. Each complex operation is written out as real
    operations on the parts when it is recorded (a product: four products
    and two sums; exp: exp, cos, sin and two products), so the entry
    layout, the opcode table and every sweep stay real, and forward
    mode, replay, second order and nesting work on complex code
    unchanged. A complex input is two input entries, Re and Im
    interleaved (complex128's memory layout), which is the real-pair
    convention of the transforms: gradients pack as d/dRe + 1j d/dIm, and
    holomorphic=True reads f'(z) off the derivative along the real axis.
    Rejected: complex opcodes (a second set of rules, sweeps and emitted
    derivatives for the same mathematics) and complex adjoints (twice the
    memory of every real tape). Constant parts stay floats, so a real Var
    times a complex constant records two products; the price is that
    x * 0.0 is taken as exactly 0 (inf * 0 does not become nan there).

Replay (_replay.pxi)
    ``trace`` records f once; a ``Function`` re-evaluates the finished tape
    at new inputs with a forward sweep using the same inlined rules (the
    build uses -ffp-contract=off, so a replayed value equals the recorded
    one bit for bit), then runs the reverse sweep over those values. The
    tape is read-only from then on; every call takes its own value and
    adjoint buffers from a small pool, so any number of threads can call
    one Function, and ``value_and_grad_batch`` splits rows over plain
    Python threads whose sweeps run without the GIL (no OpenMP needed).

Forward and second order (_sweep.pxi)
    The tangent sweep carries up to 32 directions (lanes) per pass over
    the tape, computing each entry's partials once. Hessian-vector
    products differentiate the reverse sweep along those lanes
    (forward-over-reverse), with a second-derivative rule per operation
    (``unary_second``, ``binary_second`` in _ops.pxi): one tangent and one
    reverse pass, no second recording.

Pickling (_format.pxi)
    A Function pickles as a dict whose first field is a format number,
    and each tape as explicit little-endian fields (no struct is written
    raw, so no padding byte reaches the pickle and identical recordings
    pickle to identical bytes). Loading checks every count, index,
    opcode and guard before anything is swept.

Argument structures (_pytree.py)
    A differentiated argument is flattened once into leaves and a TreeDef
    that rebuilds any result in its structure (gradients, Jacobian
    blocks, Hessian blocks, batches). Lists of numbers are one leaf, so
    the common ``grad(f)(list)`` call needs no walk.

Arrays (_array.pxi, _array_numpy.pxi)
    A ``fastad.Array`` is a tape and an int32 NumPy array of element codes
    (an entry index >= 0, or -1 - k for constant k of the pool). Whatever
    only moves elements (views, slices, reshapes, transposes, broadcasts,
    gathers, concatenation, assignment) is the NumPy operation on the codes
    and records nothing; an elementwise operation records one ordinary
    entry per element in one C loop: the operand values gathered into the
    new entries' value slots, then one loop per opcode generated from the
    rule table (``unary_values``/``binary_values`` in _ops.pxi), so the
    compiler sees the rule's expression alone and no dispatch per element.
    Every sweep, replay, guard, pickle and nesting path handles these
    entries unchanged. Comparisons are entries too (the rows ``less`` ...
    ``not_equal``, valued 1.0 or 0.0), which a ``Mask`` holds; ``where``
    is ``select(m, a) + select_else(m, b)``, whose unselected side is -0.0
    (x + -0.0 is x for every x, -0.0 and nan included), so masks are
    evaluated again at each replay and become guards only when their
    booleans reach Python.
    Chosen over range entries (one entry standing for a whole block, run as
    a vector loop by every sweep) because it needs no sweep, format or
    nesting change; measured on Rosenbrock at n = 10**4 (paired medians,
    f = 23 us) before runs: record 178 us (2 ns an element-operation),
    reverse sweep 143 us (1.6 ns an entry), record + gradient 16x f,
    replay 11x, 17 bytes an element-operation; a hand-written NumPy
    value + gradient, the bound range entries could approach, is 3.3x f
    (2x with care).
    Runs (``Run``, _tape.pxi) take most of the range entries' speed
    without their cost to the other walkers: the entries of one
    elementwise operation are marked as a run, and the forward and reverse
    sweeps run a run as one loop of its rule (operands gathered a chunk at
    a time into the recording's own ``binary_values`` loops forward;
    generated per-opcode loops backward, in the entry-by-entry order, so
    the results are bit for bit the same); every other walker (tangent,
    second order, emitted, pickles) reads the entries one by one. Measured
    at n = 10**4: forward sweep 0.85 ns and reverse 1.3 ns an entry (were
    1.9 and 1.6 with the dispatch per entry).
    A run also notes its operands' pattern (``Run.a``/``a_step``, found by
    ``add_run`` or passed by the recorder that knows it): a slice of
    entries or of the pool (step 1), one operand for all (step 0), a row
    repeated over the rows of a matrix (step 2, a bias broadcast), or none.
    With patterns, recording and the forward sweep run the rule over the
    operands in place (no gather), and the reverse sweep streams them
    through branch-free loops (``binary_reverse_slice`` in _ops.pxi.tp)
    that GCC vectorizes; every adjoint still receives its contributions in
    the entry-by-entry order (distinct targets, the same slice twice in
    one iteration, one operand for all summed from the last entry down, a
    repeated row's adjoints a row at a time from the last row up;
    overlapping slices such as ``x[1:] * x[:-1]`` keep the indexed loop),
    so the results stay bit for bit those of the entry-by-entry sweep.
    Measured on Rosenbrock at n = 10**4 (one process, medians): forward
    sweep 116 -> 29 us (f itself 24 us), reverse about 1.6 -> 0.6 ns an
    entry, record 3.4 -> 1.5 ns an element-operation; in the benchmark
    (benchmarks/RESULTS.md, fresh processes) value + gradient went from
    15x to 7.9x f and replay from 11x to 4.0x.

Matrix products (_products.pxi)
    ``C = A @ B`` is one entry per element of C (opcode OP_MATMUL) over a
    ``Product`` of the tape: its shape, and each factor as codes (row-major,
    copied, with the run of entries it is noted when it is one) or a
    constant float matrix held by reference (data pointer and strides; the
    tape keeps the array in ``Tape.held``; a strided matrix without a unit
    stride is copied once). The sweeps meet a product as a block: forward
    C = A B, backward dA = G B^T and dB = A^T G, by SciPy's dgemm (found at
    run time through scipy.linalg.cython_blas; without SciPy, loops that sum
    in the same left-to-right order). Where a product's result is not all
    finite it is computed again with ``times`` (an exact zero times inf is
    zero, where BLAS gives nan), so structural zeros hold as element by
    element. Tangent and second-order sweeps take the elements one by one
    (the per-element rules are the definition); the emitted derivatives of
    grad_function and nesting are products again (G B^T, A^T G, flagged
    ``careful``: their products are times). Sums are products with a column
    of ones: one entry per result. Rejected: a multiply and an add entry per
    multiply-add (what came before: the logistic loss at X 10**4 x 100 was
    2 million entries, 50x f; now 10**4 entries and 3.2x f), and factors as
    ranges of entries only (every constant matrix would be copied into the
    pool, and parameters could not be passed by reference). The hazard of
    the reference: a constant modified after recording changes the
    recording (documented in the README).

Branch guards
    Every comparison of a Var while recording (``x > 0``, ``if x:``,
    NumPy's object-array max) is stored with its outcome: 12 bytes, in a
    separate array. A replay checks the guards against the new values and
    takes the first kept recording whose guards all hold; failing that it
    re-traces f (and keeps up to MAX_RECORDINGS branch patterns) or
    raises BranchError. ``.value`` is a constant of the recording, not a
    guard. Non-smooth rules (abs, maximum, floor, ...) need no guard: they
    are evaluated at the new point.
"""

cimport cython  # the decorators; every other declaration is in _core.pxd
import numpy as np
from functools import partial

cnp.import_array()

# The parts, in the order they build on each other (declarations of the
# shared types and structs are in _core.pxd).
include "_math.pxi"           # numeric kernels of the value rules; the one comparison
include "_ops.pxi"            # the operation table (generated from _rules.py)
include "_tape.pxi"           # tape storage, growth, buffer pool
include "_convert.pxi"        # conversion of user input
include "_recording.pxi"      # the Tape object, its imperative API, transform inputs
include "_products.pxi"       # matrix products: one block of matrix work in the sweeps
include "_var.pxi"            # the Var proxy (generated from _var.pxi.tp)
include "_complex.pxi"        # ComplexVar and the complex rules (from _complex.pxi.tp)
include "_sweep.pxi"          # the sweeps: nogil loops, the entry decoder
include "_drivers.pxi"        # sweep drivers: buffers, GIL, NumPy results
include "_elementwise.pxi"    # mapping an operation over Vars, numbers and arrays
include "_functions.pxi"      # the public elementwise functions (generated)
include "_array.pxi"          # fastad.Array: whole arrays recorded in compiled loops
include "_array_numpy.pxi"    # Masks, where, and NumPy's dispatch protocols for Arrays
include "_replay.pxi"         # Function: replay, branches, batches
include "_format.pxi"         # the pickle format
include "_emit.pxi"           # derivatives written as tape entries; nesting
include "_emit_rules.pxi"     # the emitted partial of every operation (generated)
