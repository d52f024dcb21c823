"""golden.nlops: the NL op codes are part of the ISA (docs/isa.md: REQUANT 0, GELU 1, SOFTMAX 3, LAYERNORM 4).

Hardware, machine and compiler all name the ops through ``LaneOp``, so a renumbering would pass every other test
and still change what an assembled program or a constant block means. The numbers are pinned here.
"""
from golden import nlops
from golden.nlops import LaneOp


def test_nl_op_codes_are_the_isa_encoding():
    assert {op.name: int(op) for op in LaneOp} == {"REQUANT": 0, "GELU": 1, "EXP": 2, "SOFTMAX": 3, "LAYERNORM": 4,
                                                   "RESIDUAL": 5}


def test_constant_block_carries_the_op_in_its_low_bits():
    # CONFIG kind 0: the block's fields from bit 0 in FIELDS order, the 3-bit op first.
    for op, code in ((LaneOp.REQUANT, 0), (LaneOp.GELU, 1), (LaneOp.SOFTMAX, 3), (LaneOp.LAYERNORM, 4)):
        assert nlops.pack_lane_consts(nlops.LaneConsts.make(op=op))[0] & 7 == code
