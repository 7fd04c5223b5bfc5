"""Memory stays flat over many small calls and many trace/pickle cycles.

Measured as tests/test_memory.py does: the resident set size (RSS, which
sees the tape's C arrays) before and after, with a warm-up first, and the
net Python allocations (tracemalloc). Where glibc's mallinfo2 is available
the bytes malloc has handed out are compared as well: that sees a C leak of
a few bytes per call, below what RSS shows.

Sizes: 10**5 small gradients of each kind and 10**3 trace / replay / pickle
/ unpickle cycles in the normal suite (a few seconds); --stress (or
FASTAD_STRESS=1): 10**6 and 10**4.
"""

import ctypes
import gc
import os
import pickle
import time

import numpy as np
import pytest

import fastad
from test_memory import MB, python_bytes_during, rss

# Marked rss: .ci/sanitize leaves these out, since the sanitizers' allocators
# grow RSS whatever fastad does; the leak check there tests the same property.
pytestmark = [pytest.mark.rss,
              pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                 reason="RSS is read from /proc/self/statm")]


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


try:
    _mallinfo2 = ctypes.CDLL(None).mallinfo2
    _mallinfo2.restype = _MallInfo2
except (OSError, AttributeError):  # not glibc, or glibc before 2.33
    _mallinfo2 = None


def heap_in_use():
    """Bytes malloc has handed out and not had back (None without mallinfo2)."""
    if _mallinfo2 is None:
        return None
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


@pytest.fixture(autouse=True, scope="module")
def _frozen_heap():
    """As in test_memory: the collector only scans what these tests make."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def measure(fn, calls, warmup):
    """(RSS growth, heap growth or None, seconds) over `calls` calls of fn
    after `warmup` calls."""
    for _ in range(warmup):
        fn()
    gc.collect()
    rss_before, heap_before = rss(), heap_in_use()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    seconds = time.perf_counter() - started
    gc.collect()
    heap_after = heap_in_use()
    return (rss() - rss_before, None if heap_before is None else heap_after - heap_before,
            seconds)


@pytest.fixture
def sizes(stress):
    """(small gradients, trace/pickle cycles)."""
    return (10 ** 6, 10 ** 4) if stress else (10 ** 5, 10 ** 3)


def small_scalar(x):
    return x * x * fastad.sin(x) + 1.0


def small_array(x):
    return np.sum(x * x) + x[0] * x[-1]


X10 = np.linspace(-1.0, 1.0, 10)
SMALL_CALLS = {
    "grad of a scalar": lambda: fastad.grad(small_scalar)(0.5),
    "value_and_grad of 10": lambda: fastad.value_and_grad(small_array)(X10),
    "replayed value_and_grad": None,  # a Function made once, below
    "Tape gradient": None,
}


def tape_gradient():
    with fastad.Tape() as t:
        x = t.var(0.5)
        y = small_scalar(x)
    return t.gradient(y, x)


@pytest.mark.parametrize("name", sorted(SMALL_CALLS))
def test_small_gradients_keep_memory_flat(name, sizes):
    calls = sizes[0]
    F = fastad.trace(small_array, X10)
    fn = {"replayed value_and_grad": lambda: F.value_and_grad(X10),
          "Tape gradient": tape_gradient}.get(name) or SMALL_CALLS[name]
    growth, heap, seconds = measure(fn, calls, warmup=5000)
    print(f"{name}: {calls} calls in {seconds:.1f} s, RSS {growth / 1024:+.0f} KB, "
          f"heap {'n/a' if heap is None else f'{heap:+d} B'}")
    # A leak of 16 bytes a call would be 1.6 MB (16 MB under --stress).
    assert growth < 1 * MB, f"{name}: RSS grew by {growth / MB:.2f} MB over {calls} calls"
    if heap is not None:
        assert heap < 256 * 1024, f"{name}: malloc'd bytes grew by {heap} over {calls} calls"
    assert python_bytes_during(fn, 2000) < 64 * 1024


def branchy(x):
    return np.sum(x * fastad.sin(x)) if x[0] > 0 else np.sum(x ** 3)


def cycle():
    """Trace, replay (and re-trace), pickle, unpickle, replay the copy."""
    F = fastad.trace(branchy, np.ones(5))
    F.value_and_grad(np.full(5, 0.5))
    F(-np.ones(5))                                  # a second branch pattern
    data = pickle.dumps(F)
    G = pickle.loads(data)
    G.value_and_grad(np.ones(5))
    G.grad_function()(np.full(5, 2.0))
    return len(data)


def test_trace_replay_pickle_cycles_keep_memory_flat(sizes):
    cycles = sizes[1]
    growth, heap, seconds = measure(cycle, cycles, warmup=100)
    print(f"{cycles} trace/replay/pickle/unpickle cycles in {seconds:.1f} s, RSS "
          f"{growth / 1024:+.0f} KB, heap {'n/a' if heap is None else f'{heap:+d} B'}")
    # A cycle makes ~4 tapes and ~20 Python objects: a leak of one tape a
    # cycle would be ~1 MB here, of the Function ~5 MB.
    assert growth < 1 * MB, f"RSS grew by {growth / MB:.2f} MB over {cycles} cycles"
    if heap is not None:
        assert heap < 256 * 1024, f"malloc'd bytes grew by {heap} over {cycles} cycles"
    assert python_bytes_during(cycle, 200) < 64 * 1024


def test_large_pickles_are_released(sizes):
    # Bigger tapes (1 MB of pickle each) through the same cycle: a leaked
    # tape or pickle buffer is visible at once.
    x0 = np.linspace(-1.0, 1.0, 20_000)

    def big_cycle():
        F = fastad.trace(lambda x: np.sum(fastad.sin(x) * x), x0)
        G = pickle.loads(pickle.dumps(F))
        return G.value_and_grad(x0)[0]

    cycles = sizes[1] // 20
    growth, heap, seconds = measure(big_cycle, cycles, warmup=5)
    print(f"{cycles} cycles of a 60,000-entry Function in {seconds:.1f} s, RSS "
          f"{growth / 1024:+.0f} KB")
    assert growth < 5 * MB, f"RSS grew by {growth / MB:.1f} MB over {cycles} big cycles"
