"""Jacobians by reverse mode.

jacrev records f once and sweeps once per output: for m outputs at the end
of a long tape it should cost about record + m sweeps, against record + 1
sweep for the gradient of one scalar of the same recording.
"""

import numpy as np

from harness import tape_stats
import fastad
from fastad._problems import LV_PARAMS
from fastad._timing import paired_series
from problems import make_multi_output, summed

JACREV_OUTPUTS = (10, 100)


def measure(settings):
    """(m, entries, ratio series, sweep seconds) for each m."""
    rows = []
    for m in JACREV_OUTPUTS:
        f = make_multi_output(m)
        total = summed(f)
        x = np.array(LV_PARAMS)  # an array argument gives an (m, 4) Jacobian
        jac = fastad.jacrev(f)(x)
        check = np.array([fastad.grad(lambda p, k=k: f(p)[k])(x) for k in (0, m - 1)])
        if jac.shape != (m, 4) or not np.allclose(jac[[0, m - 1]], check, rtol=1e-13, atol=0):
            raise RuntimeError(f"jacrev rows disagree with grad for m={m}")
        series = paired_series(lambda: fastad.grad(total)(x),
                               lambda: fastad.jacrev(f)(x), settings.rk4_repeats)
        stats = tape_stats(total, LV_PARAMS, settings.sweep_repeats)
        rows.append((m, stats.entries, series, stats.sweep_ns * stats.entries * 1e-9))
    return rows


def summarize(rows):
    for m, entries, series, sweep in rows:
        print(f"  jacrev, m={m:<4} outputs: {series.ratio:.2f}x grad of the sum "
              f"(record + 1 sweep); sweep alone {sweep * 1e6:.0f} us")
