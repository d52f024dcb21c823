"""Exact integer square root and integer reciprocal: the algorithms the normalization unit implements.

:func:`isqrt` is the binary digit recurrence (restoring square root): one result bit per iteration, from the
most significant down, using only shifts, adds and compares. For a ``bits``-wide radicand it runs
``ceil(bits / 2)`` iterations whatever the value, so the hardware's latency is fixed. The result equals
``math.isqrt`` for every input.

:func:`reciprocal` is ``floor(2**bits / d)``: a restoring divider producing one quotient bit per iteration
(``bits + 1`` iterations for the ``bits + 1``-bit quotient).
"""
import numpy as np

from .numerics import check_int

__all__ = ["isqrt", "isqrt_iterations", "reciprocal", "reciprocal_iterations"]


def isqrt_iterations(bits):
    """Iterations (one per result bit) of :func:`isqrt` on a ``bits``-wide radicand."""
    if not isinstance(bits, int) or not 1 <= bits <= 64:
        raise ValueError(f"radicand width must be an integer in [1, 64], not {bits!r}")
    return (bits + 1) // 2


def isqrt(x, bits=64):
    """Floor square root of non-negative integers below ``2**bits`` by digit recurrence.

    Parameters
    ----------
    x : int or integer array
        Radicand(s); Python ints up to ``2**64 - 1`` or NumPy integer arrays.
    bits : int
        Radicand width the recurrence is built for (the hardware's register width).

    Returns
    -------
    (root, iterations)
        ``root`` has the shape and kind of ``x`` (uint64 array for arrays); ``iterations`` is
        :func:`isqrt_iterations` ``(bits)``, the same for every input.
    """
    iters = isqrt_iterations(bits)
    scalar = isinstance(x, (int, np.integer))
    if scalar:
        if x < 0 or x >= 1 << bits:
            raise ValueError(f"isqrt radicand {int(x)} is outside [0, 2**{bits})")
        a = np.array([int(x)], dtype=np.uint64)
    else:
        a = np.asarray(x)
        if a.dtype.kind not in "iu":
            raise ValueError(f"isqrt radicand must be integer, not dtype {a.dtype}")
        if a.size and (int(a.min()) < 0 or int(a.max()) >= 1 << bits):
            bad = int(a.min()) if int(a.min()) < 0 else int(a.max())
            raise ValueError(f"isqrt radicand {bad} is outside [0, 2**{bits})")
        a = a.astype(np.uint64)
    rem = a.copy()
    root = np.zeros_like(rem)
    one = np.uint64(1)
    for i in range(iters - 1, -1, -1):
        # Trial: is (2*root_so_far + 1) * 4**i <= remainder?  root is kept pre-scaled by 2**(i+1).
        bit = one << np.uint64(2 * i)
        trial = root + bit
        take = rem >= trial
        rem = np.where(take, rem - trial, rem)
        root = np.where(take, (root >> one) + bit, root >> one)
    if scalar:
        return int(root[0]), iters
    return root, iters


def reciprocal_iterations(bits):
    """Iterations of :func:`reciprocal` (one per quotient bit)."""
    return bits + 1


def reciprocal(d, bits):
    """``floor(2**bits / d)`` for positive integer ``d`` (array): the integer reciprocal.

    Raises ``ValueError`` for ``d <= 0``. Result is int64; ``bits`` is at most 62.
    """
    if not isinstance(bits, int) or not 0 <= bits <= 62:
        raise ValueError(f"reciprocal width must be an integer in [0, 62], not {bits!r}")
    d = check_int("reciprocal divisor", d)
    if d.size and int(d.min()) <= 0:
        raise ValueError(f"reciprocal divisor must be positive, not {int(d.min())}")
    return np.floor_divide(np.int64(1) << np.int64(bits), d)
