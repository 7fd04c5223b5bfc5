"""The problems only the benchmarks use; the shared ones are in fastad/_problems.py.

Written the way a user would write them for floats. A problem that calls
math functions takes their namespace as an argument ``m`` (``m.exp``,
``m.log``, ``m.tanh``, ``m.sin``): the same source then runs on floats
(``math``), fastad Vars (``fastad``), autograd boxes, PyTorch tensors, JAX
tracers and CasADi symbols. Of fastad, only fastad._problems is used (the
shared problems); benchmarks/ab.py loads this checkout's copy of it into
each of the two builds it compares and runs these problems on both.
"""

import ctypes
import functools
import importlib.util
import math
import os
import subprocess
import tempfile

import numpy as np

from fastad._problems import (
    LV_DT,
    LV_INITIAL,
    LV_STEPS,
    lotka_volterra_problem,
    rk4_step,
    rosenbrock,
)


# ==== Rosenbrock: references ========================================================

# SciPy is optional (and imported only when used): a formula stands in.
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None
ROSENBROCK_REFERENCE = "scipy rosen_der" if HAVE_SCIPY else "analytic formula"


def rosenbrock_reference_gradient(x):
    """Analytic gradient (SciPy's rosen_der when SciPy is installed)."""
    x = np.asarray(x, dtype=np.float64)
    if HAVE_SCIPY:
        from scipy.optimize import rosen_der
        return rosen_der(x)
    g = np.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


ROSEN_C = r"""
double rosen_value_and_grad(const double* x, double* g, long n) {
    double f = 0.0;
    for (long i = 0; i < n; ++i) g[i] = 0.0;
    for (long i = 0; i + 1 < n; ++i) {
        double t = x[i + 1] - x[i] * x[i];
        double u = 1.0 - x[i];
        f += 100.0 * t * t + u * u;
        g[i] += -400.0 * t * x[i] - 2.0 * u;
        g[i + 1] += 200.0 * t;
    }
    return f;
}
"""


def compiled_c_rosenbrock():
    """The Rosenbrock value and gradient written by hand in C (above),
    compiled with the system compiler and loaded by ctypes: (value_and_grad,
    None), or (None, the reason) where that is not possible.
    value_and_grad(x, g) takes float64 arrays, writes g and returns the value."""
    folder = tempfile.mkdtemp(prefix="fastad-bench-")
    source, library = os.path.join(folder, "rosen.c"), os.path.join(folder, "rosen.so")
    with open(source, "w") as handle:
        handle.write(ROSEN_C)
    compiler = os.environ.get("CC", "cc")
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"{compiler} failed: {done.stderr.strip()[:200]}"
    lib = ctypes.CDLL(library)
    lib.rosen_value_and_grad.restype = ctypes.c_double
    lib.rosen_value_and_grad.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]

    def value_and_grad(x, g):
        return lib.rosen_value_and_grad(x.ctypes.data, g.ctypes.data, x.size)

    return value_and_grad, None


# ==== Lotka-Volterra with many outputs (jacrev) =====================================

def make_multi_output(m):
    """The RK4 Lotka-Volterra final state mixed into m outputs, f(params) -> list."""
    weights = [(1.0 + k / m, 2.0 - k / m) for k in range(m)]

    def f(params):
        alpha, beta, delta, gamma = params
        u, v = LV_INITIAL
        for _ in range(LV_STEPS):
            u, v = rk4_step(u, v, alpha, beta, delta, gamma, LV_DT)
        return [a * u + b * v for a, b in weights]

    return f


def summed(f):
    """params -> the sum of f's outputs, added in a loop (one scalar output)."""

    def total(params):
        s = 0.0
        for y in f(params):
            s = s + y
        return s

    return total


# ==== complex numbers ================================================================
# The same code runs on complex numbers and on reals.

COMPLEX_STEPS = 1000


def complex_recurrence(p):
    """A quadratic-map iteration and a misfit: |z_n|^2 after z <- z*z/4 + c.

    The same code runs on complex p (z0, c) and on real p; the loss is
    abs(.)**2 either way."""
    z, c = p[0], p[1]
    for _ in range(COMPLEX_STEPS):
        z = z * z * 0.25 + c
    return abs(z) ** 2


def complex_least_squares_loops(p):
    """sum_i |sum_j A_ij z_j - b_i|^2 as loops, p = (A, b, z), complex or real
    (fastad._problems.complex_least_squares is the NumPy form)."""
    A, b, z = p
    total = 0.0
    for i in range(len(b)):
        r = -b[i]
        for j in range(len(z)):
            r = r + A[i][j] * z[j]
        total = total + abs(r) ** 2
    return total


def complex_least_squares_data(rows=20, columns=10, seed=11):
    """Complex A (rows x columns), b and z from a fixed seed, as ndarrays."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(rows, columns)) + 1j * rng.normal(size=(rows, columns))
    b = rng.normal(size=rows) + 1j * rng.normal(size=rows)
    z = rng.normal(size=columns) + 1j * rng.normal(size=columns)
    return A, b, z


# ==== a PDE residual (Jacobians) =====================================================

def pde_residual(u, m):
    """Residual of -u'' + u**3 - sin(u) = 1 on a grid of len(u) points, as a list."""
    n = len(u)
    h2 = 1.0 / (n + 1) ** 2
    out = []
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i < n - 1 else 0.0
        out.append((2.0 * u[i] - left - right) / h2 + u[i] ** 3 - m.sin(u[i]) - 1.0)
    return out


# ==== the peers' problems: every one as f(x, m) ======================================

def rosenbrock_m(x, m):
    """fastad._problems.rosenbrock (arithmetic only: m unused)."""
    return rosenbrock(x)


@functools.cache
def _lotka_volterra_loss():
    return lotka_volterra_problem()


def lotka_volterra_m(p, m):
    """The RK4 Lotka-Volterra loss of fastad._problems (arithmetic only: m unused)."""
    return _lotka_volterra_loss()(p)


MLP_SAMPLES = 32
MLP_HIDDEN = 16
_rng = np.random.default_rng(2024)
MLP_X = _rng.uniform(-1.0, 1.0, (MLP_SAMPLES, 2)).tolist()
MLP_Y = [math.sin(3.0 * a) * math.cos(2.0 * b) for a, b in MLP_X]
# parameter layout: W1 (16x2), b1 (16), W2 (16x16), b2 (16), w3 (16), b3
MLP_PARAMS = 2 * MLP_HIDDEN + MLP_HIDDEN + MLP_HIDDEN ** 2 + MLP_HIDDEN + MLP_HIDDEN + 1


def mlp_loss(p, m):
    """Mean squared error of a 2-16-16-1 tanh network on 32 samples."""
    H = MLP_HIDDEN
    b1, W2, b2, w3, b3 = 2 * H, 3 * H, 3 * H + H * H, 4 * H + H * H, 5 * H + H * H
    total = 0.0
    for s in range(MLP_SAMPLES):
        x0, x1 = MLP_X[s]
        h1 = [m.tanh(p[2 * j] * x0 + p[2 * j + 1] * x1 + p[b1 + j]) for j in range(H)]
        h2 = []
        for j in range(H):
            a = p[b2 + j]
            for k in range(H):
                a = a + p[W2 + H * j + k] * h1[k]
            h2.append(m.tanh(a))
        out = p[b3]
        for k in range(H):
            out = out + p[w3 + k] * h2[k]
        d = out - MLP_Y[s]
        total = total + d * d
    return total / MLP_SAMPLES


LOGISTIC_FEATURES = 10
LOGISTIC_SAMPLES = 500
LOGISTIC_X = _rng.normal(size=(LOGISTIC_SAMPLES, LOGISTIC_FEATURES)).tolist()
LOGISTIC_Y = [1.0 if v > 0 else -1.0 for v in
              (np.asarray(LOGISTIC_X) @ np.linspace(-1, 1, LOGISTIC_FEATURES)
               + 0.5 * _rng.normal(size=LOGISTIC_SAMPLES))]


def logistic_nll(p, m):
    """Negative log-likelihood of logistic regression: 10 weights and a bias."""
    total = 0.0
    for s in range(LOGISTIC_SAMPLES):
        row = LOGISTIC_X[s]
        z = p[LOGISTIC_FEATURES]
        for k in range(LOGISTIC_FEATURES):
            z = z + p[k] * row[k]
        total = total + m.log(1.0 + m.exp(-LOGISTIC_Y[s] * z))
    return total
