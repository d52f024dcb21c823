"""Nonlinear-unit jobs: rows in the accumulator, one command, its constants, and what golden/ says comes out.

A job is built from golden/ constants by :func:`softmax_job`, :func:`layernorm_job`, :func:`gelu_job` and
:func:`requant_job`; the expected output is the golden kernel's, the expected cycles ``golden.cycles``'s.

:data:`CASES` is the one list of nonlinear-unit test cases: ``sim.cocotb_nonlinear`` makes a cocotb test of each
and ``tests/hw/test_nonlinear.py`` a pytest case of each, importing this module without a simulator.
"""
import dataclasses

import numpy as np

from golden import cycles, nlops
from golden.gelu import GeluConstants, i_gelu
from golden.layernorm import MAX_N, LayerNormConstants, i_layernorm
from golden.nlops import LaneOp
from golden.numerics import Dyadic, requantize
from golden.ops import ResidualConstants, residual_add
from golden.softmax import SoftmaxConstants, i_softmax

from . import minilm_vectors

__all__ = ["NlJob", "softmax_job", "layernorm_job", "gelu_job", "requant_job", "CASES"]


@dataclasses.dataclass
class NlJob:
    """``x`` (rows x L) placed in the accumulator, row-major (line ``(r, j)`` at ``r*W + j``) or column-block-major
    (``j*rows + r``, how the array writes a matmul's column blocks)."""
    cfg: object
    op: LaneOp
    x: np.ndarray
    consts: nlops.LaneConsts
    cols: object            # nlops.ColConsts or None
    expected: np.ndarray
    var_shift: int = 0
    layout: str = "row"
    res: np.ndarray = None      # residual operand (rows x L, input_width), placed in the scratchpad like x
    res_base: int = 0
    dst: str = None             # None: output stream; "spad": straight rows; "spad_t": transposed
    dst_base: int = 0
    band: dict = None           # a softmax band: window, q_base, k_base, cls_line (golden.nlops.band_mask)
    error: bool = False         # the unit must refuse the command: its error flag up the cycle after it is taken
                                # (``expected`` is then not compared)

    def __post_init__(self):
        rows, length = self.x.shape
        if length % self.cfg.dim:
            raise ValueError(f"row length {length} is not a multiple of dim={self.cfg.dim}")
        if rows * self.lines > self.cfg.acc_rows:
            raise ValueError(f"{rows} rows of {self.lines} lines exceed the accumulator's {self.cfg.acc_rows}")
        if self.layout not in ("row", "col"):
            raise ValueError(f"layout must be 'row' or 'col', not {self.layout!r}")

    @property
    def rows(self):
        return self.x.shape[0]

    @property
    def lines(self):
        return self.x.shape[1] // self.cfg.dim

    def line_addr(self, r, j):
        return r * self.lines + j if self.layout == "row" else j * self.rows + r

    def acc_lines(self):
        """``{addr: dim values}`` to load."""
        d = self.cfg.dim
        return {self.line_addr(r, j): self.x[r, j * d:(j + 1) * d]
                for r in range(self.rows) for j in range(self.lines)}

    def _strides(self):
        return (self.lines, 1) if self.layout == "row" else (1, self.rows)

    def spad_lines(self):
        """``{row: dim values}`` of the residual operand to load into the scratchpad."""
        if self.res is None:
            return {}
        d = self.cfg.dim
        return {self.res_base + self.line_addr(r, j): self.res[r, j * d:(j + 1) * d]
                for r in range(self.rows) for j in range(self.lines)}

    def dst_strides(self):
        """(row stride, line stride) of the scratchpad output: row-major lines, or for a transposed output
        column ``c`` of block ``r // dim`` at ``c + (r // dim) * L`` (a B operand's column blocks)."""
        return (self.lines, 1) if self.dst == "spad" else (self.x.shape[1], 1)

    def expected_spad(self):
        """``{row: dim values}`` the scratchpad must hold after a ``to_spad`` op (elements truncated to
        input_width bits, zeros beyond the last row of a transposed block)."""
        d, iw = self.cfg.dim, self.cfg.input_width
        v = ((self.expected + (1 << (iw - 1))) % (1 << iw)) - (1 << (iw - 1))
        rs, ls = self.dst_strides()
        out = {}
        if self.dst == "spad":
            for r in range(self.rows):
                for j in range(self.lines):
                    out[self.dst_base + r * rs + j * ls] = v[r, j * d:(j + 1) * d]
        else:
            for blk in range(-(-self.rows // d)):
                part = v[blk * d:(blk + 1) * d]
                part = np.vstack([part, np.zeros((d - len(part), part.shape[1]), dtype=np.int64)])
                for c in range(part.shape[1]):
                    out[self.dst_base + blk * rs + c * ls] = part[:, c]
        return out

    def command(self):
        rs, ls = self._strides()
        drs, dls = self.dst_strides() if self.dst else (0, 0)
        return dict(op=int(self.op), base=0, rows=self.rows, lines=self.lines, row_stride=rs, line_stride=ls,
                    var_shift=self.var_shift, residual=int(self.res is not None), res_base=self.res_base,
                    res_row_stride=rs, res_line_stride=ls, to_spad=int(self.dst is not None),
                    dst_base=self.dst_base, dst_row_stride=drs, dst_line_stride=dls,
                    transpose=int(self.dst == "spad_t"), band=int(self.band is not None), **(self.band or {}))

    def model_cycles(self):
        return cycles.nonlinear_cycles(self.op, self.rows, self.lines, self.cfg, to_spad=self.dst is not None,
                                       transpose=self.dst == "spad_t")


def softmax_job(cfg, scores, k, band=None, **kw):
    """Softmax ``k`` of ``scores``; with ``band`` (window, q_base, k_base, cls_line), over the scores it keeps."""
    mask = None if band is None else nlops.band_mask(scores.shape[0], scores.shape[1] // cfg.dim, cfg.dim, **band)
    k = k.for_impl(cfg.exp_impl)   # the lanes compute the configuration's exp
    return NlJob(cfg, LaneOp.SOFTMAX, scores, nlops.softmax_consts(k), None, i_softmax(scores, k, mask=mask),
                 band=band, **kw)


def layernorm_job(cfg, x, k, residual=None, **kw):
    """LayerNorm ``k`` of ``x``, or with ``residual = (y, ResidualConstants)`` of ``residual_add(x, y)``."""
    if residual is None:
        lane, cols = nlops.layernorm_consts(k)
        return NlJob(cfg, LaneOp.LAYERNORM, x, lane, cols, i_layernorm(x, k), var_shift=k.var_shift, **kw)
    y, rk = residual
    lane, cols = nlops.layernorm_consts(k, rk)
    return NlJob(cfg, LaneOp.LAYERNORM, x, lane, cols, i_layernorm(residual_add(x, y, rk), k),
                 var_shift=k.var_shift, res=y, **kw)


def gelu_job(cfg, acc, gelu_in, gin_bits, k, **kw):
    lane, cols = nlops.gelu_consts(gelu_in, gin_bits, k, acc.shape[1])
    return NlJob(cfg, LaneOp.GELU, acc, lane, cols, i_gelu(requantize(acc, gelu_in, gin_bits), k), **kw)


def requant_job(cfg, acc, d, bits, *, relu=False, **kw):
    lane, cols = nlops.requant_consts(d, acc.shape[1], bits, relu=relu)
    want = requantize(acc, d, bits)
    return NlJob(cfg, LaneOp.REQUANT, acc, lane, cols, np.maximum(want, 0) if relu else want, **kw)


# ---- the cases: name -> ``(config, numpy Generator) -> [NlJob]`` -------------------------------------------------
CASES = {}


def _case(fn):
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


@_case
def softmax_random(cfg, rng):
    s = 3e-3
    length = 4 * cfg.dim
    x = rng.integers(-int(8 / s), int(8 / s), (_fit_rows(cfg, length, 6), length))
    return [softmax_job(cfg, x, SoftmaxConstants.from_scale(s)),
            softmax_job(cfg, x, SoftmaxConstants.from_scale(s), layout="col")]


@_case
def softmax_edges(cfg, rng):
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


@_case
def softmax_band(cfg, rng):
    """ReBERT's windowed softmax over a band of key lines (golden.nlops.band_mask): [CLS]'s block first and the
    band after it, the band from key 0, a zero-width window, and rows whose kept scores are all the int32 minimum
    beside masked maxima (a masked score must not count, whatever its value)."""
    d, s = cfg.dim, 3e-3
    k = SoftmaxConstants.from_scale(s)
    rows = _fit_rows(cfg, 4 * d, 6)
    x = rng.integers(-int(8 / s), int(8 / s), (rows, 4 * d))
    edge = x.copy()
    edge[:, :] = 2**31 - 1
    # row r is query 2d + r: its own key lies in line 2 (keys 2d..3d-1 with k_base = d after [CLS]'s line)
    for r in range(rows):
        edge[r, 2 * d + r % d] = -2**31
    edge[:, 0] = -2**31
    return [softmax_job(cfg, x, k, band=dict(window=d // 2 + 1, q_base=2 * d, k_base=d, cls_line=1)),
            softmax_job(cfg, x, k, band=dict(window=d + 3, q_base=d + 1, k_base=0, cls_line=0), layout="col"),
            softmax_job(cfg, x, k, band=dict(window=0, q_base=2 * d, k_base=d, cls_line=1)),
            softmax_job(cfg, edge, k, band=dict(window=0, q_base=2 * d, k_base=d, cls_line=1))]


@_case
def softmax_other_exp(cfg, rng):
    """Lane constants for the exp the lanes do not build (the lane block's exp_lut against the configuration's
    exp_impl): the unit raises its error flag instead of computing other exps."""
    other = "poly" if cfg.exp_impl == "lut" else "lut"
    k = SoftmaxConstants.from_scale(3e-3, impl=other)
    x = rng.integers(-2000, 2000, (4, 2 * cfg.dim))
    return [NlJob(cfg, LaneOp.SOFTMAX, x, nlops.softmax_consts(k), None, np.zeros_like(x), error=True)]


@_case
def softmax_longest(cfg, rng):
    length = MAX_N
    x = rng.integers(-30000, 30000, (_fit_rows(cfg, length, 2), length))
    return [softmax_job(cfg, x, SoftmaxConstants.from_scale(1e-3))]


@_case
def layernorm_short_shift(cfg, rng):
    """A LayerNorm whose var_shift is one short of its inputs' width (golden.layernorm.ln_shift_fits): refused."""
    length = 2 * cfg.dim
    x = rng.integers(-2**21, 2**21, (2, length))
    k = _ln_consts(rng, length)
    job = layernorm_job(cfg, x, k)
    return [dataclasses.replace(job, var_shift=k.var_shift - 1, expected=np.zeros_like(x), error=True)]


@_case
def layernorm_random(cfg, rng):
    length = 6 * cfg.dim
    x = rng.integers(-2**21, 2**21, (_fit_rows(cfg, length, 6), length))
    x[:, 1] = 2**21 - 1     # an outlier channel, as in BERT's residual stream
    k = _ln_consts(rng, length)
    return [layernorm_job(cfg, x, k), layernorm_job(cfg, x, k, layout="col")]


@_case
def layernorm_edges(cfg, rng):
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


@_case
def layernorm_longest(cfg, rng):
    length = cfg.col_entries // cfg.dim * cfg.dim      # the longest row the column table holds
    x = rng.integers(-2**21, 2**21, (_fit_rows(cfg, length, 2), length))
    return [layernorm_job(cfg, x, _ln_consts(rng, length))]


@_case
def gelu_requant(cfg, rng):
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


@_case
def minilm(cfg, rng):
    """Rows of the real all-MiniLM-L6-v2 layer 0 (sim.minilm_vectors): scores, residual sums, FFN1 accumulators."""
    v = minilm_vectors.load()
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


@_case
def residual_and_spad(cfg, rng):
    """LayerNorm of a residual sum (scratchpad operand added in U1), and outputs written to the scratchpad:
    straight rows and transposed blocks (three, the last one partial: the writer stalls the lanes while a block
    drains)."""
    length = 4 * cfg.dim
    rows = _fit_rows(cfg, length, 6)
    ib = cfg.input_width
    x = rng.integers(-2**26, 2**26, (rows, length))
    y = rng.integers(-2**(ib - 1), 2**(ib - 1), (rows, length))
    rk = ResidualConstants.from_scales(rng.uniform(1e-5, 1e-4, length) * 0.02, 0.03, 25.0 / 2**21, 22)
    k = _ln_consts(rng, length, out_bits=ib)
    s = 3e-3
    q = rng.integers(-int(8 / s), int(8 / s), (2 * cfg.dim + 3, cfg.dim))
    d = Dyadic.from_ratio(rng.uniform(1e-6, 1e-4, length))
    acc = rng.integers(-2**24, 2**24, (rows, length))
    return [layernorm_job(cfg, x, k, residual=(y, rk), res_base=5),
            # the output region starts after the residual's (an overlap would overwrite operands still to be read)
            layernorm_job(cfg, x, k, residual=(y, rk), res_base=3, layout="col", dst="spad",
                          dst_base=3 + rows * 4 + 2),
            requant_job(cfg, acc, d, 8, dst="spad", dst_base=1),
            requant_job(cfg, q, Dyadic.from_ratio(np.full(cfg.dim, 1e-3)), 8, dst="spad_t", dst_base=2),
            softmax_job(cfg, q, SoftmaxConstants.from_scale(s), dst="spad", dst_base=11)]


@_case
def minilm_shapes(cfg, rng):
    """Long streams in MiniLM's shapes (bench): GELU over a full accumulator, softmax rows of 128, LN rows of 384."""
    rows = cfg.acc_rows // (128 // cfg.dim)
    s = 2e-3
    return [_gelu(rng, cfg, rng.integers(-2**22, 2**22, (cfg.acc_rows // 16, 16 * cfg.dim))),
            softmax_job(cfg, rng.integers(-int(8 / s), int(8 / s), (rows, 128)), SoftmaxConstants.from_scale(s)),
            layernorm_job(cfg, rng.integers(-2**21, 2**21, (_fit_rows(cfg, 384, 128), 384)), _ln_consts(rng, 384))]
