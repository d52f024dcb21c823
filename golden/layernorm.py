"""i-LayerNorm over the last axis: one statistics pass, integer sqrt and reciprocal, one normalize pass.

Input ``x``: residual sums, ``in_bits`` (22) wide, one row of length ``n`` per token. The normalization unit
reads each row once for statistics and once to normalize, so the statistics are single-pass sums:

*statistics pass* (per row)
    ``S = sum(x)``; ``xs = x >> var_shift`` (floor; I-BERT's overflow-avoiding shift, chosen so ``xs`` fits 16
    bits); ``T = sum(xs)``; ``Q = sum(xs**2)``.
*derive* (per row, integer only)
    ``mean = floor(S / n)``; ``D = n*Q - T**2`` (``= n**2 * var(xs)``, never negative);
    ``r = isqrt(D)`` (digit recurrence, :mod:`golden.isqrt`); ``f = floor(2**F / max(r, 1))`` with
    ``F = recip_bits``, enough for ``f`` to keep ``RECIP_PRECISION`` bits at the largest ``r``.
*normalize + affine pass* (per element, channel ``c``)
    ``z = ((x - mean) * f) >> (var_shift + F - 31)``  (``z ~ (x - mean)/sigma * 2**31 / n``: scale
    ``n / 2**31``, independent of the input scale);
    ``out = saturate(round_shift(z * M[c] + B[c], shift), out_bits)`` with ``M[c] ~ gamma[c] * n / 2**31 / s_out``
    and ``B[c] ~ beta[c] / s_out * 2**shift``: gamma and beta folded into the output requantization.

Zero variance (``D = 0``): every ``x`` equals the mean up to the ``var_shift`` truncation, ``f = 2**F`` and the
output is ``beta`` (plus at most the truncated residue), as float LayerNorm with its epsilon gives.

Widths: ``|x - mean| <~ 2**var_shift * (r / sqrt(n) + 1)``, so ``|(x - mean) * f| < 2**(var_shift + F + 1)``
(at most 2**55) and ``|z| < 2**32``; ``D < n**2 * 2**30`` (below 2**54 for ``n <= 4096``), so ``isqrt`` runs
``radicand_bits / 2`` iterations and the reciprocal ``F + 1``.
"""
from dataclasses import dataclass

import numpy as np

from .isqrt import isqrt, reciprocal
from .numerics import Dyadic, check_int, requantize

__all__ = ["XS_BITS", "Z_FRAC", "RECIP_PRECISION", "LayerNormConstants", "layernorm_stats", "i_layernorm",
           "layernorm_float"]

XS_BITS = 16
Z_FRAC = 31             # z = normalized * 2**Z_FRAC / n
RECIP_PRECISION = 20    # bits f keeps at the largest r
MAX_N = 4096


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
        if not 2 <= in_bits <= 32:
            raise ValueError(f"LayerNorm input width must be in [2, 32], not {in_bits!r}")
        out = Dyadic.from_ratio(gamma * n / 2.0 ** Z_FRAC / s_out)
        offset = tuple(int(v) for v in np.round(beta / s_out * 2.0 ** out.shift))
        return cls(n, in_bits, out_bits, max(0, in_bits - XS_BITS), out, offset)

    @property
    def radicand_bits(self):
        """Width of ``D = n*Q - T**2``: what the integer square root is built for."""
        return 2 * self.n.bit_length() + 2 * (self.in_bits - self.var_shift - 1)

    @property
    def recip_bits(self):
        """``F``: the reciprocal is ``floor(2**F / r)``."""
        return (self.radicand_bits + 1) // 2 + RECIP_PRECISION

    @property
    def z_shift(self):
        """Right shift from ``(x - mean) * f`` to ``z`` at scale ``n / 2**Z_FRAC``."""
        return self.var_shift + self.recip_bits - Z_FRAC


def layernorm_stats(x, k):
    """The statistics pass and the derived per-row constants: ``(mean, r, f)``, each of shape ``(..., 1)``."""
    xs = np.right_shift(x, k.var_shift)
    s = x.sum(axis=-1, keepdims=True)
    t = xs.sum(axis=-1, keepdims=True)
    q = (xs * xs).sum(axis=-1, keepdims=True)
    mean = np.floor_divide(s, k.n)
    r, _ = isqrt(k.n * q - t * t, k.radicand_bits)
    f = reciprocal(np.maximum(r.astype(np.int64), 1), k.recip_bits)
    return mean, r.astype(np.int64), f


def i_layernorm(x, k, dump=None):
    """Integer LayerNorm of ``x`` (rows of ``k.n`` values, ``k.in_bits`` wide) with constants ``k``.

    ``dump``, a dict, receives the per-row mean, square root and reciprocal, and the normalized ``z``.
    """
    x = check_int("LayerNorm input", x, k.in_bits)
    if x.ndim == 0 or x.shape[-1] != k.n:
        raise ValueError(f"LayerNorm rows must have {k.n} elements, not shape {x.shape}")
    mean, r, f = layernorm_stats(x, k)
    z = np.right_shift((x - mean) * f, k.z_shift)
    out = requantize(z, k.out, k.out_bits, offset=np.asarray(k.offset, dtype=np.int64))
    if dump is not None:
        dump.update(mean=mean, sqrt=r, recip=f, normalized=z)
    return out


def layernorm_float(x, gamma, beta, eps=1e-12):
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta
