"""Branch guards of fastad.trace (docs/api.md section 3): comparisons of Vars made
while tracing are checked at every replay; where one comes out differently F
re-traces f there (retrace=True) or raises BranchError (retrace=False), and is
never silently computed on the wrong branch. A branch on `.value` is not a
guard. Results are compared with a fresh recording at the same point and f's
calls are counted."""

import math
import operator

import numpy as np
import pytest

import fastad

from conftest import Counted, assert_close, same_bits


# ---- helpers -------------------------------------------------------------------------------


def assert_fresh(F, f, x):
    """F's value and gradient at x are those of a fresh recording of f at x, bit for bit."""
    v_ref, g_ref = fastad.value_and_grad(f)(x)
    v, g = F.value_and_grad(x)
    assert same_bits(v, v_ref), (x, v, v_ref)
    assert same_bits(np.asarray(g), np.asarray(g_ref)), (x, g, g_ref)
    assert same_bits(F(x), v_ref)
    return v, g


def n_guards(f, x0):
    with fastad.Tape() as t:
        f(t.var(x0) if not isinstance(x0, list) else [t.var(v) for v in x0])
    return t.n_guards


# ---- `if x > 0` ------------------------------------------------------------------------------

def piecewise(x):
    if x > 0:
        return x * x + 1.0
    return -3.0 * x + 1.0


def test_if_branch_re_traces_only_where_the_guard_flips():
    f = Counted(piecewise)
    F = fastad.trace(f, 1.0)
    assert f.calls == 1
    assert F.value_and_grad(2.0) == (5.0, 4.0)
    assert F.value_and_grad(0.5) == (1.25, 1.0)
    assert f.calls == 1                       # same branch: no call
    assert F.value_and_grad(-2.0) == (7.0, -3.0)
    assert f.calls == 2                       # flipped: re-traced once
    assert F.value_and_grad(-1.0) == (4.0, -3.0)
    assert F(-5.0) == 16.0
    assert f.calls == 2                       # the new branch is kept
    assert F.value_and_grad(0.0) == (1.0, -3.0)   # the boundary belongs to the else branch
    assert f.calls == 2
    for x in np.linspace(-3, 3, 31):
        assert_fresh(F, piecewise, float(x))


def test_alternating_between_two_branches_does_not_re_trace_every_call():
    f = Counted(piecewise)
    F = fastad.trace(f, 1.0)
    F(-1.0)
    assert f.calls == 2
    for k in range(40):
        x = (k + 1) * 0.1 * (1 if k % 2 else -1)
        v, g = F.value_and_grad(x)
        assert (v, g) == fastad.value_and_grad(piecewise)(x)
        F.grad(-x)
        F.vjp(x, 1.0)
        F.jacobian(-x)
    assert f.calls == 2                       # both branches kept: no more calls


def test_alternating_with_the_first_call_on_the_other_branch():
    f = Counted(piecewise)
    F = fastad.trace(f, -1.0)
    for x in [1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.0, 0.25]:
        F(x)
    assert f.calls == 2


def test_guard_on_an_intermediate_value():
    def f(x):
        y = fastad.sin(x)
        if y > 0.5:
            return y * x
        return fastad.cos(x) - x

    F = fastad.trace(f, 1.0)
    for x in np.linspace(-4, 4, 41):
        assert_fresh(F, f, float(x))


# ---- abs and piecewise functions written with comparisons -----------------------------------

def abs_by_comparison(x):
    total = 0.0
    for v in x:
        total = total + (v if v >= 0 else -v)
    return total


def test_abs_by_comparison_on_an_array():
    f = Counted(abs_by_comparison)
    F = fastad.trace(f, np.array([1.0, -2.0, 3.0]))
    rng = np.random.default_rng(1)
    seen = {(True, False, True)}
    for _ in range(40):
        x = rng.uniform(-2, 2, 3)
        seen.add(tuple(bool(v >= 0) for v in x))
        v, g = assert_fresh(F, abs_by_comparison, x)
        assert v == abs(x[0]) + abs(x[1]) + abs(x[2])
        np.testing.assert_array_equal(g, np.where(x >= 0, 1.0, -1.0))
    assert len(seen) == 8
    assert 8 <= f.calls <= 1 + 40      # each pattern traced once at least, at most once a call


def pieces(x):
    if x < -1.0:
        return -2.0 * x - 1.0
    elif x < 0.5:
        return x * x
    elif x <= 2:
        return fastad.exp(x - 0.5) - 0.75
    return 3.0 * fastad.log(x)


def test_piecewise_function_with_elif():
    f = Counted(pieces)
    F = fastad.trace(f, 0.0)
    xs = [-3.0, -1.0, -0.5, 0.25, 0.5, 1.0, 2.0, 2.5, 10.0]
    for x in xs:
        assert_fresh(F, pieces, x)
    assert f.calls == 1 + 3                  # one re-trace for each other piece
    for x in xs[::-1] + xs:                  # every piece has been seen
        assert_fresh(F, pieces, x)
    assert f.calls == 1 + 3
    assert_close(F.grad(1.0), math.exp(0.5))
    assert F.grad(-2.0) == -2.0
    assert_close(F.grad(4.0), 0.75)


# ---- NumPy compares: np.maximum, np.minimum, np.clip, np.where on object arrays ----------------

W = np.array([[0.5, -1.0, 0.25], [1.5, 0.3, -0.7], [-0.2, 0.8, 1.1], [0.9, -0.4, 0.6]])
B = np.array([0.1, -0.2, 0.05, 0.0])


def relu_net(x):
    h = np.maximum(W @ x + B, 0.0)
    return np.sum(h * h) + np.sum(np.minimum(x, 0.5))


def test_np_maximum_on_arrays_needs_no_guard():
    # on a fastad.Array np.maximum is the maximum rule, evaluated again at
    # every replay: no guard, and no re-trace on any other branch
    x0 = np.array([0.3, -0.5, 0.8])
    assert n_guards(relu_net, x0) == 0
    f = Counted(relu_net)
    F = fastad.trace(f, x0)
    rng = np.random.default_rng(2)
    for _ in range(60):
        x = rng.normal(size=3)
        assert_close(F.grad(x), fastad.grad(relu_net)(x), rtol=1e-14)
    assert f.calls == 1


def relu_net_on_object_arrays(x):
    return relu_net(np.asarray(x))


def test_np_maximum_on_object_arrays_is_guarded():
    relu_net = relu_net_on_object_arrays
    x0 = np.array([0.3, -0.5, 0.8])
    assert n_guards(relu_net, x0) > 0           # NumPy's object loops compare
    f = Counted(relu_net)
    F = fastad.trace(f, x0)
    rng = np.random.default_rng(2)
    for _ in range(60):
        x = rng.uniform(-2, 2, 3)
        assert_fresh(F, relu_net, x)
    assert f.calls > 1                          # some points are on other branches


def test_np_clip_and_where_on_object_arrays():
    def f(x):
        leaky = np.where(x > 0, x, 0.1 * x)
        return np.sum(np.clip(x, -1.0, 1.0) * leaky)

    F = fastad.trace(f, np.array([0.5, -0.5, 2.0]))
    rng = np.random.default_rng(3)
    for _ in range(40):
        x = rng.uniform(-3, 3, 3)
        v, g = assert_fresh(F, f, x)
        leaky = np.where(x > 0, x, 0.1 * x)
        assert_close(v, np.sum(np.clip(x, -1.0, 1.0) * leaky))


def test_builtin_max_min_and_sorted():
    weights = [1.0, 10.0, 100.0, 1000.0]

    def f(xs):
        ordered = sorted(xs)
        return sum(w * v for w, v in zip(weights, ordered)) + max(xs[0], xs[1], 0.0) - min(xs[2], xs[3])

    F = fastad.trace(f, [0.1, 0.4, 0.2, 0.3])
    rng = np.random.default_rng(4)
    for _ in range(60):                          # many of the 24 orders (more than kept)
        x = [float(v) for v in rng.uniform(-1, 1, 4)]
        v, g = assert_fresh(F, f, x)
        expected = sum(w * v for w, v in zip(weights, sorted(x))) + max(x[0], x[1], 0.0) - min(x[2], x[3])
        assert v == expected


# ---- while loops whose trip count depends on x ------------------------------------------------

def halvings(x):
    n = 0
    while x > 1.0:
        x = x / 2.0
        n += 1
    return x * (n + 1.0)


def newton_sqrt(a):
    y = a
    while fastad.abs(y * y - a) > 1e-12 * a:
        y = 0.5 * (y + a / y)
    return y


def test_while_loop_trip_count():
    f = Counted(halvings)
    F = fastad.trace(f, 3.0)                       # two halvings
    assert F.value_and_grad(3.5) == (3.5 / 4 * 3, 3 / 4)
    assert f.calls == 1
    for x in [0.5, 1.5, 3.0, 5.0, 17.0, 100.0, 0.9, 7.9]:
        assert_fresh(F, halvings, x)
        n = max(0, math.ceil(math.log2(x))) if x > 1 else 0
        assert_close(F.grad(x), (n + 1.0) / 2.0**n)


def test_newton_iteration_loop():
    f = Counted(newton_sqrt)
    F = fastad.trace(f, 2.0)
    for a in [2.0, 2.5, 0.3, 9.0, 1e4, 1e-3]:
        v, g = assert_fresh(F, newton_sqrt, a)
        assert_close(v, math.sqrt(a), rtol=1e-12)
        assert_close(g, 0.5 / math.sqrt(a), rtol=1e-8)


# ---- truthiness ----------------------------------------------------------------------------

def truthy(x):
    if x:
        return x * 3.0
    return x + 7.0


def test_truthiness_is_a_guard():
    f = Counted(truthy)
    F = fastad.trace(f, 1.0)
    assert F.value_and_grad(2.0) == (6.0, 3.0)
    assert f.calls == 1
    assert F.value_and_grad(0.0) == (7.0, 1.0)
    assert f.calls == 2
    assert F.value_and_grad(-0.0) == (7.0, 1.0)     # -0.0 is falsy too
    assert F.value_and_grad(-4.0) == (-12.0, 3.0)
    assert f.calls == 2
    G = fastad.trace(truthy, 1.0, retrace=False)
    assert G(-4.0) == -12.0
    with pytest.raises(fastad.BranchError):
        G(0.0)


def test_truthiness_of_array_elements_and_not():
    def f(x):
        if x[0] and not x[1]:
            return x[0] * x[2]
        return x[2] - x[1]

    F = fastad.trace(f, np.array([1.0, 0.0, 2.0]))
    for x in [[1.0, 0.0, 5.0], [0.0, 0.0, 5.0], [1.0, 1.0, 5.0], [3.0, 0.0, 2.0], [0.0, 2.0, 1.0]]:
        assert_fresh(F, f, np.array(x))


# ---- comparisons with every kind of right operand ------------------------------------------

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
       "==": operator.eq, "!=": operator.ne}

CONSTANTS = {
    "int": lambda: 1,
    "float": lambda: 1.0,
    "np.float64": lambda: np.float64(1.0),
    "np.float32": lambda: np.float32(1.0),
    "np.int64": lambda: np.int64(1),
    "np.int8": lambda: np.int8(1),
    "0-d float array": lambda: np.array(1.0),
}


def branchy(op, c, reflected):
    cmp = OPS[op]

    def f(x):
        cond = cmp(c, x) if reflected else cmp(x, c)
        if cond:
            return x * x - 2.0 * x
        return 5.0 * x - 1.0

    return f


@pytest.mark.parametrize("reflected", [False, True], ids=["x op c", "c op x"])
@pytest.mark.parametrize("kind", sorted(CONSTANTS))
@pytest.mark.parametrize("op", sorted(OPS))
def test_comparison_with_a_constant_is_guarded(op, kind, reflected):
    c = CONSTANTS[kind]()
    cmp = OPS[op]
    xs = [0.0, 0.5, 1.0, 1.5, 2.0, -1.0]

    def outcome(x):
        return bool(cmp(1.0, x) if reflected else cmp(x, 1.0))

    for x0 in (0.0, 1.0, 2.0):
        f = Counted(branchy(op, c, reflected))
        F = fastad.trace(f, x0)
        G = fastad.trace(branchy(op, c, reflected), x0, retrace=False)
        seen = {outcome(x0)}
        for x in xs:
            calls = f.calls
            assert_fresh(F, branchy(op, c, reflected), x)
            # a call of f only for a branch not seen yet
            assert f.calls == calls + (0 if outcome(x) in seen else 1), (x0, x)
            seen.add(outcome(x))
            if outcome(x) == outcome(x0):
                assert G(x) == branchy(op, c, reflected)(x)
            else:
                with pytest.raises(fastad.BranchError):
                    G(x)


@pytest.mark.parametrize("op", sorted(OPS))
def test_comparison_of_two_vars_is_guarded(op):
    cmp = OPS[op]

    def f(x):
        if cmp(x[0], x[1]):
            return x[0] * x[1]
        return x[0] - 2.0 * x[1]

    F = fastad.trace(f, np.array([1.0, 1.0]))
    G = fastad.trace(f, np.array([1.0, 1.0]), retrace=False)
    for x in [(1.0, 1.0), (0.5, 1.0), (1.0, 0.5), (2.0, 2.0), (-3.0, 4.0), (4.0, -3.0)]:
        x = np.array(x)
        assert_fresh(F, f, x)
        if cmp(x[0], x[1]) == cmp(1.0, 1.0):
            assert G(x) == f(x)
        else:
            with pytest.raises(fastad.BranchError):
                G(x)


def test_comparison_with_a_one_element_float_array():
    def f(x):
        if (x > np.array([0.0]))[0]:
            return x * x
        return -x

    F = fastad.trace(f, 1.0)
    assert F(-2.0) == 2.0
    assert F.grad(-2.0) == -1.0


def test_comparison_with_huge_ints_is_exact():
    # ints compare exactly (docs/api.md: comparisons with Python numbers); 2**53 + 3
    # is not a float, and the nearest float is 2**53 + 4
    n = 2**53 + 3

    def f(x):
        if x > n:
            return x * 2.0
        return x * 3.0

    F = fastad.trace(f, 2.0**53)                      # x0 <= n: the else branch
    x = 2.0**53 + 4                                    # x > n: the if branch
    assert F(x) == x * 2.0
    assert F.grad(x) == 2.0


def test_comparison_with_a_huge_int_at_the_tracing_point():
    n = 2**53 + 3

    def f(x):
        if x > n:
            return x * 2.0
        return x * 3.0

    x0 = 2.0**53 + 4
    G = fastad.trace(f, x0, retrace=False)
    assert G(x0) == x0 * 2.0                           # the tracing point is on its own branch
    assert G(x0 * 2) == x0 * 4.0


def test_comparison_with_an_int_beyond_the_float_range():
    def f(x):
        if x < 10**400:
            return x + 1.0
        return x - 1.0

    F = fastad.trace(f, 1.0, retrace=False)
    assert F(1e308) == 1e308 + 1.0
    assert F(-math.inf) == -math.inf


# ---- retrace=False: BranchError ---------------------------------------------------------------

def test_branch_error_with_retrace_false():
    f = Counted(piecewise)
    F = fastad.trace(f, 1.0, retrace=False)
    assert issubclass(fastad.BranchError, fastad.FastADError)
    calls = [lambda: F(-1.0), lambda: F.grad(-1.0), lambda: F.value_and_grad(-1.0),
             lambda: F.vjp(-1.0, 1.0), lambda: F.jacobian(-1.0)]
    for call in calls:
        with pytest.raises(fastad.BranchError) as info:
            call()
        assert isinstance(info.value, fastad.FastADError)
        assert len(str(info.value)) > 20
    assert f.calls == 1                             # never re-traced
    assert F.value_and_grad(3.0) == (10.0, 6.0)      # still fine on its branch
    assert F.value_and_grad(0.5) == (1.25, 1.0)


def test_branch_error_is_catchable_as_fastad_error():
    F = fastad.trace(piecewise, -1.0, retrace=False)
    with pytest.raises(fastad.FastADError):
        F(1.0)


def test_nan_at_a_guard():
    f = Counted(piecewise)
    F = fastad.trace(f, 1.0)
    v, g = F.value_and_grad(math.nan)                 # nan > 0 is False: the else branch
    v_ref, g_ref = fastad.value_and_grad(piecewise)(math.nan)
    assert same_bits(v, v_ref) and same_bits(g, g_ref)
    assert math.isnan(v) and g == -3.0
    G = fastad.trace(piecewise, 1.0, retrace=False)
    with pytest.raises(fastad.BranchError):
        G(math.nan)
    assert G(math.inf) == math.inf


# ---- `.value` is not a guard ----------------------------------------------------------------

def test_branch_on_value_is_not_guarded_and_replays_the_recorded_branch():
    # docs/api.md: `.value` is a constant to the tape, and a branch on it is not
    # guarded; replay keeps the branch taken at x0 whatever the new input is.
    def f(x):
        if x.value > 0:
            return x * x
        return -3.0 * x

    counted = Counted(f)
    F = fastad.trace(counted, 1.0)
    assert F.value_and_grad(-2.0) == (4.0, -4.0)     # the x > 0 branch, at x = -2
    assert counted.calls == 1
    G = fastad.trace(f, 1.0, retrace=False)
    assert G(-2.0) == 4.0                             # no BranchError either
    with fastad.Tape() as t:
        f(t.var(1.0))
    assert t.n_guards == 0


def test_value_used_as_a_constant_in_the_arithmetic():
    def f(x):
        return x * x.value

    F = fastad.trace(f, 3.0)
    assert F.value_and_grad(2.0) == (6.0, 3.0)         # 3.0 is the recorded constant


# ---- more branch patterns than kept ------------------------------------------------------------

def staircase(x):
    k = 0
    while x > k + 1:
        k += 1
    return x * k + k * k


def test_more_than_eight_branch_patterns():
    f = Counted(staircase)
    F = fastad.trace(f, 0.5)
    for sweep in range(3):
        for k in range(12):
            x = k + 0.25 + 0.1 * sweep
            assert F.value_and_grad(x) == (x * k + k * k, float(k))
    order = np.random.default_rng(6).permutation(12)
    for k in order:
        x = k + 0.75
        assert_fresh(F, staircase, x)
    assert 12 <= f.calls <= 1 + 12 * 4 + 12
    calls = f.calls
    F(11.5)                                    # the most recent pattern: no call
    F(11.9)
    assert f.calls == calls


def test_many_branch_patterns_of_an_array_input():
    def f(x):
        total = 0.0
        for i in range(len(x)):
            if x[i] > 0:
                total = total + x[i] * (i + 1)
            elif x[i] > -1:
                total = total - x[i] * x[i]
            else:
                total = total + fastad.sin(x[i])
        return total

    F = fastad.trace(f, np.ones(4))
    rng = np.random.default_rng(7)
    for _ in range(80):                        # up to 81 patterns
        assert_fresh(F, f, rng.uniform(-2, 2, 4))


# ---- guards also choose the recording for vjp and jacobian -------------------------------------

def test_guards_apply_to_vjp_and_jacobian_of_array_outputs():
    def f(x):
        if x[0] > x[1]:
            return np.array([x[0] * x[1], x[1], 1.0], dtype=object)
        return [x[0] + x[1], x[0] ** 2, x[1] * 3.0]

    F = fastad.trace(f, np.array([2.0, 1.0]))
    G = fastad.trace(f, np.array([2.0, 1.0]), retrace=False)
    w = np.array([1.0, -2.0, 0.5])
    for x in [(2.0, 1.0), (1.0, 2.0), (3.0, -1.0), (-1.0, 3.0)]:
        x = np.array(x)
        jac_ref = fastad.jacobian(f)(x)
        out_ref, vjp_fn = fastad.vjp(f, x)
        assert same_bits(F.jacobian(x), jac_ref)
        out, ct = F.vjp(x, w)
        assert same_bits(out, out_ref) and same_bits(ct, vjp_fn(w)[0])
        assert same_bits(F(x), out_ref)
        if x[0] > x[1]:
            assert same_bits(G.jacobian(x), jac_ref)
        else:
            with pytest.raises(fastad.BranchError):
                G.jacobian(x)
            with pytest.raises(fastad.BranchError):
                G.vjp(x, w)


def test_list_input_with_branches():
    def f(xs):
        a, b = xs
        return a * b if a < b else a - b

    F = fastad.trace(f, [1.0, 2.0])
    for x in ([1.0, 2.0], [2.0, 1.0], [0.0, 0.0], [-1.0, 5.0]):
        assert_fresh(F, f, x)
