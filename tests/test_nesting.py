"""Transforms inside transforms: exact to any depth, with no perturbation
confusion (derivatives of different levels never mix)."""

import math

import numpy as np
import pytest

import fastad
from fastad import grad, hessian, jacobian, jvp, value_and_grad, vjp

from conftest import central_diff_grad


def test_perturbation_confusion():
    # The classic: d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1, not 2.
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(5.0) == 1.0
    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x
    assert grad(lambda x: x * grad(lambda y: x * y)(3.0))(5.0) == 10.0
    assert grad(lambda x: x * grad(lambda y: y ** 2)(x))(3.0) == 12.0  # d/dx 2x^2


@pytest.mark.parametrize("f, derivatives", [
    (fastad.sin, lambda t: [math.cos(t), -math.sin(t), -math.cos(t), math.sin(t)]),
    (fastad.exp, lambda t: [math.exp(t)] * 4),
    (lambda x: fastad.exp(x) * fastad.sin(x), lambda t: [
        math.exp(t) * (math.sin(t) + math.cos(t)), 2 * math.exp(t) * math.cos(t),
        2 * math.exp(t) * (math.cos(t) - math.sin(t)), -4 * math.exp(t) * math.sin(t)]),
])
def test_fourth_order_by_nesting_grad(f, derivatives):
    t = 0.7
    d = f
    for order in range(4):
        d = grad(d)
        assert d(t) == pytest.approx(derivatives(t)[order], rel=1e-13)


def test_mixed_nestings_agree_with_closed_forms():
    x = np.array([0.5, -1.2, 2.0])
    f = lambda v: fastad.sin(v[0]) * v[1] ** 2 + fastad.exp(v[2] * v[0])  # noqa: E731
    H = hessian(f)(x)
    np.testing.assert_allclose(fastad.value(jacobian(grad(f))(x)), H, rtol=1e-13)
    # the Hessian differentiated once more: d/dx0 of H[0, 0] = d3f/dx0^3
    third = grad(lambda v: hessian(f)(v)[0, 0])(x)
    a, b, c = x
    np.testing.assert_allclose(third[0], -math.cos(a) * b ** 2 + c ** 3 * math.exp(c * a),
                               rtol=1e-12)
    _, tangent = jvp(grad(f), (x,), (np.array([1.0, 0.0, 0.0]),))
    np.testing.assert_allclose(fastad.value(tangent), H[0], rtol=1e-13)
    out, fn = vjp(grad(f), x)
    np.testing.assert_allclose(fastad.value(fn(np.array([0.0, 1.0, 0.0]))[0]), H[1], rtol=1e-13)


def test_nested_with_arrays_and_closures():
    W = np.array([[1.0, 2.0], [0.5, -1.0]])

    def energy(x, theta):
        return np.sum(fastad.tanh(W @ x) * theta)

    x = np.array([0.3, -0.4])
    # d/dtheta of |d energy / dx|^2: a gradient of a gradient through a closure
    def sq_norm_of_grad(theta):
        g = grad(energy)(x, theta)
        return np.sum(g * g)

    got = grad(sq_norm_of_grad)(np.array([1.0, 2.0]))
    fd = central_diff_grad(lambda t: fastad.value(sq_norm_of_grad(t)), np.array([1.0, 2.0]))
    np.testing.assert_allclose(got, fd, rtol=1e-6)


def test_value_and_grad_inside_grad_gives_vars():
    def f(x):
        value, g = value_and_grad(lambda y: y ** 3 * x)(2.0)
        assert isinstance(value, fastad.Var) and isinstance(g, fastad.Var)
        return value + g  # 8x + 12x

    assert grad(f)(1.5) == 20.0


def test_branches_inside_nested_transforms_are_guarded():
    inner = lambda y: y * y if y > 0 else -y  # noqa: E731
    F = fastad.trace(lambda x: grad(inner)(x) * x, 1.0)
    assert F(2.0) == 8.0       # 2x * x
    assert F(-2.0) == 2.0      # -1 * x
    assert F.grad(3.0) == 12.0


# ---- regressions found in review ---------------------------------------------------------

def test_nested_vjp_fn_after_its_tape_finished_raises():
    keep = []

    def f(x):
        out, vjp_fn = vjp(lambda y: fastad.sin(y) * x, x)
        keep.append(vjp_fn)
        return out

    F = fastad.trace(f, 0.5)
    n_ops = F.n_ops
    with pytest.raises(fastad.TapeError):
        keep[0](1.0)
    assert F.n_ops == n_ops  # the Function's tape is untouched


def test_guards_of_an_inner_transform_that_raised_reach_the_trace():
    def g(y):
        if y > 0:
            return y * y
        raise ValueError

    def f(x):
        try:
            return grad(g)(x)
        except ValueError:
            return -x

    F = fastad.trace(f, -1.0)
    assert F(2.0) == 4.0 and F(-3.0) == 3.0


def test_emitted_rules_keep_second_order_information_at_convention_points():
    assert grad(grad(lambda x: fastad.logaddexp(x, 0.0)))(0.0) == pytest.approx(0.25)
    assert grad(lambda y: grad(lambda a: a ** y)(2.0))(0.0) == pytest.approx(0.5)
    J = fastad.value(jacobian(grad(lambda v: v[0] ** v[1]))(np.array([2.0, 0.0])))
    np.testing.assert_allclose(J, J.T, rtol=1e-14)


def test_zero_seeds_and_structural_zeros_do_not_make_nan():
    got = grad(lambda s: jacobian(lambda x: [fastad.sqrt(x[0]), x[1]])(np.array([0.0, s]))[1, 0])(1.0)
    assert got == 0.0
    H = fastad.hessian(lambda x: fastad.sqrt(x[0]) + x[1] ** 2)(np.array([0.0, 1.0]))
    assert H[1, 1] == 2.0 and H[0, 1] == 0.0 and H[1, 0] == 0.0
    J = jacobian(lambda x: [fastad.sqrt(x[0]) + x[1], x[1]])(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(J, [[np.inf, 1.0], [0.0, 1.0]])
    # an entry the output does not use contributes nothing (not 0 * inf)
    assert fastad.grad(lambda x: (fastad.sqrt(x[0]), x[1] * 2.0)[1])(np.array([0.0, 1.0]))[0] == 0.0


def test_transforms_and_tape_blocks_mix():
    def h(x):
        with fastad.Tape():
            r = grad(lambda y: x * y * y)(2.0)
        return r * x

    assert grad(h)(3.0) == 24.0

    def h2(x):
        with fastad.Tape() as t:
            y = t.var(3.0)
            z = x * y * y
        return t.gradient(z, y) * x

    # Tape.gradient inside a transform is a Var of the transform's tape:
    # d/dx (2 x y * x) = 4 x y
    assert grad(h2)(3.0) == 36.0
    with fastad.Tape() as t1:
        a = t1.var(3.0)
        with fastad.Tape() as t2:
            b = t2.var(2.0)
            c = a * b * b
        g = t2.gradient(c, b)       # 2 a b, a Var of t1
        d = a * g
    assert isinstance(g, fastad.Var) and g.value == 12.0
    assert t1.gradient(d, a) == 24.0  # d/da 2 a^2 b


def test_var_tangents_and_directions_from_an_enclosing_transform():
    assert grad(lambda v: jvp(lambda y: y ** 3, (2.0,), (v,))[1])(1.0) == 12.0
    assert grad(lambda v: fastad.hvp(lambda y: y ** 3, 2.0, v))(1.0) == 12.0


def test_nested_second_order_on_structured_arguments():
    f = lambda p: p["a"] ** 2 * p["b"][0] * p["b"][1]  # noqa: E731
    H = hessian(f)({"a": 1.0, "b": [2.0, 3.0]})
    assert H["a"]["b"] == [6.0, 4.0] and H["b"][1]["b"] == [1.0, 0.0]
    # H_aa = 2 b0 b1 = 4 s with b1 = s
    assert grad(lambda s: hessian(f)({"a": s, "b": [2.0, s]})["a"]["a"])(1.0) == 4.0
    # (H v)_b0 with v = e_a is 2 a b1 = 6 s
    assert grad(lambda s: fastad.hvp(f, {"a": s, "b": [2.0, 3.0]},
                                     {"a": 1.0, "b": [0.0, 0.0]})["b"][0])(1.0) == 6.0
    # the nested Hessian of a list has the same structure as the top-level one
    top = hessian(lambda v: v[0] ** 2 * v[1])([1.0, 2.0])
    nested = grad(lambda s: hessian(lambda v: v[0] ** 2 * v[1] * s)([1.0, 2.0])[0][1])(1.0)
    assert top[0][1] == 2.0 and nested == 2.0
