"""The integer encoder on the real model: accuracy targets, dumps, and the `systolica golden` command."""
import json

import numpy as np
import pytest

from golden.encoder import QuantSpec, minilm_encoder, read_sentences
from golden.evaluate import compare
from golden.gelu import i_gelu
from golden.layernorm import i_layernorm
from golden.numerics import requantize
from golden.ops import residual_add
from golden.softmax import i_softmax
from systolica.cli import main


@pytest.fixture(scope="module")
def enc():
    return minilm_encoder()


def test_calibration_and_evaluation_sentences_are_disjoint():
    cal, ev = read_sentences("calibration"), read_sentences("evaluation")
    assert len(ev) >= 30 and len(cal) >= 20 and not set(cal) & set(ev)


def test_integer_embeddings_meet_the_accuracy_target(enc):
    cos = np.array([compare(enc.model, enc, s)["cosine"] for s in read_sentences("evaluation")])
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, (cos.mean(), cos.min())


def test_spec_defaults_and_activation_width():
    spec = QuantSpec()
    assert spec.activation_width == 12
    with pytest.raises(ValueError, match="hidden_bits"):
        QuantSpec(hidden_bits=40)


def test_dump_holds_every_tensor_and_ops_recompute_from_it(enc):
    dumps = []
    hs = enc.forward(enc.model.tokenize("A short test of the layer dumps."), n_layers=1, dumps=dumps)
    d, layer = dumps[0], enc.layers[0]
    for name in ("q", "k", "v", "scores", "probs", "context", "attn_out", "residual1", "ln1", "ffn1", "gelu_in",
                 "gelu", "ffn2", "residual2", "ln2", "constants"):
        assert name in d
    assert all(v.dtype == np.int64 for k, v in d.items() if isinstance(v, np.ndarray))
    c = d["constants"]
    assert np.array_equal(i_softmax(d["scores"], c["softmax"]), d["probs"])
    assert np.array_equal(requantize(d["acc_q"], c["q"], 8), d["q"])
    assert np.array_equal(residual_add(d["attn_out"], d["input"], c["residual1"]), d["residual1"])
    assert np.array_equal(i_layernorm(d["residual1"], c["ln1"]), d["ln1"])
    assert np.array_equal(i_gelu(d["gelu_in"], c["gelu"]), d["gelu"])
    assert np.array_equal(hs[1], d["ln2"])
    assert d["probs"].max() <= 255 and np.abs(d["ln2"]).max() < 2**11


def test_cli_json_prints_one_object_per_sentence(capsys):
    assert main(["golden", "--json", "Integer arithmetic is exact.", "So is this sentence."]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    r = json.loads(lines[0])
    assert r["sentence"] == "Integer arithmetic is exact." and r["token_ids"][0] == 101
    assert len(r["float_embedding"]) == len(r["int_embedding"]) == 384 and len(r["layers"]) == 6
    assert r["cosine"] > 0.99


def test_cli_rejects_empty_sentence(capsys):
    assert main(["golden", "  "]) == 2
    assert "sentence must be a non-empty string" in capsys.readouterr().err
