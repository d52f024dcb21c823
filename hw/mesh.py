"""The ``dim x dim`` weight-stationary mesh with its input skew and output de-skew.

Activations enter row ``k`` (element ``k`` of an A row) from the left and move right; partial sums move down
the columns. Weight row ``r`` (``B[r, :]``) is written into PE row ``r``; the write reaches column ``c`` ``c``
cycles late, exactly like the activations do, so a weight row only has to be written before the *same* row of
the first activation that uses it, never before the whole tile starts. Together with the buffer-select bit that
travels with each activation (see ``pe.py``), this gives back-to-back tiles with no preload bubble.
"""
from amaranth.hdl import Const, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe import ProcessingElement

__all__ = ["Mesh"]


def _delay(m, sig, n, name):
    """``sig`` delayed by ``n`` registers (n == 0 returns ``sig``)."""
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


class Mesh(wiring.Component):
    """Weight-stationary ``dim x dim`` array of :class:`ProcessingElement`.

    Latency: an A row presented on ``a`` at cycle t appears as ``out = a_row @ W[buf]`` at cycle
    ``t + 2*dim - 1 + pipeline`` (:attr:`latency`). Throughput: one A row (``dim**2`` MACs) per cycle. The mesh never stalls;
    the caller tracks validity alongside (it knows the fixed latency).

    A weight row presented on ``w`` with ``w_valid``/``w_row``/``w_buf`` at cycle t may be used by an
    activation row presented at cycle t + 1 or later.

    Parameters
    ----------
    dim : int
    input_width, weight_width, acc_width : int
    pipeline : int
        PE register stages (see :class:`ProcessingElement`); each adds one cycle of latency.
    """

    def __init__(self, *, dim=16, input_width=8, weight_width=8, acc_width=32, pipeline=0):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, not {dim!r}")
        self._dim = dim
        self._pe_args = dict(input_width=input_width, weight_width=weight_width, acc_width=acc_width,
                             pipeline=pipeline)
        super().__init__({
            "a": In(data.ArrayLayout(signed(input_width), dim)),
            "a_buf": In(1),
            "w": In(data.ArrayLayout(signed(weight_width), dim)),
            "w_valid": In(1),
            "w_row": In(range(dim)),
            "w_buf": In(1),
            "out": Out(data.ArrayLayout(signed(acc_width), dim)),
        })

    @property
    def dim(self):
        return self._dim

    @property
    def latency(self):
        return 2 * self._dim - 1 + self._pe_args["pipeline"]

    def elaborate(self, platform):
        m = Module()
        n = self._dim
        pes = [[ProcessingElement(**self._pe_args) for _ in range(n)] for _ in range(n)]
        for r in range(n):
            for c in range(n):
                m.submodules[f"pe_{r}_{c}"] = pes[r][c]

        # Input skew: row k sees element k of the A row k cycles late (with its buffer bit).
        for k in range(n):
            m.d.comb += [
                pes[k][0].a_in.eq(_delay(m, self.a[k], k, f"a_skew{k}")),
                pes[k][0].sel_in.eq(_delay(m, self.a_buf, k, f"asel_skew{k}")),
            ]
            for c in range(1, n):
                m.d.comb += [pes[k][c].a_in.eq(pes[k][c - 1].a_out),
                             pes[k][c].sel_in.eq(pes[k][c - 1].sel_out)]

        # Weight writes reach column c c cycles late, matching the activations' diagonal wavefront.
        for c in range(n):
            w_c = _delay(m, self.w[c], c, f"w_skew{c}")
            v_c = _delay(m, self.w_valid, c, f"wv_skew{c}")
            row_c = _delay(m, self.w_row, c, f"wr_skew{c}")
            buf_c = _delay(m, self.w_buf, c, f"wb_skew{c}")
            for r in range(n):
                m.d.comb += [pes[r][c].w_in.eq(w_c),
                             pes[r][c].w_we.eq(v_c & (row_c == r)),
                             pes[r][c].w_buf.eq(buf_c)]
            m.d.comb += pes[0][c].ps_in.eq(Const(0, signed(self._pe_args["acc_width"])))
            for r in range(1, n):
                m.d.comb += pes[r][c].ps_in.eq(pes[r - 1][c].ps_out)
            # Column c finishes c cycles after column 0: delay the early ones to align the row.
            m.d.comb += self.out[c].eq(_delay(m, pes[n - 1][c].ps_out, n - 1 - c, f"out_deskew{c}"))
        return m
