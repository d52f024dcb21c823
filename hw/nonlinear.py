"""Nonlinear unit: runs softmax, LayerNorm, GELU and requantization over accumulator rows, in passes.

A command names ``rows`` logical rows of ``lines`` accumulator lines each (``L = lines * dim`` values); row ``r``,
line ``j`` is accumulator line ``base + r*row_stride + j*line_stride``. The sequence of passes per op:

=============  ===========================================================================================
SOFTMAX        max pass (normalization unit: row max) -> exp-sum pass (lanes: i-exp -> normalization unit:
               sum, reciprocal) -> output pass (lanes: i-exp, times the reciprocal, uint8)
LAYERNORM      statistics pass (normalization unit: S, T, Q -> mean, isqrt, reciprocal) -> output pass
               (lanes: normalize + affine)
GELU, REQUANT  output pass (lanes), at full lane throughput
=============  ===========================================================================================

Each pass reads every line once (one read command per row); the scores never leave the accumulator between
passes (softmax is fused with the matmul that produced them). Per-row results live in a row table.

Latency and throughput: see ``golden.cycles.nonlinear_cycles``, the exact model. In steady state a pass moves
one beat of ``n = min(lanes, dim)`` values per cycle; statistics passes may be bound by the derive engines when
rows are short (``DERIVE_CYCLES / config.derive_engines > lines``).
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.layernorm import XS_BITS
from golden.nlops import N_BITS, PASSES, LaneOp, NormMode

from .accumulator import AccReadCmdLayout
from .lanes import (ROW_A_BITS, ROW_F_BITS, ROW_K_BITS, ActivationUnit, ColWriteLayout, LaneConstsLayout,
                    LaneOutLayout)
from .norm import NormUnit
from .scratchpad import ReadPortSignature, SpadWriteLayout
from .writer import SpadWriter

__all__ = ["NlCmdLayout", "NonlinearUnit"]

def NlCmdLayout(cfg):
    """An op over accumulator rows (see the module doc); optionally a residual operand read from the scratchpad
    (``res_*``, same row/line pattern) and the output written to the scratchpad (``to_spad``, ``dst_*``,
    ``transpose``: see ``hw.writer``) instead of leaving on ``o``. A softmax over a ``band`` of keys
    (``window``, ``q_base``, ``k_base``, ``cls_line``: ``golden.nlops.band_mask``) masks the scores outside it."""
    sw = cfg.spad_addr_width + 1
    return data.StructLayout({
        "op": 3,
        "base": cfg.acc_addr_width,
        "rows": cfg.acc_addr_width + 1,
        "lines": N_BITS,
        "row_stride": cfg.acc_addr_width + 1,
        "line_stride": cfg.acc_addr_width + 1,
        "var_shift": 6,
        "residual": 1, "res_base": cfg.spad_addr_width, "res_row_stride": sw, "res_line_stride": sw,
        "to_spad": 1, "dst_base": cfg.spad_addr_width, "dst_row_stride": sw, "dst_line_stride": sw,
        "transpose": 1,
        "band": 1, "window": N_BITS, "q_base": N_BITS, "k_base": N_BITS, "cls_line": 1,
    })


class NonlinearUnit(wiring.Component):
    """Sequencer + normalization unit + activation lanes + row table.

    Members
    -------
    cmd : In(stream(NlCmdLayout))
    consts : In(LaneConstsLayout)
        The op's lane constants, held from ``cmd`` to ``done``.
    col_write : In(stream)
        Per-column constants table (see ``ActivationUnit``).
    acc_read_cmd : Out(stream(AccReadCmdLayout)), acc_read : In(stream of lines, ``last`` per command)
    spad_read : Out(ReadPortSignature); spad_free : In(1)
        The residual operand's rows, read as each accumulator line enters, in a cycle the port is free (the port
        is shared: an accumulator line with a residual waits for ``spad_free``).
    o : Out(stream(LaneOutLayout))
        Output beats of ops without ``to_spad``; ``last`` marks the op's final beat.
    spad_write : Out(stream(SpadWriteLayout))
        Output rows of ops with ``to_spad`` (``hw.writer``).
    done : Out(1)
        Pulses in the cycle the op finishes (its last output beat accepted, or its last row written).
    busy, error : Out(1)
        ``error`` is sticky until the next command: a softmax row's sum of exps was too small, the lane
        constants are for another op or exp, or a LayerNorm's ``var_shift`` is too small for them
        (``golden.machine`` refuses the same).
    """

    def __init__(self, config):
        self._cfg = config
        self._acts = ActivationUnit(config)
        self._n = self._acts.n
        n = self._n
        super().__init__({
            "cmd": In(stream.Signature(NlCmdLayout(config))),
            "consts": In(LaneConstsLayout),
            "col_write": In(stream.Signature(ColWriteLayout)),
            "acc_read_cmd": Out(stream.Signature(AccReadCmdLayout(config))),
            "acc_read": In(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(signed(config.acc_width), config.dim), "last": 1}))),
            "spad_read": Out(ReadPortSignature(config.spad_addr_width, config.spad_row_bits)), "spad_free": In(1),
            "o": Out(stream.Signature(LaneOutLayout(config, n))),
            "spad_write": Out(stream.Signature(SpadWriteLayout(config))),
            "done": Out(1), "busy": Out(1), "error": Out(1),
        })

    @property
    def n(self):
        return self._n

    def _ln_too_wide(self, m, var_shift):
        """1 when U1's clip range ``lo1..hi1`` shifted right by ``var_shift`` leaves ``XS_BITS`` signed bits, i.e.
        ``lo1 < -2**(XS_BITS - 1 + var_shift)`` or ``hi1 >= 2**(XS_BITS - 1 + var_shift)``
        (``golden.layernorm.ln_shift_fits``): some bit of ``hi1`` (of ``~lo1``, when negative) at or above
        ``XS_BITS - 1 + var_shift`` is set. Each bit's "at or above" is a comparison of ``var_shift`` with a
        constant: no shifter."""
        lo, hi = self.consts.lo1, self.consts.hi1
        top = len(hi) - 1
        above = []
        for k in range(XS_BITS - 1, top + 1):
            a = Signal(name=f"ln_above{k}")
            m.d.comb += a.eq(var_shift <= k - (XS_BITS - 1))
            above.append((k, a))
        hi_wide = ~hi[top] & Cat(hi[k] & a for k, a in above).any()
        lo_wide = lo[top] & Cat(~lo[k] & a for k, a in above).any()
        return hi_wide | lo_wide

    def elaborate(self, platform):
        m = Module()
        cfg, n = self._cfg, self._n
        beats_per_line = cfg.dim // n
        m.submodules.acts = acts = self._acts
        m.submodules.norm = norm = NormUnit(cfg, n)
        m.submodules.writer = writer = SpadWriter(cfg, n)
        wiring.connect(m, wiring.flipped(self.col_write), acts.col_write)

        depth = cfg.acc_rows
        tables = {}
        for name, width, signed_ in (("a", ROW_A_BITS, True), ("f", ROW_F_BITS, False), ("k", ROW_K_BITS, False)):
            mem = memory.Memory(shape=signed(width) if signed_ else unsigned(width), depth=depth, init=[])
            m.submodules[f"row_{name}"] = mem
            tables[name] = (mem.write_port(), mem.read_port())

        cmd = Signal(NlCmdLayout(cfg))
        busy = Signal()
        pass_idx = Signal(2)
        n_passes = Signal(2)
        pass_mode = Signal(2)         # NormMode of the current pass (valid when not an output pass)
        out_pass = Signal()
        lane_pass = Signal()          # a statistics pass through the lanes (softmax's exps, LayerNorm's residual)
        lane_op = Signal(3)
        issue_row = Signal(cfg.acc_addr_width + 1)
        issue_addr = Signal(cfg.acc_addr_width + 1)
        issuing = Signal()
        results = Signal(cfg.acc_addr_width + 1)
        start_pass = Signal()

        m.d.comb += [self.busy.eq(busy), norm.mode.eq(pass_mode), norm.var_shift.eq(cmd.var_shift),
                     norm.pre_shift.eq(self.consts.pre_shift), norm.n_elems.eq(cmd.lines * cfg.dim),
                     norm.clear.eq(start_pass)]
        # lane constants for another op than the command's (the lanes' output pass would compute the block's op),
        # a softmax's for the exp these lanes do not build (golden.nlops exp_lut), or a LayerNorm whose var_shift
        # leaves its inputs wider than the statistics take: the nonlinear error, as a too-small sum of exps is
        # (golden.machine.Machine refuses all three)
        bad_consts = Signal()
        m.d.comb += self.error.eq(norm.error | bad_consts)

        # -- command and pass sequencing
        m.d.comb += self.cmd.ready.eq(~busy)
        pc = self.cmd.payload
        op = pc.op
        with m.If(self.cmd.valid & ~busy):
            m.d.sync += [cmd.eq(self.cmd.payload), busy.eq(1), pass_idx.eq(0),
                         bad_consts.eq((op != self.consts.op) |
                                       ((op == int(LaneOp.SOFTMAX)) &
                                        (self.consts.exp_lut != (cfg.exp_impl == "lut"))) |
                                       ((op == int(LaneOp.LAYERNORM)) & self._ln_too_wide(m, pc.var_shift)))]
            m.d.comb += start_pass.eq(1)
        m.d.comb += [
            writer.cmd.valid.eq(self.cmd.valid & ~busy & pc.to_spad),
            writer.cmd.payload.rows.eq(pc.rows), writer.cmd.payload.lines.eq(pc.lines),
            writer.cmd.payload.base.eq(pc.dst_base), writer.cmd.payload.row_stride.eq(pc.dst_row_stride),
            writer.cmd.payload.line_stride.eq(pc.dst_line_stride), writer.cmd.payload.transpose.eq(pc.transpose),
        ]
        wiring.connect(m, writer.o, wiring.flipped(self.spad_write))
        pass_done = Signal()
        with m.If(pass_done):
            with m.If(pass_idx == n_passes - 1):
                m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += pass_idx.eq(pass_idx + 1)
                m.d.comb += start_pass.eq(1)
        m.d.comb += self.done.eq(pass_done & (pass_idx == n_passes - 1))

        # pass table (from the latched command; at command acceptance, from the payload)
        # start_pass happens at command acceptance (idle: pass 0) or at a pass's end (busy: the next pass)
        cur_op = Mux(busy, cmd.op, op)
        cur_idx = Mux(busy, pass_idx + 1, 0)
        with m.Switch(cur_op):
            for lop, passes in PASSES.items():
                with m.Case(int(lop)):
                    m.d.comb += n_passes.eq(len(passes))
        with m.If(start_pass):
            with m.Switch(cur_op):
                for lop, passes in PASSES.items():
                    with m.Case(int(lop)):
                        for i, (mode, lop_override) in enumerate(passes):
                            with m.If(cur_idx == i):
                                m.d.sync += [out_pass.eq(mode is None), pass_mode.eq(mode or 0),
                                             lane_pass.eq(lop_override is not None),
                                             lane_op.eq(lop_override or 0)]
            m.d.sync += [issuing.eq(1), issue_row.eq(0), results.eq(0),
                         issue_addr.eq(Mux(busy, cmd.base, self.cmd.payload.base))]

        # -- read commands: one per row
        rc = self.acc_read_cmd
        m.d.comb += [rc.valid.eq(issuing), rc.payload.addr.eq(issue_addr), rc.payload.count.eq(cmd.lines),
                     rc.payload.stride.eq(cmd.line_stride)]
        with m.If(rc.valid & rc.ready):
            m.d.sync += [issue_row.eq(issue_row + 1), issue_addr.eq(issue_addr + cmd.row_stride)]
            with m.If(issue_row == cmd.rows - 1):
                m.d.sync += issuing.eq(0)

        # -- line holder / serializer: a line is held for its beats; its row's table entry is read on load
        line = Signal(data.ArrayLayout(signed(cfg.acc_width), cfg.dim))
        held = Signal()
        line_last = Signal()
        beat = Signal(range(max(2, beats_per_line)))
        line_idx = Signal(N_BITS)
        in_line = Signal(N_BITS)
        in_row = Signal(cfg.acc_addr_width + 1)
        row_of_line = Signal(cfg.acc_addr_width + 1)
        taken = Signal()
        last_beat = beat == beats_per_line - 1
        can_load = (~held | (taken & last_beat)) & (~cmd.residual | self.spad_free)
        load = self.acc_read.valid & can_load
        m.d.comb += self.acc_read.ready.eq(can_load)
        for name, (_, rp) in tables.items():
            m.d.comb += [rp.addr.eq(in_row), rp.en.eq(load)]
        res_row = Signal(cfg.spad_addr_width + 1)      # residual row of the incoming accumulator line's row
        res_line = Signal(cfg.spad_addr_width + 1)     # ... and of the incoming line
        m.d.comb += [self.spad_read.addr.eq(res_line), self.spad_read.en.eq(load & cmd.residual)]
        with m.If(load):
            with m.If(self.acc_read.payload.last):
                m.d.sync += [res_row.eq(res_row + cmd.res_row_stride),
                             res_line.eq(res_row + cmd.res_row_stride)]
            with m.Else():
                m.d.sync += res_line.eq(res_line + cmd.res_line_stride)
        # A softmax band (golden.nlops.band_mask) keeps value e of the incoming line when its key j = first + e
        # and the row's query i satisfy |i - j| <= W, or j == 0: kept = 0 <= kq + e <= 2W with kq = first - i + W,
        # a register stepped per line and per row. A masked score enters as the accumulator minimum (so the max
        # pass skips it) with keep 0 (the lanes zero its exp).
        kq_width = max(N_BITS, cfg.acc_addr_width + 1) + 3
        kq, kq_row = Signal(signed(kq_width)), Signal(signed(kq_width))
        key_zero = Signal()             # the incoming line's first key is 0
        line_keep = Signal(cfg.dim)
        lowest = -(1 << (cfg.acc_width - 1))
        width = Signal(N_BITS + 1)      # 2W, named once for the dim comparators
        m.d.comb += width.eq(cmd.window * 2)
        keep = [~cmd.band | ((kq + e >= 0) & (kq + e <= width)) | (key_zero if e == 0 else 0)
                for e in range(cfg.dim)]
        with m.If(load):
            m.d.sync += [line[e].eq(Mux(keep[e], self.acc_read.payload.data[e], lowest)) for e in range(cfg.dim)]
            m.d.sync += [line_keep.eq(Cat(*keep)), line_last.eq(self.acc_read.payload.last),
                         held.eq(1), beat.eq(0), line_idx.eq(in_line), row_of_line.eq(in_row),
                         in_line.eq(Mux(self.acc_read.payload.last, 0, in_line + 1)),
                         in_row.eq(in_row + self.acc_read.payload.last)]
            with m.If(self.acc_read.payload.last):
                m.d.sync += [kq.eq(kq_row - 1), kq_row.eq(kq_row - 1),
                             key_zero.eq(cmd.cls_line | (cmd.k_base == 0))]
            with m.Else():
                first_line = cmd.cls_line & (in_line == 0)
                m.d.sync += [kq.eq(kq + Mux(first_line, cmd.k_base, cfg.dim)),
                             key_zero.eq(first_line & (cmd.k_base == 0))]
        with m.Elif(taken):
            with m.If(last_beat):
                m.d.sync += held.eq(0)
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        with m.If(start_pass):
            base = Mux(busy, cmd.res_base, self.cmd.payload.res_base)
            m.d.sync += [in_line.eq(0), in_row.eq(0), res_row.eq(base), res_line.eq(base)]
            c = data.View(NlCmdLayout(cfg), Mux(busy, cmd.as_value(), self.cmd.payload.as_value()))
            first = Mux(c.cls_line, 0, c.k_base) - c.q_base + c.window
            m.d.sync += [kq.eq(first), kq_row.eq(first), key_zero.eq(c.cls_line | (c.k_base == 0))]

        ai = acts.i.payload
        beat_data = Signal(data.ArrayLayout(signed(cfg.acc_width), n))
        beat_res = Signal(data.ArrayLayout(signed(cfg.input_width), n))
        # the residual row arrives the cycle after its line's load and is kept while the line is held (the port
        # may serve its other user meanwhile)
        res_fresh = Signal()
        res_kept = Signal.like(self.spad_read.data)
        m.d.sync += res_fresh.eq(load & cmd.residual)
        with m.If(res_fresh):
            m.d.sync += res_kept.eq(self.spad_read.data)
        res_line_data = data.View(data.ArrayLayout(signed(cfg.input_width), cfg.dim),
                                  Mux(res_fresh, self.spad_read.data, res_kept))
        with m.Switch(beat):
            for b in range(beats_per_line):
                with m.Case(b):
                    m.d.comb += [beat_data[j].eq(line[b * n + j]) for j in range(n)]
                    m.d.comb += ai.keep.eq(line_keep[b * n:(b + 1) * n])
                    m.d.comb += [beat_res[j].eq(Mux(cmd.residual, res_line_data[b * n + j], 0))
                                 for j in range(n)]
        row_last = line_last & last_beat
        pass_last = row_last & (row_of_line == cmd.rows - 1)

        # -- routing: the beat goes to the lanes (exp-sum and output passes) or straight to the norm unit
        to_lanes = out_pass | lane_pass
        m.d.comb += [
            ai.data.eq(beat_data), ai.res.eq(beat_res), ai.col.eq(line_idx * cfg.dim + beat * n),
            ai.a.eq(tables["a"][1].data), ai.f.eq(tables["f"][1].data), ai.k.eq(tables["k"][1].data),
            ai.last.eq(Mux(out_pass, pass_last, row_last)),
            acts.i.valid.eq(held & to_lanes),
            acts.consts.eq(self.consts),
        ]
        with m.If(lane_pass):
            m.d.comb += acts.consts.op.eq(lane_op)
        ni = norm.i.payload
        with m.If(lane_pass):
            m.d.comb += [ni.data.eq(acts.o.payload.data), ni.row_last.eq(acts.o.payload.last),
                         norm.i.valid.eq(acts.o.valid), acts.o.ready.eq(norm.i.ready)]
        with m.Else():
            m.d.comb += [ni.data.eq(beat_data), ni.row_last.eq(row_last),
                         norm.i.valid.eq(held & ~to_lanes)]
        m.d.comb += taken.eq(held & Mux(to_lanes, acts.i.ready, norm.i.ready))
        with m.If(out_pass & cmd.to_spad):
            m.d.comb += [writer.i.valid.eq(acts.o.valid), writer.i.payload.eq(acts.o.payload),
                         acts.o.ready.eq(writer.i.ready)]
        with m.Elif(out_pass):
            m.d.comb += [self.o.valid.eq(acts.o.valid), self.o.payload.eq(acts.o.payload),
                         acts.o.ready.eq(self.o.ready)]

        # -- row results into the table; pass end
        res = norm.result
        for name, (wp, _) in tables.items():
            m.d.comb += [wp.addr.eq(res.payload.row), wp.data.eq(getattr(res.payload, name))]
        m.d.comb += [
            tables["a"][0].en.eq(res.valid & (pass_mode != NormMode.SUM)),
            tables["f"][0].en.eq(res.valid & (pass_mode != NormMode.MAX)),
            tables["k"][0].en.eq(res.valid & (pass_mode == NormMode.STATS)),
        ]
        with m.If(res.valid & ~start_pass):
            m.d.sync += results.eq(results + 1)
        stats_done = ~out_pass & res.valid & (results == cmd.rows - 1)
        out_done = out_pass & Mux(cmd.to_spad, writer.done, self.o.valid & self.o.ready & self.o.payload.last)
        m.d.comb += pass_done.eq(busy & (stats_done | out_done))
        return m
