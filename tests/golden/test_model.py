"""The BERT-family loader (golden.model): Hugging Face checkpoint directories, all-MiniLM-L6-v2 through the same
path, the seeded bert-base-random, and clear errors for what it cannot run."""
import json

import numpy as np
import pytest

from golden.encoder import quantize_model, tokens_of_length
from golden.model import Bert, load_model, random_bert


@pytest.fixture(scope="module")
def tiny():
    return random_bert(seed=3, hidden=64, heads=4, ffn=128, layers=2, max_tokens=40)


def test_checkpoint_round_trip(tiny, tmp_path):
    """A model saved as a checkpoint directory loads back with the same shape and (float32) weights, and
    computes the same hidden states."""
    tiny.save(tmp_path)
    back = Bert.from_dir(tmp_path)
    assert (back.hidden, back.heads, back.ffn, back.n_layers, back.max_tokens) == (64, 4, 128, 2, 40)
    ids = tokens_of_length(tiny, 40)
    want, got = tiny.forward(ids)[-1], back.forward(ids)[-1]
    assert np.allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    assert np.allclose(back.layers[1].w1, tiny.layers[1].w1, rtol=1e-7, atol=0)


def test_task_checkpoint_prefix(tiny, tmp_path):
    """A task model's tensors (``bert.`` prefix, extra heads) load as the encoder."""
    from safetensors.numpy import load_file, save_file
    tiny.save(tmp_path)
    t = load_file(str(tmp_path / "model.safetensors"))
    t = {f"bert.{k}": v for k, v in t.items()} | {"cls.predictions.bias": np.zeros(3, np.float32)}
    save_file(t, str(tmp_path / "model.safetensors"))
    assert np.array_equal(Bert.from_dir(tmp_path).layers[0].wq, tiny.layers[0].wq.astype(np.float32))


@pytest.mark.parametrize("edit, message", [
    (lambda d: (d / "tokenizer.json").unlink(), "has no tokenizer.json"),
    (lambda d: _config(d, hidden_act="gelu_new"), "hidden_act must be 'gelu'"),
    (lambda d: _config(d, model_type="roberta"), "model_type must be 'bert', not 'roberta'"),
    (lambda d: _config(d, num_attention_heads=5), "not a multiple of num_attention_heads 5"),
    (lambda d: _config(d, num_hidden_layers=3), "has no tensor 'encoder.layer.2.attention.self.query.weight'"),
])
def test_bad_checkpoint_names_the_problem(tiny, tmp_path, edit, message):
    tiny.save(tmp_path)
    edit(tmp_path)
    with pytest.raises(ValueError, match=message):
        Bert.from_dir(tmp_path)


def _config(path, **kw):
    c = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps(c | kw))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="model must be one of minilm, bert-base-random or a checkpoint "
                                         "directory, not 'bert-large'"):
        load_model("bert-large")


def test_minilm_is_a_checkpoint_directory():
    m = load_model("minilm")
    assert (m.hidden, m.heads, m.ffn, m.n_layers) == (384, 12, 1536, 6)
    assert (m.truncate, m.max_tokens) == (256, 512)       # sentence-transformers' max_seq_length; positions
    long = " ".join(["word"] * 400)
    assert len(m.tokenize(long)) == 256 and m.tokenize(long)[-1] == m.tokenize("word")[-1]


def test_tokens_up_to_the_positions():
    m = load_model("minilm")
    ids = tokens_of_length(m, 512)
    assert len(ids) == 512 and ids[0] == 101 and ids[-1] == 102
    assert np.array_equal(ids[:127], tokens_of_length(m, 128)[:127])
    with pytest.raises(ValueError, match="tokens must be an integer in 2..512"):
        tokens_of_length(m, 513)


def test_bert_base_random_is_seeded_and_bert_base_shaped():
    a, b = random_bert(), random_bert()
    assert a.name == "bert-base-random"
    assert (a.hidden, a.heads, a.ffn, a.n_layers, a.max_tokens) == (768, 12, 3072, 12, 512)
    assert np.array_equal(a.layers[11].w2, b.layers[11].w2) and not np.array_equal(a.layers[0].wq, a.layers[1].wq)
    assert np.array_equal(a.word_emb[[5, 7]][1], b.word_emb[7])
    assert abs(a.layers[0].w1.std() - 0.02) < 1e-3


def test_quantize_first_layers_only(tiny):
    enc = quantize_model(tiny, n_layers=1)
    assert len(enc.layers) == 1
    with pytest.raises(ValueError, match="layers must be an integer in 1..2"):
        quantize_model(tiny, n_layers=3)
