"""fastad._timing (the paired timing of python -m fastad and the benchmarks)
and fastad._problems (their shared problems)."""

import math

import numpy as np
import pytest

import fastad
from fastad import _problems, _timing


def samples(values):
    """A sample function returning the given seconds per call, in turn."""
    it = iter(values)
    return lambda: next(it)


def test_bracketed_pairs_each_candidate_with_the_baselines_around_it():
    series = _timing.bracketed(samples([1.0, 3.0, 2.0]), samples([4.0, 5.0]), 2)
    assert series.baseline == [1.0, 3.0, 2.0]
    assert series.candidate == [4.0, 5.0]
    assert series.ratios == [4.0 / 2.0, 5.0 / 2.5]
    assert series.neighbour_ratios == [4.0, 4.0 / 3.0, 5.0 / 3.0, 2.5]
    assert series.ratio == pytest.approx(2.0)
    assert series.baseline_time == 2.0 and series.candidate_time == 4.5


def test_a_steady_drift_cancels_in_the_ratios():
    # The machine slows down linearly; the candidate costs 1.5x the baseline.
    clock = iter(range(1000))
    drift = lambda: 1.0 + 0.01 * next(clock)  # noqa: E731
    series = _timing.bracketed(lambda: drift(), lambda: 1.5 * drift(), 20)
    assert series.ratio == pytest.approx(1.5, rel=1e-12)
    assert np.median(series.neighbour_ratios) == pytest.approx(1.5, rel=1e-3)


def test_median_interval_holds_the_median_and_narrows_with_more_values():
    rng = np.random.default_rng(0)
    small = rng.normal(1.0, 0.05, 25).tolist()
    large = rng.normal(1.0, 0.05, 400).tolist()
    for values in (small, large):
        low, high = _timing.median_interval(values)
        assert low <= np.median(values) <= high
    assert np.subtract(*_timing.median_interval(large)[::-1]) \
        < np.subtract(*_timing.median_interval(small)[::-1])
    # Values that are not independent (each counted twice) widen it.
    doubled = sorted(small + small)
    assert _timing.median_interval(doubled, effective=25) == _timing.median_interval(small)


def test_paired_series_times_real_calls_with_the_collector_restored():
    import gc
    was = gc.isenabled()
    series = _timing.paired_series(lambda: sum(range(100)), lambda: sum(range(200)), 3,
                                   min_seconds=1e-4)
    assert gc.isenabled() == was
    assert len(series.ratios) == 3 and all(r > 0 for r in series.ratios)


def test_format_time():
    assert _timing.format_time(2.5) == "2.50 s"
    assert _timing.format_time(2.5e-3) == "2.50 ms"
    assert _timing.format_time(2.5e-6) == "2.5 us"


def test_shared_problems_differentiate_as_their_references():
    x = _problems.rosenbrock_point(50)
    g = fastad.grad(_problems.rosenbrock)(x)
    xs = np.asarray(x)
    inner = xs[1:] - xs[:-1] ** 2
    want = np.zeros_like(xs)
    want[:-1] += -400.0 * xs[:-1] * inner - 2.0 * (1.0 - xs[:-1])
    want[1:] += 200.0 * inner
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-9)

    loss = _problems.lotka_volterra_problem()
    assert loss(_problems.LV_TRUE_PARAMS) == 0.0  # the observations come from them
    assert math.isfinite(loss(_problems.LV_PARAMS)) and loss(_problems.LV_PARAMS) > 0

    rng = np.random.default_rng(4)
    A = rng.normal(size=(5, 3)) + 1j * rng.normal(size=(5, 3))
    b = rng.normal(size=5) + 1j * rng.normal(size=5)
    z = rng.normal(size=3) + 1j * rng.normal(size=3)
    g = fastad.grad(_problems.complex_least_squares(A, b))(z)
    np.testing.assert_allclose(g, _problems.complex_least_squares_gradient(A, b, z),
                               rtol=1e-12, atol=1e-12)

    loss, w0 = _problems.logistic_problem(n_rows=300, n_cols=7)
    w = np.asarray(w0)
    g = fastad.grad(loss)(w)
    rng = np.random.default_rng(0)   # the problem's own data, made again
    X = rng.standard_normal((300, 7))
    y = np.where(rng.standard_normal(300) > 0.0, 1.0, -1.0)
    margin = -y * (X @ w)
    want = X.T @ (-y / (1.0 + np.exp(-margin))) / 300 + 2e-3 * w
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)
    assert loss(w0) == loss(w)   # a list of floats or an array


def test_the_self_check_passes(capsys):
    from fastad import __main__ as self_check
    assert self_check.main([]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "Logistic loss" in out
    assert out.count("-> ok") == 4 and "FAILED" not in out
