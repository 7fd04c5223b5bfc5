"""fastad benchmark suite: record+reverse cost relative to plain Python.

Run from the repository root, after building the core in place::

    python3 setup.py build_ext --inplace
    python3 benchmarks/run.py            # full run (about 5 minutes), writes benchmarks/RESULTS.md
    python3 benchmarks/run.py --quick    # smoke run (seconds): smaller sizes, fewer repeats
    python3 benchmarks/run.py --section arrays   # one section alone (printed)

It benchmarks the fastad of this checkout (the repository root goes first
on sys.path) and prints where it was imported from.
``--quick`` prints the report instead of overwriting RESULTS.md; give
``--output PATH`` to write it somewhere. The run exits with status 1 when a
gradient check fails (no timings are taken then); missed performance
targets are reported, not treated as failures. ``--section NAME`` runs one
section alone (with ``--quick`` at its smoke size) and prints its report,
or writes it to ``--output``; RESULTS.md is written only by a full run of
every section.

Problems (fastad/_problems.py, shared with ``python -m fastad``, and
benchmarks/problems.py)
    * extended Rosenbrock as a plain Python loop over an indexable sequence,
      n = 10**2 .. 10**5 (input as a list, and as an ndarray);
    * RK4 integration of Lotka-Volterra, 1000 steps of plain scalar code,
      a least-squares loss as a function of its 4 parameters;
    * complex numbers: a quadratic-map iteration and a complex least-squares
      loss, each against the same code on reals;
    * whole-array NumPy code (sections/arrays.py, benchmarks/array_problems.py):
      Rosenbrock as array expressions (n = 10^2, 10^4, 10^6), a logistic loss
      with X @ w and a 2-layer tanh MLP, value + gradient over the NumPy
      function itself, for fastad (record, replay), autograd, PyTorch eager,
      JAX (eager, jit) and CasADi MX, one fresh process per method, BLAS and
      every framework on one thread.

Method (fastad/_timing.py, shared with ``python -m fastad``)
    The machine this runs on is shared and its speed drifts by up to 2x
    within seconds, so absolute times are unreliable. Every timed sample of
    fastad is bracketed by samples of plain Python running the same function
    on floats (baseline, fastad, baseline, fastad, baseline, ...), each pair
    gives fastad / mean(the two neighbouring baselines), and the report gives
    the median of those ratios. Samples run an inner loop so each one takes
    at least MIN_SAMPLE_SECONDS. The garbage collector is disabled while
    timing except for the "gc on" column. Each problem and size is measured
    in a fresh process (see harness.in_fresh_process for why).

Layout
    run.py (this entry point) runs the sections of benchmarks/sections/ and
    peers.py, each in a fresh process, prints a summary and writes the report
    that report.py renders; targets.py judges the project's targets;
    harness.py holds what only the benchmarks need (fresh processes, page
    faults, tape statistics, machine information).

The main suite uses only the standard library, NumPy, fastad and
(optionally) SciPy and CasADi. Its last section, benchmarks/peers.py,
compares with autograd, PyTorch, JAX, CasADi, a micrograd-style tape and C
on the same scalar code, and draws PNG plots with matplotlib; these are
optional (``pip install ".[bench]"``): a missing one is reported as
missing.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

# First: limits BLAS threads and puts this checkout's fastad first on sys.path.
from harness import FULL, HERE, QUICK, in_fresh_process, machine_info

import fastad
from fastad._problems import lotka_volterra_problem

import peers
import report
import targets
from sections import (arrays, checks, complex_numbers, dispatch, huge_tape, jacrev, record,
                      replay, second_order)

DEFAULT_OUTPUT = HERE / "RESULTS.md"
SECTIONS = ("arrays",)  # the sections --section can run alone


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fast smoke run: n <= 10^4, few repeats; prints the "
                             "report instead of writing RESULTS.md unless --output is given")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"where to write the report (default {DEFAULT_OUTPUT} for "
                             f"a full run)")
    parser.add_argument("--section", choices=SECTIONS, default=None,
                        help="run only this section and print its report (or write it "
                             "to --output); RESULTS.md is left alone")
    return parser.parse_args(argv)


def plots_folder(output):
    """Where plots go: next to the committed ones when writing RESULTS.md's
    folder, else a temporary folder (a quick run leaves the committed plots alone)."""
    if output is not None and output.resolve().parent == HERE:
        return HERE
    return Path(tempfile.mkdtemp(prefix="fastad-plots-"))


def run_arrays(settings, plot_folder):
    """The whole-array section: (results, report lines)."""
    print("Whole-array NumPy code (value + gradient / NumPy f, paired, gc off; "
          "one fresh process per method):")
    results = arrays.run(settings.quick, in_fresh_process)
    files = report.plot_arrays(results, plot_folder)
    lines = report.render_arrays(results, files, arrays.thread_summary(results))
    return results, lines


def print_targets(judged):
    print("Targets:")
    for target, case, measured, met in judged:
        print(f"  {target:<48} {case:<26} {measured:>14}  {'met' if met else 'MISSED'}")


def main_section(args, settings, info, started):
    """--section NAME: that section alone."""
    output = args.output
    plot_folder = plots_folder(output)
    results, lines = run_arrays(settings, plot_folder)
    print(f"  plots written to {plot_folder}")
    text = report.render_section_only(settings, info, time.perf_counter() - started,
                                      report.ARRAYS_TITLE, lines)
    print_targets(targets.array_targets(results))
    if output is None:
        print()
        print(text)
    else:
        output.write_text(text)
        print(f"Wrote {output}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    started = time.perf_counter()
    print(f"fastad {fastad.__version__} from {Path(fastad.__file__).parent}")
    info = machine_info()
    if args.section is not None:
        return main_section(args, settings, info, started)

    print("Gradient checks:")
    check_results = checks.run_checks(settings, lotka_volterra_problem())
    if not all(c.ok for c in check_results):
        print("A gradient check FAILED: no timings taken.", file=sys.stderr)
        return 1

    print("Timings (gc off unless noted):")
    rows = []
    for n in settings.rosenbrock_sizes:
        rows += in_fresh_process(record.measure_rosenbrock, n, settings)
    rows += in_fresh_process(record.measure_lotka_volterra, settings)
    replay_result = in_fresh_process(replay.measure, settings)
    replay.summarize(replay_result)
    second = in_fresh_process(second_order.measure, settings)
    second_order.summarize(second)
    jacrev_rows = in_fresh_process(jacrev.measure, settings)
    jacrev.summarize(jacrev_rows)
    complex_rows = in_fresh_process(complex_numbers.measure, settings)
    complex_numbers.summarize(complex_rows)
    dispatch_result = in_fresh_process(dispatch.measure, settings)
    huge = in_fresh_process(huge_tape.measure, settings)
    huge_tape.summarize(huge)
    # A quick run leaves the committed plots alone.
    plot_folder = plots_folder(output)
    array_results, array_lines = run_arrays(settings, plot_folder)
    print("Peers (same scalar code; pip install '.[bench]' for the optional ones):")
    peer_lines, peer_targets = in_fresh_process(peers.run_peers, settings.quick,
                                                plot_folder)
    print(f"  plots written to {plot_folder}")
    dispatch.summarize(dispatch_result)

    text = report.render_report(settings, info, check_results, rows,
                                time.perf_counter() - started, dispatch_result, jacrev_rows,
                                replay_result, second, complex_rows, peer_lines, huge,
                                array_lines)
    print_targets(targets.record_targets(rows) + targets.replay_targets(*replay_result)
                  + targets.second_order_targets(*second) + peer_targets
                  + targets.array_targets(array_results))
    if output is None:
        print()
        print(text)
    else:
        output.write_text(text)
        print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
