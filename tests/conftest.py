"""Shared helpers for the fastad test suite."""

import os

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--stress", action="store_true", default=False,
        help="run the long sizes: thousands of random scalar and array programs on every "
             "core, tens of thousands of fuzzed pickles, the thread and memory tests at length; "
             "FASTAD_STRESS=1 does the same")


def stress_mode(config):
    """Whether the long sizes were asked for (--stress or FASTAD_STRESS=1): the
    random programs (scalar and array), the pickle fuzzer, the thread and memory tests."""
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


# ---- central finite differences ------------------------------------------------------
# One family for the whole suite: central_diff and central_diff_grad above, and
# the helpers below. A central difference (f(x + s) - f(x - s)) / 2s has a
# truncation error of about |f'''(x)| s**2 / 6 and a rounding error of about
# eps |f(x)| / s. The step is relative, s = fd_step(x, h) = h * max(1, |x|)
# (absolute below |x| = 1), so that it stays the same fraction of the argument
# (central_diff's default; an explicit h of central_diff is the step itself):
#
# FD_STEP = 1e-6 for derivatives of values: errors of about 1e-12 (truncation)
#     plus 1e-10 (rounding) relative to the scale of f and its derivatives;
#     tests compare at 1e-6 relative or looser.
# FD_STEP_OF_DERIVATIVE = 1e-5 for differences of derivatives (second
#     derivatives, Jacobians of gradients): the larger step keeps rounding at
#     about 1e-11 with a truncation error of about 1e-10.
# Where the smoothness of f at the scale of the step is in doubt (random
# programs), central_diff_steps gives the differences at h and h / 2: they
# agree where f is smooth there (smooth_at_step), and richardson() combines
# them into an estimate with an O(h**4) truncation error.

FD_STEP = 1e-6
FD_STEP_OF_DERIVATIVE = 1e-5


def fd_step(x, h=FD_STEP):
    """The step of a central difference at x: h relative to |x|, absolute below 1."""
    return h * max(1.0, abs(x))


def central_diff_steps(f, x, h=FD_STEP, direction=1.0):
    """Central differences of f at the number x (real, or complex along
    `direction`, 1 or 1j) with the steps fd_step(x, h) and half of it, and f at
    the two points of the first: (fd_h, fd_half, f(x + s), f(x - s)). f may
    return numbers or arrays, real or complex."""
    step = fd_step(x, h)
    up, down = f(x + direction * step), f(x - direction * step)
    half_up, half_down = f(x + direction * (step / 2)), f(x - direction * (step / 2))
    return (up - down) / (2.0 * step), (half_up - half_down) / step, up, down


def smooth_at_step(fd_h, fd_half, rtol=1e-4):
    """Whether the differences with steps h and h / 2 agree: f is smooth at the
    scale of the step (no kink, jump or pole between the points)."""
    return bool(np.all(np.abs(fd_h - fd_half) <= rtol * (1.0 + np.abs(fd_h))))


def richardson(fd_h, fd_half):
    """Richardson extrapolation of central differences with steps h and h / 2:
    truncation error O(h**4)."""
    return (4.0 * fd_half - fd_h) / 3.0


def central_diff_jacobian(f, x, h=FD_STEP):
    """Central-difference Jacobian of f (float array -> array or number, real or
    complex) at the float array x, shaped out.shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    columns = []
    for k in range(x.size):
        step = fd_step(x.flat[k], h)
        xp, xm = x.copy(), x.copy()
        xp.flat[k] += step
        xm.flat[k] -= step
        columns.append((np.asarray(f(xp)) - np.asarray(f(xm))) / (2.0 * step))
    out = columns[0] if columns else np.asarray(f(x.copy()), dtype=np.float64)
    jac = np.empty(out.shape + x.shape, dtype=np.result_type(out.dtype, np.float64))
    for k, column in enumerate(columns):
        jac[(Ellipsis,) + np.unravel_index(k, x.shape)] = column
    return jac


def central_diff_directional(f, x, v, h=FD_STEP):
    """The derivative of f at x along v, (f(x + h v) - f(x - h v)) / 2h (numbers
    or arrays, real or complex). The step h v is absolute: v of order one."""
    return (f(x + h * v) - f(x - h * v)) / (2.0 * h)


# ---- hypothesis -----------------------------------------------------------------------
# One profile for every property test: deterministic examples (derandomize), no
# deadline (first calls compile and allocate), no example database (a run does
# not depend on earlier ones), and no health check failing a test for slow or
# heavily filtered generation. Tests set only max_examples: @settings(max_examples=N)
# takes the rest from the loaded profile.

from hypothesis import HealthCheck, settings  # noqa: E402

HYPOTHESIS_PROFILE = "fastad"
settings.register_profile(
    HYPOTHESIS_PROFILE, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large])
settings.load_profile(HYPOTHESIS_PROFILE)


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


@pytest.fixture
def stress(pytestconfig):
    """True when the long sizes were asked for (--stress or FASTAD_STRESS=1)."""
    return stress_mode(pytestconfig)
