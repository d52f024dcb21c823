"""The accelerator's Verilog is elaborated once per configuration and sources (sim.runner.cached_verilog), shared
by `systolica generate`, the demo and the RTL harness build; the plain C++ driver of the harness model (the
benchmarks' ceiling) runs a program to the same result and cycle count as cocotb."""
import json

import numpy as np

from golden.config import AcceleratorConfig
from sim import runner, system
from sim.tb_axi_harness import build_cpp_driver, run_cpp_driver, write_hex

CFG = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)


def test_cached_verilog_converts_once(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return f"module m{len(calls)}; endmodule\n", [("clk", "input", 1), ("x", "output", 3)]

    first = runner.cached_verilog("k", "m", make, root=tmp_path)
    again = runner.cached_verilog("k", "m", make, root=tmp_path)
    assert len(calls) == 1 and not first.cached and again.cached
    assert again.text == first.text and again.ports == [("clk", "input", 1), ("x", "output", 3)]
    assert again.seconds == first.seconds
    other = runner.cached_verilog("k2", "m", make, root=tmp_path)     # another key: converted
    assert len(calls) == 2 and not other.cached
    fresh = runner.cached_verilog("k", "m", make, root=tmp_path, force=True)
    assert len(calls) == 3 and not fresh.cached and "m3" in fresh.text
    assert runner.cached_verilog("k", "m", make, root=tmp_path).text == fresh.text


def test_generate_then_harness_elaborate_once(tmp_path, monkeypatch):
    """What `make demo` does: generate's Verilog (under the harness's top name), then the harness build's."""
    from systolica import generate
    import sim.verilog

    monkeypatch.setattr(runner, "BUILD_ROOT", tmp_path / "build")
    count = []
    convert = sim.verilog.convert_component
    monkeypatch.setattr(sim.verilog, "convert_component", lambda *a, **k: (count.append(1), convert(*a, **k))[1])
    vpath, man = generate.write(CFG, tmp_path / "out", name=system.ACCEL_NAME, top="accelerator",
                                progress=lambda m: None)
    assert len(count) == 1 and not man["generate_cached"] and man["generate_seconds"] > 0
    text, ports = system.accelerator_design(CFG).make_verilog()
    assert len(count) == 1                                   # the harness reused generate's conversion
    assert vpath.read_text() in text and f"module {system.ACCEL_NAME}(" in text
    assert [tuple(p.values()) for p in man["ports"]] == [tuple(p) for p in system.accelerator_verilog(CFG).ports]
    _, man2 = generate.write(CFG, tmp_path / "out2", name=system.ACCEL_NAME, top="accelerator",
                             progress=lambda m: None)
    assert len(count) == 1 and man2["generate_cached"] and man2["generate_seconds"] == man["generate_seconds"]


def test_cpp_driver_matches_cocotb(tmp_path):
    from tests.hw.test_system import OUT, PROG, matmul_requant_program
    seg, want = matmul_requant_program(CFG, np.random.default_rng(3))
    r = system.run_program(CFG, seg, PROG, [(OUT, want.size)])
    assert r.done and np.array_equal(np.frombuffer(r.reads[OUT], dtype=np.int8).reshape(want.shape), want)
    bdir = runner.build(system.accelerator_design(CFG))
    write_hex(tmp_path / "mem.hex", seg, CFG.bus_width)
    c = run_cpp_driver(build_cpp_driver(bdir), PROG, tmp_path / "mem.hex")
    assert (c["status"], c["cycles"], c["wall_cycles"]) == (r.status, r.cycles, r.wall_cycles)
    assert json.dumps(c)  # plain numbers (what the bench records)
