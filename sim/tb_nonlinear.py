"""cocotb testbench for the nonlinear unit (hw.nonlinear.NonlinearTop): clock, reset, drivers, monitor, checker.

Stimulus: accumulator lines, scratchpad rows, per-column constants and the command with random idle cycles; the
output stream with random backpressure. Every job runs twice on the same accumulator contents: once with
backpressure (outputs checked against golden/) and once without (outputs and the command's cycles checked against
golden.cycles), whether the output leaves on the stream or is written to the scratchpad.
"""

import numpy as np
from cocotb.triggers import ReadOnly

from hw.accumulator import AccWriteLayout
from hw.lanes import ColWriteLayout, LaneConstsLayout, LaneOutLayout
from hw.nonlinear import NlCmdLayout
from hw.scratchpad import SpadWriteLayout

from .tb_base import ClockedTB

__all__ = ["NonlinearTB"]


def _pack(layout, values):
    return layout.const(values).as_value().value


class NonlinearTB(ClockedTB):
    """Owns the DUT's clock and streams; one instance per cocotb test.

    Parameters
    ----------
    dut : cocotb handle of the nonlinear top
    config : hw.config.AcceleratorConfig
    n : int
        Elements per output beat (``NonlinearTop.n``).
    gap, backpressure : float
        Probability of an idle input cycle / of ``o.ready`` low in a cycle.
    """

    IDLE_INPUTS = ("acc_write__valid", "spad_write__valid", "spad_read__en", "cmd__valid", "col_write__valid",
                   "o__ready")

    def __init__(self, dut, config, n, *, seed=0, gap=0.2, backpressure=0.3, max_cycles=2_000_000):
        super().__init__(dut, seed=seed)
        self.cfg, self.n = config, n
        self.gap, self.backpressure, self.max_cycles = gap, backpressure, max_cycles
        self._wl = AccWriteLayout(config)
        self._cl = NlCmdLayout(config)
        self._ol = LaneOutLayout(config, n)
        self._sl = SpadWriteLayout(config)

    async def _idle(self, valid):
        while self.gap and self.rng.random() < self.gap:
            valid.value = 0
            await self.tick()

    # ---- drivers ----------------------------------------------------------------------------------------
    async def load(self, job):
        """Accumulator lines (overwrite), lane constants and the per-column table."""
        d = self.dut
        for addr, vals in job.acc_lines().items():
            await self._idle(d.acc_write__valid)
            d.acc_write__valid.value = 1
            d.acc_write__payload.value = _pack(self._wl, {"addr": addr, "data": [int(v) for v in vals],
                                                          "accumulate": 0, "cols": self.cfg.dim, "last": 0})
            await self.tick()
        d.acc_write__valid.value = 0
        iw = self.cfg.input_width
        for addr, vals in job.spad_lines().items():
            await self._idle(d.spad_write__valid)
            d.spad_write__valid.value = 1
            d.spad_write__payload.value = _pack(self._sl, {"addr": addr, "data": sum(
                (int(v) & ((1 << iw) - 1)) << (i * iw) for i, v in enumerate(vals))})
            await self.tick()
        d.spad_write__valid.value = 0
        d.consts.value = _pack(LaneConstsLayout, job.consts.as_dict())
        if job.cols is not None:
            for i, entry in enumerate(job.cols.entries()):
                await self._idle(d.col_write__valid)
                d.col_write__valid.value = 1
                d.col_write__payload.value = _pack(ColWriteLayout, {"addr": i, "value": entry})
                await self.tick()
            d.col_write__valid.value = 0
        for _ in range(3):   # the last accumulator write commits two cycles after it is accepted
            await self.tick()

    async def run(self, job, *, backpressure):
        """Issue the job's command; collect the output. Returns (rows x L output, handshake-to-done cycles)."""
        d = self.dut
        aw, n = self.cfg.acc_width, self.n
        await self._idle(d.cmd__valid)
        d.cmd__valid.value = 1
        d.cmd__payload.value = _pack(self._cl, job.command())
        out, accepted, done, refused = [], None, None, None
        c0 = self.cycle
        while done is None:
            ready = not (backpressure and self.rng.random() < backpressure)
            d.o__ready.value = int(ready)
            await ReadOnly()
            if accepted is not None and self.cycle == accepted + 1:
                refused = bool(d.error.value)
            if accepted is None and d.cmd__ready.value:
                accepted = self.cycle
            if ready and d.o__valid.value:
                word = d.o__payload.value.to_unsigned()
                for j in range(n):
                    v = (word >> (j * aw)) & ((1 << aw) - 1)
                    out.append(v - (1 << aw) if v >> (aw - 1) else v)
            if d.done.value:
                done = self.cycle
            await self.tick()
            if accepted is not None:
                d.cmd__valid.value = 0
            if self.cycle - c0 > self.max_cycles:
                raise AssertionError(f"no done after {self.max_cycles} cycles ({len(out)} values out)")
        d.o__ready.value = 0
        if bool(d.error.value) != job.error:
            raise AssertionError(f"the nonlinear unit {'raised' if d.error.value else 'did not raise'} its error flag")
        if job.error:
            if not refused:
                raise AssertionError("the nonlinear unit took the command: its error flag rose only after it")
            return None, done - accepted
        if job.dst is not None:
            return await self.read_spad(job.expected_spad()), done - accepted
        return np.array(out, dtype=np.int64).reshape(job.x.shape), done - accepted

    async def read_spad(self, rows):
        """``{row: values}`` read back for the rows named in ``rows``."""
        d, iw, got = self.dut, self.cfg.input_width, {}
        for addr in rows:
            d.spad_read__addr.value = addr
            d.spad_read__en.value = 1
            await self.tick()
            d.spad_read__en.value = 0
            await ReadOnly()
            word = d.spad_read__data.value.to_unsigned()
            vals = [(word >> (i * iw)) & ((1 << iw) - 1) for i in range(self.cfg.dim)]
            got[addr] = np.array([v - (1 << iw) if v >> (iw - 1) else v for v in vals])
            await self.tick()
        return got

    async def poison_spad(self, rows):
        """Overwrite the scratchpad rows named in ``rows`` with random values (with random gaps)."""
        d, iw = self.dut, self.cfg.input_width
        for addr in rows:
            await self._idle(d.spad_write__valid)
            d.spad_write__valid.value = 1
            d.spad_write__payload.value = _pack(self._sl, {"addr": addr, "data": self.rng.getrandbits(
                iw * self.cfg.dim)})
            await self.tick()
        d.spad_write__valid.value = 0

    # ---- checker ----------------------------------------------------------------------------------------
    async def check(self, job):
        """Load ``job`` and run it twice: with random backpressure (outputs against golden/), then without
        (outputs, and the cycles from handshake to ``done`` against ``job.model_cycles()``). A job writing the
        scratchpad has its destination rows overwritten with random values before each run, so a run that
        writes nothing cannot pass on the previous run's rows. Returns the second run's cycles."""
        await self.load(job)
        if job.error:       # the flag only: what the lanes compute with constants for the other exp is not specified
            return (await self.run(job, backpressure=0.0))[1]
        for bp in (self.backpressure, 0.0):
            if job.dst is not None:
                await self.poison_spad(job.expected_spad())
            got, cycles = await self.run(job, backpressure=bp)
            if job.dst is not None:
                want = job.expected_spad()
                bad_rows = [a for a in want if not np.array_equal(got[a], want[a])]
                if bad_rows:
                    a = bad_rows[0]
                    raise AssertionError(f"{job.op.name} -> {job.dst}: {len(bad_rows)} of {len(want)} scratchpad "
                                         f"rows differ; row {a}: got {got[a].tolist()} want {want[a].tolist()} "
                                         f"(backpressure {bp})")
            else:
                bad = np.argwhere(got != job.expected)
                if len(bad):
                    r, c = bad[0]
                    raise AssertionError(f"{job.op.name}: {len(bad)} of {got.size} outputs differ from golden; "
                                         f"first at row {r} col {c}: got {got[r, c]}, want {job.expected[r, c]} "
                                         f"(backpressure {bp})")
            if not bp and cycles != job.model_cycles():
                raise AssertionError(f"{job.op.name} -> {job.dst or 'stream'}: {cycles} cycles, model says "
                                     f"{job.model_cycles()}")
        return cycles
