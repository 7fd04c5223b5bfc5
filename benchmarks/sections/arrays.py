"""Whole-array NumPy code: value + gradient against the NumPy function itself.

The workloads (benchmarks/array_problems.py) are NumPy functions of a real
array or a dict of arrays; fastad differentiates them unchanged (the
argument arrives as a fastad.Array and every whole-array operation is
recorded in a compiled loop, one tape entry per element-operation). For
each workload and method the figure is the time of one value + gradient
over the time of the NumPy function f on floats at the same point, as
paired ratios (fastad._timing.paired_series: each sample of the method
bracketed by samples of f, median of the per-pair ratios), with the
garbage collector off. Each (workload, method) is measured in its own fresh
process; BLAS, OpenMP, PyTorch and XLA run on one thread
(harness.thread_counts checks what was loaded). One-off costs (fastad.trace,
jax.jit's compile, CasADi's build) are measured apart. Every method's value
and gradient are compared with fastad's before timing (fastad's own with
central differences along random directions): a wrong one is reported and
not timed.

Methods
    fastad record+grad   fastad.value_and_grad(f)(x)
    fastad replay        F = fastad.trace(f, x0) once (x0 a nearby point), then
                         F.value_and_grad(x)
    autograd             autograd.value_and_grad(f written with autograd.numpy)
    PyTorch eager        leaf tensors from the arrays (torch.from_numpy, no copy)
                         with requires_grad, loss.backward()
    JAX eager            jax.value_and_grad(f written with jax.numpy), no jit,
                         inputs as jax arrays made once
    JAX jit              jax.jit(jax.value_and_grad(f)), steady state; the first
                         call (trace + compile) apart
    CasADi MX            a casadi.Function of MX symbols returning f and its
                         gradients, evaluated on the arrays; its build apart

Also: the tape a recording makes (entries, bytes), the fixed cost of one
whole-array operation while recording, the cost of a call with an ndarray
argument against a list, and scalar-loop code indexing an ndarray argument.
"""

import math
import time
import timeit
from dataclasses import dataclass, field

import numpy as np

from harness import thread_counts  # first: thread settings, this checkout's fastad
import fastad
from fastad._problems import rosenbrock as scalar_rosenbrock, rosenbrock_point
from fastad._timing import Series, format_time, gc_state, paired_series
import array_problems as ap

METHODS = ("fastad record+grad", "fastad replay", "autograd", "PyTorch eager", "JAX eager",
           "JAX jit", "CasADi MX")

# Value and gradient must match fastad's to this, relative to the largest
# gradient component (peers sum in other orders); fastad's must match
# central differences to FD_TOLERANCE relative to |grad| |direction|.
PEER_TOLERANCE = 1e-8
FD_TOLERANCE = 1e-6
FD_DIRECTIONS = 3


def pairs(workload, quick):
    """Pairs per series: fewer for the slow n = 10^6 (its samples are long)."""
    if quick:
        return 3
    return 7 if workload.n >= 10**6 else 21


# ==== results ======================================================================

@dataclass
class MethodResult:
    workload: str          # workload key
    method: str
    status: str = "ok"     # ok, missing, failed, wrong gradient
    reason: str = ""
    series: Series | None = None   # method (candidate) against NumPy f (baseline)
    setup_seconds: float | None = None
    setup_label: str = ""
    value_error: float = math.nan  # |value - fastad's| / max(|fastad's|, 1)
    grad_error: float = math.nan   # max |g - fastad's| / max |fastad's|
    threads: dict = field(default_factory=dict)

    @property
    def ratio(self):
        return self.series.ratio if self.series is not None else math.nan


@dataclass
class TapeRow:
    workload: str
    inputs: int
    entries: int
    nbytes: int

    @property
    def operations(self):
        """Element-operations: the entries that are not inputs."""
        return self.entries - self.inputs

    @property
    def bytes_per_entry(self):
        return self.nbytes / self.entries

    @property
    def bytes_per_operation(self):
        """Every byte of the tape (the inputs' entries too) per element-operation."""
        return self.nbytes / max(self.operations, 1)


@dataclass
class FixedCost:
    label: str
    route: str           # "operator", "fastad function", "NumPy protocol", "method", "plain NumPy"
    seconds: float       # best sample, seconds per operation on 10-element Arrays


@dataclass
class CallRow:
    label: str
    baseline: str        # what the ratio divides by
    series: Series


@dataclass
class ArrayResults:
    methods: list        # MethodResult, in workload then METHODS order
    tapes: list          # TapeRow
    fixed: list          # FixedCost
    calls: list          # CallRow
    quick: bool


# ==== the methods ==================================================================

class Missing(Exception):
    pass


def _import(name):
    try:
        return __import__(name)
    except ImportError:
        raise Missing(f"{name} is not installed") from None


def prepare(method, workload, f, x):
    """(call, to_value_and_flat_grad(result), setup seconds or None, setup label)."""
    if method == "fastad record+grad":
        vg = fastad.value_and_grad(f)
        return (lambda: vg(x)), _plain_result, None, ""
    if method == "fastad replay":
        start = time.perf_counter()
        F = fastad.trace(f, ap.point(workload, seed=1))
        setup = time.perf_counter() - start
        return (lambda: F.value_and_grad(x)), _plain_result, setup, "trace"
    if method == "autograd":
        autograd = _import("autograd")
        vg = autograd.value_and_grad(ap.autograd_f(workload))
        return (lambda: vg(x)), _plain_result, None, ""
    if method == "PyTorch eager":
        torch = _import("torch")
        torch.set_num_threads(1)
        tf = ap.torch_f(workload)
        if isinstance(x, dict):
            def call():
                p = {k: torch.from_numpy(v).requires_grad_() for k, v in x.items()}
                loss = tf(p)
                loss.backward()
                return loss.detach(), {k: t.grad for k, t in p.items()}
        else:
            def call():
                t = torch.from_numpy(x).requires_grad_()
                loss = tf(t)
                loss.backward()
                return loss.detach(), t.grad
        return call, _torch_result, None, ""
    if method in ("JAX eager", "JAX jit"):
        jax = _import("jax")
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        px = ({k: jnp.asarray(v) for k, v in x.items()} if isinstance(x, dict)
              else jnp.asarray(x))
        vg = jax.value_and_grad(ap.jax_f(workload))
        if method == "JAX eager":
            return (lambda: jax.block_until_ready(vg(px))), _plain_result, None, ""
        jitted = jax.jit(vg)
        start = time.perf_counter()
        jax.block_until_ready(jitted(px))
        setup = time.perf_counter() - start
        return (lambda: jax.block_until_ready(jitted(px))), _plain_result, setup, "compile"
    if method == "CasADi MX":
        _import("casadi")
        start = time.perf_counter()
        _, call_on = ap.casadi_function(workload)
        setup = time.perf_counter() - start
        return (lambda: call_on(x)), _casadi_result, setup, "build"
    raise ValueError(method)


def _plain_result(result):
    value, grad = result
    if isinstance(grad, dict):
        grad = {k: np.asarray(v) for k, v in grad.items()}
    return float(value), ap.flatten(grad)


def _torch_result(result):
    value, grad = result
    grad = ({k: v.numpy() for k, v in grad.items()} if isinstance(grad, dict)
            else grad.numpy())
    return float(value), ap.flatten(grad)


def _casadi_result(outputs):
    return float(outputs[0]), np.concatenate([np.asarray(o, dtype=np.float64).ravel()
                                              for o in outputs[1:]])


def finite_difference_error(f, x, grad, seed=5):
    """Largest |g.d - central difference along d| / (|g| |d|) over random
    directions d (a full finite-difference gradient is n evaluations)."""
    rng = np.random.default_rng(seed)
    flat = ap.flatten(x)
    worst = 0.0
    for _ in range(FD_DIRECTIONS):
        d = rng.standard_normal(flat.size)
        d /= np.linalg.norm(d)
        h = 1e-5 * max(1.0, float(np.max(np.abs(flat))))
        up = f(ap.unflatten(flat + h * d, x))
        down = f(ap.unflatten(flat - h * d, x))
        fd = (up - down) / (2 * h)
        worst = max(worst, abs(fd - float(grad @ d)) / max(float(np.linalg.norm(grad)), 1e-300))
    return worst


def measure_method(key, method, quick):
    """One (workload, method) in this (fresh) process: a MethodResult."""
    workload = ap.find(key, quick)
    f = ap.numpy_f(workload)
    x = ap.point(workload)
    out = MethodResult(key, method)
    try:
        call, convert, out.setup_seconds, out.setup_label = prepare(method, workload, f, x)
        value, grad = convert(call())
    except Missing as why:
        out.status, out.reason = "missing", str(why)
        return out
    except Exception as error:  # a peer's failure is reported, never fatal
        out.status, out.reason = "failed", f"{type(error).__name__}: {error}"[:200]
        return out
    ref_value, ref_grad = _plain_result(fastad.value_and_grad(f)(x))
    if method == "fastad record+grad":
        out.grad_error = finite_difference_error(f, x, grad)
        out.value_error = abs(value - f(x)) / max(abs(f(x)), 1.0)
        tolerance = FD_TOLERANCE
        reference = "central differences / NumPy f"
    else:
        out.value_error = abs(value - ref_value) / max(abs(ref_value), 1.0)
        out.grad_error = (float(np.max(np.abs(grad - ref_grad)))
                          / max(float(np.max(np.abs(ref_grad))), 1e-300)
                          if grad.shape == ref_grad.shape else math.inf)
        tolerance = PEER_TOLERANCE
        reference = "fastad"
    if not (out.grad_error <= tolerance and out.value_error <= PEER_TOLERANCE):
        out.status = "wrong gradient"
        out.reason = (f"against {reference}: value error {out.value_error:.1e}, gradient "
                      f"error {out.grad_error:.1e} (tolerance {tolerance:.0e})")
        return out
    out.series = paired_series(lambda: f(x), call, pairs(workload, quick))
    out.threads = thread_counts()
    return out


# ==== the tape of a recording ======================================================

def measure_tapes(quick):
    """Entries and bytes of one recording of each workload."""
    rows = []
    for workload in ap.workloads(quick):
        f = ap.numpy_f(workload)
        x0 = ap.point(workload)
        with fastad.Tape() as tape:
            if isinstance(x0, dict):
                x = {k: tape.var(v) for k, v in x0.items()}
            else:
                x = tape.var(x0)
            f(x)
        inputs = sum(v.size for v in x0.values()) if isinstance(x0, dict) else x0.size
        rows.append(TapeRow(workload.key, inputs, tape.n_entries, tape.nbytes))
        del tape, x
    return rows


# ==== fixed costs ==================================================================

FIXED_STATEMENTS = [
    ("a + b", "operator"),
    ("a * b", "operator"),
    ("a + 2.0", "operator"),
    ("a * 2.0", "operator"),
    ("a ** 2", "operator"),
    ("-a", "operator"),
    ("fastad.sin(a)", "fastad function"),
    ("fastad.exp(a)", "fastad function"),
    ("np.sin(a)", "NumPy protocol"),
    ("np.add(a, b)", "NumPy protocol"),
    ("np.sum(a)", "NumPy protocol"),
    ("np.mean(a)", "NumPy protocol"),
    ("a.sum()", "method"),
]
PLAIN_STATEMENTS = ["a + b", "np.sin(a)", "np.sum(a)"]
FIXED_SAMPLES = 31


def measure_fixed_costs(quick):
    """Seconds per whole-array operation on 10-element Arrays while recording
    (best of FIXED_SAMPLES short samples, gc off; a fresh tape per
    statement), and plain NumPy on 10-element float arrays for scale. Many
    short samples: on a shared machine the best of them is the least
    disturbed."""
    number, samples = (500, 7) if quick else (1_000, FIXED_SAMPLES)
    out = []
    with gc_state(False):
        for stmt, route in FIXED_STATEMENTS:
            with fastad.Tape() as tape:
                namespace = {"a": tape.var(np.linspace(0.5, 1.5, 10)),
                             "b": tape.var(np.linspace(1.5, 2.5, 10)),
                             "np": np, "fastad": fastad}
                best = min(timeit.repeat(stmt, globals=namespace, number=number,
                                         repeat=samples))
            out.append(FixedCost(stmt, route, best / number))
            del tape, namespace
        for stmt in PLAIN_STATEMENTS:
            namespace = {"a": np.linspace(0.5, 1.5, 10), "b": np.linspace(1.5, 2.5, 10),
                         "np": np}
            best = min(timeit.repeat(stmt, globals=namespace, number=number,
                                         repeat=samples))
            out.append(FixedCost(f"{stmt} (float arrays)", "plain NumPy", best / number))
    return out


# ==== calls with an ndarray argument =============================================

def product(x):
    return x[0] * x[1]


def measure_call(kind, quick):
    """One CallRow (run in its own process): kind is "tiny", "loop10" or "loop10^4"."""
    repeats = 5 if quick else 31
    if kind == "tiny":
        g = fastad.grad(product)
        as_list, as_array = [1.5, 2.5], np.array([1.5, 2.5])
        return [CallRow("grad(lambda x: x[0]*x[1]), ndarray argument",
                        "same call on a list", paired_series(lambda: g(as_list),
                                                             lambda: g(as_array), repeats))]
    n = 10 if kind == "loop10" else 10**4
    size = "n=10" if n == 10 else "n=10^4"
    x = rosenbrock_point(n)
    g = fastad.grad(scalar_rosenbrock)
    plain = lambda: scalar_rosenbrock(x)  # noqa: E731
    as_array = np.array(x)
    if n > 10 and quick:
        repeats = 3
    elif n > 10:
        repeats = 15
    return [CallRow(f"scalar-loop Rosenbrock {size}, grad, ndarray argument",
                    "plain Python on a list", paired_series(plain, lambda: g(as_array),
                                                            repeats)),
            CallRow(f"scalar-loop Rosenbrock {size}, grad, list argument",
                    "plain Python on a list", paired_series(plain, lambda: g(x), repeats))]


CALL_KINDS = ("tiny", "loop10", "loop10^4")


# ==== the section ==================================================================

def run(quick, in_fresh_process):
    """Every measurement of the section, each in a fresh process
    (in_fresh_process(task, *args)); prints as it goes."""
    results = []
    for workload in ap.workloads(quick):
        print(f"  arrays: {workload.family} {workload.size}", flush=True)
        for method in METHODS:
            r = in_fresh_process(measure_method, workload.key, method, quick)
            results.append(r)
            print("    " + describe(r), flush=True)
    tapes = in_fresh_process(measure_tapes, quick)
    for t in tapes:
        print(f"  tape {t.workload:<18} {t.entries:>10,} entries ({t.inputs:,} inputs)  "
              f"{t.bytes_per_entry:.2f} B/entry  {t.bytes_per_operation:.2f} B/element-op",
              flush=True)
    fixed = in_fresh_process(measure_fixed_costs, quick)
    for c in fixed:
        print(f"  one operation, 10 elements: {c.label:<28} {c.route:<16} "
              f"{c.seconds * 1e9:7.0f} ns", flush=True)
    calls = []
    for kind in CALL_KINDS:
        for row in in_fresh_process(measure_call, kind, quick):
            calls.append(row)
            print(f"  {row.label:<55} {row.series.ratio:5.2f}x {row.baseline}", flush=True)
    return ArrayResults(results, tapes, fixed, calls, quick)


def describe(r):
    if r.status != "ok":
        return f"{r.method:<20} {r.status}: {r.reason}"
    lo, hi = r.series.ratio_quartiles
    setup = "" if r.setup_seconds is None else f"  (+{r.setup_seconds:.3g} s {r.setup_label})"
    return (f"{r.method:<20} {format_time(r.series.candidate_time):>10}  "
            f"{r.series.ratio:8.2f}x NumPy f [{lo:.2f}, {hi:.2f}] "
            f"(f {format_time(r.series.baseline_time)})  grad err {r.grad_error:.1e}{setup}")


def thread_summary(results):
    """Every thread pool seen across the method processes, with the largest
    thread count each had."""
    seen = {}
    for r in results.methods:
        for name, count in r.threads.items():
            if isinstance(count, int):
                seen[name] = max(seen.get(name, 0), count)
            else:
                seen.setdefault(name, count)
    return seen
