"""The public surface of docs/api.md: every name is in ``fastad``, the exception
hierarchy, ``__version__``, NumPy-style docstrings, and ``fastad.value``."""

import collections
import inspect
import re

import numpy as np
import pytest

import fastad
from fastad import _rules

from catalogue import CATALOGUE

TRANSFORMS = ["grad", "value_and_grad", "jacobian", "jacrev", "jacfwd", "jvp", "vjp", "hessian", "hvp"]
UNARY = ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
         "arccosh", "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
         "cbrt", "square", "abs", "sign", "floor", "ceil", "erf", "erfc", "sigmoid"]
BINARY = ["arctan2", "hypot", "power", "maximum", "minimum", "logaddexp"]
CLASSES = ["Var", "ComplexVar", "Tape", "Function"]
ERRORS = ["FastADError", "TapeError", "BranchError"]
UTILITIES = ["value", "trace"]
BUILT_NAMES = TRANSFORMS + UNARY + BINARY + CLASSES + ERRORS + UTILITIES


def test_contract_elementwise_names_are_public_rows_of_the_rule_table():
    """The contract's elementwise functions exist as public rows of the rule
    table (fastad/_rules.py) of the right arity, each with a test catalogue entry;
    the table may have more (fastad.__all__ lists them, test_rules checks them)."""
    public = {r.name: r.arity for r in _rules.ROWS if r.public is not None}
    assert {n: public.get(n) for n in UNARY} == {n: 1 for n in UNARY}
    assert {n: public.get(n) for n in BINARY} == {n: 2 for n in BINARY}
    assert set(UNARY + BINARY) <= set(CATALOGUE)


# ---- names -----------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILT_NAMES + ["__version__"])
def test_public_name_exists(name):
    assert hasattr(fastad, name), f"fastad.{name} is missing"


@pytest.mark.parametrize("name", BUILT_NAMES)
def test_public_name_is_listed_in_all(name):
    assert name in fastad.__all__


def test_all_lists_only_existing_names():
    missing = [n for n in fastad.__all__ if not hasattr(fastad, n)]
    assert missing == []
    assert len(set(fastad.__all__)) == len(fastad.__all__)


def test_star_import_gives_the_public_names():
    namespace = {}
    exec("from fastad import *", namespace)
    for name in BUILT_NAMES:
        assert namespace[name] is getattr(fastad, name)


def test_trace_makes_a_function():
    F = fastad.trace(lambda x: x * x, 2.0)
    assert isinstance(F, fastad.Function)
    assert inspect.isclass(fastad.Function) and (inspect.getdoc(fastad.Function) or "").strip()
    with pytest.raises(TypeError, match="trace"):
        fastad.Function()
        assert F(3.0) == 9.0 and F.grad(3.0) == 6.0


@pytest.mark.parametrize("name", TRANSFORMS + UNARY + BINARY + UTILITIES)
def test_functions_are_callable(name):
    assert callable(getattr(fastad, name))


def test_classes():
    assert inspect.isclass(fastad.Var) and inspect.isclass(fastad.Tape)
    assert isinstance(fastad.Tape(), fastad.Tape)


def test_elementwise_functions_map_numbers_to_floats():
    for name in UNARY:
        r = getattr(fastad, name)(0.5)
        assert type(r) is float, name
        r = getattr(fastad, name)(np.array([0.25, 0.5]))
        assert isinstance(r, np.ndarray) and r.dtype == np.float64 and r.shape == (2,), name
    for name in BINARY:
        r = getattr(fastad, name)(0.5, 0.25)
        assert type(r) is float, name


def test_elementwise_functions_record_on_vars():
    for name in UNARY:
        g = fastad.grad(lambda x: getattr(fastad, name)(x))(0.5)  # noqa: B023
        assert type(g) is float, name
    for name in BINARY:
        g = fastad.grad(lambda x, y: getattr(fastad, name)(x, y), argnums=(0, 1))(0.5, 0.25)  # noqa: B023
        assert all(type(v) is float for v in g), name


# ---- errors --------------------------------------------------------------------------

def test_exception_hierarchy():
    assert issubclass(fastad.FastADError, Exception)
    assert not issubclass(fastad.FastADError, (TypeError, ValueError, RuntimeError))
    assert issubclass(fastad.TapeError, fastad.FastADError)
    assert issubclass(fastad.BranchError, fastad.FastADError)
    assert not issubclass(fastad.TapeError, fastad.BranchError)
    assert not issubclass(fastad.BranchError, fastad.TapeError)


def test_exceptions_can_be_raised_and_caught_as_the_base():
    for cls in (fastad.TapeError, fastad.BranchError):
        with pytest.raises(fastad.FastADError, match="message"):
            raise cls("message")


def test_library_tape_errors_are_caught_as_fastad_error():
    with fastad.Tape() as t:
        x = t.var(1.0)
    with pytest.raises(fastad.FastADError):
        x + 1.0


# ---- __version__ ---------------------------------------------------------------------

# The canonical PEP 440 version pattern (PEP 440, appendix B).
PEP440 = re.compile(
    r"^([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*((a|b|rc)(0|[1-9][0-9]*))?"
    r"(\.post(0|[1-9][0-9]*))?(\.dev(0|[1-9][0-9]*))?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$")


def test_version_is_a_pep440_string():
    v = fastad.__version__
    assert isinstance(v, str)
    assert PEP440.match(v), v
    try:
        from packaging.version import Version
    except ImportError:  # pragma: no cover - packaging is optional
        return
    assert str(Version(v)) == v


def test_version_is_the_packaged_version():
    from fastad import _version

    assert fastad.__version__ == _version.__version__


# ---- docstrings -------------------------------------------------------------------------

def docstring_body(obj, name):
    """The docstring without a leading signature line that Cython embeds."""
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    if lines and re.match(rf"^[\w.]*{re.escape(name)}\(.*\)(\s*->.*)?$", lines[0].strip()):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines = lines[1:]
    return "\n".join(lines)


def takes_arguments(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return True
    return any(p.name != "self" for p in sig.parameters.values())


def has_section(doc, title):
    return re.search(rf"^{title}\n-{{{len(title)}}}\s*$", doc, re.MULTILINE) is not None


PUBLIC_FUNCTIONS = TRANSFORMS + UTILITIES


@pytest.mark.parametrize("name", BUILT_NAMES)
def test_docstring_has_a_summary_line(name):
    body = docstring_body(getattr(fastad, name), name)
    assert body.strip(), f"fastad.{name} has no docstring"
    summary = body.strip().splitlines()[0]
    assert summary.rstrip().endswith("."), summary


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_docstring_is_numpy_style(name):
    obj = getattr(fastad, name)
    body = docstring_body(obj, name)
    assert takes_arguments(obj)
    assert has_section(body, "Parameters"), f"fastad.{name}: no Parameters section"
    assert has_section(body, "Returns"), f"fastad.{name}: no Returns section"


def test_elementwise_docstrings_are_numpy_style():
    # Sections must line up with the summary as help() shows the docstring
    # (inspect.getdoc); an indented "    Parameters" is not a NumPy section.
    bad = []
    for name in UNARY + BINARY:
        body = docstring_body(getattr(fastad, name), name)
        if not (has_section(body, "Parameters") and has_section(body, "Returns")):
            bad.append(name)
    assert bad == [], f"no Parameters/Returns sections at the summary's indentation: {bad}"


@pytest.mark.parametrize("method", ["var", "gradient"])
def test_tape_methods_are_documented_numpy_style(method):
    body = docstring_body(getattr(fastad.Tape, method), method)
    assert body.strip()
    assert has_section(body, "Parameters") and has_section(body, "Returns")


def test_public_methods_and_properties_of_var_and_tape_are_documented():
    undocumented = []
    for cls in (fastad.Var, fastad.Tape):
        class_doc = inspect.getdoc(cls) or ""
        for name in dir(cls):
            if name.startswith("_"):
                continue
            if re.search(rf"^{name} :", class_doc, re.MULTILINE):
                continue  # listed under the class's Attributes
            body = docstring_body(getattr(cls, name), name)
            if not body.strip():
                undocumented.append(f"{cls.__name__}.{name}")
    assert undocumented == []


@pytest.mark.parametrize("name", CLASSES + ERRORS)
def test_classes_have_docstrings(name):
    assert (inspect.getdoc(getattr(fastad, name)) or "").strip()


def test_module_docstring():
    assert (fastad.__doc__ or "").strip()


# ---- fastad.value --------------------------------------------------------------------

def record(values):
    """Vars of a finished tape with the given values (their .value still works)."""
    with fastad.Tape() as t:
        vs = [t.var(v) for v in values]
    return vs


def test_value_of_a_var():
    (v,) = record([2.5])
    r = fastad.value(v)
    assert type(r) is float and r == 2.5


def test_value_inside_a_transform():
    seen = {}

    def f(x):
        seen["x"] = fastad.value(x)
        return np.sum(x * x)

    fastad.grad(f)(np.array([1.0, 2.0]))
    assert isinstance(seen["x"], np.ndarray) and seen["x"].dtype == np.float64
    np.testing.assert_array_equal(seen["x"], [1.0, 2.0])


@pytest.mark.parametrize("x", [3, 3.0, np.float32(3.0), np.int64(3), np.float64(3.0)])
def test_value_of_a_number_is_a_float(x):
    r = fastad.value(x)
    assert type(r) is float and r == 3.0


def test_value_of_an_object_array_of_vars():
    with fastad.Tape() as t:
        xs = t.var(np.arange(6.0).reshape(2, 3))
        ys = xs * 2.0
    r = fastad.value(ys)
    assert isinstance(r, np.ndarray) and r.dtype == np.float64 and r.shape == (2, 3)
    np.testing.assert_array_equal(r, 2.0 * np.arange(6.0).reshape(2, 3))


def test_value_of_an_object_array_mixing_vars_and_numbers():
    (v,) = record([1.5])
    r = fastad.value(np.array([[v, 2], [3.0, np.float32(4.0)]], dtype=object))
    assert r.dtype == np.float64
    np.testing.assert_array_equal(r, [[1.5, 2.0], [3.0, 4.0]])


def test_value_of_a_zero_dim_object_array():
    (v,) = record([1.5])
    r = fastad.value(np.array(v, dtype=object))
    assert isinstance(r, np.ndarray) and r.shape == () and r == 1.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int8])
def test_value_of_numeric_arrays_is_float64(dtype):
    x = np.arange(4).astype(dtype)
    r = fastad.value(x)
    assert r.dtype == np.float64
    np.testing.assert_array_equal(r, [0.0, 1.0, 2.0, 3.0])


def test_value_of_lists_and_tuples():
    a, b = record([1.0, 2.0])
    r = fastad.value([a, 3, b])
    assert type(r) is list and r == [1.0, 3.0, 2.0] and all(type(v) is float for v in r)
    r = fastad.value((a, b))
    assert type(r) is tuple and r == (1.0, 2.0)
    assert fastad.value([]) == [] and fastad.value(()) == ()


def test_value_of_dicts_and_nested_structures():
    a, b = record([1.0, 2.0])
    with fastad.Tape() as t:
        xs = t.var([5.0, 6.0])
    r = fastad.value({"a": a, "rest": [b, (xs, 7)], "d": {"k": a}})
    assert type(r) is dict and r["a"] == 1.0 and r["d"] == {"k": 1.0}
    assert type(r["rest"]) is list and r["rest"][0] == 2.0
    assert type(r["rest"][1]) is tuple
    np.testing.assert_array_equal(r["rest"][1][0], [5.0, 6.0])
    assert r["rest"][1][1] == 7.0


def test_value_keeps_dict_key_order():
    a, b = record([1.0, 2.0])
    r = fastad.value({"z": a, "a": b})
    assert list(r) == ["z", "a"]


def test_value_of_a_namedtuple():
    P = collections.namedtuple("P", "x y")
    a, b = record([1.0, 2.0])
    r = fastad.value(P(a, b))
    assert type(r) is P and r == P(1.0, 2.0)


def test_value_does_not_modify_its_argument():
    (v,) = record([1.5])
    arr = np.array([v, 2.0], dtype=object)
    lst = [v, 2.0]
    fastad.value(arr)
    fastad.value(lst)
    assert arr[0] is v and lst[0] is v


@pytest.mark.parametrize("bad", ["abc", b"abc", None, object(), {1, 2}, [1.0, "a"],
                                 np.array([1.0, "a"], dtype=object), np.array(["a", "b"])],
                         ids=["str", "bytes", "None", "object", "set", "list-with-str",
                              "object-array-with-str", "str-array"])
def test_value_of_bad_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="value"):
        fastad.value(bad)
