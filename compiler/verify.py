"""Token check of a program under adversarial timing: no cross-queue hazard for any timing the ISA allows.

:func:`check_races` runs the three queues with random instruction durations, under only the rules the ISA
guarantees (docs/isa.md, ``compiler.emit``): each queue starts its instructions in order and completes them in
order (but may overlap them), and a pop waits for the matching push (first-in first-out per channel, the push
at the pushing instruction's completion). It then checks that every pair of instructions of different queues
that touch the same scratchpad row, accumulator line or memory byte (one of them writing) is ordered as in the
program: the earlier one completes before the later one starts. This is independent of how the emitter placed
the tokens.
"""
import numpy as np

from golden.isa import CHANNELS, Opcode, Queue

from .emit import Emitter

__all__ = ["check_races"]


def _timing(instrs, rng):
    n = len(instrs)
    start, end = np.zeros(n), np.zeros(n)
    pushes = {ch: [] for ch in CHANNELS.values()}
    pops = dict.fromkeys(CHANNELS.values(), 0)
    pop_times = {ch: [] for ch in CHANNELS.values()}
    last = {q: (0.0, 0.0) for q in Queue}        # (start, end) of the previous instruction of the queue
    queues = {q: [k for k, i in enumerate(instrs) if i.queue == q] for q in Queue}
    pos = dict.fromkeys(Queue, 0)
    left = sum(len(v) for v in queues.values())
    while left:
        moved = False
        for q in Queue:
            while pos[q] < len(queues[q]):
                k = queues[q][pos[q]]
                ins = instrs[k]
                need = ins.pops
                if any(pops[ch] >= len(pushes[ch]) for ch in need):
                    break
                t = max([last[q][0] + rng.uniform(0, 3)] + [pushes[ch][pops[ch]] for ch in need])
                for ch in need:
                    pops[ch] += 1
                    pop_times[ch].append(t)
                start[k] = t
                end[k] = max(t + rng.exponential(20.0) + 0.01, last[q][1] + 0.01)
                last[q] = (start[k], end[k])
                for ch in ins.pushes:
                    pushes[ch].append(end[k])
                pos[q] += 1
                left -= 1
                moved = True
        if not moved:
            raise ValueError("the queues deadlock")
    return start, end, _max_outstanding(pushes, pop_times)


def _max_outstanding(pushes, pop_times):
    """Largest number of pushed and not yet popped tokens per channel."""
    out = {}
    for ch, ts in pushes.items():
        ev = sorted([(t, 1) for t in ts] + [(t, -1) for t in pop_times[ch]], key=lambda e: (e[0], e[1]))
        level = peak = 0
        for _, v in ev:
            level += v
            peak = max(peak, level)
        out[ch] = peak
    return out


def check_races(instrs, config, trials=3, seed=0, mem_granule=16, max_tokens=255):
    """Raise ``AssertionError`` naming the first unordered conflicting pair found in ``trials`` random timings,
    or a channel holding more than ``max_tokens`` tokens (the hardware's counters are 8 bits)."""
    instrs = [i for i in instrs if i.op != Opcode.HALT]
    em = Emitter(config)
    fps = []
    for ins in instrs:
        sr, sw, ar, aw, mr, mw = em._footprint(ins.op, dict(ins.fields))
        g = lambda r: None if r is None else np.arange(r[0] // mem_granule, -(-r[1] // mem_granule))  # noqa: E731
        fps.append((sr, sw, ar, aw, g(mr), g(mw)))
    mem_cells = 1 + max((int(x[-1]) for fp in fps for x in fp[4:] if x is not None and x.size), default=0)
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        start, end, peak = _timing(instrs, rng)
        for ch, n in peak.items():
            if n > max_tokens:
                raise AssertionError(f"channel {ch[0].name}->{ch[1].name} holds {n} tokens (> {max_tokens})")
        # per resource and queue: latest completion of earlier writers / readers (program order)
        sizes = (config.spad_rows, config.acc_rows, mem_cells)
        w_end = [np.full((3, s), -np.inf) for s in sizes]
        r_end = [np.full((3, s), -np.inf) for s in sizes]
        for k, ins in enumerate(instrs):
            q = ins.queue
            sr, sw, ar, aw, mr, mw = fps[k]
            for res, reads, writes in ((0, sr, sw), (1, ar, aw), (2, mr, mw)):
                for other in Queue:
                    if other == q:
                        continue
                    for rows, arrays in ((reads, (w_end,)), (writes, (w_end, r_end))):
                        if rows is None or not rows.size:
                            continue
                        for arr in arrays:
                            worst = arr[res][other, rows].max()
                            if worst > start[k]:
                                raise AssertionError(f"instruction {k} ({ins.op.name}) starts at {start[k]:.1f} "
                                                     f"before an earlier conflicting {other.name} instruction "
                                                     f"completes at {worst:.1f} (resource {'spad acc mem'.split()[res]})")
            for res, reads, writes in ((0, sr, sw), (1, ar, aw), (2, mr, mw)):
                if reads is not None and reads.size:
                    r_end[res][q, reads] = np.maximum(r_end[res][q, reads], end[k])
                if writes is not None and writes.size:
                    w_end[res][q, writes] = np.maximum(w_end[res][q, writes], end[k])
