"""Energy estimate of a program: action counts times energy per action (Accelergy's method).

:func:`count_actions` counts what each instruction makes the hardware do, from its fields and the ISA's semantics
(docs/isa.md; ``golden.machine`` executes the same fields), without running it:

- MATMUL (weight-stationary, ``golden.cycles``): per block and K block, ``min(dim, k left)`` weight rows read from
  the scratchpad (preload), ``rows`` activation rows read from the scratchpad, ``rows * dim * dim`` PE
  multiply-accumulates (every PE of the mesh works on each streamed row, padding included), and ``rows``
  accumulator lines read and written (accumulate-on-write; the read is skipped when the block overwrites);
- NL (``golden.nlops.PASSES``): each pass reads the instruction's ``rows * lines`` accumulator lines; each value of
  a pass goes through that pass's lane op (:data:`LANE_OPS` counts its multiplies and adds, per value) and the
  normalization unit's reducer (:data:`REDUCE_OPS`); a LayerNorm's residual is read from the scratchpad in both
  passes; the output pass writes ``rows * lines`` scratchpad rows (``dim`` values each); per row, the derive step
  (isqrt and reciprocal recurrences, :data:`DERIVE_OPS`);
- LOAD / STORE: DRAM bytes (a stride-0 LOAD reads its line once) and the scratchpad rows or accumulator lines
  written / read; CONFIG: DRAM bytes (64 per lane-constant block, 16 per column entry); every instruction: its
  32 bytes fetched from DRAM.

:data:`TABLE` prices the actions. Every figure comes from one source, M. Horowitz, "Computing's energy problem
(and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V (its table of operation energies), scaled by rules
stated with it. Not counted: registers and pipeline flip-flops, clock tree, control, instruction decode and
leakage (the table has no figure for them); the result is the datapath's and the memories' dynamic energy.
"""
from dataclasses import dataclass, field
import math

from .isa import Opcode
from .nlops import PASSES, LaneOp, NormMode

__all__ = ["SOURCE", "TABLE", "LANE_OPS", "REDUCE_OPS", "DERIVE_OPS", "add_pj", "mult_pj", "sram_pj",
           "Actions", "count_actions", "energy"]

SOURCE = ("M. Horowitz, \"Computing's energy problem (and what we can do about it)\", ISSCC 2014, 45 nm, 0.9 V: "
          "integer add 8 bit 0.03 pJ, 32 bit 0.1 pJ; integer multiply 8 bit 0.2 pJ, 32 bit 3.1 pJ; 64-bit "
          "cache/SRAM read 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ; DRAM 1.3-2.6 nJ per 64-bit access")

#: The per-action figures and their scaling rules, each with its source.
TABLE = {
    "add_32b_pj": (0.1, "Horowitz ISSCC 2014: 32-bit integer add 0.1 pJ. Scaling: linear in the width (a ripple "
                        "of full adders); it predicts 0.025 pJ for 8 bits, the talk gives 0.03"),
    "mult_32x32_pj": (3.1, "Horowitz ISSCC 2014: 32-bit integer multiply 3.1 pJ. Scaling: with the product of "
                           "the operand widths (an array multiplier's partial products); it predicts 0.19 pJ for "
                           "8 x 8 bits, the talk gives 0.2"),
    "sram_64b_8kb_pj": (10.0, "Horowitz ISSCC 2014: 64-bit read of an 8 KB SRAM (cache) 10 pJ. Scaling: linear in "
                              "the bits accessed, and with the square root of the bank's capacity (wire length); "
                              "it predicts 20 pJ at 32 KB and 113 pJ at 1 MB, the talk gives 20 and 100. Writes are "
                              "priced as reads"),
    "dram_byte_pj": (1300.0 / 8, "Horowitz ISSCC 2014: DRAM 1.3-2.6 nJ per 64-bit access; the low end, per byte "
                                 "(162.5 pJ)"),
}


def add_pj(bits):
    """Energy of one ``bits``-bit integer add."""
    return TABLE["add_32b_pj"][0] * bits / 32


def mult_pj(a_bits, b_bits):
    """Energy of one ``a_bits`` x ``b_bits`` integer multiply."""
    return TABLE["mult_32x32_pj"][0] * a_bits * b_bits / (32 * 32)


def sram_pj(bits, bank_bytes):
    """Energy of reading (or writing) ``bits`` bits of an SRAM bank of ``bank_bytes`` bytes."""
    return TABLE["sram_64b_8kb_pj"][0] * bits / 64 * math.sqrt(bank_bytes / 8192)


#: Per value, the multiplies ``(a_bits, b_bits)`` and adds (bits) of each lane op, as golden/'s integer kernels
#: compute it (the same stages the lanes build, hw.lanes' U1..U4).
LANE_OPS = {
    # golden.numerics.requantize: multiply by the dyadic's 15-bit multiplier, add the rounding offset
    LaneOp.REQUANT: dict(mults=[(32, 16)], adds=[32]),
    # requantize to the GELU input, then golden.gelu.i_gelu: |x| clipped, (|x| + b)**2, * a, + c (erf), x * (1 + erf),
    # the output requantization
    LaneOp.GELU: dict(mults=[(32, 16), (17, 17), (32, 16), (16, 32), (32, 16)], adds=[32, 17, 32, 32, 32]),
    # golden.softmax.i_exp: range reduction z = floor(-x / ln2) (a multiply by the constant), p = x + z * ln2,
    # (p + b)**2, * a + c, and the 16-bit requantization merged with the 2**-z shift
    LaneOp.EXP: dict(mults=[(32, 16), (16, 32), (32, 32), (32, 16), (32, 16)], adds=[32, 32, 32, 32]),
    # EXP, then the row's reciprocal: exp * f >> s
    LaneOp.SOFTMAX: dict(mults=[(32, 16), (16, 32), (32, 32), (32, 16), (32, 16), (16, 20)],
                         adds=[32, 32, 32, 32, 32]),
    # the residual add (both operands requantized in one rounding: golden.ops.residual_add), (g - mean) * f >> k,
    # the affine gamma / beta requantization
    LaneOp.LAYERNORM: dict(mults=[(32, 16), (22, 16), (22, 20), (32, 16)], adds=[32, 32, 22, 32, 32]),
    # the statistics pass's residual add
    LaneOp.RESIDUAL: dict(mults=[(32, 16), (22, 16)], adds=[32, 32]),
}
#: Per value, the normalization unit's reducer: the row max (a compare), the sum of exps, the LayerNorm sums
#: (golden.layernorm: sum, shifted sum of squares).
REDUCE_OPS = {
    NormMode.MAX: dict(mults=[], adds=[32]),
    NormMode.SUM: dict(mults=[], adds=[45]),
    NormMode.STATS: dict(mults=[(22, 22)], adds=[45, 56]),
}
#: Per row, the derive step (golden.nlops.DERIVE_CYCLES): softmax's floor(2**32 / sum) (golden.isqrt.reciprocal,
#: 20 quotient bits); LayerNorm's D = n*Q - T**2, the 28-bit isqrt (golden.isqrt, 2 adds per result bit), its
#: reciprocal and the mean's division (46-bit quotient).
DERIVE_OPS = {
    NormMode.MAX: dict(mults=[], adds=[]),
    NormMode.SUM: dict(mults=[], adds=[45] * 20),
    NormMode.STATS: dict(mults=[(13, 45), (45, 45)], adds=[56] + [56] * 2 * 28 + [45] * 20 + [45] * 46),
}


@dataclass
class Actions:
    """Action counts of a program (see the module doc). ``lane`` / ``reduce`` / ``derive``: per op kind, the values
    (rows for ``derive``) that went through it."""
    pe_macs: int = 0                 # PE multiply-accumulates (dim * dim per streamed row)
    useful_macs: int = 0             # the MATMULs' rows * k * cols (golden.program_cycles.matmul_macs)
    spad_reads: int = 0              # scratchpad rows read (dim * input_width bits each)
    spad_writes: int = 0
    acc_reads: int = 0               # accumulator lines read (dim * acc_width bits each)
    acc_writes: int = 0
    dram_bytes: int = 0              # read and written, instruction fetch and CONFIG reads included
    nl_acc_reads: int = 0            # of acc_reads: by the nonlinear unit's passes
    nl_spad_reads: int = 0           # of spad_reads: LayerNorm residuals
    nl_spad_writes: int = 0          # of spad_writes: NL outputs
    lane: dict = field(default_factory=dict)
    reduce: dict = field(default_factory=dict)
    derive: dict = field(default_factory=dict)

    def __add__(self, other):
        out = Actions()
        for f in ("pe_macs", "useful_macs", "spad_reads", "spad_writes", "acc_reads", "acc_writes", "dram_bytes",
                  "nl_acc_reads", "nl_spad_reads", "nl_spad_writes"):
            setattr(out, f, getattr(self, f) + getattr(other, f))
        for f in ("lane", "reduce", "derive"):
            a, b = getattr(self, f), getattr(other, f)
            setattr(out, f, {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)})
        return out

    def scaled(self, k):
        """These counts times integer ``k`` (``k`` copies of a layer)."""
        out = Actions()
        for f, v in vars(self).items():
            setattr(out, f, {kk: vv * k for kk, vv in v.items()} if isinstance(v, dict) else v * k)
        return out

    def minus(self, other):
        return self + other.scaled(-1)

    def to_dict(self):
        d = {f: v for f, v in vars(self).items() if not isinstance(v, dict)}
        for f in ("lane", "reduce", "derive"):
            d[f] = {k.name if hasattr(k, "name") else str(k): v for k, v in sorted(getattr(self, f).items())}
        return d

    @classmethod
    def from_dict(cls, d):
        a = cls(**{k: v for k, v in d.items() if not isinstance(v, dict)})
        a.lane = {LaneOp[k]: v for k, v in d["lane"].items()}
        a.reduce = {NormMode[k]: v for k, v in d["reduce"].items()}
        a.derive = {NormMode[k]: v for k, v in d["derive"].items()}
        return a


def _bump(d, k, n):
    d[k] = d.get(k, 0) + n


def count_actions(instrs, config):
    """:class:`Actions` of a program (``golden.isa.Instr`` list) on ``config``."""
    a = Actions()
    dim = config.dim
    for ins in instrs:
        a.dram_bytes += 32                                  # the 256-bit instruction's fetch
        f = dict(ins.fields)
        if ins.op == Opcode.MATMUL:
            kb = -(-f["k"] // dim)
            for _ in range(f["blocks"]):
                a.spad_reads += f["k"] + kb * f["rows"]     # weight rows (preload), then the A rows per K block
                a.pe_macs += kb * f["rows"] * dim * dim
                a.acc_writes += kb * f["rows"]
                # the first K block overwrites unless the instruction accumulates; later ones add
                a.acc_reads += (kb - 1 + bool(f["accumulate"])) * f["rows"]
            a.useful_macs += f["rows"] * f["k"] * ((f["blocks"] - 1) * dim + f["cols"])
        elif ins.op == Opcode.NL:
            lines = f["rows"] * f["lines"]
            values = lines * dim
            for mode, lane_op in PASSES[LaneOp(f["op"])]:
                a.acc_reads += lines
                a.nl_acc_reads += lines
                op = LaneOp(f["op"]) if mode is None else lane_op
                if op is not None:
                    _bump(a.lane, op, values)
                if f["residual"]:
                    a.spad_reads += lines
                    a.nl_spad_reads += lines
                if mode is None:
                    a.spad_writes += lines
                    a.nl_spad_writes += lines
                else:
                    _bump(a.reduce, mode, values)
                    _bump(a.derive, mode, f["rows"])
        elif ins.op in (Opcode.LOAD, Opcode.STORE):
            acc = f["dst"] if ins.op == Opcode.LOAD else f["src"]
            eb = 4 if acc else f["elem_bytes"]
            line = dim * eb
            a.dram_bytes += line if (ins.op == Opcode.LOAD and f["stride"] == 0 and f["lines"] > 1) \
                else f["lines"] * line
            if ins.op == Opcode.LOAD:
                if acc:
                    a.acc_writes += f["lines"]
                else:
                    a.spad_writes += f["lines"]
            elif acc:
                a.acc_reads += f["lines"]
            else:
                a.spad_reads += f["lines"]
        elif ins.op == Opcode.CONFIG:
            a.dram_bytes += 64 if f["kind"] == 0 else 16 * f["count"]
    return a


def _ops_pj(ops):
    return sum(mult_pj(x, y) for x, y in ops["mults"]) + sum(add_pj(b) for b in ops["adds"])


def energy(actions, config):
    """Energy in pJ by component: ``array`` (PE MACs: an ``input_width`` x 8 multiply and an ``acc_width`` add),
    ``scratchpad``, ``accumulator`` (of which the nonlinear unit's reads and writes are in ``nonlinear_memory``),
    ``nonlinear`` (lanes, reducer and derive arithmetic), ``dram``; ``total``."""
    mac = mult_pj(config.input_width, config.weight_width) + add_pj(config.acc_width)
    spad = sram_pj(config.spad_row_bits, config.spad_kib * 1024 / config.spad_banks)
    acc = sram_pj(config.acc_row_bits, config.acc_kib * 1024 / config.acc_banks)
    nl = (sum(n * _ops_pj(LANE_OPS[op]) for op, n in actions.lane.items())
          + sum(n * _ops_pj(REDUCE_OPS[m]) for m, n in actions.reduce.items())
          + sum(n * _ops_pj(DERIVE_OPS[m]) for m, n in actions.derive.items()))
    e = {"array": actions.pe_macs * mac,
         "scratchpad": (actions.spad_reads + actions.spad_writes) * spad,
         "accumulator": (actions.acc_reads + actions.acc_writes) * acc,
         "nonlinear": nl,
         "nonlinear_memory": actions.nl_acc_reads * acc + (actions.nl_spad_reads + actions.nl_spad_writes) * spad,
         "dram": actions.dram_bytes * TABLE["dram_byte_pj"][0]}
    e["total"] = e["array"] + e["scratchpad"] + e["accumulator"] + e["nonlinear"] + e["dram"]
    return e
