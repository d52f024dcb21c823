"""golden.prune: removing heads and FFN neurons is the same as zeroing their paths in the full model; the order
is by weight magnitude; a pruned model saves and loads as a checkpoint."""
import dataclasses

import numpy as np
import pytest

from golden.model import Bert, load_model
from golden.prune import Variant, head_order, neuron_order, prune


@pytest.fixture(scope="module")
def minilm():
    return load_model("minilm")


def _masked(model, variant):
    """The full model with the removed heads' Wo columns and the removed neurons' W2 columns zeroed."""
    layers = []
    for i, lw in enumerate(model.layers[:variant.layers]):
        wo, w2 = lw.wo.copy(), lw.w2.copy()
        for h in head_order(lw, model.heads, model.head_dim)[variant.heads[i]:]:
            wo[:, h * model.head_dim:(h + 1) * model.head_dim] = 0
        w2[:, neuron_order(lw)[variant.ffn[i]:]] = 0
        layers.append(dataclasses.replace(lw, wo=wo, w2=w2))
    return layers


def test_pruning_equals_zeroed_paths(minilm):
    v = Variant((12, 7, 3), (1536, 500, 64), (None, None, 4))
    pm = prune(minilm, v)
    assert pm.layer_heads == [12, 7, 3] and [lw.w1.shape[0] for lw in pm.layers] == [1536, 500, 64]
    assert pm.layers[1].wq.shape == (7 * 32, 384) and pm.layers[2].wo.shape == (384, 96)
    ids = minilm.tokenize("Pruned heads and neurons leave the rest of the layer exactly as it was.")
    got = pm.forward(ids, windows=list(v.windows))
    h = [minilm.embed(ids)]
    for i, lw in enumerate(_masked(minilm, v)):
        from golden.model import float_encoder_layer
        h.append(float_encoder_layer(lw, h[-1], minilm.heads, minilm.eps, window=v.windows[i]))
    for a, b in zip(got, h):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_full_variant_is_the_model(minilm):
    full = prune(minilm, Variant.full(minilm))
    ids = minilm.tokenize("Nothing removed.")
    np.testing.assert_array_equal(full.forward(ids)[-1], minilm.forward(ids)[-1])


def test_order_is_by_magnitude(minilm):
    lw = minilm.layers[0]
    order = neuron_order(lw)
    score = np.linalg.norm(lw.w1, axis=1) * np.linalg.norm(lw.w2, axis=0)
    assert score[order[0]] == score.max() and score[order[-1]] == score.min()
    hs = head_order(lw, 12, 32)
    assert sorted(hs) == list(range(12))


def test_pruned_checkpoint_round_trip(minilm, tmp_path):
    pm = prune(minilm, Variant((10, 12, 6), (1024, 1536, 256), (None,) * 3))
    pm.save(tmp_path)
    back = Bert.from_dir(tmp_path)
    assert back.layer_heads == [10, 12, 6]
    ids = minilm.tokenize("A pruned checkpoint reads back.")
    np.testing.assert_allclose(back.forward(ids)[-1], pm.forward(ids)[-1], rtol=1e-5, atol=1e-5)


def test_bad_variants(minilm):
    with pytest.raises(ValueError, match="7 layers kept, but all-MiniLM-L6-v2 has 6"):
        prune(minilm, Variant.uniform(7, 12, 1536))
    with pytest.raises(ValueError, match="layer 0: FFN width 2000, but it has 1536"):
        prune(minilm, Variant.uniform(3, 12, 2000))
    with pytest.raises(ValueError, match="already pruned"):
        prune(prune(minilm, Variant.uniform(3, 8, 1536)), Variant.uniform(3, 8, 1536))
