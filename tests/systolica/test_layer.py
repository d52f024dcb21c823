"""Real all-MiniLM-L6-v2 layers compiled to a program and run on the whole RTL accelerator (fast harness):
every output value equal to golden/'s integer encoder."""
import numpy as np
import pytest

from compiler import Options
from golden.encoder import tokens_of_length
from golden.encoder import minilm_encoder, quantized_encoder
from golden.config import AcceleratorConfig, preset
from systolica.run import run_layers


@pytest.fixture(scope="module")
def enc():
    return minilm_encoder()


def _cfg(enc):
    return AcceleratorConfig(dim=16, input_width=enc.spec.activation_width)


@pytest.mark.parametrize("where", ["ulx3s-85f", pytest.param("dim16", marks=pytest.mark.slow)])
def test_one_layer_seq32_bit_exact(enc, where, tmp_path):
    """At the board preset (DIM 8, its small memories) in `make test`, at the default DIM 16 in `make test-all`;
    the schedule the compiler chooses; its timeline (RTL trace beside the model) drawn."""
    from systolica.timeline import draw
    cfg = _cfg(enc) if where == "dim16" else preset(where)
    res = run_layers(enc, cfg, tokens_of_length(enc.model, 32), 1, None, print, optimize=False,
                     trace=tmp_path / "run.trace")
    assert res["candidates"] and res["schedule"] == res["candidates"][0]["schedule"]
    (starts, ends), (m_starts, m_ends) = res["times"]["RTL"], res["times"]["model"]
    assert None not in starts[:-1] and None not in ends[:-1]           # every instruction but HALT traced
    assert abs(max(ends[:-1]) - res["cycles"]) <= 0.001 * res["cycles"], (max(ends[:-1]), res["cycles"])
    draw(res["instrs"], res["times"], cfg.dim, tmp_path / "timeline.png", "test")
    assert (tmp_path / "timeline.png").stat().st_size > 10_000
    assert res["mac_cycles"] == res["ideal_cycles"]          # every MAC the layer needs, once
    # the program-level cycle model (golden.program_cycles) predicts the whole layer within 1%
    assert abs(res["model_cycles"] - res["cycles"]) <= 0.01 * res["cycles"], (res["model_cycles"], res["cycles"])


@pytest.mark.slow
@pytest.mark.parametrize("seq, where", [(64, "dim16"), (256, "bert-base"), (128, "dim32")])
def test_held_out_configurations(enc, seq, where):
    """Lengths and a DIM the program cycle model was not fitted on (MiniLM layer 0 at 32 and 128 tokens, DIM 16):
    bit-exact, the model within 1%, with the schedule the compiler chooses (256 tokens need the bert-base
    preset's scratchpad)."""
    cfg = {"dim16": _cfg(enc), "dim32": _cfg(enc).replace(dim=32)}.get(where) or preset(where)
    res = run_layers(enc, cfg, tokens_of_length(enc.model, seq), 1, None, print, optimize=False)
    assert abs(res["model_cycles"] - res["cycles"]) <= 0.01 * res["cycles"], (res["model_cycles"], res["cycles"])


@pytest.mark.slow
def test_six_layers_seq128_embedding_equals_golden(enc):
    ids = tokens_of_length(enc.model, 128)
    res = run_layers(enc, _cfg(enc), ids, 6, Options(), print, optimize=False)
    assert np.array_equal(res["embedding"], enc.sentence_embedding(ids))


@pytest.mark.slow
@pytest.mark.parametrize("options", [Options(fuse_qk_softmax=False), Options(fuse_ffn2_layernorm=True)],
                         ids=["qk-unfused", "ffn2-ln-fused"])
def test_schedule_options_bit_exact(enc, options):
    run_layers(enc, _cfg(enc), tokens_of_length(enc.model, 32), 1, options, print)


@pytest.mark.parametrize("seq", [128, pytest.param(512, marks=pytest.mark.slow)])
def test_bert_base_layer_bit_exact(seq):
    """A BERT-base-shaped layer (seeded random weights) at the ``bert-base`` preset: every output value equal to
    golden/'s, every MAC once."""
    enc = quantized_encoder("bert-base-random", n_layers=1)
    res = run_layers(enc, preset("bert-base"), tokens_of_length(enc.model, seq), 1, Options(), print,
                     optimize=False)
    assert res["mac_cycles"] == res["ideal_cycles"]
    # a held-out shape for the program cycle model (fitted on MiniLM layer 0 only)
    assert abs(res["model_cycles"] - res["cycles"]) <= 0.01 * res["cycles"], (res["model_cycles"], res["cycles"])


def test_windowed_layer_bit_exact(enc):
    """ReBERT's windowed attention on the RTL (band tiling, the softmax's hardware mask) at the board preset:
    every output value equal to golden/'s windowed layer, every MAC of the bands once, the model within 1%."""
    cfg = preset("ulx3s-85f")
    res = run_layers(enc, cfg, tokens_of_length(enc.model, 32), 1, None, print, optimize=False, windows=[3])
    assert res["windows"] == [3] and res["mac_cycles"] == res["ideal_cycles"]
    assert abs(res["model_cycles"] - res["cycles"]) <= 0.01 * res["cycles"], (res["model_cycles"], res["cycles"])


@pytest.mark.slow
def test_split_lut_exp_layer_bit_exact():
    """ReBERT's split-LUT exponent (exp_impl "lut") through a whole MiniLM layer quantized with it, on the RTL at
    the board preset: bit-exact, the model within 1%."""
    from golden.encoder import QuantSpec
    enc = quantized_encoder("minilm", QuantSpec(exp_impl="lut"))
    cfg = preset("ulx3s-85f", exp_impl="lut")
    res = run_layers(enc, cfg, tokens_of_length(enc.model, 32), 1, None, print, optimize=False)
    assert res["mac_cycles"] == res["ideal_cycles"]
    assert abs(res["model_cycles"] - res["cycles"]) <= 0.01 * res["cycles"], (res["model_cycles"], res["cycles"])
