"""golden.gelu: constants and outputs against an independent reference written here from the I-BERT formulas
(Python ints and exact fractions, no call into golden.gelu's arithmetic), hand-computed values, and the float GELU.
"""
from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from golden.gelu import GeluConstants, gelu_float, i_gelu

# I-BERT's erf polynomial L(x) = sign(x) * (A * (min(|x|, -B) + B)**2 + 1) and its sqrt(2), spelled here, not
# imported: a changed constant in golden.gelu must show.
IBERT_A, IBERT_B, IBERT_SQRT2 = -0.2888, -1.769, 1.4142
ERF_BITS = 16


def consts(bits, rng=8.0, out_bits=None, **kw):
    out_bits = out_bits or bits
    return GeluConstants.from_scales(rng / (2**(bits - 1) - 1), rng / (2**(out_bits - 1) - 1), bits, out_bits, **kw)


def ref_constants(s_in, s_out, erf_shift=None):
    """``(b_int, c_int, erf_shift, one, ratio)`` by the module docstring's steps 1 and 4, in Python floats."""
    s_e = s_in / IBERT_SQRT2
    b_int = math.floor(IBERT_B / s_e)
    c_int = math.floor(1 / IBERT_A / s_e**2)
    if erf_shift is None:           # the smallest shift that leaves |c_int| ERF_BITS bits
        erf_shift = 0
        while abs(c_int) >> erf_shift >= 2**ERF_BITS:
            erf_shift += 1
    s_erf = IBERT_A * s_e**2 * 2**erf_shift
    return b_int, c_int, erf_shift, math.floor(1 / s_erf), s_in * s_erf / 2 / s_out


def ref_erf(q, k):
    """Steps 2-3 for one integer: the shifted erf polynomial."""
    q = int(q)
    a = min(abs(q), -k.b_int)
    sign = (q > 0) - (q < 0)
    return (sign * ((a + k.b_int) ** 2 + k.c_int)) // 2**k.erf_shift


def ref_i_gelu(q, k):
    """Steps 2-6 for one integer: ``t = q * (erf + one)``, then ``t * M / 2**shift`` rounded half up (exact
    fraction) and clipped to ``out_bits``."""
    q = int(q)
    t = q * (ref_erf(q, k) + k.one)
    v = math.floor(Fraction(t * k.out.multiplier, 2**k.out.shift) + Fraction(1, 2))
    return min(max(v, -2**(k.out_bits - 1)), 2**(k.out_bits - 1) - 1)


@pytest.mark.parametrize("bits, rng, out_bits, erf_shift", [
    (8, 8.0, 8, None), (8, 8.0, 8, 14), (12, 5.0, 8, None), (16, 8.0, 16, None), (16, 30.0, 12, None),
    (20, 8.0, 16, None)])
def test_constants_follow_the_documented_formulas(bits, rng, out_bits, erf_shift):
    s_in, s_out = rng / (2**(bits - 1) - 1), rng / (2**(out_bits - 1) - 1)
    k = GeluConstants.from_scales(s_in, s_out, bits, out_bits, erf_shift=erf_shift)
    b_int, c_int, shift, one, ratio = ref_constants(s_in, s_out, erf_shift)
    assert (k.b_int, k.c_int, k.erf_shift, k.one) == (b_int, c_int, shift, one)
    assert (k.in_bits, k.out_bits) == (bits, out_bits)
    assert abs(float(k.out.ratio()) - ratio) <= abs(ratio) * 2.0**-14


@pytest.mark.parametrize("bits, erf_shift", [(8, None), (8, 14), (12, None), (16, None)])
def test_every_input_matches_the_reference(bits, erf_shift):
    k = consts(bits, erf_shift=erf_shift)
    q = range(-2**(bits - 1), 2**(bits - 1))
    assert i_gelu(np.array(q), k).tolist() == [ref_i_gelu(v, k) for v in q]


def test_hand_computed_values():
    # 8 bits, s_in = s_out = 8/127: b_int = -40, c_int = one = -1746, erf_shift 0, M / 2**shift = -19226 / 2**26.
    k = consts(8)
    assert (k.b_int, k.c_int, k.one, k.erf_shift, k.out.multiplier, k.out.shift) == (-40, -1746, -1746, 0, -19226, 26)
    #  q    erf = sign(q) * ((min(|q|, 40) - 40)**2 - 1746)   t = q * (erf - 1746)   round(t * -19226 / 2**26)
    #  127  -1746                                           -443484                127.05 -> 127
    #  20   -1346                                           -61840                 17.72  -> 18   (GELU: 17.92)
    #  -20  1346                                            8000                   -2.29  -> -2   (GELU: -2.08)
    #  -128 1746                                            0                      0
    q = np.array([0, 127, 20, -20, -128])
    assert i_gelu(q, k).tolist() == [0, 127, 18, -2, 0]


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_gelu_close_to_float_over_all_inputs(bits):
    k = consts(bits)
    q = np.arange(-2**(bits - 1), 2**(bits - 1))
    s_in = s_out = 8.0 / (2**(bits - 1) - 1)
    err = np.abs(i_gelu(q, k) * s_out - gelu_float(q * s_in))
    # I-BERT's erf polynomial is within ~0.018 of erf; GELU's error is |x|/2 of that, plus an output LSB.
    assert err.max() < 0.04 + s_out


@given(st.integers(8, 16), st.floats(2.0, 30.0))
def test_gelu_monotonic_where_gelu_is(bits, rng):
    # GELU increases for x > -0.7518; i-GELU's clipped erf keeps that (tested over every input code).
    k = consts(bits, rng)
    s = rng / (2**(bits - 1) - 1)
    q = np.arange(int(np.ceil(-0.5 / s)), 2**(bits - 1))
    assert np.all(np.diff(i_gelu(q, k)) >= 0)


def test_adaptive_shift_keeps_small_outputs_at_8_bits():
    # I-BERT's fixed 2**14 shift zeroes the erf term of an 8-bit input (|c_int| ~ 2**11): what is left of GELU is
    # x times the "1 +" term, itself floored to -1 erf units.
    fixed, adaptive = consts(8, erf_shift=14), consts(8)
    q = np.arange(1, 40)
    assert adaptive.erf_shift == 0 and fixed.one == -1
    assert [ref_erf(-v, fixed) for v in q] == [0] * len(q)
    assert i_gelu(-q, fixed).tolist() == [ref_i_gelu(-v, fixed) for v in q]
    s = 8.0 / 127
    ref = np.round(gelu_float(q * s) / s)
    assert np.abs(i_gelu(q, adaptive) - ref).max() <= 2
    assert np.abs(i_gelu(q, fixed) - ref).max() > 2


def test_gelu_extremes_saturate_cleanly():
    k = consts(8, out_bits=8, rng=8.0)
    out = i_gelu(np.array([-128, 127]), k)
    assert abs(out[0]) <= 1 and out[1] == 127
    # An output scale half the input's: GELU(8.0) = 254 output units saturates to 127, GELU(-8.1) stays 0.
    half = GeluConstants.from_scales(8.0 / 127, 4.0 / 127, 8, 8)
    assert i_gelu(np.array([-128, 64, 127]), half).tolist() == [0, 127, 127]


@pytest.mark.parametrize("call, match", [
    (lambda: i_gelu(np.array([128]), consts(8)), "holds 128"),
    (lambda: i_gelu(np.array([0.5]), consts(8)), "integer"),
    (lambda: GeluConstants.from_scales(-1.0, 1.0, 8, 8), "positive"),
    (lambda: GeluConstants.from_scales(1.0, 1.0, 40, 8), "40"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
