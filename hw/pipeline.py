"""Stream plumbing shared by the pipelined units."""
from amaranth.hdl import Mux, Signal

__all__ = ["skid_output"]


def skid_output(m, o, payload, valid, *, name):
    """Drive the stream ``o`` from a pipeline's last stage (``payload``, ``valid``) through a skid register and
    return the pipeline's enable, which is a register: ``o.ready`` reaches no stage.

    While the skid register is empty the pipeline advances; a beat that ``o`` does not take moves into it, and
    the pipeline stops one cycle later until ``o`` has taken it. When ``o.ready`` depends only on the consumer's
    state, beats leave in the cycles a pipeline enabled by ``~o.valid | o.ready`` would give them: the stall
    moves one cycle later and lasts as long.
    """
    skid = Signal(o.payload.shape(), name=name)
    full = Signal(name=f"{name}_full")
    m.d.comb += [o.valid.eq(full | valid), o.payload.eq(Mux(full, skid, payload))]
    with m.If(~full & valid & ~o.ready):
        m.d.sync += [skid.eq(payload), full.eq(1)]
    with m.If(full & o.ready):
        m.d.sync += full.eq(0)
    return ~full
