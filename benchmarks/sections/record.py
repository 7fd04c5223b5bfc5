"""Record + gradient against plain Python (the main table).

For each problem and size: ``fastad.grad(f)(x)`` against plain Python
running the same f on floats, as paired ratios with the garbage collector
off and on; the reverse sweep alone and the tape's bytes per entry
(harness.tape_stats); minor page faults per call. run.py measures each
problem and size in its own fresh process.
"""

import math
from dataclasses import dataclass

import numpy as np

from harness import TapeStats, minor_faults_per_call, tape_stats
import fastad
from fastad._problems import (
    LV_PARAMS,
    LV_STEPS,
    lotka_volterra_problem,
    rosenbrock,
    rosenbrock_point,
)
from fastad._timing import Series, format_time, paired_series


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
