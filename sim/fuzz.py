"""Program fuzzer: random instruction streams run on the RTL and on golden's queue model, compared.

:func:`generate` writes a program that knows the ISA: LOADs, STOREs, MATMULs, NLs and CONFIGs over small
random regions, with the tokens its cross-queue dependencies need (so that the result is defined), and, with
some probability, one adversarial element: an instruction that fails its decode checks (each check of
``golden.isa.decode_checks``, an illegal opcode, reserved bits), a LOAD / STORE / CONFIG beyond the memory (a bus
error), a token no instruction gives (a deadlock), an NL on lanes configured for another op or not configured at
all (a nonlinear error), a softmax whose row sums are too small, or a LayerNorm whose ``var_shift`` is too small
for its inputs (a nonlinear error).

:func:`check` compares the RTL's status, error code, error info and output memory with what
``golden.queues.outcome`` allows (every STORE the faulting instruction waited for written, none that waits for
it, the others all or nothing), and that the run ended within :func:`watchdog` cycles.

``python -m sim.fuzz N [--seed S] [--stall P] [--dim D]`` runs N programs (``make fuzz N=...``); a program that
fails is saved as ``tests/fuzz_regressions/<seed>-<index>.json``, with its whole memory image (so that a later
change of the generator does not change it), and replayed by ``tests/hw/test_fuzz.py``.
"""
import argparse
import base64
import dataclasses
import json
import pathlib
import sys
import zlib

import numpy as np

from golden import nlops
from golden.config import AcceleratorConfig
from golden.isa import (INSTR_BYTES, MAX_ROW, Instr, Opcode, Queue, assemble, channel_flags, decode, encode,
                        footprint)
from golden.layernorm import XS_BITS, LayerNormConstants
from golden.gelu import GeluConstants
from golden.machine import Machine
from golden.nlops import LaneOp
from golden.numerics import Dyadic
from golden.queues import outcome
from golden.softmax import SoftmaxConstants

__all__ = ["CONFIG", "Case", "generate", "saved", "from_saved", "transfer_case", "long_case", "reset_program", "cost",
           "watchdog", "check", "jobs", "run", "REGRESSIONS"]

CONFIG = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)
MEM_BYTES = 16 << 20            # sim.system.MEM_BYTES: beyond it the memory answers SLVERR
PROG, RESET, IN, CONST, ZERO, OUT = 0x1000, 0x3000, 0x10000, 0x20000, 0x30000, 0x40000
IN_BYTES, SLOT, SLOTS = 0x2000, 0x200, 48
OUT_BYTES = SLOT * SLOTS
TOP_BYTES = 4096                # the memory's top, rewritten for every case (bus errors write into it)
ROWS = 48                       # scratchpad rows and accumulator lines the programs use (a small space: conflicts)
REGRESSIONS = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fuzz_regressions"
LN_IN_BITS = 22                 # the LayerNorm constants' input width, and the var_shift it needs (golden.layernorm)
LN_VAR_SHIFT = LN_IN_BITS - XS_BITS
OPS = (LaneOp.REQUANT, LaneOp.GELU, LaneOp.SOFTMAX, LaneOp.LAYERNORM)
NEIGHBOURS = {(Queue.LOAD, Queue.EXECUTE), (Queue.EXECUTE, Queue.LOAD), (Queue.EXECUTE, Queue.STORE),
              (Queue.STORE, Queue.EXECUTE)}


@dataclasses.dataclass
class Case:
    """A fuzzed program: its memory image, what it is (``kind``: "valid" or the adversarial element)."""
    seed: int
    index: int
    kind: str
    segments: dict
    program: list
    outcome: object = None      # golden.queues.Outcome of the program, after the reset program
    fault: dict = None          # an injected bus fault (sim.tb_axi_harness.HarnessTB.memory_faults arguments)

    def image(self):
        mem = bytearray(MEM_BYTES)
        for a, b in self.segments.items():
            mem[a:a + len(b)] = b
        return mem


def _lane_blocks(cfg, rng):
    """CONFIG sources per op: {op: (lane block address, column entries address)} and their bytes."""
    n = 2 * cfg.dim
    made = {
        LaneOp.REQUANT: nlops.requant_consts(Dyadic.from_ratio(rng.uniform(1e-4, 1e-3, n)), n, 8),
        LaneOp.GELU: nlops.gelu_consts(Dyadic.from_ratio(rng.uniform(1e-4, 3e-3, n)), 16,
                                       GeluConstants.from_scales(10 / 32767, 10 / 2047, 16, 12), n),
        LaneOp.SOFTMAX: (nlops.softmax_consts(SoftmaxConstants.from_scale(float(rng.choice([1e-3, 3e-5])))), None),
        # a softmax whose exps are all tiny: every row's sum falls below golden.softmax.MIN_EXP_SUM
        "tiny": (nlops.LaneConsts.make(**{**nlops.softmax_consts(SoftmaxConstants.from_scale(3e-4)).as_dict(),
                                          "m3": 1}), None),
        LaneOp.LAYERNORM: nlops.layernorm_consts(LayerNormConstants.from_params(
            rng.normal(1, 0.3, n), rng.normal(0, 0.5, n), 0.01, LN_IN_BITS, 8)),
    }
    where, seg = {}, {}
    for i, (op, (lane, cols)) in enumerate(made.items()):
        a = CONST + i * 0x400
        seg[a] = nlops.pack_lane_consts(lane)
        if cols is not None:
            seg[a + 0x100] = nlops.pack_col_entries(cols)
        where[op] = (a, a + 0x100 if cols is not None else None)
    return where, seg


def reset_program(cfg):
    """Zero the scratchpad, the accumulator, the lane constants and the column table: the state a fresh
    ``golden.machine.Machine`` has (each fuzzed program runs after it)."""
    return [Instr.make(Opcode.LOAD, dst=0, local=0, lines=cfg.spad_rows, mem_addr=ZERO, stride=0, elem_bytes=1),
            Instr.make(Opcode.LOAD, dst=1, local=0, lines=cfg.acc_rows, mem_addr=ZERO, stride=0, elem_bytes=4),
            Instr.make(Opcode.CONFIG, kind=0, mem_addr=ZERO),
            Instr.make(Opcode.CONFIG, kind=1, offset=0, count=cfg.col_entries, mem_addr=ZERO),
            Instr.make(Opcode.HALT)]


def _touches(ins, cfg):
    """(spad read, spad write, acc read, acc write) of an instruction as lists of inclusive intervals."""
    f = dict(ins.fields)
    if ins.op in (Opcode.LOAD, Opcode.STORE):
        iv = [(f["local"], f["local"] + f["lines"] - 1)]
        acc = f["dst" if ins.op == Opcode.LOAD else "src"]
        rd, wr = ([], iv) if ins.op == Opcode.LOAD else (iv, [])
        return (([], [], rd, wr) if acc else (rd, wr, [], []))
    if ins.op in (Opcode.MATMUL, Opcode.NL):
        fp = footprint(ins.op, f, cfg)
        pick = lambda ivs: [(lo, hi) for v, lo, hi in ivs if v]        # noqa: E731
        return pick(fp.spad_read), pick(fp.spad_write), pick(fp.acc_read), pick(fp.acc_write)
    return [], [], [], []


def _overlap(xs, ys):
    return any(a <= d and c <= b for a, b in xs for c, d in ys)


def _depends(a, b, cfg):
    """Whether ``b`` must wait for ``a`` (a write of one meets a read or write of the other)."""
    sr, sw, ar, aw = _touches(a, cfg)
    tr, tw, br, bw = _touches(b, cfg)
    return (_overlap(sw, tr + tw) or _overlap(sr, tw) or _overlap(aw, br + bw) or _overlap(ar, bw))


class _Builder:
    """Appends instructions, adding the tokens each needs: for a dependency on an instruction of a neighbouring
    queue, a push on the latest instruction of that queue and a pop here (the k-th pop pairs with the k-th push);
    load <-> store through a CONFIG placed between them. ``known[q][p]``: the last instruction of queue p known
    complete when the next instruction of queue q starts."""

    def __init__(self, cfg, filler):
        self.cfg, self.filler = cfg, filler
        self.instrs, self.flags = [], []
        self.known = {q: {p: -1 for p in Queue} for q in Queue}
        self.start_known = []

    def _last_of(self, q, before):
        return max((i for i in range(before) if self.instrs[i].queue == q), default=None)

    def _sync(self, q, p, i, at):
        """Make instruction ``at`` (queue q, being added) wait for instruction ``i`` of neighbouring queue p."""
        if self.known[q][p] >= i:
            return
        src = self._last_of(p, at)
        push, pop = channel_flags(p, q)
        self.flags[src][push] = True
        self.flags[at][pop] = True
        done = {**self.start_known[src], p: src}
        for r in Queue:
            self.known[q][r] = max(self.known[q][r], done[r])

    def add(self, ins, deps=True):
        q = ins.queue
        if deps:
            need = [i for i, x in enumerate(self.instrs) if x.queue not in (q, None) and _depends(x, ins, self.cfg)]
            far = [i for i in need if (self.instrs[i].queue, q) not in NEIGHBOURS]
            if far and max(far) > self.known[q][self.instrs[max(far)].queue]:
                # load <-> store: a CONFIG after the far instruction carries the dependency
                self.add(self.filler, deps=False)
                e = len(self.instrs) - 1
                self._sync(Queue.EXECUTE, self.instrs[max(far)].queue, max(far), e)
                self.start_known[e] = dict(self.known[Queue.EXECUTE])
        at = len(self.instrs)
        self.instrs.append(ins)
        self.flags.append(dict.fromkeys(("pop_prev", "pop_next", "push_prev", "push_next"), False))
        self.start_known.append(None)
        if deps and q is not None:
            for i in need:
                p = self.instrs[i].queue
                if (p, q) in NEIGHBOURS:
                    self._sync(q, p, i, at)
                elif self.known[q][p] < i:
                    # through the execute instruction that waited for it (the filler above, or a later one)
                    self._sync(q, Queue.EXECUTE, self._last_of(Queue.EXECUTE, at), at)
        if q is not None:
            self.start_known[at] = dict(self.known[q])
            if q != Queue.EXECUTE:          # a load or store starts after the one before it completes
                self.known[q][q] = at

    def dangling_pop(self, ins):
        """``ins`` with a pop no instruction will ever push: the program deadlocks there."""
        q = ins.queue
        p = Queue.EXECUTE if q != Queue.EXECUTE else Queue.LOAD
        self.add(ins, deps=False)
        self.flags[-1][channel_flags(p, q)[1]] = True

    def program(self):
        return [Instr.make(x.op, **dict(x.fields), **fl) if x.queue is not None else x
                for x, fl in zip(self.instrs, self.flags)]


def generate(seed, index, cfg=CONFIG, n=None):
    """Case ``index`` of seed ``seed``: a random program of up to ``n`` instructions (each queue's at most 12, so
    that no queue fills: the model's queues are unbounded) and its memory image. A draw whose NL constants are
    outside what the hardware defines (``golden.queues.outcome`` raises) is drawn again."""
    rng = np.random.default_rng([seed, index])
    for _ in range(20):
        case = _draw(rng, seed, index, cfg, n)
        try:
            case.outcome = expected(case, cfg)
        except ValueError:
            continue
        return case
    raise RuntimeError(f"no well-defined program in 20 draws of seed {seed} case {index}")


def _start(rng, cfg):
    """A case's memory image without its program (lane constants, input data, the output area's random
    pattern, zeros for the reset program) and a :class:`_Builder` whose filler CONFIG rewrites the last
    column-table entry (no program reads it)."""
    where, seg = _lane_blocks(cfg, rng)
    seg[IN] = rng.integers(-128, 128, IN_BYTES, dtype=np.int8).tobytes()
    seg[OUT] = rng.integers(0, 256, OUT_BYTES, dtype=np.uint8).tobytes()
    seg[ZERO] = bytes(cfg.col_entries * nlops.COL_ENTRY_BYTES)
    # the top of the memory, zeros: a STORE that runs past MEM_BYTES writes the part of its lines below it, which
    # stays in the simulator's memory for the next cases of the same launch (the model starts each from its image)
    seg[MEM_BYTES - TOP_BYTES] = bytes(TOP_BYTES)
    filler = Instr.make(Opcode.CONFIG, kind=1, offset=cfg.col_entries - 1, count=1, mem_addr=ZERO)
    return where, seg, _Builder(cfg, filler)


def _finish(b, seg, cfg):
    """The builder's program with HALT, written into the image with the reset program."""
    prog = b.program() + [Instr.make(Opcode.HALT)]
    seg[PROG] = b"".join(_word(x).to_bytes(INSTR_BYTES, "little") for x in prog)
    seg[RESET] = assemble(reset_program(cfg), cfg)
    return prog


def _draw(rng, seed, index, cfg, n):
    d = cfg.dim
    where, seg, b = _start(rng, cfg)
    kind = str(rng.choice(["valid"] * 6 + ["decode", "bus", "deadlock", "lanes", "softmax", "varshift"]))
    n = n or int(rng.integers(4, 24))
    slots = iter(rng.permutation(SLOTS))
    lane_op = LaneOp.REQUANT            # the reset program's zeros: op 0
    r = lambda lo, hi: int(rng.integers(lo, hi))          # noqa: E731
    special_at = r(0, n) if kind != "valid" else -1
    counts = dict.fromkeys(Queue, 0)
    for step in range(n):
        special = step == special_at
        pick = str(rng.choice(["load", "store", "matmul", "nl", "config"], p=[.3, .2, .25, .2, .05]))
        if special and kind == "bus":
            pick = str(rng.choice(["load", "store", "config"]))
        if special and kind in ("lanes", "softmax", "varshift"):
            pick = "nl"
        if special and kind == "decode":
            b.add(_bad_instr(rng, cfg), deps=False)
            break
        if pick == "load":
            acc = bool(rng.integers(2))
            eb = 4 if acc else int(rng.choice([1, 2]))
            lines = r(1, 9)
            stride = int(rng.choice([d * eb, 0, 2 * d * eb]))
            addr = IN + r(0, IN_BYTES // 2)
            if special:
                addr = int(rng.choice([MEM_BYTES - r(1, 64), MEM_BYTES + r(0, 1 << 20), (1 << 32) - 64]))
            ins = Instr.make(Opcode.LOAD, dst=int(acc), local=r(0, ROWS - lines), lines=lines, mem_addr=addr,
                             stride=stride, elem_bytes=eb)
        elif pick == "store":
            acc = bool(rng.integers(2))
            eb = 4 if acc else 1
            lines = r(1, 9)
            addr = OUT + int(next(slots)) * SLOT
            if special:
                addr = int(rng.choice([MEM_BYTES - r(1, 64), MEM_BYTES + r(0, 1 << 20)]))
            ins = Instr.make(Opcode.STORE, src=int(acc), local=r(0, ROWS - lines), lines=lines, mem_addr=addr,
                             stride=d * eb, elem_bytes=eb)
        elif pick == "matmul":
            rows, k, blocks = r(1, 9), r(1, 2 * d + 1), r(1, 3)
            ins = Instr.make(Opcode.MATMUL, a_addr=r(0, ROWS // 2), b_addr=r(0, ROWS // 2), c_addr=r(0, ROWS // 2),
                             rows=rows, k=k, cols=r(1, d + 1), accumulate=r(0, 2), blocks=blocks, b_stride=r(0, 2 * d),
                             c_stride=r(0, 2 * rows + 1))
        elif pick == "config":
            op = LaneOp(int(rng.choice([int(o) for o in OPS])))
            lane_addr, cols_addr = where[op]
            if special:
                ins = Instr.make(Opcode.CONFIG, kind=0, mem_addr=MEM_BYTES + 64 * r(-1, 4))
            else:
                ins = Instr.make(Opcode.CONFIG, kind=0, mem_addr=lane_addr)
                lane_op = op
        else:
            op = LaneOp(int(rng.choice([int(o) for o in OPS])))
            if special and kind == "lanes":
                op = LaneOp(int(rng.choice([int(o) for o in OPS if o != lane_op])))
            elif special and kind == "softmax":
                op = LaneOp.SOFTMAX
                b.add(Instr.make(Opcode.CONFIG, kind=0, mem_addr=where["tiny"][0]))
                lane_op = op
            elif special and kind == "varshift":
                op = LaneOp.LAYERNORM
            if op != lane_op and not (special and kind == "lanes"):
                lane_addr, cols_addr = where[op]
                b.add(Instr.make(Opcode.CONFIG, kind=0, mem_addr=lane_addr))
                if cols_addr is not None:
                    b.add(Instr.make(Opcode.CONFIG, kind=1, offset=0, count=2 * d, mem_addr=cols_addr))
                lane_op = op
            lines = r(1, 3)
            rows = r(1, 5)
            fields = dict(op=int(op), acc_base=r(0, ROWS // 2), rows=rows, lines=lines, row_stride=r(0, 3),
                          line_stride=r(1, 4), dst_base=r(0, ROWS // 2), dst_row_stride=lines,
                          dst_line_stride=1)
            if op == LaneOp.LAYERNORM:
                fields["var_shift"] = r(0, LN_VAR_SHIFT) if special and kind == "varshift" else LN_VAR_SHIFT
            if op == LaneOp.LAYERNORM and rng.integers(2):
                fields.update(residual=1, res_base=r(0, ROWS // 2), res_row_stride=lines, res_line_stride=1)
            ins = Instr.make(Opcode.NL, **fields)
        if counts[ins.queue] >= 12:
            continue
        counts[ins.queue] += 1
        if special and kind == "deadlock":
            b.dangling_pop(ins)
            break
        b.add(ins)
    prog = _finish(b, seg, cfg)
    return Case(seed, index, kind, seg, prog)


def transfer_case(seed, cfg=CONFIG):
    """A program that uses every kind of bus transfer (fetch, CONFIG reads, LOAD and STORE bursts, to the
    scratchpad and the accumulator), and for each kind a byte range of one of its transfers: ``(case, regions)``,
    regions ``{kind: (lo, hi, reads, writes)}`` (beat-aligned) to inject a fault on."""
    rng = np.random.default_rng([seed, 1 << 20])
    d, beat = cfg.dim, cfg.bus_width // 8
    where, seg, b = _start(rng, cfg)
    lane, cols = where[LaneOp.REQUANT]
    rows = 8
    b.add(Instr.make(Opcode.LOAD, dst=0, local=0, lines=rows, mem_addr=IN, stride=d, elem_bytes=1))
    b.add(Instr.make(Opcode.LOAD, dst=0, local=rows, lines=d, mem_addr=IN + 0x100, stride=d, elem_bytes=1))
    b.add(Instr.make(Opcode.LOAD, dst=1, local=16, lines=rows, mem_addr=IN + 0x200, stride=4 * d, elem_bytes=4))
    b.add(Instr.make(Opcode.CONFIG, kind=0, mem_addr=lane))
    b.add(Instr.make(Opcode.CONFIG, kind=1, offset=0, count=2 * d, mem_addr=cols))
    b.add(Instr.make(Opcode.MATMUL, a_addr=0, b_addr=rows, c_addr=16, rows=rows, k=d, cols=d, accumulate=1,
                     blocks=1, b_stride=0, c_stride=0))
    b.add(Instr.make(Opcode.NL, op=int(LaneOp.REQUANT), acc_base=16, rows=rows, lines=1, row_stride=1,
                     line_stride=1, dst_base=24, dst_row_stride=1, dst_line_stride=1))
    b.add(Instr.make(Opcode.STORE, src=0, local=24, lines=rows, mem_addr=OUT, stride=d, elem_bytes=1))
    b.add(Instr.make(Opcode.STORE, src=1, local=16, lines=rows, mem_addr=OUT + SLOT, stride=4 * d, elem_bytes=4))
    b.add(Instr.make(Opcode.LOAD, dst=0, local=32, lines=4, mem_addr=IN + 0x300, stride=d, elem_bytes=1))
    b.add(Instr.make(Opcode.STORE, src=0, local=32, lines=4, mem_addr=OUT + 2 * SLOT, stride=d, elem_bytes=1))
    prog = _finish(b, seg, cfg)
    mm = next(i for i, x in enumerate(prog) if x.op == Opcode.MATMUL)
    regions = {"fetch": (PROG + mm * INSTR_BYTES, PROG + (mm + 1) * INSTR_BYTES, True, False),
               "config": (lane, lane + nlops.LANE_BLOCK_BYTES, True, False),
               "load": (IN + 0x200 + 2 * beat, IN + 0x200 + 4 * beat, True, False),
               "store": (OUT + SLOT, OUT + SLOT + 4 * d * rows, False, True)}
    return Case(seed, -1, "transfers", seg, prog), regions


def long_case(cfg=CONFIG, seed=0):
    """A valid program of long instructions, one after the other: LOADs of 512 scratchpad rows and of the whole
    accumulator, a 4-block MATMUL of 64 rows, an NL over 128 rows, STOREs of 256 rows and 256 lines."""
    rng = np.random.default_rng([seed, 2 << 20])
    d = cfg.dim
    where, seg, b = _start(rng, cfg)
    lane, cols = where[LaneOp.REQUANT]
    rows, k, blocks = 64, 8 * d, 4
    kb = k // d
    b.add(Instr.make(Opcode.LOAD, dst=0, local=0, lines=kb * rows, mem_addr=IN, stride=d, elem_bytes=1))
    b.add(Instr.make(Opcode.LOAD, dst=0, local=kb * rows, lines=k * blocks, mem_addr=IN + 0x800, stride=d,
                     elem_bytes=1))
    b.add(Instr.make(Opcode.LOAD, dst=1, local=0, lines=rows * blocks, mem_addr=IN + 0x1000, stride=0,
                     elem_bytes=4))
    b.add(Instr.make(Opcode.CONFIG, kind=0, mem_addr=lane))
    b.add(Instr.make(Opcode.CONFIG, kind=1, offset=0, count=2 * d, mem_addr=cols))
    b.add(Instr.make(Opcode.MATMUL, a_addr=0, b_addr=kb * rows, c_addr=0, rows=rows, k=k, cols=d, accumulate=1,
                     blocks=blocks, b_stride=k, c_stride=rows))
    half = rows * blocks // 2
    out = kb * rows + k * blocks
    b.add(Instr.make(Opcode.NL, op=int(LaneOp.REQUANT), acc_base=0, rows=half, lines=2, row_stride=1,
                     line_stride=half, dst_base=out, dst_row_stride=2, dst_line_stride=1))
    b.add(Instr.make(Opcode.STORE, src=0, local=out, lines=2 * half, mem_addr=OUT, stride=d, elem_bytes=1))
    b.add(Instr.make(Opcode.STORE, src=1, local=0, lines=rows * blocks, mem_addr=OUT + 0x1000, stride=4 * d,
                     elem_bytes=4))
    prog = _finish(b, seg, cfg)
    return Case(seed, -2, "long", seg, prog)


def _bad_instr(rng, cfg):
    """An instruction the decoder refuses: an illegal opcode, reserved bits, or one of the decode checks."""
    S, A, d = cfg.spad_rows, cfg.acc_rows, cfg.dim
    bad = [
        Instr.make(Opcode.LOAD, dst=0, lines=0, elem_bytes=1),
        Instr.make(Opcode.LOAD, dst=0, lines=1, elem_bytes=4),
        Instr.make(Opcode.LOAD, dst=1, local=A - 1, lines=2, elem_bytes=4),
        Instr.make(Opcode.STORE, src=0, local=S - 1, lines=2, elem_bytes=1),
        Instr.make(Opcode.CONFIG, kind=2),
        Instr.make(Opcode.CONFIG, kind=1, offset=cfg.col_entries - 3, count=4),
        Instr.make(Opcode.NL, op=1, rows=1, lines=cfg.col_entries // d + 1),
        Instr.make(Opcode.MATMUL, rows=1, k=1, blocks=1, cols=d + 1),
        Instr.make(Opcode.MATMUL, b_addr=S - 2, rows=1, k=4, blocks=1, cols=1),
        Instr.make(Opcode.MATMUL, c_addr=A - 1, rows=2, k=1, blocks=1, cols=1),
        Instr.make(Opcode.MATMUL, rows=0, k=1, blocks=1, cols=1),
        Instr.make(Opcode.NL, op=2, rows=1, lines=1),
        Instr.make(Opcode.NL, rows=1, lines=MAX_ROW // d + 1),
        Instr.make(Opcode.NL, rows=1, lines=2, transpose=1),
        Instr.make(Opcode.NL, acc_base=A - 1, rows=2, lines=1, row_stride=1),
        Instr.make(Opcode.NL, rows=2, lines=1, dst_base=S - 1, dst_row_stride=1),
        Instr.make(Opcode.NL, op=0, rows=1, lines=1, band=1),
    ]
    choice = int(rng.integers(len(bad) + 2))
    if choice == len(bad):
        return _RawWord(int(rng.choice([0x7F, 0x06, 0xFF])))
    if choice == len(bad) + 1:
        return _RawWord((1 << 255) | int(Opcode.HALT))
    return bad[choice]


class _RawWord:
    """A word that is no instruction (an illegal opcode, reserved bits)."""
    queue, op = None, None

    def __init__(self, word):
        self.word = word


def _word(x):
    return x.word if isinstance(x, _RawWord) else encode(x)


def cost(ins, cfg):
    """A generous bound on the cycles of one instruction run alone."""
    if not isinstance(ins, Instr) or ins.op == Opcode.HALT:
        return 64
    f = dict(ins.fields)
    if ins.op in (Opcode.LOAD, Opcode.STORE):
        return 128 + f["lines"] * (2 + cfg.dim * f["elem_bytes"] * 8 // cfg.bus_width)
    if ins.op == Opcode.CONFIG:
        return 128 + (f["count"] if f["kind"] else 4) * 2
    if ins.op == Opcode.MATMUL:
        return 128 + f["blocks"] * (f["rows"] + f["k"] + 8 * cfg.dim)
    return 256 + f["rows"] * (f["lines"] * 4 + 64)


def watchdog(program, cfg=CONFIG):
    """Cycles within which a program must end: every instruction's :func:`_cost` run one after another, four
    times over, plus the fetch of the program."""
    return 4 * sum(cost(x, cfg) for x in program) + 2000


def expected(case, cfg=CONFIG):
    """``golden.queues.outcome`` of the case, after the reset program (on one Machine, as on the RTL)."""
    m = Machine(cfg)
    outcome(cfg, case.image(), RESET, machine=m)
    f = case.fault
    if f:
        m.bus_faults = ((f["lo"], f["hi"], f.get("reads", False), f.get("writes", False)),)
    return outcome(cfg, None, PROG, machine=m)


def check(case, result, cfg=CONFIG):
    """Problems (strings) of an RTL result against the model: none when they agree."""
    from hw import csr
    if result.hung:
        return [f"no irq within the watchdog's {watchdog(case.program, cfg)} cycles"]
    out = case.outcome or expected(case, cfg)
    code = result.error_code if result.status == csr.STATUS_ERROR else 0
    info = result.error_info if code else 0
    want = [(c, i) for c, i, _ in out.errors]
    if result.status not in (csr.STATUS_DONE, csr.STATUS_ERROR):
        return [f"status {result.status:#x}"]
    status = out.status_for(code, info)
    if status is None:
        return [f"error (code {code}, info {info:#x}); the model allows {want or 'no error'}"]
    got = result.reads[OUT]
    init = case.segments[OUT]
    exp = bytearray(init)
    problems = []
    # a faulting STORE's own lines: its bursts outside the faulty range are written (the bus goes on), the others
    # not; they are not compared
    for c, i, k in out.errors:
        if (c, i) == (code, info) and k is not None and k >= 0 and out.instrs[k].op == Opcode.STORE:
            f = dict(out.instrs[k].fields)
            n = cfg.dim * f["elem_bytes"]
            for a in (f["mem_addr"] + r * f["stride"] - OUT for r in range(f["lines"])):
                if 0 <= a < OUT_BYTES:
                    exp[a:a + n] = got[a:a + n]
    for j, s in status.items():
        lines = [(a - OUT, v) for a, v in out.writes.get(j, []) if OUT <= a < OUT + OUT_BYTES]
        if s == "must":
            for o, v in lines:
                exp[o:o + len(v)] = v
        elif s == "maybe":
            new = all(got[o:o + len(v)] == v for o, v in lines)
            old = all(got[o:o + len(v)] == init[o:o + len(v)] for o, v in lines)
            if not (new or old):
                problems.append(f"STORE {j} (may have run) wrote part of its lines, or other bytes")
            for o, v in lines:
                exp[o:o + len(v)] = got[o:o + len(v)]
    if bytes(exp) != got:
        first = next(i for i in range(len(got)) if got[i] != exp[i])
        problems.append(f"memory differs from the model at 0x{OUT + first:x}: {got[first]:#04x} != {exp[first]:#04x}")
    return problems


def jobs(cases, cfg=CONFIG, stall=0.0):
    """The two jobs of each case (sim.system.Job): the reset program on the case's image, then the program."""
    from sim.system import Job
    out = []
    for c in cases:
        out.append(Job(c.segments, RESET, max_cycles=watchdog(reset_program(cfg), cfg) + 8 * cfg.spad_rows))
        out.append(Job({}, PROG, ((OUT, OUT_BYTES),), fault=c.fault, stall=stall,
                       max_cycles=watchdog(c.program, cfg)))
    return out


def run(seed, count, cfg=CONFIG, stall=0.0, progress=print, save=True, indices=None):
    """Run ``count`` cases of ``seed`` (or the cases ``indices``) on the RTL (one launch); returns
    [(case, problems)] of the failing ones (saved under :data:`REGRESSIONS` with ``save``)."""
    from sim.system import run_programs
    cases = [generate(seed, i, cfg) for i in (range(count) if indices is None else indices)]
    results = run_programs(cfg, jobs(cases, cfg, stall), progress=progress)
    failed = []
    for i, c in enumerate(cases):
        if 2 * i + 1 >= len(results):
            failed.append((c, ["not run: an earlier program left the accelerator stuck"]))
            continue
        reset, res = results[2 * i], results[2 * i + 1]
        problems = ([] if reset.done else [f"reset program: status {reset.status:#x} code {reset.error_code}"])
        problems += check(c, res, cfg)
        if problems:
            failed.append((c, problems))
            if save:
                REGRESSIONS.mkdir(exist_ok=True)
                path = REGRESSIONS / f"{seed}-{c.index}.json"
                path.write_text(json.dumps(saved(c, cfg, stall, problems)) + "\n")
    return failed


def saved(case, cfg, stall, problems):
    """A failing case as JSON data: where it came from, what went wrong and its memory image (each segment
    zlib-compressed, base64), which :func:`from_saved` runs again whatever the generator has become."""
    image = {f"{a:#x}": base64.b64encode(zlib.compress(bytes(b), 9)).decode() for a, b in case.segments.items()}
    return {"seed": case.seed, "index": case.index, "kind": case.kind, "stall": stall, "dim": cfg.dim,
            "problems": problems, "image": image}


def from_saved(data, cfg):
    """The :class:`Case` of :func:`saved`'s ``data`` (the program decoded from the image's program segment, which
    ends with its HALT; a word the decoder refuses is kept as it is)."""
    seg = {int(a, 16): zlib.decompress(base64.b64decode(b)) for a, b in data["image"].items()}
    program = []
    for k in range(0, len(seg[PROG]), INSTR_BYTES):
        word = int.from_bytes(seg[PROG][k:k + INSTR_BYTES], "little")
        try:
            program.append(decode(word))
        except ValueError:
            program.append(_RawWord(word))
    case = Case(data["seed"], data["index"], data["kind"], seg, program)
    case.outcome = expected(case, cfg)
    return case


def summary(cases_failed, count):
    kinds = {}
    for c, _ in cases_failed:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    return f"{count - len(cases_failed)}/{count} programs agree with the model" + \
        (f"; failing by kind: {kinds}" if kinds else "")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.fuzz", description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="programs to run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stall", type=float, default=0.1, help="AXI stall probability per channel and cycle")
    ap.add_argument("--batch", type=int, default=500, help="programs per simulator launch")
    ap.add_argument("--dim", type=int, default=CONFIG.dim, help="the array size of the accelerator fuzzed")
    args = ap.parse_args(argv)
    if args.n < 1 or args.batch < 1:
        ap.error(f"n and --batch must be >= 1, not {args.n} and {args.batch}")
    if not 0 <= args.stall < 1:
        ap.error(f"--stall must be a probability in [0, 1), not {args.stall}")
    try:
        cfg = CONFIG.replace(dim=args.dim)
    except ValueError as e:
        ap.error(str(e))
    failed, done = [], 0
    while done < args.n:
        k = min(args.batch, args.n - done)
        failed += run(args.seed + done, k, cfg, stall=args.stall, progress=lambda msg: None)
        done += k
        print(f"{done}/{args.n} programs, {len(failed)} disagreements", flush=True)
    for c, p in failed:
        print(f"seed {c.seed} case {c.index} ({c.kind}): {'; '.join(p)}")
    hangs = sum(any(p.startswith("no irq") for p in problems) for _, problems in failed)
    print(f"{summary(failed, args.n)}; {hangs} hangs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
