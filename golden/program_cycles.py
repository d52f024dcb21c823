"""Cycle ESTIMATE of a whole program: a discrete-event model of the three queues and their tokens.

Each queue runs its instructions in order; an instruction starts when its unit is free and the tokens it pops
have been pushed (the ``k``-th pop of a channel takes the ``k``-th push, at the pushing instruction's completion).
Instructions are placed in the order of their start times (the queue head that can start first), so a LOAD sees
the MATMULs that run alongside it.

- LOAD / STORE: ``max(ceil(bytes / config.bus_bytes), lines) + burst_overhead`` (a DMA moves one beat or one
  line per cycle, whichever is slower) plus ``line_overhead`` per line after the
  first when the lines are not contiguous in memory. Stride 0 (a replicated line, hw.dma): one line read, then one
  line per cycle. An accumulator LOAD writes its lines beside the array's writes (hw.accumulator's ``fill``; a
  bank collision costs at most a cycle, not modelled).
- CONFIG: ``decode + config_overhead + beats``; issued while a LOAD streams, it waits ``bus_queue`` cycles for
  the bursts in flight and then shares the bus with the LOAD (its beats count twice and delay the LOAD).
- MATMUL: its ``blocks`` tile operations are timed with :class:`golden.cycles.Engine` (the exact model of the
  tile engine), presented when the instruction's tokens are in; consecutive MATMULs form one schedule, so
  back-to-back blocks overlap as that model says. Completion: the last block's ``done``.
- NL: starts when the NL before it is done and every MATMUL in flight whose footprint conflicts with its own
  (:func:`golden.isa.conflicts`) is done; :func:`golden.cycles.nonlinear_cycles` plus ``nl_overhead`` and
  ``nl_done`` (a transposed output adds ``rows``: the writer drains after the lanes), plus the cycles the array's
  B reads take the port from a residual read. The queue moves on once the NL is sent: a MATMUL that does not
  conflict with it issues beside it, a CONFIG waits for it.
- Tokens of the execute queue are pushed at retirement, in program order (hw.controller's retire ring).

Not modelled: instruction fetch and queue capacity (the controller prefetches 32 instructions into 16-deep
queues), STORE traffic on the bus. :class:`Latencies` holds every parameter, calibrated against the RTL
(``python -m systolica.layer_run SEQ --trace FILE`` compares per instruction): MiniLM layer 0 at seq 32 and 128 within
0.1%.
"""
from dataclasses import dataclass, field

from .isa import CHANNELS, Opcode, Queue, conflicts, disassemble, footprint

from .cycles import Engine, TileOp, nonlinear_cycles

__all__ = ["Latencies", "ProgramTiming", "estimate_cycles", "matmul_macs", "union_cycles"]


@dataclass(frozen=True)
class Latencies:
    """Per-instruction-class latency parameters of :func:`estimate_cycles` (cycles).

    Derived: ``config_overhead``, the four registers its comment names (sim/axi_mem.sv at its default
    ``MEM_LATENCY=0``); the others but the two below count the registers their comments name.
    tests/golden/test_latency_derivation.py measures the LOAD, STORE and CONFIG paths on the RTL.

    Fitted on the RTL's instruction trace of MiniLM layer 0 at 32 and 128 tokens (DIM 16):

    - ``burst_overhead``: the registers of a transfer's path plus what the model leaves out. A STORE's path is
      9 registers: 6 to its first W beat (hw.dma.DmaWriter's request register; hw.axi.AxiMaster's write queue
      entry, AW walker and AW register; axi_mem's AW queue entry and ``w_active``) and 3 after its last
      (axi_mem's ``bvalid``, AxiMaster's ``done``, DmaWriter's ``done``). A LOAD's is 6: DmaReader's request
      register, AxiMaster's request (``ar_rem``) and AR registers, axi_mem's AR queue entry and ``r_active``,
      DmaReader's line register. The other 3 of a LOAD's 9 stand for the read traffic the model does not place,
      mostly instruction fetch: of the 940 LOADs of MiniLM layer 0 at 128 tokens that are not a replicated
      line, 568 take exactly 6 cycles more than their beats and 296 take 14, an 8-beat fetch burst interleaved
      (6 + 8 * 296 / 864 = 8.7; the other 76 share the bus with CONFIG reads or the scratchpad's write port
      with an NL).
    - ``bus_queue`` is not a register count: it is how long a CONFIG's read waits for the load beats requested
      ahead of it (AxiMaster keeps up to 8 bursts of READ_BURST beats in flight; sim/axi_mem.sv serves them in
      order), which depends on where in the LOAD the CONFIG issues and on the LOAD's length. Issued beside the
      LOAD's first bursts it waits for none (its bursts alternate with the LOAD's); behind a long LOAD in steady
      state up to 7 bursts (56 beats) are ahead of it, after a wait of up to a burst for a free slot (measured:
      59 cycles at DIM 16). The CONFIGs of MiniLM layer 0 at 128 tokens that issue during a LOAD wait 0, 3, 4,
      58 or 59 cycles for their first beat; 44 is the one value the calibration settled on.

    Held out since then, the whole-program estimate against the RTL: MiniLM at 64 tokens -0.0%, 256 tokens (the
    bert-base preset) -0.1%, six layers at 128 tokens +0.2%, DIM 32 at 128 tokens +0.2%, DIM 8 (the ulx3s-85f
    preset, 32 tokens) -0.4%; a BERT-base-shaped layer at 128 and 512 tokens -0.1% and -0.5% (``systolica run``;
    tests/systolica/test_layer.py holds them within 1%).
    """
    burst_overhead: int = 9         # LOAD/STORE: request -> data, round trip (fitted: above; a STORE's 9 registers)
    line_overhead: int = 1          # each further non-contiguous line
    nl_overhead: int = 1            # NL: the controller's command register (the writer is in nonlinear_cycles)
    nl_done: int = 1                # NL: the controller's register of the unit's done
    decode: int = 1                 # fetch/decode of an execute instruction
    # CONFIG: read request (after ``decode``, the controller's ``cur`` register) -> first R beat: AxiMaster's
    # request (``ar_rem``) and AR registers, axi_mem's AR queue entry, axi_mem's ``r_active`` (R passes through)
    config_overhead: int = 4
    bus_queue: int = 44             # a CONFIG read behind the load bursts in flight (fitted: above)
    store_overhead: int = 0         # STORE: last beat -> done, beyond burst_overhead (its 3 registers are in it)

    def transfer(self, nbytes, bus_bytes, lines=1, contiguous=True):
        """Cycles of a LOAD/STORE burst of ``nbytes`` in ``lines`` lines over a bus of ``bus_bytes`` per beat: one
        beat or one line per cycle, whichever is slower (hw.dma)."""
        extra = 0 if contiguous else (lines - 1) * self.line_overhead
        return max(-(-nbytes // bus_bytes), lines) + self.burst_overhead + extra


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


def estimate_cycles(program, config, latencies=None):
    """Estimated cycles of ``program`` (bytes or ``golden.isa.Instr`` list) on ``config``: a :class:`ProgramTiming`.

    ``ValueError`` if the queues deadlock (a pop whose push never comes).
    """
    lat = latencies or Latencies()
    instrs = disassemble(bytes(program)) if isinstance(program, (bytes, bytearray)) else list(program)
    if any(i.op == Opcode.HALT for i in instrs):
        instrs = instrs[:next(k for k, i in enumerate(instrs) if i.op == Opcode.HALT)]
    d = config.dim
    queues = {q: [k for k, i in enumerate(instrs) if i.queue == q] for q in Queue}
    pos = dict.fromkeys(Queue, 0)
    free = dict.fromkeys(Queue, 0)
    pushes = {ch: [] for ch in CHANNELS.values()}
    pops = dict.fromkeys(CHANNELS.values(), 0)
    res = ProgramTiming(busy={q.name: 0 for q in Queue}, starts=[None] * len(instrs), ends=[None] * len(instrs))
    # the tile engine, the MATMULs issued (footprint, done), the latest NL, the execute queue's latest retirement
    run = {"engine": Engine(config), "mms": [], "nl": None, "retired": 0}
    load_data = []      # (from, to): weight / activation LOAD data on the read bus
    last_load = {}      # the latest LOAD: k, acc (bool), pushes [(channel, index)]

    def delay_load(new_end):
        """Move the latest LOAD's completion (and its token pushes) to ``new_end``: nothing that depends on it
        has been placed yet (instructions are placed in start order and it is still running)."""
        k = last_load["k"]
        if new_end <= res.ends[k]:
            return
        res.ends[k] = free[Queue.LOAD] = new_end
        for ch, i in last_load["pushes"]:
            pushes[ch][i] = new_end
        if not last_load["acc"]:
            load_data[-1] = (load_data[-1][0], new_end)

    def token_time(ins):
        t = 0
        for ch in ins.pops:
            if pops[ch] >= len(pushes[ch]):
                return None
            t = max(t, pushes[ch][pops[ch]])
        return t

    def take_tokens(ins):
        for ch in ins.pops:
            pops[ch] += 1

    def overlap(spans, a, b):
        return sum(max(0, min(b, y) - max(a, x)) for x, y in spans if x < b and y > a)

    def config_read(t, nbytes):
        """End of a CONFIG read of ``nbytes`` issued at ``t``: behind the load bursts in flight and interleaved
        with the rest of the load's bursts (which it delays by as much)."""
        beats = -(-nbytes // config.bus_bytes)
        end = t + lat.decode + lat.config_overhead + beats
        if load_data and load_data[-1][0] - lat.burst_overhead <= t < load_data[-1][1]:
            end += lat.bus_queue + beats
            delay_load(res.ends[last_load["k"]] + beats)
        return end

    def load(f, start):
        """(end, bytes moved) of a LOAD starting at ``start``."""
        eb = 4 if f["dst"] else f["elem_bytes"]
        line = d * eb
        nbytes = f["lines"] * line
        if f["stride"] == 0 and f["lines"] > 1:
            # one read of the line, emitted ``lines`` times
            end = start + lat.transfer(line, config.bus_bytes) + f["lines"] - 1
            moved = line
        else:
            end = start + lat.transfer(nbytes, config.bus_bytes, f["lines"], f["stride"] == line)
            moved = nbytes
        if not f["dst"]:
            load_data.append((start + lat.burst_overhead, end))
        return end, moved

    def delay_nl(cycles):
        """Move the running NL's completion (and its token pushes, in order with the execute queue's) by
        ``cycles``: what waits for it is placed after the MATMULs that run beside it."""
        nl = run["nl"]
        if cycles <= 0:
            return
        nl["end"] += cycles
        res.ends[nl["k"]] = nl["end"]
        for ch, i in nl["pushes"]:
            pushes[ch][i] = max(pushes[ch][i], nl["end"])
        run["retired"] = max(run["retired"], nl["end"])

    def run_execute(ins, t0):
        f = dict(ins.fields)
        fp = footprint(ins.op, f, config)
        # hw.controller: a CONFIG waits for the NL in flight, a MATMUL only if it conflicts with it; an NL waits
        # for the NL before it and for the MATMULs in flight it conflicts with
        # (the hazard verdicts are registered: a wait on a conflict ends a cycle after the completion)
        nl = run["nl"]
        if nl and ins.op != Opcode.MATMUL:
            t0 = max(t0, nl["end"])
        if nl and ins.op == Opcode.MATMUL and conflicts(nl["fp"], fp):
            t0 = max(t0, nl["end"] + 1)
        if ins.op == Opcode.NL:
            t0 = max([t0] + [end + 1 for mfp, end in run["mms"] if conflicts(mfp, fp)])
        if ins.op == Opcode.MATMUL:
            tm = []
            for j in range(f["blocks"]):
                cols = d if j < f["blocks"] - 1 else f["cols"]
                tm.append(run["engine"].issue(TileOp(f["rows"], f["k"], cols), t0 + lat.decode))
            res.macs += matmul_macs(ins, d)
            first = tm[0]
            end = tm[-1].done
            run["mms"] = [m for m in run["mms"] if m[1] > t0] + [(fp, end)]
            if nl and nl["residual"] and nl["end"] > first.accept:
                # the NL running beside loses the port to this MATMUL's B reads (an upper bound: every such
                # cycle delays one of its lines)
                reads = run["engine"].b_reads[-f["blocks"] * -(-f["k"] // d):]
                delay_nl(overlap(reads, nl["start"], nl["end"]))
            # the controller's hazard verdict is registered: after a single-block MATMUL the next MATMUL or NL
            # issues a cycle later (modelled for every instruction)
            return first.accept, end, tm[-1].accept + (f["blocks"] == 1)
        if ins.op == Opcode.NL:
            start = t0
            # the controller sends every NL to the scratchpad writer (straight or transposed)
            end = start + lat.decode + lat.nl_overhead + lat.nl_done + nonlinear_cycles(
                f["op"], f["rows"], f["lines"], config, to_spad=True, transpose=bool(f["transpose"]))
            if f["residual"]:
                # residual reads wait for the array's B reads of the MATMULs still preloading
                end += overlap(run["engine"].b_reads[-8:], start, end)
            run["nl"] = dict(fp=fp, start=start, end=end, residual=f["residual"], k=None, pushes=[])
            return start, end, start + lat.decode + lat.nl_overhead
        n = 64 if f["kind"] == 0 else 16 * f["count"]
        res.bytes += n
        end = config_read(t0, n)
        return t0, end, end

    remaining = len(instrs)
    while remaining:
        # the queue head that can start earliest goes first (time order: loads see the array's MATMULs)
        best = None
        for q in Queue:
            if pos[q] < len(queues[q]):
                k = queues[q][pos[q]]
                tt = token_time(instrs[k])
                if tt is not None and (best is None or max(free[q], tt) < best[0]):
                    best = (max(free[q], tt), q, k)
        if best is None:
            heads = {q.name: queues[q][pos[q]] for q in Queue if pos[q] < len(queues[q])}
            raise ValueError(f"the queues deadlock: heads (instruction indices) {heads} wait for tokens "
                             "that are never pushed")
        t0, q, k = best
        ins = instrs[k]
        take_tokens(ins)
        if q == Queue.EXECUTE:
            start, end, nxt = run_execute(ins, t0)
        else:
            f = dict(ins.fields)
            start = t0
            if ins.op == Opcode.LOAD:
                end, moved = load(f, start)
            else:
                eb = 4 if f["src"] else f["elem_bytes"]
                moved = f["lines"] * d * eb
                end = (start + lat.transfer(moved, config.bus_bytes, f["lines"], f["stride"] == d * eb)
                       + lat.store_overhead)
            res.bytes += moved
            nxt = end
        free[q] = nxt
        res.starts[k], res.ends[k] = start, end
        mine = []
        pushed = end
        if q == Queue.EXECUTE:
            # the execute queue retires in program order: its tokens follow every earlier instruction's completion
            pushed = run["retired"] = max(run["retired"], end)
        for ch in ins.pushes:
            mine.append((ch, len(pushes[ch])))
            pushes[ch].append(pushed)
        if ins.op == Opcode.NL:
            run["nl"].update(k=k, pushes=mine)
        if ins.op == Opcode.LOAD:
            last_load.update(k=k, acc=bool(f["dst"]), pushes=mine)
        pos[q] += 1
        remaining -= 1
    res.cycles = max((e for e in res.ends if e is not None), default=0)
    for k, ins in enumerate(instrs):
        res.by_op[ins.op.name] = res.by_op.get(ins.op.name, 0) + res.ends[k] - res.starts[k]
    for q in Queue:
        res.busy[q.name] = union_cycles([(res.starts[k], res.ends[k]) for k in queues[q]])
    return res


def matmul_macs(ins, dim):
    """MACs of a MATMUL instruction: ``rows * k`` per column, ``dim`` columns per block but the last (``cols``)."""
    f = dict(ins.fields)
    return f["rows"] * f["k"] * ((f["blocks"] - 1) * dim + f["cols"])


def union_cycles(spans):
    """Cycles covered by the union of ``(start, end)`` spans."""
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(spans):
        if cur_e is None or s > cur_e:
            total += 0 if cur_e is None else cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + (0 if cur_e is None else cur_e - cur_s)
