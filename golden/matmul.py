"""Reference for the systolic array's tile operation: ``C (+)= A x B`` in the accumulator.

Overflow semantics (the hardware matches them): every product and every sum is reduced to a signed
``acc_bits``-bit two's-complement value, i.e. the accumulator *wraps*, it does not saturate. Because wrapping
is a ring homomorphism, wrapping once at the end of an exact int64 computation gives the same bits as wrapping
after each addition, in any order, so the K loop order, the tiling and accumulate-vs-overwrite cannot change
the result. With the default 32-bit accumulator, int8 x int8 products never wrap for K <= 2**17.
"""
import numpy as np

from .numerics import check_int

__all__ = ["wrap", "check_int_matrix", "exact_product", "matmul"]


def wrap(x, bits):
    """Two's-complement wrap of an integer array to ``bits`` bits (returned as int64)."""
    if not isinstance(bits, int) or not 2 <= bits <= 64:
        raise ValueError(f"bits must be an int in 2..64, not {bits!r}")
    x = np.asarray(x, dtype=np.int64)
    if bits == 64:
        return x.copy()
    half = np.int64(1) << np.int64(bits - 1)
    mask = (np.int64(1) << np.int64(bits)) - np.int64(1)
    return ((x + half) & mask) - half


def check_int_matrix(name, x, bits, ndim=2):
    """``x`` as int64 after checking it is an integer ``ndim``-array of signed ``bits``-bit values
    (:func:`golden.numerics.check_int`; floats are rejected, not rounded)."""
    return check_int(name, x, bits, ndim=ndim)


def exact_product(a, b, a_bits, b_bits):
    """``a @ b`` of int64 matrices of signed ``a_bits``- and ``b_bits``-bit values, exactly, as int64.

    When every partial sum is an integer below 2**53 in magnitude (``K * 2**(a_bits-1) * 2**(b_bits-1) <= 2**53``),
    float64 represents each of them exactly, so the float64 product (BLAS, about 20x faster than NumPy's int64
    loop) is the exact integer product whatever the summation order; otherwise int64.
    """
    if a.shape[1] << (a_bits + b_bits - 2) <= 1 << 53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def matmul(a, b, c=None, *, acc_bits=32, a_bits=8, b_bits=8):
    """Accumulator contents after ``C (+)= A x B``.

    Parameters
    ----------
    a : (M, K) integer array, signed ``a_bits``-bit values (activations; ``a_bits`` is the config's
        ``input_width``).
    b : (K, N) integer array, signed ``b_bits``-bit values (weights, int8).
    c : (M, N) integer array or None
        Previous accumulator contents (signed ``acc_bits``-bit). ``None`` means overwrite.
    acc_bits : int
        Accumulator width; the result wraps in two's complement at this width.

    Returns
    -------
    (M, N) int64 array of signed ``acc_bits``-bit values.
    """
    for nm, v in (("a_bits", a_bits), ("b_bits", b_bits), ("acc_bits", acc_bits)):
        if not isinstance(v, int) or not 2 <= v <= 64:
            raise ValueError(f"{nm} must be an int in 2..64, not {v!r}")
    a = check_int_matrix("a", a, a_bits)
    b = check_int_matrix("b", b, b_bits)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape}, b is {b.shape}")
    if 0 in a.shape or 0 in b.shape:
        raise ValueError(f"empty operand: a is {a.shape}, b is {b.shape}")
    # int64 matmul is exact while |sum| < 2**63: K * 2**(a_bits+b_bits-2) stays far below for K < 2**40.
    prod = wrap(exact_product(a, b, a_bits, b_bits), acc_bits)
    if c is None:
        return prod
    c = check_int_matrix("c", c, acc_bits)
    if c.shape != prod.shape:
        raise ValueError(f"c has shape {c.shape}, expected {prod.shape}")
    return wrap(c + prod, acc_bits)
