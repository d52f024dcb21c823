"""`systolica golden`: integer vs float all-MiniLM-L6-v2 sentence embeddings, per sentence and per layer."""
import json
import sys

import numpy as np

__all__ = ["DEFAULT_SENTENCE", "add_arguments", "run"]

DEFAULT_SENTENCE = "Systolic arrays multiply matrices by passing data between neighbouring cells."


def add_arguments(parser):
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE",
                        help=f"sentences to embed (default: {DEFAULT_SENTENCE!r})")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per sentence on stdout (progress goes to stderr)")
    parser.add_argument("--ops", action="store_true", help="also print each op's error, teacher-forced per layer")
    parser.add_argument("--hidden-bits", type=int, default=None, help="LayerNorm output width (default: 12)")
    parser.add_argument("--gelu-bits", type=int, default=None, help="GELU output width (default: 12)")
    parser.add_argument("--exp-impl", choices=("poly", "lut"), default=None,
                        help="the softmax's exp: I-BERT's polynomial or ReBERT's split LUT (default: poly)")


def quantized_model(hidden_bits=None, gelu_bits=None, progress=None, model="minilm", n_layers=None, exp_impl=None):
    """The float model (``golden.model.load_model(model)``) and its first ``n_layers`` layers (default all)
    quantized (progress lines go to ``progress``); ``exp_impl``: the softmax's exp, as the accelerator that runs
    the model computes it (``AcceleratorConfig.exp_impl``)."""
    from golden.encoder import QuantSpec, quantized_encoder

    kw = {k: v for k, v in (("hidden_bits", hidden_bits), ("gelu_bits", gelu_bits), ("exp_impl", exp_impl))
          if v is not None}
    spec = QuantSpec(**kw)
    if progress:
        progress(f"loading {model} and quantizing it (calibration on data/calibration.txt)")
    enc = quantized_encoder(model, spec, n_layers)
    return enc.model, enc


def run(args):
    from golden.evaluate import compare, op_errors

    log = lambda msg: print(f"[golden] {msg}", file=sys.stderr, flush=True)
    model, enc = quantized_model(args.hidden_bits, args.gelu_bits, log, exp_impl=args.exp_impl)
    sentences = args.sentences or [DEFAULT_SENTENCE]
    for n, sentence in enumerate(sentences, 1):
        log(f"sentence {n}/{len(sentences)}")
        r = compare(model, enc, sentence)
        if args.json:
            print(json.dumps(r), flush=True)
            continue
        print(f"{sentence!r}: {len(r['token_ids'])} tokens, cosine(int, float) = {r['cosine']:.6f}")
        for layer in r["layers"]:
            print(f"  layer {layer['layer']}: hidden-state relative error {layer['rel_error']:.4f}, "
                  f"cosine {layer['cosine']:.6f}")
        if args.ops:
            errs = op_errors(model, enc, sentence)
            names = list(errs[0])
            print("  per-op relative error (teacher-forced), mean over layers:")
            for name in names:
                print(f"    {name:10s} {np.mean([e[name] for e in errs]):.4f}")
    return 0
