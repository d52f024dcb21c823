from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, strategies as st

from golden.numerics import (MAX_SHIFT, MULT_BITS, Dyadic, bit_length, check_int, requantize, round_shift,
                             saturate)


@given(st.integers(-2**46, 2**46), st.integers(0, MAX_SHIFT))
def test_round_shift_is_round_half_up(x, s):
    assert int(round_shift(x, s)) == (Fraction(x, 2**s) + Fraction(1, 2)).__floor__()


@given(st.integers(-2**40, 2**40), st.integers(-(2**MULT_BITS - 1), 2**MULT_BITS - 1),
       st.integers(0, MAX_SHIFT), st.integers(2, 24))
def test_requantize_matches_exact_rational_rounding(x, m, s, bits):
    exact = (Fraction(x * m, 2**s) + Fraction(1, 2)).__floor__()
    lo, hi = -2**(bits - 1), 2**(bits - 1) - 1
    assert int(requantize(x, Dyadic(m, s), bits)) == min(max(exact, lo), hi)


@given(st.floats(1e-9, 2.0**14, allow_nan=False))
def test_dyadic_keeps_mult_bits_of_precision(r):
    d = Dyadic.from_ratio(r)
    assert abs(d.multiplier) < 2**MULT_BITS
    if d.shift < MAX_SHIFT:
        assert abs(float(d.ratio()) - r) <= r * 2.0**-(MULT_BITS - 1)


def test_dyadic_per_channel_shares_shift_and_keeps_sign():
    d = Dyadic.from_ratio(np.array([0.5, -0.25, 1e-3]))
    assert d.multiplier == (16384, -8192, 33) and d.shift == 15
    a, b = Dyadic.from_ratios(np.array([0.1, 0.2]), 0.75)
    assert a.shift == b.shift


@given(st.integers(0, 2**53 - 1))
def test_bit_length(x):
    assert int(bit_length(np.array([x]))[0]) == x.bit_length()


def test_saturate_and_unsigned():
    assert list(saturate([-300, 300, 5], 8)) == [-128, 127, 5]
    assert list(saturate([-1, 256], 8, signed=False)) == [0, 255]


@pytest.mark.parametrize("call, match", [
    (lambda: check_int("x", np.array([1.5])), "integer array"),
    (lambda: check_int("x", np.array([128]), 8), "x holds 128"),
    (lambda: check_int("x", np.zeros(3, dtype=np.int64), 8, ndim=2), "2 dimension"),
    (lambda: round_shift(1, -1), "shift"),
    (lambda: Dyadic.from_ratio(2.0**16), "too large"),
    (lambda: Dyadic.from_ratio(float("nan")), "finite"),
    (lambda: Dyadic(2**MULT_BITS, 0), "magnitude"),
    (lambda: requantize(np.array([2**50]), Dyadic(1, 0), 8), "beyond"),
])
def test_bad_input_names_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
