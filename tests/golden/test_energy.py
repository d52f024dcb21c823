"""golden.energy: action counts against a hand count, the table's figures and scaling rules, and the counts of a
compiled layer against the cycle model's MACs and bytes."""
import math

import pytest

from golden.config import AcceleratorConfig
from golden.energy import TABLE, Actions, add_pj, count_actions, energy, mult_pj, sram_pj
from golden.isa import Instr, Opcode
from golden.nlops import LaneOp, NormMode

CFG = AcceleratorConfig(dim=4, input_width=12, spad_kib=8, spad_banks=1, acc_kib=8, acc_banks=1)


def test_hand_count():
    prog = [
        # 8 rows, k = 6 (two K blocks), 2 column blocks, the last 3 wide, accumulating
        Instr.make(Opcode.MATMUL, a_addr=0, b_addr=100, c_addr=0, rows=8, k=6, cols=3, accumulate=1, blocks=2,
                   b_stride=6, c_stride=8),
        # softmax over 2 rows of 3 lines: three passes
        Instr.make(Opcode.NL, op=int(LaneOp.SOFTMAX), acc_base=0, rows=2, lines=3, row_stride=1, line_stride=2,
                   dst_base=200, dst_row_stride=1, dst_line_stride=2),
        # LayerNorm with a residual over 1 row of 2 lines: two passes, the residual read in both
        Instr.make(Opcode.NL, op=int(LaneOp.LAYERNORM), acc_base=0, rows=1, lines=2, row_stride=1, line_stride=1,
                   residual=1, res_base=300, res_row_stride=1, res_line_stride=1, dst_base=400, dst_row_stride=1,
                   dst_line_stride=1),
        Instr.make(Opcode.LOAD, dst=0, local=0, lines=5, mem_addr=0, stride=8, elem_bytes=2),     # 5 x 4 x 2 B
        Instr.make(Opcode.LOAD, dst=1, local=0, lines=7, mem_addr=0, stride=0, elem_bytes=4),     # one 16 B line
        Instr.make(Opcode.STORE, src=1, local=0, lines=2, mem_addr=0, stride=16, elem_bytes=4),   # 2 x 16 B
        Instr.make(Opcode.CONFIG, kind=0, mem_addr=0),                                           # 64 B
        Instr.make(Opcode.CONFIG, kind=1, offset=0, count=3, mem_addr=0),                        # 3 x 16 B
    ]
    a = count_actions(prog, CFG)
    # MATMUL: per block 6 weight rows + 2 K blocks x 8 A rows; 2 x 8 x 16 PE MACs per block; 2 x 8 line writes
    # and (1 + 1) x 8 reads per block (the second K block adds, and the first accumulates)
    assert a.pe_macs == 2 * 2 * 8 * 16
    assert a.useful_macs == 8 * 6 * (4 + 3)
    mm_spad = 2 * (6 + 2 * 8)
    # softmax: 3 passes x 6 lines read, 6 rows written; LayerNorm: 2 passes x 2 lines, residual 2 x 2, 2 written
    assert a.acc_reads == 2 * 16 + 3 * 6 + 2 * 2 + 2
    assert a.acc_writes == 2 * 16 + 7
    assert a.spad_reads == mm_spad + 2 * 2
    assert a.spad_writes == 6 + 2 + 5
    assert a.nl_acc_reads == 3 * 6 + 2 * 2 and a.nl_spad_reads == 4 and a.nl_spad_writes == 8
    assert a.lane == {LaneOp.EXP: 24, LaneOp.SOFTMAX: 24, LaneOp.RESIDUAL: 8, LaneOp.LAYERNORM: 8}
    assert a.reduce == {NormMode.MAX: 24, NormMode.SUM: 24, NormMode.STATS: 8}
    assert a.derive == {NormMode.MAX: 2, NormMode.SUM: 2, NormMode.STATS: 1}
    assert a.dram_bytes == 8 * 32 + 40 + 16 + 32 + 64 + 48


def test_table_rules_reproduce_the_source():
    # each scaling rule, anchored at one of Horowitz's figures, predicts his others within 20%
    assert add_pj(32) == TABLE["add_32b_pj"][0] == 0.1
    assert add_pj(8) == pytest.approx(0.03, rel=0.2)
    assert mult_pj(32, 32) == 3.1 and mult_pj(8, 8) == pytest.approx(0.2, rel=0.05)
    assert sram_pj(64, 8192) == 10.0
    assert sram_pj(64, 32 * 1024) == pytest.approx(20.0)
    assert sram_pj(64, 1 << 20) == pytest.approx(100.0, rel=0.15)
    assert TABLE["dram_byte_pj"][0] == 1300 / 8
    for value, source in TABLE.values():
        assert "Horowitz ISSCC 2014" in source and value > 0


def test_energy_prices_each_action():
    a = Actions(pe_macs=10, spad_reads=3, acc_writes=2, dram_bytes=5, lane={LaneOp.REQUANT: 4})
    e = energy(a, CFG)
    assert e["array"] == pytest.approx(10 * (mult_pj(12, 8) + add_pj(32)))
    assert e["scratchpad"] == pytest.approx(3 * sram_pj(4 * 12, 8192))
    assert e["accumulator"] == pytest.approx(2 * sram_pj(4 * 32, 8192))
    assert e["nonlinear"] == pytest.approx(4 * (mult_pj(32, 16) + add_pj(32)))
    assert e["dram"] == pytest.approx(5 * 162.5)
    assert e["total"] == pytest.approx(sum(e[k] for k in ("array", "scratchpad", "accumulator", "nonlinear",
                                                          "dram")))
    assert math.isclose(sum(Actions.from_dict(a.to_dict()).lane.values()), 4)


def test_layer_counts_match_the_cycle_model():
    from compiler import compile_layer
    from compiler.plan import Options
    from golden.encoder import minilm_encoder
    from golden.program_cycles import estimate_cycles
    cfg = AcceleratorConfig(dim=8, input_width=12)
    prog = compile_layer(minilm_encoder().layers[0], cfg, 16, Options(fuse_ffn2_layernorm=True))
    a = count_actions(prog.instrs, cfg)
    t = estimate_cycles(prog.instrs, cfg)
    assert a.useful_macs == t.macs
    fetch = 32 * len(prog.instrs)
    assert a.dram_bytes == t.bytes + fetch
    assert a.pe_macs >= a.useful_macs
