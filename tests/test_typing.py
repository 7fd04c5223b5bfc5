"""The type stubs as an editor or mypy sees them: a small typed program using
the public API passes ``mypy --strict``, and misuse is reported."""

import os
import re
import site
import sys
import textwrap
from pathlib import Path

import mypy.api  # a test dependency: pip install -e ".[test]"

import fastad

GOOD = textwrap.dedent('''
    import numpy as np
    import numpy.typing as npt

    import fastad


    def loss(x: fastad.Var, y: float) -> fastad.Var:
        return fastad.sin(x) * y + x ** 2 - 1.0 / x


    def model(p: list[fastad.Var]) -> fastad.Var:
        total = p[0] * 0.0
        for k in range(len(p) - 1):
            total = total + (p[k + 1] - p[k] ** 2) ** 2
        return total


    g = fastad.grad(loss)(1.0, 2.0)
    value, gradient = fastad.value_and_grad(model)([1.0, 2.0, 3.0])
    s: float = fastad.sin(1.0)
    arr: npt.NDArray[np.float64] = np.asarray(fastad.exp(np.zeros(3)), dtype=np.float64)

    with fastad.Tape() as tape:
        x = tape.var(2.0)
        y: fastad.Var = x * fastad.exp(x) + fastad.hypot(x, 3.0)
        z = tape.var(1.0 + 2.0j)
        w: fastad.ComplexVar = z * z + x
        r = abs(w)
    d = tape.gradient(y, x)
    ok: bool = x > 0.5

    F: fastad.Function = fastad.trace(lambda v: v * v, 1.0)
    fx, gx = F.value_and_grad(2.0)
    n: int = F.n_inputs + F.n_ops
    H = fastad.hessian(model)(np.ones(3))
    J = fastad.jacobian(lambda v: v * 2.0, mode="forward")(np.ones(2))
    hz = fastad.grad(lambda v: v ** 3, holomorphic=True)(1.0 + 1.0j)
    version: str = fastad.__version__

    # The README's Tape example: nothing is "possibly unbound" after the
    # block (Tape.__exit__ returns None: it never swallows an exception).
    with fastad.Tape() as t:
        u = t.var(2.0)
        uu = u * fastad.sin(u)
    gu: float = t.gradient(uu, u)
    p = fastad.trace(lambda q: q["w"] * q["b"], {"w": 1.0, "b": 2.0})
    pg = p.grad({"w": 2.0, "b": 3.0})
    lx: fastad.Var = fastad.xlogy(x, x) + fastad.log_sigmoid(x)
    try:
        pass
    except fastad.BranchError:
        pass
''')

BAD = textwrap.dedent('''
    import fastad

    a: fastad.Var = fastad.sin(1.0)
    b = fastad.sin("one")
    with fastad.Tape() as tape:
        x = tape.var(2.0)
        c: float = x * 2.0
    F = fastad.trace(lambda v: v, 1.0)
    d: str = F.n_inputs
''')


def run_mypy(tmp_path, source):
    program = tmp_path / "program.py"
    program.write_text(source)
    package_root = str(Path(fastad.__file__).resolve().parent.parent)
    # An in-place build lives outside site-packages: point mypy at it. An
    # installed wheel is found like any installed package (PEP 561).
    in_place = package_root not in {str(Path(p).resolve()) for p in site.getsitepackages()}
    old = os.environ.get("MYPYPATH")
    if in_place:
        os.environ["MYPYPATH"] = package_root
    try:
        out, err, status = mypy.api.run([
            "--strict", "--enable-error-code", "possibly-undefined",
            "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
            "--python-executable", sys.executable, "--no-error-summary", str(program)])
    finally:
        if old is None:
            os.environ.pop("MYPYPATH", None)
        else:
            os.environ["MYPYPATH"] = old
    return out + err, status


def test_a_typed_program_passes_mypy_strict(tmp_path):
    output, status = run_mypy(tmp_path, GOOD)
    assert status == 0, output


def test_misuse_is_reported_by_mypy(tmp_path):
    output, status = run_mypy(tmp_path, BAD)
    assert status == 1, output
    errors = [line for line in output.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [4, 5, 8, 10], output


def test_the_installed_package_is_visible_to_type_checkers(tmp_path):
    # As an editor or a user's CI sees it: from a folder outside the source
    # tree and without MYPYPATH. The README's editable install (compat mode,
    # a path entry) and a wheel both pass; setuptools' default editable
    # finder would not (static checkers cannot follow an import hook).
    import subprocess
    program = tmp_path / "uses_fastad.py"
    program.write_text("import fastad\n"
                       "g: float = fastad.grad(lambda x: x * x)(3.0)\n"
                       "reveal_type(fastad.sin(1.0))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         str(tmp_path / "cache"), str(program)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert "Cannot find implementation or library stub" not in output, output
    assert re.search(r"Revealed type is \"(builtins\.)?float\"", output), output
    assert result.returncode == 0, output
