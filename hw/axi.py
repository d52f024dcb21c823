"""AXI4 and AXI4-Lite signatures, and the accelerator's AXI4 master (arbitrated read and write engines).

Port names: a component member ``m_axi`` with :class:`Axi4Signature` becomes Verilog ports ``m_axi__awaddr`` ...
(Amaranth joins paths with ``__``), which cocotbext-axi finds with ``AxiBus.from_prefix(dut, "m_axi_")``.
"""
from amaranth import Array, C, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

__all__ = ["RESP_OKAY", "RESP_SLVERR", "RESP_DECERR", "AxiLiteSignature", "Axi4Signature", "ReadReqLayout",
           "ReadBeatLayout", "WriteReqLayout", "WriteBeatLayout", "ReadPortSignature", "WritePortSignature",
           "burst_beats", "AxiMaster"]

RESP_OKAY, RESP_SLVERR, RESP_DECERR = 0b00, 0b10, 0b11
BURST_INCR = 0b01
BOUNDARY = 4096       # an AXI burst must not cross a 4 KB boundary
MAX_BURST = 256       # AXI4 INCR bursts are at most 256 beats


def _check_width(name, value, allowed):
    if not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")


def _check_range(name, value, lo, hi):
    if not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite, seen from the master (``In(AxiLiteSignature())`` is a slave port).

    Parameters
    ----------
    addr_width : int
        Address bits (byte address), 1..64.
    data_width : int
        32 or 64.
    """

    def __init__(self, addr_width=12, data_width=32):
        _check_range("addr_width", addr_width, 1, 64)
        _check_width("data_width", data_width, {32, 64})
        self._addr_width, self._data_width = addr_width, data_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })

    @property
    def addr_width(self):
        return self._addr_width

    @property
    def data_width(self):
        return self._data_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __repr__(self):
        return f"AxiLiteSignature(addr_width={self.addr_width}, data_width={self.data_width})"


class Axi4Signature(wiring.Signature):
    """Full AXI4 (INCR bursts; no lock/cache/qos/region/user), seen from the master.

    Parameters
    ----------
    addr_width : int
        Byte address bits, 12..64.
    data_width : int
        Bus width in bits: 32, 64, 128, 256 or 512.
    id_width : int
        Transaction ID bits, 1..16.
    """

    def __init__(self, addr_width=32, data_width=128, id_width=4):
        _check_range("addr_width", addr_width, 12, 64)
        _check_width("data_width", data_width, {32, 64, 128, 256, 512})
        _check_range("id_width", id_width, 1, 16)
        self._addr_width, self._data_width, self._id_width = addr_width, data_width, id_width
        super().__init__({
            "awid": Out(id_width), "awaddr": Out(addr_width), "awlen": Out(8), "awsize": Out(3),
            "awburst": Out(2), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1), "wvalid": Out(1),
            "wready": In(1),
            "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "arid": Out(id_width), "araddr": Out(addr_width), "arlen": Out(8), "arsize": Out(3),
            "arburst": Out(2), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
            "rready": Out(1),
        })

    @property
    def addr_width(self):
        return self._addr_width

    @property
    def data_width(self):
        return self._data_width

    @property
    def id_width(self):
        return self._id_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width and other.id_width == self.id_width)

    def __repr__(self):
        return (f"Axi4Signature(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"id_width={self.id_width})")


def ReadReqLayout(addr_width=32, beats_width=20):
    """A read request: ``addr`` (bytes; the low log2(bus bytes) bits are ignored), ``beats`` (0 = nothing)."""
    return data.StructLayout({"addr": addr_width, "beats": beats_width})


def ReadBeatLayout(data_width=128):
    """One bus beat of read data; ``last`` marks the request's final beat."""
    return data.StructLayout({"data": data_width, "last": 1})


WriteReqLayout = ReadReqLayout


def WriteBeatLayout(data_width=128):
    """One bus beat of write data with its byte strobes."""
    return data.StructLayout({"data": data_width, "strb": data_width // 8})


class ReadPortSignature(wiring.Signature):
    """A requester's read port on :class:`AxiMaster`, seen from the requester: ``req`` out, ``resp`` in."""

    def __init__(self, addr_width=32, data_width=128, beats_width=20):
        super().__init__({"req": Out(stream.Signature(ReadReqLayout(addr_width, beats_width))),
                          "resp": In(stream.Signature(ReadBeatLayout(data_width)))})


class WritePortSignature(wiring.Signature):
    """A writer's port on :class:`AxiMaster`, seen from the writer: ``req`` and ``data`` out, ``done`` in."""

    def __init__(self, addr_width=32, data_width=128, beats_width=20):
        super().__init__({"req": Out(stream.Signature(WriteReqLayout(addr_width, beats_width))),
                          "data": Out(stream.Signature(WriteBeatLayout(data_width))),
                          "done": In(1)})


def burst_beats(addr, remaining, beat_log2, max_burst=MAX_BURST):
    """Beats of the next burst at beat-aligned ``addr`` with ``remaining`` beats left: at most ``max_burst``
    (256) and never across a 4 KB boundary. A combinational expression (Amaranth values) or an int (Python ints)."""
    if isinstance(addr, int):
        to_4k = (BOUNDARY - (addr % BOUNDARY)) >> beat_log2
        return min(remaining, max_burst, to_4k)
    to_4k = (C(BOUNDARY, 13) - addr[:12])[beat_log2:]
    cap = Mux(to_4k > max_burst, max_burst, to_4k)
    return Mux(remaining < cap, remaining, cap)


def _next_burst(addr, remaining, length, beat_log2, max_burst=MAX_BURST):
    """Past a burst of ``length`` beats at ``addr`` with ``remaining`` beats left: the next burst's ``(addr,
    remaining, length)`` assignments' values, so a walker keeps its burst length in a register (set here and
    with each new request) rather than deriving it from the address in the cycle it is used."""
    nxt_addr = (addr + (length << beat_log2))[:len(addr)]
    nxt_rem = (remaining - length)[:len(remaining)]
    return nxt_addr, nxt_rem, burst_beats(nxt_addr, nxt_rem, beat_log2, max_burst)


def _round_robin(m, valids, pointer, grant):
    """``grant`` := the first valid index at or after ``pointer`` (comb)."""
    n = len(valids)
    with m.Switch(pointer):
        for r in range(n):
            with m.Case(r):
                for k in reversed(range(n)):   # later comb assignments win: k = 0 has priority
                    with m.If(valids[(r + k) % n]):
                        m.d.comb += grant.eq((r + k) % n)


class AxiMaster(wiring.Component):
    """AXI4 master with a round-robin read arbiter for ``n_read`` requesters and a write engine for ``n_write``.

    Read: requester ``i`` uses ARID ``i``. A request ``{addr, beats}`` is split into INCR bursts (<= 256 beats,
    never across 4 KB); bursts of all requesters are issued round-robin, up to ``max_outstanding`` bursts in
    flight, so a requester's next burst goes out while the previous one's data is still returning. Data beats
    come back on ``read[i].resp`` in order, ``last`` on each request's final beat. A requester may have up to
    ``read_queue`` requests in flight: ``read[i].req.ready`` is high once the previous request's bursts have all
    been issued (and the queue has room), so back-to-back short requests overlap their round trips.

    Write: requests are taken round-robin among writers into a queue of ``write_queue`` entries and served in
    order (AWID 0 for all, so BRESPs return in order): AW bursts are issued ahead of the data, W beats come
    from the writer of the request being sent (``write[i].data`` supplies exactly ``beats`` beats per request,
    in request order), and ``write[i].done`` pulses for one cycle after the request's last BRESP, so a writer
    may issue its next request before the previous one completes. A ``beats == 0`` request just pulses done
    (in order with the writer's other requests).

    Addresses are byte addresses; their low log2(data_width/8) bits are ignored (requests are beat-aligned;
    the DMA engines handle sub-beat offsets with strobes and byte shifting).

    Errors: any RRESP/BRESP other than OKAY sets ``error`` (sticky until ``clear``) and records the failing
    beat's (read) or burst's (write) address in ``error_addr``, ``error_write`` = 1 for writes. The transfer
    continues (the data of a failed read is whatever the slave returned).

    Latency: request accepted -> ARVALID 2 cycles, AWVALID 3 cycles later (registered channel outputs); R ->
    ``resp`` and ``data`` -> W are combinational pass-throughs; last BRESP -> ``done`` 1 cycle. Throughput: 1
    beat/cycle per direction as long as the slave keeps up (measured with sim/axi_mem.sv, zero latency: see
    docs/axi.md).

    Parameters
    ----------
    n_read, n_write : int
        Requesters (1..2**id_width) and writers (1..2**id_width).
    addr_width, data_width, id_width : int
        The AXI4 port (:class:`Axi4Signature`).
    beats_width : int
        Width of a request's ``beats`` field (up to 2**beats_width - 1 beats per request).
    max_outstanding : int
        Read bursts in flight at once, all requesters together (1..64).
    read_queue : int
        Read requests in flight per requester (1..64).
    read_burst : int
        Longest read burst (1..256 beats). Shorter bursts bound how long another requester's burst waits behind
        the bursts already in flight (at most ``max_outstanding * read_burst`` beats); back-to-back bursts cost
        no bandwidth.
    write_queue : int
        Write requests in flight, all writers together (a power of two, 2..64).

    Members
    -------
    axi : ``Out(Axi4Signature(addr_width, data_width, id_width))``
    read : ``In(ReadPortSignature(...)).array(n_read)``
    write : ``In(WritePortSignature(...)).array(n_write)``
    error, error_write : ``Out(1)``;  error_addr : ``Out(addr_width)``;  clear : ``In(1)``
    """

    def __init__(self, *, n_read=3, n_write=1, addr_width=32, data_width=128, id_width=4, beats_width=20,
                 max_outstanding=8, read_queue=8, write_queue=8, read_burst=MAX_BURST):
        sig = Axi4Signature(addr_width, data_width, id_width)   # validates the bus parameters
        _check_range("n_read", n_read, 1, 2 ** id_width)
        _check_range("n_write", n_write, 1, 2 ** id_width)
        _check_range("beats_width", beats_width, 1, 32)
        _check_range("max_outstanding", max_outstanding, 1, 64)
        _check_range("read_queue", read_queue, 1, 64)
        _check_range("read_burst", read_burst, 1, MAX_BURST)
        self._read_burst = read_burst
        if write_queue not in (2, 4, 8, 16, 32, 64):
            raise ValueError(f"write_queue must be a power of two in 2..64, not {write_queue!r}")
        self._read_queue, self._write_queue = read_queue, write_queue
        self._n_read, self._n_write = n_read, n_write
        self._addr_width, self._data_width, self._id_width = addr_width, data_width, id_width
        self._beats_width, self._max_outstanding = beats_width, max_outstanding
        port = dict(addr_width=addr_width, data_width=data_width, beats_width=beats_width)
        super().__init__({
            "axi": Out(sig),
            "read": In(ReadPortSignature(**port)).array(n_read),
            "write": In(WritePortSignature(**port)).array(n_write),
            "error": Out(1), "error_write": Out(1), "error_addr": Out(addr_width), "clear": In(1),
        })

    n_read = property(lambda self: self._n_read)
    n_write = property(lambda self: self._n_write)
    data_width = property(lambda self: self._data_width)
    addr_width = property(lambda self: self._addr_width)
    beats_width = property(lambda self: self._beats_width)

    def _error(self, m, cond, addr, write):
        with m.If(cond & ~self.error):
            m.d.sync += [self.error.eq(1), self.error_addr.eq(addr), self.error_write.eq(write)]

    def elaborate(self, platform):
        m = Module()
        self._read_side(m)
        self._write_side(m)
        with m.If(self.clear):
            m.d.sync += self.error.eq(0)
        return m

    def _read_side(self, m):
        axi, n, bw = self.axi, self._n_read, self._beats_width
        blog = (self._data_width // 8).bit_length() - 1
        ar_addr = [Signal(self._addr_width, name=f"ar_addr{i}") for i in range(n)]
        ar_rem = [Signal(bw, name=f"ar_rem{i}") for i in range(n)]
        # the next burst's length, a register: set with the address and the beats left (hw.axi.burst_beats)
        lens = [Signal(9, name=f"ar_len{i}") for i in range(n)]
        # Per requester, the accepted requests whose data is still due (addr, beats), oldest first: a new request
        # is taken as soon as the previous one's bursts are all issued, so short requests (strided DMA lines)
        # overlap their memory round trips.
        rxq = []
        for i in range(n):
            port = self.read[i]
            q = SyncFIFO(width=self._addr_width + bw, depth=self._read_queue)
            m.submodules[f"rxq{i}"] = q
            rxq.append(q)

        # AR channel: a register stage, reloaded from the arbiter when empty or being accepted.
        inflight = Signal(range(self._max_outstanding + 1))
        rr = Signal(range(n))
        grant = Signal(range(n))
        _round_robin(m, [r != 0 for r in ar_rem], rr, grant)
        any_req = Signal()
        m.d.comb += any_req.eq(Cat(*[r != 0 for r in ar_rem]).any())
        ar_fire = axi.arvalid & axi.arready
        r_fire = axi.rvalid & axi.rready
        load = Signal()
        m.d.comb += load.eq((~axi.arvalid | axi.arready) & any_req & (inflight < self._max_outstanding))
        with m.If(ar_fire & ~load):
            m.d.sync += axi.arvalid.eq(0)
        with m.If(load):
            m.d.sync += [axi.arvalid.eq(1), rr.eq(Mux(grant == n - 1, 0, grant + 1))]
            with m.Switch(grant):
                for i in range(n):
                    with m.Case(i):
                        nxt = _next_burst(ar_addr[i], ar_rem[i], lens[i], blog, self._read_burst)
                        m.d.sync += [axi.araddr.eq(ar_addr[i]), axi.arlen.eq(lens[i] - 1), axi.arid.eq(i),
                                     *(r.eq(v) for r, v in zip((ar_addr[i], ar_rem[i], lens[i]), nxt))]
        m.d.sync += inflight.eq(inflight + load - (r_fire & axi.rlast))
        for i in range(n):
            # A new request is taken when the previous one's last burst goes to the AR register (no bubble).
            port, q = self.read[i], rxq[i]
            free = (ar_rem[i] == 0) | (load & (grant == i) & (ar_rem[i] == lens[i]))
            m.d.comb += port.req.ready.eq(free & q.w_rdy)
            a = Cat(C(0, blog), port.req.payload.addr[blog:])
            with m.If(port.req.valid & port.req.ready & (port.req.payload.beats != 0)):
                m.d.sync += [ar_addr[i].eq(a), ar_rem[i].eq(port.req.payload.beats),
                             lens[i].eq(burst_beats(a, port.req.payload.beats, blog, self._read_burst))]
                m.d.comb += [q.w_en.eq(1), q.w_data.eq(Cat(a, port.req.payload.beats))]
        m.d.comb += [axi.arsize.eq(blog), axi.arburst.eq(BURST_INCR)]

        # R channel: routed by RID; beats of an unknown ID are drained.
        m.d.comb += axi.rready.eq(1)
        for i in range(n):
            port, q = self.read[i], rxq[i]
            head_addr, head_beats = q.r_data[:self._addr_width], q.r_data[self._addr_width:]
            cnt = Signal(bw, name=f"rx_cnt{i}")
            last = cnt == head_beats - 1
            hit = axi.rid == i
            m.d.comb += [port.resp.valid.eq(axi.rvalid & hit), port.resp.payload.data.eq(axi.rdata),
                         port.resp.payload.last.eq(last)]
            with m.If(hit):
                m.d.comb += axi.rready.eq(port.resp.ready)
            with m.If(r_fire & hit):
                with m.If(last):
                    m.d.sync += cnt.eq(0)
                    m.d.comb += q.r_en.eq(1)
                with m.Else():
                    m.d.sync += cnt.eq(cnt + 1)
                self._error(m, axi.rresp != RESP_OKAY, head_addr + (cnt << blog), 0)

    def _write_side(self, m):
        axi, n, bw, aw = self.axi, self._n_write, self._beats_width, self._addr_width
        blog = (self._data_width // 8).bit_length() - 1
        depth = self._write_queue
        # Accepted requests in a small circular queue read by three walkers over the same burst sequence: AW
        # issue, W data (for WLAST and the data source), B responses (failing address, end of request). All
        # bursts use AWID 0, so the B responses come back in request order. An entry is freed by the B walker.
        ow = max(1, (n - 1).bit_length())
        entries = Array(Signal(ow + aw + bw, name=f"wq{k}") for k in range(depth))
        pw = max(1, (depth - 1).bit_length())
        wr_ptr, aw_ptr, w_ptr, b_ptr = (Signal(pw + 1, name=nm) for nm in ("wq_wr", "wq_aw", "wq_w", "wq_b"))

        def fields(e):
            return e[:ow], e[ow:ow + aw], e[ow + aw:]

        # Accept: round-robin among writers while the queue has room.
        rr = Signal(range(n))
        grant = Signal(range(n))
        _round_robin(m, [p.req.valid for p in self.write], rr, grant)
        room = (wr_ptr - b_ptr)[:pw + 1] != depth
        for i in range(n):
            p = self.write[i]
            m.d.comb += p.req.ready.eq(room & (grant == i))
            with m.If(p.req.valid & p.req.ready):
                a = Cat(C(0, blog), p.req.payload.addr[blog:])
                m.d.sync += [entries[wr_ptr[:pw]].eq(Cat(C(i, ow), a, p.req.payload.beats)), wr_ptr.eq(wr_ptr + 1),
                             rr.eq(Mux(grant == n - 1, 0, grant + 1))]

        def walker(name, ptr, behind=()):
            """Registers (loaded, owner, addr, rem, and the current burst's length) of one walker,
            ``advance()`` to its next burst (call under the condition), and ``step(finish)``, to be called after
            the walker's own updates: it loads the entry at ``ptr`` when idle or finishing (so consecutive
            requests follow without a bubble). ``behind``: pointers this walker must not pass."""
            loaded = Signal(name=f"{name}_loaded")
            owner, addr, rem = (Signal(ow, name=f"{name}_owner"), Signal(aw, name=f"{name}_addr"),
                                Signal(bw, name=f"{name}_rem"))
            length = Signal(9, name=f"{name}_len")

            def advance():
                m.d.sync += [r.eq(v) for r, v in zip((addr, rem, length), _next_burst(addr, rem, length, blog))]

            def step(finish):
                avail = ptr != wr_ptr
                for other in behind:
                    avail &= ptr != other
                with m.If((~loaded | finish) & avail):
                    o, a, b = fields(entries[ptr[:pw]])
                    m.d.sync += [loaded.eq(1), owner.eq(o), addr.eq(a), rem.eq(b), ptr.eq(ptr + 1),
                                 length.eq(burst_beats(a, b, blog))]
                with m.Elif(finish):
                    m.d.sync += loaded.eq(0)
            return loaded, owner, addr, rem, length, advance, step

        # AW: a register stage like AR.
        aw_loaded, _, aw_addr, aw_rem, aw_len, aw_advance, aw_step = walker("aw", aw_ptr)
        aw_load = Signal()
        m.d.comb += [aw_load.eq((~axi.awvalid | axi.awready) & aw_loaded & (aw_rem != 0)),
                     axi.awsize.eq(blog), axi.awburst.eq(BURST_INCR), axi.awid.eq(0)]
        with m.If(axi.awvalid & axi.awready & ~aw_load):
            m.d.sync += axi.awvalid.eq(0)
        with m.If(aw_load):
            m.d.sync += [axi.awvalid.eq(1), axi.awaddr.eq(aw_addr), axi.awlen.eq(aw_len - 1)]
            aw_advance()
        aw_step(aw_loaded & ((aw_rem == 0) | (aw_load & (aw_rem == aw_len))))

        # W: straight from the current request's writer.
        w_loaded, w_owner, w_addr, w_rem, w_len, w_advance, w_step = walker("w", w_ptr)
        w_cnt = Signal(8)
        w_on = w_loaded & (w_rem != 0)
        m.d.comb += axi.wlast.eq(w_cnt == w_len - 1)
        with m.Switch(w_owner):
            for i in range(n):
                with m.Case(i):
                    d = self.write[i].data
                    m.d.comb += [axi.wvalid.eq(w_on & d.valid), axi.wdata.eq(d.payload.data),
                                 axi.wstrb.eq(d.payload.strb), d.ready.eq(w_on & axi.wready)]
        w_fire = axi.wvalid & axi.wready
        with m.If(w_fire):
            with m.If(axi.wlast):
                m.d.sync += w_cnt.eq(0)
                w_advance()
            with m.Else():
                m.d.sync += w_cnt.eq(w_cnt + 1)
        w_step(w_loaded & ((w_rem == 0) | (w_fire & axi.wlast & (w_rem == w_len))))

        # B: accepted while the B walker holds a request with bursts (a response that comes while it holds a
        # zero-beat request waits a cycle instead of being lost); the request's last response (or a zero-beat
        # request) pulses its writer's done. The B walker only loads entries both others have taken: the queue
        # frees an entry when B loads it.
        b_loaded, b_owner, b_addr, b_rem, b_len, b_advance, b_step = walker("b", b_ptr, behind=(aw_ptr, w_ptr))
        done_now, done_owner = Signal(), Signal(ow)
        m.d.sync += done_now.eq(0)
        for i in range(n):
            m.d.comb += self.write[i].done.eq(done_now & (done_owner == i))
        m.d.comb += axi.bready.eq(b_loaded & (b_rem != 0))
        b_fire = axi.bvalid & axi.bready
        b_finish = b_loaded & ((b_rem == 0) | (b_fire & (b_rem == b_len)))
        with m.If(b_fire):
            b_advance()
            self._error(m, axi.bresp != RESP_OKAY, b_addr, 1)
        with m.If(b_finish):
            m.d.sync += [done_now.eq(1), done_owner.eq(b_owner)]
        b_step(b_finish)
