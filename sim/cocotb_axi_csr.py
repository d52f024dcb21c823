"""cocotb test of hw.csr.CsrBlock driven by cocotbext-axi's AxiLiteMaster with random idle/backpressure on every
channel. Run through tests/hw/test_axi_csr.py. Environment: ``SYSTOLICA_SEED``, ``SYSTOLICA_N_PERF``."""
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from hw import csr

from .tb_axi import random_pauses


class CsrTB:
    """Clock, reset, the AXI-Lite master and a monitor counting ``start``/``clear`` pulses."""

    def __init__(self, dut, seed):
        self.dut = dut
        self.rng = random.Random(seed)
        self.n_perf = int(os.environ.get("SYSTOLICA_N_PERF", "2"))
        Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "axi_"), dut.clk, dut.rst)
        m = self.axil
        for ch in (m.write_if.aw_channel, m.write_if.w_channel, m.write_if.b_channel, m.read_if.ar_channel,
                   m.read_if.r_channel):
            ch.set_pause_generator(random_pauses(self.rng, 0.3))
        self.starts = self.clears = 0
        for name in ("busy", "done", "error", "error_code", "error_info"):
            getattr(dut, name).value = 0
        if self.n_perf:
            dut.perf.value = 0
        cocotb.start_soon(self._monitor())

    async def _monitor(self):
        while True:
            await FallingEdge(self.dut.clk)
            self.starts += int(self.dut.start.value)
            self.clears += int(self.dut.clear.value)

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def write(self, addr, value):
        r = await self.axil.write(addr, int(value).to_bytes(4, "little"))
        assert int(r.resp) == 0, f"write {addr:#x}: resp {r.resp}"

    async def read(self, addr):
        r = await self.axil.read(addr, 4)
        assert int(r.resp) == 0, f"read {addr:#x}: resp {r.resp}"
        return int.from_bytes(r.data, "little")

    async def read64(self, lo):
        a = await self.read(lo)
        return a | (await self.read(lo + 4)) << 32


@cocotb.test()
async def test_registers(dut):
    tb = CsrTB(dut, int(os.environ.get("SYSTOLICA_SEED", "1")))
    await tb.reset()
    rng = tb.rng

    # PROG_ADDR read/write, also concurrent writes and reads (AW/W/AR in any order under random pauses).
    for _ in range(8):
        v = rng.getrandbits(32)
        await tb.write(csr.PROG_ADDR, v)
        assert await tb.read(csr.PROG_ADDR) == v
        assert dut.prog_addr.value.to_unsigned() == v
    vals = [rng.getrandbits(32) for _ in range(6)]
    for v in vals:
        tb.axil.init_write(csr.PROG_ADDR, v.to_bytes(4, "little"))
    reads = [cocotb.start_soon(tb.read(csr.STATUS)) for _ in range(4)]
    await tb.axil.wait()
    for r in reads:
        assert await r == 0
    assert await tb.read(csr.PROG_ADDR) == vals[-1]

    # Unmapped addresses: read 0, OKAY; writes ignored.
    for a in (0x14, 0x18, 0x1C, csr.perf_lo(tb.n_perf), 0xFFC):
        await tb.write(a, 0xFFFFFFFF)
        assert await tb.read(a) == 0, hex(a)
    assert await tb.read(csr.CTRL) == 0

    # Start pulse: exactly one per CTRL write with bit 0; clears the cycle counter.
    assert tb.starts == 0
    await tb.write(csr.CTRL, csr.CTRL_START)
    await ClockCycles(dut.clk, 2)
    assert tb.starts == 1 and tb.clears == 0
    await tb.write(csr.CTRL, 0)
    await ClockCycles(dut.clk, 2)
    assert tb.starts == 1

    # CYCLES counts busy cycles only.
    await RisingEdge(dut.clk)
    dut.busy.value = 1
    await ClockCycles(dut.clk, 137)
    dut.busy.value = 0
    await ClockCycles(dut.clk, 20)
    assert await tb.read(csr.STATUS) == 0
    assert await tb.read64(csr.CYCLES_LO) == 137
    dut.busy.value = 1
    assert (await tb.read(csr.STATUS)) & csr.STATUS_BUSY
    dut.busy.value = 0

    # DONE and ERROR are sticky until CLEAR or START.
    dut.done.value = 1
    await RisingEdge(dut.clk)
    dut.done.value = 0
    assert await tb.read(csr.STATUS) == csr.STATUS_DONE
    dut.error.value, dut.error_code.value, dut.error_info.value = 1, 0xA5, 0xDEADBEEF
    await RisingEdge(dut.clk)
    dut.error.value = 0
    assert await tb.read(csr.STATUS) == csr.STATUS_DONE | csr.STATUS_ERROR
    assert await tb.read(csr.ERROR_CODE) == 0xA5
    assert await tb.read(csr.ERROR_INFO) == 0xDEADBEEF
    await tb.write(csr.CTRL, csr.CTRL_CLEAR)
    await ClockCycles(dut.clk, 2)
    assert tb.clears == 1 and tb.starts == 1
    assert await tb.read(csr.STATUS) == 0
    dut.done.value = 1
    await RisingEdge(dut.clk)
    dut.done.value = 0
    await tb.write(csr.CTRL, csr.CTRL_START)
    assert await tb.read(csr.STATUS) == 0
    assert tb.starts == 2

    # Performance counters; a low-then-high read is consistent even if the counter moves in between.
    if tb.n_perf:
        v = [rng.getrandbits(64) for _ in range(tb.n_perf)]
        dut.perf.value = sum(x << (64 * i) for i, x in enumerate(v))
        await RisingEdge(dut.clk)
        for i, x in enumerate(v):
            assert await tb.read64(csr.perf_lo(i)) == x, i
        dut.perf.value = 0x1_FFFF_FFFF
        await RisingEdge(dut.clk)
        lo = await tb.read(csr.perf_lo(0))
        dut.perf.value = 0x2_0000_0000
        await RisingEdge(dut.clk)
        hi = await tb.read(csr.perf_lo(0) + 4)
        assert (hi << 32 | lo) == 0x1_FFFF_FFFF
        assert await tb.read(csr.perf_lo(0) + 4) == 2     # no snapshot pending: live value
