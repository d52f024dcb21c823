"""The self-test program: a tiled matmul, a softmax and a LayerNorm on seeded data, expected results from golden/.

What runs (``d = config.dim``, ``M = d + 1`` rows, ``K = 3d``, ``N = 2d``)::

    C = bias + A @ B            A (M x K) activations, B (K x N) int8 weights, bias int32 per column;
                                two MATMULs over K chunks of d and 2d, two column blocks each (accumulate)
    STORE C                     int32, row-major (one strided STORE per column block)
    P = softmax(C) per row      NL SOFTMAX -> scratchpad -> STORE (uint8 probabilities)
    L = LayerNorm(C) per row    NL LAYERNORM (gamma, beta per column) -> scratchpad -> STORE

The expected bytes come from the golden kernels directly (``golden.matmul.matmul``, ``golden.softmax.i_softmax``,
``golden.layernorm.i_layernorm``, truncated to ``input_width`` as the scratchpad holds them), not from the ISA
model: tests/systolica/test_selftest.py runs ``golden.machine`` on the image and compares, so the two agree by
test, not by construction. Output regions start as the complement of their expected bytes, so a result that
is never written fails the check.

Memory map (byte addresses, each region 64-byte aligned): the program at 0 (so the controller's prefetch past
HALT reads the data behind it), then A, B, bias, the lane constants, the LayerNorm column table, then the outputs
C, P, L. :func:`layout` gives the addresses.

Run it on the simulated top (Verilator build, cached) and print the measured numbers::

    python -m systolica.selftest [--preset ulx3s-85f | --dim 4 --spad-kib 8 --acc-kib 4 ...] [--seed N]
                                 [--inject-fault]
"""
import numpy as np

from compiler.emit import Emitter
from golden import nlops
from golden.config import AcceleratorConfig
from golden.isa import INSTR_BYTES, Opcode, assemble
from golden.layernorm import LayerNormConstants, i_layernorm
from golden.matmul import matmul, wrap
from golden.numerics import int_range
from golden.program_cycles import estimate_cycles
from golden.softmax import SoftmaxConstants, i_softmax
from hw.selftest import program_at, watchdog_cycles

__all__ = ["shape", "layout", "selftest_program", "expected_cycles", "main"]

PROG_ADDR = 0
ALIGN = 64
K_BLOCKS, N_BLOCKS = 3, 2
BIAS_BITS = 16
#: LayerNorm's input width: the lanes' U1 clip (24 bits) holds every C the program can make (see _a_bits).
LN_IN_BITS = nlops.U1_BITS


def shape(config):
    """``(M, K, N)`` of the program's matmul for ``config``."""
    d = config.dim
    return d + 1, K_BLOCKS * d, N_BLOCKS * d


def _a_bits(config):
    """Activation width: ``input_width``, narrowed where needed so that every C (worst case) fits LayerNorm's
    ``LN_IN_BITS``-bit input and no U1 clip acts (K * 2**(a-1) * 128 + 2**BIAS_BITS < 2**(LN_IN_BITS-1))."""
    _, k, _ = shape(config)
    a = config.input_width
    while k * (1 << (a - 1)) * 128 + (1 << BIAS_BITS) >= 1 << (LN_IN_BITS - 1):
        a -= 1
    return a


def _elem_bytes(config):
    """Bytes per element of a scratchpad STORE: the scratchpad holds ``input_width``-bit values."""
    return 1 if config.input_width <= 8 else 2


def _check_fits(config):
    m, k, n = shape(config)
    spad = K_BLOCKS * m + N_BLOCKS * k + 2 * m * N_BLOCKS
    if spad > config.spad_rows:
        raise ValueError(f"the self-test needs {spad} scratchpad rows; spad_kib={config.spad_kib} holds "
                         f"{config.spad_rows}")
    if m * N_BLOCKS > config.acc_rows:
        raise ValueError(f"the self-test needs {m * N_BLOCKS} accumulator lines; acc_kib={config.acc_kib} holds "
                         f"{config.acc_rows}")
    if n > config.col_entries:
        raise ValueError(f"the self-test's LayerNorm rows of {n} values need col_entries >= {n}, not "
                         f"{config.col_entries}")


def layout(config, prog_bytes):
    """Byte address of each region after a program of ``prog_bytes`` bytes at ``PROG_ADDR``."""
    m, k, n = shape(config)
    d, eb = config.dim, _elem_bytes(config)
    sizes = {"a": K_BLOCKS * m * d * (1 if _a_bits(config) <= 8 else 2), "b": N_BLOCKS * k * d, "bias": n * 4,
             "lane_softmax": nlops.LANE_BLOCK_BYTES, "lane_layernorm": nlops.LANE_BLOCK_BYTES,
             "cols_layernorm": n * nlops.COL_ENTRY_BYTES, "out_c": m * n * 4, "out_p": m * n * eb,
             "out_l": m * n * eb}
    addr, out = PROG_ADDR + prog_bytes, {}
    for name, size in sizes.items():
        addr = -(-addr // ALIGN) * ALIGN
        out[name] = (addr, size)
        addr += size
    return out


def _instrs(config, at, a_eb, var_shift):
    """The program with region addresses ``at`` (tokens placed by ``compiler.emit.Emitter``)."""
    m, k, n = shape(config)
    d, eb = config.dim, _elem_bytes(config)
    a_row, b_row = 0, K_BLOCKS * m
    p_row = b_row + N_BLOCKS * k
    l_row = p_row + m * N_BLOCKS
    em = Emitter(config)
    em.emit(Opcode.LOAD, dst=0, local=a_row, lines=K_BLOCKS * m, mem_addr=at["a"][0], stride=d * a_eb,
            elem_bytes=a_eb)
    em.emit(Opcode.LOAD, dst=0, local=b_row, lines=N_BLOCKS * k, mem_addr=at["b"][0], stride=d, elem_bytes=1)
    for j in range(N_BLOCKS):          # the bias line replicated over the block's rows (stride 0)
        em.emit(Opcode.LOAD, dst=1, local=j * m, lines=m, mem_addr=at["bias"][0] + j * d * 4, stride=0,
                elem_bytes=4)
    for kb0, kbs in ((0, 1), (1, K_BLOCKS - 1)):   # K in two chunks, both column blocks each, onto the bias
        em.emit(Opcode.MATMUL, a_addr=a_row + kb0 * m, b_addr=b_row + kb0 * d, c_addr=0, rows=m, k=kbs * d,
                cols=d, accumulate=1, blocks=N_BLOCKS, b_stride=k, c_stride=m)
    for j in range(N_BLOCKS):          # C row-major: block j's lines at column j*d
        em.emit(Opcode.STORE, src=1, local=j * m, lines=m, mem_addr=at["out_c"][0] + j * d * 4, stride=n * 4,
                elem_bytes=4)
    rows = dict(acc_base=0, rows=m, lines=N_BLOCKS, row_stride=1, line_stride=m, dst_row_stride=N_BLOCKS,
                dst_line_stride=1)
    em.emit(Opcode.CONFIG, kind=0, mem_addr=at["lane_softmax"][0])
    em.emit(Opcode.NL, op=int(nlops.LaneOp.SOFTMAX), dst_base=p_row, **rows)
    em.emit(Opcode.STORE, src=0, local=p_row, lines=m * N_BLOCKS, mem_addr=at["out_p"][0], stride=d * eb,
            elem_bytes=eb)
    em.emit(Opcode.CONFIG, kind=0, mem_addr=at["lane_layernorm"][0])
    em.emit(Opcode.CONFIG, kind=1, offset=0, count=n, mem_addr=at["cols_layernorm"][0])
    em.emit(Opcode.NL, op=int(nlops.LaneOp.LAYERNORM), var_shift=var_shift, dst_base=l_row, **rows)
    em.emit(Opcode.STORE, src=0, local=l_row, lines=m * N_BLOCKS, mem_addr=at["out_l"][0], stride=d * eb,
            elem_bytes=eb)
    return em.instrs()


def _put(image, at, name, blob):
    addr, size = at[name]
    assert len(blob) == size, (name, len(blob), size)
    image[addr] = bytes(blob)


def selftest_program(config, seed=0):
    """The self-test for ``config``: ``(image, prog_addr, checks, max_cycles)`` for ``hw.selftest.SelfTest``.

    ``image`` {byte address: bytes}; ``checks`` [(byte address, expected bytes)] for C, P and L (golden's
    results); ``max_cycles`` the watchdog bound (``hw.selftest.watchdog_cycles``). ``ValueError`` when
    ``config`` cannot hold the program (it names the field).
    """
    if not isinstance(config, AcceleratorConfig):
        raise ValueError(f"config must be an AcceleratorConfig, not {config!r}")
    if config.dataflow != "ws":
        raise ValueError(f"the self-test runs on the weight-stationary accelerator, not dataflow={config.dataflow!r}")
    _check_fits(config)
    rng = np.random.default_rng(seed)
    m, k, n = shape(config)
    d, iw, eb = config.dim, config.input_width, _elem_bytes(config)
    a_bits = _a_bits(config)
    a_eb = 1 if a_bits <= 8 else 2
    a = rng.integers(*int_range(a_bits), (m, k), endpoint=True)
    b = rng.integers(-128, 128, (k, n))
    bias = rng.integers(*int_range(BIAS_BITS), n, endpoint=True)

    # golden's results
    c = matmul(a, b, np.broadcast_to(bias, (m, n)), acc_bits=config.acc_width, a_bits=iw, b_bits=8)
    spread = max(int(np.ptp(c, axis=1).max()), 1)
    sm = SoftmaxConstants.from_scale(8.0 / spread, in_bits=config.acc_width)     # the widest row spans 8 nats
    p = wrap(i_softmax(c, sm), iw)
    ln = LayerNormConstants.from_params(rng.uniform(0.5, 1.5, n), rng.uniform(-0.5, 0.5, n),
                                        4.0 / (1 << (iw - 1)), in_bits=LN_IN_BITS, out_bits=iw)
    lnorm = wrap(i_layernorm(c, ln), iw)

    # the program, its data behind it: the instruction count does not depend on the addresses
    prog_bytes = len(_instrs(config, layout(config, 0), a_eb, ln.var_shift)) * INSTR_BYTES
    at = layout(config, prog_bytes)
    program = _instrs(config, at, a_eb, ln.var_shift)
    image = {PROG_ADDR: assemble(program, config)}
    a_lines = np.concatenate([a[:, i * d:(i + 1) * d] for i in range(K_BLOCKS)])      # K-block-major
    b_lines = np.concatenate([b[:, j * d:(j + 1) * d] for j in range(N_BLOCKS)])      # per column block
    _put(image, at, "a", a_lines.astype(f"<i{a_eb}").tobytes())
    _put(image, at, "b", b_lines.astype("<i1").tobytes())
    _put(image, at, "bias", bias.astype("<i4").tobytes())
    _put(image, at, "lane_softmax", nlops.pack_lane_consts(nlops.softmax_consts(sm)))
    lane, cols = nlops.layernorm_consts(ln)
    _put(image, at, "lane_layernorm", nlops.pack_lane_consts(lane))
    _put(image, at, "cols_layernorm", nlops.pack_col_entries(cols))
    checks = [(at["out_c"][0], c.astype("<i4").tobytes()), (at["out_p"][0], p.astype(f"<i{eb}").tobytes()),
              (at["out_l"][0], lnorm.astype(f"<i{eb}").tobytes())]
    for addr, want in checks:          # outputs start as the complement of what must be written there
        image[addr] = bytes(x ^ 0xFF for x in want)
    return image, PROG_ADDR, checks, watchdog_cycles(config, program, checks)


def expected_cycles(config, image, prog_addr):
    """The cycle model's estimate (``golden.program_cycles``) of the program at ``prog_addr`` in ``image``: what
    the CYCLES CSR should read after the run."""
    return estimate_cycles(program_at(image, prog_addr), config).cycles


def main(argv=None):
    """Build (cached) and run the self-test top for a configuration; print the verdict and the cycle counts."""
    import argparse
    import json

    from sim import runner
    from sim.selftest import run_selftest, selftest_design

    from .options import add_config_arguments, config_from_args

    ap = argparse.ArgumentParser(prog="python -m systolica.selftest", description=main.__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inject-fault", action="store_true", help="hold the top's inject_fault input high")
    add_config_arguments(ap)
    args = ap.parse_args(argv)
    cfg = config_from_args(args)
    image, prog_addr, checks, max_cycles = selftest_program(cfg, args.seed)
    bdir = runner.build(selftest_design(cfg, image, prog_addr, checks, max_cycles))
    times = dict(line.split() for line in (bdir / "times.txt").read_text().splitlines())
    r = run_selftest(cfg, image, prog_addr, checks, max_cycles, inject_fault=args.inject_fault)
    print(json.dumps({"config": cfg.to_dict(), "image_bytes": max(a + len(b) for a, b in image.items()),
                      "checked_bytes": sum(len(w) for _, w in checks), "verilog_s": float(times["generate"]),
                      "verilator_s": float(times["verilator"]), "model_cycles": expected_cycles(cfg, image, prog_addr),
                      "max_cycles": max_cycles, **vars(r)}, indent=1))
    return 0 if r.passed != args.inject_fault else 1


if __name__ == "__main__":
    raise SystemExit(main())
