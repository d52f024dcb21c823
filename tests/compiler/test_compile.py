"""The compiler on the real MiniLM: compiled layers run on the ISA machine reproduce golden bit for bit, and do
the work their shapes call for (MACs, weight traffic, nonlinear values, cycles near the MAC bound)."""
import numpy as np
import pytest

from compiler import Options, compile_encoder, compile_layer, make_plan
from compiler.image import from_a_layout, to_a_layout
from compiler.plan import LayerDims
from golden.encoder import tokens_of_length
from golden.encoder import minilm_encoder
from golden.machine import Machine, estimate_cycles
from golden.config import AcceleratorConfig
from golden.isa import Opcode, disassemble
from golden.nlops import LaneOp


@pytest.fixture(scope="module")
def enc():
    return minilm_encoder()


@pytest.fixture(scope="module")
def layer_io(enc):
    ids = tokens_of_length(enc.model, 32)
    hs = enc.forward(ids, n_layers=1)
    dump = {}
    enc.layers[0].forward(hs[0], dump)
    return ids, hs[0], dump["ln2"]


def cfg16(enc, **kw):
    return AcceleratorConfig(dim=16, input_width=enc.spec.activation_width, **kw)


def program_figures(instrs, dim):
    """Work of a program summed over its instructions: MACs of its MATMULs, bytes of int8 weight LOADs, values
    per NL op, bytes STOREd."""
    fig = {"macs": 0, "weight_bytes": 0, "nl_values": {}, "stored_bytes": 0}
    for i in instrs:
        if i.op == Opcode.MATMUL:
            fig["macs"] += i["rows"] * i["k"] * ((i["blocks"] - 1) * dim + i["cols"])
        elif i.op == Opcode.LOAD and not i["dst"] and i["elem_bytes"] == 1:
            fig["weight_bytes"] += i["lines"] * dim
        elif i.op == Opcode.NL:
            op = LaneOp(i["op"])
            fig["nl_values"][op] = fig["nl_values"].get(op, 0) + i["rows"] * i["lines"] * dim
        elif i.op == Opcode.STORE:
            fig["stored_bytes"] += i["lines"] * dim * i["elem_bytes"]
    return fig


@pytest.mark.parametrize("fuse_qk", [True, False])
@pytest.mark.parametrize("fuse_ln", [True, False])
def test_layer_bit_exact_all_fusion_options(enc, layer_io, fuse_qk, fuse_ln):
    _, h, want = layer_io
    cfg = cfg16(enc)
    assert cfg.input_width == 12
    prog = compile_layer(enc.layers[0], cfg, 32, Options(fuse_qk_softmax=fuse_qk, fuse_ffn2_layernorm=fuse_ln), h=h)
    out, m = prog.run()
    assert np.array_equal(out, want)
    assert all(v == 0 for v in m.tokens.values())              # every push popped
    # the program bytes in the image are the program
    a, n = prog.image.regions["program"]
    assert disassemble(prog.image.data[a:a + n]) == prog.instrs
    counts = prog.counts()
    assert counts["STORE"] == 1 + (0 if fuse_qk else 12) + (0 if fuse_ln else 1)
    # What the program does follows from the shapes alone, whatever the schedule (seq 32 is one token tile).
    seq, hid, heads, ffn, d = 32, 384, 12, 1536, cfg.dim
    fig = program_figures(prog.instrs, d)
    macs = 4 * seq * hid * hid + 2 * seq * hid * ffn + 2 * seq * seq * hid
    assert fig["macs"] == macs
    assert fig["weight_bytes"] == 4 * hid * hid + 2 * hid * ffn             # every weight loaded once
    assert fig["nl_values"] == {LaneOp.REQUANT: 4 * seq * hid,               # Q, K, V, context
                                LaneOp.SOFTMAX: heads * seq * seq, LaneOp.LAYERNORM: 2 * seq * hid,
                                LaneOp.GELU: seq * ffn}
    assert fig["stored_bytes"] == 2 * seq * hid + (0 if fuse_qk else 4 * heads * seq * seq) + (
        0 if fuse_ln else 4 * seq * hid)
    # The estimate: never below the MAC bound, and near it (docs: ~1.15x the ideal on the RTL).
    t = estimate_cycles(prog.instrs, cfg)
    ideal = -(-macs // d**2)
    assert t.macs == macs and ideal <= t.cycles <= 1.25 * ideal


@pytest.mark.parametrize("seq", [32, 20])
def test_layer_bit_exact_dim8_and_ragged_seq(enc, seq):
    ids = tokens_of_length(enc.model, seq)                    # 20 % 8 != 0: masked score columns, short tile
    h = enc.forward(ids, n_layers=1)[0]
    want = enc.layers[0].forward(h)
    cfg = AcceleratorConfig(dim=8, input_width=12)
    out, _ = compile_layer(enc.layers[0], cfg, seq, h=h).run()
    assert np.array_equal(out, want)


def test_two_layer_encoder_chain(enc):
    ids = tokens_of_length(enc.model, 16)
    hs = enc.forward(ids, n_layers=2)
    cfg = cfg16(enc)
    prog = compile_encoder(enc, cfg, 16, n_layers=2, options=Options(store_all=True))
    assert np.array_equal(prog.ids, ids)
    m = Machine(cfg).run(prog.program_bytes(), prog.memory())
    assert np.array_equal(prog.read_output(m.memory, "output.0"), hs[1])
    assert np.array_equal(prog.read_output(m.memory), hs[2])
    emb = prog.embedding(m.memory)
    assert np.allclose(emb, hs[2].mean(axis=0) * enc.hidden_scale(2))


def test_tiling_at_seq_128_plans_token_tiles(enc):
    dims = LayerDims.of(enc.layers[0])
    plan = make_plan(dims, cfg16(enc), 128)
    assert plan.tile == 32 and plan.ntiles == 4
    assert plan.wbuf_rows >= 16
    used = max(r + n for r, n in plan.spad.values())
    assert used <= cfg16(enc).spad_rows


def test_capacity_errors_are_clear(enc):
    L = enc.layers[0]
    with pytest.raises(ValueError, match="input_width=8 is narrower"):
        compile_layer(L, AcceleratorConfig(dim=16, input_width=8), 32)
    with pytest.raises(ValueError, match="seq=128 cannot tile.*scratchpad"):
        compile_layer(L, cfg16(enc, spad_kib=64), 128)
    with pytest.raises(ValueError, match="accumulator"):
        compile_layer(L, cfg16(enc, acc_kib=8), 32)
    with pytest.raises(ValueError, match="tile=12 is not a positive multiple"):
        compile_layer(L, cfg16(enc), 32, Options(tile=12))
    with pytest.raises(ValueError, match="seq must be a positive int"):
        compile_layer(L, cfg16(enc), 0)
    with pytest.raises(ValueError, match="not a multiple of dim"):
        compile_layer(L, AcceleratorConfig(dim=24, input_width=12), 32)


def test_a_layout_round_trip():
    x = np.arange(20 * 32).reshape(20, 32)
    lines = to_a_layout(x, 8, 16)
    assert np.array_equal(lines[0], x[0, :16]) and np.array_equal(lines[8], x[0, 16:])
    assert np.array_equal(lines[2 * 16 + 4], x[16, 16:])      # last tile has 4 rows
    assert np.array_equal(from_a_layout(lines, 20, 32, 8, 16), x)


@pytest.mark.parametrize("fuse", [True, False])
def test_tokens_order_every_cross_queue_conflict(enc, layer_io, fuse):
    """Under random timings allowed by the ISA, every conflicting pair of instructions of different queues runs
    in program order (compiler.verify), and every push is popped."""
    from compiler.verify import check_races
    _, h, _ = layer_io
    cfg = cfg16(enc)
    prog = compile_layer(enc.layers[0], cfg, 32, Options(fuse_qk_softmax=fuse, fuse_ffn2_layernorm=fuse), h=h)
    check_races(prog.instrs, cfg, trials=2, seed=1)
    for a, b in ((0, 1), (1, 2)):
        pushes = sum(i.push_next for i in prog.instrs if i.queue == a) + sum(
            i.push_prev for i in prog.instrs if i.queue == b)
        pops = sum(i.pop_prev for i in prog.instrs if i.queue == b) + sum(
            i.pop_next for i in prog.instrs if i.queue == a)
        assert pushes == pops


def test_race_checker_catches_a_missing_token(enc):
    from compiler.verify import check_races
    from golden.isa import Instr
    cfg = cfg16(enc)
    prog = [Instr.make(Opcode.LOAD, local=0, lines=16, mem_addr=0, stride=16, elem_bytes=1),
            Instr.make(Opcode.MATMUL, a_addr=100, b_addr=0, c_addr=0, rows=4, k=16, cols=16, blocks=1)]
    with pytest.raises(AssertionError, match="instruction 1"):
        check_races(prog, cfg, trials=5)
    ok = [prog[0].__class__.make(Opcode.LOAD, local=0, lines=16, mem_addr=0, stride=16, elem_bytes=1,
                                 push_next=True),
          Instr.make(Opcode.MATMUL, a_addr=100, b_addr=0, c_addr=0, rows=4, k=16, cols=16, blocks=1, pop_prev=True)]
    check_races(ok, cfg, trials=5)


def test_report_prints_every_option(enc):
    lines = []
    rows = __import__("compiler").report(enc, cfg16(enc), seqs=(16,), out=lines.append)
    assert len(rows) == 4 and len(lines) == 6
    fused = next(r for r in rows if r["fuse_qk_softmax"] and r["fuse_ffn2_layernorm"])
    unfused = next(r for r in rows if not r["fuse_qk_softmax"] and not r["fuse_ffn2_layernorm"])
    assert unfused["cycles"] > fused["cycles"] > fused["ideal_cycles"]
    assert unfused["bytes"] > fused["bytes"]
    assert fused["mha"] + fused["ffn"] <= fused["cycles"]


def test_schedule_chosen_by_the_cycle_model(enc):
    """The default schedule is the fastest candidate the cycle model times: every fusion choice at each token
    tile tried, each estimate that of the candidate's own compiled layer."""
    from compiler.schedule import candidates, choose
    cfg = cfg16(enc)
    cands = candidates(LayerDims.of(enc.layers[0]), cfg, 32)
    assert {(o.fuse_qk_softmax, o.fuse_ffn2_layernorm) for o in cands} == {(a, b) for a in (0, 1) for b in (0, 1)}
    assert sorted({o.tile for o in cands}) == [16, 32] == sorted({make_plan(LayerDims.of(enc.layers[0]), cfg, 32,
                                                                             Options(tile=t)).tile for t in (16, 32)})
    ranked = choose(enc.layers[0], cfg, 32)
    assert [c for _, c in ranked] == sorted(c for _, c in ranked) and len(ranked) == len(cands)
    opts, cycles = ranked[-1]
    assert estimate_cycles(compile_layer(enc.layers[0], cfg, 32, opts).instrs, cfg).cycles == cycles
    prog = compile_encoder(enc, cfg, 32, n_layers=1)
    assert prog.options == ranked[0][0] and prog.schedules == ranked
    assert compile_encoder(enc, cfg, 32, n_layers=1, options=Options()).schedules is None


@pytest.mark.parametrize("acc_kib, tile", [(128, 32), pytest.param(64, 16, marks=pytest.mark.slow), (64, 32)],
                         ids=["pipelined-early-projections", "pipelined", "sequential"])
def test_attention_schedule_bit_exact_on_the_isa_model(enc, acc_kib, tile):
    """The attention schedules equal golden/ in program order at 256 tokens: software-pipelined over the query
    tiles with the next head's projections in the score regions (tile 32: a head's projection, 512 lines, fits a
    tile's scores), pipelined without them (tile 16: scores of 256 lines per tile; in make test the BERT-base
    layer runs this schedule on the RTL), and, in a smaller accumulator, one tile after the other."""
    ids = tokens_of_length(enc.model, 256)
    h = enc.forward(ids, n_layers=1)[0]
    cfg = AcceleratorConfig(dim=16, input_width=12, spad_kib=512, acc_kib=acc_kib)
    out, _ = compile_layer(enc.layers[0], cfg, 256, Options(fuse_ffn2_layernorm=True, tile=tile), h=h).run()
    assert np.array_equal(out, enc.layers[0].forward(h))


@pytest.mark.parametrize("seq, window, options", [
    (100, 5, Options(tile=32)),                                  # [CLS]'s block apart from the band, padding
    (90, 7, Options(fuse_qk_softmax=False, tile=32)),            # the unfused round trip of the band's scores
    (48, 100, Options(tile=16)),                                 # a window wider than the sequence
    (64, 0, Options(tile=16)),                                   # each token attends to itself and [CLS]
], ids=["cls-apart", "unfused", "wide", "zero"])
def test_windowed_attention_bit_exact_on_the_isa_model(enc, seq, window, options):
    """ReBERT's windowed attention: Q K^T, softmax and P V over each query tile's band of key blocks (plus
    [CLS]'s), the softmax masking the partial blocks (NL ``band``): equal to golden/'s windowed layer, and
    cheaper than full attention when the band is narrower than the sequence."""
    cfg = AcceleratorConfig(dim=16, input_width=12)
    h = enc.forward(tokens_of_length(enc.model, seq), n_layers=1)[0]
    prog = compile_layer(enc.layers[0], cfg, seq, options, h=h, window=window)
    out, _ = prog.run()
    assert np.array_equal(out, enc.layers[0].forward(h, window=window))
    full = compile_layer(enc.layers[0], cfg, seq, options, h=h)
    macs = [estimate_cycles(p.instrs, cfg).macs for p in (prog, full)]
    assert macs[0] < macs[1] if window < seq - 1 else macs[0] == macs[1], macs
    bands = [i for i in prog.instrs if i.op == Opcode.NL and dict(i.fields)["band"]]
    assert len(bands) == LayerDims.of(enc.layers[0]).heads * -(-seq // options.tile)


def test_windowed_encoder_bit_exact_on_the_isa_model(enc):
    """Per-layer windows through compile_encoder: the program's output equals golden/'s windowed encoder."""
    cfg = AcceleratorConfig(dim=16, input_width=12)
    ids = tokens_of_length(enc.model, 64)
    windows = [8, None]
    prog = compile_encoder(enc, cfg, ids, n_layers=2, windows=windows, options=Options(tile=32))
    out, _ = prog.run()
    assert prog.windows == windows
    assert np.array_equal(out, enc.forward(ids, n_layers=2, windows=windows)[-1])
