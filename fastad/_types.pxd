# The C types of the tape, each with the reason for its width.

from libc.stdint cimport int32_t, int64_t, uint8_t

# Index of a tape entry or of a pooled constant. 32 bits keep an entry at
# 17 bytes (opcode + two operands + value) and bound a tape at 2**31 - 1
# entries (about 36 GB), beyond any tape that fits in memory here.
ctypedef int32_t index_t

# An opcode. The table in _ops.pxi has well under 256 operations.
ctypedef uint8_t op_t

# Every value and adjoint is a C double, as NumPy's float64.
ctypedef double value_t

# Sizes and counts of C arrays.
ctypedef int64_t count_t
