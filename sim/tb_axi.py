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
