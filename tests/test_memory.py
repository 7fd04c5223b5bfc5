"""Memory: repeated transforms, abandoned and interrupted recordings keep the
process's memory flat (RSS for the tape's C arrays, tracemalloc for Python
objects), and an exception inside f leaves nothing recording."""

import gc
import os
import tracemalloc

import numpy as np
import pytest

import fastad

MB = 1024 * 1024

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="RSS is read from /proc/self/statm")


def rss():
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


X0 = np.linspace(-1.2, 1.2, 1000)


def tape_bytes_of_one_call():
    with fastad.Tape() as t:
        rosenbrock(t.var(X0))
    return t.nbytes


def python_bytes_during(fn, repeat):
    """Net Python-level allocations (tracemalloc) over `repeat` calls of fn,
    after one warm-up call."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(repeat):
            fn()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


class Boom(Exception):
    pass


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap():
    """Move the objects of earlier tests out of the collector's sight, so the
    many gc.collect() calls here only scan what these tests make (a full
    collection late in the suite costs ~0.1 s)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


# ---- repeated transforms ------------------------------------------------------------

def test_the_workload_is_big_enough_to_show_a_leak():
    # One call records ~9,000 entries (~0.15 MB of tape) and makes as many
    # Vars: a leak of either per call would be hundreds of MB over 1,000 calls.
    assert tape_bytes_of_one_call() > 100_000


@pytest.mark.rss
def test_repeated_grad_keeps_rss_flat():
    g = fastad.grad(rosenbrock)
    for _ in range(20):  # warm-up: spare buffers, freelists, allocator arenas
        g(X0)
    gc.collect()
    before = rss()
    for _ in range(1000):
        result = g(X0)
    gc.collect()
    growth = rss() - before
    assert growth < 5 * MB, f"RSS grew by {growth / MB:.1f} MB over 1,000 grad calls"
    assert result.shape == X0.shape


def test_repeated_grad_keeps_python_allocations_flat():
    g = fastad.grad(rosenbrock)
    # Var freelists may fill up (4096 Vars of ~40 bytes), nothing more.
    growth = python_bytes_during(lambda: g(X0), 200)
    assert growth < 1 * MB, f"Python allocations grew by {growth / MB:.2f} MB over 200 grad calls"


@pytest.mark.rss
@pytest.mark.parametrize("name", ["value_and_grad", "jacobian", "vjp", "tape", "complex grad",
                                  "holomorphic jacobian", "complex replay"])
def test_other_transforms_keep_memory_flat(name):
    x = X0[:200]
    w = np.ones(199)
    z = x[:100] + 1j * x[100:]

    def complex_loss(v):
        return np.sum(np.abs(fastad.exp(v * 0.5j) * v.conjugate() / (v + 2.0)) ** 2)

    replay = fastad.trace(complex_loss, z)

    def steps(v):
        return v[1:] * v[:-1] + fastad.sin(v[1:])

    def tape_call():
        with fastad.Tape() as t:
            xs = t.var(x)
            y = rosenbrock(xs)
        return t.gradient(y, xs)

    calls = {
        "value_and_grad": lambda: fastad.value_and_grad(rosenbrock)(x),
        "jacobian": lambda: fastad.jacobian(steps)(x),
        "vjp": lambda: fastad.vjp(steps, x)[1](w),
        "tape": tape_call,
        "complex grad": lambda: fastad.grad(complex_loss)(z),
        "holomorphic jacobian": lambda: fastad.jacobian(lambda v: v[:20] ** 3 / (v[:20] + 2j),
                                                        holomorphic=True)(z),
        "complex replay": lambda: replay.value_and_grad_batch(np.stack([z, z, z])),
    }
    fn = calls[name]
    for _ in range(10):
        fn()
    gc.collect()
    before = rss()
    for _ in range(200):
        fn()
    gc.collect()
    growth = rss() - before
    assert growth < 5 * MB, f"{name}: RSS grew by {growth / MB:.1f} MB over 200 calls"
    assert python_bytes_during(fn, 20) < 1 * MB


@pytest.mark.rss
def test_live_vjp_fns_keep_their_recordings_and_release_them_when_dropped():
    fn = lambda: fastad.vjp(rosenbrock, X0)[1]  # noqa: E731
    expected = fastad.grad(rosenbrock)(X0)

    def round_of_50():
        kept = [fn() for _ in range(50)]  # ~0.15 MB of tape each, all alive
        # every recording is intact while its vjp_fn lives
        np.testing.assert_array_equal(kept[0](1.0)[0], expected)
        np.testing.assert_array_equal(kept[-1](1.0)[0], expected)

    round_of_50()
    gc.collect()
    before = rss()
    for _ in range(5):
        round_of_50()
    gc.collect()
    growth = rss() - before
    # If dropped vjp_fns kept their recordings, 5 rounds would add ~40 MB.
    assert growth < 5 * MB, f"RSS grew by {growth / MB:.1f} MB over 5 rounds of 50 live vjp_fns"


# ---- abandoned and interrupted recordings ---------------------------------------------

def record_and_drop():
    with fastad.Tape() as t:
        rosenbrock(t.var(X0))


def interrupted_grad():
    def f(x):
        y = rosenbrock(x)
        raise Boom(y)  # the exception even holds a Var of the tape

    try:
        fastad.grad(f)(X0)
    except Boom:
        pass


def interrupted_block():
    try:
        with fastad.Tape() as t:
            y = rosenbrock(t.var(X0))
            raise Boom(y)
    except Boom:
        pass


def interrupted_jacobian():
    def f(x):
        rosenbrock(x)
        raise Boom

    try:
        fastad.jacobian(f)(X0)
    except Boom:
        pass


def failed_output_check():
    try:
        fastad.grad(lambda x: [rosenbrock(x), x[0]])(X0)
    except TypeError:
        pass


ABANDONED = {
    "recorded, never differentiated": record_and_drop,
    "exception inside f": interrupted_grad,
    "exception inside a with block": interrupted_block,
    "exception inside jacobian's f": interrupted_jacobian,
    "bad output after recording": failed_output_check,
}


@pytest.mark.rss
@pytest.mark.parametrize("case", sorted(ABANDONED))
def test_abandoned_recordings_keep_memory_flat(case):
    fn = ABANDONED[case]
    for _ in range(5):
        fn()
    gc.collect()
    before = rss()
    for _ in range(100):
        fn()
    gc.collect()
    growth = rss() - before
    # 100 leaked recordings would be ~15 MB of tape plus ~35 MB of Vars.
    assert growth < 5 * MB, f"{case}: RSS grew by {growth / MB:.1f} MB over 100 recordings"
    assert python_bytes_during(fn, 20) < 1 * MB


# ---- an exception inside f leaves the library clean -------------------------------------

def test_exception_inside_f_leaves_nothing_recording():
    leaked = []

    def f(x):
        leaked.append(x)
        y = x * x
        raise Boom

    with pytest.raises(Boom):
        fastad.grad(f)(2.0)
    # the failed call's tape is closed ...
    with pytest.raises(fastad.TapeError, match="finished recording"):
        leaked[0] * 2.0
    # ... and no tape of it is left on this thread's stack: a later transform
    # and a later block record on their own tapes, and combining their Vars
    # with the leaked one is the closed-tape error, not nesting.
    assert fastad.grad(lambda x: x ** 3)(2.0) == 12.0
    with fastad.Tape() as t:
        a = t.var(1.0)
        with pytest.raises(fastad.TapeError, match="finished recording"):
            a * leaked[0]
        b = a * 5.0
    assert t.gradient(b, a) == 5.0


def test_exception_in_nested_blocks_unwinds_every_tape():
    with pytest.raises(Boom):
        with fastad.Tape() as outer:
            x = outer.var(1.0)
            with fastad.Tape() as inner:
                z = inner.var(2.0)
                raise Boom
    assert "finished" in repr(outer) and "finished" in repr(inner)
    for v in (x, z):
        with pytest.raises(fastad.TapeError, match="finished recording"):
            v + 1.0
    # a new pair of separate transforms and blocks behaves normally: nothing
    # stale is taken for an enclosing tape
    with fastad.Tape() as t:
        a = t.var(3.0)
        g = fastad.grad(lambda q: q * q)(a.value)
        b = a * g
    assert t.gradient(b, a) == 6.0


def test_exception_inside_f_in_a_thread_leaves_that_thread_clean():
    import threading

    out = {}

    def work():
        try:
            fastad.grad(lambda x: (_ for _ in ()).throw(Boom()))(1.0)
        except Boom:
            pass
        out["g"] = fastad.grad(lambda x: x * 7.0)(1.0)

    th = threading.Thread(target=work)
    th.start()
    th.join()
    assert out == {"g": 7.0}
