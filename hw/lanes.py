"""Activation lanes: integer requantization, i-GELU, i-exp, softmax normalization and LayerNorm, pipelined.

Each lane takes one element per cycle through a fixed ``LANE_LATENCY``-stage pipeline (see ``golden.nlops`` for
the arithmetic steps U1..U4 and golden/ for their meaning). ``ActivationUnit`` holds ``n = min(lanes, dim)``
lanes; an accumulator line of ``dim`` elements enters in ``dim / n`` beats.

A lane has four multipliers, one per arithmetic step, each shared by every op that uses the step:

=====  ==================  ======================================================================================
stage  multiplier          used by
=====  ==================  ======================================================================================
1->1b  U1 ``x*m1 + y*mb``  GELU's input requantization, LayerNorm's residual add (two products; the sum 1b->2)
3b->4  S2                  GELU's ``a*a``, LayerNorm's ``(g - mean) * f``, exp's ``(r + b) * r``
5->6   U3                  requantization ``u * M + B`` (REQUANT, LayerNorm, exp); GELU's ``g * (erf + one)``
7->8   M4                  GELU's output requantization ``t * M``; softmax's ``e * f`` (U4)
=====  ==================  ======================================================================================

Stages 2 -> 2b -> 3 hold U1's rounding and exp's ``floor(d / x0)``, split three division steps then two so that
no stage chains more than three carry chains; every rounding shift takes two stages, the shifter and then the
increment and clip (4 -> 4b -> 5, 6 -> 6b -> 7, 8 -> 8b -> 9); S2's operands are registered before its multiplier
(3 -> 3b -> 4), and U1's products and exp's pre-shift before their adds (1 -> 1b -> 2): ``LANE_LATENCY`` = 15 stages.

Every operand and intermediate is built at the width ``golden.nlops.lane_widths`` derives from the field ranges
and the bounds golden/ proves (each written down there; ``tests/golden/test_lane_bounds.py`` checks them).

Latency: ``LANE_LATENCY`` cycles from an accepted beat to its output beat. Throughput: one beat per cycle
(``n`` elements per cycle) when the output is not stalled; backpressure stalls the whole pipeline one cycle
later, through a skid register (``hw.pipeline.skid_output``), with the same output timing.
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.gelu import ERF_BITS
from golden.isa import MAX_ROW
from golden.layernorm import Z_BITS
from golden.nlops import (COL_FIELDS, FIELDS, LANE_LATENCY, LN_F_OFFSET, MAX_GELU_IN_BITS, SOFTMAX_SHIFT, LaneOp,
                          lane_widths)
from golden.numerics import MAX_SHIFT, int_range
from golden.softmax import CLAMP_Q, EXP_BITS, LUT_F, LUT_H, LUT_L, LUT_TH, LUT_TL, OUT_BITS as PROB_BITS
from golden.layernorm import RECIP_BITS as LN_RECIP_BITS

from .pipeline import skid_output

__all__ = ["LANE_LATENCY", "LaneConstsLayout", "ColConstsLayout", "ColWriteLayout", "LaneInLayout", "LaneOutLayout",
           "ActivationUnit", "round_shift", "round_clamp", "ROW_A_BITS", "ROW_F_BITS", "ROW_K_BITS"]

ROW_A_BITS = 48     # per-row offset: LayerNorm mean, or softmax's (shifted) row max
ROW_F_BITS = 20     # per-row reciprocal (unsigned): LayerNorm's f <= 2**18, softmax's f <= 2**19
ROW_K_BITS = 6      # per-row shift: LayerNorm's k = bit_length(r)


def _layout(fields):
    return data.StructLayout({n: (signed(w) if s else unsigned(w)) for n, (w, s) in fields.items()})


LaneConstsLayout = _layout(FIELDS)
ColConstsLayout = _layout(COL_FIELDS)
#: A per-column table write: column ``addr`` gets ``value``.
ColWriteLayout = data.StructLayout({"addr": range(MAX_ROW), "value": ColConstsLayout})


def LaneInLayout(cfg, n):
    """One beat: ``n`` accumulator values, ``n`` scratchpad values (the residual operand), the column-table index,
    the row's parameters, ``last``."""
    return data.StructLayout({
        "data": data.ArrayLayout(signed(cfg.acc_width), n),
        "res": data.ArrayLayout(signed(cfg.input_width), n),
        "col": range(MAX_ROW),
        "a": signed(ROW_A_BITS), "f": unsigned(ROW_F_BITS), "k": unsigned(ROW_K_BITS),
        "keep": n,      # per value: 0 zeroes its exp (a score outside a softmax band: hw.nonlinear)
        "last": 1,
    })


def LaneOutLayout(cfg, n):
    return data.StructLayout({"data": data.ArrayLayout(signed(cfg.acc_width), n), "last": 1})


def round_shift(m, value, shift):
    """The first half of ``clamp(floor(value / 2**shift + 1/2), lo, hi)`` (golden.numerics.round_shift, then
    saturate): ``floor(value / 2**(shift-1))`` (``value << 1`` for a zero shift), one variable shifter. The
    second half, :func:`round_clamp`, is an increment: ``floor((floor(a) + 1) / 2) = floor((a + 1) / 2)``, so no
    wide adder comes before the shift. ``shift`` is an unsigned Value."""
    pre = Signal(signed(len(value) + 1))
    m.d.comb += pre.eq(Mux(shift == 0, value << 1, value >> (shift - 1)[:len(shift)]))
    return pre


def round_clamp(m, pre, lo, hi):
    """The second half of the rounding shift (see :func:`round_shift`): ``clamp((pre + 1) >> 1, lo, hi)``."""
    shifted = Signal(signed(len(pre) - 1))
    m.d.comb += shifted.eq((pre + 1) >> 1)
    return clamp(shifted, lo, hi)


def clamp(value, lo, hi):
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


class _OpConsts:
    """What every lane derives from the op's constants, built once per unit and registered: the op decode, U1's
    clip range (GELU's narrowed to ``MAX_GELU_IN_BITS``) and exp's clamp ``CLAMP_Q * x0``. The constants are held
    for a whole pass and its first beat reaches stage 1 at least two cycles after they change
    (``golden.nlops.READ_TO_LANES``), so one cycle of delay is never seen."""

    def __init__(self, m, k):
        is_ = lambda *ops: Cat(*(k.op == int(o) for o in ops)).any()  # noqa: E731
        self.k = k
        self.gelu, self.ln, self.resid = Signal(), Signal(), Signal()
        self.exp, self.softmax = Signal(), Signal()
        m.d.sync += [self.gelu.eq(is_(LaneOp.GELU)), self.ln.eq(is_(LaneOp.LAYERNORM)),
                     self.resid.eq(is_(LaneOp.RESIDUAL)), self.exp.eq(is_(LaneOp.EXP, LaneOp.SOFTMAX)),
                     self.softmax.eq(is_(LaneOp.SOFTMAX))]
        glo, ghi = int_range(MAX_GELU_IN_BITS)
        self.lo1, self.hi1 = Signal.like(k.lo1), Signal.like(k.hi1)
        m.d.sync += [self.lo1.eq(Mux(is_(LaneOp.GELU) & (k.lo1 < glo), glo, k.lo1)),
                     self.hi1.eq(Mux(is_(LaneOp.GELU) & (k.hi1 > ghi), ghi, k.hi1))]
        assert CLAMP_Q == 30
        self.exp_floor = Signal(signed(len(k.x0) + 5))
        m.d.sync += self.exp_floor.eq((k.x0 << 5) - (k.x0 << 1))


class _Lane:
    """One lane: stage registers advanced together by ``en``; ``out`` is the last one (see the stage notes)."""

    def __init__(self, m, cfg, en, c, x, y, a, f, kb, col, keep, lut=None):
        w = lane_widths(cfg.acc_width, cfg.input_width, cfg.exp_impl)
        # exp_impl "lut" (golden.softmax.i_exp_lut): ``lut`` holds this lane's read ports of the TH and TL tables
        is_lut = cfg.exp_impl == "lut"
        assert is_lut == (lut is not None)
        k = c.k

        def reg(name, value, width):
            r = Signal(signed(width) if isinstance(width, int) else width, name=name)
            with m.If(en):
                m.d.sync += r.eq(value)
            return r

        def carry(stage, **values):
            return [reg(f"{n}_{stage}", v, v.shape()) for n, v in values.items()]

        # stage 1 -> 1b: U1's products x * M1[c] and y * mb; exp's x <<>> pre (the multipliers and the shifter
        # apart from the adds that follow them)
        p1x, p1y = reg("p1x", x * col.m1, (x * col.m1).shape()), reg("p1y", y * k.mb, (y * k.mb).shape())
        pre = k.pre_shift
        xs = Signal(signed(ROW_A_BITS + 1))
        m.d.comb += xs.eq(Mux(pre < 0, x << (-pre).as_unsigned()[:6], x >> pre.as_unsigned()[:6]))
        xs1b = reg("xs1b", xs, xs.shape())
        x1b, a1b, f1b, kb1b, m1b, b1b, keep1b = carry("1b", x=x, a=a, f=f, kb=kb, m=col.m3, b=col.b, keep=keep)

        # stage 1b -> 2: U1's sum; exp's clamped (x <<>> pre) - max.
        p2 = reg("p2", p1x + p1y, w["u1"])
        d = Signal(signed(ROW_A_BITS + 2))
        m.d.comb += d.eq(xs1b - a1b)
        d2 = reg("d2", Mux(d < c.exp_floor, c.exp_floor, d), 22)
        # LayerNorm's mean lies in U1's range (it is the mean of U1's results)
        x2, mean2, f2, kb2, m2, b2, keep2 = carry(2, x=x1b, mean=a1b[:w["g"]].as_signed(), f=f1b, kb=kb1b, m=m1b,
                                                  b=b1b, keep=keep1b)

        # stages 2 -> 2b -> 3: U1's rounding and clip; exp's q = floor(d / x0) (q <= 30: five restoring-division
        # steps on magnitudes, three then two, each its own carry chain) and r = d - x0 * q.
        xm = (-k.x0).as_unsigned()

        def divide(rem, bits):
            qbits = []
            for bit in bits:
                t = Signal(signed(24), name=f"div{bit}")
                m.d.comb += t.eq(rem - (xm << bit))
                qbits.append(~t[-1])
                nxt = Signal(unsigned(22), name=f"rem{bit}")
                m.d.comb += nxt.eq(Mux(t[-1], rem, t))
                rem = nxt
            return rem, Cat(*reversed(qbits))

        rem_hi, q_hi = divide((-d2).as_unsigned(), (4, 3, 2))
        pre2b = reg("pre2b", round_shift(m, p2, k.s1), w["u1"] + 1)
        rem2b = reg("rem2b", rem_hi, unsigned(22))
        qhi2b = reg("qhi2b", q_hi, unsigned(3))
        x2b, mean2b, f2b, kb2b, m2b, b2b, keep2b = carry("2b", x=x2, mean=mean2, f=f2, kb=kb2, m=m2, b=b2,
                                                         keep=keep2)
        rem_lo, q_lo = divide(rem2b, (1, 0))
        r3 = reg("r3", -rem_lo.as_signed(), 17)
        q3 = reg("q3", Cat(q_lo, qhi2b), unsigned(5))
        g3 = reg("g3", round_clamp(m, pre2b, c.lo1, c.hi1), w["g"])
        x3, mean3, f3, kb3, m3c, b3c, keep3 = carry(3, x=x2b, mean=mean2b, f=f2b, kb=kb2b, m=m2b, b=b2b,
                                                    keep=keep2b)

        # stage 3 -> 4: S2, one multiplier for GELU's (min(|g|, -b) + b)**2 + c, LayerNorm's (g - mean) * f
        # (as (g - mean) * (f - LN_F_OFFSET) + (g - mean) * LN_F_OFFSET) and exp's (r + b) * r + c.
        absg = Signal(unsigned(w["g"]))
        m.d.comb += absg.eq(Mux(g3 < 0, -g3, g3))
        aa = Signal(signed(w["s2_b"]))
        m.d.comb += aa.eq(Mux(absg > -k.gelu_b, -k.gelu_b, absg) + k.gelu_b)
        dl = Signal(signed(w["s2_a"]))
        m.d.comb += dl.eq(g3 - mean3)
        fp = Signal(signed(w["s2_b"]))
        m.d.comb += fp.eq(f3 - LN_F_OFFSET)
        s2_a = Signal(signed(w["s2_a"]))
        s2_b = Signal(signed(w["s2_b"]))
        # LUT exp: exp_b = -inv, exp_c = lut_c: poly = -r * inv + lut_c >= 0
        m.d.comb += [s2_a.eq(Mux(c.gelu, aa, Mux(c.ln, dl, k.exp_b if is_lut else r3 + k.exp_b))),
                     s2_b.eq(Mux(c.gelu, aa, Mux(c.ln, fp, r3)))]
        assert LN_F_OFFSET == (1 << LN_RECIP_BITS) + 1
        # stage 3 -> 3b: S2's operands and addend registered; 3b -> 4: the product and the sum (the operands' adds
        # and the multiplier in different stages)
        s2_a3b, s2_b3b = reg("s2_a3b", s2_a, s2_a.shape()), reg("s2_b3b", s2_b, s2_b.shape())
        add3b = reg("add3b", Mux(c.gelu, k.gelu_c, Mux(c.ln, (dl << LN_RECIP_BITS) + dl, k.exp_c)), w["poly"])
        sgn3b = reg("sgn3b", Mux(g3 < 0, -1, Mux(g3 > 0, 1, 0)), 2)
        g3b, q3b, x3b, kb3b, f3b, m3b, b3b, keep3b = carry("3b", g=g3, q=q3, x=x3, kb=kb3, f=f3, m=m3c, b=b3c,
                                                           keep=keep3)
        poly4 = reg("poly4", s2_a3b * s2_b3b + add3b, w["poly"])
        g4, q4, x4, kb4, f4, m4c, b4c, keep4, sgn4 = carry(4, g=g3b, q=q3b, x=x3b, kb=kb3b, f=f3b, m=m3b, b=b3b,
                                                           keep=keep3b, sgn=sgn3b)

        # stage 4 -> 5: GELU's erf = sat((sign * poly) >> erf_shift); LayerNorm's z = sat(poly >> k) (floor); exp's
        # polynomial as it is (LUT exp: its fraction f = min(2**LUT_F - 1, poly >> erf_shift), the tables'
        # address, read into stage 5).
        # One shifter for all: GELU's sign * poly by erf_shift, LayerNorm's poly by k (LUT exp's by erf_shift).
        sp = Signal(signed(w["poly"] + 1))
        m.d.comb += sp.eq(Mux(c.gelu, Mux(sgn4 < 0, -poly4, Mux(sgn4 > 0, poly4, 0)), poly4) >>
                          Mux((c.gelu | c.exp) if is_lut else c.gelu, k.erf_shift, kb4))
        sp4b = reg("sp4b", sp, w["poly"] + 1)
        if is_lut:
            g4b, q4b, x4b, f4b, m4b, b4b, keep4b = carry("4b", g=g4, q=q4, x=x4, f=f4, m=m4c, b=b4c, keep=keep4)
            frac = Signal(unsigned(LUT_F))
            m.d.comb += frac.eq(Mux(sp4b > (1 << LUT_F) - 1, (1 << LUT_F) - 1, sp4b[:LUT_F]))
            th_rd, tl_rd = lut
            m.d.comb += [th_rd.addr.eq(frac[LUT_L:]), tl_rd.addr.eq(frac[:LUT_L]), th_rd.en.eq(en), tl_rd.en.eq(en)]
        else:
            poly4b, g4b, q4b, x4b, f4b, m4b, b4b, keep4b = carry("4b", poly=poly4, g=g4, q=q4, x=x4, f=f4, m=m4c,
                                                                  b=b4c, keep=keep4)
        erf = clamp(sp4b, *int_range(ERF_BITS + 1))
        z = clamp(sp4b, *int_range(Z_BITS))
        w5 = reg("w5", Mux(c.gelu, erf, z if is_lut else Mux(c.ln, z, poly4b)), w["u3_a"])
        g5, q5, x5, f5, m5c, b5c, keep5 = carry(5, g=g4b, q=q4b, x=x4b, f=f4b, m=m4b, b=b4b, keep=keep4b)

        # stage 5 -> 6: U3, u * M + B with M and B per column or scalar; GELU's t = g * (erf + one).
        u3_a = Signal(signed(w["u3_a"]))
        u3_b = Signal(signed(w["u3_b"]))
        if is_lut:      # LUT exp: TH[hi] * TL[lo] (the read ports' registered data)
            other_a = Mux(c.ln, w5, Mux(c.exp, th_rd.data, x5))
            other_b = Mux(c.exp, tl_rd.data, Mux(k.col_mult, m5c, k.m3))
        else:
            other_a, other_b = Mux(c.ln | c.exp, w5, x5), Mux(k.col_mult, m5c, k.m3)
        m.d.comb += [u3_a.eq(Mux(c.gelu, g5, other_a)), u3_b.eq(Mux(c.gelu, w5 + k.gelu_one, other_b))]
        p6 = reg("p6", u3_a * u3_b + Mux(k.col_mult & ~c.gelu, b5c, 0), w["u3"])
        sh = k.s3 + Mux(c.exp, q5, 0)
        sh6 = reg("sh6", Mux(sh > MAX_SHIFT, MAX_SHIFT, sh), unsigned(6))
        g6, f6, keep6 = carry(6, g=g5, f=f5, keep=keep5)

        # stages 6 -> 6b -> 7: U3's rounding and clip (GELU's t passes); the exp of a score a softmax band masks
        # is 0.
        pre6b = reg("pre6b", round_shift(m, p6, sh6), w["u3"] + 1)
        p6b, g6b, f6b, keep6b = carry("6b", p=p6, g=g6, f=f6, keep=keep6)
        v7 = reg("v7", Mux(c.gelu, p6b, Mux(keep6b, round_clamp(m, pre6b, k.lo3, k.hi3), 0)),
                 max(w["t"], len(k.lo3)))
        g7, f7 = carry(7, g=g6b, f=f6b)

        # stage 7 -> 8: M4, GELU's t * M or softmax's e * f (U4).
        m4_a = Signal(signed(w["m4_a"]))
        m4_b = Signal(signed(w["m4_b"]))
        m.d.comb += [m4_a.eq(Mux(c.gelu, v7, f7)),
                     m4_b.eq(Mux(c.gelu, k.m3, clamp(v7, 0, (1 << EXP_BITS) - 1)))]
        p8 = reg("p8", m4_a * m4_b, w["m4"])
        v8, g8 = carry(8, v=v7, g=g7)

        # stages 8 -> 8b -> 9: M4's rounding and clip (GELU: the op's s3, lo3, hi3; softmax: 24 and uint8); the
        # output.
        pre8b = reg("pre8b", round_shift(m, p8, Mux(c.gelu, k.s3, SOFTMAX_SHIFT)), w["m4"] + 1)
        v8b, g8b = carry("8b", v=v8, g=g8)
        m4_out = round_clamp(m, pre8b, Mux(c.gelu, k.lo3, 0), Mux(c.gelu, k.hi3, (1 << PROB_BITS) - 1))
        self.out = reg("out", Mux(c.gelu | c.softmax, m4_out, Mux(c.resid, g8b, v8b)), signed(cfg.acc_width))


class ActivationUnit(wiring.Component):
    """``n = min(lanes, dim)`` activation lanes over accumulator lines, with a per-column constants table.

    Latency ``LANE_LATENCY`` cycles per beat; throughput one beat (``n`` elements) per cycle; a ``dim``-wide
    line takes ``dim / n`` beats.

    Members
    -------
    consts : In(LaneConstsLayout)
        The current op's scalar constants (held by the controller for the whole op).
    col_write : In(stream of (addr, ColConstsLayout))
        Always ready.
        Per-column table write: entry ``addr`` holds the constants of column ``addr``.
    i : In(stream(LaneInLayout))
        Beats: ``n`` values, the table index of their first column, the row's ``a``/``f``/``k``.
    o : Out(stream(LaneOutLayout))
    """

    def __init__(self, config):
        if config.lanes < config.dim and config.dim % config.lanes:
            raise ValueError(f"dim={config.dim} must be a multiple of lanes={config.lanes} when lanes < dim")
        self._cfg = config
        self._n = min(config.lanes, config.dim)
        super().__init__({
            "consts": In(LaneConstsLayout),
            "col_write": In(stream.Signature(ColWriteLayout)),
            "i": In(stream.Signature(LaneInLayout(config, self._n))),
            "o": Out(stream.Signature(LaneOutLayout(config, self._n))),
        })

    @property
    def n(self):
        """Lanes built (elements per beat)."""
        return self._n

    def elaborate(self, platform):
        m = Module()
        n = self._n
        # The table is stored n columns per word, so one read serves a whole beat.
        depth = -(-self._cfg.col_entries // n)
        word = data.ArrayLayout(ColConstsLayout, n)
        m.submodules.table = table = memory.Memory(shape=word, depth=depth, init=[])
        wr = table.write_port(granularity=1)
        m.d.comb += [
            wr.addr.eq(self.col_write.payload.addr // n),
            wr.data.eq(Cat(*([self.col_write.payload.value] * n))),
            wr.en.eq(Mux(self.col_write.valid, 1 << (self.col_write.payload.addr % n), 0)),
        ]
        rd = table.read_port(transparent_for=(wr,))
        m.d.comb += self.col_write.ready.eq(1)

        # the pipeline's enable is a register (hw.pipeline.skid_output): the output's ready reaches no stage
        valid = Signal(LANE_LATENCY)
        out = Signal(LaneOutLayout(self._cfg, n))
        en = Signal()
        m.d.comb += [
            en.eq(skid_output(m, self.o, out, valid[-1], name="out_skid")),
            self.i.ready.eq(en),
            rd.en.eq(en),
            rd.addr.eq(self.i.payload.col // n),
        ]
        with m.If(en):
            m.d.sync += valid.eq(Cat(self.i.valid, valid[:-1]))

        # stage 1: the accepted beat (the table word arrives in the same cycle from the read port)
        beat = Signal(LaneInLayout(self._cfg, n))
        with m.If(en):
            m.d.sync += beat.eq(self.i.payload)
        c = _OpConsts(m, self.consts)
        cols = rd.data
        last = [beat.last]
        for _ in range(LANE_LATENCY - 1):
            nxt = Signal()
            with m.If(en):
                m.d.sync += nxt.eq(last[-1])
            last.append(nxt)
        m.d.comb += out.last.eq(last[-1])
        luts = [None] * n
        if self._cfg.exp_impl == "lut":
            # the split-LUT exp's constant tables (golden.softmax.LUT_TH, LUT_TL), a pair per lane, each 64 x 16
            # bits read in one registered stage: small ROMs, built in logic (rom_style), not block RAM. (One
            # table with a read port per lane makes Yosys' synth_ecp5 fail in memory_libmap.)
            assert max(LUT_TH + LUT_TL) < 1 << 16 and len(LUT_TH) == 1 << LUT_H and len(LUT_TL) == 1 << LUT_L
            luts = []
            for j in range(n):
                th = memory.Memory(shape=unsigned(16), depth=len(LUT_TH), init=LUT_TH, attrs={"rom_style": "logic"})
                tl = memory.Memory(shape=unsigned(16), depth=len(LUT_TL), init=LUT_TL, attrs={"rom_style": "logic"})
                m.submodules[f"exp_th{j}"], m.submodules[f"exp_tl{j}"] = th, tl
                luts.append((th.read_port(), tl.read_port()))
        for j in range(n):
            lane = _Lane(m, self._cfg, en, c, beat.data[j], beat.res[j], beat.a, beat.f, beat.k, cols[j],
                         beat.keep[j], luts[j])
            m.d.comb += out.data[j].eq(lane.out)
        return m
