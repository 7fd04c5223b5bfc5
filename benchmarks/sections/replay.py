"""Replay: fastad.trace.

A Function replays its tape in compiled code. Measured side by side:
against re-recording through Python (fastad.value_and_grad of the same f),
against a hand-written C analytic gradient (the physical limit for
Rosenbrock), and against CasADi's gradient Function where CasADi is
installed (pip install casadi; never a dependency). Also the per-call cost
on a tiny function, and value_and_grad_batch on 1 and 2 threads.
"""

import statistics
import time
from dataclasses import dataclass

import numpy as np

import harness  # noqa: F401  (this checkout's fastad first on sys.path)
import fastad
from fastad._problems import LV_PARAMS, lotka_volterra_problem, rosenbrock, rosenbrock_point
from fastad._timing import Series, best_seconds, gc_state, paired_series, seconds_per_call
from problems import compiled_c_rosenbrock


def casadi_gradient(f, n):
    """CasADi's Function computing (f, grad f) for f written in scalar Python,
    its build time, or None and the reason."""
    try:
        import casadi
    except ImportError:
        return None, None, "CasADi is not installed (pip install casadi)"
    start = time.perf_counter()
    x = casadi.SX.sym("x", n)
    y = f([x[i] for i in range(n)])
    gradient = casadi.Function("g", [x], [y, casadi.gradient(y, x)])
    return gradient, time.perf_counter() - start, None


@dataclass
class ReplayRow:
    problem: str
    entries: int
    replay_seconds: float
    versus_recording: Series
    versus_c: Series | None
    versus_casadi: Series | None
    casadi_build_seconds: float | None
    notes: list


def replay_row(problem, f, x, settings, with_c=False):
    """Replay of f at points near x, against its re-recording, C and CasADi."""
    F = fastad.trace(f, x)
    rng = np.random.default_rng(7)
    point = x + 0.01 * rng.standard_normal(x.shape)
    value, grad = F.value_and_grad(point)
    ref_value, ref_grad = fastad.value_and_grad(f)(point)
    if value != ref_value or not np.array_equal(grad, ref_grad):
        raise RuntimeError(f"{problem}: replay disagrees with re-recording")
    replay = lambda: F.value_and_grad(point)  # noqa: E731
    record = lambda: fastad.value_and_grad(f)(point)  # noqa: E731
    repeats = settings.rk4_repeats
    versus_recording = paired_series(record, replay, repeats)
    notes = []
    versus_c = None
    if with_c:
        c_grad, why = compiled_c_rosenbrock()
        if c_grad is None:
            notes.append(f"C gradient: {why}")
        else:
            g = np.empty_like(point)
            c_value = c_grad(point, g)
            notes.append(f"C gradient vs replay: value diff {abs(c_value - value):.1e}, "
                         f"max grad diff {np.max(np.abs(g - grad)):.1e}")
            versus_c = paired_series(lambda: c_grad(point, g), replay, repeats)
    versus_casadi = None
    casadi_fn, build, why = casadi_gradient(f, x.size)
    if casadi_fn is None:
        notes.append(why)
    else:
        out = casadi_fn(point)
        notes.append(f"CasADi vs replay: max grad diff "
                     f"{np.max(np.abs(np.asarray(out[1]).ravel() - grad)):.1e}")
        versus_casadi = paired_series(lambda: casadi_fn(point), replay, repeats)
    with gc_state(False):
        replay_seconds = best_seconds(replay, repeats)
    return ReplayRow(problem, F.n_ops, replay_seconds, versus_recording, versus_c,
                     versus_casadi, build, notes)


def tiny_call_overhead(settings):
    """Seconds per F.value_and_grad call of a 2-input, 4-entry function."""
    F = fastad.trace(lambda v: v[0] * v[1] + v[0], np.array([1.0, 2.0]))
    point = np.array([1.5, 2.5])
    with gc_state(False):
        return best_seconds(lambda: F.value_and_grad(point), settings.rk4_repeats)


def batch_scaling(settings, points=256):
    """value_and_grad_batch of Rosenbrock n=10^4 at 256 points on 1 and on 2
    threads: (median 1-thread time, median 2-thread time, median of the
    per-pair speedups), pairs measured back to back."""
    x = np.asarray(rosenbrock_point(10_000))
    F = fastad.trace(rosenbrock, x)
    X = x + 0.01 * np.random.default_rng(3).standard_normal((points, x.size))
    one, two, speedups = [], [], []
    with gc_state(False):
        for _ in range(max(7, settings.rk4_repeats)):
            t1 = seconds_per_call(lambda: F.value_and_grad_batch(X, threads=1), 1)
            t2 = seconds_per_call(lambda: F.value_and_grad_batch(X, threads=2), 1)
            one.append(t1)
            two.append(t2)
            speedups.append(t1 / t2)
    return statistics.median(one), statistics.median(two), statistics.median(speedups)


def measure(settings):
    """(rows, per-call seconds, (1-thread, 2-thread, speedup))."""
    rows = [replay_row("Rosenbrock n=10^4", rosenbrock,
                       np.asarray(rosenbrock_point(10_000)), settings, with_c=True)]
    loss = lotka_volterra_problem()
    rows.append(replay_row("Lotka-Volterra RK4", loss, np.asarray(LV_PARAMS), settings))
    return rows, tiny_call_overhead(settings), batch_scaling(settings)


def summarize(result):
    rows, tiny, (one, two, speedup) = result
    for r in rows:
        print(f"  replay {r.problem:<22} {r.replay_seconds / r.entries * 1e9:.2f} ns/entry, "
              f"{1 / r.versus_recording.ratio:.1f}x faster than re-recording"
              + ("" if r.versus_c is None else f", {r.versus_c.ratio:.2f}x the C gradient")
              + ("" if r.versus_casadi is None
                 else f", {1 / r.versus_casadi.ratio:.2f}x faster than CasADi"))
    print(f"  replay per-call cost (2 inputs): {tiny * 1e6:.2f} us; batch 2 threads vs 1: "
          f"{speedup:.2f}x")
