import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from golden.isqrt import isqrt, isqrt_iterations, reciprocal

EDGES = [0, 1, 2, 3, 4, 8, 15, 16, 17, 255, 256, 2**31 - 1, 2**31, 2**32 - 1, 2**32, (2**16 - 1)**2,
         (2**16)**2 - 1, 2**62, 2**63 - 1, 2**63, (2**32 - 1)**2, (2**32 - 1)**2 - 1, 2**64 - 1]


@pytest.mark.parametrize("x", EDGES)
def test_isqrt_edges(x):
    assert isqrt(x) == (math.isqrt(x), 32)


@given(st.integers(0, 2**32 - 1))
def test_isqrt_random_32(x):
    root, iters = isqrt(x, 32)
    assert root == math.isqrt(x) and iters == 16


@given(st.integers(0, 2**64 - 1))
def test_isqrt_random_64(x):
    assert isqrt(x)[0] == math.isqrt(x)


def test_isqrt_vectorized_and_squares():
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.integers(0, 2**63 - 1, 10000, dtype=np.int64),
                         np.arange(2**20, dtype=np.int64) ** 2, np.arange(1, 2**20, dtype=np.int64) ** 2 - 1])
    roots, iters = isqrt(xs, 63)
    assert iters == isqrt_iterations(63) == 32
    assert all(int(r) == math.isqrt(int(x)) for r, x in zip(roots[::97], xs[::97]))
    assert np.array_equal(roots[10000:10000 + 2**20], np.arange(2**20))
    assert np.array_equal(roots[10000 + 2**20:], np.arange(2**20 - 1))


@given(st.integers(1, 2**40), st.integers(0, 62))
def test_reciprocal_is_floor(d, bits):
    assert int(reciprocal(d, bits)) == (1 << bits) // d


@pytest.mark.parametrize("call, match", [
    (lambda: isqrt(-1), "-1"), (lambda: isqrt(2**32, 32), "4294967296"), (lambda: isqrt(np.array([1.0])), "dtype"),
    (lambda: reciprocal(0, 31), "positive, not 0"), (lambda: isqrt_iterations(65), "65"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
