"""golden.matmul: exact int64 reference with two's-complement wrap at the accumulator width."""
import numpy as np
import pytest

from golden.matmul import matmul, wrap


def test_matches_python_ints():
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (5, 37)), rng.integers(-128, 128, (37, 3))
    want = [[sum(int(a[i, k]) * int(b[k, j]) for k in range(37)) for j in range(3)] for i in range(5)]
    assert matmul(a, b).tolist() == want


def test_accumulate_and_wrap():
    a = np.full((2, 4096), -128)
    b = np.full((4096, 2), -128)
    assert (matmul(a, b) == 4096 * 16384).all()
    # 16-bit accumulator: 4 * 16384 = 65536 wraps to 0; accumulation wraps too.
    assert (matmul(a[:, :4], b[:4], acc_bits=16) == 0).all()
    c = np.full((2, 2), 32767)
    assert (matmul(np.ones((2, 1), int), np.ones((1, 2), int), c, acc_bits=16) == -32768).all()
    assert wrap([2**31], 32).tolist() == [-2**31]


def test_16_bit_activations():
    a = np.full((1, 3), -32768)
    b = np.full((3, 1), -128)
    assert matmul(a, b, a_bits=16).tolist() == [[3 * 32768 * 128]]
    with pytest.raises(ValueError, match="a holds -32768, outside the 8-bit signed range"):
        matmul(a, b)


@pytest.mark.parametrize("args,kw,needle", [
    ((np.zeros((2, 3)), np.zeros((3, 2), int)), {}, "a must be an integer array, not dtype float64"),
    ((np.zeros((2, 3), int), np.zeros((4, 2), int)), {}, "inner dimensions differ"),
    ((np.zeros((2, 3), int), np.full((3, 2), 128)), {}, "b holds 128, outside"),
    ((np.zeros(3, int), np.zeros((3, 2), int)), {}, "a must have 2 dimension(s)"),
    ((np.zeros((2, 3), int), np.zeros((3, 2), int), np.zeros((2, 3), int)), {}, "c has shape (2, 3)"),
    ((np.zeros((2, 3), int), np.zeros((3, 2), int)), {"acc_bits": 1}, "acc_bits must be an int in 2..64, not 1"),
    ((np.zeros((0, 3), int), np.zeros((3, 2), int)), {}, "empty operand"),
])
def test_bad_input_is_named(args, kw, needle):
    with pytest.raises(ValueError) as e:
        matmul(*args, **kw)
    assert needle in str(e.value)
