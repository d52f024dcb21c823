"""The ``dim x dim`` output-stationary mesh: each PE keeps one element of C, results leave through an up-chain.

A^T rows (``A[i0:i0+dim, k]``) enter from the left (row i skewed by i), B rows (``B[k, :]``) from the top
(column j skewed by j), so PE(i, j) sees ``A[i, k]`` and ``B[k, j]`` together. The element flagged ``last``
(k = K - 1) makes every PE move its finished sum into the up-chain register and restart at zero, so the next
tile streams in without a bubble. Sums move up one row per cycle; a PE injects its sum ``i + j`` cycles after
the wavefront enters, and sums from below pass a PE ``2m`` cycles after it injected (m rows lower), so within a
tile nothing collides; between tiles whose ``last`` elements are ``P`` cycles apart nothing collides when
``P`` is odd or ``P >= 2*dim - 1`` (the execute unit enforces that; see ``hw/execute_os.py``).
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["OSProcessingElement", "OSMesh"]


class OSProcessingElement(wiring.Component):
    """``acc += a * b`` while ``valid``; on ``last``, ``up <= acc + a * b`` and ``acc <= 0``; otherwise
    ``up <= up_in`` (the PE below's ``up``). Latency 1 (all outputs registered), one MAC per cycle.

    Parameters
    ----------
    input_width, weight_width, acc_width : int
    """

    def __init__(self, *, input_width=8, weight_width=8, acc_width=32):
        if acc_width < input_width + weight_width:
            raise ValueError(f"acc_width={acc_width} cannot hold an int{input_width} x int{weight_width} product")
        self._aw = acc_width
        super().__init__({
            "a_in": In(signed(input_width)), "v_in": In(1), "l_in": In(1),
            "a_out": Out(signed(input_width)), "v_out": Out(1), "l_out": Out(1),
            "b_in": In(signed(weight_width)), "b_out": Out(signed(weight_width)),
            "up_in": In(signed(acc_width)), "up": Out(signed(acc_width)),
        })

    @property
    def acc_width(self):
        return self._aw

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self._aw))
        total = Signal(signed(self._aw))
        # Truncation to acc_width is the documented two's-complement wrap (golden.matmul).
        m.d.comb += total.eq(acc + self.a_in * self.b_in)
        m.d.sync += [self.a_out.eq(self.a_in), self.v_out.eq(self.v_in), self.l_out.eq(self.l_in),
                     self.b_out.eq(self.b_in)]
        with m.If(self.v_in):
            m.d.sync += acc.eq(Mux(self.l_in, 0, total))
        m.d.sync += self.up.eq(Mux(self.v_in & self.l_in, total, self.up_in))
        return m


def _delay(m, sig, n, name):
    for i in range(n):
        nxt = Signal.like(sig, name=f"{name}_d{i}")
        m.d.sync += nxt.eq(sig)
        sig = nxt
    return sig


class OSMesh(wiring.Component):
    """Output-stationary ``dim x dim`` array.

    Latency: if the ``last`` element of a tile is presented at cycle t, row i of the tile's result appears on
    ``out`` (all columns aligned) at cycle ``t + dim + 2*i``. Throughput: one k step (``dim**2`` MACs) per
    cycle. No stalls; validity of ``out`` is tracked by the caller.

    Parameters
    ----------
    dim, input_width, weight_width, acc_width : int
    """

    def __init__(self, *, dim=16, input_width=8, weight_width=8, acc_width=32):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, not {dim!r}")
        self._dim = dim
        self._pe_args = dict(input_width=input_width, weight_width=weight_width, acc_width=acc_width)
        super().__init__({
            "a": In(data.ArrayLayout(signed(input_width), dim)),
            "b": In(data.ArrayLayout(signed(weight_width), dim)),
            "valid": In(1),
            "last": In(1),
            "out": Out(data.ArrayLayout(signed(acc_width), dim)),
        })

    @property
    def dim(self):
        return self._dim

    def row_latency(self, i):
        """Cycles from the ``last`` element to row ``i`` on ``out``."""
        return self._dim + 2 * i

    def elaborate(self, platform):
        m = Module()
        n = self._dim
        pes = [[OSProcessingElement(**self._pe_args) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for j in range(n):
                m.submodules[f"pe_{i}_{j}"] = pes[i][j]
        for i in range(n):
            m.d.comb += [pes[i][0].a_in.eq(_delay(m, self.a[i], i, f"a_skew{i}")),
                         pes[i][0].v_in.eq(_delay(m, self.valid, i, f"v_skew{i}")),
                         pes[i][0].l_in.eq(_delay(m, self.last, i, f"l_skew{i}"))]
            for j in range(1, n):
                m.d.comb += [pes[i][j].a_in.eq(pes[i][j - 1].a_out), pes[i][j].v_in.eq(pes[i][j - 1].v_out),
                             pes[i][j].l_in.eq(pes[i][j - 1].l_out)]
        for j in range(n):
            m.d.comb += pes[0][j].b_in.eq(_delay(m, self.b[j], j, f"b_skew{j}"))
            for i in range(1, n):
                m.d.comb += pes[i][j].b_in.eq(pes[i - 1][j].b_out)
            m.d.comb += pes[n - 1][j].up_in.eq(0)
            for i in range(n - 1):
                m.d.comb += pes[i][j].up_in.eq(pes[i + 1][j].up)
            # Column j's sums reach the top j cycles after column 0's: delay the early ones to align rows.
            m.d.comb += self.out[j].eq(_delay(m, pes[0][j].up, n - 1 - j, f"out_deskew{j}"))
        return m
