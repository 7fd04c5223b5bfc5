"""grad and value_and_grad (docs/api.md section 2)."""

import collections
import math

import numpy as np
import pytest
import scipy.optimize

import fastad
from conftest import assert_close, central_diff_grad

grad = fastad.grad
value_and_grad = fastad.value_and_grad

TRANSFORMS = {"grad": grad, "value_and_grad": value_and_grad}


def _g(result, transform):
    """The gradient part of a transform's result."""
    return result[1] if transform == "value_and_grad" else result


# ---- scalar arguments -------------------------------------------------------------

@pytest.mark.parametrize("arg", [3.0, 3, np.float64(3.0), np.float32(3.0), np.int64(3)],
                         ids=["float", "int", "np.float64", "np.float32", "np.int64"])
def test_scalar_argument_gives_float(arg):
    value, g = value_and_grad(lambda x: x * x * x)(arg)
    x0 = float(arg)
    assert type(value) is float and type(g) is float
    assert value == x0**3
    assert g == 3 * x0**2
    g2 = grad(lambda x: x * x * x)(arg)
    assert type(g2) is float and g2 == g


def test_scalar_argument_arrives_as_var():
    seen = []
    grad(lambda x: seen.append(type(x)) or x)(1.0)
    grad(lambda x: seen.append(type(x)) or x)(1)
    assert seen == [fastad.Var, fastad.Var]


def test_x_times_y_plus_z():
    f = lambda x, y, z: x * y + z  # noqa: E731
    assert grad(f, argnums=(0, 1, 2))(2.0, 3.0, 4.0) == (3.0, 2.0, 1.0)
    assert value_and_grad(f, argnums=(0, 1, 2))(2.0, 3.0, 4.0) == (10.0, (3.0, 2.0, 1.0))
    assert grad(f)(2.0, 3.0, 4.0) == 3.0
    assert grad(f, argnums=1)(2.0, 3.0, 4.0) == 2.0
    assert grad(f, argnums=2)(2.0, 3.0, 4.0) == 1.0


# ---- array arguments -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 1, 3), (1,), (0,), ()])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_array_argument(shape, dtype):
    rng = np.random.default_rng(0)
    x0 = rng.integers(-3, 4, size=shape).astype(dtype)
    if dtype in (np.float64, np.float32):
        x0 = np.asarray(x0 + 0.25, dtype=dtype)
    seen = []

    def f(x):
        seen.append((type(x), x.dtype, x.shape))
        assert all(type(e) is fastad.Var for e in x.flat)
        return np.sum(x * x) + 0.0

    value, g = value_and_grad(f)(x0)
    assert seen == [(fastad.Array, np.dtype(np.float64), shape)]
    assert type(value) is float
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == shape
    xf = x0.astype(np.float64)
    assert_close(value, float(np.sum(xf * xf)), rtol=1e-15)
    np.testing.assert_array_equal(g, 2 * xf)
    g2 = grad(f)(x0)
    assert g2.dtype == np.float64 and g2.shape == shape


def test_float32_array_is_computed_in_float64():
    x0 = np.array([0.1, 0.2, 0.3], dtype=np.float32)

    def f(x):
        for e, v in zip(x, x0):
            assert e.value == float(v)  # the exact float32 value, held as float64
        return np.sum(x * 1e-10 + x)

    value, g = value_and_grad(f)(x0)
    x64 = x0.astype(np.float64)
    assert value == float(np.sum(x64 * 1e-10 + x64))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, np.full(3, 1.0 + 1e-10))


def test_array_argument_indexing_slicing_iteration():
    x0 = np.arange(6.0).reshape(2, 3) + 1.0

    def f(x):
        assert len(x) == 2
        assert x[1, 2].value == 6.0
        total = 0.0
        for row in x:
            for e in row:
                total = total + e
        return total * x[0, 0] + np.sum(x[:, 1:] ** 2) + x.T[2, 1]

    g = grad(f)(x0)
    expected = np.full((2, 3), x0[0, 0])
    expected[0, 0] += np.sum(x0)
    expected[:, 1:] += 2 * x0[:, 1:]
    expected[1, 2] += 1.0
    assert_close(g, expected, rtol=1e-15)


def test_array_argument_not_modified():
    x0 = np.array([1.0, 2.0])
    before = x0.copy()
    grad(lambda x: np.sum(x * x))(x0)
    np.testing.assert_array_equal(x0, before)


def test_non_contiguous_array_argument():
    base = np.arange(12.0).reshape(3, 4)
    x0 = base.T[::2]
    g = grad(lambda x: np.sum(x**2))(x0)
    assert g.shape == x0.shape
    np.testing.assert_array_equal(g, 2 * x0)


# ---- argnums -------------------------------------------------------------------------------

def _f3(x, y, z):
    return x * y**2 + z**3 * x


ARGS3 = (2.0, 3.0, 0.5)
DF3 = (3.0**2 + 0.5**3, 2 * 2.0 * 3.0, 3 * 0.5**2 * 2.0)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("argnums,expected", [
    (0, DF3[0]), (1, DF3[1]), (2, DF3[2]), (-1, DF3[2]), (-3, DF3[0]),
    (np.int64(1), DF3[1]),
    ((0,), (DF3[0],)), ((2, 0), (DF3[2], DF3[0])), ((0, 1, 2), DF3), ((-1, 1), (DF3[2], DF3[1])),
])
def test_argnums(transform, argnums, expected):
    result = TRANSFORMS[transform](_f3, argnums=argnums)(*ARGS3)
    g = _g(result, transform)
    if transform == "value_and_grad":
        assert result[0] == _f3(*ARGS3)
    if isinstance(expected, tuple):
        assert type(g) is tuple and len(g) == len(expected)
        for a, b in zip(g, expected):
            assert_close(a, b, rtol=1e-15)
    else:
        assert type(g) is float
        assert_close(g, expected, rtol=1e-15)


def test_non_differentiated_arguments_pass_through_unchanged():
    marker = object()
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    seen = {}

    def f(w, x, name, obj, n):
        seen.update(w=w, name=name, obj=obj, n=n, x=type(x))
        return np.sum(w @ x) * n

    g = grad(f, argnums=1)(W, np.array([1.0, -1.0]), "label", marker, 3)
    assert seen["w"] is W and seen["name"] == "label" and seen["obj"] is marker
    assert seen["n"] == 3 and type(seen["n"]) is int
    assert seen["x"] is fastad.Array
    np.testing.assert_array_equal(g, 3 * W.sum(axis=0))


def test_kwargs_are_constants():
    seen = {}

    def f(x, *, scale, offset=0.0, tag=None):
        seen.update(scale=scale, offset=offset, tag=tag)
        return scale * x**2 + offset

    assert grad(f)(3.0, scale=2.0) == 12.0
    assert seen == {"scale": 2.0, "offset": 0.0, "tag": None}
    v, g = value_and_grad(f)(3.0, scale=np.float64(0.5), offset=1.0, tag="t")
    assert (v, g) == (5.5, 3.0)
    assert seen["tag"] == "t" and type(seen["scale"]) is np.float64


def test_kwarg_with_argnums_tuple():
    def f(a, b, c=1.0):
        return a * b * c

    assert grad(f, argnums=(0, 1))(2.0, 3.0, c=4.0) == (12.0, 8.0)


def test_wrapper_keeps_name_and_doc():
    def my_function(x):
        """doc of my_function"""
        return x

    for transform in TRANSFORMS.values():
        wrapped = transform(my_function)
        assert wrapped.__name__ == "my_function"
        assert wrapped.__doc__ == "doc of my_function"


def test_grad_function_is_reusable():
    df = grad(lambda x: x**3)
    assert [df(float(k)) for k in range(4)] == [0.0, 3.0, 12.0, 27.0]


# ---- pytrees -------------------------------------------------------------------------------

@pytest.mark.parametrize("transform", TRANSFORMS)
def test_list_of_numbers(transform):
    def f(xs):
        assert type(xs) is list and all(type(v) is fastad.Var for v in xs)
        return xs[0] * xs[1] + xs[2]

    g = _g(TRANSFORMS[transform](f)([2.0, 3, np.float64(5.0)]), transform)
    assert type(g) is list
    assert g == [3.0, 2.0, 1.0]
    assert all(type(v) is float for v in g)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_tuple_of_numbers(transform):
    def f(xs):
        assert type(xs) is tuple
        return xs[0] * xs[1]

    g = _g(TRANSFORMS[transform](f)((2.0, 3.0)), transform)
    assert type(g) is tuple and g == (3.0, 2.0)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_dict_argument(transform):
    def f(p):
        assert set(p) == {"w", "b"}
        return np.sum(p["w"] * np.array([1.0, 2.0])) + p["b"] ** 2

    g = _g(TRANSFORMS[transform](f)({"w": np.array([0.5, -0.5]), "b": 3.0}), transform)
    assert type(g) is dict and set(g) == {"w", "b"}
    np.testing.assert_array_equal(g["w"], [1.0, 2.0])
    assert type(g["b"]) is float and g["b"] == 6.0


def test_nested_pytree():
    x = {
        "layers": [
            {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([0.5, -0.5])},
            {"W": np.array([[2.0], [1.0]]), "b": 0.25},
        ],
        "scale": (2.0, [3.0, 4]),
    }

    def f(p):
        h = np.array([1.0, -1.0]) @ p["layers"][0]["W"] + p["layers"][0]["b"]
        out = (h @ p["layers"][1]["W"])[0] + p["layers"][1]["b"]
        s0, (s1, s2) = p["scale"]
        return out * s0 + s1 * s2

    g = grad(f)(x)
    assert type(g) is dict and list(g) == ["layers", "scale"]
    assert type(g["layers"]) is list and len(g["layers"]) == 2
    assert type(g["scale"]) is tuple and type(g["scale"][1]) is list
    h = np.array([1.0, -1.0]) @ x["layers"][0]["W"] + x["layers"][0]["b"]
    out = (h @ x["layers"][1]["W"])[0] + 0.25
    W2 = x["layers"][1]["W"][:, 0]
    assert_close(g["layers"][0]["W"], 2.0 * np.outer([1.0, -1.0], W2), rtol=1e-15)
    assert_close(g["layers"][0]["b"], 2.0 * W2, rtol=1e-15)
    assert_close(g["layers"][1]["W"], 2.0 * h.reshape(2, 1), rtol=1e-15)
    assert g["layers"][1]["b"] == 2.0
    assert g["scale"][0] == out
    assert g["scale"][1] == [4.0, 3.0]


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_namedtuple_argument(transform):
    """A namedtuple is a tuple: the gradient is the same namedtuple type."""
    g = _g(TRANSFORMS[transform](lambda p: p.x * p.y**2)(Point(2.0, 3.0)), transform)
    assert type(g) is Point
    assert g == Point(9.0, 12.0)
    g = _g(TRANSFORMS[transform](lambda p: p.x * np.sum(p.y))(Point(2.0, np.array([1.0, 3.0]))),
           transform)
    assert type(g) is Point and g.x == 4.0
    np.testing.assert_array_equal(g.y, [2.0, 2.0])


def test_ordered_dict_argument():
    g = grad(lambda d: d["a"] * d["b"])(collections.OrderedDict(a=2.0, b=5.0))
    assert type(g) is collections.OrderedDict and g == {"a": 5.0, "b": 2.0}


def test_object_array_of_numbers_argument():
    g = grad(lambda x: np.sum(x * x))(np.array([1.0, 2, np.float32(0.5)], dtype=object))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [2.0, 4.0, 1.0])


def test_list_of_arrays_and_empty_containers():
    g = grad(lambda xs: np.sum(xs[0]) * xs[1])([np.array([1.0, 2.0]), 3.0])
    assert type(g) is list
    np.testing.assert_array_equal(g[0], [3.0, 3.0])
    assert g[1] == 3.0
    assert grad(lambda xs, y: y * 2.0, argnums=(0, 1))([], 1.0) == ([], 2.0)
    assert grad(lambda d, y: y * 2.0, argnums=(0, 1))({}, 1.0) == ({}, 2.0)


def test_pytree_with_argnums_tuple():
    g = grad(lambda a, b: a[0] * b["k"], argnums=(0, 1))([2.0, 5.0], {"k": 3.0})
    assert g == ([3.0, 0.0], {"k": 2.0})


# ---- outputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("out", [3, 3.0, np.float64(3.0), np.float32(3.0), np.int64(3)],
                         ids=["int", "float", "np.float64", "np.float32", "np.int64"])
def test_number_output_gives_zero_gradient(out):
    value, g = value_and_grad(lambda x: out)(2.0)
    assert type(value) is float and value == 3.0
    assert type(g) is float and g == 0.0
    ga = grad(lambda x: out)(np.ones((2, 3)))
    assert ga.shape == (2, 3) and ga.dtype == np.float64 and not ga.any()
    assert grad(lambda x: out)([1.0, 2.0]) == [0.0, 0.0]


def test_output_independent_of_argument():
    assert grad(lambda x, y: y * 2.0)(1.0, 5.0) == 0.0
    g = grad(lambda x: x[0] * 3.0)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(g, [3.0, 0.0, 0.0])


def test_zero_dim_array_output():
    assert value_and_grad(lambda x: np.array(x * 2.0))(1.5) == (3.0, 2.0)
    assert value_and_grad(lambda x: np.sum(x * x, keepdims=False))(np.array([1.0, 2.0]))[0] == 5.0
    assert value_and_grad(lambda x: np.array(4.0))(1.5) == (4.0, 0.0)
    # a 0-d array argument gives a 0-d gradient
    g = grad(lambda x: x[()] ** 2)(np.array(3.0))
    assert isinstance(g, np.ndarray) and g.shape == () and g == 6.0


def test_var_output():
    v, g = value_and_grad(lambda x: fastad.sin(x))(0.5)
    assert type(v) is float and v == math.sin(0.5)
    assert g == math.cos(0.5)


def test_identity_and_constant_times():
    assert value_and_grad(lambda x: x)(2.0) == (2.0, 1.0)
    assert value_and_grad(lambda x: 0 * x)(2.0) == (0.0, 0.0)


# ---- error cases ---------------------------------------------------------------------------

@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("f", [None, 3, "f", [lambda x: x]])
def test_f_not_callable(transform, f):
    with pytest.raises(TypeError, match="callable"):
        TRANSFORMS[transform](f)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("argnums", [1.0, (), [], "0", None, True, (0, 1.0), (True,)])
def test_bad_argnums_type(transform, argnums):
    with pytest.raises(TypeError, match="argnums"):
        TRANSFORMS[transform](_f3, argnums=argnums)(*ARGS3)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("argnums", [(0, 0), (1, -2), (2, 1, 2)])
def test_duplicate_argnums(transform, argnums):
    with pytest.raises(ValueError, match="argnums"):
        TRANSFORMS[transform](_f3, argnums=argnums)(*ARGS3)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("argnums", [3, -4, (0, 3), 100])
def test_argnums_out_of_range(transform, argnums):
    with pytest.raises(ValueError, match="out of range"):
        TRANSFORMS[transform](_f3, argnums=argnums)(*ARGS3)


def test_argnums_out_of_range_with_no_arguments():
    with pytest.raises(ValueError):
        grad(lambda: 1.0)()


BAD_ARGS = {
    "str": ("a", "str"),
    "NoneType": (None, "NoneType"),
    "bytes": (b"ab", "bytes"),
    "object": (object(), "object"),
    "object array of strings": (np.array(["a", "b"], dtype=object), "str"),
    "string array": (np.array(["a", "b"]), "<U1"),
    "list with a string": ([1.0, "a"], "str"),
    "dict with None": ({"a": 1.0, "b": None}, "NoneType"),
}


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("bad", BAD_ARGS)
def test_bad_argument_type(transform, bad):
    arg, word = BAD_ARGS[bad]
    called = []
    with pytest.raises(TypeError, match=word):
        TRANSFORMS[transform](lambda x: called.append(1) or 1.0)(arg)
    assert called == []  # rejected before f runs
    # the next call works
    assert grad(lambda x: 2.0 * x)(1.0) == 2.0


def test_bad_argument_not_differentiated_is_fine():
    assert grad(lambda x, s: x * len(s))(2.0, "abc") == 3.0
    assert grad(lambda x, s: x * 2.0 if s is None else x, argnums=0)(2.0, None) == 2.0


def test_bad_argument_error_names_position():
    with pytest.raises(TypeError, match="argument 1"):
        grad(lambda x, y: x * y, argnums=(0, 1))(1.0, "b")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("shape", [(3,), (2, 2), (1,), (2, 1, 3)])
def test_non_scalar_array_output(transform, shape):
    with pytest.raises(TypeError, match=r"\(" + ", ".join(map(str, shape)) + r",?\)"):
        TRANSFORMS[transform](lambda x: x * np.ones(shape))(1.0)
    with pytest.raises(TypeError, match="shape"):
        TRANSFORMS[transform](lambda x: np.ones(shape))(1.0)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("make", [lambda x: [x, x], lambda x: (x, 2.0, x), lambda x: [x]],
                         ids=["list2", "tuple3", "list1"])
def test_list_output(transform, make):
    with pytest.raises(TypeError, match="shape") as info:
        TRANSFORMS[transform](make)(1.0)
    assert f"({len(make(1.0))},)" in str(info.value)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("out", [None, "abc", b"x", object(), {"a": 1.0}])
def test_non_number_output(transform, out):
    with pytest.raises(TypeError):
        TRANSFORMS[transform](lambda x: out)(1.0)


class _Boom(Exception):
    pass


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_exception_inside_f_propagates_and_next_call_works(transform):
    leaked = []

    def f(x):
        leaked.append(x)
        y = x * 2.0
        raise _Boom("inside f")

    with pytest.raises(_Boom, match="inside f"):
        TRANSFORMS[transform](f)(1.0)
    with pytest.raises(_Boom):
        TRANSFORMS[transform](f)(np.ones(3))
    # the Var from the failed call belongs to a closed tape
    with pytest.raises(fastad.TapeError):
        leaked[0] + 1.0
    # and later calls record normally
    assert grad(lambda x: x * x)(3.0) == 6.0
    assert value_and_grad(lambda x: np.sum(x**2))(np.array([1.0, 2.0]))[0] == 5.0


def test_exception_in_output_check_leaves_state_clean():
    with pytest.raises(TypeError):
        grad(lambda x: [x, x])(1.0)
    assert grad(lambda x: x * 4.0)(1.0) == 4.0


def test_returning_var_of_other_call_raises_tape_error():
    leaked = []
    grad(lambda x: leaked.append(x) or x)(1.0)
    with pytest.raises(fastad.TapeError):
        grad(lambda x: leaked[0])(2.0)


# ---- repeated and concurrent calls ---------------------------------------------------------

def test_many_calls_of_varying_size_stay_correct():
    """Tapes of very different lengths one after the other (also past the sizes
    where the sweep releases the GIL) and while earlier tapes are kept alive."""
    rng = np.random.default_rng(1)
    kept = []
    for n in [3, 5000, 10, 300, 1, 2000, 7, 5000, 2]:
        x = rng.normal(size=n)
        c = rng.normal()

        def f(v):
            kept.append(v[0])  # keeps this call's tape alive
            return np.sum(v * v * v) * c + 1.0 / (1.0 + v[0] ** 2)

        value, g = value_and_grad(f)(x)
        expected = 3 * x * x * c
        expected[0] += -2 * x[0] / (1 + x[0] ** 2) ** 2
        assert_close(value, np.sum(x**3) * c + 1 / (1 + x[0] ** 2), rtol=1e-12)
        assert_close(g, expected, rtol=1e-12)
        if len(kept) > 3:
            kept.pop(0)


def test_grad_in_several_threads():
    import threading

    errors = []
    x0 = np.linspace(-1.0, 1.0, 2000)

    def work(k):
        try:
            for _ in range(5):
                g = grad(lambda v: np.sum(fastad.sin(v * k)))(x0)
                np.testing.assert_allclose(g, k * np.cos(k * x0), rtol=1e-13)
                assert grad(lambda v: v ** 3 * k)(2.0) == 12.0 * k
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in (1.0, 2.0, 3.0, 4.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_second_order_transforms_are_built():
    assert fastad.hessian(lambda x: x * x * x)(2.0) == 12.0
    assert fastad.hvp(lambda x: x * x * x, 2.0, 0.5) == 6.0


@pytest.mark.parametrize("outer", TRANSFORMS)
@pytest.mark.parametrize("inner", TRANSFORMS)
def test_nested_grad(outer, inner):
    if inner == "grad":
        inner_f = grad(lambda x: x**3)
    else:
        inner_f = lambda x: value_and_grad(lambda y: y**3)(x)[1]  # noqa: E731
    result = TRANSFORMS[outer](inner_f)(2.0)
    if outer == "value_and_grad":
        assert result == (12.0, 12.0)
    else:
        assert result == 12.0
    assert grad(lambda x: x**3)(2.0) == 12.0


def test_closure_over_outer_var():
    def outer(x):
        return grad(lambda y: x * y)(1.0)

    assert grad(outer)(2.0) == 1.0
    assert grad(lambda x: grad(lambda y: np.sum(y))(np.array([x, x]))[0])(2.0) == 0.0
    # perturbation confusion: d/dx [x * d/dy (x + y)] = 1
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(5.0) == 1.0
    assert grad(lambda x: x * 5.0)(1.0) == 5.0


def test_grad_inside_f_on_constants_is_fine():
    """A grad call inside f that does not touch the outer Vars is ordinary code."""
    def f(x):
        c = grad(lambda y: y**2)(3.0)  # 6.0, a constant to the outer tape
        return c * x

    assert grad(f)(2.0) == 6.0


# ---- Rosenbrock against SciPy -------------------------------------------------------------

def rosen_loop(x):
    """Written with a Python loop: works for lists and arrays."""
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return total


def rosen_numpy(x):
    """Written with NumPy slicing on the object array."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("n", [2, 10, 1000])
@pytest.mark.parametrize("as_list", [True, False], ids=["list", "ndarray"])
@pytest.mark.parametrize("impl", [rosen_loop, rosen_numpy])
def test_rosenbrock_vs_scipy(n, as_list, impl):
    x0 = np.random.default_rng(n).uniform(-2.0, 2.0, size=n)
    arg = x0.tolist() if as_list else x0
    if as_list and impl is rosen_numpy:
        f = lambda x: rosen_numpy(np.array(x, dtype=object))  # noqa: E731
    else:
        f = impl
    value, g = value_and_grad(f)(arg)
    if as_list:
        assert type(g) is list and len(g) == n
        g = np.array(g)
    else:
        assert isinstance(g, np.ndarray) and g.shape == (n,) and g.dtype == np.float64
    assert_close(value, scipy.optimize.rosen(x0), rtol=1e-12)
    assert_close(g, scipy.optimize.rosen_der(x0), rtol=1e-12, atol=1e-12)


def test_rosenbrock_vs_finite_differences():
    x0 = np.array([-1.2, 1.0, 0.5, 2.0])
    g = grad(rosen_numpy)(x0)
    assert_close(g, central_diff_grad(scipy.optimize.rosen, x0), rtol=1e-6, atol=1e-6)


def test_argnums_list_works_like_tuple():
    # JAX takes any sequence of ints.
    assert grad(lambda x, y: x * y, argnums=[0, 1])(2.0, 3.0) == (3.0, 2.0)
