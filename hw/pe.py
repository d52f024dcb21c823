"""One weight-stationary processing element with double-buffered weights.

Each PE keeps two int8 weights. The activation carries a buffer-select bit that travels with it, so a
weight buffer can be reloaded while the other one is still being used by activations in flight: this is
what lets the next tile's weight preload overlap the current tile's compute.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """``ps_out <= ps_in + a_in * w[sel_in]`` every cycle; ``a_out``/``sel_out`` forward the activation.

    Latency ``1 + pipeline`` cycles from ``a_in``/``ps_in`` to ``ps_out`` (``a_out``/``sel_out``: 1 cycle);
    throughput one MAC per cycle. With ``pipeline`` >= 1 the product is registered before the adder, with 2
    the operands too: the product of the activation seen at cycle t meets the partial sum seen at cycle
    t + pipeline, which is exactly where the PE above's (equally delayed) result arrives, so a column is a
    uniformly ``pipeline`` cycles later and otherwise unchanged.

    Parameters
    ----------
    input_width : int
        Activation width (signed), 8..16.
    weight_width : int
        Weight width (signed).
    acc_width : int
        Partial-sum width; sums wrap in two's complement at this width.
    pipeline : int
        Register stages between the operands and the adder, 0..2.

    Members
    -------
    a_in, sel_in : In
        Activation and the weight buffer it must be multiplied with.
    a_out, sel_out : Out
        The same, one cycle later, for the PE to the right.
    ps_in : In
        Partial sum from the PE above; ``ps_out`` goes to the PE below.
    w_in, w_we, w_buf : In
        Weight write: when ``w_we``, ``w[w_buf] <= w_in`` (takes effect next cycle).
    """

    def __init__(self, *, input_width=8, weight_width=8, acc_width=32, pipeline=0):
        for name, v in (("input_width", input_width), ("weight_width", weight_width),
                        ("acc_width", acc_width)):
            if not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an int >= 2, not {v!r}")
        if pipeline not in (0, 1, 2):
            raise ValueError(f"pipeline must be 0, 1 or 2, not {pipeline!r}")
        if acc_width < input_width + weight_width:
            raise ValueError(f"acc_width={acc_width} cannot hold an int{input_width} x int{weight_width} product")
        self._iw, self._ww, self._aw, self._pipe = input_width, weight_width, acc_width, pipeline
        super().__init__({
            "a_in": In(signed(input_width)), "sel_in": In(1),
            "a_out": Out(signed(input_width)), "sel_out": Out(1),
            "ps_in": In(signed(acc_width)), "ps_out": Out(signed(acc_width)),
            "w_in": In(signed(weight_width)), "w_we": In(1), "w_buf": In(1),
        })

    @property
    def input_width(self):
        return self._iw

    @property
    def weight_width(self):
        return self._ww

    @property
    def acc_width(self):
        return self._aw

    @property
    def pipeline(self):
        return self._pipe

    def elaborate(self, platform):
        m = Module()
        w0 = Signal(signed(self._ww))
        w1 = Signal(signed(self._ww))
        with m.If(self.w_we):
            with m.If(self.w_buf):
                m.d.sync += w1.eq(self.w_in)
            with m.Else():
                m.d.sync += w0.eq(self.w_in)
        a, w = self.a_in, Mux(self.sel_in, w1, w0)
        if self._pipe >= 2:
            # The selected weight is captured with its activation: a buffer rewritten from the next cycle on
            # (w_we) cannot reach this product.
            a_r, w_r = Signal.like(a, name="a_r"), Signal(signed(self._ww), name="w_r")
            m.d.sync += [a_r.eq(a), w_r.eq(w)]
            a, w = a_r, w_r
        prod = a * w
        if self._pipe >= 1:
            prod_r = Signal(signed(self._iw + self._ww), name="prod_r")
            m.d.sync += prod_r.eq(prod)
            prod = prod_r
        # .eq() truncates to acc_width: that is the documented two's-complement wrap (golden.matmul).
        m.d.sync += [
            self.ps_out.eq(self.ps_in + prod),
            self.a_out.eq(self.a_in),
            self.sel_out.eq(self.sel_in),
        ]
        return m
