"""Error messages name what the user wrote and what to do instead."""

import math
import pickle

import numpy as np
import pytest

import fastad


def record(f):
    with fastad.Tape() as t:
        return f(t.var(2.0))


@pytest.mark.parametrize("call,says", [
    (int, "int(v.value)"),
    (float, "v.value"),
    (complex, "v + 0j"),
    (math.sin, "instead of math's"),
    (lambda v: [1, 2, 3][v], "where Python needs an integer"),
    (lambda v: range(v), "where Python needs an integer"),
])
def test_conversions_that_would_drop_the_derivative(call, says):
    with pytest.raises(TypeError, match=r"drop") as info:
        record(call)
    assert says in str(info.value)


def test_int_does_not_speak_of_math_functions():
    with pytest.raises(TypeError) as info:
        record(int)
    assert "math's" not in str(info.value) and "floor" in str(info.value)


@pytest.mark.parametrize("call,names", [
    (lambda v: v * "a", "'fastad.Var' and 'str'"),
    (lambda v: "a" * v, "'str' and 'fastad.Var'"),
    (lambda v: v * [1.0, 2.0], "'fastad.Var' and 'list'"),
    (lambda v: (1.0,) * v, "'tuple' and 'fastad.Var'"),
    (lambda v: b"x" * v, "'bytes' and 'fastad.Var'"),
])
def test_a_var_is_not_a_repeat_count(call, names):
    with pytest.raises(TypeError, match="unsupported operand") as info:
        record(call)
    assert names in str(info.value) and "index" not in str(info.value)


def test_a_tape_says_what_pickles():
    with pytest.raises(TypeError, match="Function can"):
        pickle.dumps(fastad.Tape())


def test_a_bad_argument_names_its_position():
    with pytest.raises(TypeError, match=r"argument 0\['b'\]\[1\]"):
        fastad.grad(lambda p: p["a"])({"a": 1.0, "b": [1.0, "x"]})
    with pytest.raises(ValueError, match=r"x\['w'\]"):
        F = fastad.trace(lambda p: np.sum(p["w"]), {"w": np.ones(2)})
        F.grad({"w": np.ones(3)})
