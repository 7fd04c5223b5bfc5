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


def _input_shape(x0: Any) -> tuple[tuple[int, ...] | None, bool]:
    """(shape, whether f takes a list) of a traced input; None for a number."""
    if isinstance(x0, np.ndarray):
        return x0.shape, False
    if isinstance(x0, (list, tuple)):
        if not _core._is_number_list(x0):
            raise TypeError(
                "trace: a list or tuple x0 must hold only numbers; use an array for "
                "more dimensions")
        return (len(x0),), True
    if x0 is None or isinstance(x0, (str, bytes, bool)) or not isinstance(
            x0, (int, float, np.integer, np.floating)):
        if isinstance(x0, (complex, np.complexfloating)):
            raise NotImplementedError(
                "trace: complex inputs are not supported yet (planned)")
        raise TypeError(
            f"trace: x0 must be a number, an array or a list of numbers, got "
            f"{_describe(x0)}")
    return None, False


def trace(f: Callable[..., Any], x0: Any, *args: Any, retrace: bool = True) -> Function:
    """Record f(x, *args) at x0 and return a Function that replays it.

    Parameters
    ----------
    f : callable
        The function. It is called once here (and again only to re-trace).
        Its output may be a Var, a number, an array or a list of scalars.
    x0 : float, array_like or list of float
        The point to record at. Calls of the Function take inputs of the
        same shape. A list is passed to f as a list of Vars.
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
    in_shape, as_list = _input_shape(x0)

    def record_at(x: Any) -> tuple[Any, ...]:
        argument = list(np.asarray(x, dtype=np.float64).tolist()) if as_list else x
        tape, _, n_inputs, out = _record(f, [0], (argument,) + args, {}, "trace")
        shape, indices, values = _flatten_output(out, tape, "trace")
        return tape, indices, values, n_inputs, shape

    tape, indices, values, n_inputs, out_shape = record_at(x0)

    def retrace_at(x: Any) -> Any:
        new_tape, new_indices, new_values, new_inputs, new_shape = record_at(x)
        if new_shape != out_shape:
            raise ValueError(
                f"trace: re-tracing at a new x gave an output of shape {new_shape}, "
                f"but the function was traced with output shape {out_shape}")
        return _core._make_recording(new_tape, new_indices, new_values, new_inputs)

    return _core._make_function(tape, indices, values, n_inputs, retrace_at,
                                bool(retrace), in_shape, out_shape)
