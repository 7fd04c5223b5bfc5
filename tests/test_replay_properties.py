"""Property tests of fastad.trace: random programs (expression DAGs over a few
inputs, with comparison-driven branches) traced at one random point and
replayed at others agree bit for bit with a fresh recording
(fastad.value_and_grad) at those points, and f is called again only for a
branch pattern not seen before."""

import math
import operator

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fastad

from catalogue import ops
from conftest import Counted, same_bits

N_VARS = 3


# ---- the operations ------------------------------------------------------------------------
# Every spelling of every operation of the test catalogue, its operands kept
# inside the domain by the catalogue's map (recorded like everything else); on
# plain floats the function with fastad's own bits. "cmp..." ones branch on a
# comparison of Vars (a guard).

def _is_var(v):
    return type(v) is fastad.Var


def _on(domain, on_vars, on_floats):
    def apply(*operands):
        operands = domain(*operands)
        if not isinstance(operands, tuple):
            operands = (operands,)
        return (on_vars if any(_is_var(v) for v in operands) else on_floats)(*operands)
    return apply


UNARY = {f"{op.name}:{label}": _on(op.domain, f, op.on_floats(label))
         for op in ops(arity=1) for label, f in op.spellings.items()}
UNARY["cmp_abs"] = None     # a if a >= 0 else -a (guarded)


def _cmp_max(a, b, log):
    take = a > b
    log.append(take)
    return a if take else b


def _cmp_select(a, b, log):
    take = a < b
    log.append(take)
    return a * b if take else a - fastad.sin(b)


def _cmp_const(a, b, log):
    take = a >= 0.5
    log.append(take)
    return a + b if take else a * 0.5 - b


BINARY = {f"{op.name}:{label}": _on(op.domain, f, op.on_floats(label))
          for op in ops(arity=2) for label, f in op.spellings.items()}
# division by any divisor, also zero (outside the domain: inf and nan replayed)
BINARY["truediv"] = operator.truediv
BINARY["cmp_max"] = _cmp_max
BINARY["cmp_select"] = _cmp_select
BINARY["cmp_const"] = _cmp_const


def run(program, x, log):
    """Evaluate the program on x (an array of Vars); the outcome of every
    comparison made is appended to log (the branch pattern)."""
    nodes, branch = program
    values = [x[i] for i in range(N_VARS)] + [np.float64(0.5), np.float64(-1.25)]
    for op, i, j in nodes:
        a = values[i % len(values)]
        b = values[j % len(values)]
        if op in UNARY:
            if op == "cmp_abs":
                take = a >= 0
                log.append(take)
                y = a if take else -a
            else:
                y = UNARY[op](a)
        elif op.startswith("cmp"):
            y = BINARY[op](a, b, log)
        else:
            y = BINARY[op](a, b)
        if type(y) is float:
            y = np.float64(y)   # plain floats: IEEE results, never ZeroDivisionError
        values.append(y)
    out = values[-1]
    if branch is not None:
        p, threshold, other = branch
        take = values[p % len(values)] > threshold
        log.append(take)
        if not take:
            out = values[other % len(values)] * 2.0 - out
    # an output with no Var in it is still a valid program (a constant)
    return out


def program_function(program, log=None):
    def f(x):
        return run(program, x, [] if log is None else log)

    return f


def pattern(program, x):
    log = []
    fastad.value_and_grad(program_function(program, log))(x)
    return tuple(log)


# ---- strategies ----------------------------------------------------------------------------

_ops = sorted(UNARY) + sorted(BINARY)
_node = st.tuples(st.sampled_from(_ops), st.integers(0, 50), st.integers(0, 50))
_branch = st.one_of(st.none(), st.tuples(st.integers(0, 50),
                                         st.floats(-1.0, 1.0, allow_nan=False), st.integers(0, 50)))
programs = st.tuples(st.lists(_node, min_size=1, max_size=12), _branch)
_coordinate = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
points = st.lists(_coordinate, min_size=N_VARS, max_size=N_VARS).map(np.array)


# ---- properties ------------------------------------------------------------------------------

@settings(max_examples=500)
@given(program=programs, x0=points,
       others=st.lists(points, min_size=1, max_size=4),
       nudges=st.lists(st.floats(-1e-3, 1e-3, allow_nan=False), min_size=N_VARS, max_size=N_VARS))
def test_replay_agrees_with_fresh_recording(program, x0, others, nudges):
    f = program_function(program)
    counted = Counted(f)
    with np.errstate(all="ignore"):
        F = fastad.trace(counted, x0)
        seen = [pattern(program, x0)]
        # x0 itself, a point next to it (usually on the same branch) and others
        for x in [x0, x0 + np.array(nudges)] + others:
            calls = counted.calls
            v_ref, g_ref = fastad.value_and_grad(f)(x)
            v, g = F.value_and_grad(x)
            assert type(v) is float
            assert same_bits(v, v_ref), (x, v, v_ref)
            assert same_bits(g, g_ref), (x, g, g_ref)
            assert same_bits(F(x), v_ref)
            assert same_bits(F.grad(x), g_ref)
            assert same_bits(F.vjp(x, -1.5)[1], fastad.vjp(f, x)[1](-1.5)[0])
            assert same_bits(F.jacobian(x), g_ref)
            p = pattern(program, x)
            if p == seen[-1]:
                # the branch of the last call (or of x0): replayed, f not called
                assert counted.calls == calls, (p, seen)
            elif p not in seen:
                # a branch never seen: exactly one re-trace
                assert counted.calls == calls + 1, (p, seen)
            if p in seen:
                seen.remove(p)
            seen.append(p)


@settings(max_examples=120)
@given(program=programs, x0=points, others=st.lists(points, min_size=1, max_size=4))
def test_retrace_false_raises_or_agrees(program, x0, others):
    f = program_function(program)
    with np.errstate(all="ignore"):
        F = fastad.trace(f, x0, retrace=False)
        traced = pattern(program, x0)
        for x in [x0] + others:
            if pattern(program, x) == traced:
                v, g = F.value_and_grad(x)
                v_ref, g_ref = fastad.value_and_grad(f)(x)
                assert same_bits(v, v_ref) and same_bits(g, g_ref)
            else:
                try:
                    F.value_and_grad(x)
                except fastad.BranchError:
                    pass
                else:
                    raise AssertionError(f"no BranchError at {x}: pattern {pattern(program, x)} "
                                         f"differs from the traced {traced}")


@settings(max_examples=80)
@given(program=programs, x0=points, X=st.lists(points, min_size=0, max_size=6),
       threads=st.sampled_from([1, 2, 3, None]))
def test_batch_agrees_with_fresh_recording(program, x0, X, threads):
    f = program_function(program)
    X = np.array(X, dtype=np.float64).reshape(len(X), N_VARS)
    with np.errstate(all="ignore"):
        F = fastad.trace(f, x0)
        values, grads = F.value_and_grad_batch(X, threads=threads)
        assert values.shape == (len(X),) and grads.shape == X.shape
        for r in range(len(X)):
            v_ref, g_ref = fastad.value_and_grad(f)(X[r])
            assert same_bits(values[r], v_ref), (X[r], values[r], v_ref)
            assert same_bits(grads[r], g_ref), (X[r], grads[r], g_ref)


@settings(max_examples=100)
@given(program=programs, x0=points, x=points)
def test_value_equals_plain_floats(program, x0, x):
    """Replayed values are the bits f gives on plain floats (np.float64)."""
    f = program_function(program)
    with np.errstate(all="ignore"):
        F = fastad.trace(f, x0)
        plain = float(f(x.astype(np.float64)))
        v = F(x)
    if math.isnan(plain):
        assert math.isnan(v)
    else:
        assert same_bits(v, plain) or math.isclose(v, plain, rel_tol=4e-16), (v, plain)
