"""hw.axi.AxiMaster + hw.dma readers/writer under cocotb + Verilator against cocotbext-axi's AxiRam (random
pauses on every AXI channel, gaps and backpressure on every stream). One build per (dim, input_width, bus)."""
import os

import pytest

from sim import runner
from sim.tb_axi import dma_design

CONFIGS = {"dim4-i8-b128": (4, 8, 128), "dim3-i12-b64": (3, 12, 64), "dim16-i8-b128": (16, 8, 128)}
TESTS = ["test_raw", "test_dma_read", "test_dma_write", "test_parallel_writers"]


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("cname", list(CONFIGS))
def test_axi_dma(cname, test):
    dim, iw, dw = CONFIGS[cname]
    env = {"SYSTOLICA_DMA": f"{dim},{iw},{dw}", "SYSTOLICA_SEED": str(sum(map(ord, cname + test)))}
    runner.run_test(dma_design(dim, iw, dw), "sim.cocotb_axi_dma", testcase=test, extra_env=env,
                    results_name=f"{test}-{os.getpid()}")
