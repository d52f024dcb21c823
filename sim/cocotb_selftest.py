"""cocotb test of the self-test top (driven by sim.selftest.run_selftest): clock and reset only, then wait for
``done``. The top's own watchdog bounds the run; the test's bound is that watchdog's plus a margin, so a broken
watchdog fails here instead of hanging.

Environment: ``SYSTOLICA_SELFTEST`` (JSON: inject_fault, max_cycles), ``SYSTOLICA_RESULT`` (JSON output, see
sim.selftest.SelfTestResult).
"""
import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

PERIOD_NS = 10
MARGIN = 16     # cycles past the watchdog's bound in which done must have risen


@cocotb.test()
async def test_selftest(dut):
    """Reset, then wait for done; report the verdict and the cycle counts."""
    args = json.loads(os.environ["SYSTOLICA_SELFTEST"])
    Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
    dut.inject_fault.value = args["inject_fault"]
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    t0, w0 = get_sim_time("ns"), time.perf_counter()
    bound = Timer((args["max_cycles"] + MARGIN) * PERIOD_NS, unit="ns")
    if await First(RisingEdge(dut.done), bound) is bound:
        raise AssertionError(f"done did not rise within the watchdog's {args['max_cycles']} cycles")
    await ReadOnly()
    wall = round((get_sim_time("ns") - t0) / PERIOD_NS)
    res = {name: int(getattr(dut, name).value) for name in ("done", "passed", "failed", "timeout", "error_code",
                                                           "cycles")}
    res.update(wall_cycles=wall, seconds=time.perf_counter() - w0)
    assert res["passed"] + res["failed"] == 1, f"done with passed={res['passed']} failed={res['failed']}"
    await RisingEdge(dut.clk)
    await ReadOnly()
    assert (int(dut.done.value), int(dut.passed.value)) == (1, res["passed"]), "the verdict did not hold"
    dut._log.info(f"self-test {'passed' if res['passed'] else 'FAILED'} after {wall} cycles "
                  f"(CYCLES {res['cycles']}, error code {res['error_code']}, timeout {res['timeout']})")
    with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
        json.dump(res, f)
