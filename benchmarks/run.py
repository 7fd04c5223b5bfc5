"""fastad benchmark suite: record+reverse cost relative to plain Python.

Run from the repository root, after building the core in place::

    python3 setup.py build_ext --inplace
    python3 benchmarks/run.py            # full run (about 3 minutes), writes benchmarks/RESULTS.md
    python3 benchmarks/run.py --quick    # smoke run (seconds): smaller sizes, fewer repeats

It benchmarks the fastad of this checkout (the repository root goes first
on sys.path) and prints where it was imported from.
``--quick`` prints the report instead of overwriting RESULTS.md; give
``--output PATH`` to write it somewhere. The run exits with status 1 when a
gradient check fails (no timings are taken then); missed performance
targets are reported, not treated as failures.

Problems
    * extended Rosenbrock as a plain Python loop over an indexable sequence,
      n = 10**2 .. 10**5 (input as a list, and as an ndarray);
    * RK4 integration of Lotka-Volterra, 1000 steps of plain scalar code,
      a least-squares loss as a function of its 4 parameters;
    * complex numbers: a quadratic-map iteration and a complex least-squares
      loss, each against the same code on reals.

Method
    The machine this runs on is shared and its speed drifts by up to 2x
    within seconds, so absolute times are unreliable. Every timed sample of
    fastad is bracketed by samples of plain Python running the same function
    on floats (baseline, fastad, baseline, fastad, baseline, ...), each pair
    gives fastad / mean(the two neighbouring baselines), and the report gives
    the median of those ratios. Samples run an inner loop so each one takes
    at least MIN_SAMPLE_SECONDS. The garbage collector is disabled while
    timing except for the "gc on" column. Each problem and size is measured
    in a fresh process (see in_fresh_process for why).

The main suite uses only the standard library, NumPy, fastad and
(optionally) SciPy and CasADi. Its last section, benchmarks/peers.py,
compares with autograd, PyTorch, JAX, CasADi, a micrograd-style tape and C
on the same scalar code, and draws PNG plots with matplotlib; these are
optional (``pip install ".[bench]"``): a missing one is reported as
missing.
"""

import argparse
import contextlib
import datetime
import gc
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# NumPy's and SciPy's OpenBLAS each start a thread pool at import whose
# threads can spin on this 2-core machine; nothing timed here uses BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUTPUT = HERE / "RESULTS.md"

# Benchmark this checkout's in-place build, not some installed fastad.
sys.path.insert(0, str(REPO))
import fastad  # noqa: E402

try:  # Page-fault counts, a diagnostic; not available on Windows.
    import resource
except ImportError:
    resource = None

try:  # Only for the reference Rosenbrock gradient; a formula stands in.
    from scipy.optimize import rosen_der as _scipy_rosen_der
except ImportError:
    _scipy_rosen_der = None

# Long enough that timer resolution and call overhead vanish, short enough
# that the machine's speed barely changes between bracketing samples.
MIN_SAMPLE_SECONDS = 2e-3

# Targets of the project (see the Targets section of the report).
TARGET_RATIO = 2.5
TARGET_SWEEP_NS = 3.0
TARGET_BYTES = 24.0
ADJOINT_BYTES = 8  # one float64 adjoint per entry, allocated by each sweep


@dataclass(frozen=True)
class Settings:
    rosenbrock_sizes: tuple
    # Pairs per series, by Rosenbrock size; large sizes are slow and their
    # long samples are less noisy, so they need fewer.
    repeats: dict
    rk4_repeats: int
    sweep_repeats: int
    quick: bool


FULL = Settings(
    rosenbrock_sizes=(10**2, 10**3, 10**4, 10**5),
    repeats={10**2: 41, 10**3: 41, 10**4: 31, 10**5: 15},
    rk4_repeats=41,
    sweep_repeats=41,
    quick=False,
)
QUICK = Settings(
    rosenbrock_sizes=(10**2, 10**3, 10**4),
    repeats={10**2: 5, 10**3: 5, 10**4: 5},
    rk4_repeats=5,
    sweep_repeats=5,
    quick=True,
)


# ==== the problems =================================================================
# Written the way a user would write them for floats: fastad must handle
# this code unchanged, and the baseline runs exactly the same function.

def rosenbrock(x):
    """Extended Rosenbrock function of an indexable sequence."""
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def rosenbrock_reference_gradient(x):
    """Analytic gradient (SciPy's rosen_der when SciPy is installed)."""
    x = np.asarray(x, dtype=np.float64)
    if _scipy_rosen_der is not None:
        return _scipy_rosen_der(x)
    g = np.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


def rosenbrock_point(n):
    """A fixed point away from the minimum (where the gradient would vanish)."""
    return np.random.default_rng(12345).uniform(-1.5, 1.5, n).tolist()


LV_STEPS = 1000
LV_DT = 0.01
LV_INITIAL = (10.0, 5.0)  # prey, predator
LV_TRUE_PARAMS = [1.1, 0.4, 0.1, 0.4]  # alpha, beta, delta, gamma
LV_PARAMS = [1.0, 0.45, 0.12, 0.35]  # where the loss and gradient are taken


def rk4_step(u, v, alpha, beta, delta, gamma, dt):
    """One classical Runge-Kutta step of Lotka-Volterra (u prey, v predator)."""
    half, sixth = 0.5 * dt, dt / 6.0
    k1u = alpha * u - beta * u * v
    k1v = delta * u * v - gamma * v
    u2, v2 = u + half * k1u, v + half * k1v
    k2u = alpha * u2 - beta * u2 * v2
    k2v = delta * u2 * v2 - gamma * v2
    u3, v3 = u + half * k2u, v + half * k2v
    k3u = alpha * u3 - beta * u3 * v3
    k3v = delta * u3 * v3 - gamma * v3
    u4, v4 = u + dt * k3u, v + dt * k3v
    k4u = alpha * u4 - beta * u4 * v4
    k4v = delta * u4 * v4 - gamma * v4
    return (u + sixth * (k1u + 2 * k2u + 2 * k3u + k4u),
            v + sixth * (k1v + 2 * k2v + 2 * k3v + k4v))


def lotka_volterra_trajectory(params):
    """Prey and predator after each step, as two lists of floats."""
    u, v = LV_INITIAL
    us, vs = [], []
    for _ in range(LV_STEPS):
        u, v = rk4_step(u, v, *params, LV_DT)
        us.append(u)
        vs.append(v)
    return us, vs


def make_lotka_volterra_loss(observed_prey, observed_predator):
    """Least-squares misfit of the RK4 trajectory to observations, f(params)."""

    def loss(params):
        alpha, beta, delta, gamma = params
        u, v = LV_INITIAL
        s = 0.0
        for k in range(LV_STEPS):
            u, v = rk4_step(u, v, alpha, beta, delta, gamma, LV_DT)
            s = s + (u - observed_prey[k]) ** 2 + (v - observed_predator[k]) ** 2
        return s

    return loss


def lotka_volterra_problem():
    """The loss function, with synthetic observations from the true parameters."""
    return make_lotka_volterra_loss(*lotka_volterra_trajectory(LV_TRUE_PARAMS))


# ==== correctness ==================================================================

@dataclass
class Check:
    name: str
    reference: str
    max_abs: float
    max_rel: float  # max abs error / max |reference gradient|
    tolerance: float

    @property
    def ok(self):
        return self.max_rel <= self.tolerance


def compare_gradients(name, reference_name, got, want, tolerance):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return Check(name, reference_name, math.inf, math.inf, tolerance)
    max_abs = float(np.max(np.abs(got - want)))
    return Check(name, reference_name, max_abs,
                 max_abs / max(float(np.max(np.abs(want))), 1e-300), tolerance)


def check_rosenbrock(n):
    """fastad's gradient, list and ndarray input, against the analytic one."""
    x = rosenbrock_point(n)
    want = rosenbrock_reference_gradient(x)
    reference = "scipy rosen_der" if _scipy_rosen_der is not None else "analytic formula"
    # The reference sums the same terms in another order: a few ulps apart.
    return [
        compare_gradients(f"Rosenbrock n={n} (list)", reference,
                          fastad.grad(rosenbrock)(x), want, 1e-12),
        compare_gradients(f"Rosenbrock n={n} (ndarray)", reference,
                          fastad.grad(rosenbrock)(np.array(x)), want, 1e-12),
    ]


def central_differences(f, params, rel_step=1e-6):
    grad = []
    for k, p in enumerate(params):
        h = rel_step * max(abs(p), 1.0)
        up, down = list(params), list(params)
        up[k] += h
        down[k] -= h
        grad.append((f(up) - f(down)) / (2 * h))
    return grad


def check_lotka_volterra(loss):
    # Central differences are good to about 1e-8 relative here; 1e-6 leaves
    # room for rounding while still catching any wrong derivative rule.
    return [compare_gradients("Lotka-Volterra RK4", "central differences",
                              fastad.grad(loss)(LV_PARAMS),
                              central_differences(loss, LV_PARAMS), 1e-6)]


# ==== timing =======================================================================

@contextlib.contextmanager
def gc_state(enabled):
    """Run the block with the cyclic garbage collector on or off."""
    was_enabled = gc.isenabled()
    gc.collect()  # start every series from the same, empty state
    (gc.enable if enabled else gc.disable)()
    try:
        yield
    finally:
        (gc.enable if was_enabled else gc.disable)()


def seconds_per_call(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def calls_per_sample(fn):
    """Inner-loop length that makes one sample last MIN_SAMPLE_SECONDS."""
    fn()  # warm up (first-call allocations, caches)
    once = min(seconds_per_call(fn, 1) for _ in range(3))
    return max(1, math.ceil(MIN_SAMPLE_SECONDS / max(once, 1e-9)))


@dataclass
class Series:
    """Paired samples: per-pair ratios and the raw per-call times."""
    ratios: list = field(default_factory=list)
    baseline: list = field(default_factory=list)
    candidate: list = field(default_factory=list)

    @property
    def ratio(self):
        return statistics.median(self.ratios)

    @property
    def ratio_quartiles(self):
        if len(self.ratios) < 2:
            return self.ratio, self.ratio
        q = statistics.quantiles(self.ratios, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def baseline_time(self):
        return statistics.median(self.baseline)

    @property
    def candidate_time(self):
        return statistics.median(self.candidate)


def paired_series(baseline, candidate, repeats, gc_enabled=False):
    """Time candidate against baseline as bracketed pairs (see the docstring).

    Consecutive pairs share a baseline sample: b0 c1 b1 c2 b2 ..., and pair
    k's ratio is c_k / mean(b_{k-1}, b_k), so each candidate sample is
    compared with the machine speed just before and just after it.
    """
    inner_b = calls_per_sample(baseline)
    inner_c = calls_per_sample(candidate)
    out = Series()
    with gc_state(gc_enabled):
        previous = seconds_per_call(baseline, inner_b)
        out.baseline.append(previous)
        for _ in range(repeats):
            c = seconds_per_call(candidate, inner_c)
            b = seconds_per_call(baseline, inner_b)
            out.candidate.append(c)
            out.baseline.append(b)
            out.ratios.append(c / (0.5 * (previous + b)))
            previous = b
    return out


def minor_faults_per_call(fn, calls=5):
    """Minor page faults per call of fn (None where getrusage is missing).

    Every fault is a page the kernel hands out and zero-fills because the
    call touched freshly mapped memory: a cost plain Python does not pay.
    """
    if resource is None:
        return None
    fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


@dataclass
class TapeStats:
    entries: int
    bytes_per_entry: float
    sweep_ns: float       # median ns per entry of one reverse sweep
    sweep_best_ns: float  # fastest sample, the least disturbed by other load


def record(f, x):
    """Record f at x on an imperative tape; returns (tape, output Var)."""
    with fastad.Tape() as tape:
        xs = tape.var(np.array(x))
        y = f(list(xs))
    return tape, y


def tape_stats(f, x, repeats):
    """Size of f's tape and the speed of the reverse sweep alone over it."""
    tape, y = record(f, x)
    sweep = lambda: tape._sweep(y)  # noqa: E731  (allocates, sweeps, frees adjoints)
    inner = calls_per_sample(sweep)
    with gc_state(False):
        samples = [seconds_per_call(sweep, inner) for _ in range(repeats)]
    n = tape.n_entries
    return TapeStats(
        entries=n,
        bytes_per_entry=tape.nbytes / n,
        sweep_ns=statistics.median(samples) / n * 1e9,
        sweep_best_ns=min(samples) / n * 1e9,
    )


# ==== the measurements =============================================================

@dataclass
class Row:
    problem: str
    size: str
    note: str
    stats: TapeStats
    gc_off: Series
    gc_on: Series
    faults: tuple  # minor page faults per call: (baseline, fastad)
    same_tape_as_previous: bool = False


def measure(problem, size, note, f, baseline_arg, fastad_arg, stats, repeats,
            same_tape_as_previous=False):
    """One table row: grad(f)(fastad_arg) against f(baseline_arg), gc off and on."""
    grad_f = fastad.grad(f)
    baseline = lambda: f(baseline_arg)  # noqa: E731
    candidate = lambda: grad_f(fastad_arg)  # noqa: E731
    row = Row(problem, size, note, stats,
              gc_off=paired_series(baseline, candidate, repeats, gc_enabled=False),
              gc_on=paired_series(baseline, candidate, repeats, gc_enabled=True),
              faults=(minor_faults_per_call(baseline), minor_faults_per_call(candidate)),
              same_tape_as_previous=same_tape_as_previous)
    print(f"  {problem:<15} {size:<8} {note:<14} entries {stats.entries:>8}  "
          f"plain {format_time(row.gc_off.baseline_time):>9}  "
          f"fastad {format_time(row.gc_off.candidate_time):>9}  "
          f"ratio {row.gc_off.ratio:5.2f} (gc on {row.gc_on.ratio:5.2f})  "
          f"sweep {stats.sweep_ns:5.2f} ns/entry  {stats.bytes_per_entry:5.2f} B/entry",
          flush=True)
    return row


def measure_rosenbrock(n, settings):
    x = rosenbrock_point(n)
    repeats = settings.repeats[n]
    stats = tape_stats(rosenbrock, x, settings.sweep_repeats)
    size = f"n=10^{round(math.log10(n))}"
    return [
        measure("Rosenbrock", size, "list input", rosenbrock, x, x, stats, repeats),
        # The baseline stays the list of floats: the row shows what taking
        # an ndarray costs, not how slow NumPy scalars are.
        measure("Rosenbrock", size, "ndarray input", rosenbrock, x, np.array(x),
                stats, repeats, same_tape_as_previous=True),
    ]


def measure_lotka_volterra(settings):
    loss = lotka_volterra_problem()
    stats = tape_stats(loss, LV_PARAMS, settings.sweep_repeats)
    return [measure("Lotka-Volterra", f"{LV_STEPS} steps", "RK4, 4 params", loss,
                    list(LV_PARAMS), list(LV_PARAMS), stats, settings.rk4_repeats)]


def in_fresh_process(task, *args):
    """task(*args) run in a new interpreter; returns its result.

    fastad keeps the buffers of the last released tape for the next one, and
    glibc's malloc raises its mmap and trim thresholds to the largest block
    freed so far: a large tape freed earlier in the process (a bigger
    problem, or the gradient checks) would spare a smaller problem the
    allocation and page faults that a program calling only that problem pays
    on its first call. One process per problem keeps every measurement
    independent of what ran before it.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(task, *args).result()


# ==== the report ===================================================================

# ==== Jacobians by reverse mode ======================================================
# jacrev records f once and sweeps once per output: for m outputs at the end
# of a long tape it should cost about record + m sweeps, against record + 1
# sweep for the gradient of one scalar of the same recording.

JACREV_OUTPUTS = (10, 100)


def make_multi_output(m):
    """The RK4 Lotka-Volterra final state mixed into m outputs, f(params) -> list."""
    weights = [(1.0 + k / m, 2.0 - k / m) for k in range(m)]

    def f(params):
        alpha, beta, delta, gamma = params
        u, v = LV_INITIAL
        for _ in range(LV_STEPS):
            u, v = rk4_step(u, v, alpha, beta, delta, gamma, LV_DT)
        return [a * u + b * v for a, b in weights]

    return f


def measure_jacrev(settings):
    """(m, entries, ratio series, record time, sweep time) for each m."""
    rows = []
    for m in JACREV_OUTPUTS:
        f = make_multi_output(m)

        def summed(params, f=f):
            s = 0.0
            for y in f(params):
                s = s + y
            return s

        x = np.array(LV_PARAMS)  # an array argument gives an (m, 4) Jacobian
        jac = fastad.jacrev(f)(x)
        check = np.array([fastad.grad(lambda p, k=k: f(p)[k])(x) for k in (0, m - 1)])
        if jac.shape != (m, 4) or not np.allclose(jac[[0, m - 1]], check, rtol=1e-13, atol=0):
            raise RuntimeError(f"jacrev rows disagree with grad for m={m}")
        series = paired_series(lambda: fastad.grad(summed)(x),
                               lambda: fastad.jacrev(f)(x), settings.rk4_repeats)
        stats = tape_stats(summed, LV_PARAMS, settings.sweep_repeats)
        rows.append((m, stats.entries, series, stats.sweep_ns * stats.entries * 1e-9))
    return rows


def render_jacrev(rows):
    lines = ["| outputs m | entries on tape | grad of the sum (record + 1 sweep) | jacrev "
             "| jacrev / (record + 1 sweep) | sweep alone | record + m sweeps, predicted |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for m, entries, series, sweep in rows:
        record = series.baseline_time - sweep
        predicted = (record + m * sweep) / series.baseline_time
        lines.append(f"| {m} | {entries:,} | {format_time(series.baseline_time)} "
                     f"| {format_time(series.candidate_time)} | **{series.ratio:.2f}x** "
                     f"| {format_time(sweep)} | {predicted:.2f}x |")
    return lines


# ==== replay: fastad.trace ============================================================
# A Function replays its tape in compiled code. Measured side by side:
# against re-recording through Python (fastad.value_and_grad of the same f),
# against a hand-written C analytic gradient (the physical limit for
# Rosenbrock), and against CasADi's gradient Function where CasADi is
# installed (pip install casadi; never a dependency).

ROSEN_C = r"""
double rosen_value_and_grad(const double* x, double* g, long n) {
    double f = 0.0;
    for (long i = 0; i < n; ++i) g[i] = 0.0;
    for (long i = 0; i + 1 < n; ++i) {
        double t = x[i + 1] - x[i] * x[i];
        double u = 1.0 - x[i];
        f += 100.0 * t * t + u * u;
        g[i] += -400.0 * t * x[i] - 2.0 * u;
        g[i + 1] += 200.0 * t;
    }
    return f;
}
"""


def compiled_c_rosenbrock():
    """The C gradient above, compiled with the system compiler and loaded by
    ctypes; None (with the reason) where that is not possible."""
    import ctypes
    import tempfile
    folder = tempfile.mkdtemp(prefix="fastad-bench-")
    source, library = os.path.join(folder, "rosen.c"), os.path.join(folder, "rosen.so")
    with open(source, "w") as handle:
        handle.write(ROSEN_C)
    compiler = os.environ.get("CC", "cc")
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"{compiler} failed: {done.stderr.strip()[:200]}"
    lib = ctypes.CDLL(library)
    lib.rosen_value_and_grad.restype = ctypes.c_double
    lib.rosen_value_and_grad.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]

    def value_and_grad(x, g):
        return lib.rosen_value_and_grad(x.ctypes.data, g.ctypes.data, x.size)

    return value_and_grad, None


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
        inner = calls_per_sample(replay)
        replay_seconds = min(seconds_per_call(replay, inner) for _ in range(repeats))
    return ReplayRow(problem, F.n_ops, replay_seconds, versus_recording, versus_c,
                     versus_casadi, build, notes)


def tiny_call_overhead(settings):
    """Seconds per F.value_and_grad call of a 2-input, 4-entry function."""
    F = fastad.trace(lambda v: v[0] * v[1] + v[0], np.array([1.0, 2.0]))
    point = np.array([1.5, 2.5])
    call = lambda: F.value_and_grad(point)  # noqa: E731
    with gc_state(False):
        inner = calls_per_sample(call)
        return min(seconds_per_call(call, inner) for _ in range(settings.rk4_repeats))


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


def measure_replay(settings):
    rows = [replay_row("Rosenbrock n=10^4", rosenbrock,
                       np.asarray(rosenbrock_point(10_000)), settings, with_c=True)]
    loss = lotka_volterra_problem()
    rows.append(replay_row("Lotka-Volterra RK4", loss, np.asarray(LV_PARAMS), settings))
    return rows, tiny_call_overhead(settings), batch_scaling(settings)


def replay_targets(rows, tiny, batch):
    """(target, case, measured, met) for the replay targets."""
    out = []
    for r in rows:
        ns = r.replay_seconds / r.entries * 1e9
        out.append(("replay value_and_grad <= 6 ns/entry", r.problem, f"{ns:.2f} ns", ns <= 6.0))
        speedup = 1 / r.versus_recording.ratio
        out.append(("replay >= 10x faster than re-recording", r.problem, f"{speedup:.1f}x",
                    speedup >= 10.0))
        if r.versus_casadi is not None:
            faster = 1 / r.versus_casadi.ratio
            out.append(("replay faster than CasADi's gradient Function", r.problem,
                        f"{faster:.2f}x", faster > 1.0))
    one, two, speedup = batch
    out.append(("value_and_grad_batch: 2 threads >= 1.7x 1 thread", "Rosenbrock n=10^4, 256 points",
                f"{speedup:.2f}x", speedup >= 1.7))
    out.append(("per-call cost of F.value_and_grad <= 2 us", "2 inputs", f"{tiny * 1e6:.2f} us",
                tiny <= 2e-6))
    return out


def render_replay(rows, tiny, batch):
    lines = ["| problem | entries | replay value_and_grad | ns/entry | re-recording / replay "
             "| replay / C analytic | CasADi / replay | CasADi build |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c = "n/a" if r.versus_c is None else f"{r.versus_c.ratio:.2f}x"
        cas = "missing" if r.versus_casadi is None else f"{1 / r.versus_casadi.ratio:.2f}x"
        build = "-" if r.casadi_build_seconds is None else f"{r.casadi_build_seconds:.2f} s"
        lines.append(
            f"| {r.problem} | {r.entries:,} | {format_time(r.replay_seconds)} "
            f"| {r.replay_seconds / r.entries * 1e9:.2f} "
            f"| **{1 / r.versus_recording.ratio:.1f}x** | {c} | {cas} | {build} |")
    one, two, speedup = batch
    lines += ["", f"- Per-call cost of `F.value_and_grad` on a 2-input function: "
              f"**{tiny * 1e6:.2f} us**.",
              f"- `value_and_grad_batch`, Rosenbrock n=10^4 at 256 points: 1 thread "
              f"{format_time(one)}, 2 threads {format_time(two)}: **{speedup:.2f}x** "
              f"(median of back-to-back pairs; plain Python threads running GIL-free "
              f"sweeps, so the figure depends on the second core being free)."]
    notes = [n for r in rows for n in r.notes]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines += [""] + target_table(replay_targets(rows, tiny, batch))
    return lines


# ==== complex numbers ===============================================================
# The same Python code run on complex numbers and on reals: a complex
# operation expands into real tape entries (a product into four products
# and two sums), so the interesting figure is what a complex gradient costs
# against a real gradient of the same code (the same operation count).

COMPLEX_STEPS = 1000


def complex_recurrence(p):
    """A quadratic-map iteration and a misfit: |z_n|^2 after z <- z*z/4 + c.

    The same code runs on complex p (z0, c) and on real p; the loss is
    abs(.)**2 either way."""
    z, c = p[0], p[1]
    for _ in range(COMPLEX_STEPS):
        z = z * z * 0.25 + c
    return abs(z) ** 2


def complex_least_squares(p):
    """sum_i |sum_j A_ij z_j - b_i|^2 as loops (20 x 10), complex or real A."""
    A, b, z = p
    total = 0.0
    for i in range(len(b)):
        r = -b[i]
        for j in range(len(z)):
            r = r + A[i][j] * z[j]
        total = total + abs(r) ** 2
    return total


@dataclass
class ComplexRow:
    problem: str
    entries_real: int
    entries_complex: int
    plain: Series        # plain complex evaluation against plain real
    gradient: Series     # fastad complex gradient against fastad real gradient
    versus_plain: Series  # fastad complex gradient against plain complex evaluation
    replay: Series       # replayed complex gradient against replayed real gradient
    check: float         # max abs difference of the complex gradient from the reference


def complex_row(problem, f_complex, f_real, complex_point, real_point, reference, settings):
    """f_complex at a list of complex numbers against its real twin f_real
    (the same code with real constants) at a list of reals."""
    grad_c = fastad.grad(f_complex)
    grad_r = fastad.grad(f_real)
    g = grad_c(complex_point)
    check = float(np.max(np.abs(np.asarray(g) - reference)))
    repeats = settings.rk4_repeats
    plain = paired_series(lambda: f_real(real_point), lambda: f_complex(complex_point),
                          repeats)
    gradient = paired_series(lambda: grad_r(real_point), lambda: grad_c(complex_point),
                             repeats)
    versus_plain = paired_series(lambda: f_complex(complex_point),
                                 lambda: grad_c(complex_point), repeats)
    entries = []
    for f, point in ((f_real, real_point), (f_complex, complex_point)):
        with fastad.Tape() as tape:
            f([tape.var(v) for v in point])
        entries.append(tape.n_entries)
    F_r = fastad.trace(f_real, real_point)
    F_c = fastad.trace(f_complex, complex_point)
    if not np.allclose(F_c.grad(complex_point), g, rtol=1e-12, atol=1e-12):
        raise RuntimeError(f"{problem}: complex replay disagrees with recording")
    replay = paired_series(lambda: F_r.grad(real_point), lambda: F_c.grad(complex_point),
                           repeats)
    return ComplexRow(problem, entries[0], entries[1], plain, gradient, versus_plain,
                      replay, check)


def measure_complex(settings):
    rows = []
    z0, c = 0.3 + 0.2j, 0.1 - 0.3j
    h = 1e-7  # reference: central differences along both axes

    def plain_loss(z, c):
        return complex_recurrence([z, c])

    fd = [(plain_loss(z0 + h, c) - plain_loss(z0 - h, c)) / (2 * h)
          + 1j * (plain_loss(z0 + 1j * h, c) - plain_loss(z0 - 1j * h, c)) / (2 * h),
          (plain_loss(z0, c + h) - plain_loss(z0, c - h)) / (2 * h)
          + 1j * (plain_loss(z0, c + 1j * h) - plain_loss(z0, c - 1j * h)) / (2 * h)]
    rows.append(complex_row(f"quadratic map, {COMPLEX_STEPS} steps", complex_recurrence,
                            complex_recurrence, [z0, c], [0.3, 0.1], np.array(fd), settings))
    rng = np.random.default_rng(11)
    A = rng.normal(size=(20, 10)) + 1j * rng.normal(size=(20, 10))
    b = rng.normal(size=20) + 1j * rng.normal(size=20)
    z = rng.normal(size=10) + 1j * rng.normal(size=10)
    complex_data = (A.tolist(), b.tolist())
    real_data = (A.real.tolist(), b.real.tolist())

    def lsq_complex(zs):
        return complex_least_squares(complex_data + (zs,))

    def lsq_real(zs):
        return complex_least_squares(real_data + (zs,))

    rows.append(complex_row("least squares 20x10 (loops)", lsq_complex, lsq_real,
                            z.tolist(), z.real.tolist(), 2 * A.conj().T @ (A @ z - b),
                            settings))
    return rows


def render_complex(rows):
    lines = ["| problem | entries real / complex | plain complex / real "
             "| **complex grad / real grad** | complex grad / plain complex "
             "| replayed complex / real grad | max abs err |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.problem} | {r.entries_real:,} / {r.entries_complex:,} "
            f"| {r.plain.ratio:.2f}x | **{r.gradient.ratio:.2f}x** "
            f"| {r.versus_plain.ratio:.2f}x | {r.replay.ratio:.2f}x | {r.check:.1e} |")
    return lines


# ==== second order and forward mode =================================================
# F.hvp against F.value_and_grad on the same tape (the cheap-gradient bound
# says a Hessian-vector product should cost a small multiple of a gradient);
# the forward Jacobian in vector mode against one tangent sweep per input;
# Hessians and Jacobians against JAX (jit) and CasADi where installed.

def pde_residual(u):
    """Residual of -u'' + u**3 - sin(u) = 1 on a 100-point grid, as a list."""
    n = len(u)
    h2 = 1.0 / (n + 1) ** 2
    out = []
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        out.append((2.0 * u[i] - left - right) / h2 + u[i] ** 3 - fastad.sin(u[i]) - 1.0)
    return out


def pde_residual_generic(u, sin):
    """pde_residual with the sine passed in (for JAX and CasADi)."""
    n = len(u)
    h2 = 1.0 / (n + 1) ** 2
    out = []
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        out.append((2.0 * u[i] - left - right) / h2 + u[i] ** 3 - sin(u[i]) - 1.0)
    return out


@dataclass
class PeerTime:
    name: str
    seconds: float | None     # steady-state time per evaluation
    build: float | None       # compile or build time, where there is one
    note: str = ""


def jax_times(kind, n):
    """jax.jit(jax.hessian) of Rosenbrock or jax.jit(jax.jacfwd) of the PDE
    residual, on the same scalar Python code: (steady seconds, compile seconds)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return PeerTime("JAX jit", None, None, "JAX is not installed (pip install jax)")
    jax.config.update("jax_enable_x64", True)
    if kind == "hessian":
        fn = jax.jit(jax.hessian(lambda x: rosenbrock(x)))
    else:
        fn = jax.jit(jax.jacfwd(lambda u: jnp.stack(pde_residual_generic(u, jnp.sin))))
    x = jnp.asarray(np.linspace(-1.0, 1.0, n))
    start = time.perf_counter()
    fn(x).block_until_ready()
    compile_seconds = time.perf_counter() - start
    call = lambda: fn(x).block_until_ready()  # noqa: E731
    inner = calls_per_sample(call)
    steady = min(seconds_per_call(call, inner) for _ in range(5))
    return PeerTime("JAX jit", steady, compile_seconds)


def casadi_times(kind, n):
    try:
        import casadi
    except ImportError:
        return PeerTime("CasADi", None, None, "CasADi is not installed (pip install casadi)")
    start = time.perf_counter()
    x = casadi.SX.sym("x", n)
    items = [x[i] for i in range(n)]
    if kind == "hessian":
        y = rosenbrock(items)
        fn = casadi.Function("h", [x], [casadi.hessian(y, x)[0]])
    else:
        y = casadi.vertcat(*pde_residual_generic(items, casadi.sin))
        fn = casadi.Function("j", [x], [casadi.jacobian(y, x)])
    build = time.perf_counter() - start
    point = np.linspace(-1.0, 1.0, n)
    call = lambda: fn(point)  # noqa: E731
    inner = calls_per_sample(call)
    return PeerTime("CasADi", min(seconds_per_call(call, inner) for _ in range(5)), build)


def fastad_times(kind, n):
    """(record + derivative, replay) seconds for the same problem."""
    point = np.linspace(-1.0, 1.0, n)
    if kind == "hessian":
        once = lambda: fastad.hessian(rosenbrock)(point)  # noqa: E731
        F = fastad.trace(rosenbrock, point)
        replay = lambda: F.hessian(point)  # noqa: E731
    else:
        once = lambda: fastad.jacobian(pde_residual)(point)  # noqa: E731
        F = fastad.trace(pde_residual, point)
        replay = lambda: F.jacobian(point)  # noqa: E731
    times = []
    for fn in (once, replay):
        inner = calls_per_sample(fn)
        times.append(min(seconds_per_call(fn, inner) for _ in range(5)))
    return times


def measure_second_order(settings):
    """hvp / value_and_grad ratios, vector-mode speed-up, peers."""
    rows = []
    for problem, f, x in (("Rosenbrock n=10^4", rosenbrock, np.asarray(rosenbrock_point(10_000))),
                          ("Lotka-Volterra RK4", lotka_volterra_problem(), np.asarray(LV_PARAMS))):
        F = fastad.trace(f, x)
        v = np.random.default_rng(1).standard_normal(x.shape)
        series = paired_series(lambda: F.value_and_grad(x), lambda: F.hvp(x, v),
                               settings.rk4_repeats)
        rows.append((problem, series))
    point = np.linspace(-1.0, 1.0, 100)
    F = fastad.trace(pde_residual, point)
    eye = np.eye(100)

    def scalar_sweeps():
        return [F.jvp(point, eye[k])[1] for k in range(100)]

    if not np.allclose(np.array(scalar_sweeps()).T, F.jacobian(point, mode="forward"),
                       rtol=1e-13, atol=1e-12):
        raise RuntimeError("vector-mode Jacobian disagrees with single tangent sweeps")
    vector = paired_series(scalar_sweeps, lambda: F.jacobian(point, mode="forward"),
                           settings.rk4_repeats)
    peers = {}
    with gc_state(False):
        for kind in ("hessian", "jacobian"):
            record, replay = fastad_times(kind, 100)
            peers[kind] = [PeerTime("fastad record + derivative", record, None),
                           PeerTime("fastad replay (trace)", replay, None),
                           jax_times(kind, 100), casadi_times(kind, 100)]
    return rows, vector, peers


def second_order_targets(rows, vector, peers):
    """(target, case, measured, met) for the forward and second-order targets."""
    out = [("F.hvp <= 4x F.value_and_grad", problem, f"{series.ratio:.2f}x", series.ratio <= 4.0)
           for problem, series in rows]
    speedup = 1 / vector.ratio
    out.append(("vector forward Jacobian >= 2x faster than n single sweeps",
                "PDE residual, n = 100", f"{speedup:.1f}x", speedup >= 2.0))
    return out


def render_second_order(rows, vector, peers):
    lines = ["| problem | F.value_and_grad | F.hvp | hvp / value_and_grad |",
             "|---|---:|---:|---:|"]
    for problem, series in rows:
        lines.append(f"| {problem} | {format_time(series.baseline_time)} "
                     f"| {format_time(series.candidate_time)} | **{series.ratio:.2f}x** |")
    lines += ["", f"Forward Jacobian of the 100-point PDE residual (100 x 100): vector mode "
              f"(`F.jacobian(x, mode='forward')`, 32 lanes per sweep) "
              f"{format_time(vector.candidate_time)} against 100 single tangent sweeps "
              f"(`F.jvp`) {format_time(vector.baseline_time)}: **{1 / vector.ratio:.1f}x** "
              f"faster.", ""]
    titles = {"hessian": "Hessian of Rosenbrock n=100 (Python loop)",
              "jacobian": "Jacobian of the 100-point PDE residual (Python loop)"}
    for kind, entries in peers.items():
        lines += [f"**{titles[kind]}**", "", "| method | time per evaluation | compile / build |",
                  "|---|---:|---:|"]
        for p in entries:
            t = "missing" if p.seconds is None else format_time(p.seconds)
            b = "-" if p.build is None else f"{p.build:.2f} s"
            lines.append(f"| {p.name} | {t} | {b} |" + (f" {p.note}" if p.note else ""))
        lines.append("")
    lines += target_table(second_order_targets(rows, vector, peers))
    lines.append("")
    return lines


# ==== NumPy dispatch ================================================================
# Why Var sets __array_priority__ and no __array_ufunc__: the cost of one
# operation with a NumPy scalar on the left (W[i, j] * x[j]) under each
# route NumPy offers, next to the other operand kinds.

DISPATCH_STATEMENTS = [
    ("Var * Var", "x * y"),
    ("Var * float", "x * 2.0"),
    ("float * Var", "2.0 * x"),
    ("Var * np.float64", "x * w"),
    ("np.float64 * Var (W[i, j] * x[j])", "w * x"),
    ("fastad.sin(Var)", "fastad.sin(x)"),
    ("np.sin(Var) (NumPy object loop)", "np.sin(x)"),
]


class _PriorityProxy:
    """NumPy defers to it by __array_priority__ (fastad's choice)."""
    __array_priority__ = 1000.0

    def __rmul__(self, other):
        return self


class _UfuncNoneProxy:
    """__array_ufunc__ = None: NumPy defers at once, but np.sin(obj) raises."""
    __array_ufunc__ = None

    def __rmul__(self, other):
        return self


class _UfuncMethodProxy:
    """__array_ufunc__ method: NumPy routes w * obj through the ufunc machinery."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return self

    def __rmul__(self, other):
        return self


def ns_per_statement(stmt, namespace, number):
    import timeit
    timer = timeit.Timer(stmt, globals=namespace)
    return min(timer.repeat(repeat=5, number=number)) / number * 1e9


def measure_dispatch(settings):
    """ns per operation for each statement, and for each NumPy route."""
    number = 20_000 if settings.quick else 100_000
    with gc_state(False):
        with fastad.Tape() as tape:
            namespace = {"x": tape.var(1.5), "y": tape.var(2.5), "w": np.float64(2.0),
                         "fastad": fastad, "np": np}
            ops = [(label, ns_per_statement(stmt, namespace, number))
                   for label, stmt in DISPATCH_STATEMENTS]
        plain = ns_per_statement("a * b", {"a": 1.5, "b": 2.5}, number)
        routes = []
        for cls in (_PriorityProxy, _UfuncNoneProxy, _UfuncMethodProxy):
            namespace = {"w": np.float64(2.0), "p": cls()}
            routes.append((cls.__doc__.split(":")[0].strip(), cls.__doc__,
                           ns_per_statement("w * p", namespace, number)))
    return plain, ops, routes


def render_dispatch(plain, ops, routes):
    lines = ["| operation | ns per operation (recording included) |", "|---|---:|",
             f"| float * float (plain Python, for scale) | {plain:.0f} |"]
    lines += [f"| {label} | {ns:.0f} |" for label, ns in ops]
    lines += ["", "The same `np.float64 * obj` under NumPy's three routes, with a "
              "pure-Python class whose `__rmul__` does nothing:", "",
              "| route | ns per operation |", "|---|---:|"]
    lines += [f"| {doc} | {ns:.0f} |" for _, doc, ns in routes]
    return lines


def format_time(seconds):
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision():
    """Commit of the checkout, marked when the working tree has changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def package_version(name):
    try:
        return __import__(name).__version__
    except ImportError:
        return "not installed"


def machine_info():
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("fastad", f"{fastad.__version__}, git {git_revision()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("numpy", np.__version__),
        ("cython", package_version("Cython")),
        ("scipy", package_version("scipy")),
        ("platform", platform.platform()),
        ("cpu", f"{cpu_model()} ({os.cpu_count()} logical cores)"),
        ("load average at start", "unknown" if load is None else
         ", ".join(f"{v:.2f}" for v in load)),
    ]


METHOD = f"""\
Times are per call of the whole operation. **Baseline** is plain Python
running the same function on floats (a list of floats for Rosenbrock, four
floats for Lotka-Volterra). **fastad** is `fastad.grad(f)(x)`: making the
input Vars, recording, one reverse sweep and building the gradient. The
ndarray row passes `np.array(x)` to `grad` (f then indexes an object array
of Vars); its baseline is still f on the list of floats.

The machine is shared and its speed drifts by up to 2x within seconds, so
the headline figures are **ratios measured side by side**: each fastad
sample is bracketed by baseline samples (baseline, fastad, baseline,
fastad, ...; neighbouring pairs share a baseline), each pair gives
fastad / mean(the two baselines), and the table gives the **median of the
per-pair ratios** with its interquartile range in brackets. Times are
medians of the samples; each sample loops until it lasts at least
{MIN_SAMPLE_SECONDS * 1e3:g} ms. Timing uses `time.perf_counter` with the
garbage collector **disabled** (`gc.disable()`), except for the "ratio
(gc on)" column, where it is enabled for both baseline and fastad.
Each problem and size is measured in its own fresh process: glibc's
malloc adapts its thresholds to the largest block freed so far, so a
bigger tape freed earlier in the same process would make a smaller
problem look faster than it is in a program that runs only that problem.
OpenBLAS/OpenMP are limited to one thread (nothing timed uses them; their
idle pools would otherwise compete for the 2 cores).

**Sweep** is the reverse sweep alone: f is recorded once on an imperative
tape (`with fastad.Tape() as t: xs = t.var(np.array(x)); y = f(list(xs))`)
and `t._sweep(y)` (allocate and zero the adjoints, one reverse sweep, free)
is timed; the figure is the median time / `t.n_entries`, with the fastest
sample in brackets (the machine's speed drifts between two levels, so
the median depends on which level the samples fall in; the fastest
sample shows the undisturbed speed; on the smallest tapes the fixed cost
of the call and the allocation is spread over few entries).
**Bytes/entry** is `t.nbytes / t.n_entries`: the
stored tape including its constant pool; each sweep adds
{ADJOINT_BYTES} bytes/entry of adjoints on top, not counted there.
"""


def render_checks(checks):
    lines = ["| gradient | reference | max abs error | max rel error | tolerance | |",
             "|---|---|---:|---:|---:|---|"]
    for c in checks:
        lines.append(f"| {c.name} | {c.reference} | {c.max_abs:.2e} | {c.max_rel:.2e} "
                     f"| {c.tolerance:.0e} | {'ok' if c.ok else 'FAILED'} |")
    return lines


def render_rows(rows):
    lines = ["| problem | size | input | entries on tape | baseline | fastad "
             "| ratio (gc off) | ratio (gc on) | sweep ns/entry | bytes/entry |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lo, hi = r.gc_off.ratio_quartiles
        lo_on, hi_on = r.gc_on.ratio_quartiles
        if r.same_tape_as_previous:
            sweep = bytes_ = "same tape"
        else:
            sweep = f"{r.stats.sweep_ns:.2f} [{r.stats.sweep_best_ns:.2f}]"
            bytes_ = f"{r.stats.bytes_per_entry:.2f}"
        lines.append(
            f"| {r.problem} | {r.size} | {r.note} | {r.stats.entries:,} "
            f"| {format_time(r.gc_off.baseline_time)} | {format_time(r.gc_off.candidate_time)} "
            f"| **{r.gc_off.ratio:.2f}x** [{lo:.2f}, {hi:.2f}] "
            f"| {r.gc_on.ratio:.2f}x [{lo_on:.2f}, {hi_on:.2f}] "
            f"| {sweep} | {bytes_} |")
    return lines


def target_cases(rows):
    """The rows the targets are judged on: Rosenbrock n=10^4 (list) and RK4."""
    return [r for r in rows
            if (r.problem == "Rosenbrock" and r.size == "n=10^4" and r.note == "list input")
            or r.problem == "Lotka-Volterra"]


def evaluate_targets(rows):
    """(target, case, measured, met) for each target and case."""
    out = []
    for r in target_cases(rows):
        case = f"{r.problem} {r.size}"
        for label, series in (("gc off", r.gc_off), ("gc on", r.gc_on)):
            # Three decimals, so that a ratio just above the target does
            # not print as equal to it.
            out.append((f"record+reverse <= {TARGET_RATIO}x plain Python ({label})",
                        case, f"{series.ratio:.3f}x", series.ratio <= TARGET_RATIO))
        out.append((f"reverse sweep <= {TARGET_SWEEP_NS:g} ns/entry", case,
                    f"{r.stats.sweep_ns:.3f} ns", r.stats.sweep_ns <= TARGET_SWEEP_NS))
        out.append((f"tape <= {TARGET_BYTES:g} bytes/entry (+{ADJOINT_BYTES} adjoint)", case,
                    f"{r.stats.bytes_per_entry:.2f} B (+{ADJOINT_BYTES})",
                    r.stats.bytes_per_entry <= TARGET_BYTES))
    return out


def render_diagnostics(rows):
    lines = ["| problem | size | input | page faults per call: baseline | fastad |",
             "|---|---|---|---:|---:|"]
    for r in rows:
        base, fast = ("n/a" if f is None else f"{f:,.0f}" for f in r.faults)
        lines.append(f"| {r.problem} | {r.size} | {r.note} | {base} | {fast} |")
    return lines


def target_table(targets, measured_header="measured"):
    """Markdown rows for (target, case, measured, met) tuples."""
    lines = [f"| target | case | {measured_header} | |", "|---|---|---:|---|"]
    lines += [f"| {target} | {case} | {measured} | {'met' if met else '**MISSED**'} |"
              for target, case, measured, met in targets]
    return lines


def render_targets(rows):
    return target_table(evaluate_targets(rows), "measured (median)")


def render_report(settings, info, checks, rows, seconds, dispatch, jacrev_rows, replay,
                  second, complex_rows, peer_lines):
    kind = "quick smoke run (`--quick`): small sizes, few repeats" if settings.quick \
        else "full run"
    lines = ["# fastad benchmark results", "",
             f"Written by `python benchmarks/run.py{' --quick' if settings.quick else ''}` "
             f"({kind}, {seconds:.0f} s). Do not edit by hand.", "",
             "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in info]
    lines += ["", "## Method", "", METHOD,
              "## Correctness", "",
              "Checked in the same run, before timing:", ""]
    lines += render_checks(checks)
    lines += ["", "## Results", ""]
    lines += render_rows(rows)
    lines += ["", "Entries on tape include the input entries: Rosenbrock records 8 "
              "entries per term, the Lotka-Volterra loss 64 per step (RK4 stages, "
              "update, misfit, sum).", "",
              "## Diagnostics", "",
              "Minor page faults per call (`getrusage`), counted outside the timed "
              "samples: each is a page the kernel maps and zero-fills because the call "
              "touched fresh memory, a cost plain Python does not pay. They are part "
              "of the fastad times above.", ""]
    lines += render_diagnostics(rows)
    lines += ["", "## Replay (`fastad.trace`)", "",
              "`F = fastad.trace(f, x0)` once, then `F.value_and_grad(x)` at a nearby "
              "point, checked equal (bit for bit) to re-recording there. Ratios are "
              "paired medians as above: re-recording is `fastad.value_and_grad(f)(x)`; "
              "the C analytic gradient is the Rosenbrock gradient written by hand, "
              "compiled with `cc -O2` and called through ctypes; CasADi is its SX "
              "gradient `Function` called with a NumPy array (its build time, from the "
              "same scalar Python code, is listed separately).", ""]
    lines += render_replay(*replay)
    lines += ["", "## Second order and forward mode", "",
              "Hessian-vector products by one tangent sweep and one forward-over-reverse "
              "sweep over the replayed tape, against the gradient on the same tape "
              "(paired); the forward Jacobian with 32 tangent lanes per sweep against "
              "one sweep per input; and Hessians and Jacobians of scalar Python code "
              "against JAX (`jax.jit`, steady state, compile time apart) and CasADi "
              "(SX `Function`, build time apart), best of 5, where installed.", ""]
    lines += render_second_order(*second)
    lines += ["## Jacobians by reverse mode", "",
              "`fastad.jacrev` of the RK4 Lotka-Volterra integration (1,000 steps, "
              "4 parameters) whose final state is mixed into m outputs, against "
              "`fastad.grad` of the sum of the same outputs: one recording in both, "
              "then m sweeps or one. The last column predicts the ratio from the "
              "sweep time measured alone: (record + m sweeps) / (record + 1 sweep).", ""]
    lines += render_jacrev(jacrev_rows)
    lines += ["", "## Complex numbers", "",
              "The same Python code on complex numbers and on reals (the real twin "
              "of the least-squares loss uses the real parts of A and b). Paired "
              "medians as above, gc off: a complex operation is recorded as real "
              "entries (a product as four products and two sums), so the complex "
              "gradient costs about as much more as it has entries; the quadratic "
              "map also pays for `abs(.)**2` at the end only. The gradient is "
              "checked against finite differences along both axes (quadratic map) "
              "and the closed form 2 A^H (A z - b) (least squares).", ""]
    lines += render_complex(complex_rows)
    lines += ["", "## NumPy dispatch", "",
              "Cost of single operations by operand kind (best of 5 repeats, "
              "gc off). A NumPy scalar on the left returns NotImplemented at once "
              "because of `Var.__array_priority__`, and Python then calls the "
              "Var's reflected method; on Python 3.11 NumPy's check raises and "
              "clears an AttributeError internally, which is most of its cost. "
              "`__array_ufunc__ = None` defers faster but makes `np.sin(v)` raise, "
              "which the API forbids; an `__array_ufunc__` method sends every "
              "`np.float64 * Var` through the ufunc machinery.", ""]
    lines += render_dispatch(*dispatch)
    lines += ["", "## Targets", "",
              "Judged on Rosenbrock n=10^4 (list input) and the Lotka-Volterra RK4 "
              "problem, on the median figures above.", ""]
    lines += render_targets(rows)
    lines += [""] + peer_lines
    return "\n".join(lines) + "\n"


# ==== peers ========================================================================
# autograd, PyTorch, JAX, CasADi, a micrograd-style tape and C on the same
# scalar code: benchmarks/peers.py (optional packages: pip install ".[bench]").

def measure_peers(quick, plot_folder):
    import peers
    return peers.run_peers(quick, Path(plot_folder))


# ==== main =========================================================================

def run_checks(settings, loss):
    checks = []
    for n in settings.rosenbrock_sizes:
        checks += check_rosenbrock(n)
    checks += check_lotka_volterra(loss)
    for c in checks:
        print(f"  {c.name:<28} max abs err {c.max_abs:.2e}  max rel err {c.max_rel:.2e}  "
              f"(tol {c.tolerance:.0e}, vs {c.reference})  {'ok' if c.ok else 'FAILED'}")
    return checks


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fast smoke run: n <= 10^4, few repeats; prints the "
                             "report instead of writing RESULTS.md unless --output is given")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"where to write the report (default {DEFAULT_OUTPUT} for "
                             f"a full run)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    started = time.perf_counter()
    print(f"fastad {fastad.__version__} from {Path(fastad.__file__).parent}")
    info = machine_info()

    loss = lotka_volterra_problem()
    print("Gradient checks:")
    checks = run_checks(settings, loss)
    if not all(c.ok for c in checks):
        print("A gradient check FAILED: no timings taken.", file=sys.stderr)
        return 1

    print("Timings (gc off unless noted):")
    rows = []
    for n in settings.rosenbrock_sizes:
        rows += in_fresh_process(measure_rosenbrock, n, settings)
    rows += in_fresh_process(measure_lotka_volterra, settings)
    replay = in_fresh_process(measure_replay, settings)
    replay_rows, tiny, (one, two, speedup) = replay
    for r in replay_rows:
        print(f"  replay {r.problem:<22} {r.replay_seconds / r.entries * 1e9:.2f} ns/entry, "
              f"{1 / r.versus_recording.ratio:.1f}x faster than re-recording"
              + ("" if r.versus_c is None else f", {r.versus_c.ratio:.2f}x the C gradient")
              + ("" if r.versus_casadi is None
                 else f", {1 / r.versus_casadi.ratio:.2f}x faster than CasADi"))
    print(f"  replay per-call cost (2 inputs): {tiny * 1e6:.2f} us; batch 2 threads vs 1: "
          f"{speedup:.2f}x")
    second = in_fresh_process(measure_second_order, settings)
    for problem, series in second[0]:
        print(f"  hvp / value_and_grad, {problem}: {series.ratio:.2f}x")
    print(f"  forward Jacobian 100x100: vector mode {1 / second[1].ratio:.1f}x faster than "
          f"100 single sweeps")
    for kind, entries in second[2].items():
        print(f"  {kind}: " + "; ".join(
            f"{p.name} {'missing' if p.seconds is None else format_time(p.seconds)}"
            + ("" if p.build is None else f" (+{p.build:.2f} s build)") for p in entries))
    jacrev_rows = in_fresh_process(measure_jacrev, settings)
    for m, entries, series, sweep in jacrev_rows:
        print(f"  jacrev, m={m:<4} outputs: {series.ratio:.2f}x grad of the sum "
              f"(record + 1 sweep); sweep alone {sweep * 1e6:.0f} us")
    complex_rows = in_fresh_process(measure_complex, settings)
    for r in complex_rows:
        print(f"  complex {r.problem:<28} complex grad / real grad {r.gradient.ratio:.2f}x "
              f"(entries {r.entries_complex / r.entries_real:.2f}x), "
              f"/ plain complex {r.versus_plain.ratio:.2f}x, replay {r.replay.ratio:.2f}x")
    dispatch = in_fresh_process(measure_dispatch, settings)
    # A quick run leaves the committed plots alone.
    plot_folder = HERE if output is not None and output.resolve().parent == HERE \
        else Path(tempfile.mkdtemp(prefix="fastad-plots-"))
    print("Peers (same scalar code; pip install '.[bench]' for the optional ones):")
    peer_lines, peer_targets = in_fresh_process(measure_peers, settings.quick, str(plot_folder))
    print(f"  plots written to {plot_folder}")
    plain, ops, routes = dispatch
    print(f"NumPy dispatch (ns per operation; float * float {plain:.0f}):")
    for label, ns in ops:
        print(f"  {label:<40} {ns:6.0f}")
    for _, doc, ns in routes:
        print(f"  route: {doc:<70} {ns:6.0f}")

    report = render_report(settings, info, checks, rows, time.perf_counter() - started,
                           dispatch, jacrev_rows, replay, second, complex_rows, peer_lines)
    print("Targets:")
    for target, case, measured, met in (evaluate_targets(rows) + replay_targets(*replay)
                                        + second_order_targets(*second) + peer_targets):
        print(f"  {target:<48} {case:<26} {measured:>14}  {'met' if met else 'MISSED'}")
    if output is None:
        print()
        print(report)
    else:
        output.write_text(report)
        print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
