"""Nonlinear-unit jobs: rows in the accumulator, one command, its constants, and what golden/ says comes out.

A job is built from golden/ constants by :func:`softmax_job`, :func:`layernorm_job`, :func:`gelu_job` and
:func:`requant_job`; the expected output is the golden kernel's, the expected cycles ``golden.cycles``'s.
"""
import dataclasses

import numpy as np

from golden import cycles
from golden.gelu import i_gelu
from golden.layernorm import i_layernorm
from golden.numerics import requantize
from golden.ops import residual_add
from golden.softmax import i_softmax
from golden import nlops
from golden.nlops import LaneOp

__all__ = ["NlJob", "softmax_job", "layernorm_job", "gelu_job", "requant_job"]


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
    engines: int = 2
    res: np.ndarray = None      # residual operand (rows x L, input_width), placed in the scratchpad like x
    res_base: int = 0
    dst: str = None             # None: output stream; "spad": straight rows; "spad_t": transposed
    dst_base: int = 0

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
                    transpose=int(self.dst == "spad_t"))

    def model_cycles(self):
        return cycles.nonlinear_cycles(self.op, self.rows, self.lines, self.cfg, self.engines)


def softmax_job(cfg, scores, k, **kw):
    return NlJob(cfg, LaneOp.SOFTMAX, scores, nlops.softmax_consts(k), None, i_softmax(scores, k), **kw)


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
