"""``fastad.trace``: record a function once, replay it many times.

The recording is ordinary: f runs once on input Vars and every operation
lands on a tape, every comparison on a Var as a branch guard. The returned
``Function`` re-evaluates the tape at new inputs in compiled code and
re-traces f only where a guard comes out differently.
"""

from typing import Any, Callable

import numpy as np

from fastad import _core
from fastad._core import Function
from fastad._transforms import _check_callable, _describe, _flatten_output, _record


def _input_shape(x0: Any) -> tuple[tuple[int, ...] | None, bool, bool]:
    """(shape, whether f takes a list, whether the input is complex) of a
    traced input; shape None for a number."""
    if isinstance(x0, np.ndarray):
        return x0.shape, False, x0.dtype.kind == "c"
    if isinstance(x0, (list, tuple)):
        if _core._is_number_list(x0):
            return (len(x0),), True, False
        if x0 and all(isinstance(item, (int, float, complex, np.number))
                      and not isinstance(item, (bool, np.bool_)) for item in x0):
            return (len(x0),), True, True  # numbers, some complex
        raise TypeError(
            "trace: a list or tuple x0 must hold only numbers; use an array for "
            "more dimensions")
    if isinstance(x0, (complex, np.complexfloating)):
        return None, False, True
    if x0 is None or isinstance(x0, (str, bytes, bool)) or not isinstance(
            x0, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"trace: x0 must be a number, an array or a list of numbers, got "
            f"{_describe(x0)}")
    return None, False, False


def trace(f: Callable[..., Any], x0: Any, *args: Any, retrace: bool = True) -> Function:
    """Record f(x, *args) at x0 and return a Function that replays it.

    Parameters
    ----------
    f : callable
        The function. It is called once here (and again only to re-trace).
        Its output may be a Var, a number, an array or a list of scalars.
    x0 : float, complex, array_like or list of numbers
        The point to record at. Calls of the Function take inputs of the
        same shape. A list is passed to f as a list of Vars. A complex x0
        (or complex array) makes a Function of a complex input: f gets
        ComplexVars, and gradients are ``d/dRe + 1j*d/dIm``.
    *args
        Further arguments, held as constants of the recording. They are kept
        by reference for re-tracing: do not modify them afterwards.
    retrace : bool, optional
        What to do at an input where a comparison made while tracing
        (``x > 0``, ``max``, ...) comes out differently: re-trace f there
        (True, the default) or raise ``fastad.BranchError`` (False).

    Returns
    -------
    Function
        Call it for the value; ``.grad``, ``.value_and_grad``, ``.vjp``,
        ``.jvp``, ``.jacobian``, ``.hvp``, ``.hessian``,
        ``.value_and_grad_batch`` and ``.grad_function`` for derivatives.

    Notes
    -----
    Branches must compare Vars, not their ``.value``: a comparison of Vars
    is recorded as a guard and checked at every replay, while ``.value`` is
    a constant of the recording, so a branch on it is replayed as taken at
    x0 whatever the new input is.

    Examples
    --------
    >>> import numpy as np, fastad
    >>> F = fastad.trace(lambda x: np.sum(x * x), np.zeros(3))
    >>> F.value_and_grad(np.array([1.0, 2.0, 3.0]))
    (14.0, array([2., 4., 6.]))
    """
    _check_callable(f, "trace")
    if not isinstance(retrace, (bool, np.bool_)):
        raise TypeError(f"trace: retrace must be True or False, got {retrace!r}")
    in_shape, as_list, complex_in = _input_shape(x0)
    dtype = np.complex128 if complex_in else np.float64
    if complex_in and not isinstance(x0, (list, tuple)):
        x0 = np.asarray(x0, dtype=np.complex128) if in_shape is not None else complex(x0)

    def record_at(x: Any) -> tuple[Any, ...]:
        argument = list(np.asarray(x, dtype=dtype).tolist()) if as_list else x
        tape, _, n_inputs, out = _record(f, [0], (argument,) + args, {}, "trace")
        shape, indices, values, complex_out = _flatten_output(out, tape, "trace")
        return tape, indices, values, n_inputs, shape, complex_out

    tape, indices, values, n_inputs, out_shape, complex_out = record_at(x0)

    def retrace_at(x: Any) -> Any:
        new_tape, new_indices, new_values, new_inputs, new_shape, new_complex = record_at(x)
        if new_shape != out_shape or new_complex != complex_out:
            kind = "complex " if complex_out else ""
            new_kind = "complex " if new_complex else ""
            raise ValueError(
                f"trace: re-tracing at a new x gave a {new_kind}output of shape "
                f"{new_shape}, but the function was traced with a {kind}output of "
                f"shape {out_shape}")
        return _core._make_recording(new_tape, new_indices, new_values, new_inputs)

    return _core._make_function(tape, indices, values, n_inputs, retrace_at,
                                bool(retrace), in_shape, out_shape, complex_in, complex_out)
