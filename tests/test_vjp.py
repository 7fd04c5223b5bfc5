"""vjp (docs/api.md section 2): the primal output, vjp_fn's results mirroring the
primals, repeated calls, linearity, errors for bad cotangents, and property
tests of vjp and jacrev against central differences on random programs."""

import collections
import re
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastad
from fastad import grad, jacfwd, jacrev, vjp

from catalogue import ops
from conftest import assert_close, central_diff_jacobian


# ---- the primal output -------------------------------------------------------------------

def test_scalar_output_is_a_float():
    out, vjp_fn = vjp(lambda x: x * x, 3.0)
    assert type(out) is float and out == 9.0
    assert callable(vjp_fn)


@pytest.mark.parametrize("f", [lambda x: 5, lambda x: np.float32(5.0), lambda x: np.array(x * 5.0, dtype=object)])
def test_scalar_outputs_of_other_kinds_are_floats(f):
    out, _ = vjp(f, 1.0)
    assert type(out) is float and out == 5.0


def test_array_output_is_a_float_array():
    x = np.arange(6.0).reshape(2, 3)
    out, _ = vjp(lambda v: v * 2.0, x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, 2.0 * x)


@pytest.mark.parametrize("container", [list, tuple])
def test_list_output_is_a_vector(container):
    out, vjp_fn = vjp(lambda x: container([x, 2.0, x * x]), 3.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [3.0, 2.0, 9.0])
    assert vjp_fn([1.0, 10.0, 100.0]) == (601.0,)


def test_mixed_object_array_output():
    out, vjp_fn = vjp(lambda v: np.array([[v[0], 1.0], [3, v[0] * v[1]]], dtype=object), np.array([2.0, 5.0]))
    np.testing.assert_array_equal(out, [[2.0, 1.0], [3.0, 10.0]])
    (g,) = vjp_fn(np.array([[1.0, 7.0], [7.0, 1.0]]))
    assert_close(g, [1.0 + 5.0, 2.0])


# ---- vjp_fn's results mirror the primals -------------------------------------------------

def test_result_is_a_tuple_with_one_entry_per_primal():
    out, vjp_fn = vjp(lambda a, b, c: a * b * c, 2.0, 3.0, 4.0)
    r = vjp_fn(1.0)
    assert type(r) is tuple and len(r) == 3
    assert r == (12.0, 8.0, 6.0)
    assert all(type(v) is float for v in r)


@pytest.mark.parametrize("x", [2, 2.0, np.float32(2.0), np.int64(2), np.float64(2.0)])
def test_number_primals_give_floats(x):
    (g,) = vjp(lambda v: v * v, x)[1](1.0)
    assert type(g) is float and g == 4.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_array_primal_gives_float_array_of_its_shape(dtype):
    x = np.arange(6).reshape(3, 2).astype(dtype)
    (g,) = vjp(lambda v: np.sum(v * v), x)[1](1.0)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (3, 2)
    assert_close(g, 2.0 * x.astype(np.float64))


def test_zero_dim_array_primal_gives_zero_dim_array():
    (g,) = vjp(lambda v: v * 3.0, np.array(2.0))[1](1.0)
    assert isinstance(g, np.ndarray) and g.shape == () and g == 3.0


def test_container_primals_keep_their_structure():
    P = collections.namedtuple("P", "a b")
    primals = (
        [1.0, 2],                                 # list of numbers
        (3.0, np.array([1.0, 2.0])),              # tuple of mixed leaves
        {"w": np.ones((2, 2)), "b": [0.5, {"c": 2.0}]},  # nested dict
        P(1.0, np.array(2.0)),                    # namedtuple
    )

    def f(l, t, d, p):
        return (l[0] * l[1] + t[0] * np.sum(t[1]) + np.sum(d["w"]) * d["b"][0]
                + d["b"][1]["c"] ** 2 + p.a * p.b[()])

    out, vjp_fn = vjp(f, *primals)
    assert out == 2.0 + 9.0 + 2.0 + 4.0 + 2.0
    gl, gt, gd, gp = vjp_fn(2.0)
    assert type(gl) is list and gl == [4.0, 2.0]
    assert type(gt) is tuple and gt[0] == 6.0
    assert_close(gt[1], [6.0, 6.0])
    assert type(gd) is dict and set(gd) == {"w", "b"}
    assert_close(gd["w"], np.full((2, 2), 1.0))
    assert type(gd["b"]) is list and gd["b"][0] == 8.0 and gd["b"][1] == {"c": 8.0}
    assert type(gp) is P and gp.a == 4.0
    assert isinstance(gp.b, np.ndarray) and gp.b.shape == () and gp.b == 2.0


def test_several_primals_of_different_kinds_against_grad():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])

    def f(s, v, d):
        return fastad.sin(s) * np.sum(A @ v) + d["k"] * v[0] ** 2

    primals = (0.3, np.array([1.0, -2.0]), {"k": 1.5})
    out, vjp_fn = vjp(f, *primals)
    gs, gv, gd = vjp_fn(1.0)
    es, ev, ed = grad(f, argnums=(0, 1, 2))(*primals)
    assert out == fastad.value_and_grad(f)(*primals)[0]
    assert gs == es and gd == ed
    np.testing.assert_array_equal(gv, ev)


def test_constant_output_gives_zeros():
    _, vjp_fn = vjp(lambda a, b: [1.0, 2.0], 1.0, np.ones(3))
    ga, gb = vjp_fn([1.0, 1.0])
    assert ga == 0.0 and isinstance(gb, np.ndarray) and np.all(gb == 0.0) and gb.shape == (3,)


def test_output_independent_of_a_primal():
    _, vjp_fn = vjp(lambda a, b: a * 2.0, 1.0, np.ones(2))
    ga, gb = vjp_fn(1.0)
    assert ga == 2.0
    np.testing.assert_array_equal(gb, [0.0, 0.0])


# ---- calling vjp_fn -------------------------------------------------------------------

def test_vjp_fn_of_ones_equals_grad_for_scalar_f():
    def f(x):
        return np.sum(fastad.exp(x) * x[::-1]) / (1.0 + x[0] ** 2)

    x = np.linspace(-1.0, 1.0, 7)
    _, vjp_fn = vjp(f, x)
    g = grad(f)(x)
    for ones in (1.0, 1, np.float64(1.0), np.array(1.0), np.ones(())):
        (r,) = vjp_fn(ones)
        np.testing.assert_array_equal(r, g)


def test_vjp_fn_can_be_called_repeatedly_and_does_not_call_f():
    calls = []
    x = np.array([1.0, 2.0, 3.0])

    def f(v):
        calls.append(1)
        return v * v * np.array([1.0, 2.0, 3.0])

    out, vjp_fn = vjp(f, x)
    assert len(calls) == 1
    first = vjp_fn(np.array([1.0, 0.0, 0.0]))[0]
    results = [vjp_fn(np.eye(3)[k])[0] for k in range(3)]
    again = vjp_fn(np.array([1.0, 0.0, 0.0]))[0]
    assert len(calls) == 1
    np.testing.assert_array_equal(first, again)
    assert_close(np.array(results), np.diag(2.0 * x * [1.0, 2.0, 3.0]))


def test_vjp_fn_is_linear_in_the_cotangent():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(4, 3))

    def f(v, s):
        return fastad.tanh(W @ v) * s + v[0] * v[1] * v[2]

    _, vjp_fn = vjp(f, rng.normal(size=3), 0.7)
    w1, w2 = rng.normal(size=4), rng.normal(size=4)
    a, b = 2.5, -0.75
    lhs = vjp_fn(a * w1 + b * w2)
    r1, r2 = vjp_fn(w1), vjp_fn(w2)
    assert_close(lhs[0], a * r1[0] + b * r2[0], rtol=1e-12, atol=1e-13)
    assert_close(lhs[1], a * r1[1] + b * r2[1], rtol=1e-12, atol=1e-13)
    zero = vjp_fn(np.zeros(4))
    assert np.all(zero[0] == 0.0) and zero[1] == 0.0


def test_vjp_fn_equals_cotangent_times_jacobian():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 2, 4))
    x = rng.normal(size=4)

    def f(v):
        return fastad.sin(A @ v) * v[0]

    _, vjp_fn = vjp(f, x)
    J = jacrev(f)(x)
    assert J.shape == (3, 2, 4)
    for _ in range(3):
        w = rng.normal(size=(3, 2))
        assert_close(vjp_fn(w)[0], np.tensordot(w, J, axes=2), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("ct", [[1.0, 2.0], (1, 2), np.array([1.0, 2.0], dtype=np.float32),
                                np.array([1, 2])])
def test_cotangent_kinds(ct):
    _, vjp_fn = vjp(lambda v: v * 3.0, np.array([1.0, 1.0]))
    (g,) = vjp_fn(ct)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [3.0, 6.0])


def test_cotangent_array_is_not_modified():
    ct = np.array([1.0, 2.0])
    vjp(lambda v: v * 3.0, np.array([1.0, 1.0]))[1](ct)
    np.testing.assert_array_equal(ct, [1.0, 2.0])


def test_vjp_fn_from_several_threads_at_once():
    # A long recording (its sweep runs without the GIL) shared by threads.
    x = np.linspace(-1.0, 1.0, 3000)

    def f(v):
        return fastad.sin(v) * v + v[::-1]

    _, vjp_fn = vjp(f, x)
    rng = np.random.default_rng(2)
    cts = [rng.normal(size=x.size) for _ in range(4)]
    expected = [vjp_fn(w)[0] for w in cts]
    errors = []

    def work(k):
        try:
            for _ in range(10):
                np.testing.assert_array_equal(vjp_fn(cts[k])[0], expected[k])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    d = np.cos(x) * x + np.sin(x)
    assert_close(expected[0], cts[0] * d + cts[0][::-1], rtol=1e-13, atol=1e-13)


# ---- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("out_shape,ct_shape", [
    ((), (1,)),
    ((), (3,)),
    ((3,), ()),
    ((3,), (4,)),
    ((2, 3), (6,)),
    ((2, 3), (3, 2)),
    ((2,), (2, 1)),
])
def test_cotangent_shape_mismatch_names_both_shapes(out_shape, ct_shape):
    x = np.ones(out_shape)
    _, vjp_fn = vjp(lambda v: v * 2.0, x)
    with pytest.raises(ValueError) as info:
        vjp_fn(np.ones(ct_shape))
    message = str(info.value)
    assert re.search(re.escape(str(ct_shape)), message), message
    assert re.search(re.escape(str(out_shape)), message), message


def test_cotangent_as_list_of_wrong_length():
    _, vjp_fn = vjp(lambda v: [v, v], 1.0)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)|\(2,\).*\(3,\)"):
        vjp_fn([1.0, 2.0, 3.0])


@pytest.mark.parametrize("ct", ["a", b"a", None, object(), {}, {"a": 1.0}, ["a", "b"],
                                np.array(["a", "b"]), [[1.0], [1.0, 2.0]]],
                         ids=["str", "bytes", "None", "object", "empty-dict", "dict", "str-list",
                              "str-array", "ragged"])
def test_non_numeric_cotangent_raises_type_error(ct):
    _, vjp_fn = vjp(lambda v: [v, 2.0 * v], 1.0)
    with pytest.raises(TypeError, match="cotangent"):
        vjp_fn(ct)
    # the function still works afterwards
    assert vjp_fn([1.0, 1.0]) == (3.0,)


@pytest.mark.parametrize("ct", ["a", None, object()], ids=["str", "None", "object"])
def test_non_numeric_cotangent_of_scalar_output_raises_type_error(ct):
    _, vjp_fn = vjp(lambda v: v * 2.0, 1.0)
    with pytest.raises(TypeError, match="cotangent"):
        vjp_fn(ct)


def test_var_of_a_finished_tape_as_cotangent_raises_tape_error():
    escaped = []
    grad(lambda x: escaped.append(x) or x)(1.0)
    _, vjp_fn = vjp(lambda v: v * 2.0, 1.0)
    with pytest.raises(fastad.TapeError, match="finished"):
        vjp_fn(escaped[0])


def test_var_of_an_enclosing_transform_as_cotangent():
    _, vjp_fn = vjp(lambda v: v * 3.0, 1.0)
    assert grad(lambda w: vjp_fn(w)[0] * w)(2.0) == 12.0  # d/dw 3 w^2


def test_no_primals_raises_type_error():
    with pytest.raises(TypeError, match="primal"):
        vjp(lambda: 1.0)


def test_f_not_callable():
    with pytest.raises(TypeError, match="callable"):
        vjp(1.0, 2.0)


@pytest.mark.parametrize("bad", ["a", None, object()])
def test_bad_primal_names_its_position(bad):
    with pytest.raises(TypeError, match="argument 1"):
        vjp(lambda a, b: a, 1.0, bad)


@pytest.mark.parametrize("out", [None, "abc", {"a": 1.0}])
def test_non_numeric_output_raises_type_error(out):
    with pytest.raises(TypeError):
        vjp(lambda x: out, 1.0)


def test_nested_sequence_output_raises_type_error():
    with pytest.raises(TypeError, match="array"):
        vjp(lambda x: [[x, x]], 1.0)


def test_output_var_of_another_tape_raises_tape_error():
    escaped = []
    grad(lambda x: escaped.append(x) or x)(1.0)
    with pytest.raises(fastad.TapeError, match="another tape"):
        vjp(lambda x: escaped[0], 1.0)
    with pytest.raises(fastad.TapeError, match="another tape"):
        vjp(lambda x: [x, escaped[0]], 1.0)


def test_exception_inside_f_leaves_state_clean():
    leaked = []

    def f(x):
        leaked.append(x)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        vjp(f, np.ones(2))
    with pytest.raises(fastad.TapeError, match="finished"):
        leaked[0][0] + 1.0
    assert vjp(lambda x: x * 2.0, 1.0)[1](1.0) == (2.0,)


def test_nested_vjp():
    out, fn = vjp(grad(lambda x: x ** 3), 2.0)
    assert out == 12.0 and fn(1.0) == (12.0,)
    assert grad(lambda x: vjp(lambda y: y ** 3, x)[0])(2.0) == 12.0
    assert grad(lambda x: vjp(lambda y: y ** 3, x)[1](1.0)[0])(2.0) == 12.0
    assert grad(lambda x: vjp(lambda y: y * x, 1.0)[0])(2.0) == 1.0
    assert grad(lambda x: vjp(lambda y: x, 1.0)[0])(2.0) == 1.0
    with fastad.Tape() as t:
        x = t.var(2.0)
        out, fn = vjp(lambda v: v * v, x)
        (g,) = fn(1.0)
        y = g * out
    assert fastad.value(out) == 4.0 and fastad.value(g) == 4.0
    assert t.gradient(y, x) == 3 * 2 * 2.0 ** 2  # y = 2 x^3


def test_vjp_fn_called_inside_another_transform_on_constants():
    # vjp_fn of a finished recording is ordinary code: its result is a
    # constant to an enclosing transform.
    _, vjp_fn = vjp(lambda v: v * v, 3.0)
    assert grad(lambda x: x * vjp_fn(1.0)[0])(2.0) == 6.0


# ---- property tests: random programs ------------------------------------------------

# Every smooth operation of the test catalogue, as a binary node (a unary one
# ignores its second operand) on Vars and floats alike: the operands are
# squashed into (-1, 1) by tanh and mapped into the domain, so that values and
# derivatives stay moderate and central differences accurate.
def _squashed(op):
    if op.arity == 1:
        return lambda a, b: op.apply(fastad.tanh(a))
    return lambda a, b: op.apply(fastad.tanh(a), fastad.tanh(b))


OPS = {op.name: _squashed(op) for op in ops(smooth=True)}
OP_NAMES = sorted(OPS)

PROPERTY_SETTINGS = settings(max_examples=60)


@st.composite
def programs(draw):
    """(n_x, nodes, outputs, x, s): a DAG over the n_x entries of an array x
    and a scalar s, with some output nodes (possibly repeated or inputs)."""
    n_x = draw(st.integers(1, 3))
    n_inputs = n_x + 1
    n_nodes = draw(st.integers(1, 7))
    nodes = []
    for k in range(n_nodes):
        available = n_inputs + k
        nodes.append((draw(st.sampled_from(OP_NAMES)),
                      draw(st.integers(0, available - 1)),
                      draw(st.integers(0, available - 1))))
    total = n_inputs + n_nodes
    outputs = draw(st.lists(st.one_of(st.integers(0, total - 1), st.just(-1)), min_size=1, max_size=4))
    value = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)
    x = np.array(draw(st.lists(value, min_size=n_x, max_size=n_x)))
    s = draw(value)
    return n_x, nodes, outputs, x, s


def run_program(nodes, outputs, x, s):
    values = list(x) + [s]
    for name, i, j in nodes:
        values.append(OPS[name](values[i], values[j]))
    # -1 is a constant output
    return np.array([values[k] if k >= 0 else 0.25 for k in outputs], dtype=object)


def fd_jacobians(nodes, outputs, x, s):
    """Central-difference Jacobians with respect to x and s."""
    J = central_diff_jacobian(lambda v: fastad.value(run_program(nodes, outputs, v[:-1], v[-1])),
                              np.append(x, s))
    return J[:, :-1], J[:, -1]


def close_to_fd(ad, fd):
    tol = 1e-6 * (1.0 + np.abs(fd))
    return np.all(np.abs(ad - fd) <= tol), np.max(np.abs(ad - fd) - tol)


@PROPERTY_SETTINGS
@given(programs())
def test_jacrev_matches_central_differences(program):
    n_x, nodes, outputs, x, s = program
    f = lambda xv, sv: run_program(nodes, outputs, xv, sv)  # noqa: E731
    Jx, Js = jacrev(f, argnums=(0, 1))(x, s)
    assert Jx.shape == (len(outputs), n_x) and Js.shape == (len(outputs),)
    Fx, Fs = fd_jacobians(nodes, outputs, x, s)
    ok, excess = close_to_fd(Jx, Fx)
    assert ok, (Jx, Fx, excess)
    ok, excess = close_to_fd(Js, Fs)
    assert ok, (Js, Fs, excess)
    # jacobian in "auto" mode is the same computation as jacrev, or as jacfwd
    # where it picks forward mode (no more inputs than outputs): the two modes
    # multiply the partials of a chain in opposite orders, which may round apart
    Ax, As = fastad.jacobian(f, argnums=(0, 1))(x, s)
    same = jacfwd if n_x + 1 <= len(outputs) else jacrev
    Ex, Es = same(f, argnums=(0, 1))(x, s)
    np.testing.assert_array_equal(Ax, Ex)
    np.testing.assert_array_equal(As, Es)
    np.testing.assert_allclose(Ax, Jx, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(As, Js, rtol=1e-13, atol=1e-300)


@PROPERTY_SETTINGS
@given(programs(), st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=4, max_size=4))
def test_vjp_is_cotangent_times_jacrev(program, weights):
    n_x, nodes, outputs, x, s = program
    f = lambda xv, sv: run_program(nodes, outputs, xv, sv)  # noqa: E731
    w = np.array(weights[:len(outputs)])
    out, vjp_fn = vjp(f, x, s)
    np.testing.assert_array_equal(out, fastad.value(f(x, s)))
    gx, gs = vjp_fn(w)
    assert isinstance(gx, np.ndarray) and gx.shape == x.shape and type(gs) is float
    Jx, Js = jacrev(f, argnums=(0, 1))(x, s)
    scale = 1e-12 * (1.0 + np.abs(w) @ np.abs(Jx))
    assert np.all(np.abs(gx - w @ Jx) <= scale), (gx, w @ Jx)
    assert abs(gs - w @ Js) <= 1e-12 * (1.0 + np.abs(w) @ np.abs(Js))
    # and against central differences of the scalar w . f
    Fx, Fs = fd_jacobians(nodes, outputs, x, s)
    ok, excess = close_to_fd(gx, w @ Fx)
    assert ok, (gx, w @ Fx, excess)
    ok, excess = close_to_fd(np.array(gs), w @ Fs)
    assert ok, (gs, w @ Fs, excess)


@PROPERTY_SETTINGS
@given(programs())
def test_vjp_of_unit_cotangents_gives_jacobian_rows(program):
    n_x, nodes, outputs, x, s = program
    f = lambda xv, sv: run_program(nodes, outputs, xv, sv)  # noqa: E731
    _, vjp_fn = vjp(f, x, s)
    Jx, Js = jacrev(f, argnums=(0, 1))(x, s)
    for k, row in enumerate(np.eye(len(outputs))):
        gx, gs = vjp_fn(row)
        np.testing.assert_array_equal(gx, Jx[k])
        assert gs == Js[k]
