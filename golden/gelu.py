"""i-GELU: I-BERT's integer-only GELU, with an adaptive erf shift and a final requantization.

``GELU(x) = x/2 * (1 + erf(x/sqrt 2))`` with erf approximated by I-BERT's clipped second-order polynomial
``L(x) = sign(x) * (a * (min(|x|, -b) + b)**2 + 1)``, ``a = -0.2888``, ``b = -1.769``.

Integer procedure for ``q`` at scale ``s`` (all constants computed by :meth:`GeluConstants.from_scales`):

1. ``s_e = s / 1.4142``; ``b_int = floor(b / s_e)``; ``c_int = floor((1/a) / s_e**2)``
2. ``y = sign(q) * ((min(|q|, -b_int) + b_int)**2 + c_int)``     (scale ``a * s_e**2``, negative)
3. ``y = floor(y / 2**erf_shift)``                              (I-BERT: fixed 14, see below)
4. ``one = floor(1 / (a * s_e**2 * 2**erf_shift))``              (the "1 +" of GELU, in erf units)
5. ``t = q * (y + one)``                                         (scale ``s * a * s_e**2 * 2**erf_shift / 2``)
6. ``out = requantize(t, Dyadic(scale_t / s_out))``               (the sign of ``a`` is folded into ``M``)

I-BERT shifts by a fixed ``2**14`` to avoid overflow of 32-bit intermediates. When the input has only 8 bits the
polynomial is already small (``|c_int|`` ~ 2**11), and the fixed shift zeroes it: every small output becomes 0.
Here ``erf_shift`` is the smallest shift that brings ``|c_int|`` below ``2**ERF_BITS``, so the erf keeps
``ERF_BITS`` bits whatever the input width, and ``t`` stays below 2**(in_bits + ERF_BITS + 2).

Step 3 saturates ``y`` to ``ERF_BITS + 1`` bits (signed), the width the activation lanes build. For constants from
:meth:`GeluConstants.from_scales` it never acts: ``|(min(|q|, -b) + b)**2 + c| <= max(b**2, |c|) < 2**(ERF_BITS +
erf_shift)`` (``b**2 < |c|`` as ``2.502**2 < 6.925``, the two coefficients' numerators), so ``-2**ERF_BITS <= y <
2**ERF_BITS``; ``tests/golden/test_lane_bounds.py`` checks it. It defines what the lanes compute for hand-made
constants that break the bound.
"""
from dataclasses import dataclass
import math

import numpy as np

from .numerics import Dyadic, check_int, requantize, saturate

__all__ = ["ERF_A", "ERF_B", "SQRT2", "ERF_BITS", "GeluConstants", "i_gelu", "gelu_float"]

ERF_A = -0.2888
ERF_B = -1.769
SQRT2 = 1.4142          # I-BERT's k
ERF_BITS = 16


@dataclass(frozen=True)
class GeluConstants:
    """Constants of one i-GELU op, computed from its input and output scales at quantization time.

    Members
    -------
    in_bits, out_bits : int
        Signed widths of the input and output.
    b_int, c_int : int
        The erf polynomial's integer coefficients.
    erf_shift : int
        Right shift applied to the erf polynomial.
    one : int
        ``floor(1 / erf scale)``: 1.0 in erf units (negative, as the erf scale is).
    out : Dyadic
        Requantization of ``q * (erf + one)`` to the output scale.
    """
    in_bits: int
    out_bits: int
    b_int: int
    c_int: int
    erf_shift: int
    one: int
    out: Dyadic

    @classmethod
    def from_scales(cls, s_in, s_out, in_bits, out_bits, erf_shift=None):
        """Constants for input scale ``s_in`` (``in_bits`` wide) and output scale ``s_out`` (``out_bits``).

        ``erf_shift=None`` picks the adaptive shift; pass 14 for I-BERT's original behaviour.
        """
        if not (s_in > 0 and s_out > 0):
            raise ValueError(f"GELU scales must be positive, not s_in={s_in!r}, s_out={s_out!r}")
        if not 2 <= in_bits <= 24:
            raise ValueError(f"GELU input width must be in [2, 24], not {in_bits!r}")
        s_e = s_in / SQRT2
        b_int = math.floor(ERF_B / s_e)
        c_int = math.floor((1.0 / ERF_A) / s_e ** 2)
        if erf_shift is None:
            erf_shift = max(0, abs(c_int).bit_length() - ERF_BITS)
        s_erf = ERF_A * s_e ** 2 * 2.0 ** erf_shift
        one = math.floor(1.0 / s_erf)
        s_t = s_in * s_erf / 2
        return cls(in_bits, out_bits, b_int, c_int, erf_shift, one, Dyadic.from_ratio(s_t / s_out))


def i_gelu(q, k):
    """Integer GELU of ``q`` (integer array, ``k.in_bits`` wide) with constants ``k``: an int64 array."""
    q = check_int("GELU input", q, k.in_bits)
    a = np.minimum(np.abs(q), -k.b_int)
    y = np.sign(q) * ((a + k.b_int) ** 2 + k.c_int)
    y = saturate(np.right_shift(y, k.erf_shift), ERF_BITS + 1)
    t = q * (y + k.one)
    return requantize(t, k.out, k.out_bits)


def gelu_float(x):
    """Exact GELU (erf form) in float64: the float reference's activation."""
    erf = np.frompyfunc(math.erf, 1, 1)
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)).astype(np.float64))
