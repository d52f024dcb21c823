"""cocotb tests of the whole accelerator: on the fast harness (``test_programs``, driven by
sim.system.run_programs), and alone between cocotbext-axi's bus models with random pauses on every AXI channel
(``test_pauses``, driven by sim.system.run_with_pauses).

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


class FaultyMemory:
    """A byte array behind cocotbext-axi's AXI4 slave; an access to an address in ``faults`` ([lo, hi, reads,
    writes]) raises, which the slave answers with SLVERR (a read beat's data is 0, a write beat is dropped)."""

    def __init__(self, size):
        self.data = bytearray(size)
        self.faults = []

    def _check(self, addr, n, write):
        if addr + n > len(self.data) or any((wr if write else rd) and addr < hi and lo < addr + n
                                            for lo, hi, rd, wr in self.faults):
            raise IOError(f"bus fault at 0x{addr:x}")

    async def read(self, addr, n):
        self._check(addr, n, False)
        return bytes(self.data[addr:addr + n])

    async def write(self, addr, data):
        self._check(addr, len(data), True)
        self.data[addr:addr + len(data)] = data


@cocotb.test()
async def test_pauses(dut):
    """Each job on the accelerator alone: cocotbext-axi AxiSlave (pauses on AW, W, B, AR and R) and
    AxiLiteMaster; status, error, counters and memory regions as test_programs reports them."""
    import logging
    import random
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, First, RisingEdge
    from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiSlave
    from .tb_axi import random_pauses
    with open(os.environ["SYSTOLICA_SYSTEM"]) as f:
        args = json.load(f)
    rng = random.Random(args["seed"])
    Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start(start_high=False)
    mem = FaultyMemory(1 << 24)
    slave = AxiSlave(AxiBus.from_prefix(dut, "m_axi_"), dut.clk, dut.rst, target=mem)
    for ch in (slave.write_if.aw_channel, slave.write_if.w_channel, slave.write_if.b_channel,
               slave.read_if.ar_channel, slave.read_if.r_channel):
        ch.set_pause_generator(random_pauses(rng, args["pause"]))
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil_"), dut.clk, dut.rst)
    for log in (slave.write_if.log, slave.read_if.log, axil.write_if.log, axil.read_if.log):
        log.setLevel(logging.WARNING)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    async def read(addr):
        return int.from_bytes((await axil.read(addr, 4)).data, "little")

    async def write(addr, value):
        await axil.write(addr, value.to_bytes(4, "little"))

    results = []
    for job in args["jobs"]:
        for a, blob in job["segments"].items():
            mem.data[int(a):int(a) + len(blob) // 2] = bytes.fromhex(blob)
        f = job["fault"]
        mem.faults = [(f["lo"], f["hi"], f.get("reads", False), f.get("writes", False))] if f else []
        await write(csr.PROG_ADDR, job["prog_addr"])
        await write(csr.CTRL, csr.CTRL_START)
        await ClockCycles(dut.clk, 4)       # STATUS (and irq) clear two cycles after the write
        irq = RisingEdge(dut.irq)
        timeout = ClockCycles(dut.clk, job["max_cycles"])
        hung = not dut.irq.value and await First(irq, timeout) is timeout
        mem.faults = []
        res = {"status": await read(csr.STATUS), "error_code": await read(csr.ERROR_CODE),
               "error_info": await read(csr.ERROR_INFO), "wall_cycles": 0, "seconds": 0.0, "fault_at": None,
               "hung": hung, "cycles": await read(csr.CYCLES_LO) | await read(csr.CYCLES_HI) << 32,
               "perf": [], "reads": {str(a): bytes(mem.data[a:a + n]).hex() for a, n in job["reads"]}}
        results.append(res)
        if hung:
            break
    with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
        json.dump(results, f)
