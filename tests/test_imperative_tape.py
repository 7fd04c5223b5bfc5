"""The imperative tape, docs/api.md section 4, line by line: Tape.var, Tape.gradient
(wrt a Var, an array, a list), repeated gradients also after the block, the
TapeError rules (closed tape, unrelated tapes, another thread), threads
recording at once and nested Tape blocks in one thread."""

import math
import threading

import numpy as np
import pytest

import fastad
from fastad import Tape, TapeError, Var

from conftest import assert_close


def run_in_thread(fn):
    """Run fn in a new thread; return what it returned or raised."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            result["error"] = e

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    return result


# ---- the example of docs/api.md ----------------------------------------------------------

def test_the_example_of_the_api():
    with fastad.Tape() as t:
        x = t.var(2.0)
        y = x * fastad.sin(x)
    g = t.gradient(y, x)
    assert type(g) is float
    assert g == pytest.approx(math.sin(2.0) + 2.0 * math.cos(2.0), rel=1e-15)


def test_enter_returns_the_tape():
    t = Tape()
    with t as same:
        assert same is t


# ---- Tape.var --------------------------------------------------------------------------

@pytest.mark.parametrize("x", [2.0, 2, np.float64(2.0), np.float32(2.0), np.int32(2)])
def test_var_of_a_number_is_a_var(x):
    with Tape() as t:
        v = t.var(x)
        assert type(v) is Var and v.value == 2.0 and type(v.value) is float
        y = v ** 3
    assert t.gradient(y, v) == 12.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_var_of_an_array_is_an_array_of_vars(dtype):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    with Tape() as t:
        xs = t.var(x)
        assert type(xs) is fastad.Array and xs.dtype == np.float64 and xs.shape == (2, 3)
        assert all(type(v) is Var for v in xs.flat)
        np.testing.assert_array_equal(fastad.value(xs), x.astype(np.float64))
        y = np.sum(xs * xs)
    g = t.gradient(y, xs)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (2, 3)
    np.testing.assert_array_equal(g, 2.0 * x)


@pytest.mark.parametrize("x", [[1.0, 2.0, 3.0], [1, 2, 3], (1.0, 2, 3.0), [[1.0, 2.0, 3.0]]])
def test_var_of_a_list_is_an_array(x):
    with Tape() as t:
        xs = t.var(x)
        assert type(xs) is fastad.Array
        assert xs.shape == np.shape(x)
        y = np.prod(xs)
    np.testing.assert_array_equal(t.gradient(y, xs), np.reshape([6.0, 3.0, 2.0], np.shape(x)))


def test_var_of_a_zero_dim_array():
    with Tape() as t:
        xs = t.var(np.array(3.0))
        assert type(xs) is fastad.Array and xs.shape == ()
        y = xs[()] * 2.0
    g = t.gradient(y, xs)
    assert np.shape(g) == () and g == 2.0


def test_var_of_an_empty_array():
    with Tape() as t:
        xs = t.var(np.zeros((0, 3)))
        x = t.var(1.0)
        y = x * 2.0 + np.sum(xs)
    assert xs.shape == (0, 3)
    assert t.gradient(y, xs).shape == (0, 3)
    assert t.gradient(y, x) == 2.0


def test_each_var_call_makes_independent_variables():
    with Tape() as t:
        a = t.var(1.0)
        b = t.var(1.0)
        y = a * 3.0 + b * 5.0
    assert t.gradient(y, a) == 3.0 and t.gradient(y, b) == 5.0


def test_var_copies_its_array_argument():
    x = np.array([1.0, 2.0])
    with Tape() as t:
        xs = t.var(x)
        x[0] = 100.0
    assert xs[0].value == 1.0


@pytest.mark.parametrize("bad", ["a", None, {"a": 1.0}, object()])
def test_var_of_a_bad_value_raises_type_error(bad):
    with Tape() as t:
        with pytest.raises(TypeError, match="Tape.var"):
            t.var(bad)
        # the tape keeps recording
        x = t.var(1.0)
        y = x * 2.0
    assert t.gradient(y, x) == 2.0


def test_var_outside_the_block_raises_tape_error():
    t = Tape()
    with pytest.raises(TapeError, match="not recording"):
        t.var(1.0)
    with t:
        t.var(1.0)
    with pytest.raises(TapeError, match="finished"):
        t.var(1.0)


# ---- Tape.gradient ------------------------------------------------------------------

def make_recording():
    with Tape() as t:
        x = t.var(1.5)
        ws = t.var(np.array([[1.0, -2.0], [0.5, 3.0]]))
        zs = t.var([0.25, 0.75])
        y = x * np.sum(ws * ws) + fastad.exp(zs[0]) * zs[1]
    return t, x, ws, zs, y


def test_gradient_wrt_a_var_is_a_float():
    t, x, ws, zs, y = make_recording()
    g = t.gradient(y, x)
    assert type(g) is float and g == np.sum(fastad.value(ws) ** 2)


def test_gradient_wrt_an_array_has_its_shape():
    t, x, ws, zs, y = make_recording()
    g = t.gradient(y, ws)
    assert isinstance(g, np.ndarray) and g.shape == (2, 2) and g.dtype == np.float64
    assert_close(g, 2 * 1.5 * fastad.value(ws))
    # a slice or a single element of the array
    assert_close(t.gradient(y, ws[:, 1]), 2 * 1.5 * fastad.value(ws)[:, 1])
    assert t.gradient(y, ws[1, 1]) == 2 * 1.5 * 3.0


def test_gradient_wrt_a_list_of_vars_and_arrays():
    t, x, ws, zs, y = make_recording()
    g = t.gradient(y, [x, ws, zs, zs[1]])
    assert type(g) is list and len(g) == 4
    assert g[0] == t.gradient(y, x)
    np.testing.assert_array_equal(g[1], t.gradient(y, ws))
    assert_close(g[2], [math.exp(0.25) * 0.75, math.exp(0.25)])
    assert g[3] == math.exp(0.25)


def test_gradient_wrt_an_empty_list():
    t, x, ws, zs, y = make_recording()
    assert t.gradient(y, []) == []


def test_gradient_wrt_an_intermediate_var():
    with Tape() as t:
        x = t.var(2.0)
        u = x * x
        y = fastad.sin(u) + u
    assert t.gradient(y, u) == pytest.approx(math.cos(4.0) + 1.0, rel=1e-15)
    assert t.gradient(u, x) == 4.0
    # y does not depend on entries recorded after it
    with Tape() as t2:
        a = t2.var(1.0)
        y2 = a * 2.0
        later = t2.var(5.0)
        y2_later = y2 * later
    assert t2.gradient(y2, later) == 0.0
    assert t2.gradient(y2_later, a) == 10.0


def test_gradient_wrt_a_var_the_output_does_not_depend_on():
    with Tape() as t:
        a, b = t.var(1.0), t.var(2.0)
        y = a * 3.0
    assert t.gradient(y, b) == 0.0


def test_gradient_may_be_called_many_times_also_after_the_block():
    with Tape() as t:
        x = t.var(np.array([1.0, 2.0, 3.0]))
        y = np.sum(x ** 3)
        z = x[0] * x[1]
        inside = t.gradient(y, x)
        # recording goes on after a gradient inside the block
        w = z * x[2]
    expected = 3.0 * np.array([1.0, 4.0, 9.0])
    np.testing.assert_array_equal(inside, expected)
    for _ in range(5):
        np.testing.assert_array_equal(t.gradient(y, x), expected)
        np.testing.assert_array_equal(t.gradient(z, x), [2.0, 1.0, 0.0])
        np.testing.assert_array_equal(t.gradient(w, x), [6.0, 3.0, 2.0])


def test_gradient_of_a_var_as_output_itself():
    with Tape() as t:
        x = t.var(2.0)
    assert t.gradient(x, x) == 1.0


@pytest.mark.parametrize("y", [3.0, 0, np.float64(2.0), np.int32(1), np.array(2.0)])
def test_gradient_of_a_number_is_zero(y):
    t, x, ws, zs, _ = make_recording()
    assert t.gradient(y, x) == 0.0
    g = t.gradient(y, ws)
    assert g.shape == (2, 2) and np.all(g == 0.0)
    assert t.gradient(y, [x, zs]) == [0.0, pytest.approx([0.0, 0.0])]


def test_gradient_of_a_zero_dim_object_array_output():
    with Tape() as t:
        x = t.var(2.0)
        y = np.array(x * x, dtype=object)
    assert t.gradient(y, x) == 4.0


@pytest.mark.parametrize("y", ["a", None, [1.0, 2.0]])
def test_gradient_of_a_non_scalar_raises_type_error(y):
    t, x, *_ = make_recording()
    with pytest.raises(TypeError, match="y must be"):
        t.gradient(y, x)


def test_gradient_of_an_array_of_vars_raises_type_error_naming_it():
    t, x, ws, zs, y = make_recording()
    with pytest.raises(TypeError, match="shape"):
        t.gradient(ws, x)


@pytest.mark.parametrize("wrt", ["x", 1.0, None, np.array([1.0, 2.0])])
def test_gradient_wrt_non_vars_raises_type_error(wrt):
    t, x, ws, zs, y = make_recording()
    with pytest.raises(TypeError, match="wrt"):
        t.gradient(y, wrt)


def test_gradient_with_vars_of_another_tape_raises_tape_error():
    t, x, ws, zs, y = make_recording()
    other, ox, *_, oy = make_recording()
    with pytest.raises(TapeError):
        t.gradient(y, ox)
    with pytest.raises(TapeError):
        t.gradient(oy, x)
    with pytest.raises(TapeError):
        t.gradient(y, [x, ox])
    # and each tape still answers for its own Vars
    assert t.gradient(y, x) == other.gradient(oy, ox)


def test_gradient_of_long_recording_releases_no_wrong_memory():
    # A recording long enough for the sweep to release the GIL.
    n = 20_000
    with Tape() as t:
        xs = t.var(np.full(3, 0.5))
        y = xs[0]
        for _ in range(n):
            y = y * 0.9999 + xs[1] * 1e-4
    g1 = t.gradient(y, xs)
    g2 = t.gradient(y, xs)
    np.testing.assert_array_equal(g1, g2)
    assert g1[0] == pytest.approx(0.9999 ** n, rel=1e-10)
    assert g1[2] == 0.0


# ---- TapeError: closed tapes and unrelated tapes ----------------------------------------------

def test_var_of_a_closed_tape_in_new_arithmetic_raises_tape_error():
    with Tape() as t:
        x = t.var(2.0)
        xs = t.var([1.0, 2.0])
    ops = [
        lambda: x + 1.0, lambda: 1.0 + x, lambda: x * x, lambda: -x, lambda: abs(x),
        lambda: x ** 2, lambda: 2.0 ** x, lambda: x / 3, lambda: x // 1.0, lambda: x % 1.0,
        lambda: fastad.sin(x), lambda: np.exp(x), lambda: np.sum(xs), lambda: xs @ np.ones(2),
        lambda: fastad.maximum(x, 1.0), lambda: math.floor(x), lambda: x + np.float64(1.0),
        lambda: x * np.ones(2),
    ]
    for op in ops:
        with pytest.raises(TapeError) as info:
            op()
        message = str(info.value)
        # says why, and what to do instead
        assert "finished recording" in message and ".value" in message, message


def test_what_still_works_on_a_var_of_a_closed_tape():
    with Tape() as t:
        x = t.var(2.0)
        y = x * 3.0
    assert y.value == 6.0
    assert repr(y) == "Var(6.0)"
    assert format(y, ".2f") == "6.00"
    assert y > 5.0 and not y < 5.0 and y == 6.0
    assert fastad.value([x, y]) == [2.0, 6.0]
    assert t.gradient(y, x) == 3.0


def test_var_of_a_closed_tape_inside_a_new_block():
    with Tape() as t1:
        a = t1.var(1.0)
    with Tape() as t2:
        b = t2.var(2.0)
        for op in (lambda: b * a, lambda: a * b, lambda: a + 1.0, lambda: fastad.hypot(b, a)):
            with pytest.raises(TapeError, match="finished recording"):
                op()
        # the new tape goes on recording after the errors
        y = b * b
    assert t2.gradient(y, b) == 4.0


def test_var_of_a_closed_tape_inside_a_transform():
    with Tape() as t:
        a = t.var(1.0)
    with pytest.raises(TapeError, match="finished recording"):
        fastad.grad(lambda x: x * a)(2.0)
    with pytest.raises(TapeError, match="finished recording"):
        fastad.grad(lambda x: a * x)(2.0)
    assert fastad.grad(lambda x: x * a.value)(2.0) == 1.0


def test_mixing_vars_of_two_unrelated_tapes_raises_tape_error():
    with Tape() as t1:
        a = t1.var(1.0)
    with Tape() as t2:
        b = t2.var(2.0)
    for op in (lambda: a * b, lambda: b + a, lambda: fastad.arctan2(a, b), lambda: np.array([a, b]) @ np.ones(2)):
        with pytest.raises(TapeError) as info:
            op()
        assert "finished recording" in str(info.value) or "unrelated" in str(info.value)


def test_a_tape_records_once():
    t = Tape()
    with t:
        t.var(1.0)
    with pytest.raises(TapeError, match="records once"):
        with t:
            pass
    # re-entering while recording is refused too
    t2 = Tape()
    with t2:
        with pytest.raises(TapeError, match="records once"):
            t2.__enter__()
        x = t2.var(1.0)
        y = x + 1.0
    assert t2.gradient(y, x) == 1.0


def test_exception_inside_the_block_closes_the_tape():
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with Tape() as t:
            x = t.var(1.0)
            y = x * 4.0
            raise Boom
    assert "finished" in repr(t)
    assert t.gradient(y, x) == 4.0
    with pytest.raises(TapeError, match="finished recording"):
        x * 2.0
    with Tape() as t2:
        z = t2.var(1.0)
        w = z * z
    assert t2.gradient(w, z) == 2.0


def test_repr_tells_the_state():
    t = Tape()
    assert "new" in repr(t)
    with t:
        t.var(1.0)
        assert "recording" in repr(t)
    assert "finished" in repr(t) and "1 entries" in repr(t)


# ---- threads -------------------------------------------------------------------------

def test_a_recording_tapes_var_from_another_thread_raises_tape_error():
    with Tape() as t:
        x = t.var(2.0)
        xs = t.var([1.0, 2.0])
        for op in (lambda: x * 2.0, lambda: fastad.sin(x), lambda: x + x, lambda: np.sin(xs),
                   lambda: t.var(1.0)):
            r = run_in_thread(op)
            assert isinstance(r.get("error"), TapeError), r
            assert "another thread" in str(r["error"])
        # the owner thread goes on recording
        y = x * x
    assert t.gradient(y, x) == 4.0


def test_a_recording_tape_used_for_gradient_from_another_thread_raises_tape_error():
    # Tape.gradient reads the tape's arrays, which the owner thread may be
    # growing at the same time: a recording tape belongs to its thread.
    with Tape() as t:
        x = t.var(2.0)
        y = x * x
        r = run_in_thread(lambda: t.gradient(y, x))
        assert isinstance(r.get("error"), TapeError), r
        assert "another thread" in str(r["error"])
    assert t.gradient(y, x) == 4.0


def test_a_recording_tape_closed_from_another_thread_raises_tape_error():
    with Tape() as t:
        x = t.var(2.0)
        r = run_in_thread(lambda: t.__exit__(None, None, None))
        assert isinstance(r.get("error"), TapeError), r
        # the tape is still recording in its own thread
        y = x * x
    assert t.gradient(y, x) == 4.0


def test_a_finished_tape_can_be_used_from_any_thread():
    with Tape() as t:
        xs = t.var(np.linspace(0.0, 1.0, 5))
        y = np.sum(xs ** 3)
    r = run_in_thread(lambda: t.gradient(y, xs))
    assert_close(r["value"], 3 * np.linspace(0.0, 1.0, 5) ** 2)
    r = run_in_thread(lambda: xs[0] * 2.0)
    assert isinstance(r.get("error"), TapeError) and "finished" in str(r["error"])


def test_a_tape_opened_in_another_thread_does_not_record_here():
    ready = threading.Event()
    done = threading.Event()
    box = {}

    def owner():
        with Tape() as t:
            box["x"] = t.var(3.0)
            ready.set()
            done.wait(10)
            box["y"] = box["x"] * box["x"]
        box["t"] = t

    worker = threading.Thread(target=owner)
    worker.start()
    assert ready.wait(10)
    try:
        with pytest.raises(TapeError, match="another thread"):
            box["x"] + 1.0
        # a tape of this thread is unaffected by the other thread's open tape
        with Tape() as mine:
            a = mine.var(1.0)
            b = a * 7.0
        assert mine.gradient(b, a) == 7.0
    finally:
        done.set()
        worker.join()
    assert box["t"].gradient(box["y"], box["x"]) == 6.0


def test_tapes_in_several_threads_recording_at_once():
    n_threads = 4
    barrier = threading.Barrier(n_threads)
    results = {}
    errors = []

    def work(k):
        try:
            rng = np.random.default_rng(k)
            x0 = rng.normal(size=50)
            with Tape() as t:
                xs = t.var(x0)
                # every thread is inside its block before any records much
                barrier.wait(10)
                y = 0.0
                for i in range(len(xs)):
                    y = y + fastad.sin(xs[i] * (k + 1)) * xs[(i + 1) % len(xs)]
                    if i == 25:
                        barrier.wait(10)  # and again halfway through
                inner_g = t.gradient(y, xs)
            outer_g = t.gradient(y, xs)
            expected = np.zeros(len(x0))
            for i in range(len(x0)):
                j = (i + 1) % len(x0)
                expected[i] += (k + 1) * math.cos(x0[i] * (k + 1)) * x0[j]
                expected[j] += math.sin(x0[i] * (k + 1))
            results[k] = (inner_g, outer_g, expected)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for k in range(n_threads):
        inner_g, outer_g, expected = results[k]
        np.testing.assert_array_equal(inner_g, outer_g)
        assert_close(outer_g, expected, rtol=1e-12, atol=1e-12)


def test_each_thread_has_its_own_stack():
    # Thread A holds an outer and an inner tape open while thread B opens and
    # closes its own: B's blocks neither see nor disturb A's stack.
    a_ready = threading.Event()
    b_done = threading.Event()
    out = {}

    def thread_a():
        with Tape() as outer:
            x = outer.var(2.0)
            with Tape() as inner:
                z = inner.var(3.0)
                a_ready.set()
                b_done.wait(10)
                w = z * z
            y = x * x * x
        out["a"] = (outer.gradient(y, x), inner.gradient(w, z))

    def thread_b():
        a_ready.wait(10)
        try:
            with Tape() as t:
                v = t.var(5.0)
                u = v * 2.0
            out["b"] = t.gradient(u, v)
            # a transform in B while A has two tapes open
            out["b_grad"] = fastad.grad(lambda q: q ** 2)(4.0)
        finally:
            b_done.set()

    ta, tb = threading.Thread(target=thread_a), threading.Thread(target=thread_b)
    ta.start()
    tb.start()
    ta.join()
    tb.join()
    assert out == {"a": (12.0, 6.0), "b": 2.0, "b_grad": 8.0}


def test_transforms_in_threads_while_this_thread_records():
    with Tape() as t:
        x = t.var(3.0)
        r = run_in_thread(lambda: fastad.grad(lambda q: q * q * q)(2.0))
        assert r == {"value": 12.0}
        y = x * x
    assert t.gradient(y, x) == 6.0


# ---- nested Tape blocks in one thread --------------------------------------------------

def test_nested_blocks_used_separately_work():
    with Tape() as outer:
        x = outer.var(2.0)
        a = x * x
        with Tape() as inner:
            z = inner.var(3.0)
            w = fastad.exp(z) * z
            # the outer tape records while the inner one is open
            b = a * x
        c = b + x
    assert outer.gradient(c, x) == 3 * 4.0 + 1.0
    assert inner.gradient(w, z) == pytest.approx(math.exp(3.0) * 4.0, rel=1e-15)
    assert outer.n_entries > 0 and inner.n_entries == 3


def test_mixing_vars_of_nested_blocks_captures_the_outer_var():
    with Tape() as outer:
        x = outer.var(2.0)
        with Tape() as inner:
            z = inner.var(3.0)
            w = z * x + fastad.hypot(x, z)
        # On the inner tape the outer Var is held fixed.
        assert inner.gradient(w, z) == pytest.approx(2.0 + 3.0 / np.hypot(2.0, 3.0))
        y = x * 3.0
    assert outer.gradient(y, x) == 3.0


def test_var_of_an_inner_block_after_it_closed_raises_tape_error():
    with Tape() as outer:
        x = outer.var(2.0)
        with Tape() as inner:
            z = inner.var(3.0)
        with pytest.raises(TapeError, match="finished recording"):
            x * z
        y = x * x
    assert outer.gradient(y, x) == 4.0


def test_gradient_wrt_a_var_of_the_other_nested_tape_raises_tape_error():
    with Tape() as outer:
        x = outer.var(2.0)
        y = x * x
        with Tape() as inner:
            z = inner.var(3.0)
            w = z * z
    with pytest.raises(TapeError):
        outer.gradient(y, z)
    with pytest.raises(TapeError):
        inner.gradient(y, z)


def test_transform_inside_a_block_on_constants_works():
    with Tape() as t:
        x = t.var(2.0)
        c = fastad.grad(lambda q: q ** 3)(2.0)  # 12.0, a constant here
        y = x * c
    assert t.gradient(y, x) == 12.0


def test_transform_of_a_blocks_var_is_differentiable():
    with Tape() as t:
        x = t.var(2.0)
        g = fastad.grad(lambda q: q * q * q)(x)       # 3 x^2, a Var of t
        h = fastad.grad(lambda q: q * x)(1.0)         # x, a Var of t
        y = g + h * x
    assert fastad.value(g) == 12.0 and fastad.value(h) == 2.0
    assert t.gradient(y, x) == 6 * 2.0 + 2 * 2.0


def test_a_block_inside_a_transform():
    def f(q):
        with Tape() as t:
            a = t.var(q.value)
            b = a * a
        return q * t.gradient(b, a)  # q times the constant 2 q.value

    assert fastad.grad(f)(3.0) == 6.0
