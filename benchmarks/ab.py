"""A/B timing of two fastad source trees, side by side in one run.

    python benchmarks/ab.py --old ../baseline --new . [--quick] [--output FILE]
    python benchmarks/ab.py --old ../baseline --new . --callgrind [--output FILE]
    python benchmarks/ab.py --list

Each tree needs its own in-place build (``python setup.py build_ext
--inplace`` in it). The rule it checks: no workload may get slower by more
than --threshold (5%) from old to new.

Why side by side
    The machines fastad is developed on are shared, and their speed drifts
    by up to 2x within seconds: two runs at different times cannot be
    compared. So the two builds run at the same time, in two worker
    processes, one per tree, pinned to the same CPU (--cpu) so that neither
    gets the faster core. Each worker puts its tree first on sys.path,
    imports fastad from there and reports the path of the compiled core it
    loaded (checked to lie inside that tree). The driver then times each
    workload in strict alternation, old, new, old, new, ..., ending with
    old, one sample at a time (the other worker waits on its pipe
    meanwhile). Each sample runs the same number of calls in both workers,
    enough for at least --min-sample-ms, with the garbage collector off.
    The samples are taken by fastad._timing.bracketed, as in the
    benchmarks, but each new sample is compared with the old sample just
    before it and with the one just after it, singly
    (Series.neighbour_ratios: the mean of two old samples would lean
    towards "new is faster" on a busy machine), and the report gives the
    median of those per-pair ratios with their quartiles and a 95%
    confidence interval of the median.

    The workloads run in --rounds passes over the list, each pass with a
    fresh pair of workers, and the pairs of all rounds are pooled: a
    process's memory layout can change the speed of a memory-bound loop by
    several percent for that process's whole life (the RK4 reverse sweep
    is the clearest case), which pairing cannot cancel but fresh processes
    average out. Workloads over the threshold, or whose interval reaches
    it, get up to --confirm more rounds.

    Both workers run the same workload code: this file, benchmarks/problems.py
    and this checkout's fastad/_problems.py and fastad/_timing.py, loaded
    into each worker, so that only fastad itself differs (the compiled core
    and the package's Python modules). Each workload's first result is
    compared between the trees (all its numbers, bit for bit).

--callgrind
    Instead of timing, runs each tree's worker once under valgrind's
    callgrind and counts the instructions of CALLGRIND_CALLS calls of each
    workload, after one warm-up call (a callgrind dump is taken on each
    side of the measured calls: ``--dump-before=getppid``, and the worker
    calls os.getppid()). Instruction counts do not depend on the machine's
    load and repeat exactly from run to run, but they do not see cache
    misses or branch mispredictions: a complement to the timings, not a
    replacement.

Workloads cover the record path (value_and_grad of Python loops), the
reverse sweep alone (Tape._sweep), replay (Function: value_and_grad, the
forward sweep, batches, grad_function), forward and second order (tangent
lanes, hvp), jacrev, the fixed cost of a tiny call, NumPy dispatch and
complex gradients. They use only the public API and Tape._sweep, which
every tree has. ``--list`` prints them; ``--only TEXT`` selects some.

Exit status: 0, or 1 when a workload is over the threshold (or failed in
one tree).
"""

import argparse
import functools
import gc
import hashlib
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Set before NumPy is imported, here and (inherited) in the workers: the
# BLAS thread pools would compete for the cores; nothing timed uses BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import machine  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
THRESHOLD = 0.05
CALLGRIND_CALLS = 2


def load_checkout_module(name):
    """fastad/<name>.py of this checkout, as module fastad.<name>, without
    running fastad/__init__.py: it can then sit beside another tree's fastad."""
    qualified = f"fastad.{name}"
    spec = importlib.util.spec_from_file_location(qualified, REPO / "fastad" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module  # before running it: dataclasses look it up
    spec.loader.exec_module(module)
    if "fastad" in sys.modules:  # a worker: beside that tree's fastad
        setattr(sys.modules["fastad"], name, module)
    return module


# ==== the workloads ==================================================================
# Each builder runs in a worker: it gets that worker's fastad, prepares the
# workload (recording, tracing, data) and returns a zero-argument call, the
# thing timed. The problems are those of the benchmark suite.

@dataclass(frozen=True)
class Workload:
    table: str    # the part of fastad it stands for
    name: str
    build: object  # build(fastad) -> call


WORKLOADS = []


def workload(table, name, build, **params):
    WORKLOADS.append(Workload(table, name, functools.partial(build, **params)))


def _point(n):
    from fastad._problems import rosenbrock_point
    return rosenbrock_point(n)


def _problem(name):
    """(f, x as a list) for "rosenbrock-<n>" or "rk4"."""
    import fastad._problems as P
    if name == "rk4":
        return P.lotka_volterra_problem(), list(P.LV_PARAMS)
    return P.rosenbrock, _point(int(name.split("-")[1]))


def _near(x):
    """A point near x, where replays are evaluated (as in the suite)."""
    x = np.asarray(x)
    return x + 0.01 * np.random.default_rng(7).standard_normal(x.shape)


def record_gradient(fastad, problem, ndarray=False):
    f, x = _problem(problem)
    if ndarray:
        x = np.array(x)
    vg = fastad.value_and_grad(f)
    return lambda: vg(x)


def reverse_sweep(fastad, problem):
    f, x = _problem(problem)
    with fastad.Tape() as tape:
        xs = tape.var(np.array(x))
        y = f(list(xs))
    return lambda: tape._sweep(y)


def replay(fastad, problem, method):
    f, x = _problem(problem)
    F = fastad.trace(f, np.asarray(x))
    point = _near(x)
    if method == "value_and_grad":
        return lambda: F.value_and_grad(point)
    if method == "call":
        return lambda: F(point)
    v = np.random.default_rng(1).standard_normal(point.shape)
    return lambda: F.hvp(point, v)


def replay_tiny(fastad):
    F = fastad.trace(lambda v: v[0] * v[1] + v[0], np.array([1.0, 2.0]))
    point = np.array([1.5, 2.5])
    return lambda: F.value_and_grad(point)


def replay_batch(fastad, n, points):
    f, x = _problem(f"rosenbrock-{n}")
    F = fastad.trace(f, np.asarray(x))
    X = np.asarray(x) + 0.01 * np.random.default_rng(3).standard_normal((points, n))
    return lambda: F.value_and_grad_batch(X, threads=1)


def replay_grad_function(fastad, n):
    f, x = _problem(f"rosenbrock-{n}")
    G = fastad.trace(f, np.asarray(x)).grad_function()
    point = _near(x)
    return lambda: G(point)


def forward_jacobian(fastad):
    from problems import pde_residual
    point = np.linspace(-1.0, 1.0, 100)
    F = fastad.trace(lambda u: pde_residual(u, fastad), point)
    return lambda: F.jacobian(point, mode="forward")


def jacrev(fastad, outputs):
    from fastad._problems import LV_PARAMS
    from problems import make_multi_output
    f, x = make_multi_output(outputs), np.array(LV_PARAMS)
    jac = fastad.jacrev(f)
    return lambda: jac(x)


def tiny_grad(fastad):
    g = fastad.grad(lambda a, b: a * b + a, argnums=(0, 1))
    return lambda: g(1.5, 2.5)


DISPATCH_OPERATIONS = 1000


def dispatch(fastad, operation):
    """DISPATCH_OPERATIONS operations on a fresh tape per call."""
    w = np.float64(2.0)

    def call():
        with fastad.Tape() as tape:
            x, y = tape.var(1.5), tape.var(2.5)
            for _ in range(DISPATCH_OPERATIONS):
                r = operation(w, x, y)
        return r.value

    return call


def complex_gradient(fastad, problem, replayed=False):
    from problems import complex_least_squares_data, complex_least_squares_loops, \
        complex_recurrence
    if problem == "least squares":
        A, b, z = complex_least_squares_data()
        data = (A.tolist(), b.tolist())
        f, point = (lambda zs: complex_least_squares_loops(data + (zs,))), z.tolist()
    else:
        f, point = complex_recurrence, [0.3 + 0.2j, 0.1 - 0.3j]
    if replayed:
        F = fastad.trace(f, point)
        return lambda: F.grad(point)
    g = fastad.grad(f)
    return lambda: g(point)


for _n in (2, 3, 4):
    workload("record + gradient", f"value_and_grad, Rosenbrock n=10^{_n}, list",
             record_gradient, problem=f"rosenbrock-{10 ** _n}")
workload("record + gradient", "value_and_grad, Rosenbrock n=10^3, ndarray",
         record_gradient, problem="rosenbrock-1000", ndarray=True)
workload("record + gradient", "value_and_grad, RK4 Lotka-Volterra", record_gradient,
         problem="rk4")
for _n in (2, 3, 4):
    workload("reverse sweep", f"Tape._sweep, Rosenbrock n=10^{_n}", reverse_sweep,
             problem=f"rosenbrock-{10 ** _n}")
workload("reverse sweep", "Tape._sweep, RK4 Lotka-Volterra", reverse_sweep, problem="rk4")
workload("replay", "F.value_and_grad, Rosenbrock n=10^4", replay,
         problem="rosenbrock-10000", method="value_and_grad")
workload("replay", "F.value_and_grad, RK4 Lotka-Volterra", replay, problem="rk4",
         method="value_and_grad")
workload("replay", "F(x) (forward sweep), Rosenbrock n=10^4", replay,
         problem="rosenbrock-10000", method="call")
workload("replay", "F.value_and_grad, 2 inputs (per-call cost)", replay_tiny)
workload("replay", "F.value_and_grad_batch, threads=1, Rosenbrock n=10^3 x 64",
         replay_batch, n=1000, points=64)
workload("replay", "F.grad_function() replayed, Rosenbrock n=10^3", replay_grad_function,
         n=1000)
workload("second order", "F.hvp, Rosenbrock n=10^4", replay, problem="rosenbrock-10000",
         method="hvp")
workload("second order", "F.hvp, RK4 Lotka-Volterra", replay, problem="rk4", method="hvp")
workload("forward mode", "F.jacobian(mode='forward'), PDE residual 100x100",
         forward_jacobian)
workload("jacrev", "fastad.jacrev, RK4 Lotka-Volterra, 10 outputs", jacrev, outputs=10)
workload("fixed cost", "fastad.grad, 2 scalar inputs", tiny_grad)
workload("NumPy dispatch", f"Var * Var, {DISPATCH_OPERATIONS:,} on a tape", dispatch,
         operation=lambda w, x, y: x * y)
workload("NumPy dispatch", f"np.float64 * Var, {DISPATCH_OPERATIONS:,} on a tape",
         dispatch, operation=lambda w, x, y: w * x)
workload("NumPy dispatch", f"np.sin(Var), {DISPATCH_OPERATIONS:,} on a tape", dispatch,
         operation=lambda w, x, y: np.sin(x))
workload("complex", "fastad.grad, complex least squares 20x10 (loops)", complex_gradient,
         problem="least squares")
workload("complex", "fastad.grad, complex quadratic map, 1,000 steps", complex_gradient,
         problem="quadratic map")
workload("complex", "F.grad replayed, complex least squares 20x10", complex_gradient,
         problem="least squares", replayed=True)


def digest(value):
    """All the numbers in a workload's result (complex as two floats): their
    count, a hash of their bits, and the sum of their magnitudes."""
    numbers = []

    def walk(v):
        if isinstance(v, (list, tuple)):
            for item in v:
                walk(item)
        elif isinstance(v, np.ndarray):
            walk(v.ravel().tolist())
        elif isinstance(v, (int, float, complex, np.number)):
            numbers.append(complex(v))
        elif hasattr(v, "value"):
            walk(v.value)

    walk(value)
    array = np.asarray(numbers, dtype=np.complex128)
    return {"count": len(numbers),
            "sha256": hashlib.sha256(array.tobytes()).hexdigest()[:16],
            "magnitude": float(np.sum(np.abs(array)))}


def compare_digests(old, new):
    if old["sha256"] == new["sha256"] and old["count"] == new["count"]:
        return "same"
    if old["count"] != new["count"]:
        return f"**differ** ({old['count']} against {new['count']} numbers)"
    apart = abs(new["magnitude"] - old["magnitude"]) / max(abs(old["magnitude"]), 1e-300)
    return f"**differ** (sums of magnitudes {apart:.1e} apart)"


# ==== the worker =====================================================================

def import_tree(tree):
    """fastad from `tree` (first on sys.path), with this checkout's workload
    support loaded beside it; returns (fastad, timing)."""
    sys.path.insert(0, str(tree))
    import fastad
    timing = load_checkout_module("_timing")
    load_checkout_module("_problems")
    if str(HERE) not in sys.path:
        sys.path.insert(1, str(HERE))  # benchmarks/problems.py
    return fastad, timing


def hello(fastad):
    return {"core": fastad._core.__file__, "package": fastad.__file__,
            "version": fastad.__version__, "numpy": np.__version__}


def default_cpu():
    """The CPU both workers share: the last one this process may run on."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def serve(tree, cpu):
    """A worker: answers the driver's requests, one JSON line each."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the protocol
    sys.stdout = sys.stderr

    def send(**message):
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    try:
        fastad, timing = import_tree(tree)
    except Exception as error:  # reported to the driver, which stops
        send(error=f"{type(error).__name__}: {error}")
        return 1
    send(**hello(fastad))
    call = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "setup":
            call = None
            gc.enable()
            gc.collect()
            try:
                call = WORKLOADS[request["index"]].build(fastad)
                result = digest(call())
                inner = timing.calls_per_sample(call, request["min_seconds"])
            except Exception as error:
                call = None
                send(error=f"{type(error).__name__}: {error}"[:300])
                continue
            gc.collect()
            gc.disable()  # until the next setup: samples run with GC off
            send(inner=inner, digest=result)
        elif request["op"] == "sample":
            send(seconds=timing.seconds_per_call(call, request["calls"]))
        elif request["op"] == "quit":
            break
    return 0


def callgrind_worker(tree, indices, calls):
    """Run under callgrind: the calls of each workload between two dumps."""
    fastad, _ = import_tree(tree)
    print(json.dumps(hello(fastad)), flush=True)
    for index in indices:
        try:
            call = WORKLOADS[index].build(fastad)
            result = digest(call())
            call()
        except Exception as error:
            print(json.dumps({"index": index, "error": f"{type(error).__name__}: {error}"}),
                  flush=True)
            continue
        gc.collect()
        gc.disable()
        os.getppid()  # callgrind dumps here (--dump-before=getppid): the setup
        for _ in range(calls):
            call()
        os.getppid()  # and here: the measured calls
        gc.enable()
        print(json.dumps({"index": index, "digest": result}), flush=True)
    return 0


# ==== the driver =====================================================================

def worker_environment():
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"  # the same string hashing in both workers
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the trees compared as they are
    env.pop("PYTHONPATH", None)  # the tree alone decides which fastad is imported
    return env


class Worker:
    """A worker process running one tree's fastad, for one round."""

    def __init__(self, label, tree, cpu=None, quiet=False):
        self.label, self.tree = label, tree
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True,
                                        env=worker_environment())
        self.info = self.receive()
        check_hello(label, tree, self.info, quiet)

    def receive(self):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.label} worker ({self.tree}) exited")
        return json.loads(line)

    def request(self, **message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self.receive()

    def sample(self, calls):
        return self.request(op="sample", calls=calls)["seconds"]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)


def check_hello(label, tree, info, quiet=False):
    """The worker imported fastad's compiled core from its own tree."""
    if "error" in info:
        raise SystemExit(f"{label} ({tree}): cannot import fastad: {info['error']}")
    core = Path(info["core"]).resolve()
    if tree.resolve() not in core.parents:
        raise SystemExit(f"{label}: fastad's core came from {core}, not from {tree}")
    if not quiet:
        print(f"{label}: fastad {info['version']}, core {core}", file=sys.stderr)


@dataclass
class Outcome:
    workload: Workload
    series: object = None           # fastad._timing.Series, pooled over rounds
    instructions: tuple = None      # (old, new) per call, --callgrind
    interval: tuple = None          # 95% confidence interval of the median ratio
    results: str = ""               # old and new results compared
    error: str = ""
    rounds: int = 0


def time_workloads(trees, selected, rounds, pairs, min_seconds, timing, cpu, confirm,
                   threshold):
    """Every selected workload, in each round with a fresh pair of workers
    (so that what one process's memory layout does to its speed is averaged
    over rounds too); then up to `confirm` more rounds for the workloads
    whose median is over the threshold or whose confidence interval
    reaches it. Returns the outcomes and the workers' hellos."""
    outcomes = {i: Outcome(WORKLOADS[i]) for i in selected}
    infos = {}
    todo = list(selected)
    for r in range(rounds + confirm):
        if r >= rounds:
            todo = [i for i in todo if doubtful(outcomes[i], threshold)]
            if not todo:
                break
        print(f"round {r + 1}" + (" (confirming)" if r >= rounds else f" of {rounds}"),
              file=sys.stderr)
        old, new = (Worker(label, tree, cpu, quiet=r > 0) for label, tree in trees)
        infos = {"old": old.info, "new": new.info}
        try:
            for i in todo:
                sample_workload(outcomes[i], i, old, new, pairs, min_seconds, timing)
                outcomes[i].rounds += 1
        finally:
            old.close()
            new.close()
    return [outcomes[i] for i in selected], infos


def doubtful(outcome, threshold):
    """Over the threshold, or not clearly under it: worth more pairs."""
    return (not outcome.error and outcome.series is not None
            and outcome.interval[1] > 1 + threshold)


def sample_workload(outcome, index, old, new, pairs, min_seconds, timing):
    """One round of one workload: set it up in both workers, then alternate."""
    if outcome.error:
        return
    setups = [w.request(op="setup", index=index, min_seconds=min_seconds) for w in (old, new)]
    failed = [f"{w.label}: {s['error']}" for w, s in zip((old, new), setups) if "error" in s]
    if failed:
        outcome.error = "; ".join(failed)
        print(f"  {outcome.workload.name:<62} failed: {outcome.error}", file=sys.stderr)
        return
    outcome.results = compare_digests(setups[0]["digest"], setups[1]["digest"])
    calls = max(s["inner"] for s in setups)
    series = timing.bracketed(lambda: old.sample(calls), lambda: new.sample(calls), pairs)
    # Pooled over rounds: the samples, and each new sample over each of its
    # old neighbours singly (Series.neighbour_ratios says why).
    if outcome.series is None:
        outcome.series = timing.Series()
    ratios = series.neighbour_ratios
    outcome.series.ratios += ratios
    outcome.series.baseline += series.baseline
    outcome.series.candidate += series.candidate
    outcome.interval = timing.median_interval(outcome.series.ratios,
                                              effective=len(outcome.series.candidate))
    print(f"  {outcome.workload.name:<62} {statistics.median(ratios):6.3f}",
          file=sys.stderr)


def callgrind_totals(out_file):
    """Instruction totals of callgrind's dumps out_file.1, .2, ..., in order."""
    dumps = sorted(out_file.parent.glob(out_file.name + ".*"),
                   key=lambda p: int(p.suffix[1:]))
    totals = []
    for dump in dumps:
        match = re.search(r"^(?:totals|summary):\s*(\d+)", dump.read_text(), re.M)
        totals.append(int(match.group(1)) if match else 0)
    return totals


def count_instructions(old_tree, new_tree, selected, calls):
    """Run both trees' callgrind workers (at once: the counts do not depend on
    load) and return the outcomes and the workers' hellos."""
    folder = Path(tempfile.mkdtemp(prefix="fastad-ab-callgrind-"))
    runs = {}
    for label, tree in (("old", old_tree), ("new", new_tree)):
        out_file = folder / f"{label}.out"
        command = ["valgrind", "--tool=callgrind", "--dump-before=getppid",
                   f"--callgrind-out-file={out_file}", sys.executable,
                   str(Path(__file__).resolve()), "--callgrind-worker", str(tree),
                   "--calls", str(calls), "--indices", ",".join(map(str, selected))]
        runs[label] = (out_file, subprocess.Popen(command, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True,
                                                  env=worker_environment()))
        print(f"{label}: callgrind running ({tree})", file=sys.stderr)
    per_tree, infos = {}, {}
    for label, (out_file, process) in runs.items():
        stdout, stderr = process.communicate()
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        if process.returncode != 0 or not lines:
            raise SystemExit(f"callgrind run of {label} failed:\n{stderr[-2000:]}")
        infos[label] = lines[0]
        tree = old_tree if label == "old" else new_tree
        check_hello(label, tree, infos[label])
        totals = callgrind_totals(out_file)
        measured = iter(totals[1::2])  # dumps alternate: setup, measured calls
        per_tree[label] = {}
        for entry in lines[1:]:
            if "error" in entry:
                per_tree[label][entry["index"]] = entry
            else:
                per_tree[label][entry["index"]] = dict(entry, instructions=next(measured) / calls)
    outcomes = []
    for i in selected:
        outcome = Outcome(WORKLOADS[i])
        old, new = per_tree["old"].get(i, {}), per_tree["new"].get(i, {})
        errors = [f"{label}: {e['error']}" for label, e in (("old", old), ("new", new))
                  if "error" in e]
        if errors or "instructions" not in old or "instructions" not in new:
            outcome.error = "; ".join(errors) or "no count"
        else:
            outcome.instructions = (old["instructions"], new["instructions"])
            outcome.results = compare_digests(old["digest"], new["digest"])
        outcomes.append(outcome)
    return outcomes, infos


# ==== the report =====================================================================

METHOD = """\
Two worker processes, one per tree, each with fastad imported from its own
tree (the core paths above), {cpu}. For each workload the driver takes one
sample at a time in strict alternation, old, new, old, new, ..., old: each
sample is the same number of calls in both workers, at least {min_ms:g} ms,
with the garbage collector off, while the other worker waits. Each new
sample is divided by the old sample just before it and by the old sample
just after it, and the table gives the **median of these per-pair ratios**
new / old with their quartiles, pooled over {rounds} round(s) of {pairs}
new samples ("pairs": new samples, each with two ratios); each round
goes through the whole list of workloads with a fresh pair of workers.
Workloads whose median is over the limit, or whose 95% confidence interval
of the median (from order statistics, counting each new sample once)
reaches above 1 + {threshold:g}, get up to {confirm} more rounds. The
verdict follows the median; "not sure" means the interval lies on both
sides of the limit. Single old samples, not the mean of the two: a burst
of other load hits a mean of two samples twice as often as the one new
sample, which on a busy machine makes the new build look faster than it
is; one sample against one keeps both sides alike, and the two neighbours
cancel a steady drift. The times are medians of the samples. A ratio above
1 is a slowdown. Both
workers run the same workload code (this checkout's benchmarks/problems.py
and fastad/_problems.py), so only fastad differs, and "results" compares
each workload's numbers between the trees, bit for bit. Within a round the
workloads run one after the other, in the same order in both workers."""

CALLGRIND_METHOD = """\
Each tree's worker ran once under `valgrind --tool=callgrind`, counting the
instructions of {calls} calls of each workload after a warm-up call (a
callgrind dump on each side of the measured calls), with the garbage
collector off. The table gives instructions per call and new / old.
Instruction counts repeat exactly and do not depend on the machine's load,
but they miss cache misses and branch mispredictions."""


def verdict(ratio, threshold, interval=None):
    """By the median ratio; the confidence interval, where there is one,
    says whether the median is clearly on its side of the limit."""
    limit = 1 + threshold
    if ratio > limit:
        sure = interval is None or interval[0] > limit
        return f"**SLOWER** (over the {threshold:.0%} limit{'' if sure else '; not sure'})"
    if interval is not None and interval[1] > limit:
        return f"within {threshold:.0%} (not sure)"
    if ratio < 1 - threshold:
        return "faster"
    return f"within {threshold:.0%}"


def header(args, infos, seconds, title):
    lines = [f"# fastad A/B: {title}", "",
             f"Written by `python benchmarks/ab.py {' '.join(args.argv)}` "
             f"({seconds:.0f} s).", ""]
    for label, tree in (("old", args.old), ("new", args.new)):
        lines.append(f"- {label}: `{tree}` (git {machine.git_revision(tree)}), "
                     f"fastad {infos[label]['version']}, core `{infos[label]['core']}`")
    lines += [f"- {key}: {value}" for key, value in machine.platform_info()]
    lines += [f"- numpy: {infos['old']['numpy']}",
              f"- date: {machine.now()}; load average at the end: {machine.load_average()}",
              ""]
    return lines


def render_timings(outcomes, args, infos, seconds, settings, format_time):
    lines = header(args, infos, seconds, "new against old, timed side by side")
    lines += ["## Method", "", METHOD.format(**settings), "",
              "## Results", "",
              "| part | workload | old | new | new / old (median) | quartiles "
              "| 95% interval of the median | pairs | verdict | results |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for o in outcomes:
        if o.error:
            lines.append(f"| {o.workload.table} | {o.workload.name} | | | | | | | "
                         f"**failed**: {o.error} | |")
            continue
        s = o.series
        low, high = s.ratio_quartiles
        interval = o.interval
        lines.append(f"| {o.workload.table} | {o.workload.name} "
                     f"| {format_time(s.baseline_time)} | {format_time(s.candidate_time)} "
                     f"| **{s.ratio:.3f}** | [{low:.3f}, {high:.3f}] "
                     f"| [{interval[0]:.3f}, {interval[1]:.3f}] | {len(s.candidate)} "
                     f"| {verdict(s.ratio, args.threshold, interval)} | {o.results} |")
    lines += summary(outcomes, [o.series.ratio for o in outcomes if not o.error], args)
    return "\n".join(lines) + "\n"


def render_instructions(outcomes, args, infos, seconds):
    lines = header(args, infos, seconds, "new against old, instruction counts")
    lines += ["## Method", "", CALLGRIND_METHOD.format(calls=args.calls), "",
              "## Results", "",
              "| part | workload | old instructions / call | new | new / old | verdict "
              "| results |",
              "|---|---|---:|---:|---:|---|---|"]
    for o in outcomes:
        if o.error:
            lines.append(f"| {o.workload.table} | {o.workload.name} | | | "
                         f"| **failed**: {o.error} | |")
            continue
        old, new = o.instructions
        lines.append(f"| {o.workload.table} | {o.workload.name} | {old:,.0f} | {new:,.0f} "
                     f"| **{new / old:.4f}** | {verdict(new / old, args.threshold)} "
                     f"| {o.results} |")
    lines += summary(outcomes, [o.instructions[1] / o.instructions[0]
                                for o in outcomes if not o.error], args, digits=4)
    return "\n".join(lines) + "\n"


def summary(outcomes, ratios, args, digits=3):
    over = sum(r > 1 + args.threshold for r in ratios)
    failed = sum(bool(o.error) for o in outcomes)
    differ = sum(o.results.startswith("**differ") for o in outcomes)
    lines = ["", f"{over} of {len(ratios)} workloads over the {args.threshold:.0%} limit"
             + (f"; {failed} failed" if failed else "")
             + (f"; {differ} with results that differ between the trees" if differ else "")
             + "."]
    if ratios:
        spread = max(abs(r - 1) for r in ratios)
        lines.append(f"Median ratios from {min(ratios):.{digits}f} to {max(ratios):.{digits}f} "
                     f"(largest deviation from 1: {spread:.{digits - 1}%}).")
    return lines


# ==== the command line ===============================================================

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, help="the reference fastad tree (built in place)")
    parser.add_argument("--new", type=Path, help="the fastad tree to judge (built in place)")
    parser.add_argument("--quick", action="store_true",
                        help="one round of a few pairs (a smoke run; the noise is larger)")
    parser.add_argument("--output", type=Path, help="write the Markdown report here "
                        "(default: stdout)")
    parser.add_argument("--rounds", type=int, help="passes over the workloads, each "
                        "with fresh workers (default 6, quick 1)")
    parser.add_argument("--pairs", type=int, help="new samples per workload and round, "
                        "each between two old ones (default 15, quick 7)")
    parser.add_argument("--confirm", type=int, help="extra rounds, at most, for the "
                        "workloads over the threshold or not clearly under it "
                        "(default 3, quick 0)")
    parser.add_argument("--min-sample-ms", type=float, default=2.0,
                        help="shortest sample, ms (default 2)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD,
                        help="largest slowdown allowed, as a fraction (default 0.05)")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only the workloads whose part or name contains TEXT "
                             "(repeatable)")
    parser.add_argument("--callgrind", action="store_true",
                        help="count instructions under valgrind instead of timing")
    parser.add_argument("--calls", type=int, default=CALLGRIND_CALLS,
                        help=f"calls counted per workload with --callgrind "
                             f"(default {CALLGRIND_CALLS})")
    parser.add_argument("--cpu", type=int, help="the CPU both workers are pinned to "
                        "(default: the last one; -1: not pinned)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--indices", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return parser, args


def selected_workloads(only):
    wanted = [t.lower() for t in only]
    return [i for i, w in enumerate(WORKLOADS)
            if not wanted or any(t in f"{w.table} {w.name}".lower() for t in wanted)]


def main(argv=None):
    parser, args = parse_args(argv)
    if args.worker:
        return serve(args.worker, args.cpu)
    if args.callgrind_worker:
        indices = [int(i) for i in args.indices.split(",") if i]
        return callgrind_worker(args.callgrind_worker, indices, args.calls)
    selected = selected_workloads(args.only)
    if args.list:
        for i in selected:
            print(f"{WORKLOADS[i].table:<18} {WORKLOADS[i].name}")
        return 0
    if args.old is None or args.new is None:
        parser.error("--old and --new are required")
    if not selected:
        parser.error("no workload matches --only")
    args.old, args.new = args.old.resolve(), args.new.resolve()
    timing = load_checkout_module("_timing")
    started = time.perf_counter()
    if args.callgrind:
        outcomes, infos = count_instructions(args.old, args.new, selected, args.calls)
        text = render_instructions(outcomes, args, infos, time.perf_counter() - started)
        ratios = [o.instructions[1] / o.instructions[0] for o in outcomes if not o.error]
    else:
        rounds = args.rounds or (1 if args.quick else 6)
        pairs = args.pairs or (7 if args.quick else 15)
        confirm = (0 if args.quick else 3) if args.confirm is None else args.confirm
        cpu = default_cpu() if args.cpu is None else (None if args.cpu < 0 else args.cpu)
        outcomes, infos = time_workloads((("old", args.old), ("new", args.new)), selected,
                                         rounds, pairs, args.min_sample_ms * 1e-3, timing,
                                         cpu, confirm, args.threshold)
        settings = {"min_ms": args.min_sample_ms, "rounds": rounds, "pairs": pairs,
                    "confirm": confirm, "threshold": args.threshold,
                    "cpu": "not pinned" if cpu is None else f"both pinned to CPU {cpu}"}
        text = render_timings(outcomes, args, infos, time.perf_counter() - started,
                              settings, timing.format_time)
        ratios = [o.series.ratio for o in outcomes if not o.error]
    if args.output is None:
        print(text)
    else:
        args.output.write_text(text)
        print(f"Wrote {args.output}", file=sys.stderr)
    failed = any(o.error for o in outcomes)
    return 1 if failed or any(r > 1 + args.threshold for r in ratios) else 0


if __name__ == "__main__":
    sys.exit(main())
