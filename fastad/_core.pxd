# Declarations of the compiled core, apart from its definitions: the C
# types of the tape (with the reason for each width), the structs that its
# parts share, and the C-level imports. fastad/_core.pyx and every file it
# includes see what is declared here.

cimport numpy as cnp
cimport libc.math as libm
from libc.stdint cimport INT32_MAX, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.complex cimport PyComplex_Check, PyComplex_RealAsDouble, PyComplex_ImagAsDouble
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.long cimport PyLong_AsDouble, PyLong_Check
from cpython.object cimport Py_LT, Py_LE, Py_GT, Py_GE, Py_EQ, Py_NE, PyObject_RichCompare
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF

cdef extern from "Python.h":
    # Released around long sweeps (see release_gil_above in _sweep.pxi).
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState* state)


# ---- the C types ----------------------------------------------------------------

# Index of a tape entry or of a pooled constant. 32 bits keep an entry at
# 17 bytes (opcode + two operands + value) and bound a tape at 2**31 - 1
# entries (about 36 GB), beyond any tape that fits in memory here.
ctypedef int32_t index_t

# An opcode. The rule table has well under 256 operations.
ctypedef uint8_t op_t

# Every value and adjoint is a C double, as NumPy's float64.
ctypedef double value_t

# Sizes and counts of C arrays.
ctypedef int64_t count_t

# Values of the whole-array loops (_ops.pxi.tp), declared restrict: each
# loop's output does not overlap its inputs, so the compiler vectorizes it
# without a run-time check for overlap (which -O2's cost model refuses).
cdef extern from *:
    ctypedef const double* values_in "const double * __restrict__"
    ctypedef double* values_out "double * __restrict__"


# ---- the structs ------------------------------------------------------------------

cdef struct Factor:
    # One factor of a matrix product (a Product), a rows x cols matrix:
    # either codes (row-major, entries >= 0 and pooled constants -1-k, owned
    # by the tape) or a constant float matrix held by reference (data and
    # its strides in elements; the tape keeps the array alive).
    index_t* codes
    const value_t* data
    count_t row_stride
    count_t col_stride
    index_t run           # codes[p] == run + p for every p (one run of entries), else -1
    index_t held          # data: the array's position in the tape's list Tape.held


cdef struct Product:
    # C = A @ B recorded as one entry per element of C (opcode OP_MATMUL,
    # arg0 the product's index, arg1 the element's row-major position):
    # entries first .. first + m*n - 1. The sweeps treat it as one block of
    # matrix work (fastad/_products.pxi), not as m*n*k multiply-adds.
    index_t first
    count_t m
    count_t n
    count_t k
    Factor a              # m x k
    Factor b              # k x n
    int careful           # an exact zero times anything is zero (the products of
                          # emitted derivatives, like OP_TIMES); else IEEE's 0 * inf


cdef struct Run:
    # Entries first .. first + count - 1, written by one whole-array
    # operation: one opcode, operands all before first. The forward and
    # reverse sweeps run it as one loop of that opcode's rule (no dispatch
    # per entry); every other walker reads its entries one by one.
    index_t first
    index_t count
    # The operands' pattern, when they have one (add_run finds it): entry
    # first + p has arg0 == a + p * a_step (a_step 1: a contiguous slice of
    # entries or of the pool; 0: one operand for all) and likewise arg1;
    # a step of 2: rows, arg0 == a + p % a_period (one row of a_period
    # operands repeated, as NumPy broadcasts a bias over the rows of a
    # matrix); a step of -1: no pattern, read arg0 (arg1). With patterns
    # the sweeps stream the operands instead of gathering them by index.
    index_t a
    index_t b
    int a_step
    int b_step
    index_t a_period
    index_t b_period


cdef struct TapeArrays:
    # What the sweeps read: a structure of arrays, so that each array
    # streams on its own and no padding is spent on the one-byte opcode.
    op_t* ops
    index_t* arg0        # first operand (entry index, or pool index for CV)
    index_t* arg1        # second operand (entry index, or pool index for VC)
    value_t* values      # value of each entry
    value_t* consts      # the constant pool
    Product* products    # the matrix products (entries of opcode OP_MATMUL), in entry order
    count_t n_products
    Run* runs            # the runs, in entry order
    count_t n_runs


cdef struct Guard:
    # A comparison made while recording, and how it came out: a replay at
    # new inputs is on the recorded branch only if every guard comes out
    # the same. The left operand is always an entry (c < x is stored as
    # x > c); the right one an entry or a pooled constant. Pickled field by
    # field (fastad/_format.pxi), never as raw struct bytes.
    index_t a
    index_t b
    uint8_t how            # Py_LT, Py_LE, Py_GT, Py_GE, Py_EQ or Py_NE
    uint8_t b_is_constant
    uint8_t outcome


cdef struct TapeData:
    # A tape's storage (fastad/_tape.pxi): the arrays, their lengths and
    # their allocated capacities.
    TapeArrays arr
    Guard* guards
    count_t n_entries
    count_t capacity
    count_t n_consts
    count_t consts_capacity
    count_t n_guards
    count_t guards_capacity
    count_t products_capacity
    count_t runs_capacity
    count_t max_entries    # the tape-full limit (lowered by a test hook)


cdef struct Entry:
    # One entry's operands, decoded once (decode in _sweep.pxi) for every
    # walker of the tape: the rule it follows, its operand kind, and each
    # operand as an entry index or, where it is a constant, its value.
    int rule               # the opcode of its rule: unary, or the VV opcode
    int kind               # KIND_VV, KIND_VC, KIND_CV, KIND_UNARY or KIND_INPUT
    index_t a              # first operand's entry, -1 if none or a constant
    index_t b              # second operand's entry, -1 if none or a constant
    value_t ca             # first operand's value when it is a constant (CV)
    value_t cb             # second operand's value when it is a constant (VC)


cdef struct Term:
    # A value on a tape being written by the emitted sweeps: an entry
    # (entry >= 0) or a constant (entry == -1; NO_TERM: no value yet).
    index_t entry
    double constant
