"""Linear layers and residual adds of the integer encoder, in terms of the accumulator.

A linear layer is the array's tile operation (:func:`golden.matmul.matmul`) on an accumulator preloaded with the
int32 bias, followed by a lane requantization with per-output-channel multipliers (weights are quantized per
output channel, so each accumulator column has its own scale ``s_x * s_w[c]``).
"""
from dataclasses import dataclass

import numpy as np

from .matmul import matmul
from .numerics import Dyadic, check_int, int_range, requantize

__all__ = ["ACC_BITS", "linear", "ResidualConstants", "residual_add"]

ACC_BITS = 32


def linear(x, w_t, bias, *, x_bits, acc_bits=ACC_BITS, x_signed=True):
    """Accumulator contents of ``x @ w_t + bias``: ``x`` (M, K) activations, ``w_t`` (K, N) int8, ``bias`` (N,).

    Unlike the raw accumulator (which wraps), a layer of the model must never wrap: a result outside the
    accumulator's range raises ``ValueError``. Unsigned activations (softmax probabilities) are passed with
    ``x_signed=False`` and occupy ``x_bits + 1`` signed bits in the array.
    """
    x = check_int("linear input", x, x_bits, signed=x_signed, ndim=2)
    bias = check_int("bias", bias, acc_bits, ndim=1)
    c = np.broadcast_to(bias, (x.shape[0], bias.shape[0]))
    exact = matmul(x, w_t, c, acc_bits=64, a_bits=x_bits + (0 if x_signed else 1))
    lo, hi = int_range(acc_bits)
    if exact.size and (exact.min() < lo or exact.max() > hi):
        bad = int(exact.min()) if exact.min() < lo else int(exact.max())
        raise ValueError(f"accumulator overflow: {bad} does not fit {acc_bits} bits")
    return exact


@dataclass(frozen=True)
class ResidualConstants:
    """``out = saturate(round_shift(a * Ma[c] + b * Mb, shift), out_bits)``: both operands requantized at once.

    Members
    -------
    a, b : Dyadic
        Multipliers of the two operands (``a`` per channel, the sublayer's accumulator; ``b`` the residual
        input), sharing one shift so that a single rounding follows the sum.
    out_bits : int
    """
    a: Dyadic
    b: Dyadic
    out_bits: int

    @classmethod
    def from_scales(cls, s_a, s_b, s_out, out_bits):
        da, db = Dyadic.from_ratios(np.asarray(s_a, dtype=np.float64) / s_out, s_b / s_out)
        return cls(da, db, out_bits)


def residual_add(a, b, k):
    """Requantized sum of accumulator values ``a`` and residual ``b`` (integer arrays of one shape)."""
    a = check_int("residual operand a", a, ACC_BITS)
    b = check_int("residual operand b", b, 24)
    if a.shape != b.shape:
        raise ValueError(f"residual operands differ in shape: {a.shape} and {b.shape}")
    # b * Mb is an offset in a's units of 2**-shift (both dyadics share the shift): one requantization
    return requantize(a, k.a, k.out_bits, offset=b * k.b.m)
