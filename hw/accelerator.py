"""The accelerator's top level: AXI4-Lite control/status, one AXI4 master for memory, and every unit.

::

    s_axil -> CsrBlock (start, PROG_ADDR, STATUS, ERROR_CODE/INFO, CYCLES, perf counters) -> irq
                 |
             Controller: fetch (read port 0) -> decode -> load / execute / store queues, tokens
                 |  load:    DmaReader (read port 1) -> scratchpad / accumulator writes
                 |  execute: CONFIG (read port 2) -> lane constants, column table; MATMUL -> ExecuteUnit;
                 |           NL -> NonlinearUnit (accumulator -> lanes -> scratchpad)
                 |  store:   scratchpad / accumulator reads -> DmaWriter (write port 0)
    m_axi <- AxiMaster (3 read ports, 1 write port, bursts)

Sharing: the accumulator's banks take the array's writes first and loads in the banks left free; the scratchpad's
write port to the nonlinear unit first, then to loads; the scratchpad's B read port to the array first, then to the
nonlinear unit's residual reads (an NL runs beside the MATMULs it does not conflict with: hw.controller); the store
unit has the scratchpad's third read port and takes the accumulator's read port when the nonlinear unit is idle.

Performance counters (CSR ``perf_lo(i)``): 0 cycles the array does useful MACs, 1 cycles the array has tile
operations in flight, 2 cycles the nonlinear unit is busy, 3 cycles the load DMA is busy.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.config import AcceleratorConfig

from .accumulator import Accumulator
from .axi import AxiLiteSignature, AxiMaster, Axi4Signature
from .controller import Controller
from .csr import CsrBlock
from .dma import DmaReader, DmaWriter
from .execute import ExecuteUnit
from .nonlinear import NonlinearUnit
from .scratchpad import Scratchpad

__all__ = ["Accelerator", "N_PERF"]

READ_BURST = 8      # beats: fetch and CONFIG reads wait behind at most 8 such DMA bursts (hw.axi.AxiMaster)
N_PERF = 4


class Accelerator(wiring.Component):
    """Systolica: a program in memory, started through CSRs, runs to ``done`` or ``error`` (``irq``).

    Members
    -------
    s_axil : In(AxiLiteSignature(12, 32))
    m_axi : Out(Axi4Signature(32, config.bus_width, 4))
    irq : Out(1)
        STATUS.done | STATUS.error.
    """

    def __init__(self, config=None):
        config = AcceleratorConfig() if config is None else config
        if not isinstance(config, AcceleratorConfig):
            raise ValueError(f"config must be an AcceleratorConfig, not {config!r}")
        if config.dataflow != "ws":
            raise ValueError(f"the accelerator top is built for the weight-stationary array, not {config.dataflow!r}")
        self._cfg = config
        super().__init__({
            "s_axil": In(AxiLiteSignature(12, 32)),
            "m_axi": Out(Axi4Signature(32, config.bus_width, 4)),
            "irq": Out(1),
        })

    @property
    def config(self):
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.csr = csr = CsrBlock(n_perf=N_PERF)
        m.submodules.axi = axi = AxiMaster(n_read=3, n_write=1, data_width=cfg.bus_width, read_burst=READ_BURST)
        m.submodules.ctrl = ctrl = Controller(cfg)
        dma = dict(dim=cfg.dim, input_width=cfg.acc_width, elem_bytes=(1, 2, 4), data_width=cfg.bus_width)
        m.submodules.ldma = ldma = DmaReader(**dma)
        m.submodules.stdma = stdma = DmaWriter(**dma)
        m.submodules.spad = spad = Scratchpad(cfg, read_ports=3)
        m.submodules.acc = acc = Accumulator(cfg)
        m.submodules.exe = exe = ExecuteUnit(cfg)
        m.submodules.nl = nl = NonlinearUnit(cfg)

        wiring.connect(m, wiring.flipped(self.s_axil), csr.axi)
        wiring.connect(m, axi.axi, wiring.flipped(self.m_axi))
        m.d.comb += [self.irq.eq(csr.irq), ctrl.start.eq(csr.start), ctrl.prog_addr.eq(csr.prog_addr),
                     csr.busy.eq(ctrl.busy), csr.done.eq(ctrl.done), csr.error.eq(ctrl.error),
                     csr.error_code.eq(ctrl.error_code), csr.error_info.eq(ctrl.error_info),
                     ctrl.bus_error.eq(axi.error), ctrl.bus_error_addr.eq(axi.error_addr), ctrl.abort.eq(csr.abort),
                     axi.clear.eq(csr.start)]

        # memory ports: fetch, load DMA, CONFIG reads; the store DMA
        wiring.connect(m, ctrl.fetch, axi.read[0])
        wiring.connect(m, ldma.mem, axi.read[1])
        wiring.connect(m, ctrl.config_mem, axi.read[2])
        wiring.connect(m, stdma.mem, axi.write[0])
        wiring.connect(m, ctrl.ld_req, ldma.req)
        wiring.connect(m, ldma.lines, ctrl.ld_lines)
        wiring.connect(m, ctrl.st_req, stdma.req)
        wiring.connect(m, ctrl.st_lines, stdma.lines)
        m.d.comb += ctrl.st_done.eq(stdma.done)

        # execute: the array and the nonlinear unit
        wiring.connect(m, ctrl.exe_cmd, exe.cmd)
        wiring.connect(m, ctrl.nl_cmd, nl.cmd)
        wiring.connect(m, ctrl.col_write, nl.col_write)
        m.d.comb += [ctrl.exe_done.eq(acc.done), ctrl.nl_done.eq(nl.done), ctrl.nl_busy.eq(nl.busy),
                     ctrl.nl_error.eq(nl.error), nl.consts.eq(ctrl.consts), nl.o.ready.eq(1)]

        # accumulator writes: the array's read-modify-writes, and loads beside them in the banks they leave free
        wiring.connect(m, exe.acc_write, acc.write)
        wiring.connect(m, ctrl.acc_write, acc.fill)
        # scratchpad write port: the nonlinear unit first, then loads
        sw = spad.write
        with m.If(nl.spad_write.valid):
            m.d.comb += [sw.valid.eq(1), sw.payload.eq(nl.spad_write.payload), nl.spad_write.ready.eq(1)]
        with m.Else():
            m.d.comb += [sw.valid.eq(ctrl.spad_write.valid), sw.payload.eq(ctrl.spad_write.payload),
                         ctrl.spad_write.ready.eq(1)]
        # scratchpad reads: A for the array; B for the array first, then the nonlinear unit's residual; C stores
        wiring.connect(m, exe.spad_a, spad.read_a)
        m.d.comb += nl.spad_free.eq(~exe.spad_b.en)
        with m.If(exe.spad_b.en):
            m.d.comb += [spad.read_b.addr.eq(exe.spad_b.addr), spad.read_b.en.eq(1)]
        with m.Else():
            m.d.comb += [spad.read_b.addr.eq(nl.spad_read.addr), spad.read_b.en.eq(nl.spad_read.en)]
        m.d.comb += [exe.spad_b.data.eq(spad.read_b.data), nl.spad_read.data.eq(spad.read_b.data)]
        wiring.connect(m, ctrl.st_spad, spad.read_c)
        # accumulator reads: the nonlinear unit, or a store that claimed the port while the unit was idle
        st_owner = Signal()
        sel_st = st_owner | (~nl.busy & ctrl.st_acc_cmd.valid)
        rc, rd = acc.read_cmd, acc.read
        with m.If(sel_st):
            m.d.comb += [rc.valid.eq(ctrl.st_acc_cmd.valid), rc.payload.eq(ctrl.st_acc_cmd.payload),
                         ctrl.st_acc_cmd.ready.eq(rc.ready), ctrl.st_acc.valid.eq(rd.valid),
                         ctrl.st_acc.payload.eq(rd.payload), rd.ready.eq(ctrl.st_acc.ready)]
        with m.Else():
            m.d.comb += [rc.valid.eq(nl.acc_read_cmd.valid), rc.payload.eq(nl.acc_read_cmd.payload),
                         nl.acc_read_cmd.ready.eq(rc.ready), nl.acc_read.valid.eq(rd.valid),
                         nl.acc_read.payload.eq(rd.payload), rd.ready.eq(nl.acc_read.ready)]
        with m.If(ctrl.st_acc_cmd.valid & ctrl.st_acc_cmd.ready):
            m.d.sync += st_owner.eq(1)
        with m.If(sel_st & rd.valid & rd.ready & rd.payload.last):
            m.d.sync += st_owner.eq(0)

        # performance counters
        perf = [Signal(64, name=f"perf{i}") for i in range(N_PERF)]
        events = [exe.mac_active, exe.busy, nl.busy, ldma.busy]
        with m.If(csr.start):
            m.d.sync += [p.eq(0) for p in perf]
        with m.Else():
            m.d.sync += [p.eq(p + e) for p, e in zip(perf, events)]
        m.d.comb += [csr.perf[i].eq(perf[i]) for i in range(N_PERF)]
        return m
