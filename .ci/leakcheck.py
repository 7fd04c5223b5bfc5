"""Leak check of the compiled core: every path that allocates in C, in a loop.

Run by `.ci/sanitize leaks` (and after the suite in the address modes)
under AddressSanitizer with LeakSanitizer on and PYTHONMALLOC=malloc, so
that every tape array, work buffer and Python object is its own malloc
block. Each workload runs a few times to warm up (freelists, the spare
tape arrays and the buffer pool fill up, and stay reachable from the
core's globals), then ROUNDS times; then LeakSanitizer is asked for a
report while the interpreter is alive, when everything CPython and NumPy
hold is still reachable from their globals: any block nothing points to
then is lost memory, and a leak in a loop shows as ROUNDS blocks of one
stack. The check at exit follows (after CPython's teardown, with
.ci/lsan.supp for the interpreter's and NumPy's one-time allocations).

The workloads cover recording (operators, functions, complex numbers,
arrays of Vars), the transforms, nesting, the imperative tape, trace and
replay (branches, re-tracing, BranchError), batches on threads, the
emitted derivative (grad_function), pickling and loading corrupt pickles,
and the error paths: exceptions inside f, allocation failures forced by
the test hook at every allocation, a full tape, a closed tape.

Usage: python .ci/leakcheck.py [ROUNDS]   (with the sanitizer runtime preloaded)
"""
import ctypes
import gc
import pickle
import sys

import numpy as np

import fastad
from fastad import _core

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
WARMUP = 3


class Boom(Exception):
    pass


def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def smooth(x):
    return fastad.sin(x[0]) * fastad.exp(x[1] / 3.0) + fastad.log1p(x[2] ** 2) * fastad.tanh(x[0])


def steps(v):
    return v[1:] * v[:-1] + fastad.sin(v[1:])


def branchy(x):
    return x * x if x > 0 else fastad.cos(x) - x


def complex_loss(z):
    return np.sum(np.abs(fastad.exp(z * 0.5j) * z.conjugate() / (z + 2.0)) ** 2)


X = np.linspace(-1.2, 1.2, 40)
X3 = np.array([0.3, -0.7, 1.1])
Z = X[:10] + 1j * X[10:20]
F_SMOOTH = fastad.trace(smooth, X3)
F_ROSEN = fastad.trace(rosenbrock, X)
F_COMPLEX = fastad.trace(complex_loss, Z)
BATCH = np.random.default_rng(0).normal(size=(64, 3))
PICKLED = pickle.dumps(F_SMOOTH)


def transforms():
    fastad.grad(rosenbrock)(X)
    fastad.value_and_grad(smooth)(X3)
    fastad.jacobian(steps)(X)
    fastad.jacobian(steps, mode="forward")(X)
    fastad.vjp(steps, X)[1](np.ones(len(X) - 1))
    fastad.jvp(smooth, (X3,), (np.ones(3),))
    fastad.hessian(smooth)(X3)
    fastad.hvp(smooth, X3, np.ones(3))
    fastad.grad(lambda p: p["w"] @ p["w"] + p["b"] ** 2)({"w": X3, "b": 0.5})


def nesting():
    fastad.grad(fastad.grad(lambda x: x ** 3 * fastad.sin(x)))(0.7)
    fastad.jacobian(fastad.grad(smooth))(X3)
    fastad.grad(lambda x: x * fastad.grad(lambda y: y * x)(2.0 * x))(1.5)


def complex_numbers():
    fastad.grad(complex_loss)(Z)
    fastad.jacobian(lambda v: v[:5] ** 3 / (v[:5] + 2j), holomorphic=True)(Z)
    fastad.grad(lambda z: z * fastad.exp(z), holomorphic=True)(0.5 + 0.25j)
    F_COMPLEX.value_and_grad(Z)
    F_COMPLEX.value_and_grad_batch(np.stack([Z, Z, Z]))


def imperative_tape():
    with fastad.Tape() as t:
        x = t.var(X)
        y = rosenbrock(x)
    t.gradient(y, x)
    t.gradient(y, list(x[:3]))
    with fastad.Tape() as outer:
        a = outer.var(1.0)
        with fastad.Tape() as inner:
            b = inner.var(2.0)
            c = b * b
        inner.gradient(c, b)
        d = a * 3.0
    outer.gradient(d, a)


def replay():
    F_SMOOTH(X3)
    F_SMOOTH.grad(X3)
    F_SMOOTH.value_and_grad(X3 + 0.5)
    F_SMOOTH.jacobian(X3)
    F_SMOOTH.jacobian(X3, mode="forward")
    F_SMOOTH.jvp(X3, np.ones(3))
    F_SMOOTH.vjp(X3, 1.0)
    F_SMOOTH.hvp(X3, np.ones(3))
    F_SMOOTH.hessian(X3)
    F_ROSEN.value_and_grad(X)
    G = F_SMOOTH.grad_function()
    G(X3)
    G.jacobian(X3)
    fastad.trace(lambda x: x ** 3 * fastad.sin(x), 0.7).grad_function().grad_function()(0.3)


def branches():
    F = fastad.trace(branchy, 1.0)
    F.value_and_grad(2.0)
    F.value_and_grad(-2.0)  # re-traced: a second recording
    F.value_and_grad_batch(np.array([1.0, -1.0, 3.0, -3.0]), threads=2)
    strict = fastad.trace(branchy, 1.0, retrace=False)
    try:
        strict(-1.0)
    except fastad.BranchError:
        pass


def batches():
    F_SMOOTH.value_and_grad_batch(BATCH, threads=1)
    F_SMOOTH.value_and_grad_batch(BATCH, threads=2)
    F_SMOOTH.value_and_grad_batch(BATCH)


def pickles():
    G = pickle.loads(pickle.dumps(F_SMOOTH))
    G.value_and_grad(X3)
    H = pickle.loads(pickle.dumps(fastad.trace(branchy, 1.0)))
    try:
        H(-1.0)  # an unpickled Function does not re-trace
    except fastad.BranchError:
        pass
    pickle.loads(pickle.dumps(F_SMOOTH.grad_function())).jacobian(X3)


def corrupt_pickles():
    """Every byte of a tape changed, and the tape cut short: each load
    fails with ValueError or loads a tape that passed every check."""
    load, (state,) = F_SMOOTH.__reduce__()
    recording = state["recordings"][0]
    tape = recording["tape"]
    for k in range(8, len(tape), max(1, len(tape) // 97)):
        for cut in (False, True):
            blob = bytearray(tape[:k] if cut else tape)
            if not cut:
                blob[k] ^= 0xA5
            try:
                load(dict(state, recordings=[dict(recording, tape=bytes(blob))]))
            except ValueError:
                pass


def error_paths():
    def raising(x):
        y = rosenbrock(x)
        raise Boom(y)  # the exception holds a Var of the tape

    for call in (lambda: fastad.grad(raising)(X), lambda: fastad.jacobian(raising)(X)):
        try:
            call()
        except Boom:
            pass
    try:
        with fastad.Tape() as t:
            rosenbrock(t.var(X))
            raise Boom
    except Boom:
        pass
    try:
        fastad.grad(lambda x: [rosenbrock(x), x[0]])(X)
    except TypeError:
        pass
    with fastad.Tape() as t:
        t._set_max_entries(300)
        x = t.var(1.0)
        try:
            for _ in range(400):
                x = x * 1.0001
        except OverflowError:
            pass
    try:
        x + 1.0  # a Var of a finished tape
    except fastad.TapeError:
        pass


def allocation_failures():
    """The test hook fails the n-th C allocation from now, for every n a
    workload reaches: every error path frees what it took."""
    work = [
        lambda: fastad.grad(rosenbrock)(X),
        lambda: fastad.hessian(smooth)(X3),
        lambda: fastad.grad(fastad.grad(lambda x: x ** 3 * fastad.sin(x)))(0.7),
        lambda: F_SMOOTH.value_and_grad_batch(BATCH, threads=2),
        lambda: F_SMOOTH.grad_function().jacobian(X3),
        lambda: pickle.loads(PICKLED).hessian(X3),
        lambda: fastad.trace(branchy, 1.0).value_and_grad(-1.0),
    ]
    for fn in work:
        for n in range(1, 16):
            _core._fail_nth_allocation(n)
            try:
                fn()
            except MemoryError:
                pass
            finally:
                _core._fail_nth_allocation(0)


RNG = np.random.default_rng(3)
XM = RNG.standard_normal((40, 30))


def mlp(p):
    """Whole arrays: products with a constant and of two Arrays, a sum as a
    product, runs."""
    h = np.tanh(XM @ p["W"] + p["b"])
    return np.mean((h @ p["v"] - 1.0) ** 2) + np.sum(p["W"] ** 2)


P0 = {"W": RNG.standard_normal((30, 8)) * 0.1, "b": np.zeros(8), "v": np.ones(8)}
F_MLP = fastad.trace(mlp, P0)


def arrays():
    fastad.value_and_grad(mlp)(P0)
    F_MLP.value_and_grad(P0)
    F_MLP.grad_function()(P0)
    fastad.hessian(lambda w: np.sum(np.tanh(XM @ w)))(np.ones(30))
    G = pickle.loads(pickle.dumps(F_MLP))
    G.value_and_grad(P0)
    load, (state,) = F_MLP.__reduce__()
    recording = state["recordings"][0]
    tape = recording["tape"]
    for k in range(len(tape) - 400, len(tape), 7):   # the products' bytes
        blob = bytearray(tape)
        blob[k] ^= 0xA5
        try:
            load(dict(state, recordings=[dict(recording, tape=bytes(blob))]))
        except ValueError:
            pass
    for n in range(1, 24):
        _core._fail_nth_allocation(n)
        try:
            fastad.value_and_grad(mlp)(P0)
        except MemoryError:
            pass
        finally:
            _core._fail_nth_allocation(0)


WORKLOADS = [transforms, nesting, complex_numbers, imperative_tape, replay, branches,
             batches, pickles, corrupt_pickles, error_paths, allocation_failures, arrays]


def leak_check():
    """LeakSanitizer's report now (0: none); None without the runtime."""
    try:
        check = ctypes.CDLL(None).__lsan_do_recoverable_leak_check
    except AttributeError:
        return None
    return check()


def main():
    for workload in WORKLOADS:
        for _ in range(WARMUP):
            workload()
    gc.collect()
    for workload in WORKLOADS:
        for _ in range(ROUNDS):
            workload()
        gc.collect()
        print(f"{workload.__name__}: {ROUNDS} rounds", flush=True)
    gc.collect()
    found = leak_check()
    if found is None:
        print("no LeakSanitizer runtime: run under .ci/sanitize leaks")
        return 2
    if found:
        print("LeakSanitizer: blocks lost during the workloads (report above)")
        return 1
    print("LeakSanitizer: nothing lost during the workloads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
