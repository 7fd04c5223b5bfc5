"""What only the benchmarks need on top of fastad._timing.

Imported first by every benchmark entry point (run.py, peers.py): it limits
the BLAS thread pools before NumPy is imported and puts this checkout first
on sys.path, so that the fastad measured is the in-place build of this
repository, not some installed one. The paired-ratio method itself is in
fastad/_timing.py, shared with ``python -m fastad``.
"""

import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# NumPy's and SciPy's OpenBLAS each start a thread pool at import whose
# threads can spin on this 2-core machine; the scalar-loop sections use no
# BLAS, and the whole-array section compares one thread with one thread
# (checked with threadpoolctl there: thread_counts below).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# JAX (imported later, by the sections that use it): CPU only, and XLA's CPU
# backend on one thread (its Eigen pool off; intra-op parallelism 1).
JAX_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", JAX_XLA_FLAGS)

import numpy as np  # noqa: E402  (after the thread settings)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Benchmark this checkout's in-place build, not some installed fastad.
if sys.path[0] != str(REPO):
    sys.path.insert(0, str(REPO))
import fastad  # noqa: E402
from fastad._timing import calls_per_sample, gc_state, seconds_per_call  # noqa: E402

import machine  # noqa: E402

try:  # Page-fault counts, a diagnostic; not available on Windows.
    import resource
except ImportError:
    resource = None


# ==== run settings ===================================================================

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


# ==== processes ======================================================================

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


# ==== tapes ==========================================================================

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


# ==== threads =======================================================================

def thread_counts():
    """{thread pool: threads} of the libraries loaded in this process: the
    BLAS and OpenMP pools threadpoolctl sees, PyTorch's intra-op threads
    when torch is loaded, and whether XLA_FLAGS asks for one thread when JAX
    is. {"threadpoolctl": "missing"} when threadpoolctl is not installed."""
    out = {}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        out["threadpoolctl"] = "missing"
    else:
        for pool in threadpool_info():
            name = pool.get("internal_api", "?")
            out[name] = max(out.get(name, 0), pool.get("num_threads", 0))
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if "jax" in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        out["XLA"] = 1 if "xla_cpu_multi_thread_eigen=false" in flags else "default"
    return out


# ==== the machine ===================================================================

def machine_info():
    info = dict(machine.platform_info())
    return [
        ("date", machine.now()),
        ("fastad", f"{fastad.__version__}, git {machine.git_revision(REPO)}"),
        ("python", info["python"]),
        ("numpy", np.__version__),
        ("cython", machine.package_version("Cython")),
        ("scipy", machine.package_version("scipy")),
        ("platform", info["platform"]),
        ("cpu", info["cpu"]),
        ("load average at start", machine.load_average()),
    ]
