"""Run a :class:`sim.tile_job.Job` on Amaranth's Python simulator (the reference simulator for the bench).

Same stimulus as the cocotb TB without gaps: load the scratchpad, issue the commands back to back, wait for
every ``op_done``, read the accumulator.
"""
import time

import numpy as np
from amaranth.sim import Simulator

from sim.tops import TileTop

from .packing import Packer

__all__ = ["run_job"]


def run_job(job, *, max_cycles=1_000_000):
    """Return a dict: ``acc`` (addr -> row), ``timing`` [(accept, done)] in cycles counted from the first
    command's valid cycle, ``mac_cycles``, ``busy_cycles``, ``compute_cycles`` and ``compute_seconds``."""
    cfg = job.cfg
    dut = TileTop(cfg)
    pk = Packer(cfg)
    res = {"acc": {}, "timing": []}
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        for addr, row in sorted(job.spad.items()):
            ctx.set(dut.spad_write.valid, 1)
            ctx.set(dut.spad_write.payload.as_value(), pk.spad_row(addr, row))
            await ctx.tick()
        ctx.set(dut.spad_write.valid, 0)
        await ctx.tick()
        ctx.set(dut.counter_clear, 1)
        await ctx.tick()
        ctx.set(dut.counter_clear, 0)
        cmds = [pk.cmd(a_addr=op.a_addr, b_addr=op.b_addr, c_addr=op.c_addr, rows=op.rows, k=op.k,
                       cols=op.cols, accumulate=op.accumulate) for op in job.ops]
        t0 = time.perf_counter()
        cycle, j, accepts, dones = 0, 0, [], []
        while len(dones) < len(cmds):
            if j < len(cmds):
                ctx.set(dut.cmd.valid, 1)
                ctx.set(dut.cmd.payload.as_value(), cmds[j])
            else:
                ctx.set(dut.cmd.valid, 0)
            _, _, ready, done = await ctx.tick().sample(dut.cmd.ready, dut.op_done)
            if j < len(cmds) and ready:
                accepts.append(cycle)
                j += 1
            if done:
                dones.append(cycle)
            cycle += 1
            if cycle > max_cycles:
                raise RuntimeError(f"no op_done after {max_cycles} cycles")
        ctx.set(dut.cmd.valid, 0)
        res["compute_seconds"] = time.perf_counter() - t0
        res["compute_cycles"] = cycle
        await ctx.tick()
        res["mac_cycles"] = ctx.get(dut.mac_cycles)
        res["busy_cycles"] = ctx.get(dut.busy_cycles)
        res["timing"] = list(zip(accepts, dones))
        ctx.set(dut.acc_read.ready, 1)
        for addr, count in job.read_ranges():
            ctx.set(dut.acc_read_cmd.valid, 1)
            ctx.set(dut.acc_read_cmd.payload.as_value(), pk.acc_read_cmd(addr, count))
            got = 0
            first = True
            while got < count:
                _, _, cready, valid, payload = await ctx.tick().sample(
                    dut.acc_read_cmd.ready, dut.acc_read.valid, dut.acc_read.payload.as_value())
                if first and cready:
                    ctx.set(dut.acc_read_cmd.valid, 0)
                    first = False
                if valid:
                    row, _ = pk.acc_row(payload)
                    res["acc"][addr + got] = row
                    got += 1

    sim.add_testbench(bench)
    sim.run()
    return res


def check(job, res):
    """Raise AssertionError unless data and timing match golden."""
    from golden import cycles
    for addr, want in job.expected.items():
        got = res["acc"][addr]
        if not np.array_equal(got, want):
            raise AssertionError(f"acc row {addr}: got {got.tolist()} want {want.tolist()}")
    # The first command is valid at cycle 0 and commands follow back to back.
    model = cycles.schedule(job.tile_ops(), job.cfg)
    got_t = res["timing"]
    want_t = [(t.accept, t.done) for t in model]
    if got_t != want_t:
        raise AssertionError(f"timing {got_t} != model {want_t}")
