"""Every operation of the tape, in every operand order.

Parametrised over the core's opcode table: each operation is recorded on a
one-operation tape as variable-variable, variable-constant and
constant-variable, and its value and derivatives are checked against NumPy,
analytic formulas written out here, and central finite differences. A new
opcode without an entry here fails test_every_opcode_is_tested.
"""

import math
import operator

import numpy as np
import pytest
import scipy.special

import fastad
from fastad import _core

INF = math.inf
NAN = math.nan


def sigmoid_ref(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# name -> (how user code records it, NumPy/math value, analytic derivative,
#          points where the function is smooth)
UNARY = {
    "neg": (operator.neg, np.negative, lambda x: -1.0, [-2.0, 0.0, 3.5]),
    "abs": (operator.abs, np.abs, np.sign, [-2.0, 0.5, 3.5]),
    "square": (fastad.square, np.square, lambda x: 2 * x, [-2.0, 0.0, 3.5]),
    "sqrt": (fastad.sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x), [0.25, 1.0, 9.0]),
    "cbrt": (fastad.cbrt, np.cbrt, lambda x: 1 / (3 * np.cbrt(x) ** 2), [-8.0, 0.5, 27.0]),
    "exp": (fastad.exp, np.exp, np.exp, [-3.0, 0.0, 2.5]),
    "exp2": (fastad.exp2, np.exp2, lambda x: np.log(2) * np.exp2(x), [-3.0, 0.0, 2.5]),
    "expm1": (fastad.expm1, np.expm1, np.exp, [-3.0, 1e-8, 2.5]),
    "log": (fastad.log, np.log, lambda x: 1 / x, [0.1, 1.0, 50.0]),
    "log2": (fastad.log2, np.log2, lambda x: 1 / (x * np.log(2)), [0.1, 1.0, 50.0]),
    "log10": (fastad.log10, np.log10, lambda x: 1 / (x * np.log(10)), [0.1, 1.0, 50.0]),
    "log1p": (fastad.log1p, np.log1p, lambda x: 1 / (1 + x), [-0.5, 1e-9, 50.0]),
    "sin": (fastad.sin, np.sin, np.cos, [-2.0, 0.0, 1.3]),
    "cos": (fastad.cos, np.cos, lambda x: -np.sin(x), [-2.0, 0.0, 1.3]),
    "tan": (fastad.tan, np.tan, lambda x: 1 / np.cos(x) ** 2, [-1.2, 0.0, 0.7]),
    "arcsin": (fastad.arcsin, np.arcsin, lambda x: 1 / np.sqrt(1 - x * x), [-0.9, 0.0, 0.5]),
    "arccos": (fastad.arccos, np.arccos, lambda x: -1 / np.sqrt(1 - x * x), [-0.9, 0.0, 0.5]),
    "arctan": (fastad.arctan, np.arctan, lambda x: 1 / (1 + x * x), [-3.0, 0.0, 0.5]),
    "sinh": (fastad.sinh, np.sinh, np.cosh, [-2.0, 0.0, 1.5]),
    "cosh": (fastad.cosh, np.cosh, np.sinh, [-2.0, 0.0, 1.5]),
    "tanh": (fastad.tanh, np.tanh, lambda x: 1 / np.cosh(x) ** 2, [-2.0, 0.0, 1.5]),
    "arcsinh": (fastad.arcsinh, np.arcsinh, lambda x: 1 / np.sqrt(x * x + 1), [-2.0, 0.0, 1.5]),
    "arccosh": (fastad.arccosh, np.arccosh, lambda x: 1 / np.sqrt(x * x - 1), [1.5, 3.0, 10.0]),
    "arctanh": (fastad.arctanh, np.arctanh, lambda x: 1 / (1 - x * x), [-0.9, 0.0, 0.5]),
    "erf": (fastad.erf, np.vectorize(math.erf), lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x),
            [-1.5, 0.0, 0.7]),
    "erfc": (fastad.erfc, np.vectorize(math.erfc), lambda x: -2 / np.sqrt(np.pi) * np.exp(-x * x),
             [-1.5, 0.0, 0.7]),
    "sigmoid": (fastad.sigmoid, sigmoid_ref, lambda x: sigmoid_ref(x) * (1 - sigmoid_ref(x)),
                [-30.0, 0.0, 2.0]),
    "log_sigmoid": (fastad.log_sigmoid, scipy.special.log_expit,
                    lambda x: scipy.special.expit(-x), [-30.0, 0.0, 2.0, 40.0]),
    "sign": (fastad.sign, np.sign, lambda x: 0.0, [-2.0, 0.5]),
    "floor": (math.floor, np.floor, lambda x: 0.0, [-2.5, 0.5, 3.2]),
    "ceil": (math.ceil, np.ceil, lambda x: 0.0, [-2.5, 0.5, 3.2]),
    "trunc": (math.trunc, np.trunc, lambda x: 0.0, [-2.5, 0.5, 3.2]),
    "rint": (round, np.rint, lambda x: 0.0, [-2.3, 0.2, 3.7]),
}

# name -> (how user code records it, NumPy value, analytic (d/da, d/db),
#          points (a, b) where the function is smooth)
BINARY = {
    "add": (operator.add, np.add, lambda a, b: (1.0, 1.0), [(1.5, -2.0), (0.0, 3.0)]),
    "subtract": (operator.sub, np.subtract, lambda a, b: (1.0, -1.0), [(1.5, -2.0), (0.0, 3.0)]),
    "multiply": (operator.mul, np.multiply, lambda a, b: (b, a), [(1.5, -2.0), (0.0, 3.0)]),
    "divide": (operator.truediv, np.true_divide, lambda a, b: (1 / b, -a / b ** 2),
               [(1.5, -2.0), (0.0, 3.0)]),
    "power": (operator.pow, np.power, lambda a, b: (b * a ** (b - 1), a ** b * np.log(a)),
              [(1.5, -2.5), (0.7, 3.0), (2.0, 0.5)]),
    "arctan2": (fastad.arctan2, np.arctan2,
                lambda a, b: (b / (a * a + b * b), -a / (a * a + b * b)),
                [(1.5, -2.0), (-0.5, 3.0)]),
    "hypot": (fastad.hypot, np.hypot, lambda a, b: (a / np.hypot(a, b), b / np.hypot(a, b)),
              [(1.5, -2.0), (-0.5, 3.0)]),
    "maximum": (fastad.maximum, np.maximum, lambda a, b: (float(a >= b), float(a < b)),
                [(1.5, -2.0), (-0.5, 3.0)]),
    "minimum": (fastad.minimum, np.minimum, lambda a, b: (float(a <= b), float(a > b)),
                [(1.5, -2.0), (-0.5, 3.0)]),
    "logaddexp": (fastad.logaddexp, np.logaddexp,
                  lambda a, b: (1 / (1 + np.exp(b - a)), 1 / (1 + np.exp(a - b))),
                  [(1.5, -2.0), (-0.5, 3.0), (800.0, 799.0)]),
    "xlogy": (fastad.xlogy, scipy.special.xlogy, lambda a, b: (np.log(b), a / b),
              [(1.5, 2.0), (-0.5, 3.0), (2.0, 0.25)]),
    "floor_divide": (operator.floordiv, np.floor_divide, lambda a, b: (0.0, 0.0),
                     [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0)]),
    "remainder": (operator.mod, np.remainder, lambda a, b: (1.0, -np.floor(a / b)),
                  [(7.5, 2.0), (-7.5, 2.0), (7.5, -2.0)]),
}

TABLE = {name: (arity, opcodes) for name, arity, opcodes in _core.opcode_table()}


def test_every_opcode_is_tested():
    names = set(TABLE) - {"input"}
    assert names == set(UNARY) | set(BINARY)


def test_opcodes_are_distinct_and_dense():
    codes = sorted(c for _, (_, opcodes) in TABLE.items() for c in opcodes)
    assert codes == list(range(len(codes)))
    assert TABLE["input"] == (0, (0,))


def central_difference(f, x):
    h = 1e-6 * max(1.0, abs(x))
    return (f(x + h) - f(x - h)) / (2 * h)


def assert_close(actual, expected, rtol=1e-13, atol=0.0):
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual)
    else:
        assert actual == pytest.approx(expected, rel=rtol, abs=atol)


def record(f, *values):
    """Record f on a fresh tape; inputs are Vars where values[i] is a float,
    plain constants where it is wrapped in a 1-tuple."""
    with fastad.Tape() as tape:
        args = [tape.var(v) if not isinstance(v, tuple) else v[0] for v in values]
        out = f(*args)
    return tape, args, out


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op(name):
    f, ref, dref, points = UNARY[name]
    (opcode,) = TABLE[name][1]
    for x in points:
        tape, (v,), out = record(f, x)
        assert type(out) is fastad.Var
        assert tape._entry(out_index(tape))[0] == opcode
        assert_close(out.value, float(ref(x)), rtol=2e-16 * 4)
        g = tape.gradient(out, v)
        assert_close(g, float(dref(x)), rtol=1e-12)
        fd = central_difference(lambda t: float(ref(t)), x)
        assert g == pytest.approx(fd, rel=1e-6, abs=1e-6)


def out_index(tape):
    return tape.n_entries - 1


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("kind", ["VV", "VC", "CV"])
def test_binary_op(name, kind):
    f, ref, dref, points = BINARY[name]
    opcode = TABLE[name][1][("VV", "VC", "CV").index(kind)]
    for a, b in points:
        if kind == "VV":
            tape, (va, vb), out = record(f, a, b)
        elif kind == "VC":
            tape, (va, _), out = record(f, a, (b,))
        else:
            tape, (_, vb), out = record(f, (a,), b)
        assert type(out) is fastad.Var
        assert tape._entry(out_index(tape))[0] == opcode, "wrong operand-kind opcode"
        assert_close(out.value, float(ref(a, b)), rtol=2e-16 * 4)
        da, db = dref(a, b)
        if kind in ("VV", "VC"):
            g = tape.gradient(out, va)
            assert_close(g, float(da), rtol=1e-12, atol=1e-300)
            assert g == pytest.approx(central_difference(lambda t: float(ref(t, b)), a),
                                      rel=1e-6, abs=1e-6)
        if kind in ("VV", "CV"):
            g = tape.gradient(out, vb)
            assert_close(g, float(db), rtol=1e-12, atol=1e-300)
            assert g == pytest.approx(central_difference(lambda t: float(ref(a, t)), b),
                                      rel=1e-6, abs=1e-6)


EDGES = [0.0, -0.0, 1.0, -1.0, 2.0, -3.5, INF, -INF, NAN, 1e308, -1e-308]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_value_at_edges_matches_numpy(name):
    f, ref, _, _ = UNARY[name]
    (opcode,) = TABLE[name][1]
    for x in EDGES:
        with np.errstate(all="ignore"):
            expected = float(ref(x))
        value, _ = _core._evaluate_rule(opcode, x)
        if math.isnan(expected):
            assert math.isnan(value), (name, x)
        elif math.isinf(expected) or expected == 0.0:
            assert value == expected, (name, x)
            if expected == 0.0 and name not in ("sigmoid", "erfc"):
                assert math.copysign(1, value) == math.copysign(1, expected), (name, x)
        else:
            assert value == pytest.approx(expected, rel=1e-15), (name, x)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_value_at_edges_matches_numpy(name):
    _, ref, _, _ = BINARY[name]
    opcode = TABLE[name][1][0]
    values = [0.0, -0.0, 1.0, -2.5, 3.0, INF, -INF, NAN]
    for a in values:
        for b in values:
            with np.errstate(all="ignore"):
                expected = float(ref(a, b))
            value = _core._evaluate_rule(opcode, a, b)[0]
            if math.isnan(expected):
                assert math.isnan(value), (name, a, b)
            else:
                assert value == pytest.approx(expected, rel=1e-15), (name, a, b)
                # NumPy's maximum/minimum return the second of two equal
                # zeros; fastad takes the first on ties.
                if expected == 0.0 and name not in ("maximum", "minimum"):
                    assert math.copysign(1, value) == math.copysign(1, expected), (name, a, b)


@pytest.mark.parametrize("x, expected", [
    (0.0, 0.0), (-0.0, 0.0), (2.0, 1.0), (-2.0, -1.0)])
def test_abs_derivative_convention(x, expected):
    assert fastad.grad(abs)(x) == expected


def test_conventions_at_awkward_points():
    assert fastad.grad(fastad.sqrt)(0.0) == INF
    assert fastad.grad(fastad.log)(0.0) == INF
    assert fastad.grad(fastad.cbrt)(0.0) == INF
    # d/db 0**b = 0 for b > 0; d/da a**0 = 0 even at a = 0.
    assert fastad.grad(lambda b: 0.0 ** b)(2.0) == 0.0
    assert fastad.grad(lambda a: a ** 0.0)(0.0) == 0.0
    # Ties go to the first argument.
    assert fastad.grad(lambda a, b: fastad.maximum(a, b), argnums=(0, 1))(1.0, 1.0) == (1.0, 0.0)
    assert fastad.grad(lambda a, b: fastad.minimum(a, b), argnums=(0, 1))(1.0, 1.0) == (1.0, 0.0)
    assert fastad.grad(lambda a, b: fastad.logaddexp(a, b), argnums=(0, 1))(-INF, -INF) == (0.5, 0.5)
    assert fastad.grad(lambda a, b: fastad.hypot(a, b), argnums=(0, 1))(0.0, 0.0) == (0.0, 0.0)
    assert fastad.grad(lambda a, b: fastad.arctan2(a, b), argnums=(0, 1))(0.0, 0.0) == (0.0, 0.0)


def test_x_squared_records_a_square():
    tape, (x,), y = record(lambda v: v ** 2, 3.0)
    assert tape._entry(out_index(tape))[0] == TABLE["square"][1][0]
    assert tape.gradient(y, x) == 6.0
    tape, (x,), y = record(lambda v: v ** 3, 3.0)
    assert tape._entry(out_index(tape))[0] == TABLE["power"][1][1]
    assert tape.gradient(y, x) == pytest.approx(27.0)


def test_reflected_operators_record_one_entry():
    # 2 - x, 2 / x, 2 ** x are one constant-variable entry each, not two.
    for f in (lambda x: 2.0 - x, lambda x: 2.0 / x, lambda x: 2.0 ** x, lambda x: -x):
        tape, _, _ = record(f, 3.0)
        assert tape.n_entries == 2


# ---- second derivatives (forward-over-reverse) ------------------------------------

def fd_of_gradient(g, x, h=1e-5):
    """Central differences of a gradient function g at the float array x."""
    x = np.asarray(x, dtype=float)
    cols = []
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = h * max(1.0, abs(x[k]))
        cols.append((np.asarray(g(x + step)) - np.asarray(g(x - step))) / (2 * step[k]))
    return np.array(cols).T


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_second_derivative(name):
    f, _, dref, points = UNARY[name]
    for x in points:
        second = fastad.hessian(f)(x)
        expected = (float(dref(x + 1e-6 * max(1, abs(x)))) - float(dref(x - 1e-6 * max(1, abs(x))))
                    ) / (2e-6 * max(1, abs(x)))
        assert second == pytest.approx(expected, rel=1e-5, abs=1e-6), (name, x)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_second_derivatives_in_every_operand_order(name):
    f, _, dref, points = BINARY[name]
    for a, b in points:
        H = fastad.hessian(lambda v: f(v[0], v[1]))(np.array([a, b]))
        fd = fd_of_gradient(lambda v: np.array(dref(v[0], v[1]), dtype=float), [a, b])
        np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6, err_msg=name)
        # constant second operand (VC) and constant first operand (CV)
        assert fastad.hessian(lambda x: f(x, b))(a) == pytest.approx(fd[0, 0], rel=1e-5, abs=1e-6)
        assert fastad.hessian(lambda x: f(a, x))(b) == pytest.approx(fd[1, 1], rel=1e-5, abs=1e-6)
