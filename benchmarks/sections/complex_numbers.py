"""Complex numbers.

The same Python code run on complex numbers and on reals: a complex
operation expands into real tape entries (a product into four products and
two sums), so the interesting figure is what a complex gradient costs
against a real gradient of the same code (the same operation count).
"""

from dataclasses import dataclass

import numpy as np

import harness  # noqa: F401  (this checkout's fastad first on sys.path)
import fastad
from fastad._problems import complex_least_squares_gradient
from fastad._timing import Series, paired_series
from problems import (
    COMPLEX_STEPS,
    complex_least_squares_data,
    complex_least_squares_loops,
    complex_recurrence,
)


@dataclass
class ComplexRow:
    problem: str
    entries_real: int
    entries_complex: int
    plain: Series        # plain complex evaluation against plain real
    gradient: Series     # fastad complex gradient against fastad real gradient
    versus_plain: Series  # fastad complex gradient against plain complex evaluation
    replay: Series       # replayed complex gradient against replayed real gradient
    check: float         # max abs difference of the complex gradient from the reference


def complex_row(problem, f_complex, f_real, complex_point, real_point, reference, settings):
    """f_complex at a list of complex numbers against its real twin f_real
    (the same code with real constants) at a list of reals."""
    grad_c = fastad.grad(f_complex)
    grad_r = fastad.grad(f_real)
    g = grad_c(complex_point)
    check = float(np.max(np.abs(np.asarray(g) - reference)))
    repeats = settings.rk4_repeats
    plain = paired_series(lambda: f_real(real_point), lambda: f_complex(complex_point),
                          repeats)
    gradient = paired_series(lambda: grad_r(real_point), lambda: grad_c(complex_point),
                             repeats)
    versus_plain = paired_series(lambda: f_complex(complex_point),
                                 lambda: grad_c(complex_point), repeats)
    entries = []
    for f, point in ((f_real, real_point), (f_complex, complex_point)):
        with fastad.Tape() as tape:
            f([tape.var(v) for v in point])
        entries.append(tape.n_entries)
    F_r = fastad.trace(f_real, real_point)
    F_c = fastad.trace(f_complex, complex_point)
    if not np.allclose(F_c.grad(complex_point), g, rtol=1e-12, atol=1e-12):
        raise RuntimeError(f"{problem}: complex replay disagrees with recording")
    replay = paired_series(lambda: F_r.grad(real_point), lambda: F_c.grad(complex_point),
                           repeats)
    return ComplexRow(problem, entries[0], entries[1], plain, gradient, versus_plain,
                      replay, check)


def quadratic_map_reference(z0, c, h=1e-7):
    """Gradient of complex_recurrence at (z0, c) by central differences along
    both axes: dloss/dRe + 1j dloss/dIm for each argument."""

    def loss(z, c):
        return complex_recurrence([z, c])

    return np.array([
        (loss(z0 + h, c) - loss(z0 - h, c)) / (2 * h)
        + 1j * (loss(z0 + 1j * h, c) - loss(z0 - 1j * h, c)) / (2 * h),
        (loss(z0, c + h) - loss(z0, c - h)) / (2 * h)
        + 1j * (loss(z0, c + 1j * h) - loss(z0, c - 1j * h)) / (2 * h)])


def measure(settings):
    rows = []
    z0, c = 0.3 + 0.2j, 0.1 - 0.3j
    rows.append(complex_row(f"quadratic map, {COMPLEX_STEPS} steps", complex_recurrence,
                            complex_recurrence, [z0, c], [0.3, 0.1],
                            quadratic_map_reference(z0, c), settings))
    A, b, z = complex_least_squares_data()
    complex_data = (A.tolist(), b.tolist())
    real_data = (A.real.tolist(), b.real.tolist())

    def lsq_complex(zs):
        return complex_least_squares_loops(complex_data + (zs,))

    def lsq_real(zs):
        return complex_least_squares_loops(real_data + (zs,))

    rows.append(complex_row("least squares 20x10 (loops)", lsq_complex, lsq_real,
                            z.tolist(), z.real.tolist(),
                            complex_least_squares_gradient(A, b, z), settings))
    return rows


def summarize(rows):
    for r in rows:
        print(f"  complex {r.problem:<28} complex grad / real grad {r.gradient.ratio:.2f}x "
              f"(entries {r.entries_complex / r.entries_real:.2f}x), "
              f"/ plain complex {r.versus_plain.ratio:.2f}x, replay {r.replay.ratio:.2f}x")
