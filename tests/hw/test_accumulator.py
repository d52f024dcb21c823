"""Accumulator unit under cocotb + Verilator (sim/cocotb_accumulator.py): RMW forwarding, banks, partial columns,
wrap-around, row read stream with backpressure and ``last``.

This is also the pattern for a new unit's test: a :class:`sim.runner.Design` whose ``make_verilog`` converts the
component, then :func:`sim.runner.run_test` with the cocotb module.
"""
import pytest

from golden.config import AcceleratorConfig
from sim import runner


def accumulator_design(cfg):
    from hw.accumulator import Accumulator
    from sim.verilog import convert_component
    return runner.Design(name="accumulator", key=runner.design_key("acc", cfg),
                         make_verilog=lambda: convert_component(Accumulator(cfg), name="accumulator"))


@pytest.mark.parametrize("cfg", [AcceleratorConfig(dim=4, acc_kib=2, acc_banks=4),
                                 AcceleratorConfig(dim=8, acc_width=20, acc_kib=1, acc_banks=1)],
                         ids=["dim4-4banks", "dim8-acc20-1bank"])
def test_accumulator(cfg):
    runner.run_test(accumulator_design(cfg), "sim.cocotb_accumulator",
                    extra_env={"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_SEED": "5"})
