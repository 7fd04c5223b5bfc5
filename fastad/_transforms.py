"""The JAX-like transforms: grad, value_and_grad, vjp, jacobian, jvp, hessian, hvp.

Each call records the function once (``Recorded``): the differentiated
arguments are flattened (fastad._pytree) and become input Vars, entries
0 .. n-1 of a fresh tape, in argument order; the function runs on them;
the derivatives then come from sweeps over that one recording and are
rebuilt in the arguments' structures. Inside another transform (nesting),
the same methods write the derivative onto the enclosing tape as Vars
instead, so that it is differentiable again; which of the two a call
takes is decided once, in Recorded.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, Sequence

import numpy as np

from fastad import _core
from fastad._core import Array, ComplexVar, Mask, Tape, Var
from fastad._pytree import (
    ARRAY, COMPLEX_ARRAY, COMPLEX_NUMBERS, COMPLEX_SCALAR, NUMBERS, SCALAR, TreeDef, describe,
    flatten,
)

# ---- the recording of one call -------------------------------------------------------


def _object_vector(items: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of Vars and numbers (a flat nested result)."""
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def _holds_var(items: Sequence[Any]) -> bool:
    return any(type(item) is Var for item in items)


def _record_argument(tape: Tape, x: Any, where: str) -> tuple[Any, TreeDef, int]:
    """Inputs for argument x: (the structure of Vars f gets, its TreeDef,
    the number of input entries)."""
    paths: list[str] = []
    leaves, tree = flatten(x, where, paths)
    if tree.node is None:
        made, n = _record_leaf(tape, x, tree, where)
        return made, tree, n
    inputs = []
    n = 0
    for leaf, kind, path in zip(leaves, tree.leaves, paths):
        made, k = _record_leaf(tape, leaf, kind, path)
        inputs.append(made)
        n += k
    return tree.unflatten(inputs), tree, n


def _record_leaf(tape: Tape, leaf: Any, kind: TreeDef, where: str) -> tuple[Any, int]:
    """The input Vars for one leaf, and their number."""
    if kind.kind == NUMBERS:
        items = _core._input_list(tape, leaf if type(leaf) is list else list(leaf))
        return kind._numbers_of(items), len(items)
    if kind.kind == COMPLEX_NUMBERS:
        made, n = _core._complex_inputs(tape, np.asarray(leaf, dtype=np.complex128), where)
        return kind._numbers_of(list(made)), n
    if kind.kind in (COMPLEX_SCALAR, COMPLEX_ARRAY):
        return _core._complex_inputs(tape, leaf, where)
    return _core._inputs(tape, leaf, where)


class Recorded:
    """f recorded once at its differentiated arguments.

    Its methods give the outputs and derivatives as numbers, or, when the
    recording used Vars of an enclosing transform or is seeded with them
    (``nested``), as Vars of the enclosing tape, onto which the inner tape
    is written once (the splice).
    """

    __slots__ = ("tape", "trees", "n_inputs", "out", "_splice")

    def __init__(self, f: Callable[..., Any], positions: Sequence[int], args: Sequence[Any],
                 kwargs: dict[str, Any], where: str):
        tape = Tape()
        _core._begin(tape)
        try:
            call_args = list(args)
            trees = []
            n_inputs = 0
            for p in positions:
                call_args[p], tree, n = _record_argument(tape, args[p],
                                                         f"{where}: argument {p}")
                trees.append(tree)
                n_inputs += n
            out = f(*call_args, **kwargs)
        except BaseException:
            _core._end(tape)
            if _core._is_nested(tape):
                # f may catch this: the branch it took inside, decided by
                # comparisons on the enclosing Vars, must reach the
                # enclosing tape as guards.
                try:
                    _core._splice(tape)
                except Exception:
                    pass  # the enclosing tape is gone too: nothing to guard
            raise
        _core._end(tape)
        self.tape = tape
        self.trees = trees
        self.n_inputs = n_inputs
        self.out = out
        self._splice: Any = None

    @property
    def nested(self) -> bool:
        """Whether the recording used Vars of an enclosing transform (also
        as outputs: asked after the outputs are read)."""
        return _core._is_nested(self.tape)

    def splice(self, extra: Sequence[Any] = ()) -> Any:
        """The inner tape written onto the enclosing one (once)."""
        if self._splice is None:
            self._splice = _core._splice(self.tape, extra)
        return self._splice

    @property
    def has_complex_input(self) -> bool:
        return any(tree.has_complex for tree in self.trees)

    def outputs(self, indices: np.ndarray, values: np.ndarray, seeds: Sequence[Any] = ()) -> Any:
        """The outputs' values: the numbers, or Vars of the enclosing tape."""
        if self.nested or _holds_var(seeds):
            return _object_vector(self.splice(seeds).outputs(indices, values))
        return values

    def vjp(self, indices: np.ndarray, seeds: Sequence[Any]) -> np.ndarray:
        """sum_k seeds[k] d(output k)/d(inputs): a flat vector over the inputs."""
        if self.nested or _holds_var(seeds):
            return _object_vector(self.splice(seeds).gradients(indices, seeds, self.n_inputs))
        return _core._input_vjp(self.tape, indices, np.asarray(seeds, dtype=np.float64),
                                self.n_inputs)

    def jacobian(self, indices: np.ndarray, mode: str) -> np.ndarray:
        """Rows d(output k)/d(inputs): an (outputs x inputs) array."""
        m = len(indices)
        if self.nested:
            splice = self.splice()
            rows = np.empty((m, self.n_inputs), dtype=object)
            for k in range(m):
                one_hot = [1.0 if j == k else 0.0 for j in range(m)]
                rows[k] = splice.gradients(indices, one_hot, self.n_inputs)
            return rows
        if mode == "forward" or (mode == "auto" and self.n_inputs <= m):
            return _core._input_tangents(self.tape, indices, np.eye(self.n_inputs),
                                         self.n_inputs)
        return _core._input_jacobian(self.tape, indices, self.n_inputs)

    def jvp(self, indices: np.ndarray, seeds: Sequence[Any]) -> np.ndarray:
        """d(outputs)/d(inputs) . seeds: a flat vector over the outputs."""
        if self.nested or _holds_var(seeds):
            return _object_vector(self.splice(seeds).tangents(indices, seeds, self.n_inputs))
        columns = _core._input_tangents(
            self.tape, indices, np.asarray(seeds, dtype=np.float64).reshape(self.n_inputs, 1),
            self.n_inputs)
        return columns[:, 0].copy()

    def split(self, flat: np.ndarray, out_shape: tuple[int, ...] | None = None,
              holomorphic: bool = False) -> list[Any]:
        """Per differentiated argument, its part of flat (columns over the
        inputs) in its structure (see TreeDef.split)."""
        results = []
        offset = 0
        gradient = out_shape is None and flat.dtype == np.float64 and flat.ndim == 1
        for tree in self.trees:
            if gradient and tree.node is None:
                results.append(tree._gradient_leaf(flat, offset))
            else:
                results.append(tree.split(flat[..., offset:offset + tree.n_real], out_shape,
                                          holomorphic))
            offset += tree.n_real
        return results

    def flat_tangents(self, tangents: Sequence[Any], where: str) -> list[Any]:
        """Tangents, one per argument in its structure, as a flat list."""
        seeds: list[Any] = []
        for k, (tree, tangent) in enumerate(zip(self.trees, tangents)):
            seeds.extend(tree.flat_values(tangent, f"{where} {k}"))
        return seeds


# ---- outputs ---------------------------------------------------------------------------

def _scalar_output(out: Any, tape: Tape, where: str) -> Var | float:
    """The output of f as a Var of `tape` or a float; TypeError otherwise.
    A bool is a number (a comparison's result): its derivative is 0."""
    if type(out) is Var:
        _core._output_entries(tape, [out], where)  # raises for a Var of another tape
        return out
    if isinstance(out, (np.ndarray, Array)):
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
    if isinstance(out, (numbers.Real, np.floating, np.integer, np.bool_)):
        return float(out)
    raise TypeError(
        f"{where}: f must return a scalar (a fastad.Var or a real number), "
        f"got {describe(out)}")


_REAL_HOLOMORPHIC = (
    "{where}: holomorphic=True, but f returned a real value at a complex argument; "
    "a real-valued function is not holomorphic (its derivative would drop d/dIm). "
    "Use {where} without holomorphic=True for its gradient d/dRe + 1j d/dIm")

_HOLOMORPHIC_REAL_INPUT = (
    "{where}: holomorphic=True needs complex arguments (as in JAX), but the "
    "differentiated argument is real; the derivative of a complex-valued f of a real "
    "x is jacobian(f)(x) (dRe f/dx + 1j dIm f/dx); or pass x as a complex number "
    "(x + 0j)")


def _holomorphic_output(out: Any, rec: Recorded, where: str) -> tuple[Any, Any]:
    """The scalar output of f for holomorphic=True as its (Re, Im) parts."""
    if isinstance(out, np.ndarray) and out.shape == ():
        out = out[()]
    if isinstance(out, (complex, np.complexfloating, ComplexVar)):
        return _core._complex_parts(out)
    _scalar_output(out, rec.tape, where)  # a clear error for what is not a number
    raise TypeError(_REAL_HOLOMORPHIC.format(where=where))


def _flatten_output(out: Any, tape: Tape,
                    where: str) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, bool]:
    """f's output as (shape, entry indices, values, is_complex); index -1
    marks a number.

    A Var or number has shape (); an array (object or numeric) its shape; a
    list or tuple of scalars is taken as a 1-D array. A complex output
    (any element complex) is two real outputs per element, the real and
    imaginary part, interleaved.
    """
    if type(out) is Array:
        out = out.__array__()
    elif type(out) is Mask:
        out = np.asarray(out)  # booleans: derivative 0
    if isinstance(out, np.ndarray):
        shape = out.shape
        items = out.reshape(-1).tolist() if out.dtype != object else list(out.reshape(-1))
    elif isinstance(out, (list, tuple)):
        shape = (len(out),)
        items = list(out)
        for k, item in enumerate(items):
            if isinstance(item, (np.ndarray, Array)) and item.shape == ():
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


def _packed_rows(rows: np.ndarray, is_complex: bool) -> np.ndarray:
    """Rows over the real outputs packed into rows over f's outputs."""
    return _core._complex_from_parts(rows[0::2], rows[1::2]) if is_complex else rows


# ---- argument checks -------------------------------------------------------------------

def _check_callable(f: Any, where: str) -> None:
    if not callable(f):
        raise TypeError(f"{where}: f must be callable, got {describe(f)}")


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


_JACOBIAN_MODES = ("auto", "reverse", "forward")


def _check_mode(mode: Any, where: str) -> str:
    if mode not in _JACOBIAN_MODES:
        raise ValueError(f"{where}: mode must be one of {_JACOBIAN_MODES}, got {mode!r}")
    return str(mode)


def _one_or_tuple(results: list[Any], single: bool) -> Any:
    return results[0] if single else tuple(results)


# ---- grad and value_and_grad -----------------------------------------------------------

def _value_and_grad_call(f: Callable[..., Any], nums: tuple[int, ...], single: bool,
                         args: tuple[Any, ...], kwargs: dict[str, Any],
                         where: str, holomorphic: bool = False) -> tuple[Any, Any]:
    positions = _resolve_argnums(nums, len(args), where)
    rec = Recorded(f, positions, args, kwargs, where)
    if holomorphic:
        return _holomorphic_value_and_grad(rec, single, where)
    out = rec.out
    if type(out) is Var and out._tape_is(rec.tape) and not rec.nested:
        # The common call: a Var of this recording out, numbers back. One
        # reverse sweep, without the general output and structure walks
        # below (half of a small call's cost).
        flat = _core._input_gradient(rec.tape, out, rec.n_inputs)
        tree = rec.trees[0]
        if single and tree.kind == NUMBERS and tree.container is list:
            return out.value, flat.tolist()
        if single and tree.kind == ARRAY and tree.node is None:
            return out.value, flat.reshape(tree.shape)
        return out.value, _one_or_tuple(rec.split(flat), single)
    y = _scalar_output(out, rec.tape, where)
    indices, values = _core._output_entries(rec.tape, [y], where)
    value = rec.outputs(indices, values)[0]
    grads = rec.split(rec.vjp(indices, [1.0]))
    return (value if rec.nested else float(value)), _one_or_tuple(grads, single)


def _holomorphic_value_and_grad(rec: Recorded, single: bool, where: str) -> tuple[Any, Any]:
    """(f(z), f'(z)) of a complex scalar output: the rows of its real and
    imaginary part, packed, along the real axis."""
    if not rec.has_complex_input:
        raise TypeError(_HOLOMORPHIC_REAL_INPUT.format(where=where))
    parts = _holomorphic_output(rec.out, rec, where)
    indices, values = _core._output_entries(rec.tape, list(parts), where)
    outs = rec.outputs(indices, values)
    value = _core._make_complex(outs[0], outs[1])
    rows = rec.jacobian(indices, "reverse")
    grads = rec.split(_packed_rows(rows, True)[0], holomorphic=True)
    return value, _one_or_tuple(grads, single)


def value_and_grad(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *,
                   holomorphic: bool = False) -> Callable[..., tuple[Any, Any]]:
    """Make a function that returns f's value and gradient.

    Parameters
    ----------
    f : callable
        A function returning a scalar: a Var, a number (a bool counts as
        one, with derivative 0) or a 0-d array.
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0). The others,
        and keyword arguments, are passed through as constants.
    holomorphic : bool, optional
        f is complex-valued and holomorphic: the value is a complex and the
        gradient is f'(z); the differentiated arguments must be complex
        (TypeError otherwise, as in JAX). Without it, f must be
        real-valued, and the gradient at a complex argument z is
        ``df/dRe(z) + 1j*df/dIm(z)``.

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
        A function returning a scalar: a Var, a number (a bool counts as
        one, with derivative 0) or a 0-d array.
    argnums : int or tuple of int, optional
        Which positional arguments to differentiate (default 0). The others,
        and keyword arguments, are passed through as constants.
    holomorphic : bool, optional
        f is complex-valued and holomorphic: the result is f'(z); the
        differentiated arguments must be complex (TypeError otherwise).
        Without it, f must be real-valued, and the result at a complex
        argument z is ``df/dRe(z) + 1j*df/dIm(z)``, so ``z - lr * g``
        descends.

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


# ---- vjp --------------------------------------------------------------------------------

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
    rec = Recorded(f, list(range(len(primals))), primals, {}, "vjp")
    shape, indices, values, is_complex = _flatten_output(rec.out, rec.tape, "vjp")
    outs = _output_value(shape, rec.outputs(indices, values), is_complex)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        seeds = _cotangent_seeds(cotangent, shape, is_complex)
        return tuple(rec.split(rec.vjp(indices, seeds)))

    return outs, vjp_fn


def _cotangent_seeds(cotangent: Any, shape: tuple[int, ...], is_complex: bool) -> list[Any]:
    """The cotangent as a flat list over the real outputs (Re, Im pairs for
    a complex output): numbers, or Vars of an enclosing transform."""
    holds_var = type(cotangent) in (Var, ComplexVar) or (
        isinstance(cotangent, (np.ndarray, list, tuple))
        and any(type(item) in (Var, ComplexVar)
                for item in np.asarray(cotangent, dtype=object).reshape(-1)))
    if holds_var:
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
    try:
        ct = np.asarray(cotangent)
    except (TypeError, ValueError):
        ct = np.asarray(None)
    if ct.dtype.kind == "c" and not is_complex:
        raise TypeError("vjp: f's output is real, but the cotangent is complex")
    if ct.dtype.kind not in "biufc" or isinstance(cotangent, (np.ma.MaskedArray, np.matrix)):
        raise TypeError(
            f"vjp: the cotangent must be a number or an array of numbers, got "
            f"{describe(cotangent)}")
    if ct.shape != shape:
        raise ValueError(
            f"vjp: the cotangent has shape {ct.shape}, but f's output has shape {shape}")
    if is_complex:
        return np.ascontiguousarray(ct, dtype=np.complex128).reshape(-1).view(
            np.float64).tolist()
    return np.asarray(ct, dtype=np.float64).reshape(-1).tolist()


# ---- jacobian ---------------------------------------------------------------------------

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
        complex x (TypeError at a real x). Without it, the rows of a real
        output at a complex x are ``d/dRe + 1j*d/dIm`` (as ``grad``), and
        a complex output at a real x gives ``dRe f/dx + 1j*dIm f/dx``; a
        complex output at a complex x raises TypeError.

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
    mode = _check_mode(mode, "jacobian")
    holomorphic = _check_holomorphic(holomorphic, "jacobian")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        positions = _resolve_argnums(nums, len(args), "jacobian")
        rec = Recorded(f, positions, args, kwargs, "jacobian")
        shape, indices, values, is_complex = _flatten_output(rec.out, rec.tape, "jacobian")
        complex_in = rec.has_complex_input
        if is_complex and not holomorphic and complex_in:
            raise TypeError(
                "jacobian: f is complex-valued at a complex argument; pass "
                "holomorphic=True for the complex Jacobian of a holomorphic f. A map "
                "that is not holomorphic, such as the gradient of a real loss, has no "
                "complex Jacobian: use hvp, or differentiate the real and imaginary "
                "parts of f separately")
        if holomorphic and not complex_in:
            raise TypeError(_HOLOMORPHIC_REAL_INPUT.format(where="jacobian"))
        if holomorphic and not is_complex:
            raise TypeError(_REAL_HOLOMORPHIC.format(where="jacobian"))
        rows = _packed_rows(rec.jacobian(indices, mode), is_complex)
        return _one_or_tuple(rec.split(rows, shape, holomorphic), single)

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


# ---- jvp --------------------------------------------------------------------------------

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
    rec = Recorded(f, list(range(len(primals))), primals, {}, "jvp")
    shape, indices, values, is_complex = _flatten_output(rec.out, rec.tape, "jvp")
    seeds = rec.flat_tangents(tangents, "jvp: tangent")
    outs = rec.outputs(indices, values, seeds)
    return (_output_value(shape, outs, is_complex),
            _output_value(shape, rec.jvp(indices, seeds), is_complex))


# ---- second order ------------------------------------------------------------------------

def _flat_argument_function(f: Callable[..., Any], args: Sequence[Any],
                            kwargs: dict[str, Any], position: int,
                            tree: TreeDef) -> Callable[[Any], Any]:
    """f as a function of argument `position` given flat (an object vector
    over its scalars), for nested second derivatives of any structure."""
    def flat_f(flat: Any) -> Any:
        call_args = list(args)
        call_args[position] = tree.split(np.asarray(flat, dtype=object).reshape(-1))
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
        rec = Recorded(f, positions, args, kwargs, "hessian")
        if rec.has_complex_input:
            raise TypeError(
                "hessian: the argument is complex; a real-valued f of a complex "
                "argument has no complex Hessian (its gradient is not holomorphic). "
                "Use hvp (real-pair convention), pass the real and imaginary parts "
                "as real arguments, or holomorphic=True for a holomorphic f")
        y = _scalar_output(rec.out, rec.tape, "hessian")
        _core._output_entries(rec.tape, [y], "hessian")
        tree = rec.trees[0]
        n = rec.n_inputs
        if rec.nested:
            # Inside another transform: the Hessian as the Jacobian of the
            # gradient, both nested, so the result is differentiable again.
            # The argument goes in flat, so any structure works.
            p = positions[0]
            g = _flat_argument_function(f, args, kwargs, p, tree)
            flat_x = _object_vector(tree.flat_values(args[p], "hessian", "argument"))
            H = np.asarray(jacobian(grad(g), mode="reverse")(flat_x),
                           dtype=object).reshape(n, n)
        else:
            _, H = _core._second_order(rec.tape, y, n, np.eye(n))
        if tree.kind == SCALAR:
            return H[0, 0] if H.dtype == object else float(H[0, 0])
        if tree.kind == ARRAY:
            return H.reshape(tree.shape + tree.shape)
        return tree.blocks(lambda offset, size, leaf: tree.split(
            H[offset:offset + size].reshape(leaf.shape + (n,)), leaf.shape))

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
    rec = Recorded(f, [0], (x,), {}, "hvp")
    y = _scalar_output(rec.out, rec.tape, "hvp")
    _core._output_entries(rec.tape, [y], "hvp")
    tree = rec.trees[0]
    seeds = tree.flat_values(v, "hvp: v", "direction")
    if rec.nested or _holds_var(seeds):
        # Inside another transform: forward over the nested gradient, on the
        # flattened argument so that any structure works.
        g = _flat_argument_function(f, (x,), {}, 0, tree)
        product = jvp(grad(g), (_object_vector(tree.flat_values(x, "hvp", "argument")),),
                      (_object_vector(seeds),))[1]
        return tree.split(np.asarray(product, dtype=object).reshape(-1))
    _, products = _core._second_order(rec.tape, y, rec.n_inputs,
                                      np.asarray(seeds, dtype=np.float64).reshape(-1, 1))
    return tree.split(products[:, 0].copy())


# ---- values ------------------------------------------------------------------------------

def _scalar_value(item: Any) -> Any:
    """A Var's, ComplexVar's or number's value; TypeError for anything else."""
    if type(item) is Var or type(item) is ComplexVar:
        return item.value
    if isinstance(item, (complex, np.complexfloating)):
        return complex(item)
    if isinstance(item, (numbers.Real, np.floating, np.integer, np.bool_)):
        return float(item)
    raise TypeError(f"fastad.value: expected Vars or numbers, got {describe(item)}")


def _leaf_value(leaf: Any) -> Any:
    if type(leaf) is Array:
        return leaf.value
    if isinstance(leaf, np.ndarray):
        if leaf.dtype == object:
            items = [_scalar_value(item) for item in leaf.reshape(-1)]
            dtype = np.complex128 if any(type(v) is complex for v in items) else np.float64
            return np.array(items, dtype=dtype).reshape(leaf.shape)
        if leaf.dtype.kind in "biuf":
            return np.asarray(leaf, dtype=np.float64)
        if leaf.dtype.kind == "c":
            return np.asarray(leaf, dtype=np.complex128)
        raise TypeError(f"fastad.value: expected numbers, got {describe(leaf)}")
    if isinstance(leaf, (list, tuple)):  # a list of numbers: one leaf
        items = [float(item) for item in leaf]
        if type(leaf) in (list, tuple):
            return type(leaf)(items)
        return type(leaf)(*items)
    return _scalar_value(leaf)


def value(obj: Any) -> Any:
    """The values of Vars: of a Var, an array of Vars or a list/tuple/dict of them.

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
    leaves, tree = flatten(obj, "fastad.value")
    return tree.unflatten([_leaf_value(leaf) for leaf in leaves])
