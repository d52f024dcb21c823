"""DmaReader stride-0 LOADs (a line broadcast): one read of the line, emitted ``lines`` times (Amaranth sim)."""
import random

import pytest
from amaranth.sim import Simulator

from hw.dma import DmaReader

MEM = bytes(random.Random(1).randrange(256) for _ in range(8192))


def _run(requests):
    dut = DmaReader(dim=16, input_width=32, elem_bytes=(1, 2, 4), data_width=128)
    out = []

    async def bench(ctx):
        for addr, lines, stride, eb in requests:
            ctx.set(dut.req.payload.mem_addr, addr)
            ctx.set(dut.req.payload.lines, lines)
            ctx.set(dut.req.payload.stride, stride)
            ctx.set(dut.req.payload.elem_bytes, eb)
            ctx.set(dut.req.valid, 1)
            await ctx.tick().until(dut.req.ready)
            ctx.set(dut.req.valid, 0)
            ctx.set(dut.lines.ready, 1)
            got, beats, reads = [], [], 0
            for _ in range(1000):
                if ctx.get(dut.mem.req.valid):
                    ctx.set(dut.mem.req.ready, 1)
                    a, n = ctx.get(dut.mem.req.payload.addr) & ~15, ctx.get(dut.mem.req.payload.beats)
                    reads += n
                    beats += [(int.from_bytes(MEM[a + 16 * i:a + 16 * i + 16], "little"), i == n - 1)
                              for i in range(n)]
                else:
                    ctx.set(dut.mem.req.ready, 0)
                ctx.set(dut.mem.resp.valid, bool(beats))
                if beats:
                    ctx.set(dut.mem.resp.payload.data, beats[0][0])
                    ctx.set(dut.mem.resp.payload.last, beats[0][1])
                took = bool(beats) and ctx.get(dut.mem.resp.ready)
                last = None
                if ctx.get(dut.lines.valid):
                    got.append([ctx.get(dut.lines.payload.data[k]) for k in range(16)])
                    last = ctx.get(dut.lines.payload.last)
                await ctx.tick()
                if took:
                    beats.pop(0)
                if last:
                    break
            out.append((got, reads))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("addr,lines,stride,eb", [(64, 5, 0, 4), (100, 3, 0, 4), (48, 6, 0, 2), (200, 2, 0, 1),
                                                  (64, 1, 0, 4), (0, 4, 16, 1), (4080, 7, 64, 4)])
def test_lines(addr, lines, stride, eb):
    (got, reads), = _run([(addr, lines, stride, eb)])
    want = [[int.from_bytes(MEM[addr + i * stride + k * eb:addr + i * stride + (k + 1) * eb], "little", signed=True)
             for k in range(16)] for i in range(lines)]
    assert got == want
    if stride == 0:
        assert reads == -(-(addr % 16 + 16 * eb) // 16)       # the line's beats, once
