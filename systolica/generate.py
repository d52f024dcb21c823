"""`systolica generate`: write the accelerator's Verilog and its JSON manifest, print the port list.

The Verilog itself comes from ``sim.verilog.convert_component``, which every flow shares (simulation builds,
synthesis, board builds); :func:`convert` is the array test top's, for the benchmarks. The whole accelerator's
conversion is cached per configuration, sources and top name (``sim.system.accelerator_verilog``): a
``generate`` and an RTL run of the same configuration and name elaborate it once between them.
"""
import json
import pathlib
import re
import time

from sim.verilog import convert_component

from .options import add_config_arguments, config_from_args

__all__ = ["TOP_NAME", "TOPS", "convert", "write", "add_arguments", "run"]

TOP_NAME = "systolica_top"


def convert(config, *, name=TOP_NAME):
    """Verilog text of ``sim.tops.TileTop(config)`` with top module ``name``, and its port list."""
    from sim.tops import TileTop
    return convert_component(TileTop(config), name=name)


#: What ``systolica generate`` can write: the whole accelerator (AXI4-Lite CSRs + AXI4 master, what drops into
#: an FPGA SoC) or the array test top (scratchpad + array + accumulator streams).
TOPS = ("accelerator", "array")


def write(config, out_dir, *, name=TOP_NAME, top="array", progress=print):
    """Write ``<out_dir>/<name>.v`` and ``<out_dir>/<name>.json``; return (verilog path, manifest dict)."""
    if top not in TOPS:
        raise ValueError(f"top must be one of {TOPS}, not {top!r}")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cached = False
    if top == "accelerator":
        from sim.system import accelerator_verilog
        v = accelerator_verilog(config, name=name, progress=progress)
        text, ports, seconds, cached = v.text, v.ports, v.seconds, v.cached
    else:
        progress(f"[generate] elaborating and converting {name} ({top}, dim={config.dim}) ...")
        text, ports = convert(config, name=name)
        seconds = time.perf_counter() - t0
    vpath = out / f"{name}.v"
    vpath.write_text(text)
    from golden import cycles
    manifest = {
        "top": name,
        "kind": top,
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "derived": {"spad_rows": config.spad_rows, "acc_rows": config.acc_rows,
                    "spad_addr_width": config.spad_addr_width, "acc_addr_width": config.acc_addr_width},
        "ports": [{"name": n, "dir": d, "width": w} for n, d, w in ports],
        "cycle_formula": cycles.FORMULA,
        "generate_seconds": round(seconds, 3),  # of the conversion, also when this call reused it
        "generate_cached": cached,
    }
    (out / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    how = "reused the cached conversion of" if cached else "converted in"
    progress(f"[generate] wrote {vpath} ({len(text) // 1024} KiB) and {name}.json ({how} {seconds:.1f} s)")
    return vpath, manifest


def add_arguments(parser):
    add_config_arguments(parser)
    parser.add_argument("--name", default=TOP_NAME, help="top module name (default: %(default)s)")
    parser.add_argument("--top", choices=TOPS, default="accelerator",
                        help="accelerator (AXI4-Lite + AXI4 master) or array (the tile engine's streams) "
                             "(default: %(default)s)")
    parser.add_argument("--out", required=True, help="output directory")


def run(args):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.name):
        raise ValueError(f"--name must be a Verilog identifier, not {args.name!r}")
    config = config_from_args(args)
    _, manifest = write(config, args.out, name=args.name, top=args.top)
    print(f"ports of {args.name} (config {manifest['config_hash']}):")
    for p in manifest["ports"]:
        print(f"  {p['dir']:<6} {p['width']:>4}  {p['name']}")
    return 0
