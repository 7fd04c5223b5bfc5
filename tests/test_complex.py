"""Complex numbers: ComplexVar arithmetic and functions, and every transform
under the conventions of docs/api.md section 2 (gradients d/dRe + 1j d/dIm,
holomorphic=True for f'(z), the real-pair convention for jvp and vjp)."""

import pickle
import threading

import numpy as np
import pytest

import fastad
from fastad import ComplexVar, Tape, Var

from catalogue import ops
from conftest import assert_close, central_diff_directional

Z = 1.0 + 2.0j
POINTS = [1.0 + 2.0j, -0.7 + 0.3j, 0.4 - 1.1j, 2.5 + 0.0j, -1.5 - 0.5j]


def fd_real_loss(f, z):
    """df/dRe + 1j df/dIm by central differences (f real-valued)."""
    return central_diff_directional(f, z, 1.0) + 1j * central_diff_directional(f, z, 1j)


def fd_holomorphic(f, z):
    """f'(z) by central differences along the real axis."""
    return central_diff_directional(f, z, 1.0)


def recorded(f, *values):
    """f evaluated on ComplexVars of a fresh tape at values; returns its value."""
    with Tape() as t:
        args = [t.var(v) for v in values]
        out = f(*args)
    return fastad.value(out)


# ---- ComplexVar values -------------------------------------------------------------------

OPERANDS = {
    "complex": 0.5 - 1.5j,
    "float": 1.75,
    "int": 3,
    "np.complex128": np.complex128(-0.25 + 0.5j),
    "np.float64": np.float64(-2.5),
    "np.complex64": np.complex64(1.0 + 1.0j),
}
OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
}


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("other", OPERANDS)
@pytest.mark.parametrize("z", POINTS[:3])
def test_operators_with_numbers_on_both_sides(op, other, z):
    fn = OPERATORS[op]
    c = OPERANDS[other]
    assert_close(recorded(lambda v: fn(v, c), z), fn(complex(z), complex(c)), rtol=1e-13)
    assert_close(recorded(lambda v: fn(c, v), z), fn(complex(c), complex(z)), rtol=1e-13)


@pytest.mark.parametrize("op", OPERATORS)
def test_operators_between_complex_and_real_vars(op):
    fn = OPERATORS[op]
    for z, x in [(1 + 2j, 0.75), (-0.3 + 0.4j, 2.0)]:
        assert_close(recorded(lambda a, b: fn(a, b), z, x), fn(z, x), rtol=1e-13)
        assert_close(recorded(lambda a, b: fn(b, a), z, x), fn(x, z), rtol=1e-13)
        w = 0.5 - 0.25j
        assert_close(recorded(lambda a, b: fn(a, b), z, w), fn(z, w), rtol=1e-13)


def test_a_real_var_with_a_complex_constant_is_complex():
    with Tape() as t:
        x = t.var(2.0)
        for result in (x + 1j, 1j * x, x * np.complex128(2j), x / (1 + 1j), x ** (0.5 + 0.5j),
                       (1 + 1j) ** x, x - 1j):
            assert type(result) is ComplexVar
    with Tape() as t:
        x = t.var(2.0)
        assert_close((x * (3 - 4j)).value, 6 - 8j)
        assert_close((x ** (0.5 + 0.5j)).value, 2.0 ** (0.5 + 0.5j), rtol=1e-13)
        assert_close(((1 + 1j) ** x).value, (1 + 1j) ** 2.0, rtol=1e-13)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2, -3, 2.0, 17])
def test_integer_powers_are_exact_products(n):
    z = 1.25 - 0.5j
    assert_close(recorded(lambda v: v ** n, z), z ** n, rtol=1e-14)
    assert_close(fastad.grad(lambda v: v ** n, holomorphic=True)(z), n * z ** (n - 1), rtol=1e-13)
    if n >= 1:  # defined at 0, as Python's complex power
        assert_close(recorded(lambda v: v ** n, 0j), 0j)
        assert_close(fastad.grad(lambda v: v ** n, holomorphic=True)(0j), 1.0 if n == 1 else 0.0)


def test_power_of_a_complex_var_to_a_complex_var():
    z, w = 0.8 + 0.6j, 0.3 - 0.2j
    assert_close(recorded(lambda a, b: a ** b, z, w), z ** w, rtol=1e-13)
    g = fastad.grad(lambda a, b: a ** b, argnums=(0, 1), holomorphic=True)(z, w)
    assert_close(g[0], w * z ** (w - 1), rtol=1e-12)
    assert_close(g[1], z ** w * np.log(z), rtol=1e-12)


# name -> (fastad.<name>, NumPy reference): the public unary functions with a
# complex rule, from the test catalogue
FUNCTIONS = {op.name: (op.function, op.complex_ref)
             for op in ops(arity=1, public=True, complex=True)}


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("z", POINTS + [3.0 - 40.0j, 40.0 + 0.5j, -40.0 - 0.5j, -2.0 + 0.0j])
def test_function_values_match_numpy(name, z):
    ours, reference = FUNCTIONS[name]
    expected = reference(complex(z))
    if not np.isfinite(expected):
        # Beyond the float range NumPy gives inf or nan: so must fastad.
        assert not np.isfinite(complex(ours(z)))
        return
    assert_close(recorded(ours, z), expected, rtol=1e-12, atol=1e-15 * max(1.0, abs(expected)))
    # the same rule on plain numbers and through NumPy's object loop
    assert_close(ours(z), expected, rtol=1e-12, atol=1e-15 * max(1.0, abs(expected)))
    assert_close(recorded(lambda v: reference(v), z), expected, rtol=1e-12,
                 atol=1e-15 * max(1.0, abs(expected)))


def test_tanh_saturates_without_overflow():
    for z in (400.0 + 1.0j, -400.0 + 1.0j, 30.0 + 2.0j):
        assert_close(recorded(fastad.tanh, z), np.tanh(z), rtol=1e-14, atol=1e-300)
        g = fastad.grad(fastad.tanh, holomorphic=True)(z)
        assert np.isfinite(g) and abs(g - (1 - np.tanh(z) ** 2)) < 1e-12


def test_functions_on_complex_arrays_and_object_arrays():
    zs = np.array(POINTS)
    assert_close(fastad.exp(zs), np.exp(zs), rtol=1e-13)
    assert fastad.exp(zs).dtype == np.complex128
    assert_close(fastad.abs(zs), np.abs(zs), rtol=1e-14)
    assert_close(fastad.power(zs, 2), zs ** 2, rtol=1e-14)
    assert_close(fastad.power(2.0, zs), 2.0 ** zs, rtol=1e-13)
    with Tape() as t:
        v = t.var(zs)
        assert v.dtype == object and all(type(e) is ComplexVar for e in v)
        assert_close(fastad.value(fastad.sqrt(v)), np.sqrt(zs), rtol=1e-13)
        assert_close(fastad.value(np.conj(v)), np.conj(zs))
        assert_close(fastad.value(np.sum(v * v)), np.sum(zs * zs), rtol=1e-13)
        assert_close(fastad.value(np.abs(v)), np.abs(zs), rtol=1e-14)


def test_abs_real_imag_conjugate():
    with Tape() as t:
        z = t.var(3.0 + 4.0j)
        assert type(abs(z)) is Var and abs(z).value == 5.0
        assert type(z.real) is Var and z.real.value == 3.0
        assert type(z.imag) is Var and z.imag.value == 4.0
        assert z.conjugate().value == 3.0 - 4.0j
        assert z.conj().value == 3.0 - 4.0j
        assert (-z).value == -3.0 - 4.0j and (+z) is z
        x = t.var(2.0)
        assert x.real is x and x.imag == 0.0 and x.conjugate() is x
        w = x + 1j  # a constant imaginary part stays a float
        assert w.imag == 1.0 and type(w.imag) is float
        y = abs(z) ** 2
    g = t.gradient(y, z)
    assert_close(g, 6.0 + 8.0j)


def test_comparisons():
    with Tape() as t:
        z = t.var(1.0 + 2.0j)
        assert z == 1.0 + 2.0j and not (z != 1.0 + 2.0j)
        assert z != 1.0 and bool(z)
        assert z == z and (z * 0) == 0
        for compare in (lambda: z < 1, lambda: z <= 1j, lambda: z > z, lambda: 2 >= z):
            with pytest.raises(TypeError, match="no order"):
                compare()


def test_display():
    with Tape() as t:
        z = t.var(1.5 - 2.0j)
        assert repr(z) == "ComplexVar((1.5-2j))"
        assert format(z, ".2f") == "1.50-2.00j"
        assert f"{z}" == repr(z)


# ---- errors ---------------------------------------------------------------------------------

def test_conversions_that_drop_the_derivative_raise():
    with Tape() as t:
        z = t.var(1.0 + 1.0j)
        for convert in (complex, float, int):
            with pytest.raises(TypeError, match="value"):
                convert(z)
        with pytest.raises(TypeError):
            hash(z)
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(z)
        with pytest.raises(TypeError, match="//"):
            z // 2
        with pytest.raises(TypeError, match="%"):
            2 % z
        with pytest.raises(TypeError):
            t.var(1.0) // 1j
        with pytest.raises(TypeError, match="complex"):
            fastad.arcsin(z)
        with pytest.raises(TypeError, match="complex"):
            fastad.erf(1j)
        with pytest.raises(TypeError, match="complex"):
            fastad.arctan2(z, 1.0)
        with pytest.raises(TypeError):
            fastad.maximum(1j, 2.0)
        with pytest.raises(TypeError):
            z + "a"
        with pytest.raises(ZeroDivisionError):
            (z * 0) ** 1j
        with pytest.raises(ZeroDivisionError):
            (z * 0) ** -0.5
        assert ((z * 0) ** 0.5).value == 0j == 0j ** 0.5
    with pytest.raises(TypeError, match="created directly"):
        ComplexVar()


def test_grad_of_a_complex_output_needs_holomorphic():
    for f in (lambda z: z * z, lambda z: 1j, lambda x: x * 1j, lambda z: np.array(z * z)):
        with pytest.raises(TypeError, match="holomorphic=True"):
            fastad.grad(f)(Z)
    with pytest.raises(TypeError, match="holomorphic=True"):
        fastad.value_and_grad(lambda x: x * 1j)(1.0)
    with pytest.raises(TypeError, match="holomorphic"):
        fastad.grad(lambda z: z, holomorphic="yes")


def test_jacobian_of_a_complex_output_at_a_complex_input_needs_holomorphic():
    with pytest.raises(TypeError, match="holomorphic=True"):
        fastad.jacobian(lambda z: z * z)(np.array([1j, 2.0 + 0j]))
    with pytest.raises(TypeError, match="holomorphic=True"):
        fastad.trace(lambda z: z * z, 1j).jacobian(2j)


def test_tangent_and_cotangent_kinds_must_match():
    with pytest.raises(TypeError, match="tangent is complex"):
        fastad.jvp(lambda x: x * 2.0, (1.0,), (1j,))
    with pytest.raises(TypeError, match="tangent is complex"):
        fastad.jvp(lambda x: x * 2.0, (np.ones(2),), (np.ones(2) * 1j,))
    with pytest.raises(TypeError, match="expected a complex number"):
        fastad.jvp(lambda z: z * 2.0, (1j,), ("a",))
    with pytest.raises(ValueError, match="shape"):
        fastad.jvp(lambda z: z * 2.0, (np.ones(2) * 1j,), (np.ones(3) * 1j,))
    _, vjp_fn = fastad.vjp(lambda x: x * 2.0, 1.0)
    with pytest.raises(TypeError, match="cotangent is complex"):
        vjp_fn(1j)
    _, vjp_fn = fastad.vjp(lambda z: z * 2.0, np.array([1j, 2j]))
    with pytest.raises(ValueError, match="shape"):
        vjp_fn(np.ones(3) * 1j)


def test_hessian_of_a_real_function_of_a_complex_argument_raises():
    with pytest.raises(TypeError, match="hvp"):
        fastad.hessian(lambda z: abs(z) ** 2)(Z)
    with pytest.raises(TypeError, match="hvp"):
        fastad.trace(lambda z: abs(z) ** 2, Z).hessian(Z)


def test_tape_gradient_of_a_complex_output_raises():
    with Tape() as t:
        z = t.var(Z)
        y = z * z
    with pytest.raises(TypeError, match="complex"):
        t.gradient(y, z)


# ---- grad of real-valued functions -----------------------------------------------------------

def test_abs_squared_gives_2z():
    for z in POINTS:
        assert_close(fastad.grad(lambda v: abs(v) ** 2)(z), 2 * z, rtol=1e-14, atol=1e-15)
        assert_close(fastad.grad(lambda v: (v * v.conjugate()).real)(z), 2 * z, rtol=1e-15)
    assert type(fastad.grad(lambda v: abs(v) ** 2)(Z)) is complex
    assert type(fastad.grad(lambda v: abs(v) ** 2)(np.complex128(Z))) is complex


REAL_LOSSES = {
    "abs": lambda z: abs(z),
    "real": lambda z: (z * z).real,
    "imag": lambda z: (fastad.exp(z) / (z + 3)).imag,
    "mixed": lambda z: abs(fastad.sin(z) * z.conjugate()) ** 2 + (z ** 3).real,
    "log-abs": lambda z: fastad.log(z).real * abs(fastad.sqrt(z)),
}


@pytest.mark.parametrize("name", REAL_LOSSES)
@pytest.mark.parametrize("z", POINTS)
def test_grad_of_a_real_loss_matches_finite_differences(name, z):
    f = REAL_LOSSES[name]
    g = fastad.grad(f)(z)
    expected = fd_real_loss(lambda v: recorded(f, v), z)
    assert_close(g, expected, rtol=1e-6, atol=1e-7)


def test_least_squares_gradient_matches_its_closed_form():
    rng = np.random.default_rng(6)
    A = rng.normal(size=(5, 3)) + 1j * rng.normal(size=(5, 3))
    b = rng.normal(size=5) + 1j * rng.normal(size=5)
    z = rng.normal(size=3) + 1j * rng.normal(size=3)
    f = lambda v: np.sum(np.abs(A @ v - b) ** 2)  # noqa: E731
    value, g = fastad.value_and_grad(f)(z)
    assert_close(value, np.sum(np.abs(A @ z - b) ** 2), rtol=1e-13)
    assert g.dtype == np.complex128 and g.shape == (3,)
    assert_close(g, 2 * A.conj().T @ (A @ z - b), rtol=1e-12)
    # descending along -g lowers the loss, as in PyTorch's convention
    assert f(z - 1e-3 * g) < value


def test_gradient_mirrors_the_argument_structure():
    args = {"z": 1.0 + 1.0j, "x": 2.0, "zs": np.array([1j, 2.0 + 0j]), "l": [1j, 3.0]}

    def f(p):
        return abs(p["z"]) ** 2 * p["x"] + np.sum(np.abs(p["zs"]) ** 2) + abs(p["l"][0] * p["l"][1])

    g = fastad.grad(f)(args)
    assert_close(g["z"], 2 * (1 + 1j) * 2.0)
    assert type(g["x"]) is float and g["x"] == pytest.approx(2.0, rel=1e-15)
    assert g["zs"].dtype == np.complex128
    assert_close(g["zs"], 2 * args["zs"])
    assert type(g["l"]) is list and type(g["l"][0]) is complex and type(g["l"][1]) is float
    assert_close(g["l"][0], 3j)  # d|z w|/dz = w z/|z| at z = 1j, w = 3
    assert_close(g["l"][1], 1.0)  # d|z w|/dw = |z|
    gz, gx = fastad.grad(lambda z, x: abs(z * x) ** 2, argnums=(0, 1))(1j, 2.0)
    assert_close(gz, 2j * 4.0)
    assert gx == pytest.approx(4.0)


# ---- holomorphic derivatives -------------------------------------------------------------

# name -> (f, f'): the operations of the test catalogue with a holomorphic
# complex rule (unary ones, as user code records them) and compositions
HOLOMORPHIC = {op.name: (op.record, op.d) for op in ops(arity=1, complex=True) if op.holomorphic}
HOLOMORPHIC.update({
    "z**3": (lambda z: z ** 3, lambda z: 3 * z ** 2),
    "1/z": (lambda z: 1 / z, lambda z: -1 / z ** 2),
    "z**0.5j": (lambda z: z ** (0.5j), lambda z: 0.5j * z ** (0.5j - 1)),
    "mix": (lambda z: z * fastad.exp(2 * z) - 3j / (z + 2),
            lambda z: np.exp(2 * z) * (1 + 2 * z) + 3j / (z + 2) ** 2),
})


@pytest.mark.parametrize("name", HOLOMORPHIC)
@pytest.mark.parametrize("z", POINTS)
def test_holomorphic_grad_is_the_complex_derivative(name, z):
    f, df = HOLOMORPHIC[name]
    value, g = fastad.value_and_grad(f, holomorphic=True)(z)
    assert type(value) is complex and type(g) is complex
    assert_close(g, df(z), rtol=1e-12, atol=1e-14)
    assert_close(fastad.grad(f, holomorphic=True)(z), g)
    # and the derivative agrees along both axes (Cauchy-Riemann)
    assert_close(g, fd_holomorphic(lambda v: recorded(f, v), z), rtol=1e-6, atol=1e-8)


def test_holomorphic_at_a_real_argument_raises_and_points_to_jacobian():
    # As JAX: holomorphic=True needs complex arguments. The derivative of a
    # complex-valued f of a real x is its Jacobian, dRe f/dx + 1j dIm f/dx.
    for call in (lambda: fastad.grad(lambda x: fastad.exp(1j * x), holomorphic=True)(0.5),
                 lambda: fastad.grad(lambda x: x * x, holomorphic=True)(3.0),
                 lambda: fastad.value_and_grad(lambda x: x * 1j, holomorphic=True)(
                     np.array(2.0)),
                 lambda: fastad.jacobian(lambda x: x * 1j, holomorphic=True)(np.ones(2)),
                 lambda: fastad.hessian(lambda x: x ** 3, holomorphic=True)(1.0),
                 lambda: fastad.trace(lambda x: x * 1j, 1.0).jacobian(1.0, holomorphic=True)):
        with pytest.raises(TypeError, match="holomorphic=True needs complex") as info:
            call()
        assert "jacobian(" in str(info.value)
    assert_close(fastad.jacobian(lambda x: fastad.exp(1j * x))(0.5), 1j * np.exp(0.5j))
    assert_close(fastad.grad(lambda z: z * z, holomorphic=True)(3.0 + 0j), 6.0)


def test_holomorphic_jacobian():
    zs = np.array([1.0 + 2.0j, -0.5 + 0.25j, 2.0 - 1.0j])
    A = np.arange(9.0).reshape(3, 3) + 1j * np.eye(3)
    for mode in ("auto", "reverse", "forward"):
        J = fastad.jacobian(lambda z: z ** 2, mode=mode, holomorphic=True)(zs)
        assert J.dtype == np.complex128
        assert_close(J, np.diag(2 * zs), rtol=1e-14)
        assert_close(fastad.jacobian(lambda z: A @ fastad.exp(z), mode=mode, holomorphic=True)(zs),
                     A * np.exp(zs), rtol=1e-13)
    assert_close(fastad.jacrev(lambda z: z ** 2, holomorphic=True)(zs), np.diag(2 * zs))
    assert_close(fastad.jacfwd(lambda z: z ** 2, holomorphic=True)(zs), np.diag(2 * zs))
    J = fastad.jacobian(lambda z: z ** 3, holomorphic=True)(Z)
    assert_close(J, 3 * Z ** 2)


def test_jacobian_of_a_complex_output_at_a_real_input():
    x = np.array([0.5, -1.0])
    J = fastad.jacobian(lambda v: fastad.exp(1j * v))(x)
    assert_close(J, np.diag(1j * np.exp(1j * x)), rtol=1e-14)
    assert_close(fastad.jacfwd(lambda v: [v[0] * 1j, v[1] ** 2])(x),
                 np.array([[1j, 0], [0, -2.0]]))


def test_jacobian_rows_of_real_outputs_at_a_complex_input_are_gradients():
    zs = np.array([1.0 + 1.0j, 2.0 - 0.5j])
    J = fastad.jacobian(lambda z: np.abs(z) ** 2)(zs)
    assert_close(J, np.diag(2 * zs))
    for k in range(2):
        assert_close(J[k], fastad.grad(lambda z: abs(z[k]) ** 2)(zs))


def test_holomorphic_hessian_and_nested_derivatives():
    f = lambda z: z ** 4 + fastad.exp(z)  # noqa: E731
    for z in POINTS[:3]:
        expected = 12 * z ** 2 + np.exp(z)
        assert_close(fastad.hessian(f, holomorphic=True)(z), expected, rtol=1e-12)
        d2 = fastad.grad(fastad.grad(f, holomorphic=True), holomorphic=True)(z)
        assert_close(d2, expected, rtol=1e-12)
        d3 = fastad.grad(fastad.grad(fastad.grad(f, holomorphic=True), holomorphic=True),
                         holomorphic=True)(z)
        assert_close(d3, 24 * z + np.exp(z), rtol=1e-12)
    zs = np.array([1j, 0.5 + 0.5j])
    H = fastad.hessian(lambda z: np.sum(z ** 3), holomorphic=True)(zs)
    assert_close(H, np.diag(6 * zs))


def test_grad_of_a_real_function_of_a_holomorphic_derivative():
    # d/dz of |f'(z)|^2 with f = z^3: |3 z^2|^2 = 9 |z|^4 -> 36 |z|^2 z
    inner = fastad.grad(lambda z: z ** 3, holomorphic=True)
    for z in POINTS[:3]:
        assert_close(fastad.grad(lambda v: abs(inner(v)) ** 2)(z), 36 * abs(z) ** 2 * z,
                     rtol=1e-12)


# ---- jvp and vjp: the real-pair convention --------------------------------------------------

@pytest.mark.parametrize("name", ["exp", "z**3", "1/z", "log", "mix"])
def test_jvp_and_vjp_of_a_holomorphic_function(name):
    f, df = HOLOMORPHIC[name]
    for z in POINTS[:3]:
        for v in (1.0, 1j, 0.3 - 0.7j):
            out, tangent = fastad.jvp(f, (z,), (v,))
            assert_close(out, recorded(f, z))
            assert_close(tangent, df(z) * v, rtol=1e-12)
            out, vjp_fn = fastad.vjp(f, z)
            (cotangent,) = vjp_fn(v)
            assert type(cotangent) is complex
            assert_close(cotangent, np.conj(df(z)) * v, rtol=1e-12)


def test_vjp_of_a_real_function_with_one_is_the_gradient():
    f = REAL_LOSSES["mixed"]
    for z in POINTS:
        out, vjp_fn = fastad.vjp(f, z)
        assert type(out) is float
        assert_close(vjp_fn(1.0)[0], fastad.grad(f)(z), rtol=1e-15)


def test_jvp_of_a_real_function_is_the_real_inner_product_with_the_gradient():
    f = REAL_LOSSES["mixed"]
    z, v = 0.3 + 0.4j, -1.0 + 2.0j
    g = fastad.grad(f)(z)
    _, tangent = fastad.jvp(f, (z,), (v,))
    assert type(tangent) is float
    assert_close(tangent, (g.conjugate() * v).real, rtol=1e-13)


def test_jvp_and_vjp_on_arrays():
    zs = np.array([1.0 + 1.0j, -2.0 + 0.5j])
    A = np.array([[1.0, 2j], [3.0 - 1j, 0.5]])
    f = lambda z: A @ (z * z)  # noqa: E731
    J = A * (2 * zs)
    v = np.array([0.5j, 1.0])
    w = np.array([1.0 - 1.0j, 2.0j])
    out, tangent = fastad.jvp(f, (zs,), (v,))
    assert_close(out, A @ (zs * zs))
    assert_close(tangent, J @ v, rtol=1e-13)
    out, vjp_fn = fastad.vjp(f, zs)
    assert_close(vjp_fn(w)[0], J.conj().T @ w, rtol=1e-13)
    # a complex output and a real primal
    out, vjp_fn = fastad.vjp(lambda x: fastad.exp(1j * x), 0.5)
    assert_close(vjp_fn(1j)[0], (np.conj(1j * np.exp(0.5j)) * 1j).real)


def test_hvp_of_a_real_function_of_a_complex_argument():
    # f = |z|^4: the gradient G(z) = 4 |z|^2 z; hvp is its derivative along v
    f = lambda z: abs(z) ** 4  # noqa: E731
    G = lambda z: 4 * abs(z) ** 2 * z  # noqa: E731
    for z in POINTS[:3]:
        for v in (1.0, 1j, 0.5 - 0.2j):
            expected = central_diff_directional(G, z, v)
            assert_close(fastad.hvp(f, z, v), expected, rtol=1e-7, atol=1e-8)
    zs = np.array([1j, 1.0 + 0.5j])
    vs = np.array([1.0, 1j])
    hv = fastad.hvp(lambda z: np.sum(np.abs(z) ** 2), zs, vs)
    assert_close(hv, 2 * vs, rtol=1e-14)


# ---- trace and replay ---------------------------------------------------------------------

def test_trace_of_a_real_loss_replays_value_and_gradient():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 3)) + 1j * rng.normal(size=(4, 3))
    b = rng.normal(size=4) + 1j * rng.normal(size=4)
    f = lambda v: np.sum(np.abs(A @ v - b) ** 2)  # noqa: E731
    calls = []
    F = fastad.trace(lambda v: calls.append(1) or f(v), np.zeros(3, dtype=complex))
    assert F.n_inputs == 3 and F.n_outputs == 1
    for _ in range(3):
        z = rng.normal(size=3) + 1j * rng.normal(size=3)
        assert_close(F(z), f(z), rtol=1e-13)
        value, g = F.value_and_grad(z)
        assert_close(g, 2 * A.conj().T @ (A @ z - b), rtol=1e-12)
        assert_close(F.grad(z), g)
        assert_close(F.vjp(z, 1.0)[1], g)
    assert len(calls) == 1
    Z = rng.normal(size=(6, 3)) + 1j * rng.normal(size=(6, 3))
    values, grads = F.value_and_grad_batch(Z, threads=2)
    assert grads.dtype == np.complex128 and grads.shape == Z.shape
    for k in range(6):
        assert_close(values[k], f(Z[k]), rtol=1e-13)
        assert_close(grads[k], F.grad(Z[k]), rtol=1e-15)
    with pytest.raises(ValueError, match="shape"):
        F(np.zeros(2, dtype=complex))
    with pytest.raises(TypeError):
        F(np.array(["a", "b", "c"]))


def test_trace_of_a_complex_scalar():
    F = fastad.trace(lambda z: abs(fastad.exp(z) - 1) ** 2, 0.5 + 0.5j)
    f = lambda z: abs(np.exp(z) - 1) ** 2  # noqa: E731
    for z in POINTS:
        assert_close(F(z), f(z), rtol=1e-13)
        g = F.grad(z)
        assert type(g) is complex
        assert_close(g, fastad.grad(lambda v: abs(fastad.exp(v) - 1) ** 2)(z), rtol=1e-15)
    assert_close(F.grad(2.0), fastad.grad(lambda v: abs(fastad.exp(v) - 1) ** 2)(2.0 + 0j))
    assert_close(F.hvp(Z, 1j), fastad.hvp(lambda v: abs(fastad.exp(v) - 1) ** 2, Z, 1j))
    G = F.grad_function()
    assert_close(G(Z), F.grad(Z))
    assert G.n_inputs == 1 and G.n_outputs == 1


def test_trace_of_a_holomorphic_function():
    f, df = HOLOMORPHIC["mix"]
    F = fastad.trace(f, 1.0 + 1.0j)
    for z in POINTS:
        value = F(z)
        assert type(value) is complex
        assert_close(value, recorded(f, z), rtol=1e-15)
        assert_close(F.jacobian(z, holomorphic=True), df(z), rtol=1e-12)
        out, tangent = F.jvp(z, 0.5j)
        assert_close(tangent, df(z) * 0.5j, rtol=1e-12)
        out, cotangent = F.vjp(z, 2.0 - 1j)
        assert_close(cotangent, np.conj(df(z)) * (2.0 - 1j), rtol=1e-12)
    for method in (F.grad, F.value_and_grad):
        with pytest.raises(TypeError, match="complex"):
            method(Z)
    with pytest.raises(TypeError, match="complex"):
        F.grad_function()
    with pytest.raises(TypeError, match="complex"):
        F.value_and_grad_batch(np.array([Z]))


def test_trace_of_a_list_of_complex_numbers():
    F = fastad.trace(lambda zs: abs(zs[0] * zs[1]) ** 2, [1.0 + 1.0j, 2.0])
    g = F.grad([1j, 2.0])
    assert type(g) is list
    assert_close(np.array(g), fastad.grad(lambda zs: abs(zs[0] * zs[1]) ** 2)([1j, 2.0 + 0j]))


def test_trace_with_a_branch_on_a_complex_value_retraces():
    f = lambda z: abs(z) ** 2 if z.real > 0 else (z * z).imag  # noqa: E731
    F = fastad.trace(f, 1.0 + 1.0j)
    assert_close(F.grad(2.0 + 1.0j), 4.0 + 2.0j)
    assert_close(F.grad(-2.0 + 1.0j), fastad.grad(lambda z: (z * z).imag)(-2.0 + 1.0j))
    G = fastad.trace(f, 1.0 + 1.0j, retrace=False)
    with pytest.raises(fastad.BranchError):
        G.grad(-1.0 + 0j)


def test_trace_of_a_complex_function_pickles():
    F = fastad.trace(lambda z: np.sum(np.abs(z) ** 2), np.array([1j, 2.0 + 0j]))
    G = pickle.loads(pickle.dumps(F))
    z = np.array([1.0 - 1.0j, 0.5j])
    assert_close(G.grad(z), 2 * z)
    assert G.n_inputs == 2
    H = pickle.loads(pickle.dumps(fastad.trace(lambda z: z * z, 1j)))
    assert_close(H.jacobian(2j, holomorphic=True), 4j)


def test_function_of_complex_input_from_many_threads():
    F = fastad.trace(lambda z: abs(fastad.sin(z)) ** 2, 0.5 + 0.5j)
    points = [complex(k / 10, -k / 20) for k in range(40)]
    expected = [fastad.grad(lambda v: abs(fastad.sin(v)) ** 2)(z) for z in points]
    errors = []

    def work():
        for z, g in zip(points, expected):
            if abs(F.grad(z) - g) > 1e-13 * max(1.0, abs(g)):
                errors.append(z)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---- the imperative tape and value() ------------------------------------------------------

def test_tape_var_and_gradient_with_complex_values():
    with Tape() as t:
        z = t.var(1.0 + 2.0j)
        zs = t.var(np.array([1j, 2.0]) + 0j)
        x = t.var(3.0)
        y = abs(z) ** 2 * x + np.sum(np.abs(zs) ** 2) + (z * x).imag
    assert_close(t.gradient(y, z), 2 * (1 + 2j) * 3.0 + 3.0j)
    gzs = t.gradient(y, zs)
    assert gzs.dtype == np.complex128
    assert_close(gzs, 2 * np.array([1j, 2.0]))
    gz, gx = t.gradient(y, [z, x])
    assert_close(gx, abs(1 + 2j) ** 2 + 2.0)
    # a part that is a constant has derivative 0
    with Tape() as t:
        x = t.var(2.0)
        w = x + 1j
        y = abs(w) ** 2
    assert_close(t.gradient(y, w), 4.0 + 0j)


def test_value_of_complex_vars():
    with Tape() as t:
        z = t.var(1.0 + 2.0j)
        arr = np.array([z, t.var(3.0), 1j], dtype=object)
        assert fastad.value(z) == 1.0 + 2.0j and type(fastad.value(z)) is complex
        v = fastad.value(arr)
        assert v.dtype == np.complex128 and list(v) == [1 + 2j, 3.0, 1j]
        assert fastad.value([z, 2j]) == [1 + 2j, 2j]
    assert fastad.value(np.array([1j])).dtype == np.complex128
    assert fastad.value(np.complex64(1j)) == 1j


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e-100, 1.0, 1e100, 1e160, 1e200])
def test_division_by_tiny_and_huge_complex_vars_does_not_overflow(scale):
    z, w = 1.5 - 0.5j, (0.75 + 2.0j) * scale
    with Tape() as t:
        a, b = t.var(z), t.var(w)
        q = a / b
        r = 1 / b
    assert_close(q.value, z / w, rtol=1e-14)
    assert_close(r.value, 1 / w, rtol=1e-14)
    expected = -(z / w) / w
    if np.isfinite(expected) and expected != 0:
        assert_close(fastad.grad(lambda b: z / b, holomorphic=True)(w), expected, rtol=1e-13,
                     atol=0)


@pytest.mark.parametrize("distance", [1e-2, 1e-4, 1e-6])
def test_tan_and_tanh_are_accurate_near_their_poles(distance):
    # The pole of tan at pi/2 and of tanh at i pi/2, approached along both axes
    for z in (complex(np.pi / 2 - distance, 0.0), complex(np.pi / 2, distance),
              complex(np.pi / 2 + distance, -distance), complex(np.pi / 2 + distance, 1.0)):
        assert_close(fastad.tan(z), np.tan(z), rtol=1e-13)
        assert_close(fastad.tanh(1j * z), np.tanh(1j * z), rtol=1e-13)
        assert_close(fastad.grad(fastad.tan, holomorphic=True)(z), 1 / np.cos(z) ** 2,
                     rtol=1e-12)


def test_holomorphic_on_a_real_valued_function_of_a_complex_argument_raises():
    # It is not holomorphic: a derivative along the real axis alone would be
    # silently wrong (JAX raises here too).
    for call in (lambda: fastad.grad(lambda z: abs(z) ** 2, holomorphic=True)(1 + 1j),
                 lambda: fastad.value_and_grad(lambda z: z.real, holomorphic=True)(1j),
                 lambda: fastad.jacobian(lambda z: np.abs(z) ** 2, holomorphic=True)(
                     np.array([1 + 1j, 2j])),
                 lambda: fastad.hessian(lambda z: abs(z) ** 2, holomorphic=True)(1 + 1j),
                 lambda: fastad.trace(lambda z: abs(z) ** 2, 1j).jacobian(1j, holomorphic=True)):
        with pytest.raises(TypeError, match="not holomorphic"):
            call()


def test_error_messages_point_to_what_exists():
    with pytest.raises(TypeError, match="hvp needs a real scalar") as info:
        fastad.hvp(lambda z: z ** 3, 1 + 1j, 1.0)
    assert "hessian(f, holomorphic=True)" in str(info.value)
    with pytest.raises(TypeError, match="gradient of a real loss"):
        fastad.jacobian(fastad.grad(lambda z: abs(z) ** 4))(1 + 1j)


def test_infinite_parts_are_packed_without_nan():
    # 1j * inf is nan + inf j: results are assembled part by part
    f = lambda z: fastad.sqrt(z.imag) + z.real  # noqa: E731  (sqrt'(0) = inf)
    for g in (fastad.grad(f)(1 + 0j), fastad.vjp(f, 1 + 0j)[1](1.0)[0],
              fastad.trace(f, 1 + 0j).grad(1 + 0j)):
        assert g.real == 1.0 and g.imag == np.inf
    out, tangent = fastad.jvp(lambda z: z + 1, (complex(1, np.inf),), (1.0,))
    assert out.real == 2.0 and out.imag == np.inf and tangent == 1.0
    F = fastad.trace(lambda x: fastad.exp(1j * x) * np.inf, np.array([0.0]))
    assert F(np.array([0.0]))[0].real == np.inf
