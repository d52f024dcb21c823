"""DmaReader / DmaWriter strided transfers (one request per line) on Amaranth's simulator, against a byte-array
memory, with random gaps on every stream.

A stride other than the line size makes one request per line at ``mem_addr + i * stride``: the requests' addresses
are checked as well as the data, so a slip in the stride arithmetic shows even where the data would not.
"""
import random

import pytest
from amaranth.sim import Simulator

from hw.dma import DmaReader, DmaWriter

DIM, BEAT = 4, 16
MEM = bytes(random.Random(2).randrange(256) for _ in range(4096))
CASES = [(3, 5, 40, 1), (100, 4, 200, 2), (64, 3, 96, 4), (0, 6, 17, 1), (17, 3, 5, 4)]


def _line(mem, addr, eb):
    return [int.from_bytes(mem[addr + k * eb:addr + (k + 1) * eb], "little", signed=True) for k in range(DIM)]


def _request(ctx, dut, addr, lines, stride, eb):
    for name, v in (("mem_addr", addr), ("lines", lines), ("stride", stride), ("elem_bytes", eb)):
        ctx.set(getattr(dut.req.payload, name), v)
    ctx.set(dut.req.valid, 1)


def _simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def read(addr, lines, stride, eb, seed):
    """(lines emitted, request addresses) of one reader transfer."""
    dut = DmaReader(dim=DIM, input_width=32, elem_bytes=(1, 2, 4), data_width=8 * BEAT)
    rng = random.Random(seed)
    got, reqs = [], []

    async def bench(ctx):
        _request(ctx, dut, addr, lines, stride, eb)
        await ctx.tick().until(dut.req.ready)
        ctx.set(dut.req.valid, 0)
        beats = []
        for _ in range(50 * lines):
            req_ready, line_ready = rng.random() < 0.7, rng.random() < 0.7
            resp_valid = bool(beats) and rng.random() < 0.7
            ctx.set(dut.mem.req.ready, req_ready)
            ctx.set(dut.lines.ready, line_ready)
            ctx.set(dut.mem.resp.valid, resp_valid)
            if beats:
                ctx.set(dut.mem.resp.payload.data, beats[0][0])
                ctx.set(dut.mem.resp.payload.last, beats[0][1])
            if ctx.get(dut.mem.req.valid) and req_ready:
                a, n = ctx.get(dut.mem.req.payload.addr), ctx.get(dut.mem.req.payload.beats)
                reqs.append(a)
                base = a & ~(BEAT - 1)
                beats += [(int.from_bytes(MEM[base + BEAT * i:base + BEAT * (i + 1)], "little"), i == n - 1)
                          for i in range(n)]
            took = resp_valid and ctx.get(dut.mem.resp.ready)
            if ctx.get(dut.lines.valid) and line_ready:
                got.append([ctx.get(dut.lines.payload.data[k]) for k in range(DIM)])
            await ctx.tick()
            if took:
                beats.pop(0)
            if len(got) == lines:
                return

    _simulate(dut, bench)
    return got, reqs


def write(addr, lines, stride, eb, values, seed):
    """(memory after one writer transfer, request addresses, whether ``done`` pulsed)."""
    dut = DmaWriter(dim=DIM, input_width=32, elem_bytes=(1, 2, 4), data_width=8 * BEAT)
    rng = random.Random(seed)
    mem, reqs, done = bytearray(MEM), [], []

    async def bench(ctx):
        _request(ctx, dut, addr, lines, stride, eb)
        await ctx.tick().until(dut.req.ready)
        ctx.set(dut.req.valid, 0)
        sent, pending, done_next = 0, [], False     # pending: [beat address, beats left] per request
        for _ in range(50 * lines):
            req_ready, data_ready = rng.random() < 0.7, rng.random() < 0.7
            line_valid = sent < lines and rng.random() < 0.7
            ctx.set(dut.mem.req.ready, req_ready)
            ctx.set(dut.mem.data.ready, data_ready)
            ctx.set(dut.mem.done, done_next)
            ctx.set(dut.lines.valid, line_valid)
            if sent < lines:
                for k in range(DIM):
                    ctx.set(dut.lines.payload.data[k], values[sent][k])
            if ctx.get(dut.mem.req.valid) and req_ready:
                a = ctx.get(dut.mem.req.payload.addr)
                reqs.append(a)
                pending.append([a & ~(BEAT - 1), ctx.get(dut.mem.req.payload.beats)])
            done_next = False
            if ctx.get(dut.mem.data.valid) and data_ready:
                word, strb = ctx.get(dut.mem.data.payload.data), ctx.get(dut.mem.data.payload.strb)
                base = pending[0][0]
                for i in range(BEAT):
                    if strb >> i & 1:
                        mem[base + i] = word >> (8 * i) & 0xFF
                pending[0][0] += BEAT
                pending[0][1] -= 1
                if pending[0][1] == 0:
                    pending.pop(0)
                    done_next = True                # BRESP one cycle after the last beat
            if line_valid and ctx.get(dut.lines.ready):
                sent += 1
            done.append(ctx.get(dut.done))
            await ctx.tick()
            if done[-1]:
                return

    _simulate(dut, bench)
    return mem, reqs, any(done)


@pytest.mark.parametrize("addr,lines,stride,eb", CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_strided_read(addr, lines, stride, eb, seed):
    got, reqs = read(addr, lines, stride, eb, seed)
    assert reqs == [addr + i * stride for i in range(lines)]
    assert got == [_line(MEM, addr + i * stride, eb) for i in range(lines)]


@pytest.mark.parametrize("addr,lines,stride,eb", CASES)
def test_strided_write(addr, lines, stride, eb):
    rng = random.Random(addr)
    lo = -(1 << (8 * eb - 1))
    values = [[rng.randrange(lo, -lo) for _ in range(DIM)] for _ in range(lines)]
    mem, reqs, done = write(addr, lines, stride, eb, values, seed=addr)
    assert reqs == [addr + i * stride for i in range(lines)] and done
    want = bytearray(MEM)
    for i, row in enumerate(values):          # later lines win where strides overlap, as in the hardware's order
        a = addr + i * stride
        want[a:a + DIM * eb] = b"".join(v.to_bytes(eb, "little", signed=True) for v in row)
    assert mem == want
