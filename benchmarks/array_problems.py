"""The whole-array workloads (benchmarks/sections/arrays.py), once per framework.

Each workload is NumPy code a user would write for floats: f takes a real
array (or a dict of arrays) and returns a number. fastad differentiates
that very function (its argument arrives as a ``fastad.Array``); for each
peer the same f is written once more in the peer's idiom (``anp`` for
autograd, ``torch`` for PyTorch, ``jnp`` for JAX, MX symbols for CasADi).
The data (X, y) are constants built from fixed seeds, identical for every
method.

    Rosenbrock   np.sum(100*(x[1:]-x[:-1]**2)**2 + (1-x[:-1])**2), n = 10^2, 10^4, 10^6
    logistic     np.mean(np.log(1 + np.exp(-y * (X @ w)))) + 1e-3 * np.sum(w**2),
                 X 10^4 x 100 constant, y = +-1
    MLP          np.mean((np.tanh(X @ W1 + b1) @ W2 + b2 - y)**2), X 256 x 32,
                 W1 32 x 64, W2 64 x 1: the dict {W1, b1, W2, b2} differentiated together
"""

import functools
import math
from dataclasses import dataclass

import numpy as np

LOGISTIC_FEATURES = 100
MLP_SAMPLES, MLP_INPUTS, MLP_HIDDEN = 256, 32, 64
MLP_KEYS = ("W1", "b1", "W2", "b2")


@dataclass(frozen=True)
class Workload:
    key: str        # e.g. "rosenbrock-1000000", "logistic-10000", "mlp"
    family: str     # "Rosenbrock", "logistic loss", "2-layer tanh MLP"
    size: str       # e.g. "n=10^6"
    n: int          # number of inputs
    rows: int       # Rosenbrock: n; logistic: rows of X; MLP: samples


def workloads(quick):
    """The workloads of a run: full sizes, or the --quick smoke sizes."""
    sizes = (10**2, 10**4) if quick else (10**2, 10**4, 10**6)
    rows = 10**3 if quick else 10**4
    out = [Workload(f"rosenbrock-{n}", "Rosenbrock", f"n=10^{round(math.log10(n))}", n, n)
           for n in sizes]
    out.append(Workload(f"logistic-{rows}", "logistic loss",
                        f"X {rows:,} x {LOGISTIC_FEATURES}", LOGISTIC_FEATURES, rows))
    n_mlp = MLP_INPUTS * MLP_HIDDEN + MLP_HIDDEN + MLP_HIDDEN + 1
    out.append(Workload("mlp", "2-layer tanh MLP",
                        f"X {MLP_SAMPLES} x {MLP_INPUTS}, {n_mlp:,} params", n_mlp,
                        MLP_SAMPLES))
    return out


def find(key, quick):
    return next(w for w in workloads(quick) if w.key == key)


# ==== data and points ==============================================================

@functools.cache
def logistic_data(rows):
    rng = np.random.default_rng(101)
    X = rng.normal(size=(rows, LOGISTIC_FEATURES)) / math.sqrt(LOGISTIC_FEATURES)
    truth = rng.normal(size=LOGISTIC_FEATURES)
    y = np.where(X @ truth + 0.3 * rng.normal(size=rows) > 0, 1.0, -1.0)
    return X, y


@functools.cache
def mlp_data():
    rng = np.random.default_rng(202)
    X = rng.uniform(-1.0, 1.0, (MLP_SAMPLES, MLP_INPUTS))
    y = np.sin(X[:, :1] * 2.0) * np.cos(X[:, 1:2])
    return X, y


def point(workload, seed=0):
    """Where the gradient is taken (seed 0); another seed gives a nearby point
    (where fastad.trace records before replaying at the point)."""
    rng = np.random.default_rng(seed)
    jitter = 0.0 if seed == 0 else 0.01
    if workload.family == "Rosenbrock":
        x = np.linspace(-1.2, 1.2, workload.n)
        return x + jitter * rng.standard_normal(x.shape)
    if workload.family == "logistic loss":
        w = np.linspace(-0.5, 0.5, LOGISTIC_FEATURES)
        return w + jitter * rng.standard_normal(w.shape)
    init = np.random.default_rng(303)
    p = {"W1": init.normal(0.0, 1.0 / math.sqrt(MLP_INPUTS), (MLP_INPUTS, MLP_HIDDEN)),
         "b1": init.normal(0.0, 0.1, MLP_HIDDEN),
         "W2": init.normal(0.0, 1.0 / math.sqrt(MLP_HIDDEN), (MLP_HIDDEN, 1)),
         "b2": np.array([0.05])}
    return {k: v + jitter * rng.standard_normal(v.shape) for k, v in p.items()}


def flatten(g):
    """One float64 vector of a gradient (an array, or a dict in MLP_KEYS order)."""
    if isinstance(g, dict):
        return np.concatenate([np.asarray(g[k], dtype=np.float64).ravel() for k in MLP_KEYS])
    return np.asarray(g, dtype=np.float64).ravel()


def unflatten(v, like):
    """The inverse of flatten, shaped like `like`."""
    if not isinstance(like, dict):
        return v.reshape(np.shape(like))
    out, k = {}, 0
    for key in MLP_KEYS:
        size = like[key].size
        out[key] = v[k:k + size].reshape(like[key].shape)
        k += size
    return out


# ==== NumPy (the baseline on floats, and what fastad differentiates) ==============

def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def make_logistic(rows):
    X, y = logistic_data(rows)

    def logistic(w):
        return np.mean(np.log(1 + np.exp(-y * (X @ w)))) + 1e-3 * np.sum(w ** 2)

    return logistic


def make_mlp():
    X, y = mlp_data()

    def mlp(p):
        return np.mean((np.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - y) ** 2)

    return mlp


def numpy_f(workload):
    if workload.family == "Rosenbrock":
        return rosenbrock
    if workload.family == "logistic loss":
        return make_logistic(workload.rows)
    return make_mlp()


# ==== autograd (autograd.numpy) ====================================================

def autograd_f(workload):
    import autograd.numpy as anp
    if workload.family == "Rosenbrock":
        return lambda x: anp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    if workload.family == "logistic loss":
        X, y = logistic_data(workload.rows)
        return lambda w: (anp.mean(anp.log(1 + anp.exp(-y * anp.dot(X, w))))
                          + 1e-3 * anp.sum(w ** 2))
    X, y = mlp_data()
    return lambda p: anp.mean((anp.dot(anp.tanh(anp.dot(X, p["W1"]) + p["b1"]), p["W2"])
                               + p["b2"] - y) ** 2)


# ==== PyTorch ======================================================================

def torch_f(workload):
    import torch
    if workload.family == "Rosenbrock":
        return lambda x: torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    if workload.family == "logistic loss":
        X, y = (torch.from_numpy(a) for a in logistic_data(workload.rows))
        return lambda w: (torch.mean(torch.log(1 + torch.exp(-y * (X @ w))))
                          + 1e-3 * torch.sum(w ** 2))
    X, y = (torch.from_numpy(a) for a in mlp_data())
    return lambda p: torch.mean((torch.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
                                 - y) ** 2)


# ==== JAX ==========================================================================

def jax_f(workload):
    import jax.numpy as jnp
    if workload.family == "Rosenbrock":
        return lambda x: jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    if workload.family == "logistic loss":
        X, y = (jnp.asarray(a) for a in logistic_data(workload.rows))
        return lambda w: (jnp.mean(jnp.log(1 + jnp.exp(-y * (X @ w))))
                          + 1e-3 * jnp.sum(w ** 2))
    X, y = (jnp.asarray(a) for a in mlp_data())
    return lambda p: jnp.mean((jnp.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - y) ** 2)


# ==== CasADi (MX symbols) ==========================================================

def casadi_function(workload):
    """casadi.Function of the inputs' MX symbols returning (f, gradients...),
    and how to call it on a point: (function, call(point) -> outputs)."""
    import casadi as ca
    if workload.family == "Rosenbrock":
        n = workload.n
        x = ca.MX.sym("x", n)
        head, tail = x[0:n - 1], x[1:n]
        f = ca.sum1(100 * (tail - head ** 2) ** 2 + (1 - head) ** 2)
        fn = ca.Function("vg", [x], [f, ca.gradient(f, x)])
        return fn, lambda p: fn(p)
    if workload.family == "logistic loss":
        X, y = logistic_data(workload.rows)
        w = ca.MX.sym("w", LOGISTIC_FEATURES)
        z = ca.mtimes(ca.DM(X), w)
        f = (ca.sum1(ca.log(1 + ca.exp(-ca.DM(y) * z))) / workload.rows
             + 1e-3 * ca.sumsqr(w))
        fn = ca.Function("vg", [w], [f, ca.gradient(f, w)])
        return fn, lambda p: fn(p)
    X, y = mlp_data()
    W1 = ca.MX.sym("W1", MLP_INPUTS, MLP_HIDDEN)
    b1 = ca.MX.sym("b1", MLP_HIDDEN)
    W2 = ca.MX.sym("W2", MLP_HIDDEN, 1)
    b2 = ca.MX.sym("b2", 1)
    hidden = ca.tanh(ca.mtimes(ca.DM(X), W1) + ca.repmat(b1.T, MLP_SAMPLES, 1))
    out = ca.mtimes(hidden, W2) + b2
    f = ca.sumsqr(out - ca.DM(y)) / MLP_SAMPLES
    symbols = [W1, b1, W2, b2]
    fn = ca.Function("vg", symbols, [f] + [ca.gradient(f, s) for s in symbols])
    return fn, lambda p: fn(p["W1"], p["b1"], p["W2"], p["b2"])
