import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from golden.softmax import SoftmaxConstants, i_exp, i_softmax, softmax_float

# I-BERT's i-exp: x0 = -ln 2 / s and exp(r) ~ A * (r**2 + B r + C) on (-ln 2, 0], spelled here, not imported: a
# changed constant in golden.softmax must show.
IBERT_LN2, IBERT_A = 0.6931, 0.35815147
IBERT_B, IBERT_C = 0.96963238 / IBERT_A, 1.0 / IBERT_A
SCALES = [1e-7, 1e-4, 3e-4, 0.01, 0.9, 30.0]


def ref_i_exp(d, k):
    """The module docstring's exp pass for one Python int ``d <= 0``: clamp, range reduction, polynomial, and
    ``z * M / 2**(shift + q)`` rounded half up (shift capped at 47) and clipped to 16 bits unsigned."""
    d = max(d, 30 * k.x0)
    q = d // k.x0
    r = d - k.x0 * q
    z = (r + k.b_int) * r + k.c_int
    sh = min(k.exp.shift + q, 47)
    return min(max((z * k.exp.multiplier + (1 << sh >> 1)) >> sh, 0), 2**16 - 1)


@pytest.mark.parametrize("s", SCALES)
def test_constants_follow_the_documented_formulas(s):
    k = SoftmaxConstants.from_scale(s)
    s2 = s * 2.0**k.pre_shift
    assert (k.x0, k.b_int, k.c_int) == (math.floor(-IBERT_LN2 / s2), math.floor(IBERT_B / s2),
                                        math.floor(IBERT_C / s2**2))
    ratio = IBERT_A * s2**2 * 2**15
    assert abs(float(k.exp.ratio()) - ratio) <= ratio * 2.0**-14


@pytest.mark.parametrize("s", SCALES)
def test_i_exp_matches_the_reference_and_exp(s):
    k = SoftmaxConstants.from_scale(s)
    d = range(32 * k.x0, 1, 7)
    e = i_exp(np.array(d), k)
    assert e.tolist() == [ref_i_exp(v, k) for v in d]
    # I-BERT's polynomial is within 0.002 of exp on (-ln 2, 0]; 2**-q scales the error down.
    s2 = s * 2.0**k.pre_shift
    assert np.abs(e / 2**15 - np.exp(np.array(d) * s2)).max() < 0.0025


@given(st.floats(1e-6, 1.0))
def test_i_exp_is_monotonic_and_bounded(s):
    k = SoftmaxConstants.from_scale(s)
    d = np.arange(32 * k.x0, 1)
    e = i_exp(d, k)
    assert np.all(np.diff(e) >= 0)
    assert abs(int(e[-1]) - 2**15) <= 8 and e.min() >= 0


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-5, 0.5), st.integers(1, 512), st.integers(0, 2**31 - 1))
def test_rows_sum_to_256_within_bound(s, n, seed):
    rng = np.random.default_rng(seed)
    k = SoftmaxConstants.from_scale(s)
    span = max(1, int(12 / s))
    x = rng.integers(-span, span, (4, n))
    p = i_softmax(x, k)
    dump = {}
    i_softmax(x, k, dump)
    total = p.sum(axis=-1)
    bound_lo = 256 - n / 2 - np.ceil(dump["exp_sum"][:, 0] / 2**24) - 1
    assert np.all(total <= 256 + n / 2) and np.all(total >= bound_lo)
    assert p.min() >= 0 and p.max() <= 255


@pytest.mark.parametrize("n", [1, 16, 128, 4096])
def test_all_equal_rows_are_uniform(n):
    k = SoftmaxConstants.from_scale(1e-3)
    p = i_softmax(np.full((3, n), 1234), k)
    assert np.all(p == p[0, 0])
    assert abs(int(p[0, 0]) - round(256 / n)) <= 1


def test_one_hot_row_saturates_256_to_255():
    k = SoftmaxConstants.from_scale(1e-3)
    x = np.full((1, 64), -2**31)
    x[0, 7] = 2**31 - 1
    p = i_softmax(x, k)
    assert p[0, 7] == 255 and p.sum() == 255


def test_close_to_float():
    rng = np.random.default_rng(3)
    for s in (1e-4, 3e-3, 0.05):
        x = rng.integers(-int(10 / s), int(10 / s), (32, 128))
        assert np.abs(i_softmax(x, SoftmaxConstants.from_scale(s)) / 256 - softmax_float(x * s)).max() < 0.004


@pytest.mark.parametrize("s", [1e-7, 1e-4, 0.01, 0.9, 30.0])
def test_every_scale_is_pre_shifted_to_the_same_resolution(s):
    k = SoftmaxConstants.from_scale(s)
    assert -(2**14) <= k.x0 < -(2**13)
    assert (k.pre_shift > 0) == (s < 0.6931 / 2**14)


@pytest.mark.parametrize("call, match", [
    (lambda: i_softmax(np.array([[2**31]]), SoftmaxConstants.from_scale(0.1)), "2147483648"),
    (lambda: i_softmax(np.zeros((2, 0), dtype=np.int64), SoftmaxConstants.from_scale(0.1)), "at least one"),
    (lambda: SoftmaxConstants.from_scale(0.0), "positive"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
