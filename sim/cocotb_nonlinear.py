"""cocotb tests of the nonlinear unit; run through sim.runner (tests/hw/test_nonlinear.py picks config and case).

``test_nonlinear`` is parametrized over ``sim.nl_job.CASES``: one cocotb test per case, named
``test_nonlinear/case=<name>``; ``sim.runner.run_test(..., testcase="test_nonlinear/case=<name>")`` runs one.

Environment: ``SYSTOLICA_CONFIG`` (config JSON), ``SYSTOLICA_SEED``, ``SYSTOLICA_RESULT`` (optional JSON file:
measured and model cycles per job, used by the bench).
"""
import json
import os

import cocotb
import numpy as np

from golden.config import AcceleratorConfig

from .nl_job import CASES
from .tb_nonlinear import NonlinearTB
from .tops import NonlinearTop


@cocotb.test()
@cocotb.parametrize(case=[cocotb.Param(fn, name) for name, fn in CASES.items()])
async def test_nonlinear(dut, case):
    """Every job of one case: outputs against golden/ under random gaps and backpressure, then again without
    backpressure with the command's cycles against golden.cycles (``NonlinearTB.check``)."""
    cfg = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
    seed = int(os.environ.get("SYSTOLICA_SEED", "1"))
    tb = NonlinearTB(dut, cfg, NonlinearTop(cfg).n, seed=seed)
    await tb.reset()
    measured = []
    for job in case(cfg, np.random.default_rng(seed)):
        cycles = await tb.check(job)
        measured.append({"op": job.op.name, "rows": job.rows, "length": job.x.shape[1], "dst": job.dst,
                         "cycles": cycles, "model": job.model_cycles()})
    if os.environ.get("SYSTOLICA_RESULT"):
        with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
            json.dump(measured, f)
