"""Instruction emission with automatic dependency tokens, from the resources each instruction touches.

The compiler emits instructions in program order and never places a token by hand: :class:`Emitter` records
what every instruction reads and writes (scratchpad rows, accumulator lines, memory bytes) and, for a new
instruction, finds the latest conflicting instruction in every other queue. A conflict it cannot already prove
ordered becomes a token: ``push`` on that instruction, ``pop`` on the new one. The proof uses vector clocks:
``after[i][q]`` is the last instruction of queue ``q`` known complete when instruction ``i`` completes.

Rules relied on (the hardware must match them; docs/isa.md):

1. Each unit pushes its tokens in program order: a token pushed by instruction ``i`` of a queue implies that
   every earlier instruction of that queue is complete (the execute unit may complete an NL and the MATMULs
   beside it in another order; it retires them in order).
2. Tokens are counters matched first-in first-out: the ``k``-th pop on a channel takes the ``k``-th push.
   The emitter only adds pushes on a channel in increasing order, so pop ``k`` waits for push ``k``.
3. Within the execute queue the unit keeps program order for its own hazards (an NL and a MATMUL whose
   footprints conflict, ``golden.isa.conflicts``, run in program order).
4. LOAD and STORE have no direct channel: a LOAD that must follow a STORE (or the reverse) waits for an
   execute instruction that waited for it (a *bridge*, which the caller emits with ``after=``).
"""
import numpy as np

from golden.isa import Instr, Opcode, QUEUE_OF, Queue, channel_flags

__all__ = ["Emitter"]


class Emitter:
    """Builds an instruction list with tokens placed from resource conflicts.

    Parameters
    ----------
    config : golden.config.AcceleratorConfig
    """

    def __init__(self, config):
        self.cfg = config
        self.items = []                  # [op, fields dict, flags dict]
        self.queue_idx = []              # per instruction: (queue, index within the queue)
        self.queues = {q: [] for q in Queue}
        self.before = []                 # vector clock at start
        self.after = []                  # vector clock at completion
        n = len(Queue)
        self._spad = (np.full((n, config.spad_rows), -1), np.full((n, config.spad_rows), -1))  # (writer, reader)
        self._acc = (np.full((n, config.acc_rows), -1), np.full((n, config.acc_rows), -1))
        self._mem_w = []                 # (lo, hi, queue, qidx) STORE writes
        self._mem_r = []                 # (lo, hi, queue, qidx) reads of memory that some STORE writes
        self.store_ranges = []           # memory ranges STOREs may write (reads elsewhere are not tracked)
        self.marks = []                  # (name, index of the next instruction): phase boundaries for reports

    def mark(self, name):
        self.marks.append((name, len(self.items)))

    # ---- footprints ---------------------------------------------------------------------------------------
    def _footprint(self, op, f):
        d = self.cfg.dim
        rng = lambda a, n: np.arange(a, a + n)  # noqa: E731
        sr, sw, ar, aw, mr, mw = [], [], [], [], None, None
        if op == Opcode.LOAD:
            (aw if f["dst"] else sw).append(rng(f["local"], f["lines"]))
            eb = 4 if f["dst"] else f["elem_bytes"]
            mr = (f["mem_addr"], f["mem_addr"] + (f["lines"] - 1) * f["stride"] + d * eb)
        elif op == Opcode.STORE:
            (ar if f["src"] else sr).append(rng(f["local"], f["lines"]))
            eb = 4 if f["src"] else f["elem_bytes"]
            mw = (f["mem_addr"], f["mem_addr"] + (f["lines"] - 1) * f["stride"] + d * eb)
        elif op == Opcode.CONFIG:
            n = 64 if f["kind"] == 0 else 16 * f["count"]
            mr = (f["mem_addr"], f["mem_addr"] + n)
        elif op == Opcode.MATMUL:
            kb = -(-f["k"] // d)
            sr.append(rng(f["a_addr"], kb * f["rows"]))
            for j in range(f["blocks"]):
                sr.append(rng(f["b_addr"] + j * f["b_stride"], f["k"]))
                aw.append(rng(f["c_addr"] + j * f["c_stride"], f["rows"]))
        elif op == Opcode.NL:
            r = np.arange(f["rows"])[:, None]
            j = np.arange(f["lines"])[None, :]
            ar.append((f["acc_base"] + r * f["row_stride"] + j * f["line_stride"]).ravel())
            if f["residual"]:
                sr.append((f["res_base"] + r * f["res_row_stride"] + j * f["res_line_stride"]).ravel())
            if f["transpose"]:
                blocks = -(-f["rows"] // d)
                b = np.arange(blocks)[:, None]
                c = np.arange(d)[None, :]
                sw.append((f["dst_base"] + b * f["dst_row_stride"] + c * f["dst_line_stride"]).ravel())
            else:
                sw.append((f["dst_base"] + r * f["dst_row_stride"] + j * f["dst_line_stride"]).ravel())
        cat = lambda xs: np.unique(np.concatenate(xs)) if xs else np.zeros(0, dtype=np.int64)  # noqa: E731
        return cat(sr), cat(sw), cat(ar), cat(aw), mr, mw

    def _deps(self, q, fp):
        sr, sw, ar, aw, mr, mw = fp
        dep = [-1] * len(Queue)
        for other in Queue:
            if other == q:
                continue
            v = -1
            for (w, r), reads, writes in ((self._spad, sr, sw), (self._acc, ar, aw)):
                if reads.size:
                    v = max(v, int(w[other, reads].max()))
                if writes.size:
                    v = max(v, int(w[other, writes].max()), int(r[other, writes].max()))
            dep[other] = v
        overlap = lambda a, b: a[0] < b[1] and b[0] < a[1]  # noqa: E731
        if mr is not None:
            for lo, hi, oq, oi in self._mem_w:
                if oq != q and overlap(mr, (lo, hi)):
                    dep[oq] = max(dep[oq], oi)
        if mw is not None:
            for lo, hi, oq, oi in self._mem_w + self._mem_r:
                if oq != q and overlap(mw, (lo, hi)):
                    dep[oq] = max(dep[oq], oi)
        return dep

    def _record(self, q, qi, fp):
        sr, sw, ar, aw, mr, mw = fp
        for (w, r), reads, writes in ((self._spad, sr, sw), (self._acc, ar, aw)):
            r[q, reads] = qi
            w[q, writes] = qi
        if mw is not None:
            self._mem_w.append((*mw, q, qi))
        if mr is not None and any(mr[0] < hi and lo < mr[1] for lo, hi in self.store_ranges):
            self._mem_r.append((*mr, q, qi))

    # ---- emission -----------------------------------------------------------------------------------------
    def emit(self, opcode, /, after=(), **fields):
        """Append one instruction; ``after``: global indices it must also follow. Returns its global index."""
        op = Opcode(opcode)
        q = QUEUE_OF[op]
        Instr.make(op, **fields).check(self.cfg)
        fp = self._footprint(op, dict(Instr.make(op, **fields).fields))
        dep = self._deps(q, fp)
        for g in after:
            oq, oi = self.queue_idx[g]
            if oq != q:
                dep[oq] = max(dep[oq], oi)
        own = self.queues[q]
        vc = list(self.before[own[-1]]) if own else [-1] * len(Queue)
        flags = {}
        # a dependency between LOAD and STORE goes through an execute instruction that already waited for it
        for far in (Queue.LOAD, Queue.STORE):
            if far == q or q == Queue.EXECUTE or dep[far] <= vc[far]:
                continue
            bridge = next((i for i, g in enumerate(self.queues[Queue.EXECUTE]) if self.after[g][far] >= dep[far]),
                          None)
            if bridge is None:
                raise RuntimeError(f"{op.name} must follow {far.name} instruction {dep[far]} but no execute "
                                   "instruction waited for it (emit a bridge with after=)")
            dep[Queue.EXECUTE] = max(dep[Queue.EXECUTE], bridge)
        for other in Queue:
            if abs(other - q) != 1 or dep[other] <= vc[other]:
                continue
            push, pop = channel_flags(other, q)
            g = self.queues[other][dep[other]]
            assert not self.items[g][2].get(push), "token pushes must be added in order"
            self.items[g][2][push] = True
            flags[pop] = True
            vc = [max(a, b) for a, b in zip(vc, self.after[g])]
        for far in (Queue.LOAD, Queue.STORE):
            if far != q and dep[far] > vc[far]:
                raise RuntimeError(f"{op.name}: dependency on {far.name} {dep[far]} not covered by tokens")
        g = len(self.items)
        qi = len(own)
        self.items.append([op, fields, flags])
        self.queue_idx.append((q, qi))
        own.append(g)
        self.before.append(vc)
        done = list(vc)
        done[q] = qi
        self.after.append(done)
        self._record(q, qi, fp)
        return g

    def instrs(self, halt=True):
        """The program as ``golden.isa.Instr`` (with a final HALT)."""
        out = [Instr.make(op, **fields, **flags) for op, fields, flags in self.items]
        return out + [Instr.make(Opcode.HALT)] if halt else out

    def counts(self):
        c = {}
        for op, _, _ in self.items:
            c[op.name] = c.get(op.name, 0) + 1
        return c
