"""Execute unit on Amaranth's simulator: the A lanes past K are don't-care, as in the ISA.

``golden.machine`` reads only the first K columns of a MATMUL's A operand, so whatever sits in the lanes past K of
the last K block (another tensor's data, stale rows) must not reach the result. The hardware guarantees it by
preloading the weight rows ``k >= K`` of the last block as zeros; the other tile tests keep those lanes zero and
cannot see it.
"""
import numpy as np
import pytest

from golden.config import AcceleratorConfig
from sim.pysim import check, run_job
from sim.tile_job import Job, MatmulOp, a_region


@pytest.mark.parametrize("dim", [2, 4])
def test_a_lanes_past_k_do_not_matter(dim):
    cfg = AcceleratorConfig(dim=dim, spad_kib=1, acc_kib=1)
    rng = np.random.default_rng(dim)
    ops, sp = [], 0
    for m, k in ((3, 1), (dim + 1, dim + 1), (2, 2 * dim - 1), (1, 3 * dim + 1)):
        a, b = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, dim))
        ops.append(MatmulOp(a, b, sp, sp + a_region(m, k, cfg), 0, False))
        sp += a_region(m, k, cfg) + k
    job = Job(cfg, ops)
    for op in ops:
        kb, pad = -(-op.k // dim), -op.k % dim
        for i in range(op.rows):                     # the last K block's rows: junk in the lanes past K
            row = job.spad[op.a_addr + (kb - 1) * op.rows + i]
            row[dim - pad:] = rng.integers(-128, 128, pad)
    check(job, run_job(job))
