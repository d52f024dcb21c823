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
- Row sums: ``sum(e * f) / 2**24`` lies in ``(256 - sum/2**24, 256]`` and each rounding moves a term by at
  most 1/2, so ``256 - L/2 - ceil(sum / 2**24) - 1 <= sum(p) <= 256 + L/2`` for a row of length ``L`` (the -1 is
  the saturation of 256). Property tests check this bound; on real rows the sum is within a few units.
"""
from dataclasses import dataclass
import math

import numpy as np

from .isqrt import reciprocal
from .numerics import MAX_SHIFT, Dyadic, check_int, round_shift, saturate

__all__ = ["band_keep", "EXP_BITS", "EXP_FRAC", "OUT_BITS", "RECIP_BITS", "MIN_EXP_SUM", "SoftmaxConstants",
           "i_exp", "i_softmax", "softmax_float", "window_mask"]

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
    """
    in_bits: int
    pre_shift: int
    x0: int
    b_int: int
    c_int: int
    exp: Dyadic

    @classmethod
    def from_scale(cls, s, in_bits=32):
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
        return cls(in_bits, pre_shift, x0, b_int, c_int, Dyadic.from_ratio(POLY_A * s2 ** 2 * 2.0 ** EXP_FRAC))


def i_exp(d, k):
    """Integer exp of non-positive ``d`` (pre-shifted scores minus the row max): uint16 values as int64."""
    d = np.maximum(np.asarray(d, dtype=np.int64), CLAMP_Q * k.x0)
    q = np.floor_divide(d, k.x0)
    r = d - k.x0 * q
    z = (r + k.b_int) * r + k.c_int
    e = round_shift(z * k.exp.m, np.minimum(k.exp.shift + q, MAX_SHIFT))
    return saturate(e, EXP_BITS, signed=False)


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
        e = np.where(mask, i_exp(np.where(mask, xs - m, 0), k), 0)
    else:
        m = xs.max(axis=-1, keepdims=True)
        e = i_exp(xs - m, k)
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
