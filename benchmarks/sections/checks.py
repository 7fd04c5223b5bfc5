"""Correctness, checked before any timing: fastad's gradients against an
analytic gradient (Rosenbrock) and central differences (Lotka-Volterra)."""

import math
from dataclasses import dataclass

import numpy as np

import harness  # noqa: F401  (this checkout's fastad first on sys.path)
import fastad
from fastad._problems import LV_PARAMS, rosenbrock, rosenbrock_point
from problems import ROSENBROCK_REFERENCE, rosenbrock_reference_gradient


@dataclass
class Check:
    name: str
    reference: str
    max_abs: float
    max_rel: float  # max abs error / max |reference gradient|
    tolerance: float

    @property
    def ok(self):
        return self.max_rel <= self.tolerance


def compare_gradients(name, reference_name, got, want, tolerance):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return Check(name, reference_name, math.inf, math.inf, tolerance)
    max_abs = float(np.max(np.abs(got - want)))
    return Check(name, reference_name, max_abs,
                 max_abs / max(float(np.max(np.abs(want))), 1e-300), tolerance)


def check_rosenbrock(n):
    """fastad's gradient, list and ndarray input, against the analytic one."""
    x = rosenbrock_point(n)
    want = rosenbrock_reference_gradient(x)
    # The reference sums the same terms in another order: a few ulps apart.
    return [
        compare_gradients(f"Rosenbrock n={n} (list)", ROSENBROCK_REFERENCE,
                          fastad.grad(rosenbrock)(x), want, 1e-12),
        compare_gradients(f"Rosenbrock n={n} (ndarray)", ROSENBROCK_REFERENCE,
                          fastad.grad(rosenbrock)(np.array(x)), want, 1e-12),
    ]


def central_differences(f, params, rel_step=1e-6):
    grad = []
    for k, p in enumerate(params):
        h = rel_step * max(abs(p), 1.0)
        up, down = list(params), list(params)
        up[k] += h
        down[k] -= h
        grad.append((f(up) - f(down)) / (2 * h))
    return grad


def check_lotka_volterra(loss):
    # Central differences are good to about 1e-8 relative here; 1e-6 leaves
    # room for rounding while still catching any wrong derivative rule.
    return [compare_gradients("Lotka-Volterra RK4", "central differences",
                              fastad.grad(loss)(LV_PARAMS),
                              central_differences(loss, LV_PARAMS), 1e-6)]


def run_checks(settings, loss):
    """Every check, printed as it is made."""
    checks = []
    for n in settings.rosenbrock_sizes:
        checks += check_rosenbrock(n)
    checks += check_lotka_volterra(loss)
    for c in checks:
        print(f"  {c.name:<28} max abs err {c.max_abs:.2e}  max rel err {c.max_rel:.2e}  "
              f"(tol {c.tolerance:.0e}, vs {c.reference})  {'ok' if c.ok else 'FAILED'}")
    return checks
