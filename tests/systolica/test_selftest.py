"""The self-test: its program against golden/ (pure Python), the top under Verilator (passes; an injected fault
fails it), the error paths on Amaranth's simulator (a bus error halts the accelerator with ErrorCode.BUS; the
watchdog ends a run that takes too long), and the constructors' refusals."""
import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.config import AcceleratorConfig, preset
from golden.isa import ErrorCode, Instr, Opcode, assemble
from golden.machine import Machine
from hw.selftest import SelfTest, program_at
from sim.selftest import run_selftest
from systolica.selftest import expected_cycles, selftest_program, shape

DIM4 = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)
CONFIGS = {"dim4": DIM4, "ulx3s-85f": preset("ulx3s-85f")}
#: The cycle model (golden.program_cycles) leaves out the first instruction fetch and the store traffic, a few
#: dozen cycles that weigh on a program this short: the CYCLES CSR must lie within this fraction of its estimate.
CYCLE_TOLERANCE = 0.2


@pytest.fixture(scope="module")
def dim4_program():
    return selftest_program(DIM4)


# ---- the program (pure Python) -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CONFIGS)
def test_expected_bytes_are_what_the_isa_model_computes(name):
    cfg = CONFIGS[name]
    image, prog_addr, checks, max_cycles = selftest_program(cfg)
    m = Machine(cfg).run(program_at(image, prog_addr), image)
    for addr, want in checks:
        assert bytes(m.memory[addr:addr + len(want)]) == want, f"check at {addr:#x}"
    assert all(v == 0 for v in m.tokens.values())
    assert max(a + len(b) for a, b in image.items()) <= 4096            # a few block RAMs
    assert max_cycles > expected_cycles(cfg, image, prog_addr)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_checked_byte_starts_wrong(name):
    """The image holds the complement of each expected byte: a result never written fails the check."""
    image, _, checks, _ = selftest_program(CONFIGS[name])
    for addr, want in checks:
        assert bytes(b ^ 0xFF for b in image[addr]) == want


def test_results_are_not_degenerate():
    """Softmax rows spread over several classes and LayerNorm rows over both signs (a constant would pass
    through a broken unit just as well)."""
    cfg = DIM4
    _, _, checks, _ = selftest_program(cfg)
    m, _, n = shape(cfg)
    p = np.frombuffer(checks[1][1], dtype=np.uint8).reshape(m, n)
    ln = np.frombuffer(checks[2][1], dtype=np.int8).reshape(m, n)
    assert ((p > 0).sum(axis=1) >= 3).all() and (p.max(axis=1) < 250).all()
    assert ((ln > 0).any(axis=1) & (ln < 0).any(axis=1)).all()


def test_seed_changes_the_data():
    a, b = selftest_program(DIM4, seed=0), selftest_program(DIM4, seed=1)
    assert a[2] != b[2]


@pytest.mark.parametrize("change, match", [
    (dict(spad_kib=1, dim=16), "spad_kib=1 holds"),
    (dict(col_entries=4), "col_entries >= 8, not 4"),
    (dict(dataflow="os"), "not dataflow='os'"),
])
def test_program_refuses_a_config_too_small(change, match):
    with pytest.raises(ValueError, match=match):
        selftest_program(DIM4.replace(**change))


# ---- the top under Verilator -------------------------------------------------------------------------------------
def test_dim4_passes_on_verilator(dim4_program):
    image, prog_addr, checks, max_cycles = dim4_program
    r = run_selftest(DIM4, image, prog_addr, checks, max_cycles, progress=lambda msg: None)
    assert (r.done, r.passed, r.failed, r.timeout, r.error_code) == (1, 1, 0, 0, 0)
    est = expected_cycles(DIM4, image, prog_addr)
    assert abs(r.cycles - est) <= CYCLE_TOLERANCE * est, (r.cycles, est)
    assert r.cycles < r.wall_cycles <= max_cycles


def test_dim4_injected_fault_fails_on_verilator(dim4_program):
    """The same build with inject_fault high: one expected bit flipped, so the checker must report failed."""
    image, prog_addr, checks, max_cycles = dim4_program
    r = run_selftest(DIM4, image, prog_addr, checks, max_cycles, inject_fault=True, progress=lambda msg: None)
    assert (r.done, r.passed, r.failed, r.timeout, r.error_code) == (1, 0, 1, 0, 0)


@pytest.mark.slow
def test_preset_passes_on_verilator():
    cfg = CONFIGS["ulx3s-85f"]
    image, prog_addr, checks, max_cycles = selftest_program(cfg)
    r = run_selftest(cfg, image, prog_addr, checks, max_cycles, progress=lambda msg: None)
    assert (r.done, r.passed, r.failed, r.timeout, r.error_code) == (1, 1, 0, 0, 0)
    est = expected_cycles(cfg, image, prog_addr)
    assert abs(r.cycles - est) <= CYCLE_TOLERANCE * est, (r.cycles, est)


# ---- error paths on Amaranth's simulator (short runs) ------------------------------------------------------------
def _simulate(top, limit):
    """Outputs of ``top`` once ``done`` rose (or after ``limit`` cycles), and the cycles that took."""
    out = {}

    async def bench(ctx):
        for cycle in range(limit):
            if ctx.get(top.done):
                break
            assert not (ctx.get(top.passed) or ctx.get(top.failed)), "a verdict before done"
            await ctx.tick()
        out.update({n: ctx.get(getattr(top, n)) for n in ("done", "passed", "failed", "timeout", "error_code")},
                   cycles=cycle)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


FAR = 0x100000     # beyond any self-test RAM


@pytest.mark.parametrize("instr", [
    Instr.make(Opcode.LOAD, dst=0, local=0, lines=1, mem_addr=FAR, stride=4, elem_bytes=1),
    Instr.make(Opcode.STORE, src=0, local=0, lines=1, mem_addr=FAR, stride=4, elem_bytes=1),
], ids=["load", "store"])
def test_access_beyond_the_ram_halts_with_bus_error(instr):
    prog = assemble([instr, Instr.make(Opcode.HALT)], DIM4)
    r = _simulate(SelfTest(DIM4, {0: prog}, 0, [(0, prog[:4])]), 500)
    assert (r["done"], r["passed"], r["failed"], r["timeout"], r["error_code"]) == (1, 0, 1, 0, ErrorCode.BUS)


def test_watchdog_ends_a_run_that_takes_too_long(dim4_program):
    image, prog_addr, checks, _ = dim4_program
    r = _simulate(SelfTest(DIM4, image, prog_addr, checks, max_cycles=60), 500)
    assert (r["done"], r["passed"], r["failed"], r["timeout"], r["cycles"]) == (1, 0, 1, 1, 60)


# ---- constructor refusals ----------------------------------------------------------------------------------------
PROG = assemble([Instr.make(Opcode.HALT)])


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")   # the refused objects are never elaborated
@pytest.mark.parametrize("args, kw, match", [
    (("dim4", {0: PROG}, 0, [(40, b"\x01")]), {}, r"check at 0x28 \(1 bytes\) lies outside the 32-byte image"),
    (("dim4", {0: PROG}, 0, [(0, PROG[:1]), (0, b"\x02")]), {}, "checks disagree on byte 0x0"),
    (("dim4", {0: PROG}, 0, []), {}, "checks must be a non-empty list"),
    (("dim4", {0: PROG, 16: b"x"}, 0, [(0, b"\x01")]), {}, "segments at 0x0 .32 bytes. and 0x10 overlap"),
    (("dim4", {0: bytes(32)}, 0, [(0, b"\x00")]), {}, "undecodable instruction at 0x0"),
    (("dim4", {0: PROG[:0] + assemble([Instr.make(Opcode.CONFIG)])}, 0, [(0, b"\x20")]), {}, "no HALT after"),
    (("dim4", {0: PROG, 1 << 20: b"x"}, 0, [(0, b"\x01")]), {}, "1048577-byte image exceeds"),
    (("dim4", {0: PROG}, 4, [(0, b"\x01")]), {}, "prog_addr must be a multiple of 32 inside the image, not 4"),
    (("dim4", {0: PROG}, 0, [(0, b"\x01")]), dict(max_cycles=0), "max_cycles must be a positive integer, not 0"),
    (("dim4", {-32: PROG}, 0, [(0, b"\x01")]), {}, "non-negative integer, not -32"),
    ((None, {0: PROG}, 0, [(0, b"\x01")]), {}, "config must be an AcceleratorConfig, not None"),
    ((DIM4.replace(dataflow="os"), {0: PROG}, 0, [(0, b"\x01")]), {}, "not dataflow='os'"),
])
def test_selftest_refuses_bad_input(args, kw, match):
    cfg, *rest = args
    with pytest.raises(ValueError, match=match):
        SelfTest(CONFIGS.get(cfg, cfg), *rest, **kw)
    gc.collect()   # the refused object's UnusedElaboratable warning comes now, under this test's filter
