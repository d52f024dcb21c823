"""Bench section "synth": Yosys area and times, ECP5 place-and-route time, Fmax and utilization.

Runs are cached by the digest of their Verilog (``systolica.synth``, ``systolica.fpga``): an unchanged design reports the
times recorded when it was built, a changed one is rebuilt, so area and Fmax follow every change.
"""
import pathlib

from golden.config import AcceleratorConfig, preset

__all__ = ["run", "synth_metrics"]

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Per target: the columns reported for the total, and the ones reported per unit (systolica.synth.TARGETS' names).
_TOTAL = {"generic": ("cells", "FFs", "area (kT)"), "ecp5": ("LUT4", "CCU2C", "FFs", "MULT18X18D", "DP16KD")}
_PER_UNIT = {"generic": ("cells", "area (kT)"), "ecp5": ("LUT4", "MULT18X18D", "DP16KD")}


def synth_metrics(name, cfg, target, *, units=None, verilog=None, progress=print):
    """Yosys time, totals and per-unit figures of the whole accelerator for ``target`` (``systolica.synth``,
    cached by the Verilog's digest); ``units``: the unit labels to report (default: all); ``verilog``: the
    accelerator's Verilog when the caller has it (default: the conversion the RTL harness shares,
    ``sim.system.accelerator_verilog``, whose top name is ``systolica.synth.TOP``)."""
    from sim.system import ACCEL_NAME, accelerator_verilog
    from systolica import synth
    if synth.TOP != ACCEL_NAME:
        raise RuntimeError(f"synth.TOP {synth.TOP!r} and the harness's {ACCEL_NAME!r} must be one name")
    if verilog is None:
        verilog = accelerator_verilog(cfg, progress=progress).text
    r = synth.synthesize(cfg, target, out_root=ROOT / "build" / "synth", progress=progress, verilog=verilog)
    rows, total = synth.unit_table(r)
    unit = lambda col: "kT" if col == "area (kT)" else col  # noqa: E731
    out = {f"{name} yosys {target}": (r["seconds"], "s")}
    out.update({f"{name} {target} {col}": (round(total[col], 1), unit(col)) for col in _TOTAL[target]})
    share = "area (kT)" if target == "generic" else "LUT4"
    out[f"{name} {target} nonlinear share ({share})"] = (round(100 * synth.overhead(r)[share], 2), "%")
    for label, cols in rows:
        if cols is not None and (units is None or label in units):
            out.update({f"{name} {target} {label} {col}": (round(cols[col], 1), unit(col))
                        for col in _PER_UNIT[target]})
    return out


def run(progress):
    from systolica import fpga, synth
    out = {}
    for name, cfg in (("dim4", AcceleratorConfig(dim=4)), ("dim16", AcceleratorConfig()),
                      ("dim16_minilm", AcceleratorConfig(input_width=12))):
        out.update(synth_metrics(name, cfg, "generic", units=("array", *synth.OVERHEAD_UNITS), progress=progress))
    for dim, pipe in ((4, 0), (4, 2), (8, 0), (8, 2)):
        cfg = preset(fpga.BOARDS["ulx3s"]["preset"], dim=dim, pe_pipeline=pipe)
        r = fpga.build(cfg, design="tile", out_root=ROOT / "build" / "fpga", progress=progress)
        tag = f"ecp5 tile dim{dim} pe_pipeline{pipe}"
        out[f"{tag} synth"] = (r["seconds"]["synth"], "s")
        out[f"{tag} place and route"] = (r["seconds"]["pnr"][0], "s")
        out[f"{tag} Fmax"] = (round(r["fmax_mhz"], 2), "MHz")
        for res in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D", "DP16KD"):
            if res in r["utilization"]:
                out[f"{tag} {res}"] = (r["utilization"][res][0], "cells")
    return out
