"""`systolica bench` section "nonlinear": lane throughput and the nonlinear share of a MiniLM layer.

Measured on the RTL (cocotb + Verilator, DIM=16, 16 lanes, no output stalls): GELU over a full accumulator
(elements per cycle, against the 16-lane peak), softmax over rows of 128 and LayerNorm over rows of 384.
Modelled (golden.cycles, which the RTL matches cycle for cycle in the tests): the cycles softmax + LayerNorm
+ GELU take for one all-MiniLM-L6-v2 layer at sequence length 128, against the layer's ideal matmul cycles.
"""
import json
import pathlib
import tempfile

from golden.cycles import nonlinear_cycles
from golden.config import AcceleratorConfig
from golden.nlops import LaneOp

from sim import runner

__all__ = ["run", "minilm_layer_nonlinear"]


def _chunks(rows, lines, cfg):
    """Split ``rows`` rows of ``lines`` lines into commands that fit the accumulator."""
    per = max(1, cfg.acc_rows // lines)
    while rows > 0:
        yield min(per, rows)
        rows -= per


def minilm_layer_nonlinear(cfg, seq=128, hidden=384, heads=12, ffn=1536):
    """Modelled cycles of one MiniLM layer's nonlinear ops (not overlapped with the array) and its ideal matmul
    cycles ``MACs / dim**2``."""
    d = cfg.dim
    ops = {
        "softmax": sum(nonlinear_cycles(LaneOp.SOFTMAX, r, seq // d, cfg)
                       for _ in range(heads) for r in _chunks(seq, seq // d, cfg)),
        "layernorm": 2 * sum(nonlinear_cycles(LaneOp.LAYERNORM, r, hidden // d, cfg)
                             for r in _chunks(seq, hidden // d, cfg)),
        "gelu": sum(nonlinear_cycles(LaneOp.GELU, r, ffn // d, cfg) for r in _chunks(seq, ffn // d, cfg)),
    }
    macs = seq * hidden * hidden * 4 + 2 * seq * seq * hidden + 2 * seq * hidden * ffn
    return ops, macs / d ** 2


def run(progress):
    cfg = AcceleratorConfig(dim=16)
    res = {}
    with tempfile.TemporaryDirectory(prefix="systolica-nlbench-") as tmp:
        out = pathlib.Path(tmp) / "shapes.json"
        progress("cocotb + Verilator: GELU stream, softmax rows of 128, LayerNorm rows of 384 (dim 16) ...")
        runner.run_test(runner.nonlinear_top_design(cfg), "sim.cocotb_nonlinear", testcase="test_nonlinear/case=minilm_shapes",
                        extra_env={"SYSTOLICA_CONFIG": cfg.to_json(), "SYSTOLICA_RESULT": str(out)},
                        progress=progress, results_name="bench")
        gelu, sm, ln = json.loads(out.read_text())
    for name, m in (("gelu", gelu), ("softmax", sm), ("layernorm", ln)):
        assert m["cycles"] == m["model"], m
    elems = gelu["rows"] * gelu["length"]
    res["gelu_elements_per_cycle"] = (elems / gelu["cycles"], f"elements/cycle ({elems} elements, RTL)")
    res["gelu_fraction_of_peak"] = (elems / gelu["cycles"] / min(cfg.lanes, cfg.dim), "fraction of 16/cycle")
    for name, m in (("softmax_L128", sm), ("layernorm_L384", ln)):
        lines = m["rows"] * m["length"] // cfg.dim
        res[f"{name}_cycles_per_line"] = (m["cycles"] / lines, f"cycles/line ({m['rows']} rows, RTL)")
    ops, ideal = minilm_layer_nonlinear(cfg)
    total = sum(ops.values())
    res["minilm_layer_ideal_matmul_cycles"] = (ideal, "cycles (MACs/256, seq 128)")
    for k, v in ops.items():
        res[f"minilm_layer_{k}_cycles"] = (v, "cycles (model)")
    res["minilm_layer_nonlinear_share"] = (total / ideal, "of ideal matmul cycles, not overlapped")
    for k, (v, u) in res.items():
        progress(f"{k} = {v:.4g} {u}" if isinstance(v, float) else f"{k} = {v} {u}")
    return res
