"""``python -m fastad``: a self-check and speed report on built-in problems.

Confirms the compiled core is loaded, differentiates two problems written as
ordinary Python loops and one written with whole NumPy arrays, checks each
gradient against central finite differences and its replay (fastad.trace)
against the recording, and times recording and replay against plain
evaluation of the same code (Python or NumPy on floats) as
paired ratios (each fastad sample bracketed by two baseline samples,
median of the per-pair ratios, garbage collector off). Exits non-zero if a
check fails. The problems (fastad._problems) and the timing method
(fastad._timing) are those of the benchmarks in benchmarks/.
"""

import argparse
import importlib.machinery
import random
import sys
from typing import Any, Callable, Sequence

import fastad
from fastad import _core
from fastad._problems import (
    LV_PARAMS,
    complex_least_squares,
    complex_least_squares_gradient,
    logistic_problem,
    lotka_volterra_problem,
    rosenbrock,
    rosenbrock_point,
)
from fastad._timing import paired_series

PAIRS = 7  # paired samples per timing


def check_gradient(f: Callable[[list[float]], float], x: list[float], g: list[float],
                   rng: random.Random, n_directions: int = 3, n_coordinates: int = 3) -> float:
    """Largest relative error of g against central differences of f at x,
    along random directions and at sampled coordinates.

    The error of each directional derivative is relative to sum |g_i d_i|,
    the size of its terms, so cancellation in g . d does not inflate it.
    """
    worst = 0.0
    n = len(x)
    probes = []
    for _ in range(n_directions):
        probes.append([rng.gauss(0.0, 1.0) for _ in range(n)])
    for i in rng.sample(range(n), min(n_coordinates, n)):
        probes.append([1.0 if j == i else 0.0 for j in range(n)])
    for d in probes:
        h = 1e-5 * max(1.0, max(abs(v) for v in x))  # ~ cbrt(eps): least total error
        up = f([xi + h * di for xi, di in zip(x, d)])
        down = f([xi - h * di for xi, di in zip(x, d)])
        fd = (up - down) / (2.0 * h)
        exact = sum(gi * di for gi, di in zip(g, d))
        scale = sum(abs(gi * di) for gi, di in zip(g, d))
        worst = max(worst, abs(fd - exact) / max(scale, 1e-300))
    return worst


def compiled_core() -> str:
    """Path of the loaded compiled core; raises if it is not an extension."""
    path = _core.__file__
    if not isinstance(_core.__loader__, importlib.machinery.ExtensionFileLoader):
        raise RuntimeError(f"fastad's core is not the compiled extension: {path}")
    return path


def check_complex(rng: random.Random) -> bool:
    """Gradient of a complex least-squares loss against its closed form."""
    import numpy as np

    def normal(*shape: int) -> Any:
        return np.array([rng.gauss(0.0, 1.0) + 1j * rng.gauss(0.0, 1.0)
                         for _ in range(int(np.prod(shape)))]).reshape(shape)

    A, b, z = normal(5, 3), normal(5), normal(3)
    g = fastad.grad(complex_least_squares(A, b))(z)
    error = float(np.max(np.abs(g - complex_least_squares_gradient(A, b, z))))
    holomorphic = fastad.grad(lambda v: v ** 3, holomorphic=True)(z[0])
    error = max(error, float(abs(holomorphic - 3 * z[0] ** 2)))
    passed = bool(error < 1e-12)
    print()
    print("Complex: grad of sum |A z - b|^2 against 2 A^H (A z - b), and d(z^3)/dz "
          f"(holomorphic): max abs error {error:.1e} -> {'ok' if passed else 'FAILED'}")
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m fastad",
        description="Self-check and speed report: gradients of built-in problems "
                    "against finite differences, and timings against plain Python.",
    ).parse_args(argv)
    print(f"fastad {fastad.__version__} (Python {sys.version.split()[0]})")
    print(f"compiled core: {compiled_core()}")
    rng = random.Random(0)
    logistic, w0 = logistic_problem()
    # (title, f, x, whether f takes a whole array)
    problems: list[tuple[str, Callable[[Any], Any], list[float], bool]] = [
        ("Rosenbrock, n = 10,000 (Python loop)", rosenbrock, rosenbrock_point(10_000), False),
        ("RK4 Lotka-Volterra least-squares loss, 1,000 steps, 4 parameters",
         lotka_volterra_problem(), list(LV_PARAMS), False),
        ("Logistic loss, X 5,000 x 50 constant (whole-array NumPy: X @ w, exp, log1p, mean)",
         logistic, w0, True),
    ]
    ok = True
    for title, f, x, whole_array in problems:
        if whole_array:
            import numpy as np
            x_arg: Any = np.array(x)
        else:
            x_arg = x
        value, g = fastad.value_and_grad(f)(x_arg)
        error = check_gradient(f, x, list(g), rng)
        # a matrix product sums in BLAS's order, NumPy's f in its own
        passed = error < 1e-5 and abs(value - f(x_arg)) <= 1e-12 * max(1.0, abs(value))
        ok = ok and passed
        with fastad.Tape() as tape:
            # to report the tape's size
            f(tape.var(x_arg)) if whole_array else f(list(tape.var(x)))
        replayed = fastad.trace(f, x_arg)
        replay_value, replay_grad = replayed.value_and_grad(x_arg)
        replay_ok = replay_value == value and list(replay_grad) == list(g)
        ok = ok and replay_ok
        recording = paired_series(lambda: f(x_arg), lambda: fastad.grad(f)(x_arg), PAIRS)
        replay = paired_series(lambda: f(x_arg), lambda: replayed.value_and_grad(x_arg), PAIRS)
        print()
        print(title)
        print(f"  value {value:.10g}; gradient vs finite differences: "
              f"max rel. error {error:.1e} -> {'ok' if passed else 'FAILED'}")
        print(f"  tape: {tape.n_entries:,} entries, "
              f"{tape.nbytes / tape.n_entries:.1f} bytes/entry (+8 for the adjoint in a sweep)")
        plain = "plain NumPy evaluation " if whole_array else "plain Python evaluation"
        print(f"  {plain}      {recording.baseline_time * 1e3:9.3f} ms   1.00x")
        print(f"  fastad record + gradient     {recording.candidate_time * 1e3:9.3f} ms   "
              f"{recording.ratio:.2f}x  (paired ratio, GC off)")
        print(f"  fastad replay value + grad   {replay.candidate_time * 1e3:9.3f} ms   "
              f"{replay.ratio:.2f}x  "
              f"(fastad.trace; equals the recording: {'ok' if replay_ok else 'FAILED'})")
    complex_ok = check_complex(rng)
    ok = ok and complex_ok
    print()
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
