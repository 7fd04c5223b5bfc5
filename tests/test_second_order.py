"""Second order: hessian and hvp (transforms and Function), against SciPy's
analytic Rosenbrock Hessian, closed forms and finite differences."""

import numpy as np
import pytest

import fastad

from conftest import FD_STEP_OF_DERIVATIVE, central_diff, central_diff_directional

optimize = pytest.importorskip("scipy.optimize")


def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


@pytest.mark.parametrize("n", [2, 5, 30])
def test_rosenbrock_hessian_and_hvp_match_scipy(n):
    rng = np.random.default_rng(n)
    x, v = rng.normal(size=n), rng.normal(size=n)
    H = fastad.hessian(rosenbrock)(x)
    np.testing.assert_allclose(H, optimize.rosen_hess(x), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(fastad.hvp(rosenbrock, x, v), optimize.rosen_hess_prod(x, v),
                               rtol=1e-12, atol=1e-9)
    F = fastad.trace(rosenbrock, x)
    y = rng.normal(size=n)
    np.testing.assert_allclose(F.hessian(y), optimize.rosen_hess(y), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(F.hvp(y, v), optimize.rosen_hess_prod(y, v), rtol=1e-12, atol=1e-9)


def test_hessian_of_compositions():
    f = lambda x: fastad.exp(x[0]) * fastad.log(x[1]) + fastad.sin(x[0] * x[1])  # noqa: E731
    x = np.array([0.3, 1.7])
    a, b = x
    expected = np.array([
        [np.exp(a) * np.log(b) - b * b * np.sin(a * b),
         np.exp(a) / b + np.cos(a * b) - a * b * np.sin(a * b)],
        [np.exp(a) / b + np.cos(a * b) - a * b * np.sin(a * b),
         -np.exp(a) / b ** 2 - a * a * np.sin(a * b)]])
    np.testing.assert_allclose(fastad.hessian(f)(x), expected, rtol=1e-13)


def test_polynomial_hessian_is_exact():
    f = lambda x: x[0] ** 3 * x[1] + 2 * x[1] ** 2 - x[0] * x[1] * 5  # noqa: E731
    H = fastad.hessian(f)(np.array([2.0, -1.0]))
    np.testing.assert_array_equal(H, [[6 * 2 * -1.0, 3 * 4.0 - 5], [3 * 4.0 - 5, 4.0]])


def test_hessian_shapes_and_structures():
    f = lambda x: np.sum(x ** 3)  # noqa: E731
    x = np.arange(6.0).reshape(2, 3)
    H = fastad.hessian(f)(x)
    assert H.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(H.reshape(6, 6), np.diag(6 * x.ravel()))
    assert fastad.hessian(lambda t: t ** 4)(2.0) == pytest.approx(48.0)
    g = fastad.hvp(lambda p: p["a"] ** 2 * p["b"], {"a": 3.0, "b": 2.0}, {"a": 1.0, "b": 0.0})
    assert g == {"a": pytest.approx(4.0), "b": pytest.approx(6.0)}


def test_hessian_errors():
    with pytest.raises(TypeError, match="scalar"):
        fastad.hessian(lambda x: x * 2.0)(np.ones(2))
    with pytest.raises(TypeError, match="argnums"):
        fastad.hessian(lambda x, y: x * y, argnums=(0, 1))
    with pytest.raises(ValueError, match="shape"):
        fastad.hvp(lambda x: np.sum(x * x), np.ones(3), np.ones(2))
    F = fastad.trace(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(TypeError, match="scalar"):
        F.hvp(np.ones(2), np.ones(2))


def test_hvp_equals_finite_differences_of_the_gradient():
    f = lambda x: fastad.tanh(x[0] * x[1]) + fastad.sqrt(x[2]) * x[0] ** 2  # noqa: E731
    x, v = np.array([0.4, -0.7, 2.0]), np.array([1.0, 0.5, -0.3])
    fd = central_diff_directional(fastad.grad(f), x, v)
    np.testing.assert_allclose(fastad.hvp(f, x, v), fd, rtol=1e-6, atol=1e-8)


def test_newton_cg_with_function_hvp_matches_scipy():
    n = 100
    x0 = np.linspace(-1.0, 1.5, n)
    F = fastad.trace(rosenbrock, x0)
    options = {"xtol": 1e-12}
    ours = optimize.minimize(F.value_and_grad, x0, jac=True, hessp=F.hvp, method="Newton-CG",
                             options=options)
    theirs = optimize.minimize(optimize.rosen, x0, jac=optimize.rosen_der,
                               hessp=optimize.rosen_hess_prod, method="Newton-CG",
                               options=options)
    assert ours.success and theirs.success
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)
    np.testing.assert_allclose(ours.x, np.ones(n), atol=1e-4)


@pytest.mark.parametrize("name", ["sqrt", "log", "arcsin", "tanh", "sigmoid", "erf", "cbrt"])
def test_fourth_derivative_free_functions_have_exact_second_derivative_at_many_points(name):
    fn = getattr(fastad, name)
    xs = np.linspace(0.1, 0.9, 9)
    got = np.array([fastad.hessian(fn)(x) for x in xs])
    fd = np.array([central_diff(fastad.grad(fn), x, FD_STEP_OF_DERIVATIVE) for x in xs])
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


# ---- grad_function: derivatives written out as tape entries -------------------------

import math  # noqa: E402

from catalogue import CATALOGUE, names  # noqa: E402


@pytest.mark.parametrize("name", names(arity=1))
def test_grad_function_of_every_unary_op_matches_numeric_rules(name):
    op = CATALOGUE[name]
    f, dref = op.record, op.d
    for x in op.points:
        G = fastad.trace(f, x).grad_function()
        assert G(x) == pytest.approx(float(dref(x)), rel=1e-12, abs=1e-300)
        # Its derivative is the second derivative from the numeric rules.
        assert G.grad(x) == pytest.approx(fastad.hessian(f)(x), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name, a, b", [
    (n, *p) for n in names(arity=2) for p in CATALOGUE[n].points])
def test_grad_function_of_every_binary_op_matches_numeric_rules(name, a, b):
    op = CATALOGUE[name]
    f, dref = op.record, op.d
    x = np.array([a, b])
    F = fastad.trace(lambda v: f(v[0], v[1]), x)
    G = F.grad_function()
    np.testing.assert_allclose(G(x), np.array(dref(a, b), dtype=float), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(G.jacobian(x), F.hessian(x), rtol=1e-10, atol=1e-12)
    for const_first in (False, True):  # the VC and CV variants
        g = (lambda t: f(a, t)) if const_first else (lambda t: f(t, b))
        at = b if const_first else a
        assert fastad.trace(g, at).grad_function().grad(at) == pytest.approx(
            fastad.hessian(g)(at), rel=1e-10, abs=1e-12)


def test_derivatives_of_any_order():
    t = 0.7
    d = fastad.trace(lambda x: fastad.sin(x) * fastad.exp(x), t)
    expected = [np.exp(t) * (np.sin(t) + np.cos(t)), 2 * np.exp(t) * np.cos(t),
                2 * np.exp(t) * (np.cos(t) - np.sin(t)), -4 * np.exp(t) * np.sin(t)]
    for k in range(4):
        d = d.grad_function()
        assert d(t) == pytest.approx(expected[k], rel=1e-13)
    # Fourth derivative of exp(2x) at several points, replayed.
    e4 = fastad.trace(lambda x: fastad.exp(2.0 * x), 0.0)
    for _ in range(4):
        e4 = e4.grad_function()
    for x in (-1.0, 0.0, 0.5):
        assert e4(x) == pytest.approx(16 * math.exp(2 * x), rel=1e-13)


def test_grad_function_jacobian_is_the_hessian_and_replays():
    n = 8
    x = np.linspace(-1, 1, n)
    G = fastad.trace(rosenbrock, x).grad_function()
    assert G.n_inputs == n and G.n_outputs == n
    for y in np.random.default_rng(2).normal(size=(3, n)):
        np.testing.assert_allclose(G(y), optimize.rosen_der(y), rtol=1e-13, atol=1e-10)
        np.testing.assert_allclose(G.jacobian(y), optimize.rosen_hess(y), rtol=1e-13, atol=1e-9)
        v = np.ones(n)
        np.testing.assert_allclose(G.jvp(y, v)[1], optimize.rosen_hess_prod(y, v),
                                   rtol=1e-12, atol=1e-9)


def test_grad_function_follows_branches_and_retraces():
    calls = []

    def f(x):
        calls.append(1)
        return x * x if x > 0 else -x * x * x

    G = fastad.trace(f, 1.0).grad_function()
    assert G(2.0) == 4.0 and G(-2.0) == -12.0 and G(3.0) == 6.0
    assert G.grad(-1.0) == 6.0
    H = fastad.trace(f, 1.0, retrace=False).grad_function()
    with pytest.raises(fastad.BranchError):
        H(-1.0)
    # Conventions at awkward points are guarded: hypot at the origin.
    K = fastad.trace(lambda v: fastad.hypot(v[0], v[1]), np.array([3.0, 4.0])).grad_function()
    np.testing.assert_allclose(K(np.array([3.0, 4.0])), [0.6, 0.8])
    np.testing.assert_array_equal(K(np.array([0.0, 0.0])), [0.0, 0.0])


def test_grad_function_needs_a_scalar_output():
    with pytest.raises(TypeError, match="scalar"):
        fastad.trace(lambda x: x * 2.0, np.ones(2)).grad_function()


def test_lane_blocks_capped_by_memory_give_the_same_results():
    from fastad import _core
    x = np.linspace(-1.0, 1.0, 40)
    full_h = fastad.hessian(rosenbrock)(x)
    full_j = fastad.jacfwd(lambda v: fastad.sin(v) * v[0])(x)
    old = _core._set_lane_buffer_bytes(8 * 500)  # only one or two lanes fit
    try:
        np.testing.assert_array_equal(fastad.hessian(rosenbrock)(x), full_h)
        np.testing.assert_array_equal(fastad.jacfwd(lambda v: fastad.sin(v) * v[0])(x), full_j)
    finally:
        _core._set_lane_buffer_bytes(old)
