"""`systolica rebert`: the search's windows, their accuracy on both sets and their cycles; the RTL check in
`make test-all`."""
import json

import pytest

from systolica.cli import main


def _rebert(tmp_path, *args):
    out = tmp_path / "rebert.json"
    assert main(["rebert", "--json", str(out), *args]) == 0
    return json.loads(out.read_text())


def test_window_costs_fall_with_the_window():
    """The cycle model's attention-core cycles of a MiniLM layer at 128 tokens (tile 32, key blocks of 16): a
    window of 16 leaves each query tile 4 or 5 of the 8 key blocks (1.8x fewer cycles than full attention), and
    one as wide as the sequence costs what full attention does."""
    from compiler import Options
    from golden.config import AcceleratorConfig
    from golden.encoder import minilm_encoder
    from systolica.rebert import window_costs
    costs = window_costs(minilm_encoder(), AcceleratorConfig(dim=16, input_width=12), 128, [None, 200, 16],
                         Options(fuse_ffn2_layernorm=True, tile=32))
    (full, full_layer), wide, (narrow, narrow_layer) = costs
    assert wide == (full, full_layer) and narrow < 0.6 * full and narrow_layer < full_layer, costs


@pytest.mark.slow
def test_search_windows_accuracy_and_cycles(tmp_path):
    """At 64 tokens (candidates 32 .. 2): the windows keep the target on the search set, the held-out accuracy
    is reported, the curve's attention cycles fall with the window (cycle model), and the six windowed layers
    run on the RTL bit-exact (run_layers checks every output value), cycles within 1% of the model."""
    r = _rebert(tmp_path, "--seq", "64", "--target", "0.98")
    assert len(r["windows"]) == 6 and r["cosine_search"] >= 0.98
    assert 0 < r["cosine_heldout"] <= 1 and any(w is not None for w in r["windows"])
    assert [p["window"] for p in r["curve"]] == [None, 32, 16, 8, 4, 2]
    att = [p["attention_cycles"] for p in r["curve"]]
    assert att == sorted(att, reverse=True) and att[0] == r["attention_cycles_full"] > att[-1]
    rtl = r["rtl_checked"]
    assert rtl["bit_exact"] and abs(rtl["cycles_model"] - rtl["cycles_rtl"]) <= 0.01 * rtl["cycles_rtl"]


def test_bad_target_is_one_line(capsys):
    assert main(["rebert", "--target", "1.5"]) == 2
    assert "--target must be a cosine in (0, 1], not 1.5" in capsys.readouterr().err
