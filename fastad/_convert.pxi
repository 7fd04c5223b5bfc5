# Conversion of user input: numbers, arrays and their errors. Every public
# entry point converts what the user passed here, so a bad input gets one
# clear message naming what was wrong.

cdef str describe(object x):
    """A short description of a bad input for error messages."""
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    if type(x) is Array or type(x) is Mask:
        return f"a fastad.{type(x).__name__} of shape {x.shape}"
    return f"an object of type {type(x).__name__}"


cdef int reject_array_subclass(object x, str where) except -1:
    """Refuse ndarray subclasses whose meaning np.asarray would silently drop."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{where}: masked arrays are not supported (the mask would be lost); "
            f"pass x.filled(...) or x.compressed()")
    if isinstance(x, np.matrix):
        raise TypeError(
            f"{where}: np.matrix is not supported (its * is a matrix product); "
            f"pass np.asarray(x)")
    return 0


cdef object as_real_number_or_none(object x):
    """x as a float if it is a real number (bool, int, float, NumPy real), else None."""
    if type(x) is float:
        return x
    if PyFloat_Check(x) or PyLong_Check(x) or isinstance(x, (np.floating, np.integer, np.bool_)):
        return float(x)
    if isinstance(x, np.ndarray) and (<cnp.ndarray>x).ndim == 0 and x.dtype.kind in "biuf":
        return float(x)
    return None


cdef double as_real_number(object x, str where) except? -1.0:
    try:
        value = as_real_number_or_none(x)
    except OverflowError:
        raise OverflowError(f"{where}: {x!r} is too large for a float") from None
    if value is None:
        if PyComplex_Check(x) or isinstance(x, np.complexfloating):
            raise TypeError(f"{where}: expected a real number, got the complex {x!r}")
        raise TypeError(f"{where}: expected a real number, got {describe(x)}")
    return value


cdef cnp.ndarray as_float_array(object x, str where):
    """x as a float64 array; TypeError naming what was wrong otherwise."""
    reject_array_subclass(x, where)
    arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
    kind = arr.dtype.kind
    if kind in "biuf":
        return np.asarray(arr, dtype=np.float64)
    if kind == "c":
        raise TypeError(f"{where}: expected real numbers, got {describe(arr)}")
    if kind == "O":
        flat = arr.reshape(-1)
        out = np.empty(flat.shape[0], dtype=np.float64)
        for k in range(flat.shape[0]):
            item = flat[k]
            if type(item) is Var:
                raise TypeError(
                    f"{where}: the array holds fastad.Vars, but numbers are expected "
                    f"here (use fastad.value(x) for their values)")
            value = as_real_number_or_none(item)
            if value is None:
                index = tuple(int(i) for i in np.unravel_index(k, arr.shape))
                raise TypeError(
                    f"{where}: array element {index} is not a real number but "
                    f"{describe(item)}")
            out[k] = value
        return out.reshape(arr.shape)
    raise TypeError(f"{where}: expected numbers, got {describe(arr)}")


def _is_number_list(object seq):
    """Whether seq (a list or tuple) is non-empty and holds only real
    numbers, Python or NumPy (a bool among them makes it a structure of
    leaves instead). A compiled loop: grad's most common argument."""
    cdef Py_ssize_t k, n = len(seq)
    if n == 0:
        return False
    for k in range(n):
        item = seq[k]
        if type(item) is float or type(item) is int:
            continue
        if isinstance(item, (bool, np.bool_)) or not isinstance(
                item, (float, int, np.floating, np.integer)):
            return False
    return True
