"""golden.queues: what a run on the decoupled queues leaves when it ends on an error, on hand-made programs."""
import numpy as np

from golden.config import AcceleratorConfig
from golden.isa import ErrorCode, Instr, Opcode, assemble, encode
from golden.machine import Machine
from golden.queues import FETCH, outcome

CFG = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)
PROG, DATA, OUT = 0x100, 0x1000, 0x2000
ld = lambda local, **kw: Instr.make(Opcode.LOAD, dst=0, local=local, lines=1, mem_addr=DATA, stride=4,  # noqa
                                    elem_bytes=1, **kw)
st = lambda local, slot, **kw: Instr.make(Opcode.STORE, src=0, local=local, lines=1, mem_addr=OUT + 16 * slot,  # noqa
                                          stride=4, elem_bytes=1, **kw)
cfg_ = lambda addr=DATA + 0x800, **kw: Instr.make(Opcode.CONFIG, kind=1, offset=0, count=1, mem_addr=addr, **kw)  # noqa


def image(prog, size=1 << 16):
    mem = bytearray(size)
    mem[DATA:DATA + 64] = bytes(range(64))
    words = assemble(prog + [Instr.make(Opcode.HALT)])
    mem[PROG:PROG + len(words)] = words
    return mem


def test_a_correct_program_runs_every_store():
    prog = [ld(0, push_next=True), cfg_(pop_prev=True, push_next=True), st(0, 0, pop_prev=True), st(1, 1)]
    out = outcome(CFG, image(prog), PROG)
    assert out.errors == [] and out.status_for(0, 0) == {2: "must", 3: "must"}
    m = Machine(CFG).run(prog, image(prog))
    assert out.writes[2] == [(OUT, bytes(m.memory[OUT:OUT + 4]))]


def test_a_decode_error_is_precise():
    bad = Instr.make(Opcode.LOAD, dst=0, lines=0, elem_bytes=1)
    prog = [ld(0, push_next=True), cfg_(pop_prev=True, push_next=True), st(0, 0, pop_prev=True), bad, st(1, 1)]
    out = outcome(CFG, image(prog), PROG)
    assert out.errors == [(ErrorCode.BAD_FIELD, PROG + 3 * 32, None)]
    assert out.status_for(ErrorCode.BAD_FIELD, PROG + 3 * 32) == {2: "must"}     # the STORE after it is not fetched
    assert out.status_for(ErrorCode.BUS, 0) is None


def test_a_pop_nobody_pushes_deadlocks_what_waits_for_it():
    prog = [st(0, 0), cfg_(pop_prev=True, push_next=True), st(1, 1, pop_prev=True), ld(2), st(2, 2)]
    out = outcome(CFG, image(prog), PROG)
    assert out.errors == [(ErrorCode.DEADLOCK, 0, None)]
    # the CONFIG waits forever for a store token; the STORE behind it in its queue too; the first STORE ran
    assert out.status_for(ErrorCode.DEADLOCK, 0) == {0: "must", 2: "never", 4: "never"}


def test_a_bus_fault_orders_only_what_waits_on_it():
    far = 1 << 16      # beyond the 64 KiB image
    prog = [Instr.make(Opcode.LOAD, dst=0, local=0, lines=1, mem_addr=far + 3, stride=4, elem_bytes=1,
                       push_next=True),
            st(5, 0),                                              # independent of the LOAD: may have run
            cfg_(pop_prev=True, push_next=True), st(0, 1, pop_prev=True)]       # waits for the LOAD: never
    out = outcome(CFG, image(prog), PROG)
    assert out.errors == [(ErrorCode.BUS, far, 0)]                 # the failing beat: 16-byte aligned
    assert out.status_for(ErrorCode.BUS, far) == {1: "maybe", 3: "never"}


def test_a_store_the_fault_waited_for_must_have_run():
    prog = [st(0, 0, push_prev=True), Instr.make(Opcode.CONFIG, kind=1, offset=0, count=1, mem_addr=1 << 20,
                                                pop_next=True)]
    out = outcome(CFG, image(prog), PROG)
    assert out.errors == [(ErrorCode.BUS, 1 << 20, 1)]
    assert out.status_for(ErrorCode.BUS, 1 << 20) == {0: "must"}


def test_injected_faults_report_the_failing_beat_or_burst():
    m = Machine(CFG, bus_faults=[(DATA + 16, DATA + 32, True, False), (OUT + 32, OUT + 48, False, True)])
    prog = [Instr.make(Opcode.LOAD, dst=0, local=0, lines=8, mem_addr=DATA, stride=4, elem_bytes=1)]
    assert outcome(CFG, image(prog), PROG, machine=m).errors == [(ErrorCode.BUS, DATA + 16, 0)]
    # a contiguous STORE is one burst from its start: the burst's address
    m = Machine(CFG, bus_faults=[(OUT + 32, OUT + 48, False, True)])
    prog = [Instr.make(Opcode.STORE, src=0, local=0, lines=16, mem_addr=OUT, stride=4, elem_bytes=1)]
    assert outcome(CFG, image(prog), PROG, machine=m).errors == [(ErrorCode.BUS, OUT, 0)]
    # strided lines are bursts of their own: the failing line's
    prog = [Instr.make(Opcode.STORE, src=0, local=0, lines=4, mem_addr=OUT, stride=16, elem_bytes=1)]
    assert outcome(CFG, image(prog), PROG, machine=m).errors == [(ErrorCode.BUS, OUT + 32, 0)]


def test_a_fetch_fault_stops_the_program_there():
    prog = [st(0, 0), st(1, 1), st(2, 2)]
    m = Machine(CFG, bus_faults=[(PROG + 64, PROG + 96, True, False)])
    out = outcome(CFG, image(prog), PROG, machine=m)
    assert out.errors == [(ErrorCode.BUS, PROG + 64, FETCH)]
    assert out.status_for(ErrorCode.BUS, PROG + 64) == {0: "maybe", 1: "maybe"}


def test_an_nl_on_lanes_of_another_op_is_a_nonlinear_error():
    nl = Instr.make(Opcode.NL, op=1, rows=1, lines=1, row_stride=1, line_stride=1, dst_row_stride=1,
                    dst_line_stride=1)
    mem = image([nl])
    out = outcome(CFG, mem, PROG)
    assert out.errors == [(ErrorCode.NONLINEAR, PROG, 0)]
    assert encode(nl) == int.from_bytes(mem[PROG:PROG + 32], "little")
    assert np.array_equal(Machine(CFG).spad, np.zeros_like(Machine(CFG).spad))


def test_an_abort_may_have_stopped_any_store():
    prog = [st(0, 0, push_prev=True), cfg_(pop_next=True, push_next=True), st(1, 1, pop_prev=True), st(2, 2)]
    out = outcome(CFG, image(prog), PROG)
    assert out.errors == []
    assert out.status_for(ErrorCode.ABORTED, 0) == {0: "maybe", 2: "maybe", 3: "maybe"}
    assert out.status_for(ErrorCode.ABORTED, 4) is None
