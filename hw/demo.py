"""`systolica demo`: the main job on a built-in default, in stages.

1. Generate the accelerator's Verilog for the MiniLM configuration (DIM 16, activations as wide as golden/ needs).
2. golden/: integer vs float all-MiniLM-L6-v2 on a built-in sentence, per layer.
3. RTL (cocotb + Verilator): the real layer-0 softmax, LayerNorm, GELU and requantization rows through the
   nonlinear unit, bit-exact against golden/ and cycle-exact against the cycle model.
"""
import json
import pathlib
import tempfile

__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    parser.add_argument("--out", default="build/demo", help="output directory (default: %(default)s)")


def run(args):
    from golden.cli import DEFAULT_SENTENCE, quantized_model
    from golden.evaluate import compare
    from sim import runner
    from sim.minilm_vectors import vectors_path

    from . import generate
    from .config import AcceleratorConfig

    log = lambda msg: print(f"[demo] {msg}", flush=True)  # noqa: E731
    model, enc = quantized_model(progress=log)
    cfg = AcceleratorConfig(dim=16, input_width=enc.spec.activation_width)
    log(f"stage 1/3: Verilog for {cfg.to_json()}")
    generate.write(cfg, args.out, progress=log)

    log(f"stage 2/3: golden/ integer encoder on {DEFAULT_SENTENCE!r}")
    r = compare(model, enc, DEFAULT_SENTENCE)
    for layer in r["layers"]:
        log(f"  layer {layer['layer']}: hidden-state relative error {layer['rel_error']:.4f}")
    log(f"  sentence embedding cosine(int, float) = {r['cosine']:.6f}")

    log("stage 3/3: real MiniLM layer-0 rows through the nonlinear unit on the RTL (Verilator)")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "minilm.json"
        env = {"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_VECTORS": str(vectors_path()),
               "SYSTOLICA_RESULT": str(out)}
        runner.run_test(runner.nonlinear_top_design(cfg), "sim.test_nonlinear", testcase="test_minilm",
                        extra_env=env, progress=log, results_name="demo")
        for m in json.loads(out.read_text()):
            log(f"  {m['op']:9s} {m['rows']:3d} rows x {m['length']:4d}: bit-exact, {m['cycles']} cycles "
                f"(model {m['model']})")
    log(f"done: Verilog and manifest in {args.out}")
    return 0
