"""Per-layer compiler report: instruction counts, memory traffic and cycle estimates, fused vs unfused.

``report()`` compiles one MiniLM layer at each sequence length under the four schedule options and prints, per
combination, the instruction counts, the bytes the program moves (LOAD + STORE + CONFIG), the estimated cycles
(:func:`golden.program_cycles.estimate_cycles`), the ideal MAC-bound cycles (the model's MACs / dim**2) and the
split between the attention block (MHA: projections through the context) and the feed-forward block (Wo, LN1,
FFN, LN2).
"""
import itertools

from golden.program_cycles import estimate_cycles

from .plan import Options
from .program import compile_layer

__all__ = ["layer_macs", "layer_report", "phases", "report"]


def layer_macs(dims, seq):
    """MACs of one encoder layer: four hidden x hidden linears, two FFN linears, Q K^T and P V."""
    h, f = dims.hidden, dims.ffn
    return seq * h * h * 4 + 2 * seq * h * f + 2 * seq * seq * h


def phases(marks, ends):
    """Cycles of the MHA and FFN phases of a program with ``marks`` (``Program.marks``) whose instructions end at
    ``ends`` (the model's or the RTL's): end of the phase minus end of everything before it."""
    marks = dict(marks)
    out = {}
    for name, nxt in (("mha", "ffn"), ("ffn", "end")):
        i0, i1 = marks[f"{name}.0"], marks.get(f"{nxt}.0", marks["end"])
        before = max((e for e in ends[:i0] if e is not None), default=0)
        out[name] = max((e for e in ends[i0:i1] if e is not None), default=before) - before
    return out


def layer_report(layer, config, seq, options=Options(), latencies=None):
    """Figures of one compiled layer (a dict)."""
    prog = compile_layer(layer, config, seq, options)
    t = estimate_cycles(prog.instrs, config, latencies=latencies)
    ideal = -(-layer_macs(prog.plan.dims, seq) // config.macs_per_cycle)
    return {"seq": seq, "fuse_qk_softmax": options.fuse_qk_softmax,
            "fuse_ffn2_layernorm": options.fuse_ffn2_layernorm, "tile": prog.plan.tile,
            "counts": prog.counts(), "instructions": len(prog.instrs), "bytes": t.bytes, "cycles": t.cycles,
            "ideal_cycles": ideal, "utilization": ideal / t.cycles, **phases(prog.marks, t.ends)}


def report(encoder=None, config=None, seqs=(32, 128), layer=0, out=print, latencies=None):
    """Print (with ``out``) and return the per-layer figures for ``seqs`` and the four schedule options.

    ``encoder``: a ``golden.encoder.IntEncoder`` (default ``minilm_encoder()``); ``config``: default DIM 16 with
    ``input_width`` = the model's activation width.
    """
    if encoder is None:
        from golden.encoder import minilm_encoder
        encoder = minilm_encoder()
    if config is None:
        from golden.config import AcceleratorConfig
        config = AcceleratorConfig(dim=16, input_width=encoder.spec.activation_width)
    L = encoder.layers[layer]
    rows = []
    out(f"layer {layer}, dim {config.dim}, input_width {config.input_width}, spad {config.spad_rows} rows, "
        f"acc {config.acc_rows} lines")
    out(f"{'seq':>4} {'qk+sm':>6} {'ffn2+ln':>7} {'tile':>4} {'LOAD':>5} {'CFG':>4} {'MATMUL':>6} {'NL':>4} "
        f"{'STORE':>5} {'MB':>7} {'cycles':>9} {'ideal':>9} {'util':>5} {'MHA':>9} {'FFN':>9}")
    for seq, fq, ff in itertools.product(seqs, (True, False), (True, False)):
        r = layer_report(L, config, seq, Options(fuse_qk_softmax=fq, fuse_ffn2_layernorm=ff), latencies)
        c = r["counts"]
        out(f"{seq:>4} {'fused' if fq else 'unf.':>6} {'fused' if ff else 'unf.':>7} {r['tile']:>4} "
            f"{c.get('LOAD', 0):>5} {c.get('CONFIG', 0):>4} {c.get('MATMUL', 0):>6} {c.get('NL', 0):>4} "
            f"{c.get('STORE', 0):>5} {r['bytes'] / 1e6:>7.3f} {r['cycles']:>9} {r['ideal_cycles']:>9} "
            f"{r['utilization']:>5.2f} {r['mha']:>9} {r['ffn']:>9}")
        rows.append(r)
    return rows
