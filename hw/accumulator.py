"""Accumulator SRAM: int rows of ``dim`` x ``acc_width`` bits, accumulate-on-write or overwrite, banked.

Row ``addr`` lives in bank ``addr % banks``. Writes are a three-stage read-modify-write: stage 1 reads the old
row, stage 2 registers the block RAM's output, stage 3 adds (or not) and writes, with per-element enables so a
partial tile (``cols < dim``) leaves the other columns untouched. Stage 3 forwards the results of the two writes
ahead of it, so back-to-back writes to the same row (K loop over a one-row tile) see each other's result without
a stall, and no path runs from a block RAM's output through the adder.

A second write stream, ``fill``, overwrites whole rows (a LOAD into the accumulator, such as a linear's bias) in the
cycles stage 3 does not write the row's bank: beside the array's writes, which walk consecutive rows, a fill runs at
full rate with two or more banks, after at most one cycle's wait. The two streams must not touch the same rows
while both are in flight (the controller's tokens order them).
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.cycles import ACC_WRITE_LATENCY

from .pipeline import skid_output

__all__ = ["AccFillLayout", "AccWriteLayout", "AccReadCmdLayout", "AccRowLayout", "Accumulator"]


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


def AccFillLayout(cfg):
    """One row overwritten whole: row address and data."""
    return data.StructLayout({"addr": cfg.acc_addr_width, "data": data.ArrayLayout(signed(cfg.acc_width), cfg.dim)})


def AccReadCmdLayout(cfg):
    """Read ``count`` rows ``addr, addr + stride, ...`` (``count == 0`` reads nothing; addresses wrap)."""
    return data.StructLayout({"addr": cfg.acc_addr_width, "count": cfg.acc_addr_width + 1,
                              "stride": cfg.acc_addr_width + 1})


def AccRowLayout(cfg):
    """One accumulator row on the read stream; ``last`` marks the final row of a read command."""
    return data.StructLayout({"data": data.ArrayLayout(signed(cfg.acc_width), cfg.dim), "last": 1})


class Accumulator(wiring.Component):
    """Banked accumulator with a write (read-modify-write) stream and a row read stream.

    Latency: a write accepted at cycle t is committed at the end of cycle t + ACC_WRITE_LATENCY (2,
    ``golden.cycles``); ``done`` pulses in that cycle for a write with ``last``. Throughput: one write per cycle,
    always ready.
    Read stream: after a command is accepted at cycle t, row i is valid from cycle t + 2 + i if ``read``
    is never stalled (1 row per cycle; backpressure holds the row). A new command is accepted in the cycle the
    previous one issues its last row, so back-to-back commands stream without a gap. Reads are not ordered
    against writes in flight: read after ``done``.

    Members
    -------
    write : In(stream.Signature(AccWriteLayout), always_ready)
    fill : In(stream.Signature(AccFillLayout))
        Ready in a cycle stage 3 does not write the row's bank; committed at the end of the handshake cycle.
    read_cmd : In(stream.Signature(AccReadCmdLayout))
    read : Out(stream.Signature(AccRowLayout))
    done : Out(1)
        Pulses when a write with ``last`` commits.
    """

    def __init__(self, config):
        self._cfg = config
        super().__init__({
            "write": In(stream.Signature(AccWriteLayout(config), always_ready=True)),
            "fill": In(stream.Signature(AccFillLayout(config))),
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

        # ---- write path, three stages: ACC_WRITE_LATENCY cycles from acceptance to commit ----
        assert ACC_WRITE_LATENCY == 2
        # s1 (cycle t): the row's banks are read. s2 (t + 1): the block RAM's output is registered through the
        # bank mux. s3 (t + 2): old + data, written at the end of the cycle. The read at t misses the writes of
        # the two operations ahead of it (they commit at the ends of t and t + 1); s3 takes their results from
        # ``fwd1`` (one ahead) and ``fwd2`` (two ahead) instead, per element, as decided in s2 (``hit1``, ``hit2``).
        wr = self.write.payload
        row = data.ArrayLayout(signed(aw), n)
        s2, s3 = Signal(AccWriteLayout(cfg)), Signal(AccWriteLayout(cfg))
        s2_valid, s3_valid = Signal(), Signal()
        fwd1, fwd2 = Signal(row), Signal(row)
        fwd1_addr, fwd1_cols, fwd1_valid = Signal(cfg.acc_addr_width), Signal(range(n + 1)), Signal()
        old_q = Signal(row)
        hit1, hit2 = Signal(n), Signal(n)
        new_row = Signal(row)
        m.d.sync += [s2.eq(wr), s2_valid.eq(self.write.valid), s3.eq(s2), s3_valid.eq(s2_valid),
                     fwd1.eq(new_row), fwd1_addr.eq(s3.addr), fwd1_cols.eq(s3.cols), fwd1_valid.eq(s3_valid),
                     fwd2.eq(fwd1)]
        old = []
        fill = self.fill.payload
        fill_bank = bank_of(fill.addr)
        m.d.comb += self.fill.ready.eq(~s3_valid | (bank_of(s3.addr) != fill_bank))
        for i, mem in enumerate(self._mems):
            wp = mem.write_port(granularity=aw)
            rp = mem.read_port()
            m.d.comb += [rp.addr.eq(wr.addr >> bb), rp.en.eq(1)]
            old.append(rp.data)
            hit = s3_valid & ((s3.addr[:bb] == i) if bb else 1)
            filled = self.fill.valid & self.fill.ready & (fill_bank == i)
            with m.If(hit):
                m.d.comb += [wp.addr.eq(s3.addr >> bb), wp.data.eq(new_row.as_value())]
                m.d.comb += [wp.en[j].eq(j < s3.cols) for j in range(n)]
            with m.Elif(filled):
                m.d.comb += [wp.addr.eq(fill.addr >> bb), wp.data.eq(fill.data.as_value()), wp.en.eq(-1)]
        # s2: bank mux into old_q; which elements the two writes ahead of s3 will have changed
        with m.Switch(bank_of(s2.addr)):
            for i, d in enumerate(old):
                with m.Case(i):
                    m.d.sync += old_q.eq(d)
        # in s3 the operation now in s3 is one ahead (fwd1), the one in fwd1 two ahead (fwd2)
        same1 = s3_valid & (s3.addr == s2.addr)
        same2 = fwd1_valid & (fwd1_addr == s2.addr)
        m.d.sync += [hit1.eq(Cat(same1 & (j < s3.cols) for j in range(n))),
                     hit2.eq(Cat(same2 & (j < fwd1_cols) for j in range(n)))]
        # s3: add and write
        for j in range(n):
            prev = Mux(hit1[j], fwd1[j], Mux(hit2[j], fwd2[j], old_q[j]))
            # Truncation to acc_width is the documented two's-complement wrap (golden.matmul).
            m.d.comb += new_row[j].eq(Mux(s3.accumulate, prev + s3.data[j], s3.data[j]))
        m.d.comb += self.done.eq(s3_valid & s3.last)

        # ---- read path: one row per cycle; the rows leave through a skid register (hw.pipeline), so the
        # reader's ready reaches neither the block RAMs nor the address counters ----
        active = Signal()
        addr = Signal(cfg.acc_addr_width)
        left = Signal(cfg.acc_addr_width + 1)
        out_valid = Signal()
        out_last = Signal()
        sel = Signal(range(max(nb, 2)))
        row_out = Signal(AccRowLayout(cfg))
        advance = skid_output(m, self.read, row_out, out_valid, name="read_skid")
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
        m.d.comb += row_out.last.eq(out_last)
        with m.Switch(sel):
            for i, d in enumerate(rdata):
                with m.Case(i):
                    m.d.comb += row_out.data.eq(d)
        return m
