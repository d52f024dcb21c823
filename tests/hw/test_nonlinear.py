"""Nonlinear unit (normalization unit + activation lanes) under cocotb + Verilator: bit-exact and cycle-exact.

Each (configuration, case) runs ``sim.test_nonlinear.test_<case>``: every job twice, with random output
backpressure and input gaps (outputs vs golden/) and without (outputs, and cycles vs golden.cycles).
"""
import os
import zlib

import pytest

from golden.config import AcceleratorConfig
from sim import runner
from sim.minilm_vectors import vectors_path

CASES = ["softmax_random", "softmax_edges", "softmax_longest", "layernorm_random", "layernorm_edges",
         "layernorm_longest", "gelu_requant", "minilm", "residual_and_spad", "minilm_shapes"]
CONFIGS = {
    "dim4": AcceleratorConfig(dim=4),
    "dim8": AcceleratorConfig(dim=8),
    "dim16": AcceleratorConfig(dim=16),
    "dim8-lanes4": AcceleratorConfig(dim=8, lanes=4),
}
# dim 8 sits between dim 4 and dim 16 and shares its datapath with dim8-lanes4: test-all only (one build less)
SLOW = {(c, "minilm_shapes") for c in CONFIGS if c != "dim16"} | {("dim8", c) for c in CASES}


def _params():
    for cname in CONFIGS:
        for case in CASES:
            marks = [pytest.mark.slow] if (cname, case) in SLOW else []
            yield pytest.param(cname, case, id=f"{cname}-{case}", marks=marks)


@pytest.mark.parametrize("cname,case", list(_params()))
def test_nonlinear(cname, case):
    cfg = CONFIGS[cname]
    env = {"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_SEED": str(zlib.crc32(f"{cname}-{case}".encode()) % 10_000)}
    if case == "minilm":
        env["SYSTOLICA_VECTORS"] = str(vectors_path())
    design = runner.nonlinear_top_design(cfg)
    try:
        runner.run_test(design, "sim.test_nonlinear", testcase=f"test_{case}", extra_env=env,
                        results_name=f"{case}-{os.getpid()}")
    except BaseException:
        if os.environ.get("SYSTOLICA_WAVES"):
            from sim import waves
            path = waves.dump_failure(design, "sim.test_nonlinear", f"test_{case}", env)
            print(f"waveform of the failing case: {path}")
        raise
