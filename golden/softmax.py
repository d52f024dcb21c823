"""i-exp and i-softmax: I-BERT's integer-only softmax over the last axis, 8-bit unsigned output.

For scores ``x`` (int32 accumulator values at scale ``s``) each row goes through three passes, the same ones
the normalization unit makes over accumulator lines:

*max pass*
    ``xs = x >> pre_shift`` (floor; a negative ``pre_shift`` is a left shift); ``m = max(xs)``.
*exp + sum pass*
    ``d = max(xs - m, 30 * x0)`` with ``x0 = floor(-ln2 / s')`` (``s' = s * 2**pre_shift``);
    range reduction ``q = floor(d / x0)`` (0..30), ``r = d - x0 * q`` (``x0 < r <= 0``);
    polynomial ``z = (r + b_int) * r + c_int`` (scale ``A * s'**2``, I-BERT's
    ``0.35815147 * (r**2 + b r + c)``); the ``2**-q`` shift merged with the 16-bit requantization:
    ``e = sat_u16(round_shift(z * M, shift + q))`` at scale ``2**-EXP_FRAC``; ``sum = sum(e)``.
*normalize pass*
    ``f = floor(2**32 / sum)`` (integer reciprocal); ``p = sat_u8(round_shift(e * f, 24))`` at scale ``2**-8``.
    (I-BERT floors here; rounding halves the error and removes floor's bias of -L/2 on each row's sum.)

Notes
-----
- ``pre_shift`` brings ``|x0|`` into ``(2**(R_BITS-1), 2**R_BITS]`` whatever the accumulator scale, so ``r``
  fits 16 bits and ``z`` 32 bits, and the polynomial always works at the same resolution: finer scores are
  shifted right (their extra bits carry nothing softmax can use), coarser ones left (exactly).
- ``shift + q`` is applied as ``min(shift + q, 47)``: ``z < 2**32`` and ``|M| < 2**15``, so any shift >= 47
  gives 0 anyway.
- The largest element of a row has ``e ~= 2**15``. A row whose other elements all underflow has
  ``sum = e`` and ``p = 256``, which does not fit 8 bits: it saturates to 255 (the "can reach 256" case).
- ``impl="lut"`` (ReBERT's split-LUT exponent, :func:`i_exp_lut`) replaces the polynomial and ``M``: the same
  ``q`` and ``r``, then the fraction ``f = min(2**LUT_F - 1, (-r * inv + lut_c) >> lut_shift)`` (``-r / |x0|`` in
  ``LUT_F`` bits, ``inv = round(2**(lut_shift + LUT_F) / -x0)``), split ``f = hi * 2**LUT_L + lo`` and
  ``e = sat_u16(round_shift(TH[hi] * TL[lo], min(LUT_SHIFT + q, 47)))`` with the constant tables
  ``TH[i] = round(2**15 * 2**(-i / 2**LUT_H))``, ``TL[j] = round(2**15 * 2**(-j / 2**LUT_F))``: ``TH * TL`` is
  ``2**(-f / 2**LUT_F)`` at scale ``2**-30``, so the shift ``LUT_SHIFT = 30 - EXP_FRAC`` gives the poly path's
  scale ``2**-EXP_FRAC``. Since ``d = x0 * q + r``, ``e ~= 2**15 * 2**(d / |x0|) = 2**15 * exp(d * ln2 / |x0|)``,
  and ``ln2 / |x0|`` is ``s'`` to ``1 / |x0| < 2**-13`` relative, the same approximation the poly path's range
  reduction makes.
- Row sums: ``sum(e * f) / 2**24`` lies in ``(256 - sum/2**24, 256]`` and each rounding moves a term by at
  most 1/2, so ``256 - L/2 - ceil(sum / 2**24) - 1 <= sum(p) <= 256 + L/2`` for a row of length ``L`` (the -1 is
  the saturation of 256). Property tests check this bound; on real rows the sum is within a few units.
"""
from dataclasses import dataclass
import dataclasses
import math

import numpy as np

from .config import EXP_IMPLS, check_exp_impl
from .isqrt import reciprocal
from .numerics import MAX_SHIFT, Dyadic, check_int, round_shift, saturate

__all__ = ["band_keep", "EXP_BITS", "EXP_FRAC", "EXP_IMPLS", "OUT_BITS", "RECIP_BITS", "MIN_EXP_SUM",
           "SoftmaxConstants", "LUT_F", "LUT_H", "LUT_L", "LUT_SHIFT", "LUT_TH", "LUT_TL", "LUT_INV_MAX",
           "i_exp", "i_exp_lut", "i_softmax", "softmax_float", "window_mask"]

LN2 = 0.6931            # I-BERT's -x0
POLY_A = 0.35815147
POLY_B = 0.96963238 / POLY_A
POLY_C = 1.0 / POLY_A
CLAMP_Q = 30            # I-BERT's "const": exp underflows below 2**-30
R_BITS = 14
EXP_BITS = 16           # e is unsigned 16-bit
EXP_FRAC = 15           # e's scale is 2**-15 (1.0 -> 32768)
RECIP_BITS = 32         # f = floor(2**32 / sum)
OUT_BITS = 8            # p's scale is 2**-8
#: The smallest row sum of exps the hardware accepts (a row's max alone contributes ~2**15): below it the
#: reciprocal ``floor(2**32 / sum)`` would overflow the divider's quotient, so the normalization unit halts with
#: ``ErrorCode.NONLINEAR``, and the ISA model likewise.
MIN_EXP_SUM = 1 << 13
LUT_F = 12              # bits of the fraction f = -r / |x0|
LUT_H = 6               # f's high bits index TH
LUT_L = LUT_F - LUT_H   # f's low bits index TL
LUT_FRAC = 15           # TH, TL at scale 2**-15
LUT_SHIFT = 2 * LUT_FRAC - EXP_FRAC   # TH * TL (scale 2**-30) -> e (scale 2**-EXP_FRAC), before 2**-q
#: TH[hi] = 2**(-hi / 2**LUT_H), TL[lo] = 2**(-lo / 2**LUT_F), at scale 2**-LUT_FRAC (TH[0] = TL[0] = 2**15).
LUT_TH = tuple(round(2.0 ** LUT_FRAC * 2.0 ** (-i / 2 ** LUT_H)) for i in range(1 << LUT_H))
LUT_TL = tuple(round(2.0 ** LUT_FRAC * 2.0 ** (-j / 2 ** LUT_F)) for j in range(1 << LUT_L))
#: inv travels negated in the lanes' 17-bit signed ``exp_b`` field: ``-inv >= -2**16``.
LUT_INV_MAX = 1 << 16


@dataclass(frozen=True)
class SoftmaxConstants:
    """Constants of one i-softmax op, from the score scale, computed at quantization time.

    Members
    -------
    in_bits : int
        Signed width of the scores (the accumulator width).
    pre_shift : int
        Right shift (left if negative) of the scores before range reduction.
    x0, b_int, c_int : int
        ``floor(-ln2/s')``, ``floor(b/s')``, ``floor(c/s'**2)``.
    exp : Dyadic
        Maps ``z`` (scale ``A*s'**2``) to scale ``2**-EXP_FRAC``.
    impl : str
        The exp's implementation, one of ``EXP_IMPLS``: ``"poly"`` (:func:`i_exp`: ``b_int``, ``c_int``, ``exp``)
        or ``"lut"`` (:func:`i_exp_lut`: ``lut_inv``, ``lut_shift``, ``lut_c``; ``b_int = c_int = 0`` and
        ``exp = Dyadic(1, LUT_SHIFT)`` there, the tables' product's scale).
    lut_inv, lut_shift, lut_c : int
        ``lut_inv = round(2**(lut_shift + LUT_F) / -x0)`` with the largest ``lut_shift`` that keeps
        ``lut_inv <= LUT_INV_MAX``; ``lut_c`` is added before the shift (0: floor).
    """
    in_bits: int
    pre_shift: int
    x0: int
    b_int: int
    c_int: int
    exp: Dyadic
    impl: str = "poly"
    lut_inv: int = 0
    lut_shift: int = 0
    lut_c: int = 0

    def __post_init__(self):
        check_exp_impl(self.impl)

    @classmethod
    def from_scale(cls, s, in_bits=32, impl="poly"):
        if not s > 0:
            raise ValueError(f"softmax input scale must be positive, not {s!r}")
        x0_at = lambda p: math.floor(-LN2 / (s * 2.0 ** p))
        pre_shift = 0
        while x0_at(pre_shift) < -(1 << R_BITS):
            pre_shift += 1
        while x0_at(pre_shift - 1) >= -(1 << R_BITS):
            pre_shift -= 1
        s2 = s * 2.0 ** pre_shift
        x0 = math.floor(-LN2 / s2)
        b_int = math.floor(POLY_B / s2)
        c_int = math.floor(POLY_C / s2 ** 2)
        poly = cls(in_bits, pre_shift, x0, b_int, c_int, Dyadic.from_ratio(POLY_A * s2 ** 2 * 2.0 ** EXP_FRAC))
        return poly.for_impl(impl)

    def for_impl(self, impl):
        """These constants for the exp implementation ``impl`` (the LUT's depend on ``x0`` only; the
        polynomial's need the scale, so ``"poly"`` from ``"lut"`` constants is an error)."""
        check_exp_impl(impl)
        if impl == self.impl:
            return self
        if impl == "lut":
            return dataclasses.replace(self, impl="lut", b_int=0, c_int=0, exp=Dyadic(1, LUT_SHIFT),
                                       **lut_constants(self.x0))
        raise ValueError("poly exp constants need the score scale: build them with from_scale(s)")


def lut_constants(x0):
    """``lut_inv``, ``lut_shift``, ``lut_c`` for range-reduction constant ``x0 < 0``."""
    if not x0 < 0:
        raise ValueError(f"x0 must be negative, not {x0}")
    shift = 0
    while shift < 63 and round(2 ** (shift + 1 + LUT_F) / -x0) <= LUT_INV_MAX:
        shift += 1
    inv = round(2 ** (shift + LUT_F) / -x0)
    if not 0 < inv <= LUT_INV_MAX:
        raise ValueError(f"x0={x0} gives no LUT reciprocal in 1..{LUT_INV_MAX}")
    return dict(lut_inv=inv, lut_shift=shift, lut_c=0)


def i_exp(d, k):
    """Integer exp of non-positive ``d`` (pre-shifted scores minus the row max): uint16 values as int64."""
    d = np.maximum(np.asarray(d, dtype=np.int64), CLAMP_Q * k.x0)
    q = np.floor_divide(d, k.x0)
    r = d - k.x0 * q
    z = (r + k.b_int) * r + k.c_int
    e = round_shift(z * k.exp.m, np.minimum(k.exp.shift + q, MAX_SHIFT))
    return saturate(e, EXP_BITS, signed=False)


def lut_fraction(r, k):
    """:func:`i_exp_lut`'s fraction ``f = min(2**LUT_F - 1, (-r * lut_inv + lut_c) >> lut_shift)`` of
    ``r`` in ``(x0, 0]``: ``-r / |x0|`` in ``LUT_F`` bits."""
    return np.minimum((1 << LUT_F) - 1, np.right_shift(-np.asarray(r, dtype=np.int64) * k.lut_inv + k.lut_c,
                                                       k.lut_shift))


def i_exp_lut(d, k):
    """ReBERT's split-LUT exp of non-positive ``d`` (see the module notes): uint16 values as int64, at the poly
    path's scale ``2**-EXP_FRAC``."""
    d = np.maximum(np.asarray(d, dtype=np.int64), CLAMP_Q * k.x0)
    q = np.floor_divide(d, k.x0)
    r = d - k.x0 * q
    f = lut_fraction(r, k)
    th = np.asarray(LUT_TH, dtype=np.int64)[f >> LUT_L]
    tl = np.asarray(LUT_TL, dtype=np.int64)[f & ((1 << LUT_L) - 1)]
    e = round_shift(th * tl, np.minimum(k.exp.shift + q, MAX_SHIFT))
    return saturate(e, EXP_BITS, signed=False)


def _exp(d, k):
    return i_exp_lut(d, k) if k.impl == "lut" else i_exp(d, k)


def window_mask(tokens, window):
    """Keys each query attends to under ReBERT's windowed attention: a (tokens, tokens) bool array.

    Query ``i`` attends to the keys ``j`` with ``|i - j| <= window`` (its own token and ``window`` on each side)
    and to [CLS] (key 0): ``2 * window + 2`` keys inside the sequence, fewer where the band meets an edge (it is
    cut there, not wrapped or shifted). [CLS] as a query has only its band; [SEP] is an ordinary token. Every row
    keeps its own token. ``window`` None: every key (full attention).
    """
    if window is None:
        return np.ones((tokens, tokens), dtype=bool)
    i = np.arange(tokens)
    return band_keep(i[:, None], i[None, :], window)


def band_keep(queries, keys, window):
    """:func:`window_mask`'s rule for query and key indices (broadcast against each other): query ``i`` keeps key
    ``j`` when ``|i - j| <= window`` or ``j == 0``. The one definition the hardware's band mask follows
    (``golden.nlops.band_mask``)."""
    if not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f"window must be a non-negative integer or None, not {window!r}")
    q, k = np.asarray(queries), np.asarray(keys)
    return (np.abs(q - k) <= window) | (k == 0)


def i_softmax(x, k, dump=None, mask=None):
    """Integer softmax over the last axis of scores ``x``: unsigned 8-bit probabilities (scale 1/256).

    ``mask`` (bool, broadcast against ``x``; see :func:`window_mask`): the scores a row attends to. A masked
    score contributes exactly nothing: it takes no part in the row's max, its exp is 0 and so is its
    probability. ``dump``, a dict, receives the row max, the exps, their sums and the reciprocals.
    """
    x = check_int("softmax input", x, k.in_bits)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"softmax needs rows of at least one element, not shape {x.shape}")
    xs = np.right_shift(x, k.pre_shift) if k.pre_shift >= 0 else np.left_shift(x, -k.pre_shift)
    if mask is not None:
        mask = np.broadcast_to(mask, xs.shape)
        if not mask.any(axis=-1).all():
            raise ValueError("every softmax row must attend to at least one score")
        m = np.where(mask, xs, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
        e = np.where(mask, _exp(np.where(mask, xs - m, 0), k), 0)
    else:
        m = xs.max(axis=-1, keepdims=True)
        e = _exp(xs - m, k)
    total = e.sum(axis=-1, keepdims=True)
    f = reciprocal(total, RECIP_BITS)
    p = saturate(round_shift(e * f, RECIP_BITS - OUT_BITS), OUT_BITS, signed=False)
    if dump is not None:
        dump.update(max=m, exp=e, exp_sum=total, recip=f)
    return p


def softmax_float(x, axis=-1, mask=None):
    """Float softmax; ``mask`` as :func:`i_softmax`'s (masked scores get probability 0)."""
    x = np.asarray(x, dtype=np.float64)
    if mask is not None:
        x = np.where(np.broadcast_to(mask, x.shape), x, -np.inf)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
