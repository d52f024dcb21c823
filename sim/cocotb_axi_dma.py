"""cocotb tests of hw.axi.AxiMaster + hw.dma.DmaReader/DmaWriter (sim.tb_axi.DmaTestTop) against cocotbext-axi's
AxiRam with random pauses on all five AXI channels, random gaps on the request streams and random backpressure
on the line streams. Run through tests/hw/test_axi_dma.py.

Environment: ``SYSTOLICA_DMA`` = ``dim,input_width,data_width``; ``SYSTOLICA_SEED``.
"""
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotbext.axi import AxiBus, AxiRam

from hw.axi import burst_beats

from .tb_axi import random_pauses

MEM = 1 << 20


class Source:
    """Drives a valid/ready stream from Python with random idle cycles before each item."""

    def __init__(self, tb, name):
        d = tb.dut
        self.tb, self.clk = tb, d.clk
        self.valid, self.ready, self.payload = (getattr(d, f"{name}__{s}") for s in ("valid", "ready", "payload"))
        self.valid.value = 0

    async def send(self, value):
        while self.tb.rng.random() < self.tb.gap:
            await RisingEdge(self.clk)
        self.valid.value, self.payload.value = 1, value
        while True:
            await ReadOnly()
            if self.ready.value:
                break
            await RisingEdge(self.clk)
        await RisingEdge(self.clk)
        self.valid.value = 0


class Sink:
    """Takes a stream with random backpressure; ``items`` collects payloads (ints) in order."""

    def __init__(self, tb, name):
        d = tb.dut
        self.tb, self.clk = tb, d.clk
        self.valid, self.ready, self.payload = (getattr(d, f"{name}__{s}") for s in ("valid", "ready", "payload"))
        self.items = []
        cocotb.start_soon(self._run())

    async def _run(self):
        rng = self.tb.rng
        while True:
            r = rng.random() >= self.tb.backpressure
            self.ready.value = int(r)
            await ReadOnly()
            if r and self.valid.value:
                self.items.append(self.payload.value.to_unsigned())
            await RisingEdge(self.clk)

    async def take(self, n, limit=200_000):
        for _ in range(limit):
            if len(self.items) >= n:
                out, self.items = self.items[:n], self.items[n:]
                return out
            await RisingEdge(self.clk)
        raise AssertionError(f"timeout: {len(self.items)} of {n} items")


class DmaTB:
    def __init__(self, dut, *, gap=0.2, backpressure=0.3, pause=0.25):
        self.dut = dut
        self.dim, self.iw, self.dw = (int(x) for x in os.environ.get("SYSTOLICA_DMA", "4,8,128").split(","))
        self.beat = self.dw // 8
        self.rng = random.Random(int(os.environ.get("SYSTOLICA_SEED", "1")))
        self.gap, self.backpressure = gap, backpressure
        Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)
        self.ram = AxiRam(AxiBus.from_prefix(dut, "axi_"), dut.clk, dut.rst, size=MEM)
        r = self.ram
        for ch in (r.write_if.aw_channel, r.write_if.w_channel, r.write_if.b_channel, r.read_if.ar_channel,
                   r.read_if.r_channel):
            ch.set_pause_generator(random_pauses(self.rng, pause))
        self.image = bytearray(self.rng.randbytes(MEM))
        self.ram.write(0, bytes(self.image))
        self.raw_req, self.raw_resp = Source(self, "raw_read__req"), Sink(self, "raw_read__resp")
        self.rw_req, self.rw_data = Source(self, "raw_write__req"), Source(self, "raw_write__data")
        self.a_req, self.a_lines = Source(self, "a_req"), Sink(self, "a_lines")
        self.b_req, self.b_lines = Source(self, "b_req"), Sink(self, "b_lines")
        self.w_req, self.w_lines = Source(self, "w_req"), Source(self, "w_lines")
        self.done = {"raw_write__done": 0, "w_done": 0}
        cocotb.start_soon(self._count_done())

    async def _count_done(self):
        while True:
            await ReadOnly()
            for k in self.done:
                self.done[k] += int(getattr(self.dut, k).value)
            await RisingEdge(self.dut.clk)

    async def wait_done(self, name, count, limit=200_000):
        for _ in range(limit):
            if self.done[name] >= count:
                return
            await RisingEdge(self.dut.clk)
        raise AssertionError(f"{name}: {self.done[name]} of {count} done pulses")

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    # ---- raw master ports ---------------------------------------------------------------------------------
    async def raw_read(self, addr, beats):
        await self.raw_req.send(addr | beats << 32)
        got = await self.raw_resp.take(beats)
        a = addr & ~(self.beat - 1)
        for i, v in enumerate(got):
            want = int.from_bytes(self.image[a + i * self.beat:a + (i + 1) * self.beat], "little")
            assert v & ((1 << self.dw) - 1) == want, f"raw read {addr:#x}+{beats}: beat {i}"
            assert v >> self.dw == (i == beats - 1), f"raw read {addr:#x}+{beats}: last on beat {i}"

    async def raw_write(self, addr, beats):
        n0 = self.done["raw_write__done"]
        await self.raw_req_w(addr, beats)
        a = addr & ~(self.beat - 1)
        for i in range(beats):
            data, strb = self.rng.getrandbits(self.dw), self.rng.getrandbits(self.beat)
            await self.rw_data.send(data | strb << self.dw)
            for j in range(self.beat):
                if strb >> j & 1:
                    self.image[a + i * self.beat + j] = data >> (8 * j) & 0xFF
        await self.wait_done("raw_write__done", n0 + 1)
        self.check_mem(a, beats * self.beat)

    async def raw_req_w(self, addr, beats):
        await self.rw_req.send(addr | beats << 32)

    def check_mem(self, addr, length):
        got = self.ram.read(addr, length)
        want = bytes(self.image[addr:addr + length])
        if got != want:
            bad = next(i for i in range(length) if got[i] != want[i])
            raise AssertionError(f"memory differs at {addr + bad:#x}: {got[bad]:#04x} != {want[bad]:#04x}")

    # ---- DMA ----------------------------------------------------------------------------------------------
    @staticmethod
    def dma_req(addr, lines, stride, eb):
        return addr | lines << 32 | stride << 48 | eb << 80

    def mem_lines(self, addr, lines, stride, eb):
        out = []
        for i in range(lines):
            a = (addr + i * stride) % (1 << 32)
            line = []
            for k in range(self.dim):
                v = int.from_bytes(self.image[a + k * eb:a + (k + 1) * eb], "little", signed=True)
                line.append(v)
            out.append(line)
        return out

    def unpack(self, word, width, lines_total, i):
        vals = []
        for k in range(self.dim):
            v = word >> (k * width) & ((1 << width) - 1)
            vals.append(v - (1 << width) if v >> (width - 1) else v)
        assert word >> (self.dim * width) == (i == lines_total - 1), f"line {i}: last flag"
        return vals

    async def dma_read(self, which, addr, lines, stride, eb):
        req, sink, width = (self.a_req, self.a_lines, self.iw) if which == "a" else (self.b_req, self.b_lines, 32)
        await req.send(self.dma_req(addr, lines, stride, eb))
        got = await sink.take(lines)
        want = self.mem_lines(addr, lines, stride, eb)
        for i, w in enumerate(got):
            assert self.unpack(w, width, lines, i) == want[i], \
                f"dma {which} {addr:#x} lines={lines} stride={stride} eb={eb}: line {i}"

    async def dma_write(self, addr, lines, stride, eb):
        n0 = self.done["w_done"]
        await self.w_req.send(self.dma_req(addr, lines, stride, eb))
        bits = min(self.iw, 8 * eb)
        for i in range(lines):
            vals = [self.rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1)) for _ in range(self.dim)]
            word = sum((v & ((1 << self.iw) - 1)) << (k * self.iw) for k, v in enumerate(vals))
            await self.w_lines.send(word)
            a = addr + i * stride
            for k, v in enumerate(vals):
                self.image[a + k * eb:a + (k + 1) * eb] = v.to_bytes(eb, "little", signed=True)
        await self.wait_done("w_done", n0 + 1)
        lo, hi = addr - 64, addr + max(lines - 1, 0) * stride + self.dim * eb + 64
        self.check_mem(max(lo, 0), min(hi, MEM) - max(lo, 0))


def _read_cases(tb, eb_choices, n):
    """(addr, lines, stride, eb): contiguous and strided, unaligned, across 4 KB, odd counts, 1 line."""
    rng, dim = tb.rng, tb.dim
    cases = [(0x0FF0 - 3, 5, dim * eb_choices[0], eb_choices[0]), (0x3000, 1, dim * eb_choices[-1], eb_choices[-1])]
    for _ in range(n):
        eb = rng.choice(eb_choices)
        L = dim * eb
        lines = rng.choice([1, 2, 3, 7, 31, rng.randrange(1, 300)])
        stride = L if rng.random() < 0.6 else rng.choice([L + rng.randrange(1, 40), 4096 + 5, max(1, L - 1)])
        addr = rng.randrange(0, MEM - lines * stride - 8192)
        if rng.random() < 0.3:
            addr = (addr | 0xFFF) - rng.randrange(0, 2 * L)   # just below a 4 KB boundary
        cases.append((addr, lines, stride, eb))
    return cases


@cocotb.test()
async def test_raw(dut):
    """The master alone: reads and writes of odd lengths, across 4 KB boundaries, longer than 256 beats."""
    tb = DmaTB(dut)
    await tb.reset()
    B = tb.beat
    cases = [(0, 1), (4096 - B, 2), (4096 - 3 * B, 300), (0x5000, 256), (0x5000 + B, 257), (0x7000 - B, 1),
             (0x9000 + 7, 3)]
    cases += [(tb.rng.randrange(0, MEM - 2048 * B), tb.rng.choice([1, 2, 5, 17, 255, 256, 513])) for _ in range(6)]
    for addr, beats in cases:
        await tb.raw_read(addr, beats)
    for addr, beats in cases[:8]:
        await tb.raw_write(addr, beats)
    # Zero-beat requests: nothing is transferred, a write still reports done.
    await tb.raw_req.send(0x100 | 0 << 32)
    n0 = tb.done["raw_write__done"]
    await tb.raw_req_w(0x100, 0)
    await tb.wait_done("raw_write__done", n0 + 1)
    await tb.raw_read(0x40, 2)
    # The burst split used by the hardware: never across 4 KB, at most 256 beats.
    for a in range(0, 8192, B):
        n = burst_beats(a, 1000, B.bit_length() - 1)
        assert 1 <= n <= 256 and (a // 4096) == ((a + n * B - 1) // 4096)
    assert not dut.error.value


@cocotb.test()
async def test_dma_read(dut):
    """Both readers and the raw port at once, each with its own sequence of transfers."""
    tb = DmaTB(dut)
    await tb.reset()
    eb_a = [e for e in (1, 2) if 8 * e <= tb.iw]
    cases_a, cases_b = _read_cases(tb, eb_a, 14), _read_cases(tb, [4], 8)

    async def run(which, cases):
        for c in cases:
            await tb.dma_read(which, *c)

    async def raw():
        for _ in range(10):
            await tb.raw_read(tb.rng.randrange(0, MEM - 4096 * tb.beat), tb.rng.randrange(1, 200))

    tasks = [cocotb.start_soon(run("a", cases_a)), cocotb.start_soon(run("b", cases_b)), cocotb.start_soon(raw())]
    for t in tasks:
        await t
    # A zero-line request is a no-op.
    await tb.a_req.send(tb.dma_req(0x80, 0, tb.dim, 1))
    await tb.dma_read("a", 0x80, 2, tb.dim, 1)
    assert not dut.error.value


@cocotb.test()
async def test_dma_write(dut):
    """The writer: contiguous and strided, unaligned, across 4 KB, 1/2/4-byte elements; bytes around untouched."""
    tb = DmaTB(dut)
    await tb.reset()
    rng, dim = tb.rng, tb.dim
    cases = [(0x1000 - 5, 9, dim, 1), (0x2000 - 2 * dim - 1, 3, 2 * dim, 2), (0x4000 + 3, 2, 4 * dim + 9, 4)]
    for _ in range(14):
        eb = rng.choice([1, 2, 4])
        L = dim * eb
        lines = rng.choice([1, 2, 5, rng.randrange(1, 200)])
        stride = L if rng.random() < 0.6 else L + rng.randrange(1, 70)
        addr = rng.randrange(64, MEM - lines * stride - 8192)
        if rng.random() < 0.3:
            addr = (addr | 0xFFF) - rng.randrange(0, 2 * L)
        cases.append((addr, lines, stride, eb))
    for c in cases:
        await tb.dma_write(*c)
    n0 = tb.done["w_done"]
    await tb.w_req.send(tb.dma_req(0x80, 0, dim, 1))
    await tb.wait_done("w_done", n0 + 1)
    # Read back through the reader what the writer wrote (the stream formats match).
    await tb.dma_read("a", cases[0][0], cases[0][1], cases[0][2], 1)
    assert not dut.error.value


@cocotb.test()
async def test_parallel_writers(dut):
    """The raw writer and the DMA writer at once (disjoint halves of memory), with reads of a third region."""
    tb = DmaTB(dut)
    await tb.reset()
    rng, dim, half = tb.rng, tb.dim, MEM // 2

    async def dma():
        for _ in range(10):
            eb = rng.choice([1, 2, 4])
            L = dim * eb
            lines = rng.choice([1, 3, rng.randrange(1, 100)])
            stride = L if rng.random() < 0.5 else L + rng.randrange(1, 40)
            await tb.dma_write(rng.randrange(64, half - lines * stride - 64), lines, stride, eb)

    async def raw():
        for _ in range(10):
            await tb.raw_write(half + rng.randrange(0, half - 65536 - 600 * tb.beat), rng.choice([1, 2, 17, 256, 300]))

    async def reads():
        for _ in range(8):
            await tb.dma_read("b", rng.randrange(MEM - 65536, MEM - 4096), rng.randrange(1, 40), 4 * dim, 4)

    tasks = [cocotb.start_soon(dma()), cocotb.start_soon(raw()), cocotb.start_soon(reads())]
    for t in tasks:
        await t
    assert not dut.error.value
