"""Nonlinear-op commands: op codes, register widths, and encoders from golden/ constants (plain Python).

The activation lanes and the normalization unit receive their constants in commands; the numbers are the ones
golden/ computed at quantization time (``golden.gelu.GeluConstants`` and friends), re-expressed as register
fields here. An encoder checks that every value fits its field and raises ``ValueError`` naming it otherwise,
so nothing is truncated on the way to the hardware.

A lane computes, per element, four stages (see ``hw.lanes``)::

    U1  g = clamp(round_shift(x * M1[c] + y * mb, s1), lo1, hi1)  GELU's input requantization; LayerNorm's
                                                                  residual add (y: the scratchpad operand)
    U2  op-specific integer polynomial / normalization            GELU erf and g*(erf+1), exp, LN normalize
    U3  v = clamp(round_shift(u * M3 + B3, s3), lo3, hi3)         requantization (M3/B3 per column or scalar)
    U4  p = clamp(round_shift(v * f, 24), 0, 255)                 softmax's 1/sum, per row

and bypasses the stages an op does not use.
"""
from dataclasses import dataclass
import enum

import numpy as np

from .layernorm import MAX_N, RECIP_BITS as LN_RECIP_BITS, XS_BITS, Z_BITS, LayerNormConstants
from .numerics import MAX_SHIFT, Dyadic, int_range
from .gelu import ERF_BITS
from .softmax import (CLAMP_Q, EXP_BITS, LUT_INV_MAX, LUT_SHIFT, LUT_TH, LUT_TL, MIN_EXP_SUM,
                      OUT_BITS as PROB_BITS, RECIP_BITS as SOFTMAX_RECIP_BITS, band_keep)

__all__ = ["band_mask", "LaneOp", "NL_OPS", "NormMode", "PASSES", "LANE_LATENCY", "reduce_latency", "READ_TO_LANES",
           "DERIVE_CYCLES",
           "FIELDS", "COL_FIELDS", "MAX_GELU_IN_BITS", "U1_BITS", "LN_F_OFFSET", "lane_intervals",
           "lane_widths", "signed_width", "LaneConsts", "ColConsts", "requant_consts", "gelu_consts",
           "exp_consts", "softmax_consts", "layernorm_consts", "clip_range", "LANE_BLOCK_BYTES", "COL_ENTRY_BYTES",
           "pack_lane_consts", "unpack_lane_consts", "pack_col_entries", "unpack_col_entries"]


class LaneOp(enum.IntEnum):
    REQUANT = 0     # U3 only: requantize / identity / ReLU (by the clip range)
    GELU = 1        # U1, U2 (erf), U3
    EXP = 2         # U2 (exp), U3 (2**-q merged into the shift): 16-bit unsigned exps, for the sum pass
    SOFTMAX = 3     # EXP, then U4 with the row's reciprocal
    LAYERNORM = 4   # U1 (identity or residual add), U2 ((g - mean) * f >> k), U3 (affine: gamma, beta)
    RESIDUAL = 5    # U1 only: the statistics pass of a LayerNorm over a residual sum


#: The lane ops an NL instruction may name (EXP and RESIDUAL are passes inside SOFTMAX and LAYERNORM).
NL_OPS = (LaneOp.REQUANT, LaneOp.GELU, LaneOp.SOFTMAX, LaneOp.LAYERNORM)


class NormMode(enum.IntEnum):
    """What the normalization unit derives per row."""
    MAX = 0       # the row max (pre-shifted) -> a
    SUM = 1       # the sum of exps -> f = floor(2**32 / sum)
    STATS = 2     # LayerNorm statistics -> mean (a), r, k, f


#: Passes over the rows per op: (normalization mode, or None for the output pass; lane op override).
PASSES = {
    LaneOp.SOFTMAX: ((NormMode.MAX, None), (NormMode.SUM, LaneOp.EXP), (None, None)),
    LaneOp.LAYERNORM: ((NormMode.STATS, LaneOp.RESIDUAL), (None, None)),
    LaneOp.GELU: ((None, None),),
    LaneOp.REQUANT: ((None, None),),
}

# ---- timing of the hardware (hw.lanes, hw.norm, hw.nonlinear); golden.cycles builds its model from these ----
#: Registered lane stages from an accepted beat to the output register (``hw.lanes``).
LANE_LATENCY = 15
def reduce_latency(n):
    """Reducer stages (``hw.norm``) from a row's last beat of ``n`` values to its record: the beat and its shifted
    values, the beat's reduction trees (``max(1, ceil(log2 n))`` registered levels), the running sums, the products
    ``L*Q`` and ``T**2``, ``D``."""
    return max(1, (n - 1).bit_length()) + 4
#: Pass start -> first beat accepted by the lanes or the reducer (read command 1, accumulator read 2, line
#: holder 1).
READ_TO_LANES = 4
N_BITS = MAX_N.bit_length()                 # row length L <= 4096: 13 bits
RAD_BITS = 2 * N_BITS + 2 * (XS_BITS - 1)   # D = L*Q - T**2 < L**2 * 2**30: 56 bits
SQRT_ITERS = RAD_BITS // 2                  # 28 result bits
QUOT_BITS = 20                              # reciprocal quotients: f <= 2**18 (LN), < 2**19 (softmax)
S_BITS = 32 + N_BITS + 1                    # sum of up to 4096 acc_width (32-bit) values, signed
STEPS = 2                                   # iterations per cycle of every recurrence
DIV_CYCLES = -(-S_BITS // STEPS)            # the mean's division, hidden under sqrt + reciprocal
SQRT_CYCLES = SQRT_ITERS // STEPS
RECIP_CYCLES = QUOT_BITS // STEPS
#: Cycles from a derive engine's start to its result; the engine takes a new row in the result cycle. LayerNorm:
#: start, the square root, the root's bit length (a registered leading-one tree), the reciprocal's set-up, the
#: reciprocal; softmax: start, the reciprocal.
DERIVE_CYCLES = {NormMode.STATS: 1 + SQRT_CYCLES + 2 + RECIP_CYCLES, NormMode.SUM: 1 + RECIP_CYCLES}
assert DIV_CYCLES <= SQRT_CYCLES + 2 + RECIP_CYCLES

#: Widest GELU input the lanes take: U1's result is clipped to this range for GELU (``|g| <= 2**15`` keeps
#: ``t = g * (erf + one)`` within 34 bits).
MAX_GELU_IN_BITS = 16
#: U1's clip range (``lo1``, ``hi1``): LayerNorm inputs (residual sums) up to 24 bits, GELU inputs.
U1_BITS = 24
#: Scalar command fields: name -> (width, signed). The widths bound the lanes' datapath (:func:`lane_widths`).
FIELDS = {
    "op": (3, False),
    "s1": (6, False), "lo1": (U1_BITS, True), "hi1": (U1_BITS, True),
    "gelu_b": (18, True), "gelu_c": (36, True), "erf_shift": (6, False), "gelu_one": (ERF_BITS + 1, True),
    "pre_shift": (7, True), "x0": (16, True), "exp_b": (17, True), "exp_c": (32, True),
    "m3": (16, True), "s3": (6, False), "lo3": (33, True), "hi3": (33, True), "col_mult": (1, False),
    "mb": (16, True), "exp_lut": (1, False),
}
#: Per-column table fields (one entry per output channel): U1's multiplier, U3's multiplier and offset.
COL_FIELDS = {"m1": (16, True), "m3": (16, True), "b": (50, True)}
#: U4 (softmax) is fixed: multiply by the row's reciprocal f, shift by 24, clip to uint8.
SOFTMAX_SHIFT = SOFTMAX_RECIP_BITS - PROB_BITS


def band_mask(rows, lines, dim, q_base, k_base, window, cls_line):
    """The scores an NL SOFTMAX with ``band`` keeps, (rows, lines * dim) bool (golden.softmax.band_keep's rule):
    row ``r`` is query ``q_base + r``; line ``l`` holds keys ``k_base + (l - cls_line) * dim + e`` (``e < dim``),
    but with ``cls_line`` line 0 holds keys ``0 .. dim - 1`` ([CLS]'s block, which every query keeps key 0 of)."""
    band = np.arange(lines) - cls_line
    first = np.where(band < 0, 0, k_base + band * dim)
    keys = (first[:, None] + np.arange(dim)[None, :]).ravel()
    return band_keep(q_base + np.arange(rows)[:, None], keys[None, :], window)


def _hull(*intervals):
    return min(i[0] for i in intervals), max(i[1] for i in intervals)


def _mul(a, b):
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


def _add(*intervals):
    return sum(i[0] for i in intervals), sum(i[1] for i in intervals)


def signed_width(lo, hi):
    """Smallest signed width whose range holds ``lo..hi``."""
    lo, hi = int(lo), int(hi)
    return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1


#: LayerNorm's reciprocal ``f`` lies in ``(2**17, 2**18]`` (golden.layernorm), so ``f - LN_F_OFFSET`` fits 17 bits
#: unsigned: the lanes multiply by it and add ``(g - mean) * LN_F_OFFSET`` as a shift and an add.
LN_F_OFFSET = (1 << LN_RECIP_BITS) + 1


def lane_intervals(acc_width, input_width, exp_impl="poly"):
    """Ranges ``(lo, hi)`` of the activation lanes' operands and intermediates (``hw.lanes`` builds each at
    :func:`lane_widths`), from the field ranges and the bounds golden/ proves:

    ========  =====================================================================================
    u1        ``x * m1 + y * mb``: ``x`` acc_width, ``y`` input_width, the 16-bit ``m1``, ``mb`` fields
    g         U1's clip to ``lo1..hi1`` (``U1_BITS`` fields); GELU's ``g`` to ``MAX_GELU_IN_BITS``
    s2_a      GELU's ``a = min(|g|, -b) + b`` in ``[b, 0]``; LayerNorm's ``g - mean`` (the mean of ``g`` values
              lies in their range); exp's ``r + b`` (``r`` in ``(x0, 0]``)
    s2_b      GELU's ``a``; LayerNorm's ``f - LN_F_OFFSET`` (``f`` in ``(2**17, 2**18]``); exp's ``r``
    poly      GELU's ``a*a + c``; LayerNorm's ``(g - mean) * f``; exp's ``(r + b) * r + c``
    erf_one   ``erf + one``: ``erf`` saturated to ``ERF_BITS + 1`` bits (golden.gelu), ``one`` its field
    u3_a      U3's operand: ``x`` (REQUANT), LayerNorm's ``z`` (``Z_BITS``, golden.layernorm), exp's
              polynomial, GELU's ``g``
    u3_b      U3's multiplier ``m3`` (field or column) or GELU's ``erf + one``
    ========  =====================================================================================

    With ``exp_impl="lut"`` (golden.softmax.i_exp_lut) the exp uses the same operands differently: S2's
    ``s2_a`` is ``exp_b = -inv`` (the field), ``s2_b`` is ``r``, ``poly`` is ``-r * inv + exp_c``
    (``exp_c = lut_c``); U3's ``u3_a`` is ``TH[hi]``, ``u3_b`` ``TL[lo]`` (both in ``[0, 2**15]``), so every
    interval below also holds the LUT path's values: :func:`lane_intervals` takes their hull with ``exp_impl``.

    ========  =====================================================================================
    u3        ``u3_a * u3_b + b`` (the 50-bit column offset)
    t         GELU's ``g * (erf + one)``
    m4_a      the last multiplier's operand: GELU's ``t`` or softmax's row reciprocal ``f = floor(2**32 / sum)``,
              ``sum >= MIN_EXP_SUM``
    m4_b      GELU's ``m3`` or softmax's exp, 16 bits unsigned
    m4        ``m4_a * m4_b``
    ========  =====================================================================================
    """
    field = lambda name: int_range(*FIELDS[name])  # noqa: E731
    x, y = int_range(acc_width), int_range(input_width)
    m1, m3c, b = (int_range(*COL_FIELDS[n]) for n in ("m1", "m3", "b"))
    r = (field("x0")[0] + 1, 0)
    iv = {"u1": _add(_mul(x, m1), _mul(y, field("mb")))}
    iv["g"] = field("lo1")
    g_gelu = int_range(MAX_GELU_IN_BITS)
    aa = (field("gelu_b")[0], 0)
    dl = (iv["g"][0] - iv["g"][1], iv["g"][1] - iv["g"][0])
    fp = (0, (1 << LN_RECIP_BITS) - 1)
    reb = _add(r, field("exp_b"))
    iv["s2_a"] = _hull(aa, dl, reb)
    iv["s2_b"] = _hull(aa, fp, r)
    exp_z = _add(_mul(reb, r), field("exp_c"))
    iv["poly"] = _hull(_add(_mul(aa, aa), field("gelu_c")), _add(_mul(dl, fp), _mul(dl, (LN_F_OFFSET, LN_F_OFFSET))),
                       exp_z)
    tables = []                 # the LUT exp's U3 operands TH, TL
    if exp_impl == "lut":
        lut_z = _add(_mul(field("exp_b"), r), field("exp_c"))
        iv["s2_a"] = _hull(iv["s2_a"], field("exp_b"))
        iv["poly"] = _hull(iv["poly"], lut_z)
        tables = [(min(LUT_TH + LUT_TL), max(LUT_TH + LUT_TL))]
    iv["erf_one"] = _add(int_range(ERF_BITS + 1), field("gelu_one"))
    iv["u3_a"] = _hull(x, int_range(Z_BITS), exp_z, g_gelu, *tables)
    iv["u3_b"] = _hull(m3c, field("m3"), iv["erf_one"], *tables)
    iv["u3"] = _add(_mul(iv["u3_a"], iv["u3_b"]), b)
    iv["t"] = _mul(g_gelu, iv["erf_one"])
    iv["m4_a"] = _hull(iv["t"], (0, (1 << SOFTMAX_RECIP_BITS) // MIN_EXP_SUM))
    iv["m4_b"] = _hull(field("m3"), (0, (1 << EXP_BITS) - 1))
    iv["m4"] = _mul(iv["m4_a"], iv["m4_b"])
    return iv


def lane_widths(acc_width, input_width, exp_impl="poly"):
    """Signed widths of :func:`lane_intervals`."""
    return {name: signed_width(*i) for name, i in lane_intervals(acc_width, input_width, exp_impl).items()}


def _check(name, value, width, signed):
    lo, hi = int_range(width, signed)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"lane constant {name}={value!r} does not fit its {width}-bit "
                         f"{'signed' if signed else 'unsigned'} field")
    return value


@dataclass(frozen=True)
class LaneConsts:
    """The scalar fields of one lane command (every field present; unused ones are 0)."""
    values: tuple

    @classmethod
    def make(cls, **kw):
        unknown = set(kw) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown lane constant(s) {sorted(unknown)}")
        vals = {n: _check(n, int(kw.get(n, 0)), *FIELDS[n]) for n in FIELDS}
        return cls(tuple(vals[n] for n in FIELDS))

    def as_dict(self):
        return dict(zip(FIELDS, self.values))

    def __getitem__(self, name):
        return self.as_dict()[name]


@dataclass(frozen=True)
class ColConsts:
    """Per-column constants (length = the op's row length): U1's multiplier ``m1``, U3's ``m3`` and offset ``b``."""
    m1: tuple
    m3: tuple
    b: tuple

    @classmethod
    def make(cls, m1=None, m3=None, b=None):
        cols = [None if v is None else tuple(int(x) for x in v) for v in (m1, m3, b)]
        n = max(len(v) for v in cols if v is not None)
        cols = [tuple(0 for _ in range(n)) if v is None else v for v in cols]
        if n == 0 or any(len(v) != n for v in cols):
            raise ValueError(f"per-column constants differ in length: {[len(v) for v in cols]}")
        for name, v in zip(COL_FIELDS, cols):
            for i, x in enumerate(v):
                _check(f"{name}[{i}]", x, *COL_FIELDS[name])
        return cls(*cols)

    def entries(self):
        return [dict(zip(COL_FIELDS, e)) for e in zip(self.m1, self.m3, self.b)]


def _columns(d, n):
    """``n`` per-column multipliers of a per-tensor or per-channel :class:`Dyadic`."""
    m = d.multiplier if isinstance(d.multiplier, tuple) else (d.multiplier,) * n
    if len(m) != n:
        raise ValueError(f"dyadic has {len(m)} channels, the op's rows have {n}")
    return m


def clip_range(bits, signed=True, relu=False):
    lo, hi = int_range(bits, signed)
    return (max(lo, 0) if relu else lo), hi


def requant_consts(d, n, bits, *, signed=True, relu=False):
    """Requantize accumulator values with dyadic ``d`` (per-tensor or per-channel) to ``bits``; ReLU optional.
    Identity is ``Dyadic(1, 0)`` with ``bits = acc_width``."""
    lo, hi = clip_range(bits, signed, relu)
    return (LaneConsts.make(op=LaneOp.REQUANT, s3=d.shift, lo3=lo, hi3=hi, col_mult=1),
            ColConsts.make(m3=_columns(d, n)))


def gelu_consts(gelu_in, gin_bits, k, n):
    """GELU of accumulator values: requantize with ``gelu_in`` (per-channel) to ``gin_bits``, then i-GELU ``k``."""
    if gin_bits != k.in_bits:
        raise ValueError(f"GELU input width {gin_bits} differs from its constants' {k.in_bits}")
    if gin_bits > MAX_GELU_IN_BITS:
        raise ValueError(f"GELU input width {gin_bits} exceeds the lanes' {MAX_GELU_IN_BITS} bits")
    lo1, hi1 = int_range(gin_bits)
    lo3, hi3 = int_range(k.out_bits)
    return (LaneConsts.make(op=LaneOp.GELU, s1=gelu_in.shift, lo1=lo1, hi1=hi1, gelu_b=k.b_int, gelu_c=k.c_int,
                            erf_shift=k.erf_shift, gelu_one=k.one, m3=k.out.multiplier, s3=k.out.shift,
                            lo3=lo3, hi3=hi3),
            ColConsts.make(m1=_columns(gelu_in, n)))


def exp_consts(k, op=LaneOp.EXP):
    """i-exp of (shifted scores - row max) with softmax constants ``k`` (``golden.softmax``). For
    ``k.impl == "lut"`` (``i_exp_lut``): ``exp_b = -lut_inv``, ``exp_c = lut_c``, ``erf_shift = lut_shift``,
    ``s3 = LUT_SHIFT``, ``m3 = 0`` and ``exp_lut = 1``."""
    if not -64 <= k.pre_shift < 64:
        raise ValueError(f"softmax pre_shift {k.pre_shift} does not fit its 7-bit field")
    if k.exp.shift + CLAMP_Q > MAX_SHIFT + CLAMP_Q:
        raise ValueError(f"exp shift {k.exp.shift} too large")
    if k.impl == "lut":
        if k.exp.shift != LUT_SHIFT or not 0 < k.lut_inv <= LUT_INV_MAX:
            raise ValueError(f"LUT exp constants shift={k.exp.shift}, inv={k.lut_inv}: want shift {LUT_SHIFT}, "
                             f"inv in 1..{LUT_INV_MAX}")
        return LaneConsts.make(op=op, pre_shift=k.pre_shift, x0=k.x0, exp_b=-k.lut_inv, exp_c=k.lut_c,
                               erf_shift=k.lut_shift, s3=LUT_SHIFT, lo3=0, hi3=(1 << EXP_BITS) - 1, exp_lut=1)
    return LaneConsts.make(op=op, pre_shift=k.pre_shift, x0=k.x0, exp_b=k.b_int, exp_c=k.c_int,
                           m3=k.exp.multiplier, s3=k.exp.shift, lo3=0, hi3=(1 << EXP_BITS) - 1)


def softmax_consts(k):
    return exp_consts(k, LaneOp.SOFTMAX)


def layernorm_consts(k: LayerNormConstants, residual=None):
    """LayerNorm ``k`` of accumulator rows, or (``residual``: ``golden.ops.ResidualConstants``) of the residual
    sum of accumulator rows and a scratchpad operand, computed in U1 in both passes."""
    lo, hi = int_range(k.out_bits)
    lo1, hi1 = int_range(k.in_bits)
    if residual is None:
        u1 = dict(s1=0, lo1=lo1, hi1=hi1, mb=0)
        m1 = (1,) * k.n
    else:
        if residual.out_bits != k.in_bits:
            raise ValueError(f"residual width {residual.out_bits} differs from LayerNorm's input {k.in_bits}")
        u1 = dict(s1=residual.a.shift, lo1=lo1, hi1=hi1, mb=residual.b.multiplier)
        m1 = _columns(residual.a, k.n)
    return (LaneConsts.make(op=LaneOp.LAYERNORM, s3=k.out.shift, lo3=lo, hi3=hi, col_mult=1, **u1),
            ColConsts.make(m1=m1, m3=_columns(k.out, k.n), b=k.offset))


# ---- memory images of the constants (CONFIG kind 0 / kind 1, docs/isa.md) -----------------------------------
#: Bytes of one lane-constant block (the fields of FIELDS packed in declaration order from bit 0).
LANE_BLOCK_BYTES = 64
#: Bytes of one column-table entry: m1 bits 15:0, m3 31:16, b 81:32 (signed), the rest zero.
COL_ENTRY_BYTES = 16


def _pack(values, fields, nbytes):
    word, pos = 0, 0
    for name, (width, signed) in fields.items():
        v = _check(name, int(values[name]), width, signed)
        word |= (v & ((1 << width) - 1)) << pos
        pos += width
    return word.to_bytes(nbytes, "little")


def _unpack(data, fields):
    word, pos, out = int.from_bytes(bytes(data), "little"), 0, {}
    for name, (width, signed) in fields.items():
        v = (word >> pos) & ((1 << width) - 1)
        out[name] = v - (1 << width) if signed and v >> (width - 1) else v
        pos += width
    if word >> pos:
        raise ValueError(f"reserved bits above bit {pos} set in a constants block (0x{word >> pos:x})")
    return out


def pack_lane_consts(consts):
    """The 64-byte CONFIG kind 0 block of a :class:`LaneConsts`."""
    return _pack(consts.as_dict(), FIELDS, LANE_BLOCK_BYTES)


def unpack_lane_consts(data):
    """Inverse of :func:`pack_lane_consts`: a :class:`LaneConsts` (``ValueError`` for a set reserved bit)."""
    if len(data) != LANE_BLOCK_BYTES:
        raise ValueError(f"a lane-constant block is {LANE_BLOCK_BYTES} bytes, not {len(data)}")
    return LaneConsts.make(**_unpack(data, FIELDS))


def pack_col_entries(cols):
    """CONFIG kind 1 bytes of a :class:`ColConsts`: one 16-byte entry per column."""
    return b"".join(_pack(e, COL_FIELDS, COL_ENTRY_BYTES) for e in cols.entries())


def unpack_col_entries(data):
    """Inverse of :func:`pack_col_entries`: a :class:`ColConsts`."""
    if len(data) % COL_ENTRY_BYTES or not data:
        raise ValueError(f"column entries are {COL_ENTRY_BYTES} bytes each, not {len(data)} bytes in all")
    es = [_unpack(data[i:i + COL_ENTRY_BYTES], COL_FIELDS) for i in range(0, len(data), COL_ENTRY_BYTES)]
    return ColConsts.make(**{n: [e[n] for e in es] for n in COL_FIELDS})
