"""Nonlinear unit (normalization unit + activation lanes) under cocotb + Verilator: bit-exact and cycle-exact.

Each (configuration, case of ``sim.nl_job.CASES``) runs the cocotb test ``sim.cocotb_nonlinear.test_nonlinear/
case=<case>``, one simulator run per pytest case: every job twice, with random output backpressure and input gaps
(outputs vs golden/) and without (outputs, and cycles vs golden.cycles, for the output stream and the scratchpad
writer alike). Set ``SYSTOLICA_WAVES=1`` to rerun a failing case with an FST dump (see sim.waves).
"""
import os
import zlib

import numpy as np
import pytest

from golden.config import AcceleratorConfig
from sim import runner
from sim.nl_job import CASES

MODULE = "sim.cocotb_nonlinear"

CONFIGS = {
    "dim4": AcceleratorConfig(dim=4),
    "dim8": AcceleratorConfig(dim=8),
    "dim16": AcceleratorConfig(dim=16),
    "dim8-lanes4": AcceleratorConfig(dim=8, lanes=4),
    # One and three derive engines (the default is two): see ENGINE_CASES.
    "dim4-engines1": AcceleratorConfig(dim=4, derive_engines=1),
    "dim4-engines3": AcceleratorConfig(dim=4, derive_engines=3),
    # ReBERT's split-LUT exp (golden.softmax.i_exp_lut): the softmax cases only (see LUT_CASES)
    "dim4-lut": AcceleratorConfig(dim=4, exp_impl="lut"),
}
LUT_CONFIGS = {"dim4-lut"}
LUT_CASES = {"softmax_random", "softmax_edges", "softmax_band", "softmax_other_exp"}
ENGINE_CONFIGS = {"dim4-engines1", "dim4-engines3"}
# Short rows, where the derive engines are the bottleneck: the RTL's cycles follow the engine count, and so must
# the model's (test_engine_cases_are_derive_bound keeps these cases that way).
ENGINE_CASES = {"softmax_random", "softmax_edges", "layernorm_random", "layernorm_edges", "residual_and_spad"}
# dim 8 sits between dim 4 and dim 16 and shares its datapath with dim8-lanes4: test-all only (one build less)
# dim16 (a build of 60-100 s): its unit-level cases run in test-all only, so that make test stays under its 12
# minutes; in make test the DIM 16 nonlinear unit runs bit-exact inside the BERT-base layer
# (tests/systolica/test_layer.py), and dim4 / dim8-lanes4 check every case cycle-exact
# the derive-engine configurations (dim4-engines1, dim4-engines3; a build each): test-all only, so that make test
# stays under its 12 minutes (test_engine_cases_are_derive_bound keeps the model's dependence in make test)
# the split-LUT lanes' random and edge softmax cases: test-all only (softmax_band and softmax_other_exp keep the
# LUT lanes in make test)
SLOW = ({(c, "minilm_shapes") for c in CONFIGS if c != "dim16"} | {("dim8", c) for c in CASES}
        | {(e, c) for e in ENGINE_CONFIGS for c in CASES} | {("dim16", c) for c in CASES}
        | {("dim4-lut", "softmax_random"), ("dim4-lut", "softmax_edges")})
assert ENGINE_CASES | LUT_CASES <= set(CASES), "a case named here is not in sim.nl_job.CASES"


def _params():
    for cname in CONFIGS:
        for case in CASES:
            if cname in ENGINE_CONFIGS and case not in ENGINE_CASES:
                continue
            if cname in LUT_CONFIGS and case not in LUT_CASES:
                continue
            marks = [pytest.mark.slow] if (cname, case) in SLOW else []
            yield pytest.param(cname, case, id=f"{cname}-{case}", marks=marks)


@pytest.mark.parametrize("cname,case", list(_params()))
def test_nonlinear(cname, case):
    cfg = CONFIGS[cname]
    env = {"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_SEED": str(zlib.crc32(f"{cname}-{case}".encode()) % 10_000)}
    design = runner.nonlinear_top_design(cfg)
    testcase = f"test_nonlinear/case={case}"
    try:
        runner.run_test(design, MODULE, testcase=testcase, extra_env=env, results_name=f"{case}-{os.getpid()}")
    except BaseException:
        if os.environ.get("SYSTOLICA_WAVES"):
            from sim import waves
            path = waves.dump_failure(design, MODULE, testcase, env)
            print(f"waveform of the failing case: {path}")
        raise


@pytest.mark.parametrize("case", sorted(ENGINE_CASES))
def test_engine_cases_are_derive_bound(case):
    """The model's cycles of each ENGINE_CASES case fall from one to two to three engines on the dim-4 array,
    so the engine configurations above check a real dependence (no simulator)."""
    totals = [sum(job.model_cycles() for job in CASES[case](AcceleratorConfig(dim=4, derive_engines=e),
                                                               np.random.default_rng(0)))
              for e in (1, 2, 3)]
    assert totals[0] > totals[1] > totals[2], totals
