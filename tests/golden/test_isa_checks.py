"""golden.isa.decode_checks at its boundaries: the last legal instruction passes, one step beyond fails with the
code the hardware halts with (tests/hw/test_system.py runs the failing ones on the RTL)."""
import pytest

from golden.config import AcceleratorConfig
from golden.nlops import LaneOp
from golden.isa import (CHANNELS, MAX_ROW, ErrorCode, Instr, IsaError, Opcode, Queue, channel_flags,
                        flag_channel)

CFG = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)
S, A, D = CFG.spad_rows, CFG.acc_rows, CFG.dim

# name -> (make(n) -> Instr, the largest legal n, the code for n + 1)
BOUNDS = {
    "load-spad": (lambda n: Instr.make(Opcode.LOAD, dst=0, local=n, lines=1, elem_bytes=1), S - 1,
                  ErrorCode.SPAD_RANGE),
    "load-acc": (lambda n: Instr.make(Opcode.LOAD, dst=1, local=n, lines=1, elem_bytes=4), A - 1, ErrorCode.ACC_RANGE),
    "store-lines": (lambda n: Instr.make(Opcode.STORE, src=0, local=0, lines=n, elem_bytes=1), S, ErrorCode.SPAD_RANGE),
    "config-table": (lambda n: Instr.make(Opcode.CONFIG, kind=1, offset=100, count=n), CFG.col_entries - 100,
                     ErrorCode.TABLE_RANGE),
    "matmul-cols": (lambda n: Instr.make(Opcode.MATMUL, rows=1, k=1, blocks=1, cols=n), D, ErrorCode.BAD_FIELD),
    "matmul-a": (lambda n: Instr.make(Opcode.MATMUL, a_addr=n, b_addr=0, rows=1, k=D + 1, blocks=1, cols=1),
                 S - 2, ErrorCode.SPAD_RANGE),          # k = D + 1: two K blocks of one A row
    "matmul-b": (lambda n: Instr.make(Opcode.MATMUL, b_addr=n, rows=1, k=3, blocks=2, b_stride=5, cols=1),
                 S - 8, ErrorCode.SPAD_RANGE),          # last B row: b_addr + 5 + 2
    "matmul-c": (lambda n: Instr.make(Opcode.MATMUL, c_addr=n, rows=2, k=1, blocks=3, c_stride=4, cols=1),
                 A - 10, ErrorCode.ACC_RANGE),          # last C line: c_addr + 8 + 1
    "nl-row-length": (lambda n: Instr.make(Opcode.NL, op=LaneOp.SOFTMAX, rows=1, lines=n), MAX_ROW // D,
                      ErrorCode.BAD_FIELD),
    "nl-table-length": (lambda n: Instr.make(Opcode.NL, op=LaneOp.GELU, rows=1, lines=n), CFG.col_entries // D,
                        ErrorCode.TABLE_RANGE),
    "nl-acc": (lambda n: Instr.make(Opcode.NL, acc_base=n, rows=2, lines=3, row_stride=3, line_stride=1),
               A - 6, ErrorCode.ACC_RANGE),
    "nl-dst": (lambda n: Instr.make(Opcode.NL, rows=3, lines=1, dst_base=n, dst_row_stride=2), S - 5,
               ErrorCode.SPAD_RANGE),
    "nl-dst-transposed": (lambda n: Instr.make(Opcode.NL, rows=D + 1, lines=1, transpose=1, dst_base=n,
                                               dst_row_stride=D, dst_line_stride=1), S - 2 * D, ErrorCode.SPAD_RANGE),
    "nl-residual": (lambda n: Instr.make(Opcode.NL, rows=2, lines=2, residual=1, res_base=n, res_row_stride=2,
                                         res_line_stride=1), S - 4, ErrorCode.SPAD_RANGE),
}


@pytest.mark.parametrize("name", list(BOUNDS))
def test_boundary(name):
    make, last, code = BOUNDS[name]
    make(last).check(CFG)
    with pytest.raises(IsaError) as e:
        make(last + 1).check(CFG)
    assert e.value.code == code, str(e.value)


@pytest.mark.parametrize("ins, code", [
    (Instr.make(Opcode.LOAD, lines=0, elem_bytes=1), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.LOAD, dst=1, lines=1, elem_bytes=2), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.STORE, src=0, lines=1, elem_bytes=3), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.CONFIG, kind=1, count=0), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.MATMUL, rows=1, k=0, blocks=1, cols=1), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.NL, op=5, rows=1, lines=1), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.NL, rows=0, lines=1), ErrorCode.BAD_FIELD),
    (Instr.make(Opcode.NL, op=0, rows=1, lines=1, band=1, window=3), ErrorCode.BAD_FIELD),    # band: softmax only
    (Instr.make(Opcode.NL, op=3, rows=1, lines=1, window=3), ErrorCode.BAD_FIELD),            # band fields, no band
    (Instr.make(Opcode.NL, op=3, rows=1, lines=1, cls_line=1), ErrorCode.BAD_FIELD),
])
def test_bad_fields(ins, code):
    with pytest.raises(IsaError) as e:
        ins.check(CFG)
    assert e.value.code == code and ins.op.name in str(e.value)


def test_first_failing_check_wins():
    # a zero count and an out-of-range address: the decoder reports the field, as the hardware does
    with pytest.raises(IsaError) as e:
        Instr.make(Opcode.MATMUL, a_addr=S, rows=0, k=1, blocks=1, cols=1).check(CFG)
    assert e.value.code == ErrorCode.BAD_FIELD


def test_channel_flags_invert_flag_channel():
    for (sender, receiver), name in CHANNELS.items():
        push, pop = channel_flags(sender, receiver)
        assert flag_channel(sender, push) == name and flag_channel(receiver, pop) == name
    with pytest.raises(ValueError, match="no token channel from LOAD to STORE"):
        channel_flags(Queue.LOAD, Queue.STORE)
