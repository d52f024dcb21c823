"""The register paths behind golden.program_cycles.Latencies, measured on the whole accelerator (fast harness).

One LOAD, STORE or CONFIG at a time, each started by the token of the one before it and with no other request on
the bus (a long LOAD first lets the instruction fetch drain): its cycles from the start (its queue pops it) to the
end (its tokens visible, sim.trace) are its beats or lines plus the registers of its path, listed here module by
module. A CONFIG's and a STORE's are the model's parameters exactly; a LOAD's path is 3 registers shorter than
``burst_overhead``, whose other 3 cycles are fitted (the Latencies docstring says what they stand for).
"""
from golden.config import AcceleratorConfig
from golden.isa import Instr, Opcode, assemble
from golden.program_cycles import Latencies, estimate_cycles

# tests/hw/test_system.py's configuration: the harness build is shared. Accumulator lines (4-byte elements) are
# 16 bytes, one bus beat each, as a DIM 16 int8 line is.
CFG = AcceleratorConfig(dim=4, spad_kib=8, acc_kib=4)
PROG, DATA, OUT = 0x1000, 0x10000, 0x80000

# (module, register) from the request to the first beat or line, and after the last beat (sim/axi_mem.sv with
# MEM_LATENCY=0). R beats pass hw.axi.AxiMaster combinationally.
CONFIG_PATH = (
    ("hw.controller", "cur / ex_busy: the CONFIG in progress (Latencies.decode)"),
    ("hw.axi.AxiMaster", "ar_addr / ar_rem / ar_len: the request taken"),
    ("hw.axi.AxiMaster", "araddr / arvalid: the AR channel register"),
    ("sim/axi_mem.sv", "arq: the AR queue entry"),
    ("sim/axi_mem.sv", "r_active: the burst served, RVALID"),
)
LOAD_PATH = (
    ("hw.dma.DmaReader", "issuing / the segment plan: the request taken"),
    ("hw.axi.AxiMaster", "ar_addr / ar_rem / ar_len: the request taken"),
    ("hw.axi.AxiMaster", "araddr / arvalid: the AR channel register"),
    ("sim/axi_mem.sv", "arq: the AR queue entry"),
    ("sim/axi_mem.sv", "r_active: the burst served, RVALID"),
    ("hw.dma.DmaReader", "buf / n: a line is valid the cycle after the beat that completes it"),
)
STORE_PATH = (
    ("hw.dma.DmaWriter", "issuing / the segment plan: the request taken"),
    ("hw.axi.AxiMaster", "wq entry / wq_wr: the write request queued"),
    ("hw.axi.AxiMaster", "aw_loaded / w_loaded: the walkers load the request"),
    ("hw.axi.AxiMaster", "awaddr / awvalid: the AW channel register"),
    ("sim/axi_mem.sv", "awq: the AW queue entry"),
    ("sim/axi_mem.sv", "w_active: the burst accepted, WREADY"),
    # after the last W beat
    ("sim/axi_mem.sv", "bvalid: the write response"),
    ("hw.axi.AxiMaster", "done_now: the request's last BRESP"),
    ("hw.dma.DmaWriter", "done: the transfer's last request done"),
)
LOAD_FITTED = 3     # burst_overhead - len(LOAD_PATH): golden.program_cycles.Latencies, "Fitted"


def _program():
    """A warm-up LOAD, then a chain, each instruction popping the token of the one before it."""
    d = CFG.dim
    acc_line = dict(stride=4 * d, elem_bytes=4)
    return [
        Instr.make(Opcode.LOAD, dst=0, local=0, lines=512, mem_addr=DATA, stride=d, elem_bytes=1),
        Instr.make(Opcode.LOAD, dst=1, local=0, lines=32, mem_addr=DATA, **acc_line, push_next=True),
        Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA + 0x4000, pop_prev=True),
        Instr.make(Opcode.CONFIG, kind=1, offset=0, count=8, mem_addr=DATA + 0x4100, push_next=True),
        Instr.make(Opcode.STORE, src=1, local=0, lines=32, mem_addr=OUT, **acc_line, pop_prev=True, push_prev=True),
        Instr.make(Opcode.CONFIG, kind=0, mem_addr=DATA + 0x4000, pop_next=True, push_prev=True),
        # narrow lines (4 bytes, four to a beat): the DMA moves one line per cycle
        Instr.make(Opcode.LOAD, dst=0, local=0, lines=32, mem_addr=DATA, stride=d, elem_bytes=1, pop_next=True),
        Instr.make(Opcode.HALT),
    ]


def test_paths_are_the_latency_parameters():
    lat = Latencies()
    assert len(CONFIG_PATH) == lat.decode + lat.config_overhead
    assert len(STORE_PATH) == lat.burst_overhead + lat.store_overhead
    assert len(LOAD_PATH) == lat.burst_overhead - LOAD_FITTED


def test_isolated_instructions_take_their_paths(tmp_path):
    from sim.system import run_program
    from sim.trace import instr_times, parse
    prog = _program()
    r = run_program(CFG, {PROG: assemble(prog, CFG), DATA: bytes(0x4200)}, PROG, trace=tmp_path / "trace")
    assert r.done, (hex(r.status), r.error_code)
    tr = parse(tmp_path / "trace")
    starts, ends = instr_times(prog, tr, CFG.bus_width // 8)
    est = estimate_cycles(prog, CFG)
    bus = CFG.bus_width // 8
    checked = []
    for k, ins in enumerate(prog[1:-1], start=1):
        f = dict(ins.fields)
        # isolated: started by its predecessor's token, no request of another read port while it runs
        assert starts[k] == ends[k - 1], (k, ins.op.name, starts[k], ends[k - 1])
        port = {Opcode.LOAD: 1, Opcode.CONFIG: 2}.get(ins.op)
        others = [(c, i) for c, i, _, _ in tr.reads if starts[k] <= c < ends[k] and i != port]
        assert not others, (k, ins.op.name, others)
        rtl, model = ends[k] - starts[k], est.ends[k] - est.starts[k]
        if ins.op == Opcode.CONFIG:
            beats = -(-(64 if f["kind"] == 0 else 16 * f["count"]) // bus)
            assert rtl == beats + len(CONFIG_PATH) == model, (k, rtl, beats, model)
        else:
            eb = 4 if (f.get("dst") or f.get("src")) else f["elem_bytes"]
            span = max(-(-f["lines"] * CFG.dim * eb // bus), f["lines"])      # beats or lines, the slower
            path = LOAD_PATH if ins.op == Opcode.LOAD else STORE_PATH
            assert rtl == span + len(path), (k, ins.op.name, rtl, span)
            assert model - rtl == (LOAD_FITTED if ins.op == Opcode.LOAD else 0), (k, ins.op.name, rtl, model)
        checked.append(ins.op)
    assert sorted(set(checked)) == sorted({Opcode.LOAD, Opcode.STORE, Opcode.CONFIG})
