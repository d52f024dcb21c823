"""Integer-only MiniLM encoder: post-training quantization (I-BERT style) and the integer forward pass.

Quantization happens once, in float, in :func:`quantize_model`: weights are symmetric int8 per output channel,
activations get static per-tensor scales calibrated on ``data/calibration.txt``, and every scale-dependent
constant (dyadic multipliers, polynomial coefficients, shifts) is computed here: these are the numbers the
hardware receives in its configuration commands. The run-time path, :meth:`IntLayer.forward`, uses integer NumPy
arrays only.

What stays in float: the embeddings and their LayerNorm run in float and are quantized at the encoder's input;
the final mean pooling dequantizes the last hidden states. Everything between is integer.

One layer (``h``: hidden states, ``hidden_bits`` wide; ``acc``: int32 accumulator values)::

    q, k, v  = requant(linear(h, Wq/Wk/Wv))           per-channel dyadics -> qkv_bits
    scores   = q_h @ k_h^T                            per head, int32, scale s_q s_k / sqrt(d_head)
    probs    = i_softmax(scores)                      uint8, scale 1/256
    context  = requant(probs @ v_h)                   -> ctx_bits
    attn_out = linear(context, Wo)                    int32
    residual1= residual_add(attn_out, h)              -> residual_bits (22)
    ln1      = i_layernorm(residual1)                 -> hidden_bits
    gelu_in  = requant(linear(ln1, W1))               -> gelu_in_bits
    gelu     = i_gelu(gelu_in)                        -> gelu_bits
    ffn2     = linear(gelu, W2)                       int32
    residual2= residual_add(ffn2, ln1)                -> residual_bits
    output   = i_layernorm(residual2)                 -> hidden_bits
"""
from dataclasses import dataclass, field
import functools
import math
import pathlib

import numpy as np

from .config import check_exp_impl
from .gelu import GeluConstants, i_gelu
from .layernorm import LayerNormConstants, i_layernorm
from .matmul import matmul
from .numerics import Dyadic, int_range, requantize
from .ops import ACC_BITS, ResidualConstants, linear, residual_add
from .softmax import OUT_BITS as PROB_BITS, SoftmaxConstants, i_softmax, window_mask

__all__ = ["tokens_of_length", "QuantSpec", "QuantLinear", "IntLayer", "IntEncoder", "quantize_model",
           "quantized_encoder", "minilm_encoder", "read_sentences"]

DATA = pathlib.Path(__file__).parent / "data"


def read_sentences(name):
    """Sentences of ``data/<name>.txt`` (``calibration`` or ``evaluation``), comments skipped."""
    lines = (DATA / f"{name}.txt").read_text().splitlines()
    return [s.strip() for s in lines if s.strip() and not s.startswith("#")]


def tokens_of_length(model, n):
    """``n`` real token ids ([CLS] ... [SEP]) taken from the evaluation sentences run together (and repeated
    where ``n`` is longer than the text)."""
    if not isinstance(n, int) or not 2 <= n <= model.max_tokens:
        raise ValueError(f"tokens must be an integer in 2..{model.max_tokens} for {model.name}, not {n!r}")
    ids = model.tokenizer.encode(" ".join(read_sentences("evaluation"))).ids
    body = np.tile(ids[1:-1], -(-(n - 2) // (len(ids) - 2)))
    return np.asarray([ids[0], *body[:n - 2], ids[-1]], dtype=np.int64)


@dataclass(frozen=True)
class QuantSpec:
    """Bit widths of the integer encoder's tensors (all signed) and the calibration rule.

    The defaults follow ../shared/QUANTIZATION.md: int8 everywhere loses too much on this model; the LayerNorm
    outputs (which feed every linear and the residual path) and the GELU output need more bits. K and V are the
    array's stationary operand, so they are int8 like the weights.
    """
    hidden_bits: int = 12
    qkv_bits: int = 8
    ctx_bits: int = 8
    gelu_in_bits: int = 16
    gelu_bits: int = 12
    residual_bits: int = 22
    percentile: float = 100.0
    #: The softmax's exp (``golden.softmax.EXP_IMPLS``): an accelerator built with the same
    #: ``AcceleratorConfig.exp_impl`` runs the model.
    exp_impl: str = "poly"

    def __post_init__(self):
        for name in ("hidden_bits", "qkv_bits", "ctx_bits", "gelu_in_bits", "gelu_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 4 <= v <= 16:
                raise ValueError(f"{name} must be an integer in [4, 16], not {v!r}")
        if not isinstance(self.residual_bits, int) or not 16 <= self.residual_bits <= 24:
            raise ValueError(f"residual_bits must be an integer in [16, 24], not {self.residual_bits!r}")
        if not 90.0 <= self.percentile <= 100.0:
            raise ValueError(f"percentile must be in [90, 100], not {self.percentile!r}")
        check_exp_impl(self.exp_impl)

    @property
    def activation_width(self):
        """Signed width the array's activation operand needs for this model (probabilities are uint8)."""
        return max(self.hidden_bits, self.qkv_bits, self.ctx_bits, self.gelu_bits, PROB_BITS + 1)

    def scale(self, values, bits):
        """Symmetric scale of a calibrated tensor: its |max| (or percentile) over the largest code."""
        a = np.abs(np.asarray(values, dtype=np.float64)).ravel()
        top = float(np.percentile(a, self.percentile)) if self.percentile < 100 else float(a.max())
        return max(top, 1e-12) / int_range(bits)[1]


@dataclass(frozen=True)
class QuantLinear:
    """An int8 linear layer, stored transposed for the array: ``w_t`` is (in, out) int8, ``bias`` int32.

    ``s_w`` holds the per-output-channel weight scales; ``s_in`` the input's scale (for the bias).
    """
    w_t: np.ndarray
    bias: np.ndarray
    s_w: np.ndarray
    s_in: float

    @classmethod
    def quantize(cls, w, b, s_in):
        s_w = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
        w_int = np.clip(np.round(w / s_w[:, None]), -127, 127).astype(np.int64)
        b_int = np.round(b / (s_in * s_w)).astype(np.int64)
        lo, hi = int_range(ACC_BITS)
        if b_int.min() < lo or b_int.max() > hi:
            raise ValueError(f"bias does not fit {ACC_BITS} bits at input scale {s_in!r}")
        return cls(np.ascontiguousarray(w_int.T), b_int, s_w, s_in)

    @property
    def s_acc(self):
        """Per-channel scale of the accumulator: ``s_in * s_w``."""
        return self.s_in * self.s_w

    def __call__(self, x, x_bits):
        return linear(x, self.w_t, self.bias, x_bits=x_bits)


@dataclass
class IntLayer:
    """One quantized encoder layer: integer weights, and the constants of every op (see module doc)."""
    spec: QuantSpec
    heads: int
    scales: dict                       # float scales, for dequantization and reports only
    wq: QuantLinear
    wk: QuantLinear
    wv: QuantLinear
    wo: QuantLinear
    w1: QuantLinear
    w2: QuantLinear
    q_out: Dyadic
    k_out: Dyadic
    v_out: Dyadic
    softmax: SoftmaxConstants
    ctx_out: Dyadic
    res1: ResidualConstants
    ln1: LayerNormConstants
    gelu_in: Dyadic
    gelu: GeluConstants
    res2: ResidualConstants
    ln2: LayerNormConstants

    def constants(self):
        """Every op's run-time constants by op name (what the hardware's configuration commands carry)."""
        return {"q": self.q_out, "k": self.k_out, "v": self.v_out, "softmax": self.softmax,
                "context": self.ctx_out, "residual1": self.res1, "ln1": self.ln1, "gelu_in": self.gelu_in,
                "gelu": self.gelu, "residual2": self.res2, "ln2": self.ln2}

    def forward(self, h, dump=None, window=None):
        """Integer forward of hidden states ``h`` (tokens, hidden), ``hidden_bits`` wide.

        ``dump``, a dict, receives every intermediate integer tensor (accumulators included) under the names of
        the module doc, plus ``constants``. ``window``: ReBERT's windowed attention
        (``golden.softmax.window_mask``); None, full attention.
        """
        sp = self.spec
        t = h.shape[0]
        dh = self.wq.w_t.shape[1] // self.heads     # heads x dh may be narrower than hidden (pruned heads)
        acc_q, acc_k, acc_v = self.wq(h, sp.hidden_bits), self.wk(h, sp.hidden_bits), self.wv(h, sp.hidden_bits)
        q = requantize(acc_q, self.q_out, sp.qkv_bits)
        k = requantize(acc_k, self.k_out, sp.qkv_bits)
        v = requantize(acc_v, self.v_out, sp.qkv_bits)
        split = lambda x: x.reshape(t, self.heads, dh).transpose(1, 0, 2)
        qh, kh, vh = split(q), split(k), split(v)
        scores = np.stack([matmul(qh[i], kh[i].T, a_bits=sp.qkv_bits) for i in range(self.heads)])
        sm = {} if dump is not None else None
        probs = i_softmax(scores, self.softmax, sm, mask=None if window is None else window_mask(t, window))
        acc_ctx = np.stack([matmul(probs[i], vh[i], a_bits=PROB_BITS + 1) for i in range(self.heads)])
        ctx = requantize(acc_ctx, self.ctx_out, sp.ctx_bits).transpose(1, 0, 2).reshape(t, self.heads * dh)
        attn = self.wo(ctx, sp.ctx_bits)
        r1 = residual_add(attn, h, self.res1)
        ln1d = {} if dump is not None else None
        h1 = i_layernorm(r1, self.ln1, ln1d)
        acc_f1 = self.w1(h1, sp.hidden_bits)
        g_in = requantize(acc_f1, self.gelu_in, sp.gelu_in_bits)
        g = i_gelu(g_in, self.gelu)
        f2 = self.w2(g, sp.gelu_bits)
        r2 = residual_add(f2, h1, self.res2)
        ln2d = {} if dump is not None else None
        out = i_layernorm(r2, self.ln2, ln2d)
        if dump is not None:
            dump.update(input=h, acc_q=acc_q, acc_k=acc_k, acc_v=acc_v, q=q, k=k, v=v, scores=scores,
                        probs=probs, acc_context=acc_ctx, context=ctx, attn_out=attn, residual1=r1, ln1=h1,
                        ffn1=acc_f1, gelu_in=g_in, gelu=g, ffn2=f2, residual2=r2, ln2=out,
                        softmax_stats=sm, ln1_stats=ln1d, ln2_stats=ln2d, constants=self.constants())
        return out

    def dequantize(self, name, x):
        """Real values of integer tensor ``name`` (a dump key with a per-tensor or per-channel scale)."""
        return np.asarray(x, dtype=np.float64) * self.scales[name]


@dataclass
class IntEncoder:
    """The quantized model: float embeddings quantized at ``s_input``, then integer layers."""
    model: object
    spec: QuantSpec
    s_input: float
    layers: list = field(default_factory=list)

    def quantize_input(self, x):
        """Float embeddings -> ``hidden_bits`` integers (the encoder's only float-to-int step)."""
        lo, hi = int_range(self.spec.hidden_bits)
        return np.clip(np.round(x / self.s_input), lo, hi).astype(np.int64)

    def forward(self, ids, n_layers=None, dumps=None, windows=None):
        """Integer hidden states after each layer (a list; the first is the quantized embedding). ``windows``:
        each layer's attention window (None in the list or for the whole: full attention)."""
        n_layers = len(self.layers) if n_layers is None else n_layers
        windows = [None] * n_layers if windows is None else list(windows)
        if len(windows) < n_layers:
            raise ValueError(f"{len(windows)} windows for {n_layers} layers")
        hs = [self.quantize_input(self.model.embed(ids))]
        for layer, w in zip(self.layers[:n_layers], windows):
            d = {} if dumps is not None else None
            hs.append(layer.forward(hs[-1], d, window=w))
            if dumps is not None:
                dumps.append(d)
        return hs

    def hidden_scale(self, i):
        """Scale of the hidden states after ``i`` layers (0: the quantized embedding)."""
        return self.s_input if i == 0 else self.layers[i - 1].scales["ln2"]

    def sentence_embedding(self, ids, windows=None):
        hs = self.forward(ids, windows=windows)
        return hs[-1].mean(axis=0) * self.hidden_scale(len(self.layers))


def _calibrate(model, sentences, spec, n_layers):
    """Float traces of the first ``n_layers`` layers over the calibration sentences: per layer, tensor name ->
    scale."""
    per_layer = [dict() for _ in range(n_layers)]
    emb = []
    for s in sentences:
        trace = []
        hs = model.forward(model.tokenize(s), n_layers, trace=trace)
        emb.append(hs[0])
        for i, t in enumerate(trace):
            for name, v in t.items():
                per_layer[i].setdefault(name, []).append(np.abs(v).ravel())
    widths = {"q": spec.qkv_bits, "k": spec.qkv_bits, "v": spec.qkv_bits, "context": spec.ctx_bits,
              "residual1": spec.residual_bits, "ln1": spec.hidden_bits, "ffn1": spec.gelu_in_bits,
              "gelu": spec.gelu_bits, "residual2": spec.residual_bits, "ln2": spec.hidden_bits}
    scales = [{n: spec.scale(np.concatenate(layer[n]), b) for n, b in widths.items()} for layer in per_layer]
    return spec.scale(np.concatenate([np.abs(e).ravel() for e in emb]), spec.hidden_bits), scales


def quantize_layer(lw, heads, s_h, sc, spec):
    """Quantize one layer's weights and compute its constants, given its input scale and calibrated scales."""
    dh = lw.wq.shape[0] // heads
    wq, wk, wv = (QuantLinear.quantize(w, b, s_h) for w, b in ((lw.wq, lw.bq), (lw.wk, lw.bk), (lw.wv, lw.bv)))
    s_scores = sc["q"] * sc["k"] / math.sqrt(dh)
    s_probs = 2.0 ** -PROB_BITS
    wo = QuantLinear.quantize(lw.wo, lw.bo, sc["context"])
    w1 = QuantLinear.quantize(lw.w1, lw.b1, sc["ln1"])
    w2 = QuantLinear.quantize(lw.w2, lw.b2, sc["gelu"])
    scales = dict(sc, input=s_h, scores=s_scores, probs=s_probs, acc_q=wq.s_acc, acc_k=wk.s_acc,
                  acc_v=wv.s_acc, acc_context=s_probs * sc["v"], attn_out=wo.s_acc, ffn1=w1.s_acc,
                  gelu_in=sc["ffn1"], ffn2=w2.s_acc)
    return IntLayer(
        spec=spec, heads=heads, scales=scales, wq=wq, wk=wk, wv=wv, wo=wo, w1=w1, w2=w2,
        q_out=Dyadic.from_ratio(wq.s_acc / sc["q"]),
        k_out=Dyadic.from_ratio(wk.s_acc / sc["k"]),
        v_out=Dyadic.from_ratio(wv.s_acc / sc["v"]),
        softmax=SoftmaxConstants.from_scale(s_scores, ACC_BITS, impl=spec.exp_impl),
        ctx_out=Dyadic.from_ratio(s_probs * sc["v"] / sc["context"]),
        res1=ResidualConstants.from_scales(wo.s_acc, s_h, sc["residual1"], spec.residual_bits),
        ln1=LayerNormConstants.from_params(lw.ln1_g, lw.ln1_b, sc["ln1"], spec.residual_bits, spec.hidden_bits),
        gelu_in=Dyadic.from_ratio(w1.s_acc / sc["ffn1"]),
        gelu=GeluConstants.from_scales(sc["ffn1"], sc["gelu"], spec.gelu_in_bits, spec.gelu_bits),
        res2=ResidualConstants.from_scales(w2.s_acc, sc["ln1"], sc["residual2"], spec.residual_bits),
        ln2=LayerNormConstants.from_params(lw.ln2_g, lw.ln2_b, sc["ln2"], spec.residual_bits, spec.hidden_bits),
    )


def quantize_model(model, spec=QuantSpec(), sentences=None, progress=None, n_layers=None):
    """Post-training quantization of ``model`` (a :class:`golden.model.Bert`), its first ``n_layers`` layers
    (default all): an :class:`IntEncoder`."""
    n_layers = model.n_layers if n_layers is None else n_layers
    if not isinstance(n_layers, int) or not 1 <= n_layers <= model.n_layers:
        raise ValueError(f"layers must be an integer in 1..{model.n_layers} for {model.name}, not {n_layers!r}")
    sentences = read_sentences("calibration") if sentences is None else sentences
    if progress:
        progress(f"calibrating {model.name}'s {n_layers} layer(s) on {len(sentences)} sentences")
    s_in, scales = _calibrate(model, sentences, spec, n_layers)
    enc = IntEncoder(model, spec, s_in)
    s_h = s_in
    for i, lw in enumerate(model.layers[:n_layers]):
        enc.layers.append(quantize_layer(lw, model.layer_heads[i], s_h, scales[i], spec))
        s_h = scales[i]["ln2"]
    return enc


@functools.lru_cache(maxsize=4)
def quantized_encoder(model="minilm", spec=QuantSpec(), n_layers=None):
    """``golden.model.load_model(model)``'s first ``n_layers`` layers (default all) quantized with ``spec`` on
    the built-in calibration set, once per process."""
    from .model import load_model
    return quantize_model(load_model(model), spec, n_layers=n_layers)


def minilm_encoder(spec=QuantSpec()):
    """all-MiniLM-L6-v2 quantized with ``spec`` on the built-in calibration set, once per process."""
    return quantized_encoder("minilm", spec)
