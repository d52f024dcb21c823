"""ReBERT's two-stage window search over the integer encoder, measured without fine-tuning (no task data or
training here; the seed fine-tunes after its search).

Accuracy is the mean cosine between the windowed integer model's sentence embedding and the full float model's,
over long inputs of real text nobody here wrote: Python standard-library module docstrings, read at run time.
The search set and the held-out set are different modules.

1. The global window: the smallest of :data:`WINDOWS` that, used by every layer, keeps the accuracy at or above
   the target (the candidates are tried from the largest down, and the search stops at the first miss). It
   bounds stage 2.
2. Per layer, in order: shrink that layer's window to the next candidate while the target still holds.

The windows are half-widths ``W`` of :func:`golden.softmax.window_mask` (``2W + 2`` keys per query); None is full
attention.
"""
import importlib
import inspect

import numpy as np

__all__ = ["WINDOWS", "SEARCH_MODULES", "HELDOUT_MODULES", "stdlib_inputs", "accuracy", "search"]

#: Candidate half-widths, largest first.
WINDOWS = (256, 128, 64, 32, 16, 8, 4, 2)
#: Standard-library modules whose docstrings (over 500 tokens each) make the search set and the held-out set.
SEARCH_MODULES = ("re", "argparse")
HELDOUT_MODULES = ("json", "http.client", "csv")


def stdlib_inputs(model, modules, tokens):
    """Token ids of each module's docstring cut to ``tokens`` (with [CLS] and [SEP]); a docstring shorter than
    that is an error naming the module."""
    out = []
    for name in modules:
        doc = inspect.getdoc(importlib.import_module(name)) or ""
        ids = model.tokenize(doc, limit=tokens) if doc.strip() else np.zeros(0, dtype=np.int64)
        if len(ids) < tokens:
            raise ValueError(f"the docstring of {name} has {len(ids)} tokens, fewer than {tokens}")
        out.append(ids)
    return out


def accuracy(enc, inputs, windows, reference=None):
    """Mean cosine between ``enc``'s integer sentence embeddings with per-layer ``windows`` and the full float
    model's (``reference``: those float embeddings, if already computed)."""
    from .evaluate import cosine
    if reference is None:
        reference = [enc.model.forward(ids, len(enc.layers))[-1].mean(axis=0) for ids in inputs]
    return float(np.mean([cosine(enc.sentence_embedding(ids, windows), ref)
                          for ids, ref in zip(inputs, reference)]))


def search(enc, inputs, target, candidates=WINDOWS, progress=None):
    """The two-stage search on ``inputs``: ``(windows, accuracy, evaluations)``, ``windows`` per layer (None where
    no candidate keeps the target: full attention), ``evaluations`` every ``(windows, accuracy)`` tried."""
    n = len(enc.layers)
    seq = max(len(ids) for ids in inputs)
    cands = [w for w in sorted(set(candidates), reverse=True) if w < seq - 1]    # wider ones are full attention
    reference = [enc.model.forward(ids, n)[-1].mean(axis=0) for ids in inputs]
    tried = []

    def holds(ws):
        a = accuracy(enc, inputs, ws, reference)
        tried.append((list(ws), a))
        if progress:
            progress(f"windows {ws}: cosine {a:.5f}{'' if a >= target else ' (below target)'}")
        return a >= target

    glob = None
    for w in cands:                                    # stage 1: one window for every layer
        if not holds([w] * n):
            break
        glob = w
    windows = [glob] * n
    smaller = [w for w in cands if glob is None or w < glob]
    for layer in range(n):                             # stage 2: each layer shrinks while the target holds
        for w in smaller:
            trial = windows[:layer] + [w] + windows[layer + 1:]
            if not holds(trial):
                break
            windows = trial
    final = next((a for ws, a in reversed(tried) if ws == windows), None)
    if final is None:
        final = accuracy(enc, inputs, windows, reference)
    return windows, final, tried
