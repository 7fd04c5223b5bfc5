"""The Var proxy: operators, comparisons, conversions, errors, IEEE behaviour.

docs/api.md section 1 ("A Var supports ...").
"""

import copy
import math
import operator
import pickle

import numpy as np
import pytest

import fastad
from catalogue import ops
from conftest import assert_close, central_diff, same_float

grad = fastad.grad
value_and_grad = fastad.value_and_grad


# ---- the binary operators and their partial derivatives --------------------------

def _partial(op, k):
    return lambda a, b: float(op.d(a, b)[k])


# name -> (operator, d/da, d/db), the partials as functions of plain floats: the
# operations of the test catalogue that user code writes with an operator
BINARY = {op.record.__name__: (op.record, _partial(op, 0), _partial(op, 1))
          for op in ops(arity=2) if op.record is getattr(operator, op.record.__name__, None)}

# Ways of writing a constant operand: Python and NumPy scalars.
NUMBER_KINDS = {
    "int": int,
    "float": float,
    "np.float64": np.float64,
    "np.float32": np.float32,
    "np.int64": np.int64,
}

X0 = 1.75  # the Var's value in the Var-constant tests
CONSTANTS = (3, -2, 2)  # integral so that every kind represents them exactly


def _reference(op, a, b):
    """op on NumPy float64 scalars: the IEEE semantics fastad follows."""
    return float(BINARY[op][0](np.float64(a), np.float64(b)))


def _var_const_cases():
    for op in BINARY:
        for kind in NUMBER_KINDS:
            for c in CONSTANTS:
                yield op, kind, c


@pytest.mark.parametrize("op,kind,c", list(_var_const_cases()))
def test_var_op_constant(op, kind, c):
    """x (op) c with x a Var and c a number of every kind: value and derivative."""
    fn, da, _ = BINARY[op]
    const = NUMBER_KINDS[kind](c)
    seen = []

    def f(x):
        y = fn(x, const)
        seen.append(type(y))
        return y

    value, g = value_and_grad(f)(X0)
    assert seen == [fastad.Var]
    assert type(value) is float and type(g) is float
    if op == "pow":
        assert_close(value, _reference(op, X0, c), rtol=1e-15, atol=0)
    else:
        assert value == _reference(op, X0, c)
    assert_close(g, da(X0, float(c)), rtol=1e-14)


@pytest.mark.parametrize("op,kind,c", list(_var_const_cases()))
def test_constant_op_var(op, kind, c):
    """c (op) x with x a Var and c a number of every kind (reflected operators)."""
    fn, _, db = BINARY[op]
    if op == "pow" and c < 0:
        c = -c  # a negative base to a non-integer power is nan; tested below
    const = NUMBER_KINDS[kind](c)
    seen = []

    def f(x):
        y = fn(const, x)
        seen.append(type(y))
        return y

    value, g = value_and_grad(f)(X0)
    assert seen == [fastad.Var]
    assert type(value) is float and type(g) is float
    if op == "pow":
        assert_close(value, _reference(op, c, X0), rtol=1e-15, atol=0)
    else:
        assert value == _reference(op, c, X0)
    assert_close(g, db(float(c), X0), rtol=1e-14)


VAR_VAR_POINTS = [(1.75, 3.0), (0.75, -2.0), (2.5, 0.5), (-2.5, 1.5), (-7.0, -2.0)]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("a,b", VAR_VAR_POINTS)
def test_var_op_var(op, a, b):
    fn, da, db = BINARY[op]
    if op == "pow" and a < 0:
        a = -a
    value, (ga, gb) = value_and_grad(lambda x, y: fn(x, y), argnums=(0, 1))(a, b)
    if op == "pow":
        assert_close(value, _reference(op, a, b), rtol=1e-15, atol=0)
    else:
        assert value == _reference(op, a, b)
    assert_close(ga, da(a, b), rtol=1e-14)
    assert_close(gb, db(a, b), rtol=1e-14)


@pytest.mark.parametrize("op", BINARY)
def test_var_op_same_var(op):
    """x (op) x: both partials flow into the same input."""
    fn, da, db = BINARY[op]
    a = 1.75
    value, g = value_and_grad(lambda x: fn(x, x))(a)
    assert_close(value, _reference(op, a, a), rtol=1e-15, atol=0)
    assert_close(g, da(a, a) + db(a, a), rtol=1e-14)


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("var_left", [True, False], ids=["var_op_array", "array_op_var"])
def test_var_with_array(op, dtype, var_left):
    """Var (op) float array and float array (op) Var: elementwise, a fastad.Array."""
    fn, da, db = BINARY[op]
    W = np.array([[0.5, 1.5, 3.0], [2.0, -1.25, 4.0]]).astype(dtype)
    if dtype == np.int64:
        W = np.array([[1, 2, 3], [-2, 4, 5]], dtype=dtype)
    if op == "pow" and not var_left:
        W = np.abs(W)
    Wf = W.astype(np.float64)
    x0 = 1.75
    shapes = []

    def f(x):
        y = fn(x, W) if var_left else fn(W, x)
        shapes.append((type(y), y.dtype, y.shape, {type(e) for e in y.flat}))
        return np.sum(y)

    value, g = value_and_grad(f)(x0)
    assert shapes == [(fastad.Array, np.dtype(np.float64), (2, 3), {fastad.Var})]
    if var_left:
        expected_values = fn(np.float64(x0), Wf)
        expected_grad = sum(da(x0, w) for w in Wf.flat)
    else:
        expected_values = fn(Wf, np.float64(x0))
        expected_grad = sum(db(w, x0) for w in Wf.flat)
    assert_close(value, np.sum(expected_values), rtol=1e-14)
    assert_close(g, expected_grad, rtol=1e-13)


def test_var_with_array_values_elementwise():
    W = np.array([0.5, -1.5, 3.0])

    def f(x):
        for y, ref in [(x * W, 2.0 * W), (W * x, W * 2.0), (x - W, 2.0 - W),
                       (W - x, W - 2.0), (W / x, W / 2.0), (x / W, 2.0 / W),
                       (x ** W, 2.0 ** W), (W % x, W % 2.0)]:
            assert type(y) is fastad.Array and y.shape == W.shape
            assert all(type(e) is fastad.Var for e in y)
            np.testing.assert_array_equal(fastad.value(y), ref)
        return x

    grad(f)(2.0)


def test_negative_base_non_integer_power_is_nan():
    value, g = value_and_grad(lambda x: (-2.0) ** x)(1.5)
    assert math.isnan(value)
    assert math.isnan(g)


def test_negative_base_integer_power():
    # (-2)**3 = -8, d/dx x**3 = 3x**2 = 12
    assert value_and_grad(lambda x: x**3)(-2.0) == (-8.0, 12.0)
    assert value_and_grad(lambda x: x**3.0)(-2.0) == (-8.0, 12.0)


@pytest.mark.parametrize("p", [2, 2.0, 3, 0.5, -1, -2.5, 0, 1])
def test_power_with_constant_exponent(p):
    for x0 in (0.3, 1.7, 4.0):
        value, g = value_and_grad(lambda x: x**p)(x0)
        assert_close(value, x0**p, rtol=1e-15, atol=0)
        assert_close(g, p * x0 ** (p - 1) if p != 0 else 0.0, rtol=1e-14)


def test_power_at_zero():
    # d/dx x**0 is 0 everywhere, also at 0 (no 0 * inf); d/db 0**b is 0 for b > 0.
    assert value_and_grad(lambda x: x**0)(0.0) == (1.0, 0.0)
    assert value_and_grad(lambda x: x**0.0)(0.0) == (1.0, 0.0)
    assert value_and_grad(lambda b: 0.0**b)(2.0) == (0.0, 0.0)
    assert value_and_grad(lambda x: x**2)(0.0) == (0.0, 0.0)
    assert value_and_grad(lambda x: x**3.0)(0.0) == (0.0, 0.0)


# ---- floor division and remainder -------------------------------------------------

@pytest.mark.parametrize("a,c", [(7.0, 2.0), (-7.0, 2.0), (7.0, -2.0), (-7.0, -2.0),
                                 (5.5, 1.5), (0.25, 3.0)])
def test_floordiv_derivative_zero(a, c):
    value, g = value_and_grad(lambda x, y: x // y, argnums=(0, 1))(a, c)
    assert value == a // c
    assert g == (0.0, 0.0)


@pytest.mark.parametrize("a,c", [(7.0, 2.0), (-7.0, 2.0), (7.0, -2.0), (-7.0, -2.0),
                                 (5.5, 1.5), (0.25, 3.0), (10.0, 0.75)])
def test_mod_derivatives(a, c):
    """d(x % c)/dx = 1 and d(x % c)/dc = -floor(x / c)."""
    value, (gx, gc) = value_and_grad(lambda x, y: x % y, argnums=(0, 1))(a, c)
    assert value == a % c  # Python's % on floats matches NumPy's remainder
    assert gx == 1.0
    assert gc == -math.floor(a / c)
    # the same through the constant paths
    assert grad(lambda x: x % c)(a) == 1.0
    assert grad(lambda y: a % y)(c) == -math.floor(a / c)


def test_mod_derivative_matches_finite_difference():
    for a, c in [(7.3, 2.1), (-7.3, 2.1), (7.3, -2.1), (3.7, 0.4)]:
        assert_close(grad(lambda y: a % y)(c), central_diff(lambda y: a % y, c), rtol=1e-6)
        assert_close(grad(lambda x: x % c)(a), central_diff(lambda x: x % c, a), rtol=1e-6)


# ---- unary operators ---------------------------------------------------------------

@pytest.mark.parametrize("x0", [-2.5, -1.0, 0.5, 3.0])
def test_neg(x0):
    seen = []
    value, g = value_and_grad(lambda x: seen.append(type(-x)) or -x)(x0)
    assert seen == [fastad.Var]
    assert value == -x0 and g == -1.0


@pytest.mark.parametrize("x0", [-2.5, 0.0, 3.0])
def test_pos(x0):
    seen = []
    value, g = value_and_grad(lambda x: seen.append(type(+x)) or +x)(x0)
    assert seen == [fastad.Var]
    assert value == x0 and g == 1.0


@pytest.mark.parametrize("x0,expected", [(-2.5, -1.0), (-1e-300, -1.0), (0.5, 1.0), (3.0, 1.0)])
def test_abs(x0, expected):
    value, g = value_and_grad(lambda x: abs(x))(x0)
    assert value == abs(x0) and g == expected


@pytest.mark.parametrize("x0", [0.0, -0.0])
def test_abs_derivative_at_zero_is_zero(x0):
    value, g = value_and_grad(lambda x: abs(x))(x0)
    assert value == 0.0 and not np.signbit(value)
    assert g == 0.0
    assert grad(lambda x: fastad.abs(x))(x0) == 0.0
    assert grad(lambda x: np.abs(x))(x0) == 0.0


def test_chained_expression():
    # f = (x * y - 3) / (x + 2) ** 2 + x % 1.5 - y // 2
    def f(x, y):
        return (x * y - 3) / (x + 2) ** 2 + x % 1.5 - y // 2

    a, b = 1.3, 2.9
    gx, gy = grad(f, argnums=(0, 1))(a, b)
    assert_close(gx, b / (a + 2) ** 2 - 2 * (a * b - 3) / (a + 2) ** 3 + 1.0, rtol=1e-13)
    assert_close(gy, a / (a + 2) ** 2, rtol=1e-13)


# ---- comparisons ---------------------------------------------------------------------

COMPARISONS = {
    "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge, "eq": operator.eq, "ne": operator.ne,
}

COMPARE_KINDS = dict(NUMBER_KINDS, bool=bool)


@pytest.mark.parametrize("cmp", COMPARISONS)
@pytest.mark.parametrize("kind", list(COMPARE_KINDS) + ["Var"])
@pytest.mark.parametrize("x0", [0.0, 1.0, 1.5, 2.0])
def test_comparison_returns_plain_bool(cmp, kind, x0):
    fn = COMPARISONS[cmp]
    results = []

    def f(x, y):
        other = y if kind == "Var" else COMPARE_KINDS[kind](1 if kind == "bool" else 2)
        c = 1.0 if kind == "bool" else 2.0
        for left, right, expected in [(x, other, fn(x0, c)), (other, x, fn(c, x0))]:
            r = fn(left, right)
            results.append((type(r), r, expected))
        return x

    grad(f, argnums=(0, 1))(x0, 2.0)
    assert len(results) == 2
    for typ, r, expected in results:
        assert typ is bool
        assert r == expected


@pytest.mark.parametrize("cmp", COMPARISONS)
def test_comparison_with_nan(cmp):
    fn = COMPARISONS[cmp]

    def f(x):
        assert fn(x, 1.0) is fn(math.nan, 1.0)
        assert fn(1.0, x) is fn(1.0, math.nan)
        assert fn(x, x) is fn(math.nan, math.nan)
        return x

    grad(f)(math.nan)


def test_comparison_drives_python_branches():
    def relu(x):
        if x > 0:
            return x
        return 0.0 * x

    assert grad(relu)(2.0) == 1.0
    assert grad(relu)(-2.0) == 0.0

    def piecewise(x):
        return x**2 if x <= 1 else 2 * x - 1

    assert grad(piecewise)(0.5) == 1.0
    assert grad(piecewise)(3.0) == 2.0


@pytest.mark.parametrize("cmp", COMPARISONS)
def test_comparison_with_float_array_is_elementwise(cmp):
    """A Var compares with an array like its value does: an elementwise bool array
    (never a single silently wrong bool)."""
    fn = COMPARISONS[cmp]
    W = np.array([1.0, 1.5, 2.0])
    W0 = np.array(2.0)  # a 0-d array: a single truth value

    def f(x):
        for r, expected in [(fn(x, W), fn(1.5, W)), (fn(W, x), fn(W, 1.5))]:
            assert isinstance(r, np.ndarray) and r.shape == W.shape
            np.testing.assert_array_equal(r.astype(bool), expected)
        for r, expected in [(fn(x, W0), fn(1.5, 2.0)), (fn(W0, x), fn(2.0, 1.5))]:
            assert bool(r) is expected
        return x

    grad(f)(1.5)


def test_comparison_with_non_number():
    def f(x):
        assert (x == "a") is False
        assert (x != None) is True  # noqa: E711
        with pytest.raises(TypeError):
            x < "a"
        with pytest.raises(TypeError):
            x >= None
        return x

    grad(f)(1.0)


def test_bool_of_var():
    def f(x):
        assert bool(x) is (x.value != 0.0)
        return x

    grad(f)(0.0)
    grad(f)(2.0)


# ---- .value, repr, format ------------------------------------------------------------

@pytest.mark.parametrize("arg", [2.5, 3, np.float32(0.5), np.int64(-4)])
def test_value_is_float(arg):
    def f(x):
        assert type(x.value) is float
        assert x.value == float(arg)
        y = x * 2
        assert type(y.value) is float and y.value == 2 * float(arg)
        return y

    grad(f)(arg)


def test_value_is_a_constant_to_the_tape():
    # x * x.value: the .value factor is a constant, so d/dx = x.value
    assert grad(lambda x: x * x.value)(3.0) == 3.0


def test_value_is_read_only():
    def f(x):
        with pytest.raises(AttributeError):
            x.value = 1.0
        return x

    grad(f)(1.0)


def test_repr_and_format():
    def f(x):
        assert repr(x) == "Var(2.5)"
        assert "2.5" in str(x)
        assert format(x, ".3f") == "2.500"
        assert f"{x:.3f}" == "2.500"
        assert f"{x:8.2f}" == "    2.50"
        assert format(x, "e") == format(2.5, "e")
        assert f"{x * 2:.1f}" == "5.0"
        return x

    grad(f)(2.5)


# ---- math.floor / ceil / trunc ----------------------------------------------------------

@pytest.mark.parametrize("fn", [math.floor, math.ceil, math.trunc])
@pytest.mark.parametrize("x0", [-2.5, -0.3, 0.0, 2.0, 2.7])
def test_math_floor_ceil_trunc(fn, x0):
    seen = []

    def f(x):
        y = fn(x)
        seen.append(type(y))
        return y + 0.5 * x

    value, g = value_and_grad(f)(x0)
    assert seen == [fastad.Var]
    assert value == fn(x0) + 0.5 * x0
    assert g == 0.5


# ---- conversions that would drop the derivative -----------------------------------

DROPPING = {
    "float": float,
    "int": int,
    "complex": complex,
    "math.sin": math.sin,
    "math.exp": math.exp,
    "math.log": math.log,
    "math.sqrt": math.sqrt,
}


@pytest.mark.parametrize("name", DROPPING)
def test_conversion_raises_type_error_mentioning_value(name):
    fn = DROPPING[name]

    def f(x):
        with pytest.raises(TypeError, match=r"\.value"):
            fn(x)
        return x

    assert grad(f)(1.0) == 1.0


def test_var_as_index_raises_type_error():
    def f(x):
        with pytest.raises(TypeError, match=r"\.value"):
            [1, 2, 3][x]
        return x

    grad(f)(1.0)


# ---- construction, escape, pickling ------------------------------------------------------

@pytest.mark.parametrize("args,kwargs", [((), {}), ((1.0,), {}), ((), {"value": 1.0})])
def test_var_cannot_be_constructed(args, kwargs):
    with pytest.raises(TypeError):
        fastad.Var(*args, **kwargs)


def _escaped_var():
    leaked = []
    grad(lambda x: leaked.append(x) or x * 2.0)(1.5)
    return leaked[0]


ESCAPED_USES = {
    "add": lambda v: v + 1.0,
    "radd": lambda v: 1.0 + v,
    "add_int": lambda v: v + 1,
    "rsub": lambda v: 2 - v,
    "mul_self": lambda v: v * v,
    "div": lambda v: v / 2.0,
    "pow": lambda v: v**3,
    "square": lambda v: v**2,
    "rpow": lambda v: 2.0**v,
    "mod": lambda v: v % 1.0,
    "floordiv": lambda v: v // 1.0,
    "neg": lambda v: -v,
    "abs": lambda v: abs(v),
    "np.float64": lambda v: np.float64(2.0) * v,
    "array": lambda v: v * np.ones(2),
    "math.floor": lambda v: math.floor(v),
    "fastad.sin": lambda v: fastad.sin(v),
    "fastad.maximum": lambda v: fastad.maximum(v, 0.0),
    "np.exp": lambda v: np.exp(v),
}


@pytest.mark.parametrize("use", ESCAPED_USES)
def test_escaped_var_raises_tape_error(use):
    v = _escaped_var()
    assert v.value == 1.5  # reading the number stays fine
    with pytest.raises(fastad.TapeError):
        ESCAPED_USES[use](v)
    assert issubclass(fastad.TapeError, fastad.FastADError)


def test_escaped_var_in_a_later_grad_call_raises_tape_error():
    v = _escaped_var()
    with pytest.raises(fastad.TapeError):
        grad(lambda x: x * v)(2.0)
    with pytest.raises(fastad.TapeError):
        grad(lambda x: v)(2.0)
    # and the next grad call works
    assert grad(lambda x: x * 3.0)(2.0) == 3.0


def test_pickling_a_var_raises_type_error():
    def f(x):
        with pytest.raises(TypeError):
            pickle.dumps(x)
        with pytest.raises(TypeError):
            pickle.dumps(x * 2.0)
        with pytest.raises(TypeError):
            pickle.dumps([x])
        return x

    grad(f)(1.0)


def test_copy_of_var_keeps_derivative():
    assert grad(lambda x: copy.copy(x) * 2.0)(1.0) == 2.0
    assert grad(lambda x: copy.deepcopy(x) * x)(3.0) == 6.0


def test_var_is_unhashable():
    def f(x):
        with pytest.raises(TypeError):
            hash(x)
        return x

    grad(f)(1.0)


# ---- IEEE semantics ----------------------------------------------------------------

@pytest.mark.parametrize("a,b", [(1.0, 0.0), (-1.0, 0.0), (0.0, 0.0), (1.0, -0.0),
                                 (np.inf, 2.0), (5.0, np.inf), (-5.0, np.inf)])
@pytest.mark.parametrize("op", ["truediv", "floordiv", "mod"])
def test_division_follows_numpy_never_zero_division_error(op, a, b):
    fn = BINARY[op][0]
    expected = _reference(op, a, b)
    # Var / Var, Var / constant, constant / Var
    v1 = value_and_grad(lambda x, y: fn(x, y), argnums=(0, 1))(a, b)[0]
    v2 = value_and_grad(lambda x: fn(x, b))(a)[0]
    v3 = value_and_grad(lambda y: fn(a, y))(b)[0]
    results = [v1, v2, v3]
    if math.isfinite(b) and same_float(int(b), b):  # an int constant, where it is the same number
        results.append(value_and_grad(lambda x: fn(x, int(b)))(a)[0])
    for v in results:
        assert same_float(v, expected), (v, expected)


def test_division_by_zero_values_and_derivatives():
    assert value_and_grad(lambda x: x / 0.0)(1.0) == (math.inf, math.inf)
    assert value_and_grad(lambda x: x / 0.0)(-1.0) == (-math.inf, math.inf)
    value, g = value_and_grad(lambda x: 1.0 / x)(0.0)
    assert value == math.inf and g == -math.inf
    value, g = value_and_grad(lambda x: x / x)(0.0)
    assert math.isnan(value) and math.isnan(g)
    assert math.isnan(value_and_grad(lambda x: x % 0.0)(1.0)[0])


def test_log_outside_domain():
    value, g = value_and_grad(fastad.log)(0.0)
    assert value == -math.inf and g == math.inf
    value, g = value_and_grad(fastad.log)(-1.0)
    assert math.isnan(value)
    assert value_and_grad(lambda x: np.log(x))(0.0)[0] == -math.inf
    assert math.isnan(value_and_grad(lambda x: np.log(x))(-1.0)[0])


def test_sqrt_derivative_at_zero_is_inf():
    assert value_and_grad(fastad.sqrt)(0.0) == (0.0, math.inf)
    assert value_and_grad(lambda x: np.sqrt(x))(0.0) == (0.0, math.inf)
    assert math.isnan(value_and_grad(fastad.sqrt)(-1.0)[0])


@pytest.mark.parametrize("fn", [fastad.maximum, fastad.minimum, np.maximum, np.minimum],
                         ids=["fastad.maximum", "fastad.minimum", "np.maximum", "np.minimum"])
def test_maximum_minimum_tie_takes_first_argument(fn):
    assert grad(lambda x, y: fn(x, y), argnums=(0, 1))(1.5, 1.5) == (1.0, 0.0)
    assert grad(lambda x, y: fn(y, x), argnums=(0, 1))(1.5, 1.5) == (0.0, 1.0)
    assert grad(lambda x: fn(x, 1.5))(1.5) == 1.0
    assert grad(lambda x: fn(1.5, x))(1.5) == 0.0


@pytest.mark.parametrize("expr", [
    lambda x: x + 1.0, lambda x: 2.0 * x, lambda x: x - x, lambda x: x / 3.0,
    lambda x: x**2, lambda x: fastad.exp(x), lambda x: fastad.sin(x),
    lambda x: fastad.maximum(x, 1.0), lambda x: fastad.maximum(1.0, x),
    lambda x: fastad.minimum(x, 1.0), lambda x: fastad.minimum(1.0, x),
    lambda x: x % 2.0, lambda x: x // 2.0, lambda x: abs(x), lambda x: -x,
])
def test_nan_propagates(expr):
    value, g = value_and_grad(expr)(math.nan)
    assert math.isnan(value)


def test_nan_propagates_through_constant():
    assert math.isnan(value_and_grad(lambda x: x + math.nan)(1.0)[0])
    assert math.isnan(value_and_grad(lambda x: fastad.maximum(x, math.nan))(1.0)[0])
    assert math.isnan(value_and_grad(lambda x: fastad.minimum(math.nan, x))(1.0)[0])


def test_overflow_gives_inf():
    value, g = value_and_grad(fastad.exp)(1000.0)
    assert value == math.inf and g == math.inf
    assert value_and_grad(lambda x: x * 1e308)(10.0)[0] == math.inf
