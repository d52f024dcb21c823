"""`systolica demo`: the main job on a built-in default, in stages.

1. Generate the accelerator's Verilog (AXI4-Lite + AXI4 top level) for the MiniLM configuration: DIM 16,
   activations as wide as golden/ needs. It is written under the harness's top name
   (``sim.system.ACCEL_NAME``), so stage 3's RTL build reuses this one elaboration
   (``sim.system.accelerator_verilog``) instead of elaborating the accelerator again.
2. golden/: integer vs float all-MiniLM-L6-v2 on the built-in sentence, per layer.
3. `systolica run`: one real layer on the RTL (Verilator), every output checked against golden/, with the cycle
   and utilization report, the schedule the cycle model chose, the chosen schedule with each fusion flipped, and
   the run's timeline (``<out>/timeline.png``: the RTL's queues beside the model's, and the array's utilization).
"""
import argparse
import pathlib

from . import generate, run as run_cmd

__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    parser.add_argument("--out", default="build/demo", help="output directory (default: %(default)s)")
    parser.add_argument("--seq", type=int, default=32, help="tokens (default: %(default)s)")
    run_cmd.add_model_config_arguments(parser)


def run(args):
    from golden.evaluate import compare

    from .embeddings import DEFAULT_SENTENCE, quantized_model
    from .options import config_from_args

    log = lambda msg: print(f"[demo] {msg}", flush=True)  # noqa: E731
    cfg = config_from_args(args)
    model, enc = quantized_model(progress=log, exp_impl=cfg.exp_impl)
    run_cmd.fit_tokens(model, DEFAULT_SENTENCE, args.seq)        # a bad --seq fails before the stages
    log("stage 1/3: Verilog of the accelerator")
    from sim.system import ACCEL_NAME
    generate.write(cfg, args.out, name=ACCEL_NAME, top="accelerator", progress=log)

    log(f"stage 2/3: golden/ integer encoder on {DEFAULT_SENTENCE!r}")
    r = compare(model, enc, DEFAULT_SENTENCE)
    for layer in r["layers"]:
        log(f"  layer {layer['layer']}: hidden-state relative error {layer['rel_error']:.4f}")
    log(f"  sentence embedding cosine(int, float) = {r['cosine']:.6f}")

    log(f"stage 3/3: one real layer on the RTL, {args.seq} tokens")
    rc = run_cmd.run(argparse.Namespace(**{**vars(args), "sentence": DEFAULT_SENTENCE, "layers": 1, "compare": True,
                                           "json": None, "model": "minilm", "window": None,
                                           "timeline": str(pathlib.Path(args.out) / "timeline.png")}))
    log(f"done: Verilog and manifest in {args.out}")
    return rc
