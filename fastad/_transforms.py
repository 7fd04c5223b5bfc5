"""The JAX-like transforms: ``grad`` and ``value_and_grad``.

Each call records the function on a fresh tape: the differentiated
arguments become input Vars (entries 0 .. n-1 of the tape, in argument
order), the function runs on them, and one reverse sweep from the output
gives the derivative with respect to every input at once.
"""

import collections
import functools
import numbers
from typing import Any, Callable

import numpy as np

from fastad import _core
from fastad._core import ComplexVar, Tape, Var

# ---- argument structures ----------------------------------------------------------
# A differentiated argument is a leaf (number or array) or a list, tuple or
# dict of arguments. Recording it gives the Var structure the function sees
# and a spec from which the gradient, a flat float64 array in input order,
# is rebuilt into the same structure.

_SCALAR = "scalar"
_ARRAY = "array"
# A complex leaf is two inputs per complex scalar, its real and imaginary
# part, interleaved (the memory layout of complex128): the real-pair
# convention of API.md section 2.
_COMPLEX_SCALAR = "complex scalar"
_COMPLEX_ARRAY = "complex array"
_NUMBER_SEQ = "number sequence"
_SEQ = "sequence"
_DICT = "dict"


def _sequence_like(x: Any, items: list[Any]) -> Any:
    """A list, tuple or namedtuple of x's type holding items."""
    if type(x) is list:
        return items
    if hasattr(type(x), "_fields"):
        return type(x)(*items)
    return type(x)(items)


def _dict_like(x: Any) -> Any:
    """An empty dict of x's type (a defaultdict keeps its factory)."""
    if isinstance(x, collections.defaultdict):
        return type(x)(x.default_factory)
    return type(x)()


def _record_argument(tape: Tape, x: Any, where: str) -> tuple[Any, Any, int]:
    """Inputs for argument x: returns (structure of Vars, spec, n_scalars)."""
    if isinstance(x, (list, tuple)):
        if _core._is_number_list(x):
            vars_ = _core._input_list(tape, list(x))
            return _sequence_like(x, vars_), (_NUMBER_SEQ, x, len(vars_)), len(vars_)
        parts: list[Any] = []
        item_specs: list[Any] = []
        total = 0
        for k, item in enumerate(x):
            v, spec, n = _record_argument(tape, item, f"{where}[{k}]")
            parts.append(v)
            item_specs.append(spec)
            total += n
        return _sequence_like(x, parts), (_SEQ, x, item_specs), total
    if isinstance(x, dict):
        out = _dict_like(x)
        key_specs: dict[Any, Any] = {}
        total = 0
        for key, item in x.items():
            out[key], key_specs[key], n = _record_argument(tape, item, f"{where}[{key!r}]")
            total += n
        return out, (_DICT, x, key_specs), total
    if isinstance(x, np.ndarray):
        if _is_complex_array(x):
            vars_, n = _core._complex_inputs(tape, x, where)
            return vars_, (_COMPLEX_ARRAY, x.shape), n
        vars_, n = _core._inputs(tape, x, where)
        return vars_, (_ARRAY, x.shape), n
    if isinstance(x, (complex, np.complexfloating, ComplexVar)):
        vars_, n = _core._complex_inputs(tape, x, where)
        return vars_, (_COMPLEX_SCALAR,), n
    if x is None or isinstance(x, (str, bytes)) or not isinstance(x, (numbers.Number, np.generic, Var)):
        raise TypeError(
            f"{where}: cannot differentiate with respect to {_describe(x)}; "
            f"expected a float, int, NumPy array, or a list, tuple or dict of them")
    vars_, n = _core._inputs(tape, x, where)
    return vars_, (_SCALAR,), n


def _is_complex_array(x: np.ndarray) -> bool:
    """Whether array x is complex: a complex dtype, or objects holding a
    complex number or ComplexVar."""
    if x.dtype.kind == "c":
        return True
    return x.dtype == object and any(
        isinstance(item, (complex, np.complexfloating, ComplexVar)) for item in x.reshape(-1))


def _complex_columns(columns: np.ndarray, holomorphic: bool) -> np.ndarray:
    """A complex leaf's derivative from its (Re, Im) column pairs.

    Without holomorphic: d/dRe + 1j*d/dIm (the gradient convention). With
    it: the derivative along the real axis, which for a holomorphic f
    (whose complex outputs were already packed) is f'(z).
    """
    re, im = columns[..., 0::2], columns[..., 1::2]
    return re if holomorphic else _core._complex_from_parts(re, im)


def _leaf_result(columns: np.ndarray, out_shape: tuple[int, ...] | None,
                 leaf_shape: tuple[int, ...] | None) -> Any:
    """One leaf's derivative from its columns of the flat result.

    columns is (n,) for a gradient (out_shape None) and (m, n) for a
    Jacobian with m outputs of out_shape; leaf_shape is None for a number
    and the array's shape for an array (a 0-d array stays an array).
    """
    if out_shape is None:
        if leaf_shape is None:
            # Nested transforms give object arrays of Vars (and numbers).
            if columns.dtype == object:
                return columns[0]
            return complex(columns[0]) if columns.dtype.kind == "c" else float(columns[0])
        return columns.reshape(leaf_shape)
    if leaf_shape is None:
        leaf_shape = ()
    block = columns.reshape(out_shape + leaf_shape)
    return block[()] if block.shape == () else block  # np.float64 for shape ()


def _rebuild(spec: Any, flat: np.ndarray, offset: int,
             out_shape: tuple[int, ...] | None = None,
             holomorphic: bool = False) -> tuple[Any, int]:
    """The derivative for one argument spec from the columns of flat starting
    at offset (see _leaf_result); returns (result, next offset)."""
    kind = spec[0]
    if kind == _SCALAR:
        return _leaf_result(flat[..., offset:offset + 1], out_shape, None), offset + 1
    if kind == _ARRAY:
        shape = spec[1]
        n = int(np.prod(shape, dtype=np.int64))
        return _leaf_result(flat[..., offset:offset + n], out_shape, shape), offset + n
    if kind == _COMPLEX_SCALAR:
        columns = _complex_columns(flat[..., offset:offset + 2], holomorphic)
        return _leaf_result(columns, out_shape, None), offset + 2
    if kind == _COMPLEX_ARRAY:
        shape = spec[1]
        n = 2 * int(np.prod(shape, dtype=np.int64))
        columns = _complex_columns(flat[..., offset:offset + n], holomorphic)
        return _leaf_result(columns, out_shape, shape), offset + n
    if kind == _NUMBER_SEQ:
        _, original, n = spec
        if out_shape is None:
            items = flat[offset:offset + n].tolist()
        else:
            items = [_leaf_result(flat[..., k:k + 1], out_shape, None)
                     for k in range(offset, offset + n)]
        return _sequence_like(original, items), offset + n
    if kind == _SEQ:
        _, original, specs = spec
        parts = []
        for s in specs:
            part, offset = _rebuild(s, flat, offset, out_shape, holomorphic)
            parts.append(part)
        return _sequence_like(original, parts), offset
    _, original, specs = spec
    out = _dict_like(original)
    for key, s in specs.items():
        out[key], offset = _rebuild(s, flat, offset, out_shape, holomorphic)
    return out, offset


def _rebuild_all(specs: list[Any], flat: np.ndarray,
                 out_shape: tuple[int, ...] | None = None,
                 holomorphic: bool = False) -> list[Any]:
    """Derivatives for every recorded argument, in order."""
    results = []
    offset = 0
    for spec in specs:
        result, offset = _rebuild(spec, flat, offset, out_shape, holomorphic)
        results.append(result)
    return results


def _has_complex_input(specs: list[Any]) -> bool:
    """Whether any recorded argument has a complex leaf."""
    for spec in specs:
        kind = spec[0]
        if kind in (_COMPLEX_SCALAR, _COMPLEX_ARRAY):
            return True
        if kind == _SEQ and _has_complex_input(spec[2]):
            return True
        if kind == _DICT and _has_complex_input(list(spec[2].values())):
            return True
    return False


def _flatten_like(spec: Any, tangent: Any, where: str, out: list[Any]) -> None:
    """Append tangent's numbers to out in input order, checking that it has
    the structure and shapes the spec records."""
    kind = spec[0]
    if kind == _COMPLEX_SCALAR:
        if isinstance(tangent, np.ndarray) and tangent.shape == ():
            tangent = tangent[()]
        if type(tangent) is Var or type(tangent) is ComplexVar or (
                isinstance(tangent, (numbers.Number, np.number))
                and not isinstance(tangent, (bool, np.bool_))):
            out.extend(_core._complex_parts(tangent))
            return
        raise TypeError(f"{where}: expected a complex number, got {_describe(tangent)}")
    if kind == _COMPLEX_ARRAY:
        arr = np.asarray(tangent)
        if arr.shape != spec[1]:
            raise ValueError(f"{where}: the tangent has shape {arr.shape}, but the primal "
                             f"has shape {spec[1]}")
        if arr.dtype == object:
            for k, item in enumerate(arr.reshape(-1)):
                _flatten_like((_COMPLEX_SCALAR,), item, f"{where}[{k}]", out)
            return
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{where}: expected numbers, got {_describe(arr)}")
        out.extend(np.ascontiguousarray(arr, dtype=np.complex128).reshape(-1)
                   .view(np.float64).tolist())
        return
    if kind == _SCALAR:
        if type(tangent) is Var:  # a tangent from an enclosing transform
            out.append(tangent)
            return
        if isinstance(tangent, (complex, np.complexfloating, ComplexVar)):
            raise TypeError(f"{where}: the primal is real, but the tangent is complex")
        if not isinstance(tangent, (numbers.Real, np.floating, np.integer)) or isinstance(
                tangent, (bool, np.bool_)):
            if isinstance(tangent, np.ndarray) and tangent.shape == ():
                out.append(float(tangent))
                return
            raise TypeError(f"{where}: expected a number, got {_describe(tangent)}")
        out.append(float(tangent))
    elif kind == _ARRAY:
        arr = np.asarray(tangent)
        if arr.dtype == object and arr.shape == spec[1]:
            # Vars of an enclosing transform and numbers, element by element.
            for k, item in enumerate(arr.reshape(-1)):
                _flatten_like((_SCALAR,), item, f"{where}[{k}]", out)
            return
        if arr.dtype.kind == "c":
            raise TypeError(f"{where}: the primal is real, but the tangent is complex")
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{where}: expected numbers, got {_describe(arr)}")
        if arr.shape != spec[1]:
            raise ValueError(f"{where}: the tangent has shape {arr.shape}, but the primal "
                             f"has shape {spec[1]}")
        out.extend(np.asarray(arr, dtype=np.float64).reshape(-1).tolist())
    elif kind == _NUMBER_SEQ:
        if not isinstance(tangent, (list, tuple, np.ndarray)) or len(tangent) != spec[2]:
            raise ValueError(f"{where}: the tangent must be a sequence of {spec[2]} numbers")
        for k, item in enumerate(tangent):
            _flatten_like((_SCALAR,), item, f"{where}[{k}]", out)
    elif kind == _SEQ:
        if not isinstance(tangent, (list, tuple)) or len(tangent) != len(spec[2]):
            raise ValueError(f"{where}: the tangent must be a sequence of {len(spec[2])} items")
        for k, (s, item) in enumerate(zip(spec[2], tangent)):
            _flatten_like(s, item, f"{where}[{k}]", out)
    else:
        if not isinstance(tangent, dict) or set(tangent) != set(spec[2]):
            raise ValueError(f"{where}: the tangent must be a dict with keys {list(spec[2])}")
        for key, s in spec[2].items():
            _flatten_like(s, tangent[key], f"{where}[{key!r}]", out)


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"an object of type {type(x).__name__}"


# ---- outputs ----------------------------------------------------------------------

def _scalar_output(out: Any, tape: Tape, where: str) -> Var | float:
    """The output of f as a Var of `tape` or a float; TypeError otherwise."""
    if type(out) is Var:
        _core._output_entries(tape, [out], where)  # raises for a Var of another tape
        return out
    if isinstance(out, np.ndarray):
        if out.shape == ():
            return _scalar_output(out[()], tape, where)
        raise TypeError(
            f"{where}: f must return a scalar, but it returned an array of shape "
            f"{out.shape}; use jacobian for non-scalar outputs")
    if isinstance(out, (list, tuple)):
        raise TypeError(
            f"{where}: f must return a scalar, but it returned a {type(out).__name__} "
            f"of length {len(out)} (shape ({len(out)},)); use jacobian for "
            f"non-scalar outputs")
    if isinstance(out, (complex, np.complexfloating, ComplexVar)):
        if where in ("grad", "value_and_grad"):
            raise TypeError(
                f"{where}: f returned a complex number; differentiating a complex-valued "
                f"function needs holomorphic=True (or take .real, .imag or abs(z) ** 2 "
                f"for a real loss)")
        raise TypeError(
            f"{where}: f returned a complex number, but {where} needs a real scalar f "
            f"(take .real, .imag or abs(z) ** 2; for a holomorphic f use "
            f"hessian(f, holomorphic=True) or jacobian(grad(f, holomorphic=True), "
            f"holomorphic=True))")
    if isinstance(out, (bool, np.bool_)):
        raise TypeError(
            f"{where}: f returned a bool; grad needs a real-valued scalar")
    if isinstance(out, (numbers.Real, np.floating, np.integer)):
        return float(out)
    raise TypeError(
        f"{where}: f must return a scalar (a fastad.Var or a real number), "
        f"got {_describe(out)}")


_REAL_HOLOMORPHIC = (
    "{where}: holomorphic=True, but f returned a real value at a complex argument; "
    "a real-valued function is not holomorphic (its derivative would drop d/dIm). "
    "Use {where} without holomorphic=True for its gradient d/dRe + 1j d/dIm")


def _holomorphic_output(out: Any, tape: Tape, specs: list[Any], where: str) -> tuple[Any, Any]:
    """The scalar output of f for holomorphic=True as its (Re, Im) parts."""
    if isinstance(out, np.ndarray) and out.shape == ():
        out = out[()]
    if isinstance(out, (complex, np.complexfloating, ComplexVar)):
        return _core._complex_parts(out)
    y = _scalar_output(out, tape, where)
    if _has_complex_input(specs):
        raise TypeError(_REAL_HOLOMORPHIC.format(where=where))
    return y, 0.0


def _flatten_output(out: Any, tape: Tape,
                    where: str) -> tuple[tuple[int, ...], Any, Any, bool]:
    """f's output as (shape, entry indices, values, is_complex); index -1
    marks a number.

    A Var or number has shape (); an array (object or numeric) its shape; a
    list or tuple of scalars is taken as a 1-D array. A complex output
    (any element complex) is two real outputs per element, the real and
    imaginary part, interleaved.
    """
    if isinstance(out, np.ndarray):
        shape = out.shape
        items = out.reshape(-1).tolist() if out.dtype != object else list(out.reshape(-1))
    elif isinstance(out, (list, tuple)):
        shape = (len(out),)
        items = list(out)
        for k, item in enumerate(items):
            if isinstance(item, np.ndarray) and item.shape == ():
                items[k] = item[()]
            elif isinstance(item, (list, tuple, np.ndarray)):
                raise TypeError(
                    f"{where}: f returned a {type(out).__name__} whose element {k} is "
                    f"not a scalar; return an array for outputs of more than one "
                    f"dimension")
    else:
        shape = ()
        items = [out]
    is_complex = any(isinstance(item, (complex, np.complexfloating, ComplexVar))
                     for item in items)
    if is_complex:
        items = [part for item in items for part in _core._complex_parts(item)]
    indices, values = _core._output_entries(tape, items, where)
    return shape, indices, values, is_complex


def _output_value(shape: tuple[int, ...], values: np.ndarray, is_complex: bool = False) -> Any:
    """The primal output: a float (complex) for shape (), else a float
    (complex) array. values are the real outputs (pairs when complex)."""
    values = np.asarray(values)
    if is_complex:
        values = _core._complex_from_parts(values[0::2], values[1::2])
    if shape == ():
        if values.dtype == object:
            return values[0]
        return complex(values[0]) if is_complex else float(values[0])
    return values.reshape(shape)


def _complex_rows(rows: np.ndarray, is_complex: bool) -> np.ndarray:
    """Rows over the real outputs packed into rows over f's outputs."""
    return _core._complex_from_parts(rows[0::2], rows[1::2]) if is_complex else rows


# ---- argnums ----------------------------------------------------------------------

def _check_argnums(argnums: Any, where: str) -> tuple[tuple[int, ...], bool]:
    """Validate argnums; returns (tuple of ints, whether a single int was given)."""
    if isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool):
        return (int(argnums),), True
    if isinstance(argnums, (tuple, list)) and argnums and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in argnums):
        nums = tuple(int(a) for a in argnums)
        if len(set(nums)) != len(nums):
            raise ValueError(f"{where}: argnums has repeated entries: {argnums}")
        return nums, False
    raise TypeError(
        f"{where}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")

def _resolve_argnums(nums: tuple[int, ...], n_args: int, where: str) -> list[int]:
    if len(nums) == 1 and 0 <= nums[0] < n_args:
        return [nums[0]]  # the common case, without the checks below
    out = []
    for a in nums:
        if not -n_args <= a < n_args:
            raise ValueError(
                f"{where}: argnums {a} is out of range for {n_args} positional "
                f"argument{'s' if n_args != 1 else ''} (differentiated arguments "
                f"must be passed positionally, not by keyword)")
        out.append(a % n_args)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: argnums {nums} name the same argument twice")
    return out


def _check_holomorphic(holomorphic: Any, where: str) -> bool:
    if not isinstance(holomorphic, (bool, np.bool_)):
        raise TypeError(f"{where}: holomorphic must be True or False, got {holomorphic!r}")
    return bool(holomorphic)


def _check_callable(f: Any, where: str) -> None:
    if not callable(f):
        raise TypeError(f"{where}: f must be callable, got {_describe(f)}")


# ---- the transforms ---------------------------------------------------------------

def _record(f: Callable[..., Any], positions: list[int], args: tuple[Any, ...],
            kwargs: dict[str, Any], where: str) -> tuple[Tape, list[Any], int, Any]:
    """Run f on a new tape with the arguments at positions as inputs.

    Returns the tape (finished), one spec per differentiated argument, the
    number of input scalars and f's output. The tape is closed even when f
    raises, so an error leaves nothing recording.
    """
    tape = Tape()
    _core._begin(tape)
    try:
        call_args = list(args)
        specs = []
        n_inputs = 0
        for p in positions:
            call_args[p], spec, n = _record_argument(tape, args[p], f"{where}: argument {p}")
            specs.append(spec)
            n_inputs += n
        out = f(*call_args, **kwargs)
    except BaseException:
        _core._end(tape)
        if _core._is_nested(tape):
            # f may catch this: the branch it took inside, decided by
            # comparisons on the enclosing Vars, must reach the enclosing
            # tape as guards.
            try:
                _core._splice(tape)
            except Exception:
                pass  # the enclosing tape is gone too: nothing to guard
        raise
    _core._end(tape)
    return tape, specs, n_inputs, out


def _holds_var(x: Any) -> bool:
    """Whether x is a Var or an array/list holding one."""
    if type(x) is Var or type(x) is ComplexVar:
        return True
    if isinstance(x, np.ndarray):
        return x.dtype == object and any(
            type(item) is Var or type(item) is ComplexVar for item in x.reshape(-1))
    if isinstance(x, (list, tuple)):
        return any(_holds_var(item) for item in x)
    return False


def _object_vector(items: list[Any]) -> np.ndarray:
    """A 1-D object array of Vars and numbers (the flat result of a nested
    transform)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _value_and_grad_call(f: Callable[..., Any], nums: tuple[int, ...], single: bool,
                         args: tuple[Any, ...], kwargs: dict[str, Any],
                         where: str, holomorphic: bool = False) -> tuple[Any, Any]:
    positions = _resolve_argnums(nums, len(args), where)
    tape, specs, n_inputs, out = _record(f, positions, args, kwargs, where)
    if holomorphic:
        return _holomorphic_value_and_grad(tape, specs, n_inputs, out, single, where)
    if type(out) is Var and specs[0][0] == _NUMBER_SEQ and type(specs[0][1]) is list \
            and single and out._tape_is(tape) and not _core._is_nested(tape):
        # The most common call, a list of numbers in and a Var out, without
        # the general structure walk below (a third of a small call's cost).
        return out.value, _core._input_gradient(tape, out, n_inputs).tolist()
    y = _scalar_output(out, tape, where)
    indices, values = _core._output_entries(tape, [y], where)
    if _core._is_nested(tape):
        # Inside another transform: the value and gradient are Vars of the
        # enclosing tape, so the outer transform differentiates them.
        splice = _core._splice(tape)
        value = _core._splice_outputs(splice, indices, values)[0]
        flat = _object_vector(_core._splice_gradients(splice, indices, [1.0], n_inputs))
        grads = _rebuild_all(specs, flat)
        return value, (grads[0] if single else tuple(grads))
    grads = _rebuild_all(specs, _core._input_gradient(tape, y, n_inputs))
    value = y.value if isinstance(y, Var) else y
    return value, (grads[0] if single else tuple(grads))


def _holomorphic_value_and_grad(tape: Tape, specs: list[Any], n_inputs: int, out: Any,
                                single: bool, where: str) -> tuple[Any, Any]:
    """(f(z), f'(z)) of a complex scalar output: the rows of its real and
    imaginary part (two reverse sweeps), packed, along the real axis."""
    parts = _holomorphic_output(out, tape, specs, where)
    indices, values = _core._output_entries(tape, list(parts), where)
    if _core._is_nested(tape):
        splice = _core._splice(tape)
        value = _core._make_complex(*_core._splice_outputs(splice, indices, values))
        rows = np.empty((2, n_inputs), dtype=object)
        rows[0] = _core._splice_gradients(splice, indices, [1.0, 0.0], n_inputs)
        rows[1] = _core._splice_gradients(splice, indices, [0.0, 1.0], n_inputs)
    else:
        value = complex(values[0], values[1])
        rows = _core._input_jacobian(tape, indices, n_inputs)
    grads = _rebuild_all(specs, _complex_rows(rows, True)[0], holomorphic=True)
    return value, (grads[0] if single else tuple(grads))


def value_and_grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
                   holomorphic: bool = False) -> Callable[..., tuple[float, Any]]:
    """Make a function that returns f's value and gradient.

    Parameters
    ----------
    f : callable
        A function returning a scalar: a Var, a number or a 0-d array.
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0). The others,
        and keyword arguments, are passed through as constants.
    holomorphic : bool, optional
        f is complex-valued and holomorphic: the value is a complex and the
        gradient is f'(z). Without it, f must be real-valued, and the
        gradient at a complex argument z is ``df/dRe(z) + 1j*df/dIm(z)``.

    Returns
    -------
    callable
        Takes f's arguments and returns ``(value, gradient)``: value a
        float, gradient shaped like the argument (a float, a complex, an
        ndarray of its shape, or a list/tuple/dict of those), or a tuple of
        gradients when argnums is a tuple.

    Examples
    --------
    >>> import fastad
    >>> fastad.value_and_grad(lambda x, y: x * y)(2.0, 3.0)
    (6.0, 3.0)
    """
    _check_callable(f, "value_and_grad")
    nums, single = _check_argnums(argnums, "value_and_grad")
    holomorphic = _check_holomorphic(holomorphic, "value_and_grad")

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return _value_and_grad_call(f, nums, single, args, kwargs, "value_and_grad",
                                    holomorphic)

    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
         holomorphic: bool = False) -> Callable[..., Any]:
    """Make a function that returns the gradient of scalar-valued f.

    Parameters
    ----------
    f : callable
        A function returning a scalar: a Var, a number or a 0-d array.
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0). The others,
        and keyword arguments, are passed through as constants.
    holomorphic : bool, optional
        f is complex-valued and holomorphic: the result is f'(z). Without
        it, f must be real-valued, and the result at a complex argument z
        is ``df/dRe(z) + 1j*df/dIm(z)``, so ``z - lr * g`` descends.

    Returns
    -------
    callable
        Takes f's arguments and returns df/dx shaped like x (a float, a
        complex, an ndarray of x's shape, or a list/tuple/dict of those),
        or a tuple of such results when argnums is a tuple.

    Examples
    --------
    >>> import fastad
    >>> fastad.grad(lambda x, y, z: x * y + z, argnums=(0, 1, 2))(2.0, 3.0, 4.0)
    (3.0, 2.0, 1.0)
    """
    _check_callable(f, "grad")
    nums, single = _check_argnums(argnums, "grad")
    holomorphic = _check_holomorphic(holomorphic, "grad")

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return _value_and_grad_call(f, nums, single, args, kwargs, "grad", holomorphic)[1]

    return grad_f


def vjp(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """Evaluate f and return a function of cotangents (vector-Jacobian products).

    Parameters
    ----------
    f : callable
        A function of the primals returning a Var, a number, an array, or a
        list/tuple of scalars (a 1-D output).
    *primals
        The arguments, all differentiated: numbers, arrays, or lists,
        tuples and dicts of them.

    Returns
    -------
    out : float or numpy.ndarray
        f's value (a float for a scalar output, else a float array).
    vjp_fn : callable
        ``vjp_fn(cotangent)`` with a cotangent shaped like out returns a
        tuple with one result per primal, shaped like it: the cotangent
        times the Jacobian. Each call is one reverse sweep over the
        recording; call it as often as needed.

    Examples
    --------
    >>> import numpy as np, fastad
    >>> out, vjp_fn = fastad.vjp(lambda x: x * x, np.array([1.0, 2.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))
    (array([ 2., 40.]),)
    """
    _check_callable(f, "vjp")
    if not primals:
        raise TypeError("vjp: give at least one primal argument")
    tape, specs, n_inputs, out = _record(f, list(range(len(primals))), primals, {}, "vjp")
    shape, indices, values, is_complex = _flatten_output(out, tape, "vjp")
    if _core._is_nested(tape):
        splice = _core._splice(tape)
        outs = _output_value(shape, _object_vector(
            _core._splice_outputs(splice, indices, values)), is_complex)

        def nested_vjp_fn(cotangent: Any) -> tuple[Any, ...]:
            flat_ct = _nested_cotangent(cotangent, shape, is_complex)
            flat = _core._splice_gradients(splice, indices, flat_ct, n_inputs)
            return tuple(_rebuild_all(specs, _object_vector(flat)))

        return outs, nested_vjp_fn

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        if _holds_var(cotangent):
            # A cotangent from an enclosing transform: emit the product there.
            flat_ct = _nested_cotangent(cotangent, shape, is_complex)
            splice = _core._splice(tape, flat_ct)
            flat = _core._splice_gradients(splice, indices, flat_ct, n_inputs)
            return tuple(_rebuild_all(specs, _object_vector(flat)))
        seeds = _as_cotangent(cotangent, shape, is_complex)
        return tuple(_rebuild_all(specs, _core._input_vjp(tape, indices, seeds, n_inputs)))

    return _output_value(shape, values, is_complex), vjp_fn


def _nested_cotangent(cotangent: Any, shape: tuple[int, ...], is_complex: bool) -> list[Any]:
    """A cotangent holding Vars as a flat list over the real outputs."""
    ct = np.asarray(cotangent, dtype=object)
    if ct.shape != shape:
        raise ValueError(f"vjp: the cotangent has shape {ct.shape}, but f's output "
                         f"has shape {shape}")
    items = ct.reshape(-1).tolist()
    if is_complex:
        return [part for item in items for part in _core._complex_parts(item)]
    for item in items:
        if isinstance(item, (complex, np.complexfloating, ComplexVar)):
            raise TypeError("vjp: f's output is real, but the cotangent is complex")
    return items


def _as_cotangent(cotangent: Any, shape: tuple[int, ...], is_complex: bool = False) -> np.ndarray:
    """The cotangent as a flat float64 array over the real outputs (Re, Im
    pairs for a complex output); ValueError if not shaped like out."""
    try:
        ct = np.asarray(cotangent)
    except (TypeError, ValueError):
        ct = np.asarray(None)
    if ct.dtype.kind == "c" and not is_complex:
        raise TypeError("vjp: f's output is real, but the cotangent is complex")
    if ct.dtype.kind not in "biufc" or isinstance(ct, (np.ma.MaskedArray, np.matrix)):
        raise TypeError(
            f"vjp: the cotangent must be a number or an array of numbers, got "
            f"{_describe(cotangent)}")
    if ct.shape != shape:
        raise ValueError(
            f"vjp: the cotangent has shape {ct.shape}, but f's output has shape {shape}")
    if is_complex:
        return np.ascontiguousarray(ct, dtype=np.complex128).reshape(-1).view(np.float64)
    return np.asarray(ct, dtype=np.float64).reshape(-1)


_JACOBIAN_MODES = ("auto", "reverse", "forward")


def jacobian(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
             mode: str = "auto", holomorphic: bool = False) -> Callable[..., Any]:
    """Make a function that returns the Jacobian of f.

    Parameters
    ----------
    f : callable
        A function returning a Var, a number, an array (object or float,
        Vars and numbers mixed) or a list/tuple of scalars (a 1-D output).
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0).
    mode : {"auto", "reverse", "forward"}, optional
        f is recorded once; "reverse" then runs one reverse sweep per
        output, "forward" one tangent lane per input (32 lanes per sweep),
        and "auto" picks forward when there are no more inputs than outputs
        (a lane of the vector forward sweep costs about a third of a
        reverse sweep, so square Jacobians go forward).
    holomorphic : bool, optional
        The complex Jacobian df/dz of a holomorphic, complex-valued f at a
        complex x. Without it, the rows of a real output at a complex x
        are ``d/dRe + 1j*d/dIm`` (as ``grad``), and a complex output at a
        real x gives ``dRe f/dx + 1j*dIm f/dx``; a complex output at a
        complex x raises TypeError.

    Returns
    -------
    callable
        Takes f's arguments and returns an array of shape
        ``out.shape + x.shape`` (a NumPy scalar when that shape is ()),
        mirrored into x's structure for lists, tuples and dicts, or a tuple
        of such results when argnums is a tuple.

    Examples
    --------
    >>> import numpy as np, fastad
    >>> fastad.jacobian(lambda x: x[::-1] * 2.0)(np.array([1.0, 2.0]))
    array([[0., 2.],
           [2., 0.]])
    """
    _check_callable(f, "jacobian")
    nums, single = _check_argnums(argnums, "jacobian")
    if mode not in _JACOBIAN_MODES:
        raise ValueError(f"jacobian: mode must be one of {_JACOBIAN_MODES}, got {mode!r}")
    holomorphic = _check_holomorphic(holomorphic, "jacobian")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        positions = _resolve_argnums(nums, len(args), "jacobian")
        tape, specs, n_inputs, out = _record(f, positions, args, kwargs, "jacobian")
        shape, indices, values, is_complex = _flatten_output(out, tape, "jacobian")
        if is_complex and not holomorphic and _has_complex_input(specs):
            raise TypeError(
                "jacobian: f is complex-valued at a complex argument; pass "
                "holomorphic=True for the complex Jacobian of a holomorphic f. A map "
                "that is not holomorphic, such as the gradient of a real loss, has no "
                "complex Jacobian: use hvp, or differentiate the real and imaginary "
                "parts of f separately")
        if holomorphic and not is_complex and _has_complex_input(specs):
            raise TypeError(_REAL_HOLOMORPHIC.format(where="jacobian"))
        if _core._is_nested(tape):
            splice = _core._splice(tape)
            rows = np.empty((len(indices), n_inputs), dtype=object)
            for k in range(len(indices)):
                one_hot = [1.0 if j == k else 0.0 for j in range(len(indices))]
                rows[k] = _core._splice_gradients(splice, indices, one_hot, n_inputs)
        elif mode == "forward" or (mode == "auto" and n_inputs <= len(indices)):
            rows = _core._input_tangents(tape, indices, np.eye(n_inputs), n_inputs)
        else:
            rows = _core._input_jacobian(tape, indices, n_inputs)
        results = _rebuild_all(specs, _complex_rows(rows, is_complex), shape, holomorphic)
        return results[0] if single else tuple(results)

    return jacobian_f


def jacrev(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
           holomorphic: bool = False) -> Callable[..., Any]:
    """Jacobian by reverse mode: ``jacobian(f, argnums, mode="reverse")``.

    Records f once and runs one reverse sweep per output.

    Parameters
    ----------
    f : callable
        As for ``jacobian``.
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0).
    holomorphic : bool, optional
        As for ``jacobian``: the complex Jacobian of a holomorphic f.

    Returns
    -------
    callable
        Takes f's arguments and returns the Jacobian, shaped
        ``out.shape + x.shape`` as for ``jacobian``.
    """
    return jacobian(f, argnums, mode="reverse", holomorphic=holomorphic)


def jacfwd(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
           holomorphic: bool = False) -> Callable[..., Any]:
    """Jacobian by forward mode: ``jacobian(f, argnums, mode="forward")``.

    Records f once and sweeps forward with one tangent lane per input.

    Parameters
    ----------
    f : callable
        As for ``jacobian``.
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0).
    holomorphic : bool, optional
        As for ``jacobian``: the complex Jacobian of a holomorphic f.

    Returns
    -------
    callable
        Takes f's arguments and returns the Jacobian, shaped
        ``out.shape + x.shape`` as for ``jacobian``.
    """
    return jacobian(f, argnums, mode="forward", holomorphic=holomorphic)


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple[Any, Any]:
    """Evaluate f and push tangents forward: a Jacobian-vector product.

    Parameters
    ----------
    f : callable
        A function of the primals returning a Var, a number, an array or a
        list/tuple of scalars.
    primals : tuple
        The arguments, all differentiated.
    tangents : tuple
        One tangent per primal, with the primal's structure and shapes.

    Returns
    -------
    out : float or numpy.ndarray
        f's value.
    out_tangent : float or numpy.ndarray
        J @ tangents, shaped like out.

    Examples
    --------
    >>> import fastad
    >>> fastad.jvp(lambda x, y: x * y, (2.0, 3.0), (1.0, 0.0))
    (6.0, 3.0)
    """
    _check_callable(f, "jvp")
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise TypeError("jvp: primals and tangents must be tuples (one item per argument)")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    if not primals:
        raise TypeError("jvp: give at least one primal argument")
    tape, specs, n_inputs, out = _record(f, list(range(len(primals))), primals, {}, "jvp")
    shape, indices, values, is_complex = _flatten_output(out, tape, "jvp")
    seeds: list[Any] = []
    for k, (spec, tangent) in enumerate(zip(specs, tangents)):
        _flatten_like(spec, tangent, f"jvp: tangent {k}", seeds)
    if _core._is_nested(tape) or any(type(s) is Var for s in seeds):
        # Inside another transform (or with its Vars as tangents): the
        # result is emitted onto the enclosing tape.
        splice = _core._splice(tape, seeds)
        outs = _object_vector(_core._splice_outputs(splice, indices, values))
        tans = _object_vector(_core._splice_tangents(splice, indices, seeds, n_inputs))
        return _output_value(shape, outs, is_complex), _output_value(shape, tans, is_complex)
    columns = _core._input_tangents(tape, indices, np.asarray(seeds).reshape(n_inputs, 1),
                                    n_inputs)
    return (_output_value(shape, values, is_complex),
            _output_value(shape, columns[:, 0].copy(), is_complex))


def _leaf_blocks(spec: Any, offset: int, leaf: Callable[[int, int, tuple[int, ...] | None], Any]
                 ) -> tuple[Any, int]:
    """Rebuild spec's structure with leaf(offset, size, shape) at each leaf
    (shape None for a number); returns (structure, next offset)."""
    kind = spec[0]
    if kind == _SCALAR:
        return leaf(offset, 1, None), offset + 1
    if kind == _ARRAY:
        n = int(np.prod(spec[1], dtype=np.int64))
        return leaf(offset, n, spec[1]), offset + n
    if kind == _NUMBER_SEQ:
        _, original, n = spec
        return _sequence_like(original, [leaf(offset + k, 1, None) for k in range(n)]), offset + n
    if kind == _SEQ:
        _, original, specs = spec
        parts = []
        for item in specs:
            part, offset = _leaf_blocks(item, offset, leaf)
            parts.append(part)
        return _sequence_like(original, parts), offset
    _, original, specs = spec
    out = _dict_like(original)
    for key, item in specs.items():
        out[key], offset = _leaf_blocks(item, offset, leaf)
    return out, offset


def _flat_argument(spec: Any, x: Any, where: str) -> np.ndarray:
    """Argument x (numbers and Vars in any structure) as a flat object array,
    in input order."""
    flat: list[Any] = []
    _flatten_like(spec, x, where, flat)
    return _object_vector(flat)


def _flat_argument_function(f: Callable[..., Any], args: tuple[Any, ...],
                            kwargs: dict[str, Any], position: int,
                            spec: Any) -> Callable[[Any], Any]:
    """f as a function of argument `position` given flat (see _flat_argument)."""
    def flat_f(flat: Any) -> Any:
        call_args = list(args)
        call_args[position] = _rebuild(spec, np.asarray(flat, dtype=object).reshape(-1), 0)[0]
        return f(*call_args, **kwargs)
    return flat_f


def hessian(f: Callable[..., Any], argnums: int = 0, *,
            holomorphic: bool = False) -> Callable[..., Any]:
    """Make a function that returns the Hessian of scalar-valued f.

    f is recorded once; the Hessian comes from forward-over-reverse sweeps
    in compiled code, 32 directions per sweep.

    Parameters
    ----------
    f : callable
        A function returning a scalar.
    argnums : int, optional
        The positional argument to differentiate twice (default 0).
    holomorphic : bool, optional
        f is complex-valued and holomorphic: the result is f''(z), as
        ``jacobian(grad(f, holomorphic=True), holomorphic=True)``. A real f
        of a complex argument has no complex Hessian (its gradient is not
        holomorphic): that raises TypeError; ``hvp`` works there.

    Returns
    -------
    callable
        Takes f's arguments and returns the Hessian: a float for a number,
        an array of shape ``x.shape + x.shape`` for an array, and for a
        list, tuple or dict a nested structure of blocks
        ``H[i][j]`` of shape ``x_i.shape + x_j.shape``.

    Examples
    --------
    >>> import numpy as np, fastad
    >>> fastad.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    _check_callable(f, "hessian")
    nums, single = _check_argnums(argnums, "hessian")
    if not single:
        raise TypeError("hessian: argnums must be a single int")
    if _check_holomorphic(holomorphic, "hessian"):
        return jacobian(grad(f, argnums, holomorphic=True), argnums, holomorphic=True)

    @functools.wraps(f)
    def hessian_f(*args: Any, **kwargs: Any) -> Any:
        positions = _resolve_argnums(nums, len(args), "hessian")
        tape, specs, n_inputs, out = _record(f, positions, args, kwargs, "hessian")
        if _has_complex_input(specs):
            raise TypeError(
                "hessian: the argument is complex; a real-valued f of a complex "
                "argument has no complex Hessian (its gradient is not holomorphic). "
                "Use hvp (real-pair convention), pass the real and imaginary parts "
                "as real arguments, or holomorphic=True for a holomorphic f")
        y = _scalar_output(out, tape, "hessian")
        _core._output_entries(tape, [y], "hessian")
        spec = specs[0]
        if _core._is_nested(tape):
            # Inside another transform: the Hessian as the Jacobian of the
            # gradient, both nested, so the result is differentiable again.
            # The argument goes in flat, so any structure works.
            p = positions[0]
            g = _flat_argument_function(f, args, kwargs, p, spec)
            H = jacobian(grad(g), mode="reverse")(_flat_argument(spec, args[p], "hessian"))
            H = np.asarray(H, dtype=object).reshape(n_inputs, n_inputs)
        else:
            _, H = _core._second_order(tape, y, n_inputs, np.eye(n_inputs))

        def row_block(offset: int, n: int, shape: tuple[int, ...] | None) -> Any:
            rows = H[offset:offset + n]
            return _rebuild(spec, rows, 0, () if shape is None else tuple(shape))[0]

        if spec[0] == _SCALAR:
            return H[0, 0] if H.dtype == object else float(H[0, 0])
        if spec[0] == _ARRAY:
            return H.reshape(tuple(spec[1]) + tuple(spec[1]))
        return _leaf_blocks(spec, 0, row_block)[0]

    return hessian_f


def hvp(f: Callable[..., Any], x: Any, v: Any) -> Any:
    """The Hessian of scalar f at x times v, shaped like x.

    One recording, one tangent sweep and one forward-over-reverse sweep:
    about the cost of a few gradients, without forming the Hessian.

    Parameters
    ----------
    f : callable
        A function of one argument returning a scalar.
    x : float, array_like, or list/tuple/dict of them
        The point.
    v : same structure as x
        The direction.

    Returns
    -------
    float, numpy.ndarray, or the structure of x

    Examples
    --------
    >>> import numpy as np, fastad
    >>> fastad.hvp(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    _check_callable(f, "hvp")
    tape, specs, n_inputs, out = _record(f, [0], (x,), {}, "hvp")
    y = _scalar_output(out, tape, "hvp")
    _core._output_entries(tape, [y], "hvp")
    seeds: list[Any] = []
    _flatten_like(specs[0], v, "hvp: v", seeds)
    if _core._is_nested(tape) or any(type(s) is Var for s in seeds):
        # Inside another transform: forward over the nested gradient, on the
        # flattened argument so that any structure works.
        g = _flat_argument_function(f, (x,), {}, 0, specs[0])
        product = jvp(grad(g), (_flat_argument(specs[0], x, "hvp"),), (_object_vector(seeds),))[1]
        return _rebuild(specs[0], np.asarray(product, dtype=object).reshape(-1), 0)[0]
    _, products = _core._second_order(tape, y, n_inputs,
                                      np.asarray(seeds, dtype=np.float64).reshape(n_inputs, 1))
    return _rebuild(specs[0], products[:, 0].copy(), 0)[0]


def value(obj: Any) -> Any:
    """The values of Vars: of a Var, an array of Vars or a list/tuple of them.

    Parameters
    ----------
    obj : Var, ComplexVar, number, array_like, list, tuple or dict
        Vars anywhere in it are replaced by their values.

    Returns
    -------
    float, complex, numpy.ndarray, list, tuple or dict
        A float for a Var or real number, a complex for a ComplexVar or
        complex number, a float (complex) array for an array, and the same
        container type for a list, tuple or dict.
    """
    if type(obj) is Var or type(obj) is ComplexVar:
        return obj.value
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            items = [value(v) for v in obj.reshape(-1)]
            dtype = np.complex128 if any(type(v) is complex for v in items) else np.float64
            return np.array(items, dtype=dtype).reshape(obj.shape)
        if obj.dtype.kind in "biuf":
            return np.asarray(obj, dtype=np.float64)
        if obj.dtype.kind == "c":
            return np.asarray(obj, dtype=np.complex128)
        raise TypeError(f"fastad.value: expected numbers, got {_describe(obj)}")
    if isinstance(obj, (list, tuple)):
        return _sequence_like(obj, [value(v) for v in obj])
    if isinstance(obj, dict):
        out = _dict_like(obj)
        for k, v in obj.items():
            out[k] = value(v)
        return out
    if isinstance(obj, (numbers.Real, np.floating, np.integer)):
        return float(obj)
    if isinstance(obj, (complex, np.complexfloating)):
        return complex(obj)
    raise TypeError(f"fastad.value: expected a Var, a number or an array, got {_describe(obj)}")
