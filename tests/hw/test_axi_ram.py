"""hw.axi_ram.AxiRam on Amaranth's simulator against a byte-array model: INCR bursts with random strobes and random
valid/ready gaps, DECERR beyond the memory (nothing wraps), the checker port, and the documented latency."""
import gc
import random

import pytest
from amaranth.sim import Simulator

from hw.axi import RESP_DECERR, RESP_OKAY
from hw.axi_ram import AxiRam

BEAT, DEPTH = 8, 24
INIT = bytes(random.Random(1).randrange(256) for _ in range(DEPTH * BEAT - 13))   # a partial last word


def _dut():
    return AxiRam(depth=DEPTH, init=INIT, data_width=8 * BEAT, addr_width=16, id_width=2)


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def _write(ctx, axi, rng, addr, beats, ident):
    """One write burst with random gaps; returns (BRESP, BID, [(word, data, strb)])."""
    sent = [(addr // BEAT + i, rng.getrandbits(8 * BEAT), rng.getrandbits(BEAT)) for i in range(beats)]
    aw_done, i = False, 0
    ctx.set(axi.awaddr, addr)
    ctx.set(axi.awlen, beats - 1)
    ctx.set(axi.awid, ident)
    ctx.set(axi.bready, 0)
    while not aw_done or i < beats:
        ctx.set(axi.awvalid, not aw_done and rng.random() < 0.6)
        wv = i < beats and rng.random() < 0.6
        ctx.set(axi.wvalid, wv)
        if i < beats:
            ctx.set(axi.wdata, sent[i][1])
            ctx.set(axi.wstrb, sent[i][2])
            ctx.set(axi.wlast, i == beats - 1)
        aw_fire = ctx.get(axi.awvalid) and ctx.get(axi.awready)
        w_fire = wv and ctx.get(axi.wready)
        await ctx.tick()
        aw_done |= bool(aw_fire)
        i += bool(w_fire)
    ctx.set(axi.awvalid, 0)
    ctx.set(axi.wvalid, 0)
    while True:
        ready = rng.random() < 0.5
        ctx.set(axi.bready, ready)
        got = ctx.get(axi.bvalid) and ready
        resp, bid = ctx.get(axi.bresp), ctx.get(axi.bid)
        await ctx.tick()
        if got:
            ctx.set(axi.bready, 0)
            return resp, bid, sent


async def _read(ctx, axi, rng, addr, beats, ident):
    """One read burst with random gaps; returns [(RDATA, RRESP, RLAST, RID)]."""
    ctx.set(axi.araddr, addr)
    ctx.set(axi.arlen, beats - 1)
    ctx.set(axi.arid, ident)
    while True:
        ctx.set(axi.arvalid, rng.random() < 0.6)
        fire = ctx.get(axi.arvalid) and ctx.get(axi.arready)
        await ctx.tick()
        if fire:
            break
    ctx.set(axi.arvalid, 0)
    out = []
    while len(out) < beats:
        ready = rng.random() < 0.6
        ctx.set(axi.rready, ready)
        if ready and ctx.get(axi.rvalid):
            out.append((ctx.get(axi.rdata), ctx.get(axi.rresp), ctx.get(axi.rlast), ctx.get(axi.rid)))
        await ctx.tick()
    ctx.set(axi.rready, 0)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_random_bursts_match_a_byte_model(seed):
    dut, rng = _dut(), random.Random(seed)
    model = bytearray(INIT) + bytearray(DEPTH * BEAT - len(INIT))

    async def bench(ctx):
        for _ in range(30):
            beats = rng.randint(1, 6)
            word = rng.randint(0, DEPTH + 3 - beats)            # some bursts run past the end
            ident = rng.randrange(4)
            inside = word + beats <= DEPTH
            if rng.random() < 0.5:
                resp, bid, sent = await _write(ctx, dut.axi, rng, word * BEAT, beats, ident)
                assert (resp, bid) == (RESP_OKAY if inside else RESP_DECERR, ident)
                for w, data, strb in sent:
                    for b in range(BEAT):
                        if w < DEPTH and strb >> b & 1:
                            model[w * BEAT + b] = data >> (8 * b) & 0xFF
            else:
                got = await _read(ctx, dut.axi, rng, word * BEAT, beats, ident)
                for i, (data, resp, last, rid) in enumerate(got):
                    w = word + i
                    want = int.from_bytes(model[w * BEAT:(w + 1) * BEAT], "little") if w < DEPTH else 0
                    assert (data, resp, last, rid) == (want, RESP_OKAY if w < DEPTH else RESP_DECERR,
                                                       i == beats - 1, ident), (word, i)
        for w in range(DEPTH):                                   # the checker port sees the same contents
            ctx.set(dut.check_addr, w)
            await ctx.tick()
            assert ctx.get(dut.check_data) == int.from_bytes(model[w * BEAT:(w + 1) * BEAT], "little"), w

    _run(dut, bench)


def test_latency_and_back_to_back_bursts():
    """AR -> first R beat 1 cycle; two bursts with AR held valid and RREADY high: one beat every cycle."""
    dut = _dut()

    async def bench(ctx):
        axi = dut.axi
        ctx.set(axi.rready, 1)
        bursts, cycle, fired, beats = [(0, 3), (5 * BEAT, 2)], 0, [], []
        while len(beats) < 5:
            if bursts:
                ctx.set(axi.arvalid, 1)
                ctx.set(axi.araddr, bursts[0][0])
                ctx.set(axi.arlen, bursts[0][1] - 1)
            else:
                ctx.set(axi.arvalid, 0)
            if ctx.get(axi.rvalid):
                beats.append((cycle, ctx.get(axi.rdata)))
            if bursts and ctx.get(axi.arready):
                fired.append(cycle)
                bursts.pop(0)
            await ctx.tick()
            cycle += 1
            assert cycle < 20
        assert beats[0][0] == fired[0] + 1
        assert [c for c, _ in beats] == list(range(beats[0][0], beats[0][0] + 5))
        words = [0, 1, 2, 5, 6]
        assert [d for _, d in beats] == [int.from_bytes(INIT[w * BEAT:(w + 1) * BEAT], "little") for w in words]

    _run(dut, bench)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")   # the refused objects are never elaborated
@pytest.mark.parametrize("kw, match", [
    (dict(depth=0), "depth must be a positive integer, not 0"),
    (dict(depth=4, init=bytes(33)), "33 bytes does not fit depth=4"),
    (dict(depth=4, init="abc"), "init must be bytes, not str"),
    (dict(depth=1 << 14, addr_width=16), "exceed the 16-bit address space"),
])
def test_bad_parameters_name_the_value(kw, match):
    with pytest.raises(ValueError, match=match):
        AxiRam(data_width=64, **kw)
    gc.collect()   # the refused object's UnusedElaboratable warning comes now, under this test's filter
