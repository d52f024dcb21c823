"""The test tops the unit testbenches drive (their streams are the cocotb ports).

- ``TileTop``: scratchpad + execute unit (mesh) + accumulator + counters (sim.tb_tile, sim.pysim, and
  ``systolica generate --top array``).
- ``NonlinearTop``: accumulator + scratchpad + nonlinear unit (sim.tb_nonlinear).

The accelerator (``hw.accelerator``) replaces the testbench with DMA and a controller on the same streams.
"""
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.config import AcceleratorConfig
from hw.accumulator import AccReadCmdLayout, AccRowLayout, AccWriteLayout, Accumulator
from hw.counters import PerfCounters
from hw.execute import CmdLayout, ExecuteUnit
from hw.execute_os import OSExecuteUnit
from hw.lanes import ColWriteLayout, LaneConstsLayout, LaneOutLayout
from hw.nonlinear import NlCmdLayout, NonlinearUnit
from hw.scratchpad import ReadPortSignature, Scratchpad, SpadWriteLayout

__all__ = ["TileTop", "NonlinearTop"]


class TileTop(wiring.Component):
    """Systolic tile engine with its memories.

    Members
    -------
    spad_write : In(stream(SpadWriteLayout))
        Load a scratchpad row per cycle; ``ready`` is always 1.
    cmd : In(stream(CmdLayout))
        Tile operations ``C (+)= A x B`` (see ``hw.execute`` for ``dataflow="ws"``, ``hw.execute_os`` for "os").
    acc_read_cmd : In(stream(AccReadCmdLayout)), acc_read : Out(stream(AccRowLayout))
        Read accumulator rows (1 row per cycle, backpressure allowed).
    op_done : Out(1)
        Pulses when an operation's last accumulator write commits.
    cycles, busy_cycles, mac_cycles : Out(48)
        Performance counters (``hw.counters``), cleared by ``counter_clear``.

    Latency and throughput are those of ``ExecuteUnit`` and ``Accumulator``.

    Parameters
    ----------
    config : AcceleratorConfig
    """

    def __init__(self, config=None):
        config = AcceleratorConfig() if config is None else config
        if not isinstance(config, AcceleratorConfig):
            raise ValueError(f"config must be an AcceleratorConfig, not {config!r}")
        self._cfg = config
        super().__init__({
            # Top-level ports cannot be constants, so the always-ready write has a real (constant-1) ready.
            "spad_write": In(stream.Signature(SpadWriteLayout(config))),
            "cmd": In(stream.Signature(CmdLayout(config))),
            "acc_read_cmd": In(stream.Signature(AccReadCmdLayout(config))),
            "acc_read": Out(stream.Signature(AccRowLayout(config))),
            "op_done": Out(1),
            "counter_clear": In(1),
            "cycles": Out(48), "busy_cycles": Out(48), "mac_cycles": Out(48),
        })

    @property
    def config(self):
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        m.submodules.spad = spad = Scratchpad(self._cfg)
        unit = OSExecuteUnit if self._cfg.dataflow == "os" else ExecuteUnit
        m.submodules.exe = exe = unit(self._cfg)
        m.submodules.acc = acc = Accumulator(self._cfg)
        m.submodules.perf = perf = PerfCounters(width=48, max_inflight=8)
        m.d.comb += [spad.write.valid.eq(self.spad_write.valid),
                     spad.write.payload.eq(self.spad_write.payload), self.spad_write.ready.eq(1)]
        wiring.connect(m, exe.spad_a, spad.read_a)
        wiring.connect(m, exe.spad_b, spad.read_b)
        wiring.connect(m, wiring.flipped(self.cmd), exe.cmd)
        wiring.connect(m, exe.acc_write, acc.write)
        wiring.connect(m, wiring.flipped(self.acc_read_cmd), acc.read_cmd)
        wiring.connect(m, acc.read, wiring.flipped(self.acc_read))
        m.d.comb += [
            self.op_done.eq(acc.done),
            perf.accept.eq(self.cmd.valid & self.cmd.ready),
            perf.done.eq(acc.done),
            perf.mac.eq(exe.mac_active),
            perf.clear.eq(self.counter_clear),
            self.cycles.eq(perf.cycles), self.busy_cycles.eq(perf.busy_cycles),
            self.mac_cycles.eq(perf.mac_cycles),
        ]
        return m


class NonlinearTop(wiring.Component):
    """Accumulator + scratchpad + nonlinear unit: what the nonlinear testbench drives.

    ``acc_write`` loads accumulator lines and ``spad_write`` scratchpad rows (residual operands; the testbench
    has priority over the unit's own writes); ``spad_read`` reads scratchpad rows back (latency 1). ``cmd``,
    ``consts``, ``col_write``, ``o``, ``done`` and ``error`` are the nonlinear unit's (see ``NonlinearUnit``).
    """

    def __init__(self, config):
        self._cfg = config
        self._unit = NonlinearUnit(config)
        super().__init__({
            "acc_write": In(stream.Signature(AccWriteLayout(config))),
            "spad_write": In(stream.Signature(SpadWriteLayout(config))),
            "spad_read": In(ReadPortSignature(config.spad_addr_width, config.spad_row_bits)),
            "cmd": In(stream.Signature(NlCmdLayout(config))),
            "consts": In(LaneConstsLayout),
            "col_write": In(stream.Signature(ColWriteLayout)),
            "o": Out(stream.Signature(LaneOutLayout(config, self._unit.n))),
            "done": Out(1), "error": Out(1),
        })

    @property
    def n(self):
        return self._unit.n

    def elaborate(self, platform):
        m = Module()
        m.submodules.acc = acc = Accumulator(self._cfg)
        m.submodules.spad = spad = Scratchpad(self._cfg)
        m.submodules.nl = nl = self._unit
        m.d.comb += [acc.write.valid.eq(self.acc_write.valid), acc.write.payload.eq(self.acc_write.payload),
                     self.acc_write.ready.eq(1), self.spad_write.ready.eq(1)]
        with m.If(self.spad_write.valid):
            m.d.comb += [spad.write.valid.eq(1), spad.write.payload.eq(self.spad_write.payload)]
        with m.Else():
            m.d.comb += [spad.write.valid.eq(nl.spad_write.valid), spad.write.payload.eq(nl.spad_write.payload),
                         nl.spad_write.ready.eq(1)]
        wiring.connect(m, nl.spad_read, spad.read_a)
        m.d.comb += nl.spad_free.eq(1)       # the port is the unit's alone here
        wiring.connect(m, wiring.flipped(self.spad_read), spad.read_b)
        wiring.connect(m, nl.acc_read_cmd, acc.read_cmd)
        wiring.connect(m, acc.read, nl.acc_read)
        wiring.connect(m, wiring.flipped(self.cmd), nl.cmd)
        wiring.connect(m, wiring.flipped(self.col_write), nl.col_write)
        wiring.connect(m, nl.o, wiring.flipped(self.o))
        m.d.comb += [nl.consts.eq(self.consts), self.done.eq(nl.done), self.error.eq(nl.error)]
        return m
