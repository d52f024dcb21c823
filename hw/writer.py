"""Scratchpad writer: the nonlinear unit's output beats -> scratchpad rows, straight or transposed.

Output element ``(r, c)`` of an op with ``rows`` rows (``c`` = column, ``j = c // dim`` its line) goes to

- straight:   scratchpad row ``base + r*row_stride + j*line_stride``, element ``c % dim``;
- transposed: scratchpad row ``base + (r // dim)*row_stride + c*line_stride``, element ``r % dim``
  (a ``dim x dim`` block of rows becomes ``dim`` rows of columns: how ``K`` becomes the B operand ``K^T``).
  Transposed ops have one line per row; a last partial block writes zeros in the lanes beyond ``rows``.

Elements are truncated to ``input_width`` bits: the op's clip range (``golden.nlops``) must fit it, which the
compiler guarantees.

Latency: a row is written the cycle after its last beat arrives (straight); a transposed block is written
over ``dim`` cycles after its last row, during which input stalls. Throughput: one beat per cycle (straight),
``dim`` rows per ``2*dim`` cycles (transposed).
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .lanes import LaneOutLayout
from .scratchpad import SpadWriteLayout

__all__ = ["WriterCmdLayout", "SpadWriter"]


def WriterCmdLayout(cfg):
    aw = cfg.spad_addr_width + 1
    return data.StructLayout({"rows": cfg.acc_addr_width + 1, "lines": 13, "base": cfg.spad_addr_width,
                              "row_stride": aw, "line_stride": aw, "transpose": 1})


class SpadWriter(wiring.Component):
    """Writes an op's output beats (``n`` elements each, row-major order) to the scratchpad.

    Members
    -------
    cmd : In(stream(WriterCmdLayout))
        Accepted when idle; the op's beats follow on ``i``.
    i : In(stream(LaneOutLayout))
    o : Out(stream(SpadWriteLayout))
    done : Out(1)
        Pulses when the op's last row has been written (its write accepted).
    """

    def __init__(self, config, n):
        if config.dim % n:
            raise ValueError(f"beat width {n} must divide dim={config.dim}")
        self._cfg, self._n = config, n
        super().__init__({
            "cmd": In(stream.Signature(WriterCmdLayout(config))),
            "i": In(stream.Signature(LaneOutLayout(config, n))),
            "o": Out(stream.Signature(SpadWriteLayout(config))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, n = self._cfg, self._n
        dim, iw = cfg.dim, cfg.input_width
        bpl = dim // n
        elem = signed(iw)

        cmd = Signal(WriterCmdLayout(cfg))
        busy = Signal()
        m.d.comb += self.cmd.ready.eq(~busy)
        with m.If(self.cmd.valid & ~busy):
            m.d.sync += [cmd.eq(self.cmd.payload), busy.eq(1)]

        # row assembly: dim/n beats make one row of dim elements
        row = Signal(data.ArrayLayout(elem, dim))
        beat = Signal(range(max(2, bpl)))
        line = Signal(13)
        full = Signal()              # `row` holds a complete row not yet written / buffered
        full_last = Signal()         # ... and it is the op's last
        row_addr = Signal(cfg.spad_addr_width + 1)     # straight: base + r*row_stride
        line_addr = Signal(cfg.spad_addr_width + 1)    # straight: row_addr + line*line_stride
        # transpose buffer: up to dim rows of dim elements in, then dim columns out
        tbuf = Signal(data.ArrayLayout(data.ArrayLayout(elem, dim), dim))
        t_count = Signal(range(dim + 1))
        t_out = Signal(range(dim + 1))
        t_draining = Signal()
        t_last = Signal()
        block_addr = Signal(cfg.spad_addr_width + 1)   # transposed: base + (r // dim)*row_stride
        t_addr = Signal.like(block_addr)               # transposed drain: block_addr + t_out*line_stride

        w = self.o
        take_row = full & Mux(cmd.transpose, ~t_draining, w.ready)
        accept = self.i.valid & self.i.ready
        m.d.comb += self.i.ready.eq(busy & (~full | take_row))
        with m.If(accept):
            with m.Switch(beat):
                for b in range(bpl):
                    with m.Case(b):
                        m.d.sync += [row[b * n + j].eq(self.i.payload.data[j]) for j in range(n)]
            m.d.sync += beat.eq(Mux(beat == bpl - 1, 0, beat + 1))
        # a row's last beat may arrive in the cycle the previous row leaves (other beats too, when dim > n)
        with m.If(accept & (beat == bpl - 1)):
            m.d.sync += [full.eq(1), full_last.eq(self.i.payload.last)]
        with m.Elif(take_row):
            m.d.sync += full.eq(0)

        with m.If(take_row):
            last_line = line == cmd.lines - 1
            m.d.sync += line.eq(Mux(last_line, 0, line + 1))
            with m.If(last_line):
                m.d.sync += [row_addr.eq(row_addr + cmd.row_stride), line_addr.eq(row_addr + cmd.row_stride)]
            with m.Else():
                m.d.sync += line_addr.eq(line_addr + cmd.line_stride)
            with m.If(cmd.transpose):
                with m.Switch(t_count):
                    for i in range(dim):
                        with m.Case(i):
                            m.d.sync += tbuf[i].eq(row)
                m.d.sync += t_count.eq(t_count + 1)
                with m.If((t_count == dim - 1) | full_last):
                    m.d.sync += [t_draining.eq(1), t_out.eq(0), t_last.eq(full_last), t_addr.eq(block_addr)]

        # transposed drain: buffer column c -> row block_addr + c*line_stride (t_addr, a running sum); lanes beyond
        # t_count are zero
        col = Signal(data.ArrayLayout(elem, dim))
        with m.Switch(t_out):
            for c in range(dim):
                with m.Case(c):
                    m.d.comb += [col[i].eq(Mux(i < t_count, tbuf[i][c], 0)) for i in range(dim)]
        with m.If(cmd.transpose):
            m.d.comb += [w.valid.eq(t_draining), w.payload.addr.eq(t_addr),
                         w.payload.data.eq(col.as_value())]
        with m.Else():
            m.d.comb += [w.valid.eq(full), w.payload.addr.eq(line_addr), w.payload.data.eq(row.as_value())]
        drain_end = t_draining & w.ready & (t_out == dim - 1)
        with m.If(t_draining & w.ready):
            m.d.sync += [t_out.eq(t_out + 1), t_addr.eq(t_addr + cmd.line_stride)]
            with m.If(drain_end):
                m.d.sync += [t_draining.eq(0), t_count.eq(0), block_addr.eq(block_addr + cmd.row_stride)]
        m.d.comb += self.done.eq((~cmd.transpose & full & full_last & w.ready) | (drain_end & t_last))
        with m.If(self.done):
            m.d.sync += busy.eq(0)
        with m.If(self.cmd.valid & ~busy):
            m.d.sync += [beat.eq(0), line.eq(0), full.eq(0), t_count.eq(0), t_draining.eq(0),
                         row_addr.eq(self.cmd.payload.base), line_addr.eq(self.cmd.payload.base),
                         block_addr.eq(self.cmd.payload.base)]
        return m
