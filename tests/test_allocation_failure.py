"""Allocation failure on every public path.

``fastad._core._fail_nth_allocation(n)`` makes the n-th tape or work-buffer
allocation from now fail as if memory were exhausted. For each public path
(recording transforms, the imperative tape, trace, every Function method,
batches on one and two threads, grad_function, re-tracing, nested
transforms, pickle load) the sweep arms n = 1, 2, ... and calls the path;
each call must either raise MemoryError or return exactly the reference (no
partial result), and afterwards, disarmed, the same call must give the
reference again (nothing left broken). The sweep ends at the first n the
call does not reach: then every allocation of the path has been made to
fail once.

Whether n was reached is read from the hook itself: after the call, while
still armed, a probe that makes exactly one counted allocation (the adjoint
buffer of Tape.gradient on a finished two-entry tape) is repeated; the
k-th probe fails exactly when k allocations were left, and none fails when
the n-th allocation was reached.
"""

import collections
import pickle

import numpy as np
import pytest

import fastad
from fastad import _core
from conftest import same_bits

MAX_SWEEP = 400


# ---- the probe and the sweep -----------------------------------------------------------

with fastad.Tape() as _probe_tape:
    _probe_x = _probe_tape.var(1.5)
    _probe_y = _probe_x * _probe_x


def allocations_left(limit):
    """How many allocations the armed hook still lets through before the
    failing one (0: it has fired, or is disarmed). Consumes them."""
    for k in range(1, limit + 1):
        try:
            _probe_tape.gradient(_probe_y, _probe_x)
        except MemoryError:
            return k
    return 0


def test_the_probe_makes_exactly_one_counted_allocation():
    for n in (1, 2, 5):
        try:
            _core._fail_nth_allocation(n)
            assert allocations_left(10) == n
        finally:
            _core._fail_nth_allocation(0)
    assert allocations_left(10) == 0  # disarmed: never fails
    assert _probe_tape.gradient(_probe_y, _probe_x) == 3.0


def same_result(a, b):
    """Equal bit for bit through tuples, lists and dicts."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(
            same_result(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return (isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(same_result(p, q) for p, q in zip(a, b)))
    if isinstance(a, (complex, np.complexfloating)) or (
            isinstance(a, np.ndarray) and a.dtype.kind == "c"):
        return (np.shape(a) == np.shape(b) and same_bits(np.real(a), np.real(b))
                and same_bits(np.imag(a), np.imag(b)))
    return same_bits(a, b)


def sweep(setup, call):
    """Make each allocation of call(setup()) fail in turn: returns a Counter
    of outcomes (raised, recovered: the n-th failed and the call still
    succeeded, complete: n not reached) and the number of allocations."""
    reference = call(setup())
    outcomes = collections.Counter()
    for n in range(1, MAX_SWEEP + 1):
        state = setup()
        raised = None
        _core._fail_nth_allocation(n)
        try:
            try:
                result = call(state)
            except MemoryError as error:
                raised = error
            left = allocations_left(n)
        finally:
            _core._fail_nth_allocation(0)
        if raised is not None:
            assert left == 0, f"n={n}: a MemoryError while the hook had {left} to go: {raised}"
            outcomes["raised"] += 1
        else:
            assert same_result(result, reference), f"n={n}: {result!r} != {reference!r}"
            outcomes["complete" if left else "recovered"] += 1
        # Disarmed, the same call works and gives the reference.
        assert same_result(call(state), reference), f"n={n}: wrong after the failure"
        if left:
            assert outcomes["raised"] + outcomes["recovered"] == n - 1
            return outcomes, n - left
    raise AssertionError(f"the call still allocates after {MAX_SWEEP} allocations")


# ---- the functions -----------------------------------------------------------------------

def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def branchy(x):
    return x * x * fastad.sin(x) if x > 0 else -x * 3.0


def vector(x):
    return np.array([x[0] * x[1], fastad.sin(x[2]) / (x[0] + 2.0), x[1] ** 3, x[2] + 1.0])


def g(x):
    return fastad.sin(x) * x ** 3 + fastad.exp(-x * x)


def params_loss(p):
    return np.sum(fastad.tanh(p["w"] @ p["x"]) * p["b"]) + p["l"][0] * p["l"][1]


def complex_loss(z):
    return np.sum(np.abs(fastad.exp(z * 0.5j) * z.conjugate() / (z + 2.0)) ** 2)


def holo(z):
    return z ** 3 / (z + 2j)


X3 = np.array([0.3, -0.7, 1.1])
BIG = np.linspace(-1.2, 1.2, 40)         # a tape of ~360 entries: it grows past 256
PARAMS = {"w": np.arange(6.0).reshape(2, 3) / 10, "x": np.array([0.5, -1.0, 2.0]), "b": 0.7,
          "l": [1.5, -0.5]}
Z = np.array([0.3 + 0.1j, -0.2 + 0.5j, 1.0 - 1.0j])


def no_setup():
    return None


RECORDING_PATHS = {
    "grad": lambda _: fastad.grad(rosenbrock)(BIG),
    "grad scalar": lambda _: fastad.grad(g)(0.7),
    "value_and_grad": lambda _: fastad.value_and_grad(rosenbrock)(BIG),
    "grad of a dict": lambda _: fastad.grad(params_loss)(PARAMS),
    "jacobian reverse": lambda _: fastad.jacobian(vector, mode="reverse")(X3),
    "jacobian forward": lambda _: fastad.jacobian(vector, mode="forward")(X3),
    "jacrev": lambda _: fastad.jacrev(vector)(X3),
    "jacfwd": lambda _: fastad.jacfwd(vector)(X3),
    "jvp": lambda _: fastad.jvp(vector, (X3,), (np.array([1.0, 2.0, -1.0]),)),
    "vjp": lambda _: fastad.vjp(vector, X3)[1](np.array([1.0, -2.0, 0.5, 3.0])),
    "hessian": lambda _: fastad.hessian(rosenbrock)(X3),
    "hvp": lambda _: fastad.hvp(rosenbrock, X3, np.array([1.0, 0.5, -1.0])),
    "complex grad": lambda _: fastad.grad(complex_loss)(Z),
    "holomorphic jacobian": lambda _: fastad.jacobian(holo, holomorphic=True)(Z),
    "grad argnums": lambda _: fastad.grad(lambda a, b: a * fastad.sin(b), argnums=(0, 1))(
        0.5, 1.5),
    "whole-array runs": lambda _: fastad.value_and_grad(whole_array_runs)(WIDE),
}


WIDE = np.linspace(-1.0, 1.0, 40)


def whole_array_runs(x):
    # runs of every operand pattern: slices, one operand for all, the same
    # slice twice, and operands gathered into work buffers (reversed)
    s = x[0]
    r = x[::-1]
    return (np.sum(np.exp(r) * x + x * x + np.sin(r) * r)
            + np.sum((x[1:] - x[:-1] ** 2) ** 2 * s))


def tape_gradient(_):
    with fastad.Tape() as t:
        xs = t.var(BIG)
        z = t.var(0.5 + 0.25j)
        y = rosenbrock(xs) + abs(z * z)
    return t.gradient(y, xs), t.gradient(y, z), t.gradient(y, [xs[0], xs[-1]])


def tape_var(_):
    with fastad.Tape() as t:
        xs = t.var(np.linspace(0.0, 1.0, 600))   # 600 inputs: two growths
        y = xs[0] * xs[-1]
    return t.n_entries, t.gradient(y, xs[-1])


TAPE_PATHS = {"Tape.var and gradient": tape_gradient, "Tape.var of 600": tape_var}


def trace_and_replay(_):
    F = fastad.trace(rosenbrock, BIG)
    return F.value_and_grad(BIG * 0.5)


def function_setup(f=rosenbrock, x0=X3):
    return lambda: fastad.trace(f, x0)


V3 = np.array([1.0, 0.5, -1.0])
FUNCTION_PATHS = {
    "trace": (no_setup, trace_and_replay),
    "F(x)": (function_setup(), lambda F: F(X3 * 0.5)),
    "F.grad": (function_setup(), lambda F: F.grad(X3 * 0.5)),
    "F.value_and_grad": (function_setup(), lambda F: F.value_and_grad(X3 * 0.5)),
    "F.jacobian reverse": (function_setup(vector), lambda F: F.jacobian(X3, mode="reverse")),
    "F.jacobian forward": (function_setup(vector), lambda F: F.jacobian(X3, mode="forward")),
    "F.jvp": (function_setup(vector), lambda F: F.jvp(X3, V3)),
    "F.vjp": (function_setup(vector), lambda F: F.vjp(X3, np.array([1.0, -2.0, 0.5, 3.0]))),
    "F.hvp": (function_setup(), lambda F: F.hvp(X3, V3)),
    "F.hessian": (function_setup(), lambda F: F.hessian(X3)),
    "F.hessian of a dict": (function_setup(params_loss, PARAMS),
                            lambda F: F.hessian(PARAMS)),
    "F.grad complex": (function_setup(complex_loss, Z), lambda F: F.grad(Z * 0.5)),
    "F.jacobian holomorphic": (function_setup(holo, Z),
                               lambda F: F.jacobian(Z, holomorphic=True)),
    "F.grad_function": (function_setup(), lambda F: F.grad_function()(X3 * 0.5)),
    "F.grad_function jacobian": (function_setup(),
                                 lambda F: F.grad_function().jacobian(X3 * 0.5)),
    "F.grad_function twice": (function_setup(g, 0.7),
                              lambda F: F.grad_function().grad_function()(0.4)),
    "re-trace": (function_setup(branchy, 1.0), lambda F: (F.value_and_grad(-2.0),
                                                         F.value_and_grad(2.0))),
}


def batch_points():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 3))


def batch_function(x):
    return np.sum(x * x * fastad.sin(x)) if x[0] > 0 else np.sum(x ** 3)


for _threads in (1, 2):
    FUNCTION_PATHS[f"batch threads={_threads}"] = (
        function_setup(batch_function, np.ones(3)),
        lambda F, _t=_threads: F.value_and_grad_batch(batch_points(), threads=_t))
    FUNCTION_PATHS[f"batch of a dict threads={_threads}"] = (
        function_setup(params_loss, PARAMS),
        lambda F, _t=_threads: F.value_and_grad_batch(
            {"w": np.stack([PARAMS["w"]] * 5), "x": np.stack([PARAMS["x"]] * 5) * np.arange(
                5.0)[:, None], "b": np.full(5, 0.7), "l": [np.ones(5), np.arange(5.0)]},
            threads=_t))

NESTED_PATHS = {
    "grad(grad)": lambda _: fastad.grad(fastad.grad(g))(0.7),
    "grad(grad(grad))": lambda _: fastad.grad(fastad.grad(fastad.grad(g)))(0.7),
    "jacobian(grad)": lambda _: fastad.jacobian(fastad.grad(rosenbrock))(X3),
    "grad(x * grad)": lambda _: fastad.grad(lambda x: x * fastad.grad(g)(x))(0.7),
    "hessian(dict)": lambda _: fastad.hessian(params_loss)(PARAMS),
    "jvp(grad)": lambda _: fastad.jvp(fastad.grad(rosenbrock), (X3,), (V3,)),
    "Tape inside grad": lambda _: fastad.grad(lambda x: _tape_inside(x))(0.7),
}


def _tape_inside(x):
    with fastad.Tape() as t:
        y = t.var(2.0)
        z = y * x * x
    return t.gradient(z, y) * x


def pickle_setup():
    F = fastad.trace(branchy, 1.0)
    F(-1.0)  # two recordings
    return pickle.dumps(F)


def load_and_replay(data):
    G = pickle.loads(data)
    return G.value_and_grad(0.5), G.value_and_grad(-0.5), G.hessian(0.5)


PICKLE_PATHS = {"pickle load": (pickle_setup, load_and_replay),
                "pickle load of a dict Function": (
                    lambda: pickle.dumps(fastad.trace(params_loss, PARAMS)),
                    lambda data: pickle.loads(data).value_and_grad(PARAMS))}


ALL_PATHS = {}
for _name, _call in {**RECORDING_PATHS, **TAPE_PATHS, **NESTED_PATHS}.items():
    ALL_PATHS[_name] = (no_setup, _call)
ALL_PATHS.update(FUNCTION_PATHS)
ALL_PATHS.update(PICKLE_PATHS)


@pytest.mark.parametrize("name", sorted(ALL_PATHS))
def test_every_allocation_of_a_path_can_fail(name):
    setup, call = ALL_PATHS[name]
    outcomes, allocations = sweep(setup, call)
    assert outcomes["raised"] + outcomes["recovered"] == allocations
    assert allocations >= 1  # the path allocates (else the hook tests nothing)
    # the library as a whole is fine afterwards
    assert fastad.grad(lambda x: x * x)(3.0) == 6.0


def test_allocation_failure_during_a_long_recording(stress):
    # A tape that doubles many times (to 2**15 or 2**18 entries): each
    # doubling's four resizes fail in turn.
    n = 2 ** 18 if stress else 2 ** 14

    def long_sum(x):
        total = x
        for _ in range(n):
            total = total + 1.0
        return total

    outcomes, allocations = sweep(no_setup, lambda _: fastad.value_and_grad(long_sum)(0.5))
    assert allocations >= 4 * 7  # at least 7 doublings of four arrays


@pytest.mark.rss
def test_failures_in_a_loop_leave_nothing_behind(stress):
    # The same failing calls many times over: the library (its spare arrays
    # and buffer pool) keeps working, results stay exact, and no memory is
    # left behind by the calls that failed (RSS and, with glibc, malloc'd
    # bytes, measured as in test_memory_flat).
    import gc
    from test_memory_flat import MB, heap_in_use, rss

    reference = fastad.value_and_grad(rosenbrock)(BIG)
    F = fastad.trace(rosenbrock, BIG)
    data = pickle_setup()
    calls = [lambda: fastad.value_and_grad(rosenbrock)(BIG), lambda: F.value_and_grad(BIG),
             lambda: load_and_replay(data), lambda: F.grad_function()(BIG),
             lambda: fastad.hessian(rosenbrock)(X3), lambda: trace_and_replay(None),
             lambda: F.value_and_grad_batch(np.stack([BIG] * 20), threads=2)]

    def failing_calls(rounds):
        for k in range(rounds):
            _core._fail_nth_allocation(1 + k % 13)
            try:
                try:
                    calls[k % len(calls)]()
                except MemoryError:
                    pass
            finally:
                _core._fail_nth_allocation(0)

    failing_calls(200)  # warm-up
    gc.collect()
    rss_before, heap_before = rss(), heap_in_use()
    rounds = 20_000 if stress else 2_000
    failing_calls(rounds)
    gc.collect()
    growth, heap_after = rss() - rss_before, heap_in_use()
    assert same_result(F.value_and_grad(BIG), reference)
    assert same_result(fastad.value_and_grad(rosenbrock)(BIG), reference)
    heap = "n/a" if heap_before is None else f"{heap_after - heap_before:+d} B"
    print(f"{rounds} failing calls: RSS {growth / 1024:+.0f} KB, heap {heap}")
    assert growth < 2 * MB, f"RSS grew by {growth / MB:.2f} MB over {rounds} failing calls"
    if heap_before is not None:
        assert heap_after - heap_before < 256 * 1024, (
            f"malloc'd bytes grew by {heap_after - heap_before} over {rounds} failing calls")
