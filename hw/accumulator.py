"""Accumulator SRAM: int rows of ``dim`` x ``acc_width`` bits, accumulate-on-write or overwrite, banked.

Row ``addr`` lives in bank ``addr % banks``. Writes are a two-stage read-modify-write: stage 1 reads the old row,
stage 2 adds (or not) and writes, with per-element enables so a partial tile (``cols < dim``) leaves the other
columns untouched. The stage-1 read port is transparent to the write port, so back-to-back writes to the same
row (K loop over a one-row tile) see each other's result without a stall.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AccWriteLayout", "AccReadCmdLayout", "AccRowLayout", "Accumulator"]


def AccWriteLayout(cfg):
    """One accumulator write: row address, row data, accumulate (else overwrite), number of columns to write
    (1..dim, the first ``cols`` elements), and ``last`` (the final write of an operation, echoed on ``done``)."""
    return data.StructLayout({
        "addr": cfg.acc_addr_width,
        "data": data.ArrayLayout(signed(cfg.acc_width), cfg.dim),
        "accumulate": 1,
        "cols": range(cfg.dim + 1),
        "last": 1,
    })


def AccReadCmdLayout(cfg):
    """Read ``count`` rows ``addr, addr + stride, ...`` (``count == 0`` reads nothing; addresses wrap)."""
    return data.StructLayout({"addr": cfg.acc_addr_width, "count": cfg.acc_addr_width + 1,
                              "stride": cfg.acc_addr_width + 1})


def AccRowLayout(cfg):
    """One accumulator row on the read stream; ``last`` marks the final row of a read command."""
    return data.StructLayout({"data": data.ArrayLayout(signed(cfg.acc_width), cfg.dim), "last": 1})


class Accumulator(wiring.Component):
    """Banked accumulator with a write (read-modify-write) stream and a row read stream.

    Latency: a write accepted at cycle t is committed at the end of cycle t + 1; ``done`` pulses in cycle t + 1
    for a write with ``last``. Throughput: one write per cycle, always ready.
    Read stream: after a command is accepted at cycle t, row i is valid from cycle t + 2 + i if ``read``
    is never stalled (1 row per cycle; backpressure holds the row). A new command is accepted in the cycle the
    previous one issues its last row, so back-to-back commands stream without a gap. Reads are not ordered
    against writes in flight: read after ``done``.

    Members
    -------
    write : In(stream.Signature(AccWriteLayout), always_ready)
    read_cmd : In(stream.Signature(AccReadCmdLayout))
    read : Out(stream.Signature(AccRowLayout))
    done : Out(1)
        Pulses when a write with ``last`` commits.
    """

    def __init__(self, config):
        self._cfg = config
        super().__init__({
            "write": In(stream.Signature(AccWriteLayout(config), always_ready=True)),
            "read_cmd": In(stream.Signature(AccReadCmdLayout(config))),
            "read": Out(stream.Signature(AccRowLayout(config))),
            "done": Out(1),
        })
        depth = config.acc_rows // config.acc_banks
        self._mems = [memory.Memory(shape=config.acc_row_bits, depth=depth, init=[])
                      for _ in range(config.acc_banks)]

    @property
    def config(self):
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        nb, n, aw = cfg.acc_banks, cfg.dim, cfg.acc_width
        bb = (nb - 1).bit_length()
        for i, mem in enumerate(self._mems):
            m.submodules[f"bank{i}"] = mem

        def bank_of(addr):
            return addr[:bb] if bb else 0

        # ---- write path: stage 1 (read old row) -> stage 2 (add, write) ----
        wr = self.write.payload
        s2 = Signal(AccWriteLayout(cfg))
        s2_valid = Signal()
        m.d.sync += [s2.eq(wr), s2_valid.eq(self.write.valid)]
        old, wps = [], []
        for i, mem in enumerate(self._mems):
            wp = mem.write_port(granularity=aw)
            rp = mem.read_port(transparent_for=(wp,))
            m.d.comb += [rp.addr.eq(wr.addr >> bb), rp.en.eq(1)]
            old.append(data.View(data.ArrayLayout(signed(aw), n), rp.data))
            hit = s2_valid & ((s2.addr[:bb] == i) if bb else 1)
            m.d.comb += wp.addr.eq(s2.addr >> bb)
            for j in range(n):
                m.d.comb += wp.en[j].eq(hit & (j < s2.cols))
            wps.append(wp)
        s2_bank = s2.addr[:bb] if bb else 0
        new_row = Signal(data.ArrayLayout(signed(aw), n))
        for j in range(n):
            prev = old[0][j]
            for i in range(1, nb):
                prev = Mux(s2_bank == i, old[i][j], prev)
            # Truncation to acc_width is the documented two's-complement wrap (golden.matmul).
            m.d.comb += new_row[j].eq(Mux(s2.accumulate, prev + s2.data[j], s2.data[j]))
        for wp in wps:
            m.d.comb += wp.data.eq(new_row.as_value())
        m.d.comb += self.done.eq(s2_valid & s2.last)

        # ---- read path: one row per cycle; the memory port's enable doubles as the output register ----
        active = Signal()
        addr = Signal(cfg.acc_addr_width)
        left = Signal(cfg.acc_addr_width + 1)
        out_valid = Signal()
        out_last = Signal()
        sel = Signal(range(max(nb, 2)))
        advance = ~out_valid | self.read.ready
        rdata = []
        for mem in self._mems:
            rp = mem.read_port()
            m.d.comb += [rp.addr.eq(addr >> bb), rp.en.eq(advance & active)]
            rdata.append(rp.data)
        stride = Signal(cfg.acc_addr_width + 1)
        m.d.comb += self.read_cmd.ready.eq(~active | (advance & (left == 1)))
        with m.If(advance):
            m.d.sync += [out_valid.eq(active), out_last.eq(left == 1)]
            with m.If(active):
                m.d.sync += [sel.eq(bank_of(addr)), addr.eq(addr + stride), left.eq(left - 1),
                             active.eq(left != 1)]
        with m.If(self.read_cmd.valid & self.read_cmd.ready):
            m.d.sync += [addr.eq(self.read_cmd.payload.addr), left.eq(self.read_cmd.payload.count),
                         stride.eq(self.read_cmd.payload.stride), active.eq(self.read_cmd.payload.count != 0)]
        m.d.comb += [self.read.valid.eq(out_valid), self.read.payload.last.eq(out_last)]
        with m.Switch(sel):
            for i, d in enumerate(rdata):
                with m.Case(i):
                    m.d.comb += self.read.payload.data.eq(d)
        return m
