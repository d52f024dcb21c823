"""i-LayerNorm over the last axis: one statistics pass, integer sqrt and reciprocal, one normalize pass.

Input ``x``: residual sums, ``in_bits`` (22) wide, one row of length ``n`` per token. The normalization unit
reads each row once for statistics and once to normalize, so the statistics are single-pass sums:

*statistics pass* (per row)
    ``S = sum(x)``; ``xs = x >> var_shift`` (floor; I-BERT's overflow-avoiding shift, chosen so ``xs`` fits 16
    bits); ``T = sum(xs)``; ``Q = sum(xs**2)``.
*derive* (per row, integer only)
    ``mean = floor(S / n)``; ``D = n*Q - T**2`` (``= n**2 * var(xs)``, never negative);
    ``r = max(isqrt(D), 1)`` (digit recurrence, :mod:`golden.isqrt`); ``k = bit_length(r)``;
    ``f = floor(2**(RECIP_BITS + k) / r)``: the reciprocal, normalized so that ``2**RECIP_BITS < f <= 2**(RECIP_BITS+1)``
    whatever the variance (``RECIP_BITS + 2`` quotient bits).
*normalize + affine pass* (per element, channel ``c``)
    ``z = ((x - mean) * f) >> k``  (``z ~ (x - mean)/sigma * 2**(RECIP_BITS + var_shift) / n``: the scale
    ``n / 2**z_frac`` does not depend on the input scale);
    ``out = saturate(round_shift(z * M[c] + B[c], shift), out_bits)`` with ``M[c] ~ gamma[c] * n / 2**z_frac / s_out``
    and ``B[c] ~ beta[c] / s_out * 2**shift``: gamma and beta folded into the output requantization.

Zero variance (``D = 0``): every ``x`` equals the mean up to the ``var_shift`` truncation, ``r = 1`` and the
output is ``beta`` (plus at most the truncated residue), as float LayerNorm with its epsilon gives.

``z`` saturates to ``Z_BITS`` (34) bits signed, the width the activation lanes build. It never acts: each
``|xs_i - T/n| <= sqrt(D/n) < (r + 1)/sqrt(n)``, so ``|x - mean| < 2**var_shift * ((r + 1)/sqrt(n) + 1) + 1`` and
``|z| <= |x - mean| * 2**RECIP_BITS / r < 2**(var_shift + RECIP_BITS + 2) <= 2**33`` for ``in_bits <= 30``
(``var_shift <= 14``); ``tests/golden/test_lane_bounds.py`` checks it on extreme rows.

Widths (what the hardware builds): ``|x - mean| < 2**(in_bits+1)``, ``f`` has ``RECIP_BITS + 2`` bits unsigned,
``|z| <~ 2**(var_shift + RECIP_BITS + 2)``; ``D < n**2 * 2**30`` (below 2**54 for ``n <= 4096``), so ``isqrt``
runs ``radicand_bits / 2`` iterations.
"""
from dataclasses import dataclass

import numpy as np

from .isqrt import isqrt
from .numerics import Dyadic, bit_length, check_int, requantize, saturate

__all__ = ["XS_BITS", "RECIP_BITS", "Z_BITS", "MAX_IN_BITS", "LayerNormConstants", "ln_shift_fits", "layernorm_stats",
           "i_layernorm", "layernorm_float"]

XS_BITS = 16
#: Width of the normalized value z (see the module notes: the saturation never acts).
Z_BITS = 34
#: Widest input LayerNormConstants accepts (keeps var_shift <= 14, so z fits Z_BITS).
MAX_IN_BITS = 30
RECIP_BITS = 17         # f = floor(2**(RECIP_BITS + k) / r) lies in (2**17, 2**18]
MAX_N = 4096


def ln_shift_fits(lo, hi, var_shift):
    """Whether inputs in ``lo..hi`` shifted right by ``var_shift`` fit ``XS_BITS`` signed bits (the statistics'
    width): ``-2**(XS_BITS - 1 + var_shift) <= lo`` and ``hi < 2**(XS_BITS - 1 + var_shift)``."""
    lim = 1 << (XS_BITS - 1 + var_shift)
    return -lim <= lo and hi < lim


@dataclass(frozen=True)
class LayerNormConstants:
    """Constants of one i-LayerNorm op.

    Members
    -------
    n : int
        Row length.
    in_bits, out_bits : int
        Signed widths of input and output.
    var_shift : int
        ``max(0, in_bits - XS_BITS)``.
    out : Dyadic
        Per-channel ``gamma`` multipliers.
    offset : tuple of int
        Per-channel ``beta`` in units of ``s_out * 2**-out.shift``.
    """
    n: int
    in_bits: int
    out_bits: int
    var_shift: int
    out: Dyadic
    offset: tuple

    @classmethod
    def from_params(cls, gamma, beta, s_out, in_bits=22, out_bits=8):
        """Fold float ``gamma``/``beta`` (length ``n``) and the output scale into integer constants."""
        gamma = np.asarray(gamma, dtype=np.float64)
        beta = np.asarray(beta, dtype=np.float64)
        n = gamma.shape[-1] if gamma.ndim == 1 else 0
        if gamma.ndim != 1 or beta.shape != gamma.shape or not 2 <= n <= MAX_N:
            raise ValueError(f"gamma and beta must be vectors of equal length in [2, {MAX_N}], not shapes "
                             f"{gamma.shape} and {beta.shape}")
        if not s_out > 0:
            raise ValueError(f"LayerNorm output scale must be positive, not {s_out!r}")
        if not 2 <= in_bits <= MAX_IN_BITS:
            raise ValueError(f"LayerNorm input width must be in [2, {MAX_IN_BITS}], not {in_bits!r}")
        var_shift = max(0, in_bits - XS_BITS)
        out = Dyadic.from_ratio(gamma * n / 2.0 ** (RECIP_BITS + var_shift) / s_out)
        offset = tuple(int(v) for v in np.round(beta / s_out * 2.0 ** out.shift))
        return cls(n, in_bits, out_bits, var_shift, out, offset)

    @property
    def radicand_bits(self):
        """Width of ``D = n*Q - T**2``: what the integer square root is built for."""
        return 2 * self.n.bit_length() + 2 * (self.in_bits - self.var_shift - 1)

    @property
    def z_frac(self):
        """``z`` is the normalized value times ``2**z_frac / n``."""
        return RECIP_BITS + self.var_shift


def layernorm_stats(x, k):
    """The statistics pass and the derived per-row values ``(mean, r, f, kbits)``, each of shape ``(..., 1)``."""
    xs = np.right_shift(x, k.var_shift)
    s = x.sum(axis=-1, keepdims=True)
    t = xs.sum(axis=-1, keepdims=True)
    q = (xs * xs).sum(axis=-1, keepdims=True)
    mean = np.floor_divide(s, k.n)
    r, _ = isqrt(k.n * q - t * t, k.radicand_bits)
    r = np.maximum(r.astype(np.int64), 1)
    kbits = bit_length(r)
    f = np.floor_divide(np.left_shift(np.int64(1), RECIP_BITS + kbits), r)
    return mean, r, f, kbits


def i_layernorm(x, k, dump=None):
    """Integer LayerNorm of ``x`` (rows of ``k.n`` values, ``k.in_bits`` wide) with constants ``k``.

    ``dump``, a dict, receives the per-row mean, square root and reciprocal, and the normalized ``z``.
    """
    x = check_int("LayerNorm input", x, k.in_bits)
    if x.ndim == 0 or x.shape[-1] != k.n:
        raise ValueError(f"LayerNorm rows must have {k.n} elements, not shape {x.shape}")
    mean, r, f, kbits = layernorm_stats(x, k)
    z = saturate(np.right_shift((x - mean) * f, kbits), Z_BITS)
    out = requantize(z, k.out, k.out_bits, offset=np.asarray(k.offset, dtype=np.int64))
    if dump is not None:
        dump.update(mean=mean, sqrt=r, recip=f, recip_shift=kbits, normalized=z)
    return out


def layernorm_float(x, gamma, beta, eps=1e-12):
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta
