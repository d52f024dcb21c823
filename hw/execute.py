"""Execute unit: runs ``C (+)= A x B`` tile operations on the mesh, reading the scratchpad, writing the accumulator.

Operation (one ``cmd``), with ``KB = ceil(k / dim)`` weight blocks:

- B row ``k`` is scratchpad row ``b_addr + k`` (``B[k, 0:dim]``); rows ``k >= K`` of the last block are preloaded
  as zeros, so shapes that are not multiples of ``dim`` need no padding in memory.
- A rows are read in K-block-major order: block ``kb``, row ``m`` is scratchpad row ``a_addr + kb*rows + m``
  (``A[m, kb*dim:(kb+1)*dim]``), i.e. ``rows * KB`` consecutive rows.
- Result row ``m`` goes to accumulator row ``c_addr + m``, columns ``0..cols-1``; block 0 overwrites unless
  ``accumulate``, later blocks accumulate.

Two sequencers share two block slots (one per weight buffer). The preload sequencer takes a slot for block b
when block b - 2 has issued its last A row, then writes ``dim`` weight rows on consecutive cycles. The stream
sequencer issues block b's A rows (one per cycle) from the cycle after its slot was taken. Timing (``p_b`` =
preload start, ``s_b`` = stream start, ``T`` = command handshake; see golden/cycles.py, which is the model):

    p_b = max(p_{b-1} + dim, s_{b-2} + rows_{b-2}, T + 1 for an operation's first block)
    s_b = max(p_b + 1, s_{b-1} + rows_{b-1})
    done = s_last + rows + 2*dim + 1 + pe_pipeline
               (mesh 2*dim - 1 + pe_pipeline, scratchpad read 1, accumulator write ACC_WRITE_LATENCY = 2, done 1 - 1)

Throughput: ``dim**2`` MACs per cycle while ``rows >= dim``; one block per ``max(rows, dim)`` cycles.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .accumulator import AccWriteLayout
from .mesh import Mesh
from .scratchpad import ReadPortSignature

__all__ = ["CmdLayout", "ExecuteSignature", "ExecuteUnit"]


def CmdLayout(cfg):
    """A tile operation: see the module docstring. ``rows``, ``k`` >= 1 and ``1 <= cols <= dim``."""
    return data.StructLayout({
        "a_addr": cfg.spad_addr_width,
        "b_addr": cfg.spad_addr_width,
        "c_addr": cfg.acc_addr_width,
        "rows": cfg.acc_addr_width + 1,
        "k": cfg.spad_addr_width + 1,
        "cols": range(cfg.dim + 1),
        "accumulate": 1,
    })


def ExecuteSignature(cfg):
    """The ports of an execute unit, whatever its dataflow (``ExecuteUnit``, ``hw.execute_os.OSExecuteUnit``):
    tile commands in, two scratchpad read ports, accumulator writes, ``busy`` and ``mac_active``."""
    rp = ReadPortSignature(cfg.spad_addr_width, cfg.spad_row_bits)
    return wiring.Signature({
        "cmd": In(stream.Signature(CmdLayout(cfg))),
        "spad_a": Out(rp),
        "spad_b": Out(rp),
        "acc_write": Out(stream.Signature(AccWriteLayout(cfg), always_ready=True)),
        "busy": Out(1),
        "mac_active": Out(1),
    })


def _BlockLayout(cfg):
    return data.StructLayout({
        "a_addr": cfg.spad_addr_width,
        "c_addr": cfg.acc_addr_width,
        "rows": cfg.acc_addr_width + 1,
        "cols": range(cfg.dim + 1),
        "accumulate": 1,
        "last": 1,
    })


class ExecuteUnit(wiring.Component):
    """Tile-operation sequencer + mesh.

    Latency of an isolated operation (``cmd`` handshake to the accumulator's ``done``):
    ``(KB - 1) * max(rows, dim) + rows + 2*dim + 3 + pe_pipeline`` cycles. Throughput: operations overlap; a queued command
    is accepted in the last preload cycle of the previous one.

    Members
    -------
    cmd : In(stream.Signature(CmdLayout))
    spad_a, spad_b : Out(ReadPortSignature)
    acc_write : Out(stream.Signature(AccWriteLayout, always_ready))
    busy : Out(1)
        An operation has been accepted and its weights are not all preloaded.
    mac_active : Out(1)
        An A row is issued this cycle (``dim**2`` MACs will be done for it).
    """

    def __init__(self, config):
        self._cfg = config
        super().__init__(ExecuteSignature(config))

    @property
    def config(self):
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n = cfg.dim
        m.submodules.mesh = mesh = Mesh(dim=n, input_width=cfg.input_width, weight_width=cfg.weight_width,
                                        acc_width=cfg.acc_width, pipeline=cfg.pe_pipeline)
        blk = _BlockLayout(cfg)
        slot = [Signal(blk, name=f"slot{i}") for i in range(2)]
        full = [Signal(name=f"full{i}") for i in range(2)]

        # ---------------- preload sequencer ----------------
        have = Signal()
        cmd = Signal(CmdLayout(cfg))
        first = Signal()
        in_block = Signal()
        r = Signal(range(n))
        b_ptr = Signal(cfg.spad_addr_width)
        a_next = Signal(cfg.spad_addr_width)
        k_rem = Signal(cfg.spad_addr_width + 1)
        p_par = Signal()
        slot_free = Mux(p_par, ~full[1], ~full[0])
        start = ~in_block & have & slot_free
        issue_w = start | in_block
        row = Mux(in_block, r, 0)
        last_block = k_rem <= n
        block_end = issue_w & (row == n - 1)
        op_end = block_end & last_block
        m.d.comb += [self.cmd.ready.eq(~have | op_end), self.busy.eq(have),
                     self.spad_b.addr.eq(b_ptr), self.spad_b.en.eq(issue_w & (row < k_rem))]
        with m.If(start):
            for i in range(2):
                with m.If(p_par == i):
                    m.d.sync += [slot[i].a_addr.eq(a_next), slot[i].c_addr.eq(cmd.c_addr),
                                 slot[i].rows.eq(cmd.rows), slot[i].cols.eq(cmd.cols),
                                 slot[i].accumulate.eq(cmd.accumulate | ~first),
                                 slot[i].last.eq(last_block)]
            m.d.sync += [a_next.eq(a_next + cmd.rows), first.eq(0)]
        with m.If(issue_w):
            m.d.sync += [b_ptr.eq(b_ptr + 1), r.eq(row + 1), in_block.eq(row != n - 1)]
        with m.If(block_end):
            m.d.sync += [k_rem.eq(k_rem - n), p_par.eq(~p_par), r.eq(0)]
            with m.If(last_block):
                m.d.sync += have.eq(0)
        with m.If(self.cmd.valid & self.cmd.ready):
            p = self.cmd.payload
            m.d.sync += [cmd.eq(p), have.eq(1), first.eq(1), b_ptr.eq(p.b_addr), a_next.eq(p.a_addr),
                         k_rem.eq(p.k)]

        # Weight row into the mesh one cycle later (scratchpad latency); zero rows pad K up to the block.
        w_valid = Signal()
        w_zero = Signal()
        w_row = Signal(range(n))
        w_buf = Signal()
        m.d.sync += [w_valid.eq(issue_w), w_zero.eq(~(row < k_rem)), w_row.eq(row), w_buf.eq(p_par)]
        iw, ww = cfg.input_width, cfg.weight_width
        for c in range(n):
            # Weights are the low weight_width bits of each scratchpad element (golden checks they fit).
            elem = self.spad_b.data[c * iw:c * iw + ww].as_signed()
            m.d.comb += mesh.w[c].eq(Mux(w_zero, 0, elem))
        m.d.comb += [mesh.w_valid.eq(w_valid), mesh.w_row.eq(w_row), mesh.w_buf.eq(w_buf)]

        # ---------------- stream sequencer ----------------
        s_par = Signal()
        mrow = Signal(cfg.acc_addr_width + 1)
        cur = Mux(s_par, slot[1].as_value(), slot[0].as_value())
        cur = data.View(blk, cur)
        issue_a = Mux(s_par, full[1], full[0])
        last_row = mrow == cur.rows - 1
        m.d.comb += [self.spad_a.addr.eq(cur.a_addr + mrow), self.spad_a.en.eq(issue_a),
                     self.mac_active.eq(issue_a)]
        with m.If(issue_a):
            m.d.sync += mrow.eq(mrow + 1)
            with m.If(last_row):
                m.d.sync += [mrow.eq(0), s_par.eq(~s_par)]
        for i in range(2):
            with m.If(start & (p_par == i)):
                m.d.sync += full[i].eq(1)
            with m.If(issue_a & last_row & (s_par == i)):
                m.d.sync += full[i].eq(0)

        # A row into the mesh one cycle later, zeroed when idle so the array does no spurious switching.
        a_valid = Signal()
        a_buf = Signal()
        m.d.sync += [a_valid.eq(issue_a), a_buf.eq(s_par)]
        for c in range(n):
            elem = self.spad_a.data[c * iw:(c + 1) * iw].as_signed()
            m.d.comb += mesh.a[c].eq(Mux(a_valid, elem, 0))
        m.d.comb += mesh.a_buf.eq(a_buf)

        # Side pipeline: the write's address and flags travel beside the mesh (1 + mesh latency cycles).
        side = Signal(data.StructLayout({"addr": cfg.acc_addr_width, "accumulate": 1,
                                         "cols": range(n + 1), "last": 1}))
        side_valid = Signal()
        m.d.comb += [side.addr.eq(cur.c_addr + mrow), side.accumulate.eq(cur.accumulate),
                     side.cols.eq(cur.cols), side.last.eq(cur.last & last_row), side_valid.eq(issue_a)]
        for i in range(1 + mesh.latency):
            nxt, nxt_valid = Signal.like(side, name=f"side{i}"), Signal(name=f"side_valid{i}")
            m.d.sync += [nxt.eq(side), nxt_valid.eq(side_valid)]
            side, side_valid = nxt, nxt_valid
        m.d.comb += [self.acc_write.valid.eq(side_valid),
                     self.acc_write.payload.addr.eq(side.addr),
                     self.acc_write.payload.accumulate.eq(side.accumulate),
                     self.acc_write.payload.cols.eq(side.cols),
                     self.acc_write.payload.last.eq(side.last),
                     self.acc_write.payload.data.eq(mesh.out)]
        return m
