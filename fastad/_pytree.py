"""Argument structures (pytrees): flatten once, rebuild anything in their shape.

A differentiated argument is a leaf (a real or complex number, an array, a
Var or ComplexVar, or a list/tuple of real numbers taken as one 1-D leaf)
or a list, tuple, namedtuple or dict of arguments, nested to any depth.
``flatten`` walks such a structure once and returns its leaves and a
``TreeDef``; every transform, ``trace`` and ``Function`` then works on the
flat leaves and rebuilds results (gradients, tangents, Hessian blocks,
batches) with the TreeDef, so the structure is walked in one place only.

Each leaf has a number of real scalars: 1 for a real number, its size for
a real array, 2 for a complex number and twice the size for a complex
array (the real and imaginary parts, interleaved as in complex128
memory). A gradient, tangent or row is a flat vector over all of them, in
leaf order (lists and tuples in order, dicts in insertion order).
"""

from __future__ import annotations

import collections
import functools
import math
import numbers
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from fastad._core import (Array, ComplexVar, Var, _complex_from_parts, _complex_parts,
                          _is_number_list)

# Leaf kinds.
SCALAR = "scalar"
ARRAY = "array"
COMPLEX_SCALAR = "complex scalar"
COMPLEX_ARRAY = "complex array"
NUMBERS = "numbers"          # a list or tuple of real numbers, one 1-D leaf
COMPLEX_NUMBERS = "complex numbers"  # a list or tuple of complex numbers, likewise
COMPLEX_KINDS = (COMPLEX_SCALAR, COMPLEX_ARRAY, COMPLEX_NUMBERS)
SEQUENCE_KINDS = (NUMBERS, COMPLEX_NUMBERS)

_REAL_TYPES = (numbers.Real, np.floating, np.integer, np.bool_)
_COMPLEX_TYPES = (complex, np.complexfloating)


def describe(x: Any) -> str:
    """A short description of a bad input for error messages."""
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    if type(x) is Array:
        return f"a fastad.Array of shape {x.shape}"
    return f"an object of type {type(x).__name__}"


def is_number_sequence(x: Any) -> bool:
    """Whether x is a non-empty list or tuple of real numbers (Python or
    NumPy; a bool among them makes it a structure of leaves)."""
    return bool(_is_number_list(x))


def _is_complex_array(x: np.ndarray) -> bool:
    if x.dtype.kind == "c":
        return True
    return x.dtype == object and any(
        isinstance(item, _COMPLEX_TYPES + (ComplexVar,)) for item in x.reshape(-1))


class TreeDef:
    """The structure of an argument: its containers and its leaves' kinds
    and shapes (not their values).

    Attributes
    ----------
    node : str or None
        None for a leaf; else "list", "tuple", "namedtuple" or "dict".
    kind : str or None
        A leaf's kind (SCALAR, ARRAY, COMPLEX_SCALAR, COMPLEX_ARRAY, NUMBERS,
        COMPLEX_NUMBERS).
    shape : tuple
        A leaf's shape (() for a number, (n,) for NUMBERS).
    n_real : int
        Real scalars in the whole structure.
    """

    __slots__ = ("node", "kind", "shape", "container", "keys", "children", "n_real",
                 "_leaves", "_offsets")

    def __init__(self, node: str | None, kind: str | None, shape: tuple[int, ...],
                 container: Any, keys: tuple[Any, ...], children: tuple[TreeDef, ...]):
        self.node = node
        self.kind = kind
        self.container = container
        self.keys = keys
        self.children = children
        try:
            self.shape = tuple(shape)
            if node is None:
                size = math.prod(self.shape)
                self.n_real = 2 * size if kind in COMPLEX_KINDS else size
                self._leaves: tuple[TreeDef, ...] = (self,)
            else:
                self.n_real = sum(child.n_real for child in children)
                self._leaves = tuple(leaf for child in children for leaf in child._leaves)
            offsets = []
            offset = 0
            for leaf in self._leaves:
                offsets.append(offset)
                offset += leaf.n_real
        except (TypeError, AttributeError) as error:
            # Only a corrupt pickle passes fields that are not those of flatten.
            raise ValueError(f"fastad: corrupt argument structure ({error})") from None
        self._offsets: tuple[int, ...] = tuple(offsets)

    # ---- structure -----------------------------------------------------------

    @property
    def leaves(self) -> tuple[TreeDef, ...]:
        """The leaf TreeDefs, in order."""
        return self._leaves

    @property
    def is_leaf(self) -> bool:
        return self.node is None

    @property
    def has_complex(self) -> bool:
        return any(leaf.kind in COMPLEX_KINDS for leaf in self._leaves)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TreeDef):
            return NotImplemented
        return (self.node == other.node and self.kind == other.kind
                and self.shape == other.shape and self.container == other.container
                and self.keys == other.keys and self.children == other.children)

    def __hash__(self) -> int:
        return hash((self.node, self.kind, self.shape, self.keys, self.children))

    def __repr__(self) -> str:
        if self.node is None:
            return f"TreeDef({self.kind}{'' if self.shape == () else ' ' + str(self.shape)})"
        return f"TreeDef({self.node}, {list(self.children)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Field by field, so that equal structures pickle to equal bytes.
        return (TreeDef, (self.node, self.kind, self.shape, self.container, self.keys,
                          self.children))

    # ---- rebuilding ----------------------------------------------------------

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """The structure with the given leaf values, in order."""
        if self.node is None and type(leaves) is list and len(leaves) == 1:
            return leaves[0]
        values = iter(leaves)
        result = self._build(values)
        if next(values, _END) is not _END:
            raise ValueError("TreeDef.unflatten: more leaves than the structure has")
        return result

    def _build(self, values: Iterator[Any]) -> Any:
        if self.node is None:
            value = next(values, _END)
            if value is _END:
                raise ValueError("TreeDef.unflatten: fewer leaves than the structure has")
            return value
        items = [child._build(values) for child in self.children]
        return self._container_of(items)

    def _container_of(self, items: list[Any]) -> Any:
        if self.node == "list":
            return items
        if self.node == "tuple":
            return tuple(items)
        if self.node == "namedtuple":
            return self.container(*items)
        kind, factory = self.container
        out = kind(factory) if kind is collections.defaultdict else kind()
        for key, item in zip(self.keys, items):
            out[key] = item
        return out

    def split(self, flat: Any, out_shape: tuple[int, ...] | None = None,
              holomorphic: bool = False) -> Any:
        """Results in this structure from the columns of flat.

        flat is a vector over the real scalars (a gradient; out_shape None)
        or an array (out_shape + (n_real,)) of rows over the outputs (a
        Jacobian: each leaf gets shape out_shape + its shape, each number
        of a NUMBERS leaf an array of out_shape). A complex leaf packs its
        (Re, Im) columns as d/dRe + 1j d/dIm, or, with holomorphic, takes
        the derivative along the real axis (f'(z) of a holomorphic f whose
        outputs are already packed). Object columns (Vars of an enclosing
        transform) give Vars.
        """
        flat = np.asarray(flat)
        if out_shape is None and flat.dtype == np.float64 and flat.ndim == 1:
            # A gradient of numbers (the replay's hot path): no packing of
            # column pairs, each leaf read off its slice.
            return self.unflatten([leaf._gradient_leaf(flat, offset) for leaf, offset
                                   in zip(self._leaves, self._offsets)])
        results = []
        offset = 0
        for leaf in self._leaves:
            columns = flat[..., offset:offset + leaf.n_real]
            offset += leaf.n_real
            if leaf.kind in COMPLEX_KINDS:
                re, im = columns[..., 0::2], columns[..., 1::2]
                columns = re if holomorphic else _complex_from_parts(re, im)
            results.append(leaf._leaf_result(columns, out_shape))
        return self.unflatten(results)

    def _gradient_leaf(self, flat: np.ndarray, offset: int) -> Any:
        """This leaf's part of a float64 gradient vector, at offset."""
        kind = self.kind
        if kind == SCALAR:
            return float(flat[offset])
        if kind == COMPLEX_SCALAR:
            return complex(float(flat[offset]), float(flat[offset + 1]))
        part = flat[offset:offset + self.n_real]
        if kind == NUMBERS:
            return self._numbers_of(part.tolist())
        if kind == COMPLEX_NUMBERS:
            return self._numbers_of(np.ascontiguousarray(part).view(np.complex128).tolist())
        if kind == ARRAY:
            return part.reshape(self.shape)
        return np.ascontiguousarray(part).view(np.complex128).reshape(self.shape)

    def _leaf_result(self, columns: np.ndarray, out_shape: tuple[int, ...] | None) -> Any:
        if self.kind in SEQUENCE_KINDS:
            if out_shape is None:
                items = list(columns) if columns.dtype == object else columns.tolist()
            else:
                items = [_block(columns[..., k], out_shape, ()) for k in range(self.shape[0])]
            return self._numbers_of(items)
        if out_shape is None:
            if self.kind in (SCALAR, COMPLEX_SCALAR):
                value = columns[0]
                if columns.dtype == object:
                    return value
                return complex(value) if columns.dtype.kind == "c" else float(value)
            return columns.reshape(self.shape)
        return _block(columns, out_shape, self.shape)

    def _numbers_of(self, items: list[Any]) -> Any:
        """A sequence leaf's items in its container type."""
        if self.container is list or self.container is None:
            return items
        if self.container is tuple:
            return tuple(items)
        return self.container(*items)

    def blocks(self, leaf_block: Callable[[int, int, TreeDef], Any]) -> Any:
        """This structure with leaf_block(offset, n_real, leaf) at each leaf
        (at each number of a sequence leaf, as a scalar leaf)."""
        results = []
        offset = 0
        for leaf in self._leaves:
            if leaf.kind in SEQUENCE_KINDS:
                item = _SCALAR_LEAF if leaf.kind == NUMBERS else _COMPLEX_SCALAR_LEAF
                results.append(leaf._numbers_of([
                    leaf_block(offset + k * item.n_real, item.n_real, item)
                    for k in range(leaf.shape[0])]))
            else:
                results.append(leaf_block(offset, leaf.n_real, leaf))
            offset += leaf.n_real
        return self.unflatten(results)

    # ---- reading values in this structure -------------------------------------

    def flat_values(self, x: Any, where: str, what: str = "tangent") -> list[Any]:
        """x's scalars in input order (floats, or Vars of an enclosing
        transform), checking that x (a tangent, a direction, a point) has
        this structure and these shapes."""
        out: list[Any] = []
        self._flat_values(x, where, what, out)
        return out

    def _flat_values(self, x: Any, where: str, what: str, out: list[Any]) -> None:
        if self.node is not None:
            items = self._items_of(x, where)
            for (label, item), child in zip(items, self.children):
                child._flat_values(item, f"{where}[{label!r}]" if self.node == "dict"
                                   else f"{where}[{label}]", what, out)
            return
        if self.kind == SCALAR:
            out.append(_real_scalar(x, where, what))
        elif self.kind == COMPLEX_SCALAR:
            if isinstance(x, np.ndarray) and x.shape == ():
                x = x[()]
            if type(x) is Var or type(x) is ComplexVar or (
                    isinstance(x, (numbers.Number, np.number))
                    and not isinstance(x, (bool, np.bool_))):
                out.extend(_complex_parts(x))
                return
            raise TypeError(f"{where}: expected a complex number, got {describe(x)}")
        elif self.kind in SEQUENCE_KINDS:
            if not isinstance(x, (list, tuple, np.ndarray)) or len(x) != self.shape[0]:
                raise ValueError(f"{where}: expected a sequence of {self.shape[0]} numbers, "
                                 f"got {describe(x)}"
                                 + (f" of length {len(x)}" if hasattr(x, "__len__") else ""))
            for k, item in enumerate(x):
                if self.kind == NUMBERS:
                    out.append(_real_scalar(item, f"{where}[{k}]", what))
                else:
                    _COMPLEX_SCALAR_LEAF._flat_values(item, f"{where}[{k}]", what, out)
        else:
            arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
            if arr.shape != self.shape:
                raise ValueError(f"{where}: has shape {arr.shape}, but the argument has "
                                 f"shape {self.shape}")
            if arr.dtype == object:
                for k, item in enumerate(arr.reshape(-1)):
                    if self.kind == ARRAY:
                        out.append(_real_scalar(item, f"{where}[{k}]", what))
                    else:
                        _COMPLEX_SCALAR_LEAF._flat_values(item, f"{where}[{k}]", what, out)
                return
            if arr.dtype.kind == "c" and self.kind == ARRAY:
                raise TypeError(f"{where}: the argument is real, but the {what} is complex")
            if arr.dtype.kind not in "biufc":
                raise TypeError(f"{where}: expected numbers, got {describe(arr)}")
            if self.kind == ARRAY:
                out.extend(np.asarray(arr, dtype=np.float64).reshape(-1).tolist())
            else:
                out.extend(np.ascontiguousarray(arr, dtype=np.complex128).reshape(-1)
                           .view(np.float64).tolist())

    def flat_array(self, x: Any, where: str, batch: int | None = None) -> np.ndarray:
        """x (numbers only) as a float64 vector over the real scalars, or,
        with batch = k, x with a leading axis of length k on every leaf as a
        (k, n_real) matrix; ValueError naming the leaf on a wrong structure
        or shape."""
        if batch is None:
            try:
                return self._flat_array_fast(x)
            except (TypeError, ValueError, OverflowError):
                pass  # the walk below names what is wrong
        columns: list[np.ndarray] = []
        self._flat_arrays(x, where, batch, columns)
        if batch is None:
            if not columns:
                return np.zeros(0, dtype=np.float64)
            return np.ascontiguousarray(np.concatenate(columns), dtype=np.float64)
        if not columns:
            return np.zeros((batch, 0), dtype=np.float64)
        return np.ascontiguousarray(np.concatenate(columns, axis=1), dtype=np.float64)

    def _flat_array_fast(self, x: Any) -> np.ndarray:
        """flat_array of a point, leaf by leaf into one vector; raises
        without naming the leaf (flat_array then walks for the message)."""
        out = np.empty(self.n_real, dtype=np.float64)
        for value, leaf, offset in zip(self.leaves_of(x, ""), self._leaves, self._offsets):
            kind = leaf.kind
            if type(value) is float or type(value) is int:
                if kind != SCALAR:
                    raise TypeError("not a scalar leaf")
                out[offset] = value
                continue
            if type(value) is Var or type(value) is ComplexVar:
                raise TypeError("a Var")
            if kind == SCALAR:
                out[offset] = _real_scalar(value, "")
            elif kind == COMPLEX_SCALAR:
                if not isinstance(value, (numbers.Number, np.number)) or isinstance(
                        value, (bool, np.bool_)):
                    raise TypeError("not a number")
                number = complex(value)  # type: ignore[arg-type]
                out[offset] = number.real
                out[offset + 1] = number.imag
            else:
                arr = np.asarray(value)
                if arr.shape != leaf.shape or arr.dtype.kind not in (
                        "biufc" if kind in COMPLEX_KINDS else "biuf"):
                    raise ValueError("shape or kind")
                if kind in COMPLEX_KINDS:
                    arr = np.ascontiguousarray(arr, dtype=np.complex128).view(np.float64)
                out[offset:offset + leaf.n_real] = arr.reshape(-1)
        return out

    def _flat_arrays(self, x: Any, where: str, batch: int | None, out: list[np.ndarray]) -> None:
        if self.node is not None:
            for (label, item), child in zip(self._items_of(x, where), self.children):
                child._flat_arrays(item, f"{where}[{label!r}]" if self.node == "dict"
                                   else f"{where}[{label}]", batch, out)
            return
        if type(x) is Var or type(x) is ComplexVar:
            raise TypeError(f"{where}: a Function replays numbers, not fastad.Vars")
        if self.kind in SEQUENCE_KINDS and batch is not None:
            # A list of numbers is a list of leaves: each has the batch axis.
            if not isinstance(x, (list, tuple)) or len(x) != self.shape[0]:
                raise ValueError(f"{where}: expected a sequence of {self.shape[0]} "
                                 f"arrays of shape ({batch},), got {describe(x)}")
            x = np.stack([np.asarray(item) for item in x], axis=-1) if self.shape[0] else \
                np.zeros((batch, 0))
        arr = np.asarray(x)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{where}: expected numbers, got {describe(arr)}")
        shape = self.shape if batch is None else (batch,) + self.shape
        if arr.shape != shape:
            raise ValueError(f"{where}: has shape {arr.shape}, expected {shape}")
        if self.kind in COMPLEX_KINDS:
            pairs = np.ascontiguousarray(arr, dtype=np.complex128).view(np.float64)
            out.append(pairs.reshape(-1) if batch is None else pairs.reshape(batch, -1))
        else:
            if arr.dtype.kind == "c":
                raise TypeError(f"{where}: the argument is real, but this is complex")
            real = np.asarray(arr, dtype=np.float64)
            out.append(real.reshape(-1) if batch is None else real.reshape(batch, -1))

    def leaves_of(self, x: Any, where: str) -> list[Any]:
        """x's leaves, following this structure (ValueError naming the
        position where x's containers differ from it)."""
        if self.node is None:
            return [x]
        out: list[Any] = []
        for (label, item), child in zip(self._items_of(x, where), self.children):
            out.extend(child.leaves_of(item, f"{where}[{label!r}]" if self.node == "dict"
                                       else f"{where}[{label}]"))
        return out

    def _items_of(self, x: Any, where: str) -> list[tuple[Any, Any]]:
        """(label, item) pairs of container x, which must match this node."""
        if self.node == "dict":
            if not isinstance(x, dict) or list(x) != list(self.keys):
                if isinstance(x, dict) and set(x) == set(self.keys):
                    return [(key, x[key]) for key in self.keys]
                raise ValueError(f"{where}: expected a dict with keys {list(self.keys)}, got "
                                 + (f"keys {list(x)}" if isinstance(x, dict) else describe(x)))
            return [(key, x[key]) for key in self.keys]
        if not isinstance(x, (list, tuple)) or len(x) != len(self.children):
            raise ValueError(
                f"{where}: expected a {self.node} of {len(self.children)} items, got "
                + (f"a {type(x).__name__} of {len(x)}" if isinstance(x, (list, tuple))
                   else describe(x)))
        return list(enumerate(x))


_END = object()

_LEAF_KINDS = (SCALAR, ARRAY, COMPLEX_SCALAR, COMPLEX_ARRAY, NUMBERS, COMPLEX_NUMBERS)
# Bounds that no real argument reaches, so that sizes stay exact in int64.
_MAX_DIMENSION = 2 ** 31
_MAX_SCALARS = 2 ** 40


def checked(tree: Any) -> TreeDef:
    """A TreeDef rebuilt from tree's fields after checking each of them, as
    flatten makes them; ValueError naming what is wrong otherwise.

    A pickled Function's input structure goes through here: its n_real,
    leaves and offsets are recomputed, not read, so that a corrupt pickle
    cannot make a replay read more inputs than the caller passes.
    """
    try:
        result = _checked(tree)
    except RecursionError:
        raise ValueError("fastad: corrupt argument structure (nested too deeply)") from None
    if result.n_real > _MAX_SCALARS:
        raise ValueError(f"fastad: corrupt argument structure ({result.n_real} scalars)")
    return result


def _corrupt(what: str) -> ValueError:
    return ValueError(f"fastad: corrupt argument structure ({what})")


def _checked(tree: Any) -> TreeDef:
    if type(tree) is not TreeDef:
        raise _corrupt(f"a part is {describe(tree)}, not a TreeDef")
    try:
        node, kind, shape = tree.node, tree.kind, tree.shape
        container, keys, children = tree.container, tree.keys, tree.children
    except AttributeError as error:
        raise _corrupt(str(error)) from None
    if type(shape) is not tuple or not all(
            type(d) is int and 0 <= d < _MAX_DIMENSION for d in shape):
        raise _corrupt(f"shape {shape!r}")
    if type(keys) is not tuple or type(children) is not tuple:
        raise _corrupt("keys and children must be tuples")
    if node is None:
        if type(kind) is not str or kind not in _LEAF_KINDS:
            raise _corrupt(f"leaf kind {kind!r}")
        if keys or children:
            raise _corrupt("a leaf with children")
        if kind in (SCALAR, COMPLEX_SCALAR) and (shape != () or container is not None):
            raise _corrupt(f"a number of shape {shape}")
        if kind in (ARRAY, COMPLEX_ARRAY) and container is not None:
            raise _corrupt("an array in a container")
        if kind in SEQUENCE_KINDS and (
                len(shape) != 1 or shape[0] < 1
                or not (container in (None, list, tuple) or _is_namedtuple(container,
                                                                           shape[0]))):
            raise _corrupt(f"a sequence of numbers of shape {shape} in {container!r}")
        return TreeDef(None, kind, shape, container, (), ())
    if kind is not None or shape != ():
        raise _corrupt(f"a {node!r} node with a kind or a shape")
    parts = tuple(_checked(child) for child in children)
    if node == "list" or node == "tuple":
        if container is not (list if node == "list" else tuple) or keys:
            raise _corrupt(f"a {node} of {container!r}")
    elif node == "namedtuple":
        if not _is_namedtuple(container, len(parts)) or keys:
            raise _corrupt(f"a namedtuple of {container!r}")
    elif node == "dict":
        if (type(container) is not tuple or len(container) != 2
                or not isinstance(container[0], type) or not issubclass(container[0], dict)
                or not (container[1] is None or callable(container[1]))):
            raise _corrupt(f"a dict of {container!r}")
        if len(keys) != len(parts):
            raise _corrupt(f"a dict of {len(keys)} keys and {len(parts)} values")
        try:
            distinct = len(set(keys)) == len(keys)
        except TypeError:
            distinct = False
        if not distinct:
            raise _corrupt("a dict whose keys are not distinct")
    else:
        raise _corrupt(f"node {node!r}")
    return TreeDef(node, None, (), container, keys, parts)


def _is_namedtuple(container: Any, length: int) -> bool:
    fields = getattr(container, "_fields", None)
    return (isinstance(container, type) and issubclass(container, tuple)
            and type(fields) is tuple and len(fields) == length)


def _block(columns: np.ndarray, out_shape: tuple[int, ...], shape: tuple[int, ...]) -> Any:
    """Jacobian columns as an array of out_shape + shape (a NumPy scalar for ())."""
    block = columns.reshape(tuple(out_shape) + tuple(shape))
    return block[()] if block.shape == () else block


def _real_scalar(x: Any, where: str, what: str = "value") -> Any:
    """A real number as a float (a Var of an enclosing transform as it is)."""
    if type(x) is Var:
        return x
    if type(x) is float:
        return x
    if type(x) is Array and x.shape == ():
        return x[()]
    if isinstance(x, np.ndarray) and x.shape == ():
        if x.dtype.kind in "biuf":
            return float(x)
        if x.dtype == object:  # a 0-d array holding a number or a Var
            return _real_scalar(x[()], where, what)
    if isinstance(x, _COMPLEX_TYPES + (ComplexVar,)):
        raise TypeError(f"{where}: the argument is real, but the {what} is complex")
    if isinstance(x, _REAL_TYPES):
        return float(x)
    raise TypeError(f"{where}: expected a real number, got {describe(x)}")


def _leaf(x: Any, where: str) -> TreeDef | None:
    """The TreeDef of x if it is a leaf, else None (a container)."""
    kind: Any = type(x)
    if kind is list or kind is tuple:  # the most common argument first
        if _is_number_list(x):
            return _numbers_leaf(len(x), kind)
        return _complex_numbers_leaf(len(x), kind) if _is_complex_list(x) else None
    if kind is float or kind is int or kind is Var:
        return _SCALAR_LEAF
    if kind is dict:
        return None
    if kind is Array:
        return _array_leaf(ARRAY, x.shape)
    if kind is np.ndarray and x.dtype.kind == "f":  # the common array argument
        return _array_leaf(ARRAY, x.shape)
    if isinstance(x, np.ndarray):
        if isinstance(x, (np.ma.MaskedArray, np.matrix)):
            raise TypeError(f"{where}: {type(x).__name__} is not supported (pass np.asarray(x))")
        if _is_complex_array(x):
            return _array_leaf(COMPLEX_ARRAY, x.shape)
        if x.dtype.kind not in "biufO":
            raise TypeError(f"{where}: expected numbers, got {describe(x)}")
        return _array_leaf(ARRAY, x.shape)
    if kind is ComplexVar or isinstance(x, _COMPLEX_TYPES):
        return _COMPLEX_SCALAR_LEAF
    if isinstance(x, _REAL_TYPES):
        return _SCALAR_LEAF
    if isinstance(x, (list, tuple)):
        container: Any = type(x) if hasattr(type(x), "_fields") else (
            list if isinstance(x, list) else tuple)
        if _is_number_list(x):
            return _numbers_leaf(len(x), container)
        return _complex_numbers_leaf(len(x), container) if _is_complex_list(x) else None
    if isinstance(x, dict):
        return None
    raise TypeError(
        f"{where}: expected a number, an array or a fastad.Var, or a list, tuple or dict "
        f"of them, got {describe(x)}")


# Leaf TreeDefs are values: the common ones are made once.
@functools.lru_cache(maxsize=512)
def _numbers_leaf(n: int, container: Any) -> TreeDef:
    return TreeDef(None, NUMBERS, (n,), container, (), ())


@functools.lru_cache(maxsize=512)
def _complex_numbers_leaf(n: int, container: Any) -> TreeDef:
    return TreeDef(None, COMPLEX_NUMBERS, (n,), container, (), ())


def _is_complex_list(x: Any) -> bool:
    """A non-empty list or tuple of complex numbers (Python or NumPy): one
    leaf, as a list of real numbers is."""
    return bool(x) and all(type(item) is complex or isinstance(item, np.complexfloating)
                           for item in x)


@functools.lru_cache(maxsize=512)
def _array_leaf(kind: str, shape: tuple[int, ...]) -> TreeDef:
    return TreeDef(None, kind, shape, None, (), ())


_SCALAR_LEAF = TreeDef(None, SCALAR, (), None, (), ())
_COMPLEX_SCALAR_LEAF = TreeDef(None, COMPLEX_SCALAR, (), None, (), ())


def flatten(x: Any, where: str = "argument",
            paths: list[str] | None = None) -> tuple[list[Any], TreeDef]:
    """The leaves of x, in order, and its TreeDef; with a list `paths`, also
    each leaf's position (``where[1]['w']``), for error messages.

    Raises TypeError naming the position of anything that is neither a
    leaf nor a list, tuple or dict.
    """
    leaf = _leaf(x, where)
    if leaf is not None:  # a single leaf: no walk
        if paths is not None:
            paths.append(where)
        return [x], leaf
    leaves: list[Any] = []
    tree = _flatten(x, where, leaves, paths)
    return leaves, tree


def _flatten(x: Any, where: str, leaves: list[Any], paths: list[str] | None) -> TreeDef:
    leaf = _leaf(x, where)
    if leaf is not None:
        leaves.append(x)
        if paths is not None:
            paths.append(where)
        return leaf
    if isinstance(x, dict):
        kind = type(x)
        factory = x.default_factory if isinstance(x, collections.defaultdict) else None
        children = tuple(_flatten(item, f"{where}[{key!r}]", leaves, paths)
                         for key, item in x.items())
        return TreeDef("dict", None, (), (kind, factory), tuple(x), children)
    children = tuple(_flatten(item, f"{where}[{k}]", leaves, paths)
                     for k, item in enumerate(x))
    if type(x) is list:
        return TreeDef("list", None, (), list, (), children)
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):
        return TreeDef("namedtuple", None, (), type(x), (), children)
    return TreeDef("tuple", None, (), tuple, (), children)
