"""Performance counters: total cycles, cycles with an operation in flight, cycles the array does useful MACs.

Utilization = ``mac_cycles / busy_cycles``: each MAC cycle is one A row entering the array, i.e. ``dim**2``
multiply-accumulates. Counters wrap at their width (48 bits: 2.8e14 cycles, days at any clock).
"""
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PerfCounters"]


class PerfCounters(wiring.Component):
    """Cycle, busy and MAC counters.

    ``busy_cycles`` counts cycles after an operation's command handshake up to and including the cycle its
    ``done`` pulses, so for one isolated operation it equals the cycle model's latency. All counts are
    registered (visible one cycle after the event). ``clear`` zeroes them.

    Parameters
    ----------
    width : int
        Counter width in bits.
    max_inflight : int
        Upper bound on operations in flight (sizes the in-flight counter).
    """

    def __init__(self, *, width=48, max_inflight=8):
        if not isinstance(width, int) or not 8 <= width <= 64:
            raise ValueError(f"width must be an int in 8..64, not {width!r}")
        if not isinstance(max_inflight, int) or max_inflight < 1:
            raise ValueError(f"max_inflight must be a positive int, not {max_inflight!r}")
        self._width, self._max_inflight = width, max_inflight
        super().__init__({
            "accept": In(1), "done": In(1), "mac": In(1), "clear": In(1),
            "cycles": Out(width), "busy_cycles": Out(width), "mac_cycles": Out(width),
            "inflight": Out(range(max_inflight + 1)),
        })

    @property
    def width(self):
        return self._width

    @property
    def max_inflight(self):
        return self._max_inflight

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.inflight.eq(self.inflight + self.accept - self.done)
        with m.If(self.clear):
            m.d.sync += [self.cycles.eq(0), self.busy_cycles.eq(0), self.mac_cycles.eq(0)]
        with m.Else():
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(self.inflight != 0):
                m.d.sync += self.busy_cycles.eq(self.busy_cycles + 1)
            with m.If(self.mac):
                m.d.sync += self.mac_cycles.eq(self.mac_cycles + 1)
        return m
