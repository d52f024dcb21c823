"""The ISA: assembler/disassembler round trips and errors; the functional machine against the golden kernels;
the program cycle estimate."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compiler.emit import Emitter
from golden.cycles import TileOp, nonlinear_cycles, op_cycles
from golden.gelu import GeluConstants, i_gelu
from golden.layernorm import XS_BITS, LayerNormConstants, i_layernorm, ln_shift_fits
from golden.machine import Machine, MachineError, estimate_cycles
from golden.matmul import matmul, wrap
from golden.numerics import Dyadic, requantize
from golden.ops import ResidualConstants, residual_add
from golden.softmax import SoftmaxConstants, i_softmax
from golden import nlops
from golden.config import AcceleratorConfig
from golden.isa import (FIELDS, INSTR_BYTES, ErrorCode, Instr, Opcode, Queue, QUEUE_OF, assemble, decode,
                        disassemble, encode, format_instr, parse)
from golden.nlops import LaneOp

CFG = AcceleratorConfig(dim=8, input_width=12, spad_kib=16, acc_kib=8)


# ---- assembler / disassembler ------------------------------------------------------------------------------
@st.composite
def instrs(draw):
    op = draw(st.sampled_from(list(Opcode)))
    values = {n: draw(st.integers(0, (1 << w) - 1)) for n, w, _ in FIELDS[op]}
    q = QUEUE_OF.get(op)
    flags = {}
    if q is not None:
        sides = [s for s in ("prev", "next") if not (q == Queue.LOAD and s == "prev") and
                 not (q == Queue.STORE and s == "next")]
        for s in sides:
            flags[f"pop_{s}"] = draw(st.booleans())
            flags[f"push_{s}"] = draw(st.booleans())
    return Instr.make(op, **flags, **values)


@settings(max_examples=300, deadline=None)
@given(st.lists(instrs(), min_size=1, max_size=6))
def test_assemble_disassemble_and_text_round_trip(prog):
    data = assemble(prog)
    assert len(data) == INSTR_BYTES * len(prog)
    assert disassemble(data) == prog
    for ins in prog:
        assert decode(encode(ins)) == ins
        assert parse(format_instr(ins)) == ins


def test_isa_errors():
    with pytest.raises(ValueError, match="illegal opcode"):
        decode(0x55)
    with pytest.raises(ValueError, match="reserved bits"):
        decode(int(Opcode.HALT) | 1 << 200)
    with pytest.raises(ValueError, match="reserved bits"):
        decode(int(Opcode.CONFIG) | 1 << 255)
    with pytest.raises(ValueError, match="does not fit"):
        Instr.make(Opcode.MATMUL, cols=256)
    with pytest.raises(ValueError, match="no field"):
        Instr.make(Opcode.LOAD, cols=1)
    with pytest.raises(ValueError, match="dependency flags"):
        Instr.make(Opcode.LOAD, pop_prev=True)
    with pytest.raises(ValueError, match="dependency flags"):
        Instr.make(Opcode.STORE, push_next=True)
    with pytest.raises(ValueError, match="unknown instruction"):
        parse("JUMP a=1")
    with pytest.raises(ValueError, match="multiple of"):
        disassemble(b"\x01" * 33)
    bad = [Instr.make(Opcode.LOAD, lines=CFG.spad_rows + 1, elem_bytes=1),
           Instr.make(Opcode.LOAD, lines=1, elem_bytes=3),
           Instr.make(Opcode.MATMUL, rows=1, k=1, blocks=1, cols=CFG.dim + 1),
           Instr.make(Opcode.MATMUL, rows=1, k=1, blocks=1, cols=1, c_addr=CFG.acc_rows),
           Instr.make(Opcode.NL, rows=2, lines=1, row_stride=CFG.acc_rows),
           Instr.make(Opcode.CONFIG, kind=1, count=0)]
    for ins in bad:
        with pytest.raises(ValueError):
            ins.check(CFG)
    with pytest.raises(ValueError, match="instruction 1"):
        assemble([Instr.make(Opcode.HALT), bad[0]], CFG)


def test_constant_block_packing_round_trips():
    lane = nlops.LaneConsts.make(op=3, s1=5, lo1=-(1 << 23), hi1=(1 << 23) - 1, x0=-1234, exp_c=-(1 << 31), m3=-7,
                                 s3=40, col_mult=1, mb=-32768)
    data = nlops.pack_lane_consts(lane)
    assert len(data) == 64 and nlops.unpack_lane_consts(data) == lane
    cols = nlops.ColConsts.make(m1=[1, -2, 32767], m3=[3, -32768, 0], b=[-(1 << 49), 5, (1 << 49) - 1])
    data = nlops.pack_col_entries(cols)
    assert len(data) == 48 and nlops.unpack_col_entries(data) == cols
    # bits 15:0 m1, 31:16 m3, 81:32 b
    w = int.from_bytes(data[:16], "little")
    assert w & 0xFFFF == 1 and (w >> 16) & 0xFFFF == 3 and (w >> 32) == (1 << 49)
    with pytest.raises(ValueError):
        nlops.unpack_lane_consts(bytes(63))
    with pytest.raises(ValueError, match="reserved"):
        nlops.unpack_lane_consts(b"\0" * 63 + b"\x80")


# ---- the machine ---------------------------------------------------------------------------------------------
def nl_program(cfg, x, op, lane, cols=None, y=None, transpose=False, var_shift=0):
    """Run one NL over rows ``x`` (row-major lines at accumulator 0) on a machine; returns the machine."""
    d = cfg.dim
    rows, n = x.shape
    w = n // d
    mem = bytearray()

    def put(blob):
        a = -(-len(mem) // 64) * 64
        mem.extend(bytes(a - len(mem)) + bytes(blob))
        return a

    em = Emitter(cfg)
    xa = put(np.asarray(x, dtype="<i4").tobytes())
    em.emit(Opcode.LOAD, dst=1, local=0, lines=rows * w, mem_addr=xa, stride=d * 4, elem_bytes=4)
    res = {}
    if y is not None:
        ya = put(np.asarray(y, dtype="<i2").tobytes())
        em.emit(Opcode.LOAD, dst=0, local=0, lines=rows * w, mem_addr=ya, stride=d * 2, elem_bytes=2)
        res = dict(residual=1, res_base=0, res_row_stride=w, res_line_stride=1)
    em.emit(Opcode.CONFIG, kind=0, mem_addr=put(nlops.pack_lane_consts(lane)))
    if cols is not None:
        em.emit(Opcode.CONFIG, kind=1, count=len(cols.m1), mem_addr=put(nlops.pack_col_entries(cols)))
    dst = dict(dst_base=rows * w, dst_row_stride=w, dst_line_stride=1)
    if transpose:
        dst = dict(dst_base=rows * w, dst_row_stride=d, dst_line_stride=1, transpose=1)
    em.emit(Opcode.NL, op=int(op), acc_base=0, rows=rows, lines=w, row_stride=w, line_stride=1,
            var_shift=var_shift, **res, **dst)
    m = Machine(cfg).run(em.instrs(), mem)
    assert all(v == 0 for v in m.tokens.values())
    return m


def spad_out(m, cfg, rows, n):
    w = n // cfg.dim
    return m.spad[rows * w:rows * w + rows * w].reshape(rows, n)


def trunc(v, cfg):
    return wrap(v, cfg.input_width)


@pytest.mark.parametrize("rows", [1, 5, 8])
def test_requant_matches_golden(rows):
    rng = np.random.default_rng(rows)
    n = 24
    x = rng.integers(-(1 << 20), 1 << 20, (rows, n))
    d = Dyadic.from_ratio(rng.uniform(0.001, 0.01, n))
    m = nl_program(CFG, x, LaneOp.REQUANT, *nlops.requant_consts(d, n, 8))
    assert np.array_equal(spad_out(m, CFG, rows, n), requantize(x, d, 8))


def test_gelu_matches_golden():
    rng = np.random.default_rng(1)
    n, rows = 16, 6
    x = rng.integers(-(1 << 22), 1 << 22, (rows, n))
    gin = Dyadic.from_ratio(rng.uniform(0.002, 0.004, n))
    k = GeluConstants.from_scales(8 / 32768, 4 / 2047, 16, 12)
    m = nl_program(CFG, x, LaneOp.GELU, *nlops.gelu_consts(gin, 16, k, n))
    assert np.array_equal(spad_out(m, CFG, rows, n), i_gelu(requantize(x, gin, 16), k))


@pytest.mark.parametrize("n", [8, 32])
def test_softmax_matches_golden(n):
    rng = np.random.default_rng(n)
    rows = 5
    x = rng.integers(-30000, 30000, (rows, n))
    k = SoftmaxConstants.from_scale(3e-4)
    m = nl_program(CFG, x, LaneOp.SOFTMAX, nlops.softmax_consts(k))
    assert np.array_equal(spad_out(m, CFG, rows, n), i_softmax(x, k))


@pytest.mark.parametrize("residual", [False, True])
def test_layernorm_matches_golden(residual):
    rng = np.random.default_rng(7)
    rows, n = 4, 32
    gamma, beta = rng.uniform(0.5, 1.5, n), rng.uniform(-0.2, 0.2, n)
    k = LayerNormConstants.from_params(gamma, beta, 4 / 2047, 22, 12)
    if residual:
        x = rng.integers(-(1 << 24), 1 << 24, (rows, n))
        y = rng.integers(-2048, 2048, (rows, n))
        rk = ResidualConstants.from_scales(rng.uniform(1e-5, 2e-5, n), 2e-3, 2e-4, 22)
        m = nl_program(CFG, x, LaneOp.LAYERNORM, *nlops.layernorm_consts(k, rk), y=y, var_shift=k.var_shift)
        want = i_layernorm(residual_add(x, y, rk), k)
    else:
        x = rng.integers(-(1 << 21), 1 << 21, (rows, n))
        m = nl_program(CFG, x, LaneOp.LAYERNORM, *nlops.layernorm_consts(k), var_shift=k.var_shift)
        want = i_layernorm(x, k)
    assert np.array_equal(spad_out(m, CFG, rows, n), trunc(want, CFG))


def test_layernorm_var_shift_too_small_is_the_nonlinear_error():
    """One bit of var_shift short of the inputs' width: the nonlinear error at the NL (the unit refuses it too)."""
    k = LayerNormConstants.from_params(np.ones(32), np.zeros(32), 4 / 2047, 22, 12)
    x = np.zeros((2, 32), dtype=np.int64)
    nl_program(CFG, x, LaneOp.LAYERNORM, *nlops.layernorm_consts(k), var_shift=k.var_shift)
    with pytest.raises(MachineError, match="var_shift=5") as e:
        nl_program(CFG, x, LaneOp.LAYERNORM, *nlops.layernorm_consts(k), var_shift=k.var_shift - 1)
    assert e.value.code == ErrorCode.NONLINEAR


@given(st.integers(-(1 << 23), (1 << 23) - 1), st.integers(-(1 << 23), (1 << 23) - 1), st.integers(0, 63))
def test_ln_shift_fits_is_the_signed_width_bound(a, b, shift):
    """For a range ``lo < hi``, the bound the unit checks bit by bit is ``signed_width(lo, hi) - shift <= XS_BITS``."""
    lo, hi = min(a, b), max(a, b) + 1
    assert ln_shift_fits(lo, hi, shift) == (nlops.signed_width(lo, hi) - shift <= XS_BITS)


@pytest.mark.parametrize("rows", [8, 11])
def test_transposed_requant_writes_blocks_with_zero_fill(rows):
    rng = np.random.default_rng(rows)
    d = CFG.dim
    x = rng.integers(-(1 << 12), 1 << 12, (rows, d))
    dy = Dyadic.from_ratio(0.05)
    m = nl_program(CFG, x, LaneOp.REQUANT, *nlops.requant_consts(dy, d, 8), transpose=True)
    want = requantize(x, dy, 8)
    blocks = -(-rows // d)
    pad = np.zeros((blocks * d, d), dtype=np.int64)
    pad[:rows] = want
    got = m.spad[rows:rows + blocks * d]
    for b in range(blocks):
        assert np.array_equal(got[b * d:(b + 1) * d], pad[b * d:(b + 1) * d].T)


def test_matmul_blocks_cols_accumulate_and_wrap():
    cfg = AcceleratorConfig(dim=4, input_width=12, acc_width=20, spad_kib=2, acc_kib=2)
    rng = np.random.default_rng(3)
    rows, k, n = 5, 6, 10           # 3 column blocks, the last 2 wide; 2 K blocks, the last partial
    a = rng.integers(-2048, 2048, (rows, k))
    b = rng.integers(-128, 128, (k, n))
    c0 = rng.integers(-(1 << 19), 1 << 19, (rows, 12))
    m = Machine(cfg)
    kb = 2
    for blk in range(kb):
        part = np.zeros((rows, 4), dtype=np.int64)
        part[:, :min(4, k - 4 * blk)] = a[:, 4 * blk:4 * blk + 4]
        m.spad[blk * rows:(blk + 1) * rows] = part
    for j in range(3):
        blk = np.zeros((k, 4), dtype=np.int64)
        blk[:, :min(4, n - 4 * j)] = b[:, 4 * j:4 * j + 4]
        m.spad[20 + 8 * j:20 + 8 * j + k] = blk + 256 * rng.integers(-3, 3, blk.shape)  # high bits ignored
        m.acc[40 + 6 * j:40 + 6 * j + rows] = c0[:, 4 * j:4 * j + 4]
    m.step(Instr.make(Opcode.MATMUL, a_addr=0, b_addr=20, c_addr=40, rows=rows, k=k, cols=2, accumulate=1,
                      blocks=3, b_stride=8, c_stride=6))
    want = matmul(a, b, c0[:, :n], acc_bits=20, a_bits=12)
    for j in range(3):
        w = min(4, n - 4 * j)
        assert np.array_equal(m.acc[40 + 6 * j:40 + 6 * j + rows, :w], want[:, 4 * j:4 * j + w])
    assert np.array_equal(m.acc[52:52 + rows, 2:], c0[:, 10:12])   # beyond cols: untouched


def test_load_store_round_trip_and_errors():
    d = CFG.dim
    vals = np.arange(-40, 40).reshape(10, d)
    mem = bytearray(vals.astype("<i2").tobytes()) + bytearray(1024)
    prog = [Instr.make(Opcode.LOAD, local=3, lines=10, mem_addr=0, stride=2 * d, elem_bytes=2),
            Instr.make(Opcode.STORE, local=3, lines=10, mem_addr=512, stride=d, elem_bytes=1)]
    m = Machine(CFG).run(prog, mem)
    assert np.array_equal(m.spad[3:13], vals)
    got = np.frombuffer(bytes(m.memory[512:512 + 10 * d]), dtype="i1").reshape(10, d)
    assert np.array_equal(got, vals)
    with pytest.raises(ValueError, match="instruction 1 .*no l2e token"):
        Machine(CFG).run([prog[0], Instr.make(Opcode.NL, rows=1, lines=1, pop_prev=True)], mem)
    with pytest.raises(ValueError, match="instruction 0 .*beyond"):
        Machine(CFG).run([Instr.make(Opcode.LOAD, lines=1, mem_addr=len(mem), elem_bytes=1)], mem)
    with pytest.raises(ValueError, match="instruction 0 .*outside"):
        Machine(CFG).run([Instr.make(Opcode.LOAD, lines=CFG.spad_rows + 1, elem_bytes=1)], mem)
    m = Machine(CFG)
    m.spad[0] = 300
    with pytest.raises(ValueError, match="does not fit"):
        m.run([Instr.make(Opcode.STORE, lines=1, mem_addr=0, elem_bytes=1)], bytearray(64))
    with pytest.raises(ValueError, match="transpose needs lines=1"):
        Machine(CFG).run([Instr.make(Opcode.NL, rows=1, lines=2, transpose=1, dst_base=0)], bytearray(64))


def test_nl_needs_its_own_lane_constants():
    k = SoftmaxConstants.from_scale(3e-4)
    with pytest.raises(ValueError, match="lane constants of op 3"):
        nl_program(CFG, np.zeros((1, 8), dtype=np.int64), LaneOp.REQUANT, nlops.softmax_consts(k))


def test_softmax_underflow_is_a_nonlinear_error():
    k = SoftmaxConstants.from_scale(3e-4)
    lane = nlops.LaneConsts.make(**{**nlops.softmax_consts(k).as_dict(), "m3": 1})   # tiny exps
    with pytest.raises(ValueError, match="sum of exps"):
        nl_program(CFG, np.zeros((1, 8), dtype=np.int64), LaneOp.SOFTMAX, lane)


# ---- program cycle estimate ------------------------------------------------------------------------------------
def test_estimate_single_ops_and_deadlock():
    cfg = AcceleratorConfig(dim=8, input_width=12)
    mm = [Instr.make(Opcode.MATMUL, rows=20, k=24, cols=8, blocks=1)]
    t = estimate_cycles(mm, cfg)
    assert t.cycles == op_cycles(TileOp(20, 24), cfg) + 1       # + decode
    assert t.macs == 20 * 24 * 8
    nl = [Instr.make(Opcode.NL, op=int(LaneOp.LAYERNORM), rows=7, lines=3)]
    # decode + the controller's command register + the unit through the scratchpad writer + its done's register
    assert estimate_cycles(nl, cfg).cycles == 3 + nonlinear_cycles(LaneOp.LAYERNORM, 7, 3, cfg, to_spad=True)
    two = mm * 2
    assert estimate_cycles(two, cfg).cycles < 2 * t.cycles      # back to back blocks overlap
    load = Instr.make(Opcode.LOAD, lines=64, stride=8, elem_bytes=1, push_next=True)
    dep = Instr.make(Opcode.MATMUL, rows=20, k=24, cols=8, blocks=1, pop_prev=True)
    t2 = estimate_cycles([load, dep], cfg.replace(bus_width=64))
    assert t2.starts[1] >= t2.ends[0]
    with pytest.raises(ValueError, match="deadlock"):
        estimate_cycles([Instr.make(Opcode.LOAD, lines=1, elem_bytes=1, pop_next=True)], cfg)


@pytest.mark.parametrize("n", [8, 32])
def test_softmax_lut_matches_golden(n):
    """An accelerator built with exp_impl="lut" runs LUT-exp softmax constants (the lane block's exp_lut bit)."""
    cfg = CFG.replace(exp_impl="lut")
    rng = np.random.default_rng(n)
    x = rng.integers(-30000, 30000, (5, n))
    k = SoftmaxConstants.from_scale(3e-4, impl="lut")
    m = nl_program(cfg, x, LaneOp.SOFTMAX, nlops.softmax_consts(k))
    assert np.array_equal(spad_out(m, cfg, 5, n), i_softmax(x, k))


@pytest.mark.parametrize("impl,built", [("lut", "poly"), ("poly", "lut")])
def test_softmax_exp_impl_must_match_the_config(impl, built):
    k = SoftmaxConstants.from_scale(3e-4, impl=impl)
    with pytest.raises(ValueError, match=f"exp_impl='{impl}'.*exp_impl='{built}'"):
        nl_program(CFG.replace(exp_impl=built), np.zeros((1, 8), dtype=np.int64), LaneOp.SOFTMAX,
                   nlops.softmax_consts(k))
