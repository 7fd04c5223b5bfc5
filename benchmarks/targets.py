"""The project's performance targets, and how each is judged on the results.

Every evaluator returns (target, case, measured, met) tuples; report.py
renders them as tables and run.py prints them. Missing a target is
reported, never treated as a failure of the run.
"""

import array_problems

TARGET_RATIO = 2.5          # record + reverse sweep, times plain Python
TARGET_SWEEP_NS = 3.0       # reverse sweep, ns per tape entry
TARGET_BYTES = 24.0         # stored tape, bytes per entry
ADJOINT_BYTES = 8           # one float64 adjoint per entry, allocated by each sweep
TARGET_REPLAY_NS = 6.0      # replayed value_and_grad, ns per entry
TARGET_REPLAY_SPEEDUP = 10.0  # replay against recording again
TARGET_BATCH_SPEEDUP = 1.7  # value_and_grad_batch, 2 threads against 1
TARGET_CALL_SECONDS = 2e-6  # per-call cost of F.value_and_grad, 2 inputs
TARGET_HVP_RATIO = 4.0      # F.hvp against F.value_and_grad
TARGET_VECTOR_SPEEDUP = 2.0  # vector-mode forward Jacobian against n single sweeps
TARGET_PEER_SPEEDUP = 100   # record + gradient against autograd and PyTorch eager
TARGET_SETUP_FACTOR = 10    # record + derivative against jax.jit's compile, CasADi's build


def record_cases(rows):
    """The rows the record targets are judged on: Rosenbrock n=10^4 (list) and RK4."""
    return [r for r in rows
            if (r.problem == "Rosenbrock" and r.size == "n=10^4" and r.note == "list input")
            or r.problem == "Lotka-Volterra"]


def record_targets(rows):
    """Record + gradient, sweep and tape size, on the rows of the main table."""
    out = []
    for r in record_cases(rows):
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


def replay_targets(rows, tiny, batch):
    """Replay speed, per-call cost and threads (the replay section's result)."""
    out = []
    for r in rows:
        ns = r.replay_seconds / r.entries * 1e9
        out.append((f"replay value_and_grad <= {TARGET_REPLAY_NS:g} ns/entry", r.problem,
                    f"{ns:.2f} ns", ns <= TARGET_REPLAY_NS))
        speedup = 1 / r.versus_recording.ratio
        out.append((f"replay >= {TARGET_REPLAY_SPEEDUP:g}x faster than re-recording",
                    r.problem, f"{speedup:.1f}x", speedup >= TARGET_REPLAY_SPEEDUP))
        if r.versus_casadi is not None:
            faster = 1 / r.versus_casadi.ratio
            out.append(("replay faster than CasADi's gradient Function", r.problem,
                        f"{faster:.2f}x", faster > 1.0))
    one, two, speedup = batch
    out.append((f"value_and_grad_batch: 2 threads >= {TARGET_BATCH_SPEEDUP:g}x 1 thread",
                "Rosenbrock n=10^4, 256 points", f"{speedup:.2f}x",
                speedup >= TARGET_BATCH_SPEEDUP))
    out.append((f"per-call cost of F.value_and_grad <= {TARGET_CALL_SECONDS * 1e6:g} us",
                "2 inputs", f"{tiny * 1e6:.2f} us", tiny <= TARGET_CALL_SECONDS))
    return out


def second_order_targets(rows, vector, peers):
    """hvp against the gradient, and the vector-mode forward Jacobian."""
    out = [(f"F.hvp <= {TARGET_HVP_RATIO:g}x F.value_and_grad", problem,
            f"{series.ratio:.2f}x", series.ratio <= TARGET_HVP_RATIO)
           for problem, series in rows]
    speedup = 1 / vector.ratio
    out.append((f"vector forward Jacobian >= {TARGET_VECTOR_SPEEDUP:g}x faster than n "
                "single sweeps", "PDE residual, n = 100", f"{speedup:.1f}x",
                speedup >= TARGET_VECTOR_SPEEDUP))
    return out


def peer_targets(done):
    """Against autograd, PyTorch, JAX and CasADi (peers.py's results)."""
    out = []
    scalar = [p for p in done if p.problem.kind == "grad"]
    for peer in ("autograd", "PyTorch eager"):
        for p in scalar:
            r = next(r for r in p.results if r.method == peer)
            if r.status == "ok":
                out.append((f"fastad record+grad >= {TARGET_PEER_SPEEDUP}x faster than {peer}",
                            f"{p.problem.name} {p.problem.size}",
                            f"{r.versus_fastad:,.0f}x", r.versus_fastad >= TARGET_PEER_SPEEDUP))
    for peer in ("CasADi", "JAX jit"):
        for p in scalar:
            by = {r.method: r for r in p.results}
            r, replay = by[peer], by["fastad replay"]
            if r.status == "ok" and replay.status == "ok":
                faster = r.seconds / replay.seconds
                out.append((f"fastad replay faster than {peer} (steady state)",
                            f"{p.problem.name} {p.problem.size}", f"{faster:.2f}x",
                            faster > 1.0))
    for peer in ("JAX jit", "CasADi"):
        for p in done:
            by = {r.method: r for r in p.results}
            r = by[peer]
            if r.status == "ok" and r.setup_seconds is not None:
                total = by["fastad"].seconds
                factor = r.setup_seconds / total
                out.append((f"fastad record + first derivative >= {TARGET_SETUP_FACTOR}x "
                            f"below {peer}'s {r.setup_label}",
                            f"{p.problem.name} {p.problem.size}",
                            f"{factor:,.0f}x", factor >= TARGET_SETUP_FACTOR))
    return out


# ==== whole-array NumPy code (sections/arrays.py) ==================================

TARGET_ARRAY_RECORD = 5.0         # fastad.value_and_grad over NumPy f (n >= 10^4, logistic, MLP)
TARGET_ARRAY_RECORD_SMALL = 4.0   # the same at Rosenbrock n = 100
TARGET_ARRAY_REPLAY = 3.0         # F.value_and_grad over NumPy f
TARGET_ARRAY_OP_SECONDS = 1e-6    # one whole-array operation: operators, fastad.f
TARGET_ARRAY_PROTOCOL_SECONDS = 2e-6  # the same through NumPy's protocols
TARGET_NDARRAY_CALL = 1.3         # a call with an ndarray argument over a list
TARGET_ARRAY_LOOP10 = 2.5         # 10-variable scalar Rosenbrock loop, ndarray, over plain Python
TARGET_ARRAY_BYTES = 18.0         # tape bytes per element-operation (one entry each)


def array_targets(results):
    """Whole-array NumPy code (the arrays section's ArrayResults)."""
    names = {w.key: f"{w.family} {w.size}" for w in array_problems.workloads(results.quick)}
    out = []
    for r in results.methods:
        case = names.get(r.workload, r.workload)
        if r.method == "fastad record+grad":
            small = r.workload == "rosenbrock-100"
            limit = TARGET_ARRAY_RECORD_SMALL if small else TARGET_ARRAY_RECORD
            label = f"record+grad <= {limit:g}x NumPy f"
        elif r.method == "fastad replay":
            limit, label = TARGET_ARRAY_REPLAY, f"replay <= {TARGET_ARRAY_REPLAY:g}x NumPy f"
        else:
            continue
        if r.status == "ok":
            out.append((label, case, f"{r.ratio:.3f}x", r.ratio <= limit))
        else:
            out.append((label, case, r.status, False))
    for c in results.fixed:
        if c.route in ("operator", "fastad function"):
            limit = TARGET_ARRAY_OP_SECONDS
        elif c.route == "NumPy protocol":
            limit = TARGET_ARRAY_PROTOCOL_SECONDS
        else:
            continue
        out.append((f"one whole-array op ({c.route}) <= {limit * 1e6:g} us",
                    f"{c.label}, 10 elements", f"{c.seconds * 1e6:.3f} us",
                    c.seconds <= limit))
    for row in results.calls:
        if row.label.startswith("grad(lambda"):
            limit, label = TARGET_NDARRAY_CALL, f"ndarray-argument call <= {TARGET_NDARRAY_CALL:g}x a list"
        elif row.label.startswith("scalar-loop Rosenbrock n=10,") and "ndarray" in row.label:
            limit, label = TARGET_ARRAY_LOOP10, (f"10-variable Rosenbrock loop, ndarray <= "
                                                 f"{TARGET_ARRAY_LOOP10:g}x plain Python")
        else:
            continue
        out.append((label, row.label.split(",")[0], f"{row.series.ratio:.3f}x",
                    row.series.ratio <= limit))
    for t in results.tapes:
        out.append((f"tape <= {TARGET_ARRAY_BYTES:g} bytes per element-operation (entry)",
                    names.get(t.workload, t.workload), f"{t.bytes_per_entry:.2f} B",
                    t.bytes_per_entry <= TARGET_ARRAY_BYTES))
    return out
