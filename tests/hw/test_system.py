"""The whole accelerator (controller, DMA over AXI4, CSRs over AXI4-Lite, array, nonlinear unit) on the fast
harness: small programs bit-exact against golden/, and the error paths (the hardware halts with a code)."""
import numpy as np
import pytest

from golden.numerics import Dyadic, requantize
from golden import nlops
from hw import csr
from golden.config import AcceleratorConfig
from golden.isa import ErrorCode, Instr, Opcode, assemble
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


def test_matmul_requant_store():
    seg, want = matmul_requant_program(CFG, np.random.default_rng(1))
    r = run_program(CFG, seg, PROG, [(OUT, want.size)])
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


def test_out_of_range_and_deadlock_halt():
    bad = Instr.make(Opcode.LOAD, dst=1, local=CFG.acc_rows - 1, lines=2, mem_addr=DATA, stride=16, elem_bytes=4)
    from golden.isa import encode
    r = run_program(CFG, {PROG: encode(bad).to_bytes(32, "little"), DATA: bytes(64)}, PROG)
    assert r.status == csr.STATUS_ERROR and r.error_code == ErrorCode.ACC_RANGE
    # an execute instruction waiting for a load token that no load will ever give
    stuck = assemble([Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA, pop_prev=True), Instr.make(Opcode.HALT)])
    r = run_program(CFG, {PROG: stuck, DATA: bytes(64)}, PROG)
    assert r.status == csr.STATUS_ERROR and r.error_code == 8
