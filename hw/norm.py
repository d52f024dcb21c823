"""Normalization unit: per-row reductions over accumulator lines, and the integer derivations that follow.

A logical row of ``L = W * dim`` values spans ``W`` accumulator lines and arrives as beats of ``n`` values.
``Reducer`` keeps, per row, the max, ``S = sum(x)``, ``T = sum(x >> s)`` and ``Q = sum((x >> s)**2)`` (golden.layernorm's
statistics; for softmax's sum pass ``S`` is the sum of exps), and at the row's end computes
``D = L*Q - T**2``. ``DeriveEngine`` then computes, with shifts, adds and compares only (2 iterations per cycle):

- LayerNorm: ``mean = floor(S / L)`` (restoring division, in parallel with) ``r = max(isqrt(D), 1)`` (the
  digit recurrence of golden.isqrt, 28 iterations for a 56-bit radicand), ``k = bit_length(r)``,
  ``f = floor(2**(17 + k) / r)`` (restoring division, 20 quotient bits);
- softmax: ``f = floor(2**32 / S)`` (the same divider; a row's sum of exps is > 2**13 because its max
  contributes ~2**15, and a smaller sum raises ``error``).

Latency and throughput: a row's record leaves the reducer ``golden.nlops.reduce_latency(n)`` cycles after its last
beat (the input register, ``max(1, ceil(log2 n))`` tree levels, the running sums, ``D``: 8 cycles for 16 lanes); an
engine takes ``DERIVE_CYCLES[mode]`` (27 for LayerNorm, 11 for softmax; ``golden.nlops``) cycles per row;
``config.derive_engines`` engines take rows round-robin, so rows of ``W`` beats stream without stalls while
``DERIVE_CYCLES / derive_engines <= W``.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.layernorm import RECIP_BITS as LN_RECIP_BITS, XS_BITS
from golden.softmax import MIN_EXP_SUM, RECIP_BITS as SM_RECIP_BITS

from .lanes import ROW_A_BITS, ROW_F_BITS, ROW_K_BITS
from .pipeline import skid_output
from golden.nlops import (DERIVE_CYCLES, DIV_CYCLES, N_BITS, QUOT_BITS, RAD_BITS, RECIP_CYCLES, S_BITS, SQRT_CYCLES,
                          SQRT_ITERS, STEPS, NormMode, reduce_latency)

__all__ = ["RowResultLayout", "Reducer", "DeriveEngine", "NormUnit"]

RowResultLayout = data.StructLayout({
    "row": 16, "a": signed(ROW_A_BITS), "f": unsigned(ROW_F_BITS), "k": unsigned(ROW_K_BITS),
})
_RecordLayout = data.StructLayout({
    "row": 16, "s": signed(S_BITS), "d": unsigned(RAD_BITS), "max": signed(ROW_A_BITS),
})


class Reducer(wiring.Component):
    """Per-row max, sum, and LayerNorm statistics over beats of ``n`` values; one record per row.

    Latency: a row's record is valid ``reduce_latency(n)`` cycles after its last beat is accepted: the beat and its
    shifted values are registered (one cycle), then its max, sum, shifted sum and sum of squares go up balanced
    trees, one registered level per cycle
    (``max(1, ceil(log2 n))`` levels), then into the running sums (one cycle), the products ``L*Q`` and ``T**2``
    (one cycle) and ``D = L*Q - T**2`` (one cycle).
    Throughput: one beat per cycle; a stalled record output stalls the input one cycle later (``hw.pipeline``).

    Members
    -------
    i : In(stream of ``data`` (n x acc_width), ``row_last``)
    mode, var_shift, pre_shift, n_elems : In
        Held for a whole pass. ``pre_shift`` (signed) is applied to the max (softmax's shifted scores).
    clear : In
        Restarts row numbering (a new pass); only while no beat is in flight.
    o : Out(stream(_RecordLayout))
    """

    def __init__(self, config, n):
        self._cfg, self._n = config, n
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(signed(config.acc_width), n), "row_last": 1}))),
            "mode": In(2), "var_shift": In(6), "pre_shift": In(signed(7)), "n_elems": In(N_BITS),
            "clear": In(1),
            "o": Out(stream.Signature(_RecordLayout)),
        })

    def elaborate(self, platform):
        m = Module()
        aw, n = self._cfg.acc_width, self._n
        # the pipeline's enable is a register (hw.pipeline.skid_output): the output's ready reaches no stage
        rec, rec_valid = Signal(_RecordLayout, name="rec"), Signal(name="rec_valid")
        en = Signal()
        m.d.comb += [en.eq(skid_output(m, self.o, rec, rec_valid, name="rec_skid")), self.i.ready.eq(en)]

        # stage 0: the beat and its values shifted by var_shift, registered (the shifter and the squares'
        # multipliers are in different stages)
        v = self.i.payload.data
        level = []
        for j in range(n):
            v0 = Signal(signed(aw), name=f"v0_{j}")
            xs = Signal(signed(XS_BITS + 1), name=f"xs{j}")
            with m.If(en):
                m.d.sync += [v0.eq(v[j]), xs.eq(v[j] >> self.var_shift)]
            level.append((v0, v0, xs, (xs * xs).as_unsigned()))
        valid, last = Signal(name="valid_0"), Signal(name="last_0")
        with m.If(en):
            m.d.sync += [valid.eq(self.i.valid), last.eq(self.i.payload.row_last)]

        # stages 1..L: the beat's max, S, T and Q as balanced trees, one registered level per stage (L =
        # max(1, ceil(log2 n)); golden.nlops.reduce_latency), every node a named Signal
        depth = 0
        while depth == 0 or len(level) > 1:
            depth += 1
            pairs = [level[i:i + 2] for i in range(0, len(level), 2)]
            nxt = []
            for i, pair in enumerate(pairs):
                node = (Signal(signed(aw), name=f"max_{depth}_{i}"),
                        Signal(signed(aw + depth), name=f"s_{depth}_{i}"),
                        Signal(signed(XS_BITS + 1 + depth), name=f"t_{depth}_{i}"),
                        Signal(unsigned(2 * XS_BITS + 1 + depth), name=f"q_{depth}_{i}"))
                if len(pair) == 2:
                    (ma, sa, ta, qa), (mb, sb, tb, qb) = pair
                    value = (Mux(mb > ma, mb, ma), sa + sb, ta + tb, qa + qb)
                else:
                    value = pair[0]
                with m.If(en):
                    m.d.sync += [r.eq(x) for r, x in zip(node, value)]
                nxt.append(node)
            level = nxt
            v_reg, l_reg = Signal(name=f"valid_{depth}"), Signal(name=f"last_{depth}")
            with m.If(en):
                m.d.sync += [v_reg.eq(valid), l_reg.eq(last)]
            valid, last = v_reg, l_reg
        assert depth == reduce_latency(n) - 4
        (p_max, p_s, p_t, p_q), p_valid, p_last = level[0], valid, last

        # stage L+1: running sums over the row's beats
        first = Signal(init=1)
        r_max = Signal(signed(aw))
        r_s = Signal(signed(S_BITS))
        r_t = Signal(signed(XS_BITS + N_BITS + 1))
        r_q = Signal(unsigned(2 * XS_BITS + N_BITS))
        row = Signal(16)
        q_valid = Signal()
        with m.If(en):
            m.d.sync += q_valid.eq(p_valid & p_last)
            with m.If(p_valid):
                m.d.sync += [
                    r_max.eq(Mux(first | (p_max > r_max), p_max, r_max)),
                    r_s.eq(Mux(first, 0, r_s) + p_s),
                    r_t.eq(Mux(first, 0, r_t) + p_t),
                    r_q.eq(Mux(first, 0, r_q) + p_q),
                    first.eq(p_last),
                ]
        # stage L+2: the products L*Q and T**2, the max's pre-shift; stage L+3: D = L*Q - T**2
        pre = self.pre_shift
        lq, tt = Signal(unsigned(N_BITS + len(r_q))), Signal(unsigned(2 * len(r_t)))
        p3 = Signal(_RecordLayout)
        p3_valid = Signal()
        with m.If(en):
            m.d.sync += [
                p3_valid.eq(q_valid),
                lq.eq(self.n_elems * r_q), tt.eq(r_t * r_t),
                p3.s.eq(r_s),
                p3.max.eq(Mux(pre < 0, r_max << (-pre).as_unsigned()[:6], r_max >> pre.as_unsigned()[:6])),
                p3.row.eq(row),
                rec_valid.eq(p3_valid),
                rec.s.eq(p3.s), rec.max.eq(p3.max), rec.row.eq(p3.row), rec.d.eq(lq - tt),
            ]
            with m.If(q_valid):
                m.d.sync += row.eq(row + 1)
        with m.If(self.clear):
            m.d.sync += [row.eq(0), first.eq(1)]
        return m


class DeriveEngine(wiring.Component):
    """One row at a time: LayerNorm's mean, isqrt, bit length and reciprocal, or softmax's reciprocal.

    Latency ``DERIVE_CYCLES[mode]`` from ``start`` to ``done`` (inclusive of the result cycle); ``idle`` is high in
    the result cycle, so a new row can start then.
    """

    def __init__(self):
        super().__init__({
            "start": In(1), "mode": In(2), "rec": In(_RecordLayout), "n_elems": In(N_BITS),
            "idle": Out(1), "done": Out(1), "result": Out(RowResultLayout), "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        busy = Signal()
        step = Signal(range(64))
        ln = Signal()
        row = Signal(16)
        # isqrt state (golden.isqrt: root is kept pre-scaled; `bit` walks 4**i down)
        rem = Signal(unsigned(RAD_BITS))
        root = Signal(unsigned(RAD_BITS))
        bit = Signal(unsigned(RAD_BITS))
        # mean division state: |S| shifts out MSB first, the quotient shifts in
        num = Signal(unsigned(S_BITS))
        drem = Signal(unsigned(N_BITS + 1))
        neg = Signal()
        nn = Signal(N_BITS)
        # reciprocal state: remainder, the dividend's low bits, quotient
        dv = Signal(unsigned(RAD_BITS // 2 + 1))
        rrem = Signal(unsigned(RAD_BITS // 2 + 2))
        rlow = Signal(unsigned(QUOT_BITS))
        quo = Signal(unsigned(QUOT_BITS))
        kk = Signal(unsigned(ROW_K_BITS))
        r = Signal(unsigned(RAD_BITS // 2 + 1))     # the root, 1 when it is 0 (golden.layernorm)
        r_held = Signal.like(r)
        m.d.comb += r.eq(Mux(root == 0, 1, root))
        r_bits = bit_length(m, r, ROW_K_BITS, name="r_bits")

        m.d.comb += self.idle.eq(~busy | self.done)

        # -- combinational iteration chains (STEPS per cycle)
        def sqrt_steps(rem, root, bit):
            for _ in range(STEPS):
                trial = root + bit
                take = rem >= trial
                rem, root, bit = (Mux(take, rem - trial, rem), Mux(take, (root >> 1) + bit, root >> 1),
                                  bit >> 2)
            return rem, root, bit

        def div_steps(num, drem):
            for _ in range(STEPS):
                cur = Cat(num[-1], drem)
                take = cur >= nn
                drem = Mux(take, cur - nn, cur)[:len(drem)]
                num = Cat(take, num[:-1])
            return num, drem

        def recip_steps(rrem, rlow, quo):
            for _ in range(STEPS):
                cur = Cat(rlow[-1], rrem)
                take = cur >= dv
                rrem = Mux(take, cur - dv, cur)[:len(rrem)]
                rlow = Cat(Const(0, 1), rlow[:-1])
                quo = Cat(take, quo[:-1])
            return rrem, rlow, quo

        s_rem, s_root, s_bit = sqrt_steps(rem, root, bit)
        d_num, d_rem = div_steps(num, drem)
        r_rem, r_low, r_quo = recip_steps(rrem, rlow, quo)

        def start_recip(divisor, power):
            # dividend 2**power: bits above QUOT_BITS seed the remainder, the rest feed in MSB first
            m.d.sync += [
                dv.eq(divisor),
                rrem.eq(Mux(power >= QUOT_BITS, Const(1, 64) << (power - QUOT_BITS)[:6], 0)),
                rlow.eq(Mux(power < QUOT_BITS, Const(1, QUOT_BITS + 1) << power[:5], 0)),
                quo.eq(0),
            ]

        sqrt_end = 1 + SQRT_CYCLES + 1         # the reciprocal's first step (after the bit-length cycle)
        # done in step DERIVE_CYCLES[mode] - 1, from a register set one step earlier (``done`` feeds ``idle``, which
        # the whole nonlinear pipeline's ready chain starts from)
        done = Signal()
        m.d.sync += done.eq(busy & ~done & (step == Mux(ln, DERIVE_CYCLES[NormMode.STATS],
                                                         DERIVE_CYCLES[NormMode.SUM]) - 2))
        m.d.comb += self.done.eq(done)
        with m.If(self.start & self.idle):
            rec = self.rec
            s_abs = Mux(rec.s < 0, -rec.s, rec.s)
            m.d.sync += [
                busy.eq(1), step.eq(0), ln.eq(self.mode == NormMode.STATS), row.eq(rec.row),
                rem.eq(rec.d), root.eq(0), bit.eq(1 << (2 * (SQRT_ITERS - 1))),
                num.eq(s_abs), drem.eq(0), neg.eq(rec.s < 0), nn.eq(self.n_elems),
                self.error.eq((self.mode == NormMode.SUM) & (rec.s < MIN_EXP_SUM)),
            ]
            start_recip(rec.s.as_unsigned()[:len(dv)], Const(SM_RECIP_BITS, 7))
        with m.Elif(busy):
            m.d.sync += step.eq(step + 1)
            with m.If(self.done):
                m.d.sync += busy.eq(0)
            # the mean's division runs from the first cycle until it has consumed |S|
            with m.If(ln & (step < DIV_CYCLES)):
                m.d.sync += [num.eq(d_num), drem.eq(d_rem)]
            with m.If(ln & (step < SQRT_CYCLES)):
                m.d.sync += [rem.eq(s_rem), root.eq(s_root), bit.eq(s_bit)]
            # the root's bit length k (a balanced leading-one tree, registered), then the reciprocal 2**(k+18) / r
            with m.If(ln & (step == SQRT_CYCLES)):
                m.d.sync += [r_held.eq(r), kk.eq(r_bits)]
            with m.If(ln & (step == SQRT_CYCLES + 1)):
                start_recip(r_held, kk + LN_RECIP_BITS)
            recip_first = Mux(ln, sqrt_end, 0)
            with m.If((step >= recip_first) & (step < recip_first + RECIP_CYCLES)):
                m.d.sync += [rrem.eq(r_rem), rlow.eq(r_low), quo.eq(r_quo)]
        # result: the mean rounds toward -inf: -(|S| // n) - (remainder != 0) for negative S
        q = num
        mean = Mux(neg, -q.as_signed() - (drem != 0), q.as_signed())
        m.d.comb += [
            self.result.row.eq(row),
            self.result.a.eq(mean),
            self.result.f.eq(quo),
            self.result.k.eq(kk),
        ]
        return m


def bit_length(m, value, width, *, name):
    """``value``'s bit length (0 for 0) as a ``width``-bit Signal: a balanced tree of (any bit set, index) pairs,
    ``ceil(log2 len(value))`` 2:1 mux levels (a chain of ``If``s would be ``len(value)`` levels)."""
    nodes = [(value[i], Const(i + 1, width)) for i in range(len(value))]
    level = 0
    while len(nodes) > 1:
        nxt = []
        for j in range(0, len(nodes) - 1, 2):
            (lo_any, lo_len), (hi_any, hi_len) = nodes[j], nodes[j + 1]
            any_, n = Signal(name=f"{name}_any_{level}_{j // 2}"), Signal(width, name=f"{name}_{level}_{j // 2}")
            m.d.comb += [any_.eq(hi_any | lo_any), n.eq(Mux(hi_any, hi_len, lo_len))]
            nxt.append((any_, n))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes, level = nxt, level + 1
    out = Signal(width, name=name)
    m.d.comb += out.eq(Mux(nodes[0][0], nodes[0][1], 0))
    return out


class NormUnit(wiring.Component):
    """Reducer + ``config.derive_engines`` derive engines (round-robin) -> a stream of per-row results.

    In ``MAX`` mode a row's result is its (pre-shifted) max in ``a``; in ``SUM`` mode ``f``; in ``STATS`` mode
    ``a`` (mean), ``f`` and ``k``. Results come in row order, at most one per cycle, always accepted.

    Members
    -------
    i : In(stream(beats))
    mode, var_shift, pre_shift, n_elems : In (held for the pass)
    result : Out(stream(RowResultLayout)), always accepted (ready ignored)
    clear : In(1)
        Starts a pass: row numbering, round-robin pointer and error flag restart.
    error : Out(1)
        Sticky: a softmax row's sum of exps was below 2**13.
    """

    def __init__(self, config, n):
        self._cfg, self._n, self._engines = config, n, config.derive_engines
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "data": data.ArrayLayout(signed(config.acc_width), n), "row_last": 1}))),
            "mode": In(2), "var_shift": In(6), "pre_shift": In(signed(7)), "n_elems": In(N_BITS),
            "result": Out(stream.Signature(RowResultLayout)),
            "error": Out(1), "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reducer = red = Reducer(self._cfg, self._n)
        engines = [DeriveEngine() for _ in range(self._engines)]
        for i, e in enumerate(engines):
            m.submodules[f"engine{i}"] = e
        wiring.connect(m, wiring.flipped(self.i), red.i)
        m.d.comb += [red.mode.eq(self.mode), red.var_shift.eq(self.var_shift), red.pre_shift.eq(self.pre_shift),
                     red.n_elems.eq(self.n_elems), red.clear.eq(self.clear)]
        ptr = Signal(range(max(2, self._engines)))
        rec = red.o.payload
        is_max = self.mode == NormMode.MAX
        ready = Signal()
        with m.Switch(ptr):
            for i, e in enumerate(engines):
                with m.Case(i):
                    m.d.comb += ready.eq(e.idle)
        m.d.comb += red.o.ready.eq(is_max | ready)
        for i, e in enumerate(engines):
            m.d.comb += [e.rec.eq(rec), e.mode.eq(self.mode), e.n_elems.eq(self.n_elems),
                         e.start.eq(red.o.valid & ~is_max & (ptr == i))]
        with m.If(red.o.valid & ~is_max & ready):
            m.d.sync += ptr.eq(Mux(ptr == self._engines - 1, 0, ptr + 1))
        with m.If(self.clear):
            m.d.sync += ptr.eq(0)

        res = self.result.payload
        m.d.comb += self.result.valid.eq((red.o.valid & is_max) | Cat(*(e.done for e in engines)).any())
        with m.If(red.o.valid & is_max):
            m.d.comb += [res.row.eq(rec.row), res.a.eq(rec.max)]
        for e in engines:
            with m.If(e.done):
                m.d.comb += res.eq(e.result)
        # sticky from a row whose derive failed until the next pass after it: a failing last row whose result
        # arrives in the cycle the next pass starts (and clears) still sets it
        err = Signal()
        with m.If(Cat(*(e.done & e.error for e in engines)).any()):
            m.d.sync += err.eq(1)
        with m.Elif(self.clear):
            m.d.sync += err.eq(0)
        m.d.comb += self.error.eq(err)
        return m
