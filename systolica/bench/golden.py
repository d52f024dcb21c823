"""Benchmark section "golden": integer vs float forward time on a 128-token sentence, and accuracy."""
import time

import numpy as np

from golden.encoder import minilm_encoder, read_sentences, tokens_of_length
from golden.evaluate import compare

__all__ = ["run"]


def _best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(progress):
    progress("quantizing all-MiniLM-L6-v2")
    t0 = time.perf_counter()
    enc = minilm_encoder()
    t_quant = time.perf_counter() - t0
    model = enc.model
    ids = tokens_of_length(model, 128)
    progress("timing float and integer forward passes (128 tokens, 6 layers, best of 3 each)")
    t_float = _best_of(lambda: model.forward(ids))
    t_int = _best_of(lambda: enc.forward(ids))
    progress("accuracy over the evaluation sentences")
    cos = np.array([compare(model, enc, s)["cosine"] for s in read_sentences("evaluation")])
    return {
        "quantization (calibration) time": (t_quant, "s"),
        "float forward, 128 tokens, 6 layers": (t_float, "s"),
        "integer forward, 128 tokens, 6 layers": (t_int, "s"),
        "integer / float forward time": (t_int / t_float, "ratio"),
        "evaluation sentences": (len(cos), "count"),
        "cosine(int, float) mean": (float(cos.mean()), ""),
        "cosine(int, float) worst": (float(cos.min()), ""),
        "activation width needed": (enc.spec.activation_width, "bits"),
    }
