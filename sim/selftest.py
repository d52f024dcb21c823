"""The self-test top (``hw.selftest.SelfTest``) under Verilator: cocotb drives only the clock and the reset.

``run_selftest(config, image, prog_addr, checks, max_cycles)`` builds (cached) the top with the image and checks
baked into its memories, runs it until ``done`` and returns a :class:`SelfTestResult`. The build's cache key
holds a digest of everything baked in, so another image never reuses a stale simulator; ``inject_fault`` is an
input, so the failing run reuses the passing run's build.
"""
import dataclasses
import hashlib
import json
import pathlib
import tempfile

from . import runner

__all__ = ["SELFTEST_NAME", "selftest_design", "SelfTestResult", "run_selftest"]

#: Top module name of the self-test's Verilog.
SELFTEST_NAME = "systolica_selftest"


def _digest(image, prog_addr, checks, max_cycles):
    """Digest of what the top bakes in, and of this file (how it is built)."""
    h = hashlib.sha256(pathlib.Path(__file__).read_bytes() + repr((prog_addr, max_cycles)).encode())
    for addr, blob in sorted(image.items()):
        h.update(addr.to_bytes(8, "little") + len(blob).to_bytes(8, "little") + bytes(blob))
    for addr, blob in checks:
        h.update(b"check" + addr.to_bytes(8, "little") + len(blob).to_bytes(8, "little") + bytes(blob))
    return h.hexdigest()[:10]


def selftest_design(config, image, prog_addr, checks, max_cycles=None):
    """A :class:`sim.runner.Design` of ``hw.selftest.SelfTest(config, image, prog_addr, checks, max_cycles=...)``,
    keyed by the configuration, the sources and a digest of the image, program address, checks and bound.
    A short self-test run is all build: the model is compiled at -O0 (the C++ compile is the cost)."""
    def make():
        from hw.selftest import SelfTest
        from .verilog import convert_component
        return convert_component(SelfTest(config, image, prog_addr, checks, max_cycles=max_cycles),
                                 name=SELFTEST_NAME)
    key = f"{runner.design_key('selftest', config)}-{_digest(image, prog_addr, checks, max_cycles)}"
    return runner.Design(name=SELFTEST_NAME, key=key, make_verilog=make, opt_fast="-O0")


@dataclasses.dataclass
class SelfTestResult:
    done: int
    passed: int
    failed: int
    timeout: int
    error_code: int          # golden.isa.ErrorCode (0: none)
    cycles: int              # the CYCLES CSR as the top read it: cycles the controller was busy
    wall_cycles: int         # cycles from reset release to done
    seconds: float           # wall-clock seconds of the simulation from reset release to done


def run_selftest(config, image, prog_addr, checks, max_cycles=None, *, inject_fault=False, progress=print,
                 build_root=None):
    """Run the self-test top until ``done``; ``inject_fault`` holds the top's ``inject_fault`` input high."""
    from hw.selftest import SelfTest
    if max_cycles is None:   # the top's own default, spelled out so that it is part of the build key
        max_cycles = SelfTest(config, image, prog_addr, checks).max_cycles
    design = selftest_design(config, image, prog_addr, checks, max_cycles)
    with tempfile.TemporaryDirectory(prefix="systolica-selftest-") as tmp:
        out = pathlib.Path(tmp) / "result.json"
        env = {"SYSTOLICA_SELFTEST": json.dumps({"inject_fault": int(inject_fault), "max_cycles": max_cycles}),
               "SYSTOLICA_RESULT": str(out)}
        runner.run_test(design, "sim.cocotb_selftest", testcase="test_selftest", extra_env=env, progress=progress,
                        results_name=f"selftest-{pathlib.Path(tmp).name}", root=build_root)
        return SelfTestResult(**json.loads(out.read_text()))
