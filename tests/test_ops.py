"""Every operation of the tape, in every operand order.

Parametrised over the test catalogue (tests/catalogue.py, one entry per row
of the rule table): each operation is recorded on a one-operation tape as
variable-variable, variable-constant and constant-variable, and its value and
derivatives are checked against NumPy/SciPy, the analytic formulas of the
catalogue, and central finite differences. The compiled opcode table must
list exactly the catalogued operations (test_every_opcode_is_tested).
"""

import math

import numpy as np
import pytest

import fastad
from fastad import _core

from catalogue import CATALOGUE, names
from conftest import FD_STEP_OF_DERIVATIVE, central_diff, central_diff_jacobian

INF = math.inf
NAN = math.nan

UNARY = names(arity=1)
BINARY = names(arity=2)

TABLE = {name: (arity, opcodes) for name, arity, opcodes in _core.opcode_table()}


def test_every_opcode_is_tested():
    names_ = set(TABLE) - {"input"}
    assert names_ == set(CATALOGUE)
    assert names_ == set(UNARY) | set(BINARY)


def test_opcodes_are_distinct_and_dense():
    codes = sorted(c for _, (_, opcodes) in TABLE.items() for c in opcodes)
    assert codes == list(range(len(codes)))
    assert TABLE["input"] == (0, (0,))


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


def entry(name):
    """(how user code records it, reference value, analytic derivative, smooth points)."""
    op = CATALOGUE[name]
    return op.record, op.ref, op.d, op.points


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op(name):
    f, ref, dref, points = entry(name)
    (opcode,) = TABLE[name][1]
    for x in points:
        tape, (v,), out = record(f, x)
        assert type(out) is fastad.Var
        assert tape._entry(out_index(tape))[0] == opcode
        assert_close(out.value, float(ref(x)), rtol=2e-16 * 4)
        g = tape.gradient(out, v)
        assert_close(g, float(dref(x)), rtol=1e-12)
        fd = central_diff(lambda t: float(ref(t)), x)
        assert g == pytest.approx(fd, rel=1e-6, abs=1e-6)


def out_index(tape):
    return tape.n_entries - 1


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("kind", ["VV", "VC", "CV"])
def test_binary_op(name, kind):
    f, ref, dref, points = entry(name)
    opcode = TABLE[name][1][("VV", "VC", "CV").index(kind)]
    for a, b in points:
        if kind == "VV":
            tape, (va, vb), out = record(f, a, b)
        elif kind == "VC":
            tape, (va, _), out = record(f, a, (b,))
        else:
            tape, (_, vb), out = record(f, (a,), b)
        assert type(out) is fastad.Var
        if name == "power" and kind == "VC" and b == 2:
            # x ** 2 records a square (test_x_squared_records_a_square)
            assert tape._entry(out_index(tape))[0] == TABLE["square"][1][0]
        else:
            assert tape._entry(out_index(tape))[0] == opcode, "wrong operand-kind opcode"
        assert_close(out.value, float(ref(a, b)), rtol=2e-16 * 4)
        da, db = dref(a, b)
        if kind in ("VV", "VC"):
            g = tape.gradient(out, va)
            assert_close(g, float(da), rtol=1e-12, atol=1e-300)
            assert g == pytest.approx(central_diff(lambda t: float(ref(t, b)), a),
                                      rel=1e-6, abs=1e-6)
        if kind in ("VV", "CV"):
            g = tape.gradient(out, vb)
            assert_close(g, float(db), rtol=1e-12, atol=1e-300)
            assert g == pytest.approx(central_diff(lambda t: float(ref(a, t)), b),
                                      rel=1e-6, abs=1e-6)


EDGES = [0.0, -0.0, 1.0, -1.0, 2.0, -3.5, INF, -INF, NAN, 1e308, -1e-308]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_value_at_edges_matches_numpy(name):
    f, ref, _, _ = entry(name)
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
    _, ref, _, _ = entry(name)
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

@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_second_derivative(name):
    f, _, dref, points = entry(name)
    for x in points:
        second = fastad.hessian(f)(x)
        expected = central_diff(lambda t: float(dref(t)), x)
        assert second == pytest.approx(expected, rel=1e-5, abs=1e-6), (name, x)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_second_derivatives_in_every_operand_order(name):
    f, _, dref, points = entry(name)
    for a, b in points:
        H = fastad.hessian(lambda v: f(v[0], v[1]))(np.array([a, b]))
        fd = central_diff_jacobian(lambda v: np.array(dref(v[0], v[1]), dtype=float), [a, b],
                                   FD_STEP_OF_DERIVATIVE)
        np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6, err_msg=name)
        # constant second operand (VC) and constant first operand (CV)
        assert fastad.hessian(lambda x: f(x, b))(a) == pytest.approx(fd[0, 0], rel=1e-5, abs=1e-6)
        assert fastad.hessian(lambda x: f(a, x))(b) == pytest.approx(fd[1, 1], rel=1e-5, abs=1e-6)
