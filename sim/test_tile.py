"""cocotb tests of the tile engine; run through sim.runner (tests/hw/test_tile.py picks config and case).

Environment: ``SYSTOLICA_CONFIG`` (config JSON), ``SYSTOLICA_SEED``, ``SYSTOLICA_GAP``,
``SYSTOLICA_BACKPRESSURE``, ``SYSTOLICA_RESULT`` (optional JSON file for measurements, used by the bench).
"""
import json
import os

import cocotb
import numpy as np

from golden.config import AcceleratorConfig

from .tb_tile import TileTB
from .tile_job import Job, MatmulOp, a_region

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _place(cfg, shapes_and_data, *, c_addrs=None, accumulate=None):
    """Lay out operands one after another in the scratchpad; C tiles at ``c_addrs`` (default: stacked)."""
    ops, sp, cp = [], 0, 0
    n = cfg.dim
    for i, (a, b) in enumerate(shapes_and_data):
        size = a_region(a.shape[0], a.shape[1], cfg)
        c_addr = c_addrs[i] if c_addrs else cp
        acc = accumulate[i] if accumulate else False
        ops.append(MatmulOp(a=a, b=b, a_addr=sp, b_addr=sp + size, c_addr=c_addr, accumulate=acc))
        sp += size + a.shape[1]
        cp += a.shape[0]
    return ops


def _rand(rng, cfg, m, k, n):
    ia = 1 << (cfg.input_width - 1)
    return rng.integers(-ia, ia, (m, k)), rng.integers(-128, 128, (k, n))


@case
def random_shapes(cfg, rng):
    """Random M, K, N (mostly not multiples of dim: padding), random overwrite/accumulate onto shared C."""
    n = cfg.dim
    pairs, caddrs, accs = [], [], []
    for _ in range(6):
        m, k, c = int(rng.integers(1, 2 * n + 1)), int(rng.integers(1, 3 * n + 2)), int(rng.integers(1, n + 1))
        pairs.append(_rand(rng, cfg, m, k, c))
        caddrs.append(int(rng.integers(0, n)))
        accs.append(bool(rng.integers(0, 2)))
    return _place(cfg, pairs, c_addrs=caddrs, accumulate=accs)


@case
def k_1(cfg, rng):
    return _place(cfg, [_rand(rng, cfg, cfg.dim, 1, cfg.dim)])


@case
def k_4096(cfg, rng):
    return _place(cfg, [_rand(rng, cfg, cfg.dim, 4096, cfg.dim)])


@case
def all_min(cfg, rng):
    """All -128 (and the activation minimum): the largest positive accumulations."""
    n, lo = cfg.dim, -(1 << (cfg.input_width - 1))
    k = 4 * n + 3
    return _place(cfg, [(np.full((n, k), lo), np.full((k, n), -128))])


@case
def all_max(cfg, rng):
    n, hi = cfg.dim, (1 << (cfg.input_width - 1)) - 1
    k = 4 * n + 1
    return _place(cfg, [(np.full((n, k), hi), np.full((k, n), 127)), (np.full((n, k), hi), np.full((k, n), -128))])


@case
def zeros(cfg, rng):
    n = cfg.dim
    a, b = _rand(rng, cfg, n, 2 * n, n)
    # First fill C with something, then overwrite with a zero product: zeros must really be written.
    return _place(cfg, [(a, b), (np.zeros((n, 2 * n), np.int64), np.zeros((2 * n, n), np.int64))],
                  c_addrs=[0, 0], accumulate=[False, False])


@case
def identity(cfg, rng):
    n = cfg.dim
    a, _ = _rand(rng, cfg, 2 * n + 1, n, n)
    return _place(cfg, [(a, np.eye(n, dtype=np.int64))])


@case
def accumulate_vs_overwrite(cfg, rng):
    n = cfg.dim
    p = [_rand(rng, cfg, n + 1, 2 * n - 1, n) for _ in range(4)]
    return _place(cfg, p, c_addrs=[2, 2, 2, 2], accumulate=[True, True, False, True])


@case
def back_to_back(cfg, rng):
    """Back-to-back dim x dim tiles with K = 384 (the utilization target), reusing A and B."""
    n = cfg.dim
    a, b = _rand(rng, cfg, n, 384, n)
    return [MatmulOp(a=a, b=b, a_addr=0, b_addr=a_region(n, 384, cfg), c_addr=i * n, accumulate=False)
            for i in range(int(os.environ.get("SYSTOLICA_TILES", "8")))]


async def _run(dut, name):
    cfg = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
    seed = int(os.environ.get("SYSTOLICA_SEED", "1"))
    rng = np.random.default_rng(seed)
    job = Job(cfg, CASES[name](cfg, rng))
    tb = TileTB(dut, cfg, seed=seed, gap=float(os.environ.get("SYSTOLICA_GAP", "0.3")),
                backpressure=float(os.environ.get("SYSTOLICA_BACKPRESSURE", "0.3")))
    await tb.reset()
    res = await tb.run_job(job)
    dut._log.info(f"{name}: {res}")
    path = os.environ.get("SYSTOLICA_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(res, f)


def _make(name):
    async def t(dut):
        await _run(dut, name)
    t.__name__ = f"test_{name}"
    t.__qualname__ = t.__name__
    t.__doc__ = CASES[name].__doc__
    return cocotb.test()(t)


for _name in CASES:
    globals()[f"test_{_name}"] = _make(_name)


@cocotb.test()
async def test_free_running(dut):
    """One long operation (rows = dim, K = 4096) while Python only waits for ``op_done``: the simulator's
    speed when the testbench does not touch every cycle (used by the bench, checked like the other cases)."""
    import time

    from cocotb.triggers import ReadOnly, RisingEdge

    from golden import cycles

    cfg = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
    rng = np.random.default_rng(int(os.environ.get("SYSTOLICA_SEED", "1")))
    job = Job(cfg, k_4096(cfg, rng))
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
    path = os.environ.get("SYSTOLICA_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(res, f)
