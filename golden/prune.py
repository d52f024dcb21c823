"""Structured pruning of a BERT encoder's float weights (:class:`golden.model.Bert`), before quantization.

A :class:`Variant` keeps the first ``layers`` layers and, in each kept layer ``i``, ``heads[i]`` attention heads
and ``ffn[i]`` FFN neurons; ``windows[i]`` is the layer's ReBERT attention window (None: full attention), applied
at run time, not to the weights. :func:`prune` is a real transformation of the weights, without fine-tuning (none
is possible on these machines):

- a head removed takes its rows out of Q, K and V (weights and biases) and its columns out of the output
  projection Wo; the heads kept are those with the largest ``||Wv_h||_F * ||Wo_h||_F``, the magnitude of the path
  a head's values take to the layer's output (the head's Q and K only weight that path);
- an FFN neuron removed takes its row out of W1 and b1 and its column out of W2; the neurons kept are those with
  the largest ``||W1_j||_2 * ||W2_j||_2`` (weight magnitude, as the issue asks: no data).

The pruned model is a :class:`Bert` like any other (Hugging Face's ``pruned_heads`` records the heads removed,
and each layer's FFN width is its weights'): ``golden.encoder.quantize_model`` calibrates and quantizes it, the
compiler compiles it (a plan for the largest layer, each layer emitted with its own shape) and the RTL runs it.
"""
from dataclasses import dataclass
import json

import numpy as np

from .model import Bert, LayerWeights

__all__ = ["Variant", "head_order", "neuron_order", "prune"]


@dataclass(frozen=True)
class Variant:
    """A pruned model: ``heads``, ``ffn`` and ``windows`` have one entry per kept layer (the first
    ``len(heads)`` layers of the model)."""
    heads: tuple
    ffn: tuple
    windows: tuple

    def __post_init__(self):
        for name in ("heads", "ffn", "windows"):
            v = getattr(self, name)
            if not isinstance(v, tuple):
                object.__setattr__(self, name, tuple(v))
        n = len(self.heads)
        if n < 1 or len(self.ffn) != n or len(self.windows) != n:
            raise ValueError(f"a variant needs one head count, FFN width and window per layer, not heads="
                             f"{list(self.heads)}, ffn={list(self.ffn)}, windows={list(self.windows)}")
        for name in ("heads", "ffn"):
            for v in getattr(self, name):
                if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                    raise ValueError(f"{name} must be positive integers, not {list(getattr(self, name))}")
        for w in self.windows:
            if w is not None and (not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 1):
                raise ValueError(f"windows must be positive integers or None, not {list(self.windows)}")

    @classmethod
    def uniform(cls, layers, heads, ffn, window=None):
        return cls((heads,) * layers, (ffn,) * layers, (window,) * layers)

    @classmethod
    def full(cls, model):
        """The unpruned model: every layer, head and neuron, full attention."""
        return cls(tuple(model.layer_heads), tuple(lw.w1.shape[0] for lw in model.layers),
                   (None,) * model.n_layers)

    @property
    def layers(self):
        return len(self.heads)

    def check(self, model):
        """ValueError naming the first entry ``model`` cannot provide."""
        if self.layers > model.n_layers:
            raise ValueError(f"{self.layers} layers kept, but {model.name} has {model.n_layers}")
        for i, (h, f) in enumerate(zip(self.heads, self.ffn)):
            if h > model.layer_heads[i]:
                raise ValueError(f"layer {i}: {h} heads kept, but it has {model.layer_heads[i]}")
            if f > model.layers[i].w1.shape[0]:
                raise ValueError(f"layer {i}: FFN width {f}, but it has {model.layers[i].w1.shape[0]}")

    def to_dict(self):
        return {"layers": self.layers, "heads": list(self.heads), "ffn": list(self.ffn),
                "windows": list(self.windows)}

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["heads"]), tuple(d["ffn"]), tuple(d["windows"]))

    def key(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    def label(self):
        """``L6 H12 F1536 Wfull`` (uniform) or the per-layer lists."""
        def one(name, vs):
            vs = ["full" if v is None else v for v in vs]
            return f"{name}{vs[0]}" if len(set(vs)) == 1 else f"{name}{'/'.join(map(str, vs))}"
        return f"L{self.layers} {one('H', self.heads)} {one('F', self.ffn)} {one('W', self.windows)}"


def head_order(lw, heads, head_dim):
    """The layer's heads, most important first: by ``||Wv_h||_F * ||Wo_h||_F`` (ties: lower index first)."""
    v = lw.wv.reshape(heads, head_dim, -1)
    o = lw.wo.reshape(lw.wo.shape[0], heads, head_dim)
    score = np.linalg.norm(v, axis=(1, 2)) * np.linalg.norm(o, axis=(0, 2))
    return list(np.argsort(-score, kind="stable"))


def neuron_order(lw):
    """The layer's FFN neurons, most important first: by ``||W1_j||_2 * ||W2_j||_2`` (ties: lower index first)."""
    score = np.linalg.norm(lw.w1, axis=1) * np.linalg.norm(lw.w2, axis=0)
    return list(np.argsort(-score, kind="stable"))


def _prune_layer(lw, heads, head_dim, keep_heads, keep_ffn):
    hs = sorted(int(h) for h in head_order(lw, heads, head_dim)[:keep_heads])
    rows = np.concatenate([np.arange(h * head_dim, (h + 1) * head_dim) for h in hs])
    js = np.sort(neuron_order(lw)[:keep_ffn])
    kept = LayerWeights(
        wq=lw.wq[rows], bq=lw.bq[rows], wk=lw.wk[rows], bk=lw.bk[rows], wv=lw.wv[rows], bv=lw.bv[rows],
        wo=lw.wo[:, rows], bo=lw.bo, ln1_g=lw.ln1_g, ln1_b=lw.ln1_b,
        w1=lw.w1[js], b1=lw.b1[js], w2=lw.w2[:, js], b2=lw.b2, ln2_g=lw.ln2_g, ln2_b=lw.ln2_b)
    return kept, [h for h in range(heads) if h not in hs]


def prune(model, variant):
    """``model`` (unpruned) pruned to ``variant``: a new :class:`Bert` sharing the embeddings and tokenizer."""
    if model.pruned_heads or any(lw.w1.shape[0] != model.ffn for lw in model.layers[:variant.layers]):
        raise ValueError(f"{model.name} is already pruned: prune the original model")
    variant.check(model)
    layers, pruned = [], {}
    for i in range(variant.layers):
        lw, removed = _prune_layer(model.layers[i], model.heads, model.head_dim, variant.heads[i], variant.ffn[i])
        layers.append(lw)
        if removed:
            pruned[str(i)] = removed
    config = {"hidden_size": model.hidden, "num_attention_heads": model.heads, "intermediate_size": model.ffn,
              "num_hidden_layers": variant.layers, "layer_norm_eps": model.eps,
              "max_position_embeddings": model.max_tokens, "pruned_heads": pruned}
    emb = {"word": model.word_emb, "position": model.pos_emb, "token_type": model.type_emb, "ln": model.emb_ln}
    return Bert(f"{model.name} [{variant.label()}]", config, emb, layers, model.tokenizer, model.truncate)
