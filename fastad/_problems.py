"""Problems shared by ``python -m fastad`` and the benchmarks (``benchmarks/``).

Each is written the way a user would write it for floats: fastad must
handle this code unchanged, and a plain-Python baseline runs exactly the
same function. They use arithmetic only (and NumPy for data), so the same
source also runs on other systems' scalars, and the module imports nothing
from fastad. Problems only the benchmarks use are in benchmarks/problems.py.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


# ==== extended Rosenbrock ===========================================================

def rosenbrock(x: Sequence[Any]) -> Any:
    """Extended Rosenbrock function of an indexable sequence, as a plain loop."""
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def rosenbrock_point(n: int) -> list[float]:
    """A fixed point away from the minimum (where the gradient would vanish)."""
    points: list[float] = np.random.default_rng(12345).uniform(-1.5, 1.5, n).tolist()
    return points


# ==== RK4 Lotka-Volterra least-squares loss ========================================

LV_STEPS = 1000
LV_DT = 0.01
LV_INITIAL = (10.0, 5.0)  # prey, predator
LV_TRUE_PARAMS = [1.1, 0.4, 0.1, 0.4]  # alpha, beta, delta, gamma
LV_PARAMS = [1.0, 0.45, 0.12, 0.35]  # where the loss and gradient are taken


def rk4_step(u: Any, v: Any, alpha: Any, beta: Any, delta: Any, gamma: Any,
             dt: float) -> tuple[Any, Any]:
    """One classical Runge-Kutta step of Lotka-Volterra (u prey, v predator)."""
    half, sixth = 0.5 * dt, dt / 6.0
    k1u = alpha * u - beta * u * v
    k1v = delta * u * v - gamma * v
    u2, v2 = u + half * k1u, v + half * k1v
    k2u = alpha * u2 - beta * u2 * v2
    k2v = delta * u2 * v2 - gamma * v2
    u3, v3 = u + half * k2u, v + half * k2v
    k3u = alpha * u3 - beta * u3 * v3
    k3v = delta * u3 * v3 - gamma * v3
    u4, v4 = u + dt * k3u, v + dt * k3v
    k4u = alpha * u4 - beta * u4 * v4
    k4v = delta * u4 * v4 - gamma * v4
    return (u + sixth * (k1u + 2 * k2u + 2 * k3u + k4u),
            v + sixth * (k1v + 2 * k2v + 2 * k3v + k4v))


def lotka_volterra_trajectory(params: Sequence[float]) -> tuple[list[float], list[float]]:
    """Prey and predator after each step, as two lists of floats."""
    u, v = LV_INITIAL
    alpha, beta, delta, gamma = params
    us, vs = [], []
    for _ in range(LV_STEPS):
        u, v = rk4_step(u, v, alpha, beta, delta, gamma, LV_DT)
        us.append(u)
        vs.append(v)
    return us, vs


def make_lotka_volterra_loss(observed_prey: Sequence[float],
                             observed_predator: Sequence[float]
                             ) -> Callable[[Sequence[Any]], Any]:
    """Least-squares misfit of the RK4 trajectory to observations, f(params)."""

    def loss(params: Sequence[Any]) -> Any:
        alpha, beta, delta, gamma = params
        u, v = LV_INITIAL
        s = 0.0
        for k in range(LV_STEPS):
            u, v = rk4_step(u, v, alpha, beta, delta, gamma, LV_DT)
            s = s + (u - observed_prey[k]) ** 2 + (v - observed_predator[k]) ** 2
        return s

    return loss


def lotka_volterra_problem() -> Callable[[Sequence[Any]], Any]:
    """The loss function, with synthetic observations from the true parameters."""
    return make_lotka_volterra_loss(*lotka_volterra_trajectory(LV_TRUE_PARAMS))


# ==== complex least squares ========================================================

def complex_least_squares(A: Any, b: Any) -> Callable[[Any], Any]:
    """z -> sum |A z - b|^2 for complex A, b and an array z (NumPy form)."""
    return lambda z: np.sum(np.abs(A @ z - b) ** 2)


def complex_least_squares_gradient(A: Any, b: Any, z: Any) -> Any:
    """Its gradient in closed form, dloss/dRe z + 1j dloss/dIm z = 2 A^H (A z - b)."""
    return 2 * np.conj(A).T @ (A @ z - b)


# ==== logistic regression, whole-array NumPy ==========================================

def logistic_problem(n_rows: int = 5_000, n_cols: int = 50,
                     seed: int = 0) -> tuple[Callable[[Any], Any], list[float]]:
    """(loss, w0): the mean logistic loss of a constant X (n_rows x n_cols)
    and labels +-1, plus a small ridge term, written with whole NumPy
    arrays; w may be a list of floats or an array (a fastad.Array when
    differentiated)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_cols))
    y = np.where(rng.standard_normal(n_rows) > 0.0, 1.0, -1.0)

    def loss(w: Any) -> Any:
        return np.mean(np.log1p(np.exp(-y * (X @ w)))) + 1e-3 * np.sum(np.square(w))

    return loss, [float(v) for v in rng.standard_normal(n_cols) * 0.1]
