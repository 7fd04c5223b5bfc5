"""Function.value_and_grad_batch (docs/api.md section 3) and a Function shared by
threads: batch results equal per-point value_and_grad and fresh recordings for
every input shape and thread count, rows on other branches are re-traced (or
raise BranchError) and never wrong, and bad arguments raise clear errors."""

import math
import pickle
import threading

import numpy as np
import pytest

import fastad

from conftest import Counted, assert_close, same_bits


def f_scalar(x):
    return x * fastad.sin(x) + fastad.exp(-x * x) / 3.0


def f_vector(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total + fastad.tanh(x[0])


def f_matrix(x):
    return np.sum(fastad.cos(x) * x) + x[0, 0] * x[1, 2] - fastad.log1p(x[1, 1] ** 2)


CASES = {
    "scalar": (f_scalar, 0.5, ()),
    "vector": (f_vector, np.full(5, 0.5), (5,)),
    "matrix": (f_matrix, np.full((2, 3), 0.5), (2, 3)),
}


def rows(shape, k, seed=0, scale=2.0):
    return np.random.default_rng(seed).uniform(-scale, scale, size=(k,) + shape)


def check_batch(F, f, X, values, grads):
    assert isinstance(values, np.ndarray) and values.shape == (X.shape[0],)
    assert values.dtype == np.float64
    assert isinstance(grads, np.ndarray) and grads.shape == X.shape and grads.dtype == np.float64
    for r in range(X.shape[0]):
        x = float(X[r]) if X.ndim == 1 else X[r]
        v, g = F.value_and_grad(x)
        v_ref, g_ref = fastad.value_and_grad(f)(x)
        assert same_bits(values[r], v) and same_bits(values[r], v_ref), (r, values[r], v_ref)
        assert same_bits(grads[r], g) and same_bits(grads[r], g_ref), (r, grads[r], g_ref)


# ---- results against per-point replays and fresh recordings --------------------------------

@pytest.mark.parametrize("threads", [1, 2, 3, None, 64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_equals_per_point_value_and_grad(case, threads):
    f, x0, shape = CASES[case]
    counted = Counted(f)
    F = fastad.trace(counted, x0)
    X = rows(shape, 37)
    values, grads = F.value_and_grad_batch(X, threads=threads)
    check_batch(F, f, X, values, grads)
    assert counted.calls == 1


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_few_rows(case, k):
    f, x0, shape = CASES[case]
    F = fastad.trace(f, x0)
    X = rows(shape, k, seed=k)
    for threads in (1, 4, None):
        values, grads = F.value_and_grad_batch(X, threads=threads)
        assert values.shape == (k,) and grads.shape == (k,) + shape
        check_batch(F, f, X, values, grads)


def test_batch_accepts_lists_ints_and_non_contiguous_arrays():
    F = fastad.trace(lambda x: x[0] * x[1] + x[2], np.zeros(3))
    values, grads = F.value_and_grad_batch([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(values, [5.0, 26.0])
    np.testing.assert_array_equal(grads, [[2.0, 1.0, 1.0], [5.0, 4.0, 1.0]])
    big = np.arange(36.0).reshape(6, 6)
    X = big[::2, 1::2]                               # strided (3, 3)
    values, grads = F.value_and_grad_batch(X, threads=2)
    np.testing.assert_array_equal(values, X[:, 0] * X[:, 1] + X[:, 2])
    Xf = np.asfortranarray(X)
    values2, grads2 = F.value_and_grad_batch(Xf)
    np.testing.assert_array_equal(values2, values)
    np.testing.assert_array_equal(grads2, grads)
    G = fastad.trace(lambda x: x * x, 1.0)
    values, grads = G.value_and_grad_batch([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(values, [1.0, 4.0, 9.0])
    np.testing.assert_array_equal(grads, [2.0, 4.0, 6.0])


def test_batch_does_not_modify_its_input():
    F = fastad.trace(lambda x: np.sum(x * x) if x[0] > 0 else np.sum(x), np.ones(3))
    X = rows((3,), 20, seed=3)
    before = X.copy()
    F.value_and_grad_batch(X, threads=2)
    np.testing.assert_array_equal(X, before)


def test_batch_of_a_constant_output():
    F = fastad.trace(lambda x: 4.0, np.ones(3))
    values, grads = F.value_and_grad_batch(rows((3,), 5), threads=2)
    np.testing.assert_array_equal(values, np.full(5, 4.0))
    np.testing.assert_array_equal(grads, np.zeros((5, 3)))


def test_batch_of_an_input_as_output():
    F = fastad.trace(lambda x: x[2], np.ones(3))
    X = rows((3,), 4)
    values, grads = F.value_and_grad_batch(X)
    np.testing.assert_array_equal(values, X[:, 2])
    np.testing.assert_array_equal(grads, np.tile([0.0, 0.0, 1.0], (4, 1)))


def test_batch_with_nan_and_inf_rows():
    F = fastad.trace(f_vector, np.full(5, 0.5))
    X = rows((5,), 6)
    X[1, 2] = math.nan
    X[3, 0] = math.inf
    X[4, :] = -math.inf
    values, grads = F.value_and_grad_batch(X, threads=2)
    check_batch(F, f_vector, X, values, grads)
    assert math.isnan(values[1]) and not math.isfinite(values[3])


def test_batch_analytic():
    F = fastad.trace(lambda x: np.sum(x * x * x), np.zeros((2, 2)))
    X = np.arange(12.0).reshape(3, 2, 2)
    values, grads = F.value_and_grad_batch(X, threads=2)
    np.testing.assert_array_equal(values, np.sum(X**3, axis=(1, 2)))
    np.testing.assert_array_equal(grads, 3 * X**2)


def test_large_batch_on_a_long_tape():
    F = fastad.trace(f_vector, np.full(200, 0.5))
    X = rows((200,), 400, seed=9)
    values, grads = F.value_and_grad_batch(X, threads=4)
    one_v, one_g = F.value_and_grad_batch(X, threads=1)
    assert same_bits(values, one_v) and same_bits(grads, one_g)
    for r in (0, 123, 399):
        v, g = F.value_and_grad(X[r])
        assert same_bits(values[r], v) and same_bits(grads[r], g)


# ---- rows on other branches -------------------------------------------------------------------

def branchy_scalar(x):
    if x > 0:
        return x * x
    return fastad.sin(x) - x


def branchy_vector(x):
    total = 0.0
    for v in x:
        total = total + (v * v if v > 0 else -3.0 * v)
    return total


def branchy_matrix(x):
    if x[0, 0] > x[1, 2]:
        return np.sum(x * x)
    return np.sum(fastad.exp(x))


BRANCH_CASES = {
    "scalar": (branchy_scalar, 1.0, ()),
    "vector": (branchy_vector, np.ones(3), (3,)),
    "matrix": (branchy_matrix, np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), (2, 3)),
}


@pytest.mark.parametrize("threads", [1, 2, None])
@pytest.mark.parametrize("case", sorted(BRANCH_CASES))
def test_rows_on_other_branches_are_re_traced_and_correct(case, threads):
    f, x0, shape = BRANCH_CASES[case]
    counted = Counted(f)
    F = fastad.trace(counted, x0)
    X = rows(shape, 30, seed=11)
    values, grads = F.value_and_grad_batch(X, threads=threads)
    check_batch(F, f, X, values, grads)
    assert counted.calls > 1                     # some rows needed a re-trace
    calls = counted.calls
    values2, grads2 = F.value_and_grad_batch(X, threads=threads)
    assert same_bits(values2, values) and same_bits(grads2, grads)
    if case != "vector":                          # two patterns only: both are kept now
        assert counted.calls == calls


@pytest.mark.parametrize("case", sorted(BRANCH_CASES))
def test_every_row_on_the_other_branch(case):
    f, x0, shape = BRANCH_CASES[case]
    F = fastad.trace(f, x0)
    X = -np.abs(rows(shape, 8, seed=12)) - 0.1
    if case == "matrix":
        X[:, 1, 2] = 5.0
    values, grads = F.value_and_grad_batch(X, threads=2)
    check_batch(F, f, X, values, grads)


@pytest.mark.parametrize("case", sorted(BRANCH_CASES))
def test_rows_on_other_branches_raise_branch_error_with_retrace_false(case):
    f, x0, shape = BRANCH_CASES[case]
    F = fastad.trace(f, x0, retrace=False)
    X = np.abs(rows(shape, 6, seed=13)) + 0.1
    if case == "matrix":
        X[:, 0, 0] = 5.0
    values, grads = F.value_and_grad_batch(X, threads=2)   # all on the traced branch
    check_batch(F, f, X, values, grads)
    X[3] = -X[3]
    if case == "matrix":
        X[3, 1, 2] = 10.0
    with pytest.raises(fastad.BranchError):
        F.value_and_grad_batch(X, threads=2)
    with pytest.raises(fastad.BranchError):
        F.value_and_grad_batch(X, threads=1)


@pytest.mark.parametrize("case", sorted(BRANCH_CASES))
def test_unpickled_function_batch_raises_branch_error(case):
    f, x0, shape = BRANCH_CASES[case]
    F = pickle.loads(pickle.dumps(fastad.trace(f, x0)))
    X = np.abs(rows(shape, 4, seed=14)) + 0.1
    if case == "matrix":
        X[:, 0, 0] = 5.0
    F.value_and_grad_batch(X)
    X[0] = -X[0]
    if case == "matrix":
        X[0, 1, 2] = 10.0
    with pytest.raises(fastad.BranchError):
        F.value_and_grad_batch(X)


def test_batch_uses_branches_already_seen():
    counted = Counted(branchy_scalar)
    F = fastad.trace(counted, 1.0)
    F(-1.0)
    assert counted.calls == 2
    X = np.linspace(-3, 3, 41)
    values, grads = F.value_and_grad_batch(X, threads=3)
    assert counted.calls == 2
    check_batch(F, branchy_scalar, X, values, grads)


# ---- bad arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("traced, bad", [
    ((3,), (4, 2)),
    ((3,), (3,)),           # one point, not a batch
    ((3,), ()),
    ((2, 3), (5, 3, 2)),
    ((2, 3), (5, 6)),
    ((), ()),
    ((), (3, 1)),
])
def test_batch_with_a_wrong_shape(traced, bad):
    x0 = 0.5 if traced == () else np.full(traced, 0.5)
    F = fastad.trace(lambda x: np.sum(x * x) if isinstance(x, fastad.Array) else x * x, x0)
    with pytest.raises(ValueError) as info:
        F.value_and_grad_batch(np.ones(bad))
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("threads", [0, -1, 2.0, 1.5, "2", [2]])
def test_batch_with_bad_threads(threads):
    F = fastad.trace(lambda x: np.sum(x), np.ones(2))
    with pytest.raises(ValueError):
        F.value_and_grad_batch(np.ones((3, 2)), threads=threads)


def test_batch_accepts_numpy_ints_as_threads():
    F = fastad.trace(lambda x: np.sum(x), np.ones(2))
    values, _ = F.value_and_grad_batch(np.ones((3, 2)), threads=np.int64(2))
    np.testing.assert_array_equal(values, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("bad", [np.array([["a", "b"]]), [[1.0, None]], "ab", None])
def test_batch_with_non_numeric_points(bad):
    F = fastad.trace(lambda x: np.sum(x), np.ones(2))
    with pytest.raises(TypeError):
        F.value_and_grad_batch(bad)


def test_batch_of_a_non_scalar_output():
    F = fastad.trace(lambda x: x * 2.0, np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"\(2, 2\)"):
        F.value_and_grad_batch(np.ones((3, 2, 2)))
    G = fastad.trace(lambda x: [x, x], 1.0)
    with pytest.raises(TypeError, match=r"\(2,\)"):
        G.value_and_grad_batch(np.ones(3))


# ---- a Function used from several Python threads at once -------------------------------------

def shared(x):
    if x[0] > 0:
        return np.sum(fastad.sin(x) * x) + x[1] * x[2]
    return np.sum(x ** 3) - fastad.exp(x[1])


def run_threads(work, n=4):
    barrier = threading.Barrier(n)
    errors = []

    def target(seed):
        try:
            barrier.wait()
            work(seed)
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=target, args=(s,)) for s in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_function_called_from_four_threads_at_once():
    F = fastad.trace(shared, np.ones(4))
    rng = np.random.default_rng(15)
    pts = rng.uniform(-2, 2, size=(4, 150, 4))
    expected = [[fastad.value_and_grad(shared)(p) for p in chunk] for chunk in pts]
    out = {}

    def work(seed):
        results = []
        for p in pts[seed]:
            v, g = F.value_and_grad(p)
            results.append((v, g, F(p), F.grad(p)))
        out[seed] = results

    run_threads(work)
    for seed in range(4):
        for (v, g, v2, g2), (v_ref, g_ref) in zip(out[seed], expected[seed]):
            assert same_bits(v, v_ref) and same_bits(g, g_ref)
            assert same_bits(v2, v_ref) and same_bits(g2, g_ref)


def test_function_re_traced_from_four_threads_at_once():
    # every thread meets branches not recorded yet, so re-tracing happens
    # concurrently with other threads' replays
    def f(x):
        k = 0
        while x > k + 1:
            k += 1
        return x * x * k + k

    F = fastad.trace(f, 0.5)
    out = {}

    def work(seed):
        rng = np.random.default_rng(seed)
        xs = rng.uniform(0, 12, 200)
        out[seed] = [(x, F.value_and_grad(float(x))) for x in xs]

    run_threads(work)
    for seed in range(4):
        for x, (v, g) in out[seed]:
            k = max(0, math.ceil(x) - 1)
            assert (v, g) == (x * x * k + k, 2 * x * k), (x, v, g)


def test_batch_and_array_outputs_from_four_threads_at_once():
    F = fastad.trace(shared, np.ones(4))
    J = fastad.trace(lambda x: np.outer(x, x) if x[0] > 0 else np.outer(x, x) * 2.0 + x[1], np.ones(3))
    out = {}

    def work(seed):
        rng = np.random.default_rng(100 + seed)
        X = rng.uniform(-2, 2, size=(50, 4))
        values, grads = F.value_and_grad_batch(X, threads=2)
        y = rng.uniform(-2, 2, size=3)
        out[seed] = (X, values, grads, y, J.jacobian(y), J(y))

    run_threads(work)
    for seed in range(4):
        X, values, grads, y, jac, val = out[seed]
        for r in range(len(X)):
            v_ref, g_ref = fastad.value_and_grad(shared)(X[r])
            assert same_bits(values[r], v_ref) and same_bits(grads[r], g_ref)
        f = (lambda x: np.outer(x, x) if x[0] > 0 else np.outer(x, x) * 2.0 + x[1])
        assert same_bits(jac, fastad.jacobian(f)(y))
        assert_close(val, np.outer(y, y) if y[0] > 0 else np.outer(y, y) * 2.0 + y[1])


@pytest.mark.parametrize("threads", [2, None])
def test_a_worker_that_cannot_allocate_fails_the_whole_batch(threads):
    # Every worker's error reaches the caller; nothing comes back
    # half-computed (uninitialised values, zero gradients).
    from fastad import _core
    F = fastad.trace(lambda x: np.sum(x * x * 2.0), np.ones(50))
    X = np.random.default_rng(0).normal(size=(4000, 50))
    ref_values, ref_grads = F.value_and_grad_batch(X, threads=1)
    outcomes = set()
    for n in range(1, 9):
        _core._fail_nth_allocation(n)
        try:
            values, grads = F.value_and_grad_batch(X, threads=threads)
        except MemoryError:
            outcomes.add("raised")
        else:
            outcomes.add("complete")
            assert np.array_equal(values, ref_values) and np.array_equal(grads, ref_grads)
        finally:
            _core._fail_nth_allocation(0)
    assert outcomes == {"raised", "complete"}
