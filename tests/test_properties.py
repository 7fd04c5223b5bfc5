"""Property tests: random expressions against finite differences and plain floats.

A random expression tree over fastad's unary and binary operations is
evaluated three ways: on Vars (through ``fastad.value_and_grad``), on plain
floats (np.float64 leaves, through the same fastad functions and NumPy's
scalar arithmetic), and on plain floats at shifted points for central
finite differences.
"""

import math
import operator

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastad

N_VARS = 3

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# ---- the operations -----------------------------------------------------------------
# Domain guards are part of the expression (recorded like everything else): they
# keep the argument of a function with a restricted domain inside it.

def _positive(e):
    return e * e + 0.25          # >= 0.25


def _unit(e):
    return 0.9 * fastad.tanh(e)  # in (-0.9, 0.9)


def _above_one(e):
    return e * e + 1.1           # >= 1.1


def _above_minus_one(e):
    return e * e - 0.5           # >= -0.5


def _dist_to_int(v):
    if not math.isfinite(v):
        return 0.0
    return abs(v - round(v))


# name -> (apply to an operand, distance of the plain operand value to the nearest
#          non-smooth point or None if the operation is smooth)
UNARY = {
    "neg": (operator.neg, None),
    "pos": (operator.pos, None),
    "abs": (abs, lambda a: abs(a)),
    "sin": (fastad.sin, None),
    "cos": (fastad.cos, None),
    "tan": (fastad.tan, lambda a: abs(math.cos(a)) if math.isfinite(a) else 0.0),
    "arcsin": (lambda e: fastad.arcsin(_unit(e)), None),
    "arccos": (lambda e: fastad.arccos(_unit(e)), None),
    "arctan": (fastad.arctan, None),
    "sinh": (fastad.sinh, None),
    "cosh": (fastad.cosh, None),
    "tanh": (fastad.tanh, None),
    "arcsinh": (fastad.arcsinh, None),
    "arccosh": (lambda e: fastad.arccosh(_above_one(e)), None),
    "arctanh": (lambda e: fastad.arctanh(_unit(e)), None),
    "exp": (fastad.exp, None),
    "exp2": (fastad.exp2, None),
    "expm1": (fastad.expm1, None),
    "log": (lambda e: fastad.log(_positive(e)), None),
    "log2": (lambda e: fastad.log2(_positive(e)), None),
    "log10": (lambda e: fastad.log10(_positive(e)), None),
    "log1p": (lambda e: fastad.log1p(_above_minus_one(e)), None),
    "sqrt": (lambda e: fastad.sqrt(_positive(e)), None),
    "cbrt": (fastad.cbrt, lambda a: abs(a)),
    "square": (fastad.square, None),
    "fabs": (fastad.abs, lambda a: abs(a)),
    "sign": (fastad.sign, lambda a: abs(a)),
    "floor": (fastad.floor, _dist_to_int),
    "ceil": (fastad.ceil, _dist_to_int),
    "erf": (fastad.erf, None),
    "erfc": (fastad.erfc, None),
    "sigmoid": (fastad.sigmoid, None),
    "pow2": (lambda e: e**2, None),
    "pow3": (lambda e: e**3, None),
}


def _mod_dist(a, b):
    if b == 0.0:
        return 0.0
    return abs(b) * _dist_to_int(a / b)


def _arctan2_dist(a, b):
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0
    d = math.hypot(a, b)
    return min(d, abs(a)) if b < 0 else d


BINARY = {
    "add": (operator.add, None),
    "sub": (operator.sub, None),
    "mul": (operator.mul, None),
    "div": (operator.truediv, None),
    "pow": (lambda a, b: _positive(a) ** b, None),
    "floordiv": (operator.floordiv, _mod_dist),
    "mod": (operator.mod, _mod_dist),
    "maximum": (fastad.maximum, lambda a, b: abs(a - b)),
    "minimum": (fastad.minimum, lambda a, b: abs(a - b)),
    "hypot": (fastad.hypot, lambda a, b: math.hypot(a, b)),
    "arctan2": (fastad.arctan2, _arctan2_dist),
    "logaddexp": (fastad.logaddexp, None),
    "power": (lambda a, b: fastad.power(_positive(a), b), None),
}


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
        fn, kink = UNARY[tree[1]]
        a = evaluate(tree[2], leaves, track)
        if not _is_var(a):
            a = np.float64(a)
        if track is not None and kink is not None:
            track["kink"] = min(track["kink"], kink(float(a)))
        y = fn(a)
    else:
        fn, kink = BINARY[tree[1]]
        a = evaluate(tree[2], leaves, track)
        b = evaluate(tree[3], leaves, track)
        if not _is_var(a) and not _is_var(b):
            a, b = np.float64(a), np.float64(b)  # IEEE semantics, no ZeroDivisionError
        if track is not None and kink is not None:
            track["kink"] = min(track["kink"], kink(float(a), float(b)))
        y = fn(a, b)
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


@settings(max_examples=400, **SETTINGS)
@given(tree=expressions, xs=points)
def test_value_on_vars_equals_value_on_floats(tree, xs):
    """The recorded value equals the same expression on plain floats (any input,
    also where the result is inf or nan)."""
    with np.errstate(all="ignore"):
        expected = plain(tree, xs)
        value, _ = _var_value_and_grad(tree, xs)
    assert type(value) is float
    assert _ulp_equal(value, expected), (value, expected)


H = 1e-6


def _fd(tree, xs, k, h):
    step = h * max(1.0, abs(xs[k]))
    up = list(xs)
    down = list(xs)
    up[k] += step
    down[k] -= step
    fu, fd = plain(tree, up), plain(tree, down)
    return (fu - fd) / (2.0 * step), fu, fd


@settings(max_examples=400, **SETTINGS)
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
            fd1, fu, fdn = _fd(tree, xs, k, H)
            fd2, _, _ = _fd(tree, xs, k, H / 2)
            assume(all(math.isfinite(v) for v in (fd1, fd2, fu, fdn)))
            # the function must be smooth at the scale of the step: both
            # difference quotients agree
            assume(abs(fd1 - fd2) <= 1e-4 * (1.0 + abs(fd1)))
            g = grads[k]
            assert math.isfinite(g), (k, g)
            rounding = 1e-8 * (1.0 + track["scale"]) / max(1.0, abs(xs[k]))
            tol = 1e-5 * (1.0 + abs(g)) + rounding
            assert abs(g - fd2) <= tol, (k, g, fd2, fd1)


_binary_op_names = ["add", "sub", "mul", "truediv", "pow", "floordiv", "mod"]
_nonzero = st.floats(-1e3, 1e3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


def _partials(op, a, b):
    if op == "add":
        return 1.0, 1.0
    if op == "sub":
        return 1.0, -1.0
    if op == "mul":
        return b, a
    if op == "truediv":
        return 1.0 / b, -(a / b) / b
    if op == "floordiv":
        return 0.0, 0.0
    if op == "mod":
        return 1.0, -float(np.floor_divide(np.float64(a), np.float64(b)))
    # pow with a > 0
    return (0.0 if b == 0 else b * a ** (b - 1.0)), a**b * math.log(a)


@settings(max_examples=300, **SETTINGS)
@given(op=st.sampled_from(_binary_op_names), a=_nonzero, b=_nonzero,
       var_side=st.sampled_from(["left", "right", "both"]),
       kind=st.sampled_from([float, int, np.float64, np.float32]))
def test_binary_operator_value_and_partials(op, a, b, var_side, kind):
    """Var (op) constant, constant (op) Var and Var (op) Var agree with NumPy
    float64 values bit for bit and with the analytic partials."""
    fn = getattr(operator, op)
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


_UNARY_FUNCS = ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                "arcsinh", "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2",
                "log10", "log1p", "sqrt", "cbrt", "square", "abs", "sign", "floor", "ceil",
                "erf", "erfc", "sigmoid"]
_any_float = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=150, **SETTINGS)
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


_binary_funcs = ["arctan2", "hypot", "power", "maximum", "minimum", "logaddexp"]


@settings(max_examples=150, **SETTINGS)
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
