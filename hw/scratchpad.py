"""Scratchpad: banked SRAM of int rows (``dim`` elements of ``input_width`` bits), one write and two read ports.

Row ``addr`` lives in bank ``addr % banks`` at word ``addr // banks``. Each bank is an
``amaranth.lib.memory.Memory`` with one write port and two synchronous read ports (A stream and B preload), so
the execute unit reads an activation row and a weight row in the same cycle.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SpadWriteLayout", "ReadPortSignature", "Scratchpad"]


def SpadWriteLayout(cfg):
    """Payload of a scratchpad write: a row address and the row (element i in bits ``i*iw``...)."""
    return data.StructLayout({"addr": cfg.spad_addr_width, "data": cfg.spad_row_bits})


class ReadPortSignature(wiring.Signature):
    """A synchronous memory read port seen from the reader: ``data`` holds row ``addr`` one cycle after a
    cycle with ``en``; it holds its value while ``en`` is low. Latency 1, throughput 1 row per cycle."""

    def __init__(self, addr_width, data_width):
        super().__init__({"addr": Out(addr_width), "en": Out(1), "data": In(data_width)})


class Scratchpad(wiring.Component):
    """Banked scratchpad.

    Members
    -------
    write : In(stream.Signature(SpadWriteLayout), always_ready)
        One row per cycle; takes effect for reads issued in the following cycles.
    read_a, read_b : In(ReadPortSignature)
        Independent read ports, latency 1 cycle.
    read_c : In(ReadPortSignature)
        A third port when ``read_ports=3`` (the accelerator's store unit); every read port costs a copy of the
        banks in block RAM.

    Parameters
    ----------
    config : golden.config.AcceleratorConfig
    """

    def __init__(self, config, *, read_ports=2):
        if read_ports not in (2, 3):
            raise ValueError(f"read_ports must be 2 or 3, not {read_ports!r}")
        self._cfg = config
        self._ports = ("read_a", "read_b", "read_c")[:read_ports]
        rp = ReadPortSignature(config.spad_addr_width, config.spad_row_bits)
        super().__init__({
            "write": In(stream.Signature(SpadWriteLayout(config), always_ready=True)),
            **{name: In(rp) for name in self._ports},
        })
        depth = config.spad_rows // config.spad_banks
        self._mems = [memory.Memory(shape=config.spad_row_bits, depth=depth, init=[])
                      for _ in range(config.spad_banks)]

    @property
    def config(self):
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        nb = self._cfg.spad_banks
        bank_bits = (nb - 1).bit_length()
        for i, mem in enumerate(self._mems):
            m.submodules[f"bank{i}"] = mem
        wa = self.write.payload.addr
        for i, mem in enumerate(self._mems):
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(wa >> bank_bits), wp.data.eq(self.write.payload.data),
                         wp.en.eq(self.write.valid & ((wa[:bank_bits] == i) if bank_bits else 1))]
        for port_name in self._ports:
            port = getattr(self, port_name)
            sel = Signal(range(max(nb, 2)), name=f"{port_name}_bank")
            with m.If(port.en):
                m.d.sync += sel.eq(port.addr[:bank_bits] if bank_bits else 0)
            rdata = []
            for mem in self._mems:
                rp = mem.read_port()
                m.d.comb += [rp.addr.eq(port.addr >> bank_bits), rp.en.eq(port.en)]
                rdata.append(rp.data)
            with m.Switch(sel):
                for i, d in enumerate(rdata):
                    with m.Case(i):
                        m.d.comb += port.data.eq(d)
        return m
