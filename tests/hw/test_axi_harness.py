"""The fast AXI harness (sim/axi_mem.sv + SV wrapper, clock in SV) around a DMA copy DUT: data round trip
through +MEM_INIT / $writememh, CSR start and irq, strided copy, bus error; and (slow) its speed against the
plain cocotb + cocotbext-axi harness."""
import json
import os

import pytest

from sim import runner
from sim.tb_axi import copy_design
from sim.tb_axi_harness import harness_design, write_hex
from sim.cocotb_axi_harness import copy_case


def copy_harness_design():
    d = copy_design()
    return harness_design(d.key, d.make_verilog, dut_name=d.name)


def _run_fast(tmp_path, args, name, latency=0):
    init, dump, result = tmp_path / "init.hex", tmp_path / "dump.hex", tmp_path / "result.json"
    write_hex(init, copy_case(**args), 128)
    env = {"SYSTOLICA_COPY": json.dumps(args), "SYSTOLICA_DUMP": str(dump), "SYSTOLICA_INIT": str(init),
           "SYSTOLICA_RESULT": str(result)}
    runner.run_test(copy_harness_design(), "sim.cocotb_axi_harness", testcase="test_copy", extra_env=env,
                    plusargs=[f"+MEM_INIT={init}", f"+MEM_DUMP={dump}", f"+MEM_LATENCY={latency}"],
                    results_name=f"{name}-{os.getpid()}")
    return json.loads(result.read_text())


def test_harness_copy(tmp_path):
    r = _run_fast(tmp_path, {"seed": 5, "lines": 3000}, "copy")
    assert r["r_beats"] == 3000 + 1 + 1 and r["w_beats"] == 3000 + 1   # +descriptor, +unaligned tails


@pytest.mark.slow
def test_harness_speed(tmp_path):
    """Cycles/s of a long contiguous copy, fast harness vs plain cocotb; bus efficiency = beats / cycles."""
    lines = 60_000
    report = {}
    for lat in (0, 8):
        r = _run_fast(tmp_path, {"seed": 1, "lines": lines, "speed_only": True}, f"speed{lat}", latency=lat)
        report[f"fast_lat{lat}"] = dict(r, cycles_per_s=r["cycles"] / r["seconds"],
                                        efficiency=r["w_beats"] / r["cycles"])
    r = _run_fast(tmp_path, {"seed": 1, "lines": 30_000, "stride": 32, "src": 0x10_0000, "dst": 0x80_0000,
                             "speed_only": True}, "strided")
    report["fast_strided32"] = dict(r, cycles_per_s=r["cycles"] / r["seconds"], lines_per_cycle=30_000 / r["cycles"])
    args = {"seed": 1, "lines": 6000}
    result = tmp_path / "plain.json"
    runner.run_test(copy_design(), "sim.cocotb_axi_harness", testcase="test_copy_plain",
                    extra_env={"SYSTOLICA_COPY": json.dumps(args), "SYSTOLICA_RESULT": str(result)},
                    results_name=f"plain-{os.getpid()}")
    r = json.loads(result.read_text())
    report["plain"] = dict(r, cycles_per_s=r["cycles"] / r["seconds"])
    report["ratio"] = report["fast_lat0"]["cycles_per_s"] / report["plain"]["cycles_per_s"]
    out = runner.BUILD_ROOT / "axi_bench.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    assert report["fast_lat0"]["efficiency"] > 0.8
