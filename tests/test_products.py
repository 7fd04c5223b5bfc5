"""Matrix products on the tape (fastad/_products.pxi): one block of matrix
work per product, constant factors by reference, BLAS and the loops giving
the same derivatives, structural zeros kept where BLAS would make nan, and
every mode (forward, reverse, second order, emitted, nested, threads)."""

import threading

import numpy as np
import pytest

import fastad
from fastad import _core

RNG = np.random.default_rng(5)
X = RNG.standard_normal((40, 30))          # 1200 multiply-adds per column: BLAS's size
Y = RNG.standard_normal((30, 20))


@pytest.fixture(params=["blas", "loops"])
def engine(request):
    """Products by SciPy's dgemm and by the loops (no SciPy)."""
    if request.param == "blas" and not _core._blas_found():
        pytest.skip("SciPy's BLAS is not there")
    old = _core._use_blas(request.param == "blas")
    yield request.param
    _core._use_blas(old)


def close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=atol)


# ---- the products, their gradients, against NumPy's own ---------------------------------

CASES = {
    # name: (f, point, gradient by hand)
    "constant @ vector": (lambda w: np.sum(np.sin(X @ w)), RNG.standard_normal(30),
                          lambda w: X.T @ np.cos(X @ w)),
    "vector @ constant": (lambda w: np.sum((w @ Y) ** 2), RNG.standard_normal(30),
                          lambda w: Y @ (2 * (w @ Y))),
    "transposed constant": (lambda w: np.sum(np.tanh(X.T @ w)), RNG.standard_normal(40),
                            lambda w: X @ (1 - np.tanh(X.T @ w) ** 2)),
    "Fortran-order constant": (lambda w: np.sum(np.asfortranarray(X) @ w),
                               RNG.standard_normal(30), lambda w: X.sum(axis=0)),
    "strided constant (copied)": (lambda w: np.sum(X[::2, ::3] @ w), RNG.standard_normal(10),
                                  lambda w: X[::2, ::3].sum(axis=0)),
    "matrix @ constant matrix": (lambda W: np.sum(np.cos(W @ Y)), RNG.standard_normal((40, 30)),
                                 lambda W: -np.sin(W @ Y) @ Y.T),
    "sum": (lambda x: np.sum(x * x), RNG.standard_normal(2000), lambda x: 2 * x),
    "sum over an axis": (lambda x: np.sum(np.sum(x, axis=0) ** 2), RNG.standard_normal((50, 40)),
                         lambda x: np.broadcast_to(2 * x.sum(axis=0), x.shape)),
    "dot": (lambda w: np.dot(X, w) @ np.dot(X, w), RNG.standard_normal(30),
            lambda w: 2 * X.T @ (X @ w)),
}


@pytest.mark.parametrize("name", CASES)
def test_products_and_their_gradients(name, engine):
    f, x0, by_hand = CASES[name]
    v, g = fastad.value_and_grad(f)(x0)
    close(v, f(x0))
    close(g, by_hand(x0))
    F = fastad.trace(f, x0)
    x1 = x0 * 0.5 + 0.25
    v1, g1 = F.value_and_grad(x1)
    close(v1, f(x1))
    close(g1, by_hand(x1))


def test_a_product_of_two_arrays_and_its_second_derivatives(engine):
    def f(p):
        return np.sum(np.tanh(p["A"] @ p["B"]) ** 2)

    p0 = {"A": RNG.standard_normal((6, 5)), "B": RNG.standard_normal((5, 4))}
    flat0 = np.concatenate([p0["A"].ravel(), p0["B"].ravel()])

    def flat_f(v):
        return f({"A": v[:30].reshape(6, 5), "B": v[30:].reshape(5, 4)})

    g = fastad.grad(flat_f)
    H = fastad.hessian(flat_f)(flat0)
    eps = 1e-6
    H_fd = np.array([(g(flat0 + eps * e) - g(flat0 - eps * e)) / (2 * eps)
                     for e in np.eye(flat0.size)])
    close(H, H_fd, rtol=1e-6, atol=1e-6)
    close(H, H.T, rtol=1e-12, atol=1e-12)
    F = fastad.trace(flat_f, flat0)
    close(F.hessian(flat0), H)
    direction = RNG.standard_normal(flat0.size)
    close(fastad.hvp(flat_f, flat0, direction), H @ direction)
    close(F.hvp(flat0, direction), H @ direction)


def test_jacobians_of_a_product_output(engine):
    # each output row starts its own reverse sweep inside the product
    def f(w):
        return X @ w

    w0 = RNG.standard_normal(30)
    close(fastad.jacrev(f)(w0), X, rtol=0, atol=0)
    close(fastad.jacfwd(f)(w0), X, rtol=0, atol=0)
    F = fastad.trace(f, w0)
    close(F.jacobian(w0), X, rtol=0, atol=0)
    v = RNG.standard_normal(40)
    close(fastad.vjp(f, w0)[1](v)[0], X.T @ v)
    close(fastad.jvp(f, (w0,), (v[:30],))[1], X @ v[:30])


def test_emitted_and_nested_derivatives_of_products(engine):
    def f(w):
        return np.sum(np.log1p(np.exp(X @ w))) + 0.5 * np.sum(w * w)

    w0 = RNG.standard_normal(30) * 0.1
    F = fastad.trace(f, w0)
    G = F.grad_function()
    w1 = w0 + 0.05
    close(G(w1), F.grad(w1))
    close(fastad.grad(lambda w: np.sum(fastad.grad(f)(w) ** 2))(w1),
          2 * fastad.hessian(f)(w1) @ F.grad(w1), rtol=1e-9, atol=1e-9)
    close(fastad.jacfwd(fastad.grad(f))(w1), fastad.hessian(f)(w1), rtol=1e-10, atol=1e-10)


def test_blas_and_the_loops_agree_to_rounding():
    if not _core._blas_found():
        pytest.skip("SciPy's BLAS is not there")

    def f(p):
        return np.sum(np.tanh(X @ p["W"]) @ p["v"])

    p0 = {"W": RNG.standard_normal((30, 8)), "v": RNG.standard_normal(8)}
    results = []
    for allowed in (True, False):
        old = _core._use_blas(allowed)
        try:
            results.append(fastad.value_and_grad(f)(p0))
        finally:
            _core._use_blas(old)
    (v1, g1), (v2, g2) = results
    close(v1, v2)
    for key in g1:
        close(g1[key], g2[key])


# ---- structural zeros: BLAS's 0 * inf is not let through ---------------------------------

def test_an_infinite_constant_meets_a_zero_adjoint(engine):
    # row 0 of the constant is infinite, and its output has weight 0: the
    # gradient takes nothing from it (as element by element: 0 * inf is a
    # structural zero), where a plain X.T @ weights would give nan
    Xinf = X.copy()
    Xinf[0, :] = np.inf
    weights = np.ones(40)
    weights[0] = 0.0

    def f(w):
        return np.sum(weights * (Xinf @ w))

    g = fastad.grad(f)(np.ones(30))
    close(g, X[1:].sum(axis=0))
    with np.errstate(invalid="ignore"):
        assert np.isnan(Xinf.T @ weights).all()    # what BLAS alone would give
    objects = fastad.grad(lambda w: np.sum(weights * (Xinf @ np.asarray(w))))(np.ones(30))
    close(g, objects)


def test_an_infinite_operand_and_a_zero_partial(engine):
    # w[0] = inf is multiplied by a zero column of the constant: its
    # adjoint is G . 0 = 0 and the others' stay finite
    Xz = X.copy()
    Xz[:, 0] = 0.0
    w0 = np.ones(30)
    w0[0] = np.inf

    def f(w):
        return np.sum(Xz @ w)

    with np.errstate(invalid="ignore"):
        g = fastad.grad(f)(w0)
    close(g, Xz.sum(axis=0))


# ---- a constant is held by reference -------------------------------------------------------

def test_a_constant_factor_is_held_by_reference_not_copied():
    # the documented hazard: modifying the constant after recording changes
    # the recording (no copy is made, so none is kept)
    A = X.copy()
    F = fastad.trace(lambda w: np.sum(A @ w), np.ones(30))
    before = F(np.ones(30))
    A *= 2.0
    close(F(np.ones(30)), 2.0 * before)
    # and it stays alive with the recording
    F2 = fastad.trace(lambda w: np.sum(np.arange(60.0).reshape(2, 30) @ w), np.ones(30))
    import gc
    gc.collect()
    close(F2(np.ones(30)), np.arange(60.0).sum())


# ---- threads, batches, memory -------------------------------------------------------------

def test_products_replay_in_threads_and_batches(engine):
    def f(w):
        return np.sum(np.tanh(X @ w) ** 2)

    F = fastad.trace(f, np.zeros(30))
    W = RNG.standard_normal((16, 30)) * 0.1
    rows = [F.value_and_grad(w) for w in W]
    for threads in (1, 2):
        values, grads = F.value_and_grad_batch(W, threads=threads)
        for k, (v, g) in enumerate(rows):
            assert values[k] == v and np.array_equal(grads[k], g)
    errors = []

    def worker():
        try:
            for _ in range(20):
                for k, w in enumerate(W[:4]):
                    v, g = F.value_and_grad(w)
                    assert v == rows[k][0] and np.array_equal(g, rows[k][1])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_failed_allocation_while_recording_a_product_raises_memory_error():
    with fastad.Tape() as t:
        w = t.var(np.ones(30))
        before = t.n_entries
        _core._fail_nth_allocation(1)
        try:
            with pytest.raises(MemoryError):
                X @ w
        finally:
            _core._fail_nth_allocation(0)
        assert t.n_entries == before
        y = np.sum(X @ w)          # the tape goes on
    close(t.gradient(y, w), X.sum(axis=0))


def test_entries_and_bytes_of_a_product():
    # one entry per element of the result, the constant not on the tape
    with fastad.Tape() as t:
        w = t.var(np.ones(30))
        before, nbytes = t.n_entries, t.nbytes
        X @ w
        assert t.n_entries - before == 40
        assert t.nbytes - nbytes < 40 * 17 + 30 * 4 + 200


# ---- runs: the sweeps' loops equal the entry-by-entry sweep -------------------------------

EDGE = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e300, -1e300, np.inf, -np.inf, np.nan,
                 3.0, 1e-300, 7.25, -0.75, 2.0] * 3)


@pytest.mark.parametrize("name", [name for name, arity, _ in _core.opcode_table()[1:]])
def test_runs_sweep_bit_for_bit_as_entry_by_entry(name):
    arity = {n: a for n, a, _ in _core.opcode_table()}[name]

    def fn(*operands):   # every row of the table, also those without a public function
        return _core._apply(name, *operands)

    x0 = np.concatenate([EDGE, np.linspace(-3.0, 3.0, 48)])
    other = x0[::-1].copy()

    # every pattern of operands (see Run): slices of entries, the same
    # slice twice, overlapping slices, one entry for all (inside and
    # outside the other operand's slice), constants one and many, and no
    # pattern at all (reversed); the weights hold zeros, infs and nans
    # rows: a row broadcast over a matrix (entries or constants), inside
    # and outside the matrix's entries
    if arity == 1:
        def parts(x):
            return [fn(x), fn(x[::-1]), fn(x[3:]), fn(np.broadcast_to(x[:10], (4, 10)))]
    else:
        def parts(x):
            matrix, row, constant_row = x[:80].reshape(8, 10), x[80:90], other[:10]
            return [fn(x, x[::-1]), fn(x, 0.75), fn(1.25, x), fn(x, x), fn(x[1:], x[:-1]),
                    fn(x[:-1], x[1:]), fn(x, x[0]), fn(x[3], x), fn(x[5:], x[0]),
                    fn(x[0], x[5:]), fn(x[:40], x[40:80]), fn(x[40:80], x[:40]),
                    fn(x, other), fn(other, x), fn(matrix, row), fn(row, matrix),
                    fn(matrix, constant_row), fn(constant_row, matrix),
                    fn(matrix, x[:10]), fn(x[:10], matrix)]

    def f(x):
        return sum(np.sum(part.reshape(-1) * other[:part.size]) for part in parts(x))

    results = []
    for allowed in (True, False):
        old = _core._use_runs(allowed)
        try:
            with np.errstate(all="ignore"):
                F = fastad.trace(f, x0)
                results.append((fastad.value_and_grad(f)(x0), F.value_and_grad(x0 * 0.5)))
        finally:
            _core._use_runs(old)
    (a, b), (c, d) = results
    for p, q in ((a, c), (b, d)):
        assert same_bits(p[0], q[0]) and same_bits(p[1], q[1])


def same_bits(p, q):
    """Bit for bit, signed zeros included; a nan is any nan (which nan an
    addition of two nans keeps depends on the order the compiler picked
    for its operands, not on the arithmetic)."""
    p = np.array(p, dtype=np.float64)
    q = np.array(q, dtype=np.float64)
    p[np.isnan(p)] = np.nan
    q[np.isnan(q)] = np.nan
    return p.tobytes() == q.tobytes()


def test_runs_note_the_patterns_of_their_operands():
    # (first, count, a, a_step, b, b_step): step 1 a slice, 0 one operand
    # for all, -1 no pattern
    with fastad.Tape() as t:
        x = t.var(np.linspace(1.0, 2.0, 40))
        s = t.var(3.0)
        runs = {}
        for name, build in [("square", lambda: x**2), ("reversed", lambda: np.exp(x[::-1])),
                            ("slices", lambda: x[1:] - x[:-1]), ("same", lambda: x * x),
                            ("scalar", lambda: x * s), ("number", lambda: 2.0 * x),
                            ("constants", lambda: x * np.arange(40.0)),
                            ("rows", lambda: x.reshape(4, 10) + x[:10]),
                            ("bias", lambda: x[10:].reshape(3, 10) + x[:10]),
                            ("constant rows", lambda: x.reshape(4, 10) * np.arange(10.0))]:
            before = len(t._runs())
            build()
            (runs[name],) = t._runs()[before:]
    assert runs["square"][2:4] == (0, 1)                  # x: the tape's first 40 entries
    assert runs["reversed"][3] == -1
    assert runs["slices"][3] == 1 and runs["slices"][5] == 1
    assert runs["slices"][2] == runs["slices"][4] + 1
    assert runs["same"][2] == runs["same"][4] and runs["same"][3] == runs["same"][5] == 1
    assert runs["scalar"][3] == 1 and runs["scalar"][4:] == (40, 0)    # s: entry 40
    number = runs["number"]
    assert number[3] == 0 and number[5] == 1            # a pooled constant, the slice
    assert t._constant(number[2]) == 2.0
    constants = runs["constants"]
    assert constants[3] == 1 and constants[5] == 1      # 40 pooled constants in a row
    assert [t._constant(constants[4] + k) for k in range(40)] == list(np.arange(40.0))
    # (first, count, a, a_step, b, b_step): rows are step 2 (their period
    # is not in the tuple)
    assert runs["rows"][3] == 1 and runs["rows"][4:] == (0, 2)
    assert runs["bias"][2:] == (10, 1, 0, 2)
    assert runs["constant rows"][3] == 1 and runs["constant rows"][5] == 2


@pytest.mark.parametrize("allowed", [True, False])
def test_a_jacobian_row_starting_inside_a_run(allowed):
    # each row of the Jacobian seeds one entry of a run: the reverse sweep
    # starts inside it (the part of the run at and below that entry)
    old = _core._use_runs(allowed)
    try:
        x0 = np.linspace(-1.0, 1.0, 40)
        J = fastad.jacobian(lambda x: np.sin(x * x[::-1]) * x[0] + x[1:].sum() * x)(x0)
    finally:
        _core._use_runs(old)
    s = x0[1:].sum()
    expected = np.diag(np.cos(x0 * x0[::-1]) * x0[::-1] * x0[0] + s)
    expected += np.diag(np.cos(x0 * x0[::-1]) * x0 * x0[0])[:, ::-1]
    expected[:, 0] += np.sin(x0 * x0[::-1])
    expected[:, 1:] += x0[:, None]
    close(J, expected)


def test_the_adjoint_of_a_matrix_vector_product_is_an_exact_outer_product():
    # dA = G B^T for a column B (and a sum, A @ ones): each element one
    # product, an exact zero times inf or nan zero, as element by element
    v = np.array([0.0, 1.0, -2.5, np.inf, 3.0, -0.0, 1e300, np.nan] * 30)     # 240
    weights = np.array([1.0, 0.0, np.inf, -2.0, np.nan])

    def f(m):
        return np.sum((m @ v) * weights) + 2.0 * np.sum(m)

    m0 = np.linspace(-1.0, 1.0, 5 * 240).reshape(5, 240)
    with np.errstate(all="ignore"):
        g = fastad.grad(f)(m0)
        F = fastad.trace(f, m0)
        g_replay = F.grad(m0)
        products = weights[:, None] * v[None, :]
        expected = np.where((weights[:, None] == 0) | (v[None, :] == 0), 0.0, products) + 2.0
    assert same_bits(g, expected)
    assert same_bits(g_replay, expected)
