"""`systolica rebert`: ReBERT's two-stage window search on all-MiniLM-L6-v2 (``golden.rebert``, no fine-tuning),
what the windows found save in cycles (the program cycle model, one layer per window), the curve of held-out
accuracy against cycles for one window shared by every layer, and the windowed encoder confirmed on the RTL
(bit-exact against golden/'s windowed encoder, cycles within 1% of the model).

Accuracy is the mean cosine between the windowed integer model's sentence embeddings and the full float model's,
over Python standard-library module docstrings read at run time: the search set (``golden.rebert
.SEARCH_MODULES``) and a held-out set (``HELDOUT_MODULES``). The RTL runs the first held-out input.
"""
import json

from .run import add_model_config_arguments
from .options import config_from_args

__all__ = ["add_arguments", "run", "window_costs"]


def add_arguments(parser):
    parser.add_argument("--seq", type=int, default=128,
                        help="tokens per input: each docstring is cut to it (default: 128, at most 512; 256 tokens "
                             "need a larger scratchpad than the default, e.g. --spad-kib 512)")
    parser.add_argument("--target", type=float, default=0.98,
                        help="the mean embedding cosine to the full float model the windows must keep on the search "
                             "set (default: 0.98)")
    parser.add_argument("--json", metavar="FILE", help="write the result as JSON")
    parser.add_argument("--no-rtl", action="store_true",
                        help="skip the RTL confirmation of the windows found (minutes at 256 tokens)")
    add_model_config_arguments(parser)


def window_costs(enc, cfg, seq, windows, options):
    """Per layer, the cycle model's ``(attention, layer)`` cycles of one layer compiled with each of ``windows``
    (None: full attention) under schedule ``options``. Attention is the attention core a window shrinks: the
    cycles in which a Q K^T, softmax or P V instruction runs (``Program.attention_core``; the projections and the
    FFN are the layer's other cycles). Every layer has the same shape, so a window's cost is computed once."""
    from compiler import compile_layer
    from golden.program_cycles import estimate_cycles, union_cycles
    cache = {}
    for w in windows:
        if w not in cache:
            prog = compile_layer(enc.layers[0], cfg, seq, options, window=w)
            t = estimate_cycles(prog.instrs, cfg)
            cache[w] = (union_cycles([(t.starts[k], t.ends[k]) for k in prog.attention_core]), t.cycles)
    return [cache[w] for w in windows]


def run(args):
    from compiler.schedule import choose, describe
    from golden.rebert import HELDOUT_MODULES, SEARCH_MODULES, WINDOWS, accuracy, search, stdlib_inputs
    from systolica.embeddings import quantized_model

    log = lambda msg: print(f"[rebert] {msg}", flush=True)  # noqa: E731
    if not 0 < args.target <= 1:
        raise ValueError(f"--target must be a cosine in (0, 1], not {args.target}")
    cfg = config_from_args(args)
    model, enc = quantized_model(progress=log, exp_impl=cfg.exp_impl)
    if not 2 <= args.seq <= model.max_tokens:
        raise ValueError(f"--seq must be in 2..{model.max_tokens}, not {args.seq}")
    n = len(enc.layers)
    found, held = (stdlib_inputs(model, mods, args.seq) for mods in (SEARCH_MODULES, HELDOUT_MODULES))
    log(f"search set: docstrings of {', '.join(SEARCH_MODULES)}; held out: {', '.join(HELDOUT_MODULES)}; "
        f"{args.seq} tokens each; target cosine {args.target}")
    windows, cos_search, tried = search(enc, found, args.target, progress=log)
    cos_held = accuracy(enc, held, windows)
    cos_held_full = accuracy(enc, held, [None] * n)
    log(f"windows per layer: {windows} ({len(tried)} evaluations); cosine {cos_search:.5f} on the search set, "
        f"{cos_held:.5f} held out (full attention {cos_held_full:.5f})")

    log("schedule: the cycle model's fastest for full attention, kept for the windowed layers")
    options = choose(enc.layers[0], cfg, args.seq)[0][0]
    log(f"  {describe(options)}")
    full = window_costs(enc, cfg, args.seq, [None] * n, options)
    windowed = window_costs(enc, cfg, args.seq, windows, options)
    att = [sum(a for a, _ in c) for c in (full, windowed)]
    lay = [sum(c for _, c in cs) for cs in (full, windowed)]
    log(f"attention cycles (cycle model, {n} layers): {att[0]:,} full, {att[1]:,} windowed "
        f"({100 * (att[1] / att[0] - 1):+.1f}%); layer cycles {lay[0]:,} full, {lay[1]:,} windowed "
        f"({100 * (lay[1] / lay[0] - 1):+.1f}%)")

    # the curve: one window for every layer, held-out accuracy against the cycles it saves
    curve = []
    for w in [None] + [w for w in WINDOWS if w < args.seq - 1]:
        (a, c), = window_costs(enc, cfg, args.seq, [w], options)
        cos = cos_held_full if w is None else accuracy(enc, held, [w] * n)
        curve.append({"window": w, "cosine_heldout": cos, "attention_cycles": n * a, "layer_cycles": n * c})
        log(f"  every layer W={w}: held-out cosine {cos:.5f}, attention {n * a:,} cycles "
            f"({att[0] / (n * a):.2f}x fewer than full), layers {n * c:,}")

    rtl = None
    if not args.no_rtl:
        from systolica.run import run_layers
        log(f"RTL: the {n} windowed layers on the docstring of {HELDOUT_MODULES[0]}")
        r = run_layers(enc, cfg, held[0], n, options, lambda m: log(f"  {m}"), windows=windows)
        rtl = {"cycles_rtl": r["cycles"], "cycles_model": r["model_cycles"], "bit_exact": True, "tokens": args.seq,
               "input": HELDOUT_MODULES[0]}
        off = (r["model_cycles"] - r["cycles"]) / r["cycles"]
        log(f"  bit-exact; RTL {r['cycles']:,} cycles, model {r['model_cycles']:,} ({100 * off:+.2f}%)")
        if abs(off) > 0.01:
            raise AssertionError(f"the cycle model is {100 * off:+.2f}% off the RTL (more than 1%)")
    result = {"seq": args.seq, "target": args.target, "config": json.loads(cfg.to_json()),
              "schedule": describe(options), "windows": windows, "cosine_search": cos_search,
              "cosine_heldout": cos_held, "cosine_heldout_full_attention": cos_held_full,
              "attention_cycles_full": att[0], "attention_cycles_windowed": att[1],
              "layer_cycles_full": lay[0], "layer_cycles_windowed": lay[1],
              "per_layer": [{"window": w, "attention_cycles": a, "layer_cycles": c}
                            for w, (a, c) in zip(windows, windowed)],
              "curve": curve, "evaluations": [{"windows": ws, "cosine": a} for ws, a in tried], "rtl_checked": rtl}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        log(f"wrote {args.json}")
    return 0
