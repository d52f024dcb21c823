"""ReBERT's windowed attention in golden/: the mask, integer and float softmax over it, and the encoder with
per-layer windows (full attention when the window covers the sequence)."""
import numpy as np
import pytest

from golden.encoder import minilm_encoder, tokens_of_length
from golden.softmax import SoftmaxConstants, i_softmax, softmax_float, window_mask


def test_mask_is_the_band_plus_cls():
    m = window_mask(10, 2)
    assert m[5].sum() == 2 * 2 + 2 and list(np.flatnonzero(m[5])) == [0, 3, 4, 5, 6, 7]
    assert list(np.flatnonzero(m[0])) == [0, 1, 2] and list(np.flatnonzero(m[9])) == [0, 7, 8, 9]   # edges cut
    assert m[np.arange(10), np.arange(10)].all() and m[:, 0].all()
    assert window_mask(10, None).all() and window_mask(10, 9).all()
    with pytest.raises(ValueError, match="window must be a non-negative integer or None, not -1"):
        window_mask(4, -1)


def test_masked_scores_contribute_nothing():
    """A masked score changes nothing: its probability is 0 and the others are those of the row without it."""
    k = SoftmaxConstants.from_scale(0.01, 32)
    rng = np.random.default_rng(1)
    x = rng.integers(-2000, 2000, (6, 9))
    x[:, 4] = 10**6                              # a huge score, masked out
    mask = np.ones((6, 9), dtype=bool)
    mask[:, 4] = False
    p = i_softmax(x, k, mask=mask)
    assert (p[:, 4] == 0).all()
    assert np.array_equal(np.delete(p, 4, axis=1), i_softmax(np.delete(x, 4, axis=1), k))
    f = softmax_float(x * 0.01, mask=mask)
    assert (f[:, 4] == 0).all() and np.allclose(f.sum(axis=1), 1)
    with pytest.raises(ValueError, match="at least one score"):
        i_softmax(x, k, mask=np.zeros((6, 9), dtype=bool))


def test_encoder_windows():
    enc = minilm_encoder()
    ids = tokens_of_length(enc.model, 48)
    full = enc.forward(ids, n_layers=2)[-1]
    assert np.array_equal(enc.forward(ids, n_layers=2, windows=[47, None])[-1], full)    # the band covers all
    narrow = enc.forward(ids, n_layers=2, windows=[4, 4])[-1]
    assert not np.array_equal(narrow, full)
    d = []
    enc.forward(ids, n_layers=1, dumps=d, windows=[4])
    assert (d[0]["probs"][:, ~window_mask(48, 4)] == 0).all()
