"""NumPy dispatch.

Why Var sets __array_priority__ and no __array_ufunc__: the cost of one
operation with a NumPy scalar on the left (W[i, j] * x[j]) under each
route NumPy offers, next to the other operand kinds.
"""

import timeit

import numpy as np

import harness  # noqa: F401  (this checkout's fastad first on sys.path)
import fastad
from fastad._timing import gc_state

DISPATCH_STATEMENTS = [
    ("Var * Var", "x * y"),
    ("Var * float", "x * 2.0"),
    ("float * Var", "2.0 * x"),
    ("Var * np.float64", "x * w"),
    ("np.float64 * Var (W[i, j] * x[j])", "w * x"),
    ("fastad.sin(Var)", "fastad.sin(x)"),
    ("np.sin(Var) (NumPy object loop)", "np.sin(x)"),
]


class _PriorityProxy:
    """NumPy defers to it by __array_priority__ (fastad's choice)."""
    __array_priority__ = 1000.0

    def __rmul__(self, other):
        return self


class _UfuncNoneProxy:
    """__array_ufunc__ = None: NumPy defers at once, but np.sin(obj) raises."""
    __array_ufunc__ = None

    def __rmul__(self, other):
        return self


class _UfuncMethodProxy:
    """__array_ufunc__ method: NumPy routes w * obj through the ufunc machinery."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return self

    def __rmul__(self, other):
        return self


def ns_per_statement(stmt, namespace, number):
    timer = timeit.Timer(stmt, globals=namespace)
    return min(timer.repeat(repeat=5, number=number)) / number * 1e9


def measure(settings):
    """ns per operation for each statement, and for each NumPy route."""
    number = 20_000 if settings.quick else 100_000
    with gc_state(False):
        with fastad.Tape() as tape:
            namespace = {"x": tape.var(1.5), "y": tape.var(2.5), "w": np.float64(2.0),
                         "fastad": fastad, "np": np}
            ops = [(label, ns_per_statement(stmt, namespace, number))
                   for label, stmt in DISPATCH_STATEMENTS]
        plain = ns_per_statement("a * b", {"a": 1.5, "b": 2.5}, number)
        routes = []
        for cls in (_PriorityProxy, _UfuncNoneProxy, _UfuncMethodProxy):
            namespace = {"w": np.float64(2.0), "p": cls()}
            routes.append((cls.__doc__.split(":")[0].strip(), cls.__doc__,
                           ns_per_statement("w * p", namespace, number)))
    return plain, ops, routes


def summarize(result):
    plain, ops, routes = result
    print(f"NumPy dispatch (ns per operation; float * float {plain:.0f}):")
    for label, ns in ops:
        print(f"  {label:<40} {ns:6.0f}")
    for _, doc, ns in routes:
        print(f"  route: {doc:<70} {ns:6.0f}")
