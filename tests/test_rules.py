"""The tables derived from the rule table (fastad/_rules.py), entry by entry.

The build renders the opcode enum, the numeric and emitted rules, the flags,
the public functions, the Var methods, the complex dispatch and the stub from
one table. Here each derived table is checked against the table itself: the
compiled opcode table and flags against the rows and their rule text, the
numeric rules against an independent evaluation of the rule text (a small
evaluator over NumPy/SciPy references from the test catalogue, never fastad)
and against central differences, the emitted derivatives against the numeric
ones, the public surface and the stub against the public, methods and complex
columns, and the table loader against malformed rows.
"""

import ast
import dataclasses
import importlib.util
import inspect
import math
import pathlib
import re
import sys
import traceback

import numpy as np
import pytest
import scipy.special

import fastad
from fastad import _core, _rules

from catalogue import CATALOGUE, CONSTANTS
from conftest import FD_STEP, FD_STEP_OF_DERIVATIVE, central_diff_steps, richardson

ROWS = _rules.ROWS
ROW_NAMES = [r.name for r in ROWS]
ROW = {r.name: r for r in ROWS}
OPCODES = {name: opcodes for name, _, opcodes in _core.opcode_table()}
PUBLIC = [r.name for r in ROWS if r.public is not None]
COMPLEX_POINTS = [0.8 + 0.6j, -0.7 + 0.3j, 0.4 - 1.1j, 1.5 - 0.2j]


def operand_names(row):
    return ("x",) if row.arity == 1 else ("a", "b")


def entry(name):
    """The catalogue entry of row `name` (a row without one fails its tests, and
    test_catalogue_has_an_entry_per_row_and_no_other names it)."""
    if name not in CATALOGUE:
        pytest.fail(f"the rule table's row {name!r} has no test catalogue entry")
    return CATALOGUE[name]


def catalogue_points(name):
    """The catalogue's points of the row, as tuples of operands (none without an entry)."""
    op = CATALOGUE.get(name)
    return [p if isinstance(p, tuple) else (p,) for p in (op.points if op else [])]


def close(got, want, rtol, atol=1e-300):
    """got == want to rtol (nan == nan, inf == inf)."""
    got, want = complex(got), complex(want)
    if any(math.isnan(v) for v in (got.real, got.imag, want.real, want.imag)):
        return all(math.isnan(g) == math.isnan(w) for g, w in
                   ((got.real, want.real), (got.imag, want.imag)))
    if got == want:
        return True
    return abs(got - want) <= rtol * abs(want) + atol


# ---- the catalogue covers the table ---------------------------------------------------

def test_catalogue_has_an_entry_per_row_and_no_other():
    missing = [n for n in ROW_NAMES if n not in CATALOGUE]
    extra = [n for n in CATALOGUE if n not in ROW]
    assert missing == [], f"rows of the rule table without a test catalogue entry: {missing}"
    assert extra == [], f"catalogue entries without a row in the rule table: {extra}"


@pytest.mark.parametrize("name", ROW_NAMES)
def test_catalogue_entry_matches_its_row(name):
    op, row = entry(name), ROW[name]
    assert op.arity == row.arity
    assert op.row is row
    assert (op.complex_ref is not None) == row.complex, "complex reference iff a complex rule"
    assert not op.holomorphic or row.complex
    assert op.spellings, "every operation has a spelling usable on Vars and floats"
    # the ufunc column names a function with the catalogue's values
    if row.ufunc is not None:
        module, _, attr = row.ufunc.rpartition(".")
        ufunc = getattr(importlib.import_module(module), attr)
        for point in catalogue_points(name):
            assert close(ufunc(*point), op.ref(*point), 1e-15), (point, row.ufunc)


# ---- the opcode table -----------------------------------------------------------------

def test_opcode_names_are_the_rows_in_order():
    unary = [r.name for r in ROWS if r.arity == 1]
    binary = [r.name for r in ROWS if r.arity == 2]
    assert ROW_NAMES == unary + binary, "the table lists the unary rows, then the binary ones"
    assert _core.OP_NAMES == ("input", *unary, *binary)


def test_opcode_table_lists_the_rows_with_consecutive_opcodes():
    table = _core.opcode_table()
    assert table[0] == ("input", 0, (0,))
    assert len(table) == len(ROWS) + 1
    following = 1
    for row, (name, arity, opcodes) in zip(ROWS, table[1:]):
        assert (name, arity) == (row.name, row.arity)
        width = 1 if row.arity == 1 else 3     # binary: VV, VC, CV
        assert opcodes == tuple(range(following, following + width)), name
        following += width


# ---- the flags ------------------------------------------------------------------------

def _statements(source):
    return [part.strip() for part in source.split(";")]


def rule_is_structural_zero(source):
    """The rule is the literal 0 (a structural zero), read from its text."""
    parts = _statements(source)
    if len(parts) != 1:
        return False
    node = ast.parse(parts[0], mode="eval").body
    return (isinstance(node, ast.Constant) and not isinstance(node.value, bool)
            and node.value == 0)


def expected_flags(row):
    """The flags the rule text implies: a nonzero d and a nonzero (nonlinear) d2
    (an emitted where records no guard: its condition is a mask of entries)."""
    if row.arity == 1:
        d, d2, emitted = (row.d,), (row.d2,), (row.emit if row.emit is not None else row.d,)
        flags = {"D_A": d[0], "D2_AA": d2[0]}
    else:
        emitted = tuple(e if e is not None else d for e, d in zip(row.emit, row.d))
        flags = {"D_A": row.d[0], "D_B": row.d[1], "D2_AA": row.d2[0], "D2_AB": row.d2[1],
                 "D2_BB": row.d2[2]}
    return frozenset(flag for flag, source in flags.items()
                     if not rule_is_structural_zero(source))


def test_flags_cover_the_rows():
    assert set(_core.opcode_flags()) == set(ROW_NAMES)


@pytest.mark.parametrize("name", ROW_NAMES)
def test_flags_are_derived_from_the_rule_text(name):
    assert _core.opcode_flags()[name] == expected_flags(ROW[name])


# ---- an independent evaluator of the rule language -------------------------------------

class RuleEvaluator:
    """The rule language evaluated in Python on np.float64: a call is the
    catalogue's reference of that operation (NumPy, SciPy), `where` a Python
    conditional, the constants their values."""

    def __init__(self, env):
        self.env = {k: np.float64(v) for k, v in env.items()}

    def run(self, source):
        *bindings, result = _statements(source)
        for binding in bindings:
            (statement,) = ast.parse(binding).body
            assert isinstance(statement, ast.Assign) and len(statement.targets) == 1
            self.env[statement.targets[0].id] = self.value(statement.value)
        return float(self.value(ast.parse(result, mode="eval").body))

    def value(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            return np.float64(CONSTANTS[node.id])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.value(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left), self.value(node.right)
            return {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
                    ast.Div: np.true_divide}[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            name = node.func.id
            if name == "where":
                condition, then, other = node.args
                return self.value(then) if self.condition(condition) else self.value(other)
            return np.float64(CATALOGUE[name].ref(*(self.value(a) for a in node.args)))
        raise AssertionError(f"not in the rule language: {ast.unparse(node)}")

    def condition(self, node):
        if isinstance(node, ast.Compare):
            (op,), (right,) = node.ops, node.comparators
            compare = {ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less,
                       ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal}
            return bool(compare[type(op)](self.value(node.left), self.value(right)))
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self.condition(v) for v in node.values)
            return any(self.condition(v) for v in node.values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.condition(node.operand)
        if isinstance(node, ast.Call) and node.func.id in ("isnan", "isinf"):
            return bool(getattr(np, node.func.id)(self.value(node.args[0])))
        raise AssertionError(f"not a condition of the rule language: {ast.unparse(node)}")


def evaluate(name, source, point):
    """The rule text `source` of row `name` at the operands `point`, with y the
    reference value there."""
    row = ROW[name]
    env = dict(zip(operand_names(row), point))
    env["y"] = entry(name).ref(*point)
    return RuleEvaluator(env).run(source)


def first_column(name):
    row = ROW[name]
    return (row.d,) if row.arity == 1 else row.d


def second_column(name):
    """d2 as a symmetric matrix of rule texts."""
    row = ROW[name]
    if row.arity == 1:
        return [[row.d2]]
    aa, ab, bb = row.d2
    return [[aa, ab], [ab, bb]]


def shifted(point, k, t):
    moved = list(point)
    moved[k] = t
    return tuple(moved)


# ---- numeric rules against the rule text and central differences ----------------------

def differences(f, x, h):
    """The derivative of f at x by Richardson-extrapolated central differences:
    the steps are relative to |x| (fd_step), and some functions (logaddexp at
    800) vary on a scale of one at any |x|, where a plain central difference
    with a relative step has a truncation error of 1e-6."""
    fd_h, fd_half, _, _ = central_diff_steps(f, x, h)
    return richardson(fd_h, fd_half)


RULE_RTOL = 1e-13


@pytest.mark.parametrize("name", ROW_NAMES)
def test_numeric_rules_equal_the_rule_text(name):
    """_evaluate_rule and _evaluate_second (the compiled value, d and d2
    rules) equal the reference value and an independent evaluation of the row's
    rule text."""
    op = entry(name)
    opcode = OPCODES[name][0]
    for point in catalogue_points(name):
        value, *first = _core._evaluate_rule(opcode, *point)
        second = _core._evaluate_second(opcode, *point)
        assert close(value, op.ref(*point), RULE_RTOL), (point, value, op.ref(*point))
        for k, source in enumerate(first_column(name)):
            want = evaluate(name, source, point)
            assert close(first[k], want, RULE_RTOL), (point, f"d/d{'ab'[k]}", source,
                                                       first[k], want)
        matrix = second_column(name)
        wanted = [matrix[0][0]] if op.arity == 1 else [matrix[0][0], matrix[0][1], matrix[1][1]]
        for got, source in zip(second, wanted):
            want = evaluate(name, source, point)
            assert close(got, want, RULE_RTOL), (point, "d2", source, got, want)


@pytest.mark.parametrize("name", ROW_NAMES)
def test_first_derivatives_match_differences_of_the_value(name):
    """The d column (evaluated from its text) is the derivative of the reference
    value, by central differences, and equals the catalogue's analytic derivative."""
    op = entry(name)
    for point in catalogue_points(name):
        analytic = op.d(*point)
        analytic = (analytic,) if op.arity == 1 else analytic
        for k, source in enumerate(first_column(name)):
            d = evaluate(name, source, point)
            fd = differences(lambda t: float(op.ref(*shifted(point, k, t))), point[k], FD_STEP)
            scale = 1.0 + abs(float(op.ref(*point)))
            assert abs(d - fd) <= 1e-6 * abs(fd) + 1e-8 * scale, (point, k, source, d, fd)
            assert close(float(analytic[k]), d, 1e-12), (point, k, float(analytic[k]), d)


@pytest.mark.parametrize("name", ROW_NAMES)
def test_second_derivatives_match_differences_of_the_first(name):
    """The d2 column (evaluated from its text) is the derivative of the d column:
    d2[k][j] is the central difference of d/d(operand k) in operand j, for every
    pair (both orders of the mixed partial)."""
    matrix = second_column(name)
    for point in catalogue_points(name):
        for k, source in enumerate(first_column(name)):
            for j in range(len(point)):
                fd = differences(lambda t: evaluate(name, source, shifted(point, j, t)),
                                 point[j], FD_STEP_OF_DERIVATIVE)
                d2 = evaluate(name, matrix[k][j], point)
                scale = 1.0 + abs(evaluate(name, source, point))
                assert abs(d2 - fd) <= 1e-6 * abs(fd) + 1e-8 * scale, (
                    point, k, j, matrix[k][j], d2, fd)


@pytest.mark.parametrize("x", [10.0, 20.0, 30.0, 40.0])
def test_sigmoid_derivatives_keep_their_relative_accuracy_for_positive_x(x):
    """sigmoid'(x) = sigmoid(x) sigmoid(-x), and sigmoid'' = sigmoid' (1 - 2 sigmoid),
    both accurate to rounding at every x from these products of the reference."""
    s, t = scipy.special.expit(x), scipy.special.expit(-x)
    _, d = _core._evaluate_rule(OPCODES["sigmoid"][0], x)
    (d2,) = _core._evaluate_second(OPCODES["sigmoid"][0], x)
    assert close(d, s * t, 1e-13), (d, s * t)
    assert close(d2, s * t * (1 - 2 * s), 1e-13), (d2, s * t * (1 - 2 * s))


# ---- the emitted derivatives ------------------------------------------------------------

def operand_orders(name):
    """(label, function of the traced argument, the argument, the point) for
    every operand order: a unary op on its Var; a binary one as VV, VC and CV."""
    op = entry(name)
    for point in catalogue_points(name):
        if op.arity == 1:
            yield "V", op.record, point[0], point
        else:
            a, b = point
            yield "VV", (lambda v: op.record(v[0], v[1])), np.array([a, b]), point
            yield "VC", (lambda t, b=b: op.record(t, b)), a, point
            yield "CV", (lambda t, a=a: op.record(a, t)), b, point


@pytest.mark.parametrize("name", ROW_NAMES)
def test_emitted_derivative_equals_the_numeric_gradient(name):
    """grad_function (the emitted rule, written out as tape entries) gives the
    numeric gradient in every operand order."""
    for order, f, x, point in operand_orders(name):
        F = fastad.trace(f, x)
        np.testing.assert_allclose(F.grad_function()(x), F.grad(x), rtol=1e-12, atol=1e-300,
                                   err_msg=f"{name} {order} at {point}")


@pytest.mark.parametrize("name, point", [
    (n, p) for n in ROW_NAMES for p in catalogue_points(n)])
def test_derivative_of_the_emitted_rule_is_the_second_derivative(name, point):
    """The emitted rule is differentiable where the operation is smooth: its
    derivative (the Jacobian of grad_function) is the d2 column, in every
    operand order."""
    d2 = np.array([[evaluate(name, s, point) for s in line] for line in second_column(name)])
    for order, f, x, p in operand_orders(name):
        if p != point:
            continue
        want = {"V": d2[0, 0], "VV": d2, "VC": d2[0, 0], "CV": d2[-1, -1]}[order]
        G = fastad.trace(f, x).grad_function()
        np.testing.assert_allclose(G.jacobian(x), want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name} {order} at {point}")


# ---- spellings: every way of writing an operation records it ---------------------------

def last_opcode(tape):
    return tape._entry(tape.n_entries - 1)[0]


@pytest.mark.parametrize("name", ROW_NAMES)
def test_record_and_spellings_record_the_operation(name):
    op = entry(name)
    point = catalogue_points(name)[0]
    spellings = {"record": op.record, **op.spellings}
    for label, f in spellings.items():
        with fastad.Tape() as tape:
            if op.arity == 1:
                (x,) = point
                out = f(tape.var(x))
                assert type(out) is fastad.Var, label
                assert last_opcode(tape) in OPCODES[name], label
                assert close(out.value, op.ref(x), 1e-14), label
            else:
                a, b = point
                for kind, args in (("VV", (tape.var(a), tape.var(b))), ("VC", (tape.var(a), b)),
                                   ("CV", (a, tape.var(b)))):
                    out = f(*args)
                    assert type(out) is fastad.Var, (label, kind)
                    assert last_opcode(tape) == OPCODES[name][("VV", "VC", "CV").index(kind)], (
                        label, kind)
                    assert close(out.value, op.ref(a, b), 1e-14), (label, kind)
        if label == "record":
            continue
        # on plain np.float64 operands: the IEEE float result
        plain = f(*(np.float64(p) for p in point))
        assert isinstance(plain, (float, np.floating)), (label, type(plain))
        assert close(float(plain), op.ref(*point), 1e-14), label


@pytest.mark.parametrize("name", ROW_NAMES)
def test_domain_maps_work_on_floats_arrays_and_vars(name):
    op = entry(name)
    raw = np.linspace(-3.0, 3.0, 13)
    if op.arity == 1:
        mapped = op.domain(raw)
        assert np.all(np.isfinite(op.ref(mapped)))
        smooth = [op.kink is None or op.kink(float(t)) > 0 for t in mapped]
        assert np.all(np.isfinite(op.d(mapped)[smooth]))
        v, g = fastad.value_and_grad(lambda t: op.apply(t))(0.3)
        assert close(v, op.ref(op.domain(0.3)), 1e-14)
    else:
        A, B = np.meshgrid(raw, raw)
        ma, mb = op.domain(A, B)
        assert np.all(np.isfinite(op.ref(ma, mb)))
        v, g = fastad.value_and_grad(lambda s, t: op.apply(s, t), argnums=(0, 1))(0.3, -0.7)
        assert close(v, op.ref(*op.domain(0.3, -0.7)), 1e-14)


# ---- the public functions ---------------------------------------------------------------

def docstring_body(obj, name):
    """The docstring without a leading signature line that Cython embeds."""
    lines = (inspect.getdoc(obj) or "").splitlines()
    if lines and re.match(rf"^[\w.]*{re.escape(name)}\(.*\)(\s*->.*)?$", lines[0].strip()):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines = lines[1:]
    return "\n".join(lines)


def has_section(doc, title):
    return re.search(rf"^{title}\n-{{{len(title)}}}\s*$", doc, re.MULTILINE) is not None


def test_core_all_lists_the_public_rows_in_order():
    assert list(_core.__all__) == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_public_function_is_exported_and_documented(name):
    f = getattr(fastad, name)
    assert f is getattr(_core, name)
    assert name in fastad.__all__
    body = docstring_body(f, name)
    summary = body.strip().splitlines()[0]
    assert summary.endswith("."), summary
    assert has_section(body, "Parameters") and has_section(body, "Returns"), body


@pytest.mark.parametrize("name", PUBLIC)
def test_public_function_maps_floats_vars_and_arrays(name):
    op = entry(name)
    f = op.function
    points = catalogue_points(name)
    for point in points:
        y = f(*point)
        assert type(y) is float, (point, type(y))
        assert close(y, op.ref(*point), 1e-14), (point, y)
    seen = []

    def on_vars(*args):
        y = f(*args)
        seen.append(type(y))
        return y

    argnums = tuple(range(op.arity))
    for point in points:
        fastad.grad(on_vars, argnums=argnums)(*point)
        if op.arity == 2:   # a Var with a number on either side
            fastad.grad(lambda t, b=point[1]: on_vars(t, b))(point[0])
            fastad.grad(lambda t, a=point[0]: on_vars(a, t))(point[1])
    assert set(seen) == {fastad.Var}
    columns = [np.array([p[k] for p in points]) for k in range(op.arity)]
    out = f(*columns)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (len(points),)
    np.testing.assert_allclose(out, op.ref(*columns), rtol=1e-14, atol=1e-300)

    def on_var_arrays(*xs):
        ys = f(*xs)
        seen.append((ys.dtype, ys.shape, {type(e) for e in ys.flat}))
        return np.sum(ys)

    # an array argument arrives as a fastad.Array: the function maps it to
    # an Array; an object array of Vars made by the user maps to one too
    seen.clear()
    g_array = fastad.grad(on_var_arrays, argnums=argnums)(*columns)
    assert seen == [(np.dtype(np.float64), (len(points),), {fastad.Var})]
    seen.clear()
    g_object = fastad.grad(lambda *xs: on_var_arrays(*[np.asarray(x) for x in xs]),
                           argnums=argnums)(*columns)
    assert seen == [(np.dtype(object), (len(points),), {fastad.Var})]
    for ga, go in zip(g_array, g_object):
        np.testing.assert_array_equal(ga, go)


# ---- NumPy's methods --------------------------------------------------------------------

METHOD_ROWS = [r.name for r in ROWS if r.methods]


@pytest.mark.parametrize("name", METHOD_ROWS)
def test_methods_are_var_methods_that_record_the_operation(name):
    op, row = entry(name), ROW[name]
    point = catalogue_points(name)[0]
    for method in row.methods:
        assert callable(getattr(fastad.Var, method, None)), f"Var.{method} is missing"
        with fastad.Tape() as tape:
            if op.arity == 1:
                out = getattr(tape.var(point[0]), method)()
                assert last_opcode(tape) == OPCODES[name][0], method
            else:
                a, b = point
                out = getattr(tape.var(a), method)(tape.var(b))
                assert last_opcode(tape) == OPCODES[name][0], method
                assert close(getattr(tape.var(a), method)(b).value, op.ref(a, b), 1e-14)
                assert last_opcode(tape) == OPCODES[name][1], method
        assert type(out) is fastad.Var
        assert close(out.value, op.ref(*point), 1e-14), method


@pytest.mark.parametrize("name", METHOD_ROWS)
def test_methods_of_complex_rows_are_complex_var_methods(name):
    op, row = entry(name), ROW[name]
    for method in row.methods:
        has = callable(getattr(fastad.ComplexVar, method, None))
        assert has == (row.complex and method != "fabs"), method
        if not has:
            continue
        for z in COMPLEX_POINTS:
            with fastad.Tape() as tape:
                out = getattr(tape.var(z), method)()
            assert type(out) is fastad.ComplexVar
            assert close(out.value, op.complex_ref(z), 1e-12), (method, z)


# ---- complex rules ----------------------------------------------------------------------

COMPLEX_ROWS = [r.name for r in ROWS if r.complex]
REAL_ROWS = [r.name for r in ROWS if not r.complex]
COMPLEX_UNARY_PUBLIC = [r.name for r in ROWS if r.complex and r.arity == 1 and r.public]


def complex_operands(op):
    if op.arity == 1:
        return [(z,) for z in COMPLEX_POINTS]
    return [(z, w) for z, w in zip(COMPLEX_POINTS, COMPLEX_POINTS[1:] + COMPLEX_POINTS[:1])]


@pytest.mark.parametrize("name", COMPLEX_ROWS)
def test_complex_rows_work_on_complex_numbers_and_complex_vars(name):
    op = entry(name)
    real_valued = name == "abs"
    for point in complex_operands(op):
        want = op.complex_ref(*point)
        if op.public:
            got = op.function(*point)
            assert type(got) is (float if real_valued else complex), type(got)
            assert close(got, want, 1e-12), (point, got, want)
        for label, f in {"record": op.record, **op.spellings}.items():
            with fastad.Tape() as tape:
                variables = [tape.var(p) for p in point]
                outs = [f(*variables)]
                if op.arity == 2:   # a ComplexVar with a complex number on either side
                    outs += [f(variables[0], point[1]), f(point[0], variables[1])]
            for out in outs:
                assert type(out) is (fastad.Var if real_valued else fastad.ComplexVar), label
                assert close(out.value, want, 1e-12), (label, point, out.value, want)
        if op.holomorphic:
            derivative = fastad.grad(op.record, argnums=tuple(range(op.arity)),
                                     holomorphic=True)(*point)
            analytic = op.d(*point)
            for got, want_d in zip(np.atleast_1d(derivative), np.atleast_1d(analytic)):
                assert close(got, want_d, 1e-11), (point, got, want_d)


def complex_type_error_message(op):
    """The TypeError of every spelling of a real-only row on ComplexVars (and of
    fastad.<name> on a complex number); returns the messages."""
    messages = []
    z = 0.5 + 0.25j
    with fastad.Tape() as tape:
        v = tape.var(z)
        calls = {"record": op.record, **op.spellings}
        for label, f in calls.items():
            args = [(v,)] if op.arity == 1 else [(v, 1.5), (1.5, v), (v, v)]
            for arg in args:
                with pytest.raises(TypeError) as info:
                    f(*arg)
                messages.append((label, str(info.value)))
    if op.public:
        args = [(z,)] if op.arity == 1 else [(z, 1.5), (1.5, z)]
        for arg in args:
            with pytest.raises(TypeError) as info:
                op.function(*arg)
            messages.append(("fastad", str(info.value)))
    return messages


@pytest.mark.parametrize("name", REAL_ROWS)
def test_real_rows_raise_type_error_on_complex_values(name):
    op = entry(name)
    messages = complex_type_error_message(op)
    for label, message in messages:
        if label == "fastad":
            assert name in message and "complex" in message, message
            if op.arity == 1:
                # the message names the functions that do take complex values
                for supported in COMPLEX_UNARY_PUBLIC:
                    assert re.search(rf"\b{supported}\b", message), (supported, message)


@pytest.mark.parametrize("name", [n for n in REAL_ROWS if ROW[n].arity == 2 and ROW[n].public])
def test_real_binary_functions_name_the_complex_ones_in_their_type_error(name):
    supported = [r.name for r in ROWS if r.complex and r.arity == 2 and r.public]
    for label, message in complex_type_error_message(entry(name)):
        if label == "fastad":
            for s in supported:
                assert re.search(rf"\b{s}\b", message), (s, message)


# ---- the stub ---------------------------------------------------------------------------

STUB = pathlib.Path(_core.__file__).with_name("_core.pyi")


@pytest.fixture(scope="module")
def stub():
    return ast.parse(STUB.read_text())


def stub_class(tree, name):
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def stub_methods(tree, name):
    return {n.name for n in stub_class(tree, name).body if isinstance(n, ast.FunctionDef)}


def stub_declaration(tree, name):
    """The annotation of the module-level `name: Protocol` line, or None."""
    for node in tree.body:
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id == name):
            return ast.unparse(node.annotation)
    return None


def takes_complex(tree, protocol):
    """Whether a protocol class of the stub has an overload for complex values."""
    for node in stub_class(tree, protocol).body:
        if isinstance(node, ast.FunctionDef):
            annotations = [ast.unparse(a.annotation) for a in node.args.posonlyargs + node.args.args
                           if a.annotation is not None]
            if any("ComplexVar" in a or "_ComplexNumber" in a for a in annotations):
                return True
    return False


def test_stub_all_lists_the_public_rows(stub):
    for node in stub.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            assert ast.literal_eval(node.value) == PUBLIC
            return
    raise AssertionError("the stub has no __all__")


@pytest.mark.parametrize("name", PUBLIC)
def test_stub_declares_every_public_function(stub, name):
    protocol = stub_declaration(stub, name)
    assert protocol is not None, f"the stub does not declare {name}"
    assert takes_complex(stub, protocol) == ROW[name].complex, (name, protocol)


def test_stub_declares_no_operator_only_rows(stub):
    for r in ROWS:
        if r.public is None:
            assert stub_declaration(stub, r.name) is None, r.name


def test_stub_declares_every_var_method(stub):
    var_methods = stub_methods(stub, "Var")
    complex_methods = stub_methods(stub, "ComplexVar")
    for r in ROWS:
        for method in r.methods:
            assert method in var_methods, f"Var.{method}"
            assert (method in complex_methods) == (r.complex and method != "fabs"), (
                f"ComplexVar.{method}")


# ---- the table loader rejects malformed rows --------------------------------------------

CODEGEN = pathlib.Path(fastad.__file__).with_name("_codegen.py")


@pytest.fixture(scope="module")
def codegen():
    """fastad/_codegen.py loaded by path (it imports nothing from fastad)."""
    spec = importlib.util.spec_from_file_location("fastad_codegen_for_tests", CODEGEN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def with_row_changed(codegen, name, **changes):
    """A fresh copy of the rule table module with row `name` changed."""
    rules = codegen.load_rules()
    rules.UNARY = [dataclasses.replace(r, **changes) if r.name == name else r for r in rules.UNARY]
    rules.BINARY = [dataclasses.replace(r, **changes) if r.name == name else r
                    for r in rules.BINARY]
    rules.ROWS = rules.UNARY + rules.BINARY
    return rules


def test_the_unchanged_table_translates_to_the_compiled_flags(codegen):
    ops = codegen.translate(codegen.load_rules())
    assert [op.name for op in ops] == ROW_NAMES
    assert {op.name: frozenset(op.flags) for op in ops} == _core.opcode_flags()


MALFORMED = {
    "missing d2": ("cbrt", {"d2": None}, "d2"),
    "missing value": ("exp", {"value": None}, "value"),
    "binary d2 short of a column": ("hypot", {"d2": ("0", "0")}, "d2"),
    "unknown function": ("sin", {"d": "cosine(x)"}, "cosine"),
    "unknown function in emit": ("tanh", {"emit": "sech(x) * sech(x)"}, "sech"),
    "unknown function in d2": ("arctan2", {"d2": ("atan3(a, b)", "0", "0")}, "atan3"),
    "unknown operand": ("xlogy", {"d": ("log(b)", "where(a == 0, 0, a / c)")}, "c"),
    "wrong arity of a call": ("log1p", {"d": "1 / hypot(x)"}, "hypot"),
    "where without else": ("hypot", {"d": ("where(y == 0, a / y)", "where(y == 0, 0, b / y)")},
                           "where"),
    "unary d 0 but d2 not": ("exp", {"d": "0"}, "d2"),
    "binary d/da 0 but d2/da2 not": ("logaddexp", {"d": ("0", "where(a == b, 0.5, exp(b - y))")},
                                     "second partials"),
    "binary d/db 0 but d2/dadb not": ("multiply", {"d": ("b", "0")}, "second partials"),
}


@pytest.mark.parametrize("case", [*MALFORMED, "unparsable rule"])
def test_translate_rejects_a_malformed_row_naming_it(codegen, case):
    name, changes, detail = {**MALFORMED, "unparsable rule": ("cos", {"d": "-sin(x"},
                                                              "parse")}[case]
    rules = with_row_changed(codegen, name, **changes)
    with pytest.raises(codegen.RuleError) as info:
        codegen.translate(rules)
    message = str(info.value)
    assert repr(name) in message or re.search(rf"\b{name}\b", message), message
    assert detail in message, message


def _without_keyword(source, name, keyword):
    """The table's source with the `keyword=...` argument of row `name` removed."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("Unary", "Binary") and node.args
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == name):
            kw = next(k for k in node.keywords if k.arg == keyword)
            lines = source.splitlines(keepends=True)
            offsets = np.cumsum([0] + [len(line) for line in lines])
            start = offsets[kw.lineno - 1] + kw.col_offset
            end = offsets[kw.end_lineno - 1] + kw.end_col_offset
            following = re.match(r"\s*,\s*", source[end:])
            if following:           # drop the comma after the argument ...
                end += following.end()
            else:                   # ... or, for the last argument, the one before it
                start = source.rindex(",", 0, start)
            return source[:start] + source[end:], node.lineno, node.end_lineno
    raise AssertionError(f"no row {name!r} in the table's source")


@pytest.mark.parametrize("name, column", [("cbrt", "d2"), ("arctan2", "d"), ("xlogy", "complex")])
def test_a_row_missing_a_column_fails_to_load_at_that_row(tmp_path, name, column):
    """A column left out of a row is a TypeError (every field of the dataclasses
    is required) raised at the row: the failing line of the table holds its name."""
    source, first, last = _without_keyword(pathlib.Path(_rules.__file__).read_text(), name, column)
    path = tmp_path / "rules_missing_a_column.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("fastad_rules_missing_a_column", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        with pytest.raises(TypeError, match=rf"\b{column}\b") as info:
            spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    frames = [f for f in traceback.extract_tb(info.value.__traceback__) if f.filename == str(path)]
    assert frames, "the error is raised in the table's module"
    lines = path.read_text().splitlines()
    failing = frames[-1]
    assert first <= failing.lineno <= last
    assert f'"{name}"' in lines[failing.lineno - 1], lines[failing.lineno - 1]
