"""DMA engines between memory (through :class:`hw.axi.AxiMaster`) and line streams (scratchpad / accumulator rows).

A transfer is ``lines`` lines of ``dim`` elements; line ``i`` starts at byte ``mem_addr + i * stride``. In memory
an element is an ``elem_bytes``-byte little-endian two's-complement integer, lines are packed (``dim *
elem_bytes`` bytes, no padding); on the stream it is a signed ``input_width``-bit value. Addresses and strides
need no alignment. When ``stride == dim * elem_bytes`` the transfer is one contiguous region: one read/write
request, split by the master into long bursts, 1 bus beat per cycle. Any other stride makes one request per
line; requests run ahead of the data, so strided lines still stream (bursts of one or two beats, though: on a
real memory the per-burst overhead is the cost of striding).
"""
from amaranth import C, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .axi import ReadPortSignature, WritePortSignature

__all__ = ["AHEAD", "DmaReqLayout", "LineLayout", "DmaReader", "DmaWriter"]

# Default segment requests an engine may issue ahead of its data. Strided one-beat lines stream at
# min(1, ahead / round trip) per cycle: raise it (with AxiMaster's max_outstanding, read_queue, write_queue)
# for a memory with a long latency.
AHEAD = 8


def DmaReqLayout(addr_width=32, lines_width=16):
    """A DMA request: ``mem_addr`` and ``stride`` in bytes, ``lines`` (0 = nothing), ``elem_bytes`` (1, 2 or 4;
    must be one of the engine's supported sizes, else the first supported size is used)."""
    return data.StructLayout({"mem_addr": addr_width, "lines": lines_width, "stride": addr_width,
                              "elem_bytes": 3})


def LineLayout(dim, input_width):
    """One line on the stream: ``dim`` signed elements; ``last`` marks the transfer's final line."""
    return data.StructLayout({"data": data.ArrayLayout(signed(input_width), dim), "last": 1})


def shift_units(m, value, amount, width, *, left, unit=8, name="sh"):
    """``value`` shifted left (or right) by ``amount * unit`` bits within ``width`` bits, ``amount`` an unsigned
    Value: a barrel shifter of ``len(amount)`` named stages, each a constant shift (wiring) and a multiplexer.

    ``value << (amount * 8)`` would build an intermediate ``2**(len(amount) + 3)`` bits wider than ``value``
    before any truncation (the DMA's byte shifts were 2,559 bits wide at DIM 16, two thirds of the accelerator's
    netlist edges); here every stage is ``width`` bits.
    """
    cur = Signal(width, name=f"{name}_0")
    m.d.comb += cur.eq(value if left else value[:width])
    for i in range(len(amount)):
        step = unit << i
        nxt = Signal(width, name=f"{name}_{i + 1}")
        if step >= width:       # this bit or any above it shifts everything out
            m.d.comb += nxt.eq(Mux(amount[i:].any(), 0, cur))
            return nxt
        m.d.comb += nxt.eq(Mux(amount[i], Cat(C(0, step), cur)[:width] if left else cur[step:], cur))
        cur = nxt
    return cur


class _DmaBase(wiring.Component):
    def __init__(self, members, *, dim, input_width, elem_bytes, data_width, addr_width, lines_width,
                 beats_width, ahead):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, not {dim!r}")
        if not isinstance(input_width, int) or not 2 <= input_width <= 64:
            raise ValueError(f"input_width must be an integer in 2..64, not {input_width!r}")
        elem_bytes = tuple(elem_bytes) if not isinstance(elem_bytes, int) else (elem_bytes,)
        if not elem_bytes or any(e not in (1, 2, 4) for e in elem_bytes) or len(set(elem_bytes)) != len(elem_bytes):
            raise ValueError(f"elem_bytes must be distinct values of 1, 2 and 4, not {elem_bytes!r}")
        if data_width not in (32, 64, 128, 256, 512):
            raise ValueError(f"data_width must be 32, 64, 128, 256 or 512, not {data_width!r}")
        if not isinstance(lines_width, int) or not 1 <= lines_width <= 24:
            raise ValueError(f"lines_width must be an integer in 1..24, not {lines_width!r}")
        beat = data_width // 8
        need = -(-(beat - 1 + (2 ** lines_width - 1) * dim * max(elem_bytes)) // beat)
        if need >= 2 ** beats_width:
            raise ValueError(f"beats_width={beats_width!r} cannot hold the {need} beats of a maximal transfer "
                             f"(lines_width={lines_width})")
        self._dim, self._input_width, self._elem_bytes = dim, input_width, elem_bytes
        self._data_width, self._addr_width, self._lines_width = data_width, addr_width, lines_width
        self._beats_width = beats_width
        if not isinstance(ahead, int) or not 1 <= ahead <= 256:
            raise ValueError(f"ahead must be an integer in 1..256, not {ahead!r}")
        self._ahead = ahead
        port = dict(addr_width=addr_width, data_width=data_width, beats_width=beats_width)
        super().__init__({"req": In(stream.Signature(DmaReqLayout(addr_width, lines_width))),
                          "busy": Out(1), **members(port)})

    dim = property(lambda self: self._dim)
    input_width = property(lambda self: self._input_width)
    elem_bytes = property(lambda self: self._elem_bytes)
    data_width = property(lambda self: self._data_width)
    line_bits = property(lambda self: self._dim * self._input_width)

    @property
    def max_line_bytes(self):
        return self._dim * max(self._elem_bytes)

    def _plan(self, m, fsm_idle, start, replicate=False):
        """Segment bookkeeping shared by both engines: a contiguous transfer is one segment of ``lines``
        lines, any other stride ``lines`` segments of one line; with ``replicate`` (reader) a stride-0 transfer
        is one segment of one line read once and emitted ``lines`` times (``s.rep``). Returns a namespace."""
        aw, lw = self._addr_width, self._lines_width
        beat = self._data_width // 8
        blog = beat.bit_length() - 1
        s = type("Plan", (), {})()
        s.eb = Signal(3)                       # the element size in use (one of the supported ones)
        s.L = Signal(range(self.max_line_bytes + 1))
        s.addr, s.stride = Signal(aw), Signal(aw)
        s.segs, s.seg_lines, s.total = Signal(lw), Signal(lw), Signal(lw)
        s.off = Signal(blog if blog else 1)
        s.beats = Signal(self._beats_width)
        s.rep = Signal()                       # stride 0 (reader): one line read, emitted seg_lines times
        with m.Switch(s.eb):
            for e in self._elem_bytes:
                with m.Case(e):
                    m.d.comb += s.L.eq(self._dim * e)
        span = Signal(aw + 1)
        lines_bytes = Signal(lw + (self.max_line_bytes).bit_length())
        with m.Switch(s.eb):
            for e in self._elem_bytes:
                with m.Case(e):
                    m.d.comb += lines_bytes.eq(Mux(s.rep, 1, s.seg_lines) * (self._dim * e))
        m.d.comb += [s.off.eq(s.addr[:blog] if blog else 0), span.eq(s.off + lines_bytes + (beat - 1)),
                     s.beats.eq(span[blog:])]
        p = self.req.payload
        eb = Signal(3)
        m.d.comb += eb.eq(self._elem_bytes[0])
        for e in self._elem_bytes[1:]:
            with m.If(p.elem_bytes == e):
                m.d.comb += eb.eq(e)
        L_req = Signal(range(self.max_line_bytes + 1))
        with m.Switch(eb):
            for e in self._elem_bytes:
                with m.Case(e):
                    m.d.comb += L_req.eq(self._dim * e)
        m.d.comb += self.req.ready.eq(fsm_idle)
        contiguous = p.stride == L_req
        rep = (p.stride == 0) if replicate else C(0, 1)
        s.req_segs = Signal(lw)
        m.d.comb += s.req_segs.eq(Mux(contiguous | rep, 1, p.lines))
        with m.If(start):
            m.d.sync += [s.eb.eq(eb), s.addr.eq(p.mem_addr), s.stride.eq(p.stride), s.total.eq(p.lines),
                         s.segs.eq(s.req_segs), s.seg_lines.eq(Mux(contiguous | rep, p.lines, 1)), s.rep.eq(rep)]
        return s


class DmaReader(_DmaBase):
    """Memory -> line stream. Reads ``lines`` lines, sign-extends each ``elem_bytes``-byte element to
    ``input_width`` bits and emits one line per ``lines`` handshake.

    Latency: request -> read request 1 cycle; a line is valid in the cycle after the beat that completes it.
    Throughput: one bus beat or one line per cycle, whichever is slower. Contiguous transfers are one read
    request; strided ones one request per line, issued up to ``ahead`` ahead of the data (the master overlaps them),
    so a line that fits in one beat still streams at one per cycle; a line straddling k beats takes k cycles.

    Parameters
    ----------
    dim : int
        Elements per line.
    input_width : int
        Bits per element on the stream (>= 8 * every elem_bytes: a reader never truncates).
    elem_bytes : int or tuple of int
        Supported element sizes in memory (1, 2, 4); the request's ``elem_bytes`` picks one. Default: those of
        1 and 2 that fit ``input_width`` (reader) / (1, 2) (writer).
    data_width, addr_width, beats_width : int
        As the :class:`hw.axi.AxiMaster` this reader's ``mem`` port connects to.
    lines_width : int
        Width of the request's ``lines`` field.
    ahead : int
        Segment (strided line) requests issued ahead of the data (:data:`AHEAD`).

    Members
    -------
    req : ``In(stream.Signature(DmaReqLayout(addr_width, lines_width)))``
    lines : ``Out(stream.Signature(LineLayout(dim, input_width)))``
    mem : ``Out(ReadPortSignature(addr_width, data_width, beats_width))``  (connect to ``AxiMaster.read[i]``)
    busy : ``Out(1)``
    """

    def __init__(self, *, dim, input_width, elem_bytes=None, data_width=128, addr_width=32, lines_width=16,
                 beats_width=20, ahead=AHEAD):
        if elem_bytes is None:
            elem_bytes = tuple(e for e in (1, 2) if 8 * e <= input_width) or (1,)
        eb = (elem_bytes,) if isinstance(elem_bytes, int) else tuple(elem_bytes)
        for e in eb:
            if isinstance(e, int) and 8 * e > input_width:
                raise ValueError(f"elem_bytes {e!r} is wider than input_width={input_width!r} (a reader "
                                 f"would truncate)")
        super().__init__(lambda port: {"lines": Out(stream.Signature(LineLayout(dim, input_width))),
                                       "mem": Out(ReadPortSignature(**port))},
                         dim=dim, input_width=input_width, elem_bytes=eb, data_width=data_width,
                         addr_width=addr_width, lines_width=lines_width, beats_width=beats_width, ahead=ahead)

    def elaborate(self, platform):
        m = Module()
        beat = self._data_width // 8
        lmax = self.max_line_bytes
        # A beat is taken while at most lmax + beat - 1 bytes are held (no look at this cycle's output): with an
        # unaligned start, steady state holds up to L + beat - 1 bytes, and a lower bound would halve the rate.
        cap = lmax + 2 * beat
        idle, start = Signal(), Signal()
        s = self._plan(m, idle, start, replicate=True)
        m.d.comb += [start.eq(self.req.valid & self.req.ready), self.busy.eq(~idle), idle.eq(s.total == 0)]

        # Issuer: one read request per segment, running ahead of the data by up to ``ahead`` segments (their start
        # offsets wait in `offs` for the unpacker).
        m.submodules.offs = offs = SyncFIFO(width=len(s.off) + self._beats_width, depth=self._ahead)
        issuing = Signal()
        m.d.comb += [self.mem.req.valid.eq(issuing & offs.w_rdy), self.mem.req.payload.addr.eq(s.addr),
                     self.mem.req.payload.beats.eq(s.beats), offs.w_data.eq(Cat(s.off, s.beats)),
                     offs.w_en.eq(self.mem.req.valid & self.mem.req.ready)]
        with m.If(offs.w_en):
            m.d.sync += [s.segs.eq(s.segs - 1), s.addr.eq(s.addr + s.stride)]
            with m.If(s.segs == 1):
                m.d.sync += issuing.eq(0)
        with m.If(start & (self.req.payload.lines != 0)):
            m.d.sync += issuing.eq(1)

        # Unpacker: a byte gearbox per segment; drop a line from the bottom, append the beat on top (the
        # segment's first beat without the bytes below its start address).
        buf = Signal(cap * 8)
        n = Signal(range(cap + 1))
        first = Signal()
        skip = Signal(len(s.off))
        seg_left = Signal(self._lines_width)    # lines still to emit in this segment; 0: none loaded
        seg_beats = Signal(self._beats_width)   # beats of this segment not yet taken (the next ones belong to
        active = seg_left != 0                  # the next segment: its request may already be answered)
        out_fire = self.lines.valid & self.lines.ready
        in_fire = self.mem.resp.valid & self.mem.resp.ready
        # The next segment loads when the current one emits its last line (the rest of its last beat is
        # dropped); a beat arriving in that cycle is the new segment's first.
        load = Signal()
        m.d.comb += load.eq((~active | (out_fire & (seg_left == 1))) & offs.r_rdy)
        m.d.comb += [self.lines.valid.eq(active & (n >= s.L)),
                     self.mem.resp.ready.eq(((seg_beats != 0) & (n < lmax + beat)) | load),
                     self.lines.payload.last.eq(s.total == 1)]
        with m.Switch(s.eb):
            for e in self._elem_bytes:
                with m.Case(e):
                    for k in range(self._dim):
                        m.d.comb += self.lines.payload.data[k].eq(buf[k * 8 * e:(k + 1) * 8 * e].as_signed())
        # The beat goes in at n, the held bytes' top, and then the line leaves from the bottom: the placement's
        # shift amount is a register, and the handshakes only select among finished values (n stays below
        # lmax + beat while a beat is taken, so the beat fits before the line leaves).
        cut = Mux(first, skip, 0)
        word = Signal(beat * 8)
        m.d.comb += word.eq(shift_units(m, self.mem.resp.payload.data, cut, beat * 8, left=False, name="cut"))
        placed = shift_units(m, word, n, cap * 8, left=True, name="place")
        grown, n_grown = Signal.like(buf), Signal.like(n)
        m.d.comb += [grown.eq(buf | Mux(in_fire, placed, 0)), n_grown.eq(n + Mux(in_fire, beat - cut, 0))]
        with m.If(active):
            with m.If(out_fire & ~(s.rep & (seg_left != 1))):     # a replicated line stays until its last copy
                m.d.sync += n.eq(n_grown - s.L)
                with m.Switch(s.eb):
                    for e in self._elem_bytes:
                        with m.Case(e):
                            m.d.sync += buf.eq(grown >> (self._dim * e * 8))
            with m.Else():
                m.d.sync += [buf.eq(grown), n.eq(n_grown)]
            with m.If(in_fire):
                m.d.sync += [first.eq(0), seg_beats.eq(seg_beats - 1)]
            with m.If(out_fire):
                m.d.sync += [seg_left.eq(seg_left - 1), s.total.eq(s.total - 1)]
        # the next segment's first beat without the bytes below its start (built outside the `If`s: a shifter
        # inside them would take `load` into every one of its stages)
        nskip, nbeats = offs.r_data[:len(s.off)], offs.r_data[len(s.off):]
        skipped = shift_units(m, self.mem.resp.payload.data, nskip, beat * 8, left=False, name="skip")
        with m.If(load):
            m.d.comb += offs.r_en.eq(1)
            m.d.sync += [seg_left.eq(s.seg_lines), skip.eq(nskip)]
            with m.If(in_fire):
                m.d.sync += [buf.eq(skipped), n.eq(beat - nskip), first.eq(0), seg_beats.eq(nbeats - 1)]
            with m.Else():
                m.d.sync += [first.eq(1), n.eq(0), buf.eq(0), seg_beats.eq(nbeats)]
        return m


class DmaWriter(_DmaBase):
    """Line stream -> memory. Writes each element as an ``elem_bytes``-byte integer: a narrower element is
    sign-extended, a wider one is TRUNCATED to its low ``8 * elem_bytes`` bits without any flag — the compiler
    must only pick an ``elem_bytes`` the values fit in. Bytes outside the lines are not touched (byte strobes).

    Latency: request -> write request 1 cycle; ``done`` pulses 2 cycles after the transfer's last BRESP.
    Throughput: one bus beat or one line per cycle, whichever is slower. Contiguous transfers are one write
    request; strided ones one request per line, issued up to ``ahead`` ahead of the data (the master queues them and
    does not wait for each BRESP), so a line that fits in one beat still streams at one per cycle.

    Parameters
    ----------
    As :class:`DmaReader` (``elem_bytes`` may be narrower or wider than ``input_width``).

    Members
    -------
    req : ``In(stream.Signature(DmaReqLayout(addr_width, lines_width)))``
    lines : ``In(stream.Signature(LineLayout(dim, input_width)))``  (``last`` is ignored: ``req.lines`` counts)
    mem : ``Out(WritePortSignature(addr_width, data_width, beats_width))``  (connect to ``AxiMaster.write[i]``)
    busy : ``Out(1)``;  done : ``Out(1)`` (one-cycle pulse per request, also for ``lines == 0``)
    """

    def __init__(self, *, dim, input_width, elem_bytes=(1, 2), data_width=128, addr_width=32, lines_width=16,
                 beats_width=20, ahead=AHEAD):
        super().__init__(lambda port: {"lines": In(stream.Signature(LineLayout(dim, input_width))),
                                       "mem": Out(WritePortSignature(**port)), "done": Out(1)},
                         dim=dim, input_width=input_width, elem_bytes=elem_bytes, data_width=data_width,
                         addr_width=addr_width, lines_width=lines_width, beats_width=beats_width, ahead=ahead)

    def _line_bytes(self, m, e):
        """The stream line as ``dim * e`` memory bytes (sign-extended or truncated elements)."""
        parts = []
        for k in range(self._dim):
            x = Signal(signed(8 * e), name=f"e{e}_{k}")
            m.d.comb += x.eq(self.lines.payload.data[k])
            parts.append(x)
        return Cat(*parts)

    def elaborate(self, platform):
        m = Module()
        beat = self._data_width // 8
        lmax = self.max_line_bytes
        cap = beat + 2 * lmax     # as in DmaReader: a line is taken while at most beat + lmax - 1 bytes are held
        idle, start = Signal(), Signal()
        s = self._plan(m, idle, start)
        dones = Signal(self._lines_width)       # segments whose write has not completed yet
        m.d.comb += [start.eq(self.req.valid & self.req.ready), self.busy.eq(~idle), idle.eq(dones == 0)]
        m.d.sync += self.done.eq(0)
        with m.If(start):
            m.d.sync += dones.eq(s.req_segs)
            with m.If(self.req.payload.lines == 0):
                m.d.sync += self.done.eq(1)
        with m.If(self.mem.done & (dones != 0)):
            m.d.sync += dones.eq(dones - 1)
            with m.If(dones == 1):
                m.d.sync += self.done.eq(1)

        # Issuer: one write request per segment, ahead of the data by up to ``ahead`` segments.
        m.submodules.offs = offs = SyncFIFO(width=len(s.off), depth=self._ahead)
        issuing = Signal()
        m.d.comb += [self.mem.req.valid.eq(issuing & offs.w_rdy), self.mem.req.payload.addr.eq(s.addr),
                     self.mem.req.payload.beats.eq(s.beats), offs.w_data.eq(s.off),
                     offs.w_en.eq(self.mem.req.valid & self.mem.req.ready)]
        with m.If(offs.w_en):
            m.d.sync += [s.segs.eq(s.segs - 1), s.addr.eq(s.addr + s.stride)]
            with m.If(s.segs == 1):
                m.d.sync += issuing.eq(0)
        with m.If(start & (self.req.payload.lines != 0)):
            m.d.sync += issuing.eq(1)

        # Packer: lines appended on top of a byte buffer (with their strobes), beats taken from the bottom into a
        # two-beat output queue; a segment starts with its offset's worth of strobe-0 bytes and ends with a partial
        # beat. Its choices (take a line, emit a beat, start the next segment) are functions of its registers and
        # the queues' levels: the memory side's handshake does not reach the byte buffer in one cycle.
        buf, strb = Signal(cap * 8), Signal(cap)
        n = Signal(range(cap + 1))
        in_left = Signal(self._lines_width)     # lines still to take in this segment
        seg_on = Signal()
        out = self.mem.data
        m.submodules.beats = beats = SyncFIFO(width=beat * 8 + beat, depth=2)
        m.d.comb += [out.valid.eq(beats.r_rdy), out.payload.data.eq(beats.r_data[:beat * 8]),
                     out.payload.strb.eq(beats.r_data[beat * 8:]), beats.r_en.eq(out.ready),
                     beats.w_data.eq(Cat(buf[:beat * 8], strb[:beat]))]
        in_fire = self.lines.valid & self.lines.ready
        out_fire = beats.w_en
        seg_end = out_fire & (in_left == 0) & (n <= beat)
        load = Signal()
        m.d.comb += [load.eq((~seg_on | seg_end) & offs.r_rdy),
                     self.lines.ready.eq((seg_on & (in_left != 0) & (n < beat + lmax)) | load),
                     beats.w_en.eq(seg_on & ((n >= beat) | ((in_left == 0) & (n != 0))) & beats.w_rdy)]
        line, ones = Signal(lmax * 8), Signal(lmax)     # the line's bytes and strobes at the element size in use
        with m.Switch(s.eb):
            for e in self._elem_bytes:
                with m.Case(e):
                    m.d.comb += [line.eq(self._line_bytes(m, e)), ones.eq((1 << (self._dim * e)) - 1)]
        # The line goes in at n, the held bytes' top, and then the beat leaves from the bottom (n stays below
        # beat + lmax while a line is taken, so the line fits before the beat leaves); a new segment's first line
        # goes in above its offset. The shift amounts are registers (or the offset FIFO's head), and the
        # handshakes only select among finished values.
        at_n = shift_units(m, line, n, cap * 8, left=True, name="place")
        at_n_strb = shift_units(m, ones, n, cap, left=True, unit=1, name="place_strb")
        at_off = shift_units(m, line, offs.r_data, (lmax + beat) * 8, left=True, name="first")
        at_off_strb = shift_units(m, ones, offs.r_data, lmax + beat, left=True, unit=1, name="first_strb")
        grown, s_grown, n_grown = Signal.like(buf), Signal.like(strb), Signal.like(n)
        m.d.comb += [grown.eq(buf | Mux(in_fire, at_n, 0)), s_grown.eq(strb | Mux(in_fire, at_n_strb, 0)),
                     n_grown.eq(n + Mux(in_fire, s.L, 0))]
        with m.If(load):
            m.d.sync += [buf.eq(Mux(in_fire, at_off, 0)), strb.eq(Mux(in_fire, at_off_strb, 0)),
                         n.eq(offs.r_data + Mux(in_fire, s.L, 0))]
        with m.Elif(out_fire):
            m.d.sync += [buf.eq(grown >> (beat * 8)), strb.eq(s_grown >> beat),
                         n.eq(Mux(n_grown > beat, n_grown - beat, 0))]
        with m.Else():
            m.d.sync += [buf.eq(grown), strb.eq(s_grown), n.eq(n_grown)]
        with m.If(load):
            m.d.comb += offs.r_en.eq(1)
            m.d.sync += [seg_on.eq(1), in_left.eq(s.seg_lines - in_fire)]
        with m.Else():
            with m.If(in_fire):
                m.d.sync += in_left.eq(in_left - 1)
            with m.If(seg_end):
                m.d.sync += seg_on.eq(0)
        return m
