"""Control/status registers of the accelerator behind an AXI4-Lite slave (map in docs/axi.md)."""
from amaranth import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .axi import RESP_OKAY, AxiLiteSignature

__all__ = ["CTRL", "STATUS", "ERROR_CODE", "ERROR_INFO", "PROG_ADDR", "CYCLES_LO", "CYCLES_HI", "PERF_BASE",
           "perf_lo", "CsrBlock"]

CTRL, STATUS, ERROR_CODE, ERROR_INFO, PROG_ADDR = 0x00, 0x04, 0x08, 0x0C, 0x10
CYCLES_LO, CYCLES_HI = 0x20, 0x24
PERF_BASE = 0x28
CTRL_START, CTRL_CLEAR, CTRL_ABORT = 1 << 0, 1 << 1, 1 << 2
STATUS_BUSY, STATUS_DONE, STATUS_ERROR = 1 << 0, 1 << 1, 1 << 2


def perf_lo(i):
    """Byte address of performance counter ``i``'s low word (the high word is at +4)."""
    return PERF_BASE + 8 * i


class CsrBlock(wiring.Component):
    """AXI4-Lite register block: start/clear, status, error report, program address, cycle and perf counters.

    Protocol: AW and W are taken independently (either order or together) into holding registers; the write
    happens when both are held and the previous B has been taken; B and R stay valid until ready. Unmapped
    addresses read 0 and every access responds OKAY. A 64-bit counter read as low word then high word is
    consistent: reading a low word snapshots that counter's high word, which the next high-word read returns.

    Latency: AR -> R valid 1 cycle; AW+W -> B valid 2 cycles; CTRL write -> ``start``/``clear`` pulse in the
    cycle after the write. Throughput: one read per 2 cycles, one write per 3 cycles.

    Core side: ``start`` pulses for one cycle on a CTRL write with bit 0 set (it also clears DONE/ERROR and the
    cycle counter); ``abort`` pulses on a CTRL write with bit 2 set (the core stops: ``hw.controller``). ``done``
    and ``error`` inputs are sampled every cycle into sticky STATUS bits. CYCLES counts cycles with ``busy`` high.
    ``error_code``/``error_info``/``perf`` are read live.

    Parameters
    ----------
    n_perf : int
        64-bit performance counters mapped from 0x28 (0..64).
    addr_width : int
        AXI4-Lite address bits (the block decodes the low ``addr_width`` bits; it must cover the map).

    Members
    -------
    axi : ``In(AxiLiteSignature(addr_width, 32))``
    start, clear, abort : ``Out(1)`` (pulses);  prog_addr : ``Out(32)``;  irq : ``Out(1)`` (STATUS.done | STATUS.error)
    busy, done, error : ``In(1)``;  error_code : ``In(8)``;  error_info : ``In(32)``
    perf : ``In(data.ArrayLayout(64, n_perf))`` (absent when ``n_perf == 0``)
    """

    def __init__(self, *, n_perf=4, addr_width=12):
        if not isinstance(n_perf, int) or not 0 <= n_perf <= 64:
            raise ValueError(f"n_perf must be an integer in 0..64, not {n_perf!r}")
        if not isinstance(addr_width, int) or 2 ** addr_width < perf_lo(n_perf):
            raise ValueError(f"addr_width={addr_width!r} does not cover the map up to {perf_lo(n_perf):#x}")
        self._n_perf = n_perf
        members = {"axi": In(AxiLiteSignature(addr_width, 32)), "start": Out(1), "clear": Out(1), "abort": Out(1),
                   "prog_addr": Out(32), "busy": In(1), "done": In(1), "error": In(1), "error_code": In(8),
                   "error_info": In(32), "irq": Out(1)}
        if n_perf:
            members["perf"] = In(data.ArrayLayout(64, n_perf))
        super().__init__(members)

    @property
    def n_perf(self):
        return self._n_perf

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        done_s, error_s = Signal(), Signal()
        cycles = Signal(64)
        counters = [cycles] + [self.perf[i] for i in range(self._n_perf)]

        # ---- write channel ------------------------------------------------------------------------------
        aw_full, w_full = Signal(), Signal()
        aw_addr = Signal(len(axi.awaddr))
        w_data, w_strb = Signal(32), Signal(4)
        m.d.comb += [axi.awready.eq(~aw_full), axi.wready.eq(~w_full), axi.bresp.eq(RESP_OKAY)]
        with m.If(axi.awvalid & axi.awready):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(axi.awaddr)]
        with m.If(axi.wvalid & axi.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(axi.wdata), w_strb.eq(axi.wstrb)]
        with m.If(axi.bvalid & axi.bready):
            m.d.sync += axi.bvalid.eq(0)
        m.d.sync += [self.start.eq(0), self.clear.eq(0), self.abort.eq(0)]
        commit = aw_full & w_full & ~axi.bvalid
        with m.If(commit):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), axi.bvalid.eq(1)]
            word = aw_addr[2:]
            with m.If(word == CTRL >> 2):
                with m.If(w_strb[0]):
                    m.d.sync += [self.start.eq(w_data[0]), self.clear.eq(w_data[1]), self.abort.eq(w_data[2])]
            with m.If(word == PROG_ADDR >> 2):
                for b in range(4):
                    with m.If(w_strb[b]):
                        m.d.sync += self.prog_addr[8 * b:8 * b + 8].eq(w_data[8 * b:8 * b + 8])

        m.d.comb += self.irq.eq(done_s | error_s)

        # ---- core side ----------------------------------------------------------------------------------
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(self.done):
            m.d.sync += done_s.eq(1)
        with m.If(self.error):
            m.d.sync += error_s.eq(1)
        with m.If(self.start | self.clear):
            m.d.sync += [done_s.eq(0), error_s.eq(0)]
        with m.If(self.start):
            m.d.sync += cycles.eq(0)

        # ---- read channel -------------------------------------------------------------------------------
        shadow = Signal(32)
        shadow_of = Signal(range(len(counters) + 1), init=len(counters))   # which counter; none initially
        m.d.comb += [axi.arready.eq(~axi.rvalid), axi.rresp.eq(RESP_OKAY)]
        with m.If(axi.rvalid & axi.rready):
            m.d.sync += axi.rvalid.eq(0)
        with m.If(axi.arvalid & axi.arready):
            m.d.sync += [axi.rvalid.eq(1), axi.rdata.eq(0)]
            with m.Switch(axi.araddr[2:]):
                with m.Case(STATUS >> 2):
                    m.d.sync += axi.rdata.eq(Cat(self.busy, done_s, error_s))
                with m.Case(ERROR_CODE >> 2):
                    m.d.sync += axi.rdata.eq(self.error_code)
                with m.Case(ERROR_INFO >> 2):
                    m.d.sync += axi.rdata.eq(self.error_info)
                with m.Case(PROG_ADDR >> 2):
                    m.d.sync += axi.rdata.eq(self.prog_addr)
                for i, c in enumerate(counters):
                    lo = CYCLES_LO if i == 0 else perf_lo(i - 1)
                    with m.Case(lo >> 2):
                        m.d.sync += [axi.rdata.eq(c[:32]), shadow.eq(c[32:]), shadow_of.eq(i)]
                    with m.Case((lo + 4) >> 2):
                        with m.If(shadow_of == i):
                            m.d.sync += [axi.rdata.eq(shadow), shadow_of.eq(len(counters))]
                        with m.Else():
                            m.d.sync += axi.rdata.eq(c[32:])
        return m
