"""fastad against the AD systems people use instead, on the same scalar code.

Run by ``python benchmarks/run.py`` (its "Peers" section and the PNG plots);
``python benchmarks/peers.py [--quick]`` runs this part alone and prints
its tables.

Every problem is written once, as ordinary scalar Python (in
benchmarks/problems.py, the shared ones in fastad/_problems.py): a function
of an indexable sequence of scalars and of ``m``, the namespace of math
functions of the backend (``m.exp``, ``m.log``, ``m.tanh``, ``m.sin``). The
same source runs on floats (the baseline), fastad Vars, autograd boxes,
PyTorch tensors, JAX tracers, CasADi symbols and a micrograd-style tape
written below. The tables are rendered by report.py.

Method
    For each problem and size every method is timed once per round, one
    after the other, for several rounds; each sample loops until it lasts
    MIN_SAMPLE_SECONDS (a single call for slow methods). Each round gives
    the method's time over plain Python's and over fastad's in that same
    round, and the tables report medians. Garbage collection is off while
    timing. One-off costs (jax.jit's compile, CasADi's graph and Function
    build, fastad.trace) are reported apart from the per-call times.
    Methods that cannot finish a size in reasonable time are capped, with
    the reason; a peer that is not installed is reported as missing.
    Every result is compared with fastad's (max abs difference printed).
"""

import argparse
import gc
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import HERE  # first: thread settings, this checkout's fastad
import numpy as np

import fastad
from fastad._problems import LV_PARAMS, rosenbrock_point
from fastad._timing import MIN_SAMPLE_SECONDS, format_time, seconds_per_call
import report
from problems import (
    MLP_PARAMS,
    LOGISTIC_FEATURES,
    compiled_c_rosenbrock,
    logistic_nll,
    lotka_volterra_m,
    mlp_loss,
    pde_residual,
    rosenbrock_m,
)
from targets import peer_targets

SLOW_CALL_SECONDS = 0.5  # methods slower than this are timed in fewer rounds


# ==== the problems (written once, in problems.py and fastad/_problems.py) ===========

@dataclass(frozen=True)
class Problem:
    name: str       # family, e.g. "Rosenbrock"
    size: str       # e.g. "n=10^3"
    kind: str       # "grad", "jacobian" or "hessian"
    f: object       # f(x, m)
    point: tuple    # where the derivative is taken
    n: int          # number of inputs (for the plots)


def problems(quick):
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 10_000, 100_000)
    out = [Problem("Rosenbrock", f"n=10^{round(math.log10(n))}", "grad", rosenbrock_m,
                   tuple(rosenbrock_point(n)), n) for n in sizes]
    out.append(Problem("Lotka-Volterra RK4", "1,000 steps", "grad", lotka_volterra_m,
                       tuple(LV_PARAMS), 4))
    out.append(Problem("2-16-16-1 tanh MLP", f"{MLP_PARAMS} params", "grad", mlp_loss,
                       tuple(np.random.default_rng(5).normal(0, 0.5, MLP_PARAMS).tolist()),
                       MLP_PARAMS))
    out.append(Problem("logistic regression", "10 x 500", "grad", logistic_nll,
                       tuple(np.linspace(-0.5, 0.5, LOGISTIC_FEATURES + 1).tolist()),
                       LOGISTIC_FEATURES + 1))
    out.append(Problem("PDE residual Jacobian", "100 x 100", "jacobian", pde_residual,
                       tuple(np.linspace(-1.0, 1.0, 100).tolist()), 100))
    out.append(Problem("Rosenbrock Hessian", "n=100", "hessian", rosenbrock_m,
                       tuple(np.linspace(-1.0, 1.0, 100).tolist()), 100))
    return out


# ==== a micrograd-style tape in pure Python ===========================================

class Value:
    """A scalar that records its parents and local derivatives (micrograd)."""

    __slots__ = ("data", "grad", "parents")

    def __init__(self, data, parents=()):
        self.data = data
        self.grad = 0.0
        self.parents = parents  # ((Value, local derivative), ...)

    def __add__(self, other):
        if isinstance(other, Value):
            return Value(self.data + other.data, ((self, 1.0), (other, 1.0)))
        return Value(self.data + other, ((self, 1.0),))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, Value):
            return Value(self.data - other.data, ((self, 1.0), (other, -1.0)))
        return Value(self.data - other, ((self, 1.0),))

    def __rsub__(self, other):
        return Value(other - self.data, ((self, -1.0),))

    def __mul__(self, other):
        if isinstance(other, Value):
            return Value(self.data * other.data, ((self, other.data), (other, self.data)))
        return Value(self.data * other, ((self, other),))

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, Value):
            return self * other ** -1
        return Value(self.data / other, ((self, 1.0 / other),))

    def __rtruediv__(self, other):
        return other * self ** -1

    def __pow__(self, k):
        return Value(self.data ** k, ((self, k * self.data ** (k - 1)),))

    def __neg__(self):
        return Value(-self.data, ((self, -1.0),))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, ((self, 1.0 - t * t),))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, ((self, e),))

    def log(self):
        return Value(math.log(self.data), ((self, 1.0 / self.data),))

    def sin(self):
        return Value(math.sin(self.data), ((self, math.cos(self.data)),))

    def backward(self):
        """Reverse sweep in topological order (iterative: graphs are deep)."""
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:  # every parent is in order by now
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent, _ in node.parents:
                if id(parent) not in visited:
                    stack.append((parent, False))
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in node.parents:
                parent.grad += local * node.grad


class _MicrogradMath:
    @staticmethod
    def tanh(v):
        return v.tanh() if isinstance(v, Value) else math.tanh(v)

    @staticmethod
    def exp(v):
        return v.exp() if isinstance(v, Value) else math.exp(v)

    @staticmethod
    def log(v):
        return v.log() if isinstance(v, Value) else math.log(v)

    @staticmethod
    def sin(v):
        return v.sin() if isinstance(v, Value) else math.sin(v)


# ==== the methods ====================================================================
# A method prepares a problem once (returning a zero-argument call that
# computes the derivative as a NumPy array, and its one-off setup seconds)
# or says why it cannot run it (missing, capped, not applicable).

class Unavailable(Exception):
    """The method cannot run this problem: the message says why."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status  # "missing", "capped" or "n/a"
        self.reason = reason


def capped(reason):
    return Unavailable("capped", reason)


def entries(problem):
    """Elementary operations of the problem (fastad's tape length)."""
    with fastad.Tape() as tape:
        x = [tape.var(v) for v in problem.point]
        problem.f(x, fastad)
    return tape.n_entries


class Method:
    name = ""
    setup_label = ""  # what the one-off setup time is ("compile", "build", ...)

    def prepare(self, problem):
        raise NotImplementedError  # pragma: no cover  (every method overrides it)


class Plain(Method):
    name = "plain Python"

    def prepare(self, problem):
        x = list(problem.point)
        return (lambda: problem.f(x, math)), None


class FastadRecord(Method):
    name = "fastad"

    def prepare(self, problem):
        f = lambda x: problem.f(x, fastad)  # noqa: E731
        if problem.kind == "grad":
            x = list(problem.point)
            grad = fastad.grad(f)
            return (lambda: np.asarray(grad(x))), None
        x = np.asarray(problem.point)
        if problem.kind == "jacobian":
            jac = fastad.jacobian(f)
            return (lambda: jac(x)), None
        hess = fastad.hessian(f)
        return (lambda: hess(x)), None


class FastadReplay(Method):
    name = "fastad replay"
    setup_label = "trace"

    def prepare(self, problem):
        f = lambda x: problem.f(x, fastad)  # noqa: E731
        x = np.asarray(problem.point)
        start = time.perf_counter()
        F = fastad.trace(f, list(problem.point) if problem.kind == "grad" else x)
        setup = time.perf_counter() - start
        if problem.kind == "grad":
            return (lambda: F.grad(x)), setup
        if problem.kind == "jacobian":
            return (lambda: F.jacobian(x)), setup
        return (lambda: F.hessian(x)), setup


class CAnalytic(Method):
    name = "C analytic"

    def prepare(self, problem):
        if problem.f is not rosenbrock_m or problem.kind != "grad":
            raise Unavailable("n/a", "hand-written for the Rosenbrock gradient only")
        c_grad, why = compiled_c_rosenbrock()
        if c_grad is None:
            raise Unavailable("missing", why)
        x = np.asarray(problem.point)
        g = np.empty_like(x)

        def call():
            c_grad(x, g)
            return g

        return call, None


class Micrograd(Method):
    name = "micrograd (pure Python)"

    def prepare(self, problem):
        if problem.kind == "hessian":
            raise Unavailable("n/a", "first order only")
        if entries(problem) > 200_000:
            raise capped("about 2 us per operation and a Python object per node: "
                         "seconds per gradient at this size")
        m = _MicrogradMath()

        def call():
            xs = [Value(v) for v in problem.point]
            out = problem.f(xs, m)
            if problem.kind == "grad":
                out.backward()
                return np.array([v.grad for v in xs])
            rows = []
            for y in out:  # one reverse sweep per output
                for v in xs:
                    v.grad = 0.0
                if isinstance(y, Value):
                    y.backward()
                rows.append([v.grad for v in xs])
            return np.array(rows)

        return call, None


class Autograd(Method):
    name = "autograd"

    def prepare(self, problem):
        try:
            import autograd
            import autograd.numpy as anp
        except ImportError:
            raise Unavailable("missing", "not installed (pip install autograd)") from None
        if entries(problem) > 100_000:
            raise capped("about 1,000x plain Python: tens of seconds per gradient at "
                         "this size")
        x = np.asarray(problem.point)
        if problem.kind == "grad":
            fn = autograd.grad(lambda v: problem.f(v, anp))
        elif problem.kind == "jacobian":
            fn = autograd.jacobian(lambda v: anp.stack(problem.f(v, anp)))
        else:
            fn = autograd.hessian(lambda v: problem.f(v, anp))
        return (lambda: fn(x)), None


class TorchEager(Method):
    name = "PyTorch eager"

    def prepare(self, problem):
        try:
            import torch
        except ImportError:
            raise Unavailable("missing", "not installed (pip install torch)") from None
        if entries(problem) > 100_000:
            raise capped("300-650x plain Python: tens of seconds per gradient at this size")
        torch.set_num_threads(1)
        point = torch.tensor(problem.point, dtype=torch.float64)

        def scalar_f(v):
            return problem.f(list(v.unbind()), torch)

        if problem.kind == "grad":
            def call():
                x = point.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(scalar_f(x), x)
                return g.numpy()
        elif problem.kind == "jacobian":
            def call():
                return torch.autograd.functional.jacobian(
                    lambda v: torch.stack(problem.f(list(v.unbind()), torch)), point).numpy()
        else:
            def call():
                return torch.autograd.functional.hessian(scalar_f, point).numpy()
        return call, None


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise Unavailable("missing", "not installed (pip install jax)") from None
    jax.config.update("jax_enable_x64", True)
    return jax, jnp


def _jax_transform(jax, jnp, problem):
    if problem.kind == "grad":
        return jax.grad(lambda v: problem.f(v, jnp))
    if problem.kind == "jacobian":
        return jax.jacfwd(lambda v: jnp.stack(problem.f(v, jnp)))
    return jax.hessian(lambda v: problem.f(v, jnp))


class JaxEager(Method):
    name = "JAX eager"

    def prepare(self, problem):
        jax, jnp = _jax()
        if entries(problem) > 2_000 or problem.kind == "hessian":
            raise capped("every scalar operation is a dispatched array operation "
                         "(7 s per gradient at Rosenbrock n=10^3, 9k operations)")
        fn = _jax_transform(jax, jnp, problem)
        x = jnp.asarray(problem.point)
        with jax.disable_jit():
            fn(x)
        return (lambda: _jax_eager_call(jax, fn, x)), None


def _jax_eager_call(jax, fn, x):
    with jax.disable_jit():
        return np.asarray(fn(x))


class JaxJit(Method):
    name = "JAX jit"
    setup_label = "compile"

    def prepare(self, problem):
        jax, jnp = _jax()
        if entries(problem) > 12_000:
            raise capped("jit traces the unrolled loop: compiling takes minutes at this "
                         "size (26 s for Rosenbrock n=10^3)")
        fn = jax.jit(_jax_transform(jax, jnp, problem))
        x = jnp.asarray(problem.point)
        start = time.perf_counter()
        fn(x).block_until_ready()
        setup = time.perf_counter() - start
        return (lambda: np.asarray(fn(x).block_until_ready())), setup


class CasADi(Method):
    name = "CasADi"
    setup_label = "build"

    def prepare(self, problem):
        try:
            import casadi
        except ImportError:
            raise Unavailable("missing", "not installed (pip install casadi)") from None
        if entries(problem) > 120_000:
            raise capped("building the expression graph takes tens of seconds at this "
                         "size (1.25 s for Rosenbrock n=10^4)")
        start = time.perf_counter()
        x = casadi.SX.sym("x", problem.n)
        items = [x[i] for i in range(problem.n)]
        if problem.kind == "grad":
            out = casadi.gradient(problem.f(items, casadi), x)
        elif problem.kind == "jacobian":
            out = casadi.jacobian(casadi.vertcat(*problem.f(items, casadi)), x)
        else:
            out = casadi.hessian(problem.f(items, casadi), x)[0]
        fn = casadi.Function("d", [x], [out])
        setup = time.perf_counter() - start
        point = np.asarray(problem.point)
        return (lambda: fn(point)), setup


METHODS = [Plain(), FastadRecord(), FastadReplay(), CAnalytic(), Micrograd(), Autograd(),
           TorchEager(), JaxEager(), JaxJit(), CasADi()]


# ==== measuring ======================================================================

@dataclass
class Result:
    method: str
    status: str = "ok"        # ok, missing, capped, n/a, failed
    reason: str = ""
    seconds: float = math.nan
    versus_plain: float = math.nan
    versus_fastad: float = math.nan
    setup_seconds: float | None = None
    setup_label: str = ""
    max_abs_diff: float = math.nan
    samples: list = field(default_factory=list)


@dataclass
class ProblemResult:
    problem: Problem
    entries: int
    results: list


def measure_problem(problem, rounds):
    prepared = {}
    results = {}
    reference = None
    for method in METHODS:
        result = Result(method.name, setup_label=method.setup_label)
        results[method.name] = result
        try:
            call, setup = method.prepare(problem)
            value = call()  # warm up, and the result to check
        except Unavailable as why:
            result.status, result.reason = why.status, why.reason
            continue
        except Exception as error:  # a peer's failure is reported, never fatal
            result.status, result.reason = "failed", f"{type(error).__name__}: {error}"[:160]
            continue
        result.setup_seconds = setup
        if method.name == "fastad":
            reference = np.asarray(value, dtype=np.float64)
        elif method.name != "plain Python" and reference is not None:
            got = np.asarray(value, dtype=np.float64).reshape(reference.shape)
            result.max_abs_diff = float(np.max(np.abs(got - reference)))
        tries = 2 if method.name != "plain Python" else 3
        once = min(seconds_per_call(call, 1) for _ in range(tries))
        inner = max(1, math.ceil(MIN_SAMPLE_SECONDS / max(once, 1e-9)))
        prepared[method.name] = (call, inner, once)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        per_round = {name: [] for name in prepared}
        for r in range(rounds):
            times = {}
            for name, (call, inner, once) in prepared.items():
                if once > SLOW_CALL_SECONDS and r >= 3:
                    continue
                times[name] = seconds_per_call(call, inner)
            for name, t in times.items():
                per_round[name].append((t, times.get("plain Python"), times.get("fastad")))
    finally:
        if gc_was_enabled:
            gc.enable()
    for name, samples in per_round.items():
        result = results[name]
        result.samples = [t for t, _, _ in samples]
        result.seconds = statistics.median(result.samples)
        result.versus_plain = statistics.median(t / p for t, p, _ in samples if p)
        result.versus_fastad = statistics.median(t / f for t, _, f in samples if f)
    return ProblemResult(problem, entries(problem), list(results.values()))


def measure_all(quick=False):
    rounds = 3 if quick else 7
    out = []
    for problem in problems(quick):
        print(f"  peers: {problem.name} {problem.size} ...", flush=True)
        done = measure_problem(problem, rounds)
        for r in done.results:
            if r.status == "ok":
                setup = ("" if r.setup_seconds is None
                         else f"  (+{r.setup_seconds:.3g} s {r.setup_label})")
                diff = "" if math.isnan(r.max_abs_diff) else f"  max abs diff {r.max_abs_diff:.1e}"
                print(f"    {r.method:<24} {format_time(r.seconds):>10}  "
                      f"{r.versus_plain:9.1f}x plain  {r.versus_fastad:8.2f}x fastad"
                      f"{setup}{diff}", flush=True)
            else:
                print(f"    {r.method:<24} {r.status}: {r.reason}", flush=True)
        out.append(done)
    return out


def run_peers(quick, folder):
    """Measure, plot into folder, and return the report lines and the targets
    (for run.py, which runs this in a fresh process)."""
    done = measure_all(quick)
    files = report.plot_peers(done, folder)
    return report.render_peers(done, files), peer_targets(done)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    args = parser.parse_args(argv)
    # A quick run leaves the committed plots alone.
    folder = Path(tempfile.mkdtemp(prefix="fastad-plots-")) if args.quick else HERE
    lines, _ = run_peers(args.quick, folder)
    print("\n".join(lines))
    print(f"plots in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
