"""The formal properties of sim/formal.py (SymbiYosys, bounded model checking from reset), one test each, and
broken variants that must fail: a property that cannot fail would prove nothing.

Slow (minutes all together on two cores): run with ``make formal``, or ``pytest -m formal``.
"""
import pytest

from sim.formal import PROPERTIES, AccumulatorHarness, run

pytestmark = [pytest.mark.formal, pytest.mark.slow]

# (property, fault): a deliberate break in the harness's wrapper or its reference, which the check must catch
FAULTS = [
    ("axi_read", "arvalid_drop"),            # the slave sees ARVALID lowered before ARREADY
    ("queue_ex", "skip_read"),               # an entry popped without the reference seeing it (a lost instruction)
    ("accumulator", "fill_ignores_ready"),   # a fill source that takes its row as accepted while the bank is busy
    ("reducer", "max_from_zero"),            # a reference whose row max starts at 0 (wrong for negative rows)
]


@pytest.mark.parametrize("name", list(PROPERTIES))
def test_property_holds(name):
    r = run(name)
    assert r.status == "PASS", f"{name}: {r.status} (log {r.workdir / 'sby.log'})\n{r.detail}"


@pytest.mark.parametrize("name,fault", FAULTS)
def test_broken_variant_fails(name, fault):
    r = run(name, fault=fault)
    assert r.status == "FAIL", f"{name} with fault {fault}: {r.status}, expected FAIL\n{r.detail}"
    assert "failed assertion" in r.detail


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="fault must be None or one of"):
        AccumulatorHarness(fault="no_such_fault")
