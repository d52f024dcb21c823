"""The packages form floors (../shared/STYLE.md): each imports only the floors below it, so there is no cycle.

    golden/     the specification and the contracts it shares with the gateware (config, ISA, lane ops)
    hw/         the gateware
    compiler/   integer layers -> programs (software: the ISA, never the gateware)
    sim/        testbenches, the Verilator runner, Verilog emission
    systolica/  the command line and its flows

Each package is imported, every module of it, in a fresh interpreter in which the packages it may not use
cannot be imported at all: a forbidden import, even a lazy one inside a function that runs at import, fails.
Imports inside functions that do not run at import time are checked by :func:`test_no_upward_import_anywhere`,
which reads the source.
"""
import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("golden", "hw", "compiler", "sim", "systolica")
# package -> the project packages it may import (besides itself)
ALLOWED = {
    "golden": set(),
    "hw": {"golden"},
    "compiler": {"golden"},
    "sim": {"golden", "hw"},
    "systolica": {"golden", "hw", "compiler", "sim"},
}

_CHILD = """
import importlib, importlib.abc, pkgutil, sys
blocked = set(sys.argv[2].split(",")) - {""}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{sys.argv[1]} may not import {name}")
        return None

sys.meta_path.insert(0, Block())
pkg = importlib.import_module(sys.argv[1])
for mod in pkgutil.walk_packages(pkg.__path__, sys.argv[1] + "."):
    if mod.name.endswith("__main__"):
        continue
    importlib.import_module(mod.name)
"""


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_alone(package):
    blocked = set(PACKAGES) - ALLOWED[package] - {package}
    r = subprocess.run([sys.executable, "-c", _CHILD, package, ",".join(sorted(blocked))], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def _project_imports(path):
    """Top-level project packages a source file imports, anywhere in it (relative imports stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def test_no_upward_import_anywhere():
    bad = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for used in _project_imports(path) - ALLOWED[package] - {package}:
                bad.append(f"{path.relative_to(ROOT)} imports {used}")
    assert not bad, "\n".join(bad)
