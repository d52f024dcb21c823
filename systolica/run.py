"""`systolica run`: real encoder layers (all-MiniLM-L6-v2, ``bert-base-random`` or a local Hugging Face BERT
checkpoint) on the simulated RTL, checked against golden/, with a report.

Stages (a line each): load and quantize the model (golden/), tokenize, compile the layers (compiler/), build or
reuse the Verilator model of the accelerator, run the program on it (fast harness: memory inside the simulation,
clock in SystemVerilog), check every output value against golden/'s integer encoder, report cycles, utilization and the
matmul / nonlinear / load shares from the hardware counters next to the cycle model's estimate; with
``--compare`` the same layers again with each of the chosen schedule's fusions (QK^T + softmax, FFN2 + LayerNorm)
flipped. The schedule is the fastest the cycle model finds (``compiler.schedule``); the report lists the
candidates it timed.
"""
import argparse
import dataclasses
import json
import pathlib
import time

import numpy as np

from .options import add_config_arguments, config_from_args

__all__ = ["add_arguments", "add_model_config_arguments", "run", "run_layers", "fit_tokens"]


def add_arguments(parser):
    from systolica.embeddings import DEFAULT_SENTENCE
    parser.add_argument("sentence", nargs="?", default=DEFAULT_SENTENCE, help="input sentence (default: built in)")
    from golden.model import MODELS
    parser.add_argument("--model", default="minilm", metavar="DIR|" + "|".join(MODELS),
                        help="a Hugging Face BERT checkpoint directory (config.json, model.safetensors, "
                             "tokenizer.json) or a built-in model; bert-base-random has seeded random weights, "
                             "for performance work only (default: minilm)")
    parser.add_argument("--layers", type=int, default=1, help="encoder layers to run (default: 1)")
    parser.add_argument("--seq", type=int, default=None,
                        help="tokens, up to the model's positions (512 for BERT): the sentence's tokens, "
                             "truncated, or extended with built-in text")
    parser.add_argument("--window", type=_window_list, default=None, metavar="W[,W...]",
                        help="ReBERT's windowed attention: each layer's half-width W (a query attends to the keys "
                             "within W of it and to [CLS]); one value for every layer, or one per layer "
                             "('full' for full attention; default: full attention everywhere)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the chosen schedule with each fusion flipped and print the comparison")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--timeline", metavar="FILE.png",
                        help="draw the chosen schedule's run over cycles: queues from the RTL's instruction trace "
                             "beside the cycle model's, and the array's utilization")
    add_model_config_arguments(parser)


def _window_list(text):
    out = []
    for part in text.split(","):
        part = part.strip()
        if part == "full":
            out.append(None)
        elif part.isdigit():
            out.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"a window is a non-negative integer or 'full', not {part!r}")
    return out


def _windows(given, layers):
    """``--window`` for ``layers`` layers: None (full attention), or one window per layer."""
    if given is None:
        return None
    if len(given) not in (1, layers):
        raise ValueError(f"--window gives {len(given)} windows for {layers} layers (give one, or one per layer)")
    return given * layers if len(given) == 1 else given


def add_model_config_arguments(parser):
    """The configuration options, with the array's A operand as wide as the model's activations by default
    (``golden.encoder.QuantSpec.activation_width``, 12 bits)."""
    from golden.encoder import QuantSpec
    add_config_arguments(parser, input_width=QuantSpec().activation_width)


def fit_tokens(model, sentence, seq):
    """Token ids of ``sentence`` made exactly ``seq`` long: truncated, or extended with the built-in evaluation
    text before the final [SEP]."""
    ids = model.tokenize(sentence)
    if seq is None:
        return ids
    if not isinstance(seq, int) or not 2 <= seq <= model.max_tokens:
        raise ValueError(f"seq must be an integer in 2..{model.max_tokens} for {model.name}, not {seq!r}")
    if len(ids) >= seq:
        return np.concatenate([ids[:seq - 1], ids[-1:]])
    from golden.encoder import tokens_of_length
    filler = tokens_of_length(model, seq)[1:-1]
    return np.concatenate([ids[:-1], filler[:seq - len(ids)], ids[-1:]])


def run_layers(enc, cfg, ids, n_layers, options, log, *, optimize=True, trace=None, windows=None):
    """Compile and run on the RTL; returns a dict of measurements (raises AssertionError on a mismatch).
    ``options`` None: the schedule the cycle model finds fastest (``schedules`` in the result lists every
    candidate). ``optimize``: the harness compiled for long runs (``sim.system.run_program``). ``trace``: a file
    for the RTL's event trace; the result then has ``times`` (label -> per-instruction starts and ends, cycles
    from the start, for the RTL and the model), ``instrs`` and ``marks`` (``Program.marks``). ``windows``: each
    layer's ReBERT attention window (None: full attention); the ideal cycles are then those of the MACs the
    windowed layers need."""
    from compiler import compile_encoder
    from golden.program_cycles import estimate_cycles
    from sim.system import run_program

    t0 = time.perf_counter()
    prog = compile_encoder(enc, cfg, ids, n_layers=n_layers, options=options, windows=windows)
    if prog.schedules:
        from compiler.schedule import describe
        log(f"schedule chosen by the cycle model (per-layer estimate; {len(prog.schedules)} candidates):")
        best = prog.schedules[0][1]
        for opts, c in prog.schedules:
            log(f"  {describe(opts):50s} {c:>11,} cycles ({100 * (c / best - 1):+.1f}%)")
    log(f"compiled {len(prog.instrs)} instructions {prog.counts()}, image {len(prog.image.data) / 1e6:.2f} MB "
        f"in {time.perf_counter() - t0:.1f} s")
    est = estimate_cycles(prog.instrs, cfg)
    out_addr = prog.outputs["output"]
    nbytes = 2 * len(ids) * enc.layers[0].wq.w_t.shape[0]
    log("running on the RTL (Verilator; the first run of a configuration builds the model) ...")
    # a watchdog: twice the model's cycles (10 ns each) and a margin; a hung accelerator fails the run
    r = run_program(cfg, {0: bytes(prog.memory())}, prog.prog_addr, [(out_addr, nbytes)], progress=log,
                    optimize=optimize, trace=trace, max_ns=10 * (2 * est.cycles + 100_000))
    if not r.done:
        raise AssertionError(f"the accelerator stopped with STATUS {r.status:#x}, error code {r.error_code} at "
                             f"instruction address {r.error_info:#x}")
    mem = bytearray(out_addr + nbytes)
    mem[out_addr:] = r.reads[out_addr]
    got = prog.read_output(mem)
    want = enc.forward(ids, n_layers=n_layers, windows=windows)[-1]
    bad = int(np.count_nonzero(got != want))
    if bad:
        raise AssertionError(f"{bad} of {want.size} output values differ from golden/")
    log(f"bit-exact: all {want.size} output values equal golden/'s")
    from compiler.report import layer_macs
    from compiler.plan import LayerDims
    ideal = n_layers * -(-layer_macs(LayerDims.of(enc.layers[0]), len(ids)) // cfg.macs_per_cycle) \
        if windows is None else est.ideal(cfg)
    extra = {}
    if trace:
        from sim.trace import instr_times, parse
        tr = parse(trace)
        starts, ends = instr_times(prog.instrs, tr, cfg.bus_width // 8)
        rel = lambda xs: [None if x is None else x - tr.start for x in xs]  # noqa: E731
        extra = {"instrs": prog.instrs, "marks": prog.marks,
                 "times": {"RTL": (rel(starts), rel(ends)), "model": (est.starts, est.ends)}}
    return {**extra,"cycles": r.cycles, "model_cycles": est.cycles, "ideal_cycles": ideal, "mac_cycles": r.perf[0],
            "array_busy": r.perf[1], "nonlinear_busy": r.perf[2], "load_busy": r.perf[3],
            "sim_cycles_per_s": r.wall_cycles / max(r.seconds, 1e-9), "sim_seconds": r.seconds,
            "output": got, "embedding": prog.embedding(mem), "instructions": len(prog.instrs),
            "schedule": dataclasses.asdict(prog.options), "windows": prog.windows,
            "candidates": [{"schedule": dataclasses.asdict(o), "model_cycles_per_layer": c}
                           for o, c in prog.schedules or []]}


def _report(res, log):
    c = res["cycles"]
    log(f"  RTL cycles {c:,}  (model {res['model_cycles']:,}, {100 * (res['model_cycles'] - c) / c:+.1f}%)")
    log(f"  ideal MAC-bound cycles {res['ideal_cycles']:,}: RTL / ideal = {c / res['ideal_cycles']:.3f}")
    log(f"  array utilization (useful-MAC cycles / cycles) {res['mac_cycles'] / c:.3f}")
    log(f"  busy shares of the run: matmul {res['array_busy'] / c:.3f}, nonlinear {res['nonlinear_busy'] / c:.3f}, "
        f"load DMA {res['load_busy'] / c:.3f}")
    log(f"  simulation {res['sim_cycles_per_s']:,.0f} cycles/s ({res['sim_seconds']:.1f} s)")


def run(args):
    from compiler import Options
    from systolica.embeddings import quantized_model
    from golden.evaluate import cosine

    log = lambda msg: print(f"[run] {msg}", flush=True)  # noqa: E731
    cfg = config_from_args(args)
    windows = _windows(args.window, args.layers)
    model, enc = quantized_model(progress=log, model=args.model, n_layers=args.layers, exp_impl=cfg.exp_impl)
    ids = fit_tokens(model, args.sentence, args.seq)
    log(f"{model.name}: {len(ids)} tokens, {args.layers} of {model.n_layers} layer(s), configuration "
        f"{cfg.to_json()}")
    from compiler.schedule import describe
    log("schedule: the fastest the cycle model finds (default)")
    trace = None
    if args.timeline:
        trace = pathlib.Path(args.timeline).with_suffix(".trace")
        trace.parent.mkdir(parents=True, exist_ok=True)
    if windows:
        log(f"windowed attention (ReBERT), per layer: {windows}")
    base = run_layers(enc, cfg, ids, args.layers, None, log, trace=trace, windows=windows)
    _report(base, log)
    if args.timeline:
        from systolica.timeline import draw
        base.pop("marks")
        draw(base.pop("instrs"), base.pop("times"), cfg.dim, args.timeline,
             f"{model.name}, {len(ids)} tokens, {args.layers} layer(s), DIM {cfg.dim}: RTL {base['cycles']:,} cycles, "
             f"model {base['model_cycles']:,}")
        log(f"timeline: {args.timeline} (trace {trace})")
    results = {"chosen": base}
    if args.compare:
        # the chosen schedule with each fusion flipped, on the RTL: the choice checked where it matters
        chosen = Options(**base["schedule"])
        for flip in ("fuse_qk_softmax", "fuse_ffn2_layernorm"):
            opts = dataclasses.replace(chosen, **{flip: not getattr(chosen, flip)})
            log(f"schedule: {describe(opts)}")
            res = run_layers(enc, cfg, ids, args.layers, opts, log, windows=windows)
            _report(res, log)
            results[describe(opts)] = res
            log(f"{describe(opts)}: {100 * (res['cycles'] / base['cycles'] - 1):+.1f}% cycles vs the chosen "
                f"schedule")
    if args.layers == model.n_layers:
        float_emb = model.forward(ids)[-1].mean(axis=0)
        golden_emb = enc.sentence_embedding(ids, windows)
        same = np.array_equal(base["embedding"], golden_emb)
        log(f"sentence embedding: {'equal to' if same else 'DIFFERENT from'} golden/'s; cosine to float "
            f"{cosine(base['embedding'], float_emb):.6f}")
        if not same:
            return 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": model.name, "tokens": len(ids), "layers": args.layers, "windows": windows,
                       "config": json.loads(cfg.to_json()),
                       "schedules": {k: {m: (v.tolist() if isinstance(v, np.ndarray) else v) for m, v in r.items()}
                                     for k, r in results.items()}}, f, indent=2)
    return 0
