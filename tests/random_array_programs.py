"""Random whole-array programs for fastad.Array, and the checks run on each.

The companion of tests/random_programs.py (random *scalar* programs), whose
machinery this module reuses: the test catalogue's operations and spellings,
the plain-float operands (PF) with their reference tape, the mpmath operands
(MP), the reference sweeps and rounding bounds, the finite differences in
mpmath and the Outcome counters. A program is generated as the source text of
a function of 1 to 3 float arrays of small random shapes ((3,), (2, 3),
(4, 1), ...) written in whole-array NumPy code:

* every operation of the catalogue elementwise, in every spelling that takes
  an array (operators, ``abs()``, ``np.<ufunc>``, ``F.<name>``; ``math.floor``
  and ``round`` only on scalars), its operands mapped into its domain by the
  catalogue's map most of the time, with broadcasting between arrays of
  different shapes, scalars (reductions) and constant float arrays;
* views: ``x[1:]``, ``x[:-1]``, ``x[::2]``, ``x[:, 0]``, ``x[i]``, ``x.T``,
  ``reshape``, ``np.flip``, ``np.roll``, ``np.broadcast_to``;
  ``np.concatenate`` and ``np.stack``; ``np.cumsum``, ``np.diff``,
  ``np.clip``, ``np.outer``;
* reductions ``sum mean prod max min`` (functions and methods) with and
  without ``axis`` (and ``keepdims``);
* products ``@``, ``np.dot``, ``np.matmul`` and ``np.tensordot`` with
  constant float matrices and between two arrays;
* masks: comparisons of arrays (``fastad.Mask``), ``&``, ``|``, ``~``,
  ``F.where(mask, a, b)``, ``np.where`` and ``x * (x > c)``, and
  ``r[mask] = c``;
* assignment into ``np.zeros_like(x)`` and ``F.zeros(shape)``, filled
  completely (residual style) or in part;
* some programs branch in Python on a scalar (``if np.sum(v) > c:``: a branch
  guard) and accumulate in short loops; "edgy" programs take 0, -0.0, +-inf,
  nan, huge and tiny values as constants and inputs.

``F`` is fastad's namespace of functions (``F.where`` is fastad.where,
``F.zeros`` fastad.zeros). Each program returns a scalar; its array-output
variant (the same body returning its last array value) is checked through
the Jacobians.

The same source runs four ways:

* with fastad (Array mode): the arguments arrive as fastad.Arrays;
* with fastad on object arrays of Vars (object mode): ``f(np.asarray(x))``,
  NumPy's object loops;
* on plain floats and in mpmath (the reference): the arrays are RefArrays,
  object arrays of random_programs' PF / MP operands whose NumPy protocol
  follows fastad.Array's documented semantics (reductions folded left to
  right over the reduced axes in C order, ``np.max`` and ``np.maximum`` the
  catalogue's maximum (nan propagates, the first argument on ties),
  ``where`` selecting elements); constant elements are CF operands
  (fastad's float rules). ``if`` statements are compiled with their test
  wrapped in ``__branch__`` (an AST transform of the same source), so the
  reference knows the branch pattern (the guards) apart from the outcomes
  of mask comparisons (no guards), which it records with the pieces of
  piecewise operations.

Comparisons (CHECKS):

* bit for bit: the value against the plain-float reference; argnums against
  one tuple argument; replay at other points (the traced branch, other mask
  patterns with no re-trace, other branches with one re-trace),
  retrace=False, batches on 1 and 2 threads, pickled Functions and
  Function.jacobian/jvp/vjp against fresh recordings; jacrev and vjp(1.0)
  against grad; hessian against Function.hessian.
* object mode against Array mode: bit for bit (value and gradient) where the
  two recordings are the same tape (the same entries in the same order, up
  to how the constant pool is numbered); otherwise to rounding (the same inf
  and nan; finite values within 4 x the reference's first-order rounding
  bound of the value, gradients within the chain rule's rounding bound plus
  4 (L + 2) eps times the sum of |path products|). The tapes differ where
  NumPy's object loops record other entries: ``np.max``/``np.maximum``
  compare elements (guards, no entries), ``x * mask`` multiplies by a
  constant 0/1 where an Array multiplies by a comparison entry, ``where``
  with object operands selects elements, and NumPy's object reductions
  follow the memory layout of a view (``np.sum(x.T)``). Known, documented differences (README: "NumPy
  object arrays of Vars"), counted, not failed: the compare-based max/min
  skip nan; an object array that mixes Vars and numbers (np.zeros_like of
  an object array holds int 0, np.clip gives its bound) makes np.exp raise
  and computes its number elements with Python's semantics
  (ZeroDivisionError, complex powers); a sum in memory order overflows
  where the other order does not (terms near the end of the float range).
* to rounding (as the scalar checker): jacfwd and jvp against the
  reference forward sweep, grad against the reference reverse sweep, jacfwd
  against jacrev, grad_function against grad; for the array-output variant,
  each row of jacrev, jacfwd and the object-mode Jacobian against the
  reference reverse sweep of that output element, and vjp with a random
  cotangent against one reference sweep seeded with it (its value, F(x)
  and Function.jacobian in both modes bit for bit).
* against mpmath: the value; the gradient along a random direction and
  along single elements by central differences (random_programs' steps,
  precision and rounding estimates); the Hessian times a random direction
  against central differences of Function.grad (Richardson), doubtful
  entries again against mixed second differences in mpmath.

``python tests/random_array_programs.py --seed S --index I`` prints one
program and checks it; ``--count N --workers W`` runs many.
"""

import ast
import math
import os
import pickle
import random
import sys
import time
import types
from collections import Counter

import mpmath
import numpy as np
from mpmath import mpf

if __name__ == "__main__":  # run as a script from a source tree: use its fastad
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastad

import random_programs as rp
from random_programs import DBL_MAX, DBL_MIN, EPS, INF, MP, MP_DPS, NAN, PF

# ---- constant elements --------------------------------------------------------------------------


def _is_operand(e):
    return isinstance(e, rp.Operand)


def _is_nan(v):
    if type(v) is MP:
        return mpmath.isnan(v.v)
    try:
        f = float(v.v) if isinstance(v, (PF, CF)) else float(v)
    except (TypeError, ValueError):
        return False
    return f != f


class CF(rp.Operand):
    """A constant element of an array (np.zeros_like, F.zeros, where, literals):
    operations on constants only give fastad's float result (Op.on_floats, what
    fastad.Array folds into its constant pool). Where NumPy's object loops
    would compute such an element with Python's semantics in object mode (a
    method call such as np.exp, which a Python number lacks, or / // % **,
    which raise or go complex on Python floats), the run is flagged
    (``consts``): object mode may differ there (a documented limitation)."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = float(v)

    def __float__(self):
        return self.v

    def __repr__(self):
        return f"CF({self.v!r})"

    def _dispatch(self, name, args):
        if any(isinstance(a, np.ndarray) for a in args):
            return NotImplemented
        if name in CF_PYTHON_SEMANTICS and not any(type(a) in (PF, MP) for a in args):
            _flag_consts()
        return rp.Operand._dispatch(self, name, args)

    def __getattr__(self, name):
        if not name.startswith("__") and rp.UNARY_PROTOCOL.get((name, ())) is not None:
            _flag_consts()      # np.exp(c): a Python number has no .exp()
        return rp.Operand.__getattr__(self, name)

    def _apply(self, spelling, operands):
        return ref_apply(spelling, operands)

    def _compare(self, o, how):
        if type(o) in (PF, MP):     # the comparison of the variable, mirrored
            return o._compare(self, _MIRROR[how])
        return bool(rp._COMPARE[how](self.v, float(o)))


_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
# protocol calls on Python numbers whose result differs from NumPy's or raises
CF_PYTHON_SEMANTICS = {"__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__",
                       "__mod__", "__rmod__", "__pow__", "__rpow__", "__round__"}


def _flag_consts():
    run = rp._run
    if run is not None and hasattr(run, "consts"):
        run.consts = True


def ref_apply(spelling, operands):
    """The operation on the reference's operands: the plain-float run (PF), the
    mpmath run (MP), or constants only (CF, fastad's float rules)."""
    for o in operands:
        if type(o) is PF:
            return rp._pf_apply(spelling, operands)
        if type(o) is MP:
            return rp._m_apply(spelling.op, operands)
    values = [np.float64(float(o)) for o in operands]
    with np.errstate(all="ignore"):
        return CF(float(spelling.on_floats(*values)))


# ---- the reference's arrays ---------------------------------------------------------------------

def _plain(x):
    """x with RefArrays as plain object ndarrays (also inside lists and tuples)."""
    if isinstance(x, RefArray):
        return x.view(np.ndarray)
    if type(x) in (list, tuple):
        return type(x)(_plain(e) for e in x)
    return x


def _element(e):
    return e if _is_operand(e) else CF(float(e))


def wrap(x):
    """A result of NumPy on the reference's operands as the reference sees it:
    object and float arrays as RefArrays of operands (numbers as CF), boolean
    arrays as they are, lists and tuples item by item, numbers as CF."""
    if isinstance(x, np.ndarray):
        if x.ndim == 0 and x.dtype != bool:
            return wrap(x[()])      # NumPy's 0-d results (tensordot): fastad gives a scalar
        if x.dtype == bool:
            return x.view(np.ndarray)
        if x.dtype != object:
            out = np.empty(x.shape, dtype=object)
            flat = out.reshape(-1)
            for k, v in enumerate(x.reshape(-1)):
                flat[k] = CF(float(v))
            return out.view(RefArray)
        base = x.view(np.ndarray)
        if all(_is_operand(v) for v in base.reshape(-1)):
            return base.view(RefArray)
        base = base.copy()
        flat = base.reshape(-1)
        for k, v in enumerate(flat):
            if not _is_operand(v):
                flat[k] = _element(v)
        return base.view(RefArray)
    if type(x) in (list, tuple):
        return type(x)(wrap(e) if isinstance(e, (np.ndarray, list, tuple)) else e for e in x)
    if isinstance(x, (float, np.floating)):
        return CF(float(x))
    return x        # operands, booleans, integers (shapes, sizes)


_SPELL = {name: rp.SPELLINGS[name][0] for name in rp.OPS}
_FIRST = {"sum": "add", "mean": "add", "prod": "multiply", "max": "maximum", "min": "minimum",
          "amax": "maximum", "amin": "minimum"}


def _note_nan(operands):
    run = rp._run
    if run is not None and hasattr(run, "compare_nan") and any(_is_nan(o) for o in operands):
        run.compare_nan = True


def _select(name, a, b):
    """maximum/minimum the way fastad.Array records them (np.max, np.maximum,
    np.clip): the catalogue's operation elementwise. NumPy's object loops
    compare instead (object mode) and give the operand itself, which differs
    where an operand is nan (compare_nan), and is a number where a constant
    (a bound of np.clip) is chosen (consts: a mixed object array)."""
    _note_nan((a, b))
    if type(a) is CF or type(b) is CF:
        va, vb = (o.v if _is_operand(o) else float(o) for o in (a, b))
        chosen = a if (va >= vb if name == "maximum" else va <= vb) else b
        if type(chosen) is CF and not (type(a) is CF and type(b) is CF):
            _flag_consts()
    return ref_apply(_SPELL[name], (a, b))


def _vectorize(fn, arity):
    ufunc = np.frompyfunc(fn, arity, 1)

    def call(*operands):
        if any(isinstance(o, np.ndarray) for o in operands):
            return wrap(ufunc(*_plain(operands)))
        return fn(*operands)
    return call


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted(int(k) % ndim for k in items))


def reduce_ref(a, name, axis=None, keepdims=False):
    """A reduction as fastad.Array records it: the reduced axes moved last, each
    row (C order) folded left to right; mean is the sum divided by the count."""
    arr = np.asarray(_plain(a), dtype=object)
    if arr.ndim == 0:
        arr = arr.reshape(1)
        axis = None
    axes = _axes(axis, arr.ndim)
    kept = [k for k in range(arr.ndim) if k not in axes]
    out_shape = tuple(arr.shape[k] for k in kept)
    n_red = int(np.prod([arr.shape[k] for k in axes])) if axes else 1
    rows = np.transpose(arr, kept + list(axes)).reshape(-1, n_red)
    op = _FIRST[name]
    out = np.empty(rows.shape[0], dtype=object)
    for i, row in enumerate(rows):
        acc = _element(row[0])
        for e in row[1:]:
            e = _element(e)
            acc = _select(op, acc, e) if op in ("maximum", "minimum") else ref_apply(
                _SPELL[op], (acc, e))
        if name == "mean":
            acc = ref_apply(_SPELL["divide"], (acc, float(n_red)))
        out[i] = acc
    out = out.reshape(out_shape)
    if keepdims:
        out = out.reshape(tuple(1 if k in axes else arr.shape[k] for k in range(arr.ndim)))
    if out.ndim == 0:
        return out[()]
    return out.view(RefArray)


class RefArray(np.ndarray):
    """An object array of the reference's operands (PF or MP, and CF) with
    fastad.Array's semantics where NumPy's object loops have others: the
    reductions (methods) fold as reduce_ref; np.maximum and np.minimum are the
    catalogue's operations; results are RefArrays again."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        args = _plain(inputs)
        if method == "__call__" and ufunc in (np.maximum, np.minimum):
            name = "maximum" if ufunc is np.maximum else "minimum"
            return _vectorize(lambda a, b: _select(name, _element(a), _element(b)), 2)(*args)
        if method == "reduce" and ufunc in (np.add, np.multiply, np.maximum, np.minimum):
            name = {np.add: "sum", np.multiply: "prod", np.maximum: "max",
                    np.minimum: "min"}[ufunc]
            return reduce_ref(args[0], name, kwargs.get("axis", 0), kwargs.get("keepdims", False))
        return wrap(getattr(ufunc, method)(*args, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return wrap(func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return reduce_ref(self, "sum", axis, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return reduce_ref(self, "mean", axis, keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return reduce_ref(self, "prod", axis, keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return reduce_ref(self, "max", axis, keepdims)

    def clip(self, lo=None, hi=None):
        return _RefNumpy.clip(self, lo, hi)

    def min(self, axis=None, out=None, keepdims=False):
        return reduce_ref(self, "min", axis, keepdims)

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray):
            value = _plain(wrap(value))
        elif not _is_operand(value):
            value = CF(float(value))
        np.ndarray.__setitem__(self.view(np.ndarray), key, value)


def _ref_full(shape, fill=0.0):
    out = np.empty(shape, dtype=object)
    flat = out.reshape(-1)
    for k in range(flat.shape[0]):
        flat[k] = CF(fill)
    return out.view(RefArray)


class _RefNumpy:
    """``np`` in the reference run: NumPy, with the functions that compute
    following fastad.Array (reductions, maximum, minimum, clip, where) and
    every result wrapped (constant arrays are RefArrays of CF)."""

    def __init__(self):
        self._cache = {}

    def __getattr__(self, name):
        cache = self.__dict__.setdefault("_cache", {})
        if name in cache:
            return cache[name]
        target = getattr(np, name)
        if isinstance(target, np.ufunc):
            fn = self._ufunc(target)
        elif callable(target) and not isinstance(target, type):
            fn = lambda *args, _f=target, **kwargs: wrap(   # noqa: E731
                _f(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))
        else:
            fn = target
        cache[name] = fn
        return fn

    @staticmethod
    def _ufunc(ufunc):
        if ufunc in (np.maximum, np.minimum):
            name = "maximum" if ufunc is np.maximum else "minimum"
            return _vectorize(lambda a, b: _select(name, _element(a), _element(b)), 2)

        def call(*args, **kwargs):
            return wrap(ufunc(*_plain(args), **kwargs))
        return call

    @staticmethod
    def array(obj, dtype=None):
        return wrap(np.array(obj, dtype=np.float64))

    @staticmethod
    def zeros_like(a, *args, **kwargs):
        return _ref_full(np.shape(a), 0.0)

    @staticmethod
    def ones_like(a, *args, **kwargs):
        return _ref_full(np.shape(a), 1.0)

    @staticmethod
    def where(cond, a, b):
        return wrap(np.where(_plain(cond), _plain(a), _plain(b)))

    @staticmethod
    def clip(a, lo, hi):
        a = _RefNumpy._ufunc(np.maximum)(a, lo) if lo is not None else a
        return _RefNumpy._ufunc(np.minimum)(a, hi) if hi is not None else a


for _name in ("sum", "mean", "prod", "max", "min", "amax", "amin"):
    setattr(_RefNumpy, _name, staticmethod(
        (lambda n: lambda a, axis=None, keepdims=False, **kw: reduce_ref(
            a if isinstance(a, np.ndarray) else np.asarray([a], dtype=object).reshape(()),
            n, axis, keepdims))(_name)))

REF_NUMPY = _RefNumpy()


def _ref_namespace():
    ns = types.SimpleNamespace()
    for attr, spelling in rp.FUNCTIONS.items():
        setattr(ns, attr, _vectorize((lambda s: lambda *ops: ref_apply(
            s, tuple(_element(o) if isinstance(o, (bool, np.bool_)) else o for o in ops)))(
                spelling), spelling.op.arity))
    ns.where = REF_NUMPY.where
    ns.zeros = lambda shape: _ref_full(shape, 0.0)
    ns.__doc__ = "the functions on the reference's operands, elementwise"
    return ns


def _var_namespace():
    ns = types.SimpleNamespace(**vars(rp.VAR_NAMESPACE))
    ns.where = fastad.where
    ns.zeros = fastad.zeros
    ns.__doc__ = "fastad's functions (F.where: fastad.where, F.zeros: fastad.zeros)"
    return ns


REF_NAMESPACE = _ref_namespace()
VAR_NAMESPACE = _var_namespace()


def _branch(outcome):
    rp._run.branches.append(bool(outcome))
    return outcome


class ARun(rp.Run):
    """A reference run: also the branch pattern (the outcomes of the ``if``
    tests: the guards), whether an operation on constant elements would follow
    Python's semantics in object mode (consts) and whether a max/min met a nan
    (compare_nan: NumPy's object loops compare)."""

    __slots__ = ("branches", "consts", "compare_nan")

    def __init__(self, noise=None):
        super().__init__(noise)
        self.branches = []
        self.consts = False
        self.compare_nan = False


class ArrayResult(rp.PlainResult):
    """A plain-float reference result; its pattern is the branch pattern (the
    guards of ``if`` tests); mask outcomes are among run.pieces."""

    @property
    def pattern(self):
        return tuple(self.run.branches)


# ---- the programs ---------------------------------------------------------------------------------

class _Branches(ast.NodeTransformer):
    def visit_If(self, node):
        self.generic_visit(node)
        node.test = ast.Call(func=ast.Name("__branch__", ast.Load()), args=[node.test],
                             keywords=[])
        return node


class ArrayProgram:
    """A generated array program: its source, its inputs' names and shapes."""

    def __init__(self, source, shapes, edgy, seed=None, index=None, spellings=(),
                 features=(), vector=None):
        self.source = source
        self.vector = vector    # the source of the array-output variant (or None)
        self.shapes = [tuple(s) for s in shapes]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n = sum(self.sizes)
        self.edgy = edgy
        self.seed = seed
        self.index = index
        self.spellings = set(spellings)
        self.features = set(features)
        self.branches = "if " in source
        self._code, self._ref_code = self._compile(source)
        self._vector_code = self._compile(vector) if vector is not None else (None, None)

    @staticmethod
    def _compile(source):
        code = compile(source, "<random array program>", "exec")
        tree = _Branches().visit(ast.parse(source))
        ast.fix_missing_locations(tree)
        return code, compile(tree, "<random array program, reference>", "exec")

    def function(self, namespace=None, vector=False):
        """f(x, ...) with fastad's functions as F (vector: the array-output variant)."""
        g = {"F": namespace or VAR_NAMESPACE, "math": math, "np": np}
        exec(self._vector_code[0] if vector else self._code, g)
        return g["f"]

    def reference_function(self, vector=False):
        g = {"F": REF_NAMESPACE, "math": math, "np": REF_NUMPY, "__branch__": _branch}
        exec(self._vector_code[1] if vector else self._ref_code, g)
        return g["f"]

    def split(self, flat):
        """The flat list of n values as the arrays of the inputs (float64)."""
        out = []
        start = 0
        for shape, size in zip(self.shapes, self.sizes):
            out.append(np.array(flat[start:start + size], dtype=np.float64).reshape(shape))
            start += size
        return out

    def pack(self, flat):
        """The argument of the canonical function g: the array (one input) or
        the tuple of arrays."""
        arrays = self.split(flat)
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def canonical(self, f):
        """g(X) = f(*X) for a tuple X (f itself for one input)."""
        if len(self.shapes) == 1:
            return f
        return lambda xs: f(*xs)

    def object_mode(self, f):
        """g in object mode: the Arrays as NumPy object arrays of Vars."""
        if len(self.shapes) == 1:
            return lambda x: f(np.asarray(x))
        return lambda xs: f(*(np.asarray(a) for a in xs))


def flatten(tree):
    """A gradient (an array, or a tuple/list of arrays) as one flat float64 vector."""
    if isinstance(tree, (tuple, list)):
        parts = [np.asarray(t, dtype=np.float64).reshape(-1) for t in tree]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.asarray(tree, dtype=np.float64).reshape(-1)


# ---- the generator --------------------------------------------------------------------------------

INPUT_SHAPES = [(3,), (4,), (2,), (5,), (6,), (2, 3), (3, 2), (4, 1), (1, 3), (2, 2), (3, 3),
                (2, 4)]
MAX_SIZE = 16
NAMES = "xyz"

VIEWS_1D = ["{}[1:]", "{}[:-1]", "{}[::2]", "{}[1::2]", "{}[::-1]", "{}[None, :]", "{}[:, None]",
            "{}.reshape(-1, 1)", "{}[{i}]", "{}[-1]", "np.flip({})", "{}[1:-1]"]
VIEWS_2D = ["{}[:, 0]", "{}[0]", "{}[1:]", "{}[:, 1:]", "{}[:, :-1]", "{}[:-1]", "{}.T",
            "np.transpose({})", "{}.reshape(-1)", "np.ravel({})", "{}[::-1]", "{}[:, ::2]",
            "{}[{i}, {j}]", "{}[-1, :]", "{}.reshape({r})", "{}[..., -1]"]


def _size(shape):
    return int(np.prod(shape)) if shape else 1


def _broadcast(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _compat(shape, want):
    """shape broadcasts to want (None: anything)."""
    return want is None or _broadcast(shape, want) == tuple(want)


def _eval_shape(text, env):
    with np.errstate(all="ignore"):
        return tuple(np.shape(eval(text, {"np": np}, env)))


# array spellings: the builtins other than abs() take no array
def _array_spellings(spelled, weights, scalar):
    pairs = [(s, w) for s, w in zip(spelled, weights)
             if scalar or s.kind != "builtin" or s.label == "abs"]
    return [s for s, _ in pairs], [w for _, w in pairs]


class ArrayGenerator(rp.Generator):
    def __init__(self, rng, edgy):
        super().__init__(rng, edgy)
        self.live = []          # (name, shape)
        self.views = {}         # name -> [(text, shape)]
        self.features = set()

    # -- values
    def add_live(self, name, shape):
        self.live.append((name, shape))
        if shape == ():
            self.views[name] = []
            return
        r = self.rng
        env = {"_d": np.zeros(shape)}
        out = []
        for template in (VIEWS_1D if len(shape) == 1 else VIEWS_2D):
            fill = {"i": r.randrange(shape[0]), "j": r.randrange(shape[-1])}
            if "{r}" in template:
                if len(shape) != 2:
                    continue
                fill["r"] = f"{shape[1]}, {shape[0]}"
            text = template.replace("{i}", str(fill["i"])).replace("{j}", str(fill["j"]))
            text = text.replace("{r}", fill.get("r", ""))
            try:
                s = _eval_shape(text.format("_d"), env)
            except (IndexError, ValueError):
                continue
            if 0 in s or _size(s) > MAX_SIZE:
                continue
            out.append((text.format(name), s))
        self.views[name] = out

    def atom(self, want=None, pred=None, array=False):
        """A live value or a view of one whose shape broadcasts to want (and
        satisfies pred); None if there is none."""
        r = self.rng

        def ok(s):
            return (_compat(s, want) and _size(s) <= MAX_SIZE and (not array or len(s) >= 1)
                    and (pred is None or pred(s)))

        candidates, weights = [], []
        for k, (name, shape) in enumerate(reversed(self.live)):
            w = 0.65 ** k + 0.05
            if ok(shape):
                candidates.append((name, shape))
                weights.append(w * 2.0)
            for text, s in self.views.get(name, ()):
                if ok(s):
                    candidates.append((text, s))
                    weights.append(w * 0.25)
        if not candidates:
            return None
        choice = r.choices(candidates, weights)[0]
        if choice[0] not in dict(self.live):
            self.features.add("view")
        return choice

    def scalar_of(self):
        """A scalar: a reduction of an array atom."""
        a = self.atom(array=True)
        if a is None:
            name, shape = self.live[0]
            a = (name, shape)
        self.features.add("reduce")
        return (f"np.sum({a[0]})", ())

    def expr(self, depth, want=None, array=False, pred=None):
        r = self.rng
        if depth > 0 and r.random() > 0.2:
            kinds = ["unary", "binary", "mask", "reduce", "product", "join", "misc"]
            weights = [0.27, 0.34, 0.1, 0.1, 0.1, 0.05, 0.05]
            for _ in range(3):
                kind = r.choices(kinds, weights)[0]
                e = getattr(self, "make_" + kind)(depth, want)
                if e is not None and (not array or len(e[1]) >= 1) and (
                        pred is None or pred(e[1])):
                    return e
        e = self.atom(want, pred, array)
        if e is None and not array and (pred is None or pred(())):
            e = self.scalar_of()
        return e

    def expr_or_atom(self, depth, want=None, array=False, pred=None):
        e = self.expr(depth, want, array, pred)
        if e is None:
            e = self.atom(want, pred, array)
        return e

    # -- constructs
    def const_array(self, shape):
        r = self.rng
        values = []
        for _ in range(_size(shape)):
            if self.edgy and r.random() < 0.12:
                values.append(r.choice(rp.EDGE_VALUES if r.random() < 0.5
                                       else (0.0, -0.0, INF, -INF, NAN)))
            elif r.random() < 0.5:
                values.append(r.choice(rp.NORMAL_CONSTANTS))
            else:
                values.append(round(r.uniform(-2.0, 2.0), 2))
        body = np.array(values, dtype=object).reshape(shape) if shape else values[0]
        return f"np.array({_array_literal(body)})"

    def make_unary(self, depth, want):
        r = self.rng
        spelled, weights = r.choice(rp.UNARY_CHOICES)
        e = self.expr(depth - 1, want)
        if e is None:
            return None
        text, shape = e
        if r.random() < 0.25:
            text = self.bounded(text)
        spelled, weights = _array_spellings(spelled, weights, shape == ())
        spelling = r.choices(spelled, weights)[0]
        self.spellings.add((spelling.op.name, spelling.label))
        return spelling.write(*self.in_domain(spelling.op, [text])), shape

    def make_binary(self, depth, want):
        r = self.rng
        spelled, weights = r.choices(rp.BINARY_CHOICES, rp.BINARY_WEIGHTS)[0]
        a = self.expr(depth - 1, want)
        if a is None:
            return None
        u = r.random()
        b = None
        if u < 0.25:
            b = (self.constant(), ())
        elif u < 0.37 and a[1] != ():
            s = a[1][1:] if len(a[1]) > 1 and r.random() < 0.4 else a[1]
            b = (self.const_array(s), s)
            self.features.add("constant array")
        elif want is None and r.random() < 0.3:
            b = self.atom(pred=lambda s: (_broadcast(a[1], s) is not None
                                          and _size(_broadcast(a[1], s)) <= MAX_SIZE))
        if b is None:
            b = self.expr_or_atom(depth - 1, want if want is not None else a[1])
        if b is None:
            b = (self.constant(), ())
        shape = _broadcast(a[1], b[1])
        if shape is None or _size(shape) > MAX_SIZE or not _compat(shape, want):
            return None
        if shape != a[1] and shape != b[1] or (a[1] != b[1] and a[1] and b[1]):
            self.features.add("broadcast")
        if r.random() < 0.3:
            a, b = b, a
        spelling = r.choices(spelled, weights)[0]
        self.spellings.add((spelling.op.name, spelling.label))
        return spelling.write(*self.in_domain(spelling.op, [a[0], b[0]])), shape

    def comparison(self, depth, want):
        r = self.rng
        lhs = self.expr_or_atom(depth - 1, want, array=True)
        if lhs is None:
            return None
        how = r.choices((">", "<", ">=", "<=", "==", "!="), (4, 4, 2, 2, 0.4, 0.4))[0]
        rhs = None
        if r.random() < 0.45:
            rhs = self.atom(want, pred=lambda s: _broadcast(lhs[1], s) is not None
                            and _size(_broadcast(lhs[1], s)) <= MAX_SIZE)
        if rhs is None:
            rhs = (self.const(), ())
        shape = _broadcast(lhs[1], rhs[1])
        if shape is None or not _compat(shape, want):
            return None
        return f"({lhs[0]} {how} {rhs[0]})", shape

    def mask(self, depth, want):
        r = self.rng
        cond = self.comparison(depth, want)
        if cond is None:
            return None
        u = r.random()
        if u < 0.15:
            other = self.comparison(depth, want if want is not None else cond[1])
            if other is not None and _broadcast(cond[1], other[1]) is not None:
                shape = _broadcast(cond[1], other[1])
                if _compat(shape, want) and _size(shape) <= MAX_SIZE:
                    self.features.add("mask logic")
                    return f"({cond[0]} {r.choice('&|')} {other[0]})", shape
        elif u < 0.25:
            self.features.add("mask logic")
            return f"(~{cond[0]})", cond[1]
        return cond

    def make_mask(self, depth, want):
        r = self.rng
        cond = self.mask(depth, want)
        if cond is None:
            return None
        target = want if want is not None else cond[1]
        u = r.random()
        a = self.expr_or_atom(depth - 1, target)
        if a is None:
            return None
        if u < 0.6:
            b = (self.constant(), ()) if r.random() < 0.35 else self.expr_or_atom(depth - 1, target)
            if b is None:
                b = (self.constant(), ())
            shape = _broadcast(cond[1], a[1], b[1])
            if shape is None or not _compat(shape, want):
                return None
            fn = "F.where" if u < 0.42 else "np.where"
            self.features.add(fn)
            bt = b[0] if isinstance(b[0], str) else rp.literal(b[0])
            return f"{fn}({cond[0]}, {a[0]}, {bt})", shape
        shape = _broadcast(cond[1], a[1])
        if shape is None or not _compat(shape, want):
            return None
        self.features.add("x * mask")
        if r.random() < 0.5:
            return f"({a[0]} * {cond[0]})", shape
        return f"({cond[0]} * {a[0]})", shape

    def make_reduce(self, depth, want):
        r = self.rng
        e = self.expr_or_atom(depth - 1, array=True)
        if e is None:
            return None
        text, shape = e
        name = r.choices(("sum", "mean", "prod", "max", "min"), (4, 2, 1, 1.5, 1.5))[0]
        axis = None
        keepdims = False
        if r.random() < 0.5:
            axis = r.randrange(len(shape)) - (len(shape) if r.random() < 0.3 else 0)
            keepdims = r.random() < 0.2
        result = _eval_shape(f"np.{name}(_d, axis={axis}, keepdims={keepdims})",
                             {"_d": np.zeros(shape)})
        if not _compat(result, want):
            axis, keepdims, result = None, False, ()
        args = "" if axis is None else f"axis={axis}"
        if keepdims:
            args += ", keepdims=True"
        self.features.add("reduce " + name + (" axis" if axis is not None else ""))
        if r.random() < 0.55:
            fn = name if r.random() < 0.8 or name not in ("max", "min") else "a" + name
            return f"np.{fn}({text}{', ' + args if args else ''})", result
        if text.isidentifier() or text.endswith(("]", ")")) and not text.startswith("("):
            return f"{text}.{name}({args})", result
        return f"({text}).{name}({args})", result

    def make_product(self, depth, want):
        r = self.rng
        e = self.expr_or_atom(depth - 1, pred=lambda s: 1 <= len(s) <= 2)
        if e is None:
            return None
        text, shape = e
        env = {"_a": np.zeros(shape)}
        if r.random() < 0.55:
            # with a constant float matrix
            if r.random() < 0.7:
                n = shape[-1]
                wshape = (n,) if r.random() < 0.35 else (n, r.randint(1, 3))
                w = self.const_array(wshape)
                env["_w"] = np.zeros(wshape)
                form = r.choice(("({a} @ {w})", "np.dot({a}, {w})", "np.matmul({a}, {w})")
                                + (("np.tensordot({a}, {w}, axes=1)",)
                                   if len(shape) + len(wshape) > 2 else ()))
            else:
                m = shape[0]
                wshape = (m,) if r.random() < 0.3 else (r.randint(1, 3), m)
                w = self.const_array(wshape)
                env["_w"] = np.zeros(wshape)
                form = r.choice(("({w} @ {a})", "np.dot({w}, {a})"))
            self.features.add("product with a constant")
            result = _eval_shape(form.format(a="_a", w="_w"), env)
            out = form.format(a=text, w=w)
        else:
            def fits(s):
                return 1 <= len(s) <= 2 and s[0] == shape[-1]

            b = self.atom(pred=fits)
            if b is None:
                return None
            env["_b"] = np.zeros(b[1])
            forms = ["({a} @ {b})", "np.dot({a}, {b})"]
            if len(shape) + len(b[1]) > 2:
                # (NumPy's tensordot gives a 0-d array, not a scalar, on object arrays)
                forms.append("np.tensordot({a}, {b}, axes=1)")
            if b[1] == shape and len(shape) == 2:
                forms.append("np.tensordot({a}, {b}, axes=([1], [1]))")
            form = r.choice(forms)
            self.features.add("product of arrays")
            result = _eval_shape(form.format(a="_a", b="_b"), env)
            out = form.format(a=text, b=b[0])
        if _size(result) > MAX_SIZE or not _compat(result, want):
            return None
        return out, result

    def make_join(self, depth, want):
        r = self.rng
        a = self.expr_or_atom(depth - 1, array=True)
        if a is None:
            return None
        text, shape = a
        if r.random() < 0.5:
            b = self.atom(pred=lambda s: s == shape)
            if b is None:
                return None
            axis = r.choice((0, 0, -1)) if len(shape) >= 1 else 0
            form = (f"np.stack([{text}, {b[0]}])" if axis == 0
                    else f"np.stack([{text}, {b[0]}], axis=-1)")
            result = (2,) + shape if axis == 0 else shape + (2,)
            self.features.add("stack")
        else:
            axis = 0 if len(shape) == 1 or r.random() < 0.6 else 1

            def fits(s):
                return len(s) == len(shape) and all(
                    p == q for k, (p, q) in enumerate(zip(s, shape)) if k != axis)

            b = self.atom(pred=fits)
            if b is None:
                return None
            form = (f"np.concatenate([{text}, {b[0]}])" if axis == 0
                    else f"np.concatenate([{text}, {b[0]}], axis=1)")
            result = tuple(shape[k] + b[1][k] if k == axis else shape[k]
                           for k in range(len(shape)))
            self.features.add("concatenate")
        if _size(result) > MAX_SIZE or not _compat(result, want):
            return None
        return form, result

    def make_misc(self, depth, want):
        """cumsum, diff, clip (function and method), outer, roll."""
        r = self.rng
        e = self.expr_or_atom(depth - 1, array=True)
        if e is None:
            return None
        text, shape = e
        kind = r.choice(("cumsum", "diff", "clip", "outer", "roll"))
        env = {"_e": np.zeros(shape)}
        if kind == "cumsum":
            template = ("np.cumsum({})" if r.random() < 0.4
                        else f"np.cumsum({{}}, axis={r.randrange(len(shape))})")
        elif kind == "diff":
            axis = r.randrange(len(shape))
            if shape[axis] < 2:
                return None
            template = "np.diff({})" if axis == len(shape) - 1 else f"np.diff({{}}, axis={axis})"
        elif kind == "clip":
            lo, hi = sorted((self.constant(), self.constant()))
            if r.random() < 0.3:
                template = f"({{}}).clip({rp.literal(lo)}, {rp.literal(hi)})"
            else:
                low = "None" if r.random() < 0.2 else rp.literal(lo)
                template = f"np.clip({{}}, {low}, {rp.literal(hi)})"
        elif kind == "outer":
            b = self.atom(array=True)
            if b is None:
                return None
            template = f"np.outer({{}}, {b[0]})"
            env["_b"] = np.zeros(b[1])
        else:
            template = (f"np.roll({{}}, {r.choice((1, -1, 2))})" if r.random() < 0.5
                        else f"np.roll({{}}, 1, axis={r.randrange(len(shape))})")
        if kind == "outer":
            result = (_size(shape), _size(env["_b"].shape))
        else:
            result = _eval_shape(template.format("_e"), env)
        if _size(result) > MAX_SIZE or 0 in result or not _compat(result, want):
            return None
        self.features.add(kind)
        return template.format(text), result

    def exact(self, depth, shape):
        """An expression of exactly this shape."""
        e = self.expr_or_atom(depth, shape)
        if e is None:
            e = self.scalar_of()
        if e[1] == shape:
            return e[0]
        anchor = self.atom(pred=lambda s: s == shape)
        if anchor is not None:
            op = self.rng.choice(("+", "*", "-"))
            return f"({anchor[0]} {op} {e[0]})"
        self.features.add("broadcast_to")
        if e[1] == ():
            # (a scalar Var with a float array would be an object array of Vars)
            return f"({e[0]} + F.zeros({shape!r}))"
        return f"np.broadcast_to({e[0]}, {shape!r})"

    # -- statements
    def assign(self, indent):
        r = self.rng
        name = self.new_name()
        e = None
        for _ in range(4):
            e = self.expr(r.randint(1, 3))
            if e is not None:
                break
        if e is None:
            e = self.scalar_of()
        self.emit(indent, f"{name} = {e[0]}")
        self.add_live(name, e[1])

    def fill(self, indent):
        """r = np.zeros_like(a) or F.zeros(shape), assigned in whole or in part."""
        r = self.rng
        base = self.atom(array=True)
        if base is None:
            return self.assign(indent)
        shape = base[1]
        name = self.new_name("r")
        if r.random() < 0.5:
            self.emit(indent, f"{name} = np.zeros_like({base[0]})")
            self.features.add("np.zeros_like")
        else:
            self.emit(indent, f"{name} = F.zeros({shape!r})")
            self.features.add("F.zeros")
        if len(shape) == 1:
            n = shape[0]
            pairs = [("[0]", "[1:]"), ("[:-1]", "[-1]"), ("[::2]", "[1::2]"), ("[:1]", "[1:]")]
            if n >= 3:
                pairs.append(("[1:-1]",))
        else:
            pairs = [("[0]", "[1:]"), ("[:, 0]", "[:, 1:]"), ("[:, :1]", "[:, 1:]"), ("[0, 0]",),
                     ("[-1]",)]
        keys = r.choice(pairs)
        if r.random() < 0.3 and len(keys) > 1:
            keys = keys[:1]
        env = {"_d": np.zeros(shape)}
        complete = len(keys) > 1
        for key in keys:
            target = _eval_shape("_d" + key, env)
            if 0 in target:
                complete = False
                continue
            rhs = self.exact(r.randint(0, 2), target) if r.random() < 0.6 else \
                self.expr_or_atom(r.randint(0, 2), target)
            if rhs is None:
                rhs = self.scalar_of()
            rhs = rhs if isinstance(rhs, str) else rhs[0]
            self.emit(indent, f"{name}{key} = {rhs}")
        self.features.add("fill complete" if complete else "fill partial")
        if r.random() < 0.2:
            cond = self.comparison(1, None)
            if cond is not None and cond[1] == shape:
                value = self.const() if r.random() < 0.6 else self.scalar_of()[0]
                self.emit(indent, f"{name}[{cond[0]}] = {value}")
                self.features.add("r[mask] = c")
        self.add_live(name, shape)

    def branch(self, indent):
        r = self.rng
        target = self.atom(array=True)
        if target is None:
            return self.assign(indent)
        shape = target[1]
        name = self.new_name()
        u = r.random()
        if u < 0.4:
            left = f"np.sum({self.atom(array=True)[0]})"
        elif u < 0.7:
            a = self.atom(pred=lambda s: len(s) == 1 and s[0] >= 2)
            left = f"{a[0]}[0]" if a is not None else f"np.max({target[0]})"
        else:
            left = f"np.{r.choice(('max', 'min', 'mean'))}({self.atom(array=True)[0]})"
        right = self.const() if r.random() < 0.6 else f"np.mean({self.atom(array=True)[0]})"
        how = r.choice((">", "<", ">=", "<="))
        self.emit(indent, f"if {left} {how} {right}:")
        self.emit(indent + 1, f"{name} = {self.exact(r.randint(1, 2), shape)}")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{name} = {self.exact(r.randint(1, 2), shape)}")
        self.features.add("if")
        self.add_live(name, shape)

    def loop(self, indent):
        r = self.rng
        start = self.atom(array=True)
        if start is None:
            return self.assign(indent)
        shape = start[1]
        acc = self.new_name("acc")
        self.emit(indent, f"{acc} = {self.exact(1, shape)}")
        self.add_live(acc, shape)
        trips = r.randint(1, 3)
        c = r.choice(("0.5", "0.9", "1.1", "(-0.7)", "0.25"))
        self.emit(indent, f"for i in range({trips}):")
        term = self.exact(1, shape)
        form = r.choice((f"({acc} * {c} + {term})", f"F.tanh({acc} + {term})",
                         f"({acc} + {term} * (i + 1))",
                         f"np.sin({acc} * {c} + {term} + 0.125 * i)",
                         f"({acc} + F.maximum({acc}, {term}) * {c})"))
        self.emit(indent + 1, f"{acc} = {form}")
        self.features.add("loop")

    def program(self, seed=None, index=None):
        r = self.rng
        k = r.choices((1, 2, 3), (4, 4, 2))[0]
        shapes = []
        for i in range(k):
            if shapes and r.random() < 0.35:
                # related shapes: the same, a row, a column
                s = shapes[0]
                s = r.choice([s, s[-1:], (s[0], 1) if len(s) == 2 else (s[0],)] if s else [s])
                shapes.append(tuple(s))
            else:
                shapes.append(r.choice(INPUT_SHAPES))
        names = list(NAMES[:k])
        self.lines = [f"def f({', '.join(names)}):"]
        for name, shape in zip(names, shapes):
            self.add_live(name, shape)
        r.shuffle(self.live)
        branches = 0
        for _ in range(r.randint(2, 6)):
            u = r.random()
            if u < 0.62:
                self.assign(1)
            elif u < 0.8:
                self.fill(1)
            elif u < 0.9 and branches < 2:
                self.branch(1)
                branches += 1
            else:
                self.loop(1)
        name, shape = self.live[-1]
        u = r.random()
        if shape == ():
            out = name if u < 0.5 else f"{name} + {self.const()} * {self.scalar_of()[0]}"
        elif u < 0.45:
            out = f"np.sum({name})"
        elif u < 0.6:
            out = f"np.mean({name}) + {self.const()} * {self.scalar_of()[0]}"
        elif u < 0.75:
            out = f"np.sum({name} * {self.const_array(shape)})"
        elif u < 0.85 and len(shape) == 1:
            out = f"{name} @ {self.const_array(shape)}"
        else:
            out = f"np.sum({name} ** 2) + {self.const()} * np.{r.choice(('max', 'min', 'prod'))}({name})"
        self.emit(1, f"return {out}")
        # the array-output variant: the same body, returning the last array
        arrays = [n for n, s in self.live if s != ()]
        vector = "\n".join(self.lines[:-1] + [f"    return {arrays[-1]}"]) + "\n"
        return ArrayProgram("\n".join(self.lines) + "\n", shapes, self.edgy, seed, index,
                            self.spellings, self.features, vector)


def _array_literal(body):
    if isinstance(body, np.ndarray):
        return "[" + ", ".join(_array_literal(b) for b in body) + "]"
    c = float(body)
    if c != c:
        return "np.nan"
    if math.isinf(c):
        return "np.inf" if c > 0 else "-np.inf"
    return repr(c)


def generate(seed, index):
    """Array program number index of the run with this seed (reproducible)."""
    rng = random.Random(f"fastad-random-array-programs:{seed}:{index}")
    edgy = rng.random() < 0.3
    return ArrayGenerator(rng, edgy).program(seed, index), rng


def random_point(rng, n, edgy):
    return rp.random_point(rng, n, edgy)


# ---- evaluation ----------------------------------------------------------------------------------

class ArrayEvaluator:
    """The program on the reference's operands (plain floats with the reference
    tape, mpmath), with a cache of plain runs. Points are flat lists of the
    n input values (the inputs' elements in order, each in C order)."""

    def __init__(self, program):
        self.program = program
        self.f_ref = program.reference_function()
        self.f_vector = program.reference_function(vector=True) if program.vector else None
        self._plain = {}

    def _arrays(self, items):
        out = []
        start = 0
        for shape, size in zip(self.program.shapes, self.program.sizes):
            a = np.empty(size, dtype=object)
            for k in range(size):
                a[k] = items[start + k]
            out.append(a.reshape(shape).view(RefArray))
            start += size
        return out

    def plain(self, x):
        key = tuple(np.float64(v).tobytes() for v in x)
        if key in self._plain:
            return self._plain[key]
        run = ARun()
        items = [PF(float(v), run.push("input", (), (), float(v))) for v in x]
        saved = rp._run
        rp._run = run
        try:
            with np.errstate(all="ignore"):
                out = self.f_ref(*self._arrays(items))
        finally:
            rp._run = saved
        if type(out) is PF:
            res = ArrayResult(out.v, out.i, run, len(x))
        else:
            res = ArrayResult(float(out), None, run, len(x))
        self._plain[key] = res
        return res

    def vector(self, x):
        """The array-output variant on plain floats: (values, [ArrayResult per
        output element, in C order])."""
        run = ARun()
        items = [PF(float(v), run.push("input", (), (), float(v))) for v in x]
        saved = rp._run
        rp._run = run
        try:
            with np.errstate(all="ignore"):
                out = self.f_vector(*self._arrays(items))
        finally:
            rp._run = saved
        results = []
        for e in np.asarray(_plain(out), dtype=object).reshape(-1):
            if type(e) is PF:
                results.append(ArrayResult(e.v, e.i, run, len(x)))
            else:
                results.append(ArrayResult(float(e), None, run, len(x)))
        return np.array([r.value for r in results]).reshape(np.shape(out)), results

    def mp(self, x, noise=None, dps=MP_DPS, bits=52):
        run = ARun(rp._noise_factors(noise, bits) if noise is not None else None)
        saved = rp._run
        rp._run = run
        try:
            with mpmath.workdps(dps):
                items = [MP(mpf(v)) for v in x]
                out = self.f_ref(*self._arrays(items))
                value = out.v if type(out) is MP else mpf(float(out))
        finally:
            rp._run = saved
        return value, run


# ---- the checks -----------------------------------------------------------------------------------

CHECKS = {
    "value_plain": "value (Array mode) == value on plain floats, bit for bit",
    "argnums": "value_and_grad(f, argnums=(0, ..))(x, y, ..) == value_and_grad of f((x, y, ..)), bit for bit",
    "value_mp": "value on plain floats vs mpmath (50 digits), within rounding",
    "grad_fd": "gradient along a random direction and single elements vs mpmath central differences",
    "object": "object arrays of Vars (np.asarray(x)) == Array mode: bit for bit on the same tape, else to rounding",
    "jacrev_grad": "jacrev and vjp(1.0) == grad, bit for bit",
    "rev_ref": "reverse sweep (grad) vs the reference sweep, to rounding",
    "fwd_ref": "forward sweep (jacfwd) vs the reference sweep, to rounding",
    "jvp_ref": "jvp along a random direction vs the reference sweep, to rounding",
    "fwd_rev": "jacfwd vs jacrev, to rounding (or the documented cancellation difference)",
    "F_jacobian": "Function.jacobian(mode=forward/reverse), .jvp, .vjp == jacfwd/jacrev, jvp, vjp, bit for bit",
    "replay_same": "replay at points on the traced branch and mask pattern == fresh, bit for bit, f not called",
    "replay_masks": "replay at other mask outcomes (no guard) == fresh, bit for bit, f not called again",
    "replay_other": "replay on another branch of an if (re-trace once) == fresh, bit for bit",
    "retrace_false": "retrace=False: equal on the traced branch (any masks), BranchError on another",
    "batch": "value_and_grad_batch, threads=1 and 2, == rows, bit for bit",
    "hess_F": "hessian(f)(x) == Function.hessian(x), bit for bit",
    "hess_sym": "Hessian symmetric (to rounding)",
    "hess_fd": "Hessian times a direction vs central differences of Function.grad (mpmath if in doubt)",
    "grad_function": "Function.grad_function()(x) == Function.grad(x), to rounding (same inf/nan)",
    "jacobian": "array output (the last array): value bit for bit, jacrev/jacfwd vs the reference sweeps, Function.jacobian and F(x), vjp, object mode",
    "pickle": "pickled Function: same bits on recorded branches, BranchError elsewhere",
}

OBJECT_MIXED = ("object: an object array mixing Vars and numbers (np.zeros_like of an object "
                "array holds int 0; np.where with a number; np.clip's bound): NumPy's object "
                "loops call the number's method (np.exp raises) or Python's arithmetic (README)")
OBJECT_COMPARE = ("object: np.max/np.min/np.maximum on object arrays compare elements (README), "
                  "so a nan operand is not propagated as by fastad.Array")
OBJECT_OVERFLOW = ("object: a sum in another order (memory order) overflows where fastad.Array's "
                   "order does not, or the other way (terms near the end of the float range)")
PRODUCT_OVERFLOW = ("rev_ref: a matrix product's reverse sums in matrix order, the reference "
                    "tape per multiply-add: near the end of the float range one overflows "
                    "where the other does not")
OBJECT_OTHER_TAPE = ("object: NumPy's object loops record another tape (compare-based max/min, "
                     "constant masks and selections, reductions in memory order): compared to "
                     "rounding")


class ArrayOutcome(rp.Outcome):
    """Counts of one run of the array checker."""

    def __init__(self):
        super().__init__()
        self.features = Counter()

    def merge(self, other):
        super().merge(other)
        self.features.update(other.features)

    def summary(self, seed=None):
        lines = []
        head = f"random array programs: {self.programs} programs"
        if seed is not None:
            head += f" (FASTAD_SEED={seed})"
        head += (f", {self.edgy} of them with edge values, {self.entries} reference tape "
                 f"entries, {self.seconds:.1f} s")
        lines.append(head)
        lines.append("  checks (performed / failed):")
        for key, text in CHECKS.items():
            lines.append(f"    {key:14s} {self.ran[key]:8d} / {self.failed[key]:<6d} {text}")
        if self.known:
            lines.append("  known, documented differences (counted, not failures):")
            for reason, n in sorted(self.known.items(), key=lambda kv: -kv[1]):
                lines.append(f"    {n:8d}  {reason}")
        if self.skipped:
            lines.append("  skipped comparisons, by reason:")
            for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
                lines.append(f"    {n:8d}  {reason}")
        missing = sorted(rp.ALL_OPS - set(self.ops))
        lines.append(f"  operations exercised: {len(self.ops)} of {len(rp.ALL_OPS)}"
                     + (f" (missing: {missing})" if missing else ""))
        lines.append("  constructs (programs): " + ", ".join(
            f"{k} {v}" for k, v in sorted(self.features.items())))
        return "\n".join(lines)

    def failure_report(self, limit_per_check=3):
        out = []
        shown = Counter()
        for f in self.failures:
            if shown[f["check"]] >= limit_per_check:
                continue
            shown[f["check"]] += 1
            pts = "; ".join(f"{k} = {rp.fmt(v)}" for k, v in f["points"].items())
            out.append(
                f"[{f['check']}] {CHECKS[f['check']]}\n"
                f"  array program {f['index']} of FASTAD_SEED={f['seed']} "
                f"(python tests/random_array_programs.py --seed {f['seed']} --index "
                f"{f['index']})\n"
                f"  at {pts}\n"
                + "".join(f"  {line}\n" for line in f["message"].splitlines())
                + "  source:\n"
                + "".join(f"    {line}\n" for line in f["source"].splitlines()))
        return "\n".join(out)


MATMUL_OPCODE = 255   # fastad/_ops.pxi: OP_MATMUL


def _canonical_tape(tape):
    """The entries of a tape with constant operands by value (the pool's
    numbering aside): equal lists are the same tape."""
    from fastad import _core
    kinds = {}
    for name, arity, codes in _core.opcode_table():
        for kind, code in enumerate(codes):
            kinds[code] = (name, arity, kind)
    out = []
    for i in range(tape.n_entries):
        op, a0, a1, v = tape._entry(i)
        if op == MATMUL_OPCODE:   # an element of a matrix product: (product, position)
            out.append(("matmul", a0, a1, np.float64(v).tobytes()))
            continue
        name, arity, kind = kinds[op]
        bits = np.float64(v).tobytes()
        if name == "input":
            out.append((name, bits))
        elif arity == 1:
            out.append((name, a0, bits))
        elif kind == 0:
            out.append((name, a0, a1, bits))
        elif kind == 1:
            out.append((name, a0, ("c", np.float64(tape._constant(a1)).tobytes()), bits))
        else:
            out.append((name, ("c", np.float64(tape._constant(a0)).tobytes()), a1, bits))
    return out


class ArrayApi:
    """Every call the checker makes into fastad (X: the canonical argument, an
    array or a tuple of arrays; results flattened); the self-tests replace
    one method at a time with a wrong one."""

    def value_and_grad(self, g, X):
        v, grad = fastad.value_and_grad(g)(X)
        return v, flatten(grad)

    def value_and_grad_args(self, f, arrays):
        v, grad = fastad.value_and_grad(f, argnums=tuple(range(len(arrays))))(*arrays)
        return v, flatten(grad)

    def record(self, f, arrays, object_mode):
        """(value, flat gradient, canonical tape) of f(*arrays) on a Tape: the
        arguments as Arrays, or (object_mode) as object arrays of Vars."""
        with fastad.Tape() as t:
            xs = [t.var(a) for a in arrays]
            args = [np.asarray(a) for a in xs] if object_mode else xs
            y = f(*args)
            if isinstance(y, np.ndarray) and y.ndim == 0:
                y = y[()]       # NumPy's 0-d results of object arrays (np.tensordot)
        value = fastad.value(y)
        if isinstance(value, complex) or isinstance(value, np.ndarray):
            raise TypeError(f"the program returned {type(value).__name__} {value!r}")
        g = t.gradient(y, xs)
        return float(value), flatten(g), _canonical_tape(t)

    def jacfwd(self, g, X):
        return flatten(fastad.jacfwd(g)(X))

    def jacrev(self, g, X):
        return flatten(fastad.jacrev(g)(X))

    def jvp(self, g, X, V):
        out, tangent = fastad.jvp(g, (X,), (V,))
        return out, float(tangent)

    def vjp(self, g, X, w):
        out, fn = fastad.vjp(g, X)
        return out, flatten(fn(w)[0])

    def hessian(self, g, X):
        return _square(fastad.hessian(g)(X), X)

    def trace(self, g, X, retrace=True):
        return fastad.trace(g, X, retrace=retrace)

    def call(self, F, X):
        return F(X)

    def value_and_grad_F(self, F, X):
        v, grad = F.value_and_grad(X)
        return v, flatten(grad)

    def grad_F(self, F, X):
        return flatten(F.grad(X))

    def jvp_F(self, F, X, V):
        out, tangent = F.jvp(X, V)
        return out, float(tangent)

    def vjp_F(self, F, X, w):
        out, cotangent = F.vjp(X, w)
        return out, flatten(cotangent)

    def jacobian_F(self, F, X, mode):
        return flatten(F.jacobian(X, mode=mode))

    def hessian_F(self, F, X):
        return _square(F.hessian(X), X)

    def batch(self, F, rows, threads):
        """rows: canonical arguments; -> (values (k,), flat gradients (k, n))."""
        if isinstance(rows[0], tuple):
            X = tuple(np.stack([row[i] for row in rows]) for i in range(len(rows[0])))
        else:
            X = np.stack(rows)
        v, grads = F.value_and_grad_batch(X, threads=threads)
        if isinstance(grads, tuple):
            flat = np.concatenate([np.asarray(gr).reshape(len(rows), -1) for gr in grads], axis=1)
        else:
            flat = np.asarray(grads).reshape(len(rows), -1)
        return np.asarray(v, dtype=np.float64), flat

    def grad_function(self, F):
        return F.grad_function()

    def call_grad_function(self, G, X):
        return flatten(G(X))

    def pickle_roundtrip(self, F):
        return pickle.loads(pickle.dumps(F))


def _square(H, X):
    """A Hessian (an array x.shape + x.shape, or blocks H[i][j]) as an n x n matrix."""
    if isinstance(X, tuple):
        sizes = [a.size for a in X]
        rows = [np.concatenate([np.asarray(H[i][j], dtype=np.float64).reshape(sizes[i], sizes[j])
                                for j in range(len(X))], axis=1) for i in range(len(X))]
        return np.concatenate(rows, axis=0)
    n = X.size
    return np.asarray(H, dtype=np.float64).reshape(n, n)


def reference_vjp(results, w, n):
    """(w^T J, its absolute scale) by one reverse sweep of the reference tape
    seeded with w at the output entries (as reference_reverse for one)."""
    if not results:
        return np.zeros(n), np.zeros(n)
    run = results[0].run
    adj = [0.0] * len(run.parents)
    aab = [0.0] * len(run.parents)
    top = n - 1
    for res, wi in zip(results, w):
        if res.out is not None and wi != 0.0:
            adj[res.out] += float(wi)
            aab[res.out] += abs(float(wi))
            top = max(top, res.out)
    with np.errstate(all="ignore"):
        for i in range(top, n - 1, -1):
            g, ga = adj[i], aab[i]
            if g == 0.0 and ga == 0.0:
                continue
            for a, p in zip(run.parents[i], run.partials[i]):
                if g != 0.0:
                    adj[a] += rp.times(g, p)
                if ga != 0.0:
                    aab[a] += rp.times(ga, abs(p))
    return np.array(adj[:n]), np.array(aab[:n])


def _close_sub(a, b, scale, length):
    """random_programs._close, and also within a few subnormal steps (sums in
    another order round the subnormal range in absolute steps of 5e-324)."""
    if rp._close(a, b, scale, length):
        return True
    a = float(a)
    b = float(b)
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 4 * (length + 2) * 5e-324


def _near_overflow(res):
    """Whether an intermediate of the reference run is within a factor 16 of the
    end of the float range: sums in another order may overflow there."""
    return any(math.isfinite(v) and abs(v) >= DBL_MAX / 16 for v in res.run.values)


def _outcomes(res):
    """The outcomes of the comparisons of a run (masks, and the tests of ifs)."""
    return [outcome for name, outcome in res.run.pieces if name == "cmp"]


def _close_value(a, b, bound):
    a = float(a)
    b = float(b)
    if a == b or (a != a and b != b):
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= 4.0 * bound + 4.0 * EPS * max(abs(a), abs(b))


class ArrayProgramChecker(rp.ProgramChecker):
    """The checks of one array program; random_programs.ProgramChecker's finite
    differences in mpmath (fd_setup, check_value_mp, hessian_entry_mp) work
    on it unchanged."""

    def __init__(self, program, outcome, rng, api=None, hessian=True):
        self.p = program
        self.out = outcome
        self.rng = rng
        self.api = api or ArrayApi()
        self.do_hessian = hessian
        self.ev = ArrayEvaluator(program)
        self.f_args = program.function()
        self.f = program.canonical(self.f_args)

    def X(self, x):
        return self.p.pack(x)

    def fresh(self, x):
        with np.errstate(all="ignore"):
            return self.api.value_and_grad(self.f, self.X(x))

    def direction(self):
        """A random direction: mostly small integers and halves, some zeros."""
        r = self.rng
        d = [r.choice((1.0, -0.5, 2.0, 0.0, 0.25, -1.5, 1.0, -1.0)) for _ in range(self.p.n)]
        if not any(d):
            d[r.randrange(self.p.n)] = 1.0
        return d

    # -- the run
    def run(self, points=None):
        p = self.p
        rng = self.rng
        self.out.programs += 1
        self.out.edgy += p.edgy
        self.out.features.update(p.features)
        if points is None:
            x0 = random_point(rng, p.n, p.edgy)
        else:
            x0, x1, x2, x3 = (list(x) for x in points)
        r0 = self.ev.plain(x0)
        self.out.entries += len(r0.run.parents)
        self.out.ops.update(op for op in r0.run.ops if op != "input")
        if points is None:
            x1 = [v + (abs(v) + 1.0) * 1e-9 * rng.uniform(-1, 1) if math.isfinite(v) else v
                  for v in x0]
            # x2 on another branch if one is found, else with other mask
            # outcomes; xm on the traced branch with other mask outcomes
            x2 = xm = None
            other_pieces = None
            for _ in range(8):
                cand = random_point(rng, p.n, p.edgy)
                rc = self.ev.plain(cand)
                if rc.pattern != r0.pattern:
                    x2 = x2 or cand
                elif xm is None and _outcomes(rc) != _outcomes(r0):
                    xm = cand
                elif other_pieces is None and rc.run.pieces != r0.run.pieces:
                    other_pieces = cand
                if x2 is not None and (xm is not None or not _outcomes(r0)):
                    break
            if x2 is None:
                x2, xm = (xm, None) if xm is not None else (other_pieces or cand, None)
                if p.branches:
                    self.out.skip("no point on another branch found (8 tries): "
                                  "replay_other not run")
            x3 = random_point(rng, p.n, p.edgy)
        else:
            xm = None
        for x in (x0, x1, x2):
            self.guarded("value_plain", {"x": x}, self.check_value, x)
        for x in (x0, x2):
            self.guarded("fwd_rev", {"x": x}, self.check_modes, x)
            self.guarded("object", {"x": x}, self.check_object, x)
        self.guarded("grad_fd", {"x": x0}, self.check_fd, x0)
        self.guarded("replay_same", {"x0": x0, "x1": x1, "x2": x2}, self.check_replay,
                     x0, x1, x2, xm)
        self.guarded("batch", {"x0": x0}, self.check_batch, x0, [x0, x1, x2, x3])
        if self.do_hessian:
            self.guarded("hess_fd", {"x": x0}, self.check_hessian, x0)
        self.guarded("grad_function", {"x0": x0}, self.check_grad_function, x0, [x0, x2])
        if p.vector is not None:
            self.guarded("jacobian", {"x0": x0, "x2": x2}, self.check_jacobian, x0, x2)
        self.guarded("pickle", {"x0": x0}, self.check_pickle, x0, x1, x2)

    # -- values
    def check_value(self, x):
        res = self.ev.plain(x)
        v, g = self.fresh(x)
        if rp.same_float(v, res.value):
            self.out.ok("value_plain")
        else:
            self.fail("value_plain", {"x": x},
                      f"value_and_grad value {rp.fmt(v)}, plain floats {rp.fmt(res.value)}")
        if len(self.p.shapes) > 1:
            with np.errstate(all="ignore"):
                va, ga = self.api.value_and_grad_args(self.f_args, self.p.split(x))
            if rp.same_float(va, v) and rp.same_bits(ga, g):
                self.out.ok("argnums")
            else:
                self.fail("argnums", {"x": x}, f"argnums: ({rp.fmt(va)}, {rp.fmt(ga)}), "
                          f"one tuple: ({rp.fmt(v)}, {rp.fmt(g)})")

    def check_object(self, x):
        res = self.ev.plain(x)
        arrays = self.p.split(x)
        pts = {"x": x}
        with np.errstate(all="ignore"):
            va, ga, ta = self.api.record(self.f_args, arrays, False)
            try:
                vo, go, to = self.api.record(self.f_args, arrays, True)
            except Exception as e:  # noqa: BLE001
                if res.run.consts:
                    self.out.note_known(OBJECT_MIXED)
                    return
                raise AssertionError(f"object mode raised {type(e).__name__}: {e}") from e
        if ta == to:
            if rp.same_float(va, vo) and rp.same_bits(ga, go):
                self.out.ok("object")
            else:
                self.fail("object", pts, f"the same tape, other results: object arrays "
                          f"({rp.fmt(vo)}, {rp.fmt(go)}), Arrays ({rp.fmt(va)}, {rp.fmt(ga)})")
            return
        L = len(res.run.parents)
        _, scale = rp.reference_reverse(res)
        problems = []
        if not _close_value(vo, va, rp.value_error_bound(res)):
            problems.append(f"value: object arrays {rp.fmt(vo)}, Arrays {rp.fmt(va)} "
                            f"(rounding bound {rp.value_error_bound(res):.3g})")
        if not all(rp._close(a, b, s, L) for a, b, s in zip(go, ga, scale)):
            with np.errstate(all="ignore"):
                _, bound, _, _ = rp.reference_bounds(res)
            bad = [k for k in range(self.p.n) if not (
                rp._close(go[k], ga[k], scale[k], L)
                or (math.isfinite(go[k]) and math.isfinite(ga[k])
                    and abs(go[k] - ga[k]) <= 32.0 * bound[k]))]
            if bad:
                problems.append(f"gradient entries {bad} differ: object arrays {rp.fmt(go)}, "
                                f"Arrays {rp.fmt(ga)}")
        if not problems:
            self.out.ok("object")
            self.out.note_known(OBJECT_OTHER_TAPE)
        elif _near_overflow(res):
            self.out.note_known(OBJECT_OVERFLOW)
        elif res.run.compare_nan:
            self.out.note_known(OBJECT_COMPARE)
        elif res.run.consts:
            self.out.note_known(OBJECT_MIXED)
        else:
            self.fail("object", pts, "another tape, and results beyond rounding:\n"
                      + "\n".join(problems))

    # -- forward and reverse sweeps
    def has_products(self):
        """Whether the program has matrix products, which sum in matrix order
        rather than in the reference tape's order of multiply-adds."""
        return bool(self.p.features & {"product with a constant", "product of arrays"})

    def check_modes(self, x):
        res = self.ev.plain(x)
        n = self.p.n
        X = self.X(x)
        ref_rev, scale, L = self.reference(x)
        ref_fwd = rp.reference_forward(res, np.eye(n))
        with np.errstate(all="ignore"):
            v, g = self.fresh(x)
            jf = self.api.jacfwd(self.f, X)
            jr = self.api.jacrev(self.f, X)
            v_vjp, g_vjp = self.api.vjp(self.f, X, 1.0)
        pts = {"x": x}
        refs = (f"reference reverse {rp.fmt(ref_rev)}, reference forward {rp.fmt(ref_fwd)}\n"
                f"grad {rp.fmt(g)}, jacrev {rp.fmt(jr)}, jacfwd {rp.fmt(jf)}")
        if rp.same_bits(jr, g) and rp.same_bits(g_vjp, g) and rp.same_float(v_vjp, v):
            self.out.ok("jacrev_grad")
        else:
            self.fail("jacrev_grad", pts, f"vjp(1.0): ({rp.fmt(v_vjp)}, {rp.fmt(g_vjp)}), "
                      f"value {rp.fmt(v)}\n" + refs)
        if all(rp._close(g[k], ref_rev[k], scale[k], L) for k in range(n)):
            self.out.ok("rev_ref")
        elif self.has_products() and _near_overflow(res):
            self.out.note_known(PRODUCT_OVERFLOW)
        else:
            self.fail("rev_ref", pts, "grad differs from the reference reverse sweep "
                      "(an exact zero factor contributes nothing)\n" + refs)
        if all(rp._close(jf[k], ref_fwd[k], scale[k], L) for k in range(n)):
            self.out.ok("fwd_ref")
        else:
            self.fail("fwd_ref", pts, "jacfwd differs from the reference forward sweep "
                      "(an exact zero factor contributes nothing)\n" + refs)
        bad = []
        for k in range(n):
            if rp._close(jf[k], jr[k], scale[k], L):
                continue
            if (not rp._close(ref_fwd[k], ref_rev[k], scale[k], L)
                    and rp._close(jf[k], ref_fwd[k], scale[k], L)
                    and rp._close(jr[k], ref_rev[k], scale[k], L)):
                self.out.note_known("jacfwd vs jacrev: infinite partial meets a cancelling sum")
                continue
            bad.append(k)
        if bad:
            self.fail("fwd_rev", pts, f"inputs {bad} differ\n" + refs)
        else:
            self.out.ok("fwd_rev")
        direction = self.direction()
        with np.errstate(all="ignore"):
            out, tangent = self.api.jvp(self.f, X, self.X(direction))
            ref_t = float(rp.reference_forward(res, np.asarray(direction).reshape(n, 1))[0])
            t_scale = float(np.dot(np.abs(direction), np.nan_to_num(scale, nan=np.inf)))
        if rp.same_float(out, res.value) and rp._close(tangent, ref_t, t_scale, L):
            self.out.ok("jvp_ref")
        else:
            self.fail("jvp_ref", {"x": x, "v": direction},
                      f"jvp: ({rp.fmt(out)}, {rp.fmt(tangent)}); reference tangent "
                      f"{rp.fmt(ref_t)}, value {rp.fmt(res.value)}")

    # -- finite differences in mpmath
    def check_fd(self, x):
        res = self.ev.plain(x)
        reason, setup = self.fd_setup(x, res)
        pts = {"x": x}
        if reason is not None:
            self.out.skip(f"grad_fd: {reason}")
            return
        self.check_value_mp(x, res, setup)
        v, g = self.fresh(x)
        n = self.p.n
        directions = [self.direction()]
        for k in self.rng.sample(range(n), min(n, 2)):
            e = [0.0] * n
            e[k] = 1.0
            directions.append(e)
        scale, bound = setup["scale"], setup["bound"]
        for u in directions:
            d, err = self.mp_directional(setup, u, None)
            if d is None:
                self.out.skip("grad_fd: kink or branch within the step along the direction")
                continue
            gd = float(sum(mpf(float(gk)) * mpf(uk) for gk, uk in zip(g, u) if uk))
            dk = float(d)
            with np.errstate(all="ignore"):
                if not all(math.isfinite(gk) for gk, uk in zip(g, u) if uk):
                    gd = math.nan
                # (over the direction's nonzero components: 0 * inf is no bound)
                b = float(sum(abs(uk) * bound[k] for k, uk in enumerate(u) if uk))
                s = float(sum(abs(uk) * scale[k] for k, uk in enumerate(u) if uk))
            if not abs(dk) < 1e-8 * DBL_MAX:
                self.out.skip("grad_fd: a derivative near the end of the float range")
                continue
            if 16.0 * b > 0.1 * abs(dk) and 16.0 * b > 1e-12 * s:
                self.out.skip("grad_fd: ill-conditioned (the rounding bound of the chain rule "
                              "exceeds 10% of the derivative)")
                continue
            tol = 1e-6 * abs(dk) + 1e-10 * s + 16.0 * b + err + 2 * DBL_MIN
            if math.isfinite(gd) and abs(gd - dk) <= tol:
                self.out.ok("grad_fd")
                continue
            d2, err2 = self.mp_directional(setup, u, None, shrink=24)
            if d2 is None or abs(float(d2) - dk) > 1e-9 * abs(dk) + err + err2 + 2 * DBL_MIN:
                self.out.skip("grad_fd: the function varies faster than the step (unstable "
                              "difference quotient)")
                continue
            spread = 0.0
            for seed in (1, 2, 3):
                dn, _ = self.mp_directional(setup, u, seed)
                if dn is None:
                    spread = math.inf
                    break
                spread = max(spread, abs(float(dn) - dk))
            if spread == math.inf:
                self.out.skip("grad_fd: a branch or kink within rounding of the point")
                continue
            if math.isfinite(gd) and abs(gd - dk) <= tol + 10.0 * spread:
                self.out.ok("grad_fd")
                self.out.note_known("grad_fd: agrees within the rounding estimate "
                                    "(an ill-conditioned point), not within 1e-6")
                continue
            if math.isfinite(gd) and "below" in rp.outside_float_range(res):
                self.out.skip(rp.BELOW_RANGE.format("grad_fd"))
                continue
            self.fail("grad_fd", {"x": x, "u": u},
                      f"derivative along u: fastad g.u = {gd!r}, mpmath central difference "
                      f"{dk!r} (tolerance {tol:.3g}, rounding spread {spread:.3g})\n"
                      f"gradient {rp.fmt(g)}")

    def mp_directional(self, setup, u, noise, shrink=0):
        """(central difference along u with the inputs' steps, its resolution)
        or (None, None) if a branch or a piece changes within the step."""
        x_mp, base = setup["x_mp"], setup["mrun"]
        dps = setup["dps"] + int(shrink * 0.302) + 1
        steps = setup["steps"]
        with mpmath.workdps(dps):
            h = min(steps[k] for k in range(len(u)) if u[k]) * mpf(2) ** -shrink
            up = [v + h * mpf(c) for v, c in zip(x_mp, u)]
            dn = [v - h * mpf(c) for v, c in zip(x_mp, u)]
        fu, ru = self.ev.mp(up, noise, dps)
        fd, rd = self.ev.mp(dn, noise, dps)
        for r in (ru, rd):
            if (r.nonfinite or r.range or r.singular or r.pattern != base.pattern
                    or r.pieces != base.pieces):
                return None, None
        with mpmath.workdps(dps):
            d = (fu - fd) / (2 * h)
            err = float(mpf(10) ** (4 - dps) * setup["big"] / h)
        return d, err

    # -- replay
    def check_replay(self, x0, x1, x2, xm=None):
        """Replay at x0, x1 (next to it), x2 (on another branch, or with other
        mask outcomes) and xm (on the traced branch with other mask outcomes)."""
        r0 = self.ev.plain(x0)
        extra = [] if xm is None else [xm]
        p0 = r0.pattern
        counted = rp.Counted(self.f)
        with np.errstate(all="ignore"):
            F = self.api.trace(counted, self.X(x0))
        self.F_multi = F
        seen = [p0]
        for x in [x0, x1, x2] + extra + [x0, x1]:
            rx = self.ev.plain(x)
            p = rx.pattern
            calls = counted.calls
            X = self.X(x)
            with np.errstate(all="ignore"):
                vr, gr = self.fresh(x)
                vF, gF = self.api.value_and_grad_F(F, X)
                v_call = self.api.call(F, X)
                g_only = self.api.grad_F(F, X)
            if p != p0:
                check = "replay_other"
            elif _outcomes(rx) != _outcomes(r0):
                check = "replay_masks"
            else:
                check = "replay_same"
            pts = {"x0": x0, "x": x}
            problems = []
            if not (rp.same_float(vF, vr) and rp.same_bits(gF, gr)):
                problems.append(f"Function.value_and_grad ({rp.fmt(vF)}, {rp.fmt(gF)}), "
                                f"fresh ({rp.fmt(vr)}, {rp.fmt(gr)})")
            if not rp.same_float(v_call, vr):
                problems.append(f"Function(x) {rp.fmt(v_call)}, fresh {rp.fmt(vr)}")
            if not rp.same_bits(g_only, gr):
                problems.append(f"Function.grad {rp.fmt(g_only)}, fresh {rp.fmt(gr)}")
            if type(v_call) is not float:
                problems.append(f"Function(x) is a {type(v_call).__name__}, not a float")
            if p in seen:
                if counted.calls != calls:
                    problems.append(f"f was called again ({counted.calls - calls} times) on a "
                                    f"branch already recorded (masks need no re-trace)")
            elif counted.calls != calls + 1:
                problems.append(f"a new branch: f called {counted.calls - calls} times, "
                                f"expected 1 re-trace")
            if p not in seen:
                seen.append(p)
            if problems:
                self.fail(check, pts, "\n".join(problems))
            else:
                self.out.ok(check)
        with np.errstate(all="ignore"):
            Fn = self.api.trace(self.f, self.X(x0), retrace=False)
        for x in [x0, x1, x2] + extra:
            p = self.ev.plain(x).pattern
            try:
                with np.errstate(all="ignore"):
                    vF, gF = self.api.value_and_grad_F(Fn, self.X(x))
            except fastad.BranchError:
                if p == p0:
                    self.fail("retrace_false", {"x0": x0, "x": x},
                              "BranchError on the traced branch")
                else:
                    self.out.ok("retrace_false")
                continue
            if p != p0:
                self.fail("retrace_false", {"x0": x0, "x": x},
                          f"no BranchError on another branch (pattern {p} vs traced {p0}); "
                          f"returned ({rp.fmt(vF)}, {rp.fmt(gF)})")
                continue
            vr, gr = self.fresh(x)
            if rp.same_float(vF, vr) and rp.same_bits(gF, gr):
                self.out.ok("retrace_false")
            else:
                self.fail("retrace_false", {"x0": x0, "x": x},
                          f"retrace=False ({rp.fmt(vF)}, {rp.fmt(gF)}), fresh ({rp.fmt(vr)}, "
                          f"{rp.fmt(gr)})")
        for x in (x0, x2):
            direction = self.direction()
            X, V = self.X(x), self.X(direction)
            with np.errstate(all="ignore"):
                jf = self.api.jacobian_F(F, X, "forward")
                jr = self.api.jacobian_F(F, X, "reverse")
                jf0 = self.api.jacfwd(self.f, X)
                jr0 = self.api.jacrev(self.f, X)
                jv = self.api.jvp_F(F, X, V)
                jv0 = self.api.jvp(self.f, X, V)
                vj = self.api.vjp_F(F, X, -1.5)
                vj0 = self.api.vjp(self.f, X, -1.5)
            if (rp.same_bits(jf, jf0) and rp.same_bits(jr, jr0) and rp.same_bits(jv, jv0)
                    and rp.same_float(vj[0], vj0[0]) and rp.same_bits(vj[1], vj0[1])):
                self.out.ok("F_jacobian")
            else:
                self.fail("F_jacobian", {"x0": x0, "x": x, "v": direction},
                          f"Function.jacobian forward {rp.fmt(jf)}, jacfwd {rp.fmt(jf0)}; "
                          f"reverse {rp.fmt(jr)}, jacrev {rp.fmt(jr0)}; Function.jvp "
                          f"{rp.fmt(jv)}, jvp {rp.fmt(jv0)}; Function.vjp(-1.5) "
                          f"{rp.fmt(vj[1])}, vjp {rp.fmt(vj0[1])}")

    def check_batch(self, x0, rows):
        with np.errstate(all="ignore"):
            F = self.api.trace(self.f, self.X(x0))
            refs = [self.fresh(x) for x in rows]
        for threads in (1, 2):
            with np.errstate(all="ignore"):
                vals, grads = self.api.batch(F, [self.X(x) for x in rows], threads)
            bad = [i for i, (v, g) in enumerate(refs)
                   if not (rp.same_float(vals[i], v) and rp.same_bits(grads[i], g))]
            if bad:
                i = bad[0]
                self.fail("batch", {"x0": x0, "X": rows[i]},
                          f"threads={threads}: rows {bad} differ; row {i}: batch "
                          f"({rp.fmt(vals[i])}, {rp.fmt(grads[i])}), fresh ({rp.fmt(refs[i][0])}, "
                          f"{rp.fmt(refs[i][1])})")
            else:
                self.out.ok("batch")

    # -- second order
    def check_hessian(self, x):
        res = self.ev.plain(x)
        n = self.p.n
        X = self.X(x)
        pts = {"x": x}
        with np.errstate(all="ignore"):
            H = self.api.hessian(self.f, X)
            F = self.api.trace(self.f, X)
            HF = self.api.hessian_F(F, X)
        if rp.same_bits(H, HF):
            self.out.ok("hess_F")
        else:
            self.fail("hess_F", pts, f"hessian {rp.fmt(H)}\nFunction.hessian {rp.fmt(HF)}")
        reason, setup = self.fd_setup(x, res)
        if reason is not None:
            self.out.skip(f"hess_fd: {reason}")
        with np.errstate(all="ignore"):
            hmax = float(np.max(np.abs(H))) if np.all(np.isfinite(H)) else math.inf
            v, g = self.fresh(x)
            finite_h = np.abs(H[np.isfinite(H)])
            near_overflow = (max(np.max(np.abs(g), initial=0.0),
                                 np.max(finite_h, initial=0.0)) > 1e-8 * DBL_MAX
                             or rp.reference_bounds(res)[2])

        def tolerance(i, j, d):
            bound, scale = setup["bound"], setup["scale"]
            with np.errstate(all="ignore"):
                return (1e-6 * abs(d) + 1e-9 * hmax + 16.0 * (bound[i] + bound[j])
                        + 1e-12 * (scale[i] + scale[j]) + 2 * DBL_MIN)

        # symmetry
        if not np.all(np.isfinite(g)):
            self.out.skip("hess_sym: the gradient is not finite")
        elif near_overflow:
            self.out.skip("hess_sym: derivatives near the end of the float range")
        elif not np.all(np.isfinite(H)):
            if rp.same_bits(np.isnan(H), np.isnan(H.T)) and rp.same_bits(np.isinf(H),
                                                                          np.isinf(H.T)):
                self.out.ok("hess_sym")
            elif "above" in rp.outside_float_range(res, second=True):
                self.out.skip(rp.ABOVE_RANGE.format("hess_sym"))
            else:
                self.fail("hess_sym", pts, f"hessian {rp.fmt(H)}: inf/nan entries not "
                          f"symmetric, gradient {rp.fmt(g)}")
        else:
            L = len(res.run.parents)
            tol = 8.0 * (L + 2) * EPS * (np.abs(H) + np.abs(H.T)) + 1e-10 * hmax
            bad = [(i, j) for i in range(n) for j in range(i + 1, n)
                   if abs(H[i, j] - H[j, i]) > tol[i, j]]
            wrong = []
            limited = False
            for i, j in bad[:4]:
                if setup is None:
                    wrong.append((i, j, "no mpmath reference at this point"))
                    continue
                for a, b in ((i, j), (j, i)):
                    verdict = self.hessian_entry_mp(setup, a, b, float(H[a, b]),
                                                    tolerance(a, b, float(H[a, b])))
                    if verdict is None:
                        self.out.skip("hess_sym: kink or branch within the step (mpmath)")
                    elif verdict is not True:
                        if (math.isfinite(H[a, b])
                                and "below" in rp.outside_float_range(res, second=True)):
                            limited = True
                        else:
                            wrong.append((a, b, verdict))
            if wrong:
                self.fail("hess_sym", pts, f"hessian {rp.fmt(H)} is not symmetric: "
                          + "; ".join(f"H[{a}, {b}] = {rp.fmt(H[a, b])} vs H[{b}, {a}] = "
                                      f"{rp.fmt(H[b, a])}: {why}" for a, b, why in wrong))
            elif limited:
                self.out.skip(rp.BELOW_RANGE.format("hess_sym"))
            else:
                self.out.ok("hess_sym")
                if bad:
                    self.out.note_known("hess_sym: asymmetric beyond the rounding bound, but "
                                        "both entries agree with mpmath")
        if setup is None:
            return
        # H u against central differences of Function.grad along u
        u = np.asarray(self.direction())
        col = self.grad_difference_along(F, x, u, res)
        if col is None:
            self.out.skip("hess_fd: kink or branch within the step along the direction")
            return
        D, err = col
        with np.errstate(all="ignore"):
            Hu = H @ u
        au = np.abs(u)
        wrong = []
        for i in range(n):
            h = float(Hu[i])
            tol = sum(au[j] * tolerance(i, j, D[i]) for j in range(n) if u[j])
            if math.isfinite(h) and abs(h - D[i]) <= tol + 4.0 * err[i]:
                continue
            verdict = self.hessian_along_mp(setup, i, u, h, tol)
            if verdict is True:
                continue
            if verdict is None:
                self.out.skip("hess_fd: kink or branch within the step (mpmath)")
                return
            limits = rp.outside_float_range(res, second=True)
            if "below" in limits if math.isfinite(h) else "above" in limits:
                self.out.skip((rp.BELOW_RANGE if math.isfinite(h) else rp.ABOVE_RANGE)
                              .format("hess_fd"))
                return
            wrong.append(f"(H u)[{i}]: fastad {rp.fmt(h)}, central difference of the "
                         f"gradient {D[i]!r} (error estimate {err[i]:.3g}), {verdict}")
        if wrong:
            self.fail("hess_fd", {"x": x, "u": list(u)}, "\n".join(wrong)
                      + f"\nhessian {rp.fmt(H)}")
        else:
            self.out.ok("hess_fd")

    def grad_difference_along(self, F, x, u, res):
        """H u by central differences of Function.grad along u with steps t and
        t/2 (Richardson), with an error estimate; None if a branch or a piece
        changes within the step."""
        cols = []
        big = max([1.0] + [abs(v) for v, c in zip(x, u) if c])
        for h in (1e-4, 5e-5):
            t = h * big
            up = [v + t * c for v, c in zip(x, u)]
            dn = [v - t * c for v, c in zip(x, u)]
            for y in (up, dn):
                r = self.ev.plain(y)
                if r.pattern != res.pattern or r.run.pieces != res.run.pieces or r.run.singular:
                    return None
            with np.errstate(all="ignore"):
                gu = self.api.grad_F(F, self.X(up))
                gd = self.api.grad_F(F, self.X(dn))
            if not (np.all(np.isfinite(gu)) and np.all(np.isfinite(gd))):
                return None
            cols.append((gu - gd) / (2.0 * t))
        D1, D2 = cols
        return (4.0 * D2 - D1) / 3.0, np.abs(D2 - D1)

    def hessian_along_mp(self, setup, i, u, h_value, tol):
        """True if h_value matches the mixed second difference along e_i and u
        in mpmath (within tol and the rounding estimate), None if the point is
        not smooth enough at the step, else a description of the mpmath value."""
        x_mp, base = setup["x_mp"], setup["mrun"]
        steps = [mpf(2) ** -40 * (abs(v) if 0 < abs(v) < 1 else 1) / max(1.0, float(t))
                 for v, t in zip(x_mp, setup["tmax"])]

        def second(noise, shrink=0):
            hi = steps[i] * mpf(2) ** -shrink
            hj = min(steps[k] for k in range(len(u)) if u[k]) * mpf(2) ** -shrink
            dps = 40 + int(math.ceil(float(mpmath.log10(setup["big"] / (hi * hj)))))
            total = 0
            for si, sj, w in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                with mpmath.workdps(dps):
                    y = [v + sj * hj * mpf(float(c)) for v, c in zip(x_mp, u)]
                    y[i] += si * hi
                v, r = self.ev.mp(y, noise, dps)
                if (r.nonfinite or r.range or r.singular or r.pattern != base.pattern
                        or r.pieces != base.pieces):
                    return None
                with mpmath.workdps(dps):
                    total += w * v
            with mpmath.workdps(dps):
                return (float(total / (4 * hi * hj)),
                        float(mpf(10) ** (4 - dps) * setup["big"] / (hi * hj)))

        first = second(None)
        if first is None:
            return None
        dv, err = first
        if not abs(dv) < 1e-8 * DBL_MAX:
            self.out.skip("hess_fd: a second derivative near the end of the float range")
            return None
        tol = tol + err
        if math.isfinite(h_value) and abs(h_value - dv) <= tol:
            return True
        smaller = second(None, shrink=12)
        if smaller is None or abs(smaller[0] - dv) > 1e-8 * abs(dv) + err + smaller[1] + 2 * DBL_MIN:
            self.out.skip("hess_fd: the function varies faster than the step (unstable "
                          "second difference)")
            return None
        spread = 0.0
        for seed in (1, 2, 3):
            noisy = second(seed)
            if noisy is None:
                return None
            spread = max(spread, abs(noisy[0] - dv))
        if math.isfinite(h_value) and abs(h_value - dv) <= tol + 10.0 * spread:
            self.out.note_known("hess_fd: agrees within the rounding estimate "
                                "(an ill-conditioned point), not within 1e-6")
            return True
        return (f"mpmath second difference {dv!r} (tolerance {tol:.3g}, rounding spread "
                f"{spread:.3g})")

    def check_jacobian(self, x0, x2):
        """The array-output variant (the program returning its last array): its
        value against the plain floats bit for bit; jacrev, jacfwd and
        Function.jacobian in both modes against the reference sweeps of each
        output element (to rounding) and against each other (bit for bit where
        they run the same sweeps); vjp with a random cotangent against the
        reference; the same on object arrays of Vars (to rounding)."""
        p = self.p
        fv = p.function(vector=True)
        gv = p.canonical(fv)
        gv_obj = p.object_mode(fv)
        with np.errstate(all="ignore"):
            F = self.api.trace(gv, self.X(x0))
        for x in (x0, x2):
            values, results = self.ev.vector(x)
            m = values.size
            n = p.n
            X = self.X(x)
            pts = {"x0": x0, "x": x}
            problems = []
            with np.errstate(all="ignore"):
                v_F = self.api.call(F, X)
                jr = self.rows(self.api.jacrev(gv, X), m)
                jf = self.rows(self.api.jacfwd(gv, X), m)
                Jr = self.rows(self.api.jacobian_F(F, X, "reverse"), m)
                Jf = self.rows(self.api.jacobian_F(F, X, "forward"), m)
                try:
                    jo = self.rows(self.api.jacrev(gv_obj, X), m)
                except Exception as e:  # noqa: BLE001
                    jo = None
                    if results and results[0].run.consts:
                        self.out.note_known(OBJECT_MIXED)
                    else:
                        problems.append(f"object mode raised {type(e).__name__}: {e}")
                w = np.array([self.rng.choice((1.0, -0.5, 2.0, 0.0, 0.25)) for _ in range(m)])
                v_vjp, c_vjp = self.api.vjp(gv, X, w.reshape(values.shape))
            if not rp.same_bits(np.asarray(v_F, dtype=np.float64).reshape(-1), values.reshape(-1)):
                problems.append(f"F(x) {rp.fmt(v_F)}, plain floats {rp.fmt(values)}")
            if not rp.same_bits(np.asarray(v_vjp, dtype=np.float64).reshape(-1), values.reshape(-1)):
                problems.append(f"vjp's value {rp.fmt(v_vjp)}, plain floats {rp.fmt(values)}")
            if not (rp.same_bits(Jr, jr) and rp.same_bits(Jf, jf)):
                problems.append(f"Function.jacobian reverse {rp.fmt(Jr)} / forward {rp.fmt(Jf)}, "
                                f"jacrev {rp.fmt(jr)} / jacfwd {rp.fmt(jf)}")
            ref_vjp, total_scale = reference_vjp(results, w, n)
            for i, res in enumerate(results):
                ref, scale = rp.reference_reverse(res)
                L = len(res.run.parents)
                for name, row in (("jacrev", jr[i]), ("jacfwd", jf[i]),
                                  ("object mode", None if jo is None else jo[i])):
                    if row is None:
                        continue
                    bad = [k for k in range(n) if not _close_sub(row[k], ref[k], scale[k], L)]
                    if name == "jacfwd" and bad:
                        fwd = rp.reference_forward(res, np.eye(n))
                        bad = [k for k in bad if not (_close_sub(row[k], fwd[k], scale[k], L)
                                                      and not _close_sub(fwd[k], ref[k], scale[k], L))]
                        if not bad:
                            self.out.note_known("jacfwd vs jacrev: infinite partial meets a "
                                                "cancelling sum")
                    if name == "object mode" and bad and (res.run.compare_nan or res.run.consts
                                                          or _near_overflow(res)):
                        self.out.note_known(OBJECT_COMPARE if res.run.compare_nan else
                                            OBJECT_MIXED if res.run.consts else OBJECT_OVERFLOW)
                        bad = []
                    if bad:
                        problems.append(f"output {i}: {name} {rp.fmt(row)}, reference reverse "
                                        f"sweep {rp.fmt(ref)} (inputs {bad})")
            L = max(len(r.run.parents) for r in results) if results else 0
            if not all(_close_sub(c_vjp[k], ref_vjp[k], total_scale[k], L + m)
                       for k in range(n)):
                problems.append(f"vjp(w = {rp.fmt(w)}): {rp.fmt(c_vjp)}, reference {rp.fmt(ref_vjp)}")
            if problems:
                self.fail("jacobian", pts, f"the array-output variant: "
                          f"{p.vector.splitlines()[-1].strip()} in place of the last line\n"
                          + "\n".join(problems))
            else:
                self.out.ok("jacobian")

    def rows(self, flat, m):
        """A flattened Jacobian (input by input: each block out.shape +
        x_i.shape) as an m x n matrix."""
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        blocks = []
        start = 0
        for size in self.p.sizes:
            blocks.append(flat[start:start + m * size].reshape(m, size))
            start += m * size
        return np.concatenate(blocks, axis=1)

    def check_grad_function(self, x0, xs):
        with np.errstate(all="ignore"):
            F = self.api.trace(self.f, self.X(x0))
            G = self.api.grad_function(F)
        for x in xs:
            with np.errstate(all="ignore"):
                gG = self.api.call_grad_function(G, self.X(x))
                gF = self.api.grad_F(F, self.X(x))
            _, scale, L = self.reference(x)
            if all(rp._close(a, b, c, L) for a, b, c in zip(gG, gF, scale)):
                self.out.ok("grad_function")
            else:
                self.fail("grad_function", {"x0": x0, "x": x},
                          f"grad_function()(x) {rp.fmt(gG)}, Function.grad(x) {rp.fmt(gF)}")

    def check_pickle(self, x0, x1, x2):
        p0 = self.ev.plain(x0).pattern
        with np.errstate(all="ignore"):
            F = self.api.trace(self.f, self.X(x0))
            P = self.api.pickle_roundtrip(F)
        cases = [(P, x, [p0]) for x in (x0, x1, x2)]
        multi = getattr(self, "F_multi", None)
        if multi is not None:
            P2 = self.api.pickle_roundtrip(multi)
            seen = {self.ev.plain(x).pattern for x in (x0, x1, x2)}
            cases += [(P2, x, list(seen)) for x in (x0, x1, x2)]
        for Q, x, patterns in cases:
            p = self.ev.plain(x).pattern
            try:
                with np.errstate(all="ignore"):
                    v, g = self.api.value_and_grad_F(Q, self.X(x))
            except fastad.BranchError:
                if p in patterns:
                    self.fail("pickle", {"x0": x0, "x": x},
                              "BranchError on a branch the pickled Function recorded")
                else:
                    self.out.ok("pickle")
                continue
            if p not in patterns:
                self.fail("pickle", {"x0": x0, "x": x},
                          "an unpickled Function returned a value on a branch it never recorded")
                continue
            vr, gr = self.fresh(x)
            if rp.same_float(v, vr) and rp.same_bits(g, gr):
                self.out.ok("pickle")
            else:
                self.fail("pickle", {"x0": x0, "x": x},
                          f"unpickled ({rp.fmt(v)}, {rp.fmt(g)}), fresh ({rp.fmt(vr)}, "
                          f"{rp.fmt(gr)})")


# ---- running ------------------------------------------------------------------------------------

def check_program(program, rng, outcome=None, api=None, hessian=True, points=None):
    """Every check on the array program, at random points drawn from rng or at
    the given flat points (x0, x1, x2, x3)."""
    outcome = outcome if outcome is not None else ArrayOutcome()
    ArrayProgramChecker(program, outcome, rng, api=api, hessian=hessian).run(points)
    return outcome


def run_range(seed, start, stop, hessian_every=1):
    """Programs start .. stop-1; the odd ones with every whole-array operation
    marked as a run (the sweeps' run loops; else only 16 entries and more)."""
    from fastad import _core
    outcome = ArrayOutcome()
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        for index in range(start, stop):
            program, rng = generate(seed, index)
            old = _core._set_run_min_entries(1 if index % 2 else 16)
            try:
                check_program(program, rng, outcome, hessian=(index % hessian_every == 0))
            finally:
                _core._set_run_min_entries(old)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _run_range_star(args):
    return run_range(*args)


def run_programs(seed, count, workers=1, hessian_every=1):
    """Array programs 0 .. count-1 of the seed, on `workers` processes."""
    t0 = time.perf_counter()
    if workers <= 1:
        outcome = run_range(seed, 0, count, hessian_every)
    else:
        import concurrent.futures
        import multiprocessing
        chunk = max(1, count // (workers * 8))
        ranges = [(seed, s, min(count, s + chunk), hessian_every) for s in range(0, count, chunk)]
        outcome = ArrayOutcome()
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for part in pool.map(_run_range_star, ranges):
                outcome.merge(part)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FASTAD_SEED", "20240611")))
    ap.add_argument("--index", type=int, default=None, help="one program: print it and check it")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    if args.index is not None:
        program, rng = generate(args.seed, args.index)
        print(program.source)
        with np.errstate(all="ignore"):
            outcome = check_program(program, rng)
    else:
        outcome = run_programs(args.seed, args.count, args.workers)
    print(outcome.summary(args.seed))
    if outcome.n_failed:
        print()
        print(outcome.failure_report())
    return 1 if outcome.n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
