"""The benchmark report: Markdown tables and prose, and the peer plots.

Everything that turns results into text: the sections' (benchmarks/sections/)
for RESULTS.md, assembled by render_report, and the peers' (peers.py), whose
section render_peers writes. Targets are judged in targets.py; this module
only lays them out.
"""

import math
from pathlib import Path

import harness  # noqa: F401  (this checkout's fastad first on sys.path)
import array_problems
from sections.arrays import FIXED_SAMPLES, METHODS
from fastad._timing import MIN_SAMPLE_SECONDS, format_time
from targets import (
    ADJOINT_BYTES,
    array_targets,
    peer_targets,
    record_targets,
    replay_targets,
    second_order_targets,
)


# ==== common ======================================================================

def target_table(targets, measured_header="measured"):
    """Markdown rows for (target, case, measured, met) tuples."""
    lines = [f"| target | case | {measured_header} | |", "|---|---|---:|---|"]
    lines += [f"| {target} | {case} | {measured} | {'met' if met else '**MISSED**'} |"
              for target, case, measured, met in targets]
    return lines


# ==== method and the main table ===================================================

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


def render_diagnostics(rows):
    lines = ["| problem | size | input | page faults per call: baseline | fastad |",
             "|---|---|---|---:|---:|"]
    for r in rows:
        base, fast = ("n/a" if f is None else f"{f:,.0f}" for f in r.faults)
        lines.append(f"| {r.problem} | {r.size} | {r.note} | {base} | {fast} |")
    return lines


# ==== replay ======================================================================

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


# ==== second order and forward mode ===============================================

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


# ==== Jacobians by reverse mode ===================================================

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


# ==== complex numbers =============================================================

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


# ==== NumPy dispatch ==============================================================

def render_dispatch(plain, ops, routes):
    lines = ["| operation | ns per operation (recording included) |", "|---|---:|",
             f"| float * float (plain Python, for scale) | {plain:.0f} |"]
    lines += [f"| {label} | {ns:.0f} |" for label, ns in ops]
    lines += ["", "The same `np.float64 * obj` under NumPy's three routes, with a "
              "pure-Python class whose `__rmul__` does nothing:", "",
              "| route | ns per operation |", "|---|---:|"]
    lines += [f"| {doc} | {ns:.0f} |" for _, doc, ns in routes]
    return lines


# ==== whole-array NumPy code ======================================================

ARRAYS_TITLE = "Whole-array NumPy code"

ARRAYS_INTRO = f"""\
NumPy functions of whole arrays, differentiated as written: the argument
of `fastad.value_and_grad(f)` arrives as a `fastad.Array` and every
whole-array operation is recorded in one compiled loop, one tape entry per
element of its result (a matrix product `X @ w` and a sum are one entry
per result element and one block of BLAS work in the sweeps, not an entry
per multiply-add). Each figure is the time
of **value + gradient over the time of the NumPy function f on floats** at
the same point: each sample of the method is bracketed by samples of f and
the cell is the **median of the per-pair ratios** (interquartile range in
the details), garbage collector **disabled** while timing, each sample at
least {MIN_SAMPLE_SECONDS * 1e3:g} ms (one call where a call is longer).
Each (workload, method) runs in its **own fresh process**. BLAS and OpenMP
are limited to one thread before NumPy is imported
(OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=OMP_NUM_THREADS=1, checked with
threadpoolctl in every process), PyTorch by `torch.set_num_threads(1)`,
JAX runs on the CPU with `XLA_FLAGS={harness.JAX_XLA_FLAGS}` and float64.
One-off costs are apart: `fastad.trace` (recorded at a nearby point, then
replayed at the point), `jax.jit`'s first call (trace + compile) and the
CasADi MX graph and Function build. Before timing, every method's value
and gradient are compared with fastad's (relative to the largest gradient
component), and fastad's with central differences along
3 random directions; a wrong one is reported, not timed.

The workloads (benchmarks/array_problems.py, written once per framework in
its idiom: NumPy, `autograd.numpy`, `torch`, `jax.numpy`, CasADi MX):

- Rosenbrock `np.sum(100*(x[1:]-x[:-1]**2)**2 + (1-x[:-1])**2)`;
- logistic loss `np.mean(np.log(1 + np.exp(-y * (X @ w)))) + 1e-3 * np.sum(w**2)`,
  X constant with 100 columns, labels y = +-1;
- 2-layer tanh MLP `np.mean((np.tanh(X @ W1 + b1) @ W2 + b2 - y)**2)`, X 256 x 32,
  W1 32 x 64, W2 64 x 1, the dict {{W1, b1, W2, b2}} differentiated together.
"""


def installed_versions():
    """Versions of the peers from their package metadata (nothing imported)."""
    from importlib import metadata
    out = []
    for name in ("numpy", "autograd", "torch", "jax", "jaxlib", "casadi"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} missing")
    return ", ".join(out)


def _array_names(results):
    return {w.key: f"{w.family} {w.size}" for w in array_problems.workloads(results.quick)}


def _ratio(ratio):
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def _array_cell(r):
    return _ratio(r.ratio) if r.status == "ok" else r.status


def render_arrays(results, plot_files, threads):
    names = _array_names(results)
    by = {(r.workload, r.method): r for r in results.methods}
    keys = list(dict.fromkeys(r.workload for r in results.methods))
    lines = [ARRAYS_INTRO,
             "Value + gradient time / NumPy f (paired medians; lower is better):", "",
             "| workload | NumPy f | " + " | ".join(METHODS) + " |",
             "|---|---:|" + "---:|" * len(METHODS)]
    for key in keys:
        ok = [by[key, m] for m in METHODS if by[key, m].status == "ok"]
        f_time = format_time(min(r.series.baseline_time for r in ok)) if ok else "-"
        lines.append(f"| {names.get(key, key)} | {f_time} | "
                     + " | ".join(_array_cell(by[key, m]) for m in METHODS) + " |")
    lines += ["", "NumPy f: the smallest of the methods' medians of f's own samples (each "
              "method's process times f beside it; the details give each). Peers: "
              + installed_versions() + ". Threads seen (largest count in any process): "
              + ", ".join(f"{k} {v}" for k, v in sorted(threads.items())) + "."]
    lines += [""] + [f"![{title}]({name})" for title, name in plot_files]
    lines += ["", "**Details**", "",
              "| workload | method | value+grad | f (paired) | ratio [IQR] | one-off "
              "| gradient error | note |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results.methods:
        setup = "" if r.setup_seconds is None else f"{r.setup_seconds:.3g} s {r.setup_label}"
        err = "" if math.isnan(r.grad_error) else (
            f"{r.grad_error:.1e} vs " + ("central diff." if r.method == "fastad record+grad"
                                         else "fastad"))
        if r.status == "ok":
            lo, hi = r.series.ratio_quartiles
            lines.append(f"| {names.get(r.workload, r.workload)} | {r.method} "
                         f"| {format_time(r.series.candidate_time)} "
                         f"| {format_time(r.series.baseline_time)} "
                         f"| **{_ratio(r.ratio)}** [{_ratio(lo)}, {_ratio(hi)}] | {setup} "
                         f"| {err} | |")
        else:
            lines.append(f"| {names.get(r.workload, r.workload)} | {r.method} | {r.status} "
                         f"| | | {setup} | {err} | {r.reason} |")
    lines += ["", "**The tape of one recording** (`with fastad.Tape() as t: x = t.var(x0); "
              "f(x)`): every element of an operation's result is one entry (a product's "
              "constant matrix is held by reference, not on the tape; a constant array "
              "operand of an elementwise operation, such as the labels y, is pooled at 8 "
              "bytes an element), and the inputs are entries too; the last column divides "
              "all of `t.nbytes` by the element-operations alone.", "",
              "| workload | inputs | entries | element-operations | entries per input "
              "| t.nbytes | bytes / entry | bytes / element-operation |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t in results.tapes:
        lines.append(f"| {names.get(t.workload, t.workload)} | {t.inputs:,} | {t.entries:,} "
                     f"| {t.operations:,} | {t.entries / t.inputs:.1f} | {t.nbytes:,} "
                     f"| **{t.bytes_per_entry:.2f}** | {t.bytes_per_operation:.2f} |")
    lines += ["", "**Fixed cost of one whole-array operation while recording**: time per "
              "operation on 10-element Arrays (`a`, `b` from `t.var`) in a fresh tape, best "
              f"of {FIXED_SAMPLES} samples of 1,000 operations, gc off, so 10 elements' worth of loop is included; plain "
              "NumPy on 10-element float arrays for scale.", "",
              "| operation | route | ns per operation |", "|---|---|---:|"]
    lines += [f"| `{c.label}` | {c.route} | {c.seconds * 1e9:,.0f} |" for c in results.fixed]
    lines += ["", "**Calls with an ndarray argument** (paired medians, gc off; the "
              "argument arrives as a `fastad.Array`, and scalar code indexing it gets Vars):",
              "", "| call | divided by | ratio [IQR] | time |", "|---|---|---:|---:|"]
    for row in results.calls:
        lo, hi = row.series.ratio_quartiles
        lines.append(f"| {row.label} | {row.baseline} | **{row.series.ratio:.3f}x** "
                     f"[{lo:.3f}, {hi:.3f}] | {format_time(row.series.candidate_time)} |")
    lines += ["", "**Targets**", ""] + target_table(array_targets(results))
    return lines


def plot_arrays(results, folder):
    """Ratio to NumPy f against n for Rosenbrock, one line per method:
    [(title, file name)], empty when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  matplotlib is not installed: no plot (pip install matplotlib)")
        return []
    sizes = {w.key: w.n for w in array_problems.workloads(results.quick)
             if w.family == "Rosenbrock"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for method in METHODS:
        points = sorted((sizes[r.workload], r.ratio) for r in results.methods
                        if r.method == method and r.workload in sizes and r.status == "ok")
        if points:
            ax.plot(*zip(*points), marker="o", label=method)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n (Rosenbrock as whole-array NumPy code)")
    ax.set_ylabel("value + gradient time / NumPy f time")
    ax.set_title("Gradient of NumPy Rosenbrock: ratio to NumPy f against n")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "arrays_rosenbrock.png", dpi=110)
    plt.close(fig)
    return [("Whole-array Rosenbrock: ratio to NumPy f against n", "arrays_rosenbrock.png")]


def render_section_only(settings, info, seconds, title, body):
    """A report of one section (run.py --section)."""
    kind = "quick, " if settings.quick else ""
    lines = ["# fastad benchmark results (one section)", "",
             f"Written by `python benchmarks/run.py --section ...` ({kind}{seconds:.0f} s).", ""]
    lines += section("Machine", [f"- {key}: {value}" for key, value in info])
    lines += section(title, body)
    return "\n".join(lines) + "\n"


# ==== RESULTS.md ==================================================================

# What each section of RESULTS.md says above its tables.
INTRODUCTIONS = {
    "A tape of 10^8 entries":
        "A loop of `y = y * h + x` (h = 0.5 a Var) in a `fastad.Tape` (two entries a step), in a "
        "fresh process: bytes per entry from `tape.nbytes`, the process's peak "
        "resident memory (the doubling growth of the arrays and the 8-byte adjoints "
        "of the sweep included), the time to record through Python and of one "
        "reverse sweep (`Tape._sweep`), and the gradient against its closed form "
        "2 - 0.5**steps. A quick run uses 10^6 entries.",
    "Correctness": "Checked in the same run, before timing:",
    "Diagnostics":
        "Minor page faults per call (`getrusage`), counted outside the timed "
        "samples: each is a page the kernel maps and zero-fills because the call "
        "touched fresh memory, a cost plain Python does not pay. They are part "
        "of the fastad times above.",
    "Replay (`fastad.trace`)":
        "`F = fastad.trace(f, x0)` once, then `F.value_and_grad(x)` at a nearby "
        "point, checked equal (bit for bit) to re-recording there. Ratios are "
        "paired medians as above: re-recording is `fastad.value_and_grad(f)(x)`; "
        "the C analytic gradient is the Rosenbrock gradient written by hand, "
        "compiled with `cc -O2` and called through ctypes; CasADi is its SX "
        "gradient `Function` called with a NumPy array (its build time, from the "
        "same scalar Python code, is listed separately).",
    "Second order and forward mode":
        "Hessian-vector products by one tangent sweep and one forward-over-reverse "
        "sweep over the replayed tape, against the gradient on the same tape "
        "(paired); the forward Jacobian with 32 tangent lanes per sweep against "
        "one sweep per input; and Hessians and Jacobians of scalar Python code "
        "against JAX (`jax.jit`, steady state, compile time apart) and CasADi "
        "(SX `Function`, build time apart), best of 5, where installed.",
    "Jacobians by reverse mode":
        "`fastad.jacrev` of the RK4 Lotka-Volterra integration (1,000 steps, "
        "4 parameters) whose final state is mixed into m outputs, against "
        "`fastad.grad` of the sum of the same outputs: one recording in both, "
        "then m sweeps or one. The last column predicts the ratio from the "
        "sweep time measured alone: (record + m sweeps) / (record + 1 sweep).",
    "Complex numbers":
        "The same Python code on complex numbers and on reals (the real twin "
        "of the least-squares loss uses the real parts of A and b). Paired "
        "medians as above, gc off: a complex operation is recorded as real "
        "entries (a product as four products and two sums), so the complex "
        "gradient costs about as much more as it has entries; the quadratic "
        "map also pays for `abs(.)**2` at the end only. The gradient is "
        "checked against finite differences along both axes (quadratic map) "
        "and the closed form 2 A^H (A z - b) (least squares).",
    "NumPy dispatch":
        "Cost of single operations by operand kind (best of 5 repeats, "
        "gc off). A NumPy scalar on the left returns NotImplemented at once "
        "because of `Var.__array_priority__`, and Python then calls the "
        "Var's reflected method; on Python 3.11 NumPy's check raises and "
        "clears an AttributeError internally, which is most of its cost. "
        "`__array_ufunc__ = None` defers faster but makes `np.sin(v)` raise, "
        "which the API forbids; an `__array_ufunc__` method sends every "
        "`np.float64 * Var` through the ufunc machinery.",
    "Targets":
        "Judged on Rosenbrock n=10^4 (list input) and the Lotka-Volterra RK4 "
        "problem, on the median figures above.",
}

TAPE_ENTRIES_NOTE = ("Entries on tape include the input entries: Rosenbrock records 8 "
                     "entries per term, the Lotka-Volterra loss 64 per step (RK4 stages, "
                     "update, misfit, sum).")


def section(title, body):
    """A section of RESULTS.md: heading, introduction, tables, a blank line."""
    intro = INTRODUCTIONS.get(title)
    lines = [f"## {title}", ""] + ([intro, ""] if intro else []) + body
    return lines if lines[-1] == "" else lines + [""]


AB_RESULTS = Path(__file__).resolve().with_name("AB.md")


AB_CALLGRIND_RESULTS = Path(__file__).resolve().with_name("AB_callgrind.md")


def render_ab(path=AB_RESULTS, callgrind=AB_CALLGRIND_RESULTS):
    """The last A/B of a core change against its predecessor (benchmarks/AB.md,
    and its instruction counts benchmarks/AB_callgrind.md, written by ab.py;
    see the README's Development section), as the lines of a section: their
    headings one level down. Empty if there is none."""
    lines = []
    for part in (path, callgrind):
        if not part.exists():
            continue
        if not lines:
            lines = ["## A/B: the current core against the previous one", ""]
        for line in part.read_text().splitlines():
            lines.append("#" + line if line.startswith("#") else line)
        lines.append("")
    return lines


def render_huge_tape(result):
    entries, per_entry, peak, recorded, swept, error = result
    return ["| entries | bytes / entry (tape) | peak RSS | record (Python loop) | "
            "reverse sweep | sweep per entry | gradient error |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {entries:,} | {per_entry:.1f} | {peak / 1e9:.2f} GB | {recorded:.1f} s | "
            f"{swept:.2f} s | {swept / entries * 1e9:.1f} ns | {error:.1e} |"]


def render_report(settings, info, checks, rows, seconds, dispatch, jacrev_rows, replay,
                  second, complex_rows, peer_lines, huge, array_lines=()):
    kind = "quick smoke run (`--quick`): small sizes, few repeats" if settings.quick \
        else "full run"
    lines = ["# fastad benchmark results", "",
             f"Written by `python benchmarks/run.py{' --quick' if settings.quick else ''}` "
             f"({kind}, {seconds:.0f} s). Do not edit by hand.", ""]
    lines += section("Machine", [f"- {key}: {value}" for key, value in info])
    lines += ["## Method", "", METHOD]
    for title, body in (
            ("Correctness", render_checks(checks)),
            ("Results", render_rows(rows) + ["", TAPE_ENTRIES_NOTE]),
            ("Diagnostics", render_diagnostics(rows)),
            ("Replay (`fastad.trace`)", render_replay(*replay)),
            ("Second order and forward mode", render_second_order(*second)),
            ("Jacobians by reverse mode", render_jacrev(jacrev_rows)),
            ("Complex numbers", render_complex(complex_rows)),
            ("NumPy dispatch", render_dispatch(*dispatch)),
            ("A tape of 10^8 entries", render_huge_tape(huge)),
            ("Targets", target_table(record_targets(rows), "measured (median)"))):
        lines += section(title, body)
    if array_lines:
        lines += section(ARRAYS_TITLE, list(array_lines))
    lines += render_ab()
    lines += peer_lines
    return "\n".join(lines) + "\n"


# ==== peers =======================================================================

def _cell(r, what):
    if r.status != "ok":
        return r.status
    if what == "time":
        return format_time(r.seconds)
    ratio = r.versus_plain if what == "plain" else r.versus_fastad
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def method_names(done):
    """The methods, in the order peers.py ran them."""
    return [r.method for r in done[0].results] if done else []


def headline_problems(done):
    """One representative size per problem family (Rosenbrock n=10^3: every
    peer runs it)."""
    return [p for p in done if p.problem.name != "Rosenbrock" or p.problem.size == "n=10^3"]


def render_headline(done):
    names = [n for n in method_names(done) if n != "plain Python"]
    lines = ["| problem | plain Python | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for p in headline_problems(done):
        by = {r.method: r for r in p.results}
        lines.append(f"| {p.problem.name} {p.problem.size} | "
                     f"{format_time(by['plain Python'].seconds)} | "
                     + " | ".join(_cell(by[n], "plain") for n in names) + " |")
    return lines


def render_details(done):
    lines = []
    for p in done:
        lines += [f"### {p.problem.name}, {p.problem.size} ({p.problem.kind}; "
                  f"{p.entries:,} operations)", "",
                  "| method | time per call | / plain Python | / fastad | one-off setup "
                  "| max abs diff vs fastad | note |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in p.results:
            setup = "" if r.setup_seconds is None else f"{r.setup_seconds:.3g} s {r.setup_label}"
            diff = "" if math.isnan(r.max_abs_diff) else f"{r.max_abs_diff:.1e}"
            note = r.reason if r.status != "ok" else ""
            lines.append(f"| {r.method} | {_cell(r, 'time')} | {_cell(r, 'plain')} "
                         f"| {_cell(r, 'fastad')} | {setup} | {diff} | {note} |")
        lines.append("")
    return lines


def versions():
    out = []
    for name in ("numpy", "autograd", "torch", "jax", "casadi"):
        try:
            module = __import__(name)
            out.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            out.append(f"{name} missing")
    return ", ".join(out)


def render_peers(done, plot_files):
    """The Peers section (peers.py's results): headline table, plots, targets, details."""
    lines = ["## Peers", "",
             "The same scalar Python source for every method (see benchmarks/problems.py "
             "and fastad/_problems.py: each problem takes its math functions from the "
             "backend it runs on). "
             "Medians over rounds in which every method runs once, one after the "
             "other; ratios are per round, to plain Python and to fastad (record + "
             "derivative) in the same round. GC off. One-off costs (jax.jit compile, "
             "CasADi build, fastad.trace) are apart. Every result is checked "
             "against fastad's. Versions: " + versions() + ".", "",
             "Time per derivative relative to plain-Python evaluation of the same code "
             "(lower is better):", ""]
    lines += render_headline(done)
    lines += [""]
    lines += [f"![{title}]({name})" for title, name in plot_files]
    lines += ["", "### Targets", ""]
    lines += target_table(peer_targets(done))
    lines += [""]
    lines += render_details(done)
    return lines


def plot_peers(done, folder):
    """Two PNGs: time against n for Rosenbrock, and ratios to plain Python.
    Returns [(title, file name)] (empty when matplotlib is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  matplotlib is not installed: no plots (pip install matplotlib)")
        return []
    files = []
    rosen = [p for p in done if p.problem.name == "Rosenbrock"]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name in method_names(done):
        points = [(p.problem.n, r.seconds) for p in rosen for r in p.results
                  if r.method == name and r.status == "ok"]
        if points:
            ax.plot(*zip(*points), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n (Rosenbrock, a Python loop)")
    ax.set_ylabel("seconds per gradient (plain Python: per evaluation)")
    ax.set_title("Gradient of extended Rosenbrock: time against size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "peers_rosenbrock.png", dpi=110)
    plt.close(fig)
    files.append(("Rosenbrock: time against n", "peers_rosenbrock.png"))

    chosen = headline_problems(done)
    names = [n for n in method_names(done) if n != "plain Python"]
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        heights = []
        for p in chosen:
            r = next(r for r in p.results if r.method == name)
            heights.append(r.versus_plain if r.status == "ok" else 0.0)
        xs = [i + (k - len(names) / 2) * width for i in range(len(chosen))]
        ax.bar(xs, heights, width, label=name)
    ax.set_yscale("log")
    ax.set_xticks(range(len(chosen)))
    ax.set_xticklabels([f"{p.problem.name}\n{p.problem.size}" for p in chosen], fontsize=7)
    ax.set_ylabel("time / plain-Python evaluation (log)")
    ax.set_title("Derivative cost relative to plain Python (no bar: capped, missing or n/a)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(folder / "peers_ratios.png", dpi=110)
    plt.close(fig)
    files.append(("Ratios to plain Python", "peers_ratios.png"))
    return files
