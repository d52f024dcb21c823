"""cocotb test of the whole accelerator on the fast harness (driven by sim.system.run_programs).

Environment: ``SYSTOLICA_SYSTEM`` (a JSON file: jobs [{hex, prog_addr, reads [[addr, nbytes]], fault, stall, abort_at,
max_cycles}], mem_init (the +MEM_INIT path each job's image is copied to), dump path, bus_width),
``SYSTOLICA_RESULT`` (JSON output: a list of sim.system.SystemResult fields, one per job).
"""
import json
import os
import shutil
import time

import cocotb
from cocotb.triggers import Timer

from hw import csr
from hw.accelerator import N_PERF

from .tb_axi_harness import HarnessTB

CLOCK_NS = 10   # the harness's SystemVerilog clock
ABORT_CYCLES = 10**6    # after the watchdog's abort: a design that does not stop within this is stuck


async def _read64(tb, lo):
    return await tb.csr_read(lo) | (await tb.csr_read(lo + 4)) << 32


async def run_job(tb, job, dump):
    """Load the job's image, start its program, wait for irq (or its watchdog), return its results."""
    if job["hex"]:
        await tb.load()
    tb.memory_faults(**(job["fault"] or {}), stall=job["stall"])
    await tb.csr_write(csr.PROG_ADDR, job["prog_addr"])
    c0, t0 = tb.cycles(), time.perf_counter()
    await tb.csr_write(csr.CTRL, csr.CTRL_START)
    budget = job["max_cycles"]
    if job["abort_at"] is not None:
        await Timer(max(0, job["abort_at"] - (tb.cycles() - c0)) * CLOCK_NS, unit="ns")
        await tb.csr_write(csr.CTRL, csr.CTRL_ABORT)
    hung = False
    try:
        await tb.wait_irq(timeout_ns=max(1, budget - (tb.cycles() - c0)) * CLOCK_NS)
    except AssertionError:
        hung = True
    seconds, wall = time.perf_counter() - t0, tb.cycles() - c0
    fault_at = tb.fault_at()
    tb.memory_faults()
    res = {"status": await tb.csr_read(csr.STATUS), "error_code": await tb.csr_read(csr.ERROR_CODE),
           "error_info": await tb.csr_read(csr.ERROR_INFO), "wall_cycles": wall, "seconds": seconds,
           "fault_at": None if fault_at is None else fault_at - c0, "hung": hung,
           "cycles": await _read64(tb, csr.CYCLES_LO),
           "perf": [await _read64(tb, csr.perf_lo(i)) for i in range(N_PERF)], "reads": {}}
    if hung:
        # the watchdog: abort the program so that the next job starts from idle
        await tb.csr_write(csr.CTRL, csr.CTRL_ABORT)
        try:
            await tb.wait_irq(timeout_ns=ABORT_CYCLES * CLOCK_NS)
        except AssertionError:
            res["stuck"] = True
    for addr, nbytes in job["reads"]:
        res["reads"][str(addr)] = (await tb.dump(dump, addr, nbytes)).hex()
    return res


@cocotb.test()
async def test_programs(dut):
    """Each job in turn: its image, its program through the CSRs, irq, status, counters and memory regions."""
    with open(os.environ["SYSTOLICA_SYSTEM"]) as f:
        args = json.load(f)
    tb = HarnessTB(dut, data_width=args["bus_width"])
    await tb.reset()
    results = []
    for i, job in enumerate(args["jobs"]):
        if i:
            shutil.copyfile(job["hex"], args["mem_init"])
        else:
            job = {**job, "hex": None}      # the first image is loaded at time 0
        res = await run_job(tb, job, args["dump"])
        stuck = res.pop("stuck", False)
        results.append(res)
        if stuck:
            dut._log.error(f"job {i}: no irq even after an abort; the jobs after it are not run")
            break
        dut._log.info(f"job {i}: status {res['status']:#x} error {res['error_code']} after {res['cycles']} cycles, "
                      f"{res['wall_cycles'] / max(res['seconds'], 1e-9):,.0f} cycles/s")
    with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
        json.dump(results, f)
