"""Bench section "synth": Yosys area and times, ECP5 place-and-route time, Fmax and utilization.

Runs are cached by the digest of their Verilog (``systolica.synth``, ``systolica.fpga``): an unchanged design reports the
times recorded when it was built, a changed one is rebuilt, so area and Fmax follow every change.
"""
import pathlib

from golden.config import AcceleratorConfig

__all__ = ["run"]

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(progress):
    from systolica import fpga, synth
    out = {}
    for name, cfg in (("dim4", AcceleratorConfig(dim=4)), ("dim16", AcceleratorConfig()),
                      ("dim16_minilm", AcceleratorConfig(input_width=12))):
        r = synth.synthesize(cfg, "generic", out_root=ROOT / "build" / "synth", progress=progress)
        rows, total = synth.unit_table(r)
        out[f"{name} yosys generic"] = (r["seconds"], "s")
        out[f"{name} gate cells"] = (total["cells"], "cells")
        out[f"{name} FFs"] = (total["FFs"], "FFs")
        out[f"{name} area"] = (round(total["area (kT)"], 1), "kT")
        out[f"{name} nonlinear share (area)"] = (round(100 * synth.overhead(r)["area (kT)"], 2), "%")
        out[f"{name} nonlinear share (logic cells)"] = (round(100 * synth.overhead(r)["cells"], 2), "%")
        for label, cols in rows:
            if cols is not None and label in ("array", *synth.OVERHEAD_UNITS):
                out[f"{name} {label} area"] = (round(cols["area (kT)"], 1), "kT")
    for dim, pipe in ((4, 0), (4, 2), (8, 0), (8, 2)):
        cfg = AcceleratorConfig(dim=dim, pe_pipeline=pipe,
                                **{k: v for k, v in fpga.BOARD_DEFAULTS.items() if k not in ("dim", "pe_pipeline")})
        r = fpga.build(cfg, design="tile", out_root=ROOT / "build" / "fpga", progress=progress)
        tag = f"ecp5 tile dim{dim} pe_pipeline{pipe}"
        out[f"{tag} synth"] = (r["seconds"]["synth"], "s")
        out[f"{tag} place and route"] = (r["seconds"]["pnr"], "s")
        out[f"{tag} Fmax"] = (round(r["fmax_mhz"], 2), "MHz")
        for res in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD"):
            if res in r["utilization"]:
                out[f"{tag} {res}"] = (r["utilization"][res][0], "cells")
    return out
