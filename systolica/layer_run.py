"""One compiled MiniLM layer on the RTL (fast harness), against the golden model and the cycle model.

    python -m systolica.layer_run [SEQ] [--unfuse-qk] [--fuse-ffn] [--trace FILE] [--preset NAME | --dim ...]

Prints the RTL cycles (CYCLES CSR), the model's estimate (golden.program_cycles.estimate_cycles), the ideal
MAC-bound cycles, the MHA / FFN phase latencies of both (phases as in compiler.report) and whether the RTL
output is bit-exact. With ``--trace`` the per-instruction RTL start/end cycles (sim.trace) are compared with the
model's and the largest differences listed.
"""
import argparse
import sys
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("seq", type=int, nargs="?", default=32)
    ap.add_argument("--unfuse-qk", action="store_true")
    ap.add_argument("--fuse-ffn", action="store_true")
    ap.add_argument("--trace")
    ap.add_argument("--top", type=int, default=15)
    from systolica.options import config_from_args
    from systolica.run import add_model_config_arguments
    add_model_config_arguments(ap)
    a = ap.parse_args(argv)
    from compiler import Options, compile_encoder
    from compiler.report import layer_macs, phases
    from golden.encoder import tokens_of_length
    from golden.encoder import minilm_encoder
    from golden.program_cycles import estimate_cycles
    from sim.system import run_program

    enc = minilm_encoder()
    ids = tokens_of_length(enc.model, a.seq)
    cfg = config_from_args(a)
    opts = Options(fuse_qk_softmax=not a.unfuse_qk, fuse_ffn2_layernorm=a.fuse_ffn)
    prog = compile_encoder(enc, cfg, ids, n_layers=1, options=opts)
    hs = enc.forward(ids, n_layers=1)
    est = estimate_cycles(prog.instrs, cfg)
    ideal = -(-layer_macs(prog.plan.dims, a.seq) // cfg.macs_per_cycle)
    print(f"seq {a.seq} {opts}: instrs {prog.counts()}")
    out = prog.outputs["output"]
    nbytes = hs[1].size * 2
    t = time.time()
    r = run_program(cfg, {0: bytes(prog.memory())}, prog.prog_addr, [(out, nbytes)], trace=a.trace)
    wall = time.time() - t
    mem = bytearray(out + nbytes)
    mem[out:out + nbytes] = r.reads[out]
    exact = bool(np.array_equal(prog.read_output(mem), hs[1]))
    print(f"status {r.status:#x} err {r.error_code} RTL == golden: {exact}")
    print(f"RTL cycles {r.cycles}  model {est.cycles} ({(est.cycles - r.cycles) / r.cycles:+.2%})  "
          f"ideal {ideal}  RTL/ideal {r.cycles / ideal:.3f}  perf {r.perf}")
    print(f"sim {r.wall_cycles} cycles in {r.seconds:.1f} s = {r.wall_cycles / max(r.seconds, 1e-9):.0f} cycles/s "
          f"(wall incl. build/compile {wall:.0f} s)")
    mp = phases(prog.marks, est.ends)
    line = f"model MHA {mp['mha']} FFN {mp['ffn']}"
    if a.trace:
        from sim.trace import instr_times, parse
        tr = parse(a.trace)
        starts, ends = instr_times(prog.instrs, tr)
        t0 = tr.start
        rel = type(est)(starts=[s - t0 if s is not None else None for s in starts],
                        ends=[e - t0 if e is not None else None for e in ends])
        rp = phases(prog.marks, rel.ends)
        line += f"   RTL MHA {rp['mha']} FFN {rp['ffn']}"
        diffs = []
        for k, ins in enumerate(prog.instrs):
            if rel.ends[k] is None or est.ends[k] is None:
                continue
            diffs.append((k, ins.op.name, rel.starts[k], est.starts[k], rel.ends[k], est.ends[k]))
        print("instr op  rtl_start model_start rtl_end model_end (largest end-time slips, RTL later)")
        prev = 0
        slips = []
        for d in diffs:
            slip = (d[4] - d[5]) - prev
            slips.append((slip, d))
            prev = d[4] - d[5]
        for slip, d in sorted(slips, reverse=True)[:a.top]:
            print(f"  {d} slip {slip}")
    print(line)
    return 0 if exact and r.status == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
