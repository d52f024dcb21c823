"""`systolica synth` and `systolica build`: Yosys area per unit, the ECP5 flow.

The DIM-4 generic synthesis runs in `make test` (marker `synth`, ~1.5 min, cached under build/synth/);
the place-and-route builds are `slow` (`make test-all`).
"""
import pathlib

import pytest

from systolica import synth
from golden.config import AcceleratorConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path,unit", [
    ("exe", "array"), ("exe.mesh.pe_3_1", "array"), ("spad", "scratchpad"), ("acc", "accumulator"),
    ("nl.norm", "normalization unit"), ("nl.norm.reducer", "normalization unit"),
    ("nl.norm.engine0", "isqrt/divide (derive engines)"), ("nl.norm.engine12", "isqrt/divide (derive engines)"),
    ("nl.acts", "activation lanes"), ("nl", "nonlinear sequencer"), ("nl.writer", "nonlinear sequencer"),
    ("ctrl", "controller/DMA"), ("ctrl.q_load", "controller/DMA"), ("ldma.offs", "controller/DMA"),
    ("axi.rxq0", "controller/DMA"), ("csr", "controller/DMA"), ("", "top-level glue"),
])
def test_unit_of(path, unit):
    assert synth._unit_of(path) == unit


def test_not_built_units_print_as_such(monkeypatch):
    monkeypatch.setattr(synth, "UNITS", synth.UNITS + [("future unit", None)])
    result = {"target": "generic", "config": AcceleratorConfig(dim=4).to_dict(), "seconds": 0.0,
              "modules": {"exe": {"cells": 3, "FFs": 1, "multipliers": 1, "memories": 0, "memory bits": 0,
                                  "area (kT)": 0.5}}}
    rows, total = synth.unit_table(result)
    assert dict(rows)["future unit"] is None
    assert total["cells"] == 3
    assert "| future unit | not built yet |" in synth.format_table(result)


@pytest.mark.parametrize("argv,needle", [
    (["synth", "--dim", "1"], "dim must be in 2..32, not 1"),
    (["synth", "--sweep", "2,x"], "--sweep must be comma-separated integers, not '2,x'"),
    (["synth", "--sweep", "4,64"], "dim must be in 2..32, not 64"),
    (["build", "--freq", "0"], "freq must be a number of MHz in 1..400, not 0.0"),
])
def test_cli_errors(argv, needle, capsys):
    from systolica.cli import main
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.slow      # ~80 s of Yosys: make test-all (make test keeps its 12-minute budget)
@pytest.mark.synth
def test_synth_dim4_generic():
    cfg = AcceleratorConfig(dim=4)
    result = synth.synthesize(cfg, "generic", out_root=ROOT / "build" / "synth", progress=lambda _: None)
    rows, total = synth.unit_table(result)
    rows = dict(rows)
    built = {k: v for k, v in rows.items() if v is not None}
    # The per-unit table sums to the total, and the total is Yosys' own design cell count.
    for col in synth.TARGETS["generic"]["columns"]:
        assert sum(r[col] for r in built.values()) == pytest.approx(total[col])
    assert total["cells"] + total["FFs"] + total["memories"] == result["cells_total"]
    # Memories stay memories, with exactly the configured capacity.
    assert rows["scratchpad"]["memory bits"] == cfg.spad_rows * cfg.spad_row_bits
    assert rows["accumulator"]["memory bits"] == cfg.acc_rows * cfg.acc_row_bits
    assert rows["scratchpad"]["FFs"] < 64 and rows["accumulator"]["FFs"] < 1024
    # One multiplier per PE; every built unit has logic.
    assert rows["array"]["multipliers"] == cfg.dim ** 2
    for label in ("array", "normalization unit", "isqrt/divide (derive engines)", "activation lanes",
                  "controller/DMA"):
        assert rows[label]["cells"] > 0, label
    share = synth.overhead(result)["area (kT)"]
    assert 0 < share < 1
    text = synth.format_table(result)
    assert "| **total** |" in text and "| controller/DMA |" in text


def test_board_plan_uses_the_platform():
    """The ULX3S build plan comes from amaranth-boards: its pins in the LPF, the PLL clock constrained, no
    programmer required, all-zero memory initializers cut."""
    from systolica import fpga
    cfg = AcceleratorConfig(dim=2, spad_kib=1, acc_kib=1, lanes=1)
    pll = fpga.pll_verilog(100)
    assert pll[1] == 100.0 and "EHXPLLL" in pll[0] and f"module {fpga.PLL}" in pll[0]
    plan = fpga._plan("ulx3s", "tile", cfg, pll, seed=7)
    lpf, script = plan.files[f"{fpga.BOARD_TOP}.lpf"], plan.files[f"build_{fpga.BOARD_TOP}.sh"]
    for site in ("G2", "B2", "H3", "R1", "T1"):        # 25 MHz clock, LEDs 0 and 7, buttons fire 1 and 2
        assert f'SITE "{site}"' in lpf
    assert "FREQUENCY NET" in lpf and "100000000" in lpf
    assert "--seed 7" in script and "--report report.json" in script and "--timing-allow-fail" in script
    assert "openFPGALoader" not in fpga._platform("ulx3s").required_tools
    assert "$meminit" not in plan.files[f"{fpga.BOARD_TOP}.il"]
    # the self-test drives the LEDs itself; its image and expected bytes stay (non-zero memory initializers)
    plan = fpga._plan("ulx3s", "selftest", cfg.replace(dim=4, spad_kib=8, acc_kib=4), pll, seed=1)
    assert "$meminit" in plan.files[f"{fpga.BOARD_TOP}.il"] and 'SITE "B2"' in plan.files[f"{fpga.BOARD_TOP}.lpf"]
    with pytest.raises(ValueError, match="seeds must be distinct non-negative integers, not \\(1, 1\\)"):
        fpga.build(cfg, design="tile", seeds=(1, 1))
    with pytest.raises(ValueError, match="design must be one of"):
        fpga.build(cfg, design="nope")


@pytest.mark.slow
@pytest.mark.synth
@pytest.mark.parametrize("design", ["tile", "accelerator"])
def test_build_ulx3s_dim4(design):
    from systolica import fpga
    cfg = AcceleratorConfig(dim=4, spad_kib=16, acc_kib=16)
    r = fpga.build(cfg, design=design, seeds=(1, 2), out_root=ROOT / "build" / "fpga", progress=lambda _: None)
    assert pathlib.Path(r["bitstream"]).stat().st_size > 100_000
    assert 20 < r["fmax"]["min"] <= r["fmax_mhz"] <= r["fmax"]["max"] < 500
    used, avail = r["utilization"]["MULT18X18D"]
    assert used >= cfg.dim ** 2 and avail == fpga.BOARDS["ulx3s"]["mult18"]
    c = r["critical_path"]
    assert c["delay_ns"] == pytest.approx(1000 / r["fmax"]["max"], rel=0.2)
    assert sum(c["by_kind"].values()) == pytest.approx(c["delay_ns"], abs=0.01)
