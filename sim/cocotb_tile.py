"""cocotb tests of the tile engine; run through sim.runner (tests/hw/test_tile.py picks config and case).

``test_tile`` is parametrized over ``sim.tile_job.CASES``: one cocotb test per case, named
``test_tile/case=<name>``; ``sim.runner.run_test(..., testcase="test_tile/case=<name>")`` runs one.

Environment: ``SYSTOLICA_CONFIG`` (config JSON), ``SYSTOLICA_SEED``, ``SYSTOLICA_GAP``,
``SYSTOLICA_BACKPRESSURE``, ``SYSTOLICA_RESULT`` (optional JSON file for measurements, used by the bench).
"""
import json
import os

import cocotb
import numpy as np

from golden.config import AcceleratorConfig

from .tb_tile import TileTB
from .tile_job import CASES, Job, k_4096


def _env_config():
    return AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"]), int(os.environ.get("SYSTOLICA_SEED", "1"))


def _write_result(res):
    path = os.environ.get("SYSTOLICA_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(res, f)


@cocotb.test()
@cocotb.parametrize(case=[cocotb.Param(fn, name) for name, fn in CASES.items()])
async def test_tile(dut, case):
    """One case of ``sim.tile_job.CASES`` with random input gaps and read backpressure: accumulator rows
    against golden/, every operation's (accept, done) cycles and the counters against golden.cycles."""
    cfg, seed = _env_config()
    job = Job(cfg, case(cfg, np.random.default_rng(seed)))
    tb = TileTB(dut, cfg, seed=seed, gap=float(os.environ.get("SYSTOLICA_GAP", "0.3")),
                backpressure=float(os.environ.get("SYSTOLICA_BACKPRESSURE", "0.3")))
    await tb.reset()
    res = await tb.run_job(job)
    dut._log.info(f"{case.__name__}: {res}")
    _write_result(res)


@cocotb.test()
async def test_free_running(dut):
    """One long operation (rows = dim, K = 4096) while Python only waits for ``op_done``: the simulator's
    speed when the testbench does not touch every cycle (used by the bench, checked like the other cases)."""
    import time

    from cocotb.triggers import ReadOnly, RisingEdge

    from golden import cycles

    cfg, seed = _env_config()
    job = Job(cfg, k_4096(cfg, np.random.default_rng(seed)))
    tb = TileTB(dut, cfg)
    await tb.reset()
    await tb.load_spad(job.spad)
    await tb.clear_counters()
    op = job.ops[0]
    dut.cmd__valid.value = 1
    dut.cmd__payload.value = tb.pk.cmd(a_addr=op.a_addr, b_addr=op.b_addr, c_addr=op.c_addr, rows=op.rows,
                                       k=op.k, cols=op.cols, accumulate=op.accumulate)
    await ReadOnly()
    assert dut.cmd__ready.value, "idle engine must accept a command at once"
    await tb.tick()
    dut.cmd__valid.value = 0
    t0 = time.perf_counter()
    await RisingEdge(dut.op_done)
    wall = time.perf_counter() - t0
    await tb.tick()
    await tb.tick()
    mac, busy, total = await tb.counters()
    want = cycles.op_cycles(op.tile_op(), cfg)
    assert busy == want, f"busy_cycles {busy} != model {want}"
    got = await tb.read_acc(job.read_ranges())
    for a, row in job.expected.items():
        assert np.array_equal(got[a], row), f"row {a}: got {got[a].tolist()} want {row.tolist()}"
    res = {"cycles": busy, "seconds": wall, "mac_cycles": mac}
    dut._log.info(f"free_running: {res} -> {busy / wall:.0f} cycles/s")
    _write_result(res)
