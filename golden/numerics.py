"""Integer semantics shared by golden/ and the hardware: rounding, saturation, dyadic requantization.

Every integer op in Systolica is built from these functions, in this order (as Gemmini's reference does):

1. multiply by an integer multiplier ``M`` (and add an integer offset, for affine ops),
2. :func:`round_shift`: arithmetic right shift by ``shift`` with **round half up** (add ``2**(shift-1)``,
   then shift; this is ``floor(x / 2**shift + 1/2)`` for every sign),
3. :func:`saturate`: clip to the output's two's-complement (or unsigned) range.

A real scale ratio ``r`` is represented by a :class:`Dyadic` ``(M, shift)`` with ``r ~= M / 2**shift``, where
``0 <= M < 2**MULT_BITS``; it is computed once, in software, at quantization time, and is the number the
hardware receives in a configuration command. At run time everything is integer NumPy (int64).
"""
from dataclasses import dataclass
import math

import numpy as np

__all__ = [
    "MULT_BITS", "MAX_SHIFT", "Dyadic",
    "int_range", "check_int", "bit_length", "round_shift", "saturate", "requantize", "floor_div",
]

#: Width of a requantization multiplier (unsigned). 15 bits keep ``M`` positive in a signed 16-bit operand, so
#: a lane's multiplier is one 32x16 product; the relative error of a ratio is below ``2**-14``.
MULT_BITS = 15
#: Largest right shift a lane applies. With inputs below ``2**47`` (checked by :func:`requantize`) the product,
#: offset and rounding half all stay inside int64.
MAX_SHIFT = 47


def int_range(bits, signed=True):
    """``(lo, hi)`` inclusive range of a ``bits``-wide integer."""
    if not isinstance(bits, (int, np.integer)) or bits < 1:
        raise ValueError(f"bit width must be a positive integer, not {bits!r}")
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def check_int(name, x, bits=None, signed=True, ndim=None):
    """Validate an integer array (or scalar) and return it as int64.

    Raises ``ValueError`` naming ``name`` and the offending value when ``x`` is not an integer array, has the
    wrong number of dimensions, or holds a value outside the ``bits``-wide range.
    """
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, not dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), not shape {a.shape}")
    if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds {int(a.max())}, which does not fit int64")
    a = a.astype(np.int64, copy=False)
    if bits is not None and a.size:
        lo, hi = int_range(bits, signed)
        amin, amax = int(a.min()), int(a.max())
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            kind = "signed" if signed else "unsigned"
            raise ValueError(f"{name} holds {bad}, outside the {bits}-bit {kind} range [{lo}, {hi}]")
    return a


def bit_length(x):
    """``int.bit_length`` of each element of a non-negative integer array below ``2**53`` (a priority encoder)."""
    x = np.asarray(x, dtype=np.int64)
    if x.size and (x.min() < 0 or x.max() >= 1 << 53):
        raise ValueError(f"bit_length needs values in [0, 2**53), not {int(x.min()) if x.min() < 0 else int(x.max())}")
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


def round_shift(x, shift):
    """``floor(x / 2**shift + 1/2)``: arithmetic right shift, rounding half up. ``shift`` may be an array."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if shift.size and (shift.min() < 0 or shift.max() > MAX_SHIFT):
        raise ValueError(f"shift must be in [0, {MAX_SHIFT}], not {shift.min() if shift.min() < 0 else shift.max()}")
    half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    return np.right_shift(x + half, shift)


def saturate(x, bits, signed=True):
    """Clip to the ``bits``-wide signed (or unsigned) range."""
    lo, hi = int_range(bits, signed)
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def floor_div(x, d):
    """Floor division of integer arrays by a positive integer ``d`` (what a restoring divider computes)."""
    d = np.asarray(d, dtype=np.int64)
    if d.size and d.min() <= 0:
        raise ValueError(f"divisor must be positive, not {int(d.min())}")
    return np.floor_divide(np.asarray(x, dtype=np.int64), d)


@dataclass(frozen=True)
class Dyadic:
    """A real scale ratio as ``multiplier / 2**shift``: a scalar, or one multiplier per channel (last axis).

    Members
    -------
    multiplier : int or tuple of int
        Signed, ``|M| < 2**MULT_BITS`` (a signed 16-bit operand in hardware). Negative ratios occur where a
        scale folds a sign, such as LayerNorm's gamma.
    shift : int
        Right shift shared by all channels, ``0 <= shift <= MAX_SHIFT``.
    """
    multiplier: object
    shift: int

    def __post_init__(self):
        m = np.atleast_1d(np.asarray(self.multiplier))
        if m.dtype.kind not in "iu" or m.size == 0 or int(np.abs(m).max()) >= 1 << MULT_BITS:
            raise ValueError(f"multiplier must be integer(s) of magnitude < 2**{MULT_BITS}, not {self.multiplier!r}")
        if not isinstance(self.shift, int) or not 0 <= self.shift <= MAX_SHIFT:
            raise ValueError(f"shift must be an integer in [0, {MAX_SHIFT}], not {self.shift!r}")

    @classmethod
    def from_ratios(cls, *ratios):
        """Nearest dyadics to several ratios (scalars or arrays) that share one shift.

        The shift is the largest that keeps every multiplier's magnitude below ``2**MULT_BITS`` (capped at
        ``MAX_SHIFT``), so the largest ratio keeps ``MULT_BITS`` significant bits. Returns one
        :class:`Dyadic` per argument.
        """
        flat = [np.atleast_1d(np.asarray(r, dtype=np.float64)) for r in ratios]
        allr = np.abs(np.concatenate(flat))
        if allr.size == 0 or not np.all(np.isfinite(allr)) or allr.max() == 0:
            raise ValueError(f"ratios must be finite and not all zero, not {ratios!r}")
        top = float(allr.max())
        shift = min(MULT_BITS - math.frexp(top)[1], MAX_SHIFT)
        while shift >= 0 and round(top * 2.0 ** shift) >= 1 << MULT_BITS:
            shift -= 1
        if shift < 0:
            raise ValueError(f"ratio {top!r} is too large for a {MULT_BITS}-bit multiplier")
        out = []
        for r, f in zip(ratios, flat):
            m = np.round(f * 2.0 ** shift).astype(np.int64)
            out.append(cls(int(m[0]) if np.ndim(r) == 0 else tuple(int(v) for v in m), int(shift)))
        return out

    @classmethod
    def from_ratio(cls, ratio):
        """Nearest dyadic to one ratio (scalar), or to a vector of per-channel ratios sharing one shift."""
        return cls.from_ratios(ratio)[0]

    @property
    def m(self):
        """The multiplier(s) as an int64 array (broadcasts over the last axis)."""
        return np.asarray(self.multiplier, dtype=np.int64)

    def ratio(self):
        """The real ratio this dyadic stands for (for reports, never for run-time arithmetic)."""
        return self.m.astype(np.float64) / 2.0 ** self.shift


def requantize(x, dyadic, bits, signed=True, offset=0):
    """``saturate(round_shift(x * M + offset, shift), bits)``: the one requantization of Systolica.

    ``offset`` (already in units of ``2**-shift``) folds an additive constant, such as LayerNorm's beta, into the
    same rounding step. The product is formed in int64; inputs are limited so that it cannot overflow.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.size and int(np.abs(x).max()) >= 1 << (62 - MULT_BITS):
        raise ValueError(f"requantize input holds {int(np.abs(x).max())}, beyond {62 - MULT_BITS} bits")
    return saturate(round_shift(x * dyadic.m + np.asarray(offset, dtype=np.int64), dyadic.shift), bits, signed)
