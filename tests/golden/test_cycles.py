"""golden.cycles against numbers derived without it: the closed forms of docs/hw.md written out here, schedules
traced by hand from the recurrences, and invariants every correct schedule obeys (the MAC bound, monotonicity,
back-to-back overlap bounds). Nothing here compares the model with itself only."""
import pytest
from hypothesis import given, settings, strategies as st

from golden import cycles
from golden.config import AcceleratorConfig


def ceil_div(a, b):
    return -(-a // b)


def ws_cycles(rows, k, dim, pipe=0):
    """docs/hw.md: an isolated weight-stationary operation, handshake to ``op_done``."""
    return (ceil_div(k, dim) - 1) * max(rows, dim) + rows + 2 * dim + 3 + pipe


def os_cycles(rows, k, dim):
    """docs/hw.md: an isolated output-stationary operation with ``k >= 2*dim - 1`` (no output-slot stall)."""
    rb = ceil_div(rows, dim)
    return rb * k + dim + 2 * (rows - 1 - (rb - 1) * dim) + 3


# ---- weight-stationary ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 4, 16])
@pytest.mark.parametrize("rows", [1, 3, 16, 40])
@pytest.mark.parametrize("k", [1, 5, 16, 17, 384, 4096])
def test_isolated_op_is_the_documented_formula(dim, rows, k):
    cfg = AcceleratorConfig(dim=dim)
    op = cycles.TileOp(rows=rows, k=k)
    (t,) = cycles.schedule([op], cfg)
    assert cycles.op_cycles(op, cfg) == ws_cycles(rows, k, dim)
    assert (t.accept, t.done) == (0, ws_cycles(rows, k, dim)) and t.cycles == cycles.op_cycles(op, cfg)
    assert cycles.utilization([op], cfg) == (rows * ceil_div(k, dim), ws_cycles(rows, k, dim))


@pytest.mark.parametrize("dim, rows, k, pipe, want", [
    (2, 1, 1, 0, 8),        # one block: 1 + 4 + 3
    (4, 4, 4, 0, 15),       # 4 + 8 + 3
    (4, 3, 9, 0, 22),       # 3 blocks of max(3, 4): 2*4 + 3 + 8 + 3
    (16, 40, 17, 0, 115),   # 2 blocks of max(40, 16): 40 + 40 + 32 + 3
    (8, 8, 16, 2, 37),      # 8 + 8 + 16 + 3, two PE stages
])
def test_hand_computed_isolated_ops(dim, rows, k, pipe, want):
    cfg = AcceleratorConfig(dim=dim, pe_pipeline=pipe)
    assert cycles.op_cycles(cycles.TileOp(rows=rows, k=k), cfg) == want


@pytest.mark.parametrize("rows, want", [
    # dim 2, two ops of k = 4 (2 blocks each), both valid at cycle 0; by hand from p_b, s_b, E_j, D_j:
    # rows 1: op 0 p = 1, 3; s = 2, 4; E = 4; D = 4 + 1 + 5 = 10.  op 1: T = 4; p = 5, 7; s = 6, 8; D = 14.
    (1, [(0, 10), (4, 14)]),
    # rows 3: op 0 p = 1, 3; s = 2, 5; E = 4; D = 13.  op 1: T = 4; p = max(5, 5, s_0 + 3) = 5, then
    # max(7, s_1 + 3) = 8; s = max(6, 5 + 3) = 8, max(9, 8 + 3) = 11; D = 11 + 3 + 5 = 19.
    (3, [(0, 13), (4, 19)]),
])
def test_hand_traced_back_to_back_pair(rows, want):
    t = cycles.schedule([cycles.TileOp(rows=rows, k=4)] * 2, AcceleratorConfig(dim=2))
    assert [(x.accept, x.done) for x in t] == want
    assert cycles.busy_cycles(t) == want[-1][1]


def test_back_to_back_tiles_reach_the_target():
    cfg = AcceleratorConfig(dim=16)
    ops = [cycles.TileOp(rows=16, k=384)] * 8
    mac, busy = cycles.utilization(ops, cfg)
    assert mac == 8 * 384 and mac / busy >= 0.95
    # The array takes one block per max(rows, dim) cycles once it is full: no preload bubble.
    t = cycles.schedule(ops, cfg)
    assert [b.done - a.done for a, b in zip(t, t[1:])] == [384] * 7
    assert t[0].done == ws_cycles(16, 384, 16) == 419 and busy == 419 + 7 * 384


def test_late_commands_wait():
    cfg = AcceleratorConfig(dim=4)
    ops = [cycles.TileOp(rows=4, k=4), cycles.TileOp(rows=4, k=4)]
    t = cycles.schedule(ops, cfg, valid_at=[0, 100])
    assert t[1].accept == 100 and t[1].cycles == cycles.op_cycles(ops[1], cfg) == 15
    assert cycles.busy_cycles(t) == 2 * cycles.op_cycles(ops[0], cfg) == 30


@st.composite
def op_sequences(draw):
    dim = draw(st.sampled_from([2, 3, 4, 8]))
    pipe = draw(st.integers(0, 2))
    shapes = draw(st.lists(st.tuples(st.integers(1, 3 * dim), st.integers(1, 5 * dim), st.integers(0, 40)),
                           min_size=1, max_size=6))
    ops = [cycles.TileOp(rows=r, k=k) for r, k, _ in shapes]
    valid, t = [], 0
    for _, _, gap in shapes:
        t += gap
        valid.append(t)
    return AcceleratorConfig(dim=dim, pe_pipeline=pipe), ops, valid


@settings(max_examples=200, deadline=None)
@given(op_sequences())
def test_schedule_bounds(seq):
    """Any sequence: operations complete in order, none faster than alone, none slower than after waiting for
    the engine to go idle, and the array issues at most one A row per cycle."""
    cfg, ops, valid = seq
    dim, pipe = cfg.dim, cfg.pe_pipeline
    t = cycles.schedule(ops, cfg, valid_at=valid)
    prev_done = None
    for op, v, x in zip(ops, valid, t):
        alone = ws_cycles(op.rows, op.k, dim, pipe)
        assert x.accept >= v and x.done - x.accept >= alone
        if prev_done is None:
            assert (x.accept, x.done) == (v, v + alone)
        else:
            assert x.done - prev_done >= ceil_div(op.k, dim) * op.rows
            assert x.done <= max(v, prev_done) + alone
        prev_done = x.done
    assert [x.accept for x in t] == sorted(x.accept for x in t)
    mac = sum(op.rows * ceil_div(op.k, dim) for op in ops)
    busy = cycles.busy_cycles(t)
    assert cycles.mac_cycles(ops, cfg) == mac
    assert mac <= busy <= sum(ws_cycles(op.rows, op.k, dim, pipe) for op in ops)


@pytest.mark.parametrize("dim", [2, 4, 16])
def test_isolated_op_grows_with_rows_and_k(dim):
    cfg = AcceleratorConfig(dim=dim)
    grid = [[cycles.op_cycles(cycles.TileOp(rows=r, k=k), cfg) for k in range(1, 4 * dim)] for r in range(1, 3 * dim)]
    for row in grid:
        assert row == sorted(row)
    for col in zip(*grid):
        assert list(col) == sorted(col) and len(set(col)) == len(col)     # each row costs a cycle


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


@pytest.mark.parametrize("pipe", [1, 2])
def test_pe_pipeline_adds_its_stages_to_every_operation(pipe):
    base, piped = AcceleratorConfig(dim=4), AcceleratorConfig(dim=4, pe_pipeline=pipe)
    ops = [cycles.TileOp(rows=3, k=9), cycles.TileOp(rows=8, k=4), cycles.TileOp(rows=1, k=1)]
    for a, b in zip(cycles.schedule(ops, base, valid_at=[0, 2, 40]), cycles.schedule(ops, piped, valid_at=[0, 2, 40])):
        assert (b.accept, b.done) == (a.accept, a.done + pipe)
    assert cycles.op_cycles(ops[0], piped) == cycles.op_cycles(ops[0], base) + pipe == 22 + pipe


# ---- output-stationary ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 4, 16])
@pytest.mark.parametrize("rows", [1, 3, 16, 40])
@pytest.mark.parametrize("k", [1, 2, 5, 31, 384])
def test_output_stationary_closed_form(dim, rows, k):
    cfg = AcceleratorConfig(dim=dim, dataflow="os")
    op = cycles.TileOp(rows=rows, k=k)
    rb = ceil_div(rows, dim)
    got = cycles.op_cycles(op, cfg)
    if k >= 2 * dim - 1 or rb == 1:
        assert got == os_cycles(rows, k, dim)
    else:
        assert got >= os_cycles(rows, k, dim)
    assert cycles.mac_cycles([op], cfg) == rb * k


@pytest.mark.parametrize("rows, k, want", [
    # dim 2, two row blocks. k = 1: block 0's last step at 1 sends rows out at 1+1+2 + {0, 2} = 4, 6; block 1's
    # at 2: 5, 7 are free; done = 2 + 2 + 2*1 + 3 = 9 (the formula).
    (4, 1, 9),
    # k = 2: block 0 last at 2 -> slots 5, 7; block 1 last at 4 -> 7 is taken, wait to 5 -> 8, 10; done = 5 + 7.
    (4, 2, 12),
])
def test_output_stationary_slot_stall_by_hand(rows, k, want):
    assert cycles.op_cycles(cycles.TileOp(rows=rows, k=k), AcceleratorConfig(dim=2, dataflow="os")) == want


def test_output_stationary_done_pulses_in_command_order():
    # dim 2. Op 0 (2 rows, k 3): last step 3, slots 6, 8, done 3 + 2 + 2 + 3 = 10. Op 1 (1 row, k 1): accepted at 3
    # (op 0's last step), issue 4: at 4 its row would commit at 9 < 10; at 5 its slot 8 is taken; at 6: done 11.
    cfg = AcceleratorConfig(dim=2, dataflow="os")
    t = cycles.schedule([cycles.TileOp(rows=2, k=3), cycles.TileOp(rows=1, k=1)], cfg)
    assert [(x.accept, x.done) for x in t] == [(0, 10), (3, 11)]


def test_output_stationary_back_to_back():
    cfg = AcceleratorConfig(dim=16, dataflow="os")
    mac, busy = cycles.utilization([cycles.TileOp(rows=16, k=384)] * 8, cfg)
    assert mac == 8 * 384 and mac / busy >= 0.95
    # one k step per cycle from the first command's T + 1: the last op's last step at 8*384, then its row 15
    assert busy == 8 * 384 + os_cycles(16, 384, 16) - 384
