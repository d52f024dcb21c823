"""The formal properties of sim/formal.py (SymbiYosys, bounded model checking from reset), one test each, and
broken variants that must fail: a property that cannot fail would prove nothing.

Slow (minutes all together on two cores): run with ``make formal``, or ``pytest -m formal``.
"""
import re

import pytest

from sim.formal import PROPERTIES, AccumulatorHarness, run

pytestmark = [pytest.mark.formal, pytest.mark.slow]

# (property, fault, the assertion that must catch it): a deliberate break in the harness's wrapper or reference
FAULTS = [
    # the slave sees ARVALID lowered before ARREADY
    ("axi_read", "arvalid_drop", r"AR\d?: "),
    # a writer takes its beat as sent in cycles W did not take it (a dropped beat)
    ("axi_write", "data_ignores_ready", r"W: writer \d's beat"),
    # an entry popped without the reference seeing it (a lost instruction)
    ("queue_ex", "skip_read", r"level|head entry|r_rdy|w_rdy"),
    # a fill source that takes its row as accepted while the bank is busy (a lost fill)
    ("accumulator", "fill_ignores_ready", r"not the reference"),
    # a reference whose row max starts at 0 (wrong for rows of negative values)
    ("reducer", "max_from_zero", r"record's max"),
]


@pytest.mark.parametrize("name", list(PROPERTIES))
def test_property_holds(name):
    r = run(name)
    assert r.status == "PASS", f"{name}: {r.status} (log {r.workdir / 'sby.log'})\n{r.detail}"


@pytest.mark.parametrize("name,fault,caught_by", FAULTS)
def test_broken_variant_fails(name, fault, caught_by):
    r = run(name, fault=fault)
    assert r.status == "FAIL", f"{name} with fault {fault}: {r.status}, expected FAIL\n{r.detail}"
    assert re.search(rf"step \d+: .*({caught_by})", r.detail), r.detail


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="fault must be None or one of"):
        AccumulatorHarness(fault="no_such_fault")
