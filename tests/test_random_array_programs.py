"""Random whole-array programs (fastad.Array), checked every way fastad computes them.

tests/random_array_programs.py generates the source of random programs on 1
to 3 float arrays of small shapes (broadcasting, views and slices,
reductions with and without axis, products with constant matrices and
between arrays, masks with where and ``x * (x > c)``, assignment into
``np.zeros_like(x)`` and ``fastad.zeros``, every operation of the test
catalogue with its domain map, edge values on purpose) and checks each:
values against plain floats and mpmath, gradients and Hessians against
mpmath central differences, the same program on object arrays of Vars,
forward against reverse mode and both against a reference sweep, replay at
other points (other mask outcomes with no re-trace, other branches of an
``if``), retrace=False, batches on 1 and 2 threads, grad_function and
pickling, and each program's array-output variant through the Jacobians
(random_array_programs.CHECKS).

* Quick size (the normal suite): QUICK_PROGRAMS programs, one test per check.
* Stress size: ``python -m pytest tests/test_random_array_programs.py --stress``
  (or FASTAD_STRESS=1): STRESS_PROGRAMS programs on every core, with the
  counts per check, the known differences, the skips and why, and the seed.
* FASTAD_SEED sets the seed (default DEFAULT_SEED), FASTAD_ARRAY_PROGRAMS
  the number of programs. A failure names the check, the program (source),
  the point(s) and the command that replays it:
  ``python tests/random_array_programs.py --seed S --index I``.

The self-tests after that feed the checker deliberately wrong results, one
check at a time, to show that every check can fail; the findings at the end
are minimal reproductions of what the random array programs found.
"""

import math
import os
import random

import numpy as np
import pytest

import fastad

import random_array_programs as ra
import random_programs as rp
from conftest import stress_mode

DEFAULT_SEED = 20240611
QUICK_PROGRAMS = 30
STRESS_PROGRAMS = 1200
INF = math.inf
NAN = math.nan


# ---- the random array programs --------------------------------------------------------------------

@pytest.fixture(scope="module")
def random_array_run(request):
    stress = stress_mode(request.config)
    seed = int(os.environ.get("FASTAD_SEED", DEFAULT_SEED))
    count = int(os.environ.get("FASTAD_ARRAY_PROGRAMS",
                               STRESS_PROGRAMS if stress else QUICK_PROGRAMS))
    workers = max(1, os.cpu_count() or 1) if stress else 1
    with np.errstate(all="ignore"):
        outcome = ra.run_programs(seed, count, workers=workers)
    summary = outcome.summary(seed) + f"\n  ({workers} worker process(es))"
    if stress:
        # past the output capture, so that the counts show with -q too
        capture = request.config.pluginmanager.getplugin("capturemanager")
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        with capture.global_and_fixture_disabled():
            if reporter is not None:
                reporter.write_line("")
                for line in summary.splitlines():
                    reporter.write_line(line)
            else:
                print(summary)
    return seed, outcome, summary


@pytest.mark.parametrize("check", list(ra.CHECKS))
def test_random_array_programs(random_array_run, check):
    seed, outcome, summary = random_array_run
    if check in ("replay_masks", "replay_other", "argnums") and outcome.programs < 10:
        pytest.skip("too few programs to be sure to meet this case")
    assert outcome.ran[check] > 0, f"the check {check} never ran\n{summary}"
    if outcome.failed[check]:
        only = ra.ArrayOutcome()
        only.failures = [f for f in outcome.failures if f["check"] == check]
        pytest.fail(f"{outcome.failed[check]} of {outcome.ran[check]} {check} checks failed "
                    f"(FASTAD_SEED={seed}): {ra.CHECKS[check]}\n\n"
                    f"{only.failure_report(limit_per_check=3)}\n{summary}", pytrace=False)


WORDS = ("[1:]", "[:-1]", "[::2]", "[:, 0]", ".T", "axis=", "keepdims=True", " @ ", "np.dot(",
         "np.matmul(", "np.tensordot(", "F.where(", "np.where(", "np.zeros_like(", "F.zeros(",
         "np.concatenate(", "np.stack(", "np.broadcast_to(", "for i in range", "if ", "np.inf",
         "np.nan", "float('nan')", "float('inf')", ".reshape(", " & ", " | ", "~", "np.max(",
         "np.min(", "np.prod(", "np.mean(", ".sum(", ".max(", "abs(", "round(", "math.floor(")


def test_generation_is_reproducible_and_covers_every_construct():
    first = [ra.generate(DEFAULT_SEED, i)[0].source for i in range(30)]
    again = [ra.generate(DEFAULT_SEED, i)[0].source for i in range(30)]
    assert first == again
    assert len(set(first)) == 30
    assert [ra.generate(DEFAULT_SEED + 1, i)[0].source for i in range(30)] != first
    used = set()
    features = set()
    spelled = set()
    words = set()
    inputs = set()
    for i in range(300):
        program, rng = ra.generate(DEFAULT_SEED, i)
        x = ra.random_point(rng, program.n, program.edgy)
        with np.errstate(all="ignore"):
            run = ra.ArrayEvaluator(program).plain(x).run
        used.update(run.ops)
        features.update(program.features)
        spelled.update(program.spellings)
        inputs.add(len(program.shapes))
        words.update(word for word in WORDS if word in program.source)
    assert rp.ALL_OPS <= used, f"never generated: {sorted(rp.ALL_OPS - used)}"
    every = {(s.op.name, s.label) for spellings in rp.SPELLINGS.values() for s in spellings}
    assert every <= spelled, f"never written: {sorted(every - spelled)}"
    expected = {"view", "broadcast", "constant array", "F.where", "np.where", "x * mask",
                "mask logic", "product with a constant", "product of arrays", "concatenate",
                "stack", "np.zeros_like", "F.zeros", "fill complete", "fill partial",
                "r[mask] = c", "if", "loop", "reduce sum", "reduce sum axis", "reduce mean",
                "reduce mean axis", "reduce prod", "reduce prod axis", "reduce max",
                "reduce max axis", "reduce min", "reduce min axis", "cumsum", "diff", "clip",
                "outer", "roll", "broadcast_to"}
    assert expected <= features, f"never generated: {sorted(expected - features)}"
    assert words == set(WORDS), f"never written: {sorted(set(WORDS) - words)}"
    assert inputs == {1, 2, 3}


def test_the_same_source_runs_on_arrays_objects_floats_and_mpmath():
    source = ("def f(x, y):\n"
              "    r = np.zeros_like(x)\n"
              "    r[0] = x[0] - 1.0\n"
              "    r[1:] = x[1:] - x[:-1] ** 2\n"
              "    m = F.where(x > 0.5, np.sin(x), F.log(x * x + 0.25))\n"
              "    s = np.sum(r * y[:, None], axis=0) @ np.array([0.5, -1.0, 2.0])\n"
              "    if np.max(m) > 0.2:\n"
              "        s = s + np.mean(m * (m < 0.9))\n"
              "    return s + np.prod(x.T[::2], axis=1).sum() + np.min(y @ x)\n")
    program = ra.ArrayProgram(source, [(2, 3), (2,)], False)
    ev = ra.ArrayEvaluator(program)
    f = program.function()
    g = program.canonical(f)
    api = ra.ArrayApi()
    for x in ([0.7, -0.3, 1.2, 0.4, 2.0, -1.5, 0.25, -0.5], [0.2, 1.4, -2.0, 0.9, 0.1, 0.6, 1.0, 2.0]):
        res = ev.plain(x)
        # (masks and where are comparisons among the pieces of the reference:
        # constants 0 and 1 and selected elements, no entries)
        assert {"sin", "log", "maximum", "minimum", "multiply", "square", "subtract",
                "divide"} <= set(res.run.ops)
        assert sum(1 for name, _ in res.run.pieces if name == "cmp") == 13   # 6 + 6 + the if
        assert len(res.run.branches) == 1
        value, grad = api.value_and_grad(g, program.pack(x))
        assert rp.same_float(value, res.value)
        ref, _ = rp.reference_reverse(res)
        np.testing.assert_allclose(grad, ref, rtol=1e-14, atol=1e-15)
        vo, go, _ = api.record(f, program.split(x), True)
        assert math.isclose(vo, value, rel_tol=1e-14)
        np.testing.assert_allclose(go, grad, rtol=1e-13, atol=1e-14)
        mv, run = ev.mp(rp._mp_point(x))
        assert run.pieces == res.run.pieces and run.branches == res.run.branches
        assert abs(float(mv) - value) <= 1e-13 * abs(value)


def test_the_reference_follows_fastad_arrays_where_object_loops_do_not():
    # np.max with a nan: fastad.Array's maximum propagates it (the reference
    # too); NumPy's object loop compares and skips it (object mode: known)
    program = ra.ArrayProgram("def f(x):\n    return np.max(F.log(x)) + np.sum(x)\n",
                              [(3,)], False, "hand", 0)
    outcome = ra.ArrayOutcome()
    checker = ra.ArrayProgramChecker(program, outcome, random.Random(1))
    res = checker.ev.plain([-1.0, 2.0, 0.5])
    assert math.isnan(res.value) and res.run.compare_nan
    checker.check_value([-1.0, 2.0, 0.5])
    checker.check_object([-1.0, 2.0, 0.5])
    assert outcome.n_failed == 0, outcome.failure_report()
    assert outcome.known[ra.OBJECT_COMPARE] == 1
    # a partly filled np.zeros_like of an object array holds int 0: np.exp raises there
    program = ra.ArrayProgram("def f(x):\n    r = np.zeros_like(x)\n    r[1:] = x[1:]\n"
                              "    return np.sum(np.exp(r))\n", [(3,)], False, "hand", 1)
    outcome = ra.ArrayOutcome()
    checker = ra.ArrayProgramChecker(program, outcome, random.Random(1))
    checker.check_value([0.5, 1.0, 2.0])
    checker.check_object([0.5, 1.0, 2.0])
    assert checker.ev.plain([0.5, 1.0, 2.0]).run.consts
    assert outcome.n_failed == 0, outcome.failure_report()
    assert outcome.known[ra.OBJECT_MIXED] == 1
    # sums of a transposed view: Arrays fold in the view's order, NumPy's object
    # loops in memory order; the same values to rounding, another tape
    program = ra.ArrayProgram("def f(x):\n    return np.sum(F.sin(x).T * 1e8) + np.sum(x)\n",
                              [(2, 3)], False, "hand", 2)
    outcome = ra.ArrayOutcome()
    checker = ra.ArrayProgramChecker(program, outcome, random.Random(1))
    for x in ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1.5, -2.0, 0.7, 3.0, -0.1, 2.2]):
        checker.check_value(x)
        checker.check_object(x)
    assert outcome.n_failed == 0, outcome.failure_report()
    assert outcome.known[ra.OBJECT_OTHER_TAPE] == 2
    # ... and at the end of the float range one order overflows: inf from
    # Arrays (1e308 + 1e308 first), 0.75 in memory order
    program = ra.ArrayProgram("def f(x):\n    return np.sum(x.T * 1.0)\n", [(2, 3)], False,
                              "hand", 3)
    outcome = ra.ArrayOutcome()
    checker = ra.ArrayProgramChecker(program, outcome, random.Random(1))
    x = [1e308, -1e308, 0.5, 1e308, -1e308, 0.25]
    assert checker.ev.plain(x).value == INF
    checker.check_value(x)
    checker.check_object(x)
    assert outcome.n_failed == 0, outcome.failure_report()
    assert outcome.known[ra.OBJECT_OVERFLOW] == 1


# ---- the checker catches wrong results -------------------------------------------------------------

# smooth programs (no edge values) with an if and a mask, of 1, 2 and 3
# inputs, each reaching another branch of its if and other mask outcomes on
# the traced branch
SELF_TEST_PROGRAMS = [249, 45, 113]


def _nudge(a, factor=1.0 + 1e-4):
    return np.asarray(a, dtype=np.float64) * factor


class _Stale(ra.ArrayApi):
    """Replays from the first point it saw: the wrong branch elsewhere."""

    def __init__(self):
        self.first = {}

    def value_and_grad_F(self, F, X):
        key = id(F)
        if key not in self.first:
            self.first[key] = super().value_and_grad_F(F, X)
        return self.first[key]


def _fault(**methods):
    return type("Faulty", (ra.ArrayApi,), methods)()


def _grad_scaled(self, g, X):
    v, grad = ra.ArrayApi.value_and_grad(self, g, X)
    return v, _nudge(grad)


def _batch_row_off(self, F, rows, threads):
    v, g = ra.ArrayApi.batch(self, F, rows, threads)
    if threads == 2:
        g = g.copy()
        g[-1] = _nudge(g[-1])
    return v, g


def _hessian_asymmetric(self, g, X):
    H = ra.ArrayApi.hessian(self, g, X).copy()
    H[0, 1] += 1e-3 * (1.0 + abs(H[0, 1]))
    return H


def _object_off(self, f, arrays, object_mode):
    v, g, tape = ra.ArrayApi.record(self, f, arrays, object_mode)
    return (v, _nudge(g), tape) if object_mode else (v, g, tape)


FAULTS = {
    "value_plain": lambda: _fault(value_and_grad=lambda self, g, X: (
        np.nextafter(ra.ArrayApi.value_and_grad(self, g, X)[0], INF),
        ra.ArrayApi.value_and_grad(self, g, X)[1])),
    "argnums": lambda: _fault(value_and_grad_args=lambda self, f, xs: (
        ra.ArrayApi.value_and_grad_args(self, f, xs)[0],
        _nudge(ra.ArrayApi.value_and_grad_args(self, f, xs)[1], 1 + 1e-15))),
    "grad_fd": lambda: _fault(value_and_grad=_grad_scaled),
    "object": lambda: _fault(record=_object_off),
    "jacrev_grad": lambda: _fault(vjp=lambda self, g, X, w: (
        ra.ArrayApi.vjp(self, g, X, w)[0], _nudge(ra.ArrayApi.vjp(self, g, X, w)[1], 1 + 1e-15))),
    "rev_ref": lambda: _fault(value_and_grad=_grad_scaled),
    "fwd_ref": lambda: _fault(jacfwd=lambda self, g, X: _nudge(ra.ArrayApi.jacfwd(self, g, X),
                                                                1 + 1e-9)),
    "jvp_ref": lambda: _fault(jvp=lambda self, g, X, V: (
        ra.ArrayApi.jvp(self, g, X, V)[0], ra.ArrayApi.jvp(self, g, X, V)[1] + 1e-6)),
    "fwd_rev": lambda: _fault(jacfwd=lambda self, g, X: _nudge(ra.ArrayApi.jacfwd(self, g, X),
                                                                1 + 1e-9)),
    "F_jacobian": lambda: _fault(jacobian_F=lambda self, F, X, mode: _nudge(
        ra.ArrayApi.jacobian_F(self, F, X, mode), 1 + 1e-15 if mode == "forward" else 1.0)),
    "replay_same": lambda: _fault(value_and_grad_F=lambda self, F, X: (
        ra.ArrayApi.value_and_grad_F(self, F, X)[0],
        _nudge(ra.ArrayApi.value_and_grad_F(self, F, X)[1], 1 + 1e-15))),
    "replay_masks": lambda: _fault(grad_F=lambda self, F, X: _nudge(
        ra.ArrayApi.grad_F(self, F, X), 1 + 1e-15)),
    "replay_other": _Stale,
    "retrace_false": lambda: _fault(trace=lambda self, g, X, retrace=True: ra.ArrayApi.trace(
        self, g, X)),
    "batch": lambda: _fault(batch=_batch_row_off),
    "hess_F": lambda: _fault(hessian_F=lambda self, F, X: _nudge(
        ra.ArrayApi.hessian_F(self, F, X), 1 + 1e-15)),
    "hess_sym": lambda: _fault(hessian=_hessian_asymmetric),
    "hess_fd": lambda: _fault(
        hessian=lambda self, g, X: _nudge(ra.ArrayApi.hessian(self, g, X), 1.001),
        hessian_F=lambda self, F, X: _nudge(ra.ArrayApi.hessian_F(self, F, X), 1.001)),
    "grad_function": lambda: _fault(call_grad_function=lambda self, G, X: _nudge(
        ra.ArrayApi.call_grad_function(self, G, X), 1 + 1e-9)),
    "pickle": lambda: _fault(pickle_roundtrip=lambda self, F: F),   # a Function that re-traces
    "jacobian": lambda: _fault(call=lambda self, F, X: _nudge(ra.ArrayApi.call(self, F, X),
                                                             1 + 1e-15)),
}


@pytest.mark.parametrize("check", [c for c in ra.CHECKS if c != "value_mp"])
def test_the_checker_catches_a_wrong_result(check):
    outcome = ra.ArrayOutcome()
    for index in SELF_TEST_PROGRAMS:
        program, rng = ra.generate(DEFAULT_SEED, index)
        with np.errstate(all="ignore"):
            ra.check_program(program, rng, outcome, api=FAULTS[check]())
    assert outcome.failed[check] > 0, outcome.summary()
    # the failure report names the program, the point and the check
    report = outcome.failure_report()
    assert f"[{check}]" in report and "def f(" in report and "--index" in report


def test_the_checker_catches_a_wrong_value_against_mpmath(monkeypatch):
    # fastad's sin on floats 1e-7 off: the plain-float value no longer matches
    # mpmath (nor fastad's own value)
    spelling = rp.FUNCTIONS["sin"]
    wrong = spelling.on_floats
    monkeypatch.setattr(spelling, "on_floats", lambda a: wrong(a) * (1 + 1e-7))
    program = ra.ArrayProgram("def f(x):\n    return np.sum(F.sin(x) * x[::-1])\n", [(3,)],
                              False, 0, 0)
    outcome = ra.ArrayOutcome()
    ra.check_program(program, random.Random(3), outcome)
    assert outcome.failed["value_mp"] > 0
    assert outcome.failed["value_plain"] > 0


# ---- findings: minimal reproductions of what the random array programs found ----------------------
# Each fails until the core is fixed; the random array programs that found
# them (seed 1 and 2, 1,000 programs each) fail the checks named.

def test_grad_function_of_a_structured_argument_with_arrays():
    # Function.grad_function() raised "ValueError: fastad: corrupt Function (the
    # recording does not match the input structure and output shape)" for a
    # tuple (or dict) holding arrays; one array, or a tuple of floats, works.
    # (grad_function of every random array program with 2 or 3 inputs.)
    x = np.array([1.0, 2.0])
    y = np.array([[0.5, 1.5], [2.0, 3.0]])
    # The gradient Function of a structured argument gives the gradient as
    # one flat vector over the input scalars, in leaf order (Function.grad
    # gives it in the argument's structure).
    F = fastad.trace(lambda xs: np.sum(xs[0] * xs[1]), (x, y))
    expected = F.grad((x, y))
    got = F.grad_function()((x, y))
    assert rp.same_bits(got, np.concatenate([np.ravel(part) for part in expected]))
    F = fastad.trace(lambda d: np.sum(d["a"]) * d["b"], {"a": x, "b": 2.0})
    got = F.grad_function()({"a": x, "b": 2.0})
    assert rp.same_bits(got, [2.0, 2.0, 3.0])


def test_assignment_through_a_mask_keeps_the_other_elements():
    # r[mask] = v replaced the elements where mask is false by constants equal
    # to their element codes (entry indices, or -1 - pool index): the code
    # array went into where(mask, v, r) as if it held values. (value_plain,
    # grad_fd, object, rev_ref, ... of every random array program with
    # r[(...)] = c, e.g. seed 1 program 59.)
    def f(x):
        r = x * 1.0
        r[x > 0.0] = 0.0
        return r

    x = np.array([1.0, -2.0, 3.0, -4.0])
    out = fastad.value(fastad.jacobian(f)(x))
    assert rp.same_bits(f(x.copy()), [0.0, -2.0, 0.0, -4.0])
    with fastad.Tape() as t:
        xs = t.var(x)
        r = f(xs)
    assert rp.same_bits(fastad.value(r), [0.0, -2.0, 0.0, -4.0])
    assert rp.same_bits(out, np.diag([0.0, 1.0, 0.0, 1.0]))


@pytest.mark.parametrize("name, g", [
    ("mask * 2.0", lambda x: (x > 0) * 2.0),
    ("2.0 * mask", lambda x: 2.0 * (x > 0)),
    ("mask + 1.0", lambda x: (x > 0) + 1.0),
    ("mask * float array", lambda x: (x > 0) * np.array([1.0, 2.0, 3.0])),
    ("object array * mask", lambda x: np.asarray(x - x + 1.0) * (x > 0)),
])
def test_arithmetic_of_a_mask_with_numbers(name, g):
    # Arithmetic of a Mask with a number, a float array or an object array
    # raised "TapeError: this tape is recording in another thread" (the tape
    # of the operation was looked for among Arrays and Vars only, and a
    # method called on the missing tape). (object of random array programs
    # that multiply a mask in object mode, e.g. seed 1 programs 186 and 245;
    # every check of seed 1 program 199.)
    x = np.array([1.0, -2.0, 3.0])
    expected = g(x)
    value, grad = fastad.value_and_grad(lambda x: np.sum(g(x) * x))(x)
    assert value == float(np.sum(expected * x))
    assert rp.same_bits(grad, np.asarray(expected, dtype=np.float64))
