"""hw.csr.CsrBlock under cocotb + Verilator with cocotbext-axi's AxiLiteMaster (random pauses on all channels)."""
import os

import pytest

from sim import runner
from sim.tb_axi import csr_design


@pytest.mark.parametrize("n_perf", [0, 3])
def test_csr(n_perf):
    env = {"SYSTOLICA_SEED": str(17 + n_perf), "SYSTOLICA_N_PERF": str(n_perf)}
    runner.run_test(csr_design(n_perf), "sim.cocotb_axi_csr", extra_env=env, results_name=f"csr-{os.getpid()}")
