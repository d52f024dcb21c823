"""ReBERT's two-stage window search (golden.rebert) on MiniLM, small enough for the suite: the windows it returns
keep the target, and each layer stops where one more step would miss it."""
import pytest

from golden.encoder import quantized_encoder
from golden.rebert import SEARCH_MODULES, WINDOWS, accuracy, search, stdlib_inputs


@pytest.fixture(scope="module")
def enc():
    return quantized_encoder("minilm", n_layers=2)


def test_search_keeps_the_target_and_stops_greedily(enc):
    inputs = stdlib_inputs(enc.model, SEARCH_MODULES, 40)
    full = accuracy(enc, inputs, [None, None])
    target = full - 0.02
    windows, acc, tried = search(enc, inputs, target)
    assert acc >= target and acc == accuracy(enc, inputs, windows)
    assert windows != [None, None]                       # 2 points of cosine buy some window
    cands = [w for w in WINDOWS if w < 39]
    for layer, w in enumerate(windows):
        nxt = [c for c in cands if w is None or c < w]
        if nxt:     # the layer stopped because one step further, the earlier layers as chosen, missed the target
            assert any(ws[:layer + 1] == windows[:layer] + [nxt[0]] and a < target for ws, a in tried), (layer, tried)


def test_short_docstring_is_refused(enc):
    with pytest.raises(ValueError, match="the docstring of calendar has .* tokens, fewer than 200"):
        stdlib_inputs(enc.model, ("calendar",), 200)
