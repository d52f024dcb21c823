"""cocotb testbench for the tile engine (hw.top.TileTop): clock, reset, drivers, monitors, model, checker.

Stimulus: scratchpad rows, commands and accumulator read commands with random idle cycles between transfers (a
presented transfer is held until accepted, as valid/ready requires); accumulator rows read with random
backpressure. The checker compares every accumulator row with ``golden.matmul`` and every operation's
handshake/done cycle and the hardware counters with ``golden.cycles``, given the cycles at which commands were
presented.
"""
import time

import numpy as np
from cocotb.triggers import ReadOnly

from golden import cycles

from .packing import Packer
from .tb_base import ClockedTB

__all__ = ["TileTB"]


class TileTB(ClockedTB):
    """Owns the DUT's clock and streams; one instance per cocotb test.

    Parameters
    ----------
    dut : cocotb handle of ``systolica_top``
    config : hw.config.AcceleratorConfig
    seed : int
    gap : float
        Probability of an idle cycle before each scratchpad row / command / accumulator read command.
    backpressure : float
        Probability that ``acc_read.ready`` is low in a cycle.
    """

    IDLE_INPUTS = ("spad_write__valid", "cmd__valid", "acc_read_cmd__valid", "acc_read__ready", "counter_clear")

    def __init__(self, dut, config, *, seed=0, gap=0.0, backpressure=0.0):
        super().__init__(dut, seed=seed)
        self.cfg, self.pk = config, Packer(config)
        self.gap, self.backpressure = gap, backpressure
        self.log = dut._log

    # ---- drivers ----------------------------------------------------------------------------------------
    def _idle(self):
        return self.gap and self.rng.random() < self.gap

    async def load_spad(self, rows):
        """Write ``{addr: row}`` into the scratchpad (ready is always 1)."""
        d = self.dut
        for addr, row in sorted(rows.items()):
            while self._idle():
                d.spad_write__valid.value = 0
                await self.tick()
            d.spad_write__valid.value = 1
            d.spad_write__payload.value = self.pk.spad_row(addr, row)
            await self.tick()
        d.spad_write__valid.value = 0

    async def run_ops(self, ops, *, max_cycles=2_000_000):
        """Issue ``ops`` (sim.tile_job.MatmulOp) and wait for all ``op_done``.

        Returns (valid_at, accepts, dones) in cycles relative to the first command's first valid cycle, and
        the wall-clock seconds / cycles spent.
        """
        d = self.dut
        cmds = [self.pk.cmd(a_addr=op.a_addr, b_addr=op.b_addr, c_addr=op.c_addr, rows=op.rows, k=op.k,
                            cols=op.cols, accumulate=op.accumulate) for op in ops]
        valid_at, accepts, dones = [], [], []
        j, presenting = 0, False
        start = None
        t0 = time.perf_counter()
        c0 = self.cycle
        while len(dones) < len(cmds):
            if j < len(cmds) and not presenting and not self._idle():
                presenting = True
                d.cmd__valid.value = 1
                d.cmd__payload.value = cmds[j]
                if start is None:
                    start = self.cycle
                valid_at.append(self.cycle)
            elif not presenting:
                d.cmd__valid.value = 0
            await ReadOnly()
            if presenting and d.cmd__ready.value:
                accepts.append(self.cycle)
                presenting = False
                j += 1
            if d.op_done.value:
                dones.append(self.cycle)
            await self.tick()
            if self.cycle - c0 > max_cycles:
                raise AssertionError(f"only {len(dones)} of {len(cmds)} operations done after {max_cycles} cycles")
        d.cmd__valid.value = 0
        wall = time.perf_counter() - t0
        rel = lambda xs: [x - start for x in xs]  # noqa: E731
        return rel(valid_at), rel(accepts), rel(dones), wall, self.cycle - c0

    async def read_acc(self, ranges):
        """Read accumulator rows ``[(addr, count)]`` (random idle cycles before each read command, random
        backpressure on the rows); return ``{addr: row}``."""
        d = self.dut
        out = {}
        for addr, count in ranges:
            while self._idle():
                await self.tick()
            d.acc_read_cmd__valid.value = 1
            d.acc_read_cmd__payload.value = self.pk.acc_read_cmd(addr, count)
            got, cmd_pending = 0, True
            while got < count:
                ready = not (self.backpressure and self.rng.random() < self.backpressure)
                d.acc_read__ready.value = int(ready)
                await ReadOnly()
                if cmd_pending and d.acc_read_cmd__ready.value:
                    cmd_pending = False
                    fire_cmd = True
                else:
                    fire_cmd = False
                if ready and d.acc_read__valid.value:
                    row, last = self.pk.acc_row(int(d.acc_read__payload.value))
                    out[addr + got] = row
                    got += 1
                    assert last == (got == count), f"acc_read last={last} at row {got} of {count}"
                await self.tick()
                if fire_cmd:
                    d.acc_read_cmd__valid.value = 0
        d.acc_read__ready.value = 0
        return out

    async def counters(self):
        await ReadOnly()
        d = self.dut
        vals = int(d.mac_cycles.value), int(d.busy_cycles.value), int(d.cycles.value)
        await self.tick()
        return vals

    async def clear_counters(self):
        self.dut.counter_clear.value = 1
        await self.tick()
        self.dut.counter_clear.value = 0

    # ---- the whole check ---------------------------------------------------------------------------------
    async def run_job(self, job):
        """Load, run and check ``job`` (sim.tile_job.Job); return measurements."""
        await self.load_spad(job.spad)
        await self.clear_counters()
        valid_at, accepts, dones, wall, ncycles = await self.run_ops(job.ops)
        await self.tick()  # counters are registered
        mac, busy, _ = await self.counters()
        got = await self.read_acc(job.read_ranges())
        bad = [a for a, want in job.expected.items() if not np.array_equal(got[a], want)]
        if bad:
            a = bad[0]
            raise AssertionError(f"{len(bad)} accumulator rows differ; row {a}: got {got[a].tolist()} "
                                 f"want {job.expected[a].tolist()}")
        model = cycles.schedule(job.tile_ops(), self.cfg, valid_at=valid_at)
        want_t = [(t.accept, t.done) for t in model]
        got_t = list(zip(accepts, dones))
        assert got_t == want_t, f"(accept, done) cycles {got_t} != model {want_t}"
        want_mac = cycles.mac_cycles(job.tile_ops(), self.cfg)
        want_busy = cycles.busy_cycles(model)
        assert (mac, busy) == (want_mac, want_busy), \
            f"counters mac={mac} busy={busy} != model mac={want_mac} busy={want_busy}"
        return {"mac_cycles": mac, "busy_cycles": busy, "utilization": mac / busy,
                "compute_cycles": ncycles, "compute_seconds": wall, "op_cycles": [t.cycles for t in model]}
