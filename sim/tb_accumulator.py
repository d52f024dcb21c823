"""cocotb testbench for hw.accumulator.Accumulator alone: write stream (RMW) in, row read stream out.

The model is a dict of rows updated with ``golden.matmul.wrap``; the checker compares every read row and the
cycle of every ``done`` pulse (write cycle + ``golden.cycles.ACC_WRITE_LATENCY``, as the unit's docstring states).
"""

import numpy as np
from cocotb.triggers import ReadOnly

from golden.cycles import ACC_WRITE_LATENCY
from golden.matmul import wrap

from .packing import Packer
from .tb_base import ClockedTB

__all__ = ["AccumulatorTB"]


class AccumulatorTB(ClockedTB):
    IDLE_INPUTS = ("write__valid", "fill__valid", "read_cmd__valid", "read__ready")
    reset_cycles = 2

    def __init__(self, dut, config, *, seed=0, gap=0.0, backpressure=0.0):
        super().__init__(dut, seed=seed)
        self.cfg, self.pk = config, Packer(config)
        self.gap, self.backpressure = gap, backpressure
        self.model = {}

    def _apply(self, addr, row, accumulate, cols):
        n, aw = self.cfg.dim, self.cfg.acc_width
        old = self.model.get(addr, np.zeros(n, np.int64))
        new = old.copy()
        new[:cols] = wrap(old[:cols] + row[:cols], aw) if accumulate else row[:cols]
        self.model[addr] = new

    async def write(self, writes, fills=()):
        """Drive ``[(addr, row, accumulate, cols, last)]`` with random gaps and, beside them, the whole-row
        ``fills`` ``[(addr, row)]`` (rows no write touches); check ``done`` timing, and that a fill waits exactly in
        the cycles the write stage (``ACC_WRITE_LATENCY`` after a write's acceptance) writes its bank."""
        d = self.dut
        nb = self.cfg.acc_banks
        expect_done, seen_done = [], []
        pending, fpending = list(writes), list(fills)
        bank_at = {}        # cycle -> bank of the write accepted in it
        while pending or fpending or (expect_done and self.cycle <= max(expect_done)):
            if pending and not (self.gap and self.rng.random() < self.gap):
                addr, row, acc, cols, last = pending.pop(0)
                d.write__valid.value = 1
                d.write__payload.value = self.pk.acc_write(addr=addr, row=row, accumulate=acc, cols=cols,
                                                           last=last)
                self._apply(addr, row, acc, cols)
                bank_at[self.cycle] = addr % nb
                if last:
                    expect_done.append(self.cycle + ACC_WRITE_LATENCY)
            else:
                d.write__valid.value = 0
            d.fill__valid.value = int(bool(fpending))
            if fpending:
                d.fill__payload.value = self.pk.acc_fill(addr=fpending[0][0], row=fpending[0][1])
            await ReadOnly()
            if d.done.value:
                seen_done.append(self.cycle)
            if fpending:
                addr, row = fpending[0]
                free = bank_at.get(self.cycle - ACC_WRITE_LATENCY) != addr % nb
                assert bool(d.fill__ready.value) == free, (f"fill of row {addr} at cycle {self.cycle}: ready "
                                                           f"{d.fill__ready.value}, its bank free: {free}")
                if free:
                    self._apply(addr, row, False, self.cfg.dim)
                    fpending.pop(0)
            await self.tick()
        d.write__valid.value = 0
        d.fill__valid.value = 0
        assert seen_done == expect_done, f"done pulses at {seen_done}, expected {expect_done}"

    async def read(self, addr, count):
        """Read ``count`` rows from ``addr`` (random idle cycles before the command, random backpressure on the
        rows) and compare them with the model."""
        d = self.dut
        while self.gap and self.rng.random() < self.gap:
            await self.tick()
        d.read_cmd__valid.value = 1
        d.read_cmd__payload.value = self.pk.acc_read_cmd(addr, count)
        got, pending = [], True
        while len(got) < count:
            ready = not (self.backpressure and self.rng.random() < self.backpressure)
            d.read__ready.value = int(ready)
            await ReadOnly()
            fire = pending and bool(d.read_cmd__ready.value)
            if ready and d.read__valid.value:
                row, last = self.pk.acc_row(int(d.read__payload.value))
                got.append(row)
                assert last == (len(got) == count), f"last={last} on row {len(got)} of {count}"
            await self.tick()
            if fire:
                pending = False
                d.read_cmd__valid.value = 0
        d.read__ready.value = 0
        for i, row in enumerate(got):
            want = self.model.get(addr + i, np.zeros(self.cfg.dim, np.int64))
            assert np.array_equal(row, want), f"row {addr + i}: got {row.tolist()} want {want.tolist()}"
