"""``fastad.trace``: record a function once, replay it many times.

The recording is ordinary: f runs once on input Vars and every operation
lands on a tape, every comparison on a Var as a branch guard. The returned
``Function`` re-evaluates the tape at new inputs in compiled code and
re-traces f only where a guard comes out differently.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from fastad import _core
from fastad._core import Array, ComplexVar, Function, Var
from fastad._pytree import TreeDef, flatten
from fastad._transforms import Recorded, _check_callable, _flatten_output


def _check_numbers(leaves: list[Any]) -> None:
    """trace records at numbers: a Var in x0 (from an enclosing transform)
    cannot be replayed later."""
    for leaf in leaves:
        if type(leaf) is Var or type(leaf) is Array or (
                isinstance(leaf, np.ndarray) and leaf.dtype == object
                and any(type(item) in (Var, ComplexVar) for item in leaf.reshape(-1))):
            raise TypeError(
                "trace: x0 holds fastad.Vars; a Function replays numbers (inside another "
                "transform, call f itself, or use F.grad_function() for a "
                "differentiable gradient)")


def trace(f: Callable[..., Any], x0: Any, *args: Any, retrace: bool = True) -> Function:
    """Record f(x, *args) at x0 and return a Function that replays it.

    Parameters
    ----------
    f : callable
        The function. It is called once here (and again only to re-trace).
        Its output may be a Var, a number, an array or a list of scalars.
    x0 : float, complex, array_like, or a list, tuple or dict of them
        The point to record at: any argument structure that ``grad``
        accepts, such as a dict of a network's parameters. The Function's
        methods take and return that structure. A list of numbers is passed
        to f as a list of Vars; a complex x0 (or complex array) makes f get
        ComplexVars, and gradients are ``d/dRe + 1j*d/dIm``. A bool or int
        is differentiated as a float, as ``grad`` does.
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
    leaves, tree = flatten(x0, "trace: x0")
    _check_numbers(leaves)
    if tree.n_real == 0:
        raise TypeError("trace: x0 holds no numbers to differentiate with respect to")

    def record_at(x: Any) -> tuple[Any, ...]:
        rec = Recorded(f, [0], (x,) + args, {}, "trace")
        if rec.trees[0] != tree:
            raise ValueError(f"trace: f was recorded at an input of structure "
                             f"{rec.trees[0]}, expected {tree}")
        shape, indices, values, complex_out = _flatten_output(rec.out, rec.tape, "trace")
        return rec.tape, indices, values, rec.n_inputs, shape, complex_out

    tape, indices, values, n_inputs, out_shape, complex_out = record_at(x0)

    def retrace_at(flat: np.ndarray) -> Any:
        # The Function passes the new point as its flat real scalars.
        new_tape, new_indices, new_values, new_inputs, new_shape, new_complex = record_at(
            _point(tree, flat))
        if new_shape != out_shape or new_complex != complex_out:
            kind = "complex " if complex_out else ""
            new_kind = "complex " if new_complex else ""
            raise ValueError(
                f"trace: re-tracing at a new x gave a {new_kind}output of shape "
                f"{new_shape}, but the function was traced with a {kind}output of "
                f"shape {out_shape}")
        return _core._make_recording(new_tape, new_indices, new_values, new_inputs)

    return _core._make_function(tape, indices, values, n_inputs, retrace_at, bool(retrace),
                                tree, out_shape, complex_out)


def _point(tree: TreeDef, flat: np.ndarray) -> Any:
    """A point in the traced structure from its flat real scalars, as f
    takes it: numbers as floats, lists of numbers as lists."""
    return tree.split(np.asarray(flat, dtype=np.float64))
