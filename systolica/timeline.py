"""A run's timeline as a picture (`systolica run --timeline FILE.png`): one row per queue (load, execute split into
MATMUL, NL and CONFIG, store) over cycles, from the RTL's instruction trace (``sim.trace``) and, beside it, from
the program cycle model; below, the array's utilization over time for both. Gaps in the execute row are where
the array waits: on a LOAD, or on an NL that the execute queue serializes with the MATMULs.
"""
from golden.isa import Opcode, Queue
from golden.program_cycles import matmul_macs

__all__ = ["draw"]

_COLOR = {Opcode.LOAD: "#4c9a2a", Opcode.STORE: "#8e44ad", Opcode.MATMUL: "#2a6fbb", Opcode.NL: "#e67e22",
          Opcode.CONFIG: "#999999"}
_ROWS = (Queue.LOAD, Queue.EXECUTE, Queue.STORE)


def _utilization(instrs, starts, ends, dim, bins, horizon):
    """MACs per cycle / dim**2 in ``bins`` equal slices of ``[0, horizon)``, each MATMUL's MACs spread evenly over
    its span."""
    width = horizon / bins
    u = [0.0] * bins
    for ins, s, e in zip(instrs, starts, ends):
        if ins.op != Opcode.MATMUL or s is None or e is None or e <= s:
            continue
        rate = matmul_macs(ins, dim) / (e - s)                # MACs per cycle over the instruction's span
        for b in range(int(s // width), min(bins, int((e - 1) // width) + 1)):
            lo, hi = max(s, b * width), min(e, (b + 1) * width)
            u[b] += rate * max(0.0, hi - lo)
    return [x / (width * dim * dim) for x in u]


def draw(instrs, timings, dim, png, title):
    """Draw ``timings`` (label -> (starts, ends), cycles from the program's start, None where unknown) of
    ``instrs`` into ``png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    horizon = max(e for _, ends in timings.values() for e in ends if e is not None)
    fig, (ax, au) = plt.subplots(2, 1, figsize=(12, 1.2 + 1.1 * len(timings) + 2.2), sharex=True,
                                 gridspec_kw={"height_ratios": [len(timings) * 1.2, 1]})
    ticks, labels = [], []
    y = 0
    for label, (starts, ends) in reversed(list(timings.items())):       # the first label on top
        for q in reversed(_ROWS):
            for op in Opcode:
                spans = [(s, e - s) for ins, s, e in zip(instrs, starts, ends)
                         if ins.op == op and ins.queue == q and s is not None and e is not None]
                if spans:
                    ax.broken_barh(spans, (y, 0.8), facecolors=_COLOR[op], linewidth=0)
            ticks.append(y + 0.4)
            labels.append(f"{label} {q.name.lower()}")
            y += 1
        y += 0.5
        au.plot([(b + 0.5) * horizon / 200 for b in range(200)],
                _utilization(instrs, starts, ends, dim, 200, horizon), label=label, linewidth=1)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(handles=[Patch(color=c, label=op.name) for op, c in _COLOR.items()], fontsize=7, ncol=5,
              loc="upper right")
    au.set_ylim(0, 1.05)
    au.set_ylabel("array utilization", fontsize=8)
    au.set_xlabel("cycle", fontsize=8)
    au.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
