"""Random scalar programs for fastad, and the checks run on each.

A program is generated as the *source text* of a Python function: straight
line code, ``if``/``elif``/``else`` on comparisons of values (branch guards
when traced), ``for`` loops with small fixed trip counts accumulating into
variables, and every operation of the test catalogue (tests/catalogue.py) in
every spelling user code may write it: operators (``+ - * / ** // %``,
unary minus, ``v ** 2``), builtins (``abs()``, ``round()``, ``math.trunc()``),
NumPy's functions (``np.sqrt``, called on the operand through NumPy's
object protocol) and fastad's functions, written ``F.<name>`` (the catalogue
row without a public function, ``times``, is ``F.times``). Operands are
mapped into the operation's domain by the catalogue's map most of the time
(written into the source: ``F.log(((v * v) + 0.25))``) and left alone on
purpose some of the time; "edgy" programs also use the constants and inputs
0.0, -0.0, +-inf, nan, huge and tiny. The same source runs three ways:

* with fastad (``F`` holds fastad's functions; the inputs are Vars);
* on plain floats (``PF`` operands, ``F`` the plain namespace): every
  operation gives the catalogue's float result (``Op.on_floats``: fastad's
  own bits for a public function, NumPy's scalar semantics otherwise, so
  ``v ** 2`` is ``x * x``). Each run also records the branch pattern
  (outcomes of the comparisons), which piece of every piecewise operation
  was taken (``Op.piece``), and a *reference tape* of the local partial
  derivatives (from fastad's own rule table), swept in Python by
  ``reference_reverse`` and ``reference_forward`` with the convention that an
  exact zero factor contributes nothing (``0 * inf == 0``);
* with mpmath at 50 digits (``MP`` operands, the catalogue's ``Op.mp``
  references), for central finite differences with a step of 2**-80 |x|.
  Runs flag points at kinks (``Op.kink``) or singular points
  (``Op.singular``) of any operation, out-of-range values and non-finite
  intermediates, and can perturb every result by a relative 2**-52 (a
  model of float rounding) to estimate how ill-conditioned a derivative is.

What the checker knows of an operation comes from its catalogue entry only:
adding an operation is one catalogue entry (the generator writes each
spelling by what it is: an operator, a builtin, a NumPy or a fastad
function; the plain and mpmath operands learn which Python or NumPy protocol
call a spelling makes by calling it on a probe).

``check_program`` runs every check on one program (see CHECKS) and records
passes, failures, skips (with the reason) and known, documented differences
in an ``Outcome``; ``run_programs`` runs many, optionally on several
processes. ``python tests/random_programs.py --seed S --index I`` prints one
program and its outcome.

Exact and approximate comparisons:

* bit for bit (nan equal to nan, signs of zero compared): value against
  plain floats; replay, retrace=False, batches (1 and 2 threads), pickled
  Functions and Function.jacobian/jvp/vjp against fresh recordings; jacrev
  and vjp(1.0) against grad; hessian against Function.hessian. These run
  the same rules on the same tape in the same order.
* to rounding (the same inf and nan, finite values within 4 (L + 2) eps
  times the sum of |path products| from the reference sweep, L the tape
  length): jacfwd against jacrev, both against the reference sweeps, jvp,
  and grad_function against grad. Forward mode sums each entry's tangent
  over its operands in tape order, reverse mode each adjoint over the
  entry's consumers in reverse order: the same path products summed in
  another order (in about half of the points the results are bit-identical,
  and zeros often differ in sign). grad_function evaluates the adjoints as
  emitted tape entries, with the same effect.
* against mpmath: gradients within 1e-6 relative plus the rounding bound of
  the chain rule (reference_bounds) and what the differences resolve; a
  larger difference is looked at again with every intermediate perturbed by
  2**-52 (a spread of rounding) before it counts as a failure. Hessians the
  same way, first against central differences of Function.grad, then
  against mixed second differences in mpmath.

A first or second partial derivative that is below the float range at the
operands (arctan at 1e200: 1e-400) is 0 in fastad's rules, and the sweeps
multiply partials as factors, so a derivative that needs it (arctan(1e200 x):
1e-200) comes out 0 there: a documented limitation. The same products go
beyond the float range the other way (a second partial of cbrt at 1e-321, or
an adjoint of 1e308 times square'' = 2, on the way to a Hessian entry of 2e8)
and give inf or nan. A disagreement with mpmath explained by either
(``outside_float_range``) is counted as a skip with its reason.
"""

import math
import os
import pickle
import random
import re
import sys
import time
import traceback
import types
from collections import Counter

import mpmath
import numpy as np
from mpmath import mpf

if __name__ == "__main__":  # run as a script from a source tree: use its fastad
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastad
from fastad import _core

import catalogue

EPS = 2.0 ** -52
DBL_MAX = sys.float_info.max
DBL_MIN = sys.float_info.min
INF = math.inf
NAN = math.nan
MP_DPS = 50

# ---- the operations: the test catalogue ------------------------------------------------------
# Every row of the rule table with a catalogue entry, and every spelling of it
# (plus its `record` where that is another one: math.trunc, round), as the
# generator writes it into a program and as the plain and mpmath operands
# dispatch it.

OPS = {op.name: op for op in catalogue.ops()}
ALL_OPS = set(OPS)
OPCODE = {name: codes[0] for name, arity, codes in _core.opcode_table()}

_rule = _core._evaluate_rule
_second = _core._evaluate_second

# Python's operator syntax, by special method (the language, not the operations)
_INFIX = {"__add__": "+", "__sub__": "-", "__mul__": "*", "__truediv__": "/",
          "__floordiv__": "//", "__mod__": "%", "__pow__": "**"}
_BINARY_DUNDERS = [d for name in _INFIX for d in (name, "__r" + name[2:])]
_UNARY_DUNDERS = ["__neg__", "__abs__", "__floor__", "__ceil__", "__trunc__", "__round__"]


class _Probe:
    """Stands for an operand that is neither a Var nor a number: records the
    protocol call (special method or NumPy object-loop method) a spelling
    makes on it."""

    def __init__(self, calls):
        self._calls = calls

    def _record(self, name, args):
        self._calls.append((name, args))
        return _Probe(self._calls)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args: self._record(name, args)


for _d in _BINARY_DUNDERS + _UNARY_DUNDERS:
    setattr(_Probe, _d, (lambda d: lambda self, *args: self._record(d, args))(_d))


def _protocol(fn, arity):
    """The protocol calls fn makes on probe operands: [(name, args)] for a
    unary fn; for a binary one [(name, args), (reflected name, args), ...] of
    fn(probe, 1.5), fn(1.5, probe) and fn(probe, probe). None if fn takes no
    foreign operand (a function of fastad)."""
    calls = []
    try:
        if arity == 1:
            fn(_Probe(calls))
        else:
            fn(_Probe(calls), 1.5)
            fn(1.5, _Probe(calls))
            fn(_Probe(calls), _Probe(calls))
    except TypeError:
        return None
    return calls


def _dotted(label):
    return all(part.isidentifier() for part in label.split("."))


class Spelling:
    """One way user code writes an operation: its catalogue entry, label and
    callable (on Vars), how the generator writes it (template: format string
    of the operands' source), its weight in the generator, the protocol calls
    it makes on a foreign operand (None: a function called through F), the
    attribute of F (functions), and its float evaluation (Op.on_floats)."""

    __slots__ = ("op", "label", "fn", "template", "kind", "weight", "calls", "attr",
                 "on_floats")

    def __init__(self, op, label, fn):
        self.op = op
        self.label = label
        self.fn = fn
        self.calls = _protocol(fn, op.arity)
        slots = ", ".join("{%d}" % k for k in range(op.arity))
        self.attr = None
        if self.calls is None:
            # a function of fastad: F.<name>, or F.<row> for a row without a
            # public function (times, through fastad._core._apply)
            tail = label[len("fastad."):] if label.startswith("fastad.") else ""
            self.attr = tail if tail.isidentifier() else op.name
            self.kind = "function"
            self.template = f"F.{self.attr}({slots})"
        elif _dotted(label):
            # NumPy's function, a builtin or math.<name>: on the operand's protocol
            self.kind = "numpy" if label.startswith("np.") else "builtin"
            self.template = f"{label}({slots})"
        elif op.arity == 2 and label in _INFIX.values():
            self.kind = "operator"
            self.template = "({0} %s {1})" % label
        elif op.arity == 1 and re.search(r"\bx\b", label):
            self.kind = "operator"      # an expression of x: -x, x ** 2
            self.template = "(" + re.sub(r"\bx\b", "{0}", label) + ")"
        else:
            raise ImportError(f"random_programs: no way to write the spelling {label!r} of "
                              f"{op.name} into a program (tests/catalogue.py)")
        self.weight = 1 if self.kind == "numpy" else 3
        self.on_floats = op.on_floats(label if label in op.spellings
                                      else next(iter(op.spellings)))

    def write(self, *operands):
        """Source text of the operation on operands (source text, or numbers
        written as literals)."""
        return self.template.format(*(o if isinstance(o, str) else literal(o) for o in operands))

    def __repr__(self):
        return f"Spelling({self.op.name}: {self.label})"


def _spellings(op):
    out = [Spelling(op, label, fn) for label, fn in op.spellings.items()]
    record = op.record
    if all(record is not fn for fn in op.spellings.values()):
        module = getattr(record, "__module__", None)
        label = (record.__name__ if module == "builtins"
                 else f"{module}.{record.__name__}" if module == "math" else None)
        if label is not None:
            out.append(Spelling(op, label, record))
    return out


SPELLINGS = {op.name: _spellings(op) for op in OPS.values()}

# A protocol call on a plain or mpmath operand -> the spelling it comes from:
# UNARY_PROTOCOL[(name, constant args)] (x.sqrt(), -x, x ** 2), and
# BINARY_PROTOCOL[name] = (spelling, reflected) (x + y, 1.5 - x).
UNARY_PROTOCOL = {}
BINARY_PROTOCOL = {}
FUNCTIONS = {}      # attribute of F -> spelling


def _register(table, key, value, spelling):
    old = table.setdefault(key, value)
    old_op = (old[0] if isinstance(old, tuple) else old).op
    if old_op is not spelling.op:
        raise ImportError(f"random_programs: {key} spells both {old_op.name} and "
                          f"{spelling.op.name} (tests/catalogue.py)")


for _spelled in SPELLINGS.values():
    for _s in _spelled:
        if _s.calls is None:
            _register(FUNCTIONS, _s.attr, _s, _s)
        elif _s.op.arity == 1:
            if len(_s.calls) != 1:
                raise ImportError(f"random_programs: {_s} makes protocol calls {_s.calls}")
            _register(UNARY_PROTOCOL, _s.calls[0], _s, _s)
        else:
            (name, _), (rname, _), (same, _) = _s.calls
            if same != name:
                raise ImportError(f"random_programs: {_s} makes protocol calls {_s.calls}")
            _register(BINARY_PROTOCOL, name, (_s, False), _s)
            _register(BINARY_PROTOCOL, rname, (_s, True), _s)

# the operations whose partials are constant (no second partial that is not a
# structural zero of the rule table: linear and piecewise-constant ones)
_CONSTANT_PARTIALS = {name for name, op in OPS.items()
                      if all(rule == "0" for rule in (op.row.d2 if op.arity == 2
                                                      else (op.row.d2,)))}


# ---- floats ------------------------------------------------------------------------------------

def same_float(a, b):
    """The same float: equal with the same sign of zero, or both nan."""
    a = float(a)
    b = float(b)
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def same_bits(a, b):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    return a.shape == b.shape and all(same_float(p, q) for p, q in zip(a, b))


def times(g, p):
    """g * p where an exact zero on either side contributes nothing."""
    if g == 0.0 or p == 0.0:
        return 0.0
    return g * p


def fmt(v):
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(fmt(u) for u in np.asarray(v, dtype=np.float64).reshape(-1)) + "]"
    return repr(float(v))


# ---- the plain-float run, with its reference tape ------------------------------------------------

class Run:
    """What one evaluation saw: branch pattern, pieces of piecewise functions,
    flags, and (plain runs) the reference tape."""

    __slots__ = ("pattern", "pieces", "singular", "kink", "nonfinite", "range", "parents",
                 "partials", "ops", "values", "args", "noise", "count", "scale")

    def __init__(self, noise=None):
        self.pattern = []
        self.pieces = []
        self.singular = False   # at a point where an operation has no finite derivative
        self.kink = False       # exactly at a jump or kink of a piecewise operation
        self.nonfinite = False  # some intermediate is inf or nan
        self.range = False      # (mp) some intermediate is outside the float range
        self.parents = []
        self.partials = []
        self.ops = []
        self.values = []
        self.args = []
        self.noise = noise
        self.count = 0
        self.scale = 0       # (mp) the largest magnitude of an intermediate

    def push(self, name, parents, partials, value, args=()):
        self.parents.append(parents)
        self.partials.append(partials)
        self.ops.append(name)
        self.values.append(value)
        self.args.append(args)
        return len(self.parents) - 1


_run = None  # the Run being evaluated (one evaluation at a time per process)


def _note(run, op, values, variables):
    """Records which piece of a piecewise operation the operands (floats or
    mpfs) are on, and whether they sit on a kink or at a singular point (in a
    variable operand) of the operation: the catalogue's piece, kink and
    singular."""
    if op.piece is not None:
        run.pieces.append((op.name, op.piece(*values)))
    if op.kink is not None and op.kink(*values) == 0:
        run.kink = True
    if op.singular is not None:
        at = op.singular(*values)
        if at if op.arity == 1 else any(s and v for s, v in zip(at, variables)):
            run.singular = True


_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class Operand:
    """A value that depends on the inputs, on plain floats (PF) or in mpmath
    (MP). Operators and the methods NumPy's object loops call dispatch to the
    operation of the catalogue whose spelling makes that call (x ** 2 is a
    square, as on Vars); comparisons record the branch pattern."""

    __slots__ = ()

    def _apply(self, spelling, operands):
        raise NotImplementedError

    def _compare(self, other, how):
        raise NotImplementedError

    def _dispatch(self, name, args):
        if any(isinstance(a, np.ndarray) for a in args):
            return NotImplemented   # an array operand (array programs): NumPy's object loops
        if all(type(a) in (int, float) for a in args):
            spelling = UNARY_PROTOCOL.get((name, args))
            if spelling is not None:
                return self._apply(spelling, (self,))
        if len(args) == 1 and name in BINARY_PROTOCOL:
            spelling, reflected = BINARY_PROTOCOL[name]
            return self._apply(spelling, (args[0], self) if reflected else (self, args[0]))
        raise TypeError(f"no operation of the catalogue is written {name}{args!r}")

    def __getattr__(self, name):
        # NumPy's object loops: np.sqrt(x) calls x.sqrt()
        spelling = UNARY_PROTOCOL.get((name, ())) if not name.startswith("__") else None
        if spelling is None:
            raise AttributeError(name)
        return lambda: self._apply(spelling, (self,))

    def __pos__(self):
        return self

    def __lt__(self, o): return NotImplemented if isinstance(o, np.ndarray) else self._compare(o, "<")
    def __le__(self, o): return NotImplemented if isinstance(o, np.ndarray) else self._compare(o, "<=")
    def __gt__(self, o): return NotImplemented if isinstance(o, np.ndarray) else self._compare(o, ">")
    def __ge__(self, o): return NotImplemented if isinstance(o, np.ndarray) else self._compare(o, ">=")
    def __eq__(self, o): return NotImplemented if isinstance(o, np.ndarray) else self._compare(o, "==")
    def __ne__(self, o): return NotImplemented if isinstance(o, np.ndarray) else self._compare(o, "!=")
    __hash__ = None

    def __bool__(self):
        raise TypeError("a generated program never branches on a value's truth")


for _d in set(_BINARY_DUNDERS + _UNARY_DUNDERS) | {k[0] for k in UNARY_PROTOCOL} \
        | set(BINARY_PROTOCOL):
    if _d.startswith("__"):
        setattr(Operand, _d, (lambda d: lambda self, *args: self._dispatch(d, args))(_d))


class PF(Operand):
    """A float that depends on the inputs (an entry of the reference tape)."""

    __slots__ = ("v", "i")

    def __init__(self, v, i):
        self.v = v
        self.i = i

    def __repr__(self):
        return f"PF({self.v!r})"

    def _apply(self, spelling, operands):
        return _pf_apply(spelling, operands)

    def _compare(self, o, how):
        b = o.v if type(o) is PF else float(o)
        outcome = _COMPARE[how](self.v, b)
        _run.pattern.append(outcome)
        _run.pieces.append(("cmp", outcome))
        if self.v == b:
            _run.kink = True
        return outcome


def _pf_apply(spelling, operands):
    """The operation on plain floats: the catalogue's float result, and (an
    operand depending on the inputs) an entry of the reference tape with
    fastad's partials."""
    op = spelling.op
    variables = [type(o) is PF for o in operands]
    values = [o.v if var else float(o) for o, var in zip(operands, variables)]
    y = float(spelling.on_floats(*(np.float64(v) for v in values)))
    if not any(variables):
        return y
    _note(_run, op, values, variables)
    partials = _rule(OPCODE[op.name], *values)[1:]
    parents = tuple(o.i for o, var in zip(operands, variables) if var)
    partials = tuple(p for p, var in zip(partials, variables) if var)
    args = tuple(values) if op.arity == 1 else (values[0], values[1], variables[0], variables[1])
    return PF(y, _run.push(op.name, parents, partials, y, args))


def _namespace(kind, call):
    """``F`` for one run: the function spellings of the catalogue by attribute."""
    ns = types.SimpleNamespace()
    for attr, spelling in FUNCTIONS.items():
        setattr(ns, attr, call(spelling))
    ns.__doc__ = kind
    return ns


VAR_NAMESPACE = _namespace("fastad's functions, on Vars", lambda s: s.fn)
PLAIN_NAMESPACE = _namespace("the functions on plain floats, recorded on the reference tape",
                             lambda s: lambda *operands: _pf_apply(s, operands))


class PlainResult:
    __slots__ = ("value", "out", "run", "n", "range_limits")

    def __init__(self, value, out, run, n):
        self.value = value
        self.out = out      # index of the output on the reference tape (None: a constant)
        self.run = run
        self.n = n
        self.range_limits = {}      # outside_float_range, by order

    @property
    def pattern(self):
        return tuple(self.run.pattern)


def reference_reverse(res):
    """(gradient, absolute gradient) by a reverse sweep of the reference tape:
    adjoints accumulate in reverse tape order, as fastad's sweep does, and a
    zero adjoint or a zero partial contributes nothing. The absolute sweep
    (|adjoint| times |partial|) is the scale of the rounding errors."""
    n = res.n
    if res.out is None:
        return [0.0] * n, [0.0] * n
    parents = res.run.parents
    partials = res.run.partials
    adj = [0.0] * len(parents)
    aab = [0.0] * len(parents)
    adj[res.out] = 1.0
    aab[res.out] = 1.0
    for i in range(res.out, n - 1, -1):
        g = adj[i]
        ga = aab[i]
        if g == 0.0 and ga == 0.0:
            continue
        for a, p in zip(parents[i], partials[i]):
            if g != 0.0:
                adj[a] += times(g, p)
            if ga != 0.0:
                aab[a] += times(ga, abs(p))
    return adj[:n], aab[:n]


def reference_forward(res, seeds):
    """Tangents of the output for the columns of seeds (n x k) by a forward
    sweep of the reference tape, a zero factor contributing nothing."""
    n = res.n
    seeds = np.asarray(seeds, dtype=np.float64).reshape(n, -1)
    k = seeds.shape[1]
    if res.out is None:
        return np.zeros(k)
    parents = res.run.parents
    partials = res.run.partials
    tan = [None] * max(res.out + 1, n)
    for i in range(n):
        tan[i] = seeds[i].copy()
    with np.errstate(all="ignore"):
        for i in range(n, res.out + 1):
            row = np.zeros(k)
            for a, p in zip(parents[i], partials[i]):
                if p == 0.0:
                    continue
                t = tan[a]
                term = p * t
                term[t == 0.0] = 0.0
                row = row + term
            tan[i] = row
    return tan[res.out]


def partial_error(name, args, y, p):
    """A bound, in units of eps, of the absolute rounding error of the local
    partial p as fastad's rule computes it from the operand values (args) and
    the result y: the catalogue's partial_error (most partials are accurate
    to a few ulps, relative; those formed by cancellation only to a few ulps
    of their terms)."""
    if not math.isfinite(p):
        return 0.0
    error = OPS[name].partial_error
    if callable(error):
        return error(args[:OPS[name].arity], y, p)
    return error * abs(p)


def _partial_shift(name, args, errs):
    """How far the local partials move when the operands move by their
    rounding error bounds (the largest change over the corners), per operand."""
    code = OPCODE[name]
    if len(args) == 1:
        p0 = _rule(code, args[0])[1:]
        trials = [_rule(code, args[0] + s * errs[0])[1:] for s in (-1.0, 1.0)]
    else:
        p0 = _rule(code, args[0], args[1])[1:]
        trials = [_rule(code, args[0] + s * errs[0], args[1] + t * errs[1])[1:]
                  for s in (-1.0, 1.0) for t in (-1.0, 1.0)]
    shift = [0.0] * len(p0)
    for q in trials:
        for k, (a, b) in enumerate(zip(p0, q)):
            d = abs(a - b)
            shift[k] = max(shift[k], d if d == d else math.inf)
    return shift


def reference_bounds(res):
    """(absolute gradient, rounding bound, overflow, largest tangent) per input.

    The absolute gradient sums |adjoint| * |partial| over the paths (the scale
    of the rounding of the sums). The rounding bound is the first-order error
    of the chain rule from inexact partials: over the entries, the absolute
    adjoint times the partial's error times the absolute tangent of its
    operand, where a partial's error is that of its formula (partial_error)
    plus how far it moves when its operands move by their own rounding error
    bounds (err_i = eps |v_i| + sum |partial| err_operand): sin(1.1e154 * x)
    has an argument known to +-1e138 and a derivative known not at all.
    overflow: some absolute adjoint or tangent is beyond the float range, so
    that a float sweep may meet inf - inf where the derivative is finite. The
    largest absolute tangent of any intermediate sets the step of the finite
    differences."""
    n = res.n
    if res.out is None:
        return np.zeros(n), np.zeros(n), False, np.ones(n)
    run = res.run
    parents = run.parents
    partials = run.partials
    N = max(res.out + 1, n)
    adj = [0.0] * N
    adj[res.out] = 1.0
    for i in range(res.out, n - 1, -1):
        g = adj[i]
        if g == 0.0:
            continue
        for a, p in zip(parents[i], partials[i]):
            adj[a] += times(g, abs(p))
    with np.errstate(all="ignore"):
        tan = np.zeros((N, n))
        tan[:n] = np.eye(n)
        err = [0.0] * N
        bound = np.zeros(n)
        for i in range(n, res.out + 1):
            row = np.zeros(n)
            for a, p in zip(parents[i], partials[i]):
                if p != 0.0:
                    t = abs(p) * tan[a]
                    t[tan[a] == 0.0] = 0.0
                    row += t
            tan[i] = row
            args = run.args[i]
            name = run.ops[i]
            e = EPS * abs(run.values[i]) + sum(times(abs(p), err[a])
                                               for a, p in zip(parents[i], partials[i]))
            err[i] = e if e == e else math.inf
            if adj[i] == 0.0:
                continue
            if len(args) == 1:
                errs = [err[parents[i][0]]]
            else:
                it = iter(parents[i])
                errs = [err[next(it)] if args[2] else 0.0, err[next(it)] if args[3] else 0.0]
            constant = name in _CONSTANT_PARTIALS
            shift = (_partial_shift(name, args, errs) if any(errs) and not constant
                     else [0.0] * (len(args) if len(args) == 1 else 2))
            for slot, (a, p) in enumerate(zip(parents[i], partials[i])):
                which = slot if (len(args) < 4 or args[2]) else 1
                e = EPS * partial_error(name, args, run.values[i], p) + shift[which]
                if e:
                    bound += adj[i] * e * tan[a]
        overflow = not (all(math.isfinite(a) for a in adj) and np.all(np.isfinite(tan)))
        tmax = np.max(tan[:res.out + 1], axis=0)
        bound[~np.isfinite(bound)] = math.inf
    return np.array(adj[:n]), bound, overflow, tmax


def value_error_bound(res):
    """A first-order bound of the absolute rounding error of the value: every
    entry rounds its result (eps |v|) and passes on its operands' errors
    times |partial| (inf where that overflows)."""
    if res.out is None:
        return 0.0
    run = res.run
    err = [0.0] * (res.out + 1)
    with np.errstate(all="ignore"):
        for i in range(res.n, res.out + 1):
            e = EPS * abs(run.values[i]) + sum(times(abs(p), err[a])
                                               for a, p in zip(run.parents[i], run.partials[i]))
            err[i] = e if e == e else math.inf
    return err[res.out]


# ---- partials outside the float range (a documented limitation) --------------------------------

def _exact_partials(op, operands, dps, bits):
    """First and second partial derivatives of op at the (float) operands, in
    the layout of fastad's rules ((d,), (d2,) or (da, db), (daa, dab, dbb)), as
    mpmath numbers (they may be far outside the float range), by central
    differences of the catalogue's mpmath reference at dps digits with steps
    of 2**-bits relative; None where they are not finite."""
    with mpmath.workdps(dps):
        x = [mpf(v) for v in operands]
        h = [(abs(v) if v != 0 else mpf(1)) * mpf(2) ** -bits for v in x]

        def f(*shifts):
            return op.mp(*(v + s * e for v, s, e in zip(x, shifts, h)))

        try:
            f0 = f(*[0] * len(x))
            if len(x) == 1:
                up, dn = f(1), f(-1)
                first = ((up - dn) / (2 * h[0]),)
                second = ((up - 2 * f0 + dn) / h[0] ** 2,)
            else:
                first, second = [], []
                for k in range(2):
                    e = [0, 0]
                    e[k] = 1
                    up, dn = f(*e), f(*[-v for v in e])
                    first.append((up - dn) / (2 * h[k]))
                    second.append((up - 2 * f0 + dn) / h[k] ** 2)
                mixed = (f(1, 1) - f(1, -1) - f(-1, 1) + f(-1, -1)) / (4 * h[0] * h[1])
                second = (second[0], mixed, second[1])
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        if not all(mpmath.isfinite(v) for v in list(first) + list(second)):
            return None
        return first, second


def _outside_float_range_at(op, operands, wanted):
    """Which of the partials `wanted` ((order, index) of fastad's layout) of op
    at the operands are, exactly, nonzero but below the float range ("below")
    or beyond it ("above"): the differences with two steps must agree, at a
    precision raised until they resolve the partial (arctan at 1e200: 1e-400
    out of pi/2)."""
    found = set()
    for dps in (60, 120, 240, 480, 960):
        coarse = _exact_partials(op, operands, dps, 60)
        fine = _exact_partials(op, operands, dps, 80)
        if coarse is None or fine is None:
            return found
        settled = True
        with mpmath.workdps(30):
            for order, k in wanted:
                t, u = coarse[order][k], fine[order][k]
                if t != 0 and abs(t - u) <= 1e-3 * abs(t):
                    if abs(t) < DBL_MIN:
                        found.add("below")
                    elif abs(t) > DBL_MAX:
                        found.add("above")
                else:
                    settled = False
        if settled or found:
            return found
    return found


_LOG_MAX = math.log(DBL_MAX)


def _second_order_overflow(adjoint, seconds, tangents, uses):
    """Whether the second-order sweep's products at an entry go beyond the
    float range: its adjoint times a second partial, or the second partial
    times its operands' tangents, with or without the adjoint (a term of the
    Hessian beyond the range: inf and nan in an order of summation of its
    own). Magnitudes as logarithms, so nothing overflows here."""
    def log(v):
        return math.log(v) if 0.0 < v < math.inf else None

    a = log(adjoint)
    if a is None:
        return False
    t = [log(v) for v in tangents]
    pairs = [(0, 0)] if len(uses) == 1 else [(0, 0), (0, 1), (1, 1)]
    for (j, k), p, use in zip(pairs, seconds, uses):
        d = log(abs(p))
        if d is None or not all(use):
            continue
        if a + d > _LOG_MAX:
            return True
        if t[j] is not None and t[k] is not None and (
                d + t[j] + t[k] > _LOG_MAX or a + d + t[j] + t[k] > _LOG_MAX):
            return True
    return False


def outside_float_range(res, second=False):
    """How the float range limits the derivatives at this point, a set of
    "below": an entry of the reference tape has a first partial derivative
    (second=True: or a second one) in a variable operand that is nonzero but
    below the float range, where fastad's rule gives 0 or a subnormal, and a
    derivative that needs it is lost in the sweeps' products (the documented
    limitation of the module docstring: the derivative comes out finite);
    "above": such a partial is beyond the float range (fastad's rule gives inf
    or nan), or (second=True) a product the second-order sweep forms is
    (_second_order_overflow): the entry comes out inf or nan, also where it
    is finite, and inf and nan fall differently in H[i, j] and H[j, i] (the
    same limitation). The exact partials come from central differences of the
    catalogue's mpmath references."""
    if second in res.range_limits:
        return res.range_limits[second]
    run = res.run
    found = set()
    adjoint = tangent = None
    if second and res.out is not None:
        # absolute adjoints and tangents (summed over the inputs), as
        # reference_bounds sweeps them
        adjoint = [0.0] * len(run.ops)
        adjoint[res.out] = 1.0
        for i in range(res.out, res.n - 1, -1):
            if adjoint[i] != 0.0:
                for a, p in zip(run.parents[i], run.partials[i]):
                    adjoint[a] += times(adjoint[i], abs(p))
        tangent = [1.0] * res.n + [0.0] * (len(run.ops) - res.n)
        for i in range(res.n, len(run.ops)):
            tangent[i] = sum(times(abs(p), tangent[a])
                             for a, p in zip(run.parents[i], run.partials[i]))
    for i in range(res.n, len(run.ops)):
        name = run.ops[i]
        if name in _CONSTANT_PARTIALS:
            continue
        op = OPS[name]
        args = run.args[i]
        operands = args[:op.arity]
        if not all(math.isfinite(v) for v in operands):
            continue
        var = (True,) if op.arity == 1 else (args[2], args[3])
        code = OPCODE[name]
        wanted = [(0, k) for k, p in enumerate(_rule(code, *operands)[1:])
                  if var[k] and not DBL_MIN <= abs(p) <= DBL_MAX]
        if second:
            uses = [(var[0],)] if op.arity == 1 else [(var[0],), (var[0], var[1]), (var[1],)]
            seconds = _second(code, *operands)
            wanted += [(1, k) for k, p in enumerate(seconds)
                       if all(uses[k]) and not DBL_MIN <= abs(p) <= DBL_MAX]
            if adjoint is not None and _second_order_overflow(
                    adjoint[i], seconds, [tangent[a] for a in run.parents[i]], uses):
                found.add("above")
        if wanted:
            found |= _outside_float_range_at(op, operands, wanted)
    res.range_limits[second] = found
    return found


# ---- the mpmath run -------------------------------------------------------------------------------

_MP_NAN = mpf("nan")
_NOISE_FACTORS = {}


def _noise_factors(seed, bits=52):
    """Factors 1 +- 2**-bits, a random sign for every result of an evaluation."""
    if (seed, bits) not in _NOISE_FACTORS:
        r = random.Random(f"noise:{seed}:{bits}")
        with mpmath.workdps(MP_DPS):
            e = mpf(2) ** -bits
            _NOISE_FACTORS[seed, bits] = [1 + e if r.random() < 0.5 else 1 - e
                                          for _ in range(8192)]
    return _NOISE_FACTORS[seed, bits]


def _mres(v):
    run = _run
    if not mpmath.isfinite(v):
        run.nonfinite = True
    else:
        a = abs(v)
        if a > DBL_MAX:
            # beyond the float range: the float run has an inf here. Carried
            # on as one (mpmath would go on with numbers of astronomical size)
            run.range = True
            v = mpmath.inf if v > 0 else -mpmath.inf
            a = 0
        elif v != 0 and a < DBL_MIN:
            run.range = True
        if a > run.scale:
            run.scale = a
        if run.noise is not None:
            v = v * run.noise[run.count % 8192]
    run.count += 1
    return MP(v)


class MP(Operand):
    """An mpf that depends on the inputs, with NumPy's conventions."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"MP({self.v})"

    def _apply(self, spelling, operands):
        return _m_apply(spelling.op, operands)

    def _compare(self, o, how):
        b = o.v if type(o) is MP else mpf(float(o))
        outcome = bool(_COMPARE[how](self.v, b))
        _run.pattern.append(outcome)
        _run.pieces.append(("cmp", outcome))
        if self.v == b:
            _run.kink = True
        return outcome


def _m_apply(op, operands):
    """The operation in mpmath (the catalogue's mp reference); nan, flagged,
    for a non-finite operand or a result that is not a finite real number."""
    if op.mp is None:
        raise LookupError(f"the catalogue entry of {op.name} has no mpmath reference (mp)")
    variables = [type(o) is MP for o in operands]
    values = [o.v if var else mpf(float(o)) for o, var in zip(operands, variables)]
    if not all(mpmath.isfinite(v) for v in values):
        return _mres(_MP_NAN)
    _note(_run, op, values, variables)
    try:
        return _mres(mpf(op.mp(*values)))
    except (ValueError, ZeroDivisionError, OverflowError):
        return _mres(_MP_NAN)


MP_NAMESPACE = _namespace("the functions in mpmath, with fastad's conventions",
                          lambda s: lambda *operands: _m_apply(s.op, operands))


# ---- the generator --------------------------------------------------------------------------------

NORMAL_CONSTANTS = (0.5, 1.0, 2.0, -1.0, 3.0, 0.25, 1.5, -0.5, -2.0, 0.1, 0.75, 10.0, 0.3)
EDGE_VALUES = (0.0, -0.0, INF, -INF, NAN, 1e308, -1e308, 1e-308, 5e-324, -5e-324, 1e300,
               -1e-300, 1e154, -1e154, DBL_MIN, 709.8, -745.2)
KINK_INPUTS = (0.0, 1.0, -1.0, 0.5, 2.0, -2.0, 3.0, -0.0)


def literal(c):
    """Source text of the float c (exact: repr round-trips)."""
    c = float(c)
    if c != c:
        return "float('nan')"
    if math.isinf(c):
        return "float('inf')" if c > 0 else "float('-inf')"
    r = repr(c)
    return f"({r})" if r.startswith("-") else r


class Sym:
    """Source text of an expression, for writing the catalogue's domain maps
    into a program: arithmetic writes itself, and fastad's functions (which
    the maps call on operands fastad does not take as the operand's method)
    are written F.<name>(...)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __getattr__(self, name):
        if name not in FUNCTIONS:
            raise AttributeError(name)
        return lambda: Sym(f"F.{name}({self.text})")

    def __neg__(self):
        return Sym(f"(-{self.text})")


def _sym_text(e):
    return e.text if type(e) is Sym else literal(e)


for _name, _symbol in _INFIX.items():
    setattr(Sym, _name, (lambda s: lambda self, o: Sym(f"({self.text} {s} {_sym_text(o)})"))(
        _symbol))
    setattr(Sym, "__r" + _name[2:], (lambda s: lambda self, o: Sym(
        f"({_sym_text(o)} {s} {self.text})"))(_symbol))


# The generator's choice of operations: unary ones uniformly; binary ones with
# an operator spelling and no kink (+ - * / **) four times as often as the
# others; within an operation, NumPy's spellings a third as often as the rest.
UNARY_CHOICES = [(SPELLINGS[name], [s.weight for s in SPELLINGS[name]])
                 for name in catalogue.names(arity=1) if name in OPS]
BINARY_CHOICES = [(SPELLINGS[name], [s.weight for s in SPELLINGS[name]])
                  for name in catalogue.names(arity=2) if name in OPS]
BINARY_WEIGHTS = [4 if (OPS[spelled[0].op.name].kink is None
                        and any(s.kind == "operator" for s in spelled)) else 1
                  for spelled, _ in BINARY_CHOICES]


class Program:
    """A generated program: its source and how to call it."""

    def __init__(self, source, kind, n, edgy, seed=None, index=None, spellings=()):
        self.source = source
        self.kind = kind      # "list": f(x) with x a list of n floats; "args": f(a, b, ...)
        self.n = n
        self.edgy = edgy
        self.seed = seed
        self.index = index
        self.spellings = set(spellings)   # (operation, label) written into the source
        self._code = compile(source, "<random program>", "exec")

    def function(self, namespace):
        g = {"F": namespace, "math": math, "np": np}
        exec(self._code, g)
        return g["f"]

    def as_list_function(self, namespace):
        """f as a function of one list (what trace, jacobian and hessian get)."""
        f = self.function(namespace)
        if self.kind == "list":
            return f
        return lambda x: f(*x)


class Generator:
    def __init__(self, rng, edgy):
        self.rng = rng
        self.edgy = edgy
        self.raw = 0.2 if edgy else 0.05   # how often a domain map is left out
        self.lines = []
        self.live = []
        self.names = 0
        self.spellings = set()

    # -- pieces of expressions
    def constant(self):
        r = self.rng
        if self.edgy and r.random() < 0.2:
            return r.choice(EDGE_VALUES)
        if r.random() < 0.6:
            return r.choice(NORMAL_CONSTANTS)
        return round(r.uniform(-3.0, 3.0), r.choice((1, 2, 17)))

    def const(self):
        return literal(self.constant())

    def atom(self):
        r = self.rng
        k = min(int(r.expovariate(0.6)), len(self.live) - 1)
        return self.live[-1 - k]

    def expr(self, depth):
        r = self.rng
        if depth <= 0 or r.random() < 0.2:
            return self.atom()
        if r.random() < 0.45:
            return self.unary(depth)
        return self.binary(depth)

    def bounded(self, e):
        r = self.rng
        return r.choice((f"(3.0 * F.tanh({e}))", f"(2.0 * F.sin({e}))", f"F.arctan({e})",
                         f"F.erf({e})", f"(1.5 * F.cos({e}))"))

    def in_domain(self, op, operands):
        """The operands (source text, or numbers) through the catalogue's map
        into op's domain, written into the source; left alone some of the time."""
        if self.rng.random() < self.raw:
            return operands
        with np.errstate(all="ignore"):     # a map of an edge value: inf, nan
            mapped = op.domain(*(Sym(o) if isinstance(o, str) else np.float64(o)
                                 for o in operands))
        if op.arity == 1:
            mapped = (mapped,)
        return [_sym_text(m) if type(m) is Sym else float(m) for m in mapped]

    def spelled(self, spelled, weights, operands):
        spelling = self.rng.choices(spelled, weights)[0]
        self.spellings.add((spelling.op.name, spelling.label))
        return spelling.write(*self.in_domain(spelling.op, operands))

    def unary(self, depth):
        r = self.rng
        spelled, weights = r.choice(UNARY_CHOICES)
        e = self.expr(depth - 1)
        if r.random() < 0.25:
            e = self.bounded(e)      # keeps exp, cosh, ... of it in range
        return self.spelled(spelled, weights, [e])

    def operand(self, depth, p_const=0.3):
        if self.rng.random() < p_const:
            return self.constant()
        return self.expr(depth)

    def binary(self, depth):
        r = self.rng
        spelled, weights = r.choices(BINARY_CHOICES, BINARY_WEIGHTS)[0]
        a = self.expr(depth - 1)
        b = self.operand(depth - 1)
        if r.random() < 0.3:
            a, b = b, a   # the constant (if any) first
        return self.spelled(spelled, weights, [a, b])

    def condition(self):
        r = self.rng
        left = self.atom() if r.random() < 0.6 else self.expr(1)
        right = self.atom() if r.random() < 0.5 else self.const()
        how = r.choices((">", "<", ">=", "<=", "==", "!="), (4, 4, 2, 2, 0.3, 0.3))[0]
        return f"{left} {how} {right}"

    def new_name(self, prefix="v"):
        self.names += 1
        return f"{prefix}{self.names}"

    # -- statements
    def emit(self, indent, text):
        self.lines.append("    " * indent + text)

    def assign(self, indent):
        name = self.new_name()
        self.emit(indent, f"{name} = {self.expr(self.rng.randint(1, 3))}")
        self.live.append(name)

    def branch(self, indent):
        r = self.rng
        name = self.new_name()
        self.emit(indent, f"if {self.condition()}:")
        self.emit(indent + 1, f"{name} = {self.expr(r.randint(1, 3))}")
        if r.random() < 0.25:
            # a nested guard
            self.live.append(name)
            self.emit(indent + 1, f"if {self.condition()}:")
            self.emit(indent + 2, f"{name} = {self.expr(2)}")
            self.live.pop()
        if r.random() < 0.3:
            self.emit(indent, f"elif {self.condition()}:")
            self.emit(indent + 1, f"{name} = {self.expr(r.randint(1, 2))}")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{name} = {self.expr(r.randint(1, 3))}")
        self.live.append(name)

    def loop(self, indent):
        r = self.rng
        acc = self.new_name("acc")
        self.emit(indent, f"{acc} = {self.expr(1)}")
        self.live.append(acc)
        trips = r.randint(1, 4)
        self.emit(indent, f"for i in range({trips}):")
        c = r.choice(("0.5", "0.9", "1.1", "(-0.7)", "0.25"))
        forms = (
            lambda: f"({acc} * {c} + {self.expr(r.randint(1, 2))})",
            lambda: f"F.tanh({acc} + {self.expr(1)})",
            lambda: f"({acc} + {self.expr(r.randint(1, 2))} * (i + 1))",
            lambda: f"({acc} - ({c} * i) * {self.expr(1)})",
            lambda: f"F.sin({acc} * {c} + {self.expr(1)} + 0.125 * i)",
            lambda: f"({acc} + F.maximum({acc}, {self.expr(1)}) * {c})",
        )
        if r.random() < 0.3:
            self.emit(indent + 1, f"if {acc} > {self.atom() if r.random() < 0.5 else self.const()}:")
            self.emit(indent + 2, f"{acc} = {r.choice(forms)()}")
            self.emit(indent + 1, "else:")
            self.emit(indent + 2, f"{acc} = {r.choice(forms)()}")
        else:
            self.emit(indent + 1, f"{acc} = {r.choice(forms)()}")

    def program(self, seed=None, index=None):
        r = self.rng
        kind = "list" if r.random() < 0.6 else "args"
        if kind == "list":
            n = r.choice((1, 2, 2, 3, 3, 4, 5, 6, 8, 10))
            self.live = [f"x[{i}]" for i in range(n)]
            self.lines = ["def f(x):"]
        else:
            n = r.randint(1, 4)
            self.live = list("abcd"[:n])
            self.lines = [f"def f({', '.join(self.live)}):"]
        r.shuffle(self.live)
        for _ in range(r.randint(1, 6)):
            u = r.random()
            if u < 0.5:
                self.assign(1)
            elif u < 0.78:
                self.branch(1)
            else:
                self.loop(1)
        last = self.live[-1]
        u = r.random()
        if u < 0.4:
            out = last
        elif u < 0.7:
            out = f"{last} + {self.const()} * {self.atom()}"
        else:
            out = self.expr(2)
        self.emit(1, f"return {out}")
        return Program("\n".join(self.lines) + "\n", kind, n, self.edgy, seed, index,
                       self.spellings)


def generate(seed, index):
    """Program number index of the run with this seed (reproducible)."""
    rng = random.Random(f"fastad-random-programs:{seed}:{index}")
    edgy = rng.random() < 0.3
    return Generator(rng, edgy).program(seed, index), rng


def random_point(rng, n, edgy):
    xs = []
    for _ in range(n):
        u = rng.random()
        if edgy and u < 0.15:
            xs.append(rng.choice(EDGE_VALUES))
        elif u < 0.22:
            xs.append(rng.choice(KINK_INPUTS))
        elif u < 0.27 and xs:
            xs.append(rng.choice(xs))      # a tie
        else:
            xs.append(rng.uniform(-3.0, 3.0))
    return xs


# ---- evaluation in the three backends -----------------------------------------------------------

class Evaluator:
    """The program compiled for plain floats and for mpmath, with caches."""

    def __init__(self, program):
        self.program = program
        self.f_plain = program.as_list_function(PLAIN_NAMESPACE)
        self.f_mp = program.as_list_function(MP_NAMESPACE)
        self._plain = {}

    def plain(self, x):
        key = tuple(np.float64(v).tobytes() for v in x)
        if key in self._plain:
            return self._plain[key]
        global _run
        run = Run()
        xs = [PF(float(v), run.push("input", (), (), float(v))) for v in x]
        saved = _run
        _run = run
        try:
            with np.errstate(all="ignore"):
                out = self.f_plain(xs)
        finally:
            _run = saved
        if type(out) is PF:
            res = PlainResult(out.v, out.i, run, len(x))
        else:
            res = PlainResult(float(out), None, run, len(x))
        self._plain[key] = res
        return res

    def mp(self, x, noise=None, dps=MP_DPS, bits=52):
        """(value, Run) at the point x (mpfs), at dps digits; noise: None
        or the seed of a perturbation of every result by 2**-bits (relative)."""
        global _run
        run = Run(_noise_factors(noise, bits) if noise is not None else None)
        saved = _run
        _run = run
        try:
            with mpmath.workdps(dps):
                out = self.f_mp([MP(mpf(v)) for v in x])
                value = out.v if type(out) is MP else mpf(float(out))
        finally:
            _run = saved
        return value, run


def _mp_point(x):
    return [mpf(float(v)) for v in x]


# ---- the checks -----------------------------------------------------------------------------------

CHECKS = {
    "value_plain": "value on Vars == value on plain floats, bit for bit",
    "value_mp": "value on plain floats vs mpmath (50 digits), within rounding",
    "grad_fd": "gradient vs mpmath central differences (relative 1e-6, rounding-scaled)",
    "argnums": "value_and_grad(f, argnums=(0, ..)) of f(a, b, ..) == that of f([a, b, ..]), bit for bit",
    "jacrev_grad": "jacrev and vjp(1.0) == grad, bit for bit",
    "rev_ref": "reverse sweep (grad) vs the reference sweep, to rounding",
    "fwd_ref": "forward sweep (jacfwd) vs the reference sweep, to rounding",
    "jvp_ref": "jvp along a random direction vs the reference sweep, to rounding",
    "fwd_rev": "jacfwd vs jacrev, to rounding (or the documented cancellation difference)",
    "F_jacobian": "Function.jacobian(mode=forward/reverse), .jvp, .vjp == jacfwd/jacrev, jvp, vjp, bit for bit",
    "replay_same": "replay on the traced branch == fresh value_and_grad, bit for bit, f not called",
    "replay_other": "replay on another branch (re-trace) == fresh value_and_grad, bit for bit",
    "retrace_false": "retrace=False: equal on the traced branch, BranchError elsewhere",
    "batch": "value_and_grad_batch, threads=1 and 2, == rows, bit for bit",
    "batch_branch": "value_and_grad_batch with retrace=False: equal on the branch, BranchError off it",
    "hess_F": "hessian(f)(x) == Function.hessian(x), bit for bit",
    "hess_sym": "Hessian symmetric (to rounding)",
    "hess_fd": "Hessian vs central differences of the gradient",
    "grad_function": "Function.grad_function()(x) == Function.grad(x), to rounding (same inf/nan)",
    "pickle": "pickled Function: same bits on recorded branches, BranchError elsewhere",
}


BELOW_RANGE = ("{}: a partial derivative below the float range at an operand (0 in "
               "fastad's rules, and the sweeps multiply partials: documented)")
ABOVE_RANGE = ("{}: a partial derivative, or a product of the second-order sweep, beyond the "
               "float range (inf or nan in the sweeps' products of partials: the same "
               "limitation)")


class Outcome:
    """Counts of one run of the checker."""

    MAX_KEPT = 12   # failures kept per check

    def __init__(self):
        self.ran = Counter()
        self.failed = Counter()
        self.skipped = Counter()
        self.known = Counter()
        self.failures = []
        self.programs = 0
        self.edgy = 0
        self.entries = 0
        self.ops = Counter()
        self.seconds = 0.0

    def ok(self, check):
        self.ran[check] += 1

    def fail(self, check, program, points, message):
        self.ran[check] += 1
        self.failed[check] += 1
        if self.failed[check] <= self.MAX_KEPT:
            self.failures.append(dict(check=check, seed=program.seed, index=program.index,
                                      source=program.source, points=points, message=message))

    def skip(self, reason):
        self.skipped[reason] += 1

    def note_known(self, reason):
        self.known[reason] += 1

    def merge(self, other):
        self.ran.update(other.ran)
        self.failed.update(other.failed)
        self.skipped.update(other.skipped)
        self.known.update(other.known)
        self.ops.update(other.ops)
        self.programs += other.programs
        self.edgy += other.edgy
        self.entries += other.entries
        for f in other.failures:
            if sum(1 for g in self.failures if g["check"] == f["check"]) < self.MAX_KEPT:
                self.failures.append(f)

    @property
    def n_failed(self):
        return sum(self.failed.values())

    def summary(self, seed=None):
        lines = []
        head = f"random programs: {self.programs} programs"
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
        missing = sorted(ALL_OPS - set(self.ops))
        lines.append(f"  operations exercised: {len(self.ops)} of {len(ALL_OPS)}"
                     + (f" (missing: {missing})" if missing else ""))
        return "\n".join(lines)

    def failure_report(self, limit_per_check=3):
        out = []
        shown = Counter()
        for f in self.failures:
            if shown[f["check"]] >= limit_per_check:
                continue
            shown[f["check"]] += 1
            pts = "; ".join(f"{k} = {fmt(v)}" for k, v in f["points"].items())
            out.append(
                f"[{f['check']}] {CHECKS[f['check']]}\n"
                f"  program {f['index']} of FASTAD_SEED={f['seed']} "
                f"(python tests/random_programs.py --seed {f['seed']} --index {f['index']})\n"
                f"  at {pts}\n"
                + "".join(f"  {line}\n" for line in f["message"].splitlines())
                + "  source:\n"
                + "".join(f"    {line}\n" for line in f["source"].splitlines()))
        return "\n".join(out)


class Api:
    """Every call the checker makes into fastad; the self-tests replace one
    method at a time with a wrong one to show that a check catches it."""

    def value_and_grad(self, f, x):
        v, g = fastad.value_and_grad(f)(list(x))
        return v, np.asarray(g, dtype=np.float64)

    def value_and_grad_args(self, f, xs):
        v, g = fastad.value_and_grad(f, argnums=tuple(range(len(xs))))(*xs)
        return v, np.asarray(g, dtype=np.float64)

    def jacfwd(self, f, x):
        return np.asarray(fastad.jacfwd(f)(list(x)), dtype=np.float64)

    def jacrev(self, f, x):
        return np.asarray(fastad.jacrev(f)(list(x)), dtype=np.float64)

    def jvp(self, f, x, v):
        out, tangent = fastad.jvp(f, (list(x),), (list(v),))
        return out, float(tangent)

    def vjp(self, f, x, w):
        out, fn = fastad.vjp(f, list(x))
        return out, np.asarray(fn(w)[0], dtype=np.float64)

    def hessian(self, f, x):
        return np.asarray(fastad.hessian(f)(list(x)), dtype=np.float64)

    def trace(self, f, x, retrace=True):
        return fastad.trace(f, list(x), retrace=retrace)

    def call(self, F, x):
        return F(list(x))

    def value_and_grad_F(self, F, x):
        v, g = F.value_and_grad(list(x))
        return v, np.asarray(g, dtype=np.float64)

    def grad_F(self, F, x):
        return np.asarray(F.grad(list(x)), dtype=np.float64)

    def jvp_F(self, F, x, v):
        out, tangent = F.jvp(list(x), list(v))
        return out, float(tangent)

    def vjp_F(self, F, x, w):
        out, cotangent = F.vjp(list(x), w)
        return out, np.asarray(cotangent, dtype=np.float64)

    def jacobian_F(self, F, x, mode):
        return np.asarray(F.jacobian(list(x), mode=mode), dtype=np.float64)

    def hessian_F(self, F, x):
        return np.asarray(F.hessian(list(x)), dtype=np.float64)

    def batch(self, F, X, threads):
        v, g = F.value_and_grad_batch(np.asarray(X, dtype=np.float64), threads=threads)
        return np.asarray(v, dtype=np.float64), np.asarray(g, dtype=np.float64)

    def grad_function(self, F):
        return F.grad_function()

    def call_grad_function(self, G, x):
        return np.asarray(G(list(x)), dtype=np.float64)

    def pickle_roundtrip(self, F):
        return pickle.loads(pickle.dumps(F))


class Counted:
    def __init__(self, f):
        self.f = f
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def _close(a, b, scale, length):
    """a and b agree to rounding: the same inf or nan, or finite and within
    4 (length + 2) eps times the absolute scale of the sum of path products."""
    a = float(a)
    b = float(b)
    if a == b or (a != a and b != b):
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    if not math.isfinite(scale):
        scale = max(abs(a), abs(b))
    return abs(a - b) <= 4.0 * (length + 2) * EPS * scale


class ProgramChecker:
    def __init__(self, program, outcome, rng, api=None, hessian=True):
        self.p = program
        self.out = outcome
        self.rng = rng
        self.api = api or Api()
        self.do_hessian = hessian
        self.ev = Evaluator(program)
        self.f = program.as_list_function(VAR_NAMESPACE)
        self.f_args = program.function(VAR_NAMESPACE)

    # -- helpers
    def fail(self, check, points, message):
        self.out.fail(check, self.p, points, message)

    def guarded(self, check, points, fn, *args):
        """Runs one check; an unexpected exception is a failure of it."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - any exception of fastad is a finding
            self.fail(check, points, f"unexpected {type(e).__name__}: {e}\n"
                      + "".join(traceback.format_exception(e)[-4:]))

    def reference(self, x):
        """(reference gradient, its absolute scale, tape length) at x."""
        res = self.ev.plain(x)
        ref_rev, scale = reference_reverse(res)
        return ref_rev, scale, len(res.run.parents)

    def fresh(self, x):
        with np.errstate(all="ignore"):
            return self.api.value_and_grad(self.f, x)

    # -- the run
    def run(self, points=None):
        """Every check at random points: x0, x1 next to it, x2 on another
        branch if one is found, x3 (batches); or at the given (x0, x1, x2, x3)."""
        p = self.p
        rng = self.rng
        self.out.programs += 1
        self.out.edgy += p.edgy
        if points is None:
            x0 = random_point(rng, p.n, p.edgy)
        else:
            x0, x1, x2, x3 = (list(x) for x in points)
        r0 = self.ev.plain(x0)
        self.out.entries += len(r0.run.parents)
        self.out.ops.update(op for op in r0.run.ops if op != "input")
        if points is None:
            # a point next to x0 (usually on its branch) and one on another branch if one is found
            x1 = [v + (abs(v) + 1.0) * 1e-9 * rng.uniform(-1, 1) if math.isfinite(v) else v
                  for v in x0]
            x2 = None
            for _ in range(8):
                cand = random_point(rng, p.n, p.edgy)
                if self.ev.plain(cand).pattern != r0.pattern:
                    x2 = cand
                    break
            if x2 is None:
                x2 = cand
                self.out.skip("no point on another branch found (8 tries): replay_other not run")
            x3 = random_point(rng, p.n, p.edgy)
        points = [x0, x1, x2]
        for x in points:
            self.guarded("value_plain", {"x": x}, self.check_value, x)
            self.guarded("fwd_rev", {"x": x}, self.check_modes, x)
        for x in (x0, x2):
            self.guarded("grad_fd", {"x": x}, self.check_fd, x)
        self.guarded("replay_same", {"x0": x0, "x1": x1, "x2": x2}, self.check_replay, x0, x1, x2)
        self.guarded("batch", {"x0": x0}, self.check_batch, x0, [x0, x1, x2, x3])
        if self.do_hessian:
            for x in (x0, x2):
                self.guarded("hess_fd", {"x": x}, self.check_hessian, x)
        self.guarded("grad_function", {"x0": x0}, self.check_grad_function, x0, [x0, x1, x2])
        self.guarded("pickle", {"x0": x0}, self.check_pickle, x0, x1, x2)

    # -- values
    def check_value(self, x):
        res = self.ev.plain(x)
        v, g = self.fresh(x)
        if same_float(v, res.value):
            self.out.ok("value_plain")
        else:
            self.fail("value_plain", {"x": x},
                      f"value_and_grad value {fmt(v)}, plain floats {fmt(res.value)}")
        if self.p.kind == "args":
            with np.errstate(all="ignore"):
                va, ga = self.api.value_and_grad_args(self.f_args, x)
            if same_float(va, v) and same_bits(ga, g):
                self.out.ok("argnums")
            else:
                self.fail("argnums", {"x": x}, f"argnums: ({fmt(va)}, {fmt(ga)}), "
                          f"list: ({fmt(v)}, {fmt(g)})")

    # -- forward and reverse sweeps
    def check_modes(self, x):
        res = self.ev.plain(x)
        n = self.p.n
        ref_rev, scale, L = self.reference(x)
        ref_fwd = reference_forward(res, np.eye(n))
        with np.errstate(all="ignore"):
            v, g = self.fresh(x)
            jf = self.api.jacfwd(self.f, x).reshape(-1)
            jr = self.api.jacrev(self.f, x).reshape(-1)
        pts = {"x": x}
        refs = (f"reference reverse {fmt(ref_rev)}, reference forward {fmt(ref_fwd)}\n"
                f"grad {fmt(g)}, jacrev {fmt(jr)}, jacfwd {fmt(jf)}")
        with np.errstate(all="ignore"):
            v_vjp, g_vjp = self.api.vjp(self.f, x, 1.0)
        if same_bits(jr, g) and same_bits(g_vjp, g) and same_float(v_vjp, v):
            self.out.ok("jacrev_grad")
        else:
            self.fail("jacrev_grad", pts, f"vjp(1.0): ({fmt(v_vjp)}, {fmt(g_vjp)}), value "
                      f"{fmt(v)}\n" + refs)
        if all(_close(g[k], ref_rev[k], scale[k], L) for k in range(n)):
            self.out.ok("rev_ref")
        else:
            self.fail("rev_ref", pts, "grad differs from the reference reverse sweep "
                      "(an exact zero factor contributes nothing)\n" + refs)
        if all(_close(jf[k], ref_fwd[k], scale[k], L) for k in range(n)):
            self.out.ok("fwd_ref")
        else:
            self.fail("fwd_ref", pts, "jacfwd differs from the reference forward sweep "
                      "(an exact zero factor contributes nothing)\n" + refs)
        # forward vs reverse
        bad = []
        for k in range(n):
            if _close(jf[k], jr[k], scale[k], L):
                continue
            if (not _close(ref_fwd[k], ref_rev[k], scale[k], L)
                    and _close(jf[k], ref_fwd[k], scale[k], L)
                    and _close(jr[k], ref_rev[k], scale[k], L)):
                # an infinite partial meets a sum that cancels exactly: the
                # tangent sum is 0 (times inf is 0) but the adjoints are
                # inf - inf (nan)
                self.out.note_known("jacfwd vs jacrev: infinite partial meets a cancelling sum")
                continue
            bad.append(k)
        if bad:
            self.fail("fwd_rev", pts, f"inputs {bad} differ\n" + refs)
        else:
            self.out.ok("fwd_rev")
        # jvp along a random direction
        direction = [self.rng.choice((1.0, -0.5, 2.0, 0.0, 0.25)) for _ in range(n)]
        with np.errstate(all="ignore"):
            out, tangent = self.api.jvp(self.f, x, direction)
        ref_t = float(reference_forward(res, np.asarray(direction).reshape(n, 1))[0])
        with np.errstate(all="ignore"):
            t_scale = float(np.dot(np.abs(direction), np.nan_to_num(scale, nan=np.inf)))
        if same_float(out, res.value) and _close(tangent, ref_t, t_scale, L):
            self.out.ok("jvp_ref")
        else:
            self.fail("jvp_ref", {"x": x, "v": direction},
                      f"jvp: ({fmt(out)}, {fmt(tangent)}); reference tangent {fmt(ref_t)}, "
                      f"value {fmt(res.value)}")

    # -- finite differences in mpmath
    def fd_setup(self, x, res):
        """(None, setup) if finite differences in mpmath apply at x, else
        (reason, None). The steps are 2**-80 absolute (relative below 1); the
        working precision is chosen so that a step is resolved next to the
        largest intermediate with 40 digits to spare."""
        if not all(math.isfinite(v) for v in x):
            return "non-finite input", None
        if not math.isfinite(res.value):
            return "non-finite value", None
        if res.run.singular:
            return "an operation at a singular point (sqrt(0), x/0, log(0), ...)", None
        scale, bound, overflow, tmax = reference_bounds(res)
        if overflow:
            return "a derivative overflows in floating point (adjoints beyond the float range)", None
        x_mp = _mp_point(x)
        mv, mrun = self.ev.mp(x_mp)
        if mrun.nonfinite:
            return "non-finite intermediate (inf/nan or out of a domain)", None
        if mrun.range:
            return "intermediate outside the float range (overflow/underflow)", None
        if mrun.singular:
            return "an operation at a singular point (sqrt(0), x/0, log(0), ...)", None
        if mrun.pattern != res.run.pattern or mrun.pieces != res.run.pieces:
            return "branch or kink within rounding of the point (float and mpmath disagree)", None
        big = max(mpf(1), mrun.scale, max(abs(v) for v in x_mp))
        # the step is 2**-80 of the input (or absolute, beyond 1), and smaller
        # still where an intermediate moves faster than the input: none moves
        # by more than 2**-80 (so sin(1e283 * x) is resolved)
        steps = [mpf(2) ** -80 * (abs(v) if 0 < abs(v) < 1 else 1) / max(1.0, float(t))
                 for v, t in zip(x_mp, tmax)]
        dps = 40 + int(math.ceil(float(mpmath.log10(big / min(steps)))))
        mv, mrun = self.ev.mp(x_mp, dps=dps)
        if mrun.pattern != res.run.pattern or mrun.pieces != res.run.pieces:
            return "branch or kink within rounding of the point (float and mpmath disagree)", None
        # a comparison or a piece that perturbations of every intermediate by
        # 2**-44 move is within rounding of its boundary: the float run may
        # have taken either side
        for seed in (11, 12):
            _, jrun = self.ev.mp(x_mp, seed, MP_DPS, bits=44)
            if jrun.pattern != mrun.pattern or jrun.pieces != mrun.pieces:
                return "branch or kink within rounding of the point (2**-44 perturbations)", None
        return None, dict(x_mp=x_mp, mv=mv, mrun=mrun, dps=dps, big=big, steps=steps,
                          scale=scale, bound=bound, tmax=tmax)

    def check_fd(self, x):
        res = self.ev.plain(x)
        reason, setup = self.fd_setup(x, res)
        pts = {"x": x}
        if reason is not None:
            self.out.skip(f"grad_fd: {reason}")
            return
        self.check_value_mp(x, res, setup)
        v, g = self.fresh(x)
        scale, bound = setup["scale"], setup["bound"]
        for k in range(self.p.n):
            d, err = self.mp_derivative(setup, k, None)
            if d is None:
                self.out.skip("grad_fd: kink or branch within the step along an input")
                continue
            gk = float(g[k])
            dk = float(d)
            if not abs(dk) < 1e-8 * DBL_MAX:
                self.out.skip("grad_fd: a derivative near the end of the float range")
                continue
            # relative 1e-6; the rounding of the sums and of the partials; what
            # the differences cannot resolve
            if 16.0 * bound[k] > 0.1 * abs(dk) and 16.0 * bound[k] > 1e-12 * scale[k]:
                self.out.skip("grad_fd: ill-conditioned (the rounding bound of the chain rule "
                              "exceeds 10% of the derivative)")
                continue
            tol = 1e-6 * abs(dk) + 1e-10 * scale[k] + 16.0 * bound[k] + err + 2 * DBL_MIN
            if math.isfinite(gk) and abs(gk - dk) <= tol:
                self.out.ok("grad_fd")
                continue
            # is the difference quotient stable under a 2**24 times smaller
            # step? (a function that oscillates or curves faster than the step,
            # sin(1e283 * x), is not smooth at that scale)
            d2, err2 = self.mp_derivative(setup, k, None, shrink=24)
            if d2 is None or abs(float(d2) - dk) > 1e-9 * abs(dk) + err + err2 + 2 * DBL_MIN:
                self.out.skip("grad_fd: the function varies faster than the step (unstable "
                              "difference quotient)")
                continue
            # a closer look: how much do rounding-sized perturbations of
            # every intermediate move the derivative?
            spread = 0.0
            for seed in (1, 2, 3):
                dn, _ = self.mp_derivative(setup, k, seed)
                if dn is None:
                    spread = math.inf
                    break
                spread = max(spread, abs(float(dn) - dk))
            if spread == math.inf:
                self.out.skip("grad_fd: a branch or kink within rounding of the point")
                continue
            if math.isfinite(gk) and abs(gk - dk) <= tol + 10.0 * spread:
                self.out.ok("grad_fd")
                self.out.note_known("grad_fd: agrees within the rounding estimate "
                                    "(an ill-conditioned point), not within 1e-6")
                continue
            if math.isfinite(gk) and "below" in outside_float_range(res):
                self.out.skip(BELOW_RANGE.format("grad_fd"))
                continue
            self.fail("grad_fd", pts,
                      f"d/dx[{k}]: fastad {fmt(gk)}, mpmath central difference {dk!r} "
                      f"(tolerance {tol:.3g}, rounding spread {spread:.3g})\n"
                      f"gradient {fmt(g)}")

    def mp_derivative(self, setup, k, noise, shrink=0):
        """(central difference along input k, its resolution) or (None, None)
        if a branch or a piece changes within the step (2**-shrink times the
        usual one)."""
        x_mp, base = setup["x_mp"], setup["mrun"]
        dps = setup["dps"] + int(shrink * 0.302) + 1
        h = setup["steps"][k] * mpf(2) ** -shrink
        with mpmath.workdps(dps):
            up = list(x_mp)
            dn = list(x_mp)
            up[k] = x_mp[k] + h
            dn[k] = x_mp[k] - h
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

    def check_value_mp(self, x, res, setup):
        mv, mrun = setup["mv"], setup["mrun"]
        if mrun.kink:
            self.out.skip("value_mp: at a kink of a piecewise operation")
            return
        v = res.value
        m = float(mv)
        if abs(v - m) <= 1e-9 * abs(m) + 1e-300:
            self.out.ok("value_mp")
            return
        # the rounding estimate: values with every intermediate perturbed
        spread = 0.0
        for seed in (1, 2, 3):
            mn, rn = self.ev.mp(setup["x_mp"], seed, setup["dps"])
            if rn.pattern != mrun.pattern or rn.pieces != mrun.pieces or rn.nonfinite:
                self.out.skip("value_mp: a branch or kink within rounding of the point")
                return
            spread = max(spread, abs(float(mn) - m))
        if abs(v - m) <= 1e-9 * abs(m) + 10.0 * spread:
            self.out.ok("value_mp")
            self.out.note_known("value_mp: agrees within the rounding estimate, not within 1e-9")
            return
        # three perturbed runs can miss how far rounding moves a value that
        # hangs on, say, sin(4.8e48): the first-order rounding bound
        err = value_error_bound(res)
        if not 16.0 * err <= 0.1 * abs(m):
            self.out.skip("value_mp: ill-conditioned (the rounding bound of the value exceeds "
                          "10% of it)")
            return
        if abs(v - m) <= 1e-9 * abs(m) + 10.0 * spread + 16.0 * err:
            self.out.ok("value_mp")
            self.out.note_known("value_mp: agrees within the rounding bound, not within 1e-9")
            return
        self.fail("value_mp", {"x": x}, f"plain floats {fmt(v)}, mpmath {m!r} "
                  f"(rounding spread {spread:.3g}, rounding bound {err:.3g})")

    # -- replay
    def check_replay(self, x0, x1, x2):
        p0 = self.ev.plain(x0).pattern
        counted = Counted(self.f)
        with np.errstate(all="ignore"):
            F = self.api.trace(counted, x0)
        self.F_multi = F
        seen = [p0]
        for x in (x0, x1, x2, x0, x1):
            p = self.ev.plain(x).pattern
            calls = counted.calls
            with np.errstate(all="ignore"):
                vr, gr = self.fresh(x)
                vF, gF = self.api.value_and_grad_F(F, x)
                v_call = self.api.call(F, x)
                g_only = self.api.grad_F(F, x)
            check = "replay_same" if p == p0 else "replay_other"
            pts = {"x0": x0, "x": x}
            problems = []
            if not (same_float(vF, vr) and same_bits(gF, gr)):
                problems.append(f"Function.value_and_grad ({fmt(vF)}, {fmt(gF)}), "
                                f"fresh ({fmt(vr)}, {fmt(gr)})")
            if not same_float(v_call, vr):
                problems.append(f"Function(x) {fmt(v_call)}, fresh {fmt(vr)}")
            if not same_bits(g_only, gr):
                problems.append(f"Function.grad {fmt(g_only)}, fresh {fmt(gr)}")
            if type(v_call) is not float:
                problems.append(f"Function(x) is a {type(v_call).__name__}, not a float")
            if p in seen:
                if counted.calls != calls:
                    problems.append(f"f was called again ({counted.calls - calls} times) on a "
                                    f"branch already recorded")
            elif counted.calls != calls + 1:
                problems.append(f"a new branch: f called {counted.calls - calls} times, "
                                f"expected 1 re-trace")
            if p not in seen:
                seen.append(p)
            if problems:
                self.fail(check, pts, "\n".join(problems))
            else:
                self.out.ok(check)
        # retrace=False
        with np.errstate(all="ignore"):
            Fn = self.api.trace(self.f, x0, retrace=False)
        for x in (x0, x1, x2):
            p = self.ev.plain(x).pattern
            try:
                with np.errstate(all="ignore"):
                    vF, gF = self.api.value_and_grad_F(Fn, x)
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
                          f"returned ({fmt(vF)}, {fmt(gF)})")
                continue
            vr, gr = self.fresh(x)
            if same_float(vF, vr) and same_bits(gF, gr):
                self.out.ok("retrace_false")
            else:
                self.fail("retrace_false", {"x0": x0, "x": x},
                          f"retrace=False ({fmt(vF)}, {fmt(gF)}), fresh ({fmt(vr)}, {fmt(gr)})")
        # Function.jacobian in both modes, .jvp and .vjp against the fresh ones
        for x in (x0, x1, x2):
            direction = [self.rng.choice((1.0, -0.5, 2.0, 0.0)) for _ in range(self.p.n)]
            with np.errstate(all="ignore"):
                jf = self.api.jacobian_F(F, x, "forward").reshape(-1)
                jr = self.api.jacobian_F(F, x, "reverse").reshape(-1)
                jf0 = self.api.jacfwd(self.f, x).reshape(-1)
                jr0 = self.api.jacrev(self.f, x).reshape(-1)
                jv = self.api.jvp_F(F, x, direction)
                jv0 = self.api.jvp(self.f, x, direction)
                vj = self.api.vjp_F(F, x, -1.5)
                vj0 = self.api.vjp(self.f, x, -1.5)
            if (same_bits(jf, jf0) and same_bits(jr, jr0) and same_bits(jv, jv0)
                    and same_float(vj[0], vj0[0]) and same_bits(vj[1], vj0[1])):
                self.out.ok("F_jacobian")
            else:
                self.fail("F_jacobian", {"x0": x0, "x": x, "v": direction},
                          f"Function.jacobian forward {fmt(jf)}, jacfwd {fmt(jf0)}; "
                          f"reverse {fmt(jr)}, jacrev {fmt(jr0)}; Function.jvp {fmt(jv)}, "
                          f"jvp {fmt(jv0)}; Function.vjp(-1.5) {fmt(vj[1])}, vjp {fmt(vj0[1])}")

    def check_batch(self, x0, rows):
        p0 = self.ev.plain(x0).pattern
        with np.errstate(all="ignore"):
            F = self.api.trace(self.f, x0)
            refs = [self.fresh(x) for x in rows]
        for threads in (1, 2):
            with np.errstate(all="ignore"):
                vals, grads = self.api.batch(F, rows, threads)
            bad = [i for i, (v, g) in enumerate(refs)
                   if not (same_float(vals[i], v) and same_bits(grads[i], g))]
            if bad:
                i = bad[0]
                self.fail("batch", {"X": rows[i]},
                          f"threads={threads}: rows {bad} differ; row {i}: batch "
                          f"({fmt(vals[i])}, {fmt(grads[i])}), fresh ({fmt(refs[i][0])}, "
                          f"{fmt(refs[i][1])})")
            else:
                self.out.ok("batch")
        # retrace=False: the rows on the traced branch, then all rows
        with np.errstate(all="ignore"):
            Fn = self.api.trace(self.f, x0, retrace=False)
        on = [x for x in rows if self.ev.plain(x).pattern == p0]
        off = len(on) < len(rows)
        for X, expect_error in ((on, False), (rows, off)):
            try:
                with np.errstate(all="ignore"):
                    vals, grads = self.api.batch(Fn, X, 2)
            except fastad.BranchError:
                if expect_error:
                    self.out.ok("batch_branch")
                else:
                    self.fail("batch_branch", {"x0": x0}, "BranchError for rows on the branch")
                continue
            if expect_error:
                self.fail("batch_branch", {"x0": x0},
                          "no BranchError for a batch with rows on another branch")
                continue
            ok = all(same_float(vals[i], self.fresh(x)[0]) and same_bits(grads[i], self.fresh(x)[1])
                     for i, x in enumerate(X))
            if ok:
                self.out.ok("batch_branch")
            else:
                self.fail("batch_branch", {"x0": x0}, "retrace=False batch rows differ from fresh")

    # -- second order
    def check_hessian(self, x):
        res = self.ev.plain(x)
        n = self.p.n
        pts = {"x": x}
        with np.errstate(all="ignore"):
            H = self.api.hessian(self.f, x).reshape(n, n)
            F = self.api.trace(self.f, x)
            HF = self.api.hessian_F(F, x).reshape(n, n)
        if same_bits(H, HF):
            self.out.ok("hess_F")
        else:
            self.fail("hess_F", pts, f"hessian {fmt(H)}\nFunction.hessian {fmt(HF)}")
        # central differences of the gradient
        reason, setup = self.fd_setup(x, res)
        if reason is not None:
            self.out.skip(f"hess_fd: {reason}")
        with np.errstate(all="ignore"):
            hmax = float(np.max(np.abs(H))) if np.all(np.isfinite(H)) else math.inf

        def tolerance(i, j, d):
            bound, scale = setup["bound"], setup["scale"]
            with np.errstate(all="ignore"):
                return (1e-6 * abs(d) + 1e-9 * hmax + 16.0 * (bound[i] + bound[j])
                        + 1e-12 * (scale[i] + scale[j]) + 2 * DBL_MIN)

        # symmetry: H[i, j] and H[j, i] come from different tangent lanes, so
        # they agree to rounding; where they differ by more, both are checked
        # against mpmath second differences
        with np.errstate(all="ignore"):
            v, g = self.fresh(x)
        with np.errstate(all="ignore"):
            finite_h = np.abs(H[np.isfinite(H)])
            near_overflow = (max(np.max(np.abs(g)), np.max(finite_h, initial=0.0)) > 1e-8 * DBL_MAX
                             or reference_bounds(res)[2])
        if not np.all(np.isfinite(g)):
            self.out.skip("hess_sym: the gradient is not finite")
        elif near_overflow:
            self.out.skip("hess_sym: derivatives near the end of the float range")
        elif not np.all(np.isfinite(H)):
            if same_bits(np.isnan(H), np.isnan(H.T)) and same_bits(np.isinf(H), np.isinf(H.T)):
                self.out.ok("hess_sym")
            elif "above" in outside_float_range(res, second=True):
                self.out.skip(ABOVE_RANGE.format("hess_sym"))
            else:
                self.fail("hess_sym", pts, f"hessian {fmt(H)}: inf/nan entries not symmetric, "
                          f"gradient {fmt(g)}")
        else:
            L = len(res.run.parents)
            tol = 8.0 * (L + 2) * EPS * (np.abs(H) + np.abs(H.T)) + 1e-10 * hmax
            bad = [(i, j) for i in range(n) for j in range(i + 1, n)
                   if abs(H[i, j] - H[j, i]) > tol[i, j]]
            wrong = []
            limited = False
            for i, j in bad:
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
                                and "below" in outside_float_range(res, second=True)):
                            limited = True
                        else:
                            wrong.append((a, b, verdict))
            if wrong:
                self.fail("hess_sym", pts, f"hessian {fmt(H)} is not symmetric: "
                          + "; ".join(f"H[{a}, {b}] = {fmt(H[a, b])} vs H[{b}, {a}] = "
                                      f"{fmt(H[b, a])}: {why}" for a, b, why in wrong))
            elif limited:
                self.out.skip(BELOW_RANGE.format("hess_sym"))
            else:
                self.out.ok("hess_sym")
                if bad:
                    self.out.note_known("hess_sym: asymmetric beyond the rounding bound, but "
                                        "both entries agree with mpmath")
        if setup is None:
            return
        for j in range(n):
            col = self.grad_difference(F, x, j, res)
            if col is None:
                self.out.skip("hess_fd: kink or branch within the step along an input")
                continue
            D, err = col
            for i in range(n):
                h = float(H[i, j])
                tol = tolerance(i, j, D[i])
                if math.isfinite(h) and abs(h - D[i]) <= tol + 4.0 * err[i]:
                    self.out.ok("hess_fd")
                    continue
                # the float differences are not good enough here: second
                # differences in mpmath, with a rounding estimate
                verdict = self.hessian_entry_mp(setup, i, j, h, tol)
                if verdict is True:
                    self.out.ok("hess_fd")
                elif verdict is None:
                    self.out.skip("hess_fd: kink or branch within the step (mpmath)")
                else:
                    limits = outside_float_range(res, second=True)
                    if "below" in limits if math.isfinite(h) else "above" in limits:
                        self.out.skip((BELOW_RANGE if math.isfinite(h) else ABOVE_RANGE)
                                      .format("hess_fd"))
                        continue
                    self.fail("hess_fd", pts,
                              f"d2f/dx[{i}]dx[{j}]: fastad {fmt(h)}, central difference of the "
                              f"gradient {D[i]!r} (error estimate {err[i]:.3g}), {verdict}\n"
                              f"hessian {fmt(H)}")

    def grad_difference(self, F, x, j, res):
        """Column j of the Hessian by central differences of Function.grad with
        steps h and h/2 (Richardson), with an error estimate."""
        cols = []
        for h in (1e-4, 5e-5):
            step = h * max(1.0, abs(x[j]))
            up = list(x)
            dn = list(x)
            up[j] = x[j] + step
            dn[j] = x[j] - step
            for y in (up, dn):
                r = self.ev.plain(y)
                if (r.pattern != res.pattern or r.run.pieces != res.run.pieces
                        or r.run.singular):
                    return None
            with np.errstate(all="ignore"):
                gu = self.api.grad_F(F, up)
                gd = self.api.grad_F(F, dn)
            if not (np.all(np.isfinite(gu)) and np.all(np.isfinite(gd))):
                return None
            cols.append((gu - gd) / (up[j] - dn[j]))
        D1, D2 = cols
        D = (4.0 * D2 - D1) / 3.0
        err = np.abs(D2 - D1)
        return D, err

    def hessian_entry_mp(self, setup, i, j, h_value, tol):
        """True if h_value matches the mpmath second difference (within tol
        and the rounding estimate), None if the point is not smooth enough at
        the step, else a description of the mpmath value."""
        x_mp, base = setup["x_mp"], setup["mrun"]

        def second(noise, shrink=0):
            """(mixed central second difference, its resolution) or None."""
            hs = [mpf(2) ** (-40 - shrink) * (abs(v) if 0 < abs(v) < 1 else 1) / max(1.0, float(t))
                  for v, t in zip(x_mp, setup["tmax"])]
            hi, hj = hs[i], hs[j]
            dps = 40 + int(math.ceil(float(mpmath.log10(setup["big"] / (hi * hj)))))
            total = 0
            for si, sj, w in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                with mpmath.workdps(dps):
                    y = list(x_mp)
                    y[i] += si * hi
                    y[j] += sj * hj
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
        return f"mpmath second difference {dv!r} (tolerance {tol:.3g}, rounding spread {spread:.3g})"

    def check_grad_function(self, x0, xs):
        with np.errstate(all="ignore"):
            F = self.api.trace(self.f, x0)
            G = self.api.grad_function(F)
        for x in xs:
            with np.errstate(all="ignore"):
                gG = self.api.call_grad_function(G, x)
                gF = self.api.grad_F(F, x)
            _, scale, L = self.reference(x)
            if all(_close(a, b, c, L) for a, b, c in zip(gG, gF, scale)):
                self.out.ok("grad_function")
            else:
                self.fail("grad_function", {"x0": x0, "x": x},
                          f"grad_function()(x) {fmt(gG)}, Function.grad(x) {fmt(gF)}")

    def check_pickle(self, x0, x1, x2):
        p0 = self.ev.plain(x0).pattern
        with np.errstate(all="ignore"):
            F = self.api.trace(self.f, x0)
            P = self.api.pickle_roundtrip(F)
        recorded = [p0]
        multi = getattr(self, "F_multi", None)
        cases = [(P, x, recorded) for x in (x0, x1, x2)]
        if multi is not None:
            P2 = self.api.pickle_roundtrip(multi)
            seen = {self.ev.plain(x).pattern for x in (x0, x1, x2)}
            cases += [(P2, x, list(seen)) for x in (x0, x1, x2)]
        for Q, x, patterns in cases:
            p = self.ev.plain(x).pattern
            try:
                with np.errstate(all="ignore"):
                    v, g = self.api.value_and_grad_F(Q, x)
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
            if same_float(v, vr) and same_bits(g, gr):
                self.out.ok("pickle")
            else:
                self.fail("pickle", {"x0": x0, "x": x},
                          f"unpickled ({fmt(v)}, {fmt(g)}), fresh ({fmt(vr)}, {fmt(gr)})")


# ---- running ------------------------------------------------------------------------------------

def check_program(program, rng, outcome=None, api=None, hessian=True, points=None):
    """Every check on the program, at random points drawn from rng or at the
    given points (x0, x1, x2, x3: ProgramChecker.run)."""
    outcome = outcome if outcome is not None else Outcome()
    ProgramChecker(program, outcome, rng, api=api, hessian=hessian).run(points)
    return outcome


def run_range(seed, start, stop, hessian_every=1):
    outcome = Outcome()
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):     # IEEE results (inf, nan) are expected
        for index in range(start, stop):
            program, rng = generate(seed, index)
            check_program(program, rng, outcome, hessian=(index % hessian_every == 0))
    outcome.seconds = time.perf_counter() - t0
    return outcome


def run_programs(seed, count, workers=1, hessian_every=1):
    """Runs programs 0 .. count-1 of the seed, on `workers` processes."""
    t0 = time.perf_counter()
    if workers <= 1:
        outcome = run_range(seed, 0, count, hessian_every)
    else:
        import concurrent.futures
        import multiprocessing
        chunk = max(1, count // (workers * 8))
        ranges = [(seed, s, min(count, s + chunk), hessian_every) for s in range(0, count, chunk)]
        outcome = Outcome()
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for part in pool.map(_run_range_star, ranges):
                outcome.merge(part)
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _run_range_star(args):
    return run_range(*args)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FASTAD_SEED", "20240611")))
    ap.add_argument("--index", type=int, default=None, help="one program: print it and check it")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    if args.index is not None:
        program, rng = generate(args.seed, args.index)
        print(program.source)
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
