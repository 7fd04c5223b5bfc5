"""Shared helpers for the fastad test suite."""

import os

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--stress", action="store_true", default=False,
        help="run the random-program checker (test_random_programs.py) at its stress size, "
             "thousands of programs on every core; FASTAD_STRESS=1 does the same")


def stress_mode(config):
    """Whether the long-running sizes were asked for (--stress or FASTAD_STRESS=1)."""
    return bool(config.getoption("--stress")) or os.environ.get("FASTAD_STRESS") == "1"


def central_diff(f, x, h=None):
    """Central finite difference of a scalar function f of one float at x.

    The step is scaled with |x| so that it stays a fixed fraction of the
    argument's magnitude (relative error of about h**2 plus eps/h).
    """
    x = float(x)
    if h is None:
        h = 1e-6 * max(1.0, abs(x))
    return (float(f(x + h)) - float(f(x - h))) / (2.0 * h)


def central_diff_grad(f, x, h=1e-6):
    """Central-difference gradient of scalar f at the float array x."""
    x = np.asarray(x, dtype=np.float64)
    g = np.empty_like(x)
    flat = g.reshape(-1)
    for k in range(x.size):
        step = h * max(1.0, abs(x.flat[k]))
        xp = x.copy()
        xm = x.copy()
        xp.flat[k] += step
        xm.flat[k] -= step
        flat[k] = (float(f(xp)) - float(f(xm))) / (2.0 * step)
    return g


def assert_close(actual, expected, rtol=1e-12, atol=1e-14):
    """allclose with nan == nan, for numbers and arrays."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


def same_float(a, b):
    """a and b are the same float: equal (nan equal to nan) with the same sign bit."""
    a = float(a)
    b = float(b)
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return a == b and np.signbit(a) == np.signbit(b)


@pytest.fixture(autouse=True)
def _quiet_numpy_float_warnings():
    """IEEE results (inf, nan) are expected in many tests: keep NumPy quiet."""
    with np.errstate(all="ignore"):
        yield


class Counted:
    """f with a count of its calls (to see when a Function re-traces)."""

    def __init__(self, f):
        self.f = f
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def same_bits(a, b):
    """Arrays (or numbers) equal bit for bit, shapes included."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and all(same_float(p, q) for p, q in zip(a.reshape(-1), b.reshape(-1)))
