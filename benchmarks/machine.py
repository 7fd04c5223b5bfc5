"""The machine and the checkout a measurement ran on (no fastad import:
benchmarks/ab.py uses these for two trees without importing either)."""

import datetime
import os
import platform
import subprocess


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision(folder):
    """Commit of a checkout, marked when its working tree has changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def package_version(name):
    try:
        return __import__(name).__version__
    except ImportError:
        return "not installed"


def now():
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def load_average():
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return "unknown" if load is None else ", ".join(f"{v:.2f}" for v in load)


def platform_info():
    """(key, value) pairs that describe the machine and the interpreter."""
    return [
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("platform", platform.platform()),
        ("cpu", f"{cpu_model()} ({os.cpu_count()} logical cores)"),
    ]
