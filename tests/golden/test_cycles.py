"""golden.cycles: the closed form agrees with the schedule recurrence; back-to-back utilization; bad input."""
import pytest

from golden import cycles
from golden.config import AcceleratorConfig


@pytest.mark.parametrize("dim", [2, 4, 16])
@pytest.mark.parametrize("rows", [1, 3, 16, 40])
@pytest.mark.parametrize("k", [1, 5, 16, 17, 384, 4096])
def test_closed_form_is_the_recurrence(dim, rows, k):
    cfg = AcceleratorConfig(dim=dim)
    op = cycles.TileOp(rows=rows, k=k)
    (t,) = cycles.schedule([op], cfg)
    assert t.accept == 0 and t.cycles == cycles.op_cycles(op, cfg)
    assert cycles.utilization([op], cfg) == (rows * -(-k // dim), t.cycles)


def test_back_to_back_tiles_reach_the_target():
    cfg = AcceleratorConfig(dim=16)
    ops = [cycles.TileOp(rows=16, k=384)] * 8
    mac, busy = cycles.utilization(ops, cfg)
    assert mac == 8 * 384 and mac / busy >= 0.95
    # The array takes one block per max(rows, dim) cycles once it is full: no preload bubble.
    t = cycles.schedule(ops, cfg)
    assert [b.done - a.done for a, b in zip(t, t[1:])] == [384] * 7


def test_late_commands_wait():
    cfg = AcceleratorConfig(dim=4)
    ops = [cycles.TileOp(rows=4, k=4), cycles.TileOp(rows=4, k=4)]
    t = cycles.schedule(ops, cfg, valid_at=[0, 100])
    assert t[1].accept == 100 and t[1].cycles == cycles.op_cycles(ops[1], cfg)
    assert cycles.busy_cycles(t) == 2 * cycles.op_cycles(ops[0], cfg)


@pytest.mark.parametrize("op,needle", [
    (cycles.TileOp(rows=0, k=4), "rows must be a positive int, not 0"),
    (cycles.TileOp(rows=4, k=-1), "k must be a positive int, not -1"),
    (cycles.TileOp(rows=4, k=4, cols=5), "cols must be in 1..4, not 5"),
    (cycles.TileOp(rows=10**6, k=4), "exceeds the accumulator"),
])
def test_bad_ops(op, needle):
    with pytest.raises(ValueError) as e:
        cycles.op_cycles(op, AcceleratorConfig(dim=4))
    assert needle in str(e.value)


@pytest.mark.parametrize("dim", [2, 4, 16])
@pytest.mark.parametrize("rows", [1, 3, 16, 40])
@pytest.mark.parametrize("k", [1, 2, 5, 31, 384])
def test_output_stationary_closed_form(dim, rows, k):
    cfg = AcceleratorConfig(dim=dim, dataflow="os")
    op = cycles.TileOp(rows=rows, k=k)
    rb = -(-rows // dim)
    got = cycles.op_cycles(op, cfg)
    if k >= 2 * dim - 1 or rb == 1:
        assert got == rb * k + dim + 2 * (rows - 1 - (rb - 1) * dim) + 2
    else:
        assert got >= rb * k + dim + 2 * (rows - 1 - (rb - 1) * dim) + 2
    assert cycles.mac_cycles([op], cfg) == rb * k


def test_output_stationary_back_to_back():
    cfg = AcceleratorConfig(dim=16, dataflow="os")
    mac, busy = cycles.utilization([cycles.TileOp(rows=16, k=384)] * 8, cfg)
    assert mac == 8 * 384 and mac / busy >= 0.95


@pytest.mark.parametrize("pipe", [1, 2])
def test_pe_pipeline_adds_its_stages_to_every_operation(pipe):
    base, piped = AcceleratorConfig(dim=4), AcceleratorConfig(dim=4, pe_pipeline=pipe)
    ops = [cycles.TileOp(rows=3, k=9), cycles.TileOp(rows=8, k=4), cycles.TileOp(rows=1, k=1)]
    for a, b in zip(cycles.schedule(ops, base, valid_at=[0, 2, 40]), cycles.schedule(ops, piped, valid_at=[0, 2, 40])):
        assert (b.accept, b.done) == (a.accept, a.done + pipe)
    assert cycles.op_cycles(ops[0], piped) == cycles.op_cycles(ops[0], base) + pipe
