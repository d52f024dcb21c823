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

    Latency 1 cycle (all outputs registered), throughput one MAC per cycle.

    Parameters
    ----------
    input_width : int
        Activation width (signed), 8..16.
    weight_width : int
        Weight width (signed).
    acc_width : int
        Partial-sum width; sums wrap in two's complement at this width.

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

    def __init__(self, *, input_width=8, weight_width=8, acc_width=32):
        for name, v in (("input_width", input_width), ("weight_width", weight_width),
                        ("acc_width", acc_width)):
            if not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an int >= 2, not {v!r}")
        if acc_width < input_width + weight_width:
            raise ValueError(f"acc_width={acc_width} cannot hold an int{input_width} x int{weight_width} product")
        self._iw, self._ww, self._aw = input_width, weight_width, acc_width
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

    def elaborate(self, platform):
        m = Module()
        w0 = Signal(signed(self._ww))
        w1 = Signal(signed(self._ww))
        with m.If(self.w_we):
            with m.If(self.w_buf):
                m.d.sync += w1.eq(self.w_in)
            with m.Else():
                m.d.sync += w0.eq(self.w_in)
        w = Mux(self.sel_in, w1, w0)
        # .eq() truncates to acc_width: that is the documented two's-complement wrap (golden.matmul).
        m.d.sync += [
            self.ps_out.eq(self.ps_in + self.a_in * w),
            self.a_out.eq(self.a_in),
            self.sel_out.eq(self.sel_in),
        ]
        return m
