"""`systolica bench` section "array": generation and build times, utilization, simulator speeds.

Everything is measured in one run on the DIM=16 default configuration:

- Verilog generation and a fresh Verilator build into a temporary directory (no cache);
- utilization from the hardware counters on 8 back-to-back 16x16 tiles with K = 384 (cocotb + Verilator,
  no input gaps), and the same for one isolated tile; the same 8 tiles on the output-stationary build;
- simulation speed in cycles/s of the compute phase, cocotb + Verilator vs Amaranth's Python simulator, with
  the same testbench structure (Python drives the command stream every cycle), and their ratio; plus
  cocotb + Verilator when Python only waits for ``op_done`` (one K = 4096 operation).
"""
import json
import os
import pathlib
import tempfile
import time

import numpy as np

from golden.config import AcceleratorConfig

from sim import runner

__all__ = ["run"]


def _cocotb_job(design, cfg, root, tiles, progress, *, build_root=True):
    out = pathlib.Path(root) / f"b2b-{tiles}.json"
    env = {"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_GAP": "0", "SYSTOLICA_BACKPRESSURE": "0",
           "SYSTOLICA_TILES": str(tiles), "SYSTOLICA_RESULT": str(out), "SYSTOLICA_SEED": "7"}
    runner.run_test(design, "sim.cocotb_tile", testcase="test_tile/case=back_to_back", extra_env=env,
                    root=root if build_root else None, progress=progress, results_name=f"bench-{tiles}")
    return json.loads(out.read_text())


def run(progress):
    from golden import cycles
    from sim.pysim import check, run_job
    from sim.tile_job import Job, MatmulOp

    cfg = AcceleratorConfig(dim=16)
    res = {}
    with tempfile.TemporaryDirectory(prefix="systolica-bench-") as tmp:
        from systolica import generate
        progress("Verilog generation, dim=16 (in this process) ...")
        t0 = time.perf_counter()
        generate.convert(cfg)
        res["verilog_gen_dim16"] = (time.perf_counter() - t0, "s")
        design = runner.tile_top_design(cfg)
        progress("fresh Verilator build, dim=16 (into a temporary directory) ...")
        bdir = runner.build(design, root=tmp, progress=progress, force=True)
        times = dict(line.split() for line in (bdir / "times.txt").read_text().splitlines())
        res["verilator_build_dim16"] = (float(times["verilator"]), "s")

        progress("cocotb + Verilator: 8 back-to-back 16x16 tiles, K=384 ...")
        b2b = _cocotb_job(design, cfg, tmp, 8, progress)
        res["utilization_b2b_8x_16x16_k384"] = (b2b["mac_cycles"] / b2b["busy_cycles"], "fraction of DIM^2 MACs/cycle")
        res["mac_cycles_b2b"] = (b2b["mac_cycles"], "cycles")
        res["busy_cycles_b2b"] = (b2b["busy_cycles"], "cycles")
        ops = [cycles.TileOp(rows=16, k=384)] * 8
        mac, busy = cycles.utilization(ops, cfg)
        res["utilization_b2b_model"] = (mac / busy, "fraction")
        one = _cocotb_job(design, cfg, tmp, 1, progress)
        res["utilization_single_16x16_k384"] = (one["mac_cycles"] / one["busy_cycles"], "fraction")
        res["cycles_single_16x16_k384"] = (one["busy_cycles"], "cycles")
        cocotb_speed = b2b["compute_cycles"] / b2b["compute_seconds"]
        res["cocotb_verilator_speed"] = (cocotb_speed, "cycles/s")
        progress("cocotb + Verilator, free running: one K=4096 operation, Python waits for op_done ...")
        out = pathlib.Path(tmp) / "free.json"
        runner.run_test(design, "sim.cocotb_tile", testcase="test_free_running", root=tmp, progress=progress,
                        extra_env={"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_RESULT": str(out)},
                        results_name="bench-free")
        free = json.loads(out.read_text())
        res["cocotb_verilator_speed_free_running"] = (free["cycles"] / free["seconds"], "cycles/s")

    progress("output-stationary dim=16: 8 back-to-back 16x16 tiles, K=384 (cached build) ...")
    os_cfg = cfg.replace(dataflow="os")
    with tempfile.TemporaryDirectory(prefix="systolica-bench-") as tmp:
        b2b_os = _cocotb_job(runner.tile_top_design(os_cfg), os_cfg, tmp, 8, progress, build_root=False)
    res["utilization_b2b_os"] = (b2b_os["mac_cycles"] / b2b_os["busy_cycles"], "fraction")

    progress("Amaranth Python simulator: 2 back-to-back tiles of the same design ...")
    rng = np.random.default_rng(7)
    a, b = rng.integers(-128, 128, (16, 384)), rng.integers(-128, 128, (384, 16))
    job = Job(cfg, [MatmulOp(a, b, 0, 384, 16 * i, False) for i in range(2)])
    py = run_job(job)
    check(job, py)
    py_speed = py["compute_cycles"] / py["compute_seconds"]
    res["amaranth_pysim_speed"] = (py_speed, "cycles/s")
    res["speed_ratio_cocotb_over_pysim"] = (cocotb_speed / py_speed, "x")
    res["cpu_count"] = (os.cpu_count(), "cores")
    for k, (v, u) in res.items():
        progress(f"{k} = {v:.4g} {u}" if isinstance(v, float) else f"{k} = {v} {u}")
    return res
