"""`systolica generate`: write the accelerator's Verilog and its JSON manifest, print the port list.

Also the library entry point other tools use (the simulation runner, the benchmarks): :func:`convert`.
"""
import json
import pathlib
import re
import time

from golden.config import AcceleratorConfig
from sim.verilog import convert_component

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
    progress(f"[generate] elaborating and converting {name} ({top}, dim={config.dim}) ...")
    if top == "accelerator":
        from hw.accelerator import Accelerator
        text, ports = convert_component(Accelerator(config), name=name)
    else:
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
        "generate_seconds": round(seconds, 3),
    }
    (out / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    progress(f"[generate] wrote {vpath} ({len(text) // 1024} KiB) and {name}.json in {seconds:.1f} s")
    return vpath, manifest


def add_arguments(parser):
    d = AcceleratorConfig()
    parser.add_argument("--dim", type=int, default=d.dim, help="array side (default: %(default)s)")
    parser.add_argument("--dataflow", default=d.dataflow, help="ws (default: %(default)s)")
    parser.add_argument("--input-width", type=int, default=d.input_width, help="activation bits, 8..16")
    parser.add_argument("--acc-width", type=int, default=d.acc_width, help="accumulator bits")
    parser.add_argument("--spad-kib", type=int, default=d.spad_kib)
    parser.add_argument("--spad-banks", type=int, default=d.spad_banks)
    parser.add_argument("--acc-kib", type=int, default=d.acc_kib)
    parser.add_argument("--acc-banks", type=int, default=d.acc_banks)
    parser.add_argument("--lanes", type=int, default=d.lanes)
    parser.add_argument("--config", help="JSON configuration file (overrides the options above)")
    parser.add_argument("--name", default=TOP_NAME, help="top module name (default: %(default)s)")
    parser.add_argument("--top", choices=TOPS, default="accelerator",
                        help="accelerator (AXI4-Lite + AXI4 master) or array (the tile engine's streams) "
                             "(default: %(default)s)")
    parser.add_argument("--out", required=True, help="output directory")


def config_from_args(args):
    if args.config:
        try:
            text = pathlib.Path(args.config).read_text()
        except OSError as e:
            raise ValueError(f"cannot read --config {args.config!r}: {e.strerror}") from None
        return AcceleratorConfig.from_json(text)
    return AcceleratorConfig(dim=args.dim, dataflow=args.dataflow, input_width=args.input_width,
                             acc_width=args.acc_width, spad_kib=args.spad_kib, spad_banks=args.spad_banks,
                             acc_kib=args.acc_kib, acc_banks=args.acc_banks, lanes=args.lanes)


def run(args):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.name):
        raise ValueError(f"--name must be a Verilog identifier, not {args.name!r}")
    config = config_from_args(args)
    _, manifest = write(config, args.out, name=args.name, top=args.top)
    print(f"ports of {args.name} (config {manifest['config_hash']}):")
    for p in manifest["ports"]:
        print(f"  {p['dir']:<6} {p['width']:>4}  {p['name']}")
    return 0
