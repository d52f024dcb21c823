"""sim.verilog: Verilog through the public RTLIL backend, all-zero memory initializers dropped, others kept."""
from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from sim.verilog import convert_component, drop_zero_meminit


class _TwoMemories(wiring.Component):
    """A RAM without initial contents and a ROM with some: only the ROM's initializer may reach the Verilog."""
    addr: In(4)
    data: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = memory.Memory(shape=8, depth=16, init=[])
        m.submodules.rom = rom = memory.Memory(shape=8, depth=4, init=[0x5A, 0, 0xC3])
        rd, rd_rom, wr = ram.read_port(), rom.read_port(), ram.write_port()
        m.d.comb += [rd.addr.eq(self.addr), rd_rom.addr.eq(self.addr), wr.addr.eq(self.addr),
                     wr.data.eq(self.addr), wr.en.eq(1), self.data.eq(rd.data ^ rd_rom.data)]
        return m


def test_zero_initializers_dropped_others_kept():
    text, ports = convert_component(_TwoMemories(), name="two_mems")
    assert "module two_mems" in text
    assert "8'h5a" in text and "8'hc3" in text            # the ROM keeps its contents
    inits = [line for line in text.splitlines() if "] = 8'h" in line]
    assert len(inits) == 4                                 # the ROM's four words, none of the RAM's sixteen
    assert ("addr", "input", 4) in ports and ("data", "output", 8) in ports


def test_drop_zero_meminit_cuts_only_all_zero_initializers():
    rtlil = "\n".join(["module \\top", "  cell $meminit_v2 $1", "    connect \\DATA 16'0000000000000000",
                       "  end", "  cell $meminit_v2 $2", "    connect \\DATA 8'00000001", "  end", "end",
                       "module \\top.sub", "  cell $meminit_v2 $7", "    parameter \\WIDTH 4",
                       "    connect \\DATA 4'0000", "    connect \\EN 4'1111", "  end", "  cell $add $8", "  end",
                       "end", ""])
    text, dropped = drop_zero_meminit(rtlil)
    assert dropped == 2
    assert "$1" not in text and "$7" not in text and "cell $meminit_v2 $2" in text and "8'00000001" in text
    assert "cell $add $8" in text and text.count("end") == rtlil.count("end") - 2
