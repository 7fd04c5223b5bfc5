"""The tape itself: growth, allocation failure, the entry limit, ownership
by tape and thread, and the compiled extension being what runs."""

import importlib.machinery
import math
import threading

import numpy as np
import pytest

import fastad
from fastad import _core


def test_compiled_extension_is_what_runs():
    # The core must be the built extension module, not Python source.
    suffix = _core.__file__.rsplit("fastad", 1)[-1]
    assert any(_core.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES), suffix
    assert isinstance(_core.__loader__, importlib.machinery.ExtensionFileLoader)
    # Var and Tape are static extension types, not Python classes.
    heap_type = 1 << 9
    assert not fastad.Var.__flags__ & heap_type
    assert not fastad.Tape.__flags__ & heap_type
    assert fastad.Var is _core.Var


def test_growth_keeps_every_entry():
    # Many doublings of the initial capacity; every value and adjoint intact.
    n = 100_000
    with fastad.Tape() as t:
        x = t.var(0.5)
        y = x
        for _ in range(n):
            y = y * 1.0000001 + 0.0
    assert t.n_entries == 2 * n + 1
    assert y.value == pytest.approx(0.5 * 1.0000001 ** n, rel=1e-12)
    assert t.gradient(y, x) == pytest.approx(1.0000001 ** n, rel=1e-12)


def test_bytes_per_entry():
    with fastad.Tape() as t:
        a, b = t.var(1.0), t.var(2.0)
        c = a * b          # no constant
        d = c * 3.0        # one pooled constant
    assert t.n_entries == 4
    assert t.n_constants == 1
    assert t.nbytes == 4 * 17 + 8


@pytest.mark.parametrize("nth", [1, 2, 3, 4])
def test_allocation_failure_in_growth_raises_memory_error(nth):
    # nth: which of the entry arrays (ops, arg0, arg1, values) fails.
    try:
        _core._fail_nth_allocation(nth)
        with pytest.raises(MemoryError, match="forced"):
            fastad.grad(lambda x: x * 2.0)(1.0)
    finally:
        _core._fail_nth_allocation(0)
    # The library is usable afterwards.
    assert fastad.grad(lambda x: x * 2.0)(1.0) == 2.0
    assert _core.Tape().__enter__ is not None


def test_allocation_failure_mid_recording_leaves_tape_consistent():
    with fastad.Tape() as t:
        x = t.var(1.0)
        y = x
        try:
            _core._fail_nth_allocation(1)
            with pytest.raises(MemoryError):
                # The tape may have adopted a released tape's arrays: record
                # until it has to grow, which is at most 2**22 entries.
                for _ in range(2 ** 22):
                    y = y + 1.0
        finally:
            _core._fail_nth_allocation(0)
        n = t.n_entries
        y = y + 1.0  # recording goes on after the failure
    assert t.n_entries == n + 1
    assert t.gradient(y, x) == 1.0
    assert y.value == n + 1  # x = 1, plus 1 for each of the n recorded additions


def test_allocation_failure_of_constant_pool():
    try:
        _core._fail_nth_allocation(5)  # 4 entry arrays, then the pool
        with pytest.raises(MemoryError):
            fastad.grad(lambda x: x * 3.0)(1.0)
    finally:
        _core._fail_nth_allocation(0)


def test_allocation_failure_of_adjoints():
    with fastad.Tape() as t:
        x = t.var(1.0)
        y = x * x
    try:
        _core._fail_nth_allocation(1)
        with pytest.raises(MemoryError, match="work buffer"):
            t.gradient(y, x)
    finally:
        _core._fail_nth_allocation(0)
    assert t.gradient(y, x) == 2.0


def test_tape_full_raises_clear_error():
    with fastad.Tape() as t:
        t._set_max_entries(300)
        x = t.var(1.0)
        y = x
        with pytest.raises(OverflowError, match="tape is full at 300 entries"):
            for _ in range(1000):
                y = y + 1.0
    assert t.n_entries == 300
    assert t.gradient(y, x) == 1.0


def test_set_max_entries_validates():
    with pytest.raises(ValueError):
        fastad.Tape()._set_max_entries(0)
    with pytest.raises(ValueError):
        fastad.Tape()._set_max_entries(2 ** 31)


def test_huge_tape():
    # Two million entries: growth past 2**20 entries, sweep without the GIL.
    n = 1_000_000
    with fastad.Tape() as t:
        xs = t.var(np.full(4, 0.5))
        y = xs[0]
        for i in range(n - 1):
            y = y * xs[1] + xs[2]
    assert t.n_entries > 2 * n
    assert t.nbytes == t.n_entries * 17 + t.n_constants * 8
    g = t.gradient(y, xs[2])
    # y = x0 * x1**(n-1) + x2 * sum_k x1**k, with x1 = 0.5
    assert g == pytest.approx(2.0, rel=1e-12)


# ---- ownership: finished tapes, unrelated tapes, threads ----------------------------

def test_var_of_finished_tape_raises_tape_error():
    escaped = []
    fastad.grad(lambda x: escaped.append(x) or x * x)(2.0)
    with pytest.raises(fastad.TapeError, match="finished recording"):
        escaped[0] * 2.0
    with pytest.raises(fastad.TapeError):
        fastad.sin(escaped[0])
    # Reading the value stays allowed.
    assert escaped[0].value == 2.0


def test_vars_of_unrelated_tapes_raise_tape_error():
    with fastad.Tape() as t1:
        a = t1.var(1.0)
    with fastad.Tape() as t2:
        b = t2.var(2.0)
        with pytest.raises(fastad.TapeError):
            b * a


def test_nested_transforms_are_exact():
    assert fastad.grad(fastad.grad(lambda x: x * x))(1.0) == 2.0
    assert fastad.grad(lambda x: fastad.grad(lambda y: x * y)(1.0))(2.0) == 1.0
    # Nothing is left recording afterwards.
    assert fastad.grad(lambda x: x * x)(3.0) == 6.0


def test_tape_records_once():
    t = fastad.Tape()
    with t:
        t.var(1.0)
    with pytest.raises(fastad.TapeError, match="records once"):
        t.__enter__()


def test_var_outside_block_raises():
    t = fastad.Tape()
    with pytest.raises(fastad.TapeError, match="not recording"):
        t.var(1.0)


def test_recording_tape_used_from_other_thread_raises():
    errors = []
    with fastad.Tape() as t:
        x = t.var(1.0)

        def use():
            try:
                x * 2.0
            except fastad.TapeError as e:
                errors.append(str(e))

        worker = threading.Thread(target=use)
        worker.start()
        worker.join()
    assert len(errors) == 1 and "another thread" in errors[0]


def test_threads_record_and_differentiate_at_once():
    def f(xs):
        s = 0.0
        for i in range(len(xs) - 1):
            s = s + fastad.sin(xs[i]) * xs[i + 1] ** 2
        return s

    def expected(xs):
        g = np.zeros(len(xs))
        for i in range(len(xs) - 1):
            g[i] += math.cos(xs[i]) * xs[i + 1] ** 2
            g[i + 1] += 2 * math.sin(xs[i]) * xs[i + 1]
        return g

    failures = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(30):
            xs = rng.normal(size=200).tolist()
            got = fastad.grad(f)(xs)
            if not np.allclose(got, expected(xs), rtol=1e-12, atol=1e-12):
                failures.append(seed)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []


def test_gradient_wrt_structures():
    with fastad.Tape() as t:
        xs = t.var(np.array([[1.0, 2.0], [3.0, 4.0]]))
        z = t.var(5.0)
        y = np.sum(xs * xs) * z
    g = t.gradient(y, xs)
    assert isinstance(g, np.ndarray) and g.shape == (2, 2)
    np.testing.assert_allclose(g, 2 * np.array([[1.0, 2.0], [3.0, 4.0]]) * 5.0)
    assert t.gradient(y, [z, xs[0, 0]]) == [30.0, 10.0]
    assert t.gradient(3.0, z) == 0.0
    with pytest.raises(TypeError, match="wrt"):
        t.gradient(y, "x")
    with pytest.raises(TypeError, match="y must be"):
        t.gradient("y", z)
    with fastad.Tape() as other:
        w = other.var(1.0)
    with pytest.raises(fastad.TapeError):
        t.gradient(y, w)
    with pytest.raises(fastad.TapeError):
        t.gradient(w, z)


def test_tape_and_var_cannot_be_pickled():
    import pickle
    with fastad.Tape() as t:
        x = t.var(1.0)
    with pytest.raises(TypeError):
        pickle.dumps(t)
    with pytest.raises(TypeError):
        pickle.dumps(x)
