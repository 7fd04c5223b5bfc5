"""A tape of 10**8 entries: what one entry costs in memory and in time.

A loop of y = y * h + x (h = 0.5, a variable, so that no entry pools a
constant) records two entries a step. The section reports
the bytes each entry takes (tape.nbytes over the entries), the peak
resident memory of the process (its high-water mark, which includes the
doubling growth of the arrays and the adjoints of the sweep), the time to
record through Python and the time of one reverse sweep, and checks the
gradient, 2 - 0.5**steps, against its closed form.
"""

import gc
import resource
import time

import fastad

HUGE_ENTRIES = {False: 10**8, True: 10**6}


def peak_bytes():
    """The process's peak resident memory (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(settings):
    """(entries, bytes per entry, peak bytes, record seconds, sweep seconds,
    gradient error)."""
    steps = HUGE_ENTRIES[settings.quick] // 2
    gc.disable()
    try:
        started = time.perf_counter()
        with fastad.Tape() as tape:
            x = tape.var(1.0)
            h = tape.var(0.5)
            y = x
            for _ in range(steps):
                y = y * h + x
        recorded = time.perf_counter() - started
        started = time.perf_counter()
        tape._sweep(y)
        swept = time.perf_counter() - started
        gradient = tape.gradient(y, x)
    finally:
        gc.enable()
    expected = 2.0 - 0.5 ** steps
    return (tape.n_entries, tape.nbytes / tape.n_entries, peak_bytes(), recorded, swept,
            abs(gradient - expected))


def summarize(result):
    entries, per_entry, peak, recorded, swept, error = result
    print(f"  tape of {entries:,} entries: {per_entry:.1f} bytes/entry, peak RSS "
          f"{peak / 1e9:.2f} GB, record {recorded:.1f} s, sweep {swept:.2f} s "
          f"({swept / entries * 1e9:.1f} ns/entry), gradient error {error:.1e}")
