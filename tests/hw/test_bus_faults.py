"""Bus faults on every kind of transfer, with and without random stalls on every AXI channel, and a CSR abort
from the middle of each kind of instruction. Each run ends in the error the model (golden.queues) allows, with
the faulting address in ERROR_INFO, within a bound derived from the program; memory shows no write of an
instruction that waited for the faulting one, all or nothing of the others; after an abort the next program
runs bit-exact."""
import dataclasses

import pytest

from golden.isa import ErrorCode, Opcode, Queue
from golden.program_cycles import estimate_cycles
from hw import csr
from sim import fuzz
from sim.system import run_programs, run_with_pauses

CFG = fuzz.CONFIG
KINDS = ("fetch", "config", "load", "store")
RESPS = {"slverr": 2, "decerr": 3}


def halt_bound(program, cfg=CFG):
    """Cycles from a fault to irq: each queue may have one instruction of its longest kind in flight, which
    finishes (a generous per-instruction bound, sim.fuzz.cost), plus the pipeline's drain."""
    worst = {q: max((fuzz.cost(x, cfg) for x in program if getattr(x, "queue", None) == q), default=0)
             for q in Queue}
    return sum(worst.values()) + 256


def test_faults_on_every_transfer_kind():
    case, regions = fuzz.transfer_case(1)
    runs = []
    for stall in (0.0, 0.25):
        for kind in KINDS:
            for resp in RESPS.values():
                lo, hi, rd, wr = regions[kind]
                c = dataclasses.replace(case, fault=dict(lo=lo, hi=hi, resp=resp, reads=rd, writes=wr))
                c.outcome = fuzz.expected(c)
                runs.append((kind, resp, stall, c))
    jobs = [j for _, _, stall, c in runs for j in fuzz.jobs([c], CFG, stall)]
    results = run_programs(CFG, jobs, progress=lambda m: None)
    assert len(results) == len(jobs)
    bound = halt_bound(case.program)
    for n, (kind, resp, stall, c) in enumerate(runs):
        reset, r = results[2 * n], results[2 * n + 1]
        what = f"{kind} fault, resp {resp}, stall {stall}"
        assert reset.done, what
        lo = c.fault["lo"]
        assert (r.status, r.error_code, r.error_info) == (csr.STATUS_ERROR, ErrorCode.BUS, lo), what
        assert r.fault_at is not None and r.wall_cycles - r.fault_at <= bound, (what, r.wall_cycles, r.fault_at)
        assert fuzz.check(c, r) == [], what


def test_stalls_keep_programs_exact():
    """The same program without faults under heavy stalls: bit-exact, only slower."""
    case, _ = fuzz.transfer_case(2)
    case.outcome = fuzz.expected(case)
    results = run_programs(CFG, [j for stall in (0.0, 0.5) for j in fuzz.jobs([case], CFG, stall)],
                           progress=lambda m: None)
    calm, stalled = results[1], results[3]
    assert calm.done and stalled.done
    assert fuzz.check(case, calm) == [] and fuzz.check(case, stalled) == []
    assert stalled.wall_cycles > calm.wall_cycles


# a Verilator build of its own and Python in every cycle: test-all (make test stalls every channel through
# sim/axi_mem.sv in the fault tests and the fuzzer)
@pytest.mark.slow
def test_cocotbext_axi_pauses_on_every_channel():
    """The accelerator alone between cocotbext-axi's AXI4 slave and AXI4-Lite master, a random pause generator
    on each of AW, W, B, AR and R: the program runs bit-exact, and a fault on each kind of transfer (SLVERR, the
    only error cocotbext-axi answers) ends as the model says."""
    case, regions = fuzz.transfer_case(3)
    case.outcome = fuzz.expected(case)
    runs = [case]
    for kind in KINDS:
        lo, hi, rd, wr = regions[kind]
        c = dataclasses.replace(case, fault=dict(lo=lo, hi=hi, resp=2, reads=rd, writes=wr))
        c.outcome = fuzz.expected(c)
        runs.append(c)
    jobs = [j for c in runs for j in fuzz.jobs([c], CFG)]
    results = run_with_pauses(CFG, jobs, pause=0.3, progress=lambda m: None)
    assert len(results) == len(jobs)
    assert results[1].done
    for n, c in enumerate(runs):
        reset, r = results[2 * n], results[2 * n + 1]
        assert reset.done and not r.hung
        if c.fault:
            assert (r.status, r.error_code, r.error_info) == (csr.STATUS_ERROR, ErrorCode.BUS, c.fault["lo"])
        assert fuzz.check(c, r) == [], c.fault


def test_abort_from_the_middle_of_each_kind_of_instruction():
    """CTRL.abort while the program's longest LOAD, MATMUL, NL and STORE runs (its start and end from the cycle
    model), each followed by the same program without abort, all in one launch: each aborted run ends with
    ABORTED within the halt bound, each STORE wrote all of its lines or none, and the next run is bit-exact."""
    case = fuzz.long_case(CFG)
    case.outcome = fuzz.expected(case)
    est = estimate_cycles(case.program[:-1], CFG)
    reset, program = fuzz.jobs([case], CFG)
    mids, jobs = {}, []
    for op in (Opcode.LOAD, Opcode.MATMUL, Opcode.NL, Opcode.STORE):
        i = max((k for k, x in enumerate(case.program[:-1]) if x.op == op), key=lambda k: est.ends[k] - est.starts[k])
        mids[op] = (est.starts[i] + est.ends[i]) // 2
        jobs += [reset, dataclasses.replace(program, abort_at=mids[op]), reset, program]
    results = run_programs(CFG, jobs, progress=lambda m: None)
    assert len(results) == len(jobs)
    bound = halt_bound(case.program) + 64
    for n, (op, mid) in enumerate(mids.items()):
        r, again = results[4 * n + 1], results[4 * n + 3]
        assert (r.status, r.error_code) == (csr.STATUS_ERROR, ErrorCode.ABORTED), (op, r.status, r.error_code)
        assert r.wall_cycles - mid <= bound, (op, r.wall_cycles, mid)
        # each STORE wrote all of its lines or none, and nothing else was written (golden.queues: an abort)
        assert fuzz.check(case, r) == [], f"abort in {op.name}"
        assert again.done and fuzz.check(case, again) == [], op
