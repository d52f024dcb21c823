"""Shared pieces of the AXI/DMA testbenches: Verilator designs (cached by sim.runner), random pause patterns,
and the DMA test top (AxiMaster + DmaReader/DmaWriter with their streams exposed to cocotb)."""
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import runner

__all__ = ["AXI_RTL", "random_pauses", "csr_design", "DmaTestTop", "dma_design"]

# The generator sources the AXI/DMA designs depend on (the build key digests them).
AXI_RTL = ("axi", "csr", "dma", "generate")


def random_pauses(rng, p):
    """A cocotbext-axi pause generator: pause (True) with probability ``p`` each cycle."""
    while True:
        yield rng.random() < p


def csr_design(n_perf=2):
    from hw.csr import CsrBlock
    from hw.generate import convert_component
    name = "axi_csr"
    return runner.Design(name=name, key=f"axicsr{n_perf}-{runner.rtl_digest(AXI_RTL)}",
                         make_verilog=lambda: convert_component(CsrBlock(n_perf=n_perf), name=name))


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
    from hw.generate import convert_component
    name = "axi_dma_top"
    return runner.Design(name=name, key=f"axidma-{dim}x{input_width}-{data_width}-{runner.rtl_digest(AXI_RTL)}",
                         make_verilog=lambda: convert_component(
                             DmaTestTop(dim=dim, input_width=input_width, data_width=data_width), name=name))
