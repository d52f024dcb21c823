"""Tile engine on Amaranth's Python simulator (no Verilator): small arrays, odd sizes, wrap-around accumulator.

These cover configurations the cocotb matrix does not build (dim 2 and 3, 16-bit accumulator) in seconds.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from golden.config import AcceleratorConfig
from sim.pysim import check, run_job
from sim.tile_job import Job, MatmulOp, a_region


def _random_job(cfg, seed, n_ops=5):
    rng = np.random.default_rng(seed)
    ia = 1 << (cfg.input_width - 1)
    ops, sp = [], 0
    for _ in range(n_ops):
        m, k, c = int(rng.integers(1, 2 * cfg.dim + 2)), int(rng.integers(1, 3 * cfg.dim + 2)), \
            int(rng.integers(1, cfg.dim + 1))
        a, b = rng.integers(-ia, ia, (m, k)), rng.integers(-128, 128, (k, c))
        kb = -(-k // cfg.dim)
        ops.append(MatmulOp(a, b, sp, sp + kb * m, int(rng.integers(0, 3)), bool(rng.integers(0, 2))))
        sp += kb * m + k
    return Job(cfg, ops)


@pytest.mark.parametrize("cfg", [
    AcceleratorConfig(dim=2, spad_kib=1, acc_kib=1),
    AcceleratorConfig(dim=3, spad_kib=3, spad_banks=2, acc_kib=3, acc_banks=1),
    AcceleratorConfig(dim=4, input_width=16, acc_width=24, spad_kib=2, acc_kib=3, acc_banks=1),
    AcceleratorConfig(dim=3, spad_kib=3, spad_banks=2, acc_kib=3, acc_banks=1, pe_pipeline=1),
    AcceleratorConfig(dim=2, spad_kib=1, acc_kib=1, pe_pipeline=2),
], ids=["dim2", "dim3", "dim4-in16-acc24", "dim3-pipe1", "dim2-pipe2"])
def test_random_ops(cfg):
    job = _random_job(cfg, seed=cfg.dim)
    check(job, run_job(job))


def test_accumulator_wraps_like_golden():
    cfg = AcceleratorConfig(dim=2, acc_width=16, spad_kib=1, acc_kib=1)
    a, b = np.full((2, 6), -128), np.full((6, 2), -128)  # 6 * 16384 wraps at 16 bits
    job = Job(cfg, [MatmulOp(a, b, 0, 6, 0, False), MatmulOp(a, b, 0, 6, 0, True)])
    assert job.expected[0][0] == ((12 * 16384 + 2**15) % 2**16) - 2**15
    check(job, run_job(job))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dim=st.integers(2, 5), dataflow=st.sampled_from(["ws", "os"]), seed=st.integers(0, 2**16),
       shapes=st.lists(st.tuples(st.integers(1, 12), st.integers(1, 20), st.integers(1, 5), st.booleans()),
                       min_size=1, max_size=4))
# Found by this test: an output-stationary final block of fewer rows with K < 2*dim - 1 committed before the same
# operation's earlier block, so op_done came with rows 2..4 not yet written.
@example(dim=5, dataflow="os", seed=0, shapes=[(6, 1, 1, False)])
# Found by this test: a later operation's block committed a row before an earlier operation's row to the same
# accumulator address, which then overwrote it.
@example(dim=2, dataflow="os", seed=0, shapes=[(2, 1, 1, False), (4, 1, 2, False)])
# Found by this test: a row written in the execute unit's timing wheel kept the slot's stale ``older`` flag from
# the command's acceptance, so an operation's second full row block waited on its own first one (done 4 cycles
# late at DIM 4, K 2). The second operation is accepted in the cycle the first one's rows are written.
@example(dim=4, dataflow="os", seed=0, shapes=[(8, 2, 1, False), (8, 1, 1, True)])
def test_cycle_model_is_exact_for_any_shapes(dim, dataflow, seed, shapes):
    """Any operation sequence on any small array, both dataflows: data == golden, (accept, done) ==
    golden.cycles."""
    cfg = AcceleratorConfig(dim=dim, dataflow=dataflow, spad_kib=2, spad_banks=2, acc_kib=1, acc_banks=1)
    rng = np.random.default_rng(seed)
    ops, sp = [], 0
    for m, k, c, acc in shapes:
        c = min(c, dim)
        a, b = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, c))
        size = a_region(m, k, cfg)
        ops.append(MatmulOp(a, b, sp, sp + size, int(rng.integers(0, 4)), acc))
        sp += size + k
    job = Job(cfg, ops)
    check(job, run_job(job))
