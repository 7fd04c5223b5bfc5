"""The type stub of the compiled core lists what the module has."""

import ast
import pathlib

import fastad
from fastad import _core

STUB = pathlib.Path(_core.__file__).with_name("_core.pyi")


def stub_names():
    tree = ast.parse(STUB.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def test_stub_is_shipped_with_py_typed():
    assert STUB.is_file()
    assert STUB.with_name("py.typed").is_file()


def test_stub_and_module_list_the_same_public_names():
    exported_from_core = {n for n in fastad.__all__ if hasattr(_core, n) and getattr(fastad, n) is getattr(_core, n)}
    names = stub_names()
    assert exported_from_core <= names
    assert all(hasattr(_core, n) for n in names), names - set(dir(_core))


def test_var_methods_in_stub():
    tree = ast.parse(STUB.read_text())
    var = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Var")
    stub_methods = {n.name for n in var.body if isinstance(n, ast.FunctionDef)}
    public = {n for n in dir(fastad.Var) if not n.startswith("_")}
    assert public <= stub_methods
