"""Activation lanes: integer requantization, i-GELU, i-exp, softmax normalization and LayerNorm, pipelined.

Each lane takes one element per cycle through a fixed 10-stage pipeline (see ``golden.nlops`` for the four
arithmetic steps U1..U4 and golden/ for their meaning). ``ActivationUnit`` holds ``n = min(lanes, dim)``
lanes; an accumulator line of ``dim`` elements enters in ``dim / n`` beats.

Latency: ``LANE_LATENCY`` cycles from an accepted beat to its output beat. Throughput: one beat per cycle
(``n`` elements per cycle) when the output is not stalled; backpressure stalls the whole pipeline.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.isa import MAX_ROW
from golden.nlops import COL_FIELDS, FIELDS, LANE_LATENCY, SOFTMAX_SHIFT, LaneOp
from golden.numerics import MAX_SHIFT
from golden.softmax import CLAMP_Q

__all__ = ["LANE_LATENCY", "LaneConstsLayout", "ColConstsLayout", "ColWriteLayout", "LaneInLayout", "LaneOutLayout",
           "ActivationUnit", "round_shift_clamp", "ROW_A_BITS", "ROW_F_BITS", "ROW_K_BITS"]

ROW_A_BITS = 48     # per-row offset: LayerNorm mean, or softmax's (shifted) row max
ROW_F_BITS = 20     # per-row reciprocal (unsigned): LayerNorm's f <= 2**18, softmax's f < 2**18
ROW_K_BITS = 6      # per-row shift: LayerNorm's k = bit_length(r)
U_BITS = 40         # U3's input: GELU's x*(erf+1), LayerNorm's z, exp's polynomial, or x
POLY_BITS = 56      # the erf / exp polynomial, LayerNorm's (g - mean) * f


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
        "last": 1,
    })


def LaneOutLayout(cfg, n):
    return data.StructLayout({"data": data.ArrayLayout(signed(cfg.acc_width), n), "last": 1})


def round_shift_clamp(m, value, shift, lo, hi):
    """``clamp(floor(value / 2**shift + 1/2), lo, hi)``: golden.numerics.round_shift, then saturate.

    ``shift`` is an unsigned Value; the rounding half ``2**(shift-1)`` is a one-hot decode of it, so no variable
    left shift is built.
    """
    width = len(value)
    half = Cat(*((shift == i + 1) for i in range(width)))
    shifted = Signal(signed(width + 1))
    m.d.comb += shifted.eq((value + half) >> shift)
    return Mux(shifted < lo, lo, Mux(shifted > hi, hi, shifted))


class _Lane:
    """One lane: stage registers advanced together by ``en``; ``out`` is the last one (see the stage notes)."""

    def __init__(self, m, cfg, en, k, x, y, a, f, kb, col):
        aw = cfg.acc_width
        is_ = lambda *ops: Cat(*(k.op == int(o) for o in ops)).any()  # noqa: E731
        gelu, ln, resid = is_(LaneOp.GELU), is_(LaneOp.LAYERNORM), is_(LaneOp.RESIDUAL)
        exp = is_(LaneOp.EXP, LaneOp.SOFTMAX)

        def reg(name, value, shape=None):
            r = Signal(shape if shape is not None else value.shape(), name=name)
            with m.If(en):
                m.d.sync += r.eq(value)
            return r

        def carry(stage, **values):
            return [reg(f"{n}_{stage}", v) for n, v in values.items()]

        # stage 1 -> 2: U1's products x * M1[c] + y * mb (GELU's input requantization, LayerNorm's residual add);
        # exp's clamped (x <<>> pre) - max.
        p2 = reg("p2", x * col.m1 + y * k.mb)
        pre = k.pre_shift
        xs = Signal(signed(ROW_A_BITS + 1))
        m.d.comb += xs.eq(Mux(pre < 0, x << (-pre).as_unsigned()[:6], x >> pre.as_unsigned()[:6]))
        d = Signal(signed(ROW_A_BITS + 2))
        m.d.comb += d.eq(xs - a)
        clamp = k.x0 * CLAMP_Q
        d2 = reg("d2", Mux(d < clamp, clamp, d), signed(22))
        x2, a2, f2, kb2, m2, b2 = carry(2, x=x, a=a, f=f, kb=kb, m=col.m3, b=col.b)

        # stage 2 -> 3: U1's rounding and clip; exp's q = floor(d / x0) (q <= 30: five restoring-division steps on
        # magnitudes) and r = d - x0 * q.
        g = round_shift_clamp(m, p2, k.s1, k.lo1, k.hi1)
        xm = (-k.x0).as_unsigned()
        rem = (-d2).as_unsigned()
        qbits = []
        for bit in range(4, -1, -1):
            t = Signal(signed(24), name=f"div{bit}")
            m.d.comb += t.eq(rem - (xm << bit))
            qbits.append(~t[-1])
            nxt = Signal(unsigned(22), name=f"rem{bit}")
            m.d.comb += nxt.eq(Mux(t[-1], rem, t))
            rem = nxt
        g3 = reg("g3", g, signed(k.lo1.shape().width))
        r3 = reg("r3", -rem.as_signed(), signed(17))
        q3 = reg("q3", Cat(*reversed(qbits)))
        x3, a3, f3, kb3, m3c, b3c = carry(3, x=x2, a=a2, f=f2, kb=kb2, m=m2, b=b2)

        # stage 3 -> 4: one multiplier for the second-order polynomials (GELU's (min(|g|, -b) + b)**2 + c, exp's
        # (r + b) * r + c) and LayerNorm's (g - mean) * f. In LayerNorm mode g and the mean fit acc_width.
        absg = Mux(g3 < 0, -g3, g3)
        aa = Mux(absg > -k.gelu_b, -k.gelu_b, absg) + k.gelu_b
        y_ln = Signal(signed(aw + 1))
        m.d.comb += y_ln.eq(g3 - a3)
        poly = (Mux(gelu, aa, Mux(ln, y_ln, r3 + k.exp_b)) * Mux(gelu, aa, Mux(ln, f3, r3))
                + Mux(gelu, k.gelu_c, Mux(ln, 0, k.exp_c)))
        poly4 = reg("poly4", poly, signed(POLY_BITS))
        sgn4 = reg("sgn4", Mux(g3 < 0, -1, Mux(g3 > 0, 1, 0)), signed(2))
        g4, q4, x4, kb4, f4, m4c, b4c = carry(4, g=g3, q=q3, x=x3, kb=kb3, f=f3, m=m3c, b=b3c)

        # stage 4 -> 5: GELU's erf = (sign * poly) >> erf_shift; LayerNorm's z = ((g - mean) * f) >> k (floor).
        erf = Mux(ln, poly4 >> kb4, Mux(sgn4 < 0, -poly4, Mux(sgn4 > 0, poly4, 0)) >> k.erf_shift)
        erf5 = reg("erf5", erf, signed(POLY_BITS))
        poly5, g5, q5, x5, f5, m5c, b5c = carry(5, poly=poly4, g=g4, q=q4, x=x4, f=f4, m=m4c, b=b4c)

        # stage 5 -> 6: GELU's t = g * (erf + one); U3's input u for every op.
        u = Mux(gelu, g5 * (erf5 + k.gelu_one),
                Mux(ln, erf5, Mux(exp, poly5, Mux(resid, g5, x5))))
        u6 = reg("u6", u, signed(U_BITS))
        q6, f6, m6c, b6c = carry(6, q=q5, f=f5, m=m5c, b=b5c)

        # stage 6 -> 7: U3's product and offset (per-column or scalar) and shift (+ q for exp, capped); the
        # residual pass bypasses U3 (its constants are the LayerNorm's).
        prod3 = u6 * Mux(resid, 1, Mux(k.col_mult, m6c, k.m3)) + Mux(k.col_mult & ~resid, b6c, 0)
        p7 = reg("p7", prod3, signed(U_BITS + COL_FIELDS["m3"][0] + 2))
        sh = k.s3 + Mux(exp, q6, 0)
        sh7 = reg("sh7", Mux(sh > MAX_SHIFT, MAX_SHIFT, sh), unsigned(6))
        f7, resid7 = carry(7, f=f6, resid=resid)

        # stage 7 -> 8: U3's rounding and clip.
        v8 = reg("v8", Mux(resid7, p7, round_shift_clamp(m, p7, sh7, k.lo3, k.hi3)), signed(34))
        (f8,) = carry(8, f=f7)

        # stage 8 -> 9: U4's product (softmax: e * f).
        p9 = reg("p9", v8 * f8)
        (v9,) = carry(9, v=v8)

        # stage 9 -> 10: U4's rounding and clip to uint8; the output register.
        pr = round_shift_clamp(m, p9, Const(SOFTMAX_SHIFT, 6), 0, 255)
        self.out = reg("out", Mux(is_(LaneOp.SOFTMAX), pr, v9), signed(aw))


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

    def __init__(self, config, *, max_cols=MAX_ROW):
        if config.lanes < config.dim and config.dim % config.lanes:
            raise ValueError(f"dim={config.dim} must be a multiple of lanes={config.lanes} when lanes < dim")
        self._cfg = config
        self._n = min(config.lanes, config.dim)
        self._max_cols = max_cols
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
        depth = -(-self._max_cols // n)
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

        en = Signal()
        valid = Signal(LANE_LATENCY)
        m.d.comb += [
            en.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(en),
            rd.en.eq(en),
            rd.addr.eq(self.i.payload.col // n),
        ]
        with m.If(en):
            m.d.sync += valid.eq(Cat(self.i.valid, valid[:-1]))
        m.d.comb += self.o.valid.eq(valid[-1])

        # stage 1: the accepted beat (the table word arrives in the same cycle from the read port)
        beat = Signal(LaneInLayout(self._cfg, n))
        with m.If(en):
            m.d.sync += beat.eq(self.i.payload)
        k = self.consts
        cols = rd.data
        last = [beat.last]
        for _ in range(LANE_LATENCY - 1):
            nxt = Signal()
            with m.If(en):
                m.d.sync += nxt.eq(last[-1])
            last.append(nxt)
        m.d.comb += self.o.payload.last.eq(last[-1])
        for j in range(n):
            lane = _Lane(m, self._cfg, en, k, beat.data[j], beat.res[j], beat.a, beat.f, beat.k, cols[j])
            m.d.comb += self.o.payload.data[j].eq(lane.out)
        return m
