"""cocotb tests of the nonlinear unit; run through sim.runner (tests/hw/test_nonlinear.py picks config and case).

Environment: ``SYSTOLICA_CONFIG`` (config JSON), ``SYSTOLICA_SEED``, ``SYSTOLICA_VECTORS`` (pickle of real
MiniLM tensors and constants, from ``sim.minilm_vectors``), ``SYSTOLICA_RESULT`` (optional JSON file: cycles).
"""
import json
import os
import pickle

import cocotb
import numpy as np

from golden.gelu import GeluConstants
from golden.layernorm import MAX_N, LayerNormConstants
from golden.numerics import Dyadic
from golden.softmax import SoftmaxConstants
from golden.config import AcceleratorConfig

from .nl_job import gelu_job, layernorm_job, requant_job, softmax_job
from .tb_nonlinear import NonlinearTB

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _fit_rows(cfg, length, want):
    """Rows of ``length`` that fit the accumulator (at most ``want``)."""
    return max(1, min(want, cfg.acc_rows // (length // cfg.dim)))


def _ln_consts(rng, length, out_bits=12):
    g, b = rng.normal(1, 0.3, length), rng.normal(0, 0.5, length)
    return LayerNormConstants.from_params(g, b, 0.01, 22, out_bits)


def _gelu(rng, cfg, acc):
    k = GeluConstants.from_scales(10 / 32767, 10 / 2047, 16, 12)
    return gelu_job(cfg, acc, Dyadic.from_ratio(rng.uniform(1e-4, 3e-3, acc.shape[1])), 16, k)


@case
def softmax_random(cfg, rng, vec):
    s = 3e-3
    length = 4 * cfg.dim
    x = rng.integers(-int(8 / s), int(8 / s), (_fit_rows(cfg, length, 6), length))
    return [softmax_job(cfg, x, SoftmaxConstants.from_scale(s)),
            softmax_job(cfg, x, SoftmaxConstants.from_scale(s), layout="col")]


@case
def softmax_edges(cfg, rng, vec):
    """All-equal rows, one-hot rows (256 saturates to 255), int32 extremes, L = dim, coarse and fine scales."""
    d = cfg.dim
    x = np.full((6, 2 * d), 77)
    x[1] = -2**31
    x[2] = -2**31
    x[2, 3] = 2**31 - 1
    x[3] = rng.integers(-2**31, 2**31, 2 * d)
    x[4, ::2] = 2**31 - 1
    x[5] = -128
    return [softmax_job(cfg, x, SoftmaxConstants.from_scale(s)) for s in (1e-3, 1e-7, 2.0)] + \
        [softmax_job(cfg, rng.integers(-5000, 5000, (8, d)), SoftmaxConstants.from_scale(1e-3))]


@case
def softmax_longest(cfg, rng, vec):
    length = MAX_N
    x = rng.integers(-30000, 30000, (_fit_rows(cfg, length, 2), length))
    return [softmax_job(cfg, x, SoftmaxConstants.from_scale(1e-3))]


@case
def layernorm_random(cfg, rng, vec):
    length = 6 * cfg.dim
    x = rng.integers(-2**21, 2**21, (_fit_rows(cfg, length, 6), length))
    x[:, 1] = 2**21 - 1     # an outlier channel, as in BERT's residual stream
    k = _ln_consts(rng, length)
    return [layernorm_job(cfg, x, k), layernorm_job(cfg, x, k, layout="col")]


@case
def layernorm_edges(cfg, rng, vec):
    """Zero variance (several levels, incl. the 22-bit extremes), one extreme element, L = dim, 16-bit output."""
    d = cfg.dim
    x = np.zeros((6, 2 * d), dtype=np.int64)
    x[1] = -2**21
    x[2] = 2**21 - 1
    x[3] = -2**21
    x[3, 0] = 2**21 - 1
    x[4] = rng.integers(-3, 4, 2 * d)
    x[5] = 12345
    return [layernorm_job(cfg, x, _ln_consts(rng, 2 * d)), layernorm_job(cfg, x, _ln_consts(rng, 2 * d, 16)),
            layernorm_job(cfg, rng.integers(-2**21, 2**21, (5, d)), _ln_consts(rng, d))]


@case
def layernorm_longest(cfg, rng, vec):
    length = MAX_N
    x = rng.integers(-2**21, 2**21, (_fit_rows(cfg, length, 2), length))
    return [layernorm_job(cfg, x, _ln_consts(rng, length))]


@case
def gelu_requant(cfg, rng, vec):
    """GELU and requantization at full throughput: random, saturating and int32-extreme accumulators."""
    length = 8 * cfg.dim
    rows = _fit_rows(cfg, length, 8)
    acc = rng.integers(-2**24, 2**24, (rows, length))
    acc[0] = 2**31 - 1
    acc[1] = -2**31
    acc[2, ::2] = -128
    d = Dyadic.from_ratio(rng.uniform(1e-6, 1e-4, length))
    return [_gelu(rng, cfg, acc), requant_job(cfg, acc, d, 8), requant_job(cfg, acc, d, 12, relu=True),
            requant_job(cfg, acc, Dyadic(1, 0), cfg.acc_width)]


@case
def minilm(cfg, rng, vec):
    """Rows of the real all-MiniLM-L6-v2 layer 0 (sim.minilm_vectors): scores, residual sums, FFN1 accumulators."""
    v = vec
    d = v["dump"]
    c = d["constants"]
    heads = d["scores"]
    ffn1 = d["ffn1"][:_fit_rows(cfg, d["ffn1"].shape[1], 8)]
    q = d["acc_q"][:_fit_rows(cfg, d["acc_q"].shape[1], 8)]
    jobs = [softmax_job(cfg, heads[h], c["softmax"]) for h in (0, 5)]
    jobs.append(layernorm_job(cfg, d["residual1"][:_fit_rows(cfg, d["residual1"].shape[1], 32)], c["ln1"]))
    jobs.append(gelu_job(cfg, ffn1, c["gelu_in"], v["gelu_in_bits"], c["gelu"]))
    jobs.append(requant_job(cfg, q, c["q"], v["qkv_bits"]))
    # the encoder's own outputs, not only the kernels': the unit reproduces the dump bit for bit
    for job, want in zip(jobs, (d["probs"][0], d["probs"][5], d["ln1"], d["gelu"], d["q"])):
        assert np.array_equal(job.expected, want[:job.rows]), job.op.name
    return jobs


@case
def residual_and_spad(cfg, rng, vec):
    """LayerNorm of a residual sum (scratchpad operand added in U1), and outputs written to the scratchpad:
    straight rows and transposed blocks (a partial last block)."""
    from golden.ops import ResidualConstants
    length = 4 * cfg.dim
    rows = _fit_rows(cfg, length, 6)
    ib = cfg.input_width
    x = rng.integers(-2**26, 2**26, (rows, length))
    y = rng.integers(-2**(ib - 1), 2**(ib - 1), (rows, length))
    rk = ResidualConstants.from_scales(rng.uniform(1e-5, 1e-4, length) * 0.02, 0.03, 25.0 / 2**21, 22)
    k = _ln_consts(rng, length, out_bits=ib)
    s = 3e-3
    q = rng.integers(-int(8 / s), int(8 / s), (cfg.dim + 3, cfg.dim))
    d = Dyadic.from_ratio(rng.uniform(1e-6, 1e-4, length))
    acc = rng.integers(-2**24, 2**24, (rows, length))
    return [layernorm_job(cfg, x, k, residual=(y, rk), res_base=5),
            # the output region starts after the residual's (an overlap would overwrite operands still to be read)
            layernorm_job(cfg, x, k, residual=(y, rk), res_base=3, layout="col", dst="spad",
                          dst_base=3 + rows * 4 + 2),
            requant_job(cfg, acc, d, 8, dst="spad", dst_base=1),
            requant_job(cfg, q, Dyadic.from_ratio(np.full(cfg.dim, 1e-3)), 8, dst="spad_t", dst_base=2),
            softmax_job(cfg, q, SoftmaxConstants.from_scale(s), dst="spad", dst_base=11)]


@case
def minilm_shapes(cfg, rng, vec):
    """Long streams in MiniLM's shapes (bench): GELU over a full accumulator, softmax rows of 128, LN rows of 384."""
    rows = cfg.acc_rows // (128 // cfg.dim)
    s = 2e-3
    return [_gelu(rng, cfg, rng.integers(-2**22, 2**22, (cfg.acc_rows // 16, 16 * cfg.dim))),
            softmax_job(cfg, rng.integers(-int(8 / s), int(8 / s), (rows, 128)), SoftmaxConstants.from_scale(s)),
            layernorm_job(cfg, rng.integers(-2**21, 2**21, (_fit_rows(cfg, 384, 128), 384)), _ln_consts(rng, 384))]


def _make_test(name):
    async def run(dut):
        cfg = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
        seed = int(os.environ.get("SYSTOLICA_SEED", "1"))
        vec = None
        if name == "minilm":
            with open(os.environ["SYSTOLICA_VECTORS"], "rb") as f:
                vec = pickle.load(f)
        from sim.tops import NonlinearTop
        tb = NonlinearTB(dut, cfg, NonlinearTop(cfg).n, seed=seed)
        await tb.reset()
        measured = []
        for job in CASES[name](cfg, np.random.default_rng(seed), vec):
            cycles = await tb.check(job)
            measured.append({"op": job.op.name, "rows": job.rows, "length": job.x.shape[1], "cycles": cycles,
                             "model": job.model_cycles()})
        if os.environ.get("SYSTOLICA_RESULT"):
            with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
                json.dump(measured, f)
    run.__name__ = run.__qualname__ = f"test_{name}"
    run.__doc__ = CASES[name].__doc__
    return cocotb.test()(run)


for _name in CASES:
    globals()[f"test_{_name}"] = _make_test(_name)
