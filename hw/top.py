"""``TileTop``: scratchpad + execute unit (mesh) + accumulator + counters, the unit the array testbench drives.

Issue 5's top level replaces the testbench with DMA and a controller on the same streams.
"""
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .accumulator import AccReadCmdLayout, AccRowLayout, Accumulator
from .config import AcceleratorConfig
from .counters import PerfCounters
from .execute import CmdLayout, ExecuteUnit
from .execute_os import OSExecuteUnit
from .scratchpad import Scratchpad, SpadWriteLayout

__all__ = ["TileTop"]


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
