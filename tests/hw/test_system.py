"""The whole accelerator (controller, DMA over AXI4, CSRs over AXI4-Lite, array, nonlinear unit) on the fast
harness: small programs bit-exact against golden/, and the error paths (the hardware halts with a code)."""
import numpy as np
import pytest

from golden.numerics import Dyadic, requantize
from golden import nlops
from hw import csr
from golden.config import AcceleratorConfig
from golden.isa import MAX_ROW, ErrorCode, Instr, IsaError, Opcode, assemble, encode
from sim.system import run_program

CFG = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)
PROG, DATA, OUT = 0x1000, 0x10000, 0x80000


def _lines(a, elem_bytes):
    """Bytes of a matrix's rows (each a line of dim elements)."""
    return b"".join(int(v).to_bytes(elem_bytes, "little", signed=True) for v in np.asarray(a).ravel())


def matmul_requant_program(cfg, rng, rows=6, k=8, n=8):
    d = cfg.dim
    a = rng.integers(-128, 128, (rows, k))
    b = rng.integers(-128, 128, (k, n))
    bias = rng.integers(-2**20, 2**20, n)
    dy = Dyadic.from_ratio(rng.uniform(1e-5, 1e-4, n))
    kb, nb = k // d, n // d
    a_lines = np.concatenate([a[:, i * d:(i + 1) * d] for i in range(kb)])          # K-block-major
    b_lines = np.concatenate([b[:, j * d:(j + 1) * d] for j in range(nb)])          # per column block
    lane, cols = nlops.requant_consts(dy, n, 8)
    seg = {DATA: _lines(a_lines, 1), DATA + 0x1000: _lines(b_lines, 1), DATA + 0x2000: _lines(bias, 4),
           DATA + 0x3000: nlops.pack_lane_consts(lane), DATA + 0x3100: nlops.pack_col_entries(cols)}
    A, B, OUT_ROW = 0, 100, 200
    prog = [
        Instr.make(Opcode.LOAD, dst=0, local=A, lines=len(a_lines), mem_addr=DATA, stride=d, elem_bytes=1),
        Instr.make(Opcode.LOAD, dst=0, local=B, lines=len(b_lines), mem_addr=DATA + 0x1000, stride=d, elem_bytes=1),
        *[Instr.make(Opcode.LOAD, dst=1, local=j * rows, lines=rows, mem_addr=DATA + 0x2000 + 16 * j, stride=0,
                     elem_bytes=4, push_next=(j == nb - 1)) for j in range(nb)],
        Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA + 0x3000),
        Instr.make(Opcode.CONFIG, kind=1, offset=0, count=n, mem_addr=DATA + 0x3100),
        Instr.make(Opcode.MATMUL, a_addr=A, b_addr=B, c_addr=0, rows=rows, k=k, cols=d, accumulate=1, blocks=nb,
                   b_stride=k, c_stride=rows, pop_prev=True),
        Instr.make(Opcode.NL, op=0, acc_base=0, rows=rows, lines=nb, row_stride=1, line_stride=rows,
                   dst_base=OUT_ROW, dst_row_stride=nb, dst_line_stride=1, push_next=True),
        Instr.make(Opcode.STORE, src=0, local=OUT_ROW, lines=rows * nb, mem_addr=OUT, stride=d, elem_bytes=1,
                   pop_prev=True),
        Instr.make(Opcode.HALT),
    ]
    seg[PROG] = assemble(prog, cfg)
    want = requantize(a @ b + bias, dy, 8)
    return seg, want


# A 64-bit bus is a whole accelerator build more; the DMA and AXI master at 64 bits run in make test through
# tests/hw/test_axi_dma.py (dim3-i12-b64), this whole-program check in make test-all.
@pytest.mark.parametrize("cfg", [CFG, pytest.param(CFG.replace(bus_width=64), marks=pytest.mark.slow)],
                         ids=["bus128", "bus64"])
def test_matmul_requant_store(cfg):
    seg, want = matmul_requant_program(cfg, np.random.default_rng(1))
    r = run_program(cfg, seg, PROG, [(OUT, want.size)])
    assert r.done, (hex(r.status), r.error_code)
    got = np.frombuffer(r.reads[OUT], dtype=np.int8).reshape(want.shape)
    assert np.array_equal(got, want)
    assert r.perf[0] > 0 and r.cycles > 0


@pytest.mark.parametrize("word, code", [
    ((0x7F).to_bytes(32, "little"), ErrorCode.ILLEGAL_OPCODE),
    (((1 << 255) | Opcode.HALT).to_bytes(32, "little"), ErrorCode.BAD_FIELD),
], ids=["illegal-opcode", "reserved-bits"])
def test_illegal_instruction_halts_with_code(word, code):
    load = assemble([Instr.make(Opcode.LOAD, dst=0, local=0, lines=1, mem_addr=DATA, stride=4, elem_bytes=1)])
    r = run_program(CFG, {PROG: load + word, DATA: bytes(16)}, PROG)
    assert r.status == csr.STATUS_ERROR and r.error_code == code and r.error_info == PROG + 32


# One instruction per decode check of golden.isa.decode_checks (its bad field in the name). The hardware must halt
# with the code the ISA's own check gives, at that instruction.
S, A = CFG.spad_rows, CFG.acc_rows
BAD = {
    "load-lines0": Instr.make(Opcode.LOAD, dst=0, lines=0, elem_bytes=1),
    "load-eb4-spad": Instr.make(Opcode.LOAD, dst=0, lines=1, elem_bytes=4),
    "load-acc-range": Instr.make(Opcode.LOAD, dst=1, local=A - 1, lines=2, elem_bytes=4),
    "store-spad-range": Instr.make(Opcode.STORE, src=0, local=S - 1, lines=2, elem_bytes=1),
    "config-kind2": Instr.make(Opcode.CONFIG, kind=2),
    "config-table-range": Instr.make(Opcode.CONFIG, kind=1, offset=CFG.col_entries - 96, count=97),
    "nl-table-range": Instr.make(Opcode.NL, op=1, rows=1, lines=CFG.col_entries // CFG.dim + 1),
    "matmul-cols": Instr.make(Opcode.MATMUL, rows=1, k=1, blocks=1, cols=CFG.dim + 1),
    "matmul-spad-range": Instr.make(Opcode.MATMUL, b_addr=S - 2, rows=1, k=4, blocks=1, cols=1),
    "matmul-acc-range": Instr.make(Opcode.MATMUL, c_addr=A - 1, rows=2, k=1, blocks=1, cols=1),
    "nl-op2": Instr.make(Opcode.NL, op=2, rows=1, lines=1),
    "nl-row-too-long": Instr.make(Opcode.NL, rows=1, lines=MAX_ROW // CFG.dim + 1),
    "nl-transpose-lines": Instr.make(Opcode.NL, rows=1, lines=2, transpose=1),
    "nl-acc-range": Instr.make(Opcode.NL, acc_base=A - 1, rows=2, lines=1, row_stride=1),
    "nl-spad-range": Instr.make(Opcode.NL, rows=2, lines=1, dst_base=S - 1, dst_row_stride=1),
    "nl-transposed-spad-range": Instr.make(Opcode.NL, rows=1, lines=1, transpose=1, dst_base=S - CFG.dim + 1,
                                           dst_line_stride=1),
}


# One case per error code in the fast suite (each run is a simulator launch); the rest in test-all.
FAST_BAD = {"load-eb4-spad", "load-acc-range", "matmul-spad-range", "config-table-range", "nl-transposed-spad-range"}
assert FAST_BAD <= set(BAD), "a case named here is not in BAD"


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in FAST_BAD else [pytest.mark.slow]) for n in BAD])
def test_decode_check_halts_with_the_isa_code(name):
    with pytest.raises(IsaError) as e:
        BAD[name].check(CFG)
    load = assemble([Instr.make(Opcode.LOAD, dst=0, local=0, lines=1, mem_addr=DATA, stride=4, elem_bytes=1)])
    r = run_program(CFG, {PROG: load + encode(BAD[name]).to_bytes(32, "little"), DATA: bytes(16)}, PROG)
    assert (r.status, r.error_code, r.error_info) == (csr.STATUS_ERROR, e.value.code, PROG + 32)


def test_deadlock_halt():
    # an execute instruction waiting for a load token that no load will ever give
    stuck = assemble([Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA, pop_prev=True), Instr.make(Opcode.HALT)])
    r = run_program(CFG, {PROG: stuck, DATA: bytes(64)}, PROG)
    assert r.status == csr.STATUS_ERROR and r.error_code == ErrorCode.DEADLOCK


# The lanes built with the split LUT (a harness build more) in make test-all; in make test the polynomial's.
@pytest.mark.parametrize("built, impl", [("poly", "poly"), ("poly", "lut"),
                                         pytest.param("lut", "poly", marks=pytest.mark.slow),
                                         pytest.param("lut", "lut", marks=pytest.mark.slow)])
def test_softmax_constants_for_the_other_exp_halt(built, impl):
    """The lanes build one exp (exp_impl): a SOFTMAX whose lane constants are for the other halts with the
    nonlinear error on the RTL, as in the ISA model, instead of computing other exps (the LUT's constants on the
    polynomial's lanes would also give exps of 0; the polynomial's on the LUT's lanes, wrong exps); the same
    program with the matching constants runs."""
    from golden.machine import Machine, MachineError
    from golden.softmax import SoftmaxConstants
    cfg = CFG.replace(exp_impl=built)
    k = SoftmaxConstants.from_scale(1e-3, impl=impl)
    rows = 4
    scores = np.arange(rows * cfg.dim).reshape(rows, cfg.dim) * 50
    seg = {DATA: _lines(scores, 4), DATA + 0x100: nlops.pack_lane_consts(nlops.softmax_consts(k))}
    prog = [Instr.make(Opcode.LOAD, dst=1, local=0, lines=rows, mem_addr=DATA, stride=4 * cfg.dim, elem_bytes=4,
                       push_next=True),
            Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA + 0x100),
            Instr.make(Opcode.NL, op=int(nlops.LaneOp.SOFTMAX), acc_base=0, rows=rows, lines=1, row_stride=1,
                       line_stride=1, dst_base=0, dst_row_stride=1, dst_line_stride=1, pop_prev=True),
            Instr.make(Opcode.HALT)]
    r = run_program(cfg, {PROG: assemble(prog, cfg), **seg}, PROG)
    image = bytearray(DATA + 0x200)
    for a, data in seg.items():
        image[a:a + len(data)] = data
    if impl == built:
        Machine(cfg).run(prog, image)
        assert r.status == csr.STATUS_DONE, (r.status, r.error_code)
        return
    with pytest.raises(MachineError) as e:
        Machine(cfg).run(prog, image)
    assert e.value.code == ErrorCode.NONLINEAR
    assert (r.status, r.error_code) == (csr.STATUS_ERROR, ErrorCode.NONLINEAR)


def hazard_program(cfg, rng):
    """MATMULs and NLs that depend on each other through the scratchpad and the accumulator, in both directions,
    with an independent MATMUL beside an NL: the controller's hazard checks (golden.isa.conflicts) alone keep
    the order (one queue, no tokens between them)."""
    d, rows = cfg.dim, 24
    a = rng.integers(-128, 128, (rows, 4 * d))
    b = rng.integers(-128, 128, (4 * d, 2 * d))
    b2 = rng.integers(-128, 128, (2 * d, d))
    dy = Dyadic.from_ratio(rng.uniform(1e-4, 1e-3, 2 * d))
    lane, cols = nlops.requant_consts(dy, 2 * d, 8)
    a_lines = np.concatenate([a[:, i * d:(i + 1) * d] for i in range(4)])
    b_lines = np.concatenate([b[:, j * d:(j + 1) * d] for j in range(2)])
    seg = {DATA: _lines(a_lines, 1), DATA + 0x1000: _lines(b_lines, 1), DATA + 0x1800: _lines(b2, 1),
           DATA + 0x3000: nlops.pack_lane_consts(lane), DATA + 0x3100: nlops.pack_col_entries(cols)}
    A, B, B2, OUT1, OUT3 = 0, 100, 150, 300, 400
    C1, C2, C3 = 0, 200, 100
    mm = dict(rows=rows, k=4 * d, cols=d, accumulate=0, blocks=2, b_stride=4 * d, c_stride=rows)
    nl = dict(op=0, rows=rows, lines=2, row_stride=1, line_stride=rows, dst_row_stride=1, dst_line_stride=rows)
    prog = [
        Instr.make(Opcode.LOAD, dst=0, local=A, lines=len(a_lines), mem_addr=DATA, stride=d, elem_bytes=1),
        Instr.make(Opcode.LOAD, dst=0, local=B, lines=len(b_lines), mem_addr=DATA + 0x1000, stride=d, elem_bytes=1),
        Instr.make(Opcode.LOAD, dst=0, local=B2, lines=2 * d, mem_addr=DATA + 0x1800, stride=d, elem_bytes=1,
                   push_next=True),
        Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA + 0x3000, pop_prev=True),
        Instr.make(Opcode.CONFIG, kind=1, offset=0, count=2 * d, mem_addr=DATA + 0x3100),
        Instr.make(Opcode.MATMUL, a_addr=A, b_addr=B, c_addr=C1, **mm),
        Instr.make(Opcode.NL, acc_base=C1, dst_base=OUT1, **nl),                  # reads what MATMUL 1 writes
        Instr.make(Opcode.MATMUL, a_addr=A, b_addr=B, c_addr=C3, **mm),           # independent: beside the NL
        Instr.make(Opcode.MATMUL, a_addr=OUT1, b_addr=B2, c_addr=C2, rows=rows, k=2 * d, cols=d, accumulate=0,
                   blocks=1, b_stride=0, c_stride=rows),                          # reads what NL 1 writes
        Instr.make(Opcode.NL, acc_base=C3, dst_base=OUT3, **nl),                  # reads what MATMUL 3 writes
        Instr.make(Opcode.MATMUL, a_addr=A, b_addr=B, c_addr=C3, **dict(mm, accumulate=1),
                   push_next=True),                                               # overwrites what NL 2 reads
        Instr.make(Opcode.STORE, src=0, local=OUT1, lines=2 * rows, mem_addr=OUT, stride=d, elem_bytes=1,
                   pop_prev=True),
        Instr.make(Opcode.STORE, src=0, local=OUT3, lines=2 * rows, mem_addr=OUT + 0x1000, stride=d, elem_bytes=1),
        Instr.make(Opcode.STORE, src=1, local=C2, lines=rows, mem_addr=OUT + 0x2000, stride=4 * d, elem_bytes=4),
        Instr.make(Opcode.STORE, src=1, local=C3, lines=2 * rows, mem_addr=OUT + 0x3000, stride=4 * d,
                   elem_bytes=4),
        Instr.make(Opcode.HALT),
    ]
    seg[PROG] = assemble(prog, cfg)
    reads = [(OUT, 2 * rows * d), (OUT + 0x1000, 2 * rows * d), (OUT + 0x2000, rows * d * 4),
             (OUT + 0x3000, 2 * rows * d * 4)]
    return seg, prog, reads


def test_nl_beside_matmuls_keeps_program_order(tmp_path):
    """Every hazard between MATMULs and NLs in one queue resolved as program order says (the ISA model's
    results); the independent MATMUL issued beside the NL before it, each dependent one after; the execute
    queue's timing the program model's."""
    from golden.machine import Machine
    from golden.program_cycles import estimate_cycles
    from sim.trace import instr_times, parse
    seg, prog, reads = hazard_program(CFG, np.random.default_rng(7))
    m = Machine(CFG).run(prog, {**seg, OUT + 0x4000: bytes(16)})
    r = run_program(CFG, seg, PROG, reads, trace=tmp_path / "trace")
    assert r.done, (hex(r.status), r.error_code)
    for addr, n in reads:
        assert r.reads[addr] == bytes(m.memory[addr:addr + n]), f"region {addr:#x} differs from the ISA model"
    ev = parse(tmp_path / "trace").events
    issue, done, nl_issue, nl_done = (ev[k] for k in ("blk_issue", "blk_done", "nl_issue", "nl_done"))
    # blocks: MATMUL 1 (2), MATMUL 3 (2), MATMUL 2 (1), MATMUL 4 (2); NL 1, NL 2
    assert nl_issue[0] > done[1]                   # NL 1 after MATMUL 1 wrote its lines
    assert issue[2] < nl_done[0]                   # MATMUL 3 beside NL 1
    assert issue[4] > nl_done[0]                   # MATMUL 2 reads NL 1's rows
    assert nl_issue[1] > done[3]                   # NL 2 after MATMUL 3
    assert issue[5] > nl_done[1]                   # MATMUL 4 overwrites what NL 2 reads
    # the execute queue against the program model, from MATMUL 1's completion (the LOADs before it, 4-byte
    # lines at DIM 4, are outside the range the model was fitted on)
    starts, ends = instr_times(prog, parse(tmp_path / "trace"), CFG.bus_width // 8)
    est = estimate_cycles(prog, CFG)
    ex = [k for k, ins in enumerate(prog) if ins.op in (Opcode.MATMUL, Opcode.NL)]
    rtl = [ends[k] - ends[ex[0]] for k in ex]
    model = [est.ends[k] - est.ends[ex[0]] for k in ex]
    assert all(abs(x - y) <= 2 for x, y in zip(rtl, model)), (rtl, model)
