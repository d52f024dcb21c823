"""ReBERT's split-LUT exp (golden.softmax.i_exp_lut, exp_impl="lut"): its tables and constants, a scalar
reference, the scale bookkeeping, its accuracy against float exp, and softmax against the poly path's."""
import math

import numpy as np
import pytest

from golden import nlops
from golden.config import AcceleratorConfig
from golden.encoder import QuantSpec
from golden.numerics import MAX_SHIFT
from golden.softmax import (CLAMP_Q, EXP_FRAC, LUT_F, LUT_INV_MAX, LUT_L, LUT_SHIFT, LUT_TH, LUT_TL,
                            SoftmaxConstants, i_exp, i_exp_lut, i_softmax, softmax_float)

SCALES = (1e-7, 1e-3, 3e-3, 0.05, 1 / 3, 2.0)


def ref_i_exp_lut(d, k):
    """The spec in plain Python integers, one value."""
    d = max(d, CLAMP_Q * k.x0)
    q = d // k.x0
    r = d - k.x0 * q
    assert k.x0 < r <= 0
    f = min(2**LUT_F - 1, (-r * k.lut_inv + k.lut_c) >> k.lut_shift)
    p = LUT_TH[f >> LUT_L] * LUT_TL[f % 2**LUT_L]
    sh = min(2 * 15 - EXP_FRAC + q, MAX_SHIFT)
    return min((p + (1 << (sh - 1))) >> sh, 2**16 - 1)


def test_tables():
    assert len(LUT_TH) == len(LUT_TL) == 64
    assert all(LUT_TH[i] == round(2**15 * 2 ** (-i / 64)) for i in range(64))
    assert all(LUT_TL[j] == round(2**15 * 2 ** (-j / 4096)) for j in range(64))
    assert LUT_TH[0] == LUT_TL[0] == 2**15 and (LUT_TH[63], LUT_TL[63]) == (16562, 32421)
    assert all(a > b for a, b in zip(LUT_TH, LUT_TH[1:])) and all(a > b for a, b in zip(LUT_TL, LUT_TL[1:]))
    # TH * TL is 2**(-f/4096) at scale 2**-30 to within the tables' rounding, 0.5/TH[63] + 0.5/TL[63] relative
    f = np.arange(4096)
    prod = np.asarray(LUT_TH)[f >> 6] * np.asarray(LUT_TL)[f & 63]
    assert np.abs(prod / 2.0 ** (30 - f / 4096) - 1).max() < 0.5 / LUT_TH[63] + 0.5 / LUT_TL[63]


@pytest.mark.parametrize("s", SCALES)
def test_constants(s):
    k = SoftmaxConstants.from_scale(s, impl="lut")
    p = SoftmaxConstants.from_scale(s)
    assert (k.impl, p.impl) == ("lut", "poly")
    assert (k.pre_shift, k.x0) == (p.pre_shift, p.x0)                 # the same range reduction
    assert k.lut_inv == round(2 ** (k.lut_shift + LUT_F) / -k.x0) <= LUT_INV_MAX
    assert round(2 ** (k.lut_shift + 1 + LUT_F) / -k.x0) > LUT_INV_MAX  # the largest shift that fits
    assert (k.lut_c, k.exp.multiplier, k.exp.shift, LUT_SHIFT) == (0, 1, 15, 15)
    assert p.for_impl("lut") == k and k.for_impl("lut") is k
    lane = nlops.softmax_consts(k).as_dict()
    assert (lane["exp_lut"], lane["exp_b"], lane["exp_c"], lane["erf_shift"], lane["s3"]) == \
        (1, -k.lut_inv, 0, k.lut_shift, 15)
    assert nlops.softmax_consts(p)["exp_lut"] == 0
    assert nlops.unpack_lane_consts(nlops.pack_lane_consts(nlops.softmax_consts(k))) == nlops.softmax_consts(k)


def test_poly_from_lut_needs_the_scale():
    with pytest.raises(ValueError, match="need the score scale"):
        SoftmaxConstants.from_scale(0.01, impl="lut").for_impl("poly")
    with pytest.raises(ValueError, match="exp_impl must be 'poly' or 'lut', not 'cubic'"):
        SoftmaxConstants.from_scale(0.01, impl="cubic")


@pytest.mark.parametrize("s", SCALES)
def test_matches_reference_on_the_whole_range(s):
    k = SoftmaxConstants.from_scale(s, impl="lut")
    d = np.concatenate([np.arange(CLAMP_Q * k.x0 - 50, 1), [-2**40]])
    got = i_exp_lut(d, k)
    want = [ref_i_exp_lut(int(v), k) for v in d[::7]] + [ref_i_exp_lut(int(d[-1]), k)]
    assert got[::7].tolist()[:len(want) - 1] == want[:-1] and int(got[-1]) == want[-1]
    assert got.max() == 2**15 and got.min() == 0


@pytest.mark.parametrize("s", SCALES)
def test_scale_bookkeeping(s):
    """e is at scale 2**-EXP_FRAC like the poly path's: e(0) = 2**15, e(q * x0) = 2**(15 - q) exactly (r = 0:
    f = 0, TH * TL = 2**30, shift 15 + q), and e follows 2**(d / |x0|) = exp(d s') (to 1/|x0|)."""
    k = SoftmaxConstants.from_scale(s, impl="lut")
    q = np.arange(CLAMP_Q + 1)
    assert i_exp_lut(q * k.x0, k).tolist() == [round(2 ** (15 - v)) if v < 16 else
                                               (1 if v == 16 else 0) for v in q]
    # the largest r (just above the next step) is half the step's value, to the table's resolution
    assert abs(int(i_exp_lut(np.array([k.x0 + 1]), k)[0]) - 2**14) <= 8


@pytest.mark.parametrize("s", SCALES)
def test_accuracy_against_float(s):
    """Max error against 2**15 * exp(d s') over the whole input range: at most 6.5 (units of 2**-15, the poly
    path's is ~64), and 3.2e-4 relative where e >= 2**12 (the poly path's ~3.5e-3)."""
    k = SoftmaxConstants.from_scale(s, impl="lut")
    p = SoftmaxConstants.from_scale(s)
    d = np.arange(CLAMP_Q * k.x0, 1)
    ref = np.exp(d * s * 2.0 ** k.pre_shift) * 2**15
    e, ep = i_exp_lut(d, k), i_exp(d, p)
    big = ref >= 2**12
    assert np.abs(e - ref).max() < 6.5
    assert np.abs(e[big] / ref[big] - 1).max() < 3.2e-4
    assert np.abs(e - ref).max() < np.abs(ep - ref).max() / 8


@pytest.mark.parametrize("s", [1e-3, 3e-3, 0.02])
def test_softmax_against_float(s):
    """Probabilities (units of 1/256) against float softmax, LUT vs poly on the same scores: both within 0.004
    (the output's half unit and a little), the LUT at most the poly's max error plus 1/512."""
    rng = np.random.default_rng(int(s * 1e6))
    x = rng.integers(-int(10 / s), int(10 / s), (200, 64))
    ref = softmax_float(x * s)
    errs = {}
    for impl in ("poly", "lut"):
        k = SoftmaxConstants.from_scale(s, impl=impl)
        p = i_softmax(x, k)
        errs[impl] = np.abs(p / 256 - ref).max()
    assert errs["lut"] < 0.004 and errs["poly"] < 0.004
    assert errs["lut"] <= errs["poly"] + 1 / 512


def test_config_and_spec_validate_exp_impl():
    assert AcceleratorConfig().exp_impl == "poly"
    c = AcceleratorConfig(exp_impl="lut")
    assert AcceleratorConfig.from_json(c.to_json()) == c
    for bad in ("LUT", 1):
        with pytest.raises(ValueError, match="exp_impl must be"):
            AcceleratorConfig(exp_impl=bad)
    with pytest.raises(ValueError, match="exp_impl must be 'poly' or 'lut', not 'x'"):
        AcceleratorConfig(exp_impl="x")
    with pytest.raises(ValueError, match="exp_impl must be 'poly' or 'lut', not 'x'"):
        QuantSpec(exp_impl="x")
