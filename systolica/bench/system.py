"""`systolica bench` section "system": real MiniLM layers on the whole RTL accelerator (DIM 16).

Per schedule (the compiler's choice by the cycle model; the earlier fixed default, QK^T + softmax fused and
FFN2 + LayerNorm unfused; QK^T + softmax unfused), one layer at sequence length 32 and
128: RTL cycles (CYCLES CSR), the cycle model's estimate and its error, RTL / ideal MAC-bound cycles, array
utilization from the hardware counters, and the simulation speed of the run (cycles/s, fast harness).
"""
from compiler import Options
from golden.encoder import tokens_of_length
from golden.encoder import minilm_encoder
from golden.config import AcceleratorConfig
from systolica.run import run_layers

__all__ = ["run"]

SCHEDULES = {"chosen": None, "ffn2_ln_unfused": Options(fuse_ffn2_layernorm=False),
             "qk_unfused": Options(fuse_qk_softmax=False)}


def run(progress):
    enc = minilm_encoder()
    cfg = AcceleratorConfig(dim=16, input_width=enc.spec.activation_width)
    res = {}
    for seq in (32, 128):
        ids = tokens_of_length(enc.model, seq)
        for name, opts in SCHEDULES.items():
            progress(f"one layer, seq {seq}, schedule {name} ...")
            r = run_layers(enc, cfg, ids, 1, opts, progress)
            key = f"seq{seq}_{name}"
            res[f"{key}_rtl_cycles"] = (r["cycles"], "cycles")
            res[f"{key}_model_error"] = ((r["model_cycles"] - r["cycles"]) / r["cycles"], "fraction (model - RTL) / RTL")
            res[f"{key}_rtl_over_ideal"] = (r["cycles"] / r["ideal_cycles"], "x ideal MAC-bound cycles")
            res[f"{key}_utilization"] = (r["mac_cycles"] / r["cycles"], "useful-MAC cycles / cycles")
            res[f"{key}_sim_speed"] = (r["sim_cycles_per_s"], "cycles/s")
        base = res[f"seq{seq}_chosen_rtl_cycles"][0]
        for name in ("ffn2_ln_unfused", "qk_unfused"):
            res[f"seq{seq}_{name}_vs_chosen"] = (res[f"seq{seq}_{name}_rtl_cycles"][0] / base - 1, "fraction")
    for k, (v, u) in res.items():
        progress(f"{k} = {v:.4g} {u}" if isinstance(v, float) else f"{k} = {v} {u}")
    return res
