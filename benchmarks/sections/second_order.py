"""Second order and forward mode.

F.hvp against F.value_and_grad on the same tape (the cheap-gradient bound
says a Hessian-vector product should cost a small multiple of a gradient);
the forward Jacobian in vector mode against one tangent sweep per input;
Hessians and Jacobians against JAX (jit) and CasADi where installed.
"""

import time
from dataclasses import dataclass

import numpy as np

import harness  # noqa: F401  (this checkout's fastad first on sys.path)
import fastad
from fastad._problems import LV_PARAMS, lotka_volterra_problem, rosenbrock, rosenbrock_point
from fastad._timing import best_seconds, format_time, gc_state, paired_series
from problems import pde_residual

PEER_SAMPLES = 5  # best of 5 for the peer comparison


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
        fn = jax.jit(jax.jacfwd(lambda u: jnp.stack(pde_residual(u, jnp))))
    x = jnp.asarray(np.linspace(-1.0, 1.0, n))
    start = time.perf_counter()
    fn(x).block_until_ready()
    compile_seconds = time.perf_counter() - start
    steady = best_seconds(lambda: fn(x).block_until_ready(), PEER_SAMPLES)
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
        y = casadi.vertcat(*pde_residual(items, casadi))
        fn = casadi.Function("j", [x], [casadi.jacobian(y, x)])
    build = time.perf_counter() - start
    point = np.linspace(-1.0, 1.0, n)
    return PeerTime("CasADi", best_seconds(lambda: fn(point), PEER_SAMPLES), build)


def fastad_pde_residual(u):
    return pde_residual(u, fastad)


def fastad_times(kind, n):
    """(record + derivative, replay) seconds for the same problem."""
    point = np.linspace(-1.0, 1.0, n)
    if kind == "hessian":
        once = lambda: fastad.hessian(rosenbrock)(point)  # noqa: E731
        F = fastad.trace(rosenbrock, point)
        replay = lambda: F.hessian(point)  # noqa: E731
    else:
        once = lambda: fastad.jacobian(fastad_pde_residual)(point)  # noqa: E731
        F = fastad.trace(fastad_pde_residual, point)
        replay = lambda: F.jacobian(point)  # noqa: E731
    return [best_seconds(fn, PEER_SAMPLES) for fn in (once, replay)]


def measure(settings):
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
    F = fastad.trace(fastad_pde_residual, point)
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


def summarize(result):
    rows, vector, peers = result
    for problem, series in rows:
        print(f"  hvp / value_and_grad, {problem}: {series.ratio:.2f}x")
    print(f"  forward Jacobian 100x100: vector mode {1 / vector.ratio:.1f}x faster than "
          f"100 single sweeps")
    for kind, entries in peers.items():
        print(f"  {kind}: " + "; ".join(
            f"{p.name} {'missing' if p.seconds is None else format_time(p.seconds)}"
            + ("" if p.build is None else f" (+{p.build:.2f} s build)") for p in entries))
