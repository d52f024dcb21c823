"""Emission of one integer MiniLM layer (``golden.encoder.IntLayer``) as Systolica instructions.

Op sequence (golden/encoder.py), per layer:

1. per head ``h``: Q, K, V projections of all tokens (bias LOADed into the accumulator with stride 0, MATMUL
   with ``accumulate=1``, weights streamed by chunks) and NL REQUANT into the scratchpad: Q as the A operand,
   K transposed into the B layout of Q K^T (one NL per column block), V straight into the B layout of P V;
   per query tile: Q K^T -> NL SOFTMAX (fused, or STORE/LOAD round trip) -> P (A operand, two buffers) -> P V ->
   NL REQUANT into the context (A operand of Wo), software-pipelined over the tiles so that each softmax runs
   beside the next tile's Q K^T and the previous tile's P V (the controller runs an NL beside the MATMULs it
   does not conflict with);
2. per token tile: Wo -> NL LAYERNORM with the layer input as residual -> LN1 (A operand of FFN1); FFN1 by
   column groups -> NL GELU (A operand of FFN2); FFN2 -> (optional STORE/LOAD round trip) -> NL LAYERNORM with
   LN1 as residual -> the layer output, written over the layer input's tile.

Weights go through two scratchpad buffers in consumption order; the LOAD of chunk ``i + 1`` is emitted before
the MATMULs of chunk ``i`` (double buffering). Tokens come from :class:`compiler.emit.Emitter`.
"""
import numpy as np

from golden import nlops
from golden.isa import Opcode

from .image import b_layout, bias_lines
from .plan import LayerDims

__all__ = ["LayerEmitter", "WeightStream"]


class WeightStream:
    """Weight chunks through two buffers; ``order`` (from a first pass) enables the one-ahead prefetch."""

    def __init__(self, em, plan, order=None):
        self.em, self.plan, self.order = em, plan, order
        self.record = []
        self.loaded = set()

    def _load(self, i, chunk):
        addr, lines = chunk
        buf = self.plan.row(f"wbuf{i % 2}")
        self.em.emit(Opcode.LOAD, dst=0, local=buf, lines=lines, mem_addr=addr, stride=self.plan.dim, elem_bytes=1)
        self.loaded.add(i)

    def next(self, addr, lines):
        """Make chunk (``addr``, ``lines``) resident; returns its scratchpad row."""
        if lines > self.plan.wbuf_rows:
            raise ValueError(f"weight chunk of {lines} rows exceeds the {self.plan.wbuf_rows}-row buffer")
        i = len(self.record)
        self.record.append((addr, lines))
        if self.order is not None and (i >= len(self.order) or self.order[i] != (addr, lines)):
            raise RuntimeError("weight stream differs from the planning pass")
        if i not in self.loaded:
            self._load(i, (addr, lines))
        if self.order is not None and i + 1 < len(self.order) and i + 1 not in self.loaded:
            self._load(i + 1, self.order[i + 1])
        return self.plan.row(f"wbuf{i % 2}")


class LayerEmitter:
    """Emits layers into one program: shared :class:`Emitter`, image, plan, weight stream, constant state."""

    def __init__(self, em, image, plan, stream, options, config):
        self.em, self.img, self.plan, self.ws, self.opt, self.cfg = em, image, plan, stream, options, config
        self.base_plan = plan
        self.lane_cur = None
        self.table = np.full(config.col_entries, -1, dtype=np.int64)
        self.slot = 0
        self.scratch = {}
        self.pending = []       # LOADs to emit after the first weight chunk (the input's later tiles)
        self.core = []          # indices of the attention core's instructions: Q K^T, softmax, P V

    # ---- constants ----------------------------------------------------------------------------------------
    def _consts(self, li, name, lane, cols=None):
        a = self.img.add(f"lane.{li}.{name}", nlops.pack_lane_consts(lane), dedupe=True)
        c = None if cols is None else self.img.add(f"cols.{li}.{name}", nlops.pack_col_entries(cols), dedupe=True)
        return a, c

    def config(self, lane_addr, cols=None, after=(), force=False):
        """CONFIG the lane constants at ``lane_addr`` and table entries ``0..n-1`` from ``cols = (addr, n)``
        unless already current (``force``: always emit the lane CONFIG; ``after``: a bridge's dependencies)."""
        if force or self.lane_cur != lane_addr:
            self.em.emit(Opcode.CONFIG, kind=0, mem_addr=lane_addr, after=after)
            self.lane_cur = lane_addr
        if cols is not None:
            addr, n = cols
            want = addr + 16 * np.arange(n)
            if not np.array_equal(self.table[:n], want):
                self.em.emit(Opcode.CONFIG, kind=1, offset=0, count=n, mem_addr=addr)
                self.table[:n] = want

    def nl(self, op, **f):
        return self.em.emit(Opcode.NL, op=int(op), **f)

    def next_slot(self, lines):
        self.slot += 1
        return self.plan.acc_slot(lines, self.slot)

    # ---- linear layers ------------------------------------------------------------------------------------
    def linear(self, w_addr, b_addr, k, blk0, blk1, tiles, a_of, acc_of):
        """``acc = bias + A @ W[:, blk0*dim:blk1*dim]`` for token ``tiles``: tile ``t``'s A at row ``a_of(t)``,
        its result block ``j`` at accumulator line ``acc_of(t) + j*rows(t)``."""
        p, d, em = self.plan, self.plan.dim, self.em
        for t in tiles:
            for cb in range(blk0, blk1):
                em.emit(Opcode.LOAD, dst=1, local=acc_of(t) + (cb - blk0) * p.rows_of(t), lines=p.rows_of(t),
                        mem_addr=b_addr + cb * d * 4, stride=0, elem_bytes=4)
        wb = p.wbuf_rows
        if k <= wb:
            g = max(1, min(wb // k, blk1 - blk0))
            g = -(-(blk1 - blk0) // -(-(blk1 - blk0) // g))     # balanced: a short last chunk would not hide the
            chunks = [(0, k, c0, min(g, blk1 - c0)) for c0 in range(blk0, blk1, g)]   # next chunk's LOAD
        else:
            kc = wb // d * d
            kc = -(-k // (-(-k // kc) * d)) * d                 # balanced k chunks (a short one would not hide)
            chunks = [(k0, min(kc, k - k0), cb, 1) for cb in range(blk0, blk1) for k0 in range(0, k, kc)]
        for k0, kc, c0, n in chunks:
            lines = kc * n
            buf = self.ws.next(w_addr + (c0 * k + k0) * d, lines)
            for ld in self.pending:
                em.emit(Opcode.LOAD, **ld)
            self.pending = []
            for t in tiles:
                rt = p.rows_of(t)
                em.emit(Opcode.MATMUL, a_addr=a_of(t) + (k0 // d) * rt, b_addr=buf, c_addr=acc_of(t) + (c0 - blk0) * rt,
                        rows=rt, k=kc, cols=d, accumulate=1, blocks=n, b_stride=kc, c_stride=rt)

    def round_trip(self, name, acc, lines, lane_addr):
        """Unfused baseline: STORE ``lines`` accumulator lines as int32, then LOAD them back; the lane CONFIG of
        the op that follows is the execute-queue bridge between the STORE and the LOAD."""
        d = self.plan.dim
        size = lines * d * 4
        if self.scratch.get(name, (0, 0))[1] < size:
            addr = self.img.reserve(f"scratch.{name}.{size}", size)     # sizes only grow
            self.em.store_ranges.append((addr, addr + size))
            self.scratch[name] = (addr, size)
        addr = self.scratch[name][0]
        s = self.em.emit(Opcode.STORE, src=1, local=acc, lines=lines, mem_addr=addr, stride=d * 4, elem_bytes=4)
        self.config(lane_addr, after=(s,), force=True)
        self.em.emit(Opcode.LOAD, dst=1, local=acc, lines=lines, mem_addr=addr, stride=d * 4, elem_bytes=4)

    # ---- one layer ----------------------------------------------------------------------------------------
    def layer(self, li, L, out=None, window=None):
        """Emit layer ``li``; with ``out``, each token tile of its output is STOREd there (A layout, int16) as soon
        as its LayerNorm is written, beside the next tile's matmuls. ``window``: ReBERT's attention window
        (``golden.softmax.window_mask``; None: full attention)."""
        self.plan = p = self.base_plan.for_layer(LayerDims.of(L))     # the layer's own heads and FFN width
        d, img = p.dim, self.img
        sp = L.spec
        dh, ffn = p.dims.head_dim, p.dims.ffn
        w = {n: img.add(f"w.{li}.{n}", b_layout(getattr(L, n).w_t, d)) for n in ("wq", "wk", "wv", "wo", "w1", "w2")}
        b = {n: img.add(f"b.{li}.{n}", bias_lines(getattr(L, n).bias, d)) for n in w}
        c = {}
        for n, dy in (("q", L.q_out), ("k", L.k_out), ("v", L.v_out)):
            c[n] = self._consts(li, n, *nlops.requant_consts(dy, p.dims.attn_width, sp.qkv_bits))
        c["ctx"] = self._consts(li, "ctx", *nlops.requant_consts(L.ctx_out, dh, sp.ctx_bits))
        c["softmax"] = self._consts(li, "softmax", nlops.softmax_consts(L.softmax))
        c["ln1"] = self._consts(li, "ln1", *nlops.layernorm_consts(L.ln1, L.res1))
        c["gelu"] = self._consts(li, "gelu", *nlops.gelu_consts(L.gelu_in, sp.gelu_in_bits, L.gelu, ffn))
        c["ln2"] = self._consts(li, "ln2", *nlops.layernorm_consts(L.ln2, L.res2))
        mask = None
        if p.seq % d:
            line = np.where(np.arange(d) < p.seq % d, 0, -(1 << 31)).astype("<i4").tobytes()
            mask = img.add("mask", line, dedupe=True)
        self.em.mark(f"mha.{li}")
        self._attention(L, w, b, c, mask, window)
        self.em.mark(f"ffn.{li}")
        self._ffn(L, w, b, c, out)

    def _attention(self, L, w, b, c, mask, window):
        p, d, em, T = self.plan, self.plan.dim, self.em, self.plan.tile
        dh, kbd, kbh, seq, sb = p.dims.head_dim, p.kb_d, p.kb_h, p.seq, p.sb
        hrow, q, kt, v, prow, ctx = (p.row(n) for n in ("h", "q", "kt", "v", "p", "ctx"))
        a_h = lambda t: hrow + t * kbh * T  # noqa: E731
        p_of = lambda t: prow + (t % 2) * sb * T  # noqa: E731

        def project(h, name, acc, requantize=True):
            """Head ``h``'s ``name`` projection of every token into accumulator lines from ``acc``, then (or later,
            with :func:`requant_projection`) requantized into its scratchpad operand."""
            self.linear(w["w" + name], b["w" + name], p.dims.hidden, h * kbd, (h + 1) * kbd, p.tiles(), a_h,
                        lambda t: acc + t * T * kbd)
            if requantize:
                requant_projection(h, name, acc)

        def requant_projection(h, name, acc):
            """Q into the A operand of Q K^T, K transposed into its B operand, V into the B layout of P V."""
            acc_of = lambda t: acc + t * T * kbd  # noqa: E731
            lane, cols = c[name]
            if name == "k":
                # column block outer: its 16-entry column table is CONFIGured once for all tiles (a CONFIG waits
                # for the NL before it, and the array idles meanwhile)
                for j in range(kbd):
                    for t in p.tiles():
                        rt = p.rows_of(t)
                        self.config(lane, (cols + (h * dh + j * d) * 16, d))
                        self.nl(nlops.LaneOp.REQUANT, acc_base=acc_of(t) + j * rt, rows=rt, lines=1, row_stride=1,
                                dst_base=kt + (t * T // d) * dh + j * d, dst_row_stride=dh, dst_line_stride=1,
                                transpose=1)
                return
            for t in p.tiles():
                rt = p.rows_of(t)
                self.config(lane, (cols + h * dh * 16, dh))
                dst = dict(dst_base=q + t * kbd * T, dst_row_stride=1, dst_line_stride=rt) if name == "q" else \
                    dict(dst_base=v + t * T, dst_row_stride=1, dst_line_stride=seq)
                self.nl(nlops.LaneOp.REQUANT, acc_base=acc_of(t), rows=rt, lines=kbd, row_stride=1,
                        line_stride=rt, **dst)

        tiles = list(p.tiles())
        n = len(tiles)

        def band(t):
            """Key blocks ``b0 .. b1 - 1`` of query tile ``t``'s window, and whether [CLS]'s block comes first
            (outside the window's blocks): Q K^T, the softmax and P V cover these only."""
            if window is None:
                return 0, sb, 0
            lo, hi = max(0, t * T - window), min(seq - 1, t * T + p.rows_of(t) - 1 + window)
            b0 = lo // d if lo // d > 1 else 0          # [CLS]'s block next to the band joins it
            return b0, hi // d + 1, int(b0 > 0)

        # Software-pipelined over the query tiles when two tiles' scores and contexts fit the accumulator side by
        # side (P alternates between two scratchpad buffers): tile t's softmax runs beside the array's Q K^T of
        # tile t + 1 and P V of tile t - 1, the context requantization of tile t - 2 after them, so no NL waits
        # for a MATMUL issued in its own step (the model: 1.6% faster than a lag of 1). V's projection runs beside
        # the first softmax, in the context regions (P V waits for V anyway); when a projection fits one tile's
        # score region, the next head's Q projection runs beside the last softmax in the other tile's region, and
        # K's in the last softmax's. Otherwise one tile after the other, in rotating accumulator slots.
        piped = 2 * T * (sb + kbd) <= p.acc_rows
        early = piped and seq * kbd <= T * sb
        v_at = 2 * T * sb if piped and 2 * T * sb + seq * kbd <= p.acc_rows else None
        scores_at = lambda t, rt: (t % 2) * T * sb if piped else self.next_slot(rt * sb)  # noqa: E731
        ctx_at = lambda t, rt: 2 * T * sb + (t % 2) * T * kbd if piped else self.next_slot(rt * kbd)  # noqa: E731
        for h in range(p.dims.heads):
            if h == 0 or not early:
                project(h, "q", scores_at(n - 2, T) if early else self.next_slot(seq * kbd))
            project(h, "k", scores_at(n - 1, T) if early else self.next_slot(seq * kbd))

            def qk(t):
                rt = p.rows_of(t)
                acc = scores_at(t, rt)
                b0, b1, cls = band(t)
                lines = b1 - b0 + cls
                if mask is not None and b1 == sb:
                    em.emit(Opcode.LOAD, dst=1, local=acc + (lines - 1) * rt, lines=rt, mem_addr=mask, stride=0,
                            elem_bytes=4)
                if cls:
                    self.core.append(em.emit(Opcode.MATMUL, a_addr=q + t * kbd * T, b_addr=kt, c_addr=acc, rows=rt,
                                             k=dh, cols=d, accumulate=0, blocks=1, b_stride=dh, c_stride=rt))
                self.core.append(em.emit(Opcode.MATMUL, a_addr=q + t * kbd * T, b_addr=kt + b0 * dh,
                                         c_addr=acc + cls * rt, rows=rt, k=dh,
                                         cols=seq - (sb - 1) * d if b1 == sb else d, accumulate=0, blocks=b1 - b0,
                                         b_stride=dh, c_stride=rt))
                if not self.opt.fuse_qk_softmax:
                    self.round_trip("scores", acc, rt * lines, c["softmax"][0])
                return acc

            def softmax(t, acc):
                rt = p.rows_of(t)
                b0, b1, cls = band(t)
                self.config(c["softmax"][0])
                masked = {} if window is None else dict(band=1, window=window, q_base=t * T, k_base=b0 * d,
                                                        cls_line=cls)
                self.core.append(self.nl(nlops.LaneOp.SOFTMAX, acc_base=acc, rows=rt, lines=b1 - b0 + cls,
                                         row_stride=1, line_stride=rt, dst_base=p_of(t), dst_row_stride=1,
                                         dst_line_stride=rt, **masked))

            def pv(t):
                rt = p.rows_of(t)
                acc2 = ctx_at(t, rt)
                b0, b1, cls = band(t)
                if cls:
                    self.core.append(em.emit(Opcode.MATMUL, a_addr=p_of(t), b_addr=v, c_addr=acc2, rows=rt, k=d,
                                             cols=d, accumulate=0, blocks=kbd, b_stride=seq, c_stride=rt))
                self.core.append(em.emit(Opcode.MATMUL, a_addr=p_of(t) + cls * rt, b_addr=v + b0 * d, c_addr=acc2,
                                         rows=rt, k=min(b1 * d, seq) - b0 * d, cols=d, accumulate=cls, blocks=kbd,
                                         b_stride=seq, c_stride=rt))
                return acc2

            def requant(t, acc2):
                rt = p.rows_of(t)
                lane, cols = c["ctx"]
                self.config(lane, (cols, dh))
                self.nl(nlops.LaneOp.REQUANT, acc_base=acc2, rows=rt, lines=kbd, row_stride=1, line_stride=rt,
                        dst_base=ctx + t * p.kb_a * T + h * kbd * rt, dst_row_stride=1, dst_line_stride=rt)

            if not piped:
                project(h, "v", self.next_slot(seq * kbd))
                for t in tiles:
                    softmax(t, qk(t))
                    requant(t, pv(t))
                continue
            lag = 2
            scores, ctx_acc = {0: qk(0)}, {}
            softmax(0, scores.pop(0))
            project(h, "v", self.next_slot(seq * kbd) if v_at is None else v_at)
            for step in range(n + lag):
                if 0 < step < n:
                    softmax(step, scores.pop(step))
                if step + 1 < n:
                    scores[step + 1] = qk(step + 1)
                if 1 <= step <= n:
                    ctx_acc[step - 1] = pv(step - 1)
                if early and h + 1 < p.dims.heads:
                    # the next head's Q projection: its MATMULs ahead of the next CONFIG (which waits for the
                    # running softmax), its NLs after the last P V (which would wait behind them)
                    if step == n - 1:
                        project(h + 1, "q", scores_at(n - 2, T), requantize=False)
                    if step == n:
                        requant_projection(h + 1, "q", scores_at(n - 2, T))
                if step >= lag:
                    requant(step - lag, ctx_acc.pop(step - lag))

    def _ffn(self, L, w, b, c, out):
        p, d, T = self.plan, self.plan.dim, self.plan.tile
        hid, kbh, kbf = p.dims.hidden, p.kb_h, p.kb_f
        hrow, ctx, ln1, gelu = (p.row(n) for n in ("h", "ctx", "ln1", "gelu"))
        for t in p.tiles():
            rt = p.rows_of(t)
            one = [t]
            # Wo -> LayerNorm(attn + h) -> LN1
            acc = self.next_slot(rt * kbh)
            self.linear(w["wo"], b["wo"], p.dims.attn_width, 0, kbh, one, lambda _: ctx + t * p.kb_a * T,
                        lambda _: acc)
            lane, cols = c["ln1"]
            self.config(lane, (cols, hid))
            self.nl(nlops.LaneOp.LAYERNORM, acc_base=acc, rows=rt, lines=kbh, row_stride=1, line_stride=rt,
                    var_shift=L.ln1.var_shift, residual=1, res_base=hrow + t * kbh * T, res_row_stride=1,
                    res_line_stride=rt, dst_base=ln1, dst_row_stride=1, dst_line_stride=rt)
            # FFN1 by column groups -> GELU
            half = p.acc_rows // 2
            g = max(1, min(kbf, (half if rt <= half else p.acc_rows) // rt))
            lane, cols = c["gelu"]
            for c0 in range(0, kbf, g):
                c1 = min(kbf, c0 + g)
                acc = self.next_slot(rt * (c1 - c0))
                self.linear(w["w1"], b["w1"], hid, c0, c1, one, lambda _: ln1, lambda _: acc)
                self.config(lane, (cols + c0 * d * 16, (c1 - c0) * d))
                self.nl(nlops.LaneOp.GELU, acc_base=acc, rows=rt, lines=c1 - c0, row_stride=1, line_stride=rt,
                        dst_base=gelu + c0 * rt, dst_row_stride=1, dst_line_stride=rt)
            # FFN2 -> LayerNorm(ffn2 + ln1) -> the layer output over h's tile
            acc = self.next_slot(rt * kbh)
            self.linear(w["w2"], b["w2"], p.dims.ffn, 0, kbh, one, lambda _: gelu, lambda _: acc)
            lane, cols = c["ln2"]
            if not self.opt.fuse_ffn2_layernorm:
                self.round_trip("ffn2", acc, rt * kbh, lane)
            self.config(lane, (cols, hid))
            self.nl(nlops.LaneOp.LAYERNORM, acc_base=acc, rows=rt, lines=kbh, row_stride=1, line_stride=rt,
                    var_shift=L.ln2.var_shift, residual=1, res_base=ln1, res_row_stride=1, res_line_stride=rt,
                    dst_base=hrow + t * kbh * T, dst_row_stride=1, dst_line_stride=rt)
            if out is not None:
                self.em.emit(Opcode.STORE, src=0, local=hrow + t * kbh * T, lines=kbh * rt,
                             mem_addr=out + t * kbh * T * 2 * d, stride=2 * d, elem_bytes=2)
