"""cocotb tests of the fast harness (sim/axi_mem.sv + SV wrapper, clock in SV) around sim.tb_axi.DmaCopyTop, and
the same DUT on the plain cocotb + cocotbext-axi harness (for the speed comparison).

Environment: ``SYSTOLICA_COPY`` (JSON of :func:`copy_case` arguments), ``SYSTOLICA_DUMP`` (dump file path),
``SYSTOLICA_RESULT`` (optional JSON output: cycles, seconds, beats).
"""
import json
import os
import random
import time

import cocotb
from cocotb.utils import get_sim_time
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer

from hw import csr

from .tb_axi import copy_descriptor
from .tb_axi_harness import HarnessTB

MEM_BYTES = 16 << 20


def copy_case(seed=1, lines=3000, line_bytes=16, src=0x10_0003, dst=0x40_0005, stride=None, prog=0x1000,
              speed_only=False):
    """Memory segments (byte address -> bytes) and the descriptor of one copy; deterministic in ``seed``."""
    stride = stride or line_bytes
    rng = random.Random(seed)
    span = (lines - 1) * stride + line_bytes
    return {prog: copy_descriptor(src, dst, lines, stride), src: rng.randbytes(span)}


def expected_dst(case, line_bytes=16):
    """What the destination region must hold after the copy: (dst, bytes, gap mask) of the written span."""
    prog = min(case)
    desc = case[prog]
    src, dst = int.from_bytes(desc[0:4], "little"), int.from_bytes(desc[4:8], "little")
    lines, stride = int.from_bytes(desc[8:10], "little"), int.from_bytes(desc[12:16], "little")
    data = case[src]
    out = bytearray((lines - 1) * stride + line_bytes)   # gaps between strided lines stay 0 (never written)
    for i in range(lines):
        out[i * stride:i * stride + line_bytes] = data[i * stride:i * stride + line_bytes]
    return dst, bytes(out)


def _result(**kw):
    path = os.environ.get("SYSTOLICA_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(kw, f)


@cocotb.test()
async def test_copy(dut):
    """Load via +MEM_INIT, start through the CSR port, wait for irq, check the copy via a $writememh dump;
    then a strided copy of the same data and a copy into unmapped memory (bus error reported)."""
    args = json.loads(os.environ["SYSTOLICA_COPY"])
    dump = os.environ["SYSTOLICA_DUMP"]
    case = copy_case(**args)
    tb = HarnessTB(dut)
    await tb.reset()
    prog = args.get("prog", 0x1000)
    await tb.csr_write(csr.PROG_ADDR, prog)
    assert await tb.csr_read(csr.PROG_ADDR) == prog
    await tb.csr_write(csr.CTRL, csr.CTRL_START)
    t0, c0 = time.perf_counter(), tb.cycles()
    await tb.wait_irq()
    seconds, cycles = time.perf_counter() - t0, tb.cycles() - c0
    assert await tb.csr_read(csr.STATUS) == csr.STATUS_DONE
    busy = await tb.csr_read(csr.CYCLES_LO)
    r_beats = await tb.csr_read(csr.perf_lo(0))
    w_beats = await tb.csr_read(csr.perf_lo(1))
    dst, want = expected_dst(case)
    got = await tb.dump(dump, dst, len(want))
    assert got == want, "copied data differs"
    dut._log.info(f"copy: {cycles} cycles ({busy} busy), {r_beats} R / {w_beats} W beats, {seconds:.3f} s, "
                  f"{cycles / max(seconds, 1e-9):,.0f} cycles/s")
    _result(cycles=cycles, busy=busy, r_beats=r_beats, w_beats=w_beats, seconds=seconds)
    if args.get("speed_only"):
        return

    # Strided: every other line of the source to a new destination (one request per line).
    src = int.from_bytes(case[prog][0:4], "little")
    lines = min(int.from_bytes(case[prog][8:10], "little") // 2, 200)
    desc2 = copy_descriptor(src, 0x80_0000, lines, 32)
    tb2_prog = 0x2000
    # Put the second descriptor in memory through the image file: rewrite it and reload (load = $readmemh).
    from .tb_axi_harness import write_hex
    init = os.environ["SYSTOLICA_INIT"]
    write_hex(init, {**case, tb2_prog: desc2, 0x3000: copy_descriptor(src, MEM_BYTES - 64, 8, 16),
                     0x3100: copy_descriptor(MEM_BYTES - 32, 0x90_0000, 4, 16)}, 128)
    await tb.load()
    await tb.csr_write(csr.PROG_ADDR, tb2_prog)
    await tb.csr_write(csr.CTRL, csr.CTRL_START)
    await tb.wait_irq()
    assert await tb.csr_read(csr.STATUS) == csr.STATUS_DONE
    got = await tb.dump(dump, 0x80_0000, (lines - 1) * 32 + 16)
    data = case[src]
    for i in range(lines):
        assert got[i * 32:i * 32 + 16] == data[i * 32:i * 32 + 16], f"strided line {i}"

    # The last 64 bytes exist, the next 64 do not: SLVERR from axi_mem, reported with the failing address.
    await tb.csr_write(csr.PROG_ADDR, 0x3000)
    await tb.csr_write(csr.CTRL, csr.CTRL_START)
    await tb.wait_irq()
    st = await tb.csr_read(csr.STATUS)
    assert st & csr.STATUS_ERROR, f"STATUS {st:#x}"
    assert await tb.csr_read(csr.ERROR_CODE) == 1
    assert await tb.csr_read(csr.ERROR_INFO) == MEM_BYTES
    await tb.csr_write(csr.CTRL, csr.CTRL_CLEAR)
    assert await tb.csr_read(csr.STATUS) & ~csr.STATUS_BUSY == 0

    # A read past the end: RRESP SLVERR on the third beat, reported with that beat's address.
    await tb.csr_write(csr.PROG_ADDR, 0x3100)
    await tb.csr_write(csr.CTRL, csr.CTRL_START)
    await tb.wait_irq()
    assert await tb.csr_read(csr.STATUS) & csr.STATUS_ERROR
    assert await tb.csr_read(csr.ERROR_INFO) == MEM_BYTES


@cocotb.test()
async def test_copy_plain(dut):
    """The same copy on DmaCopyTop alone with cocotbext-axi AxiRam + AxiLiteMaster (speed reference)."""
    from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
    args = json.loads(os.environ["SYSTOLICA_COPY"])
    case = copy_case(**args)
    Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_"), dut.clk, dut.rst, size=MEM_BYTES)
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil_"), dut.clk, dut.rst)
    for a, blob in case.items():
        ram.write(a, blob)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    prog = args.get("prog", 0x1000)
    await axil.write(csr.PROG_ADDR, prog.to_bytes(4, "little"))
    await axil.write(csr.CTRL, csr.CTRL_START.to_bytes(4, "little"))
    t0, ns0 = time.perf_counter(), get_sim_time(unit="ns")
    while not dut.irq.value:
        await Timer(1000, unit="ns")
    seconds, cycles = time.perf_counter() - t0, int(get_sim_time(unit="ns") - ns0) // 10
    dst, want = expected_dst(case)
    assert ram.read(dst, len(want)) == want
    dut._log.info(f"plain copy: {cycles} cycles, {seconds:.3f} s, {cycles / seconds:,.0f} cycles/s")
    _result(cycles=cycles, seconds=seconds)
