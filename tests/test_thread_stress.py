"""Threads: Functions, transforms and batches used from many threads at once.

Every result computed in a thread is compared, bit for bit, with the same
call made beforehand in one thread (a replay is deterministic: the same
recording pattern and the same x give the same bits, whichever recording of
that pattern replays it). The function shared here has 12 branch patterns,
more than a Function keeps (MAX_RECORDINGS = 8), so the threads re-trace and
evict recordings all the time while others replay them. A thread that hangs
fails the test (every join has a timeout).

The normal suite runs a few rounds (a few seconds in all); ``--stress`` (or
FASTAD_STRESS=1) runs about a minute.
"""

import itertools
import pickle
import re
import threading
import time
import traceback

import numpy as np
import pytest

import fastad
from conftest import Counted, same_bits

THREADS = 8
MAX_RECORDINGS = 8
JOIN_SECONDS = 300
STRESS_SECONDS = 6
QUICK_ROUNDS = 4


def f(x):
    """Four sign tests: 16 branch patterns, 12 of them used below."""
    total = 0.0
    for k in range(4):
        if x[k] > 0:
            total = total + fastad.sin(x[k]) * (k + 1.0)
        else:
            total = total + x[k] * x[k] * (k + 0.5) - fastad.exp(x[k])
    return total * x[0] + x[3]


def f_long(x):
    """f and a chain of 1,500 steps of 4 operations: a tape of ~6,000
    entries, past NOGIL_MIN_ENTRIES (4,096), so its sweeps run without the
    GIL and the threads replay it truly in parallel."""
    total = f(x)
    for k in range(1500):
        total = total * 0.999 + fastad.sin(x[k % 4]) * 1e-3
    return total


FUNCTIONS = {"short": f, "long (sweeps without the GIL)": f_long}


def points(seed=0, per_pattern=1):
    """Points on 12 different branch patterns of f (per_pattern of each)."""
    rng = np.random.default_rng(seed)
    signs = list(itertools.product([1.0, -1.0], repeat=4))[:12]
    return [np.array(s) * rng.uniform(0.2, 1.5, 4) for s in signs for _ in range(per_pattern)]


def kept_patterns(F):
    return int(re.search(r"(\d+) branch pattern", repr(F)).group(1))


def run_threads(n, target, seconds=JOIN_SECONDS):
    """target(k) in n threads started together; the errors (with tracebacks)
    of all of them, and a failure if any is still running after `seconds`."""
    errors = []
    barrier = threading.Barrier(n)

    def work(k):
        try:
            barrier.wait()
            target(k)
        except BaseException:  # every error is reported below
            errors.append(f"thread {k}:\n{traceback.format_exc()}")

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [k for k, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"threads {hung} still running after {seconds} s (a deadlock?)"
    assert not errors, "\n".join(errors[:3])


def same_result(a, b):
    """Results equal bit for bit, through tuples and lists."""
    if isinstance(a, (tuple, list)):
        return (isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(same_result(p, q) for p, q in zip(a, b)))
    return same_bits(a, b)


def methods(x, v):
    """name -> call of a Function at x (v: a direction)."""
    return {
        "value": lambda F: F(x),
        "grad": lambda F: F.grad(x),
        "value_and_grad": lambda F: F.value_and_grad(x),
        "jacobian-reverse": lambda F: F.jacobian(x, mode="reverse"),
        "jacobian-forward": lambda F: F.jacobian(x, mode="forward"),
        "jvp": lambda F: F.jvp(x, v),
        "vjp": lambda F: F.vjp(x, 1.5),
        "hvp": lambda F: F.hvp(x, v),
        "hessian": lambda F: F.hessian(x),
        "grad_function": lambda F: F.grad_function()(x),
    }


class Rounds:
    """range(n) that also stops at a deadline (each thread iterates its own)."""

    def __init__(self, n, seconds):
        self.n = n
        self.seconds = seconds
        self.deadline = None

    def start(self):
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds

    def __iter__(self):
        self.start()
        r = 0
        while r < self.n and time.monotonic() < self.deadline:
            yield r
            r += 1

    def __mul__(self, k):
        return Rounds(self.n * k, self.seconds)


@pytest.fixture
def rounds(stress):
    """A few rounds per thread in the normal suite; under --stress, rounds
    for about STRESS_SECONDS per test (about a minute for the file)."""
    return Rounds(10 ** 9, STRESS_SECONDS) if stress else Rounds(QUICK_ROUNDS, JOIN_SECONDS)


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_threads_share_a_function_with_more_branch_patterns_than_it_keeps(rounds, kind):
    f = FUNCTIONS[kind]
    X = points(1)
    V = points(2)
    names = list(methods(X[0], V[0]))
    # The reference: every method at every point, in this thread, on a
    # Function of its own.
    R = fastad.trace(f, X[0])
    reference = {(name, i): call(R) for i, (x, v) in enumerate(zip(X, V))
                 for name, call in methods(x, v).items()}
    counted = Counted(f)
    F = fastad.trace(counted, X[0])
    done = []

    def work(k):
        rng = np.random.default_rng(100 + k)
        for r in rounds:
            for i in rng.permutation(len(X)):
                calls = methods(X[i], V[i])
                name = names[(k + r + i) % len(names)]
                result = calls[name](F)
                assert same_result(result, reference[(name, i)]), (name, i, result)
                done.append(1)

    assert F.n_ops > 4096 if f is f_long else F.n_ops < 4096
    run_threads(THREADS, work)
    assert len(done) >= THREADS * len(X)  # every thread finished a round at least
    print(f"{len(done)} calls in {THREADS} threads, {counted.calls} traces")
    assert kept_patterns(F) == MAX_RECORDINGS
    # 12 patterns through 8 slots: the threads evicted and re-traced.
    assert counted.calls > len(X)


def test_nested_transforms_in_threads(rounds):
    def g(x):
        return fastad.sin(x) * x ** 3 + fastad.exp(-x * x)

    X = points(3)
    scalars = np.linspace(-1.5, 1.5, 12)
    second = fastad.grad(fastad.grad(g))
    hessian_of_f = fastad.jacobian(fastad.grad(f))
    third = fastad.grad(fastad.grad(fastad.grad(g)))
    mixed = fastad.grad(lambda x: x * fastad.grad(g)(x))
    reference = {
        "grad(grad)": [second(s) for s in scalars],
        "grad(grad(grad))": [third(s) for s in scalars],
        "grad(x * grad)": [mixed(s) for s in scalars],
        "jacobian(grad)": [hessian_of_f(x) for x in X],
        "hessian": [fastad.hessian(f)(x) for x in X],
    }
    calls = {
        "grad(grad)": lambda i: second(scalars[i]),
        "grad(grad(grad))": lambda i: third(scalars[i]),
        "grad(x * grad)": lambda i: mixed(scalars[i]),
        "jacobian(grad)": lambda i: hessian_of_f(X[i]),
        "hessian": lambda i: fastad.hessian(f)(X[i]),
    }
    names = sorted(calls)

    def work(k):
        for r in rounds:
            for i in range(12):
                name = names[(k + r + i) % len(names)]
                result = calls[name](i)
                assert same_result(result, reference[name][i]), (name, i, result)

    run_threads(THREADS, work)


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_batches_from_several_threads_at_once(rounds, kind):
    f = FUNCTIONS[kind]
    X = np.array(points(4, per_pattern=5))           # 60 rows on 12 patterns
    np.random.default_rng(5).shuffle(X)
    R = fastad.trace(f, X[0])
    ref_values, ref_grads = R.value_and_grad_batch(X, threads=1)
    # a batch is the same numbers as one call per row
    for x, value, g in zip(X[:12], ref_values, ref_grads):
        v, h = R.value_and_grad(x)
        assert same_bits(v, value) and same_bits(h, g)
    counted = Counted(f)
    F = fastad.trace(counted, X[0])

    def work(k):
        rng = np.random.default_rng(200 + k)
        for _ in rounds:
            rows = rng.permutation(len(X))[:rng.integers(10, len(X) + 1)]
            values, grads = F.value_and_grad_batch(X[rows], threads=2)
            assert same_bits(values, ref_values[rows])
            assert same_bits(grads, ref_grads[rows])
            batches.append(len(rows))

    batches = []
    run_threads(4, work)
    print(f"{len(batches)} batches ({sum(batches)} rows) from 4 threads, {counted.calls} traces")
    assert kept_patterns(F) == MAX_RECORDINGS


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
@pytest.mark.parametrize("patterns", [MAX_RECORDINGS, 12])
def test_pickling_while_other_threads_replay_and_re_trace(rounds, patterns, kind):
    # With 8 patterns every one stays kept (the threads only reorder the
    # recordings); with 12 they are evicted and re-traced as well.
    f = FUNCTIONS[kind]
    X = points(6)[:patterns]
    R = fastad.trace(f, X[0])
    reference = [R.value_and_grad(x) for x in X]
    F = fastad.trace(f, X[0])
    loaded = []

    def replay(k):
        rng = np.random.default_rng(300 + k)
        for _ in rounds * 3:
            for i in rng.permutation(len(X)):
                assert same_result(F.value_and_grad(X[i]), reference[i])

    def pickler(k):
        for _ in rounds * 10:
            G = pickle.loads(pickle.dumps(F))
            assert 1 <= kept_patterns(G) <= MAX_RECORDINGS
            answered = 0
            for i, x in enumerate(X):
                try:
                    result = G.value_and_grad(x)
                except fastad.BranchError:
                    continue  # a pattern G was not pickled with
                assert same_result(result, reference[i])
                answered += 1
            # Every kept recording answers its pattern (two threads that
            # re-trace one pattern at once may both keep theirs: see
            # test_concurrent_re_traces_of_one_pattern_keep_one_recording).
            assert 1 <= answered <= kept_patterns(G)
            loaded.append(answered)

    run_threads(THREADS, lambda k: pickler(k) if k < 2 else replay(k))
    assert len(loaded) >= 2


def test_tapes_and_transforms_in_many_threads_at_once(rounds):
    # Imperative tapes and first-order transforms, each thread on its own
    # data, with a shared Function replaying among them.
    def loss(w):
        return (np.sum(fastad.tanh(w[:-1] * w[1:])) + np.sum(w ** 2)) / len(w)

    ws = [np.random.default_rng(k).normal(size=50) for k in range(THREADS)]
    reference = [fastad.value_and_grad(loss)(w) for w in ws]
    tape_reference = []
    for w in ws:
        with fastad.Tape() as t:
            xs = t.var(w)
            y = loss(xs)
        tape_reference.append(t.gradient(y, xs))
    F = fastad.trace(loss, ws[0])

    def work(k):
        for _ in rounds * 5:
            assert same_result(fastad.value_and_grad(loss)(ws[k]), reference[k])
            with fastad.Tape() as t:
                xs = t.var(ws[k])
                y = loss(xs)
            assert same_bits(t.gradient(y, xs), tape_reference[k])
            assert same_result(F.value_and_grad(ws[k]), reference[k])

    run_threads(THREADS, work)


def test_concurrent_re_traces_of_one_pattern_keep_one_recording():
    # Two threads meet the same new branch pattern at once: both re-trace
    # (f is slow), and both recordings are kept, so the Function holds 3
    # recordings for 2 patterns. With 8 threads on 8 patterns the duplicates
    # evict other patterns, which are then traced again and again (in the
    # stress run, a pickled copy held 8 recordings covering 5 patterns).
    calls = []

    def slow(x):
        calls.append(1)
        time.sleep(0.2)  # both threads are inside the trace at once
        return x * x if x > 0 else -x

    F = fastad.trace(slow, 1.0)
    run_threads(2, lambda k: F(-1.0))
    assert F(-2.0) == 2.0 and F(2.0) == 4.0
    assert kept_patterns(F) == 2, repr(F)
