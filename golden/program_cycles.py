"""Cycle ESTIMATE of a whole program: a discrete-event model of the three queues and their tokens.

Each queue runs its instructions in order; an instruction starts when its unit is free and the tokens it pops
have been pushed (the ``k``-th pop of a channel takes the ``k``-th push, at the pushing instruction's completion).

- LOAD / STORE / CONFIG: ``ceil(bytes / bus_bytes_per_cycle) + burst_overhead`` plus ``line_overhead`` per
  line after the first when the lines are not contiguous in memory (strided, or stride 0 replication).
- MATMUL: its ``blocks`` tile operations are timed with :func:`golden.cycles.schedule` (the exact model of the
  tile engine), presented when the instruction's tokens are in; consecutive MATMULs form one schedule, so
  back-to-back blocks overlap as that model says. Completion: the last block's ``done``.
- NL: starts when every earlier MATMUL is done; :func:`golden.cycles.nonlinear_cycles` plus ``nl_overhead``.
  The next MATMUL / CONFIG is presented after it and starts a new tile schedule (the engine is idle).

Not modelled: contention between the load unit, the store unit and CONFIG on the bus, and DMA pipelining beyond
``line_overhead``. :class:`Latencies` holds every parameter, to be calibrated against the RTL.
"""
from dataclasses import dataclass, field

from hw.isa import Opcode, Queue, disassemble

from .cycles import TileOp, nonlinear_cycles, schedule

__all__ = ["Latencies", "ProgramTiming", "estimate_cycles"]


@dataclass(frozen=True)
class Latencies:
    """Per-instruction-class latency parameters of :func:`estimate_cycles` (cycles)."""
    bus_bytes_per_cycle: int = 16
    burst_overhead: int = 24        # request -> first data of a LOAD/STORE/CONFIG (AXI round trip)
    line_overhead: int = 1          # each further non-contiguous line
    nl_overhead: int = 2            # NL decode + writer drain
    decode: int = 1                 # fetch/decode of an execute instruction

    def transfer(self, nbytes, lines=1, contiguous=True):
        extra = 0 if contiguous else (lines - 1) * self.line_overhead
        return -(-nbytes // self.bus_bytes_per_cycle) + self.burst_overhead + extra


@dataclass
class ProgramTiming:
    """Result of :func:`estimate_cycles`: total ``cycles`` and per-queue / per-opcode busy cycles."""
    cycles: int = 0
    busy: dict = field(default_factory=dict)      # queue name -> cycles with an instruction in flight (union)
    by_op: dict = field(default_factory=dict)     # opcode name -> summed latency (overlapping MATMULs each)
    macs: int = 0
    bytes: int = 0
    starts: list = field(default_factory=list)
    ends: list = field(default_factory=list)

    def ideal(self, config):
        """MAC-bound cycles of the program's MATMULs: ``macs / dim**2``."""
        return -(-self.macs // config.macs_per_cycle)


_CH = {(Queue.LOAD, Queue.EXECUTE): "l2e", (Queue.EXECUTE, Queue.LOAD): "e2l",
       (Queue.EXECUTE, Queue.STORE): "e2s", (Queue.STORE, Queue.EXECUTE): "s2e"}


def estimate_cycles(program, config, bus_bytes_per_cycle=16, latencies=None):
    """Estimated cycles of ``program`` (bytes or ``hw.isa.Instr`` list) on ``config``: a :class:`ProgramTiming`.

    ``ValueError`` if the queues deadlock (a pop whose push never comes).
    """
    lat = latencies or Latencies(bus_bytes_per_cycle=bus_bytes_per_cycle)
    instrs = disassemble(bytes(program)) if isinstance(program, (bytes, bytearray)) else list(program)
    if any(i.op == Opcode.HALT for i in instrs):
        instrs = instrs[:next(k for k, i in enumerate(instrs) if i.op == Opcode.HALT)]
    d = config.dim
    queues = {q: [k for k, i in enumerate(instrs) if i.queue == q] for q in Queue}
    pos = dict.fromkeys(Queue, 0)
    free = dict.fromkeys(Queue, 0)
    pushes = {ch: [] for ch in _CH.values()}
    pops = dict.fromkeys(_CH.values(), 0)
    res = ProgramTiming(busy={q.name: 0 for q in Queue}, starts=[None] * len(instrs), ends=[None] * len(instrs))
    run = {"ops": [], "valid": [], "done": 0}

    def token_time(ins):
        t = 0
        for side, other in (("prev", ins.queue - 1), ("next", ins.queue + 1)):
            if getattr(ins, f"pop_{side}"):
                ch = _CH[(Queue(other), ins.queue)]
                if pops[ch] >= len(pushes[ch]):
                    return None
                t = max(t, pushes[ch][pops[ch]])
        return t

    def take_tokens(ins):
        for side, other in (("prev", ins.queue - 1), ("next", ins.queue + 1)):
            if getattr(ins, f"pop_{side}"):
                pops[_CH[(Queue(other), ins.queue)]] += 1

    def transfer(f, local_key, eb_default):
        eb = 4 if f[local_key] else f["elem_bytes"]
        nbytes = f["lines"] * d * eb
        res.bytes += nbytes
        return lat.transfer(nbytes, f["lines"], f["stride"] == d * eb)

    def run_execute(ins, t0):
        f = dict(ins.fields)
        if ins.op == Opcode.MATMUL:
            for j in range(f["blocks"]):
                cols = d if j < f["blocks"] - 1 else f["cols"]
                run["ops"].append(TileOp(f["rows"], f["k"], cols))
                run["valid"].append(t0 + lat.decode)
                res.macs += f["rows"] * f["k"] * cols
            tm = schedule(run["ops"], config, run["valid"])
            first = tm[len(tm) - f["blocks"]]
            end = tm[-1].done
            run["done"] = max(run["done"], end)
            return first.accept, end, tm[-1].accept
        if ins.op == Opcode.NL:
            start = max(t0, run["done"])
            end = start + lat.decode + nonlinear_cycles(f["op"], f["rows"], f["lines"], config) + lat.nl_overhead
            run.update(ops=[], valid=[], done=0)
            return start, end, end
        n = 64 if f["kind"] == 0 else 16 * f["count"]
        res.bytes += n
        end = t0 + lat.decode + lat.transfer(n)
        return t0, end, end

    remaining = len(instrs)
    while remaining:
        progress = False
        for q in Queue:
            while pos[q] < len(queues[q]):
                k = queues[q][pos[q]]
                ins = instrs[k]
                tt = token_time(ins)
                if tt is None:
                    break
                take_tokens(ins)
                t0 = max(free[q], tt)
                if q == Queue.EXECUTE:
                    start, end, nxt = run_execute(ins, t0)
                else:
                    f = dict(ins.fields)
                    start = t0
                    end = start + transfer(f, "dst" if ins.op == Opcode.LOAD else "src", None)
                    nxt = end
                free[q] = nxt
                res.busy[q.name] += end - start
                res.by_op[ins.op.name] = res.by_op.get(ins.op.name, 0) + end - start
                res.starts[k], res.ends[k] = start, end
                for side, other in (("prev", q - 1), ("next", q + 1)):
                    if getattr(ins, f"push_{side}"):
                        pushes[_CH[(q, Queue(other))]].append(end)
                pos[q] += 1
                remaining -= 1
                progress = True
        if not progress:
            heads = {q.name: queues[q][pos[q]] for q in Queue if pos[q] < len(queues[q])}
            raise ValueError(f"the queues deadlock: heads (instruction indices) {heads} wait for tokens "
                             "that are never pushed")
    res.cycles = max((e for e in res.ends if e is not None), default=0)
    for q in Queue:
        res.busy[q.name] = _union([(res.starts[k], res.ends[k]) for k in queues[q]])
    return res


def _union(spans):
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(spans):
        if cur_e is None or s > cur_e:
            total += 0 if cur_e is None else cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + (0 if cur_e is None else cur_e - cur_s)
