"""Property tests: random expressions against finite differences and plain floats.

A random expression tree over fastad's unary and binary operations (every
spelling of every operation of the test catalogue, so every row of the rule
table) is evaluated three ways: on Vars (through ``fastad.value_and_grad``),
on plain floats (np.float64 leaves, through the same fastad functions and
NumPy's scalar arithmetic), and on plain floats at shifted points for central
finite differences.
"""

import math
import operator

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastad

from catalogue import names, ops
from conftest import FD_STEP, central_diff_steps, smooth_at_step

N_VARS = 3


# ---- the operations -----------------------------------------------------------------
# Each operand first goes through the catalogue's map into the operation's
# domain (recorded like everything else), then through one spelling of the
# operation; on plain floats through the function with fastad's own bits. The
# kink (distance of the mapped operand to the nearest non-smooth point, None if
# smooth) keeps finite differences away from kinks.

def _identity(e):
    return e


# name -> (map into the domain, the operation on Vars, the same on floats, kink)
UNARY = {f"{op.name}:{label}": (op.domain, f, op.on_floats(label), op.kink)
         for op in ops(arity=1) for label, f in op.spellings.items()}
# spellings that are no row of their own
UNARY["pos"] = (_identity, operator.pos, operator.pos, None)
UNARY["pow3"] = (_identity, lambda e: e ** 3, lambda e: e ** 3, None)  # power, constant exponent

BINARY = {f"{op.name}:{label}": (op.domain, f, op.on_floats(label), op.kink)
          for op in ops(arity=2) for label, f in op.spellings.items()}


def _is_var(v):
    return type(v) is fastad.Var


def evaluate(tree, leaves, track=None):
    """Evaluate tree with the given variable leaves (Vars or np.float64).

    With `track` (a dict), record the smallest distance of an operand to a
    non-smooth point ("kink") and the largest magnitude of an intermediate
    value ("scale"); only meaningful for plain-number leaves.
    """
    kind = tree[0]
    if kind == "x":
        return leaves[tree[1]]
    if kind == "c":
        return tree[1]
    if kind == "u":
        domain, on_vars, on_floats, kink = UNARY[tree[1]]
        a = evaluate(tree[2], leaves, track)
        if not _is_var(a):
            a = np.float64(a)
        a = domain(a)
        if not _is_var(a):
            a = np.float64(a)
        if track is not None and kink is not None:
            track["kink"] = min(track["kink"], kink(float(a)))
        y = on_vars(a) if _is_var(a) else on_floats(a)
    else:
        domain, on_vars, on_floats, kink = BINARY[tree[1]]
        a = evaluate(tree[2], leaves, track)
        b = evaluate(tree[3], leaves, track)
        a, b = domain(a, b)
        if _is_var(a) or _is_var(b):
            y = on_vars(a, b)
        else:
            a, b = np.float64(a), np.float64(b)  # IEEE semantics, no ZeroDivisionError
            y = on_floats(a, b)
        if track is not None and kink is not None:
            track["kink"] = min(track["kink"], kink(float(a), float(b)))
    if track is not None:
        v = float(y)
        track["scale"] = max(track["scale"], abs(v) if math.isfinite(v) else math.inf)
    return y


def plain(tree, xs, track=None):
    return float(evaluate(tree, [np.float64(x) for x in xs], track))


def _var_value_and_grad(tree, xs):
    def f(*vars_):
        return evaluate(tree, vars_)

    return fastad.value_and_grad(f, argnums=tuple(range(N_VARS)))(*xs)


# ---- strategies --------------------------------------------------------------------

_coordinate = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
_constant = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0, -1.0, 3.0, 0.0]),
    st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False),
)
_leaf = st.one_of(
    st.tuples(st.just("x"), st.integers(0, N_VARS - 1)),
    st.tuples(st.just("c"), _constant),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.just("u"), st.sampled_from(sorted(UNARY)), children),
        st.tuples(st.just("b"), st.sampled_from(sorted(BINARY)), children, children),
    )


expressions = st.recursive(_leaf, _extend, max_leaves=8)
points = st.tuples(*[_coordinate] * N_VARS)


# ---- properties ---------------------------------------------------------------------

def _ulp_equal(a, b):
    """a == b (nan == nan, same sign of zero) or neighbours at most 1 ulp apart."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b)
    return np.nextafter(a, b) == b


def _same(a, b):
    """Bit-for-bit the same float (any nan equals any nan)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@settings(max_examples=400)
@given(tree=expressions, xs=points)
def test_value_on_vars_equals_value_on_floats(tree, xs):
    """The recorded value equals the same expression on plain floats (any input,
    also where the result is inf or nan)."""
    with np.errstate(all="ignore"):
        expected = plain(tree, xs)
        value, _ = _var_value_and_grad(tree, xs)
    assert type(value) is float
    assert _ulp_equal(value, expected), (value, expected)


def _at(xs, k, t):
    moved = list(xs)
    moved[k] = t
    return moved


@settings(max_examples=400)
@given(tree=expressions, xs=points)
def test_gradient_matches_central_differences(tree, xs):
    with np.errstate(all="ignore"):
        track = {"kink": math.inf, "scale": 0.0}
        f0 = plain(tree, xs, track)
        assume(math.isfinite(f0))
        # away from kinks and jumps, with no huge intermediate values
        assume(track["kink"] > 1e-3)
        assume(track["scale"] < 1e6)
        value, grads = _var_value_and_grad(tree, xs)
        assert _ulp_equal(value, f0)
        for k in range(N_VARS):
            fd1, fd2, fu, fdn = central_diff_steps(lambda t: plain(tree, _at(xs, k, t)),
                                                   xs[k], FD_STEP)
            assume(all(math.isfinite(v) for v in (fd1, fd2, fu, fdn)))
            # the function must be smooth at the scale of the step: both
            # difference quotients agree
            assume(smooth_at_step(fd1, fd2))
            g = grads[k]
            assert math.isfinite(g), (k, g)
            rounding = 1e-8 * (1.0 + track["scale"]) / max(1.0, abs(xs[k]))
            tol = 1e-5 * (1.0 + abs(g)) + rounding
            assert abs(g - fd2) <= tol, (k, g, fd2, fd1)


# the operations user code writes with an operator: name -> (operator, catalogue entry)
OPERATORS = {op.record.__name__: (op.record, op) for op in ops(arity=2)
             if op.record is getattr(operator, op.record.__name__, None)}
_nonzero = st.floats(-1e3, 1e3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


def _partials(op, a, b):
    da, db = OPERATORS[op][1].d(a, b)
    return float(da), float(db)


@settings(max_examples=300)
@given(op=st.sampled_from(sorted(OPERATORS)), a=_nonzero, b=_nonzero,
       var_side=st.sampled_from(["left", "right", "both"]),
       kind=st.sampled_from([float, int, np.float64, np.float32]))
def test_binary_operator_value_and_partials(op, a, b, var_side, kind):
    """Var (op) constant, constant (op) Var and Var (op) Var agree with NumPy
    float64 values bit for bit and with the analytic partials."""
    fn = OPERATORS[op][0]
    if op == "pow":
        a = abs(a)
        b = max(min(b, 50.0), -50.0)
    # the constant operand, in the chosen kind (its exact value as a float)
    if var_side == "left":
        c = kind(round(b)) if kind is int else kind(b)
        b = float(c)
    elif var_side == "right":
        c = kind(round(a)) if kind is int else kind(a)
        a = float(c)
        if op == "pow":
            assume(a > 0)
    with np.errstate(all="ignore"):
        expected = float(fn(np.float64(a), np.float64(b)))
        da, db = _partials(op, a, b)
        if var_side == "left":
            value, g = fastad.value_and_grad(lambda x: fn(x, c))(a)
            partials = [(g, da)]
        elif var_side == "right":
            value, g = fastad.value_and_grad(lambda y: fn(c, y))(b)
            partials = [(g, db)]
        else:
            value, (ga, gb) = fastad.value_and_grad(lambda x, y: fn(x, y), argnums=(0, 1))(a, b)
            partials = [(ga, da), (gb, db)]
    assume(math.isfinite(expected))
    assert _ulp_equal(value, expected), (value, expected)
    for got, want in partials:
        if math.isfinite(want):
            assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300), (got, want)


_UNARY_FUNCS = names(arity=1, public=True)
_any_float = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=150)
@given(name=st.sampled_from(_UNARY_FUNCS), values=st.lists(_any_float, min_size=1, max_size=6))
def test_unary_function_paths_agree(name, values):
    """Float array, float and Var give the same value for every input, bit for bit."""
    f = getattr(fastad, name)
    arr = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        out = f(arr)
        scalars = [f(v) for v in values]

        def on_vars(xs):
            ys = f(xs)
            for y, s in zip(ys, scalars):
                assert _same(y.value, s), (y.value, s)
            return np.sum(ys)

        fastad.grad(on_vars)(arr)
    for o, s in zip(out, scalars):
        assert _same(float(o), s), (o, s)


_binary_funcs = names(arity=2, public=True)


@settings(max_examples=150)
@given(name=st.sampled_from(_binary_funcs), a=_any_float, b=_any_float)
def test_binary_function_paths_agree(name, a, b):
    f = getattr(fastad, name)
    with np.errstate(all="ignore"):
        s = f(a, b)
        arr = f(np.array([a]), np.array([b]))[0]
        v_vv = fastad.value_and_grad(lambda x, y: f(x, y), argnums=(0, 1))(a, b)[0]
        v_vc = fastad.value_and_grad(lambda x: f(x, b))(a)[0]
        v_cv = fastad.value_and_grad(lambda y: f(a, y))(b)[0]
    for v in (arr, v_vv, v_vc, v_cv):
        assert _same(float(v), s), (v, s)
