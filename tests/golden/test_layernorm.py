import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from golden.layernorm import LayerNormConstants, i_layernorm, layernorm_float


def setup(n, out_bits, seed=0, outlier=60.0):
    rng = np.random.default_rng(seed)
    g, b = rng.normal(1, 0.3, n), rng.normal(0, 0.5, n)
    xf = rng.normal(0, 3, (8, n))
    xf[:, 1] = outlier
    s_in = np.abs(xf).max() / (2**21 - 1)
    x = np.round(xf / s_in).astype(np.int64)
    ref = layernorm_float(x * s_in, g, b)
    s_out = np.abs(ref).max() / (2**(out_bits - 1) - 1)
    return x, ref, s_out, LayerNormConstants.from_params(g, b, s_out, 22, out_bits)


@pytest.mark.parametrize("n", [16, 384, 4096])
@pytest.mark.parametrize("out_bits", [8, 12, 16])
def test_close_to_float(n, out_bits):
    x, ref, s_out, k = setup(n, out_bits)
    # Output rounding (1/2 LSB) + the 15-bit multiplier's relative error at full scale + statistics error.
    bound = 0.5 + 2**(out_bits - 1) * 2.0**-14 + 0.5
    assert np.abs(i_layernorm(x, k) - ref / s_out).max() <= bound


def test_zero_variance_gives_beta():
    _, _, s_out, k = setup(384, 16)
    for v in (0, -2**21, 2**21 - 1, 12345):
        out = i_layernorm(np.full((2, 384), v), k)
        assert np.array_equal(out[0], np.round(np.asarray(k.offset) / 2**k.out.shift).astype(np.int64))


def test_extreme_row_largest_n():
    k = LayerNormConstants.from_params(np.ones(4096), np.zeros(4096), 0.01, 22, 16)
    x = np.full((1, 4096), -2**21)
    x[0, 0] = 2**21 - 1
    out = i_layernorm(x, k)
    assert abs(out[0, 0] - np.sqrt(4095) / 0.01) <= 2 and abs(out[0, 1] + 1 / np.sqrt(4095) / 0.01) <= 2


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 20))
def test_stats_match_exact_integers(seed, log_spread):
    rng = np.random.default_rng(seed)
    k = LayerNormConstants.from_params(np.ones(64), np.zeros(64), 0.01, 22, 16)
    x = np.clip(rng.integers(-2**log_spread, 2**log_spread + 1, (3, 64)) + rng.integers(-2**20, 2**20), -2**21, 2**21 - 1)
    d = {}
    i_layernorm(x, k, d)
    xs = x >> k.var_shift
    for row in range(3):
        D = 64 * int((xs[row] ** 2).sum()) - int(xs[row].sum()) ** 2
        assert D >= 0 and int(d["sqrt"][row, 0]) == max(math.isqrt(D), 1)
        assert 2**17 < int(d["recip"][row, 0]) <= 2**18
        assert int(d["mean"][row, 0]) == int(x[row].sum()) // 64


@pytest.mark.parametrize("call, match", [
    (lambda: i_layernorm(np.zeros((1, 383), dtype=np.int64), setup(384, 8)[3]), "384 elements"),
    (lambda: i_layernorm(np.full((1, 384), 2**21), setup(384, 8)[3]), "2097152"),
    (lambda: LayerNormConstants.from_params(np.ones(3), np.ones(4), 0.1), "equal length"),
    (lambda: LayerNormConstants.from_params(np.ones(4), np.ones(4), 0.0), "positive"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
