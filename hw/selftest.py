"""A self-test top: the accelerator runs a program from on-chip RAM, then a checker compares results with a ROM.

::

    reset -> sequencer --AXI4-Lite--> Accelerator --AXI4--> AxiRam (the image)
               PROG_ADDR, CTRL start; wait irq;                   |  check port
               STATUS, ERROR_CODE, CYCLES_LO                      v
             checker: ROM of (word, expected, byte mask) ---> compare -> done, passed | failed
    watchdog: max_cycles after reset without a verdict -> failed (timeout)

Nothing but a clock and a reset drives it: after reset it runs the program once and holds its verdict.
"""
from amaranth import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.config import AcceleratorConfig
from golden.isa import INSTR_BYTES, Opcode, disassemble
from golden.program_cycles import estimate_cycles

from . import csr
from .accelerator import Accelerator
from .axi_ram import AxiRam
from .controller import PREFETCH

__all__ = ["SelfTest", "program_at", "watchdog_cycles", "check_words"]

#: The watchdog's bound is WATCHDOG_FACTOR times the cycle model's estimate of the program plus WATCHDOG_SLACK:
#: the model is within a few percent of the RTL (golden.program_cycles), so only a hang reaches it.
WATCHDOG_FACTOR = 4
WATCHDOG_SLACK = 1024
#: Cycles per compared word (ROM read, RAM read, compare).
CHECK_CYCLES = 3
#: The largest image the RAM is built for (on-chip memory).
MAX_IMAGE_BYTES = 1 << 20


def _segments(image):
    """``image`` as sorted ``[(addr, bytes)]``; ``ValueError`` for a bad address, bad data or an overlap."""
    if not isinstance(image, dict) or not image:
        raise ValueError(f"image must be a non-empty dict {{byte address: bytes}}, not {image!r:.60}")
    segs = []
    for addr, blob in image.items():
        if not isinstance(addr, int) or isinstance(addr, bool) or addr < 0:
            raise ValueError(f"image address must be a non-negative integer, not {addr!r}")
        if not isinstance(blob, (bytes, bytearray)):
            raise ValueError(f"image data at {addr:#x} must be bytes, not {type(blob).__name__}")
        segs.append((addr, bytes(blob)))
    segs.sort()
    size = max(a + len(b) for a, b in segs)
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"a {size}-byte image exceeds the self-test's on-chip {MAX_IMAGE_BYTES}-byte RAM")
    for (a0, b0), (a1, _) in zip(segs, segs[1:]):
        if a0 + len(b0) > a1:
            raise ValueError(f"image segments at {a0:#x} ({len(b0)} bytes) and {a1:#x} overlap")
    return segs


def _flat(segs):
    out = bytearray(max(a + len(b) for a, b in segs))
    for a, b in segs:
        out[a:a + len(b)] = b
    return out


def program_at(image, prog_addr):
    """The instructions of ``image`` from ``prog_addr`` up to and including the first HALT (``ValueError``
    when the image holds no HALT there)."""
    flat = _flat(_segments(image))
    if not isinstance(prog_addr, int) or not 0 <= prog_addr < len(flat) or prog_addr % INSTR_BYTES:
        raise ValueError(f"prog_addr must be a multiple of {INSTR_BYTES} inside the image, not {prog_addr!r}")
    instrs = []
    for a in range(prog_addr, len(flat) - INSTR_BYTES + 1, INSTR_BYTES):
        try:
            instrs += disassemble(bytes(flat[a:a + INSTR_BYTES]))
        except ValueError as e:
            raise ValueError(f"the program at {prog_addr:#x} has an undecodable instruction at {a:#x}: {e}") from None
        if instrs[-1].op == Opcode.HALT:
            return instrs
    raise ValueError(f"the image holds no HALT after prog_addr={prog_addr:#x}")


def check_words(checks, size, beat):
    """``checks`` [(byte address, expected bytes)] as ``{word: (expected word, byte mask)}`` for a memory of
    ``size`` bytes and ``beat`` bytes per word; ``ValueError`` for a check outside it or contradicting checks."""
    if not isinstance(checks, (list, tuple)) or not checks:
        raise ValueError(f"checks must be a non-empty list of (byte address, bytes), not {checks!r:.60}")
    want = {}
    for item in checks:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], int)
                and isinstance(item[1], (bytes, bytearray)) and item[1]):
            raise ValueError(f"a check must be (byte address, non-empty bytes), not {item!r:.60}")
        addr, blob = item
        if addr < 0 or addr + len(blob) > size:
            raise ValueError(f"check at {addr:#x} ({len(blob)} bytes) lies outside the {size}-byte image")
        for i, b in enumerate(blob):
            if want.setdefault(addr + i, b) != b:
                raise ValueError(f"checks disagree on byte {addr + i:#x}: {want[addr + i]:#04x} vs {b:#04x}")
    words = {}
    for a, b in sorted(want.items()):
        w, o = divmod(a, beat)
        value, mask = words.get(w, (0, 0))
        words[w] = (value | b << (8 * o), mask | 1 << o)
    return words


def watchdog_cycles(config, program, checks):
    """The watchdog bound of a self-test running ``program`` (``golden.isa.Instr`` list) and ``checks``:
    ``WATCHDOG_FACTOR`` times the cycle model's estimate plus ``WATCHDOG_SLACK`` plus the checker's cycles."""
    n_words = len(check_words(checks, 1 << 32, config.bus_bytes))
    return WATCHDOG_FACTOR * estimate_cycles(program, config).cycles + WATCHDOG_SLACK + CHECK_CYCLES * n_words


class SelfTest(wiring.Component):
    """The accelerator, an :class:`hw.axi_ram.AxiRam` holding ``image``, and a sequencer and checker.

    After reset the sequencer writes PROG_ADDR = ``prog_addr`` and CTRL.start over the accelerator's AXI4-Lite
    port (hw.csr), waits for ``irq``, reads STATUS, ERROR_CODE and CYCLES_LO, and, if STATUS is done without
    error, compares every byte of ``checks`` (held in a ROM) with the RAM through its check port. ``done`` rises
    with exactly one of ``passed`` and ``failed``; all three stay low before and hold after. Failed: an
    accelerator error (``error_code``), a mismatch, or ``max_cycles`` cycles after reset without a verdict
    (``timeout``).

    Latency: the accelerator's run (the program's cycles, ``golden.program_cycles``) plus about 15 cycles of
    CSR accesses plus ``CHECK_CYCLES`` per checked bus word (:func:`check_words`).

    The RAM covers the image and ``PREFETCH`` instructions past the program's HALT (the controller fetches
    ahead); an access beyond it answers DECERR and the accelerator halts with ``ErrorCode.BUS``.

    Parameters
    ----------
    config : golden.config.AcceleratorConfig
    image : dict
        ``{byte address: bytes}``: the memory's initial contents (segments must not overlap).
    prog_addr : int
        Byte address of the program's first instruction in ``image`` (a multiple of 32).
    checks : list
        ``[(byte address, expected bytes)]`` inside the image, after the run.
    max_cycles : int or None
        The watchdog's bound in cycles after reset; None: :func:`watchdog_cycles` of the program and checks.

    Members
    -------
    done, passed, failed : ``Out(1)``
    timeout : ``Out(1)``: the watchdog ended the run (with ``failed``)
    error_code : ``Out(8)``: ERROR_CODE after the run (``golden.isa.ErrorCode``; 0: none)
    cycles : ``Out(32)``: CYCLES_LO after the run (cycles the controller was busy)
    inject_fault : ``In(1)``: while high, the checker compares against the first checked byte with its low bit
        inverted, so the run must fail (a check of the checker; a button on a board)
    """

    def __init__(self, config, image, prog_addr, checks, *, max_cycles=None):
        if not isinstance(config, AcceleratorConfig):
            raise ValueError(f"config must be an AcceleratorConfig, not {config!r}")
        if config.dataflow != "ws":
            raise ValueError(f"the accelerator top is built for the weight-stationary array, not dataflow="
                             f"{config.dataflow!r}")
        segs = _segments(image)
        program = program_at(image, prog_addr)
        beat = config.bus_bytes
        size = max(a + len(b) for a, b in segs)
        fetch_end = prog_addr + (len(program) + PREFETCH) * INSTR_BYTES
        self._depth = -(-max(size, fetch_end) // beat)
        self._words = check_words(checks, size, beat)
        if max_cycles is None:
            max_cycles = watchdog_cycles(config, program, checks)
        if not isinstance(max_cycles, int) or isinstance(max_cycles, bool) or max_cycles < 1:
            raise ValueError(f"max_cycles must be a positive integer, not {max_cycles!r}")
        self._cfg, self._prog_addr, self._max_cycles = config, prog_addr, max_cycles
        self._image = bytes(_flat(segs))
        self._program = program
        super().__init__({"done": Out(1), "passed": Out(1), "failed": Out(1), "timeout": Out(1),
                          "error_code": Out(8), "cycles": Out(32), "inject_fault": In(1)})

    config = property(lambda self: self._cfg)
    prog_addr = property(lambda self: self._prog_addr)
    max_cycles = property(lambda self: self._max_cycles)
    depth = property(lambda self: self._depth, doc="Words of the RAM.")
    program = property(lambda self: list(self._program), doc="The program's instructions, HALT included.")

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.accel = accel = Accelerator(cfg)
        m.submodules.ram = ram = AxiRam(depth=self._depth, init=self._image, data_width=cfg.bus_width,
                                        addr_width=32, id_width=4)
        wiring.connect(m, accel.m_axi, ram.axi)

        # The expected words, one ROM entry per checked bus word; the first entry's lowest checked byte is the
        # one inject_fault flips.
        entry = data.StructLayout({"word": range(self._depth), "data": cfg.bus_width, "mask": cfg.bus_bytes})
        words = sorted(self._words.items())
        m.submodules.rom = rom_mem = Memory(shape=entry, depth=len(words), init=[
            {"word": w, "data": v, "mask": mask} for w, (v, mask) in words])
        rom = rom_mem.read_port()
        first_mask = words[0][1][1]
        flip_bit = 8 * ((first_mask & -first_mask).bit_length() - 1)

        verdict = Signal()
        m.d.comb += self.done.eq(verdict)

        # ---- watchdog --------------------------------------------------------------------------------------
        watch = Signal(range(self._max_cycles + 1))
        with m.If(~verdict):
            m.d.sync += watch.eq(watch + 1)
            with m.If(watch == self._max_cycles - 1):
                m.d.sync += [verdict.eq(1), self.failed.eq(1), self.timeout.eq(1)]

        # ---- sequencer: AXI4-Lite accesses -------------------------------------------------------------------
        lite = accel.s_axil
        aw_ok, w_ok, ar_ok = Signal(), Signal(), Signal()
        status = Signal(32)
        m.d.comb += [lite.wstrb.eq(0xF), lite.bready.eq(1), lite.rready.eq(1)]

        def write(fsm_state, addr, value, nxt):
            with m.State(fsm_state):
                m.d.comb += [lite.awaddr.eq(addr), lite.wdata.eq(value), lite.awvalid.eq(~aw_ok),
                             lite.wvalid.eq(~w_ok)]
                with m.If(lite.awvalid & lite.awready):
                    m.d.sync += aw_ok.eq(1)
                with m.If(lite.wvalid & lite.wready):
                    m.d.sync += w_ok.eq(1)
                with m.If(lite.bvalid):
                    m.d.sync += [aw_ok.eq(0), w_ok.eq(0)]
                    m.next = nxt

        def read(fsm_state, addr, dest, nxt):
            with m.State(fsm_state):
                m.d.comb += [lite.araddr.eq(addr), lite.arvalid.eq(~ar_ok)]
                with m.If(lite.arvalid & lite.arready):
                    m.d.sync += ar_ok.eq(1)
                with m.If(lite.rvalid):
                    m.d.sync += [dest.eq(lite.rdata), ar_ok.eq(0)]
                    m.next = nxt

        # ---- checker: ROM entry -> RAM word -> compare the checked bytes ------------------------------------
        idx = Signal(range(len(words)))
        flip = Signal()
        m.d.sync += flip.eq(self.inject_fault)
        expected = Signal(cfg.bus_width)
        m.d.comb += [rom.addr.eq(idx), ram.check_addr.eq(rom.data.word),
                     expected.eq(rom.data.data ^ ((flip & (idx == 0)) << flip_bit))]
        diff = Signal(cfg.bus_width)
        bad_bytes = Signal(cfg.bus_bytes)
        m.d.comb += [diff.eq(ram.check_data ^ expected),
                     bad_bytes.eq(Cat(diff[8 * b:8 * b + 8].any() for b in range(cfg.bus_bytes)) & rom.data.mask)]

        def finish(ok):
            # after the watchdog: nothing changes; in the watchdog's last cycle: the sequence's verdict wins
            with m.If(~verdict):
                m.d.sync += [verdict.eq(1), self.passed.eq(ok), self.failed.eq(not ok), self.timeout.eq(0)]
            m.next = "FINISHED"

        with m.FSM():
            write("PROG_ADDR", csr.PROG_ADDR, self._prog_addr, "START")
            write("START", csr.CTRL, csr.CTRL_START, "WAIT_IRQ")
            with m.State("WAIT_IRQ"):
                with m.If(accel.irq):
                    m.next = "STATUS"
            read("STATUS", csr.STATUS, status, "ERROR_CODE")
            read("ERROR_CODE", csr.ERROR_CODE, self.error_code, "CYCLES")
            read("CYCLES", csr.CYCLES_LO, self.cycles, "VERDICT")
            with m.State("VERDICT"):
                with m.If(status[:3] == csr.STATUS_DONE):
                    m.next = "ROM"
                with m.Else():
                    finish(0)
            with m.State("ROM"):             # the ROM reads entry idx
                m.next = "RAM"
            with m.State("RAM"):             # the RAM reads the entry's word
                m.next = "COMPARE"
            with m.State("COMPARE"):
                with m.If(bad_bytes.any()):
                    finish(0)
                with m.Elif(idx == len(words) - 1):
                    finish(1)
                with m.Else():
                    m.d.sync += idx.eq(idx + 1)
                    m.next = "ROM"
            with m.State("FINISHED"):
                pass
        return m
