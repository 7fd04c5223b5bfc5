"""Property tests of complex-number support: random complex expression trees.

A random expression tree over two complex variables z, w, a real variable x
and constants (complex and real, as Python and NumPy scalars) is evaluated on
fastad's ComplexVars/Vars and on plain NumPy complex/float scalars (the
reference, with np.exp etc.). The recorded values must match the plain ones;
gradients (of real losses), holomorphic derivatives, jvp, vjp, jacobians and
replays of a trace must match central finite differences and each other.

Points near the branch cut of log/sqrt/non-integer powers, near zero divisors,
near the poles of tan/tanh, near the kink of abs, and points with huge
intermediate values are skipped (``assume``) by tracking them in the plain
evaluation. Finite differences are central, Richardson-extrapolated, and
compared only where two step sizes agree (the function is smooth there).
"""

import math
import operator

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastad

from catalogue import complex_abs, cut_distance, ops
from conftest import Counted, central_diff_steps, richardson, same_bits, smooth_at_step

N_COMPLEX = 2                 # z, w; the real x is leaf index 2
MARGIN = 1e-3                 # minimal distance to a branch cut, pole, zero divisor or kink
MAX_SCALE = 1e3               # largest magnitude of an intermediate value


# ---- the operations --------------------------------------------------------------------

def _conj_method(e):
    # .conj() is the ComplexVar (and NumPy scalar) spelling; a real Var has .conjugate()
    return e.conj() if type(e) is fastad.ComplexVar else e.conjugate()


def _op_name(key):
    """The operation of a table key: "tan" for "tan:np.tan"."""
    return key.split(":")[0]


# name -> (function on fastad operands, function on plain NumPy scalars,
#          holomorphic, distance of the plain operand to a singular point or None):
# every spelling of every operation of the catalogue with a complex rule, and
# the complex parts and conjugates
UNARY = {f"{op.name}:{label}": (f, op.complex_ref, op.holomorphic, op.complex_kink)
         for op in ops(arity=1, complex=True) for label, f in op.spellings.items()}
UNARY.update({
    "pos": (operator.pos, operator.pos, True, None),
    "real": (lambda e: e.real, lambda e: e.real, False, None),
    "imag": (lambda e: e.imag, lambda e: e.imag, False, None),
    "conjugate": (lambda e: e.conjugate(), lambda e: e.conjugate(), False, None),
    "conj": (_conj_method, np.conj, False, None),
})

# name -> (function on fastad operands, function on plain NumPy scalars,
#          distance of the plain operands to a singular point or None)
BINARY = {f"{op.name}:{label}": (f, op.complex_ref, op.complex_kink)
          for op in ops(arity=2, complex=True) for label, f in op.spellings.items()}

# |cos a| for tan, |cosh a| for tanh: the distance to a pole, kept above
# POLE_MARGIN (fastad's tanh(a + ib) divides by cosh 2a + cos 2b = 2|cosh(a + ib)|**2,
# whose cancellation costs relative accuracy of about eps / |cosh|**2 near a pole)
POLES = {"tan": lambda a: complex_abs(np.cos(a)), "tanh": lambda a: complex_abs(np.cosh(a))}
POLE_MARGIN = 0.05

SATURATING = ("tan", "tanh")
TANH_SATURATION = 36.0

HOLOMORPHIC_UNARY = sorted(name for name, spec in UNARY.items() if spec[2])


def _is_traced(v):
    return type(v) is fastad.Var or type(v) is fastad.ComplexVar


def _as_plain(v):
    """A plain number as a NumPy scalar (IEEE semantics, NumPy's complex functions)."""
    if isinstance(v, (complex, np.complexfloating)):
        return np.complex128(v)
    return np.float64(v)


def _is_constant(tree):
    if tree[0] == "v":
        return False
    if tree[0] == "c":
        return True
    return all(_is_constant(child) for child in tree[2:])


def _pow_distance(a, b, b_tree):
    """Distance of the plain base a to where a ** b is singular or on a branch cut."""
    if _is_constant(b_tree):
        e = complex(b)
        if not _finite(e):
            return 0.0
        if e.imag == 0.0 and e.real == math.floor(e.real) and abs(e.real) <= 100:
            # an integer power: repeated multiplication, singular only at a == 0 for e < 0
            return complex_abs(a) if e.real < 0 else math.inf
    return cut_distance(a)


def evaluate(tree, leaves, track=None):
    """Evaluate tree on leaves: ComplexVars/Vars (fastad) or NumPy scalars (plain).

    Subexpressions without a traced operand are evaluated on NumPy scalars in
    both cases. With `track` (plain leaves only), record the smallest distance
    of an operand to a singular point ("kink") and the largest magnitude of
    an intermediate value ("scale").
    """
    kind = tree[0]
    if kind == "v":
        return leaves[tree[1]]
    if kind == "c":
        c = tree[1]
        return c if any(_is_traced(v) for v in leaves) else _as_plain(c)
    if kind == "u":
        fastad_fn, plain_fn, _, kink = UNARY[tree[1]]
        name = _op_name(tree[1])
        a = evaluate(tree[2], leaves, track)
        if _is_traced(a):
            y = fastad_fn(a)
        else:
            a = _as_plain(a)
            if track is not None and kink is not None:
                track["kink"] = min(track["kink"], kink(a))
            if track is not None and name in POLES:
                track["pole"] = min(track["pole"], POLES[name](a))
            if track is not None and name in SATURATING and isinstance(a, np.complexfloating):
                # fastad's complex tanh (tan z = -i tanh(iz)) switches to its
                # saturated form beyond |Re| > 36: a branch guard on the tape
                part = abs(a.imag if name == "tan" else a.real)
                track["guards"].append(part > TANH_SATURATION)
                track["kink"] = min(track["kink"], abs(part - TANH_SATURATION))
            y = plain_fn(a)
    else:
        fastad_fn, plain_fn, kink = BINARY[tree[1]]
        a = evaluate(tree[2], leaves, track)
        b = evaluate(tree[3], leaves, track)
        if _is_traced(a) or _is_traced(b):
            y = fastad_fn(a, b)
        else:
            a, b = _as_plain(a), _as_plain(b)
            if track is not None:
                if _op_name(tree[1]) == "power":
                    track["kink"] = min(track["kink"], _pow_distance(a, b, tree[3]))
                elif kink is not None:
                    track["kink"] = min(track["kink"], kink(a, b))
            y = plain_fn(a, b)
    if track is not None:
        m = complex_abs(y)
        track["scale"] = max(track["scale"], m if m > 0.0 or complex(y) == 0 else math.inf)
    return y


def plain_leaves(z, w, x):
    return [np.complex128(z), np.complex128(w), np.float64(x)]


def plain(tree, z, w, x, track=None):
    """The plain value of tree at (z, w, x), a NumPy scalar."""
    return _as_plain(evaluate(tree, plain_leaves(z, w, x), track))


def checked_point(tree, z, w, x):
    """The plain value at (z, w, x); skip the example unless it is well inside
    the smooth domain with moderate intermediate values."""
    y, track = tracked(tree, z, w, x)
    assume(track["kink"] > MARGIN)
    assume(track["pole"] > POLE_MARGIN)
    assume(track["scale"] < MAX_SCALE)
    return y, track["scale"]


def tracked(tree, z, w, x):
    """The plain value at (z, w, x) and its track: "kink", "scale" and
    "guards" (the pattern of the branch guards fastad records)."""
    track = {"kink": math.inf, "pole": math.inf, "scale": 0.0, "guards": []}
    return plain(tree, z, w, x, track), track


# ---- strategies ------------------------------------------------------------------------

# Hypothesis' floats favour 0.0 and tiny values (points on the real axis, where a
# wrong imaginary part of a derivative goes unseen); a grid of generic values
# is mixed in
_part = st.one_of(
    st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False),
    st.integers(-20000, 20000).map(lambda k: k / 10000.0),
)
_complex_point = st.builds(complex, _part, _part)
_real_point = _part

_real_constant = st.one_of(
    st.sampled_from([2, -1, 3, 0, 0.5, 1.0, 2.0, -1.0, 0.0, 1.5, np.float64(0.25), np.int64(2)]),
    st.builds(lambda v, kind: kind(v), _part, st.sampled_from([float, np.float64])),
)
_complex_constant = st.one_of(
    st.sampled_from([1j, -1j, 1 + 1j, 0.5 - 2j, np.complex128(-0.5 + 0.25j), 2 + 0j]),
    st.builds(lambda re, im, kind: kind(complex(re, im)), _part, _part,
              st.sampled_from([complex, np.complex128])),
)
_constant_leaf = st.tuples(st.just("c"), st.one_of(_real_constant, _complex_constant))


@st.composite
def _expressions(draw, holomorphic, max_ops=10):
    """A tree of up to max_ops operations (uniform in size, so that larger
    trees are as common as small ones)."""
    variables = list(range(N_COMPLEX)) if holomorphic else list(range(N_COMPLEX + 1))
    variable = st.tuples(st.just("v"), st.sampled_from(variables))
    leaf = st.one_of(variable, variable, _constant_leaf)   # two in three a variable
    unary = st.sampled_from(HOLOMORPHIC_UNARY if holomorphic else sorted(UNARY))
    binary = st.sampled_from(sorted(BINARY))

    def build(n_ops):
        if n_ops == 0:
            return draw(leaf)
        if draw(st.booleans()):
            return ("u", draw(unary), build(n_ops - 1))
        left = draw(st.integers(0, n_ops - 1))
        return ("b", draw(binary), build(left), build(n_ops - 1 - left))

    return build(draw(st.integers(0, max_ops)))


expressions = _expressions(holomorphic=False)
holomorphic_expressions = _expressions(holomorphic=True)
points = st.tuples(_complex_point, _complex_point, _real_point)


def _close(got, want, tol):
    return abs(complex(got) - complex(want)) <= tol


# ---- 1. values --------------------------------------------------------------------------

@settings(max_examples=200)
@given(tree=expressions, point=points)
def test_value_on_complex_vars_equals_value_on_complex_numbers(tree, point):
    z, w, x = point
    expected, scale = checked_point(tree, z, w, x)
    seen = []

    def f(zv, wv, xv):
        e = evaluate(tree, [zv, wv, xv])
        seen.append(e)
        return abs(e) ** 2

    fastad.grad(f, argnums=(0, 1, 2))(z, w, x)
    (e,) = seen
    got = fastad.value(e)
    # a complex expression stays complex and a real one (abs, .real, .imag) real
    if isinstance(expected, np.complexfloating):
        assert type(e) is fastad.ComplexVar or isinstance(e, (complex, np.complexfloating)), e
        assert type(got) is complex
    else:
        assert type(e) is fastad.Var or isinstance(e, (int, float, np.floating, np.integer)), e
        assert type(got) is float
    assert _close(got, expected, 1e-10 * max(abs(expected), 1e-3 * scale, 1e-300)), (got, expected)


# ---- 2. gradients of real losses against central differences ----------------------------

LOSSES = {
    "abs2": lambda e: abs(e) ** 2,
    "real": lambda e: e.real,
    "imag": lambda e: e.imag,
    "conj_product": lambda e: (e * e.conjugate()).real,
    "rotated": lambda e: ((0.6 - 0.8j) * e).imag,
}

H = 1e-6


def _shifted(point, k, step):
    """point with variable k moved by step (complex for z, w; real for x)."""
    moved = list(point)
    moved[k] = moved[k] + step
    return moved


def _central_steps(f, point, k, direction, h):
    """Central differences of the plain f along `direction` (1 or 1j) of variable
    k at steps h and h / 2 (relative to |point[k]|), and f at the first two
    points: (fd_h, fd_half, up, down)."""
    def along(t):
        return f(*_shifted(point, k, t - point[k]))

    fd1, fd2, up, down = central_diff_steps(along, point[k], h, direction)
    return complex(fd1), complex(fd2), up, down


def _finite(*values):
    return all(math.isfinite(complex(v).real) and math.isfinite(complex(v).imag) for v in values)


def _fd_gradient(loss_plain, point, k, scale):
    """The gradient d/dRe + 1j*d/dIm of variable k (d/dx for the real x) by central
    differences, with the tolerance of the comparison; skips non-smooth points."""
    directions = (1.0, 1j) if k < N_COMPLEX else (1.0,)
    parts = []
    for direction in directions:
        fd1, fd2, up, down = _central_steps(loss_plain, point, k, direction, H)
        assume(_finite(fd1, fd2, up, down))
        # smooth at the scale of the step: both difference quotients agree
        assume(smooth_at_step(fd1, fd2))
        parts.append(richardson(fd1, fd2).real)
    fd = complex(parts[0], parts[1]) if k < N_COMPLEX else parts[0]
    rounding = 1e-8 * (1.0 + scale * scale) / max(1.0, abs(point[k]))
    return fd, 1e-5 * (1.0 + abs(fd)) + rounding


# a variable (z, w or x), a variable times a constant (a ComplexVar with two
# Var parts, also from the real x) or a constant
_variable = st.tuples(st.just("v"), st.sampled_from([0, 1, 2]))
_operand = st.one_of(_variable, _variable,
                     st.tuples(st.just("b"), st.just("multiply:*"), _variable, _constant_leaf),
                     _constant_leaf)


@st.composite
def single_operations(draw):
    """One operation on variables, scaled variables or constants (not all constant)."""
    if draw(st.booleans()):
        tree = ("u", draw(st.sampled_from(sorted(UNARY))), draw(_operand))
    else:
        tree = ("b", draw(st.sampled_from(sorted(BINARY))), draw(_operand), draw(_operand))
    assume(not _is_constant(tree))
    return tree


@settings(max_examples=250)
@given(tree=single_operations(), point=points, c=_complex_point)
def test_single_operation_value_and_gradient(tree, point, c):
    """Each operation, with each kind of operand on either side: the value to
    rounding, and the gradient of Re(conj(c) y) (d/dRe + 1j d/dIm) to central
    differences."""
    z, w, x = point
    expected, scale = checked_point(tree, z, w, x)
    assume(_finite(expected))
    c = complex(c) if c != 0 else 1.0

    def f(zv, wv, xv):
        y = evaluate(tree, [zv, wv, xv])
        seen.append(y)
        return (np.conj(c) * y).real

    def f_plain(zp, wp, xp):
        return (np.conj(c) * plain(tree, zp, wp, xp)).real

    seen = []
    value, grads = fastad.value_and_grad(f, argnums=(0, 1, 2))(z, w, x)
    got = fastad.value(seen[0])
    assert type(got) is (complex if isinstance(expected, np.complexfloating) else float)
    assert _close(got, expected, 1e-12 * abs(expected) + 1e-300), (got, expected)
    for k in range(N_COMPLEX + 1):
        fd, tol = _fd_gradient(f_plain, point, k, scale * (1.0 + abs(c)))
        assert abs(grads[k] - fd) <= tol, (k, grads[k], fd)


@settings(max_examples=150)
@given(tree=expressions, point=points, loss=st.sampled_from(sorted(LOSSES)))
def test_gradient_of_real_loss_matches_central_differences(tree, point, loss):
    z, w, x = point
    _, scale = checked_point(tree, z, w, x)
    L = LOSSES[loss]

    def f(zv, wv, xv):
        return L(evaluate(tree, [zv, wv, xv]))

    def f_plain(zp, wp, xp):
        return L(plain(tree, zp, wp, xp))

    f0 = f_plain(z, w, x)
    assume(_finite(f0))
    value, grads = fastad.value_and_grad(f, argnums=(0, 1, 2))(z, w, x)
    assert type(value) is float
    assert abs(value - float(f0)) <= 1e-10 * max(abs(float(f0)), scale * scale, 1.0), (value, f0)
    assert type(grads[0]) is complex and type(grads[1]) is complex and type(grads[2]) is float
    for k in range(N_COMPLEX + 1):
        fd, tol = _fd_gradient(f_plain, point, k, scale)
        assert abs(grads[k] - fd) <= tol, (k, grads[k], fd)
    # the real-valued vjp with cotangent 1 is the gradient
    _, pullback = fastad.vjp(f, z, w, x)
    for got, want in zip(pullback(1.0), grads):
        assert _close(got, want, 1e-12 * (1.0 + abs(want))), (got, want)


@settings(max_examples=80)
@given(tree=expressions, point=points, tangents=points, cotangent=_complex_point)
def test_jvp_and_vjp_of_complex_expression(tree, point, tangents, cotangent):
    """jvp is the real-pair directional derivative d/dt f(p + t v); vjp with
    cotangent c is the gradient of Re(conj(c) f)."""
    z, w, x = point
    expected, scale = checked_point(tree, z, w, x)
    assume(isinstance(expected, np.complexfloating))

    def f(zv, wv, xv):
        return evaluate(tree, [zv, wv, xv])

    def along(t):
        return complex(plain(tree, *(p + t * v for p, v in zip(point, tangents))))

    fd1, fd2, up, down = central_diff_steps(along, 0.0, H)
    assume(_finite(fd1, fd2, up, down))
    assume(smooth_at_step(fd1, fd2))

    out, tangent_out = fastad.jvp(f, (z, w, x), tangents)
    assert type(out) is complex and type(tangent_out) is complex
    assert _close(out, expected, 1e-10 * max(abs(expected), 1e-3 * scale, 1e-300))
    fd = richardson(fd1, fd2)
    assert _close(tangent_out, fd, 1e-5 * (1.0 + abs(fd)) + 1e-8 * (1.0 + scale * scale))

    out2, pullback = fastad.vjp(f, z, w, x)
    assert out2 == out
    cotangents = pullback(cotangent)
    want = fastad.grad(lambda zv, wv, xv: (np.conj(cotangent) * f(zv, wv, xv)).real,
                       argnums=(0, 1, 2))(z, w, x)
    for got, g in zip(cotangents, want):
        assert _close(got, g, 1e-10 * (1.0 + abs(g) + scale * scale)), (got, g)
    # duality: Re <c, J v> equals Re <J^T c, v> in the real-pair inner product
    lhs = (np.conj(cotangent) * tangent_out).real
    rhs = sum((np.conj(c) * v).real for c, v in zip(cotangents, tangents))
    assert abs(lhs - rhs) <= 1e-9 * (1.0 + abs(lhs) + scale * scale)


# ---- 3. holomorphic functions ----------------------------------------------------------

@settings(max_examples=150)
@given(tree=holomorphic_expressions, point=points, v=st.tuples(_complex_point, _complex_point),
       c=_complex_point)
def test_holomorphic_derivative_cauchy_riemann_jvp_vjp(tree, point, v, c):
    z, w, x = point
    expected, scale = checked_point(tree, z, w, x)

    def f(zv, wv):
        return evaluate(tree, [zv, wv, None]) + 0j   # complex also where constant

    def f_plain(zp, wp):
        return plain(tree, zp, wp, 0.0)

    value, derivs = fastad.value_and_grad(f, argnums=(0, 1), holomorphic=True)(z, w)
    assert type(value) is complex
    assert _close(value, expected, 1e-10 * max(abs(expected), 1e-3 * scale, 1e-300))
    assert all(type(d) is complex for d in derivs)
    assert derivs == fastad.grad(f, argnums=(0, 1), holomorphic=True)(z, w)
    for k in range(N_COMPLEX):
        # the same derivative along the real and the imaginary axis
        for direction in (1.0, 1j):
            fd1, fd2, up, down = _central_steps(f_plain, (z, w), k, direction, H)
            assume(_finite(fd1, fd2, up, down))
            assume(smooth_at_step(fd1, fd2))
            fd = richardson(fd1, fd2) / direction
            tol = 1e-5 * (1.0 + abs(fd)) + 1e-8 * (1.0 + scale * scale) / max(1.0, abs((z, w)[k]))
            assert _close(derivs[k], fd, tol), (k, direction, derivs[k], fd)

    # forward and reverse mode agree with f'(z) v and conj(f'(z)) c
    bound = 1e-10 * (1.0 + scale * scale) * (1.0 + abs(v[0]) + abs(v[1]) + abs(c))
    out, tangent = fastad.jvp(f, (z, w), v)
    assert out == value
    assert _close(tangent, derivs[0] * v[0] + derivs[1] * v[1], bound)
    out, pullback = fastad.vjp(f, z, w)
    assert out == value
    back = pullback(c)
    assert isinstance(back, tuple) and len(back) == 2
    for k in range(N_COMPLEX):
        assert _close(back[k], np.conj(derivs[k]) * c, bound), (k, back[k])


@settings(max_examples=50)
@given(trees=st.lists(_expressions(holomorphic=True, max_ops=5), min_size=1, max_size=3),
       point=points)
def test_holomorphic_jacobian_forward_reverse_and_differences(trees, point):
    """The complex Jacobian of C^2 -> C^m: forward and reverse mode agree, and
    match differences along the real axes."""
    z, w, _ = point
    scale = 0.0
    for tree in trees:
        scale = max(scale, checked_point(tree, z, w, 0.0)[1])
    zs = np.array([z, w])

    def f(v):
        return [evaluate(tree, [v[0], v[1], None]) + 0j for tree in trees]

    def f_plain(v):
        return np.array([complex(plain(tree, v[0], v[1], 0.0)) for tree in trees])

    J_rev = fastad.jacobian(f, holomorphic=True)(zs)
    J_fwd = fastad.jacobian(f, holomorphic=True, mode="forward")(zs)
    assert J_rev.shape == J_fwd.shape == (len(trees), 2)
    assert J_rev.dtype == J_fwd.dtype == np.complex128
    np.testing.assert_allclose(J_fwd, J_rev, rtol=1e-10, atol=1e-10 * (1.0 + scale * scale))
    for k in range(2):
        def along(t, k=k):
            moved = zs.copy()
            moved[k] = t
            return f_plain(moved)

        fd1, fd2, up, down = central_diff_steps(along, zs[k], H)
        assume(_finite(*up, *down))
        assume(smooth_at_step(fd1, fd2))
        fd = richardson(fd1, fd2)
        tol = 1e-5 * (1.0 + np.abs(fd)) + 1e-8 * (1.0 + scale * scale)
        assert np.all(np.abs(J_rev[:, k] - fd) <= tol), (k, J_rev[:, k], fd)


# ---- 4. replay of a trace ---------------------------------------------------------------

@settings(max_examples=80)
@given(tree=expressions, loss=st.sampled_from(sorted(LOSSES)), x=_real_point,
       p0=st.tuples(_complex_point, _complex_point),
       others=st.lists(st.tuples(_complex_point, _complex_point), min_size=1, max_size=3))
def test_trace_replays_values_and_gradients(tree, loss, x, p0, others):
    """Traced at one point, replayed at others: the value and gradient equal a
    fresh recording at those points bit for bit, without calling f again
    unless a branch guard changes."""
    L = LOSSES[loss]
    patterns = set()
    for p in [p0] + others:
        checked_point(tree, p[0], p[1], x)
        patterns.add(tuple(tracked(tree, p[0], p[1], x)[1]["guards"]))

    def f(zs):
        return L(evaluate(tree, [zs[0], zs[1], x]))

    counted = Counted(f)
    F = fastad.trace(counted, np.array(p0))
    values, grads = [], []
    for p in others:
        zs = np.array(p)
        fresh_value, fresh_grad = fastad.value_and_grad(f)(zs)
        assert same_bits(F(zs), fresh_value), (F(zs), fresh_value)
        g = F.grad(zs)
        assert g.dtype == np.complex128 and g.shape == (2,)
        assert same_bits(g.real, fresh_grad.real), (g, fresh_grad)
        assert same_bits(g.imag, fresh_grad.imag), (g, fresh_grad)
        values.append(fresh_value)
        grads.append(fresh_grad)
    batch_values, batch_grads = F.value_and_grad_batch(np.array(others))
    assert batch_values.shape == (len(others),) and batch_grads.shape == (len(others), 2)
    assert batch_grads.dtype == np.complex128
    assert same_bits(batch_values, np.array(values))
    grads = np.array(grads)
    assert same_bits(batch_grads.real, grads.real) and same_bits(batch_grads.imag, grads.imag)
    # f is called again only for a pattern of tanh's saturation guard not seen
    # before (the only branches in these expressions)
    assert counted.calls <= len(patterns)
    if len(patterns) == 1:
        assert counted.calls == 1


# ---- 5. complex arrays --------------------------------------------------------------------

def _complex_array(shape):
    n = int(np.prod(shape))
    return st.lists(_complex_point, min_size=n, max_size=n).map(
        lambda items: np.array(items, dtype=np.complex128).reshape(shape))


@st.composite
def least_squares_problems(draw):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(1, 4))
    return draw(_complex_array((m, n))), draw(_complex_array((m,))), draw(_complex_array((n,)))


@settings(max_examples=40)
@given(problem=least_squares_problems(), others=st.integers(1, 3), v=_complex_point)
def test_complex_least_squares_gradient(problem, others, v):
    A, b, z = problem
    exact = 2.0 * A.conj().T @ (A @ z - b)
    # the size of the terms summed (cancellation makes entries small, not their errors)
    size = 1.0 + np.abs(A).sum() * (np.abs(A).sum() * np.abs(z).sum() + np.abs(b).sum())

    def loss(zs):
        return np.sum(abs(A @ zs - b) ** 2)

    value, g = fastad.value_and_grad(loss)(z)
    assert g.dtype == np.complex128 and g.shape == z.shape
    assert math.isclose(value, float(np.sum(np.abs(A @ z - b) ** 2)), rel_tol=1e-12, abs_tol=1e-12)
    np.testing.assert_allclose(g, exact, rtol=1e-12, atol=1e-14 * size)
    _, pullback = fastad.vjp(loss, z)
    np.testing.assert_allclose(pullback(1.0)[0], g, rtol=1e-14, atol=0)

    # the linear map z -> A z: its holomorphic Jacobian is A in both modes
    for mode in ("reverse", "forward"):
        J = fastad.jacobian(lambda zs: A @ zs, holomorphic=True, mode=mode)(z)
        np.testing.assert_allclose(J, A, rtol=1e-14, atol=1e-14)
    tangent = np.full(z.shape, v)
    _, out_tangent = fastad.jvp(lambda zs: A @ zs, (z,), (tangent,))
    np.testing.assert_allclose(out_tangent, A @ tangent, rtol=1e-12, atol=1e-14 * size)
    cot = np.full(b.shape, v)
    _, pullback = fastad.vjp(lambda zs: A @ zs, z)
    np.testing.assert_allclose(pullback(cot)[0], A.conj().T @ cot, rtol=1e-12, atol=1e-14 * size)

    # replayed at a batch of points
    F = fastad.trace(loss, z)
    Z = np.array([z + (k + 1) * v for k in range(others)])
    values, grads = F.value_and_grad_batch(Z)
    assert values.shape == (others,) and grads.shape == Z.shape and grads.dtype == np.complex128
    for k in range(others):
        r = A @ Z[k] - b
        size_k = 1.0 + np.abs(A).sum() * (np.abs(A).sum() * np.abs(Z[k]).sum() + np.abs(b).sum())
        assert math.isclose(values[k], float(np.sum(np.abs(r) ** 2)), rel_tol=1e-12, abs_tol=1e-12)
        np.testing.assert_allclose(grads[k], 2.0 * A.conj().T @ r, rtol=1e-12, atol=1e-14 * size_k)
