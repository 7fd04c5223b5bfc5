"""fastad.trace and Function (docs/api.md section 3): replayed values and derivatives
at new points against re-recording (fastad.grad / value_and_grad / vjp /
jacobian), plain floats and central differences; input and output kinds;
*args as constants; the size attributes; errors for bad inputs; nan and inf;
pickling; SciPy; non-smooth functions without re-tracing; a tape of 10**7
entries; grad_function and forward-mode replay."""

import json
import math
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastad

from conftest import (Counted, assert_close, central_diff, central_diff_grad,
                      central_diff_jacobian, same_float)


# ---- helpers -------------------------------------------------------------------------------

def same_bits(a, b):
    """a and b (numbers or arrays) are the same floats, element by element
    (nan equal to nan, the sign of zero compared)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    return all(same_float(p, q) for p, q in zip(a.reshape(-1), b.reshape(-1)))


def assert_same(a, b):
    assert same_bits(a, b), (a, b)


RNG_SEED = 20240604


def points(shape, n=25, scale=2.0, seed=RNG_SEED):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-scale, scale, size=shape) for _ in range(n)]


# ---- the functions (only + - * / ** and fastad functions: plain floats give the same bits) --

def f_scalar(x):
    return x * fastad.sin(x) + fastad.exp(x / 3.0) - 1.5 / (1.0 + x * x) + fastad.tanh(2.0 * x) ** 2


def f_vector(x):
    total = 0.0
    for i in range(len(x)):
        total = total + fastad.cos(x[i]) * x[i] - x[i] / (2.0 + fastad.sin(x[(i + 1) % len(x)]))
    return total * fastad.sigmoid(x[0]) + fastad.log1p(x[1] * x[1]) - fastad.hypot(x[2], 1.0)


def f_matrix(x):
    total = 0.0
    rows, cols = x.shape
    for i in range(rows):
        for j in range(cols):
            total = total + (i + 1.0) * x[i, j] * fastad.arctan(x[(i + 1) % rows, j]) - fastad.exp(x[i, j] / (j + 2.0))
    return total / 7.0 + x[0, 0] * x[1, 2]


def f_list(xs):
    assert type(xs) is list and all(type(v) is fastad.Var for v in xs), xs
    total = 1.0
    for i, v in enumerate(xs):
        total = total * (1.0 + 0.1 * v) + fastad.sqrt(v * v + 0.5) / (i + 1)
    return total


SCALAR_CASES = {
    "scalar": (f_scalar, 0.4, None),
    "vector": (f_vector, np.array([0.3, -0.2, 0.5, 1.1]), (4,)),
    "matrix": (f_matrix, np.array([[0.1, 0.2, -0.3], [0.7, -1.1, 0.4]]), (2, 3)),
}


def _as_input(x, shape):
    return float(x) if shape is None else x


# ---- scalar outputs: values, gradients, vjp and jacobian at new points -----------------------

@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_scalar_output_replays_equal_rerecording_bit_for_bit(case):
    f, x0, shape = SCALAR_CASES[case]
    counted = Counted(f)
    F = fastad.trace(counted, x0)
    assert counted.calls == 1
    for p in points(() if shape is None else shape):
        x = _as_input(p, shape)
        value = F(x)
        assert type(value) is float
        # the same rules as recording: the same bits as f on plain floats ...
        assert_same(value, f(x))
        # ... and as a fresh recording at x
        v_ref, g_ref = fastad.value_and_grad(f)(x)
        assert_same(value, v_ref)
        v, g = F.value_and_grad(x)
        assert type(v) is float
        assert_same(v, v_ref)
        assert_same(g, g_ref)
        assert_same(F.grad(x), fastad.grad(f)(x))
        if shape is None:
            assert type(g) is float and type(F.grad(x)) is float
        else:
            assert isinstance(g, np.ndarray) and g.shape == shape and g.dtype == np.float64
        out, vjp_fn = fastad.vjp(f, x)
        v2, ct = F.vjp(x, 2.5)
        assert_same(v2, out)
        assert_same(ct, vjp_fn(2.5)[0])
        assert_same(F.jacobian(x), fastad.jacobian(f)(x))
        assert_same(F.jacobian(x, mode="reverse"), fastad.jacobian(f, mode="reverse")(x))
    assert counted.calls == 1  # no re-tracing: f has no branches


@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_scalar_output_gradient_matches_central_differences(case):
    f, x0, shape = SCALAR_CASES[case]
    F = fastad.trace(f, x0)
    for p in points(() if shape is None else shape, n=4, seed=7):
        if shape is None:
            assert_close(F.grad(float(p)), central_diff(F, float(p)), rtol=1e-6, atol=1e-7)
        else:
            assert_close(F.grad(p), central_diff_grad(F, p), rtol=1e-6, atol=1e-7)


def test_analytic_gradients():
    F = fastad.trace(lambda x: x**3 - 2.0 * x, 1.0)
    assert F(2.0) == 4.0
    assert F.grad(2.0) == 10.0
    assert F.value_and_grad(-1.0) == (1.0, 1.0)
    G = fastad.trace(lambda x: np.sum(x * x), np.zeros(3))
    value, grad = G.value_and_grad(np.array([1.0, 2.0, 3.0]))
    assert value == 14.0
    np.testing.assert_array_equal(grad, [2.0, 4.0, 6.0])


def test_list_input_receives_a_list_of_vars():
    x0 = [0.5, -1.0, 2.0]
    counted = Counted(f_list)
    F = fastad.trace(counted, x0)
    assert F.n_inputs == 3
    for p in points((3,), n=15, scale=3.0):
        x = [float(v) for v in p]
        v_ref, g_ref = fastad.value_and_grad(f_list)(x)
        v, g = F.value_and_grad(x)
        assert_same(v, v_ref)
        assert_same(np.asarray(g), np.asarray(g_ref))
        assert_same(np.asarray(F.grad(x)), np.asarray(g_ref))
        # an array or a tuple of the right length is accepted too
        assert_same(F(np.array(x)), v_ref)
        assert_same(F(tuple(x)), v_ref)
    assert counted.calls == 1


def test_list_input_values_equal_plain_floats():
    def f(xs):
        return xs[0] * xs[1] - fastad.exp(xs[2]) / (xs[0] + 3.0)

    F = fastad.trace(f, [1.0, 2.0, 0.5])
    for p in points((3,), n=10):
        x = [float(v) for v in p]
        assert_same(F(x), f(x))


def test_list_input_of_numpy_scalars():
    # docs/api.md section 1: NumPy scalars count as numbers
    def f(xs):
        assert type(xs) is list
        return xs[0] * xs[1] + xs[2]

    F = fastad.trace(f, [np.float64(1.0), np.float32(2.0), np.int64(3)])
    assert F([2.0, 3.0, 4.0]) == 10.0
    np.testing.assert_array_equal(np.asarray(F.grad([2.0, 3.0, 4.0])), [3.0, 2.0, 1.0])


def test_numeric_kinds_of_x_are_computed_in_float64():
    F = fastad.trace(lambda x: x * 0.1, 3)           # an int x0
    assert F(2) == 2 * 0.1 and type(F(2)) is float
    assert F(np.float32(0.5)) == float(np.float32(0.5)) * 0.1
    assert F(np.int64(4)) == 4 * 0.1
    G = fastad.trace(lambda x: x * 0.1, np.array([1, 2]))  # an int array x0
    np.testing.assert_array_equal(G(np.array([1, 2], dtype=np.float32)),
                                  np.array([1.0, 2.0]) * 0.1)
    np.testing.assert_array_equal(G([3, 4]), np.array([3.0, 4.0]) * 0.1)


def test_non_contiguous_inputs():
    F = fastad.trace(f_matrix, np.zeros((2, 3)))
    big = np.arange(24.0).reshape(4, 6) / 10.0
    x = big[::2, ::2]                                   # strided (2, 3)
    assert_same(F.value_and_grad(x)[1], fastad.grad(f_matrix)(np.ascontiguousarray(x)))
    xt = np.asfortranarray(np.array([[0.3, 0.1, -0.2], [0.5, 0.9, 1.3]]))
    assert_same(F(xt), f_matrix(np.ascontiguousarray(xt)))


def test_inputs_are_not_modified():
    F = fastad.trace(lambda x: np.sum(x * x) if x[0] > 0 else np.sum(x), np.ones(3))
    x = np.array([-1.0, 2.0, 3.0])   # re-traces here
    before = x.copy()
    F.value_and_grad(x)
    F.vjp(x, 1.0)
    F.jacobian(x)
    np.testing.assert_array_equal(x, before)


# ---- array outputs -----------------------------------------------------------------------

def out_object(x):
    return np.array([x[0] * x[1], fastad.sin(x[2]), x[1] / x[0]], dtype=object)


def out_mixed_object(x):
    return np.array([x[0], 2.5, x[1] * x[2], 3], dtype=object)


def out_float(x):
    return np.array([1.0, -2.0, 0.5])


def out_list(x):
    return [x[0] * x[2], 4.0, fastad.exp(x[1]), x[2]]


def out_tuple(x):
    return (x[1] - x[0], x[0] ** 2)


def out_2d(x):
    return np.outer(x, x) * 0.5 + fastad.cos(x)


def out_single(x):
    return [x[0] * x[1] * x[2]]


OUTPUT_CASES = {
    "object": (out_object, (3,)),
    "mixed": (out_mixed_object, (4,)),
    "float": (out_float, (3,)),
    "list": (out_list, (4,)),
    "tuple": (out_tuple, (2,)),
    "2d": (out_2d, (3, 3)),
    "single": (out_single, (1,)),
}


@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_array_output_replays_equal_rerecording(case):
    f, out_shape = OUTPUT_CASES[case]
    counted = Counted(f)
    F = fastad.trace(counted, np.array([0.5, 1.5, -0.25]))
    assert F.n_outputs == int(np.prod(out_shape))
    assert F.n_inputs == 3
    rng = np.random.default_rng(3)
    for p in points((3,), n=12, scale=2.0):
        value = F(p)
        assert isinstance(value, np.ndarray) and value.dtype == np.float64
        assert value.shape == out_shape
        assert_same(value, np.asarray(f(p), dtype=np.float64))  # plain floats
        jac = F.jacobian(p)
        assert jac.shape == out_shape + (3,)
        assert_same(jac, fastad.jacobian(f)(p))
        # Forward and reverse mode sum in different orders: equal up to
        # rounding (and the sign of zeros).
        assert_same(F.jacobian(p, mode="reverse"), fastad.jacobian(f, mode="reverse")(p))
        assert_same(F.jacobian(p, mode="forward"), fastad.jacobian(f, mode="forward")(p))
        np.testing.assert_allclose(F.jacobian(p, mode="reverse"), jac, rtol=1e-13, atol=1e-15)
        w = rng.normal(size=out_shape)
        out_ref, vjp_fn = fastad.vjp(f, p)
        out, ct = F.vjp(p, w)
        assert_same(out, out_ref)
        assert isinstance(ct, np.ndarray) and ct.shape == (3,)
        assert_same(ct, vjp_fn(w)[0])
        assert_close(ct, np.tensordot(w, jac, axes=w.ndim), rtol=1e-12, atol=1e-12)
        if case in ("list", "tuple", "single"):
            assert_same(F.vjp(p, list(w))[1], ct)   # a list cotangent
    assert counted.calls == 1


def test_array_output_jacobian_matches_central_differences():
    F = fastad.trace(out_2d, np.zeros(3))
    x = np.array([0.3, -0.7, 1.2])
    jac = F.jacobian(x)
    assert_close(jac, central_diff_jacobian(F, x), rtol=1e-6, atol=1e-8)


def test_scalar_output_is_a_float_and_array_output_an_ndarray():
    assert type(fastad.trace(lambda x: x * 2.0, 1.0)(3.0)) is float
    assert type(fastad.trace(lambda x: np.sum(x), np.ones(2))(np.ones(2))) is float
    assert type(fastad.trace(lambda x: 5, 1.0)(3.0)) is float          # a constant int
    assert type(fastad.trace(lambda x: np.float32(5.0), 1.0)(3.0)) is float
    assert type(fastad.trace(lambda x: np.array(x * 2.0, dtype=object), 1.0)(3.0)) is float
    out = fastad.trace(lambda x: [x], 1.0)(3.0)
    assert isinstance(out, np.ndarray) and out.shape == (1,) and out[0] == 3.0
    out = fastad.trace(lambda x: x * 2.0, np.ones((2, 2)))(np.ones((2, 2)))
    assert isinstance(out, np.ndarray) and out.shape == (2, 2) and out.dtype == np.float64


def test_scalar_input_array_output():
    F = fastad.trace(lambda x: np.array([x, x * x, fastad.sin(x)], dtype=object), 0.0)
    x = 0.8
    np.testing.assert_array_equal(F(x), [x, x * x, fastad.sin(x)])
    jac = F.jacobian(x)
    assert jac.shape == (3,)
    assert_same(jac, fastad.jacobian(lambda x: np.array([x, x * x, fastad.sin(x)], dtype=object))(x))
    out, ct = F.vjp(x, [1.0, 2.0, 3.0])
    assert type(ct) is float
    assert_close(ct, 1.0 + 2.0 * 2 * x + 3.0 * math.cos(x))


def test_jacobian_of_scalar_to_scalar_is_a_number():
    F = fastad.trace(lambda x: x * x, 1.0)
    jac = F.jacobian(3.0)
    assert np.shape(jac) == () and float(jac) == 6.0


# ---- *args are constants ----------------------------------------------------------------

def test_args_are_held_as_constants():
    def f(x, a, b, scale):
        return scale * np.sum(a * x) + b[0] * x[0] * x[1]

    a = np.array([1.0, -2.0, 3.0])
    b = [0.5]
    F = fastad.trace(f, np.zeros(3), a, b, 2.0)
    assert F.n_inputs == 3
    for p in points((3,), n=8):
        v_ref, g_ref = fastad.value_and_grad(f)(p, a, b, 2.0)
        v, g = F.value_and_grad(p)
        assert_same(v, v_ref)
        assert_same(g, g_ref)
        expected = 2.0 * a + np.array([0.5 * p[1], 0.5 * p[0], 0.0])
        assert_close(g, expected)


def test_args_of_a_scalar_function():
    F = fastad.trace(lambda x, c, d: c * x * x + d, 1.0, 3.0, -1.0)
    assert F(2.0) == 11.0
    assert F.grad(2.0) == 12.0


# ---- the size attributes ----------------------------------------------------------------

def tape_length(f, x0):
    with fastad.Tape() as t:
        if isinstance(x0, list):
            f([t.var(v) for v in x0])
        else:
            f(t.var(x0))
    return t.n_entries


@pytest.mark.parametrize("case", sorted(SCALAR_CASES) + ["list"])
def test_n_ops_is_the_tape_length(case):
    if case == "list":
        f, x0 = f_list, [0.5, 1.5, -2.0]
    else:
        f, x0, _ = SCALAR_CASES[case]
    F = fastad.trace(f, x0)
    assert F.n_ops == tape_length(f, x0)
    assert isinstance(F.n_ops, int) and F.n_ops > 0
    assert isinstance(F.nbytes, int) and F.nbytes > 0


def test_counts_of_a_2_by_3_input():
    F = fastad.trace(lambda x: x * 2.0, np.zeros((2, 3)))
    assert F.n_inputs == 6
    assert F.n_outputs == 6
    F = fastad.trace(lambda x: np.sum(x), np.zeros((2, 3)))
    assert (F.n_inputs, F.n_outputs) == (6, 1)
    F = fastad.trace(lambda x: [x, x, x], 1.0)
    assert (F.n_inputs, F.n_outputs) == (1, 3)
    F = fastad.trace(lambda x: np.outer(x, x), np.zeros(4))
    assert (F.n_inputs, F.n_outputs) == (4, 16)


def test_nbytes_grows_with_the_tape():
    small = fastad.trace(lambda x: np.sum(x * x), np.zeros(10))
    large = fastad.trace(lambda x: np.sum(x * x), np.zeros(1000))
    assert 0 < small.nbytes < large.nbytes
    assert large.n_ops > small.n_ops


def test_repr():
    F = fastad.trace(lambda x: np.sum(x * x), np.zeros(3))
    assert "Function" in repr(F)


# ---- bad inputs --------------------------------------------------------------------------

SHAPE_CASES = [
    ((2, 3), (3, 2)),
    ((2, 3), (6,)),
    ((3,), (4,)),
    ((3,), (1, 3)),
    ((3,), ()),
    ((), (1,)),
    ((), (2, 2)),
]


@pytest.mark.parametrize("traced, given", SHAPE_CASES)
def test_wrong_input_shape_names_both_shapes(traced, given):
    x0 = 0.5 if traced == () else np.full(traced, 0.5)
    F = fastad.trace(lambda x: np.sum(x * x) if isinstance(x, fastad.Array) else x * x, x0)
    bad = np.ones(given) if given != () else 1.0
    calls = [
        lambda: F(bad),
        lambda: F.grad(bad),
        lambda: F.value_and_grad(bad),
        lambda: F.vjp(bad, 1.0),
        lambda: F.jacobian(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert str(tuple(traced)) in message and str(tuple(given)) in message, message


def test_wrong_length_list_input():
    F = fastad.trace(lambda xs: xs[0] * xs[1], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)|\(2,\).*\(3,\)"):
        F([1.0, 2.0, 3.0])


@pytest.mark.parametrize("bad", ["abc", None, b"1", {"a": 1.0}, object(),
                                 np.array(["a", "b", "c"]),
                                 np.array([1.0, None, 2.0], dtype=object),
                                 [1.0, "x", 2.0]])
def test_non_numeric_inputs_raise_type_error(bad):
    F = fastad.trace(lambda x: np.sum(x * x), np.zeros(3))
    with pytest.raises(TypeError):
        F(bad)
    with pytest.raises(TypeError):
        F.value_and_grad(bad)


@pytest.mark.parametrize("bad", ["abc", None, object(), [1.0]])
def test_non_numeric_scalar_inputs(bad):
    F = fastad.trace(lambda x: x * x, 1.0)
    with pytest.raises((TypeError, ValueError)):   # a list of the wrong shape: ValueError
        F.grad(bad)
    if not isinstance(bad, list):
        with pytest.raises(TypeError):
            F(bad)


@pytest.mark.parametrize("bad", ["abc", None, object(), {"x": "a"}, [1.0, "a"], [], {}])
def test_trace_rejects_non_numeric_x0(bad):
    with pytest.raises(TypeError):
        fastad.trace(lambda x: x, bad)


def test_trace_takes_what_grad_takes_a_dict_of_parameters():
    def loss(p, data):
        return np.sum((data @ p["w"] + p["b"]) ** 2) + p["scale"][0] * p["scale"][1]

    data = np.arange(6.0).reshape(3, 2)
    p0 = {"w": np.array([0.5, -1.0]), "b": 0.25, "scale": [2.0, 3.0]}
    F = fastad.trace(loss, p0, data)
    p1 = {"w": np.array([1.5, 2.0]), "b": -1.0, "scale": [1.0, 4.0]}
    value, g = F.value_and_grad(p1)
    ref_value, ref_g = fastad.value_and_grad(loss)(p1, data)
    assert value == ref_value
    assert list(g) == ["w", "b", "scale"] and type(g["scale"]) is list
    assert np.array_equal(g["w"], ref_g["w"]) and g["b"] == ref_g["b"]
    assert g["scale"] == ref_g["scale"]
    assert F.n_inputs == 5
    H = F.hessian(p1)
    ref_H = fastad.hessian(lambda p: loss(p, data))(p1)
    assert np.array_equal(H["w"]["w"], ref_H["w"]["w"]) and H["b"]["w"].shape == (2,)
    hv = F.hvp(p1, {"w": np.ones(2), "b": 0.0, "scale": [0.0, 1.0]})
    assert hv["scale"] == [1.0, 0.0]
    J = F.jacobian(p1)
    assert np.array_equal(J["w"], ref_g["w"])
    batch = {"w": np.stack([p0["w"], p1["w"]]), "b": np.array([0.25, -1.0]),
             "scale": [np.array([2.0, 1.0]), np.array([3.0, 4.0])]}
    values, grads = F.value_and_grad_batch(batch, threads=2)
    assert values[1] == ref_value and np.array_equal(grads["w"][1], ref_g["w"])
    assert grads["scale"][1].shape == (2,)
    with pytest.raises(ValueError, match="keys"):
        F.grad({"w": p1["w"], "b": 1.0})
    with pytest.raises(ValueError, match="shape"):
        F.grad({"w": np.ones(3), "b": 1.0, "scale": [1.0, 2.0]})


def test_trace_of_tuples_and_nested_lists_re_traces_on_their_branches():
    calls = []

    def f(args):
        calls.append(1)
        (a, b), c = args
        return a * c[0] if a > b else b * c[1]

    F = fastad.trace(f, ((2.0, 1.0), np.array([3.0, 4.0])))
    assert F.grad(((2.0, 1.0), np.array([3.0, 4.0])))[1].tolist() == [2.0, 0.0]
    g = F.grad(((0.0, 1.0), np.array([3.0, 4.0])))  # the other branch: re-traced
    assert len(calls) == 2 and g[0] == (0.0, 4.0) and g[1].tolist() == [0.0, 1.0]


def test_trace_of_a_bool_differentiates_it_as_a_float():
    F = fastad.trace(lambda x: x * 3.0, True)
    assert F(False) == 0.0 and F.value_and_grad(True) == (3.0, 3.0)
    assert fastad.grad(lambda x: x * 3.0)(True) == 3.0


def test_trace_rejects_a_non_callable_and_a_bad_retrace():
    with pytest.raises(TypeError):
        fastad.trace(3.0, 1.0)
    with pytest.raises(TypeError):
        fastad.trace(lambda x: x, 1.0, retrace="yes")


def test_grad_of_a_non_scalar_output_names_the_shape():
    F = fastad.trace(lambda x: x * 2.0, np.ones((2, 3)))
    for call in (F.grad, F.value_and_grad):
        with pytest.raises(TypeError, match=r"\(2, 3\)"):
            call(np.ones((2, 3)))
    G = fastad.trace(lambda x: [x, x], 1.0)
    with pytest.raises(TypeError, match=r"\(2,\)"):
        G.grad(1.0)


@pytest.mark.parametrize("w", [np.ones(3), np.ones((2, 2)), [1.0, 2.0, 3.0], np.ones((1, 2))])
def test_vjp_with_a_wrong_cotangent_shape(w):
    F = fastad.trace(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(ValueError):
        F.vjp(np.ones(2), w)


def test_vjp_of_a_scalar_output_wants_a_scalar_cotangent():
    F = fastad.trace(lambda x: np.sum(x), np.ones(2))
    with pytest.raises(ValueError):
        F.vjp(np.ones(2), np.ones(2))
    assert_same(F.vjp(np.ones(2), np.array(3.0))[1], [3.0, 3.0])
    assert_same(F.vjp(np.ones(2), 3)[1], [3.0, 3.0])


def test_jacobian_mode_is_checked():
    F = fastad.trace(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(ValueError):
        F.jacobian(np.ones(2), mode="sideways")


def test_function_is_made_only_by_trace():
    with pytest.raises(TypeError):
        fastad.Function()


# ---- nan, inf and constants ---------------------------------------------------------------

@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_inputs_propagate(special):
    def f(x):
        return x[0] * x[1] + fastad.exp(x[1]) - x[2] / 3.0

    F = fastad.trace(f, np.array([1.0, 2.0, 3.0]))
    for k in range(3):
        x = np.array([0.5, -0.25, 2.0])
        x[k] = special
        v, g = F.value_and_grad(x)
        v_ref, g_ref = fastad.value_and_grad(f)(x)
        assert_same(v, v_ref)
        assert_same(g, g_ref)
        assert_same(v, f(x))
        assert not math.isfinite(v)
    v, g = F.value_and_grad(np.full(3, math.nan))
    assert math.isnan(v) and np.isnan(g[:2]).all() and g[2] == -1.0 / 3.0


def test_nan_input_of_a_scalar_function():
    F = fastad.trace(lambda x: x * x + 1.0, 2.0)
    v, g = F.value_and_grad(math.nan)
    assert math.isnan(v) and math.isnan(g)
    assert F(math.inf) == math.inf and F.grad(math.inf) == math.inf


@pytest.mark.parametrize("f", [
    lambda x: 3.0,
    lambda x: np.float64(-2.0),
    lambda x: 7,
    lambda x: x[0] * 0.0 + 3.0,
    lambda x: fastad.value(x[0]) * 2.0 + 1.0,   # .value is a constant to the tape
])
def test_constant_output_has_zero_gradient(f):
    F = fastad.trace(f, np.array([1.0, 2.0]))
    for p in points((2,), n=5):
        v, g = F.value_and_grad(p)
        assert v == f(np.array([1.0, 2.0]))     # the recorded constant (x0's value)
        np.testing.assert_array_equal(g, [0.0, 0.0])
        np.testing.assert_array_equal(F.jacobian(p), [0.0, 0.0])
        np.testing.assert_array_equal(F.vjp(p, 2.0)[1], [0.0, 0.0])


def test_output_that_is_an_input():
    F = fastad.trace(lambda x: x, 1.0)
    assert F.value_and_grad(4.0) == (4.0, 1.0)
    G = fastad.trace(lambda x: x[1], np.zeros(3))
    v, g = G.value_and_grad(np.array([1.0, 2.0, 3.0]))
    assert v == 2.0
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


def test_zero_d_array_input():
    F = fastad.trace(lambda x: x * x, np.array(2.0))
    assert F(3.0) == 9.0
    g = F.grad(np.array(3.0))
    assert np.shape(g) == () and float(g) == 6.0
    assert_same(g, fastad.grad(lambda x: x * x)(np.array(3.0)))


# ---- pickling ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_pickle_round_trip_gives_identical_results(case):
    f, x0, shape = SCALAR_CASES[case]
    F = fastad.trace(f, x0)
    G = pickle.loads(pickle.dumps(F))
    assert type(G) is fastad.Function
    assert (G.n_inputs, G.n_outputs, G.n_ops, G.nbytes) == (F.n_inputs, F.n_outputs, F.n_ops, F.nbytes)
    for p in points(() if shape is None else shape, n=10):
        x = _as_input(p, shape)
        assert_same(G(x), F(x))
        v1, g1 = F.value_and_grad(x)
        v2, g2 = G.value_and_grad(x)
        assert_same(v1, v2)
        assert_same(g1, g2)
        assert_same(G.vjp(x, 0.5)[1], F.vjp(x, 0.5)[1])
        assert_same(G.jacobian(x), F.jacobian(x))


def test_pickle_of_an_array_output_function():
    F = fastad.trace(out_2d, np.zeros(3))
    G = pickle.loads(pickle.dumps(F, protocol=pickle.HIGHEST_PROTOCOL))
    x = np.array([0.1, 0.2, -0.3])
    assert_same(G(x), F(x))
    assert_same(G.jacobian(x), F.jacobian(x))
    w = np.arange(9.0).reshape(3, 3)
    assert_same(G.vjp(x, w)[1], F.vjp(x, w)[1])


def test_pickle_keeps_the_input_kind():
    F = fastad.trace(lambda x: x * x, 2.0)
    G = pickle.loads(pickle.dumps(F))
    assert type(G.grad(3.0)) is float
    with pytest.raises(ValueError):
        G(np.ones(2))


def piecewise(x):
    if x > 0:
        return x * x
    return -3.0 * x


def test_unpickled_function_raises_branch_error_where_it_would_re_trace():
    F = fastad.trace(piecewise, 1.0)
    G = pickle.loads(pickle.dumps(F))
    assert G(2.0) == 4.0 and G.grad(2.0) == 4.0            # on the recorded branch
    for call in (lambda: G(-2.0), lambda: G.grad(-2.0), lambda: G.value_and_grad(-2.0),
                 lambda: G.vjp(-2.0, 1.0), lambda: G.jacobian(-2.0)):
        with pytest.raises(fastad.BranchError) as info:
            call()
        assert str(info.value)
    # the original still re-traces
    assert F(-2.0) == 6.0


def test_unpickled_function_keeps_the_branches_seen():
    F = fastad.trace(piecewise, 1.0)
    assert F.grad(-2.0) == -3.0                      # both branches recorded now
    G = pickle.loads(pickle.dumps(F))
    assert G(2.0) == 4.0 and G(-2.0) == 6.0
    assert G.grad(-5.0) == -3.0 and G.grad(5.0) == 10.0


def test_unpickled_function_with_retrace_false():
    F = fastad.trace(piecewise, 1.0, retrace=False)
    G = pickle.loads(pickle.dumps(F))
    with pytest.raises(fastad.BranchError):
        G(-1.0)
    assert G(3.0) == 9.0


# ---- SciPy -------------------------------------------------------------------------------

def rosenbrock_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@pytest.mark.parametrize("kind", ["array", "list"])
def test_scipy_lbfgsb_on_rosenbrock_1000(kind):
    optimize = pytest.importorskip("scipy.optimize")
    n = 1000
    x0 = np.linspace(-1.2, 1.2, n)
    start = x0 if kind == "array" else [float(v) for v in x0]
    F = fastad.trace(rosenbrock_loop, start)
    # the replayed function and gradient are SciPy's own
    x = np.random.default_rng(5).uniform(-2, 2, n)
    v, g = F.value_and_grad(x)
    assert_close(v, optimize.rosen(x), rtol=1e-12)
    assert_close(g, optimize.rosen_der(x), rtol=1e-12, atol=1e-9)
    if kind == "list":
        return  # the minimisation (seconds) runs once, for the array input
    ours = optimize.minimize(F.value_and_grad, x0, jac=True, method="L-BFGS-B")
    theirs = optimize.minimize(optimize.rosen, x0, jac=optimize.rosen_der, method="L-BFGS-B")
    assert ours.success and theirs.success
    assert ours.fun < 1e-7 and theirs.fun < 1e-7
    assert abs(ours.fun - theirs.fun) < 1e-7
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-3)
    np.testing.assert_allclose(ours.x, np.ones(n), atol=1e-3)


# ---- non-smooth elementary functions replay without re-tracing ---------------------------

def nonsmooth(x):
    return (fastad.abs(x[0]) * x[1]
            + fastad.maximum(x[1], x[2]) + fastad.minimum(x[0], -x[2])
            + fastad.floor(x[1]) * x[0] + fastad.sign(x[2]) * x[1]
            + abs(x[2] - 0.5) + math.floor(x[0]) * x[2] + fastad.ceil(x[2]) * x[1]
            + np.abs(x[1]))


def test_nonsmooth_functions_record_no_guards():
    with fastad.Tape() as t:
        nonsmooth(t.var(np.array([0.3, -0.4, 0.8])))
    assert t.n_guards == 0


def test_nonsmooth_functions_replay_at_new_points_without_re_tracing():
    counted = Counted(nonsmooth)
    F = fastad.trace(counted, np.array([0.3, -0.4, 0.8]))
    pts = points((3,), n=60, scale=3.0) + [np.zeros(3), np.array([-1.0, 1.0, 1.0]),
                                           np.array([2.0, -2.0, -2.0])]
    for p in pts:
        v, g = F.value_and_grad(p)
        v_ref, g_ref = fastad.value_and_grad(nonsmooth)(p)
        assert_same(v, v_ref)
        assert_same(g, g_ref)
        assert_same(v, nonsmooth(p))
    assert counted.calls == 1
    # one-sided derivatives at the kinks: abs'(0) = 0, maximum takes x on ties
    G = fastad.trace(lambda x: fastad.abs(x[0]) + fastad.maximum(x[1], x[2]), np.array([1.0, 2.0, 1.0]))
    np.testing.assert_array_equal(G.grad(np.array([0.0, 1.0, 1.0])), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(G.grad(np.array([-1.0, 0.0, 1.0])), [-1.0, 0.0, 1.0])


def test_nonsmooth_scalar_function_is_analytic_on_each_side():
    F = fastad.trace(lambda x: fastad.maximum(x, 0.0) * 3.0 + fastad.abs(x - 1.0), 2.0)
    assert F.value_and_grad(2.0) == (7.0, 4.0)
    assert F.value_and_grad(0.5) == (2.0, 2.0)
    assert F.value_and_grad(-1.0) == (2.0, -1.0)


# ---- grad_function and forward mode -----------------------------------------------------------

def test_grad_function_replays_the_gradient():
    F = fastad.trace(lambda x: np.sum(x * x * x), np.ones(2))
    G = F.grad_function()
    np.testing.assert_allclose(G(np.array([1.0, 2.0])), [3.0, 12.0])
    np.testing.assert_allclose(G.jacobian(np.array([1.0, 2.0])), np.diag([6.0, 12.0]))


def test_forward_mode_replay_matches_reverse():
    def f(x):
        return np.array([x[0] * x[1], fastad.sin(x[0]), x[1] ** 3, x[0] / x[1]])

    F = fastad.trace(f, np.array([1.0, 2.0]))
    for p in points((2,), n=5, scale=2.0):
        value, tangent = F.jvp(p, np.array([0.5, -1.0]))
        jac = F.jacobian(p, mode="reverse")
        assert_same(value, F(p))
        np.testing.assert_allclose(tangent, jac @ np.array([0.5, -1.0]), rtol=1e-13)
        np.testing.assert_allclose(F.jacobian(p, mode="forward"), jac, rtol=1e-13, atol=1e-15)
        assert_same(F.jacobian(p), F.jacobian(p, mode="forward"))  # 2 inputs < 4 outputs
    with pytest.raises(ValueError, match="shape"):
        F.jvp(np.ones(2), np.ones(3))


# ---- a tape of 10**7 entries ---------------------------------------------------------------

LARGE_SCRIPT = textwrap.dedent("""
    import gc, json, os, resource, sys, time
    import fastad

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def peak():
        # VmHWM, this process's own high-water mark (ru_maxrss can be the
        # parent's, inherited at fork), reset below where Linux allows.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    N = 5_000_000

    def f(x):
        s = x
        for _ in range(N):
            s = s * 0.999999 + x      # two entries an iteration
        return s

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # the high-water mark back to the current RSS
    except OSError:
        pass
    base = rss()
    start = time.perf_counter()
    F = fastad.trace(f, 0.5)
    traced = time.perf_counter()
    value, grad = F.value_and_grad(0.25)
    replayed = time.perf_counter()
    # the same recurrence on plain floats
    s = 0.25
    for _ in range(N):
        s = s * 0.999999 + 0.25
    print(json.dumps(dict(n_ops=F.n_ops, nbytes=F.nbytes, value=value, grad=grad, plain=s,
                          after_trace=rss() - base, peak=peak() - base,
                          trace_s=traced - start, replay_s=replayed - traced)))
""")


@pytest.mark.rss
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc")
def test_tape_of_ten_million_entries_replays_in_bounded_memory():
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastad.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", LARGE_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    n = r["n_ops"]
    assert n == 2 * 5_000_000 + 1
    bytes_per_entry = r["nbytes"] / n
    assert 8 < bytes_per_entry <= 32, bytes_per_entry
    # the value: the same bits as plain floats; the gradient: the geometric sum
    assert r["value"] == r["plain"]
    a = 0.999999
    expected = (1 - a ** 5_000_001) / (1 - a)
    assert math.isclose(r["grad"], expected, rel_tol=1e-6)
    # memory: the tape itself, then one value and one adjoint buffer (8 bytes an
    # entry each) for the replay, with some slack for the allocator
    mb = 1024 * 1024
    assert r["after_trace"] <= 1.15 * r["nbytes"] + 32 * mb, r
    assert r["peak"] <= 1.15 * (r["nbytes"] + 16 * n) + 48 * mb, r
