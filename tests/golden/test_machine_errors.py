"""golden.machine's errors carry the code the hardware reports in ERROR_CODE (docs/isa.md: 5 bus error,
6 nonlinear, 7 column-table range): the system tests compare the RTL's code with the machine's."""
import numpy as np
import pytest

from golden import nlops
from golden.config import AcceleratorConfig
from golden.isa import ErrorCode, Instr, Opcode
from golden.machine import Machine, MachineError, lane_op
from golden.nlops import LaneOp
from golden.numerics import Dyadic
from golden.softmax import SoftmaxConstants

CFG = AcceleratorConfig(dim=8, input_width=12, spad_kib=16, acc_kib=8)
TABLE = {name: np.zeros(AcceleratorConfig().col_entries, dtype=np.int64) for name in nlops.COL_FIELDS}


def test_memory_beyond_the_image_is_a_bus_error():
    with pytest.raises(MachineError) as e:
        Machine(CFG).run([Instr.make(Opcode.LOAD, lines=1, mem_addr=64, elem_bytes=1)], bytearray(64))
    assert e.value.code == ErrorCode.BUS == 5


def test_softmax_underflow_is_a_nonlinear_error():
    k = SoftmaxConstants.from_scale(3e-4)
    lane = {**nlops.softmax_consts(k).as_dict(), "m3": 1}          # tiny exps: the row sum underflows
    with pytest.raises(MachineError) as e:
        lane_op(LaneOp.SOFTMAX, np.zeros((1, 8), dtype=np.int64), None, lane, TABLE)
    assert e.value.code == ErrorCode.NONLINEAR == 6


def test_rows_longer_than_the_column_table_are_a_table_error():
    lane = nlops.requant_consts(Dyadic(1, 0), 1, 32)[0].as_dict()
    with pytest.raises(MachineError) as e:
        lane_op(LaneOp.REQUANT, np.zeros((1, len(TABLE["m1"]) + 1), dtype=np.int64), None, lane, TABLE)
    assert e.value.code == ErrorCode.TABLE_RANGE == 7
    # softmax reads no column entry: its rows may be longer than the table
    sm = nlops.softmax_consts(SoftmaxConstants.from_scale(0.01)).as_dict()
    assert lane_op(LaneOp.SOFTMAX, np.zeros((1, len(TABLE["m1"]) + 1), dtype=np.int64), None, sm, TABLE).shape[1] \
        == len(TABLE["m1"]) + 1
