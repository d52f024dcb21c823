"""Per-instruction start / end cycles from a harness event trace (``run_program(..., trace=file)``).

The trace has one line ``<cycle> <hex mask>`` per cycle with a controller event (bits: ``sim.system.PROBES``) and
``R``/``W`` lines per AXI request. An instruction starts in the cycle its queue pops it and ends in the cycle
after its last event (last line written, store done, last block's ``exe_done``, ``nl_done``, last CONFIG beat):
the cycle its tokens are visible, as ``golden.program_cycles`` counts.
"""
from dataclasses import dataclass, field

from golden.isa import Opcode, Queue

__all__ = ["Trace", "parse", "instr_times"]


@dataclass
class Trace:
    events: dict = field(default_factory=dict)     # probe name -> [cycles]
    reads: list = field(default_factory=list)      # (cycle, id, addr, beats)
    writes: list = field(default_factory=list)     # (cycle, addr, beats)

    @property
    def start(self):
        return self.events["start"][0]


def parse(path):
    from .system import PROBES
    tr = Trace(events={p: [] for p in PROBES})
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "R":
                tr.reads.append((int(w[1]), int(w[2]), int(w[3], 16), int(w[4]) + 1))
            elif w[0] == "W":
                tr.writes.append((int(w[1]), int(w[2], 16), int(w[3]) + 1))
            else:
                c, mask = int(w[0]), int(w[1], 16)
                for i, p in enumerate(PROBES):
                    if mask >> i & 1:
                        tr.events[p].append(c)
    return tr


def instr_times(instrs, tr, bus_bytes=16):
    """(starts, ends): absolute trace cycles per instruction of ``instrs`` (None past HALT or if missing)."""
    n = len(instrs)
    starts, ends = [None] * n, [None] * n
    ev = tr.events
    il = ist = iex = 0
    blk = nl = beat = 0
    for k, ins in enumerate(instrs):
        if ins.op == Opcode.HALT:
            break
        f = dict(ins.fields)
        try:
            if ins.queue == Queue.LOAD:
                starts[k], ends[k] = ev["ld_start"][il], ev["ld_last"][il] + 1
                il += 1
            elif ins.queue == Queue.STORE:
                starts[k], ends[k] = ev["st_start"][ist], ev["st_done"][ist] + 1
                ist += 1
            else:
                starts[k] = ev["ex_start"][iex]
                iex += 1
                if ins.op == Opcode.MATMUL:
                    blk += f["blocks"]
                    ends[k] = ev["blk_done"][blk - 1] + 1
                elif ins.op == Opcode.NL:
                    ends[k] = ev["nl_done"][nl] + 1
                    nl += 1
                else:
                    beat += 64 // bus_bytes if f["kind"] == 0 else f["count"] * max(1, 16 // bus_bytes)
                    ends[k] = ev["cfg_beat"][beat - 1] + 1
        except IndexError:
            break
    return starts, ends
