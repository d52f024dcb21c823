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
from golden.softmax import i_softmax
from hw import nlops
from hw.nlops import LaneOp

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

    def command(self):
        row_major = self.layout == "row"
        return dict(op=int(self.op), base=0, rows=self.rows, lines=self.lines,
                    row_stride=self.lines if row_major else 1, line_stride=1 if row_major else self.rows,
                    var_shift=self.var_shift)

    def model_cycles(self):
        return cycles.nonlinear_cycles(self.op, self.rows, self.lines, self.cfg, self.engines)


def softmax_job(cfg, scores, k, **kw):
    return NlJob(cfg, LaneOp.SOFTMAX, scores, nlops.softmax_consts(k), None, i_softmax(scores, k), **kw)


def layernorm_job(cfg, x, k, **kw):
    lane, cols = nlops.layernorm_consts(k)
    return NlJob(cfg, LaneOp.LAYERNORM, x, lane, cols, i_layernorm(x, k), var_shift=k.var_shift, **kw)


def gelu_job(cfg, acc, gelu_in, gin_bits, k, **kw):
    lane, cols = nlops.gelu_consts(gelu_in, gin_bits, k, acc.shape[1])
    return NlJob(cfg, LaneOp.GELU, acc, lane, cols, i_gelu(requantize(acc, gelu_in, gin_bits), k), **kw)


def requant_job(cfg, acc, d, bits, *, relu=False, **kw):
    lane, cols = nlops.requant_consts(d, acc.shape[1], bits, relu=relu)
    want = requantize(acc, d, bits)
    return NlJob(cfg, LaneOp.REQUANT, acc, lane, cols, np.maximum(want, 0) if relu else want, **kw)
