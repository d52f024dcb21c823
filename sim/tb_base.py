"""What every unit testbench shares: the clock (GPI implementation), a cycle count and the reset sequence."""
import random

from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

__all__ = ["ClockedTB"]


class ClockedTB:
    """Starts a 100 MHz clock on ``dut.clk``; ``reset`` holds ``rst`` for ``reset_cycles`` cycles with the
    input handshakes named in ``IDLE_INPUTS`` low, then releases it for one cycle."""
    IDLE_INPUTS = ()
    reset_cycles = 3

    def __init__(self, dut, *, seed=0):
        self.dut = dut
        self.rng = random.Random(seed)
        self.cycle = 0
        Clock(dut.clk, 10, unit="ns", impl="gpi").start(start_high=False)

    async def tick(self):
        """Advance to the next cycle; inputs written after this take effect in it."""
        await RisingEdge(self.dut.clk)
        self.cycle += 1

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        for name in self.IDLE_INPUTS:
            getattr(d, name).value = 0
        for _ in range(self.reset_cycles):
            await self.tick()
        d.rst.value = 0
        await self.tick()
