"""Vars, fastad.Arrays and object arrays of Vars through NumPy (docs/api.md
sections 1 and 6). An array argument arrives as a fastad.Array; tests/test_array.py
checks every Array operation against the same code on object arrays."""

import math

import numpy as np
import pytest

import fastad
from catalogue import ops
from conftest import assert_close

grad = fastad.grad
value_and_grad = fastad.value_and_grad

X0 = np.array([0.5, -1.25, 2.0, 0.75])
W = np.array([[1.0, -2.0, 0.5, 3.0],
              [0.25, 1.5, -1.0, 2.0],
              [2.0, 0.0, 1.0, -0.5]])  # (3, 4)


def _all_vars(arr):
    """An array of Vars: a fastad.Array (of entries, not constants) or an
    object array of Vars."""
    if isinstance(arr, fastad.Array):
        return all(type(e) is fastad.Var for e in arr.flat)
    return isinstance(arr, np.ndarray) and arr.dtype == object and all(
        type(e) is fastad.Var for e in arr.flat)


# ---- NumPy ufuncs on single Vars ---------------------------------------------------

def _numpy_ufunc(op):
    """The NumPy ufunc of the operation's row (its ufunc column), or None."""
    module, _, name = (op.row.ufunc or "").rpartition(".")
    return getattr(np, name) if module == "numpy" else None


# NumPy ufuncs whose object loop does not record the operation on a Var: it
# compares instead (np.sign returns a number, np.maximum one of its operands,
# through branch guards), or there is no object loop (np.logaddexp).
NOT_RECORDED = {"sign", "maximum", "minimum", "logaddexp"}

# name -> (ufunc, catalogue entry): every unary operation whose NumPy ufunc
# records it on a Var
UFUNCS_ON_VAR = {op.name: (_numpy_ufunc(op), op) for op in ops(arity=1)
                 if _numpy_ufunc(op) is not None and op.name not in NOT_RECORDED}
BINARY_UFUNCS_ON_VAR = {op.name: (_numpy_ufunc(op), op) for op in ops(arity=2)
                        if _numpy_ufunc(op) is not None and op.name not in NOT_RECORDED}


@pytest.mark.parametrize("name", UFUNCS_ON_VAR)
def test_ufunc_on_var(name):
    uf, op = UFUNCS_ON_VAR[name]
    for x0 in op.points:
        seen = []

        def f(x):
            y = uf(x)
            seen.append(type(y))
            return y

        value, g = value_and_grad(f)(x0)
        assert seen == [fastad.Var]
        assert_close(value, float(uf(np.float64(x0))), rtol=1e-14)
        assert_close(g, float(op.d(x0)), rtol=1e-13)


def test_np_abs_is_np_absolute_on_vars():
    assert value_and_grad(np.abs)(-0.7) == value_and_grad(np.absolute)(-0.7) == (0.7, -1.0)


@pytest.mark.parametrize("name", UFUNCS_ON_VAR)
def test_ufunc_on_object_array(name):
    uf, op = UFUNCS_ON_VAR[name]
    x0 = op.domain(X0)
    seen = []

    def f(xs):
        ys = uf(xs)
        seen.append(_all_vars(ys) and ys.shape == xs.shape)
        return np.sum(ys)

    value, g = value_and_grad(f)(x0)
    assert seen == [True]
    assert_close(value, np.sum(uf(x0)), rtol=1e-13)
    assert_close(g, [float(op.d(v)) for v in x0], rtol=1e-13)


@pytest.mark.parametrize("name", BINARY_UFUNCS_ON_VAR)
def test_binary_ufunc_on_vars(name):
    """np.<ufunc>(Var, Var) and np.<ufunc>(Var, number) record the operation (a
    number first only for operators: NumPy calls a method such as arctan2 on the
    first operand)."""
    uf, op = BINARY_UFUNCS_ON_VAR[name]
    for a, b in op.points:
        da, db = (float(d) for d in op.d(a, b))
        value, (ga, gb) = value_and_grad(lambda x, y: uf(x, y), argnums=(0, 1))(a, b)
        assert_close(value, float(uf(np.float64(a), np.float64(b))), rtol=1e-14)
        assert_close((ga, gb), (da, db), rtol=1e-13)
        value, g = value_and_grad(lambda x: uf(x, b))(a)
        assert_close(value, float(uf(np.float64(a), np.float64(b))), rtol=1e-14)
        assert_close(g, da, rtol=1e-13)
        if not op.row.methods:
            value, g = value_and_grad(lambda y: uf(a, y))(b)
            assert_close(g, db, rtol=1e-13)


def test_np_exp_on_2d_object_array():
    X = W[:, :3] * 0.5

    def f(xs):
        ys = np.exp(xs)
        assert _all_vars(ys) and ys.shape == (3, 3)
        return np.sum(ys * W[:, :3])

    assert_close(grad(f)(X), np.exp(X) * W[:, :3], rtol=1e-14)


# ---- reductions ----------------------------------------------------------------------

def test_np_sum():
    v, g = value_and_grad(lambda xs: np.sum(xs))(X0)
    assert v == np.sum(X0)
    np.testing.assert_array_equal(g, np.ones(4))
    g2 = grad(lambda xs: np.sum(np.sum(xs, axis=0) * np.array([1.0, 2.0])))(X0.reshape(2, 2))
    np.testing.assert_array_equal(g2, [[1.0, 2.0], [1.0, 2.0]])
    assert grad(lambda xs: xs.sum())(X0).tolist() == [1.0] * 4


def test_python_sum_over_vars():
    assert grad(lambda xs: sum(xs))(X0).tolist() == [1.0] * 4
    assert grad(lambda xs: sum(xs))([1.0, 2.0]) == [1.0, 1.0]


def test_np_mean():
    v, g = value_and_grad(lambda xs: np.mean(xs))(X0)
    assert_close(v, np.mean(X0), rtol=1e-15)
    np.testing.assert_array_equal(g, np.full(4, 0.25))
    g2 = grad(lambda xs: np.sum(np.mean(xs, axis=1) * np.array([1.0, 3.0])))(X0.reshape(2, 2))
    np.testing.assert_array_equal(g2, [[0.5, 0.5], [1.5, 1.5]])


def test_np_prod():
    v, g = value_and_grad(lambda xs: np.prod(xs))(X0)
    assert_close(v, np.prod(X0), rtol=1e-15)
    assert_close(g, np.prod(X0) / X0, rtol=1e-14)


def test_np_max_min_of_vars():
    x0 = np.array([0.5, 3.0, -1.0, 2.0])
    np.testing.assert_array_equal(grad(lambda xs: np.max(xs))(x0), [0, 1, 0, 0])
    np.testing.assert_array_equal(grad(lambda xs: np.min(xs))(x0), [0, 0, 1, 0])
    np.testing.assert_array_equal(grad(lambda xs: max(xs))(x0), [0, 1, 0, 0])


def test_np_cumsum_and_diff():
    g = grad(lambda xs: np.sum(np.cumsum(xs) * np.arange(1.0, 5.0)))(X0)
    np.testing.assert_array_equal(g, [10.0, 9.0, 7.0, 4.0])
    g = grad(lambda xs: np.sum(np.diff(xs) ** 2))(X0)
    d = np.diff(X0)
    expected = np.zeros(4)
    expected[:-1] -= 2 * d
    expected[1:] += 2 * d
    assert_close(g, expected, rtol=1e-15)


# ---- products with float arrays ------------------------------------------------------

def test_np_dot_float_matrix_with_vars():
    c = np.array([1.0, -1.0, 2.0])

    def f(xs):
        y = np.dot(W, xs)
        assert _all_vars(y) and y.shape == (3,)
        return np.dot(c, y)

    v, g = value_and_grad(f)(X0)
    assert_close(v, c @ W @ X0, rtol=1e-14)
    assert_close(g, W.T @ c, rtol=1e-15)


def test_np_dot_vars_with_vars():
    v, g = value_and_grad(lambda xs: np.dot(xs, xs))(X0)
    assert_close(v, X0 @ X0, rtol=1e-15)
    assert_close(g, 2 * X0, rtol=1e-15)


def test_vars_matmul_float_matrix():
    # xs @ W.T: (4,) @ (4, 3) -> (3,)
    c = np.array([2.0, 0.5, -1.0])

    def f(xs):
        y = xs @ W.T
        assert _all_vars(y) and y.shape == (3,)
        return np.sum(y * c)

    assert_close(grad(f)(X0), W.T @ c, rtol=1e-15)


def test_float_matrix_matmul_vars():
    def f(xs):
        y = W @ xs
        assert _all_vars(y) and y.shape == (3,)
        return np.sum(y)

    assert_close(grad(f)(X0), W.sum(axis=0), rtol=1e-15)


def test_matrix_of_vars_matmul():
    X = X0.reshape(2, 2)
    B = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])

    def f(xs):
        y = xs @ B
        assert _all_vars(y) and y.shape == (2, 3)
        return np.sum(y)

    assert_close(grad(f)(X), np.tile(B.sum(axis=1), (2, 1)), rtol=1e-15)
    # quadratic form x^T A x, gradient (A + A^T) x
    A = W[:, :3]
    x3 = X0[:3]
    assert_close(grad(lambda xs: xs @ A @ xs)(x3), (A + A.T) @ x3, rtol=1e-14)


def test_indexed_float_times_var():
    """W[i, j] * x[j]: a np.float64 on the left of a Var gives a Var."""
    c = np.array([1.0, 2.0, -1.0])
    types = set()

    def f(x):
        total = 0.0
        for i in range(W.shape[0]):
            yi = 0.0
            for j in range(W.shape[1]):
                assert type(W[i, j]) is np.float64
                term = W[i, j] * x[j]
                types.add(type(term))
                yi = yi + term
            total = total + c[i] * yi
        return total

    v, g = value_and_grad(f)(X0)
    assert types == {fastad.Var}
    assert_close(v, c @ W @ X0, rtol=1e-14)
    assert_close(g, W.T @ c, rtol=1e-15)
    g_list = grad(f)(X0.tolist())
    assert type(g_list) is list
    assert_close(g_list, W.T @ c, rtol=1e-15)


@pytest.mark.parametrize("scalar", [np.float64(1.5), np.float32(1.5), np.int64(3)])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_numpy_scalar_on_the_left(scalar, op):
    import operator
    fn = getattr(operator, op)
    seen = []

    def f(x):
        y = fn(scalar, x)
        seen.append(type(y))
        return y

    v, g = value_and_grad(f)(0.75)
    assert seen == [fastad.Var]
    s = float(scalar)
    assert_close(v, float(fn(np.float64(s), np.float64(0.75))), rtol=1e-15)
    expected = {"add": 1.0, "sub": -1.0, "mul": s, "truediv": -s / 0.75**2,
                "pow": s**0.75 * math.log(s)}[op]
    assert_close(g, expected, rtol=1e-14)


@pytest.mark.parametrize("var_left", [True, False])
def test_float_array_times_var(var_left):
    A = np.array([[1.0, 2.0], [-3.0, 0.5]])

    def f(x):
        y = x * A if var_left else A * x
        assert _all_vars(y) and y.shape == A.shape
        np.testing.assert_array_equal(fastad.value(y), 2.0 * A)
        return np.sum(y * y)

    assert_close(grad(f)(2.0), 2 * 2.0 * np.sum(A * A), rtol=1e-15)


def test_float_array_times_object_array():
    A = np.array([2.0, -1.0, 0.5, 4.0])

    def f(xs):
        y1 = A * xs
        y2 = xs * A
        assert _all_vars(y1) and _all_vars(y2)
        return np.sum(y1) + np.sum(y2 / A)

    assert_close(grad(f)(X0), A + 1.0, rtol=1e-15)


def test_broadcasting_object_array_with_float_array():
    B = np.array([[1.0], [2.0], [3.0]])

    def f(xs):
        y = xs + B  # (4,) + (3, 1) -> (3, 4)
        assert _all_vars(y) and y.shape == (3, 4)
        return np.sum(y * B)

    assert_close(grad(f)(X0), np.full(4, 6.0), rtol=1e-15)


# ---- elementwise functions through NumPy on Vars ----------------------------------------

def test_np_maximum_minimum_on_vars():
    gx, gy = grad(lambda x, y: np.maximum(x, y), argnums=(0, 1))(1.0, 2.0)
    assert (gx, gy) == (0.0, 1.0)
    gx, gy = grad(lambda x, y: np.minimum(x, y), argnums=(0, 1))(1.0, 2.0)
    assert (gx, gy) == (1.0, 0.0)
    v, g = value_and_grad(lambda x: np.maximum(x, 0.0) * 3.0)(2.0)
    assert (v, g) == (6.0, 3.0)
    v, g = value_and_grad(lambda x: np.maximum(x, 0.0) * 3.0)(-2.0)
    assert (v, g) == (0.0, 0.0)


def test_np_maximum_on_object_arrays():
    a0 = np.array([1.0, 5.0, -2.0, 3.0])
    b0 = np.array([2.0, 4.0, -2.0, 0.0])
    ga, gb = grad(lambda a, b: np.sum(np.maximum(a, b)), argnums=(0, 1))(a0, b0)
    np.testing.assert_array_equal(ga, [0.0, 1.0, 1.0, 1.0])  # tie goes to the first
    np.testing.assert_array_equal(gb, [1.0, 0.0, 0.0, 0.0])
    # ReLU
    g = grad(lambda xs: np.sum(np.maximum(xs, 0.0) * np.arange(1.0, 5.0)))(X0)
    np.testing.assert_array_equal(g, np.where(X0 > 0, np.arange(1.0, 5.0), 0.0))


@pytest.mark.parametrize("uf,ref", [(np.floor, math.floor), (np.ceil, math.ceil),
                                    (np.trunc, math.trunc)])
def test_np_floor_ceil_trunc_on_vars(uf, ref):
    for x0 in (-2.5, -0.3, 1.0, 2.7):
        seen = []

        def f(x):
            y = uf(x)
            seen.append(type(y))
            return y + x

        v, g = value_and_grad(f)(x0)
        assert seen == [fastad.Var]
        assert v == ref(x0) + x0
        assert g == 1.0

    def h(xs):
        ys = uf(xs)
        assert _all_vars(ys)
        np.testing.assert_array_equal(fastad.value(ys), uf(X0))
        return np.sum(ys)

    np.testing.assert_array_equal(grad(h)(X0), np.zeros(4))


def test_np_abs_square_sqrt():
    x0 = np.array([-2.0, -0.5, 0.5, 3.0])
    assert_close(grad(lambda xs: np.sum(np.abs(xs)))(x0), np.sign(x0))
    assert_close(grad(lambda xs: np.sum(np.square(xs)))(x0), 2 * x0)
    assert_close(grad(lambda xs: np.sum(np.sqrt(np.abs(xs))))(x0),
                 np.sign(x0) * 0.5 / np.sqrt(np.abs(x0)), rtol=1e-14)


@pytest.mark.parametrize("p", [2, 2.0, 3, 0.5, -1.5])
def test_np_power(p):
    x0 = np.array([0.5, 1.5, 2.0, 3.0])
    v, g = value_and_grad(lambda xs: np.sum(np.power(xs, p)))(x0)
    assert_close(v, np.sum(np.power(x0, p)), rtol=1e-14)
    assert_close(g, p * x0 ** (p - 1), rtol=1e-14)
    # exponent a Var, base a float array
    assert_close(grad(lambda e: np.sum(np.power(x0, e)))(float(p)),
                 np.sum(x0**p * np.log(x0)), rtol=1e-14)
    # both object arrays
    ga, gb = grad(lambda a, b: np.sum(np.power(a, b)), argnums=(0, 1))(x0, np.full(4, float(p)))
    assert_close(ga, p * x0 ** (p - 1), rtol=1e-14)
    assert_close(gb, x0**p * np.log(x0), rtol=1e-14)


def test_np_arctan2_hypot_on_vars():
    gy, gx = grad(lambda y, x: np.arctan2(y, x), argnums=(0, 1))(1.0, 2.0)
    assert_close((gy, gx), (2.0 / 5.0, -1.0 / 5.0), rtol=1e-15)
    ga, gb = grad(lambda a, b: np.hypot(a, b), argnums=(0, 1))(3.0, 4.0)
    assert_close((ga, gb), (0.6, 0.8), rtol=1e-15)


def test_fastad_logaddexp_serves_object_arrays():
    a0 = np.array([0.0, 1.0, -2.0])
    b0 = np.array([1.0, 1.0, 3.0])
    ga, gb = grad(lambda a, b: np.sum(fastad.logaddexp(a, b)), argnums=(0, 1))(a0, b0)
    y = np.logaddexp(a0, b0)
    assert_close(ga, np.exp(a0 - y), rtol=1e-14)
    assert_close(gb, np.exp(b0 - y), rtol=1e-14)


def test_np_where_and_comparisons_on_object_arrays():
    def f(xs):
        mask = xs > 0
        assert mask.shape == xs.shape
        np.testing.assert_array_equal(mask.astype(bool), X0 > 0)
        return np.sum(np.where(mask, xs * xs, -xs))

    assert_close(grad(f)(X0), np.where(X0 > 0, 2 * X0, -1.0), rtol=1e-15)


def test_softmax_cross_entropy():
    logits0 = np.array([1.0, 2.0, 0.5])
    target = 1

    def loss(z):
        m = max(v.value for v in z)  # a constant shift, as stop-gradient
        e = np.exp(z - m)
        return -(z[target] - m - fastad.log(np.sum(e)))

    p = np.exp(logits0) / np.sum(np.exp(logits0))
    expected = p.copy()
    expected[target] -= 1.0
    assert_close(grad(loss)(logits0), expected, rtol=1e-14)


def test_fastad_value_of_arrays_and_lists():
    def f(xs):
        vals = fastad.value(xs * 2.0)
        assert isinstance(vals, np.ndarray) and vals.dtype == np.float64
        np.testing.assert_array_equal(vals, 2.0 * X0)
        assert fastad.value([xs[0], 1.0]) == [X0[0], 1.0]
        assert fastad.value(xs[1]) == X0[1]
        return np.sum(xs)

    grad(f)(X0)


def test_array_of_vars_creation_inside_f():
    def f(x, y):
        v = np.array([x, y, x * y])
        assert v.dtype == object
        return np.sum(v * np.array([1.0, 2.0, 3.0]))

    assert grad(f, argnums=(0, 1))(2.0, 5.0) == (1.0 + 3 * 5.0, 2.0 + 3 * 2.0)


def test_np_stack_concatenate_reshape():
    def f(xs):
        a = np.concatenate([xs, xs[::-1]])
        b = np.stack([xs, 2 * xs]).reshape(-1)
        return np.sum(a * b)

    # a = [x, rev(x)], b = [x, 2x]: sum = sum(x*x) + 2*sum(rev(x) * x)
    g = grad(f)(X0)
    assert_close(g, 2 * X0 + 4 * X0[::-1], rtol=1e-15)
