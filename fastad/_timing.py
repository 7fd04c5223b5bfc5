"""Paired timing: a candidate's cost relative to a baseline timed beside it.

Used by ``python -m fastad`` and by the benchmarks (``benchmarks/``). The
machines fastad is measured on are often shared, and their speed can drift
by 2x within seconds, so absolute times are unreliable. What holds up is a
ratio measured side by side: every timed sample of the candidate is
bracketed by samples of the baseline (baseline, candidate, baseline,
candidate, baseline, ...; neighbouring pairs share a baseline sample), each
pair gives candidate / mean(the two neighbouring baselines), and the figure
is the median of those per-pair ratios. Each sample runs an inner loop long
enough (MIN_SAMPLE_SECONDS) that timer resolution and call overhead vanish,
and short enough that the machine's speed barely changes between the
samples of one pair. The garbage collector is off while timing unless asked
otherwise.

Only the standard library is used, so that the module also serves tools that
load it without importing fastad (``benchmarks/ab.py`` compares two builds
of the core and loads this file into each).
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

MIN_SAMPLE_SECONDS = 2e-3


@contextlib.contextmanager
def gc_state(enabled: bool) -> Iterator[None]:
    """Run the block with the cyclic garbage collector on or off."""
    was_enabled = gc.isenabled()
    gc.collect()  # start every series from the same, empty state
    (gc.enable if enabled else gc.disable)()
    try:
        yield
    finally:
        (gc.enable if was_enabled else gc.disable)()


def seconds_per_call(fn: Callable[[], object], calls: int) -> float:
    """Mean seconds per call over `calls` back-to-back calls of fn."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def calls_per_sample(fn: Callable[[], object],
                     min_seconds: float = MIN_SAMPLE_SECONDS) -> int:
    """Inner-loop length that makes one sample of fn last min_seconds."""
    fn()  # warm up (first-call allocations, caches)
    once = min(seconds_per_call(fn, 1) for _ in range(3))
    return max(1, math.ceil(min_seconds / max(once, 1e-9)))


def best_seconds(fn: Callable[[], object], samples: int,
                 min_seconds: float = MIN_SAMPLE_SECONDS) -> float:
    """Seconds per call of fn in its fastest sample: the least disturbed by
    other load (for figures that have no baseline to pair with)."""
    inner = calls_per_sample(fn, min_seconds)
    return min(seconds_per_call(fn, inner) for _ in range(samples))


def format_time(seconds: float) -> str:
    """A duration for a table: s, ms or us, three significant figures or so."""
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


@dataclass
class Series:
    """Paired samples: per-pair ratios and the raw per-call times."""
    ratios: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios candidate / baseline."""
        return statistics.median(self.ratios)

    @property
    def ratio_quartiles(self) -> tuple[float, float]:
        if len(self.ratios) < 2:
            return self.ratio, self.ratio
        q = statistics.quantiles(self.ratios, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def ratio_interval(self) -> tuple[float, float]:
        """An approximate 95% confidence interval of the median ratio."""
        return median_interval(self.ratios)

    @property
    def neighbour_ratios(self) -> list[float]:
        """Each candidate sample over each of its two neighbouring baseline
        samples singly: c_k / b_{k-1} and c_k / b_k (as taken by bracketed).

        The per-pair ratios above divide by the mean of two baseline
        samples, which a burst of other load hits about twice as often as
        the one candidate sample: on a busy machine their median leans
        towards the candidate being faster. One sample over one sample has
        no such lean, and taking both neighbours cancels a steady drift."""
        out = []
        for k, c in enumerate(self.candidate):
            out += [c / self.baseline[k], c / self.baseline[k + 1]]
        return out

    @property
    def baseline_time(self) -> float:
        return statistics.median(self.baseline)

    @property
    def candidate_time(self) -> float:
        return statistics.median(self.candidate)


def median_interval(values: list[float], effective: int | None = None) -> tuple[float, float]:
    """An approximate 95% confidence interval of the median of values, from
    order statistics (no assumption on their distribution). `effective` is
    the number of independent values, where they are fewer than len(values)."""
    r = sorted(values)
    n = len(r)
    m = effective or n
    k = max(0, math.floor(n / 2 - 0.98 * math.sqrt(m) * n / m))
    return r[k], r[n - 1 - k]


def bracketed(sample_baseline: Callable[[], float], sample_candidate: Callable[[], float],
              pairs: int) -> Series:
    """Alternate baseline and candidate samples, starting and ending with
    the baseline: b0 c1 b1 c2 b2 ... Pair k's ratio is c_k / mean(b_{k-1}, b_k),
    so each candidate sample is compared with the machine speed just before
    and just after it. Each sample_*() takes one sample and returns its
    seconds per call (a tool may take it in another process)."""
    out = Series()
    previous = sample_baseline()
    out.baseline.append(previous)
    for _ in range(pairs):
        c = sample_candidate()
        b = sample_baseline()
        out.candidate.append(c)
        out.baseline.append(b)
        out.ratios.append(c / (0.5 * (previous + b)))
        previous = b
    return out


def paired_series(baseline: Callable[[], object], candidate: Callable[[], object],
                  pairs: int, gc_enabled: bool = False,
                  min_seconds: float = MIN_SAMPLE_SECONDS) -> Series:
    """Time candidate against baseline as bracketed pairs (see bracketed)."""
    inner_b = calls_per_sample(baseline, min_seconds)
    inner_c = calls_per_sample(candidate, min_seconds)
    with gc_state(gc_enabled):
        return bracketed(lambda: seconds_per_call(baseline, inner_b),
                         lambda: seconds_per_call(candidate, inner_c), pairs)
