"""Accuracy of the integer encoder against the float reference: per sentence, per layer and per op."""
import numpy as np

from .model import float_encoder_layer

__all__ = ["cosine", "rel_error", "compare", "op_errors", "OP_TENSORS"]

#: Integer dump tensor -> float trace tensor it approximates (same shape, after dequantization).
OP_TENSORS = {
    "q": "q", "k": "k", "v": "v", "scores": "scores", "probs": "probs", "context": "context",
    "attn_out": "attn_out", "residual1": "residual1", "ln1": "ln1", "gelu_in": "ffn1", "gelu": "gelu",
    "ffn2": "ffn2", "residual2": "residual2", "ln2": "ln2",
}


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


def rel_error(approx, exact):
    """``||approx - exact|| / ||exact||`` (Frobenius)."""
    exact = np.asarray(exact, dtype=np.float64)
    return float(np.linalg.norm(np.asarray(approx) - exact) / (np.linalg.norm(exact) + 1e-300))


def compare(model, enc, sentence):
    """Float vs integer run of one sentence: embeddings, their cosine, and per-layer hidden-state errors."""
    ids = model.tokenize(sentence)
    hf = model.forward(ids, n_layers=len(enc.layers))
    hi = enc.forward(ids)
    layers = []
    for i in range(1, len(hi)):
        deq = hi[i] * enc.hidden_scale(i)
        layers.append({"layer": i - 1, "rel_error": rel_error(deq, hf[i]), "cosine": cosine(deq, hf[i])})
    f_emb = hf[-1].mean(axis=0)
    i_emb = hi[-1].mean(axis=0) * enc.hidden_scale(len(enc.layers))
    return {"sentence": sentence, "token_ids": [int(t) for t in ids], "cosine": cosine(f_emb, i_emb),
            "float_embedding": [float(v) for v in f_emb], "int_embedding": [float(v) for v in i_emb],
            "layers": layers}


def op_errors(model, enc, sentence):
    """Per layer and op, the relative error of the integer op's output against float, teacher-forced.

    Each layer's float reference is run on the dequantized integer input of that layer, so an op's error is what
    quantization adds up to that op inside the layer, not what earlier layers accumulated.
    """
    ids = model.tokenize(sentence)
    dumps = []
    enc.forward(ids, dumps=dumps)
    out = []
    for layer, (lw, d) in enumerate(zip(model.layers, dumps)):
        trace = {}
        float_encoder_layer(lw, enc.layers[layer].dequantize("input", d["input"]), model.layer_heads[layer],
                            model.eps, trace)
        out.append({name: rel_error(enc.layers[layer].dequantize(name, d[name]), trace[ref])
                    for name, ref in OP_TENSORS.items()})
    return out
