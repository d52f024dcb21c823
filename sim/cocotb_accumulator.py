"""cocotb tests of hw.accumulator.Accumulator (run through tests/hw/test_accumulator.py).

Environment: ``SYSTOLICA_CONFIG``, ``SYSTOLICA_SEED``.
"""
import os

import cocotb
import numpy as np

from golden.config import AcceleratorConfig

from .tb_accumulator import AccumulatorTB


def _setup(dut, gap, backpressure):
    cfg = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
    seed = int(os.environ.get("SYSTOLICA_SEED", "1"))
    return cfg, np.random.default_rng(seed), AccumulatorTB(dut, cfg, seed=seed, gap=gap, backpressure=backpressure)


def _row(rng, cfg):
    lim = 1 << (cfg.acc_width - 1)
    # Mostly values near the wrap point, so accumulation overflows often.
    return rng.integers(-lim, lim, cfg.dim) if rng.random() < 0.5 else rng.integers(-100, 100, cfg.dim)


@cocotb.test()
async def test_rmw_same_row_back_to_back(dut):
    """Writes to one row on consecutive cycles: the transparent read must forward each result."""
    cfg, rng, tb = _setup(dut, gap=0.0, backpressure=0.0)
    await tb.reset()
    addr = cfg.acc_rows - 3  # the hardware keeps its contents across tests: stay clear of the other test's rows
    writes = [(addr, _row(rng, cfg), i > 0, cfg.dim, i == 19) for i in range(20)]
    await tb.write(writes)
    await tb.read(addr, 1)


@cocotb.test()
async def test_random_writes_and_reads(dut):
    """Random addresses across banks, overwrite/accumulate, partial columns, reads under backpressure."""
    cfg, rng, tb = _setup(dut, gap=0.3, backpressure=0.5)
    await tb.reset()
    span = min(cfg.acc_rows, 24)
    writes = [(int(rng.integers(0, span)), _row(rng, cfg), bool(rng.integers(0, 2)),
               int(rng.integers(1, cfg.dim + 1)), bool(rng.random() < 0.2)) for _ in range(300)]
    await tb.write(writes)
    await tb.read(0, span)
    for _ in range(5):
        a = int(rng.integers(0, span))
        await tb.read(a, int(rng.integers(0, span - a + 1)))
    await tb.read(cfg.acc_rows - 2, 2)  # the last rows, never written: zero


@cocotb.test()
async def test_fills_beside_writes(dut):
    """Whole-row fills (LOADs) beside back-to-back and random writes on other rows: each fill is taken exactly
    when its bank is free of the write stage, and every row reads back as the model's."""
    cfg, rng, tb = _setup(dut, gap=0.0, backpressure=0.3)
    await tb.reset()
    span = min(cfg.acc_rows // 2, 16)
    base = cfg.acc_rows // 2        # fills in the upper half, writes in the lower
    writes = [(i % span, _row(rng, cfg), i >= span, cfg.dim, False) for i in range(40)]  # overwrite, then add
    fills = [(base + i % span, _row(rng, cfg)) for i in range(40)]
    await tb.write(writes, fills)
    tb.gap = 0.4
    writes = [(int(rng.integers(0, span)), _row(rng, cfg), bool(rng.integers(0, 2)),
               int(rng.integers(1, cfg.dim + 1)), False) for _ in range(100)]
    fills = [(base + int(rng.integers(0, span)), _row(rng, cfg)) for _ in range(60)]
    await tb.write(writes, fills)
    await tb.read(0, span)
    await tb.read(base, span)
