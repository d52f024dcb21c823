"""Shared pieces of the AXI/DMA testbenches: Verilator designs (cached by sim.runner), random pause patterns,
and the DMA test top (AxiMaster + DmaReader/DmaWriter with their streams exposed to cocotb)."""
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import runner

__all__ = ["axi_digest", "random_pauses", "csr_design", "DmaTestTop", "dma_design", "copy_descriptor",
           "DmaCopyTop",
           "copy_design"]

def random_pauses(rng, p):
    """A cocotbext-axi pause generator: pause (True) with probability ``p`` each cycle."""
    while True:
        yield rng.random() < p


def axi_digest():
    """Digest of everything the AXI test designs are generated from: the RTL sources and this file (the test tops)."""
    import hashlib
    import pathlib
    return hashlib.sha256((runner.rtl_digest() + pathlib.Path(__file__).read_text()).encode()).hexdigest()[:8]


def _generated(kind, *args):
    """``(verilog, ports)`` of test design ``kind`` (called in a fresh interpreter by :func:`_fresh`)."""
    from .verilog import convert_component
    if kind == "axi_csr":
        from hw.csr import CsrBlock
        return convert_component(CsrBlock(n_perf=args[0]), name=kind)
    if kind == "axi_dma_top":
        return convert_component(DmaTestTop(dim=args[0], input_width=args[1], data_width=args[2]), name=kind)
    if kind == "axi_copy_top":
        return convert_component(DmaCopyTop(dim=args[0], input_width=args[1], data_width=args[2]), name=kind)
    raise ValueError(f"unknown AXI test design {kind!r}")


def _fresh(kind, args, digest):
    """Generate in a fresh interpreter: a long-lived pytest-xdist worker may hold hw/ modules imported before an
    edit and would store stale Verilog under the new key (same scheme as sim.runner.fresh_tile_verilog)."""
    import json
    import subprocess
    import sys
    code = ("import json, sys; from sim import tb_axi; text, ports = tb_axi._generated(*json.loads(sys.argv[1])); "
            "sys.stdout.write(json.dumps([tb_axi.axi_digest(), text, ports]))")
    r = subprocess.run([sys.executable, "-c", code, json.dumps([kind, *args])], cwd=runner.ROOT, check=True,
                       capture_output=True, text=True)
    got, text, ports = json.loads(r.stdout)
    if got != digest:
        raise RuntimeError("AXI generator sources changed while the Verilog was generated; run again")
    return text, [tuple(p) for p in ports]


def _design(kind, tag, *args):
    digest = axi_digest()
    return runner.Design(name=kind, key=f"{tag}-{digest}", make_verilog=lambda: _fresh(kind, args, digest))


def csr_design(n_perf=2):
    """CsrBlock alone (top ``axi_csr``)."""
    return _design("axi_csr", f"axicsr{n_perf}", n_perf)


class DmaTestTop(wiring.Component):
    """AxiMaster with every kind of client, for the cocotb tests: read port 0 and write port 0 raw (driven by
    the test), read port 1 a DmaReader (``dim`` x ``input_width``), read port 2 an accumulator-line DmaReader
    (``dim`` x 32, 4-byte elements), write port 1 a DmaWriter (``dim`` x ``input_width``, 1/2/4-byte elements)."""

    def __init__(self, *, dim, input_width, data_width):
        from hw.axi import Axi4Signature, AxiMaster, ReadPortSignature, WritePortSignature
        from hw.dma import DmaReader, DmaWriter
        self.master = AxiMaster(n_read=3, n_write=2, data_width=data_width)
        self.rd_a = DmaReader(dim=dim, input_width=input_width, data_width=data_width)
        self.rd_b = DmaReader(dim=dim, input_width=32, elem_bytes=4, data_width=data_width)
        self.wr = DmaWriter(dim=dim, input_width=input_width, elem_bytes=(1, 2, 4), data_width=data_width)
        port = dict(data_width=data_width)
        super().__init__({
            "axi": Out(Axi4Signature(data_width=data_width)),
            "raw_read": In(ReadPortSignature(**port)), "raw_write": In(WritePortSignature(**port)),
            "a_req": In(self.rd_a.req.signature.flip()), "a_lines": Out(self.rd_a.lines.signature),
            "b_req": In(self.rd_b.req.signature.flip()), "b_lines": Out(self.rd_b.lines.signature),
            "w_req": In(self.wr.req.signature.flip()), "w_lines": In(self.wr.lines.signature.flip()),
            "w_done": Out(1), "error": Out(1), "error_addr": Out(32), "error_write": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        mst = self.master
        m.submodules += [mst, self.rd_a, self.rd_b, self.wr]
        wiring.connect(m, wiring.flipped(self.axi), mst.axi)
        wiring.connect(m, wiring.flipped(self.raw_read), mst.read[0])
        wiring.connect(m, self.rd_a.mem, mst.read[1])
        wiring.connect(m, self.rd_b.mem, mst.read[2])
        wiring.connect(m, wiring.flipped(self.raw_write), mst.write[0])
        wiring.connect(m, self.wr.mem, mst.write[1])
        wiring.connect(m, wiring.flipped(self.a_req), self.rd_a.req)
        wiring.connect(m, self.rd_a.lines, wiring.flipped(self.a_lines))
        wiring.connect(m, wiring.flipped(self.b_req), self.rd_b.req)
        wiring.connect(m, self.rd_b.lines, wiring.flipped(self.b_lines))
        wiring.connect(m, wiring.flipped(self.w_req), self.wr.req)
        wiring.connect(m, wiring.flipped(self.w_lines), self.wr.lines)
        m.d.comb += [self.w_done.eq(self.wr.done), self.error.eq(mst.error), self.error_addr.eq(mst.error_addr),
                     self.error_write.eq(mst.error_write)]
        return m


def dma_design(dim, input_width, data_width):
    """DmaTestTop (top ``axi_dma_top``)."""
    return _design("axi_dma_top", f"axidma-{dim}x{input_width}-{data_width}", dim, input_width, data_width)


# Descriptor of DmaCopyTop, 16 bytes little-endian at PROG_ADDR: src, dst, lines, elem_bytes, -, stride.
def copy_descriptor(src, dst, lines, stride, elem_bytes=1):
    return (src.to_bytes(4, "little") + dst.to_bytes(4, "little") + lines.to_bytes(2, "little")
            + bytes([elem_bytes, 0]) + stride.to_bytes(4, "little"))


class DmaCopyTop(wiring.Component):
    """A minimal accelerator-shaped DUT: CSR block on ``s_axil``, AxiMaster on ``m_axi``, ``irq``. START fetches
    a 16-byte descriptor (:func:`copy_descriptor`) from PROG_ADDR through read port 0 (like an instruction
    fetch), then copies ``lines`` lines src -> dst through a DmaReader (port 1) streaming into a DmaWriter.
    perf[0]/perf[1] count R/W beats. A bus error reports ERROR_CODE 1 and ERROR_INFO = the failing address."""

    def __init__(self, *, dim=16, input_width=8, data_width=128):
        from hw.axi import Axi4Signature, AxiLiteSignature
        if data_width < 128:
            raise ValueError(f"DmaCopyTop fetches its descriptor in one beat: data_width >= 128, not {data_width!r}")
        self._dim, self._iw, self._dw = dim, input_width, data_width
        super().__init__({"s_axil": In(AxiLiteSignature(12, 32)), "m_axi": Out(Axi4Signature(data_width=data_width)),
                          "irq": Out(1)})

    def elaborate(self, platform):
        from amaranth import Signal
        from hw.axi import AxiMaster
        from hw.csr import CsrBlock
        from hw.dma import DmaReader, DmaWriter
        m = Module()
        m.submodules.csr = csr = CsrBlock(n_perf=2)
        m.submodules.master = mst = AxiMaster(n_read=2, n_write=1, data_width=self._dw)
        m.submodules.reader = rd = DmaReader(dim=self._dim, input_width=self._iw, data_width=self._dw)
        m.submodules.writer = wr = DmaWriter(dim=self._dim, input_width=self._iw, data_width=self._dw)
        wiring.connect(m, wiring.flipped(self.s_axil), csr.axi)
        wiring.connect(m, mst.axi, wiring.flipped(self.m_axi))
        wiring.connect(m, rd.mem, mst.read[1])
        wiring.connect(m, wr.mem, mst.write[0])
        wiring.connect(m, rd.lines, wr.lines)
        fetch = mst.read[0]
        desc = Signal(128)
        src, dst, lines, eb, stride = desc[0:32], desc[32:64], desc[64:80], desc[80:83], desc[96:128]
        rd_sent, wr_sent, done = Signal(), Signal(), Signal()
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(csr.start):
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += [fetch.req.valid.eq(1), fetch.req.payload.addr.eq(csr.prog_addr),
                             fetch.req.payload.beats.eq(1)]
                with m.If(fetch.req.ready):
                    m.next = "DESC"
            with m.State("DESC"):
                m.d.comb += fetch.resp.ready.eq(1)
                with m.If(fetch.resp.valid):
                    m.d.sync += [desc.eq(fetch.resp.payload.data[:128]), rd_sent.eq(0), wr_sent.eq(0)]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                for req, sent, addr in ((rd.req, rd_sent, src), (wr.req, wr_sent, dst)):
                    m.d.comb += [req.valid.eq(~sent), req.payload.mem_addr.eq(addr), req.payload.lines.eq(lines),
                                 req.payload.stride.eq(stride), req.payload.elem_bytes.eq(eb)]
                    with m.If(req.valid & req.ready):
                        m.d.sync += sent.eq(1)
                with m.If((rd_sent | (rd.req.valid & rd.req.ready)) & (wr_sent | (wr.req.valid & wr.req.ready))):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(wr.done):
                    m.d.comb += done.eq(1)
                    m.next = "IDLE"
        busy = Signal()
        r_beats, w_beats = Signal(64), Signal(64)
        with m.If(csr.start):
            m.d.sync += [r_beats.eq(0), w_beats.eq(0)]
        with m.Else():
            m.d.sync += [r_beats.eq(r_beats + (mst.axi.rvalid & mst.axi.rready)),
                         w_beats.eq(w_beats + (mst.axi.wvalid & mst.axi.wready))]
        m.d.comb += [busy.eq(~fsm.ongoing("IDLE")), csr.busy.eq(busy),
                     csr.done.eq(done), csr.error.eq(mst.error), csr.error_code.eq(mst.error),
                     csr.error_info.eq(mst.error_addr), mst.clear.eq(csr.clear | csr.start),
                     csr.perf[0].eq(r_beats), csr.perf[1].eq(w_beats), self.irq.eq(csr.irq)]
        return m


def copy_design(dim=16, input_width=8, data_width=128):
    """DmaCopyTop alone (top ``axi_copy_top``; the plain cocotb + cocotbext-axi harness, or wrapped by
    sim.tb_axi_harness)."""
    return _design("axi_copy_top", f"axicopy-{dim}x{input_width}-{data_width}", dim, input_width, data_width)
