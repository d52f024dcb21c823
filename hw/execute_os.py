"""Output-stationary execute unit: ``C (+)= A x B`` with each dim x dim block of C held in the mesh.

Operation (one ``cmd``, same ``CmdLayout`` as the weight-stationary unit), ``RB = ceil(rows / dim)`` row blocks:

- A is stored transposed per row block: scratchpad row ``a_addr + rb*k + kk`` holds ``A[rb*dim:(rb+1)*dim, kk]``
  (rows past ``rows`` are don't-care); B row ``kk`` is ``b_addr + kk`` (as in weight-stationary).
- Result row ``rb*dim + i`` (only those ``< rows``) goes to accumulator row ``c_addr + rb*dim + i``, columns
  ``< cols``, overwriting unless ``accumulate`` (the whole K sum is formed in the array: one write per row).
- K needs no padding: it is the length of the stream.

Timing (golden/cycles.py is the model): one A^T row and one B row are issued per cycle, the blocks of all
operations back to back, except that the ``last`` (k = K - 1) element of a block waits while one of its rows
would reach the mesh's up-chain output in the same cycle as a row of an earlier block (``last`` issues an even
number ``<= 2*dim - 2`` of cycles apart collide, see ``hw/mesh_os.py``); this only happens when K < 2*dim - 1.
Row i of a block is written ``dim + 2*i + 1`` cycles after its ``last`` issue and committed two cycles later
(``op_done`` for the operation's final row; an operation's final block also waits until its final row commits
after every row written before it, so that ``op_done`` means the operation's rows are all written and pulses in
command order).
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring

from .execute import CmdLayout, ExecuteSignature
from .mesh_os import OSMesh

__all__ = ["OSExecuteUnit"]


class OSExecuteUnit(wiring.Component):
    """Tile-operation sequencer + output-stationary mesh; same interface as ``hw.execute.ExecuteUnit``.

    Latency of an isolated operation with ``rows <= dim``: ``K + dim + 2*(rows - 1) + 3`` cycles from the
    handshake to ``op_done``; with ``RB`` row blocks and ``K >= 2*dim - 1``, ``RB*K + dim + 2*i_last + 3``. Throughput: one K step
    (``dim**2`` MACs) per cycle; a queued command is accepted in the cycle of the previous one's final issue.

    Members
    -------
    cmd : In(stream.Signature(CmdLayout))
    spad_a, spad_b : Out(ReadPortSignature)
    acc_write : Out(stream.Signature(AccWriteLayout, always_ready))
    busy : Out(1)
        An operation is being issued.
    mac_active : Out(1)
        A k step is issued this cycle (``dim**2`` MACs).
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
        m.submodules.mesh = mesh = OSMesh(dim=n, input_width=cfg.input_width, weight_width=cfg.weight_width,
                                          acc_width=cfg.acc_width)
        have = Signal()
        cmd = Signal(CmdLayout(cfg))
        kk = Signal(cfg.spad_addr_width + 1)
        a_ptr = Signal(cfg.spad_addr_width)
        rows_left = Signal(cfg.acc_addr_width + 1)   # rows of C from this block on
        c_base = Signal(cfg.acc_addr_width)
        # Timing wheel: row i of a block leaves the mesh dim + 2*i cycles after its last element enters it
        # (1 + dim + 2*i after the last issue); wheel[x] is the accumulator write x cycles from now. ``busy``
        # marks a slot the mesh's up-chain uses even when the row is not written (rows past ``rows``).
        tok = data.StructLayout({"valid": 1, "busy": 1, "addr": cfg.acc_addr_width, "accumulate": 1,
                                 "cols": range(n + 1), "last": 1, "older": 1})
        length = 3 * n
        wheel = [Signal(tok, name=f"wheel{x}") for x in range(length)]

        is_last = kk == cmd.k - 1
        # A block's sums may only enter the up-chain where no earlier block's sums are (see hw/mesh_os.py):
        # its rows would occupy wheel slots n + 2*i after this cycle, i.e. wheel[n + 2*i + 1] now.
        conflict = Cat(*(wheel[n + 2 * i + 1].busy for i in range(n))).any()
        # op_done comes after every row written before it: an operation's final row may not commit before a row
        # of an earlier block, of this operation or an earlier one (a final block with fewer rows overtakes them
        # when K < 2*dim - 1).
        final_slot = n + 2 * (rows_left - 1) + 1
        overtakes = Cat(*(wheel[x].valid & (x > final_slot) for x in range(length))).any()
        # No block's first row may commit before a row of an earlier operation (``older``): it may write the same
        # accumulator row, and program order must win.
        overtakes_older = Cat(*(wheel[x].valid & wheel[x].older for x in range(n + 2, length))).any()
        issue = have & ~(is_last & (conflict | overtakes_older | ((rows_left <= n) & overtakes)))
        block_end = issue & is_last
        final_block = rows_left <= n
        op_end = block_end & final_block
        m.d.comb += [self.cmd.ready.eq(~have | op_end), self.busy.eq(have), self.mac_active.eq(issue),
                     self.spad_a.addr.eq(a_ptr), self.spad_a.en.eq(issue),
                     self.spad_b.addr.eq(cmd.b_addr + kk), self.spad_b.en.eq(issue)]
        with m.If(issue):
            m.d.sync += [a_ptr.eq(a_ptr + 1), kk.eq(kk + 1)]
        with m.If(block_end):
            m.d.sync += [kk.eq(0), rows_left.eq(rows_left - n), c_base.eq(c_base + n)]
            with m.If(final_block):
                m.d.sync += have.eq(0)
        with m.If(self.cmd.valid & self.cmd.ready):
            p = self.cmd.payload
            m.d.sync += [cmd.eq(p), have.eq(1), kk.eq(0), a_ptr.eq(p.a_addr), rows_left.eq(p.rows),
                         c_base.eq(p.c_addr)]

        # Mesh inputs one cycle after the reads (scratchpad latency).
        v_d, l_d = Signal(), Signal()
        m.d.sync += [v_d.eq(issue), l_d.eq(block_end)]
        iw, ww = cfg.input_width, cfg.weight_width
        for i in range(n):
            m.d.comb += [mesh.a[i].eq(Mux(v_d, self.spad_a.data[i * iw:(i + 1) * iw].as_signed(), 0)),
                         mesh.b[i].eq(Mux(v_d, self.spad_b.data[i * iw:i * iw + ww].as_signed(), 0))]
        m.d.comb += [mesh.valid.eq(v_d), mesh.last.eq(l_d)]

        for x in range(length - 1):
            m.d.sync += wheel[x].eq(wheel[x + 1])
        m.d.sync += wheel[length - 1].eq(0)
        accept = self.cmd.valid & self.cmd.ready
        with m.If(accept):      # every row in flight now belongs to an earlier operation
            for x in range(length - 1):
                m.d.sync += wheel[x].older.eq(1)
        with m.If(block_end):
            for i in range(n):
                # Written now, slot 1 + n + 2*i is read (index 0) 1 + n + 2*i cycles later.
                x = 1 + n + 2 * i
                w = wheel[x - 1]
                # A row is older than the command accepted in the cycle it is written (op_end), and than no other:
                # the slot it overwrites may hold a stale ``older`` from an earlier acceptance.
                m.d.sync += [w.valid.eq(rows_left > i), w.busy.eq(1), w.addr.eq(c_base + i), w.older.eq(accept),
                             w.accumulate.eq(cmd.accumulate),
                             w.cols.eq(cmd.cols), w.last.eq(final_block & (rows_left == i + 1))]
        out = wheel[0]
        m.d.comb += [self.acc_write.valid.eq(out.valid), self.acc_write.payload.addr.eq(out.addr),
                     self.acc_write.payload.accumulate.eq(out.accumulate),
                     self.acc_write.payload.cols.eq(out.cols), self.acc_write.payload.last.eq(out.last),
                     self.acc_write.payload.data.eq(mesh.out)]
        return m
