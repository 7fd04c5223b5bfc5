"""Build of fastad's compiled core.

First the per-operation code is generated from the rule table
(fastad/_rules.py, rendered into the fastad/*.tp templates by
fastad/_codegen.py), then Cython compiles fastad/_core.pyx with one set of
directives and one set of portable compiler flags. Set FASTAD_DEBUG=1 for
a debug build (bounds checks, line tracing, -O0 -g) and FASTAD_ANNOTATE=1
to write Cython's HTML annotation next to the sources.

FASTAD_SANITIZE=address, =undefined or =address,undefined builds the core
with GCC's or Clang's sanitizers (AddressSanitizer, UndefinedBehaviorSanitizer):
-fsanitize=... -fno-omit-frame-pointer -g -O1 (-O0 with FASTAD_DEBUG=1),
and for UBSan -fno-sanitize-recover=all, so that the first undefined
operation stops the process (and -fno-wrapv, float-cast-overflow: see
SANITIZE_FLAGS). Such a core only loads with the sanitizer runtime
preloaded (CPython is not built with it): .ci/sanitize builds one in a
copy of the tree and runs the tests with LD_PRELOAD and the options set
(README, Development). Unset, the flags below are untouched.
"""
import importlib.util
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTAD_DEBUG") == "1"
SANITIZERS = ("address", "undefined")
SANITIZE = [name.strip() for name in os.environ.get("FASTAD_SANITIZE", "").split(",")
            if name.strip()]
if any(name not in SANITIZERS for name in SANITIZE):
    sys.exit(f"fastad: FASTAD_SANITIZE={os.environ['FASTAD_SANITIZE']!r}: "
             f"give a comma-separated list of {', '.join(SANITIZERS)}")
HERE = os.path.dirname(os.path.abspath(__file__))


def generate_sources():
    """Render the templates from the rule table (a table error stops the build)."""
    spec = importlib.util.spec_from_file_location(
        "fastad_codegen", os.path.join(HERE, "fastad", "_codegen.py"))
    codegen = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = codegen  # its dataclasses look themselves up there
    spec.loader.exec_module(codegen)
    try:
        codegen.generate()
    except codegen.RuleError as error:
        sys.exit(f"fastad: the rule table is inconsistent: {error}")


generate_sources()

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    # C division: x / 0.0 is inf or nan as in NumPy, not ZeroDivisionError.
    "cdivision": True,
    "embedsignature": False,  # cyfunctions (binding=True) give help() their signature
    "linetrace": DEBUG,
    "profile": False,
}

# Portable optimisation only: no -ffast-math (it breaks nan/inf handling),
# no -march=native (wheels run on other machines). -ffp-contract=off keeps
# a*b+c from being fused differently in recording and replay, so replayed
# values equal recorded ones bit for bit. -fno-math-errno only lets sqrt
# compile to an instruction; it does not change any result. The whole-array
# loops (_ops.pxi.tp) are written for the vectorizer: restrict pointers
# (no run-time overlap checks) and no branches. -O2's own cost model
# ("very cheap") left the forward loops scalar; "cheap" vectorizes them
# and still refuses loops that would need run-time overlap checks
# ("dynamic", which adds such checks, also vectorized the tangent and
# second-order sweeps' lane loops and made hvp 5% slower; their one-lane
# case skips the loop now). -fno-trapping-math lets it compute both
# sides of a select (an addition whose result is then dropped), which
# changes no value, only which floating-point exception flags may be
# raised, and nothing here reads them. Cython's inline
# functions are forced inline: the operators call the rule table with a
# constant opcode, and only inlining folds the rule's switch away (GCC's
# heuristics keep the record path out of line otherwise; measured: 10-15%
# of record time). Loops start on a 64-byte boundary: the lane loops of
# the tangent and second-order sweeps are a few instructions long, and one
# that straddles two cache lines ran 12% slower (measured on the same
# instructions from one build to the next).
UNIX_FLAGS = ["-O0", "-g"] if DEBUG else [
    "-O2", "-ffp-contract=off", "-fno-math-errno", "-falign-loops=64",
    "-fvect-cost-model=cheap", "-fno-trapping-math",
    "-DCYTHON_INLINE=__inline__ __attribute__((always_inline))",
]
MSVC_FLAGS = ["/Od", "/Zi"] if DEBUG else ["/O2", "/fp:precise"]

# Sanitizer builds (FASTAD_SANITIZE): instrumented code at -O1 with frame
# pointers and debug information, for full stacks and source lines in the
# reports at a tolerable speed. -ffp-contract=off stays, since the tests
# compare replayed values with recorded ones bit for bit; the forced
# inlining goes (it only buys speed). Linking with -fsanitize records the
# runtime (libasan.so.N, libubsan.so.N) as a dependency of the module:
# .ci/sanitize reads from there which runtime to preload.
#
# With UBSan, two more kinds of undefined behaviour are checked: signed
# overflow, which Python's own flags (-fwrapv, inherited by every
# extension) define as wrapping, so that UBSan would not look for it
# (-fno-wrapv: an index or count that overflows is a bug here, not a
# wrap), and a float converted to an integer type it does not fit, which
# GCC leaves out of -fsanitize=undefined (float-cast-overflow). The suite
# runs clean with both.
SANITIZE_CHECKS = SANITIZE + (["float-cast-overflow"] if "undefined" in SANITIZE else [])
SANITIZE_FLAGS = [
    "-fsanitize=" + ",".join(SANITIZE_CHECKS), "-fno-omit-frame-pointer", "-g",
    "-O0" if DEBUG else "-O1", "-ffp-contract=off",
] + (["-fno-sanitize-recover=all", "-fno-wrapv"] if "undefined" in SANITIZE else [])


class BuildExt(build_ext):
    """Chooses the flags for the compiler actually used."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        if SANITIZE and msvc:
            sys.exit("fastad: FASTAD_SANITIZE needs GCC or Clang")
        flags = MSVC_FLAGS if msvc else SANITIZE_FLAGS if SANITIZE else UNIX_FLAGS
        for ext in self.extensions:
            ext.extra_compile_args = list(flags)
            if SANITIZE:
                ext.extra_link_args = ["-fsanitize=" + ",".join(SANITIZE_CHECKS)]
        super().build_extensions()


extensions = [
    Extension(
        "fastad._core",
        ["fastad/_core.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
        ]
        + ([("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []),
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=DIRECTIVES,
        annotate=os.environ.get("FASTAD_ANNOTATE") == "1",
    ),
    cmdclass={"build_ext": BuildExt},
)
