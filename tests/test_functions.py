"""The elementwise functions in the fastad namespace (docs/api.md section 1)."""

import math

import numpy as np
import pytest

import fastad
from catalogue import ops
from conftest import assert_close, central_diff, same_float

grad = fastad.grad
value_and_grad = fastad.value_and_grad

# name -> (reference on float arrays, analytic derivative, points inside the domain
#          and away from non-smooth points): the public unary rows of the rule
#          table, from the test catalogue
UNARY = {op.name: (op.ref, op.d, op.points) for op in ops(arity=1, public=True)}

UNARY_POINTS = [(name, x) for name, (_, _, pts) in UNARY.items() for x in pts]


def _ref(name, x):
    return float(UNARY[name][0](np.float64(x)))


def _fn(name):
    return getattr(fastad, name)


def test_all_functions_exported():
    for name in list(UNARY) + list(BINARY):
        assert callable(getattr(fastad, name))
        assert name in fastad.__all__


# ---- numbers in, floats out ----------------------------------------------------------

@pytest.mark.parametrize("name,x", UNARY_POINTS)
@pytest.mark.parametrize("kind", [float, np.float64, np.float32])
def test_unary_number_in_float_out(name, x, kind):
    arg = kind(x)
    y = _fn(name)(arg)
    assert type(y) is float
    assert_close(y, _ref(name, float(arg)), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", UNARY)
def test_unary_int_in_float_out(name):
    pts = [p for p in UNARY[name][2] if p == int(p)] or [2.0 if name != "arccosh" else 3.0]
    for p in pts:
        for arg in (int(p), np.int64(p)):
            y = _fn(name)(arg)
            assert type(y) is float
            assert_close(y, _ref(name, p), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values_match_numpy(name):
    """Infinities, signed zeros and nan map exactly as in NumPy (and math for erf)."""
    pts = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
    expected = UNARY[name][0](pts)
    got = [_fn(name)(float(p)) for p in pts]
    for p, g, e in zip(pts, got, expected):
        assert same_float(g, e), (name, p, g, e)
    got_array = _fn(name)(pts)
    for p, g, e in zip(pts, got_array, expected):
        assert same_float(g, e), (name, p, g, e)


# ---- arrays ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(5,), (1, 5), (5, 1), ()], ids=["1d", "row", "column", "0d"])
def test_unary_float_array(name, shape):
    pts = np.array(UNARY[name][2][:5] + [UNARY[name][2][0]] * (5 - len(UNARY[name][2][:5])))
    x = pts.reshape(shape) if shape else np.array(pts[0])
    y = _fn(name)(x)
    if shape == ():
        # a 0-d array gives a 0-d array (or a float scalar, as NumPy's ufuncs),
        # never an array of another shape
        assert np.shape(y) == ()
        y = np.asarray(y)
    assert isinstance(y, np.ndarray)
    assert y.dtype == np.float64
    assert y.shape == x.shape
    assert_close(y, UNARY[name][0](x), rtol=1e-14, atol=1e-300)
    # identical to the scalar function, element by element
    for xi, yi in zip(x.reshape(-1), y.reshape(-1)):
        assert same_float(yi, _fn(name)(float(xi)))


@pytest.mark.parametrize("name", UNARY)
def test_unary_2d_and_empty_arrays(name):
    x = np.tile(np.array(UNARY[name][2][:4]), (3, 1))
    assert x.shape[0] == 3
    y = _fn(name)(x)
    assert y.dtype == np.float64 and y.shape == x.shape
    assert_close(y, UNARY[name][0](x), rtol=1e-14, atol=1e-300)
    empty = _fn(name)(np.zeros((0, 3)))
    assert empty.dtype == np.float64 and empty.shape == (0, 3)


@pytest.mark.parametrize("name", ["sin", "exp", "sqrt", "abs", "floor", "log1p"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.bool_])
def test_unary_other_dtype_arrays_give_float64(name, dtype):
    x = np.array([[0, 1], [2, 3]]).astype(dtype)
    y = _fn(name)(x)
    assert y.dtype == np.float64 and y.shape == (2, 2)
    assert_close(y, UNARY[name][0](x.astype(np.float64)), rtol=1e-14)


@pytest.mark.parametrize("name", UNARY)
def test_unary_non_contiguous_array(name):
    base = np.tile(np.array(UNARY[name][2][:4]), (4, 1))
    x = base.T[::2]
    y = _fn(name)(x)
    assert y.shape == x.shape
    assert_close(y, UNARY[name][0](x), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", UNARY)
def test_unary_object_array_of_vars(name):
    pts = np.array(UNARY[name][2][:4], dtype=np.float64)
    x0 = np.stack([pts, pts[::-1]])  # shape (2, k)
    seen = []

    def f(xs):
        ys = _fn(name)(xs)
        seen.append((type(ys), ys.dtype, ys.shape, {type(e) for e in ys.flat}))
        return np.sum(ys)

    # an Array maps to an Array, an object array of Vars to an object array,
    # with the same value and gradient
    value, g = value_and_grad(f)(x0)
    value_object, g_object = value_and_grad(lambda xs: f(np.asarray(xs)))(x0)
    assert seen == [(fastad.Array, np.dtype(np.float64), x0.shape, {fastad.Var}),
                    (np.ndarray, np.dtype(object), x0.shape, {fastad.Var})]
    assert value == value_object
    np.testing.assert_array_equal(g, g_object)
    assert_close(value, np.sum(UNARY[name][0](x0)), rtol=1e-13)
    assert isinstance(g, np.ndarray) and g.shape == x0.shape
    assert_close(g, UNARY[name][1](x0), rtol=1e-12)


def test_unary_object_array_mixing_vars_and_numbers():
    def f(x):
        arr = np.array([x, 2.0, 3], dtype=object)
        ys = fastad.exp(arr)
        assert ys.dtype == object
        assert type(ys[0]) is fastad.Var
        assert ys[1] == math.exp(2.0) and ys[2] == math.exp(3.0)
        return ys[0] + ys[1]

    assert_close(grad(f)(0.5), math.exp(0.5), rtol=1e-15)


# ---- derivatives ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,x", [
    (n, x) for n, x in UNARY_POINTS])
def test_unary_derivative_analytic(name, x):
    seen = []

    def f(v):
        y = _fn(name)(v)
        seen.append(type(y))
        return y

    value, g = value_and_grad(f)(x)
    assert seen == [fastad.Var]
    assert type(g) is float
    # the value on a Var is the value on the float, bit for bit
    assert same_float(value, _fn(name)(x))
    assert_close(g, float(UNARY[name][1](np.float64(x))), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name,x", UNARY_POINTS)
def test_unary_derivative_finite_difference(name, x):
    g = grad(_fn(name))(x)
    fd = central_diff(_fn(name), x, h=1e-6 * max(1.0, abs(x)) if x > -0.95 else 1e-7)
    assert_close(g, fd, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name,x,expected", [
    ("sqrt", 0.0, math.inf),
    ("cbrt", 0.0, math.inf),
    ("log", 0.0, math.inf),
    ("abs", 0.0, 0.0),
    ("abs", -0.0, 0.0),
    ("sign", 0.0, 0.0),
    ("floor", 2.0, 0.0),
    ("ceil", -1.0, 0.0),
    ("square", 0.0, 0.0),
    ("arcsinh", 1e200, 1e-200),
    ("sigmoid", -800.0, 0.0),
    ("sigmoid", 800.0, 0.0),
    ("tanh", 50.0, 0.0),
    ("exp", -1000.0, 0.0),
])
def test_unary_derivative_at_edges(name, x, expected):
    assert_close(grad(_fn(name))(x), expected, rtol=1e-12, atol=0)


def test_sigmoid_no_overflow():
    for x in (-1000.0, -745.0, 0.0, 745.0, 1000.0):
        value, g = value_and_grad(fastad.sigmoid)(x)
        assert 0.0 <= value <= 1.0
        assert math.isfinite(g) and g >= 0.0
    assert fastad.sigmoid(-1000.0) == 0.0
    assert fastad.sigmoid(1000.0) == 1.0


def test_unary_chain_rule():
    # d/dx sin(exp(x)) = cos(exp(x)) exp(x)
    x = 0.3
    assert_close(grad(lambda v: fastad.sin(fastad.exp(v)))(x),
                 math.cos(math.exp(x)) * math.exp(x), rtol=1e-14)
    # d/dx log(sqrt(x) + tanh(x)) = (0.5/sqrt(x) + 1 - tanh(x)**2) / (sqrt(x) + tanh(x))
    x = 1.7
    expected = (0.5 / math.sqrt(x) + 1 - math.tanh(x) ** 2) / (math.sqrt(x) + math.tanh(x))
    assert_close(grad(lambda v: fastad.log(fastad.sqrt(v) + fastad.tanh(v)))(x),
                 expected, rtol=1e-14)


# ---- binary functions -------------------------------------------------------------------

# name -> (reference, d/da, d/db, points (a, b)): the public binary rows
def _partial(d, k):
    return lambda a, b: d(a, b)[k]


BINARY = {op.name: (op.ref, _partial(op.d, 0), _partial(op.d, 1), op.points)
          for op in ops(arity=2, public=True)}

BINARY_POINTS = [(name, a, b) for name, spec in BINARY.items() for a, b in spec[3]]


def _bref(name, a, b):
    return float(BINARY[name][0](np.float64(a), np.float64(b)))


@pytest.mark.parametrize("name,a,b", BINARY_POINTS)
@pytest.mark.parametrize("kinds", [(float, float), (np.float64, float), (float, np.float32),
                                   (np.float32, np.float64)])
def test_binary_numbers_in_float_out(name, a, b, kinds):
    ka, kb = kinds
    y = _fn(name)(ka(a), kb(b))
    assert type(y) is float
    assert_close(y, _bref(name, float(ka(a)), float(kb(b))), rtol=1e-14)


@pytest.mark.parametrize("name", BINARY)
def test_binary_int_arguments(name):
    for a, b in [(2, 3), (3, 1), (1, 2)]:
        for args in [(a, b), (np.int64(a), b), (a, float(b)), (float(a), np.int64(b))]:
            y = _fn(name)(*args)
            assert type(y) is float
            assert_close(y, _bref(name, a, b), rtol=1e-14)


@pytest.mark.parametrize("name,a,b", BINARY_POINTS)
def test_binary_derivatives_var_var(name, a, b):
    _, da, db, _ = BINARY[name]
    value, (ga, gb) = value_and_grad(lambda x, y: _fn(name)(x, y), argnums=(0, 1))(a, b)
    assert same_float(value, _fn(name)(a, b))
    assert_close(ga, float(da(np.float64(a), np.float64(b))), rtol=1e-13)
    assert_close(gb, float(db(np.float64(a), np.float64(b))), rtol=1e-13)


@pytest.mark.parametrize("name,a,b", BINARY_POINTS)
def test_binary_derivatives_finite_difference(name, a, b):
    f = _fn(name)
    ga, gb = grad(lambda x, y: f(x, y), argnums=(0, 1))(a, b)
    assert_close(ga, central_diff(lambda x: f(x, b), a), rtol=1e-6, atol=1e-8)
    assert_close(gb, central_diff(lambda y: f(a, y), b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,a,b", BINARY_POINTS)
@pytest.mark.parametrize("kind", [float, int, np.float64, np.float32])
def test_binary_var_number_both_positions(name, a, b, kind):
    _, da, db, _ = BINARY[name]
    f = _fn(name)
    cb = kind(b) if kind is not int else b  # ints only where exact
    ca = kind(a) if kind is not int else a
    if kind is int:
        if b == int(b):
            cb = int(b)
        if a == int(a):
            ca = int(a)
    seen = []

    def first(x):
        y = f(x, cb)
        seen.append(type(y))
        return y

    def second(y):
        r = f(ca, y)
        seen.append(type(r))
        return r

    v1, g1 = value_and_grad(first)(a)
    v2, g2 = value_and_grad(second)(b)
    assert seen == [fastad.Var, fastad.Var]
    fb, fa = float(cb), float(ca)
    assert same_float(v1, f(a, fb))
    assert same_float(v2, f(fa, b))
    assert_close(g1, float(da(np.float64(a), np.float64(fb))), rtol=1e-13)
    assert_close(g2, float(db(np.float64(fa), np.float64(b))), rtol=1e-13)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_take_first_argument(name):
    f = _fn(name)
    assert grad(lambda x, y: f(x, y), argnums=(0, 1))(2.0, 2.0) == (1.0, 0.0)
    assert grad(lambda x: f(x, 2.0))(2.0) == 1.0
    assert grad(lambda y: f(2.0, y))(2.0) == 0.0
    assert grad(lambda x: f(x, x))(2.0) == 1.0
    # arrays: elementwise ties
    gx, gy = grad(lambda x, y: np.sum(f(x, y)), argnums=(0, 1))(np.array([1.0, 2.0, 3.0]),
                                                               np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(gx, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_nan_propagates(name):
    f = _fn(name)
    assert math.isnan(f(math.nan, 1.0))
    assert math.isnan(f(1.0, math.nan))
    assert np.isnan(f(np.array([math.nan, 1.0]), np.array([1.0, math.nan]))).all()
    assert math.isnan(value_and_grad(lambda x: f(x, 1.0))(math.nan)[0])
    assert math.isnan(value_and_grad(lambda x: f(x, math.nan))(1.0)[0])
    assert math.isnan(value_and_grad(lambda x: f(math.nan, x))(1.0)[0])
    assert math.isnan(value_and_grad(lambda x: f(1.0, x))(math.nan)[0])


def test_logaddexp_ties_and_infinities():
    assert grad(lambda x, y: fastad.logaddexp(x, y), argnums=(0, 1))(1.0, 1.0) == (0.5, 0.5)
    assert fastad.logaddexp(-math.inf, -math.inf) == -math.inf
    assert fastad.logaddexp(math.inf, math.inf) == math.inf
    assert fastad.logaddexp(1000.0, 1000.0) == 1000.0 + math.log(2)
    value, g = value_and_grad(lambda x: fastad.logaddexp(x, x))(3.0)
    assert_close(value, 3.0 + math.log(2), rtol=1e-15)
    assert g == 1.0


def test_hypot_and_arctan2_at_origin():
    # defined one-sided values, no nan
    assert grad(lambda x, y: fastad.hypot(x, y), argnums=(0, 1))(0.0, 0.0) == (0.0, 0.0)
    assert grad(lambda x, y: fastad.arctan2(x, y), argnums=(0, 1))(0.0, 0.0) == (0.0, 0.0)


# ---- binary functions with arrays ------------------------------------------------------

def _array_args(name):
    pts = BINARY[name][3][:4]
    A = np.array([a for a, _ in pts]).reshape(4, 1)
    B = np.array([b for _, b in pts])
    return A, B


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcasting_float_arrays(name):
    ref = BINARY[name][0]
    A, B = _array_args(name)
    for a, b in [(A, B), (B, A), (A, B[0]), (A[0, 0], B), (A.T, B), (A, B.reshape(1, 4))]:
        y = _fn(name)(a, b)
        assert isinstance(y, np.ndarray) and y.dtype == np.float64
        expected = ref(np.asarray(a, np.float64), np.asarray(b, np.float64))
        assert y.shape == expected.shape
        assert_close(y, expected, rtol=1e-14)


@pytest.mark.parametrize("name", BINARY)
def test_binary_zero_dim_arrays_keep_their_shape(name):
    a, b = BINARY[name][3][0]
    for args in [(np.array(a), np.array(b)), (np.array(a), b), (a, np.array(b))]:
        y = _fn(name)(*args)
        assert np.shape(y) == ()  # a 0-d array or a float scalar
        assert np.asarray(y).dtype == np.float64
        assert_close(y, _bref(name, a, b), rtol=1e-14)


@pytest.mark.parametrize("name", BINARY)
def test_binary_int_and_float32_arrays(name):
    a = np.array([1, 2, 3], dtype=np.int64)
    b = np.array([2.0, 1.0, 0.5], dtype=np.float32)
    y = _fn(name)(a, b)
    assert y.dtype == np.float64 and y.shape == (3,)
    assert_close(y, BINARY[name][0](a.astype(np.float64), b.astype(np.float64)), rtol=1e-14)


def test_binary_incompatible_shapes_raise_value_error():
    with pytest.raises(ValueError):
        fastad.hypot(np.ones(3), np.ones(4))


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcasting_object_arrays(name):
    _, da, db, _ = BINARY[name]
    A, B = _array_args(name)
    seen = []

    def f(x, y):
        z = _fn(name)(x, y)
        seen.append((z.dtype, z.shape))
        return np.sum(z)

    ga, gb = grad(f, argnums=(0, 1))(A, B)
    ga_object, gb_object = grad(lambda x, y: f(np.asarray(x), np.asarray(y)),
                                argnums=(0, 1))(A, B)
    assert seen == [(np.dtype(np.float64), (4, 4)), (np.dtype(object), (4, 4))]
    np.testing.assert_array_equal(ga, ga_object)
    np.testing.assert_array_equal(gb, gb_object)
    assert ga.shape == A.shape and gb.shape == B.shape
    assert_close(ga, np.sum(da(A, B), axis=1, keepdims=True), rtol=1e-12)
    assert_close(gb, np.sum(db(A, B), axis=0), rtol=1e-12)
    # only one of the two an array of Vars, the other a float array
    assert_close(grad(lambda x: np.sum(_fn(name)(x, B)))(A),
                 np.sum(da(A, B), axis=1, keepdims=True), rtol=1e-12)
    assert_close(grad(lambda y: np.sum(_fn(name)(A, y)))(B), np.sum(db(A, B), axis=0),
                 rtol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_var_with_float_array(name):
    _, da, db, _ = BINARY[name]
    A, B = _array_args(name)
    a0, b0 = BINARY[name][3][0]
    shapes = []

    def f1(x):
        z = _fn(name)(x, B)
        shapes.append((z.dtype, z.shape))
        return np.sum(z)

    def f2(y):
        z = _fn(name)(A, y)
        shapes.append((z.dtype, z.shape))
        return np.sum(z)

    assert_close(grad(f1)(a0), np.sum(da(a0, B)), rtol=1e-12)
    assert_close(grad(f2)(b0), np.sum(db(A, b0)), rtol=1e-12)
    assert shapes == [(np.dtype(object), B.shape), (np.dtype(object), A.shape)]


# ---- bad input ----------------------------------------------------------------------------

BAD = {"str": "a", "NoneType": None, "bytes": b"x", "dict": {}, "object": object()}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("bad", BAD)
def test_unary_bad_input_raises_type_error(name, bad):
    with pytest.raises(TypeError, match=bad) as info:
        _fn(name)(BAD[bad])
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["sin", "exp", "log"])
def test_unary_bad_array_input_raises_type_error(name):
    with pytest.raises(TypeError):
        _fn(name)(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="str"):
        _fn(name)(np.array([1.0, "a"], dtype=object))
    with pytest.raises(TypeError, match="NoneType"):
        _fn(name)(np.array([1.0, None], dtype=object))

    def f(x):
        with pytest.raises(TypeError, match="str"):
            _fn(name)(np.array([x, "a"], dtype=object))
        return x

    grad(f)(1.0)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("bad", ["str", "NoneType", "object"])
def test_binary_bad_input_raises_type_error(name, bad):
    f = _fn(name)
    with pytest.raises(TypeError, match=bad):
        f(BAD[bad], 1.0)
    with pytest.raises(TypeError, match=bad):
        f(1.0, BAD[bad])
    with pytest.raises(TypeError):
        f(np.ones(2), BAD[bad])

    def g(x):
        with pytest.raises(TypeError, match=bad):
            f(x, BAD[bad])
        with pytest.raises(TypeError, match=bad):
            f(BAD[bad], x)
        return x

    grad(g)(1.0)
