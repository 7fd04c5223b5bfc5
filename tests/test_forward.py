"""Forward (tangent) mode: jvp, jacfwd, jacobian(mode="forward") and the
Function's jvp, against reverse mode and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastad

from catalogue import ops
from conftest import central_diff_directional


def test_jvp_scalar_and_structures():
    out, tangent = fastad.jvp(lambda x, y: x * y + fastad.sin(x), (2.0, 3.0), (1.0, 0.5))
    assert out == pytest.approx(6.0 + np.sin(2.0))
    assert tangent == pytest.approx(3.0 + np.cos(2.0) + 0.5 * 2.0)
    assert isinstance(out, float) and isinstance(tangent, float)

    def f(p, xs):
        return np.array([p["a"] * xs[0], p["b"][1] * xs[1], 7.0])

    primals = ({"a": 2.0, "b": [1.0, 3.0]}, np.array([4.0, 5.0]))
    tangents = ({"a": 1.0, "b": [0.0, 1.0]}, np.array([0.0, 2.0]))
    out, tangent = fastad.jvp(f, primals, tangents)
    np.testing.assert_allclose(out, [8.0, 15.0, 7.0])
    np.testing.assert_allclose(tangent, [4.0, 5.0 + 3.0 * 2.0, 0.0])


def test_jvp_equals_jacobian_times_tangent():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 4))
    f = lambda x: fastad.tanh(A @ x) * np.sum(x * x)  # noqa: E731
    x, v = rng.normal(size=4), rng.normal(size=4)
    _, tangent = fastad.jvp(f, (x,), (v,))
    np.testing.assert_allclose(tangent, fastad.jacrev(f)(x) @ v, rtol=1e-13)
    fd = central_diff_directional(lambda t: fastad.value(f(t)), x, v)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-8)


def test_jvp_takes_a_0d_array_as_a_scalar_tangent():
    # autograd's checks draw scalar directions as 0-d arrays; inside a
    # transform such an array holds a Var (dtype object), as vjp accepts.
    expected = (np.sin(0.5), np.cos(0.5))
    for tangent in (np.array(1.0), np.array(1.0, dtype=object), np.array(1)):
        assert fastad.jvp(np.sin, (0.5,), (tangent,)) == pytest.approx(expected)
    nested = fastad.grad(lambda v: fastad.jvp(np.sin, (0.5,), (v,))[1])(np.array(2.0))
    assert nested == pytest.approx(np.cos(0.5))
    with pytest.raises(TypeError, match="tangent 0: expected a real number, got an object "
                                        "of type str"):
        fastad.jvp(np.sin, (0.5,), (np.array("a", dtype=object),))


def test_jvp_errors():
    f = lambda x: x * x  # noqa: E731
    with pytest.raises(TypeError, match="tuples"):
        fastad.jvp(f, 1.0, 1.0)
    with pytest.raises(ValueError, match="tangents"):
        fastad.jvp(f, (1.0,), (1.0, 2.0))
    with pytest.raises(ValueError, match="shape"):
        fastad.jvp(f, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="number"):
        fastad.jvp(f, (1.0,), ("a",))
    with pytest.raises(TypeError, match="complex"):
        fastad.jvp(f, (1.0,), (1j,))


@pytest.mark.parametrize("n_in, n_out", [(3, 40), (40, 3), (70, 5)])
def test_jacfwd_matches_jacrev(n_in, n_out):
    rng = np.random.default_rng(n_in)
    A = rng.normal(size=(n_out, n_in))
    f = lambda x: fastad.sin(A @ x) + x[0] * x[-1]  # noqa: E731
    x = rng.normal(size=n_in)
    np.testing.assert_allclose(fastad.jacfwd(f)(x), fastad.jacrev(f)(x), rtol=1e-12, atol=1e-14)


def test_jacfwd_shapes_and_argnums():
    f = lambda x, y: x[:, None] * y  # noqa: E731  (3,) x (2,) -> (3, 2)
    jx, jy = fastad.jacfwd(f, argnums=(0, 1))(np.arange(3.0), np.array([1.0, 2.0]))
    assert jx.shape == (3, 2, 3) and jy.shape == (3, 2, 2)
    np.testing.assert_allclose(jx, fastad.jacrev(f, argnums=0)(np.arange(3.0), np.array([1.0, 2.0])))


# Every operation of the test catalogue as a binary node (a unary one ignores
# its second operand), its operands squashed into (-1, 1) by tanh and mapped
# into its domain; kinks included (both modes take the same one-sided partials).
def _squashed(op):
    if op.arity == 1:
        return lambda a, b: op.apply(fastad.tanh(a))
    return lambda a, b: op.apply(fastad.tanh(a), fastad.tanh(b))


OPS = [_squashed(op) for op in ops()]


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, len(OPS) - 1), st.integers(0, 50), st.integers(0, 50)),
                min_size=1, max_size=12),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.integers(1, 4))
def test_forward_and_reverse_jacobians_agree_on_random_programs(program, x0, n_out):
    def f(x):
        values = list(x)
        for op, i, j in program:
            values.append(OPS[op](values[i % len(values)], values[j % len(values)]))
        return np.array(values[-n_out:], dtype=object)

    x = np.array(x0)
    forward = fastad.jacfwd(f)(x)
    reverse = fastad.jacrev(f)(x)
    np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-12)
    F = fastad.trace(f, x)
    np.testing.assert_allclose(F.jacobian(x, mode="forward"), reverse, rtol=1e-10, atol=1e-12)


def test_a_zero_factor_contributes_nothing_in_every_mode():
    # sqrt'(0) = inf times the structural zero of `* 0.0` is 0, not nan, in
    # reverse and forward mode, replayed, second order and emitted alike.
    import fastad as fa
    f = lambda x: fa.sqrt(x) * 0.0 + x  # noqa: E731
    assert fa.grad(f)(0.0) == 1.0
    assert fa.jacrev(f)(0.0) == 1.0
    assert fa.jacfwd(f)(0.0) == 1.0
    assert fa.jvp(f, (0.0,), (1.0,)) == (0.0, 1.0)
    F = fa.trace(f, 0.0)
    assert F.grad(0.0) == 1.0
    assert F.jacobian(0.0, mode="forward") == 1.0
    assert F.jacobian(0.0, mode="reverse") == 1.0
    assert F.jvp(0.0, 1.0) == (0.0, 1.0)
    assert F.hvp(0.0, 1.0) == 0.0
    assert F.grad_function()(0.0) == 1.0
    assert fa.grad(fa.grad(f))(0.0) == 0.0
    # an infinite adjoint times a zero partial: f is constant 0
    g = lambda x: fa.sqrt(0.0 * x)  # noqa: E731
    for mode in (fa.grad, fa.jacrev, fa.jacfwd, fa.hessian):
        assert mode(g)(1.0) == 0.0
