"""jacobian and jacrev (docs/api.md section 2): shapes, structures, argnums, modes,
values against analytic Jacobians and central differences, one recording per
call, and the errors for bad outputs."""

import collections
import math

import numpy as np
import pytest

import fastad
from fastad import jacobian, jacrev

from catalogue import ops
from conftest import assert_close, central_diff_jacobian


JACOBIANS = {
    "jacobian": jacobian,
    "auto": lambda f, argnums=0: jacobian(f, argnums, mode="auto"),
    "reverse": lambda f, argnums=0: jacobian(f, argnums, mode="reverse"),
    "jacrev": jacrev,
}


@pytest.fixture(params=sorted(JACOBIANS))
def jac(request):
    return JACOBIANS[request.param]


# ---- output kinds ----------------------------------------------------------------------

def test_scalar_output_of_scalar_input_has_shape_empty(jac):
    r = jac(lambda x: x * x * x)(2.0)
    assert np.shape(r) == ()
    assert float(r) == 12.0


def test_scalar_output_of_array_input_is_the_gradient(jac):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    f = lambda v: np.sum(v * v * v)  # noqa: E731
    r = jac(f)(x)
    assert isinstance(r, np.ndarray) and r.shape == (2, 3) and r.dtype == np.float64
    assert_close(r, 3 * x * x)
    assert_close(r, fastad.grad(f)(x))


def test_vector_output_of_vector_input(jac):
    x = np.array([0.3, -1.2, 2.0])
    r = jac(lambda v: fastad.sin(v) * v[0])(x)
    expected = np.diag(np.cos(x) * x[0])
    expected[:, 0] += np.sin(x)
    assert r.shape == (3, 3)
    assert_close(r, expected)


def test_two_dimensional_output_and_input(jac):
    x = np.arange(1.0, 7.0).reshape(2, 3)
    r = jac(lambda v: v.T * 2.0)(x)
    assert r.shape == (3, 2, 2, 3)
    expected = np.zeros((3, 2, 2, 3))
    for i in range(3):
        for j in range(2):
            expected[i, j, j, i] = 2.0
    assert_close(r, expected)


def test_float_array_output_gives_zeros(jac):
    r = jac(lambda v: np.array([[1.0, 2.0], [3.0, 4.0]]))(np.ones(3))
    assert r.shape == (2, 2, 3)
    assert np.all(r == 0.0)


@pytest.mark.parametrize("out", [np.arange(3), np.ones(3, dtype=np.float32)])
def test_numeric_array_outputs_of_other_dtypes(jac, out):
    r = jac(lambda v: out)(np.ones(2))
    assert r.shape == (3, 2) and r.dtype == np.float64 and np.all(r == 0.0)


def test_object_array_mixing_vars_and_numbers_gives_zero_rows_for_constants(jac):
    x = np.array([2.0, 3.0])

    def f(v):
        return np.array([[v[0] * v[1], 1.5], [7, v[1] ** 2]], dtype=object)

    r = jac(f)(x)
    assert r.shape == (2, 2, 2)
    assert_close(r[0, 0], [3.0, 2.0])
    assert np.all(r[0, 1] == 0.0) and np.all(r[1, 0] == 0.0)
    assert_close(r[1, 1], [0.0, 6.0])


@pytest.mark.parametrize("container", [list, tuple])
def test_list_or_tuple_of_scalars_is_a_vector(jac, container):
    def f(v):
        return container([v[0] * v[1], 3.0, np.float64(2.0), fastad.exp(v[1]), v[0]])

    x = np.array([2.0, 0.5])
    r = jac(f)(x)
    assert isinstance(r, np.ndarray) and r.shape == (5, 2)
    expected = np.array([[0.5, 2.0], [0, 0], [0, 0], [0, math.exp(0.5)], [1, 0]])
    assert_close(r, expected)


def test_list_of_scalars_output_of_scalar_input(jac):
    r = jac(lambda x: [x, x * x, 1.0])(3.0)
    assert r.shape == (3,)
    assert_close(r, [1.0, 6.0, 0.0])


def test_constant_outputs(jac):
    assert float(jac(lambda x: 4.0)(1.0)) == 0.0
    assert np.shape(jac(lambda x: 4)(1.0)) == ()
    r = jac(lambda x: [1.0, 2.0])(np.ones((2, 2)))
    assert r.shape == (2, 2, 2) and np.all(r == 0.0)


def test_zero_dim_object_array_output_is_a_scalar(jac):
    r = jac(lambda x: np.array(x * 3.0, dtype=object))(2.0)
    assert np.shape(r) == () and float(r) == 3.0


def test_empty_output_and_empty_input(jac):
    assert jac(lambda v: [])(np.ones(3)).shape == (0, 3)
    assert jac(lambda v: np.zeros((0, 2)))(np.ones(3)).shape == (0, 2, 3)
    assert jac(lambda v: [1.0, 2.0])(np.zeros(0)).shape == (2, 0)


def test_output_independent_of_some_inputs(jac):
    r = jac(lambda v: [v[0] * 2.0, v[0] * v[0]])(np.array([1.5, 9.0, -3.0]))
    assert_close(r, [[2.0, 0.0, 0.0], [3.0, 0.0, 0.0]])


# ---- input kinds -----------------------------------------------------------------------

@pytest.mark.parametrize("x", [3, 3.0, np.float32(3.0), np.int64(3), np.float64(3.0)])
def test_scalar_input_kinds(jac, x):
    r = jac(lambda v: [v * v, 2.0 * v])(x)
    assert isinstance(r, np.ndarray) and r.shape == (2,)
    assert_close(r, [6.0, 2.0])


def test_zero_dim_array_input(jac):
    r = jac(lambda v: v * 5.0)(np.array(2.0))
    assert np.shape(r) == () and float(r) == 5.0
    r = jac(lambda v: np.array([v[()], v[()] ** 2], dtype=object))(np.array(2.0))
    assert r.shape == (2,)
    assert_close(r, [1.0, 4.0])


def test_list_of_zero_dim_arrays_is_a_vector():
    # A 0-d array (x arrives as a 0-d object array of Var) is a scalar, so a
    # list of them is a 1-D output, as for grad, which accepts a 0-d array output.
    r = jacobian(lambda v: [v, 2.0 * v])(np.array(2.0))
    assert r.shape == (2,)
    assert_close(r, [1.0, 2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.float64])
def test_numeric_dtypes_are_differentiated_in_float64(jac, dtype):
    x = np.array([[1, 2], [3, 4]], dtype=dtype)
    r = jac(lambda v: v * v)(x)
    assert r.dtype == np.float64 and r.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            expected[i, j, i, j] = 2.0 * float(x[i, j])
    assert_close(r, expected)


def test_float32_values_are_used_exactly():
    x = np.array([0.1], dtype=np.float32)  # not 0.1 in float64
    r = jacobian(lambda v: v * v)(x)
    assert r[0, 0] == 2.0 * float(x[0])


def test_list_of_numbers_input_gives_a_list(jac):
    r = jac(lambda v: [v[0] * v[1], v[1] + 1.0, 5.0])([2.0, 3])
    assert type(r) is list and len(r) == 2
    assert all(isinstance(c, np.ndarray) and c.shape == (3,) for c in r)
    assert_close(r[0], [3.0, 0.0, 0.0])
    assert_close(r[1], [2.0, 1.0, 0.0])


def test_list_of_numbers_input_scalar_output(jac):
    r = jac(lambda v: v[0] * v[1])([2.0, 3.0])
    assert type(r) is list and len(r) == 2
    assert all(np.shape(c) == () for c in r)
    assert [float(c) for c in r] == [3.0, 2.0]


def test_tuple_input_gives_a_tuple(jac):
    r = jac(lambda v: np.array([v[0] * v[1], v[0]], dtype=object))((2.0, 3.0))
    assert type(r) is tuple and len(r) == 2
    assert_close(r[0], [3.0, 1.0])
    assert_close(r[1], [2.0, 0.0])


def test_namedtuple_input(jac):
    P = collections.namedtuple("P", "a b")
    r = jac(lambda p: [p.a * p.b, p.b])(P(2.0, 5.0))
    assert type(r) is P
    assert_close(r.a, [5.0, 0.0])
    assert_close(r.b, [2.0, 1.0])


def test_dict_input(jac):
    x = {"w": np.array([1.0, 2.0]), "b": 3.0}
    r = jac(lambda p: p["w"] * p["b"])(x)
    assert type(r) is dict and set(r) == {"w", "b"}
    assert r["w"].shape == (2, 2) and r["b"].shape == (2,)
    assert_close(r["w"], np.diag([3.0, 3.0]))
    assert_close(r["b"], [1.0, 2.0])


def test_nested_pytree_input(jac):
    x = {"layers": [(np.array([[1.0, 2.0]]), 0.5), {"s": [1.0, 2.0]}], "c": np.float32(2.0)}

    def f(p):
        (W, b), inner = p["layers"]
        s0, s1 = inner["s"]
        y0 = np.sum(W) * b * p["c"]
        return [y0, s0 * s1, W[0, 1]]

    r = jac(f)(x)
    (rW, rb), rinner = r["layers"]
    assert isinstance(r["layers"], list) and isinstance(r["layers"][0], tuple)
    assert rW.shape == (3, 1, 2) and rb.shape == (3,)
    assert_close(rW[:, 0, :], [[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    assert_close(rb, [3.0 * 2.0, 0.0, 0.0])
    assert type(rinner["s"]) is list
    assert_close(rinner["s"][0], [0.0, 2.0, 0.0])
    assert_close(rinner["s"][1], [0.0, 1.0, 0.0])
    assert_close(r["c"], [3.0 * 0.5, 0.0, 0.0])


def test_argument_not_modified(jac):
    x = np.array([1.0, 2.0])
    x_before = x.copy()
    jac(lambda v: v * 2.0)(x)
    np.testing.assert_array_equal(x, x_before)


# ---- argnums ---------------------------------------------------------------------------

def test_argnums_int(jac):
    f = lambda a, b: [a * b, a + b, b * b]  # noqa: E731
    assert_close(jac(f, 0)(2.0, 3.0), [3.0, 1.0, 0.0])
    assert_close(jac(f, 1)(2.0, 3.0), [2.0, 1.0, 6.0])
    assert_close(jac(f, -1)(2.0, 3.0), [2.0, 1.0, 6.0])


def test_argnums_tuple(jac):
    def f(A, x, c):
        return (A @ x) * c

    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x = np.array([1.0, -1.0])
    dA, dx = jac(f, (0, 1))(A, x, 2.0)
    assert dA.shape == (3, 3, 2) and dx.shape == (3, 2)
    assert_close(dx, 2.0 * A)
    expected_dA = np.zeros((3, 3, 2))
    for i in range(3):
        expected_dA[i, i, :] = 2.0 * x
    assert_close(dA, expected_dA)
    r = jac(f, (2,))(A, x, 2.0)
    assert type(r) is tuple and len(r) == 1
    assert_close(r[0], A @ x)


def test_argnums_tuple_order_is_kept(jac):
    r = jac(lambda a, b: [a, 2.0 * b], (1, 0))(1.0, 1.0)
    assert_close(r[0], [0.0, 2.0])
    assert_close(r[1], [1.0, 0.0])


def test_non_differentiated_arguments_and_kwargs_are_constants(jac):
    seen = {}

    def f(x, label, scale=1.0):
        seen["label"] = label
        seen["scale"] = scale
        return x * scale

    r = jac(f)(np.array([1.0, 2.0]), "hello", scale=3.0)
    assert seen == {"label": "hello", "scale": 3.0}
    assert_close(r, 3.0 * np.eye(2))


@pytest.mark.parametrize("argnums", [(0, 0), (0, -2)])
def test_argnums_naming_an_argument_twice(argnums):
    with pytest.raises(ValueError):
        jacobian(lambda a, b: a, argnums)(1.0, 2.0)


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        jacobian(lambda a: a, 1)(1.0)


@pytest.mark.parametrize("argnums", [1.0, "0", (), None, True, (0, "1")])
def test_bad_argnums(argnums):
    with pytest.raises(TypeError, match="argnums"):
        jacobian(lambda a: a, argnums)


# ---- modes -----------------------------------------------------------------------------

@pytest.mark.parametrize("shape_in,shape_out", [((5,), 2), ((2,), 7), ((3, 2), 3)])
def test_auto_equals_reverse_equals_jacrev(shape_in, shape_out):
    # auto picks forward mode when there are fewer inputs than outputs: the
    # same numbers up to rounding (sums in another order).
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape_in)
    W = rng.normal(size=(shape_out, x.size))

    def f(v):
        return fastad.tanh(W @ v.reshape(-1)) * np.sum(v * v)

    a = jacobian(f)(x)
    b = jacobian(f, mode="auto")(x)
    c = jacobian(f, mode="reverse")(x)
    d = jacrev(f)(x)
    e = jacobian(f, mode="forward")(x)
    assert a.shape == (shape_out,) + shape_in
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)
    np.testing.assert_array_equal(a, e if x.size <= shape_out else c)
    np.testing.assert_allclose(e, c, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("mode", ["Reverse", "rev", "fwd", "", None, 1, ("reverse",)])
def test_invalid_mode_raises_value_error(mode):
    with pytest.raises(ValueError, match="mode"):
        jacobian(lambda x: x, mode=mode)


def test_forward_mode_matches_reverse_mode():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(40, 3))

    def f(v):
        return fastad.tanh(A @ v) * v[0]

    x = rng.normal(size=3)
    forward = fastad.jacfwd(f)(x)
    assert forward.shape == (40, 3)
    np.testing.assert_allclose(forward, jacrev(f)(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(forward, jacobian(f, mode="forward")(x))
    # more than one block of 32 tangent lanes
    B = rng.normal(size=(5, 70))
    y = rng.normal(size=70)
    g = lambda v: fastad.sin(B @ v)  # noqa: E731
    np.testing.assert_allclose(fastad.jacfwd(g)(y), jacrev(g)(y), rtol=1e-13, atol=1e-15)
    assert_close(jacobian(lambda x: [x, x], mode="forward")(1.0), [1.0, 1.0])


@pytest.mark.parametrize("make", [
    lambda f: jacobian(f, holomorphic=True),
    lambda f: jacrev(f, holomorphic=True),
    lambda f: jacobian(f, mode="reverse", holomorphic=True),
])
@pytest.mark.parametrize("f", [
    lambda x: x * 1j,
    lambda x: np.array([1.0 + 1.0j, 2.0]),
    lambda x: [x[0], 2j],
    lambda x: 1j,
])
# ---- nesting ---------------------------------------------------------------------------

def _jacobian_in_tape():
    with fastad.Tape() as t:
        x = t.var(np.array([1.0, 2.0]))
        J = jacobian(lambda v: v * v)(x)
        y = J[1, 1] * x[0]
    # J is made of Vars of t: differentiable by the enclosing tape.
    return fastad.value(J), t.gradient(y, x)


def test_nested_jacobians():
    ones = np.ones(2)
    jj = jacobian(jacobian(lambda x: x * x))(ones)
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0] = expected[1, 1, 1] = 2.0
    assert_close(fastad.value(jj), expected)
    assert_close(fastad.value(jacobian(fastad.grad(lambda x: np.sum(x ** 3)))(ones)),
                 np.diag([6.0, 6.0]))
    assert fastad.grad(jacobian(lambda x: x ** 3))(2.0) == 12.0
    assert fastad.value(jacrev(jacrev(lambda x: x ** 3))(2.0)) == 12.0
    closure = jacobian(lambda x: jacobian(lambda y: y * x[0])(np.ones(2)))(np.ones(2))
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0] = expected[1, 1, 0] = 1.0
    assert_close(fastad.value(closure), expected)
    assert fastad.grad(lambda x: jacobian(lambda y: x)(1.0))(2.0) == 0.0
    J, g = _jacobian_in_tape()
    assert_close(J, np.diag([2.0, 4.0]))
    assert_close(g, [2.0 * 2.0, 2.0 * 1.0])  # y = 2 x1 * x0


def test_jacobian_on_constants_inside_f_is_ordinary_code():
    def f(x):
        J = jacobian(lambda y: y * y)(np.array([1.0, 2.0]))  # constants to the outer tape
        return np.sum(J) * x

    assert float(fastad.grad(f)(2.0)) == 6.0
    assert_close(jacobian(lambda x: [f(x), x])(2.0), [6.0, 1.0])


# ---- values: analytic Jacobians ---------------------------------------------------------

def test_linear_map(jac):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 6))
    x = rng.normal(size=6)
    r = jac(lambda v: A @ v)(x)
    assert_close(r, A, rtol=1e-14, atol=0)
    r = jac(lambda v: v @ A.T + 1.0)(x)
    assert_close(r, A, rtol=1e-14, atol=0)


def test_linear_map_of_matrix_input(jac):
    rng = np.random.default_rng(2)
    A = rng.normal(size=(3, 4))
    X = rng.normal(size=(4, 2))
    r = jac(lambda V: A @ V)(X)
    assert r.shape == (3, 2, 4, 2)
    expected = np.einsum("ik,jl->ijkl", A, np.eye(2))
    assert_close(r, expected, rtol=1e-14, atol=0)


def _elementwise_cases():
    """id -> (function of a vector, the vector, the diagonal of its Jacobian): every
    operation of the test catalogue applied to a vector (public ones through
    fastad.<name>, operators as written; binary ones with a constant vector on
    either side) at its points, and a few compositions."""
    x = np.linspace(-1.5, 1.7, 7)
    cases = {
        "v ** 3": (lambda v: v ** 3, x, 3 * x ** 2),
        "1 / (1 + v * v)": (lambda v: 1.0 / (1.0 + v * v), x, -2 * x / (1 + x * x) ** 2),
        "np.arctan": (np.arctan, x, 1 / (1 + x * x)),
    }
    for op in ops():
        f = op.function if op.public else next(iter(op.spellings.values()))
        # points where fastad's derivative is known to be inaccurate are tested
        # (as expected failures) in test_functions
        points = list(op.points)
        if op.arity == 1:
            x = np.array(points)
            cases[op.name] = (f, x, op.d(x))
        else:
            a, b = (np.array([p[k] for p in points]) for k in (0, 1))
            da, db = op.d(a, b)
            cases[f"{op.name}(x, b)"] = (lambda v, f=f, b=b: f(v, b), a, da)
            cases[f"{op.name}(a, x)"] = (lambda v, f=f, a=a: f(a, v), b, db)
    return cases


ELEMENTWISE = _elementwise_cases()


@pytest.mark.parametrize("case", ELEMENTWISE)
def test_elementwise_functions_give_diagonal_jacobians(jac, case):
    fn, x, diagonal = ELEMENTWISE[case]
    r = jac(fn)(x)
    assert_close(r, np.diag(diagonal), rtol=1e-13, atol=1e-15)


def bratu_residual(u, lam=2.0):
    """1-D Bratu problem -u'' = lam exp(u) on (0, 1), u = 0 on the boundary,
    by central differences on n interior points."""
    n = len(u)
    h = 1.0 / (n + 1)
    F = np.empty(n, dtype=object)
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        F[i] = (left - 2.0 * u[i] + right) / (h * h) + lam * fastad.exp(u[i])
    return F


def bratu_jacobian(u, lam=2.0):
    n = len(u)
    h = 1.0 / (n + 1)
    J = np.diag(-2.0 / h ** 2 + lam * np.exp(u))
    J += np.diag(np.full(n - 1, 1.0 / h ** 2), 1) + np.diag(np.full(n - 1, 1.0 / h ** 2), -1)
    return J


def test_discretised_pde_residual(jac):
    n = 40
    s = np.linspace(0.0, 1.0, n + 2)[1:-1]
    u = 0.3 * np.sin(np.pi * s)
    r = jac(bratu_residual)(u)
    assert r.shape == (n, n)
    assert_close(r, bratu_jacobian(u), rtol=1e-13, atol=1e-9)
    # and a central-difference check of a few columns
    assert_close(r, central_diff_jacobian(lambda v: fastad.value(bratu_residual(v)), u),
                 rtol=1e-5, atol=1e-3)


def test_two_dimensional_pde_residual(jac):
    # 5-point Laplacian plus a cubic term on an n x n grid, zero boundary.
    n = 5
    h = 1.0 / (n + 1)
    rng = np.random.default_rng(3)
    U = rng.normal(size=(n, n))

    def residual(V):
        P = np.zeros((n + 2, n + 2), dtype=object)
        P[1:-1, 1:-1] = V
        lap = (P[:-2, 1:-1] + P[2:, 1:-1] + P[1:-1, :-2] + P[1:-1, 2:] - 4.0 * P[1:-1, 1:-1]) / h ** 2
        return lap + V ** 3

    r = jac(residual)(U)
    assert r.shape == (n, n, n, n)
    expected = np.zeros((n, n, n, n))
    for i in range(n):
        for j in range(n):
            expected[i, j, i, j] = -4.0 / h ** 2 + 3.0 * U[i, j] ** 2
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                if 0 <= i + di < n and 0 <= j + dj < n:
                    expected[i, j, i + di, j + dj] = 1.0 / h ** 2
    assert_close(r, expected, rtol=1e-13, atol=1e-10)


def test_against_central_differences(jac):
    rng = np.random.default_rng(4)
    W = rng.normal(size=(3, 4))
    x = rng.normal(size=4)

    def f(v):
        z = W @ v
        return np.array([fastad.sin(z[0]) * z[1], fastad.log1p(z[2] ** 2), v[0] * v[3] / (1.0 + v[1] ** 2),
                         fastad.hypot(v[2], 1.0)], dtype=object)

    r = jac(f)(x)
    assert_close(r, central_diff_jacobian(lambda v: fastad.value(f(v)), x), rtol=1e-6, atol=1e-8)


def test_jacobian_of_scalar_function_equals_grad(jac):
    rng = np.random.default_rng(5)

    def f(p):
        return np.sum(fastad.sin(p["a"]) * p["b"][0]) + p["b"][1] ** 2

    x = {"a": rng.normal(size=(2, 3)), "b": [0.7, -1.1]}
    r = jac(f)(x)
    g = fastad.grad(f)(x)
    assert_close(r["a"], g["a"], rtol=0, atol=0)
    assert [float(v) for v in r["b"]] == g["b"]
    for xs in (2.0, np.linspace(0, 1, 5)):
        assert_close(jac(lambda v: np.sum(v ** 3))(xs), fastad.grad(lambda v: np.sum(v ** 3))(xs), 0, 0)


# ---- one recording per call -------------------------------------------------------------

@pytest.mark.parametrize("m", [1, 10, 300])
def test_f_is_called_once_per_jacobian_call(jac, m):
    calls = []
    x = np.linspace(0.1, 1.0, 4)

    def f(v):
        calls.append(1)
        s = np.sum(v * v)
        return np.array([s * (k + 1) for k in range(m)], dtype=object)

    J = jac(f)
    r = J(x)
    assert len(calls) == 1
    assert r.shape == (m, 4)
    assert_close(r, np.outer(np.arange(1, m + 1), 2 * x))
    J(x)
    assert len(calls) == 2


def test_all_rows_come_from_the_same_recording(jac):
    # f records something different on every call: if any row came from a
    # second recording it would not match the first one.
    counter = [0]

    def f(v):
        counter[0] += 1
        c = float(counter[0])
        return [v[0] * c, v[1] * c, v[0] * v[1] * c]

    r = jac(f)(np.array([2.0, 3.0]))
    assert counter[0] == 1
    assert_close(r, [[1.0, 0.0], [0.0, 1.0], [3.0, 2.0]])


# ---- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("out,what", [
    (None, "NoneType"),
    ("abc", "str"),
    (b"abc", "bytes"),
    ({"a": 1.0}, "dict"),
    (object(), "object"),
])
def test_non_numeric_outputs_raise_type_error(jac, out, what):
    with pytest.raises(TypeError, match=what):
        jac(lambda x: out)(1.0)
    # the library is usable afterwards
    assert_close(jac(lambda x: [x])(2.0), [1.0])


def test_list_holding_a_bad_element_names_it(jac):
    with pytest.raises(TypeError, match=r"element 1 .*NoneType"):
        jac(lambda x: [x, None])(1.0)


def test_array_of_strings_output(jac):
    with pytest.raises(TypeError):
        jac(lambda x: np.array(["a", "b"]))(1.0)


@pytest.mark.parametrize("out", [
    lambda x: [[x, x], [x, x]],
    lambda x: [x, [x]],
    lambda x: (x, (x, x)),
    lambda x: [x, np.array([x, x])],
])
def test_nested_sequences_raise_type_error_suggesting_an_array(jac, out):
    with pytest.raises(TypeError, match="array"):
        jac(out)(1.0)


def test_var_of_another_tape_raises_tape_error(jac):
    escaped = []
    fastad.grad(lambda x: escaped.append(x) or x)(1.0)
    with pytest.raises(fastad.TapeError, match="another tape"):
        jac(lambda x: escaped[0])(1.0)
    with pytest.raises(fastad.TapeError, match="another tape"):
        jac(lambda x: [x, escaped[0]])(1.0)
    with pytest.raises(fastad.TapeError, match="another tape"):
        jac(lambda x: np.array([escaped[0], x], dtype=object))(np.ones(2))
    with pytest.raises(fastad.TapeError):
        jac(lambda x: x * escaped[0])(1.0)


def test_var_of_a_tape_block_raises_tape_error(jac):
    with fastad.Tape() as t:
        w = t.var(1.0)
    with pytest.raises(fastad.TapeError):
        jac(lambda x: [w, x])(1.0)


def test_exception_inside_f_propagates_and_leaves_state_clean(jac):
    leaked = []

    class Boom(Exception):
        pass

    def f(x):
        leaked.append(x)
        raise Boom

    with pytest.raises(Boom):
        jac(f)(np.ones(3))
    with pytest.raises(fastad.TapeError, match="finished"):
        leaked[0][0] * 2.0
    assert_close(jac(lambda x: x * 2.0)(np.ones(2)), 2.0 * np.eye(2))


@pytest.mark.parametrize("bad", ["abc", None, object(), np.array(["a"]), [1.0, "a"]])
def test_bad_argument_raises_type_error(jac, bad):
    with pytest.raises(TypeError, match="argument 0"):
        jac(lambda x: x)(bad)


def test_f_not_callable():
    with pytest.raises(TypeError, match="callable"):
        jacobian(3.0)
    with pytest.raises(TypeError, match="callable"):
        jacrev("f")


def test_wrapper_keeps_name_and_doc():
    def my_function(x):
        """Doc of my_function."""
        return x

    assert jacobian(my_function).__name__ == "my_function"
    assert jacobian(my_function).__doc__ == "Doc of my_function."
    assert jacrev(my_function).__name__ == "my_function"
