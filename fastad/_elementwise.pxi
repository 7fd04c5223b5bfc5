# The mapping of an operation over the argument of an elementwise function
# (the public functions themselves are generated, in _functions.pxi): a Var
# to a recorded Var, a number to a float, and an array elementwise (float
# arrays to float arrays, object arrays of Vars and numbers to object
# arrays), with the rules of _ops.pxi, so a function evaluated on floats
# and on Vars gives identical values.

# ---- mapping a rule over the argument --------------------------------------------

cdef object map_float_array_unary(int op, cnp.ndarray x):
    cdef cnp.ndarray src = np.ascontiguousarray(x, dtype=np.float64)
    cdef cnp.ndarray out = np.empty_like(src)
    cdef const double* s = <const double*>cnp.PyArray_DATA(src)
    cdef double* d = <double*>cnp.PyArray_DATA(out)
    cdef count_t k, n = src.size
    with nogil:
        for k in range(n):
            d[k] = unary_rule(op, s[k], 0.0, False)
    return out.reshape(np.shape(x))  # ascontiguousarray makes 0-d arrays 1-d


cdef object apply_unary(int op, object x):
    if type(x) is Var:
        return record_unary(op, <Var>x)
    if type(x) is float:
        return unary_rule(op, PyFloat_AS_DOUBLE(x), 0.0, False)
    if type(x) is ComplexVar:
        return complex_unary(op, <ComplexVar>x)
    if type(x) is Array:
        return array_unary(op, <Array>x)
    if type(x) is Mask:
        return array_unary(op, make_array((<Mask>x).tape, (<Mask>x).codes))
    if isinstance(x, (np.ndarray, list, tuple)):
        reject_array_subclass(x, op_name(op))
        arr = np.asarray(x)
        if arr.dtype == object:
            out = np.empty(arr.shape, dtype=object)
            out_flat = out.reshape(-1)
            for k, item in enumerate(arr.reshape(-1)):
                out_flat[k] = apply_unary(op, item)
            return out
        if arr.dtype.kind == "c":
            # By the same expanded rules as for complex Vars, so values on
            # numbers and on Vars agree.
            return np.array([apply_unary(op, complex(item)) for item in arr.reshape(-1)]
                            ).reshape(arr.shape)
        return map_float_array_unary(op, as_float_array(arr, op_name(op)))
    if PyComplex_Check(x) or isinstance(x, np.complexfloating):
        result = complex_unary(op, as_complex_operand(x))
        return (<ComplexVar>result).value if type(result) is ComplexVar else result
    return unary_rule(op, as_real_number(x, op_name(op)), 0.0, False)


cdef inline bint is_complex_operand(object x):
    return type(x) is ComplexVar or PyComplex_Check(x) or isinstance(x, np.complexfloating)


def _apply_binary_to_scalars(int vv_op, a, b):
    """One element of a binary function (the object-array loop's callback)."""
    if type(a) is Var and (type(b) is Var or type(b) is float):
        return record_binary_scalar(vv_op, <Var>a, b, False)
    if type(b) is Var and type(a) is float:
        return record_binary_scalar(vv_op, <Var>b, a, True)
    if is_complex_operand(a) or is_complex_operand(b):
        result = complex_binary(vv_op, a, b)
        if result is NotImplemented:
            raise TypeError(f"{op_name(vv_op)}: "
                            f"expected numbers or Vars, got {describe(a)} and {describe(b)}")
        if type(result) is ComplexVar and type((<ComplexVar>result).re) is float and \
                type((<ComplexVar>result).im) is float and type(a) is not ComplexVar \
                and type(b) is not ComplexVar:
            return (<ComplexVar>result).value  # numbers in, a number out
        return result
    if type(a) is Var:
        return record_binary_scalar(vv_op, <Var>a, b, False)
    if type(b) is Var:
        return record_binary_scalar(vv_op, <Var>b, a, True)
    name = op_name(vv_op)
    return binary_rule(vv_op, as_real_number(a, name), as_real_number(b, name), 0.0, VALUE)


cdef object record_binary_scalar(int vv_op, Var x, object other, bint reflected):
    if type(other) is not Var:
        name = op_name(vv_op)
        return record_with_constant(vv_op, x, as_real_number(other, name), reflected)
    if reflected:
        return record_binary(vv_op, <Var>other, x, False)
    return record_binary(vv_op, x, other, False)


cdef object apply_binary(int vv_op, object a, object b):
    cdef cnp.ndarray fa, fb, out
    cdef const double* pa
    cdef const double* pb
    cdef double* po
    cdef count_t k, n
    if type(a) is Array or type(b) is Array or type(a) is Mask or type(b) is Mask:
        result = array_binary(vv_op, a, b)
        if result is NotImplemented:
            return NUMPY_UFUNCS[vv_op](as_object_operand(a), as_object_operand(b)) \
                if vv_op in NUMPY_UFUNCS else apply_binary(vv_op, as_object_operand(a),
                                                           as_object_operand(b))
        return result
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
        name = op_name(vv_op)
        reject_array_subclass(a, name)
        reject_array_subclass(b, name)
        arr_a = np.asarray(a) if not type(a) is Var else np.asarray(a, dtype=object)
        arr_b = np.asarray(b) if not type(b) is Var else np.asarray(b, dtype=object)
        if arr_a.dtype.kind == "c" or arr_b.dtype.kind == "c":
            arr_a = arr_a.astype(object) if arr_a.dtype.kind == "c" else arr_a
            arr_b = arr_b.astype(object) if arr_b.dtype.kind == "c" else arr_b
            result = np.frompyfunc(partial(_apply_binary_to_scalars, vv_op), 2, 1)(arr_a, arr_b)
            if not any(type(item) is ComplexVar or type(item) is Var
                       for item in np.asarray(result).reshape(-1)):
                return np.asarray(result, dtype=np.complex128)
            return result
        if arr_a.dtype == object or arr_b.dtype == object:
            return np.frompyfunc(partial(_apply_binary_to_scalars, vv_op), 2, 1)(arr_a, arr_b)
        fa, fb = np.broadcast_arrays(as_float_array(arr_a, name), as_float_array(arr_b, name))
        shape = np.shape(fa)
        fa = np.ascontiguousarray(fa)
        fb = np.ascontiguousarray(fb)
        out = np.empty_like(fa)
        pa = <const double*>cnp.PyArray_DATA(fa)
        pb = <const double*>cnp.PyArray_DATA(fb)
        po = <double*>cnp.PyArray_DATA(out)
        n = out.size
        with nogil:
            for k in range(n):
                po[k] = binary_rule(vv_op, pa[k], pb[k], 0.0, VALUE)
        return out.reshape(shape)  # ascontiguousarray makes 0-d arrays 1-d
    return _apply_binary_to_scalars(vv_op, a, b)
