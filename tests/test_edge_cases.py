"""Corner cases found in review: each once a wrong result or an unclear error."""

import collections

import numpy as np
import pytest

import fastad


def test_var_made_without_a_tape_raises_instead_of_crashing():
    v = fastad.Var.__new__(fastad.Var)
    for op in (lambda: v * 2.0, lambda: 2.0 - v, lambda: -v, lambda: fastad.sin(v), lambda: v ** 3):
        with pytest.raises(fastad.TapeError, match="not made by a tape"):
            op()
    with fastad.Tape() as t:
        x = t.var(1.0)
        with pytest.raises(fastad.TapeError):
            x * v
        with pytest.raises(fastad.TapeError):
            v + x


def test_round_raises_with_value_hint():
    def f(x):
        return round(x)
    with pytest.raises(TypeError, match=r"\.value"):
        fastad.grad(f)(1.4)


def test_divmod():
    g = fastad.grad(lambda x: divmod(x, 3.0)[0] + divmod(x, 3.0)[1] * 2.0)(7.5)
    assert g == 2.0  # d/dx (x // 3) = 0, d/dx 2 (x % 3) = 2
    value, g = fastad.value_and_grad(lambda x: divmod(10.0, x)[1])(4.0)
    assert value == 2.0 and g == -2.0  # 10 % x = 10 - 2 x near x = 4


def test_comparison_with_huge_int_is_exact():
    def f(x):
        assert x < 10 ** 400 and not x > 10 ** 400 and x != 10 ** 400
        return x * 1.0
    assert fastad.grad(f)(1.0) == 1.0


def test_comparison_with_arrays_is_elementwise():
    def f(x):
        np.testing.assert_array_equal(x < np.array([1.0, 2.0]), [False, True])
        np.testing.assert_array_equal(x == np.array([1.5, 2.0]), [True, False])
        np.testing.assert_array_equal(np.array([1.0, 2.0]) > x, [False, True])
        return x
    assert fastad.grad(f)(1.5) == 1.0


@pytest.mark.parametrize("out", [True, np.bool_(False)])
def test_bool_output_is_rejected(out):
    with pytest.raises(TypeError, match="bool"):
        fastad.grad(lambda x: out)(1.0)


def test_defaultdict_keeps_its_factory():
    d = collections.defaultdict(list, {"a": 1.0, "b": np.array([1.0, 2.0])})
    g = fastad.grad(lambda p: p["a"] * np.sum(p["b"]))(d)
    assert isinstance(g, collections.defaultdict) and g.default_factory is list
    assert g["a"] == 3.0
    np.testing.assert_array_equal(g["b"], [1.0, 1.0])


def test_namedtuple_argument():
    P = collections.namedtuple("P", "x y")
    g = fastad.grad(lambda p: p.x * p.y)(P(2.0, 3.0))
    assert g == P(3.0, 2.0) and type(g) is P


def test_error_message_names_element_index_plainly():
    with pytest.raises(TypeError, match=r"element \(0, 1\) is not a real number"):
        fastad.grad(lambda x: x[0, 0])(np.array([[1.0, "a"]], dtype=object))


def test_zero_dim_results_keep_shape():
    assert np.shape(fastad.sin(np.array(1.0))) == ()
    assert np.shape(fastad.hypot(np.array(3.0), 4.0)) == ()
